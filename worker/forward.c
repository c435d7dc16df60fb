/* The CBS forwarder (see forward.h and docs/spec/EXCHANGE.md): its
 * preparation and the outbox. The transfers themselves are in transfer.c.
 *
 * Moves bytes and keeps time; every decision (what a status means, how long
 * to wait, whether another attempt fits the budget) is the core's
 * (ddas/exchange.h), and so are the digest and the signature (ddas/sign.h).
 *
 * Two sinks behind one retry loop: HTTPS through libcurl's multi interface
 * (transfer.c), or an outbox directory
 * (cbs.url = file:///DIR) that receives `<batch id>.json` and
 * `<batch id>.meta.json`, each written to a temporary file, synced and
 * renamed, the meta file last: a present meta file means a complete batch.
 *
 * Secrets (client secret, passphrases, the access token) are copied into
 * memory we wipe, are handed to libcurl only as options and request headers,
 * and never reach a log line, last_error or the outbox. */
#define _DEFAULT_SOURCE /* getrandom */
#include "forward.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certfile.h"
#include "ddas/alloc.h"
#include "ddas/sign.h"
#include "forward_int.h"
#include "log.h"

#define WK_META_MAX 65536 /* bytes of an existing meta file read */

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if(!err || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* xorshift64*: jitter and temporary names need uniform numbers, not
 * secret ones. */
double wk_fwd_rnd(wk_forwarder *f) {
  uint64_t x = f->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  f->rng = x;
  return (double)((x * UINT64_C(2685821657736338717)) >> 11) *
         (1.0 / 9007199254740992.0);
}

static char *dup_or_null(const char *s) {
  return wk_fwd_empty(s) ? NULL : ddas_strdup(s);
}

void wk_fwd_now(char *buf, size_t cap) {
  struct timespec ts;
  struct tm tm;
  char sec[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, cap, "%s.%03uZ", sec,
           (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* ---- logging (batch ids and statuses, nothing else) -------------------- */

/* One line through the program's logger (log.h): the fields of the
 * forwarder's lines, each left out when it has no value. */
void wk_fwd_log(const wk_forwarder *f, int level, const char *msg,
                const char *batch_id, unsigned attempt, int status,
                const char *outcome, const char *error, long long retry_ms) {
  wk_field fl[6];
  size_t n = 0;
  (void)f;
  if(!wk_log_enabled(level))
    return;
  if(batch_id)
    fl[n++] = WK_STR("batch_id", batch_id);
  if(attempt)
    fl[n++] = WK_INT("attempt", attempt);
  if(status >= 0)
    fl[n++] = WK_INT("http_status", status);
  if(outcome)
    fl[n++] = WK_STR("outcome", outcome);
  if(!wk_fwd_empty(error))
    fl[n++] = WK_STR("error", error);
  if(retry_ms >= 0)
    fl[n++] = WK_INT("retry_in_ms", retry_ms);
  if(n)
    wk_log_fields(level, msg, fl, n);
  else
    wk_log(level, msg, NULL);
}

/* ---- start-up checks ---------------------------------------------------- */

/* OpenSSL's PEM callback: the configured passphrase, never a prompt. */
static int pem_pass_cb(char *buf, int size, int rwflag, void *u) {
  const char *p = u;
  size_t n;
  (void)rwflag;
  if(!p || size <= 0)
    return -1;
  n = strlen(p);
  if(n > (size_t)size)
    return -1;
  memcpy(buf, p, n);
  return (int)n;
}

static X509 *read_first_cert(const char *path) {
  X509 *x = NULL;
  BIO *b = BIO_new_file(path, "r");
  if(b)
    x = PEM_read_bio_X509(b, NULL, pem_pass_cb, NULL);
  BIO_free(b);
  return x;
}

/* wk_cert_file_window, with its warning in the forwarder's log. */
static int check_validity(const wk_forwarder *f, const char *key,
                          const char *path, char *err, size_t errlen) {
  char warn[256];
  if(wk_cert_file_window(key, path, warn, sizeof(warn), err, errlen))
    return -1;
  if(*warn)
    wk_fwd_log(f, WK_WARN, warn, NULL, 0, -1, NULL, NULL, -1);
  return 0;
}

/* The transport key must open with its passphrase and belong to the
 * transport certificate; the CA bundle must hold a certificate. */
static int check_transport(const wk_forwarder *f, const wk_config *cfg,
                           char *err, size_t errlen) {
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  BIO *b = NULL;
  int rc = -1;
  if(!wk_fwd_empty(cfg->cbs_ca)) {
    X509 *ca = read_first_cert(cfg->cbs_ca);
    if(!ca) {
      set_err(err, errlen,
              "cbs.ca: cannot read a PEM certificate from %s (change cbs.ca)",
              cfg->cbs_ca);
      goto out;
    }
    X509_free(ca);
  }
  if(wk_fwd_empty(cfg->cbs_cert) || wk_fwd_empty(cfg->cbs_key)) {
    set_err(err, errlen,
            "%s is not set: mutual TLS needs the transport certificate "
            "(cbs.cert) and its key (cbs.key)",
            wk_fwd_empty(cfg->cbs_cert) ? "cbs.cert" : "cbs.key");
    goto out;
  }
  cert = read_first_cert(cfg->cbs_cert);
  if(!cert) {
    set_err(err, errlen,
            "cbs.cert: cannot read a PEM certificate from %s (change "
            "cbs.cert)",
            cfg->cbs_cert);
    goto out;
  }
  b = BIO_new_file(cfg->cbs_key, "r");
  if(b)
    key = PEM_read_bio_PrivateKey(
        b, NULL, pem_pass_cb,
        (void *)(uintptr_t)(wk_fwd_empty(cfg->cbs_key_passphrase)
                                ? NULL
                                : cfg->cbs_key_passphrase));
  if(!key) {
    set_err(err, errlen,
            "cbs.key: cannot read the transport key from %s (wrong or "
            "missing cbs.key_passphrase, or not a PEM key)",
            cfg->cbs_key);
    goto out;
  }
  if(X509_check_private_key(cert, key) != 1) {
    set_err(err, errlen,
            "cbs.key does not belong to the certificate in cbs.cert (change "
            "cbs.key or cbs.cert)");
    goto out;
  }
  if(check_validity(f, "cbs.cert", cfg->cbs_cert, err, errlen))
    goto out;
  rc = 0;
out:
  ERR_clear_error();
  EVP_PKEY_free(key);
  BIO_free(b);
  X509_free(cert);
  return rc;
}

/* http(s) URLs: scheme allowed, a host, no credentials in the URL. */
static int check_url(const wk_forwarder *f, const wk_config *cfg,
                     const char *key, const char *url, char *err,
                     size_t errlen) {
  CURLU *u = curl_url();
  char *host = NULL, *user = NULL, *pass = NULL;
  int rc = -1, http = strncmp(url, "http://", 7) == 0;
  if(!u) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  if(strncmp(url, "https://", 8) != 0 && !http) {
    set_err(err, errlen, "%s must start with https://", key);
    goto out;
  }
  if(http && !cfg->allow_insecure_http) {
    set_err(err, errlen,
            "%s uses http://: only https:// is allowed (set "
            "cbs.allow_insecure_http = true for a local test stub only)",
            key);
    goto out;
  }
  if(curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
     curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
     wk_fwd_empty(host)) {
    set_err(err, errlen, "%s is not a valid URL", key);
    goto out;
  }
  if(curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
     curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
    set_err(err, errlen,
            "%s must not contain credentials (use cbs.client_id and "
            "cbs.client_secret)",
            key);
    goto out;
  }
  if(http) {
    char msg[256];
    snprintf(msg, sizeof(msg),
             "WARNING: %s uses plain http:// because "
             "cbs.allow_insecure_http = true: no TLS, no server "
             "authentication, batches and tokens travel in the clear. Use "
             "this only against a local test stub",
             key);
    wk_fwd_log(f, WK_WARN, msg, NULL, 0, -1, NULL, NULL, -1);
  }
  rc = 0;
out:
  curl_free(host);
  if(user) {
    OPENSSL_cleanse(user, strlen(user));
    curl_free(user);
  }
  if(pass) {
    OPENSSL_cleanse(pass, strlen(pass));
    curl_free(pass);
  }
  curl_url_cleanup(u);
  return rc;
}

static int open_outbox(wk_forwarder *f, const char *url, char *err,
                       size_t errlen) {
  const char *path = url + 7; /* after "file://" */
  struct stat st;
  if(path[0] != '/') {
    set_err(err, errlen,
            "cbs.url: an outbox is file:///ABSOLUTE/DIRECTORY (no host "
            "part)");
    return -1;
  }
  if(strpbrk(path, "?#%")) {
    set_err(err, errlen,
            "cbs.url: the outbox path must not contain '?', '#' or '%%'");
    return -1;
  }
  if(stat(path, &st) != 0) {
    set_err(err, errlen,
            "cbs.url: the outbox directory %s does not exist (create it or "
            "change cbs.url)",
            path);
    return -1;
  }
  if(!S_ISDIR(st.st_mode)) {
    set_err(err, errlen,
            "cbs.url: the outbox %s is not a directory (change cbs.url)", path);
    return -1;
  }
  if(access(path, W_OK | X_OK) != 0) {
    set_err(err, errlen,
            "cbs.url: the outbox directory %s is not writable (fix its "
            "permissions or change cbs.url)",
            path);
    return -1;
  }
  f->outbox_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(f->outbox_fd < 0) {
    set_err(err, errlen, "cbs.url: cannot open the outbox directory %s: %s",
            path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Headers the forwarder sets itself cannot be configured. */
static int reserved_header(const char *name, int have_token) {
  static const char *const names[] = {
      "Content-Type", "Content-Length",   "Digest",
      "Host",         "Idempotency-Key",  "nlgov-adr-payload-sig",
      "Expect",       "Transfer-Encoding"};
  size_t i;
  for(i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if(strcasecmp(name, names[i]) == 0)
      return 1;
  return have_token && strcasecmp(name, "Authorization") == 0;
}

static int copy_headers(wk_forwarder *f, const wk_config *cfg, char *err,
                        size_t errlen) {
  size_t i;
  if(!cfg->nheaders)
    return 0;
  f->hdr_lines = ddas_calloc(cfg->nheaders, sizeof(char *));
  f->hdr_names = ddas_calloc(cfg->nheaders, sizeof(char *));
  if(!f->hdr_lines || !f->hdr_names)
    goto nomem;
  for(i = 0; i < cfg->nheaders; i++) {
    const char *n = cfg->headers[i].name, *v = cfg->headers[i].value;
    size_t len;
    if(wk_fwd_empty(n) || strpbrk(n, ":\r\n \t") || (v && strpbrk(v, "\r\n"))) {
      set_err(err, errlen, "cbs.header.%s: invalid header", n ? n : "");
      return -1;
    }
    if(reserved_header(n, f->token_url != NULL)) {
      set_err(err, errlen,
              "cbs.header.%s: the forwarder sets this header itself; remove "
              "the key",
              n);
      return -1;
    }
    len = strlen(n) + (v ? strlen(v) : 0) + 3;
    f->hdr_lines[i] = ddas_malloc(len);
    f->hdr_names[i] = ddas_strdup(n);
    if(!f->hdr_lines[i] || !f->hdr_names[i])
      goto nomem;
    f->nhdr = i + 1;
    /* curl sends "Name;" as a header with an empty value */
    if(wk_fwd_empty(v))
      snprintf(f->hdr_lines[i], len, "%s;", n);
    else
      snprintf(f->hdr_lines[i], len, "%s: %s", n, v);
  }
  return 0;
nomem:
  set_err(err, errlen, "out of memory");
  return -1;
}

/* ---- outbox ------------------------------------------------------------- */

/* Outbox failures: a directory we may not write is the configuration's
 * fault; anything else (full disk, I/O error) may pass. */
static void outbox_errno(wk_try *t, const char *what, int e) {
  t->outcome =
      (e == EACCES || e == EPERM || e == EROFS || e == ENOENT || e == ENOTDIR)
          ? DDAS_OUT_CONFIG_FAULT
          : DDAS_OUT_TRANSIENT;
  snprintf(t->error, sizeof(t->error), "outbox: %s: %s", what, strerror(e));
}

/* Writes data to DIR/name through a synced temporary file. 0, or an errno
 * value. */
static int write_atomic(wk_forwarder *f, const char *name, const void *data,
                        size_t len) {
  char tmp[WK_BATCH_ID_MAX + 64];
  const unsigned char *p = data;
  size_t done = 0;
  int fd, e = 0;
  snprintf(tmp, sizeof(tmp), ".%s.%08x.tmp", name,
           (unsigned)(wk_fwd_rnd(f) * 4294967295.0));
  fd = openat(f->outbox_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if(fd < 0)
    return errno;
  while(done < len) {
    ssize_t w = write(fd, p + done, len - done);
    if(w < 0) {
      if(errno == EINTR)
        continue;
      e = errno;
      break;
    }
    done += (size_t)w;
  }
  if(!e && fsync(fd) != 0)
    e = errno;
  if(close(fd) != 0 && !e)
    e = errno;
  if(!e && renameat(f->outbox_fd, tmp, f->outbox_fd, name) != 0)
    e = errno;
  if(e)
    unlinkat(f->outbox_fd, tmp, 0);
  return e;
}

/* Reads an existing meta file: 1 when present (its digest in *digest, its
 * signature in *sig, both owned), 0 when absent, -1 with t set on error. */
static int read_meta(wk_forwarder *f, const char *name, char **digest,
                     char **sig, wk_try *t) {
  char *buf = NULL;
  size_t n = 0;
  json_t *root = NULL;
  int fd, rc = -1;
  *digest = *sig = NULL;
  fd = openat(f->outbox_fd, name, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    if(errno == ENOENT)
      return 0;
    outbox_errno(t, name, errno);
    return -1;
  }
  buf = ddas_malloc(WK_META_MAX + 1);
  if(!buf) {
    snprintf(t->error, sizeof(t->error), "out of memory");
    t->outcome = DDAS_OUT_TRANSIENT;
    goto out;
  }
  for(;;) {
    ssize_t got = read(fd, buf + n, WK_META_MAX - n);
    if(got < 0 && errno == EINTR)
      continue;
    if(got < 0) {
      outbox_errno(t, name, errno);
      goto out;
    }
    if(got == 0 || (n += (size_t)got) == WK_META_MAX)
      break;
  }
  root = json_loadb(buf, n, 0, NULL);
  if(!json_is_string(json_object_get(root, "digest")) ||
     !json_is_string(json_object_get(root, "signature"))) {
    snprintf(t->error, sizeof(t->error),
             "outbox: %s exists but is not a meta file of this worker", name);
    t->outcome = DDAS_OUT_CONFIG_FAULT;
    goto out;
  }
  *digest = ddas_strdup(json_string_value(json_object_get(root, "digest")));
  *sig = ddas_strdup(json_string_value(json_object_get(root, "signature")));
  if(!*digest || !*sig) {
    ddas_free(*digest);
    ddas_free(*sig);
    *digest = *sig = NULL;
    snprintf(t->error, sizeof(t->error), "out of memory");
    t->outcome = DDAS_OUT_TRANSIENT;
    goto out;
  }
  rc = 1;
out:
  json_decref(root);
  ddas_free(buf);
  close(fd);
  return rc;
}

static char *meta_json(const wk_forwarder *f, const char *batch_id, size_t len,
                       const wk_send_result *r, int64_t iat) {
  json_t *m = json_object(), *names = json_array();
  char when[40], *out = NULL;
  size_t i;
  int bad = !m || !names;
  wk_fwd_now(when, sizeof(when));
  for(i = 0; !bad && i < f->nhdr; i++)
    bad = json_array_append_new(names, json_string(f->hdr_names[i])) != 0;
  if(!bad)
    bad = json_object_set_new(m, "batch_id", json_string(batch_id)) ||
          json_object_set_new(m, "idempotency_key", json_string(batch_id)) ||
          json_object_set_new(m, "content_type",
                              json_string("application/json")) ||
          json_object_set_new(m, "bytes", json_integer((json_int_t)len)) ||
          json_object_set_new(m, "digest", json_string(r->digest)) ||
          json_object_set_new(m, "signature", json_string(r->signature)) ||
          json_object_set_new(m, "signature_profile",
                              json_string(ddas_sig_profile_name(f->profile))) ||
          json_object_set_new(m, "iat", json_integer((json_int_t)iat)) ||
          json_object_set(m, "headers", names) ||
          json_object_set_new(m, "time", json_string(when));
  if(!bad)
    out = json_dumps(m, JSON_PRESERVE_ORDER | JSON_INDENT(2));
  json_decref(names);
  json_decref(m);
  return out;
}

int wk_fwd_try_outbox(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, wk_send_result *r, int64_t iat, wk_try *t) {
  char name[WK_BATCH_ID_MAX + 16], meta[WK_BATCH_ID_MAX + 16];
  char *old_digest = NULL, *old_sig = NULL, *doc = NULL;
  int e, have;
  snprintf(name, sizeof(name), "%s.json", batch_id);
  snprintf(meta, sizeof(meta), "%s.meta.json", batch_id);
  have = read_meta(f, meta, &old_digest, &old_sig, t);
  if(have < 0)
    return 0;
  if(have) {
    if(strcmp(old_digest, r->digest) == 0) {
      /* already delivered: report what was written then */
      ddas_free(r->signature);
      r->signature = old_sig;
      old_sig = NULL;
      t->outcome = DDAS_OUT_FORWARDED;
      snprintf(t->error, sizeof(t->error), "already in the outbox");
    } else {
      t->outcome = DDAS_OUT_CONFIG_FAULT;
      snprintf(t->error, sizeof(t->error),
               "outbox: batch id %s is already there with a different body",
               batch_id);
    }
    goto out;
  }
  doc = meta_json(f, batch_id, len, r, iat);
  if(!doc) {
    t->outcome = DDAS_OUT_TRANSIENT;
    snprintf(t->error, sizeof(t->error), "out of memory");
    goto out;
  }
  if((e = write_atomic(f, name, body, len))) {
    outbox_errno(t, name, e);
    goto out;
  }
  if((e = write_atomic(f, meta, doc, strlen(doc)))) {
    outbox_errno(t, meta, e);
    goto out;
  }
  if(fsync(f->outbox_fd) != 0) {
    outbox_errno(t, "sync", errno);
    goto out;
  }
  t->outcome = DDAS_OUT_FORWARDED;
out:
  free(doc); /* jansson's allocator */
  ddas_free(old_digest);
  ddas_free(old_sig);
  return 0;
}

/* ---- the public API ----------------------------------------------------- */

/* The signer from sign.key and sign.cert (refused when not yet valid or
 * expired, a warning when it expires soon). 0, or -1 with a message naming the
 * keys. */
static int load_signer(wk_forwarder *f, const wk_config *cfg, char *err,
                       size_t errlen) {
  char why[256];
  ddas_result dr;
  if(wk_fwd_empty(cfg->sign_cert) || wk_fwd_empty(cfg->sign_key)) {
    set_err(err, errlen,
            "%s is not set: batches are signed with the signing certificate "
            "(sign.cert) and its key (sign.key)",
            wk_fwd_empty(cfg->sign_cert) ? "sign.cert" : "sign.key");
    return -1;
  }
  dr = ddas_signer_load(
      cfg->sign_key,
      wk_fwd_empty(cfg->sign_key_passphrase) ? NULL : cfg->sign_key_passphrase,
      cfg->sign_cert, wk_fwd_empty(cfg->sign_kid) ? NULL : cfg->sign_kid,
      &f->signer, why, sizeof(why));
  if(dr) {
    set_err(err, errlen,
            "sign.key / sign.cert: %s (check sign.key, sign.key_passphrase, "
            "sign.cert and sign.kid)",
            why);
    return -1;
  }
  return check_validity(f, "sign.cert", cfg->sign_cert, err, errlen);
}

/* Signing and transport need different certificates with their own keys.
 * 0, or -1 with a message naming the keys to change. */
static int check_separate_keys(const wk_config *cfg, int outbox, char *err,
                               size_t errlen) {
  char why[256];
  if(!wk_fwd_empty(cfg->cbs_cert)) {
    int same =
        ddas_cert_files_same(cfg->sign_cert, cfg->cbs_cert, why, sizeof(why));
    if(same < 0) {
      set_err(err, errlen, "sign.cert / cbs.cert: %s", why);
      return -1;
    }
    if(same) {
      set_err(err, errlen,
              "sign.cert and cbs.cert are the same certificate or share a "
              "key: the signing certificate must be a different certificate "
              "with its own key than the transport certificate (change "
              "sign.cert or cbs.cert)");
      return -1;
    }
  }
  if(!outbox && !wk_fwd_empty(cfg->cbs_key) && !wk_fwd_empty(cfg->sign_key) &&
     strcmp(cfg->cbs_key, cfg->sign_key) == 0) {
    set_err(err, errlen,
            "sign.key and cbs.key are the same file: signing and transport "
            "need separate keys (change sign.key or cbs.key)");
    return -1;
  }
  return 0;
}

/* OAuth 2.0 client credentials, when cbs.token_url is set: checks the keys
 * and copies them into f. 0, or -1 with a message naming the key. */
static int setup_oauth(wk_forwarder *f, const wk_config *cfg, char *err,
                       size_t errlen) {
  if(wk_fwd_empty(cfg->token_url))
    return 0;
  if(check_url(f, cfg, "cbs.token_url", cfg->token_url, err, errlen))
    return -1;
  if(wk_fwd_empty(cfg->client_id) || wk_fwd_empty(cfg->client_secret)) {
    set_err(err, errlen, "%s is not set (needed with cbs.token_url)",
            wk_fwd_empty(cfg->client_id) ? "cbs.client_id"
                                         : "cbs.client_secret");
    return -1;
  }
  if(!wk_fwd_empty(cfg->auth_method) && strcmp(cfg->auth_method, "basic") &&
     strcmp(cfg->auth_method, "form")) {
    set_err(err, errlen, "cbs.auth_method must be basic or form");
    return -1;
  }
  f->auth_basic =
      wk_fwd_empty(cfg->auth_method) || strcmp(cfg->auth_method, "basic") == 0;
  f->token_url = ddas_strdup(cfg->token_url);
  f->client_id = ddas_strdup(cfg->client_id);
  f->client_secret = ddas_strdup(cfg->client_secret);
  f->scope = dup_or_null(cfg->scope);
  if(!f->token_url || !f->client_id || !f->client_secret ||
     (!wk_fwd_empty(cfg->scope) && !f->scope)) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  f->refresh_margin_s =
      cfg->token_refresh_margin_s > 0 ? cfg->token_refresh_margin_s : 0;
  return 0;
}

/* The retry policy, the fault threshold and the jitter's seed. */
static void set_retries(wk_forwarder *f, const wk_config *cfg) {
  f->policy.max_attempts =
      cfg->retry_max_attempts > 0 ? (unsigned)cfg->retry_max_attempts : 1;
  f->policy.budget_ms =
      cfg->retry_budget_ms > 0 ? (uint64_t)cfg->retry_budget_ms : 0;
  f->base_ms = cfg->retry_base_ms > 0 ? (uint64_t)cfg->retry_base_ms : 1;
  f->max_ms = cfg->retry_max_ms > 0 ? (uint64_t)cfg->retry_max_ms : f->base_ms;
  if(getrandom(&f->rng, sizeof(f->rng), 0) != (ssize_t)sizeof(f->rng))
    f->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ wk_mono_ms();
  if(!f->rng)
    f->rng = UINT64_C(0x9E3779B97F4A7C15);
}

/* The checks run in a fixed order, so that the first thing wrong is the one
 * reported. */
int wk_forwarder_new(const wk_config *cfg, wk_forwarder **out, char *err,
                     size_t errlen) {
  wk_forwarder *f = NULL;
  int outbox;
  if(out)
    *out = NULL;
  if(!cfg || !out) {
    set_err(err, errlen, "invalid arguments");
    return -1;
  }
  f = ddas_calloc(1, sizeof(*f));
  if(!f) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  f->outbox_fd = -1;
  if(ddas_sig_profile_parse(wk_fwd_empty(cfg->sign_profile) ? "adr"
                                                            : cfg->sign_profile,
                            &f->profile)) {
    set_err(err, errlen,
            "sign.profile: unknown signature profile '%s' (use adr or body)",
            cfg->sign_profile);
    goto fail;
  }
  if(wk_fwd_empty(cfg->cbs_url)) {
    set_err(err, errlen,
            "cbs.url is not set (https://… of the CBS endpoint, or "
            "file:///DIR for an outbox)");
    goto fail;
  }
  outbox = strncmp(cfg->cbs_url, "file://", 7) == 0;
  f->outbox = outbox;
  if(outbox ? open_outbox(f, cfg->cbs_url, err, errlen)
            : check_url(f, cfg, "cbs.url", cfg->cbs_url, err, errlen))
    goto fail;
  if(load_signer(f, cfg, err, errlen) ||
     check_separate_keys(cfg, outbox, err, errlen))
    goto fail;
  if(!outbox &&
     (check_transport(f, cfg, err, errlen) || setup_oauth(f, cfg, err, errlen)))
    goto fail;
  if(copy_headers(f, cfg, err, errlen))
    goto fail;
  f->url = ddas_strdup(cfg->cbs_url);
  if(!f->url) {
    set_err(err, errlen, "out of memory");
    goto fail;
  }
  if(wk_fwd_setup_curl(f, cfg, err, errlen))
    goto fail;
  set_retries(f, cfg);
  *out = f;
  return 0;
fail:
  wk_forwarder_free(f);
  return -1;
}

void wk_forwarder_free(wk_forwarder *f) {
  size_t i;
  if(!f)
    return;
  wk_fwd_free_curl(f);
  if(f->outbox_fd >= 0)
    close(f->outbox_fd);
  ddas_signer_free(f->signer);
  wk_fwd_free_secret(f->client_secret);
  ddas_free(f->client_id);
  ddas_free(f->token_url);
  ddas_free(f->scope);
  ddas_free(f->url);
  for(i = 0; i < f->nhdr; i++) {
    wk_fwd_free_secret(f->hdr_lines[i]); /* a grant hash is close to a secret */
    ddas_free(f->hdr_names[i]);
  }
  ddas_free(f->hdr_lines);
  ddas_free(f->hdr_names);
  ddas_free(f);
}

void wk_forwarder_set_metrics(wk_forwarder *f, wk_metrics *m) {
  if(f)
    f->metrics = m;
}

void wk_forwarder_set_stop(wk_forwarder *f, const volatile sig_atomic_t *stop) {
  if(f)
    f->stop = stop;
}

void wk_forwarder_stats(const wk_forwarder *f, wk_forward_stats *out) {
  if(!out)
    return;
  if(f)
    *out = f->stats;
  else
    memset(out, 0, sizeof(*out));
}
