/* Digest and nlgov-adr-payload-sig (ddas/sign.h): known digests, base64,
 * sign/verify round trips in both profiles, the exact signing inputs
 * (checked with the openssl command-line tool as an independent
 * implementation), every rejection the receiver must make, key loading, and
 * survival of every allocation failure.
 *
 * The PKI is generated at test time by tests/pki/make-pki into a temporary
 * directory; its certificates have fixed validity dates, so the tests verify
 * at fixed times (NOW) and never read the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ddas/alloc.h"
#include "ddas/sign.h"
#include "testutil.h"

#define NOW INT64_C(1798761600)          /* 2027-01-01T00:00:00Z */
#define IAT INT64_C(1798761000)          /* a little earlier */
#define EE_NOT_AFTER INT64_C(2051222400) /* 2035-01-01, see make-pki */
#define AFTER_EE INT64_C(2082758400)     /* 2036-01-01 */
#define BEFORE_EE INT64_C(1717200000)    /* 2024-06-01 */
#define PASSPHRASE "correct horse battery staple"

static char dir[] = "/tmp/ddas-sign-XXXXXX";
static ddas_signer *signer;    /* signing.key + signing-chain.pem */
static ddas_truststore *trust; /* root.pem */
static const char BODY[] = "{\"levering\":{\"teller\":1},\"trajecten\":[]}\n";

/* ---- helpers ----------------------------------------------------------- */

/* Path of `name` in the PKI directory (a ring of static buffers, so a few
 * may be used in one expression). */
static const char *P(const char *name) {
  static char ring[8][512];
  static unsigned next;
  char *b = ring[next++ % 8];
  snprintf(b, 512, "%s/%s", dir, name);
  return b;
}

/* Runs a shell command built from fmt; returns its exit status and stdout
 * (free()) in *out when out is not NULL. */
/* Strips trailing new lines of s in place. */
static char *chomp(char *s) {
  size_t n = strlen(s);
  while(n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
  return s;
}

static char *sign_ok(ddas_sig_profile p, const void *body, size_t len) {
  char *sig = NULL;
  assert_int_equal(ddas_sign(signer, p, body, len, IAT, &sig), DDAS_OK);
  assert_non_null(sig);
  return sig;
}

static void digest_of(const void *body, size_t len, char *out) {
  assert_int_equal(ddas_digest_header(body, len, out, DDAS_DIGEST_HEADER_SIZE),
                   0);
}

/* Verifies with the headers Digest: `digest` and the signature, plus an
 * unrelated header; err is filled. */
static ddas_result verify_with(const ddas_truststore *t, const char *digest,
                               const char *sig, const void *body, size_t len,
                               int64_t now, ddas_verified *info, char *err) {
  ddas_http_header h[3] = {{"Content-Type", "application/json"},
                           {"Digest", digest},
                           {"nlgov-adr-payload-sig", sig}};
  err[0] = '\0';
  return ddas_verify(t, h, 3, body, len, now, info, err, 256);
}

/* Asserts that verification fails with exactly `reason`. */
static void expect_reject(const char *digest, const char *sig, const void *body,
                          size_t len, int64_t now, const char *reason) {
  char err[256];
  ddas_result r = verify_with(trust, digest, sig, body, len, now, NULL, err);
  if(r != DDAS_ERR_ARG || strcmp(err, reason) != 0)
    printf("expected \"%s\", got %d \"%s\"\n", reason, r, err);
  assert_int_equal(r, DDAS_ERR_ARG);
  assert_string_equal(err, reason);
}

/* The decoded protected header of a signature header value (free()). */
static char *protected_json(const char *sig) {
  const char *dot = strchr(sig, '.');
  size_t n;
  char *out;
  long got;
  assert_non_null(dot);
  n = (size_t)(dot - sig);
  out = malloc(n + 1);
  got = ddas_b64url_decode(sig, n, (unsigned char *)out, n);
  assert_true(got > 0);
  out[got] = '\0';
  return out;
}

/* base64url(s) as a new string (free()). */
static char *b64url(const void *s, size_t n) {
  size_t cap = n / 3 * 4 + 5;
  char *out = malloc(cap);
  assert_true(ddas_b64url_encode(s, n, out, cap) > 0 || n == 0);
  return out;
}

/* The JWS signing input for a protected header JSON text (free()). */
static char *signing_input(const char *hdr_json, ddas_sig_profile p,
                           const void *body, size_t len, size_t *outlen) {
  char *h = b64url(hdr_json, strlen(hdr_json)), *rest, *in;
  char digest[DDAS_DIGEST_HEADER_SIZE];
  size_t n;
  if(p == DDAS_SIG_ADR) {
    digest_of(body, len, digest);
    rest = malloc(8 + sizeof(digest));
    snprintf(rest, 8 + sizeof(digest), "digest: %s", digest);
  } else
    rest = b64url(body, len);
  n = strlen(h) + 1 + strlen(rest);
  in = malloc(n + 1);
  snprintf(in, n + 1, "%s.%s", h, rest);
  free(h);
  free(rest);
  *outlen = n;
  return in;
}

/* A signature header value over `hdr_json` made in the test itself with the
 * key in `keyfile` (OpenSSL EVP, PS256), so that headers the core would
 * never write can be presented with a valid signature (free()). */
static char *forge(const char *keyfile, const char *hdr_json,
                   ddas_sig_profile p, const void *body, size_t len) {
  FILE *f = fopen(keyfile, "r");
  EVP_PKEY *key;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  unsigned char sig[1024];
  size_t siglen = sizeof(sig), inlen, n;
  char *in = signing_input(hdr_json, p, body, len, &inlen);
  char *h = b64url(hdr_json, strlen(hdr_json)), *s, *out;
  assert_non_null(f);
  key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(key);
  assert_int_equal(
      EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL), 1);
  assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
  assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0);
  assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0);
  assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)in, inlen),
                   1);
  s = b64url(sig, siglen);
  n = strlen(h) + 2 + strlen(s);
  out = malloc(n + 1);
  snprintf(out, n + 1, "%s..%s", h, s);
  free(s);
  free(h);
  free(in);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  return out;
}

