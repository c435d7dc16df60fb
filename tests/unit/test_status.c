/* The status aggregation (ddas/status.h): events built by the core's own
 * event builders go in, the table comes out. Each count, the row order,
 * the states, the filters, skipped events, order independence, the
 * organisation and period a delivery's receipt now carries (issue 16),
 * and that no personal-data value of the official examples reaches the
 * identity, the receipt or any view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ddas/ddas.h"
#include "ddas/sign.h"
#include "ddas/status.h"
#include "status_events.h"
#include "testutil.h"

/* The events of one scenario, in the order they were made. */
typedef struct {
  ddas_event ev[64];
  size_t n;
} events;

static void base(ddas_event_base *b, const char *delivery, const char *t) {
  b->delivery_id = delivery;
  b->key = "org";
  b->ce_source = "urn:ddas-worker:test";
  b->time = t;
}

static void receipt(events *e, const char *delivery, const char *t,
                    const char *org, const char *code, const char *start,
                    const char *end, ddas_kind kind, size_t acc, size_t rej,
                    size_t warned, const char *rule, int incomplete) {
  ddas_processed_in in;
  ddas_rule_count rc[2] = {{"schema", 0}, {NULL, 0}};
  memset(&in, 0, sizeof(in));
  base(&in.base, delivery, t);
  in.kind = kind;
  in.status = incomplete ? "incomplete" : "processed";
  in.records = acc + rej;
  in.accepted = acc;
  in.rejected = rej;
  in.warned = warned;
  if(rej) {
    rc[0].count = rej - rej / 3;
    rc[1].rule = rule;
    rc[1].count = rej / 3;
    in.rejected_by_rule = rc;
    in.nrejected_by_rule = rej / 3 ? 2 : 1;
  }
  if(incomplete) {
    in.nchunks = 3;
    in.chunks_seen = 1;
    in.reason = "timeout";
    in.reason_text = "no next chunk in time";
  }
  in.org_name = org;
  in.org_code = code;
  in.period_start = start;
  in.period_end = end;
  assert_int_equal(ddas_event_processed(&in, &e->ev[e->n++]), DDAS_OK);
}

static void batch(events *e, const char *delivery, const char *id,
                  const char *t, se_batch_kind kind) {
  ddas_event_base b;
  base(&b, delivery, t);
  assert_int_equal(se_batch(&b, id, 0, 3, kind, &e->ev[e->n++]), DDAS_OK);
}

static void forwarded(events *e, const char *delivery, const char *id,
                      const char *t, int replayed) {
  batch(e, delivery, id, t, replayed ? SE_REPLAYED : SE_FORWARDED);
}

static void parked(events *e, const char *delivery, const char *id,
                   const char *t) {
  batch(e, delivery, id, t, SE_PARKED);
}

static void rejection(events *e, const char *delivery, const char *t) {
  ddas_event_base b;
  base(&b, delivery, t);
  assert_int_equal(se_rejection(&b, &e->ev[e->n++]), DDAS_OK);
}

static void events_clear(events *e) {
  size_t i;
  for(i = 0; i < e->n; i++)
    ddas_event_clear(&e->ev[i]);
  e->n = 0;
}

