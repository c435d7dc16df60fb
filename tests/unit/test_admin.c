/* Operations, end to end: a worker (embedded Kafka) against the CBS stub
 * over HTTPS. /readyz turns not ready under a configuration fault and ready
 * again after it clears; /metrics has the documented names and types and
 * its counters match the run; every log line is JSON and holds no secret
 * and no personal-data value. */
#define _DEFAULT_SOURCE /* usleep */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

#define SECRET "adm1n-client-secret-Z9"
#define PASSPHRASE "adm1n-pass-K7"
#define DELIVERY1 SHARED_DIR "/examples/shv-v1.0-meervoudig.json"
#define DELIVERY2 SHARED_DIR "/examples/shv-v1.0-samenloop-deel1.json"

static char dir[] = "/tmp/ddas-admin-XXXXXX";
/* The stub and the worker, stopped by teardown when the test failed before
 * stopping them itself. */
static pid_t stub = -1, worker = -1;

/* The polling loops below wait for an observable condition up to a
 * generous deadline (POLLS x 100 ms plus the time of each probe), never
 * for a fixed window: a loaded 2-core CI machine under ASan is slow. */
#define POLLS 600

static pid_t spawn(const char *cmd) {
  pid_t pid = fork();
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
  if(p && (p = strstr(p, "\"port\":")))
    port = atoi(p + strlen("\"port\":")); /* a number, not a string */
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
  snprintf(cmd, sizeof(cmd),
           "exec '%s' run -c %s --until-idle --idle-ms 120000 --submit %s "
           "--submit %s >%s/worker.out 2>%s/worker.log",
           WORKER_BIN, path, DELIVERY1, DELIVERY2, dir, dir);
  worker = spawn(cmd);
  snprintf(path, sizeof(path), "%s/worker.log", dir);
  for(i = 0; i < POLLS && !(port = admin_port(path)); i++)
    usleep(100000);
  assert_true(port > 0);
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

  kill(worker, SIGTERM);
  assert_int_equal(waitpid(worker, &st, 0), worker);
  worker = -1;
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  snprintf(path, sizeof(path), "%s/worker.out", dir);
  body = tu_read(path, NULL);
  assert_non_null(strstr(body, "batches forwarded: 1, parked: 1"));
  free(body);
  kill(stub, SIGTERM);
  waitpid(stub, &st, 0);
  stub = -1;

  /* every log line is JSON; no secret, no token, no personal data */
  {
    char *log, *line, *save = NULL, *pd[512], *buf;
    size_t len, npd, k, lines = 0;
    snprintf(path, sizeof(path), "%s/worker.log", dir);
    log = tu_read(path, &len);
    assert_null(strstr(log, SECRET));
    assert_null(strstr(log, PASSPHRASE));
    assert_null(strstr(log, "Bearer"));
    for(k = 0; k < 2; k++) {
      size_t j;
      buf = tu_read(k ? DELIVERY2 : DELIVERY1, &len);
      npd = tu_collect_pd(buf, len, pd, 512);
      assert_true(npd > 5);
      for(j = 0; j < npd; j++) {
        assert_null(strstr(log, pd[j]));
        free(pd[j]);
      }
      free(buf);
    }
    for(line = strtok_r(log, "\n", &save); line;
        line = strtok_r(NULL, "\n", &save)) {
      json_error_t je;
      json_t *j = json_loads(line, 0, &je);
      if(!j)
        printf("not JSON: %.200s\n", line);
      assert_non_null(j);
      assert_non_null(json_object_get(j, "time"));
      assert_non_null(json_object_get(j, "level"));
      json_decref(j);
      lines++;
    }
    assert_true(lines >= 10);
    free(log);
  }
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
  const struct CMUnitTest tests[] = {cmocka_unit_test(operations_end_to_end)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
