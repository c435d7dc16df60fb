/* The HTTPS server (worker/httpsd.h) with libcurl and raw sockets as
 * clients and certificates from tests/pki/make-pki: mutual TLS refusals in
 * the handshake (no certificate, another CA, not on the allow list by DN
 * and by OIN, TLS 1.1), the handler's answer with the peer identity,
 * keep-alive, the server's own refusals (413, 431, 505, 408), a slow client
 * next to a fast one, a client that goes away mid-answer (SIGPIPE), and a
 * prompt stop with connections open. The log must name refused peers by
 * OIN and thumbprint only and never hold a body or a token. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ddas/alloc.h"
#include "httpsd.h"
#include "testutil.h"

#define TOKEN "Bearer tok-SECRET-4711"
#define BODY_SECRET "body-SECRET-0815"
#define DN                                                                     \
  "CN=ddas-worker.example.nl,serialNumber=00000001234567890000,"               \
  "O=Gemeente Voorbeeld,C=NL"

static char dir[] = "/tmp/ddas-httpsd-XXXXXX";
static char pki[300], logpath[300];

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Echoes what it saw as a small JSON text; /big answers 4 MiB; /sleep
 * waits 300 ms first. */
/* set by the handler of /sleep when it runs (stop_with_connections) */
static atomic_int sleeping;

static void echo(void *ctx, const wk_httpsd_request *q, wk_httpsd_response *r) {
  size_t dup = 0, cap = 4096, n;
  char *b;
  (void)ctx;
  wk_httpsd_header_get(q, "X-Dup", &dup);
  if(strcmp(q->path, "/big") == 0) {
    b = ddas_malloc(4u << 20);
    memset(b, 'x', 4u << 20);
    wk_httpsd_set_status(r, 200);
    wk_httpsd_set_body(r, b, 4u << 20);
    return;
  }
  if(strcmp(q->path, "/sleep") == 0) {
    atomic_store(&sleeping, 1); /* the test stops the server now */
    usleep(300000);
  }
  b = ddas_malloc(cap);
  n = (size_t)snprintf(b, cap,
                       "%s %s ?%s dup=%zu len=%zu dn=%s oin=%s thumb=%zu",
                       q->method, q->path, q->query, dup, q->body_len,
                       q->peer_dn, q->peer_oin, strlen(q->peer_thumbprint));
  assert_int_equal(wk_httpsd_add_header(r, "X-Answer", "yes"), 0);
  assert_int_equal(wk_httpsd_add_header(r, "Content-Length", "1"), -1);
  assert_int_equal(wk_httpsd_add_header(r, "X-Bad", "a\r\nInjected: 1"), -1);
  assert_int_equal(wk_httpsd_add_header(r, "Bad Name", "v"), -1);
  wk_httpsd_set_status(r, 200);
  wk_httpsd_set_body(r, b, n);
}

static wk_httpsd *start(const char *const *allow, size_t nallow, int plain,
                        unsigned threads, long io_ms) {
  char cert[400], key[400], ca[400], err[300];
  wk_httpsd_options o;
  wk_httpsd *s = NULL;
  memset(&o, 0, sizeof(o));
  snprintf(cert, sizeof(cert), "%s/server-chain.pem", pki);
  snprintf(key, sizeof(key), "%s/server.key", pki);
  snprintf(ca, sizeof(ca), "%s/root.pem", pki);
  o.listen = "127.0.0.1:0";
  o.cert = cert;
  o.key = key;
  o.client_ca = ca;
  o.allow = allow;
  o.nallow = nallow;
  o.max_body = 1000;
  o.threads = threads;
  o.io_timeout_ms = io_ms;
  o.idle_timeout_ms = 30000;
  o.insecure_plain_http = plain;
  if(wk_httpsd_start(&o, echo, NULL, &s, err, sizeof(err)))
    fail_msg("wk_httpsd_start: %s", err);
  assert_true(wk_httpsd_port(s) > 0);
  return s;
}

typedef struct {
  tu_sink body, headers;
} sink;

/* A client that stops reading at the first bytes of the body. */
static size_t refuse_body(char *p, size_t sz, size_t n, void *u) {
  (void)p;
  (void)sz;
  (void)n;
  (void)u;
  return 0;
}

/* Prepares h for https://127.0.0.1:port/path with the client certificate
 * `who` ("transport", "signing", "rogue-transport"; NULL: none). */
