/* The start-up checks and `check-config --probe` (see startcheck.h). */
#include "startcheck.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certfile.h"
#include "cmd.h"
#include "ddas/accepted.h"
#include "ddas/checks.h"
#include "forward.h"
#include "kafka.h"
#include "log.h"

/* ---- kafka.* ------------------------------------------------------------ */

/* The names of librdkafka's properties, from its own reference table (the
 * first column of rd_kafka_conf_properties_show): NULL-terminated, owned;
 * NULL when out of memory. */
static char **kafka_property_names(size_t *n) {
  char *text = NULL, *line, *save = NULL, **names = NULL;
  size_t len = 0, cap = 0;
  FILE *f = open_memstream(&text, &len);
  *n = 0;
  if(!f)
    return NULL;
  rd_kafka_conf_properties_show(f);
  fclose(f);
  for(line = strtok_r(text, "\n", &save); line;
      line = strtok_r(NULL, "\n", &save)) {
    size_t w = strcspn(line, " |");
    char **grown;
    if(!strstr(line, " | ") || !w || line[0] == '-' || line[0] == '#' ||
       !strncmp(line, "Property ", 9))
      continue;
    if(*n + 2 > cap) {
      cap = cap ? 2 * cap : 256;
      if(!(grown = realloc(names, cap * sizeof(*names))))
        break;
      names = grown;
    }
    if(!(names[*n] = strndup(line, w)))
      break;
    names[++*n] = NULL;
  }
  free(text);
  return names;
}

static void free_names(char **names) {
  size_t i;
  for(i = 0; names && names[i]; i++)
    free(names[i]);
  free(names);
}

/* One kafka.* line that librdkafka does not take: "FILE:LINE: kafka.NAME:
 * why", with the closest known property for an unknown one. */
static void kafka_key_error(const wk_kv *kv, rd_kafka_conf_res_t r,
                            const char *why, char *err, size_t errlen) {
  char name[160];
  snprintf(name, sizeof(name), "kafka.%s", kv->name);
  if(r == RD_KAFKA_CONF_UNKNOWN) {
    size_t n;
    char **names = kafka_property_names(&n);
    const char *s =
        names ? ddas_closest(kv->name, (const char *const *)names, n, 3) : NULL;
    snprintf(err, errlen,
             "%s: unknown key '%s': librdkafka has no property '%s'%s%s%s",
             kv->where ? kv->where : "configuration", name, kv->name,
             s ? " (did you mean 'kafka." : "", s ? s : "", s ? "'?)" : "");
    free_names(names);
  } else {
    char tidy[512];
    size_t n = strlen(why);
    while(n && (why[n - 1] == '\n' || why[n - 1] == ' '))
      n--;
    snprintf(tidy, sizeof(tidy), "%.*s", (int)n, why);
    snprintf(err, errlen, "%s: %s: %s (librdkafka)",
             kv->where ? kv->where : "configuration", name,
             wk_config_is_secret(name) ? "invalid value" : tidy);
  }
}

/* Each kafka.* key on its own, so that the message names its line. */
static int check_kafka_keys(const wk_config *c, char *err, size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  size_t i;
  int rc = 0;
  for(i = 0; i < c->nkafka && !rc; i++) {
    const wk_kv *kv = &c->kafka[i];
    char why[512] = "";
    rd_kafka_conf_res_t r;
    if(!strcmp(kv->name, "bootstrap.servers") && wk_kafka_is_embedded(c))
      continue;
    r = rd_kafka_conf_set(conf, kv->name, kv->value, why, sizeof(why));
    if(r != RD_KAFKA_CONF_OK) {
      kafka_key_error(kv, r, why, err, errlen);
      rc = -1;
    }
  }
  rd_kafka_conf_destroy(conf);
  return rc;
}

/* The keys together, as the producer and the consumer are built, without
 * brokers (nothing is contacted): librdkafka's checks across properties
 * and of the files it loads (ssl.*). */
