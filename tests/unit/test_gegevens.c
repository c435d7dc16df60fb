/* POST /gegevens, the pure core: every refusal of a request with its
 * problem type and pointer; problem and FSC bodies; the choice of the
 * latest complete delivery per organisation and period; paging plans at
 * their edges; and pages rendered from real batches (the core batcher over
 * config/examples and generated deliveries) that hold every record exactly
 * once, in order, validate against SHV v1.0 / VS v0.9, number their
 * leveringen 1..n, merge a levering cut across batches, and place every VS
 * zaak exactly once, never before its signals. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/ddas.h"
#include "ddas/gegevens.h"
#include "testutil.h"

#define P DDAS_PROBLEM_BASE

/* ---- the request -------------------------------------------------------- */

typedef struct {
  const char *body;
  ddas_kind kind;
  const char *type; /* NULL: accepted */
  const char *pointer;
} req_case;

static const req_case req_cases[] = {
    {"", DDAS_KIND_SHV, NULL, NULL},
    {" \r\n\t", DDAS_KIND_SHV, NULL, NULL},
    {"{}", DDAS_KIND_VS, NULL, NULL},
    {"{\"aanleverperiodeStartdatum\":\"2024-02-29\","
     "\"aanleverperiodeEinddatum\":\"2024-02-29\"}",
     DDAS_KIND_SHV, NULL, NULL},
    {"{\"aanleverperiodeStartdatum\":\"2000-02-29\"}", DDAS_KIND_SHV, NULL,
     NULL},
    {"{\"page\":2.0,\"pageSize\":1e2}", DDAS_KIND_SHV, NULL, NULL},
    {"{\"page\":1000000000}", DDAS_KIND_SHV, NULL, NULL},
    {"{\"pageSize\":25000}", DDAS_KIND_SHV, NULL, NULL},
    {"{\"pageSize\":50000}", DDAS_KIND_VS, NULL, NULL},
    {"{\"aanleverende_organisatie\":\"Gemeente \\u00e9\\\"x\\\"\"}",
     DDAS_KIND_SHV, NULL, NULL},
    /* refusals */
    {"{", DDAS_KIND_SHV, P "invalid-json", ""},
    {"{\"page\":1,}", DDAS_KIND_SHV, P "invalid-json", NULL},
    {"{\"page\":1,\"page\":2}", DDAS_KIND_SHV, P "invalid-json", NULL},
    {"\xef\xbb\xbf{}", DDAS_KIND_SHV, P "invalid-json", NULL},
    {"[]", DDAS_KIND_SHV, P "invalid-body", ""},
    {"1", DDAS_KIND_SHV, P "invalid-body", ""},
    {"null", DDAS_KIND_VS, P "invalid-body", ""},
    {"{\"foo\":1}", DDAS_KIND_SHV, P "unknown-member", "/foo"},
    {"{\"page\":1,\"a/b~\":1}", DDAS_KIND_SHV, P "unknown-member", "/a~1b~0"},
    {"{\"aanleverperiodeStartdatum\":\"2025-02-30\"}", DDAS_KIND_SHV,
     P "invalid-date", "/aanleverperiodeStartdatum"},
    {"{\"aanleverperiodeStartdatum\":\"2023-02-29\"}", DDAS_KIND_SHV,
     P "invalid-date", "/aanleverperiodeStartdatum"},
    {"{\"aanleverperiodeStartdatum\":\"1900-02-29\"}", DDAS_KIND_SHV,
     P "invalid-date", "/aanleverperiodeStartdatum"},
    {"{\"aanleverperiodeStartdatum\":\"2025-1-01\"}", DDAS_KIND_SHV,
     P "invalid-date", "/aanleverperiodeStartdatum"},
    {"{\"aanleverperiodeStartdatum\":20250101}", DDAS_KIND_SHV,
     P "invalid-date", "/aanleverperiodeStartdatum"},
    {"{\"aanleverperiodeEinddatum\":\"2025-13-01\"}", DDAS_KIND_VS,
     P "invalid-date", "/aanleverperiodeEinddatum"},
    {"{\"aanleverperiodeEinddatum\":\"2025-01-01T00:00:00Z\"}", DDAS_KIND_VS,
     P "invalid-date", "/aanleverperiodeEinddatum"},
    {"{\"aanleverperiodeStartdatum\":\"2025-02-01\","
     "\"aanleverperiodeEinddatum\":\"2025-01-31\"}",
     DDAS_KIND_SHV, P "invalid-period", "/aanleverperiodeEinddatum"},
    {"{\"aanleverende_organisatie\":\"\"}", DDAS_KIND_SHV,
     P "invalid-organisation", "/aanleverende_organisatie"},
    {"{\"aanleverende_organisatie\":\"a\\u0000b\"}", DDAS_KIND_SHV,
     P "invalid-organisation", "/aanleverende_organisatie"},
    {"{\"aanleverende_organisatie\":12345678}", DDAS_KIND_SHV,
     P "invalid-organisation", "/aanleverende_organisatie"},
    {"{\"page\":0}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":-1}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":1.5}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":\"1\"}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":true}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":null}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":1000000001}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"page\":1e300}", DDAS_KIND_SHV, P "invalid-page", "/page"},
    {"{\"pageSize\":0}", DDAS_KIND_SHV, P "invalid-page", "/pageSize"},
    {"{\"pageSize\":2.5}", DDAS_KIND_VS, P "invalid-page", "/pageSize"},
    {"{\"pageSize\":[1]}", DDAS_KIND_VS, P "invalid-page", "/pageSize"},
    {"{\"pageSize\":25001}", DDAS_KIND_SHV, P "page-size-too-large",
     "/pageSize"},
    {"{\"pageSize\":50001}", DDAS_KIND_VS, P "page-size-too-large",
     "/pageSize"},
    {"{\"pageSize\":1e30}", DDAS_KIND_VS, P "page-size-too-large", "/pageSize"},
};

static void request_cases(void **state) {
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
    const req_case *c = &req_cases[i];
    ddas_gegevens_request rq;
    ddas_problem pb;
    ddas_result r;
    memset(&pb, 0x5a, sizeof(pb));
    r = ddas_gegevens_request_parse(c->body, strlen(c->body), c->kind, &rq,
                                    &pb);
    if((r == DDAS_OK) != (c->type == NULL) ||
       (c->type && strcmp(pb.type, c->type)) ||
       (c->pointer && strcmp(pb.pointer, c->pointer)))
      fail_msg("case %zu (%s): result %d, type %.96s, pointer %.128s", i,
               c->body, r, r ? pb.type : "-", r ? pb.pointer : "-");
    if(r) {
      assert_int_equal(r, DDAS_ERR_ARG);
      assert_int_equal(pb.status, 400);
      assert_true(pb.title[0] && pb.detail[0]);
      assert_int_equal(rq.page, 0); /* zeroed on refusal */
    }
  }
}

