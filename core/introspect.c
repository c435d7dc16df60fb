/* Token introspection decisions (ddas/introspect.h). The response is
 * parsed with jansson: it is a small object from a configured endpoint,
 * never a delivery. */
#include "ddas/introspect.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ddas/exchange.h"

static ddas_result fail(ddas_introspection *out, char *err, size_t errlen,
                        ddas_result r, const char *msg) {
  memset(out, 0, sizeof(*out));
  if(err && errlen)
    snprintf(err, errlen, "%s", msg);
  return r;
}

/* 1 when `want` is one of the space-separated words of `scopes`. */
static int has_scope(const char *scopes, const char *want) {
  size_t wl = strlen(want);
  const char *p = scopes;
  while(*p) {
    size_t n;
    while(*p == ' ')
      p++;
    n = strcspn(p, " ");
    if(n == wl && n && memcmp(p, want, n) == 0)
      return 1;
    p += n;
  }
  return 0;
}

ddas_result ddas_introspect_parse(const char *body, size_t len, int64_t now,
                                  const char *required_scope,
                                  ddas_introspection *out, char *err,
                                  size_t errlen) {
  json_t *root, *active, *exp, *scope, *cid;
  json_error_t je;
  ddas_result r = DDAS_OK;
  if(!out)
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  if(!body && len)
    return fail(out, err, errlen, DDAS_ERR_ARG, "no body");
  if(len > DDAS_INTROSPECT_MAX_BODY)
    return fail(out, err, errlen, DDAS_ERR_LIMIT,
                "the introspection response is larger than 65536 bytes");
  root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
  if(!root || !json_is_object(root)) {
    json_decref(root);
    return fail(out, err, errlen, DDAS_ERR_SYNTAX,
                "the introspection response is not a JSON object");
  }
  active = json_object_get(root, "active");
  if(!json_is_boolean(active)) {
    r = fail(out, err, errlen, DDAS_ERR_SYNTAX,
             "/active is missing or not a boolean (RFC 7662 2.2)");
    goto out;
  }
  if(!json_is_true(active))
    goto out; /* nothing else counts for an inactive token */
  exp = json_object_get(root, "exp");
  scope = json_object_get(root, "scope");
  cid = json_object_get(root, "client_id");
  if(exp && !json_is_null(exp)) {
    double d = json_number_value(exp);
    if(!json_is_number(exp) || !isfinite(d) || d < 0 || d > 9.2e18) {
      r = fail(out, err, errlen, DDAS_ERR_SYNTAX,
               "/exp is not a non-negative number of seconds");
      goto out;
    }
    out->exp =
        json_is_integer(exp) ? (int64_t)json_integer_value(exp) : (int64_t)d;
    out->expired = out->exp <= now;
  }
  if(scope && !json_is_null(scope) && !json_is_string(scope)) {
    r = fail(out, err, errlen, DDAS_ERR_SYNTAX,
             "/scope is not a space-separated string");
    goto out;
  }
  out->active = 1;
  out->scope_ok = !required_scope || !*required_scope ||
                  (json_is_string(scope) &&
                   has_scope(json_string_value(scope), required_scope));
  if(json_is_string(cid) &&
     json_string_length(cid) <= DDAS_INTROSPECT_MAX_CLIENT_ID &&
     !memchr(json_string_value(cid), '\0', json_string_length(cid)))
    memcpy(out->client_id, json_string_value(cid), json_string_length(cid));
out:
  json_decref(root);
  return r;
}

ddas_token_verdict ddas_introspect_verdict(const ddas_introspection *i) {
  if(!i->active || !i->scope_ok)
    return DDAS_TOKEN_INVALID;
  return i->expired ? DDAS_TOKEN_EXPIRED : DDAS_TOKEN_OK;
}

int64_t ddas_introspect_cache_seconds(ddas_token_verdict v,
                                      const ddas_introspection *i, int64_t now,
                                      int64_t ttl) {
  int64_t s;
  if(ttl <= 0)
    return 0;
  switch(v) {
  case DDAS_TOKEN_OK:
    s = i && i->exp ? i->exp - now : ttl;
    return s < 0 ? 0 : s < ttl ? s : ttl;
  case DDAS_TOKEN_INVALID:
  case DDAS_TOKEN_EXPIRED:
    return ttl < DDAS_INTROSPECT_NEGATIVE_TTL ? ttl
                                              : DDAS_INTROSPECT_NEGATIVE_TTL;
  case DDAS_TOKEN_MISSING:
  case DDAS_TOKEN_UNAVAILABLE: break;
  }
  return 0;
}

const char *ddas_bearer_token(const char *authorization, size_t *len) {
  const char *p, *t;
  size_t n;
  if(!authorization || strlen(authorization) < 7)
    return NULL;
  for(n = 0; n < 6; n++)
    if((authorization[n] | 0x20) != "bearer"[n])
      return NULL;
  if(authorization[6] != ' ')
    return NULL;
  for(t = authorization + 6; *t == ' ';)
    t++;
  for(p = t; *p && (strchr("-._~+/", *p) || (*p >= '0' && *p <= '9') ||
                    ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'));)
    p++;
  if(p == t)
    return NULL;
  while(*p == '=')
    p++;
  n = (size_t)(p - t);
  while(*p == ' ')
    p++;
  if(*p)
    return NULL;
  if(len)
    *len = n;
  return t;
}

long ddas_introspect_retry_after(const char *retry_after, int64_t now) {
  long s = retry_after ? ddas_retry_after(retry_after, now) : -1;
  return s >= 1 && s <= 300 ? s : 5;
}
