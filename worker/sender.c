/* The sender stage (see sender.h): one mutex guards the queue, the
 * finished list and the running jobs; threads wait on one condition for
 * work (or for the earliest not_before_ms of a queued job). */
#include "sender.h"

#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WK_SENDER_MAX 64

struct wk_sender {
  pthread_mutex_t mu;
  pthread_cond_t work;
  wk_job *queue, *queue_tail; /* FIFO */
  wk_job *done, *done_tail;   /* FIFO */
  wk_job *running[WK_SENDER_MAX];
  wk_forwarder *fw[WK_SENDER_MAX];
  pthread_t th[WK_SENDER_MAX];
  unsigned n, started;
  size_t outstanding;
  int hold, quit;
};

typedef struct {
  wk_sender *s;
  unsigned slot;
} slot_arg;

uint64_t wk_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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

static void wait_for(wk_sender *s, uint64_t ms) {
  struct timespec ts;
  if(!ms) {
    pthread_cond_wait(&s->work, &s->mu);
    return;
  }
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if(ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&s->work, &s->mu, &ts);
}

static void *sender_main(void *arg) {
  slot_arg *a = arg;
  wk_sender *s = a->s;
  unsigned slot = a->slot;
  free(a);
  pthread_mutex_lock(&s->mu);
  while(!s->quit) {
    uint64_t wait_ms;
    wk_job *j = take_ready(s, wk_mono_ms(), &wait_ms);
    if(!j) {
      wait_for(s, wait_ms);
      continue;
    }
    s->running[slot] = j;
    pthread_mutex_unlock(&s->mu);
    wk_log(WK_DEBUG, "batch sending", "batch_id", j->batch.id, NULL);
    wk_forwarder_set_stop(s->fw[slot], &j->cancel);
    memset(&j->res, 0, sizeof(j->res));
    j->rc = j->cancel ? -2
                      : wk_forwarder_send(s->fw[slot], j->batch.id,
                                          j->batch.body, j->batch.len, &j->res);
    wk_forwarder_set_stop(s->fw[slot], NULL);
    pthread_mutex_lock(&s->mu);
    s->running[slot] = NULL;
    push(&s->done, &s->done_tail, j);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int wk_sender_start(const wk_config *cfg, unsigned n, wk_metrics *m,
                    wk_sender **out, char *err, size_t errlen) {
  wk_sender *s = calloc(1, sizeof(*s));
  unsigned i;
  *out = NULL;
  if(!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if(n < 1)
    n = 1;
  if(n > WK_SENDER_MAX)
    n = WK_SENDER_MAX;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  s->n = n;
  for(i = 0; i < n; i++) {
    slot_arg *a;
    if(wk_forwarder_new(cfg, &s->fw[i], err, errlen))
      goto fail;
    wk_forwarder_set_metrics(s->fw[i], m);
    a = malloc(sizeof(*a));
    if(!a) {
      snprintf(err, errlen, "out of memory");
      goto fail;
    }
    a->s = s;
    a->slot = i;
    if(pthread_create(&s->th[i], NULL, sender_main, a)) {
      free(a);
      snprintf(err, errlen, "cannot start a sender thread");
      goto fail;
    }
    s->started++;
  }
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
  unsigned i;
  if(!s)
    return;
  wk_sender_cancel(s, -1);
  pthread_mutex_lock(&s->mu);
  s->quit = 1;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->mu);
  for(i = 0; i < s->started; i++)
    pthread_join(s->th[i], NULL);
  for(i = 0; i < s->n; i++)
    wk_forwarder_free(s->fw[i]);
  free_list(s->queue);
  free_list(s->done);
  pthread_cond_destroy(&s->work);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void wk_sender_submit(wk_sender *s, wk_job *j) {
  j->cancel = 0;
  pthread_mutex_lock(&s->mu);
  push(&s->queue, &s->queue_tail, j);
  s->outstanding++;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->mu);
}

wk_job *wk_sender_done(wk_sender *s) {
  wk_job *j;
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
  wk_job **pp;
  unsigned i;
  pthread_mutex_lock(&s->mu);
  for(pp = &s->queue; *pp;) {
    wk_job *j = *pp;
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
  for(i = 0; i < s->n; i++)
    if(s->running[i] &&
       (partition < 0 || s->running[i]->partition == partition))
      s->running[i]->cancel = 1;
  pthread_mutex_unlock(&s->mu);
}

void wk_sender_hold(wk_sender *s, int hold) {
  pthread_mutex_lock(&s->mu);
  s->hold = hold;
  pthread_cond_broadcast(&s->work);
  pthread_mutex_unlock(&s->mu);
}

size_t wk_sender_outstanding(wk_sender *s) {
  size_t n;
  pthread_mutex_lock(&s->mu);
  n = s->outstanding;
  pthread_mutex_unlock(&s->mu);
  return n;
}
