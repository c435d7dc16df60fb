/* The forwarder's transfer engine (worker/transfer.c) against real HTTPS
 * peers on loopback: the CBS stub (HTTP/1.1, mutual TLS, OAuth2) and
 * nghttpd (HTTP/2). It checks what the sender stage of `run` relies on:
 * several batches in flight at once on one multi handle, one token request
 * for every batch that needs a token, a retry that waits as a timer without
 * holding up another batch, an abort that ends a slow request at once, a
 * wake-up from another thread, and HTTP/2 when the server offers it. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "forward.h"
#include "fwdconf.h"
#include "testutil.h"

#define SIGN_PASS "transfer sign pass"
#define SECRET "transfer-client-secret"
#define DELIVERY SOURCE_DIR "/config/examples/shv-v1.0-enkelvoudig.json"

static char dir[] = "/tmp/ddas-transfer-XXXXXX";
static char *body;
static size_t body_len;

static const char *P(const char *name) {
  static char ring[8][512];
  static unsigned next;
  char *p = ring[next++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- peers -------------------------------------------------------------- */

typedef struct {
  pid_t pid;
  int port;
} peer;

/* Starts `cmd` (a shell command that writes its port to portfile, or, for
 * a fixed port, nothing) and waits until the port answers. */
static void peer_start(peer *p, const char *cmd, const char *portfile,
                       int fixed_port) {
  p->pid = fork();
  assert_true(p->pid >= 0);
  if(p->pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  if(portfile) {
    p->port = tu_wait_port_file(portfile, 10000);
  } else {
    int i;
    char *out = NULL;
    p->port = fixed_port;
    for(i = 0; i < 100; i++) {
      if(tu_runf(&out, "bash -c '</dev/tcp/127.0.0.1/%d' 2>/dev/null",
                 fixed_port) == 0)
        break;
      free(out);
      out = NULL;
      usleep(100000);
    }
    free(out);
    if(i == 100)
      p->port = -1;
  }
  if(p->port <= 0)
    fail_msg("a peer did not start: %s", cmd);
}

static void peer_stop(peer *p) {
  int st;
  kill(p->pid, SIGTERM);
  waitpid(p->pid, &st, 0);
}

/* The CBS stub with extra options (e.g. --delay-ms) and a plan (or NULL). */
static void stub_start(peer *p, const char *extra, const char *plan) {
  static int n;
  char cmd[4096], portfile[512], planfile[512];
  n++;
  snprintf(portfile, sizeof(portfile), "%s/port-%d", dir, n);
  snprintf(planfile, sizeof(planfile), "%s/plan-%d.json", dir, n);
  if(plan)
    tu_write_file(planfile, plan, strlen(plan));
  snprintf(cmd, sizeof(cmd),
           "exec '%s' --listen 127.0.0.1:0 --cert %s/pki/server-chain.pem "
           "--key %s/pki/server.key --client-ca %s/pki/root.pem --trust "
           "%s/pki/root.pem --schema-dir '%s' --record-dir %s/records-%d "
           "--port-file %s --client-id worker --client-secret " SECRET
           " --quiet %s %s%s >%s/stub-%d.log 2>&1",
           CBS_STUB_BIN, dir, dir, dir, dir, SCHEMA_DIR, dir, n, portfile,
           extra ? extra : "", plan ? "--plan " : "", plan ? planfile : "", dir,
           n);
  peer_start(p, cmd, portfile, 0);
}

/* One counter of the stub's /_stats. */
static long stub_stat(const peer *p, const char *name) {
  char *out = NULL;
  json_t *j;
  long v;
  assert_int_equal(
      tu_runf(&out,
              "curl -s --max-time 10 --cacert %s --cert %s --key %s "
              "https://127.0.0.1:%d/_stats",
              P("pki/root.pem"), P("pki/transport-chain.pem"),
              P("pki/transport.key"), p->port),
      0);
  j = json_loads(out, 0, NULL);
  assert_non_null(j);
  v = (long)json_integer_value(json_object_get(j, name));
  json_decref(j);
  free(out);
  return v;
}

/* ---- the forwarder ------------------------------------------------------ */

static wk_forwarder *forwarder(wk_config *c, int port, int oauth) {
  wk_forwarder *f = NULL;
  char url[256], err[512];
  snprintf(url, sizeof(url), "https://localhost:%d/gegevens", port);
  tu_fwd_config(c, P("pki"), url, SIGN_PASS);
  if(oauth) {
    snprintf(url, sizeof(url), "https://localhost:%d/token", port);
    tu_setstr(&c->token_url, url);
    tu_setstr(&c->client_id, "worker");
    tu_setstr(&c->client_secret, SECRET);
  }
  tu_setstr(&c->log_format, "json");
  c->retry_max_attempts = 5;
  c->retry_base_ms = 50;
  c->retry_max_ms = 5000;
  c->retry_budget_ms = 30000;
  c->timeout_ms = 30000;
  if(wk_forwarder_new(c, &f, err, sizeof(err)))
    fail_msg("wk_forwarder_new: %s", err);
  return f;
}

/* Drives f until every begun batch is taken back or `ms` pass; returns the
 * number taken, and stores each one's rc by its ud (an index). */
static size_t drive_all(wk_forwarder *f, int *rcs, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  size_t taken = 0;
  while(wk_forwarder_pending(f) && now_ms() < end) {
    void *ud;
    int rc;
    wk_forwarder_drive(f, 200);
    while((rc = wk_forwarder_take(f, &ud)) != 1) {
      rcs[(intptr_t)ud] = rc;
      taken++;
    }
  }
  return taken;
}

static void batch_id(char *out, size_t cap, const char *tag, int i) {
  snprintf(out, cap, "transfer-%s-%d-%ld", tag, i, (long)getpid());
}

/* ---- cases -------------------------------------------------------------- */

/* Eight batches against a CBS that answers each after 400 ms: together
 * they take about one answer's time, not eight (a serial sender needs
 * 3.2 s), one token request serves all of them, and the next eight reuse
 * their connections. */
static void batches_in_flight_together(void **state) {
  peer p;
  wk_config c;
  wk_forwarder *f;
  wk_send_result r[8];
  int rc[8], i;
  uint64_t t0, took;
  long conns;
  wk_forward_stats st;
  (void)state;
  stub_start(&p, "--delay-ms 400", NULL);
  f = forwarder(&c, p.port, 1);
  t0 = now_ms();
  for(i = 0; i < 8; i++) {
    char id[64];
    batch_id(id, sizeof(id), "together", i);
    assert_non_null(
        wk_forwarder_begin(f, id, body, body_len, &r[i], (void *)(intptr_t)i));
  }
  assert_int_equal(drive_all(f, rc, 20000), 8);
  took = now_ms() - t0;
  for(i = 0; i < 8; i++) {
    assert_int_equal(rc[i], 0);
    assert_int_equal(r[i].outcome, DDAS_OUT_FORWARDED);
    assert_int_equal(r[i].attempts, 1);
    wk_send_result_clear(&r[i]);
  }
  if(took >= 1600)
    fail_msg("8 batches at 400 ms each took %llu ms: not in flight together",
             (unsigned long long)took);
  assert_int_equal(stub_stat(&p, "accepted"), 8);
  assert_int_equal(stub_stat(&p, "token_requests"), 1);
  /* eight more reuse the cached connections: the stub counts one new
   * connection, the /_stats request's own */
  conns = stub_stat(&p, "connections");
  for(i = 0; i < 8; i++) {
    char id[64];
    batch_id(id, sizeof(id), "reuse", i);
    assert_non_null(
        wk_forwarder_begin(f, id, body, body_len, &r[i], (void *)(intptr_t)i));
  }
  assert_int_equal(drive_all(f, rc, 20000), 8);
  for(i = 0; i < 8; i++) {
    assert_int_equal(r[i].outcome, DDAS_OUT_FORWARDED);
    wk_send_result_clear(&r[i]);
  }
  assert_int_equal(stub_stat(&p, "connections"), conns + 1);
  wk_forwarder_stats(f, &st);
  assert_int_equal(st.http2_responses, 0); /* the stub speaks HTTP/1.1 */
  wk_forwarder_free(f);
  wk_config_free(&c);
  peer_stop(&p);
}

/* A batch answered 503 with Retry-After: 2 waits two seconds as a timer;
 * a batch begun meanwhile is forwarded long before that wait ends. */
static void retry_waits_without_holding_others(void **state) {
  peer p;
  wk_config c;
  wk_forwarder *f;
  wk_send_result ra, rb;
  int rc[2] = {9, 9};
  char ida[64], idb[64];
  uint64_t t0, tb = 0, ta = 0;
  (void)state;
  stub_start(&p, NULL, "[{\"status\": 503, \"retry_after\": \"2\"}]");
  f = forwarder(&c, p.port, 1);
  batch_id(ida, sizeof(ida), "retry-a", 0);
  batch_id(idb, sizeof(idb), "retry-b", 1);
  assert_non_null(wk_forwarder_begin(f, ida, body, body_len, &ra, (void *)0));
  t0 = now_ms();
  while(ra.attempts < 1 && now_ms() - t0 < 10000)
    wk_forwarder_drive(f, 100);
  assert_int_equal(ra.attempts, 1);
  assert_int_equal(ra.http_status, 503);
  t0 = now_ms();
  assert_non_null(wk_forwarder_begin(f, idb, body, body_len, &rb, (void *)1));
  while(wk_forwarder_pending(f) && now_ms() - t0 < 15000) {
    void *ud;
    int r;
    wk_forwarder_drive(f, 100);
    while((r = wk_forwarder_take(f, &ud)) != 1) {
      rc[(intptr_t)ud] = r;
      if((intptr_t)ud == 1)
        tb = now_ms() - t0;
      else
        ta = now_ms() - t0;
    }
  }
  assert_int_equal(rc[0], 0);
  assert_int_equal(rc[1], 0);
  assert_int_equal(ra.outcome, DDAS_OUT_FORWARDED);
  assert_int_equal(rb.outcome, DDAS_OUT_FORWARDED);
  assert_int_equal(ra.attempts, 2);
  if(tb >= 1000 || ta < 1500)
    fail_msg("b forwarded after %llu ms, a after %llu ms: b must not wait "
             "for a's 2-s Retry-After",
             (unsigned long long)tb, (unsigned long long)ta);
  wk_send_result_clear(&ra);
  wk_send_result_clear(&rb);
  wk_forwarder_free(f);
  wk_config_free(&c);
  peer_stop(&p);
}

/* A failing token endpoint is each waiting batch's failed attempt; one new
 * token request after the backoff serves them all. */
static void token_failure_counts_for_each_batch(void **state) {
  peer p;
  wk_config c;
  wk_forwarder *f;
  wk_send_result r[3];
  int rc[3], i;
  (void)state;
  stub_start(&p, "--delay-ms 100", "{\"token\": [{\"status\": 500}]}");
  f = forwarder(&c, p.port, 1);
  for(i = 0; i < 3; i++) {
    char id[64];
    batch_id(id, sizeof(id), "token", i);
    assert_non_null(
        wk_forwarder_begin(f, id, body, body_len, &r[i], (void *)(intptr_t)i));
  }
  assert_int_equal(drive_all(f, rc, 20000), 3);
  for(i = 0; i < 3; i++) {
    assert_int_equal(rc[i], 0);
    assert_int_equal(r[i].outcome, DDAS_OUT_FORWARDED);
    assert_int_equal(r[i].attempts, 2);
    assert_non_null(r[i].log[0].error);
    assert_non_null(strstr(r[i].log[0].error, "token endpoint"));
    wk_send_result_clear(&r[i]);
  }
  assert_int_equal(stub_stat(&p, "token_requests"), 2);
  assert_int_equal(stub_stat(&p, "accepted"), 3);
  wk_forwarder_free(f);
  wk_config_free(&c);
  peer_stop(&p);
}

/* An aborted batch (a revoked partition) ends at once with -2, even while
 * CBS takes 20 s to answer. */
static void abort_ends_a_slow_request(void **state) {
  peer p;
  wk_config c;
  wk_forwarder *f;
  wk_send_result r;
  wk_xfer *x;
  void *ud = NULL;
  char id[64];
  uint64_t t0;
  (void)state;
  stub_start(&p, "--delay-ms 20000", NULL);
  f = forwarder(&c, p.port, 1);
  batch_id(id, sizeof(id), "abort", 0);
  x = wk_forwarder_begin(f, id, body, body_len, &r, (void *)7);
  assert_non_null(x);
  t0 = now_ms();
  while(now_ms() - t0 < 500)
    wk_forwarder_drive(f, 100);
  assert_int_equal(wk_forwarder_take(f, &ud), 1); /* still in flight */
  t0 = now_ms();
  wk_forwarder_abort(f, x);
  assert_int_equal(wk_forwarder_take(f, &ud), -2);
  assert_true(now_ms() - t0 < 200);
  assert_ptr_equal(ud, (void *)7);
  assert_int_equal(wk_forwarder_pending(f), 0);
  assert_int_not_equal(r.outcome, DDAS_OUT_FORWARDED);
  wk_send_result_clear(&r);
  wk_forwarder_free(f);
  wk_config_free(&c);
  peer_stop(&p);
}

static void *wake_later(void *arg) {
  usleep(150000);
  wk_forwarder_wakeup(arg);
  return NULL;
}

/* wk_forwarder_drive waits up to its limit, but another thread's wake-up
 * ends the wait (the consumer stage submitting a batch). */
static void wakeup_ends_the_wait(void **state) {
  wk_config c;
  wk_forwarder *f;
  pthread_t th;
  uint64_t t0, took;
  (void)state;
  f = forwarder(&c, 9, 0); /* nothing is sent */
  assert_int_equal(pthread_create(&th, NULL, wake_later, f), 0);
  t0 = now_ms();
  wk_forwarder_drive(f, 5000);
  took = now_ms() - t0;
  pthread_join(th, NULL);
  if(took < 100 || took > 2000)
    fail_msg("drive returned after %llu ms (woken after 150 ms)",
             (unsigned long long)took);
  wk_forwarder_free(f);
  wk_config_free(&c);
}

/* A server that offers HTTP/2 in ALPN (nghttpd, echoing the upload) gets
 * HTTP/2 requests; four batches go as streams. */
static void http2_when_offered(void **state) {
  peer p;
  wk_config c;
  wk_forwarder *f;
  wk_send_result r[4];
  wk_forward_stats st;
  int rc[4], i, port = 20000 + (int)(getpid() % 20000);
  char cmd[2048];
  (void)state;
  snprintf(cmd, sizeof(cmd),
           "exec nghttpd --echo-upload -a 127.0.0.1 -d %s %d %s %s "
           ">%s/nghttpd.log 2>&1",
           dir, port, P("pki/server.key"), P("pki/server-chain.pem"), dir);
  peer_start(&p, cmd, NULL, port);
  f = forwarder(&c, p.port, 0);
  for(i = 0; i < 4; i++) {
    char id[64];
    batch_id(id, sizeof(id), "h2", i);
    assert_non_null(
        wk_forwarder_begin(f, id, body, body_len, &r[i], (void *)(intptr_t)i));
  }
  assert_int_equal(drive_all(f, rc, 20000), 4);
  for(i = 0; i < 4; i++) {
    assert_int_equal(rc[i], 0);
    assert_int_equal(r[i].outcome, DDAS_OUT_FORWARDED);
    assert_int_equal(r[i].http_status, 200);
    wk_send_result_clear(&r[i]);
  }
  wk_forwarder_stats(f, &st);
  assert_int_equal(st.http2_responses, 4);
  wk_forwarder_free(f);
  wk_config_free(&c);
  peer_stop(&p);
}

/* ---- setup -------------------------------------------------------------- */

static int setup(void **state) {
  char *out = NULL;
  (void)state;
  if(!mkdtemp(dir))
    return -1;
  if(tu_runf(&out,
             "mkdir %s/pki && DDAS_PKI_PASSPHRASE='" SIGN_PASS
             "' bash %s/tests/pki/make-pki %s/pki >/dev/null 2>&1",
             dir, SOURCE_DIR, dir) != 0) {
    fprintf(stderr, "make-pki failed\n");
    free(out);
    return -1;
  }
  free(out);
  body = tu_read(DELIVERY, &body_len);
  /* nghttpd serves files of this directory: the batch path must exist */
  tu_write_file(P("gegevens"), "{}", 2);
  return body ? 0 : -1;
}

static int teardown(void **state) {
  char *out = NULL;
  (void)state;
  free(body);
  tu_runf(&out, "rm -rf %s", dir);
  free(out);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(batches_in_flight_together),
      cmocka_unit_test(retry_waits_without_holding_others),
      cmocka_unit_test(token_failure_counts_for_each_batch),
      cmocka_unit_test(abort_ends_a_slow_request),
      cmocka_unit_test(wakeup_ends_the_wait),
      cmocka_unit_test(http2_when_offered)};
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, setup, teardown);
}