static void request_values(void **state) {
  static const char body[] =
      "{\"aanleverende_organisatie\":\"Gemeente Voorbeeldstad\","
      "\"aanleverperiodeStartdatum\":\"2025-01-01\","
      "\"aanleverperiodeEinddatum\":\"2025-12-31\",\"page\":3,"
      "\"pageSize\":100}";
  ddas_gegevens_request rq;
  ddas_problem pb;
  (void)state;
  assert_int_equal(
      ddas_gegevens_request_parse(body, strlen(body), DDAS_KIND_SHV, &rq, &pb),
      DDAS_OK);
  assert_string_equal(rq.start, "2025-01-01");
  assert_string_equal(rq.end, "2025-12-31");
  assert_string_equal(rq.organisation, "Gemeente Voorbeeldstad");
  assert_true(rq.has_organisation);
  assert_int_equal(rq.page, 3);
  assert_int_equal(rq.page_size, 100);
  assert_true(rq.has_page_size);
  /* defaults: everything, page 1, the kind's maximum */
  assert_int_equal(ddas_gegevens_request_parse(NULL, 0, DDAS_KIND_VS, &rq, &pb),
                   DDAS_OK);
  assert_string_equal(rq.start, "");
  assert_string_equal(rq.end, "");
  assert_false(rq.has_organisation);
  assert_false(rq.has_page_size);
  assert_int_equal(rq.page, 1);
  assert_int_equal(rq.page_size, 50000);
  assert_int_equal(
      ddas_gegevens_request_parse("{}", 2, DDAS_KIND_SHV, &rq, &pb), DDAS_OK);
  assert_int_equal(rq.page_size, 25000);
  /* the organisation: 255 bytes fit, 256 do not */
  {
    char b[400];
    int n =
        snprintf(b, sizeof(b), "{\"aanleverende_organisatie\":\"%0255d\"}", 7);
    assert_int_equal(
        ddas_gegevens_request_parse(b, (size_t)n, DDAS_KIND_SHV, &rq, &pb),
        DDAS_OK);
    assert_int_equal(strlen(rq.organisation), 255);
    n = snprintf(b, sizeof(b), "{\"aanleverende_organisatie\":\"%0256d\"}", 7);
    assert_int_equal(
        ddas_gegevens_request_parse(b, (size_t)n, DDAS_KIND_SHV, &rq, &pb),
        DDAS_ERR_ARG);
    assert_string_equal(pb.type, P "invalid-organisation");
  }
  /* another kind than SHV or VS is the caller's mistake */
  assert_int_equal(
      ddas_gegevens_request_parse("{}", 2, DDAS_KIND_UNKNOWN, &rq, &pb),
      DDAS_ERR_ARG);
}

static void request_limits_and_details(void **state) {
  size_t n = DDAS_GEGEVENS_REQUEST_MAX + 1;
  char *big = malloc(n);
  ddas_gegevens_request rq;
  ddas_problem pb;
  static const char bad_date[] =
      "{\"aanleverperiodeStartdatum\":\"2031-02-30\"}",
                    bad_org[] = "{\"aanleverende_organisatie\":\"\\u0001Geheim "
                                "Bedrijf\"}",
                    typo[] = "{\"pageSzie\":10}";
  (void)state;
  /* over 64 KiB: refused unread (the bytes are not even JSON) */
  memset(big, 'x', n);
  assert_int_equal(ddas_gegevens_request_parse(big, n, DDAS_KIND_SHV, &rq, &pb),
                   DDAS_ERR_ARG);
  assert_string_equal(pb.type, P "request-too-large");
  assert_string_equal(pb.pointer, "");
  /* 64 KiB of white space and an object is still a request */
  memset(big, ' ', n);
  big[n - 3] = '{';
  big[n - 2] = '}';
  assert_int_equal(
      ddas_gegevens_request_parse(big, n - 1, DDAS_KIND_SHV, &rq, &pb),
      DDAS_OK);
  free(big);
  /* details name the member and say what to send, never the value */
  assert_int_equal(ddas_gegevens_request_parse(bad_date, strlen(bad_date),
                                               DDAS_KIND_SHV, &rq, &pb),
                   DDAS_ERR_ARG);
  assert_null(strstr(pb.detail, "2031"));
  assert_non_null(strstr(pb.detail, "aanleverperiodeStartdatum"));
  assert_non_null(strstr(pb.detail, "YYYY-MM-DD"));
  assert_int_equal(ddas_gegevens_request_parse(bad_org, strlen(bad_org),
                                               DDAS_KIND_SHV, &rq, &pb),
                   DDAS_ERR_ARG);
  assert_null(strstr(pb.detail, "Geheim"));
  /* an unknown member gets a hint */
  assert_int_equal(
      ddas_gegevens_request_parse(typo, strlen(typo), DDAS_KIND_SHV, &rq, &pb),
      DDAS_ERR_ARG);
  assert_string_equal(pb.pointer, "/pageSzie");
  assert_non_null(strstr(pb.detail, "did you mean pageSize?"));
  /* pageSize too large names the kind's maximum */
  assert_int_equal(ddas_gegevens_request_parse("{\"pageSize\":30000}", 18,
                                               DDAS_KIND_SHV, &rq, &pb),
                   DDAS_ERR_ARG);
  assert_non_null(strstr(pb.detail, "25000"));
}

/* ---- problem and FSC bodies --------------------------------------------- */

static const ddas_json *member(const ddas_json *o, const char *k) {
  const ddas_json *v = ddas_json_get(o, k);
  assert_non_null(v);
  return v;
}

static int str_eq(const ddas_json *v, const char *s) {
  return v->type == DDAS_JSON_STRING && v->n == strlen(s) &&
         memcmp(v->u.str, s, v->n) == 0;
}

static void problem_bodies(void **state) {
  ddas_problem pb;
  ddas_json_doc *doc;
  const ddas_json *root;
  char *out;
  size_t len;
  (void)state;
  memset(&pb, 0, sizeof(pb));
  pb.status = 400;
  snprintf(pb.type, sizeof(pb.type), P "invalid-page");
  snprintf(pb.title, sizeof(pb.title), "Ongeldige paginering");
  snprintf(pb.detail, sizeof(pb.detail), "a \"quote\", a \\ and a\ttab\x01");
  snprintf(pb.pointer, sizeof(pb.pointer), "/page");
  assert_int_equal(ddas_problem_json(&pb, "/gegevens?x=\xff\xfe", &out, &len),
                   DDAS_OK);
  assert_int_equal(strlen(out), len);
  assert_int_equal(ddas_json_parse(out, len, NULL, &doc, NULL), DDAS_OK);
  root = ddas_json_root(doc);
  assert_int_equal(root->n, 6);
  /* member order: type, title, status, detail, instance, pointer */
  assert_memory_equal(root->u.members[0].key, "type", 4);
  assert_memory_equal(root->u.members[2].key, "status", 6);
  assert_memory_equal(root->u.members[5].key, "pointer", 7);
  assert_true(str_eq(member(root, "type"), P "invalid-page"));
  assert_true(member(root, "status")->u.num == 400);
  assert_true(
      str_eq(member(root, "detail"), "a \"quote\", a \\ and a\ttab\x01"));
  /* invalid UTF-8 from the caller becomes U+FFFD, never invalid JSON */
  assert_true(
      str_eq(member(root, "instance"), "/gegevens?x=\xef\xbf\xbd\xef\xbf\xbd"));
  assert_true(str_eq(member(root, "pointer"), "/page"));
  ddas_json_doc_free(doc);
  ddas_free(out);
  /* no instance, no pointer: four members */
  pb.pointer[0] = '\0';
  assert_int_equal(ddas_problem_json(&pb, NULL, &out, &len), DDAS_OK);
  assert_int_equal(ddas_json_parse(out, len, NULL, &doc, NULL), DDAS_OK);
  assert_int_equal(ddas_json_root(doc)->n, 4);
  ddas_json_doc_free(doc);
  ddas_free(out);
  /* no-data */
  ddas_gegevens_no_data(&pb);
  assert_int_equal(pb.status, 404);
  assert_string_equal(pb.type, P "no-data");
}

