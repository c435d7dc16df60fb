/* The index of topic.accepted (ddas/served.h): when a delivery is
 * complete, order independence, repeats, and messages it must ignore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/served.h"

#define ID0 "00000000000000000000000000000000"
#define ID1 "11111111111111111111111111111111"
#define ID2 "22222222222222222222222222222222"

typedef struct {
  ddas_kv h[16];
  size_t n;
  char value[512];
  size_t len;
  uint64_t locator;
} msg;

static void put(msg *m, const char *name, const char *value) {
  m->h[m->n].name = (char *)(uintptr_t)name;
  m->h[m->n++].value = (char *)(uintptr_t)value;
}

static void identity(msg *m, const char *delivery, const char *type) {
  memset(m, 0, sizeof(*m));
  put(m, "ddas-type", type);
  put(m, "ddas-kind", "shv");
  put(m, "ddas-delivery-id", delivery);
  put(m, "ddas-org-name", "Gemeente Voorbeeld");
  put(m, "ddas-org-code", "0363");
  put(m, "ddas-period-start", "2026-01-01");
  put(m, "ddas-period-end", "2026-03-31");
  put(m, "ddas-delivered-at", "2026-04-02T10:00:00Z");
  put(m, "ddas-code", "Acme 4.2");
}

static msg batch(const char *delivery, const char *index, const char *id,
                 const char *records, uint64_t locator) {
  msg m;
  identity(&m, delivery, "batch");
  put(&m, "ddas-batch-index", index);
  put(&m, "ddas-batch-id", id);
  put(&m, "ddas-records", records);
  m.len = 100 + locator;
  m.locator = locator;
  return m;
}

/* A manifest of batches ID0 (3 records) and ID1 (2 records). */
static msg manifest(const char *delivery) {
  msg m;
  identity(&m, delivery, "manifest");
  put(&m, "ddas-batches", "2");
  put(&m, "ddas-records", "5");
  m.len = (size_t)snprintf(
      m.value, sizeof(m.value),
      "{\"delivery_id\":\"%s\",\"kind\":\"shv\",\"records\":5,\"batches\":"
      "[{\"index\":0,\"id\":\"" ID0
      "\",\"records\":3},{\"index\":1,\"id\":\"" ID1 "\",\"records\":2}]}",
      delivery);
  return m;
}

static ddas_result add(ddas_served *s, const msg *m, char *err) {
  return ddas_served_add(s, m->h, m->n, m->len ? m->value : NULL, m->len,
                         m->locator, err, 200);
}

static const ddas_served_delivery *only(ddas_served *s) {
  size_t n = 0;
  const ddas_served_delivery *d = ddas_served_deliveries(s, &n);
  assert_int_equal(n, 1);
  return d;
}

static void complete_only_with_manifest_and_every_batch(void **state) {
  ddas_served *s;
  msg b0 = batch("d1", "0", ID0, "3", 10), b1 = batch("d1", "1", ID1, "2", 20);
  msg mf = manifest("d1");
  const ddas_served_batch *b;
  size_t n;
  char err[200];
  (void)state;
  assert_int_equal(ddas_served_new(&s), DDAS_OK);
  assert_int_equal(add(s, &b0, err), DDAS_OK);
  assert_false(only(s)->complete);
  assert_int_equal(add(s, &mf, err), DDAS_OK);
  assert_false(only(s)->complete); /* batch 1 still missing */
  assert_null(ddas_served_batches(s, 0, &n));
  assert_int_equal(n, 0);
  assert_int_equal(add(s, &b1, err), DDAS_OK);
  assert_true(only(s)->complete);
  assert_int_equal(only(s)->records, 5);
  assert_int_equal(only(s)->nbatches, 2);
  assert_int_equal(only(s)->kind, DDAS_KIND_SHV);
  assert_string_equal(only(s)->org_code, "0363");
  assert_string_equal(only(s)->delivered_at, "2026-04-02T10:00:00Z");
  b = ddas_served_batches(s, 0, &n);
  assert_int_equal(n, 2);
  assert_int_equal(b[0].locator, 10);
  assert_int_equal(b[0].records, 3);
  assert_int_equal(b[1].locator, 20);
  assert_int_equal(b[1].len, 120);
  /* a repeat (re-processed delivery) replaces, it does not add */
  b1.locator = 30;
  assert_int_equal(add(s, &b1, err), DDAS_OK);
  b = ddas_served_batches(s, 0, &n);
  assert_int_equal(n, 2);
  assert_int_equal(b[1].locator, 30);
  assert_int_equal(ddas_served_batch_count(s), 2);
  ddas_served_free(s);
}

