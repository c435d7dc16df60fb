/* The whole pipeline with real processes: `ddas-worker run` workers in one
 * consumer group against kafka-mock (librdkafka's mock cluster as a process:
 * 3 brokers, ddas.deliveries with 6 partitions) and the CBS stub over HTTPS
 * (mutual TLS, OAuth2, signatures and schema checked), fed by `ddas-worker
 * submit`, and reconciled exactly afterwards.
 *
 * The processes, the generated deliveries, the topic readers and the
 * reconciliation live in tests/support/pipeline_fixture.{h,c}, shared with
 * the fault matrix (tests/fault/). Every traject carries a unique record
 * id "r-<delivery>-<n>" in its free-text `omschrijving`, so each record can
 * be followed from the input to the batch bodies that reached CBS (the stub's
 * record directory) or were parked (ddas.failed). The generator knows, per
 * delivery, which records are valid and what the receipt must count.
 *
 * Reconciliation (every scenario): (1) every delivery has a processed
 * receipt with the known accepted/rejected counts (a redone delivery may
 * have two; they must agree); (2) the record ids in forwarded and parked
 * batch bodies are exactly the valid ones; (3) a record id in two bodies has
 * the same Idempotency-Key in both, and a parked batch that CBS also holds
 * has the identical body; (4) nothing is lost. Plus: every batch id named in
 * a receipt reached CBS, and the stub saw no key conflict, bad signature or
 * schema error.
 *
 * Scenarios: (a) 3 workers, 2,000 mixed deliveries; (b) the same with a
 * worker killed (SIGKILL) and restarted, and a 4th worker added; (c) CBS
 * answering 503 for a while, then `replay` (twice); (d) a broker down and up
 * again; (e) peak RSS with a backlog far larger than the in-flight limit;
 * (f) rule ids and pointers of the rejection events, and no personal data
 * in any event or log line.
 *
 * DDAS_KEEP_TMP=1 keeps the temporary directory (logs, data) for a look. */
#define _GNU_SOURCE
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline_fixture.h"
#include "testutil.h"

#define BATCH_MAX_BYTES FX_BATCH_MAX_BYTES

/* A failure of the fixture fails the running test. */
static void fixture_failed(const char *msg) { fail_msg("%s", msg); }

static int kill_all(void **state) {
  (void)state;
  children_kill_all();
  return 0;
}

/* The reconciliation of every scenario (see the top), as assertions.
 * require_replayed: every parked batch must have reached CBS by now (after
 * a replay). */
static void reconcile(const scen *s, const dataset *ds, recon *r,
                      int require_replayed) {
  fx_reconcile(s, ds, r, require_replayed ? FX_RECON_REQUIRE_REPLAYED : 0);
  assert_int_equal(r->bad_signature, 0);
  assert_int_equal(r->schema_invalid, 0);
  assert_int_equal(r->failures, 0);
  assert_int_equal(r->foreign, 0);
  assert_int_equal(r->lost, 0);
  assert_int_equal(r->extra, 0);
  assert_int_equal(r->key_mismatch, 0);
  assert_int_equal(r->key_conflicts, 0);
  assert_int_equal(r->processed, ds->n);
}

/* ---- (a) 3 workers, 2,000 deliveries ------------------------------------ */

#define N_MAIN 2000

static void three_workers_2000_deliveries(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  double t0 = now_s();
  (void)state;
  scen_start(&s, "a", NULL, NULL);
  dataset_mix(&ds, s.sdir, N_MAIN, 0);
  worker_start(&s);
  worker_start(&s);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  check_chunking(&ds);
  print_dataset("a", &ds);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, ds.n, 300, "(a)");
  printf("(a) all %zu receipts after %.1f s\n", ds.n, now_s() - t0);
  watch_stop(&w);
  workers_stop(&s);
  reconcile(&s, &ds, &r, 0);
  assert_int_equal(r.parked_batches, 0);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(a) %.1f s\n", now_s() - t0);
}

/* Waits (at most 60 s) until worker `k` is processing deliveries: its log
 * gains a "delivery processed" line within 300 ms. */
