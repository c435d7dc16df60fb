/* The deployment files, checked without Docker or systemd: docker-compose.yml
 * (parsed with Debian's python3-yaml, which prints plain facts that the
 * assertions below read), its worker configuration config/compose/worker.conf
 * (through `ddas-worker check-config`, its PKI paths moved to a test PKI that
 * tests/pki/make-pki generates with the compose file's DDAS_PKI_SERVER_DNS),
 * the Dockerfile (stages, install, labels, user, health check, entry
 * point), the systemd unit deploy/ddas-worker@.service (hardening, template
 * paths, user; its credentials fed to check-config exactly as systemd would
 * hand them over) and the example configuration config/ddas-worker.conf. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define COMPOSE SOURCE_DIR "/docker-compose.yml"
#define DOCKERFILE SOURCE_DIR "/Dockerfile"
#define UNIT SOURCE_DIR "/deploy/ddas-worker@.service"
#define EXAMPLE_CONF SOURCE_DIR "/config/ddas-worker.conf"
#define PYTHON "/usr/bin/python3"

/* Prints one tab-separated fact per line about the compose file:
 *   service NAME image|- build|- TARGET|-     command NAME TEXT
 *   replicas NAME N                            depends NAME DEP CONDITION
 *   volume NAME bind|volume SOURCE TARGET      env NAME VAR VALUE
 *   topic NAME TOPIC PARTITIONS CONFIGS|-      named-volume NAME
 * (bind sources made absolute; topics: every kafka-topics.sh --create in a
 * service's entrypoint or command). */
static const char *const facts_py[] = {
    "import os, sys",
    "try:",
    "    import yaml",
    "except ImportError:",
    "    sys.exit('python3-yaml is missing: run scripts/install-deps')",
    "path = sys.argv[1]",
    "base = os.path.dirname(os.path.abspath(path))",
    "with open(path) as f:",
    "    doc = yaml.safe_load(f)",
    "svcs = doc.get('services') or {}",
    "def out(*a):",
    "    print('\\t'.join(str(x).replace('\\t', ' ').replace('\\n', ' ')",
    "                    for x in a))",
    "def text(c):",
    "    if c is None:",
    "        return ''",
    "    if isinstance(c, list):",
    "        return ' '.join(str(x) for x in c)",
    "    return str(c)",
    "for v in (doc.get('volumes') or {}):",
    "    out('named-volume', v)",
    "for name, s in svcs.items():",
    "    s = s or {}",
    "    b = s.get('build')",
    "    t = b.get('target', '-') if isinstance(b, dict) else '-'",
    "    out('service', name, 'image' if s.get('image') else '-',",
    "        'build' if b else '-', t)",
    "    out('command', name, text(s.get('command')))",
    "    out('replicas', name, (s.get('deploy') or {}).get('replicas', 1))",
    "    out('restart', name, s.get('restart', 'no'))",
    "    d = s.get('depends_on') or {}",
    "    if isinstance(d, list):",
    "        d = dict((x, None) for x in d)",
    "    for k, c in d.items():",
    "        out('depends', name, k,",
    "            (c or {}).get('condition', 'service_started'))",
    "    for v in s.get('volumes') or []:",
    "        if isinstance(v, dict):",
    "            src, dst = v.get('source', ''), v.get('target', '')",
    "        else:",
    "            p = str(v).split(':')",
    "            src, dst = (p[0], p[1]) if len(p) > 1 else ('', p[0])",
    "        kind = 'bind' if src.startswith(('.', '/', '~')) else 'volume'",
    "        if kind == 'bind':",
    "            src = os.path.normpath(os.path.join(base, src))",
    "        out('volume', name, kind, src, dst)",
    "    e = s.get('environment') or {}",
    "    if isinstance(e, list):",
    "        e = dict((str(x) + '=').split('=')[:2] for x in e)",
    "    for k, v in e.items():",
    "        out('env', name, k, '' if v is None else v)",
    "    script = text(s.get('entrypoint')) + ' ' + text(s.get('command'))",
    "    for part in script.split('kafka-topics.sh')[1:]:",
    "        w = part.split()",
    "        if '--create' not in w or '--topic' not in w:",
    "            continue",
    "        topic = w[w.index('--topic') + 1]",
    "        n = w[w.index('--partitions') + 1] if '--partitions' in w else "
    "'-'",
    "        cfg = ','.join(w[i + 1] for i, x in enumerate(w)",
    "                       if x == '--config' and i + 1 < len(w))",
    "        out('topic', name, topic, n, cfg or '-')",
    NULL};

#define MAXF 6
typedef struct {
  char *line; /* owns the fields */
  const char *f[MAXF];
  int n;
} fact;

static fact *facts;
static size_t nfacts;
static char tmp[] = "/tmp/ddas-deploy-XXXXXX";
static char *conf_text;      /* config/compose/worker.conf as in the repo */
static char *conf_print;     /* check-config --print of the rewritten copy */
static int conf_rc = -1;     /* its exit status */
static char *conf_err;       /* and its standard error */
static char pki_mount[512];  /* where the workers mount the pki volume */
static char conf_mount[512]; /* where the workers find worker.conf */

/* ---- helpers ------------------------------------------------------------ */

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) < 0, 0);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
}

static int exists(const char *path) { return access(path, R_OK) == 0; }

