/* Kafka plumbing for run, submit and replay (see kafka.h). */
#include "kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *wk_kafka_bootstrap(const wk_config *c) {
  size_t i;
  for(i = 0; i < c->nkafka; i++)
    if(strcmp(c->kafka[i].name, "bootstrap.servers") == 0)
      return c->kafka[i].value;
  return NULL;
}

int wk_kafka_is_embedded(const wk_config *c) {
  const char *b = wk_kafka_bootstrap(c);
  return b && strcmp(b, "embedded") == 0;
}

int wk_embedded_start(const wk_config *c, int partitions, wk_embedded *e,
                      char *err, size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *topics[5];
  int i;
  memset(e, 0, sizeof(*e));
  wk_kafka_logging(conf);
  /* the cluster's host client has no brokers of its own: not a warning */
  rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
  e->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
  if(!e->rk)
    return -1;
  e->mc = rd_kafka_mock_cluster_new(e->rk, 3);
  if(!e->mc) {
    snprintf(err, errlen, "cannot start the embedded Kafka cluster");
    rd_kafka_destroy(e->rk);
    e->rk = NULL;
    return -1;
  }
  topics[0] = c->topic_deliveries;
  topics[1] = c->topic_rejections;
  topics[2] = c->topic_receipts;
  topics[3] = c->topic_failed;
  topics[4] = c->topic_accepted;
  for(i = 0; i < 5; i++)
    rd_kafka_mock_topic_create(e->mc, topics[i], partitions, 3);
  snprintf(e->bootstrap, sizeof(e->bootstrap), "%s",
           rd_kafka_mock_cluster_bootstraps(e->mc));
  return 0;
}

void wk_embedded_stop(wk_embedded *e) {
  if(e->mc)
    rd_kafka_mock_cluster_destroy(e->mc);
  if(e->rk)
    rd_kafka_destroy(e->rk);
  memset(e, 0, sizeof(*e));
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  int lv = level <= 3   ? WK_ERROR
           : level == 4 ? WK_WARN
           : level <= 6 ? WK_INFO
                        : WK_DEBUG;
  WK_LOG(lv, "librdkafka", WK_STR("facility", fac),
         WK_STR("client", rk ? rd_kafka_name(rk) : NULL),
         WK_STR("message", buf));
}

/* bootstrap.servers of rk's configuration, or "?". */
static const char *servers(rd_kafka_t *rk, char *buf, size_t cap) {
  size_t n = cap;
  if(rd_kafka_conf_get(rd_kafka_conf(rk), "bootstrap.servers", buf, &n) !=
     RD_KAFKA_CONF_OK)
    snprintf(buf, cap, "?");
  return buf;
}

/* The worker's own error event about rk's brokers. */
static void broker_error(rd_kafka_t *rk, const char *event, const char *error,
                         const char *hint) {
  char b[512];
  WK_LOG(WK_ERROR, event, WK_STR("client", rd_kafka_name(rk)),
         WK_STR("bootstrap", servers(rk, b, sizeof(b))), WK_STR("error", error),
         WK_STR("hint", hint));
}

