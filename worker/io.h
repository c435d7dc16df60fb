/* worker/io.h: reading whole inputs with a size cap; time stamps. */
#ifndef WK_IO_H
#define WK_IO_H

#include <stddef.h>
#include <time.h>

/* Reads `path` ("-" = standard input) into a new buffer (*buf, *len; free
 * with free()). Returns 0; -1 with a message in err when the file cannot be
 * read; -2 when it is larger than max_bytes (nothing more is read). */
int wk_read_file(const char *path, size_t max_bytes, char **buf, size_t *len,
                 char *err, size_t errlen);

/* Parses a size such as "256M", "1G", "4096" (bytes; K/M/G are binary
 * multiples). Returns 0, or -1 when malformed. */
int wk_parse_size(const char *s, size_t *out);

/* t (UTC) as an RFC 3339 date-time to the second, "2026-11-29T10:00:00Z";
 * t < 0: now. cap >= 21. */
void wk_rfc3339(time_t t, char *buf, size_t cap);

#endif
