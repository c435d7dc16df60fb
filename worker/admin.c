/* The admin endpoint and metrics (see admin.h). */
#define _DEFAULT_SOURCE
#include "admin.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "io.h"
#include "log.h"

#ifndef DDAS_WORKER_VERSION
#define DDAS_WORKER_VERSION "unknown"
#endif

static const char *const retry_names[WK_RETRY_REASONS] = {
    "http_408",   "http_425", "http_429", "http_5xx",
    "connection", "tls",      "timeout",  "token"};
static const char *const kind_names[WK_KINDS] = {"unknown", "shv", "vs"};

void wk_metrics_init(wk_metrics *m) {
  size_t i;
  memset(m, 0, sizeof(*m));
  for(i = 0; i < WK_MAX_LAG_PARTITIONS; i++)
    atomic_store(&m->lag[i], -1);
  wk_metrics_set_timeout(m, 120000);
}

void wk_metrics_set_timeout(wk_metrics *m, long timeout_ms) {
  static const double ladder[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5,   1,    2.5,   5,    10,  30,
                                  60,    120,  300,   600,  1800};
  double top = (double)timeout_ms / 1000.0;
  size_t i, n = 0;
  for(i = 0; i < sizeof(ladder) / sizeof(ladder[0]) && ladder[i] < top; i++)
    m->latency_bounds[n++] = ladder[i];
  m->latency_bounds[n++] = top; /* WK_LATENCY_BUCKETS = ladder + 1 */
  m->nbuckets = n;
}

void wk_metrics_latency(wk_metrics *m, double s) {
  size_t i;
  for(i = 0; i < m->nbuckets; i++)
    if(s <= m->latency_bounds[i])
      atomic_fetch_add(&m->latency_bucket[i], 1);
  atomic_fetch_add(&m->latency_bucket[WK_LATENCY_BUCKETS], 1);
  atomic_fetch_add(&m->latency_count, 1);
  atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(s * 1e6));
}

void wk_metrics_response(wk_metrics *m, int status) {
  atomic_fetch_add(
      &m->cbs_responses[status >= 100 && status < WK_HTTP_CODES ? status : 0],
      1);
}

int wk_metrics_ready(const wk_metrics *m) {
  return atomic_load(&m->assigned) && !atomic_load(&m->kafka_down) &&
         !atomic_load(&m->stalled) && !atomic_load(&m->cbs_failing);
}

/* ---- exposition -------------------------------------------------------- */

