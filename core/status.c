/* Delivery status per organisation, period and kind (see ddas/status.h).
 *
 * Events are reduced to two tables keyed by string: deliveries (by delivery
 * id: the chosen receipt and the latest event time) and batches (by batch
 * id: forwarded, replayed, parked, and the delivery). Rows are made only in
 * ddas_status_table_build, so events may come in any order (a batch before
 * its delivery's receipt, as the worker publishes them). Receipt bodies are
 * read with jansson, which checks UTF-8, so every string kept is valid
 * UTF-8. */
#include "ddas/status.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/format.h"
#include "hash.h"

/* ---- identity ----------------------------------------------------------- */

/* Copies the string value v into buf, cut at a UTF-8 boundary. */
static void copy_str(char *buf, size_t cap, const ddas_json *v) {
  size_t n;
  buf[0] = '\0';
  if(!v || v->type != DDAS_JSON_STRING)
    return;
  n = v->n < cap - 1 ? v->n : cap - 1;
  while(n < v->n && n > 0 && ((unsigned char)v->u.str[n] & 0xC0) == 0x80)
    n--; /* the cut falls inside a character: drop all of it */
  memcpy(buf, v->u.str, n);
  buf[n] = '\0';
}

static const ddas_json *first_of(const ddas_json *o, const char *a,
                                 const char *b) {
  const ddas_json *v = o ? ddas_json_get(o, a) : NULL;
  if(v && v->type == DDAS_JSON_STRING && v->n)
    return v;
  v = o && b ? ddas_json_get(o, b) : NULL;
  return v && v->type == DDAS_JSON_STRING && v->n ? v : NULL;
}

void ddas_delivery_identity_get(const ddas_json *root,
                                ddas_delivery_identity *out) {
  const ddas_json *levs, *lev = NULL, *org = NULL, *code;
  memset(out, 0, sizeof(*out));
  if(!root || root->type != DDAS_JSON_OBJECT)
    return;
  copy_str(out->period_start, sizeof(out->period_start),
           ddas_json_get(root, "startdatumLevering"));
  copy_str(out->period_end, sizeof(out->period_end),
           ddas_json_get(root, "einddatumLevering"));
  levs = ddas_json_get(root, "leveringen");
  if(levs && levs->type == DDAS_JSON_ARRAY && levs->n &&
     levs->u.items[0].type == DDAS_JSON_OBJECT)
    lev = &levs->u.items[0];
  if(lev)
    org = ddas_json_get(lev, "aanleverende_organisatie");
  if(org && org->type != DDAS_JSON_OBJECT)
    org = NULL;
  copy_str(out->org_name, sizeof(out->org_name),
           first_of(org, "(Statutaire) Naam", "naam"));
  code = first_of(org, "KvK-nummer", "kvk-nummer");
  if(!code)
    code = first_of(lev, "gemeentecode", NULL);
  if(!code)
    code = first_of(org, "gemeentecode", NULL);
  copy_str(out->org_code, sizeof(out->org_code), code);
}

/* ---- string-keyed index ------------------------------------------------- */

/* Open addressing over records whose first member is their `char *id`;
 * a slot holds the record's index + 1, 0 when empty. */
typedef struct {
  size_t *slot;
  size_t cap; /* a power of two, or 0 */
} strix;

static const char *key_at(const void *base, size_t stride, size_t i) {
  return *(char *const *)(const void *)((const char *)base + i * stride);
}

static size_t *ix_slot(const strix *ix, const void *base, size_t stride,
                       const char *key) {
  size_t i = ddas_fnv1a(key, strlen(key)) & (ix->cap - 1);
  while(ix->slot[i] && strcmp(key_at(base, stride, ix->slot[i] - 1), key))
    i = (i + 1) & (ix->cap - 1);
  return &ix->slot[i];
}

/* Makes room for record n (n records are indexed). */
static ddas_result ix_reserve(strix *ix, const void *base, size_t stride,
                              size_t n) {
  strix big;
  size_t i;
  if((n + 1) * 2 <= ix->cap)
    return DDAS_OK;
  big.cap = ix->cap ? ix->cap * 2 : 256;
  big.slot = ddas_calloc(big.cap, sizeof(*big.slot));
  if(!big.slot)
    return DDAS_ERR_NOMEM;
  for(i = 0; i < n; i++)
    *ix_slot(&big, base, stride, key_at(base, stride, i)) = i + 1;
  ddas_free(ix->slot);
  *ix = big;
  return DDAS_OK;
}

