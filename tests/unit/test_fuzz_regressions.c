/* Fuzz regressions: every file in tests/cases/fuzz-regressions/ (all but its
 * README.md) runs through the bodies of all five libFuzzer targets; finding
 * none fails the test (a missing or emptied directory). The bodies are
 * fuzz/targets.c, included here, so the plain build runs exactly the code of
 * the fuzz build; a crash or a broken invariant aborts the test. The verify
 * harness must also accept its own correctly signed seeds, so that a stored
 * fuzz_verify input reaches the code it was found in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../fuzz/targets.c"
#include "testutil.h"

#define REGRESSION_DIR SOURCE_DIR "/tests/cases/fuzz-regressions"

static int setup(void **state) {
  (void)state;
  if(fz_validate_init(SCHEMA_DIR) || fz_verify_init(SOURCE_DIR)) {
    fprintf(stderr, "cannot set up the fuzz harnesses\n");
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fz_validate_cleanup();
  fz_verify_cleanup();
  return 0;
}

/* 1 for a regression input: a regular file, not hidden, not the README. */
static int is_input(const char *name) {
  char path[4096];
  struct stat st;
  if(name[0] == '.' || strcmp(name, "README.md") == 0)
    return 0;
  snprintf(path, sizeof(path), "%s/%s", REGRESSION_DIR, name);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void every_regression_input(void **state) {
  char **names = tu_list(REGRESSION_DIR, "");
  size_t i, present = 0, ran = 0;
  (void)state;
  for(i = 0; names[i]; i++)
    present += (size_t)is_input(names[i]);
  for(i = 0; names[i]; i++) {
    char path[4096];
    char *data;
    size_t len;
    if(!is_input(names[i]))
      continue;
    snprintf(path, sizeof(path), "%s/%s", REGRESSION_DIR, names[i]);
    data = tu_read(path, &len);
    fz_json((const uint8_t *)data, len);
    fz_validate((const uint8_t *)data, len);
    fz_chunk((const uint8_t *)data, len);
    (void)fz_verify((const uint8_t *)data, len);
    fz_gegevens((const uint8_t *)data, len);
    fz_http((const uint8_t *)data, len);
    free(data);
    printf("  %s: no crash\n", names[i]);
    ran++;
  }
  tu_free_list(names);
  printf("fuzz regressions: %zu files\n", ran);
  assert_int_equal(ran, present);
  /* an empty (or emptied) directory tests nothing: it fails */
  if(ran == 0)
    fail_msg("no regression input in %s", REGRESSION_DIR);
}

static void verify_seeds_verify(void **state) {
  const uint8_t *seed;
  uint8_t *copy;
  size_t i, len;
  (void)state;
  for(i = 0; (seed = fz_verify_seed(i, &len)) != NULL; i++) {
    assert_int_equal(fz_verify(seed, len), DDAS_OK);
    /* the last byte changed: refused (Digest or signature no longer fit) */
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, seed, len);
    copy[len - 1] ^= 1;
    assert_int_equal(fz_verify(copy, len), DDAS_ERR_ARG);
    free(copy);
  }
  assert_int_equal(i, 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_regression_input),
      cmocka_unit_test(verify_seeds_verify),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
