/* The request-head parser of ddas/http.h (RFC 9112). No allocation: every
 * span points into the caller's buffer. */
#include "ddas/http.h"

#include <string.h>

/* tchar of RFC 9110 5.6.2 */
static int is_tchar(unsigned char c) {
  if((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int span_ieq(ddas_http_span s, const char *lit) {
  size_t i, n = strlen(lit);
  if(s.n != n)
    return 0;
  for(i = 0; i < n; i++)
    if(lower((unsigned char)s.p[i]) != lit[i])
      return 0;
  return 1;
}

/* The end of the line starting at p (the LF), or NULL when there is none
 * before end. *next is after the LF; the returned end excludes a CR. */
static const char *line_end(const char *p, const char *end, const char **next) {
  const char *lf = memchr(p, '\n', (size_t)(end - p));
  if(!lf)
    return NULL;
  *next = lf + 1;
  return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

static ddas_result refuse(ddas_http_request_head *out, int *status, int st,
                          const char *why) {
  *status = st;
  out->error = why;
  out->head_len = 0;
  if(st == 414 || st == 431)
    return DDAS_ERR_LIMIT;
  return st == 501 ? DDAS_ERR_UNSUPPORTED : DDAS_ERR_SYNTAX;
}

/* Parses "METHOD SP TARGET SP HTTP/x.y" in p[0..n). Returns 0 or a status
 * with *why set. */
static int parse_request_line(const char *p, size_t n,
                              ddas_http_request_head *out, const char **why) {
  const char *sp1, *sp2, *v;
  size_t i, vn;
  sp1 = memchr(p, ' ', n);
  if(!sp1 || sp1 == p) {
    *why = "the request line must be METHOD SP TARGET SP HTTP-VERSION";
    return 400;
  }
  for(i = 0; p + i < sp1; i++)
    if(!is_tchar((unsigned char)p[i])) {
      *why = "the method holds a character that is not a token character";
      return 400;
    }
  out->method = (ddas_http_span){p, (size_t)(sp1 - p)};
  sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
  if(!sp2) {
    if(n - (size_t)(sp1 + 1 - p) > DDAS_HTTP_MAX_TARGET) {
      *why = "the request target is longer than 2048 bytes; shorten the "
             "query";
      return 414;
    }
    *why = "the request line must be METHOD SP TARGET SP HTTP-VERSION";
    return 400;
  }
  out->target = (ddas_http_span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
  if(out->target.n > DDAS_HTTP_MAX_TARGET) {
    *why = "the request target is longer than 2048 bytes; shorten the query";
    return 414;
  }
  if(out->target.n == 0 || out->target.p[0] != '/') {
    *why = "the request target must be origin-form (\"/path?query\"); "
           "absolute-form, authority-form and \"*\" are not served";
    return 400;
  }
  for(i = 0; i < out->target.n; i++) {
    unsigned char c = (unsigned char)out->target.p[i];
    if(c <= 0x20 || c >= 0x7f || c == '#') {
      *why = "the request target holds a space, a control character, a "
             "fragment ('#') or a non-ASCII byte; percent-encode it";
      return 400;
    }
  }
  {
    const char *q = memchr(out->target.p, '?', out->target.n);
    size_t pn = q ? (size_t)(q - out->target.p) : out->target.n;
    out->path = (ddas_http_span){out->target.p, pn};
    out->query = q ? (ddas_http_span){q + 1, out->target.n - pn - 1}
                   : (ddas_http_span){out->target.p + pn, 0};
  }
  v = sp2 + 1;
  vn = n - (size_t)(v - p);
  if(vn == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '1' || v[7] == '0')) {
    out->version_minor = v[7] - '0';
    return 0;
  }
  if(vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
     v[6] == '.' && v[7] >= '0' && v[7] <= '9') {
    *why = "only HTTP/1.1 and HTTP/1.0 are served";
    return 505;
  }
  *why = "the request line must end in HTTP/1.1 (or HTTP/1.0)";
  return 400;
}

/* Parses a "name: value" line p[0..n) into *h. Returns 0 or 400. */
static int parse_field(const char *p, size_t n, ddas_http_field *h,
                       const char **why) {
  const char *colon = memchr(p, ':', n), *v, *e;
  size_t i;
  if(p[0] == ' ' || p[0] == '\t') {
    *why = "obsolete line folding (a header line starting with white "
           "space) is not accepted; send each field on one line";
    return 400;
  }
  if(!colon || colon == p) {
    *why = "a header line is not \"name: value\"";
    return 400;
  }
  for(i = 0; p + i < colon; i++)
    if(!is_tchar((unsigned char)p[i])) {
      *why = "a header name holds a character that is not a token character "
             "(white space before the colon is not allowed)";
      return 400;
    }
  v = colon + 1;
  e = p + n;
  while(v < e && (*v == ' ' || *v == '\t'))
    v++;
  while(e > v && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  for(i = 0; v + i < e; i++) {
    unsigned char c = (unsigned char)v[i];
    if((c < 0x20 && c != '\t') || c == 0x7f) {
      *why = "a header value holds a control character";
      return 400;
    }
  }
  h->name = (ddas_http_span){p, (size_t)(colon - p)};
  h->value = (ddas_http_span){v, (size_t)(e - v)};
  return 0;
}

/* Content-Length: digits only, at most 18 of them (no overflow). */
static int parse_length(ddas_http_span v, unsigned long long *out) {
  size_t i;
  unsigned long long n = 0;
  if(v.n == 0 || v.n > 18)
    return -1;
  for(i = 0; i < v.n; i++) {
    if(v.p[i] < '0' || v.p[i] > '9')
      return -1;
    n = n * 10 + (unsigned long long)(v.p[i] - '0');
  }
  *out = n;
  return 0;
}

/* Connection: a comma-separated token list; close wins over keep-alive. */
static void parse_connection(ddas_http_span v, int *close, int *keep) {
  const char *p = v.p, *end = v.p + v.n;
  while(p < end) {
    const char *c = memchr(p, ',', (size_t)(end - p)), *e;
    if(!c)
      c = end;
    e = c;
    while(p < e && (*p == ' ' || *p == '\t'))
      p++;
    while(e > p && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if(span_ieq((ddas_http_span){p, (size_t)(e - p)}, "close"))
      *close = 1;
    else if(span_ieq((ddas_http_span){p, (size_t)(e - p)}, "keep-alive"))
      *keep = 1;
    p = c + 1;
  }
}

/* The semantic checks over the parsed fields. Returns 0 or a status. */
static int check_fields(ddas_http_request_head *out, const char **why) {
  size_t i, hosts = 0;
  int close = 0, keep = 0;
  for(i = 0; i < out->nheaders; i++) {
    const ddas_http_field *h = &out->headers[i];
    if(span_ieq(h->name, "transfer-encoding")) {
      *why = "Transfer-Encoding (chunked bodies) is not accepted; send the "
             "body with Content-Length";
      return 501;
    }
    if(span_ieq(h->name, "content-length")) {
      unsigned long long n;
      if(parse_length(h->value, &n)) {
        *why = "Content-Length must be a decimal number of at most 18 digits";
        return 400;
      }
      if(out->has_length && n != out->content_length) {
        *why = "Content-Length is sent more than once with different values";
        return 400;
      }
      out->has_length = 1;
      out->content_length = n;
    } else if(span_ieq(h->name, "host")) {
      hosts++;
    } else if(span_ieq(h->name, "connection")) {
      parse_connection(h->value, &close, &keep);
    }
  }
  if(out->version_minor == 1 && hosts != 1) {
    *why = hosts ? "Host is sent more than once"
                 : "an HTTP/1.1 request must have a Host header";
    return 400;
  }
  out->keep_alive = !close && (out->version_minor == 1 || keep);
  return 0;
}

ddas_result ddas_http_parse_head(const char *buf, size_t len,
                                 ddas_http_request_head *out, int *status) {
  const char *p, *end, *next, *le, *why = NULL;
  int st;
  if(!buf || !out || !status) {
    if(status)
      *status = 500;
    return DDAS_ERR_ARG;
  }
  memset(out, 0, sizeof(*out));
  *status = 0;
  end = buf + (len > DDAS_HTTP_MAX_HEAD ? DDAS_HTTP_MAX_HEAD : len);
  p = buf;
  /* empty lines before the request line */
  while(p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
    p += *p == '\n' ? 1 : 2;
  le = line_end(p, end, &next);
  if(!le) {
    /* an incomplete request line may already be too long */
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if(sp && (size_t)(end - sp - 1) > DDAS_HTTP_MAX_TARGET &&
       !memchr(sp + 1, ' ', (size_t)(end - sp - 1)))
      return refuse(out, status, 414,
                    "the request target is longer than 2048 bytes; shorten "
                    "the query");
    goto incomplete;
  }
  st = parse_request_line(p, (size_t)(le - p), out, &why);
  if(st)
    return refuse(out, status, st, why);
  for(p = next;; p = next) {
    le = line_end(p, end, &next);
    if(!le)
      goto incomplete;
    if(le == p)
      break; /* the empty line */
    if(out->nheaders == DDAS_HTTP_MAX_HEADERS)
      return refuse(out, status, 431,
                    "more than 64 header fields; send fewer headers");
    st = parse_field(p, (size_t)(le - p), &out->headers[out->nheaders], &why);
    if(st)
      return refuse(out, status, st, why);
    out->nheaders++;
  }
  st = check_fields(out, &why);
  if(st)
    return refuse(out, status, st, why);
  out->head_len = (size_t)(next - buf);
  return DDAS_OK;

incomplete:
  if(len >= DDAS_HTTP_MAX_HEAD)
    return refuse(out, status, 431,
                  "the request head is longer than 16384 bytes; send "
                  "fewer or shorter headers");
  memset(out, 0, sizeof(*out));
  return DDAS_OK;
}

/* 1 when p[0..n) equals the NUL-terminated name, ASCII case ignored. */
static int name_is(const char *p, size_t n, const char *name) {
  size_t k;
  for(k = 0; k < n; k++)
    if(!name[k] || lower((unsigned char)p[k]) != lower((unsigned char)name[k]))
      return 0;
  return name[n] == '\0';
}

const ddas_http_span *ddas_http_header_get(const ddas_http_request_head *h,
                                           const char *name, size_t *count) {
  const ddas_http_span *first = NULL;
  size_t i, n = 0;
  for(i = 0; i < h->nheaders; i++)
    if(name_is(h->headers[i].name.p, h->headers[i].name.n, name) && !n++)
      first = &h->headers[i].value;
  if(count)
    *count = n;
  return first;
}

const char *ddas_http_header_find(const ddas_http_header *h, size_t n,
                                  const char *name, size_t *count) {
  const char *first = NULL;
  size_t i, c = 0;
  for(i = 0; i < n; i++)
    if(h[i].name && name_is(h[i].name, strlen(h[i].name), name) && !c++)
      first = h[i].value;
  if(count)
    *count = c;
  return first;
}

const char *ddas_http_reason(int status) {
  switch(status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 406: return "Not Acceptable";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 425: return "Too Early";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  }
  return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}
