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

#define EXAMPLE SHARED_DIR "/examples/shv-v1.0-meervoudig.json"

static char dir[300]; /* fx_dir/sc */

/* Writes text to dir/name with `mode`; the path in a static buffer of 4. */
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

/* `ddas-worker ARGS` with stderr into the output. */
static int worker(char **out, const char *args) {
  return tu_runf(out, "'%s' %s 2>&1", WORKER_BIN, args);
}

static int check(char **out, const char *path, const char *more) {
  char args[1000];
  snprintf(args, sizeof(args), "check-config -c '%s' %s", path,
           more ? more : "");
  return worker(out, args);
}

/* The signing part of an outbox configuration (valid certificates). */
static const char *outbox_conf(const char *name, const char *extra) {
  char outbox[400];
  snprintf(outbox, sizeof(outbox), "%s/outbox-%s", dir, name);
  mkdir(outbox, 0700);
  return conf(name, 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s/pki/signing-enc.key\n"
              "sign.key_passphrase = " FX_PASSPHRASE "\n"
              "%s",
              outbox, fx_dir, fx_dir, extra);
}

/* ---- kafka.* ------------------------------------------------------------ */

static void kafka_keys_checked_against_librdkafka(void **state) {
  char *out;
  (void)state;
  assert_int_equal(check(&out,
                         conf("k1.conf", 0600,
                              "kafka.bootstrap.servers = x\n"
                              "kafka.bootstrap.servrs = x\n"),
                         NULL),
                   2);
  assert_non_null(strstr(out, "k1.conf:2: unknown key "
                              "'kafka.bootstrap.servrs'"));
  assert_non_null(strstr(out, "did you mean 'kafka.bootstrap.servers'"));
  free(out);
  assert_int_equal(check(&out,
                         conf("k2.conf", 0600,
                              "# broker limits\n\n"
                              "kafka.message.max.bytes = 5\n"),
                         NULL),
                   2);
  assert_non_null(strstr(out, "k2.conf:3: kafka.message.max.bytes: "));
  assert_non_null(strstr(out, "outside allowed range 1000..")); /* why */
  free(out);
  /* settings that only clash together: librdkafka's finalisation */
  assert_int_equal(check(&out,
                         conf("k3.conf", 0600,
                              "kafka.fetch.max.bytes = 1000\n"
                              "kafka.message.max.bytes = 100000\n"),
                         NULL),
                   2);
  assert_non_null(strstr(out, "fetch.max.bytes"));
  assert_non_null(strstr(out, "(librdkafka)"));
  free(out);
  /* a guarded key: refused, saying why */
  assert_int_equal(
      check(&out,
            conf("k4.conf", 0600, "kafka.enable.auto.offset.store = true\n"),
            NULL),
      2);
  assert_non_null(strstr(out, "k4.conf:1: kafka.enable.auto.offset.store "
                              "cannot be set: offsets are stored only past "
                              "durable outcomes"));
  free(out);
  assert_int_equal(check(&out,
                         conf("k5.conf", 0600,
                              "kafka.bootstrap.servers = b:9092\n"
                              "kafka.linger.ms = 20\n"),
                         NULL),
                   0);
  assert_non_null(strstr(out, "configuration is usable"));
  free(out);
}

static void kafka_secret_files(void **state) {
  char *out, args[1200];
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
  assert_int_equal(check(&out, path, "--print"), 0);
  assert_non_null(strstr(out, "kafka.sasl.password = (set, not shown)"));
  assert_null(strstr(out, "Kq7-kafka-pw"));
  assert_null(strstr(out, "password_file"));
  free(out);
  /* the environment's spelling of the same */
  path = conf("kf2.conf", 0600, "kafka.bootstrap.servers = b:9092\n");
  snprintf(args, sizeof(args),
           "DDAS_KAFKA_SSL_KEY_PASSWORD_FILE='%s' '%s' check-config -c '%s' "
           "--print 2>&1",
           pw, WORKER_BIN, path);
  assert_int_equal(tu_run(args, &out), 0);
  assert_non_null(strstr(out, "kafka.ssl.key.password = (set, not shown)"));
  assert_null(strstr(out, "Kq7-kafka-pw"));
  free(out);
  path = conf("kf3.conf", 0600, "kafka.sasl.password_file = %s/nothing\n", dir);
  assert_int_equal(check(&out, path, NULL), 2);
  assert_non_null(strstr(out, "kafka.sasl.password_file: cannot read"));
  free(out);
}

