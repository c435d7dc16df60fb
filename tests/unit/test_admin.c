/* Operations, end to end: a worker (embedded Kafka) against the CBS stub
 * over HTTPS. /readyz turns not ready under a configuration fault and ready
 * again after it clears; /metrics has the documented names and types and
 * its counters match the run; every log line is JSON and holds no secret
 * and no personal-data value. */
#define _DEFAULT_SOURCE /* usleep */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

#define SECRET "adm1n-client-secret-Z9"
#define PASSPHRASE "adm1n-pass-K7"
#define DELIVERY1 SOURCE_DIR "/config/examples/shv-v1.0-meervoudig.json"
#define DELIVERY2 SOURCE_DIR "/config/examples/shv-v1.0-samenloop-deel1.json"
#define DELIVERY_VS SOURCE_DIR "/config/examples/vs-v0.9-enkelvoudig.json"

static char dir[] = "/tmp/ddas-admin-XXXXXX";
/* The stub and the worker, stopped by teardown when the test failed before
 * stopping them itself. */
static pid_t stub = -1, worker = -1;

/* The polling loops below wait for an observable condition up to a
 * generous deadline (POLLS x 100 ms plus the time of each probe), never
 * for a fixed window: a loaded 2-core CI machine under ASan is slow. */
#define POLLS 600

static void reap(pid_t *pid);

static pid_t spawn(const char *cmd) {
  pid_t pid;
  reap(&worker); /* left by a test that failed */
  pid = fork();
  if(pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int read_int_file(const char *path) {
  FILE *f = fopen(path, "r");
  int v = 0;
  if(f) {
    if(fscanf(f, "%d", &v) != 1)
      v = 0;
    fclose(f);
  }
  return v;
}

/* The admin port from the worker's JSON log. */
static int admin_port(const char *log) {
  char *text = NULL, *p;
  size_t len;
  FILE *f = fopen(log, "r");
  int port = 0;
  if(!f)
    return 0;
  fclose(f);
  text = tu_read(log, &len);
  p = strstr(text, "\"admin endpoint listening\"");
  /* a number (admin_endpoint_and_metrics checks the type) */
  if(p && (p = strstr(p, "\"port\":")))
    port = atoi(p + strlen("\"port\":") + (p[strlen("\"port\":")] == '"'));
  free(text);
  return port;
}

static int http_get(int port, const char *path, char **body) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd),
           "curl -s -o - -w '\\n%%{http_code}' --max-time 5 "
           "http://127.0.0.1:%d%s",
           port, path);
  if(tu_run(cmd, body) != 0)
    return 0;
  {
    char *nl = strrchr(*body, '\n');
    int code = nl ? atoi(nl + 1) : 0;
    if(nl)
      *nl = '\0';
    return code;
  }
}

/* Starts `run -c conf` (with d1: --submit d1 --submit d2 --until-idle,
 * stdout in DIR/NAME.out), its stderr in DIR/NAME.log (the path in log),
 * and waits for its admin port. */
static int start_run(const char *conf, const char *name, const char *d1,
                     const char *d2, char *log, size_t cap) {
  char cmd[4096];
  int i, port = 0;
  snprintf(log, cap, "%s/%s.log", dir, name);
  if(d1)
    snprintf(cmd, sizeof(cmd),
             "exec '%s' run -c %s --until-idle --idle-ms 120000 --submit %s "
             "--submit %s >%s/%s.out 2>%s",
             WORKER_BIN, conf, d1, d2, dir, name, log);
  else
    snprintf(cmd, sizeof(cmd), "exec '%s' run -c %s 2>%s", WORKER_BIN, conf,
             log);
  worker = spawn(cmd);
  for(i = 0; i < POLLS && !(port = admin_port(log)); i++)
    usleep(100000);
  assert_true(port > 0);
  return port;
}

