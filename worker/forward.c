/* The CBS forwarder (see forward.h and docs/spec/EXCHANGE.md).
 *
 * Moves bytes and keeps time; every decision (what a status means, how long
 * to wait, whether another attempt fits the budget) is the core's
 * (ddas/exchange.h), and so are the digest and the signature (ddas/sign.h).
 *
 * Two sinks behind one retry loop: HTTPS through libcurl (one easy handle
 * for the batch endpoint, kept across batches so that the TLS connection is
 * reused, and one for the token endpoint), or an outbox directory
 * (cbs.url = file:///DIR) that receives `<batch id>.json` and
 * `<batch id>.meta.json`, each written to a temporary file, synced and
 * renamed, the meta file last: a present meta file means a complete batch.
 *
 * Secrets (client secret, passphrases, the access token) are copied into
 * memory we wipe, are handed to libcurl only as options and request headers,
 * and never reach a log line, last_error or the outbox. */
#define _DEFAULT_SOURCE /* getrandom */
#include "forward.h"

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

#include "ddas/alloc.h"
#include "ddas/sign.h"

#define WK_RESP_MAX 16384 /* bytes of a response body kept */
#define WK_TOKEN_MAX 8192 /* bytes of an access token accepted */
#define WK_BATCH_ID_MAX 128
#define WK_EXPIRY_WARN_S (30 * 86400)
#define WK_META_MAX 65536 /* bytes of an existing meta file read */

/* The response of one request: what the callbacks keep. */
typedef struct {
  char body[WK_RESP_MAX + 1];
  size_t len;
  char retry_after[64];
  char fsc_error[81];
} wk_resp;

/* The result of one attempt. */
typedef struct {
  ddas_outcome outcome;
  int status;         /* HTTP status, 0 when there was no response */
  int from_token;     /* the token endpoint failed; the batch was not sent */
  long retry_after_s; /* -1: none */
  int cert_fault;     /* no response: a certificate was refused (ours, or
                         the server's by our trust anchors) */
  char error[256];    /* short reason, empty on success */
} wk_try;

struct wk_forwarder {
  int outbox;      /* 1: cbs.url is file:///DIR */
  int outbox_fd;   /* the outbox directory, -1 when none */
  char *url;       /* cbs.url */
  CURL *curl;      /* batch endpoint */
  CURL *tcurl;     /* token endpoint */
  int curl_global; /* curl_global_init succeeded */
  char errbuf[CURL_ERROR_SIZE];
  wk_resp *resp;
  ddas_signer *signer;
  ddas_sig_profile profile;
  /* OAuth 2.0 */
  char *token_url, *client_id, *client_secret, *scope;
  int auth_basic;
  long refresh_margin_s;
  char *token;             /* cached access token, NULL when none */
  uint64_t token_until_ms; /* monotonic time until which it is used */
  /* extra request headers: "Name: value" lines and the names */
  char **hdr_lines, **hdr_names;
  size_t nhdr;
  /* retries */
  ddas_retry_policy policy;
  uint64_t base_ms, max_ms;
  uint64_t rng;
  /* health and metrics */
  wk_forward_stats stats;
  wk_metrics *metrics; /* NULL: none */
  /* logging */
  int log_json, log_min;
  const volatile sig_atomic_t *stop;
};

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

static int empty(const char *s) { return !s || !*s; }

/* Frees a string the result holds through a const pointer. */
static void free_const(const char *p) { ddas_free((void *)(uintptr_t)p); }

/* Wipes and frees a secret; NULL is accepted. */
static void free_secret(char *s) {
  if(s) {
    OPENSSL_cleanse(s, strlen(s));
    ddas_free(s);
  }
}

