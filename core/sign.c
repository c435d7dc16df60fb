/* The Digest header and the nlgov-adr-payload-sig JWS (see ddas/sign.h and
 * docs/spec/EXCHANGE.md).
 *
 * Design:
 *  - OpenSSL 3 EVP interfaces only; PS256 is RSASSA-PSS with SHA-256,
 *    MGF1-SHA-256 and a 32-byte salt, set explicitly on both sides.
 *  - The signer builds the protected header itself, members in the order of
 *    the specification: the invariant part (alg, typ, kid, x5c, x5t#S256) is
 *    built once at load time, so signing only appends the profile's tail.
 *  - The signing input is streamed into the hash (the body is base64url
 *    encoded in chunks for the BODY profile), so a large batch is never
 *    copied.
 *  - The verifier treats the whole request as hostile: sizes are bounded
 *    before anything is decoded, the header is parsed by jansson with
 *    duplicate members rejected, every member's type is checked, and the
 *    chain is validated at the caller's time.
 *  - OpenSSL's error queue is left as it was found (ERR_set_mark /
 *    ERR_pop_to_mark): the reasons go to the caller's err buffer instead. */
#include "ddas/sign.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ddas/alloc.h"

#define HDR_DIGEST "digest"
#define HDR_SIG "nlgov-adr-payload-sig"
#define SIGD_MID "http://uri.etsi.org/19182/HttpHeaders"
#define PSS_SALT_LEN 32
#define MIN_RSA_BITS 2048
#define SHA256_LEN 32
#define THUMB_LEN 43        /* base64url of 32 bytes */
#define DIGEST_VALUE_LEN 52 /* "SHA-256=" + 44 */
#define MAX_SIG_BYTES 1024  /* RSA keys up to 8192 bits */
#define MAX_CERT_B64 16384  /* characters of one x5c entry */
#define BODY_CHUNK 3072     /* multiple of 3: chunks encode independently */
#define MAX_DIGEST_HEADER 1024

struct ddas_signer {
  EVP_PKEY *key;
  char *prefix; /* {"alg":…,"x5t#S256":"…" without the closing brace */
  size_t prefix_len;
  char thumb[THUMB_LEN + 1];
  int64_t not_after;
};

struct ddas_truststore {
  X509_STORE *store;
};

/* ---- small helpers ----------------------------------------------------- */

/* Copies the static reason `a` followed by `b` (may be NULL) into err[len]
 * when err is not NULL. */
static void set_err2(char *err, size_t len, const char *a, const char *b) {
  if(err && len)
    snprintf(err, len, "%s%s", a, b ? b : "");
}

static void set_err(char *err, size_t len, const char *a) {
  set_err2(err, len, a, NULL);
}

