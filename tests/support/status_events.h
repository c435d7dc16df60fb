/* tests/support/status_events.h: batch and rejection events made with the
 * core's builders, for the status tests (tests/unit/test_status.c) and the
 * status benchmark (bench/bench_status.c). A parked batch's body is the
 * three bytes "abc" with their digest; a rejection rejects one traject for
 * a schema finding. */
#ifndef STATUS_EVENTS_H
#define STATUS_EVENTS_H

#include <stddef.h>

#include "ddas/events.h"

typedef enum { SE_FORWARDED, SE_REPLAYED, SE_PARKED } se_batch_kind;

/* The event of batch `batch` (index, records) of base's delivery: a
 * forwarded receipt (replayed or not) or a parked batch. As the builders:
 * DDAS_OK, and *out is the caller's. */
ddas_result se_batch(const ddas_event_base *base, const char *batch,
                     unsigned index, size_t records, se_batch_kind kind,
                     ddas_event *out);
ddas_result se_rejection(const ddas_event_base *base, ddas_event *out);

#endif
