/* Publishing deliveries (see submit.h): `ddas-worker submit` and
 * `ddas-worker run --submit`. */
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/chunk.h"
#include "ddas/ddas.h"
#include "io.h"
#include "log.h"

int wk_submit_file(const wk_config *c, wk_producer *p, const char *path,
                   const char *delivery_id, wk_submit_result *out, char *err,
                   size_t errlen) {
  char *buf, id[160], chunkhdr[32];
  wk_file in;
  size_t len, i, nspans = 0;
  ddas_json_doc *doc = NULL;
  ddas_json_error jerr;
  ddas_detection det;
  ddas_chunk_span *spans = NULL;
  ddas_kv h[4];
  size_t nh;
  int rc = -1, detected;
  char why[300];

  memset(out, 0, sizeof(*out));
  if(wk_file_read(path, (size_t)4 << 30, &in, err, errlen))
    return -1;
  buf = in.data;
  len = in.len;
  if(delivery_id)
    snprintf(id, sizeof(id), "%s", delivery_id);
  else
    ddas_file_delivery_id(path, buf, len, id, sizeof(id));
  snprintf(out->delivery_id, sizeof(out->delivery_id), "%s", id);
  /* Unparseable input is published whole: the worker reports it. */
  if(ddas_json_parse(buf, len, NULL, &doc, &jerr) != DDAS_OK) {
    doc = NULL;
    detected = 0;
  } else {
    detected = ddas_detect(ddas_json_root(doc), DDAS_KIND_UNKNOWN, NULL, &det,
                           why, sizeof(why)) == 0;
  }
  if(doc && len > (size_t)c->chunk_bytes && detected) {
    if(ddas_chunk_plan(doc, det.kind, (size_t)c->chunk_bytes, &spans,
                       &nspans) != DDAS_OK) {
      snprintf(err, errlen, "cannot plan the chunks (out of memory)");
      goto out;
    }
  }
  out->chunks = nspans ? nspans : 1;
  for(i = 0; i < out->chunks; i++) {
    char *chunk = NULL;
    size_t clen = 0;
    const char *body = buf;
    size_t blen = len;
    nh = 0;
    h[nh].name = (char *)(uintptr_t) "ddas-delivery-id";
    h[nh++].value = id;
    if(detected) {
      h[nh].name = (char *)(uintptr_t) "ddas-kind";
      h[nh++].value = (char *)(uintptr_t)ddas_kind_name(det.kind);
      h[nh].name = (char *)(uintptr_t) "ddas-schema-version";
      h[nh++].value = (char *)(uintptr_t)det.version;
    }
    if(nspans) {
      if(ddas_chunk_write(doc, det.kind, &spans[i], &chunk, &clen) != DDAS_OK) {
        snprintf(err, errlen, "cannot write chunk %zu (out of memory)", i + 1);
        goto out;
      }
      body = chunk;
      blen = clen;
      snprintf(chunkhdr, sizeof(chunkhdr), "%zu/%zu", i + 1, nspans);
      h[nh].name = (char *)(uintptr_t) "ddas-chunk";
      h[nh++].value = chunkhdr;
    }
    if(wk_produce(p, c->topic_deliveries, id, h, nh, body, blen)) {
      snprintf(err, errlen, "cannot publish chunk %zu: %s", i + 1,
               p->last_error);
      ddas_free(chunk);
      goto out;
    }
    out->bytes += blen;
    ddas_free(chunk);
  }
  rc = 0;
out:
  ddas_free(spans);
  ddas_json_doc_free(doc);
  wk_file_release(&in);
  return rc;
}
