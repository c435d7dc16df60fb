/* ddas/sign.h: integrity of a batch: the Digest header and the
 * nlgov-adr-payload-sig JWS (docs/spec/EXCHANGE.md), and the matching
 * verification used by the CBS stub and the tests.
 *
 * Bytes in, bytes out: nothing here does I/O except loading PEM files in
 * ddas_signer_load(). Algorithm: PS256 (RSASSA-PSS, SHA-256, MGF1-SHA-256,
 * salt length 32). Two profiles:
 *  - DDAS_SIG_ADR (default): protected header {"alg":"PS256","typ":"JOSE",
 *    "kid":…,"x5c":[…],"x5t#S256":…,"iat":<unix seconds>,"b64":false,
 *    "crit":["b64","sigD"],"sigD":{"mId":"http://uri.etsi.org/19182/HttpHeaders",
 *    "pars":["digest"]}}; signing input ASCII(BASE64URL(header)) || "." ||
 *    "digest: SHA-256=<base64>".
 *  - DDAS_SIG_BODY: protected header {"alg":"PS256","typ":"JOSE","kid":…,
 *    "x5c":[…],"x5t#S256":…}; signing input BASE64URL(header) || "." ||
 *    BASE64URL(body).
 * The header value is the compact serialisation with a detached payload:
 * BASE64URL(header) || ".." || BASE64URL(signature). */
#ifndef DDAS_SIGN_H
#define DDAS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/http.h" /* ddas_http_header */
#include "ddas/result.h"

typedef enum { DDAS_SIG_ADR = 0, DDAS_SIG_BODY = 1 } ddas_sig_profile;

/* "adr" / "body" (exact, lower case); ddas_sig_profile_parse returns 0 and
 * sets *out, or -1 for anything else. ddas_sig_profile_name returns
 * "unknown" for a value outside the enum. */
const char *ddas_sig_profile_name(ddas_sig_profile p);
int ddas_sig_profile_parse(const char *s, ddas_sig_profile *out);

/* Size of the buffer for ddas_digest_header(): "SHA-256=" and 44 base64
 * characters (52) plus the NUL. */
#define DDAS_DIGEST_HEADER_SIZE 53

/* Limits of what ddas_signer_load() accepts and ddas_verify() parses. */
#define DDAS_SIG_MAX_CHAIN 10        /* certificates in x5c */
#define DDAS_SIG_MAX_HEADER 65536    /* bytes of the signature header value */
#define DDAS_SIG_MAX_KID 127         /* bytes of kid */
#define DDAS_SIG_MAX_FILE (1L << 20) /* bytes of a PEM file */

/* Writes "SHA-256=<standard base64 of SHA-256(body)>" (52 characters plus
 * NUL) into out[cap]; `body` may be NULL when len is 0. Returns 0, or -1
 * when cap < DDAS_DIGEST_HEADER_SIZE or hashing fails. */
int ddas_digest_header(const void *body, size_t len, char *out, size_t cap);

/* A signing key with its certificate chain. */
typedef struct ddas_signer ddas_signer;

/* Loads the signing key (PEM, optionally encrypted with `passphrase`, which
 * may be NULL; without one an encrypted key fails, nothing prompts) and the
 * certificate chain (PEM file with the end-entity certificate first, then
 * intermediates, at most DDAS_SIG_MAX_CHAIN). `kid` NULL means: the
 * x5t#S256; otherwise it must be printable ASCII of 1..DDAS_SIG_MAX_KID
 * bytes. The certificates' validity periods are not checked here (the core
 * does not read the clock; see ddas_signer_not_after()).
 * On success *out is a new signer owned by the caller (ddas_signer_free);
 * on failure *out is NULL and err (may be NULL) holds a short reason:
 * DDAS_ERR_NOMEM when memory runs out; DDAS_ERR_ARG when a file cannot be
 * read or parsed or exceeds DDAS_SIG_MAX_FILE, the key cannot be decrypted,
 * the key does not belong to the first certificate, the key is not RSA of
 * 2048 to 8192 bits, the chain is not in issuing order, the end-entity
 * certificate's key usage excludes signatures, or kid is unacceptable. The
 * message never contains the passphrase or key material. Key file contents
 * are wiped from memory before they are freed. */
ddas_result ddas_signer_load(const char *key_pem_path, const char *passphrase,
                             const char *chain_pem_path, const char *kid,
                             ddas_signer **out, char *err, size_t errlen);
/* Frees s; NULL is accepted. */
void ddas_signer_free(ddas_signer *s);
/* base64url SHA-256 of the end-entity DER (the x5t#S256 and default kid);
 * 43 characters, owned by s. */
const char *ddas_signer_thumbprint(const ddas_signer *s);
/* The end-entity certificate's notAfter as Unix seconds (for expiry
 * warnings). */
int64_t ddas_signer_not_after(const ddas_signer *s);
/* Compares the first certificate of two PEM files (used to refuse using one
 * certificate for signing and transport): 1 when they are the same
 * certificate or certify the same public key (a key shared by two
 * certificates defeats the separation as well), 0 when they differ, -1 with
 * a reason in err (may be NULL) when a file cannot be read or holds no
 * certificate. */