/* SIGTERM: the worker drains and exits 0. */
static void stop_worker(void) {
  int st;
  kill(worker, SIGTERM);
  assert_int_equal(waitpid(worker, &st, 0), worker);
  worker = -1;
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The value of series `name` (with its labels in sorted order) in the
 * canonical form of tests/tools/check-metrics, or -1. */
static long metric(const char *text, const char *name) {
  char key[200];
  const char *p;
  snprintf(key, sizeof(key), "\n%s ", name);
  p = strstr(text, key);
  return p ? atol(p + strlen(key)) : -1;
}

/* GET /metrics, checked by tests/tools/check-metrics (a strict reading of
 * the exposition format with prometheus_client's parser): its canonical
 * form, with a new line in front so that metric() finds the first line. */
static char *scrape(int port) {
  char *out = NULL, *canon;
  int rc = tu_runf(&out,
                   "curl -sf --max-time 5 http://127.0.0.1:%d/metrics | "
                   "'%s/tests/tools/check-metrics'",
                   port, SOURCE_DIR);
  assert_int_equal(rc, 0);
  canon = malloc(strlen(out) + 2);
  assert_non_null(canon);
  canon[0] = '\n';
  strcpy(canon + 1, out);
  free(out);
  return canon;
}

/* Every line of a log file parsed as JSON (the test fails on a line that
 * is not an object with time, level and event), as an array. */
static json_t *log_lines(const char *path) {
  char *log = tu_read(path, NULL), *line, *save = NULL;
  json_t *all = json_array();
  for(line = strtok_r(log, "\n", &save); line;
      line = strtok_r(NULL, "\n", &save)) {
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if(!j)
      printf("not JSON: %.200s\n", line);
    assert_true(json_is_object(j));
    assert_true(json_is_string(json_object_get(j, "time")));
    assert_true(json_is_string(json_object_get(j, "level")));
    assert_true(json_is_string(json_object_get(j, "event")));
    json_array_append_new(all, j);
  }
  free(log);
  return all;
}

/* No personal-data value of `delivery` occurs in text. */
static void no_personal_data(const char *text, const char *delivery) {
  char *pd[512], *buf;
  size_t len, npd, j;
  buf = tu_read(delivery, &len);
  npd = tu_collect_pd(buf, len, pd, 512);
  assert_true(npd > 5);
  for(j = 0; j < npd; j++) {
    if(strstr(text, pd[j]))
      printf("personal data of %s: %s\n", delivery, pd[j]);
    assert_null(strstr(text, pd[j]));
    free(pd[j]);
  }
  free(buf);
}

static void operations_end_to_end(void **state) {
  char cmd[8192], path[600], *body = NULL;
  int stub_port = 0, port = 0, i, code, st;
  (void)state;
  /* the CBS stub: every batch gets 403 until the plan is cleared */
  snprintf(cmd, sizeof(cmd),
           "exec '%s' --listen 127.0.0.1:0 --cert %s/pki/server-chain.pem "
           "--key %s/pki/server.key --client-ca %s/pki/root.pem --trust "
           "%s/pki/root.pem --schema-dir '%s' --record-dir %s/records "
           "--port-file %s/stub.port --client-id w --client-secret " SECRET
           " --quiet --plan %s/plan.json >%s/stub.log 2>&1",
           CBS_STUB_BIN, dir, dir, dir, dir, SCHEMA_DIR, dir, dir, dir, dir);
  snprintf(path, sizeof(path), "%s/plan.json", dir);
  {
    FILE *f = fopen(path, "w");
    fputs("{\"batch\":[", f);
    for(i = 0; i < 200; i++)
      fprintf(f,
              "%s{\"status\":403,\"fsc_error_code\":"
              "\"ERROR_CODE_WRONG_GROUP_ID_IN_TOKEN\"}",
              i ? "," : "");
    fputs("]}", f);
    fclose(f);
  }
  stub = spawn(cmd);
  snprintf(path, sizeof(path), "%s/stub.port", dir);
  for(i = 0; i < POLLS && !(stub_port = read_int_file(path)); i++)
    usleep(100000);
  assert_true(stub_port > 0);

  snprintf(path, sizeof(path), "%s/worker.conf", dir);
  {
    FILE *f = fopen(path, "w");
    fprintf(f,
            "kafka.bootstrap.servers = embedded\n"
            "cbs.url = https://127.0.0.1:%d/gegevens\n"
            "cbs.token_url = https://127.0.0.1:%d/token\n"
            "cbs.client_id = w\n"
            "cbs.client_secret = " SECRET "\n"
            "cbs.ca = %s/pki/root.pem\n"
            "cbs.cert = %s/pki/transport-chain.pem\n"
            "cbs.key = %s/pki/transport.key\n"
            "sign.cert = %s/pki/signing-chain.pem\n"
            "sign.key = %s/pki/signing-enc.key\n"
            "sign.key_passphrase = " PASSPHRASE "\n"
            "rules.profile = spec\n"
            "cbs.config_fault_threshold = 2\n"
            "retry.max_ms = 200\n"
            "retry.base_ms = 20\n"
            "admin.listen = 127.0.0.1:0\n"
            "log.format = json\n"
            "log.level = debug\n",
            stub_port, stub_port, dir, dir, dir, dir, dir);
    fclose(f);
  }
  /* The worker runs until the test has seen what it needs and stops it
   * (SIGTERM: --until-idle still prints its summary). Its idle exit is
   * only a backstop for a test that died: with a fixed idle window the
   * whole stall, clear and /metrics sequence had to fit in 3 s. */
  snprintf(cmd, sizeof(cmd), "%s", path);
  port = start_run(cmd, "worker", DELIVERY1, DELIVERY2, path, sizeof(path));
  assert_int_equal(http_get(port, "/healthz", &body), 200);
  free(body);

  /* the second 403 in a row stalls the worker: not ready */
  for(i = 0; i < POLLS; i++) {
    code = http_get(port, "/readyz", &body);
    if(code == 503 && strstr(body, "configuration fault"))
      break;
    free(body);
    body = NULL;
    usleep(100000);
  }
  assert_int_equal(code, 503);
  assert_non_null(strstr(body, "configuration fault"));
  free(body);
  body = scrape(port);
  assert_int_equal(metric(body, "ddas_ready"), 0);
  assert_true(metric(body, "ddas_paused_partitions") > 0);
  free(body);

  /* the fault clears: ready again */
  snprintf(cmd, sizeof(cmd),
           "curl -s --max-time 5 --cacert %s/pki/root.pem --cert "
           "%s/pki/transport-chain.pem --key %s/pki/transport.key -X POST "
           "-H 'Content-Type: application/json' --data '{\"batch\":[]}' "
           "https://127.0.0.1:%d/_plan",
           dir, dir, dir, stub_port);
  assert_int_equal(tu_run(cmd, NULL), 0);
  for(i = 0; i < POLLS; i++) {
    code = http_get(port, "/readyz", &body);
    free(body);
    body = NULL;
    if(code == 200)
      break;
    usleep(100000);
  }
  assert_int_equal(code, 200);

  /* metrics: names, types, and counters matching the run */
  body = scrape(port);
  {
    static const char *const names[] = {
        "ddas_build_info gauge",
        "ddas_messages_consumed_total counter",
        "ddas_records_consumed_total counter",
        "ddas_records_accepted_total counter",
        "ddas_cbs_responses_total counter",
        "ddas_cbs_sent_bytes_total counter",
        "ddas_kafka_consumed_bytes_total counter",
        "ddas_kafka_produced_bytes_total counter",
        "ddas_kafka_produce_errors_total counter",
        "ddas_rejections_total counter",
        "ddas_warnings_total counter",
        "ddas_normalisations_total counter",
        "ddas_batches_built_total counter",
        "ddas_batches_forwarded_total counter",
        "ddas_batches_parked_total counter",
        "ddas_batches_replayed_total counter",
        "ddas_cbs_retries_total counter",
        "ddas_cbs_request_duration_seconds histogram",
        "ddas_token_refreshes_total counter",
        "ddas_inflight_bytes gauge",
        "ddas_paused_partitions gauge",
        "ddas_consumer_lag gauge",
        "ddas_last_forward_timestamp_seconds gauge",
        "ddas_ready gauge"};
    size_t k;
    for(k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
      char t[200];
      snprintf(t, sizeof(t), "# TYPE %s", names[k]);
      if(!strstr(body, t))
        printf("missing: %s\n", t);
      assert_non_null(strstr(body, t));
    }
  }
  assert_int_equal(metric(body, "ddas_ready"), 1);
  assert_int_equal(metric(body, "ddas_messages_consumed_total"), 2);
  assert_int_equal(metric(body, "ddas_records_accepted_total{kind=\"shv\"}"),
                   15);
  /* CBS's answers by status: the 403s of the stall, then 201 Created */
  assert_true(metric(body, "ddas_cbs_responses_total{code=\"403\"}") >= 2);
  assert_true(metric(body, "ddas_cbs_responses_total{code=\"201\"}") >= 1);
  assert_true(metric(body, "ddas_cbs_sent_bytes_total") > 0);
  assert_true(metric(body, "ddas_kafka_produced_bytes_total") > 0);
  assert_int_equal(metric(body, "ddas_kafka_produce_errors_total"), 0);
  /* first batch parked (below the threshold), second forwarded after the
   * stall */
  assert_int_equal(metric(body, "ddas_batches_built_total"), 2);
  assert_int_equal(metric(body, "ddas_batches_parked_total"), 1);
  assert_int_equal(metric(body, "ddas_batches_forwarded_total"), 1);
  assert_true(metric(body, "ddas_token_refreshes_total") >= 1);
  assert_true(metric(body, "ddas_cbs_request_duration_seconds_count") >= 3);
  assert_true(metric(body, "ddas_last_forward_timestamp_seconds") > 0);
  assert_non_null(strstr(body, "ddas_normalisations_total{id=\"N6\"} 8"));
  /* no label carries anything but fixed ids and partition numbers */
  assert_null(strstr(body, "delivery"));
  free(body);

  stop_worker();
  snprintf(path, sizeof(path), "%s/worker.out", dir);
  body = tu_read(path, NULL);
  assert_non_null(strstr(body, "batches forwarded: 1, parked: 1"));
  free(body);
  kill(stub, SIGTERM);
  waitpid(stub, &st, 0);
  stub = -1;

  /* every log line is JSON; no secret, no token, no personal data */
  {
    char *log;
    size_t len, lines = 0;
    json_t *all;
    snprintf(path, sizeof(path), "%s/worker.log", dir);
    log = tu_read(path, &len);
    assert_null(strstr(log, SECRET));
    assert_null(strstr(log, PASSPHRASE));
    assert_null(strstr(log, "Bearer"));
    no_personal_data(log, DELIVERY1);
    no_personal_data(log, DELIVERY2);
    free(log);
    log = NULL;
    lines = json_array_size(all = log_lines(path));
    assert_true(lines >= 10);
    json_decref(all);
  }
}

/* ---- the admin endpoint, metrics and the log stream ---------------------- */

/* Writes DIR/NAME.conf: a worker with an outbox instead of CBS, the admin
 * endpoint on any port, and `extra` lines. */
static void write_conf(const char *name, const char *extra) {
  char path[600];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "cbs.url = file://%s/outbox-%s\n"
          "sign.cert = %s/pki/signing-chain.pem\n"
          "sign.key = %s/pki/signing-enc.key\n"
          "sign.key_passphrase = " PASSPHRASE "\n"
          "admin.listen = 127.0.0.1:0\n"
          "%s",
          dir, name, dir, dir, extra);
  fclose(f);
  assert_int_equal(tu_runf(NULL, "mkdir -p '%s/outbox-%s'", dir, name), 0);
}

