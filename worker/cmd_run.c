/* `ddas-worker run`: the daemon (DESIGN.md "Data flow", "Guarantees").
 *
 * This file wires the stages of run.h together: the consumer (polled at
 * least every 100 ms, whatever CBS does), the senders and the outcomes,
 * and handles the group's rebalances. The decisions are the core's: which
 * chunks make a delivery and when an offset is done (ddas/assembly.h),
 * what a send outcome means (ddas/stall.h).
 *
 * Guarantees: an offset is committed only past messages whose every
 * outcome Kafka has acknowledged; a delivery redone after a crash or a
 * rebalance yields byte-identical batches with the same Idempotency-Key;
 * SIGTERM abandons what is at CBS and commits what is durable; SIGKILL
 * loses nothing. Memory: batches not yet durable are bounded by
 * run.max_inflight_bytes (the partitions are paused at that figure), the
 * fetch queue by queued.max.messages.kbytes. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "io.h"
#include "log.h"
#include "run.h"
#include "serve.h"
#include "startcheck.h"
#include "submit.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker run -c FILE [--submit DELIVERY]... "
          "[--until-idle]\n"
          "\n"
          "The daemon: consumes deliveries from topic.deliveries in the\n"
          "consumer group kafka.group.id, checks them with the core, forwards\n"
          "accepted batches to cbs.url, and publishes rejections, receipts\n"
          "and parked batches. With cbs.mode = pull or both, accepted\n"
          "batches and delivery manifests go to topic.accepted as well (pull:\n"
          "instead of CBS). Offsets move only when every outcome is\n"
          "durable. Kafka is polled all the time; up to cbs.max_in_flight\n"
          "batches are at CBS at once. SIGTERM or SIGINT: abandon the\n"
          "batches at CBS (the next owner redoes them), commit what is\n"
          "durable, leave the group, exit 0.\n"
          "\n"
          "  -c, --config FILE   the configuration; kafka.bootstrap.servers =\n"
          "                      embedded runs a Kafka cluster inside this\n"
          "                      process (for trying it out and for tests)\n"
          "  --submit DELIVERY   publish this delivery first (repeatable; the\n"
          "                      way to feed the embedded cluster)\n"
          "  --until-idle        exit when no message arrived for 3 seconds\n"
          "                      and no chunked delivery is open, and print a\n"
          "                      summary\n"
          "  --idle-ms N         the idle time of --until-idle (default 3000)\n"
          "  --serve             also answer POST /gegevens from\n"
          "                      topic.accepted, as `ddas-worker serve`\n"
          "                      does (the way to serve from the embedded\n"
          "                      cluster); with --until-idle it goes on\n"
          "                      serving after the summary until SIGTERM\n"
          "  --serve-port-file FILE  write the bound port of --serve to FILE\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 stopped cleanly, 1 stopped on an error that needs\n"
          "attention (the log says which; nothing was committed for the\n"
          "delivery at hand), 2 usage or configuration error.\n");
}

/* Consumer lag of the assigned partitions, from librdkafka's cached
 * watermarks (no broker round trip). */
static void update_lag(wk_run *c) {
  rd_kafka_topic_partition_list_t *a = NULL;
  int i;
  if(rd_kafka_assignment(c->consumer, &a) || !a)
    return;
  rd_kafka_position(c->consumer, a);
  for(i = 0; i < a->cnt; i++) {
    int64_t lo = 0, hi = 0, pos = a->elems[i].offset;
    int32_t p = a->elems[i].partition;
    if(p < 0 || p >= WK_MAX_LAG_PARTITIONS ||
       rd_kafka_get_watermark_offsets(c->consumer, a->elems[i].topic, p, &lo,
                                      &hi))
      continue;
    if(pos < 0)
      pos = lo;
    atomic_store(&c->metrics.lag[p], (long long)(hi > pos ? hi - pos : 0));
  }
  rd_kafka_topic_partition_list_destroy(a);
}

/* The consumer's errors: every broker down makes the worker not ready
 * (kafka_back clears it). */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque) {
  wk_run *c = opaque;
  if(wk_kafka_error(rk, err, reason) == WK_KAFKA_ERR_UNREACHABLE)
    atomic_store(&c->metrics.kafka_down, 1);
}

