/* `ddas-worker status` against the real pipeline (issue 16): kafka-mock,
 * the CBS stub and a worker process. Four organisations deliver for two
 * reporting periods:
 *   Gemeente Alfa, 2024-01-01/2024-06-30: two clean deliveries (complete)
 *   Gemeente Alfa, 2024-01-01/2024-12-31: one multi-levering (complete)
 *   Krediet Beta,  2024-01-01/2024-12-31: a negative amount and a schema
 *                  error (rejections)
 *   Gamma Schuldhulp, 2024: a delivery whose batch CBS refuses with 503
 *                  until it is parked (parked batches), then `replay`
 *                  (complete, one batch replayed)
 *   Delta Hulp,    2024: chunk 1 of 2 only (incomplete)
 * Every number of `status --json` is checked against what the test
 * submitted, and so are the exit status, the filters, the text table and
 * that no personal-data value of the input appears in any output. */
#define _GNU_SOURCE
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ddas/rules.h"
#include "pipeline_fixture.h"
#include "testutil.h"

static void fixture_failed(const char *msg) { fail_msg("%s", msg); }

/* Replaces every `from` followed by digits in s with `to`. */
static char *replace_numbered(const char *s, const char *from, const char *to) {
  sbuf o = {NULL, 0, 0};
  const char *p = s, *hit;
  while((hit = strstr(p, from))) {
    sb_printf(&o, "%.*s%s", (int)(hit - p), p, to);
    p = hit + strlen(from);
    while(*p >= '0' && *p <= '9')
      p++;
  }
  sb_printf(&o, "%s", p);
  return o.b;
}

/* Gives the generated delivery i an organisation (every levering), a KvK
 * number and the end of its reporting period. */
static void retarget(const dataset *ds, size_t i, const char *org,
                     const char *kvk, const char *end) {
  size_t len;
  char *in = tu_read(ds->d[i].path, &len), *a, *b, *c, name[120], k[60], e[80];
  assert_non_null(in);
  snprintf(name, sizeof(name), "Naam\":\"%s", org);
  snprintf(k, sizeof(k), "\"KvK-nummer\":\"%s", kvk);
  snprintf(e, sizeof(e), "\"einddatumLevering\":\"%s\",", end);
  a = replace_numbered(in, "Naam\":\"Schuldhulp Pijplijn ", name);
  b = replace_numbered(a, "\"KvK-nummer\":\"", k);
  c = replace_numbered(b, "\"einddatumLevering\":\"2024-12-31\",", e);
  tu_write_file(ds->d[i].path, c, strlen(c));
  free(in);
  free(a);
  free(b);
  free(c);
}

/* `ddas-worker status -c CONF ARGS`: exit status, stdout in *out. */
static int status(const scen *s, const char *args, char **out) {
  return tu_runf(out, "'%s' status -c '%s' %s 2>>'%s/status.log'", WORKER_BIN,
                 s->conf, args, s->sdir);
}

static json_t *status_json(const scen *s, const char *args, int *rc) {
  char *out = NULL, cmd[300];
  json_t *j;
  snprintf(cmd, sizeof(cmd), "--json %s", args);
  *rc = status(s, cmd, &out);
  j = json_loads(out ? out : "", 0, NULL);
  if(!j)
    fail_msg("status --json printed no JSON: %s", out ? out : "");
  free(out);
  return j;
}

/* Waits until status shows `n` deliveries with a receipt and none in
 * progress. */
static void wait_deliveries(const scen *s, size_t n, int timeout_s) {
  double until = now_s() + timeout_s;
  size_t got = 0;
  while(now_s() < until) {
    int rc;
    json_t *j = status_json(s, "", &rc), *t = json_object_get(j, "totals");
    got = (size_t)json_integer_value(json_object_get(t, "deliveries"));
    if(got >= n &&
       json_integer_value(json_object_get(t, "in_progress_deliveries")) == 0) {
      json_decref(j);
      return;
    }
    json_decref(j);
    usleep(500 * 1000);
  }
  fail_msg("status shows %zu deliveries, expected %zu within %d s", got, n,
           timeout_s);
}

typedef struct {
  const char *org, *code, *start, *end, *state, *latest;
  size_t deliveries, records, accepted, rejected, warned;
  size_t forwarded, parked, replayed, incomplete;
  const char *rule1, *rule2; /* expected top rules (count 1 each), or NULL */
} expect;

