/* `ddas-worker run`: the daemon (DESIGN.md "Data flow", "Guarantees").
 *
 * One message at a time: a delivery (or one chunk of it) is checked by the
 * core, its rejections are published, its accepted records are written into
 * batches that are forwarded (or parked), and only when every outcome is
 * acknowledged by Kafka (acks=all) are its offsets marked done. The offset
 * tracker of the core then says how far the partition may be committed: a
 * chunked delivery keeps its first chunk's offset pending until its last
 * chunk is done, so a crash, a rebalance or a SIGTERM at any moment loses
 * nothing: the next owner reads the delivery again and produces the same
 * batches with the same ids.
 *
 * Memory is bounded by one delivery's chunk, the open batches of chunked
 * deliveries (batch.max_bytes each) and librdkafka's fetch queue
 * (queued.max.messages.kbytes): the worker does not poll while it works, so
 * a backlog stays in Kafka. */
#define _DEFAULT_SOURCE /* usleep */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cmd.h"
#include "config.h"
#include "ddas/ddas.h"
#include "forward.h"
#include "kafka.h"
#include "log.h"
#include "submit.h"

#define MAX_PARTITIONS 1024

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

typedef struct {
  int32_t partition;
  int64_t offset;
} msgref;

typedef struct delivery {
  char id[200];
  char key[200];
  int32_t partition;
  size_t nchunks, expected;
  msgref *msgs;
  size_t nmsgs;
  ddas_batcher *batcher;
  ddas_kind kind;
  const char *version;
  size_t records, accepted, rejected, warned;
  size_t normalised[6];
  size_t rule_errors[DDAS_MAX_RULES + 1];
  char **batch_ids;
  size_t nbatch_ids;
  uint64_t last_seen_ms;
  int64_t published_ms; /* Kafka timestamp of its first message, or -1 */
  struct delivery *next;
} delivery;

typedef struct {
  wk_config *cfg;
  ddas_schemaset *set;
  ddas_ruleset rules;
  unsigned mask;
  wk_forwarder *fw;
  wk_producer prod;
  rd_kafka_t *consumer;
  ddas_offsets *trackers[MAX_PARTITIONS];
  delivery *open;
  char ce_source[256];
  int cooperative;
  int assigned;         /* ever had an assignment */
  uint64_t assigned_ms; /* when the last assignment came */
  int ready;
  /* totals for the summary */
  size_t deliveries, incomplete, records, accepted, rejected, warned;
  size_t forwarded, parked, rejection_events;
  size_t rule_errors[DDAS_MAX_RULES + 1];
  uint64_t first_msg_ms, last_done_ms; /* for the summary's throughput */
  wk_metrics metrics;                  /* served by the admin endpoint */
  wk_admin *admin;
} run_ctx;

enum { RUN_OK = 0, RUN_ABANDON = 1, RUN_FATAL = 2 };

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void now_rfc3339(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* aanleverdatumEnTijd of a delivery's batches when the delivery has none
 * of its own (SHV v0.9; otherwise the batcher takes the delivery's, see
 * time_from_delivery): the Kafka timestamp of its first message, not the
 * clock, so that a delivery redone after a crash or a rebalance yields
 * byte-identical batches. CBS refuses a known Idempotency-Key with another
 * body (409), so a batch that reached CBS before the crash would otherwise
 * be parked as refused when redone. The clock only when the message has no
 * timestamp. */
static void sent_time(const delivery *d, char *buf, size_t cap) {
  time_t t;
  struct tm tm;
  if(d->published_ms < 0) {
    now_rfc3339(buf, cap);
    return;
  }
  t = (time_t)(d->published_ms / 1000);
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker run -c FILE [--submit DELIVERY]... "
          "[--until-idle]\n"
          "\n"
          "The daemon: consumes deliveries from topic.deliveries in the\n"
          "consumer group kafka.group.id, checks them with the core, forwards\n"
          "accepted batches to cbs.url, and publishes rejections, receipts\n"
          "and parked batches. Offsets move only when every outcome is\n"
          "durable. SIGTERM or SIGINT: finish or abandon the current\n"
          "delivery, commit what is durable, leave the group, exit 0.\n"
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
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 stopped cleanly, 1 stopped on an error that needs\n"
          "attention (the log says which; nothing was committed for the\n"
          "delivery at hand), 2 usage or configuration error.\n");
}

/* ---- deliveries -------------------------------------------------------- */

static delivery *find_delivery(run_ctx *c, const char *id, int32_t part) {
  delivery *d;
  for(d = c->open; d; d = d->next)
    if(d->partition == part && strcmp(d->id, id) == 0)
      return d;
  return NULL;
}

static void free_delivery(run_ctx *c, delivery *d) {
  delivery **pp;
  size_t i;
  for(pp = &c->open; *pp; pp = &(*pp)->next)
    if(*pp == d) {
      *pp = d->next;
      break;
    }
  ddas_batcher_free(d->batcher);
  for(i = 0; i < d->nbatch_ids; i++)
    free(d->batch_ids[i]);
  free(d->batch_ids);
  free(d->msgs);
  free(d);
}

