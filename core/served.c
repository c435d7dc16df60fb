/* The index of topic.accepted that `serve` answers from (ddas/served.h). */
#include "ddas/served.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/accepted.h"
#include "ddas/alloc.h"
#include "ddas/json.h"

/* Bounds on what one message may make the index allocate: a header claiming
 * batch index 4,000,000,000 must not allocate 4 billion slots. A delivery
 * of 25,000,000 records in the smallest batches (500 records, the worker's
 * default message size) has 50,000; this leaves room for small batches. */
#define MAX_BATCHES 1000000u
#define MAX_RECORDS 1000000000u

typedef struct {
  int present;
  char id[33];
  ddas_served_batch b;
} slot;

typedef struct {
  char *strs[8]; /* owned: the ddas_served_delivery strings, in field order */
  int have_manifest;
  size_t m_nbatches, m_records;
  char (*m_ids)[33];
  size_t *m_recs;
  slot *slots;
  size_t nslots;
  ddas_served_batch *list; /* the complete delivery's batches */
} dl;

struct ddas_served {
  dl *d;
  ddas_served_delivery *pub;
  size_t n, cap;
  size_t *hash; /* open addressing: index + 1, 0 empty */
  size_t hcap;
  size_t ignored, batches;
};

ddas_result ddas_served_new(ddas_served **out) {
  *out = ddas_calloc(1, sizeof(**out));
  return *out ? DDAS_OK : DDAS_ERR_NOMEM;
}

static void dl_clear(dl *d) {
  size_t i;
  for(i = 0; i < 8; i++)
    ddas_free(d->strs[i]);
  ddas_free(d->m_ids);
  ddas_free(d->m_recs);
  ddas_free(d->slots);
  ddas_free(d->list);
}

void ddas_served_free(ddas_served *s) {
  size_t i;
  if(!s)
    return;
  for(i = 0; i < s->n; i++)
    dl_clear(&s->d[i]);
  ddas_free(s->d);
  ddas_free(s->pub);
  ddas_free(s->hash);
  ddas_free(s);
}

static size_t fnv(const char *s) {
  size_t h = (size_t)14695981039346656037ull;
  for(; *s; s++)
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211ull;
  return h;
}

static ddas_result rehash(ddas_served *s) {
  size_t cap = s->hcap ? s->hcap * 2 : 64, i;
  size_t *h = ddas_calloc(cap, sizeof(*h));
  if(!h)
    return DDAS_ERR_NOMEM;
  for(i = 0; i < s->n; i++) {
    size_t k = fnv(s->d[i].strs[0]) & (cap - 1);
    while(h[k])
      k = (k + 1) & (cap - 1);
    h[k] = i + 1;
  }
  ddas_free(s->hash);
  s->hash = h;
  s->hcap = cap;
  return DDAS_OK;
}

/* The delivery `id`, added when new; NULL when memory runs out. */
static dl *find_or_add(ddas_served *s, const char *id, size_t *index) {
  size_t k;
  if(s->hcap) {
    k = fnv(id) & (s->hcap - 1);
    for(; s->hash[k]; k = (k + 1) & (s->hcap - 1))
      if(!strcmp(s->d[s->hash[k] - 1].strs[0], id)) {
        *index = s->hash[k] - 1;
        return &s->d[*index];
      }
  }
  if(s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    dl *nd = ddas_realloc(s->d, cap * sizeof(*nd));
    ddas_served_delivery *np;
    if(!nd)
      return NULL;
    s->d = nd;
    np = ddas_realloc(s->pub, cap * sizeof(*np));
    if(!np)
      return NULL;
    s->pub = np;
    s->cap = cap;
  }
  memset(&s->d[s->n], 0, sizeof(dl));
  memset(&s->pub[s->n], 0, sizeof(ddas_served_delivery));
  if(!(s->d[s->n].strs[0] = ddas_strdup(id)))
    return NULL;
  s->n++;
  if((s->n * 2 > s->hcap && rehash(s)) || !s->hash) {
    dl_clear(&s->d[--s->n]);
    return NULL;
  }
  k = fnv(id) & (s->hcap - 1);
  while(s->hash[k] && s->hash[k] != s->n)
    k = (k + 1) & (s->hcap - 1);
  s->hash[k] = s->n;
  *index = s->n - 1;
  return &s->d[s->n - 1];
}

static const char *header(const ddas_kv *h, size_t n, const char *name) {
  const char *v = NULL;
  size_t i;
  for(i = 0; i < n; i++)
    if(h[i].name && !strcmp(h[i].name, name))
      v = h[i].value; /* the last one, as wk_header */
  return v;
}

static int parse_count(const char *v, size_t max, size_t *out) {
  size_t x = 0;
  if(!v || !*v || (v[0] == '0' && v[1]))
    return -1;
  for(; *v; v++) {
    if(*v < '0' || *v > '9' || x > (max - (size_t)(*v - '0')) / 10)
      return -1;
    x = x * 10 + (size_t)(*v - '0');
  }
  *out = x;
  return 0;
}

