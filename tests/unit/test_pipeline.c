/* The whole pipeline with real processes: `ddas-worker run` workers in one
 * consumer group against kafka-mock (librdkafka's mock cluster as a process:
 * 3 brokers, ddas.deliveries with 6 partitions) and the CBS stub over HTTPS
 * (mutual TLS, OAuth2, signatures and schema checked), fed by `ddas-worker
 * submit`, and reconciled exactly afterwards.
 *
 * The deliveries are generated here. Every traject carries a unique record
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define SECRET "pipeline-s3cret-Kq7"
#define PASSPHRASE "pipeline-pass-Zr4"
#define BATCH_MAX_BYTES 65536
#define CHUNK_BYTES 20000

static char dir[] = "/tmp/ddas-pipe-XXXXXX";

static double now_s(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- child processes --------------------------------------------------- */

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void child_forget(pid_t pid) {
  size_t i;
  for(i = 0; i < MAX_CHILDREN; i++)
    if(children[i] == pid)
      children[i] = 0;
}

/* Starts argv[0] with stdout and stderr appended to log and stdin from
 * in_fd (-1: /dev/null); remembers it for kill_all(). */
static pid_t spawn(const char *const argv[], const char *log, int in_fd) {
  pid_t pid = fork();
  size_t i;
  assert_true(pid >= 0);
  if(pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    if(fd < 0 || in < 0)
      _exit(126);
    dup2(in, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  for(i = 0; i < MAX_CHILDREN; i++)
    if(!children[i]) {
      children[i] = pid;
      break;
    }
  return pid;
}

/* Waits for pid: its exit status, 128 + signal when killed by one, or -1
 * after timeout_ms (then it is killed). */
static int wait_exit(pid_t pid, int timeout_ms) {
  int st, i;
  for(i = 0; i <= timeout_ms / 20; i++) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if(r == pid) {
      child_forget(pid);
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  child_forget(pid);
  return -1;
}

/* Kills every child still running (a failed scenario leaves some). */
static int kill_all(void **state) {
  size_t i;
  (void)state;
  for(i = 0; i < MAX_CHILDREN; i++)
    if(children[i]) {
      int st;
      kill(children[i], SIGKILL);
      waitpid(children[i], &st, 0);
      children[i] = 0;
    }
  return 0;
}

/* ---- kafka-mock -------------------------------------------------------- */

typedef struct {
  pid_t pid;
  int in; /* its stdin: commands */
  char log[400];
  char bootstrap[512];
} mock;

static void mock_start(mock *m, const char *sdir) {
  char bootfile[400];
  int p[2], i;
  const char *argv[] = {KAFKA_MOCK_BIN,
                        "--brokers",
                        "3",
                        "--topic",
                        "ddas.deliveries:6",
                        "--topic",
                        "ddas.rejections:3",
                        "--topic",
                        "ddas.receipts:3",
                        "--topic",
                        "ddas.failed:3",
                        "--bootstrap-file",
                        bootfile,
                        NULL};
  snprintf(bootfile, sizeof(bootfile), "%s/bootstrap", sdir);
  snprintf(m->log, sizeof(m->log), "%s/kafka-mock.log", sdir);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  m->pid = spawn(argv, m->log, p[0]);
  close(p[0]);
  m->in = p[1];
  for(i = 0; i < 200; i++) {
    FILE *f = fopen(bootfile, "r");
    if(f) {
      int ok = fgets(m->bootstrap, sizeof(m->bootstrap), f) != NULL;
      fclose(f);
      if(ok) {
        m->bootstrap[strcspn(m->bootstrap, "\r\n")] = '\0';
        return;
      }
    }
    usleep(50000);
  }
  fail_msg("kafka-mock did not start (see %s)", m->log);
}

static size_t count_answers(const char *log, char *last, size_t cap) {
  FILE *f = fopen(log, "r");
  char line[512];
  size_t n = 0;
  if(!f)
    return 0;
  while(fgets(line, sizeof(line), f))
    if(!strncmp(line, "ok", 2) || !strncmp(line, "error", 5)) {
      n++;
      snprintf(last, cap, "%s", line);
    }
  fclose(f);
  return n;
}

/* Sends one command ("down 2") and waits for its "ok". */
static void mock_cmd(mock *m, const char *cmd) {
  char line[256], last[512] = "";
  size_t before = count_answers(m->log, last, sizeof(last));
  int i, n = snprintf(line, sizeof(line), "%s\n", cmd);
  assert_int_equal(write(m->in, line, (size_t)n), n);
  for(i = 0; i < 250; i++) {
    if(count_answers(m->log, last, sizeof(last)) > before)
      break;
    usleep(20000);
  }
  if(strncmp(last, "ok", 2))
    fail_msg("kafka-mock: '%s' answered '%s'", cmd, last);
}

static void mock_stop(mock *m) {
  if(m->in >= 0) {
    if(write(m->in, "quit\n", 5) != 5) {
      /* already gone: wait_exit tells */
    }
    close(m->in);
    m->in = -1;
  }
  if(m->pid > 0)
    assert_int_equal(wait_exit(m->pid, 20000), 0);
  m->pid = 0;
}

/* ---- the CBS stub ------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int port;
  char records[400];
  char log[400];
} stub;

static void stub_start(stub *s, const char *sdir, const char *plan) {
  char portfile[400], planfile[400], pki[300], cert[400], key[400], ca[400];
  int i;
  const char *argv[40];
  int n = 0;
  snprintf(pki, sizeof(pki), "%s/pki", dir);
  snprintf(cert, sizeof(cert), "%s/server-chain.pem", pki);
  snprintf(key, sizeof(key), "%s/server.key", pki);
  snprintf(ca, sizeof(ca), "%s/root.pem", pki);
  snprintf(s->records, sizeof(s->records), "%s/cbs", sdir);
  snprintf(s->log, sizeof(s->log), "%s/cbs-stub.log", sdir);
  snprintf(portfile, sizeof(portfile), "%s/cbs.port", sdir);
  snprintf(planfile, sizeof(planfile), "%s/plan.json", sdir);
  argv[n++] = CBS_STUB_BIN;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--cert";
  argv[n++] = cert;
  argv[n++] = "--key";
  argv[n++] = key;
  argv[n++] = "--client-ca";
  argv[n++] = ca;
  argv[n++] = "--trust";
  argv[n++] = ca;
  argv[n++] = "--schema-dir";
  argv[n++] = SCHEMA_DIR;
  argv[n++] = "--record-dir";
  argv[n++] = s->records;
  argv[n++] = "--port-file";
  argv[n++] = portfile;
  argv[n++] = "--client-id";
  argv[n++] = "worker";
  argv[n++] = "--client-secret";
  argv[n++] = SECRET;
  argv[n++] = "--quiet";
  if(plan) {
    FILE *f = fopen(planfile, "w");
    assert_non_null(f);
    fputs(plan, f);
    fclose(f);
    argv[n++] = "--plan";
    argv[n++] = planfile;
  }
  argv[n] = NULL;
  s->pid = spawn(argv, s->log, -1);
  for(i = 0; i < 200; i++) {
    FILE *f = fopen(portfile, "r");
    if(f) {
      int ok = fscanf(f, "%d", &s->port) == 1;
      fclose(f);
      if(ok && s->port > 0)
        return;
    }
    usleep(50000);
  }
  fail_msg("the CBS stub did not start (see %s)", s->log);
}

static void stub_stop(stub *s) {
  if(s->pid > 0) {
    kill(s->pid, SIGTERM);
    assert_int_equal(wait_exit(s->pid, 20000), 0);
  }
  s->pid = 0;
}

/* GET /_stats, or POST /_plan with body; the answer as JSON. */
static json_t *stub_call(const stub *s, const char *path, const char *body) {
  char cmd[2048], *out = NULL, bodyfile[450];
  json_t *j;
  if(body) {
    FILE *f;
    snprintf(bodyfile, sizeof(bodyfile), "%s.body", s->records);
    f = fopen(bodyfile, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
  }
  snprintf(cmd, sizeof(cmd),
           "curl -s --max-time 20 --cacert %s/pki/root.pem --cert "
           "%s/pki/transport-chain.pem --key %s/pki/transport.key %s%s "
           "https://127.0.0.1:%d%s",
           dir, dir, dir,
           body ? "-H 'Content-Type: application/json' --data-binary @" : "",
           body ? bodyfile : "", s->port, path);
  assert_int_equal(tu_run(cmd, &out), 0);
  j = json_loads(out, 0, NULL);
  if(!j)
    fail_msg("stub %s: not JSON: %s", path, out);
  free(out);
  return j;
}

static long stub_stat(const stub *s, const char *name) {
  json_t *j = stub_call(s, "/_stats", NULL);
  json_t *v = json_object_get(j, name);
  long r;
  assert_true(json_is_integer(v));
  r = (long)json_integer_value(v);
  json_decref(j);
  return r;
}

/* ---- generated deliveries ---------------------------------------------- */

typedef enum {
  K_SINGLE,    /* one valid traject */
  K_MULTI,     /* several leveringen, all valid */
  K_AMOUNT,    /* two leveringen, one traject with a negative amount */
  K_SCHEMA,    /* three trajecten, one with crisisinterventie "ja" */
  K_ALLBAD,    /* one traject, negative amount: accepted 0 */
  K_MALFORMED, /* not JSON: nothing counted, nothing forwarded */
  K_LARGE,     /* chunked by submit; one or more invalid trajecten */
  K_NKINDS
} dkind;

static const char *const kind_names[K_NKINDS] = {
    "single", "multi", "amount", "schema", "allbad", "malformed", "large"};

typedef struct {
  dkind kind;
  int variant;     /* K_MALFORMED: 0 syntax error in the envelope, 1 cut
                      inside the first traject; K_LARGE: invalid every Nth */
  size_t nrec;     /* record ids r-<i>-0 .. r-<i>-(nrec-1) in the file */
  size_t base;     /* index of r-<i>-0 in the record tables */
  size_t accepted; /* what the processed receipt must say */
  size_t rejected;
  size_t chunks; /* messages submit published */
  char id[200];  /* delivery id, from submit's output */
  char path[512];
} gdel;

typedef struct {
  gdel *d;
  size_t n;
  unsigned char *valid;      /* per record: 1 valid, 0 invalid */
  unsigned char *bad_schema; /* per record: invalid by its schema error */
  size_t nrec, nvalid, bytes, large, malformed, partial;
  char sdir[256];
} dataset;

typedef struct {
  char *b;
  size_t n, cap;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) {
  va_list ap;
  int need;
  for(;;) {
    size_t room = s->cap - s->n;
    va_start(ap, fmt);
    need = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? room : 0, fmt, ap);
    va_end(ap);
    assert_true(need >= 0);
    if(s->b && (size_t)need < room) {
      s->n += (size_t)need;
      return;
    }
    s->cap = (s->cap + (size_t)need + 1) * 2;
    s->b = realloc(s->b, s->cap);
    assert_non_null(s->b);
  }
}

/* 9-digit BSNs that pass the eleven-test, all different: 31xxxxxxc. */
static unsigned long next_bsn(unsigned long *k) {
  static const int w[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  for(;;) {
    unsigned long head = 31000000UL + (*k)++, h = head;
    int digit[8], i, sum = 0;
    for(i = 7; i >= 0; i--) {
      digit[i] = (int)(h % 10);
      h /= 10;
    }
    for(i = 0; i < 8; i++)
      sum += digit[i] * w[i];
    if(sum % 11 == 10)
      continue;
    return head * 10 + (unsigned long)(sum % 11);
  }
}

static const char *const gemeenten[] = {"GM0363", "GM0599", "GM0518",
                                        "GM0344", "GM0772", "GM0014"};
static const char letters[] = "ABCDEGHJKLMNPRSTVWXZ";

/* One traject; bad: 0 clean, 1 negative amount, 2 schema error. */
static void gen_traject(sbuf *s, size_t di, size_t n, const char *gm,
                        unsigned long *k, int bad) {
  unsigned long bsn = next_bsn(k), v = *k;
  unsigned sm = 2 + (unsigned)(v % 5), sd = 1 + (unsigned)(v % 27);
  sb_printf(
      s, "{\"omschrijving\":\"r-%zu-%zu\",\"startdatum\":\"2024-%02u-%02u\",",
      di, n, sm, sd);
  if(v % 3)
    sb_printf(s, "\"einddatum\":\"2024-%02u-%02u\",", sm + 5, sd);
  sb_printf(s,
            "\"totaalSchuldbedragBijAanvangSchuld\":%ld,\"gemeentecode\":"
            "\"%s\",\"aanmelding\":{\"crisisinterventie\":%s,\"startdatum\":"
            "\"2024-01-%02u\",\"einddatum\":\"2024-01-%02u\"},",
            bad == 1 ? -(long)(100 + v % 900) : (long)(500 + (v * 37) % 40000),
            gm, bad == 2 ? "\"ja\"" : (v % 4 ? "false" : "true"),
            2 + (unsigned)(v % 8), 12 + (unsigned)(v % 4));
  if(v % 2)
    sb_printf(s,
              "\"begeleiding\":[{\"soort\":\"Budgetcoaching\",\"startdatum\":"
              "\"2024-%02u-%02u\"}],",
              sm, sd);
  sb_printf(s,
            "\"client\":[{\"Burgerservicenummer\":\"%09lu\",\"Geboortedatum\":"
            "\"19%02u-%02u-%02u\",\"Geslachtsaanduiding\":\"%s\",\"Postcode\":"
            "\"%04u%c%c\",\"Huisnummer\":\"%u\"}]}",
            bsn, 40 + (unsigned)(v % 50), 1 + (unsigned)(v % 12),
            1 + (unsigned)((v / 3) % 28), v % 2 ? "Vrouw" : "Man",
            1000 + (unsigned)((v * 37) % 8999), letters[v % 20],
            letters[(v / 20) % 20], 1 + (unsigned)(v % 300));
}

static void gen_levering_open(sbuf *s, size_t teller, unsigned long org) {
  sb_printf(s,
            "{\"teller\":%zu,\"aanleverende_organisatie\":{\"(Statutaire) "
            "Naam\":\"Schuldhulp Pijplijn %lu\",\"KvK-nummer\":\"%08lu\","
            "\"postcode\":\"3511AB\",\"contactpersonen\":[{\"email\":"
            "\"anneke.proef%lu@pijplijn-voorbeeld.nl\",\"functietitel\":"
            "\"Coordinator\",\"naam\":\"Anneke Proefpersoon %lu\","
            "\"telefoonnummer\":\"0655%06lu\"}]},\"schuldhulptrajecten\":[",
            teller, org, 61000000UL + org, org, org, org);
}

/* Writes delivery i of kind k (variant v) to ds->sdir/in/d-<i>.json. */
static void gen_delivery(dataset *ds, size_t i, dkind k, int v,
                         unsigned long *bsnk) {
  gdel *d = &ds->d[i];
  sbuf s = {NULL, 0, 0};
  size_t nlev, per[4], lev, t, n = 0, bad_at = (size_t)-1, every = 0;
  const char *gm = gemeenten[i % 6];
  FILE *f;
  memset(d, 0, sizeof(*d));
  d->kind = k;
  d->variant = v;
  d->base = ds->nrec;
  switch(k) {
  case K_SINGLE:
  case K_ALLBAD:
  case K_MALFORMED:
    nlev = 1;
    per[0] = 1;
    break;
  case K_MULTI:
    nlev = 2 + i % 3;
    for(lev = 0; lev < nlev; lev++)
      per[lev] = 1 + (i + lev) % 3;
    break;
  case K_AMOUNT:
    nlev = 2;
    per[0] = per[1] = 2;
    bad_at = 1;
    break;
  case K_SCHEMA:
    nlev = 1;
    per[0] = 3;
    bad_at = 2;
    break;
  default: /* K_LARGE: two leveringen, 170..330 trajecten, 4..8 chunks */
    nlev = 2;
    per[0] = 90 + (i / 7) % 5 * 20;
    per[1] = per[0] - 10;
    every = v ? (size_t)v : 0;
    bad_at = per[0] + per[1] * 2 / 3;
    break;
  }
  /* malformed variant 0: a missing comma between two envelope members */
  sb_printf(&s,
            "{\"startdatumLevering\":\"2024-01-01\"%s\"einddatumLevering\":"
            "\"2024-12-31\",\"aanleverdatumEnTijd\":\"2025-01-15T09:30:00Z\","
            "\"codeGegevensleverancier\":\"Pijplijntest 1.0\",\"leveringen\":[",
            k == K_MALFORMED && v == 0 ? " " : ",");
  for(lev = 0; lev < nlev; lev++) {
    gen_levering_open(&s, lev + 1, i * 4 + lev);
    for(t = 0; t < per[lev]; t++, n++) {
      int bad = 0;
      if(k == K_ALLBAD || n == bad_at || (every && n % every == every / 2))
        bad = 1;
      if(k == K_SCHEMA && n == bad_at)
        bad = 2;
      gen_traject(&s, i, n, gm, bsnk, bad);
      sb_printf(&s, "%s", t + 1 < per[lev] ? "," : "");
      ds->valid = realloc(ds->valid, ds->nrec + 1);
      ds->bad_schema = realloc(ds->bad_schema, ds->nrec + 1);
      assert_non_null(ds->valid);
      assert_non_null(ds->bad_schema);
      ds->valid[ds->nrec] = !bad && k != K_MALFORMED;
      ds->bad_schema[ds->nrec] = bad == 2;
      if(ds->valid[ds->nrec])
        d->accepted++;
      else if(k != K_MALFORMED)
        d->rejected++;
      ds->nrec++;
    }
    sb_printf(&s, "]}%s", lev + 1 < nlev ? "," : "");
  }
  sb_printf(&s, "]}\n");
  d->nrec = n;
  if(k == K_MALFORMED && v == 1) {
    /* cut inside the first traject */
    char *p = strstr(s.b, "\"omschrijving\"");
    assert_non_null(p);
    s.n = (size_t)(p - s.b) + 60;
  }
  snprintf(d->path, sizeof(d->path), "%s/in/d-%05zu.json", ds->sdir, i);
  f = fopen(d->path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(s.b, 1, s.n, f), s.n);
  fclose(f);
  ds->bytes += s.n;
  ds->nvalid += d->accepted;
  if(k == K_LARGE)
    ds->large++;
  if(k == K_MALFORMED)
    ds->malformed++;
  if(d->accepted && d->rejected)
    ds->partial++;
  free(s.b);
}

/* The mix of (a)-(d): mostly single trajecten, a tenth multi-levering,
 * partly invalid ones, a few wholly invalid and malformed, and one in a
 * hundred large (chunked). */
static dkind mix_kind(size_t i, int *v) {
  *v = 0;
  if(i % 100 == 7) {
    *v = i % 200 == 7 ? 0 : 60;
    return K_LARGE;
  }
  if(i % 50 == 13) {
    *v = (int)(i / 50 % 2);
    return K_MALFORMED;
  }
  if(i % 20 == 9)
    return K_ALLBAD;
  switch(i % 10) {
  case 1: return K_MULTI;
  case 2: return K_AMOUNT;
  case 5: return K_SCHEMA;
  default: return K_SINGLE;
  }
}

static void dataset_init(dataset *ds, const char *sdir, size_t n) {
  char cmd[400];
  memset(ds, 0, sizeof(*ds));
  snprintf(ds->sdir, sizeof(ds->sdir), "%s", sdir);
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s/in'", sdir);
  assert_int_equal(system(cmd), 0);
  ds->n = n;
  ds->d = calloc(n, sizeof(*ds->d));
  assert_non_null(ds->d);
}

static void dataset_mix(dataset *ds, const char *sdir, size_t n,
                        unsigned long bsn_from) {
  size_t i;
  unsigned long k = bsn_from;
  dataset_init(ds, sdir, n);
  for(i = 0; i < n; i++) {
    int v;
    dkind kd = mix_kind(i, &v);
    gen_delivery(ds, i, kd, v, &k);
  }
}

static void dataset_free(dataset *ds) {
  free(ds->d);
  free(ds->valid);
  free(ds->bad_schema);
  memset(ds, 0, sizeof(*ds));
}

static long index_of_id(const dataset *ds, const char *id) {
  unsigned long i;
  if(sscanf(id, "d-%lu-", &i) != 1 || i >= ds->n)
    return -1;
  return strcmp(ds->d[i].id, id) == 0 ? (long)i : -1;
}

/* ---- a scenario: cluster, stub, configuration, workers ----------------- */

typedef struct {
  char sdir[256];
  char conf[400];
  mock km;
  stub cbs;
  pid_t worker[8];
  int nworkers;
} scen;

static void scen_start(scen *s, const char *tag, const char *plan,
                       const char *extra) {
  char cmd[600];
  FILE *f;
  memset(s, 0, sizeof(*s));
  s->km.in = -1;
  snprintf(s->sdir, sizeof(s->sdir), "%s/%s", dir, tag);
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", s->sdir);
  assert_int_equal(system(cmd), 0);
  mock_start(&s->km, s->sdir);
  stub_start(&s->cbs, s->sdir, plan);
  snprintf(s->conf, sizeof(s->conf), "%s/worker.conf", s->sdir);
  f = fopen(s->conf, "w");
  assert_non_null(f);
  fprintf(f,
          "kafka.bootstrap.servers = %s\n"
          "kafka.session.timeout.ms = 6000\n"
          "kafka.heartbeat.interval.ms = 1000\n"
          "run.max_poll_interval_ms = 30000\n"
          "cbs.url = https://127.0.0.1:%d/gegevens\n"
          "cbs.token_url = https://127.0.0.1:%d/token\n"
          "cbs.client_id = worker\n"
          "cbs.client_secret = " SECRET "\n"
          "cbs.ca = %s/pki/root.pem\n"
          "cbs.cert = %s/pki/transport-chain.pem\n"
          "cbs.key = %s/pki/transport.key\n"
          "sign.cert = %s/pki/signing-chain.pem\n"
          "sign.key = %s/pki/signing-enc.key\n"
          "sign.key_passphrase = " PASSPHRASE "\n"
          "rules.profile = spec\n"
          "submit.chunk_bytes = %d\n"
          "batch.max_bytes = %d\n"
          "retry.max_attempts = 4\n"
          "retry.base_ms = 10\n"
          "retry.max_ms = 100\n"
          "cbs.connect_timeout_ms = 2000\n"
          "cbs.timeout_ms = 20000\n"
          "log.format = json\n"
          "log.level = info\n"
          "%s",
          s->km.bootstrap, s->cbs.port, s->cbs.port, dir, dir, dir, dir, dir,
          CHUNK_BYTES, BATCH_MAX_BYTES, extra ? extra : "");
  fclose(f);
}

static pid_t worker_start(scen *s) {
  char log[400];
  const char *argv[] = {WORKER_BIN, "run", "-c", s->conf, NULL};
  pid_t pid;
  assert_true(s->nworkers < 8);
  snprintf(log, sizeof(log), "%s/worker-%d.log", s->sdir, s->nworkers + 1);
  pid = spawn(argv, log, -1);
  s->worker[s->nworkers++] = pid;
  return pid;
}

/* SIGTERM to every worker still running; each must exit 0. */
static void workers_stop(scen *s) {
  int i;
  for(i = 0; i < s->nworkers; i++)
    if(s->worker[i] > 0)
      kill(s->worker[i], SIGTERM);
  for(i = 0; i < s->nworkers; i++)
    if(s->worker[i] > 0) {
      int rc = wait_exit(s->worker[i], 60000);
      if(rc != 0)
        fail_msg("worker %d exited with %d after SIGTERM (see "
                 "%s/worker-%d.log)",
                 i + 1, rc, s->sdir, i + 1);
      s->worker[i] = 0;
    }
}

static void scen_stop(scen *s) {
  workers_stop(s);
  stub_stop(&s->cbs);
  mock_stop(&s->km);
}

/* Publishes deliveries [from, to) with `ddas-worker submit` (up to 400
 * files per process) and learns each delivery id and chunk count. */
static void submit_range(scen *s, dataset *ds, size_t from, size_t to) {
  static int nsub;
  while(from < to) {
    size_t n = to - from > 400 ? 400 : to - from, k, argc = 0;
    const char **argv = calloc(n + 5, sizeof(char *));
    char log[400], line[1024];
    FILE *f;
    int rc;
    assert_non_null(argv);
    argv[argc++] = WORKER_BIN;
    argv[argc++] = "submit";
    argv[argc++] = "-c";
    argv[argc++] = s->conf;
    for(k = 0; k < n; k++)
      argv[argc++] = ds->d[from + k].path;
    argv[argc] = NULL;
    snprintf(log, sizeof(log), "%s/submit-%d.log", s->sdir, ++nsub);
    rc = wait_exit(spawn(argv, log, -1), 120000);
    if(rc != 0)
      fail_msg("submit exited with %d (see %s)", rc, log);
    f = fopen(log, "r");
    assert_non_null(f);
    while(fgets(line, sizeof(line), f)) {
      char *p = strstr(line, ": delivery "), id[200];
      const char *base;
      unsigned long i;
      size_t chunks;
      if(!p)
        continue;
      *p = '\0';
      base = strrchr(line, '/');
      if(!base || sscanf(base, "/d-%lu.json", &i) != 1 || i >= ds->n ||
         sscanf(p + 11, "%199s %zu message", id, &chunks) != 2)
        continue;
      id[strcspn(id, ",")] = '\0';
      snprintf(ds->d[i].id, sizeof(ds->d[i].id), "%s", id);
      ds->d[i].chunks = chunks;
    }
    fclose(f);
    free((void *)(uintptr_t)argv);
    from += n;
  }
}

/* ---- reading topics ---------------------------------------------------- */

/* Broker outages are expected in (d): the test's consumers stay quiet. */
static void quiet_error(rd_kafka_t *rk, int err, const char *reason,
                        void *opaque) {
  (void)rk;
  (void)err;
  (void)reason;
  (void)opaque;
}

static rd_kafka_t *consumer_new(const char *bootstrap) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512];
  rd_kafka_t *rk;
  static int n;
  char group[64];
  snprintf(group, sizeof(group), "pipeline-test-reader-%d", ++n);
  if(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                       sizeof(err)) ||
     rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
     rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
     rd_kafka_conf_set(conf, "log_level", "2", err, sizeof(err)))
    fail_msg("consumer configuration: %s", err);
  rd_kafka_conf_set_error_cb(conf, quiet_error);
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if(!rk)
    fail_msg("consumer: %s", err);
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic) {
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  int n = -1, i;
  for(i = 0; i < 10 && n < 0; i++) {
    if(!rd_kafka_metadata(rk, 0, t, &md, 5000)) {
      if(md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
    }
  }
  rd_kafka_topic_destroy(t);
  if(n < 1)
    fail_msg("no metadata for topic %s", topic);
  return n;
}

typedef void (*msg_cb)(void *ctx, rd_kafka_message_t *m);

/* Calls cb for every message of topic, from the beginning to its current
 * end (high watermark), by manual assignment. */
static size_t read_topic(const char *bootstrap, const char *topic, msg_cb cb,
                         void *ctx) {
  rd_kafka_t *rk = consumer_new(bootstrap);
  int np = partitions_of(rk, topic), i, remaining = 0;
  int64_t high[64];
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
  double deadline = now_s() + 120;
  size_t count = 0;
  assert_true(np <= 64);
  for(i = 0; i < np; i++) {
    int64_t lo = 0, hi = 0;
    int tries;
    for(tries = 0; tries < 10; tries++)
      if(!rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000))
        break;
    assert_true(tries < 10);
    if(lo > 0)
      fail_msg("%s [%d] starts at offset %lld: kafka-mock dropped its oldest "
               "messages (its log keeps about 5 MiB per partition); the "
               "scenario published too much",
               topic, i, (long long)lo);
    high[i] = hi;
    if(hi > lo) {
      rd_kafka_topic_partition_list_add(l, topic, i)->offset = lo;
      remaining++;
    }
  }
  if(remaining)
    assert_int_equal(rd_kafka_assign(rk, l), 0);
  while(remaining > 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
    if(now_s() > deadline)
      fail_msg("timed out reading %s", topic);
    if(!m)
      continue;
    if(!m->err) {
      cb(ctx, m);
      count++;
      if(m->offset + 1 >= high[m->partition] && high[m->partition] > 0) {
        high[m->partition] = 0;
        remaining--;
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return count;
}

/* The value of header name as a string in buf; 0 when absent. */
static int header(rd_kafka_message_t *m, const char *name, char *buf,
                  size_t cap) {
  rd_kafka_headers_t *h = NULL;
  const void *v;
  size_t n;
  if(rd_kafka_message_headers(m, &h) || !h ||
     rd_kafka_header_get_last(h, name, &v, &n) || !v || n >= cap)
    return 0;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return 1;
}

/* Follows ddas.receipts while the workers run: which deliveries have a
 * processed receipt. */
typedef struct {
  rd_kafka_t *rk;
  const dataset *ds;
  unsigned char *seen;
  size_t count;
} watch;

static void watch_start(watch *w, const char *bootstrap, const dataset *ds) {
  int np, i;
  rd_kafka_topic_partition_list_t *l;
  w->rk = consumer_new(bootstrap);
  w->ds = ds;
  w->seen = calloc(ds->n, 1);
  w->count = 0;
  assert_non_null(w->seen);
  np = partitions_of(w->rk, "ddas.receipts");
  l = rd_kafka_topic_partition_list_new(np);
  for(i = 0; i < np; i++)
    rd_kafka_topic_partition_list_add(l, "ddas.receipts", i)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  assert_int_equal(rd_kafka_assign(w->rk, l), 0);
  rd_kafka_topic_partition_list_destroy(l);
}

static void watch_poll(watch *w, int ms) {
  double until = now_s() + ms / 1000.0;
  while(now_s() < until) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
    char type[64], id[200];
    long i;
    if(!m)
      continue;
    if(!m->err && header(m, "ce_type", type, sizeof(type)) &&
       !strcmp(type, "nl.ddas.delivery.processed") &&
       header(m, "ddas-delivery-id", id, sizeof(id)) &&
       (i = index_of_id(w->ds, id)) >= 0 && !w->seen[i]) {
      w->seen[i] = 1;
      w->count++;
    }
    rd_kafka_message_destroy(m);
  }
}

/* Waits until `target` deliveries have a processed receipt. */
static void watch_wait(watch *w, size_t target, int timeout_s,
                       const char *what) {
  double until = now_s() + timeout_s;
  while(w->count < target) {
    if(now_s() > until)
      fail_msg("%s: only %zu of %zu deliveries have a receipt after %d s", what,
               w->count, target, timeout_s);
    watch_poll(w, 200);
  }
}

static void watch_stop(watch *w) {
  rd_kafka_consumer_close(w->rk);
  rd_kafka_destroy(w->rk);
  free(w->seen);
  memset(w, 0, sizeof(*w));
}

/* ---- reconciliation ---------------------------------------------------- */

typedef struct {
  /* inputs */
  size_t deliveries, records, valid, chunks;
  /* receipts */
  size_t processed, processed_again, forwarded_receipts, replayed_receipts;
  /* CBS */
  size_t cbs_batches, cbs_records, cbs_resends;
  /* ddas.failed */
  size_t parked_events, parked_batches, parked_records, parked_at_cbs;
  /* records */
  size_t copies_same_key, key_mismatch, lost, extra, foreign;
} recon;

typedef struct {
  char (*keys)[48];
  size_t nkeys, cap;
  int *rec_key; /* per record: index into keys, -1 unseen */
  const dataset *ds;
  recon *r;
  /* receipts */
  unsigned char *got;
  char **batch_ids; /* named by processed and forwarded receipts */
  size_t nbatch_ids, batch_cap;
  /* sorted keys the stub holds */
  char **cbs_keys;
  size_t ncbs;
  /* parked keys, for the replay check */
  char **parked_keys;
  size_t nparked_keys;
  const stub *cbs;
  int failures;
} rctx;

static int key_of(rctx *c, const char *key) {
  size_t i;
  for(i = 0; i < c->nkeys; i++)
    if(!strcmp(c->keys[i], key))
      return (int)i;
  if(c->nkeys == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 1024;
    c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
    assert_non_null(c->keys);
  }
  snprintf(c->keys[c->nkeys], sizeof(c->keys[0]), "%s", key);
  return (int)c->nkeys++;
}

static void add_batch_id(rctx *c, const char *id) {
  if(c->nbatch_ids == c->batch_cap) {
    c->batch_cap = c->batch_cap ? c->batch_cap * 2 : 1024;
    c->batch_ids = realloc(c->batch_ids, c->batch_cap * sizeof(char *));
    assert_non_null(c->batch_ids);
  }
  c->batch_ids[c->nbatch_ids++] = strdup(id);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cbs_has(const rctx *c, const char *key) {
  const char *k = key;
  return c->ncbs &&
         bsearch(&k, c->cbs_keys, c->ncbs, sizeof(char *), cmp_str) != NULL;
}

/* The record ids in one batch body, attributed to key. */
static size_t body_records(rctx *c, const char *key, const char *body,
                           size_t len) {
  json_error_t je;
  json_t *j = json_loadb(body, len, 0, &je), *lev;
  size_t li, ti, n = 0;
  int k = key_of(c, key);
  if(!j)
    fail_msg("batch %s: body is not JSON: %s", key, je.text);
  json_array_foreach(json_object_get(j, "leveringen"), li, lev) {
    json_t *t;
    json_array_foreach(json_object_get(lev, "schuldhulptrajecten"), ti, t) {
      const char *rid = json_string_value(json_object_get(t, "omschrijving"));
      unsigned long di, ri;
      size_t idx;
      n++;
      if(!rid || sscanf(rid, "r-%lu-%lu", &di, &ri) != 2 || di >= c->ds->n ||
         ri >= c->ds->d[di].nrec) {
        c->r->foreign++;
        continue;
      }
      idx = c->ds->d[di].base + ri;
      if(c->rec_key[idx] < 0) {
        c->rec_key[idx] = k;
      } else if(c->rec_key[idx] != k) {
        if(c->r->key_mismatch++ < 5)
          printf("record %s is in batch %s and in batch %s\n", rid,
                 c->keys[c->rec_key[idx]], key);
      } else {
        c->r->copies_same_key++;
      }
    }
  }
  json_decref(j);
  return n;
}

static void on_receipt(void *ctx, rd_kafka_message_t *m) {
  rctx *c = ctx;
  char type[64];
  json_t *j;
  long i;
  if(!header(m, "ce_type", type, sizeof(type)) || !m->payload)
    return;
  j = json_loadb(m->payload, m->len, 0, NULL);
  assert_non_null(j);
  if(!strcmp(type, "nl.ddas.delivery.processed")) {
    const char *id = json_string_value(json_object_get(j, "delivery_id"));
    const char *status = json_string_value(json_object_get(j, "status"));
    size_t acc = (size_t)json_integer_value(json_object_get(j, "accepted"));
    size_t rej = (size_t)json_integer_value(json_object_get(j, "rejected"));
    json_t *b;
    size_t k;
    assert_non_null(id);
    i = index_of_id(c->ds, id);
    if(i < 0) {
      printf("receipt of an unknown delivery %s\n", id);
      c->failures++;
    } else {
      const gdel *d = &c->ds->d[i];
      if(c->got[i]++)
        c->r->processed_again++;
      else
        c->r->processed++;
      if(!status || strcmp(status, "processed") || acc != d->accepted ||
         rej != d->rejected) {
        if(c->failures++ < 10)
          printf("delivery %s (%s): receipt %s accepted %zu rejected %zu, "
                 "expected processed accepted %zu rejected %zu\n",
                 id, kind_names[d->kind], status ? status : "?", acc, rej,
                 d->accepted, d->rejected);
      }
    }
    json_array_foreach(json_object_get(j, "batch_ids"), k, b)
        add_batch_id(c, json_string_value(b));
  } else if(!strcmp(type, "nl.ddas.batch.forwarded")) {
    c->r->forwarded_receipts++;
    if(json_is_true(json_object_get(j, "replayed")))
      c->r->replayed_receipts++;
    add_batch_id(c, json_string_value(json_object_get(j, "batch_id")));
  }
  json_decref(j);
}

static void on_parked(void *ctx, rd_kafka_message_t *m) {
  rctx *c = ctx;
  char key[64], type[64];
  assert_true(header(m, "ce_type", type, sizeof(type)));
  assert_string_equal(type, "nl.ddas.batch.parked");
  assert_true(header(m, "ddas-batch-id", key, sizeof(key)));
  c->r->parked_events++;
  c->r->parked_records += body_records(c, key, m->payload, m->len);
  c->parked_keys =
      realloc(c->parked_keys, (c->nparked_keys + 1) * sizeof(char *));
  assert_non_null(c->parked_keys);
  c->parked_keys[c->nparked_keys++] = strdup(key);
  if(cbs_has(c, key)) {
    /* CBS holds a batch with this key: it must be this very body */
    char path[600];
    size_t len;
    char *stored;
    snprintf(path, sizeof(path), "%s/%s.json", c->cbs->records, key);
    stored = tu_read(path, &len);
    if(len != m->len || memcmp(stored, m->payload, len)) {
      if(c->failures++ < 10)
        printf("parked batch %s differs from the body CBS holds under the "
               "same key\n",
               key);
    }
    free(stored);
  }
}

/* Reads everything and checks (1)-(4); fills r. require_replayed: every
 * parked batch must have reached CBS by now (after a replay). */
static void reconcile(const scen *s, const dataset *ds, recon *r,
                      int require_replayed) {
  rctx c;
  DIR *dp;
  struct dirent *e;
  size_t i;
  memset(r, 0, sizeof(*r));
  memset(&c, 0, sizeof(c));
  c.ds = ds;
  c.r = r;
  c.cbs = &s->cbs;
  c.rec_key = malloc((ds->nrec ? ds->nrec : 1) * sizeof(int));
  c.got = calloc(ds->n ? ds->n : 1, 1);
  assert_non_null(c.rec_key);
  assert_non_null(c.got);
  for(i = 0; i < ds->nrec; i++)
    c.rec_key[i] = -1;
  r->deliveries = ds->n;
  r->records = ds->nrec;
  r->valid = ds->nvalid;
  for(i = 0; i < ds->n; i++)
    r->chunks += ds->d[i].chunks;

  /* (1) receipts */
  read_topic(s->km.bootstrap, "ddas.receipts", on_receipt, &c);
  for(i = 0; i < ds->n; i++)
    if(!c.got[i] && c.failures++ < 10)
      printf("delivery %s (%s) has no processed receipt\n", ds->d[i].id,
             kind_names[ds->d[i].kind]);

  /* what CBS holds */
  dp = opendir(s->cbs.records);
  assert_non_null(dp);
  while((e = readdir(dp))) {
    size_t n = strlen(e->d_name);
    char path[700], key[200];
    if(e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json"))
      continue;
    if(n > 10 && !strcmp(e->d_name + n - 10, ".meta.json")) {
      json_t *meta;
      snprintf(path, sizeof(path), "%s/%s", s->cbs.records, e->d_name);
      meta = json_load_file(path, 0, NULL);
      assert_non_null(meta);
      r->cbs_resends +=
          (size_t)json_integer_value(json_object_get(meta, "receipts")) - 1;
      json_decref(meta);
      continue;
    }
    {
      char *body;
      size_t len;
      snprintf(key, sizeof(key), "%.*s", (int)(n - 5), e->d_name);
      snprintf(path, sizeof(path), "%s/%s", s->cbs.records, e->d_name);
      body = tu_read(path, &len);
      r->cbs_records += body_records(&c, key, body, len);
      r->cbs_batches++;
      free(body);
      c.cbs_keys = realloc(c.cbs_keys, (c.ncbs + 1) * sizeof(char *));
      assert_non_null(c.cbs_keys);
      c.cbs_keys[c.ncbs++] = strdup(key);
    }
  }
  closedir(dp);
  if(c.ncbs)
    qsort(c.cbs_keys, c.ncbs, sizeof(char *), cmp_str);

  /* parked batches */
  read_topic(s->km.bootstrap, "ddas.failed", on_parked, &c);
  if(c.nparked_keys) {
    qsort(c.parked_keys, c.nparked_keys, sizeof(char *), cmp_str);
    for(i = 0; i < c.nparked_keys; i++)
      if(!i || strcmp(c.parked_keys[i], c.parked_keys[i - 1])) {
        r->parked_batches++;
        if(cbs_has(&c, c.parked_keys[i]))
          r->parked_at_cbs++;
        else if(require_replayed && c.failures++ < 10)
          printf("parked batch %s did not reach CBS\n", c.parked_keys[i]);
      }
  }

  /* every batch a receipt names reached CBS */
  for(i = 0; i < c.nbatch_ids; i++)
    if(!cbs_has(&c, c.batch_ids[i]) && c.failures++ < 10)
      printf("a receipt names batch %s, which CBS does not have\n",
             c.batch_ids[i]);

  /* (2)-(4) every valid record exactly under one key, nothing else */
  for(i = 0; i < ds->nrec; i++) {
    if(ds->valid[i] && c.rec_key[i] < 0)
      r->lost++;
    if(!ds->valid[i] && c.rec_key[i] >= 0)
      r->extra++;
  }
  if(r->lost || r->extra) {
    size_t d, shown = 0;
    for(d = 0; d < ds->n && shown < 10; d++)
      for(i = 0; i < ds->d[d].nrec && shown < 10; i++) {
        size_t idx = ds->d[d].base + i;
        if(ds->valid[idx] != (c.rec_key[idx] >= 0)) {
          printf("record r-%zu-%zu of delivery %s (%s): %s\n", d, i,
                 ds->d[d].id, kind_names[ds->d[d].kind],
                 ds->valid[idx] ? "lost" : "invalid but forwarded or parked");
          shown++;
        }
      }
  }
  printf("  reconciliation: %zu deliveries (%zu messages), %zu records, %zu "
         "valid; receipts: %zu processed (+%zu redone), %zu forwarded (%zu "
         "replayed); CBS: %zu batches, %zu records, %zu re-sends of a known "
         "key; parked: %zu events, %zu batches (%zu now at CBS), %zu records; "
         "record copies under one key: %zu; lost: %zu; extra: %zu; key "
         "mismatches: %zu\n",
         r->deliveries, r->chunks, r->records, r->valid, r->processed,
         r->processed_again, r->forwarded_receipts, r->replayed_receipts,
         r->cbs_batches, r->cbs_records, r->cbs_resends, r->parked_events,
         r->parked_batches, r->parked_at_cbs, r->parked_records,
         r->copies_same_key, r->lost, r->extra, r->key_mismatch);
  fflush(stdout);
  {
    long conflicts = stub_stat(&s->cbs, "key_conflicts");
    long badsig =
        stub_stat(&s->cbs, "bad_signature") + stub_stat(&s->cbs, "bad_digest");
    long invalid = stub_stat(&s->cbs, "schema_invalid");
    if(conflicts)
      printf("CBS stub: %ld Idempotency-Key conflicts (a key re-sent with "
             "another body)\n",
             conflicts);
    assert_int_equal(badsig, 0);
    assert_int_equal(invalid, 0);
    assert_int_equal(c.failures, 0);
    assert_int_equal(r->foreign, 0);
    assert_int_equal(r->lost, 0);
    assert_int_equal(r->extra, 0);
    assert_int_equal(r->key_mismatch, 0);
    assert_int_equal(conflicts, 0);
    assert_int_equal(r->processed, ds->n);
  }
  for(i = 0; i < c.nbatch_ids; i++)
    free(c.batch_ids[i]);
  for(i = 0; i < c.ncbs; i++)
    free(c.cbs_keys[i]);
  for(i = 0; i < c.nparked_keys; i++)
    free(c.parked_keys[i]);
  free(c.batch_ids);
  free(c.cbs_keys);
  free(c.parked_keys);
  free(c.keys);
  free(c.rec_key);
  free(c.got);
}

static void print_dataset(const char *tag, const dataset *ds) {
  size_t i, chunked = 0, maxc = 0, minc = 0;
  for(i = 0; i < ds->n; i++)
    if(ds->d[i].chunks > 1) {
      chunked++;
      if(ds->d[i].chunks > maxc)
        maxc = ds->d[i].chunks;
      if(!minc || ds->d[i].chunks < minc)
        minc = ds->d[i].chunks;
    }
  printf("(%s) %zu deliveries, %.1f MB, %zu records (%zu valid, %zu "
         "invalid); %zu partly invalid, %zu malformed, %zu large (%zu "
         "chunked into %zu..%zu messages)\n",
         tag, ds->n, (double)ds->bytes / 1e6, ds->nrec, ds->nvalid,
         ds->nrec - ds->nvalid, ds->partial, ds->malformed, ds->large, chunked,
         minc, maxc);
  fflush(stdout);
}

static void check_chunking(const dataset *ds) {
  size_t i;
  for(i = 0; i < ds->n; i++) {
    if(!ds->d[i].id[0])
      fail_msg("submit did not report delivery %zu", i);
    if(ds->d[i].kind == K_LARGE &&
       (ds->d[i].chunks < 3 || ds->d[i].chunks > 10))
      fail_msg("large delivery %zu: %zu chunks, expected 3..10", i,
               ds->d[i].chunks);
    if(ds->d[i].kind != K_LARGE && ds->d[i].chunks != 1)
      fail_msg("delivery %zu: %zu chunks, expected 1", i, ds->d[i].chunks);
  }
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
  /* kill worker 1 in the middle of its work, start it again, add one */
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
  /* the kill left work that was redone, and CBS recognised the re-sent
   * batches */
  assert_true(r.processed_again > 0);
  assert_true(r.cbs_resends > 0);
  assert_int_equal(r.parked_batches, 0);
  scen_stop(&s);
  dataset_free(&ds);
  printf("(b) %.1f s\n", now_s() - t0);
}

/* ---- (c) CBS down for a while, then replay ------------------------------ */

static int run_replay(const scen *s, char **out) {
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "'%s' replay -c '%s' 2>>'%s/replay.log'",
           WORKER_BIN, s->conf, s->sdir);
  return tu_run(cmd, out);
}

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
 * allocator slack: 4 MiB. A worker that buffered its backlog would grow by
 * at least the backlog, which is more than this. */
#define RSS_BOUND_KIB (64 * 1024 + 8 * BATCH_MAX_BYTES / 1024)
#define RSS_GROWTH_KIB (6 * 1024 + 3 * 2 * 1024 + 4 * 1024)

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

typedef struct {
  int32_t partition;
  int64_t offset;
  char *payload;
  size_t len;
} kmsg;

typedef struct {
  kmsg *m;
  size_t n;
} kmsgs;

static void on_input(void *ctx, rd_kafka_message_t *m) {
  kmsgs *l = ctx;
  l->m = realloc(l->m, (l->n + 1) * sizeof(*l->m));
  assert_non_null(l->m);
  l->m[l->n].partition = m->partition;
  l->m[l->n].offset = m->offset;
  l->m[l->n].payload = malloc(m->len + 1);
  assert_non_null(l->m[l->n].payload);
  memcpy(l->m[l->n].payload, m->payload, m->len);
  l->m[l->n].payload[m->len] = '\0';
  l->m[l->n].len = m->len;
  l->n++;
}

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

static const kmsg *input_at(const kmsgs *l, int32_t part, int64_t off) {
  size_t i;
  for(i = 0; i < l->n; i++)
    if(l->m[i].partition == part && l->m[i].offset == off)
      return &l->m[i];
  return NULL;
}

/* The value at pointer p ("/leveringen/0/schuldhulptrajecten/3") in doc. */
static json_t *resolve(json_t *doc, const char *p) {
  char buf[300], *tok, *save = NULL;
  snprintf(buf, sizeof(buf), "%s", p);
  for(tok = strtok_r(buf, "/", &save); tok && doc;
      tok = strtok_r(NULL, "/", &save))
    doc = json_is_array(doc) ? json_array_get(doc, strtoul(tok, NULL, 10))
                             : json_object_get(doc, tok);
  return doc;
}

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
  /* the first 8 batch requests get 503: 4 batches parked (2 attempts) */
  scen_start(&s, "f",
             "[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":"
             "503},{\"status\":503},{\"status\":503},{\"status\":503},"
             "{\"status\":503}]",
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
  for(i = 0; i < in.n; i++)
    free(in.m[i].payload);
  free(in.m);
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
  signal(SIGPIPE, SIG_IGN);
  if(!mkdtemp(dir))
    return -1;
  return tu_make_pki(dir, PASSPHRASE);
}

static int teardown(void **state) {
  char cmd[600];
  (void)state;
  kill_all(NULL);
  if(getenv("DDAS_KEEP_TMP")) {
    printf("kept %s\n", dir);
    return 0;
  }
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
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