/* ---- the aggregation ----------------------------------------------------- */

typedef struct {
  char *id; /* first member: the index key */
  int has_receipt, incomplete;
  char *receipt_time;
  char *org_name, *org_code, *period_start, *period_end;
  ddas_kind kind;
  size_t records, accepted, rejected, warned;
  ddas_status_rule *rules;
  size_t nrules;
  char *last_time; /* latest ce_time of any of its events */
} dlv;

typedef struct {
  char *id; /* first member: the index key */
  size_t dlv;
  int forwarded, replayed, parked;
} bat;

struct ddas_status {
  char *period_start, *period_end, *organisation, *since, *period;
  dlv *d;
  size_t nd, capd;
  strix dix;
  bat *b;
  size_t nb, capb;
  strix bix;
  size_t events, ignored, skipped;
};

/* The reason of a failure into err (which may be NULL). */
#define fail(err, errlen, ...)                                                 \
  ((err) && (errlen) ? (void)snprintf((err), (errlen), __VA_ARGS__) : (void)0)

ddas_result ddas_status_new(const ddas_status_filter *f, ddas_status **out,
                            char *err, size_t errlen) {
  ddas_status *s;
  const char *slash;
  *out = NULL;
  if(f && f->period) {
    slash = strchr(f->period, '/');
    if(!slash || !ddas_format_date(f->period, (size_t)(slash - f->period)) ||
       !ddas_format_date(slash + 1, strlen(slash + 1))) {
      fail(err, errlen,
           "--period '%s' is not a reporting period: write the first and "
           "last day as YYYY-MM-DD/YYYY-MM-DD, e.g. 2026-01-01/2026-12-31",
           f->period);
      return DDAS_ERR_ARG;
    }
  }
  /* UTC only: ce_time is UTC, and the times are compared as text */
  if(f && f->since &&
     (!ddas_format_date_time(f->since, strlen(f->since)) ||
      f->since[strlen(f->since) - 1] != 'Z')) {
    fail(err, errlen,
         "--since '%s' is not an RFC 3339 date-time in UTC: write e.g. "
         "2026-11-29T00:00:00Z",
         f->since);
    return DDAS_ERR_ARG;
  }
  s = ddas_calloc(1, sizeof(*s));
  if(!s)
    return DDAS_ERR_NOMEM;
  if(f && f->period) {
    slash = strchr(f->period, '/');
    s->period = ddas_strdup(f->period);
    s->period_start = ddas_strndup(f->period, (size_t)(slash - f->period));
    s->period_end = ddas_strdup(slash + 1);
  }
  if(f && f->organisation)
    s->organisation = ddas_strdup(f->organisation);
  if(f && f->since)
    s->since = ddas_strdup(f->since);
  if((f && f->period && (!s->period || !s->period_start || !s->period_end)) ||
     (f && f->organisation && !s->organisation) ||
     (f && f->since && !s->since)) {
    ddas_status_free(s);
    return DDAS_ERR_NOMEM;
  }
  *out = s;
  return DDAS_OK;
}

static void free_rules(ddas_status_rule *r, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    ddas_free(r[i].rule);
  ddas_free(r);
}

static void dlv_clear_receipt(dlv *d) {
  ddas_free(d->receipt_time);
  ddas_free(d->org_name);
  ddas_free(d->org_code);
  ddas_free(d->period_start);
  ddas_free(d->period_end);
  free_rules(d->rules, d->nrules);
  d->receipt_time = d->org_name = d->org_code = NULL;
  d->period_start = d->period_end = NULL;
  d->rules = NULL;
  d->nrules = 0;
}

void ddas_status_free(ddas_status *s) {
  size_t i;
  if(!s)
    return;
  for(i = 0; i < s->nd; i++) {
    dlv_clear_receipt(&s->d[i]);
    ddas_free(s->d[i].id);
    ddas_free(s->d[i].last_time);
  }
  for(i = 0; i < s->nb; i++)
    ddas_free(s->b[i].id);
  ddas_free(s->d);
  ddas_free(s->b);
  ddas_free(s->dix.slot);
  ddas_free(s->bix.slot);
  ddas_free(s->period);
  ddas_free(s->period_start);
  ddas_free(s->period_end);
  ddas_free(s->organisation);
  ddas_free(s->since);
  ddas_free(s);
}

/* Grows *arr (of n records of `stride` bytes, room for *cap) by one zeroed
 * record. */