int ddas_cert_files_same(const char *pem_a, const char *pem_b, char *err,
                         size_t errlen);

/* Signs `body` (may be NULL when len is 0). `iat` is the issued-at time in
 * Unix seconds (ADR profile, must be >= 0; ignored for BODY), given by the
 * caller so that the core never reads the clock. On DDAS_OK *sig_out is a
 * NUL-terminated header value owned by the caller (free with ddas_free);
 * otherwise *sig_out is NULL. DDAS_ERR_ARG for invalid arguments;
 * DDAS_ERR_NOMEM when memory runs out, and also when OpenSSL fails to sign
 * with the (already validated) key, which only resource exhaustion explains:
 * the batch must be retried, not parked. The body is streamed into the hash;
 * it is not copied. */
ddas_result ddas_sign(const ddas_signer *s, ddas_sig_profile profile,
                      const void *body, size_t len, int64_t iat,
                      char **sig_out);

/* A set of trusted root certificates (PEM bundle). Read-only after loading,
 * so one store may serve concurrent ddas_verify() calls. */
typedef struct ddas_truststore ddas_truststore;
/* Loads every certificate of the PEM bundle (at least one; at most
 * DDAS_SIG_MAX_FILE bytes). On success *out is owned by the caller
 * (ddas_truststore_free); on failure *out is NULL and err holds a reason:
 * DDAS_ERR_NOMEM, or DDAS_ERR_ARG when the file cannot be read or parsed. */
ddas_result ddas_truststore_load(const char *ca_pem_path, ddas_truststore **out,
                                 char *err, size_t errlen);
/* Frees t; NULL is accepted. */
void ddas_truststore_free(ddas_truststore *t);

typedef struct {
  ddas_sig_profile profile; /* which profile the header claims */
  char thumbprint[64];      /* x5t#S256 of the signer */
  char kid[128];
  int64_t iat; /* ADR profile: the header's iat; else 0 */
} ddas_verified;

/* Verifies a received request: exactly one Digest and exactly one
 * nlgov-adr-payload-sig header among `headers` (names compared without
 * regard to ASCII case; a duplicate of either is an error; surrounding
 * spaces and tabs of values are ignored); the Digest is "SHA-256=" (the
 * algorithm name in any case) followed by the base64 of SHA-256 of `body`;
 * the signature header is BASE64URL(header) ".." BASE64URL(signature), at
 * most DDAS_SIG_MAX_HEADER bytes; the JWS header is a JSON object without
 * duplicate members, alg is PS256, typ (if present) is JOSE, and x5c (1..
 * DDAS_SIG_MAX_CHAIN standard-base64 DER certificates) and x5t#S256 are
 * present. The header claims the ADR profile when it has any of b64, crit,
 * sigD; then all of them are required: b64 is false, crit is exactly "b64"
 * and "sigD", sigD is {"mId":"http://uri.etsi.org/19182/HttpHeaders",
 * "pars":["digest"]}, and iat is a non-negative integer. Otherwise it is the
 * BODY profile. x5t#S256 matches x5c[0]; the end-entity key is RSA of at
 * least 2048 bits and its key usage (if stated) allows signatures; the x5c
 * chain validates to `trust` at time `now` (Unix seconds, >= 0: the
 * validity period of every certificate is checked at that time); the PS256
 * signature verifies over the rebuilt signing input (ADR: the received
 * Digest value in the line "digest: <value>").
 * Returns DDAS_OK and fills *info (may be NULL), or DDAS_ERR_ARG with a
 * reason in err (may be NULL; for example "Digest does not match the body",
 * "certificate expired", "unknown root", "duplicate nlgov-adr-payload-sig
 * header", "bad signature"), or DDAS_ERR_NOMEM. The reason never quotes the
 * input. The caller decides whether the claimed info->profile is the one
 * it accepts. */
ddas_result ddas_verify(const ddas_truststore *trust,
                        const ddas_http_header *headers, size_t nheaders,
                        const void *body, size_t len, int64_t now,
                        ddas_verified *info, char *err, size_t errlen);

/* base64 helpers (RFC 4648: standard with padding; url without padding).
 * Encoders write a NUL-terminated string and return the number of
 * characters written (excluding NUL), or 0 when cap is too small (an empty
 * input also gives 0, with out[0] = NUL when cap >= 1). Standard needs
 * cap >= 4 * ceil(len / 3) + 1; url needs cap >= ceil(4 * len / 3) + 1.
 * Decoders accept only the canonical encoding (no white space, padding only
 * in standard base64 and only where required, zero unused bits) and return
 * the decoded length, or -1 on malformed input or when cap is too small
 * (3 * ceil(len / 4) always suffices). */
size_t ddas_b64_encode(const void *in, size_t len, char *out, size_t cap);
size_t ddas_b64url_encode(const void *in, size_t len, char *out, size_t cap);
long ddas_b64_decode(const char *in, size_t len, unsigned char *out,
                     size_t cap);
long ddas_b64url_decode(const char *in, size_t len, unsigned char *out,
                        size_t cap);

#endif
