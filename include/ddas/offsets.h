/* ddas/offsets.h: which offset of a partition may be committed.
 *
 * DESIGN.md "Guarantees": a source offset is committed only after every
 * record at or below it has a durable outcome. The worker tells the tracker
 * when it starts on an offset and when that offset's outcome is durable (in
 * any order: a chunked delivery finishes after later messages); the tracker
 * answers the offset to commit, which never skips a pending one. */
#ifndef DDAS_OFFSETS_H
#define DDAS_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/result.h"

typedef struct ddas_offsets ddas_offsets;

ddas_result ddas_offsets_new(ddas_offsets **out);
void ddas_offsets_free(ddas_offsets *o);
/* Forgets everything (after a partition is revoked or re-assigned). */
void ddas_offsets_reset(ddas_offsets *o);

/* An offset is being worked on. Offsets are begun in increasing order (a
 * smaller or repeated offset is ignored: a redelivery after a seek). */
ddas_result ddas_offsets_begin(ddas_offsets *o, int64_t offset);
/* The outcome of `offset` is durable. Unknown offsets are ignored. */
void ddas_offsets_done(ddas_offsets *o, int64_t offset);
/* The offset to commit (Kafka semantics: the next offset to read), i.e.
 * the lowest pending offset, or one past the highest done offset when none
 * is pending; -1 when nothing may be committed yet. */
int64_t ddas_offsets_committable(const ddas_offsets *o);
/* Offsets begun but not done. */
size_t ddas_offsets_pending(const ddas_offsets *o);

#endif
