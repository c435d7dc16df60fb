/* Finding lists (see ddas/findings.h). */
#include "ddas/findings.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/text.h"

const char *ddas_scope_name(ddas_scope s) {
  switch(s) {
  case DDAS_SCOPE_DOCUMENT: return "document";
  case DDAS_SCOPE_LEVERING: return "levering";
  case DDAS_SCOPE_RECORD: return "traject";
  }
  return "document";
}

/* The deepest enclosing scope of a pointer: a record of a record list
 * (schuldhulptrajecten, vroegsignalen), else a levering, else the document. */
static ddas_scope scope_of(const char *pointer) {
  long lev, rec;
  const char *list;
  size_t n;
  ddas_finding_location(pointer, &lev, &rec, &list, &n);
  if(rec >= 0 && ((n == 19 && memcmp(list, "schuldhulptrajecten", 19) == 0) ||
                  (n == 13 && memcmp(list, "vroegsignalen", 13) == 0)))
    return DDAS_SCOPE_RECORD;
  return lev >= 0 ? DDAS_SCOPE_LEVERING : DDAS_SCOPE_DOCUMENT;
}

void ddas_findings_init(ddas_findings *f, size_t limit) {
  memset(f, 0, sizeof(*f));
  f->limit = limit;
}

void ddas_findings_clear(ddas_findings *f) {
  size_t i;
  for(i = 0; i < f->count; i++) {
    ddas_free(f->items[i].pointer);
    ddas_free(f->items[i].schema_pointer);
    ddas_free(f->items[i].message);
  }
  ddas_free(f->items);
  f->items = NULL;
  f->count = f->cap = 0;
  f->dropped = f->errors = f->warnings = 0;
}

static ddas_result add_v(ddas_findings *f, ddas_severity sev, int scope,
                         const char *rule, const char *keyword,
                         const char *pointer, const char *schema_pointer,
                         const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 8, 0)))
#endif
    ;

static ddas_result add_v(ddas_findings *f, ddas_severity sev, int scope,
                         const char *rule, const char *keyword,
                         const char *pointer, const char *schema_pointer,
                         const char *fmt, va_list ap) {
  ddas_finding *it, tmp;
  char msg[512];

  if(!pointer)
    pointer = "";
  vsnprintf(msg, sizeof(msg), fmt, ap);
  /* messages may quote member names cut at a byte limit, and vsnprintf may
   * cut the whole message; reports must stay valid UTF-8 (JSON requires
   * it) */
  ddas_utf8_sanitize(msg);
  memset(&tmp, 0, sizeof(tmp));
  tmp.severity = sev;
  tmp.scope = scope >= 0 ? (ddas_scope)scope : scope_of(pointer);
  tmp.rule = rule;
  tmp.keyword = keyword;
  tmp.pointer = (char *)(uintptr_t)pointer; /* borrowed for the callback */
  tmp.schema_pointer = (char *)(uintptr_t)schema_pointer;
  tmp.message = msg;
  if(sev == DDAS_SEV_ERROR)
    f->errors++;
  else
    f->warnings++;
  if(f->on_add)
    f->on_add(f->on_add_ctx, &tmp);
  if(f->limit && f->count >= f->limit) {
    f->dropped++;
    return DDAS_OK;
  }
  if(f->count == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    ddas_finding *n = ddas_realloc(f->items, cap * sizeof(*n));
    if(!n)
      return DDAS_ERR_NOMEM;
    f->items = n;
    f->cap = cap;
  }
  it = &f->items[f->count];
  *it = tmp;
  it->pointer = ddas_strdup(pointer);
  it->schema_pointer = schema_pointer ? ddas_strdup(schema_pointer) : NULL;
  it->message = ddas_strdup(msg);
  if(!it->pointer || !it->message || (schema_pointer && !it->schema_pointer)) {
    ddas_free(it->pointer);
    ddas_free(it->schema_pointer);
    ddas_free(it->message);
    return DDAS_ERR_NOMEM;
  }
  f->count++;
  return DDAS_OK;
}