static char *dup_or_null(const char *s) {
  return empty(s) ? NULL : ddas_strdup(s);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* RFC 3339 UTC with milliseconds, e.g. "2026-11-29T10:00:00.123Z". */
static void now_rfc3339(char *buf, size_t cap) {
  struct timespec ts;
  struct tm tm;
  char sec[32];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, cap, "%s.%03uZ", sec,
           (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

static void date_of(int64_t t, char *buf, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, cap, "%Y-%m-%d", &tm);
}

/* xorshift64*: jitter needs uniform numbers, not secret ones. */
static double next_rnd(wk_forwarder *f) {
  uint64_t x = f->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  f->rng = x;
  return (double)((x * UINT64_C(2685821657736338717)) >> 11) *
         (1.0 / 9007199254740992.0);
}

static int stopped(const wk_forwarder *f) { return f->stop && *f->stop; }

/* Sleeps ms milliseconds in short slices; 0, or -1 as soon as a stop is
 * requested. */
static int sleep_ms(const wk_forwarder *f, uint64_t ms) {
  uint64_t end = mono_ms() + ms, now;
  while((now = mono_ms()) < end) {
    uint64_t slice = end - now > 100 ? 100 : end - now;
    struct timespec ts;
    if(stopped(f))
      return -1;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(slice * 1000000u);
    nanosleep(&ts, NULL);
  }
  return stopped(f) ? -1 : 0;
}

/* Batch ids name files in the outbox and go into a header: letters, digits,
 * '-' and '_' only (the core's ids are 32 hex digits). */
static int valid_batch_id(const char *id) {
  size_t i;
  if(empty(id))
    return 0;
  for(i = 0; id[i]; i++) {
    char c = id[i];
    if(i >= WK_BATCH_ID_MAX ||
       !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

/* ---- logging (stderr only; batch ids and statuses, nothing else) -------- */

enum { LV_DEBUG, LV_INFO, LV_WARN, LV_ERROR };

static void json_str(FILE *out, const char *s) {
  fputc('"', out);
  for(; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if(c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if(c < 0x20 || c == 0x7f)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

/* One log line. batch_id may be NULL; status < 0 and attempt 0 leave the
 * fields out; retry_ms < 0 means no retry. */
static void wk_log(const wk_forwarder *f, int level, const char *msg,
                   const char *batch_id, unsigned attempt, int status,
                   const char *outcome, const char *error, long long retry_ms) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char when[40];
  int json = f ? f->log_json : 0;
  if(f && level < f->log_min)
    return;
  now_rfc3339(when, sizeof(when));
  /* the senders of `run` log from several threads: one whole line at a
   * time (log.c takes the same lock) */
  flockfile(stderr);
  if(json) {
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":", when,
            names[level]);
    json_str(stderr, msg);
    if(batch_id) {
      fputs(",\"batch_id\":", stderr);
      json_str(stderr, batch_id);
    }
    if(attempt)
      fprintf(stderr, ",\"attempt\":%u", attempt);
    if(status >= 0)
      fprintf(stderr, ",\"http_status\":%d", status);
    if(outcome)
      fprintf(stderr, ",\"outcome\":\"%s\"", outcome);
    if(!empty(error)) {
      fputs(",\"error\":", stderr);
      json_str(stderr, error);
    }
    if(retry_ms >= 0)
      fprintf(stderr, ",\"retry_in_ms\":%lld", retry_ms);
    fputs("}\n", stderr);
  } else {
    fprintf(stderr, "%s %s %s", when, names[level], msg);
    if(batch_id)
      fprintf(stderr, " batch=%s", batch_id);
    if(attempt)
      fprintf(stderr, " attempt=%u", attempt);
    if(status >= 0)
      fprintf(stderr, " status=%d", status);
    if(outcome)
      fprintf(stderr, " outcome=%s", outcome);
    if(!empty(error))
      fprintf(stderr, " error=\"%s\"", error);
    if(retry_ms >= 0)
      fprintf(stderr, " retry_in_ms=%lld", retry_ms);
    fputc('\n', stderr);
  }
  fflush(stderr);
  funlockfile(stderr);
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

/* Warns when the certificate `key` (a configuration key) expires within 30
 * days; refuses one that has expired. */
static int check_expiry(const wk_forwarder *f, const char *key,
                        int64_t not_after, char *err, size_t errlen) {
  int64_t now = (int64_t)time(NULL);
  char day[16], msg[256];
  date_of(not_after, day, sizeof(day));
  if(not_after <= now) {
    set_err(err, errlen,
            "%s: the certificate expired on %s; renew it and change %s", key,
            day, key);
    return -1;
  }
  if(not_after - now <= WK_EXPIRY_WARN_S) {
    snprintf(msg, sizeof(msg),
             "WARNING: the certificate in %s expires on %s (in %lld days); "
             "renew it",
             key, day, (long long)((not_after - now) / 86400));
    wk_log(f, LV_WARN, msg, NULL, 0, -1, NULL, NULL, -1);
  }
  return 0;
}

static int64_t asn1_to_unix(const ASN1_TIME *t) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm);
}

/* The transport key must open with its passphrase and belong to the
 * transport certificate; the CA bundle must hold a certificate. */
static int check_transport(const wk_forwarder *f, const wk_config *cfg,
                           char *err, size_t errlen) {
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  BIO *b = NULL;
  int rc = -1;
  if(!empty(cfg->cbs_ca)) {
    X509 *ca = read_first_cert(cfg->cbs_ca);
    if(!ca) {
      set_err(err, errlen,
              "cbs.ca: cannot read a PEM certificate from %s (change cbs.ca)",
              cfg->cbs_ca);
      goto out;
    }
    X509_free(ca);
  }
  if(empty(cfg->cbs_cert) || empty(cfg->cbs_key)) {
    set_err(err, errlen,
            "%s is not set: mutual TLS needs the transport certificate "
            "(cbs.cert) and its key (cbs.key)",
            empty(cfg->cbs_cert) ? "cbs.cert" : "cbs.key");
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
        (void *)(uintptr_t)(empty(cfg->cbs_key_passphrase)
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
  if(check_expiry(f, "cbs.cert", asn1_to_unix(X509_get0_notAfter(cert)), err,
                  errlen))
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
     curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || empty(host)) {
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
    wk_log(f, LV_WARN, msg, NULL, 0, -1, NULL, NULL, -1);
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
    if(empty(n) || strpbrk(n, ":\r\n \t") || (v && strpbrk(v, "\r\n"))) {
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
    if(empty(v))
      snprintf(f->hdr_lines[i], len, "%s;", n);
    else
      snprintf(f->hdr_lines[i], len, "%s: %s", n, v);
  }
  return 0;
nomem:
  set_err(err, errlen, "out of memory");
  return -1;
}

/* ---- libcurl ------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  wk_resp *r = ud;
  size_t total = size * n, room = WK_RESP_MAX - r->len;
  size_t keep = total < room ? total : room;
  memcpy(r->body + r->len, data, keep);
  r->len += keep;
  r->body[r->len] = '\0';
  return total; /* the rest is read and dropped, not an error */
}

/* Copies a header value from the peer, trimmed, at most cap - 1 bytes; the
 * copy ends at a control character, or with token_only at anything but
 * letters, digits, '_', '-' and '.' (it may end up in logs). */
static void header_value(const char *v, size_t n, char *out, size_t cap,
                         int token_only) {
  size_t o = 0;
  while(n && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  while(n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
              v[n - 1] == '\t'))
    n--;
  for(; n && o + 1 < cap; v++, n--) {
    char c = *v;
    if(token_only &&
       !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      break;
    if(!token_only && ((unsigned char)c < 0x20 || c == 0x7f))
      break;
    out[o++] = c;
  }
  out[o] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  wk_resp *r = ud;
  size_t total = size * n;
  static const char ra[] = "Retry-After:", fsc[] = "Fsc-Error-Code:";
  if(total >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* a new response (after a 1xx): forget the previous one */
    r->retry_after[0] = r->fsc_error[0] = '\0';
    r->len = 0;
    r->body[0] = '\0';
  } else if(total > sizeof(ra) - 1 &&
            strncasecmp(data, ra, sizeof(ra) - 1) == 0) {
    header_value(data + sizeof(ra) - 1, total - (sizeof(ra) - 1),
                 r->retry_after, sizeof(r->retry_after), 0);
  } else if(total > sizeof(fsc) - 1 &&
            strncasecmp(data, fsc, sizeof(fsc) - 1) == 0) {
    header_value(data + sizeof(fsc) - 1, total - (sizeof(fsc) - 1),
                 r->fsc_error, sizeof(r->fsc_error), 1);
  }
  return total;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un) {
  (void)dt;
  (void)dn;
  (void)ut;
  (void)un;
  return stopped(ud) ? 1 : 0;
}

/* Options shared by both handles: TLS, timeouts, callbacks. */
static int setup_handle(wk_forwarder *f, CURL *h, const wk_config *cfg) {
  int insecure = cfg->allow_insecure_http != 0;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if(!rc)                                                                    \
      rc = curl_easy_setopt(h, opt, val);                                      \
  } while(0)
  SET(CURLOPT_PROTOCOLS_STR, insecure ? "http,https" : "https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if(!empty(cfg->cbs_ca)) {
    /* only the configured anchor, not the system directory as well */
    SET(CURLOPT_CAINFO, cfg->cbs_ca);
    SET(CURLOPT_CAPATH, (char *)NULL);
  }
  if(!empty(cfg->cbs_cert)) {
    SET(CURLOPT_SSLCERT, cfg->cbs_cert);
    SET(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if(!empty(cfg->cbs_key)) {
    SET(CURLOPT_SSLKEY, cfg->cbs_key);
    SET(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if(!empty(cfg->cbs_key_passphrase))
    SET(CURLOPT_KEYPASSWD, cfg->cbs_key_passphrase);
  SET(CURLOPT_CONNECTTIMEOUT_MS,
      cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000L);
  SET(CURLOPT_TIMEOUT_MS, cfg->timeout_ms > 0 ? cfg->timeout_ms : 120000L);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_USERAGENT, "ddas-worker");
  SET(CURLOPT_ERRORBUFFER, f->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, f->resp);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, f->resp);
  SET(CURLOPT_XFERINFOFUNCTION, on_progress);
  SET(CURLOPT_XFERINFODATA, f);
  SET(CURLOPT_NOPROGRESS, 0L);
  SET(CURLOPT_POST, 1L);
#undef SET
  /* HTTP/2 when the server offers it in ALPN (an FSC Outway may); HTTP/1.1
   * otherwise, and with a libcurl built without HTTP/2 */
  (void)curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  return rc == CURLE_OK ? 0 : -1;
}

/* A certificate that verification refused, or a CA, certificate or CRL file
 * that cannot be used: retrying will not fix it, so it is a configuration
 * fault (stall and probe) rather than a transient one (retry, then park).
 * A handshake that merely breaks off (CURLE_SSL_CONNECT_ERROR, also what a
 * server refusing our client certificate looks like) stays transient: a
 * network fault looks the same. */
static int is_cert_fault(CURLcode rc) {
  switch(rc) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_CRL_BADFILE: return 1;
  default: return 0;
  }
}

/* A short reason for a transfer that got no HTTP response. */
static void transport_error(CURLcode rc, const char *errbuf, char *out,
                            size_t cap) {
  const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
  const char *prefix;
  switch(rc) {
  case CURLE_OPERATION_TIMEDOUT: prefix = "timeout: "; break;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: prefix = "DNS: "; break;
  case CURLE_COULDNT_CONNECT: prefix = "connection failed: "; break;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING: prefix = "connection reset: "; break;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED: prefix = "TLS: "; break;
  default: prefix = ""; break;
  }
  snprintf(out, cap, "%s%.200s", prefix, why);
}

/* Performs the prepared request on h. Returns the HTTP status (0 when no
 * response; then t->error says why), or -1 when a stop was requested. */
static int perform(wk_forwarder *f, CURL *h, wk_try *t) {
  CURLcode rc;
  long status = 0;
  f->errbuf[0] = '\0';
  f->resp->len = 0;
  f->resp->body[0] = '\0';
  f->resp->retry_after[0] = f->resp->fsc_error[0] = '\0';
  rc = curl_easy_perform(h);
  if(rc == CURLE_ABORTED_BY_CALLBACK && stopped(f))
    return -1;
  if(f->metrics && h == f->curl) {
    curl_off_t us = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
    wk_metrics_latency(f->metrics, (double)us / 1e6);
  }
  if(rc != CURLE_OK) {
    transport_error(rc, f->errbuf, t->error, sizeof(t->error));
    t->cert_fault = is_cert_fault(rc);
    return 0;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status > 0 && status < 1000 ? (int)status : 0;
}

/* Sets t->retry_after_s from the response's Retry-After header. */
static void take_retry_after(const wk_forwarder *f, wk_try *t) {
  t->retry_after_s = -1;
  if(*f->resp->retry_after)
    t->retry_after_s =
        ddas_retry_after(f->resp->retry_after, (int64_t)time(NULL));
}

/* "HTTP 403 ERROR_CODE_WRONG_GROUP_ID_IN_TOKEN" */
static void http_error(const wk_forwarder *f, const char *prefix, int status,
                       char *out, size_t cap) {
  snprintf(out, cap, "%sHTTP %d%s%s%s", prefix, status,
           *f->resp->fsc_error ? " " : "", f->resp->fsc_error,
           status >= 300 && status < 400 ? " (redirects are not followed)"
                                         : "");
}

/* ---- OAuth 2.0 client credentials --------------------------------------- */

static void drop_token(wk_forwarder *f) {
  free_secret(f->token);
  f->token = NULL;
  f->token_until_ms = 0;
}

static int token_chars_ok(const char *s) {
  size_t i;
  for(i = 0; s[i]; i++)
    if((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return i > 0 && i <= WK_TOKEN_MAX;
}

/* Parses the token response in f->resp. 0, or -1 with a reason in t. */
static int parse_token(wk_forwarder *f, wk_try *t) {
  json_error_t je;
  json_t *root = json_loadb(f->resp->body, f->resp->len, 0, &je), *v;
  const char *tok;
  long long expires = 0;
  uint64_t now = mono_ms();
  int rc = -1;
  if(!json_is_object(root)) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: the response is not a JSON object");
    goto out;
  }
  v = json_object_get(root, "token_type");
  if(v && (!json_is_string(v) || strcasecmp(json_string_value(v), "bearer"))) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: token_type is not Bearer");
    goto out;
  }
  v = json_object_get(root, "access_token");
  tok = json_is_string(v) ? json_string_value(v) : NULL;
  if(!tok || !token_chars_ok(tok)) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: no usable access_token in the response");
    goto out;
  }
  v = json_object_get(root, "expires_in");
  if(json_is_integer(v))
    expires = json_integer_value(v);
  else if(json_is_real(v))
    expires = (long long)json_real_value(v);
  else if(json_is_string(v))
    expires = strtoll(json_string_value(v), NULL, 10);
  drop_token(f);
  f->token = ddas_strdup(tok);
  if(!f->token) {
    snprintf(t->error, sizeof(t->error), "out of memory");
    goto out;
  }
  /* Without a usable expires_in the token serves this batch only. */
  expires -= f->refresh_margin_s;
  f->token_until_ms =
      now +
      (expires > 0 ? (uint64_t)(expires > 31536000 ? 31536000 : expires) : 0) *
          1000u;
  rc = 0;
out:
  if(root) {
    /* the parsed copy of the token lives in jansson's memory: wipe it */
    v = json_object_get(root, "access_token");
    if(json_is_string(v))
      OPENSSL_cleanse((void *)(uintptr_t)json_string_value(v),
                      json_string_length(v));
  }
  json_decref(root);
  OPENSSL_cleanse(f->resp->body, f->resp->len);
  f->resp->len = 0;
  return rc;
}

static int append_form(char **form, size_t *len, size_t *cap, const char *name,
                       const char *value) {
  char *esc = curl_easy_escape(NULL, value, 0);
  size_t need;
  int rc = -1;
  if(!esc)
    return -1;
  need = *len + strlen(name) + strlen(esc) + 3;
  if(need > *cap) {
    size_t ncap = need * 2;
    char *n = ddas_malloc(ncap);
    if(!n)
      goto out;
    if(*form) {
      memcpy(n, *form, *len + 1);
      OPENSSL_cleanse(*form, *len);
      ddas_free(*form);
    }
    *form = n;
    *cap = ncap;
  }
  *len += (size_t)snprintf(*form + *len, *cap - *len, "%s%s=%s",
                           *len ? "&" : "", name, esc);
  rc = 0;
out:
  OPENSSL_cleanse(esc, strlen(esc));
  curl_free(esc);
  return rc;
}

static void free_slist_wiped(struct curl_slist *l) {
  struct curl_slist *p;
  for(p = l; p; p = p->next)
    OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

/* Fetches a token into f->token. Returns 0 with t->outcome FORWARDED when
 * there is one, 0 with another outcome in t when the endpoint failed, -1
 * when a stop was requested or memory ran out (t->error says which). */
static int fetch_token(wk_forwarder *f, wk_try *t) {
  char *form = NULL, *uid = NULL, *usecret = NULL;
  size_t flen = 0, fcap = 0;
  struct curl_slist *hdrs = NULL, *tmp;
  CURL *h = f->tcurl;
  int status, rc = -1;
  f->stats.token_requests++;
  if(append_form(&form, &flen, &fcap, "grant_type", "client_credentials") ||
     (f->scope && append_form(&form, &flen, &fcap, "scope", f->scope)))
    goto nomem;
  if(f->auth_basic) {
    /* RFC 6749 2.3.1: both are form-urlencoded before Basic encoding */
    uid = curl_easy_escape(NULL, f->client_id, 0);
    usecret = curl_easy_escape(NULL, f->client_secret, 0);
    if(!uid || !usecret)
      goto nomem;
  } else if(append_form(&form, &flen, &fcap, "client_id", f->client_id) ||
            append_form(&form, &flen, &fcap, "client_secret",
                        f->client_secret)) {
    goto nomem;
  }
  tmp = curl_slist_append(NULL,
                          "Content-Type: application/x-www-form-urlencoded");
  if(!tmp)
    goto nomem;
  hdrs = tmp;
  if(!(tmp = curl_slist_append(hdrs, "Accept: application/json")) ||
     !(tmp = curl_slist_append(hdrs, "Expect:")))
    goto nomem;
  if(curl_easy_setopt(h, CURLOPT_URL, f->token_url) ||
     curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) ||
     curl_easy_setopt(h, CURLOPT_POSTFIELDS, form) ||
     curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)flen) ||
     curl_easy_setopt(h, CURLOPT_HTTPAUTH,
                      (long)(f->auth_basic ? CURLAUTH_BASIC : CURLAUTH_NONE)) ||
     curl_easy_setopt(h, CURLOPT_USERNAME, uid) ||
     curl_easy_setopt(h, CURLOPT_PASSWORD, usecret))
    goto nomem;
  status = perform(f, h, t);
  /* nothing secret stays in the handle between requests */
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(h, CURLOPT_USERNAME, (char *)NULL);
  curl_easy_setopt(h, CURLOPT_PASSWORD, (char *)NULL);
  if(status < 0) {
    snprintf(t->error, sizeof(t->error), "stopped");
    goto out;
  }
  rc = 0;
  t->status = status;
  take_retry_after(f, t);
  if(status == 0) {
    char why[sizeof(t->error)];
    snprintf(why, sizeof(why), "%s", t->error);
    snprintf(t->error, sizeof(t->error), "token endpoint: %.200s", why);
    t->outcome = t->cert_fault ? DDAS_OUT_CONFIG_FAULT : DDAS_OUT_TRANSIENT;
  } else if(status < 200 || status >= 300) {
    t->outcome = ddas_classify(status);
    /* a refused token request is the configuration's fault, not the
     * batch's */
    if(t->outcome != DDAS_OUT_TRANSIENT)
      t->outcome = DDAS_OUT_CONFIG_FAULT;
    http_error(f, "token endpoint: ", status, t->error, sizeof(t->error));
  } else if(parse_token(f, t)) {
    /* a 2xx without a usable token: the endpoint is not what we think */
    t->outcome = strcmp(t->error, "out of memory") ? DDAS_OUT_CONFIG_FAULT
                                                   : DDAS_OUT_TRANSIENT;
  } else {
    t->outcome = DDAS_OUT_FORWARDED;
    if(f->metrics)
      atomic_fetch_add(&f->metrics->token_refreshes, 1);
  }
  if(t->outcome != DDAS_OUT_FORWARDED) {
    t->from_token = 1;
    f->stats.token_failures++;
  }
  goto out;
nomem:
  snprintf(t->error, sizeof(t->error), "out of memory");
out:
  OPENSSL_cleanse(f->resp->body, f->resp->len);
  if(form) {
    OPENSSL_cleanse(form, flen);
    ddas_free(form);
  }
  if(uid) {
    OPENSSL_cleanse(uid, strlen(uid));
    curl_free(uid);
  }
  if(usecret) {
    OPENSSL_cleanse(usecret, strlen(usecret));
    curl_free(usecret);
  }
  free_slist_wiped(hdrs);
  return rc;
}

/* ---- one attempt -------------------------------------------------------- */

/* One POST of the batch, with a token fetched first when none is valid.
 * Returns 0 with the outcome in t, or -1 when a stop was requested or
 * memory ran out. */
static int try_http(wk_forwarder *f, const char *batch_id, const void *body,
                    size_t len, const wk_send_result *r, wk_try *t) {
  struct curl_slist *hdrs = NULL, *tmp;
  char line[512], *auth = NULL;
  int status, rc = -1;
  size_t i;
  if(f->token_url && (!f->token || mono_ms() >= f->token_until_ms)) {
    drop_token(f);
    if(fetch_token(f, t))
      return -1;
    if(t->outcome != DDAS_OUT_FORWARDED)
      return 0;
    t->error[0] = '\0';
    t->status = 0;
  }
#define ADD(s)                                                                 \
  do {                                                                         \
    if(!(tmp = curl_slist_append(hdrs, (s))))                                  \
      goto nomem;                                                              \
    hdrs = tmp;                                                                \
  } while(0)
  ADD("Content-Type: application/json");
  ADD("Accept: application/json, application/problem+json");
  snprintf(line, sizeof(line), "Digest: %s", r->digest);
  ADD(line);
  {
    size_t n = strlen(r->signature) + 32;
    char *sig = ddas_malloc(n);
    if(!sig)
      goto nomem;
    snprintf(sig, n, "nlgov-adr-payload-sig: %s", r->signature);
    tmp = curl_slist_append(hdrs, sig);
    ddas_free(sig);
    if(!tmp)
      goto nomem;
    hdrs = tmp;
  }
  snprintf(line, sizeof(line), "Idempotency-Key: %s", batch_id);
  ADD(line);
  if(f->token) {
    size_t n = strlen(f->token) + 32;
    auth = ddas_malloc(n);
    if(!auth)
      goto nomem;
    snprintf(auth, n, "Authorization: Bearer %s", f->token);
    ADD(auth);
  }
  for(i = 0; i < f->nhdr; i++)
    ADD(f->hdr_lines[i]);
  ADD("Expect:");
#undef ADD
  if(curl_easy_setopt(f->curl, CURLOPT_URL, f->url) ||
     curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdrs) ||
     curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, body ? body : "") ||
     curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len))
    goto nomem;
  f->stats.requests++;
  status = perform(f, f->curl, t);
  curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, (char *)NULL);
  if(status < 0) {
    snprintf(t->error, sizeof(t->error), "stopped");
    goto out;
  }
  t->status = status;
  t->outcome = ddas_classify(status);
  if(!status && t->cert_fault)
    t->outcome = DDAS_OUT_CONFIG_FAULT;
  take_retry_after(f, t);
  if(status && t->outcome != DDAS_OUT_FORWARDED)
    http_error(f, "", status, t->error, sizeof(t->error));
  rc = 0;
  goto out;
nomem:
  snprintf(t->error, sizeof(t->error), "out of memory");
out:
  free_secret(auth);
  free_slist_wiped(hdrs);
  return rc;
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
           (unsigned)(next_rnd(f) * 4294967295.0));
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
  now_rfc3339(when, sizeof(when));
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

static int try_outbox(wk_forwarder *f, const char *batch_id, const void *body,
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

/* log.format and log.level: JSON lines unless "text"; info and up unless
 * debug, warn or error. */
static void set_logging(wk_forwarder *f, const wk_config *cfg) {
  f->log_json = !cfg->log_format || strcmp(cfg->log_format, "text") != 0;
  f->log_min = LV_INFO;
  if(cfg->log_level) {
    if(strcmp(cfg->log_level, "debug") == 0)
      f->log_min = LV_DEBUG;
    else if(strcmp(cfg->log_level, "warn") == 0)
      f->log_min = LV_WARN;
    else if(strcmp(cfg->log_level, "error") == 0)
      f->log_min = LV_ERROR;
  }
}

/* The signer from sign.key and sign.cert (refused when expired, a warning
 * when it expires soon). 0, or -1 with a message naming the keys. */
static int load_signer(wk_forwarder *f, const wk_config *cfg, char *err,
                       size_t errlen) {
  char why[256];
  ddas_result dr;
  if(empty(cfg->sign_cert) || empty(cfg->sign_key)) {
    set_err(err, errlen,
            "%s is not set: batches are signed with the signing certificate "
            "(sign.cert) and its key (sign.key)",
            empty(cfg->sign_cert) ? "sign.cert" : "sign.key");
    return -1;
  }
  dr = ddas_signer_load(
      cfg->sign_key,
      empty(cfg->sign_key_passphrase) ? NULL : cfg->sign_key_passphrase,
      cfg->sign_cert, empty(cfg->sign_kid) ? NULL : cfg->sign_kid, &f->signer,
      why, sizeof(why));
  if(dr) {
    set_err(err, errlen,
            "sign.key / sign.cert: %s (check sign.key, sign.key_passphrase, "
            "sign.cert and sign.kid)",
            why);
    return -1;
  }
  return check_expiry(f, "sign.cert", ddas_signer_not_after(f->signer), err,
                      errlen);
}

/* Signing and transport need different certificates with their own keys.
 * 0, or -1 with a message naming the keys to change. */
static int check_separate_keys(const wk_config *cfg, int outbox, char *err,
                               size_t errlen) {
  char why[256];
  if(!empty(cfg->cbs_cert)) {
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
  if(!outbox && !empty(cfg->cbs_key) && !empty(cfg->sign_key) &&
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
  if(empty(cfg->token_url))
    return 0;
  if(check_url(f, cfg, "cbs.token_url", cfg->token_url, err, errlen))
    return -1;
  if(empty(cfg->client_id) || empty(cfg->client_secret)) {
    set_err(err, errlen, "%s is not set (needed with cbs.token_url)",
            empty(cfg->client_id) ? "cbs.client_id" : "cbs.client_secret");
    return -1;
  }
  if(!empty(cfg->auth_method) && strcmp(cfg->auth_method, "basic") &&
     strcmp(cfg->auth_method, "form")) {
    set_err(err, errlen, "cbs.auth_method must be basic or form");
    return -1;
  }
  f->auth_basic =
      empty(cfg->auth_method) || strcmp(cfg->auth_method, "basic") == 0;
  f->token_url = ddas_strdup(cfg->token_url);
  f->client_id = ddas_strdup(cfg->client_id);
  f->client_secret = ddas_strdup(cfg->client_secret);
  f->scope = dup_or_null(cfg->scope);
  if(!f->token_url || !f->client_id || !f->client_secret ||
     (!empty(cfg->scope) && !f->scope)) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  f->refresh_margin_s =
      cfg->token_refresh_margin_s > 0 ? cfg->token_refresh_margin_s : 0;
  return 0;
}

/* libcurl and the two easy handles (the token one only with OAuth). 0, or
 * -1 with a message. */
static int setup_curl(wk_forwarder *f, const wk_config *cfg, char *err,
                      size_t errlen) {
  f->resp = ddas_calloc(1, sizeof(*f->resp));
  if(!f->resp)
    goto nomem;
  if(curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    set_err(err, errlen, "cannot initialise libcurl");
    return -1;
  }
  f->curl_global = 1;
  f->curl = curl_easy_init();
  f->tcurl = f->token_url ? curl_easy_init() : NULL;
  if(!f->curl || (f->token_url && !f->tcurl))
    goto nomem;
  if(setup_handle(f, f->curl, cfg) ||
     (f->tcurl && setup_handle(f, f->tcurl, cfg))) {
    set_err(err, errlen,
            "libcurl lacks a required feature (HTTPS with OpenSSL, TLS "
            "1.2)");
    return -1;
  }
  return 0;
nomem:
  set_err(err, errlen, "out of memory");
  return -1;
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
    f->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ mono_ms();
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
  set_logging(f, cfg);
  if(ddas_sig_profile_parse(
         empty(cfg->sign_profile) ? "adr" : cfg->sign_profile, &f->profile)) {
    set_err(err, errlen,
            "sign.profile: unknown signature profile '%s' (use adr or body)",
            cfg->sign_profile);
    goto fail;
  }
  if(empty(cfg->cbs_url)) {
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
  if(!outbox && setup_curl(f, cfg, err, errlen))
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
  if(f->curl)
    curl_easy_cleanup(f->curl);
  if(f->tcurl)
    curl_easy_cleanup(f->tcurl);
  if(f->curl_global)
    curl_global_cleanup();
  if(f->resp) {
    OPENSSL_cleanse(f->resp, sizeof(*f->resp));
    ddas_free(f->resp);
  }
  if(f->outbox_fd >= 0)
    close(f->outbox_fd);
  ddas_signer_free(f->signer);
  drop_token(f);
  free_secret(f->client_secret);
  ddas_free(f->client_id);
  ddas_free(f->token_url);
  ddas_free(f->scope);
  ddas_free(f->url);
  for(i = 0; i < f->nhdr; i++) {
    free_secret(f->hdr_lines[i]); /* a grant hash is close to a secret */
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

void wk_send_result_clear(wk_send_result *r) {
  size_t i;
  if(!r)
    return;
  ddas_free(r->signature);
  ddas_free(r->problem);
  for(i = 0; i < r->nlog && i < WK_MAX_ATTEMPT_LOG; i++) {
    free_const(r->log[i].time);
    free_const(r->log[i].error);
  }
  memset(r, 0, sizeof(*r));
}

/* Records one attempt in r->log. When the log is full the second entry
 * gives way, so that the first and the latest attempts are kept. Out of
 * memory only loses the entry, never the outcome. */
static void add_log(wk_send_result *r, const char *when, int status,
                    const char *error) {
  char *t = ddas_strdup(when), *e = NULL;
  if(!empty(error))
    e = ddas_strdup(error);
  if(!t || (!empty(error) && !e)) {
    ddas_free(t);
    ddas_free(e);
    return;
  }
  if(r->nlog == WK_MAX_ATTEMPT_LOG) {
    free_const(r->log[1].time);
    free_const(r->log[1].error);
    memmove(&r->log[1], &r->log[2],
            (WK_MAX_ATTEMPT_LOG - 2) * sizeof(r->log[0]));
    r->nlog--;
  }
  r->log[r->nlog].time = t;
  r->log[r->nlog].http_status = status;
  r->log[r->nlog].error = e;
  r->nlog++;
}

/* The batch was not finished because a stop was requested. */
static int abandon(wk_send_result *r) {
  r->outcome = DDAS_OUT_TRANSIENT;
  snprintf(r->last_error, sizeof(r->last_error), "abandoned: shutting down");
  return -2;
}

/* Checks the arguments and fixes the Digest and signature of the batch in
 * r (and *iat, 0 for a replay). 0, or -1 with r->last_error set. */
static int prepare(wk_forwarder *f, const char *batch_id, const void *body,
                   size_t len, const char *digest, const char *signature,
                   wk_send_result *r, int64_t *iat) {
  ddas_result dr;
  if(!f || (!body && len)) {
    snprintf(r->last_error, sizeof(r->last_error), "invalid arguments");
    return -1;
  }
  if(!valid_batch_id(batch_id)) {
    snprintf(r->last_error, sizeof(r->last_error),
             "invalid batch id (1 to %d letters, digits, '-' or '_')",
             WK_BATCH_ID_MAX);
    return -1;
  }
  /* Digest, signature (iat of the first attempt) and Idempotency-Key are
   * fixed here: every retry sends the same bytes and headers. */
  *iat = (int64_t)time(NULL);
  if(ddas_digest_header(body, len, r->digest, sizeof(r->digest))) {
    snprintf(r->last_error, sizeof(r->last_error), "cannot compute Digest");
    return -1;
  }
  if(digest && strcmp(digest, r->digest) != 0) {
    snprintf(r->last_error, sizeof(r->last_error),
             "the recorded Digest does not match the body");
    return -1;
  }
  if(signature) {
    /* a replay: the exact signature sent before (its iat is in it) */
    r->signature = ddas_strdup(signature);
    if(!r->signature) {
      snprintf(r->last_error, sizeof(r->last_error), "out of memory");
      return -1;
    }
    *iat = 0;
  } else {
    dr = ddas_sign(f->signer, f->profile, body, len, *iat, &r->signature);
    if(dr) {
      snprintf(r->last_error, sizeof(r->last_error), "cannot sign: %s",
               ddas_result_str(dr));
      return -1;
    }
  }
  return 0;
}

/* One attempt at the sink, recorded in r (attempts, status, log, outcome,
 * last_error) and in *t. 0, -1 on a local failure (r->last_error says), or
 * -2 when a stop was requested during it. */
static int attempt(wk_forwarder *f, const char *batch_id, const void *body,
                   size_t len, int64_t iat, wk_send_result *r, wk_try *t) {
  char when[40];
  memset(t, 0, sizeof(*t));
  t->retry_after_s = -1;
  now_rfc3339(when, sizeof(when));
  if(f->outbox ? try_outbox(f, batch_id, body, len, r, iat, t)
               : try_http(f, batch_id, body, len, r, t)) {
    if(stopped(f))
      return abandon(r);
    snprintf(r->last_error, sizeof(r->last_error), "%s", t->error);
    return -1;
  }
  r->attempts++;
  if(!t->from_token)
    r->http_status = t->status;
  add_log(r, when, t->status,
          t->outcome == DDAS_OUT_FORWARDED ? NULL : t->error);
  r->outcome = t->outcome;
  snprintf(r->last_error, sizeof(r->last_error), "%s", t->error);
  return 0;
}

/* What the retry loop does after an attempt. */
typedef enum { AFTER_DONE, AFTER_AGAIN_NOW, AFTER_TRANSIENT } after_try;

/* Settles the outcome of attempt t: a final one (forwarded, refused,
 * configuration fault) is counted and logged; a refused token is dropped
 * for one retry at once (outside the retry budget); a transient one is
 * left to the caller's backoff. */
static after_try settle(wk_forwarder *f, const char *batch_id,
                        wk_send_result *r, const wk_try *t, int *auth_retried) {
  const char *oname = ddas_outcome_name(t->outcome);
  switch(t->outcome) {
  case DDAS_OUT_FORWARDED:
    f->stats.forwarded++;
    wk_log(f, LV_INFO, "batch forwarded", batch_id, r->attempts,
           f->outbox ? -1 : t->status, oname, t->error, -1);
    return AFTER_DONE;
  case DDAS_OUT_REFUSED:
    if(f->resp && f->resp->len) {
      r->problem = ddas_strndup(f->resp->body, f->resp->len);
      /* without memory the batch is parked without the details */
    }
    f->stats.refused++;
    f->stats.parked++;
    wk_log(f, LV_WARN, "batch refused", batch_id, r->attempts, t->status, oname,
           t->error, -1);
    return AFTER_DONE;
  case DDAS_OUT_AUTH:
    if(f->token_url && !*auth_retried) {
      /* one fresh token and one retry, outside the retry budget */
      *auth_retried = 1;
      drop_token(f);
      wk_log(f, LV_WARN, "token refused, retrying with a fresh token", batch_id,
             r->attempts, t->status, oname, t->error, 0);
      return AFTER_AGAIN_NOW;
    }
    r->outcome = DDAS_OUT_CONFIG_FAULT;
    if(!f->token_url) {
      size_t n = strlen(r->last_error);
      snprintf(r->last_error + n, sizeof(r->last_error) - n,
               " (no cbs.token_url configured)");
    }
    /* fall through */
  case DDAS_OUT_CONFIG_FAULT:
    f->stats.config_faults++;
    f->stats.parked++;
    wk_log(f, LV_ERROR, "configuration fault", batch_id, r->attempts, t->status,
           ddas_outcome_name(DDAS_OUT_CONFIG_FAULT), r->last_error, -1);
    return AFTER_DONE;
  case DDAS_OUT_TRANSIENT: break;
  }
  return AFTER_TRANSIENT;
}

/* Counts the reason for retrying after the transient attempt t. */
static void count_retry(wk_forwarder *f, const wk_try *t) {
  int why;
  f->stats.transient_retries++;
  if(!f->metrics)
    return;
  why = t->status == 408                   ? WK_RETRY_HTTP_408
        : t->status == 425                 ? WK_RETRY_HTTP_425
        : t->status == 429                 ? WK_RETRY_HTTP_429
        : t->status >= 500                 ? WK_RETRY_HTTP_5XX
        : t->from_token                    ? WK_RETRY_TOKEN
        : !strncmp(t->error, "TLS", 3)     ? WK_RETRY_TLS
        : !strncmp(t->error, "timeout", 7) ? WK_RETRY_TIMEOUT
                                           : WK_RETRY_CONNECTION;
  atomic_fetch_add(&f->metrics->retries[why], 1);
}

/* After the `counted`-th transient attempt t (the batch's first attempt at
 * t0): waits the backoff when the policy allows another attempt. 0 after
 * the wait, 1 when retries are exhausted (the batch is parked), -1 when a
 * stop was requested during the wait. */
static int backoff(wk_forwarder *f, const char *batch_id,
                   const wk_send_result *r, const wk_try *t, unsigned counted,
                   uint64_t t0) {
  const char *oname = ddas_outcome_name(t->outcome);
  uint64_t delay = ddas_backoff_ms(counted, f->base_ms, f->max_ms,
                                   t->retry_after_s, next_rnd(f));
  uint64_t elapsed = mono_ms() - t0;
  if(!ddas_retry_allowed(&f->policy, counted, elapsed, delay)) {
    f->stats.parked++;
    wk_log(f, LV_ERROR, "batch not delivered, retries exhausted", batch_id,
           r->attempts, t->status, oname, t->error, -1);
    return 1;
  }
  wk_log(f, LV_WARN, "batch attempt failed", batch_id, r->attempts, t->status,
         oname, t->error, (long long)delay);
  count_retry(f, t);
  return sleep_ms(f, delay) ? -1 : 0;
}

static int send_impl(wk_forwarder *f, const char *batch_id, const void *body,
                     size_t len, const char *digest, const char *signature,
                     wk_send_result *r) {
  int64_t iat;
  uint64_t t0;
  unsigned counted = 0; /* attempts that use the retry budget */
  int auth_retried = 0;
  if(!r)
    return -1;
  memset(r, 0, sizeof(*r));
  r->outcome = DDAS_OUT_TRANSIENT;
  if(prepare(f, batch_id, body, len, digest, signature, r, &iat))
    return -1;
  t0 = mono_ms();
  for(;;) {
    wk_try t;
    int rc;
    if(stopped(f))
      return abandon(r);
    if((rc = attempt(f, batch_id, body, len, iat, r, &t)))
      return rc;
    switch(settle(f, batch_id, r, &t, &auth_retried)) {
    case AFTER_DONE: return 0;
    case AFTER_AGAIN_NOW: continue;
    case AFTER_TRANSIENT: break;
    }
    /* transient: wait and try again while the policy allows it */
    counted++;
    rc = backoff(f, batch_id, r, &t, counted, t0);
    if(rc > 0)
      return 0;
    if(rc < 0)
      return abandon(r);
  }
}

int wk_forwarder_send(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, wk_send_result *r) {
  return send_impl(f, batch_id, body, len, NULL, NULL, r);
}

int wk_forwarder_send_signed(wk_forwarder *f, const char *batch_id,
                             const void *body, size_t len, const char *digest,
                             const char *signature, wk_send_result *r) {
  if(!digest || !signature) {
    if(r) {
      memset(r, 0, sizeof(*r));
      snprintf(r->last_error, sizeof(r->last_error), "invalid arguments");
    }
    return -1;
  }
  return send_impl(f, batch_id, body, len, digest, signature, r);
}

void wk_forwarder_stats(const wk_forwarder *f, wk_forward_stats *out) {
  if(!out)
    return;
  if(f)
    *out = f->stats;
  else
    memset(out, 0, sizeof(*out));
}