static ddas_result grow(void **arr, size_t *cap, size_t n, size_t stride) {
  void *x;
  size_t c;
  if(n < *cap)
    return DDAS_OK;
  c = *cap ? *cap * 2 : 64;
  x = ddas_realloc(*arr, c * stride);
  if(!x)
    return DDAS_ERR_NOMEM;
  memset((char *)x + n * stride, 0, (c - n) * stride);
  *arr = x;
  *cap = c;
  return DDAS_OK;
}

/* The delivery called id, made when new; NULL when out of memory. */
static dlv *delivery(ddas_status *s, const char *id) {
  size_t *slot;
  if(ix_reserve(&s->dix, s->d, sizeof(*s->d), s->nd) ||
     grow((void **)&s->d, &s->capd, s->nd, sizeof(*s->d)))
    return NULL;
  slot = ix_slot(&s->dix, s->d, sizeof(*s->d), id);
  if(*slot)
    return &s->d[*slot - 1];
  if(!(s->d[s->nd].id = ddas_strdup(id)))
    return NULL;
  *slot = ++s->nd;
  return &s->d[s->nd - 1];
}

static bat *batch(ddas_status *s, const char *id, size_t d) {
  size_t *slot;
  if(ix_reserve(&s->bix, s->b, sizeof(*s->b), s->nb) ||
     grow((void **)&s->b, &s->capb, s->nb, sizeof(*s->b)))
    return NULL;
  slot = ix_slot(&s->bix, s->b, sizeof(*s->b), id);
  if(*slot)
    return &s->b[*slot - 1];
  if(!(s->b[s->nb].id = ddas_strdup(id)))
    return NULL;
  s->b[s->nb].dlv = d;
  *slot = ++s->nb;
  return &s->b[s->nb - 1];
}

/* Keeps the later of d->last_time and t. */
static ddas_result touch(dlv *d, const char *t) {
  char *c;
  if(d->last_time && strcmp(d->last_time, t) >= 0)
    return DDAS_OK;
  if(!(c = ddas_strdup(t)))
    return DDAS_ERR_NOMEM;
  ddas_free(d->last_time);
  d->last_time = c;
  return DDAS_OK;
}

/* ---- reading receipts -----------------------------------------------------
 */

typedef struct {
  int incomplete;
  const char *org_name, *org_code, *period_start, *period_end;
  ddas_kind kind;
  size_t n[4]; /* records, accepted, rejected, warned */
  json_t *rules;
} receipt;

static const char *const count_names[4] = {"records", "accepted", "rejected",
                                           "warned"};

static int get_count(json_t *o, const char *name, size_t *v) {
  json_t *x = json_object_get(o, name);
  if(!json_is_integer(x) || json_integer_value(x) < 0)
    return -1;
  *v = (size_t)json_integer_value(x);
  return 0;
}

/* A string member, or NULL when absent or null; *bad when another type. */
static const char *opt_str(json_t *o, const char *name, int *bad) {
  json_t *x = json_object_get(o, name);
  if(json_is_string(x))
    return json_string_value(x);
  if(x && !json_is_null(x))
    *bad = 1;
  return NULL;
}

/* Reads a processed or incomplete receipt body into *r (borrowing from j). */
static ddas_result read_receipt(json_t *j, receipt *r, char *err,
                                size_t errlen) {
  json_t *org, *per;
  const char *st;
  int bad = 0;
  size_t i;
  memset(r, 0, sizeof(*r));
  st = json_string_value(json_object_get(j, "status"));
  if(!st || (strcmp(st, "processed") && strcmp(st, "incomplete"))) {
    fail(err, errlen,
         "receipt: member %s is not \"processed\" or "
         "\"incomplete\"",
         "status");
    return DDAS_ERR_ARG;
  }
  r->incomplete = !strcmp(st, "incomplete");
  for(i = 0; i < 4; i++)
    if(get_count(j, count_names[i], &r->n[i])) {
      fail(err, errlen, "receipt: member %s is not a count (an integer >= 0)",
           count_names[i]);
      return DDAS_ERR_ARG;
    }
  r->kind = ddas_kind_parse(opt_str(j, "kind", &bad));
  org = json_object_get(j, "organisation");
  per = json_object_get(j, "period");
  if((org && !json_is_object(org) && !json_is_null(org)) ||
     (per && !json_is_object(per) && !json_is_null(per)))
    bad = 1;
  r->org_name = opt_str(org, "name", &bad);
  r->org_code = opt_str(org, "code", &bad);
  r->period_start = opt_str(per, "start", &bad);
  r->period_end = opt_str(per, "end", &bad);
  r->rules = json_object_get(j, "rejected_by_rule");
  if(r->rules && !json_is_object(r->rules))
    bad = 1;
  if(bad) {
    fail(err, errlen, "receipt: %s",
         "kind, organisation, period or rejected_by_rule has the wrong type");
    return DDAS_ERR_ARG;
  }
  return DDAS_OK;
}

