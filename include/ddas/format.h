/* ddas/format.h: the string formats that the validator asserts.
 *
 * Each function takes n bytes of UTF-8 (no NUL needed) and returns 1 when the
 * string is in the format. Definitions follow RFC 3339 section 5.6 (date is a
 * real calendar date: 2024-02-30 is not a date; leap seconds only at 23:59:60
 * UTC) and RFC 5321 section 4.1.2 Mailbox for email (dot-atom or quoted local
 * part; domain name or address literal). */
#ifndef DDAS_FORMAT_H
#define DDAS_FORMAT_H

#include <stddef.h>

int ddas_format_date(const char *s, size_t n);
int ddas_format_time(const char *s, size_t n);
int ddas_format_date_time(const char *s, size_t n);
int ddas_format_email(const char *s, size_t n);

/* Parses the date "YYYY-MM-DD" into a day number (days since 0000-03-01,
 * monotonic); returns 0 on success, -1 when s is not a valid date. */
int ddas_date_parse(const char *s, size_t n, long *day);

#endif
