/* `ddas-worker serve`: CBS's official pull interface, POST /gegevens
 * (docs/spec/openapi-DDAS-SHV.yaml, openapi-DDAS-VS.yaml), answered from
 * topic.accepted.
 *
 * This file wires: the HTTPS server (httpsd.h: mutual TLS in the
 * handshake), token introspection (introspect.h), the index of
 * topic.accepted (serve_index.h) and the core, which decides everything an
 * answer holds: the request's meaning and its refusals, which deliveries
 * are served, the page's records and bytes (ddas/gegevens.h), the
 * signature (ddas/sign.h). Each request is handled in these steps, each a
 * function below: route (path and method), readiness, authorisation,
 * request signature, answer. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "ddas/alloc.h"
#include "ddas/gegevens.h"
#include "ddas/introspect.h"
#include "ddas/served.h"
#include "ddas/sign.h"
#include "httpsd.h"
#include "introspect.h"
#include "io.h"
#include "kafka.h"
#include "log.h"
#include "serve.h"
#include "serve_index.h"
#include <openssl/crypto.h>

/* Seconds a client is asked to wait (Retry-After) while the index is
 * loading or the introspection endpoint is down. */
#define RETRY_AFTER_S 5

typedef struct {
  const wk_config *cfg;
  wk_serve_index *index;
  wk_introspect *introspect; /* NULL with serve.auth = mtls */
  ddas_signer *signer;
  ddas_sig_profile profile;
  ddas_truststore *trust; /* request signatures */
} serve_ctx;

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker serve -c FILE [--port-file FILE]\n"
          "\n"
          "Answers CBS's official pull interface, POST /gegevens (SHV at\n"
          "serve.path_shv, VS at serve.path_vs), from topic.accepted: per\n"
          "organisation and reporting period the records of the latest\n"
          "completely processed delivery, page by page, each answer signed\n"
          "(Digest and nlgov-adr-payload-sig with sign.cert/sign.key).\n"
          "HTTPS with mutual TLS (serve.cert, serve.key, serve.client_ca,\n"
          "serve.allow) and, unless serve.auth = mtls, a bearer token checked\n"
          "by RFC 7662 introspection (serve.introspection_url). Reads\n"
          "topic.accepted from the beginning at start (answers 503 until it\n"
          "has) and follows it; commits nothing. Stops on SIGTERM or SIGINT.\n"
          "\n"
          "  -c, --config FILE   the configuration\n"
          "  --port-file FILE    write the bound port to FILE once listening\n"
          "                      (for serve.listen with port 0)\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 stopped by a signal, 2 usage or configuration\n"
          "error, 1 the server could not start.\n");
}

/* ---- responses ---------------------------------------------------------- */

/* Sets the answer; body (ddas_malloc'd) is handed over to the server. */
static void set_body(wk_httpsd_response *resp, int status, const char *ctype,
                     char *body, size_t len) {
  wk_httpsd_set_status(resp, status);
  wk_httpsd_add_header(resp, "Content-Type", ctype);
  wk_httpsd_set_body(resp, body, len);
}

/* An FSC error (401, 404, 405, 503): Fsc-Error-Code and the FscError body. */
static void fsc_error(wk_httpsd_response *resp, int status, const char *code,
                      const char *title, const char *detail) {
  char *body = NULL;
  size_t len = 0;
  wk_httpsd_add_header(resp, "Fsc-Error-Code", code);
  if(ddas_fsc_error_json(code, status, title, detail, &body, &len)) {
    wk_httpsd_set_status(resp, 500);
    return;
  }
  set_body(resp, status, "application/problem+json", body, len);
}

static void problem(wk_httpsd_response *resp, const ddas_problem *p,
                    const wk_httpsd_request *req) {
  char *body = NULL;
  size_t len = 0;
  if(ddas_problem_json(p, req->path, &body, &len)) {
    wk_httpsd_set_status(resp, 500);
    return;
  }
  set_body(resp, p->status, "application/problem+json", body, len);
}