static void busy_before_kill(const scen *s, int k) {
  char path[512];
  double until = now_s() + 60;
  size_t before = 0, after;
  snprintf(path, sizeof(path), "%s/worker-%d.log", s->sdir, k + 1);
  for(;;) {
    char *log = tu_read(path, NULL), *p;
    after = 0;
    for(p = log; p && (p = strstr(p, "delivery processed")); p++)
      after++;
    free(log);
    if(before && after > before)
      return;
    before = after ? after : 0;
    assert_true(now_s() < until);
    usleep(300000);
  }
}

/* ---- (b) SIGKILL, restart, a 4th worker --------------------------------- */

static void worker_killed_and_added(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  int st;
  double t0 = now_s();
  (void)state;
  /* offsets are committed on revocation and shutdown; a long auto-commit
   * interval makes sure the killed worker leaves uncommitted work that the
   * next owner redoes (same batches, same Idempotency-Keys) */
  scen_start(&s, "b", NULL, "kafka.auto.commit.interval.ms = 60000\n");
  dataset_mix(&ds, s.sdir, N_MAIN, 0);
  worker_start(&s);
  worker_start(&s);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  check_chunking(&ds);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, ds.n / 3, 200, "(b) before the kill");
  /* kill worker 1 in the middle of its work: while it is finishing
   * deliveries (their offsets stored, not committed: the interval is 60 s),
   * not while it has no partition (a CI run once caught it between
   * assignments, and the kill left nothing to redo) */
  busy_before_kill(&s, 0);
  assert_int_equal(kill(s.worker[0], SIGKILL), 0);
  assert_int_equal(waitpid(s.worker[0], &st, 0), s.worker[0]);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  child_forget(s.worker[0]);
  s.worker[0] = 0;
  printf("(b) worker 1 killed after %zu receipts (%.1f s)\n", w.count,
         now_s() - t0);
  worker_start(&s);
  watch_wait(&w, ds.n / 2, 200, "(b) before the 4th worker");
  worker_start(&s);
  printf("(b) 4th worker added after %zu receipts (%.1f s)\n", w.count,
         now_s() - t0);
  watch_wait(&w, ds.n, 300, "(b)");
  printf("(b) all %zu receipts after %.1f s\n", ds.n, now_s() - t0);
  watch_stop(&w);
  workers_stop(&s);
  reconcile(&s, &ds, &r, 0);
  printf("(b) CBS received %ld batch requests, %ld duplicates\n",
         stub_stat(&s.cbs, "requests"), stub_stat(&s.cbs, "duplicates"));
  /* the kill left work that was redone: deliveries whose receipts were
   * published but not committed (processed again), or batches at CBS
   * without a receipt yet (sent again under the same key, which CBS
   * recognised). Which of the two depends on how long before the kill
   * worker 1 last committed (a rebalance commits): a fresh-clone CI run
   * saw 5 re-sends and no delivery processed again. */
  assert_true(r.processed_again > 0 || r.cbs_resends > 0);
  assert_int_equal(r.parked_batches, 0);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(b) %.1f s\n", now_s() - t0);
}

/* ---- (c) CBS down for a while, then replay ------------------------------ */

static void cbs_down_then_replay(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  sbuf plan = {NULL, 0, 0};
  size_t i;
  char *out = NULL, *p;
  unsigned long sel = 0, sent = 0, fwd = 0, already = 0, still = 0;
  double t0 = now_s();
  json_t *ans;
  (void)state;
  /* the first 400 batch requests get 503: with 2 attempts per batch, the
   * first ~200 batches are parked, later ones go through */
  sb_printf(&plan, "[");
  for(i = 0; i < 400; i++)
    sb_printf(&plan, "%s{\"status\":503}", i ? "," : "");
  sb_printf(&plan, "]");
  scen_start(&s, "c", plan.b, "retry.max_attempts = 2\n");
  free(plan.b);
  dataset_mix(&ds, s.sdir, 500, 0);
  worker_start(&s);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  check_chunking(&ds);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, ds.n, 200, "(c)");
  watch_stop(&w);
  workers_stop(&s);
  printf("(c) processed in %.1f s; CBS answered %ld planned faults\n",
         now_s() - t0, stub_stat(&s.cbs, "planned_faults"));
  /* CBS is back */
  ans = stub_call(&s.cbs, "/_plan", "[]");
  json_decref(ans);
  assert_int_equal(run_replay(&s, &out), 0);
  p = strstr(out, "parked batches selected:");
  assert_non_null(p);
  assert_int_equal(sscanf(p,
                          "parked batches selected: %lu; sent: %lu; "
                          "forwarded: %lu; already forwarded: %lu; still "
                          "parked: %lu",
                          &sel, &sent, &fwd, &already, &still),
                   5);
  printf("(c) replay: %s", p);
  assert_true(sent > 0);
  assert_int_equal(fwd, sent);
  assert_int_equal(still, 0);
  free(out);
  reconcile(&s, &ds, &r, 1);
  assert_true(r.parked_batches > 0);
  assert_int_equal(r.parked_batches, sent);
  assert_int_equal(r.replayed_receipts, sent);
  /* a second replay sends nothing */
  assert_int_equal(run_replay(&s, &out), 0);
  p = strstr(out, "parked batches selected:");
  assert_non_null(p);
  printf("(c) second replay: %s", p);
  assert_non_null(strstr(p, "; sent: 0;"));
  free(out);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(c) %.1f s\n", now_s() - t0);
}

