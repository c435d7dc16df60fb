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

/* The context the worker would give: a time of submission and a configured
 * codeGegevensleverancier (for SHV v0.9 deliveries, which may lack both). */
static const ddas_envelope_context test_context = {
    "2025-01-16T00:00:00Z", "the test's time of submission",
    "Testleverancier 1.0", "the test's configuration", 0};

typedef struct {
  ddas_validate_result res;
  ddas_json_doc *out; /* the single batch, parsed */
  char *body;         /* not NUL-terminated */
  size_t len;
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
  vo.envelope = &test_context;
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
  bo.envelope = test_context;
  bo.time_from_delivery = 1;
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
  o->len = batch.len;
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
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v0.9-enkelvoudig.json", &len);
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
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v0.10-enkelvoudig.json", &len);
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
  vo.envelope = &test_context;
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

/* Findings of `res` with rule `rule` and severity `sev` (-1: any) at
 * `pointer` (NULL: anywhere). */
static size_t count(const ddas_validate_result *res, const char *rule, int sev,
                    const char *pointer) {
  size_t i, n = 0;
  for(i = 0; i < res->findings.count; i++) {
    const ddas_finding *f = &res->findings.items[i];
    n += !strcmp(f->rule, rule) && (sev < 0 || (int)f->severity == sev) &&
         (!pointer || !strcmp(f->pointer, pointer));
  }
  return n;
}

/* The official v0.9 example without its (optional) aanleverdatumEnTijd. */
static char *v09_without_time(size_t *len) {
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v0.9-enkelvoudig.json", len);
  char *p = strstr(buf, "\"aanleverdatumEnTijd\": \"2023-01-01T12:00:00Z\",");
  assert_non_null(p);
  memset(p, ' ', strlen("\"aanleverdatumEnTijd\": \"2023-01-01T12:00:00Z\","));
  return buf;
}

/* Issue 14, item 1: an upgrade invents nothing. The envelope members v1.0
 * requires and a v0.9 delivery lacks come from the delivery's context (its
 * time of submission, configuration), each with an envelope.filled warning
 * saying where from; without a context the delivery cannot be upgraded
 * (envelope.missing), instead of going out as 1970 from "ddas-worker". */
static void v09_envelope_from_context(void **state) {
  size_t len;
  char *buf = v09_without_time(&len);
  outcome o;
  ddas_validate_options vo;
  ddas_validate_result r;
  ddas_ruleset rs;
  char err[300];
  (void)state;
  run(buf, "0.9", DDAS_N_ALL, &o);
  assert_str(at(&o, "/aanleverdatumEnTijd"), "2025-01-16T00:00:00Z");
  assert_str(at(&o, "/codeGegevensleverancier"), "Testleverancier 1.0");
  assert_int_equal(count(&o.res, "envelope.filled", DDAS_SEV_WARNING,
                         "/aanleverdatumEnTijd"),
                   1);
  assert_int_equal(count(&o.res, "envelope.filled", DDAS_SEV_WARNING,
                         "/codeGegevensleverancier"),
                   1);
  { /* the finding says where the value came from */
    size_t i;
    for(i = 0; i < o.res.findings.count; i++)
      if(!strcmp(o.res.findings.items[i].rule, "envelope.filled"))
        assert_non_null(strstr(o.res.findings.items[i].message, "the test's"));
  }
  /* the filled time is the real one: strict finds no date after it */
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_STRICT);
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, o.body, o.len, &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&r, "dates.not.future", -1, NULL), 0);
  ddas_validate_result_clear(&r);
  done(&o);
  /* no context: nothing to fill from, so it cannot become v1.0 */
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  vo.kind = DDAS_KIND_SHV;
  vo.version = "0.9";
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(
      count(&r, "envelope.missing", DDAS_SEV_ERROR, "/aanleverdatumEnTijd"), 1);
  assert_int_equal(
      count(&r, "envelope.missing", DDAS_SEV_ERROR, "/codeGegevensleverancier"),
      1);
  assert_true(r.document_rejected);
  assert_int_equal(r.accepted, 0);
  ddas_validate_result_clear(&r);
  /* without N3 the batch stays v0.9, where both may be absent: no error */
  vo.norm_mask = DDAS_N1 | DDAS_N2;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&r, "envelope.missing", -1, NULL), 0);
  assert_int_equal(r.accepted, 1);
  ddas_validate_result_clear(&r);
  free(buf);
}