/* The scenario of the README: five organisations. */
static void scenario(events *e) {
  /* A: complete, two deliveries (the second one is the latest) */
  receipt(e, "a-1", "2026-11-01T10:00:00Z", "Org A", "11111111", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 10, 0, 1, NULL, 0);
  forwarded(e, "a-1", "ba1", "2026-11-01T09:59:00Z", 0);
  receipt(e, "a-2", "2026-11-02T10:00:00Z", "Org A", "11111111", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 5, 0, 0, NULL, 0);
  forwarded(e, "a-2", "ba2", "2026-11-02T09:59:00Z", 0);
  /* A delivered twice (at-least-once): counted once */
  forwarded(e, "a-2", "ba2", "2026-11-02T09:59:00Z", 0);
  receipt(e, "a-2", "2026-11-02T10:00:00Z", "Org A", "11111111", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 5, 0, 0, NULL, 0);
  /* B: rejections */
  rejection(e, "b-1", "2026-11-03T10:00:00Z");
  receipt(e, "b-1", "2026-11-03T10:00:01Z", "Org B", "22222222", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 7, 6, 2, "traject.in.period", 0);
  forwarded(e, "b-1", "bb1", "2026-11-03T10:00:00Z", 0);
  /* C: one batch parked then replayed, one still parked; VS */
  parked(e, "c-1", "bc1", "2026-11-04T10:00:00Z");
  parked(e, "c-1", "bc2", "2026-11-04T10:00:00Z");
  receipt(e, "c-1", "2026-11-04T10:00:01Z", "Org C", "0518", "2026-01-01",
          "2026-01-31", DDAS_KIND_VS, 6, 0, 0, NULL, 0);
  forwarded(e, "c-1", "bc1", "2026-11-05T08:00:00Z", 1);
  /* D: incomplete chunked delivery */
  forwarded(e, "d-1", "bd1", "2026-11-06T10:00:00Z", 0);
  receipt(e, "d-1", "2026-11-06T11:00:00Z", "Org D", "44444444", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 3, 0, 0, NULL, 1);
  /* E: a delivery in progress (a rejection and a batch, no receipt) */
  rejection(e, "e-1", "2026-11-07T10:00:00Z");
  forwarded(e, "e-1", "be1", "2026-11-07T10:00:02Z", 0);
}

static void add_all(ddas_status *s, const events *e, const size_t *order) {
  size_t i;
  char err[200];
  for(i = 0; i < e->n; i++) {
    const ddas_event *v = &e->ev[order ? order[i] : i];
    assert_int_equal(ddas_status_add(s, v->headers, v->nheaders, v->body,
                                     v->body_len, err, sizeof(err)),
                     DDAS_OK);
  }
}

static ddas_status *status_of(const events *e, const ddas_status_filter *f,
                              const size_t *order) {
  ddas_status *s = NULL;
  char err[300];
  assert_int_equal(ddas_status_new(f, &s, err, sizeof(err)), DDAS_OK);
  add_all(s, e, order);
  return s;
}

static const ddas_status_row *row(const ddas_status_table *t, const char *org) {
  size_t i;
  for(i = 0; i < t->nrows; i++)
    if(org ? t->rows[i].org_name && !strcmp(t->rows[i].org_name, org)
           : !t->rows[i].org_name)
      return &t->rows[i];
  fail_msg("no row for %s", org ? org : "(unknown)");
  return NULL;
}

