/* The configuration table: file, environment, secrets from files, types,
 * bounds, unknown keys, masking, and the README reference generated from
 * the same table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "testutil.h"

static char dir[] = "/tmp/ddas-config-XXXXXX";

static const char *write_tmp(const char *name, const char *text) {
  static char path[256];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static int load(const char *text, wk_config *c, char *err, size_t n) {
  return wk_config_load(write_tmp("c.conf", text), c, err, n);
}

static void defaults_and_file(void **state) {
  wk_config c;
  char err[512];
  (void)state;
  assert_int_equal(load("# comment\n\n"
                        "cbs.url = https://cbs.example/gegevens\n"
                        "retry.max_attempts = 5\n"
                        "cbs.allow_insecure_http = no\n"
                        "sign.profile = \"body\"\n"
                        "kafka.bootstrap.servers = broker:9092\n"
                        "cbs.header.Fsc-Grant-Hash = abc\n"
                        "rules.kvk.format = warning\n",
                        &c, err, sizeof(err)),
                   0);
  assert_string_equal(c.cbs_url, "https://cbs.example/gegevens");
  assert_int_equal(c.retry_max_attempts, 5);
  assert_int_equal(c.allow_insecure_http, 0);
  assert_string_equal(c.sign_profile, "body");
  assert_int_equal(c.timeout_ms, 120000); /* default */
  assert_string_equal(c.profile, "strict");
  assert_string_equal(c.topic_failed, "ddas.failed");
  assert_string_equal(c.topic_accepted, "ddas.accepted"); /* defaults */
  assert_string_equal(c.cbs_mode, "push");
  assert_int_equal(c.nkafka, 1);
  assert_string_equal(c.kafka[0].name, "bootstrap.servers");
  assert_int_equal(c.nheaders, 1);
  assert_string_equal(c.headers[0].name, "Fsc-Grant-Hash");
  assert_int_equal(c.nrules, 1);
  assert_string_equal(c.rules[0].name, "kvk.format");
  wk_config_free(&c);
}