static void fsc_bodies(void **state) {
  char *out;
  size_t len;
  static const char want[] =
      "{\"code\":\"ERROR_CODE_ACCESS_TOKEN_INVALID\",\"domain\":\"ERROR_DOMAIN_"
      "INWAY\",\"title\":\"Ongeldige access token\",\"detail\":\"De token is "
      "\\\"verlopen\\\"\",\"status\":401}";
  (void)state;
  assert_int_equal(ddas_fsc_error_json("ERROR_CODE_ACCESS_TOKEN_INVALID", 401,
                                       "Ongeldige access token",
                                       "De token is \"verlopen\"", &out, &len),
                   DDAS_OK);
  assert_int_equal(len, strlen(want));
  assert_string_equal(out, want);
  ddas_free(out);
  assert_int_equal(ddas_fsc_error_json("ERROR_CODE_SERVICE_NOT_FOUND", 404,
                                       NULL, NULL, &out, &len),
                   DDAS_OK);
  assert_string_equal(out, "{\"code\":\"ERROR_CODE_SERVICE_NOT_FOUND\","
                           "\"domain\":\"ERROR_DOMAIN_INWAY\",\"status\":404}");
  ddas_free(out);
  assert_int_equal(ddas_fsc_error_json(NULL, 401, NULL, NULL, &out, &len),
                   DDAS_ERR_ARG);
  assert_null(out);
}

/* ---- selection ------------------------------------------------------------
 */

static void instants(void **state) {
  (void)state;
  assert_true(ddas_instant_cmp("2025-01-01T10:00:00+01:00",
                               "2025-01-01T09:30:00Z") < 0);
  assert_true(ddas_instant_cmp("2025-01-01T10:00:00+01:00",
                               "2025-01-01T09:00:00Z") == 0);
  assert_true(ddas_instant_cmp("2025-01-01T00:30:00-01:00",
                               "2025-01-01T01:00:00+00:00") > 0);
  assert_true(ddas_instant_cmp("2025-01-01T09:30:00.5Z",
                               "2025-01-01T09:30:00.49999Z") > 0);
  assert_true(ddas_instant_cmp("2025-01-01T09:30:00.100Z",
                               "2025-01-01T09:30:00.1Z") == 0);
  assert_true(ddas_instant_cmp("2024-12-31t23:59:59z", "2025-01-01T00:00:00Z") <
              0);
  /* across a leap day */
  assert_true(ddas_instant_cmp("2024-02-29T23:00:00-02:00",
                               "2024-03-01T00:59:59Z") > 0);
  /* unparsable: earliest, and equal to each other */
  assert_true(ddas_instant_cmp("yesterday", "1970-01-01T00:00:00Z") < 0);
  assert_true(ddas_instant_cmp(NULL, "0001-01-01T00:00:00Z") < 0);
  assert_true(ddas_instant_cmp("2025-02-30T00:00:00Z", NULL) == 0);
}

#define SHV DDAS_KIND_SHV
#define VS DDAS_KIND_VS

/* kind, id, org name, code, start, end, delivered_at, code, records,
 * batches, complete */
static const ddas_served_delivery served[] = {
    {SHV, "d1", "Org A", "111", "2025-01-01", "2025-03-31",
     "2025-04-01T10:00:00+01:00", "Soft 1", 10, 1, 1},
    /* later as an instant than d1 (09:30Z > 09:00Z), fewer records */
    {SHV, "d0", "Org A", "111", "2025-01-01", "2025-03-31",
     "2025-04-01T09:30:00Z", "Soft 2", 5, 1, 1},
    /* the latest, but not complete */
    {SHV, "d9", "Org A", "111", "2025-01-01", "2025-03-31",
     "2025-05-01T00:00:00Z", "Soft 3", 5, 1, 0},
    /* the latest, but VS */
    {VS, "v1", "Org A", "111", "2025-01-01", "2025-03-31",
     "2025-06-01T00:00:00Z", "Soft 4", 5, 1, 1},
    {SHV, "f1", "Org B", "222", "2025-04-01", "2025-06-30",
     "2025-07-01T00:00:00Z", "Soft 5", 3, 1, 1},
    /* greater id, but its time is not a time: earliest */
    {SHV, "f9", "Org B", "222", "2025-04-01", "2025-06-30", "soon", "Soft 6", 3,
     1, 1},
    {SHV, "g1", "Org A", "111", "2025-04-01", "2025-06-30",
     "2025-07-02T00:00:00Z", "Soft 7", 4, 1, 1},
    /* the same instant as g1: the greater id wins */
    {SHV, "g2", "Org A", "111", "2025-04-01", "2025-06-30",
     "2025-07-02T02:00:00+02:00", "Soft 8", 4, 1, 1},
    /* another code is another group */
    {SHV, "h1", "Org A", "333", "2025-04-01", "2025-06-30",
     "2025-07-02T00:00:00Z", "Soft 9", 1, 1, 1},
};
#define NSERVED (sizeof(served) / sizeof(served[0]))

/* The ids chosen for a request, joined with ',' into out. */
static void select_ids(const ddas_served_delivery *all, size_t n,
                       ddas_kind kind, const char *body, char *out,
                       size_t cap) {
  ddas_gegevens_request rq;
  ddas_problem pb;
  size_t idx[32], k, i;
  assert_int_equal(
      ddas_gegevens_request_parse(body, strlen(body), kind, &rq, &pb), DDAS_OK);
  assert_int_equal(ddas_gegevens_select(all, n, kind, &rq, idx, &k), DDAS_OK);
  out[0] = '\0';
  for(i = 0; i < k; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
             all[idx[i]].delivery_id);
}

static void selection(void **state) {
  static const struct {
    ddas_kind kind;
    const char *request, *want;
  } cases[] = {
      {SHV, "{}", "d0,g2,h1,f1"},
      {VS, "{}", "v1"},
      {SHV, "{\"aanleverperiodeStartdatum\":\"2025-04-01\"}", "g2,h1,f1"},
      {SHV,
       "{\"aanleverperiodeStartdatum\":\"2025-01-01\","
       "\"aanleverperiodeEinddatum\":\"2025-06-29\"}",
       "d0"},
      {SHV,
       "{\"aanleverperiodeStartdatum\":\"2025-01-02\","
       "\"aanleverperiodeEinddatum\":\"2025-06-30\"}",
       "g2,h1,f1"},
      /* by name and by code, byte for byte */
      {SHV, "{\"aanleverende_organisatie\":\"Org A\"}", "d0,g2,h1"},
      {SHV, "{\"aanleverende_organisatie\":\"222\"}", "f1"},
      {SHV, "{\"aanleverende_organisatie\":\"333\"}", "h1"},
      {SHV, "{\"aanleverende_organisatie\":\"org a\"}", ""},
  };
  char ids[256];
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    select_ids(served, NSERVED, cases[i].kind, cases[i].request, ids,
               sizeof(ids));
    if(strcmp(ids, cases[i].want))
      fail_msg("case %zu: %s chose \"%s\", not \"%s\"", i, cases[i].request,
               ids, cases[i].want);
  }
  select_ids(served, 0, SHV, "{}", ids, sizeof(ids));
  assert_string_equal(ids, "");
}

static void selection_order_independent(void **state) {
  ddas_served_delivery shuffled[NSERVED];
  char want[256], got[256];
  unsigned long long seed = 12345;
  size_t round, i;
  (void)state;
  select_ids(served, NSERVED, SHV, "{}", want, sizeof(want));
  for(round = 0; round < 200; round++) {
    memcpy(shuffled, served, sizeof(served));
    for(i = NSERVED - 1; i > 0; i--) {
      size_t j;
      ddas_served_delivery t;
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      j = (size_t)(seed >> 33) % (i + 1);
      t = shuffled[i];
      shuffled[i] = shuffled[j];
      shuffled[j] = t;
    }
    select_ids(shuffled, NSERVED, SHV, "{}", got, sizeof(got));
    assert_string_equal(got, want);
  }
}