static void counts_per_row(void **state) {
  events e = {.n = 0};
  ddas_status *s;
  ddas_status_table t;
  const ddas_status_row *w;
  (void)state;
  scenario(&e);
  s = status_of(&e, NULL, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 5);
  /* sorted by organisation; the row without receipt last */
  assert_string_equal(t.rows[0].org_name, "Org A");
  assert_string_equal(t.rows[3].org_name, "Org D");
  assert_null(t.rows[4].org_name);

  w = row(&t, "Org A");
  assert_string_equal(w->org_code, "11111111");
  assert_string_equal(w->period_start, "2026-01-01");
  assert_string_equal(w->period_end, "2026-06-30");
  assert_int_equal(w->kind, DDAS_KIND_SHV);
  assert_int_equal(w->deliveries, 2);
  assert_string_equal(w->latest_delivery_id, "a-2");
  assert_int_equal(w->records, 15);
  assert_int_equal(w->accepted, 15);
  assert_int_equal(w->rejected, 0);
  assert_int_equal(w->warned, 1);
  assert_int_equal(w->batches_forwarded, 2); /* ba2 twice: once */
  assert_int_equal(w->batches_parked, 0);
  assert_int_equal(w->ntop_rules, 0);
  assert_string_equal(w->last_outcome, "2026-11-02T10:00:00Z");
  assert_int_equal(w->state, DDAS_STATE_COMPLETE);

  w = row(&t, "Org B");
  assert_int_equal(w->accepted, 7);
  assert_int_equal(w->rejected, 6);
  assert_int_equal(w->warned, 2);
  assert_int_equal(w->ntop_rules, 2);
  assert_string_equal(w->top_rules[0].rule, "schema");
  assert_int_equal(w->top_rules[0].count, 4);
  assert_string_equal(w->top_rules[1].rule, "traject.in.period");
  assert_int_equal(w->top_rules[1].count, 2);
  assert_int_equal(w->state, DDAS_STATE_REJECTIONS);

  w = row(&t, "Org C");
  assert_int_equal(w->kind, DDAS_KIND_VS);
  assert_int_equal(w->batches_forwarded, 1);
  assert_int_equal(w->batches_replayed, 1);
  assert_int_equal(w->batches_parked, 1); /* bc2 is still parked */
  assert_string_equal(w->last_outcome, "2026-11-05T08:00:00Z");
  assert_int_equal(w->state, DDAS_STATE_PARKED);

  w = row(&t, "Org D");
  assert_int_equal(w->incomplete, 1);
  assert_int_equal(w->batches_forwarded, 1);
  assert_int_equal(w->state, DDAS_STATE_INCOMPLETE);

  w = row(&t, NULL);
  assert_int_equal(w->deliveries, 0);
  assert_int_equal(w->in_progress, 1);
  assert_int_equal(w->batches_forwarded, 1);
  assert_int_equal(w->state, DDAS_STATE_IN_PROGRESS);

  assert_int_equal(t.total.deliveries, 5);
  assert_int_equal(t.total.accepted, 15 + 7 + 6 + 3);
  assert_int_equal(t.total.rejected, 6);
  assert_int_equal(t.total.batches_forwarded, 6);
  assert_int_equal(t.total.batches_parked, 1);
  assert_int_equal(t.total.batches_replayed, 1);
  assert_int_equal(t.total.incomplete, 1);
  assert_int_equal(t.total.in_progress, 1);
  assert_int_equal(t.total.state, DDAS_STATE_IN_PROGRESS);
  assert_string_equal(t.total.last_outcome, "2026-11-07T10:00:02Z");
  assert_int_equal(t.complete, 1);
  assert_false(ddas_status_all_complete(&t));
  assert_int_equal(t.events, e.n);
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  events_clear(&e);
}

static char *json_of(const ddas_status_table *t) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(ddas_status_json(f, t), 0);
  fclose(f);
  return buf;
}

/* The same events in another order (reversed, interleaved) give the same
 * JSON byte for byte. */
static void order_does_not_matter(void **state) {
  events e = {.n = 0};
  size_t order[64], i, k;
  char *first = NULL;
  (void)state;
  scenario(&e);
  for(k = 0; k < 3; k++) {
    ddas_status *s;
    ddas_status_table t;
    char *j;
    for(i = 0; i < e.n; i++)
      order[i] = k == 0 ? i : k == 1 ? e.n - 1 - i : (i * 7) % e.n;
    s = status_of(&e, NULL, order);
    assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
    j = json_of(&t);
    if(!first)
      first = j;
    else {
      assert_string_equal(j, first);
      free(j);
    }
    ddas_status_table_clear(&t);
    ddas_status_free(s);
  }
  free(first);
  events_clear(&e);
}