/* The n-th fact of a kind whose first fields equal a and b (NULL: any). */
static const fact *fact_nth(const char *kind, const char *a, const char *b,
                            size_t nth) {
  size_t i;
  for(i = 0; i < nfacts; i++) {
    const fact *x = &facts[i];
    if(strcmp(x->f[0], kind) || (a && (x->n < 2 || strcmp(x->f[1], a))) ||
       (b && (x->n < 3 || strcmp(x->f[2], b))))
      continue;
    if(nth-- == 0)
      return x;
  }
  return NULL;
}
static const fact *fact_find(const char *kind, const char *a, const char *b) {
  return fact_nth(kind, a, b, 0);
}

/* The start of the `key = value` line of key in a configuration text (file
 * or --print output; comment lines never match); NULL when absent. */
static char *conf_line(const char *text, const char *key) {
  const char *p = text;
  size_t kl = strlen(key);
  while(p && *p) {
    const char *q = p;
    while(*q == ' ' || *q == '\t')
      q++;
    if(strncmp(q, key, kl) == 0 && (q[kl] == ' ' || q[kl] == '='))
      return (char *)(uintptr_t)p;
    p = strchr(p, '\n');
    if(p)
      p++;
  }
  return NULL;
}

/* The value of key in a configuration text, malloc'ed; NULL when absent. */
static char *conf_get(const char *text, const char *key) {
  const char *p = conf_line(text, key), *v, *end;
  char *r;
  if(!p)
    return NULL;
  v = strchr(p, '=');
  assert_non_null(v);
  end = v + strcspn(v, "\n");
  v++;
  while(*v == ' ' || *v == '\t')
    v++;
  while(end > v && (end[-1] == ' ' || end[-1] == '\r'))
    end--;
  r = malloc((size_t)(end - v) + 1);
  assert_non_null(r);
  memcpy(r, v, (size_t)(end - v));
  r[end - v] = '\0';
  return r;
}

/* https://HOST:PORT/...: host and port (port "443" when absent). */
static void url_host_port(const char *url, char *host, size_t hl, char *port,
                          size_t pl) {
  const char *h = strstr(url, "://"), *end, *colon;
  assert_non_null(h);
  h += 3;
  end = h + strcspn(h, "/");
  colon = memchr(h, ':', (size_t)(end - h));
  snprintf(host, hl, "%.*s", (int)((colon ? colon : end) - h), h);
  if(colon)
    snprintf(port, pl, "%.*s", (int)(end - colon - 1), colon + 1);
  else
    snprintf(port, pl, "443");
}

/* Replaces every `from` in text by `to`; malloc'ed. */
static char *replace_all(const char *text, const char *from, const char *to) {
  size_t fl = strlen(from), tl = strlen(to), n = 0;
  const char *p;
  char *r, *w;
  for(p = text; (p = strstr(p, from)); p += fl)
    n++;
  r = malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1);
  assert_non_null(r);
  for(w = r, p = text;;) {
    const char *hit = strstr(p, from);
    size_t chunk = hit ? (size_t)(hit - p) : strlen(p);
    memcpy(w, p, chunk);
    w += chunk;
    if(!hit)
      break;
    memcpy(w, to, tl);
    w += tl;
    p = hit + fl;
  }
  *w = '\0';
  return r;
}

/* Only characters that are safe inside single quotes and in a DNS list. */
static int shell_safe(const char *s) {
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789.,-_/ ") == strlen(s);
}

/* The worker services: every service whose name starts with "worker". */
static size_t workers(const char **names, size_t cap) {
  size_t i, n = 0;
  for(i = 0; i < nfacts; i++)
    if(strcmp(facts[i].f[0], "service") == 0 &&
       strncmp(facts[i].f[1], "worker", 6) == 0 && n < cap)
      names[n++] = facts[i].f[1];
  return n;
}

/* ---- fixture: facts, test PKI, check-config ----------------------------- */

static void load_facts(void) {
  char path[600], *out, *p;
  FILE *f;
  size_t i;
  snprintf(path, sizeof(path), "%s/facts.py", tmp);
  f = fopen(path, "w");
  assert_non_null(f);
  for(i = 0; facts_py[i]; i++)
    fprintf(f, "%s\n", facts_py[i]);
  assert_int_equal(fclose(f), 0);
  if(tu_runf(&out, PYTHON " '%s' '%s'", path, COMPOSE) != 0) {
    fprintf(stderr, "%s did not parse (" PYTHON " with python3-yaml):\n%s\n",
            COMPOSE, out);
    free(out);
    fail();
  }
  for(p = out; *p;) {
    char *e = strchr(p, '\n'), *q;
    fact *x;
    if(e)
      *e = '\0';
    facts = realloc(facts, (nfacts + 1) * sizeof(*facts));
    assert_non_null(facts);
    x = &facts[nfacts++];
    memset(x, 0, sizeof(*x));
    x->line = strdup(p);
    assert_non_null(x->line);
    for(q = x->line; x->n < MAXF;) {
      char *t = strchr(q, '\t');
      x->f[x->n++] = q;
      if(!t)
        break;
      *t = '\0';
      q = t + 1;
    }
    for(i = (size_t)x->n; i < MAXF; i++)
      x->f[i] = "";
    if(!e)
      break;
    p = e + 1;
  }
  free(out);
}

