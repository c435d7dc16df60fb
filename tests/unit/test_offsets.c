/* Offset accounting: a later success never skips an earlier pending one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ddas/offsets.h"

static void commits_only_below_the_lowest_pending(void **state) {
  ddas_offsets *o;
  (void)state;
  assert_int_equal(ddas_offsets_new(&o), DDAS_OK);
  assert_int_equal(ddas_offsets_committable(o), -1);
  ddas_offsets_begin(o, 10);
  ddas_offsets_begin(o, 11);
  ddas_offsets_begin(o, 12);
  assert_int_equal(ddas_offsets_committable(o), 10);
  ddas_offsets_done(o, 12); /* a later success */
  assert_int_equal(ddas_offsets_committable(o), 10);
  ddas_offsets_done(o, 10);
  assert_int_equal(ddas_offsets_committable(o), 11);
  ddas_offsets_done(o, 11);
  assert_int_equal(ddas_offsets_committable(o), 13);
  assert_int_equal(ddas_offsets_pending(o), 0);
  /* redelivery after a seek back is ignored; unknown done is ignored */
  ddas_offsets_begin(o, 11);
  ddas_offsets_done(o, 99);
  assert_int_equal(ddas_offsets_committable(o), 13);
  ddas_offsets_reset(o);
  assert_int_equal(ddas_offsets_committable(o), -1);
  ddas_offsets_free(o);
}

/* A random order of completions over many offsets: the committable offset
 * is always exactly the lowest offset not yet done. */
static void random_completion_order(void **state) {
  enum { N = 5000 };
  static int done[N];
  static int64_t order[N];
  ddas_offsets *o;
  size_t i;
  (void)state;
  srand(7);
  assert_int_equal(ddas_offsets_new(&o), DDAS_OK);
  for(i = 0; i < N; i++) {
    ddas_offsets_begin(o, (int64_t)i + 100);
    order[i] = (int64_t)i;
  }
  for(i = N - 1; i > 0; i--) {
    size_t j = (size_t)rand() % (i + 1);
    int64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for(i = 0; i < N; i++) {
    size_t low = 0;
    ddas_offsets_done(o, order[i] + 100);
    done[order[i]] = 1;
    while(low < N && done[low])
      low++;
    assert_int_equal(ddas_offsets_committable(o), (int64_t)low + 100);
  }
  ddas_offsets_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(commits_only_below_the_lowest_pending),
      cmocka_unit_test(random_completion_order)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
