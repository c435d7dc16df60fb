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
  const char *sent_at;     /* aanleverdatumEnTijd of every batch (RFC 3339,
                              UTC); the caller's clock, required */
  int time_from_delivery;  /* 1: aanleverdatumEnTijd is the delivery's own
                              (the envelope of its first chunk with
                              accepted records) when it has one,
                              sent_at only otherwise: the same delivery then
                              always yields the same bytes, so a delivery
                              submitted again is a harmless repeat at CBS
                              (same Idempotency-Key, same body) instead of
                              a conflict (409) */
  const char *code_gegevensleverancier; /* NULL: the delivery's own, else
                                           "ddas-worker" */
  size_t max_records;                   /* 0: 25,000 (SHV) or 50,000 (VS) */
  size_t max_bytes;                     /* 0: 64 MiB */
  unsigned norm_mask;                   /* DDAS_N3..DDAS_N6 are applied here */
  size_t reparse_min; /* ddas_batcher_add_release() re-reads the records of
                         an SHV chunk of at least this many bytes (0: 4 MiB,
                         1: always) */
} ddas_batch_options;

typedef struct {
  char id[33];    /* NUL-terminated hex */
  unsigned index; /* 0-based within the delivery */
  size_t records;
  size_t leveringen;
  char *body; /* owned; UTF-8 JSON, not NUL-terminated */
  size_t len;
  size_t first_chunk, last_chunk; /* 0-based indexes of contributing chunks */
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

/* For an SHV v0.9 or v0.10 delivery with N3 in norm_mask: writes every
 * accepted traject as it will go out (upgraded to v1.0) and validates it
 * against the v1.0 traject schema of `v10`; a traject that would break
 * v1.0 (for example three clients, which v0.9 allows) gets "schema"
 * findings with the v1.0 keyword at its own pointer and is rejected, so
 * that CBS never refuses a batch for it. `doc` is the result's document
 * (during ddas_validate_buffer). */
ddas_result ddas_upgrade_check(ddas_validate_result *res,
                               const ddas_json_doc *doc, const ddas_schema *v10,
                               unsigned norm_mask);

/* Computes a batch id (see above) into out[33]. */
void ddas_batch_id(const char *delivery_id, unsigned index,
                   const unsigned char records_sha256[32], char out[33]);

#endif