/* run refuses before the admin endpoint and the embedded cluster start */
static void run_checks_before_starting(void **state) {
  char *out, args[600];
  const char *path;
  (void)state;
  path = outbox_conf("r1.conf", "kafka.bootstrap.servers = embedded\n"
                                "admin.listen = 127.0.0.1:0\n"
                                "kafka.bootstrap.servrs = x\n");
  snprintf(args, sizeof(args), "run -c '%s' --until-idle", path);
  assert_int_equal(worker(&out, args), 2);
  assert_non_null(strstr(out, "r1.conf:7: unknown key "
                              "'kafka.bootstrap.servrs'"));
  assert_null(strstr(out, "admin endpoint listening"));
  assert_null(strstr(out, "embedded Kafka cluster started"));
  free(out);
  path = conf("r2.conf", 0600,
              "kafka.bootstrap.servers = b:9092\n"
              "kafka.message.max.bytes = 5\n");
  snprintf(args, sizeof(args), "submit -c '%s' '%s'", path, EXAMPLE);
  assert_int_equal(worker(&out, args), 2);
  assert_non_null(strstr(out, "r2.conf:2: kafka.message.max.bytes"));
  free(out);
}

/* ---- certificates ------------------------------------------------------- */

static void certificate_validity_windows(void **state) {
  char *out, args[600];
  const char *path;
  (void)state;
  path = conf("c1.conf", 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/notyet-signing-chain.pem\n"
              "sign.key = %s/pki/notyet.key\n",
              dir, fx_dir, fx_dir);
  assert_int_equal(check(&out, path, NULL), 2);
  assert_non_null(strstr(out, "sign.cert: the certificate is not valid "
                              "before 2099-01-01"));
  assert_non_null(strstr(out, "change sign.cert"));
  free(out);
  /* not used silently by send either */
  snprintf(args, sizeof(args), "send -c '%s' '%s'", path, EXAMPLE);
  assert_int_equal(worker(&out, args), 2);
  assert_non_null(strstr(out, "not valid before 2099-01-01"));
  free(out);
  path = conf("c2.conf", 0600,
              "cbs.url = https://127.0.0.1:9/gegevens\n"
              "cbs.ca = %s/pki/root.pem\n"
              "cbs.cert = %s/pki/notyet-transport-chain.pem\n"
              "cbs.key = %s/pki/notyet.key\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s/pki/signing.key\n",
              fx_dir, fx_dir, fx_dir, fx_dir, fx_dir);
  assert_int_equal(check(&out, path, NULL), 2);
  assert_non_null(strstr(out, "cbs.cert: the certificate is not valid "
                              "before 2099-01-01"));
  assert_non_null(strstr(out, "change cbs.cert"));
  free(out);
  path = conf("c3.conf", 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/expired-chain.pem\n"
              "sign.key = %s/pki/expired.key\n",
              dir, fx_dir, fx_dir);
  assert_int_equal(check(&out, path, NULL), 2);
  assert_non_null(strstr(out, "sign.cert: the certificate expired on "
                              "2021-01-01"));
  free(out);
}

/* ---- permissions -------------------------------------------------------- */

