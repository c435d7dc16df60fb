/* The compacted topic of accepted batches and the decisions of cbs.mode
 * (see ddas/accepted.h and docs/events.md). */
#include "ddas/accepted.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/json.h"
#include "events_int.h"

/* ---- cbs.mode ----------------------------------------------------------- */

static int kind_ok(ddas_kind k) {
  return k == DDAS_KIND_SHV || k == DDAS_KIND_VS;
}

static const char *const mode_names[] = {"push", "pull", "both"};

const char *ddas_cbs_mode_name(ddas_cbs_mode m) {
  return (unsigned)m < 3 ? mode_names[m] : "push";
}

ddas_result ddas_cbs_mode_parse(const char *s, ddas_cbs_mode *out) {
  unsigned i;
  *out = DDAS_CBS_PUSH;
  for(i = 0; s && i < 3; i++)
    if(!strcmp(s, mode_names[i])) {
      *out = (ddas_cbs_mode)i;
      return DDAS_OK;
    }
  return DDAS_ERR_ARG;
}

int ddas_cbs_mode_forwards(ddas_cbs_mode m) { return m != DDAS_CBS_PULL; }

int ddas_cbs_mode_publishes(ddas_cbs_mode m) { return m != DDAS_CBS_PUSH; }

ddas_batch_step ddas_batch_next_step(ddas_cbs_mode m, unsigned have) {
  if(have & DDAS_BATCH_PARKED)
    return DDAS_STEP_DONE;
  if(ddas_cbs_mode_forwards(m) && !(have & DDAS_BATCH_FORWARDED))
    return DDAS_STEP_SEND;
  if(ddas_cbs_mode_publishes(m) && !(have & DDAS_BATCH_PUBLISHED))
    return DDAS_STEP_PUBLISH;
  return DDAS_STEP_DONE;
}

int ddas_manifest_due(ddas_cbs_mode m, int incomplete, ddas_kind kind) {
  return ddas_cbs_mode_publishes(m) && !incomplete && kind_ok(kind);
}

/* ---- the envelope of a batch body -------------------------------------- */

/* The head of a batch body is short (four string members); a body whose
 * "leveringen" does not start within this many bytes is not one. */
#define HEAD_MAX 8192

static void set_err(char *err, size_t errlen, const char *msg) {
  if(err && errlen)
    snprintf(err, errlen, "%s", msg);
}

/* Copies the string member `name` of obj into out[cap] ("" when absent). */
static ddas_result member(const ddas_json *obj, const char *name, char *out,
                          size_t cap, char *err, size_t errlen) {
  const ddas_json *v = ddas_json_get(obj, name);
  out[0] = '\0';
  if(!v)
    return DDAS_OK;
  if(v->type != DDAS_JSON_STRING) {
    if(err && errlen)
      snprintf(err, errlen, "batch body: /%s is not a string", name);
    return DDAS_ERR_SYNTAX;
  }
  if(v->n >= cap) {
    if(err && errlen)
      snprintf(err, errlen, "batch body: /%s is longer than %zu bytes", name,
               cap - 1);
    return DDAS_ERR_LIMIT;
  }
  memcpy(out, v->u.str, v->n);
  out[v->n] = '\0';
  return DDAS_OK;
}

