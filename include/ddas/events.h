/* ddas/events.h: the Kafka events the worker publishes (DESIGN.md "Topics
 * and events"): rejection events, receipts, and parked batches.
 *
 * Every event is CloudEvents 1.0 in binary mode: the attributes are Kafka
 * headers (ce_specversion "1.0", ce_id, ce_source, ce_type, ce_time,
 * content-type), the body is the data. Bodies of rejections and receipts are
 * JSON objects with stable field names and "schema_version": "1" (the
 * version of the event format itself). A parked batch carries the exact
 * signed batch bytes as its body and its metadata in headers, so that replay
 * can re-send it unchanged.
 *
 * Pure functions: the caller supplies every time stamp and identifier
 * source, so the same input gives the same event bytes. No event ever
 * contains a personal-data value: rejection events carry pointers, rule ids,
 * severities and the core's messages (which never quote the input). */
#ifndef DDAS_EVENTS_H
#define DDAS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/detect.h"
#include "ddas/findings.h"
#include "ddas/result.h"

#define DDAS_EVENT_SCHEMA_VERSION "1"
#define DDAS_CE_REJECTED "nl.ddas.delivery.rejected"
#define DDAS_CE_PROCESSED "nl.ddas.delivery.processed"
#define DDAS_CE_FORWARDED "nl.ddas.batch.forwarded"
#define DDAS_CE_PARKED "nl.ddas.batch.parked"

/* Where an input record came from. */
typedef struct {
  const char *topic;
  int32_t partition;
  int64_t offset;
} ddas_source;

typedef struct {
  char *name;
  char *value;
} ddas_kv;

/* An event ready to produce. Everything is owned by the event. */
typedef struct {
  char *key;       /* Kafka key, NULL for none */
  ddas_kv *headers;
  size_t nheaders;
  char *body;      /* not NUL-terminated for parked batches */
  size_t body_len;
} ddas_event;

void ddas_event_clear(ddas_event *e);
/* The value of header `name` in e, or NULL. */
const char *ddas_event_header(const ddas_event *e, const char *name);

/* Common envelope input. ce_id is derived deterministically by each builder
 * (a hash of delivery id, event type and what the event is about), so a
 * re-processed delivery yields the same ids. */
typedef struct {
  const char *delivery_id; /* required */
  const char *key;         /* Kafka key of the input, may be NULL */
  const char *ce_source;   /* e.g. "urn:ddas-worker:ddas-worker" */
  const char *time;        /* RFC 3339 UTC, e.g. "2026-11-29T10:00:00Z" */
} ddas_event_base;

/* One rejected scope (the whole document, a levering, or a record). */
typedef struct {
  ddas_event_base base;
  const ddas_source *sources; /* the input message(s): chunks of a delivery */
  size_t nsources;
  ddas_kind kind;             /* may be DDAS_KIND_UNKNOWN */
  const char *schema_version; /* may be NULL */
  ddas_scope scope;
  const char *pointer;        /* of the scope: "", "/leveringen/1", ... */
  long levering_teller;       /* -1 when unknown or document scope */
  const ddas_finding *findings; /* the errors (and warnings) of this scope */
  size_t nfindings;
} ddas_rejection_in;

ddas_result ddas_event_rejection(const ddas_rejection_in *in, ddas_event *out);

typedef struct {
  const char *rule;
  size_t count;
} ddas_rule_count;

/* Outcome of a whole delivery. */
typedef struct {
  ddas_event_base base;
  const ddas_source *sources;
  size_t nsources;
  ddas_kind kind;
  const char *schema_version;
  const char *status;       /* "processed" or "incomplete" */
  size_t records;           /* records in the input */
  size_t accepted, rejected, warned;
  size_t normalised[6];     /* N1..N6 */
  const ddas_rule_count *rejected_by_rule;
  size_t nrejected_by_rule;
  const ddas_rule_count *warnings_by_rule;
  size_t nwarnings_by_rule;
  const char *const *batch_ids;
  size_t nbatch_ids;
} ddas_processed_in;

ddas_result ddas_event_processed(const ddas_processed_in *in, ddas_event *out);

/* One attempt to send a batch. */
typedef struct {
  const char *time;  /* RFC 3339 */
  int http_status;   /* 0 when no response (connection, TLS, timeout) */
  const char *error; /* short reason, never a secret or a token */
} ddas_attempt;

/* A batch accepted by CBS. */
typedef struct {
  ddas_event_base base;
  const char *batch_id;
  unsigned batch_index;
  size_t records;
  size_t bytes;
  const char *digest;   /* the Digest header value */
  int http_status;
  unsigned attempts;
  int replayed;         /* 1 when sent by `ddas-worker replay` */
  const ddas_source *sources;
  size_t nsources;
} ddas_forwarded_in;

ddas_result ddas_event_forwarded(const ddas_forwarded_in *in, ddas_event *out);

/* A batch that could not be delivered: the body is the exact signed bytes. */
typedef struct {
  ddas_event_base base;
  const char *batch_id;
  unsigned batch_index;
  size_t records;
  const char *digest;
  const char *signature;   /* nlgov-adr-payload-sig value */
  const char *sig_profile; /* "adr" or "body" */
  const char *content_type;
  const char *reason;      /* "transient-exhausted", "refused", "config-fault" */
  const char *last_error;
  const char *problem;     /* CBS problem+json body, may be NULL */
  const ddas_attempt *attempts;
  size_t nattempts;
  const ddas_source *sources;
  size_t nsources;
  const void *body;
  size_t body_len;
} ddas_parked_in;

ddas_result ddas_event_parked(const ddas_parked_in *in, ddas_event *out);

/* A parked batch read back for replay. Strings point into `headers`/`body`
 * of the event they were parsed from (borrowed), except where noted. */
typedef struct {
  const char *batch_id;
  const char *delivery_id;
  const char *digest;
  const char *signature;
  const char *sig_profile;
  const char *content_type;
  const char *time;        /* when it was parked */
  unsigned batch_index;
  size_t records;
  const void *body;
  size_t body_len;
} ddas_parked;

/* Parses the headers and body of a parked-batch event. Fails with
 * DDAS_ERR_ARG and a reason in err when a required header is missing or
 * the body does not match the recorded digest. */
ddas_result ddas_parked_parse(const ddas_kv *headers, size_t nheaders,
                              const void *body, size_t body_len,
                              ddas_parked *out, char *err, size_t errlen);

#endif
