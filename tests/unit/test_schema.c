/* The schema compiler and validator beyond the official test suite: what a
 * finding says, what compile errors say, limits and hostile schemas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/ddas.h"

typedef struct {
  ddas_json_doc *sdoc, *idoc;
  ddas_schema *schema;
  ddas_findings f;
  int valid;
} run;

static ddas_result compile(const char *schema_text, ddas_json_doc **doc,
                           ddas_schema **out, char *err, size_t errlen) {
  ddas_json_error e;
  assert_int_equal(
      ddas_json_parse(schema_text, strlen(schema_text), NULL, doc, &e),
      DDAS_OK);
  return ddas_schema_compile(ddas_json_root(*doc), NULL, out, err, errlen);
}

static void run_it(run *r, const char *schema_text, const char *inst) {
  char err[400];
  ddas_json_error e;
  /* these test the validator, not the parser's memory budget: some
   * instances are long arrays of tiny objects, past the default budget */
  ddas_json_options o = {0};
  o.max_memory = SIZE_MAX;
  memset(r, 0, sizeof(*r));
  assert_int_equal(compile(schema_text, &r->sdoc, &r->schema, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(ddas_json_parse(inst, strlen(inst), &o, &r->idoc, &e),
                   DDAS_OK);
  ddas_findings_init(&r->f, 0);
  r->valid = ddas_schema_validate(r->schema, ddas_json_root(r->idoc), &r->f);
}

static void done(run *r) {
  ddas_findings_clear(&r->f);
  ddas_schema_free(r->schema);
  ddas_json_doc_free(r->sdoc);
  ddas_json_doc_free(r->idoc);
}

static void finding_fields(void **state) {
  run r;
  (void)state;
  run_it(
      &r,
      "{\"$defs\":{\"d\":{\"type\":\"string\",\"format\":\"date\"}},"
      "\"type\":\"object\",\"required\":[\"a\",\"b\"],"
      "\"properties\":{\"a/x\":{\"$ref\":\"#/$defs/d\"},"
      "\"list\":{\"type\":\"array\",\"items\":{\"enum\":[\"Man\",\"Vrouw\"]}}},"
      "\"additionalProperties\":false}",
      "{\"a/x\":\"1980-13-01\",\"list\":[\"Man\",\"Geheim123\"],\"zz\":1}");
  assert_int_equal(r.valid, 0);
  assert_int_equal(r.f.count, 5);
  /* in document order of the schema's keywords: required x2, then members */
  assert_string_equal(r.f.items[0].keyword, "required");
  assert_string_equal(r.f.items[0].pointer, "");
  assert_string_equal(r.f.items[0].message, "required member 'a' is missing");
  assert_string_equal(r.f.items[2].keyword, "format");
  assert_string_equal(r.f.items[2].pointer, "/a~1x");
  assert_string_equal(r.f.items[2].schema_pointer, "#/$defs/d/format");
  assert_null(strstr(r.f.items[2].message, "1980"));
  assert_string_equal(r.f.items[3].keyword, "enum");
  assert_string_equal(r.f.items[3].pointer, "/list/1");
  assert_string_equal(r.f.items[3].schema_pointer,
                      "#/properties/list/items/enum");
  assert_null(strstr(r.f.items[3].message, "Geheim123"));
  assert_non_null(strstr(r.f.items[3].message, "\"Vrouw\""));
  assert_string_equal(r.f.items[4].keyword, "additionalProperties");
  assert_string_equal(r.f.items[4].pointer, "/zz");
  assert_int_equal(r.f.errors, 5);
  done(&r);
}

static void unsupported_keywords_are_errors_with_location(void **state) {
  static const struct {
    const char *schema, *want;
  } cases[] = {
      {"{\"properties\":{\"a\":{\"pattern\":\"^x\"}}}",
       "#/properties/a: keyword 'pattern' is not supported"},
      {"{\"$defs\":{\"x\":{\"unevaluatedProperties\":false}}}",
       "#/$defs/x: keyword 'unevaluatedProperties' is not supported"},
      {"{\"items\":{\"format\":\"ipv4\"}}",
       "#/items: format 'ipv4' is not supported"},
      {"{\"$ref\":\"other.json#/x\"}",
       "#: '$ref' to 'other.json#/x' is not supported"},
      {"{\"$ref\":\"#foo\"}", "#: '$ref' to an anchor"},
      {"{\"$ref\":\"#/$defs/missing\"}", "does not exist"},
      {"{\"items\":[{}]}", "prefixItems"},
      {"{\"minItems\":-1}", "'minItems' must be a non-negative integer"},
      {"{\"type\":\"strin\"}", "unknown type"},
      {"{\"required\":[\"a\",\"a\"]}", "same name twice"},
      {"{\"properties\":{\"a\":3}}",
       "#/properties/a: a schema must be an object"},
      {"{\"$defs\":{\"a\":{\"$id\":\"x\"}}}", "'$id' below the schema root"},
      {"{\"multipleOf\":0}", "greater than 0"}};
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ddas_json_doc *d;
    ddas_schema *s = NULL;
    char err[400];
    ddas_result r = compile(cases[i].schema, &d, &s, err, sizeof(err));
    assert_int_not_equal(r, DDAS_OK);
    assert_null(s);
    if(!strstr(err, cases[i].want))
      printf("case %zu: '%s' does not contain '%s'\n", i, err, cases[i].want);
    assert_non_null(strstr(err, cases[i].want));
    ddas_json_doc_free(d);
  }
}

