/* The consumer stage of `run` (see run.h): every message goes to the
 * partition's assembler (ddas/assembly.h), whose actions say what to do
 * with it; a chunk to check goes through the core and its accepted records
 * into the delivery's batcher, whose full batches go to the sender stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "log.h"
#include "run.h"

/* The envelope context of delivery d (ddas_envelope_context): its time of
 * submission, for aanleverdatumEnTijd when it has none of its own (SHV
 * v0.9), is the Kafka timestamp of its first message, not the clock, so
 * that a delivery redone after a crash or a rebalance yields the same
 * findings and byte-identical batches (CBS refuses a known Idempotency-Key
 * with another body); the clock only when the message has no timestamp.
 * `buf` holds the time. */
static void envelope(const wk_run *c, const wk_delivery *d,
                     ddas_envelope_context *out, char *buf, size_t cap) {
  wk_rfc3339(d->published_ms < 0 ? (time_t)-1
                                 : (time_t)(d->published_ms / 1000),
             buf, cap);
  wk_config_envelope(c->cfg, buf,
                     d->published_ms < 0
                         ? "the worker's clock when the delivery's first "
                           "message (without a timestamp) arrived"
                         : "the Kafka timestamp of the delivery's first "
                           "message (when it was submitted)",
                     out);
}

static wk_delivery *find(wk_run *c, int32_t part, uint64_t handle) {
  wk_delivery *d;
  for(d = c->deliveries; d; d = d->next)
    if(d->partition == part && d->handle == handle && !d->abandoned)
      return d;
  return NULL;
}

/* A document-scope rejection the worker decides itself about one message
 * (`rule`, `message`). With d, it is one of d's events; without, the event
 * of a dropped message, whose offset is done when it is acknowledged. */
static int worker_rejection(wk_run *c, wk_delivery *d, const char *id,
                            const char *key, int32_t part, int64_t offset,
                            const char *rule, const char *message) {
  ddas_rejection_in in;
  ddas_finding f;
  ddas_event ev;
  ddas_source src;
  wk_delivery tmp;
  char when[40];
  memset(&in, 0, sizeof(in));
  memset(&f, 0, sizeof(f));
  memset(&tmp, 0, sizeof(tmp));
  f.severity = DDAS_SEV_ERROR;
  f.scope = DDAS_SCOPE_DOCUMENT;
  f.rule = rule;
  f.pointer = (char *)(uintptr_t) "";
  f.message = (char *)(uintptr_t)message;
  src.topic = c->cfg->topic_deliveries;
  src.partition = part;
  src.offset = offset;
  snprintf(tmp.id, sizeof(tmp.id), "%s", id);
  snprintf(tmp.key, sizeof(tmp.key), "%s", key);
  wk_run_base(c, d ? d : &tmp, &in.base, when, sizeof(when));
  in.sources = &src;
  in.nsources = 1;
  in.kind = d ? d->kind : DDAS_KIND_UNKNOWN;
  in.schema_version = d ? d->version : NULL;
  in.scope = DDAS_SCOPE_DOCUMENT;
  in.pointer = "";
  in.levering_teller = -1;
  in.findings = &f;
  in.nfindings = 1;
  c->rejection_events++;
  return d ? wk_run_emit(c, c->cfg->topic_rejections,
                         ddas_event_rejection(&in, &ev), &ev, d)
           : wk_run_emit_drop(c, &ev, ddas_event_rejection(&in, &ev), part,
                              offset);
}

