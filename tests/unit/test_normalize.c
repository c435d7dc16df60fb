/* Normalisations N1-N6: each on a before/after pair, switchable and counted;
 * the v0.9 and v0.10 examples upgraded (N3) validate against SHV v1.0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/ddas.h"
#include "testutil.h"

#define ENVELOPE_HEAD                                                          \
  "{\"startdatumLevering\":\"2024-01-01\",\"einddatumLevering\":"              \
  "\"2024-12-31\",\"aanleverdatumEnTijd\":\"2025-01-15T10:00:00Z\","           \
  "\"codeGegevensleverancier\":\"Test 1.0\",\"leveringen\":[{\"teller\":7,"    \
  "\"aanleverende_organisatie\":{\"(Statutaire) Naam\":\"Org\","               \
  "\"contactpersonen\":[{\"email\":\"a@example.nl\"}]},"                       \
  "\"schuldhulptrajecten\":["
#define ENVELOPE_TAIL "]}]}"
#define CLIENT "\"client\":[{\"Burgerservicenummer\":\"111222333\"}]"

typedef struct {
  ddas_validate_result res;
  ddas_json_doc *out; /* the single batch, parsed */
  char *body;
  ddas_norm_counts counts; /* N1..N6 */
} outcome;

/* Runs doc (kind/version may be NULL: detect) through validate (spec) and
 * the batcher with `mask`, and parses the resulting batch. */
static void run(const char *doc, const char *version, unsigned mask,
                outcome *o) {
  ddas_validate_options vo;
  ddas_ruleset rs;
  ddas_batch_options bo;
  ddas_batcher *b;
  ddas_batch batch;
  ddas_json_error e;
  char err[300];
  size_t k;
  memset(o, 0, sizeof(*o));
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  vo.rules = &rs;
  vo.norm_mask = mask;
  vo.keep_document = 1;
  if(version) {
    vo.kind = DDAS_KIND_SHV;
    vo.version = version;
  }
  assert_int_equal(ddas_validate_buffer(tu_set, &vo, doc, strlen(doc), &o->res,
                                        err, sizeof(err)),
                   DDAS_OK);
  if(!o->res.valid)
    printf("unexpected: %s at %s\n", o->res.findings.items[0].message,
           o->res.findings.items[0].pointer);
  assert_true(o->res.valid);
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = "n";
  bo.sent_at = "2025-01-16T00:00:00Z";
  bo.norm_mask = mask;
  assert_int_equal(ddas_batcher_new(&bo, &b), DDAS_OK);
  assert_int_equal(ddas_batcher_add(b, &o->res), DDAS_OK);
  assert_int_equal(ddas_batcher_finish(b), DDAS_OK);
  assert_int_equal(ddas_batcher_next(b, &batch), 1);
  o->counts = o->res.normalised;
  for(k = 2; k < 6; k++)
    o->counts.n[k] = ddas_batcher_normalised(b)->n[k];
  ddas_batcher_free(b);
  o->body = batch.body;
  assert_int_equal(ddas_json_parse(o->body, batch.len, NULL, &o->out, &e),
                   DDAS_OK);
  /* whatever was normalised, the batch is valid SHV v1.0 */
  {
    ddas_validate_result r;
    ddas_validate_options v2;
    memset(&v2, 0, sizeof(v2));
    v2.kind = DDAS_KIND_SHV;
    v2.version = "1.0";
    assert_int_equal(ddas_validate_buffer(tu_set, &v2, o->body, batch.len, &r,
                                          err, sizeof(err)),
                     DDAS_OK);
    if(!r.valid)
      printf("batch invalid: %s at %s\n", r.findings.items[0].message,
             r.findings.items[0].pointer);
    assert_true(r.valid);
    ddas_validate_result_clear(&r);
  }
}

static void done(outcome *o) {
  ddas_json_doc_free(o->out);
  ddas_free(o->body);
  ddas_validate_result_clear(&o->res);
}

static const ddas_json *at(const outcome *o, const char *ptr) {
  return ddas_json_pointer_get(ddas_json_root(o->out), ptr, strlen(ptr));
}

static void assert_str(const ddas_json *v, const char *want) {
  assert_non_null(v);
  assert_int_equal(v->type, DDAS_JSON_STRING);
  assert_int_equal(v->n, strlen(want));
  assert_memory_equal(v->u.str, want, v->n);
}

#define T0 "/leveringen/0/schuldhulptrajecten/0"

static void n1_null_is_absent(void **state) {
  static const char doc[] =
      ENVELOPE_HEAD "{\"gemeentecode\":\"GM0363\",\"einddatum\":null,"
                    "\"omschrijving\":null," CLIENT "}" ENVELOPE_TAIL;
  outcome o;
  (void)state;
  run(doc, NULL, DDAS_N1, &o);
  assert_null(at(&o, T0 "/einddatum"));
  assert_null(at(&o, T0 "/omschrijving"));
  assert_int_equal(o.counts.n[0], 2);
  done(&o);
  /* switched off, a null is a schema error: the traject is rejected */
  {
    ddas_validate_options vo;
    ddas_validate_result r;
    char err[200];
    memset(&vo, 0, sizeof(vo));
    assert_int_equal(ddas_validate_buffer(tu_set, &vo, doc, strlen(doc), &r,
                                          err, sizeof(err)),
                     DDAS_OK);
    assert_false(r.valid);
    assert_string_equal(r.findings.items[0].keyword, "type");
    ddas_validate_result_clear(&r);
  }
}

