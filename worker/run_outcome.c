/* The outcome stage of `run` (see run.h): finished batches, receipts,
 * parked batches, and when offsets are done.
 *
 * A delivery's offsets are done in the core's assembler only when every
 * event of it is acknowledged by Kafka (acks=all), counted by delivery
 * reports: d->unacked goes up before an event is queued and down in its
 * report. Delivery reports only count; the sweep in wk_run_outcomes moves
 * deliveries on, so that nothing is freed under a caller's feet while
 * librdkafka serves reports inside a produce call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddas/checks.h"
#include "io.h"
#include "log.h"
#include "run.h"

typedef struct {
  wk_delivery *d; /* NULL: the event of a dropped message */
  int32_t partition;
  int64_t offset;
  uint64_t gen;
  size_t bytes; /* of a batch published to topic.accepted: counted in
                   inflight_bytes until acknowledged (librdkafka holds a
                   copy until then) */
} ack_ref;

void wk_run_base(wk_run *c, const wk_delivery *d, ddas_event_base *b,
                 char *when, size_t cap) {
  wk_rfc3339(-1, when, cap);
  b->delivery_id = d->id;
  b->key = d->key[0] ? d->key : NULL;
  b->ce_source = c->cfg->events_source;
  b->time = when;
}

ddas_source *wk_run_sources(wk_run *c, const wk_delivery *d, size_t *n) {
  const int64_t *offs = NULL;
  ddas_source *s;
  size_t i;
  *n = 0;
  if(c->asm_[d->partition] && c->gen[d->partition] == d->gen)
    offs = ddas_asm_offsets(c->asm_[d->partition], d->handle, n);
  s = calloc(*n ? *n : 1, sizeof(*s));
  if(!s) {
    *n = 0;
    return NULL;
  }
  for(i = 0; i < *n; i++) {
    s[i].topic = c->cfg->topic_deliveries;
    s[i].partition = d->partition;
    s[i].offset = offs[i];
  }
  return s;
}

void wk_run_store_offsets(wk_run *c, int32_t part) {
  int64_t o;
  rd_kafka_topic_partition_list_t *l;
  if(part < 0 || part >= WK_MAX_PARTITIONS || !c->asm_[part] || c->fatal)
    return;
  o = ddas_asm_committable(c->asm_[part]);
  if(o < 0)
    return;
  l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, c->cfg->topic_deliveries, part)->offset =
      o;
  rd_kafka_offsets_store(c->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
}

void wk_run_on_ack(void *ctx, void *opaque, int failed) {
  wk_run *c = ctx;
  ack_ref *a = opaque;
  if(failed)
    c->fatal = 1; /* nothing is committed any more: redone after restart */
  if(a->bytes) {
    c->inflight_bytes -= (long long)a->bytes;
    atomic_store(&c->metrics.inflight_bytes, c->inflight_bytes + c->open_bytes);
  }
  if(a->d) {
    a->d->unacked--; /* the sweep in wk_run_outcomes moves it on */
  } else if(!failed && c->asm_[a->partition] &&
            c->gen[a->partition] == a->gen) {
    /* a dropped message's event is durable: its offset is done */
    ddas_asm_offset_done(c->asm_[a->partition], a->offset);
    wk_run_store_offsets(c, a->partition);
  }
  free(a);
}

static int emit_ref(wk_run *c, const char *topic, ddas_result built,
                    ddas_event *ev, ack_ref *a) {
  int rc = -1;
  if(a && built == DDAS_OK) {
    if(a->d)
      a->d->unacked++;
    rc = wk_produce_opaque(&c->prod, topic, ev, a);
    if(rc && a->d)
      a->d->unacked--;
  }
  if(rc) {
    free(a);
    c->fatal = 1;
    wk_log(WK_ERROR,
           "an event could not be built or queued; stopping so that no "
           "offset moves past it",
           "topic", topic, "error", c->prod.last_error, NULL);
  }
  ddas_event_clear(ev);
  return rc;
}