static void filters(void **state) {
  events e = {.n = 0};
  ddas_status_filter f;
  ddas_status *s;
  ddas_status_table t;
  char err[300];
  (void)state;
  scenario(&e);
  /* by code; the delivery without receipt stays (it may be theirs) */
  memset(&f, 0, sizeof(f));
  f.organisation = "22222222";
  s = status_of(&e, &f, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 2);
  assert_string_equal(t.rows[0].org_name, "Org B");
  assert_null(t.rows[1].org_name);
  assert_string_equal(t.organisation, "22222222");
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  /* by name and period: exact */
  f.organisation = "Org C";
  f.period = "2026-01-01/2026-01-31";
  s = status_of(&e, &f, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 2);
  assert_string_equal(t.rows[0].org_name, "Org C");
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  f.period = "2026-01-01/2026-06-30";
  s = status_of(&e, &f, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 1); /* only the in-progress row */
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  /* since: A's first delivery and its batch are older: left out */
  memset(&f, 0, sizeof(f));
  f.since = "2026-11-02T00:00:00Z";
  f.organisation = "Org A";
  s = status_of(&e, &f, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.rows[0].deliveries, 1);
  assert_string_equal(t.rows[0].latest_delivery_id, "a-2");
  assert_int_equal(t.rows[0].batches_forwarded, 1);
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  /* bad filters are refused with what to write */
  f.since = "yesterday";
  assert_int_equal(ddas_status_new(&f, &s, err, sizeof(err)), DDAS_ERR_ARG);
  assert_non_null(strstr(err, "--since 'yesterday'"));
  f.since = "2026-11-29T01:00:00+01:00"; /* compared as text: UTC only */
  assert_int_equal(ddas_status_new(&f, &s, err, sizeof(err)), DDAS_ERR_ARG);
  assert_non_null(strstr(err, "in UTC"));
  f.since = NULL;
  f.period = "2026-01-01";
  assert_int_equal(ddas_status_new(&f, &s, err, sizeof(err)), DDAS_ERR_ARG);
  assert_non_null(strstr(err, "YYYY-MM-DD/YYYY-MM-DD"));
  f.period = "2026-01-01/2026-13-01";
  assert_int_equal(ddas_status_new(&f, &s, err, sizeof(err)), DDAS_ERR_ARG);
  events_clear(&e);
}

/* Every row complete: the exit status would be 0. No rows: not. */
static void all_complete(void **state) {
  events e = {.n = 0};
  ddas_status *s;
  ddas_status_table t;
  (void)state;
  s = status_of(&e, NULL, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 0);
  assert_false(ddas_status_all_complete(&t));
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  receipt(&e, "a-1", "2026-11-01T10:00:00Z", "Org A", "11111111", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 10, 0, 0, NULL, 0);
  /* a rejected delivery replaced by a clean one later: complete */
  receipt(&e, "b-1", "2026-11-01T10:00:00Z", "Org B", "2", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 1, 1, 0, NULL, 0);
  receipt(&e, "b-2", "2026-11-01T11:00:00Z", "Org B", "2", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 2, 0, 0, NULL, 0);
  s = status_of(&e, NULL, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.nrows, 2);
  assert_int_equal(t.rows[1].rejected, 1);
  assert_int_equal(t.rows[1].state, DDAS_STATE_COMPLETE);
  assert_true(ddas_status_all_complete(&t));
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  events_clear(&e);
}

/* Unreadable events are skipped with a reason; other types ignored; the
 * aggregation goes on. A parked batch's body is never read. */