static void annotations_and_refs_to_own_id(void **state) {
  run r;
  (void)state;
  run_it(&r,
         "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
         "\"$id\":\"https://example.org/s.json\",\"title\":\"t\","
         "\"description\":\"d\",\"$comment\":\"c\",\"examples\":[1],"
         "\"default\":1,\"deprecated\":false,"
         "\"$defs\":{\"a~b\":{\"type\":\"integer\"},\"c%d\":{\"minimum\":5}},"
         "\"properties\":{\"x\":{\"$ref\":\"#/$defs/a~0b\"},"
         "\"y\":{\"$ref\":\"https://example.org/s.json#/$defs/c%25d\"}}}",
         "{\"x\":1.5,\"y\":4}");
  assert_int_equal(r.valid, 0);
  assert_int_equal(r.f.count, 2);
  assert_string_equal(r.f.items[0].keyword, "type");
  assert_string_equal(r.f.items[1].keyword, "minimum");
  assert_string_equal(r.f.items[1].message, "must be at least 5");
  done(&r);
}

static void self_reference_terminates(void **state) {
  run r;
  (void)state;
  run_it(&r, "{\"$ref\":\"#\"}", "{}");
  assert_int_equal(r.valid, 0);
  assert_true(r.f.count >= 1);
  assert_string_equal(r.f.items[0].keyword, "$ref");
  done(&r);
  /* recursion that descends into the instance is fine */
  run_it(&r,
         "{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},"
         "\"v\":{\"type\":\"integer\"}}}",
         "{\"child\":{\"child\":{\"child\":{\"v\":\"x\"}}}}");
  assert_int_equal(r.valid, 0);
  assert_int_equal(r.f.count, 1);
  assert_string_equal(r.f.items[0].pointer, "/child/child/child/v");
  done(&r);
}

static void findings_limit_counts_the_rest(void **state) {
  ddas_json_doc *sd, *id;
  ddas_schema *s;
  ddas_findings f;
  ddas_json_error e;
  char err[200], inst[4096];
  size_t i, w = 0;
  (void)state;
  assert_int_equal(
      compile("{\"items\":{\"type\":\"string\"}}", &sd, &s, err, sizeof(err)),
      DDAS_OK);
  w += (size_t)snprintf(inst, sizeof(inst), "[");
  for(i = 0; i < 500; i++)
    w += (size_t)snprintf(inst + w, sizeof(inst) - w, "%s%zu", i ? "," : "", i);
  snprintf(inst + w, sizeof(inst) - w, "]");
  assert_int_equal(ddas_json_parse(inst, strlen(inst), NULL, &id, &e), DDAS_OK);
  ddas_findings_init(&f, 100);
  assert_int_equal(ddas_schema_validate(s, ddas_json_root(id), &f), 0);
  assert_int_equal(f.count, 100);
  assert_int_equal(f.dropped, 400);
  assert_int_equal(f.errors, 500);
  ddas_findings_clear(&f);
  ddas_schema_free(s);
  ddas_json_doc_free(sd);
  ddas_json_doc_free(id);
}