int wk_run_emit(wk_run *c, const char *topic, ddas_result built, ddas_event *ev,
                wk_delivery *d) {
  ack_ref *a = calloc(1, sizeof(*a));
  if(a)
    a->d = d;
  return emit_ref(c, topic, built, ev, a);
}

int wk_run_emit_drop(wk_run *c, ddas_event *ev, ddas_result built,
                     int32_t partition, int64_t offset) {
  ack_ref *a = calloc(1, sizeof(*a));
  if(a) {
    a->partition = partition;
    a->offset = offset;
    a->gen = c->gen[partition];
  }
  return emit_ref(c, c->cfg->topic_rejections, built, ev, a);
}

/* ---- batches ----------------------------------------------------------- */

/* Lists batch b in d's manifest (cbs.mode pull or both): published or
 * parked. 0, or -1 when out of memory. */
static int list_batch(wk_delivery *d, const ddas_batch *b) {
  void *p = realloc(d->listed, (d->nlisted + 1) * sizeof(*d->listed));
  if(!p)
    return -1;
  d->listed = p;
  if(!d->nlisted) {
    /* the batches' own envelope, as written; on a failed read (which zeroes
     * its output) keep what manifest_envelope found in the first chunk */
    ddas_batch_envelope env;
    if(ddas_batch_envelope_read(b->body, b->len, &env, NULL, 0) == DDAS_OK)
      d->env = env;
  }
  d->listed[d->nlisted].index = b->index;
  memcpy(d->listed[d->nlisted].id, b->id, 33);
  d->listed[d->nlisted++].records = b->records;
  return 0;
}

/* Publishes batch b of d to topic.accepted (its exact body as the value);
 * one of d's events, so d's offsets wait for its acknowledgement. */
static void publish_accepted(wk_run *c, wk_delivery *d, const ddas_batch *b) {
  ddas_accepted_batch_in in;
  ddas_event ev;
  ddas_result r;
  ack_ref *a = calloc(1, sizeof(*a));
  memset(&in, 0, sizeof(in));
  in.delivery_id = d->id;
  in.kind = d->kind;
  in.ident = &d->ident;
  in.batch_id = b->id;
  in.batch_index = b->index;
  in.records = b->records;
  in.body = b->body;
  in.body_len = b->len;
  r = ddas_accepted_batch(&in, &ev);
  if(!a || r != DDAS_OK || list_batch(d, b)) {
    free(a);
    wk_log(WK_ERROR,
           "a batch could not be made a topic.accepted message; stopping so "
           "that no offset moves past it",
           "delivery_id", d->id, "batch_id", b->id, "error",
           r ? ddas_result_str(r) : "out of memory", NULL);
    ddas_event_clear(&ev);
    c->fatal = 1;
    return;
  }
  a->d = d;
  a->bytes = b->len;
  d->unacked++;
  c->inflight_bytes += (long long)b->len;
  if(wk_produce_value(&c->prod, c->cfg->topic_accepted, &ev, b->body, b->len,
                      a)) {
    d->unacked--;
    c->inflight_bytes -= (long long)b->len;
    free(a);
    c->fatal = 1;
    wk_log(WK_ERROR,
           "a batch could not be queued for topic.accepted; stopping so that "
           "no offset moves past it",
           "topic", c->cfg->topic_accepted, "error", c->prod.last_error, NULL);
  } else {
    c->published++;
  }
  atomic_store(&c->metrics.inflight_bytes, c->inflight_bytes + c->open_bytes);
  ddas_event_clear(&ev);
}

void wk_run_submit(wk_run *c, wk_delivery *d, ddas_batch *b) {
  wk_job *j;
  if(ddas_batch_next_step(c->mode, 0) == DDAS_STEP_PUBLISH) {
    /* pull: nothing goes to CBS; the publication is the batch's outcome */
    atomic_fetch_add(&c->metrics.batches_built, 1);
    publish_accepted(c, d, b);
    ddas_batch_clear(b);
    return;
  }
  j = calloc(1, sizeof(*j));
  if(!j) {
    ddas_batch_clear(b);
    c->fatal = 1;
    return;
  }
  j->token = ++c->next_token;
  j->owner = d;
  j->partition = d->partition;
  j->batch = *b;
  memset(b, 0, sizeof(*b));
  d->batches_out++;
  c->inflight_bytes += (long long)j->batch.len;
  atomic_store(&c->metrics.inflight_bytes, c->inflight_bytes + c->open_bytes);
  atomic_fetch_add(&c->metrics.batches_built, 1);
  wk_sender_submit(c->sender, j);
}

