/* cbs-stub: the CBS side of the DDAS exchange, for tests (README.md).
 *
 * A small HTTPS server written directly on OpenSSL: mutual TLS (TLS >= 1.2;
 * a client certificate is required and verified against --client-ca),
 * HTTP/1.1 with keep-alive and Content-Length bodies, an OAuth 2.0
 * client-credentials token endpoint, an RFC 7662 introspection endpoint
 * answering from a table on the command line, and the batch endpoint, which
 * checks the bearer token, the Idempotency-Key, the Digest and the
 * nlgov-adr-payload-sig (ddas_verify) and the schema (ddas_validate_buffer)
 * and records what it accepts. A fault plan makes it answer with planned
 * errors, delays and dropped connections; GET /_stats tells a test what
 * happened.
 *
 * One thread per connection, at most --max-connections, joined when it
 * ends (on the next accept, and at shutdown). One mutex guards
 * the shared state (plan, tokens, counters, the record directory); a second
 * one serialises the calls into ddas-core, whose allocation hooks are
 * process-global. The main thread accepts; on SIGTERM or SIGINT it stops
 * accepting, wakes the idle connections and waits for the handlers to end.
 *
 * Everything is bounded: head size, header count, body size, time per
 * socket operation and per request, connections, tokens, plan steps' extra
 * headers and delays. Nothing the peer sends is logged except the method and
 * the path; bodies may hold personal data and are only written to the
 * record directory. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ddas/http.h"
#include "ddas/sign.h"
#include "ddas/validate.h"

#define CS_MAX_HEADERS 100       /* header fields per request */
#define CS_MAX_TOKENS 4096       /* remembered access tokens */
#define CS_TOKEN_BYTES 32        /* random bytes per token */
#define CS_MAX_KEY 128           /* bytes of an Idempotency-Key */
#define CS_MAX_STEP_HEADERS 4096 /* bytes of a step's extra header lines */
#define CS_MAX_DELAY_MS 600000L  /* a step's delay_ms */
#define CS_MAX_FORM 8192         /* bytes of a token request body */
#define CS_DRAIN_SECONDS 10      /* wait for handlers at shutdown */
#define CS_PATH_MAX 4096

#if defined(__GNUC__)
#define CS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CS_PRINTF(a, b)
#endif

/* ---- configuration ----------------------------------------------------- */

typedef struct {
  const char *listen, *cert, *key, *client_ca, *trust, *schema_dir;
  const char *record_dir, *plan, *port_file, *path, *client_id;
  const char *client_secret, *sig_profile;
  long token_lifetime, max_body, max_header, max_connections, timeout;
  long delay_ms; /* every batch request is answered this much later */
  long request_timeout;
  const char *introspect; /* the /introspect table (README.md) */
  long introspect_status; /* 0, or the status every /introspect gets */
  int quiet, help;
} cs_config;

typedef enum { CS_STR, CS_NUM, CS_FLAG } cs_opt_type;

/* One command-line option: where it goes, its bounds and its help line. */
typedef struct {
  const char *name;
  cs_opt_type type;
  size_t off; /* in cs_config */
  long min, max;
  const char *arg;
  const char *help;
} cs_opt;

#define CS_OFF(f) offsetof(cs_config, f)
static const cs_opt cs_opts[] = {
    {"listen", CS_STR, CS_OFF(listen), 0, 0, "HOST:PORT",
     "address to listen on; port 0 picks a free port (required)"},
    {"cert", CS_STR, CS_OFF(cert), 0, 0, "FILE",
     "server certificate, PEM, end-entity first, then intermediates "
     "(required)"},
    {"key", CS_STR, CS_OFF(key), 0, 0, "FILE",
     "private key of --cert, PEM (required)"},
    {"client-ca", CS_STR, CS_OFF(client_ca), 0, 0, "FILE",
     "CA bundle that client certificates must chain to (required)"},
    {"trust", CS_STR, CS_OFF(trust), 0, 0, "FILE",
     "trust anchors of the signing certificates (required)"},
    {"schema-dir", CS_STR, CS_OFF(schema_dir), 0, 0, "DIR",
     "the shipped DDAS schemas, config/schemas (required)"},
    {"record-dir", CS_STR, CS_OFF(record_dir), 0, 0, "DIR",
     "where accepted batches are recorded; created if missing (required)"},
    {"plan", CS_STR, CS_OFF(plan), 0, 0, "FILE",
     "fault plan, JSON (see README.md)"},
    {"delay-ms", CS_NUM, CS_OFF(delay_ms), 0, CS_MAX_DELAY_MS, "MS",
     "answer every batch request this much later (a slow CBS), on top of a "
     "plan step's delay_ms"},
    {"token-lifetime", CS_NUM, CS_OFF(token_lifetime), 0, 86400, "SECONDS",
     "expires_in of issued tokens (default 300)"},
    {"client-id", CS_STR, CS_OFF(client_id), 0, 0, "ID",
     "the only accepted client id (with --client-secret; default: any)"},
    {"client-secret", CS_STR, CS_OFF(client_secret), 0, 0, "SECRET",
     "the secret of --client-id"},
    {"port-file", CS_STR, CS_OFF(port_file), 0, 0, "FILE",
     "write the bound port here (atomically) once listening"},
    {"path", CS_STR, CS_OFF(path), 0, 0, "PATH",
     "path of the batch endpoint (default /gegevens)"},
    {"sig-profile", CS_STR, CS_OFF(sig_profile), 0, 0, "adr|body|any",
     "signature profile accepted (default any)"},
    {"max-body", CS_NUM, CS_OFF(max_body), 1, 1L << 30, "BYTES",
     "largest request body (default 67108864)"},
    {"max-header", CS_NUM, CS_OFF(max_header), 1024, 1L << 20, "BYTES",
     "largest request head (default 16384)"},
    {"max-connections", CS_NUM, CS_OFF(max_connections), 1, 1024, "N",
     "concurrent connections; more are closed at once (default 64)"},
    {"timeout", CS_NUM, CS_OFF(timeout), 1, 3600, "SECONDS",
     "limit of one socket read or write, and of keep-alive idling "
     "(default 30)"},
    {"request-timeout", CS_NUM, CS_OFF(request_timeout), 1, 86400, "SECONDS",
     "limit of receiving one request (default 120)"},
    {"introspect", CS_STR, CS_OFF(introspect), 0, 0,
     "TOKEN=active[:EXP][:SCOPE],...",
     "tokens POST /introspect reports active (EXP: Unix seconds; SCOPE: "
     "space-separated); every other token is inactive"},
    {"introspect-status", CS_NUM, CS_OFF(introspect_status), 0, 599, "STATUS",
     "answer every POST /introspect with this status (503 adds Retry-After: "
     "7; 0: answer normally)"},
    {"quiet", CS_FLAG, CS_OFF(quiet), 0, 0, NULL, "no log line per request"},
    {"help", CS_FLAG, CS_OFF(help), 0, 0, NULL, "this text"},
};
#define CS_NOPTS (sizeof(cs_opts) / sizeof(cs_opts[0]))

static void cs_config_defaults(cs_config *c) {
  memset(c, 0, sizeof(*c));
  c->path = "/gegevens";
  c->sig_profile = "any";
  c->token_lifetime = 300;
  c->max_body = 64L << 20;
  c->max_header = 16384;
  c->max_connections = 64;
  c->timeout = 30;
  c->request_timeout = 120;
}

static void cs_usage(FILE *f) {
  size_t i;
  fputs("usage: cbs-stub --listen HOST:PORT --cert FILE --key FILE "
        "--client-ca FILE\n"
        "                --trust FILE --schema-dir DIR --record-dir DIR "
        "[options]\n\n"
        "An HTTPS stand-in for the CBS endpoint (tests only): POST /token "
        "(OAuth 2.0\nclient credentials), POST <path> (signed batches), "
        "POST /introspect\n(RFC 7662), GET /_stats, POST /_plan. See "
        "tests/stubs/README.md.\n\n",
        f);
  for(i = 0; i < CS_NOPTS; i++) {
    char left[64];
    snprintf(left, sizeof(left), "--%s%s%s", cs_opts[i].name,
             cs_opts[i].arg ? " " : "", cs_opts[i].arg ? cs_opts[i].arg : "");
    fprintf(f, "  %-30s %s\n", left, cs_opts[i].help);
  }
}