/* ---- (d) a broker down and up again ------------------------------------- */

static void broker_down_and_up(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  double t0 = now_s();
  (void)state;
  scen_start(&s, "d", NULL, NULL);
  dataset_mix(&ds, s.sdir, 1000, 0);
  worker_start(&s);
  worker_start(&s);
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  check_chunking(&ds);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, ds.n / 4, 200, "(d) before the broker went down");
  mock_cmd(&s.km, "down 2");
  printf("(d) broker 2 down after %zu receipts (%.1f s)\n", w.count,
         now_s() - t0);
  watch_poll(&w, 4000);
  mock_cmd(&s.km, "up 2");
  printf("(d) broker 2 up again after %zu receipts (%.1f s)\n", w.count,
         now_s() - t0);
  watch_wait(&w, ds.n, 300, "(d)");
  watch_stop(&w);
  workers_stop(&s);
  reconcile(&s, &ds, &r, 0);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(d) %.1f s\n", now_s() - t0);
}

/* ---- (e) memory with a backlog ------------------------------------------ */

static long vm_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  FILE *f;
  long kb = -1;
  size_t n = strlen(field);
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  assert_non_null(f);
  while(fgets(line, sizeof(line), f))
    if(!strncmp(line, field, n) && line[n] == ':')
      kb = strtol(line + n + 1, NULL, 10);
  fclose(f);
  return kb;
}

/* Every message of topic is still there (kafka-mock keeps about 5 MiB per
 * partition and silently drops the oldest beyond that). */