static void setup(CURL *h, sink *s, int port, const char *path,
                  const char *who) {
  char url[300], ca[400], cert[400], key[400];
  memset(s, 0, sizeof(*s));
  snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
  snprintf(ca, sizeof(ca), "%s/root.pem", pki);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  if(who) {
    snprintf(cert, sizeof(cert), "%s/%s-chain.pem", pki, who);
    snprintf(key, sizeof(key), "%s/%s.key", pki, who);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, key);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tu_sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s->body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, tu_sink_write);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &s->headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
}

/* One request; returns the curl result, *status the HTTP status (0: none). */
static CURLcode get(int port, const char *path, const char *who, sink *s,
                    long *status) {
  CURL *h = curl_easy_init();
  CURLcode rc;
  setup(h, s, port, path, who);
  rc = curl_easy_perform(h);
  *status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(h);
  return rc;
}

static char *log_text(void) {
  fflush(stderr);
  return tu_read(logpath, NULL);
}

static int count_in_log(const char *needle) {
  char *t = log_text(), *p = t;
  int n = 0;
  while((p = strstr(p, needle)) != NULL) {
    n++;
    p++;
  }
  free(t);
  return n;
}

/* The server logs a refused handshake on its own thread, possibly after
 * the client gave up: waits up to 3 s for `n` occurrences. */
static int wait_log(const char *needle, int n) {
  int i, c = 0;
  for(i = 0; i < 300 && (c = count_in_log(needle)) < n; i++)
    usleep(10000);
  return c;
}

static void trusted_client_gets_the_answer(void **state) {
  wk_httpsd *s = start(NULL, 0, 0, 4, 5000);
  sink k;
  long st;
  CURL *h = curl_easy_init();
  struct curl_slist *hl = NULL;
  char want[600];
  (void)state;
  setup(h, &k, wk_httpsd_port(s), "/gegevens?page=2", "transport");
  hl = curl_slist_append(hl, "X-Dup: 1");
  hl = curl_slist_append(hl, "X-Dup: 2");
  hl = curl_slist_append(hl, "Authorization: " TOKEN);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"x\":\"" BODY_SECRET "\"}");
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
  assert_int_equal(st, 200);
  snprintf(want, sizeof(want),
           "POST /gegevens ?page=2 dup=2 len=%zu dn=" DN
           " oin=00000001234567890000 thumb=43",
           strlen("{\"x\":\"" BODY_SECRET "\"}"));
  assert_string_equal(k.body.buf, want);
  assert_non_null(strstr(k.headers.buf, "X-Answer: yes\r\n"));
  assert_non_null(strstr(k.headers.buf, "Connection: keep-alive\r\n"));
  assert_non_null(strstr(k.headers.buf, "Date: "));
  assert_null(strstr(k.headers.buf, "Injected"));
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  wk_httpsd_stop(s);
  assert_int_equal(count_in_log(BODY_SECRET), 0);
  assert_int_equal(count_in_log("tok-SECRET"), 0);
}

/* A request with exactly TLS version v (CURL_SSLVERSION_TLSv1_x) and the
 * client's own security level lowered, so that only the server can refuse
 * an old version. */
static CURLcode with_tls(int port, long v, long *status) {
  sink k;
  CURL *h = curl_easy_init();
  CURLcode rc;
  setup(h, &k, port, "/", "transport");
  curl_easy_setopt(h, CURLOPT_SSLVERSION, v | (v << 16));
  curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
  rc = curl_easy_perform(h);
  *status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(h);
  return rc;
}

static void handshake_refusals(void **state) {
  wk_httpsd *s = start(NULL, 0, 0, 2, 5000);
  int port = wk_httpsd_port(s), before;
  sink k;
  long st;
  (void)state;
  before = count_in_log("no certificate");
  assert_int_not_equal(get(port, "/", NULL, &k, &st), CURLE_OK);
  assert_int_equal(st, 0);
  assert_int_equal(k.body.len, 0);
  assert_int_equal(wait_log("no certificate", before + 1), before + 1);

  before = count_in_log("\"untrusted\"");
  assert_int_not_equal(get(port, "/", "rogue-transport", &k, &st), CURLE_OK);
  assert_int_equal(st, 0);
  assert_int_equal(wait_log("\"untrusted\"", before + 1), before + 1);

  /* TLS 1.1, with the client's own security level lowered so that only the
   * server can refuse it */
  before = count_in_log("unsupported protocol");
  assert_int_not_equal(with_tls(port, CURL_SSLVERSION_TLSv1_1, &st), CURLE_OK);
  assert_int_equal(st, 0);
  assert_int_equal(wait_log("unsupported protocol", before + 1), before + 1);
  /* ... while the same client at TLS 1.2 gets in */
  assert_int_equal(with_tls(port, CURL_SSLVERSION_TLSv1_2, &st), CURLE_OK);
  assert_int_equal(st, 200);
  wk_httpsd_stop(s);
}

