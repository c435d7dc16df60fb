/* worker/admin.h: the admin HTTP endpoint and the metrics it serves.
 *
 * GET or HEAD /metrics (Prometheus text exposition format 0.0.4), /healthz
 * (the process is alive), /readyz (assigned partitions, Kafka reachable,
 * not stalled by a configuration fault, CBS reachable recently); a query
 * string is ignored (`/metrics?x=1` is /metrics). Served by libmicrohttpd
 * from one thread that multiplexes every connection (epoll): an idle or
 * slow client never holds up a probe; a connection idle for 10 s is
 * closed, at most 64 are open at once. Plain HTTP for a local scraper or
 * probe: bind it to loopback or a cluster-internal address.
 *
 * The worker's threads update the metrics (atomics); the admin thread only
 * reads them. Names follow the Prometheus conventions (base units in the
 * name, `_total` for counters). No label carries personal data or an
 * unbounded value: labels are rule ids, normalisation ids, reasons from a
 * fixed list, record kinds, HTTP status codes, the input topic's name and
 * partition numbers. */
#ifndef WK_ADMIN_H
#define WK_ADMIN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ddas/detect.h"
#include "ddas/rules.h"

#define WK_MAX_LAG_PARTITIONS 256
/* Histogram buckets at most (wk_metrics_set_timeout picks them). */
#define WK_LATENCY_BUCKETS 18
/* HTTP status codes counted one by one (100..599); others count as 0. */
#define WK_HTTP_CODES 600

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

/* Record kinds, indexed by ddas_kind (unknown, shv, vs). */
#define WK_KINDS 3

typedef struct {
  atomic_ullong messages_consumed; /* Kafka messages (deliveries, chunks) */
  atomic_ullong consumed_bytes;    /* their values' bytes */
  /* records (trajecten of SHV, vroegsignalen of VS) by ddas_kind */
  atomic_ullong records_consumed[WK_KINDS];
  atomic_ullong records_accepted[WK_KINDS], records_rejected[WK_KINDS],
      records_warned[WK_KINDS];
  atomic_ullong deliveries_processed, deliveries_incomplete;
  atomic_ullong rejected_by_rule[DDAS_MAX_RULES + 1];
  atomic_ullong warnings_by_rule[DDAS_MAX_RULES + 1];
  atomic_ullong normalised[6];
  atomic_ullong batches_built, batches_forwarded, batches_parked,
      batches_replayed;
  atomic_ullong retries[WK_RETRY_REASONS];
  atomic_ullong cbs_responses[WK_HTTP_CODES]; /* [0]: no response */
  atomic_ullong cbs_sent_bytes; /* batch bodies of requests CBS answered */
  double latency_bounds[WK_LATENCY_BUCKETS]; /* seconds, ascending */
  size_t nbuckets;
  atomic_ullong latency_bucket[WK_LATENCY_BUCKETS + 1]; /* cumulative le */
  atomic_ullong latency_count;
  atomic_ullong latency_sum_us;
  atomic_ullong token_refreshes;
  atomic_ullong produced_bytes; /* event values Kafka acknowledged */
  atomic_ullong produce_errors; /* events Kafka refused or never took */
  atomic_llong inflight_bytes;  /* batches not yet durable + open chunks */
  atomic_int paused_partitions;
  const char *lag_topic;                   /* borrowed; NULL: no lag */
  atomic_llong lag[WK_MAX_LAG_PARTITIONS]; /* -1: not assigned */
  atomic_llong last_forward_unix;
  atomic_int assigned;    /* has an assignment (joined the group) */
  atomic_int kafka_down;  /* librdkafka said every broker is down */
  atomic_int stalled;     /* stopped by a configuration fault */
  atomic_int cbs_failing; /* the last batch outcome was a transient park */
} wk_metrics;

/* Zeroes m, every lag unassigned, buckets for a 120-s request timeout. */
void wk_metrics_init(wk_metrics *m);
/* Histogram buckets from 5 ms up to cbs.timeout_ms (the last bucket is the
 * timeout itself), so that slow requests stay measurable. Before any
 * wk_metrics_latency. */
void wk_metrics_set_timeout(wk_metrics *m, long timeout_ms);
/* Records one CBS request that took `seconds`. Thread-safe. */
void wk_metrics_latency(wk_metrics *m, double seconds);
/* Counts one CBS response with HTTP `status` (0: none: connection, TLS,
 * timeout). Thread-safe. */
void wk_metrics_response(wk_metrics *m, int status);
/* 1 when the worker should receive traffic (see the file comment). */
int wk_metrics_ready(const wk_metrics *m);
/* Writes the exposition text. */
void wk_metrics_render(const wk_metrics *m, FILE *out);

typedef struct wk_admin wk_admin;

/* Starts the endpoint on "HOST:PORT" (IPv4, or [IPv6]:PORT; port 0: any
 * free port, see wk_admin_port). m is borrowed and must outlive the
 * endpoint. 0, or -1 with a message. */
int wk_admin_start(const char *listen, const wk_metrics *m, wk_admin **out,
                   char *err, size_t errlen);
int wk_admin_port(const wk_admin *a);
/* Stops serving and frees a (NULL: nothing). */
void wk_admin_stop(wk_admin *a);

#endif
