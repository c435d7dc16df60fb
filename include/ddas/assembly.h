/* ddas/assembly.h: which chunks make a delivery, and when an offset is done.
 *
 * `ddas-worker submit` splits a large delivery into chunks (Kafka messages
 * with the headers ddas-delivery-id and ddas-chunk "i/n") on one partition.
 * The assembler of a partition is told every message of that partition, in
 * offset order, and answers with actions: check this chunk as part of
 * delivery D; D is complete; D is incomplete (and why, which chunks were
 * seen); this chunk is a duplicate; this chunk is dropped (and why). It is
 * a pure state machine: the caller supplies the clock.
 *
 * Offsets. The assembler keeps the partition's offset tracker
 * (ddas/offsets.h): every offset it is given is begun, and is marked done
 * only through this interface, after the outcome it belongs to is durable:
 *   - a DUPLICATE or REPEAT offset needs no outcome: it is done at once
 *     (it still never moves the commit past an earlier pending offset);
 *   - a DROP offset is done by ddas_asm_offset_done() once the event that
 *     reports the dropped chunk is durable;
 *   - the offsets of a delivery (the chunks that were CHECKed) are done by
 *     ddas_asm_delivery_done() once every outcome of the delivery (its
 *     rejections, batches, receipt) is durable, which is allowed only after
 *     COMPLETE or INCOMPLETE.
 * So the committable offset never passes a message whose records have no
 * durable outcome, and every record ends in exactly one outcome: checked
 * (then accepted or rejected by the core), or in a dropped chunk's event.
 *
 * An incomplete delivery is an outcome of the delivery, not of its records:
 * the records of the chunks that were checked keep their outcomes (batches
 * may already be at CBS), the chunks that never arrived have no records
 * here, and a chunk that arrives after the delivery was declared
 * incomplete is DROPped with an event of its own.
 *
 * Deliveries are told apart by a handle, unique within one assembler for
 * its lifetime (also across ddas_asm_revoke), never 0. */
#ifndef DDAS_ASSEMBLY_H
#define DDAS_ASSEMBLY_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/result.h"

/* The largest chunk count accepted in a ddas-chunk header. */
#define DDAS_ASM_MAX_CHUNKS 100000u

typedef struct ddas_assembler ddas_assembler;

typedef enum {
  /* check the message as chunk `chunk` of delivery `delivery`; `first` is
   * 1 when it opens the delivery */
  DDAS_ASM_CHECK = 1,
  /* every chunk of `delivery` was checked: finish its batches; the
   * delivery's outcome is "processed" */
  DDAS_ASM_COMPLETE,
  /* `delivery` ends without its remaining chunks (`reason`; `nchunks`,
   * `seen` = chunks 1..seen were checked): finish its batches; the
   * delivery's outcome is "incomplete" */
  DDAS_ASM_INCOMPLETE,
  /* the message repeats a chunk of `delivery` that was already checked:
   * nothing to do; its offset is already done */
  DDAS_ASM_DUPLICATE,
  /* the message is not checked (`reason`): report it with an event of its
   * own (its records are in no batch), then ddas_asm_offset_done() */
  DDAS_ASM_DROP,
  /* an offset at or below one seen before (a redelivery after a seek):
   * ignored */
  DDAS_ASM_REPEAT,
  /* the partition was revoked: forget `delivery`, publish nothing more for
   * it; the next owner of the partition redoes it */
  DDAS_ASM_ABANDON
} ddas_asm_kind;

typedef enum {
  DDAS_ASM_WHY_NONE = 0,
  DDAS_ASM_WHY_RESTARTED, /* its chunk 1 came again before the last chunk */
  DDAS_ASM_WHY_GAP,       /* a later chunk came while an earlier one was
                             missing */
  DDAS_ASM_WHY_COUNT,     /* a chunk says another chunk count */
  DDAS_ASM_WHY_TIMEOUT,   /* the next chunk did not come in time */
  DDAS_ASM_WHY_ORPHAN,    /* a chunk of a delivery whose chunk 1 was not
                             seen (or that had already ended) */
  DDAS_ASM_WHY_HEADER,    /* a ddas-chunk header that is not "i/n" with
                             1 <= i <= n <= DDAS_ASM_MAX_CHUNKS */
  DDAS_ASM_WHY_REVOKED    /* the partition was revoked */
} ddas_asm_reason;