static void assert_nothing_dropped(const char *bootstrap, const char *topic) {
  rd_kafka_t *rk = consumer_new(bootstrap);
  int np = partitions_of(rk, topic), i;
  for(i = 0; i < np; i++) {
    int64_t lo = -1, hi = -1;
    assert_int_equal(
        rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000), 0);
    if(lo != 0)
      fail_msg("%s [%d] starts at %lld: kafka-mock dropped messages", topic, i,
               (long long)lo);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

/* Bounds on the worker's peak RSS (VmHWM).
 *
 * Absolute: 64 MiB + 8 x batch.max_bytes. Growth over the same worker's
 * footprint after one small delivery (schemas, OpenSSL, libcurl, a TLS
 * connection, librdkafka's threads): librdkafka enqueues a fetched message
 * set whole, whatever queued.max.messages.kbytes says, so each of the 6
 * assigned partitions may hold up to fetch.max.bytes (raised by librdkafka
 * to message.max.bytes, 1 MiB), and each of the 3 broker connections may
 * have a fetch response of that size being read: 6 + 3 x 2 MiB; then the
 * message at hand (at most submit.chunk_bytes) and its parsed document, one
 * open batch and the signed copy being sent (batch.max_bytes each), and
 * allocator slack: 6 MiB (4 MiB was exceeded once, 17.8 MiB of growth in
 * all, with another pipeline test running beside it; alone it grew
 * 14.3 MiB). A worker that buffered its backlog would grow by at least the
 * backlog (19.5 MiB), which is more than this. */
#define RSS_BOUND_KIB (64 * 1024 + 8 * BATCH_MAX_BYTES / 1024)
#define RSS_GROWTH_KIB (6 * 1024 + 3 * 2 * 1024 + 6 * 1024)

static void memory_bounded_with_backlog(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  size_t i;
  unsigned long k = 0;
  long base, hwm;
  pid_t pid;
  double t0 = now_s();
  (void)state;
  scen_start(&s, "e", NULL, NULL);
  /* large deliveries (5..9 chunks each) with small ones between them:
   * about 20 MB, as much as kafka-mock keeps in 6 partitions */
  dataset_init(&ds, s.sdir, 300);
  for(i = 0; i < ds.n; i++)
    gen_delivery(&ds, i, i % 3 ? K_LARGE : K_MULTI, 0, &k);
  /* the footprint of a worker after one small delivery */
  submit_range(&s, &ds, 0, 1);
  pid = worker_start(&s);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, 1, 60, "(e) first delivery");
  base = vm_kb(pid, "VmHWM");
  workers_stop(&s);
  /* the backlog, all in Kafka before the next worker starts */
  submit_range(&s, &ds, 1, ds.n);
  assert_nothing_dropped(s.km.bootstrap, "ddas.deliveries");
  print_dataset("e", &ds);
  printf("(e) backlog: %.1f MiB in Kafka before the worker starts, %.0fx "
         "batch.max_bytes\n",
         (double)ds.bytes / 1048576.0, (double)ds.bytes / BATCH_MAX_BYTES);
  assert_true(ds.bytes > 10 * (size_t)BATCH_MAX_BYTES);
  assert_true(ds.bytes / 1024 > RSS_GROWTH_KIB);
  pid = worker_start(&s);
  watch_wait(&w, ds.n, 300, "(e)");
  watch_stop(&w);
  hwm = vm_kb(pid, "VmHWM");
  printf("(e) peak RSS (VmHWM): %ld KiB (%.1f MiB) after one small delivery; "
         "%ld KiB (%.1f MiB) with the backlog, growth %ld KiB; bounds: %d KiB "
         "absolute (64 MiB + 8 x batch.max_bytes), %d KiB growth\n",
         base, base / 1024.0, hwm, hwm / 1024.0, hwm - base, RSS_BOUND_KIB,
         RSS_GROWTH_KIB);
  fflush(stdout);
  assert_true(base > 0);
  assert_true(hwm > 0);
#if defined(__SANITIZE_ADDRESS__)
  printf("(e) AddressSanitizer build: its shadow memory and quarantine make "
         "RSS meaningless; bounds not checked\n");
#else
  assert_true(hwm < RSS_BOUND_KIB);
  assert_true(hwm - base < RSS_GROWTH_KIB);
#endif
  workers_stop(&s);
  reconcile(&s, &ds, &r, 0);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(e) %.1f s\n", now_s() - t0);
}

/* ---- (f) rejection events and personal data ----------------------------- */

/* Everything the privacy scan looks at, one item per line. */
static sbuf scanned;

static void scan_headers(rd_kafka_message_t *m) {
  rd_kafka_headers_t *h = NULL;
  size_t i;
  const char *name;
  const void *v;
  size_t vl;
  if(rd_kafka_message_headers(m, &h) || !h)
    return;
  for(i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &vl); i++)
    sb_printf(&scanned, "%s: %.*s\n", name, (int)vl, v ? (const char *)v : "");
  if(m->key_len)
    sb_printf(&scanned, "key: %.*s\n", (int)m->key_len, (const char *)m->key);
}

typedef struct {
  const dataset *ds;
  const kmsgs *in;
  size_t events, traject_events, document_events, json_syntax, amount, schema,
      checked, wrong;
  unsigned char *hit; /* per record: a traject rejection names it */
  char (*ids)[64];    /* distinct ce_ids */
  int64_t *id_offset;
  size_t nids, collisions;
} fctx;

/* 1 when findings has one of rule at ptr (NULL: anywhere; "X*": at X or
 * below it). */
static int has_finding(json_t *findings, const char *rule, const char *ptr) {
  size_t i, n = ptr ? strlen(ptr) : 0;
  json_t *f;
  json_array_foreach(findings, i, f) {
    const char *r = json_string_value(json_object_get(f, "rule"));
    const char *p = json_string_value(json_object_get(f, "pointer"));
    if(!r || strcmp(r, rule))
      continue;
    if(!ptr || (p && !strcmp(p, ptr)) ||
       (p && n && ptr[n - 1] == '*' && !strncmp(p, ptr, n - 1)))
      return 1;
  }
  return 0;
}