static void readable_secrets_warned(void **state) {
  char *out, key[400], *pem;
  size_t len;
  const char *path;
  (void)state;
  snprintf(key, sizeof(key), "%s/pki/signing.key", fx_dir);
  pem = tu_read(key, &len);
  snprintf(key, sizeof(key), "%s/open.key", dir);
  tu_write_file(key, pem, len);
  free(pem);
  path = conf("p1.conf", 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s\n",
              dir, fx_dir, key);
  assert_int_equal(chmod(key, 0644), 0);
  assert_int_equal(check(&out, path, NULL), 0);
  assert_non_null(strstr(out, "a private key that others may read"));
  assert_non_null(strstr(out, "\"key\":\"sign.key\""));
  assert_non_null(strstr(out, "\"mode\":\"0644\""));
  assert_non_null(strstr(out, "\"readable_by\":\"everyone\""));
  assert_non_null(strstr(out, "usable, with 1 warning"));
  free(out);
  assert_int_equal(chmod(key, 0640), 0);
  assert_int_equal(check(&out, path, NULL), 0);
  assert_non_null(strstr(out, "\"readable_by\":\"the group\""));
  free(out);
  assert_int_equal(chmod(key, 0600), 0);
  assert_int_equal(check(&out, path, NULL), 0);
  assert_null(strstr(out, "may read"));
  free(out);
  /* an inline client secret in a file others may read */
  path = conf("p2.conf", 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s/pki/signing.key\n"
              "cbs.client_secret = Zq9-inline-secret\n",
              dir, fx_dir, fx_dir);
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(check(&out, path, NULL), 0);
  assert_non_null(strstr(out, "holds cbs.client_secret and others may read "
                              "it (move the secret to cbs.client_secret_file"));
  assert_null(strstr(out, "Zq9-inline-secret"));
  free(out);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(check(&out, path, NULL), 0);
  assert_null(strstr(out, "may read"));
  free(out);
  /* a secret file others may read */
  conf("client.secret", 0644, "Zq9-file-secret\n");
  {
    char extra[600];
    snprintf(extra, sizeof(extra),
             "cbs.client_secret_file = %s/client.secret\n", dir);
    path = outbox_conf("p3.conf", extra);
  }
  assert_int_equal(check(&out, path, NULL), 0);
  assert_non_null(strstr(out, "a secret file that others may read"));
  assert_non_null(strstr(out, "\"key\":\"cbs.client_secret_file\""));
  assert_null(strstr(out, "Zq9-file-secret"));
  free(out);
}

/* ---- --probe ------------------------------------------------------------ */

/* A configuration for kafka-mock and the stub, with `extra` lines last
 * (a later line wins). */
static const char *probe_conf(const char *name, const mock *m, const stub *s,
                              const char *extra) {
  return conf(name, 0600,
              "kafka.bootstrap.servers = %s\n"
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
              "cbs.connect_timeout_ms = 2000\n"
              "%s",
              m->bootstrap, s->port, s->port, fx_dir, fx_dir, fx_dir, fx_dir,
              fx_dir, extra);
}

static void probe_good_and_broken(void **state) {
  char *out, sdir[400], extra[600];
  mock m;
  stub s;
  (void)state;
  snprintf(sdir, sizeof(sdir), "%s/probe", dir);
  mkdir(sdir, 0700);
  mock_start(&m, sdir);
  stub_start(&s, sdir, NULL);
  assert_int_equal(check(&out, probe_conf("g.conf", &m, &s, ""), "--probe"), 0);
  assert_non_null(strstr(out, "probe kafka: ok: 3 brokers; ddas.deliveries: "
                              "6 partitions"));
  assert_non_null(strstr(out, "probe token: ok: https://127.0.0.1:"));
  assert_non_null(strstr(out, "probe cbs: ok: https://127.0.0.1:"));
  assert_null(strstr(out, FX_SECRET));
  free(out);
  /* brokers that do not answer */
  assert_int_equal(check(&out,
                         probe_conf("b1.conf", &m, &s,
                                    "kafka.bootstrap.servers = 127.0.0.1:9\n"),
                         "--probe --probe-timeout 1500"),
                   1);
  assert_non_null(strstr(out, "probe kafka: FAILED: no metadata from "
                              "127.0.0.1:9 within 1500 ms"));
  assert_non_null(strstr(out, "probe cbs: ok"));
  free(out);
  /* a client secret the token endpoint refuses */
  assert_int_equal(
      check(&out,
            probe_conf("b2.conf", &m, &s, "cbs.client_secret = wrong-secret\n"),
            "--probe"),
      1);
  assert_non_null(strstr(out, "probe token: FAILED: token endpoint: HTTP 401"));
  assert_non_null(strstr(out, "probe kafka: ok"));
  free(out);
  /* a transport certificate the stub does not trust */
  snprintf(extra, sizeof(extra),
           "cbs.cert = %s/pki/rogue-transport-chain.pem\n"
           "cbs.key = %s/pki/rogue-transport.key\n",
           fx_dir, fx_dir);
  assert_int_equal(check(&out, probe_conf("b3.conf", &m, &s, extra), "--probe"),
                   1);
  assert_non_null(strstr(out, "probe cbs: FAILED: "));
  free(out);
  /* a server certificate under another root */
  snprintf(extra, sizeof(extra), "cbs.ca = %s/pki/rogue-root.pem\n", fx_dir);
  assert_int_equal(check(&out, probe_conf("b4.conf", &m, &s, extra), "--probe"),
                   1);
  assert_non_null(strstr(out, "probe cbs: FAILED: TLS: "));
  free(out);
  stub_stop(&s);
  mock_stop(&m);
}

