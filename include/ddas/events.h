/* ddas/events.h: the Kafka events the worker publishes (DESIGN.md "Topics
 * and events"): rejection events, receipts, and parked batches. The formats
 * are documented field by field in docs/events.md.
 *
 * Every event is CloudEvents 1.0 in binary mode: the attributes are Kafka
 * headers (ce_specversion "1.0", ce_id, ce_source, ce_type, ce_subject = the
 * delivery id, ce_time, content-type), the body is the data. Bodies of
 * rejections and receipts are compact JSON objects with stable field names and
 * "schema_version": "1" (the version of the event format itself). A parked
 * batch carries the exact signed batch bytes as its body and its metadata in
 * headers, so that replay can re-send it unchanged.
 *
 * Pure functions: the caller supplies every time stamp and identifier
 * source, so the same input gives the same event bytes. No event ever
 * contains a personal-data value: rejection events carry pointers, rule ids,
 * severities and the core's messages (which never quote the input); the
 * Kafka key of the input becomes the key of the event and is copied nowhere
 * else.
 *
 * Strings: every string that goes into a JSON body or a header value is
 * made valid UTF-8 (each byte of an invalid sequence becomes U+FFFD), so a
 * consumer never sees invalid UTF-8. ce_id is computed over the bytes as
 * given.
 *
 * Errors of the builders: DDAS_ERR_ARG when a required input is missing or
 * out of range (the contract of each input type says which), DDAS_ERR_NOMEM
 * when an allocation fails. On any failure *out is left empty (all zero,
 * safe to pass to ddas_event_clear); on success the caller owns *out and
 * releases it with ddas_event_clear(). *out is overwritten, not freed. */
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
#define DDAS_CE_INCOMPLETE "nl.ddas.delivery.incomplete"
#define DDAS_CE_FORWARDED "nl.ddas.batch.forwarded"
#define DDAS_CE_PARKED "nl.ddas.batch.parked"

/* Length of ce_id: lowercase hex, the first 16 bytes of a SHA-256. */
#define DDAS_EVENT_ID_LEN 32

/* Header names written by the builders and read by ddas_parked_parse. */
#define DDAS_H_SPECVERSION "ce_specversion"
#define DDAS_H_ID "ce_id"
#define DDAS_H_SOURCE "ce_source"
#define DDAS_H_TYPE "ce_type"
#define DDAS_H_SUBJECT "ce_subject"
#define DDAS_H_TIME "ce_time"
#define DDAS_H_CONTENT_TYPE "content-type"
#define DDAS_H_DELIVERY_ID "ddas-delivery-id"
#define DDAS_H_BATCH_ID "ddas-batch-id"
#define DDAS_H_BATCH_INDEX "ddas-batch-index"
#define DDAS_H_RECORDS "ddas-records"
#define DDAS_H_DIGEST "ddas-digest"
#define DDAS_H_SIGNATURE "ddas-signature"
#define DDAS_H_SIG_PROFILE "ddas-signature-profile"
#define DDAS_H_REASON "ddas-reason"
#define DDAS_H_LAST_ERROR "ddas-last-error"
#define DDAS_H_ATTEMPTS "ddas-attempts"
#define DDAS_H_SOURCES "ddas-sources"
#define DDAS_H_PROBLEM "ddas-problem"
/* The delivery's kind and identity (ddas_delivery_identity of
 * ddas/status.h): on parked batches (optional) and on the messages of
 * topic.accepted (ddas/accepted.h) */
#define DDAS_H_KIND "ddas-kind"
#define DDAS_H_ORG_NAME "ddas-org-name"
#define DDAS_H_ORG_CODE "ddas-org-code"
#define DDAS_H_PERIOD_START "ddas-period-start"
#define DDAS_H_PERIOD_END "ddas-period-end"

/* Where an input record came from. topic is required; partition and offset
 * must not be negative. */
typedef struct {
  const char *topic;
  int32_t partition;
  int64_t offset;
} ddas_source;

typedef struct {
  char *name;
  char *value;
} ddas_kv;

/* An event ready to produce. Everything is owned by the event and was
 * allocated with ddas_malloc. body is always followed by a NUL that
 * body_len does not count, but a parked batch body may itself contain NUL
 * bytes: use body_len. Header values are NUL-terminated strings. */
typedef struct {
  char *key; /* Kafka key, NULL for none */
  ddas_kv *headers;
  size_t nheaders;
  char *body;
  size_t body_len;
} ddas_event;

