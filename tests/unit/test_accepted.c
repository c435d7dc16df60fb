/* ddas/accepted.h: the decisions of cbs.mode, the envelope of a batch body,
 * and the batch and manifest messages of topic.accepted. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/accepted.h"
#include "ddas/alloc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A batch body as the batcher writes it; the code's value holds the text
 * `,"leveringen":[` (escaped, as inside any JSON string). */
static const char BODY[] =
    "{\"startdatumLevering\":\"2026-01-01\",\"einddatumLevering\":"
    "\"2026-03-31\",\"aanleverdatumEnTijd\":\"2026-04-02T09:00:00Z\","
    "\"codeGegevensleverancier\":\"X\\\",\\\"leveringen\\\":[\","
    "\"leveringen\":[{\"levering\":1}]}";

static const ddas_delivery_identity IDENT = {"Gemeente Zwolle", "GM0193",
                                             "2026-01-01", "2026-03-31"};

/* The headers both messages end with, for IDENT and BODY's envelope. */
static const char *const TAIL[] = {"ddas-org-name",     "Gemeente Zwolle",
                                   "ddas-org-code",     "GM0193",
                                   "ddas-period-start", "2026-01-01",
                                   "ddas-period-end",   "2026-03-31",
                                   "ddas-delivered-at", "2026-04-02T09:00:00Z",
                                   "ddas-code",         "X\",\"leveringen\":["};

/* e's headers are exactly head[0..n) (name, value pairs), then TAIL. */
static void assert_headers(const ddas_event *e, const char *const *head,
                           size_t n) {
  size_t i, nt = N(TAIL) / 2;
  assert_int_equal(e->nheaders, n + nt);
  for(i = 0; i < n + nt; i++) {
    const char *const *kv = i < n ? head + 2 * i : TAIL + 2 * (i - n);
    assert_string_equal(e->headers[i].name, kv[0]);
    assert_string_equal(e->headers[i].value, kv[1]);
  }
}

static void modes_and_steps(void **state) {
  ddas_cbs_mode m;
  (void)state;
  assert_int_equal(ddas_cbs_mode_parse("pull", &m), DDAS_OK);
  assert_int_equal(m, DDAS_CBS_PULL);
  assert_int_equal(ddas_cbs_mode_parse("both", &m), DDAS_OK);
  assert_int_equal(m, DDAS_CBS_BOTH);
  assert_string_equal(ddas_cbs_mode_name(m), "both");
  assert_int_equal(ddas_cbs_mode_parse("Pull", &m), DDAS_ERR_ARG);
  assert_int_equal(m, DDAS_CBS_PUSH);
  assert_int_equal(ddas_cbs_mode_parse(NULL, &m), DDAS_ERR_ARG);

  /* push: CBS only */
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_PUSH, 0), DDAS_STEP_SEND);
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_PUSH, DDAS_BATCH_FORWARDED),
                   DDAS_STEP_DONE);
  /* pull: never sent, the publication is the outcome */
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_PULL, 0), DDAS_STEP_PUBLISH);
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_PULL, DDAS_BATCH_PUBLISHED),
                   DDAS_STEP_DONE);
  /* both: forwarded first, then published; done only with both */
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_BOTH, 0), DDAS_STEP_SEND);
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_BOTH, DDAS_BATCH_FORWARDED),
                   DDAS_STEP_PUBLISH);
  assert_int_equal(
      ddas_batch_next_step(DDAS_CBS_BOTH,
                           DDAS_BATCH_FORWARDED | DDAS_BATCH_PUBLISHED),
      DDAS_STEP_DONE);
  /* a parked batch is never published */
  assert_int_equal(ddas_batch_next_step(DDAS_CBS_BOTH, DDAS_BATCH_PARKED),
                   DDAS_STEP_DONE);

  assert_false(ddas_manifest_due(DDAS_CBS_PUSH, 0, DDAS_KIND_SHV));
  assert_true(ddas_manifest_due(DDAS_CBS_PULL, 0, DDAS_KIND_SHV));
  assert_true(ddas_manifest_due(DDAS_CBS_BOTH, 0, DDAS_KIND_VS));
  /* incomplete */
  assert_false(ddas_manifest_due(DDAS_CBS_BOTH, 1, DDAS_KIND_SHV));
  /* not a DDAS document (malformed JSON, say) */
  assert_false(ddas_manifest_due(DDAS_CBS_PULL, 0, DDAS_KIND_UNKNOWN));
  assert_true(ddas_cbs_mode_forwards(DDAS_CBS_BOTH));
  assert_false(ddas_cbs_mode_forwards(DDAS_CBS_PULL));
  assert_false(ddas_cbs_mode_publishes(DDAS_CBS_PUSH));
}

