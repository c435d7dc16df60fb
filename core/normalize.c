/* Value normalisations N1 and N2 on the parsed tree (see ddas/normalize.h).
 * The structural ones (N3-N6) are applied by the batch writer. */
#include "ddas/normalize.h"

#include <string.h>
#include <strings.h>

int ddas_norm_parse(const char *list, unsigned *mask) {
  unsigned m = 0;
  const char *p = list;
  if(strcasecmp(list, "all") == 0) {
    *mask = DDAS_N_ALL;
    return 0;
  }
  if(strcasecmp(list, "none") == 0 || *list == '\0') {
    *mask = 0;
    return 0;
  }
  while(*p) {
    if((p[0] == 'N' || p[0] == 'n') && p[1] >= '1' && p[1] <= '6' &&
       (p[2] == ',' || p[2] == '\0')) {
      m |= 1u << (p[1] - '1');
      p += p[2] ? 3 : 2;
    } else {
      return -1;
    }
  }
  *mask = m;
  return 0;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

typedef struct {
  ddas_json_doc *doc;
  unsigned mask;
  const ddas_ruleset *rs;
  ddas_findings *out; /* NULL: no findings */
  ddas_norm_counts *counts;
  int nomem;
} nctx;

/* Where the walk is: a chain of segments on the C stack, turned into a
 * JSON Pointer only when a finding needs one (most values need none). */
typedef struct seg {
  const struct seg *up;
  const char *key; /* NULL: an array index */
  size_t len_or_index;
} seg;

static void build(const seg *s, char *buf, size_t cap) {
  if(!s) {
    buf[0] = '\0';
    return;
  }
  build(s->up, buf, cap);
  /* a truncated pointer is still a prefix of the real location */
  if(s->key)
    ddas_json_pointer_push_key(buf, cap, s->key, s->len_or_index);
  else
    ddas_json_pointer_push_index(buf, cap, s->len_or_index);
}

/* A finding of rule `id` at the value `at`. */
static void deviation(nctx *c, const seg *at, const char *id, const char *msg) {
  char ptr[2048];
  if(!c->out)
    return;
  build(at, ptr, sizeof(ptr));
  if(ddas_rule_add(c->rs, c->out, id, ptr, "%s", msg))
    c->nomem = 1;
}

/* Upper-cases and removes inner spaces of a postcode; the result lives in
 * the document's arena. */
static void postcode(nctx *c, ddas_json *v) {
  size_t i, w = 0;
  int change = 0;
  char *out;
  for(i = 0; i < v->n; i++) {
    char ch = v->u.str[i];
    if(ch == ' ' || (ch >= 'a' && ch <= 'z'))
      change = 1;
  }
  if(!change)
    return;
  out = ddas_json_doc_alloc(c->doc, v->n + 1);
  if(!out) {
    c->nomem = 1;
    return;
  }
  for(i = 0; i < v->n; i++) {
    char ch = v->u.str[i];
    if(ch == ' ')
      continue;
    out[w++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
  }
  out[w] = '\0';
  v->u.str = out;
  v->n = (uint32_t)w;
  v->flags |= DDAS_JSON_F_ESCAPED; /* no longer the input's bytes */
}

/* `at` is where v is. */
static void walk(nctx *c, ddas_json *v, const seg *at, int is_postcode) {
  size_t i, w;
  seg s;
  s.up = at;
  switch(v->type) {
  case DDAS_JSON_STRING:
    if(c->mask & DDAS_N2) {
      uint32_t n0 = v->n;
      const char *s0 = v->u.str;
      int trimmed;
      while(v->n && is_space((unsigned char)v->u.str[0])) {
        v->u.str++;
        v->n--;
      }
      while(v->n && is_space((unsigned char)v->u.str[v->n - 1]))
        v->n--;
      trimmed = v->n != n0;
      /* only trimming hides something from the schema: a postcode's case
       * and inner spaces are a plain string to it */
      if(trimmed)
        deviation(c, at, "schema.whitespace",
                  "has leading or trailing white space, which the official "
                  "schema does not ignore; trimmed (normalisation N2)");
      if(is_postcode)
        postcode(c, v);
      if(v->n != n0 || v->u.str != s0)
        c->counts->n[1]++;
    }
    break;
  case DDAS_JSON_ARRAY:
    s.key = NULL;
    for(i = 0; i < v->n; i++) {
      s.len_or_index = i;
      walk(c, &v->u.items[i], &s, 0);
    }
    break;
  case DDAS_JSON_OBJECT:
    for(i = w = 0; i < v->n; i++) {
      ddas_json_member *m = &v->u.members[i];
      s.key = m->key;
      s.len_or_index = m->key_len;
      if((c->mask & DDAS_N1) && m->value.type == DDAS_JSON_NULL) {
        deviation(c, &s, "schema.null",
                  "is null, which the official schema does not allow; "
                  "treated as absent (normalisation N1)");
        c->counts->n[0]++;
        continue;
      }
      walk(c, &m->value, &s,
           m->key_len == 8 && strncasecmp(m->key, "postcode", 8) == 0);
      if(w != i)
        v->u.members[w] = *m;
      w++;
    }
    v->n = (uint32_t)w;
    break;
  default: break;
  }
}

ddas_result ddas_normalize_values(ddas_json_doc *doc, unsigned mask,
                                  const ddas_ruleset *rs, ddas_findings *out,
                                  ddas_norm_counts *counts) {
  nctx c;
  c.doc = doc;
  c.mask = mask;
  c.rs = rs;
  c.out = out;
  c.counts = counts;
  c.nomem = 0;
  if(mask & (DDAS_N1 | DDAS_N2))
    walk(&c, ddas_json_root_mut(doc), NULL, 0);
  return c.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}
