/* worker/admin.h: the admin HTTP endpoint and the metrics it serves.
 *
 * GET /metrics (Prometheus text exposition format 0.0.4), GET /healthz (the
 * process is alive), GET /readyz (assigned partitions, not stalled by a
 * configuration fault, CBS reachable recently). Plain HTTP for a local
 * scraper or probe: bind it to loopback or a cluster-internal address.
 *
 * The worker's main thread updates the metrics (atomics); the admin thread
 * only reads them. No label carries personal data or an unbounded value:
 * labels are rule ids, normalisation ids, reasons from a fixed list and
 * partition numbers. */
#ifndef WK_ADMIN_H
#define WK_ADMIN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ddas/rules.h"

#define WK_MAX_LAG_PARTITIONS 256
#define WK_LATENCY_BUCKETS 10

/* Reasons a batch attempt is retried. */
enum {
  WK_RETRY_HTTP_408,
  WK_RETRY_HTTP_425,
  WK_RETRY_HTTP_429,
  WK_RETRY_HTTP_5XX,
  WK_RETRY_CONNECTION,
  WK_RETRY_TLS,
  WK_RETRY_TIMEOUT,
  WK_RETRY_TOKEN,
  WK_RETRY_REASONS
};

typedef struct {
  atomic_ullong records_consumed; /* Kafka messages handled */
  atomic_ullong deliveries_processed, deliveries_incomplete;
  atomic_ullong trajecten_accepted, trajecten_rejected, trajecten_warned;
  atomic_ullong rejected_by_rule[DDAS_MAX_RULES + 1];
  atomic_ullong warnings_by_rule[DDAS_MAX_RULES + 1];
  atomic_ullong normalised[6];
  atomic_ullong batches_built, batches_forwarded, batches_parked,
      batches_replayed;
  atomic_ullong retries[WK_RETRY_REASONS];
  atomic_ullong latency_bucket[WK_LATENCY_BUCKETS + 1]; /* cumulative le */
  atomic_ullong latency_count;
  atomic_ullong latency_sum_us;
  atomic_ullong token_refreshes;
  atomic_llong inflight_bytes;
  atomic_int paused_partitions;
  atomic_llong lag[WK_MAX_LAG_PARTITIONS]; /* -1: not assigned */
  atomic_llong last_forward_unix;
  atomic_int assigned;    /* has an assignment (joined the group) */
  atomic_int stalled;     /* stopped by a configuration fault */
  atomic_int cbs_failing; /* the last batch outcome was a transient park */
} wk_metrics;

/* Upper bounds (seconds) of the latency buckets. */
extern const double wk_latency_bounds[WK_LATENCY_BUCKETS];

void wk_metrics_init(wk_metrics *m);
/* Records one CBS request that took `seconds`. */
void wk_metrics_latency(wk_metrics *m, double seconds);
/* 1 when the worker should receive traffic (see the file comment). */
int wk_metrics_ready(const wk_metrics *m);
/* Writes the exposition text. */
void wk_metrics_render(const wk_metrics *m, FILE *out);

typedef struct wk_admin wk_admin;

/* Starts the endpoint on "HOST:PORT" (port 0: any free port, see
 * wk_admin_port). 0, or -1 with a message. */
int wk_admin_start(const char *listen, const wk_metrics *m, wk_admin **out,
                   char *err, size_t errlen);
int wk_admin_port(const wk_admin *a);
void wk_admin_stop(wk_admin *a);

#endif
