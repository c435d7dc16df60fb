/* deploy/kubernetes/ (issue 16), checked without a cluster: the manifests
 * are parsed with Debian's python3-yaml (turned into JSON for jansson), and
 *  - every key of the ConfigMap's worker.conf is in the worker's
 *    configuration table (`check-config --reference`), and the whole file
 *    passes `check-config` with its certificate and secret paths moved to a
 *    test PKI (tests/pki/make-pki) and test credentials;
 *  - every DDAS_* variable of the Deployment names a table key;
 *  - every path the configuration reads lies in a volume the Deployment
 *    mounts, and is an item of that volume's Secret or ConfigMap;
 *  - the container port "admin" is the port of admin.listen, the probes
 *    ask /healthz and /readyz on it, Prometheus is told that port;
 *  - the worker is started with the mounted configuration file;
 *  - the ScaledObject scales that Deployment on the Kafka lag of the
 *    configured consumer group, bootstrap servers and input topic, from at
 *    least 1 to at most the input topic's partition count (12, as in
 *    docker-compose.yml), and the Deployment leaves replicas to it. */
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
#include <jansson.h>

#include "testutil.h"

#define KDIR SOURCE_DIR "/deploy/kubernetes"
#define PASS "k8s-test-pass-Qx9"

static json_t *docs;    /* every manifest document, in file order */
static char *reference; /* check-config --reference */
static char tmp[] = "/tmp/ddas-k8s-XXXXXX";

static json_t *doc_of(const char *kind) {
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    const char *k = json_string_value(json_object_get(d, "kind"));
    if(k && !strcmp(k, kind))
      return d;
  }
  fail_msg("no %s in deploy/kubernetes", kind);
  return NULL;
}

/* o at a path of member names ("spec", "template", ...), NULL-terminated. */
static json_t *at(json_t *o, ...) {
  va_list ap;
  const char *k;
  va_start(ap, o);
  while(o && (k = va_arg(ap, const char *)))
    o = json_object_get(o, k);
  va_end(ap);
  return o;
}

static const char *str_at(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static json_t *container(void) {
  json_t *c = json_array_get(
      at(doc_of("Deployment"), "spec", "template", "spec", "containers", NULL),
      0);
  assert_non_null(c);
  return c;
}

static const char *conf_text(void) {
  const char *t =
      json_string_value(at(doc_of("ConfigMap"), "data", "worker.conf", NULL));
  assert_non_null(t);
  return t;
}

/* The value of `key` in worker.conf, or NULL. The buffer is static: the
 * next call overwrites it. */
static const char *conf_value(const char *key) {
  static char val[512];
  const char *p = conf_text();
  size_t kl = strlen(key);
  while(p && *p) {
    const char *eol = strchr(p, '\n'), *q = p;
    size_t n;
    while(*q == ' ')
      q++;
    if(!strncmp(q, key, kl) && (q[kl] == ' ' || q[kl] == '=')) {
      q = strchr(q, '=');
      assert_non_null(q);
      q++;
      while(*q == ' ')
        q++;
      n = eol ? (size_t)(eol - q) : strlen(q);
      snprintf(val, sizeof(val), "%.*s", (int)n, q);
      return val;
    }
    p = eol ? eol + 1 : NULL;
  }
  return NULL;
}

static int setup(void **state) {
  char *out = NULL;
  (void)state;
  if(tu_runf(&out,
             "/usr/bin/python3 -c 'import json, sys, yaml; "
             "print(json.dumps([d for f in sys.argv[1:] "
             "for d in yaml.safe_load_all(open(f)) if d]))' "
             "'%s/configmap.yaml' '%s/deployment.yaml' "
             "'%s/scaledobject.yaml' '%s/kustomization.yaml'",
             KDIR, KDIR, KDIR, KDIR) != 0) {
    fprintf(stderr,
            "the manifests do not parse as YAML (python3-yaml: "
            "scripts/install-deps): %s\n",
            out ? out : "");
    free(out);
    return -1;
  }
  docs = json_loads(out, 0, NULL);
  free(out);
  if(!json_is_array(docs) || !mkdtemp(tmp))
    return -1;
  return tu_runf(&reference, "'%s' check-config --reference", WORKER_BIN) ? -1
                                                                          : 0;
}

static int teardown(void **state) {
  (void)state;
  json_decref(docs);
  free(reference);
  if(!strstr(tmp, "XXXXXX"))
    tu_runf(NULL, "rm -rf '%s'", tmp);
  return 0;
}

/* `key` is a row of the reference table: "| `key` |", a secret's
 * KEY_file, or a kafka.* pass-through. */
static int known_key(const char *key) {
  char cell[260], base[260];
  size_t n = strlen(key);
  snprintf(cell, sizeof(cell), "| `%s` |", key);
  if(strstr(reference, cell) || !strncmp(key, "kafka.", 6))
    return 1;
  if(n > 5 && !strcmp(key + n - 5, "_file")) {
    snprintf(base, sizeof(base), "| `%.*s` | secret |", (int)(n - 5), key);
    return strstr(reference, base) != NULL;
  }
  return 0;
}

static void config_keys_exist(void **state) {
  const char *p = conf_text();
  size_t nkeys = 0;
  (void)state;
  while(*p) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    char line[512], key[200];
    snprintf(line, sizeof(line), "%.*s", (int)n, p);
    if(sscanf(line, " %199[^ =#] =", key) == 1 && strchr(line, '=') &&
       line[strspn(line, " ")] != '#') {
      if(!known_key(key))
        fail_msg("worker.conf in configmap.yaml sets '%s', which is not in "
                 "the configuration table",
                 key);
      nkeys++;
    }
    p += n + (eol ? 1 : 0);
  }
  assert_true(nkeys >= 15);
}