/* Frees everything e owns and zeroes it. e may be NULL; clearing twice is
 * harmless. */
void ddas_event_clear(ddas_event *e);
/* The value of the first header called exactly `name` in e, or NULL. */
const char *ddas_event_header(const ddas_event *e, const char *name);

/* Common envelope input. ce_id is derived deterministically by each builder
 * (a hash of event type, delivery id and what the event is about; see
 * docs/events.md), so a re-processed delivery yields the same ids. */
typedef struct {
  const char *delivery_id; /* required, non-empty */
  const char *key;         /* Kafka key of the input, may be NULL */
  const char *ce_source;   /* required: a non-empty RFC 3986 URI-reference
                              (ddas_uri_reference_ok), e.g.
                              "urn:ddas-worker:ddas-worker" */
  const char *time;        /* required, RFC 3339 date-time, e.g.
                              "2026-11-29T10:00:00Z" */
} ddas_event_base;

/* 1 when s is a non-empty RFC 3986 URI-reference, as CloudEvents requires
 * of `source`: only unreserved, reserved and percent-encoded characters
 * (`%` and two hex digits), and when the part before the first ':' comes
 * before any '/', '?' or '#', it is a scheme (a letter, then letters,
 * digits, '+', '-', '.'). A space, a quote, a control character or a byte
 * >= 0x80 makes it invalid. The character set, the percent-encoding and
 * the scheme are checked, not the finer grammar (where '[' or '@' may
 * stand). */
int ddas_uri_reference_ok(const char *s);

/* The default ce_source of the workers of consumer group `group`:
 * "urn:ddas-worker:" and the group id percent-encoded (every byte but
 * ALPHA, DIGIT, '-', '.', '_' and '~' as %XX, upper-case hex), so any group
 * id gives a valid URI-reference and distinct group ids distinct sources.
 * DDAS_OK; DDAS_ERR_ARG when group is NULL or empty; DDAS_ERR_LIMIT when
 * the result and its NUL do not fit in cap (out then holds ""). */
ddas_result ddas_ce_source_default(const char *group, char *out, size_t cap);

/* One rejected scope (the whole document, a levering, or a record). */
typedef struct {
  ddas_event_base base;
  const ddas_source *sources; /* the input message(s): chunks of a delivery;
                                 may be NULL when nsources is 0 */
  size_t nsources;
  ddas_kind kind;             /* may be DDAS_KIND_UNKNOWN */
  const char *schema_version; /* DDAS schema version; may be NULL */
  ddas_scope scope;
  const char *pointer;          /* required, of the scope: "", "/leveringen/1"
                                 */
  long levering_teller;         /* -1 when unknown or document scope */
  const ddas_finding *findings; /* the errors (and warnings) of this scope;
                                   each needs rule, pointer and message */
  size_t nfindings;
} ddas_rejection_in;

ddas_result ddas_event_rejection(const ddas_rejection_in *in, ddas_event *out);

/* rule is required; a rule listed twice has its counts added. */
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
  const char *schema_version; /* may be NULL */
  const char *status;         /* required: "processed" or "incomplete" */
  size_t records;             /* records in the input */
  size_t accepted, rejected, warned;
  size_t normalised[6]; /* N1..N6 */
  const ddas_rule_count *rejected_by_rule;
  size_t nrejected_by_rule;
  const ddas_rule_count *warnings_by_rule;
  size_t nwarnings_by_rule;
  const char *const *batch_ids; /* each required */
  size_t nbatch_ids;
  /* status "incomplete" only (then required): the delivery's chunk count,
   * the chunks 1..chunks_seen that were checked (chunks_seen < nchunks),
   * and why it ended (ddas_asm_reason_id and _text of ddas/assembly.h) */
  unsigned nchunks, chunks_seen;
  const char *reason, *reason_text;
  /* Who delivered for which period (ddas_delivery_identity of
   * ddas/status.h), each NULL or "" when unknown: the body then has
   * "organisation": null (both unknown) or a null member, likewise
   * "period". Business identifiers, never personal data. */
  const char *org_name, *org_code;
  const char *period_start, *period_end;
} ddas_processed_in;
/* Status "processed" gives an nl.ddas.delivery.processed event, status
 * "incomplete" an nl.ddas.delivery.incomplete event: a delivery-level
 * outcome that names the chunks seen and missing; the records of the
 * chunks seen keep their own outcomes (batches, rejections). Its ce_id
 * includes the offset of the first source, so a delivery that is
 * incomplete and later sent again whole has distinct events. */

