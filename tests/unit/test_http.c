/* The request-head parser (ddas/http.h): complete and incomplete heads,
 * every refusal status with its reason, duplicates, bare LF, the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/http.h"

static ddas_http_request_head h;

/* Parses the NUL-terminated s; returns the status (0: accepted or
 * incomplete). */
static int parse(const char *s) {
  int st = -1;
  ddas_result r = ddas_http_parse_head(s, strlen(s), &h, &st);
  if(st == 0)
    assert_int_equal(r, DDAS_OK);
  else {
    assert_int_not_equal(r, DDAS_OK);
    assert_non_null(h.error);
    assert_int_equal(h.head_len, 0);
  }
  return st;
}

static int span_is(ddas_http_span s, const char *lit) {
  return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static void a_complete_request(void **state) {
  const char *req = "POST /gegevens?page=2&x=1 HTTP/1.1\r\n"
                    "Host: cbs.example\r\n"
                    "Content-Type:  application/json \t\r\n"
                    "Content-Length: 12\r\n"
                    "X-Empty:\r\n"
                    "\r\n"
                    "{\"a\":\"body\"}";
  const ddas_http_span *v;
  size_t n;
  (void)state;
  assert_int_equal(parse(req), 0);
  assert_int_equal(h.head_len, strlen(req) - 12);
  assert_true(span_is(h.method, "POST"));
  assert_true(span_is(h.target, "/gegevens?page=2&x=1"));
  assert_true(span_is(h.path, "/gegevens"));
  assert_true(span_is(h.query, "page=2&x=1"));
  assert_int_equal(h.version_minor, 1);
  assert_int_equal(h.nheaders, 4);
  assert_true(span_is(h.headers[1].value, "application/json"));
  assert_true(span_is(h.headers[3].value, ""));
  assert_int_equal(h.has_length, 1);
  assert_int_equal(h.content_length, 12);
  assert_int_equal(h.keep_alive, 1);
  assert_null(h.error);
  v = ddas_http_header_get(&h, "content-TYPE", &n);
  assert_non_null(v);
  assert_int_equal(n, 1);
  assert_true(span_is(*v, "application/json"));
  assert_null(ddas_http_header_get(&h, "Authorization", &n));
  assert_int_equal(n, 0);
}

static void bare_lf_and_leading_empty_lines(void **state) {
  (void)state;
  assert_int_equal(parse("\r\n\nGET / HTTP/1.1\nHost: a\n\n"), 0);
  assert_int_equal(h.head_len, strlen("\r\n\nGET / HTTP/1.1\nHost: a\n\n"));
  assert_true(span_is(h.path, "/"));
  assert_int_equal(h.query.n, 0);
  assert_int_equal(h.has_length, 0);
  /* mixed endings */
  assert_int_equal(parse("GET /x HTTP/1.1\r\nHost: a\n\r\n"), 0);
  assert_int_not_equal(h.head_len, 0);
}

static void incomplete_heads_ask_for_more(void **state) {
  const char *full = "POST /gegevens HTTP/1.1\r\nHost: a\r\n"
                     "Content-Length: 3\r\n\r\n";
  size_t i;
  char buf[128];
  (void)state;
  for(i = 0; i < strlen(full); i++) {
    int st = -1;
    memcpy(buf, full, i);
    assert_int_equal(ddas_http_parse_head(buf, i, &h, &st), DDAS_OK);
    assert_int_equal(st, 0);
    assert_int_equal(h.head_len, 0);
  }
  assert_int_equal(parse(full), 0);
  assert_int_equal(h.head_len, strlen(full));
}

static void connection_and_versions(void **state) {
  (void)state;
  assert_int_equal(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
  assert_int_equal(h.keep_alive, 0);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n"
                         "Connection: TE, Close\r\n\r\n"),
                   0);
  assert_int_equal(h.keep_alive, 0);
  assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 0);
  assert_int_equal(h.version_minor, 0);
  assert_int_equal(h.keep_alive, 0);
  assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
                   0);
  assert_int_equal(h.keep_alive, 1);
}