static void allow_list(void **state) {
  static const char *const by_dn[] = {"CN=someone else,O=Gemeente Voorbeeld,"
                                      "C=NL"};
  static const char *const by_oin[] = {"oin:00000009999999999999"};
  static const char *const both_ok[] = {"oin:00000009999999999999", DN};
  static const char *const oin_ok[] = {"oin:00000001234567890000"};
  static const char *const bad[] = {"oin:12a"};
  wk_httpsd_options o;
  wk_httpsd *s;
  char err[300];
  sink k;
  long st;
  int before;
  (void)state;
  s = start(by_dn, 1, 0, 2, 5000);
  before = count_in_log("not allowed");
  assert_int_not_equal(get(wk_httpsd_port(s), "/", "transport", &k, &st),
                       CURLE_OK);
  assert_int_equal(st, 0);
  assert_int_equal(wait_log("not allowed", before + 1), before + 1);
  assert_true(count_in_log("\"oin\":\"00000001234567890000\"") > 0);
  assert_int_equal(count_in_log("Gemeente"), 0); /* no names in the log */
  assert_int_equal(count_in_log("ddas-worker.example.nl"), 0);
  wk_httpsd_stop(s);

  s = start(by_oin, 1, 0, 2, 5000);
  assert_int_not_equal(get(wk_httpsd_port(s), "/", "transport", &k, &st),
                       CURLE_OK);
  assert_int_equal(st, 0);
  wk_httpsd_stop(s);

  s = start(both_ok, 2, 0, 2, 5000);
  assert_int_equal(get(wk_httpsd_port(s), "/", "transport", &k, &st), CURLE_OK);
  assert_int_equal(st, 200);
  /* same OIN, another subject: the DN entry does not let it in */
  assert_int_not_equal(get(wk_httpsd_port(s), "/", "signing", &k, &st),
                       CURLE_OK);
  wk_httpsd_stop(s);

  s = start(oin_ok, 1, 0, 2, 5000);
  assert_int_equal(get(wk_httpsd_port(s), "/", "signing", &k, &st), CURLE_OK);
  assert_int_equal(st, 200);
  assert_non_null(strstr(k.body.buf, "oin=00000001234567890000"));
  wk_httpsd_stop(s);

  memset(&o, 0, sizeof(o));
  o.listen = "127.0.0.1:0";
  o.allow = bad;
  o.nallow = 1;
  o.insecure_plain_http = 1;
  assert_int_equal(wk_httpsd_start(&o, echo, NULL, &s, err, sizeof(err)), -1);
  assert_null(s);
  assert_non_null(strstr(err, "oin:<digits>"));
}

static void keep_alive_reuses_the_connection(void **state) {
  wk_httpsd *s = start(NULL, 0, 0, 2, 5000);
  CURL *h = curl_easy_init();
  sink k;
  long conns = -1, st;
  (void)state;
  setup(h, &k, wk_httpsd_port(s), "/one", "transport");
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
  assert_int_equal(conns, 1);
  memset(&k, 0, sizeof(k));
  curl_easy_setopt(h, CURLOPT_URL,
                   "https://127.0.0.1:0/two"); /* port set below */
  {
    char url[100];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/two", wk_httpsd_port(s));
    curl_easy_setopt(h, CURLOPT_URL, url);
  }
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
  assert_int_equal(st, 200);
  assert_non_null(strstr(k.body.buf, "GET /two"));
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
  assert_int_equal(conns, 0); /* no new connection for the second */
  curl_easy_cleanup(h);
  wk_httpsd_stop(s);
}

/* ---- raw sockets against the plain-HTTP mode ----------------------------- */

static int raw_connect(int port) {
  int fd = tu_connect_loopback(port);
  assert_true(fd >= 0);
  return fd;
}