/* Edit distance of two short strings (for "did you mean"). */
static size_t cs_distance(const char *a, const char *b) {
  size_t row[64], la = strlen(a), lb = strlen(b), i, j;
  if(la >= 63 || lb >= 63)
    return 99;
  for(j = 0; j <= lb; j++)
    row[j] = j;
  for(i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for(j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if(up + 1 < best)
        best = up + 1;
      if(row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Parses argv into cfg. Returns 0, or -1 after a message on stderr. */
static int cs_parse_args(int argc, char **argv, cs_config *cfg) {
  int i;
  for(i = 1; i < argc; i++) {
    const char *a = argv[i], *eq, *val = NULL;
    const cs_opt *o = NULL;
    char name[64];
    size_t k, nl;
    if(strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "cbs-stub: unexpected argument \"%s\"\n", a);
      return -1;
    }
    a += 2;
    eq = strchr(a, '=');
    nl = eq ? (size_t)(eq - a) : strlen(a);
    if(nl >= sizeof(name))
      nl = sizeof(name) - 1;
    memcpy(name, a, nl);
    name[nl] = '\0';
    for(k = 0; k < CS_NOPTS; k++)
      if(strcmp(cs_opts[k].name, name) == 0)
        o = &cs_opts[k];
    if(!o) {
      const char *hint = NULL;
      size_t best = 4;
      for(k = 0; k < CS_NOPTS; k++) {
        size_t d = cs_distance(name, cs_opts[k].name);
        if(d < best) {
          best = d;
          hint = cs_opts[k].name;
        }
      }
      fprintf(stderr, "cbs-stub: unknown option --%s", name);
      if(hint)
        fprintf(stderr, " (did you mean --%s?)", hint);
      fputc('\n', stderr);
      return -1;
    }
    if(o->type == CS_FLAG) {
      if(eq) {
        fprintf(stderr, "cbs-stub: --%s takes no value\n", o->name);
        return -1;
      }
      *(int *)(void *)((char *)cfg + o->off) = 1;
      continue;
    }
    if(eq)
      val = eq + 1;
    else if(i + 1 < argc)
      val = argv[++i];
    if(!val) {
      fprintf(stderr, "cbs-stub: --%s needs a value (%s)\n", o->name, o->arg);
      return -1;
    }
    if(o->type == CS_STR) {
      *(const char **)(void *)((char *)cfg + o->off) = val;
    } else {
      char *end;
      long v;
      errno = 0;
      v = strtol(val, &end, 10);
      if(errno || end == val || *end || v < o->min || v > o->max) {
        fprintf(stderr, "cbs-stub: --%s must be an integer from %ld to %ld\n",
                o->name, o->min, o->max);
        return -1;
      }
      *(long *)(void *)((char *)cfg + o->off) = v;
    }
  }
  return 0;
}

/* ---- small helpers ----------------------------------------------------- */

static uint64_t cs_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The current UTC time as RFC 3339 with milliseconds into out[cap]
 * (cap >= 32 always suffices). */
static void cs_utc_now(char *out, size_t cap) {
  struct timespec ts;
  struct tm tm;
  char base[24];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000L % 1000));
}

/* 1 for an RFC 9110 tchar. */
static int cs_tchar(int c) {
  if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* 1 when s is 1..max bytes of visible ASCII, space and tab: safe as a
 * header value. */
static int cs_header_safe(const char *s, size_t max) {
  size_t n = strlen(s), i;
  if(!n || n > max)
    return 0;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if(c != '\t' && (c < 0x20 || c > 0x7e))
      return 0;
  }
  return 1;
}

/* ---- fault plan -------------------------------------------------------- */

/* One planned step. A step "answers" when it has a non-2xx status: the
 * planned response replaces all processing. Otherwise the request is
 * processed normally after the step's effects (delay, token expiry), and a
 * 2xx status replaces the success status. */
typedef struct {
  int status; /* 0: none */
  long delay_ms;
  int drop, drop_mid_body, expire_tokens;
  char retry_after[128];    /* "" or a Retry-After value */
  char fsc_error_code[128]; /* "" or an Fsc-Error-Code */
  json_t *problem;          /* owned, or NULL */
  json_t *headers;          /* owned {"Name":"value"}, or NULL */
} cs_step;

typedef struct {
  cs_step *steps; /* owned */
  size_t n, next;
} cs_queue;

typedef struct {
  cs_queue batch, token;
} cs_plan;

static void cs_step_clear(cs_step *s) {
  json_decref(s->problem);
  json_decref(s->headers);
  memset(s, 0, sizeof(*s));
}

static void cs_queue_clear(cs_queue *q) {
  size_t i;
  for(i = 0; i < q->n; i++)
    cs_step_clear(&q->steps[i]);
  free(q->steps);
  memset(q, 0, sizeof(*q));
}

static void cs_plan_clear(cs_plan *p) {
  cs_queue_clear(&p->batch);
  cs_queue_clear(&p->token);
}

static int cs_is_2xx(int s) { return s >= 200 && s <= 299; }
static int cs_step_answers(const cs_step *s) {
  return s->status && !cs_is_2xx(s->status);
}
/* 1 when the step injects anything (it counts as a planned fault). */
static int cs_step_is_fault(const cs_step *s) {
  return s->drop || s->drop_mid_body || s->expire_tokens || s->delay_ms > 0 ||
         cs_step_answers(s);
}

/* Moves the next step of q into *st (a zeroed step when q is exhausted). */
static void cs_queue_pop(cs_queue *q, cs_step *st) {
  memset(st, 0, sizeof(*st));
  if(q->next < q->n) {
    *st = q->steps[q->next];
    memset(&q->steps[q->next], 0, sizeof(*st));
    q->next++;
  }
}

static int cs_bool(const json_t *v, int *out) {
  if(!json_is_boolean(v))
    return -1;
  *out = json_is_true(v);
  return 0;
}

/* Parses one step object into *st. Returns 0, or -1 with a reason in err. */
static int cs_step_parse(json_t *o, cs_step *st, char *err, size_t errlen) {
  const char *k;
  json_t *v;
  memset(st, 0, sizeof(*st));
  if(!json_is_object(o)) {
    snprintf(err, errlen, "a step must be an object");
    return -1;
  }
  json_object_foreach(o, k, v) {
    if(strcmp(k, "status") == 0) {
      if(!json_is_integer(v) || json_integer_value(v) < 200 ||
         json_integer_value(v) > 599)
        goto bad;
      st->status = (int)json_integer_value(v);
    } else if(strcmp(k, "retry_after") == 0) {
      if(json_is_integer(v) && json_integer_value(v) >= 0 &&
         json_integer_value(v) <= 1000000000)
        snprintf(st->retry_after, sizeof(st->retry_after), "%lld",
                 (long long)json_integer_value(v));
      else if(json_is_string(v) &&
              cs_header_safe(json_string_value(v), sizeof(st->retry_after) - 1))
        snprintf(st->retry_after, sizeof(st->retry_after), "%s",
                 json_string_value(v));
      else
        goto bad;
    } else if(strcmp(k, "delay_ms") == 0) {
      if(!json_is_integer(v) || json_integer_value(v) < 0 ||
         json_integer_value(v) > CS_MAX_DELAY_MS)
        goto bad;
      st->delay_ms = (long)json_integer_value(v);
    } else if(strcmp(k, "drop") == 0) {
      if(cs_bool(v, &st->drop))
        goto bad;
    } else if(strcmp(k, "drop_mid_body") == 0) {
      if(cs_bool(v, &st->drop_mid_body))
        goto bad;
    } else if(strcmp(k, "expire_tokens") == 0) {
      if(cs_bool(v, &st->expire_tokens))
        goto bad;
    } else if(strcmp(k, "fsc_error_code") == 0) {
      if(!json_is_string(v) ||
         !cs_header_safe(json_string_value(v), sizeof(st->fsc_error_code) - 1))
        goto bad;
      snprintf(st->fsc_error_code, sizeof(st->fsc_error_code), "%s",
               json_string_value(v));
    } else if(strcmp(k, "problem") == 0) {
      if(!json_is_object(v))
        goto bad;
      st->problem = json_incref(v);
    } else if(strcmp(k, "headers") == 0) {
      const char *hk;
      json_t *hv;
      size_t total = 0;
      if(!json_is_object(v))
        goto bad;
      json_object_foreach(v, hk, hv) {
        size_t i, n = strlen(hk);
        if(!n || n > 64 || !json_is_string(hv) ||
           !cs_header_safe(json_string_value(hv), 1024) ||
           strcasecmp(hk, "content-length") == 0 ||
           strcasecmp(hk, "content-type") == 0 ||
           strcasecmp(hk, "transfer-encoding") == 0 ||
           strcasecmp(hk, "connection") == 0)
          goto bad;
        for(i = 0; i < n; i++)
          if(!cs_tchar((unsigned char)hk[i]))
            goto bad;
        total += n + strlen(json_string_value(hv)) + 4;
      }
      if(total > CS_MAX_STEP_HEADERS)
        goto bad;
      st->headers = json_incref(v);
    } else if(strcmp(k, "comment") == 0) {
      if(!json_is_string(v))
        goto bad;
    } else {
      snprintf(err, errlen, "unknown member \"%.64s\"", k);
      goto fail;
    }
  }
  if(st->drop && st->drop_mid_body) {
    snprintf(err, errlen, "drop and drop_mid_body exclude each other");
    goto fail;
  }
  if((st->drop || st->drop_mid_body) &&
     (st->status || st->problem || st->fsc_error_code[0])) {
    snprintf(err, errlen, "a dropped request has no response");
    goto fail;
  }
  if((st->problem || st->fsc_error_code[0]) && !cs_step_answers(st)) {
    snprintf(err, errlen, "problem and fsc_error_code need a non-2xx status");
    goto fail;
  }
  if(st->problem && st->fsc_error_code[0]) {
    snprintf(err, errlen, "problem and fsc_error_code exclude each other");
    goto fail;
  }
  return 0;
bad:
  snprintf(err, errlen, "invalid value of \"%.64s\"", k);
fail:
  cs_step_clear(st);
  return -1;
}

static int cs_queue_parse(json_t *a, cs_queue *q, const char *what, char *err,
                          size_t errlen) {
  size_t i;
  memset(q, 0, sizeof(*q));
  if(!json_is_array(a)) {
    snprintf(err, errlen, "\"%s\" must be an array of steps", what);
    return -1;
  }
  if(json_array_size(a) == 0)
    return 0;
  q->steps = calloc(json_array_size(a), sizeof(*q->steps));
  if(!q->steps) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for(i = 0; i < json_array_size(a); i++) {
    char why[200];
    if(cs_step_parse(json_array_get(a, i), &q->steps[i], why, sizeof(why))) {
      snprintf(err, errlen, "%s step %zu: %s", what, i + 1, why);
      cs_queue_clear(q);
      return -1;
    }
    q->n++;
  }
  return 0;
}

/* A plan is an array of batch steps or {"batch":[...],"token":[...]}. On
 * success *out holds the new plan (the caller clears it). */
static int cs_plan_parse(json_t *root, cs_plan *out, char *err, size_t errlen) {
  const char *k;
  json_t *v;
  memset(out, 0, sizeof(*out));
  if(json_is_array(root))
    return cs_queue_parse(root, &out->batch, "batch", err, errlen);
  if(!json_is_object(root)) {
    snprintf(err, errlen, "a plan is an array or an object");
    return -1;
  }
  json_object_foreach(root, k, v) {
    if(strcmp(k, "batch") != 0 && strcmp(k, "token") != 0 &&
       strcmp(k, "comment") != 0) {
      snprintf(err, errlen,
               "unknown member \"%.64s\" (a plan has batch and token)", k);
      return -1;
    }
  }
  v = json_object_get(root, "batch");
  if(v && cs_queue_parse(v, &out->batch, "batch", err, errlen))
    return -1;
  v = json_object_get(root, "token");
  if(v && cs_queue_parse(v, &out->token, "token", err, errlen)) {
    cs_plan_clear(out);
    return -1;
  }
  return 0;
}

/* ---- server state ------------------------------------------------------ */

#define CS_STATS(X)                                                            \
  X(requests)                                                                  \
  X(token_requests)                                                            \
  X(tokens_issued)                                                             \
  X(token_denied)                                                              \
  X(accepted)                                                                  \
  X(duplicates)                                                                \
  X(key_conflicts)                                                             \
  X(bad_signature)                                                             \
  X(bad_digest)                                                                \
  X(schema_invalid)                                                            \
  X(unauthorized)                                                              \
  X(bad_requests)                                                              \
  X(planned_faults)                                                            \
  X(connections)                                                               \
  X(rejected_connections)                                                      \
  X(tls_failures)                                                              \
  X(http_requests)                                                             \
  X(introspect_requests)

typedef struct {
#define CS_FIELD(n) unsigned long long n;
  CS_STATS(CS_FIELD)
#undef CS_FIELD
} cs_stats;

typedef struct {
  char value[48];
  uint64_t expires_ms; /* monotonic */
  int revoked;         /* by a step's expire_tokens */
} cs_token;

/* A connection thread's slot. A thread that ends marks its slot DONE; the
 * main thread joins it (so that its thread-exit clean-up, OpenSSL's
 * per-thread state among it, has run before the process ends) and frees
 * the slot. */
enum { CS_SLOT_FREE = 0, CS_SLOT_BUSY, CS_SLOT_DONE };
typedef struct {
  int state;
  int fd; /* BUSY: the socket */
  pthread_t thread;
} cs_slot;

/* One active token of --introspect. */
typedef struct {
  char token[128];
  long long exp; /* 0: none */
  char scope[256];
} cs_intro;

typedef struct {
  cs_config cfg;
  int profile;     /* -1: any, else a ddas_sig_profile */
  cs_intro *intro; /* --introspect, read-only after start-up */
  size_t nintro;
  SSL_CTX *ctx;
  ddas_truststore *trust;
  ddas_schemaset *schemas;
  pthread_mutex_t core_lock; /* serialises calls into ddas-core */
  pthread_mutex_t lock;      /* guards everything below */
  pthread_cond_t done;       /* a connection ended */
  cs_plan plan;
  cs_token *tokens; /* CS_MAX_TOKENS slots */
  size_t ntokens;
  cs_stats stats;
  cs_slot *slots; /* max_connections */
  size_t nconns;  /* CS_SLOT_BUSY slots */
  int stopping;
  unsigned long tmp_seq;
} cs_server;

#define CS_COUNT(srv, field)                                                   \
  do {                                                                         \
    pthread_mutex_lock(&(srv)->lock);                                          \
    (srv)->stats.field++;                                                      \
    pthread_mutex_unlock(&(srv)->lock);                                        \
  } while(0)

static void cs_log(const cs_server *srv, const char *fmt, ...) CS_PRINTF(2, 3);
static void cs_log(const cs_server *srv, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  if(srv->cfg.quiet)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "cbs-stub: %s\n", line);
}

