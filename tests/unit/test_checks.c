/* The decisions of the start-up checks and of what `send` shows of a
 * refusal (ddas/checks.h), and the one delivery-id rule for files
 * (ddas_file_delivery_id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/batch.h"
#include "ddas/checks.h"

#define DAY 86400

static void certificate_window(void **state) {
  const int64_t nb = 1000 * DAY, na = 2000 * DAY;
  (void)state;
  assert_int_equal(ddas_cert_window_at(nb - 1, nb, na, 30 * DAY),
                   DDAS_CERT_NOT_YET_VALID);
  assert_int_equal(ddas_cert_window_at(nb, nb, na, 30 * DAY), DDAS_CERT_VALID);
  assert_int_equal(ddas_cert_window_at(1500 * DAY, nb, na, 30 * DAY),
                   DDAS_CERT_VALID);
  assert_int_equal(ddas_cert_window_at(na - 30 * DAY, nb, na, 30 * DAY),
                   DDAS_CERT_EXPIRES_SOON);
  assert_int_equal(ddas_cert_window_at(na, nb, na, 30 * DAY),
                   DDAS_CERT_EXPIRES_SOON);
  assert_int_equal(ddas_cert_window_at(na + 1, nb, na, 30 * DAY),
                   DDAS_CERT_EXPIRED);
  /* a window shorter than the warning period: not yet valid wins */
  assert_int_equal(ddas_cert_window_at(0, DAY, 2 * DAY, 30 * DAY),
                   DDAS_CERT_NOT_YET_VALID);
}

static void secret_file_modes(void **state) {
  (void)state;
  assert_int_equal(ddas_secret_mode(0100600), DDAS_MODE_PRIVATE);
  assert_int_equal(ddas_secret_mode(0100400), DDAS_MODE_PRIVATE);
  assert_int_equal(ddas_secret_mode(0100700), DDAS_MODE_PRIVATE);
  assert_int_equal(ddas_secret_mode(0100620), DDAS_MODE_PRIVATE); /* write */
  assert_int_equal(ddas_secret_mode(0100640), DDAS_MODE_GROUP_READABLE);
  assert_int_equal(ddas_secret_mode(0100604), DDAS_MODE_WORLD_READABLE);
  assert_int_equal(ddas_secret_mode(0100644), DDAS_MODE_WORLD_READABLE);
}

static void closest_name(void **state) {
  static const char *const names[] = {"bootstrap.servers", "client.id",
                                      "message.max.bytes", "sasl.password"};
  (void)state;
  assert_string_equal(ddas_closest("bootstrap.servrs", names, 4, 3),
                      "bootstrap.servers");
  assert_string_equal(ddas_closest("sasl.pasword", names, 4, 3),
                      "sasl.password");
  assert_null(ddas_closest("frobnicate.everything", names, 4, 3));
  assert_null(ddas_closest("x", names, 0, 3));
}

static void problem_summary_leaves_out_free_text(void **state) {
  static const char body[] =
      "{\"type\":\"https://cbs.nl/problems/schema\",\"title\":\"Schema "
      "validation failed\",\"status\":422,\"detail\":\"bsn 123456782 is "
      "invalid\",\"instance\":\"/batches/Jansen\",\"errors\":[{\"pointer\":"
      "\"/leveringen/0/trajecten/3/client/bsn\",\"detail\":\"123456782\"},"
      "{\"source\":{\"pointer\":\"/leveringen/1\"}}],\"invalid-params\":[{"
      "\"name\":\"codeGegevensleverancier\",\"reason\":\"Jansen\"}]}";
  char out[512];
  (void)state;
  assert_int_equal(ddas_problem_summary(body, strlen(body), out, sizeof(out)),
                   0);
  assert_string_equal(out, "status 422, title \"Schema validation failed\", "
                           "type https://cbs.nl/problems/schema; at "
                           "/leveringen/0/trajecten/3/client/bsn, "
                           "/leveringen/1, codeGegevensleverancier");
  assert_null(strstr(out, "123456782"));
  assert_null(strstr(out, "Jansen"));
}

static void problem_summary_bounds(void **state) {
  char body[4096], out[2048];
  size_t w = 0;
  int i;
  (void)state;
  /* control characters, a long title, more pointers than shown */
  w += (size_t)snprintf(body + w, sizeof(body) - w,
                        "{\"title\":\"a\\u001b[2Jb%0200d\",\"errors\":[", 0);
  for(i = 0; i < 11; i++)
    w += (size_t)snprintf(body + w, sizeof(body) - w, "%s{\"pointer\":\"/%d\"}",
                          i ? "," : "", i);
  snprintf(body + w, sizeof(body) - w, "]}");
  assert_int_equal(ddas_problem_summary(body, strlen(body), out, sizeof(out)),
                   0);
  assert_null(strchr(out, 0x1b));
  assert_non_null(strstr(out, "title \"a?[2Jb000"));
  assert_non_null(strstr(out, "/7 and 3 more"));
  assert_null(strstr(out, "/8"));
  assert_true(strlen(out) < 400);
  /* cut to the caller's buffer */
  assert_int_equal(ddas_problem_summary(body, strlen(body), out, 16), 0);
  assert_int_equal(strlen(out), 15);
  /* not problem+json */
  assert_int_equal(ddas_problem_summary("<html>", 6, out, sizeof(out)), -1);
  assert_string_equal(out, "not problem+json");
  assert_int_equal(ddas_problem_summary("{}", 2, out, sizeof(out)), 0);
  assert_string_equal(out, "no type, title or status");
}

static void file_delivery_id(void **state) {
  char a[DDAS_FILE_DELIVERY_ID_MAX], b[DDAS_FILE_DELIVERY_ID_MAX];
  (void)state;
  ddas_file_delivery_id("/data/in/mixed.json", "abc", 3, a, sizeof(a));
  /* SHA-256("abc") begins ba7816bf8f01 */
  assert_string_equal(a, "mixed-ba7816bf8f01");
  ddas_file_delivery_id("mixed.json", "abc", 3, b, sizeof(b));
  assert_string_equal(a, b); /* the directory does not matter */
  ddas_file_delivery_id("mixed.json", "abd", 3, b, sizeof(b));
  assert_string_not_equal(a, b); /* the content does */
  ddas_file_delivery_id("-", "abc", 3, b, sizeof(b));
  assert_string_equal(b, "stdin-ba7816bf8f01");
  ddas_file_delivery_id("/x/a b\xc3\xa9.json", "abc", 3, b, sizeof(b));
  assert_string_equal(b, "a_b__-ba7816bf8f01");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(certificate_window),
      cmocka_unit_test(secret_file_modes),
      cmocka_unit_test(closest_name),
      cmocka_unit_test(problem_summary_leaves_out_free_text),
      cmocka_unit_test(problem_summary_bounds),
      cmocka_unit_test(file_delivery_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