static void parked_event(wk_run *c, wk_delivery *d, wk_job *j) {
  ddas_parked_in in;
  ddas_event ev;
  char when[40];
  size_t n;
  ddas_source *src = wk_run_sources(c, d, &n);
  const wk_send_result *r = &j->res;
  ddas_outcome o = j->rc ? DDAS_OUT_TRANSIENT : r->outcome;
  memset(&in, 0, sizeof(in));
  wk_run_base(c, d, &in.base, when, sizeof(when));
  in.batch_id = j->batch.id;
  in.batch_index = j->batch.index;
  in.records = j->batch.records;
  in.digest = r->digest;
  in.signature = r->signature ? r->signature : "";
  in.sig_profile = c->cfg->sign_profile;
  in.content_type = "application/json";
  in.reason = o == DDAS_OUT_REFUSED        ? "refused"
              : o == DDAS_OUT_CONFIG_FAULT ? "config-fault"
                                           : "transient-exhausted";
  in.last_error = r->last_error[0] ? r->last_error : "unknown";
  in.problem = r->problem;
  in.attempts = r->log;
  in.nattempts = r->nlog;
  in.sources = src;
  in.nsources = n;
  in.body = j->batch.body;
  in.body_len = j->batch.len;
  in.kind = d->kind;
  in.org_name = d->ident.org_name;
  in.org_code = d->ident.org_code;
  in.period_start = d->ident.period_start;
  in.period_end = d->ident.period_end;
  if(ddas_cbs_mode_publishes(c->mode) && list_batch(d, &j->batch))
    c->fatal = 1; /* the manifest lists parked batches too */
  if(!wk_run_emit(c, c->cfg->topic_failed, ddas_event_parked(&in, &ev), &ev,
                  d)) {
    c->parked++;
    atomic_fetch_add(&c->metrics.batches_parked, 1);
    atomic_store(&c->metrics.cbs_failing, o == DDAS_OUT_TRANSIENT);
    char problem[512] = ""; /* without CBS's free text (ddas/checks.h) */
    if(r->problem)
      ddas_problem_summary(r->problem, strlen(r->problem), problem,
                           sizeof(problem));
    WK_LOG(WK_WARN, "batch parked", WK_STR("delivery_id", d->id),
           WK_STR("batch_id", j->batch.id), WK_STR("reason", in.reason),
           WK_INT("records", j->batch.records),
           WK_INT("attempts", j->res.attempts),
           WK_INT("http_status", j->res.http_status),
           WK_STR("error", in.last_error),
           WK_STR("problem", r->problem ? problem : NULL));
  }
  free(src);
}

static void forwarded_event(wk_run *c, wk_delivery *d, wk_job *j) {
  ddas_forwarded_in in;
  ddas_event ev;
  char when[40];
  size_t n;
  ddas_source *src = wk_run_sources(c, d, &n);
  void *f = realloc(d->forwarded, (d->nforwarded + 1) * sizeof(*d->forwarded));
  memset(&in, 0, sizeof(in));
  wk_run_base(c, d, &in.base, when, sizeof(when));
  in.batch_id = j->batch.id;
  in.batch_index = j->batch.index;
  in.records = j->batch.records;
  in.bytes = j->batch.len;
  in.digest = j->res.digest;
  in.http_status = j->res.http_status ? j->res.http_status : 200; /* outbox */
  in.attempts = j->res.attempts ? j->res.attempts : 1;
  in.sources = src;
  in.nsources = n;
  if(!f) {
    c->fatal = 1;
  } else {
    d->forwarded = f;
    d->forwarded[d->nforwarded].index = j->batch.index;
    memcpy(d->forwarded[d->nforwarded++].id, j->batch.id, 33);
  }
  if(!wk_run_emit(c, c->cfg->topic_receipts, ddas_event_forwarded(&in, &ev),
                  &ev, d)) {
    c->forwarded++;
    atomic_fetch_add(&c->metrics.batches_forwarded, 1);
    atomic_store(&c->metrics.last_forward_unix, (long long)time(NULL));
    atomic_store(&c->metrics.cbs_failing, 0);
  }
  free(src);
}