static int cs_stopping(cs_server *srv) {
  int s;
  pthread_mutex_lock(&srv->lock);
  s = srv->stopping;
  pthread_mutex_unlock(&srv->lock);
  return s;
}

/* Sleeps ms milliseconds, or less when the server stops. */
static void cs_sleep(cs_server *srv, long ms) {
  uint64_t until = cs_now_ms() + (uint64_t)ms;
  while(!cs_stopping(srv)) {
    uint64_t now = cs_now_ms();
    struct timespec ts = {0, 20 * 1000000L};
    if(now >= until)
      break;
    if(until - now < 20)
      ts.tv_nsec = (long)(until - now) * 1000000L;
    nanosleep(&ts, NULL);
  }
}

/* ---- tokens (caller holds srv->lock) ----------------------------------- */

/* Issues a new token into out[48]. Returns 0, or -1 when no random bytes. */
static int cs_token_issue(cs_server *srv, char *out) {
  unsigned char rnd[CS_TOKEN_BYTES];
  uint64_t now = cs_now_ms();
  size_t i, slot = srv->ntokens;
  if(RAND_bytes(rnd, sizeof(rnd)) != 1)
    return -1;
  if(!ddas_b64url_encode(rnd, sizeof(rnd), out, 48))
    return -1;
  if(slot == CS_MAX_TOKENS) {
    /* full: reuse a dead slot, else the one that expires first */
    slot = 0;
    for(i = 0; i < CS_MAX_TOKENS; i++) {
      const cs_token *t = &srv->tokens[i];
      if(t->revoked || t->expires_ms <= now) {
        slot = i;
        break;
      }
      if(t->expires_ms < srv->tokens[slot].expires_ms)
        slot = i;
    }
  } else {
    srv->ntokens++;
  }
  snprintf(srv->tokens[slot].value, sizeof(srv->tokens[slot].value), "%s", out);
  srv->tokens[slot].expires_ms =
      now + (uint64_t)srv->cfg.token_lifetime * 1000u;
  srv->tokens[slot].revoked = 0;
  return 0;
}

typedef enum { CS_TOK_VALID, CS_TOK_INVALID, CS_TOK_EXPIRED } cs_tok_state;

static cs_tok_state cs_token_check(cs_server *srv, const char *tok) {
  size_t i, n = strlen(tok);
  for(i = 0; i < srv->ntokens; i++) {
    const cs_token *t = &srv->tokens[i];
    if(strlen(t->value) == n && CRYPTO_memcmp(t->value, tok, n) == 0)
      return t->revoked || cs_now_ms() >= t->expires_ms ? CS_TOK_EXPIRED
                                                        : CS_TOK_VALID;
  }
  return CS_TOK_INVALID;
}

static void cs_tokens_expire_all(cs_server *srv) {
  size_t i;
  for(i = 0; i < srv->ntokens; i++)
    srv->tokens[i].revoked = 1;
}

/* ---- connections and HTTP ---------------------------------------------- */

typedef struct {
  cs_server *srv;
  SSL *ssl;
  int fd;
  size_t slot;
  char *buf; /* received, not yet consumed; cap = max_header */
  size_t len, cap;
  uint64_t deadline; /* monotonic ms of the current request; 0 = none */
  int broken;        /* the TLS session failed: no close_notify */
  char peer[256];    /* client certificate subject */
} cs_conn;

typedef struct {
  char *head; /* copy of the head; lines NUL-terminated */
  const char *method, *target;
  char path[256]; /* target without the query; "" when too long */
  int minor;      /* HTTP/1.<minor> */
  ddas_http_header h[CS_MAX_HEADERS];
  size_t nh;
  int has_length, te, keep_alive, expect_continue, bad_expect;
  size_t length;
  char *body; /* length bytes, NUL-terminated */
} cs_request;

typedef struct {
  int status;
  const char *type; /* Content-Type, or NULL without a body */
  char *body;       /* owned (malloc) */
  size_t body_len;
  char hdrs[CS_MAX_STEP_HEADERS + 1024]; /* extra header lines */
  size_t hlen;
  int close;
  char note[200]; /* for the log line */
} cs_response;