wk_kafka_err wk_kafka_error(rd_kafka_t *rk, int err, const char *reason) {
  char fatal[256];
  switch(err) {
  case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    broker_error(rk, "kafka.unreachable", reason,
                 "no Kafka broker answers: check kafka.bootstrap.servers, the "
                 "network and that the brokers run; the worker keeps trying");
    return WK_KAFKA_ERR_UNREACHABLE;
  case RD_KAFKA_RESP_ERR__AUTHENTICATION:
  case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
  case RD_KAFKA_RESP_ERR__SSL:
    broker_error(rk, "kafka.auth_failed", reason,
                 "the broker refused the worker's credentials or TLS: check "
                 "kafka.security.protocol, kafka.sasl.* and kafka.ssl.*");
    return WK_KAFKA_ERR_AUTH;
  case RD_KAFKA_RESP_ERR__FATAL:
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    broker_error(rk, "kafka.fatal", fatal,
                 "the Kafka client cannot go on: events fail from here, "
                 "and run stops at the next one (restart it)");
    return WK_KAFKA_ERR_FATAL;
  default:
    WK_LOG(WK_DEBUG, "kafka.error", WK_STR("client", rd_kafka_name(rk)),
           WK_STR("code", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
           WK_STR("error", reason));
    return WK_KAFKA_ERR_OTHER;
  }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
  (void)opaque;
  wk_kafka_error(rk, err, reason);
}

void wk_kafka_logging(rd_kafka_conf_t *conf) {
  char lv[8];
  snprintf(lv, sizeof(lv), "%d", wk_log_syslog_level());
  rd_kafka_conf_set(conf, "log_level", lv, NULL, 0);
  rd_kafka_conf_set_log_cb(conf, on_log);
  rd_kafka_conf_set_error_cb(conf, on_error);
}

int wk_kafka_conf(const wk_config *c, const char *bootstrap,
                  rd_kafka_conf_t *conf, char *err, size_t errlen) {
  size_t i;
  wk_kafka_logging(conf);
  for(i = 0; i < c->nkafka; i++) {
    const char *v = c->kafka[i].value;
    if(strcmp(c->kafka[i].name, "bootstrap.servers") == 0)
      v = bootstrap;
    if(rd_kafka_conf_set(conf, c->kafka[i].name, v, err, errlen) !=
       RD_KAFKA_CONF_OK)
      return -1;
  }
  if(!wk_kafka_bootstrap(c) &&
     rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) !=
         RD_KAFKA_CONF_OK)
    return -1;
  return 0;
}

/* Delivery report: counts acknowledgements and failures. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  wk_producer *p = opaque;
  (void)rk;
  if(m->err) {
    p->failed++;
    snprintf(p->last_error, sizeof(p->last_error), "%s",
             rd_kafka_err2str(m->err));
    if(p->metrics)
      atomic_fetch_add(&p->metrics->produce_errors, 1);
  } else {
    p->acked++;
    p->unreachable = 0;
    if(p->metrics) {
      atomic_fetch_add(&p->metrics->produced_bytes, m->len);
      atomic_store(&p->metrics->kafka_down, 0);
    }
  }
  if(p->on_ack && m->_private)
    p->on_ack(p->ack_ctx, m->_private, m->err != 0);
}

static void on_producer_error(rd_kafka_t *rk, int err, const char *reason,
                              void *opaque) {
  wk_producer *p = opaque;
  if(wk_kafka_error(rk, err, reason) == WK_KAFKA_ERR_UNREACHABLE) {
    p->unreachable = 1;
    if(p->metrics)
      atomic_store(&p->metrics->kafka_down, 1);
  }
}

int wk_producer_new(const wk_config *c, const char *bootstrap, wk_producer *p,
                    char *err, size_t errlen) {
  return wk_producer_open(c, bootstrap, 120000, p, err, errlen);
}

int wk_producer_open(const wk_config *c, const char *bootstrap,
                     long message_timeout_ms, wk_producer *p, char *err,
                     size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char mto[32];
  memset(p, 0, sizeof(*p));
  snprintf(mto, sizeof(mto), "%ld", message_timeout_ms);
  /* the idempotent producer implies acks=all and ordered retries */
  /* One produce request in flight per broker connection: librdkafka 2.0
   * (Debian 12) can stall a partition of an idempotent producer for good
   * when a retriable error hits one of several requests in flight (the
   * sequence bookkeeping after a possibly persisted error; fixed upstream
   * in 2.3). Found by the fault matrix's produce-errors row: one receipt
   * was never sent again nor timed out. Events are small and batched by
   * linger, so one request at a time costs little. */
  if(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
     rd_kafka_conf_set(conf, "max.in.flight.requests.per.connection", "1", err,
                       errlen) ||
     rd_kafka_conf_set(conf, "acks", "all", err, errlen) ||
     rd_kafka_conf_set(conf, "message.timeout.ms", mto, err, errlen) ||
     wk_kafka_conf(c, bootstrap, conf, err, errlen)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  {
    /* a parked batch is one message of up to batch.max_bytes: unless the
     * configuration says otherwise, let the producer send that much (the
     * failed topic's max.message.bytes must allow it too; see README) */
    size_t i;
    int set = 0;
    for(i = 0; i < c->nkafka; i++)
      set |= !strcmp(c->kafka[i].name, "message.max.bytes");
    if(!set) {
      char v[32];
      long long want = (long long)c->max_batch_bytes + (2LL << 20);
      snprintf(v, sizeof(v), "%lld", want > 1000000000LL ? 1000000000LL : want);
      if(rd_kafka_conf_set(conf, "message.max.bytes", v, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
      }
    }
  }
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_producer_error);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
  if(!p->rk) { /* rd_kafka_new takes conf only when it succeeds */
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  return 0;
}

static int produce(wk_producer *p, const char *topic, const char *key,
                   const ddas_kv *headers, size_t nheaders, const void *body,
                   size_t len, void *opaque) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(nheaders ? nheaders : 1);
  rd_kafka_resp_err_t e;
  size_t i;
  for(i = 0; i < nheaders; i++)
    rd_kafka_header_add(h, headers[i].name, -1, headers[i].value, -1);
  for(;;) {
    e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)body, len),
        RD_KAFKA_V_KEY((void *)(uintptr_t)key, key ? strlen(key) : 0),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if(e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      break;
    rd_kafka_poll(p->rk, 100); /* let the queue drain, then try again */
  }
  if(e) {
    rd_kafka_headers_destroy(h);
    if(p->metrics)
      atomic_fetch_add(&p->metrics->produce_errors, 1);
    p->failed++;
    snprintf(p->last_error, sizeof(p->last_error), "%s", rd_kafka_err2str(e));
    return -1;
  }
  p->produced++;
  return 0; /* headers are owned by the message now */
}