static int publish_rejections(wk_run *c, wk_delivery *d,
                              const ddas_validate_result *res, int64_t offset) {
  ddas_rejection_group *g = NULL;
  size_t n = 0, i;
  ddas_source src;
  int rc = 0;
  src.topic = c->cfg->topic_deliveries;
  src.partition = d->partition;
  src.offset = offset;
  if(ddas_rejection_groups(res, &g, &n))
    return -1;
  for(i = 0; i < n && !rc; i++) {
    ddas_rejection_in in;
    ddas_event ev;
    char when[40];
    memset(&in, 0, sizeof(in));
    wk_run_base(c, d, &in.base, when, sizeof(when));
    in.sources = &src;
    in.nsources = 1;
    in.kind = res->detection.kind;
    in.schema_version = res->detection.version;
    in.scope = g[i].scope;
    in.pointer = g[i].pointer;
    in.levering_teller = -1;
    in.findings = g[i].findings;
    in.nfindings = g[i].nfindings;
    rc = wk_run_emit(c, c->cfg->topic_rejections,
                     ddas_event_rejection(&in, &ev), &ev, d);
    c->rejection_events++;
  }
  ddas_rejection_groups_free(g, n);
  return rc;
}

static void count_result(wk_run *c, wk_delivery *d,
                         const ddas_validate_result *res) {
  size_t k;
  if(d->kind == DDAS_KIND_UNKNOWN) {
    d->kind = res->detection.kind;
    d->version = res->detection.version;
  }
  if(!d->ident.period_start[0] && !d->ident.org_name[0] && res->doc)
    ddas_delivery_identity_get(ddas_json_root(res->doc), &d->ident);
  d->records += res->records;
  d->accepted += res->accepted;
  d->rejected += res->rejected;
  d->warned += res->warned;
  for(k = 0; k < 2; k++) {
    d->normalised[k] += res->normalised.n[k];
    atomic_fetch_add(&c->metrics.normalised[k], res->normalised.n[k]);
  }
  for(k = 0; k <= DDAS_MAX_RULES; k++) {
    d->rule_errors[k] += res->rule_errors[k];
    d->rule_warnings[k] += res->rule_warnings[k];
    atomic_fetch_add(&c->metrics.rejected_by_rule[k], res->rule_errors[k]);
    atomic_fetch_add(&c->metrics.warnings_by_rule[k], res->rule_warnings[k]);
  }
  /* by the kind of the chunk: VS vroegsignalen are not trajecten */
  k = res->detection.kind < WK_KINDS ? (size_t)res->detection.kind : 0;
  atomic_fetch_add(&c->metrics.records_consumed[k], res->records);
  atomic_fetch_add(&c->metrics.records_accepted[k], res->accepted);
  atomic_fetch_add(&c->metrics.records_rejected[k], res->rejected);
  atomic_fetch_add(&c->metrics.records_warned[k], res->warned);
}

static int new_batcher(wk_run *c, wk_delivery *d) {
  ddas_batch_options bo;
  char sent[40];
  memset(&bo, 0, sizeof(bo));
  envelope(c, d, &bo.envelope, sent, sizeof(sent));
  bo.time_from_delivery = 1;
  bo.delivery_id = d->id;
  bo.max_records = (size_t)c->cfg->max_records;
  bo.max_bytes = (size_t)c->cfg->max_batch_bytes;
  bo.norm_mask = c->mask;
  return ddas_batcher_new(&bo, &d->batcher) ? -1 : 0;
}

/* Adds a checked chunk's accepted records to the delivery's batches and
 * submits the full ones. */
static int batch_chunk(wk_run *c, wk_delivery *d, ddas_validate_result *res,
                       int64_t offset) {
  ddas_result added;
  ddas_batch b;
  if(!d->batcher && new_batcher(c, d))
    return -1;
  added = ddas_batcher_add_release(d->batcher, res);
  if(added == DDAS_ERR_ARG) {
    /* a chunk of another kind or period than the first: its records
     * cannot share the delivery's batches */
    size_t k = res->detection.kind < WK_KINDS ? (size_t)res->detection.kind : 0;
    d->rejected += res->accepted;
    d->accepted -= res->accepted;
    atomic_fetch_sub(&c->metrics.records_accepted[k], res->accepted);
    atomic_fetch_add(&c->metrics.records_rejected[k], res->accepted);
    return worker_rejection(c, d, d->id, d->key, d->partition, offset,
                            "delivery.chunks",
                            "this chunk differs in kind or reporting period "
                            "from the delivery's first chunk");
  }
  if(added != DDAS_OK)
    return -1; /* out of memory: nothing committed, redone */
  while(ddas_batcher_next(d->batcher, &b))
    wk_run_submit(c, d, &b);
  return 0;
}