static void on_rejection(void *ctx, rd_kafka_message_t *m) {
  fctx *c = ctx;
  char type[64], ceid[64];
  json_t *j, *src, *findings;
  const char *id, *scope, *ptr;
  long di;
  const gdel *d;
  scan_headers(m);
  sb_printf(&scanned, "%.*s\n", (int)m->len, (const char *)m->payload);
  assert_true(header(m, "ce_type", type, sizeof(type)));
  assert_string_equal(type, "nl.ddas.delivery.rejected");
  assert_true(header(m, "ce_id", ceid, sizeof(ceid)));
  j = json_loadb(m->payload, m->len, 0, NULL);
  assert_non_null(j);
  c->events++;
  id = json_string_value(json_object_get(j, "delivery_id"));
  scope = json_string_value(json_object_get(j, "scope"));
  ptr = json_string_value(json_object_get(j, "pointer"));
  findings = json_object_get(j, "findings");
  src = json_array_get(json_object_get(j, "sources"), 0);
  assert_non_null(id);
  assert_non_null(scope);
  assert_non_null(ptr);
  assert_non_null(src);
  di = index_of_id(c->ds, id);
  assert_true(di >= 0);
  d = &c->ds->d[di];
  {
    /* the same ce_id for two different events is a collision (consumers
     * de-duplicate on it) */
    int64_t off = json_integer_value(json_object_get(src, "offset"));
    size_t i;
    for(i = 0; i < c->nids; i++)
      if(!strcmp(c->ids[i], ceid))
        break;
    if(i == c->nids) {
      c->ids = realloc(c->ids, (c->nids + 1) * sizeof(*c->ids));
      c->id_offset = realloc(c->id_offset, (c->nids + 1) * sizeof(int64_t));
      assert_non_null(c->ids);
      assert_non_null(c->id_offset);
      snprintf(c->ids[c->nids], sizeof(c->ids[0]), "%s", ceid);
      c->id_offset[c->nids++] = off;
    } else if(c->id_offset[i] != off) {
      if(c->collisions++ < 3)
        printf("(f) ce_id %s names two rejection events of delivery %s: "
               "sources offset %lld and %lld, pointer %s\n",
               ceid, id, (long long)c->id_offset[i], (long long)off, ptr);
    }
  }
  if(d->kind == K_MALFORMED) {
    c->json_syntax += has_finding(findings, "json.syntax", NULL);
    if(!has_finding(findings, "json.syntax", NULL) ||
       (d->variant == 0 && (strcmp(scope, "document") || strcmp(ptr, ""))) ||
       (d->variant == 1 &&
        !has_finding(findings, "json.syntax",
                     "/leveringen/0/schuldhulptrajecten/0*"))) {
      c->wrong++;
      printf("(f) malformed delivery %s (variant %d): rejection scope %s "
             "pointer '%s' findings %s\n",
             id, d->variant, scope, ptr, json_dumps(findings, JSON_COMPACT));
    }
    if(!strcmp(scope, "document"))
      c->document_events++;
    else
      c->traject_events++;
    c->checked++;
  } else {
    /* a traject rejection: the pointer must find the invalid record in the
     * input message it came from (the delivery, or its chunk) */
    const kmsg *in = input_at(
        c->in, (int32_t)json_integer_value(json_object_get(src, "partition")),
        json_integer_value(json_object_get(src, "offset")));
    json_t *doc, *t;
    const char *rid;
    unsigned long rdi, rri;
    char fp[400];
    assert_string_equal(scope, "traject");
    c->traject_events++;
    assert_non_null(in);
    doc = json_loadb(in->payload, in->len, 0, NULL);
    assert_non_null(doc);
    t = resolve(doc, ptr);
    rid = json_string_value(json_object_get(t, "omschrijving"));
    if(!rid || sscanf(rid, "r-%lu-%lu", &rdi, &rri) != 2 ||
       rdi != (unsigned long)di || rri >= d->nrec ||
       c->ds->valid[d->base + rri]) {
      c->wrong++;
      printf("(f) delivery %s: rejection pointer %s finds %s, not an invalid "
             "record of it\n",
             id, ptr, rid ? rid : "nothing");
    } else {
      size_t idx = d->base + rri;
      c->hit[idx]++;
      if(c->ds->bad_schema[idx]) {
        snprintf(fp, sizeof(fp), "%s/aanmelding/crisisinterventie", ptr);
        c->schema += has_finding(findings, "schema", fp);
        if(!has_finding(findings, "schema", fp)) {
          c->wrong++;
          printf("(f) %s %s: no schema finding at %s\n", id, ptr, fp);
        }
      } else {
        snprintf(fp, sizeof(fp), "%s/totaalSchuldbedragBijAanvangSchuld", ptr);
        c->amount += has_finding(findings, "amount.nonnegative", fp);
        if(!has_finding(findings, "amount.nonnegative", fp)) {
          c->wrong++;
          printf("(f) %s %s: no amount.nonnegative finding at %s\n", id, ptr,
                 fp);
        }
      }
      c->checked++;
    }
    json_decref(doc);
  }
  json_decref(j);
}

