/* The start-up check as an operator meets it (issue 12): `check-config`
 * and every command refuse what librdkafka would refuse, with file:line
 * and a suggestion, before anything starts; certificates outside their
 * validity window are refused; keys and secrets that others may read are
 * warned about; `check-config --probe` reaches kafka-mock and the CBS stub
 * and says plainly what failed; one file yields the same batch ids through
 * `send` and `run --submit`; `send` shows a refusal's problem without its
 * free text. */
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

#include "pipeline_fixture.h"
#include "testutil.h"

#define EXAMPLE SOURCE_DIR "/config/examples/shv-v1.0-meervoudig.json"

/* A NULL-terminated list of strings, for gives(). */
#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static char dir[300]; /* fx_dir/sc */

/* Writes text to dir/name with `mode`; the path in one of 4 static
 * buffers. */
static const char *conf(const char *name, int mode, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static const char *conf(const char *name, int mode, const char *fmt, ...) {
  static char paths[4][400];
  static int next;
  char text[4096];
  char *p = paths[next++ % 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  snprintf(p, 400, "%s/%s", dir, name);
  tu_write_file(p, text, strlen(text));
  assert_int_equal(chmod(p, (mode_t)mode), 0);
  return p;
}

/* A copy of the file `base` with `extra` lines after it (a later line
 * wins), as dir/name, mode 0600. */
static const char *variant(const char *name, const char *base,
                           const char *extra) {
  size_t len;
  char *text = tu_read(base, &len);
  const char *p = conf(name, 0600, "%s%s", text, extra);
  free(text);
  return p;
}

/* Runs `[ENV] ddas-worker ARGS` with stderr into the output: the exit
 * status must be `status`, the output must hold every string of `has` and
 * none of `lacks` (lists may be NULL). The output is returned when out is
 * not NULL (free it), else freed. */
static void gives(const char *env, const char *args, int status,
                  const char *const *has, const char *const *lacks,
                  char **out) {
  char *o;
  int rc = tu_runf(&o, "%s '%s' %s 2>&1", env ? env : "", WORKER_BIN, args);
  if(rc != status)
    print_message("ddas-worker %s:\n%s\n", args, o);
  assert_int_equal(rc, status);
  for(; has && *has; has++)
    if(!strstr(o, *has))
      fail_msg("ddas-worker %s: no '%s' in:\n%s", args, *has, o);
  for(; lacks && *lacks; lacks++)
    if(strstr(o, *lacks))
      fail_msg("ddas-worker %s: '%s' in:\n%s", args, *lacks, o);
  if(out)
    *out = o;
  else
    free(o);
}

/* `check-config -c path MORE` through gives(). */
static void config_gives(const char *path, const char *more, int status,
                         const char *const *has, const char *const *lacks) {
  char args[1000];
  snprintf(args, sizeof(args), "check-config -c '%s' %s", path,
           more ? more : "");
  gives(NULL, args, status, has, lacks, NULL);
}

/* An outbox configuration signing with `cert` and `key` of the test PKI
 * (file names), plus `extra`. */
static const char *outbox_conf(const char *name, const char *cert,
                               const char *key, const char *extra) {
  char outbox[400];
  snprintf(outbox, sizeof(outbox), "%s/outbox-%s", dir, name);
  mkdir(outbox, 0700);
  return conf(name, 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/%s\n"
              "sign.key = %s/pki/%s\n"
              "rules.profile = spec\n"
              "%s",
              outbox, fx_dir, cert, fx_dir, key, extra);
}

/* ---- kafka.* ------------------------------------------------------------ */

static void kafka_keys_checked_against_librdkafka(void **state) {
  (void)state;
  config_gives(conf("k1.conf", 0600,
                    "kafka.bootstrap.servers = x\n"
                    "kafka.bootstrap.servrs = x\n"),
               NULL, 2,
               L("k1.conf:2: unknown key 'kafka.bootstrap.servrs'",
                 "did you mean 'kafka.bootstrap.servers'"),
               NULL);
  config_gives(
      conf("k2.conf", 0600,
           "# broker limits\n\n"
           "kafka.message.max.bytes = 5\n"),
      NULL, 2,
      L("k2.conf:3: kafka.message.max.bytes: ", "outside allowed range 1000.."),
      NULL);
  /* settings that only clash together: librdkafka's finalisation */
  config_gives(conf("k3.conf", 0600,
                    "kafka.fetch.max.bytes = 1000\n"
                    "kafka.message.max.bytes = 100000\n"),
               NULL, 2, L("fetch.max.bytes", "(librdkafka)"), NULL);
  /* a guarded key: refused, saying why */
  config_gives(
      conf("k4.conf", 0600, "kafka.enable.auto.offset.store = true\n"), NULL, 2,
      L("k4.conf:1: kafka.enable.auto.offset.store cannot be set: offsets "
        "are stored only past durable outcomes"),
      NULL);
  /* from the environment: the variable is named */
  {
    char args[600];
    snprintf(args, sizeof(args), "check-config -c '%s'",
             conf("k6.conf", 0600, "kafka.bootstrap.servers = x\n"));
    gives("DDAS_KAFKA_BOOTSTRAP_SERVRS=y", args, 2,
          L("environment DDAS_KAFKA_BOOTSTRAP_SERVRS: unknown key "
            "'kafka.bootstrap.servrs'",
            "did you mean 'kafka.bootstrap.servers'"),
          NULL, NULL);
  }
  config_gives(conf("k5.conf", 0600,
                    "kafka.bootstrap.servers = b:9092\n"
                    "kafka.linger.ms = 20\n"),
               NULL, 0, L("configuration is usable"), NULL);
}

static void kafka_secret_files(void **state) {
  char env[600], args[600];
  const char *pw, *path;
  (void)state;
  pw = conf("kafka.pw", 0600, "Kq7-kafka-pw\n");
  path = conf("kf.conf", 0600,
              "kafka.bootstrap.servers = b:9092\n"
              "kafka.security.protocol = sasl_plaintext\n"
              "kafka.sasl.mechanism = PLAIN\n"
              "kafka.sasl.username = worker\n"
              "kafka.sasl.password_file = %s\n",
              pw);
  config_gives(path, "--print", 0, L("kafka.sasl.password = (set, not shown)"),
               L("Kq7-kafka-pw", "password_file"));
  /* the environment's spelling of the same */
  path = conf("kf2.conf", 0600, "kafka.bootstrap.servers = b:9092\n");
  snprintf(env, sizeof(env), "DDAS_KAFKA_SSL_KEY_PASSWORD_FILE='%s'", pw);
  snprintf(args, sizeof(args), "check-config -c '%s' --print", path);
  gives(env, args, 0, L("kafka.ssl.key.password = (set, not shown)"),
        L("Kq7-kafka-pw"), NULL);
  config_gives(
      conf("kf3.conf", 0600, "kafka.sasl.password_file = %s/none\n", dir), NULL,
      2, L("kafka.sasl.password_file: cannot read"), NULL);
}

/* run refuses before the admin endpoint and the embedded cluster start;
 * submit before it connects */
static void commands_check_before_starting(void **state) {
  char args[600];
  (void)state;
  snprintf(args, sizeof(args), "run -c '%s' --until-idle",
           outbox_conf("r1.conf", "signing-chain.pem", "signing.key",
                       "kafka.bootstrap.servers = embedded\n"
                       "admin.listen = 127.0.0.1:0\n"
                       "kafka.bootstrap.servrs = x\n"));
  gives(NULL, args, 2, L("r1.conf:7: unknown key 'kafka.bootstrap.servrs'"),
        L("admin endpoint listening", "embedded Kafka cluster started"), NULL);
  snprintf(args, sizeof(args), "submit -c '%s' '%s'",
           conf("r2.conf", 0600,
                "kafka.bootstrap.servers = b:9092\n"
                "kafka.message.max.bytes = 5\n"),
           EXAMPLE);
  gives(NULL, args, 2, L("r2.conf:2: kafka.message.max.bytes"), NULL, NULL);
}

/* ---- certificates ------------------------------------------------------- */

static void certificate_validity_windows(void **state) {
  char args[600], extra[1200];
  const char *path;
  (void)state;
  path = outbox_conf("c1.conf", "notyet-signing-chain.pem", "notyet.key", "");
  config_gives(path, NULL, 2,
               L("sign.cert: the certificate is not valid before 2099-01-01",
                 "change sign.cert"),
               NULL);
  /* not used silently by send either */
  snprintf(args, sizeof(args), "send -c '%s' '%s'", path, EXAMPLE);
  gives(NULL, args, 2, L("not valid before 2099-01-01"), L("forwarded"), NULL);
  snprintf(extra, sizeof(extra),
           "cbs.url = https://127.0.0.1:9/gegevens\n"
           "cbs.ca = %s/pki/root.pem\n"
           "cbs.cert = %s/pki/notyet-transport-chain.pem\n"
           "cbs.key = %s/pki/notyet.key\n",
           fx_dir, fx_dir, fx_dir);
  config_gives(
      outbox_conf("c2.conf", "signing-chain.pem", "signing.key", extra), NULL,
      2,
      L("cbs.cert: the certificate is not valid before 2099-01-01",
        "change cbs.cert"),
      NULL);
  /* the Kafka client certificate too */
  config_gives(conf("c4.conf", 0600,
                    "kafka.bootstrap.servers = b:9093\n"
                    "kafka.security.protocol = ssl\n"
                    "kafka.ssl.ca.location = %s/pki/root.pem\n"
                    "kafka.ssl.certificate.location = "
                    "%s/pki/notyet-transport-chain.pem\n"
                    "kafka.ssl.key.location = %s/pki/notyet.key\n",
                    fx_dir, fx_dir, fx_dir),
               NULL, 2,
               L("kafka.ssl.certificate.location: the certificate is not "
                 "valid before 2099-01-01"),
               NULL);
  config_gives(outbox_conf("c3.conf", "expired-chain.pem", "expired.key", ""),
               NULL, 2, L("sign.cert: the certificate expired on 2021-01-01"),
               NULL);
}

/* ---- permissions -------------------------------------------------------- */

static void readable_secrets_warned(void **state) {
  char key[400], extra[1200], *pem;
  size_t len;
  const char *path;
  (void)state;
  snprintf(key, sizeof(key), "%s/pki/signing.key", fx_dir);
  pem = tu_read(key, &len);
  snprintf(key, sizeof(key), "%s/open.key", dir);
  tu_write_file(key, pem, len);
  free(pem);
  snprintf(extra, sizeof(extra), "sign.key = %s\n", key);
  path = outbox_conf("p1.conf", "signing-chain.pem", "signing.key", extra);
  assert_int_equal(chmod(key, 0644), 0);
  config_gives(path, NULL, 0,
               L("a private key that others may read", "\"key\":\"sign.key\"",
                 "\"mode\":\"0644\"", "\"readable_by\":\"everyone\"",
                 "usable, with 1 warning"),
               NULL);
  assert_int_equal(chmod(key, 0640), 0);
  config_gives(path, NULL, 0, L("\"readable_by\":\"the group\""), NULL);
  assert_int_equal(chmod(key, 0600), 0);
  config_gives(path, NULL, 0, L("configuration is usable\n"), L("may read"));
  /* an inline client secret in a file others may read */
  path = outbox_conf("p2.conf", "signing-chain.pem", "signing.key",
                     "cbs.client_secret = Zq9-inline-secret\n");
  assert_int_equal(chmod(path, 0644), 0);
  config_gives(path, NULL, 0,
               L("holds cbs.client_secret and others may read it (move the "
                 "secret to cbs.client_secret_file"),
               L("Zq9-inline-secret"));
  assert_int_equal(chmod(path, 0600), 0);
  config_gives(path, NULL, 0, NULL, L("may read"));
  /* a secret file others may read */
  conf("client.secret", 0644, "Zq9-file-secret\n");
  snprintf(extra, sizeof(extra), "cbs.client_secret_file = %s/client.secret\n",
           dir);
  config_gives(
      outbox_conf("p3.conf", "signing-chain.pem", "signing.key", extra), NULL,
      0,
      L("a secret file that others may read",
        "\"key\":\"cbs.client_secret_file\""),
      L("Zq9-file-secret"));
}

/* ---- --probe ------------------------------------------------------------ */

static void probe_good_and_broken(void **state) {
  char extra[1200];
  scen s;
  (void)state;
  scen_start(&s, "probe", NULL, "");
  config_gives(s.conf, "--probe", 0,
               L("probe kafka: ok: 3 brokers; ddas.deliveries: 6 partitions",
                 "probe token: ok: https://127.0.0.1:",
                 "probe cbs: ok: https://127.0.0.1:"),
               L(FX_SECRET));
  /* brokers that do not answer */
  config_gives(
      variant("b1.conf", s.conf, "kafka.bootstrap.servers = 127.0.0.1:9\n"),
      "--probe --probe-timeout 1500", 1,
      L("probe kafka: FAILED: no metadata from 127.0.0.1:9 within "
        "1500 ms",
        "probe cbs: ok"),
      NULL);
  /* a client secret the token endpoint refuses */
  config_gives(
      variant("b2.conf", s.conf, "cbs.client_secret = wrong\n"), "--probe", 1,
      L("probe token: FAILED: token endpoint: HTTP 401", "probe kafka: ok"),
      NULL);
  /* a transport certificate the stub does not trust */
  snprintf(extra, sizeof(extra),
           "cbs.cert = %s/pki/rogue-transport-chain.pem\n"
           "cbs.key = %s/pki/rogue-transport.key\n",
           fx_dir, fx_dir);
  config_gives(variant("b3.conf", s.conf, extra), "--probe", 1,
               L("probe cbs: FAILED: "), NULL);
  /* a server certificate under another root */
  snprintf(extra, sizeof(extra), "cbs.ca = %s/pki/rogue-root.pem\n", fx_dir);
  config_gives(variant("b4.conf", s.conf, extra), "--probe", 1,
               L("probe cbs: FAILED: TLS: "), NULL);
  scen_stop(&s);
}

/* ---- send --------------------------------------------------------------- */

static void same_batch_ids_from_send_and_run_submit(void **state) {
  char args[1000], *sent, **la, **lb;
  size_t i;
  (void)state;
  snprintf(args, sizeof(args), "send -c '%s' '%s'",
           outbox_conf("ids-send", "signing-chain.pem", "signing.key", ""),
           EXAMPLE);
  gives(NULL, args, 0, NULL, NULL, &sent);
  snprintf(args, sizeof(args),
           "run -c '%s' --submit '%s' --until-idle --idle-ms 1500",
           outbox_conf("ids-run", "signing-chain.pem", "signing.key",
                       "kafka.bootstrap.servers = embedded\n"),
           EXAMPLE);
  gives(NULL, args, 0, NULL, NULL, NULL);
  snprintf(args, sizeof(args), "%s/outbox-ids-send", dir);
  la = tu_list(args, ".json");
  snprintf(args, sizeof(args), "%s/outbox-ids-run", dir);
  lb = tu_list(args, ".json");
  assert_non_null(la[0]);
  for(i = 0; la[i] || lb[i]; i++) {
    assert_non_null(la[i]);
    assert_non_null(lb[i]);
    assert_string_equal(la[i], lb[i]);
  }
  tu_free_list(la);
  tu_free_list(lb);
  /* and send says which delivery id it used */
  assert_non_null(strstr(sent, "delivery shv-v1_0-meervoudig-"));
  free(sent);
}

static void send_and_run_show_the_problem(void **state) {
  static const char plan[] =
      "{\"batch\": [{\"status\": 422, \"problem\": {\"type\": "
      "\"https://cbs.example/problems/schema\", \"title\": \"Schema "
      "validation failed\", \"status\": 422, \"detail\": \"bsn 123456782 "
      "of Jansen is invalid\", \"errors\": [{\"pointer\": "
      "\"/leveringen/0/trajecten/1/client/bsn\", \"detail\": "
      "\"123456782\"}]}}]}";
  char args[1000];
  scen s;
  (void)state;
  scen_start(&s, "problem", plan, "");
  snprintf(args, sizeof(args), "send -c '%s' '%s'", s.conf, EXAMPLE);
  gives(NULL, args, 1,
        L("refused, HTTP 422",
          "CBS problem: status 422, title \"Schema validation failed\", "
          "type https://cbs.example/problems/schema; at "
          "/leveringen/0/trajecten/1/client/bsn"),
        L("123456782", "Jansen"), NULL);
  /* run logs the same when it parks the batch */
  json_decref(stub_call(&s.cbs, "/_plan", plan));
  snprintf(args, sizeof(args),
           "run -c '%s' --submit '%s' --until-idle --idle-ms 1500",
           variant("problem-run.conf", s.conf,
                   "kafka.bootstrap.servers = embedded\n"),
           EXAMPLE);
  gives(NULL, args, 0,
        L("\"event\":\"batch parked\"",
          "\"problem\":\"status 422, title \\\"Schema validation failed\\\""),
        L("123456782", "Jansen"), NULL);
  scen_stop(&s);
}

/* ---- set-up ------------------------------------------------------------- */

static void fixture_failed(const char *msg) { fail_msg("%s", msg); }

static int setup(void **state) {
  (void)state;
  fx_fail_hook = fixture_failed;
  if(fx_setup("/tmp/ddas-startcheck-XXXXXX"))
    return -1;
  snprintf(dir, sizeof(dir), "%s/sc", fx_dir);
  return mkdir(dir, 0700);
}

static int teardown(void **state) {
  (void)state;
  return fx_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kafka_keys_checked_against_librdkafka),
      cmocka_unit_test(kafka_secret_files),
      cmocka_unit_test(commands_check_before_starting),
      cmocka_unit_test(certificate_validity_windows),
      cmocka_unit_test(readable_secrets_warned),
      cmocka_unit_test(probe_good_and_broken),
      cmocka_unit_test(same_batch_ids_from_send_and_run_submit),
      cmocka_unit_test(send_and_run_show_the_problem),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
