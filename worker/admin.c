/* The admin endpoint and metrics (see admin.h). */
#define _DEFAULT_SOURCE
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const double wk_latency_bounds[WK_LATENCY_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static const char *const retry_names[WK_RETRY_REASONS] = {
    "http_408",   "http_425", "http_429", "http_5xx",
    "connection", "tls",      "timeout",  "token"};

void wk_metrics_init(wk_metrics *m) {
  size_t i;
  memset(m, 0, sizeof(*m));
  for(i = 0; i < WK_MAX_LAG_PARTITIONS; i++)
    atomic_store(&m->lag[i], -1);
}

void wk_metrics_latency(wk_metrics *m, double s) {
  size_t i;
  for(i = 0; i < WK_LATENCY_BUCKETS; i++)
    if(s <= wk_latency_bounds[i])
      atomic_fetch_add(&m->latency_bucket[i], 1);
  atomic_fetch_add(&m->latency_bucket[WK_LATENCY_BUCKETS], 1);
  atomic_fetch_add(&m->latency_count, 1);
  atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(s * 1e6));
}

int wk_metrics_ready(const wk_metrics *m) {
  return atomic_load(&m->assigned) && !atomic_load(&m->stalled) &&
         !atomic_load(&m->cbs_failing);
}

static void counter(FILE *o, const char *name, const char *help,
                    unsigned long long v) {
  fprintf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
          name, v);
}

static void gauge(FILE *o, const char *name, const char *help, long long v) {
  fprintf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
          v);
}

static void by_rule(FILE *o, const char *name, const char *help,
                    const atomic_ullong *v) {
  size_t n, i;
  const ddas_rule_info *t = ddas_rule_table(&n);
  fprintf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for(i = 0; i < n; i++)
    fprintf(o, "%s{rule=\"%s\"} %llu\n", name, t[i].id, atomic_load(&v[i]));
  fprintf(o, "%s{rule=\"other\"} %llu\n", name,
          atomic_load(&v[DDAS_MAX_RULES]));
}

void wk_metrics_render(const wk_metrics *m, FILE *o) {
  size_t i;
  counter(o, "ddas_records_consumed_total",
          "Kafka messages (deliveries or chunks) handled",
          atomic_load(&m->records_consumed));
  counter(o, "ddas_deliveries_processed_total",
          "deliveries with a durable outcome",
          atomic_load(&m->deliveries_processed));
  counter(o, "ddas_deliveries_incomplete_total",
          "chunked deliveries reported incomplete",
          atomic_load(&m->deliveries_incomplete));
  counter(o, "ddas_trajecten_accepted_total",
          "records accepted (trajecten, or vroegsignalen)",
          atomic_load(&m->trajecten_accepted));
  counter(o, "ddas_trajecten_rejected_total", "records rejected",
          atomic_load(&m->trajecten_rejected));
  counter(o, "ddas_trajecten_warned_total", "records accepted with a warning",
          atomic_load(&m->trajecten_warned));
  by_rule(o, "ddas_rejections_total", "error findings by rule id",
          m->rejected_by_rule);
  by_rule(o, "ddas_warnings_total", "warning findings by rule id",
          m->warnings_by_rule);
  fprintf(o, "# HELP ddas_normalisations_total values changed by "
             "normalisation id\n# TYPE ddas_normalisations_total counter\n");
  for(i = 0; i < 6; i++)
    fprintf(o, "ddas_normalisations_total{id=\"N%zu\"} %llu\n", i + 1,
            atomic_load(&m->normalised[i]));
  counter(o, "ddas_batches_built_total", "batches written",
          atomic_load(&m->batches_built));
  counter(o, "ddas_batches_forwarded_total", "batches accepted by CBS",
          atomic_load(&m->batches_forwarded));
  counter(o, "ddas_batches_parked_total", "batches parked on the failed topic",
          atomic_load(&m->batches_parked));
  counter(o, "ddas_batches_replayed_total",
          "parked batches re-sent and accepted",
          atomic_load(&m->batches_replayed));
  fprintf(o, "# HELP ddas_cbs_retries_total batch attempts retried, by "
             "reason\n# TYPE ddas_cbs_retries_total counter\n");
  for(i = 0; i < WK_RETRY_REASONS; i++)
    fprintf(o, "ddas_cbs_retries_total{reason=\"%s\"} %llu\n", retry_names[i],
            atomic_load(&m->retries[i]));
  fprintf(o, "# HELP ddas_cbs_request_duration_seconds CBS batch request "
             "latency\n# TYPE ddas_cbs_request_duration_seconds histogram\n");
  for(i = 0; i < WK_LATENCY_BUCKETS; i++)
    fprintf(o, "ddas_cbs_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            wk_latency_bounds[i], atomic_load(&m->latency_bucket[i]));
  fprintf(o,
          "ddas_cbs_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
          "ddas_cbs_request_duration_seconds_sum %.6f\n"
          "ddas_cbs_request_duration_seconds_count %llu\n",
          atomic_load(&m->latency_bucket[WK_LATENCY_BUCKETS]),
          (double)atomic_load(&m->latency_sum_us) / 1e6,
          atomic_load(&m->latency_count));
  counter(o, "ddas_token_refreshes_total", "OAuth2 tokens fetched",
          atomic_load(&m->token_refreshes));
  gauge(o, "ddas_inflight_bytes",
        "bytes held in open batches and the message at hand",
        atomic_load(&m->inflight_bytes));
  gauge(o, "ddas_paused_partitions", "partitions paused (configuration fault)",
        atomic_load(&m->paused_partitions));
  fprintf(o, "# HELP ddas_consumer_lag messages behind the end of the "
             "partition\n# TYPE ddas_consumer_lag gauge\n");
  for(i = 0; i < WK_MAX_LAG_PARTITIONS; i++) {
    long long l = atomic_load(&m->lag[i]);
    if(l >= 0)
      fprintf(o, "ddas_consumer_lag{partition=\"%zu\"} %lld\n", i, l);
  }
  gauge(o, "ddas_last_forward_timestamp_seconds",
        "Unix time of the last batch CBS accepted (0: none yet)",
        atomic_load(&m->last_forward_unix));
  gauge(o, "ddas_ready", "1 when /readyz answers 200", wk_metrics_ready(m));
}

/* ---- the HTTP side ----------------------------------------------------- */

struct wk_admin {
  int fd;
  int port;
  int stop_pipe[2];
  pthread_t thread;
  const wk_metrics *m;
};

static void reply(int fd, int status, const char *ctype, const char *body,
                  size_t len) {
  char head[256];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\nConnection: close\r\n\r\n",
                   status,
                   status == 200   ? "OK"
                   : status == 404 ? "Not Found"
                   : status == 405 ? "Method Not Allowed"
                                   : "Service Unavailable",
                   ctype, len);
  if(write(fd, head, (size_t)n) < 0 || write(fd, body, len) < 0)
    return; /* the scraper went away */
}