static void bad_requests_are_400(void **state) {
  static const char *const bad[] = {
      "GET /\r\n\r\n",                                /* no version */
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",           /* two spaces */
      " GET / HTTP/1.1\r\nHost: a\r\n\r\n",           /* leading space */
      "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",            /* method not a token */
      "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",    /* absolute-form */
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",        /* asterisk-form */
      "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",    /* authority-form */
      "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",         /* fragment */
      "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",        /* non-ASCII target */
      "GET / http/1.1\r\nHost: a\r\n\r\n",            /* version case */
      "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",           /* trailing space */
      "GET / HTTP/1.1\r\n\r\n",                       /* 1.1 without Host */
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",           /* space before colon */
      "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", /* obs-fold */
      "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", /* control char */
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n",   /* bare CR */
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n"
      "\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
      "Content-Length: 6\r\n\r\n",
  };
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if(parse(bad[i]) != 400)
      fail_msg("case %zu: expected 400, got %d", i, parse(bad[i]));
  }
  /* the same Content-Length twice is accepted */
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                         "content-length: 5\r\n\r\n"),
                   0);
  assert_int_equal(h.content_length, 5);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
                         "123456789012345678\r\n\r\n"),
                   0);
  assert_int_equal(h.content_length, 123456789012345678ULL);
}

static void transfer_encoding_is_501(void **state) {
  (void)state;
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"),
                   501);
  assert_non_null(strstr(h.error, "Content-Length"));
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                         "transfer-encoding: gzip\r\n\r\n"),
                   501);
}

static void other_versions_are_505(void **state) {
  (void)state;
  assert_int_equal(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n"), 505);
  assert_int_equal(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
}

static void long_targets_are_414(void **state) {
  char *req = malloc(DDAS_HTTP_MAX_TARGET + 100);
  size_t n;
  (void)state;
  /* exactly the limit is fine */
  memcpy(req, "GET /", 5);
  memset(req + 5, 'a', DDAS_HTTP_MAX_TARGET - 1);
  n = 5 + DDAS_HTTP_MAX_TARGET - 1;
  memcpy(req + n, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
  assert_int_equal(parse(req), 0);
  assert_int_equal(h.target.n, DDAS_HTTP_MAX_TARGET);
  /* one more byte is not */
  memcpy(req, "GET /", 5);
  memset(req + 5, 'a', DDAS_HTTP_MAX_TARGET);
  n = 5 + DDAS_HTTP_MAX_TARGET;
  memcpy(req + n, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
  assert_int_equal(parse(req), 414);
  /* also while the request line is still incomplete */
  req[n] = '\0';
  assert_int_equal(parse(req), 414);
  req[n - 1] = '\0';
  assert_int_equal(parse(req), 0); /* 2048 bytes so far: read more */
  free(req);
}

static void large_heads_are_431(void **state) {
  char *req = malloc(DDAS_HTTP_MAX_HEAD + 200);
  size_t n = 0, i;
  (void)state;
  /* 64 fields are fine, 65 are not */
  n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\n");
  for(i = 1; i < DDAS_HTTP_MAX_HEADERS; i++)
    n += (size_t)sprintf(req + n, "X-%zu: v\r\n", i);
  strcpy(req + n, "\r\n");
  assert_int_equal(parse(req), 0);
  assert_int_equal(h.nheaders, DDAS_HTTP_MAX_HEADERS);
  n += (size_t)sprintf(req + n, "X-last: v\r\n\r\n");
  assert_int_equal(parse(req), 431);
  /* a head over 16 KiB, complete or not */
  n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
  memset(req + n, 'b', DDAS_HTTP_MAX_HEAD - n);
  n = DDAS_HTTP_MAX_HEAD;
  req[n] = '\0';
  assert_int_equal(parse(req), 431);
  strcpy(req + n, "\r\n\r\n");
  assert_int_equal(parse(req), 431);
  /* one byte under the limit, incomplete: read more */
  req[DDAS_HTTP_MAX_HEAD - 1] = '\0';
  assert_int_equal(parse(req), 0);
  assert_int_equal(h.head_len, 0);
  free(req);
}

static void null_arguments(void **state) {
  int st = 0;
  (void)state;
  assert_int_equal(ddas_http_parse_head(NULL, 0, &h, &st), DDAS_ERR_ARG);
  assert_int_equal(st, 500);
  assert_int_equal(ddas_http_parse_head("", 0, NULL, &st), DDAS_ERR_ARG);
  assert_int_equal(ddas_http_parse_head("", 0, &h, NULL), DDAS_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_complete_request),
      cmocka_unit_test(bare_lf_and_leading_empty_lines),
      cmocka_unit_test(incomplete_heads_ask_for_more),
      cmocka_unit_test(connection_and_versions),
      cmocka_unit_test(bad_requests_are_400),
      cmocka_unit_test(transfer_encoding_is_501),
      cmocka_unit_test(other_versions_are_505),
      cmocka_unit_test(long_targets_are_414),
      cmocka_unit_test(large_heads_are_431),
      cmocka_unit_test(null_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