/* Whether receipt r at time t replaces d's: the later one wins; at the
 * same time a processed one over an incomplete one, then the larger
 * counts, so that the choice never depends on arrival order. */
static int later(const dlv *d, const receipt *r, const char *t) {
  int c;
  size_t old[4];
  size_t i;
  if(!d->has_receipt)
    return 1;
  if((c = strcmp(t, d->receipt_time)))
    return c > 0;
  if(r->incomplete != d->incomplete)
    return !r->incomplete;
  old[0] = d->records;
  old[1] = d->accepted;
  old[2] = d->rejected;
  old[3] = d->warned;
  for(i = 0; i < 4; i++)
    if(r->n[i] != old[i])
      return r->n[i] > old[i];
  return 0;
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  return src && !(*dst = ddas_strdup(src)) ? -1 : 0;
}

static ddas_result copy_receipt(dlv *d, const receipt *r, const char *t) {
  const char *rule;
  json_t *v;
  size_t n = 0;
  dlv_clear_receipt(d);
  d->has_receipt = 1;
  d->incomplete = r->incomplete;
  d->kind = r->kind;
  d->records = r->n[0];
  d->accepted = r->n[1];
  d->rejected = r->n[2];
  d->warned = r->n[3];
  if(dup_opt(&d->receipt_time, t) || dup_opt(&d->org_name, r->org_name) ||
     dup_opt(&d->org_code, r->org_code) ||
     dup_opt(&d->period_start, r->period_start) ||
     dup_opt(&d->period_end, r->period_end))
    return DDAS_ERR_NOMEM;
  if(r->rules && json_object_size(r->rules) &&
     !(d->rules = ddas_calloc(json_object_size(r->rules), sizeof(*d->rules))))
    return DDAS_ERR_NOMEM;
  json_object_foreach(r->rules, rule, v) {
    if(!json_is_integer(v) || json_integer_value(v) <= 0)
      continue;
    if(!(d->rules[n].rule = ddas_strdup(rule)))
      return DDAS_ERR_NOMEM;
    d->rules[n++].count = (size_t)json_integer_value(v);
    d->nrules = n;
  }
  return DDAS_OK;
}

/* Makes r (at time t) d's receipt. Out of memory: d has no receipt (never
 * half of one, whose NULL time the comparisons could not take). */
static ddas_result take_receipt(dlv *d, const receipt *r, const char *t) {
  ddas_result res = copy_receipt(d, r, t);
  if(res) {
    dlv_clear_receipt(d);
    d->has_receipt = 0;
  }
  return res;
}

static const char *header(const ddas_kv *h, size_t n, const char *name) {
  size_t i;
  for(i = 0; i < n; i++)
    if(h[i].name && h[i].value && !strcmp(h[i].name, name))
      return h[i].value;
  return NULL;
}

/* A receipt (processed, incomplete) or forwarded body. */
static ddas_result add_body(ddas_status *s, dlv *d, size_t di, int forwarded,
                            const void *body, size_t len, const char *t,
                            char *err, size_t errlen) {
  json_t *j = json_loadb(body ? body : "", len, 0, NULL);
  ddas_result r = DDAS_ERR_ARG;
  if(!json_is_object(j)) {
    fail(err, errlen, "%s: the value is not a JSON object",
         forwarded ? "forwarded receipt" : "receipt");
  } else if(forwarded) {
    const char *id = json_string_value(json_object_get(j, "batch_id"));
    bat *b;
    if(!id || !*id)
      fail(err, errlen, "forwarded receipt: member %s is not a string",
           "batch_id");
    else if(!(b = batch(s, id, di)))
      r = DDAS_ERR_NOMEM;
    else {
      b->forwarded = 1;
      b->replayed |= json_is_true(json_object_get(j, "replayed"));
      r = DDAS_OK;
    }
  } else {
    receipt rc;
    if(!(r = read_receipt(j, &rc, err, errlen)) && later(d, &rc, t))
      r = take_receipt(d, &rc, t);
  }
  json_decref(j);
  return r;
}