int wk_produce(wk_producer *p, const char *topic, const char *key,
               const ddas_kv *headers, size_t nheaders, const void *body,
               size_t len) {
  return produce(p, topic, key, headers, nheaders, body, len, NULL);
}

int wk_produce_event(wk_producer *p, const char *topic, const ddas_event *e) {
  return produce(p, topic, e->key, e->headers, e->nheaders, e->body,
                 e->body_len, NULL);
}

int wk_produce_opaque(wk_producer *p, const char *topic, const ddas_event *e,
                      void *opaque) {
  return produce(p, topic, e->key, e->headers, e->nheaders, e->body,
                 e->body_len, opaque);
}

int wk_produce_value(wk_producer *p, const char *topic, const ddas_event *e,
                     const void *value, size_t len, void *opaque) {
  return produce(p, topic, e->key, e->headers, e->nheaders, value, len, opaque);
}

int wk_producer_flush(wk_producer *p, int timeout_ms, char *err,
                      size_t errlen) {
  rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
  char b[512];
  const char *down = p->unreachable ? "; no broker answered at " : "";
  const char *where = p->unreachable ? servers(p->rk, b, sizeof(b)) : "";
  if(e) {
    snprintf(err, errlen,
             "Kafka did not acknowledge %d message(s) within %d s: %s%s%s",
             rd_kafka_outq_len(p->rk), timeout_ms / 1000, rd_kafka_err2str(e),
             down, where);
    return -1;
  }
  if(p->failed) {
    snprintf(err, errlen, "Kafka did not take %lu message(s): %s%s%s",
             p->failed, p->last_error, down, where);
    p->failed = 0;
    return -1;
  }
  return 0;
}