ddas_result ddas_batch_envelope_read(const void *body, size_t len,
                                     ddas_batch_envelope *out, char *err,
                                     size_t errlen) {
  /* Inside a JSON string every '"' is escaped, so the first unescaped
   * `,"leveringen":[` is the member itself, whatever the values hold. */
  static const char mark[] = ",\"leveringen\":[";
  const char *b = body;
  size_t lim = len < HEAD_MAX ? len : HEAD_MAX, i, ml = sizeof(mark) - 1;
  ddas_json_doc *doc = NULL;
  char *head = NULL;
  ddas_result r = DDAS_ERR_SYNTAX;
  memset(out, 0, sizeof(*out));
  if(!b || len < 2 || b[0] != '{')
    goto bad;
  for(i = 1; i + ml <= lim && memcmp(b + i, mark, ml); i++)
    ;
  if(i + ml > lim)
    goto bad;
  r = DDAS_ERR_NOMEM;
  if(!(head = ddas_malloc(i + 2)))
    goto out;
  memcpy(head, b, i);
  head[i] = '}';
  head[i + 1] = '\0';
  if((r = ddas_json_parse(head, i + 1, NULL, &doc, NULL)) != DDAS_OK) {
    if(r != DDAS_ERR_NOMEM)
      goto bad;
    goto out;
  }
  {
    const ddas_json *root = ddas_json_root(doc);
    if((r = member(root, "startdatumLevering", out->period_start,
                   sizeof(out->period_start), err, errlen)) ||
       (r = member(root, "einddatumLevering", out->period_end,
                   sizeof(out->period_end), err, errlen)) ||
       (r = member(root, "aanleverdatumEnTijd", out->delivered_at,
                   sizeof(out->delivered_at), err, errlen)) ||
       (r = member(root, "codeGegevensleverancier", out->code,
                   sizeof(out->code), err, errlen)))
      memset(out, 0, sizeof(*out));
  }
  goto out;
bad:
  r = DDAS_ERR_SYNTAX;
  set_err(err, errlen,
          "batch body: does not start as the core writes batches ({ the "
          "envelope members, then \"leveringen\":[ within 8192 bytes)");
out:
  ddas_json_doc_free(doc);
  ddas_free(head);
  return r;
}

/* ---- messages ----------------------------------------------------------- */

/* The headers both messages carry after ddas-type. */
static ddas_result common_headers(ddas_event *e, const char *type,
                                  ddas_kind kind, const char *delivery_id) {
  ddas_result r;
  if((r = ddas_ev_header(e, DDAS_H_ACC_TYPE, type)) ||
     (r = ddas_ev_header(e, DDAS_H_KIND, ddas_kind_name(kind))) ||
     (r = ddas_ev_header(e, DDAS_H_DELIVERY_ID, delivery_id)))
    return r;
  return DDAS_OK;
}

static ddas_result identity_headers(ddas_event *e,
                                    const ddas_delivery_identity *id,
                                    const char *delivered_at,
                                    const char *code) {
  static const ddas_delivery_identity none;
  ddas_result r;
  if(!id)
    id = &none;
  if((r = ddas_ev_header(e, DDAS_H_ORG_NAME, id->org_name)) ||
     (r = ddas_ev_header(e, DDAS_H_ORG_CODE, id->org_code)) ||
     (r = ddas_ev_header(e, DDAS_H_PERIOD_START, id->period_start)) ||
     (r = ddas_ev_header(e, DDAS_H_PERIOD_END, id->period_end)) ||
     (r = ddas_ev_header(e, DDAS_H_DELIVERED_AT,
                         delivered_at ? delivered_at : "")) ||
     (r = ddas_ev_header(e, DDAS_H_CODE, code ? code : "")))
    return r;
  return DDAS_OK;
}

/* The start of both builders: *out and ev emptied; DDAS_ERR_ARG unless out
 * is given and the delivery id and kind are valid (ok: the builder's own
 * checks of its input, 0 when one fails). */
static ddas_result begin(ddas_event *out, ddas_event *ev,
                         const char *delivery_id, ddas_kind kind, int ok) {
  memset(ev, 0, sizeof(*ev));
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  return ok && delivery_id && *delivery_id && kind_ok(kind) ? DDAS_OK
                                                            : DDAS_ERR_ARG;
}

ddas_result ddas_accepted_batch(const ddas_accepted_batch_in *in,
                                ddas_event *out) {
  ddas_event ev;
  ddas_batch_envelope env;
  char *key = NULL;
  size_t kl;
  ddas_result r;
  if((r = begin(out, &ev, in ? in->delivery_id : NULL,
                in ? in->kind : DDAS_KIND_UNKNOWN,
                in && in->batch_id && *in->batch_id && in->body &&
                    in->body_len)))
    return r;
  if((r = ddas_batch_envelope_read(in->body, in->body_len, &env, NULL, 0)))
    return r;
  kl = strlen(in->delivery_id) + 32;
  if(!(key = ddas_malloc(kl)))
    return DDAS_ERR_NOMEM;
  snprintf(key, kl, "batch/%s/%u", in->delivery_id, in->batch_index);
  if((r = ddas_ev_start(&ev, key)) ||
     (r = common_headers(&ev, DDAS_ACC_TYPE_BATCH, in->kind,
                         in->delivery_id)) ||
     (r = ddas_ev_header(&ev, DDAS_H_BATCH_ID, in->batch_id)) ||
     (r = ddas_ev_header_uint(&ev, DDAS_H_BATCH_INDEX, in->batch_index)) ||
     (r = ddas_ev_header_uint(&ev, DDAS_H_RECORDS, in->records)) ||
     (r = identity_headers(&ev, in->ident, env.delivered_at, env.code)))
    ddas_event_clear(&ev);
  else
    *out = ev;
  ddas_free(key);
  return r;
}