ddas_result ddas_status_add(ddas_status *s, const ddas_kv *h, size_t nh,
                            const void *body, size_t len, char *err,
                            size_t errlen) {
  const char *type = header(h, nh, DDAS_H_TYPE);
  const char *t = header(h, nh, DDAS_H_TIME);
  const char *id = header(h, nh, DDAS_H_DELIVERY_ID);
  const char *bid = header(h, nh, DDAS_H_BATCH_ID);
  int rej, fwd, parked, rcpt;
  ddas_result r;
  dlv *d;
  size_t di;
  if(err && errlen)
    err[0] = '\0';
  rej = type && !strcmp(type, DDAS_CE_REJECTED);
  fwd = type && !strcmp(type, DDAS_CE_FORWARDED);
  parked = type && !strcmp(type, DDAS_CE_PARKED);
  rcpt = type && (!strcmp(type, DDAS_CE_PROCESSED) ||
                  !strcmp(type, DDAS_CE_INCOMPLETE));
  if(!rej && !fwd && !parked && !rcpt) {
    s->ignored++;
    return DDAS_OK;
  }
  if(!t || !ddas_format_date_time(t, strlen(t)) || !id || !*id ||
     (parked && (!bid || !*bid))) {
    s->skipped++;
    fail(err, errlen,
         "%s event without a valid ce_time, ddas-delivery-id or "
         "(parked) ddas-batch-id header: skipped",
         type);
    return DDAS_ERR_ARG;
  }
  if(s->since && strcmp(t, s->since) < 0) {
    s->ignored++;
    return DDAS_OK;
  }
  if(!(d = delivery(s, id)))
    return DDAS_ERR_NOMEM;
  di = (size_t)(d - s->d);
  if(parked) {
    bat *b = batch(s, bid, di);
    if(!b)
      return DDAS_ERR_NOMEM;
    b->parked = 1;
    r = DDAS_OK;
  } else if(rej)
    r = DDAS_OK;
  else
    r = add_body(s, d, di, fwd, body, len, t, err, errlen);
  if(r == DDAS_ERR_ARG)
    s->skipped++;
  if(r)
    return r;
  s->events++;
  return touch(&s->d[di], t);
}

const char *ddas_status_state_name(ddas_status_state st) {
  switch(st) {
  case DDAS_STATE_COMPLETE: return "complete";
  case DDAS_STATE_REJECTIONS: return "rejections";
  case DDAS_STATE_PARKED: return "parked batches";
  case DDAS_STATE_INCOMPLETE: return "incomplete";
  case DDAS_STATE_IN_PROGRESS: return "in progress";
  }
  return "in progress";
}

/* ---- building the table ---------------------------------------------------
 */

static int cmp_opt(const char *a, const char *b) {
  if(!a || !b)
    return (a == NULL) - (b == NULL); /* unknown last */
  return strcmp(a, b);
}

/* Row order; deliveries without receipt (no row key) last. */
static int cmp_key(const dlv *x, const dlv *y) {
  int c;
  if(x->has_receipt != y->has_receipt)
    return y->has_receipt - x->has_receipt;
  if(!x->has_receipt)
    return 0;
  if((c = cmp_opt(x->org_name, y->org_name)) ||
     (c = cmp_opt(x->org_code, y->org_code)) ||
     (c = cmp_opt(x->period_start, y->period_start)) ||
     (c = cmp_opt(x->period_end, y->period_end)))
    return c;
  return (int)x->kind - (int)y->kind;
}

static int cmp_dlv(const void *a, const void *b) {
  const dlv *x = *(const dlv *const *)a, *y = *(const dlv *const *)b;
  int c = cmp_key(x, y);
  return c ? c : strcmp(x->id, y->id);
}

static int cmp_rule(const void *a, const void *b) {
  const ddas_status_rule *x = a, *y = b;
  if(x->count != y->count)
    return x->count < y->count ? 1 : -1;
  return strcmp(x->rule, y->rule);
}

/* Rule counts gathered for one row (or the totals). */
typedef struct {
  ddas_status_rule *r;
  size_t n, cap;
} rulesum;

static ddas_result rulesum_add(rulesum *rs, const ddas_status_rule *r,
                               size_t n) {
  size_t i, k;
  for(i = 0; i < n; i++) {
    for(k = 0; k < rs->n && strcmp(rs->r[k].rule, r[i].rule); k++)
      ;
    if(k == rs->n) {
      if(grow((void **)&rs->r, &rs->cap, rs->n, sizeof(*rs->r)))
        return DDAS_ERR_NOMEM;
      rs->r[rs->n].rule = r[i].rule; /* borrowed */
      rs->n++;
    }
    rs->r[k].count += r[i].count;
  }
  return DDAS_OK;
}

