/* ddas/chunk.h: one large delivery into chunks below a message size.
 *
 * `ddas-worker submit` publishes a delivery that is larger than the broker's
 * message size as several Kafka messages (header `ddas-chunk: i/n`). Every
 * chunk is itself a complete DDAS document of the same kind and version, so
 * the worker checks each chunk on its own and batches the accepted records of
 * the chunks in order (DESIGN.md "Batches are deterministic").
 *
 * A chunk is written from the parsed input, never re-serialised: every
 * member it keeps is copied as the exact bytes of the input (member name as
 * spelled, value as it came in, via the node spans):
 *  - the envelope: every top-level member but `leveringen`, in input order;
 *  - `leveringen`, at its input position, holding each levering the chunk
 *    touches, in input order: every member of the levering but its record
 *    list (so `teller`, `aanleverende_organisatie`, ... stay as they are),
 *    and, at its input position, the record list with the chunk's records.
 * Only the separators the chunk writer adds itself (between members,
 * between array items, around `:`) are compact; whitespace inside a copied
 * value stays.
 *
 * Record lists: SHV `schuldhulptrajecten`, VS `vroegsignalen`. An SHV
 * levering may be split between chunks at record boundaries (each part
 * repeats the levering's other members). A VS levering is never split: its
 * `vroegsignaalzaken` refer to its `vroegsignalen` by ID, so the whole
 * levering goes into one chunk.
 *
 * Planning is greedy over units in document order: an SHV record, an SHV
 * levering without records, or a whole VS levering. A unit joins the current
 * chunk when the chunk stays at or below max_bytes, else it starts the next
 * chunk. So every chunk is at most max_bytes, except a chunk holding a
 * single unit that is larger on its own (oversize: one SHV record, or one VS
 * levering, plus the envelope and its levering's other members). A levering
 * without records appears in the chunk where its position falls (the
 * current chunk when it fits, else the next one). The same input and
 * max_bytes always give the same chunks, byte for byte.
 *
 * A document that cannot be split this way is one chunk, the input as is
 * (the root value's bytes, without surrounding whitespace): kind
 * DDAS_KIND_UNKNOWN, not an object, no `leveringen` array or an empty one, a
 * levering that is not an object, or a record list that is not an array.
 * The validator reports what is wrong with it.
 *
 * The document must be as ddas_json_parse() made it, not normalised (a
 * kept document of ddas_validate_buffer() may have moved spans): chunks are
 * copied from the input through the node spans.
 *
 * Cost: planning is linear in the number of nodes on the levering level and
 * above (records are measured by their spans, not walked); writing a chunk
 * is linear in its size (only its own leveringen are looked at). Nothing
 * but the span array and the chunk itself is allocated. */
#ifndef DDAS_CHUNK_H
#define DDAS_CHUNK_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/json.h"
#include "ddas/result.h"

/* The records [(lev_from, rec_from) .. (lev_to, rec_to)) in document order.
 * The chunk holds leveringen lev_from..lev_to (both included): levering
 * lev_from from record rec_from on, lev_to up to record rec_to (excluded),
 * those in between whole. A levering without records is included when it
 * lies in that range. A chunk that is the input as is has `as_is` set and
 * every index 0. */
typedef struct {
  size_t lev_from, rec_from;
  size_t lev_to, rec_to;
  size_t records; /* records in the chunk (0 when as_is) */
  size_t bytes;   /* the exact length ddas_chunk_write() produces */
  int as_is;      /* 1: the document cannot be split; this is all of it */
} ddas_chunk_span;

/* Plans the chunks of `doc` (borrowed) for chunks of at most max_bytes
 * (see above for the oversize exception). `kind`: the document's kind, as
 * given or detected (ddas_detect) by the caller, who validates the chunks as
 * that kind and version. On DDAS_OK *spans (owned by the caller, free with
 * ddas_free) holds *nspans >= 1 spans in document order. Returns
 * DDAS_ERR_ARG for a NULL argument or max_bytes == 0, DDAS_ERR_NOMEM when
 * out of memory; on failure *spans is NULL and *nspans 0. */
ddas_result ddas_chunk_plan(const ddas_json_doc *doc, ddas_kind kind,
                            size_t max_bytes, ddas_chunk_span **spans,
                            size_t *nspans);

/* Writes the chunk `span` of `doc` (both borrowed): `kind` must be the one
 * given to ddas_chunk_plan() for the same document (an as_is span is the
 * input as is, whatever the kind). On DDAS_OK *out (owned
 * by the caller, free with ddas_free) holds *len bytes of JSON (span->bytes
 * for a span of the plan) followed by a NUL that *len does not count. Returns
 * DDAS_ERR_ARG for a NULL argument or a span that does not fit the document
 * (out of range, splitting a VS levering, or not as_is for a document that
 * cannot be split), DDAS_ERR_NOMEM when out of memory; on failure *out is NULL
 * and *len 0. */
ddas_result ddas_chunk_write(const ddas_json_doc *doc, ddas_kind kind,
                             const ddas_chunk_span *span, char **out,
                             size_t *len);

#endif
