/* The forwarder's transfers (see forward.h): batches in flight on libcurl's
 * multi interface, the OAuth 2.0 token endpoint, and retries as timers.
 *
 * One multi handle carries every request of a forwarder: up to as many
 * batches at once as the caller begins (the sender stage of `run` keeps
 * cbs.max_in_flight going), connections kept in the multi's cache and
 * reused, HTTP/2 when the server offers it in ALPN (then the requests share
 * one connection as streams). Nothing here blocks: a backoff is a due time,
 * a batch waiting for a token waits in a list, and wk_forwarder_drive waits
 * on the sockets and the earliest due time at once. One token request at a
 * time serves every batch that needs one.
 *
 * Every decision is the core's (ddas/exchange.h): what a status means, how
 * long to wait, whether another attempt fits the budget. Secrets (client
 * secret, access token) are handed to libcurl only as options and request
 * headers, wiped after use, and never reach a log line or last_error. */
#define _DEFAULT_SOURCE
#include "curltls.h"
#include "forward_int.h"
#include "io.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* A batch begun with wk_forwarder_begin and not yet taken back. */
typedef enum {
  X_DUE,    /* waiting for its due time, then an attempt */
  X_TOKEN,  /* waiting for the token request */
  X_ACTIVE, /* a request in flight */
  X_DONE    /* finished: rc and the result are final */
} xstate;

struct wk_xfer {
  char batch_id[WK_BATCH_ID_MAX + 1];
  const void *body; /* borrowed until taken back */
  size_t len;
  int64_t iat; /* of the signature; 0 for a replay */
  wk_send_result *r;
  void *ud;
  xstate state;
  int rc;             /* once X_DONE: 0, -1 or -2 (see wk_forwarder_send) */
  uint64_t t0;        /* monotonic ms of the first attempt */
  uint64_t due_ms;    /* X_DUE: not before */
  unsigned counted;   /* attempts that used the retry budget */
  int auth_retried;   /* the one retry with a fresh token was used */
  unsigned token_gen; /* the token the request in flight carries */
  char when[40];      /* start of the attempt in flight */
  CURL *h;
  struct curl_slist *hdrs; /* wiped: it holds the token */
  wk_resp resp;
  char errbuf[CURL_ERROR_SIZE];
  struct wk_xfer *next;
};

/* ---- small helpers ------------------------------------------------------ */

/* Frees a string the result holds through a const pointer. */
static void free_const(const char *p) { ddas_free((void *)(uintptr_t)p); }

static int stopped(const wk_forwarder *f) { return f->stop && *f->stop; }

/* Batch ids name files in the outbox and go into a header: letters, digits,
 * '-' and '_' only (the core's ids are 32 hex digits). */