ddas_result ddas_findings_add(ddas_findings *f, ddas_severity sev,
                              const char *rule, const char *keyword,
                              const char *pointer, const char *schema_pointer,
                              const char *fmt, ...) {
  va_list ap;
  ddas_result r;
  va_start(ap, fmt);
  r = add_v(f, sev, -1, rule, keyword, pointer, schema_pointer, fmt, ap);
  va_end(ap);
  return r;
}

ddas_result ddas_findings_add_scoped(ddas_findings *f, ddas_severity sev,
                                     ddas_scope scope, const char *rule,
                                     const char *pointer, const char *fmt,
                                     ...) {
  va_list ap;
  ddas_result r;
  va_start(ap, fmt);
  r = add_v(f, sev, (int)scope, rule, NULL, pointer, NULL, fmt, ap);
  va_end(ap);
  return r;
}

/* Compares pointers token by token; tokens that are both decimal numbers
 * compare numerically so /leveringen/10 sorts after /leveringen/9. */
static int cmp_pointer(const char *a, const char *b) {
  while(*a && *b) {
    const char *ea = strchr(a + 1, '/'), *eb = strchr(b + 1, '/');
    size_t la, lb, i;
    int na = 1, nb = 1, c;
    if(!ea)
      ea = a + strlen(a);
    if(!eb)
      eb = b + strlen(b);
    la = (size_t)(ea - a);
    lb = (size_t)(eb - b);
    for(i = 1; i < la; i++)
      na &= a[i] >= '0' && a[i] <= '9';
    for(i = 1; i < lb; i++)
      nb &= b[i] >= '0' && b[i] <= '9';
    if(na && nb && la > 1 && lb > 1 && la != lb)
      return la < lb ? -1 : 1;
    c = strncmp(a, b, la < lb ? la : lb);
    if(c)
      return c;
    if(la != lb)
      return la < lb ? -1 : 1;
    a = ea;
    b = eb;
  }
  return (*a != 0) - (*b != 0);
}

/* Stable merge sort of the indexes 0..n-1 into order[] by `before`
 * (before(ctx, a, b): index a goes strictly before index b). O(n log n):
 * stored findings are capped, but the cap may be large. -1 when out of
 * memory. */
static int stable_order(size_t n, int (*before)(const void *, size_t, size_t),
                        const void *ctx, size_t *order) {
  size_t width, i, *tmp;
  for(i = 0; i < n; i++)
    order[i] = i;
  if(n < 2)
    return 0;
  tmp = ddas_malloc(n * sizeof(*tmp));
  if(!tmp)
    return -1;
  for(width = 1; width < n; width *= 2) {
    for(i = 0; i < n; i += 2 * width) {
      size_t lo = i, mid = i + width < n ? i + width : n;
      size_t hi = i + 2 * width < n ? i + 2 * width : n;
      size_t l = lo, r = mid, k = lo;
      while(l < mid && r < hi)
        tmp[k++] = before(ctx, order[r], order[l]) ? order[r++] : order[l++];
      while(l < mid)
        tmp[k++] = order[l++];
      while(r < hi)
        tmp[k++] = order[r++];
    }
    memcpy(order, tmp, n * sizeof(*order));
  }
  ddas_free(tmp);
  return 0;
}

/* Puts f's findings in the order stable_order() gives; unchanged when out
 * of memory (the order is cosmetic, the findings complete). */
static void reorder(ddas_findings *f,
                    int (*before)(const void *, size_t, size_t),
                    const void *ctx) {
  size_t n = f->count, i, *order;
  ddas_finding *sorted;
  if(n < 2)
    return;
  order = ddas_malloc(n * sizeof(*order));
  sorted = ddas_malloc(n * sizeof(*sorted));
  if(order && sorted && stable_order(n, before, ctx, order) == 0) {
    for(i = 0; i < n; i++)
      sorted[i] = f->items[order[i]];
    memcpy(f->items, sorted, n * sizeof(*sorted));
  }
  ddas_free(order);
  ddas_free(sorted);
}

