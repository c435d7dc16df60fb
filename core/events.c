/* Kafka events: rejections, receipts, parked batches (see ddas/events.h and
 * docs/events.md).
 *
 * Bodies are built as jansson trees and dumped compact into one ddas_malloc
 * buffer. jansson allocates its trees with malloc (the global allocator is
 * left alone on purpose), so only the ddas_* allocations take part in the
 * allocation-failure tests; every jansson NULL is still handled as
 * DDAS_ERR_NOMEM. Strings are made valid UTF-8 before jansson sees them, so
 * a NULL from jansson can only mean out of memory. */
#include "ddas/events.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/format.h"
#include "events_int.h"

#define MAX_HEADERS 32
#if JSON_INTEGER_IS_LONG_LONG
#define JINT_MAX LLONG_MAX
#else
#define JINT_MAX LONG_MAX
#endif
#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define DEFAULT_CONTENT_TYPE "application/json"
/* "SHA-256=" + 44 base64 characters + NUL */
#define DIGEST_LEN (8 + 44)

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t len, i;
  if(c < 0x80)
    return 1;
  if(c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if(c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if(c == 0xE0)
      lo = 0xA0;
    else if(c == 0xED)
      hi = 0x9F;
  } else if(c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if(c == 0xF0)
      lo = 0x90;
    else if(c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if(n < len || s[1] < lo || s[1] > hi)
    return 0;
  for(i = 2; i < len; i++)
    if(s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return len;
}

static int utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, k;
  while(i < n) {
    k = utf8_seq(p + i, n - i);
    if(!k)
      return 0;
    i += k;
  }
  return 1;
}

/* A ddas_malloc'd, NUL-terminated copy of s[0..n) in which every byte of an
 * invalid sequence is replaced by U+FFFD; *outlen receives its length. NULL
 * when out of memory. */
static char *utf8_clean(const char *s, size_t n, size_t *outlen) {
  const unsigned char *p = (const unsigned char *)s;
  char *d;
  size_t i = 0, o = 0, k;
  if(utf8_valid(s, n)) {
    if(outlen)
      *outlen = n;
    return ddas_strndup(s, n);
  }
  if(n > ((size_t)-1 - 1) / 3)
    return NULL;
  d = ddas_malloc(n * 3 + 1);
  if(!d)
    return NULL;
  while(i < n) {
    k = utf8_seq(p + i, n - i);
    if(k) {
      memcpy(d + o, p + i, k);
      o += k;
      i += k;
    } else {
      memcpy(d + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  d[o] = '\0';
  if(outlen)
    *outlen = o;
  return d;
}

/* ---- JSON helpers ------------------------------------------------------- */

/* A JSON string of s made valid UTF-8; NULL when out of memory. */
static json_t *jstr(const char *s) {
  size_t n = strlen(s), m;
  char *c;
  json_t *v;
  if(utf8_valid(s, n))
    return json_stringn_nocheck(s, n);
  c = utf8_clean(s, n, &m);
  if(!c)
    return NULL;
  v = json_stringn_nocheck(c, m);
  ddas_free(c);
  return v;
}

static json_t *jstr_or_null(const char *s) { return s ? jstr(s) : json_null(); }

/* Sets o[key] = v, taking v; DDAS_ERR_NOMEM when v is NULL or the set
 * fails. key is a static ASCII name. */
static ddas_result put(json_t *o, const char *key, json_t *v) {
  if(!v)
    return DDAS_ERR_NOMEM;
  return json_object_set_new_nocheck(o, key, v) ? DDAS_ERR_NOMEM : DDAS_OK;
}

static ddas_result append(json_t *a, json_t *v) {
  if(!v)
    return DDAS_ERR_NOMEM;
  return json_array_append_new(a, v) ? DDAS_ERR_NOMEM : DDAS_OK;
}

static int fits(size_t v) { return (uintmax_t)v <= (uintmax_t)JINT_MAX; }

static json_t *jsize(size_t v) { return json_integer((json_int_t)v); }

/* Compact dump of j into a ddas_malloc'd, NUL-terminated buffer. */
static ddas_result dump(const json_t *j, char **out, size_t *len) {
  size_t n = json_dumpb(j, NULL, 0, JSON_FLAGS);
  char *b;
  *out = NULL;
  if(!n)
    return DDAS_ERR_NOMEM;
  b = ddas_malloc(n + 1);
  if(!b)
    return DDAS_ERR_NOMEM;
  if(json_dumpb(j, b, n, JSON_FLAGS) != n) {
    ddas_free(b);
    return DDAS_ERR_NOMEM;
  }
  b[n] = '\0';
  *out = b;
  if(len)
    *len = n;
  return DDAS_OK;
}

/* ---- input checks ------------------------------------------------------- */

static int nonempty(const char *s) { return s && *s; }

static int is_time(const char *s) {
  return s && ddas_format_date_time(s, strlen(s));
}

static int hexdig(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

static int alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static int unreserved(int c) {
  return alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int ddas_uri_reference_ok(const char *s) {
  size_t i, colon = 0;
  int in_scheme = 1;
  if(!nonempty(s))
    return 0;
  for(i = 0; s[i]; i++) {
    int c = (unsigned char)s[i];
    if(c == '%') {
      if(!hexdig((unsigned char)s[i + 1]) || !hexdig((unsigned char)s[i + 2]))
        return 0;
      i += 2;
      continue;
    }
    if(!unreserved(c) && !strchr(":/?#[]@!$&'()*+,;=", c))
      return 0;
    if(in_scheme && c == ':' && !colon)
      colon = i + 1;
    if(c == '/' || c == '?' || c == '#')
      in_scheme = 0;
  }
  /* a ':' before any '/', '?', '#' ends a scheme */
  if(colon) {
    if(colon == 1 || !alpha((unsigned char)s[0]))
      return 0;
    for(i = 1; i + 1 < colon; i++)
      if(!alpha((unsigned char)s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
         !strchr("+-.", s[i]))
        return 0;
  }
  return 1;
}

ddas_result ddas_ce_source_default(const char *group, char *out, size_t cap) {
  static const char prefix[] = "urn:ddas-worker:", hex[] = "0123456789ABCDEF";
  size_t n = sizeof(prefix) - 1, i;
  if(!out || !cap)
    return DDAS_ERR_ARG;
  out[0] = '\0';
  if(!nonempty(group))
    return DDAS_ERR_ARG;
  if(cap <= n)
    return DDAS_ERR_LIMIT;
  memcpy(out, prefix, n);
  for(i = 0; group[i]; i++) {
    unsigned char c = (unsigned char)group[i];
    if(n + (unreserved(c) ? 1 : 3) >= cap) {
      out[0] = '\0';
      return DDAS_ERR_LIMIT;
    }
    if(unreserved(c)) {
      out[n++] = (char)c;
    } else {
      out[n++] = '%';
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    }
  }
  out[n] = '\0';
  return DDAS_OK;
}

static ddas_result check_base(const ddas_event_base *b) {
  if(!nonempty(b->delivery_id) || !ddas_uri_reference_ok(b->ce_source) ||
     !is_time(b->time))
    return DDAS_ERR_ARG;
  return DDAS_OK;
}

static ddas_result check_sources(const ddas_source *s, size_t n) {
  size_t i;
  if(n && !s)
    return DDAS_ERR_ARG;
  for(i = 0; i < n; i++)
    if(!s[i].topic || s[i].partition < 0 || s[i].offset < 0)
      return DDAS_ERR_ARG;
  return DDAS_OK;
}

static int kind_ok(ddas_kind k) {
  return k == DDAS_KIND_UNKNOWN || k == DDAS_KIND_SHV || k == DDAS_KIND_VS;
}

static int scope_ok(ddas_scope s) {
  return s == DDAS_SCOPE_DOCUMENT || s == DDAS_SCOPE_LEVERING ||
         s == DDAS_SCOPE_RECORD;
}

static const char *severity_name(ddas_severity s) {
  return s == DDAS_SEV_WARNING ? "warning" : "error";
}

/* ---- hashing ------------------------------------------------------------ */

/* ce_id: lowercase hex of the first 16 bytes of SHA-256 over the
 * concatenated netstrings ("<decimal length>:<bytes>,") of parts[0..n). */
static ddas_result event_id(const char *const *parts, size_t n,
                            char id[DDAS_EVENT_ID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  ddas_result r = DDAS_ERR_NOMEM;
  size_t i;
  char len[32];
  int k;

  if(!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
    goto out;
  for(i = 0; i < n; i++) {
    size_t pl = strlen(parts[i]);
    k = snprintf(len, sizeof(len), "%zu:", pl);
    if(k < 0 || (size_t)k >= sizeof(len) ||
       !EVP_DigestUpdate(ctx, len, (size_t)k) ||
       !EVP_DigestUpdate(ctx, parts[i], pl) || !EVP_DigestUpdate(ctx, ",", 1))
      goto out;
  }
  if(!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < DDAS_EVENT_ID_LEN / 2)
    goto out;
  for(i = 0; i < DDAS_EVENT_ID_LEN / 2; i++) {
    id[2 * i] = hex[md[i] >> 4];
    id[2 * i + 1] = hex[md[i] & 0x0F];
  }
  id[DDAS_EVENT_ID_LEN] = '\0';
  r = DDAS_OK;
out:
  EVP_MD_CTX_free(ctx);
  return r;
}

/* "SHA-256=" + base64(SHA-256(body)), with padding. */
static ddas_result body_digest(const void *body, size_t len,
                               char out[DIGEST_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if(!EVP_Digest(len ? body : "", len, md, &mdlen, EVP_sha256(), NULL) ||
     mdlen != 32)
    return DDAS_ERR_NOMEM;
  memcpy(out, "SHA-256=", 8);
  if(EVP_EncodeBlock((unsigned char *)out + 8, md, 32) != 44)
    return DDAS_ERR_NOMEM;
  out[DIGEST_LEN] = '\0';
  return DDAS_OK;
}

/* ---- events ------------------------------------------------------------- */

void ddas_event_clear(ddas_event *e) {
  size_t i;
  if(!e)
    return;
  for(i = 0; i < e->nheaders; i++) {
    ddas_free(e->headers[i].name);
    ddas_free(e->headers[i].value);
  }
  ddas_free(e->headers);
  ddas_free(e->key);
  ddas_free(e->body);
  memset(e, 0, sizeof(*e));
}

const char *ddas_event_header(const ddas_event *e, const char *name) {
  size_t i;
  if(!e || !name)
    return NULL;
  for(i = 0; i < e->nheaders; i++)
    if(e->headers[i].name && strcmp(e->headers[i].name, name) == 0)
      return e->headers[i].value;
  return NULL;
}

/* Appends header name = value (value made valid UTF-8). e->headers has room
 * for MAX_HEADERS. */
static ddas_result add_header(ddas_event *e, const char *name,
                              const char *value) {
  ddas_kv *kv;
  if(e->nheaders >= MAX_HEADERS)
    return DDAS_ERR_ARG; /* a bug here, never an input property */
  kv = &e->headers[e->nheaders];
  kv->name = ddas_strdup(name);
  if(!kv->name)
    return DDAS_ERR_NOMEM;
  kv->value = utf8_clean(value, strlen(value), NULL);
  if(!kv->value) {
    ddas_free(kv->name);
    kv->name = NULL;
    return DDAS_ERR_NOMEM;
  }
  e->nheaders++;
  return DDAS_OK;
}

static ddas_result add_header_json(ddas_event *e, const char *name,
                                   const json_t *j) {
  char *s = NULL;
  ddas_result r = dump(j, &s, NULL);
  if(!r)
    r = add_header(e, name, s);
  ddas_free(s);
  return r;
}

static ddas_result add_header_uint(ddas_event *e, const char *name,
                                   uintmax_t v) {
  char buf[32];
  int k = snprintf(buf, sizeof(buf), "%ju", v);
  if(k < 0 || (size_t)k >= sizeof(buf))
    return DDAS_ERR_ARG;
  return add_header(e, name, buf);
}

ddas_result ddas_ev_start(ddas_event *e, const char *key) {
  e->headers = ddas_calloc(MAX_HEADERS, sizeof(ddas_kv));
  if(!e->headers)
    return DDAS_ERR_NOMEM;
  if(key && !(e->key = utf8_clean(key, strlen(key), NULL)))
    return DDAS_ERR_NOMEM;
  return DDAS_OK;
}

ddas_result ddas_ev_header(ddas_event *e, const char *name, const char *value) {
  return add_header(e, name, value);
}

ddas_result ddas_ev_header_uint(ddas_event *e, const char *name, uintmax_t v) {
  return add_header_uint(e, name, v);
}

/* Key, header array and the CloudEvents headers common to every event. */
static ddas_result start_event(ddas_event *e, const ddas_event_base *b,
                               const char *type, const char *id,
                               const char *content_type) {
  ddas_result r;
  if((r = ddas_ev_start(e, b->key)) ||
     (r = add_header(e, DDAS_H_SPECVERSION, "1.0")) ||
     (r = add_header(e, DDAS_H_ID, id)) ||
     (r = add_header(e, DDAS_H_SOURCE, b->ce_source)) ||
     (r = add_header(e, DDAS_H_TYPE, type)) ||
     (r = add_header(e, DDAS_H_SUBJECT, b->delivery_id)) ||
     (r = add_header(e, DDAS_H_TIME, b->time)) ||
     (r = add_header(e, DDAS_H_CONTENT_TYPE, content_type)) ||
     (r = add_header(e, DDAS_H_DELIVERY_ID, b->delivery_id)))
    return r;
  return DDAS_OK;
}

static json_t *sources_json(const ddas_source *s, size_t n) {
  json_t *a = json_array(), *o;
  size_t i;
  if(!a)
    return NULL;
  for(i = 0; i < n; i++) {
    o = json_object();
    if(append(a, o) || put(o, "topic", jstr(s[i].topic)) ||
       put(o, "partition", json_integer(s[i].partition)) ||
       put(o, "offset", json_integer(s[i].offset))) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

/* The members every JSON body starts with. */
static ddas_result body_start(json_t *o, const ddas_event_base *b) {
  ddas_result r;
  if((r = put(o, "schema_version", json_string(DDAS_EVENT_SCHEMA_VERSION))) ||
     (r = put(o, "delivery_id", jstr(b->delivery_id))))
    return r;
  return DDAS_OK;
}

static ddas_result body_kind(json_t *o, ddas_kind kind, const char *version) {
  ddas_result r;
  if((r = put(o, "kind",
              kind == DDAS_KIND_UNKNOWN ? json_null()
                                        : json_string(ddas_kind_name(kind)))) ||
     (r = put(o, "ddas_schema_version", jstr_or_null(version))))
    return r;
  return DDAS_OK;
}

static ddas_result set_json_body(ddas_event *e, const json_t *body) {
  return dump(body, &e->body, &e->body_len);
}

/* Moves ev into out on success; clears it otherwise. */
static ddas_result finish(ddas_result r, ddas_event *ev, ddas_event *out) {
  if(r) {
    ddas_event_clear(ev);
    return r;
  }
  *out = *ev;
  memset(ev, 0, sizeof(*ev));
  return DDAS_OK;
}

ddas_result ddas_event_rejection(const ddas_rejection_in *in, ddas_event *out) {
  ddas_event ev;
  json_t *body = NULL, *arr = NULL, *f;
  const char *parts[5];
  char src[320] = "";
  char id[DDAS_EVENT_ID_LEN + 1];
  ddas_result r;
  size_t i;

  memset(&ev, 0, sizeof(ev));
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  r = DDAS_ERR_ARG;
  if(!in || check_base(&in->base) || check_sources(in->sources, in->nsources) ||
     !kind_ok(in->kind) || !scope_ok(in->scope) || !in->pointer ||
     (in->nfindings && !in->findings))
    goto out;
  for(i = 0; i < in->nfindings; i++) {
    const ddas_finding *x = &in->findings[i];
    if(!x->rule || !x->pointer || !x->message || !scope_ok(x->scope) ||
       (x->severity != DDAS_SEV_ERROR && x->severity != DDAS_SEV_WARNING))
      goto out;
  }

  /* the first source message is part of the id: a pointer is relative to
   * the message (a chunk of a larger delivery), so two chunks may reject
   * the same pointer; the source is the same when the delivery is redone */
  if(in->nsources)
    snprintf(src, sizeof(src), "%s/%ld/%lld", in->sources[0].topic,
             (long)in->sources[0].partition, (long long)in->sources[0].offset);
  parts[0] = DDAS_CE_REJECTED;
  parts[1] = in->base.delivery_id;
  parts[2] = ddas_scope_name(in->scope);
  parts[3] = in->pointer;
  parts[4] = src;
  if((r = event_id(parts, 5, id)))
    goto out;

  r = DDAS_ERR_NOMEM;
  body = json_object();
  if(!body)
    goto out;
  if((r = body_start(body, &in->base)) ||
     (r = put(body, "sources", sources_json(in->sources, in->nsources))) ||
     (r = body_kind(body, in->kind, in->schema_version)) ||
     (r = put(body, "scope", json_string(ddas_scope_name(in->scope)))) ||
     (r = put(body, "pointer", jstr(in->pointer))) ||
     (r = put(body, "levering_teller",
              in->levering_teller >= 0 ? json_integer(in->levering_teller)
                                       : json_null())) ||
     (r = put(body, "findings", arr = json_array())))
    goto out;
  for(i = 0; i < in->nfindings; i++) {
    const ddas_finding *x = &in->findings[i];
    f = json_object();
    if((r = append(arr, f)) || (r = put(f, "rule", jstr(x->rule))) ||
       (r = put(f, "severity", json_string(severity_name(x->severity)))) ||
       (r = put(f, "scope", json_string(ddas_scope_name(x->scope)))) ||
       (r = put(f, "pointer", jstr(x->pointer))) ||
       (r = put(f, "keyword", jstr_or_null(x->keyword))) ||
       (r = put(f, "schema_pointer", jstr_or_null(x->schema_pointer))) ||
       (r = put(f, "message", jstr(x->message))))
      goto out;
  }

  if((r = start_event(&ev, &in->base, DDAS_CE_REJECTED, id,
                      DEFAULT_CONTENT_TYPE)) ||
     (r = set_json_body(&ev, body)))
    goto out;
out:
  json_decref(body);
  return finish(r, &ev, out);
}

/* {rule: count, ...} in input order; a repeated rule adds up. */
static ddas_result rule_counts(json_t *parent, const char *name,
                               const ddas_rule_count *rc, size_t n) {
  json_t *o = json_object(), *old;
  ddas_result r;
  size_t i, len;
  char *key = NULL;

  if((r = put(parent, name, o)))
    return r;
  for(i = 0; i < n; i++) {
    key = utf8_clean(rc[i].rule, strlen(rc[i].rule), &len);
    if(!key)
      return DDAS_ERR_NOMEM;
    old = json_object_get(o, key);
    if(old) {
      json_int_t sum = json_integer_value(old);
      if((uintmax_t)rc[i].count > (uintmax_t)(JINT_MAX - sum))
        r = DDAS_ERR_ARG;
      else if(json_integer_set(old, sum + (json_int_t)rc[i].count))
        r = DDAS_ERR_NOMEM;
    } else if(json_object_set_new_nocheck(o, key, jsize(rc[i].count)))
      r = DDAS_ERR_NOMEM;
    ddas_free(key);
    if(r)
      return r;
  }
  return DDAS_OK;
}

static ddas_result check_rule_counts(const ddas_rule_count *rc, size_t n) {
  size_t i;
  if(n && !rc)
    return DDAS_ERR_ARG;
  for(i = 0; i < n; i++)
    if(!rc[i].rule || !fits(rc[i].count))
      return DDAS_ERR_ARG;
  return DDAS_OK;
}

/* "chunks": {"total": n, "seen": "1-k", "missing": "k+1-n"} of an
 * incomplete delivery; a range of one chunk is written "k", none "". */
static void chunk_range(char *buf, size_t cap, unsigned from, unsigned to) {
  if(from > to)
    buf[0] = '\0';
  else if(from == to)
    snprintf(buf, cap, "%u", from);
  else
    snprintf(buf, cap, "%u-%u", from, to);
}

static ddas_result chunks_json(json_t *body, const ddas_processed_in *in) {
  json_t *c = NULL;
  char seen[32], missing[32];
  ddas_result r;
  chunk_range(seen, sizeof(seen), 1, in->chunks_seen);
  chunk_range(missing, sizeof(missing), in->chunks_seen + 1, in->nchunks);
  if((r = put(body, "chunks", c = json_object())) ||
     (r = put(c, "total", jsize(in->nchunks))) ||
     (r = put(c, "seen", jstr(seen))) ||
     (r = put(c, "missing", jstr(missing))) ||
     (r = put(body, "reason", jstr(in->reason))) ||
     (r = put(body, "reason_text", jstr(in->reason_text))))
    return r;
  return DDAS_OK;
}

/* {"k1": v1, "k2": v2} with "" or NULL as null; null when both are. */
static json_t *name_pair(const char *k1, const char *v1, const char *k2,
                         const char *v2) {
  json_t *o;
  v1 = v1 && *v1 ? v1 : NULL;
  v2 = v2 && *v2 ? v2 : NULL;
  if(!v1 && !v2)
    return json_null();
  if(!(o = json_object()) || put(o, k1, jstr_or_null(v1)) ||
     put(o, k2, jstr_or_null(v2))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

ddas_result ddas_event_processed(const ddas_processed_in *in, ddas_event *out) {
  static const char *const nkeys[6] = {"N1", "N2", "N3", "N4", "N5", "N6"};
  ddas_event ev;
  json_t *body = NULL, *norm = NULL, *ids = NULL;
  const char *parts[3], *type;
  char id[DDAS_EVENT_ID_LEN + 1], first[300];
  ddas_result r;
  size_t i;
  int incomplete;

  memset(&ev, 0, sizeof(ev));
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  r = DDAS_ERR_ARG;
  if(!in || check_base(&in->base) || check_sources(in->sources, in->nsources) ||
     !kind_ok(in->kind) || !in->status ||
     (strcmp(in->status, "processed") && strcmp(in->status, "incomplete")) ||
     !fits(in->records) || !fits(in->accepted) || !fits(in->rejected) ||
     !fits(in->warned) ||
     check_rule_counts(in->rejected_by_rule, in->nrejected_by_rule) ||
     check_rule_counts(in->warnings_by_rule, in->nwarnings_by_rule) ||
     (in->nbatch_ids && !in->batch_ids))
    goto out;
  incomplete = !strcmp(in->status, "incomplete");
  if(incomplete && (!nonempty(in->reason) || !nonempty(in->reason_text) ||
                    in->nchunks < 1 || in->chunks_seen >= in->nchunks))
    goto out;
  for(i = 0; i < 6; i++)
    if(!fits(in->normalised[i]))
      goto out;
  for(i = 0; i < in->nbatch_ids; i++)
    if(!in->batch_ids[i])
      goto out;

  type = incomplete ? DDAS_CE_INCOMPLETE : DDAS_CE_PROCESSED;
  parts[0] = type;
  parts[1] = in->base.delivery_id;
  if(incomplete && in->nsources)
    snprintf(first, sizeof(first), "%s/%ld/%lld", in->sources[0].topic,
             (long)in->sources[0].partition, (long long)in->sources[0].offset);
  else
    first[0] = '\0';
  parts[2] = first;
  if((r = event_id(parts, incomplete ? 3 : 2, id)))
    goto out;

  r = DDAS_ERR_NOMEM;
  body = json_object();
  if(!body)
    goto out;
  if((r = body_start(body, &in->base)) ||
     (r = put(body, "sources", sources_json(in->sources, in->nsources))) ||
     (r = body_kind(body, in->kind, in->schema_version)) ||
     (r = put(body, "status", json_string(in->status))) ||
     (r = put(body, "records", jsize(in->records))) ||
     (r = put(body, "accepted", jsize(in->accepted))) ||
     (r = put(body, "rejected", jsize(in->rejected))) ||
     (r = put(body, "warned", jsize(in->warned))) ||
     (r = put(body, "normalised", norm = json_object())))
    goto out;
  for(i = 0; i < 6; i++)
    if((r = put(norm, nkeys[i], jsize(in->normalised[i]))))
      goto out;
  if((r = rule_counts(body, "rejected_by_rule", in->rejected_by_rule,
                      in->nrejected_by_rule)) ||
     (r = rule_counts(body, "warnings_by_rule", in->warnings_by_rule,
                      in->nwarnings_by_rule)) ||
     (r = put(body, "batch_ids", ids = json_array())))
    goto out;
  for(i = 0; i < in->nbatch_ids; i++)
    if((r = append(ids, jstr(in->batch_ids[i]))))
      goto out;
  if((r = put(body, "organisation",
              name_pair("name", in->org_name, "code", in->org_code))) ||
     (r = put(body, "period",
              name_pair("start", in->period_start, "end", in->period_end))))
    goto out;
  if(incomplete && (r = chunks_json(body, in)))
    goto out;

  if((r = start_event(&ev, &in->base, type, id, DEFAULT_CONTENT_TYPE)) ||
     (r = set_json_body(&ev, body)))
    goto out;
out:
  json_decref(body);
  return finish(r, &ev, out);
}

ddas_result ddas_event_forwarded(const ddas_forwarded_in *in, ddas_event *out) {
  ddas_event ev;
  json_t *body = NULL;
  const char *parts[3];
  char id[DDAS_EVENT_ID_LEN + 1];
  ddas_result r;

  memset(&ev, 0, sizeof(ev));
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  r = DDAS_ERR_ARG;
  if(!in || check_base(&in->base) || check_sources(in->sources, in->nsources) ||
     !nonempty(in->batch_id) || !nonempty(in->digest) ||
     in->http_status < 200 || in->http_status > 299 || in->attempts < 1 ||
     !fits(in->records) || !fits(in->bytes))
    goto out;

  parts[0] = DDAS_CE_FORWARDED;
  parts[1] = in->base.delivery_id;
  parts[2] = in->batch_id;
  if((r = event_id(parts, 3, id)))
    goto out;

  r = DDAS_ERR_NOMEM;
  body = json_object();
  if(!body)
    goto out;
  if((r = body_start(body, &in->base)) ||
     (r = put(body, "batch_id", jstr(in->batch_id))) ||
     (r = put(body, "batch_index", json_integer(in->batch_index))) ||
     (r = put(body, "records", jsize(in->records))) ||
     (r = put(body, "bytes", jsize(in->bytes))) ||
     (r = put(body, "digest", jstr(in->digest))) ||
     (r = put(body, "http_status", json_integer(in->http_status))) ||
     (r = put(body, "attempts", json_integer(in->attempts))) ||
     (r = put(body, "replayed", json_boolean(in->replayed))) ||
     (r = put(body, "sources", sources_json(in->sources, in->nsources))))
    goto out;

  if((r = start_event(&ev, &in->base, DDAS_CE_FORWARDED, id,
                      DEFAULT_CONTENT_TYPE)) ||
     (r = add_header(&ev, DDAS_H_BATCH_ID, in->batch_id)) ||
     (r = set_json_body(&ev, body)))
    goto out;
out:
  json_decref(body);
  return finish(r, &ev, out);
}

static int reason_ok(const char *s) {
  return s && (!strcmp(s, "transient-exhausted") || !strcmp(s, "refused") ||
               !strcmp(s, "config-fault"));
}

static int profile_ok(const char *s) {
  return s && (!strcmp(s, "adr") || !strcmp(s, "body"));
}

/* The optional kind and identity headers of a parked batch. */
static ddas_result identity_headers(ddas_event *e, const ddas_parked_in *in) {
  const char *const names[4] = {DDAS_H_ORG_NAME, DDAS_H_ORG_CODE,
                                DDAS_H_PERIOD_START, DDAS_H_PERIOD_END};
  const char *const values[4] = {in->org_name, in->org_code, in->period_start,
                                 in->period_end};
  ddas_result r = DDAS_OK;
  size_t i;
  if(in->kind != DDAS_KIND_UNKNOWN)
    r = add_header(e, DDAS_H_KIND, ddas_kind_name(in->kind));
  for(i = 0; i < 4 && !r; i++)
    if(values[i])
      r = add_header(e, names[i], values[i]);
  return r;
}

ddas_result ddas_event_parked(const ddas_parked_in *in, ddas_event *out) {
  ddas_event ev;
  json_t *attempts = NULL, *sources = NULL, *a;
  const char *parts[3];
  char id[DDAS_EVENT_ID_LEN + 1], digest[DIGEST_LEN + 1];
  ddas_result r;
  size_t i;

  memset(&ev, 0, sizeof(ev));
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  r = DDAS_ERR_ARG;
  if(!in || check_base(&in->base) || check_sources(in->sources, in->nsources) ||
     !nonempty(in->batch_id) || !nonempty(in->digest) ||
     !nonempty(in->signature) || !profile_ok(in->sig_profile) ||
     !reason_ok(in->reason) || !in->last_error ||
     (in->content_type && !*in->content_type) ||
     (in->nattempts && !in->attempts) || (in->body_len && !in->body) ||
     in->body_len == (size_t)-1)
    goto out;
  for(i = 0; i < in->nattempts; i++)
    if(!is_time(in->attempts[i].time) || in->attempts[i].http_status < 0 ||
       in->attempts[i].http_status > 999)
      goto out;
  if((r = body_digest(in->body, in->body_len, digest)))
    goto out;
  if(strcmp(digest, in->digest)) {
    r = DDAS_ERR_ARG;
    goto out;
  }

  parts[0] = DDAS_CE_PARKED;
  parts[1] = in->base.delivery_id;
  parts[2] = in->batch_id;
  if((r = event_id(parts, 3, id)))
    goto out;

  r = DDAS_ERR_NOMEM;
  attempts = json_array();
  sources = sources_json(in->sources, in->nsources);
  if(!attempts || !sources)
    goto out;
  for(i = 0; i < in->nattempts; i++) {
    const ddas_attempt *x = &in->attempts[i];
    a = json_object();
    if((r = append(attempts, a)) || (r = put(a, "time", jstr(x->time))) ||
       (r = put(a, "http_status",
                x->http_status ? json_integer(x->http_status) : json_null())) ||
       (r = put(a, "error", jstr_or_null(x->error))))
      goto out;
  }

  if((r = start_event(&ev, &in->base, DDAS_CE_PARKED, id,
                      in->content_type ? in->content_type
                                       : DEFAULT_CONTENT_TYPE)) ||
     (r = add_header(&ev, DDAS_H_BATCH_ID, in->batch_id)) ||
     (r = add_header_uint(&ev, DDAS_H_BATCH_INDEX, in->batch_index)) ||
     (r = add_header_uint(&ev, DDAS_H_RECORDS, in->records)) ||
     (r = add_header(&ev, DDAS_H_DIGEST, in->digest)) ||
     (r = add_header(&ev, DDAS_H_SIGNATURE, in->signature)) ||
     (r = add_header(&ev, DDAS_H_SIG_PROFILE, in->sig_profile)) ||
     (r = add_header(&ev, DDAS_H_REASON, in->reason)) ||
     (r = add_header(&ev, DDAS_H_LAST_ERROR, in->last_error)) ||
     (r = add_header_json(&ev, DDAS_H_ATTEMPTS, attempts)) ||
     (r = add_header_json(&ev, DDAS_H_SOURCES, sources)) ||
     (in->problem && (r = add_header(&ev, DDAS_H_PROBLEM, in->problem))) ||
     (r = identity_headers(&ev, in)))
    goto out;

  r = DDAS_ERR_NOMEM;
  ev.body = ddas_malloc(in->body_len + 1);
  if(!ev.body)
    goto out;
  if(in->body_len)
    memcpy(ev.body, in->body, in->body_len);
  ev.body[in->body_len] = '\0';
  ev.body_len = in->body_len;
  r = DDAS_OK;
out:
  json_decref(attempts);
  json_decref(sources);
  return finish(r, &ev, out);
}

/* ---- reading a parked batch back ---------------------------------------- */

/* err = a + b + c, truncated. */
static void set_err(char *err, size_t errlen, const char *a, const char *b,
                    const char *c) {
  if(err && errlen)
    snprintf(err, errlen, "%s%s%s", a, b, c);
}

/* The value of header `name`: 1 and *v when present once, 0 and *v = NULL
 * when absent, -1 when it occurs more than once. */
static int header(const ddas_kv *h, size_t n, const char *name,
                  const char **v) {
  size_t i;
  int found = 0;
  *v = NULL;
  for(i = 0; i < n; i++) {
    if(!h[i].name || !h[i].value || strcmp(h[i].name, name))
      continue;
    if(found)
      return -1;
    *v = h[i].value;
    found = 1;
  }
  return found;
}

/* Decimal digits only, at most max. */
static int parse_uint(const char *s, uintmax_t max, uintmax_t *v) {
  uintmax_t x = 0;
  if(!*s)
    return -1;
  for(; *s; s++) {
    unsigned d;
    if(*s < '0' || *s > '9')
      return -1;
    d = (unsigned)(*s - '0');
    if(x > (max - d) / 10)
      return -1;
    x = x * 10 + d;
  }
  *v = x;
  return 0;
}

ddas_result ddas_parked_parse(const ddas_kv *headers, size_t nheaders,
                              const void *body, size_t body_len,
                              ddas_parked *out, char *err, size_t errlen) {
  static const char *const required[] = {
      DDAS_H_TYPE,     DDAS_H_TIME,        DDAS_H_DELIVERY_ID,
      DDAS_H_BATCH_ID, DDAS_H_BATCH_INDEX, DDAS_H_RECORDS,
      DDAS_H_DIGEST,   DDAS_H_SIGNATURE,   DDAS_H_SIG_PROFILE};
  static const char *const optional[] = {
      DDAS_H_SPECVERSION, DDAS_H_CONTENT_TYPE, DDAS_H_REASON,
      DDAS_H_LAST_ERROR,  DDAS_H_PROBLEM,      DDAS_H_ATTEMPTS,
      DDAS_H_SOURCES,     DDAS_H_KIND,         DDAS_H_ORG_NAME,
      DDAS_H_ORG_CODE,    DDAS_H_PERIOD_START, DDAS_H_PERIOD_END};
  const char *v[sizeof(required) / sizeof(required[0])];
  const char *o[sizeof(optional) / sizeof(optional[0])];
  char digest[DIGEST_LEN + 1];
  uintmax_t index, records;
  ddas_result r = DDAS_ERR_ARG;
  size_t i;

  if(err && errlen)
    err[0] = '\0';
  if(!out) {
    set_err(err, errlen, "no output event", "", "");
    return DDAS_ERR_ARG;
  }
  memset(out, 0, sizeof(*out));
  if((nheaders && !headers) || (body_len && !body)) {
    set_err(err, errlen, "headers or body missing", "", "");
    return DDAS_ERR_ARG;
  }
  for(i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
    int k = header(headers, nheaders, required[i], &v[i]);
    if(k <= 0) {
      if(k < 0)
        set_err(err, errlen, "header ", required[i], " occurs more than once");
      else
        set_err(err, errlen, "required header ", required[i], " is missing");
      goto out;
    }
  }
  for(i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
    if(header(headers, nheaders, optional[i], &o[i]) < 0) {
      set_err(err, errlen, "header ", optional[i], " occurs more than once");
      goto out;
    }

  if(strcmp(v[0], DDAS_CE_PARKED)) {
    set_err(err, errlen, "ce_type is not ", DDAS_CE_PARKED, "");
    goto out;
  }
  if(o[0] && strcmp(o[0], "1.0")) {
    set_err(err, errlen, "ce_specversion is not 1.0", "", "");
    goto out;
  }
  if(parse_uint(v[4], UINT_MAX, &index)) {
    set_err(err, errlen, "header ", DDAS_H_BATCH_INDEX,
            " is not a batch index");
    goto out;
  }
  if(parse_uint(v[5], SIZE_MAX, &records)) {
    set_err(err, errlen, "header ", DDAS_H_RECORDS, " is not a record count");
    goto out;
  }
  if(!profile_ok(v[8])) {
    set_err(err, errlen, "header ", DDAS_H_SIG_PROFILE,
            " is not \"adr\" or \"body\"");
    goto out;
  }
  if((r = body_digest(body, body_len, digest))) {
    set_err(err, errlen, "cannot compute the body digest", "", "");
    goto out;
  }
  r = DDAS_ERR_ARG;
  if(strcmp(digest, v[6])) {
    set_err(err, errlen, "the body does not match header ", DDAS_H_DIGEST, "");
    goto out;
  }

  out->time = v[1];
  out->delivery_id = v[2];
  out->batch_id = v[3];
  out->batch_index = (unsigned)index;
  out->records = (size_t)records;
  out->digest = v[6];
  out->signature = v[7];
  out->sig_profile = v[8];
  out->content_type = o[1] ? o[1] : DEFAULT_CONTENT_TYPE;
  out->reason = o[2];
  out->last_error = o[3];
  out->problem = o[4];
  out->attempts = o[5];
  out->sources = o[6];
  out->kind = o[7] ? ddas_kind_parse(o[7]) : DDAS_KIND_UNKNOWN;
  out->org_name = o[8];
  out->org_code = o[9];
  out->period_start = o[10];
  out->period_end = o[11];
  out->body = body ? body : "";
  out->body_len = body_len;
  r = DDAS_OK;
out:
  if(r)
    memset(out, 0, sizeof(*out));
  return r;
}
