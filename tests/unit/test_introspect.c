/* Token introspection (RFC 7662): the core's parsing, verdicts and cache
 * times (ddas/introspect.h), and the worker's client (worker/introspect.h)
 * against the CBS stub's POST /introspect over mutual TLS: active,
 * inactive, expired, wrong scope, wrong client secret, the endpoint
 * answering 503 or down, cache hits counted at the stub, a bounded cache,
 * concurrent callers, and no token in the log. */
#define _DEFAULT_SOURCE
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ddas/introspect.h"
#include "introspect.h"
#include "testutil.h"

#define SECRET "intro-s3cret-QqQ"
#define TOK_OK "tokOK-aaaaaaaaaaaaaaaaaaaa"
#define TOK_EXP "tokEXP-bbbbbbbbbbbbbbbbbbbb"
#define TOK_SCOPE "tokSCOPE-cccccccccccccccc"
#define TOK_NOEXP "tokNOEXP-dddddddddddddddd"

static char dir[] = "/tmp/ddas-introspect-XXXXXX";
static char logpath[300];

/* ---- core -----------------------------------------------------------------
 */

static ddas_result parse(const char *body, int64_t now, const char *scope,
                         ddas_introspection *i) {
  char err[200] = "";
  ddas_result r = ddas_introspect_parse(body, strlen(body), now, scope, i, err,
                                        sizeof(err));
  if(r != DDAS_OK)
    assert_true(err[0] != '\0');
  return r;
}

static void core_parsing(void **state) {
  ddas_introspection i;
  char big[DDAS_INTROSPECT_MAX_BODY + 10];
  (void)state;
  assert_int_equal(parse("{\"active\":true,\"exp\":200,\"scope\":\"a ddas.read "
                         "b\",\"client_id\":\"cbs\"}",
                         100, "ddas.read", &i),
                   DDAS_OK);
  assert_int_equal(i.active, 1);
  assert_int_equal(i.expired, 0);
  assert_int_equal(i.exp, 200);
  assert_int_equal(i.scope_ok, 1);
  assert_string_equal(i.client_id, "cbs");
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_OK);
  /* exp == now is expired */
  assert_int_equal(parse("{\"active\":true,\"exp\":100}", 100, NULL, &i),
                   DDAS_OK);
  assert_int_equal(i.expired, 1);
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_EXPIRED);
  assert_int_equal(parse("{\"active\":true,\"exp\":100.9}", 100, NULL, &i),
                   DDAS_OK);
  assert_int_equal(i.exp, 100);
  /* scope: whole words only; none given while one is required */
  assert_int_equal(parse("{\"active\":true,\"scope\":\"ddas.readx ddas\"}", 1,
                         "ddas.read", &i),
                   DDAS_OK);
  assert_int_equal(i.scope_ok, 0);
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_INVALID);
  assert_int_equal(parse("{\"active\":true}", 1, "ddas.read", &i), DDAS_OK);
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_INVALID);
  assert_int_equal(parse("{\"active\":true}", 1, "", &i), DDAS_OK);
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_OK);
  /* inactive: nothing else is read, even malformed members */
  assert_int_equal(parse("{\"active\":false,\"exp\":\"x\",\"client_id\":\"c\"}",
                         1, NULL, &i),
                   DDAS_OK);
  assert_int_equal(i.active, 0);
  assert_string_equal(i.client_id, "");
  assert_int_equal(ddas_introspect_verdict(&i), DDAS_TOKEN_INVALID);
  /* malformed answers */
  assert_int_equal(parse("{}", 1, NULL, &i), DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":\"true\"}", 1, NULL, &i),
                   DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":1}", 1, NULL, &i), DDAS_ERR_SYNTAX);
  assert_int_equal(parse("[true]", 1, NULL, &i), DDAS_ERR_SYNTAX);
  assert_int_equal(parse("", 1, NULL, &i), DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":true,\"active\":false}", 1, NULL, &i),
                   DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":true,\"exp\":\"200\"}", 1, NULL, &i),
                   DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":true,\"exp\":-1}", 1, NULL, &i),
                   DDAS_ERR_SYNTAX);
  assert_int_equal(parse("{\"active\":true,\"scope\":[\"a\"]}", 1, NULL, &i),
                   DDAS_ERR_SYNTAX);
  assert_int_equal(i.active, 0); /* zeroed on failure */
  memset(big, ' ', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  memcpy(big, "{\"active\":true}", 15);
  assert_int_equal(parse(big, 1, NULL, &i), DDAS_ERR_LIMIT);
  /* a client_id over the limit is left out */
  memset(big, 0, sizeof(big));
  strcpy(big, "{\"active\":true,\"client_id\":\"");
  memset(big + strlen(big), 'c', DDAS_INTROSPECT_MAX_CLIENT_ID + 1);
  strcat(big, "\"}");
  assert_int_equal(parse(big, 1, NULL, &i), DDAS_OK);
  assert_string_equal(i.client_id, "");
  assert_int_equal(ddas_introspect_parse(NULL, 0, 1, NULL, NULL, NULL, 0),
                   DDAS_ERR_ARG);
}