/* ASCII lower case of c, independent of the locale. */
static unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* 1 when a[0..n) equals the NUL-terminated b[0..n) ignoring ASCII case. */
static int eq_nocase_n(const char *a, const char *b, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    if(!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return 0;
  return 1;
}

/* 1 when the NUL-terminated a and b are equal ignoring ASCII case. */
static int eq_nocase(const char *a, const char *b) {
  size_t n = strlen(b);
  return eq_nocase_n(a, b, n) && a[n] == '\0';
}

/* Length of the base64url encoding of n bytes (no padding). */
static size_t b64url_len(size_t n) {
  return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes the base64url SHA-256 of der[0..len) (THUMB_LEN characters and a
 * NUL) into out; returns 0, or -1 when hashing fails. */
static int thumbprint(const unsigned char *der, size_t len,
                      char out[THUMB_LEN + 1]) {
  unsigned char md[SHA256_LEN];
  unsigned int mdlen = 0;
  if(EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
     mdlen != SHA256_LEN)
    return -1;
  return ddas_b64url_encode(md, sizeof(md), out, THUMB_LEN + 1) == THUMB_LEN
             ? 0
             : -1;
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Unix seconds of an ASN.1 time, or 0 when it cannot be converted. */
static int64_t asn1_to_unix(const ASN1_TIME *t) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday) *
             86400 +
         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* Reads the whole file `path` (at most DDAS_SIG_MAX_FILE bytes) into a new
 * NUL-terminated buffer *out (owned by the caller, ddas_free) of *len
 * bytes. `what` names the file in the reason ("signing key"). */
static ddas_result read_file(const char *path, const char *what, char **out,
                             size_t *len, char *err, size_t errlen) {
  FILE *f = NULL;
  char *buf = NULL;
  size_t n = 0;
  ddas_result r = DDAS_ERR_ARG;
  *out = NULL;
  *len = 0;
  f = fopen(path, "rb");
  if(!f) {
    set_err2(err, errlen, "cannot open the file of the ", what);
    goto out;
  }
  buf = ddas_malloc((size_t)DDAS_SIG_MAX_FILE + 1);
  if(!buf) {
    r = DDAS_ERR_NOMEM;
    set_err(err, errlen, "out of memory");
    goto out;
  }
  n = fread(buf, 1, (size_t)DDAS_SIG_MAX_FILE + 1, f);
  if(ferror(f)) {
    set_err2(err, errlen, "cannot read the file of the ", what);
    goto out;
  }
  if(n > (size_t)DDAS_SIG_MAX_FILE) {
    set_err2(err, errlen, "file too large: ", what);
    goto out;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  buf = NULL;
  r = DDAS_OK;
out:
  if(buf) {
    OPENSSL_cleanse(buf, (size_t)DDAS_SIG_MAX_FILE + 1);
    ddas_free(buf);
  }
  if(f)
    fclose(f);
  return r;
}

/* Wipes and frees a buffer from read_file() (key files hold secrets). */
static void free_file(char *buf, size_t len) {
  if(buf) {
    OPENSSL_cleanse(buf, len);
    ddas_free(buf);
  }
}

typedef struct {
  const char *pass; /* NULL: no passphrase */
} pass_ctx;

/* pem_password_cb: hands out the configured passphrase; without one it
 * fails, so OpenSSL never prompts on a terminal. */
static int pass_cb(char *buf, int size, int rwflag, void *u) {
  const pass_ctx *pc = u;
  size_t n;
  (void)rwflag;
  if(!pc || !pc->pass || size <= 0)
    return -1;
  n = strlen(pc->pass);
  if(n > (size_t)size)
    return -1;
  memcpy(buf, pc->pass, n);
  return (int)n;
}

/* 1 when the NUL-terminated text contains `needle`. */
static int contains(const char *text, const char *needle) {
  return strstr(text, needle) != NULL;
}

/* Reads every certificate of the PEM text pem[0..len) into a new stack *out
 * (owned by the caller, sk_X509_pop_free), at least one and at most `max`. */
static ddas_result parse_certs(const char *pem, size_t len, int max,
                               const char *what, STACK_OF(X509) * *out,
                               char *err, size_t errlen) {
  BIO *bio = NULL;
  STACK_OF(X509) *sk = NULL;
  X509 *x = NULL;
  pass_ctx pc = {NULL};
  ddas_result r = DDAS_ERR_ARG;
  *out = NULL;
  if(len > (size_t)DDAS_SIG_MAX_FILE) {
    set_err2(err, errlen, "file too large: ", what);
    goto out;
  }
  bio = BIO_new_mem_buf(pem, (int)len);
  sk = sk_X509_new_null();
  if(!bio || !sk) {
    r = DDAS_ERR_NOMEM;
    set_err(err, errlen, "out of memory");
    goto out;
  }
  for(;;) {
    unsigned long e;
    x = PEM_read_bio_X509(bio, NULL, pass_cb, &pc);
    if(x) {
      if(sk_X509_num(sk) >= max) {
        set_err2(err, errlen, "too many certificates in the ", what);
        goto out;
      }
      if(!sk_X509_push(sk, x)) {
        r = DDAS_ERR_NOMEM;
        set_err(err, errlen, "out of memory");
        goto out;
      }
      x = NULL;
      continue;
    }
    e = ERR_peek_last_error();
    if(ERR_GET_LIB(e) == ERR_LIB_PEM &&
       ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
      break; /* no further PEM block */
    set_err2(err, errlen, "cannot parse a certificate in the ", what);
    goto out;
  }
  if(sk_X509_num(sk) == 0) {
    set_err2(err, errlen, "no certificate in the ", what);
    goto out;
  }
  *out = sk;
  sk = NULL;
  r = DDAS_OK;
out:
  X509_free(x);
  sk_X509_pop_free(sk, X509_free);
  BIO_free(bio);
  return r;
}

/* Reads the certificates of the PEM file `path` (see parse_certs). */
static ddas_result load_certs(const char *path, int max, const char *what,
                              STACK_OF(X509) * *out, char *err, size_t errlen) {
  char *pem = NULL;
  size_t len = 0;
  ddas_result r = read_file(path, what, &pem, &len, err, errlen);
  *out = NULL;
  if(r)
    goto out;
  r = parse_certs(pem, len, max, what, out, err, errlen);
out:
  free_file(pem, len);
  return r;
}

/* 1 when the certificate's key usage (if stated) allows signatures. */
static int usage_allows_signing(X509 *x) {
  uint32_t ku = X509_get_key_usage(x);
  return ku == UINT32_MAX ||
         (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) != 0;
}

/* PS256 parameters on a signing or verification context: 1 on success. */
static int set_pss(EVP_PKEY_CTX *pctx) {
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT_LEN) > 0;
}

typedef int (*update_fn)(EVP_MD_CTX *, const void *, size_t);

/* Feeds the JWS signing input into md through `up`: hdr[0..hlen) (the
 * base64url header), ".", then for ADR "digest: " and the Digest value
 * dv[0..dlen), for BODY base64url(body[0..len)). Returns 0, or -1 when an
 * update fails. */
static int feed_input(EVP_MD_CTX *md, update_fn up, ddas_sig_profile profile,
                      const char *hdr, size_t hlen, const char *dv, size_t dlen,
                      const unsigned char *body, size_t len) {
  char chunk[BODY_CHUNK / 3 * 4 + 1];
  if(up(md, hdr, hlen) != 1 || up(md, ".", 1) != 1)
    return -1;
  if(profile == DDAS_SIG_ADR)
    return up(md, HDR_DIGEST ": ", sizeof(HDR_DIGEST ": ") - 1) == 1 &&
                   up(md, dv, dlen) == 1
               ? 0
               : -1;
  while(len) {
    size_t n = len < BODY_CHUNK ? len : BODY_CHUNK;
    size_t m = ddas_b64url_encode(body, n, chunk, sizeof(chunk));
    if(!m || up(md, chunk, m) != 1)
      return -1;
    body += n;
    len -= n;
  }
  return 0;
}

/* A growing string in ddas memory; `oom` records the first failure so that
 * a sequence of appends needs one check. */
typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

/* Makes room for n more bytes plus a NUL; 0 on success. */
static int sb_reserve(sbuf *b, size_t n) {
  size_t cap;
  char *p;
  if(b->oom)
    return -1;
  if(b->cap - b->len > n)
    return 0;
  cap = b->cap ? b->cap : 256;
  while(cap - b->len <= n)
    cap *= 2;
  p = ddas_realloc(b->p, cap);
  if(!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void sb_add(sbuf *b, const char *s) {
  size_t n = strlen(s);
  if(sb_reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

/* Appends the standard base64 of der[0..len). */
static void sb_add_b64(sbuf *b, const unsigned char *der, size_t len) {
  size_t n = (len + 2) / 3 * 4;
  if(sb_reserve(b, n))
    return;
  b->len += ddas_b64_encode(der, len, b->p + b->len, n + 1);
}

/* ---- profiles and digest ----------------------------------------------- */

const char *ddas_sig_profile_name(ddas_sig_profile p) {
  switch(p) {
  case DDAS_SIG_ADR: return "adr";
  case DDAS_SIG_BODY: return "body";
  }
  return "unknown";
}

int ddas_sig_profile_parse(const char *s, ddas_sig_profile *out) {
  if(!s || !out)
    return -1;
  if(strcmp(s, "adr") == 0)
    *out = DDAS_SIG_ADR;
  else if(strcmp(s, "body") == 0)
    *out = DDAS_SIG_BODY;
  else
    return -1;
  return 0;
}

int ddas_digest_header(const void *body, size_t len, char *out, size_t cap) {
  unsigned char md[SHA256_LEN];
  unsigned int mdlen = 0;
  int rc = -1;
  if(!out || cap < DDAS_DIGEST_HEADER_SIZE || (!body && len))
    return -1;
  ERR_set_mark();
  if(EVP_Digest(body ? body : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
     mdlen != SHA256_LEN)
    goto out;
  memcpy(out, "SHA-256=", 8);
  if(ddas_b64_encode(md, sizeof(md), out + 8, cap - 8) != 44)
    goto out;
  rc = 0;
out:
  ERR_pop_to_mark();
  return rc;
}

/* ---- signer ------------------------------------------------------------ */

/* 1 when kid is 1..DDAS_SIG_MAX_KID printable ASCII characters. */
static int kid_ok(const char *kid) {
  size_t i;
  for(i = 0; kid[i]; i++)
    if(i >= DDAS_SIG_MAX_KID || kid[i] < 0x20 || kid[i] > 0x7e)
      return 0;
  return i > 0;
}

/* Decodes the private key in pem[0..len) with the passphrase (may be NULL)
 * into *out (owned by the caller). */
static ddas_result parse_key(const char *pem, size_t len,
                             const char *passphrase, EVP_PKEY **out, char *err,
                             size_t errlen) {
  BIO *bio = NULL;
  pass_ctx pc;
  ddas_result r = DDAS_ERR_ARG;
  pc.pass = passphrase;
  *out = NULL;
  bio = BIO_new_mem_buf(pem, (int)len);
  if(!bio) {
    r = DDAS_ERR_NOMEM;
    set_err(err, errlen, "out of memory");
    goto out;
  }
  *out = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &pc);
  if(!*out) {
    if(contains(pem, "ENCRYPTED"))
      set_err(err, errlen,
              "cannot decrypt the signing key (wrong or missing passphrase)");
    else
      set_err(err, errlen, "cannot parse the signing key");
    goto out;
  }
  r = DDAS_OK;
out:
  BIO_free(bio);
  return r;
}

/* Builds the invariant part of the protected header into s->prefix. */
static ddas_result build_prefix(ddas_signer *s, STACK_OF(X509) * chain,
                                const char *kid) {
  sbuf b = {NULL, 0, 0, 0};
  int i;
  ddas_result r = DDAS_ERR_NOMEM;
  sb_add(&b, "{\"alg\":\"PS256\",\"typ\":\"JOSE\",\"kid\":\"");
  for(i = 0; kid[i]; i++) { /* printable ASCII: only " and \ need escapes */
    char c[3] = {'\\', kid[i], '\0'};
    sb_add(&b, kid[i] == '"' || kid[i] == '\\' ? c : c + 1);
  }
  sb_add(&b, "\",\"x5c\":[");
  for(i = 0; i < sk_X509_num(chain); i++) {
    unsigned char *der = NULL;
    int n = i2d_X509(sk_X509_value(chain, i), &der);
    if(n <= 0)
      goto out;
    sb_add(&b, i ? ",\"" : "\"");
    sb_add_b64(&b, der, (size_t)n);
    sb_add(&b, "\"");
    OPENSSL_free(der);
  }
  sb_add(&b, "],\"x5t#S256\":\"");
  sb_add(&b, s->thumb);
  sb_add(&b, "\"");
  if(b.oom)
    goto out;
  s->prefix = b.p;
  s->prefix_len = b.len;
  b.p = NULL;
  r = DDAS_OK;
out:
  ddas_free(b.p);
  return r;
}

ddas_result ddas_signer_load(const char *key_pem_path, const char *passphrase,
                             const char *chain_pem_path, const char *kid,
                             ddas_signer **out, char *err, size_t errlen) {
  char *keypem = NULL;
  size_t keylen = 0;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *key = NULL;
  ddas_signer *s = NULL;
  unsigned char *der = NULL;
  X509 *leaf;
  int i, derlen;
  ddas_result r = DDAS_ERR_ARG;
  if(out)
    *out = NULL;
  if(!key_pem_path || !chain_pem_path || !out) {
    set_err(err, errlen, "invalid arguments");
    return DDAS_ERR_ARG;
  }
  if(kid && !kid_ok(kid)) {
    set_err(err, errlen, "kid must be 1 to 127 printable ASCII characters");
    return DDAS_ERR_ARG;
  }
  ERR_set_mark();
  r = read_file(key_pem_path, "signing key", &keypem, &keylen, err, errlen);
  if(r)
    goto out;
  r = parse_key(keypem, keylen, passphrase, &key, err, errlen);
  if(r)
    goto out;
  r = load_certs(chain_pem_path, DDAS_SIG_MAX_CHAIN, "certificate chain",
                 &chain, err, errlen);
  if(r)
    goto out;
  r = DDAS_ERR_ARG;
  leaf = sk_X509_value(chain, 0);
  if(!EVP_PKEY_is_a(key, "RSA")) {
    set_err(err, errlen, "the signing key is not RSA");
    goto out;
  }
  if(EVP_PKEY_get_bits(key) < MIN_RSA_BITS) {
    set_err(err, errlen, "the signing key is shorter than 2048 bits");
    goto out;
  }
  if(EVP_PKEY_get_size(key) > MAX_SIG_BYTES) {
    set_err(err, errlen, "the signing key is longer than 8192 bits");
    goto out;
  }
  if(!X509_get0_pubkey(leaf) || EVP_PKEY_eq(key, X509_get0_pubkey(leaf)) != 1) {
    set_err(err, errlen,
            "the signing key does not belong to the first certificate");
    goto out;
  }
  for(i = 0; i + 1 < sk_X509_num(chain); i++)
    if(X509_check_issued(sk_X509_value(chain, i + 1),
                         sk_X509_value(chain, i)) != X509_V_OK) {
      set_err(err, errlen,
              "the certificate chain is not in issuing order (end-entity "
              "first)");
      goto out;
    }
  if(!usage_allows_signing(leaf)) {
    set_err(err, errlen,
            "the certificate's key usage does not allow signatures");
    goto out;
  }
  r = DDAS_ERR_NOMEM;
  s = ddas_calloc(1, sizeof(*s));
  if(!s)
    goto out;
  derlen = i2d_X509(leaf, &der);
  if(derlen <= 0 || thumbprint(der, (size_t)derlen, s->thumb))
    goto out;
  r = build_prefix(s, chain, kid ? kid : s->thumb);
  if(r)
    goto out;
  s->not_after = asn1_to_unix(X509_get0_notAfter(leaf));
  s->key = key;
  key = NULL;
  *out = s;
  s = NULL;
out:
  if(r == DDAS_ERR_NOMEM)
    set_err(err, errlen, "out of memory");
  OPENSSL_free(der);
  ddas_signer_free(s);
  EVP_PKEY_free(key);
  sk_X509_pop_free(chain, X509_free);
  free_file(keypem, keylen);
  ERR_pop_to_mark();
  return r;
}

void ddas_signer_free(ddas_signer *s) {
  if(!s)
    return;
  EVP_PKEY_free(s->key);
  ddas_free(s->prefix);
  ddas_free(s);
}

const char *ddas_signer_thumbprint(const ddas_signer *s) {
  return s ? s->thumb : "";
}

int64_t ddas_signer_not_after(const ddas_signer *s) {
  return s ? s->not_after : 0;
}

/* Reads the first certificate of the PEM file `path` into *out. */
static int first_cert(const char *path, X509 **out, char *err, size_t errlen) {
  char *pem = NULL;
  size_t len = 0;
  BIO *bio = NULL;
  pass_ctx pc = {NULL};
  int rc = -1;
  *out = NULL;
  if(read_file(path, "certificate", &pem, &len, err, errlen))
    goto out;
  bio = BIO_new_mem_buf(pem, (int)len);
  if(!bio) {
    set_err(err, errlen, "out of memory");
    goto out;
  }
  *out = PEM_read_bio_X509(bio, NULL, pass_cb, &pc);
  if(!*out) {
    set_err(err, errlen, "no certificate in the file");
    goto out;
  }
  rc = 0;
out:
  BIO_free(bio);
  free_file(pem, len);
  return rc;
}

int ddas_cert_files_same(const char *pem_a, const char *pem_b, char *err,
                         size_t errlen) {
  X509 *a = NULL, *b = NULL;
  int rc = -1;
  if(!pem_a || !pem_b) {
    set_err(err, errlen, "invalid arguments");
    return -1;
  }
  ERR_set_mark();
  if(first_cert(pem_a, &a, err, errlen) || first_cert(pem_b, &b, err, errlen))
    goto out;
  rc = X509_cmp(a, b) == 0 ||
       (X509_get0_pubkey(a) && X509_get0_pubkey(b) &&
        EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) == 1);
out:
  X509_free(a);
  X509_free(b);
  ERR_pop_to_mark();
  return rc;
}

/* ---- signing ----------------------------------------------------------- */

/* The profile-specific tail of the protected header, closing brace
 * included, into buf[cap]; returns its length, or 0 when it does not fit. */
static size_t header_tail(ddas_sig_profile profile, int64_t iat, char *buf,
                          size_t cap) {
  int n;
  if(profile == DDAS_SIG_BODY)
    n = snprintf(buf, cap, "}");
  else
    n = snprintf(buf, cap,
                 ",\"iat\":%" PRId64 ",\"b64\":false,\"crit\":[\"b64\","
                 "\"sigD\"],\"sigD\":{\"mId\":\"" SIGD_MID "\","
                 "\"pars\":[\"" HDR_DIGEST "\"]}}",
                 iat);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

ddas_result ddas_sign(const ddas_signer *s, ddas_sig_profile profile,
                      const void *body, size_t len, int64_t iat,
                      char **sig_out) {
  char tail[256], digest[DDAS_DIGEST_HEADER_SIZE] = "";
  char *hdr = NULL, *out = NULL;
  unsigned char *sig = NULL;
  size_t tlen, hlen, hb, siglen, cap, n;
  EVP_MD_CTX *md = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  ddas_result r = DDAS_ERR_ARG;
  if(!sig_out)
    return DDAS_ERR_ARG;
  *sig_out = NULL;
  if(!s || (!body && len) ||
     (profile != DDAS_SIG_ADR && profile != DDAS_SIG_BODY) ||
     (profile == DDAS_SIG_ADR && iat < 0))
    return DDAS_ERR_ARG;
  ERR_set_mark();
  r = DDAS_ERR_NOMEM;
  tlen = header_tail(profile, iat, tail, sizeof(tail));
  if(!tlen)
    goto out;
  hlen = s->prefix_len + tlen;
  hdr = ddas_malloc(hlen + 1);
  if(!hdr)
    goto out;
  memcpy(hdr, s->prefix, s->prefix_len);
  memcpy(hdr + s->prefix_len, tail, tlen + 1);

  siglen = (size_t)EVP_PKEY_get_size(s->key);
  if(siglen == 0 || siglen > MAX_SIG_BYTES)
    goto out;
  cap = b64url_len(hlen) + 2 + b64url_len(siglen) + 1;
  out = ddas_malloc(cap);
  sig = ddas_malloc(siglen);
  if(!out || !sig)
    goto out;
  hb = ddas_b64url_encode(hdr, hlen, out, cap);
  if(profile == DDAS_SIG_ADR &&
     ddas_digest_header(body, len, digest, sizeof(digest)))
    goto out;

  md = EVP_MD_CTX_new();
  if(!md ||
     EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, s->key, NULL) !=
         1 ||
     !set_pss(pctx) ||
     feed_input(md, EVP_DigestSignUpdate, profile, out, hb, digest,
                strlen(digest), body, len) ||
     EVP_DigestSignFinal(md, sig, &siglen) != 1)
    goto out;
  out[hb] = '.';
  out[hb + 1] = '.';
  n = ddas_b64url_encode(sig, siglen, out + hb + 2, cap - hb - 2);
  if(!n)
    goto out;
  *sig_out = out;
  out = NULL;
  r = DDAS_OK;
out:
  EVP_MD_CTX_free(md);
  ddas_free(sig);
  ddas_free(out);
  ddas_free(hdr);
  ERR_pop_to_mark();
  return r;
}

/* ---- trust store ------------------------------------------------------- */

ddas_result ddas_truststore_load(const char *ca_pem_path, ddas_truststore **out,
                                 char *err, size_t errlen) {
  STACK_OF(X509) *certs = NULL;
  ddas_truststore *t = NULL;
  int i;
  ddas_result r;
  if(out)
    *out = NULL;
  if(!ca_pem_path || !out) {
    set_err(err, errlen, "invalid arguments");
    return DDAS_ERR_ARG;
  }
  ERR_set_mark();
  r = load_certs(ca_pem_path, 10000, "trust store", &certs, err, errlen);
  if(r)
    goto out;
  r = DDAS_ERR_NOMEM;
  t = ddas_calloc(1, sizeof(*t));
  if(!t)
    goto out;
  t->store = X509_STORE_new();
  if(!t->store)
    goto out;
  for(i = 0; i < sk_X509_num(certs); i++)
    if(X509_STORE_add_cert(t->store, sk_X509_value(certs, i)) != 1)
      goto out;
  *out = t;
  t = NULL;
  r = DDAS_OK;
out:
  if(r == DDAS_ERR_NOMEM)
    set_err(err, errlen, "out of memory");
  ddas_truststore_free(t);
  sk_X509_pop_free(certs, X509_free);
  ERR_pop_to_mark();
  return r;
}

void ddas_truststore_free(ddas_truststore *t) {
  if(!t)
    return;
  X509_STORE_free(t->store);
  ddas_free(t);
}

/* ---- verification ------------------------------------------------------ */

/* 1 when j is a JSON string equal to s (no embedded NUL). */
static int jstr_eq(const json_t *j, const char *s) {
  size_t n = strlen(s);
  return json_is_string(j) && json_string_length(j) == n &&
         memcmp(json_string_value(j), s, n) == 0;
}

/* Removes leading and trailing spaces and tabs from v[0..*len). */
static const char *trim(const char *v, size_t *len) {
  while(*len && (*v == ' ' || *v == '\t')) {
    v++;
    (*len)--;
  }
  while(*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
    (*len)--;
  return v;
}

/* Checks crit: exactly the two names "b64" and "sigD", each once. */
static int crit_ok(const json_t *crit) {
  const json_t *a, *b;
  if(!json_is_array(crit) || json_array_size(crit) != 2)
    return 0;
  a = json_array_get(crit, 0);
  b = json_array_get(crit, 1);
  return (jstr_eq(a, "b64") && jstr_eq(b, "sigD")) ||
         (jstr_eq(a, "sigD") && jstr_eq(b, "b64"));
}

/* Checks sigD: {"mId": SIGD_MID, "pars": ["digest"]} and nothing else. */
static int sigd_ok(const json_t *sigd) {
  const json_t *pars = json_object_get(sigd, "pars");
  const json_t *p0;
  if(!json_is_object(sigd) || json_object_size(sigd) != 2 ||
     !jstr_eq(json_object_get(sigd, "mId"), SIGD_MID) || !json_is_array(pars) ||
     json_array_size(pars) != 1)
    return 0;
  p0 = json_array_get(pars, 0);
  return json_is_string(p0) &&
         json_string_length(p0) == sizeof(HDR_DIGEST) - 1 &&
         eq_nocase(json_string_value(p0), HDR_DIGEST);
}

/* Checks the members of the protected header `h` (see ddas_verify) and
 * fills v (profile, kid, iat, thumbprint) and *x5c. Returns NULL or the
 * reason of the rejection. */
static const char *check_header(const json_t *h, ddas_verified *v,
                                const json_t **x5c) {
  const json_t *typ = json_object_get(h, "typ");
  const json_t *kid = json_object_get(h, "kid");
  const json_t *x5t = json_object_get(h, "x5t#S256");
  const json_t *b64 = json_object_get(h, "b64");
  const json_t *crit = json_object_get(h, "crit");
  const json_t *sigd = json_object_get(h, "sigD");
  const json_t *iat = json_object_get(h, "iat");
  if(!json_is_object(h))
    return "protected header is not a JSON object";
  if(!json_object_get(h, "alg"))
    return "missing alg";
  if(!jstr_eq(json_object_get(h, "alg"), "PS256"))
    return "unsupported alg (expected PS256)";
  if(typ && !(json_is_string(typ) && json_string_length(typ) == 4 &&
              eq_nocase(json_string_value(typ), "JOSE")))
    return "unsupported typ (expected JOSE)";
  if(kid) {
    if(!json_is_string(kid))
      return "kid is not a string";
    if(json_string_length(kid) > DDAS_SIG_MAX_KID)
      return "kid too long";
    memcpy(v->kid, json_string_value(kid), json_string_length(kid) + 1);
  }
  *x5c = json_object_get(h, "x5c");
  if(!*x5c)
    return "missing x5c";
  if(!json_is_array(*x5c) || json_array_size(*x5c) == 0 ||
     json_array_size(*x5c) > DDAS_SIG_MAX_CHAIN)
    return "x5c must be an array of 1 to 10 certificates";
  if(!x5t)
    return "missing x5t#S256";
  if(!json_is_string(x5t) || json_string_length(x5t) != THUMB_LEN)
    return "malformed x5t#S256";
  memcpy(v->thumbprint, json_string_value(x5t), THUMB_LEN + 1);
  if(!b64 && !crit && !sigd) {
    v->profile = DDAS_SIG_BODY;
    return NULL;
  }
  v->profile = DDAS_SIG_ADR;
  if(!json_is_false(b64))
    return "b64 must be false";
  if(!crit_ok(crit))
    return "crit must list exactly b64 and sigD";
  if(!sigd_ok(sigd))
    return "sigD must name the digest header (HttpHeaders)";
  if(!iat)
    return "missing iat";
  if(!json_is_integer(iat) || json_integer_value(iat) < 0)
    return "iat must be a non-negative integer";
  v->iat = (int64_t)json_integer_value(iat);
  return NULL;
}

/* Decodes the x5c entries into a new stack *out (end-entity first) and
 * checks x5t#S256 against x5c[0]. Returns NULL or the reason; *nomem is set
 * when the reason is an allocation failure. */
static const char *decode_x5c(const json_t *x5c, const char *x5t,
                              STACK_OF(X509) * *out, int *nomem) {
  unsigned char *der = NULL;
  STACK_OF(X509) *sk = NULL;
  const char *why = "out of memory";
  size_t i;
  *out = NULL;
  *nomem = 1;
  der = ddas_malloc(MAX_CERT_B64 / 4 * 3);
  sk = sk_X509_new_null();
  if(!der || !sk)
    goto out;
  for(i = 0; i < json_array_size(x5c); i++) {
    const json_t *e = json_array_get(x5c, i);
    const unsigned char *p = der;
    char thumb[THUMB_LEN + 1];
    X509 *x;
    long n;
    *nomem = 0;
    why = "malformed x5c certificate";
    if(!json_is_string(e) || json_string_length(e) > MAX_CERT_B64)
      goto out;
    n = ddas_b64_decode(json_string_value(e), json_string_length(e), der,
                        MAX_CERT_B64 / 4 * 3);
    if(n <= 0)
      goto out;
    x = d2i_X509(NULL, &p, n);
    if(!x)
      goto out;
    if(p != der + n || !sk_X509_push(sk, x)) {
      X509_free(x);
      goto out;
    }
    if(i == 0) {
      *nomem = 1;
      why = "out of memory";
      if(thumbprint(der, (size_t)n, thumb))
        goto out;
      *nomem = 0;
      why = "x5t#S256 does not match x5c[0]";
      if(strcmp(thumb, x5t) != 0)
        goto out;
    }
  }
  *out = sk;
  sk = NULL;
  why = NULL;
  *nomem = 0;
out:
  sk_X509_pop_free(sk, X509_free);
  ddas_free(der);
  return why;
}

/* The reason for an X509_verify_cert() error code. */
static const char *chain_reason(int e) {
  switch(e) {
  case X509_V_ERR_CERT_HAS_EXPIRED: return "certificate expired";
  case X509_V_ERR_CERT_NOT_YET_VALID: return "certificate not yet valid";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return "unknown root";
  }
  return NULL;
}

ddas_result ddas_verify(const ddas_truststore *trust,
                        const ddas_http_header *headers, size_t nheaders,
                        const void *body, size_t len, int64_t now,
                        ddas_verified *info, char *err, size_t errlen) {
  const char *dv = NULL, *sv = NULL, *dot, *sigtxt, *why = NULL;
  size_t dl = 0, sl = 0, hb, sigl, i;
  char digest[DDAS_DIGEST_HEADER_SIZE];
  unsigned char *hdr = NULL, sig[MAX_SIG_BYTES];
  long hn, sn;
  json_t *root = NULL;
  json_error_t jerr;
  const json_t *x5c = NULL;
  STACK_OF(X509) *chain = NULL;
  X509_STORE_CTX *xs = NULL;
  X509 *leaf;
  EVP_PKEY *pk;
  EVP_MD_CTX *md = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  ddas_verified v;
  int nomem = 0, e;
  ddas_result r = DDAS_ERR_ARG;

  memset(&v, 0, sizeof(v));
  if(info)
    memset(info, 0, sizeof(*info));
  if(!trust || (!headers && nheaders) || (!body && len) || now < 0) {
    set_err(err, errlen, "invalid arguments");
    return DDAS_ERR_ARG;
  }
  ERR_set_mark();
  for(i = 0; i < nheaders; i++) {
    const ddas_http_header *h = &headers[i];
    if(!h->name || !h->value) {
      why = "malformed header list";
      goto out;
    }
    if(eq_nocase(h->name, HDR_DIGEST)) {
      if(dv) {
        why = "duplicate Digest header";
        goto out;
      }
      dv = h->value;
    } else if(eq_nocase(h->name, HDR_SIG)) {
      if(sv) {
        why = "duplicate nlgov-adr-payload-sig header";
        goto out;
      }
      sv = h->value;
    }
  }
  if(!dv) {
    why = "missing Digest header";
    goto out;
  }
  if(!sv) {
    why = "missing nlgov-adr-payload-sig header";
    goto out;
  }

  /* Digest: bounded before anything else is done with it */
  dl = strnlen(dv, MAX_DIGEST_HEADER + 1);
  if(dl > MAX_DIGEST_HEADER) {
    why = "Digest header too long";
    goto out;
  }
  dv = trim(dv, &dl);
  if(dl < 8 || !eq_nocase_n(dv, "SHA-256=", 8)) {
    why = "Digest is not SHA-256";
    goto out;
  }
  if(ddas_digest_header(body, len, digest, sizeof(digest))) {
    nomem = 1;
    goto out;
  }
  if(dl != DIGEST_VALUE_LEN || memcmp(dv + 8, digest + 8, 44) != 0) {
    why = "Digest does not match the body";
    goto out;
  }

  /* signature header: BASE64URL(header) ".." BASE64URL(signature) */
  sl = strnlen(sv, (size_t)DDAS_SIG_MAX_HEADER + 1);
  if(sl > (size_t)DDAS_SIG_MAX_HEADER) {
    why = "signature header too long";
    goto out;
  }
  sv = trim(sv, &sl);
  dot = memchr(sv, '.', sl);
  if(!dot || dot == sv || (size_t)(dot - sv) + 2 >= sl || dot[1] != '.' ||
     memchr(dot + 2, '.', sl - (size_t)(dot - sv) - 2)) {
    why = "malformed signature header (expected header..signature)";
    goto out;
  }
  hb = (size_t)(dot - sv);
  sigtxt = dot + 2;
  sigl = sl - hb - 2;
  hdr = ddas_malloc(hb / 4 * 3 + 3);
  if(!hdr) {
    nomem = 1;
    goto out;
  }
  hn = ddas_b64url_decode(sv, hb, hdr, hb / 4 * 3 + 3);
  if(hn <= 0) {
    why = "malformed protected header (base64url)";
    goto out;
  }
  root =
      json_loadb((const char *)hdr, (size_t)hn, JSON_REJECT_DUPLICATES, &jerr);
  if(!root) {
    why = "protected header is not valid JSON";
    goto out;
  }
  why = check_header(root, &v, &x5c);
  if(why)
    goto out;
  why = decode_x5c(x5c, v.thumbprint, &chain, &nomem);
  if(why)
    goto out;

  /* the end-entity key and the chain */
  leaf = sk_X509_value(chain, 0);
  pk = X509_get0_pubkey(leaf);
  if(!pk || !EVP_PKEY_is_a(pk, "RSA")) {
    why = "certificate key is not RSA";
    goto out;
  }
  if(EVP_PKEY_get_bits(pk) < MIN_RSA_BITS) {
    why = "certificate key is shorter than 2048 bits";
    goto out;
  }
  xs = X509_STORE_CTX_new();
  if(!xs || X509_STORE_CTX_init(xs, trust->store, leaf, chain) != 1) {
    nomem = 1;
    goto out;
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(xs), (time_t)now);
  if(X509_verify_cert(xs) != 1) {
    e = X509_STORE_CTX_get_error(xs);
    if(e == X509_V_ERR_OUT_OF_MEM) {
      nomem = 1;
      goto out;
    }
    why = chain_reason(e);
    if(!why) {
      set_err2(err, errlen,
               "certificate chain invalid: ", X509_verify_cert_error_string(e));
      goto out;
    }
    goto out;
  }
  if(!usage_allows_signing(leaf)) {
    why = "certificate key usage does not allow signatures";
    goto out;
  }

  /* the signature over the rebuilt signing input */
  if(sigl > (MAX_SIG_BYTES + 2) / 3 * 4) {
    why = "bad signature";
    goto out;
  }
  sn = ddas_b64url_decode(sigtxt, sigl, sig, sizeof(sig));
  if(sn <= 0 || sn != EVP_PKEY_get_size(pk)) {
    why = "bad signature";
    goto out;
  }
  md = EVP_MD_CTX_new();
  if(!md ||
     EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pk, NULL) != 1 ||
     !set_pss(pctx) ||
     feed_input(md, EVP_DigestVerifyUpdate, v.profile, sv, hb, dv, dl, body,
                len)) {
    nomem = 1;
    goto out;
  }
  if(EVP_DigestVerifyFinal(md, sig, (size_t)sn) != 1) {
    why = "bad signature";
    goto out;
  }
  if(info)
    *info = v;
  r = DDAS_OK;
out:
  if(nomem) {
    r = DDAS_ERR_NOMEM;
    set_err(err, errlen, "out of memory");
  } else if(why)
    set_err(err, errlen, why);
  EVP_MD_CTX_free(md);
  X509_STORE_CTX_free(xs);
  sk_X509_pop_free(chain, X509_free);
  json_decref(root);
  ddas_free(hdr);
  ERR_pop_to_mark();
  return r;
}