static ddas_sent sent_of(const wk_job *j) {
  if(j->rc)
    return DDAS_SENT_LOCAL;
  switch(j->res.outcome) {
  case DDAS_OUT_FORWARDED: return DDAS_SENT_FORWARDED;
  case DDAS_OUT_REFUSED: return DDAS_SENT_REFUSED;
  case DDAS_OUT_CONFIG_FAULT: return DDAS_SENT_CONFIG_FAULT;
  case DDAS_OUT_AUTH:
  case DDAS_OUT_TRANSIENT: break;
  }
  return DDAS_SENT_TRANSIENT;
}

static void stall_begins(wk_run *c, const wk_job *j) {
  c->pause |= WK_PAUSE_STALL;
  wk_sender_hold(c->sender, 1);
  atomic_store(&c->metrics.stalled, 1);
  wk_log(WK_ERROR,
         "configuration fault: consumption paused, not ready; probing CBS "
         "with the same batch",
         "batch_id", j->batch.id, "error", j->res.last_error, NULL);
  wk_run_update_pause(c);
}

/* The stall is over: consumption resumes and the held batches go again. */
static void stall_ends(wk_run *c, const char *why) {
  c->pause &= ~(unsigned)WK_PAUSE_STALL;
  wk_sender_hold(c->sender, 0);
  atomic_store(&c->metrics.stalled, 0);
  atomic_store(&c->metrics.cbs_failing, 0);
  while(c->held) {
    wk_job *j = c->held;
    c->held = j->next;
    wk_send_result_clear(&j->res);
    j->probe = 0;
    j->not_before_ms = 0;
    wk_sender_submit(c->sender, j);
  }
  wk_log(WK_INFO, why, NULL);
  wk_run_update_pause(c);
}

/* A batch is finished with: its bytes no longer count. */
static void release_job(wk_run *c, wk_delivery *d, wk_job *j) {
  d->batches_out--;
  c->inflight_bytes -= (long long)j->batch.len;
  atomic_store(&c->metrics.inflight_bytes, c->inflight_bytes + c->open_bytes);
  wk_job_free(j);
}

void wk_run_release_held(wk_run *c, int32_t part) {
  wk_job **pp = &c->held;
  while(*pp) {
    wk_job *j = *pp;
    if(j->partition != part) {
      pp = &j->next;
      continue;
    }
    *pp = j->next;
    release_job(c, j->owner, j);
  }
}

/* CBS's answers to the job's attempts (each job's log is counted once:
 * it is cleared before the job goes again). */
static void count_attempts(wk_run *c, const wk_job *j) {
  size_t i;
  for(i = 0; i < j->res.nlog; i++) {
    wk_metrics_response(&c->metrics, j->res.log[i].http_status);
    if(j->res.log[i].http_status)
      atomic_fetch_add(&c->metrics.cbs_sent_bytes, j->batch.len);
  }
}