/* Moves the top rules of rs into row (copies of the names); empties rs. */
static ddas_result rulesum_top(rulesum *rs, ddas_status_row *row) {
  size_t i;
  if(rs->n > 1)
    qsort(rs->r, rs->n, sizeof(*rs->r), cmp_rule);
  for(i = 0; i < rs->n && i < DDAS_STATUS_TOP_RULES; i++) {
    if(!(row->top_rules[i].rule = ddas_strdup(rs->r[i].rule)))
      return DDAS_ERR_NOMEM;
    row->top_rules[i].count = rs->r[i].count;
    row->ntop_rules = i + 1;
  }
  rs->n = 0;
  return DDAS_OK;
}

static int keep(const ddas_status *s, const dlv *d) {
  if(!d->has_receipt)
    return 1; /* in progress: kept by every filter (see status.h) */
  if(s->period_start &&
     (cmp_opt(d->period_start, s->period_start) || !d->period_end ||
      strcmp(d->period_end, s->period_end)))
    return 0;
  if(s->organisation &&
     (!d->org_name || strcmp(d->org_name, s->organisation)) &&
     (!d->org_code || strcmp(d->org_code, s->organisation)))
    return 0;
  return 1;
}

static ddas_result set_later(char **dst, const char *t) {
  if(!t || (*dst && strcmp(*dst, t) >= 0))
    return DDAS_OK;
  ddas_free(*dst);
  return (*dst = ddas_strdup(t)) ? DDAS_OK : DDAS_ERR_NOMEM;
}

/* Adds delivery d to row w. *latest is the row's latest receipted delivery
 * so far (NULL at first). */
static ddas_result row_add(ddas_status_row *w, const dlv *d,
                           const dlv **latest) {
  if(!w->deliveries && !w->in_progress && d->has_receipt &&
     (dup_opt(&w->org_name, d->org_name) ||
      dup_opt(&w->org_code, d->org_code) ||
      dup_opt(&w->period_start, d->period_start) ||
      dup_opt(&w->period_end, d->period_end)))
    return DDAS_ERR_NOMEM;
  if(!d->has_receipt) {
    w->in_progress++;
    return set_later(&w->last_outcome, d->last_time);
  }
  w->kind = d->kind;
  w->deliveries++;
  w->records += d->records;
  w->accepted += d->accepted;
  w->rejected += d->rejected;
  w->warned += d->warned;
  w->incomplete += (size_t)d->incomplete;
  if(!*latest || strcmp(d->receipt_time, (*latest)->receipt_time) > 0 ||
     (!strcmp(d->receipt_time, (*latest)->receipt_time) &&
      strcmp(d->id, (*latest)->id) > 0))
    *latest = d;
  return set_later(&w->last_outcome, d->last_time);
}

static void row_state(ddas_status_row *w, const dlv *latest) {
  if(w->in_progress)
    w->state = DDAS_STATE_IN_PROGRESS;
  else if(latest && latest->incomplete)
    w->state = DDAS_STATE_INCOMPLETE;
  else if(w->batches_parked)
    w->state = DDAS_STATE_PARKED;
  else if(latest && latest->rejected)
    w->state = DDAS_STATE_REJECTIONS;
  else
    w->state = DDAS_STATE_COMPLETE;
}

static void row_clear(ddas_status_row *w) {
  size_t i;
  ddas_free(w->org_name);
  ddas_free(w->org_code);
  ddas_free(w->period_start);
  ddas_free(w->period_end);
  ddas_free(w->latest_delivery_id);
  ddas_free(w->last_outcome);
  for(i = 0; i < w->ntop_rules; i++)
    ddas_free(w->top_rules[i].rule);
}

void ddas_status_table_clear(ddas_status_table *t) {
  size_t i;
  if(!t)
    return;
  for(i = 0; i < t->nrows; i++)
    row_clear(&t->rows[i]);
  ddas_free(t->rows);
  row_clear(&t->total);
  ddas_free(t->period);
  ddas_free(t->organisation);
  ddas_free(t->since);
  memset(t, 0, sizeof(*t));
}