static void bad_events(void **state) {
  ddas_status *s;
  ddas_status_table t;
  char err[300];
  char type[] = "ce_type", ptype[] = DDAS_CE_PROCESSED, time[] = "ce_time",
       tval[] = "2026-11-01T10:00:00Z", did[] = "ddas-delivery-id",
       dval[] = "x-1", oval[] = "something.else";
  ddas_kv h[3] = {{type, ptype}, {time, tval}, {did, dval}};
  ddas_kv other[1] = {{type, oval}};
  const char *bodies[] = {
      "not json", "[]", "{\"status\":\"done\"}",
      "{\"status\":\"processed\",\"records\":1,\"accepted\":-1,"
      "\"rejected\":0,\"warned\":0}",
      "{\"status\":\"processed\",\"records\":1,\"accepted\":1,"
      "\"rejected\":0,\"warned\":0,\"organisation\":7}"};
  size_t i;
  (void)state;
  assert_int_equal(ddas_status_new(NULL, &s, err, sizeof(err)), DDAS_OK);
  for(i = 0; i < sizeof(bodies) / sizeof(*bodies); i++)
    assert_int_equal(ddas_status_add(s, h, 3, bodies[i], strlen(bodies[i]), err,
                                     sizeof(err)),
                     DDAS_ERR_ARG);
  assert_non_null(strstr(err, "organisation"));
  assert_int_equal(ddas_status_add(s, h, 2, "{}", 2, err, sizeof(err)),
                   DDAS_ERR_ARG); /* no delivery id */
  assert_non_null(strstr(err, "ddas-delivery-id"));
  assert_int_equal(ddas_status_add(s, other, 1, "x", 1, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(ddas_status_add(s, NULL, 0, NULL, 0, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  assert_int_equal(t.skipped, 6);
  assert_int_equal(t.ignored, 2);
  assert_int_equal(t.events, 0);
  /* the deliveries of unreadable receipts are still known: in progress */
  assert_int_equal(t.nrows, 1);
  assert_int_equal(t.rows[0].in_progress, 1);
  ddas_status_table_clear(&t);
  ddas_status_free(s);
}

static char *render(const ddas_status_table *t, int html) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(html ? ddas_status_html(f, t, "2026-11-08T00:00:00Z")
                        : ddas_status_text(f, t),
                   0);
  fclose(f);
  return buf;
}

/* JSON members, text and HTML views of the scenario. */
static void views(void **state) {
  events e = {.n = 0};
  ddas_status *s;
  ddas_status_table t;
  json_t *j, *r0;
  char *js, *txt, *html;
  (void)state;
  scenario(&e);
  receipt(&e, "x-1", "2026-11-01T10:00:00Z", "<b>&\"Org'", "9", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 1, 0, 0, NULL, 0);
  /* a receipt without organisation and period (a malformed document) */
  receipt(&e, "y-1", "2026-11-01T10:00:00Z", NULL, NULL, NULL, NULL,
          DDAS_KIND_UNKNOWN, 0, 1, 0, "json.syntax", 0);
  s = status_of(&e, NULL, NULL);
  assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
  js = json_of(&t);
  j = json_loads(js, 0, NULL);
  assert_non_null(j);
  r0 = json_array_get(json_object_get(j, "rows"), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(r0, "organisation"), "name")),
                      "Org A");
  assert_string_equal(json_string_value(json_object_get(r0, "state")),
                      "complete");
  assert_int_equal(
      json_integer_value(json_object_get(
          json_object_get(json_object_get(j, "totals"), "batches"), "parked")),
      1);
  assert_true(json_is_null(json_object_get(
      json_array_get(json_object_get(j, "rows"), 5), "organisation")));
  assert_int_equal(
      json_integer_value(json_object_get(
          json_array_get(json_object_get(j, "rows"), 5), "deliveries")),
      1); /* y-1: named no organisation, sorted after names */
  json_decref(j);

  txt = render(&t, 0);
  assert_non_null(strstr(txt, "ORGANISATION"));
  assert_non_null(strstr(txt, "TOTAL"));
  assert_non_null(strstr(txt, "parked batches"));
  assert_non_null(strstr(txt, "schema (4), traject.in.period (2)"));
  assert_non_null(strstr(txt, "2 of 7 rows complete"));
  assert_non_null(strstr(txt, "(not named)"));
  assert_non_null(strstr(txt, "(not yet known)"));

  html = render(&t, 1);
  assert_non_null(strstr(html, "<!DOCTYPE html>"));
  assert_null(strstr(html, "<b>&")); /* escaped */
  assert_non_null(strstr(html, "&lt;b&gt;&amp;&quot;Org&#39;"));
  assert_non_null(strstr(html, "data-col=\"accepted\" class=\"n\" "
                               "data-value=\"15\""));
  assert_non_null(strstr(html, "<svg id=\"chart\""));
  /* self-contained: nothing loaded from elsewhere */
  assert_null(strstr(html, "src="));
  assert_null(strstr(html, "href=\"http"));
  free(js);
  free(txt);
  free(html);
  ddas_status_table_clear(&t);
  ddas_status_free(s);
  events_clear(&e);
}

/* The identity of each official example; no personal-data value of it in
 * the identity, the receipt built with it or the status views. The
 * organisation's name is published on purpose (README "Reporting
 * deadlines"), so it is taken off the list of values to look for: the
 * VS examples spell it "naam", like a contact person's name. */
static void identity_of_examples(void **state) {
  static const struct {
    const char *file, *name, *code, *start, *end;
  } ex[] = {
      {"shv-v1.0-enkelvoudig.json", "Schuldhulporganisatie X", "12345678",
       "2024-01-01", "2024-12-31"},
      {"shv-v1.0-meervoudig.json", "Schuldhulporganisatie Z", "87654321",
       "2024-01-01", "2024-12-31"},
      {"shv-v0.9-enkelvoudig.json", "Schuldhulporganisatie ABC", "12345678",
       "2023-01-01", "2023-12-31"},
      {"vs-v0.9-enkelvoudig.json", "Gemeente Voorbeeld", "12345678",
       "2025-01-01", "2025-01-31"},
  };
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(ex) / sizeof(*ex); i++) {
    char path[512], *buf, *pd[512], *views[3];
    size_t len, npd, k, v;
    ddas_json_doc *doc = NULL;
    ddas_delivery_identity id;
    events e = {.n = 0};
    ddas_status *s;
    ddas_status_table t;
    snprintf(path, sizeof(path), "%s/config/examples/%s", SOURCE_DIR,
             ex[i].file);
    buf = tu_read(path, &len);
    assert_non_null(buf);
    assert_int_equal(ddas_json_parse(buf, len, NULL, &doc, NULL), DDAS_OK);
    ddas_delivery_identity_get(ddas_json_root(doc), &id);
    assert_string_equal(id.org_name, ex[i].name);
    assert_string_equal(id.org_code, ex[i].code);
    assert_string_equal(id.period_start, ex[i].start);
    assert_string_equal(id.period_end, ex[i].end);
    receipt(&e, "p-1", "2026-11-01T10:00:00Z", id.org_name, id.org_code,
            id.period_start, id.period_end, DDAS_KIND_SHV, 1, 0, 0, NULL, 0);
    s = status_of(&e, NULL, NULL);
    assert_int_equal(ddas_status_table_build(s, &t), DDAS_OK);
    views[0] = json_of(&t);
    views[1] = render(&t, 0);
    views[2] = render(&t, 1);
    npd = tu_collect_pd(buf, len, pd, 512);
    assert_true(npd > 0);
    for(k = 0; k < npd; k++) {
      if(!strcmp(pd[k], ex[i].name)) {
        free(pd[k]);
        continue;
      }
      assert_null(strstr(e.ev[0].body, pd[k]));
      for(v = 0; v < 3; v++)
        if(strstr(views[v], pd[k]))
          fail_msg("personal data '%s' in view %zu of %s", pd[k], v,
                   ex[i].file);
      free(pd[k]);
    }
    for(v = 0; v < 3; v++)
      free(views[v]);
    ddas_status_table_clear(&t);
    ddas_status_free(s);
    events_clear(&e);
    ddas_json_doc_free(doc);
    free(buf);
  }
}