static void check_num(json_t *o, const char *k, size_t want, const char *org) {
  json_t *v = json_object_get(o, k);
  if(!json_is_integer(v) || (size_t)json_integer_value(v) != want)
    fail_msg("%s: %s is %lld, expected %zu", org, k,
             (long long)json_integer_value(v), want);
}

static void check_row(json_t *row, const expect *x) {
  json_t *org = json_object_get(row, "organisation"),
         *per = json_object_get(row, "period"),
         *b = json_object_get(row, "batches"),
         *rules = json_object_get(row, "top_rejection_rules");
  assert_string_equal(json_string_value(json_object_get(org, "name")), x->org);
  assert_string_equal(json_string_value(json_object_get(org, "code")), x->code);
  assert_string_equal(json_string_value(json_object_get(per, "start")),
                      x->start);
  assert_string_equal(json_string_value(json_object_get(per, "end")), x->end);
  assert_string_equal(json_string_value(json_object_get(row, "kind")), "shv");
  assert_string_equal(json_string_value(json_object_get(row, "state")),
                      x->state);
  assert_string_equal(
      json_string_value(json_object_get(row, "latest_delivery_id")), x->latest);
  check_num(row, "deliveries", x->deliveries, x->org);
  check_num(row, "records", x->records, x->org);
  check_num(row, "accepted", x->accepted, x->org);
  check_num(row, "rejected", x->rejected, x->org);
  check_num(row, "warned", x->warned, x->org);
  check_num(b, "forwarded", x->forwarded, x->org);
  check_num(b, "parked", x->parked, x->org);
  check_num(b, "replayed", x->replayed, x->org);
  check_num(row, "incomplete_deliveries", x->incomplete, x->org);
  check_num(row, "in_progress_deliveries", 0, x->org);
  assert_true(json_is_string(json_object_get(row, "last_outcome")));
  assert_int_equal(json_array_size(rules),
                   (x->rule1 != NULL) + (x->rule2 != NULL));
  if(x->rule1) {
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rules, 0), "rule")),
        x->rule1);
    check_num(json_array_get(rules, 0), "count", 1, x->org);
  }
  if(x->rule2) {
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rules, 1), "rule")),
        x->rule2);
    check_num(json_array_get(rules, 1), "count", 1, x->org);
  }
}

/* Records and warnings of deliveries [from, to) of the dataset. */
static size_t sum_rec(const dataset *ds, size_t from, size_t to) {
  size_t n = 0;
  for(; from < to; from++)
    n += ds->d[from].nrec;
  return n;
}

static size_t sum_acc(const dataset *ds, size_t from, size_t to) {
  size_t n = 0;
  for(; from < to; from++)
    n += ds->d[from].accepted;
  return n;
}

/* The generated trajecten carry no warnings in the spec profile (their
 * dates lie within both periods); the receipts must say 0. */

/* The rule id that rejects a negative amount. */
static const char *amount_rule(void) {
  size_t n, i;
  const ddas_rule_info *t = ddas_rule_table(&n);
  for(i = 0; i < n; i++)
    if(strstr(t[i].id, "amount") || strstr(t[i].id, "bedrag"))
      return t[i].id;
  fail_msg("no amount rule in the rule table");
  return NULL;
}

/* Publishes delivery i as chunk "1/2" only, on partition 0. */
static void publish_first_chunk(const scen *s, const dataset *ds, size_t i,
                                const char *id) {
  char err[256];
  size_t len;
  char *body = tu_read(ds->d[i].path, &len);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_headers_t *h = rd_kafka_headers_new(2);
  rd_kafka_t *rk;
  assert_non_null(body);
  rd_kafka_conf_set(conf, "bootstrap.servers", s->km.bootstrap, err,
                    sizeof(err));
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  assert_non_null(rk);
  rd_kafka_header_add(h, "ddas-delivery-id", -1, id, -1);
  rd_kafka_header_add(h, "ddas-chunk", -1, "1/2", -1);
  assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("ddas.deliveries"),
                                     RD_KAFKA_V_PARTITION(0),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_VALUE(body, len),
                                     RD_KAFKA_V_KEY("org-delta", 9),
                                     RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  free(body);
}