/* The mount targets of the worker's configuration file and pki volume. */
static void find_mounts(void) {
  const char *w[16];
  const fact *cmd, *v;
  size_t i;
  char c[512];
  if(workers(w, 16) == 0 || !(cmd = fact_find("command", w[0], NULL)) ||
     sscanf(cmd->f[2], "run -c %511s", c) != 1) {
    fprintf(stderr, "%s: no service worker* whose command is run -c FILE\n",
            COMPOSE);
    fail();
  }
  snprintf(conf_mount, sizeof(conf_mount), "%s", c);
  for(i = 0; (v = fact_nth("volume", w[0], "volume", i)); i++)
    if(strcmp(v->f[3], "pki") == 0)
      snprintf(pki_mount, sizeof(pki_mount), "%s", v->f[4]);
  if(pki_mount[0] != '/') {
    fprintf(stderr, "%s: service %s does not mount the volume pki\n", COMPOSE,
            w[0]);
    fail();
  }
}

static int setup(void **state) {
  char path[700], pki[600], *rewritten, *p;
  const char *dns;
  const fact *envf;
  (void)state;
  assert_non_null(mkdtemp(tmp));
  load_facts();
  find_mounts();
  conf_text = tu_read(SOURCE_DIR "/config/compose/worker.conf", NULL);

  /* the PKI as the pki service makes it (same DDAS_PKI_SERVER_DNS) */
  envf = fact_find("env", NULL, "DDAS_PKI_SERVER_DNS");
  if(!envf) {
    fprintf(stderr, "%s: no service sets DDAS_PKI_SERVER_DNS for make-pki\n",
            COMPOSE);
    fail();
  }
  dns = envf->f[3];
  assert_true(shell_safe(dns));
  snprintf(pki, sizeof(pki), "%s/pki", tmp);
  assert_int_equal(mkdir(pki, 0700), 0);
  assert_int_equal(
      tu_runf(NULL,
              "DDAS_PKI_SERVER_DNS='%s' bash '%s/tests/pki/make-pki' "
              "'%s' >/dev/null 2>&1",
              dns, SOURCE_DIR, pki),
      0);

  /* the configuration with pki paths moved; files that make-pki does not
   * make must be made by the pki service's command (the client secret) */
  {
    char from[600], to[700];
    snprintf(from, sizeof(from), "%s/", pki_mount);
    snprintf(to, sizeof(to), "%s/", pki);
    rewritten = replace_all(conf_text, from, to);
    for(p = strstr(conf_text, from); p; p = strstr(p + 1, from)) {
      char rel[256], file[1000];
      const fact *pkicmd = fact_find("command", envf->f[1], NULL), *v;
      char written[600] = "\001";
      size_t k;
      const char *bol = p;
      while(bol > conf_text && bol[-1] != '\n')
        bol--;
      if(*bol == '#')
        continue; /* a comment */
      assert_int_equal(sscanf(p + strlen(from), "%255s", rel), 1);
      snprintf(file, sizeof(file), "%s%s", to, rel);
      if(exists(file))
        continue;
      /* ">TARGET/rel" in the command of the service with the variable,
       * TARGET being where that service mounts the pki volume */
      for(k = 0; (v = fact_nth("volume", envf->f[1], "volume", k)); k++)
        if(strcmp(v->f[3], "pki") == 0)
          snprintf(written, sizeof(written), ">%s/%s", v->f[4], rel);
      if(!pkicmd || !strstr(pkicmd->f[2], written)) {
        fprintf(stderr,
                "%s%s: neither made by make-pki nor written by the %s "
                "service\n",
                from, rel, envf->f[1]);
        fail();
      }
      write_file(file, "compose-test-secret\n", 0600);
    }
  }
  snprintf(path, sizeof(path), "%s/worker.conf", tmp);
  write_file(path, rewritten, 0644);
  free(rewritten);
  conf_rc = tu_runf(&conf_print, "'%s' check-config -c '%s' --print 2>'%s/err'",
                    WORKER_BIN, path, tmp);
  snprintf(path, sizeof(path), "%s/err", tmp);
  conf_err = tu_read(path, NULL);
  return 0;
}

static int teardown(void **state) {
  size_t i;
  (void)state;
  if(strncmp(tmp, "/tmp/ddas-deploy-", 17) == 0 && !strstr(tmp, "XXXXXX"))
    tu_runf(NULL, "rm -rf '%s'", tmp);
  for(i = 0; i < nfacts; i++)
    free(facts[i].line);
  free(facts);
  free(conf_text);
  free(conf_print);
  free(conf_err);
  return 0;
}

/* ---- docker-compose.yml ------------------------------------------------- */

static void compose_services(void **state) {
  size_t i, nsvc = 0;
  (void)state;
  for(i = 0; i < nfacts; i++) {
    const fact *x = &facts[i];
    if(strcmp(x->f[0], "service") == 0) {
      nsvc++;
      if(strcmp(x->f[2], "image") && strcmp(x->f[3], "build")) {
        fprintf(stderr, "service %s has neither image nor build\n", x->f[1]);
        fail();
      }
    }
    /* every named volume a service uses is declared */
    if(strcmp(x->f[0], "volume") == 0 && strcmp(x->f[2], "volume") == 0 &&
       !fact_find("named-volume", x->f[3], NULL)) {
      fprintf(stderr, "service %s: volume %s is not declared\n", x->f[1],
              x->f[3]);
      fail();
    }
    /* bind mounts come from this repository and exist */
    if(strcmp(x->f[0], "volume") == 0 && strcmp(x->f[2], "bind") == 0) {
      assert_int_equal(strncmp(x->f[3], SOURCE_DIR, strlen(SOURCE_DIR)), 0);
      if(!exists(x->f[3])) {
        fprintf(stderr, "service %s mounts %s, which does not exist\n", x->f[1],
                x->f[3]);
        fail();
      }
    }
    /* dependencies are services */
    if(strcmp(x->f[0], "depends") == 0)
      assert_non_null(fact_find("service", x->f[2], NULL));
  }
  assert_true(nsvc >= 5);
  assert_non_null(fact_find("service", "kafka", NULL));
}

