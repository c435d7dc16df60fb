/* The staged worker (worker/run.h) with real processes: kafka-mock, the CBS
 * stub over HTTPS and `ddas-worker run` (tests/support/pipeline_fixture.h).
 *
 * (a) A chunk index that skips ahead: chunks 1/3 and 3/3 of a delivery,
 *     then five deliveries with the same key on the same partition. The
 *     committed offset passes chunk 3 and the five while the worker runs,
 *     and every record ends in exactly one outcome: chunk 1's at CBS (the
 *     delivery's outcome is an nl.ddas.delivery.incomplete event naming the
 *     chunks seen and missing, not a rejection of those records), chunk 3's
 *     in one rejection event of their own, the later deliveries' at CBS.
 * (b) A configuration-fault stall of 60 s with run.max_poll_interval_ms =
 *     10000: the workers keep polling, so nobody is evicted and the group
 *     does not rebalance; after the fault every delivery is processed.
 * (c) A worker added during a backlog while CBS answers each request after
 *     20 s (kafka.session.timeout.ms = 6000): the busy worker gives up the
 *     partitions at once (its batches at CBS are abandoned), so the new one
 *     sends its first batch within 15 s of its start. Then SIGTERM while
 *     batches are at CBS: what the workers abandon is redone by a worker
 *     started afterwards, and every record reconciles.
 *
 * DDAS_KEEP_TMP=1 keeps the temporary directory. */
#define _GNU_SOURCE
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline_fixture.h"
#include "testutil.h"

/* (c)'s limit: 15 s, two of kafka-mock's join phases (about 5 s each with
 * a 6-s session timeout) and the start of the worker. A sanitizer build
 * starts and runs the worker several times slower; it checks memory
 * safety there, and the 15 s are shown by the normal build. */
#ifdef DDAS_SLOW_BUILD
#define FIRST_BATCH_LIMIT_S 30.0
#else
#define FIRST_BATCH_LIMIT_S 15.0
#endif

static void fixture_failed(const char *msg) { fail_msg("%s", msg); }

static int kill_all(void **state) {
  (void)state;
  children_kill_all();
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static rd_kafka_t *producer_new(const char *bootstrap) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk;
  assert_int_equal(
      rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
      RD_KAFKA_CONF_OK);
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  assert_non_null(rk);
  return rk;
}

/* Publishes the file of delivery i as one message on partition 0 with the
 * given delivery id and ddas-chunk header (NULL: none). */
static void publish(rd_kafka_t *rk, const dataset *ds, size_t i, const char *id,
                    const char *chunk) {
  size_t len;
  char *body = tu_read(ds->d[i].path, &len);
  rd_kafka_headers_t *h = rd_kafka_headers_new(2);
  assert_non_null(body);
  rd_kafka_header_add(h, "ddas-delivery-id", -1, id, -1);
  if(chunk)
    rd_kafka_header_add(h, "ddas-chunk", -1, chunk, -1);
  assert_int_equal(
      rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC("ddas.deliveries"), RD_KAFKA_V_PARTITION(0),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(body, len),
          RD_KAFKA_V_KEY("org-1", 5), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
      RD_KAFKA_RESP_ERR_NO_ERROR);
  free(body);
}

/* The offset the worker group committed on ddas.deliveries partition 0, or
 * a negative value when none. */
static int64_t committed(const char *bootstrap) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_t *rk;
  int64_t o = -1;
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", "ddas-worker", err, sizeof(err));
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  assert_non_null(rk);
  rd_kafka_topic_partition_list_add(l, "ddas.deliveries", 0);
  if(!rd_kafka_committed(rk, l, 5000) && !l->elems[0].err)
    o = l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
  return o;
}