/* The envelope d's batches carry (ddas_envelope_value, with the context the
 * batcher gets), from the first chunk that has one: a manifest names it
 * even when the delivery has no batch (a reader orders the deliveries of
 * one organisation and period by it). A batch's own envelope replaces it
 * (run_outcome.c), byte for byte the same. */
static void manifest_envelope(wk_delivery *d, const ddas_envelope_context *ec,
                              const ddas_json *root) {
  static const char *const members[2] = {"aanleverdatumEnTijd",
                                         "codeGegevensleverancier"};
  char *const out[2] = {d->env.delivered_at, d->env.code};
  size_t k, n;
  const char *from, *v;
  if(d->env.delivered_at[0] || d->env.code[0])
    return;
  for(k = 0; k < 2; k++)
    if((v = ddas_envelope_value(ec, root, members[k], &n, &from)) &&
       n < sizeof(d->env.code)) {
      memcpy(out[k], v, n);
      out[k][n] = '\0';
    }
}

static int check_chunk(wk_run *c, wk_delivery *d, rd_kafka_message_t *m) {
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_envelope_context ec;
  char err[512], kind[16], version[16], sent[40];
  int r = 0;
  if(!wk_header(m, "ddas-kind", kind, sizeof(kind)))
    kind[0] = '\0';
  if(!wk_header(m, "ddas-schema-version", version, sizeof(version)))
    version[0] = '\0';
  memset(&vo, 0, sizeof(vo));
  vo.rules = &c->rules;
  vo.norm_mask = c->mask;
  vo.keep_document = 1;
  vo.max_findings = 1000;
  vo.kind = ddas_kind_parse(kind);
  vo.version = vo.kind != DDAS_KIND_UNKNOWN ? version : NULL;
  envelope(c, d, &ec, sent, sizeof(sent)); /* as the batcher will fill */
  vo.envelope = &ec;
  if(ddas_validate_buffer(c->set, &vo, m->payload ? m->payload : "", m->len,
                          &res, err, sizeof(err))) {
    wk_log(WK_ERROR, "cannot check a delivery", "delivery_id", d->id, "error",
           err, NULL);
    ddas_validate_result_clear(&res);
    return -1;
  }
  count_result(c, d, &res);
  if(res.doc && ddas_cbs_mode_publishes(c->mode))
    manifest_envelope(d, &ec, ddas_json_root(res.doc));
  if(publish_rejections(c, d, &res, m->offset) ||
     (res.accepted && batch_chunk(c, d, &res, m->offset)))
    r = -1;
  ddas_validate_result_clear(&res);
  return r;
}

static wk_delivery *open_delivery(wk_run *c, rd_kafka_message_t *m,
                                  const ddas_asm_action *x, const char *id,
                                  const char *key) {
  wk_delivery *d = calloc(1, sizeof(*d));
  if(!d)
    return NULL;
  d->handle = x->delivery;
  d->partition = m->partition;
  d->gen = c->gen[m->partition];
  d->nchunks = x->nchunks;
  snprintf(d->id, sizeof(d->id), "%s", id);
  snprintf(d->key, sizeof(d->key), "%s", key);
  d->published_ms = rd_kafka_message_timestamp(m, NULL);
  d->next = c->deliveries;
  c->deliveries = d;
  return d;
}

/* Carries out one action of the assembler for message m (NULL for the
 * actions of a tick). */