static void problem_of(wk_httpsd_response *resp, const wk_httpsd_request *req,
                       int status, const char *type, const char *title,
                       const char *detail) {
  ddas_problem p;
  memset(&p, 0, sizeof(p));
  p.status = status;
  snprintf(p.type, sizeof(p.type), "%s%s", DDAS_PROBLEM_BASE, type);
  snprintf(p.title, sizeof(p.title), "%s", title);
  snprintf(p.detail, sizeof(p.detail), "%s", detail);
  problem(resp, &p, req);
}

static void retry_later(wk_httpsd_response *resp, long seconds,
                        const char *detail) {
  char v[24];
  snprintf(v, sizeof(v), "%ld", seconds > 0 ? seconds : (long)RETRY_AFTER_S);
  wk_httpsd_add_header(resp, "Retry-After", v);
  fsc_error(resp, 503, "ERROR_CODE_SERVICE_UNREACHABLE",
            "Dienst tijdelijk niet beschikbaar", detail);
}

/* ---- the steps of a request --------------------------------------------- */

/* The kind the path serves; 0 (with the answer set) for another path or
 * method. */
static ddas_kind route(const serve_ctx *s, const wk_httpsd_request *req,
                       wk_httpsd_response *resp) {
  ddas_kind kind = DDAS_KIND_UNKNOWN;
  if(!strcmp(req->path, s->cfg->serve_path_shv))
    kind = DDAS_KIND_SHV;
  else if(!strcmp(req->path, s->cfg->serve_path_vs))
    kind = DDAS_KIND_VS;
  if(kind == DDAS_KIND_UNKNOWN) {
    fsc_error(resp, 404, "ERROR_CODE_SERVICE_NOT_FOUND", "Dienst niet gevonden",
              "no service at this path: POST to serve.path_shv or "
              "serve.path_vs");
    return DDAS_KIND_UNKNOWN;
  }
  if(strcmp(req->method, "POST")) {
    wk_httpsd_add_header(resp, "Allow", "POST");
    fsc_error(resp, 405, "ERROR_CODE_METHOD_UNSUPPORTED",
              "Methode niet ondersteund", "only POST is supported here");
    return DDAS_KIND_UNKNOWN;
  }
  return kind;
}

static void unauthorised(wk_httpsd_response *resp, const char *code,
                         const char *title, const char *detail) {
  wk_httpsd_add_header(resp, "WWW-Authenticate",
                       strcmp(code, "ERROR_CODE_ACCESS_TOKEN_MISSING")
                           ? "Bearer error=\"invalid_token\""
                           : "Bearer");
  fsc_error(resp, 401, code, title, detail);
}

/* 0 when the request may go on; otherwise the answer is set. */
static int authorise(const serve_ctx *s, const wk_httpsd_request *req,
                     wk_httpsd_response *resp) {
  size_t count = 0, len = 0;
  const char *auth = wk_httpsd_header_get(req, "Authorization", &count);
  const char *tok = auth && count == 1 ? ddas_bearer_token(auth, &len) : NULL;
  char token[4096];
  wk_token_verdict v;
  if(!s->introspect)
    return 0; /* serve.auth = mtls: the handshake was the check */
  if(!tok) {
    unauthorised(resp, "ERROR_CODE_ACCESS_TOKEN_MISSING", "Geen access token",
                 "send one header Authorization: Bearer <access token>");
    return -1;
  }
  if(len >= sizeof(token)) {
    unauthorised(resp, "ERROR_CODE_ACCESS_TOKEN_INVALID",
                 "Ongeldige access token",
                 "the access token is longer than this server accepts");
    return -1;
  }
  memcpy(token, tok, len);
  token[len] = 0;
  wk_introspect_check(s->introspect, token, &v);
  OPENSSL_cleanse(token, len); /* a credential: not left on the stack (a
                                  memset the compiler may drop) */
  switch(v.verdict) {
  case DDAS_TOKEN_OK: return 0;
  case DDAS_TOKEN_EXPIRED:
    unauthorised(resp, "ERROR_CODE_ACCESS_TOKEN_EXPIRED",
                 "Access token verlopen", "fetch a new access token");
    return -1;
  case DDAS_TOKEN_UNAVAILABLE:
    retry_later(resp, v.retry_after_s,
                "the token introspection endpoint cannot be reached; try "
                "again later");
    return -1;
  default:
    unauthorised(resp, "ERROR_CODE_ACCESS_TOKEN_INVALID",
                 "Ongeldige access token",
                 "the access token is not active or lacks the required "
                 "scope");
    return -1;
  }
}