static int valid_batch_id(const char *id) {
  size_t i;
  if(wk_fwd_empty(id))
    return 0;
  for(i = 0; id[i]; i++) {
    char c = id[i];
    if(i >= WK_BATCH_ID_MAX ||
       !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

static void free_slist_wiped(struct curl_slist *l) {
  struct curl_slist *p;
  for(p = l; p; p = p->next)
    OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

static void wipe_free(char *p, size_t n) {
  if(p) {
    OPENSSL_cleanse(p, n);
    ddas_free(p);
  }
}

/* ---- libcurl callbacks and options -------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  wk_resp *r = ud;
  size_t total = size * n, room = WK_RESP_MAX - r->len;
  size_t keep = total < room ? total : room;
  memcpy(r->body + r->len, data, keep);
  r->len += keep;
  r->body[r->len] = '\0';
  return total; /* the rest is read and dropped, not an error */
}

/* Copies a header value from the peer, trimmed, at most cap - 1 bytes; the
 * copy ends at a control character, or with token_only at anything but
 * letters, digits, '_', '-' and '.' (it may end up in logs). */
static void header_value(const char *v, size_t n, char *out, size_t cap,
                         int token_only) {
  size_t o = 0;
  while(n && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  while(n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
              v[n - 1] == '\t'))
    n--;
  for(; n && o + 1 < cap; v++, n--) {
    char c = *v;
    if(token_only &&
       !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      break;
    if(!token_only && ((unsigned char)c < 0x20 || c == 0x7f))
      break;
    out[o++] = c;
  }
  out[o] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  wk_resp *r = ud;
  size_t total = size * n;
  static const char ra[] = "Retry-After:", fsc[] = "Fsc-Error-Code:";
  if(total >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* a new response (after a 1xx): forget the previous one */
    r->retry_after[0] = r->fsc_error[0] = '\0';
    r->len = 0;
    r->body[0] = '\0';
  } else if(total > sizeof(ra) - 1 &&
            strncasecmp(data, ra, sizeof(ra) - 1) == 0) {
    header_value(data + sizeof(ra) - 1, total - (sizeof(ra) - 1),
                 r->retry_after, sizeof(r->retry_after), 0);
  } else if(total > sizeof(fsc) - 1 &&
            strncasecmp(data, fsc, sizeof(fsc) - 1) == 0) {
    header_value(data + sizeof(fsc) - 1, total - (sizeof(fsc) - 1),
                 r->fsc_error, sizeof(r->fsc_error), 1);
  }
  return total;
}

/* The options every handle shares: TLS, timeouts, protocol. Set once on
 * the template; batch handles are duplicated from it. */
static int setup_template(CURL *h, const wk_config *cfg) {
  const wk_curl_tls tls = {cfg->cbs_ca, cfg->cbs_cert, cfg->cbs_key,
                           cfg->cbs_key_passphrase,
                           cfg->allow_insecure_http != 0};
  CURLcode rc = wk_curl_tls_setup(h, &tls);
#define SET(opt, val)                                                          \
  do {                                                                         \
    if(!rc)                                                                    \
      rc = curl_easy_setopt(h, opt, val);                                      \
  } while(0)
  SET(CURLOPT_CONNECTTIMEOUT_MS,
      cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000L);
  SET(CURLOPT_TIMEOUT_MS, cfg->timeout_ms > 0 ? cfg->timeout_ms : 120000L);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_USERAGENT, "ddas-worker");
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_POST, 1L);
  /* a new request waits for a connection of the multi's cache (or an
   * HTTP/2 stream on one) rather than opening one more at once */
  SET(CURLOPT_PIPEWAIT, 1L);
#undef SET
  /* HTTP/2 when the server offers it in ALPN (an FSC Outway may); HTTP/1.1
   * otherwise, and with a libcurl built without HTTP/2 */
  (void)curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  return rc == CURLE_OK ? 0 : -1;
}

/* Points h's callbacks and error buffer at one request's own storage. */
static void bind_response(CURL *h, wk_resp *resp, char *errbuf) {
  resp->len = 0;
  resp->body[0] = '\0';
  resp->retry_after[0] = resp->fsc_error[0] = '\0';
  errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

/* A certificate that verification refused, or a CA, certificate or CRL file
 * that cannot be used: retrying will not fix it, so it is a configuration
 * fault (stall and probe) rather than a transient one (retry, then park).
 * A handshake that merely breaks off (CURLE_SSL_CONNECT_ERROR, also what a
 * server refusing our client certificate looks like) stays transient: a
 * network fault looks the same. */
static int is_cert_fault(CURLcode rc) {
  switch(rc) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_CRL_BADFILE: return 1;
  default: return 0;
  }
}

/* A short reason for a transfer that got no HTTP response. */
static void transport_error(CURLcode rc, const char *errbuf, char *out,
                            size_t cap) {
  const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
  const char *prefix;
  switch(rc) {
  case CURLE_OPERATION_TIMEDOUT: prefix = "timeout: "; break;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: prefix = "DNS: "; break;
  case CURLE_COULDNT_CONNECT: prefix = "connection failed: "; break;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING: prefix = "connection reset: "; break;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED: prefix = "TLS: "; break;
  default: prefix = ""; break;
  }
  snprintf(out, cap, "%s%.200s", prefix, why);
}

/* The HTTP status of a finished transfer (0 when there was no response;
 * then t->error says why and t->cert_fault is set for certificate
 * faults), with t->retry_after_s from the response. */
static int transfer_status(CURL *h, CURLcode rc, const char *errbuf,
                           const wk_resp *resp, wk_try *t) {
  long status = 0;
  t->retry_after_s = -1;
  if(rc != CURLE_OK) {
    transport_error(rc, errbuf, t->error, sizeof(t->error));
    t->cert_fault = is_cert_fault(rc);
    return 0;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if(*resp->retry_after)
    t->retry_after_s = ddas_retry_after(resp->retry_after, (int64_t)time(NULL));
  return status > 0 && status < 1000 ? (int)status : 0;
}

/* "HTTP 403 ERROR_CODE_WRONG_GROUP_ID_IN_TOKEN" */
static void http_error(const wk_resp *resp, const char *prefix, int status,
                       char *out, size_t cap) {
  snprintf(out, cap, "%sHTTP %d%s%s%s", prefix, status,
           *resp->fsc_error ? " " : "", resp->fsc_error,
           status >= 300 && status < 400 ? " (redirects are not followed)"
                                         : "");
}

/* A batch handle: an idle one, or a new copy of the template. */
static CURL *take_handle(wk_forwarder *f) {
  if(f->nidle)
    return f->idle[--f->nidle];
  return curl_easy_duphandle(f->tmpl);
}

/* Gives a handle back (removed from the multi, request options cleared):
 * kept for the next batch while there is room, else freed. */
static void give_handle(wk_forwarder *f, CURL *h) {
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)NULL);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, (void *)NULL);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, (char *)NULL);
  if(f->nidle == f->idle_cap) {
    size_t ncap = f->idle_cap ? f->idle_cap * 2 : 8;
    CURL **n = ddas_malloc(ncap * sizeof(*n));
    if(!n) {
      curl_easy_cleanup(h);
      return;
    }
    if(f->nidle)
      memcpy(n, f->idle, f->nidle * sizeof(*n));
    ddas_free(f->idle);
    f->idle = n;
    f->idle_cap = ncap;
  }
  f->idle[f->nidle++] = h;
}

/* ---- OAuth 2.0 client credentials --------------------------------------- */

static void drop_token(wk_forwarder *f) {
  wk_fwd_free_secret(f->token);
  f->token = NULL;
  f->token_until_ms = 0;
}

