/* The token introspection client and its cache (worker/introspect.h). */
#include "introspect.h"
#include "io.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "curltls.h"
#include "ddas/alloc.h"
#include "log.h"

typedef struct {
  unsigned char key[SHA256_DIGEST_LENGTH]; /* SHA-256 of the token */
  uint64_t until_ms;                       /* monotonic; 0: free */
  wk_token_verdict v;
} entry;

struct wk_introspect {
  char *url, *ca, *cert, *key, *pass, *uid, *secret, *scope;
  long timeout_ms, ttl_s;
  int insecure;
  pthread_mutex_t lock;
  entry *cache;
  size_t ncache;
  unsigned long calls;
};

static void wipe_free(char *s) {
  if(s)
    OPENSSL_cleanse(s, strlen(s));
  ddas_free(s);
}

void wk_introspect_free(wk_introspect *c) {
  if(!c)
    return;
  ddas_free(c->url);
  ddas_free(c->ca);
  ddas_free(c->cert);
  ddas_free(c->key);
  wipe_free(c->pass);
  ddas_free(c->uid);
  wipe_free(c->secret);
  ddas_free(c->scope);
  if(c->cache)
    OPENSSL_cleanse(c->cache, c->ncache * sizeof(entry));
  ddas_free(c->cache);
  pthread_mutex_destroy(&c->lock);
  ddas_free(c);
}

/* A copy of s, or NULL for NULL and ""; *bad is set when out of memory. */
static char *opt_dup(const char *s, int *bad) {
  char *d;
  if(!s || !*s)
    return NULL;
  d = ddas_strdup(s);
  if(!d)
    *bad = 1;
  return d;
}

