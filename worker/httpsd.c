/* The HTTPS server of worker/httpsd.h: a fixed pool of threads, each
 * accepting and serving one connection at a time over non-blocking sockets
 * (poll() bounds every wait; a wake pipe ends waits at stop). */
#define _GNU_SOURCE /* accept4, MSG_NOSIGNAL */
#include "httpsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ddas/alloc.h"
#include "ddas/http.h"
#include "ddas/sign.h"
#include "io.h"
#include "log.h"

struct wk_httpsd_response {
  int status;
  ddas_http_header h[WK_HTTPSD_MAX_RESP_HEADERS];
  size_t nh;
  char *body;
  size_t len;
};

struct wk_httpsd {
  wk_httpsd_options o; /* allow points to the copies below */
  char **allow;
  SSL_CTX *ctx; /* NULL under insecure_plain_http */
  int lfd, wake[2], port;
  atomic_int stopping;
  wk_httpsd_handler fn;
  void *arg;
  pthread_t *threads;
  unsigned nthreads; /* started */
};

/* One connection; a thread reuses one for all its connections. */
typedef struct {
  wk_httpsd *srv;
  int fd;
  SSL *ssl;
  char buf[DDAS_HTTP_MAX_HEAD]; /* received and not yet consumed */
  size_t have;
  char scratch[DDAS_HTTP_MAX_HEAD + 2 * DDAS_HTTP_MAX_HEADERS + 8];
  ddas_http_header hdrs[DDAS_HTTP_MAX_HEADERS];
  char dn[1024], oin[64], thumb[48];
  const char *refusal;      /* set by the verify callback */
  const char *verify_error; /* OpenSSL's reason for an untrusted chain */
  int tls_ok;               /* the handshake completed */
} conn;

/* ---- responses ----------------------------------------------------------- */

static int is_token(const char *s) {
  if(!*s)
    return 0;
  for(; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if(!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c)))
      return 0;
  }
  return 1;
}

void wk_httpsd_set_status(wk_httpsd_response *r, int status) {
  r->status = status;
}