static int token_chars_ok(const char *s) {
  size_t i;
  for(i = 0; s[i]; i++)
    if((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return i > 0 && i <= WK_TOKEN_MAX;
}

/* Parses the token response in resp into f->token. 0, or -1 with a reason
 * in t. The response is wiped either way. */
static int parse_token(wk_forwarder *f, wk_resp *resp, wk_try *t) {
  json_error_t je;
  json_t *root = json_loadb(resp->body, resp->len, 0, &je), *v;
  const char *tok;
  long long expires = 0;
  uint64_t now = wk_mono_ms();
  int rc = -1;
  if(!json_is_object(root)) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: the response is not a JSON object");
    goto out;
  }
  v = json_object_get(root, "token_type");
  if(v && (!json_is_string(v) || strcasecmp(json_string_value(v), "bearer"))) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: token_type is not Bearer");
    goto out;
  }
  v = json_object_get(root, "access_token");
  tok = json_is_string(v) ? json_string_value(v) : NULL;
  if(!tok || !token_chars_ok(tok)) {
    snprintf(t->error, sizeof(t->error),
             "token endpoint: no usable access_token in the response");
    goto out;
  }
  v = json_object_get(root, "expires_in");
  if(json_is_integer(v))
    expires = json_integer_value(v);
  else if(json_is_real(v))
    expires = (long long)json_real_value(v);
  else if(json_is_string(v))
    expires = strtoll(json_string_value(v), NULL, 10);
  drop_token(f);
  f->token = ddas_strdup(tok);
  if(!f->token) {
    snprintf(t->error, sizeof(t->error), "out of memory");
    goto out;
  }
  f->token_gen++;
  /* Without a usable expires_in the token serves the batches waiting for
   * it now, and the next batch asks for a new one. */
  expires -= f->refresh_margin_s;
  f->token_until_ms =
      now +
      (expires > 0 ? (uint64_t)(expires > 31536000 ? 31536000 : expires) : 0) *
          1000u;
  rc = 0;
out:
  if(root) {
    /* the parsed copy of the token lives in jansson's memory: wipe it */
    v = json_object_get(root, "access_token");
    if(json_is_string(v))
      OPENSSL_cleanse((void *)(uintptr_t)json_string_value(v),
                      json_string_length(v));
  }
  json_decref(root);
  OPENSSL_cleanse(resp->body, resp->len);
  resp->len = 0;
  return rc;
}

static int append_form(char **form, size_t *len, size_t *cap, const char *name,
                       const char *value) {
  char *esc = curl_easy_escape(NULL, value, 0);
  size_t need;
  int rc = -1;
  if(!esc)
    return -1;
  need = *len + strlen(name) + strlen(esc) + 3;
  if(need > *cap) {
    size_t ncap = need * 2;
    char *n = ddas_malloc(ncap);
    if(!n)
      goto out;
    if(*form) {
      memcpy(n, *form, *len + 1);
      wipe_free(*form, *len);
    }
    *form = n;
    *cap = ncap;
  }
  *len += (size_t)snprintf(*form + *len, *cap - *len, "%s%s=%s",
                           *len ? "&" : "", name, esc);
  rc = 0;
out:
  OPENSSL_cleanse(esc, strlen(esc));
  curl_free(esc);
  return rc;
}

/* Wipes and frees what the token request held; its handle leaves the
 * multi. */
static void token_req_end(wk_forwarder *f) {
  wk_token_req *q = &f->treq;
  if(q->busy)
    curl_multi_remove_handle(f->multi, q->h);
  q->busy = 0;
  curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, (char *)NULL);
  curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(q->h, CURLOPT_USERNAME, (char *)NULL);
  curl_easy_setopt(q->h, CURLOPT_PASSWORD, (char *)NULL);
  wipe_free(q->form, q->flen);
  if(q->uid) {
    OPENSSL_cleanse(q->uid, strlen(q->uid));
    curl_free(q->uid);
  }
  if(q->secret) {
    OPENSSL_cleanse(q->secret, strlen(q->secret));
    curl_free(q->secret);
  }
  free_slist_wiped(q->hdrs);
  q->form = q->uid = q->secret = NULL;
  q->hdrs = NULL;
  q->flen = 0;
  OPENSSL_cleanse(q->resp.body, q->resp.len);
}

/* Starts the token request (client credentials). 0, or -1 when memory or
 * libcurl failed (then t->error says so). */
static int token_start(wk_forwarder *f, wk_try *t) {
  wk_token_req *q = &f->treq;
  size_t cap = 0;
  struct curl_slist *tmp;
  f->stats.token_requests++;
  if(append_form(&q->form, &q->flen, &cap, "grant_type",
                 "client_credentials") ||
     (f->scope && append_form(&q->form, &q->flen, &cap, "scope", f->scope)))
    goto nomem;
  if(f->auth_basic) {
    /* RFC 6749 2.3.1: both are form-urlencoded before Basic encoding */
    q->uid = curl_easy_escape(NULL, f->client_id, 0);
    q->secret = curl_easy_escape(NULL, f->client_secret, 0);
    if(!q->uid || !q->secret)
      goto nomem;
  } else if(append_form(&q->form, &q->flen, &cap, "client_id", f->client_id) ||
            append_form(&q->form, &q->flen, &cap, "client_secret",
                        f->client_secret)) {
    goto nomem;
  }
  if(!(q->hdrs = curl_slist_append(
           NULL, "Content-Type: application/x-www-form-urlencoded")) ||
     !(tmp = curl_slist_append(q->hdrs, "Accept: application/json")) ||
     !(tmp = curl_slist_append(q->hdrs, "Expect:")))
    goto nomem;
  bind_response(q->h, &q->resp, q->errbuf);
  if(curl_easy_setopt(q->h, CURLOPT_URL, f->token_url) ||
     curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, q->hdrs) ||
     curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, q->form) ||
     curl_easy_setopt(q->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->flen) ||
     curl_easy_setopt(q->h, CURLOPT_HTTPAUTH,
                      (long)(f->auth_basic ? CURLAUTH_BASIC : CURLAUTH_NONE)) ||
     curl_easy_setopt(q->h, CURLOPT_USERNAME, q->uid) ||
     curl_easy_setopt(q->h, CURLOPT_PASSWORD, q->secret) ||
     curl_multi_add_handle(f->multi, q->h) != CURLM_OK)
    goto nomem;
  q->busy = 1;
  return 0;
nomem:
  token_req_end(f);
  snprintf(t->error, sizeof(t->error), "out of memory");
  return -1;
}

