/* The official JSON Schema Test Suite (draft 2020-12) against the validator.
 *
 * Runs every case of the files listed below (the keywords the validator
 * supports). A case may be skipped only through
 * tests/jsonschema-suite-skip.txt, which names the file, the group, the case
 * (or * for the whole group) and the reason. Each case is checked twice: in
 * quiet mode (verdict only) and in collecting mode, where "valid" must mean "no
 * findings". The summary line is "N passed, M failed, K skipped"; any failure
 * fails the test. */
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

static const char *const files[] = {"additionalProperties.json",
                                    "allOf.json",
                                    "anyOf.json",
                                    "boolean_schema.json",
                                    "const.json",
                                    "contains.json",
                                    "defs.json",
                                    "dependentRequired.json",
                                    "dependentSchemas.json",
                                    "enum.json",
                                    "exclusiveMaximum.json",
                                    "exclusiveMinimum.json",
                                    "format.json",
                                    "if-then-else.json",
                                    "infinite-loop-detection.json",
                                    "items.json",
                                    "maxContains.json",
                                    "maxItems.json",
                                    "maxLength.json",
                                    "maxProperties.json",
                                    "maximum.json",
                                    "minContains.json",
                                    "minItems.json",
                                    "minLength.json",
                                    "minProperties.json",
                                    "minimum.json",
                                    "multipleOf.json",
                                    "not.json",
                                    "oneOf.json",
                                    "prefixItems.json",
                                    "properties.json",
                                    "propertyNames.json",
                                    "ref.json",
                                    "required.json",
                                    "type.json",
                                    "uniqueItems.json",
                                    "optional/format/date.json",
                                    "optional/format/date-time.json",
                                    "optional/format/time.json",
                                    "optional/format/email.json",
                                    NULL};

typedef struct {
  char *file, *group, *test, *reason;
} skip_entry;

static skip_entry skips[256];
static size_t nskips;
static int *skip_used;

static void load_skips(void) {
  char *text = tu_read(SOURCE_DIR "/tests/jsonschema-suite-skip.txt", NULL);
  char *line, *save = NULL;
  for(line = strtok_r(text, "\n", &save); line;
      line = strtok_r(NULL, "\n", &save)) {
    char *f[4];
    int i;
    if(line[0] == '#' || line[0] == '\0')
      continue;
    for(i = 0; i < 4; i++) {
      f[i] = line;
      line = strchr(line, '|');
      if(!line && i < 3) {
        fprintf(stderr, "malformed skip line\n");
        abort();
      }
      if(line)
        *line++ = '\0';
    }
    assert_true(nskips < 256);
    skips[nskips].file = strdup(f[0]);
    skips[nskips].group = strdup(f[1]);
    skips[nskips].test = strdup(f[2]);
    skips[nskips].reason = strdup(f[3]);
    nskips++;
  }
  free(text);
  skip_used = calloc(nskips + 1, sizeof(int));
}

static int str_eq(const ddas_json *v, const char *s) {
  return v && v->type == DDAS_JSON_STRING && v->n == strlen(s) &&
         memcmp(v->u.str, s, v->n) == 0;
}

static const skip_entry *find_skip(const char *file, const ddas_json *group,
                                   const ddas_json *test) {
  size_t i;
  for(i = 0; i < nskips; i++) {
    if(strcmp(skips[i].file, file) == 0 && str_eq(group, skips[i].group) &&
       (strcmp(skips[i].test, "*") == 0 || str_eq(test, skips[i].test))) {
      skip_used[i] = 1;
      return &skips[i];
    }
  }
  return NULL;
}

static void run_suite(void **state) {
  size_t passed = 0, failed = 0, skipped = 0, i, fi;
  (void)state;
  load_skips();
  for(fi = 0; files[fi]; fi++) {
    char path[1024];
    size_t len;
    char *text;
    ddas_json_doc *doc;
    ddas_json_error err;
    const ddas_json *root;
    ddas_schema_options so = {0};
    snprintf(path, sizeof(path),
             SHARED_DIR "/jsonschema-test-suite/tests/draft2020-12/%s",
             files[fi]);
    text = tu_read(path, &len);
    assert_int_equal(ddas_json_parse(text, len, NULL, &doc, &err), DDAS_OK);
    root = ddas_json_root(doc);
    /* format.json checks the default (annotation) vocabulary */
    so.format_annotation_only = strcmp(files[fi], "format.json") == 0;
    for(i = 0; i < root->n; i++) {
      const ddas_json *group = &root->u.items[i];
      const ddas_json *gdesc = ddas_json_get(group, "description");
      const ddas_json *tests = ddas_json_get(group, "tests");
      ddas_schema *schema = NULL;
      char cerr[400];
      ddas_result cr = ddas_schema_compile(ddas_json_get(group, "schema"), &so,
                                           &schema, cerr, sizeof(cerr));
      size_t t;
      for(t = 0; t < tests->n; t++) {
        const ddas_json *tc = &tests->u.items[t];
        const ddas_json *data = ddas_json_get(tc, "data");
        const ddas_json *tdesc = ddas_json_get(tc, "description");
        int expect = ddas_json_get(tc, "valid")->type == DDAS_JSON_TRUE;
        const skip_entry *sk = find_skip(files[fi], gdesc, tdesc);
        int quick, full;
        ddas_findings fs;
        if(sk) {
          skipped++;
          continue;
        }
        if(cr) {
          printf("FAIL %s | %.*s | %.*s: schema not compiled: %s\n", files[fi],
                 (int)gdesc->n, gdesc->u.str, (int)tdesc->n, tdesc->u.str,
                 cerr);
          failed++;
          continue;
        }
        ddas_findings_init(&fs, 0);
        quick = ddas_schema_validate(schema, data, NULL);
        full = ddas_schema_validate(schema, data, &fs);
        if(quick == expect && full == expect &&
           (full ? fs.count == 0 : fs.count > 0)) {
          passed++;
        } else {
          printf("FAIL %s | %.*s | %.*s: expected %s, quiet %d, full %d with "
                 "%zu findings\n",
                 files[fi], (int)gdesc->n, gdesc->u.str, (int)tdesc->n,
                 tdesc->u.str, expect ? "valid" : "invalid", quick, full,
                 fs.count);
          failed++;
        }
        ddas_findings_clear(&fs);
      }
      ddas_schema_free(schema);
    }
    ddas_json_doc_free(doc);
    free(text);
  }
  for(i = 0; i < nskips; i++) {
    if(!skip_used[i]) {
      printf("FAIL skip list entry matches no case: %s | %s | %s\n",
             skips[i].file, skips[i].group, skips[i].test);
      failed++;
    }
  }
  printf("JSON Schema Test Suite: %zu passed, %zu failed, %zu skipped\n",
         passed, failed, skipped);
  assert_int_equal(failed, 0);
  assert_true(passed > 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(run_suite)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