static void on_receipt_scan(void *ctx, rd_kafka_message_t *m) {
  (void)ctx;
  scan_headers(m);
  sb_printf(&scanned, "%.*s\n", (int)m->len, (const char *)m->payload);
}

static void on_failed_scan(void *ctx, rd_kafka_message_t *m) {
  size_t *n = ctx;
  (*n)++;
  scan_headers(m); /* the body is the batch itself: personal data */
}

static int is_alnum(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 'A' && ch <= 'Z');
}

/* Occurrences of v in text as a whole token (not inside a longer run of
 * letters and digits such as a base64 signature). */
static size_t token_hits(const char *text, size_t len, const char *v) {
  size_t vl = strlen(v), hits = 0;
  const char *p = text, *end = text + len;
  while(p < end) {
    const char *h = memmem(p, (size_t)(end - p), v, vl);
    if(!h)
      break;
    if((h == text || !is_alnum(h[-1])) && (h + vl >= end || !is_alnum(h[vl])))
      hits++;
    p = h + 1;
  }
  return hits;
}

static void rejections_and_privacy(void **state) {
  scen s;
  dataset ds;
  watch w;
  recon r;
  kmsgs in = {NULL, 0};
  fctx c;
  size_t i, nfailed = 0, npd = 0, leaks = 0, expected_traject = 0;
  char **pd = NULL;
  unsigned long k = 0;
  double t0 = now_s();
  (void)state;
  /* the first 16 batch requests get 503, with 2 attempts a batch: some
   * batches are parked whatever the timing, since no batch is parked only
   * if all 16 failures went to first attempts, i.e. 16 batches were in
   * flight at once, and the fixture sets cbs.max_in_flight = 8 */
  scen_start(&s, "f",
             "[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":"
             "503},{\"status\":503},{\"status\":503},{\"status\":503},"
             "{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":"
             "503},{\"status\":503},{\"status\":503},{\"status\":503},"
             "{\"status\":503},{\"status\":503}]",
             "retry.max_attempts = 2\n");
  dataset_init(&ds, s.sdir, 60);
  for(i = 0; i < ds.n; i++) {
    static const dkind kinds[] = {K_SINGLE, K_AMOUNT, K_SCHEMA,    K_MULTI,
                                  K_ALLBAD, K_AMOUNT, K_MALFORMED, K_SCHEMA};
    dkind kd = kinds[i % 8];
    int v = kd == K_MALFORMED ? (int)(i / 8 % 2) : 0;
    if(i == 20 || i == 41) {
      kd = K_LARGE; /* chunked, an invalid record every 17th */
      v = 17;
    }
    gen_delivery(&ds, i, kd, v, &k);
  }
  worker_start(&s);
  submit_range(&s, &ds, 0, ds.n);
  check_chunking(&ds);
  print_dataset("f", &ds);
  watch_start(&w, s.km.bootstrap, &ds);
  watch_wait(&w, ds.n, 200, "(f)");
  watch_stop(&w);
  printf("(f) peak RSS (VmHWM) of the worker under a small load: %ld KiB\n",
         vm_kb(s.worker[0], "VmHWM"));
  workers_stop(&s);
  reconcile(&s, &ds, &r, 0);
  assert_true(r.parked_batches > 0);

  /* the rejection events */
  memset(&c, 0, sizeof(c));
  c.ds = &ds;
  c.in = &in;
  c.hit = calloc(ds.nrec, 1);
  assert_non_null(c.hit);
  read_topic(s.km.bootstrap, "ddas.deliveries", on_input, &in);
  read_topic(s.km.bootstrap, "ddas.rejections", on_rejection, &c);
  for(i = 0; i < ds.nrec; i++)
    if(!ds.valid[i]) {
      size_t d;
      for(d = 0; d < ds.n; d++)
        if(i >= ds.d[d].base && i < ds.d[d].base + ds.d[d].nrec)
          break;
      if(ds.d[d].kind == K_MALFORMED)
        continue;
      expected_traject++;
      if(c.hit[i] != 1) {
        printf("(f) record r-%zu-%zu: %d traject rejection events, expected "
               "1\n",
               d, i - ds.d[d].base, c.hit[i]);
        c.wrong++;
      }
    }
  printf("(f) rejection events: %zu (traject %zu, document %zu); findings "
         "checked: amount.nonnegative %zu, schema %zu, json.syntax %zu; "
         "wrong: %zu; ce_id collisions: %zu\n",
         c.events, c.traject_events, c.document_events, c.amount, c.schema,
         c.json_syntax, c.wrong, c.collisions);
  assert_int_equal(c.wrong, 0);
  assert_int_equal(c.json_syntax, ds.malformed);
  assert_int_equal(c.amount + c.schema, expected_traject);
  assert_int_equal(c.checked, c.events);

  /* no personal data in any event, header or log line */
  read_topic(s.km.bootstrap, "ddas.receipts", on_receipt_scan, NULL);
  read_topic(s.km.bootstrap, "ddas.failed", on_failed_scan, &nfailed);
  assert_true(nfailed > 0);
  {
    char path[400], *log;
    size_t len;
    int wi;
    for(wi = 1; wi <= s.nworkers; wi++) {
      snprintf(path, sizeof(path), "%s/worker-%d.log", s.sdir, wi);
      log = tu_read(path, &len);
      sb_printf(&scanned, "%.*s\n", (int)len, log);
      free(log);
    }
  }
  pd = calloc(1 << 16, sizeof(char *));
  assert_non_null(pd);
  for(i = 0; i < ds.n && npd < (1 << 16) - 4096; i++) {
    size_t len;
    char *buf = tu_read(ds.d[i].path, &len);
    npd += tu_collect_pd(buf, len, pd + npd, (1 << 16) - npd);
    free(buf);
  }
  assert_true(npd > 100);
  for(i = 0; i < npd; i++) {
    size_t h = token_hits(scanned.b, scanned.n, pd[i]);
    if(h && leaks++ < 5)
      printf("(f) personal data in an event or log line: a %zu-byte value "
             "of the input, %zu times\n",
             strlen(pd[i]), h);
    free(pd[i]);
  }
  printf("(f) privacy scan: %zu personal-data values against %.1f KB of "
         "events, headers and logs (%zu parked batches' headers): %zu found\n",
         npd, (double)scanned.n / 1e3, nfailed, leaks);
  assert_int_equal(leaks, 0);
  free(pd);
  free(scanned.b);
  memset(&scanned, 0, sizeof(scanned));
  kmsgs_free(&in);
  free(c.hit);
  free(c.ids);
  free(c.id_offset);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(f) %.1f s\n", now_s() - t0);
}

/* ---- set-up ------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  fx_fail_hook = fixture_failed;
  return fx_setup("/tmp/ddas-pipe-XXXXXX");
}

static int teardown(void **state) {
  (void)state;
  return fx_teardown();
}

int main(void) {
  /* DDAS_PIPELINE_ONLY=name runs one scenario (development) */
  const char *only = getenv("DDAS_PIPELINE_ONLY");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(three_workers_2000_deliveries, kill_all),
      cmocka_unit_test_teardown(worker_killed_and_added, kill_all),
      cmocka_unit_test_teardown(cbs_down_then_replay, kill_all),
      cmocka_unit_test_teardown(broker_down_and_up, kill_all),
      cmocka_unit_test_teardown(memory_bounded_with_backlog, kill_all),
      cmocka_unit_test_teardown(rejections_and_privacy, kill_all)};
  if(only && *only)
    cmocka_set_test_filter(only);
  return cmocka_run_group_tests(tests, setup, teardown);
}
