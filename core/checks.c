/* The decisions of the start-up checks (see ddas/checks.h). */
#include "ddas/checks.h"

#include <stdio.h>
#include <string.h>

#include "ddas/json.h"
#include "ddas/text.h"

#define FIELD_MAX 160 /* bytes of one string in a problem summary */
#define POINTERS_MAX 8

ddas_cert_window ddas_cert_window_at(int64_t now, int64_t not_before,
                                     int64_t not_after, int64_t warn_s) {
  if(now < not_before)
    return DDAS_CERT_NOT_YET_VALID;
  if(now > not_after)
    return DDAS_CERT_EXPIRED;
  if(not_after - now <= warn_s)
    return DDAS_CERT_EXPIRES_SOON;
  return DDAS_CERT_VALID;
}

ddas_mode_verdict ddas_secret_mode(unsigned mode) {
  if(mode & 0004u)
    return DDAS_MODE_WORLD_READABLE;
  if(mode & 0040u)
    return DDAS_MODE_GROUP_READABLE;
  return DDAS_MODE_PRIVATE;
}

const char *ddas_closest(const char *word, const char *const *cands, size_t n,
                         size_t max_dist) {
  const char *best = NULL;
  size_t i, best_d = max_dist + 1;
  for(i = 0; i < n; i++) {
    size_t d = ddas_edit_distance(word, cands[i]);
    if(d < best_d) {
      best_d = d;
      best = cands[i];
    }
  }
  return best;
}

/* ---- problem+json ------------------------------------------------------- */

typedef struct {
  char *p;
  size_t cap, len;
} outbuf;

static void put(outbuf *o, const char *s, size_t n) {
  if(o->len + 1 >= o->cap)
    return;
  if(n > o->cap - 1 - o->len)
    n = o->cap - 1 - o->len;
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

/* A string value, cut at FIELD_MAX bytes, control characters as '?'. */
static void put_str(outbuf *o, const ddas_json *v) {
  char buf[FIELD_MAX + 1];
  size_t i, n = v->n < FIELD_MAX ? v->n : FIELD_MAX;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v->u.str[i];
    buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  buf[n] = '\0';
  ddas_utf8_sanitize(buf); /* a cut through a sequence, or bad input */
  puts_(o, buf);
}

static const ddas_json *member(const ddas_json *obj, const char *key,
                               ddas_json_type type) {
  const ddas_json *v = obj ? ddas_json_get(obj, key) : NULL;
  return v && v->type == type ? v : NULL;
}

/* The pointer an item of errors or invalid-params names, or NULL. */
static const ddas_json *item_pointer(const ddas_json *item) {
  const ddas_json *p;
  if(item->type != DDAS_JSON_OBJECT)
    return NULL;
  if((p = member(item, "pointer", DDAS_JSON_STRING)) ||
     (p = member(member(item, "source", DDAS_JSON_OBJECT), "pointer",
                 DDAS_JSON_STRING)) ||
     (p = member(item, "name", DDAS_JSON_STRING)))
    return p;
  return NULL;
}

static void put_pointers(outbuf *o, const ddas_json *root) {
  static const char *const lists[] = {"errors", "invalid-params"};
  size_t l, i, shown = 0, more = 0;
  for(l = 0; l < 2; l++) {
    const ddas_json *a = member(root, lists[l], DDAS_JSON_ARRAY);
    for(i = 0; a && i < a->n; i++) {
      const ddas_json *p = item_pointer(&a->u.items[i]);
      if(!p)
        continue;
      if(shown == POINTERS_MAX) {
        more++;
        continue;
      }
      puts_(o, shown ? ", " : "; at ");
      put_str(o, p);
      shown++;
    }
  }
  if(more) {
    char tail[48];
    snprintf(tail, sizeof(tail), " and %zu more", more);
    puts_(o, tail);
  }
}

int ddas_problem_summary(const char *body, size_t len, char *out, size_t cap) {
  outbuf o = {out, cap, 0};
  ddas_json_doc *doc = NULL;
  const ddas_json *root, *v;
  if(!cap)
    return -1;
  out[0] = '\0';
  if(!body || ddas_json_parse(body, len, NULL, &doc, NULL) != DDAS_OK ||
     (root = ddas_json_root(doc))->type != DDAS_JSON_OBJECT) {
    ddas_json_doc_free(doc);
    puts_(&o, "not problem+json");
    return -1;
  }
  if((v = member(root, "status", DDAS_JSON_NUMBER))) {
    char s[32];
    snprintf(s, sizeof(s), "status %.0f", v->u.num);
    puts_(&o, s);
  }
  if((v = member(root, "title", DDAS_JSON_STRING))) {
    puts_(&o, o.len ? ", title \"" : "title \"");
    put_str(&o, v);
    puts_(&o, "\"");
  }
  if((v = member(root, "type", DDAS_JSON_STRING))) {
    puts_(&o, o.len ? ", type " : "type ");
    put_str(&o, v);
  }
  if(!o.len)
    puts_(&o, "no type, title or status");
  put_pointers(&o, root);
  ddas_json_doc_free(doc);
  return 0;
}
