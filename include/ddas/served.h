/* ddas/served.h: the index `ddas-worker serve` keeps of topic.accepted
 * (docs/events.md "topic.accepted"), from which it answers POST /gegevens.
 *
 * Pure: the worker reads the topic, keeps every batch body in its spool and
 * hands each message's headers (and, for a manifest, its value) here with
 * the body's place in the spool (`locator`, opaque to the core). The index
 * decides which deliveries are complete: a delivery is complete when its
 * manifest has been seen and, for every batch the manifest lists, a batch
 * message with that index and the same batch id. Messages may arrive in
 * any order (they are spread over partitions) and more than once (a
 * re-processed delivery publishes the same messages again; compaction keeps
 * the last): the last one of a key wins. The same set of messages gives the
 * same index whatever their order, so several `serve` instances, and one
 * restarted, answer alike.
 *
 * Memory: per delivery its identity strings and per batch 48 bytes; never
 * a batch body. */
#ifndef DDAS_SERVED_H
#define DDAS_SERVED_H

#include <stddef.h>
#include <stdint.h>

#include "ddas/events.h"
#include "ddas/gegevens.h"
#include "ddas/result.h"

typedef struct ddas_served ddas_served;

/* Where a batch body is and what it holds. */
typedef struct {
  uint64_t locator; /* the caller's (the worker: offset in its spool) */
  size_t len;       /* bytes of the body */
  size_t records;
} ddas_served_batch;

ddas_result ddas_served_new(ddas_served **out);
void ddas_served_free(ddas_served *s);

/* Adds one message of topic.accepted: its headers and its value (the
 * manifest's JSON; a batch's body is not needed, only its length `len`,
 * and `locator`, which the index hands back). Returns DDAS_OK;
 * DDAS_ERR_ARG when the message is not one the index understands (a
 * missing or malformed header, a manifest that is not the documented
 * JSON, a tombstone), with the reason, naming the header or member, in err
 * (may be NULL); the message is then ignored and the index stays usable;
 * DDAS_ERR_NOMEM. */
ddas_result ddas_served_add(ddas_served *s, const ddas_kv *headers,
                            size_t nheaders, const char *value, size_t len,
                            uint64_t locator, char *err, size_t errlen);

/* The deliveries known (complete or not; ddas_gegevens_select keeps the
 * complete ones), *n of them. The array and its strings stay valid until
 * the next ddas_served_add or ddas_served_free. */
const ddas_served_delivery *ddas_served_deliveries(const ddas_served *s,
                                                   size_t *n);

/* The batches of delivery i (an index into ddas_served_deliveries) in batch
 * index order, *n of them (the manifest's count); NULL with *n 0 when the
 * delivery is not complete. Valid as the array above. */
const ddas_served_batch *ddas_served_batches(const ddas_served *s, size_t i,
                                             size_t *n);

/* Counts for the log and /metrics: messages ignored, batches held. */
size_t ddas_served_ignored(const ddas_served *s);
size_t ddas_served_batch_count(const ddas_served *s);

#endif
