/* The follower of topic.accepted (serve_index.h). */
#define _GNU_SOURCE
#include "serve_index.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ddas/accepted.h"
#include "io.h"
#include "kafka.h"
#include "log.h"

#define MAX_HEADERS 32

struct wk_serve_index {
  const wk_config *cfg;
  rd_kafka_t *rk;
  pthread_t thread;
  pthread_rwlock_t lock;
  ddas_served *idx;
  int spool;
  atomic_ullong spool_end; /* written by the follower only */
  atomic_int stop, ready;
  atomic_ullong messages; /* read, for the ready log line */
  /* the initial read: partitions and the end each had when it started */
  int nparts;
  int64_t *initial_end;
  int *caught_up;
};

static int open_spool(const char *dir, char *err, size_t errlen) {
  char path[4096];
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if(fd >= 0)
    return fd;
  /* a file system without O_TMPFILE: a named file, unlinked at once */
  snprintf(path, sizeof(path), "%s/ddas-serve-spool-XXXXXX", dir);
  fd = mkostemp(path, O_CLOEXEC);
  if(fd >= 0) {
    unlink(path);
    return fd;
  }
  snprintf(err, errlen,
           "cannot create the spool in %s: %s (set serve.spool_dir to a "
           "writable directory on a local file system)",
           dir, strerror(errno));
  return -1;
}

/* Appends len bytes to the spool; its offset in *at. 0 or -1. */
static int spool_append(wk_serve_index *x, const void *p, size_t len,
                        uint64_t *at) {
  size_t done = 0;
  *at = atomic_load(&x->spool_end);
  while(done < len) {
    ssize_t w = pwrite(x->spool, (const char *)p + done, len - done,
                       (off_t)(*at + done));
    if(w < 0 && errno == EINTR)
      continue;
    if(w <= 0)
      return -1;
    done += (size_t)w;
  }
  atomic_store(&x->spool_end, *at + len);
  return 0;
}

int wk_serve_index_read(wk_serve_index *x, const ddas_served_batch *b,
                        char *buf) {
  size_t done = 0;
  while(done < b->len) {
    ssize_t r =
        pread(x->spool, buf + done, b->len - done, (off_t)(b->locator + done));
    if(r < 0 && errno == EINTR)
      continue;
    if(r <= 0)
      return -1;
    done += (size_t)r;
  }
  return 0;
}

/* One message into the spool and the index. */
static void take(wk_serve_index *x, rd_kafka_message_t *m) {
  ddas_kv kv[MAX_HEADERS];
  size_t n = wk_headers_kv(m, kv, MAX_HEADERS);
  char why[200] = "", tb[16];
  uint64_t at = 0;
  const char *type = wk_header(m, DDAS_H_ACC_TYPE, tb, sizeof(tb));
  ddas_result r = DDAS_ERR_ARG;
  atomic_fetch_add(&x->messages, 1);
  if(!m->payload) {
    snprintf(why, sizeof(why), "a message without a value (tombstone)");
  } else if(type && !strcmp(type, DDAS_ACC_TYPE_BATCH) &&
            spool_append(x, m->payload, m->len, &at)) {
    snprintf(why, sizeof(why), "cannot write the spool: %s", strerror(errno));
  } else {
    pthread_rwlock_wrlock(&x->lock);
    r = ddas_served_add(x->idx, kv, n, m->payload, m->len, at, why,
                        sizeof(why));
    pthread_rwlock_unlock(&x->lock);
  }
  wk_headers_free(kv, n);
  if(r == DDAS_OK)
    return;
  WK_LOG(r == DDAS_ERR_NOMEM ? WK_ERROR : WK_WARN, "serve.message_ignored",
         WK_STR("topic", x->cfg->topic_accepted),
         WK_INT("partition", m->partition), WK_INT("offset", m->offset),
         WK_STR("reason", r == DDAS_ERR_NOMEM ? "out of memory" : why));
}

/* Assigns every partition from the beginning and notes where each ends
 * now. 1 when assigned, 0 when the topic does not exist (yet), -1 when
 * Kafka did not answer. */