/* Milliseconds from connecting to the end of the answer of a GET of path
 * on a new connection; *status gets the HTTP status (0: none). */
static double timed_get(int port, const char *path, int *status) {
  struct sockaddr_in sa;
  struct timespec t0, t1;
  char req[200], resp[512];
  ssize_t got, used = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *status = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  snprintf(req, sizeof(req),
           "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  while(used < (ssize_t)sizeof(resp) - 1 &&
        (got = read(fd, resp + used, sizeof(resp) - 1 - (size_t)used)) > 0)
    used += got;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  close(fd);
  resp[used] = '\0';
  if(!strncmp(resp, "HTTP/1.1 ", 9))
    *status = atoi(resp + 9);
  return (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
         (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* A connection that sends nothing (or half a request line) and stays. */
static int idle_connection(int port, const char *partial) {
  int fd = tu_connect_loopback(port);
  assert_true(fd >= 0);
  if(partial)
    assert_int_equal(write(fd, partial, strlen(partial)),
                     (ssize_t)strlen(partial));
  return fd;
}

/* The first log line (a parsed JSON object in `lines`) with this event. */
static json_t *find_event(json_t *lines, const char *event) {
  size_t i;
  json_t *j;
  json_array_foreach(lines, i, j) {
    if(json_is_string(json_object_get(j, "event")) &&
       !strcmp(json_string_value(json_object_get(j, "event")), event))
      return j;
  }
  return NULL;
}

/* Polls /metrics until series `name` has the value `want` (or the time is
 * up); returns the last scrape. */
static char *scrape_until(int port, const char *name, long want) {
  char *m = NULL;
  int i;
  for(i = 0; i < POLLS; i++) {
    free(m);
    m = scrape(port);
    if(metric(m, name) == want)
      break;
    usleep(100000);
  }
  return m;
}

/* The admin endpoint (issue 12): with 10 idle connections and a stuck
 * half request open, /healthz still answers within 100 ms (the old
 * endpoint served one connection at a time and waited 2 s on each: 20 s);
 * HEAD and query strings work, other methods get 405 with Allow. Metrics:
 * records by kind (VS vroegsignalen are not trajecten), messages apart
 * from records, no bytes in flight once idle, lag per topic and
 * partition, latency buckets up to cbs.timeout_ms, the build. Log lines:
 * numbers are JSON numbers and the assignment names its partitions. */
static void admin_endpoint_and_metrics(void **state) {
  char cmd[2048], path[600], *m, *body = NULL;
  int port = 0, i, fds[11], status;
  double ms;
  json_t *lines, *j;
  (void)state;
  write_conf("admin", "kafka.bootstrap.servers = embedded\n"
                      "cbs.timeout_ms = 300000\n"
                      "log.level = debug\n");
  snprintf(cmd, sizeof(cmd), "%s/admin.conf", dir);
  port = start_run(cmd, "admin", DELIVERY1, DELIVERY_VS, path, sizeof(path));

  for(i = 0; i < 10; i++)
    fds[i] = idle_connection(port, NULL);
  fds[10] = idle_connection(port, "GET /heal");
  usleep(200000);
  ms = timed_get(port, "/healthz", &status);
  printf("GET /healthz with 11 idle connections: %.1f ms\n", ms);
  assert_int_equal(status, 200);
  assert_true(ms < 100.0);
  for(i = 0; i < 11; i++)
    close(fds[i]);

  assert_int_equal(http_get(port, "/metrics?x=1", &body), 200);
  assert_non_null(strstr(body, "# TYPE ddas_ready gauge"));
  free(body);
  assert_int_equal(tu_runf(&body,
                           "curl -s -I --max-time 5 "
                           "http://127.0.0.1:%d/healthz",
                           port),
                   0);
  assert_non_null(strstr(body, "HTTP/1.1 200"));
  free(body);
  assert_int_equal(tu_runf(&body,
                           "curl -s -i -X POST --max-time 5 "
                           "http://127.0.0.1:%d/healthz",
                           port),
                   0);
  assert_non_null(strstr(body, "HTTP/1.1 405"));
  assert_non_null(strstr(body, "Allow: GET, HEAD"));
  free(body);
  assert_int_equal(http_get(port, "/nothing", &body), 404);
  free(body);

  /* both deliveries have an outcome: the figures, and nothing in flight */
  m = scrape_until(port, "ddas_deliveries_processed_total", 2);
  assert_int_equal(metric(m, "ddas_deliveries_processed_total"), 2);
  assert_int_equal(metric(m, "ddas_messages_consumed_total"), 2);
  assert_true(metric(m, "ddas_kafka_consumed_bytes_total") > 1000);
  assert_int_equal(metric(m, "ddas_records_consumed_total{kind=\"shv\"}"),
                   metric(m, "ddas_records_accepted_total{kind=\"shv\"}") +
                       metric(m, "ddas_records_rejected_total{kind=\"shv\"}"));
  assert_true(metric(m, "ddas_records_consumed_total{kind=\"shv\"}") >= 10);
  assert_true(metric(m, "ddas_records_consumed_total{kind=\"vs\"}") >= 1);
  assert_int_equal(metric(m, "ddas_records_consumed_total{kind=\"vs\"}"),
                   metric(m, "ddas_records_accepted_total{kind=\"vs\"}") +
                       metric(m, "ddas_records_rejected_total{kind=\"vs\"}"));
  assert_int_equal(metric(m, "ddas_inflight_bytes"), 0);
  no_personal_data(m, DELIVERY1);
  no_personal_data(m, DELIVERY_VS);
  assert_int_equal(metric(m, "ddas_kafka_reachable"), 1);
  assert_non_null(strstr(m, "\nddas_build_info{jansson=\""));
  /* buckets up to cbs.timeout_ms (300 s), not beyond */
  assert_true(
      metric(m, "ddas_cbs_request_duration_seconds_bucket{le=\"300\"}") >= 0);
  assert_null(strstr(m, "le=\"600\""));
  free(m);
  /* lag is refreshed every 5 s: by topic and partition */
  for(i = 0; i < POLLS; i++) {
    m = scrape(port);
    if(strstr(
           m,
           "\nddas_consumer_lag{partition=\"0\",topic=\"ddas.deliveries\"} "))
      break;
    free(m);
    m = NULL;
    usleep(100000);
  }
  assert_non_null(m);
  free(m);

  stop_worker();

  body = tu_read(path, NULL);
  no_personal_data(body, DELIVERY1);
  no_personal_data(body, DELIVERY_VS);
  free(body);
  lines = log_lines(path);
  j = find_event(lines, "admin endpoint listening");
  assert_true(j && json_is_integer(json_object_get(j, "port")));
  j = find_event(lines, "delivery processed");
  assert_true(j && json_is_integer(json_object_get(j, "records")) &&
              json_is_integer(json_object_get(j, "accepted")));
  j = find_event(lines, "partitions assigned");
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "topic")),
                      "ddas.deliveries");
  assert_int_equal(json_array_size(json_object_get(j, "partitions")), 4);
  assert_true(
      json_is_integer(json_array_get(json_object_get(j, "partitions"), 0)));
  json_decref(lines);
}