static void serve(struct wk_admin *a, int fd) {
  char req[2048];
  ssize_t got = 0;
  struct pollfd p = {fd, POLLIN, 0};
  /* read the request line (bounded; one short read is enough for GET) */
  if(poll(&p, 1, 2000) <= 0 || (got = read(fd, req, sizeof(req) - 1)) <= 0)
    return;
  req[got] = '\0';
  if(strncmp(req, "GET ", 4) != 0) {
    reply(fd, 405, "text/plain", "GET only\n", 9);
  } else if(strncmp(req + 4, "/metrics ", 9) == 0) {
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if(f) {
      wk_metrics_render(a->m, f);
      fclose(f);
      reply(fd, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    free(body);
  } else if(strncmp(req + 4, "/healthz ", 9) == 0) {
    reply(fd, 200, "text/plain", "ok\n", 3);
  } else if(strncmp(req + 4, "/readyz ", 8) == 0) {
    if(wk_metrics_ready(a->m))
      reply(fd, 200, "text/plain", "ready\n", 6);
    else {
      char why[160];
      int n = snprintf(
          why, sizeof(why), "not ready:%s%s%s\n",
          atomic_load(&a->m->assigned) ? "" : " no partitions assigned",
          atomic_load(&a->m->stalled) ? " configuration fault at CBS" : "",
          atomic_load(&a->m->cbs_failing) ? " CBS unreachable" : "");
      reply(fd, 503, "text/plain", why, (size_t)n);
    }
  } else {
    reply(fd, 404, "text/plain", "not found\n", 10);
  }
}

static void *loop(void *arg) {
  struct wk_admin *a = arg;
  for(;;) {
    struct pollfd p[2] = {{a->fd, POLLIN, 0}, {a->stop_pipe[0], POLLIN, 0}};
    int c;
    if(poll(p, 2, -1) < 0 && errno != EINTR)
      break;
    if(p[1].revents)
      break;
    if(!(p[0].revents & POLLIN))
      continue;
    c = accept(a->fd, NULL, NULL);
    if(c < 0)
      continue;
    serve(a, c);
    close(c);
  }
  return NULL;
}

int wk_admin_start(const char *listen_on, const wk_metrics *m, wk_admin **out,
                   char *err, size_t errlen) {
  struct wk_admin *a;
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  char host[64];
  const char *colon = strrchr(listen_on, ':');
  int one = 1;
  *out = NULL;
  if(!colon || (size_t)(colon - listen_on) >= sizeof(host)) {
    snprintf(err, errlen, "admin.listen must be HOST:PORT");
    return -1;
  }
  memcpy(host, listen_on, (size_t)(colon - listen_on));
  host[colon - listen_on] = '\0';
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)atoi(colon + 1));
  if(inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "admin.listen: '%s' is not an IPv4 address", host);
    return -1;
  }
  a = calloc(1, sizeof(*a));
  if(!a)
    return -1;
  a->m = m;
  a->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(a->fd < 0 || bind(a->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
     listen(a->fd, 16) || getsockname(a->fd, (struct sockaddr *)&sa, &sl) ||
     pipe(a->stop_pipe)) {
    snprintf(err, errlen, "admin.listen %s: %s", listen_on, strerror(errno));
    if(a->fd >= 0)
      close(a->fd);
    free(a);
    return -1;
  }
  a->port = ntohs(sa.sin_port);
  if(pthread_create(&a->thread, NULL, loop, a)) {
    snprintf(err, errlen, "cannot start the admin thread");
    close(a->fd);
    close(a->stop_pipe[0]);
    close(a->stop_pipe[1]);
    free(a);
    return -1;
  }
  *out = a;
  return 0;
}

int wk_admin_port(const wk_admin *a) { return a ? a->port : 0; }

void wk_admin_stop(wk_admin *a) {
  if(!a)
    return;
  if(write(a->stop_pipe[1], "x", 1) < 0) {
    /* the thread then ends with the process */
  }
  pthread_join(a->thread, NULL);
  close(a->fd);
  close(a->stop_pipe[0]);
  close(a->stop_pipe[1]);
  free(a);
}
