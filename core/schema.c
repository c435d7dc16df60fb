/* JSON Schema draft 2020-12: compiler and validator (see ddas/schema.h).
 *
 * Compilation turns every subschema into an `snode` once; $ref targets are
 * resolved to snode pointers after the walk, so cycles are fine and
 * validation never resolves names. Validation walks instance and schema
 * together; keywords are evaluated independently so that every violated
 * keyword yields its own finding. Subschemas whose result is only a yes/no
 * (anyOf, oneOf, not, if, contains, propertyNames) run in "quiet" mode,
 * which stops at the first violation and records nothing.
 */
#include "ddas/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/format.h"
#include "hash.h"

/* keyword bits */
enum {
  K_TYPE = 1u << 0,
  K_ENUM = 1u << 1,
  K_CONST = 1u << 2,
  K_MINLEN = 1u << 3,
  K_MAXLEN = 1u << 4,
  K_MIN = 1u << 5,
  K_MAX = 1u << 6,
  K_XMIN = 1u << 7,
  K_XMAX = 1u << 8,
  K_MULT = 1u << 9,
  K_MINITEMS = 1u << 10,
  K_MAXITEMS = 1u << 11,
  K_UNIQUE = 1u << 12,
  K_MINPROPS = 1u << 13,
  K_MAXPROPS = 1u << 14,
  K_FORMAT = 1u << 15,
  K_CONTAINS = 1u << 16
};

/* type bits */
enum {
  T_NULL = 1,
  T_BOOL = 2,
  T_OBJECT = 4,
  T_ARRAY = 8,
  T_NUMBER = 16,
  T_STRING = 32,
  T_INTEGER = 64
};

enum { F_NONE = 0, F_DATE, F_TIME, F_DATETIME, F_EMAIL };

typedef struct snode snode;

typedef struct {
  const char *name;
  uint32_t len;
  uint32_t hash;
  snode *schema;
} sprop;

typedef struct {
  const char *name;
  uint32_t len;
  const ddas_json *names; /* dependentRequired: array of strings */
  snode *schema;          /* dependentSchemas */
} sdep;

struct snode {
  int boolean; /* -1: an object schema; 0: false; 1: true */
  char *loc;   /* schema location, "#/..." */
  unsigned kw;
  unsigned types;
  int format;
  const ddas_json *enum_vals;
  const ddas_json *const_val;
  double min_len, max_len, min_items, max_items, min_props, max_props;
  double minimum, maximum, xminimum, xmaximum, multiple_of;
  double min_contains, max_contains;
  sprop *props;
  uint32_t nprops;
  uint32_t *ptable; /* open addressing: prop index + 1, 0 = empty */
  uint32_t pmask;
  const ddas_json *required; /* array of strings */
  snode *additional;
  snode **prefix;
  size_t nprefix;
  snode *items;
  snode *contains;
  snode *property_names;
  sdep *deps_req;
  size_t ndeps_req;
  sdep *deps_sch;
  size_t ndeps_sch;
  snode *ref;
  const char *ref_str;
  size_t ref_len;
  snode **all_of, **any_of, **one_of;
  size_t nall, nany, none;
  snode *not_, *if_, *then_, *else_;
  const ddas_json *src; /* the JSON this node was compiled from */
  snode *next_all;      /* all nodes, for freeing and look-up */
};

struct ddas_schema {
  snode *root;
  snode *all;
  char *owned_text;
  ddas_json_doc *owned_doc;
  const ddas_json *root_json;
  char *id;
  int format_annotation_only;
};

/* ---- compile ---------------------------------------------------------- */

typedef struct {
  ddas_schema *s;
  char *err;
  size_t errlen;
  ddas_result r;
} cctx;

