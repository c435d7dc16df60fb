/* ddas/batch.h: accepted records into deterministic, signed-ready batches
 * (DESIGN.md "Batches are deterministic", RULES.md "Outgoing batches").
 *
 * A batcher serves one delivery. Its checked chunks are added in order; the
 * accepted records are written, normalised (N3-N6), straight into the body
 * of the current batch, which is cut when the next record would exceed
 * max_records or max_bytes. A cut depends only on the input (never on time
 * or on what else is in flight), so re-processing a delivery yields the same
 * batches with the same ids. Leveringen are renumbered 1..n in each batch.
 * Each record is serialised once into a scratch buffer and appended to the
 * batch body: there is never a second full copy of a batch.
 *
 * Batch id: the first 32 hex digits of SHA-256 over "ddas-batch/1", the
 * delivery id, the batch index and the SHA-256 of the body from the
 * "leveringen" array on (so the envelope's aanleverdatumEnTijd, the time of
 * sending, does not change it). Same input, same id; any other delivery id,
 * index or record byte, another id. */
#ifndef DDAS_BATCH_H
#define DDAS_BATCH_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/normalize.h"
#include "ddas/result.h"
#include "ddas/validate.h"

#define DDAS_BATCH_MAX_TRAJECTEN 25000u
#define DDAS_BATCH_MAX_VROEGSIGNALEN 50000u
#define DDAS_BATCH_DEFAULT_MAX_BYTES (64u << 20)
#define DDAS_BATCH_DEFAULT_REPARSE_MIN ((size_t)4 << 20)

typedef struct {
  const char *delivery_id; /* required */
  /* Where the envelope comes from (ddas_envelope_value): aanleverdatumEnTijd
   * is the delivery's own (that of its first chunk with accepted records)
   * when it has one, so that the same delivery always yields the same bytes
   * and a delivery submitted again is a harmless repeat at CBS (same
   * Idempotency-Key, same body) instead of a conflict (409); else
   * envelope.delivered_at. codeGegevensleverancier likewise (see
   * ddas_envelope_context.code_replaces). A member with no value from
   * either is left out: ddas_envelope_check() rejected such a delivery
   * when the batch must be v1.0. Validate with the same context. */
  ddas_envelope_context envelope;
  int time_from_delivery; /* 1: as above (the worker, send, validate); 0:
                             envelope.delivered_at (required then) in
                             every batch, the delivery's own or not (the
                             pinned known answers of test_batch) */
  size_t max_records;     /* 0: 25,000 (SHV) or 50,000 (VS) */
  size_t max_bytes;       /* 0: 64 MiB */
  unsigned norm_mask;     /* DDAS_N3..DDAS_N6 are applied here */
  size_t reparse_min;     /* ddas_batcher_add_release() re-reads the records of
                             an SHV chunk of at least this many bytes (0: 4 MiB,
                             1: always) */
  int count_only;         /* 1: every accepted record is still written with
                             N3-N6 (so ddas_batcher_normalised() counts the
                             same), but into a scratch buffer only: no batch
                             is kept, hashed or returned (`validate` without
                             --normalised-out needs only the counts) */
} ddas_batch_options;

typedef struct {
  char id[33];    /* NUL-terminated hex */
  unsigned index; /* 0-based within the delivery */
  size_t records;
  size_t leveringen;
  char *body; /* owned, released by ddas_batch_clear() only (a body of
                 2 MiB and more is mapped pages, not malloc memory); UTF-8
                 JSON, not NUL-terminated */
  size_t len;
  size_t first_chunk, last_chunk; /* 0-based indexes of contributing chunks */
  size_t body_mapped; /* internal: body is a ddas_pages_alloc() block of this
                         many bytes (0: malloc); ddas_batch_clear() knows */
} ddas_batch;

void ddas_batch_clear(ddas_batch *b);

typedef struct ddas_batcher ddas_batcher;

ddas_result ddas_batcher_new(const ddas_batch_options *opt, ddas_batcher **out);
void ddas_batcher_free(ddas_batcher *b);

/* Adds the accepted records of the next chunk: a result of
 * ddas_validate_buffer() made with keep_document (borrowed for the call
 * only). The first chunk fixes kind, version and period; a chunk that
 * differs in kind or period is refused with DDAS_ERR_ARG. Completed batches
 * wait in the batcher until taken with ddas_batcher_next(). */
ddas_result ddas_batcher_add(ddas_batcher *b,
                             const ddas_validate_result *chunk);