/* Verifies a signed request (Digest and nlgov-adr-payload-sig); one
 * without them passes unless serve.require_signed_requests. */
static int verify_request(const serve_ctx *s, const wk_httpsd_request *req,
                          wk_httpsd_response *resp) {
  size_t nd = 0, ns = 0;
  int has_digest = wk_httpsd_header_get(req, "Digest", &nd) != NULL;
  int has_sig = wk_httpsd_header_get(req, "nlgov-adr-payload-sig", &ns) != NULL;
  char why[200] = "";
  ddas_result r;
  if(!has_digest && !has_sig) {
    if(!s->cfg->serve_require_signed_requests)
      return 0;
    problem_of(resp, req, 400, "signature-required", "Ondertekening vereist",
               "this server requires signed requests: send Digest and "
               "nlgov-adr-payload-sig");
    return -1;
  }
  r = ddas_verify(s->trust, req->headers, req->nheaders, req->body,
                  req->body_len, (int64_t)time(NULL), NULL, why, sizeof(why));
  if(r == DDAS_OK)
    return 0;
  if(r == DDAS_ERR_NOMEM) {
    retry_later(resp, 0, "the server is short of memory; try again later");
    return -1;
  }
  {
    char detail[256];
    snprintf(detail, sizeof(detail),
             "the request signature does not verify: %s", why);
    problem_of(resp, req, 400, "invalid-signature", "Ongeldige ondertekening",
               detail);
  }
  return -1;
}

/* ---- the answer --------------------------------------------------------- */

/* What the answer needs from the index, copied under its lock. */
typedef struct {
  ddas_served_batch *b;
  size_t *records;
  char **group; /* the delivery id of each batch (borrowed from ids) */
  char **ids;   /* one per selected delivery, owned */
  size_t nb, nsel;
  ddas_page_envelope env;
  char *env_strs[4];
} answer_set;

static void answer_set_free(answer_set *a) {
  size_t i;
  for(i = 0; a->ids && i < a->nsel; i++)
    free(a->ids[i]);
  for(i = 0; i < 4; i++)
    free(a->env_strs[i]);
  free(a->ids);
  free(a->b);
  free(a->records);
  free(a->group);
}

/* Selects the deliveries of the request and copies their batches. 0, or -1
 * when memory runs out. */