static void n2_trim_and_postcode(void **state) {
  static const char doc[] = ENVELOPE_HEAD
      "{\"gemeentecode\":\" GM0363 \",\"begeleiding\":[{\"soort\":"
      "\"Budgetbeheer \"}],\"client\":[{\"Burgerservicenummer\":\"111222333\","
      "\"Postcode\":\" 1234 ab\"}]}" ENVELOPE_TAIL;
  outcome o;
  (void)state;
  run(doc, NULL, DDAS_N2, &o);
  assert_str(at(&o, T0 "/gemeentecode"), "GM0363");
  assert_str(at(&o, T0 "/begeleiding/0/soort"), "Budgetbeheer");
  assert_str(at(&o, T0 "/client/0/Postcode"), "1234AB");
  assert_int_equal(o.counts.n[1], 3);
  done(&o);
}

static void n4_end_dates(void **state) {
  static const char doc[] = ENVELOPE_HEAD
      "{\"gemeentecode\":\"GM0363\",\"startdatum\":\"2024-01-10\","
      "\"uitstroom\":{\"datum\":\"2024-09-30\",\"reden\":\"Afgerond\"},"
      "\"intake\":{\"startdatum\":\"2024-01-10\",\"beschikkingsdatum\":"
      "\"2024-02-01\",\"beschikkingssoort\":\"Toelatingsbeschikking\"}," CLIENT
      "}" ENVELOPE_TAIL;
  outcome o;
  (void)state;
  run(doc, NULL, DDAS_N4, &o);
  assert_str(at(&o, T0 "/einddatum"), "2024-09-30");
  assert_str(at(&o, T0 "/uitstroom/datumBeeindigingsbeschikking"),
             "2024-09-30");
  assert_str(at(&o, T0 "/intake/einddatum"), "2024-02-01");
  assert_int_equal(o.counts.n[3], 3);
  done(&o);
  /* switched off: nothing is derived */
  run(doc, NULL, 0, &o);
  assert_null(at(&o, T0 "/einddatum"));
  assert_null(at(&o, T0 "/intake/einddatum"));
  assert_int_equal(o.counts.n[3], 0);
  done(&o);
}

static void n5_toekenning_and_schuldeiser(void **state) {
  static const char doc[] = ENVELOPE_HEAD
      "{\"gemeentecode\":\"GM0363\",\"schuldregeling\":{\"toegekend\":"
      "\"2024-06-20\"},\"schulden\":[{\"bedrag\":5,\"schuldeiser\":{\"naam\":"
      "\"Eiser "
      "BV\"}},{\"bedrag\":6,\"schuldeiser\":{\"Naam\":\"Ander\"}}]," CLIENT
      "}" ENVELOPE_TAIL;
  outcome o;
  (void)state;
  run(doc, NULL, DDAS_N5, &o);
  assert_str(at(&o, T0 "/toekenningsdatum"), "2024-06-20");
  assert_str(at(&o, T0 "/schulden/0/schuldeiser/Naam"), "Eiser BV");
  assert_str(at(&o, T0 "/schulden/1/schuldeiser/naam"), "Ander");
  assert_int_equal(o.counts.n[4], 3);
  done(&o);
}

static void n6_one_levering_per_gemeente(void **state) {
  static const char doc[] = ENVELOPE_HEAD
      "{\"gemeentecode\":\"GM0363\"," CLIENT "},"
      "{\"gemeentecode\":\"GM0518\"," CLIENT "},"
      "{\"gemeentecode\":\"GM0363\",\"omschrijving\":\"x\"," CLIENT
      "}" ENVELOPE_TAIL;
  outcome o;
  const ddas_json *levs;
  (void)state;
  run(doc, NULL, DDAS_N6, &o);
  levs = at(&o, "/leveringen");
  assert_int_equal(levs->n, 2);
  assert_true(ddas_json_get(&levs->u.items[0], "teller")->u.num == 1);
  assert_true(ddas_json_get(&levs->u.items[1], "teller")->u.num == 2);
  /* first appearance order, input order within a group */
  assert_int_equal(at(&o, "/leveringen/0/schuldhulptrajecten")->n, 2);
  assert_str(at(&o, "/leveringen/0/schuldhulptrajecten/1/omschrijving"), "x");
  assert_str(at(&o, "/leveringen/1/schuldhulptrajecten/0/gemeentecode"),
             "GM0518");
  assert_str(at(&o, "/leveringen/1/aanleverende_organisatie/(Statutaire) Naam"),
             "Org");
  assert_int_equal(o.counts.n[5], 1);
  done(&o);
  run(doc, NULL, 0, &o);
  assert_int_equal(at(&o, "/leveringen")->n, 1);
  done(&o);
}

