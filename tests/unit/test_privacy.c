/* No personal data leaves the core except inside batches: every official
 * example and every test document (schema, input-defect and rule cases) is
 * run through the whole core in both profiles (validate, rules,
 * normalisation, rejection groups, batches) and every finding, rejection
 * event, receipt and parked-batch header is scanned for the personal-data
 * values of its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/ddas.h"
#include "ddas/events.h"
#include "ddas/sign.h"
#include "testutil.h"

typedef struct {
  char *pd[512];
  size_t npd;
  size_t scanned; /* bytes scanned */
  size_t events;
  size_t leaks;
  const char *name;
} scan;

static void look(scan *sc, const char *what, const char *bytes, size_t n) {
  size_t i;
  for(i = 0; i < sc->npd; i++) {
    size_t l = strlen(sc->pd[i]);
    const char *p = bytes, *end = bytes + n;
    while(p && (size_t)(end - p) >= l) {
      p = memchr(p, sc->pd[i][0], (size_t)(end - p));
      if(!p || (size_t)(end - p) < l)
        break;
      if(memcmp(p, sc->pd[i], l) == 0) {
        printf("PERSONAL DATA from %s in %s\n", sc->name, what);
        sc->leaks++;
        break;
      }
      p++;
    }
  }
  sc->scanned += n;
}

static void look_event(scan *sc, const char *what, const ddas_event *e,
                       int body_too) {
  size_t i;
  for(i = 0; i < e->nheaders; i++) {
    look(sc, what, e->headers[i].name, strlen(e->headers[i].name));
    look(sc, what, e->headers[i].value, strlen(e->headers[i].value));
  }
  if(body_too)
    look(sc, what, e->body, e->body_len);
  sc->events++;
}

static void run_core(scan *sc, const char *buf, size_t len, ddas_profile p) {
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_ruleset rs;
  ddas_rejection_group *g = NULL;
  size_t ng = 0, i;
  char err[300];
  ddas_source src = {"ddas.deliveries", 2, 1234};
  ddas_event ev;
  ddas_rule_count rc[DDAS_MAX_RULES];
  size_t nrc = 0, k, ntable;
  const ddas_rule_info *table = ddas_rule_table(&ntable);
  char *ids[64];
  size_t nids = 0;

  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, p);
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  vo.keep_document = 1;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  for(i = 0; i < res.findings.count; i++) {
    look(sc, "a finding message", res.findings.items[i].message,
         strlen(res.findings.items[i].message));
  }
  /* one rejection event per rejected scope */
  assert_int_equal(ddas_rejection_groups(&res, &g, &ng), DDAS_OK);
  assert_true(res.accepted + res.rejected == res.records);
  if(res.rejected)
    assert_true(ng > 0);
  for(i = 0; i < ng; i++) {
    ddas_rejection_in in;
    memset(&in, 0, sizeof(in));
    in.base.delivery_id = "delivery-1";
    in.base.key = "org-1";
    in.base.ce_source = "urn:ddas-worker:test";
    in.base.time = "2026-11-29T10:00:00Z";
    in.sources = &src;
    in.nsources = 1;
    in.kind = res.detection.kind;
    in.schema_version = res.detection.version;
    in.scope = g[i].scope;
    in.pointer = g[i].pointer;
    in.levering_teller = -1;
    in.findings = g[i].findings;
    in.nfindings = g[i].nfindings;
    assert_int_equal(ddas_event_rejection(&in, &ev), DDAS_OK);
    look_event(sc, "a rejection event", &ev, 1);
    ddas_event_clear(&ev);
  }
  ddas_rejection_groups_free(g, ng);
  /* batches: forwarded receipts and parked headers */
  if(res.doc && res.accepted) {
    ddas_batch_options bo;
    ddas_batcher *b;
    ddas_batch batch;
    memset(&bo, 0, sizeof(bo));
    bo.delivery_id = "delivery-1";
    bo.envelope.delivered_at = "2026-11-29T10:00:00Z";
    bo.norm_mask = DDAS_N_ALL;
    assert_int_equal(ddas_batcher_new(&bo, &b), DDAS_OK);
    assert_int_equal(ddas_batcher_add(b, &res), DDAS_OK);
    assert_int_equal(ddas_batcher_finish(b), DDAS_OK);
    while(ddas_batcher_next(b, &batch)) {
      char digest[64];
      ddas_forwarded_in fw;
      ddas_parked_in pk;
      ddas_attempt at = {"2026-11-29T10:00:01Z", 503, "service unavailable"};
      ddas_digest_header(batch.body, batch.len, digest, sizeof(digest));
      memset(&fw, 0, sizeof(fw));
      fw.base.delivery_id = "delivery-1";
      fw.base.ce_source = "urn:ddas-worker:test";
      fw.base.time = "2026-11-29T10:00:02Z";
      fw.batch_id = batch.id;
      fw.batch_index = batch.index;
      fw.records = batch.records;
      fw.bytes = batch.len;
      fw.digest = digest;
      fw.http_status = 201;
      fw.attempts = 1;
      fw.sources = &src;
      fw.nsources = 1;
      assert_int_equal(ddas_event_forwarded(&fw, &ev), DDAS_OK);
      look_event(sc, "a forwarded receipt", &ev, 1);
      ddas_event_clear(&ev);
      memset(&pk, 0, sizeof(pk));
      pk.base = fw.base;
      pk.batch_id = batch.id;
      pk.batch_index = batch.index;
      pk.records = batch.records;
      pk.digest = digest;
      pk.signature = "eyJhbGciOiJQUzI1NiJ9..c2ln";
      pk.sig_profile = "adr";
      pk.content_type = "application/json";
      pk.reason = "transient-exhausted";
      pk.last_error = "HTTP 503";
      pk.attempts = &at;
      pk.nattempts = 1;
      pk.sources = &src;
      pk.nsources = 1;
      pk.body = batch.body;
      pk.body_len = batch.len;
      assert_int_equal(ddas_event_parked(&pk, &ev), DDAS_OK);
      /* the parked body IS the batch (personal data by design); its
       * headers must hold none */
      look_event(sc, "parked-batch headers", &ev, 0);
      ddas_event_clear(&ev);
      if(nids < 64)
        ids[nids++] = strdup(batch.id);
      ddas_batch_clear(&batch);
    }
    ddas_batcher_free(b);
  }
  /* the delivery receipt */
  for(k = 0; k < ntable && nrc < DDAS_MAX_RULES; k++)
    if(res.rule_errors[k]) {
      rc[nrc].rule = table[k].id;
      rc[nrc++].count = res.rule_errors[k];
    }
  {
    ddas_processed_in pr;
    memset(&pr, 0, sizeof(pr));
    pr.base.delivery_id = "delivery-1";
    pr.base.ce_source = "urn:ddas-worker:test";
    pr.base.time = "2026-11-29T10:00:03Z";
    pr.sources = &src;
    pr.nsources = 1;
    pr.kind = res.detection.kind;
    pr.schema_version = res.detection.version;
    pr.status = "processed";
    pr.records = res.records;
    pr.accepted = res.accepted;
    pr.rejected = res.rejected;
    pr.warned = res.warned;
    memcpy(pr.normalised, res.normalised.n, sizeof(pr.normalised));
    pr.rejected_by_rule = rc;
    pr.nrejected_by_rule = nrc;
    pr.batch_ids = (const char *const *)ids;
    pr.nbatch_ids = nids;
    assert_int_equal(ddas_event_processed(&pr, &ev), DDAS_OK);
    look_event(sc, "a delivery receipt", &ev, 1);
    ddas_event_clear(&ev);
  }
  for(i = 0; i < nids; i++)
    free(ids[i]);
  ddas_validate_result_clear(&res);
}

