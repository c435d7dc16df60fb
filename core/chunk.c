/* Splitting a delivery into chunks that are DDAS documents themselves (see
 * ddas/chunk.h). */
#include "ddas/chunk.h"

#include <stdint.h>
#include <string.h>

#include "ddas/alloc.h"

#define NONE SIZE_MAX

/* What a chunkable document looks like: its root object, the index of the
 * `leveringen` member, and the record list's name. */
typedef struct {
  const char *in;
  const ddas_json *root;
  const ddas_json *levs;
  size_t levs_member;
  const char *list;
  int vs;
} shape;

static size_t member_index(const ddas_json *obj, const char *name) {
  size_t i, n = strlen(name);
  for(i = 0; i < obj->n; i++) {
    const ddas_json_member *m = &obj->u.members[i];
    if(m->key_len == n && memcmp(m->key, name, n) == 0)
      return i;
  }
  return NONE;
}

/* The record list of a levering: its member index (NONE when absent) and
 * the number of records. */
static size_t list_of(const shape *s, const ddas_json *lev, size_t *nrec) {
  size_t i = member_index(lev, s->list);
  *nrec = i == NONE ? 0 : lev->u.members[i].value.n;
  return i;
}

/* 1 when the document has the envelope of a chunkable document (an object
 * with a non-empty `leveringen` array); fills *s. */
static int envelope_of(const ddas_json_doc *doc, ddas_kind kind, shape *s) {
  memset(s, 0, sizeof(*s));
  s->in = ddas_json_input(doc);
  s->root = ddas_json_root(doc);
  if(kind != DDAS_KIND_SHV && kind != DDAS_KIND_VS)
    return 0;
  s->vs = kind == DDAS_KIND_VS;
  s->list = s->vs ? "vroegsignalen" : "schuldhulptrajecten";
  if(s->root->type != DDAS_JSON_OBJECT)
    return 0;
  s->levs_member = member_index(s->root, "leveringen");
  if(s->levs_member == NONE)
    return 0;
  s->levs = &s->root->u.members[s->levs_member].value;
  return s->levs->type == DDAS_JSON_ARRAY && s->levs->n > 0;
}

/* 1 when leveringen [from, to] are objects whose record list, if any, is an
 * array. */
static int leveringen_ok(const shape *s, size_t from, size_t to) {
  size_t l, li, n;
  for(l = from; l <= to; l++) {
    const ddas_json *lev = &s->levs->u.items[l];
    if(lev->type != DDAS_JSON_OBJECT)
      return 0;
    li = list_of(s, lev, &n);
    if(li != NONE && lev->u.members[li].value.type != DDAS_JSON_ARRAY)
      return 0;
  }
  return 1;
}

/* The raw bytes of member i's name, quotes included. Only whitespace and
 * ':' lie between the name and the value; the name starts at the nearest
 * quote before that which is not escaped (preceded by an even number of
 * backslashes): inside a JSON string every quote is escaped. */
static void raw_key(const char *in, const ddas_json *obj, size_t i,
                    size_t *from, size_t *to) {
  size_t p = obj->u.members[i].value.start, k;
  while(in[p - 1] != '"')
    p--;
  *to = p;
  p -= 2; /* at the byte before the closing quote */
  for(;;) {
    while(in[p] != '"')
      p--;
    for(k = 0; in[p - 1 - k] == '\\'; k++)
      ;
    if(k % 2 == 0)
      break;
    p--;
  }
  *from = p;
}

/* ---- sizes ------------------------------------------------------------ */

static size_t span_len(const ddas_json *v) { return v->end - v->start; }

static size_t key_len(const char *in, const ddas_json *obj, size_t i) {
  size_t from, to;
  raw_key(in, obj, i, &from, &to);
  return to - from;
}

/* Bytes of an object written member by member, with member `skip` left
 * out of the sum (its name and ':' are counted, its value is not). */
static size_t object_len(const char *in, const ddas_json *obj, size_t skip) {
  size_t i, n = 2 + (obj->n ? obj->n - 1 : 0);
  for(i = 0; i < obj->n; i++)
    n += key_len(in, obj, i) + 1 +
         (i == skip ? 0 : span_len(&obj->u.members[i].value));
  return n;
}

/* Bytes of items [from, to) of an array, with separating commas. */
static size_t items_len(const ddas_json *arr, size_t from, size_t to) {
  size_t j, n = to > from ? to - from - 1 : 0;
  for(j = from; j < to; j++)
    n += span_len(&arr->u.items[j]);
  return n;
}