static int pointer_before(const void *ctx, size_t a, size_t b) {
  const ddas_finding *it = ctx;
  return cmp_pointer(it[a].pointer, it[b].pointer) < 0;
}

void ddas_findings_sort(ddas_findings *f) {
  reorder(f, pointer_before, f->items);
}

/* The byte offset in the input where finding f points: its own offset for
 * json.syntax, else the value its pointer leads to or, for a member that
 * is missing (required, or removed by N1), the deepest value that exists. */
static size_t document_offset(const ddas_finding *f, const ddas_json *root) {
  const char *p = f->pointer;
  size_t len;
  if(f->line || !root)
    return f->offset;
  len = strlen(p);
  for(;;) {
    const ddas_json *v = ddas_json_pointer_get(root, p, len);
    if(v)
      return v->start;
    while(len && p[len - 1] != '/')
      len--;
    if(!len)
      return root->start;
    len--; /* drop the '/' */
  }
}

typedef struct {
  const size_t *key;
} by_key;

static int key_before(const void *ctx, size_t a, size_t b) {
  const by_key *k = ctx;
  return k->key[a] < k->key[b];
}

void ddas_findings_sort_document(ddas_findings *f, const ddas_json *root) {
  size_t i, *keys;
  by_key k;
  if(f->count < 2)
    return;
  keys = ddas_malloc(f->count * sizeof(*keys));
  if(!keys)
    return; /* unsorted but complete */
  for(i = 0; i < f->count; i++)
    keys[i] = document_offset(&f->items[i], root);
  k.key = keys;
  reorder(f, key_before, &k);
  ddas_free(keys);
}

/* Group of a finding: its levering and record index, -1 for none (so the
 * document's own come first, then a levering's own before its records). */
static void group_of(const ddas_finding *f, long *lev, long *rec) {
  const char *list;
  size_t ll;
  ddas_finding_location(f->pointer, lev, rec, &list, &ll);
}

static int group_before(const void *ctx, size_t a, size_t b) {
  const ddas_finding *it = ctx;
  long la, ra, lb, rb;
  group_of(&it[a], &la, &ra);
  group_of(&it[b], &lb, &rb);
  if(la != lb)
    return la < lb;
  return ra < rb;
}

ddas_result ddas_findings_group_order(const ddas_findings *f, size_t **order) {
  *order = ddas_malloc((f->count ? f->count : 1) * sizeof(**order));
  if(!*order)
    return DDAS_ERR_NOMEM;
  if(stable_order(f->count, group_before, f->items, *order)) {
    ddas_free(*order);
    *order = NULL;
    return DDAS_ERR_NOMEM;
  }
  return DDAS_OK;
}

static long parse_index(const char *s, const char **end) {
  long v = 0;
  const char *p = s;
  if(*p < '0' || *p > '9')
    return -1;
  while(*p >= '0' && *p <= '9') {
    if(v > 100000000L)
      return -1;
    v = v * 10 + (*p++ - '0');
  }
  if(*p && *p != '/')
    return -1;
  *end = p;
  return v;
}

void ddas_finding_location(const char *pointer, long *levering, long *record,
                           const char **list, size_t *list_len) {
  static const char pre[] = "/leveringen/";
  const char *p, *e;
  *levering = *record = -1;
  *list = NULL;
  *list_len = 0;
  if(strncmp(pointer, pre, sizeof(pre) - 1) != 0)
    return;
  p = pointer + sizeof(pre) - 1;
  *levering = parse_index(p, &e);
  if(*levering < 0 || *e != '/')
    return;
  p = e + 1;
  e = strchr(p, '/');
  if(!e)
    return;
  {
    const char *q;
    long r = parse_index(e + 1, &q);
    if(r < 0)
      return;
    *list = p;
    *list_len = (size_t)(e - p);
    *record = r;
  }
}
