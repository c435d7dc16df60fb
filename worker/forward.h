/* worker/forward.h: sends signed batches to the CBS endpoint
 * (docs/spec/EXCHANGE.md), or writes them to an outbox directory.
 *
 * HTTPS only (TLS >= 1.2, certificate and host-name verification always
 * on), mutual TLS with the transport certificate, OAuth 2.0 client
 * credentials with a cached token, connection reuse across batches, and
 * the retry policy of the core (ddas/exchange.h). The digest, signature and
 * Idempotency-Key of a batch are computed once: every retry sends identical
 * bytes and headers. Nothing secret (token, client secret, passphrase) is
 * ever logged or put in an error message.
 *
 * Two ways to send: wk_forwarder_send blocks until one batch has an
 * outcome (`send`, `replay`); wk_forwarder_begin / _drive / _take keep many
 * batches in flight at once on libcurl's multi interface (the sender stage
 * of `run`), with retries as due times rather than sleeps. Not thread-safe:
 * one thread drives a forwarder; only wk_forwarder_wakeup may be called
 * from another. */
#ifndef WK_FORWARD_H
#define WK_FORWARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ddas/events.h"
#include "ddas/exchange.h"

typedef struct wk_forwarder wk_forwarder;

/* Checks the configuration and prepares the forwarder: refuses http://
 * unless cbs.allow_insecure_http (then a loud warning on stderr at every
 * start), refuses the same certificate (or key) for signing and transport,
 * an unreadable or mismatched key/certificate pair, an unknown sign profile,
 * a signing or transport certificate (any in its chain file) that is not
 * yet valid or has expired; warns (stderr) about certificates that expire
 * within 30 days. For
 * file:///DIR the outbox must be a writable directory. Returns 0, or -1
 * with a clear message in err (what is wrong and which key to change). */
int wk_forwarder_new(const wk_config *cfg, wk_forwarder **out, char *err,
                     size_t errlen);
void wk_forwarder_free(wk_forwarder *f);

/* `check-config --probe`: token 1 asks cbs.token_url for a token; token 0
 * sends a HEAD request to cbs.url (the TLS handshake with the transport
 * certificate, and any HTTP answer). 0 reached, with what answered in msg;
 * 1 skipped (nothing configured to reach; msg says why); -1 failed, the
 * reason in msg. Nothing secret is put in msg. */
int wk_forwarder_probe(wk_forwarder *f, int token, char *msg, size_t cap);

#define WK_MAX_ATTEMPT_LOG 32

typedef struct {
  ddas_outcome outcome; /* FORWARDED, REFUSED, CONFIG_FAULT or TRANSIENT
                           (retries exhausted); never AUTH */
  int http_status;      /* of the last response, 0 when none */
  unsigned attempts;    /* requests made for the batch (a 401 retry with a
                           fresh token is counted but does not use the
                           retry budget) */
  char digest[64];      /* the Digest header value sent */
  char *signature;      /* the nlgov-adr-payload-sig value sent (owned) */
  char last_error[256]; /* short reason, e.g. "HTTP 503", "connection
                           reset", "TLS: certificate verify failed" */
  char *problem;        /* response body of a 400/422 (problem+json), owned,
                           NULL otherwise; bounded in size */
  ddas_attempt log[WK_MAX_ATTEMPT_LOG]; /* times are owned strings */
  size_t nlog;
} wk_send_result;

void wk_send_result_clear(wk_send_result *r);

/* Sends one batch with `batch_id` as Idempotency-Key, retrying transient
 * failures within the configured attempts and time budget. Blocks until an
 * outcome. `batch_id` is 1 to 128 letters, digits, '-' or '_' (it names
 * files in an outbox). *r is overwritten without being freed: pass a zeroed
 * or cleared result. Returns 0 when an outcome was reached (see
 * r->outcome), -1 on a local failure (invalid arguments, out of memory;
 * r->last_error says), -2 when a stop was requested (wk_forwarder_set_stop)
 * before an outcome: the batch was abandoned, neither forwarded nor to be
 * parked, and its offsets must not move. In every case r must be cleared
 * with wk_send_result_clear. */
int wk_forwarder_send(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, wk_send_result *r);

/* One batch in flight (owned by the forwarder). */
typedef struct wk_xfer wk_xfer;

/* Begins sending a batch; the attempts happen in wk_forwarder_drive. body
 * and *r are borrowed until the batch is taken back with
 * wk_forwarder_take, which then hands back ud. *r is overwritten. Returns
 * the transfer, or NULL out of memory (r->last_error says so). Invalid
 * arguments finish the transfer at once with -1. */
wk_xfer *wk_forwarder_begin(wk_forwarder *f, const char *batch_id,
                            const void *body, size_t len, wk_send_result *r,
                            void *ud);
/* Makes progress for at most wait_ms: starts the attempts that are due
 * (after a token when one is needed), performs the transfers, settles those
 * that finished (retry timers, outcomes). Returns early when a batch
 * finished or wk_forwarder_wakeup was called. */
void wk_forwarder_drive(wk_forwarder *f, int wait_ms);
/* From any thread: makes a running or the next wk_forwarder_drive return. */
void wk_forwarder_wakeup(wk_forwarder *f);
/* Gives up a batch that has not finished: its request is aborted and it
 * finishes with -2 (abandoned). A finished batch keeps its outcome. */
void wk_forwarder_abort(wk_forwarder *f, wk_xfer *x);
/* Takes back one finished batch: returns its rc as wk_forwarder_send's (0,
 * -1 or -2) and its ud; 1 when none has finished. The wk_xfer is freed. */
int wk_forwarder_take(wk_forwarder *f, void **ud);
/* Batches begun and not yet taken back. */
size_t wk_forwarder_pending(const wk_forwarder *f);

/* Makes the forwarder watch *stop (e.g. the daemon's run flag set by a
 * SIGTERM handler; NULL: none): when it becomes non-zero, a running request
 * is aborted and a backoff wait ends, and wk_forwarder_send returns -2.
 * The flag is borrowed and must outlive the forwarder. */
void wk_forwarder_set_stop(wk_forwarder *f, const volatile sig_atomic_t *stop);

/* The same for a batch signed before (replay of a parked batch): sends the
 * recorded Digest and signature unchanged. Fails (-1) when `digest` does
 * not match the body. */
int wk_forwarder_send_signed(wk_forwarder *f, const char *batch_id,
                             const void *body, size_t len, const char *digest,
                             const char *signature, wk_send_result *r);

/* Reports request latency and retry reasons into m (may be NULL). */
void wk_forwarder_set_metrics(wk_forwarder *f, wk_metrics *m);

/* Counters for metrics. */
typedef struct {
  uint64_t requests, forwarded, refused, config_faults, transient_retries,
      parked, token_requests, token_failures;
  uint64_t http2_responses; /* responses that came over HTTP/2 */
} wk_forward_stats;
void wk_forwarder_stats(const wk_forwarder *f, wk_forward_stats *out);

#endif