static void cs_consume(cs_conn *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* Reads up to n bytes. Returns how many, 0 at the end of the connection
 * (closed, failed, timed out). */
static size_t cs_read(cs_conn *c, void *p, size_t n) {
  size_t got = 0;
  if(c->broken)
    return 0;
  if(c->deadline && cs_now_ms() > c->deadline)
    return 0;
  ERR_clear_error();
  if(SSL_read_ex(c->ssl, p, n, &got) != 1) {
    if(SSL_get_error(c->ssl, 0) != SSL_ERROR_ZERO_RETURN)
      c->broken = 1;
    return 0;
  }
  return got;
}

static int cs_write(cs_conn *c, const void *p, size_t n) {
  const char *b = p;
  while(n) {
    size_t w = 0;
    if(c->broken)
      return -1;
    ERR_clear_error();
    if(SSL_write_ex(c->ssl, b, n, &w) != 1) {
      c->broken = 1;
      return -1;
    }
    b += w;
    n -= w;
  }
  return 0;
}

/* Offset just past the empty line that ends the head in b[0..n), or 0. */
static size_t cs_head_end(const char *b, size_t n) {
  size_t i;
  for(i = 1; i < n; i++) {
    if(b[i] != '\n')
      continue;
    if(b[i - 1] == '\n' || (i >= 2 && b[i - 1] == '\r' && b[i - 2] == '\n'))
      return i + 1;
  }
  return 0;
}

enum { CS_HEAD_OK, CS_HEAD_EOF, CS_HEAD_TOO_LARGE };

/* Reads until c->buf holds a whole head; *end is its length. */
static int cs_read_head(cs_conn *c, size_t *end) {
  c->deadline = 0;
  for(;;) {
    size_t skip = 0, got;
    /* empty lines before a request line are ignored (RFC 9112 2.2) */
    while(skip < c->len && (c->buf[skip] == '\r' || c->buf[skip] == '\n'))
      skip++;
    cs_consume(c, skip);
    if(c->len && !c->deadline)
      c->deadline = cs_now_ms() + (uint64_t)c->srv->cfg.request_timeout * 1000u;
    *end = cs_head_end(c->buf, c->len);
    if(*end)
      return CS_HEAD_OK;
    if(c->len >= c->cap)
      return CS_HEAD_TOO_LARGE;
    got = cs_read(c, c->buf + c->len, c->cap - c->len);
    if(!got)
      return CS_HEAD_EOF;
    c->len += got;
  }
}

/* 1 when the comma-separated list `v` holds `tok` (ASCII case ignored). */
static int cs_has_token(const char *v, const char *tok) {
  size_t tl = strlen(tok);
  while(*v) {
    const char *e;
    size_t n;
    while(*v == ' ' || *v == '\t' || *v == ',')
      v++;
    e = v;
    while(*e && *e != ',')
      e++;
    n = (size_t)(e - v);
    while(n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
      n--;
    if(n == tl && strncasecmp(v, tok, tl) == 0)
      return 1;
    v = e;
  }
  return 0;
}

/* The value of header `name` (the first one); *count (may be NULL) gets how
 * many there are. */
static const char *cs_header(const cs_request *rq, const char *name,
                             size_t *count) {
  return ddas_http_header_find(rq->h, rq->nh, name, count);
}

/* Parses the head raw[0..n) into rq. Returns 0, or the status to refuse the
 * request with (400, 431, 505; -1 when out of memory). */
static int cs_parse_head(cs_request *rq, const char *raw, size_t n) {
  char *p, *line, *sp, *end;
  size_t i;
  int first = 1;
  if(memchr(raw, '\0', n))
    return 400;
  rq->head = malloc(n + 1);
  if(!rq->head)
    return -1;
  memcpy(rq->head, raw, n);
  rq->head[n] = '\0';
  end = rq->head + n;
  for(p = rq->head; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if(!nl)
      return 400;
    *nl = '\0';
    if(nl > p && nl[-1] == '\r')
      nl[-1] = '\0';
    line = p;
    p = nl + 1;
    if(strchr(line, '\r'))
      return 400;
    if(!*line)
      break; /* the empty line */
    if(first) {
      first = 0;
      sp = strchr(line, ' ');
      if(!sp || sp == line || sp - line > 15)
        return 400;
      *sp = '\0';
      rq->method = line;
      for(i = 0; line[i]; i++)
        if(!cs_tchar((unsigned char)line[i]))
          return 400;
      rq->target = sp + 1;
      sp = strchr(rq->target, ' ');
      if(!sp || sp == rq->target || rq->target[0] != '/')
        return 400;
      *sp = '\0';
      for(i = 0; rq->target[i]; i++)
        if((unsigned char)rq->target[i] <= 0x20 ||
           (unsigned char)rq->target[i] >= 0x7f)
          return 400;
      if(strcmp(sp + 1, "HTTP/1.1") == 0)
        rq->minor = 1;
      else if(strcmp(sp + 1, "HTTP/1.0") == 0)
        rq->minor = 0;
      else if(strncmp(sp + 1, "HTTP/", 5) == 0)
        return 505;
      else
        return 400;
      i = strcspn(rq->target, "?");
      if(i < sizeof(rq->path)) {
        memcpy(rq->path, rq->target, i);
        rq->path[i] = '\0';
      }
      continue;
    }
    if(*line == ' ' || *line == '\t')
      return 400; /* obsolete line folding */
    sp = strchr(line, ':');
    if(!sp || sp == line)
      return 400;
    *sp = '\0';
    for(i = 0; line[i]; i++)
      if(!cs_tchar((unsigned char)line[i]))
        return 400;
    sp++;
    while(*sp == ' ' || *sp == '\t')
      sp++;
    i = strlen(sp);
    while(i && (sp[i - 1] == ' ' || sp[i - 1] == '\t'))
      sp[--i] = '\0';
    for(i = 0; sp[i]; i++)
      if(sp[i] != '\t' && ((unsigned char)sp[i] < 0x20 || sp[i] == 0x7f))
        return 400;
    if(rq->nh == CS_MAX_HEADERS)
      return 431;
    rq->h[rq->nh].name = line;
    rq->h[rq->nh].value = sp;
    rq->nh++;
  }
  if(first)
    return 400;

  rq->keep_alive = rq->minor == 1;
  for(i = 0; i < rq->nh; i++) {
    const char *nm = rq->h[i].name, *v = rq->h[i].value;
    if(strcasecmp(nm, "Content-Length") == 0) {
      size_t k, len = 0;
      if(!*v || strlen(v) > 18)
        return 400;
      for(k = 0; v[k]; k++) {
        if(v[k] < '0' || v[k] > '9')
          return 400;
        len = len * 10 + (size_t)(v[k] - '0');
      }
      if(rq->has_length && len != rq->length)
        return 400;
      rq->has_length = 1;
      rq->length = len;
    } else if(strcasecmp(nm, "Transfer-Encoding") == 0) {
      rq->te = 1;
    } else if(strcasecmp(nm, "Connection") == 0) {
      if(cs_has_token(v, "close"))
        rq->keep_alive = 0;
      else if(cs_has_token(v, "keep-alive"))
        rq->keep_alive = 1;
    } else if(strcasecmp(nm, "Expect") == 0 && rq->minor == 1) {
      if(strcasecmp(v, "100-continue") == 0)
        rq->expect_continue = 1;
      else
        rq->bad_expect = 1;
    }
  }
  return 0;
}

/* Reads the n body bytes into rq->body. Returns 0, or -1 when the
 * connection ended first. */
static int cs_read_body(cs_conn *c, cs_request *rq, size_t n) {
  size_t have = c->len < n ? c->len : n;
  rq->body = malloc(n + 1);
  if(!rq->body)
    return -1;
  memcpy(rq->body, c->buf, have);
  cs_consume(c, have);
  while(have < n) {
    size_t got = cs_read(c, rq->body + have, n - have);
    if(!got)
      return -1;
    have += got;
  }
  rq->body[n] = '\0';
  return 0;
}

/* Reads and discards n body bytes (drop_mid_body). */
static void cs_discard(cs_conn *c, size_t n) {
  char scratch[16384];
  size_t have = c->len < n ? c->len : n;
  cs_consume(c, have);
  while(have < n) {
    size_t want = n - have < sizeof(scratch) ? n - have : sizeof(scratch);
    size_t got = cs_read(c, scratch, want);
    if(!got)
      return;
    have += got;
  }
}

/* ---- responses --------------------------------------------------------- */

/* Adds a header line; one that does not fit any more is left out. */
static void cs_resp_header(cs_response *r, const char *name,
                           const char *value) {
  size_t room = sizeof(r->hdrs) - r->hlen;
  int n = snprintf(r->hdrs + r->hlen, room, "%s: %s\r\n", name, value);
  if(n < 0 || (size_t)n >= room) {
    r->hdrs[r->hlen] = '\0';
    return;
  }
  r->hlen += (size_t)n;
}

/* Sets status and a JSON body; takes the reference `o` (NULL: no body). */
static void cs_resp_json(cs_response *r, int status, const char *type,
                         json_t *o) {
  free(r->body);
  r->status = status;
  r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
  r->body_len = r->body ? strlen(r->body) : 0;
  r->type = r->body ? type : NULL;
  json_decref(o);
}

/* An application/problem+json response (RFC 9457). */
static void cs_problem(cs_response *r, int status, const char *title,
                       const char *detail) {
  cs_resp_json(r, status, "application/problem+json",
               json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title",
                         title, "status", status, "detail", detail));
  snprintf(r->note, sizeof(r->note), "%s", detail);
}

/* An FSC error: the Fsc-Error-Code header and {code, domain, message}. */
static void cs_fsc(cs_response *r, int status, const char *code,
                   const char *message) {
  cs_resp_header(r, "Fsc-Error-Code", code);
  cs_resp_json(r, status, "application/json",
               json_pack("{s:s,s:s,s:s}", "code", code, "domain",
                         "ERROR_DOMAIN_INWAY", "message", message));
  snprintf(r->note, sizeof(r->note), "%s", code);
}

/* The response a step with a non-2xx status plans. */
static void cs_planned(cs_response *r, const cs_step *st) {
  if(st->fsc_error_code[0])
    cs_fsc(r, st->status, st->fsc_error_code, "planned fault");
  else if(st->problem)
    cs_resp_json(r, st->status, "application/problem+json",
                 json_incref(st->problem));
  else
    cs_problem(r, st->status, ddas_http_reason(st->status), "planned fault");
  snprintf(r->note, sizeof(r->note), "planned fault");
}

/* Adds the step's Retry-After and extra headers to whatever is answered. */
static void cs_step_headers(cs_response *r, const cs_step *st) {
  const char *k;
  json_t *v;
  if(st->retry_after[0])
    cs_resp_header(r, "Retry-After", st->retry_after);
  if(st->headers)
    json_object_foreach(st->headers, k, v) {
      cs_resp_header(r, k, json_string_value(v));
    }
}

static int cs_send(cs_conn *c, const cs_response *r) {
  char head[sizeof(r->hdrs) + 512], date[64];
  struct tm tm;
  time_t now = time(NULL);
  int n;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 %d %s\r\nServer: cbs-stub\r\nDate: %s\r\n"
               "%s%s%sContent-Length: %zu\r\nConnection: %s\r\n%s\r\n",
               r->status, ddas_http_reason(r->status), date,
               r->type ? "Content-Type: " : "", r->type ? r->type : "",
               r->type ? "\r\n" : "", r->body_len,
               r->close ? "close" : "keep-alive", r->hdrs);
  if(n < 0 || (size_t)n >= sizeof(head))
    return -1;
  if(cs_write(c, head, (size_t)n))
    return -1;
  return r->body_len ? cs_write(c, r->body, r->body_len) : 0;
}

/* ---- the record directory (caller holds srv->lock) --------------------- */