static void n3_upgrades_v09(void **state) {
  size_t len;
  char *buf = tu_read(SHARED_DIR "/examples/shv-v0.9-enkelvoudig.json", &len);
  outcome o;
  const ddas_json *s;
  (void)state;
  run(buf, "0.9", DDAS_N_ALL, &o); /* run() checks v1.0 validity */
  assert_int_equal(o.counts.n[2], 1);
  assert_null(at(&o, T0 "/client/0/leefsituatie"));
  s = at(&o, T0 "/schulden");
  assert_non_null(s);
  assert_true(s->n >= 1);
  assert_non_null(ddas_json_get(&s->u.items[0], "schuldsoort"));
  assert_null(ddas_json_get(&s->u.items[0], "soort"));
  assert_str(at(&o, T0 "/intake/beschikkingssoort"), "Toelatingsbeschikking");
  assert_str(at(&o, T0 "/intake/beschikkingsdatum"), "2023-01-15");
  assert_null(at(&o, T0 "/intake/toelatingsbeschikking"));
  done(&o);
  free(buf);
}

static void n3_upgrades_v010(void **state) {
  size_t len;
  char *buf = tu_read(SHARED_DIR "/examples/shv-v0.10-enkelvoudig.json", &len);
  outcome o;
  (void)state;
  run(buf, "0.10", DDAS_N_ALL, &o);
  assert_int_equal(o.counts.n[2], 1);
  done(&o);
  free(buf);
  /* v0.10's intake "Beeindigingsbeschikking" becomes
   * uitstroom.datumBeeindigingsbeschikking in v1.0 */
  {
    static const char doc[] = ENVELOPE_HEAD
        "{\"gemeentecode\":\"GM0363\",\"intake\":{"
        "\"beschikkingssoort\":\"Beeindigingsbeschikking\","
        "\"beschikkingsdatum\":\"2024-05-01\"}," CLIENT "}" ENVELOPE_TAIL;
    run(doc, "0.10", DDAS_N3, &o);
    assert_null(at(&o, T0 "/intake/beschikkingssoort"));
    assert_str(at(&o, T0 "/uitstroom/datumBeeindigingsbeschikking"),
               "2024-05-01");
    done(&o);
  }
}

/* A v0.9 traject that v1.0 cannot hold (three clients; v0.9 has no
 * maxItems) is rejected with the v1.0 keyword instead of making CBS refuse
 * the batch (found by fuzzing). */
static void upgrade_that_breaks_v10_is_rejected(void **state) {
  size_t len, i;
  char *buf = tu_read(SOURCE_DIR "/tests/cases/fuzz-regressions/"
                                 "batch-v09-three-clients.json",
                      &len);
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_ruleset rs;
  char err[300];
  int found = 0;
  (void)state;
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  vo.kind = DDAS_KIND_SHV;
  vo.version = "0.9";
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(res.accepted, 0);
  assert_int_equal(res.rejected, 1);
  for(i = 0; i < res.findings.count; i++)
    found |= !strcmp(res.findings.items[i].rule, "schema") &&
             res.findings.items[i].keyword &&
             !strcmp(res.findings.items[i].keyword, "maxItems") &&
             !strcmp(res.findings.items[i].pointer,
                     "/leveringen/0/schuldhulptrajecten/0/client");
  assert_true(found);
  ddas_validate_result_clear(&res);
  /* without N3 nothing is upgraded, so nothing is checked against v1.0 */
  vo.norm_mask = DDAS_N1 | DDAS_N2;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(res.accepted, 1);
  ddas_validate_result_clear(&res);
  free(buf);
}

static void parse_lists(void **state) {
  unsigned m;
  (void)state;
  assert_int_equal(ddas_norm_parse("all", &m), 0);
  assert_int_equal(m, DDAS_N_ALL);
  assert_int_equal(ddas_norm_parse("N1,N4", &m), 0);
  assert_int_equal(m, DDAS_N1 | DDAS_N4);
  assert_int_equal(ddas_norm_parse("none", &m), 0);
  assert_int_equal(m, 0);
  assert_int_equal(ddas_norm_parse("N7", &m), -1);
  assert_int_equal(ddas_norm_parse("N1,,N2", &m), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(n1_null_is_absent),
      cmocka_unit_test(n2_trim_and_postcode),
      cmocka_unit_test(n4_end_dates),
      cmocka_unit_test(n5_toekenning_and_schuldeiser),
      cmocka_unit_test(n6_one_levering_per_gemeente),
      cmocka_unit_test(n3_upgrades_v09),
      cmocka_unit_test(n3_upgrades_v010),
      cmocka_unit_test(upgrade_that_breaks_v10_is_rejected),
      cmocka_unit_test(parse_lists)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