static int hex32(const char *v) {
  size_t i;
  if(!v || strlen(v) != 32)
    return 0;
  for(i = 0; i < 32; i++)
    if(!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
      return 0;
  return 1;
}

static ddas_result refuse(ddas_served *s, char *err, size_t errlen,
                          const char *what, const char *name) {
  s->ignored++;
  if(err && errlen)
    snprintf(err, errlen, "%s %s", what, name);
  return DDAS_ERR_ARG;
}

/* The identity headers in ddas_served_delivery's string order after the
 * delivery id. */
static const char *const ident_names[7] = {
    DDAS_H_ORG_NAME,   DDAS_H_ORG_CODE,     DDAS_H_PERIOD_START,
    DDAS_H_PERIOD_END, DDAS_H_DELIVERED_AT, DDAS_H_CODE,
    DDAS_H_KIND};

static ddas_result set_identity(dl *d, const char *const *v) {
  size_t i;
  for(i = 0; i < 7; i++) {
    char *c;
    if(d->strs[i + 1] && !strcmp(d->strs[i + 1], v[i]))
      continue;
    if(!(c = ddas_strdup(v[i])))
      return DDAS_ERR_NOMEM;
    ddas_free(d->strs[i + 1]);
    d->strs[i + 1] = c;
  }
  return DDAS_OK;
}

/* Recomputes whether delivery i is complete and its public view. */
static ddas_result refresh(ddas_served *s, size_t i) {
  dl *d = &s->d[i];
  ddas_served_delivery *p = &s->pub[i];
  size_t k, ok = d->have_manifest;
  for(k = 0; ok && k < d->m_nbatches; k++)
    ok = k < d->nslots && d->slots[k].present &&
         !strcmp(d->slots[k].id, d->m_ids[k]) &&
         d->slots[k].b.records == d->m_recs[k];
  ddas_free(d->list);
  d->list = NULL;
  if(ok && d->m_nbatches) {
    if(!(d->list = ddas_malloc(d->m_nbatches * sizeof(*d->list))))
      return DDAS_ERR_NOMEM;
    for(k = 0; k < d->m_nbatches; k++)
      d->list[k] = d->slots[k].b;
  }
  p->kind = ddas_kind_parse(d->strs[7] ? d->strs[7] : "");
  p->delivery_id = d->strs[0];
  p->org_name = d->strs[1] ? d->strs[1] : "";
  p->org_code = d->strs[2] ? d->strs[2] : "";
  p->period_start = d->strs[3] ? d->strs[3] : "";
  p->period_end = d->strs[4] ? d->strs[4] : "";
  p->delivered_at = d->strs[5] ? d->strs[5] : "";
  p->code = d->strs[6] ? d->strs[6] : "";
  p->records = d->have_manifest ? d->m_records : 0;
  p->nbatches = d->have_manifest ? d->m_nbatches : 0;
  p->complete = (int)ok;
  return DDAS_OK;
}

static ddas_result add_batch(ddas_served *s, dl *d, const ddas_kv *h, size_t n,
                             size_t len, uint64_t locator, char *err,
                             size_t errlen) {
  const char *id = header(h, n, DDAS_H_BATCH_ID);
  size_t index, records;
  slot *sl;
  if(!hex32(id))
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_BATCH_ID);
  if(parse_count(header(h, n, DDAS_H_BATCH_INDEX), MAX_BATCHES - 1, &index))
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_BATCH_INDEX);
  if(parse_count(header(h, n, DDAS_H_RECORDS), MAX_RECORDS, &records))
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_RECORDS);
  if(index >= d->nslots) {
    size_t cap = index + 1 > d->nslots * 2 ? index + 1 : d->nslots * 2;
    slot *ns = ddas_realloc(d->slots, cap * sizeof(*ns));
    if(!ns)
      return DDAS_ERR_NOMEM;
    memset(ns + d->nslots, 0, (cap - d->nslots) * sizeof(*ns));
    d->slots = ns;
    d->nslots = cap;
  }
  sl = &d->slots[index];
  if(!sl->present)
    s->batches++;
  sl->present = 1;
  memcpy(sl->id, id, 33);
  sl->b.locator = locator;
  sl->b.len = len;
  sl->b.records = records;
  return DDAS_OK;
}

static size_t json_count(const ddas_json *v) {
  if(!v || v->type != DDAS_JSON_NUMBER || !(v->flags & DDAS_JSON_F_INTEGRAL) ||
     v->u.num < 0 || v->u.num > MAX_RECORDS)
    return (size_t)-1;
  return (size_t)v->u.num;
}