/* How many files of CBS's record directory hold record id rid. */
static long at_cbs(const scen *s, const char *rid) {
  char *out = NULL;
  long n = -1;
  tu_runf(&out,
          "grep -l -F '\"omschrijving\":\"%s\"' '%s'/*.json 2>/dev/null | "
          "grep -vc 'meta.json$'",
          rid, s->cbs.records);
  if(out)
    n = strtol(out, NULL, 10);
  free(out);
  return n;
}

/* Lines of a worker log file with `what`. */
static long log_count(const char *log, const char *what) {
  char *out = NULL;
  long n = 0;
  tu_runf(&out, "grep -c -F -- '%s' '%s'", what, log);
  if(out)
    n = strtol(out, NULL, 10);
  free(out);
  return n;
}

/* Sets the stub's batch plan to n copies of one step. */
static void plan_repeat(const stub *cbs, const char *step, int n) {
  sbuf b = {NULL, 0, 0};
  int i;
  sb_printf(&b, "{\"batch\":[");
  for(i = 0; i < n; i++)
    sb_printf(&b, "%s%s", i ? "," : "", step);
  sb_printf(&b, "]}");
  json_decref(stub_call(cbs, "/_plan", b.b));
  free(b.b);
}

/* Stops the workers, reconciles every record (nothing lost, every delivery
 * processed, one key per record) and ends the scenario. */
static void stop_and_reconcile(scen *s, dataset *ds) {
  recon r;
  workers_stop(s);
  fx_reconcile(s, ds, &r, 0);
  assert_int_equal(r.lost, 0);
  assert_int_equal(r.failures, 0);
  assert_int_equal(r.key_mismatch, 0);
  assert_int_equal(r.processed, ds->n);
  scen_stop(s);
  dataset_free(ds);
}

/* Events read from a topic: their ce_type and body. */
typedef struct {
  json_t *list; /* [[type, body], ...] */
} events;

static void on_event(void *ctx, rd_kafka_message_t *m) {
  events *e = ctx;
  char type[100];
  json_t *body;
  if(!header(m, "ce_type", type, sizeof(type)) || !m->payload)
    return;
  body = json_loadb(m->payload, m->len, 0, NULL);
  assert_non_null(body);
  json_array_append_new(e->list, json_pack("[so]", type, body));
}

static void read_events(const scen *s, const char *topic, events *e) {
  e->list = json_array();
  read_topic(s->km.bootstrap, topic, on_event, e);
}

/* ---- (a) a skipped chunk ------------------------------------------------- */