static void run_dir(const char *dir, size_t *files, scan *total) {
  char **names = tu_list(dir, ".json");
  size_t i, j;
  for(i = 0; names[i]; i++) {
    char path[1200];
    size_t len;
    char *buf;
    scan sc;
    memset(&sc, 0, sizeof(sc));
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    buf = tu_read(path, &len);
    sc.name = names[i];
    sc.npd = tu_collect_pd(buf, len, sc.pd, 512);
    run_core(&sc, buf, len, DDAS_PROFILE_SPEC);
    run_core(&sc, buf, len, DDAS_PROFILE_STRICT);
    total->npd += sc.npd;
    total->events += sc.events;
    total->leaks += sc.leaks;
    total->scanned += sc.scanned;
    for(j = 0; j < sc.npd; j++)
      free(sc.pd[j]);
    free(buf);
    (*files)++;
  }
  tu_free_list(names);
}

static void nothing_personal_leaves_the_core(void **state) {
  size_t files = 0;
  scan total;
  (void)state;
  memset(&total, 0, sizeof(total));
  run_dir(SOURCE_DIR "/config/examples", &files, &total);
  run_dir(SOURCE_DIR "/tests/cases/schema", &files, &total);
  run_dir(SOURCE_DIR "/tests/cases/input", &files, &total);
  run_dir(SOURCE_DIR "/tests/cases/rules", &files, &total);
  printf("privacy scan: %zu documents, %zu personal-data values, %zu events, "
         "%zu bytes scanned, %zu leaks\n",
         files, total.npd, total.events, total.scanned, total.leaks);
  assert_true(files > 250);
  assert_true(total.npd > 500);
  assert_true(total.events > 500);
  assert_int_equal(total.leaks, 0);
}

/* The scan itself finds a value when it is there (the test can fail). */
static void the_scan_detects_a_leak(void **state) {
  scan sc;
  char *pd = strdup("123456782");
  (void)state;
  memset(&sc, 0, sizeof(sc));
  sc.pd[0] = pd;
  sc.npd = 1;
  sc.name = "self-test";
  look(&sc, "a test string", "prefix 123456782 suffix", 23);
  assert_int_equal(sc.leaks, 1);
  free(pd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_scan_detects_a_leak),
      cmocka_unit_test(nothing_personal_leaves_the_core)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