/* What a finished token request means, in t: FORWARDED when f->token is
 * set, another outcome (with t->from_token) when the endpoint failed. */
static void token_result(wk_forwarder *f, CURLcode crc, wk_try *t) {
  wk_token_req *q = &f->treq;
  int status = transfer_status(q->h, crc, q->errbuf, &q->resp, t);
  t->status = status;
  if(status == 0) {
    char why[sizeof(t->error)];
    snprintf(why, sizeof(why), "%s", t->error);
    snprintf(t->error, sizeof(t->error), "token endpoint: %.200s", why);
    t->outcome = t->cert_fault ? DDAS_OUT_CONFIG_FAULT : DDAS_OUT_TRANSIENT;
  } else if(status < 200 || status >= 300) {
    t->outcome = ddas_classify(status);
    /* a refused token request is the configuration's fault, not the
     * batch's */
    if(t->outcome != DDAS_OUT_TRANSIENT)
      t->outcome = DDAS_OUT_CONFIG_FAULT;
    http_error(&q->resp, "token endpoint: ", status, t->error,
               sizeof(t->error));
  } else if(parse_token(f, &q->resp, t)) {
    /* a 2xx without a usable token: the endpoint is not what we think */
    t->outcome = strcmp(t->error, "out of memory") ? DDAS_OUT_CONFIG_FAULT
                                                   : DDAS_OUT_TRANSIENT;
  } else {
    t->outcome = DDAS_OUT_FORWARDED;
    if(f->metrics)
      atomic_fetch_add(&f->metrics->token_refreshes, 1);
  }
  if(t->outcome != DDAS_OUT_FORWARDED) {
    t->from_token = 1;
    f->stats.token_failures++;
  }
}

/* ---- results ------------------------------------------------------------ */

void wk_send_result_clear(wk_send_result *r) {
  size_t i;
  if(!r)
    return;
  ddas_free(r->signature);
  ddas_free(r->problem);
  for(i = 0; i < r->nlog && i < WK_MAX_ATTEMPT_LOG; i++) {
    free_const(r->log[i].time);
    free_const(r->log[i].error);
  }
  memset(r, 0, sizeof(*r));
}

/* Records one attempt in r->log. When the log is full the second entry
 * gives way, so that the first and the latest attempts are kept. Out of
 * memory only loses the entry, never the outcome. */
static void add_log(wk_send_result *r, const char *when, int status,
                    const char *error) {
  char *t = ddas_strdup(when), *e = NULL;
  if(!wk_fwd_empty(error))
    e = ddas_strdup(error);
  if(!t || (!wk_fwd_empty(error) && !e)) {
    ddas_free(t);
    ddas_free(e);
    return;
  }
  if(r->nlog == WK_MAX_ATTEMPT_LOG) {
    free_const(r->log[1].time);
    free_const(r->log[1].error);
    memmove(&r->log[1], &r->log[2],
            (WK_MAX_ATTEMPT_LOG - 2) * sizeof(r->log[0]));
    r->nlog--;
  }
  r->log[r->nlog].time = t;
  r->log[r->nlog].http_status = status;
  r->log[r->nlog].error = e;
  r->nlog++;
}

/* Checks the arguments and fixes the Digest and signature of the batch in
 * r (and *iat, 0 for a replay). 0, or -1 with r->last_error set. */
static int prepare(wk_forwarder *f, const char *batch_id, const void *body,
                   size_t len, const char *digest, const char *signature,
                   wk_send_result *r, int64_t *iat) {
  ddas_result dr;
  if(!f || (!body && len)) {
    snprintf(r->last_error, sizeof(r->last_error), "invalid arguments");
    return -1;
  }
  if(!valid_batch_id(batch_id)) {
    snprintf(r->last_error, sizeof(r->last_error),
             "invalid batch id (1 to %d letters, digits, '-' or '_')",
             WK_BATCH_ID_MAX);
    return -1;
  }
  /* Digest, signature (iat of the first attempt) and Idempotency-Key are
   * fixed here: every retry sends the same bytes and headers. */
  *iat = (int64_t)time(NULL);
  if(ddas_digest_header(body, len, r->digest, sizeof(r->digest))) {
    snprintf(r->last_error, sizeof(r->last_error), "cannot compute Digest");
    return -1;
  }
  if(digest && strcmp(digest, r->digest) != 0) {
    snprintf(r->last_error, sizeof(r->last_error),
             "the recorded Digest does not match the body");
    return -1;
  }
  if(signature) {
    /* a replay: the exact signature sent before (its iat is in it) */
    r->signature = ddas_strdup(signature);
    if(!r->signature) {
      snprintf(r->last_error, sizeof(r->last_error), "out of memory");
      return -1;
    }
    *iat = 0;
  } else {
    dr = ddas_sign(f->signer, f->profile, body, len, *iat, &r->signature);
    if(dr) {
      snprintf(r->last_error, sizeof(r->last_error), "cannot sign: %s",
               ddas_result_str(dr));
      return -1;
    }
  }
  return 0;
}

/* ---- one batch ---------------------------------------------------------- */

static void finish(wk_xfer *x, int rc) {
  x->state = X_DONE;
  x->rc = rc;
}

/* The batch is given up because its caller aborted it (a revocation, a
 * shutdown): neither forwarded nor to be parked; its offsets stay. */
static void abandon(wk_xfer *x) {
  x->r->outcome = DDAS_OUT_TRANSIENT;
  snprintf(x->r->last_error, sizeof(x->r->last_error),
           "abandoned: shutting down");
  finish(x, -2);
}

/* Ends the request of x in flight: its handle leaves the multi, its
 * headers (with the token) are wiped. */