static void envelope_of_answer(void **state) {
  ddas_gegevens_request rq;
  ddas_problem pb;
  ddas_page_envelope env;
  size_t idx[NSERVED], k;
  (void)state;
  assert_int_equal(ddas_gegevens_request_parse("{}", 2, SHV, &rq, &pb),
                   DDAS_OK);
  assert_int_equal(ddas_gegevens_select(served, NSERVED, SHV, &rq, idx, &k),
                   DDAS_OK);
  ddas_gegevens_envelope(served, idx, k, &env);
  assert_string_equal(env.start, "2025-01-01");
  assert_string_equal(env.end, "2025-06-30");
  /* g2 and h1 share the latest instant: the greater id, h1, is the latest */
  assert_string_equal(env.delivered_at, "2025-07-02T00:00:00Z");
  assert_string_equal(env.code, "Soft 9");
  ddas_gegevens_envelope(served, idx, 0, &env);
  assert_null(env.start);
  assert_null(env.code);
}

/* ---- paging plans ------------------------------------------------------- */

static void plan_ok(const size_t *b, size_t nb, size_t page, size_t ps,
                    ddas_page_plan *p) {
  ddas_problem pb;
  assert_int_equal(ddas_gegevens_plan(b, nb, page, ps, p, &pb), DDAS_OK);
}

static void plan_edges(void **state) {
  static const size_t none[] = {0, 0}, b77[] = {7, 7}, b10[] = {10, 10};
  size_t huge[] = {SIZE_MAX / 2, SIZE_MAX / 2}, over[] = {SIZE_MAX, 1};
  ddas_page_plan p;
  ddas_problem pb;
  size_t from, to;
  (void)state;
  /* no records: one page, not paginated */
  plan_ok(NULL, 0, 1, 25000, &p);
  assert_int_equal(p.total_records, 0);
  assert_int_equal(p.total_pages, 1);
  assert_false(p.paginated);
  assert_int_equal(p.nrecords, 0);
  plan_ok(none, 2, 1, 5, &p);
  assert_int_equal(p.total_pages, 1);
  assert_int_equal(ddas_page_plan_range(&p, none, 0, &from, &to), 0);
  assert_int_equal(ddas_gegevens_plan(none, 2, 2, 5, &p, &pb), DDAS_ERR_ARG);
  assert_string_equal(pb.type, P "page-out-of-range");
  assert_string_equal(pb.pointer, "/page");
  assert_non_null(strstr(pb.detail, "from 1 to 1"));
  /* an exact multiple: 20 records at 5 a page */
  plan_ok(b10, 2, 2, 5, &p);
  assert_int_equal(p.total_pages, 4);
  assert_true(p.paginated);
  assert_int_equal(p.first_batch, 0);
  assert_int_equal(p.first_offset, 5);
  assert_int_equal(p.last_batch, 0);
  assert_int_equal(p.last_end, 10);
  plan_ok(b10, 2, 3, 5, &p);
  assert_int_equal(p.first_batch, 1);
  assert_int_equal(p.first_offset, 0);
  assert_int_equal(p.last_end, 5);
  plan_ok(b10, 2, 1, 20, &p);
  assert_int_equal(p.total_pages, 1);
  assert_false(p.paginated);
  assert_int_equal(p.nrecords, 20);
  /* across a batch cut, and the last partial page */
  plan_ok(b77, 2, 2, 5, &p);
  assert_int_equal(p.total_pages, 3);
  assert_int_equal(ddas_page_plan_range(&p, b77, 0, &from, &to), 1);
  assert_int_equal(from, 5);
  assert_int_equal(to, 7);
  assert_int_equal(ddas_page_plan_range(&p, b77, 1, &from, &to), 1);
  assert_int_equal(from, 0);
  assert_int_equal(to, 3);
  plan_ok(b77, 2, 3, 5, &p);
  assert_int_equal(p.nrecords, 4);
  assert_int_equal(ddas_page_plan_range(&p, b77, 0, &from, &to), 0);
  assert_int_equal(ddas_page_plan_range(&p, b77, 1, &from, &to), 1);
  assert_int_equal(from, 3);
  assert_int_equal(to, 7);
  assert_int_equal(ddas_gegevens_plan(b77, 2, 4, 5, &p, &pb), DDAS_ERR_ARG);
  assert_non_null(strstr(pb.detail, "3 pages"));
  assert_int_equal(p.total_pages, 0); /* zeroed */
  /* page 0, pageSize 0 */
  assert_int_equal(ddas_gegevens_plan(b77, 2, 0, 5, &p, &pb), DDAS_ERR_ARG);
  assert_string_equal(pb.type, P "invalid-page");
  assert_int_equal(ddas_gegevens_plan(b77, 2, 1, 0, &p, &pb), DDAS_ERR_ARG);
  assert_string_equal(pb.pointer, "/pageSize");
  /* huge values */
  plan_ok(b77, 2, 1, SIZE_MAX, &p);
  assert_int_equal(p.total_pages, 1);
  assert_int_equal(p.nrecords, 14);
  assert_int_equal(ddas_gegevens_plan(b77, 2, SIZE_MAX, SIZE_MAX, &p, &pb),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_gegevens_plan(b77, 2, SIZE_MAX, 1, &p, &pb),
                   DDAS_ERR_ARG);
  plan_ok(huge, 2, SIZE_MAX - 1, 1, &p);
  assert_int_equal(p.total_pages, SIZE_MAX - 1);
  assert_int_equal(p.first_batch, 1);
  assert_int_equal(p.first_offset, SIZE_MAX / 2 - 1);
  assert_int_equal(p.last_end, SIZE_MAX / 2);
  plan_ok(huge, 2, 2, SIZE_MAX / 2 + 1, &p);
  assert_int_equal(p.nrecords, SIZE_MAX / 2 - 1);
  assert_int_equal(p.first_batch, 1);
  assert_int_equal(p.first_offset, 1);
  assert_int_equal(ddas_gegevens_plan(over, 2, 1, 1, &p, &pb), DDAS_ERR_LIMIT);
  assert_int_equal(pb.status, 500);
}

/* Every record of random answers is on exactly one page, in order. */
static void plan_covers_every_record_once(void **state) {
  unsigned long long seed = 99;
  size_t round;
  (void)state;
  for(round = 0; round < 300; round++) {
    size_t b[6], nb, i, total = 0, ps, page, next = 0;
    ddas_page_plan p;
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    nb = (size_t)(seed >> 60) % 6 + 1;
    for(i = 0; i < nb; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      b[i] = (size_t)(seed >> 40) % 9; /* some batches empty */
      total += b[i];
    }
    ps = (size_t)(seed >> 20) % 12 + 1;
    for(page = 1;; page++) {
      ddas_problem pb;
      size_t cum = 0, got = 0, from, to;
      if(ddas_gegevens_plan(b, nb, page, ps, &p, &pb)) {
        assert_string_equal(pb.type, P "page-out-of-range");
        break;
      }
      for(i = 0; i < nb; cum += b[i], i++) {
        if(!ddas_page_plan_range(&p, b, i, &from, &to))
          continue;
        assert_true(to <= b[i]);
        assert_int_equal(cum + from, next); /* in order, no gap, no repeat */
        next = cum + to;
        got += to - from;
      }
      assert_int_equal(got, p.nrecords);
      assert_true(got <= ps);
      assert_int_equal(p.paginated, p.total_pages > 1);
    }
    assert_int_equal(next, total);
    assert_int_equal(page - 1, total ? (total + ps - 1) / ps : 1);
  }
}

/* ---- pages from real batches -------------------------------------------- */

typedef struct {
  char *body;
  size_t len, records;
  const char *group;
} stored;

typedef struct {
  stored b[64];
  size_t n;
} answer;

/* Validates a delivery (every normalisation) and adds its batches of at
 * most max_records records (0: the kind's maximum) to the answer, as the
 * worker would store them. */