static void compose_workers(void **state) {
  const char *w[16];
  size_t n = workers(w, 16), i, replicas = 0;
  const fact *topics = fact_find("topic", NULL, NULL),
             *pki = fact_find("env", NULL, "DDAS_PKI_SERVER_DNS");
  char *url = conf_get(conf_text, "cbs.url"), host[256], port[16];
  (void)state;
  assert_true(n > 0);
  assert_non_null(topics);
  assert_non_null(pki);
  assert_non_null(url);
  url_host_port(url, host, sizeof(host), port, sizeof(port));
  for(i = 0; i < n; i++) {
    const fact *cmd = fact_find("command", w[i], NULL), *v, *d;
    const fact *rep = fact_find("replicas", w[i], NULL);
    char c[512];
    size_t k;
    int found = 0;
    assert_non_null(cmd);
    assert_int_equal(strncmp(cmd->f[2], "run -c ", 7), 0);
    assert_int_equal(sscanf(cmd->f[2], "run -c %511s", c), 1);
    /* the configuration file is mounted from a file in this repository */
    for(k = 0; (v = fact_nth("volume", w[i], "bind", k)); k++)
      if(strcmp(v->f[4], c) == 0) {
        char want[600];
        snprintf(want, sizeof(want), "%s/config/compose/worker.conf",
                 SOURCE_DIR);
        assert_string_equal(v->f[3], want);
        assert_true(exists(v->f[3]));
        found = 1;
      }
    assert_true(found);
    /* started after the topics and the PKI exist and the stub runs */
    d = fact_find("depends", w[i], topics->f[1]);
    assert_non_null(d);
    assert_string_equal(d->f[3], "service_completed_successfully");
    d = fact_find("depends", w[i], pki->f[1]);
    assert_non_null(d);
    assert_string_equal(d->f[3], "service_completed_successfully");
    d = fact_find("depends", w[i], host);
    assert_non_null(d);
    assert_string_equal(d->f[3], "service_started");
    /* no restart loop on a configuration error (exit 2): a one-shot
     * check-config of the same file gates the start, and restarts are
     * bounded (Docker cannot exempt an exit status) */
    {
      const fact *r = fact_find("restart", w[i], NULL), *cc = NULL;
      int max = 0;
      for(k = 0; (d = fact_nth("depends", w[i], NULL, k)); k++) {
        const fact *dc = fact_find("command", d->f[2], NULL);
        char want[600];
        snprintf(want, sizeof(want), "check-config -c %s", c);
        if(dc && strcmp(dc->f[2], want) == 0 &&
           strcmp(d->f[3], "service_completed_successfully") == 0)
          cc = dc;
      }
      if(!cc) {
        fprintf(stderr,
                "%s: %s does not wait for a completed check-config "
                "-c %s\n",
                COMPOSE, w[i], c);
        fail();
      }
      assert_non_null(r);
      assert_true(strcmp(r->f[2], "no") == 0 ||
                  (sscanf(r->f[2], "on-failure:%d", &max) == 1 && max >= 1 &&
                   max <= 10));
    }
    assert_non_null(rep);
    replicas += (size_t)atoi(rep->f[2]);
  }
  assert_true(replicas >= 3);
  free(url);
}

static void compose_topics(void **state) {
  static const char *const keys[] = {"topic.deliveries", "topic.rejections",
                                     "topic.receipts", "topic.failed",
                                     "topic.accepted"};
  const char *w[16];
  size_t i, ntopics = 0, nw = workers(w, 16), replicas = 0;
  (void)state;
  assert_int_equal(conf_rc, 0);
  for(i = 0; i < nw; i++) {
    const fact *rep = fact_find("replicas", w[i], NULL);
    assert_non_null(rep);
    replicas += (size_t)atoi(rep->f[2]);
  }
  for(i = 0; i < nfacts; i++)
    ntopics += strcmp(facts[i].f[0], "topic") == 0;
  /* exactly the worker's topics (as check-config resolves them) */
  assert_int_equal(ntopics, 5);
  for(i = 0; i < 5; i++) {
    char *name = conf_get(conf_print, keys[i]);
    const fact *t = NULL;
    size_t k;
    assert_non_null(name);
    for(k = 0; k < nfacts; k++)
      if(strcmp(facts[k].f[0], "topic") == 0 &&
         strcmp(facts[k].f[2], name) == 0)
        t = &facts[k];
    if(!t) {
      fprintf(stderr, "%s = %s is not created by the compose file\n", keys[i],
              name);
      fail();
    }
    assert_true(atoi(t->f[3]) >= 1);
    if(i == 0) /* every worker can get a partition of the input */
      assert_true((size_t)atoi(t->f[3]) >= replicas);
    if(i == 3) /* parked batches are kept for replay */
      assert_non_null(strstr(t->f[4], "retention.ms=-1"));
    if(i == 4) { /* one message per key kept; whole batches fit */
      assert_non_null(strstr(t->f[4], "cleanup.policy=compact"));
      assert_non_null(strstr(t->f[4], "max.message.bytes=68157440"));
    }
    free(name);
  }
}