static void total_add(ddas_status_row *tot, const ddas_status_row *w) {
  tot->deliveries += w->deliveries;
  tot->records += w->records;
  tot->accepted += w->accepted;
  tot->rejected += w->rejected;
  tot->warned += w->warned;
  tot->batches_forwarded += w->batches_forwarded;
  tot->batches_parked += w->batches_parked;
  tot->batches_replayed += w->batches_replayed;
  tot->incomplete += w->incomplete;
  tot->in_progress += w->in_progress;
  if(w->state > tot->state)
    tot->state = w->state;
}

/* Counts the batches of each delivery into its row (row_of[delivery], or
 * SIZE_MAX when the delivery's row was filtered out). */
static void count_batches(const ddas_status *s, const size_t *row_of,
                          ddas_status_row *rows) {
  size_t i;
  for(i = 0; i < s->nb; i++) {
    const bat *b = &s->b[i];
    ddas_status_row *w;
    if(row_of[b->dlv] == SIZE_MAX)
      continue;
    w = &rows[row_of[b->dlv]];
    if(b->forwarded) {
      w->batches_forwarded++;
      w->batches_replayed += (size_t)b->replayed;
    } else if(b->parked)
      w->batches_parked++;
  }
}

/* Walks the deliveries in row order (ord) and fills t->rows; row_of maps a
 * delivery to its row. latest[r] is row r's latest delivery. */
static ddas_result make_rows(const ddas_status *s, const dlv *const *ord,
                             size_t *row_of, const dlv **latest,
                             ddas_status_table *t, rulesum *rs, rulesum *all) {
  const dlv *prev = NULL; /* the last delivery kept */
  size_t i;
  ddas_result r;
  for(i = 0; i < s->nd; i++) {
    const dlv *d = ord[i];
    if(!keep(s, d)) {
      row_of[d - s->d] = SIZE_MAX;
      continue;
    }
    if(!prev || cmp_key(prev, d)) {
      if(prev && (r = rulesum_top(rs, &t->rows[t->nrows - 1])))
        return r;
      t->nrows++;
    }
    prev = d;
    row_of[d - s->d] = t->nrows - 1;
    if((r = row_add(&t->rows[t->nrows - 1], d, &latest[t->nrows - 1])) ||
       (r = rulesum_add(rs, d->rules, d->nrules)) ||
       (r = rulesum_add(all, d->rules, d->nrules)))
      return r;
  }
  return t->nrows ? rulesum_top(rs, &t->rows[t->nrows - 1]) : DDAS_OK;
}

static ddas_result finish_rows(const ddas_status *s, size_t *row_of,
                               const dlv **latest, ddas_status_table *t) {
  size_t i;
  count_batches(s, row_of, t->rows);
  for(i = 0; i < t->nrows; i++) {
    ddas_status_row *w = &t->rows[i];
    if(latest[i] && !(w->latest_delivery_id = ddas_strdup(latest[i]->id)))
      return DDAS_ERR_NOMEM;
    row_state(w, latest[i]);
    t->complete += w->state == DDAS_STATE_COMPLETE;
    total_add(&t->total, w);
    if(set_later(&t->total.last_outcome, w->last_outcome))
      return DDAS_ERR_NOMEM;
  }
  if((s->period && !(t->period = ddas_strdup(s->period))) ||
     (s->organisation && !(t->organisation = ddas_strdup(s->organisation))) ||
     (s->since && !(t->since = ddas_strdup(s->since))))
    return DDAS_ERR_NOMEM;
  return DDAS_OK;
}

ddas_result ddas_status_table_build(const ddas_status *s,
                                    ddas_status_table *t) {
  const dlv **ord = NULL, **latest = NULL;
  size_t *row_of = NULL, i;
  rulesum rs = {NULL, 0, 0}, all = {NULL, 0, 0};
  ddas_result r = DDAS_ERR_NOMEM;
  memset(t, 0, sizeof(*t));
  t->events = s->events;
  t->ignored = s->ignored;
  t->skipped = s->skipped;
  if(s->nd && (!(ord = ddas_malloc(s->nd * sizeof(*ord))) ||
               !(row_of = ddas_malloc(s->nd * sizeof(*row_of))) ||
               !(latest = ddas_calloc(s->nd, sizeof(*latest))) ||
               !(t->rows = ddas_calloc(s->nd, sizeof(*t->rows)))))
    goto out;
  for(i = 0; i < s->nd; i++)
    ord[i] = &s->d[i];
  if(s->nd > 1)
    qsort(ord, s->nd, sizeof(*ord), cmp_dlv);
  if((r = make_rows(s, ord, row_of, latest, t, &rs, &all)) ||
     (r = finish_rows(s, row_of, latest, t)) ||
     (r = rulesum_top(&all, &t->total)))
    goto out;
out:
  ddas_free(ord);
  ddas_free(row_of);
  ddas_free(latest);
  ddas_free(rs.r);
  ddas_free(all.r);
  if(r)
    ddas_status_table_clear(t);
  return r;
}

