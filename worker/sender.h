/* worker/sender.h: the sender stage of `run`: batches go to CBS from one
 * thread that drives one forwarder on libcurl's multi interface, up to
 * cbs.max_in_flight at once (connections reused, HTTP/2 streams when the
 * server offers HTTP/2, one OAuth2 token shared, retries as timers): a
 * wait of one batch never holds up the Kafka poll or another batch.
 *
 * The stage decides nothing: the consumer stage submits jobs and takes
 * finished ones back (wk_sender_done); what a result means is the core's
 * decision (ddas/stall.h). Jobs are owned by whoever holds them: submitted,
 * the stage; finished, the caller again. */
#ifndef WK_SENDER_H
#define WK_SENDER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ddas/batch.h"
#include "forward.h"

typedef struct wk_job {
  uint64_t token; /* non-zero, unique in the run */
  void *owner;    /* the caller's (the delivery); never touched here */
  int32_t partition;
  ddas_batch batch;       /* owned; released by wk_job_free */
  uint64_t not_before_ms; /* monotonic (CLOCK_MONOTONIC ms): not sent before */
  int probe;              /* sent even while the stage is held */
  /* results, valid once the job is returned by wk_sender_done */
  int rc; /* of wk_forwarder_send: 0 outcome, -1 local failure, -2
             abandoned (cancelled) */
  wk_send_result res;
  int cancel;        /* set under the stage's lock; aborts the request */
  struct wk_xfer *x; /* the stage's: the batch in the forwarder */
  struct wk_job *next;
} wk_job;

typedef struct wk_sender wk_sender;

/* Starts the stage with a forwarder of cfg and at most n batches in flight
 * (1..256). 0, or -1 with the forwarder's message in err. */
int wk_sender_start(const wk_config *cfg, unsigned n, wk_metrics *m,
                    wk_sender **out, char *err, size_t errlen);
/* Stops: cancels every job, joins the threads, frees the jobs it still
 * holds. Jobs finished but not taken are freed too. s may be NULL. */
void wk_sender_stop(wk_sender *s);

/* not_before_ms is on wk_mono_ms's clock (io.h). */

/* Queues a job (sent in submission order, after its not_before_ms). */
void wk_sender_submit(wk_sender *s, wk_job *j);
/* The next finished job, or NULL when none is waiting. */
wk_job *wk_sender_done(wk_sender *s);
/* Cancels the jobs of `partition` (-1: all): queued ones finish at once
 * with rc -2, running ones abort their request and finish with rc -2 (a
 * request that completed before the abort keeps its outcome). */
void wk_sender_cancel(wk_sender *s, int32_t partition);
/* While held, only probe jobs start (the configuration-fault stall). */
void wk_sender_hold(wk_sender *s, int hold);
/* Jobs submitted and not yet taken back with wk_sender_done. */
size_t wk_sender_outstanding(wk_sender *s);

void wk_job_free(wk_job *j);

#endif