static void compose_peers(void **state) {
  char *url = conf_get(conf_text, "cbs.url"),
       *token = conf_get(conf_text, "cbs.token_url"),
       *kafka = conf_get(conf_text, "kafka.bootstrap.servers");
  char host[256], port[16], thost[256], tport[16], want[300], cmd[2048];
  const fact *stub, *pki, *adv;
  char *out;
  (void)state;
  assert_non_null(url);
  assert_non_null(token);
  assert_non_null(kafka);
  url_host_port(url, host, sizeof(host), port, sizeof(port));
  url_host_port(token, thost, sizeof(thost), tport, sizeof(tport));
  assert_string_equal(host, thost);
  assert_string_equal(port, tport);
  /* the stub is the service of that name, listening on that port */
  stub = fact_find("command", host, NULL);
  assert_non_null(stub);
  snprintf(want, sizeof(want), "--listen 0.0.0.0:%s ", port);
  assert_non_null(strstr(stub->f[2], want));
  /* its certificate names it: DDAS_PKI_SERVER_DNS, and the certificate that
   * make-pki made with it verifies for that host name */
  pki = fact_find("env", NULL, "DDAS_PKI_SERVER_DNS");
  assert_non_null(pki);
  assert_non_null(strstr(pki->f[3], host));
  snprintf(cmd, sizeof(cmd),
           "cd '%s/pki' && openssl verify -CAfile root.pem -untrusted "
           "intermediate.pem -verify_hostname '%s' server.pem 2>&1",
           tmp, host);
  assert_true(shell_safe(host));
  if(tu_run(cmd, &out) != 0) {
    fprintf(stderr, "server certificate for %s: %s\n", host, out);
    free(out);
    fail();
  }
  free(out);
  /* the names the other tests use stay first */
  assert_int_equal(tu_runf(&out,
                           "openssl x509 -in '%s/pki/server.pem' -noout -ext "
                           "subjectAltName",
                           tmp),
                   0);
  assert_non_null(strstr(out, "IP Address:127.0.0.1, DNS:localhost"));
  free(out);
  /* Kafka: the bootstrap server is the kafka service's advertised listener */
  {
    char h[256];
    const char *colon = strchr(kafka, ':');
    assert_non_null(colon);
    snprintf(h, sizeof(h), "%.*s", (int)(colon - kafka), kafka);
    adv = fact_find("env", h, "KAFKA_ADVERTISED_LISTENERS");
    assert_non_null(adv);
    snprintf(want, sizeof(want), "//%s", kafka);
    assert_non_null(strstr(adv->f[3], want));
  }
  free(url);
  free(token);
  free(kafka);
}

static void worker_conf_is_usable(void **state) {
  (void)state;
  if(conf_rc != 0)
    fprintf(stderr, "check-config: %s\n", conf_err);
  assert_int_equal(conf_rc, 0);
  assert_non_null(strstr(conf_print, "kafka.bootstrap.servers = "));
  assert_non_null(strstr(conf_print, "cbs.client_secret = (set, not shown)"));
  assert_non_null(strstr(conf_print, "admin.listen = 0.0.0.0:"));
  assert_non_null(strstr(conf_print, "log.format = json"));
  /* nothing secret in the file itself */
  assert_null(strstr(conf_text, "cbs.client_secret ="));
  assert_null(strstr(conf_text, "passphrase ="));
}

/* ---- Dockerfile --------------------------------------------------------- */

#define MAXI 256
typedef struct {
  int stage;
  char word[16];
  char *rest;
} instr;