/* Writes dir/name atomically: a temporary file in dir, fsync, rename. */
static int cs_write_atomic(cs_server *srv, const char *name, const void *data,
                           size_t len) {
  char path[CS_PATH_MAX], tmp[CS_PATH_MAX];
  const char *p = data;
  int fd, n;
  n = snprintf(path, sizeof(path), "%s/%s", srv->cfg.record_dir, name);
  if(n < 0 || (size_t)n >= sizeof(path))
    return -1;
  n = snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.%lu.tmp", srv->cfg.record_dir,
               name, (long)getpid(), ++srv->tmp_seq);
  if(n < 0 || (size_t)n >= sizeof(tmp))
    return -1;
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if(fd < 0)
    return -1;
  while(len) {
    ssize_t w = write(fd, p, len);
    if(w < 0 && errno == EINTR)
      continue;
    if(w <= 0) {
      close(fd);
      unlink(tmp);
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  if(fsync(fd) || close(fd) || rename(tmp, path)) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static int cs_write_json(cs_server *srv, const char *name, const json_t *o) {
  char *s = json_dumps(o, JSON_INDENT(2));
  int r;
  size_t n;
  if(!s)
    return -1;
  n = strlen(s);
  s[n] = '\n'; /* overwrites the NUL; the length is passed */
  r = cs_write_atomic(srv, name, s, n + 1);
  free(s);
  return r;
}

/* 1 for an Idempotency-Key usable as a file name: 1..CS_MAX_KEY of
 * [A-Za-z0-9._-], not starting with a dot, not ending in ".meta". */
static int cs_key_ok(const char *k) {
  size_t n = strlen(k), i;
  if(!n || n > CS_MAX_KEY || k[0] == '.')
    return 0;
  if(n >= 5 && strcmp(k + n - 5, ".meta") == 0)
    return 0;
  for(i = 0; i < n; i++) {
    char c = k[i];
    if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* What the batch endpoint learnt about a request it accepts. */
typedef struct {
  const char *key;
  char digest[DDAS_DIGEST_HEADER_SIZE];
  ddas_verified sig;
  const char *kind, *version;
  size_t leveringen, records;
  const char *content_type;
  const char *peer;
  const char *body;
  size_t len;
} cs_batch;

/* Records an accepted batch (or counts a duplicate) and fills the answer.
 * ok_status: a planned 2xx status, or 0 for 201 (new) / 200 (duplicate). */
static void cs_record(cs_server *srv, const cs_batch *b, int ok_status,
                      cs_response *rs) {
  char name[CS_MAX_KEY + 16], path[CS_PATH_MAX], now[32];
  json_t *meta = NULL;
  struct stat sb;
  long long receipts = 1;
  int dup;
  cs_utc_now(now, sizeof(now));
  snprintf(name, sizeof(name), "%s.meta.json", b->key);
  snprintf(path, sizeof(path), "%s/%s", srv->cfg.record_dir, name);
  dup = stat(path, &sb) == 0;
  if(dup) {
    json_error_t je;
    const char *d;
    meta = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if(!meta) {
      cs_problem(rs, 500, "Record unreadable", "cannot read the record");
      return;
    }
    d = json_string_value(json_object_get(meta, "digest"));
    if(!d || strcmp(d, b->digest) != 0) {
      srv->stats.key_conflicts++;
      json_decref(meta);
      cs_problem(rs, 409, "Idempotency-Key reuse",
                 "this Idempotency-Key was received with a different body");
      return;
    }
    receipts = json_integer_value(json_object_get(meta, "receipts")) + 1;
    json_object_set_new(meta, "receipts", json_integer(receipts));
    json_object_set_new(meta, "last_received", json_string(now));
  } else {
    char bname[CS_MAX_KEY + 16];
    snprintf(bname, sizeof(bname), "%s.json", b->key);
    if(cs_write_atomic(srv, bname, b->body, b->len)) {
      cs_problem(rs, 500, "Record failed", "cannot write the batch");
      return;
    }
    meta = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s?,s:s,s:I,s:s,s:s}",
        "idempotency_key", b->key, "digest", b->digest, "signature_profile",
        ddas_sig_profile_name(b->sig.profile), "signer_thumbprint",
        b->sig.thumbprint, "kid", b->sig.kid, "kind", b->kind, "version",
        b->version, "leveringen", (json_int_t)b->leveringen, "records",
        (json_int_t)b->records, "bytes", (json_int_t)b->len, "content_type",
        b->content_type, "client_subject", b->peer, "receipts", (json_int_t)1,
        "first_received", now, "last_received", now);
    if(meta && b->sig.profile == DDAS_SIG_ADR)
      json_object_set_new(meta, "iat", json_integer((json_int_t)b->sig.iat));
  }
  if(!meta || cs_write_json(srv, name, meta)) {
    json_decref(meta);
    cs_problem(rs, 500, "Record failed", "cannot write the record");
    return;
  }
  json_decref(meta);
  if(dup)
    srv->stats.duplicates++;
  else
    srv->stats.accepted++;
  cs_resp_json(rs,
               ok_status ? ok_status
               : dup     ? 200
                         : 201,
               "application/json",
               json_pack("{s:s,s:s,s:s,s:I,s:I}", "status",
                         dup ? "duplicate" : "accepted", "idempotency_key",
                         b->key, "digest", b->digest, "records",
                         (json_int_t)b->records, "receipts",
                         (json_int_t)receipts));
  snprintf(rs->note, sizeof(rs->note), "%s key=%s receipts=%lld",
           dup ? "duplicate" : "accepted", b->key, receipts);
}

/* ---- endpoints --------------------------------------------------------- */

/* 401 from the batch endpoint. */
static void cs_unauthorized(cs_server *srv, cs_response *rs, const char *code,
                            const char *msg) {
  CS_COUNT(srv, unauthorized);
  cs_resp_header(rs, "WWW-Authenticate",
                 strcmp(code, "ERROR_CODE_ACCESS_TOKEN_MISSING") == 0
                     ? "Bearer realm=\"cbs-stub\""
                     : "Bearer realm=\"cbs-stub\", error=\"invalid_token\"");
  cs_fsc(rs, 401, code, msg);
}

static void cs_batch_endpoint(cs_conn *c, cs_request *rq, int ok_status,
                              cs_response *rs) {
  cs_server *srv = c->srv;
  const char *auth, *key;
  size_t count;
  char err[256];
  ddas_result r;
  ddas_validate_options opt;
  ddas_validate_result res;
  cs_batch b;
  int valid;

  memset(&b, 0, sizeof(b));
  auth = cs_header(rq, "Authorization", &count);
  if(!auth || count != 1 || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
    cs_unauthorized(srv, rs, "ERROR_CODE_ACCESS_TOKEN_MISSING",
                    "no bearer access token");
    return;
  } else {
    cs_tok_state ts;
    pthread_mutex_lock(&srv->lock);
    ts = cs_token_check(srv, auth + 7);
    pthread_mutex_unlock(&srv->lock);
    if(ts == CS_TOK_INVALID) {
      cs_unauthorized(srv, rs, "ERROR_CODE_ACCESS_TOKEN_INVALID",
                      "unknown access token");
      return;
    }
    if(ts == CS_TOK_EXPIRED) {
      cs_unauthorized(srv, rs, "ERROR_CODE_ACCESS_TOKEN_EXPIRED",
                      "the access token has expired");
      return;
    }
  }

  key = cs_header(rq, "Idempotency-Key", &count);
  if(!key || count != 1 || !cs_key_ok(key)) {
    CS_COUNT(srv, bad_requests);
    cs_problem(rs, 400, "Missing or invalid Idempotency-Key",
               "exactly one Idempotency-Key of 1 to 128 characters "
               "[A-Za-z0-9._-] is required");
    return;
  }
  b.key = key;

  pthread_mutex_lock(&srv->core_lock);
  r = ddas_verify(srv->trust, rq->h, rq->nh, rq->body, rq->length,
                  (int64_t)time(NULL), &b.sig, err, sizeof(err));
  pthread_mutex_unlock(&srv->core_lock);
  if(r == DDAS_ERR_NOMEM) {
    cs_problem(rs, 500, "Out of memory", "signature check failed");
    return;
  }
  if(r) {
    int digest = strstr(err, "Digest") != NULL;
    pthread_mutex_lock(&srv->lock);
    if(digest)
      srv->stats.bad_digest++;
    else
      srv->stats.bad_signature++;
    pthread_mutex_unlock(&srv->lock);
    cs_problem(rs, 400, digest ? "Digest check failed" : "Bad signature", err);
    return;
  }
  if(srv->profile >= 0 && (int)b.sig.profile != srv->profile) {
    CS_COUNT(srv, bad_signature);
    snprintf(err, sizeof(err),
             "signature profile %s is not accepted here (expected %s)",
             ddas_sig_profile_name(b.sig.profile),
             ddas_sig_profile_name((ddas_sig_profile)srv->profile));
    cs_problem(rs, 400, "Bad signature", err);
    return;
  }

  memset(&opt, 0, sizeof(opt));
  memset(&res, 0, sizeof(res));
  pthread_mutex_lock(&srv->core_lock);
  r = ddas_validate_buffer(srv->schemas, &opt, rq->body, rq->length, &res, err,
                           sizeof(err));
  if(!r && !res.valid) {
    const ddas_finding *f = NULL;
    size_t i;
    for(i = 0; i < res.findings.count && !f; i++)
      if(res.findings.items[i].severity == DDAS_SEV_ERROR)
        f = &res.findings.items[i];
    /* finding messages never quote instance values (ddas/findings.h) */
    snprintf(err, sizeof(err), "%zu error(s); first at \"%.60s\": %.140s",
             res.findings.errors, f ? f->pointer : "", f ? f->message : "");
  }
  b.kind = ddas_kind_name(res.detection.kind);
  b.version = res.detection.version ? res.detection.version : "";
  b.leveringen = res.leveringen;
  b.records = res.records;
  valid = res.valid;
  ddas_validate_result_clear(&res);
  pthread_mutex_unlock(&srv->core_lock);
  if(r) {
    cs_problem(rs, 500, "Validation failed", err);
    return;
  }
  if(!valid) {
    CS_COUNT(srv, schema_invalid);
    cs_problem(rs, 422, "Schema validation failed", err);
    return;
  }

  if(ddas_digest_header(rq->body, rq->length, b.digest, sizeof(b.digest))) {
    cs_problem(rs, 500, "Digest failed", "cannot hash the body");
    return;
  }
  b.content_type = cs_header(rq, "Content-Type", NULL);
  b.peer = c->peer;
  b.body = rq->body;
  b.len = rq->length;
  pthread_mutex_lock(&srv->lock);
  cs_record(srv, &b, ok_status, rs);
  pthread_mutex_unlock(&srv->lock);
}

/* Decodes application/x-www-form-urlencoded s[0..n) into a new string;
 * NULL when malformed (a bad %-escape or a NUL byte) or out of memory. */
static char *cs_form_decode(const char *s, size_t n) {
  char *o = malloc(n + 1), *d = o;
  size_t i;
  if(!o)
    return NULL;
  for(i = 0; i < n; i++) {
    if(s[i] == '+') {
      *d++ = ' ';
    } else if(s[i] == '%') {
      unsigned v = 0, k;
      if(n - i < 3) {
        free(o);
        return NULL;
      }
      for(k = 1; k <= 2; k++) {
        char c = s[i + k];
        v <<= 4;
        if(c >= '0' && c <= '9')
          v |= (unsigned)(c - '0');
        else if(c >= 'a' && c <= 'f')
          v |= (unsigned)(c - 'a' + 10);
        else if(c >= 'A' && c <= 'F')
          v |= (unsigned)(c - 'A' + 10);
        else {
          free(o);
          return NULL;
        }
      }
      if(!v) {
        free(o);
        return NULL;
      }
      *d++ = (char)v;
      i += 2;
    } else {
      *d++ = s[i];
    }
  }
  *d = '\0';
  return o;
}

/* An OAuth 2.0 error response (RFC 6749 5.2). */
static void cs_oauth_error(cs_response *rs, int status, const char *error,
                           const char *desc) {
  cs_resp_json(
      rs, status, "application/json",
      json_pack("{s:s,s:s}", "error", error, "error_description", desc));
  snprintf(rs->note, sizeof(rs->note), "%s", error);
}

/* Parses an application/x-www-form-urlencoded body into form[i] for the
 * parameters names[0..n) (malloc'ed; unknown ones are ignored, RFC 6749
 * 3.2). Returns NULL, or a reason for a 400 invalid_request. */
static const char *cs_form_parse(const cs_request *rq, const char *const *names,
                                 size_t n, char **form) {
  const char *ct = cs_header(rq, "Content-Type", NULL), *p, *end;
  size_t i;
  if(!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
     (ct[33] && ct[33] != ';' && ct[33] != ' '))
    return "the body must be application/x-www-form-urlencoded";
  if(rq->length > CS_MAX_FORM)
    return "the body is too large";
  for(p = rq->body, end = rq->body + rq->length; p < end;) {
    const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
    char *name, *value;
    if(!amp)
      amp = end;
    eq = memchr(p, '=', (size_t)(amp - p));
    if(!eq)
      eq = amp;
    name = cs_form_decode(p, (size_t)(eq - p));
    value = cs_form_decode(eq < amp ? eq + 1 : eq,
                           eq < amp ? (size_t)(amp - eq - 1) : 0);
    p = amp + 1;
    if(!name || !value) {
      free(name);
      free(value);
      return "malformed form body";
    }
    for(i = 0; i < n; i++)
      if(strcmp(name, names[i]) == 0)
        break;
    free(name);
    if(i == n) {
      free(value);
      continue;
    }
    if(form[i]) {
      free(value);
      return "a parameter is repeated";
    }
    form[i] = value;
  }
  return NULL;
}

/* HTTP Basic client authentication (id and secret form-encoded before
 * base64, RFC 6749 2.3.1) into *id and *secret (malloc'ed). Returns 0
 * (both NULL without an Authorization header), or -1 when it is malformed. */
static int cs_basic_client(const cs_request *rq, char **id, char **secret) {
  unsigned char dec[768];
  long n;
  size_t count;
  const char *colon, *auth = cs_header(rq, "Authorization", &count);
  *id = *secret = NULL;
  if(!auth)
    return 0;
  if(count != 1 || strncasecmp(auth, "Basic ", 6) != 0 ||
     strlen(auth + 6) > 1000 ||
     (n = ddas_b64_decode(auth + 6, strlen(auth + 6), dec, sizeof(dec) - 1)) <=
         0 ||
     memchr(dec, '\0', (size_t)n) || !(colon = memchr(dec, ':', (size_t)n)))
    return -1;
  *id = cs_form_decode((const char *)dec, (size_t)(colon - (const char *)dec));
  *secret = cs_form_decode(colon + 1,
                           (size_t)n - (size_t)(colon + 1 - (const char *)dec));
  if(*id && *secret)
    return 0;
  free(*id);
  free(*secret);
  *id = *secret = NULL;
  return -1;
}

/* 1 when id/secret are the configured client (any client without one). */
static int cs_client_ok(const cs_server *srv, const char *id,
                        const char *secret) {
  size_t il, sl;
  if(!srv->cfg.client_id)
    return 1;
  il = strlen(srv->cfg.client_id);
  sl = strlen(srv->cfg.client_secret);
  return id && secret && strlen(id) == il && strlen(secret) == sl &&
         CRYPTO_memcmp(id, srv->cfg.client_id, il) == 0 &&
         CRYPTO_memcmp(secret, srv->cfg.client_secret, sl) == 0;
}

enum { CS_F_GRANT, CS_F_ID, CS_F_SECRET, CS_F_SCOPE, CS_NFORM };

static void cs_token_endpoint(cs_conn *c, cs_request *rq, cs_response *rs) {
  static const char *const names[CS_NFORM] = {"grant_type", "client_id",
                                              "client_secret", "scope"};
  cs_server *srv = c->srv;
  char *form[CS_NFORM] = {NULL, NULL, NULL, NULL};
  char *basic_id = NULL, *basic_secret = NULL, tok[48];
  const char *id, *secret, *why;
  size_t i;
  int basic;
  json_t *o;

  why = cs_form_parse(rq, names, CS_NFORM, form);
  if(why) {
    cs_oauth_error(rs, 400, "invalid_request", why);
    goto out;
  }
  if(!form[CS_F_GRANT]) {
    cs_oauth_error(rs, 400, "invalid_request", "grant_type is missing");
    goto out;
  }
  if(strcmp(form[CS_F_GRANT], "client_credentials") != 0) {
    cs_oauth_error(rs, 400, "unsupported_grant_type",
                   "only client_credentials is supported");
    goto out;
  }
  if(cs_basic_client(rq, &basic_id, &basic_secret)) {
    CS_COUNT(srv, token_denied);
    cs_resp_header(rs, "WWW-Authenticate", "Basic realm=\"cbs-stub\"");
    cs_oauth_error(rs, 401, "invalid_client",
                   "malformed client authentication");
    goto out;
  }
  basic = basic_id != NULL;
  if(basic && form[CS_F_SECRET]) {
    cs_oauth_error(rs, 400, "invalid_request",
                   "more than one client authentication method");
    goto out;
  }
  id = basic ? basic_id : form[CS_F_ID];
  secret = basic ? basic_secret : form[CS_F_SECRET];
  if(!cs_client_ok(srv, id, secret)) {
    CS_COUNT(srv, token_denied);
    if(basic)
      cs_resp_header(rs, "WWW-Authenticate", "Basic realm=\"cbs-stub\"");
    cs_oauth_error(rs, 401, "invalid_client", "client authentication failed");
    goto out;
  }

  pthread_mutex_lock(&srv->lock);
  i = (size_t)cs_token_issue(srv, tok);
  if(!i)
    srv->stats.tokens_issued++;
  pthread_mutex_unlock(&srv->lock);
  if(i) {
    cs_oauth_error(rs, 500, "server_error", "no random bytes");
    goto out;
  }
  cs_resp_header(rs, "Cache-Control", "no-store");
  cs_resp_header(rs, "Pragma", "no-cache");
  o = json_pack("{s:s,s:s,s:I}", "access_token", tok, "token_type", "Bearer",
                "expires_in", (json_int_t)srv->cfg.token_lifetime);
  if(o && form[CS_F_SCOPE])
    json_object_set_new(o, "scope", json_string(form[CS_F_SCOPE]));
  cs_resp_json(rs, 200, "application/json", o);
  snprintf(rs->note, sizeof(rs->note), "token issued");
out:
  for(i = 0; i < CS_NFORM; i++)
    free(form[i]);
  free(basic_id);
  free(basic_secret);
}

/* POST /introspect (RFC 7662): the --introspect table, HTTP Basic client
 * authentication required (the configured client, or any without one). */
static void cs_introspect_endpoint(cs_conn *c, cs_request *rq,
                                   cs_response *rs) {
  static const char *const names[2] = {"token", "token_type_hint"};
  cs_server *srv = c->srv;
  char *form[2] = {NULL, NULL}, *id = NULL, *secret = NULL;
  const char *why;
  const cs_intro *hit = NULL;
  size_t i;
  json_t *o;

  CS_COUNT(srv, introspect_requests);
  if(srv->cfg.introspect_status) {
    if(srv->cfg.introspect_status == 503)
      cs_resp_header(rs, "Retry-After", "7");
    cs_oauth_error(rs, (int)srv->cfg.introspect_status,
                   "temporarily_unavailable", "--introspect-status");
    goto out;
  }
  if(cs_basic_client(rq, &id, &secret) || !id ||
     !cs_client_ok(srv, id, secret)) {
    cs_resp_header(rs, "WWW-Authenticate", "Basic realm=\"cbs-stub\"");
    cs_oauth_error(rs, 401, "invalid_client", "client authentication failed");
    goto out;
  }
  why = cs_form_parse(rq, names, 2, form);
  if(why || !form[0]) {
    cs_oauth_error(rs, 400, "invalid_request", why ? why : "token is missing");
    goto out;
  }
  for(i = 0; i < srv->nintro && !hit; i++)
    if(strcmp(srv->intro[i].token, form[0]) == 0)
      hit = &srv->intro[i];
  if(!hit) {
    o = json_pack("{s:b}", "active", 0);
  } else {
    o = json_pack("{s:b,s:s,s:s}", "active", 1, "client_id",
                  srv->cfg.client_id ? srv->cfg.client_id : "any", "token_type",
                  "Bearer");
    if(o && hit->exp)
      json_object_set_new(o, "exp", json_integer((json_int_t)hit->exp));
    if(o && hit->scope[0])
      json_object_set_new(o, "scope", json_string(hit->scope));
  }
  cs_resp_json(rs, 200, "application/json", o);
  snprintf(rs->note, sizeof(rs->note), "introspected: %s",
           hit ? "active" : "inactive");
out:
  for(i = 0; i < 2; i++)
    free(form[i]);
  free(id);
  free(secret);
}

static void cs_stats_endpoint(cs_server *srv, cs_response *rs) {
  json_t *o = json_object();
  pthread_mutex_lock(&srv->lock);
#define CS_PUT(n)                                                              \
  json_object_set_new(o, #n, json_integer((json_int_t)srv->stats.n));
  CS_STATS(CS_PUT)
#undef CS_PUT
  json_object_set_new(
      o, "plan_batch_remaining",
      json_integer((json_int_t)(srv->plan.batch.n - srv->plan.batch.next)));
  json_object_set_new(
      o, "plan_token_remaining",
      json_integer((json_int_t)(srv->plan.token.n - srv->plan.token.next)));
  pthread_mutex_unlock(&srv->lock);
  cs_resp_json(rs, 200, "application/json", o);
}

static void cs_plan_endpoint(cs_server *srv, cs_request *rq, cs_response *rs) {
  json_error_t je;
  json_t *root = json_loadb(rq->body, rq->length, JSON_REJECT_DUPLICATES, &je);
  cs_plan np, old;
  char err[256];
  if(!root) {
    cs_problem(rs, 400, "Bad plan", "the plan is not valid JSON");
    return;
  }
  if(cs_plan_parse(root, &np, err, sizeof(err))) {
    json_decref(root);
    cs_problem(rs, 400, "Bad plan", err);
    return;
  }
  json_decref(root);
  pthread_mutex_lock(&srv->lock);
  old = srv->plan;
  srv->plan = np;
  pthread_mutex_unlock(&srv->lock);
  cs_plan_clear(&old);
  cs_resp_json(rs, 200, "application/json",
               json_pack("{s:I,s:I}", "batch", (json_int_t)np.batch.n, "token",
                         (json_int_t)np.token.n));
  snprintf(rs->note, sizeof(rs->note), "plan replaced");
}

enum {
  CS_R_NONE,
  CS_R_BATCH,
  CS_R_TOKEN,
  CS_R_STATS,
  CS_R_PLAN,
  CS_R_INTROSPECT
};

/* Serves one request. Returns 1 to keep the connection, 0 to close it;
 * *hard is set when it must close without close_notify (planned drops). */
static int cs_serve_one(cs_conn *c, int *hard) {
  cs_server *srv = c->srv;
  cs_request rq;
  cs_response rs;
  cs_step st;
  size_t end;
  int r, route = CS_R_NONE, keep = 0; /* 1 only after a response is sent */
  const char *want = "POST";

  memset(&rq, 0, sizeof(rq));
  memset(&rs, 0, sizeof(rs));
  memset(&st, 0, sizeof(st));
  r = cs_read_head(c, &end);
  if(r == CS_HEAD_EOF)
    return 0;
  CS_COUNT(srv, http_requests);
  if(r == CS_HEAD_TOO_LARGE) {
    CS_COUNT(srv, bad_requests);
    cs_problem(&rs, 431, "Request head too large", "the head is too large");
    goto refuse;
  }
  r = cs_parse_head(&rq, c->buf, end);
  cs_consume(c, end);
  if(r) {
    CS_COUNT(srv, bad_requests);
    if(r < 0)
      cs_problem(&rs, 500, "Out of memory", "cannot parse the request");
    else
      cs_problem(&rs, r, ddas_http_reason(r), "malformed request head");
    goto refuse;
  }
  if(strcmp(rq.path, srv->cfg.path) == 0)
    route = CS_R_BATCH;
  else if(strcmp(rq.path, "/token") == 0)
    route = CS_R_TOKEN;
  else if(strcmp(rq.path, "/introspect") == 0)
    route = CS_R_INTROSPECT;
  else if(strcmp(rq.path, "/_stats") == 0) {
    route = CS_R_STATS;
    want = "GET";
  } else if(strcmp(rq.path, "/_plan") == 0)
    route = CS_R_PLAN;
  if(route != CS_R_NONE && strcmp(rq.method, want) == 0 &&
     (route == CS_R_BATCH || route == CS_R_TOKEN)) {
    pthread_mutex_lock(&srv->lock);
    if(route == CS_R_BATCH) {
      srv->stats.requests++;
      cs_queue_pop(&srv->plan.batch, &st);
    } else {
      srv->stats.token_requests++;
      cs_queue_pop(&srv->plan.token, &st);
    }
    if(cs_step_is_fault(&st))
      srv->stats.planned_faults++;
    pthread_mutex_unlock(&srv->lock);
  }

  /* framing: Content-Length bodies only, bounded */
  if(rq.te) {
    CS_COUNT(srv, bad_requests);
    cs_problem(&rs, 411, "Length Required",
               "Transfer-Encoding is not supported; send Content-Length");
    goto refuse;
  }
  if(!rq.has_length && strcmp(rq.method, "POST") == 0) {
    CS_COUNT(srv, bad_requests);
    cs_problem(&rs, 411, "Length Required", "Content-Length is required");
    goto refuse;
  }
  if(rq.length > (size_t)srv->cfg.max_body) {
    CS_COUNT(srv, bad_requests);
    cs_problem(&rs, 413, "Content Too Large", "the body is too large");
    goto refuse;
  }
  if(rq.bad_expect) {
    CS_COUNT(srv, bad_requests);
    cs_problem(&rs, 417, "Expectation Failed", "only 100-continue is known");
    goto refuse;
  }
  if(rq.expect_continue && rq.length &&
     cs_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25))
    goto out;
  if(st.drop_mid_body) {
    cs_discard(c, rq.length / 2);
    cs_log(srv, "%s %s -> dropped mid-body (planned)", rq.method, rq.path);
    *hard = 1;
    goto out;
  }
  if(cs_read_body(c, &rq, rq.length))
    goto out;
  if(st.drop) {
    cs_log(srv, "%s %s -> dropped (planned)", rq.method, rq.path);
    *hard = 1;
    goto out;
  }
  if(st.delay_ms)
    cs_sleep(srv, st.delay_ms);
  if(route == CS_R_BATCH && srv->cfg.delay_ms)
    cs_sleep(srv, srv->cfg.delay_ms);
  if(st.expire_tokens) {
    pthread_mutex_lock(&srv->lock);
    cs_tokens_expire_all(srv);
    pthread_mutex_unlock(&srv->lock);
  }

  if(route == CS_R_NONE) {
    cs_fsc(&rs, 404, "ERROR_CODE_SERVICE_NOT_FOUND", "no such service");
  } else if(strcmp(rq.method, want) != 0) {
    cs_resp_header(&rs, "Allow", want);
    cs_fsc(&rs, 405, "ERROR_CODE_METHOD_UNSUPPORTED",
           "method not supported here");
  } else if(cs_step_answers(&st)) {
    cs_planned(&rs, &st);
  } else if(route == CS_R_BATCH) {
    cs_batch_endpoint(c, &rq, st.status, &rs);
  } else if(route == CS_R_TOKEN) {
    cs_token_endpoint(c, &rq, &rs);
    if(st.status && rs.status == 200)
      rs.status = st.status;
  } else if(route == CS_R_INTROSPECT) {
    cs_introspect_endpoint(c, &rq, &rs);
  } else if(route == CS_R_STATS) {
    cs_stats_endpoint(srv, &rs);
  } else {
    cs_plan_endpoint(srv, &rq, &rs);
  }
  cs_step_headers(&rs, &st);
  rs.close = !rq.keep_alive || cs_stopping(srv);
  cs_log(srv, "%s %s -> %d %s", rq.method, rq.path, rs.status, rs.note);
  keep = !cs_send(c, &rs) && !rs.close;
  goto out;

refuse:
  rs.close = 1;
  cs_log(srv, "%s %s -> %d %s", rq.method ? rq.method : "-",
         rq.method ? rq.path : "-", rs.status, rs.note);
  cs_send(c, &rs);
  keep = 0;
out:
  cs_step_clear(&st);
  free(rq.head);
  free(rq.body);
  free(rs.body);
  return keep && !c->broken && !*hard;
}

static void *cs_conn_main(void *arg) {
  cs_conn *c = arg;
  cs_server *srv = c->srv;
  sigset_t set;
  int hard = 0, handshake = 0;

  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  ERR_clear_error();
  c->deadline = cs_now_ms() + (uint64_t)srv->cfg.timeout * 1000u;
  if(SSL_accept(c->ssl) != 1) {
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    CS_COUNT(srv, tls_failures);
    cs_log(srv, "TLS handshake failed: %s", why ? why : "connection closed");
    c->broken = 1;
  } else {
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    BIO *mem = BIO_new(BIO_s_mem());
    handshake = 1;
    if(peer && mem &&
       X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0,
                          XN_FLAG_RFC2253) >= 0) {
      int n = BIO_read(mem, c->peer, (int)sizeof(c->peer) - 1);
      c->peer[n > 0 ? n : 0] = '\0';
    }
    BIO_free(mem);
    X509_free(peer);
    while(cs_serve_one(c, &hard))
      ;
  }
  if(handshake && !c->broken && !hard)
    SSL_shutdown(c->ssl);
  SSL_free(c->ssl);
  free(c->buf);
  pthread_mutex_lock(&srv->lock);
  close(c->fd);
  srv->slots[c->slot].state = CS_SLOT_DONE;
  srv->slots[c->slot].fd = -1;
  srv->nconns--;
  pthread_cond_signal(&srv->done);
  pthread_mutex_unlock(&srv->lock);
  free(c);
  return NULL;
}

/* Joins the threads that have ended and frees their slots. The caller
 * holds srv->lock (an ended thread no longer takes it). */
static void cs_reap(cs_server *srv) {
  size_t i;
  for(i = 0; i < (size_t)srv->cfg.max_connections; i++)
    if(srv->slots[i].state == CS_SLOT_DONE) {
      pthread_join(srv->slots[i].thread, NULL);
      srv->slots[i].state = CS_SLOT_FREE;
    }
}

/* Takes over an accepted socket: a slot, a TLS session and a thread. */
static void cs_spawn(cs_server *srv, int fd) {
  cs_conn *c = NULL;
  struct timeval tv;
  size_t slot = 0;
  int one = 1, ok = 0;

  pthread_mutex_lock(&srv->lock);
  srv->stats.connections++;
  cs_reap(srv);
  if(srv->nconns < (size_t)srv->cfg.max_connections) {
    for(slot = 0; srv->slots[slot].state != CS_SLOT_FREE; slot++)
      ;
    srv->slots[slot].state = CS_SLOT_BUSY;
    srv->slots[slot].fd = fd;
    srv->nconns++;
    ok = 1;
  } else {
    srv->stats.rejected_connections++;
  }
  pthread_mutex_unlock(&srv->lock);
  if(!ok) {
    cs_log(srv, "too many connections; closed one");
    close(fd);
    return;
  }
  tv.tv_sec = srv->cfg.timeout;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c = calloc(1, sizeof(*c));
  if(c) {
    c->srv = srv;
    c->fd = fd;
    c->slot = slot;
    c->cap = (size_t)srv->cfg.max_header;
    c->buf = malloc(c->cap);
    c->ssl = SSL_new(srv->ctx);
  }
  if(c && c->buf && c->ssl && SSL_set_fd(c->ssl, fd) == 1) {
    /* under the lock: the thread may end (and be reaped) at once */
    pthread_mutex_lock(&srv->lock);
    ok = pthread_create(&srv->slots[slot].thread, NULL, cs_conn_main, c) == 0;
    pthread_mutex_unlock(&srv->lock);
    if(ok)
      return;
  }
  cs_log(srv, "cannot serve a connection (out of resources)");
  if(c) {
    SSL_free(c->ssl);
    free(c->buf);
    free(c);
  }
  pthread_mutex_lock(&srv->lock);
  close(fd);
  srv->slots[slot].state = CS_SLOT_FREE;
  srv->slots[slot].fd = -1;
  srv->nconns--;
  pthread_mutex_unlock(&srv->lock);
}

/* ---- start-up, the accept loop, shutdown ------------------------------- */

/* Set by the signal handler; the pipe wakes the accept loop. Process-global
 * because a signal handler can reach nothing else. */
static volatile sig_atomic_t cs_stop;
static int cs_wake_fd = -1;

static void cs_on_signal(int sig) {
  int saved = errno;
  char b = 1;
  (void)sig;
  cs_stop = 1;
  if(cs_wake_fd >= 0 && write(cs_wake_fd, &b, 1) < 0) {
    /* the pipe is full: a wake-up is pending anyway */
  }
  errno = saved;
}

static int cs_check_config(cs_server *srv) {
  const cs_config *c = &srv->cfg;
  const char *missing = !c->listen       ? "listen"
                        : !c->cert       ? "cert"
                        : !c->key        ? "key"
                        : !c->client_ca  ? "client-ca"
                        : !c->trust      ? "trust"
                        : !c->schema_dir ? "schema-dir"
                        : !c->record_dir ? "record-dir"
                                         : NULL;
  ddas_sig_profile p;
  if(missing) {
    fprintf(stderr, "cbs-stub: --%s is required (see --help)\n", missing);
    return -1;
  }
  if(!c->client_id != !c->client_secret) {
    fprintf(stderr, "cbs-stub: --client-id and --client-secret go together\n");
    return -1;
  }
  if(strcmp(c->sig_profile, "any") == 0)
    srv->profile = -1;
  else if(ddas_sig_profile_parse(c->sig_profile, &p) == 0)
    srv->profile = (int)p;
  else {
    fprintf(stderr, "cbs-stub: --sig-profile must be adr, body or any\n");
    return -1;
  }
  if(c->path[0] != '/' || strlen(c->path) >= 200 || strchr(c->path, '?') ||
     !cs_header_safe(c->path, 199) || strchr(c->path, ' ') ||
     strcmp(c->path, "/token") == 0 || strcmp(c->path, "/_stats") == 0 ||
     strcmp(c->path, "/introspect") == 0 || strcmp(c->path, "/_plan") == 0) {
    fprintf(stderr, "cbs-stub: --path must be an absolute path other than "
                    "/token, /introspect, /_stats and /_plan, without a "
                    "query\n");
    return -1;
  }
  return 0;
}

static void cs_ssl_errors(const char *what) {
  unsigned long e;
  fprintf(stderr, "cbs-stub: %s\n", what);
  while((e = ERR_get_error()) != 0) {
    char b[256];
    ERR_error_string_n(e, b, sizeof(b));
    fprintf(stderr, "  %s\n", b);
  }
}

static int cs_tls_setup(cs_server *srv) {
  const cs_config *c = &srv->cfg;
  STACK_OF(X509_NAME) * cas;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if(!ctx) {
    cs_ssl_errors("cannot create the TLS context");
    return -1;
  }
  srv->ctx = ctx;
  if(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    cs_ssl_errors("cannot require TLS 1.2");
    return -1;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if(SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
    cs_ssl_errors("cannot load --cert");
    return -1;
  }
  if(SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
     SSL_CTX_check_private_key(ctx) != 1) {
    cs_ssl_errors("cannot load --key, or it does not match --cert");
    return -1;
  }
  if(SSL_CTX_load_verify_locations(ctx, c->client_ca, NULL) != 1) {
    cs_ssl_errors("cannot load --client-ca");
    return -1;
  }
  cas = SSL_load_client_CA_file(c->client_ca);
  if(!cas) {
    cs_ssl_errors("no CA names in --client-ca");
    return -1;
  }
  SSL_CTX_set_client_CA_list(ctx, cas);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     NULL);
  SSL_CTX_set_verify_depth(ctx, 5);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"cbs-stub", 8);
  return 0;
}

