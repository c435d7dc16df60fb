/* tests/support/pipeline_fixture.c: the whole pipeline with real processes
 * (see pipeline_fixture.h). */
#define _GNU_SOURCE
#include "pipeline_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

char fx_dir[200];
void (*fx_fail_hook)(const char *msg);

void fx_fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fflush(stdout);
  if(fx_fail_hook)
    fx_fail_hook(msg);
  fprintf(stderr, "pipeline fixture: %s\n", msg);
  abort();
}

double now_s(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- child processes --------------------------------------------------- */

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

void child_forget(pid_t pid) {
  size_t i;
  for(i = 0; i < MAX_CHILDREN; i++)
    if(children[i] == pid)
      children[i] = 0;
}

/* Starts argv[0] with stdout and stderr appended to log and stdin from
 * in_fd (-1: /dev/null); remembers it for children_kill_all(). */
pid_t spawn(const char *const argv[], const char *log, int in_fd) {
  pid_t pid = fork();
  size_t i;
  FX_CHECK(pid >= 0);
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
int wait_exit(pid_t pid, int timeout_ms) {
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

int poll_exit(pid_t pid) {
  int st;
  if(waitpid(pid, &st, WNOHANG) != pid)
    return -2;
  child_forget(pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void children_kill_all(void) {
  size_t i;
  for(i = 0; i < MAX_CHILDREN; i++)
    if(children[i]) {
      int st;
      kill(children[i], SIGKILL);
      waitpid(children[i], &st, 0);
      children[i] = 0;
    }
}

int fx_setup(const char *template) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(fx_dir, sizeof(fx_dir), "%s", template);
  if(!mkdtemp(fx_dir))
    return -1;
  return tu_make_pki(fx_dir, FX_PASSPHRASE);
}

int fx_teardown(void) {
  children_kill_all();
  if(!fx_dir[0])
    return 0;
  if(getenv("DDAS_KEEP_TMP")) {
    printf("kept %s\n", fx_dir);
    return 0;
  }
  return tu_runf(NULL, "rm -rf '%s'", fx_dir) == 0 ? 0 : -1;
}

/* ---- kafka-mock -------------------------------------------------------- */

void mock_start(mock *m, const char *sdir) {
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
                        "--topic",
                        "ddas.accepted:3",
                        "--bootstrap-file",
                        bootfile,
                        NULL};
  snprintf(bootfile, sizeof(bootfile), "%s/bootstrap", sdir);
  snprintf(m->log, sizeof(m->log), "%s/kafka-mock.log", sdir);
  FX_CHECK(pipe2(p, O_CLOEXEC) == 0);
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
  fx_fail("kafka-mock did not start (see %s)", m->log);
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

int mock_try(mock *m, const char *cmd, char *answer, size_t cap) {
  char line[256], last[512] = "";
  size_t before = count_answers(m->log, last, sizeof(last));
  int i, n = snprintf(line, sizeof(line), "%s\n", cmd), answered = 0;
  FX_CHECK(write(m->in, line, (size_t)n) == n);
  for(i = 0; i < 250 && !answered; i++) {
    answered = count_answers(m->log, last, sizeof(last)) > before;
    if(!answered)
      usleep(20000);
  }
  /* without a new answer, `last` is the previous command's */
  if(!answered)
    snprintf(last, sizeof(last), "no answer within 5 s");
  last[strcspn(last, "\r\n")] = '\0';
  if(!answered || strncmp(last, "ok", 2)) {
    snprintf(answer, cap, "%s", last);
    return -1;
  }
  snprintf(answer, cap, "%s", last[2] == ' ' ? last + 3 : "");
  return 0;
}

void mock_query(mock *m, const char *cmd, char *answer, size_t cap) {
  if(mock_try(m, cmd, answer, cap))
    fx_fail("kafka-mock: '%s' answered '%s'", cmd, answer);
}

void mock_cmd(mock *m, const char *cmd) {
  char answer[64];
  mock_query(m, cmd, answer, sizeof(answer));
}

void mock_stop(mock *m) {
  if(m->in >= 0) {
    if(write(m->in, "quit\n", 5) != 5) {
      /* already gone: wait_exit tells */
    }
    close(m->in);
    m->in = -1;
  }
  if(m->pid > 0) {
    int rc = wait_exit(m->pid, 20000);
    m->pid = 0;
    if(rc)
      fx_fail("kafka-mock ended with %d after quit (see %s)", rc, m->log);
  }
}

/* ---- the CBS stub ------------------------------------------------------ */

void stub_start(stub *s, const char *sdir, const char *plan) {
  stub_opts o;
  memset(&o, 0, sizeof(o));
  o.plan = plan;
  stub_start_opts(s, sdir, &o);
}

void stub_start_opts(stub *s, const char *sdir, const stub_opts *o) {
  char portfile[400], planfile[400], pki[300], cert[400], key[400], ca[400],
      cca[400], listen[64], lifetime[32];
  const char *argv[40];
  int n = 0;
  snprintf(pki, sizeof(pki), "%s/pki", fx_dir);
  snprintf(cert, sizeof(cert), "%s/%s", pki,
           o->cert ? o->cert : "server-chain.pem");
  snprintf(key, sizeof(key), "%s/%s", pki, o->key ? o->key : "server.key");
  snprintf(ca, sizeof(ca), "%s/root.pem", pki);
  snprintf(cca, sizeof(cca), "%s/%s", pki,
           o->client_ca ? o->client_ca : "root.pem");
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", o->port);
  snprintf(lifetime, sizeof(lifetime), "%d", o->token_lifetime);
  snprintf(s->records, sizeof(s->records), "%s/cbs", sdir);
  snprintf(s->log, sizeof(s->log), "%s/cbs-stub.log", sdir);
  snprintf(portfile, sizeof(portfile), "%s/cbs.port", sdir);
  snprintf(planfile, sizeof(planfile), "%s/plan.json", sdir);
  argv[n++] = CBS_STUB_BIN;
  argv[n++] = "--listen";
  argv[n++] = listen;
  argv[n++] = "--cert";
  argv[n++] = cert;
  argv[n++] = "--key";
  argv[n++] = key;
  argv[n++] = "--client-ca";
  argv[n++] = cca;
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
  argv[n++] = FX_SECRET;
  argv[n++] = "--quiet";
  if(o->token_lifetime > 0) {
    argv[n++] = "--token-lifetime";
    argv[n++] = lifetime;
  }
  if(o->plan) {
    tu_write_file(planfile, o->plan, strlen(o->plan));
    argv[n++] = "--plan";
    argv[n++] = planfile;
  }
  argv[n] = NULL;
  unlink(portfile);
  s->pid = spawn(argv, s->log, -1);
  s->port = tu_wait_port_file(portfile, 10000);
  if(s->port > 0)
    return;
  fx_fail("the CBS stub did not start (see %s)", s->log);
}

void stub_stop(stub *s) {
  if(s->pid > 0) {
    int rc;
    kill(s->pid, SIGTERM);
    rc = wait_exit(s->pid, 20000);
    s->pid = 0;
    if(rc)
      fx_fail("the CBS stub ended with %d after SIGTERM (see %s)", rc, s->log);
  }
}

/* GET /_stats, or POST /_plan with body; the answer as JSON. */
json_t *stub_call(const stub *s, const char *path, const char *body) {
  char cmd[2048], *out = NULL, bodyfile[450];
  json_t *j;
  if(body) {
    FILE *f;
    snprintf(bodyfile, sizeof(bodyfile), "%s.body", s->records);
    f = fopen(bodyfile, "w");
    FX_CHECK(f != NULL);
    fputs(body, f);
    fclose(f);
  }
  snprintf(cmd, sizeof(cmd),
           "curl -s --max-time 20 --cacert %s/pki/root.pem --cert "
           "%s/pki/transport-chain.pem --key %s/pki/transport.key %s%s "
           "https://127.0.0.1:%d%s",
           fx_dir, fx_dir, fx_dir,
           body ? "-H 'Content-Type: application/json' --data-binary @" : "",
           body ? bodyfile : "", s->port, path);
  FX_CHECK(tu_run(cmd, &out) == 0);
  j = json_loads(out, 0, NULL);
  if(!j)
    fx_fail("stub %s: not JSON: %s", path, out);
  free(out);
  return j;
}

long stub_stat(const stub *s, const char *name) {
  json_t *j = stub_call(s, "/_stats", NULL);
  json_t *v = json_object_get(j, name);
  long r;
  FX_CHECK(json_is_integer(v));
  r = (long)json_integer_value(v);
  json_decref(j);
  return r;
}

/* ---- generated deliveries ---------------------------------------------- */

const char *const kind_names[K_NKINDS] = {
    "single", "multi", "amount", "schema", "allbad", "malformed", "large"};

void sb_printf(sbuf *s, const char *fmt, ...) {
  va_list ap;
  int need;
  for(;;) {
    size_t room = s->cap - s->n;
    va_start(ap, fmt);
    need = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? room : 0, fmt, ap);
    va_end(ap);
    FX_CHECK(need >= 0);
    if(s->b && (size_t)need < room) {
      s->n += (size_t)need;
      return;
    }
    s->cap = (s->cap + (size_t)need + 1) * 2;
    s->b = realloc(s->b, s->cap);
    FX_CHECK(s->b != NULL);
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
void gen_delivery(dataset *ds, size_t i, dkind k, int v, unsigned long *bsnk) {
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
      FX_CHECK(ds->valid != NULL);
      FX_CHECK(ds->bad_schema != NULL);
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
    FX_CHECK(p != NULL);
    s.n = (size_t)(p - s.b) + 60;
  }
  snprintf(d->path, sizeof(d->path), "%s/in/d-%05zu.json", ds->sdir, i);
  f = fopen(d->path, "w");
  FX_CHECK(f != NULL);
  FX_CHECK(fwrite(s.b, 1, s.n, f) == s.n);
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

void dataset_init(dataset *ds, const char *sdir, size_t n) {
  char cmd[400];
  memset(ds, 0, sizeof(*ds));
  snprintf(ds->sdir, sizeof(ds->sdir), "%s", sdir);
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s/in'", sdir);
  FX_CHECK(system(cmd) == 0);
  ds->n = n;
  ds->d = calloc(n, sizeof(*ds->d));
  FX_CHECK(ds->d != NULL);
}

void dataset_mix(dataset *ds, const char *sdir, size_t n,
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

void dataset_free(dataset *ds) {
  free(ds->d);
  free(ds->valid);
  free(ds->bad_schema);
  memset(ds, 0, sizeof(*ds));
}

long index_of_id(const dataset *ds, const char *id) {
  unsigned long i;
  if(sscanf(id, "d-%lu-", &i) != 1 || i >= ds->n)
    return -1;
  return strcmp(ds->d[i].id, id) == 0 ? (long)i : -1;
}

/* ---- a scenario: cluster, stub, configuration, workers ----------------- */

void scen_start(scen *s, const char *tag, const char *plan, const char *extra) {
  stub_opts o;
  memset(&o, 0, sizeof(o));
  o.plan = plan;
  scen_start_opts(s, tag, &o, extra);
}

void scen_start_opts(scen *s, const char *tag, const stub_opts *o,
                     const char *extra) {
  char cmd[600];
  FILE *f;
  memset(s, 0, sizeof(*s));
  s->km.in = -1;
  snprintf(s->sdir, sizeof(s->sdir), "%s/%s", fx_dir, tag);
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", s->sdir);
  FX_CHECK(system(cmd) == 0);
  mock_start(&s->km, s->sdir);
  stub_start_opts(&s->cbs, s->sdir, o);
  snprintf(s->conf, sizeof(s->conf), "%s/worker.conf", s->sdir);
  f = fopen(s->conf, "w");
  FX_CHECK(f != NULL);
  fprintf(f,
          "kafka.bootstrap.servers = %s\n"
          "kafka.session.timeout.ms = 6000\n"
          "kafka.heartbeat.interval.ms = 1000\n"
          "run.max_poll_interval_ms = 30000\n"
          "cbs.url = https://127.0.0.1:%d/gegevens\n"
          "cbs.token_url = https://127.0.0.1:%d/token\n"
          "cbs.client_id = worker\n"
          "cbs.client_secret = " FX_SECRET "\n"
          "cbs.ca = %s/pki/root.pem\n"
          "cbs.cert = %s/pki/transport-chain.pem\n"
          "cbs.key = %s/pki/transport.key\n"
          "sign.cert = %s/pki/signing-chain.pem\n"
          "sign.key = %s/pki/signing-enc.key\n"
          "sign.key_passphrase = " FX_PASSPHRASE "\n"
          "rules.profile = spec\n"
          "submit.chunk_bytes = %d\n"
          "batch.max_bytes = %d\n"
          "retry.max_attempts = 4\n"
          "retry.base_ms = 10\n"
          "retry.max_ms = 100\n"
          "cbs.connect_timeout_ms = 2000\n"
          "cbs.timeout_ms = 20000\n"
          /* the scenarios' timing (the fault matrix's stretched runs,
           * test_pipeline (f)'s planned failures) assumes 8 */
          "cbs.max_in_flight = 8\n"
          "log.format = json\n"
          "log.level = info\n"
          "%s",
          s->km.bootstrap, s->cbs.port, s->cbs.port, fx_dir, fx_dir, fx_dir,
          fx_dir, fx_dir, FX_CHUNK_BYTES, FX_BATCH_MAX_BYTES,
          extra ? extra : "");
  fclose(f);
}

pid_t worker_start(scen *s) {
  char log[400];
  const char *argv[] = {WORKER_BIN, "run", "-c", s->conf, NULL};
  pid_t pid;
  FX_CHECK(s->nworkers < FX_MAX_WORKERS);
  snprintf(log, sizeof(log), "%s/worker-%d.log", s->sdir, s->nworkers + 1);
  pid = spawn(argv, log, -1);
  s->worker[s->nworkers++] = pid;
  return pid;
}

/* SIGTERM to every worker still running; each must exit 0. */
int workers_stop_count(scen *s) {
  int i, bad = 0;
  for(i = 0; i < s->nworkers; i++)
    if(s->worker[i] > 0)
      kill(s->worker[i], SIGTERM);
  for(i = 0; i < s->nworkers; i++)
    if(s->worker[i] > 0) {
      int rc = wait_exit(s->worker[i], 60000);
      if(rc != 0) {
        printf("worker %d exited with %d after SIGTERM (see "
               "%s/worker-%d.log)\n",
               i + 1, rc, s->sdir, i + 1);
        bad++;
      }
      s->worker[i] = 0;
    }
  return bad;
}

void workers_stop(scen *s) {
  if(workers_stop_count(s))
    fx_fail("a worker did not exit 0 after SIGTERM (logs in %s)", s->sdir);
}

void scen_stop(scen *s) {
  workers_stop(s);
  stub_stop(&s->cbs);
  mock_stop(&s->km);
}

/* Publishes deliveries [from, to) with `ddas-worker submit` (up to 400
 * files per process) and learns each delivery id and chunk count. */
void submit_range(scen *s, dataset *ds, size_t from, size_t to) {
  static int nsub;
  while(from < to) {
    size_t n = to - from > 400 ? 400 : to - from, k, argc = 0;
    const char **argv = calloc(n + 5, sizeof(char *));
    char log[400], line[1024];
    FILE *f;
    int rc;
    FX_CHECK(argv != NULL);
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
      fx_fail("submit exited with %d (see %s)", rc, log);
    f = fopen(log, "r");
    FX_CHECK(f != NULL);
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

rd_kafka_t *consumer_new(const char *bootstrap) {
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
    fx_fail("consumer configuration: %s", err);
  rd_kafka_conf_set_error_cb(conf, quiet_error);
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if(!rk)
    fx_fail("consumer: %s", err);
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

int partitions_of(rd_kafka_t *rk, const char *topic) {
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
    fx_fail("no metadata for topic %s", topic);
  return n;
}

/* Calls cb for every message of topic, from the beginning to its current
 * end (high watermark), by manual assignment. */
size_t read_topic(const char *bootstrap, const char *topic, msg_cb cb,
                  void *ctx) {
  rd_kafka_t *rk = consumer_new(bootstrap);
  int np = partitions_of(rk, topic), i, remaining = 0;
  int64_t high[64];
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
  double deadline = now_s() + 120;
  size_t count = 0;
  FX_CHECK(np <= 64);
  for(i = 0; i < np; i++) {
    int64_t lo = 0, hi = 0;
    int tries;
    for(tries = 0; tries < 10; tries++)
      if(!rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000))
        break;
    FX_CHECK(tries < 10);
    if(lo > 0)
      fx_fail("%s [%d] starts at offset %lld: kafka-mock dropped its oldest "
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
    FX_CHECK(rd_kafka_assign(rk, l) == 0);
  while(remaining > 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
    if(now_s() > deadline)
      fx_fail("timed out reading %s", topic);
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
int header(rd_kafka_message_t *m, const char *name, char *buf, size_t cap) {
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

void on_input(void *ctx, rd_kafka_message_t *m) {
  kmsgs *l = ctx;
  l->m = realloc(l->m, (l->n + 1) * sizeof(*l->m));
  FX_CHECK(l->m != NULL);
  l->m[l->n].partition = m->partition;
  l->m[l->n].offset = m->offset;
  l->m[l->n].payload = malloc(m->len + 1);
  FX_CHECK(l->m[l->n].payload != NULL);
  memcpy(l->m[l->n].payload, m->payload, m->len);
  l->m[l->n].payload[m->len] = '\0';
  l->m[l->n].len = m->len;
  l->n++;
}

void kmsgs_free(kmsgs *l) {
  size_t i;
  for(i = 0; i < l->n; i++)
    free(l->m[i].payload);
  free(l->m);
  l->m = NULL;
  l->n = 0;
}

const kmsg *input_at(const kmsgs *l, int32_t part, int64_t off) {
  size_t i;
  for(i = 0; i < l->n; i++)
    if(l->m[i].partition == part && l->m[i].offset == off)
      return &l->m[i];
  return NULL;
}

json_t *resolve(json_t *doc, const char *p) {
  char buf[300], *tok, *save = NULL;
  snprintf(buf, sizeof(buf), "%s", p);
  for(tok = strtok_r(buf, "/", &save); tok && doc;
      tok = strtok_r(NULL, "/", &save))
    doc = json_is_array(doc) ? json_array_get(doc, strtoul(tok, NULL, 10))
                             : json_object_get(doc, tok);
  return doc;
}

int run_replay(const scen *s, char **out) {
  return tu_runf(out, "'%s' replay -c '%s' 2>>'%s/replay.log'", WORKER_BIN,
                 s->conf, s->sdir);
}

/* Follows ddas.receipts while the workers run: which deliveries have a
 * processed receipt. */
void watch_start(watch *w, const char *bootstrap, const dataset *ds) {
  int np, i;
  rd_kafka_topic_partition_list_t *l;
  w->rk = consumer_new(bootstrap);
  w->ds = ds;
  w->seen = calloc(ds->n, 1);
  w->count = 0;
  FX_CHECK(w->seen != NULL);
  np = partitions_of(w->rk, "ddas.receipts");
  l = rd_kafka_topic_partition_list_new(np);
  for(i = 0; i < np; i++)
    rd_kafka_topic_partition_list_add(l, "ddas.receipts", i)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  FX_CHECK(rd_kafka_assign(w->rk, l) == 0);
  rd_kafka_topic_partition_list_destroy(l);
}

void watch_poll(watch *w, int ms) {
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
void watch_wait(watch *w, size_t target, int timeout_s, const char *what) {
  double until = now_s() + timeout_s;
  while(w->count < target) {
    if(now_s() > until)
      fx_fail("%s: only %zu of %zu deliveries have a receipt after %d s", what,
              w->count, target, timeout_s);
    watch_poll(w, 200);
  }
}

void watch_stop(watch *w) {
  rd_kafka_consumer_close(w->rk);
  rd_kafka_destroy(w->rk);
  free(w->seen);
  memset(w, 0, sizeof(*w));
}

/* ---- reconciliation ---------------------------------------------------- */

typedef struct {
  char (*keys)[48];
  size_t nkeys, cap;
  int *rec_key;            /* per record: index into keys, -1 unseen */
  int *cbs_key;            /* per record: the key CBS holds it under, -1 */
  unsigned char *parked;   /* per record: in a parked batch */
  unsigned char *rejected; /* per record: named by a rejection event */
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
  size_t nparked_keys, parked_cap;
  const stub *cbs;
  const kmsgs *in; /* input messages (FX_RECON_REJECTIONS) */
} rctx;

/* A failed check: counted, the first 10 printed. */
static void rfail(rctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void rfail(rctx *c, const char *fmt, ...) {
  va_list ap;
  if(c->r->failures++ >= 10)
    return;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static int key_of(rctx *c, const char *key) {
  size_t i;
  for(i = 0; i < c->nkeys; i++)
    if(!strcmp(c->keys[i], key))
      return (int)i;
  if(c->nkeys == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 1024;
    c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
    FX_CHECK(c->keys != NULL);
  }
  snprintf(c->keys[c->nkeys], sizeof(c->keys[0]), "%s", key);
  return (int)c->nkeys++;
}

static void add_str(char ***list, size_t *n, size_t *cap, const char *s) {
  if(*n == *cap) {
    *cap = *cap ? *cap * 2 : 1024;
    *list = realloc(*list, *cap * sizeof(char *));
    FX_CHECK(*list != NULL);
  }
  (*list)[(*n)++] = strdup(s);
}

static void free_strs(char **list, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    free(list[i]);
  free(list);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cbs_has(const rctx *c, const char *key) {
  const char *k = key;
  return c->ncbs &&
         bsearch(&k, c->cbs_keys, c->ncbs, sizeof(char *), cmp_str) != NULL;
}

/* The index of record id rid ("r-<delivery>-<n>") in the record tables, or
 * -1. */
static long record_index(const dataset *ds, const char *rid) {
  unsigned long di, ri;
  if(!rid || sscanf(rid, "r-%lu-%lu", &di, &ri) != 2 || di >= ds->n ||
     ri >= ds->d[di].nrec)
    return -1;
  return (long)(ds->d[di].base + ri);
}

/* The record ids in one batch body, attributed to key; at_cbs: the body is
 * one CBS holds, else a parked one. */
static size_t body_records(rctx *c, const char *key, const char *body,
                           size_t len, int at_cbs) {
  json_error_t je;
  json_t *j = json_loadb(body, len, 0, &je), *lev;
  size_t li, ti, n = 0;
  int k = key_of(c, key);
  if(!j)
    fx_fail("batch %s: body is not JSON: %s", key, je.text);
  json_array_foreach(json_object_get(j, "leveringen"), li, lev) {
    json_t *t;
    json_array_foreach(json_object_get(lev, "schuldhulptrajecten"), ti, t) {
      const char *rid = json_string_value(json_object_get(t, "omschrijving"));
      long idx = record_index(c->ds, rid);
      n++;
      if(idx < 0) {
        c->r->foreign++;
        continue;
      }
      if(at_cbs) {
        if(c->cbs_key[idx] < 0)
          c->cbs_key[idx] = k;
        else if(c->cbs_key[idx] != k)
          c->r->rec_dup_other_key++;
      } else {
        c->parked[idx] = 1;
      }
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
  FX_CHECK(j != NULL);
  if(!strcmp(type, "nl.ddas.delivery.processed")) {
    const char *id = json_string_value(json_object_get(j, "delivery_id"));
    const char *status = json_string_value(json_object_get(j, "status"));
    size_t acc = (size_t)json_integer_value(json_object_get(j, "accepted"));
    size_t rej = (size_t)json_integer_value(json_object_get(j, "rejected"));
    json_t *b;
    size_t k;
    FX_CHECK(id != NULL);
    i = index_of_id(c->ds, id);
    if(i < 0) {
      rfail(c, "receipt of an unknown delivery %s", id);
    } else {
      const gdel *d = &c->ds->d[i];
      if(c->got[i]++)
        c->r->processed_again++;
      else
        c->r->processed++;
      if(!status || strcmp(status, "processed") || acc != d->accepted ||
         rej != d->rejected)
        rfail(c,
              "delivery %s (%s): receipt %s accepted %zu rejected %zu, "
              "expected processed accepted %zu rejected %zu",
              id, kind_names[d->kind], status ? status : "?", acc, rej,
              d->accepted, d->rejected);
    }
    json_array_foreach(json_object_get(j, "batch_ids"), k, b) add_str(
        &c->batch_ids, &c->nbatch_ids, &c->batch_cap, json_string_value(b));
  } else if(!strcmp(type, "nl.ddas.batch.forwarded")) {
    c->r->forwarded_receipts++;
    if(json_is_true(json_object_get(j, "replayed")))
      c->r->replayed_receipts++;
    add_str(&c->batch_ids, &c->nbatch_ids, &c->batch_cap,
            json_string_value(json_object_get(j, "batch_id")));
  }
  json_decref(j);
}

static void on_parked(void *ctx, rd_kafka_message_t *m) {
  rctx *c = ctx;
  char key[64], type[64];
  FX_CHECK(header(m, "ce_type", type, sizeof(type)));
  FX_CHECK(!strcmp(type, "nl.ddas.batch.parked"));
  FX_CHECK(header(m, "ddas-batch-id", key, sizeof(key)));
  c->r->parked_events++;
  c->r->parked_records += body_records(c, key, m->payload, m->len, 0);
  add_str(&c->parked_keys, &c->nparked_keys, &c->parked_cap, key);
  if(cbs_has(c, key)) {
    /* CBS holds a batch with this key: it must be this very body */
    char path[600];
    size_t len;
    char *stored;
    snprintf(path, sizeof(path), "%s/%s.json", c->cbs->records, key);
    stored = tu_read(path, &len);
    if(len != m->len || memcmp(stored, m->payload, len))
      rfail(c,
            "parked batch %s differs from the body CBS holds under the same "
            "key",
            key);
    free(stored);
  }
}

/* Marks the records named under node (every "omschrijving" below it). */
static size_t mark_records(rctx *c, json_t *node) {
  size_t n = 0, i;
  const char *k;
  json_t *v;
  if(json_is_object(node)) {
    const char *rid = json_string_value(json_object_get(node, "omschrijving"));
    long idx = record_index(c->ds, rid);
    if(idx >= 0) {
      c->rejected[idx] = 1;
      n++;
    }
    json_object_foreach(node, k, v) n += mark_records(c, v);
  } else if(json_is_array(node)) {
    json_array_foreach(node, i, v) n += mark_records(c, v);
  }
  return n;
}

/* Marks the record ids that occur in raw bytes (an input message that is
 * not JSON: the event rejects all of it). */
static size_t mark_raw(rctx *c, const char *p, size_t len) {
  const char *end = p + len;
  size_t n = 0;
  while(p < end) {
    const char *h = memmem(p, (size_t)(end - p), "\"r-", 3);
    char rid[64];
    size_t k = 0;
    long idx;
    if(!h)
      break;
    h++;
    while(h + k < end && k + 1 < sizeof(rid) && h[k] != '"') {
      rid[k] = h[k];
      k++;
    }
    rid[k] = '\0';
    if((idx = record_index(c->ds, rid)) >= 0) {
      c->rejected[idx] = 1;
      n++;
    }
    p = h + k;
  }
  return n;
}

/* A rejection event: the records it rejects, found in its source message
 * (the delivery, or its chunk) by its pointer. */
static void on_rejection_event(void *ctx, rd_kafka_message_t *m) {
  rctx *c = ctx;
  json_t *j = json_loadb(m->payload, m->len, 0, NULL), *src, *doc;
  const char *ptr;
  const kmsg *in;
  size_t n = 0;
  c->r->rejection_events++;
  src = json_array_get(json_object_get(j, "sources"), 0);
  ptr = json_string_value(json_object_get(j, "pointer"));
  in = input_at(c->in,
                (int32_t)json_integer_value(json_object_get(src, "partition")),
                json_integer_value(json_object_get(src, "offset")));
  if(j && ptr && in) {
    doc = json_loadb(in->payload, in->len, 0, NULL);
    if(!doc)
      n = mark_raw(c, in->payload, in->len);
    else
      n = mark_records(c, *ptr ? resolve(doc, ptr) : doc);
    json_decref(doc);
  }
  if(!n)
    c->r->rejection_unresolved++;
  json_decref(j);
}

/* Reads CBS's record directory. */
static void read_cbs(rctx *c, const stub *cbs) {
  DIR *dp = opendir(cbs->records);
  struct dirent *e;
  size_t cap = 0;
  FX_CHECK(dp != NULL);
  while((e = readdir(dp))) {
    size_t n = strlen(e->d_name);
    char path[700], key[200];
    if(e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json"))
      continue;
    snprintf(path, sizeof(path), "%s/%s", cbs->records, e->d_name);
    if(n > 10 && !strcmp(e->d_name + n - 10, ".meta.json")) {
      json_t *meta = json_load_file(path, 0, NULL);
      size_t again;
      FX_CHECK(meta != NULL);
      again = (size_t)json_integer_value(json_object_get(meta, "receipts")) - 1;
      c->r->cbs_resends += again;
      c->r->rec_resent_same_key +=
          again * (size_t)json_integer_value(json_object_get(meta, "records"));
      json_decref(meta);
    } else {
      char *body;
      size_t len;
      snprintf(key, sizeof(key), "%.*s", (int)(n - 5), e->d_name);
      body = tu_read(path, &len);
      c->r->cbs_records += body_records(c, key, body, len, 1);
      c->r->cbs_batches++;
      free(body);
      add_str(&c->cbs_keys, &c->ncbs, &cap, key);
    }
  }
  closedir(dp);
  if(c->ncbs)
    qsort(c->cbs_keys, c->ncbs, sizeof(char *), cmp_str);
}

void fx_reconcile(const scen *s, const dataset *ds, recon *r, int flags) {
  rctx c;
  kmsgs in = {NULL, 0};
  size_t i, n = ds->nrec ? ds->nrec : 1;
  memset(r, 0, sizeof(*r));
  memset(&c, 0, sizeof(c));
  c.ds = ds;
  c.r = r;
  c.cbs = &s->cbs;
  c.in = &in;
  c.rec_key = malloc(n * sizeof(int));
  c.cbs_key = malloc(n * sizeof(int));
  c.parked = calloc(n, 1);
  c.rejected = calloc(n, 1);
  c.got = calloc(ds->n ? ds->n : 1, 1);
  FX_CHECK(c.rec_key && c.cbs_key && c.parked && c.rejected && c.got);
  for(i = 0; i < ds->nrec; i++)
    c.rec_key[i] = c.cbs_key[i] = -1;
  r->deliveries = ds->n;
  r->records = ds->nrec;
  r->valid = ds->nvalid;
  for(i = 0; i < ds->n; i++)
    r->chunks += ds->d[i].chunks;

  /* (1) receipts */
  read_topic(s->km.bootstrap, "ddas.receipts", on_receipt, &c);
  for(i = 0; i < ds->n; i++)
    if(!c.got[i])
      rfail(&c, "delivery %s (%s) has no processed receipt", ds->d[i].id,
            kind_names[ds->d[i].kind]);

  /* what CBS holds, then the parked batches */
  read_cbs(&c, &s->cbs);
  read_topic(s->km.bootstrap, "ddas.failed", on_parked, &c);
  if(c.nparked_keys) {
    qsort(c.parked_keys, c.nparked_keys, sizeof(char *), cmp_str);
    for(i = 0; i < c.nparked_keys; i++)
      if(!i || strcmp(c.parked_keys[i], c.parked_keys[i - 1])) {
        r->parked_batches++;
        if(cbs_has(&c, c.parked_keys[i]))
          r->parked_at_cbs++;
        else if(flags & FX_RECON_REQUIRE_REPLAYED)
          rfail(&c, "parked batch %s did not reach CBS", c.parked_keys[i]);
      }
  }

  /* the rejection events */
  if(flags & FX_RECON_REJECTIONS) {
    read_topic(s->km.bootstrap, "ddas.deliveries", on_input, &in);
    read_topic(s->km.bootstrap, "ddas.rejections", on_rejection_event, &c);
    kmsgs_free(&in);
  }

  /* every batch a receipt names reached CBS */
  for(i = 0; i < c.nbatch_ids; i++)
    if(!cbs_has(&c, c.batch_ids[i]))
      rfail(&c, "a receipt names batch %s, which CBS does not have",
            c.batch_ids[i]);

  /* (2)-(4) every valid record exactly under one key, nothing else */
  for(i = 0; i < ds->nrec; i++) {
    if(ds->valid[i] && c.rec_key[i] < 0)
      r->lost++;
    if(!ds->valid[i] && c.rec_key[i] >= 0)
      r->extra++;
    if(c.cbs_key[i] >= 0)
      r->rec_forwarded++;
    else if(c.parked[i])
      r->rec_parked++;
    if(c.rejected[i])
      r->rec_rejected++;
    if(c.cbs_key[i] < 0 && !c.parked[i] && !c.rejected[i])
      r->rec_lost++;
    if(c.rejected[i] && ds->valid[i])
      rfail(&c, "a rejection event names valid record %zu", i);
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
  r->key_conflicts = stub_stat(&s->cbs, "key_conflicts");
  r->bad_signature =
      stub_stat(&s->cbs, "bad_signature") + stub_stat(&s->cbs, "bad_digest");
  r->schema_invalid = stub_stat(&s->cbs, "schema_invalid");
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
  if(r->key_conflicts)
    printf("CBS stub: %ld Idempotency-Key conflicts (a key re-sent with "
           "another body)\n",
           r->key_conflicts);
  fflush(stdout);
  free_strs(c.batch_ids, c.nbatch_ids);
  free_strs(c.cbs_keys, c.ncbs);
  free_strs(c.parked_keys, c.nparked_keys);
  free(c.keys);
  free(c.rec_key);
  free(c.cbs_key);
  free(c.parked);
  free(c.rejected);
  free(c.got);
}

void print_dataset(const char *tag, const dataset *ds) {
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

void check_chunking(const dataset *ds) {
  size_t i;
  for(i = 0; i < ds->n; i++) {
    if(!ds->d[i].id[0])
      fx_fail("submit did not report delivery %zu", i);
    if(ds->d[i].kind == K_LARGE &&
       (ds->d[i].chunks < 3 || ds->d[i].chunks > 10))
      fx_fail("large delivery %zu: %zu chunks, expected 3..10", i,
              ds->d[i].chunks);
    if(ds->d[i].kind != K_LARGE && ds->d[i].chunks != 1)
      fx_fail("delivery %zu: %zu chunks, expected 1", i, ds->d[i].chunks);
  }
}