static int by_index(const void *a, const void *b) {
  const ddas_accepted_ref *x = a, *y = b;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* The manifest's value into ev (compact JSON, ddas_malloc'd); the batches
 * sorted in refs. The delivery id is taken from ev's key, which is valid
 * UTF-8 already (jansson refuses anything else). */
static ddas_result manifest_body(const ddas_accepted_manifest_in *in,
                                 ddas_accepted_ref *refs, size_t total,
                                 ddas_event *ev) {
  json_t *o = json_object(), *a = json_array();
  ddas_result r = DDAS_ERR_NOMEM;
  size_t i, n;
  char *s = NULL;
  if(!o || !a ||
     json_object_set_new(o, "delivery_id",
                         json_string(ev->key + strlen("delivery/"))) ||
     json_object_set_new(o, "kind", json_string(ddas_kind_name(in->kind))) ||
     json_object_set_new(o, "records", json_integer((json_int_t)total)))
    goto out;
  for(i = 0; i < in->nbatches; i++) {
    json_t *b =
        json_pack("{s:I,s:s,s:I}", "index", (json_int_t)refs[i].index, "id",
                  refs[i].id, "records", (json_int_t)refs[i].records);
    if(!b || json_array_append_new(a, b))
      goto out;
  }
  if(json_object_set(o, "batches", a))
    goto out;
  n = json_dumpb(o, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if(!n || !(s = ddas_malloc(n + 1)))
    goto out;
  if(json_dumpb(o, s, n, JSON_COMPACT | JSON_PRESERVE_ORDER) != n) {
    ddas_free(s);
    goto out;
  }
  s[n] = '\0';
  ev->body = s;
  ev->body_len = n;
  r = DDAS_OK;
out:
  json_decref(a);
  json_decref(o);
  return r;
}

ddas_result ddas_accepted_manifest(const ddas_accepted_manifest_in *in,
                                   ddas_event *out) {
  ddas_event ev;
  ddas_accepted_ref *refs = NULL;
  char *key = NULL;
  size_t i, total = 0, kl;
  ddas_result r;
  if((r = begin(out, &ev, in ? in->delivery_id : NULL,
                in ? in->kind : DDAS_KIND_UNKNOWN,
                in && (!in->nbatches || in->batches))))
    return r;
  for(i = 0; i < in->nbatches; i++)
    if(!in->batches[i].id || !*in->batches[i].id)
      return DDAS_ERR_ARG;
  r = DDAS_ERR_NOMEM;
  kl = strlen(in->delivery_id) + 10;
  if(!(key = ddas_malloc(kl)) ||
     !(refs = ddas_malloc((in->nbatches ? in->nbatches : 1) * sizeof(*refs))))
    goto out;
  snprintf(key, kl, "delivery/%s", in->delivery_id);
  if(in->nbatches)
    memcpy(refs, in->batches, in->nbatches * sizeof(*refs));
  qsort(refs, in->nbatches, sizeof(*refs), by_index);
  for(i = 0; i < in->nbatches; i++) {
    if(i && refs[i].index == refs[i - 1].index) {
      r = DDAS_ERR_ARG;
      goto out;
    }
    total += refs[i].records;
  }
  if((r = ddas_ev_start(&ev, key)) ||
     (r = common_headers(&ev, DDAS_ACC_TYPE_MANIFEST, in->kind,
                         in->delivery_id)) ||
     (r = ddas_ev_header_uint(&ev, DDAS_H_ACC_BATCHES, in->nbatches)) ||
     (r = ddas_ev_header_uint(&ev, DDAS_H_RECORDS, total)) ||
     (r = identity_headers(&ev, in->ident, in->delivered_at, in->code)) ||
     (r = manifest_body(in, refs, total, &ev)))
    goto out;
  *out = ev;
  memset(&ev, 0, sizeof(ev));
out:
  ddas_event_clear(&ev);
  ddas_free(refs);
  ddas_free(key);
  return r;
}