/* --introspect: "TOKEN=active[:EXP][:SCOPE]" entries separated by commas. */
static int cs_intro_parse(cs_server *srv, const char *spec) {
  const char *p = spec;
  size_t n = 1, i;
  for(i = 0; spec[i]; i++)
    n += spec[i] == ',';
  srv->intro = calloc(n, sizeof(*srv->intro));
  if(!srv->intro)
    return -1;
  while(*p) {
    cs_intro *e = &srv->intro[srv->nintro];
    size_t len = strcspn(p, ","), tl;
    const char *eq = memchr(p, '=', len), *rest, *colon;
    char *end;
    if(!eq || eq == p || (tl = (size_t)(eq - p)) >= sizeof(e->token) ||
       len - tl - 1 < 6 || strncmp(eq + 1, "active", 6) != 0)
      goto bad;
    memcpy(e->token, p, tl);
    rest = eq + 7;
    if(rest < p + len && *rest != ':')
      goto bad;
    if(rest < p + len) {
      rest++;
      colon = memchr(rest, ':', (size_t)(p + len - rest));
      if(rest[0] != ':' && rest < p + len) {
        e->exp = strtoll(rest, &end, 10);
        if(end == rest || (end != p + len && *end != ':') || e->exp < 0)
          goto bad;
      }
      if(colon) {
        size_t sl = (size_t)(p + len - colon - 1);
        if(sl >= sizeof(e->scope))
          goto bad;
        memcpy(e->scope, colon + 1, sl);
      }
    }
    srv->nintro++;
    p += len;
    if(*p == ',')
      p++;
  }
  return 0;
bad:
  fprintf(stderr,
          "cbs-stub: --introspect: entry %zu is not TOKEN=active[:EXP][:SCOPE] "
          "(TOKEN below 128 bytes, EXP Unix seconds)\n",
          srv->nintro + 1);
  return -1;
}