static void skipped_chunk_commits_past_it(void **state) {
  scen s;
  dataset ds;
  rd_kafka_t *p;
  events rec, rej;
  unsigned long bsn = 0;
  size_t i, k, processed = 0, incomplete = 0, drops = 0;
  double until;
  int64_t off = -1;
  char id[32];
  (void)state;
  scen_start(&s, "a", NULL, NULL);
  dataset_init(&ds, s.sdir, 7);
  for(i = 0; i < 7; i++)
    gen_delivery(&ds, i, K_MULTI, 0, &bsn);
  p = producer_new(s.km.bootstrap);
  publish(p, &ds, 0, "skipped", "1/3");
  publish(p, &ds, 1, "skipped", "3/3");
  for(i = 2; i < 7; i++) {
    snprintf(id, sizeof(id), "after-%zu", i);
    publish(p, &ds, i, id, NULL);
  }
  assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(p);
  worker_start(&s);
  /* the worker commits past chunk 3 and the five while it runs */
  until = now_s() + 60;
  while(now_s() < until && (off = committed(s.km.bootstrap)) < 7)
    usleep(300000);
  printf("(a) committed offset %lld of 7\n", (long long)off);
  assert_int_equal(off, 7);
  assert_int_equal(poll_exit(s.worker[0]), -2); /* still running */
  workers_stop(&s);

  read_events(&s, "ddas.receipts", &rec);
  for(k = 0; k < json_array_size(rec.list); k++) {
    const char *type =
        json_string_value(json_array_get(json_array_get(rec.list, k), 0));
    json_t *b = json_array_get(json_array_get(rec.list, k), 1);
    const char *did = json_string_value(json_object_get(b, "delivery_id"));
    if(!strcmp(type, "nl.ddas.delivery.processed")) {
      processed++;
      assert_true(!strncmp(did, "after-", 6));
    } else if(!strcmp(type, "nl.ddas.delivery.incomplete")) {
      json_t *c = json_object_get(b, "chunks");
      incomplete++;
      assert_string_equal(did, "skipped");
      assert_string_equal(json_string_value(json_object_get(b, "reason")),
                          "gap");
      assert_int_equal(json_integer_value(json_object_get(c, "total")), 3);
      assert_string_equal(json_string_value(json_object_get(c, "seen")), "1");
      assert_string_equal(json_string_value(json_object_get(c, "missing")),
                          "2-3");
      /* chunk 1's records were accepted and forwarded: said so */
      assert_int_equal(json_integer_value(json_object_get(b, "accepted")),
                       ds.d[0].nrec);
      assert_int_equal(json_integer_value(json_object_get(b, "rejected")), 0);
    }
  }
  assert_int_equal(processed, 5);
  assert_int_equal(incomplete, 1);

  read_events(&s, "ddas.rejections", &rej);
  for(k = 0; k < json_array_size(rej.list); k++) {
    json_t *b = json_array_get(json_array_get(rej.list, k), 1);
    json_t *src = json_array_get(json_object_get(b, "sources"), 0);
    /* the only rejection: chunk 3 (offset 1), as a whole document */
    assert_int_equal(json_integer_value(json_object_get(src, "offset")), 1);
    assert_string_equal(json_string_value(json_object_get(b, "scope")),
                        "document");
    drops++;
  }
  assert_int_equal(drops, 1);

  /* each record in exactly one outcome */
  for(i = 0; i < 7; i++)
    for(k = 0; k < ds.d[i].nrec; k++) {
      char rid[48];
      snprintf(rid, sizeof(rid), "r-%zu-%zu", i, k);
      assert_int_equal(at_cbs(&s, rid), i == 1 ? 0 : 1);
    }
  json_decref(rec.list);
  json_decref(rej.list);
  scen_stop(&s);
  dataset_free(&ds);
}

/* ---- (b) a stall longer than max.poll.interval.ms ------------------------ */

static void stall_does_not_evict(void **state) {
  scen s;
  dataset ds;
  watch w;
  char log1[400], log2[400], plan[64];
  long revoked_before, assigned_before, faults;
  (void)state;
  scen_start(&s, "b", NULL,
             "run.max_poll_interval_ms = 10000\n"
             "cbs.config_fault_threshold = 2\n"
             "retry.max_ms = 1000\n");
  dataset_mix(&ds, s.sdir, 300, 500000);
  worker_start(&s);
  worker_start(&s);
  submit_range(&s, &ds, 0, 100);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, 100, 120, "(b) before the fault");
  snprintf(log1, sizeof(log1), "%s/worker-1.log", s.sdir);
  snprintf(log2, sizeof(log2), "%s/worker-2.log", s.sdir);
  revoked_before = log_count(log1, "partitions revoked") +
                   log_count(log2, "partitions revoked");
  assigned_before = log_count(log1, "partitions assigned") +
                    log_count(log2, "partitions assigned");
  /* 403 to every batch for 60 s, while a backlog waits */
  plan_repeat(&s.cbs, "{\"status\":403}", 2000);
  submit_range(&s, &ds, 100, ds.n);
  sleep(60);
  faults = stub_stat(&s.cbs, "planned_faults");
  printf("(b) 403 answered %ld times in 60 s\n", faults);
  assert_true(faults >= 2);
  assert_true(log_count(log1, "configuration fault") +
                  log_count(log2, "configuration fault") >=
              1);
  snprintf(plan, sizeof(plan), "[]");
  json_decref(stub_call(&s.cbs, "/_plan", plan));
  watch_wait(&w, ds.n, 180, "(b) after the fault");
  watch_stop(&w);
  /* no eviction, no rebalance */
  assert_int_equal(poll_exit(s.worker[0]), -2);
  assert_int_equal(poll_exit(s.worker[1]), -2);
  assert_int_equal(log_count(log1, "partitions revoked") +
                       log_count(log2, "partitions revoked"),
                   revoked_before);
  assert_int_equal(log_count(log1, "partitions assigned") +
                       log_count(log2, "partitions assigned"),
                   assigned_before);
  assert_int_equal(log_count(log1, "MAXPOLL") + log_count(log2, "MAXPOLL"), 0);
  assert_int_equal(log_count(log1, "partitions lost") +
                       log_count(log2, "partitions lost"),
                   0);
  stop_and_reconcile(&s, &ds);
}

