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