/* Every broker down (issue 12): run reports it as its own error
 * (kafka.unreachable), /readyz says "Kafka unreachable" (it said "no
 * partitions assigned"), and librdkafka's lines are JSON lines of the same
 * stream (they were raw "%3|...|FAIL|" lines mixed into it). */
static void kafka_unreachable(void **state) {
  char cmd[2048], path[600], *m, *body = NULL;
  int port = 0, i, code = 0;
  json_t *lines, *j;
  size_t k;
  (void)state;
  write_conf("down", "kafka.bootstrap.servers = 127.0.0.1:1\n");
  snprintf(cmd, sizeof(cmd), "%s/down.conf", dir);
  port = start_run(cmd, "down", NULL, NULL, path, sizeof(path));
  for(i = 0; i < POLLS; i++) {
    free(body);
    body = NULL;
    code = http_get(port, "/readyz", &body);
    if(code == 503 && body && strstr(body, "Kafka unreachable"))
      break;
    usleep(100000);
  }
  if(body)
    printf("/readyz: %d %s", code, body);
  assert_int_equal(code, 503);
  assert_non_null(body);
  assert_non_null(strstr(body, "Kafka unreachable"));
  free(body);
  m = scrape(port);
  assert_int_equal(metric(m, "ddas_kafka_reachable"), 0);
  assert_int_equal(metric(m, "ddas_ready"), 0);
  free(m);
  stop_worker();

  lines = log_lines(path);
  j = find_event(lines, "kafka.unreachable");
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
  assert_string_equal(json_string_value(json_object_get(j, "bootstrap")),
                      "127.0.0.1:1");
  j = find_event(lines, "librdkafka");
  assert_non_null(j);
  for(k = 0; k < 3; k++)
    assert_true(json_is_string(json_object_get(
        j, (const char *[]){"facility", "client", "message"}[k])));
  json_decref(lines);
}