/* Reads the manifest's "batches" into d (replacing an earlier manifest). */
static ddas_result read_manifest(dl *d, const ddas_json *root, size_t nb,
                                 size_t records, const char **why) {
  const ddas_json *arr = ddas_json_get(root, "batches");
  size_t k, sum = 0;
  char(*ids)[33];
  size_t *recs;
  if(!arr || arr->type != DDAS_JSON_ARRAY || arr->n != nb) {
    *why = "member batches (an array of ddas-batches entries)";
    return DDAS_ERR_ARG;
  }
  ids = ddas_malloc((nb ? nb : 1) * sizeof(*ids));
  recs = ddas_malloc((nb ? nb : 1) * sizeof(*recs));
  if(!ids || !recs) {
    ddas_free(ids);
    ddas_free(recs);
    return DDAS_ERR_NOMEM;
  }
  for(k = 0; k < nb; k++) {
    const ddas_json *e = &arr->u.items[k];
    const ddas_json *id = ddas_json_get(e, "id");
    if(json_count(ddas_json_get(e, "index")) != k || !id ||
       id->type != DDAS_JSON_STRING || id->n != 32 ||
       (recs[k] = json_count(ddas_json_get(e, "records"))) == (size_t)-1) {
      *why = "member batches (entry with index, id and records, in order)";
      break;
    }
    memcpy(ids[k], id->u.str, 32);
    ids[k][32] = 0;
    sum += recs[k];
    if(!hex32(ids[k])) {
      *why = "member batches (id of 32 hex digits)";
      break;
    }
  }
  if(k == nb && sum != records) {
    *why = "member batches (records do not add up to ddas-records)";
    k = nb + 1;
  }
  if(k != nb) {
    ddas_free(ids);
    ddas_free(recs);
    return DDAS_ERR_ARG;
  }
  ddas_free(d->m_ids);
  ddas_free(d->m_recs);
  d->m_ids = ids;
  d->m_recs = recs;
  d->m_nbatches = nb;
  d->m_records = records;
  d->have_manifest = 1;
  return DDAS_OK;
}

static ddas_result add_manifest(ddas_served *s, dl *d, const ddas_kv *h,
                                size_t n, const char *value, size_t len,
                                char *err, size_t errlen) {
  size_t nb, records;
  ddas_json_doc *doc = NULL;
  const char *why = "value (not a JSON object)";
  ddas_result r;
  if(parse_count(header(h, n, DDAS_H_ACC_BATCHES), MAX_BATCHES, &nb))
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_ACC_BATCHES);
  if(parse_count(header(h, n, DDAS_H_RECORDS), MAX_RECORDS, &records))
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_RECORDS);
  if(!value || !len)
    return refuse(s, err, errlen, "manifest without", "value");
  r = ddas_json_parse(value, len, NULL, &doc, NULL);
  if(r == DDAS_ERR_NOMEM)
    return r;
  if(r == DDAS_OK && ddas_json_root(doc)->type == DDAS_JSON_OBJECT)
    r = read_manifest(d, ddas_json_root(doc), nb, records, &why);
  else
    r = DDAS_ERR_ARG;
  ddas_json_doc_free(doc);
  if(r == DDAS_ERR_ARG)
    return refuse(s, err, errlen, "malformed manifest", why);
  return r;
}

ddas_result ddas_served_add(ddas_served *s, const ddas_kv *h, size_t n,
                            const char *value, size_t len, uint64_t locator,
                            char *err, size_t errlen) {
  const char *type = header(h, n, DDAS_H_ACC_TYPE);
  const char *id = header(h, n, DDAS_H_DELIVERY_ID);
  const char *ident[7];
  size_t i, index;
  dl *d;
  ddas_result r;
  if(err && errlen)
    err[0] = 0;
  if(!type || (strcmp(type, DDAS_ACC_TYPE_BATCH) &&
               strcmp(type, DDAS_ACC_TYPE_MANIFEST)))
    return refuse(s, err, errlen, "missing or unknown header", DDAS_H_ACC_TYPE);
  if(!id || !*id || strlen(id) > 256)
    return refuse(s, err, errlen, "missing or malformed header",
                  DDAS_H_DELIVERY_ID);
  for(i = 0; i < 7; i++)
    if(!(ident[i] = header(h, n, ident_names[i])))
      return refuse(s, err, errlen, "missing header", ident_names[i]);
  if(ddas_kind_parse(ident[6]) == DDAS_KIND_UNKNOWN)
    return refuse(s, err, errlen, "unknown kind in header", DDAS_H_KIND);
  if(!(d = find_or_add(s, id, &index)))
    return DDAS_ERR_NOMEM;
  if(!strcmp(type, DDAS_ACC_TYPE_BATCH))
    r = add_batch(s, d, h, n, len, locator, err, errlen);
  else
    r = add_manifest(s, d, h, n, value, len, err, errlen);
  if(r == DDAS_OK && (r = set_identity(d, ident)) == DDAS_OK)
    r = refresh(s, index);
  else if(r == DDAS_ERR_ARG && refresh(s, index) == DDAS_ERR_NOMEM)
    r = DDAS_ERR_NOMEM; /* a new, still empty delivery is shown incomplete */
  return r;
}

const ddas_served_delivery *ddas_served_deliveries(const ddas_served *s,
                                                   size_t *n) {
  *n = s->n;
  return s->pub;
}

const ddas_served_batch *ddas_served_batches(const ddas_served *s, size_t i,
                                             size_t *n) {
  *n = 0;
  if(i >= s->n || !s->pub[i].complete)
    return NULL;
  *n = s->d[i].m_nbatches;
  return s->d[i].list;
}

size_t ddas_served_ignored(const ddas_served *s) { return s->ignored; }
size_t ddas_served_batch_count(const ddas_served *s) { return s->batches; }