static ddas_source *sources_of(run_ctx *c, const delivery *d) {
  ddas_source *s = calloc(d->nmsgs ? d->nmsgs : 1, sizeof(*s));
  size_t i;
  if(!s)
    return NULL;
  for(i = 0; i < d->nmsgs; i++) {
    s[i].topic = c->cfg->topic_deliveries;
    s[i].partition = d->msgs[i].partition;
    s[i].offset = d->msgs[i].offset;
  }
  return s;
}

static void base_of(run_ctx *c, const delivery *d, ddas_event_base *b,
                    char *when, size_t cap) {
  now_rfc3339(when, cap);
  b->delivery_id = d->id;
  b->key = d->key[0] ? d->key : NULL;
  b->ce_source = c->ce_source;
  b->time = when;
}

static void store_offsets(run_ctx *c, int32_t part) {
  int64_t o;
  rd_kafka_topic_partition_list_t *l;
  if(part < 0 || part >= MAX_PARTITIONS || !c->trackers[part])
    return;
  o = ddas_offsets_committable(c->trackers[part]);
  if(o < 0)
    return;
  l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, c->cfg->topic_deliveries, part)->offset =
      o;
  rd_kafka_offsets_store(c->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
}

static void pause_all(run_ctx *c, int pause) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if(rd_kafka_assignment(c->consumer, &a) || !a)
    return;
  if(pause)
    rd_kafka_pause_partitions(c->consumer, a);
  else
    rd_kafka_resume_partitions(c->consumer, a);
  rd_kafka_topic_partition_list_destroy(a);
}

/* Produces an event built by a core builder (`built` is the builder's
 * result) and releases it: 0, or -1 when it was not built or not queued. */
static int publish(run_ctx *c, const char *topic, ddas_result built,
                   ddas_event *ev) {
  int rc =
      built == DDAS_OK && wk_produce_event(&c->prod, topic, ev) == 0 ? 0 : -1;
  ddas_event_clear(ev);
  return rc;
}

/* ---- batches ----------------------------------------------------------- */

static int park(run_ctx *c, delivery *d, const ddas_batch *b,
                const wk_send_result *r) {
  ddas_parked_in in;
  ddas_event ev;
  char when[40];
  ddas_source *src = sources_of(c, d);
  int rc;
  memset(&in, 0, sizeof(in));
  base_of(c, d, &in.base, when, sizeof(when));
  in.batch_id = b->id;
  in.batch_index = b->index;
  in.records = b->records;
  in.digest = r->digest;
  in.signature = r->signature ? r->signature : "";
  in.sig_profile = c->cfg->sign_profile;
  in.content_type = "application/json";
  in.reason = r->outcome == DDAS_OUT_REFUSED        ? "refused"
              : r->outcome == DDAS_OUT_CONFIG_FAULT ? "config-fault"
                                                    : "transient-exhausted";
  in.last_error = r->last_error[0] ? r->last_error : "unknown";
  in.problem = r->problem;
  in.attempts = r->log;
  in.nattempts = r->nlog;
  in.sources = src;
  in.nsources = d->nmsgs;
  in.body = b->body;
  in.body_len = b->len;
  rc = publish(c, c->cfg->topic_failed, ddas_event_parked(&in, &ev), &ev);
  free(src);
  if(!rc) {
    c->parked++;
    atomic_fetch_add(&c->metrics.batches_parked, 1);
    atomic_store(&c->metrics.cbs_failing, r->outcome == DDAS_OUT_TRANSIENT);
    wk_log(WK_WARN, "batch parked", "delivery_id", d->id, "batch_id", b->id,
           "reason", in.reason, NULL);
  }
  return rc;
}

static int receipt_forwarded(run_ctx *c, delivery *d, const ddas_batch *b,
                             const wk_send_result *r) {
  ddas_forwarded_in in;
  ddas_event ev;
  char when[40];
  ddas_source *src = sources_of(c, d);
  int rc;
  memset(&in, 0, sizeof(in));
  base_of(c, d, &in.base, when, sizeof(when));
  in.batch_id = b->id;
  in.batch_index = b->index;
  in.records = b->records;
  in.bytes = b->len;
  in.digest = r->digest;
  in.http_status = r->http_status ? r->http_status : 200; /* outbox */
  in.attempts = r->attempts ? r->attempts : 1;
  in.sources = src;
  in.nsources = d->nmsgs;
  rc = publish(c, c->cfg->topic_receipts, ddas_event_forwarded(&in, &ev), &ev);
  free(src);
  return rc;
}

/* Consumption again after a stall; `why` is logged. */
static void resume_after_stall(run_ctx *c, const char *why) {
  atomic_store(&c->metrics.cbs_failing, 0);
  atomic_store(&c->metrics.stalled, 0);
  atomic_store(&c->metrics.paused_partitions, 0);
  if(!c->ready) {
    c->ready = 1;
    pause_all(c, 0);
    wk_log(WK_INFO, why, NULL);
  }
}