/* While Kafka is reported unreachable: one short metadata request (at
 * most 200 ms, every 5 s) tells when a broker answers again; librdkafka
 * has no callback for that. */
static void kafka_back(wk_run *c) {
  const rd_kafka_metadata_t *md = NULL;
  if(!atomic_load(&c->metrics.kafka_down))
    return;
  if(rd_kafka_metadata(c->consumer, 0, NULL, &md, 200) ==
     RD_KAFKA_RESP_ERR_NO_ERROR) {
    atomic_store(&c->metrics.kafka_down, 0);
    WK_LOG(WK_INFO, "kafka.reachable", WK_INT("brokers", md->broker_cnt));
  }
  if(md)
    rd_kafka_metadata_destroy(md);
}

/* ---- rebalance --------------------------------------------------------- */

/* Logs a change of the assignment: the topic and the partitions, as a
 * JSON array of numbers (text: 0,1,5). */
static void log_parts(const wk_run *c, const char *event,
                      const rd_kafka_topic_partition_list_t *l) {
  int parts[WK_MAX_PARTITIONS];
  int i, n = 0;
  for(i = 0; i < l->cnt && n < WK_MAX_PARTITIONS; i++)
    parts[n++] = (int)l->elems[i].partition;
  WK_LOG(WK_INFO, event, WK_STR("topic", c->cfg->topic_deliveries),
         WK_INTS("partitions", parts, n), WK_INT("count", l->cnt));
}

/* 1 while a delivery of a partition in l has every batch's outcome but its
 * events are not all acknowledged yet (it will be durable soon). */
static int settling(const wk_run *c, const rd_kafka_topic_partition_list_t *l) {
  const wk_delivery *d;
  int i;
  for(d = c->deliveries; d; d = d->next)
    for(i = 0; i < l->cnt; i++)
      if(d->partition == l->elems[i].partition && !d->abandoned && d->ended &&
         !d->batches_out && (!d->receipt_sent || d->unacked))
        return 1;
  return 0;
}

/* Revoked (or lost): outcomes already at Kafka are given up to
 * run.revoke_timeout_ms to be acknowledged and committed; everything else
 * of the partitions is abandoned at once (batches at CBS are cancelled)
 * and redone by the next owner. A lost assignment commits nothing. */
