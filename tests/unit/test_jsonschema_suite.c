/* The official JSON Schema Test Suite (draft 2020-12) against the validator.
 *
 * Runs every case of every file of the suite's draft2020-12 directory,
 * optional/ and optional/format/ included, found by listing the directory (a
 * file added to the suite is run without touching this test). A case may be
 * skipped only through tests/jsonschema-suite-skip.txt, which names the file,
 * the group (or * for every group of the file), the case (or * for the whole
 * group) and the reason. A skip is only for a feature the validator refuses:
 * the runner checks that the schema of every skipped group fails to compile
 * with DDAS_ERR_UNSUPPORTED, so no case is ever skipped because it gives a
 * wrong verdict. Each case that runs is checked twice: in quiet mode (verdict
 * only) and in collecting mode, where "valid" must mean "no findings". The
 * summary line is "F files, N passed, M failed, K skipped"; any failure fails
 * the test. */
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

#define SUITE_DIR                                                              \
  SOURCE_DIR "/tests/data/jsonschema-test-suite/tests/draft2020-12"

/* The .json files under SUITE_DIR, recursively, as paths relative to it
 * ("optional/format/date.json"), one a line in C-locale order (free()). A
 * missing directory fails the test. */
static char *list_suite(void) {
  char *out = NULL;
  if(tu_runf(&out, "cd '" SUITE_DIR "' && find . -type f -name '*.json' | "
                   "sed 's|^\\./||' | LC_ALL=C sort") != 0 ||
     !out || !*out)
    fail_msg("cannot list the test suite in %s", SUITE_DIR);
  return out;
}

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

/* The skip entry for this case (test NULL: any entry for the group), or
 * NULL. Marks the entry used. */
static const skip_entry *find_skip(const char *file, const ddas_json *group,
                                   const ddas_json *test) {
  size_t i;
  for(i = 0; i < nskips; i++) {
    if(strcmp(skips[i].file, file) == 0 &&
       (strcmp(skips[i].group, "*") == 0 || str_eq(group, skips[i].group)) &&
       (!test || strcmp(skips[i].test, "*") == 0 ||
        str_eq(test, skips[i].test))) {
      skip_used[i] = 1;
      return &skips[i];
    }
  }
  return NULL;
}

typedef struct {
  size_t passed, failed, skipped;
} tally;

/* Runs every case of one suite file (`file` relative to SUITE_DIR). */
static void run_file(const char *file, tally *t) {
  char path[1024];
  size_t len, i;
  char *text;
  ddas_json_doc *doc;
  ddas_json_error err;
  const ddas_json *root;
  ddas_schema_options so = {0};
  snprintf(path, sizeof(path), SUITE_DIR "/%s", file);
  text = tu_read(path, &len);
  if(ddas_json_parse(text, len, NULL, &doc, &err) != DDAS_OK)
    fail_msg("%s does not parse", file);
  root = ddas_json_root(doc);
  assert_int_equal(root->type, DDAS_JSON_ARRAY);
  /* format.json checks the default (annotation) vocabulary */
  so.format_annotation_only = strcmp(file, "format.json") == 0;
  for(i = 0; i < root->n; i++) {
    const ddas_json *group = &root->u.items[i];
    const ddas_json *gdesc = ddas_json_get(group, "description");
    const ddas_json *tests = ddas_json_get(group, "tests");
    ddas_schema *schema = NULL;
    char cerr[400] = "";
    ddas_result cr = ddas_schema_compile(ddas_json_get(group, "schema"), &so,
                                         &schema, cerr, sizeof(cerr));
    size_t k;
    /* the promise of the skip list: a skipped group is refused at load */
    if(find_skip(file, gdesc, NULL) && cr != DDAS_ERR_UNSUPPORTED) {
      printf("FAIL %s | %.*s: skipped, but its schema %s\n", file,
             (int)gdesc->n, gdesc->u.str,
             cr == DDAS_OK ? "compiles: run it or refuse the feature at load"
                           : "is not refused as unsupported");
      t->failed++;
    }
    for(k = 0; k < tests->n; k++) {
      const ddas_json *tc = &tests->u.items[k];
      const ddas_json *data = ddas_json_get(tc, "data");
      const ddas_json *tdesc = ddas_json_get(tc, "description");
      int expect = ddas_json_get(tc, "valid")->type == DDAS_JSON_TRUE;
      int quick, full;
      ddas_findings fs;
      if(find_skip(file, gdesc, tdesc)) {
        t->skipped++;
        continue;
      }
      if(cr) {
        printf("FAIL %s | %.*s | %.*s: schema not compiled: %s\n", file,
               (int)gdesc->n, gdesc->u.str, (int)tdesc->n, tdesc->u.str, cerr);
        t->failed++;
        continue;
      }
      ddas_findings_init(&fs, 0);
      quick = ddas_schema_validate(schema, data, NULL);
      full = ddas_schema_validate(schema, data, &fs);
      if(quick == expect && full == expect &&
         (full ? fs.count == 0 : fs.count > 0)) {
        t->passed++;
      } else {
        printf("FAIL %s | %.*s | %.*s: expected %s, quiet %d, full %d with "
               "%zu findings\n",
               file, (int)gdesc->n, gdesc->u.str, (int)tdesc->n, tdesc->u.str,
               expect ? "valid" : "invalid", quick, full, fs.count);
        t->failed++;
      }
      ddas_findings_clear(&fs);
    }
    ddas_schema_free(schema);
  }
  ddas_json_doc_free(doc);
  free(text);
}

static void run_suite(void **state) {
  tally t = {0, 0, 0};
  size_t i, nfiles = 0;
  char *files = list_suite(), *file, *save = NULL;
  (void)state;
  load_skips();
  for(file = strtok_r(files, "\n", &save); file;
      file = strtok_r(NULL, "\n", &save)) {
    run_file(file, &t);
    nfiles++;
  }
  free(files);
  for(i = 0; i < nskips; i++) {
    if(!skip_used[i]) {
      printf("FAIL skip list entry matches no case: %s | %s | %s\n",
             skips[i].file, skips[i].group, skips[i].test);
      t.failed++;
    }
  }
  printf("JSON Schema Test Suite: %zu files, %zu passed, %zu failed, %zu "
         "skipped\n",
         nfiles, t.passed, t.failed, t.skipped);
  assert_int_equal(t.failed, 0);
  assert_true(t.passed > 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(run_suite)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
