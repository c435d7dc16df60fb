/* Findings order and the reports: document order, one group per scope in
 * the text report, names from outside escaped. */
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

/* The official example with defects at the document level before and
 * after `leveringen` (a bad startdatumLevering first, an extra member
 * last) and inside its traject: member names out of alphabetical order, so
 * a sort by pointer and document order differ. */
static char *defective_example(size_t *len) {
  size_t n;
  char *ex =
      tu_read(SOURCE_DIR "/config/examples/shv-v1.0-enkelvoudig.json", &n);
  char *b = malloc(n + 64), *at, *close;
  assert_non_null(b);
  at = strstr(ex, "\"startdatumLevering\": \"2024-01-01\"");
  assert_non_null(at);
  memcpy(at + strlen("\"startdatumLevering\": \"2024-"), "13", 2);
  close = strrchr(ex, '}');
  *len = (size_t)snprintf(b, n + 64, "%.*s,\"zzz\":1}", (int)(close - ex), ex);
  free(ex);
  return b;
}

static void validate(const char *buf, size_t len, ddas_validate_result *res,
                     ddas_schemaset **set) {
  char err[300];
  ddas_validate_options o;
  static ddas_ruleset rules; /* strict: the example's traject has errors */
  ddas_ruleset_init(&rules, DDAS_PROFILE_STRICT);
  memset(&o, 0, sizeof(o));
  o.rules = &rules;
  assert_int_equal(ddas_schemaset_new(SCHEMA_DIR, set), DDAS_OK);
  assert_int_equal(
      ddas_validate_buffer(*set, &o, buf, len, res, err, sizeof(err)), DDAS_OK);
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for(hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
    n++;
  return n;
}

static void findings_in_document_order(void **state) {
  size_t len, i, prev = 0;
  char *buf = defective_example(&len), *text = NULL;
  size_t tlen = 0;
  ddas_validate_result res;
  ddas_schemaset *set;
  ddas_json_doc *doc;
  ddas_json_error e;
  FILE *out;
  (void)state;
  validate(buf, len, &res, &set);
  assert_true(res.findings.count >= 3);
  assert_string_equal(res.findings.items[0].pointer, "/startdatumLevering");
  assert_string_equal(res.findings.items[res.findings.count - 1].pointer,
                      "/zzz");
  /* every finding at or after the previous one in the input */
  assert_int_equal(ddas_json_parse(buf, len, NULL, &doc, &e), DDAS_OK);
  for(i = 0; i < res.findings.count; i++) {
    const char *p = res.findings.items[i].pointer;
    const ddas_json *v =
        ddas_json_pointer_get(ddas_json_root(doc), p, strlen(p));
    assert_non_null(v);
    assert_true(v->start >= prev);
    prev = v->start;
  }
  ddas_json_doc_free(doc);
  /* the text report: one "document" group, though its findings are on
   * both sides of the levering's */
  out = open_memstream(&text, &tlen);
  assert_non_null(out);
  assert_int_equal(ddas_report_text(out, "x.json", &res, NULL), 0);
  fclose(out);
  assert_int_equal(count(text, "\n  document\n"), 1);
  assert_int_equal(count(text, "\n  levering /leveringen/0\n"), 1);
  assert_true(strstr(text, "/zzz") < strstr(text, "levering /leveringen/0"));
  free(text);
  ddas_validate_result_clear(&res);
  ddas_schemaset_free(set);
  free(buf);
}

static void names_are_escaped_in_text(void **state) {
  static const char name[] = "a\033[31mb\nc\\\xff\xe2\x80\xae\xc2\x9b"
                             "d\xc3\xa9.json";
  ddas_validate_result res;
  ddas_schemaset *set;
  char *text = NULL;
  size_t tlen = 0;
  FILE *out;
  (void)state;
  validate("{}", 2, &res, &set);
  out = open_memstream(&text, &tlen);
  assert_non_null(out);
  assert_int_equal(ddas_report_text(out, name, &res, NULL), 0);
  fclose(out);
  assert_null(strchr(text, '\033'));
  assert_null(memchr(text, 0xff, tlen));
  assert_true(
      strncmp(
          text, "a\\x1B[31mb\\nc\\\\\\xFF\\u202E\\u009Bd\xc3\xa9.json:",
          strlen("a\\x1B[31mb\\nc\\\\\\xFF\\u202E\\u009Bd\xc3\xa9.json:")) ==
      0);
  free(text);
  /* JSON: control characters are JSON escapes, invalid UTF-8 becomes '?' */
  text = NULL;
  out = open_memstream(&text, &tlen);
  assert_int_equal(ddas_report_json(out, name, &res, NULL), 0);
  fclose(out);
  assert_non_null(strstr(text, "\"file\":\"a\\u001B[31mb\\nc\\\\?"));
  free(text);
  ddas_validate_result_clear(&res);
  ddas_schemaset_free(set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(findings_in_document_order),
      cmocka_unit_test(names_are_escaped_in_text)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