/* batch.code_gegevensleverancier replaces the delivery's own in every batch
 * (RULES.md: "from configuration when set"); a fill-only code does not. */
static void envelope_code_replaces_or_fills(void **state) {
  static const char doc[] =
      ENVELOPE_HEAD "{\"gemeentecode\":\"GM0363\"," CLIENT "}" ENVELOPE_TAIL;
  const char *from;
  size_t n;
  ddas_envelope_context ec = test_context;
  ddas_json_doc *d;
  ddas_json_error e;
  const char *v;
  (void)state;
  assert_int_equal(ddas_json_parse(doc, strlen(doc), NULL, &d, &e), DDAS_OK);
  v = ddas_envelope_value(&ec, ddas_json_root(d), "codeGegevensleverancier", &n,
                          &from);
  assert_null(from);
  assert_memory_equal(v, "Test 1.0", n);
  ec.code_replaces = 1;
  v = ddas_envelope_value(&ec, ddas_json_root(d), "codeGegevensleverancier", &n,
                          &from);
  assert_string_equal(from, "the test's configuration");
  assert_memory_equal(v, "Testleverancier 1.0", n);
  v = ddas_envelope_value(&ec, ddas_json_root(d), "aanleverdatumEnTijd", &n,
                          &from);
  assert_null(from);
  assert_memory_equal(v, "2025-01-15T10:00:00Z", n);
  ddas_json_doc_free(d);
}

/* Issue 14, item 2: what the upgrade cannot carry into v1.0 is reported
 * (upgrade.dropped, a warning at the dropped value) and counted, never left
 * out silently. */
static void upgrade_reports_dropped_values(void **state) {
  size_t len;
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v0.9-enkelvoudig.json", &len);
  outcome o;
  int idx = ddas_rule_index("upgrade.dropped");
  (void)state;
  assert_true(idx >= 0);
  run(buf, "0.9", DDAS_N_ALL, &o);
  assert_int_equal(count(&o.res, "upgrade.dropped", DDAS_SEV_WARNING,
                         T0 "/client/0/leefsituatie/0/datumGeldigVanaf"),
                   1);
  assert_int_equal(count(&o.res, "upgrade.dropped", DDAS_SEV_WARNING,
                         T0 "/client/0/leefsituatie/0/datumGeldigTot"),
                   1);
  assert_int_equal(o.res.rule_warnings[idx], 2);
  assert_true(o.res.verdicts[0].record[0] & DDAS_REC_WARNED);
  done(&o);
  free(buf);
  /* v0.10: a Beeindigingsbeschikking without a date has nowhere to go; an
   * extra root member of v0.9 is in no batch envelope */
  {
    static const char v010[] = ENVELOPE_HEAD
        "{\"gemeentecode\":\"GM0363\",\"intake\":{"
        "\"beschikkingssoort\":\"Beeindigingsbeschikking\"}," CLIENT
        "}" ENVELOPE_TAIL;
    run(v010, "0.10", DDAS_N_ALL, &o);
    assert_int_equal(count(&o.res, "upgrade.dropped", DDAS_SEV_WARNING,
                           T0 "/intake/beschikkingssoort"),
                     1);
    done(&o);
  }
  {
    char *v09 =
        tu_read(SOURCE_DIR "/config/examples/shv-v0.9-enkelvoudig.json", &len);
    char *extra = malloc(len + 32);
    assert_non_null(extra);
    snprintf(extra, len + 32, "{\"x~y\":1,%s", strchr(v09, '{') + 1);
    run(extra, "0.9", DDAS_N_ALL, &o);
    assert_int_equal(
        count(&o.res, "upgrade.dropped", DDAS_SEV_WARNING, "/x~0y"), 1);
    done(&o);
    free(extra);
    free(v09);
  }
}

