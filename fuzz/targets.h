/* fuzz/targets.h: the bodies of the libFuzzer targets.
 *
 * Each fuzz_*.c is a thin LLVMFuzzerTestOneInput around one of these, and
 * tests/unit/test_fuzz_regressions.c includes targets.c to run every stored
 * regression input through exactly the same code in the plain build. An
 * invariant that does not hold calls fz_fail(), which prints what and aborts
 * (a crash for libFuzzer, a failed test for cmocka). */
#ifndef DDAS_FUZZ_TARGETS_H
#define DDAS_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/result.h"

/* Prints "<target>: invariant violated: <what>" and aborts. */
void fz_fail(const char *target, const char *what);

/* fuzz_json: ddas_json_parse, then equality, pointers, spans and depth
 * limits over the parsed tree. */
void fz_json(const uint8_t *data, size_t size);

/* fuzz_validate: ddas_validate_buffer with the shipped schemas (schema only,
 * detected and explicit kind/version; rules strict and spec with every
 * normalisation and keep_document), rejection groups, then the batcher over
 * the results: every batch must parse. fz_validate_init() loads the schema
 * set from `schema_dir` once; returns 0, or -1. */
int fz_validate_init(const char *schema_dir);
void fz_validate(const uint8_t *data, size_t size);
void fz_validate_cleanup(void);

/* fuzz_chunk: parse, then ddas_chunk_plan + ddas_chunk_write for several
 * maximum sizes and kinds: every chunk has the planned length and parses,
 * and the chunks hold every record exactly once. */
void fz_chunk(const uint8_t *data, size_t size);

/* fuzz_gegevens: the input as a POST /gegevens request body
 * (ddas_gegevens_request_parse for SHV and VS: a refusal is DDAS_ERR_ARG
 * with a well-formed problem whose problem+json body parses; an accepted
 * request is within its bounds) and as a stored batch body
 * (ddas_page_writer_add_batch for SHV and VS: whole, halves, twice, and
 * paged at 1 and 3 records a page: every finished page parses and holds
 * exactly the records asked for; a refusal has a reason). */
void fz_gegevens(const uint8_t *data, size_t size);

/* fuzz_verify: ddas_verify against the trust store of a test PKI that
 * fz_verify_init() generates with tests/pki/make-pki (found under
 * `source_dir`) into a temporary directory. The input is
 *   FLAGS DIGEST '\n' JWS-HEADER '\n' SIGNATURE '\n' BODY
 * FLAGS (one byte): bit 0 the Digest value is computed from BODY (DIGEST is
 * then ignored), bit 1 JWS-HEADER is the protected header as raw JSON (the
 * harness base64url-encodes it), bit 2 SIGNATURE is raw bytes (encoded
 * likewise), bits 3-5 the header arrangement (normal, duplicate Digest,
 * duplicate signature, no Digest, no signature, other name cases and extra
 * headers, surrounding white space, a header without a value), bits 6-7
 * the time of verification (inside the certificates' validity, before, after,
 * 0). Missing parts are empty. Returns ddas_verify's result.
 * fz_verify_seeds() writes correctly signed inputs (both profiles, raw and
 * encoded header) into `dir` (when not NULL) and returns how many inputs
 * it made; fz_verify_seed() returns seed i (owned by the harness) or NULL. */
int fz_verify_init(const char *source_dir);
ddas_result fz_verify(const uint8_t *data, size_t size);
size_t fz_verify_seeds(const char *dir);
const uint8_t *fz_verify_seed(size_t i, size_t *len);
void fz_verify_cleanup(void);

/* fuzz_http: ddas_http_parse_head on the input and on every prefix the
 * input's first byte selects: a complete head lies inside the input with
 * every span, header count, target length and Content-Length within the
 * limits; a refusal has one of the documented statuses and a reason; a
 * prefix of an accepted head is incomplete or refused, never accepted with
 * another length. */
void fz_http(const uint8_t *data, size_t size);

#endif