/* The receipt's new members (docs/events.md, issue 16). */
static void receipt_members(void **state) {
  events e = {.n = 0};
  json_t *j;
  (void)state;
  receipt(&e, "a-1", "2026-11-01T10:00:00Z", "Org A", "11111111", "2026-01-01",
          "2026-06-30", DDAS_KIND_SHV, 1, 0, 0, NULL, 0);
  receipt(&e, "a-2", "2026-11-01T10:00:00Z", "", NULL, NULL, NULL,
          DDAS_KIND_SHV, 1, 0, 0, NULL, 0);
  receipt(&e, "a-3", "2026-11-01T10:00:00Z", NULL, "0518", "2026-01-01", NULL,
          DDAS_KIND_SHV, 1, 0, 0, NULL, 0);
  j = json_loadb(e.ev[0].body, e.ev[0].body_len, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(j, "organisation"), "code")),
                      "11111111");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "period"), "end")),
      "2026-06-30");
  json_decref(j);
  assert_non_null(
      strstr(e.ev[1].body, "\"organisation\":null,\"period\":null"));
  assert_non_null(strstr(e.ev[2].body,
                         "\"organisation\":{\"name\":null,\"code\":\"0518\"},"
                         "\"period\":{\"start\":\"2026-01-01\",\"end\":null}"));
  events_clear(&e);
}