static int apply(wk_run *c, int32_t part, rd_kafka_message_t *m,
                 const ddas_asm_action *x, const char *id, const char *key) {
  wk_delivery *d = x->delivery ? find(c, part, x->delivery) : NULL;
  char why[300];
  switch(x->kind) {
  case DDAS_ASM_CHECK:
    if(x->first && !(d = open_delivery(c, m, x, id, key)))
      return -1;
    if(!d)
      return -1;
    if(x->first)
      c->open_count[part]++;
    d->seen = x->chunk;
    d->open_bytes += m->len;
    c->open_bytes += (long long)m->len;
    return check_chunk(c, d, m);
  case DDAS_ASM_COMPLETE:
  case DDAS_ASM_INCOMPLETE:
    if(!d)
      return -1;
    wk_run_closed(c, d);
    d->ended = x->kind == DDAS_ASM_COMPLETE ? 1 : 2;
    d->why = x->reason;
    d->seen = x->kind == DDAS_ASM_COMPLETE ? x->nchunks : x->seen;
    wk_run_end(c, d);
    return 0;
  case DDAS_ASM_DROP:
    c->dropped_chunks++;
    snprintf(why, sizeof(why), "chunk %u of %u is not checked: %s", x->chunk,
             x->nchunks, ddas_asm_reason_text(x->reason));
    wk_log(WK_WARN, "chunk dropped", "delivery_id", id, "reason",
           ddas_asm_reason_id(x->reason), NULL);
    return worker_rejection(c, NULL, id, key, part, x->offset,
                            "delivery.incomplete", why);
  case DDAS_ASM_DUPLICATE:
  case DDAS_ASM_REPEAT: return 0;
  case DDAS_ASM_ABANDON:
    if(d) {
      wk_log(WK_WARN,
             "delivery abandoned: partition revoked; the next owner redoes it",
             "delivery_id", d->id, NULL);
      wk_run_closed(c, d);
      d->abandoned = 1;
    }
    return 0;
  }
  return 0;
}