/* Issue 14, item 3: N1 and N2 run before the schema, so each value they
 * repair is a finding (schema.null, schema.whitespace): a warning in spec,
 * an error in strict that rejects its scope like any other, overridable. */
static void n1_n2_deviations_are_findings(void **state) {
  static const char doc[] = ENVELOPE_HEAD
      "{\"gemeentecode\":\"GM0363\",\"einddatum\":null," CLIENT "},"
      "{\"gemeentecode\":\"GM0363\",\"startdatum\":\" 2024-02-01\"," CLIENT
      "},{\"gemeentecode\":\"GM0363\"," CLIENT "}" ENVELOPE_TAIL;
  ddas_validate_options vo;
  ddas_validate_result r;
  ddas_ruleset rs;
  char err[300];
  (void)state;
  memset(&vo, 0, sizeof(vo));
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, doc, strlen(doc), &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&r, "schema.null", DDAS_SEV_WARNING, T0 "/einddatum"),
                   1);
  assert_int_equal(count(&r, "schema.whitespace", DDAS_SEV_WARNING,
                         "/leveringen/0/schuldhulptrajecten/1/startdatum"),
                   1);
  assert_int_equal(r.accepted, 3);
  assert_int_equal(r.warned, 2);
  ddas_validate_result_clear(&r);
  /* strict: errors, which reject their trajecten; the third goes on */
  ddas_ruleset_init(&rs, DDAS_PROFILE_STRICT);
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, doc, strlen(doc), &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&r, "schema.null", DDAS_SEV_ERROR, T0 "/einddatum"),
                   1);
  assert_int_equal(r.accepted, 1);
  assert_true(ddas_record_accepted(&r, 0, 2));
  ddas_validate_result_clear(&r);
  /* overridable like every rule */
  assert_int_equal(
      ddas_ruleset_override(&rs, "schema.null=off", err, sizeof(err)), 0);
  assert_int_equal(
      ddas_ruleset_override(&rs, "schema.whitespace=warning", err, sizeof(err)),
      0);
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, doc, strlen(doc), &r, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&r, "schema.null", -1, NULL), 0);
  assert_int_equal(r.accepted, 3);
  assert_int_equal(r.normalised.n[0], 1);
  ddas_validate_result_clear(&r);
}

/* The official invalid example UitgebreidMeervoudigVoorbeeld (VNG's
 * repository) has 12 schema errors, five of them null members: with the
 * normalisations on, every pointer the raw schema view reports is still
 * reported (schema.null for the nulls), none is hidden. */
static void official_invalid_example_keeps_every_error(void **state) {
  size_t len, i, j;
  char *buf = tu_read(SOURCE_DIR "/tests/cases/schema/"
                                 "shv10-official-uitgebreid-meervoudig.json",
                      &len);
  ddas_validate_options vo;
  ddas_validate_result raw, norm;
  ddas_ruleset rs;
  char err[300];
  (void)state;
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  vo.rules = &rs;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &raw, err, sizeof(err)),
      DDAS_OK);
  vo.norm_mask = DDAS_N_ALL;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &norm, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(count(&raw, "schema", -1, NULL), 14);
  assert_int_equal(count(&norm, "schema.null", DDAS_SEV_WARNING, NULL), 5);
  for(i = 0; i < raw.findings.count; i++) {
    int seen = 0;
    for(j = 0; j < norm.findings.count && !seen; j++)
      seen = !strcmp(raw.findings.items[i].pointer,
                     norm.findings.items[j].pointer);
    if(!seen)
      printf("hidden: %s\n", raw.findings.items[i].pointer);
    assert_true(seen);
  }
  ddas_validate_result_clear(&raw);
  ddas_validate_result_clear(&norm);
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
      cmocka_unit_test(n1_n2_deviations_are_findings),
      cmocka_unit_test(official_invalid_example_keeps_every_error),
      cmocka_unit_test(v09_envelope_from_context),
      cmocka_unit_test(envelope_code_replaces_or_fills),
      cmocka_unit_test(upgrade_reports_dropped_values),
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