/* Forwards one batch until it has an outcome: forwarded, or parked. A
 * configuration fault past the threshold stalls the worker (partitions
 * paused, not ready) and probes with the same batch until CBS answers it.
 * While stalled, a transient failure of the probe is probed again (up to
 * STALL_TRANSIENT_PROBES rounds, each with the full retry budget), not
 * parked at once. Whenever a stalled worker parks its probe (refused by
 * CBS, a local failure, or transient past that limit) it resumes
 * consumption: the partitions are paused, so no later batch would ever
 * resume them; the next configuration fault stalls it again. */
#define STALL_TRANSIENT_PROBES 3
static int forward_batch(run_ctx *c, delivery *d, const ddas_batch *b) {
  int transient_probes = 0;
  for(;;) {
    wk_send_result r;
    int rc;
    memset(&r, 0, sizeof(r));
    rc = wk_forwarder_send(c->fw, b->id, b->body, b->len, &r);
    if(rc == -2) {
      wk_send_result_clear(&r);
      return RUN_ABANDON;
    }
    if(rc == 0 && r.outcome == DDAS_OUT_FORWARDED) {
      char **ids;
      int e = receipt_forwarded(c, d, b, &r);
      wk_send_result_clear(&r);
      if(e)
        return RUN_FATAL;
      ids = realloc(d->batch_ids, (d->nbatch_ids + 1) * sizeof(*ids));
      if(!ids)
        return RUN_FATAL;
      d->batch_ids = ids;
      d->batch_ids[d->nbatch_ids++] = strdup(b->id);
      c->forwarded++;
      atomic_fetch_add(&c->metrics.batches_forwarded, 1);
      atomic_store(&c->metrics.last_forward_unix, (long long)time(NULL));
      resume_after_stall(c, "CBS accepts batches again; consuming resumed");
      return RUN_OK;
    }
    if(rc == 0 &&
       ((r.outcome == DDAS_OUT_CONFIG_FAULT && !wk_forwarder_healthy(c->fw)) ||
        (r.outcome == DDAS_OUT_TRANSIENT && !c->ready &&
         ++transient_probes <= STALL_TRANSIENT_PROBES))) {
      uint64_t until;
      if(c->ready) {
        rd_kafka_topic_partition_list_t *a = NULL;
        c->ready = 0;
        pause_all(c, 1);
        atomic_store(&c->metrics.stalled, 1);
        if(!rd_kafka_assignment(c->consumer, &a) && a) {
          atomic_store(&c->metrics.paused_partitions, a->cnt);
          rd_kafka_topic_partition_list_destroy(a);
        }
        wk_log(WK_ERROR,
               "configuration fault: consumption paused, not ready; probing "
               "CBS with the same batch",
               "batch_id", b->id, "error", r.last_error, NULL);
      }
      wk_send_result_clear(&r);
      until =
          now_ms() +
          (uint64_t)(c->cfg->retry_max_ms > 1000 ? c->cfg->retry_max_ms : 1000);
      while(!stop_flag && now_ms() < until)
        usleep(100000);
      if(stop_flag)
        return RUN_ABANDON;
      continue;
    }
    if(rc != 0 && r.outcome != DDAS_OUT_TRANSIENT)
      r.outcome = DDAS_OUT_TRANSIENT;
    if(!c->ready)
      resume_after_stall(c, "the probe batch is parked; consuming resumed");
    rc = park(c, d, b, &r);
    wk_send_result_clear(&r);
    return rc ? RUN_FATAL : RUN_OK;
  }
}

static int drain(run_ctx *c, delivery *d) {
  ddas_batch b;
  while(ddas_batcher_next(d->batcher, &b)) {
    int rc;
    atomic_fetch_add(&c->metrics.batches_built, 1);
    rc = forward_batch(c, d, &b);
    ddas_batch_clear(&b);
    if(rc)
      return rc;
  }
  return RUN_OK;
}

/* ---- events of a checked chunk ---------------------------------------- */

static int publish_rejections(run_ctx *c, delivery *d,
                              const ddas_validate_result *res,
                              const msgref *m) {
  ddas_rejection_group *g = NULL;
  size_t n = 0, i;
  ddas_source src;
  int rc = 0;
  src.topic = c->cfg->topic_deliveries;
  src.partition = m->partition;
  src.offset = m->offset;
  if(ddas_rejection_groups(res, &g, &n))
    return -1;
  for(i = 0; i < n && !rc; i++) {
    ddas_rejection_in in;
    ddas_event ev;
    char when[40];
    memset(&in, 0, sizeof(in));
    base_of(c, d, &in.base, when, sizeof(when));
    in.sources = &src;
    in.nsources = 1;
    in.kind = res->detection.kind;
    in.schema_version = res->detection.version;
    in.scope = g[i].scope;
    in.pointer = g[i].pointer;
    in.levering_teller = -1;
    in.findings = g[i].findings;
    in.nfindings = g[i].nfindings;
    rc = publish(c, c->cfg->topic_rejections, ddas_event_rejection(&in, &ev),
                 &ev);
    c->rejection_events++;
  }
  ddas_rejection_groups_free(g, n);
  return rc;
}

