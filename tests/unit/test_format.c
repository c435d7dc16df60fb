/* Format assertions: date, time, date-time, email. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/format.h"

#define OK(fn, s) assert_true(fn(s, strlen(s)))
#define BAD(fn, s) assert_false(fn(s, strlen(s)))

static void dates(void **state) {
  (void)state;
  OK(ddas_format_date, "2024-02-29");
  OK(ddas_format_date, "2000-02-29");
  OK(ddas_format_date, "2024-12-31");
  OK(ddas_format_date, "0001-01-01");
  BAD(ddas_format_date, "2023-02-29");
  BAD(ddas_format_date, "1900-02-29");
  BAD(ddas_format_date, "2024-02-30");
  BAD(ddas_format_date, "2024-04-31");
  BAD(ddas_format_date, "2024-13-01");
  BAD(ddas_format_date, "2024-00-10");
  BAD(ddas_format_date, "2024-01-00");
  BAD(ddas_format_date, "2024-1-05");
  BAD(ddas_format_date, "24-01-05");
  BAD(ddas_format_date, "2024-01-05T00:00:00Z");
  BAD(ddas_format_date, "05-01-2024");
  BAD(ddas_format_date, "");
  BAD(ddas_format_date, "2024/01/05");
}

static void day_numbers_are_ordered(void **state) {
  long a, b, c;
  (void)state;
  assert_int_equal(ddas_date_parse("2024-02-28", 10, &a), 0);
  assert_int_equal(ddas_date_parse("2024-02-29", 10, &b), 0);
  assert_int_equal(ddas_date_parse("2024-03-01", 10, &c), 0);
  assert_int_equal(b - a, 1);
  assert_int_equal(c - b, 1);
  assert_int_equal(ddas_date_parse("2023-12-31", 10, &a), 0);
  assert_int_equal(ddas_date_parse("2024-12-31", 10, &b), 0);
  assert_int_equal(b - a, 366);
  assert_int_equal(ddas_date_parse("2023-02-29", 10, &a), -1);
}

static void times(void **state) {
  (void)state;
  OK(ddas_format_time, "08:30:06Z");
  OK(ddas_format_time, "08:30:06z");
  OK(ddas_format_time, "23:59:60Z");
  OK(ddas_format_time, "15:59:60-08:00");
  OK(ddas_format_time, "08:30:06.283185+01:00");
  BAD(ddas_format_time, "08:30:06");
  BAD(ddas_format_time, "24:00:00Z");
  BAD(ddas_format_time, "22:59:60Z");
  BAD(ddas_format_time, "08:30:06+1:00");
  BAD(ddas_format_time, "08:30:06.Z");
  BAD(ddas_format_time, "08:30Z");
}

static void date_times(void **state) {
  (void)state;
  OK(ddas_format_date_time, "2024-12-31T23:59:59Z");
  OK(ddas_format_date_time, "2024-12-31t23:59:59+01:00");
  OK(ddas_format_date_time, "1998-12-31T23:59:60Z");
  BAD(ddas_format_date_time, "2024-12-31T23:59:59");
  BAD(ddas_format_date_time, "2024-12-31 23:59:59Z");
  BAD(ddas_format_date_time, "2024-02-30T10:00:00Z");
  BAD(ddas_format_date_time, "2024-12-31");
  BAD(ddas_format_date_time, "2024-12-31T23:59:59Z\n");
}

static void emails(void **state) {
  (void)state;
  OK(ddas_format_email, "jan.jansen@example.nl");
  OK(ddas_format_email, "\"jan jansen\"@example.nl");
  OK(ddas_format_email, "jan@[127.0.0.1]");
  OK(ddas_format_email, "jan@[IPv6:::1]");
  OK(ddas_format_email, "j+tag@sub.example-domain.nl");
  BAD(ddas_format_email, "jan");
  BAD(ddas_format_email, "jan@");
  BAD(ddas_format_email, "@example.nl");
  BAD(ddas_format_email, "jan@@example.nl");
  BAD(ddas_format_email, "j an@example.nl");
  BAD(ddas_format_email, ".jan@example.nl");
  BAD(ddas_format_email, "jan..jansen@example.nl");
  BAD(ddas_format_email, "jan@-example.nl");
  BAD(ddas_format_email, "jan@example..nl");
  BAD(ddas_format_email, "jan@[300.0.0.1]");
  BAD(ddas_format_email, "a@b.nl, c@d.nl");
  /* RFC 5321 address literals (found by the differential check) */
  OK(ddas_format_email, "a@[01.2.3.4]");
  OK(ddas_format_email, "a@[ipv6:::1]");
  OK(ddas_format_email, "a@[IPv6:1:2:3:4:5:6:7:8]");
  OK(ddas_format_email, "a@[IPv6:1:2:3:4:5:6::]");
  BAD(ddas_format_email, "a@[IPv6:1:2:3:4:5:6:7::]");
  BAD(ddas_format_email, "a@[IPv6:1:2:3:4:5::1.2.3.4]");
  OK(ddas_format_email, "a@[IPv6:1:2:3:4::1.2.3.4]");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dates), cmocka_unit_test(day_numbers_are_ordered),
      cmocka_unit_test(times), cmocka_unit_test(date_times),
      cmocka_unit_test(emails)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