/* s with the first occurrence of `from` replaced by `to` (free()). */
static char *replace(const char *s, const char *from, const char *to) {
  const char *at = strstr(s, from);
  size_t n;
  char *out;
  assert_non_null(at);
  n = strlen(s) - strlen(from) + strlen(to);
  out = malloc(n + 1);
  snprintf(out, n + 1, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
  return out;
}

/* ---- setup ------------------------------------------------------------- */

static int setup(void **state) {
  char err[256] = "";
  (void)state;
  if(!mkdtemp(dir))
    return -1;
  if(tu_runf(NULL,
             "DDAS_PKI_PASSPHRASE='" PASSPHRASE
             "' bash %s/tests/pki/make-pki %s",
             SOURCE_DIR, dir) != 0) {
    fprintf(stderr, "make-pki failed\n");
    return -1;
  }
  if(ddas_signer_load(P("signing.key"), NULL, P("signing-chain.pem"), NULL,
                      &signer, err, sizeof(err)) ||
     ddas_truststore_load(P("root.pem"), &trust, err, sizeof(err))) {
    fprintf(stderr, "setup: %s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ddas_signer_free(signer);
  ddas_truststore_free(trust);
  if(strchr(dir, 'X') == NULL)
    tu_runf(NULL, "rm -rf %s", dir);
  return 0;
}

/* ---- digest and base64 ------------------------------------------------- */

static void digest_known_values(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], small[DDAS_DIGEST_HEADER_SIZE - 1];
  char *cli = NULL;
  (void)state;
  /* FIPS 180-2 / well-known values */
  digest_of("", 0, d);
  assert_string_equal(d,
                      "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  digest_of("abc", 3, d);
  assert_string_equal(d,
                      "SHA-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  assert_int_equal(strlen(d), 52);
  /* the body, computed independently by the openssl command line */
  tu_write_file(P("body.json"), BODY, strlen(BODY));
  assert_int_equal(tu_runf(&cli, "openssl dgst -sha256 -binary %s | base64 -w0",
                           P("body.json")),
                   0);
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(strncmp(d, "SHA-256=", 8), 0);
  assert_string_equal(d + 8, chomp(cli));
  free(cli);
  /* the buffer must hold 52 characters and the NUL */
  assert_int_equal(ddas_digest_header("abc", 3, small, sizeof(small)), -1);
  assert_int_equal(ddas_digest_header(NULL, 1, d, sizeof(d)), -1);
}

static void base64_vectors(void **state) {
  /* RFC 4648 section 10 */
  static const char *plain[] = {"",     "f",     "fo",    "foo",
                                "foob", "fooba", "foobar"};
  static const char *std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                              "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *url[] = {"",       "Zg",      "Zm8",     "Zm9v",
                              "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  static const unsigned char bin[] = {0xfb, 0xff, 0xbf};
  char out[32];
  unsigned char dec[32];
  size_t i;
  (void)state;
  for(i = 0; i < 7; i++) {
    size_t n = strlen(plain[i]);
    assert_int_equal(ddas_b64_encode(plain[i], n, out, sizeof(out)),
                     strlen(std[i]));
    assert_string_equal(out, std[i]);
    assert_int_equal(ddas_b64url_encode(plain[i], n, out, sizeof(out)),
                     strlen(url[i]));
    assert_string_equal(out, url[i]);
    assert_int_equal(ddas_b64_decode(std[i], strlen(std[i]), dec, sizeof(dec)),
                     n);
    assert_memory_equal(dec, plain[i], n);
    assert_int_equal(
        ddas_b64url_decode(url[i], strlen(url[i]), dec, sizeof(dec)), n);
    assert_memory_equal(dec, plain[i], n);
  }
  /* the two alphabets differ in exactly 62 and 63 */
  ddas_b64_encode(bin, 3, out, sizeof(out));
  assert_string_equal(out, "+/+/");
  ddas_b64url_encode(bin, 3, out, sizeof(out));
  assert_string_equal(out, "-_-_");
  assert_int_equal(ddas_b64_decode("-_-_", 4, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64url_decode("+/+/", 4, dec, sizeof(dec)), -1);
  /* only the canonical spelling is accepted */
  assert_int_equal(ddas_b64_decode("Zh==", 4, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64url_decode("Zh", 2, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Zg", 2, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Zg=", 3, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Z===", 4, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("====", 4, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Zg==Zg==", 8, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64url_decode("Zg==", 4, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64url_decode("Zm9vY", 5, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Zm9v\n", 5, dec, sizeof(dec)), -1);
  assert_int_equal(ddas_b64_decode("Zm 9v", 5, dec, sizeof(dec)), -1);
  /* capacities */
  assert_int_equal(ddas_b64_encode("foo", 3, out, 4), 0);
  assert_int_equal(ddas_b64_encode("foo", 3, out, 5), 4);
  assert_int_equal(ddas_b64url_encode("fo", 2, out, 3), 0);
  assert_int_equal(ddas_b64url_encode("fo", 2, out, 4), 3);
  assert_int_equal(ddas_b64_decode("Zm9vYmFy", 8, dec, 5), -1);
  assert_int_equal(ddas_b64_decode("Zm9vYmFy", 8, dec, 6), 6);
}

static void profile_names(void **state) {
  ddas_sig_profile p = DDAS_SIG_BODY;
  (void)state;
  assert_string_equal(ddas_sig_profile_name(DDAS_SIG_ADR), "adr");
  assert_string_equal(ddas_sig_profile_name(DDAS_SIG_BODY), "body");
  assert_int_equal(ddas_sig_profile_parse("adr", &p), 0);
  assert_int_equal(p, DDAS_SIG_ADR);
  assert_int_equal(ddas_sig_profile_parse("body", &p), 0);
  assert_int_equal(p, DDAS_SIG_BODY);
  assert_int_equal(ddas_sig_profile_parse("ADR", &p), -1);
  assert_int_equal(ddas_sig_profile_parse("", &p), -1);
  assert_int_equal(ddas_sig_profile_parse(NULL, &p), -1);
}

/* ---- round trips and header contents ----------------------------------- */

static void round_trip_adr(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  ddas_verified info;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(
      verify_with(trust, d, sig, BODY, strlen(BODY), NOW, &info, err), DDAS_OK);
  assert_int_equal(info.profile, DDAS_SIG_ADR);
  assert_int_equal(info.iat, IAT);
  assert_string_equal(info.thumbprint, ddas_signer_thumbprint(signer));
  assert_string_equal(info.kid, ddas_signer_thumbprint(signer));
  /* detached payload: header..signature */
  assert_non_null(strstr(sig, ".."));
  assert_null(strchr(strstr(sig, "..") + 2, '.'));
  /* header names are case-insensitive, values may carry spaces */
  {
    char padded[DDAS_DIGEST_HEADER_SIZE + 4];
    ddas_http_header h[2] = {{"NLGOV-ADR-Payload-Sig", sig},
                             {"DIGEST", padded}};
    snprintf(padded, sizeof(padded), " %s\t", d);
    assert_int_equal(
        ddas_verify(trust, h, 2, BODY, strlen(BODY), NOW, NULL, NULL, 0),
        DDAS_OK);
  }
  free(sig);
}

static void round_trip_body(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  char *sig = sign_ok(DDAS_SIG_BODY, BODY, strlen(BODY));
  ddas_verified info;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(
      verify_with(trust, d, sig, BODY, strlen(BODY), NOW, &info, err), DDAS_OK);
  assert_int_equal(info.profile, DDAS_SIG_BODY);
  assert_int_equal(info.iat, 0);
  assert_string_equal(info.thumbprint, ddas_signer_thumbprint(signer));
  free(sig);
  /* an empty body signs and verifies too */
  sig = sign_ok(DDAS_SIG_BODY, NULL, 0);
  digest_of("", 0, d);
  assert_int_equal(verify_with(trust, d, sig, "", 0, NOW, &info, err), DDAS_OK);
  free(sig);
}

static void adr_header_members_in_order(void **state) {
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  char *json = protected_json(sig), *der = NULL, *thumb = NULL, *inter = NULL;
  char *expect;
  size_t n;
  json_t *root;
  (void)state;
  /* independent values from the openssl command line */
  assert_int_equal(tu_runf(&der,
                           "openssl x509 -in %s -outform DER | base64 -w0",
                           P("signing.pem")),
                   0);
  assert_int_equal(tu_runf(&inter,
                           "openssl x509 -in %s -outform DER | base64 -w0",
                           P("intermediate.pem")),
                   0);
  assert_int_equal(
      tu_runf(&thumb,
              "openssl x509 -in %s -outform DER | openssl dgst "
              "-sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d "
              "'='",
              P("signing.pem")),
      0);
  chomp(der);
  chomp(inter);
  chomp(thumb);
  assert_string_equal(thumb, ddas_signer_thumbprint(signer));
  n = strlen(json) + 1;
  expect = malloc(n + 1024);
  snprintf(expect, n + 1024,
           "{\"alg\":\"PS256\",\"typ\":\"JOSE\",\"kid\":\"%s\",\"x5c\":[\"%s\","
           "\"%s\"],\"x5t#S256\":\"%s\",\"iat\":1798761000,\"b64\":false,"
           "\"crit\":[\"b64\",\"sigD\"],\"sigD\":{\"mId\":\"http://"
           "uri.etsi.org/19182/HttpHeaders\",\"pars\":[\"digest\"]}}",
           thumb, der, inter, thumb);
  assert_string_equal(json, expect);
  /* and it is valid JSON */
  root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
  assert_non_null(root);
  assert_int_equal(json_integer_value(json_object_get(root, "iat")), IAT);
  json_decref(root);
  free(expect);
  free(der);
  free(inter);
  free(thumb);
  free(json);
  free(sig);
}

static void body_header_has_no_iat(void **state) {
  char *sig = sign_ok(DDAS_SIG_BODY, BODY, strlen(BODY));
  char *json = protected_json(sig);
  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
  const char *names[] = {"alg", "typ", "kid", "x5c", "x5t#S256"};
  void *it;
  size_t i = 0;
  (void)state;
  assert_non_null(root);
  /* exactly these members, in this order (jansson keeps insertion order) */
  for(it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
    assert_true(i < 5);
    assert_string_equal(json_object_iter_key(it), names[i++]);
  }
  assert_int_equal(i, 5);
  /* no "iat" member anywhere (the base64 of x5c may hold the letters) */
  assert_null(strstr(json, "\"iat\""));
  assert_non_null(
      strstr(json, "{\"alg\":\"PS256\",\"typ\":\"JOSE\",\"kid\":\""));
  assert_int_equal(json[strlen(json) - 1], '}');
  json_decref(root);
  free(json);
  free(sig);
}

static void configured_kid(void **state) {
  ddas_signer *s = NULL;
  char err[256], d[DDAS_DIGEST_HEADER_SIZE], *sig = NULL, *json;
  ddas_verified info;
  (void)state;
  assert_int_equal(
      ddas_signer_load(P("signing.key"), NULL, P("signing-chain.pem"),
                       "cbs/\"signing\"-2027", &s, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(ddas_sign(s, DDAS_SIG_ADR, BODY, strlen(BODY), IAT, &sig),
                   DDAS_OK);
  json = protected_json(sig);
  assert_non_null(strstr(json, "\"kid\":\"cbs/\\\"signing\\\"-2027\""));
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(
      verify_with(trust, d, sig, BODY, strlen(BODY), NOW, &info, err), DDAS_OK);
  assert_string_equal(info.kid, "cbs/\"signing\"-2027");
  assert_string_equal(info.thumbprint, ddas_signer_thumbprint(signer));
  free(json);
  free(sig);
  ddas_signer_free(s);
  /* kid must be printable ASCII of bounded length */
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL,
                                    P("signing-chain.pem"), "", &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL,
                                    P("signing-chain.pem"), "a\nb", &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_null(s);
}

/* ---- the signing input, checked with the openssl command line ---------- */

/* Writes the signing input and the raw signature of `sig` to files and
 * returns the standard output of `openssl dgst -verify` (free()). */
static char *cli_verify(const char *sig, const char *input, size_t inlen) {
  const char *dots = strstr(sig, "..");
  unsigned char raw[1024];
  long n;
  char *out = NULL;
  assert_non_null(dots);
  n = ddas_b64url_decode(dots + 2, strlen(dots + 2), raw, sizeof(raw));
  assert_int_equal(n, 384); /* RSA 3072 */
  tu_write_file(P("sig.bin"), raw, (size_t)n);
  tu_write_file(P("input.bin"), input, inlen);
  assert_int_equal(tu_runf(NULL, "openssl x509 -in %s -pubkey -noout > %s",
                           P("signing.pem"), P("pub.pem")),
                   0);
  tu_runf(&out,
          "openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt "
          "rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -verify %s -signature "
          "%s %s 2>/dev/null",
          P("pub.pem"), P("sig.bin"), P("input.bin"));
  return out;
}

static void openssl_cli_verifies_adr_input(void **state) {
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  char *hdr = strndup(sig, (size_t)(strstr(sig, "..") - sig));
  char d[DDAS_DIGEST_HEADER_SIZE], input[8192], *out;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  /* ASCII(BASE64URL(header)) "." the raw header line, lower-case name */
  snprintf(input, sizeof(input), "%s.digest: %s", hdr, d);
  out = cli_verify(sig, input, strlen(input));
  assert_string_equal(chomp(out), "Verified OK");
  free(out);
  /* not base64url of the line, not the capitalised name, not the body */
  snprintf(input, sizeof(input), "%s.Digest: %s", hdr, d);
  out = cli_verify(sig, input, strlen(input));
  assert_string_equal(chomp(out), "Verification failure");
  free(out);
  snprintf(input, sizeof(input), "%s.%s", hdr, d);
  out = cli_verify(sig, input, strlen(input));
  assert_string_equal(chomp(out), "Verification failure");
  free(out);
  free(hdr);
  free(sig);
}

static void openssl_cli_verifies_body_input(void **state) {
  /* longer than one encoding chunk of the core, length not a multiple of 3 */
  size_t len = 10001, i;
  unsigned char *body = malloc(len);
  char *sig, *hdr, *enc = NULL, *input, *out;
  (void)state;
  for(i = 0; i < len; i++)
    body[i] = (unsigned char)(i * 131 + (i >> 7));
  sig = sign_ok(DDAS_SIG_BODY, body, len);
  hdr = strndup(sig, (size_t)(strstr(sig, "..") - sig));
  tu_write_file(P("big.bin"), body, len);
  assert_int_equal(
      tu_runf(&enc, "base64 -w0 %s | tr '+/' '-_' | tr -d '='", P("big.bin")),
      0);
  chomp(enc);
  input = malloc(strlen(hdr) + strlen(enc) + 2);
  snprintf(input, strlen(hdr) + strlen(enc) + 2, "%s.%s", hdr, enc);
  out = cli_verify(sig, input, strlen(input));
  assert_string_equal(chomp(out), "Verified OK");
  free(out);
  /* the ADR reading of the same header does not verify */
  {
    char d[DDAS_DIGEST_HEADER_SIZE], in2[8192];
    digest_of(body, len, d);
    snprintf(in2, sizeof(in2), "%s.digest: %s", hdr, d);
    out = cli_verify(sig, in2, strlen(in2));
    assert_string_equal(chomp(out), "Verification failure");
    free(out);
  }
  free(input);
  free(enc);
  free(hdr);
  free(sig);
  free(body);
}

/* ---- rejections -------------------------------------------------------- */

static void changed_body_or_digest(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], d2[DDAS_DIGEST_HEADER_SIZE];
  char *changed = strdup(BODY);
  int p;
  (void)state;
  changed[14] ^= 1; /* one bit of one byte */
  digest_of(BODY, strlen(BODY), d);
  digest_of(changed, strlen(changed), d2);
  for(p = DDAS_SIG_ADR; p <= DDAS_SIG_BODY; p++) {
    char *sig = sign_ok((ddas_sig_profile)p, BODY, strlen(BODY));
    /* the body changed, the Digest did not */
    expect_reject(d, sig, changed, strlen(changed), NOW,
                  "Digest does not match the body");
    /* the Digest changed (to that of another body) */
    expect_reject(d2, sig, BODY, strlen(BODY), NOW,
                  "Digest does not match the body");
    /* both changed consistently: the signature no longer fits */
    expect_reject(d2, sig, changed, strlen(changed), NOW, "bad signature");
    /* a Digest that is not SHA-256 or has extra characters */
    expect_reject("MD5=Q2hlY2sgSW50ZWdyaXR5IQ==", sig, BODY, strlen(BODY), NOW,
                  "Digest is not SHA-256");
    {
      char longer[DDAS_DIGEST_HEADER_SIZE + 2];
      snprintf(longer, sizeof(longer), "%sA", d);
      expect_reject(longer, sig, BODY, strlen(BODY), NOW,
                    "Digest does not match the body");
    }
    free(sig);
  }
  free(changed);
}

static void wrong_key(void **state) {
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  char *json = protected_json(sig), *forged, d[DDAS_DIGEST_HEADER_SIZE];
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  /* control: the same header signed by the test with the right key passes */
  forged = forge(P("signing.key"), json, DDAS_SIG_ADR, BODY, strlen(BODY));
  {
    char err[256];
    assert_int_equal(
        verify_with(trust, d, forged, BODY, strlen(BODY), NOW, NULL, err),
        DDAS_OK);
  }
  free(forged);
  /* the same header, signed by another RSA 3072 key */
  forged = forge(P("other.key"), json, DDAS_SIG_ADR, BODY, strlen(BODY));
  expect_reject(d, forged, BODY, strlen(BODY), NOW, "bad signature");
  free(forged);
  /* and by a key of another size */
  forged = forge(P("transport.key"), json, DDAS_SIG_ADR, BODY, strlen(BODY));
  expect_reject(d, forged, BODY, strlen(BODY), NOW, "bad signature");
  free(forged);
  free(json);
  free(sig);
}

static void expired_and_not_yet_valid(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  ddas_signer *s = NULL;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  /* the valid signing certificate, at times outside its validity */
  expect_reject(d, sig, BODY, strlen(BODY), AFTER_EE, "certificate expired");
  expect_reject(d, sig, BODY, strlen(BODY), EE_NOT_AFTER + 1,
                "certificate expired");
  expect_reject(d, sig, BODY, strlen(BODY), BEFORE_EE,
                "certificate not yet valid");
  assert_int_equal(verify_with(trust, d, sig, BODY, strlen(BODY),
                               EE_NOT_AFTER - 1, NULL, err),
                   DDAS_OK);
  free(sig);
  /* the generated expired certificate (loading does not read the clock) */
  assert_int_equal(ddas_signer_load(P("expired.key"), NULL,
                                    P("expired-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_OK);
  assert_int_equal(ddas_signer_not_after(s), INT64_C(1609459200));
  assert_int_equal(ddas_sign(s, DDAS_SIG_ADR, BODY, strlen(BODY), IAT, &sig),
                   DDAS_OK);
  expect_reject(d, sig, BODY, strlen(BODY), NOW, "certificate expired");
  free(sig);
  ddas_signer_free(s);
  assert_int_equal(ddas_signer_not_after(signer), EE_NOT_AFTER);
}

static void unknown_root(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256], *sig = NULL;
  ddas_signer *s = NULL;
  ddas_truststore *rogue = NULL;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(ddas_signer_load(P("rogue.key"), NULL, P("rogue-chain.pem"),
                                    NULL, &s, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(ddas_sign(s, DDAS_SIG_BODY, BODY, strlen(BODY), IAT, &sig),
                   DDAS_OK);
  /* the rogue root has the same name as the trusted one */
  expect_reject(d, sig, BODY, strlen(BODY), NOW, "unknown root");
  /* control: trusting the rogue root makes the same request pass */
  assert_int_equal(
      ddas_truststore_load(P("rogue-root.pem"), &rogue, err, sizeof(err)),
      DDAS_OK);
  assert_int_equal(
      verify_with(rogue, d, sig, BODY, strlen(BODY), NOW, NULL, err), DDAS_OK);
  free(sig);
  /* and the real signer is unknown to the rogue store */
  sig = sign_ok(DDAS_SIG_BODY, BODY, strlen(BODY));
  assert_int_equal(
      verify_with(rogue, d, sig, BODY, strlen(BODY), NOW, NULL, err),
      DDAS_ERR_ARG);
  assert_string_equal(err, "unknown root");
  free(sig);
  ddas_truststore_free(rogue);
  ddas_signer_free(s);
}

static void duplicate_and_missing_headers(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  {
    ddas_http_header h[3] = {{"Digest", d},
                             {"nlgov-adr-payload-sig", sig},
                             {"NLGOV-ADR-PAYLOAD-SIG", sig}};
    assert_int_equal(ddas_verify(trust, h, 3, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
    assert_string_equal(err, "duplicate nlgov-adr-payload-sig header");
  }
  {
    ddas_http_header h[3] = {
        {"digest", d}, {"nlgov-adr-payload-sig", sig}, {"DiGeSt", d}};
    assert_int_equal(ddas_verify(trust, h, 3, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
    assert_string_equal(err, "duplicate Digest header");
  }
  {
    ddas_http_header h[2] = {{"Digest", d}, {"nlgov-adr-payload-sig-x", sig}};
    assert_int_equal(ddas_verify(trust, h, 2, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
    assert_string_equal(err, "missing nlgov-adr-payload-sig header");
  }
  {
    ddas_http_header h[1] = {{"nlgov-adr-payload-sig", sig}};
    assert_int_equal(ddas_verify(trust, h, 1, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
    assert_string_equal(err, "missing Digest header");
    assert_int_equal(ddas_verify(trust, NULL, 0, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
  }
  {
    ddas_http_header h[2] = {{"Digest", d}, {NULL, sig}};
    assert_int_equal(ddas_verify(trust, h, 2, BODY, strlen(BODY), NOW, NULL,
                                 err, sizeof(err)),
                     DDAS_ERR_ARG);
  }
  free(sig);
}

/* Headers the core never writes, signed correctly by the test: each must
 * still be refused for what is wrong with it. */
static void forged_headers_rejected(void **state) {
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  char *bsig = sign_ok(DDAS_SIG_BODY, BODY, strlen(BODY));
  char *adr = protected_json(sig), *body = protected_json(bsig);
  char d[DDAS_DIGEST_HEADER_SIZE], *tthumb = NULL;
  static const struct {
    const char *from, *to, *reason;
  } cases[] = {
      {"\"alg\":\"PS256\"", "\"alg\":\"RS256\"",
       "unsupported alg (expected PS256)"},
      {"\"alg\":\"PS256\"", "\"alg\":\"none\"",
       "unsupported alg (expected PS256)"},
      {"\"alg\":\"PS256\",", "", "missing alg"},
      {"\"alg\":\"PS256\"", "\"alg\":\"PS256\",\"alg\":\"PS256\"",
       "protected header is not valid JSON"},
      {"\"typ\":\"JOSE\"", "\"typ\":\"JWT\"",
       "unsupported typ (expected JOSE)"},
      {"\"b64\":false", "\"b64\":true", "b64 must be false"},
      {"\"b64\":false", "\"b64\":\"false\"", "b64 must be false"},
      {"\"b64\":false,", "", "b64 must be false"},
      {"[\"b64\",\"sigD\"]", "[\"b64\",\"sigD\",\"x\"]",
       "crit must list exactly b64 and sigD"},
      {"[\"b64\",\"sigD\"]", "[\"b64\"]",
       "crit must list exactly b64 and sigD"},
      {"[\"b64\",\"sigD\"]", "[\"b64\",\"b64\"]",
       "crit must list exactly b64 and sigD"},
      {"\"crit\":[\"b64\",\"sigD\"],", "",
       "crit must list exactly b64 and sigD"},
      {"[\"digest\"]", "[\"content-type\"]",
       "sigD must name the digest header (HttpHeaders)"},
      {"[\"digest\"]", "[\"digest\",\"date\"]",
       "sigD must name the digest header (HttpHeaders)"},
      {"19182/HttpHeaders", "19182/ObjectIdByURI",
       "sigD must name the digest header (HttpHeaders)"},
      {"\"iat\":1798761000,", "", "missing iat"},
      {"\"iat\":1798761000", "\"iat\":-5",
       "iat must be a non-negative integer"},
      {"\"iat\":1798761000", "\"iat\":\"1798761000\"",
       "iat must be a non-negative integer"},
      {"\"x5c\":[", "\"x5c\":[\"AAAA\",", "malformed x5c certificate"},
      {"\"x5c\":[\"", "\"x5c\":[\"!", "malformed x5c certificate"},
      {"\"kid\":\"", "\"kid\":7,\"k\":\"", "kid is not a string"},
  };
  size_t i;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *h = replace(adr, cases[i].from, cases[i].to);
    char *f = forge(P("signing.key"), h, DDAS_SIG_ADR, BODY, strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW, cases[i].reason);
    free(f);
    free(h);
  }
  /* x5t#S256 naming another certificate than x5c[0] */
  assert_int_equal(
      tu_runf(&tthumb,
              "openssl x509 -in %s -outform DER | openssl dgst "
              "-sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d "
              "'='",
              P("transport.pem")),
      0);
  chomp(tthumb);
  {
    char x5t[64], *h, *f;
    snprintf(x5t, sizeof(x5t), "\"x5t#S256\":\"%s\"",
             ddas_signer_thumbprint(signer));
    {
      char to[64];
      snprintf(to, sizeof(to), "\"x5t#S256\":\"%s\"", tthumb);
      h = replace(adr, x5t, to);
    }
    f = forge(P("signing.key"), h, DDAS_SIG_ADR, BODY, strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW,
                  "x5t#S256 does not match x5c[0]");
    free(f);
    free(h);
  }
  /* a BODY header that claims one ADR member */
  {
    char *h = replace(body, "}", ",\"b64\":false}");
    char *f = forge(P("signing.key"), h, DDAS_SIG_BODY, BODY, strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW,
                  "crit must list exactly b64 and sigD");
    free(f);
    free(h);
  }
  /* a header that is not an object */
  {
    char *f = forge(P("signing.key"), "[\"PS256\"]", DDAS_SIG_ADR, BODY,
                    strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW,
                  "protected header is not a JSON object");
    free(f);
  }
  /* the ADR header presented as BODY-signed (and the reverse) fails */
  {
    char *f = forge(P("signing.key"), adr, DDAS_SIG_BODY, BODY, strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW, "bad signature");
    free(f);
    f = forge(P("signing.key"), body, DDAS_SIG_ADR, BODY, strlen(BODY));
    expect_reject(d, f, BODY, strlen(BODY), NOW, "bad signature");
    free(f);
  }
  free(tthumb);
  free(adr);
  free(body);
  free(sig);
  free(bsig);
}

static void malformed_signature_headers(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256], *sig, *big;
  static const char *bad[] = {
      "",
      ".",
      "..",
      "...",
      "abc",
      "abc.def.ghi",
      "abc..",
      "..abc",
      "abc..def..ghi",
      "abc..d.f",
      "!!!!..AAAA",
      "bm90IGpzb24..AAAA",      /* "not json" */
      "e30..AAAA",              /* "{}" */
      "W10..AAAA",              /* "[]" */
      "eyJhbGciOiJQUzI1NiJ9..", /* no signature */
      "eyJhbGciOiJQUzI1NiJ9..AAAA",
      "eyJhbGciOiJQUzI1NiJ9=..AAAA",
  };
  size_t i, n;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(
        verify_with(trust, d, bad[i], BODY, strlen(BODY), NOW, NULL, err),
        DDAS_ERR_ARG);
    assert_true(strlen(err) > 0);
  }
  /* over the size bound */
  big = malloc(DDAS_SIG_MAX_HEADER + 16);
  memset(big, 'A', DDAS_SIG_MAX_HEADER + 10);
  memcpy(big + 100, "..", 2);
  big[DDAS_SIG_MAX_HEADER + 10] = '\0';
  expect_reject(d, big, BODY, strlen(BODY), NOW, "signature header too long");
  free(big);
  /* every truncation and many one-character changes of a valid header are
   * refused and never crash (the ASan build checks the memory) */
  sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  n = strlen(sig);
  for(i = 0; i < n; i += 13) {
    char *m = strdup(sig);
    m[i] = '\0';
    assert_int_equal(
        verify_with(trust, d, m, BODY, strlen(BODY), NOW, NULL, err),
        DDAS_ERR_ARG);
    free(m);
  }
  for(i = 0; i < n; i += 7) {
    char *m = strdup(sig);
    static const char subst[] = "A_-.=+/ \x01\xff";
    m[i] = subst[i % (sizeof(subst) - 1)];
    if(m[i] == sig[i])
      m[i] = m[i] == 'A' ? 'B' : 'A';
    assert_int_equal(
        verify_with(trust, d, m, BODY, strlen(BODY), NOW, NULL, err),
        DDAS_ERR_ARG);
    free(m);
  }
  free(sig);
}

/* ---- loading keys and certificates -------------------------------------- */

static void encrypted_key(void **state) {
  ddas_signer *s = NULL;
  char err[256], d[DDAS_DIGEST_HEADER_SIZE], *sig = NULL;
  (void)state;
  assert_int_equal(ddas_signer_load(P("signing-enc.key"), PASSPHRASE,
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_OK);
  assert_string_equal(ddas_signer_thumbprint(s),
                      ddas_signer_thumbprint(signer));
  assert_int_equal(ddas_sign(s, DDAS_SIG_ADR, BODY, strlen(BODY), IAT, &sig),
                   DDAS_OK);
  digest_of(BODY, strlen(BODY), d);
  assert_int_equal(
      verify_with(trust, d, sig, BODY, strlen(BODY), NOW, NULL, err), DDAS_OK);
  free(sig);
  ddas_signer_free(s);
  s = NULL;
  /* wrong passphrase: a clean refusal that does not echo the secret */
  assert_int_equal(ddas_signer_load(P("signing-enc.key"), "correct horse",
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_null(s);
  assert_string_equal(
      err, "cannot decrypt the signing key (wrong or missing passphrase)");
  assert_null(strstr(err, "horse"));
  /* no passphrase: the same, and nothing prompts on a terminal */
  assert_int_equal(ddas_signer_load(P("signing-enc.key"), NULL,
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_null(s);
  assert_string_equal(
      err, "cannot decrypt the signing key (wrong or missing passphrase)");
}

static void load_refusals(void **state) {
  ddas_signer *s = NULL;
  char err[256];
  (void)state;
  /* a key that does not belong to the certificate */
  assert_int_equal(ddas_signer_load(P("transport.key"), NULL,
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_null(s);
  assert_string_equal(
      err, "the signing key does not belong to the first certificate");
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL,
                                    P("transport-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(
      err, "the signing key does not belong to the first certificate");
  /* not RSA */
  assert_int_equal(ddas_signer_load(P("ec.key"), NULL, P("ec-chain.pem"), NULL,
                                    &s, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(err, "the signing key is not RSA");
  /* the chain must be end-entity first, each certified by the next */
  assert_int_equal(tu_runf(NULL, "cat %s %s > %s", P("signing.pem"),
                           P("root.pem"), P("gap-chain.pem")),
                   0);
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL, P("gap-chain.pem"),
                                    NULL, &s, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(
      err, "the certificate chain is not in issuing order (end-entity first)");
  /* a certificate alone is a chain too */
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL, P("signing.pem"),
                                    NULL, &s, err, sizeof(err)),
                   DDAS_OK);
  ddas_signer_free(s);
  s = NULL;
  /* files that are missing, empty, or not PEM */
  assert_int_equal(ddas_signer_load(P("missing.key"), NULL,
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(err, "cannot open the file of the signing key");
  tu_write_file(P("empty.pem"), "", 0);
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL, P("empty.pem"),
                                    NULL, &s, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(err, "no certificate in the certificate chain");
  assert_int_equal(ddas_signer_load(P("empty.pem"), NULL,
                                    P("signing-chain.pem"), NULL, &s, err,
                                    sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(err, "cannot parse the signing key");
  {
    static const char broken[] =
        "-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n";
    tu_write_file(P("broken.pem"), broken, strlen(broken));
  }
  assert_int_equal(ddas_signer_load(P("signing.key"), NULL, P("broken.pem"),
                                    NULL, &s, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_string_equal(err,
                      "cannot parse a certificate in the certificate chain");
  assert_int_equal(ddas_truststore_load(P("empty.pem"), NULL, err, sizeof(err)),
                   DDAS_ERR_ARG);
  {
    ddas_truststore *t = NULL;
    assert_int_equal(
        ddas_truststore_load(P("missing.pem"), &t, err, sizeof(err)),
        DDAS_ERR_ARG);
    assert_null(t);
  }
  assert_null(s);
}

static void cert_files_same(void **state) {
  char err[256];
  (void)state;
  assert_int_equal(ddas_cert_files_same(P("signing.pem"), P("signing.pem"), err,
                                        sizeof(err)),
                   1);
  /* the first certificate of a chain file counts */
  assert_int_equal(ddas_cert_files_same(P("signing.pem"),
                                        P("signing-chain.pem"), err,
                                        sizeof(err)),
                   1);
  assert_int_equal(ddas_cert_files_same(P("transport.pem"), P("signing.pem"),
                                        err, sizeof(err)),
                   0);
  assert_int_equal(ddas_cert_files_same(P("transport-chain.pem"),
                                        P("signing-chain.pem"), err,
                                        sizeof(err)),
                   0);
  /* another certificate for the same key is not a separate signing key */
  assert_int_equal(ddas_cert_files_same(P("samekey.pem"), P("signing.pem"), err,
                                        sizeof(err)),
                   1);
  assert_int_equal(ddas_cert_files_same(P("missing.pem"), P("signing.pem"), err,
                                        sizeof(err)),
                   -1);
  assert_true(strlen(err) > 0);
}

static void bad_arguments(void **state) {
  char init[] = "untouched", *sig = init;
  char err[256];
  (void)state;
  assert_int_equal(ddas_sign(NULL, DDAS_SIG_ADR, BODY, 1, IAT, &sig),
                   DDAS_ERR_ARG);
  assert_null(sig);
  assert_int_equal(ddas_sign(signer, DDAS_SIG_ADR, NULL, 1, IAT, &sig),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_sign(signer, DDAS_SIG_ADR, BODY, 1, -1, &sig),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_sign(signer, (ddas_sig_profile)7, BODY, 1, IAT, &sig),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_sign(signer, DDAS_SIG_ADR, BODY, 1, IAT, NULL),
                   DDAS_ERR_ARG);
  assert_int_equal(
      ddas_verify(NULL, NULL, 0, BODY, 1, NOW, NULL, err, sizeof(err)),
      DDAS_ERR_ARG);
  assert_int_equal(
      ddas_verify(trust, NULL, 0, BODY, 1, -1, NULL, err, sizeof(err)),
      DDAS_ERR_ARG);
  ddas_signer_free(NULL);
  ddas_truststore_free(NULL);
}

/* ---- allocation failures ----------------------------------------------- */

static void sign_survives_allocation_failures(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  int p;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  for(p = DDAS_SIG_ADR; p <= DDAS_SIG_BODY; p++) {
    unsigned long n, failures = 0;
    for(n = 1;; n++) {
      char *sig = NULL;
      ddas_result r;
      unsigned long used;
      ddas_alloc_fail_at(n);
      r = ddas_sign(signer, (ddas_sig_profile)p, BODY, strlen(BODY), IAT, &sig);
      used = ddas_alloc_count();
      ddas_alloc_fail_at(0);
      if(r == DDAS_OK) {
        assert_non_null(sig);
        assert_int_equal(
            verify_with(trust, d, sig, BODY, strlen(BODY), NOW, NULL, err),
            DDAS_OK);
        free(sig);
      } else {
        assert_int_equal(r, DDAS_ERR_NOMEM);
        assert_null(sig);
        failures++;
      }
      if(used < n) {
        assert_int_equal(r, DDAS_OK);
        break;
      }
    }
    assert_true(failures >= 3); /* every allocation site was exercised */
  }
}

static void load_and_verify_survive_allocation_failures(void **state) {
  char d[DDAS_DIGEST_HEADER_SIZE], err[256];
  char *sig = sign_ok(DDAS_SIG_ADR, BODY, strlen(BODY));
  unsigned long n;
  (void)state;
  digest_of(BODY, strlen(BODY), d);
  for(n = 1;; n++) {
    ddas_signer *s = NULL;
    ddas_result r;
    unsigned long used;
    ddas_alloc_fail_at(n);
    r = ddas_signer_load(P("signing-enc.key"), PASSPHRASE,
                         P("signing-chain.pem"), "kid-1", &s, err, sizeof(err));
    used = ddas_alloc_count();
    ddas_alloc_fail_at(0);
    assert_true(r == DDAS_OK || r == DDAS_ERR_NOMEM);
    assert_true((r == DDAS_OK) == (s != NULL));
    ddas_signer_free(s);
    if(used < n) {
      assert_int_equal(r, DDAS_OK);
      break;
    }
  }
  for(n = 1;; n++) {
    ddas_truststore *t = NULL;
    ddas_result r;
    unsigned long used;
    ddas_alloc_fail_at(n);
    r = ddas_truststore_load(P("root.pem"), &t, err, sizeof(err));
    used = ddas_alloc_count();
    ddas_alloc_fail_at(0);
    assert_true(r == DDAS_OK || r == DDAS_ERR_NOMEM);
    ddas_truststore_free(t);
    if(used < n) {
      assert_int_equal(r, DDAS_OK);
      break;
    }
  }
  for(n = 1;; n++) {
    ddas_result r;
    unsigned long used;
    ddas_alloc_fail_at(n);
    r = verify_with(trust, d, sig, BODY, strlen(BODY), NOW, NULL, err);
    used = ddas_alloc_count();
    ddas_alloc_fail_at(0);
    assert_true(r == DDAS_OK || r == DDAS_ERR_NOMEM);
    if(used < n) {
      assert_int_equal(r, DDAS_OK);
      break;
    }
  }
  free(sig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(digest_known_values),
      cmocka_unit_test(base64_vectors),
      cmocka_unit_test(profile_names),
      cmocka_unit_test(round_trip_adr),
      cmocka_unit_test(round_trip_body),
      cmocka_unit_test(adr_header_members_in_order),
      cmocka_unit_test(body_header_has_no_iat),
      cmocka_unit_test(configured_kid),
      cmocka_unit_test(openssl_cli_verifies_adr_input),
      cmocka_unit_test(openssl_cli_verifies_body_input),
      cmocka_unit_test(changed_body_or_digest),
      cmocka_unit_test(wrong_key),
      cmocka_unit_test(expired_and_not_yet_valid),
      cmocka_unit_test(unknown_root),
      cmocka_unit_test(duplicate_and_missing_headers),
      cmocka_unit_test(forged_headers_rejected),
      cmocka_unit_test(malformed_signature_headers),
      cmocka_unit_test(encrypted_key),
      cmocka_unit_test(load_refusals),
      cmocka_unit_test(cert_files_same),
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test(sign_survives_allocation_failures),
      cmocka_unit_test(load_and_verify_survive_allocation_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