/* A document-scope rejection the worker itself decides (incomplete or
 * out-of-order chunks). */
static int publish_worker_rejection(run_ctx *c, delivery *d, const msgref *m,
                                    const char *rule, const char *message) {
  ddas_rejection_in in;
  ddas_finding f;
  ddas_event ev;
  ddas_source src;
  char when[40];
  int rc;
  memset(&in, 0, sizeof(in));
  memset(&f, 0, sizeof(f));
  f.severity = DDAS_SEV_ERROR;
  f.scope = DDAS_SCOPE_DOCUMENT;
  f.rule = rule;
  f.pointer = (char *)(uintptr_t) "";
  f.message = (char *)(uintptr_t)message;
  src.topic = c->cfg->topic_deliveries;
  src.partition = m->partition;
  src.offset = m->offset;
  base_of(c, d, &in.base, when, sizeof(when));
  in.sources = &src;
  in.nsources = 1;
  in.kind = d->kind;
  in.schema_version = d->version;
  in.scope = DDAS_SCOPE_DOCUMENT;
  in.pointer = "";
  in.levering_teller = -1;
  in.findings = &f;
  in.nfindings = 1;
  rc =
      publish(c, c->cfg->topic_rejections, ddas_event_rejection(&in, &ev), &ev);
  c->rejection_events++;
  return rc;
}

static int flush(run_ctx *c) {
  char err[300];
  if(wk_producer_flush(&c->prod, 120000, err, sizeof(err))) {
    wk_log(WK_ERROR,
           "events not acknowledged by Kafka; stopping so that no "
           "offset moves past them",
           "error", err, NULL);
    return RUN_FATAL;
  }
  return RUN_OK;
}

/* Ends a delivery: the last batch, the receipt, then its offsets. */
static int finish(run_ctx *c, delivery *d, const char *status) {
  ddas_processed_in in;
  ddas_event ev;
  ddas_rule_count rc[DDAS_MAX_RULES + 1];
  size_t nrc = 0, k, ntable, i;
  const ddas_rule_info *table = ddas_rule_table(&ntable);
  char when[40];
  ddas_source *src;
  int r;
  if(d->batcher) {
    if(ddas_batcher_finish(d->batcher))
      return RUN_FATAL;
    if((r = drain(c, d)))
      return r;
  }
  for(k = 0; k <= DDAS_MAX_RULES; k++)
    if(d->rule_errors[k]) {
      rc[nrc].rule = k < ntable ? table[k].id : "other";
      rc[nrc++].count = d->rule_errors[k];
    }
  src = sources_of(c, d);
  memset(&in, 0, sizeof(in));
  base_of(c, d, &in.base, when, sizeof(when));
  in.sources = src;
  in.nsources = d->nmsgs;
  in.kind = d->kind;
  in.schema_version = d->version;
  in.status = status;
  in.records = d->records;
  in.accepted = d->accepted;
  in.rejected = d->rejected;
  in.warned = d->warned;
  memcpy(in.normalised, d->normalised, sizeof(in.normalised));
  if(d->batcher)
    for(k = 2; k < 6; k++)
      in.normalised[k] += ddas_batcher_normalised(d->batcher)->n[k];
  in.rejected_by_rule = rc;
  in.nrejected_by_rule = nrc;
  in.batch_ids = (const char *const *)d->batch_ids;
  in.nbatch_ids = d->nbatch_ids;
  r = publish(c, c->cfg->topic_receipts, ddas_event_processed(&in, &ev), &ev)
          ? RUN_FATAL
          : RUN_OK;
  free(src);
  if(r || (r = flush(c)))
    return r;
  /* durable: the offsets may move */
  for(i = 0; i < d->nmsgs; i++)
    if(c->trackers[d->msgs[i].partition])
      ddas_offsets_done(c->trackers[d->msgs[i].partition], d->msgs[i].offset);
  for(i = 0; i < d->nmsgs; i++)
    store_offsets(c, d->msgs[i].partition);
  c->deliveries++;
  c->last_done_ms = now_ms();
  if(strcmp(status, "processed"))
    c->incomplete++;
  atomic_fetch_add(strcmp(status, "processed")
                       ? &c->metrics.deliveries_incomplete
                       : &c->metrics.deliveries_processed,
                   1);
  if(d->batcher)
    for(k = 2; k < 6; k++)
      atomic_fetch_add(&c->metrics.normalised[k],
                       ddas_batcher_normalised(d->batcher)->n[k]);
  c->records += d->records;
  c->accepted += d->accepted;
  c->rejected += d->rejected;
  c->warned += d->warned;
  for(k = 0; k <= DDAS_MAX_RULES; k++)
    c->rule_errors[k] += d->rule_errors[k];
  {
    char nrec[32], nacc[32], nbat[32];
    snprintf(nrec, sizeof(nrec), "%zu", d->records);
    snprintf(nacc, sizeof(nacc), "%zu", d->accepted);
    snprintf(nbat, sizeof(nbat), "%zu", d->nbatch_ids);
    wk_log(WK_INFO, "delivery processed", "delivery_id", d->id, "status",
           status, "records", nrec, "accepted", nacc, "batches_forwarded", nbat,
           NULL);
  }
  free_delivery(c, d);
  return RUN_OK;
}

