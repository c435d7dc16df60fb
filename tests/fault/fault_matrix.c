/* fault-matrix: the pipeline under one fault at a time, reconciled.
 *
 * Each scenario starts kafka-mock, the CBS stub and `ddas-worker run`
 * processes (tests/support/pipeline_fixture.h), publishes the standard mix
 * of generated deliveries with `ddas-worker submit`, injects its fault while
 * the workers are busy, waits for every delivery's receipt, runs `ddas-worker
 * replay` once the fault is over, and reconciles every record: forwarded
 * (in a batch CBS holds), rejected (named by a rejection event), parked (in
 * a parked batch CBS does not hold) or lost. It prints one table row per
 * fault. Exit status 0 only when every row passed: lost = 0, no record
 * under two Idempotency-Keys, the replay exited 0 and left nothing parked,
 * no worker crashed or exited without the fault explaining it, the fault
 * took effect, and every other reconciliation check passed; 1 otherwise
 * (the failing rows are named); 2 on a usage error. See
 * tests/fault/README.md ("A row fails when"). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline_fixture.h"
#include "testutil.h"

typedef struct fm fm;

/* An effect a fault must show in the workers' logs: at least min lines of
 * event `what` in the logs matching `logs`, else the fault is missed. */
typedef struct {
  char logs[32];
  const char *what;
  long min;
  char why[160];
} expectation;
#define MAX_EXPECT 8

typedef struct {
  const char *name;      /* for --only */
  const char *title;     /* the table's first column */
  const char *mechanism; /* one paragraph for --markdown */
  void (*run)(fm *);
  /* The status a worker may exit with on its own under this fault: its
   * documented reaction to it (0: none, every exit is unexpected). */
  int worker_exit;
} fault;

struct fm {
  const fault *f;
  size_t n; /* deliveries */
  scen s;
  dataset ds;
  watch w;
  int watching, have_scen, have_ds;
  pid_t ours[FX_MAX_WORKERS]; /* workers we killed on purpose */
  int nours;
  expectation expect[MAX_EXPECT]; /* checked in finish() */
  int nexpect;
  int crashes, exits, unexpected_exits, timeout, stop_failures, not_exercised,
      replay_failed;
  char first_exit[64], first_unexpected[400];
  char notes[1200];
  char replay[200];
  recon r;
  double t0, secs;
  int error;
  char errmsg[600];
  long lost;
  int columns_off; /* in != forwarded + rejected + parked + lost */
  int ok;
};

static jmp_buf on_error;
static fm *current;

static void fixture_failed(const char *msg) {
  if(current) {
    snprintf(current->errmsg, sizeof(current->errmsg), "%s", msg);
    longjmp(on_error, 1);
  }
}

