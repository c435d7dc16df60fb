/* tests/unit/testutil.h: small helpers shared by the unit tests. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>

#include "ddas/batch.h"
#include "ddas/validate.h"

/* Reads a whole file; aborts the test program when it cannot. Free with
 * free(). */
char *tu_read(const char *path, size_t *len);
/* Sorted names of the files in dir ending in suffix; NULL-terminated; free
 * with tu_free_list(). */
char **tu_list(const char *dir, const char *suffix);
void tu_free_list(char **list);
/* The number of orphan expectation files in a data-driven case directory:
 * files ending in ".expected" that are not NAME<suffix> for a NAME.json in
 * dir, for one of the NULL-terminated `suffixes` (".expected";
 * ".spec.expected", ".strict.expected"). An orphan is never compared with
 * anything, so its case silently stopped being tested; each is printed. */
size_t tu_orphan_expected(const char *dir, const char *const *suffixes);
/* Runs a shell command, captures stdout into *out (free()), returns the exit
 * status (or -1). */
int tu_run(const char *cmd, char **out);

/* Collects the values of personal-data members (BSN, birth date, postcode,
 * house number, names, address, contact details; SHV and VS spellings) from
 * raw bytes, so it works on malformed input too. Values shorter than 4
 * bytes and the literals true/false/null are skipped. Each vals[i] is
 * malloc'ed; returns the count (at most cap). */
size_t tu_collect_pd(const char *buf, size_t len, char **vals, size_t cap);

/* tu_run with a printf-style command. */
int tu_runf(char **out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Writes len bytes to path; aborts the test program when it cannot. */
void tu_write_file(const char *path, const void *data, size_t len);

/* Waits up to `ms` for a port file (a number and a new line, written
 * atomically by cbs-stub --port-file); returns the port, or 0. */
int tu_wait_port_file(const char *path, int ms);

/* A fixed buffer that collects what a libcurl callback receives
 * (CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION = tu_sink_write, the data
 * pointer a tu_sink). Past its size the callback fails, so the transfer
 * fails visibly instead of losing bytes. buf stays NUL-terminated. */
typedef struct {
  char buf[8192];
  size_t len;
} tu_sink;
size_t tu_sink_write(char *p, size_t size, size_t n, void *sink);

/* A TCP connection to 127.0.0.1:port (blocking); -1 when it fails. */
int tu_connect_loopback(int port);

/* For tests of worker code that logs: makes the directory from `dir` (a
 * mkdtemp template, changed in place), generates the test PKI into
 * DIR/pki (tu_make_pki) and sends stderr, appending, to DIR/log, whose
 * path goes to log[cap]. 0, or -1. tu_log_dir_remove() prints that log to
 * stdout (for the ctest output) and removes the directory; 0, or -1. */
int tu_log_dir_setup(char *dir, char *log, size_t cap);
int tu_log_dir_remove(const char *dir);

/* Generates the throw-away test PKI (tests/pki/make-pki) into DIR/pki, with
 * `passphrase` for the encrypted signing key; 0 on success. */
int tu_make_pki(const char *dir, const char *passphrase);

/* The shipped DDAS schemas (SCHEMA_DIR), loaded once per test program:
 * pass tu_setup_schemas/tu_teardown_schemas to cmocka_run_group_tests. */
extern ddas_schemaset *tu_set;
int tu_setup_schemas(void **state);
int tu_teardown_schemas(void **state);

/* Validates buf[0..len) against tu_set with the rules rs (NULL: schema
 * only) and the given kind and version (DDAS_KIND_UNKNOWN / NULL: detected);
 * with `kept`, every normalisation and keep_document, as the worker does
 * before batching. Returns what ddas_validate_buffer() returns (the caller
 * clears *res on DDAS_OK). */
ddas_result tu_validate(const char *buf, size_t len, const ddas_ruleset *rs,
                        ddas_kind kind, const char *version, int kept,
                        ddas_validate_result *res);

/* Batches a result of tu_validate(..., kept = 1) as the worker does (every
 * normalisation, envelope time "2025-01-16T08:00:00Z", max_records and
 * max_bytes as given, 0: the defaults) into out[0..cap) (the caller clears
 * each with ddas_batch_clear; batches beyond cap are dropped). Returns the
 * number, or SIZE_MAX when the batcher failed. */
size_t tu_batches(const ddas_validate_result *res, const char *delivery_id,
                  size_t max_records, size_t max_bytes, ddas_batch *out,
                  size_t cap);

#endif