static int check_kafka_clients(const wk_config *c, char *err, size_t errlen) {
  wk_producer p;
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_t *rk = NULL;
  char why[512] = "";
  if(wk_producer_new(c, "", &p, why, sizeof(why))) {
    snprintf(err, errlen, "the kafka.* settings (producer): %s (librdkafka)",
             why);
    return -1;
  }
  wk_producer_close(&p);
  conf = rd_kafka_conf_new();
  if(!rd_kafka_conf_set(conf, "group.id", c->group_id, why, sizeof(why)) &&
     !wk_kafka_conf(c, "", conf, why, sizeof(why)))
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
  if(!rk) { /* rd_kafka_new takes conf only when it succeeds */
    rd_kafka_conf_destroy(conf);
    snprintf(err, errlen, "the kafka.* settings (consumer): %s (librdkafka)",
             why);
    return -1;
  }
  rd_kafka_destroy(rk);
  return 0;
}

/* ---- certificates ------------------------------------------------------- */

/* kafka.ssl.certificate.location, when set: its validity window. */
static int check_kafka_cert(const wk_config *c, char *err, size_t errlen) {
  char warn[256];
  size_t i;
  for(i = 0; i < c->nkafka; i++) {
    if(strcmp(c->kafka[i].name, "ssl.certificate.location"))
      continue;
    if(wk_cert_file_window("kafka.ssl.certificate.location", c->kafka[i].value,
                           warn, sizeof(warn), err, errlen))
      return -1;
    if(*warn)
      wk_log(WK_WARN, warn, NULL);
  }
  return 0;
}

/* ---- file permissions --------------------------------------------------- */

/* Warns when others than the owner may read `path`, the file of `key`. 1
 * after a warning, else 0 (also when it cannot be stat'ed: reading it will
 * say so). */
static unsigned warn_mode(const char *key, const char *path, const char *what) {
  struct stat st;
  char mode[8], fix[300];
  ddas_mode_verdict v;
  if(!path || !*path || stat(path, &st))
    return 0;
  if((v = ddas_secret_mode((unsigned)st.st_mode)) == DDAS_MODE_PRIVATE)
    return 0;
  snprintf(mode, sizeof(mode), "%04o", (unsigned)st.st_mode & 07777u);
  snprintf(fix, sizeof(fix), "chmod 600 %s", path);
  wk_log(WK_WARN, what, "key", key, "path", path, "mode", mode, "readable_by",
         v == DDAS_MODE_WORLD_READABLE ? "everyone" : "the group", "fix", fix,
         NULL);
  return 1;
}

static unsigned check_files(const wk_config *c) {
  static const char key_msg[] = "a private key that others may read";
  unsigned n = 0;
  size_t i;
  n += warn_mode("cbs.key", c->cbs_key, key_msg);
  n += warn_mode("sign.key", c->sign_key, key_msg);
  for(i = 0; i < c->nkafka; i++)
    if(!strcmp(c->kafka[i].name, "ssl.key.location"))
      n += warn_mode("kafka.ssl.key.location", c->kafka[i].value, key_msg);
  for(i = 0; i < c->nsecret_files; i++)
    n += warn_mode(c->secret_files[i].name, c->secret_files[i].value,
                   "a secret file that others may read");
  if(c->source && c->inline_secret) {
    char what[200];
    snprintf(what, sizeof(what),
             "the configuration file holds %s and others may read it (move "
             "the secret to %s_file, or restrict the file)",
             c->inline_secret, c->inline_secret);
    n += warn_mode(c->inline_secret, c->source, what);
  }
  return n;
}

/* ---- the check ---------------------------------------------------------- */

int wk_startcheck(const wk_config *c, unsigned what, ddas_schemaset **set,
                  unsigned *warnings, char *err, size_t errlen) {
  unsigned w = 0;
  if(set)
    *set = NULL;
  if(what & WK_CHECK_FILES)
    w = check_files(c);
  if(warnings)
    *warnings = w;
  if((what & WK_CHECK_KAFKA) &&
     (check_kafka_keys(c, err, errlen) || check_kafka_cert(c, err, errlen) ||
      check_kafka_clients(c, err, errlen)))
    return -1;
  if(what & WK_CHECK_SCHEMAS) {
    ddas_schemaset *s = NULL;
    if(wk_schemas_load(&s, err, errlen))
      return -1;
    if(set)
      *set = s;
    else
      ddas_schemaset_free(s);
  }
  if((what & WK_CHECK_CBS) && *c->cbs_url) {
    wk_forwarder *f = NULL;
    if(wk_forwarder_new(c, &f, err, errlen)) {
      if(set) {
        ddas_schemaset_free(*set);
        *set = NULL;
      }
      return -1;
    }
    wk_forwarder_free(f);
  }
  return 0;
}

