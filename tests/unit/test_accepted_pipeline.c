/* topic.accepted with real processes (tests/support/pipeline_fixture.h):
 * `ddas-worker run` against kafka-mock, with and without the CBS stub.
 *
 * (p) cbs.mode = pull, no cbs.* or sign.* key at all: a delivery of
 *     several batches (one message) and a few small ones yield exactly the
 *     batch messages
 *     (each body byte-identical to the batch `ddas-worker send` writes to an
 *     outbox for the same file: what the core builds), with the right key
 *     and headers, plus one manifest per delivery (none for a malformed
 *     one; one without batches for a delivery with no accepted record), and
 *     the offsets are committed;
 * (b) cbs.mode = both: every batch CBS holds is on topic.accepted with the
 *     same bytes; a batch CBS refuses is parked, not published, and the
 *     manifest of its delivery lists it; `replay` then forwards it and
 *     publishes it with the headers run would have given it;
 * (n) cbs.mode = push (the default): nothing on topic.accepted;
 * (k) cbs.mode = both, the leader of every topic.accepted partition down:
 *     the worker forwards, cannot publish, and is killed (SIGKILL); after
 *     the broker is back a new worker redoes the deliveries: every batch is
 *     on topic.accepted, CBS got the same bytes again (duplicates, no key
 *     conflict), every delivery has its manifest.
 *
 * DDAS_KEEP_TMP=1 keeps the temporary directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline_fixture.h"
#include "testutil.h"

static void fixture_failed(const char *msg) { fail_msg("%s", msg); }

static int kill_all(void **state) {
  (void)state;
  children_kill_all();
  return 0;
}

/* ---- the messages of ddas.accepted -------------------------------------- */

typedef struct {
  char key[300], type[16], kind[8], did[200], bid[40], idx[16], rec[24];
  char org[200], orgcode[40], ps[40], pe[40], at[40], code[80], nb[16];
  int32_t partition;
  char *val;
  size_t len;
} amsg;

typedef struct {
  amsg *m;
  size_t n;
} amsgs;

#define FIELD(name, f)                                                         \
  { name, offsetof(amsg, f), sizeof(((amsg *)0)->f) }
static const struct {
  const char *name;
  size_t off, cap;
} fields[] = {FIELD("ddas-type", type),       FIELD("ddas-kind", kind),
              FIELD("ddas-delivery-id", did), FIELD("ddas-batch-id", bid),
              FIELD("ddas-batch-index", idx), FIELD("ddas-records", rec),
              FIELD("ddas-org-name", org),    FIELD("ddas-org-code", orgcode),
              FIELD("ddas-period-start", ps), FIELD("ddas-period-end", pe),
              FIELD("ddas-delivered-at", at), FIELD("ddas-code", code),
              FIELD("ddas-batches", nb)};

