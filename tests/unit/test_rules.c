/* Business rules, data-driven: every document under tests/cases/rules is
 * checked in both profiles and its rule findings (rule, severity, pointer;
 * schema findings excluded) must equal NAME.spec.expected and
 * NAME.strict.expected as multisets; an .expected file without its document
 * fails. Also: profiles, overrides and the rule table. */
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

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every case is checked as if submitted at this time, with no configured
 * codeGegevensleverancier (tests/cases/rules/README.md). */
static const ddas_envelope_context corpus_context = {
    "2024-01-15T09:00:00Z", "the corpus's time of submission", NULL, NULL, 0};

static size_t run_profile(const char *dir, const char *name, ddas_profile p) {
  char path[1200], *buf, *exp, *line, *save = NULL, *got[512], *want[512];
  size_t len, ngot = 0, nwant = 0, j, fail = 0;
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_ruleset rs;
  char err[300];
  int same;
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, p);
  vo.rules = &rs;
  vo.norm_mask = DDAS_N_ALL;
  vo.max_findings = 100000;
  vo.envelope = &corpus_context;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  buf = tu_read(path, &len);
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  for(j = 0; j < res.findings.count && ngot < 512; j++) {
    const ddas_finding *f = &res.findings.items[j];
    char l[1200];
    if(strcmp(f->rule, "schema") == 0) {
      printf("SCHEMA FINDING in %s: %s %s\n", name, f->pointer, f->message);
      fail++;
      continue;
    }
    snprintf(l, sizeof(l), "%s\t%s\t%s", f->rule,
             f->severity == DDAS_SEV_ERROR ? "error" : "warning", f->pointer);
    got[ngot++] = strdup(l);
  }
  snprintf(path + strlen(path) - 5, sizeof(path) - strlen(path) + 5,
           ".%s.expected", ddas_profile_name(p));
  exp = tu_read(path, NULL);
  for(line = strtok_r(exp, "\n", &save); line && nwant < 512;
      line = strtok_r(NULL, "\n", &save))
    want[nwant++] = strdup(line);
  qsort(got, ngot, sizeof(char *), cmp_str);
  qsort(want, nwant, sizeof(char *), cmp_str);
  same = ngot == nwant;
  for(j = 0; same && j < ngot; j++)
    same = strcmp(got[j], want[j]) == 0;
  if(!same) {
    printf("MISMATCH %s (%s)\n", name, ddas_profile_name(p));
    for(j = 0; j < ngot; j++)
      printf("  got:  %s\n", got[j]);
    for(j = 0; j < nwant; j++)
      printf("  want: %s\n", want[j]);
    fail++;
  }
  for(j = 0; j < ngot; j++)
    free(got[j]);
  for(j = 0; j < nwant; j++)
    free(want[j]);
  free(exp);
  free(buf);
  ddas_validate_result_clear(&res);
  return fail;
}

static void corpus(void **state) {
  const char *dir = SOURCE_DIR "/tests/cases/rules";
  char **names = tu_list(dir, ".json");
  size_t i, fail = 0, n = 0;
  (void)state;
  for(i = 0; names[i]; i++, n++) {
    fail += run_profile(dir, names[i], DDAS_PROFILE_SPEC);
    fail += run_profile(dir, names[i], DDAS_PROFILE_STRICT);
  }
  tu_free_list(names);
  {
    static const char *const suffixes[] = {".spec.expected", ".strict.expected",
                                           NULL};
    fail += tu_orphan_expected(dir, suffixes);
  }
  printf("rule cases: %zu (each in both profiles), mismatches: %zu\n", n, fail);
  assert_true(n >= 60);
  assert_int_equal(fail, 0);
}

/* Every rule of the table (but the structural ones) is exercised by the
 * corpus: some expected file names it. */
static void every_rule_has_cases(void **state) {
  size_t n, i;
  const ddas_rule_info *t = ddas_rule_table(&n);
  char cmd[512], *out;
  (void)state;
  for(i = 0; i < n; i++) {
    if(t[i].fixed)
      continue;
    snprintf(cmd, sizeof(cmd),
             "grep -l '^%s\t' '%s'/tests/cases/rules/*.expected | wc -l",
             t[i].id, SOURCE_DIR);
    assert_int_equal(tu_run(cmd, &out), 0);
    if(atoi(out) < 1)
      printf("rule %s has no failing case\n", t[i].id);
    assert_true(atoi(out) >= 1);
    free(out);
  }
}

static void overrides(void **state) {
  ddas_ruleset rs;
  char err[200];
  (void)state;
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  assert_int_equal(ddas_ruleset_level(&rs, "client.bsn.elfproef"),
                   DDAS_LEVEL_OFF);
  assert_int_equal(ddas_ruleset_level(&rs, "traject.in.period"),
                   DDAS_LEVEL_WARNING);
  ddas_ruleset_init(&rs, DDAS_PROFILE_STRICT);
  assert_int_equal(ddas_ruleset_level(&rs, "client.bsn.elfproef"),
                   DDAS_LEVEL_ERROR);
  assert_int_equal(
      ddas_ruleset_override(&rs, "kvk.format=warning", err, sizeof(err)), 0);
  assert_int_equal(ddas_ruleset_level(&rs, "kvk.format"), DDAS_LEVEL_WARNING);
  assert_int_equal(
      ddas_ruleset_override(&rs, "kvk.formaat=off", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "did you mean 'kvk.format'"));
  assert_int_equal(
      ddas_ruleset_override(&rs, "kvk.format=fatal", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "error, warning or off"));
  assert_int_equal(ddas_ruleset_override(&rs, "schema=off", err, sizeof(err)),
                   -1);
  assert_non_null(strstr(err, "cannot be changed"));
  assert_int_equal(ddas_ruleset_override(&rs, "nonsense", err, sizeof(err)),
                   -1);
}

static void an_override_changes_the_verdict(void **state) {
  size_t len;
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v1.0-enkelvoudig.json", &len);
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_ruleset rs;
  char err[200];
  (void)state;
  memset(&vo, 0, sizeof(vo));
  ddas_ruleset_init(&rs, DDAS_PROFILE_STRICT);
  vo.rules = &rs;
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  assert_false(res.valid);
  assert_int_equal(res.accepted, 0);
  ddas_validate_result_clear(&res);
  ddas_ruleset_override(&rs, "client.bsn.elfproef=warning", err, sizeof(err));
  ddas_ruleset_override(&rs, "gemeentecode.format=off", err, sizeof(err));
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  assert_true(res.valid);
  assert_int_equal(res.accepted, 1);
  assert_int_equal(res.warned, 1);
  assert_int_equal(res.findings.warnings, 2);
  ddas_validate_result_clear(&res);
  free(buf);
}

static void bsn_eleven_test(void **state) {
  (void)state;
  assert_true(ddas_bsn_valid("111222333", 9));
  assert_true(ddas_bsn_valid("123456782", 9));
  assert_false(ddas_bsn_valid("123456789", 9));
  assert_false(ddas_bsn_valid("000000000", 9));
  assert_false(ddas_bsn_valid("11122233", 8));
  assert_false(ddas_bsn_valid("11122233a", 9));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(corpus), cmocka_unit_test(every_rule_has_cases),
      cmocka_unit_test(overrides),
      cmocka_unit_test(an_override_changes_the_verdict),
      cmocka_unit_test(bsn_eleven_test)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