static int collect(const serve_ctx *s, ddas_kind kind,
                   const ddas_gegevens_request *rq, answer_set *a) {
  const ddas_served *idx = wk_serve_index_lock(s->index);
  size_t n = 0, i, k, total = 0, *sel;
  const ddas_served_delivery *d = ddas_served_deliveries(idx, &n);
  int rc = -1;
  memset(a, 0, sizeof(*a));
  if(!(sel = calloc(n + 1, sizeof(*sel))) ||
     ddas_gegevens_select(d, n, kind, rq, sel, &a->nsel))
    goto out;
  for(i = 0; i < a->nsel; i++)
    total += d[sel[i]].nbatches;
  a->ids = calloc(a->nsel + 1, sizeof(*a->ids));
  a->b = calloc(total + 1, sizeof(*a->b));
  a->records = calloc(total + 1, sizeof(*a->records));
  a->group = calloc(total + 1, sizeof(*a->group));
  if(!a->ids || !a->b || !a->records || !a->group)
    goto out;
  for(i = 0; i < a->nsel; i++) {
    size_t nb = 0;
    const ddas_served_batch *b = ddas_served_batches(idx, sel[i], &nb);
    if(!(a->ids[i] = strdup(d[sel[i]].delivery_id)))
      goto out;
    for(k = 0; k < nb; k++, a->nb++) {
      a->b[a->nb] = b[k];
      a->records[a->nb] = b[k].records;
      a->group[a->nb] = a->ids[i];
    }
  }
  ddas_gegevens_envelope(d, sel, a->nsel, &a->env);
  a->env_strs[0] = strdup(a->env.start ? a->env.start : "");
  a->env_strs[1] = strdup(a->env.end ? a->env.end : "");
  a->env_strs[2] = strdup(a->env.delivered_at ? a->env.delivered_at : "");
  a->env_strs[3] = strdup(a->env.code ? a->env.code : "");
  for(i = 0; i < 4; i++)
    if(!a->env_strs[i])
      goto out;
  a->env.start = a->env_strs[0];
  a->env.end = a->env_strs[1];
  a->env.delivered_at = a->env_strs[2];
  a->env.code = a->env_strs[3];
  rc = 0;
out:
  wk_serve_index_unlock(s->index);
  free(sel);
  return rc;
}

/* Renders the page of plan `p` into *out. 0; -1 when memory ran out (worth
 * a retry); -2 when a stored batch cannot be read or read back (a fault of
 * this server, which a retry does not mend), with why set. */
static int render(const serve_ctx *s, ddas_kind kind, const answer_set *a,
                  const ddas_page_plan *p, size_t page, char **out, size_t *len,
                  const char **why) {
  ddas_page_writer *w = NULL;
  size_t i;
  int rc = -1;
  *why = "out of memory";
  if(ddas_page_writer_new(kind, &a->env, &w))
    return -1;
  for(i = p->first_batch; i <= p->last_batch && i < a->nb; i++) {
    size_t from = 0, to = 0;
    char *body;
    if(!ddas_page_plan_range(p, a->records, i, &from, &to))
      continue;
    body = malloc(a->b[i].len ? a->b[i].len : 1);
    ddas_result r;
    if(!body)
      goto out;
    if(wk_serve_index_read(s->index, &a->b[i], body)) {
      free(body);
      *why = "cannot read the spool";
      rc = -2;
      goto out;
    }
    r = ddas_page_writer_add_batch(w, body, a->b[i].len, from, to, a->group[i]);
    free(body);
    if(r) {
      if(r != DDAS_ERR_NOMEM) {
        *why = ddas_page_writer_error(w);
        rc = -2;
      }
      WK_LOG(WK_ERROR, "serve.batch_unreadable",
             WK_STR("delivery_id", a->group[i]), WK_INT("position", i),
             WK_STR("reason", *why));
      if(rc == -2)
        *why = "a stored batch cannot be read back"; /* outlives w */
      goto out;
    }
  }
  if(ddas_page_writer_finish(w, p, page, out, len) == DDAS_OK)
    rc = 0;
out:
  ddas_page_writer_free(w);
  return rc;
}

/* Signs body and sets the 200 answer. */
static void send_signed(const serve_ctx *s, wk_httpsd_response *resp,
                        char *body, size_t len) {
  char digest[DDAS_DIGEST_HEADER_SIZE];
  char *sig = NULL;
  if(ddas_digest_header(body, len, digest, sizeof(digest)) ||
     ddas_sign(s->signer, s->profile, body, len, (int64_t)time(NULL), &sig)) {
    ddas_free(body);
    retry_later(resp, 0, "the answer could not be signed; try again later");
    return;
  }
  wk_httpsd_add_header(resp, "Digest", digest);
  wk_httpsd_add_header(resp, "nlgov-adr-payload-sig", sig);
  ddas_free(sig);
  set_body(resp, 200, "application/json", body, len);
}