static int incomplete(run_ctx *c, delivery *d, const char *why) {
  int r;
  if(d->nmsgs && publish_worker_rejection(c, d, &d->msgs[d->nmsgs - 1],
                                          "delivery.incomplete", why))
    return RUN_FATAL;
  wk_log(WK_WARN, "delivery incomplete", "delivery_id", d->id, "reason", why,
         NULL);
  r = finish(c, d, "incomplete");
  return r;
}

/* Checks one message (a delivery or a chunk) and forwards what it can. */
static int process_chunk(run_ctx *c, delivery *d, rd_kafka_message_t *m,
                         const char *kind, const char *version) {
  ddas_validate_options vo;
  ddas_validate_result res;
  char err[512];
  msgref ref;
  int r = RUN_OK;
  size_t k;
  memset(&vo, 0, sizeof(vo));
  vo.rules = &c->rules;
  vo.norm_mask = c->mask;
  vo.keep_document = 1;
  vo.max_findings = 1000;
  vo.kind = ddas_kind_parse(kind);
  vo.version = vo.kind != DDAS_KIND_UNKNOWN ? version : NULL;
  if(ddas_validate_buffer(c->set, &vo, m->payload ? m->payload : "", m->len,
                          &res, err, sizeof(err))) {
    wk_log(WK_ERROR, "cannot check a delivery", "delivery_id", d->id, "error",
           err, NULL);
    ddas_validate_result_clear(&res);
    return RUN_FATAL;
  }
  ref.partition = m->partition;
  ref.offset = m->offset;
  if(d->kind == DDAS_KIND_UNKNOWN) {
    d->kind = res.detection.kind;
    d->version = res.detection.version;
  }
  d->records += res.records;
  d->accepted += res.accepted;
  d->rejected += res.rejected;
  d->warned += res.warned;
  for(k = 0; k < 2; k++)
    d->normalised[k] += res.normalised.n[k];
  for(k = 0; k <= DDAS_MAX_RULES; k++) {
    d->rule_errors[k] += res.rule_errors[k];
    atomic_fetch_add(&c->metrics.rejected_by_rule[k], res.rule_errors[k]);
    atomic_fetch_add(&c->metrics.warnings_by_rule[k], res.rule_warnings[k]);
  }
  for(k = 0; k < 2; k++)
    atomic_fetch_add(&c->metrics.normalised[k], res.normalised.n[k]);
  atomic_fetch_add(&c->metrics.trajecten_accepted, res.accepted);
  atomic_fetch_add(&c->metrics.trajecten_rejected, res.rejected);
  atomic_fetch_add(&c->metrics.trajecten_warned, res.warned);
  if(publish_rejections(c, d, &res, &ref)) {
    r = RUN_FATAL;
    goto out;
  }
  if(res.accepted) {
    if(!d->batcher) {
      ddas_batch_options bo;
      char sent[40];
      sent_time(d, sent, sizeof(sent));
      memset(&bo, 0, sizeof(bo));
      bo.delivery_id = d->id;
      bo.sent_at = sent;
      bo.time_from_delivery = 1;
      bo.code_gegevensleverancier = *c->cfg->code_gegevensleverancier
                                        ? c->cfg->code_gegevensleverancier
                                        : NULL;
      bo.max_records = (size_t)c->cfg->max_records;
      bo.max_bytes = (size_t)c->cfg->max_batch_bytes;
      bo.norm_mask = c->mask;
      if(ddas_batcher_new(&bo, &d->batcher)) {
        r = RUN_FATAL;
        goto out;
      }
    }
    ddas_result added = ddas_batcher_add_release(d->batcher, &res);
    if(added != DDAS_OK && added != DDAS_ERR_ARG) {
      r = RUN_FATAL; /* out of memory: nothing committed, redone */
      goto out;
    }
    if(added == DDAS_ERR_ARG) {
      /* a chunk of another kind or period than the first: its records
       * cannot share the delivery's batches */
      if(publish_worker_rejection(c, d, &ref, "delivery.chunks",
                                  "this chunk differs in kind or reporting "
                                  "period from the delivery's first chunk")) {
        r = RUN_FATAL;
        goto out;
      }
      d->rejected += res.accepted;
      d->accepted -= res.accepted;
    } else if((r = drain(c, d))) {
      goto out;
    }
  }
  r = flush(c);
out:
  ddas_validate_result_clear(&res);
  return r;
}

