/* The official example deliveries are valid: shv-v1.0-* and vs-v0.9-* with
 * detection, the older SHV versions against their own schemas. */
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

static void check(const char *file, ddas_kind kind, const char *version,
                  ddas_kind want_kind, const char *want_version) {
  char path[1024], err[300];
  size_t len;
  char *buf;
  ddas_validate_options vo;
  ddas_validate_result res;
  memset(&vo, 0, sizeof(vo));
  vo.kind = kind;
  vo.version = version;
  snprintf(path, sizeof(path), SOURCE_DIR "/config/examples/%s", file);
  buf = tu_read(path, &len);
  assert_int_equal(
      ddas_validate_buffer(tu_set, &vo, buf, len, &res, err, sizeof(err)),
      DDAS_OK);
  if(!res.valid || res.findings.count)
    printf("%s: %zu findings, first: %s %s\n", file, res.findings.count,
           res.findings.count ? res.findings.items[0].pointer : "",
           res.findings.count ? res.findings.items[0].message : "");
  assert_true(res.valid);
  assert_int_equal(res.findings.count, 0);
  assert_int_equal(res.detection.kind, want_kind);
  assert_string_equal(res.detection.version, want_version);
  assert_true(res.leveringen >= 1);
  assert_true(res.records >= 1);
  ddas_validate_result_clear(&res);
  free(buf);
}

static void every_v10_and_vs_example_is_valid(void **state) {
  char **names = tu_list(SOURCE_DIR "/config/examples", ".json");
  size_t i, n = 0;
  (void)state;
  for(i = 0; names[i]; i++) {
    if(strncmp(names[i], "shv-v1.0-", 9) == 0) {
      check(names[i], DDAS_KIND_UNKNOWN, NULL, DDAS_KIND_SHV, "1.0");
      n++;
    } else if(strncmp(names[i], "vs-v0.9-", 8) == 0) {
      check(names[i], DDAS_KIND_UNKNOWN, NULL, DDAS_KIND_VS, "0.9");
      n++;
    }
  }
  tu_free_list(names);
  assert_true(n >= 4);
}

static void older_versions_are_valid_against_their_own_schema(void **state) {
  char **names = tu_list(SOURCE_DIR "/config/examples", ".json");
  size_t i, n = 0;
  (void)state;
  for(i = 0; names[i]; i++) {
    if(strncmp(names[i], "shv-v0.10-", 10) == 0) {
      check(names[i], DDAS_KIND_SHV, "0.10", DDAS_KIND_SHV, "0.10");
      n++;
    } else if(strncmp(names[i], "shv-v0.9-", 9) == 0) {
      check(names[i], DDAS_KIND_SHV, "0.9", DDAS_KIND_SHV, "0.9");
      /* v0.9 has its own members, so detection finds it too */
      check(names[i], DDAS_KIND_UNKNOWN, NULL, DDAS_KIND_SHV, "0.9");
      n++;
    }
  }
  tu_free_list(names);
  assert_int_equal(n, 2);
}

static void version_spellings(void **state) {
  (void)state;
  assert_string_equal(ddas_version_canonical(DDAS_KIND_SHV, "v1.0"), "1.0");
  assert_string_equal(ddas_version_canonical(DDAS_KIND_SHV, "1"), "1.0");
  assert_string_equal(ddas_version_canonical(DDAS_KIND_SHV, "0.10"), "0.10");
  assert_null(ddas_version_canonical(DDAS_KIND_SHV, "0.1"));
  assert_null(ddas_version_canonical(DDAS_KIND_VS, "1.0"));
  assert_int_equal(ddas_kind_parse("VS"), DDAS_KIND_VS);
  assert_int_equal(ddas_kind_parse("x"), DDAS_KIND_UNKNOWN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_v10_and_vs_example_is_valid),
      cmocka_unit_test(older_versions_are_valid_against_their_own_schema),
      cmocka_unit_test(version_spellings)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