/* ---- writing ---------------------------------------------------------- */

/* Counts when p is NULL, else copies. */
typedef struct {
  char *p;
  size_t len;
} emit;

static void put(emit *e, const char *s, size_t n) {
  if(e->p)
    memcpy(e->p + e->len, s, n);
  e->len += n;
}

static void put_key(emit *e, const char *in, const ddas_json *obj, size_t i) {
  size_t from, to;
  raw_key(in, obj, i, &from, &to);
  put(e, in + from, to - from);
  put(e, ":", 1);
}

static void put_value(emit *e, const char *in, const ddas_json *v) {
  put(e, in + v->start, span_len(v));
}

/* Levering `lev` with records [r0, r1) of its list. */
static void put_levering(emit *e, const shape *s, const ddas_json *lev,
                         size_t r0, size_t r1) {
  size_t i, j, nrec, li = list_of(s, lev, &nrec);
  put(e, "{", 1);
  for(i = 0; i < lev->n; i++) {
    const ddas_json *v = &lev->u.members[i].value;
    if(i)
      put(e, ",", 1);
    put_key(e, s->in, lev, i);
    if(i != li) {
      put_value(e, s->in, v);
      continue;
    }
    put(e, "[", 1);
    for(j = r0; j < r1; j++) {
      if(j > r0)
        put(e, ",", 1);
      put_value(e, s->in, &v->u.items[j]);
    }
    put(e, "]", 1);
  }
  put(e, "}", 1);
}

static void put_chunk(emit *e, const shape *s, const ddas_chunk_span *sp) {
  const ddas_json *root = s->root;
  size_t i, l, nrec;
  put(e, "{", 1);
  for(i = 0; i < root->n; i++) {
    if(i)
      put(e, ",", 1);
    put_key(e, s->in, root, i);
    if(i != s->levs_member) {
      put_value(e, s->in, &root->u.members[i].value);
      continue;
    }
    put(e, "[", 1);
    for(l = sp->lev_from; l <= sp->lev_to; l++) {
      const ddas_json *lev = &s->levs->u.items[l];
      list_of(s, lev, &nrec);
      if(l > sp->lev_from)
        put(e, ",", 1);
      put_levering(e, s, lev, l == sp->lev_from ? sp->rec_from : 0,
                   l == sp->lev_to ? sp->rec_to : nrec);
    }
    put(e, "]", 1);
  }
  put(e, "}", 1);
}

/* ---- planning --------------------------------------------------------- */

typedef struct {
  ddas_chunk_span *v;
  size_t n, cap;
  size_t max;
  size_t env; /* bytes of a chunk without leveringen */
  ddas_chunk_span cur;
  size_t units;    /* units in cur; 0 = no chunk open */
  size_t nlev;     /* leveringen in cur */
  size_t lev_recs; /* records of the last levering in cur */
} planner;

static ddas_result close_chunk(planner *p) {
  if(!p->units)
    return DDAS_OK;
  if(p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    ddas_chunk_span *v = ddas_realloc(p->v, cap * sizeof(*v));
    if(!v)
      return DDAS_ERR_NOMEM;
    p->v = v;
    p->cap = cap;
  }
  p->v[p->n++] = p->cur;
  p->units = 0;
  return DDAS_OK;
}

/* Adds a unit: `head` bytes when it opens levering l in the chunk (its
 * members but the records, the comma before it included when needed),
 * `body` bytes of records (commas between them included), `nrec` records
 * from rec to rec + nrec. A record joining a levering already in the chunk
 * costs its bytes plus a comma. */
static ddas_result add_unit(planner *p, size_t l, size_t rec, size_t nrec,
                            size_t head, size_t body) {
  ddas_result r;
  size_t add;
  int joins = p->units && p->cur.lev_to == l && p->lev_recs > 0;
  add = joins ? body + 1 : (p->nlev ? 1 : 0) + head + body;
  if(p->units && p->cur.bytes + add > p->max) {
    r = close_chunk(p);
    if(r)
      return r;
    joins = 0;
  }
  if(!p->units) {
    memset(&p->cur, 0, sizeof(p->cur));
    p->cur.lev_from = l;
    p->cur.rec_from = rec;
    p->cur.bytes = p->env;
    p->nlev = 0;
    add = head + body;
  }
  if(!joins) {
    p->nlev++;
    p->lev_recs = 0;
  }
  p->cur.bytes += add;
  p->cur.lev_to = l;
  p->cur.rec_to = rec + nrec;
  p->cur.records += nrec;
  p->lev_recs += nrec;
  p->units++;
  return DDAS_OK;
}

