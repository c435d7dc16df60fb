/* ddas/accepted.h: the compacted topic of accepted batches (topic.accepted,
 * default ddas.accepted; the contract is in docs/events.md) and the
 * decisions of `cbs.mode`.
 *
 * `run` publishes every accepted batch there (the exact body that was or
 * would be sent to CBS) and one manifest per finished delivery; `serve`
 * reads the topic to answer CBS's pull interface (POST /gegevens). Keys
 * are deterministic (batch/<delivery-id>/<index>, delivery/<delivery-id>)
 * and a re-processed delivery yields the same keys and the same values, so
 * compaction and the reader deduplicate a publication repeated after a
 * crash.
 *
 * Pure functions: bytes in, bytes out, no clock. Builders follow the
 * contract of ddas/events.h: DDAS_ERR_ARG when a required input is missing
 * or out of range, DDAS_ERR_NOMEM when an allocation fails; on any failure
 * *out is left empty (safe to pass to ddas_event_clear); on success the
 * caller owns *out and releases it with ddas_event_clear(). Every header
 * value is a valid UTF-8 string (invalid bytes become U+FFFD). */
#ifndef DDAS_ACCEPTED_H
#define DDAS_ACCEPTED_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/events.h"
#include "ddas/result.h"
#include "ddas/status.h"

/* Header names of topic.accepted (besides DDAS_H_DELIVERY_ID,
 * DDAS_H_BATCH_ID, DDAS_H_BATCH_INDEX, DDAS_H_RECORDS, DDAS_H_KIND and the
 * identity headers DDAS_H_ORG_NAME … DDAS_H_PERIOD_END of events.h). */
#define DDAS_H_ACC_TYPE "ddas-type"
#define DDAS_H_ACC_BATCHES "ddas-batches"
#define DDAS_H_DELIVERED_AT "ddas-delivered-at"
#define DDAS_H_CODE "ddas-code"
#define DDAS_ACC_TYPE_BATCH "batch"
#define DDAS_ACC_TYPE_MANIFEST "manifest"

/* ---- cbs.mode ----------------------------------------------------------- */

/* push: forward to CBS only (nothing on topic.accepted); pull: publish to
 * topic.accepted only (nothing is sent to CBS); both: forward, then
 * publish. */
typedef enum { DDAS_CBS_PUSH = 0, DDAS_CBS_PULL, DDAS_CBS_BOTH } ddas_cbs_mode;

/* "push", "pull", "both". */
const char *ddas_cbs_mode_name(ddas_cbs_mode m);
/* Parses a mode name (exact, lower case) into *out: DDAS_OK, or
 * DDAS_ERR_ARG (then *out is DDAS_CBS_PUSH). */
ddas_result ddas_cbs_mode_parse(const char *s, ddas_cbs_mode *out);
/* 1 when batches go to CBS in mode m (push, both). */
int ddas_cbs_mode_forwards(ddas_cbs_mode m);
/* 1 when batches and manifests go to topic.accepted (pull, both). */
int ddas_cbs_mode_publishes(ddas_cbs_mode m);

/* What a batch has behind it: DDAS_BATCH_* bits. FORWARDED: CBS answered
 * 2xx (or the outbox took it); PUBLISHED: its topic.accepted message was
 * queued; PARKED: it was parked to topic.failed (never published). */
#define DDAS_BATCH_FORWARDED 1u
#define DDAS_BATCH_PUBLISHED 2u
#define DDAS_BATCH_PARKED 4u

typedef enum {
  DDAS_STEP_SEND,    /* give it to the sender stage (CBS) */
  DDAS_STEP_PUBLISH, /* publish it to topic.accepted */
  DDAS_STEP_DONE     /* it has every outcome the mode needs: when those
                        are acknowledged by Kafka, its offsets may move */
} ddas_batch_step;

/* The next step of a batch in mode m given its DDAS_BATCH_* bits `have`.
 * push: SEND until forwarded; pull: PUBLISH until published (never SEND);
 * both: SEND until forwarded, then PUBLISH until published. A parked batch
 * is DONE (the parked event is its outcome; it is not published). */
ddas_batch_step ddas_batch_next_step(ddas_cbs_mode m, unsigned have);

/* 1 when a delivery that is finished (every batch has its outcome) gets a
 * manifest on topic.accepted: in pull and both, when it is complete
 * (incomplete: 0, ddas/assembly.h) and a DDAS document of a known kind (a
 * message that is not one names no organisation or period to replace). A
 * delivery with no accepted record gets one (it replaces an earlier
 * delivery of the organisation and period), and so does one with a parked
 * batch, which the manifest lists like the others (the reader waits until
 * every listed batch is present; a replay supplies it). */