static void dockerfile(void **state) {
  char *text = tu_read(DOCKERFILE, NULL), *p, *ign, *buf;
  size_t bl;
  instr ins[MAXI];
  char names[16][64], bases[16][128];
  int parent[16], nst = 0, chain[16], nch = 0, s, i;
  size_t n = 0, k;
  const char *user = NULL, *entry = NULL, *cmd = NULL;
  int installed = 0, health = 0, runtime_libs = 0, dev = 0, release = 0,
      install = 0, epoch = 0, version = 0;
  const char *labels = "";
  const fact *t;
  (void)state;
  /* logical lines: comment lines dropped, "\" continuations joined */
  buf = malloc(strlen(text) + 2);
  assert_non_null(buf);
  bl = 0;
  for(p = text; p && *p;) {
    char *e = strchr(p, '\n'), *q = p, *end = e ? e : p + strlen(p);
    int cont;
    p = e ? e + 1 : NULL;
    while(q < end && (*q == ' ' || *q == '\t'))
      q++;
    if(*q == '#')
      continue; /* a comment line, also inside a continuation */
    while(end > q && (end[-1] == ' ' || end[-1] == '\r'))
      end--;
    cont = end > q && end[-1] == '\\';
    memcpy(buf + bl, q, (size_t)(end - q) - (size_t)cont);
    bl += (size_t)(end - q) - (size_t)cont;
    buf[bl++] = ' ';
    if(cont && p)
      continue;
    buf[bl] = '\0';
    bl = 0;
    if(buf[0] != ' ' && buf[0] && n < MAXI) {
      instr *x = &ins[n];
      sscanf(buf, "%15s", x->word);
      x->rest = strdup(buf + strlen(x->word));
      assert_non_null(x->rest);
      if(strcmp(x->word, "FROM") == 0) {
        char base[128] = "", as[8] = "", name[64] = "";
        assert_true(nst < 16);
        sscanf(x->rest, "%127s %7s %63s", base, as, name);
        snprintf(bases[nst], sizeof(bases[nst]), "%s", base);
        snprintf(names[nst], sizeof(names[nst]), "%s", name);
        parent[nst] = -1;
        for(s = 0; s < nst; s++)
          if(strcmp(names[s], base) == 0)
            parent[nst] = s;
        nst++;
      }
      x->stage = nst - 1;
      n++;
    }
  }
  free(buf);
  assert_true(nst >= 2);
  assert_string_equal(bases[0], "debian:12");
  /* the image is the last stage and the stages it is built on */
  for(s = nst - 1; s >= 0; s = parent[s])
    chain[nch++] = s;
  assert_string_equal(bases[chain[nch - 1]], "debian:12-slim");
  for(i = nch - 1; i >= 0; i--)
    for(k = 0; k < n; k++) {
      const instr *x = &ins[k];
      if(x->stage != chain[i])
        continue;
      if(strcmp(x->word, "USER") == 0)
        user = x->rest;
      else if(strcmp(x->word, "ENTRYPOINT") == 0)
        entry = x->rest;
      else if(strcmp(x->word, "CMD") == 0)
        cmd = x->rest;
      else if(strcmp(x->word, "COPY") == 0 &&
              strstr(x->rest, "--from=build /stage/ /"))
        installed = 1; /* the tree cmake --install wrote */
      else if(strcmp(x->word, "LABEL") == 0)
        labels = x->rest;
      else if(strcmp(x->word, "HEALTHCHECK") == 0)
        health = strstr(x->rest, "[\"ddas-worker\", \"healthcheck\"") != NULL;
      else if(strcmp(x->word, "RUN") == 0) {
        runtime_libs |=
            strstr(x->rest, "libjansson4") && strstr(x->rest, "libssl3") &&
            strstr(x->rest, "libcurl4") && strstr(x->rest, "librdkafka1") &&
            strstr(x->rest, "libmicrohttpd12");
        dev |= strstr(x->rest, "-dev") != NULL;
      }
    }
  for(k = 0; k < n; k++) {
    int build_run = ins[k].stage == 0 && strcmp(ins[k].word, "RUN") == 0;
    release |= build_run && strstr(ins[k].rest, "-DCMAKE_BUILD_TYPE=Release") &&
               strstr(ins[k].rest, "--target ddas-worker cbs-stub");
    /* the project's install rules, to the package's places */
    install |= build_run &&
               strstr(ins[k].rest, "-DCMAKE_INSTALL_PREFIX=/usr") &&
               strstr(ins[k].rest, "DESTDIR=/stage cmake --install");
    /* reproducible: every installed file gets the commit's time */
    epoch |= build_run && strstr(ins[k].rest, "@${SOURCE_DATE_EPOCH}");
    if(ins[k].stage == -1 && strcmp(ins[k].word, "ARG") == 0 &&
       strstr(ins[k].rest, "DDAS_VERSION=")) {
      /* the image's version label is the project's version */
      char *cm = tu_read(SOURCE_DIR "/CMakeLists.txt", NULL), want[64];
      char v[32] = "";
      char *at = strstr(cm, "project(ddas-worker VERSION ");
      assert_non_null(at);
      sscanf(at, "project(ddas-worker VERSION %31s", v);
      snprintf(want, sizeof(want), "DDAS_VERSION=%s", v);
      version = strstr(ins[k].rest, want) != NULL;
      free(cm);
    }
  }
  assert_true(release);
  assert_true(install);
  assert_true(epoch);
  assert_true(version);
  /* a non-root user (uid 10001), schemas, binary, entry point */
  assert_non_null(user);
  while(*user == ' ')
    user++;
  assert_int_equal(strncmp(user, "10001", 5), 0);
  assert_true(installed);
  assert_true(health);
  assert_non_null(strstr(labels, "org.opencontainers.image.source="));
  assert_non_null(strstr(labels, "org.opencontainers.image.version="));
  assert_non_null(strstr(labels, "org.opencontainers.image.revision="));
  assert_non_null(
      strstr(labels, "org.opencontainers.image.licenses=\"EUPL-1.2\""));
  assert_true(runtime_libs);
  assert_false(dev); /* no -dev package in the image */
  assert_non_null(entry);
  assert_non_null(strstr(entry, "[\"ddas-worker\"]"));
  assert_non_null(cmd);
  assert_non_null(strstr(cmd, "[\"run\", \"-c\", \""));
  {
    char want[600];
    snprintf(want, sizeof(want), "\"%s\"]", conf_mount);
    assert_non_null(strstr(cmd, want));
  }
  /* every build target of the compose file is a stage */
  for(k = 0; (t = fact_nth("service", NULL, NULL, k)); k++) {
    int ok = strcmp(t->f[4], "-") == 0;
    for(s = 0; s < nst && !ok; s++)
      ok = strcmp(names[s], t->f[4]) == 0;
    if(!ok) {
      fprintf(stderr, "service %s: build target %s is not a stage\n", t->f[1],
              t->f[4]);
      fail();
    }
  }
  for(k = 0; k < n; k++)
    free(ins[k].rest);
  free(text);
  /* .dockerignore keeps .git, build directories and bench data out */
  ign = tu_read(SOURCE_DIR "/.dockerignore", NULL);
  assert_non_null(strstr(ign, "\n.git\n"));
  assert_non_null(strstr(ign, "\nbuild\n"));
  assert_non_null(strstr(ign, "\nbuild-*\n"));
  assert_non_null(strstr(ign, "\nbench/data\n"));
  free(ign);
}

