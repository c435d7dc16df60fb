/* The configuration table of ddas-worker (see config.h). */
#include "config.h"

#include "ddas/events.h"
#include "ddas/text.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

typedef enum {
  T_STR,
  T_SECRET,
  T_PATH,
  T_URL,
  T_URIREF, /* an RFC 3986 URI-reference (ddas_uri_reference_ok) or "" */
  T_INT,
  T_BOOL,
  T_ENUM
} ktype;

typedef struct {
  const char *key;
  ktype type;
  const char *def;
  long min, max;       /* T_INT */
  const char *choices; /* T_ENUM: "a|b|c" */
  size_t off;
  const char *desc;
} kdef;

#define F(field) offsetof(wk_config, field)

static const kdef table[] = {
    {"cbs.mode", T_ENUM, "push", 0, 0, "push|pull|both", F(cbs_mode),
     "`push`: forward accepted batches to cbs.url; `pull`: send nothing to "
     "CBS, publish them to topic.accepted for `serve` (no cbs.* or sign.* "
     "keys needed); `both`: forward, then publish"},
    {"cbs.url", T_URL, "", 0, 0, NULL, F(cbs_url),
     "CBS endpoint: `https://host/path`, or `file:///DIR` to write signed "
     "batches to an outbox directory"},
    {"cbs.allow_insecure_http", T_BOOL, "false", 0, 0, NULL,
     F(allow_insecure_http),
     "permit an `http://` URL (local development against a stub only; logs a "
     "warning at every start)"},
    {"cbs.ca", T_PATH, "", 0, 0, NULL, F(cbs_ca),
     "CA bundle (PEM) that the server certificate must chain to, e.g. the "
     "PKIoverheid Private Root; empty: the system store"},
    {"cbs.cert", T_PATH, "", 0, 0, NULL, F(cbs_cert),
     "transport (mutual TLS) certificate chain, PEM"},
    {"cbs.key", T_PATH, "", 0, 0, NULL, F(cbs_key),
     "private key of the transport certificate, PEM"},
    {"cbs.key_passphrase", T_SECRET, "", 0, 0, NULL, F(cbs_key_passphrase),
     "passphrase of cbs.key (secret)"},
    {"cbs.connect_timeout_ms", T_INT, "10000", 100, 600000, NULL,
     F(connect_timeout_ms), "TCP and TLS connect timeout"},
    {"cbs.timeout_ms", T_INT, "120000", 1000, 3600000, NULL, F(timeout_ms),
     "total time for one request"},
    {"cbs.token_url", T_URL, "", 0, 0, NULL, F(token_url),
     "OAuth 2.0 token endpoint (client credentials); empty: no "
     "Authorization header"},
    {"cbs.client_id", T_STR, "", 0, 0, NULL, F(client_id),
     "OAuth 2.0 client id"},
    {"cbs.client_secret", T_SECRET, "", 0, 0, NULL, F(client_secret),
     "OAuth 2.0 client secret (secret)"},
    {"cbs.auth_method", T_ENUM, "basic", 0, 0, "basic|form", F(auth_method),
     "how the client authenticates at the token endpoint: HTTP Basic or in "
     "the form body"},
    {"cbs.scope", T_STR, "", 0, 0, NULL, F(scope),
     "OAuth 2.0 scope to request (optional, e.g. `read`)"},
    {"cbs.token_refresh_margin_s", T_INT, "30", 0, 3600, NULL,
     F(token_refresh_margin_s),
     "renew a cached token this long before it expires"},
    {"sign.cert", T_PATH, "", 0, 0, NULL, F(sign_cert),
     "signing certificate chain (PEM, end-entity first); must differ from "
     "cbs.cert"},
    {"sign.key", T_PATH, "", 0, 0, NULL, F(sign_key),
     "private key of the signing certificate, PEM"},
    {"sign.key_passphrase", T_SECRET, "", 0, 0, NULL, F(sign_key_passphrase),
     "passphrase of sign.key (secret)"},
    {"sign.profile", T_ENUM, "adr", 0, 0, "adr|body", F(sign_profile),
     "reading of nlgov-adr-payload-sig: `adr` (JAdES, digest header signed) "
     "or `body` (payload signed)"},
    {"sign.kid", T_STR, "", 0, 0, NULL, F(sign_kid),
     "JWS `kid`; empty: the x5t#S256 of the signing certificate"},
    {"retry.max_attempts", T_INT, "8", 1, 1000, NULL, F(retry_max_attempts),
     "attempts per batch, the first included, before it is parked"},
    {"retry.base_ms", T_INT, "500", 1, 3600000, NULL, F(retry_base_ms),
     "first backoff ceiling; doubles per attempt (full jitter)"},
    {"retry.max_ms", T_INT, "60000", 1, 86400000, NULL, F(retry_max_ms),
     "largest backoff ceiling"},
    {"retry.budget_ms", T_INT, "600000", 0, 604800000, NULL, F(retry_budget_ms),
     "time from the first attempt after which no retry starts"},
    {"cbs.config_fault_threshold", T_INT, "3", 1, 1000, NULL,
     F(config_fault_threshold),
     "consecutive configuration faults (403/404/405, repeated 401) after "
     "which consumption stops and /readyz fails"},
    {"batch.code_gegevensleverancier", T_STR, "", 0, 0, NULL,
     F(code_gegevensleverancier),
     "codeGegevensleverancier of every outgoing batch, replacing the "
     "delivery's own; empty: the delivery's own"},
    {"upgrade.code_gegevensleverancier", T_STR, "", 0, 0, NULL,
     F(upgrade_code_gegevensleverancier),
     "codeGegevensleverancier for a delivery without one (SHV v0.9, where it "
     "is optional; v1.0 requires it), with an `envelope.filled` warning; "
     "`batch.code_gegevensleverancier` wins when set; with neither, such a "
     "delivery is rejected (`envelope.missing`)"},
    {"batch.max_records", T_INT, "0", 0, 50000, NULL, F(max_records),
     "records per batch; 0: 25,000 trajecten (SHV) or 50,000 vroegsignalen "
     "(VS)"},
    {"batch.max_bytes", T_INT, "67108864", 65536, 1073741824, NULL,
     F(max_batch_bytes), "bytes per batch body"},
    {"rules.profile", T_ENUM, "strict", 0, 0, "spec|strict", F(profile),
     "business-rule profile; single rules: `rules.ID = error|warning|off`"},
    {"normalise", T_STR, "all", 0, 0, NULL, F(normalise),
     "normalisations to apply: `all`, `none` or a list such as `N1,N2,N4`"},
    {"kafka.group.id", T_STR, "ddas-worker", 0, 0, NULL, F(group_id),
     "consumer group of the workers; other `kafka.*` keys pass through to "
     "librdkafka"},
    {"topic.deliveries", T_STR, "ddas.deliveries", 0, 0, NULL,
     F(topic_deliveries), "input topic"},
    {"topic.rejections", T_STR, "ddas.rejections", 0, 0, NULL,
     F(topic_rejections), "rejection events"},
    {"topic.receipts", T_STR, "ddas.receipts", 0, 0, NULL, F(topic_receipts),
     "receipts"},
    {"topic.failed", T_STR, "ddas.failed", 0, 0, NULL, F(topic_failed),
     "parked batches (keep long; replay reads it)"},
    {"topic.accepted", T_STR, "ddas.accepted", 0, 0, NULL, F(topic_accepted),
     "accepted batches and delivery manifests for `serve` (cbs.mode pull or "
     "both; create it with cleanup.policy=compact)"},
    {"submit.chunk_bytes", T_INT, "900000", 4096, 1073741824, NULL,
     F(chunk_bytes),
     "`submit`: deliveries larger than this are split into chunks (stay "
     "below the broker's message.max.bytes)"},
    {"run.incomplete_after_ms", T_INT, "600000", 1000, 604800000, NULL,
     F(incomplete_after_ms),
     "a chunked delivery whose next chunk does not arrive within this time "
     "is reported incomplete and its offsets move on"},
    {"run.max_poll_interval_ms", T_INT, "900000", 10000, 86400000, NULL,
     F(max_poll_interval_ms),
     "librdkafka's max.poll.interval.ms: the group's limit between two polls "
     "(the worker polls at least every 100 ms, also while CBS is slow, "
     "retrying or refusing)"},
    {"run.max_inflight_bytes", T_INT, "134217728", 1048576, 17179869184, NULL,
     F(max_inflight_bytes),
     "bytes held for deliveries (batches whose outcome is not yet "
     "published, chunks of open chunked deliveries); at this figure the "
     "worker pauses the partitions without an open delivery (and keeps "
     "polling) until it drops below three quarters of it"},
    {"run.revoke_timeout_ms", T_INT, "5000", 0, 600000, NULL,
     F(revoke_timeout_ms),
     "when partitions are revoked, how long the worker waits for Kafka to "
     "acknowledge outcomes already published (so their offsets commit); "
     "batches still at CBS are abandoned at once and redone by the next "
     "owner"},
    {"cbs.max_in_flight", T_INT, "16", 1, 64, NULL, F(max_in_flight),
     "batches sent to CBS at the same time (one connection each over "
     "HTTP/1.1, streams of one connection over HTTP/2); 16 keeps one "
     "worker checking at full speed with CBS answering after 100 ms"},
    {"admin.listen", T_STR, "", 0, 0, NULL, F(admin_listen),
     "address of the admin endpoint (`127.0.0.1:9464`); empty: off"},
    {"serve.listen", T_STR, "127.0.0.1:8443", 0, 0, NULL, F(serve_listen),
     "`serve`: address of the POST /gegevens server (`HOST:PORT`; "
     "`0.0.0.0:8443` for every interface); always HTTPS with mutual TLS"},
    {"serve.cert", T_PATH, "", 0, 0, NULL, F(serve_cert),
     "`serve`: server certificate chain (PEM, end-entity first)"},
    {"serve.key", T_PATH, "", 0, 0, NULL, F(serve_key),
     "`serve`: its private key (PEM)"},
    {"serve.key_passphrase", T_SECRET, "", 0, 0, NULL, F(serve_key_passphrase),
     "passphrase of serve.key (secret)"},
    {"serve.client_ca", T_PATH, "", 0, 0, NULL, F(serve_client_ca),
     "`serve`: CA bundle client certificates must chain to (PKIoverheid "
     "Private Root); a client without one fails the TLS handshake"},
    {"serve.allow", T_STR, "", 0, 0, NULL, F(serve_allow),
     "`serve`: client identities allowed, separated by `;`: `oin:DIGITS` "
     "(the certificate subject's serialNumber) or a subject DN in RFC 2253 "
     "form (`CN=cbs,O=CBS,C=NL`); empty: any certificate of serve.client_ca"},
    {"serve.auth", T_ENUM, "token", 0, 0, "token|mtls", F(serve_auth),
     "`serve`: `token`: a bearer token checked by introspection is required "
     "as well as the client certificate; `mtls`: the certificate alone"},
    {"serve.introspection_url", T_URL, "", 0, 0, NULL,
     F(serve_introspection_url),
     "`serve`: RFC 7662 token introspection endpoint (https://…), required "
     "with serve.auth = token"},
    {"serve.introspection_ca", T_PATH, "", 0, 0, NULL,
     F(serve_introspection_ca),
     "`serve`: CA bundle for the introspection endpoint; empty: the "
     "system's"},
    {"serve.introspection_client_id", T_STR, "", 0, 0, NULL,
     F(serve_introspection_client_id),
     "`serve`: client id for the introspection endpoint (HTTP Basic)"},
    {"serve.introspection_client_secret", T_SECRET, "", 0, 0, NULL,
     F(serve_introspection_client_secret),
     "`serve`: its client secret (secret)"},
    {"serve.introspection_cache_s", T_INT, "60", 0, 3600, NULL,
     F(serve_introspection_cache_s),
     "`serve`: how long an active token's introspection answer is reused "
     "(never past the token's exp); 0: ask every time"},
    {"serve.required_scope", T_STR, "read", 0, 0, NULL, F(serve_required_scope),
     "`serve`: scope a token must carry (the OpenAPI's `read`); empty: any"},
    {"serve.allow_insecure_http", T_BOOL, "false", 0, 0, NULL,
     F(serve_allow_insecure_http),
     "`serve`: permit an http:// introspection endpoint (local development "
     "only; the server itself is always HTTPS)"},
    {"serve.signature_trust", T_PATH, "", 0, 0, NULL, F(serve_signature_trust),
     "`serve`: trust anchors (PEM) of request signatures (Digest and "
     "nlgov-adr-payload-sig); empty: serve.client_ca"},
    {"serve.require_signed_requests", T_BOOL, "false", 0, 0, NULL,
     F(serve_require_signed_requests),
     "`serve`: refuse a request without Digest and nlgov-adr-payload-sig "
     "(a request that has them is always verified)"},
    {"serve.path_shv", T_STR, "/gegevens", 0, 0, NULL, F(serve_path_shv),
     "`serve`: path of the SHV interface"},
    {"serve.path_vs", T_STR, "/vs/gegevens", 0, 0, NULL, F(serve_path_vs),
     "`serve`: path of the VS interface"},
    {"serve.max_request_bytes", T_INT, "65536", 1024, 1048576, NULL,
     F(serve_max_request_bytes),
     "`serve`: largest request body; larger ones get 413"},
    {"serve.threads", T_INT, "16", 1, 256, NULL, F(serve_threads),
     "`serve`: connections served at once"},
    {"serve.spool_dir", T_PATH, "/var/tmp", 0, 0, NULL, F(serve_spool_dir),
     "`serve`: directory of the spool of batch bodies (an unlinked file, "
     "mode 0600, as large as topic.accepted)"},
    {"log.format", T_ENUM, "json", 0, 0, "json|text", F(log_format),
     "log lines on stderr: JSON lines or text"},
    {"events.source", T_URIREF, "", 0, 0, NULL, F(events_source),
     "`ce_source` of every event `run` and `replay` publish (a URI-reference, "
     "e.g. `urn:example:ddas-worker`); empty: `urn:ddas-worker:` and "
     "kafka.group.id percent-encoded"},
    {"log.level", T_ENUM, "info", 0, 0, "debug|info|warn|error", F(log_level),
     "lowest level logged"},
};