static void envelope_of_a_body(void **state) {
  ddas_batch_envelope env;
  char err[200], big[400];
  (void)state;
  assert_int_equal(
      ddas_batch_envelope_read(BODY, strlen(BODY), &env, err, sizeof(err)),
      DDAS_OK);
  assert_string_equal(env.period_start, "2026-01-01");
  assert_string_equal(env.period_end, "2026-03-31");
  assert_string_equal(env.delivered_at, "2026-04-02T09:00:00Z");
  assert_string_equal(env.code, "X\",\"leveringen\":[");

#define NOT_STR "{\"startdatumLevering\":1,\"leveringen\":[]}"
  /* v0.9 batches may lack both members: "" */
#define V09                                                                    \
  "{\"startdatumLevering\":\"a\",\"einddatumLevering\":\"b\",\"leveringen\":[" \
  "]}"
  assert_int_equal(
      ddas_batch_envelope_read(V09, strlen(V09), &env, err, sizeof(err)),
      DDAS_OK);
  assert_string_equal(env.delivered_at, "");
  assert_string_equal(env.code, "");

  /* not a batch body */
  assert_int_equal(ddas_batch_envelope_read("[1]", 3, &env, err, sizeof(err)),
                   DDAS_ERR_SYNTAX);
  assert_non_null(strstr(err, "leveringen"));
  assert_int_equal(
      ddas_batch_envelope_read("{\"leveringen\":[]}", 17, &env, NULL, 0),
      DDAS_ERR_SYNTAX);
  assert_int_equal(ddas_batch_envelope_read(NOT_STR, strlen(NOT_STR), &env, err,
                                            sizeof(err)),
                   DDAS_ERR_SYNTAX);
  assert_string_equal(err, "batch body: /startdatumLevering is not a string");
  assert_string_equal(env.period_start, "");
  /* a value longer than the buffer */
  memset(big, 'a', sizeof(big));
  memcpy(big, "{\"startdatumLevering\":\"", 23);
  memcpy(big + 380, "\",\"leveringen\":[]}", 18);
  assert_int_equal(ddas_batch_envelope_read(big, 398, &env, err, sizeof(err)),
                   DDAS_ERR_LIMIT);
  assert_non_null(strstr(err, "/startdatumLevering is longer than"));
}