static void end_request(wk_forwarder *f, wk_xfer *x) {
  if(!x->h)
    return;
  curl_multi_remove_handle(f->multi, x->h);
  give_handle(f, x->h);
  x->h = NULL;
  free_slist_wiped(x->hdrs);
  x->hdrs = NULL;
}

/* Adds a header line to x->hdrs. 0, or -1 out of memory. */
static int add_hdr(wk_xfer *x, const char *line) {
  struct curl_slist *tmp = curl_slist_append(x->hdrs, line);
  if(!tmp)
    return -1;
  x->hdrs = tmp;
  return 0;
}

/* Adds "prefix value" as a header line, wiping the temporary copy. */
static int add_hdr2(wk_xfer *x, const char *prefix, const char *value) {
  size_t n = strlen(prefix) + strlen(value) + 1;
  char *line = ddas_malloc(n);
  int rc;
  if(!line)
    return -1;
  snprintf(line, n, "%s%s", prefix, value);
  rc = add_hdr(x, line);
  wipe_free(line, n - 1);
  return rc;
}

/* The request headers of x's POST. 0, or -1 out of memory. */
static int build_headers(wk_forwarder *f, wk_xfer *x) {
  size_t i;
  if(add_hdr(x, "Content-Type: application/json") ||
     add_hdr(x, "Accept: application/json, application/problem+json") ||
     add_hdr2(x, "Digest: ", x->r->digest) ||
     add_hdr2(x, "nlgov-adr-payload-sig: ", x->r->signature) ||
     add_hdr2(x, "Idempotency-Key: ", x->batch_id) ||
     (f->token && add_hdr2(x, "Authorization: Bearer ", f->token)))
    return -1;
  for(i = 0; i < f->nhdr; i++)
    if(add_hdr(x, f->hdr_lines[i]))
      return -1;
  return add_hdr(x, "Expect:");
}

/* Puts x's POST in flight. 0, or -1 out of memory (x->r->last_error). */
static int start_request(wk_forwarder *f, wk_xfer *x) {
  wk_fwd_now(x->when, sizeof(x->when));
  x->h = take_handle(f);
  if(!x->h || build_headers(f, x))
    goto nomem;
  bind_response(x->h, &x->resp, x->errbuf);
  if(curl_easy_setopt(x->h, CURLOPT_URL, f->url) ||
     curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs) ||
     curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body ? x->body : "") ||
     curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->len) ||
     curl_easy_setopt(x->h, CURLOPT_PRIVATE, x) ||
     curl_multi_add_handle(f->multi, x->h) != CURLM_OK)
    goto nomem;
  x->token_gen = f->token_gen;
  x->state = X_ACTIVE;
  f->stats.requests++;
  return 0;
nomem:
  if(x->h) {
    give_handle(f, x->h);
    x->h = NULL;
  }
  free_slist_wiped(x->hdrs);
  x->hdrs = NULL;
  snprintf(x->r->last_error, sizeof(x->r->last_error), "out of memory");
  return -1;
}

/* What the retry loop does after an attempt. */
typedef enum { AFTER_DONE, AFTER_AGAIN_NOW, AFTER_TRANSIENT } after_try;

/* Settles the outcome of attempt t: a final one (forwarded, refused,
 * configuration fault) is counted and logged; a refused token is dropped
 * for one retry at once (outside the retry budget); a transient one is
 * left to the backoff. */
static after_try settle(wk_forwarder *f, wk_xfer *x, const wk_try *t) {
  wk_send_result *r = x->r;
  const char *oname = ddas_outcome_name(t->outcome);
  switch(t->outcome) {
  case DDAS_OUT_FORWARDED:
    f->stats.forwarded++;
    wk_fwd_log(f, WK_INFO, "batch forwarded", x->batch_id, r->attempts,
               f->outbox ? -1 : t->status, oname, t->error, -1);
    return AFTER_DONE;
  case DDAS_OUT_REFUSED:
    if(x->resp.len) {
      r->problem = ddas_strndup(x->resp.body, x->resp.len);
      /* without memory the batch is parked without the details */
    }
    f->stats.refused++;
    f->stats.parked++;
    wk_fwd_log(f, WK_WARN, "batch refused", x->batch_id, r->attempts, t->status,
               oname, t->error, -1);
    return AFTER_DONE;
  case DDAS_OUT_AUTH:
    if(f->token_url && !x->auth_retried) {
      /* one fresh token and one retry, outside the retry budget; the token
       * is dropped only if no newer one came meanwhile */
      x->auth_retried = 1;
      if(x->token_gen == f->token_gen)
        drop_token(f);
      wk_fwd_log(f, WK_WARN, "token refused, retrying with a fresh token",
                 x->batch_id, r->attempts, t->status, oname, t->error, 0);
      return AFTER_AGAIN_NOW;
    }
    r->outcome = DDAS_OUT_CONFIG_FAULT;
    if(!f->token_url) {
      size_t n = strlen(r->last_error);
      snprintf(r->last_error + n, sizeof(r->last_error) - n,
               " (no cbs.token_url configured)");
    }
    /* fall through */
  case DDAS_OUT_CONFIG_FAULT:
    f->stats.config_faults++;
    f->stats.parked++;
    wk_fwd_log(f, WK_ERROR, "configuration fault", x->batch_id, r->attempts,
               t->status, ddas_outcome_name(DDAS_OUT_CONFIG_FAULT),
               r->last_error, -1);
    return AFTER_DONE;
  case DDAS_OUT_TRANSIENT: break;
  }
  return AFTER_TRANSIENT;
}