static void errors_name_the_place(void **state) {
  wk_config c;
  char err[512];
  (void)state;
  assert_int_equal(load("cbs.urll = https://x\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "c.conf:1: unknown key 'cbs.urll'"));
  assert_non_null(strstr(err, "did you mean 'cbs.url'"));
  wk_config_free(&c);
  assert_int_equal(load("\nretry.max_attempts = 0\n", &c, err, sizeof(err)),
                   -1);
  assert_non_null(strstr(err, "c.conf:2: retry.max_attempts must be a whole "
                              "number from 1 to 1000"));
  wk_config_free(&c);
  assert_int_equal(load("sign.profile = jades\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "must be one of adr|body"));
  wk_config_free(&c);
  assert_int_equal(load("\ncbs.mode = pushpull\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "c.conf:2: cbs.mode"));
  assert_non_null(strstr(err, "must be one of push|pull|both"));
  wk_config_free(&c);
  assert_int_equal(
      load("cbs.mode = pull\ntopic.accepted = x.acc\n", &c, err, sizeof(err)),
      0);
  assert_string_equal(c.cbs_mode, "pull");
  assert_string_equal(c.topic_accepted, "x.acc");
  wk_config_free(&c);
  assert_int_equal(load("cbs.url = ftp://x\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "https://"));
  wk_config_free(&c);
  assert_int_equal(load("just words\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "expected 'key = value'"));
  wk_config_free(&c);
  assert_int_equal(load("rules.kvk.format = maybe\n", &c, err, sizeof(err)),
                   -1);
  wk_config_free(&c);
  assert_int_equal(load("cbs.header.Bad Name = x\n", &c, err, sizeof(err)), -1);
  wk_config_free(&c);
  /* the settings the guarantees rest on cannot be overridden */
  assert_int_equal(
      load("kafka.enable.auto.offset.store = true\n", &c, err, sizeof(err)),
      -1);
  assert_non_null(strstr(err, "c.conf:1: kafka.enable.auto.offset.store "
                              "cannot be set: offsets are stored only past "
                              "durable outcomes"));
  wk_config_free(&c);
  assert_int_equal(load("\nkafka.acks = 0\n", &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "c.conf:2: kafka.acks cannot be set"));
  wk_config_free(&c);
  assert_int_equal(
      load("kafka.auto.offset.reset = latest\n", &c, err, sizeof(err)), -1);
  wk_config_free(&c);
  assert_int_equal(
      load("kafka.enable.idempotence = false\n", &c, err, sizeof(err)), -1);
  wk_config_free(&c);
  assert_int_equal(
      load("kafka.enable.auto.commit = false\n", &c, err, sizeof(err)), -1);
  wk_config_free(&c);
  /* others pass through */
  assert_int_equal(
      load("kafka.fetch.message.max.bytes = 65536\n", &c, err, sizeof(err)), 0);
  wk_config_free(&c);
  assert_int_equal(wk_config_load("/nonexistent.conf", &c, err, sizeof(err)),
                   -1);
  assert_non_null(strstr(err, "cannot open"));
  wk_config_free(&c);
}

static void environment_and_secret_files(void **state) {
  wk_config c;
  char err[512], line[300];
  const char *secret_path = write_tmp("secret", "s3cr3t-Value\n");
  (void)state;
  snprintf(line, sizeof(line), "cbs.client_secret_file = %s\n", secret_path);
  setenv("DDAS_RETRY_MAX_ATTEMPTS", "9", 1);
  setenv("DDAS_KAFKA_SECURITY_PROTOCOL", "ssl", 1);
  setenv("DDAS_SIGN_KEY_PASSPHRASE", "pass-from-env", 1);
  assert_int_equal(load(line, &c, err, sizeof(err)), 0);
  unsetenv("DDAS_RETRY_MAX_ATTEMPTS");
  unsetenv("DDAS_KAFKA_SECURITY_PROTOCOL");
  unsetenv("DDAS_SIGN_KEY_PASSPHRASE");
  assert_string_equal(c.client_secret, "s3cr3t-Value");
  assert_int_equal(c.retry_max_attempts, 9);
  assert_string_equal(c.sign_key_passphrase, "pass-from-env");
  assert_int_equal(c.nkafka, 1);
  assert_string_equal(c.kafka[0].name, "security.protocol");
  /* secrets are never printed */
  {
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    wk_config_print(&c, f);
    fclose(f);
    assert_null(strstr(out, "s3cr3t"));
    assert_null(strstr(out, "pass-from-env"));
    assert_non_null(strstr(out, "cbs.client_secret = (set, not shown)"));
    assert_non_null(strstr(out, "retry.max_attempts = 9"));
    free(out);
  }
  assert_true(wk_config_is_secret("cbs.client_secret"));
  assert_false(wk_config_is_secret("cbs.client_id"));
  wk_config_free(&c);
  /* an unreadable secret file is an error that names the key */
  assert_int_equal(
      load("cbs.key_passphrase_file = /nonexistent\n", &c, err, sizeof(err)),
      -1);
  assert_non_null(strstr(err, "cbs.key_passphrase_file"));
  wk_config_free(&c);
}

/* The README's configuration reference is the output of the table. */
static void readme_reference_is_current(void **state) {
  char *readme = tu_read(SOURCE_DIR "/README.md", NULL), *gen = NULL;
  const char *b = "<!-- config-reference:begin -->\n",
             *e = "<!-- config-reference:end -->";
  char *start, *end;
  size_t n = 0;
  FILE *f = open_memstream(&gen, &n);
  (void)state;
  wk_config_reference(f);
  fclose(f);
  start = strstr(readme, b);
  end = strstr(readme, e);
  assert_non_null(start);
  assert_non_null(end);
  start += strlen(b);
  *end = '\0';
  if(strcmp(start, gen) != 0)
    printf("README.md configuration reference is out of date: regenerate "
           "it with `ddas-worker check-config --reference`\n");
  assert_string_equal(start, gen);
  free(gen);
  free(readme);
}

static int setup(void **state) {
  (void)state;
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return tu_runf(NULL, "rm -rf '%s'", dir) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_and_file),
      cmocka_unit_test(errors_name_the_place),
      cmocka_unit_test(environment_and_secret_files),
      cmocka_unit_test(readme_reference_is_current)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
