/* bench_status: events for `ddas-worker status` (issue 16), made by the
 * core's own event builders. Run by bench/run-status; not by CI.
 *
 *   bench_status --events N [--bootstrap SERVERS]
 *
 * Makes at least N events (whole deliveries: rejections, the receipt,
 * forwarded batches, now and then a parked one) for 200 organisations, two
 * periods and both kinds, and times the core's aggregation of them in this
 * process (ddas_status_add for each, the table, the JSON). With
 * --bootstrap it also publishes them to ddas.receipts, ddas.rejections and
 * ddas.failed (the topics must exist) for the timed `ddas-worker status`
 * run of the script. Prints one JSON object: what was made (the totals
 * status must show) and the in-process times. */
#define _POSIX_C_SOURCE 200809L
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddas/events.h"
#include "ddas/status.h"
#include "status_events.h"

#define NORGS 200

typedef struct {
  ddas_event *ev;
  const char **topic;
  size_t n, cap;
  size_t deliveries, accepted, rejected, records, forwarded, parked, rows;
} made;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void push(made *m, const char *topic, ddas_result r) {
  if(r != DDAS_OK) {
    fprintf(stderr, "bench_status: an event builder failed: %s\n",
            ddas_result_str(r));
    exit(2);
  }
  m->topic[m->n++] = topic;
}

static void grow(made *m) {
  if(m->n + 16 <= m->cap)
    return;
  m->cap = m->cap ? m->cap * 2 : 4096;
  m->ev = realloc(m->ev, m->cap * sizeof(*m->ev));
  m->topic = realloc(m->topic, m->cap * sizeof(*m->topic));
  if(!m->ev || !m->topic) {
    fprintf(stderr, "bench_status: out of memory\n");
    exit(2);
  }
}

/* The events of delivery d. */
static void delivery(made *m, size_t d) {
  char id[40], org[40], code[16], batch[48], t[32];
  size_t org_i = d % NORGS, records = 5 + d % 20, rejected = d % 7 == 0 ? 2 : 0,
         nbatches = d % 5 == 0 ? 2 : 1, b;
  int parked = d % 50 == 0;
  ddas_event_base base;
  ddas_rule_count rc = {"schema", 2};
  snprintf(id, sizeof(id), "del-%07zu", d);
  snprintf(org, sizeof(org), "Organisatie %03zu", org_i);
  snprintf(code, sizeof(code), "7%07zu", org_i);
  snprintf(t, sizeof(t), "2026-11-%02zuT%02zu:%02zu:%02zuZ", 1 + d % 28,
           d / 3600 % 24, d / 60 % 60, d % 60);
  memset(&base, 0, sizeof(base));
  base.delivery_id = id;
  base.key = code;
  base.ce_source = "urn:ddas-worker:bench";
  base.time = t;
  grow(m);
  for(b = 0; b < rejected; b++)
    push(m, "ddas.rejections", se_rejection(&base, &m->ev[m->n]));
  for(b = 0; b < nbatches + (size_t)parked; b++) {
    int is_parked = b == nbatches;
    snprintf(batch, sizeof(batch), "b-%07zu-%zu", d, b);
    push(m, is_parked ? "ddas.failed" : "ddas.receipts",
         se_batch(&base, batch, (unsigned)b, is_parked ? 1 : records,
                  is_parked ? SE_PARKED : SE_FORWARDED, &m->ev[m->n]));
    if(is_parked)
      m->parked++;
    else
      m->forwarded++;
  }
  {
    ddas_processed_in in;
    memset(&in, 0, sizeof(in));
    in.base = base;
    in.kind = org_i % 4 == 3 ? DDAS_KIND_VS : DDAS_KIND_SHV;
    in.status = "processed";
    in.records = records;
    in.accepted = records - rejected;
    in.rejected = rejected;
    in.rejected_by_rule = &rc;
    in.nrejected_by_rule = rejected ? 1 : 0;
    in.org_name = org;
    in.org_code = code;
    in.period_start = "2026-01-01";
    in.period_end = d % NORGS % 2 ? "2026-06-30" : "2026-12-31";
    push(m, "ddas.receipts", ddas_event_processed(&in, &m->ev[m->n]));
  }
  m->deliveries++;
  m->records += records;
  m->accepted += records - rejected;
  m->rejected += rejected;
}