static void revoke(wk_run *c, rd_kafka_t *rk,
                   rd_kafka_topic_partition_list_t *parts) {
  int i;
  if(!rd_kafka_assignment_lost(rk)) {
    uint64_t until = wk_mono_ms() + (uint64_t)c->cfg->revoke_timeout_ms;
    rd_kafka_resp_err_t ce;
    wk_run_outcomes(c);
    while(settling(c, parts) && !c->fatal && wk_mono_ms() < until) {
      rd_kafka_poll(c->prod.rk, 10);
      wk_run_outcomes(c);
    }
    ce = rd_kafka_commit(rk, NULL, 0);
    if(ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
      wk_log(WK_WARN,
             "offsets not committed at revocation; the next owner redoes "
             "the deliveries since the last commit",
             "error", rd_kafka_err2name(ce), NULL);
  }
  for(i = 0; i < parts->cnt; i++) {
    int32_t p = parts->elems[i].partition;
    wk_run_revoke(c, p);
    if(p >= 0 && p < WK_MAX_LAG_PARTITIONS)
      atomic_store(&c->metrics.lag[p], -1);
  }
  log_parts(c,
            rd_kafka_assignment_lost(rk) ? "partitions lost"
                                         : "partitions revoked",
            parts);
}

/* An error of (incremental) assign or unassign leaves the consumer in a
 * state the worker cannot reason about: it stops (exit 1, nothing more
 * committed) and its restart joins the group afresh. */
static void assign_result(wk_run *c, rd_kafka_error_t *e, const char *what) {
  if(!e)
    return;
  wk_log(WK_ERROR, what, "error", rd_kafka_error_string(e), NULL);
  rd_kafka_error_destroy(e);
  c->fatal = 1;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  wk_run *c = opaque;
  int i;
  /* the protocol is known only once the group is joined */
  c->cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  if(err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    revoke(c, rk, parts);
    if(c->cooperative)
      assign_result(c, rd_kafka_incremental_unassign(rk, parts),
                    "cannot give up the revoked partitions; stopping");
    else if(rd_kafka_assign(rk, NULL))
      c->fatal = 1;
    return;
  }
  for(i = 0; i < parts->cnt; i++)
    wk_run_revoke(c, parts->elems[i].partition); /* forget anything stale */
  if(c->cooperative)
    assign_result(c, rd_kafka_incremental_assign(rk, parts),
                  "cannot take the assigned partitions; stopping");
  else if(rd_kafka_assign(rk, parts))
    c->fatal = 1;
  c->assigned = 1;
  c->assigned_ms = wk_mono_ms();
  atomic_store(&c->metrics.assigned, 1);
  atomic_store(&c->metrics.kafka_down, 0); /* the coordinator answered */
  wk_run_update_pause(c);
  log_parts(c, "partitions assigned", parts);
}

/* ---- the loop ---------------------------------------------------------- */

static int idle(const wk_run *c, uint64_t last_msg, long idle_ms) {
  uint64_t since = last_msg > c->assigned_ms ? last_msg : c->assigned_ms;
  return c->assigned && !c->deliveries && !c->held &&
         !wk_sender_outstanding(c->sender) &&
         wk_mono_ms() - since > (uint64_t)idle_ms;
}

/* Polls until a stop, a fatal error or (until_idle) idleness. The poll
 * timeout is short while work is outstanding, so that finished batches
 * are taken promptly. */
static void run_loop(wk_run *c, int until_idle, long idle_ms) {
  uint64_t last_msg = wk_mono_ms(), last_lag = 0, last_tick = 0;
  while(!wk_stop_requested() && !c->fatal) {
    int busy = c->deliveries || wk_sender_outstanding(c->sender);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->consumer, busy ? 5 : 100);
    uint64_t now;
    if(m) {
      if(!m->err) {
        if(wk_run_message(c, m))
          c->fatal = 1;
        last_msg = wk_mono_ms();
      } else if(m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        WK_LOG(WK_WARN, "kafka.consume_error",
               WK_STR("code", rd_kafka_err2name(m->err)),
               WK_STR("error", rd_kafka_message_errstr(m)));
      }
      rd_kafka_message_destroy(m);
    }
    wk_run_outcomes(c);
    now = wk_mono_ms();
    if(now - last_tick >= 200) {
      wk_run_tick(c);
      last_tick = now;
    }
    if(now - last_lag > 5000) {
      update_lag(c);
      kafka_back(c);
      last_lag = now;
    }
    if(until_idle && idle(c, last_msg, idle_ms))
      break;
  }
}

/* After the loop: batches at CBS are abandoned (a request that completes
 * first keeps its outcome), outcomes already published get up to 30 s to
 * be acknowledged, and what is durable is committed. */
static void drain_stages(wk_run *c) {
  uint64_t until = wk_mono_ms() + 30000;
  wk_sender_cancel(c->sender, -1);
  while(wk_mono_ms() < until && !c->fatal) {
    const wk_delivery *d;
    int pending = wk_sender_outstanding(c->sender) > 0;
    wk_run_outcomes(c);
    for(d = c->deliveries; d && !pending; d = d->next)
      pending = !d->abandoned && d->ended && !d->batches_out &&
                (!d->receipt_sent || d->unacked);
    if(!pending)
      break;
    rd_kafka_poll(c->prod.rk, 10);
  }
}

