/* The pure core of POST /gegevens (see ddas/gegevens.h). */
#include "ddas/gegevens.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/batch.h"
#include "ddas/format.h"
#include "ddas/json.h"
#include "ddas/text.h"
#include "wbuf.h"

/* ---- problems ----------------------------------------------------------- */

static void problem(ddas_problem *p, int status, const char *slug,
                    const char *title, const char *pointer, const char *fmt,
                    ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

static void problem(ddas_problem *p, int status, const char *slug,
                    const char *title, const char *pointer, const char *fmt,
                    ...) {
  va_list ap;
  memset(p, 0, sizeof(*p));
  p->status = status;
  snprintf(p->type, sizeof(p->type), "%s%s", DDAS_PROBLEM_BASE, slug);
  snprintf(p->title, sizeof(p->title), "%s", title);
  if(strlen(pointer) < sizeof(p->pointer))
    memcpy(p->pointer, pointer, strlen(pointer) + 1);
  va_start(ap, fmt);
  vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
  va_end(ap);
  ddas_utf8_sanitize(p->detail); /* a cut through a member name */
}

void ddas_gegevens_no_data(ddas_problem *prob) {
  problem(prob, 404, "no-data", "Geen gegevens", "",
          "no complete delivery matches the requested period and "
          "organisation: check aanleverperiodeStartdatum, "
          "aanleverperiodeEinddatum and aanleverende_organisatie, or leave "
          "them out to ask for everything");
}

/* Text from anywhere (the caller's instance, a detail) as a JSON string
 * that is always valid JSON text. */
static void w_text(wbuf *w, const char *s) { w_str_x(w, s, strlen(s), 1); }

static void w_int(wbuf *w, long long v) {
  char b[32];
  int n = snprintf(b, sizeof(b), "%lld", v);
  w_raw(w, b, (size_t)n);
}

/* Starts a body for the caller: *out NULL and *len 0 until hand_over; -1
 * when either is NULL. */
static int body_start(wbuf *w, char **out, size_t *len) {
  memset(w, 0, sizeof(*w));
  w->heap = 1;
  if(out)
    *out = NULL;
  if(len)
    *len = 0;
  return out && len ? 0 : -1;
}

/* Hands w's bytes, NUL-terminated, to the caller. */
static ddas_result hand_over(wbuf *w, char **out, size_t *len) {
  w_raw(w, "", 1);
  if(w->nomem) {
    w_free(w);
    return DDAS_ERR_NOMEM;
  }
  *out = w->p;
  *len = w->len - 1;
  return DDAS_OK;
}

ddas_result ddas_problem_json(const ddas_problem *p, const char *instance,
                              char **out, size_t *len) {
  wbuf w;
  if(body_start(&w, out, len) || !p)
    return DDAS_ERR_ARG;
  w_lit(&w, "{\"type\":");
  w_text(&w, p->type);
  w_lit(&w, ",\"title\":");
  w_text(&w, p->title);
  w_lit(&w, ",\"status\":");
  w_int(&w, p->status);
  w_lit(&w, ",\"detail\":");
  w_text(&w, p->detail);
  if(instance) {
    w_lit(&w, ",\"instance\":");
    w_text(&w, instance);
  }
  if(p->pointer[0]) {
    w_lit(&w, ",\"pointer\":");
    w_text(&w, p->pointer);
  }
  w_lit(&w, "}");
  return hand_over(&w, out, len);
}

ddas_result ddas_fsc_error_json(const char *code, int status, const char *title,
                                const char *detail, char **out, size_t *len) {
  wbuf w;
  if(body_start(&w, out, len) || !code)
    return DDAS_ERR_ARG;
  w_lit(&w, "{\"code\":");
  w_text(&w, code);
  w_lit(&w, ",\"domain\":\"ERROR_DOMAIN_INWAY\"");
  if(title) {
    w_lit(&w, ",\"title\":");
    w_text(&w, title);
  }
  if(detail) {
    w_lit(&w, ",\"detail\":");
    w_text(&w, detail);
  }
  w_lit(&w, ",\"status\":");
  w_int(&w, status);
  w_lit(&w, "}");
  return hand_over(&w, out, len);
}

/* ---- 1. the request ----------------------------------------------------- */

size_t ddas_gegevens_max_page_size(ddas_kind kind) {
  return kind == DDAS_KIND_SHV  ? DDAS_BATCH_MAX_TRAJECTEN
         : kind == DDAS_KIND_VS ? DDAS_BATCH_MAX_VROEGSIGNALEN
                                : 0;
}

static const char *const request_members[] = {
    "aanleverperiodeStartdatum", "aanleverperiodeEinddatum",
    "aanleverende_organisatie", "page", "pageSize"};
#define NMEMBERS (sizeof(request_members) / sizeof(request_members[0]))

/* The member's name for a detail: at most 60 bytes, cut at a character
 * boundary, control characters as '?'. */
static void name_of(const ddas_json_member *m, char *buf, size_t cap) {
  size_t i, n = m->key_len < cap - 1 ? m->key_len : cap - 1;
  if(n > 60)
    n = 60;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)m->key[i];
    buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  buf[n] = '\0';
  ddas_utf8_sanitize(buf);
}

