/* worker/introspect.h: the RFC 7662 token introspection client of
 * `ddas-worker serve`, with a cache.
 *
 * Each check of a token not in the cache POSTs "token=<token>&
 * token_type_hint=access_token" (application/x-www-form-urlencoded) to the
 * introspection endpoint with HTTP Basic client authentication (id and
 * secret form-encoded first, RFC 6749 2.3.1), optionally with a client
 * certificate, over HTTPS only (TLS >= 1.2, peer and host verified) unless
 * allow_insecure_http. The decision is the core's (ddas/introspect.h).
 *
 * Cache: keyed by the SHA-256 of the token; the token itself is never
 * stored or logged. Positive answers are kept min(exp - now, cache_ttl_s),
 * negative ones DDAS_INTROSPECT_NEGATIVE_TTL seconds (at most cache_ttl_s),
 * unavailability never. At most cache_max entries: a full cache replaces
 * an expired entry, else the one that expires first.
 *
 * Thread-safe: any number of threads may call wk_introspect_check() at
 * once (the cache is under a mutex; the HTTP call runs outside it, so two
 * threads missing on the same token may both ask the endpoint). */
#ifndef WK_INTROSPECT_H
#define WK_INTROSPECT_H

#include <stddef.h>

#include "ddas/introspect.h"

typedef struct {
  const char *url;            /* the introspection endpoint (required) */
  const char *ca;             /* PEM trust anchors; NULL: the system's */
  const char *cert, *key;     /* optional client certificate (mTLS) */
  const char *key_passphrase; /* NULL: the key is not encrypted */
  const char *client_id, *client_secret; /* HTTP Basic (required) */
  long timeout_ms;                       /* whole request; 0: 5000 */
  long cache_ttl_s;                      /* 0: 60; negative: no cache */
  size_t cache_max;                      /* entries; 0: 4096 */
  const char *required_scope;            /* NULL or "": any scope */
  int allow_insecure_http;               /* allow an http:// url (tests only) */
} wk_introspect_options;

typedef struct wk_introspect wk_introspect;

typedef struct {
  ddas_token_verdict verdict;
  long retry_after_s; /* UNAVAILABLE: the Retry-After to answer 503 with */
  char client_id[DDAS_INTROSPECT_MAX_CLIENT_ID + 1]; /* OK: the token's
                         client_id ("" when the endpoint gave none) */
} wk_token_verdict;

/* Copies the options (the strings too). Returns 0 with *out owned by the
 * caller (wk_introspect_free), or -1 with *out NULL and err saying what is
 * wrong (no url, an http:// url without allow_insecure_http, no client id
 * or secret, out of memory). */
int wk_introspect_new(const wk_introspect_options *o, wk_introspect **out,
                      char *err, size_t errlen);
void wk_introspect_free(wk_introspect *c);

/* The verdict about `bearer_token` (the token alone, e.g. from
 * ddas_bearer_token(); NULL or "": MISSING) into *out. Blocks for at most
 * timeout_ms on a cache miss. */
void wk_introspect_check(wk_introspect *c, const char *bearer_token,
                         wk_token_verdict *out);

/* Requests made to the endpoint so far (cache misses). */
unsigned long wk_introspect_calls(const wk_introspect *c);

#endif
