/* ddas/exchange.h: what a CBS response means, and when to try again
 * (docs/spec/EXCHANGE.md "Responses and what they mean for a batch").
 *
 * Pure decisions for the forwarder in worker/: the worker measures time and
 * draws random numbers; the core decides. */
#ifndef DDAS_EXCHANGE_H
#define DDAS_EXCHANGE_H

#include <stdint.h>

typedef enum {
  DDAS_OUT_FORWARDED = 0, /* 2xx: accepted */
  DDAS_OUT_REFUSED,       /* 400, 422 and other 4xx: CBS refuses the content;
                             not retried, the batch is parked */
  DDAS_OUT_AUTH,          /* 401: one fresh token and one retry, then a
                             configuration fault */
  DDAS_OUT_CONFIG_FAULT,  /* 403, 404, 405, 3xx: the same for every batch */
  DDAS_OUT_TRANSIENT      /* 408, 425, 429, 5xx, no response (connection,
                             TLS, timeout): retried with backoff */
} ddas_outcome;

/* The outcome of an HTTP status; 0 means no response at all. */
ddas_outcome ddas_classify(int http_status);
/* "forwarded", "refused", "auth", "config-fault", "transient". */
const char *ddas_outcome_name(ddas_outcome o);

/* Parses a Retry-After value (RFC 9110: delay-seconds or an HTTP-date) into
 * seconds from `now` (Unix seconds); a date in the past gives 0. Returns -1
 * when the value is malformed (then it is ignored). */
long ddas_retry_after(const char *value, int64_t now);

/* Exponential backoff with full jitter: a delay drawn uniformly (rnd in
 * [0,1) from the caller) from [0, min(max_ms, base_ms * 2^(attempt-1))],
 * but never less than Retry-After (retry_after_s >= 0) when the server gave
 * one. attempt counts from 1 (the delay after the first failure). */
uint64_t ddas_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms,
                         long retry_after_s, double rnd);

typedef struct {
  unsigned max_attempts; /* attempts in all, including the first */
  uint64_t budget_ms;    /* time from the first attempt until the last may
                            start */
} ddas_retry_policy;

/* 1 when another attempt may be made: fewer than max_attempts made so far
 * and the next one would start within the budget. */
int ddas_retry_allowed(const ddas_retry_policy *p, unsigned attempts_made,
                       uint64_t elapsed_ms, uint64_t next_delay_ms);

#endif
