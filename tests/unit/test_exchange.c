/* What a CBS response means and when to try again (EXCHANGE.md table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ddas/exchange.h"

static void classification_follows_the_table(void **state) {
  static const struct {
    int status;
    ddas_outcome want;
  } rows[] = {{200, DDAS_OUT_FORWARDED},    {201, DDAS_OUT_FORWARDED},
              {202, DDAS_OUT_FORWARDED},    {204, DDAS_OUT_FORWARDED},
              {400, DDAS_OUT_REFUSED},      {422, DDAS_OUT_REFUSED},
              {401, DDAS_OUT_AUTH},         {403, DDAS_OUT_CONFIG_FAULT},
              {404, DDAS_OUT_CONFIG_FAULT}, {405, DDAS_OUT_CONFIG_FAULT},
              {408, DDAS_OUT_TRANSIENT},    {425, DDAS_OUT_TRANSIENT},
              {429, DDAS_OUT_TRANSIENT},    {500, DDAS_OUT_TRANSIENT},
              {502, DDAS_OUT_TRANSIENT},    {503, DDAS_OUT_TRANSIENT},
              {504, DDAS_OUT_TRANSIENT},    {0, DDAS_OUT_TRANSIENT},
              {301, DDAS_OUT_CONFIG_FAULT}, {409, DDAS_OUT_REFUSED},
              {413, DDAS_OUT_REFUSED},      {599, DDAS_OUT_TRANSIENT}};
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    assert_int_equal(ddas_classify(rows[i].status), rows[i].want);
  assert_string_equal(ddas_outcome_name(DDAS_OUT_CONFIG_FAULT), "config-fault");
}

static void retry_after_values(void **state) {
  /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
  (void)state;
  assert_int_equal(ddas_retry_after("120", 0), 120);
  assert_int_equal(ddas_retry_after(" 0 ", 0), 0);
  assert_int_equal(ddas_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770),
                   7);
  assert_int_equal(ddas_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800),
                   0); /* in the past */
  assert_int_equal(ddas_retry_after("soon", 0), -1);
  assert_int_equal(ddas_retry_after("12abc", 0), -1);
  assert_int_equal(ddas_retry_after("Sun, 06 Nov 1994 08:49:37 CET", 0), -1);
  assert_int_equal(ddas_retry_after(NULL, 0), -1);
  assert_int_equal(ddas_retry_after("Sun, 06 Nov 1994 08:49:37 GMT x", 0), -1);
}

static void backoff_with_full_jitter(void **state) {
  (void)state;
  /* ceiling doubles from base to max */
  assert_int_equal(ddas_backoff_ms(1, 500, 60000, -1, 0.999999), 499);
  assert_int_equal(ddas_backoff_ms(2, 500, 60000, -1, 0.5), 500);
  assert_int_equal(ddas_backoff_ms(3, 500, 60000, -1, 0.5), 1000);
  assert_int_equal(ddas_backoff_ms(30, 500, 60000, -1, 0.5), 30000);
  /* full jitter: anywhere from 0 */
  assert_int_equal(ddas_backoff_ms(5, 500, 60000, -1, 0.0), 0);
  /* Retry-After is a floor */
  assert_int_equal(ddas_backoff_ms(1, 500, 60000, 3, 0.1), 3000);
  assert_int_equal(ddas_backoff_ms(10, 500, 60000, 1, 0.9), 0.9 * 60000);
}

static void retry_budget(void **state) {
  ddas_retry_policy p = {3, 10000};
  (void)state;
  assert_true(ddas_retry_allowed(&p, 1, 0, 1000));
  assert_true(ddas_retry_allowed(&p, 2, 8000, 2000));
  assert_false(ddas_retry_allowed(&p, 2, 8000, 2001)); /* over the budget */
  assert_false(ddas_retry_allowed(&p, 3, 0, 0));       /* attempts used up */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(classification_follows_the_table),
      cmocka_unit_test(retry_after_values),
      cmocka_unit_test(backoff_with_full_jitter),
      cmocka_unit_test(retry_budget)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