static int handle_message(run_ctx *c, rd_kafka_message_t *m) {
  char id[200], chunk[32], kind[16], version[16], keybuf[200];
  const char *hid, *hchunk;
  unsigned long ci = 1, cn = 1;
  delivery *d;
  msgref ref;
  int r;
  if(m->partition < 0 || m->partition >= MAX_PARTITIONS) {
    wk_log(WK_ERROR, "partition number too large for this worker", NULL);
    return RUN_FATAL;
  }
  if(!c->trackers[m->partition] && ddas_offsets_new(&c->trackers[m->partition]))
    return RUN_FATAL;
  if(ddas_offsets_begin(c->trackers[m->partition], m->offset))
    return RUN_FATAL;
  atomic_fetch_add(&c->metrics.records_consumed, 1);
  if(!c->first_msg_ms)
    c->first_msg_ms = now_ms();
  atomic_store(&c->metrics.inflight_bytes, (long long)m->len);
  hid = wk_header(m, "ddas-delivery-id", id, sizeof(id));
  if(!hid)
    snprintf(id, sizeof(id), "%s/%d/%lld", c->cfg->topic_deliveries,
             (int)m->partition, (long long)m->offset);
  hchunk = wk_header(m, "ddas-chunk", chunk, sizeof(chunk));
  if(hchunk && (sscanf(chunk, "%lu/%lu", &ci, &cn) != 2 || ci < 1 || ci > cn ||
                cn > 100000)) {
    ci = cn = 1; /* a malformed header: treat as a whole delivery */
  }
  if(!wk_header(m, "ddas-kind", kind, sizeof(kind)))
    kind[0] = '\0';
  if(!wk_header(m, "ddas-schema-version", version, sizeof(version)))
    version[0] = '\0';
  keybuf[0] = '\0';
  if(m->key && m->key_len < sizeof(keybuf)) {
    memcpy(keybuf, m->key, m->key_len);
    keybuf[m->key_len] = '\0';
  }
  ref.partition = m->partition;
  ref.offset = m->offset;

  d = find_delivery(c, id, m->partition);
  if(d && ci == 1) {
    /* the delivery started again: the previous run of it is incomplete */
    if((r = incomplete(c, d,
                       "the delivery started again before its last "
                       "chunk arrived")))
      return r;
    d = NULL;
  }
  if(!d && ci > 1) {
    /* a chunk without its beginning: report and move on */
    delivery tmp;
    memset(&tmp, 0, sizeof(tmp));
    snprintf(tmp.id, sizeof(tmp.id), "%s", id);
    if(publish_worker_rejection(c, &tmp, &ref, "delivery.incomplete",
                                "a chunk of a delivery whose first chunk was "
                                "not seen") ||
       flush(c))
      return RUN_FATAL;
    ddas_offsets_done(c->trackers[m->partition], m->offset);
    store_offsets(c, m->partition);
    return RUN_OK;
  }
  if(d && ci != d->expected) {
    if(ci < d->expected) { /* a duplicate chunk: already in the batches */
      ddas_offsets_done(c->trackers[m->partition], m->offset);
      return RUN_OK;
    }
    return incomplete(c, d, "a chunk is missing");
  }
  if(!d) {
    d = calloc(1, sizeof(*d));
    if(!d)
      return RUN_FATAL;
    snprintf(d->id, sizeof(d->id), "%s", id);
    snprintf(d->key, sizeof(d->key), "%s", keybuf);
    d->partition = m->partition;
    d->nchunks = cn;
    d->expected = 1;
    d->published_ms = rd_kafka_message_timestamp(m, NULL);
    d->next = c->open;
    c->open = d;
  }
  {
    msgref *x = realloc(d->msgs, (d->nmsgs + 1) * sizeof(*x));
    if(!x)
      return RUN_FATAL;
    d->msgs = x;
    d->msgs[d->nmsgs++] = ref;
  }
  d->last_seen_ms = now_ms();
  if((r = process_chunk(c, d, m, kind, version)))
    return r;
  d->expected++;
  if(ci == cn)
    return finish(c, d, "processed");
  return RUN_OK;
}

/* ---- rebalance --------------------------------------------------------- */