static int cs_load(cs_server *srv) {
  char err[256];
  if(srv->cfg.introspect && cs_intro_parse(srv, srv->cfg.introspect))
    return -1;
  if(ddas_truststore_load(srv->cfg.trust, &srv->trust, err, sizeof(err))) {
    fprintf(stderr, "cbs-stub: --trust: %s\n", err);
    return -1;
  }
  if(ddas_schemaset_new(srv->cfg.schema_dir, &srv->schemas)) {
    fprintf(stderr, "cbs-stub: --schema-dir: cannot use %s\n",
            srv->cfg.schema_dir);
    return -1;
  }
  if(srv->cfg.plan) {
    json_error_t je;
    json_t *root = json_load_file(srv->cfg.plan, JSON_REJECT_DUPLICATES, &je);
    if(!root) {
      fprintf(stderr, "cbs-stub: --plan: line %d: %s\n", je.line, je.text);
      return -1;
    }
    if(cs_plan_parse(root, &srv->plan, err, sizeof(err))) {
      json_decref(root);
      fprintf(stderr, "cbs-stub: --plan: %s\n", err);
      return -1;
    }
    json_decref(root);
  }
  if(mkdir(srv->cfg.record_dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "cbs-stub: --record-dir: cannot create %s: %s\n",
            srv->cfg.record_dir, strerror(errno));
    return -1;
  }
  srv->tokens = calloc(CS_MAX_TOKENS, sizeof(*srv->tokens));
  srv->slots = calloc((size_t)srv->cfg.max_connections, sizeof(*srv->slots));
  if(!srv->tokens || !srv->slots) {
    fprintf(stderr, "cbs-stub: out of memory\n");
    return -1;
  }
  return cs_tls_setup(srv);
}