/* A short English phrase for a reason ("a chunk is missing", ...). */
const char *ddas_asm_reason_text(ddas_asm_reason r);
/* A stable token for a reason ("gap", "timeout", ...), for events. */
const char *ddas_asm_reason_id(ddas_asm_reason r);

typedef struct {
  ddas_asm_kind kind;
  uint64_t delivery;      /* the delivery handle; 0 for DROP and REPEAT */
  int64_t offset;         /* the message's offset (CHECK, DUPLICATE, DROP,
                             REPEAT); -1 otherwise */
  unsigned chunk;         /* CHECK, DUPLICATE, DROP: the message's chunk
                             index (1 for a whole delivery) */
  unsigned nchunks;       /* the delivery's (or message's) chunk count */
  unsigned seen;          /* INCOMPLETE: chunks 1..seen were checked */
  int first;              /* CHECK: the chunk opens the delivery */
  ddas_asm_reason reason; /* INCOMPLETE, DROP, ABANDON */
} ddas_asm_action;

/* The most actions one call to ddas_asm_message returns. */
#define DDAS_ASM_MAX_ACTIONS 3

/* A message of the partition. chunk_header is the ddas-chunk header's
 * value ("i/n") or NULL when the message is a whole delivery. */
typedef struct {
  int64_t offset;          /* >= 0 */
  const char *delivery_id; /* required, non-empty */
  const char *chunk_header;
  uint64_t now_ms; /* the caller's monotonic clock */
} ddas_asm_message_in;

/* incomplete_after_ms: how long an open delivery waits for its next chunk
 * (see ddas_asm_tick). */
ddas_result ddas_asm_new(uint64_t incomplete_after_ms, ddas_assembler **out);
void ddas_asm_free(ddas_assembler *a);

/* Takes the next message of the partition and writes up to
 * DDAS_ASM_MAX_ACTIONS actions to acts (in the order to carry them out),
 * their number to *nacts. DDAS_ERR_ARG for a missing delivery id or a
 * negative offset (nothing changes), DDAS_ERR_NOMEM when out of memory
 * (nothing changes; the caller must not go on with the partition). */
ddas_result ddas_asm_message(ddas_assembler *a, const ddas_asm_message_in *m,
                             ddas_asm_action acts[DDAS_ASM_MAX_ACTIONS],
                             size_t *nacts);

/* Deliveries whose last chunk came more than incomplete_after_ms before
 * now_ms become INCOMPLETE (reason TIMEOUT): writes up to cap actions and
 * returns how many (call again while it returns cap). */
size_t ddas_asm_tick(ddas_assembler *a, uint64_t now_ms, ddas_asm_action *acts,
                     size_t cap);

/* The partition was revoked (or lost): every delivery not yet done is
 * ABANDONed (up to cap actions written; call again while it returns cap),
 * and the offsets are forgotten. Handles stay unique afterwards. */
size_t ddas_asm_revoke(ddas_assembler *a, ddas_asm_action *acts, size_t cap);

/* Every outcome of `delivery` is durable: its offsets are done and the
 * delivery is forgotten. DDAS_ERR_ARG when the handle is unknown or the
 * delivery has not ended (no COMPLETE or INCOMPLETE yet). */
ddas_result ddas_asm_delivery_done(ddas_assembler *a, uint64_t delivery);

/* The event of a DROPped message is durable: its offset is done. Unknown
 * offsets are ignored. */
void ddas_asm_offset_done(ddas_assembler *a, int64_t offset);

/* The offset to commit (Kafka semantics: the next one to read), or -1 when
 * nothing may be committed yet. */
int64_t ddas_asm_committable(const ddas_assembler *a);

/* Deliveries open (waiting for chunks) and ended but not yet done. */
size_t ddas_asm_open(const ddas_assembler *a);
size_t ddas_asm_ended(const ddas_assembler *a);
/* Offsets begun and not done. */
size_t ddas_asm_pending(const ddas_assembler *a);

/* The offsets of the chunks of `delivery` checked so far, in order (borrowed,
 * valid until the next call that changes the assembler), or NULL with *n = 0
 * when the handle is unknown. */
const int64_t *ddas_asm_offsets(const ddas_assembler *a, uint64_t delivery,
                                size_t *n);

#endif