/* ---- send --------------------------------------------------------------- */

static void same_batch_ids_from_send_and_run_submit(void **state) {
  char *out, *sent, args[1000], a[400], b[400];
  char **la, **lb;
  size_t i;
  const char *path;
  (void)state;
  snprintf(a, sizeof(a), "%s/outbox-ids-send", dir);
  snprintf(b, sizeof(b), "%s/outbox-ids-run", dir);
  mkdir(a, 0700);
  mkdir(b, 0700);
  path = conf("ids-send.conf", 0600,
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s/pki/signing.key\n"
              "rules.profile = spec\n",
              a, fx_dir, fx_dir);
  snprintf(args, sizeof(args), "send -c '%s' '%s'", path, EXAMPLE);
  assert_int_equal(worker(&sent, args), 0);
  path = conf("ids-run.conf", 0600,
              "kafka.bootstrap.servers = embedded\n"
              "cbs.url = file://%s\n"
              "sign.cert = %s/pki/signing-chain.pem\n"
              "sign.key = %s/pki/signing.key\n"
              "rules.profile = spec\n",
              b, fx_dir, fx_dir);
  snprintf(args, sizeof(args),
           "run -c '%s' --submit '%s' --until-idle "
           "--idle-ms 1500",
           path, EXAMPLE);
  assert_int_equal(worker(&out, args), 0);
  free(out);
  la = tu_list(a, ".json");
  lb = tu_list(b, ".json");
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

static void send_shows_the_problem(void **state) {
  static const char plan[] =
      "{\"batch\": [{\"status\": 422, \"problem\": {\"type\": "
      "\"https://cbs.example/problems/schema\", \"title\": \"Schema "
      "validation failed\", \"status\": 422, \"detail\": \"bsn 123456782 "
      "of Jansen is invalid\", \"errors\": [{\"pointer\": "
      "\"/leveringen/0/trajecten/1/client/bsn\", \"detail\": "
      "\"123456782\"}]}}]}";
  char *out, sdir[400], args[1000];
  mock m;
  stub s;
  (void)state;
  snprintf(sdir, sizeof(sdir), "%s/problem", dir);
  mkdir(sdir, 0700);
  memset(&m, 0, sizeof(m));
  snprintf(m.bootstrap, sizeof(m.bootstrap), "127.0.0.1:9");
  stub_start(&s, sdir, plan);
  snprintf(args, sizeof(args), "send -c '%s' '%s'",
           probe_conf("problem.conf", &m, &s, "rules.profile = spec\n"),
           EXAMPLE);
  assert_int_equal(worker(&out, args), 1);
  assert_non_null(strstr(out, "refused, HTTP 422"));
  assert_non_null(strstr(out, "CBS problem: status 422, title \"Schema "
                              "validation failed\", type "
                              "https://cbs.example/problems/schema; at "
                              "/leveringen/0/trajecten/1/client/bsn"));
  assert_null(strstr(out, "123456782"));
  assert_null(strstr(out, "Jansen"));
  free(out);
  /* run logs the same when it parks the batch */
  json_decref(stub_call(&s, "/_plan", plan));
  snprintf(args, sizeof(args),
           "run -c '%s' --submit '%s' --until-idle "
           "--idle-ms 1500",
           probe_conf("problem-run.conf", &m, &s,
                      "rules.profile = spec\n"
                      "kafka.bootstrap.servers = embedded\n"),
           EXAMPLE);
  worker(&out, args);
  assert_non_null(strstr(out, "\"event\":\"batch parked\""));
  assert_non_null(strstr(out, "\"problem\":\"status 422, title \\\"Schema "
                              "validation failed\\\""));
  assert_null(strstr(out, "123456782"));
  assert_null(strstr(out, "Jansen"));
  free(out);
  stub_stop(&s);
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
      cmocka_unit_test(run_checks_before_starting),
      cmocka_unit_test(certificate_validity_windows),
      cmocka_unit_test(readable_secrets_warned),
      cmocka_unit_test(probe_good_and_broken),
      cmocka_unit_test(same_batch_ids_from_send_and_run_submit),
      cmocka_unit_test(send_shows_the_problem),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