int ddas_manifest_due(ddas_cbs_mode m, int incomplete, ddas_kind kind);

/* ---- the envelope of a batch body -------------------------------------- */

#define DDAS_ENVELOPE_VALUE_MAX 160

/* The envelope members of a batch body as the core's batcher writes it
 * ({"startdatumLevering":…,"einddatumLevering":…,["aanleverdatumEnTijd":…,]
 * ["codeGegevensleverancier":…,]"leveringen":[…]}), each "" when absent
 * (a value that does not fit is an error). */
typedef struct {
  char period_start[DDAS_ENVELOPE_VALUE_MAX];
  char period_end[DDAS_ENVELOPE_VALUE_MAX];
  char delivered_at[DDAS_ENVELOPE_VALUE_MAX]; /* aanleverdatumEnTijd */
  char code[DDAS_ENVELOPE_VALUE_MAX];         /* codeGegevensleverancier */
} ddas_batch_envelope;

/* Reads the envelope from the head of body[0..len) only (the members
 * before "leveringen"; the records are not parsed, so the cost does not
 * grow with the batch). DDAS_OK; DDAS_ERR_SYNTAX when the body does not
 * start like a batch body or a member is not a string; DDAS_ERR_LIMIT when
 * a value does not fit; DDAS_ERR_NOMEM. On failure *out is all "" and err
 * (may be NULL) says why. */
ddas_result ddas_batch_envelope_read(const void *body, size_t len,
                                     ddas_batch_envelope *out, char *err,
                                     size_t errlen);

/* ---- messages ----------------------------------------------------------- */

/* One accepted batch. */
typedef struct {
  const char *delivery_id;             /* required, non-empty */
  ddas_kind kind;                      /* required: SHV or VS */
  const ddas_delivery_identity *ident; /* NULL: every member "" */
  const char *batch_id;                /* required, non-empty */
  unsigned batch_index;                /* 0-based */
  size_t records;
  const void *body; /* required: the exact batch body (borrowed) */
  size_t body_len;  /* > 0 */
} ddas_accepted_batch_in;

/* The batch message: key "batch/<delivery-id>/<batch-index>"; headers
 * ddas-type "batch", ddas-kind, ddas-delivery-id, ddas-batch-id,
 * ddas-batch-index, ddas-records (decimal), ddas-org-name, ddas-org-code,
 * ddas-period-start, ddas-period-end (from ident; "" when unknown),
 * ddas-delivered-at and ddas-code (the body's own aanleverdatumEnTijd and
 * codeGegevensleverancier, ddas_batch_envelope_read; "" when absent). The
 * message's value is in->body itself, byte for byte: out->body is left
 * NULL (body_len 0), so that a batch of up to batch.max_bytes is never
 * copied here; the caller produces in->body with out's key and headers.
 * DDAS_ERR_SYNTAX when the body's head cannot be read (see
 * ddas_batch_envelope_read). */
ddas_result ddas_accepted_batch(const ddas_accepted_batch_in *in,
                                ddas_event *out);

/* A batch listed in a manifest. id is required. */
typedef struct {
  unsigned index;
  const char *id;
  size_t records;
} ddas_accepted_ref;

/* A finished delivery. */
typedef struct {
  const char *delivery_id;             /* required, non-empty */
  ddas_kind kind;                      /* required: SHV or VS */
  const ddas_delivery_identity *ident; /* NULL: every member "" */
  const char *delivered_at, *code;     /* of its batches, or what they
                                          would carry (NULL: "") */
  const ddas_accepted_ref *batches;    /* every batch of the delivery, the
                                          parked ones included; any order;
                                          NULL when nbatches 0 */
  size_t nbatches;
} ddas_accepted_manifest_in;

/* The manifest message: key "delivery/<delivery-id>"; the headers of a
 * batch message without ddas-batch-id and ddas-batch-index, with ddas-type
 * "manifest", ddas-batches (the count) and ddas-records (the sum of the
 * batches' records); value the compact JSON object
 * {"delivery_id":…,"kind":"shv"|"vs","records":N,
 *  "batches":[{"index":i,"id":"…","records":n},…]} with the batches in
 * index order. DDAS_ERR_ARG when two batches have the same index. */
ddas_result ddas_accepted_manifest(const ddas_accepted_manifest_in *in,
                                   ddas_event *out);

#endif