static void print_summary(const wk_run *c) {
  size_t n, k, any = 0;
  const ddas_rule_info *t = ddas_rule_table(&n);
  printf("deliveries: %zu (incomplete: %zu), records: %zu, accepted: %zu, "
         "rejected: %zu, with warnings: %zu\n",
         c->ndeliveries, c->incomplete, c->records, c->accepted, c->rejected,
         c->warned);
  printf("rejected by rule:");
  for(k = 0; k <= DDAS_MAX_RULES; k++)
    if(c->rule_errors[k]) {
      printf("%s %s %zu", any++ ? "," : "", k < n ? t[k].id : "other",
             c->rule_errors[k]);
    }
  printf("%s\n", any ? "" : " none");
  printf("batches forwarded: %zu, parked: %zu; rejection events: %zu\n",
         c->forwarded, c->parked, c->rejection_events);
  if(ddas_cbs_mode_publishes(c->mode))
    printf("published to %s: %zu batches, %zu manifests\n",
           c->cfg->topic_accepted, c->published, c->manifests);
  if(c->first_msg_ms && c->last_done_ms >= c->first_msg_ms) {
    double s = (double)(c->last_done_ms - c->first_msg_ms) / 1000.0;
    printf("busy: %.3f s from the first message to the last outcome (%.0f "
           "records/s)\n",
           s, s > 0 ? (double)c->records / s : 0.0);
  }
}

/* ---- the command ------------------------------------------------------- */

typedef struct {
  const char *path, *submits[256];
  size_t nsubmits;
  int until_idle;
  long idle_ms;
  int serve; /* --serve: POST /gegevens beside the pipeline (serve.h) */
  const char *serve_port_file;
} run_args;

/* 0 to go on, or the exit status. */
static int parse_args(int argc, char **argv, run_args *a) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"submit", required_argument, NULL, 's'},
      {"until-idle", no_argument, NULL, 'u'},
      {"idle-ms", required_argument, NULL, 'i'},
      {"serve", no_argument, NULL, 'S'},
      {"serve-port-file", required_argument, NULL, 'P'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int o;
  memset(a, 0, sizeof(*a));
  a->idle_ms = 3000;
  optind = 1;
  while((o = wk_getopt(argc, argv, "c:h", opts, "run")) != -1) {
    switch(o) {
    case 'c': a->path = optarg; break;
    case 's':
      if(a->nsubmits < 256)
        a->submits[a->nsubmits++] = optarg;
      break;
    case 'u': a->until_idle = 1; break;
    case 'i': a->idle_ms = strtol(optarg, NULL, 10); break;
    case 'S': a->serve = 1; break;
    case 'P': a->serve_port_file = optarg; break;
    case 'h': usage(stdout); return -1;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!a->path || optind != argc || a->idle_ms < 100) {
    fprintf(stderr, "ddas-worker run: needs -c FILE\n"
                    "Try 'ddas-worker run --help'.\n");
    return 2;
  }
  return 0;
}

/* The consumer of the group, subscribed. 0, or -1 with a message. */
static int start_consumer(wk_run *c, const char *bootstrap, char *err,
                          size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_topic_partition_list_t *topics;
  const wk_config *cfg = c->cfg;
  char mpi[32], qkb[32];
  int rc;
  snprintf(mpi, sizeof(mpi), "%ld", cfg->max_poll_interval_ms);
  /* the fetch queue holds at most a few batches' worth */
  snprintf(qkb, sizeof(qkb), "%ld",
           (cfg->max_batch_bytes / 1024) > 65536 ? 65536L
                                                 : cfg->max_batch_bytes / 1024);
  if(rd_kafka_conf_set(conf, "group.id", cfg->group_id, err, errlen) ||
     rd_kafka_conf_set(conf, "partition.assignment.strategy",
                       "cooperative-sticky", err, errlen) ||
     rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err,
                       errlen) ||
     rd_kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen) ||
     rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
     rd_kafka_conf_set(conf, "max.poll.interval.ms", mpi, err, errlen) ||
     rd_kafka_conf_set(conf, "queued.max.messages.kbytes", qkb, err, errlen) ||
     wk_kafka_conf(cfg, bootstrap, conf, err, errlen)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, c);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_error_cb(conf, on_kafka_error);
  c->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
  if(!c->consumer)
    return -1;
  rd_kafka_poll_set_consumer(c->consumer);
  topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, cfg->topic_deliveries,
                                    RD_KAFKA_PARTITION_UA);
  rc = rd_kafka_subscribe(c->consumer, topics) ? -1 : 0;
  rd_kafka_topic_partition_list_destroy(topics);
  if(rc)
    snprintf(err, errlen, "cannot subscribe to %s", cfg->topic_deliveries);
  return rc;
}

/* Kafka (embedded when so configured), the producer, and the --submit
 * deliveries. 0, or -1 with a message. */