static ddas_result plan_levering(planner *p, const shape *s, size_t l) {
  const ddas_json *lev = &s->levs->u.items[l];
  size_t j, nrec, li = list_of(s, lev, &nrec);
  const ddas_json *list = li == NONE ? NULL : &lev->u.members[li].value;
  /* the levering without records: members, list name and "[]" */
  size_t head = object_len(s->in, lev, li) + (li == NONE ? 0 : 2);
  ddas_result r;
  if(s->vs || nrec == 0)
    return add_unit(p, l, 0, nrec, head, list ? items_len(list, 0, nrec) : 0);
  for(j = 0; j < nrec; j++) {
    r = add_unit(p, l, j, 1, head, span_len(&list->u.items[j]));
    if(r)
      return r;
  }
  return DDAS_OK;
}

ddas_result ddas_chunk_plan(const ddas_json_doc *doc, ddas_kind kind,
                            size_t max_bytes, ddas_chunk_span **spans,
                            size_t *nspans) {
  ddas_result result = DDAS_OK;
  planner p;
  shape s;
  size_t l;
  if(spans)
    *spans = NULL;
  if(nspans)
    *nspans = 0;
  if(!doc || !spans || !nspans || !max_bytes)
    return DDAS_ERR_ARG;
  memset(&p, 0, sizeof(p));
  p.max = max_bytes;
  if(!envelope_of(doc, kind, &s) || !leveringen_ok(&s, 0, s.levs->n - 1)) {
    p.units = 1;
    p.cur.as_is = 1;
    p.cur.bytes = span_len(ddas_json_root(doc));
    result = close_chunk(&p);
    goto out;
  }
  /* the envelope with "leveringen":[] */
  p.env = object_len(s.in, s.root, s.levs_member) + 2;
  for(l = 0; l < s.levs->n && !result; l++)
    result = plan_levering(&p, &s, l);
  if(!result)
    result = close_chunk(&p);
out:
  if(result) {
    ddas_free(p.v);
    return result;
  }
  *spans = p.v;
  *nspans = p.n;
  return DDAS_OK;
}

/* 1 when the span lies within the document, its leveringen have the shape
 * of a chunkable document, and it keeps VS leveringen whole. */
static int span_fits(const shape *s, const ddas_chunk_span *sp) {
  size_t nfrom, nto;
  if(sp->lev_from > sp->lev_to || sp->lev_to >= s->levs->n ||
     !leveringen_ok(s, sp->lev_from, sp->lev_to))
    return 0;
  list_of(s, &s->levs->u.items[sp->lev_from], &nfrom);
  list_of(s, &s->levs->u.items[sp->lev_to], &nto);
  if(sp->rec_from > nfrom || sp->rec_to > nto)
    return 0;
  if(sp->lev_from == sp->lev_to && sp->rec_from > sp->rec_to)
    return 0;
  if(s->vs && (sp->rec_from != 0 || sp->rec_to != nto))
    return 0;
  return 1;
}

ddas_result ddas_chunk_write(const ddas_json_doc *doc, ddas_kind kind,
                             const ddas_chunk_span *span, char **out,
                             size_t *len) {
  shape s;
  emit e;
  if(out)
    *out = NULL;
  if(len)
    *len = 0;
  if(!doc || !span || !out || !len)
    return DDAS_ERR_ARG;
  memset(&e, 0, sizeof(e));
  if(span->as_is) {
    const ddas_json *root = ddas_json_root(doc);
    e.p = ddas_malloc(span_len(root) + 1);
    if(!e.p)
      return DDAS_ERR_NOMEM;
    put_value(&e, ddas_json_input(doc), root);
  } else {
    if(!envelope_of(doc, kind, &s) || !span_fits(&s, span))
      return DDAS_ERR_ARG;
    put_chunk(&e, &s, span); /* counts */
    e.p = ddas_malloc(e.len + 1);
    if(!e.p)
      return DDAS_ERR_NOMEM;
    e.len = 0;
    put_chunk(&e, &s, span);
  }
  e.p[e.len] = '\0';
  *out = e.p;
  *len = e.len;
  return DDAS_OK;
}