static void add_delivery(answer *a, const char *path_or_doc, int is_path,
                         const char *group, size_t max_records) {
  ddas_validate_result res;
  ddas_ruleset rs;
  ddas_batch b[64];
  char *buf;
  size_t len, n, i;
  if(is_path) {
    buf = tu_read(path_or_doc, &len);
  } else {
    len = strlen(path_or_doc);
    buf = malloc(len);
    memcpy(buf, path_or_doc, len);
  }
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  assert_int_equal(tu_validate(buf, len, &rs, DDAS_KIND_UNKNOWN, NULL, 1, &res),
                   DDAS_OK);
  assert_true(res.valid);
  n = tu_batches(&res, group, max_records, 0, b, 64);
  assert_true(n != SIZE_MAX && a->n + n <= 64);
  for(i = 0; i < n; i++) {
    stored *s = &a->b[a->n++];
    s->body = malloc(b[i].len);
    memcpy(s->body, b[i].body, b[i].len);
    s->len = b[i].len;
    s->records = b[i].records;
    s->group = group;
    ddas_batch_clear(&b[i]);
  }
  ddas_validate_result_clear(&res);
  free(buf);
}

static void answer_free(answer *a) {
  size_t i;
  for(i = 0; i < a->n; i++)
    free(a->b[i].body);
  a->n = 0;
}

static const ddas_page_envelope shv_env = {"2024-01-01", "2024-12-31",
                                           "2025-01-16T08:00:00Z", "Test 1.0"};
static const ddas_page_envelope vs_env = {"2025-01-01", "2025-01-31",
                                          "2025-02-05T10:30:00Z", "SOFT-123"};

/* Page `page` of the answer at `ps` a page; NULL when the page is past the
 * last. */
static char *render(const answer *a, ddas_kind kind, size_t page, size_t ps,
                    ddas_page_plan *plan, size_t *len) {
  size_t rec[64], i, from, to;
  ddas_page_writer *w;
  ddas_problem pb;
  char *out;
  for(i = 0; i < a->n; i++)
    rec[i] = a->b[i].records;
  if(ddas_gegevens_plan(rec, a->n, page, ps, plan, &pb))
    return NULL;
  assert_int_equal(
      ddas_page_writer_new(kind, kind == SHV ? &shv_env : &vs_env, &w),
      DDAS_OK);
  for(i = 0; i < a->n; i++)
    if(ddas_page_plan_range(plan, rec, i, &from, &to))
      assert_int_equal(ddas_page_writer_add_batch(w, a->b[i].body, a->b[i].len,
                                                  from, to, a->b[i].group),
                       DDAS_OK);
  assert_int_equal(ddas_page_writer_records(w), plan->nrecords);
  assert_int_equal(ddas_page_writer_finish(w, plan, page, &out, len), DDAS_OK);
  ddas_page_writer_free(w);
  return out;
}

typedef struct {
  const char *p;
  size_t n;
  int used;
  char ids[8][16]; /* VS zaak: the signal IDs it refers to */
  size_t nids;
} span;

typedef struct {
  span *s;
  size_t n, cap;
} spans;

static void spans_add(spans *l, const char *buf, const ddas_json *v) {
  if(l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->s = realloc(l->s, l->cap * sizeof(*l->s));
  }
  memset(&l->s[l->n], 0, sizeof(l->s[0]));
  l->s[l->n].p = buf + v->start;
  l->s[l->n].n = v->end - v->start;
  l->n++;
}

/* The records (and VS zaken) of every leveringen array under `root`, as
 * spans of buf, in order. */
static void collect(ddas_kind kind, const char *buf, const ddas_json *root,
                    spans *recs, spans *zaken) {
  const ddas_json *levs = member(root, "leveringen");
  size_t i, j, k;
  for(i = 0; i < levs->n; i++) {
    const ddas_json *lev = &levs->u.items[i],
                    *r = member(lev, kind == SHV ? "schuldhulptrajecten"
                                                 : "vroegsignalen"),
                    *z = ddas_json_get(lev, "vroegsignaalzaken");
    for(j = 0; j < r->n; j++)
      spans_add(recs, buf, &r->u.items[j]);
    for(j = 0; zaken && z && j < z->n; j++) {
      const ddas_json *refs = member(&z->u.items[j], "vroegsignalen");
      span *s;
      spans_add(zaken, buf, &z->u.items[j]);
      s = &zaken->s[zaken->n - 1];
      for(k = 0; k < refs->n && k < 8; k++) {
        const ddas_json *id = member(&refs->u.items[k], "ID");
        snprintf(s->ids[k], sizeof(s->ids[k]), "%.*s", (int)id->n, id->u.str);
      }
      s->nids = k;
    }
  }
}

/* The page's document is valid: schema and spec rules without errors.
 * One exception, inherent in paging VS: a zaak goes on the page of the last
 * of its signals, so on a page after the first a zaak may refer to a
 * signal of an earlier page, which rule vs.zaak.ref (a zaak refers to
 * signals of its own levering) reports within one document; page_through
 * checks that each such signal is indeed on an earlier page. An answer of
 * one page has no such exception. */
static void validate_page(ddas_kind kind, const char *buf,
                          const ddas_json *gegevens, int paginated) {
  ddas_validate_result r;
  ddas_ruleset rs;
  size_t i;
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  assert_int_equal(tu_validate(buf + gegevens->start,
                               gegevens->end - gegevens->start, &rs, kind,
                               kind == SHV ? "1.0" : "0.9", 0, &r),
                   DDAS_OK);
  assert_int_equal(r.findings.dropped, 0);
  for(i = 0; i < r.findings.count; i++) {
    const ddas_finding *f = &r.findings.items[i];
    if(f->severity != DDAS_SEV_ERROR ||
       (kind == VS && paginated && strcmp(f->rule, "vs.zaak.ref") == 0))
      continue;
    fail_msg("page invalid: %s: %s at %s", f->rule, f->message, f->pointer);
  }
  ddas_validate_result_clear(&r);
}

/* Where a VS signal ID was first seen while paging. */
typedef struct {
  char id[16];
  size_t page;
} seen_signal;

static size_t seen_page(const seen_signal *seen, size_t n, const char *id) {
  size_t i;
  for(i = 0; i < n; i++)
    if(strcmp(seen[i].id, id) == 0)
      return seen[i].page;
  return 0;
}

/* Pages through the answer at `ps` a page: every page is valid, tellers
 * 1..n, paginering as planned; the records of all pages are those of the
 * batches, once each, in order; VS: every zaak of the batches is on
 * exactly one page, the page of the last of its signals. Returns the
 * number of pages. */