static void a_batch_of_another_id_keeps_it_incomplete(void **state) {
  ddas_served *s;
  msg b0 = batch("d1", "0", ID0, "3", 10), b1 = batch("d1", "1", ID2, "2", 20);
  msg mf = manifest("d1");
  char err[200];
  (void)state;
  assert_int_equal(ddas_served_new(&s), DDAS_OK);
  assert_int_equal(add(s, &b0, err), DDAS_OK);
  assert_int_equal(add(s, &b1, err), DDAS_OK);
  assert_int_equal(add(s, &mf, err), DDAS_OK);
  assert_false(only(s)->complete);
  b1 = batch("d1", "1", ID1, "2", 40);
  assert_int_equal(add(s, &b1, err), DDAS_OK);
  assert_true(only(s)->complete);
  ddas_served_free(s);
}

/* Every order of the three messages gives the same complete delivery. */
static void order_does_not_matter(void **state) {
  static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                 {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  msg m[3];
  int p, i;
  (void)state;
  m[0] = batch("d1", "0", ID0, "3", 10);
  m[1] = batch("d1", "1", ID1, "2", 20);
  m[2] = manifest("d1");
  for(p = 0; p < 6; p++) {
    ddas_served *s;
    char err[200];
    size_t n;
    assert_int_equal(ddas_served_new(&s), DDAS_OK);
    for(i = 0; i < 3; i++)
      assert_int_equal(add(s, &m[perm[p][i]], err), DDAS_OK);
    assert_true(only(s)->complete);
    assert_non_null(ddas_served_batches(s, 0, &n));
    assert_int_equal(n, 2);
    ddas_served_free(s);
  }
}

static void an_empty_delivery_is_complete(void **state) {
  ddas_served *s;
  msg m;
  char err[200];
  size_t n = 9;
  (void)state;
  identity(&m, "d-empty", "manifest");
  put(&m, "ddas-batches", "0");
  put(&m, "ddas-records", "0");
  m.len = (size_t)snprintf(m.value, sizeof(m.value),
                           "{\"delivery_id\":\"d-empty\",\"kind\":\"shv\","
                           "\"records\":0,\"batches\":[]}");
  assert_int_equal(ddas_served_new(&s), DDAS_OK);
  assert_int_equal(add(s, &m, err), DDAS_OK);
  assert_true(only(s)->complete);
  assert_int_equal(only(s)->records, 0);
  ddas_served_batches(s, 0, &n);
  assert_int_equal(n, 0);
  ddas_served_free(s);
}

/* Each malformed message is ignored with a reason naming what is wrong. */
static void malformed_messages_are_ignored_with_a_reason(void **state) {
  static const struct {
    const char *drop, *name, *value, *reason;
  } cases[] = {
      {"ddas-type", "ddas-type", "other", "ddas-type"},
      {"ddas-kind", "ddas-kind", "pdf", "ddas-kind"},
      {"ddas-org-name", NULL, NULL, "ddas-org-name"},
      {"ddas-batch-id", "ddas-batch-id", "XYZ", "ddas-batch-id"},
      {"ddas-batch-index", "ddas-batch-index", "4000000000",
       "ddas-batch-index"},
      {"ddas-batch-index", "ddas-batch-index", "01", "ddas-batch-index"},
      {"ddas-records", "ddas-records", "-1", "ddas-records"},
      {"ddas-delivery-id", NULL, NULL, "ddas-delivery-id"},
  };
  size_t c, i;
  (void)state;
  for(c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    ddas_served *s;
    msg m = batch("d1", "0", ID0, "3", 10), k;
    char err[200];
    memset(&k, 0, sizeof(k));
    for(i = 0; i < m.n; i++)
      if(strcmp(m.h[i].name, cases[c].drop))
        put(&k, m.h[i].name, m.h[i].value);
    if(cases[c].name)
      put(&k, cases[c].name, cases[c].value);
    k.len = m.len;
    assert_int_equal(ddas_served_new(&s), DDAS_OK);
    assert_int_equal(add(s, &k, err), DDAS_ERR_ARG);
    assert_non_null(strstr(err, cases[c].reason));
    assert_int_equal(ddas_served_ignored(s), 1);
    ddas_served_free(s);
  }
}

static void malformed_manifests_are_ignored(void **state) {
  static const char *const values[] = {
      "",
      "[]",
      "{\"batches\":[]}", /* 0 entries for ddas-batches 2 */
      "{\"batches\":[{\"index\":1,\"id\":\"" ID0 "\",\"records\":3},"
      "{\"index\":0,\"id\":\"" ID1 "\",\"records\":2}]}", /* out of order */
      "{\"batches\":[{\"index\":0,\"id\":\"" ID0 "\",\"records\":3},"
      "{\"index\":1,\"id\":\"" ID1 "\",\"records\":9}]}", /* sum is not 5 */
      "{\"batches\":[{\"index\":0,\"id\":\"short\",\"records\":3},"
      "{\"index\":1,\"id\":\"" ID1 "\",\"records\":2}]}",
      "{\"batches\":[{\"index\":0,\"id\":\"" ID0 "\",\"records\":3.5},"
      "{\"index\":1,\"id\":\"" ID1 "\",\"records\":2}]}",
      "{not json"};
  size_t c;
  (void)state;
  for(c = 0; c < sizeof(values) / sizeof(values[0]); c++) {
    ddas_served *s;
    msg m = manifest("d1"), b0 = batch("d1", "0", ID0, "3", 10),
        b1 = batch("d1", "1", ID1, "2", 20);
    char err[200];
    m.len = strlen(values[c]);
    memcpy(m.value, values[c], m.len);
    assert_int_equal(ddas_served_new(&s), DDAS_OK);
    /* both batches first: a manifest taken wrongly would complete it */
    assert_int_equal(add(s, &b0, err), DDAS_OK);
    assert_int_equal(add(s, &b1, err), DDAS_OK);
    assert_int_equal(add(s, &m, err), DDAS_ERR_ARG);
    assert_true(strlen(err) > 0);
    assert_false(only(s)->complete);
    ddas_served_free(s);
  }
}

/* Many deliveries (the hash table grows): each is found again. */
static void many_deliveries(void **state) {
  ddas_served *s;
  char ids[3000][16];
  size_t i, n;
  char err[200];
  const ddas_served_delivery *d;
  (void)state;
  assert_int_equal(ddas_served_new(&s), DDAS_OK);
  for(i = 0; i < 3000; i++) {
    msg m;
    snprintf(ids[i], sizeof(ids[i]), "d%zu", i);
    m = manifest(ids[i]);
    assert_int_equal(add(s, &m, err), DDAS_OK);
  }
  for(i = 0; i < 3000; i++) {
    msg b0 = batch(ids[i], "0", ID0, "3", i),
        b1 = batch(ids[i], "1", ID1, "2", i);
    assert_int_equal(add(s, &b0, err), DDAS_OK);
    assert_int_equal(add(s, &b1, err), DDAS_OK);
  }
  d = ddas_served_deliveries(s, &n);
  assert_int_equal(n, 3000);
  for(i = 0; i < n; i++)
    assert_true(d[i].complete);
  ddas_served_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(complete_only_with_manifest_and_every_batch),
      cmocka_unit_test(a_batch_of_another_id_keeps_it_incomplete),
      cmocka_unit_test(order_does_not_matter),
      cmocka_unit_test(an_empty_delivery_is_complete),
      cmocka_unit_test(malformed_messages_are_ignored_with_a_reason),
      cmocka_unit_test(malformed_manifests_are_ignored),
      cmocka_unit_test(many_deliveries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