static void abandon_partition(run_ctx *c, int32_t part) {
  delivery *d = c->open, *next;
  for(; d; d = next) {
    next = d->next;
    if(d->partition == part) {
      wk_log(WK_WARN,
             "delivery abandoned: partition revoked; the next owner "
             "redoes it",
             "delivery_id", d->id, NULL);
      free_delivery(c, d);
    }
  }
  if(part >= 0 && part < MAX_PARTITIONS && c->trackers[part])
    ddas_offsets_reset(c->trackers[part]);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  run_ctx *c = opaque;
  int i;
  /* the protocol is known only once the group is joined */
  c->cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  if(err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for(i = 0; i < parts->cnt; i++) {
      int32_t p = parts->elems[i].partition;
      if(p >= 0 && p < MAX_PARTITIONS && c->trackers[p])
        ddas_offsets_reset(c->trackers[p]);
    }
    if(c->cooperative)
      rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
    c->assigned = 1;
    c->assigned_ms = now_ms();
    atomic_store(&c->metrics.assigned, 1);
    if(!c->ready)
      rd_kafka_pause_partitions(rk, parts);
    wk_log(WK_INFO, "partitions assigned", NULL);
    return;
  }
  /* revoked (or lost): what is durable is committed, the rest is redone by
   * the next owner. A failed commit loses nothing (the stored offsets are
   * only ever behind durable outcomes) but makes the next owner redo
   * finished work: said, so that many re-sends have an explanation. */
  {
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    if(ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
      wk_log(WK_WARN,
             "offsets not committed at revocation; the next owner redoes "
             "the deliveries since the last commit",
             "error", rd_kafka_err2name(ce), NULL);
  }
  for(i = 0; i < parts->cnt; i++) {
    int32_t p = parts->elems[i].partition;
    abandon_partition(c, p);
    if(p >= 0 && p < WK_MAX_LAG_PARTITIONS)
      atomic_store(&c->metrics.lag[p], -1);
  }
  if(c->cooperative)
    rd_kafka_incremental_unassign(rk, parts);
  else
    rd_kafka_assign(rk, NULL);
  wk_log(WK_INFO, "partitions revoked", NULL);
}

/* Consumer lag of the assigned partitions, from librdkafka's cached
 * watermarks (no broker round trip). */
static void update_lag(run_ctx *c) {
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

/* ---- the command ------------------------------------------------------- */

static void print_summary(const run_ctx *c) {
  size_t n, k, any = 0;
  const ddas_rule_info *t = ddas_rule_table(&n);
  printf("deliveries: %zu (incomplete: %zu), records: %zu, accepted: %zu, "
         "rejected: %zu, with warnings: %zu\n",
         c->deliveries, c->incomplete, c->records, c->accepted, c->rejected,
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
  if(c->first_msg_ms && c->last_done_ms >= c->first_msg_ms) {
    double s = (double)(c->last_done_ms - c->first_msg_ms) / 1000.0;
    printf("busy: %.3f s from the first message to the last outcome (%.0f "
           "records/s)\n",
           s, s > 0 ? (double)c->records / s : 0.0);
  }
}

int wk_cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"submit", required_argument, NULL, 's'},
      {"until-idle", no_argument, NULL, 'u'},
      {"idle-ms", required_argument, NULL, 'i'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *path = NULL, *submits[256], *bootstrap;
  size_t nsubmits = 0, k;
  int until_idle = 0, status = 2, o;
  long idle_ms = 3000;
  wk_config cfg;
  run_ctx c;
  wk_embedded emb;
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_topic_partition_list_t *topics;
  char err[1024];
  struct sigaction sa;
  uint64_t last_msg;

  memset(&c, 0, sizeof(c));
  memset(&emb, 0, sizeof(emb));
  optind = 1;
  while((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch(o) {
    case 'c': path = optarg; break;
    case 's':
      if(nsubmits < 256)
        submits[nsubmits++] = optarg;
      break;
    case 'u': until_idle = 1; break;
    case 'i': idle_ms = strtol(optarg, NULL, 10); break;
    case 'h': usage(stdout); return 0;
    default: fprintf(stderr, "Try 'ddas-worker run --help'.\n"); return 2;
    }
  }
  if(!path || optind != argc || idle_ms < 100) {
    fprintf(stderr, "ddas-worker run: needs -c FILE\n"
                    "Try 'ddas-worker run --help'.\n");
    return 2;
  }
  if(wk_config_load(path, &cfg, err, sizeof(err)) ||
     wk_config_core(&cfg, &c.rules, &c.mask, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  c.cfg = &cfg;
  wk_log_init(&cfg);
  wk_metrics_init(&c.metrics);
  snprintf(c.ce_source, sizeof(c.ce_source), "urn:ddas-worker:%s",
           cfg.group_id);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  if(!*cfg.cbs_url) {
    fprintf(stderr, "ddas-worker run: %s: cbs.url is not set\n", path);
    goto out;
  }
  if(wk_forwarder_new(&cfg, &c.fw, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    goto out;
  }
  wk_forwarder_set_stop(c.fw, &stop_flag);
  wk_forwarder_set_metrics(c.fw, &c.metrics);
  if(*cfg.admin_listen) {
    if(wk_admin_start(cfg.admin_listen, &c.metrics, &c.admin, err,
                      sizeof(err))) {
      fprintf(stderr, "ddas-worker run: %s\n", err);
      goto out;
    }
    {
      char port[16];
      snprintf(port, sizeof(port), "%d", wk_admin_port(c.admin));
      wk_log(WK_INFO, "admin endpoint listening", "port", port, NULL);
    }
  }
  if(ddas_schemaset_new(wk_schema_dir(), &c.set))
    goto out;
  bootstrap = wk_kafka_bootstrap(&cfg);
  if(!bootstrap) {
    fprintf(stderr,
            "ddas-worker run: %s: set kafka.bootstrap.servers (or "
            "'embedded')\n",
            path);
    goto out;
  }
  if(wk_kafka_is_embedded(&cfg)) {
    if(wk_embedded_start(&cfg, 4, &emb, err, sizeof(err))) {
      fprintf(stderr, "ddas-worker run: %s\n", err);
      goto out;
    }
    bootstrap = emb.bootstrap;
    wk_log(WK_INFO, "embedded Kafka cluster started", "bootstrap", bootstrap,
           NULL);
  }
  if(wk_producer_new(&cfg, bootstrap, &c.prod, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    goto out;
  }
  for(k = 0; k < nsubmits; k++) {
    wk_submit_result sr;
    if(wk_submit_file(&cfg, &c.prod, submits[k], NULL, &sr, err, sizeof(err))) {
      fprintf(stderr, "ddas-worker run: --submit %s: %s\n", submits[k], err);
      goto out;
    }
  }
  if(nsubmits && wk_producer_flush(&c.prod, 60000, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker run: --submit: %s\n", err);
    goto out;
  }

  conf = rd_kafka_conf_new();
  {
    char mpi[32], qkb[32];
    snprintf(mpi, sizeof(mpi), "%ld", cfg.max_poll_interval_ms);
    /* the fetch queue holds at most a few batches' worth */
    snprintf(qkb, sizeof(qkb), "%ld",
             (cfg.max_batch_bytes / 1024) > 65536 ? 65536L
                                                  : cfg.max_batch_bytes / 1024);
    if(rd_kafka_conf_set(conf, "group.id", cfg.group_id, err, sizeof(err)) ||
       rd_kafka_conf_set(conf, "partition.assignment.strategy",
                         "cooperative-sticky", err, sizeof(err)) ||
       rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err,
                         sizeof(err)) ||
       rd_kafka_conf_set(conf, "enable.auto.commit", "true", err,
                         sizeof(err)) ||
       rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err,
                         sizeof(err)) ||
       rd_kafka_conf_set(conf, "max.poll.interval.ms", mpi, err, sizeof(err)) ||
       rd_kafka_conf_set(conf, "queued.max.messages.kbytes", qkb, err,
                         sizeof(err)) ||
       wk_kafka_conf(&cfg, bootstrap, conf, err, sizeof(err))) {
      fprintf(stderr, "ddas-worker run: %s\n", err);
      rd_kafka_conf_destroy(conf);
      goto out;
    }
  }
  rd_kafka_conf_set_opaque(conf, &c);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  c.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if(!c.consumer) {
    fprintf(stderr, "ddas-worker run: %s\n", err);
    goto out;
  }
  rd_kafka_poll_set_consumer(c.consumer);
  topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, cfg.topic_deliveries,
                                    RD_KAFKA_PARTITION_UA);
  if(rd_kafka_subscribe(c.consumer, topics)) {
    fprintf(stderr, "ddas-worker run: cannot subscribe to %s\n",
            cfg.topic_deliveries);
    rd_kafka_topic_partition_list_destroy(topics);
    goto out;
  }
  rd_kafka_topic_partition_list_destroy(topics);
  c.ready = 1;
  wk_log(WK_INFO, "worker started", "group", cfg.group_id, "topic",
         cfg.topic_deliveries, NULL);

  status = 0;
  last_msg = now_ms();
  {
    uint64_t last_lag = 0;
    while(!stop_flag) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(c.consumer, 200);
      delivery *d, *next;
      int r = RUN_OK;
      if(m) {
        if(!m->err) {
          r = handle_message(&c, m);
          last_msg = now_ms();
        } else if(m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          wk_log(WK_WARN, "Kafka", "error", rd_kafka_message_errstr(m), NULL);
        }
        rd_kafka_message_destroy(m);
      }
      /* chunked deliveries whose next chunk is overdue */
      for(d = c.open; d && r == RUN_OK; d = next) {
        next = d->next;
        if(now_ms() - d->last_seen_ms > (uint64_t)cfg.incomplete_after_ms)
          r = incomplete(&c, d, "the next chunk did not arrive in time");
      }
      if(r == RUN_ABANDON)
        break;
      if(r == RUN_FATAL) {
        status = 1;
        break;
      }
      if(now_ms() - last_lag > 5000) {
        update_lag(&c);
        last_lag = now_ms();
      }
      if(until_idle && c.assigned && !c.open &&
         now_ms() - (last_msg > c.assigned_ms ? last_msg : c.assigned_ms) >
             (uint64_t)idle_ms)
        break;
    }
  }
  wk_log(WK_INFO, "worker stopping", NULL);
  /* commit what is durable, then leave the group */
  rd_kafka_commit(c.consumer, NULL, 0);
  rd_kafka_consumer_close(c.consumer);
  if(until_idle)
    print_summary(&c);
out:
  while(c.open)
    free_delivery(&c, c.open);
  if(c.consumer)
    rd_kafka_destroy(c.consumer);
  if(c.prod.rk)
    wk_producer_close(&c.prod);
  for(k = 0; k < MAX_PARTITIONS; k++)
    ddas_offsets_free(c.trackers[k]);
  wk_admin_stop(c.admin);
  wk_embedded_stop(&emb);
  ddas_schemaset_free(c.set);
  wk_forwarder_free(c.fw);
  wk_config_free(&cfg);
  return status;
}