/* As ddas_batcher_add(), and releases the chunk's document: chunk->doc is
 * freed and NULL on return (also on failure). For an SHV chunk of at least
 * reparse_min bytes it is freed before the first record is written; the
 * records are then read back from the input bytes one at a time (parsed
 * again, N1/N2 applied again), so the tree and the batch body never
 * coexist: the peak is input + max(tree, body) instead of input + tree +
 * body, for the price of a second parse of the records. Smaller chunks (the
 * worker's Kafka messages) keep the tree while writing: their tree is small
 * and the second parse would cost throughput. The same bytes come out
 * either way. The input buffer must stay alive for the call. VS keeps the
 * tree while writing (zaken refer to signals anywhere in their levering). */
ddas_result ddas_batcher_add_release(ddas_batcher *b,
                                     ddas_validate_result *chunk);
/* Closes the last, partly filled batch. */
ddas_result ddas_batcher_finish(ddas_batcher *b);
/* Moves the oldest completed batch into *out (which the caller clears);
 * returns 1, or 0 when none is waiting. */
int ddas_batcher_next(ddas_batcher *b, ddas_batch *out);
/* Counts of N3-N6 so far (N1 and N2 are counted in the validate result). */
const ddas_norm_counts *ddas_batcher_normalised(const ddas_batcher *b);

/* The value of envelope member `member` ("aanleverdatumEnTijd" or
 * "codeGegevensleverancier") in the batches of the delivery whose root is
 * `root` (ctx may be NULL): the delivery's own, with *from NULL, or the
 * context's, with *from its origin in words; NULL (and *len 0) when
 * neither has one. */
const char *ddas_envelope_value(const ddas_envelope_context *ctx,
                                const ddas_json *root, const char *member,
                                size_t *len, const char **from);

/* The envelope findings of a delivery of `det`: for SHV v0.9, the only
 * shipped version in which aanleverdatumEnTijd and codeGegevensleverancier
 * are optional (the others' schemas require them), a warning of rule
 * envelope.filled naming each member that ddas_envelope_value() fills
 * and where from; an error of envelope.missing for each it cannot fill
 * when the batch must be v1.0 (N3 in norm_mask; a v0.9 batch may lack
 * them); and an upgrade.dropped warning for each other root member,
 * which no batch envelope carries. */
ddas_result ddas_envelope_check(const ddas_envelope_context *ctx,
                                const ddas_json *root,
                                const ddas_detection *det, unsigned norm_mask,
                                const ddas_ruleset *rs, ddas_findings *out);

/* For an SHV v0.9 or v0.10 delivery with N3 in norm_mask: writes every
 * accepted traject as it will go out (upgraded to v1.0) and validates it
 * against the v1.0 traject schema of `v10`; a traject that would break
 * v1.0 (for example three clients, which v0.9 allows) gets "schema"
 * findings with the v1.0 keyword at its own pointer and is rejected, so
 * that CBS never refuses a batch for it. Every value of a traject
 * (accepted or not) that the upgrade leaves out because v1.0 has no place
 * for it (v0.9 client leefsituatie members other than its schulden, such
 * as datumGeldigVanaf/Tot; a v0.10 Beeindigingsbeschikking without a date)
 * gets a warning of rule upgrade.dropped at its pointer, with the severity
 * `rs` gives it. `doc` is the result's document (during
 * ddas_validate_buffer). */
ddas_result ddas_upgrade_check(ddas_validate_result *res,
                               const ddas_json_doc *doc, const ddas_schema *v10,
                               unsigned norm_mask, const ddas_ruleset *rs);

/* Computes a batch id (see above) into out[33]. */
void ddas_batch_id(const char *delivery_id, unsigned index,
                   const unsigned char records_sha256[32], char out[33]);

/* The delivery id of a file given without one, the one rule of `send`,
 * `submit` and `run --submit`: its base name (without ".json"; characters
 * other than letters, digits, '-' and '_' as '_'; "stdin" for "-") plus
 * '-' and the first 12 hex digits of the SHA-256 of its content. So the
 * same file yields the same delivery id, hence the same batch ids, however
 * it reaches CBS, and a changed file yields another. out needs at least
 * DDAS_FILE_DELIVERY_ID_MAX bytes (a longer name is cut). */
#define DDAS_FILE_DELIVERY_ID_MAX 113
void ddas_file_delivery_id(const char *path, const void *content, size_t len,
                           char *out, size_t cap);

#endif