static int start_kafka(wk_run *c, const run_args *a, wk_embedded *emb,
                       char *err, size_t errlen) {
  const char *bootstrap = wk_kafka_bootstrap(c->cfg);
  size_t k;
  if(!bootstrap) {
    snprintf(err, errlen, "%s: set kafka.bootstrap.servers (or 'embedded')",
             a->path);
    return -1;
  }
  if(wk_kafka_is_embedded(c->cfg)) {
    if(wk_embedded_start(c->cfg, 4, emb, err, errlen))
      return -1;
    bootstrap = emb->bootstrap;
    wk_log(WK_INFO, "embedded Kafka cluster started", "bootstrap", bootstrap,
           NULL);
  }
  if(wk_producer_new(c->cfg, bootstrap, &c->prod, err, errlen))
    return -1;
  c->prod.on_ack = wk_run_on_ack;
  c->prod.ack_ctx = c;
  c->prod.metrics = &c->metrics;
  for(k = 0; k < a->nsubmits; k++) {
    wk_submit_result sr;
    char e2[512];
    if(wk_submit_file(c->cfg, &c->prod, a->submits[k], NULL, &sr, e2,
                      sizeof(e2))) {
      snprintf(err, errlen, "--submit %s: %s", a->submits[k], e2);
      return -1;
    }
  }
  if(a->nsubmits && wk_producer_flush(&c->prod, 60000, err, errlen))
    return -1;
  return start_consumer(c, bootstrap, err, errlen);
}

/* Everything before Kafka: the sender stage, the admin endpoint, the
 * schemas. 0, or -1 with a message. */
static int start_stages(wk_run *c, const run_args *a, char *err,
                        size_t errlen) {
  const wk_config *cfg = c->cfg;
  unsigned senders = (unsigned)cfg->max_in_flight;
  if(ddas_cbs_mode_forwards(c->mode)) { /* pull: no sender stage at all */
    if(!*cfg->cbs_url) {
      snprintf(err, errlen,
               "%s: cbs.url is not set (cbs.mode = %s forwards to CBS; "
               "cbs.mode = pull publishes to topic.accepted only)",
               a->path, ddas_cbs_mode_name(c->mode));
      return -1;
    }
    if(!strncmp(cfg->cbs_url, "file://", 7))
      senders = 1; /* an outbox is a local directory: one writer */
    if(wk_sender_start(cfg, senders, &c->metrics, &c->sender, err, errlen))
      return -1;
  }
  ddas_stall_init(&c->stall, (unsigned)cfg->config_fault_threshold, 3);
  if(*cfg->admin_listen) {
    if(wk_admin_start(cfg->admin_listen, &c->metrics, &c->admin, err, errlen))
      return -1;
    WK_LOG(WK_INFO, "admin endpoint listening",
           WK_STR("listen", cfg->admin_listen),
           WK_INT("port", wk_admin_port(c->admin)));
  }
  if(!c->set && wk_schemas_load(&c->set, err, errlen))
    return -1;
  return 0;
}

/* librdkafka 2.0.2 (Debian 12) can assert in rd_kafka_destroy of a
 * cooperative-sticky consumer whose assignor state is empty, e.g. after the
 * coordinator went away during a rebalance
 * (rd_kafka_sticky_assignor_state_destroy; librdkafka #4312, fixed in
 * 2.3.0; the fault matrix's broker-down row hit it about one run in four).
 * The consumer is destroyed last, after the commit, the group's leave and
 * the producer's flush, so such an abort loses nothing: the stop keeps the
 * exit status it had instead of becoming a crash (134). */
static volatile sig_atomic_t destroy_status;

static void on_destroy_abort(int sig) {
  static const char msg[] =
      "{\"level\":\"warn\",\"event\":\"librdkafka asserted while "
      "destroying the consumer (librdkafka #4312); offsets were committed "
      "and events flushed before\"}\n";
  (void)sig;
  if(write(2, msg, sizeof(msg) - 1) < 0) {
    /* nothing else to do in a handler */
  }
  _exit(destroy_status);
}