static void family(FILE *o, const char *name, const char *type,
                   const char *help) {
  fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(FILE *o, const char *name, const char *help,
                    unsigned long long v) {
  family(o, name, "counter", help);
  fprintf(o, "%s %llu\n", name, v);
}

static void gauge(FILE *o, const char *name, const char *help, long long v) {
  family(o, name, "gauge", help);
  fprintf(o, "%s %lld\n", name, v);
}

/* A label value: \\, \" and \n escaped, as the format requires. */
static void label_value(FILE *o, const char *v) {
  for(; *v; v++) {
    if(*v == '\\' || *v == '"')
      fputc('\\', o);
    if(*v == '\n')
      fputs("\\n", o);
    else
      fputc(*v, o);
  }
}

static void by_rule(FILE *o, const char *name, const char *help,
                    const atomic_ullong *v) {
  size_t n, i;
  const ddas_rule_info *t = ddas_rule_table(&n);
  family(o, name, "counter", help);
  for(i = 0; i < n; i++)
    fprintf(o, "%s{rule=\"%s\"} %llu\n", name, t[i].id, atomic_load(&v[i]));
  fprintf(o, "%s{rule=\"other\"} %llu\n", name,
          atomic_load(&v[DDAS_MAX_RULES]));
}

static void by_kind(FILE *o, const char *name, const char *help,
                    const atomic_ullong *v) {
  size_t k;
  family(o, name, "counter", help);
  for(k = 0; k < WK_KINDS; k++)
    fprintf(o, "%s{kind=\"%s\"} %llu\n", name, kind_names[k],
            atomic_load(&v[k]));
}

static void build_info(FILE *o) {
  family(o, "ddas_build_info", "gauge",
         "always 1; the labels name the versions of the worker and its "
         "libraries");
  fprintf(o,
          "ddas_build_info{version=\"%s\",librdkafka=\"%s\",libcurl=\"%s\","
          "openssl=\"%s\",jansson=\"%s\"} 1\n",
          DDAS_WORKER_VERSION, rd_kafka_version_str(),
          curl_version_info(CURLVERSION_NOW)->version,
          OpenSSL_version(OPENSSL_VERSION_STRING), jansson_version_str());
}

#define AT(field) offsetof(wk_metrics, field)

/* A counter family: name, HELP text, where its value is in wk_metrics. */
typedef struct {
  const char *name, *help;
  size_t off;
} family_def;

/* The counters without labels. */
static const family_def plain[] = {
    {"ddas_messages_consumed_total",
     "Kafka messages (whole deliveries or chunks) handled",
     AT(messages_consumed)},
    {"ddas_kafka_consumed_bytes_total", "bytes of the Kafka messages handled",
     AT(consumed_bytes)},
    {"ddas_deliveries_processed_total", "deliveries with a durable outcome",
     AT(deliveries_processed)},
    {"ddas_deliveries_incomplete_total",
     "chunked deliveries reported incomplete", AT(deliveries_incomplete)},
    {"ddas_batches_built_total", "batches written", AT(batches_built)},
    {"ddas_batches_forwarded_total", "batches accepted by CBS",
     AT(batches_forwarded)},
    {"ddas_batches_parked_total", "batches parked on the failed topic",
     AT(batches_parked)},
    {"ddas_batches_replayed_total", "parked batches re-sent and accepted",
     AT(batches_replayed)},
    {"ddas_cbs_sent_bytes_total",
     "bytes of batch bodies sent in requests CBS answered", AT(cbs_sent_bytes)},
    {"ddas_token_refreshes_total", "OAuth2 tokens fetched",
     AT(token_refreshes)},
    {"ddas_kafka_produced_bytes_total", "bytes of events Kafka acknowledged",
     AT(produced_bytes)},
    {"ddas_kafka_produce_errors_total",
     "events Kafka refused or did not take (each stops the worker before "
     "an offset moves past it)",
     AT(produce_errors)},
};

/* The counters by record kind (an array of WK_KINDS at off). */
static const family_def kinds[] = {
    {"ddas_records_consumed_total",
     "records checked (trajecten of SHV, vroegsignalen of VS), by kind",
     AT(records_consumed)},
    {"ddas_records_accepted_total", "records accepted, by kind",
     AT(records_accepted)},
    {"ddas_records_rejected_total", "records rejected, by kind",
     AT(records_rejected)},
    {"ddas_records_warned_total", "records accepted with a warning, by kind",
     AT(records_warned)},
};

static const atomic_ullong *at(const wk_metrics *m, size_t off) {
  return (const atomic_ullong *)(const void *)((const char *)m + off);
}

static void render_records(const wk_metrics *m, FILE *o) {
  size_t i;
  for(i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
    counter(o, plain[i].name, plain[i].help, atomic_load(at(m, plain[i].off)));
  for(i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    by_kind(o, kinds[i].name, kinds[i].help, at(m, kinds[i].off));
  by_rule(o, "ddas_rejections_total", "error findings by rule id",
          m->rejected_by_rule);
  by_rule(o, "ddas_warnings_total", "warning findings by rule id",
          m->warnings_by_rule);
  family(o, "ddas_normalisations_total", "counter",
         "values changed by normalisation id");
  for(i = 0; i < 6; i++)
    fprintf(o, "ddas_normalisations_total{id=\"N%zu\"} %llu\n", i + 1,
            atomic_load(&m->normalised[i]));
}

static void render_cbs(const wk_metrics *m, FILE *o) {
  size_t i;
  family(o, "ddas_cbs_retries_total", "counter",
         "batch attempts retried, by reason");
  for(i = 0; i < WK_RETRY_REASONS; i++)
    fprintf(o, "ddas_cbs_retries_total{reason=\"%s\"} %llu\n", retry_names[i],
            atomic_load(&m->retries[i]));
  family(o, "ddas_cbs_responses_total", "counter",
         "CBS batch responses by HTTP status (code \"none\": no response: "
         "connection, TLS, timeout)");
  for(i = 0; i < WK_HTTP_CODES; i++) {
    unsigned long long v = atomic_load(&m->cbs_responses[i]);
    if(!v)
      continue;
    if(i)
      fprintf(o, "ddas_cbs_responses_total{code=\"%zu\"} %llu\n", i, v);
    else
      fprintf(o, "ddas_cbs_responses_total{code=\"none\"} %llu\n", v);
  }
  family(o, "ddas_cbs_request_duration_seconds", "histogram",
         "CBS batch request latency");
  for(i = 0; i < m->nbuckets; i++)
    fprintf(o, "ddas_cbs_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            m->latency_bounds[i], atomic_load(&m->latency_bucket[i]));
  fprintf(o,
          "ddas_cbs_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
          "ddas_cbs_request_duration_seconds_sum %.6f\n"
          "ddas_cbs_request_duration_seconds_count %llu\n",
          atomic_load(&m->latency_bucket[WK_LATENCY_BUCKETS]),
          (double)atomic_load(&m->latency_sum_us) / 1e6,
          atomic_load(&m->latency_count));
  gauge(o, "ddas_last_forward_timestamp_seconds",
        "Unix time of the last batch CBS accepted (0: none yet)",
        atomic_load(&m->last_forward_unix));
}

static void render_kafka(const wk_metrics *m, FILE *o) {
  size_t i;
  gauge(o, "ddas_kafka_reachable",
        "0 while librdkafka reports every broker down",
        !atomic_load(&m->kafka_down));
  gauge(o, "ddas_inflight_bytes",
        "bytes held for deliveries: batches whose outcome is not yet "
        "durable and chunks of open chunked deliveries",
        atomic_load(&m->inflight_bytes));
  gauge(o, "ddas_paused_partitions",
        "partitions paused (configuration fault or run.max_inflight_bytes)",
        atomic_load(&m->paused_partitions));
  family(o, "ddas_consumer_lag", "gauge",
         "messages behind the end of each assigned partition");
  for(i = 0; m->lag_topic && i < WK_MAX_LAG_PARTITIONS; i++) {
    long long l = atomic_load(&m->lag[i]);
    if(l < 0)
      continue;
    fputs("ddas_consumer_lag{topic=\"", o);
    label_value(o, m->lag_topic);
    fprintf(o, "\",partition=\"%zu\"} %lld\n", i, l);
  }
}

void wk_metrics_render(const wk_metrics *m, FILE *o) {
  build_info(o);
  render_records(m, o);
  render_cbs(m, o);
  render_kafka(m, o);
  gauge(o, "ddas_ready", "1 when /readyz answers 200", wk_metrics_ready(m));
}

/* ---- the HTTP side (libmicrohttpd) -------------------------------------- */

struct wk_admin {
  struct MHD_Daemon *d;
  int port;
  const wk_metrics *m;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  enum MHD_Result ok;
  if(!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if(status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status,
                            const char *s) {
  return reply(c, status, "text/plain; charset=utf-8", (void *)(uintptr_t)s,
               strlen(s), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result readyz(struct MHD_Connection *c, const wk_metrics *m) {
  char why[256];
  if(wk_metrics_ready(m))
    return text(c, MHD_HTTP_OK, "ready\n");
  snprintf(why, sizeof(why), "not ready:%s%s%s%s\n",
           atomic_load(&m->assigned) ? "" : " no partitions assigned;",
           atomic_load(&m->kafka_down)
               ? " Kafka unreachable (no broker of kafka.bootstrap.servers "
                 "answers);"
               : "",
           atomic_load(&m->stalled) ? " configuration fault at CBS;" : "",
           atomic_load(&m->cbs_failing) ? " CBS unreachable;" : "");
  why[strlen(why) - 2] = '\n'; /* the last ';' */
  why[strlen(why) - 1] = '\0';
  return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
}

/* One request: answered at once (no request body is read; the URL comes
 * without its query string). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
  const struct wk_admin *a = cls;
  (void)version;
  (void)upload;
  (void)state;
  if(*upload_size)
    return MHD_NO; /* a body was sent: close */
  if(strcmp(method, MHD_HTTP_METHOD_GET) &&
     strcmp(method, MHD_HTTP_METHOD_HEAD))
    return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
  if(!strcmp(url, "/metrics")) {
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if(!f)
      return MHD_NO;
    wk_metrics_render(a->m, f);
    if(fclose(f)) {
      free(body);
      return MHD_NO;
    }
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 body, len, MHD_RESPMEM_MUST_FREE);
  }
  if(!strcmp(url, "/healthz"))
    return text(c, MHD_HTTP_OK, "ok\n");
  if(!strcmp(url, "/readyz"))
    return readyz(c, a->m);
  return text(c, MHD_HTTP_NOT_FOUND,
              "not found: /metrics, /healthz or /readyz\n");
}

/* libmicrohttpd's own errors (a failed accept, a broken request) go to
 * the worker's log. */
static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
  char msg[300];
  size_t n;
  (void)cls;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  n = strlen(msg);
  while(n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  WK_LOG(WK_WARN, "admin endpoint", WK_STR("error", msg));
}

int wk_admin_start(const char *listen_on, const wk_metrics *m, wk_admin **out,
                   char *err, size_t errlen) {
  struct wk_admin *a;
  struct sockaddr_storage ss;
  const union MHD_DaemonInfo *info;
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  *out = NULL;
  if(wk_parse_listen("admin.listen", listen_on, &ss, err, errlen))
    return -1;
  if(ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  a = calloc(1, sizeof(*a));
  if(!a) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  a->m = m;
  errno = 0;
  a->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)64, MHD_OPTION_END);
  if(!a->d) {
    snprintf(err, errlen, "admin.listen %s: cannot listen%s%s", listen_on,
             errno ? ": " : "", errno ? strerror(errno) : "");
    free(a);
    return -1;
  }
  info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
  a->port = info ? info->port : 0;
  *out = a;
  return 0;
}

int wk_admin_port(const wk_admin *a) { return a ? a->port : 0; }

void wk_admin_stop(wk_admin *a) {
  if(!a)
    return;
  MHD_stop_daemon(a->d);
  free(a);
}