static json_t *row_of(json_t *j, const char *org, const char *end) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(j, "rows"), i, r) {
    json_t *o = json_object_get(r, "organisation"),
           *p = json_object_get(r, "period");
    const char *n = json_string_value(json_object_get(o, "name"));
    const char *e = json_string_value(json_object_get(p, "end"));
    if(n && e && !strcmp(n, org) && !strcmp(e, end))
      return r;
  }
  fail_msg("no row for %s ending %s", org, end);
  return NULL;
}

/* No value of a personal-data member of any input file in out. */
static void no_personal_data(const dataset *ds, const char *out,
                             const char *what) {
  size_t i, k;
  for(i = 0; i < ds->n; i++) {
    size_t len, n;
    char *buf = tu_read(ds->d[i].path, &len), *pd[512];
    assert_non_null(buf);
    n = tu_collect_pd(buf, len, pd, 512);
    for(k = 0; k < n; k++) {
      /* the organisation's name is reported on purpose; the generated
       * contact persons, BSNs, birth dates, postcodes are not */
      int org =
          !strcmp(pd[k], "Gemeente Alfa") || !strcmp(pd[k], "Krediet Beta") ||
          !strcmp(pd[k], "Gamma Schuldhulp") || !strcmp(pd[k], "Delta Hulp");
      if(!org && strstr(out, pd[k]))
        fail_msg("personal data '%s' of %s in %s", pd[k], ds->d[i].path, what);
      free(pd[k]);
    }
    free(buf);
  }
}

/* ---- the page in headless Chromium ----------------------------------------
 */

/* The cells of each row of the page's <tbody> (or <tfoot>) as objects
 * {data-col: data-value}, in page order. */
static json_t *page_rows(const char *dom, const char *part) {
  char open[20], close[20];
  const char *p, *end;
  json_t *rows = json_array();
  snprintf(open, sizeof(open), "<%s>", part);
  snprintf(close, sizeof(close), "</%s>", part);
  p = strstr(dom, open);
  end = p ? strstr(p, close) : NULL;
  assert_non_null(end);
  while((p = strstr(p, "<tr")) && p < end) {
    const char *rend = strstr(p, "</tr>");
    json_t *r = json_object();
    assert_non_null(rend);
    while((p = strstr(p, "data-col=\"")) && p < rend) {
      const char *c = p + 10, *ce = strchr(c, '"'), *v, *ve;
      v = strstr(ce, "data-value=\"");
      assert_non_null(v);
      v += 12;
      ve = strchr(v, '"');
      {
        char col[64], val[256];
        snprintf(col, sizeof(col), "%.*s", (int)(ce - c), c);
        snprintf(val, sizeof(val), "%.*s", (int)(ve - v), v);
        json_object_set_new(r, col, json_string(val));
      }
      p = ve;
    }
    json_array_append_new(rows, r);
    p = rend;
  }
  return rows;
}

/* The cell `col` of a page row equals the JSON value v (a number or a
 * string; null: an empty cell). */
static void same(json_t *cells, const char *col, json_t *v, const char *org) {
  const char *cell = json_string_value(json_object_get(cells, col));
  char want[256];
  if(!cell)
    fail_msg("%s: the page has no cell %s", org, col);
  if(json_is_integer(v))
    snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(v));
  else
    snprintf(want, sizeof(want), "%s",
             json_is_string(v) ? json_string_value(v) : "");
  if(strcmp(cell, want))
    fail_msg("%s: the page shows %s = '%s', status --json '%s'", org, col, cell,
             want);
}

static void same_row(json_t *cells, json_t *row, const char *org) {
  static const char *const direct[] = {"state",
                                       "deliveries",
                                       "latest_delivery_id",
                                       "records",
                                       "accepted",
                                       "rejected",
                                       "warned",
                                       "incomplete_deliveries",
                                       "in_progress_deliveries",
                                       "last_outcome",
                                       NULL};
  static const char *const batches[] = {"forwarded", "parked", "replayed",
                                        NULL};
  size_t i;
  for(i = 0; direct[i]; i++)
    same(cells, direct[i], json_object_get(row, direct[i]), org);
  for(i = 0; batches[i]; i++)
    same(cells, batches[i],
         json_object_get(json_object_get(row, "batches"), batches[i]), org);
}

/* Runs headless Chromium on the page: it loads without a console message,
 * a screenshot is taken, and (sorted by accepted records, descending, with
 * the page's own script) every number matches status --json. */