static size_t page_through(const answer *a, ddas_kind kind, size_t ps) {
  spans want = {0}, wzaken = {0};
  seen_signal seen[256];
  size_t nseen = 0, next = 0, page, i, j, k, nb;
  ddas_json_doc *bdocs[64];
  for(i = 0; i < a->n; i++) {
    assert_int_equal(
        ddas_json_parse(a->b[i].body, a->b[i].len, NULL, &bdocs[i], NULL),
        DDAS_OK);
    collect(kind, a->b[i].body, ddas_json_root(bdocs[i]), &want, &wzaken);
  }
  nb = a->n;
  for(page = 1;; page++) {
    ddas_page_plan plan;
    size_t len;
    char *buf = render(a, kind, page, ps, &plan, &len);
    ddas_json_doc *doc;
    const ddas_json *root, *g, *levs, *pg;
    spans got = {0}, gz = {0};
    if(!buf)
      break;
    assert_int_equal(ddas_json_parse(buf, len, NULL, &doc, NULL), DDAS_OK);
    root = ddas_json_root(doc);
    g = member(root, "gegevens");
    validate_page(kind, buf, g, plan.paginated);
    assert_true(str_eq(member(g, "startdatumLevering"),
                       kind == SHV ? shv_env.start : vs_env.start));
    pg = ddas_json_get(root, "paginering");
    assert_int_equal(pg != NULL, plan.paginated);
    if(pg) {
      assert_true(member(pg, "pageSize")->u.num == (double)ps);
      assert_true(member(pg, "currentPage")->u.num == (double)page);
      assert_true(member(pg, "totalPages")->u.num == (double)plan.total_pages);
      assert_true(member(pg, "totalRecords")->u.num == (double)want.n);
    }
    levs = member(g, "leveringen");
    for(i = 0; i < levs->n; i++)
      assert_true(member(&levs->u.items[i], "teller")->u.num ==
                  (double)(i + 1));
    collect(kind, buf, g, &got, &gz);
    assert_true(got.n <= ps);
    for(i = 0; i < got.n; i++, next++) {
      assert_true(next < want.n);
      assert_int_equal(got.s[i].n, want.s[next].n);
      assert_memory_equal(got.s[i].p, want.s[next].p, got.s[i].n);
    }
    if(kind == VS) {
      /* the signals of this page, then its zaken */
      for(i = 0; i < levs->n; i++) {
        const ddas_json *sig = member(&levs->u.items[i], "vroegsignalen");
        for(j = 0; j < sig->n; j++) {
          const ddas_json *id = member(&sig->u.items[j], "ID");
          snprintf(seen[nseen].id, sizeof(seen[nseen].id), "%.*s", (int)id->n,
                   id->u.str);
          seen[nseen++].page = page;
        }
      }
      for(i = 0; i < gz.n; i++) {
        size_t last = 0;
        for(k = 0; k < gz.s[i].nids; k++) {
          size_t p = seen_page(seen, nseen, gz.s[i].ids[k]);
          assert_true(p >= 1 && p <= page); /* never before its signals */
          if(p > last)
            last = p;
        }
        assert_int_equal(last, page); /* with the last of them */
        for(k = 0; k < wzaken.n; k++)
          if(!wzaken.s[k].used && wzaken.s[k].n == gz.s[i].n &&
             memcmp(wzaken.s[k].p, gz.s[i].p, gz.s[i].n) == 0)
            break;
        assert_true(k < wzaken.n); /* a zaak of the batches, not yet seen */
        wzaken.s[k].used = 1;
      }
    }
    free(got.s);
    free(gz.s);
    ddas_json_doc_free(doc);
    ddas_free(buf);
  }
  assert_int_equal(next, want.n);
  for(k = 0; k < wzaken.n; k++)
    assert_true(wzaken.s[k].used);
  for(i = 0; i < nb; i++)
    ddas_json_doc_free(bdocs[i]);
  free(want.s);
  free(wzaken.s);
  return page - 1;
}

#define EX SOURCE_DIR "/config/examples/"

/* Three SHV deliveries, cut small so that leveringen span batches. */
static void shv_answer(answer *a, size_t scale) {
  memset(a, 0, sizeof(*a));
  add_delivery(a, EX "shv-v1.0-meervoudig.json", 1, "d-meervoudig",
               scale ? 1 * scale : 0);
  add_delivery(a, EX "shv-v1.0-samenloop-deel1.json", 1, "d-samenloop",
               scale ? 2 * scale : 0);
  add_delivery(a, EX "shv-v0.10-enkelvoudig.json", 1, "d-v010", 0);
}

static void shv_pages(void **state) {
  static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 25000};
  answer a;
  size_t i;
  (void)state;
  shv_answer(&a, 1);
  assert_true(a.n >= 12); /* 10 + 3 + 1 batches */
  for(i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t pages = page_through(&a, SHV, sizes[i]);
    assert_int_equal(pages, (16 + sizes[i] - 1) / sizes[i]);
  }
  answer_free(&a);
}

/* One page of the answer from batches cut after every record (or two) is
 * byte for byte the page from uncut batches: a levering cut across
 * batches is one levering again. */
static void shv_merges_leveringen_across_cuts(void **state) {
  answer cut, whole;
  ddas_page_plan p1, p2;
  size_t l1, l2;
  char *b1, *b2;
  ddas_json_doc *doc;
  const ddas_json *levs;
  (void)state;
  shv_answer(&cut, 1);
  shv_answer(&whole, 0);
  assert_int_equal(whole.n, 3);
  b1 = render(&cut, SHV, 1, 25000, &p1, &l1);
  b2 = render(&whole, SHV, 1, 25000, &p2, &l2);
  assert_false(p1.paginated);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);
  /* and that page has the batches' leveringen: meervoudig's 9 (N6: one per
   * gemeentecode, GM002 twice), samenloop's 1, v0.10's 1 */
  assert_int_equal(ddas_json_parse(b1, l1, NULL, &doc, NULL), DDAS_OK);
  levs = member(member(ddas_json_root(doc), "gegevens"), "leveringen");
  assert_int_equal(levs->n, 11);
  assert_int_equal(member(&levs->u.items[0], "schuldhulptrajecten")->n, 2);
  assert_int_equal(member(&levs->u.items[9], "schuldhulptrajecten")->n, 5);
  assert_null(ddas_json_get(ddas_json_root(doc), "paginering"));
  ddas_json_doc_free(doc);
  /* the same input, the same bytes */
  ddas_free(b2);
  b2 = render(&cut, SHV, 1, 25000, &p2, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);
  ddas_free(b1);
  ddas_free(b2);
  answer_free(&cut);
  answer_free(&whole);
}

/* A VS delivery of 12 signals in one levering; zaken refer to one or more
 * signals, not in signal order. */
static char *vs_doc(void) {
  static const char *const zaken[] = {
      "VS-1",
      "VS-2\"},{\"ID\":\"VS-5",
      "VS-7\"},{\"ID\":\"VS-3",
      "VS-12",
      "VS-9\"},{\"ID\":\"VS-11\"},{\"ID\":\"VS-10",
      "VS-6"};
  size_t cap = 20000, w = 0, i;
  char *b = malloc(cap);
  w += (size_t)snprintf(
      b + w, cap - w,
      "{\"codeGegevensleverancier\":\"SOFT-123\",\"startdatumLevering\":"
      "\"2025-01-01\",\"einddatumLevering\":\"2025-01-31\","
      "\"aanleverdatumEnTijd\":\"2025-02-05T10:30:00Z\",\"leveringen\":[{"
      "\"teller\":1,\"gemeentecode\":\"0518\",\"aanleverende_organisatie\":{"
      "\"naam\":\"Gemeente Voorbeeld\",\"kvk-nummer\":\"12345678\","
      "\"contactpersoonen\":[{\"email\":\"a@example.nl\"}]},"
      "\"vroegsignalen\":[");
  for(i = 1; i <= 12; i++)
    w += (size_t)snprintf(
        b + w, cap - w,
        "%s{\"ID\":\"VS-%zu\",\"crisissignaal\":false,\"warmeOverdracht\":"
        "false,\"bedrag\":%zu,\"ontstaansdatum\":\"2024-12-10\","
        "\"signaaldatum\":\"2025-01-05\",\"status\":\"Nog niet opgepakt\","
        "\"signaalpartner\":{\"type\":\"Energie\"},\"client\":{"
        "\"Burgerservicenummer\":\"1234567%02zu\",\"Geboortedatum\":"
        "\"1985-06-15\",\"Postcode\":\"1234AB\",\"Huisnummer\":\"10\"}}",
        i > 1 ? "," : "", i, 100 + i, i);
  w += (size_t)snprintf(b + w, cap - w, "],\"vroegsignaalzaken\":[");
  for(i = 0; i < sizeof(zaken) / sizeof(zaken[0]); i++)
    w += (size_t)snprintf(
        b + w, cap - w,
        "%s{\"resultaat\":\"Inwoner hoeft geen hulp vanuit "
        "vroegsignalering\",\"matchingsdatum\":\"2025-01-%02zu\","
        "\"vroegsignalen\":[{\"ID\":\"%s\"}]}",
        i ? "," : "", i + 6, zaken[i]);
  snprintf(b + w, cap - w, "]}]}");
  return b;
}