int wk_introspect_new(const wk_introspect_options *o, wk_introspect **out,
                      char *err, size_t errlen) {
  wk_introspect *c;
  int bad = 0;
  *out = NULL;
  if(!o->url ||
     (strncmp(o->url, "https://", 8) != 0 &&
      !(o->allow_insecure_http && strncmp(o->url, "http://", 7) == 0))) {
    snprintf(err, errlen,
             "the introspection URL must start with https:// (http:// only "
             "with allow_insecure_http, for tests)");
    return -1;
  }
  if(!o->client_id || !*o->client_id || !o->client_secret ||
     !*o->client_secret) {
    snprintf(err, errlen,
             "token introspection needs a client id and a client secret");
    return -1;
  }
  c = ddas_calloc(1, sizeof(*c));
  if(!c || pthread_mutex_init(&c->lock, NULL)) {
    ddas_free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  c->url = opt_dup(o->url, &bad);
  c->ca = opt_dup(o->ca, &bad);
  c->cert = opt_dup(o->cert, &bad);
  c->key = opt_dup(o->key, &bad);
  c->pass = opt_dup(o->key_passphrase, &bad);
  c->uid = curl_easy_escape(NULL, o->client_id, 0);
  c->secret = curl_easy_escape(NULL, o->client_secret, 0);
  c->scope = opt_dup(o->required_scope, &bad);
  c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
  c->ttl_s = o->cache_ttl_s ? o->cache_ttl_s : 60;
  c->insecure = o->allow_insecure_http;
  c->ncache = o->cache_max ? o->cache_max : 4096;
  c->cache = ddas_calloc(c->ncache, sizeof(entry));
  /* curl_easy_escape allocates with malloc: move into ddas blocks */
  {
    char *u = c->uid, *s = c->secret;
    c->uid = u ? ddas_strdup(u) : NULL;
    c->secret = s ? ddas_strdup(s) : NULL;
    if(s)
      OPENSSL_cleanse(s, strlen(s));
    curl_free(u);
    curl_free(s);
  }
  if(bad || !c->cache || !c->uid || !c->secret) {
    wk_introspect_free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *out = c;
  return 0;
}

unsigned long wk_introspect_calls(const wk_introspect *c) {
  unsigned long n;
  pthread_mutex_lock((pthread_mutex_t *)(uintptr_t)&c->lock);
  n = c->calls;
  pthread_mutex_unlock((pthread_mutex_t *)(uintptr_t)&c->lock);
  return n;
}

/* ---- cache (caller holds c->lock) ---------------------------------------- */

static int cache_get(wk_introspect *c, const unsigned char *key, uint64_t now,
                     wk_token_verdict *out) {
  size_t i;
  for(i = 0; i < c->ncache; i++)
    if(c->cache[i].until_ms > now &&
       memcmp(c->cache[i].key, key, SHA256_DIGEST_LENGTH) == 0) {
      *out = c->cache[i].v;
      return 1;
    }
  return 0;
}

static void cache_put(wk_introspect *c, const unsigned char *key, uint64_t now,
                      uint64_t until, const wk_token_verdict *v) {
  size_t i, slot = 0;
  for(i = 0; i < c->ncache; i++) {
    entry *e = &c->cache[i];
    if(e->until_ms <= now || memcmp(e->key, key, SHA256_DIGEST_LENGTH) == 0) {
      slot = i;
      break;
    }
    if(e->until_ms < c->cache[slot].until_ms)
      slot = i;
  }
  memcpy(c->cache[slot].key, key, SHA256_DIGEST_LENGTH);
  c->cache[slot].until_ms = until;
  c->cache[slot].v = *v;
}

/* ---- the HTTP call --------------------------------------------------------
 */

typedef struct {
  char body[DDAS_INTROSPECT_MAX_BODY];
  size_t len;
  int too_big;
  char retry_after[64];
} reply;

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  reply *r = u;
  size_t k = sz * n;
  if(k > sizeof(r->body) - r->len) {
    r->too_big = 1;
    return 0;
  }
  memcpy(r->body + r->len, p, k);
  r->len += k;
  return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u) {
  reply *r = u;
  size_t k = sz * n, v;
  if(k > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
    for(v = 12; v < k && (p[v] == ' ' || p[v] == '\t'); v++)
      ;
    while(k > v && (p[k - 1] == '\r' || p[k - 1] == '\n' || p[k - 1] == ' '))
      k--;
    if(k - v < sizeof(r->retry_after)) {
      memcpy(r->retry_after, p + v, k - v);
      r->retry_after[k - v] = '\0';
    }
  }
  return sz * n;
}

static CURLcode setup(const wk_introspect *c, CURL *h, reply *r,
                      const char *form, struct curl_slist *hdrs) {
  const wk_curl_tls tls = {c->ca, c->cert, c->key, c->pass, c->insecure};
  CURLcode rc = wk_curl_tls_setup(h, &tls);
  if(rc)
    return rc;
  WK_CURL_TRY(h, CURLOPT_URL, c->url);
  WK_CURL_TRY(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  WK_CURL_TRY(h, CURLOPT_NOSIGNAL, 1L);
  WK_CURL_TRY(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  WK_CURL_TRY(h, CURLOPT_USERNAME, c->uid);
  WK_CURL_TRY(h, CURLOPT_PASSWORD, c->secret);
  WK_CURL_TRY(h, CURLOPT_HTTPHEADER, hdrs);
  WK_CURL_TRY(h, CURLOPT_POSTFIELDS, form);
  WK_CURL_TRY(h, CURLOPT_WRITEFUNCTION, on_body);
  WK_CURL_TRY(h, CURLOPT_WRITEDATA, r);
  WK_CURL_TRY(h, CURLOPT_HEADERFUNCTION, on_header);
  WK_CURL_TRY(h, CURLOPT_HEADERDATA, r);
  WK_CURL_TRY(h, CURLOPT_USERAGENT, "ddas-worker");
  return CURLE_OK;
}

/* Asks the endpoint; the verdict into *v. */
static void ask(wk_introspect *c, const char *token, wk_token_verdict *v,
                ddas_introspection *in) {
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = NULL, *tmp;
  reply *r = ddas_calloc(1, sizeof(*r));
  char *esc = h ? curl_easy_escape(h, token, 0) : NULL, *form = NULL;
  char err[200] = "";
  long status = 0;
  size_t fl;
  CURLcode rc = CURLE_OUT_OF_MEMORY;
  v->verdict = DDAS_TOKEN_UNAVAILABLE;
  if(!h || !r || !esc)
    goto out;
  fl = strlen(esc) + 40;
  form = ddas_malloc(fl);
  hdrs = curl_slist_append(NULL,
                           "Content-Type: application/x-www-form-urlencoded");
  tmp = hdrs ? curl_slist_append(hdrs, "Accept: application/json") : NULL;
  tmp = tmp ? curl_slist_append(hdrs, "Expect:") : NULL;
  if(!form || !tmp)
    goto out;
  snprintf(form, fl, "token=%s&token_type_hint=access_token", esc);
  rc = setup(c, h, r, form, hdrs);
  if(!rc)
    rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if(!rc && status == 200) {
    if(ddas_introspect_parse(r->body, r->len, (int64_t)time(NULL), c->scope, in,
                             err, sizeof(err)) == DDAS_OK) {
      v->verdict = ddas_introspect_verdict(in);
      if(v->verdict == DDAS_TOKEN_OK)
        memcpy(v->client_id, in->client_id, sizeof(v->client_id));
      goto out;
    }
  } else if(!rc) {
    snprintf(err, sizeof(err), "the endpoint answered %ld", status);
  } else {
    snprintf(err, sizeof(err), "%s", curl_easy_strerror(rc));
  }
  v->retry_after_s = ddas_introspect_retry_after(
      r->retry_after[0] ? r->retry_after : NULL, (int64_t)time(NULL));
out:
  if(v->verdict == DDAS_TOKEN_UNAVAILABLE) {
    if(!err[0])
      snprintf(err, sizeof(err), "out of memory");
    if(!v->retry_after_s)
      v->retry_after_s = ddas_introspect_retry_after(NULL, 0);
    WK_LOG(WK_WARN, "token introspection unavailable", WK_STR("error", err),
           WK_INT("status", status));
  }
  if(esc) {
    OPENSSL_cleanse(esc, strlen(esc));
    curl_free(esc);
  }
  wipe_free(form);
  if(r)
    OPENSSL_cleanse(r, sizeof(*r));
  ddas_free(r);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
}

void wk_introspect_check(wk_introspect *c, const char *token,
                         wk_token_verdict *out) {
  unsigned char key[SHA256_DIGEST_LENGTH];
  ddas_introspection in;
  uint64_t now;
  int64_t keep;
  memset(out, 0, sizeof(*out));
  if(!token || !*token) {
    out->verdict = DDAS_TOKEN_MISSING;
    return;
  }
  SHA256((const unsigned char *)token, strlen(token), key);
  now = wk_mono_ms();
  pthread_mutex_lock(&c->lock);
  if(cache_get(c, key, now, out)) {
    pthread_mutex_unlock(&c->lock);
    return;
  }
  c->calls++;
  pthread_mutex_unlock(&c->lock);
  memset(&in, 0, sizeof(in));
  ask(c, token, out, &in);
  keep = ddas_introspect_cache_seconds(out->verdict, &in, (int64_t)time(NULL),
                                       c->ttl_s);
  if(keep > 0) {
    pthread_mutex_lock(&c->lock);
    cache_put(c, key, wk_mono_ms(), wk_mono_ms() + (uint64_t)keep * 1000u, out);
    pthread_mutex_unlock(&c->lock);
  }
}