/* Counts the reason for retrying after the transient attempt t. */
static void count_retry(wk_forwarder *f, const wk_try *t) {
  int why;
  f->stats.transient_retries++;
  if(!f->metrics)
    return;
  why = t->status == 408                   ? WK_RETRY_HTTP_408
        : t->status == 425                 ? WK_RETRY_HTTP_425
        : t->status == 429                 ? WK_RETRY_HTTP_429
        : t->status >= 500                 ? WK_RETRY_HTTP_5XX
        : t->from_token                    ? WK_RETRY_TOKEN
        : !strncmp(t->error, "TLS", 3)     ? WK_RETRY_TLS
        : !strncmp(t->error, "timeout", 7) ? WK_RETRY_TIMEOUT
                                           : WK_RETRY_CONNECTION;
  atomic_fetch_add(&f->metrics->retries[why], 1);
}

/* After a transient attempt t: sets the due time of the next attempt when
 * the policy allows one, else the batch is finished (to be parked). */
static void schedule_retry(wk_forwarder *f, wk_xfer *x, const wk_try *t) {
  const char *oname = ddas_outcome_name(t->outcome);
  uint64_t now = wk_mono_ms();
  uint64_t delay = ddas_backoff_ms(++x->counted, f->base_ms, f->max_ms,
                                   t->retry_after_s, wk_fwd_rnd(f));
  if(!ddas_retry_allowed(&f->policy, x->counted, now - x->t0, delay)) {
    f->stats.parked++;
    wk_fwd_log(f, WK_ERROR, "batch not delivered, retries exhausted",
               x->batch_id, x->r->attempts, t->status, oname, t->error, -1);
    finish(x, 0);
    return;
  }
  wk_fwd_log(f, WK_WARN, "batch attempt failed", x->batch_id, x->r->attempts,
             t->status, oname, t->error, (long long)delay);
  count_retry(f, t);
  x->state = X_DUE;
  x->due_ms = now + delay;
}

/* Records attempt t of x (started at x->when) in its result and decides
 * what comes next: finished, again at once, or again after a backoff. */
static void after_attempt(wk_forwarder *f, wk_xfer *x, const wk_try *t) {
  wk_send_result *r = x->r;
  r->attempts++;
  if(!t->from_token)
    r->http_status = t->status;
  add_log(r, x->when, t->status,
          t->outcome == DDAS_OUT_FORWARDED ? NULL : t->error);
  r->outcome = t->outcome;
  snprintf(r->last_error, sizeof(r->last_error), "%s", t->error);
  switch(settle(f, x, t)) {
  case AFTER_DONE: finish(x, 0); return;
  case AFTER_AGAIN_NOW:
    x->state = X_DUE;
    x->due_ms = 0;
    return;
  case AFTER_TRANSIENT: schedule_retry(f, x, t); return;
  }
}

/* x's request finished with crc. */
static void request_done(wk_forwarder *f, wk_xfer *x, CURLcode crc) {
  wk_try t;
  memset(&t, 0, sizeof(t));
  if(f->metrics) {
    curl_off_t us = 0;
    curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &us);
    wk_metrics_latency(f->metrics, (double)us / 1e6);
  }
  if(crc == CURLE_OK) {
    long v = 0;
    curl_easy_getinfo(x->h, CURLINFO_HTTP_VERSION, &v);
    if(v == CURL_HTTP_VERSION_2_0)
      f->stats.http2_responses++;
  }
  t.status = transfer_status(x->h, crc, x->errbuf, &x->resp, &t);
  t.outcome = ddas_classify(t.status);
  if(!t.status && t.cert_fault)
    t.outcome = DDAS_OUT_CONFIG_FAULT;
  if(t.status && t.outcome != DDAS_OUT_FORWARDED)
    http_error(&x->resp, "", t.status, t.error, sizeof(t.error));
  end_request(f, x);
  after_attempt(f, x, &t);
}

/* The token request finished: the batches waiting for it go on, or each
 * takes its failure as an attempt of its own. */
static void token_done(wk_forwarder *f, CURLcode crc) {
  wk_try t;
  wk_xfer *x;
  memset(&t, 0, sizeof(t));
  token_result(f, crc, &t);
  token_req_end(f);
  for(x = f->xfers; x; x = x->next) {
    if(x->state != X_TOKEN)
      continue;
    if(t.outcome == DDAS_OUT_FORWARDED) {
      /* at once: a token without a usable expires_in serves just the
       * batches that waited for it */
      if(start_request(f, x))
        finish(x, -1);
    } else {
      wk_fwd_now(x->when, sizeof(x->when));
      after_attempt(f, x, &t);
    }
  }
}

/* Whether a request now needs a token first. */
static int token_needed(const wk_forwarder *f, uint64_t now) {
  return f->token_url && (!f->token || now >= f->token_until_ms);
}

/* One attempt of x, due now: at the outbox (synchronous), or a request put
 * in flight (after a token when one is needed). */
static void start_attempt(wk_forwarder *f, wk_xfer *x, uint64_t now) {
  if(!x->t0)
    x->t0 = now;
  if(f->outbox) {
    wk_try t;
    memset(&t, 0, sizeof(t));
    t.retry_after_s = -1;
    wk_fwd_now(x->when, sizeof(x->when));
    wk_fwd_try_outbox(f, x->batch_id, x->body, x->len, x->r, x->iat, &t);
    after_attempt(f, x, &t);
    return;
  }
  if(token_needed(f, now)) {
    x->state = X_TOKEN;
    if(!f->treq.busy) {
      wk_try t;
      memset(&t, 0, sizeof(t));
      drop_token(f);
      if(token_start(f, &t)) {
        snprintf(x->r->last_error, sizeof(x->r->last_error), "%s", t.error);
        finish(x, -1);
      }
    }
    return;
  }
  if(start_request(f, x))
    finish(x, -1);
}