static void raw_send(int fd, const char *p, size_t n) {
  while(n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    assert_true(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

static void raw_sends(int fd, const char *s) { raw_send(fd, s, strlen(s)); }

/* Reads until the peer closes or ms pass; returns a malloc'ed text. */
static char *raw_read_all(int fd, int ms) {
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap + 1);
  long long until = mono_ms() + ms;
  for(;;) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    long long left = until - mono_ms();
    if(left <= 0 || poll(&p, 1, (int)left) <= 0)
      break;
    r = recv(fd, b + len, cap - len, 0);
    if(r <= 0)
      break;
    len += (size_t)r;
    if(len == cap)
      break;
  }
  b[len] = '\0';
  return b;
}

/* Reads what fd receives within ms (until the peer closes), closes fd and
 * asserts that every needle of the NULL-terminated list is in it. */
static void expect_on(int fd, int ms, ...) {
  char *got = raw_read_all(fd, ms);
  const char *needle;
  va_list ap;
  close(fd);
  va_start(ap, ms);
  while((needle = va_arg(ap, const char *)) != NULL)
    if(!strstr(got, needle))
      fail_msg("\"%s\" is not in the answer:\n%s", needle, got);
  va_end(ap);
  free(got);
}

/* Sends `req` on a new connection to port and checks the answer. */
#define EXCHANGE(port, req, ...)                                               \
  do {                                                                         \
    int fd_ = raw_connect(port);                                               \
    raw_sends(fd_, req);                                                       \
    expect_on(fd_, 5000, __VA_ARGS__, (const char *)NULL);                     \
  } while(0)

static void server_refusals(void **state) {
  wk_httpsd *s = start(NULL, 0, 1, 2, 5000);
  int port = wk_httpsd_port(s);
  char *big;
  size_t n;
  (void)state;
  /* 413 from the head alone: the body is never sent */
  EXCHANGE(port,
           "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
           "HTTP/1.1 413 Content Too Large\r\n",
           "Content-Type: application/problem+json\r\n",
           "Connection: close\r\n", "\"status\":413");
  /* 431 */
  big = malloc(20000);
  n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
  memset(big + n, 'b', 17000);
  strcpy(big + n + 17000, "\r\n\r\n");
  EXCHANGE(port, big, "HTTP/1.1 431 ");
  free(big);
  /* 505 and 501 with the parser's reason */
  EXCHANGE(port, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 ");
  EXCHANGE(port,
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 501 ", "Content-Length");
  /* a body within the limit, two requests pipelined on one connection */
  EXCHANGE(port,
           "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
           "GET /q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
           "POST /p ? dup=0 len=5 dn= oin= thumb=0", "GET /q ? dup=0 len=0");
  wk_httpsd_stop(s);
}

static void expect_continue(void **state) {
  wk_httpsd *s = start(NULL, 0, 1, 2, 5000);
  int fd = raw_connect(wk_httpsd_port(s));
  char *a;
  (void)state;
  /* the interim answer comes before the body is sent */
  raw_sends(fd, "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\nConnection: close\r\n\r\n");
  a = raw_read_all(fd, 500);
  assert_string_equal(a, "HTTP/1.1 100 Continue\r\n\r\n");
  free(a);
  raw_sends(fd, "hello");
  expect_on(fd, 5000, "HTTP/1.1 200 OK", "POST /e ? dup=0 len=5",
            (const char *)NULL);
  EXCHANGE(wk_httpsd_port(s),
           "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n"
           "Content-Length: 5\r\n\r\nhello",
           "HTTP/1.1 417 Expectation Failed");
  wk_httpsd_stop(s);
}

static void start_errors_and_ipv6(void **state) {
  wk_httpsd_options o;
  wk_httpsd *s = NULL;
  char err[400];
  sink k;
  CURL *h;
  (void)state;
  memset(&o, 0, sizeof(o));
  o.listen = "127.0.0.1:0";
  o.cert = "/nonexistent/server.pem";
  o.key = "/nonexistent/server.key";
  o.client_ca = "/nonexistent/root.pem";
  assert_int_equal(wk_httpsd_start(&o, echo, NULL, &s, err, sizeof(err)), -1);
  assert_null(s);
  assert_non_null(strstr(err, "/nonexistent/server.pem"));
  o.insecure_plain_http = 1;
  o.listen = "localhost:80";
  assert_int_equal(wk_httpsd_start(&o, echo, NULL, &s, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "not an IP address"));
  o.listen = "[::1]:0";
  if(wk_httpsd_start(&o, echo, NULL, &s, err, sizeof(err))) {
    printf("no IPv6 loopback here (%s): the IPv6 case is skipped\n", err);
    return;
  }
  h = curl_easy_init();
  memset(&k, 0, sizeof(k));
  snprintf(err, sizeof(err), "http://[::1]:%d/six", wk_httpsd_port(s));
  curl_easy_setopt(h, CURLOPT_URL, err);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tu_sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &k.body);
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  assert_non_null(strstr(k.body.buf, "GET /six"));
  curl_easy_cleanup(h);
  wk_httpsd_stop(s);
}

static void slow_clients(void **state) {
  wk_httpsd *s = start(NULL, 0, 1, 2, 3000);
  int port = wk_httpsd_port(s), slow, fast;
  long long t0, t_fast;
  (void)state;
  /* the slow request's 3-s limit starts after t0 */
  t0 = mono_ms();
  slow = raw_connect(port);
  raw_sends(slow, "GET /slow HTTP/1.1\r\nHo");
  /* another connection is served meanwhile, well before the slow one's
   * limit (margins for a loaded CI machine) */
  fast = raw_connect(port);
  raw_sends(fast, "GET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  expect_on(fast, 5000, "HTTP/1.1 200 OK", (const char *)NULL);
  t_fast = mono_ms() - t0;
  assert_true(t_fast < 2000);
  /* the slow one gets 408 after io_timeout_ms */
  expect_on(slow, 10000, "HTTP/1.1 408 Request Timeout", (const char *)NULL);
  assert_true(mono_ms() - t0 >= 3000);
  wk_httpsd_stop(s);
}

static void client_gone_mid_answer(void **state) {
  wk_httpsd *s = start(NULL, 0, 1, 2, 5000);
  int fd;
  struct linger l = {1, 0};
  sink k;
  long st;
  CURL *h;
  (void)state;
  /* plain: request 4 MiB, then reset the connection */
  fd = raw_connect(wk_httpsd_port(s));
  raw_sends(fd, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  usleep(50000);
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
  wk_httpsd_stop(s);
  /* TLS: curl stops reading after the first bytes */
  s = start(NULL, 0, 0, 2, 5000);
  h = curl_easy_init();
  setup(h, &k, wk_httpsd_port(s), "/big", "transport");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, refuse_body);
  assert_int_equal(curl_easy_perform(h), CURLE_WRITE_ERROR);
  curl_easy_cleanup(h);
  usleep(100000);
  /* still alive and serving */
  assert_int_equal(get(wk_httpsd_port(s), "/after", "transport", &k, &st),
                   CURLE_OK);
  assert_int_equal(st, 200);
  wk_httpsd_stop(s);
}

static void stop_is_prompt_with_connections_open(void **state) {
  wk_httpsd *s = start(NULL, 0, 0, 4, 30000);
  int idle, partial, busy;
  long long t0;
  (void)state;
  /* an idle TLS connection (no handshake), a partial request and a
   * request whose handler is running (plain server below) */
  idle = raw_connect(wk_httpsd_port(s));
  usleep(50000);
  t0 = mono_ms();
  wk_httpsd_stop(s);
  assert_true(mono_ms() - t0 < 1000);
  close(idle);

  s = start(NULL, 0, 1, 4, 30000);
  partial = raw_connect(wk_httpsd_port(s));
  raw_sends(partial, "GET / HTTP/1.1\r\n");
  busy = raw_connect(wk_httpsd_port(s));
  atomic_store(&sleeping, 0);
  raw_sends(busy, "GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n");
  t0 = mono_ms(); /* the handler runs before the stop, however slow CI is */
  while(!atomic_load(&sleeping) && mono_ms() - t0 < 10000)
    usleep(5000);
  assert_true(atomic_load(&sleeping));
  t0 = mono_ms();
  wk_httpsd_stop(s);
  assert_true(mono_ms() - t0 < 1000);
  /* the running request was answered, with Connection: close */
  expect_on(busy, 2000, "HTTP/1.1 200 OK", "Connection: close",
            (const char *)NULL);
  close(partial);
}

static int group_setup(void **state) {
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if(tu_log_dir_setup(dir, logpath, sizeof(logpath)))
    return -1;
  snprintf(pki, sizeof(pki), "%s/pki", dir);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  curl_global_cleanup();
  return tu_log_dir_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(trusted_client_gets_the_answer),
      cmocka_unit_test(handshake_refusals),
      cmocka_unit_test(allow_list),
      cmocka_unit_test(keep_alive_reuses_the_connection),
      cmocka_unit_test(server_refusals),
      cmocka_unit_test(expect_continue),
      cmocka_unit_test(start_errors_and_ipv6),
      cmocka_unit_test(slow_clients),
      cmocka_unit_test(client_gone_mid_answer),
      cmocka_unit_test(stop_is_prompt_with_connections_open),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
