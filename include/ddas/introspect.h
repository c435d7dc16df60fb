/* ddas/introspect.h: OAuth 2.0 token introspection (RFC 7662) decisions
 * for `ddas-worker serve`: what an introspection response says about a
 * bearer token at a given time, and how long that answer may be reused.
 *
 * Pure: bytes and the time in, a verdict out. The worker's client
 * (worker/introspect.h) does the HTTP call and keeps the cache. */
#ifndef DDAS_INTROSPECT_H
#define DDAS_INTROSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/result.h"

/* Seconds a negative answer (inactive, expired, scope missing) is kept, so
 * that a client retrying a bad token does not reach the endpoint at every
 * request, while a token activated meanwhile is accepted soon. */
#define DDAS_INTROSPECT_NEGATIVE_TTL 10
/* Limits of what the parser accepts. */
#define DDAS_INTROSPECT_MAX_BODY 65536
#define DDAS_INTROSPECT_MAX_CLIENT_ID 127

typedef enum {
  DDAS_TOKEN_OK = 0,     /* active, not expired, has the required scope */
  DDAS_TOKEN_MISSING,    /* no bearer token in the request */
  DDAS_TOKEN_INVALID,    /* inactive, or the required scope is missing */
  DDAS_TOKEN_EXPIRED,    /* active but exp <= now */
  DDAS_TOKEN_UNAVAILABLE /* no usable answer from the endpoint */
} ddas_token_verdict;

typedef struct {
  int active;   /* "active" (required, boolean) */
  int expired;  /* "exp" present and exp <= now */
  int64_t exp;  /* "exp" (NumericDate, seconds); 0 when absent */
  int scope_ok; /* the required scope is one of the space-separated
                   "scope" values (1 when no scope is required) */
  char client_id[DDAS_INTROSPECT_MAX_CLIENT_ID + 1]; /* "" when absent,
                     not a string, or longer than the limit */
} ddas_introspection;

/* Parses an introspection response body at time `now` (Unix seconds)
 * against `required_scope` (NULL or "": none). Returns DDAS_OK with *out
 * set; DDAS_ERR_SYNTAX when the body is not a JSON object, "active" is
 * missing or not a boolean, or "exp"/"scope" have the wrong type (err says
 * which member, as a JSON Pointer); DDAS_ERR_LIMIT above
 * DDAS_INTROSPECT_MAX_BODY bytes; DDAS_ERR_NOMEM. *out is zeroed on
 * failure. An inactive answer sets only active = 0 (RFC 7662 2.2: the
 * other members carry no meaning then). err may be NULL. */
ddas_result ddas_introspect_parse(const char *body, size_t len, int64_t now,
                                  const char *required_scope,
                                  ddas_introspection *out, char *err,
                                  size_t errlen);

/* The verdict of a parsed answer: OK, INVALID or EXPIRED. */
ddas_token_verdict ddas_introspect_verdict(const ddas_introspection *i);

/* How many seconds the verdict `v` about token `i` may be reused from
 * `now`, with `ttl` the configured cache time: OK min(exp - now, ttl)
 * (ttl without exp); INVALID and EXPIRED min(DDAS_INTROSPECT_NEGATIVE_TTL,
 * ttl); MISSING and UNAVAILABLE 0 (never cached). Never negative; ttl <= 0
 * turns caching off. */
int64_t ddas_introspect_cache_seconds(ddas_token_verdict v,
                                      const ddas_introspection *i, int64_t now,
                                      int64_t ttl);

/* The bearer token of an Authorization header value ("Bearer" in any case,
 * one or more spaces, a b64token of RFC 6750 2.1: letters, digits and
 * "-._~+/" followed by optional '='). Returns a pointer into `authorization`
 * and its length in *len, or NULL (no header, another scheme, malformed). */
const char *ddas_bearer_token(const char *authorization, size_t *len);

/* The Retry-After to suggest (seconds, 1..300) when the introspection
 * endpoint is unavailable: its own Retry-After (ddas_retry_after format)
 * when it sent one in range, else 5. `retry_after` may be NULL. */
long ddas_introspect_retry_after(const char *retry_after, int64_t now);

#endif