/* ---- --probe ------------------------------------------------------------ */

/* Metadata from the brokers within timeout_ms. 0 ok, 1 skipped, -1 failed;
 * the verdict in msg. */
static int probe_kafka(const wk_config *c, int timeout_ms, char *msg,
                       size_t cap) {
  const char *b = wk_kafka_bootstrap(c);
  const char *topics[5];
  const struct rd_kafka_metadata *md = NULL;
  ddas_cbs_mode mode;
  int ntopics;
  rd_kafka_resp_err_t e;
  wk_producer p;
  size_t w = 0, i;
  int t, rc = 0;
  if(!b || wk_kafka_is_embedded(c)) {
    snprintf(msg, cap, "skipped: %s",
             b ? "the embedded cluster lives inside 'ddas-worker run'"
               : "kafka.bootstrap.servers is not set");
    return 1;
  }
  if(wk_producer_new(c, b, &p, msg, cap))
    return -1;
  e = rd_kafka_metadata(p.rk, 1, NULL, &md, timeout_ms);
  if(e) {
    snprintf(msg, cap,
             "no metadata from %s within %d ms (%s): check "
             "kafka.bootstrap.servers, the network and kafka.security.*",
             b, timeout_ms, rd_kafka_err2str(e));
    wk_producer_close(&p);
    return -1;
  }
  topics[0] = c->topic_deliveries;
  topics[1] = c->topic_rejections;
  topics[2] = c->topic_receipts;
  topics[3] = c->topic_failed;
  topics[4] = c->topic_accepted; /* only when cbs.mode publishes there */
  ddas_cbs_mode_parse(c->cbs_mode, &mode);
  ntopics = ddas_cbs_mode_publishes(mode) ? 5 : 4;
  w += (size_t)snprintf(msg, cap, "%d broker%s", md->broker_cnt,
                        md->broker_cnt == 1 ? "" : "s");
  for(t = 0; t < ntopics; t++) {
    int parts = -1;
    for(i = 0; i < (size_t)md->topic_cnt; i++)
      if(!strcmp(md->topics[i].topic, topics[t]) && !md->topics[i].err)
        parts = md->topics[i].partition_cnt;
    if(parts < 0 && t == 0)
      rc = -1; /* nothing to consume: run would wait for ever */
    if(w >= cap)
      continue;
    if(parts < 0)
      w +=
          (size_t)snprintf(msg + w, cap - w, "; %s: no such topic%s", topics[t],
                           t ? "" : " (create it, or set topic.deliveries)");
    else
      w += (size_t)snprintf(msg + w, cap - w, "; %s: %d partition%s", topics[t],
                            parts, parts == 1 ? "" : "s");
  }
  rd_kafka_metadata_destroy(md);
  wk_producer_close(&p);
  return rc;
}

static void verdict(FILE *out, const char *what, int rc, const char *msg) {
  fprintf(out, "probe %s: %s%s\n", what,
          rc < 0 ? "FAILED: "
          : rc   ? ""
                 : "ok: ",
          msg);
}

int wk_probe(const wk_config *c, int timeout_ms, FILE *out) {
  char msg[1024];
  int failed = 0, rc;
  wk_forwarder *f = NULL;
  rc = probe_kafka(c, timeout_ms, msg, sizeof(msg));
  failed += rc < 0;
  verdict(out, "kafka", rc, msg);
  if(!*c->cbs_url) {
    verdict(out, "token", 1, "skipped: cbs.url is not set");
    verdict(out, "cbs", 1, "skipped: cbs.url is not set");
    return failed;
  }
  if(wk_forwarder_new(c, &f, msg, sizeof(msg))) {
    verdict(out, "cbs", -1, msg);
    return failed + 1;
  }
  rc = wk_forwarder_probe(f, 1, msg, sizeof(msg));
  failed += rc < 0;
  verdict(out, "token", rc, msg);
  rc = wk_forwarder_probe(f, 0, msg, sizeof(msg));
  failed += rc < 0;
  verdict(out, "cbs", rc, msg);
  wk_forwarder_free(f);
  return failed;
}