/* ---- deploy/ddas-worker@.service ---------------------------------------- */

/* The value of the nth `Directive=` line (comment lines never match); NULL
 * when there is none. Points into text. */
static char *unit_get(char *text, const char *directive, size_t nth) {
  char *p = text, *hit = NULL;
  size_t dl = strlen(directive);
  while(p && *p) {
    if(strncmp(p, directive, dl) == 0 && p[dl] == '=') {
      if(nth-- == 0) {
        hit = p + dl + 1;
        break;
      }
    }
    p = strchr(p, '\n');
    if(p)
      p++;
  }
  return hit;
}

static int unit_is(char *text, const char *directive, const char *value) {
  char *v = unit_get(text, directive, 0);
  size_t vl = strlen(value);
  return v && strncmp(v, value, vl) == 0 && (v[vl] == '\n' || !v[vl]);
}

/* The key of a configuration text whose DDAS_* variable is name (the
 * mapping of worker/config.c: capitals, dots and dashes as '_'). */
static int key_of_env(const char *text, const char *name, char *key,
                      size_t cap) {
  const char *p = text;
  for(; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    char k[128], e[160];
    size_t c;
    if(*p == '#' || *p == '\n' || sscanf(p, "%127[^ =\n]", k) != 1)
      continue;
    snprintf(e, sizeof(e), "DDAS_");
    for(c = 0; k[c] && 6 + c < sizeof(e); c++)
      e[5 + c] =
          k[c] == '.' || k[c] == '-' ? '_' : (char)toupper((unsigned char)k[c]);
    e[5 + c] = '\0';
    if(strcmp(e, name) == 0) {
      snprintf(key, cap, "%s", k);
      return 1;
    }
  }
  return 0;
}

