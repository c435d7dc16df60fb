/* ddas/sign.h: integrity of a batch: the Digest header and the
 * nlgov-adr-payload-sig JWS (../shared/spec/EXCHANGE.md), and the matching
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

#include "ddas/result.h"

typedef enum { DDAS_SIG_ADR = 0, DDAS_SIG_BODY = 1 } ddas_sig_profile;

/* "adr" / "body"; ddas_sig_profile_parse returns -1 for anything else. */
const char *ddas_sig_profile_name(ddas_sig_profile p);
int ddas_sig_profile_parse(const char *s, ddas_sig_profile *out);

/* Writes "SHA-256=<standard base64 of SHA-256(body)>" (51 characters plus
 * NUL) into out[cap]; returns 0, or -1 when cap < 52. */
int ddas_digest_header(const void *body, size_t len, char *out, size_t cap);

/* A signing key with its certificate chain. */
typedef struct ddas_signer ddas_signer;

/* Loads the signing key (PEM, optionally encrypted with `passphrase`, which
 * may be NULL) and the certificate chain (PEM file with the end-entity
 * certificate first, then intermediates). `kid` NULL means: the x5t#S256.
 * Fails with DDAS_ERR_ARG and a message in err when the key does not belong
 * to the certificate, a file cannot be read or parsed, or the key is not
 * RSA. The message never contains the passphrase or key material. */
ddas_result ddas_signer_load(const char *key_pem_path, const char *passphrase,
                             const char *chain_pem_path, const char *kid,
                             ddas_signer **out, char *err, size_t errlen);
void ddas_signer_free(ddas_signer *s);
/* base64url SHA-256 of the end-entity DER (the x5t#S256 and default kid). */
const char *ddas_signer_thumbprint(const ddas_signer *s);
/* The end-entity certificate's notAfter as Unix seconds (for expiry
 * warnings). */
int64_t ddas_signer_not_after(const ddas_signer *s);
/* 1 when both signers hold the same end-entity certificate (used to refuse
 * using one certificate for signing and transport). */
int ddas_cert_files_same(const char *pem_a, const char *pem_b, char *err,
                         size_t errlen);

/* Signs `body`. `iat` is the issued-at time in Unix seconds (ADR profile;
 * ignored for BODY), given by the caller so that the core never reads the
 * clock. *sig_out is a NUL-terminated header value owned by the caller
 * (free with ddas_free). */
ddas_result ddas_sign(const ddas_signer *s, ddas_sig_profile profile,
                      const void *body, size_t len, int64_t iat,
                      char **sig_out);

/* One HTTP header as received. */
typedef struct {
  const char *name; /* case-insensitive */
  const char *value;
} ddas_http_header;

/* A set of trusted root certificates (PEM bundle). */
typedef struct ddas_truststore ddas_truststore;
ddas_result ddas_truststore_load(const char *ca_pem_path,
                                 ddas_truststore **out, char *err,
                                 size_t errlen);
void ddas_truststore_free(ddas_truststore *t);

typedef struct {
  ddas_sig_profile profile; /* which profile the header claims */
  char thumbprint[64];      /* x5t#S256 of the signer */
  char kid[128];
  int64_t iat;              /* ADR profile: the header's iat; else 0 */
} ddas_verified;

/* Verifies a received request: exactly one Digest and exactly one
 * nlgov-adr-payload-sig header among `headers` (a duplicate of either is
 * an error); the Digest equals SHA-256 of `body`; the JWS header parses,
 * alg is PS256, and for the ADR profile b64 is false, crit is exactly
 * ["b64","sigD"] and sigD names the digest header; x5t#S256 matches x5c[0];
 * the x5c chain validates to `trust` at time `now` (Unix seconds: the
 * validity period of every certificate is checked at that time); the
 * signature verifies over the rebuilt signing input. Returns DDAS_OK and
 * fills *info (may be NULL), or DDAS_ERR_ARG with a reason in err (for
 * example "Digest does not match the body", "certificate expired",
 * "unknown root", "duplicate nlgov-adr-payload-sig header"). */
ddas_result ddas_verify(const ddas_truststore *trust,
                        const ddas_http_header *headers, size_t nheaders,
                        const void *body, size_t len, int64_t now,
                        ddas_verified *info, char *err, size_t errlen);

/* base64 helpers (standard with padding; url without padding). Return the
 * number of characters written (excluding NUL), or 0 when cap is too small.
 * Decoders return the decoded length or -1 on malformed input. */
size_t ddas_b64_encode(const void *in, size_t len, char *out, size_t cap);
size_t ddas_b64url_encode(const void *in, size_t len, char *out, size_t cap);
long ddas_b64_decode(const char *in, size_t len, unsigned char *out,
                     size_t cap);
long ddas_b64url_decode(const char *in, size_t len, unsigned char *out,
                        size_t cap);

#endif