static void destroy_consumer(rd_kafka_t *rk, int status) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_destroy_abort;
  sigemptyset(&sa.sa_mask);
  destroy_status = status;
  sigaction(SIGABRT, &sa, &old);
  rd_kafka_destroy(rk);
  sigaction(SIGABRT, &old, NULL);
}

static void teardown(wk_run *c, wk_embedded *emb, int status) {
  size_t k;
  /* a start that failed half-way never closed the consumer: close it while
   * the stages its rebalance callback uses still exist */
  if(c->consumer && !rd_kafka_consumer_closed(c->consumer))
    rd_kafka_consumer_close(c->consumer);
  wk_sender_stop(c->sender);
  while(c->held) {
    wk_job *j = c->held;
    c->held = j->next;
    wk_job_free(j);
  }
  /* before the deliveries: its last delivery reports still name them */
  if(c->prod.rk)
    wk_producer_close(&c->prod);
  while(c->deliveries) {
    wk_delivery *d = c->deliveries;
    c->deliveries = d->next;
    ddas_batcher_free(d->batcher);
    free(d->forwarded);
    free(d->listed);
    free(d);
  }
  /* after the producer: its last delivery reports store offsets */
  if(c->consumer)
    destroy_consumer(c->consumer, status);
  for(k = 0; k < WK_MAX_PARTITIONS; k++)
    ddas_asm_free(c->asm_[k]);
  wk_admin_stop(c->admin);
  wk_embedded_stop(emb);
  ddas_schemaset_free(c->set);
}

int wk_cmd_run(int argc, char **argv) {
  static wk_run c; /* large (per-partition tables) */
  run_args a;
  wk_config cfg;
  wk_embedded emb;
  wk_serve *srv = NULL;
  char err[1024];
  int status;
  memset(&c, 0, sizeof(c));
  memset(&emb, 0, sizeof(emb));
  if((status = parse_args(argc, argv, &a)))
    return status < 0 ? 0 : status;
  if(wk_config_load(a.path, &cfg, err, sizeof(err)) ||
     wk_config_core(&cfg, &c.rules, &c.mask, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  c.cfg = &cfg;
  wk_log_init(&cfg);
  wk_metrics_init(&c.metrics);
  wk_metrics_set_timeout(&c.metrics, cfg.timeout_ms);
  c.metrics.lag_topic = cfg.topic_deliveries;
  wk_catch_stop_signals();
  status = 2;
  /* the enumeration was checked by wk_config_load */
  ddas_cbs_mode_parse(cfg.cbs_mode, &c.mode);
  if(wk_startcheck(&cfg,
                   ddas_cbs_mode_forwards(c.mode)
                       ? WK_CHECK_ALL
                       : WK_CHECK_ALL & ~(unsigned)WK_CHECK_CBS,
                   &c.set, NULL, err, sizeof(err)) ||
     start_stages(&c, &a, err, sizeof(err)) ||
     start_kafka(&c, &a, &emb, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    goto out;
  }
  if(a.serve &&
     (status = wk_serve_start(
          &cfg, emb.bootstrap[0] ? emb.bootstrap : wk_kafka_bootstrap(&cfg),
          a.serve_port_file, &srv)))
    goto out;
  wk_log(WK_INFO, "worker started", "group", cfg.group_id, "topic",
         cfg.topic_deliveries, "cbs_mode", ddas_cbs_mode_name(c.mode), NULL);
  run_loop(&c, a.until_idle, a.idle_ms);
  wk_log(WK_INFO, "worker stopping", NULL);
  drain_stages(&c);
  if(!c.fatal)
    rd_kafka_commit(c.consumer, NULL, 0); /* what is durable */
  rd_kafka_consumer_close(c.consumer);
  status = c.fatal ? 1 : 0;
  if(c.fatal)
    wk_log(WK_ERROR,
           "stopped on an error (see above); offsets after it were not "
           "committed, so a restart redoes that work",
           NULL);
  if(a.until_idle)
    print_summary(&c);
  if(srv && a.until_idle) {
    fflush(stdout); /* the summary first: a script waits for it */
    while(!wk_stop_requested())
      wk_sleep_ms(100);
  }
out:
  wk_serve_stop(srv); /* before the embedded cluster goes */
  teardown(&c, &emb, status);
  wk_config_free(&cfg);
  return status;
}