static void on_finished(wk_run *c, wk_job *j) {
  wk_delivery *d = j->owner;
  ddas_stall_decision x;
  count_attempts(c, j);
  if(j->rc == -2 || d->abandoned) {
    /* abandoned (revoked, or a stop): no outcome. The delivery cannot be
     * finished without this batch, so it is abandoned as a whole: no
     * receipt, its offsets stay pending, and the next owner redoes it. */
    if(!d->abandoned) {
      wk_run_closed(c, d);
      d->abandoned = 1;
    }
    if(ddas_stall_abandoned(&c->stall, j->token))
      stall_ends(c, "the probe batch was abandoned; consuming resumed");
    release_job(c, d, j);
    return;
  }
  x = ddas_stall_on_sent(&c->stall, j->token, sent_of(j));
  if(x.stall_begins)
    stall_begins(c, j);
  switch(x.next) {
  case DDAS_NEXT_FORWARDED:
    forwarded_event(c, d, j);
    if(ddas_batch_next_step(c->mode, DDAS_BATCH_FORWARDED) == DDAS_STEP_PUBLISH)
      publish_accepted(c, d, &j->batch); /* both: after it is forwarded */
    release_job(c, d, j);
    break;
  case DDAS_NEXT_PARK:
    parked_event(c, d, j);
    release_job(c, d, j);
    break;
  case DDAS_NEXT_PROBE:
    wk_send_result_clear(&j->res);
    j->probe = 1;
    j->not_before_ms =
        wk_mono_ms() +
        (uint64_t)(c->cfg->retry_max_ms > 1000 ? c->cfg->retry_max_ms : 1000);
    wk_sender_submit(c->sender, j);
    break;
  case DDAS_NEXT_HOLD:
    j->next = c->held;
    c->held = j;
    break;
  }
  if(x.stall_ends)
    stall_ends(c, x.next == DDAS_NEXT_FORWARDED
                      ? "CBS accepts batches again; consuming resumed"
                      : "the probe batch is parked; consuming resumed");
}

/* ---- deliveries -------------------------------------------------------- */

void wk_run_end(wk_run *c, wk_delivery *d) {
  ddas_batch b;
  if(d->batcher) {
    if(ddas_batcher_finish(d->batcher)) {
      c->fatal = 1;
      return;
    }
    while(ddas_batcher_next(d->batcher, &b))
      wk_run_submit(c, d, &b);
  }
}

static int by_index(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return x < y ? -1 : x > y;
}