static void systemd_unit(void **state) {
  static const char *const yes[] = {
      "NoNewPrivileges",        "PrivateTmp",           "PrivateDevices",
      "ProtectKernelTunables",  "ProtectKernelModules", "ProtectKernelLogs",
      "ProtectControlGroups",   "RestrictNamespaces",   "LockPersonality",
      "MemoryDenyWriteExecute", "ProtectHome",          "RemoveIPC"};
  char *text = tu_read(UNIT, NULL), *v, *conf, path[700], env[4096] = "";
  size_t i, used = 0;
  long stop;
  char unit_conf[512];
  (void)state;
  for(i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    if(!unit_is(text, yes[i], "yes")) {
      fprintf(stderr, "%s=yes is missing\n", yes[i]);
      fail();
    }
  assert_true(unit_is(text, "ProtectSystem", "strict"));
  assert_true(unit_is(text, "CapabilityBoundingSet", ""));
  assert_true(unit_is(text, "SystemCallFilter", "@system-service"));
  assert_true(unit_is(text, "SystemCallArchitectures", "native"));
  assert_true(unit_is(text, "Restart", "on-failure"));
  assert_true(unit_is(text, "RestartPreventExitStatus", "2"));
  /* the package's system user (deploy/debian/postinst creates it) */
  assert_true(unit_is(text, "User", "ddas-worker"));
  {
    char *post = tu_read(SOURCE_DIR "/deploy/debian/postinst", NULL);
    assert_non_null(strstr(post, "adduser --system --group"));
    assert_non_null(strstr(post, "ddas-worker"));
    free(post);
  }
  /* a template: one configuration (so one admin port) per instance */
  assert_true(unit_is(text, "EnvironmentFile", "-/etc/ddas-worker/%i.env"));
  assert_true(unit_is(text, "KillSignal", "SIGTERM"));
  assert_true(
      unit_is(text, "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"));
  v = unit_get(text, "TimeoutStopSec", 0);
  assert_non_null(v);
  stop = strtol(v, &v, 10);
  if(strncmp(v, "min", 3) == 0)
    stop *= 60;
  assert_true(stop >= 30); /* time to drain */
  v = unit_get(text, "ExecStart", 0);
  assert_non_null(v);
  assert_int_equal(sscanf(v, "/usr/bin/ddas-worker run -c %511s", unit_conf),
                   1);
  assert_string_equal(unit_conf, "/etc/ddas-worker/%i.conf");

  /* Credentials: every Environment=DDAS_X=%d/ID has a LoadCredential=ID:
   * and names a key that the compose configuration sets; check-config must
   * accept that configuration with those keys removed and the values given
   * the way systemd hands them over. */
  snprintf(path, sizeof(path), "%s/credentials", tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof(path), "%s/worker.conf", tmp);
  conf = tu_read(path, NULL);
  for(i = 0; (v = unit_get(text, "Environment", i)); i++) {
    char name[128], id[128], want[200], key[128], *val;
    size_t j;
    int w;
    int found = 0;
    if(sscanf(v, "%127[^=]=%%d/%127[^\n]", name, id) != 2)
      continue;
    snprintf(want, sizeof(want), "%s:", id);
    for(j = 0; !found && (val = unit_get(text, "LoadCredential", j)); j++)
      found = strncmp(val, want, strlen(want)) == 0;
    if(!found) {
      fprintf(stderr, "%s uses %%d/%s without LoadCredential=%s:...\n", name,
              id, id);
      fail();
    }
    /* DDAS_CBS_CLIENT_SECRET_FILE -> the key whose variable that is */
    assert_int_equal(strncmp(name, "DDAS_", 5), 0);
    w = key_of_env(conf, name, key, sizeof(key));
    if(!w) {
      fprintf(stderr, "%s matches no key of config/compose/worker.conf\n",
              name);
      fail();
    }
    /* the credential: the file the compose configuration names */
    val = conf_get(conf, key);
    assert_non_null(val);
    assert_int_equal(tu_runf(NULL, "cp '%s' '%s/credentials/%s'", val, tmp, id),
                     0);
    free(val);
    /* the key line goes, the variable comes */
    {
      char *start = conf_line(conf, key), *end;
      assert_non_null(start);
      end = strchr(start, '\n');
      assert_non_null(end);
      memmove(start, end + 1, strlen(end + 1) + 1);
    }
    snprintf(env + strlen(env), sizeof(env) - strlen(env),
             " '%s=%s/credentials/%s'", name, tmp, id);
    used++;
  }
  assert_true(used >= 1);
  assert_non_null(strstr(env, "_FILE=")); /* a secret through *_file */
  snprintf(path, sizeof(path), "%s/worker-systemd.conf", tmp);
  write_file(path, conf, 0644);
  {
    char *out;
    int rc = tu_runf(&out, "env%s '%s' check-config -c '%s' 2>&1", env,
                     WORKER_BIN, path);
    if(rc != 0)
      fprintf(stderr, "check-config with the unit's credentials: %s\n", out);
    assert_int_equal(rc, 0);
    free(out);
  }
  free(conf);
  free(text);
}

/* ---- config/ddas-worker.conf: the example the package installs --------------
 */

/* Whether the key line starting after text[at] ("\n" at at) belongs to a
 * block of key lines (set or commented out) that a prose comment ("# ...")
 * opens, with no blank line between. */
static int described(const char *text, const char *at) {
  while(at > text) {
    const char *bol = at - 1, *eq;
    while(bol > text && bol[-1] != '\n')
      bol--;
    eq = strstr(bol, " =");
    if(*bol == '\n')
      return 0;                                 /* a blank line */
    if(!eq || eq > at || strchr(bol, ' ') < eq) /* not "[#]key = ..." */
      return bol[0] == '#' && bol[1] == ' ';
    at = bol - 1;
  }
  return 0;
}

/* The line "\n[#]key =" (want) followed by a value or nothing, or NULL. */
static const char *key_line(const char *text, const char *want) {
  const char *at;
  size_t wl = strlen(want);
  for(at = strstr(text, want); at; at = strstr(at + 1, want))
    if(at[wl] == ' ' || at[wl] == '\n')
      return at;
  return NULL;
}

/* Every key of the configuration table is in the example, with a comment
 * above it; secrets only as *_file; and check-config accepts it with the
 * unit's credentials handed over as systemd would (DDAS_* variables), the
 * certificates taken from a test PKI. */
static void example_config(void **state) {
  char *ex = tu_read(EXAMPLE_CONF, NULL), *ref, *p, *out;
  size_t keys = 0, missing = 0;
  int rc;
  (void)state;
  assert_int_equal(tu_runf(&ref, "'%s' check-config --reference", WORKER_BIN),
                   0);
  for(p = strstr(ref, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
    char key[128], secret = 0, want[160];
    const char *at;
    if(sscanf(p, "\n| `%127[^`]` | %c", key, &secret) != 2 ||
       strpbrk(key, "*") || strstr(key, "NAME") || strstr(key, ".ID") ||
       strcmp(key, "KEY_file") == 0)
      continue;
    keys++;
    secret = strncmp(strchr(p + 4, '|') + 2, "secret", 6) == 0;
    /* "key = " or "#key = " at the start of a line */
    snprintf(want, sizeof(want), "\n%s%s%s =", secret ? "#" : "", key,
             secret ? "_file" : "");
    at = key_line(ex, want);
    if(!at && !secret) {
      snprintf(want, sizeof(want), "\n#%s =", key);
      at = key_line(ex, want);
    }
    if(!at || !described(ex, at)) {
      fprintf(stderr, "%s: %s has no line with a comment above it (%s)\n",
              EXAMPLE_CONF, key, want + 1);
      missing++;
    }
    if(secret) {
      snprintf(want, sizeof(want), "\n%s = ", key);
      assert_null(strstr(ex, want)); /* never a secret in the file */
    }
  }
  assert_true(keys >= 40);
  assert_int_equal(missing, 0);
  free(ref);
  rc = tu_runf(&out,
               "cd / && env DDAS_CBS_CA='%s/pki/root.pem' "
               "DDAS_CBS_CERT='%s/pki/transport-chain.pem' "
               "DDAS_CBS_KEY='%s/pki/transport.key' "
               "DDAS_SIGN_CERT='%s/pki/signing-chain.pem' "
               "DDAS_SIGN_KEY='%s/pki/signing.key' "
               "DDAS_CBS_CLIENT_SECRET_FILE='%s/pki/cbs-client-secret' "
               "'%s' check-config -c '%s' 2>&1",
               tmp, tmp, tmp, tmp, tmp, tmp, WORKER_BIN, EXAMPLE_CONF);
  if(rc != 0)
    fprintf(stderr, "check-config of the example: %s\n", out);
  assert_int_equal(rc, 0);
  free(out);
  free(ex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(compose_services),
      cmocka_unit_test(compose_workers),
      cmocka_unit_test(compose_topics),
      cmocka_unit_test(compose_peers),
      cmocka_unit_test(worker_conf_is_usable),
      cmocka_unit_test(dockerfile),
      cmocka_unit_test(systemd_unit),
      cmocka_unit_test(example_config),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