/* ---- the engine --------------------------------------------------------- */

/* Starts every attempt that is due; *next is the earliest due time still
 * ahead (UINT64_MAX: none). */
static void start_due(wk_forwarder *f, uint64_t now, uint64_t *next) {
  wk_xfer *x;
  *next = UINT64_MAX;
  for(x = f->xfers; x; x = x->next) {
    if(x->state != X_DUE)
      continue;
    if(x->due_ms <= now)
      start_attempt(f, x, now);
    else if(x->due_ms < *next)
      *next = x->due_ms;
  }
}

/* Settles every transfer libcurl has finished. */
static void read_done(wk_forwarder *f) {
  CURLMsg *m;
  int left;
  while((m = curl_multi_info_read(f->multi, &left))) {
    wk_xfer *x = NULL;
    if(m->msg != CURLMSG_DONE)
      continue;
    if(f->treq.busy && m->easy_handle == f->treq.h) {
      token_done(f, m->data.result);
      continue;
    }
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if(x && x->state == X_ACTIVE)
      request_done(f, x, m->data.result);
  }
}

static size_t count_done(const wk_forwarder *f) {
  size_t n = 0;
  const wk_xfer *x;
  for(x = f->xfers; x; x = x->next)
    n += x->state == X_DONE;
  return n;
}

void wk_forwarder_drive(wk_forwarder *f, int wait_ms) {
  uint64_t end = wk_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
  for(;;) {
    uint64_t now = wk_mono_ms(), next;
    long ctimeout = -1;
    int running = 0, timeout;
    start_due(f, now, &next);
    curl_multi_perform(f->multi, &running);
    read_done(f);
    now = wk_mono_ms();
    if(count_done(f) || now >= end || atomic_exchange(&f->woken, 0))
      return;
    start_due(f, now, &next);
    if(count_done(f))
      return;
    timeout = (int)(end - now);
    if(next != UINT64_MAX && next - now < (uint64_t)timeout)
      timeout = (int)(next - now);
    curl_multi_timeout(f->multi, &ctimeout);
    if(ctimeout >= 0 && ctimeout < timeout)
      timeout = (int)ctimeout;
    curl_multi_poll(f->multi, NULL, 0, timeout, NULL);
  }
}

void wk_forwarder_wakeup(wk_forwarder *f) {
  if(!f || !f->multi)
    return;
  atomic_store(&f->woken, 1);
  curl_multi_wakeup(f->multi);
}

static wk_xfer *begin(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, const char *digest, const char *signature,
                      wk_send_result *r, void *ud) {
  wk_xfer *x;
  memset(r, 0, sizeof(*r));
  r->outcome = DDAS_OUT_TRANSIENT;
  x = ddas_calloc(1, sizeof(*x));
  if(!x) {
    snprintf(r->last_error, sizeof(r->last_error), "out of memory");
    return NULL;
  }
  x->r = r;
  x->ud = ud;
  x->body = body;
  x->len = len;
  x->state = X_DUE;
  if(prepare(f, batch_id, body, len, digest, signature, r, &x->iat))
    finish(x, -1);
  else
    snprintf(x->batch_id, sizeof(x->batch_id), "%s", batch_id);
  x->next = f->xfers;
  f->xfers = x;
  f->nxfers++;
  return x;
}

wk_xfer *wk_forwarder_begin(wk_forwarder *f, const char *batch_id,
                            const void *body, size_t len, wk_send_result *r,
                            void *ud) {
  if(!f || !r)
    return NULL;
  return begin(f, batch_id, body, len, NULL, NULL, r, ud);
}

void wk_forwarder_abort(wk_forwarder *f, wk_xfer *x) {
  if(!f || !x || x->state == X_DONE)
    return;
  end_request(f, x);
  abandon(x);
}

/* Unlinks the transfer at *pp and frees it (its response wiped); returns
 * its rc. */
static int drop_xfer(wk_forwarder *f, wk_xfer **pp) {
  wk_xfer *x = *pp;
  int rc = x->rc;
  *pp = x->next;
  f->nxfers--;
  OPENSSL_cleanse(&x->resp, sizeof(x->resp));
  ddas_free(x);
  return rc;
}

int wk_forwarder_take(wk_forwarder *f, void **ud) {
  wk_xfer **pp;
  for(pp = &f->xfers; *pp; pp = &(*pp)->next) {
    if((*pp)->state != X_DONE)
      continue;
    if(ud)
      *ud = (*pp)->ud;
    return drop_xfer(f, pp);
  }
  return 1;
}

size_t wk_forwarder_pending(const wk_forwarder *f) { return f ? f->nxfers : 0; }

/* Sends one batch to the end: the engine with this one transfer, watching
 * the stop flag between its waits. */
static int send_one(wk_forwarder *f, const char *batch_id, const void *body,
                    size_t len, const char *digest, const char *signature,
                    wk_send_result *r) {
  wk_xfer *x, **pp;
  if(!r)
    return -1;
  if(!f) {
    memset(r, 0, sizeof(*r));
    snprintf(r->last_error, sizeof(r->last_error), "invalid arguments");
    return -1;
  }
  x = begin(f, batch_id, body, len, digest, signature, r, NULL);
  if(!x)
    return -1;
  while(x->state != X_DONE) {
    if(stopped(f)) {
      wk_forwarder_abort(f, x);
      break;
    }
    wk_forwarder_drive(f, 100);
  }
  /* only this transfer is ours to take */
  for(pp = &f->xfers; *pp != x; pp = &(*pp)->next)
    ;
  return drop_xfer(f, pp);
}