static void check_page(const scen *s) {
  char page[400], shot[500], log[500], url[600], *out = NULL, *dom = NULL;
  json_t *j, *rows, *foot, *jrows;
  size_t i, k;
  int rc;
  long prev = -1;
  snprintf(page, sizeof(page), "%s/status.html", s->sdir);
  snprintf(shot, sizeof(shot), "%s/status.png", s->sdir);
  snprintf(log, sizeof(log), "%s/chromium.log", s->sdir);
  snprintf(url, sizeof(url), "--html '%s'", page);
  assert_int_equal(status(s, url, &out), 1);
  free(out);
  j = status_json(s, "", &rc);
  assert_int_equal(rc, 1);
  /* loads without console messages (errors, uncaught exceptions) */
  assert_int_equal(
      tu_runf(&out,
              "timeout 120 chromium --headless --disable-gpu --no-sandbox "
              "--user-data-dir='%s/chromium' --window-size=1600,1000 "
              "--screenshot='%s' --enable-logging=stderr --v=0 'file://%s' "
              ">/dev/null 2>'%s'",
              s->sdir, shot, page, log),
      0);
  free(out);
  assert_int_equal(tu_runf(&out, "grep -c CONSOLE '%s'", log), 1);
  assert_int_equal(strtol(out, NULL, 10), 0);
  free(out);
  assert_int_equal(
      tu_runf(&out, "head -c 8 '%s' | od -An -c | tr -d ' '", shot), 0);
  assert_non_null(strstr(out, "PNG")); /* a PNG */
  free(out);
  assert_int_equal(tu_runf(&out, "stat -c %%s '%s'", shot), 0);
  assert_true(strtol(out, NULL, 10) > 10000);
  free(out);
  /* the numbers, after the page's script sorted them */
  assert_int_equal(
      tu_runf(&dom,
              "timeout 120 chromium --headless --disable-gpu --no-sandbox "
              "--user-data-dir='%s/chromium' --dump-dom "
              "'file://%s#sort=-accepted' 2>>'%s'",
              s->sdir, page, log),
      0);
  rows = page_rows(dom, "tbody");
  foot = page_rows(dom, "tfoot");
  jrows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), json_array_size(jrows));
  for(i = 0; i < json_array_size(rows); i++) {
    json_t *cells = json_array_get(rows, i), *match = NULL, *r;
    const char *org = json_string_value(json_object_get(cells, "organisation"));
    const char *per = json_string_value(json_object_get(cells, "period"));
    long acc =
        strtol(json_string_value(json_object_get(cells, "accepted")), NULL, 10);
    if(prev >= 0)
      assert_true(acc <= prev); /* sorted by the page's script */
    prev = acc;
    json_array_foreach(jrows, k, r) {
      char p2[100];
      json_t *pp = json_object_get(r, "period");
      snprintf(p2, sizeof(p2), "%s/%s",
               json_string_value(json_object_get(pp, "start")),
               json_string_value(json_object_get(pp, "end")));
      if(!strcmp(json_string_value(json_object_get(
                     json_object_get(r, "organisation"), "name")),
                 org) &&
         !strcmp(p2, per))
        match = r;
    }
    if(!match)
      fail_msg("the page shows a row %s %s that status --json has not", org,
               per);
    same(cells, "code",
         json_object_get(json_object_get(match, "organisation"), "code"), org);
    same_row(cells, match, org);
  }
  assert_int_equal(json_array_size(foot), 1);
  same_row(json_array_get(foot, 0), json_object_get(j, "totals"), "TOTAL");
  assert_non_null(strstr(dom, "<svg id=\"chart\""));
  free(dom);
  json_decref(rows);
  json_decref(foot);
  json_decref(j);
}