void wk_producer_close(wk_producer *p) {
  if(p->rk) {
    /* what Kafka has not acknowledged in 10 s is given up (its offsets were
     * never marked done), so that destroying the handle cannot wait on a
     * request that never ends */
    if(rd_kafka_flush(p->rk, 10000)) {
      rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(p->rk, 100); /* their (failed) delivery reports */
    }
    rd_kafka_destroy(p->rk);
  }
  memset(p, 0, sizeof(*p));
}

const char *wk_header(rd_kafka_message_t *m, const char *name, char *buf,
                      size_t cap) {
  rd_kafka_headers_t *h = NULL;
  const void *v;
  size_t n;
  if(rd_kafka_message_headers(m, &h) || !h ||
     rd_kafka_header_get_last(h, name, &v, &n) || !v || n >= cap)
    return NULL;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

rd_kafka_t *wk_reader_new(const wk_config *cfg, const char *suffix, char *err,
                          size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char group[300];
  snprintf(group, sizeof(group), "%s-%s", cfg->group_id, suffix);
  if(rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
     rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
     wk_kafka_conf(cfg, wk_kafka_bootstrap(cfg), conf, err, errlen)) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  return rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
}

size_t wk_headers_kv(rd_kafka_message_t *m, ddas_kv *kv, size_t cap) {
  const rd_kafka_headers_t *hs = NULL;
  size_t n = 0, i;
  if(rd_kafka_message_headers(m, (rd_kafka_headers_t **)(uintptr_t)&hs) || !hs)
    return 0;
  for(i = 0; n < cap; i++) {
    const char *name;
    const void *v;
    size_t vl;
    if(rd_kafka_header_get_all(hs, i, &name, &v, &vl))
      break;
    kv[n].name = (char *)(uintptr_t)name;
    kv[n].value = strndup(v ? v : "", vl);
    n++;
  }
  return n;
}

void wk_headers_free(ddas_kv *kv, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    free(kv[i].value);
}

int wk_read_all(rd_kafka_t *rk, const char *topic,
                int (*cb)(void *ctx, rd_kafka_message_t *m), void *ctx,
                int timeout_ms, char *err, size_t errlen) {
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_topic_partition_list_t *parts;
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  int64_t *high;
  int np, i, remaining = 0, rc = 0;
  if(!t || rd_kafka_metadata(rk, 0, t, &md, timeout_ms) || md->topic_cnt != 1 ||
     md->topics[0].err) {
    snprintf(err, errlen, "cannot read the metadata of topic %s", topic);
    if(md)
      rd_kafka_metadata_destroy(md);
    if(t)
      rd_kafka_topic_destroy(t);
    return -1;
  }
  np = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  parts = rd_kafka_topic_partition_list_new(np);
  high = calloc((size_t)np + 1, sizeof(*high));
  for(i = 0; i < np; i++) {
    int64_t lo = 0, hi = 0;
    if(rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, timeout_ms)) {
      snprintf(err, errlen, "cannot read the offsets of %s/%d", topic, i);
      rc = -1;
      goto out;
    }
    high[i] = hi;
    if(hi > lo) {
      rd_kafka_topic_partition_list_add(parts, topic, i)->offset = lo;
      remaining++;
    }
  }
  if(remaining && rd_kafka_assign(rk, parts)) {
    snprintf(err, errlen, "cannot assign %s", topic);
    rc = -1;
    goto out;
  }
  while(remaining > 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout_ms);
    if(!m) {
      snprintf(err, errlen, "timed out reading %s", topic);
      rc = -1;
      break;
    }
    if(m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    if(cb(ctx, m))
      rc = -1;
    if(m->partition >= 0 && m->partition < np &&
       m->offset + 1 >= high[m->partition] && high[m->partition] > 0) {
      high[m->partition] = 0; /* done with this partition */
      remaining--;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, NULL);
out:
  free(high);
  rd_kafka_topic_partition_list_destroy(parts);
  return rc;
}