static void unknown_member(const ddas_json_member *m, ddas_problem *prob) {
  char name[64], ptr[sizeof(prob->pointer)] = "", hint[64] = "";
  size_t i, best = 4;
  name_of(m, name, sizeof(name));
  if(ddas_json_pointer_push_key(ptr, sizeof(ptr), m->key, m->key_len))
    ptr[0] = '\0'; /* too long for a pointer: the detail names it */
  for(i = 0; i < NMEMBERS; i++) {
    size_t d = ddas_edit_distance(name, request_members[i]);
    if(d < best) {
      best = d;
      snprintf(hint, sizeof(hint), " (did you mean %s?)", request_members[i]);
    }
  }
  problem(prob, 400, "unknown-member", "Onbekend veld", ptr,
          "unknown member \"%s\"%s: a request may hold only "
          "aanleverperiodeStartdatum, aanleverperiodeEinddatum, "
          "aanleverende_organisatie, page and pageSize",
          name, hint);
}

/* A date member into out[11]; 0, or -1 with *prob filled. */
static int get_date(const ddas_json *v, const char *name, char *out,
                    ddas_problem *prob) {
  char ptr[64];
  snprintf(ptr, sizeof(ptr), "/%s", name);
  if(v->type != DDAS_JSON_STRING || v->n != 10 ||
     !ddas_format_date(v->u.str, v->n)) {
    problem(prob, 400, "invalid-date", "Ongeldige datum", ptr,
            "%s must be a string with a date YYYY-MM-DD that exists in the "
            "calendar, such as \"2025-01-01\"",
            name);
    return -1;
  }
  memcpy(out, v->u.str, 10);
  out[10] = '\0';
  return 0;
}

static int get_organisation(const ddas_json *v, ddas_gegevens_request *out,
                            ddas_problem *prob) {
  size_t i;
  int ok = v->type == DDAS_JSON_STRING && v->n >= 1 &&
           v->n < sizeof(out->organisation);
  for(i = 0; ok && i < v->n; i++)
    ok = (unsigned char)v->u.str[i] >= 0x20;
  if(!ok) {
    problem(prob, 400, "invalid-organisation", "Ongeldige organisatie",
            "/aanleverende_organisatie",
            "aanleverende_organisatie must be a string of 1 to 255 bytes "
            "without control characters: the organisation's name or its "
            "KvK number or gemeentecode");
    return -1;
  }
  memcpy(out->organisation, v->u.str, v->n);
  out->organisation[v->n] = '\0';
  out->has_organisation = 1;
  return 0;
}

/* page or pageSize: an integer 1..max; 0, or -1 with *prob filled. */
static int get_count(const ddas_json *v, const char *name, size_t max,
                     size_t *out, ddas_problem *prob) {
  char ptr[16];
  snprintf(ptr, sizeof(ptr), "/%s", name);
  if(v->type != DDAS_JSON_NUMBER || !(v->flags & DDAS_JSON_F_INTEGRAL) ||
     v->u.num < 1 || (strcmp(name, "page") == 0 && v->u.num > (double)max)) {
    problem(prob, 400, "invalid-page", "Ongeldige paginering", ptr,
            "%s must be a whole number from 1 to %zu, written as a JSON "
            "number (not a string)",
            name, max);
    return -1;
  }
  if(v->u.num > (double)max) {
    problem(prob, 400, "page-size-too-large", "Paginagrootte te groot", ptr,
            "%s may be at most %zu records for this kind: ask for a "
            "smaller %s, or leave it out to get pages of %zu",
            name, max, name, max);
    return -1;
  }
  *out = (size_t)v->u.num;
  return 0;
}

/* One member of the request; 0, or -1 with *prob filled. */
static int request_member(const ddas_json_member *m, size_t max_size,
                          ddas_gegevens_request *out, ddas_problem *prob) {
  const ddas_json *v = &m->value;
  size_t i;
  for(i = 0; i < NMEMBERS; i++)
    if(m->key_len == strlen(request_members[i]) &&
       memcmp(m->key, request_members[i], m->key_len) == 0)
      break;
  switch(i) {
  case 0: return get_date(v, request_members[0], out->start, prob);
  case 1: return get_date(v, request_members[1], out->end, prob);
  case 2: return get_organisation(v, out, prob);
  case 3: return get_count(v, "page", DDAS_GEGEVENS_PAGE_MAX, &out->page, prob);
  case 4:
    out->has_page_size = 1;
    return get_count(v, "pageSize", max_size, &out->page_size, prob);
  default: unknown_member(m, prob); return -1;
  }
}

