/* worker/run.h: the state of `ddas-worker run`, shared by its stages.
 *
 *   consumer stage (run_check.c): polls Kafka always, tells the core's
 *     assembler every message, checks chunks, cuts batches and submits
 *     them to the sender stage; pauses the partitions while the bytes of
 *     batches not yet durable exceed run.max_inflight_bytes or while CBS
 *     refuses every batch (a configuration-fault stall);
 *   sender stage (sender.c): up to cbs.max_in_flight batches at CBS at once;
 *   outcome stage (run_outcome.c): takes finished batches, applies the
 *     core's decision (ddas/stall.h), publishes receipts, rejections and
 *     parked batches, publishes accepted batches and manifests to
 *     topic.accepted as cbs.mode says (ddas/accepted.h; in pull the sender
 *     stage is not started and a batch is published as soon as it is cut),
 *     and marks a delivery's offsets done in the assembler when Kafka has
 *     acknowledged every event of it (delivery reports).
 *
 * All three run in the main thread except the senders; the only state the
 * threads share is inside the sender stage. */
#ifndef WK_RUN_H
#define WK_RUN_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ddas/accepted.h"
#include "ddas/assembly.h"
#include "ddas/ddas.h"
#include "ddas/stall.h"
#include "ddas/status.h"
#include "kafka.h"
#include "sender.h"

#define WK_MAX_PARTITIONS 1024

/* A delivery being checked, sent or made durable. Freed when its receipt
 * is acknowledged (or, once abandoned, when nothing refers to it). */
typedef struct wk_delivery {
  uint64_t handle; /* the assembler's */
  int32_t partition;
  uint64_t gen; /* the partition's assignment generation */
  char id[200], key[200];
  int64_t published_ms; /* Kafka timestamp of its first message, or -1 */
  ddas_batcher *batcher;
  ddas_kind kind;
  const char *version;
  ddas_delivery_identity ident; /* of its first chunk, for the receipt */
  size_t records, accepted, rejected, warned;
  size_t normalised[6];
  size_t rule_errors[DDAS_MAX_RULES + 1];
  size_t rule_warnings[DDAS_MAX_RULES + 1];
  struct {
    unsigned index;
    char id[33];
  } * forwarded; /* batches CBS accepted, for the receipt */
  size_t nforwarded;
  /* batches for the manifest (cbs.mode pull or both): published to
   * topic.accepted or parked; and the envelope of the first one */
  struct wk_listed {
    unsigned index;
    char id[33];
    size_t records;
  } * listed;
  size_t nlisted;
  ddas_batch_envelope env;
  int manifest_sent;
  int ended; /* 0 open, 1 complete, 2 incomplete */
  unsigned nchunks, seen;
  ddas_asm_reason why; /* of an incomplete delivery */
  size_t open_bytes;   /* checked chunks while the delivery is open */
  size_t batches_out;  /* batches at the sender or held, without outcome */
  size_t unacked;      /* events produced, not yet acknowledged */
  int receipt_sent, abandoned;
  struct wk_delivery *next;
} wk_delivery;

typedef struct {
  wk_config *cfg;
  ddas_cbs_mode mode; /* cbs.mode */
  ddas_schemaset *set;
  ddas_ruleset rules;
  unsigned mask;
  wk_sender *sender;
  wk_producer prod;
  rd_kafka_t *consumer;
  ddas_assembler *asm_[WK_MAX_PARTITIONS];
  uint64_t gen[WK_MAX_PARTITIONS];
  wk_delivery *deliveries;
  wk_job *held; /* batches held during a stall */
  ddas_stall stall;
  uint64_t next_token;
  long long inflight_bytes; /* batches built, outcome not yet published */
  long long open_bytes;     /* checked chunks of open deliveries */
  unsigned open_count[WK_MAX_PARTITIONS]; /* open deliveries per partition */
  unsigned char part_paused[WK_MAX_PARTITIONS];
  int npaused; /* partitions in part_paused that are set */
  int cooperative;
  int assigned;         /* ever had an assignment */
  uint64_t assigned_ms; /* when the last assignment came */
  unsigned pause;       /* WK_PAUSE_* reasons in force */
  int fatal;            /* an event was not acknowledged, or worse */
  /* totals for the summary */
  size_t ndeliveries, incomplete, records, accepted, rejected, warned;
  size_t forwarded, parked, rejection_events, dropped_chunks;
  size_t published, manifests; /* to topic.accepted */
  size_t rule_errors[DDAS_MAX_RULES + 1];
  uint64_t first_msg_ms, last_done_ms;
  wk_metrics metrics;
  wk_admin *admin;
} wk_run;

enum { WK_PAUSE_STALL = 1, WK_PAUSE_FULL = 2 };

/* run_check.c: the consumer stage */
int wk_run_message(wk_run *c, rd_kafka_message_t *m);
void wk_run_tick(wk_run *c);
void wk_run_revoke(wk_run *c, int32_t partition);
/* A delivery stops being open (ended or abandoned): what it held as open
 * chunks no longer counts. */
void wk_run_closed(wk_run *c, wk_delivery *d);
/* Pauses and resumes partitions as the core's flow control says (a stall,
 * run.max_inflight_bytes); called after every change and on every tick. */
void wk_run_update_pause(wk_run *c);

/* run_outcome.c: the outcome stage */
void wk_run_outcomes(wk_run *c);
/* Ends a delivery that has all its chunks or never will: finishes its
 * batches; the receipt follows when they all have outcomes. */
void wk_run_end(wk_run *c, wk_delivery *d);
/* Produces an event built by a core builder (built is its result) on
 * behalf of d (NULL: none), and releases it: 0, or -1 (c->fatal set). */
int wk_run_emit(wk_run *c, const char *topic, ddas_result built, ddas_event *ev,
                wk_delivery *d);
/* As wk_run_emit for the event of a dropped message: its offset is done
 * when Kafka acknowledges it. */
int wk_run_emit_drop(wk_run *c, ddas_event *ev, ddas_result built,
                     int32_t partition, int64_t offset);
/* Frees d when nothing refers to it any more, or publishes its receipt,
 * or marks its offsets done, whatever is next. */
void wk_run_advance(wk_run *c, wk_delivery *d);
void wk_run_submit(wk_run *c, wk_delivery *d, ddas_batch *b);
/* Frees the batches of `partition` held during a stall (revoked). */
void wk_run_release_held(wk_run *c, int32_t partition);
void wk_run_store_offsets(wk_run *c, int32_t partition);
void wk_run_base(wk_run *c, const wk_delivery *d, ddas_event_base *b,
                 char *when, size_t cap);
ddas_source *wk_run_sources(wk_run *c, const wk_delivery *d, size_t *n);
/* The producer's delivery report hook (kafka.h). */
void wk_run_on_ack(void *ctx, void *opaque, int failed);

#endif