int wk_forwarder_send(wk_forwarder *f, const char *batch_id, const void *body,
                      size_t len, wk_send_result *r) {
  return send_one(f, batch_id, body, len, NULL, NULL, r);
}

int wk_forwarder_send_signed(wk_forwarder *f, const char *batch_id,
                             const void *body, size_t len, const char *digest,
                             const char *signature, wk_send_result *r) {
  if(!digest || !signature) {
    if(r) {
      memset(r, 0, sizeof(*r));
      snprintf(r->last_error, sizeof(r->last_error), "invalid arguments");
    }
    return -1;
  }
  return send_one(f, batch_id, body, len, digest, signature, r);
}

/* ---- check-config --probe ---------------------------------------------- */

/* Drives f's multi, with nothing else in it, until h is done: its result.
 * A stop request ends the wait (CURLE_ABORTED_BY_CALLBACK). */
static CURLcode run_alone(wk_forwarder *f, CURL *h) {
  int running = 1, left;
  CURLMsg *m;
  while(running && !stopped(f)) {
    if(curl_multi_perform(f->multi, &running) != CURLM_OK)
      return CURLE_FAILED_INIT;
    if(running)
      curl_multi_poll(f->multi, NULL, 0, 100, NULL);
  }
  while((m = curl_multi_info_read(f->multi, &left)))
    if(m->msg == CURLMSG_DONE && m->easy_handle == h)
      return m->data.result;
  return CURLE_ABORTED_BY_CALLBACK;
}

/* A token from cbs.token_url (see wk_forwarder_probe). */
static int probe_token(wk_forwarder *f, char *msg, size_t cap) {
  wk_try t;
  memset(&t, 0, sizeof(t));
  if(!f->token_url) {
    snprintf(msg, cap, "skipped: cbs.token_url is not set");
    return 1;
  }
  if(!token_start(f, &t)) {
    token_result(f, run_alone(f, f->treq.h), &t);
    token_req_end(f);
  }
  if(t.outcome != DDAS_OUT_FORWARDED) {
    snprintf(msg, cap, "%s", *t.error ? t.error : "no token");
    return -1;
  }
  snprintf(msg, cap, "%s issued a token", f->token_url);
  return 0;
}

int wk_forwarder_probe(wk_forwarder *f, int token, char *msg, size_t cap) {
  wk_try t;
  wk_resp *resp = NULL;
  char errbuf[CURL_ERROR_SIZE];
  CURL *h = NULL;
  int status = -1;
  memset(&t, 0, sizeof(t));
  if(f->outbox) {
    snprintf(msg, cap, "skipped: cbs.url is an outbox directory");
    return 1;
  }
  if(token)
    return probe_token(f, msg, cap);
  /* HEAD rather than a bare handshake: under TLS 1.3 a server refuses a
   * client certificate only after the handshake, on the first exchange */
  if((resp = ddas_calloc(1, sizeof(*resp))) &&
     (h = curl_easy_duphandle(f->tmpl))) {
    bind_response(h, resp, errbuf);
    if(curl_easy_setopt(h, CURLOPT_URL, f->url) ||
       curl_easy_setopt(h, CURLOPT_NOBODY, 1L))
      snprintf(t.error, sizeof(t.error), "out of memory");
    else
      status = transfer_status(h, curl_easy_perform(h), errbuf, resp, &t);
  } else {
    snprintf(t.error, sizeof(t.error), "out of memory");
  }
  if(h)
    curl_easy_cleanup(h);
  ddas_free(resp);
  if(status <= 0) {
    snprintf(msg, cap, "%s", t.error);
    return -1;
  }
  snprintf(msg, cap, "%s answered HTTP %d to HEAD%s", f->url, status,
           strncmp(f->url, "https://", 8)
               ? " (plain HTTP, no TLS)"
               : " (TLS handshake with the client certificate done)");
  return 0;
}

/* ---- set-up and tear-down ----------------------------------------------- */

int wk_fwd_setup_curl(wk_forwarder *f, const wk_config *cfg, char *err,
                      size_t errlen) {
  long conns = cfg->max_in_flight > 0 ? cfg->max_in_flight : 16;
  if(curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, errlen, "cannot initialise libcurl");
    return -1;
  }
  f->curl_global = 1;
  f->multi = curl_multi_init();
  if(!f->multi)
    goto nomem;
  /* room in the cache for a connection per batch in flight over HTTP/1.1,
   * and the token endpoint's */
  curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, conns + 1);
  curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  if(f->outbox)
    return 0; /* the multi only waits: for due times and wake-ups */
  f->tmpl = curl_easy_init();
  f->treq.h = f->token_url ? curl_easy_init() : NULL;
  if(!f->tmpl || (f->token_url && !f->treq.h))
    goto nomem;
  if(setup_template(f->tmpl, cfg) ||
     (f->treq.h && setup_template(f->treq.h, cfg))) {
    snprintf(err, errlen,
             "libcurl lacks a required feature (HTTPS with OpenSSL, TLS "
             "1.2)");
    return -1;
  }
  return 0;
nomem:
  snprintf(err, errlen, "out of memory");
  return -1;
}

void wk_fwd_free_curl(wk_forwarder *f) {
  while(f->xfers) {
    end_request(f, f->xfers);
    drop_xfer(f, &f->xfers);
  }
  if(f->treq.h) {
    token_req_end(f);
    curl_easy_cleanup(f->treq.h);
  }
  while(f->nidle)
    curl_easy_cleanup(f->idle[--f->nidle]);
  ddas_free(f->idle);
  if(f->tmpl)
    curl_easy_cleanup(f->tmpl);
  if(f->multi)
    curl_multi_cleanup(f->multi);
  if(f->curl_global)
    curl_global_cleanup();
  drop_token(f);
}