/* Binds and listens on --listen; *port gets the bound port. */
static int cs_listen(const cs_server *srv, int *lfd, int *port) {
  char host[256];
  const char *spec = srv->cfg.listen, *colon = strrchr(spec, ':');
  struct addrinfo hints, *ai = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  size_t hl;
  int fd = -1, one = 1, e;
  if(!colon || colon == spec || !colon[1]) {
    fprintf(stderr, "cbs-stub: --listen must be HOST:PORT\n");
    return -1;
  }
  hl = (size_t)(colon - spec);
  if(spec[0] == '[' && colon[-1] == ']') {
    spec++;
    hl -= 2;
  }
  if(hl >= sizeof(host)) {
    fprintf(stderr, "cbs-stub: --listen: host name too long\n");
    return -1;
  }
  memcpy(host, spec, hl);
  host[hl] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  e = getaddrinfo(host, colon + 1, &hints, &ai);
  if(e) {
    fprintf(stderr, "cbs-stub: --listen: %s\n", gai_strerror(e));
    return -1;
  }
  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if(fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
     bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64) ||
     getsockname(fd, (struct sockaddr *)&ss, &sl) ||
     fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
    fprintf(stderr, "cbs-stub: cannot listen on %s: %s\n", srv->cfg.listen,
            strerror(errno));
    if(fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  *port = ss.ss_family == AF_INET6
              ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
              : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  *lfd = fd;
  return 0;
}

static int cs_write_port_file(const char *path, int port) {
  char tmp[CS_PATH_MAX];
  FILE *f;
  int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
  if(n < 0 || (size_t)n >= sizeof(tmp))
    return -1;
  f = fopen(tmp, "w");
  if(!f)
    return -1;
  fprintf(f, "%d\n", port);
  if(fclose(f) || rename(tmp, path)) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void cs_accept_loop(cs_server *srv, int lfd, int wake) {
  while(!cs_stop) {
    struct pollfd p[2];
    int fd;
    p[0].fd = lfd;
    p[0].events = POLLIN;
    p[1].fd = wake;
    p[1].events = POLLIN;
    p[0].revents = p[1].revents = 0;
    if(poll(p, 2, -1) < 0) {
      if(errno == EINTR)
        continue;
      fprintf(stderr, "cbs-stub: poll: %s\n", strerror(errno));
      return;
    }
    if(p[1].revents)
      return;
    if(!(p[0].revents & POLLIN))
      continue;
    fd = accept(lfd, NULL, NULL);
    if(fd < 0) {
      if(errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
         errno == ENOMEM) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    if(fcntl(fd, F_SETFD, FD_CLOEXEC) ||
       fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
      close(fd);
      continue;
    }
    cs_spawn(srv, fd);
  }
}

/* Stops the connections: idle ones see the end of input at once, busy ones
 * finish their request; then joins every thread. Returns how many are still
 * running after CS_DRAIN_SECONDS. */
static size_t cs_drain(cs_server *srv) {
  struct timespec until;
  size_t i, left;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += CS_DRAIN_SECONDS;
  pthread_mutex_lock(&srv->lock);
  srv->stopping = 1;
  for(i = 0; i < (size_t)srv->cfg.max_connections; i++)
    if(srv->slots[i].state == CS_SLOT_BUSY)
      shutdown(srv->slots[i].fd, SHUT_RD);
  while(srv->nconns > 0)
    if(pthread_cond_timedwait(&srv->done, &srv->lock, &until) == ETIMEDOUT)
      break;
  left = srv->nconns;
  if(!left)
    cs_reap(srv);
  pthread_mutex_unlock(&srv->lock);
  return left;
}

int main(int argc, char **argv) {
  cs_server *srv = calloc(1, sizeof(*srv));
  struct sigaction sa;
  int rc = 2, lfd = -1, port = 0, pfd[2] = {-1, -1};

  if(!srv) {
    fprintf(stderr, "cbs-stub: out of memory\n");
    return 1;
  }
  pthread_mutex_init(&srv->lock, NULL);
  pthread_mutex_init(&srv->core_lock, NULL);
  pthread_cond_init(&srv->done, NULL);
  cs_config_defaults(&srv->cfg);
  if(cs_parse_args(argc, argv, &srv->cfg))
    goto out;
  if(srv->cfg.help) {
    cs_usage(stdout);
    rc = 0;
    goto out;
  }
  if(cs_check_config(srv))
    goto out;
  rc = 1;
  if(cs_load(srv) || cs_listen(srv, &lfd, &port))
    goto out;
  if(pipe(pfd) || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) ||
     fcntl(pfd[1], F_SETFD, FD_CLOEXEC) ||
     fcntl(pfd[1], F_SETFL, fcntl(pfd[1], F_GETFL) | O_NONBLOCK)) {
    fprintf(stderr, "cbs-stub: pipe: %s\n", strerror(errno));
    goto out;
  }
  cs_wake_fd = pfd[1];
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = cs_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  if(srv->cfg.port_file && cs_write_port_file(srv->cfg.port_file, port)) {
    fprintf(stderr, "cbs-stub: cannot write %s\n", srv->cfg.port_file);
    goto out;
  }
  printf("cbs-stub: listening on %.*s port %d\n",
         (int)(strrchr(srv->cfg.listen, ':') - srv->cfg.listen),
         srv->cfg.listen, port);
  fflush(stdout);

  cs_accept_loop(srv, lfd, pfd[0]);
  close(lfd);
  lfd = -1;
  if(cs_drain(srv)) {
    /* a handler still runs: freeing what it uses would crash it */
    fprintf(stderr, "cbs-stub: connections still busy; exiting anyway\n");
    _exit(1);
  }
  cs_log(srv, "stopped");
  rc = 0;
out:
  if(lfd >= 0)
    close(lfd);
  cs_wake_fd = -1;
  if(pfd[0] >= 0)
    close(pfd[0]);
  if(pfd[1] >= 0)
    close(pfd[1]);
  SSL_CTX_free(srv->ctx);
  ddas_truststore_free(srv->trust);
  ddas_schemaset_free(srv->schemas);
  cs_plan_clear(&srv->plan);
  free(srv->tokens);
  free(srv->slots);
  free(srv->intro);
  pthread_cond_destroy(&srv->done);
  pthread_mutex_destroy(&srv->core_lock);
  pthread_mutex_destroy(&srv->lock);
  free(srv);
  return rc;
}
