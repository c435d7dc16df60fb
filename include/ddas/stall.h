/* ddas/stall.h: what the worker does with a batch's send outcome, and when
 * it stops consuming because CBS refuses every batch for a reason no batch
 * can fix (a configuration fault: 403, 404, 405, 3xx, a refused
 * certificate).
 *
 * A pure state machine shared by every sender of one worker. Batches are
 * named by a caller-chosen non-zero token. The rules:
 *   - forwarded: done; the count of consecutive configuration faults is
 *     reset and a stall ends;
 *   - refused by CBS (a content error): parked; CBS answered, so the count
 *     is reset too;
 *   - a configuration fault: below the threshold parked; at the threshold
 *     the worker stalls (it pauses consumption and reports not ready) and
 *     the batch becomes the probe, sent again after a pause until CBS
 *     answers it otherwise;
 *   - transient past the retry budget: parked; while stalled the probe is
 *     probed again up to max_probe_rounds times, then parked;
 *   - a local failure (out of memory, bad arguments): parked as transient.
 * While stalled, a batch other than the probe that comes back with a
 * configuration fault or a transient failure is held, not parked: the
 * probe decides for all, and held batches are sent again when the stall
 * ends. The stall ends when the probe is forwarded, or parked (refused,
 * local, or past its rounds): the partitions are paused, so no later batch
 * would ever end it; the next configuration faults stall the worker again. */
#ifndef DDAS_STALL_H
#define DDAS_STALL_H

#include <stdint.h>

typedef enum {
  DDAS_SENT_FORWARDED = 0,
  DDAS_SENT_REFUSED,
  DDAS_SENT_CONFIG_FAULT,
  DDAS_SENT_TRANSIENT, /* retries exhausted */
  DDAS_SENT_LOCAL      /* failed before an outcome, not abandoned */
} ddas_sent;

typedef enum {
  DDAS_NEXT_FORWARDED = 1, /* publish the forwarded receipt */
  DDAS_NEXT_PARK,          /* publish the parked batch */
  DDAS_NEXT_PROBE,         /* send the same batch again after a pause */
  DDAS_NEXT_HOLD           /* keep it; send it again when the stall ends */
} ddas_next;

typedef struct {
  unsigned threshold;        /* consecutive configuration faults (>= 1) */
  unsigned max_probe_rounds; /* transient rounds of a probe while stalled */
  unsigned consecutive;      /* configuration faults in a row */
  int stalled;
  uint64_t probe; /* token of the probe batch while stalled */
  unsigned probe_rounds;
} ddas_stall;

typedef struct {
  ddas_next next;
  int stall_begins; /* pause consumption, report not ready */
  int stall_ends;   /* resume consumption, send the held batches again */
} ddas_stall_decision;

void ddas_stall_init(ddas_stall *s, unsigned threshold,
                     unsigned max_probe_rounds);
/* The outcome of the batch `token` (non-zero). */
ddas_stall_decision ddas_stall_on_sent(ddas_stall *s, uint64_t token,
                                       ddas_sent outcome);
/* The probe was abandoned (its partition revoked, or a stop): the stall
 * ends without an answer, so that the partitions do not stay paused; the
 * next configuration faults stall the worker again. 1 when a stall ended. */
int ddas_stall_abandoned(ddas_stall *s, uint64_t token);

/* Flow control of the consumer (run.max_inflight_bytes).
 *
 * held: bytes the worker holds for deliveries (batches built whose outcome
 * is not yet published, and the checked chunks of deliveries still waiting
 * for chunks). The worker is full from `cap` until held drops below three
 * quarters of it (hysteresis, so that it does not pause and resume at every
 * message). */
int ddas_flow_full(int was_full, long long held, long long cap);
/* Whether a partition is to be paused: every partition while stalled; while
 * full, every partition without an open chunked delivery (a partition with
 * one goes on, so that the delivery can complete and free what it holds:
 * pausing it would hold its bytes until run.incomplete_after_ms); otherwise
 * none. So what is held stays below cap plus one chunk per partition that
 * had an open delivery when the cap was reached. */
int ddas_flow_pause(int stalled, int full, int has_open_delivery);

#endif