static void core_cache_times(void **state) {
  ddas_introspection i;
  (void)state;
  memset(&i, 0, sizeof(i));
  i.active = i.scope_ok = 1;
  i.exp = 1030;
  assert_int_equal(ddas_introspect_cache_seconds(DDAS_TOKEN_OK, &i, 1000, 60),
                   30);
  assert_int_equal(ddas_introspect_cache_seconds(DDAS_TOKEN_OK, &i, 1000, 20),
                   20);
  i.exp = 0;
  assert_int_equal(ddas_introspect_cache_seconds(DDAS_TOKEN_OK, &i, 1000, 60),
                   60);
  i.exp = 900;
  assert_int_equal(ddas_introspect_cache_seconds(DDAS_TOKEN_OK, &i, 1000, 60),
                   0);
  assert_int_equal(
      ddas_introspect_cache_seconds(DDAS_TOKEN_INVALID, &i, 1000, 60),
      DDAS_INTROSPECT_NEGATIVE_TTL);
  assert_int_equal(
      ddas_introspect_cache_seconds(DDAS_TOKEN_EXPIRED, &i, 1000, 3), 3);
  assert_int_equal(
      ddas_introspect_cache_seconds(DDAS_TOKEN_UNAVAILABLE, &i, 1000, 60), 0);
  assert_int_equal(
      ddas_introspect_cache_seconds(DDAS_TOKEN_MISSING, &i, 1000, 60), 0);
  assert_int_equal(ddas_introspect_cache_seconds(DDAS_TOKEN_OK, &i, 1000, 0),
                   0);
}

static void core_bearer_and_retry_after(void **state) {
  size_t n = 0;
  const char *t;
  (void)state;
  t = ddas_bearer_token("Bearer abc.DEF-_~+/==", &n);
  assert_non_null(t);
  assert_int_equal(n, strlen("abc.DEF-_~+/=="));
  assert_memory_equal(t, "abc.DEF-_~+/==", n);
  t = ddas_bearer_token("bearer   tok  ", &n);
  assert_non_null(t);
  assert_int_equal(n, 3);
  assert_null(ddas_bearer_token(NULL, &n));
  assert_null(ddas_bearer_token("Basic dXNlcjpwdw==", &n));
  assert_null(ddas_bearer_token("Bearer", &n));
  assert_null(ddas_bearer_token("Bearer ", &n));
  assert_null(ddas_bearer_token("Bearertok", &n));
  assert_null(ddas_bearer_token("Bearer a b", &n));
  assert_null(ddas_bearer_token("Bearer a=b", &n));
  assert_null(ddas_bearer_token("Bearer a\"b", &n));
  assert_int_equal(ddas_introspect_retry_after("7", 0), 7);
  assert_int_equal(ddas_introspect_retry_after("0", 0), 5);
  assert_int_equal(ddas_introspect_retry_after("301", 0), 5);
  assert_int_equal(ddas_introspect_retry_after("soon", 0), 5);
  assert_int_equal(ddas_introspect_retry_after(NULL, 0), 5);
}

/* ---- the client against the stub ------------------------------------------
 */

typedef struct {
  pid_t pid;
  int port;
} stub;

static void stub_start(stub *s, const char *extra) {
  static int n;
  char portfile[300], *out = NULL;
  long now = (long)time(NULL);
  n++;
  snprintf(portfile, sizeof(portfile), "%s/port-%d", dir, n);
  assert_int_equal(
      tu_runf(&out,
              "cd %s && '%s' --listen 127.0.0.1:0 --cert pki/server-chain.pem "
              "--key pki/server.key --client-ca pki/root.pem --trust "
              "pki/root.pem --schema-dir '%s' --record-dir records "
              "--port-file %s --client-id intro --client-secret " SECRET
              " --introspect '" TOK_OK "=active:%ld:a ddas.read," TOK_EXP
              "=active:%ld:ddas.read," TOK_SCOPE
              "=active:%ld:ddas.write," TOK_NOEXP
              "=active::ddas.read' %s >stub-%d.log 2>&1 & echo $!",
              dir, CBS_STUB_BIN, SCHEMA_DIR, portfile, now + 3600, now - 10,
              now + 3600, extra, n),
      0);
  s->pid = (pid_t)atol(out);
  free(out);
  s->port = tu_wait_port_file(portfile, 10000);
  if(s->port <= 0)
    fail_msg("the stub did not start (%s/stub-%d.log)", dir, n);
}