static int blank(const char *s, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    if(s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
      return 0;
  return 1;
}

/* The parse of a request that is not JSON, as a problem. */
static void json_problem(const ddas_json_error *e, ddas_problem *prob) {
  problem(prob, 400, "invalid-json", "Ongeldige JSON",
          strlen(e->pointer) < sizeof(prob->pointer) ? e->pointer : "",
          "the body is not valid JSON (%s at line %u, column %u): send a "
          "JSON object such as {\"page\":1}",
          e->message, e->line, e->column);
}

ddas_result ddas_gegevens_request_parse(const char *body, size_t len,
                                        ddas_kind kind,
                                        ddas_gegevens_request *out,
                                        ddas_problem *prob) {
  size_t max_size = ddas_gegevens_max_page_size(kind), i;
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  const ddas_json *root;
  ddas_result r;
  if(!out || !prob || (!body && len))
    return DDAS_ERR_ARG;
  memset(out, 0, sizeof(*out));
  if(!max_size) {
    memset(prob, 0, sizeof(*prob));
    prob->status = 500;
    return DDAS_ERR_ARG;
  }
  if(len > DDAS_GEGEVENS_REQUEST_MAX) {
    problem(prob, 400, "request-too-large", "Request te groot", "",
            "the body is larger than %zu bytes: a request holds at most the "
            "five GegevensRequest members",
            DDAS_GEGEVENS_REQUEST_MAX);
    return DDAS_ERR_ARG;
  }
  out->page = 1;
  out->page_size = max_size;
  if(len == 0 || blank(body, len))
    return DDAS_OK;
  memset(&err, 0, sizeof(err));
  r = ddas_json_parse(body, len, NULL, &doc, &err);
  if(r == DDAS_ERR_NOMEM) {
    memset(out, 0, sizeof(*out));
    return r;
  }
  if(r) {
    json_problem(&err, prob);
    goto refused;
  }
  root = ddas_json_root(doc);
  if(root->type != DDAS_JSON_OBJECT) {
    problem(prob, 400, "invalid-body", "Ongeldig request", "",
            "the body must be a JSON object (GegevensRequest), such as "
            "{\"aanleverperiodeStartdatum\":\"2025-01-01\",\"page\":1}");
    goto refused;
  }
  for(i = 0; i < root->n; i++)
    if(request_member(&root->u.members[i], max_size, out, prob))
      goto refused;
  if(out->start[0] && out->end[0] && strcmp(out->start, out->end) > 0) {
    problem(prob, 400, "invalid-period", "Ongeldige periode",
            "/aanleverperiodeEinddatum",
            "aanleverperiodeEinddatum lies before aanleverperiodeStartdatum: "
            "send an end date on or after the start date");
    goto refused;
  }
  ddas_json_doc_free(doc);
  return DDAS_OK;
refused:
  ddas_json_doc_free(doc);
  memset(out, 0, sizeof(*out));
  return DDAS_ERR_ARG;
}

/* ---- 2. deliveries and selection ---------------------------------------- */

/* An RFC 3339 date-time as an instant; ok 0 when it is not one. */
typedef struct {
  int ok;
  int64_t sec; /* since 0000-03-01T00:00:00Z */
  long ns;
} instant;

static int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static instant instant_of(const char *s) {
  instant t = {0, 0, 0};
  size_t n, i = 19, k = 0;
  long day;
  int off = 0;
  if(!s)
    return t;
  n = strlen(s);
  /* the format check makes every position read below a digit or a sign */
  if(!ddas_format_date_time(s, n) || ddas_date_parse(s, 10, &day))
    return t;
  if(s[i] == '.')
    for(i++; s[i] >= '0' && s[i] <= '9'; i++)
      if(k++ < 9)
        t.ns = t.ns * 10 + (s[i] - '0');
  for(; k < 9; k++)
    t.ns *= 10;
  if(s[i] == '+' || s[i] == '-')
    off =
        (s[i] == '+' ? 1 : -1) * (two(s + i + 1) * 3600 + two(s + i + 4) * 60);
  t.sec = (int64_t)day * 86400 + two(s + 11) * 3600 + two(s + 14) * 60 +
          two(s + 17) - off;
  t.ok = 1;
  return t;
}

static int instant_order(const instant *a, const instant *b) {
  if(a->ok != b->ok)
    return a->ok - b->ok;
  if(a->sec != b->sec)
    return a->sec < b->sec ? -1 : 1;
  return a->ns < b->ns ? -1 : a->ns > b->ns;
}

int ddas_instant_cmp(const char *a, const char *b) {
  instant x = instant_of(a), y = instant_of(b);
  return instant_order(&x, &y);
}

static const char *S(const char *s) { return s ? s : ""; }

static int later(const ddas_served_delivery *a, const instant *ta,
                 const ddas_served_delivery *b, const instant *tb) {
  int c = instant_order(ta, tb);
  if(c)
    return c > 0;
  return strcmp(S(a->delivery_id), S(b->delivery_id)) > 0;
}

int ddas_served_later(const ddas_served_delivery *a,
                      const ddas_served_delivery *b) {
  instant ta = instant_of(a->delivered_at), tb = instant_of(b->delivered_at);
  return later(a, &ta, b, &tb);
}

typedef struct {
  const ddas_served_delivery *d;
  size_t idx;
  instant t;
} candidate;

/* Organisation and period: the group a delivery replaces others in. */
static int group_order(const ddas_served_delivery *a,
                       const ddas_served_delivery *b) {
  int c;
  if((c = strcmp(S(a->org_name), S(b->org_name))) ||
     (c = strcmp(S(a->org_code), S(b->org_code))) ||
     (c = strcmp(S(a->period_start), S(b->period_start))) ||
     (c = strcmp(S(a->period_end), S(b->period_end))))
    return c;
  return 0;
}

/* Groups in output order, the latest of a group first. A total order (the
 * delivery id breaks every tie but that of a delivery with itself), so
 * qsort's instability cannot show. */
static int candidate_order(const void *x, const void *y) {
  const candidate *a = x, *b = y;
  int c = group_order(a->d, b->d);
  if(c)
    return c;
  if(later(a->d, &a->t, b->d, &b->t))
    return -1;
  if(later(b->d, &b->t, a->d, &a->t))
    return 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int wanted(const ddas_served_delivery *d,
                  const ddas_gegevens_request *req) {
  if(req->start[0] && strcmp(S(d->period_start), req->start) < 0)
    return 0;
  if(req->end[0] && strcmp(S(d->period_end), req->end) > 0)
    return 0;
  return !req->has_organisation ||
         strcmp(S(d->org_name), req->organisation) == 0 ||
         strcmp(S(d->org_code), req->organisation) == 0;
}

ddas_result ddas_gegevens_select(const ddas_served_delivery *all, size_t n,
                                 ddas_kind kind,
                                 const ddas_gegevens_request *req,
                                 size_t *out_idx, size_t *nout) {
  candidate *c;
  size_t i, k = 0;
  if(nout)
    *nout = 0;
  if(!req || !nout || (n && (!all || !out_idx)))
    return DDAS_ERR_ARG;
  if(!n)
    return DDAS_OK;
  if(!(c = ddas_malloc(n * sizeof(*c))))
    return DDAS_ERR_NOMEM;
  for(i = 0; i < n; i++) {
    if(!all[i].complete || all[i].kind != kind)
      continue;
    c[k].d = &all[i];
    c[k].idx = i;
    c[k].t = instant_of(all[i].delivered_at);
    k++;
  }
  qsort(c, k, sizeof(*c), candidate_order);
  for(i = 0; i < k; i++) {
    if(i > 0 && group_order(c[i - 1].d, c[i].d) == 0)
      continue; /* replaced by the later c[i - 1] */
    if(wanted(c[i].d, req))
      out_idx[(*nout)++] = c[i].idx;
  }
  ddas_free(c);
  return DDAS_OK;
}

void ddas_gegevens_envelope(const ddas_served_delivery *all, const size_t *idx,
                            size_t n, ddas_page_envelope *out) {
  size_t i, latest = 0;
  memset(out, 0, sizeof(*out));
  if(!n)
    return;
  for(i = 0; i < n; i++) {
    const ddas_served_delivery *d = &all[idx[i]];
    if(!out->start || strcmp(S(d->period_start), out->start) < 0)
      out->start = S(d->period_start);
    if(!out->end || strcmp(S(d->period_end), out->end) > 0)
      out->end = S(d->period_end);
    if(i && ddas_served_later(d, &all[idx[latest]]))
      latest = i;
  }
  out->delivered_at = all[idx[latest]].delivered_at;
  out->code = all[idx[latest]].code;
}

/* ---- 3. the paging plan ------------------------------------------------- */

ddas_result ddas_gegevens_plan(const size_t *batch_records, size_t nbatches,
                               size_t page, size_t page_size,
                               ddas_page_plan *out, ddas_problem *prob) {
  size_t total = 0, i, s, e, cum = 0;
  memset(out, 0, sizeof(*out));
  if(page == 0 || page_size == 0) {
    problem(prob, 400, "invalid-page", "Ongeldige paginering",
            page == 0 ? "/page" : "/pageSize",
            "%s must be a whole number of at least 1",
            page == 0 ? "page" : "pageSize");
    return DDAS_ERR_ARG;
  }
  for(i = 0; i < nbatches; i++) {
    if(batch_records[i] > SIZE_MAX - total) {
      problem(prob, 500, "answer-too-large", "Antwoord te groot", "",
              "the answer holds more records than can be counted: ask for a "
              "shorter period or one organisation");
      return DDAS_ERR_LIMIT;
    }
    total += batch_records[i];
  }
  out->total_records = total;
  out->total_pages = total / page_size + (total % page_size != 0);
  if(out->total_pages == 0)
    out->total_pages = 1;
  out->page_size = page_size;
  out->page = page;
  out->paginated = out->total_pages > 1;
  if(page > out->total_pages) {
    size_t last = out->total_pages;
    memset(out, 0, sizeof(*out));
    problem(prob, 400, "page-out-of-range", "Pagina bestaat niet", "/page",
            "the answer has %zu page%s at this pageSize: ask for a page from "
            "1 to %zu",
            last, last == 1 ? "" : "s", last);
    return DDAS_ERR_ARG;
  }
  /* page <= total_pages, so s < total (or both 0) and s cannot overflow */
  s = (page - 1) * page_size;
  e = s + (total - s < page_size ? total - s : page_size);
  out->nrecords = e - s;
  if(!out->nrecords)
    return DDAS_OK;
  for(i = 0; i < nbatches; i++) {
    size_t n = batch_records[i];
    if(s >= cum && s < cum + n) {
      out->first_batch = i;
      out->first_offset = s - cum;
    }
    if(e > cum && e <= cum + n) {
      out->last_batch = i;
      out->last_end = e - cum;
      break;
    }
    cum += n;
  }
  return DDAS_OK;
}

int ddas_page_plan_range(const ddas_page_plan *plan,
                         const size_t *batch_records, size_t i, size_t *from,
                         size_t *to) {
  if(!plan->nrecords || i < plan->first_batch || i > plan->last_batch ||
     !batch_records[i])
    return 0;
  *from = i == plan->first_batch ? plan->first_offset : 0;
  *to = i == plan->last_batch ? plan->last_end : batch_records[i];
  return *from < *to;
}

/* ---- 4. the page -------------------------------------------------------- */

struct ddas_page_writer {
  ddas_kind kind;
  wbuf out; /* the page so far (heap memory: handed to the caller) */
  size_t leveringen, records;
  /* the page's last levering, still open for records of the next batch */
  int lev_open;
  size_t lev_records;
  char *group; /* its group */
  wbuf head;   /* its members other than teller, records and zaken */
  wbuf zaken;  /* VS: its zaken so far, comma-separated */
  size_t nzaken;
  int at_batch_end; /* it holds the last record of its batch */
  wbuf gem;         /* SHV: the gemeentecode bytes of its last record */
  wbuf cand;        /* scratch: the head of the levering being added */
  int finished, failed;
  char err[200];
};

static const char *records_name(ddas_kind k) {
  return k == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
}

ddas_result ddas_page_writer_new(ddas_kind kind, const ddas_page_envelope *env,
                                 ddas_page_writer **out) {
  ddas_page_writer *w;
  wbuf *o;
  int first = 1;
  if(out)
    *out = NULL;
  if(!out || !env || !env->start || !env->end ||
     !ddas_gegevens_max_page_size(kind))
    return DDAS_ERR_ARG;
  if(!(w = ddas_calloc(1, sizeof(*w))))
    return DDAS_ERR_NOMEM;
  w->kind = kind;
  o = &w->out;
  o->heap = 1;
  w_lit(o, "{\"gegevens\":{");
  w_key(o, &first, "startdatumLevering", 18);
  w_text(o, env->start);
  w_key(o, &first, "einddatumLevering", 17);
  w_text(o, env->end);
  if(env->delivered_at) {
    w_key(o, &first, "aanleverdatumEnTijd", 19);
    w_text(o, env->delivered_at);
  }
  if(env->code) {
    w_key(o, &first, "codeGegevensleverancier", 23);
    w_text(o, env->code);
  }
  w_key(o, &first, "leveringen", 10);
  w_raw(o, "[", 1);
  if(o->nomem) {
    ddas_page_writer_free(w);
    return DDAS_ERR_NOMEM;
  }
  *out = w;
  return DDAS_OK;
}

void ddas_page_writer_free(ddas_page_writer *w) {
  if(!w)
    return;
  w_free(&w->out);
  w_free(&w->head);
  w_free(&w->zaken);
  w_free(&w->cand);
  w_free(&w->gem);
  ddas_free(w->group);
  ddas_free(w);
}

const char *ddas_page_writer_error(const ddas_page_writer *w) {
  return w ? w->err : "";
}

size_t ddas_page_writer_records(const ddas_page_writer *w) {
  return w ? w->records : 0;
}

static void close_lev(ddas_page_writer *w) {
  if(!w->lev_open)
    return;
  w_raw(&w->out, "]", 1);
  if(w->kind == DDAS_KIND_VS) {
    w_lit(&w->out, ",\"vroegsignaalzaken\":[");
    w_raw(&w->out, w->zaken.p, w->zaken.len);
    w_raw(&w->out, "]", 1);
  }
  w_raw(&w->out, "}", 1);
  w->lev_open = 0;
  w->zaken.len = 0;
  w->nzaken = 0;
}

/* A member of a stored levering that the page writes again as it is. */
static int copied_member(ddas_kind kind, const ddas_json_member *m) {
  static const char *const own[] = {"teller", "schuldhulptrajecten",
                                    "vroegsignalen", "vroegsignaalzaken"};
  size_t i;
  for(i = 0; i < 4; i++) {
    if((i == 1 && kind != DDAS_KIND_SHV) || (i >= 2 && kind != DDAS_KIND_VS))
      continue;
    if(m->key_len == strlen(own[i]) && memcmp(m->key, own[i], m->key_len) == 0)
      return 0;
  }
  return 1;
}

/* The raw bytes of an SHV record's gemeentecode ("" when it has none). */
static void record_gem(const char *input, const ddas_json *rec, const char **p,
                       size_t *n) {
  const ddas_json *g = ddas_json_get(rec, "gemeentecode");
  *p = g ? input + g->start : "";
  *n = g ? g->end - g->start : 0;
}

/* Opens the page levering for source levering `lev`, whose first record
 * here is `first`, or continues the page's last levering. A levering
 * continues only what a batch cut split: it is the first of its batch
 * (`at_start`: its record 0 is the batch's record 0), the open levering
 * ends its own batch, both have the same group and byte-identical members
 * (teller, records and zaken aside), and (SHV) the records on either side
 * of the cut have the same gemeentecode. The last condition keeps the
 * leveringen N6 split per municipality apart: their members are the same
 * organisation's, only their records' gemeentecode differs. Leveringen of
 * one batch are never merged (the batcher made them distinct). */
static ddas_result open_lev(ddas_page_writer *w, const char *input,
                            const ddas_json *lev, const ddas_json *first,
                            int at_start, const char *group) {
  wbuf *c = &w->cand, tmp;
  size_t i, gn;
  const char *gp;
  int first_member = 1;
  c->len = 0;
  for(i = 0; i < lev->n; i++) {
    const ddas_json_member *m = &lev->u.members[i];
    if(!copied_member(w->kind, m))
      continue;
    w_mkey(c, &first_member, m);
    w_raw(c, input + m->value.start, m->value.end - m->value.start);
  }
  if(c->nomem)
    return DDAS_ERR_NOMEM;
  record_gem(input, first, &gp, &gn);
  if(at_start && w->lev_open && w->at_batch_end &&
     strcmp(w->group, group) == 0 && c->len == w->head.len &&
     (c->len == 0 || memcmp(c->p, w->head.p, c->len) == 0) &&
     (w->kind != DDAS_KIND_SHV ||
      (gn == w->gem.len && (gn == 0 || memcmp(gp, w->gem.p, gn) == 0))))
    return DDAS_OK;
  close_lev(w);
  if(!w->group || strcmp(w->group, group)) {
    ddas_free(w->group);
    if(!(w->group = ddas_strdup(group)))
      return DDAS_ERR_NOMEM;
  }
  tmp = w->head;
  w->head = *c;
  *c = tmp;
  if(w->leveringen)
    w_raw(&w->out, ",", 1);
  w_lit(&w->out, "{\"teller\":");
  w_uint(&w->out, ++w->leveringen);
  if(w->head.len) {
    w_raw(&w->out, ",", 1);
    w_raw(&w->out, w->head.p, w->head.len);
  }
  w_raw(&w->out, ",\"", 2);
  w_lit(&w->out, records_name(w->kind));
  w_raw(&w->out, "\":[", 3);
  w->lev_open = 1;
  w->lev_records = 0;
  return w->out.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}

/* VS: a signal's ID and position in its levering, sorted by ID then
 * position, to place zaken without a scan per reference. */
typedef struct {
  const char *id;
  size_t n, pos;
} sigpos;

static int sigpos_order(const void *x, const void *y) {
  const sigpos *a = x, *b = y;
  size_t n = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->id, b->id, n);
  if(c || a->n != b->n)
    return c ? c : (a->n < b->n ? -1 : 1);
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The position of the last signal with ID `id` (sorted index), or -1. */
static long long last_signal(const sigpos *ix, size_t n, const ddas_json *id) {
  size_t lo = 0, hi = n;
  sigpos key;
  key.id = id->u.str;
  key.n = id->n;
  key.pos = SIZE_MAX;
  /* the first entry after every (id, pos) */
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(sigpos_order(&ix[mid], &key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if(lo == 0 || ix[lo - 1].n != id->n ||
     memcmp(ix[lo - 1].id, id->u.str, id->n) != 0)
    return -1;
  return (long long)ix[lo - 1].pos;
}

/* The position of the record a zaak goes with: the last signal it refers
 * to, or 0 (the levering's first record) when it refers to none of them. */
static size_t zaak_position(const sigpos *ix, size_t n, const ddas_json *zaak) {
  const ddas_json *refs = ddas_json_get(zaak, "vroegsignalen");
  long long best = -1, p;
  size_t k;
  for(k = 0; refs && refs->type == DDAS_JSON_ARRAY && k < refs->n; k++) {
    const ddas_json *id = ddas_json_get(&refs->u.items[k], "ID");
    if(id && id->type == DDAS_JSON_STRING &&
       (p = last_signal(ix, n, id)) > best)
      best = p;
  }
  return best < 0 ? 0 : (size_t)best;
}

/* VS: appends the zaken of `lev` whose record is in [lo, hi). */
static ddas_result add_zaken(ddas_page_writer *w, const char *input,
                             const ddas_json *lev, size_t lo, size_t hi) {
  const ddas_json *sig = ddas_json_get(lev, "vroegsignalen"),
                  *zaken = ddas_json_get(lev, "vroegsignaalzaken");
  sigpos *ix;
  size_t i, n = 0;
  if(!zaken || !zaken->n)
    return DDAS_OK;
  if(!(ix = ddas_malloc((sig->n ? sig->n : 1) * sizeof(*ix))))
    return DDAS_ERR_NOMEM;
  for(i = 0; i < sig->n; i++) {
    const ddas_json *id = ddas_json_get(&sig->u.items[i], "ID");
    if(!id || id->type != DDAS_JSON_STRING)
      continue;
    ix[n].id = id->u.str;
    ix[n].n = id->n;
    ix[n++].pos = i;
  }
  qsort(ix, n, sizeof(*ix), sigpos_order);
  for(i = 0; i < zaken->n; i++) {
    const ddas_json *z = &zaken->u.items[i];
    size_t p = zaak_position(ix, n, z);
    if(p < lo || p >= hi)
      continue;
    if(w->nzaken++)
      w_raw(&w->zaken, ",", 1);
    w_raw(&w->zaken, input + z->start, z->end - z->start);
  }
  ddas_free(ix);
  return w->zaken.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}

/* Checks the shape add_batch relies on; the number of records, or -1 with
 * w->err set. */
static long long batch_records(ddas_page_writer *w, const ddas_json *root) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  const char *list = records_name(w->kind);
  long long total = 0;
  size_t i;
  if(!levs || levs->type != DDAS_JSON_ARRAY) {
    snprintf(w->err, sizeof(w->err),
             "the batch body is not an object with a leveringen array");
    return -1;
  }
  for(i = 0; i < levs->n; i++) {
    const ddas_json *lev = &levs->u.items[i], *recs = ddas_json_get(lev, list),
                    *z = ddas_json_get(lev, "vroegsignaalzaken");
    if(!recs || recs->type != DDAS_JSON_ARRAY ||
       (w->kind == DDAS_KIND_VS && z && z->type != DDAS_JSON_ARRAY)) {
      snprintf(w->err, sizeof(w->err),
               "levering %zu of the batch body has no %s array%s", i, list,
               w->kind == DDAS_KIND_VS ? " (or vroegsignaalzaken is not one)"
                                       : "");
      return -1;
    }
    total += recs->n;
  }
  return total;
}

/* Writes records [from, to) of a checked batch of `total` records. */
static ddas_result add_records(ddas_page_writer *w, const char *input,
                               const ddas_json *levs, size_t from, size_t to,
                               size_t total, const char *group) {
  size_t i, j, cum = 0;
  ddas_result r;
  for(i = 0; i < levs->n && cum < to; i++) {
    const ddas_json *lev = &levs->u.items[i],
                    *recs = ddas_json_get(lev, records_name(w->kind));
    size_t lo = from > cum ? from - cum : 0,
           hi = to - cum < recs->n ? to - cum : recs->n,
           at = cum + lo; /* the part's first record in the batch */
    cum += recs->n;
    if(lo >= hi)
      continue;
    if((r = open_lev(w, input, lev, &recs->u.items[lo], at == 0, group)))
      return r;
    for(j = lo; j < hi; j++) {
      const ddas_json *rec = &recs->u.items[j];
      if(w->lev_records++)
        w_raw(&w->out, ",", 1);
      w_raw(&w->out, input + rec->start, rec->end - rec->start);
    }
    w->records += hi - lo;
    w->at_batch_end = cum - recs->n + hi == total;
    if(w->kind == DDAS_KIND_SHV) {
      const char *gp;
      size_t gn;
      record_gem(input, &recs->u.items[hi - 1], &gp, &gn);
      w->gem.len = 0;
      w_raw(&w->gem, gp, gn);
      if(w->gem.nomem)
        return DDAS_ERR_NOMEM;
    }
    if(w->kind == DDAS_KIND_VS && (r = add_zaken(w, input, lev, lo, hi)))
      return r;
  }
  return w->out.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}

ddas_result ddas_page_writer_add_batch(ddas_page_writer *w, const char *body,
                                       size_t len, size_t from, size_t to,
                                       const char *group) {
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  long long total;
  ddas_result r;
  if(!w)
    return DDAS_ERR_ARG;
  w->err[0] = '\0';
  if(w->finished || w->failed) {
    snprintf(w->err, sizeof(w->err), "the page writer is %s",
             w->finished ? "finished" : "failed");
    return w->failed ? DDAS_ERR_NOMEM : DDAS_ERR_ARG;
  }
  if(!body || !len || from > to) {
    snprintf(w->err, sizeof(w->err), "%s",
             from > to ? "the record range ends before it starts"
                       : "the batch body is empty");
    return DDAS_ERR_ARG;
  }
  if(from == to)
    return DDAS_OK;
  memset(&err, 0, sizeof(err));
  r = ddas_json_parse(body, len, NULL, &doc, &err);
  if(r == DDAS_ERR_NOMEM)
    return r; /* nothing written yet: the writer is still usable */
  if(r) {
    snprintf(w->err, sizeof(w->err), "the batch body is not JSON: %.150s",
             err.message);
    return DDAS_ERR_ARG;
  }
  total = batch_records(w, ddas_json_root(doc));
  if(total >= 0 && (unsigned long long)to > (unsigned long long)total) {
    snprintf(w->err, sizeof(w->err),
             "the record range ends after the batch's %lld records", total);
    total = -1;
  }
  if(total < 0) {
    ddas_json_doc_free(doc);
    return DDAS_ERR_ARG;
  }
  r = add_records(w, ddas_json_input(doc),
                  ddas_json_get(ddas_json_root(doc), "leveringen"), from, to,
                  (size_t)total, group ? group : "");
  ddas_json_doc_free(doc);
  if(r) {
    w->failed = 1;
    snprintf(w->err, sizeof(w->err), "out of memory");
  }
  return r;
}

ddas_result ddas_page_writer_finish(ddas_page_writer *w,
                                    const ddas_page_plan *plan,
                                    size_t current_page, char **out,
                                    size_t *len) {
  wbuf *o;
  if(out)
    *out = NULL;
  if(len)
    *len = 0;
  if(!w || !out || !len || w->finished)
    return DDAS_ERR_ARG;
  if(w->failed)
    return DDAS_ERR_NOMEM;
  o = &w->out;
  close_lev(w);
  w_raw(o, "]}", 2);
  if(plan && plan->paginated) {
    w_lit(o, ",\"paginering\":{\"pageSize\":");
    w_uint(o, plan->page_size);
    w_lit(o, ",\"currentPage\":");
    w_uint(o, current_page);
    w_lit(o, ",\"totalPages\":");
    w_uint(o, plan->total_pages);
    w_lit(o, ",\"totalRecords\":");
    w_uint(o, plan->total_records);
    w_raw(o, "}", 1);
  }
  w_raw(o, "}", 1);
  w->finished = 1;
  if(o->nomem) {
    w->failed = 1;
    return DDAS_ERR_NOMEM;
  }
  *out = o->p;
  *len = o->len;
  memset(o, 0, sizeof(*o));
  return DDAS_OK;
}