#define NKEYS (sizeof(table) / sizeof(table[0]))

/* librdkafka settings the worker sets itself because its guarantees rest
 * on them: a kafka.* line may not change them (an automatic offset store
 * committed a delivery still at CBS, and a SIGKILL then lost it). NULL, or
 * why the key is refused. */
static const char *guarded_kafka_key(const char *name) {
  static const struct {
    const char *name, *why;
  } guarded[] = {
      {"enable.auto.offset.store",
       "offsets are stored only past durable outcomes"},
      {"enable.auto.commit", "the worker commits what it stored"},
      {"auto.offset.reset",
       "a new group must read the backlog from the earliest offset"},
      {"acks", "events are durable only when every in-sync replica has them"},
      {"enable.idempotence", "events are produced idempotently"},
      {"max.in.flight.requests.per.connection",
       "the idempotent producer keeps one request in flight (librdkafka 2.0 "
       "stalled partitions with more)"},
      {"max.in.flight", "the idempotent producer keeps one request in flight"},
      {"partition.assignment.strategy",
       "revocations are incremental (cooperative-sticky)"},
      {"group.id", "set it with kafka.group.id"},
      {"transactional.id", "the worker does not use transactions"},
  };
  size_t i;
  for(i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
    if(!strcmp(name, guarded[i].name))
      return guarded[i].why;
  return NULL;
}

static char **str_at(wk_config *c, const kdef *k) {
  return (char **)(void *)((char *)c + k->off);
}
static long *long_at(wk_config *c, const kdef *k) {
  return (long *)(void *)((char *)c + k->off);
}
static int *int_at(wk_config *c, const kdef *k) {
  return (int *)(void *)((char *)c + k->off);
}

static const kdef *find(const char *key) {
  size_t i;
  for(i = 0; i < NKEYS; i++)
    if(strcmp(table[i].key, key) == 0)
      return &table[i];
  return NULL;
}

static int kafka_secret(const char *name);

int wk_config_is_secret(const char *key) {
  const kdef *k = find(key);
  if(!strncmp(key, "kafka.", 6))
    return kafka_secret(key + 6);
  return k && k->type == T_SECRET;
}

static int parse_bool(const char *v, int *out) {
  if(!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") ||
     !strcasecmp(v, "on"))
    *out = 1;
  else if(!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
          !strcasecmp(v, "off"))
    *out = 0;
  else
    return -1;
  return 0;
}

static int enum_ok(const char *choices, const char *v) {
  size_t n = strlen(v);
  const char *p = choices;
  while(*p) {
    const char *e = strchr(p, '|');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if(l == n && strncmp(p, v, n) == 0)
      return 1;
    if(!e)
      break;
    p = e + 1;
  }
  return 0;
}

/* Sets one table key from text; where says where the value came from. */
static int set_value(wk_config *c, const kdef *k, const char *v,
                     const char *where, char *err, size_t errlen) {
  switch(k->type) {
  case T_INT: {
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if(errno || end == v || *end || n < k->min || n > k->max) {
      snprintf(err, errlen, "%s: %s must be a whole number from %ld to %ld",
               where, k->key, k->min, k->max);
      return -1;
    }
    *long_at(c, k) = n;
    return 0;
  }
  case T_BOOL:
    if(parse_bool(v, int_at(c, k))) {
      snprintf(err, errlen, "%s: %s must be true or false", where, k->key);
      return -1;
    }
    return 0;
  case T_ENUM:
    if(!enum_ok(k->choices, v)) {
      snprintf(err, errlen, "%s: %s must be one of %s", where, k->key,
               k->choices);
      return -1;
    }
    break;
  case T_URL:
    if(*v && strncmp(v, "https://", 8) && strncmp(v, "http://", 7) &&
       strncmp(v, "file://", 7)) {
      snprintf(err, errlen,
               "%s: %s must start with https:// (or file:// for an outbox)",
               where, k->key);
      return -1;
    }
    break;
  case T_URIREF:
    if(*v && !ddas_uri_reference_ok(v)) {
      snprintf(err, errlen,
               "%s: %s must be a URI-reference (RFC 3986: no spaces, quotes "
               "or non-ASCII; percent-encode them, e.g. %%20 for a space)",
               where, k->key);
      return -1;
    }
    break;
  default: break;
  }
  {
    char *d = strdup(v), **slot = str_at(c, k);
    if(!d) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    free(*slot);
    *slot = d;
  }
  return 0;
}

/* Sets name = value in the list (a later line replaces an earlier one, and
 * where with it). 0, or -1 out of memory. */
static int kv_set(wk_kv **arr, size_t *n, const char *name, const char *value,
                  const char *where) {
  size_t i;
  wk_kv *x;
  for(i = 0; i < *n; i++) {
    if(strcmp((*arr)[i].name, name) == 0) {
      char *v = strdup(value), *w = strdup(where);
      if(!v || !w) {
        free(v);
        free(w);
        return -1;
      }
      free((*arr)[i].value);
      free((*arr)[i].where);
      (*arr)[i].value = v;
      (*arr)[i].where = w;
      return 0;
    }
  }
  x = realloc(*arr, (*n + 1) * sizeof(*x));
  if(!x)
    return -1;
  *arr = x;
  x[*n].name = strdup(name);
  x[*n].value = strdup(value);
  x[*n].where = strdup(where);
  if(!x[*n].name || !x[*n].value || !x[*n].where) {
    free(x[*n].name);
    free(x[*n].value);
    free(x[*n].where);
    return -1;
  }
  (*n)++;
  return 0;
}

/* librdkafka properties that hold a secret: masked when printed, and each
 * may be read from a file with kafka.NAME_file. */
static int kafka_secret(const char *name) {
  static const char *const secrets[] = {"sasl.password", "ssl.key.password",
                                        "ssl.keystore.password",
                                        "sasl.oauthbearer.client.secret"};
  size_t i;
  for(i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
    if(!strcmp(name, secrets[i]))
      return 1;
  return 0;
}

static const char *suggest(const char *key) {
  size_t i, best = 99;
  const char *s = NULL;
  for(i = 0; i < NKEYS; i++) {
    size_t d = ddas_edit_distance(key, table[i].key);
    char file_key[96];
    snprintf(file_key, sizeof(file_key), "%s_file", table[i].key);
    if(table[i].type == T_SECRET && ddas_edit_distance(key, file_key) < d)
      d = ddas_edit_distance(key, file_key);
    if(d < best) {
      best = d;
      s = table[i].key;
    }
  }
  return best <= 3 ? s : NULL;
}

/* Reads a secret file: the whole content, one trailing newline removed. */
static char *read_secret(const char *path, char *err, size_t errlen,
                         const char *key) {
  FILE *f = fopen(path, "rb");
  char buf[8192];
  size_t n;
  if(!f) {
    snprintf(err, errlen, "%s_file: cannot read %s: %s", key, path,
             strerror(errno));
    return NULL;
  }
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  while(n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  return strdup(buf);
}

/* KEY_file = PATH for a secret KEY (a table key or a kafka.* secret; from
 * the environment also kafka.NAME.file): reads the file and sets KEY. 1
 * when key is not such a key, else 0 or -1 with a message. */
static int apply_file(wk_config *c, const char *key, const char *path,
                      const char *where, char *err, size_t errlen) {
  size_t kl = strlen(key);
  char base[128];
  const kdef *s;
  char *secret;
  int rc, kafka;
  if(kl <= 5 || kl - 5 >= sizeof(base) ||
     (strcmp(key + kl - 5, "_file") && strcmp(key + kl - 5, ".file")))
    return 1;
  memcpy(base, key, kl - 5);
  base[kl - 5] = '\0';
  s = find(base);
  kafka = !strncmp(base, "kafka.", 6) && kafka_secret(base + 6);
  if(!(s && s->type == T_SECRET) && !kafka)
    return 1;
  if(!(secret = read_secret(path, err, errlen, base)))
    return -1;
  if(!kafka)
    rc = set_value(c, s, secret, where, err, errlen);
  else if((rc = kv_set(&c->kafka, &c->nkafka, base + 6, secret, where)))
    snprintf(err, errlen, "out of memory");
  memset(secret, 0, strlen(secret));
  free(secret);
  snprintf(base + strlen(base), sizeof(base) - strlen(base), "_file");
  if(!rc &&
     (rc = kv_set(&c->secret_files, &c->nsecret_files, base, path, where)))
    snprintf(err, errlen, "out of memory");
  return rc;
}

/* Applies key = value from any source. */
static int apply(wk_config *c, const char *key, const char *value,
                 const char *where, char *err, size_t errlen) {
  const kdef *k = find(key);
  int rc;
  if(k)
    return set_value(c, k, value, where, err, errlen);
  if((rc = apply_file(c, key, value, where, err, errlen)) <= 0)
    return rc;
  if(strncmp(key, "kafka.", 6) == 0 && key[6]) {
    const char *why = guarded_kafka_key(key + 6);
    if(why) {
      snprintf(err, errlen,
               "%s: %s cannot be set: %s (DESIGN.md \"Guarantees\"); remove "
               "the line",
               where, key, why);
      return -1;
    }
    return kv_set(&c->kafka, &c->nkafka, key + 6, value, where) ? -1 : 0;
  }
  if(strncmp(key, "cbs.header.", 11) == 0 && key[11]) {
    const char *h = key + 11;
    size_t i;
    for(i = 0; h[i]; i++)
      if(!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_') {
        snprintf(err, errlen,
                 "%s: %s: a header name has letters, digits "
                 "and '-' only",
                 where, key);
        return -1;
      }
    if(strchr(value, '\r') || strchr(value, '\n')) {
      snprintf(err, errlen, "%s: %s: a header value cannot span lines", where,
               key);
      return -1;
    }
    return kv_set(&c->headers, &c->nheaders, h, value, where) ? -1 : 0;
  }
  if(strncmp(key, "rules.", 6) == 0 && key[6] && strcmp(key, "rules.profile")) {
    if(strcmp(value, "error") && strcmp(value, "warning") &&
       strcmp(value, "off")) {
      snprintf(err, errlen, "%s: %s must be error, warning or off", where, key);
      return -1;
    }
    return kv_set(&c->rules, &c->nrules, key + 6, value, where) ? -1 : 0;
  }
  {
    const char *s = suggest(key);
    snprintf(err, errlen, "%s: unknown key '%s'%s%s%s", where, key,
             s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
  }
  return -1;
}

void wk_config_defaults(wk_config *c) {
  size_t i;
  char err[128];
  memset(c, 0, sizeof(*c));
  for(i = 0; i < NKEYS; i++)
    set_value(c, &table[i], table[i].def, "default", err, sizeof(err));
}

static char *trim(char *s) {
  char *e;
  while(*s == ' ' || *s == '\t')
    s++;
  e = s + strlen(s);
  while(e > s &&
        (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
    *--e = '\0';
  return s;
}

static int load_file(wk_config *c, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  char line[4096], where[600];
  unsigned lineno = 0;
  if(!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  while(fgets(line, sizeof(line), f)) {
    char *k, *v, *eq;
    lineno++;
    snprintf(where, sizeof(where), "%s:%u", path, lineno);
    if(!strchr(line, '\n') && !feof(f)) {
      snprintf(err, errlen, "%s: line too long", where);
      fclose(f);
      return -1;
    }
    k = trim(line);
    if(*k == '\0' || *k == '#')
      continue;
    eq = strchr(k, '=');
    if(!eq) {
      snprintf(err, errlen, "%s: expected 'key = value'", where);
      fclose(f);
      return -1;
    }
    *eq = '\0';
    v = trim(eq + 1);
    k = trim(k);
    if(*v == '"' && strlen(v) >= 2 && v[strlen(v) - 1] == '"') {
      v[strlen(v) - 1] = '\0';
      v++;
    }
    if(apply(c, k, v, where, err, errlen)) {
      fclose(f);
      return -1;
    }
    if(!c->inline_secret && *v && wk_config_is_secret(k) &&
       !(c->inline_secret = strdup(k))) {
      snprintf(err, errlen, "out of memory");
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  return 0;
}

/* DDAS_CBS_CLIENT_SECRET -> cbs.client_secret for table keys; DDAS_KAFKA_X_Y
 * -> kafka.x.y; DDAS_CBS_HEADER_X_Y -> cbs.header.X-Y; DDAS_RULES_A_B ->
 * rules.a.b. */
static void env_name(const char *key, char *out, size_t cap) {
  size_t i, w = 0;
  w += (size_t)snprintf(out, cap, "DDAS_");
  for(i = 0; key[i] && w + 1 < cap; i++)
    out[w++] = key[i] == '.' || key[i] == '-'
                   ? '_'
                   : (char)toupper((unsigned char)key[i]);
  out[w] = '\0';
}

static int load_env(wk_config *c, char *err, size_t errlen) {
  size_t i;
  char name[128];
  char **e;
  for(i = 0; i < NKEYS; i++) {
    const char *v;
    env_name(table[i].key, name, sizeof(name));
    if((v = getenv(name)) &&
       apply(c, table[i].key, v, "environment", err, errlen))
      return -1;
    if(table[i].type == T_SECRET) {
      char fk[140];
      snprintf(fk, sizeof(fk), "%s_FILE", name);
      if((v = getenv(fk))) {
        char key[140];
        snprintf(key, sizeof(key), "%s_file", table[i].key);
        if(apply(c, key, v, "environment", err, errlen))
          return -1;
      }
    }
  }
  for(e = environ; e && *e; e++) {
    static const struct {
      const char *prefix, *key_prefix;
      char sep;
      int lower;
    } maps[] = {{"DDAS_KAFKA_", "kafka.", '.', 1},
                {"DDAS_CBS_HEADER_", "cbs.header.", '-', 0},
                {"DDAS_RULES_", "rules.", '.', 1}};
    size_t m;
    for(m = 0; m < 3; m++) {
      size_t pl = strlen(maps[m].prefix);
      const char *eq = strchr(*e, '=');
      char key[256], where[300];
      size_t w, j;
      if(strncmp(*e, maps[m].prefix, pl) || !eq)
        continue;
      w = (size_t)snprintf(key, sizeof(key), "%s", maps[m].key_prefix);
      for(j = pl; *e + j < eq && w + 1 < sizeof(key); j++) {
        char ch = (*e)[j];
        key[w++] =
            ch == '_' ? maps[m].sep
                      : (maps[m].lower ? (char)tolower((unsigned char)ch) : ch);
      }
      key[w] = '\0';
      if(find(key))
        continue; /* a table key, handled above (kafka.group.id) */
      /* the variable's name, so that a message says which one to fix */
      snprintf(where, sizeof(where), "environment %.*s", (int)(eq - *e), *e);
      if(apply(c, key, eq + 1, where, err, errlen))
        return -1;
    }
  }
  return 0;
}

/* events.source when not set: derived from the group id (ddas/events.h). */
static int events_source(wk_config *c, char *err, size_t errlen) {
  size_t cap;
  char *s;
  if(*c->events_source)
    return 0;
  cap = 17 + 3 * strlen(c->group_id);
  s = malloc(cap);
  if(!s || ddas_ce_source_default(c->group_id, s, cap)) {
    free(s);
    snprintf(err, errlen, "kafka.group.id must not be empty");
    return -1;
  }
  free(c->events_source);
  c->events_source = s;
  return 0;
}

int wk_config_load(const char *path, wk_config *c, char *err, size_t errlen) {
  wk_config_defaults(c);
  if(path && !(c->source = strdup(path))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if(path && load_file(c, path, err, errlen))
    return -1;
  if(load_env(c, err, errlen))
    return -1;
  if(c->retry_base_ms > c->retry_max_ms) {
    snprintf(err, errlen, "retry.base_ms must not exceed retry.max_ms");
    return -1;
  }
  return events_source(c, err, errlen);
}

static void kv_free(wk_kv *a, size_t n) {
  size_t i;
  for(i = 0; i < n; i++) {
    free(a[i].name);
    free(a[i].value);
    free(a[i].where);
  }
  free(a);
}

void wk_config_free(wk_config *c) {
  size_t i;
  if(!c)
    return;
  for(i = 0; i < NKEYS; i++) {
    ktype t = table[i].type;
    if(t != T_INT && t != T_BOOL) {
      char **s = str_at(c, &table[i]);
      if(*s && t == T_SECRET)
        memset(*s, 0, strlen(*s));
      free(*s);
    }
  }
  kv_free(c->headers, c->nheaders);
  for(i = 0; i < c->nkafka; i++)
    if(kafka_secret(c->kafka[i].name))
      memset(c->kafka[i].value, 0, strlen(c->kafka[i].value));
  kv_free(c->kafka, c->nkafka);
  kv_free(c->rules, c->nrules);
  kv_free(c->secret_files, c->nsecret_files);
  free(c->source);
  free(c->inline_secret);
  memset(c, 0, sizeof(*c));
}

static const char *type_name(const kdef *k) {
  switch(k->type) {
  case T_STR: return "string";
  case T_SECRET: return "secret";
  case T_PATH: return "path";
  case T_URL: return "URL";
  case T_URIREF: return "URI-reference";
  case T_INT: return "integer";
  case T_BOOL: return "boolean";
  case T_ENUM: return k->choices;
  }
  return "string";
}

void wk_config_reference(FILE *out) {
  size_t i;
  fprintf(out, "| key | type | default | description |\n");
  fprintf(out, "|---|---|---|---|\n");
  for(i = 0; i < NKEYS; i++) {
    const kdef *k = &table[i];
    char range[64] = "";
    if(k->type == T_INT)
      snprintf(range, sizeof(range), " (%ld–%ld)", k->min, k->max);
    char type[96];
    size_t j, w = 0;
    /* '|' inside a table cell must be escaped */
    for(j = 0; type_name(k)[j] && w + 3 < sizeof(type); j++) {
      if(type_name(k)[j] == '|')
        type[w++] = '\\';
      type[w++] = type_name(k)[j];
    }
    type[w] = '\0';
    fprintf(out, "| `%s` | %s%s | %s%s%s | %s |\n", k->key, type, range,
            *k->def ? "`" : "", *k->def ? k->def : "(empty)",
            *k->def ? "`" : "", k->desc);
  }
  fprintf(out,
          "| `kafka.*` | string | | passed to librdkafka as is (e.g. "
          "`kafka.bootstrap.servers`), except the settings the guarantees "
          "rest on (offset store and commit, `auto.offset.reset`, `acks`, "
          "idempotence, requests in flight, the assignment strategy, "
          "`group.id`, `transactional.id`): those are refused with the "
          "reason |\n"
          "| `cbs.header.NAME` | string | | extra request header NAME (e.g. "
          "for an FSC Outway) |\n"
          "| `rules.ID` | error\\|warning\\|off | the profile's | severity of "
          "one business rule |\n"
          "| `KEY_file` | path | | for every secret KEY, and for "
          "`kafka.sasl.password`, `kafka.ssl.key.password`, "
          "`kafka.ssl.keystore.password` and "
          "`kafka.sasl.oauthbearer.client.secret`: read the value from this "
          "file (never logged; a warning when others may read the file) |\n");
}

void wk_config_print(const wk_config *c, FILE *out) {
  size_t i;
  for(i = 0; i < NKEYS; i++) {
    const kdef *k = &table[i];
    switch(k->type) {
    case T_INT:
      fprintf(out, "%s = %ld\n", k->key,
              *long_at((wk_config *)(uintptr_t)c, k));
      break;
    case T_BOOL:
      fprintf(out, "%s = %s\n", k->key,
              *int_at((wk_config *)(uintptr_t)c, k) ? "true" : "false");
      break;
    case T_SECRET: {
      const char *v = *str_at((wk_config *)(uintptr_t)c, k);
      fprintf(out, "%s = %s\n", k->key, v && *v ? "(set, not shown)" : "");
      break;
    }
    default:
      fprintf(out, "%s = %s\n", k->key, *str_at((wk_config *)(uintptr_t)c, k));
    }
  }
  for(i = 0; i < c->nheaders; i++)
    fprintf(out, "cbs.header.%s = %s\n", c->headers[i].name,
            c->headers[i].value);
  for(i = 0; i < c->nrules; i++)
    fprintf(out, "rules.%s = %s\n", c->rules[i].name, c->rules[i].value);
  for(i = 0; i < c->nkafka; i++) {
    int secret = kafka_secret(c->kafka[i].name) ||
                 strstr(c->kafka[i].name, "password") ||
                 strstr(c->kafka[i].name, "secret");
    fprintf(out, "kafka.%s = %s\n", c->kafka[i].name,
            secret ? "(set, not shown)" : c->kafka[i].value);
  }
}

void wk_config_envelope(const wk_config *c, const char *delivered_at,
                        const char *delivered_at_from,
                        ddas_envelope_context *out) {
  memset(out, 0, sizeof(*out));
  out->delivered_at = delivered_at;
  out->delivered_at_from = delivered_at_from;
  if(*c->code_gegevensleverancier) {
    out->code = c->code_gegevensleverancier;
    out->code_from = "configuration key batch.code_gegevensleverancier";
    out->code_replaces = 1;
  } else if(*c->upgrade_code_gegevensleverancier) {
    out->code = c->upgrade_code_gegevensleverancier;
    out->code_from = "configuration key upgrade.code_gegevensleverancier";
  }
}