/* Whether DDAS_* variable `name` is the environment name of a table key
 * (the key upper-cased, dots and dashes as underscores, as config.c maps
 * them), of a secret's KEY_FILE, or a DDAS_KAFKA_ pass-through. */
static int env_of_key(const char *name) {
  const char *p = reference;
  if(!strncmp(name, "DDAS_KAFKA_", 11))
    return 1;
  while((p = strstr(p, "| `"))) {
    char env[200], *e = env + 5;
    const char *k = p + 3, *end = strstr(k, "` |");
    size_t n;
    p = k;
    if(!end)
      break;
    memcpy(env, "DDAS_", 5);
    for(n = 0; k + n < end && n + 12 < sizeof(env); n++)
      *e++ = k[n] == '.' || k[n] == '-' ? '_' : (char)(k[n] & ~0x20);
    *e = '\0';
    if(!strcmp(env, name))
      return 1;
    strcat(env, "_FILE");
    if(!strcmp(env, name) && strstr(end, "` | secret |") == end)
      return 1;
  }
  return 0;
}

static void env_names_keys(void **state) {
  size_t i;
  json_t *e;
  (void)state;
  json_array_foreach(json_object_get(container(), "env"), i, e) {
    const char *name = str_at(e, "name");
    assert_non_null(name);
    if(!env_of_key(name))
      fail_msg("the Deployment sets %s, which names no configuration key",
               name);
  }
  assert_false(env_of_key("DDAS_LOG_LEVELS"));
  assert_true(env_of_key("DDAS_RUN_REVOKE_TIMEOUT_MS"));
}

/* The mount of path: its volume's name, or NULL. */
static const char *mount_of(const char *path, const char **rel) {
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(container(), "volumeMounts"), i, m) {
    const char *mp = str_at(m, "mountPath");
    size_t n = strlen(mp);
    if(!strncmp(path, mp, n) && path[n] == '/') {
      *rel = path + n + 1;
      return str_at(m, "name");
    }
  }
  return NULL;
}

/* Whether volume `vol` provides the file `rel` (an item of its Secret). */
static int volume_has(const char *vol, const char *rel) {
  size_t i, k;
  json_t *v, *it;
  json_array_foreach(
      at(doc_of("Deployment"), "spec", "template", "spec", "volumes", NULL), i,
      v) {
    if(strcmp(str_at(v, "name"), vol))
      continue;
    json_array_foreach(at(v, "secret", "items", NULL), k,
                       it) if(!strcmp(str_at(it, "path"), rel)) return 1;
  }
  return 0;
}

static const char *const path_keys[] = {"cbs.ca",
                                        "cbs.cert",
                                        "cbs.key",
                                        "sign.cert",
                                        "sign.key",
                                        "cbs.client_secret_file",
                                        "sign.key_passphrase_file",
                                        NULL};

static void paths_are_mounted(void **state) {
  size_t i;
  json_t *args = json_object_get(container(), "args"), *m;
  const char *conf = NULL, *rel;
  (void)state;
  for(i = 0; path_keys[i]; i++) {
    const char *v = conf_value(path_keys[i]), *vol;
    assert_non_null(v);
    vol = mount_of(v, &rel);
    if(!vol || !volume_has(vol, rel))
      fail_msg("%s = %s: no Secret item of the Deployment is mounted there",
               path_keys[i], v);
  }
  /* the configuration file: -c PATH is the ConfigMap's worker.conf */
  for(i = 0; i + 1 < json_array_size(args); i++)
    if(!strcmp(json_string_value(json_array_get(args, i)), "-c"))
      conf = json_string_value(json_array_get(args, i + 1));
  assert_string_equal(json_string_value(json_array_get(args, 0)), "run");
  assert_non_null(conf);
  json_array_foreach(json_object_get(container(), "volumeMounts"), i,
                     m) if(!strcmp(str_at(m, "mountPath"), conf)) {
    assert_string_equal(str_at(m, "subPath"), "worker.conf");
    return;
  }
  fail_msg("the Deployment starts the worker with -c %s, which is not "
           "mounted",
           conf);
}

