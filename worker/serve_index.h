/* worker/serve_index.h: the index `serve` answers from, kept up to date
 * from topic.accepted by one follower thread.
 *
 * The follower reads every partition of topic.accepted from the beginning
 * (manual assignment: no group, nothing committed, so every `serve`
 * instance reads everything), appends each batch body to a spool file and
 * hands the message's headers to the core's index (ddas/served.h), which
 * decides what is complete. The spool is an unlinked file (O_TMPFILE, mode
 * 0600) in spool_dir: it holds personal data, so nobody else can open it and
 * it disappears with the process; Kafka stays the system of record and a
 * restart rebuilds the same index from it. Memory is the index (identity
 * strings and 48 bytes per batch), never the bodies.
 *
 * Ready: every partition was read up to the end it had when the follower
 * started (or the topic does not exist yet: an empty, ready index). Until
 * then `serve` answers 503, so that a starting instance never gives a
 * different answer than a running one. */
#ifndef WK_SERVE_INDEX_H
#define WK_SERVE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ddas/served.h"

typedef struct wk_serve_index wk_serve_index;

/* Opens the spool in spool_dir and starts the follower on topic
 * c->topic_accepted of `bootstrap`. 0, or -1 with a message in err. */
int wk_serve_index_start(const wk_config *c, const char *bootstrap,
                         const char *spool_dir, wk_serve_index **out, char *err,
                         size_t errlen);
/* Stops the follower, closes the spool (its data is gone) and frees x. */
void wk_serve_index_stop(wk_serve_index *x);

/* 1 when the initial read is done (see above). */
int wk_serve_index_ready(wk_serve_index *x);

/* Read access to the core index: between lock and unlock the follower
 * does not change it, so a snapshot of deliveries and batches stays valid.
 * Readers run concurrently. */
const ddas_served *wk_serve_index_lock(wk_serve_index *x);
void wk_serve_index_unlock(wk_serve_index *x);

/* Reads a batch body (b->len bytes) from the spool into buf. Safe without
 * the lock: the spool is append-only. 0, or -1 when reading fails. */
int wk_serve_index_read(wk_serve_index *x, const ddas_served_batch *b,
                        char *buf);

#endif