static void stub_stop(stub *s) {
  int i;
  kill(s->pid, SIGTERM);
  for(i = 0; i < 200 && kill(s->pid, 0) == 0; i++)
    usleep(25000);
  if(kill(s->pid, 0) == 0)
    kill(s->pid, SIGKILL);
}

/* The stub's count of POST /introspect requests (GET /_stats). */
static long stub_introspections(const stub *s) {
  char url[100], ca[300], cert[300], key[300];
  tu_sink body = {"", 0};
  CURL *h = curl_easy_init();
  json_t *j;
  long v;
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/_stats", s->port);
  snprintf(ca, sizeof(ca), "%s/pki/root.pem", dir);
  snprintf(cert, sizeof(cert), "%s/pki/transport-chain.pem", dir);
  snprintf(key, sizeof(key), "%s/pki/transport.key", dir);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
  curl_easy_setopt(h, CURLOPT_SSLKEY, key);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tu_sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  curl_easy_cleanup(h);
  j = json_loads(body.buf, 0, NULL);
  assert_non_null(j);
  v = (long)json_integer_value(json_object_get(j, "introspect_requests"));
  json_decref(j);
  return v;
}

static wk_introspect *client(int port, const char *secret, size_t cache_max) {
  char url[100], ca[300], cert[300], key[300], err[300];
  wk_introspect_options o;
  wk_introspect *c = NULL;
  memset(&o, 0, sizeof(o));
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/introspect", port);
  snprintf(ca, sizeof(ca), "%s/pki/root.pem", dir);
  snprintf(cert, sizeof(cert), "%s/pki/transport-chain.pem", dir);
  snprintf(key, sizeof(key), "%s/pki/transport.key", dir);
  o.url = url;
  o.ca = ca;
  o.cert = cert;
  o.key = key;
  o.client_id = "intro";
  o.client_secret = secret;
  o.timeout_ms = 5000;
  o.cache_ttl_s = 60;
  o.cache_max = cache_max;
  o.required_scope = "ddas.read";
  if(wk_introspect_new(&o, &c, err, sizeof(err)))
    fail_msg("wk_introspect_new: %s", err);
  return c;
}

static ddas_token_verdict check(wk_introspect *c, const char *tok,
                                wk_token_verdict *v) {
  wk_introspect_check(c, tok, v);
  return v->verdict;
}

static void client_verdicts_and_cache(void **state) {
  stub s;
  wk_introspect *c;
  wk_token_verdict v;
  (void)state;
  stub_start(&s, "");
  c = client(s.port, SECRET, 0);
  assert_int_equal(check(c, NULL, &v), DDAS_TOKEN_MISSING);
  assert_int_equal(check(c, "", &v), DDAS_TOKEN_MISSING);
  assert_int_equal(wk_introspect_calls(c), 0);
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_OK);
  assert_string_equal(v.client_id, "intro");
  assert_int_equal(check(c, TOK_NOEXP, &v), DDAS_TOKEN_OK);
  assert_int_equal(check(c, TOK_EXP, &v), DDAS_TOKEN_EXPIRED);
  assert_string_equal(v.client_id, "");
  assert_int_equal(check(c, TOK_SCOPE, &v), DDAS_TOKEN_INVALID);
  assert_int_equal(check(c, "unknown-token", &v), DDAS_TOKEN_INVALID);
  assert_int_equal(wk_introspect_calls(c), 5);
  assert_int_equal(stub_introspections(&s), 5);
  /* every answer again, from the cache: the stub is not asked */
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_OK);
  assert_string_equal(v.client_id, "intro");
  assert_int_equal(check(c, TOK_EXP, &v), DDAS_TOKEN_EXPIRED);
  assert_int_equal(check(c, TOK_SCOPE, &v), DDAS_TOKEN_INVALID);
  assert_int_equal(check(c, "unknown-token", &v), DDAS_TOKEN_INVALID);
  assert_int_equal(wk_introspect_calls(c), 5);
  assert_int_equal(stub_introspections(&s), 5);
  wk_introspect_free(c);

  /* a cache of two entries holds two tokens, not three */
  c = client(s.port, SECRET, 2);
  check(c, TOK_OK, &v);
  check(c, TOK_NOEXP, &v);
  check(c, TOK_NOEXP, &v);
  assert_int_equal(wk_introspect_calls(c), 2);
  check(c, TOK_SCOPE, &v);
  check(c, TOK_OK, &v);
  check(c, TOK_NOEXP, &v);
  assert_int_equal(wk_introspect_calls(c), 4); /* evicted: the entry that
                                              expires first */
  assert_int_equal(stub_introspections(&s), 5 + (long)wk_introspect_calls(c));
  wk_introspect_free(c);

  /* a wrong client secret: the endpoint refuses us, nothing is cached */
  c = client(s.port, "wrong-secret", 0);
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_UNAVAILABLE);
  assert_int_equal(v.retry_after_s, 5);
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_UNAVAILABLE);
  assert_int_equal(wk_introspect_calls(c), 2);
  wk_introspect_free(c);
  stub_stop(&s);
}