static void on_accepted(void *ctx, rd_kafka_message_t *m) {
  amsgs *l = ctx;
  amsg *a;
  size_t i;
  l->m = realloc(l->m, (l->n + 1) * sizeof(*l->m));
  assert_non_null(l->m);
  a = &l->m[l->n++];
  memset(a, 0, sizeof(*a));
  snprintf(a->key, sizeof(a->key), "%.*s", (int)m->key_len,
           m->key ? (const char *)m->key : "");
  for(i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    header(m, fields[i].name, (char *)a + fields[i].off, fields[i].cap);
  a->partition = m->partition;
  a->val = malloc(m->len + 1);
  assert_non_null(a->val);
  memcpy(a->val, m->payload, m->len);
  a->val[m->len] = '\0';
  a->len = m->len;
}

static void amsgs_free(amsgs *l) {
  size_t i;
  for(i = 0; i < l->n; i++)
    free(l->m[i].val);
  free(l->m);
  memset(l, 0, sizeof(*l));
}

static amsgs read_accepted(const scen *s) {
  amsgs l = {NULL, 0};
  read_topic(s->km.bootstrap, "ddas.accepted", on_accepted, &l);
  return l;
}

/* The last message of `type` whose id is `id` (a batch's batch id, a
 * manifest's delivery id; a republication is the same message), or NULL. */
static const amsg *last_of(const amsgs *l, const char *type, const char *id) {
  const amsg *hit = NULL;
  size_t i;
  for(i = 0; i < l->n; i++)
    if(!strcmp(l->m[i].type, type) &&
       !strcmp(strcmp(type, "batch") ? l->m[i].did : l->m[i].bid, id))
      hit = &l->m[i];
  return hit;
}
#define batch_by_id(l, id) last_of((l), "batch", (id))
#define manifest_of(l, did) last_of((l), "manifest", (did))

static size_t count_type(const amsgs *l, const char *type) {
  size_t i, n = 0;
  for(i = 0; i < l->n; i++)
    n += !strcmp(l->m[i].type, type);
  return n;
}

/* Every batch body in dir (`<batch id>.json`, the outbox's and the CBS
 * stub's layout) is on topic.accepted byte for byte; returns how many. */
static size_t bodies_match(const amsgs *l, const char *dir) {
  DIR *dh = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  assert_non_null(dh);
  while((e = readdir(dh))) {
    char id[256], path[700];
    size_t len = strlen(e->d_name), blen;
    const amsg *a;
    char *body;
    if(len < 6 || strcmp(e->d_name + len - 5, ".json") ||
       strstr(e->d_name, ".meta.json"))
      continue;
    snprintf(id, sizeof(id), "%.*s", (int)(len - 5), e->d_name);
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    a = batch_by_id(l, id);
    if(!a) {
      size_t k;
      for(k = 0; k < l->n; k++)
        printf("on ddas.accepted: %s %s (%zu bytes)\n", l->m[k].key,
               l->m[k].bid, l->m[k].len);
      fail_msg("batch %s (%s) is not on ddas.accepted", id, path);
    }
    body = tu_read(path, &blen);
    assert_non_null(body);
    assert_int_equal(a->len, blen);
    assert_memory_equal(a->val, body, blen);
    free(body);
    n++;
  }
  closedir(dh);
  return n;
}

/* Checks the manifest of delivery d against the batch messages: its
 * headers, and that its list is the batches published (plus `parked`, a
 * batch id that must not be published, when not NULL). Returns the number
 * of batches it lists. */
static size_t check_manifest(const amsgs *l, const gdel *d,
                             const char *parked) {
  const amsg *m = manifest_of(l, d->id);
  json_t *j, *bs, *b;
  json_error_t je;
  size_t i, records = 0, listed_parked = 0;
  char key[300];
  if(!m)
    fail_msg("delivery %s has no manifest", d->id);
  snprintf(key, sizeof(key), "delivery/%s", d->id);
  assert_string_equal(m->key, key);
  assert_string_equal(m->kind, "shv");
  assert_string_equal(m->ps, "2024-01-01");
  assert_string_equal(m->pe, "2024-12-31");
  assert_int_equal(strtoul(m->rec, NULL, 10), d->accepted);
  /* also without batches: the reader orders deliveries by it */
  assert_string_equal(m->at, "2025-01-15T09:30:00Z");
  assert_string_equal(m->code, "Pijplijntest 1.0");
  j = json_loadb(m->val, m->len, 0, &je);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "delivery_id")),
                      d->id);
  assert_int_equal(json_integer_value(json_object_get(j, "records")),
                   d->accepted);
  bs = json_object_get(j, "batches");
  assert_int_equal(json_array_size(bs), strtoul(m->nb, NULL, 10));
  json_array_foreach(bs, i, b) {
    const char *id = json_string_value(json_object_get(b, "id"));
    const amsg *a = batch_by_id(l, id);
    assert_int_equal(json_integer_value(json_object_get(b, "index")), i);
    records += (size_t)json_integer_value(json_object_get(b, "records"));
    if(parked && !strcmp(id, parked)) {
      assert_null(a); /* parked: listed, not published */
      listed_parked++;
      continue;
    }
    if(!a)
      fail_msg("manifest of %s lists %s, which is not published", d->id, id);
    assert_string_equal(a->did, d->id);
    assert_int_equal(strtoul(a->idx, NULL, 10), i);
  }
  assert_int_equal(records, d->accepted);
  if(parked)
    assert_int_equal(listed_parked, 1);
  i = json_array_size(bs);
  json_decref(j);
  return i;
}