static int cfail(cctx *c, ddas_result r, const char *loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int cfail(cctx *c, ddas_result r, const char *loc, const char *fmt,
                 ...) {
  va_list ap;
  int n;
  if(c->r)
    return 0;
  c->r = r;
  if(c->err && c->errlen) {
    n = snprintf(c->err, c->errlen, "%s: ", loc ? loc : "#");
    if(n >= 0 && (size_t)n < c->errlen) {
      va_start(ap, fmt);
      vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return 0;
}

static char *loc_join(const char *base, const char *key, size_t klen) {
  size_t cap = strlen(base) + klen * 2 + 4;
  char *p = ddas_malloc(cap);
  if(!p)
    return NULL;
  /* base is "#..." and the pointer part after '#' is what we extend */
  memcpy(p, base, strlen(base) + 1);
  if(ddas_json_pointer_push_key(p + 1, cap - 1, key, klen)) {
    ddas_free(p);
    return NULL;
  }
  return p;
}

static char *loc_index(const char *base, const char *key, size_t i) {
  char *k = loc_join(base, key, strlen(key)), *p;
  size_t cap;
  if(!k)
    return NULL;
  cap = strlen(k) + 24;
  p = ddas_realloc(k, cap);
  if(!p) {
    ddas_free(k);
    return NULL;
  }
  ddas_json_pointer_push_index(p + 1, cap - 1, i);
  return p;
}

static int key_is(const ddas_json_member *m, const char *k) {
  size_t n = strlen(k);
  return m->key_len == n && memcmp(m->key, k, n) == 0;
}

static snode *compile_node(cctx *c, const ddas_json *j, const char *loc);

static snode *find_node(ddas_schema *s, const ddas_json *j) {
  snode *n;
  for(n = s->all; n; n = n->next_all)
    if(n->src == j)
      return n;
  return NULL;
}

static snode *compile_child(cctx *c, const ddas_json *j, const char *base,
                            const char *key, size_t klen) {
  char *loc = loc_join(base, key, klen);
  snode *n;
  if(!loc) {
    cfail(c, DDAS_ERR_NOMEM, base, "out of memory");
    return NULL;
  }
  n = compile_node(c, j, loc);
  ddas_free(loc);
  return n;
}

static int get_count(cctx *c, const ddas_json *v, const char *loc,
                     const char *kw, double *out) {
  if(v->type != DDAS_JSON_NUMBER || !(v->flags & DDAS_JSON_F_INTEGRAL) ||
     v->u.num < 0)
    return cfail(c, DDAS_ERR_SCHEMA, loc, "'%s' must be a non-negative integer",
                 kw);
  *out = v->u.num;
  return 1;
}

static int get_number(cctx *c, const ddas_json *v, const char *loc,
                      const char *kw, double *out) {
  if(v->type != DDAS_JSON_NUMBER)
    return cfail(c, DDAS_ERR_SCHEMA, loc, "'%s' must be a number", kw);
  *out = v->u.num;
  return 1;
}

static int type_bit(const ddas_json *v) {
  static const struct {
    const char *n;
    int bit;
  } t[] = {{"null", T_NULL},      {"boolean", T_BOOL},  {"object", T_OBJECT},
           {"array", T_ARRAY},    {"number", T_NUMBER}, {"string", T_STRING},
           {"integer", T_INTEGER}};
  size_t i;
  if(v->type != DDAS_JSON_STRING)
    return 0;
  for(i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if(strlen(t[i].n) == v->n && memcmp(t[i].n, v->u.str, v->n) == 0)
      return t[i].bit;
  return 0;
}

static int compile_list(cctx *c, const ddas_json *v, const char *loc,
                        const char *kw, snode ***out, size_t *n) {
  size_t i;
  if(v->type != DDAS_JSON_ARRAY || v->n == 0)
    return cfail(c, DDAS_ERR_SCHEMA, loc,
                 "'%s' must be a non-empty array of schemas", kw);
  *out = ddas_calloc(v->n, sizeof(snode *));
  if(!*out)
    return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
  *n = v->n;
  for(i = 0; i < v->n; i++) {
    char *l = loc_index(loc, kw, i);
    if(!l)
      return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
    (*out)[i] = compile_node(c, &v->u.items[i], l);
    ddas_free(l);
    if(!(*out)[i])
      return 0;
  }
  return 1;
}

static int string_array(cctx *c, const ddas_json *v, const char *loc,
                        const char *kw) {
  size_t i, j;
  if(v->type != DDAS_JSON_ARRAY)
    return cfail(c, DDAS_ERR_SCHEMA, loc, "'%s' must be an array of strings",
                 kw);
  for(i = 0; i < v->n; i++) {
    if(v->u.items[i].type != DDAS_JSON_STRING)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'%s' must be an array of strings",
                   kw);
    for(j = 0; j < i; j++)
      if(ddas_json_equal(&v->u.items[i], &v->u.items[j]))
        return cfail(c, DDAS_ERR_SCHEMA, loc,
                     "'%s' must not contain the same name twice", kw);
  }
  return 1;
}

static int compile_properties(cctx *c, snode *n, const ddas_json *v,
                              const char *loc) {
  size_t i, cap = 8;
  if(v->type != DDAS_JSON_OBJECT)
    return cfail(c, DDAS_ERR_SCHEMA, loc, "'properties' must be an object");
  n->nprops = v->n;
  if(!v->n)
    return 1;
  while(cap < (size_t)v->n * 2)
    cap *= 2;
  n->props = ddas_calloc(v->n, sizeof(sprop));
  n->ptable = ddas_calloc(cap, sizeof(uint32_t));
  if(!n->props || !n->ptable)
    return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
  n->pmask = (uint32_t)(cap - 1);
  for(i = 0; i < v->n; i++) {
    const ddas_json_member *m = &v->u.members[i];
    sprop *p = &n->props[i];
    char *base = loc_join(loc, "properties", 10);
    uint32_t slot;
    if(!base)
      return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
    p->name = m->key;
    p->len = m->key_len;
    p->hash = ddas_fnv1a(m->key, m->key_len);
    p->schema = compile_child(c, &m->value, base, m->key, m->key_len);
    ddas_free(base);
    if(!p->schema)
      return 0;
    slot = p->hash & n->pmask;
    while(n->ptable[slot])
      slot = (slot + 1) & n->pmask;
    n->ptable[slot] = (uint32_t)i + 1;
  }
  return 1;
}

static int compile_deps(cctx *c, snode *n, const ddas_json *v, const char *loc,
                        int schemas) {
  const char *kw = schemas ? "dependentSchemas" : "dependentRequired";
  sdep *d;
  size_t i;
  if(v->type != DDAS_JSON_OBJECT)
    return cfail(c, DDAS_ERR_SCHEMA, loc, "'%s' must be an object", kw);
  d = ddas_calloc(v->n ? v->n : 1, sizeof(sdep));
  if(!d)
    return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
  if(schemas) {
    n->deps_sch = d;
    n->ndeps_sch = v->n;
  } else {
    n->deps_req = d;
    n->ndeps_req = v->n;
  }
  for(i = 0; i < v->n; i++) {
    const ddas_json_member *m = &v->u.members[i];
    d[i].name = m->key;
    d[i].len = m->key_len;
    if(schemas) {
      char *base = loc_join(loc, kw, strlen(kw));
      if(!base)
        return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
      d[i].schema = compile_child(c, &m->value, base, m->key, m->key_len);
      ddas_free(base);
      if(!d[i].schema)
        return 0;
    } else {
      if(!string_array(c, &m->value, loc, kw))
        return 0;
      d[i].names = &m->value;
    }
  }
  return 1;
}

#define DRAFT_2020_12 "https://json-schema.org/draft/2020-12/schema"

static const char *const annotations[] = {
    "title",    "description", "$comment", "examples", "default", "deprecated",
    "readOnly", "writeOnly",   "$schema",  "$id",      NULL};

static int compile_keyword(cctx *c, snode *n, const ddas_json_member *m,
                           const char *loc, int is_root) {
  const ddas_json *v = &m->value;
  size_t i;

#define KW(name) key_is(m, name)
  /* Another meta-schema may switch vocabularies off or on (the suite's
   * vocabulary.json): the validator reads no meta-schema, so it refuses one
   * it does not know instead of applying keywords the schema's author may
   * have switched off. */
  if(KW("$schema") && !(v->type == DDAS_JSON_STRING &&
                        ((v->n == sizeof(DRAFT_2020_12) - 1 &&
                          memcmp(v->u.str, DRAFT_2020_12, v->n) == 0) ||
                         (v->n == sizeof(DRAFT_2020_12) &&
                          memcmp(v->u.str, DRAFT_2020_12 "#", v->n) == 0))))
    return cfail(c, DDAS_ERR_UNSUPPORTED, loc,
                 "'$schema' other than " DRAFT_2020_12
                 " is not supported (its vocabularies are unknown)");
  for(i = 0; annotations[i]; i++) {
    if(KW(annotations[i])) {
      if(KW("$id") && !is_root)
        return cfail(c, DDAS_ERR_UNSUPPORTED, loc,
                     "keyword '$id' below the schema root (an embedded schema "
                     "resource) is not supported");
      return 1;
    }
  }
  if(KW("$defs")) {
    if(v->type != DDAS_JSON_OBJECT)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'$defs' must be an object");
    for(i = 0; i < v->n; i++) {
      char *base = loc_join(loc, "$defs", 5);
      snode *d;
      if(!base)
        return cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
      d = compile_child(c, &v->u.members[i].value, base, v->u.members[i].key,
                        v->u.members[i].key_len);
      ddas_free(base);
      if(!d)
        return 0;
    }
    return 1;
  }
  if(KW("type")) {
    n->kw |= K_TYPE;
    if(v->type == DDAS_JSON_STRING) {
      n->types = (unsigned)type_bit(v);
      if(!n->types)
        return cfail(c, DDAS_ERR_SCHEMA, loc, "'type' names an unknown type");
      return 1;
    }
    if(v->type == DDAS_JSON_ARRAY) {
      for(i = 0; i < v->n; i++) {
        int b = type_bit(&v->u.items[i]);
        if(!b)
          return cfail(c, DDAS_ERR_SCHEMA, loc, "'type' names an unknown type");
        n->types |= (unsigned)b;
      }
      return 1;
    }
    return cfail(c, DDAS_ERR_SCHEMA, loc,
                 "'type' must be a string or an array of strings");
  }
  if(KW("enum")) {
    if(v->type != DDAS_JSON_ARRAY)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'enum' must be an array");
    n->kw |= K_ENUM;
    n->enum_vals = v;
    return 1;
  }
  if(KW("const")) {
    n->kw |= K_CONST;
    n->const_val = v;
    return 1;
  }
  if(KW("minLength")) {
    n->kw |= K_MINLEN;
    return get_count(c, v, loc, "minLength", &n->min_len);
  }
  if(KW("maxLength")) {
    n->kw |= K_MAXLEN;
    return get_count(c, v, loc, "maxLength", &n->max_len);
  }
  if(KW("minItems")) {
    n->kw |= K_MINITEMS;
    return get_count(c, v, loc, "minItems", &n->min_items);
  }
  if(KW("maxItems")) {
    n->kw |= K_MAXITEMS;
    return get_count(c, v, loc, "maxItems", &n->max_items);
  }
  if(KW("minProperties")) {
    n->kw |= K_MINPROPS;
    return get_count(c, v, loc, "minProperties", &n->min_props);
  }
  if(KW("maxProperties")) {
    n->kw |= K_MAXPROPS;
    return get_count(c, v, loc, "maxProperties", &n->max_props);
  }
  if(KW("minimum")) {
    n->kw |= K_MIN;
    return get_number(c, v, loc, "minimum", &n->minimum);
  }
  if(KW("maximum")) {
    n->kw |= K_MAX;
    return get_number(c, v, loc, "maximum", &n->maximum);
  }
  if(KW("exclusiveMinimum")) {
    n->kw |= K_XMIN;
    return get_number(c, v, loc, "exclusiveMinimum", &n->xminimum);
  }
  if(KW("exclusiveMaximum")) {
    n->kw |= K_XMAX;
    return get_number(c, v, loc, "exclusiveMaximum", &n->xmaximum);
  }
  if(KW("multipleOf")) {
    n->kw |= K_MULT;
    if(!get_number(c, v, loc, "multipleOf", &n->multiple_of))
      return 0;
    if(!(n->multiple_of > 0))
      return cfail(c, DDAS_ERR_SCHEMA, loc,
                   "'multipleOf' must be greater than 0");
    return 1;
  }
  if(KW("uniqueItems")) {
    if(v->type != DDAS_JSON_TRUE && v->type != DDAS_JSON_FALSE)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'uniqueItems' must be a boolean");
    if(v->type == DDAS_JSON_TRUE)
      n->kw |= K_UNIQUE;
    return 1;
  }
  if(KW("minContains"))
    return get_count(c, v, loc, "minContains", &n->min_contains);
  if(KW("maxContains"))
    return get_count(c, v, loc, "maxContains", &n->max_contains);
  if(KW("required")) {
    if(!string_array(c, v, loc, "required"))
      return 0;
    n->required = v;
    return 1;
  }
  if(KW("properties"))
    return compile_properties(c, n, v, loc);
  if(KW("additionalProperties"))
    return (n->additional =
                compile_child(c, v, loc, "additionalProperties", 20)) != NULL;
  if(KW("items")) {
    if(v->type == DDAS_JSON_ARRAY)
      return cfail(c, DDAS_ERR_SCHEMA, loc,
                   "'items' must be a schema in draft 2020-12 (an array of "
                   "schemas is written 'prefixItems')");
    return (n->items = compile_child(c, v, loc, "items", 5)) != NULL;
  }
  if(KW("prefixItems"))
    return compile_list(c, v, loc, "prefixItems", &n->prefix, &n->nprefix);
  if(KW("contains")) {
    n->kw |= K_CONTAINS;
    return (n->contains = compile_child(c, v, loc, "contains", 8)) != NULL;
  }
  if(KW("propertyNames"))
    return (n->property_names =
                compile_child(c, v, loc, "propertyNames", 13)) != NULL;
  if(KW("dependentRequired"))
    return compile_deps(c, n, v, loc, 0);
  if(KW("dependentSchemas"))
    return compile_deps(c, n, v, loc, 1);
  if(KW("allOf"))
    return compile_list(c, v, loc, "allOf", &n->all_of, &n->nall);
  if(KW("anyOf"))
    return compile_list(c, v, loc, "anyOf", &n->any_of, &n->nany);
  if(KW("oneOf"))
    return compile_list(c, v, loc, "oneOf", &n->one_of, &n->none);
  if(KW("not"))
    return (n->not_ = compile_child(c, v, loc, "not", 3)) != NULL;
  if(KW("if"))
    return (n->if_ = compile_child(c, v, loc, "if", 2)) != NULL;
  if(KW("then"))
    return (n->then_ = compile_child(c, v, loc, "then", 4)) != NULL;
  if(KW("else"))
    return (n->else_ = compile_child(c, v, loc, "else", 4)) != NULL;
  if(KW("$ref")) {
    if(v->type != DDAS_JSON_STRING)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'$ref' must be a string");
    n->ref_str = v->u.str;
    n->ref_len = v->n;
    return 1; /* resolved after the walk */
  }
  if(KW("format")) {
    static const struct {
      const char *name;
      int f;
    } f[] = {{"date", F_DATE},
             {"time", F_TIME},
             {"date-time", F_DATETIME},
             {"email", F_EMAIL}};
    if(v->type != DDAS_JSON_STRING)
      return cfail(c, DDAS_ERR_SCHEMA, loc, "'format' must be a string");
    if(c->s->format_annotation_only)
      return 1;
    for(i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
      if(strlen(f[i].name) == v->n && memcmp(f[i].name, v->u.str, v->n) == 0) {
        n->kw |= K_FORMAT;
        n->format = f[i].f;
        return 1;
      }
    }
    return cfail(c, DDAS_ERR_UNSUPPORTED, loc,
                 "format '%.*s' is not supported (supported: date, time, "
                 "date-time, email)",
                 (int)(v->n > 64 ? 64 : v->n), v->u.str);
  }
#undef KW
  return cfail(c, DDAS_ERR_UNSUPPORTED, loc, "keyword '%.*s' is not supported",
               (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
}

static snode *compile_node(cctx *c, const ddas_json *j, const char *loc) {
  snode *n;
  size_t i;
  if(c->r)
    return NULL;
  n = find_node(c->s, j);
  if(n)
    return n;
  if(j->type != DDAS_JSON_OBJECT && j->type != DDAS_JSON_TRUE &&
     j->type != DDAS_JSON_FALSE) {
    cfail(c, DDAS_ERR_SCHEMA, loc,
          "a schema must be an object or a boolean, not %s",
          ddas_json_type_name(j));
    return NULL;
  }
  n = ddas_calloc(1, sizeof(*n));
  if(!n) {
    cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
    return NULL;
  }
  n->src = j;
  n->boolean = j->type == DDAS_JSON_OBJECT ? -1 : j->type == DDAS_JSON_TRUE;
  n->max_contains = -1;
  n->min_contains = 1;
  n->next_all = c->s->all;
  c->s->all = n;
  n->loc = ddas_strdup(loc);
  if(!n->loc) {
    cfail(c, DDAS_ERR_NOMEM, loc, "out of memory");
    return NULL;
  }
  if(j->type == DDAS_JSON_OBJECT)
    for(i = 0; i < j->n; i++)
      if(!compile_keyword(c, n, &j->u.members[i], n->loc, j == c->s->root_json))
        return NULL;
  return n;
}

static int hexval(char ch) {
  if(ch >= '0' && ch <= '9')
    return ch - '0';
  if(ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if(ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static int resolve_refs(cctx *c) {
  snode *n;
  for(n = c->s->all; n; n = n->next_all) {
    const char *r = n->ref_str;
    size_t len = n->ref_len, idlen = strlen(c->s->id), i, w = 0;
    char *frag;
    const ddas_json *target;
    if(!r)
      continue;
    /* an absolute reference into this very document is local */
    if(idlen && len >= idlen && memcmp(r, c->s->id, idlen) == 0) {
      r += idlen;
      len -= idlen;
    }
    if(len == 0 || r[0] != '#')
      return cfail(c, DDAS_ERR_UNSUPPORTED, n->loc,
                   "'$ref' to '%.*s' is not supported: only references "
                   "within the same document ('#...') are",
                   (int)(n->ref_len > 120 ? 120 : n->ref_len), n->ref_str);
    if(len > 1 && r[1] != '/')
      return cfail(c, DDAS_ERR_UNSUPPORTED, n->loc,
                   "'$ref' to an anchor ('%.*s') is not supported: only JSON "
                   "Pointer fragments are",
                   (int)(len > 120 ? 120 : len), r);
    frag = ddas_malloc(len);
    if(!frag)
      return cfail(c, DDAS_ERR_NOMEM, n->loc, "out of memory");
    for(i = 1; i < len; i++) {
      if(r[i] == '%' && i + 2 < len && hexval(r[i + 1]) >= 0 &&
         hexval(r[i + 2]) >= 0) {
        frag[w++] = (char)(hexval(r[i + 1]) * 16 + hexval(r[i + 2]));
        i += 2;
      } else {
        frag[w++] = r[i];
      }
    }
    target = ddas_json_pointer_get(c->s->root_json, frag, w);
    ddas_free(frag);
    if(!target)
      return cfail(c, DDAS_ERR_SCHEMA, n->loc,
                   "'$ref' target '%.*s' does not exist in the schema",
                   (int)(len > 120 ? 120 : len), r);
    {
      /* the target's own location, for findings reached through it */
      char *tloc = ddas_malloc(len + 1);
      if(!tloc)
        return cfail(c, DDAS_ERR_NOMEM, n->loc, "out of memory");
      memcpy(tloc, r, len);
      tloc[len] = '\0';
      n->ref = compile_node(c, target, tloc);
      ddas_free(tloc);
    }
    if(!n->ref)
      return 0;
  }
  return 1;
}

static void node_free(snode *n) {
  ddas_free(n->loc);
  ddas_free(n->props);
  ddas_free(n->ptable);
  ddas_free(n->prefix);
  ddas_free(n->deps_req);
  ddas_free(n->deps_sch);
  ddas_free(n->all_of);
  ddas_free(n->any_of);
  ddas_free(n->one_of);
  ddas_free(n);
}

void ddas_schema_free(ddas_schema *s) {
  snode *n, *next;
  if(!s)
    return;
  for(n = s->all; n; n = next) {
    next = n->next_all;
    node_free(n);
  }
  ddas_json_doc_free(s->owned_doc);
  ddas_free(s->owned_text);
  ddas_free(s->id);
  ddas_free(s);
}

ddas_result ddas_schema_compile(const ddas_json *root,
                                const ddas_schema_options *opt,
                                ddas_schema **out, char *errbuf,
                                size_t errlen) {
  cctx c;
  ddas_schema *s;
  const ddas_json *id;
  *out = NULL;
  if(errbuf && errlen)
    errbuf[0] = '\0';
  s = ddas_calloc(1, sizeof(*s));
  if(!s)
    return DDAS_ERR_NOMEM;
  memset(&c, 0, sizeof(c));
  c.s = s;
  c.err = errbuf;
  c.errlen = errlen;
  s->root_json = root;
  s->format_annotation_only = opt ? opt->format_annotation_only : 0;
  id = ddas_json_get(root, "$id");
  if(id && id->type == DDAS_JSON_STRING) {
    /* the base without a (possibly empty) fragment */
    size_t n = id->n;
    const char *hash = memchr(id->u.str, '#', n);
    if(hash)
      n = (size_t)(hash - id->u.str);
    s->id = ddas_strndup(id->u.str, n);
  } else {
    s->id = ddas_strdup("");
  }
  if(!s->id) {
    ddas_free(s);
    return DDAS_ERR_NOMEM;
  }
  s->root = compile_node(&c, root, "#");
  if(s->root)
    resolve_refs(&c);
  if(c.r) {
    ddas_schema_free(s);
    return c.r;
  }
  *out = s;
  return DDAS_OK;
}

ddas_result ddas_schema_load_file(const char *path,
                                  const ddas_schema_options *opt,
                                  ddas_schema **out, char *errbuf,
                                  size_t errlen) {
  FILE *f;
  char *text = NULL;
  size_t len = 0, cap = 0;
  ddas_json_doc *doc = NULL;
  ddas_json_error jerr;
  ddas_result r;
  *out = NULL;
  f = fopen(path, "rb");
  if(!f) {
    snprintf(errbuf, errlen, "%s: cannot open the schema file", path);
    return DDAS_ERR_IO;
  }
  for(;;) {
    size_t got;
    if(cap - len < 65536) {
      char *t;
      cap = cap ? cap * 2 : 131072;
      t = ddas_realloc(text, cap);
      if(!t) {
        ddas_free(text);
        fclose(f);
        return DDAS_ERR_NOMEM;
      }
      text = t;
    }
    got = fread(text + len, 1, cap - len, f);
    len += got;
    if(got == 0)
      break;
  }
  if(ferror(f)) {
    fclose(f);
    ddas_free(text);
    snprintf(errbuf, errlen, "%s: read error", path);
    return DDAS_ERR_IO;
  }
  fclose(f);
  r = ddas_json_parse(text, len, NULL, &doc, &jerr);
  if(r) {
    snprintf(errbuf, errlen, "%s:%u:%u: the schema is not valid JSON: %s", path,
             jerr.line, jerr.column, jerr.message);
    ddas_free(text);
    return r == DDAS_ERR_NOMEM ? r : DDAS_ERR_SCHEMA;
  }
  {
    char inner[400];
    r = ddas_schema_compile(ddas_json_root(doc), opt, out, inner,
                            sizeof(inner));
    if(r) {
      snprintf(errbuf, errlen, "%s: %s", path, inner);
      ddas_json_doc_free(doc);
      ddas_free(text);
      return r;
    }
  }
  (*out)->owned_doc = doc;
  (*out)->owned_text = text;
  return DDAS_OK;
}

const char *ddas_schema_id(const ddas_schema *s) { return s->id; }

/* ---- validate --------------------------------------------------------- */

#define MAX_PATH 1024
#define MAX_APPLY_DEPTH 512

typedef struct {
  const char *key; /* NULL: an array index */
  size_t len_or_index;
} pseg;

typedef struct {
  ddas_findings *out; /* NULL: quiet mode */
  int nomem;
  unsigned apply_depth;
  size_t depth;
  pseg path[MAX_PATH];
} vctx;

static int apply(vctx *v, const snode *n, const ddas_json *inst);

static void build_pointer(const vctx *v, char *buf, size_t cap) {
  size_t i;
  buf[0] = '\0';
  for(i = 0; i < v->depth; i++) {
    int r =
        v->path[i].key
            ? ddas_json_pointer_push_key(buf, cap, v->path[i].key,
                                         v->path[i].len_or_index)
            : ddas_json_pointer_push_index(buf, cap, v->path[i].len_or_index);
    if(r)
      break; /* truncated; still a prefix of the real location */
  }
}

static void report(vctx *v, const snode *n, const char *kw, const char *fmt,
                   ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void report(vctx *v, const snode *n, const char *kw, const char *fmt,
                   ...) {
  char ptr[2048], sloc[1024], msg[480];
  va_list ap;
  if(!v->out)
    return;
  build_pointer(v, ptr, sizeof(ptr));
  snprintf(sloc, sizeof(sloc), "%s/%s", n->loc, kw);
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if(ddas_findings_add(v->out, DDAS_SEV_ERROR, "schema", kw, ptr, sloc, "%s",
                       msg))
    v->nomem = 1;
}

static int push_key(vctx *v, const char *k, size_t len) {
  if(v->depth >= MAX_PATH)
    return 0;
  v->path[v->depth].key = k;
  v->path[v->depth].len_or_index = len;
  v->depth++;
  return 1;
}

static int push_index(vctx *v, size_t i) {
  if(v->depth >= MAX_PATH)
    return 0;
  v->path[v->depth].key = NULL;
  v->path[v->depth].len_or_index = i;
  v->depth++;
  return 1;
}

/* Renders a schema value (never an instance value) for a message. */
static void render(const ddas_json *j, char *buf, size_t cap) {
  switch(j->type) {
  case DDAS_JSON_NULL: snprintf(buf, cap, "null"); break;
  case DDAS_JSON_TRUE: snprintf(buf, cap, "true"); break;
  case DDAS_JSON_FALSE: snprintf(buf, cap, "false"); break;
  case DDAS_JSON_NUMBER: snprintf(buf, cap, "%.17g", j->u.num); break;
  case DDAS_JSON_STRING:
    snprintf(buf, cap, "\"%.*s\"", (int)(j->n > 80 ? 80 : j->n), j->u.str);
    break;
  case DDAS_JSON_ARRAY: snprintf(buf, cap, "an array"); break;
  case DDAS_JSON_OBJECT: snprintf(buf, cap, "an object"); break;
  }
}

static void fmt_num(double d, char *buf, size_t cap) {
  if(d == floor(d) && fabs(d) < 1e15)
    snprintf(buf, cap, "%.0f", d);
  else
    snprintf(buf, cap, "%.17g", d);
}

static const char *type_list(unsigned t, char *buf, size_t cap) {
  static const struct {
    unsigned bit;
    const char *n;
  } names[] = {{T_OBJECT, "object"},   {T_ARRAY, "array"},
               {T_STRING, "string"},   {T_NUMBER, "number"},
               {T_INTEGER, "integer"}, {T_BOOL, "boolean"},
               {T_NULL, "null"}};
  size_t i, w = 0;
  buf[0] = '\0';
  for(i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if(t & names[i].bit) {
      int k = snprintf(buf + w, cap - w, "%s%s", w ? " or " : "", names[i].n);
      if(k < 0 || (size_t)k >= cap - w)
        break;
      w += (size_t)k;
    }
  }
  return buf;
}

static unsigned inst_type(const ddas_json *j) {
  switch(j->type) {
  case DDAS_JSON_NULL: return T_NULL;
  case DDAS_JSON_TRUE:
  case DDAS_JSON_FALSE: return T_BOOL;
  case DDAS_JSON_NUMBER:
    return (j->flags & DDAS_JSON_F_INTEGRAL) ? (T_NUMBER | T_INTEGER)
                                             : T_NUMBER;
  case DDAS_JSON_STRING: return T_STRING;
  case DDAS_JSON_ARRAY: return T_ARRAY;
  default: return T_OBJECT;
  }
}

static size_t utf8_length(const char *s, size_t n) {
  size_t i, cps = 0;
  for(i = 0; i < n; i++)
    cps += ((unsigned char)s[i] & 0xC0) != 0x80;
  return cps;
}

/* Structural hash consistent with ddas_json_equal (numbers by value, objects
 * regardless of member order). */
static uint64_t value_hash(const ddas_json *j) {
  uint64_t h = 1469598103934665603ull ^ j->type;
  size_t i;
  switch(j->type) {
  case DDAS_JSON_NUMBER: {
    double d = j->u.num == 0 ? 0.0 : j->u.num; /* -0 == 0 */
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    h ^= b;
    h *= 1099511628211ull;
    break;
  }
  case DDAS_JSON_STRING:
    h ^= ddas_fnv1a(j->u.str, j->n);
    h *= 1099511628211ull;
    break;
  case DDAS_JSON_ARRAY:
    for(i = 0; i < j->n; i++) {
      h ^= value_hash(&j->u.items[i]);
      h *= 1099511628211ull;
    }
    break;
  case DDAS_JSON_OBJECT: {
    uint64_t sum = 0;
    for(i = 0; i < j->n; i++)
      sum += (ddas_fnv1a(j->u.members[i].key, j->u.members[i].key_len) *
              0x9E3779B97F4A7C15ull) ^
             value_hash(&j->u.members[i].value);
    h ^= sum;
    h *= 1099511628211ull;
    break;
  }
  default: break;
  }
  return h;
}

typedef struct {
  uint64_t h;
  size_t i;
} hidx;

static int cmp_hidx(const void *a, const void *b) {
  const hidx *x = a, *y = b;
  if(x->h != y->h)
    return x->h < y->h ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* Finds two equal items; returns 1 and sets *a < *b, 0 when unique, -1 on
 * out of memory. O(n log n) by hashing, so a hostile array cannot make it
 * quadratic unless it defeats the hash. */
static int find_equal_items(const ddas_json *arr, size_t *a, size_t *b) {
  size_t i, j, n = arr->n;
  hidx *h;
  if(n < 2)
    return 0;
  if(n <= 8) {
    for(j = 1; j < n; j++)
      for(i = 0; i < j; i++)
        if(ddas_json_equal(&arr->u.items[i], &arr->u.items[j])) {
          *a = i;
          *b = j;
          return 1;
        }
    return 0;
  }
  h = ddas_malloc(n * sizeof(*h));
  if(!h)
    return -1;
  for(i = 0; i < n; i++) {
    h[i].h = value_hash(&arr->u.items[i]);
    h[i].i = i;
  }
  qsort(h, n, sizeof(*h), cmp_hidx);
  for(i = 0; i + 1 < n; i++) {
    for(j = i + 1; j < n && h[j].h == h[i].h; j++) {
      if(ddas_json_equal(&arr->u.items[h[i].i], &arr->u.items[h[j].i])) {
        *a = h[i].i;
        *b = h[j].i;
        ddas_free(h);
        return 1;
      }
    }
  }
  ddas_free(h);
  return 0;
}

/* x is a multiple of m (> 0). The quotient is compared with a relative
 * tolerance, so that 0.3 is a multiple of 0.1 although neither is exact in
 * binary. When x / m overflows (1e308 / 0.5), x is far beyond 2^53 and so an
 * integer, and the exact remainder fmod(x, m) decides: 1e308 is a multiple
 * of 0.5, not of 0.123456789. */
static int is_multiple(double x, double m) {
  double q;
  if(x == floor(x) && m == floor(m) && fabs(x) < 9e15 && m < 9e15)
    return fmod(x, m) == 0;
  q = x / m;
  if(isinf(q))
    return fmod(x, m) == 0;
  if(!isfinite(q))
    return 0;
  return fabs(q - nearbyint(q)) < 1e-9 * (fabs(q) > 1 ? fabs(q) : 1);
}

static const sprop *lookup_prop(const snode *n, const char *k, uint32_t len) {
  uint32_t h, slot;
  if(!n->nprops)
    return NULL;
  h = ddas_fnv1a(k, len);
  slot = h & n->pmask;
  while(n->ptable[slot]) {
    const sprop *p = &n->props[n->ptable[slot] - 1];
    if(p->hash == h && p->len == len && memcmp(p->name, k, len) == 0)
      return p;
    slot = (slot + 1) & n->pmask;
  }
  return NULL;
}

/* Applies a subschema quietly; returns 1 when the instance is valid. */
static int quiet(vctx *v, const snode *n, const ddas_json *inst) {
  ddas_findings *saved = v->out;
  int ok;
  v->out = NULL;
  ok = apply(v, n, inst);
  v->out = saved;
  return ok;
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if(!(cond)) {                                                              \
      valid = 0;                                                               \
      if(!v->out)                                                              \
        goto done;                                                             \
    }                                                                          \
  } while(0)

static int has_member(const ddas_json *obj, const char *k, size_t len) {
  size_t i;
  for(i = 0; i < obj->n; i++)
    if(obj->u.members[i].key_len == len &&
       memcmp(obj->u.members[i].key, k, len) == 0)
      return 1;
  return 0;
}

static int apply_object(vctx *v, const snode *n, const ddas_json *inst) {
  int valid = 1;
  size_t i, j;
  char nb[64];
  if((n->kw & K_MINPROPS) && inst->n < n->min_props) {
    fmt_num(n->min_props, nb, sizeof(nb));
    report(v, n, "minProperties", "must have at least %s members", nb);
    CHECK(0);
  }
  if((n->kw & K_MAXPROPS) && inst->n > n->max_props) {
    fmt_num(n->max_props, nb, sizeof(nb));
    report(v, n, "maxProperties", "must have at most %s members", nb);
    CHECK(0);
  }
  if(n->required) {
    for(i = 0; i < n->required->n; i++) {
      const ddas_json *r = &n->required->u.items[i];
      if(!has_member(inst, r->u.str, r->n)) {
        report(v, n, "required", "required member '%.*s' is missing",
               (int)(r->n > 100 ? 100 : r->n), r->u.str);
        CHECK(0);
      }
    }
  }
  for(i = 0; i < n->ndeps_req; i++) {
    const sdep *d = &n->deps_req[i];
    if(!has_member(inst, d->name, d->len))
      continue;
    for(j = 0; j < d->names->n; j++) {
      const ddas_json *r = &d->names->u.items[j];
      if(!has_member(inst, r->u.str, r->n)) {
        report(v, n, "dependentRequired",
               "member '%.*s' is required when '%.*s' is present",
               (int)(r->n > 100 ? 100 : r->n), r->u.str,
               (int)(d->len > 100 ? 100 : d->len), d->name);
        CHECK(0);
      }
    }
  }
  for(i = 0; i < n->ndeps_sch; i++) {
    const sdep *d = &n->deps_sch[i];
    if(has_member(inst, d->name, d->len))
      CHECK(apply(v, d->schema, inst));
  }
  if(n->property_names) {
    for(i = 0; i < inst->n; i++) {
      ddas_json name;
      memset(&name, 0, sizeof(name));
      name.type = DDAS_JSON_STRING;
      name.u.str = inst->u.members[i].key;
      name.n = inst->u.members[i].key_len;
      if(!quiet(v, n->property_names, &name)) {
        if(push_key(v, inst->u.members[i].key, inst->u.members[i].key_len)) {
          report(v, n, "propertyNames",
                 "this member name does not match the schema for names");
          v->depth--;
        }
        CHECK(0);
      }
    }
  }
  if(n->nprops || n->additional) {
    for(i = 0; i < inst->n; i++) {
      const ddas_json_member *m = &inst->u.members[i];
      const sprop *p = lookup_prop(n, m->key, m->key_len);
      const snode *sub = p ? p->schema : n->additional;
      if(!sub)
        continue;
      if(!push_key(v, m->key, m->key_len)) {
        CHECK(0);
        continue;
      }
      if(!p && sub->boolean == 0) {
        report(v, n, "additionalProperties",
               "member '%.*s' is not allowed here",
               (int)(m->key_len > 100 ? 100 : m->key_len), m->key);
        v->depth--;
        CHECK(0);
        continue;
      }
      {
        int ok = apply(v, sub, &m->value);
        v->depth--;
        CHECK(ok);
      }
    }
  }
done:
  return valid;
}

static int apply_array(vctx *v, const snode *n, const ddas_json *inst) {
  int valid = 1;
  size_t i;
  char nb[64];
  if((n->kw & K_MINITEMS) && inst->n < n->min_items) {
    fmt_num(n->min_items, nb, sizeof(nb));
    report(v, n, "minItems", "must have at least %s item%s", nb,
           n->min_items == 1 ? "" : "s");
    CHECK(0);
  }
  if((n->kw & K_MAXITEMS) && inst->n > n->max_items) {
    fmt_num(n->max_items, nb, sizeof(nb));
    report(v, n, "maxItems", "must have at most %s item%s", nb,
           n->max_items == 1 ? "" : "s");
    CHECK(0);
  }
  if(n->kw & K_UNIQUE) {
    size_t a, b;
    int r = find_equal_items(inst, &a, &b);
    if(r < 0)
      v->nomem = 1;
    if(r > 0) {
      report(v, n, "uniqueItems",
             "items %zu and %zu are equal; all items must be unique", a, b);
      CHECK(0);
    }
  }
  for(i = 0; i < inst->n; i++) {
    const snode *sub = i < n->nprefix ? n->prefix[i] : n->items;
    int ok;
    if(!sub)
      continue;
    if(!push_index(v, i)) {
      CHECK(0);
      continue;
    }
    ok = apply(v, sub, &inst->u.items[i]);
    v->depth--;
    CHECK(ok);
  }
  if(n->contains) {
    size_t matches = 0;
    for(i = 0; i < inst->n; i++)
      matches += (size_t)quiet(v, n->contains, &inst->u.items[i]);
    if(matches < n->min_contains) {
      fmt_num(n->min_contains, nb, sizeof(nb));
      report(v, n, "contains",
             "must contain at least %s item%s matching the schema at %s", nb,
             n->min_contains == 1 ? "" : "s", n->contains->loc);
      CHECK(0);
    }
    if(n->max_contains >= 0 && matches > n->max_contains) {
      fmt_num(n->max_contains, nb, sizeof(nb));
      report(v, n, "maxContains",
             "must contain at most %s item%s matching the schema at %s", nb,
             n->max_contains == 1 ? "" : "s", n->contains->loc);
      CHECK(0);
    }
  }
done:
  return valid;
}

static int apply(vctx *v, const snode *n, const ddas_json *inst) {
  int valid = 1;
  unsigned it;
  char nb[64];
  size_t i;

  if(n->boolean >= 0) {
    if(!n->boolean)
      report(v, n, "false", "no value is allowed here (the schema is false)");
    return n->boolean;
  }
  if(++v->apply_depth > MAX_APPLY_DEPTH) {
    report(v, n, "$ref",
           "schema recursion too deep: the schema refers to itself without "
           "descending into the instance");
    v->apply_depth--;
    return 0;
  }
  it = inst_type(inst);
  if(n->ref)
    CHECK(apply(v, n->ref, inst));
  if(n->kw & K_TYPE) {
    if(!(n->types & it)) {
      char want[96];
      report(v, n, "type", "expected %s, found %s",
             type_list(n->types, want, sizeof(want)),
             ddas_json_type_name(inst));
      CHECK(0);
    }
  }
  if(n->kw & K_ENUM) {
    int found = 0;
    for(i = 0; i < n->enum_vals->n && !found; i++)
      found = ddas_json_equal(inst, &n->enum_vals->u.items[i]);
    if(!found) {
      char list[360];
      size_t w = 0;
      list[0] = '\0';
      for(i = 0; i < n->enum_vals->n; i++) {
        char one[100];
        int k;
        render(&n->enum_vals->u.items[i], one, sizeof(one));
        k = snprintf(list + w, sizeof(list) - w, "%s%s", i ? ", " : "", one);
        if(k < 0 || (size_t)k >= sizeof(list) - w) {
          size_t at = w > sizeof(list) - 6 ? sizeof(list) - 6 : w;
          memcpy(list + at, ", ...", 6);
          break;
        }
        w += (size_t)k;
      }
      report(v, n, "enum", "is not one of the allowed values: %s", list);
      CHECK(0);
    }
  }
  if(n->kw & K_CONST) {
    if(!ddas_json_equal(inst, n->const_val)) {
      char one[100];
      render(n->const_val, one, sizeof(one));
      report(v, n, "const", "must be %s", one);
      CHECK(0);
    }
  }
  switch(inst->type) {
  case DDAS_JSON_STRING:
    if(n->kw & (K_MINLEN | K_MAXLEN)) {
      size_t cps = utf8_length(inst->u.str, inst->n);
      if((n->kw & K_MINLEN) && cps < n->min_len) {
        fmt_num(n->min_len, nb, sizeof(nb));
        report(v, n, "minLength", "must be at least %s characters long", nb);
        CHECK(0);
      }
      if((n->kw & K_MAXLEN) && cps > n->max_len) {
        fmt_num(n->max_len, nb, sizeof(nb));
        report(v, n, "maxLength", "must be at most %s characters long", nb);
        CHECK(0);
      }
    }
    if(n->kw & K_FORMAT) {
      const char *s = inst->u.str;
      size_t len = inst->n;
      switch(n->format) {
      case F_DATE:
        if(!ddas_format_date(s, len)) {
          report(v, n, "format",
                 "is not a valid date (YYYY-MM-DD, a real calendar date)");
          CHECK(0);
        }
        break;
      case F_TIME:
        if(!ddas_format_time(s, len)) {
          report(v, n, "format",
                 "is not a valid time (RFC 3339 HH:MM:SS with an offset "
                 "such as Z or +01:00)");
          CHECK(0);
        }
        break;
      case F_DATETIME:
        if(!ddas_format_date_time(s, len)) {
          report(v, n, "format",
                 "is not a valid date-time (RFC 3339, such as "
                 "2024-12-31T23:59:59Z, with an offset)");
          CHECK(0);
        }
        break;
      case F_EMAIL:
        if(!ddas_format_email(s, len)) {
          report(v, n, "format", "is not a valid email address");
          CHECK(0);
        }
        break;
      default: break;
      }
    }
    break;
  case DDAS_JSON_NUMBER: {
    double x = inst->u.num;
    if((n->kw & K_MIN) && !(x >= n->minimum)) {
      fmt_num(n->minimum, nb, sizeof(nb));
      report(v, n, "minimum", "must be at least %s", nb);
      CHECK(0);
    }
    if((n->kw & K_MAX) && !(x <= n->maximum)) {
      fmt_num(n->maximum, nb, sizeof(nb));
      report(v, n, "maximum", "must be at most %s", nb);
      CHECK(0);
    }
    if((n->kw & K_XMIN) && !(x > n->xminimum)) {
      fmt_num(n->xminimum, nb, sizeof(nb));
      report(v, n, "exclusiveMinimum", "must be greater than %s", nb);
      CHECK(0);
    }
    if((n->kw & K_XMAX) && !(x < n->xmaximum)) {
      fmt_num(n->xmaximum, nb, sizeof(nb));
      report(v, n, "exclusiveMaximum", "must be less than %s", nb);
      CHECK(0);
    }
    if((n->kw & K_MULT) && !is_multiple(x, n->multiple_of)) {
      fmt_num(n->multiple_of, nb, sizeof(nb));
      report(v, n, "multipleOf", "must be a multiple of %s", nb);
      CHECK(0);
    }
    break;
  }
  case DDAS_JSON_OBJECT: CHECK(apply_object(v, n, inst)); break;
  case DDAS_JSON_ARRAY: CHECK(apply_array(v, n, inst)); break;
  default: break;
  }
  for(i = 0; i < n->nall; i++)
    CHECK(apply(v, n->all_of[i], inst));
  if(n->nany) {
    int any = 0;
    for(i = 0; i < n->nany && !any; i++)
      any = quiet(v, n->any_of[i], inst);
    if(!any) {
      report(v, n, "anyOf", "does not match any of the %zu alternatives",
             n->nany);
      CHECK(0);
    }
  }
  if(n->none) {
    size_t matches = 0;
    for(i = 0; i < n->none && matches < 2; i++)
      matches += (size_t)quiet(v, n->one_of[i], inst);
    if(matches != 1) {
      if(matches == 0)
        report(v, n, "oneOf", "does not match any of the %zu alternatives",
               n->none);
      else
        report(v, n, "oneOf",
               "matches more than one of the %zu alternatives; exactly one "
               "is required",
               n->none);
      CHECK(0);
    }
  }
  if(n->not_) {
    if(quiet(v, n->not_, inst)) {
      report(v, n, "not", "must not match the schema at %s", n->not_->loc);
      CHECK(0);
    }
  }
  if(n->if_) {
    if(quiet(v, n->if_, inst)) {
      if(n->then_)
        CHECK(apply(v, n->then_, inst));
    } else if(n->else_) {
      CHECK(apply(v, n->else_, inst));
    }
  }
done:
  v->apply_depth--;
  return valid;
}

static int validate_node(const snode *n, const ddas_json *instance,
                         ddas_findings *findings) {
  vctx *v = ddas_malloc(sizeof(*v));
  int ok;
  if(!v)
    return -1;
  v->out = findings;
  v->nomem = 0;
  v->apply_depth = 0;
  v->depth = 0;
  ok = apply(v, n, instance);
  if(v->nomem)
    ok = -1;
  ddas_free(v);
  return ok;
}

int ddas_schema_validate(const ddas_schema *s, const ddas_json *instance,
                         ddas_findings *findings) {
  return validate_node(s->root, instance, findings);
}

int ddas_schema_validate_at(const ddas_schema *s, const char *location,
                            const ddas_json *instance,
                            ddas_findings *findings) {
  const ddas_json *j;
  const snode *n;
  if(!location || location[0] != '#')
    return -2;
  j = ddas_json_pointer_get(s->root_json, location + 1, strlen(location + 1));
  n = j ? find_node((ddas_schema *)(uintptr_t)s, j) : NULL;
  if(!n)
    return -2;
  return validate_node(n, instance, findings);
}
