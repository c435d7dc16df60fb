/* worker/kafka.h: Kafka plumbing shared by run, submit and replay: the
 * embedded cluster, configuration pass-through, an idempotent producer
 * whose acknowledgements are counted, header access, and reading a whole
 * topic. */
#ifndef WK_KAFKA_H
#define WK_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ddas/events.h"

/* kafka.bootstrap.servers, or NULL. */
const char *wk_kafka_bootstrap(const wk_config *c);
/* 1 when kafka.bootstrap.servers = embedded. */
int wk_kafka_is_embedded(const wk_config *c);

/* librdkafka's mock cluster in this process (3 brokers on loopback TCP) with
 * the five topics of the configuration, `partitions` each. */
typedef struct {
  rd_kafka_t *rk;
  struct rd_kafka_mock_cluster_s *mc;
  char bootstrap[512];
} wk_embedded;
int wk_embedded_start(const wk_config *c, int partitions, wk_embedded *e,
                      char *err, size_t errlen);
void wk_embedded_stop(wk_embedded *e);

/* Applies every kafka.* key to conf, with bootstrap.servers = bootstrap,
 * after routing librdkafka's log into the worker's (wk_kafka_logging). */
int wk_kafka_conf(const wk_config *c, const char *bootstrap,
                  rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Routes librdkafka's log lines into the worker's log (log.h: event
 * "librdkafka", fields facility, client, message; syslog levels 0-3 error,
 * 4 warn, 5-6 info, 7 debug; log_level follows log.level) and its errors
 * to wk_kafka_error. A caller may set its own error callback afterwards
 * (calling wk_kafka_error itself). */
void wk_kafka_logging(rd_kafka_conf_t *conf);

/* What an error from librdkafka's error callback is. */
typedef enum {
  WK_KAFKA_ERR_OTHER,       /* logged at debug: librdkafka's line says it */
  WK_KAFKA_ERR_UNREACHABLE, /* every broker is down or unknown */
  WK_KAFKA_ERR_AUTH,        /* SASL or TLS authentication failed */
  WK_KAFKA_ERR_FATAL        /* the client cannot go on */
} wk_kafka_err;

/* Classifies err and logs it as the worker's own event: kafka.unreachable
 * (with the bootstrap servers), kafka.auth_failed (TLS or SASL) and
 * kafka.fatal at error level, each with what to check. */
wk_kafka_err wk_kafka_error(rd_kafka_t *rk, int err, const char *reason);

/* An idempotent producer (acks=all); `failed` counts events Kafka did not
 * acknowledge since the last flush. */
typedef struct {
  rd_kafka_t *rk;
  unsigned long produced, acked, failed;
  char last_error[256];
  int unreachable; /* no broker answered since the last acknowledgement */
  /* Counts produce errors and bytes acknowledged, and the broker state
   * (kafka_down); NULL: none. Set after wk_producer_new; borrowed. */
  wk_metrics *metrics;
  /* Called from rd_kafka_poll/flush on the thread that polls, for each
   * message produced with a non-NULL opaque (wk_produce_opaque): failed is
   * 1 when Kafka did not acknowledge it. NULL: none. */
  void (*on_ack)(void *ctx, void *opaque, int failed);
  void *ack_ctx;
} wk_producer;

int wk_producer_new(const wk_config *c, const char *bootstrap, wk_producer *p,
                    char *err, size_t errlen);
/* As wk_producer_new with Kafka's message.timeout.ms (an unacknowledged
 * message fails after that long; wk_producer_new: 120 s). */
int wk_producer_open(const wk_config *c, const char *bootstrap,
                     long message_timeout_ms, wk_producer *p, char *err,
                     size_t errlen);
/* Queues one message (copied). 0, or -1 when it could not be queued. */
int wk_produce(wk_producer *p, const char *topic, const char *key,
               const ddas_kv *headers, size_t nheaders, const void *body,
               size_t len);
int wk_produce_event(wk_producer *p, const char *topic, const ddas_event *e);
/* As wk_produce_event; `opaque` comes back to p->on_ack. When queueing
 * fails (-1) on_ack is not called. */
int wk_produce_opaque(wk_producer *p, const char *topic, const ddas_event *e,
                      void *opaque);
/* As wk_produce_opaque with e's key and headers and value[0..len) as the
 * message's value instead of e's body (a batch body, not copied into the
 * event first; librdkafka copies it). */
int wk_produce_value(wk_producer *p, const char *topic, const ddas_event *e,
                     const void *value, size_t len, void *opaque);
/* Waits until every queued message is acknowledged; -1 when one was not
 * (then the outcomes are not durable and offsets must not move), with a
 * message that says when no broker answered. */
int wk_producer_flush(wk_producer *p, int timeout_ms, char *err, size_t errlen);
void wk_producer_close(wk_producer *p);

/* The last value of header `name` as a string in buf, or NULL. */
const char *wk_header(rd_kafka_message_t *m, const char *name, char *buf,
                      size_t cap);

/* A consumer for wk_read_all: manual assignment only, nothing committed.
 * group.id is "<group.id>-<suffix>" only because librdkafka's consumer
 * poll needs one; the reader never subscribes or commits, so it joins no
 * group and moves no offsets. NULL with a message in err. */
rd_kafka_t *wk_reader_new(const wk_config *c, const char *suffix, char *err,
                          size_t errlen);

/* Copies up to cap headers of m into kv (names borrowed from m, values
 * malloc'd and NUL-terminated); returns how many. Release the values with
 * wk_headers_free(kv, n). */
size_t wk_headers_kv(rd_kafka_message_t *m, ddas_kv *kv, size_t cap);
void wk_headers_free(ddas_kv *kv, size_t n);

/* Reads every message of `topic` from the beginning to the end it has now
 * with the consumer rk (manual assignment, no group offsets), calling cb
 * for each. 0, or -1 with a message. */
int wk_read_all(rd_kafka_t *rk, const char *topic,
                int (*cb)(void *ctx, rd_kafka_message_t *m), void *ctx,
                int timeout_ms, char *err, size_t errlen);

#endif