/* Key and headers of every batch message of d. */
static size_t check_batch_headers(const amsgs *l, const gdel *d, size_t i) {
  size_t k, n = 0, records = 0;
  char org[64], orgcode[16];
  snprintf(org, sizeof(org), "Schuldhulp Pijplijn %zu", i * 4);
  snprintf(orgcode, sizeof(orgcode), "%08zu", (size_t)61000000 + i * 4);
  for(k = 0; k < l->n; k++) {
    const amsg *a = &l->m[k];
    char key[300];
    if(strcmp(a->type, "batch") || strcmp(a->did, d->id))
      continue;
    snprintf(key, sizeof(key), "batch/%s/%s", d->id, a->idx);
    assert_string_equal(a->key, key);
    assert_string_equal(a->kind, "shv");
    assert_int_equal(strlen(a->bid), 32);
    assert_string_equal(a->org, org);
    assert_string_equal(a->orgcode, orgcode);
    assert_string_equal(a->ps, "2024-01-01");
    assert_string_equal(a->pe, "2024-12-31");
    assert_string_equal(a->at, "2025-01-15T09:30:00Z");
    assert_string_equal(a->code, "Pijplijntest 1.0");
    records += strtoul(a->rec, NULL, 10);
    n++;
  }
  assert_int_equal(records, d->accepted);
  return n;
}

/* ---- the group's committed offsets -------------------------------------- */

/* Every partition of ddas.deliveries is committed up to its end. */
static void assert_all_committed(const scen *s) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_topic_partition_list_t *l;
  rd_kafka_t *rk;
  char err[256];
  int i, np;
  assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", s->km.bootstrap,
                                     err, sizeof(err)),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(
      rd_kafka_conf_set(conf, "group.id", "ddas-worker", err, sizeof(err)),
      RD_KAFKA_CONF_OK);
  rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  assert_non_null(rk);
  np = partitions_of(rk, "ddas.deliveries");
  l = rd_kafka_topic_partition_list_new(np);
  for(i = 0; i < np; i++)
    rd_kafka_topic_partition_list_add(l, "ddas.deliveries", i);
  assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
  for(i = 0; i < np; i++) {
    int64_t lo = 0, hi = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, "ddas.deliveries", i,
                                                      &lo, &hi, 5000),
                     0);
    if(hi > 0 && l->elems[i].offset != hi)
      fail_msg("ddas.deliveries/%d: committed %lld, end %lld", i,
               (long long)l->elems[i].offset, (long long)hi);
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
}

/* ---- scenarios ---------------------------------------------------------- */

/* A large delivery (several batches, chunked), two small ones, one with no
 * accepted record, one malformed. */
static void small_dataset(dataset *ds, const char *sdir) {
  static const dkind kinds[] = {K_LARGE, K_SINGLE, K_MULTI, K_ALLBAD,
                                K_MALFORMED};
  unsigned long bsn = 0;
  size_t i;
  dataset_init(ds, sdir, sizeof(kinds) / sizeof(kinds[0]));
  for(i = 0; i < ds->n; i++)
    gen_delivery(ds, i, kinds[i], 0, &bsn);
}

/* Writes `path`: the scenario's configuration without the lines that
 * start with one of drop[], and extra appended. */