int ddas_status_all_complete(const ddas_status_table *t) {
  return t->nrows > 0 && t->complete == t->nrows;
}

/* ---- JSON ------------------------------------------------------------------
 */

static json_t *jopt(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *jn(size_t v) { return json_integer((json_int_t)v); }

/* Sets o[k] = v (taking v); -1 when v is NULL or out of memory. */
static int set(json_t *o, const char *k, json_t *v) {
  return v ? json_object_set_new(o, k, v) : -1;
}

/* The members a row and the totals share. */
static int row_counts(json_t *o, const ddas_status_row *w) {
  json_t *rules = json_array(), *b = json_object();
  size_t i;
  int bad =
      set(o, "state", json_string(ddas_status_state_name(w->state))) |
      set(o, "deliveries", jn(w->deliveries)) |
      set(o, "latest_delivery_id", jopt(w->latest_delivery_id)) |
      set(o, "records", jn(w->records)) | set(o, "accepted", jn(w->accepted)) |
      set(o, "rejected", jn(w->rejected)) | set(o, "warned", jn(w->warned)) |
      set(o, "top_rejection_rules", rules) | set(o, "batches", b) |
      set(b, "forwarded", jn(w->batches_forwarded)) |
      set(b, "parked", jn(w->batches_parked)) |
      set(b, "replayed", jn(w->batches_replayed)) |
      set(o, "incomplete_deliveries", jn(w->incomplete)) |
      set(o, "in_progress_deliveries", jn(w->in_progress)) |
      set(o, "last_outcome", jopt(w->last_outcome));
  for(i = 0; rules && i < w->ntop_rules; i++) {
    json_t *r = json_object();
    bad |= json_array_append_new(rules, r) |
           set(r, "rule", json_string(w->top_rules[i].rule)) |
           set(r, "count", jn(w->top_rules[i].count));
  }
  return bad ? -1 : 0;
}

static json_t *pair(const char *k1, const char *v1, const char *k2,
                    const char *v2) {
  json_t *o;
  if(!v1 && !v2)
    return json_null();
  o = json_object();
  if(o && (set(o, k1, jopt(v1)) | set(o, k2, jopt(v2)))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *table_json(const ddas_status_table *t) {
  json_t *root = json_object(), *rows = json_array(), *f = json_object(),
         *tot = json_object(), *ev = json_object();
  size_t i;
  int bad = !root || set(root, "schema_version", json_string("1")) |
                         set(root, "filter", f) | set(root, "rows", rows) |
                         set(root, "totals", tot) | set(root, "events", ev);
  bad |= !f || set(f, "period", jopt(t->period)) |
                   set(f, "organisation", jopt(t->organisation)) |
                   set(f, "since", jopt(t->since));
  for(i = 0; !bad && i < t->nrows; i++) {
    const ddas_status_row *w = &t->rows[i];
    json_t *o = json_object();
    bad |=
        json_array_append_new(rows, o) |
        set(o, "organisation", pair("name", w->org_name, "code", w->org_code)) |
        set(o, "period", pair("start", w->period_start, "end", w->period_end)) |
        set(o, "kind",
            w->kind == DDAS_KIND_UNKNOWN
                ? json_null()
                : json_string(ddas_kind_name(w->kind))) |
        (o ? row_counts(o, w) : -1);
  }
  bad |= !tot || set(tot, "rows", jn(t->nrows)) |
                     set(tot, "complete_rows", jn(t->complete)) |
                     row_counts(tot, &t->total);
  bad |= !ev || set(ev, "counted", jn(t->events)) |
                    set(ev, "ignored", jn(t->ignored)) |
                    set(ev, "skipped", jn(t->skipped));
  if(bad) {
    json_decref(root);
    return NULL;
  }
  return root;
}

int ddas_status_json(FILE *out, const ddas_status_table *t) {
  json_t *j = table_json(t);
  int r = j ? json_dumpf(j, out, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : -1;
  json_decref(j);
  return r || fputc('\n', out) == EOF ? -1 : 0;
}