static int assign_all(wk_serve_index *x) {
  const rd_kafka_metadata_t *md = NULL;
  const char *topic = x->cfg->topic_accepted;
  rd_kafka_topic_t *t = rd_kafka_topic_new(x->rk, topic, NULL);
  rd_kafka_topic_partition_list_t *parts;
  rd_kafka_resp_err_t e;
  int i, np;
  if(!t)
    return -1;
  e = rd_kafka_metadata(x->rk, 0, t, &md, 5000);
  rd_kafka_topic_destroy(t);
  if(e || md->topic_cnt != 1) {
    if(md)
      rd_kafka_metadata_destroy(md);
    return -1;
  }
  if(md->topics[0].err || md->topics[0].partition_cnt <= 0) {
    int unknown = md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    rd_kafka_metadata_destroy(md);
    return unknown ? 0 : -1;
  }
  np = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  free(x->initial_end); /* an earlier attempt's (a retry) */
  free(x->caught_up);
  x->nparts = 0;
  x->initial_end = calloc((size_t)np, sizeof(*x->initial_end));
  x->caught_up = calloc((size_t)np, sizeof(*x->caught_up));
  parts = rd_kafka_topic_partition_list_new(np);
  if(!x->initial_end || !x->caught_up) {
    rd_kafka_topic_partition_list_destroy(parts);
    return -1;
  }
  for(i = 0; i < np; i++) {
    int64_t lo = 0, hi = 0;
    if(rd_kafka_query_watermark_offsets(x->rk, topic, i, &lo, &hi, 5000)) {
      rd_kafka_topic_partition_list_destroy(parts);
      return -1;
    }
    x->initial_end[i] = hi;
    x->caught_up[i] = hi <= lo;
    rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  x->nparts = np;
  e = rd_kafka_assign(x->rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  return e ? -1 : 1;
}

static void check_ready(wk_serve_index *x, const rd_kafka_message_t *m) {
  int i, all = 1;
  if(atomic_load(&x->ready))
    return;
  if(m && m->partition >= 0 && m->partition < x->nparts &&
     (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
      m->offset + 1 >= x->initial_end[m->partition]))
    x->caught_up[m->partition] = 1;
  for(i = 0; i < x->nparts; i++)
    all &= x->caught_up[i];
  if(all) {
    size_t n = 0;
    pthread_rwlock_rdlock(&x->lock);
    ddas_served_deliveries(x->idx, &n);
    pthread_rwlock_unlock(&x->lock);
    atomic_store(&x->ready, 1);
    WK_LOG(WK_INFO, "serve.index_ready",
           WK_STR("topic", x->cfg->topic_accepted),
           WK_INT("partitions", x->nparts), WK_INT("deliveries", n),
           WK_INT("messages", atomic_load(&x->messages)));
  }
}

static void *follow(void *arg) {
  wk_serve_index *x = arg;
  int assigned = 0;
  while(!atomic_load(&x->stop)) {
    rd_kafka_message_t *m;
    if(!assigned) {
      int a = assign_all(x);
      if(a == 0 && !atomic_load(&x->ready)) {
        atomic_store(&x->ready, 1); /* no topic yet: nothing to serve */
        WK_LOG(WK_INFO, "serve.index_ready",
               WK_STR("topic", x->cfg->topic_accepted),
               WK_STR("note", "the topic does not exist yet"));
      }
      if(a <= 0) {
        int i;
        for(i = 0; i < 20 && !atomic_load(&x->stop); i++)
          wk_sleep_ms(100);
        continue;
      }
      assigned = 1;
      check_ready(x, NULL);
    }
    if(!(m = rd_kafka_consumer_poll(x->rk, 200)))
      continue;
    if(m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      take(x, m);
      check_ready(x, m);
    } else if(m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      check_ready(x, m);
    }
    rd_kafka_message_destroy(m);
  }
  return NULL;
}

int wk_serve_index_start(const wk_config *c, const char *bootstrap,
                         const char *spool_dir, wk_serve_index **out, char *err,
                         size_t errlen) {
  wk_serve_index *x = calloc(1, sizeof(*x));
  rd_kafka_conf_t *conf = NULL;
  char group[300];
  *out = NULL;
  if(!x) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  x->cfg = c;
  x->spool = -1;
  pthread_rwlock_init(&x->lock, NULL);
  if(ddas_served_new(&x->idx)) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if((x->spool = open_spool(spool_dir, err, errlen)) < 0)
    goto fail;
  /* A reader, not a group member: group.id only because the consumer API
   * wants one; nothing is ever committed. */
  conf = rd_kafka_conf_new();
  snprintf(group, sizeof(group), "%s-serve", c->group_id);
  if(rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
     rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
     rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, errlen) ||
     wk_kafka_conf(c, bootstrap, conf, err, errlen))
    goto fail;
  if(!(x->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen)))
    goto fail;
  conf = NULL;
  if(pthread_create(&x->thread, NULL, follow, x)) {
    snprintf(err, errlen, "cannot start the follower thread");
    goto fail;
  }
  *out = x;
  return 0;
fail:
  if(conf)
    rd_kafka_conf_destroy(conf);
  if(x->rk)
    rd_kafka_destroy(x->rk);
  if(x->spool >= 0)
    close(x->spool);
  ddas_served_free(x->idx);
  pthread_rwlock_destroy(&x->lock);
  free(x);
  return -1;
}

void wk_serve_index_stop(wk_serve_index *x) {
  if(!x)
    return;
  atomic_store(&x->stop, 1);
  pthread_join(x->thread, NULL);
  rd_kafka_assign(x->rk, NULL);
  rd_kafka_consumer_close(x->rk);
  rd_kafka_destroy(x->rk);
  close(x->spool);
  ddas_served_free(x->idx);
  pthread_rwlock_destroy(&x->lock);
  free(x->initial_end);
  free(x->caught_up);
  free(x);
}

int wk_serve_index_ready(wk_serve_index *x) { return atomic_load(&x->ready); }

const ddas_served *wk_serve_index_lock(wk_serve_index *x) {
  pthread_rwlock_rdlock(&x->lock);
  return x->idx;
}
void wk_serve_index_unlock(wk_serve_index *x) {
  pthread_rwlock_unlock(&x->lock);
}