static void conf_variant(const scen *s, const char *path,
                         const char *const *drop, size_t ndrop,
                         const char *extra) {
  FILE *in = fopen(s->conf, "r"), *out = fopen(path, "w");
  char line[1024];
  assert_non_null(in);
  assert_non_null(out);
  while(fgets(line, sizeof(line), in)) {
    size_t k;
    int skip = 0;
    for(k = 0; k < ndrop; k++)
      skip |= !strncmp(line, drop[k], strlen(drop[k]));
    if(!skip)
      fputs(line, out);
  }
  fputs(extra, out);
  fclose(in);
  fclose(out);
}

static void wait_receipts(scen *s, dataset *ds, const char *what) {
  watch w;
  watch_start(&w, s->km.bootstrap, ds);
  watch_wait(&w, ds->n, 180, what);
  watch_stop(&w);
}

static void pull_without_cbs(void **state) {
  static const char *const no_cbs[] = {"cbs.", "sign.", "submit.chunk_bytes"};
  static const char *const outbox_drop[] = {"cbs.url"};
  scen s;
  dataset ds;
  amsgs l;
  char conf[400], oconf[400], outbox[400], extra[500];
  size_t i, batches = 0, manifests = 0;
  (void)state;
  scen_start(&s, "p", NULL, NULL);
  small_dataset(&ds, s.sdir);
  /* the expected batches: what the core builds for each file (send to an
   * outbox, same content settings) */
  snprintf(outbox, sizeof(outbox), "%s/outbox", s.sdir);
  snprintf(oconf, sizeof(oconf), "%s/outbox.conf", s.sdir);
  snprintf(extra, sizeof(extra), "cbs.url = file://%s\n", outbox);
  assert_int_equal(mkdir(outbox, 0700), 0);
  conf_variant(&s, oconf, outbox_drop, 1, extra);
  for(i = 0; i < ds.n; i++) {
    char *out = NULL;
    tu_runf(&out, "'%s' send -c '%s' '%s' 2>>'%s/send.log'", WORKER_BIN, oconf,
            ds.d[i].path, s.sdir);
    free(out);
  }
  /* the worker: no cbs.* or sign.* key at all */
  snprintf(conf, sizeof(conf), "%s/pull.conf", s.sdir);
  /* the large delivery in one message, as send reads it: its batches are
   * cut from the same input (a chunked one yields other cuts) */
  conf_variant(&s, conf, no_cbs, 3,
               "cbs.mode = pull\nsubmit.chunk_bytes = 1000000\n");
  snprintf(s.conf, sizeof(s.conf), "%s", conf);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  wait_receipts(&s, &ds, "(p)");
  workers_stop(&s);
  assert_int_equal(stub_stat(&s.cbs, "requests"), 0);

  l = read_accepted(&s);
  assert_int_equal(bodies_match(&l, outbox), count_type(&l, "batch"));
  for(i = 0; i < ds.n; i++) {
    size_t nb = check_batch_headers(&l, &ds.d[i], i);
    batches += nb;
    if(ds.d[i].kind == K_MALFORMED) {
      assert_null(manifest_of(&l, ds.d[i].id));
      continue;
    }
    assert_int_equal(check_manifest(&l, &ds.d[i], NULL), nb);
    manifests++;
  }
  assert_true(check_batch_headers(&l, &ds.d[0], 0) >= 2);  /* the large one */
  assert_int_equal(check_manifest(&l, &ds.d[3], NULL), 0); /* all rejected */
  assert_int_equal(count_type(&l, "batch"), batches);
  assert_int_equal(count_type(&l, "manifest"), manifests);
  assert_int_equal(l.n, batches + manifests);
  assert_all_committed(&s);
  printf("(p) %zu batches and %zu manifests on ddas.accepted\n", batches,
         manifests);
  amsgs_free(&l);
  scen_stop(&s);
  dataset_free(&ds);
}

/* The id of the batch parked in ddas.failed (exactly one). */
static void on_failed(void *ctx, rd_kafka_message_t *m) {
  char *id = ctx;
  assert_string_equal(id, "");
  assert_true(header(m, "ddas-batch-id", id, 40));
}