static void note(fm *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(fm *m, const char *fmt, ...) {
  size_t n = strlen(m->notes);
  va_list ap;
  if(n && n + 2 < sizeof(m->notes)) {
    memcpy(m->notes + n, "; ", 3);
    n += 2;
  }
  va_start(ap, fmt);
  vsnprintf(m->notes + n, sizeof(m->notes) - n, fmt, ap);
  va_end(ap);
}

static void say(const fm *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const fm *m, const char *fmt, ...) {
  va_list ap;
  printf("  [%s %5.1f s] ", m->f->name, now_s() - m->t0);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* ---- scenario steps ----------------------------------------------------- */

/* Starts the cluster, the stub (o), nworkers workers, publishes the
 * deliveries and starts watching the receipts. */
static void begin(fm *m, const stub_opts *o, const char *extra, int nworkers) {
  int i;
  /* before the start: a failed start may leave kafka-mock's pipe open
   * (scen_start_opts sets it to -1 first) */
  m->have_scen = 1;
  scen_start_opts(&m->s, m->f->name, o, extra);
  dataset_mix(&m->ds, m->s.sdir, m->n, 0);
  m->have_ds = 1;
  for(i = 0; i < nworkers; i++)
    worker_start(&m->s);
  submit_range(&m->s, &m->ds, 0, m->ds.n);
  check_chunking(&m->ds);
  say(m, "%zu deliveries, %zu records submitted; %d workers", m->ds.n,
      m->ds.nrec, nworkers);
  watch_start(&m->w, m->s.km.bootstrap, &m->ds);
  m->watching = 1;
}

static void begin_plan(fm *m, const char *plan, const char *extra,
                       int nworkers) {
  stub_opts o;
  memset(&o, 0, sizeof(o));
  o.plan = plan;
  begin(m, &o, extra, nworkers);
}

static int is_ours(const fm *m, pid_t pid) {
  int i;
  for(i = 0; i < m->nours; i++)
    if(m->ours[i] == pid)
      return 1;
  return 0;
}

/* A worker that ended on its own is replaced (as a container runtime would
 * restart it). Only an exit with the fault's worker_exit status is
 * expected (noted); any other exit, 0 included (nothing asked the worker to
 * stop), and an end by a signal we did not send (a crash) fail the row. */
static void supervise(fm *m) {
  int i;
  for(i = 0; i < m->s.nworkers; i++) {
    int rc;
    if(m->s.worker[i] <= 0 || is_ours(m, m->s.worker[i]))
      continue;
    rc = poll_exit(m->s.worker[i]);
    if(rc == -2)
      continue;
    m->s.worker[i] = 0;
    if(rc >= 128) {
      m->crashes++;
      note(m, "CRASH: worker %d killed by signal %d (see %s/worker-%d.log)",
           i + 1, rc - 128, m->s.sdir, i + 1);
    } else if(rc != 0 && rc == m->f->worker_exit) {
      if(!m->exits++)
        snprintf(m->first_exit, sizeof(m->first_exit),
                 "worker %d with status %d", i + 1, rc);
    } else if(!m->unexpected_exits++) {
      snprintf(m->first_unexpected, sizeof(m->first_unexpected),
               "worker %d with status %d, see %s/worker-%d.log", i + 1, rc,
               m->s.sdir, i + 1);
    }
    say(m, "worker %d ended on its own (status %d); starting another", i + 1,
        rc);
    worker_start(&m->s);
  }
}

/* Waits until `target` deliveries have a receipt; 0, or -1 on timeout. */
static int wait_receipts(fm *m, size_t target, int timeout_s) {
  double until = now_s() + timeout_s;
  while(m->w.count < target) {
    if(now_s() > until)
      return -1;
    watch_poll(&m->w, 200);
    supervise(m);
  }
  return 0;
}

/* Waits for a fraction of the receipts (the moment to inject). */
static void wait_part(fm *m, size_t num, size_t den) {
  size_t target = m->ds.n * num / den;
  if(wait_receipts(m, target, 300))
    note(m, "only %zu of %zu receipts before the injection", m->w.count,
         target);
  say(m, "%zu receipts", m->w.count);
}

/* Polls the receipts for ms while a fault lasts. */
static void hold(fm *m, int ms) {
  double until = now_s() + ms / 1000.0;
  while(now_s() < until) {
    watch_poll(&m->w, 200);
    supervise(m);
  }
}

/* The fault did not take effect, or the reaction that shows it did not
 * come: the row fails, since it proved nothing about the fault. */
static void missed(fm *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void missed(fm *m, const char *fmt, ...) {
  char what[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  m->not_exercised = 1;
  note(m, "NOT EXERCISED: %s", what);
  say(m, "not exercised: %s", what);
}

/* How many lines of event `what` the logs matching `logs` (a file pattern
 * in the scenario directory: "worker-*.log", "worker-3.log") have. */
static long log_events_in(const fm *m, const char *logs, const char *what) {
  char *out = NULL;
  long n = 0;
  if(tu_runf(&out, "cat '%s'/%s | grep -c '\"event\":\"%s'", m->s.sdir, logs,
             what) <= 1 &&
     out)
    n = strtol(out, NULL, 10);
  free(out);
  return n;
}

/* The same over every worker's log. */
static long log_events(const fm *m, const char *what) {
  return log_events_in(m, "worker-*.log", what);
}

/* Polls the receipts (and supervises) until the logs matching `logs` have
 * at least min lines of event `what`: 0, or -1 after timeout_s. Faults
 * wait on what they cause rather than for a fixed time: on a loaded 2-core
 * machine a stall or a rebalance can take many seconds, so the deadline is
 * generous and only bounds a fault that never shows. */
#define AWAIT_S 90
static int await_events(fm *m, const char *logs, const char *what, long min,
                        int timeout_s) {
  double until = now_s() + timeout_s;
  while(log_events_in(m, logs, what) < min) {
    if(now_s() > until)
      return -1;
    watch_poll(&m->w, 250);
    supervise(m);
  }
  return 0;
}

/* A kafka-mock command that injects or ends a fault; missed unless
 * kafka-mock carried it out (it says "ok" once the mock cluster call
 * returned). */
static void inject(fm *m, const char *cmd) {
  char answer[128];
  if(mock_try(&m->s.km, cmd, answer, sizeof(answer)))
    missed(m, "kafka-mock did not carry out '%s': %s", cmd, answer);
}

/* SIGKILL to worker i (0-based), reaped; missed unless it died by it. */
static void kill_worker(fm *m, int i) {
  pid_t pid = m->s.worker[i];
  int rc;
  FX_CHECK(pid > 0); /* kill(0) would signal the whole group */
  m->ours[m->nours++] = pid;
  kill(pid, SIGKILL);
  rc = wait_exit(pid, 10000);
  m->s.worker[i] = 0;
  if(rc != 128 + SIGKILL)
    missed(m, "worker %d (pid %d) ended with status %d, not by SIGKILL", i + 1,
           (int)pid, rc);
}

/* Expects an effect (see expectation; why: what it means when it does not
 * show). Checked when every receipt is in, before the workers stop, so
 * that waiting for it does not move the scenario's next injection: a
 * rebalance takes seconds, in which the receipts would pass the next
 * fraction and the faults would bunch up. */
static void expect_events(fm *m, const char *logs, const char *what, long min,
                          const char *why) {
  expectation *e;
  FX_CHECK(m->nexpect < MAX_EXPECT);
  e = &m->expect[m->nexpect++];
  snprintf(e->logs, sizeof(e->logs), "%s", logs);
  e->what = what;
  e->min = min;
  snprintf(e->why, sizeof(e->why), "%s", why);
}

/* Waits for the expected effects (each at most AWAIT_S), then forgets
 * them. */
static void check_expected(fm *m) {
  int i;
  for(i = 0; i < m->nexpect; i++) {
    const expectation *e = &m->expect[i];
    if(await_events(m, e->logs, e->what, e->min, AWAIT_S))
      missed(m, "%s (within %d s)", e->why, AWAIT_S);
  }
  m->nexpect = 0;
}

/* Starts a worker, which must get partitions ("partitions assigned" in its
 * log): the group rebalanced. */
static void join_worker(fm *m) {
  char log[32], why[80];
  worker_start(&m->s);
  snprintf(log, sizeof(log), "worker-%d.log", m->s.nworkers);
  snprintf(why, sizeof(why), "worker %d got no partitions: no rebalance",
           m->s.nworkers);
  expect_events(m, log, "partitions assigned", 1, why);
  say(m, "worker %d started", m->s.nworkers);
}

static void set_plan(fm *m, const char *plan) {
  json_decref(stub_call(&m->s.cbs, "/_plan", plan));
}

/* A plan queue: a JSON array of n steps, step i being cycle[i % ncycle]. */
static char *plan_array(int n, const char *const *cycle, size_t ncycle) {
  sbuf b = {NULL, 0, 0};
  int i;
  sb_printf(&b, "[");
  for(i = 0; i < n; i++)
    sb_printf(&b, "%s%s", i ? "," : "", cycle[(size_t)i % ncycle]);
  sb_printf(&b, "]");
  return b.b;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Starts with a batch plan of n steps cycling through cycle. */
static void begin_cycle(fm *m, int n, const char *const *cycle, size_t ncycle,
                        const char *extra, int nworkers) {
  char *plan = plan_array(n, cycle, ncycle);
  begin_plan(m, plan, extra, nworkers);
  free(plan);
}

/* Every receipt, the workers stopped, the stub back to normal, one replay,
 * and the reconciliation. */
static void finish(fm *m) {
  char *out = NULL, *p;
  int rc;
  if(wait_receipts(m, m->ds.n, 300)) {
    m->timeout = 1;
    note(m, "only %zu of %zu deliveries had a receipt after 300 s", m->w.count,
         m->ds.n);
  }
  check_expected(m);
  say(m, "%zu of %zu receipts; stopping the workers", m->w.count, m->ds.n);
  watch_stop(&m->w);
  m->watching = 0;
  m->stop_failures = workers_stop_count(&m->s);
  if(m->stop_failures)
    note(m, "%d workers did not exit 0 after SIGTERM", m->stop_failures);
  set_plan(m, "[]");
  rc = run_replay(&m->s, &out);
  p = out ? strstr(out, "parked batches selected:") : NULL;
  if(p) {
    snprintf(m->replay, sizeof(m->replay), "%.*s", (int)strcspn(p, "\n"), p);
    say(m, "replay: %s", m->replay);
  }
  free(out);
  /* The fault plan is cleared and the stub is the normal one: no parked
   * batch has a reason to stay parked, so a replay that fails, or does not
   * say what it did, fails the row. */
  if(rc || !p) {
    m->replay_failed = 1;
    note(m, "REPLAY FAILED: exit status %d%s (see %s/replay.log)", rc,
         p ? "" : ", no summary line", m->s.sdir);
  }
  /* ... and every parked batch must be at CBS now */
  fx_reconcile(&m->s, &m->ds, &m->r,
               FX_RECON_REJECTIONS | FX_RECON_REQUIRE_REPLAYED);
  if(m->r.parked_at_cbs < m->r.parked_batches)
    note(m, "%zu of %zu parked batches are not at CBS after the replay",
         m->r.parked_batches - m->r.parked_at_cbs, m->r.parked_batches);
}

/* Notes how hard CBS-side faults hit the workers. */
static void note_attempts(fm *m) {
  long failed = log_events(m, "batch attempt failed");
  long parked = log_events(m, "batch parked");
  note(m, "%ld failed batch attempts, %ld batches parked", failed, parked);
  if(!failed && !parked)
    missed(m, "the fault did not reach a worker (no failed batch attempt)");
}

/* Notes what a crash or a rebalance left behind. */
static void note_redone(fm *m) {
  note(m,
       "%zu deliveries redone, %zu batch re-sends; %ld partition "
       "revocations, %ld deliveries abandoned on revocation",
       m->r.processed_again, m->r.cbs_resends,
       log_events(m, "partitions revoked"),
       log_events(m, "delivery abandoned"));
}

/* ---- the faults --------------------------------------------------------- */

/* The first n batch requests answered after ms each. */
static void begin_slow(fm *m, int ms, int n, const char *extra, int nworkers) {
  char step[64];
  const char *cycle[1];
  snprintf(step, sizeof(step), "{\"delay_ms\":%d}", ms);
  cycle[0] = step;
  begin_cycle(m, n, cycle, 1, extra, nworkers);
}

static void f_5xx(fm *m) {
  /* 150 batch requests in a row get 500/502/503/504; 3 attempts per batch:
   * the batches caught in it are parked, then CBS recovers */
  static const char *const cycle[] = {"{\"status\":500}", "{\"status\":502}",
                                      "{\"status\":503}", "{\"status\":504}"};
  begin_cycle(m, 150, cycle, NELEM(cycle), "retry.max_attempts = 3\n", 3);
  finish(m);
  note_attempts(m);
}

static void f_429(fm *m) {
  static const char *const cycle[] = {"{\"status\":429,\"retry_after\":\"1\"}"};
  begin_cycle(m, 30, cycle, NELEM(cycle), "retry.max_attempts = 4\n", 3);
  finish(m);
  note_attempts(m);
  note(m, "CBS answered %ld planned faults",
       stub_stat(&m->s.cbs, "planned_faults"));
}

static void f_slow(fm *m) {
  /* the first 120 batch requests are answered after 200 ms, every 10th
   * after 2.5 s: beyond the worker's 1.5-s timeout, so it gives up and
   * sends the batch again, while CBS has recorded it */
#define D200 "{\"delay_ms\":200}"
  static const char *const cycle[] = {D200, D200, D200, "{\"delay_ms\":2500}",
                                      D200, D200, D200, D200,
                                      D200, D200};
#undef D200
  begin_cycle(m, 120, cycle, NELEM(cycle),
              "cbs.timeout_ms = 1500\nretry.max_attempts = 6\n", 3);
  finish(m);
  note_attempts(m);
}

static void restart_stub(fm *m, const char *cert, const char *key,
                         const char *client_ca) {
  stub_opts o;
  int port = m->s.cbs.port;
  memset(&o, 0, sizeof(o));
  o.cert = cert;
  o.key = key;
  o.client_ca = client_ca;
  o.port = port;
  stub_stop(&m->s.cbs);
  stub_start_opts(&m->s.cbs, m->s.sdir, &o);
}

/* Faults injected while the workers are busy: CBS answers every batch
 * after 300 ms, which stretches the run so that the fault falls in the
 * middle of it (each worker keeps up to cbs.max_in_flight = 8 batches at
 * CBS: about 280 batches take some 3.5 s with 3 workers; 40 ms did it for
 * the one-batch-at-a-time worker, but left the staged one done before the
 * injection), and the fault starts after a tenth of the receipts. */
static void begin_stretched(fm *m) {
  begin_slow(m, 300, 2000, NULL, 3);
  wait_part(m, 1, 10);
}

static int live_workers(const fm *m) {
  int i, n = 0;
  for(i = 0; i < m->s.nworkers; i++)
    n += m->s.worker[i] > 0;
  return n;
}

#define STALLED "configuration fault: consumption paused"
#define PROBE_PARKED "the probe batch is parked"

/* Each phase lasts until the workers show its effect in their logs (at most
 * AWAIT_S), not for a fixed time that a loaded machine may not fit it in. */
static void f_tls(fm *m) {
  long stalls;
  int live;
  begin_stretched(m);
  /* a server the workers must refuse (certificate under an unknown root):
   * a configuration fault, which past cbs.config_fault_threshold stalls a
   * worker; until every worker did */
  restart_stub(m, "rogue-server-chain.pem", "rogue-server.key", NULL);
  live = live_workers(m);
  say(m, "CBS restarted with a rogue server certificate");
  await_events(m, "worker-*.log", STALLED, live, AWAIT_S);
  stalls = log_events(m, STALLED);
  say(m, "%ld of %d workers stalled", stalls, live);
  if(!stalls)
    missed(m, "no worker stalled on the rogue server certificate in %d s",
           AWAIT_S);
  /* a server that refuses the workers' client certificate: a transient
   * failure, which a stalled worker probes for STALL_TRANSIENT_PROBES
   * rounds before it parks the probe and resumes; until every stalled
   * worker did */
  restart_stub(m, NULL, NULL, "rogue-root.pem");
  say(m, "CBS restarted refusing the client certificate");
  if(stalls && await_events(m, "worker-*.log", PROBE_PARKED, stalls, AWAIT_S))
    missed(m,
           "%ld of %ld stalled workers parked their probe on the refused "
           "client certificate in %d s",
           log_events(m, PROBE_PARKED), stalls, AWAIT_S);
  restart_stub(m, NULL, NULL, NULL);
  say(m, "CBS back to normal (%zu receipts)", m->w.count);
  finish(m);
  note_attempts(m);
  { /* the refused certificate stalled workers, and each one resumed */
    long resumes = log_events(m, "CBS accepts batches again") +
                   log_events(m, PROBE_PARKED);
    stalls = log_events(m, STALLED);
    note(m, "%ld stalls, %ld resumptions", stalls, resumes);
    if(!stalls || resumes < stalls)
      missed(m, "%s",
             !stalls ? "no worker stalled on the refused certificate"
                     : "a stalled worker did not resume");
  }
}

static void f_token(fm *m) {
  static const char *const cycle[] = {"{\"status\":503}", "{\"status\":500}"};
  char *token = plan_array(60, cycle, NELEM(cycle));
  sbuf plan = {NULL, 0, 0};
  begin_stretched(m);
  /* every token expires now; the next 60 token requests fail */
  sb_printf(&plan, "{\"batch\":[{\"expire_tokens\":true}],\"token\":%s}",
            token);
  set_plan(m, plan.b);
  free(plan.b);
  free(token);
  say(m, "token endpoint down for the next 60 token requests");
  finish(m);
  note_attempts(m);
}

static void f_broker(fm *m) {
  begin_stretched(m);
  inject(m, "down 1");
  say(m, "broker 1 down");
  hold(m, 5000);
  inject(m, "up 1");
  say(m, "broker 1 up (%zu receipts)", m->w.count);
  hold(m, 2000);
  inject(m, "down 2");
  say(m, "broker 2 down (%zu receipts)", m->w.count);
  hold(m, 5000);
  inject(m, "up 2");
  say(m, "broker 2 up (%zu receipts)", m->w.count);
  finish(m);
  note_redone(m);
}

static void move_leaders(fm *m, int shift) {
  static const struct {
    const char *topic;
    int parts;
  } t[] = {{"ddas.deliveries", 6},
           {"ddas.rejections", 3},
           {"ddas.receipts", 3},
           {"ddas.failed", 3}};
  size_t i;
  int p;
  for(i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    for(p = 0; p < t[i].parts; p++) {
      char cmd[128];
      snprintf(cmd, sizeof(cmd), "leader %s %d %d", t[i].topic, p,
               (p + shift) % 3 + 1);
      inject(m, cmd);
    }
}

static void f_leader(fm *m) {
  begin_stretched(m);
  move_leaders(m, 1);
  say(m, "every partition's leader moved");
  hold(m, 2500);
  move_leaders(m, 2);
  say(m, "every partition's leader moved again (%zu receipts)", m->w.count);
  hold(m, 2500);
  move_leaders(m, 0);
  say(m, "every partition's leader moved back (%zu receipts)", m->w.count);
  finish(m);
}

static void f_coordinator(fm *m) {
  static const int to[] = {2, 3, 1};
  size_t i;
  begin_stretched(m);
  for(i = 0; i < 3; i++) {
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "coordinator group ddas-worker %d", to[i]);
    inject(m, cmd);
    say(m, "%s (%zu receipts)", cmd + 12, m->w.count);
    hold(m, 2500);
  }
  finish(m);
}

static void f_kill(fm *m) {
  long before;
  /* offsets are committed on revocation and shutdown; a long auto-commit
   * interval leaves the killed worker's work uncommitted, to be redone */
  begin_slow(m, 100, 2000, "kafka.auto.commit.interval.ms = 60000\n", 3);
  wait_part(m, 1, 4);
  before = stub_stat(&m->s.cbs, "requests");
  kill_worker(m, 0);
  say(m,
      "worker 1 killed (SIGKILL) with CBS at %ld batch requests; "
      "starting worker %d",
      before, m->s.nworkers + 1);
  join_worker(m);
  wait_part(m, 1, 2);
  kill_worker(m, 1);
  say(m, "worker 2 killed (SIGKILL); starting worker %d", m->s.nworkers + 1);
  join_worker(m);
  finish(m);
  note_redone(m);
}

static void f_rebalance(fm *m) {
  int rc;
  long assigned;
  begin_slow(m, 100, 2000, NULL, 2);
  wait_part(m, 1, 4);
  join_worker(m);
  wait_part(m, 1, 2);
  join_worker(m);
  wait_part(m, 3, 4);
  FX_CHECK(m->s.worker[0] > 0); /* kill(0) would signal the whole group */
  /* the joins' rebalances are over (usually long since), so that the next
   * assignment is one that worker 1's leaving caused */
  check_expected(m);
  assigned = log_events(m, "partitions assigned");
  kill(m->s.worker[0], SIGTERM);
  rc = wait_exit(m->s.worker[0], 60000);
  m->s.worker[0] = 0;
  say(m, "worker 1 left the group (SIGTERM), exit status %d", rc);
  if(rc)
    note(m, "worker 1 exited with %d after SIGTERM", rc);
  m->stop_failures += rc != 0;
  /* its partitions go to the others */
  expect_events(m, "worker-*.log", "partitions assigned", assigned + 1,
                "no worker got partitions after worker 1 left");
  finish(m);
  note_redone(m);
}

static long produce_errors_left(fm *m) {
  char answer[64];
  mock_query(&m->s.km, "produce-errors-left", answer, sizeof(answer));
  return strtol(answer, NULL, 10);
}

/* Two bursts of produce errors 3 s apart ("COUNT ERROR" per broker, as
 * kafka-mock's produce-errors takes them); the row fails when none was
 * served. */
static void produce_bursts(fm *m, const char *first, const char *second) {
  const char *burst[2];
  long pushed = 0, left;
  int i;
  burst[0] = first;
  burst[1] = second;
  begin_stretched(m);
  for(i = 0; i < 2; i++) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "produce-errors %s", burst[i]);
    inject(m, cmd);
    pushed += 3 * strtol(burst[i], NULL, 10);
    say(m, "%s: each broker's next Produce requests fail (%zu receipts)", cmd,
        m->w.count);
    hold(m, 3000);
    say(m, "%ld produce errors left", produce_errors_left(m));
  }
  finish(m);
  left = produce_errors_left(m);
  note(m, "%ld of %ld produce errors served", pushed - left, pushed);
  if(left == pushed)
    missed(m, "no produce error reached a worker");
}

static void f_produce(fm *m) {
  produce_bursts(m, "10 KAFKA_STORAGE_ERROR",
                 "5 NOT_ENOUGH_REPLICAS_AFTER_APPEND");
}

static void f_produce_refused(fm *m) {
  produce_bursts(m, "1 MSG_SIZE_TOO_LARGE", "1 INVALID_RECORD");
  /* every refused event is the worker's to stop on: no stop, no proof */
  if(!m->exits)
    missed(m, "no worker stopped (status %d) on a refused event",
           m->f->worker_exit);
}

static const fault faults[] = {
    {"cbs-5xx", "CBS 5xx storm",
     "The CBS stub starts with a fault plan that answers the first 150 batch "
     "requests with 500, 502, 503 and 504 in turn; the workers make 3 "
     "attempts per batch (`retry.max_attempts = 3`), so the batches caught "
     "in the storm are parked on `ddas.failed` after their third failure "
     "and later ones go through. After the receipts, `ddas-worker replay` "
     "re-sends the parked batches to the recovered stub.",
     f_5xx},
    {"cbs-429", "CBS 429 + Retry-After",
     "The first 30 batch requests get `429 Too Many Requests` with "
     "`Retry-After: 1`; the worker waits before the next attempt (4 "
     "attempts per batch). Batches that run out of attempts are parked and "
     "replayed afterwards.",
     f_429},
    {"cbs-slow", "slow CBS",
     "The first 120 batch requests are answered after 200 ms, every 10th "
     "after 2.5 s, longer than the worker's `cbs.timeout_ms = 1500`: the "
     "worker gives up on the request and sends the batch again, while the "
     "stub has already recorded it, so CBS receives the same "
     "Idempotency-Key twice (the dup-same column) and answers the re-send "
     "with 200 duplicate.",
     f_slow},
    {"tls-failure", "TLS failure",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts the stub is restarted on the same port "
     "with `rogue-server-chain.pem` (a server certificate under an unknown "
     "root, which the workers must refuse) until every worker has stalled "
     "on it, then with `--client-ca rogue-root.pem` (it refuses the "
     "workers' client certificate in the handshake) until every stalled "
     "worker has parked its probe, then normally again, on the same record "
     "directory (each phase at most 90 s; the row fails when a phase's "
     "effect does not show). The refused server certificate is a "
     "configuration fault: each worker parks the batches of its first "
     "faults, then pauses and probes with the same batch; the refused "
     "client certificate is a transient failure, which a stalled worker "
     "probes for up to 3 rounds before it parks the probe and resumes. The "
     "replay step re-sends the parked batches.",
     f_tls},
    {"token-down", "token endpoint down",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts a plan posted to `/_plan` expires "
     "every issued token (the next batch request gets 401 "
     "`ERROR_CODE_ACCESS_TOKEN_EXPIRED`) and makes the next 60 requests to "
     "`/token` fail with 503 and 500 in turn. The workers cannot get a token "
     "for a while: they retry, park, and recover when the token endpoint "
     "does; the replay step re-sends parked batches.",
     f_token},
    {"broker-down", "broker down",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts kafka-mock's `down 1` makes broker 1 refuse and drop "
     "connections for 5 s (`up 1` brings it back); 2 s later `down 2` does "
     "the same to broker 2. Partition leaders and the group coordinator are "
     "on those brokers: consumers, producers and the group must ride it "
     "out.",
     f_broker},
    {"leader-change", "leader change",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts kafka-mock's `leader TOPIC PARTITION ID` moves the "
     "leader of every partition of the four topics to another broker, "
     "again 2.5 s later, and back 2.5 s after that, while the workers "
     "consume and produce.",
     f_leader},
    {"coordinator-change", "coordinator change",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts kafka-mock's `coordinator group ddas-worker ID` moves "
     "the consumer group's coordinator to broker 2, then (2.5 s apart) to 3 "
     "and to 1: heartbeats and offset commits must find the new "
     "coordinator.",
     f_coordinator},
    {"worker-kill", "worker SIGKILL mid-batch",
     "Every batch request is answered after 100 ms, so a busy worker is "
     "nearly always waiting for CBS. With a long auto-commit interval, "
     "worker 1 is killed with SIGKILL after a quarter of the receipts and "
     "worker 2 at half; a new worker starts each time. Their uncommitted "
     "deliveries are redone by the next owner with the same batches and "
     "Idempotency-Keys (re-sends show in dup-same).",
     f_kill},
    {"rebalance", "rebalance mid-batch",
     "Every batch request is answered after 100 ms. Two workers start; a "
     "third joins after a quarter of the receipts and a fourth at half, and "
     "worker 1 leaves (SIGTERM, it must exit 0) at three quarters: each "
     "time the group rebalances while workers are in the middle of a "
     "batch, which must be finished or abandoned before the partition "
     "moves.",
     f_rebalance},
    {"produce-errors", "disk-full produce errors",
     "CBS answers every batch after 40 ms to stretch the run. After a tenth "
     "of the receipts kafka-mock's `produce-errors 10 KAFKA_STORAGE_ERROR` "
     "(`rd_kafka_mock_broker_push_request_error_rtts` on Produce) makes "
     "each broker's next 10 Produce requests fail as a broker with a full "
     "or failing log directory does; 3 s later each broker's next 5 fail "
     "with `NOT_ENOUGH_REPLICAS_AFTER_APPEND`. The workers' idempotent "
     "producers must retry, and an event that is not acknowledged must not "
     "let an offset move. The row fails when no error was served "
     "(`produce-errors-left`).",
     f_produce},
    {"produce-refused", "produce requests refused",
     "CBS answers every batch after 40 ms. After a tenth of the receipts "
     "each broker refuses its next Produce request with "
     "`MSG_SIZE_TOO_LARGE`, 3 s later its next one with `INVALID_RECORD`: "
     "errors the producer does not retry, so an event (receipt, rejection "
     "or parked batch) is not written. The worker must not commit the "
     "offsets it covers: it stops with an error and a restarted worker "
     "(the matrix restarts workers that exit) redoes the deliveries; a "
     "worker exit with another status fails the row.",
     f_produce_refused, 1},
};
#define NFAULTS (sizeof(faults) / sizeof(faults[0]))

/* ---- running and reporting ---------------------------------------------- */

static void run_one(fm *m) {
  current = m;
  m->t0 = now_s();
  printf("== %s: %s\n", m->f->name, m->f->title);
  fflush(stdout);
  if(setjmp(on_error) == 0) {
    m->f->run(m);
    /* the stub and kafka-mock must stop cleanly (exit 0), not be killed */
    scen_stop(&m->s);
  } else {
    m->error = 1;
    printf("  error: %s\n", m->errmsg);
  }
  current = NULL;
  /* after a fixture failure: what is left, and kafka-mock's command pipe */
  children_kill_all();
  if(m->have_scen && m->s.km.in >= 0) {
    close(m->s.km.in);
    m->s.km.in = -1;
  }
  if(m->watching)
    watch_stop(&m->w);
  m->watching = 0;
  if(m->have_ds)
    dataset_free(&m->ds);
  m->secs = now_s() - m->t0;
  /* lost: the fixture's count of records in none of the other three
   * columns; the columns must add up to `in` (no record counted twice) */
  m->lost = (long)m->r.rec_lost;
  m->columns_off = (long)m->r.records - (long)m->r.rec_forwarded -
                       (long)m->r.rec_rejected - (long)m->r.rec_parked !=
                   m->lost;
  if(m->columns_off)
    note(m,
         "in - forwarded - rejected - parked is not lost (%ld): a record "
         "is counted in two columns",
         m->lost);
  if(m->r.lost)
    note(m, "%zu valid records are in no batch, at CBS or parked", m->r.lost);
  if(m->r.key_mismatch)
    note(m,
         "%zu record copies under a second Idempotency-Key (parked under "
         "one, at CBS under another, or the like)",
         m->r.key_mismatch);
  if(m->exits)
    note(m,
         "%d workers exited on their own as expected and were restarted (the "
         "first: %s)",
         m->exits, m->first_exit);
  if(m->unexpected_exits)
    note(m,
         "UNEXPECTED EXIT: %d workers exited on their own, which this fault "
         "does not explain (the first: %s)",
         m->unexpected_exits, m->first_unexpected);
  if(m->r.failures)
    note(m, "%zu reconciliation checks failed (above)", m->r.failures);
  if(m->r.key_conflicts)
    note(m, "%ld Idempotency-Key conflicts", m->r.key_conflicts);
  if(m->r.bad_signature || m->r.schema_invalid)
    note(m, "CBS refused %ld signatures, %ld schemas", m->r.bad_signature,
         m->r.schema_invalid);
  if(m->r.extra || m->r.foreign)
    note(m, "%zu invalid records forwarded or parked, %zu unknown ones",
         m->r.extra, m->r.foreign);
  if(m->r.rejection_unresolved)
    note(m, "%zu rejection events name no record", m->r.rejection_unresolved);
  if(m->replay[0] && !strstr(m->replay, "sent: 0;"))
    note(m, "replay: %s", m->replay + strlen("parked batches "));
  m->ok = !m->error && m->lost == 0 && !m->columns_off && m->r.lost == 0 &&
          m->r.key_mismatch == 0 && m->r.rec_dup_other_key == 0 &&
          m->r.rejection_unresolved == 0 && !m->crashes &&
          !m->unexpected_exits && !m->r.failures && !m->r.key_conflicts &&
          !m->r.bad_signature && !m->r.schema_invalid && !m->r.extra &&
          !m->r.foreign && !m->timeout && !m->stop_failures &&
          !m->not_exercised && !m->replay_failed;
  printf("  %s in %.1f s: in %zu, forwarded %zu, rejected %zu, parked %zu, "
         "lost %ld, duplicates same key %zu, other key %zu%s%s\n",
         m->ok ? "PASS" : "FAIL", m->secs, m->r.records, m->r.rec_forwarded,
         m->r.rec_rejected, m->r.rec_parked, m->lost, m->r.rec_resent_same_key,
         m->r.rec_dup_other_key, m->notes[0] ? "; " : "", m->notes);
  fflush(stdout);
}

static void print_table(FILE *out, fm *rows, size_t n, int markdown) {
  size_t i;
  if(markdown)
    fprintf(out, "| fault | in | forwarded | rejected | parked | lost | "
                 "dup-same | dup-other | time s | result |\n"
                 "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
  else
    fprintf(out, "%-26s %6s %9s %8s %6s %5s %8s %9s %6s  %s\n", "fault", "in",
            "forwarded", "rejected", "parked", "lost", "dup-same", "dup-other",
            "time s", "result");
  for(i = 0; i < n; i++) {
    const fm *r = &rows[i];
    char result[700];
    snprintf(result, sizeof(result), "%s%s%s", r->ok ? "ok" : "FAIL",
             r->error ? ": " : "", r->error ? r->errmsg : "");
    if(markdown)
      fprintf(out,
              "| %s | %zu | %zu | %zu | %zu | %ld | %zu | %zu | %.0f | "
              "%s |\n",
              r->f->title, r->r.records, r->r.rec_forwarded, r->r.rec_rejected,
              r->r.rec_parked, r->lost, r->r.rec_resent_same_key,
              r->r.rec_dup_other_key, r->secs, result);
    else
      fprintf(out, "%-26s %6zu %9zu %8zu %6zu %5ld %8zu %9zu %6.0f  %s\n",
              r->f->title, r->r.records, r->r.rec_forwarded, r->r.rec_rejected,
              r->r.rec_parked, r->lost, r->r.rec_resent_same_key,
              r->r.rec_dup_other_key, r->secs, result);
  }
}

static const char columns_md[] =
    "- **in**: records submitted (every traject of every generated "
    "delivery, valid or not; the generator writes SHV deliveries only, so "
    "no vroegsignalen).\n"
    "- **forwarded**: distinct records in the batches the CBS stub "
    "acknowledged and recorded (its record directory), whatever their "
    "Idempotency-Key.\n"
    "- **rejected**: distinct records named by a rejection event on "
    "`ddas.rejections` (its pointer resolved in the source message; a "
    "document-scope event of a message that is not JSON names every record "
    "id in it).\n"
    "- **parked**: distinct records in parked batches (`ddas.failed`) that "
    "CBS does not hold at the end, after the scenario's replay step; must "
    "be 0, since the replay runs against the recovered stub.\n"
    "- **lost**: records in none of the three columns before, counted per "
    "record (in = forwarded + rejected + parked + lost, or the row fails); "
    "must be 0.\n"
    "- **dup-same**: record copies CBS received again under the same "
    "Idempotency-Key (re-sends of a batch, which CBS deduplicates: "
    "receipts - 1 per batch, times its records). Acceptable.\n"
    "- **dup-other**: records CBS holds under two different "
    "Idempotency-Keys. Never acceptable; must be 0.\n"
    "- **time s**: wall time of the scenario.\n"
    "- **result**: `ok`, or `FAIL` when lost or dup-other is not 0, a record "
    "is in batches under two keys (parked or at CBS), the replay failed or "
    "left a batch parked, a worker crashed or exited on its own without "
    "the fault explaining it, a worker did not exit 0 after SIGTERM, not "
    "every delivery got its receipt, the fault did not take effect (NOT "
    "EXERCISED), or another reconciliation check failed (a receipt with "
    "the wrong counts, a batch a receipt names that CBS lacks, an "
    "Idempotency-Key conflict, a bad signature or schema at CBS, an invalid "
    "record forwarded, a rejection event that names no record); the notes "
    "in the output say which.\n";

static int write_markdown(const char *path, fm *rows, size_t n,
                          size_t deliveries) {
  FILE *f = fopen(path, "w");
  size_t i;
  if(!f) {
    perror(path);
    return -1;
  }
  fprintf(f,
          "## Fault matrix\n\n"
          "`tests/fault/fault-matrix --deliveries %zu`: each fault on its own "
          "pipeline (kafka-mock with 3 brokers, the CBS stub over HTTPS with "
          "mutual TLS and OAuth2, `ddas-worker run` processes), %zu "
          "generated deliveries each.\n\n",
          deliveries, deliveries);
  print_table(f, rows, n, 1);
  fprintf(f, "\n### Columns\n\n%s\n### Faults\n\n", columns_md);
  for(i = 0; i < n; i++) {
    fprintf(f, "- **%s** (`%s`): %s", rows[i].f->title, rows[i].f->name,
            rows[i].f->mechanism);
    if(rows[i].notes[0])
      fprintf(f, " This run: %s.", rows[i].notes);
    fprintf(f, "\n");
  }
  return fclose(f) ? -1 : 0;
}

static void usage(FILE *out) {
  size_t i;
  fprintf(out,
          "usage: fault-matrix [--only FAULT[,FAULT]...] [--deliveries N] "
          "[--markdown FILE]\n"
          "Runs the pipeline (kafka-mock, cbs-stub, ddas-worker run) under "
          "each fault\nand prints a table: records in, forwarded, rejected, "
          "parked, lost,\nduplicates under the same and under another "
          "Idempotency-Key.\nExit status 0 when every row passes (lost 0, "
          "no record under two keys,\nreplay ok, no crash or unexplained "
          "exit, the fault took effect, every check\npassed), 1 otherwise, "
          "2 on a usage error.\n"
          "  --only LIST      run these faults only (comma-separated)\n"
          "  --deliveries N   deliveries per fault (default 300)\n"
          "  --markdown FILE  also write the table and descriptions as "
          "Markdown\n"
          "DDAS_KEEP_TMP=1 keeps the temporary directory (logs, data).\n"
          "faults:\n");
  for(i = 0; i < NFAULTS; i++)
    fprintf(out, "  %-20s %s\n", faults[i].name, faults[i].title);
}

static int selected(const char *only, const char *name) {
  size_t n = strlen(name);
  const char *p = only;
  if(!only)
    return 1;
  while((p = strstr(p, name))) {
    if((p == only || p[-1] == ',') && (p[n] == ',' || !p[n]))
      return 1;
    p += n;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *only = NULL, *markdown = NULL;
  size_t deliveries = 300, i, nrows = 0, failed = 0;
  fm *rows;
  double t0 = now_s();
  int a;
  for(a = 1; a < argc; a++) {
    if(!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
      usage(stdout);
      return 0;
    } else if(!strcmp(argv[a], "--only") && a + 1 < argc) {
      only = argv[++a];
    } else if(!strcmp(argv[a], "--deliveries") && a + 1 < argc) {
      char *end;
      long v = strtol(argv[++a], &end, 10);
      if(*end || v < 10 || v > 5000) {
        fprintf(stderr, "fault-matrix: --deliveries takes 10 to 5000\n");
        return 2;
      }
      deliveries = (size_t)v;
    } else if(!strcmp(argv[a], "--markdown") && a + 1 < argc) {
      markdown = argv[++a];
    } else {
      fprintf(stderr, "fault-matrix: unknown or incomplete option '%s'\n",
              argv[a]);
      usage(stderr);
      return 2;
    }
  }
  if(only) {
    /* every name must be known */
    char *copy = strdup(only), *tok, *save = NULL;
    for(tok = strtok_r(copy, ",", &save); tok;
        tok = strtok_r(NULL, ",", &save)) {
      for(i = 0; i < NFAULTS && strcmp(faults[i].name, tok); i++) {
      }
      if(i == NFAULTS) {
        fprintf(stderr,
                "fault-matrix: unknown fault '%s' (--help lists "
                "them)\n",
                tok);
        free(copy);
        return 2;
      }
    }
    free(copy);
  }
  rows = calloc(NFAULTS, sizeof(*rows));
  if(!rows)
    return 1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  fx_fail_hook = fixture_failed;
  if(fx_setup("/tmp/ddas-fault-XXXXXX")) {
    fprintf(stderr, "fault-matrix: cannot make the test PKI\n");
    return 1;
  }
  for(i = 0; i < NFAULTS; i++) {
    if(!selected(only, faults[i].name))
      continue;
    rows[nrows].f = &faults[i];
    rows[nrows].n = deliveries;
    printf("[%zu] ", nrows + 1);
    run_one(&rows[nrows]);
    if(!rows[nrows].ok)
      failed++;
    nrows++;
  }
  printf("\nfault matrix: %zu deliveries per fault, %.0f s in all\n\n",
         deliveries, now_s() - t0);
  print_table(stdout, rows, nrows, 0);
  if(markdown && write_markdown(markdown, rows, nrows, deliveries))
    failed++;
  if(failed) {
    printf("\nFAILED:");
    for(i = 0; i < nrows; i++)
      if(!rows[i].ok)
        printf(" %s", rows[i].f->name);
    printf("\n");
  } else {
    printf("\nevery row: lost 0, no duplicate under another key\n");
  }
  fx_teardown();
  free(rows);
  return failed ? 1 : 0;
}
