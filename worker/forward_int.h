/* worker/forward_int.h: what the two halves of the forwarder share.
 *
 * forward.c prepares a forwarder (configuration checks, the signer, OAuth
 * settings, extra headers, the outbox) and writes the outbox; transfer.c
 * moves batches: libcurl's multi interface, the token endpoint, attempts,
 * retries as timers. Nothing outside these two files includes this. */
#ifndef WK_FORWARD_INT_H
#define WK_FORWARD_INT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "ddas/alloc.h"
#include "ddas/exchange.h"
#include "ddas/sign.h"
#include "forward.h"

#define WK_RESP_MAX 16384 /* bytes of a response body kept */
#define WK_TOKEN_MAX 8192 /* bytes of an access token accepted */
#define WK_BATCH_ID_MAX 128

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

/* The token request in flight: what must live until it completes. */
typedef struct {
  CURL *h;
  int busy;
  char *form, *uid, *secret; /* wiped when done */
  size_t flen;
  struct curl_slist *hdrs;
  wk_resp resp;
  char errbuf[CURL_ERROR_SIZE];
} wk_token_req;

struct wk_forwarder {
  int outbox;    /* 1: cbs.url is file:///DIR */
  int outbox_fd; /* the outbox directory, -1 when none */
  char *url;     /* cbs.url */
  /* libcurl: one multi handle for every transfer (its connection cache
   * keeps TLS connections, HTTP/2 streams share one), a template handle
   * with the TLS options that each batch handle is duplicated from, and
   * idle batch handles kept for reuse */
  int curl_global; /* curl_global_init succeeded */
  CURLM *multi;
  CURL *tmpl;
  CURL **idle;
  size_t nidle, idle_cap;
  wk_token_req treq;
  ddas_signer *signer;
  ddas_sig_profile profile;
  /* OAuth 2.0 */
  char *token_url, *client_id, *client_secret, *scope;
  int auth_basic;
  long refresh_margin_s;
  char *token;             /* cached access token, NULL when none */
  uint64_t token_until_ms; /* monotonic time until which it is used */
  unsigned token_gen;      /* counts tokens fetched: a 401 drops only the
                              token its request carried */
  /* extra request headers: "Name: value" lines and the names */
  char **hdr_lines, **hdr_names;
  size_t nhdr;
  /* retries */
  ddas_retry_policy policy;
  uint64_t base_ms, max_ms;
  uint64_t rng;
  /* batches begun and not yet taken back (transfer.c) */
  struct wk_xfer *xfers;
  size_t nxfers;
  atomic_int woken; /* wk_forwarder_wakeup was called */
  /* health and metrics */
  wk_forward_stats stats;
  wk_metrics *metrics; /* NULL: none */
  const volatile sig_atomic_t *stop;
};

static inline int wk_fwd_empty(const char *s) { return !s || !*s; }

/* Wipes and frees a secret; NULL is accepted. */
static inline void wk_fwd_free_secret(char *s) {
  if(s) {
    OPENSSL_cleanse(s, strlen(s));
    ddas_free(s);
  }
}

/* RFC 3339 UTC with milliseconds, e.g. "2026-11-29T10:00:00.123Z". */
void wk_fwd_now(char *buf, size_t cap);

/* A uniform number in [0, 1) from f's xorshift64* (jitter, not secrets). */
double wk_fwd_rnd(wk_forwarder *f);

/* One log line of the forwarder through log.h (levels WK_*). batch_id may
 * be NULL; status < 0 and attempt 0 leave the fields out; retry_ms < 0
 * means no retry. */
void wk_fwd_log(const wk_forwarder *f, int level, const char *msg,
                const char *batch_id, unsigned attempt, int status,
                const char *outcome, const char *error, long long retry_ms);

/* One attempt at the outbox (forward.c): 0 with the outcome in t. */
int wk_fwd_try_outbox(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, wk_send_result *r, int64_t iat, wk_try *t);

/* libcurl for an HTTPS forwarder (transfer.c): the multi handle, the
 * template and the token handle. 0, or -1 with a message. */
int wk_fwd_setup_curl(wk_forwarder *f, const wk_config *cfg, char *err,
                      size_t errlen);
/* Aborts every transfer and frees libcurl's part of f (transfer.c). */
void wk_fwd_free_curl(wk_forwarder *f);

#endif
