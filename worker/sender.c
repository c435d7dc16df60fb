/* The sender stage (see sender.h): one thread drives one forwarder, whose
 * multi interface keeps up to `max` batches in flight. One mutex guards the
 * queue, the finished list and the running list; the consumer side wakes
 * the thread (wk_forwarder_wakeup) when it submits, cancels or holds. */
#include "sender.h"

#include "io.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WK_SENDER_MAX 256

struct wk_sender {
  pthread_mutex_t mu;
  wk_job *queue, *queue_tail; /* FIFO */
  wk_job *done, *done_tail;   /* FIFO */
  wk_job *running;            /* begun in the forwarder; j->x set */
  wk_forwarder *fw;
  pthread_t th;
  unsigned max, nrunning;
  int started;
  size_t outstanding;
  int hold, quit;
};

void wk_job_free(wk_job *j) {
  if(!j)
    return;
  ddas_batch_clear(&j->batch);
  wk_send_result_clear(&j->res);
  free(j);
}

static void push(wk_job **head, wk_job **tail, wk_job *j) {
  j->next = NULL;
  if(*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

/* Unlinks and returns the first queued job that may start now; else NULL
 * and *wait_ms is how long until one may (or 0: none is waiting). */
static wk_job *take_ready(wk_sender *s, uint64_t now, uint64_t *wait_ms) {
  wk_job **pp, *prev = NULL;
  *wait_ms = 0;
  for(pp = &s->queue; *pp; prev = *pp, pp = &(*pp)->next) {
    wk_job *j = *pp;
    if(s->hold && !j->probe)
      continue;
    if(j->not_before_ms > now) {
      if(!*wait_ms || j->not_before_ms - now < *wait_ms)
        *wait_ms = j->not_before_ms - now;
      continue;
    }
    *pp = j->next;
    if(s->queue_tail == j)
      s->queue_tail = prev;
    j->next = NULL;
    return j;
  }
  return NULL;
}

/* Unlinks j from the running list. */
static void unlink_running(wk_sender *s, wk_job *j) {
  wk_job **pp;
  for(pp = &s->running; *pp; pp = &(*pp)->next)
    if(*pp == j) {
      *pp = j->next;
      j->next = NULL;
      s->nrunning--;
      return;
    }
}

/* Under the lock: moves the jobs that may start now (within the limit)
 * onto the running list (not yet begun: x NULL) and into start[], and
 * returns how many; *wait_ms is how long until a queued one may start (0:
 * none is waiting for its time). */
static unsigned take_startable(wk_sender *s, wk_job **start,
                               uint64_t *wait_ms) {
  uint64_t now = wk_mono_ms();
  unsigned n = 0;
  *wait_ms = 0;
  while(s->nrunning < s->max) {
    wk_job *j = take_ready(s, now, wait_ms);
    if(!j)
      break;
    j->x = NULL;
    j->next = s->running;
    s->running = j;
    s->nrunning++;
    start[n++] = j;
  }
  return n;
}

/* Begins the jobs of start[] in the forwarder (outside the lock: signing
 * happens here). A job cancelled meanwhile is aborted at once. */
static void begin_jobs(wk_sender *s, wk_job **start, unsigned n) {
  unsigned i;
  for(i = 0; i < n; i++) {
    wk_job *j = start[i];
    wk_xfer *x;
    wk_log(WK_DEBUG, "batch sending", "batch_id", j->batch.id, NULL);
    x = wk_forwarder_begin(s->fw, j->batch.id, j->batch.body, j->batch.len,
                           &j->res, j);
    pthread_mutex_lock(&s->mu);
    if(!x) {
      unlink_running(s, j);
      j->rc = -1;
      push(&s->done, &s->done_tail, j);
    } else {
      j->x = x;
      if(j->cancel)
        wk_forwarder_abort(s->fw, x);
    }
    pthread_mutex_unlock(&s->mu);
  }
}

/* Aborts the running jobs whose cancel flag is set (the forwarder is this
 * thread's; the flags are set under the lock by wk_sender_cancel). */
static void abort_cancelled(wk_sender *s) {
  wk_job *j;
  pthread_mutex_lock(&s->mu);
  for(j = s->running; j; j = j->next)
    if(j->cancel && j->x)
      wk_forwarder_abort(s->fw, j->x);
  pthread_mutex_unlock(&s->mu);
}

/* Moves the jobs the forwarder finished to the finished list. */
static void collect(wk_sender *s) {
  void *ud;
  int rc;
  while((rc = wk_forwarder_take(s->fw, &ud)) != 1) {
    wk_job *j = ud;
    pthread_mutex_lock(&s->mu);
    unlink_running(s, j);
    j->x = NULL;
    j->rc = rc;
    push(&s->done, &s->done_tail, j);
    pthread_mutex_unlock(&s->mu);
  }
}

static void *sender_main(void *arg) {
  wk_sender *s = arg;
  for(;;) {
    wk_job *start[WK_SENDER_MAX];
    unsigned n;
    uint64_t wait_ms;
    pthread_mutex_lock(&s->mu);
    if(s->quit) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    n = take_startable(s, start, &wait_ms);
    pthread_mutex_unlock(&s->mu);
    begin_jobs(s, start, n);
    abort_cancelled(s);
    /* the wait ends early on a finished batch or a wake-up */
    wk_forwarder_drive(s->fw, wait_ms && wait_ms < 1000 ? (int)wait_ms : 1000);
    collect(s);
  }
  return NULL;
}

int wk_sender_start(const wk_config *cfg, unsigned n, wk_metrics *m,
                    wk_sender **out, char *err, size_t errlen) {
  wk_sender *s = calloc(1, sizeof(*s));
  *out = NULL;
  if(!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->max = n < 1 ? 1 : n > WK_SENDER_MAX ? WK_SENDER_MAX : n;
  if(wk_forwarder_new(cfg, &s->fw, err, errlen))
    goto fail;
  wk_forwarder_set_metrics(s->fw, m);
  if(pthread_create(&s->th, NULL, sender_main, s)) {
    snprintf(err, errlen, "cannot start the sender thread");
    goto fail;
  }
  s->started = 1;
  *out = s;
  return 0;
fail:
  wk_sender_stop(s);
  return -1;
}

static void free_list(wk_job *j) {
  while(j) {
    wk_job *next = j->next;
    wk_job_free(j);
    j = next;
  }
}

void wk_sender_stop(wk_sender *s) {
  if(!s)
    return;
  wk_sender_cancel(s, -1);
  pthread_mutex_lock(&s->mu);
  s->quit = 1;
  pthread_mutex_unlock(&s->mu);
  wk_forwarder_wakeup(s->fw);
  if(s->started)
    pthread_join(s->th, NULL);
  /* the forwarder first: its transfers borrow the jobs' bodies */
  wk_forwarder_free(s->fw);
  free_list(s->running);
  free_list(s->queue);
  free_list(s->done);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void wk_sender_submit(wk_sender *s, wk_job *j) {
  j->cancel = 0;
  j->x = NULL;
  pthread_mutex_lock(&s->mu);
  push(&s->queue, &s->queue_tail, j);
  s->outstanding++;
  pthread_mutex_unlock(&s->mu);
  wk_forwarder_wakeup(s->fw);
}

wk_job *wk_sender_done(wk_sender *s) {
  wk_job *j;
  if(!s)
    return NULL;
  pthread_mutex_lock(&s->mu);
  j = s->done;
  if(j) {
    s->done = j->next;
    if(!s->done)
      s->done_tail = NULL;
    j->next = NULL;
    s->outstanding--;
  }
  pthread_mutex_unlock(&s->mu);
  return j;
}

void wk_sender_cancel(wk_sender *s, int32_t partition) {
  wk_job **pp, *j;
  if(!s)
    return;
  pthread_mutex_lock(&s->mu);
  for(pp = &s->queue; *pp;) {
    j = *pp;
    if(partition >= 0 && j->partition != partition) {
      pp = &j->next;
      continue;
    }
    *pp = j->next;
    j->rc = -2;
    j->cancel = 1;
    push(&s->done, &s->done_tail, j);
  }
  s->queue_tail = NULL;
  for(pp = &s->queue; *pp; pp = &(*pp)->next)
    s->queue_tail = *pp;
  for(j = s->running; j; j = j->next)
    if(partition < 0 || j->partition == partition)
      j->cancel = 1;
  pthread_mutex_unlock(&s->mu);
  wk_forwarder_wakeup(s->fw);
}

void wk_sender_hold(wk_sender *s, int hold) {
  if(!s)
    return;
  pthread_mutex_lock(&s->mu);
  s->hold = hold;
  pthread_mutex_unlock(&s->mu);
  wk_forwarder_wakeup(s->fw);
}

size_t wk_sender_outstanding(wk_sender *s) {
  size_t n;
  if(!s)
    return 0;
  pthread_mutex_lock(&s->mu);
  n = s->outstanding;
  pthread_mutex_unlock(&s->mu);
  return n;
}