/* The ddas-chunk header: NULL when absent, "" (malformed) when too long. */
static const char *chunk_header(rd_kafka_message_t *m, char *buf, size_t cap) {
  rd_kafka_headers_t *h = NULL;
  const void *v;
  size_t n;
  if(rd_kafka_message_headers(m, &h) || !h ||
     rd_kafka_header_get_last(h, "ddas-chunk", &v, &n))
    return NULL;
  if(!v || n >= cap)
    return "";
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

int wk_run_message(wk_run *c, rd_kafka_message_t *m) {
  char id[200], chunk[32], key[200];
  const char *hchunk;
  ddas_asm_message_in in;
  ddas_asm_action acts[DDAS_ASM_MAX_ACTIONS];
  size_t n, i;
  int32_t part = m->partition;
  if(part < 0 || part >= WK_MAX_PARTITIONS) {
    wk_log(WK_ERROR, "partition number too large for this worker", NULL);
    return -1;
  }
  if(!c->asm_[part] &&
     ddas_asm_new((uint64_t)c->cfg->incomplete_after_ms, &c->asm_[part]))
    return -1;
  atomic_fetch_add(&c->metrics.messages_consumed, 1);
  atomic_fetch_add(&c->metrics.consumed_bytes, m->len);
  if(!c->first_msg_ms)
    c->first_msg_ms = wk_mono_ms();
  if(!wk_header(m, "ddas-delivery-id", id, sizeof(id)) || !id[0])
    snprintf(id, sizeof(id), "%s/%d/%lld", c->cfg->topic_deliveries, (int)part,
             (long long)m->offset);
  hchunk = chunk_header(m, chunk, sizeof(chunk));
  key[0] = '\0';
  if(m->key && m->key_len < sizeof(key)) {
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
  }
  in.offset = m->offset;
  in.delivery_id = id;
  in.chunk_header = hchunk;
  in.now_ms = wk_mono_ms();
  if(ddas_asm_message(c->asm_[part], &in, acts, &n))
    return -1;
  for(i = 0; i < n; i++)
    if(apply(c, part, m, &acts[i], id, key))
      return -1;
  wk_run_update_pause(c);
  return 0;
}

void wk_run_tick(wk_run *c) {
  int32_t p;
  ddas_asm_action acts[16];
  uint64_t now = wk_mono_ms();
  for(p = 0; p < WK_MAX_PARTITIONS; p++) {
    size_t n, i;
    if(!c->asm_[p])
      continue;
    do {
      n = ddas_asm_tick(c->asm_[p], now, acts, 16);
      for(i = 0; i < n; i++)
        if(apply(c, p, NULL, &acts[i], "", ""))
          c->fatal = 1;
    } while(n == 16);
  }
  wk_run_update_pause(c);
}

void wk_run_closed(wk_run *c, wk_delivery *d) {
  if(d->ended || d->abandoned)
    return;
  c->open_bytes -= (long long)d->open_bytes;
  d->open_bytes = 0;
  if(c->open_count[d->partition])
    c->open_count[d->partition]--;
}

void wk_run_revoke(wk_run *c, int32_t part) {
  ddas_asm_action acts[16];
  size_t n, i;
  if(part < 0 || part >= WK_MAX_PARTITIONS)
    return;
  /* no longer ours: not paused by us (a new assignment starts resumed) */
  if(c->part_paused[part] && c->npaused)
    c->npaused--;
  c->part_paused[part] = 0;
  if(!c->asm_[part])
    return;
  wk_sender_cancel(c->sender, part);
  wk_run_release_held(c, part);
  do {
    n = ddas_asm_revoke(c->asm_[part], acts, 16);
    for(i = 0; i < n; i++)
      apply(c, part, NULL, &acts[i], "", "");
  } while(n == 16);
  c->gen[part]++;
}

/* Adds partition p of the assignment to l. */
static void add_part(rd_kafka_topic_partition_list_t **l, const char *topic,
                     int32_t p, int n) {
  if(!*l)
    *l = rd_kafka_topic_partition_list_new(n);
  rd_kafka_topic_partition_list_add(*l, topic, p);
}

void wk_run_update_pause(wk_run *c) {
  rd_kafka_topic_partition_list_t *a = NULL, *pause = NULL, *resume = NULL;
  int i, npaused = 0, full;
  full = ddas_flow_full((c->pause & WK_PAUSE_FULL) != 0,
                        c->inflight_bytes + c->open_bytes,
                        c->cfg->max_inflight_bytes);
  if(full != ((c->pause & WK_PAUSE_FULL) != 0))
    wk_log(WK_INFO,
           full ? "run.max_inflight_bytes reached: partitions without an "
                  "open delivery paused until outcomes drain"
                : "below run.max_inflight_bytes again: partitions resumed",
           NULL);
  c->pause = (c->pause & ~(unsigned)WK_PAUSE_FULL) | (full ? WK_PAUSE_FULL : 0);
  /* what flow control counts, so the gauge says how close the pause is */
  atomic_store(&c->metrics.inflight_bytes, c->inflight_bytes + c->open_bytes);
  /* the usual case, after every message: nothing paused, nothing to pause
   * (no need to fetch the assignment) */
  if(!c->pause && !c->npaused)
    return;
  if(!c->consumer || rd_kafka_assignment(c->consumer, &a) || !a)
    return;
  for(i = 0; i < a->cnt; i++) {
    int32_t p = a->elems[i].partition;
    int want;
    if(p < 0 || p >= WK_MAX_PARTITIONS)
      continue;
    want = ddas_flow_pause((c->pause & WK_PAUSE_STALL) != 0, full,
                           c->open_count[p] > 0);
    if(want != c->part_paused[p])
      add_part(want ? &pause : &resume, a->elems[i].topic, p, a->cnt);
    c->part_paused[p] = (unsigned char)want;
    npaused += want;
  }
  if(pause)
    rd_kafka_pause_partitions(c->consumer, pause);
  if(resume)
    rd_kafka_resume_partitions(c->consumer, resume);
  if(pause)
    rd_kafka_topic_partition_list_destroy(pause);
  if(resume)
    rd_kafka_topic_partition_list_destroy(resume);
  c->npaused = npaused;
  atomic_store(&c->metrics.paused_partitions, npaused);
  rd_kafka_topic_partition_list_destroy(a);
}