/* `submit` against no broker (issue 12): it hung with raw librdkafka lines;
 * now it gives up after --timeout with a message that says why, and its
 * log lines have the same keys in JSON and in text. */
static void submit_gives_up(void **state) {
  char path[600], *out = NULL, *text;
  json_t *lines, *j;
  const char *key;
  json_t *v;
  int rc;
  time_t t0;
  (void)state;
  write_conf("submit-json", "kafka.bootstrap.servers = 127.0.0.1:1\n");
  write_conf("submit-text", "kafka.bootstrap.servers = 127.0.0.1:1\n"
                            "log.format = text\n");
  t0 = time(NULL);
  rc = tu_runf(&out,
               "'%s' submit -c %s/submit-json.conf --timeout 2 %s "
               "2>%s/submit-json.log",
               WORKER_BIN, dir, DELIVERY1, dir);
  assert_int_equal(rc, 1);
  assert_true(time(NULL) - t0 < 30);
  free(out);
  snprintf(path, sizeof(path), "%s/submit-json.log", dir);
  text = tu_read(path, NULL);
  assert_non_null(strstr(text, "ddas-worker submit: gave up after 2 s"));
  assert_non_null(strstr(text, "no broker answered at 127.0.0.1:1"));
  assert_null(strstr(text, "%3|"));
  free(text);
  /* the command's verdict is the one line that is not a log line */
  assert_int_equal(
      tu_runf(NULL, "sed -i '/^ddas-worker submit: /d' '%s'", path), 0);
  lines = log_lines(path);
  j = find_event(lines, "kafka.unreachable");
  assert_non_null(j);

  rc = tu_runf(NULL,
               "'%s' submit -c %s/submit-text.conf --timeout 2 %s "
               "2>%s/submit-text.log",
               WORKER_BIN, dir, DELIVERY1, dir);
  assert_int_equal(rc, 1);
  assert_int_equal(
      tu_runf(&out, "grep -m1 ' kafka.unreachable ' '%s/submit-text.log'", dir),
      0);
  /* every key of the JSON line, as key= in the text line */
  json_object_foreach(j, key, v) {
    char want[80];
    if(!strcmp(key, "time") || !strcmp(key, "level") || !strcmp(key, "event"))
      continue;
    snprintf(want, sizeof(want), " %s=", key);
    if(!strstr(out, want))
      printf("text line lacks %s: %s", want, out);
    assert_non_null(strstr(out, want));
  }
  assert_non_null(strstr(out, " bootstrap=127.0.0.1:1 "));
  free(out);
  json_decref(lines);
}

static int setup(void **state) {
  (void)state;
  if(!mkdtemp(dir))
    return -1;
  return tu_make_pki(dir, PASSPHRASE);
}

/* Kills a process the test left running (it failed before stopping it). */
static void reap(pid_t *pid) {
  int st;
  if(*pid > 0) {
    kill(*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    *pid = -1;
  }
}

static int teardown(void **state) {
  (void)state;
  reap(&worker);
  reap(&stub);
  return tu_runf(NULL, "rm -rf '%s'", dir) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(operations_end_to_end),
      cmocka_unit_test(admin_endpoint_and_metrics),
      cmocka_unit_test(kafka_unreachable),
      cmocka_unit_test(submit_gives_up),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