static void both_with_refusal(void **state) {
  scen s;
  dataset ds;
  amsgs l;
  char parked[40] = "";
  size_t i, at_cbs, pd = 0, found = 0;
  (void)state;
  /* the first batch request is refused (400): that batch is parked */
  scen_start(&s, "b", "[{\"status\": 400}]", "cbs.mode = both\n");
  small_dataset(&ds, s.sdir);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  wait_receipts(&s, &ds, "(b)");
  workers_stop(&s);
  read_topic(s.km.bootstrap, "ddas.failed", on_failed, parked);
  assert_int_equal(strlen(parked), 32);
  l = read_accepted(&s);
  assert_null(batch_by_id(&l, parked));
  at_cbs = bodies_match(&l, s.cbs.records);
  assert_int_equal(at_cbs, count_type(&l, "batch"));
  assert_int_equal(stub_stat(&s.cbs, "accepted"), (long)at_cbs);
  for(i = 0; i < ds.n; i++) {
    const amsg *m;
    if(ds.d[i].kind == K_MALFORMED)
      continue;
    m = manifest_of(&l, ds.d[i].id);
    assert_non_null(m);
    if(strstr(m->val, parked)) {
      check_manifest(&l, &ds.d[i], parked);
      pd = i;
      found++;
    } else {
      check_manifest(&l, &ds.d[i], NULL);
    }
  }
  assert_int_equal(found, 1);
  assert_all_committed(&s);
  printf("(b) %zu batches at CBS and on ddas.accepted; %s parked (delivery "
         "%zu), listed by its manifest only\n",
         at_cbs, parked, pd);
  amsgs_free(&l);

  /* replay (cbs.mode = both): CBS takes the parked batch now, and it is
   * published like the others, so the manifest's list is complete */
  {
    char *out = NULL;
    const amsg *a;
    char key[300], org[64];
    assert_int_equal(run_replay(&s, &out), 0);
    assert_non_null(strstr(out, "forwarded: 1"));
    free(out);
    l = read_accepted(&s);
    a = batch_by_id(&l, parked);
    assert_non_null(a);
    assert_int_equal(bodies_match(&l, s.cbs.records), at_cbs + 1);
    snprintf(key, sizeof(key), "batch/%s/%s", ds.d[pd].id, a->idx);
    assert_string_equal(a->key, key);
    snprintf(org, sizeof(org), "Schuldhulp Pijplijn %zu", pd * 4);
    assert_string_equal(a->org, org);
    assert_string_equal(a->kind, "shv");
    assert_string_equal(a->ps, "2024-01-01");
    assert_string_equal(a->code, "Pijplijntest 1.0");
    /* every listed batch present now */
    assert_int_equal(check_batch_headers(&l, &ds.d[pd], pd),
                     check_manifest(&l, &ds.d[pd], NULL));
    amsgs_free(&l);
  }
  scen_stop(&s);
  dataset_free(&ds);
}

static void push_publishes_nothing(void **state) {
  scen s;
  dataset ds;
  amsgs l;
  (void)state;
  scen_start(&s, "n", NULL, NULL);
  small_dataset(&ds, s.sdir);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  wait_receipts(&s, &ds, "(n)");
  workers_stop(&s);
  assert_true(stub_stat(&s.cbs, "accepted") >= 4);
  l = read_accepted(&s);
  assert_int_equal(l.n, 0);
  amsgs_free(&l);
  scen_stop(&s);
  dataset_free(&ds);
}