static void vs_pages(void **state) {
  static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 11, 12, 50000};
  char *doc = vs_doc();
  answer whole, cut;
  size_t i;
  (void)state;
  memset(&whole, 0, sizeof(whole));
  add_delivery(&whole, doc, 0, "vs-whole", 0);
  assert_int_equal(whole.n, 1);
  /* cut at 5 records a batch: the batcher keeps a zaak only with all its
   * signals, so the zaken of VS-3/VS-7 and VS-9..11 are not stored */
  memset(&cut, 0, sizeof(cut));
  add_delivery(&cut, doc, 0, "vs-cut", 5);
  add_delivery(&cut, EX "vs-v0.9-enkelvoudig.json", 1, "vs-example", 0);
  assert_int_equal(cut.n, 4);
  for(i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    assert_int_equal(page_through(&whole, VS, sizes[i]),
                     (12 + sizes[i] - 1) / sizes[i]);
    assert_int_equal(page_through(&cut, VS, sizes[i]),
                     (13 + sizes[i] - 1) / sizes[i]);
  }
  answer_free(&whole);
  answer_free(&cut);
  free(doc);
}

/* Where a zaak goes, exactly: the page with its last signal by position;
 * a zaak naming no signal of its levering goes with the first record. */
static void vs_zaak_placement(void **state) {
  static const char body[] =
      "{\"startdatumLevering\":\"2025-01-01\",\"leveringen\":[{\"teller\":1,"
      "\"gemeentecode\":\"0518\",\"vroegsignalen\":[{\"ID\":\"A\"},{\"ID\":"
      "\"B\"},{\"ID\":\"C\"}],\"vroegsignaalzaken\":[{\"z\":1,"
      "\"vroegsignalen\":[{\"ID\":\"C\"},{\"ID\":\"A\"}]},{\"z\":2,"
      "\"vroegsignalen\":[]},{\"z\":3,\"vroegsignalen\":[{\"ID\":\"B\"}]},{"
      "\"z\":4,\"vroegsignalen\":[{\"ID\":\"nope\"}]}]}]}";
  static const char *const want[] = {
      "{\"gegevens\":{\"startdatumLevering\":\"s\",\"einddatumLevering\":\"e\","
      "\"leveringen\":[{\"teller\":1,\"gemeentecode\":\"0518\","
      "\"vroegsignalen\":[{\"ID\":\"A\"}],\"vroegsignaalzaken\":[{\"z\":2,"
      "\"vroegsignalen\":[]},{\"z\":4,\"vroegsignalen\":[{\"ID\":\"nope\"}]}]}"
      "]}}",
      "{\"gegevens\":{\"startdatumLevering\":\"s\",\"einddatumLevering\":\"e\","
      "\"leveringen\":[{\"teller\":1,\"gemeentecode\":\"0518\","
      "\"vroegsignalen\":[{\"ID\":\"B\"}],\"vroegsignaalzaken\":[{\"z\":3,"
      "\"vroegsignalen\":[{\"ID\":\"B\"}]}]}]}}",
      "{\"gegevens\":{\"startdatumLevering\":\"s\",\"einddatumLevering\":\"e\","
      "\"leveringen\":[{\"teller\":1,\"gemeentecode\":\"0518\","
      "\"vroegsignalen\":[{\"ID\":\"C\"}],\"vroegsignaalzaken\":[{\"z\":1,"
      "\"vroegsignalen\":[{\"ID\":\"C\"},{\"ID\":\"A\"}]}]}]}}"};
  const ddas_page_envelope env = {"s", "e", NULL, NULL};
  size_t i, len;
  (void)state;
  for(i = 0; i < 3; i++) {
    ddas_page_writer *w;
    char *out;
    assert_int_equal(ddas_page_writer_new(VS, &env, &w), DDAS_OK);
    assert_int_equal(
        ddas_page_writer_add_batch(w, body, strlen(body), i, i + 1, "g"),
        DDAS_OK);
    assert_int_equal(ddas_page_writer_finish(w, NULL, 1, &out, &len), DDAS_OK);
    assert_int_equal(len, strlen(want[i]));
    assert_memory_equal(out, want[i], len);
    ddas_free(out);
    ddas_page_writer_free(w);
  }
}

/* Leveringen merge only within a group and with identical members. */
static void merge_rules(void **state) {
  static const char b1[] =
      "{\"leveringen\":[{\"teller\":1,\"aanleverende_organisatie\":{\"n\":1},"
      "\"schuldhulptrajecten\":[{\"r\":1},{\"r\":2}]}]}",
                    b2[] = "{\"leveringen\":[{\"teller\":1,"
                           "\"aanleverende_organisatie\":{\"n\":1},"
                           "\"schuldhulptrajecten\":[{\"r\":3}]},{\"teller\":2,"
                           "\"aanleverende_organisatie\":{\"n\": 1},"
                           "\"schuldhulptrajecten\":[{\"r\":4}]}]}";
  const ddas_page_envelope env = {"s", "e", "t", "c"};
  ddas_page_plan plan;
  ddas_problem pb;
  static const size_t rec[] = {2, 2, 2};
  ddas_page_writer *w;
  char *out, *text;
  size_t len;
  (void)state;
  assert_int_equal(ddas_gegevens_plan(rec, 3, 2, 3, &plan, &pb), DDAS_OK);
  assert_int_equal(ddas_page_writer_new(SHV, &env, &w), DDAS_OK);
  assert_int_equal(ddas_page_writer_add_batch(w, b1, strlen(b1), 0, 2, "d1"),
                   DDAS_OK);
  /* same group, same members: continues; then a levering whose members
   * differ by a space: a new one; then another group: a new one */
  assert_int_equal(ddas_page_writer_add_batch(w, b2, strlen(b2), 0, 2, "d1"),
                   DDAS_OK);
  assert_int_equal(ddas_page_writer_add_batch(w, b1, strlen(b1), 1, 2, "d2"),
                   DDAS_OK);
  assert_int_equal(ddas_page_writer_finish(w, &plan, 2, &out, &len), DDAS_OK);
  ddas_page_writer_free(w);
  text = ddas_strndup(out, len);
  assert_string_equal(
      text,
      "{\"gegevens\":{\"startdatumLevering\":\"s\",\"einddatumLevering\":\"e\","
      "\"aanleverdatumEnTijd\":\"t\",\"codeGegevensleverancier\":\"c\","
      "\"leveringen\":[{\"teller\":1,\"aanleverende_organisatie\":{\"n\":1},"
      "\"schuldhulptrajecten\":[{\"r\":1},{\"r\":2},{\"r\":3}]},{\"teller\":2,"
      "\"aanleverende_organisatie\":{\"n\": 1},\"schuldhulptrajecten\":[{"
      "\"r\":4}]},{\"teller\":3,\"aanleverende_organisatie\":{\"n\":1},"
      "\"schuldhulptrajecten\":[{\"r\":2}]}]},\"paginering\":{\"pageSize\":3,"
      "\"currentPage\":2,\"totalPages\":2,\"totalRecords\":6}}");
  ddas_free(text);
  ddas_free(out);
}

/* A body that is not a stored batch is refused with a reason and leaves
 * the page as it was. */