static void client_endpoint_unavailable(void **state) {
  stub s;
  wk_introspect *c;
  wk_token_verdict v;
  int port;
  (void)state;
  stub_start(&s, "--introspect-status 503");
  c = client(s.port, SECRET, 0);
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_UNAVAILABLE);
  assert_int_equal(v.retry_after_s, 7); /* the endpoint's Retry-After */
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_UNAVAILABLE);
  assert_int_equal(stub_introspections(&s), 2); /* not cached */
  wk_introspect_free(c);
  port = s.port;
  stub_stop(&s);
  /* down: nothing listens on the port any more */
  c = client(port, SECRET, 0);
  assert_int_equal(check(c, TOK_OK, &v), DDAS_TOKEN_UNAVAILABLE);
  assert_int_equal(v.retry_after_s, 5);
  wk_introspect_free(c);
}

typedef struct {
  wk_introspect *c;
  int bad;
} worker_arg;

static void *hammer(void *arg) {
  worker_arg *w = arg;
  int i;
  for(i = 0; i < 20; i++) {
    wk_token_verdict v;
    wk_introspect_check(w->c, i % 2 ? TOK_OK : TOK_SCOPE, &v);
    if(v.verdict != (i % 2 ? DDAS_TOKEN_OK : DDAS_TOKEN_INVALID))
      w->bad++;
  }
  return NULL;
}

static void client_concurrent_callers(void **state) {
  stub s;
  pthread_t t[8];
  worker_arg w[8];
  int i;
  (void)state;
  stub_start(&s, "");
  w[0].c = client(s.port, SECRET, 0);
  for(i = 0; i < 8; i++) {
    w[i].c = w[0].c;
    w[i].bad = 0;
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
  }
  for(i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].bad, 0);
  }
  /* at most one miss per token and thread; the rest were cache hits */
  assert_true(wk_introspect_calls(w[0].c) <= 16);
  wk_introspect_free(w[0].c);
  stub_stop(&s);
}

static void options_refused(void **state) {
  wk_introspect_options o;
  wk_introspect *c = NULL;
  char err[300];
  (void)state;
  memset(&o, 0, sizeof(o));
  o.url = "http://127.0.0.1:1/introspect";
  o.client_id = "a";
  o.client_secret = "b";
  assert_int_equal(wk_introspect_new(&o, &c, err, sizeof(err)), -1);
  assert_null(c);
  assert_non_null(strstr(err, "https://"));
  o.allow_insecure_http = 1;
  assert_int_equal(wk_introspect_new(&o, &c, err, sizeof(err)), 0);
  wk_introspect_free(c);
  o.client_secret = NULL;
  assert_int_equal(wk_introspect_new(&o, &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "client secret"));
}

static void no_token_in_the_log(void **state) {
  char *log;
  (void)state;
  fflush(stderr);
  log = tu_read(logpath, NULL);
  assert_non_null(strstr(log, "token introspection unavailable"));
  assert_null(strstr(log, "tokOK"));
  assert_null(strstr(log, "tokEXP"));
  assert_null(strstr(log, "tokSCOPE"));
  assert_null(strstr(log, SECRET));
  free(log);
}

static int group_setup(void **state) {
  (void)state;
  return tu_log_dir_setup(dir, logpath, sizeof(logpath));
}

static int group_teardown(void **state) {
  (void)state;
  return tu_log_dir_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(core_parsing),
      cmocka_unit_test(core_cache_times),
      cmocka_unit_test(core_bearer_and_retry_after),
      cmocka_unit_test(client_verdicts_and_cache),
      cmocka_unit_test(client_endpoint_unavailable),
      cmocka_unit_test(client_concurrent_callers),
      cmocka_unit_test(options_refused),
      cmocka_unit_test(no_token_in_the_log),
  };
  int rc;
  curl_global_init(CURL_GLOBAL_DEFAULT); /* before the client's threads */
  rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
  curl_global_cleanup();
  return rc;
}