static void answer(const serve_ctx *s, ddas_kind kind,
                   const wk_httpsd_request *req, wk_httpsd_response *resp) {
  ddas_gegevens_request rq;
  ddas_problem prob;
  ddas_page_plan plan;
  answer_set a;
  char *body = NULL;
  size_t len = 0;
  const char *why = "";
  int rc;
  if(ddas_gegevens_request_parse(req->body, req->body_len, kind, &rq, &prob)) {
    problem(resp, &prob, req);
    return;
  }
  if(collect(s, kind, &rq, &a)) {
    answer_set_free(&a);
    retry_later(resp, 0, "the server is short of memory; try again later");
    return;
  }
  if(ddas_gegevens_plan(a.records, a.nb, rq.page, rq.page_size, &plan, &prob)) {
    problem(resp, &prob, req);
  } else if(plan.total_records == 0) {
    ddas_gegevens_no_data(&prob);
    problem(resp, &prob, req);
  } else if((rc = render(s, kind, &a, &plan, rq.page, &body, &len, &why))) {
    WK_LOG(WK_ERROR, "serve.render_failed", WK_STR("reason", why));
    if(rc == -1)
      retry_later(resp, 0, "the server is short of memory; try again later");
    else
      problem_of(resp, req, 500, "internal", "Interne fout",
                 "a stored batch of this answer cannot be read back; the "
                 "operator must look at the server's log");
  } else {
    send_signed(s, resp, body, len);
    WK_LOG(WK_INFO, "serve.answered", WK_STR("kind", ddas_kind_name(kind)),
           WK_INT("page", rq.page), WK_INT("total_pages", plan.total_pages),
           WK_INT("records", plan.total_records), WK_INT("bytes", len),
           WK_INT("deliveries", a.nsel), WK_STR("client_oin", req->peer_oin));
  }
  answer_set_free(&a);
}

static void handle(void *ctx, const wk_httpsd_request *req,
                   wk_httpsd_response *resp) {
  const serve_ctx *s = ctx;
  ddas_kind kind = route(s, req, resp);
  if(kind == DDAS_KIND_UNKNOWN)
    return;
  if(!wk_serve_index_ready(s->index)) {
    retry_later(resp, 0,
                "the server is still reading topic.accepted; try again "
                "shortly");
    return;
  }
  if(authorise(s, req, resp) || verify_request(s, req, resp))
    return;
  answer(s, kind, req, resp);
}

/* ---- start and stop ----------------------------------------------------- */

/* What serve needs beyond what wk_config_load checks. 0, or -1 after a
 * message on stderr. */
static int check_config(const wk_config *c) {
  const char *missing = NULL;
  if(!*c->serve_cert)
    missing = "serve.cert (the server certificate chain)";
  else if(!*c->serve_key)
    missing = "serve.key";
  else if(!*c->serve_client_ca)
    missing = "serve.client_ca (the CA client certificates must chain to)";
  else if(!*c->sign_cert || !*c->sign_key)
    missing = "sign.cert and sign.key (every answer is signed)";
  else if(!strcmp(c->serve_auth, "token") && !*c->serve_introspection_url)
    missing = "serve.introspection_url (or serve.auth = mtls)";
  if(missing) {
    fprintf(stderr, "ddas-worker serve: set %s\n", missing);
    return -1;
  }
  if(c->serve_path_shv[0] != '/' || c->serve_path_vs[0] != '/' ||
     !strcmp(c->serve_path_shv, c->serve_path_vs)) {
    fprintf(stderr, "ddas-worker serve: serve.path_shv and serve.path_vs "
                    "must be two different paths starting with /\n");
    return -1;
  }
  return 0;
}

/* Loads the signer, the request trust anchors and the introspection
 * client into s. 0, or -1 after a message. */