static void ports_and_probes(void **state) {
  json_t *c = container(),
         *port = json_array_get(json_object_get(c, "ports"), 0);
  const char *listen = conf_value("admin.listen"), *colon;
  json_t *ann = at(doc_of("Deployment"), "spec", "template", "metadata",
                   "annotations", NULL);
  static const char *const probes[2][2] = {{"livenessProbe", "/healthz"},
                                           {"readinessProbe", "/readyz"}};
  size_t i;
  long p;
  (void)state;
  assert_non_null(listen);
  colon = strrchr(listen, ':');
  assert_non_null(colon);
  p = strtol(colon + 1, NULL, 10);
  assert_string_equal(str_at(port, "name"), "admin");
  assert_int_equal(json_integer_value(json_object_get(port, "containerPort")),
                   p);
  for(i = 0; i < 2; i++) {
    json_t *get = at(c, probes[i][0], "httpGet", NULL);
    assert_string_equal(str_at(get, "path"), probes[i][1]);
    assert_string_equal(str_at(get, "port"), "admin");
  }
  assert_int_equal(strtol(str_at(ann, "prometheus.io/port"), NULL, 10), p);
  assert_string_equal(str_at(ann, "prometheus.io/path"), "/metrics");
}

static void scaled_on_lag(void **state) {
  json_t *so = doc_of("ScaledObject"), *dep = doc_of("Deployment");
  json_t *trig = json_array_get(at(so, "spec", "triggers", NULL), 0);
  json_t *md = json_object_get(trig, "metadata");
  char topic[200], *out = NULL;
  long max = json_integer_value(at(so, "spec", "maxReplicaCount", NULL));
  long parts;
  (void)state;
  snprintf(topic, sizeof(topic), "%s",
           conf_value("topic.deliveries") ? conf_value("topic.deliveries")
                                          : "ddas.deliveries");
  assert_string_equal(str_at(trig, "type"), "kafka");
  assert_string_equal(
      json_string_value(at(so, "spec", "scaleTargetRef", "name", NULL)),
      json_string_value(at(dep, "metadata", "name", NULL)));
  assert_string_equal(str_at(md, "consumerGroup"),
                      conf_value("kafka.group.id"));
  assert_string_equal(str_at(md, "bootstrapServers"),
                      conf_value("kafka.bootstrap.servers"));
  assert_string_equal(str_at(md, "topic"), topic);
  assert_string_equal(str_at(md, "allowIdleConsumers"), "false");
  assert_true(strtol(str_at(md, "lagThreshold"), NULL, 10) > 0);
  assert_true(json_integer_value(at(so, "spec", "minReplicaCount", NULL)) >= 1);
  /* the partition count of the input topic where the repository creates it
   */
  assert_int_equal(
      tu_runf(&out,
              "grep -o -- '--topic ddas.deliveries --partitions [0-9]*' "
              "'%s/docker-compose.yml' | grep -o '[0-9]*$'",
              SOURCE_DIR),
      0);
  parts = strtol(out, NULL, 10);
  free(out);
  assert_true(parts > 0);
  assert_int_equal(max, parts);
  /* the autoscaler owns the replica count */
  assert_null(at(dep, "spec", "replicas", NULL));
}

/* The ConfigMap's worker.conf passes check-config once its paths point at
 * a test PKI and test credentials. */
static void config_checks(void **state) {
  char path[600], *conf, *a, *out = NULL;
  int rc;
  (void)state;
  assert_int_equal(tu_make_pki(tmp, PASS), 0);
  snprintf(path, sizeof(path), "%s/credentials", tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof(path), "%s/credentials/cbs-client-secret", tmp);
  tu_write_file(path, "k8s-client-secret\n", 18);
  snprintf(path, sizeof(path), "%s/credentials/sign-key-passphrase", tmp);
  tu_write_file(path, PASS "\n", strlen(PASS) + 1);
  {
    /* replace the two mount points */
    const char *from[2] = {"/etc/ddas-worker/tls/",
                           "/etc/ddas-worker/credentials/"};
    char to[2][400];
    size_t k;
    snprintf(to[0], sizeof(to[0]), "%s/pki/", tmp);
    snprintf(to[1], sizeof(to[1]), "%s/credentials/", tmp);
    conf = strdup(conf_text());
    for(k = 0; k < 2; k++) {
      char *p;
      size_t n = 0;
      a = malloc(strlen(conf) * 4 + 1000);
      a[0] = '\0';
      for(p = conf; *p;) {
        char *hit = strstr(p, from[k]);
        if(!hit) {
          strcpy(a + n, p);
          break;
        }
        memcpy(a + n, p, (size_t)(hit - p));
        n += (size_t)(hit - p);
        strcpy(a + n, to[k]);
        n += strlen(to[k]);
        a[n] = '\0';
        p = hit + strlen(from[k]);
      }
      free(conf);
      conf = a;
    }
  }
  snprintf(path, sizeof(path), "%s/worker.conf", tmp);
  tu_write_file(path, conf, strlen(conf));
  free(conf);
  rc = tu_runf(&out, "'%s' check-config -c '%s' 2>&1", WORKER_BIN, path);
  if(rc != 0)
    fail_msg("check-config of the ConfigMap's worker.conf: %s", out);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_keys_exist), cmocka_unit_test(env_names_keys),
      cmocka_unit_test(paths_are_mounted), cmocka_unit_test(ports_and_probes),
      cmocka_unit_test(scaled_on_lag),     cmocka_unit_test(config_checks),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