static void publish(const made *m, const char *bootstrap) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk;
  size_t i, k;
  if(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                       sizeof(err)) ||
     rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof(err)) ||
     rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err,
                       sizeof(err)) ||
     !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
    fprintf(stderr, "bench_status: %s\n", err);
    exit(2);
  }
  for(i = 0; i < m->n; i++) {
    const ddas_event *e = &m->ev[i];
    rd_kafka_headers_t *h = rd_kafka_headers_new(e->nheaders);
    rd_kafka_resp_err_t r;
    for(k = 0; k < e->nheaders; k++)
      rd_kafka_header_add(h, e->headers[k].name, -1, e->headers[k].value, -1);
    while((r = rd_kafka_producev(
               rk, RD_KAFKA_V_TOPIC(m->topic[i]),
               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
               RD_KAFKA_V_VALUE(e->body, e->body_len),
               RD_KAFKA_V_KEY(e->key, e->key ? strlen(e->key) : 0),
               RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) ==
          RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 50);
    if(r) {
      fprintf(stderr, "bench_status: produce: %s\n", rd_kafka_err2str(r));
      exit(2);
    }
    rd_kafka_poll(rk, 0);
  }
  if(rd_kafka_flush(rk, 120000)) {
    fprintf(stderr, "bench_status: not every event was acknowledged\n");
    exit(2);
  }
  rd_kafka_destroy(rk);
}

int main(int argc, char **argv) {
  size_t want = 100000, i, d;
  const char *bootstrap = NULL;
  made m;
  ddas_status *st;
  ddas_status_table t;
  double t0, t_add, t_table, t_json;
  FILE *devnull;
  char err[200];
  for(i = 1; i < (size_t)argc; i++) {
    if(!strcmp(argv[i], "--events") && i + 1 < (size_t)argc)
      want = strtoul(argv[++i], NULL, 10);
    else if(!strcmp(argv[i], "--bootstrap") && i + 1 < (size_t)argc)
      bootstrap = argv[++i];
    else {
      fprintf(stderr, "usage: bench_status --events N [--bootstrap S]\n");
      return 2;
    }
  }
  memset(&m, 0, sizeof(m));
  for(d = 0; m.n < want; d++)
    delivery(&m, d);
  /* in this process: add, table, JSON */
  if(ddas_status_new(NULL, &st, err, sizeof(err)))
    return 2;
  t0 = now_ms();
  for(i = 0; i < m.n; i++)
    if(ddas_status_add(st, m.ev[i].headers, m.ev[i].nheaders, m.ev[i].body,
                       m.ev[i].body_len, err, sizeof(err)))
      return 2;
  t_add = now_ms() - t0;
  t0 = now_ms();
  if(ddas_status_table_build(st, &t))
    return 2;
  t_table = now_ms() - t0;
  devnull = fopen("/dev/null", "w");
  t0 = now_ms();
  if(!devnull || ddas_status_json(devnull, &t))
    return 2;
  t_json = now_ms() - t0;
  fclose(devnull);
  m.rows = t.nrows;
  if(t.total.deliveries != m.deliveries || t.total.accepted != m.accepted ||
     t.total.batches_forwarded != m.forwarded ||
     t.total.batches_parked != m.parked) {
    fprintf(stderr, "bench_status: the in-process table does not add up\n");
    return 1;
  }
  ddas_status_table_clear(&t);
  ddas_status_free(st);
  if(bootstrap)
    publish(&m, bootstrap);
  printf("{\"events\":%zu,\"deliveries\":%zu,\"rows\":%zu,\"records\":%zu,"
         "\"accepted\":%zu,\"rejected\":%zu,\"forwarded\":%zu,\"parked\":%zu,"
         "\"core_add_ms\":%.1f,\"core_table_ms\":%.1f,\"core_json_ms\":%.1f}\n",
         m.n, m.deliveries, m.rows, m.records, m.accepted, m.rejected,
         m.forwarded, m.parked, t_add, t_table, t_json);
  for(i = 0; i < m.n; i++)
    ddas_event_clear(&m.ev[i]);
  free(m.ev);
  free(m.topic);
  return 0;
}