static void bad_batches(void **state) {
  static const char good[] = "{\"leveringen\":[{\"teller\":1,"
                             "\"schuldhulptrajecten\":[{\"r\":1}]}]}";
  static const char *const bad[] = {
      "{",
      "[]",
      "{}",
      "{\"leveringen\":{}}",
      "{\"leveringen\":[1]}",
      "{\"leveringen\":[{\"teller\":1}]}",
      "{\"leveringen\":[{\"vroegsignalen\":[{}]}]}",
      "{\"leveringen\":[{\"schuldhulptrajecten\":{}}]}",
      "\xff"};
  const ddas_page_envelope env = {"s", "e", NULL, NULL};
  ddas_page_writer *w, *ref;
  char *o1, *o2;
  size_t l1, l2, i;
  (void)state;
  assert_int_equal(ddas_page_writer_new(SHV, &env, &w), DDAS_OK);
  assert_int_equal(ddas_page_writer_new(SHV, &env, &ref), DDAS_OK);
  for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(
        ddas_page_writer_add_batch(w, bad[i], strlen(bad[i]), 0, 1, "g"),
        DDAS_ERR_ARG);
    assert_true(ddas_page_writer_error(w)[0] != '\0');
  }
  /* ranges outside the batch, or backwards */
  assert_int_equal(ddas_page_writer_add_batch(w, good, strlen(good), 0, 2, "g"),
                   DDAS_ERR_ARG);
  assert_non_null(strstr(ddas_page_writer_error(w), "1 records"));
  assert_int_equal(ddas_page_writer_add_batch(w, good, strlen(good), 1, 0, "g"),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_page_writer_add_batch(w, NULL, 0, 0, 1, "g"),
                   DDAS_ERR_ARG);
  /* a VS writer refuses an SHV body */
  {
    ddas_page_writer *v;
    assert_int_equal(ddas_page_writer_new(VS, &env, &v), DDAS_OK);
    assert_int_equal(
        ddas_page_writer_add_batch(v, good, strlen(good), 0, 1, "g"),
        DDAS_ERR_ARG);
    assert_non_null(strstr(ddas_page_writer_error(v), "vroegsignalen"));
    ddas_page_writer_free(v);
  }
  assert_int_equal(ddas_page_writer_add_batch(w, good, strlen(good), 0, 1, "g"),
                   DDAS_OK);
  assert_string_equal(ddas_page_writer_error(w), "");
  assert_int_equal(
      ddas_page_writer_add_batch(ref, good, strlen(good), 0, 1, "g"), DDAS_OK);
  assert_int_equal(ddas_page_writer_finish(w, NULL, 1, &o1, &l1), DDAS_OK);
  assert_int_equal(ddas_page_writer_finish(ref, NULL, 1, &o2, &l2), DDAS_OK);
  assert_int_equal(l1, l2);
  assert_memory_equal(o1, o2, l1);
  ddas_free(o2);
  /* finished: nothing more */
  assert_int_equal(ddas_page_writer_add_batch(w, good, strlen(good), 0, 1, "g"),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_page_writer_finish(w, NULL, 1, &o2, &l2), DDAS_ERR_ARG);
  ddas_free(o1);
  ddas_page_writer_free(w);
  ddas_page_writer_free(ref);
  /* the writer wants SHV or VS and a period */
  assert_int_equal(ddas_page_writer_new(DDAS_KIND_UNKNOWN, &env, &w),
                   DDAS_ERR_ARG);
  assert_null(w);
  {
    const ddas_page_envelope no_end = {"s", NULL, NULL, NULL};
    assert_int_equal(ddas_page_writer_new(SHV, &no_end, &w), DDAS_ERR_ARG);
  }
}

/* Every allocation failing in turn: an error, never a crash or a leak; the
 * writer fails for good after DDAS_ERR_NOMEM while writing. */
static void allocation_failures(void **state) {
  answer a;
  ddas_page_plan plan;
  ddas_problem pb;
  size_t rec[64], i, len, n, from, to;
  char *ref, *out;
  unsigned long k;
  int done = 0;
  (void)state;
  memset(&a, 0, sizeof(a));
  add_delivery(&a, EX "shv-v1.0-samenloop-deel1.json", 1, "d", 2);
  ref = render(&a, SHV, 1, 4, &plan, &n);
  for(i = 0; i < a.n; i++)
    rec[i] = a.b[i].records;
  for(k = 1; !done && k < 10000; k++) {
    ddas_page_writer *w = NULL;
    ddas_result r;
    ddas_alloc_fail_at(k);
    r = ddas_page_writer_new(SHV, &shv_env, &w);
    for(i = 0; !r && i < a.n; i++)
      if(ddas_page_plan_range(&plan, rec, i, &from, &to))
        r = ddas_page_writer_add_batch(w, a.b[i].body, a.b[i].len, from, to,
                                       "d");
    if(!r)
      r = ddas_page_writer_finish(w, &plan, 1, &out, &len);
    ddas_alloc_fail_at(0);
    ddas_page_writer_free(w);
    if(r) {
      assert_int_equal(r, DDAS_ERR_NOMEM);
      continue;
    }
    assert_int_equal(len, n);
    assert_memory_equal(out, ref, n);
    ddas_free(out);
    done = 1;
  }
  assert_true(done);
  assert_true(k > 3); /* some allocations did fail */
  /* problem bodies and requests too */
  for(k = 1; k < 50; k++) {
    ddas_gegevens_request rq;
    ddas_result r;
    ddas_alloc_fail_at(k);
    r = ddas_gegevens_request_parse("{\"page\":2}", 10, SHV, &rq, &pb);
    if(r == DDAS_OK)
      r = ddas_problem_json(&pb, "/x", &out, &len);
    ddas_alloc_fail_at(0);
    assert_true(r == DDAS_OK || r == DDAS_ERR_NOMEM);
    if(r == DDAS_OK)
      ddas_free(out);
  }
  ddas_free(ref);
  answer_free(&a);
}

/* The writer keeps its output only: after add_batch the batch's parse is
 * gone, so taking one record of a large batch leaves a small writer. */
static void writer_keeps_output_only(void **state) {
  size_t cap = 400000, len = 0, i, base, grown;
  char *body = malloc(cap);
  ddas_page_writer *w;
  (void)state;
  len += (size_t)snprintf(body, cap,
                          "{\"leveringen\":[{\"teller\":1,"
                          "\"schuldhulptrajecten\":[");
  for(i = 0; i < 5000; i++)
    len += (size_t)snprintf(body + len, cap - len,
                            "%s{\"gemeentecode\":\"GM1\",\"a\":[1,2,3,4,5,6]}",
                            i ? "," : "");
  len += (size_t)snprintf(body + len, cap - len, "]}]}");
  base = ddas_alloc_in_use();
  assert_int_equal(ddas_page_writer_new(SHV, &shv_env, &w), DDAS_OK);
  assert_int_equal(ddas_page_writer_add_batch(w, body, len, 9, 10, "d"),
                   DDAS_OK);
  grown = ddas_alloc_in_use() - base;
  /* a few small buffers, while the parse of 5000 records of 8 values at 24
   * bytes a value would be about 1 MB */
  assert_true(grown < 64 * 1024);
  ddas_page_writer_free(w);
  assert_int_equal(ddas_alloc_in_use(), base);
  free(body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_cases),
      cmocka_unit_test(request_values),
      cmocka_unit_test(request_limits_and_details),
      cmocka_unit_test(problem_bodies),
      cmocka_unit_test(fsc_bodies),
      cmocka_unit_test(instants),
      cmocka_unit_test(selection),
      cmocka_unit_test(selection_order_independent),
      cmocka_unit_test(envelope_of_answer),
      cmocka_unit_test(plan_edges),
      cmocka_unit_test(plan_covers_every_record_once),
      cmocka_unit_test(shv_pages),
      cmocka_unit_test(shv_merges_leveringen_across_cuts),
      cmocka_unit_test(vs_pages),
      cmocka_unit_test(vs_zaak_placement),
      cmocka_unit_test(merge_rules),
      cmocka_unit_test(bad_batches),
      cmocka_unit_test(writer_keeps_output_only),
      cmocka_unit_test(allocation_failures)};
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