static int load_security(const wk_config *c, serve_ctx *s) {
  char err[512];
  wk_introspect_options io;
  const char *trust =
      *c->serve_signature_trust ? c->serve_signature_trust : c->serve_client_ca;
  if(ddas_sig_profile_parse(c->sign_profile, &s->profile) ||
     ddas_signer_load(c->sign_key,
                      *c->sign_key_passphrase ? c->sign_key_passphrase : NULL,
                      c->sign_cert, *c->sign_kid ? c->sign_kid : NULL,
                      &s->signer, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: sign.key/sign.cert: %s\n", err);
    return -1;
  }
  if(ddas_truststore_load(trust, &s->trust, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: %s: %s\n",
            *c->serve_signature_trust ? "serve.signature_trust"
                                      : "serve.client_ca",
            err);
    return -1;
  }
  if(strcmp(c->serve_auth, "token"))
    return 0;
  memset(&io, 0, sizeof(io));
  io.url = c->serve_introspection_url;
  io.ca = *c->serve_introspection_ca ? c->serve_introspection_ca : NULL;
  io.client_id = c->serve_introspection_client_id;
  io.client_secret = c->serve_introspection_client_secret;
  io.timeout_ms = 10000;
  /* 0 in the configuration: ask every time (the client's 0 is its
   * default, a negative value no cache) */
  io.cache_ttl_s =
      c->serve_introspection_cache_s ? c->serve_introspection_cache_s : -1;
  io.required_scope = *c->serve_required_scope ? c->serve_required_scope : NULL;
  io.allow_insecure_http = c->serve_allow_insecure_http;
  if(wk_introspect_new(&io, &s->introspect, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: serve.introspection_url: %s\n", err);
    return -1;
  }
  return 0;
}

/* Splits serve.allow at ';' (trimmed, empties dropped) into a NULL-free
 * array; *n entries. The strings point into *buf (owned). */
static const char **split_allow(const char *v, char **buf, size_t *n) {
  const char **out;
  char *p, *save = NULL, *tok;
  *n = 0;
  if(!(*buf = strdup(v)) || !(out = calloc(strlen(v) / 2 + 2, sizeof(*out))))
    return NULL;
  for(tok = strtok_r(*buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
    while(*tok == ' ' || *tok == '\t')
      tok++;
    p = tok + strlen(tok);
    while(p > tok && (p[-1] == ' ' || p[-1] == '\t'))
      *--p = 0;
    if(*tok)
      out[(*n)++] = tok;
  }
  return out;
}

static int write_port_file(const char *path, int port) {
  FILE *f;
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  if(!(f = fopen(tmp, "w")))
    return -1;
  fprintf(f, "%d\n", port);
  if(fclose(f) || rename(tmp, path))
    return -1;
  return 0;
}

struct wk_serve {
  serve_ctx ctx;
  wk_httpsd *srv;
  const char **allow;
  char *allow_buf;
};

/* Starts the HTTPS server on s->ctx. 0, or 1 after a message. */
static int start_server(const wk_config *c, wk_serve *s,
                        const char *port_file) {
  wk_httpsd_options o;
  char err[512];
  size_t nallow = 0;
  if(!(s->allow = split_allow(c->serve_allow, &s->allow_buf, &nallow))) {
    fprintf(stderr, "ddas-worker serve: out of memory\n");
    return 1;
  }
  memset(&o, 0, sizeof(o));
  o.listen = c->serve_listen;
  o.cert = c->serve_cert;
  o.key = c->serve_key;
  o.key_passphrase = *c->serve_key_passphrase ? c->serve_key_passphrase : NULL;
  o.client_ca = c->serve_client_ca;
  o.allow = s->allow;
  o.nallow = nallow;
  o.max_body = (size_t)c->serve_max_request_bytes;
  o.threads = (unsigned)c->serve_threads;
  if(wk_httpsd_start(&o, handle, &s->ctx, &s->srv, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: cannot start the server: %s\n", err);
    return 1;
  }
  WK_LOG(WK_INFO, "serve.listening", WK_STR("listen", c->serve_listen),
         WK_INT("port", wk_httpsd_port(s->srv)), WK_STR("auth", c->serve_auth));
  if(port_file && write_port_file(port_file, wk_httpsd_port(s->srv))) {
    fprintf(stderr, "ddas-worker serve: cannot write %s: %s\n", port_file,
            strerror(errno));
    return 1;
  }
  return 0;
}

void wk_serve_stop(wk_serve *s) {
  if(!s)
    return;
  wk_httpsd_stop(s->srv);
  wk_serve_index_stop(s->ctx.index);
  wk_introspect_free(s->ctx.introspect);
  ddas_truststore_free(s->ctx.trust);
  ddas_signer_free(s->ctx.signer);
  free(s->allow);
  free(s->allow_buf);
  free(s);
}

int wk_serve_start(const wk_config *c, const char *bootstrap,
                   const char *port_file, wk_serve **out) {
  wk_serve *s = calloc(1, sizeof(*s));
  char err[1024];
  int rc = 2;
  *out = NULL;
  /* A page is tens of MB, built by doubling a buffer, by whichever of the
   * server's threads takes the connection. glibc gives each thread its own
   * heap arena, and with its dynamic mmap threshold (it rises to 32 MiB
   * after the first big free) those buffers stay in the arena of every
   * thread that served a page: the peak RSS grew with the threads. Two
   * arenas for the whole process bound that (bench/RESULTS.md: 393 MiB
   * before, 231 MiB after, paging as fast). Under `run --serve` the
   * pipeline shares the two arenas as well. */
  mallopt(M_ARENA_MAX, 2);
  if(!s) {
    fprintf(stderr, "ddas-worker serve: out of memory\n");
    return 1;
  }
  s->ctx.cfg = c;
  if(check_config(c) || load_security(c, &s->ctx))
    goto fail;
  rc = 1;
  if(wk_serve_index_start(c, bootstrap, c->serve_spool_dir, &s->ctx.index, err,
                          sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: %s\n", err);
    goto fail;
  }
  if(start_server(c, s, port_file))
    goto fail;
  *out = s;
  return 0;
fail:
  wk_serve_stop(s);
  return rc;
}

static int parse_args(int argc, char **argv, const char **config,
                      const char **port_file) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"port-file", required_argument, NULL, 'p'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int o;
  *config = *port_file = NULL;
  optind = 1;
  while((o = wk_getopt(argc, argv, "c:h", opts, "serve")) != -1) {
    switch(o) {
    case 'c': *config = optarg; break;
    case 'p': *port_file = optarg; break;
    case 'h': usage(stdout); return -1;
    default: return 2;
    }
  }
  if(!*config || optind != argc) {
    fprintf(stderr, "ddas-worker serve: needs -c FILE (and no other "
                    "arguments); try 'ddas-worker serve --help'\n");
    return 2;
  }
  return 0;
}

int wk_cmd_serve(int argc, char **argv) {
  const char *path, *port_file;
  wk_config cfg;
  wk_serve *s = NULL;
  char err[1024];
  int rc;
  if((rc = parse_args(argc, argv, &path, &port_file)))
    return rc < 0 ? 0 : rc;
  if(wk_config_load(path, &cfg, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker serve: %s\n", err);
    return 2;
  }
  wk_log_init(&cfg);
  if(!wk_kafka_bootstrap(&cfg) || wk_kafka_is_embedded(&cfg)) {
    fprintf(stderr,
            "ddas-worker serve: set kafka.bootstrap.servers to the cluster "
            "that `run` publishes topic.accepted to (the embedded cluster "
            "lives inside one process: use `run --serve` with it)\n");
    wk_config_free(&cfg);
    return 2;
  }
  wk_catch_stop_signals();
  signal(SIGPIPE, SIG_IGN);
  if((rc = wk_serve_start(&cfg, wk_kafka_bootstrap(&cfg), port_file, &s)) ==
     0) {
    while(!wk_stop_requested())
      wk_sleep_ms(100);
    WK_LOG(WK_INFO, "serve.stopping", WK_STR("reason", "signal"));
    wk_serve_stop(s);
  }
  wk_config_free(&cfg);
  return rc;
}