static void killed_between_forward_and_publish(void **state) {
  static const char *const other[] = {"ddas.deliveries", "ddas.receipts",
                                      "ddas.rejections", "ddas.failed"};
  scen s;
  dataset ds;
  amsgs l;
  char cmd[200];
  int p, t, st;
  long at_cbs = -1;
  size_t i, expect = 0;
  double until, stable = 0;
  watch w;
  (void)state;
  scen_start(&s, "k", NULL,
             "cbs.mode = both\nkafka.auto.commit.interval.ms = 60000\n");
  small_dataset(&ds, s.sdir);
  /* ddas.accepted only on broker 3; everything else on 1 and 2 */
  for(p = 0; p < 3; p++) {
    snprintf(cmd, sizeof(cmd), "leader ddas.accepted %d 3", p);
    mock_cmd(&s.km, cmd);
  }
  for(t = 0; t < 4; t++)
    for(p = 0; p < (t ? 3 : 6); p++) {
      snprintf(cmd, sizeof(cmd), "leader %s %d %d", other[t], p, 1 + p % 2);
      mock_cmd(&s.km, cmd);
    }
  mock_cmd(&s.km, "coordinator group ddas-worker 1");
  submit_range(&s, &ds, 0, ds.n);
  for(i = 0; i < ds.n; i++)
    expect += ds.d[i].accepted ? 1 : 0; /* at least */
  mock_cmd(&s.km, "down 3");
  watch_start(&w, s.km.bootstrap, &ds);
  worker_start(&s);
  /* the worker forwards every batch (CBS's count stops growing) but cannot
   * publish them */
  until = now_s() + 120;
  for(;;) {
    long n = stub_stat(&s.cbs, "accepted");
    if(n >= (long)expect && n == at_cbs && now_s() > stable)
      break;
    if(n != at_cbs)
      stable = now_s() + 2;
    at_cbs = n;
    assert_true(now_s() < until);
    usleep(100000);
  }
  watch_poll(&w, 500);
  /* a delivery's receipt follows its manifest, which waits for the batch
   * messages: only the malformed one and the one with nothing accepted
   * (an empty manifest is not waited for) may have theirs */
  assert_true(w.count <= 2);
  assert_int_equal(kill(s.worker[0], SIGKILL), 0);
  assert_int_equal(waitpid(s.worker[0], &st, 0), s.worker[0]);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  child_forget(s.worker[0]);
  s.worker[0] = 0;
  watch_stop(&w);
  mock_cmd(&s.km, "up 3");
  worker_start(&s);
  wait_receipts(&s, &ds, "(k) after the restart");
  /* the receipts counted include those published before the kill (the
   * delivery with nothing accepted, whose manifest was not acknowledged
   * and is redone): wait for every manifest, not only for the receipts */
  until = now_s() + 60;
  for(;;) {
    size_t missing = 0;
    l = read_accepted(&s);
    for(i = 0; i < ds.n; i++)
      missing += ds.d[i].kind != K_MALFORMED && !manifest_of(&l, ds.d[i].id);
    if(!missing)
      break;
    amsgs_free(&l);
    assert_true(now_s() < until);
    usleep(200000);
  }
  amsgs_free(&l);
  workers_stop(&s);
  l = read_accepted(&s);
  /* nothing lost: every batch CBS holds is published, byte for byte */
  assert_int_equal(bodies_match(&l, s.cbs.records), count_type(&l, "batch"));
  assert_int_equal(stub_stat(&s.cbs, "accepted"), count_type(&l, "batch"));
  assert_true(stub_stat(&s.cbs, "duplicates") >= at_cbs); /* re-sent */
  assert_int_equal(stub_stat(&s.cbs, "key_conflicts"), 0);
  for(i = 0; i < ds.n; i++)
    if(ds.d[i].kind != K_MALFORMED)
      check_manifest(&l, &ds.d[i], NULL);
  assert_all_committed(&s);
  printf("(k) %ld batches forwarded before the kill, re-sent and published "
         "after the restart\n",
         at_cbs);
  amsgs_free(&l);
  scen_stop(&s);
  dataset_free(&ds);
}

static int setup(void **state) {
  (void)state;
  fx_fail_hook = fixture_failed;
  return fx_setup("/tmp/ddas-accepted-XXXXXX");
}

static int teardown(void **state) {
  (void)state;
  return fx_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(pull_without_cbs, kill_all),
      cmocka_unit_test_teardown(both_with_refusal, kill_all),
      cmocka_unit_test_teardown(push_publishes_nothing, kill_all),
      cmocka_unit_test_teardown(killed_between_forward_and_publish, kill_all)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