static void count_done(wk_run *c, wk_delivery *d) {
  size_t k;
  int incomplete = d->ended == 2;
  c->ndeliveries++;
  c->incomplete += (size_t)incomplete;
  c->last_done_ms = wk_mono_ms();
  atomic_fetch_add(incomplete ? &c->metrics.deliveries_incomplete
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
}

/* The delivery's receipt: processed, or incomplete with its chunks. */
static void receipt(wk_run *c, wk_delivery *d) {
  ddas_processed_in in;
  ddas_event ev;
  ddas_rule_count rc[DDAS_MAX_RULES + 1], wc[DDAS_MAX_RULES + 1];
  const char *ids[4096], **idv = ids;
  size_t nrc = 0, nwc = 0, k, ntable, n;
  const ddas_rule_info *table = ddas_rule_table(&ntable);
  char when[40];
  ddas_source *src;
  for(k = 0; k <= DDAS_MAX_RULES; k++) {
    if(d->rule_errors[k]) {
      rc[nrc].rule = k < ntable ? table[k].id : "other";
      rc[nrc++].count = d->rule_errors[k];
    }
    if(d->rule_warnings[k]) {
      wc[nwc].rule = k < ntable ? table[k].id : "other";
      wc[nwc++].count = d->rule_warnings[k];
    }
  }
  if(d->nforwarded > 1)
    qsort(d->forwarded, d->nforwarded, sizeof(*d->forwarded), by_index);
  if(d->nforwarded > 4096 && !(idv = calloc(d->nforwarded, sizeof(*idv)))) {
    c->fatal = 1;
    return;
  }
  for(k = 0; k < d->nforwarded; k++)
    idv[k] = d->forwarded[k].id;
  src = wk_run_sources(c, d, &n);
  memset(&in, 0, sizeof(in));
  wk_run_base(c, d, &in.base, when, sizeof(when));
  in.sources = src;
  in.nsources = n;
  in.kind = d->kind;
  in.schema_version = d->version;
  in.status = d->ended == 2 ? "incomplete" : "processed";
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
  in.warnings_by_rule = wc;
  in.nwarnings_by_rule = nwc;
  in.batch_ids = idv;
  in.nbatch_ids = d->nforwarded;
  in.nchunks = d->nchunks;
  in.chunks_seen = d->seen;
  in.reason = ddas_asm_reason_id(d->why);
  in.reason_text = ddas_asm_reason_text(d->why);
  in.org_name = d->ident.org_name;
  in.org_code = d->ident.org_code;
  in.period_start = d->ident.period_start;
  in.period_end = d->ident.period_end;
  d->receipt_sent = 1;
  if(!wk_run_emit(c, c->cfg->topic_receipts, ddas_event_processed(&in, &ev),
                  &ev, d)) {
    WK_LOG(d->ended == 2 ? WK_WARN : WK_INFO,
           d->ended == 2 ? "delivery incomplete" : "delivery processed",
           WK_STR("delivery_id", d->id),
           WK_STR("kind", ddas_kind_name(d->kind)),
           WK_INT("records", d->records), WK_INT("accepted", d->accepted),
           WK_INT("rejected", d->rejected), WK_INT("warned", d->warned),
           WK_INT("batches_forwarded", d->nforwarded),
           WK_STR("reason", d->ended == 2 ? in.reason : NULL));
    count_done(c, d);
  }
  free(src);
  if(idv != ids)
    free(idv);
}

/* The delivery's manifest on topic.accepted: every batch of it, the
 * published ones already acknowledged (so a reader that sees the manifest
 * finds them) and the parked ones (a replay supplies them). */
static void manifest(wk_run *c, wk_delivery *d) {
  ddas_accepted_manifest_in in;
  ddas_accepted_ref *refs = calloc(d->nlisted ? d->nlisted : 1, sizeof(*refs));
  ddas_event ev;
  size_t k;
  d->manifest_sent = 1;
  if(!refs) {
    c->fatal = 1;
    return;
  }
  for(k = 0; k < d->nlisted; k++) {
    refs[k].index = d->listed[k].index;
    refs[k].id = d->listed[k].id;
    refs[k].records = d->listed[k].records;
  }
  memset(&in, 0, sizeof(in));
  in.delivery_id = d->id;
  in.kind = d->kind;
  in.ident = &d->ident;
  in.delivered_at = d->env.delivered_at;
  in.code = d->env.code;
  in.batches = refs;
  in.nbatches = d->nlisted;
  if(!wk_run_emit(c, c->cfg->topic_accepted, ddas_accepted_manifest(&in, &ev),
                  &ev, d))
    c->manifests++;
  free(refs);
}

static void free_delivery(wk_run *c, wk_delivery *d) {
  wk_delivery **pp;
  for(pp = &c->deliveries; *pp; pp = &(*pp)->next)
    if(*pp == d) {
      *pp = d->next;
      break;
    }
  ddas_batcher_free(d->batcher);
  free(d->forwarded);
  free(d->listed);
  free(d);
}

void wk_run_advance(wk_run *c, wk_delivery *d) {
  if(d->abandoned) {
    if(!d->batches_out && !d->unacked)
      free_delivery(c, d);
    return;
  }
  if(!d->ended || d->batches_out || c->fatal)
    return;
  if(!d->receipt_sent) {
    if(!d->manifest_sent &&
       ddas_manifest_due(c->mode, d->ended == 2, d->kind)) {
      if(d->unacked)
        return; /* the manifest follows its batches' acknowledgements */
      manifest(c, d);
    }
    receipt(c, d);
    return;
  }
  if(d->unacked)
    return;
  /* durable: the offsets may move */
  if(ddas_asm_delivery_done(c->asm_[d->partition], d->handle) != DDAS_OK) {
    wk_log(WK_ERROR,
           "internal: a finished delivery is unknown to its "
           "partition's assembler",
           "delivery_id", d->id, NULL);
    c->fatal = 1;
    return;
  }
  wk_run_store_offsets(c, d->partition);
  free_delivery(c, d);
}

void wk_run_outcomes(wk_run *c) {
  wk_job *j;
  wk_delivery *d, *next;
  rd_kafka_poll(c->prod.rk, 0); /* delivery reports */
  while((j = wk_sender_done(c->sender)))
    on_finished(c, j);
  for(d = c->deliveries; d; d = next) {
    next = d->next;
    wk_run_advance(c, d);
  }
}