static void unique_items_large_arrays(void **state) {
  run r;
  char *inst = malloc(2000000);
  size_t i, w = 0;
  (void)state;
  w += (size_t)sprintf(inst, "[");
  for(i = 0; i < 100000; i++)
    w += (size_t)snprintf(inst + w, 2000000 - w, "%s{\"id\":%zu}", i ? "," : "",
                          i);
  snprintf(inst + w, 2000000 - w, ",{\"id\":77777.0}]");
  run_it(&r, "{\"uniqueItems\":true}", inst);
  assert_int_equal(r.valid, 0);
  assert_int_equal(r.f.count, 1);
  assert_string_equal(
      r.f.items[0].message,
      "items 77777 and 100000 are equal; all items must be unique");
  done(&r);
  free(inst);
}

static void sorting_and_locations(void **state) {
  ddas_findings f;
  long lev, rec;
  const char *list;
  size_t ll;
  (void)state;
  ddas_findings_init(&f, 0);
  ddas_findings_add(&f, DDAS_SEV_ERROR, "schema", "type",
                    "/leveringen/10/schuldhulptrajecten/2", NULL, "m");
  ddas_findings_add(&f, DDAS_SEV_WARNING, "schema", "type",
                    "/leveringen/9/schuldhulptrajecten/11/x", NULL, "m");
  ddas_findings_add(&f, DDAS_SEV_ERROR, "schema", "type", "", NULL, "m");
  ddas_findings_sort(&f);
  assert_string_equal(f.items[0].pointer, "");
  assert_string_equal(f.items[1].pointer,
                      "/leveringen/9/schuldhulptrajecten/11/x");
  assert_int_equal(f.errors, 2);
  assert_int_equal(f.warnings, 1);
  ddas_finding_location(f.items[1].pointer, &lev, &rec, &list, &ll);
  assert_int_equal(lev, 9);
  assert_int_equal(rec, 11);
  assert_int_equal(ll, strlen("schuldhulptrajecten"));
  ddas_finding_location("/leveringen/3/aanleverende_organisatie/x", &lev, &rec,
                        &list, &ll);
  assert_int_equal(lev, 3);
  assert_int_equal(rec, -1);
  ddas_finding_location("/startdatumLevering", &lev, &rec, &list, &ll);
  assert_int_equal(lev, -1);
  ddas_findings_clear(&f);
}

static void messages_stay_valid_utf8(void **state) {
  /* a member name of 2-byte characters is cut at 100 bytes in the message */
  char inst[512];
  size_t i, w = 0;
  run r;
  (void)state;
  w += (size_t)snprintf(inst, sizeof(inst), "{\"x");
  for(i = 0; i < 60; i++)
    w += (size_t)snprintf(inst + w, sizeof(inst) - w, "\xc3\xa9");
  snprintf(inst + w, sizeof(inst) - w, "\":1}");
  run_it(&r, "{\"additionalProperties\":false}", inst);
  assert_int_equal(r.f.count, 1);
  for(i = 0; r.f.items[0].message[i]; i++) {
    unsigned char c = (unsigned char)r.f.items[0].message[i];
    if(c == 0xC3)
      assert_int_equal((unsigned char)r.f.items[0].message[i + 1], 0xA9);
  }
  assert_non_null(strstr(r.f.items[0].message, "?"));
  done(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(finding_fields),
      cmocka_unit_test(unsupported_keywords_are_errors_with_location),
      cmocka_unit_test(annotations_and_refs_to_own_id),
      cmocka_unit_test(self_reference_terminates),
      cmocka_unit_test(findings_limit_counts_the_rest),
      cmocka_unit_test(unique_items_large_arrays),
      cmocka_unit_test(sorting_and_locations),
      cmocka_unit_test(messages_stay_valid_utf8)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