static void batch_message(void **state) {
  static const char *const want[] = {
      "ddas-type",        "batch",
      "ddas-kind",        "shv",
      "ddas-delivery-id", "d-1",
      "ddas-batch-id",    "0123456789abcdef0123456789abcdef",
      "ddas-batch-index", "2",
      "ddas-records",     "25000"};
  ddas_accepted_batch_in in = {
      "d-1", DDAS_KIND_SHV, &IDENT, "0123456789abcdef0123456789abcdef",
      2,     25000,         BODY,   sizeof(BODY) - 1};
  ddas_event e;
  (void)state;
  assert_int_equal(ddas_accepted_batch(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "batch/d-1/2");
  assert_headers(&e, want, N(want) / 2);
  assert_null(e.body); /* the value is in.body itself */
  assert_int_equal(e.body_len, 0);
  ddas_event_clear(&e);

  /* unknown identity: "" headers; VS */
  in.ident = NULL;
  in.kind = DDAS_KIND_VS;
  assert_int_equal(ddas_accepted_batch(&in, &e), DDAS_OK);
  assert_string_equal(ddas_event_header(&e, "ddas-kind"), "vs");
  assert_string_equal(ddas_event_header(&e, "ddas-org-name"), "");
  assert_string_equal(ddas_event_header(&e, "ddas-period-end"), "");
  ddas_event_clear(&e);

  /* required inputs */
  in.kind = DDAS_KIND_UNKNOWN;
  assert_int_equal(ddas_accepted_batch(&in, &e), DDAS_ERR_ARG);
  assert_null(e.key);
  in.kind = DDAS_KIND_SHV;
  in.body_len = 0;
  assert_int_equal(ddas_accepted_batch(&in, &e), DDAS_ERR_ARG);
  in.body = "not a batch";
  in.body_len = 11;
  assert_int_equal(ddas_accepted_batch(&in, &e), DDAS_ERR_SYNTAX);
  assert_int_equal(e.nheaders, 0);
}

static void manifest_message(void **state) {
  static const char *const want[] = {
      "ddas-type",        "manifest", "ddas-kind",    "shv",
      "ddas-delivery-id", "d-1",      "ddas-batches", "3",
      "ddas-records",     "25007"};
  /* out of order, as parked and forwarded batches finish */
  const ddas_accepted_ref refs[] = {
      {2, "cc", 2}, {0, "aa", 25000}, {1, "bb", 5}};
  ddas_accepted_manifest_in in = {"d-1",
                                  DDAS_KIND_SHV,
                                  &IDENT,
                                  "2026-04-02T09:00:00Z",
                                  "X\",\"leveringen\":[",
                                  refs,
                                  N(refs)};
  ddas_event e;
  (void)state;
  assert_int_equal(ddas_accepted_manifest(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "delivery/d-1");
  assert_headers(&e, want, N(want) / 2);
  assert_string_equal(
      e.body, "{\"delivery_id\":\"d-1\",\"kind\":\"shv\",\"records\":25007,"
              "\"batches\":[{\"index\":0,\"id\":\"aa\",\"records\":25000},"
              "{\"index\":1,\"id\":\"bb\",\"records\":5},{\"index\":2,"
              "\"id\":\"cc\",\"records\":2}]}");
  assert_int_equal(e.body_len, strlen(e.body));
  ddas_event_clear(&e);

  /* no accepted record: a manifest without batches */
  in.nbatches = 0;
  in.batches = NULL;
  in.delivered_at = in.code = NULL;
  assert_int_equal(ddas_accepted_manifest(&in, &e), DDAS_OK);
  assert_string_equal(ddas_event_header(&e, "ddas-batches"), "0");
  assert_string_equal(ddas_event_header(&e, "ddas-records"), "0");
  assert_string_equal(ddas_event_header(&e, "ddas-code"), "");
  assert_string_equal(e.body, "{\"delivery_id\":\"d-1\",\"kind\":\"shv\","
                              "\"records\":0,\"batches\":[]}");
  ddas_event_clear(&e);

  /* the same index twice is a caller's error */
  {
    const ddas_accepted_ref dup[] = {{1, "aa", 1}, {1, "bb", 1}};
    in.batches = dup;
    in.nbatches = 2;
    assert_int_equal(ddas_accepted_manifest(&in, &e), DDAS_ERR_ARG);
    assert_null(e.key);
    assert_null(e.body);
  }
}

/* Every allocation failing in turn: no leak, no crash, an empty event. */
static void allocation_failures(void **state) {
  ddas_accepted_batch_in bi;
  ddas_accepted_manifest_in mi;
  const ddas_accepted_ref refs[] = {{0, "aa", 1}, {1, "bb", 2}};
  ddas_event e;
  unsigned long n;
  int k;
  (void)state;
  memset(&bi, 0, sizeof(bi));
  bi.delivery_id = "d";
  bi.kind = DDAS_KIND_SHV;
  bi.batch_id = "id";
  bi.body = BODY;
  bi.body_len = strlen(BODY);
  memset(&mi, 0, sizeof(mi));
  mi.delivery_id = "d";
  mi.kind = DDAS_KIND_VS;
  mi.batches = refs;
  mi.nbatches = 2;
  for(k = 0; k < 2; k++) {
    int ok = 0;
    for(n = 1; n < 200 && !ok; n++) {
      ddas_result r;
      ddas_alloc_fail_at(n);
      r = k ? ddas_accepted_manifest(&mi, &e) : ddas_accepted_batch(&bi, &e);
      ddas_alloc_fail_at(0);
      if(r == DDAS_OK)
        ok = 1;
      else
        assert_int_equal(r, DDAS_ERR_NOMEM);
      ddas_event_clear(&e);
    }
    assert_true(ok);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(modes_and_steps), cmocka_unit_test(envelope_of_a_body),
      cmocka_unit_test(batch_message), cmocka_unit_test(manifest_message),
      cmocka_unit_test(allocation_failures)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