ddas_result ddas_event_processed(const ddas_processed_in *in, ddas_event *out);

/* One attempt to send a batch. */
typedef struct {
  const char *time;  /* required, RFC 3339 date-time */
  int http_status;   /* 0 when no response (connection, TLS, timeout) */
  const char *error; /* short reason, never a secret or a token; may be NULL
                      */
} ddas_attempt;

/* A batch accepted by CBS. */
typedef struct {
  ddas_event_base base;
  const char *batch_id; /* required */
  unsigned batch_index;
  size_t records;
  size_t bytes;
  const char *digest; /* required: the Digest header value */
  int http_status;    /* 200..299 */
  unsigned attempts;  /* >= 1 */
  int replayed;       /* non-zero when sent by `ddas-worker replay` */
  const ddas_source *sources;
  size_t nsources;
} ddas_forwarded_in;

ddas_result ddas_event_forwarded(const ddas_forwarded_in *in, ddas_event *out);

/* A batch that could not be delivered: the body is the exact signed bytes.
 * All strings are required except content_type and problem. digest must be
 * "SHA-256=" + base64(SHA-256(body)) or the builder fails with
 * DDAS_ERR_ARG: a parked batch that replay would refuse is never written. */
typedef struct {
  ddas_event_base base;
  const char *batch_id;
  unsigned batch_index;
  size_t records;
  const char *digest;
  const char *signature;    /* nlgov-adr-payload-sig value */
  const char *sig_profile;  /* "adr" or "body" */
  const char *content_type; /* NULL: "application/json" */
  const char *reason; /* "transient-exhausted", "refused", "config-fault" */
  const char *last_error;
  const char *problem; /* CBS problem+json body, may be NULL */
  const ddas_attempt *attempts;
  size_t nattempts;
  const ddas_source *sources;
  size_t nsources;
  const void *body; /* may be NULL when body_len is 0 */
  size_t body_len;
  /* The delivery's kind and identity, so that `replay` can publish the
   * batch to topic.accepted as `run` would have: DDAS_KIND_UNKNOWN leaves
   * the ddas-kind header out, and a NULL string its header (ddas-org-name,
   * ddas-org-code, ddas-period-start, ddas-period-end; "" is written as
   * ""). Business identifiers, never personal data. */
  ddas_kind kind;
  const char *org_name, *org_code, *period_start, *period_end;
} ddas_parked_in;

ddas_result ddas_event_parked(const ddas_parked_in *in, ddas_event *out);

/* A parked batch read back for replay. Strings point into the `headers`
 * values and body into the `body` given to ddas_parked_parse (borrowed:
 * valid as long as those are); content_type points to a static default
 * when the header is absent. */
typedef struct {
  const char *batch_id;
  const char *delivery_id;
  const char *digest;
  const char *signature;
  const char *sig_profile;
  const char *content_type;
  const char *time; /* when it was parked (ce_time) */
  unsigned batch_index;
  size_t records;
  const void *body;
  size_t body_len;
  /* Informational headers, NULL when absent. attempts and sources are the
   * compact JSON arrays as written by ddas_event_parked. */
  const char *reason;
  const char *last_error;
  const char *problem;
  const char *attempts;
  const char *sources;
  /* The delivery's kind (DDAS_KIND_UNKNOWN when ddas-kind is absent or
   * neither "shv" nor "vs") and identity headers, NULL when absent (parked
   * by a version that did not write them). */
  ddas_kind kind;
  const char *org_name, *org_code, *period_start, *period_end;
} ddas_parked;

/* Parses the headers and body of a parked-batch event. Header names match
 * exactly; a header we read that occurs more than once is an error.
 * Required: ce_type (= DDAS_CE_PARKED), ce_time, ddas-delivery-id,
 * ddas-batch-id, ddas-batch-index, ddas-records (decimal), ddas-digest,
 * ddas-signature, ddas-signature-profile ("adr" or "body"). Fails with
 * DDAS_ERR_ARG and a reason in err (NUL-terminated, truncated to errlen; err
 * may be NULL) when a required header is missing or malformed or the body
 * does not match the recorded digest; *out is then zeroed. Allocates no
 * memory through ddas_malloc. */
ddas_result ddas_parked_parse(const ddas_kv *headers, size_t nheaders,
                              const void *body, size_t body_len,
                              ddas_parked *out, char *err, size_t errlen);

#endif