int wk_httpsd_add_header(wk_httpsd_response *r, const char *name,
                         const char *value) {
  static const char *const own[] = {"Content-Length", "Transfer-Encoding",
                                    "Connection", "Date"};
  const char *p;
  size_t i;
  if(r->nh == WK_HTTPSD_MAX_RESP_HEADERS || !is_token(name))
    goto refuse;
  for(i = 0; i < sizeof(own) / sizeof(own[0]); i++)
    if(strcasecmp(name, own[i]) == 0)
      goto refuse;
  for(p = value; *p; p++)
    if(((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
      goto refuse;
  r->h[r->nh].name = ddas_strdup(name);
  r->h[r->nh].value = ddas_strdup(value);
  if(!r->h[r->nh].name || !r->h[r->nh].value) {
    ddas_free((void *)(uintptr_t)r->h[r->nh].name);
    ddas_free((void *)(uintptr_t)r->h[r->nh].value);
    goto refuse;
  }
  r->nh++;
  return 0;
refuse:
  WK_LOG(WK_WARN, "https response header refused",
         WK_STR("header", is_token(name) ? name : "(not a token)"));
  return -1;
}

void wk_httpsd_set_body(wk_httpsd_response *r, char *body, size_t len) {
  ddas_free(r->body);
  r->body = body;
  r->len = body ? len : 0;
}

static void response_clear(wk_httpsd_response *r) {
  size_t i;
  for(i = 0; i < r->nh; i++) {
    ddas_free((void *)(uintptr_t)r->h[i].name);
    ddas_free((void *)(uintptr_t)r->h[i].value);
  }
  ddas_free(r->body);
  memset(r, 0, sizeof(*r));
}

const char *wk_httpsd_header_get(const wk_httpsd_request *r, const char *name,
                                 size_t *count) {
  return ddas_http_header_find(r->headers, r->nheaders, name, count);
}

/* An RFC 9457 problem body for the server's own refusals. */
static void problem(wk_httpsd_response *r, int st, const char *detail) {
  json_t *o = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title",
                        ddas_http_reason(st), "status", st, "detail", detail);
  char tmp[1024];
  size_t n = o ? json_dumpb(o, tmp, sizeof(tmp), JSON_COMPACT) : 0;
  char *b = n && n <= sizeof(tmp) ? ddas_malloc(n) : NULL;
  json_decref(o);
  r->status = st;
  if(b) {
    memcpy(b, tmp, n);
    wk_httpsd_set_body(r, b, n);
    wk_httpsd_add_header(r, "Content-Type", "application/problem+json");
  }
}

/* ---- socket and TLS I/O ---------------------------------------------------
 * Each returns > 0 on progress, 0 at end of stream or on an error, -1 when
 * the deadline passed, -2 when the server stops (only where stop_aborts). */

static int wait_fd(conn *c, short ev, uint64_t deadline, int stop_aborts) {
  struct pollfd p[2] = {{c->fd, ev, 0}, {c->srv->wake[0], POLLIN, 0}};
  for(;;) {
    uint64_t now = wk_mono_ms();
    int r;
    if(stop_aborts && atomic_load(&c->srv->stopping))
      return -2;
    if(now >= deadline)
      return -1;
    r = poll(p, stop_aborts ? 2 : 1,
             (int)(deadline - now > INT_MAX ? INT_MAX : deadline - now));
    if(r < 0 && errno != EINTR)
      return 0;
    if(r > 0 && p[0].revents)
      return 1;
  }
}

/* SSL_ERROR_WANT_* or EAGAIN into a poll event; 0 for a real failure. */
static short want(conn *c, int r) {
  if(c->ssl) {
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ    ? POLLIN
           : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                       : 0;
  }
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
             ? POLLIN
             : 0;
}

static long conn_read(conn *c, char *p, size_t n, uint64_t deadline,
                      int stop_aborts) {
  int k = n > INT_MAX ? INT_MAX : (int)n;
  for(;;) {
    int r = c->ssl ? SSL_read(c->ssl, p, k) : (int)recv(c->fd, p, (size_t)k, 0);
    short ev;
    if(r > 0)
      return r;
    if(r == 0 && !c->ssl)
      return 0;
    ev = want(c, r);
    if(!ev)
      return 0;
    r = wait_fd(c, ev, deadline, stop_aborts);
    if(r <= 0)
      return r == 0 ? 0 : r;
  }
}

/* Writes all of p[0..n); 0, or -1 when the client takes nothing for
 * io_timeout_ms. The limit is on a stall, not on the whole answer: a page
 * of tens of MB to a slow client may take longer than io_timeout_ms. */
static int conn_write(conn *c, const char *p, size_t n) {
  uint64_t deadline = wk_mono_ms() + (uint64_t)c->srv->o.io_timeout_ms;
  while(n) {
    int k = n > INT_MAX ? INT_MAX : (int)n, r;
    short ev;
    r = c->ssl ? SSL_write(c->ssl, p, k)
               : (int)send(c->fd, p, (size_t)k, MSG_NOSIGNAL);
    if(r > 0) {
      p += r;
      n -= (size_t)r;
      deadline = wk_mono_ms() + (uint64_t)c->srv->o.io_timeout_ms;
      continue;
    }
    ev = c->ssl                                           ? want(c, r)
         : (r < 0 && (errno == EAGAIN || errno == EINTR)) ? POLLOUT
                                                          : 0;
    if(!ev || wait_fd(c, ev, deadline, 0) <= 0)
      return -1;
  }
  return 0;
}

/* Writes the answer; `keep` says whether the connection stays open. */
static int send_response(conn *c, const wk_httpsd_response *r, int keep,
                         int head_only) {
  size_t i, cap = 256, n;
  char date[64], *h;
  struct tm tm;
  time_t t = time(NULL);
  int ok;
  for(i = 0; i < r->nh; i++)
    cap += strlen(r->h[i].name) + strlen(r->h[i].value) + 4;
  h = ddas_malloc(cap);
  if(!h)
    return -1;
  gmtime_r(&t, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  n = (size_t)snprintf(h, cap, "HTTP/1.1 %d %s\r\n", r->status,
                       ddas_http_reason(r->status));
  for(i = 0; i < r->nh; i++)
    n += (size_t)snprintf(h + n, cap - n, "%s: %s\r\n", r->h[i].name,
                          r->h[i].value);
  n += (size_t)snprintf(h + n, cap - n,
                        "Content-Length: %zu\r\nDate: %s\r\nConnection: %s\r\n"
                        "\r\n",
                        r->len, date, keep ? "keep-alive" : "close");
  ok = n < cap && conn_write(c, h, n) == 0 &&
       (head_only || !r->len || conn_write(c, r->body, r->len) == 0);
  ddas_free(h);
  return ok ? 0 : -1;
}

/* Answers a refusal of the server's own and closes: returns 0. */
/* Lingering close: reads and discards what the client is still sending
 * (at most DRAIN_BYTES, for at most DRAIN_MS) after a refusal, so that
 * closing with unread input does not make the kernel reset the connection
 * before the client has read the answer (a 413 sent before the body
 * arrived would otherwise be lost: RFC 9112 9.6). */
#define DRAIN_BYTES ((size_t)1 << 20)
#define DRAIN_MS 1000
static void drain(conn *c) {
  uint64_t deadline = wk_mono_ms() + DRAIN_MS;
  size_t got = 0;
  while(got < DRAIN_BYTES) {
    long n = conn_read(c, c->scratch, sizeof(c->scratch), deadline, 1);
    if(n <= 0)
      break;
    got += (size_t)n;
  }
}

static int refuse(conn *c, int st, const char *why) {
  wk_httpsd_response r;
  memset(&r, 0, sizeof(r));
  problem(&r, st, why);
  WK_LOG(WK_INFO, "https request refused", WK_INT("status", st),
         WK_STR("reason", why), WK_STR("oin", c->oin),
         WK_STR("thumbprint", c->thumb));
  send_response(c, &r, 0, 0);
  response_clear(&r);
  drain(c);
  return 0;
}

/* ---- requests ------------------------------------------------------------ */

/* Copies span s NUL-terminated to *p; returns the copy. */
static const char *dup_span(char **p, ddas_http_span s) {
  char *d = *p;
  memcpy(d, s.p, s.n);
  d[s.n] = '\0';
  *p += s.n + 1;
  return d;
}

/* Reads until a whole head is in c->buf. 1: *h holds it; 0: close (an
 * answer, if any, was written). */
static int read_head(conn *c, ddas_http_request_head *h) {
  const wk_httpsd_options *o = &c->srv->o;
  uint64_t deadline = 0;
  for(;;) {
    long n;
    int st = 0;
    if(c->have) {
      ddas_http_parse_head(c->buf, c->have, h, &st);
      if(st)
        return refuse(c, st, h->error);
      if(h->head_len)
        return 1;
      if(!deadline) /* the request's first byte is here */
        deadline = wk_mono_ms() + (uint64_t)o->io_timeout_ms;
    }
    n = conn_read(
        c, c->buf + c->have, sizeof(c->buf) - c->have,
        deadline ? deadline : wk_mono_ms() + (uint64_t)o->idle_timeout_ms, 1);
    if(n == -1 && deadline)
      return refuse(c, 408,
                    "the request was not received in time; send it at "
                    "once, without pauses");
    if(n <= 0)
      return 0;
    c->have += (size_t)n;
  }
}

/* Reads the body that follows the head into a new buffer. 1: done; 0:
 * close (answered when the reason is the client's). */
static int read_body(conn *c, const ddas_http_request_head *h, char **out) {
  size_t len = (size_t)h->content_length, got, avail = c->have - h->head_len;
  uint64_t deadline = wk_mono_ms() + (uint64_t)c->srv->o.io_timeout_ms;
  const char *expect = NULL;
  const ddas_http_span *e = ddas_http_header_get(h, "Expect", NULL);
  char *b;
  if(e)
    expect = e->n == 12 && strncasecmp(e->p, "100-continue", 12) == 0 ? "100"
                                                                      : "other";
  if(expect && expect[0] == 'o')
    return refuse(c, 417, "only \"Expect: 100-continue\" is understood");
  b = ddas_malloc(len + 1);
  if(!b)
    return refuse(c, 503, "out of memory; try again later");
  got = avail < len ? avail : len;
  memcpy(b, c->buf + h->head_len, got);
  c->have = avail - got;
  memmove(c->buf, c->buf + h->head_len + got, c->have);
  if(expect && got < len &&
     conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0)
    goto fail;
  while(got < len) {
    long n = conn_read(c, b + got, len - got, deadline, 1);
    if(n == -1) {
      ddas_free(b);
      return refuse(c, 408, "the request body was not received in time");
    }
    if(n <= 0)
      goto fail;
    got += (size_t)n;
  }
  b[len] = '\0';
  *out = b;
  return 1;
fail:
  ddas_free(b);
  return 0;
}

/* Serves one request. Returns 1 to keep the connection, 0 to close it. */
static int serve_request(conn *c) {
  wk_httpsd *srv = c->srv;
  ddas_http_request_head h;
  wk_httpsd_request rq;
  wk_httpsd_response rs;
  char *p = c->scratch, *body = NULL;
  size_t i;
  int keep;
  if(!read_head(c, &h))
    return 0;
  if(h.has_length && h.content_length > srv->o.max_body)
    return refuse(c, 413,
                  "the request body is larger than this server accepts");
  memset(&rq, 0, sizeof(rq));
  rq.method = dup_span(&p, h.method);
  rq.path = dup_span(&p, h.path);
  rq.query = dup_span(&p, h.query);
  for(i = 0; i < h.nheaders; i++) {
    c->hdrs[i].name = dup_span(&p, h.headers[i].name);
    c->hdrs[i].value = dup_span(&p, h.headers[i].value);
  }
  rq.headers = c->hdrs;
  rq.nheaders = h.nheaders;
  rq.peer_dn = c->dn;
  rq.peer_oin = c->oin;
  rq.peer_thumbprint = c->thumb;
  /* from here on h's spans are stale: read_body moves c->buf */
  if(!read_body(c, &h, &body))
    return 0;
  rq.body = body;
  rq.body_len = (size_t)h.content_length;
  memset(&rs, 0, sizeof(rs));
  srv->fn(srv->arg, &rq, &rs);
  ddas_free(body);
  if(rs.status < 100 || rs.status > 599) {
    WK_LOG(WK_ERROR, "https handler gave no status",
           WK_INT("status", rs.status));
    response_clear(&rs);
    problem(&rs, 500, "the server could not answer this request");
  }
  keep = h.keep_alive && !atomic_load(&srv->stopping);
  keep =
      send_response(c, &rs, keep, strcmp(rq.method, "HEAD") == 0) == 0 && keep;
  response_clear(&rs);
  return keep;
}

/* ---- TLS and client identity ----------------------------------------------
 */

/* The subject DN (RFC 2253), the OIN (subject serialNumber) and the
 * x5t#S256 of cert into c. */
static void identify(conn *c, X509 *cert) {
  X509_NAME *name = X509_get_subject_name(cert);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  int idx;
  BIO *b = BIO_new(BIO_s_mem());
  c->dn[0] = c->oin[0] = c->thumb[0] = '\0';
  if(b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
    int n = BIO_read(b, c->dn, (int)sizeof(c->dn) - 1);
    c->dn[n > 0 && BIO_pending(b) == 0 ? n : 0] = '\0'; /* too long: "" */
  }
  BIO_free(b);
  idx = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
  if(idx >= 0) {
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(
        &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if(n > 0 && (size_t)n < sizeof(c->oin) && !memchr(u, '\0', (size_t)n)) {
      memcpy(c->oin, u, (size_t)n);
      c->oin[n] = '\0';
    }
    OPENSSL_free(u);
  }
  if(X509_digest(cert, EVP_sha256(), md, &mdlen) == 1)
    ddas_b64url_encode(md, mdlen, c->thumb, sizeof(c->thumb));
}

static int allowed(const wk_httpsd *srv, const conn *c) {
  size_t i;
  if(!srv->o.nallow)
    return 1;
  for(i = 0; i < srv->o.nallow; i++) {
    const char *a = srv->allow[i];
    if(strncmp(a, "oin:", 4) == 0 ? c->oin[0] && strcmp(a + 4, c->oin) == 0
                                  : c->dn[0] && strcmp(a, c->dn) == 0)
      return 1;
  }
  return 0;
}

/* At depth 0 of a chain that verified, the allow list decides; a refusal
 * here fails the handshake with an alert. */
static int verify_cb(int ok, X509_STORE_CTX *x) {
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
  conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
  if(!c)
    return 0;
  if(!ok) {
    if(!c->refusal) {
      c->refusal = "untrusted";
      c->verify_error =
          X509_verify_cert_error_string(X509_STORE_CTX_get_error(x));
      identify(c, X509_STORE_CTX_get0_cert(x));
    }
    return 0;
  }
  if(X509_STORE_CTX_get_error_depth(x) != 0)
    return 1;
  identify(c, X509_STORE_CTX_get0_cert(x));
  if(allowed(c->srv, c))
    return 1;
  c->refusal = "not allowed";
  X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

static void log_refused(conn *c) {
  unsigned long e = ERR_peek_error();
  const char *why = c->refusal;
  char detail[160] = "";
  if(!why && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
    why = "no certificate";
  if(!why) {
    why = "handshake failed";
    if(e)
      ERR_error_string_n(e, detail, sizeof(detail));
  }
  WK_LOG(WK_WARN, "https connection refused", WK_STR("reason", why),
         WK_STR("oin", c->oin[0] ? c->oin : NULL),
         WK_STR("thumbprint", c->thumb[0] ? c->thumb : NULL),
         WK_STR("verify_error", c->verify_error),
         WK_STR("tls_error", detail[0] ? detail : NULL));
}

/* 0 when the handshake succeeded. */
static int handshake(conn *c) {
  uint64_t deadline = wk_mono_ms() + (uint64_t)c->srv->o.io_timeout_ms;
  c->ssl = SSL_new(c->srv->ctx);
  if(!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
    return -1;
  SSL_set_app_data(c->ssl, c);
  for(;;) {
    int r = SSL_accept(c->ssl);
    short ev;
    if(r == 1) {
      c->tls_ok = 1;
      return 0;
    }
    ev = want(c, r);
    if(!ev) {
      log_refused(c);
      ERR_clear_error();
      return -1;
    }
    r = wait_fd(c, ev, deadline, 1);
    if(r <= 0) {
      if(r == -1)
        WK_LOG(WK_INFO, "https connection refused",
               WK_STR("reason", "handshake timed out"));
      return -1;
    }
  }
}

static void serve_conn(conn *c, int fd) {
  c->fd = fd;
  c->ssl = NULL;
  c->have = 0;
  c->refusal = c->verify_error = NULL;
  c->tls_ok = 0;
  c->dn[0] = c->oin[0] = c->thumb[0] = '\0';
  if(!c->srv->ctx || handshake(c) == 0)
    while(!atomic_load(&c->srv->stopping) && serve_request(c))
      ;
  if(c->ssl) {
    if(c->tls_ok) /* one close_notify, not waiting for the peer's */
      SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  ERR_clear_error();
}

static void *thread_main(void *arg) {
  wk_httpsd *srv = arg;
  conn *c = ddas_calloc(1, sizeof(*c));
  if(!c) {
    WK_LOG(WK_ERROR, "https thread", WK_STR("error", "out of memory"));
    return NULL;
  }
  c->srv = srv;
  while(!atomic_load(&srv->stopping)) {
    struct pollfd p[2] = {{srv->lfd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
    int fd;
    if(poll(p, 2, -1) < 0 || atomic_load(&srv->stopping) || !p[0].revents)
      continue;
    fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if(fd < 0) {
      if(errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        WK_LOG(WK_WARN, "https accept", WK_STR("error", strerror(errno)));
        poll(p + 1, 1, 100); /* e.g. out of descriptors: do not spin */
      }
      continue;
    }
    serve_conn(c, fd);
    close(fd);
  }
  ddas_free(c);
  OPENSSL_thread_stop();
  return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int pass_cb(char *buf, int size, int rw, void *u) {
  size_t n = u ? strlen(u) : 0;
  (void)rw;
  if(!u || n >= (size_t)size)
    return 0;
  memcpy(buf, u, n);
  return (int)n;
}

/* The first OpenSSL error as text into err, after `what`. */
static int tls_fail(char *err, size_t errlen, const char *what,
                    const char *path) {
  char e[200] = "";
  unsigned long code = ERR_get_error();
  if(code)
    ERR_error_string_n(code, e, sizeof(e));
  ERR_clear_error();
  snprintf(err, errlen, "%s %s%s%s", what, path ? path : "", e[0] ? ": " : "",
           e);
  return -1;
}

static int tls_setup(wk_httpsd *s, char *err, size_t errlen) {
  const wk_httpsd_options *o = &s->o;
  STACK_OF(X509_NAME) * names;
  if(!o->cert || !o->key || !o->client_ca) {
    snprintf(err, errlen,
             "the HTTPS server needs a certificate, its key and the client "
             "CA bundle (or insecure plain HTTP for local development)");
    return -1;
  }
  s->ctx = SSL_CTX_new(TLS_server_method());
  if(!s->ctx || SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION) != 1)
    return tls_fail(err, errlen, "cannot create the TLS context", NULL);
  SSL_CTX_set_options(s->ctx, SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_default_passwd_cb(s->ctx, pass_cb);
  SSL_CTX_set_default_passwd_cb_userdata(s->ctx,
                                         (void *)(uintptr_t)o->key_passphrase);
  if(SSL_CTX_use_certificate_chain_file(s->ctx, o->cert) != 1)
    return tls_fail(err, errlen, "cannot load the server certificate", o->cert);
  if(SSL_CTX_use_PrivateKey_file(s->ctx, o->key, SSL_FILETYPE_PEM) != 1)
    return tls_fail(err, errlen,
                    "cannot load the server key (wrong or missing "
                    "passphrase?)",
                    o->key);
  if(SSL_CTX_check_private_key(s->ctx) != 1)
    return tls_fail(err, errlen, "the key does not match the certificate",
                    o->key);
  if(SSL_CTX_load_verify_locations(s->ctx, o->client_ca, NULL) != 1)
    return tls_fail(err, errlen, "cannot load the client CA bundle",
                    o->client_ca);
  names = SSL_load_client_CA_file(o->client_ca);
  if(names)
    SSL_CTX_set_client_CA_list(s->ctx, names);
  SSL_CTX_set_verify(s->ctx,
                     SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
                         SSL_VERIFY_CLIENT_ONCE,
                     verify_cb);
  SSL_CTX_set_verify_depth(s->ctx, WK_HTTPSD_VERIFY_DEPTH);
  SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(s->ctx, 0);
  return 0;
}

/* Copies the allow list; refuses entries that are neither "oin:<digits>"
 * nor a DN. */
static int copy_allow(wk_httpsd *s, char *err, size_t errlen) {
  size_t i;
  if(!s->o.nallow)
    return 0;
  s->allow = ddas_calloc(s->o.nallow, sizeof(char *));
  if(!s->allow) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for(i = 0; i < s->o.nallow; i++) {
    const char *a = s->o.allow[i];
    int ok = a && (strncmp(a, "oin:", 4) == 0
                       ? a[4] && strspn(a + 4, "0123456789") == strlen(a + 4)
                       : strchr(a, '=') != NULL);
    if(!ok) {
      snprintf(err, errlen,
               "allowed client %zu is neither \"oin:<digits>\" nor a subject "
               "DN such as \"CN=name,O=organisation,C=NL\"",
               i + 1);
      return -1;
    }
    s->allow[i] = ddas_strdup(a);
    if(!s->allow[i]) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
  }
  return 0;
}

static int listen_on(wk_httpsd *s, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int one = 1;
  if(wk_parse_listen("the HTTPS listen address", s->o.listen, &ss, err, errlen))
    return -1;
  s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if(s->lfd < 0 ||
     setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
     bind(s->lfd, (struct sockaddr *)&ss,
          ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in)) ||
     listen(s->lfd, WK_HTTPSD_BACKLOG) ||
     getsockname(s->lfd, (struct sockaddr *)&ss, &sl)) {
    snprintf(err, errlen, "cannot listen on %s: %s", s->o.listen,
             strerror(errno));
    return -1;
  }
  s->port =
      ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

/* Starts the threads with SIGPIPE blocked (they inherit the mask). */
static int start_threads(wk_httpsd *s, char *err, size_t errlen) {
  sigset_t block, old;
  int rc = 0;
  s->threads = ddas_calloc(s->o.threads, sizeof(pthread_t));
  if(!s->threads) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  while(s->nthreads < s->o.threads && !rc) {
    rc = pthread_create(&s->threads[s->nthreads], NULL, thread_main, s);
    if(!rc)
      s->nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if(rc)
    snprintf(err, errlen, "cannot start the server threads: %s", strerror(rc));
  return rc ? -1 : 0;
}

int wk_httpsd_start(const wk_httpsd_options *o, wk_httpsd_handler fn, void *ctx,
                    wk_httpsd **out, char *err, size_t errlen) {
  wk_httpsd *s;
  *out = NULL;
  if(!o || !fn || !o->listen) {
    snprintf(err, errlen, "the HTTPS server needs a listen address");
    return -1;
  }
  s = ddas_calloc(1, sizeof(*s));
  if(!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->o = *o;
  s->o.max_body = o->max_body ? o->max_body : 64 * 1024;
  s->o.threads = o->threads ? o->threads : 16;
  s->o.idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 30000;
  s->o.io_timeout_ms = o->io_timeout_ms > 0 ? o->io_timeout_ms : 10000;
  s->fn = fn;
  s->arg = ctx;
  s->lfd = s->wake[0] = s->wake[1] = -1;
  atomic_init(&s->stopping, 0);
  if(copy_allow(s, err, errlen) ||
     (!o->insecure_plain_http && tls_setup(s, err, errlen)))
    goto fail;
  if(pipe2(s->wake, O_CLOEXEC | O_NONBLOCK)) {
    snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
    goto fail;
  }
  if(listen_on(s, err, errlen) || start_threads(s, err, errlen))
    goto fail;
  if(o->insecure_plain_http)
    WK_LOG(WK_WARN, "https server",
           WK_STR("warning", "plain HTTP without TLS or client "
                             "certificates: for local development only"));
  *out = s;
  return 0;
fail:
  wk_httpsd_stop(s);
  return -1;
}

int wk_httpsd_port(const wk_httpsd *s) { return s ? s->port : 0; }

void wk_httpsd_stop(wk_httpsd *s) {
  unsigned i;
  size_t k;
  if(!s)
    return;
  atomic_store(&s->stopping, 1);
  if(s->wake[1] >= 0 && write(s->wake[1], "x", 1) < 0)
    WK_LOG(WK_WARN, "https server", WK_STR("error", "cannot wake threads"));
  for(i = 0; i < s->nthreads; i++)
    pthread_join(s->threads[i], NULL);
  ddas_free(s->threads);
  if(s->lfd >= 0)
    close(s->lfd);
  for(i = 0; i < 2; i++)
    if(s->wake[i] >= 0)
      close(s->wake[i]);
  SSL_CTX_free(s->ctx);
  for(k = 0; s->allow && k < s->o.nallow; k++)
    ddas_free(s->allow[k]);
  ddas_free(s->allow);
  ddas_free(s);
}
