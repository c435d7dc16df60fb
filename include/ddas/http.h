/* ddas/http.h: the head of an HTTP/1.1 (or 1.0) request, parsed without
 * allocating (RFC 9112), for the `serve` endpoint's server (worker/httpsd).
 *
 * Pure: bytes in, spans out. Every span points into the caller's buffer,
 * which must outlive the parsed head. What is refused, and the status the
 * server answers with:
 *   400  a malformed request line or header field, a target that is not
 *        origin-form ("/path?query"; absolute-form and "*" included), a
 *        Content-Length that is not digits only or repeated with another
 *        value, a missing or repeated Host in HTTP/1.1, obsolete line
 *        folding, white space before a header's colon
 *   414  a target longer than DDAS_HTTP_MAX_TARGET bytes
 *   431  a head longer than DDAS_HTTP_MAX_HEAD bytes (also while it is
 *        still incomplete), or more than DDAS_HTTP_MAX_HEADERS fields
 *   501  Transfer-Encoding (chunked bodies are not accepted; the client
 *        must send Content-Length)
 *   505  an HTTP version other than 1.0 and 1.1
 * Lines end in CRLF; a bare LF is tolerated. Empty lines before the
 * request line are skipped (RFC 9112 2.2). */
#ifndef DDAS_HTTP_H
#define DDAS_HTTP_H

#include <stddef.h>

#include "ddas/result.h"

#define DDAS_HTTP_MAX_HEADERS 64
#define DDAS_HTTP_MAX_TARGET 2048
#define DDAS_HTTP_MAX_HEAD 16384

/* Bytes p[0..n) of the caller's buffer (not NUL-terminated). */
typedef struct {
  const char *p;
  size_t n;
} ddas_http_span;

typedef struct {
  ddas_http_span name;  /* a token, case as sent */
  ddas_http_span value; /* without leading and trailing SP/HTAB */
} ddas_http_field;

typedef struct {
  size_t head_len; /* bytes of the head including its empty line; 0 while
                      the head is incomplete */
  ddas_http_span method, target;
  ddas_http_span path;  /* target up to '?' */
  ddas_http_span query; /* after '?' (n = 0: none or empty) */
  int version_minor;    /* 0 (HTTP/1.0) or 1 (HTTP/1.1) */
  ddas_http_field headers[DDAS_HTTP_MAX_HEADERS];
  size_t nheaders;
  int has_length;                    /* Content-Length was sent */
  unsigned long long content_length; /* its value (0 without one) */
  int keep_alive;    /* 1: the connection may stay open after the answer
                        (1.1 without "Connection: close", 1.0 with
                        "Connection: keep-alive") */
  const char *error; /* on refusal: a static sentence saying what is wrong
                        and what to do; else NULL */
} ddas_http_request_head;

/* One HTTP header as NUL-terminated strings: what a server hands its
 * handler (worker/httpsd.h) and what ddas_verify() (ddas/sign.h) checks. */
typedef struct {
  const char *name; /* case-insensitive */
  const char *value;
} ddas_http_header;

/* The value of the first of h[0..n) named `name` (ASCII case-insensitive;
 * entries with a NULL name are skipped), or NULL; *count (may be NULL)
 * receives how many are named so, so that a caller can refuse duplicates. */
const char *ddas_http_header_find(const ddas_http_header *h, size_t n,
                                  const char *name, size_t *count);

/* The reason phrase of an HTTP status ("Not Found"); for a status without
 * one here, "OK", "Client Error" or "Server Error" by its class. */
const char *ddas_http_reason(int status);

/* Parses the request head at buf[0..len).
 * Returns DDAS_OK with *status = 0 when the head is complete (out fully
 * set, out->head_len the bytes it used; the body, if any, follows) or
 * incomplete (out->head_len = 0: read more bytes and call again with the
 * whole buffer). On refusal returns DDAS_ERR_SYNTAX (400, 505),
 * DDAS_ERR_LIMIT (414, 431) or DDAS_ERR_UNSUPPORTED (501), with *status the
 * status to answer and out->error the reason; the caller answers and closes
 * the connection. DDAS_ERR_ARG (status 500) for NULL arguments. */
ddas_result ddas_http_parse_head(const char *buf, size_t len,
                                 ddas_http_request_head *out, int *status);

/* The value of the first header named `name` (ASCII case-insensitive), or
 * NULL; *count (may be NULL) receives how many fields have that name. */
const ddas_http_span *ddas_http_header_get(const ddas_http_request_head *h,
                                           const char *name, size_t *count);

#endif
