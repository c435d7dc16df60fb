/* Data-driven tests: every document under tests/cases/{schema,input} is run
 * through ddas_validate_buffer() and its findings (rule, keyword, pointer)
 * must equal the lines of the .expected file next to it, as a multiset. An
 * .expected file without its document fails the test.
 *
 * The same run checks privacy: no personal-data value of the input (BSN,
 * birth date, postcode, house number, names, address, contact details)
 * appears in any finding message, nor anywhere in the text or JSON report. */
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

static char *capture(int json, const char *name,
                     const ddas_validate_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ddas_report_options o = {1};
  assert_non_null(f);
  if(json)
    assert_int_equal(ddas_report_json(f, name, r, &o), 0);
  else
    assert_int_equal(ddas_report_text(f, name, r, &o), 0);
  fclose(f);
  return buf;
}

static void run_dir(const char *sub, size_t *ncases, size_t *npd) {
  char dir[1024];
  char **names;
  size_t i, failures = 0;
  snprintf(dir, sizeof(dir), SOURCE_DIR "/tests/cases/%s", sub);
  names = tu_list(dir, ".json");
  for(i = 0; names[i]; i++) {
    char path[1200], *buf, *exp, *line, *save = NULL, *got[256], *want[256];
    size_t len, ngot = 0, nwant = 0, j, npdv;
    char *pd[512];
    ddas_validate_options vo;
    ddas_validate_result res;
    char err[300];
    int same;
    memset(&vo, 0, sizeof(vo));
    if(strncmp(names[i], "shv10-", 6) == 0) {
      vo.kind = DDAS_KIND_SHV;
      vo.version = "1.0";
    } else if(strncmp(names[i], "shv010-", 7) == 0) {
      vo.kind = DDAS_KIND_SHV;
      vo.version = "0.10";
    } else if(strncmp(names[i], "shv09-", 6) == 0) {
      vo.kind = DDAS_KIND_SHV;
      vo.version = "0.9";
    } else if(strncmp(names[i], "vs09-", 5) == 0) {
      vo.kind = DDAS_KIND_VS;
      vo.version = "0.9";
    }
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    buf = tu_read(path, &len);
    assert_int_equal(
        ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
        DDAS_OK);
    assert_false(res.valid);
    for(j = 0; j < res.findings.count && ngot < 256; j++) {
      const ddas_finding *f = &res.findings.items[j];
      char l[2400];
      snprintf(l, sizeof(l), "%s\t%s\t%s", f->rule,
               f->keyword ? f->keyword : "-", f->pointer);
      got[ngot++] = strdup(l);
    }
    strcpy(path + strlen(path) - 5, ".expected");
    exp = tu_read(path, NULL);
    for(line = strtok_r(exp, "\n", &save); line && nwant < 256;
        line = strtok_r(NULL, "\n", &save))
      want[nwant++] = strdup(line);
    qsort(got, ngot, sizeof(char *), cmp_str);
    qsort(want, nwant, sizeof(char *), cmp_str);
    same = ngot == nwant;
    for(j = 0; same && j < ngot; j++)
      same = strcmp(got[j], want[j]) == 0;
    if(!same) {
      printf("MISMATCH %s/%s\n", sub, names[i]);
      for(j = 0; j < ngot; j++)
        printf("  got:  %s\n", got[j]);
      for(j = 0; j < nwant; j++)
        printf("  want: %s\n", want[j]);
      failures++;
    }
    /* privacy */
    npdv = tu_collect_pd(buf, len, pd, 512);
    *npd += npdv;
    {
      char *text = capture(0, names[i], &res), *js = capture(1, names[i], &res);
      for(j = 0; j < npdv; j++) {
        size_t k;
        for(k = 0; k < res.findings.count; k++)
          if(strstr(res.findings.items[k].message, pd[j])) {
            printf("PERSONAL DATA in a message of %s\n", names[i]);
            failures++;
          }
        if(strstr(text, pd[j]) || strstr(js, pd[j])) {
          printf("PERSONAL DATA in the report of %s\n", names[i]);
          failures++;
        }
        free(pd[j]);
      }
      free(text);
      free(js);
    }
    for(j = 0; j < ngot; j++)
      free(got[j]);
    for(j = 0; j < nwant; j++)
      free(want[j]);
    free(exp);
    free(buf);
    ddas_validate_result_clear(&res);
    (*ncases)++;
  }
  tu_free_list(names);
  {
    static const char *const suffixes[] = {".expected", NULL};
    failures += tu_orphan_expected(dir, suffixes);
  }
  assert_int_equal(failures, 0);
}

static void schema_cases(void **state) {
  size_t n = 0, npd = 0;
  (void)state;
  run_dir("schema", &n, &npd);
  printf("schema cases: %zu, personal-data values checked: %zu\n", n, npd);
  assert_true(n >= 40);
  assert_true(npd >= 100); /* the scan really found values to look for */
}

static void input_cases(void **state) {
  size_t n = 0, npd = 0;
  (void)state;
  run_dir("input", &n, &npd);
  printf("input-defect cases: %zu, personal-data values checked: %zu\n", n,
         npd);
  assert_true(n >= 30);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(schema_cases),
                                     cmocka_unit_test(input_cases)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