/* ---- (c) a worker added while CBS is slow -------------------------------- */

static void added_worker_sends_within_15s(void **state) {
  scen s;
  dataset ds;
  char log2[400];
  double t0, first = -1, assigned = -1;
  (void)state;
  scen_start(&s, "c", NULL,
             "kafka.session.timeout.ms = 6000\n"
             "cbs.timeout_ms = 60000\n"
             "log.level = debug\n");
  /* every batch request is answered after 20 s */
  plan_repeat(&s.cbs, "{\"delay_ms\":20000}", 3000);
  dataset_mix(&ds, s.sdir, 400, 900000);
  submit_range(&s, &ds, 0, ds.n);
  worker_start(&s);
  /* the first worker is busy: batches at CBS */
  {
    double until = now_s() + 60;
    while(now_s() < until && stub_stat(&s.cbs, "requests") < 1)
      usleep(200000);
    assert_true(stub_stat(&s.cbs, "requests") >= 1);
  }
  sleep(2);
  t0 = now_s();
  worker_start(&s);
  snprintf(log2, sizeof(log2), "%s/worker-2.log", s.sdir);
  while(now_s() - t0 < 30) {
    if(assigned < 0 && log_count(log2, "partitions assigned") > 0)
      assigned = now_s() - t0;
    if(log_count(log2, "batch sending") > 0) {
      first = now_s() - t0;
      break;
    }
    usleep(100000);
  }
  printf("(c) the added worker got partitions after %.1f s and sent its first "
         "batch after %.1f s (-1: not within 30 s)\n",
         assigned, first);
  assert_true(first >= 0);
  assert_true(first <= FIRST_BATCH_LIMIT_S);
  /* SIGTERM while batches are at CBS: the workers abandon them and exit 0;
   * nothing of what they abandoned may count as done. A worker started
   * afterwards, with CBS answering at once, finishes the backlog, and every
   * record reconciles. */
  workers_stop(&s);
  json_decref(stub_call(&s.cbs, "/_plan", "[]"));
  worker_start(&s);
  {
    watch w;
    watch_start(&w, s.km.bootstrap, &ds);
    watch_wait(&w, ds.n, 300, "(c) after the restart");
    watch_stop(&w);
  }
  stop_and_reconcile(&s, &ds);
}

/* ---- set-up -------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  fx_fail_hook = fixture_failed;
  return fx_setup("/tmp/ddas-stages-XXXXXX");
}

static int teardown(void **state) {
  (void)state;
  return fx_teardown();
}

int main(void) {
  /* DDAS_STAGES_ONLY=name runs one scenario (development) */
  const char *only = getenv("DDAS_STAGES_ONLY");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(skipped_chunk_commits_past_it, kill_all),
      cmocka_unit_test_teardown(stall_does_not_evict, kill_all),
      cmocka_unit_test_teardown(added_worker_sends_within_15s, kill_all)};
  if(only && *only)
    cmocka_set_test_filter(only);
  return cmocka_run_group_tests(tests, setup, teardown);
}
