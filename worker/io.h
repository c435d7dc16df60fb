/* worker/io.h: whole inputs with a size cap; time stamps. */
#ifndef WK_IO_H
#define WK_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* A whole input in memory, read-only: mapped or a malloc copy. */
typedef struct {
  char *data; /* len bytes, not NUL-terminated; never written to */
  size_t len;
  int mapped; /* 1: data is an mmap of the file */
} wk_file;

/* Reads `path` ("-" = standard input) into *out; release it with
 * wk_file_release(). A regular file larger than max_bytes is refused from
 * its size (fstat) before anything is read; a named regular file is mapped
 * (MAP_PRIVATE, read-only) instead of copied, so it must not be truncated
 * while in use (the process would get SIGBUS); pipes, standard input and
 * files of size 0 are read into a buffer, at most max_bytes + 1 bytes.
 * Returns 0; -1 with a message in err when the file cannot be read; -2 when
 * it is larger than max_bytes. */
int wk_file_read(const char *path, size_t max_bytes, wk_file *out, char *err,
                 size_t errlen);
void wk_file_release(wk_file *f);

/* Parses a size such as "256M", "1G", "4096" (bytes; K/M/G are binary
 * multiples). Returns 0, or -1 when malformed. */
int wk_parse_size(const char *s, size_t *out);

/* A monotonic clock in milliseconds (CLOCK_MONOTONIC): the one clock of
 * deadlines, retries and cache times in the worker. */
uint64_t wk_mono_ms(void);

/* Sleeps ms milliseconds (a signal may cut it short). */
void wk_sleep_ms(long ms);

/* t (UTC) as an RFC 3339 date-time to the second, "2026-11-29T10:00:00Z";
 * t < 0: now. cap >= 21. */
void wk_rfc3339(time_t t, char *buf, size_t cap);

/* "HOST:PORT" or "[V6]:PORT" (an IPv4 or IPv6 literal; port 0..65535, 0:
 * the system picks one) into *ss. Returns 0, or -1 with a message naming
 * the configuration key `key` in err. */
int wk_parse_listen(const char *key, const char *listen_on,
                    struct sockaddr_storage *ss, char *err, size_t errlen);

#endif