static void status_of_a_deadline(void **state) {
  scen s;
  dataset ds;
  unsigned long bsn = 0;
  json_t *j, *tot;
  char *out = NULL;
  int rc;
  const char *H1 = "2024-06-30", *FY = "2024-12-31";
  expect alfa1, alfa2, beta, gamma, delta;
  (void)state;
  scen_start(&s, "status", NULL,
             "retry.max_attempts = 2\nrun.incomplete_after_ms = 3000\n");
  dataset_init(&ds, s.sdir, 7);
  gen_delivery(&ds, 0, K_SINGLE, 0, &bsn);
  gen_delivery(&ds, 1, K_SINGLE, 0, &bsn);
  gen_delivery(&ds, 2, K_MULTI, 0, &bsn);
  gen_delivery(&ds, 3, K_AMOUNT, 0, &bsn);
  gen_delivery(&ds, 4, K_SCHEMA, 0, &bsn);
  gen_delivery(&ds, 5, K_MULTI, 0, &bsn);
  gen_delivery(&ds, 6, K_SINGLE, 0, &bsn);
  retarget(&ds, 0, "Gemeente Alfa", "70000001", H1);
  retarget(&ds, 1, "Gemeente Alfa", "70000001", H1);
  retarget(&ds, 2, "Gemeente Alfa", "70000001", FY);
  retarget(&ds, 3, "Krediet Beta", "70000002", FY);
  retarget(&ds, 4, "Krediet Beta", "70000002", FY);
  retarget(&ds, 5, "Gamma Schuldhulp", "70000003", FY);
  retarget(&ds, 6, "Delta Hulp", "70000004", FY);

  /* nothing yet: no rows, exit 1 */
  j = status_json(&s, "", &rc);
  assert_int_equal(rc, 1);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 0);
  json_decref(j);

  worker_start(&s);
  /* the first delivery of Alfa (H1) and of Beta, then, a second later (the
   * receipts' ce_time counts seconds), the others: which one is the latest
   * of a row is then known whatever order the worker finishes them in */
  submit_range(&s, &ds, 0, 1);
  submit_range(&s, &ds, 3, 4);
  wait_deliveries(&s, 2, 120);
  usleep(1200 * 1000);
  submit_range(&s, &ds, 1, 3);
  submit_range(&s, &ds, 4, 5);
  wait_deliveries(&s, 5, 120);
  /* CBS fails: Gamma's batch is parked after 2 attempts */
  json_decref(stub_call(&s.cbs, "/_plan",
                        "[{\"status\":503},{\"status\":503},{\"status\":503},"
                        "{\"status\":503}]"));
  submit_range(&s, &ds, 5, 6);
  wait_deliveries(&s, 6, 120);
  json_decref(stub_call(&s.cbs, "/_plan", "[]"));
  publish_first_chunk(&s, &ds, 6, "delta-1");
  wait_deliveries(&s, 7, 120);

  memset(&alfa1, 0, sizeof(alfa1));
  alfa1.org = "Gemeente Alfa";
  alfa1.code = "70000001";
  alfa1.start = "2024-01-01";
  alfa1.end = H1;
  alfa1.state = "complete";
  alfa1.latest = ds.d[1].id;
  alfa1.deliveries = 2;
  alfa1.records = alfa1.accepted = sum_rec(&ds, 0, 2);
  alfa1.forwarded = 2;
  alfa2 = alfa1;
  alfa2.end = FY;
  alfa2.latest = ds.d[2].id;
  alfa2.deliveries = 1;
  alfa2.records = alfa2.accepted = sum_rec(&ds, 2, 3);
  alfa2.forwarded = 1;
  beta = alfa2;
  beta.org = "Krediet Beta";
  beta.code = "70000002";
  beta.state = "rejections";
  beta.latest = ds.d[4].id;
  beta.deliveries = 2;
  beta.records = sum_rec(&ds, 3, 5);
  beta.accepted = sum_acc(&ds, 3, 5);
  beta.rejected = beta.records - beta.accepted;
  beta.forwarded = 2;
  beta.rule1 = amount_rule();
  beta.rule2 = "schema";
  if(strcmp(beta.rule1, beta.rule2) > 0) { /* equal counts: by id */
    beta.rule2 = beta.rule1;
    beta.rule1 = "schema";
  }
  gamma = alfa2;
  gamma.org = "Gamma Schuldhulp";
  gamma.code = "70000003";
  gamma.state = "parked batches";
  gamma.latest = ds.d[5].id;
  gamma.records = gamma.accepted = sum_rec(&ds, 5, 6);
  gamma.forwarded = 0;
  gamma.parked = 1;
  delta = alfa2;
  delta.org = "Delta Hulp";
  delta.code = "70000004";
  delta.state = "incomplete";
  delta.latest = "delta-1";
  delta.records = delta.accepted = sum_rec(&ds, 6, 7);
  delta.incomplete = 1;
  assert_int_equal(beta.rejected, 2);

  j = status_json(&s, "", &rc);
  assert_int_equal(rc, 1);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 5);
  check_row(row_of(j, "Gemeente Alfa", H1), &alfa1);
  check_row(row_of(j, "Gemeente Alfa", FY), &alfa2);
  check_row(row_of(j, "Krediet Beta", FY), &beta);
  check_row(row_of(j, "Gamma Schuldhulp", FY), &gamma);
  check_row(row_of(j, "Delta Hulp", FY), &delta);
  tot = json_object_get(j, "totals");
  check_num(tot, "rows", 5, "totals");
  check_num(tot, "complete_rows", 2, "totals");
  check_num(tot, "deliveries", 7, "totals");
  check_num(tot, "records", sum_rec(&ds, 0, 7), "totals");
  check_num(tot, "accepted", sum_rec(&ds, 0, 7) - 2, "totals");
  check_num(tot, "rejected", 2, "totals");
  check_num(json_object_get(tot, "batches"), "forwarded", 6, "totals");
  check_num(json_object_get(tot, "batches"), "parked", 1, "totals");
  check_num(tot, "incomplete_deliveries", 1, "totals");
  assert_string_equal(json_string_value(json_object_get(tot, "state")),
                      "incomplete");
  check_num(json_object_get(j, "events"), "skipped", 0, "events");
  json_decref(j);

  /* filters and the exit status a deadline script waits on */
  j = status_json(&s, "--organisation 'Gemeente Alfa'", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 2);
  json_decref(j);
  j = status_json(&s, "--organisation 70000002", &rc);
  assert_int_equal(rc, 1);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 1);
  json_decref(j);
  j = status_json(&s, "--period 2024-01-01/2024-06-30", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 1);
  json_decref(j);
  assert_int_equal(status(&s, "--period 2024", &out), 2);
  free(out);

  /* the table for a terminal; no personal data anywhere */
  assert_int_equal(status(&s, "", &out), 1);
  assert_non_null(strstr(out, "Krediet Beta"));
  assert_non_null(strstr(out, "parked batches"));
  assert_non_null(strstr(out, "TOTAL"));
  assert_non_null(strstr(out, "2 of 5 rows complete"));
  no_personal_data(&ds, out, "the table");
  free(out);
  /* a progress line on a terminal (script(1) gives it a pty), none in a
   * pipe or file */
  assert_int_equal(tu_runf(&out,
                           "script -qec \"'%s' status -c '%s' >/dev/null\" "
                           "/dev/null",
                           WORKER_BIN, s.conf),
                   1);
  assert_non_null(strstr(out, "reading ddas.receipts"));
  assert_non_null(strstr(out, "reading ddas.failed"));
  assert_non_null(strstr(out, " events"));
  free(out);
  {
    char path[400], *log;
    snprintf(path, sizeof(path), "%s/status.log", s.sdir);
    log = tu_read(path, NULL);
    assert_true(!log || !strstr(log, "reading ddas."));
    free(log);
  }
  tu_runf(&out, "'%s' status -c '%s' --json 2>/dev/null", WORKER_BIN, s.conf);
  no_personal_data(&ds, out, "the JSON");
  free(out);
  check_page(&s);
  {
    char path[400], *page;
    snprintf(path, sizeof(path), "%s/status.html", s.sdir);
    page = tu_read(path, NULL);
    assert_non_null(page);
    no_personal_data(&ds, page, "the page");
    free(page);
  }

  /* CBS is back: replay; Gamma is complete, its batch replayed */
  workers_stop(&s);
  assert_int_equal(run_replay(&s, &out), 0);
  free(out);
  gamma.state = "complete";
  gamma.parked = 0;
  gamma.forwarded = 1;
  gamma.replayed = 1;
  j = status_json(&s, "--organisation 'Gamma Schuldhulp'", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(json_object_get(j, "rows")), 1);
  check_row(json_array_get(json_object_get(j, "rows"), 0), &gamma);
  json_decref(j);
  j = status_json(&s, "", &rc);
  assert_int_equal(rc, 1); /* Beta's rejections and Delta stay */
  check_num(json_object_get(json_object_get(j, "totals"), "batches"),
            "replayed", 1, "totals");
  json_decref(j);
  scen_stop(&s);
  dataset_free(&ds);
}

static int setup(void **state) {
  (void)state;
  fx_fail_hook = fixture_failed;
  return fx_setup("/tmp/ddas-status-XXXXXX");
}

static int teardown(void **state) {
  (void)state;
  return fx_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(status_of_a_deadline),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