/* A name longer than the identity's buffer is cut between characters. */
static void identity_cut(void **state) {
  char doc[600], name[400];
  ddas_json_doc *d = NULL;
  ddas_delivery_identity id;
  size_t i;
  (void)state;
  for(i = 0; i + 2 < 300; i += 2)
    memcpy(name + i, "\xc3\xa9", 2); /* é */
  name[i] = '\0';
  snprintf(doc, sizeof(doc),
           "{\"leveringen\":[{\"aanleverende_organisatie\":{\"naam\":\"%s\","
           "\"gemeentecode\":\"0518\"}}]}",
           name);
  assert_int_equal(ddas_json_parse(doc, strlen(doc), NULL, &d, NULL), DDAS_OK);
  ddas_delivery_identity_get(ddas_json_root(d), &id);
  assert_int_equal(strlen(id.org_name) % 2, 0);
  assert_true(strlen(id.org_name) >= DDAS_ORG_NAME_MAX - 2);
  assert_string_equal(id.org_code, "0518");
  assert_string_equal(id.period_start, "");
  ddas_json_doc_free(d);
  ddas_delivery_identity_get(NULL, &id);
  assert_string_equal(id.org_name, "");
}

/* Each allocation fails in turn, in adding, building and writing: every
 * call returns DDAS_ERR_NOMEM (or -1) or succeeds, nothing crashes or
 * leaks (the ASan build checks), and once no allocation fails the table is
 * the normal one. */
static void allocation_failures(void **state) {
  events e = {.n = 0};
  unsigned long n;
  int done = 0;
  (void)state;
  scenario(&e);
  for(n = 1; !done && n < 20000; n++) {
    ddas_status *s = NULL;
    ddas_status_table t;
    ddas_status_filter f = {"2026-01-01/2026-06-30", NULL, NULL};
    char err[200];
    size_t i;
    int ok = 1;
    ddas_alloc_fail_at(n);
    if(ddas_status_new(&f, &s, err, sizeof(err)) != DDAS_OK) {
      ddas_alloc_fail_at(0);
      continue;
    }
    for(i = 0; ok && i < e.n; i++) {
      ddas_result r =
          ddas_status_add(s, e.ev[i].headers, e.ev[i].nheaders, e.ev[i].body,
                          e.ev[i].body_len, err, sizeof(err));
      assert_true(r == DDAS_OK || r == DDAS_ERR_NOMEM);
      ok = r == DDAS_OK;
    }
    if(ddas_status_table_build(s, &t) == DDAS_OK) {
      char *buf = NULL;
      size_t len = 0;
      FILE *m = open_memstream(&buf, &len);
      int w = ddas_status_json(m, &t) | ddas_status_html(m, &t, NULL) |
              ddas_status_text(m, &t);
      fclose(m);
      free(buf);
      if(ok && !w && ddas_alloc_count() < n) {
        assert_int_equal(t.nrows, 4); /* A, B, D and the one in progress */
        assert_int_equal(t.rows[0].deliveries, 2);
        done = 1;
      }
      ddas_status_table_clear(&t);
    }
    ddas_alloc_fail_at(0);
    ddas_status_free(s);
  }
  assert_true(done);
  events_clear(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(counts_per_row),
      cmocka_unit_test(order_does_not_matter),
      cmocka_unit_test(filters),
      cmocka_unit_test(all_complete),
      cmocka_unit_test(bad_events),
      cmocka_unit_test(views),
      cmocka_unit_test(identity_of_examples),
      cmocka_unit_test(receipt_members),
      cmocka_unit_test(identity_cut),
      cmocka_unit_test(allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
