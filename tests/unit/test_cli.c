/* `ddas-worker validate` as a user runs it: exit codes, standard input,
 * --json, --schema, limits and usage errors. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ddas/ddas.h"
#include "testutil.h"

#define EX SOURCE_DIR "/config/examples/"
#define CASES SOURCE_DIR "/tests/cases/"

static int sh(const char *args, char **out) {
  char cmd[4096];
  snprintf(cmd, sizeof(cmd), "'%s' %s", WORKER_BIN, args);
  return tu_run(cmd, out);
}

static void help_and_usage(void **state) {
  char *out;
  (void)state;
  assert_int_equal(sh("--help", &out), 0);
  assert_non_null(strstr(out, "validate"));
  free(out);
  assert_int_equal(sh("validate --help", &out), 0);
  assert_non_null(strstr(out, "--schema-version"));
  assert_non_null(strstr(out, "Exit status"));
  free(out);
  assert_int_equal(sh("validate 2>&1", &out), 2);
  assert_non_null(strstr(out, "no FILE given"));
  free(out);
  assert_int_equal(sh("frobnicate 2>&1", &out), 2);
  free(out);
  assert_int_equal(
      sh("validate --kind xyz " EX "vs-v0.9-enkelvoudig.json 2>&1", &out), 2);
  assert_non_null(strstr(out, "--kind must be shv or vs"));
  free(out);
  assert_int_equal(sh("validate --kind shv --schema-version 2.0 " EX
                      "shv-v1.0-enkelvoudig.json 2>&1",
                      &out),
                   2);
  assert_non_null(strstr(out, "not known"));
  free(out);
  assert_int_equal(sh("validate --bogus x 2>&1", &out), 2);
  free(out);
}

/* A schema directory that cannot be used stops check-config (and run's
 * start), not the first delivery. */
static void unusable_schema_dir(void **state) {
  char *out, conf[] = "/tmp/ddas-cli-conf-XXXXXX", cmd[600];
  int fd;
  (void)state;
  fd = mkstemp(conf);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "kafka.bootstrap.servers = embedded\n", 35), 35);
  close(fd);
  snprintf(cmd, sizeof(cmd),
           "DDAS_SCHEMA_DIR=/nonexistent '%s' check-config -c %s 2>&1",
           WORKER_BIN, conf);
  assert_int_equal(tu_run(cmd, &out), 2);
  assert_non_null(strstr(out, "the shipped schemas cannot be loaded from "
                              "/nonexistent"));
  assert_non_null(strstr(out, "DDAS_SCHEMA_DIR"));
  free(out);
  snprintf(cmd, sizeof(cmd), "'%s' check-config -c %s 2>&1", WORKER_BIN, conf);
  assert_int_equal(tu_run(cmd, &out), 0);
  assert_non_null(strstr(out, "configuration is usable"));
  free(out);
  unlink(conf);
}

static void exit_codes(void **state) {
  char *out;
  (void)state;
  assert_int_equal(sh("validate --profile spec --color never " EX
                      "shv-v1.0-enkelvoudig.json " EX
                      "vs-v0.9-enkelvoudig.json",
                      &out),
                   0);
  assert_non_null(strstr(out, "shv-v1.0-enkelvoudig.json: valid"));
  assert_non_null(strstr(out, "vroegsignalen: 1"));
  free(out);
  assert_int_equal(sh("validate --color never " EX
                      "shv-v1.0-enkelvoudig.json " CASES
                      "schema/shv10-format-date-feb30.json",
                      &out),
                   1);
  assert_non_null(strstr(out, "INVALID"));
  assert_non_null(strstr(out, "is not a valid date"));
  assert_null(strstr(out, "\033[")); /* --color never */
  free(out);
  assert_int_equal(sh("validate /nonexistent/file.json 2>&1", &out), 2);
  assert_non_null(strstr(out, "cannot open"));
  free(out);
  /* an I/O error outranks an invalid file */
  assert_int_equal(sh("validate -q " CASES
                      "input/empty.json /nonexistent 2>/dev/null",
                      &out),
                   2);
  assert_string_equal(out, "");
  free(out);
}

static void standard_input_and_json(void **state) {
  char *out;
  ddas_json_doc *d;
  ddas_json_error e;
  const ddas_json *r, *f0;
  (void)state;
  assert_int_equal(sh("validate --no-rules --json - < " CASES
                      "schema/vs09-required-ID.json",
                      &out),
                   1);
  assert_int_equal(ddas_json_parse(out, strlen(out), NULL, &d, &e), DDAS_OK);
  r = ddas_json_root(d);
  assert_int_equal(ddas_json_get(r, "valid")->type, DDAS_JSON_FALSE);
  assert_memory_equal(ddas_json_get(r, "kind")->u.str, "vs", 2);
  assert_memory_equal(ddas_json_get(r, "file")->u.str, "(standard input)", 16);
  assert_true(ddas_json_get(r, "errors")->u.num == 1);
  assert_true(ddas_json_get(r, "records")->u.num == 1);
  f0 = &ddas_json_get(r, "findings")->u.items[0];
  assert_memory_equal(ddas_json_get(f0, "keyword")->u.str, "required", 8);
  assert_memory_equal(ddas_json_get(f0, "pointer")->u.str,
                      "/leveringen/0/vroegsignalen/0", 29);
  assert_true(ddas_json_get(f0, "levering")->u.num == 0);
  assert_true(ddas_json_get(f0, "record")->u.num == 0);
  assert_non_null(ddas_json_get(f0, "schema_pointer"));
  ddas_json_doc_free(d);
  free(out);
  /* a syntax error carries its position */
  assert_int_equal(
      sh("validate --json " CASES "input/trailing-comma.json", &out), 1);
  assert_non_null(strstr(out, "\"rule\":\"json.syntax\""));
  assert_non_null(strstr(out, "\"line\":"));
  free(out);
}

static void custom_schema(void **state) {
  char *out;
  char path[] = "/tmp/ddas-test-schema-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  char cmd[1024];
  (void)state;
  fputs("{\"type\":\"object\",\"required\":[\"leveringen\",\"eigenVeld\"]}", f);
  fclose(f);
  snprintf(cmd, sizeof(cmd),
           "validate --json --schema %s " EX "shv-v1.0-enkelvoudig.json", path);
  assert_int_equal(sh(cmd, &out), 1);
  assert_non_null(strstr(out, "required member 'eigenVeld' is missing"));
  assert_non_null(strstr(out, "\"kind\":null"));
  free(out);
  f = fopen(path, "w");
  fputs("{\"properties\":{\"x\":{\"pattern\":\"a\"}}}", f);
  fclose(f);
  snprintf(cmd, sizeof(cmd),
           "validate --schema %s " EX "shv-v1.0-enkelvoudig.json 2>&1", path);
  assert_int_equal(sh(cmd, &out), 2);
  assert_non_null(strstr(out, "keyword 'pattern' is not supported"));
  assert_non_null(strstr(out, "#/properties/x"));
  free(out);
  snprintf(cmd, sizeof(cmd), "validate --schema %s --kind shv x.json 2>&1",
           path);
  assert_int_equal(sh(cmd, &out), 2);
  free(out);
  remove(path);
}

static void limits(void **state) {
  char *out;
  (void)state;
  assert_int_equal(
      sh("validate --max-size 100 " EX "shv-v1.0-enkelvoudig.json 2>&1", &out),
      2);
  assert_non_null(strstr(out, "larger than the limit of 100 bytes"));
  free(out);
  assert_int_equal(sh("validate --max-size lots x 2>&1", &out), 2);
  free(out);
  /* a regular file over --max-size is refused from its size: a sparse 2 GB
   * file used to be read into 1 GB of memory first (5 s) */
  {
    char path[] = "/tmp/ddas-test-big-XXXXXX", cmd[256];
    struct rusage ru;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)2 << 30), 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "validate %s 2>&1", path);
    assert_int_equal(sh(cmd, &out), 2);
    assert_non_null(strstr(out, "larger than the limit of 1073741824 bytes"));
    free(out);
    remove(path);
    /* every child so far, this one included, stayed far below 1 GB */
    assert_int_equal(getrusage(RUSAGE_CHILDREN, &ru), 0);
    assert_true(ru.ru_maxrss < 256L * 1024);
  }
  /* the parse's memory budget */
  assert_int_equal(sh("validate --json --max-memory 1000 " EX
                      "shv-v1.0-enkelvoudig.json",
                      &out),
                   1);
  assert_non_null(strstr(out, "\"keyword\":\"memory-limit\""));
  assert_non_null(strstr(out, "limit of 1000 bytes (as set)"));
  free(out);
  assert_int_equal(sh("validate --max-memory 0 x 2>&1", &out), 2);
  assert_non_null(strstr(out, "--max-memory takes a size"));
  free(out);
  assert_int_equal(
      sh("validate --max-depth 3 --json " EX "shv-v1.0-enkelvoudig.json", &out),
      1);
  assert_non_null(strstr(out, "\"keyword\":\"depth\""));
  free(out);
  assert_int_equal(sh("validate --schema-dir /nonexistent " EX
                      "shv-v1.0-enkelvoudig.json 2>&1",
                      &out),
                   2);
  assert_non_null(strstr(out, "cannot open the schema file"));
  free(out);
}

static void profiles_rules_and_normalised_out(void **state) {
  char *out;
  char path[] = "/tmp/ddas-test-norm-XXXXXX";
  char cmd[1024];
  int fd = mkstemp(path);
  (void)state;
  close(fd);
  /* strict (the default) rejects the example's made-up BSN */
  assert_int_equal(sh("validate --json " EX "shv-v1.0-enkelvoudig.json", &out),
                   1);
  assert_non_null(strstr(out, "\"profile\":\"strict\""));
  assert_non_null(strstr(out, "\"rule\":\"client.bsn.elfproef\""));
  assert_non_null(strstr(out, "\"scope\":\"traject\""));
  free(out);
  assert_int_equal(sh("validate --profile spec --json " EX
                      "shv-v1.0-enkelvoudig.json",
                      &out),
                   0);
  assert_non_null(strstr(out, "\"accepted\":1"));
  assert_non_null(strstr(out, "toekenningsdatum.consistent"));
  free(out);
  assert_int_equal(sh("validate --rule client.bsn.elfproef=off --rule "
                      "gemeentecode.format=warning " EX
                      "shv-v1.0-enkelvoudig.json",
                      &out),
                   0);
  free(out);
  assert_int_equal(
      sh("validate --rule bsn=off " EX "shv-v1.0-enkelvoudig.json 2>&1", &out),
      2);
  assert_non_null(strstr(out, "did you mean"));
  free(out);
  assert_int_equal(sh("validate --list-rules", &out), 0);
  assert_non_null(strstr(out, "vs.zaak.ref"));
  free(out);
  /* the accepted, normalised delivery: v0.9 in, valid v1.0 out */
  snprintf(cmd, sizeof(cmd),
           "validate --profile spec --code-gegevensleverancier 'Acme 4.2' "
           "--normalised-out %s " EX "shv-v0.9-enkelvoudig.json",
           path);
  assert_int_equal(sh(cmd, &out), 0);
  assert_non_null(strstr(out, "N3 1"));
  assert_non_null(strstr(out, "envelope.filled"));
  assert_non_null(strstr(out, "upgrade.dropped"));
  free(out);
  { /* the configured code, never a made-up one */
    char *written = tu_read(path, NULL);
    assert_non_null(
        strstr(written, "\"codeGegevensleverancier\":\"Acme 4.2\""));
    assert_null(strstr(written, "ddas-worker"));
    free(written);
  }
  /* without it the v0.9 example cannot become v1.0: nothing is written */
  snprintf(cmd, sizeof(cmd),
           "validate --profile spec --normalised-out %s.no " EX
           "shv-v0.9-enkelvoudig.json 2>&1",
           path);
  assert_int_equal(sh(cmd, &out), 1);
  assert_non_null(strstr(out, "envelope.missing"));
  assert_non_null(strstr(out, "not written"));
  free(out);
  assert_int_equal(sh("validate --delivered-at yesterday " EX
                      "shv-v0.9-enkelvoudig.json 2>&1",
                      &out),
                   2);
  free(out);
  snprintf(cmd, sizeof(cmd),
           "validate --profile spec --kind shv --schema-version 1.0 --json %s",
           path);
  assert_int_equal(sh(cmd, &out), 0);
  assert_non_null(strstr(out, "\"valid\":true"));
  free(out);
  remove(path);
}

/* `help [COMMAND]`, `version`/`--version` and getopt errors: the command is
 * named and the closest option suggested (issue 12, item 6). */
static void cli_conventions(void **state) {
  char *out, *out2, hash[64] = "";
  (void)state;
  assert_int_equal(sh("help", &out), 0);
  assert_non_null(strstr(out, "healthcheck"));
  assert_non_null(strstr(out, "version"));
  free(out);
  assert_int_equal(sh("help validate", &out), 0);
  assert_non_null(strstr(out, "--schema-version"));
  free(out);
  assert_int_equal(sh("help valdate 2>&1", &out), 2);
  assert_non_null(strstr(out, "unknown command 'valdate' (did you mean "
                              "'validate'?)"));
  free(out);
  assert_int_equal(sh("frobnicate 2>&1", &out), 2);
  assert_non_null(strstr(out, "unknown command 'frobnicate'"));
  free(out);
  /* version: the program, the commit, the libraries; --version the same */
  assert_int_equal(sh("version", &out), 0);
  assert_int_equal(sh("--version", &out2), 0);
  assert_string_equal(out, out2);
  free(out2);
  assert_int_equal(strncmp(out, "ddas-worker ", 12), 0);
  assert_non_null(strstr(out, "\nlibrdkafka "));
  assert_non_null(strstr(out, "\nlibcurl "));
  assert_non_null(strstr(out, "\nOpenSSL "));
  assert_non_null(strstr(out, "\njansson "));
  if(tu_runf(&out2, "git -C '%s' rev-parse --short=12 HEAD 2>/dev/null",
             SOURCE_DIR) == 0 &&
     sscanf(out2, "%63s", hash) == 1 &&
     tu_runf(NULL,
             "git -C '%s' describe --tags --exact-match >/dev/null "
             "2>&1",
             SOURCE_DIR) != 0 &&
     !strstr(out, hash)) {
    /* built from this commit (a commit after the last build fails this:
     * rebuild, the build records the commit again) */
    fprintf(stderr,
            "version names another commit than HEAD %s (rebuild "
            "after committing): %s",
            hash, out);
    fail();
  }
  free(out2);
  free(out);
  /* option errors */
  assert_int_equal(sh("run --cofnig x 2>&1", &out), 2);
  assert_non_null(strstr(out, "ddas-worker run: unknown option '--cofnig' "
                              "(did you mean '--config'?)"));
  assert_non_null(strstr(out, "Try 'ddas-worker run --help'."));
  free(out);
  assert_int_equal(sh("validate --shema-dir x y 2>&1", &out), 2);
  assert_non_null(strstr(out, "ddas-worker validate: unknown option "
                              "'--shema-dir' (did you mean '--schema-dir'?)"));
  free(out);
  assert_int_equal(sh("submit -c 2>&1", &out), 2);
  assert_non_null(strstr(out, "ddas-worker submit: option '-c' needs a "
                              "value"));
  free(out);
  assert_int_equal(sh("check-config --print=yes 2>&1", &out), 2);
  assert_non_null(
      strstr(out, "ddas-worker check-config: option '--print' takes no value"));
  free(out);
  assert_int_equal(sh("validate --max 5 x 2>&1", &out), 2);
  assert_non_null(strstr(out, "'--max' is ambiguous"));
  free(out);
  assert_int_equal(sh("replay -z 2>&1", &out), 2);
  assert_non_null(strstr(out, "ddas-worker replay: unknown option '-z'"));
  free(out);
}

/* A tiny admin endpoint: /healthz answers 200, everything else 503 with a
 * reason; its port goes to argv[1] (written atomically). */
static const char fake_admin[] =
    "import http.server, os, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        ok = self.path == '/healthz'\n"
    "        self.send_response(200 if ok else 503)\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'ok\\n' if ok else b'not ready: Kafka "
    "unreachable\\n')\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "open(sys.argv[1] + '.tmp', 'w').write('%d\\n' % s.server_port)\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "s.serve_forever()\n";

/* `healthcheck` for Docker's HEALTHCHECK (issue 12, item 7): 0 on 200, 1
 * on another answer or none, 2 on a usage or configuration error; -c takes
 * admin.listen from the configuration, a wildcard host asked on loopback. */
static void healthcheck(void **state) {
  char dir[] = "/tmp/ddas-cli-hc-XXXXXX", cmd[1400], *out;
  int port, pid;
  (void)state;
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof(cmd), "%s/admin.py", dir);
  tu_write_file(cmd, fake_admin, strlen(fake_admin));
  assert_int_equal(tu_runf(&out,
                           "/usr/bin/python3 %s/admin.py %s/port >/dev/null "
                           "2>&1 & echo $!",
                           dir, dir),
                   0);
  pid = atoi(out);
  free(out);
  snprintf(cmd, sizeof(cmd), "%s/port", dir);
  port = tu_wait_port_file(cmd, 10000);
  assert_true(port > 0);

  snprintf(cmd, sizeof(cmd), "healthcheck --address 127.0.0.1:%d", port);
  assert_int_equal(sh(cmd, &out), 0);
  assert_non_null(strstr(out, "/healthz: 200 ok"));
  free(out);
  snprintf(cmd, sizeof(cmd), "healthcheck --address 127.0.0.1:%d --ready",
           port);
  assert_int_equal(sh(cmd, &out), 1);
  assert_non_null(strstr(out, "/readyz: 503 not ready: Kafka unreachable"));
  free(out);
  /* -c: admin.listen of the file, 0.0.0.0 asked on 127.0.0.1 */
  snprintf(cmd, sizeof(cmd),
           "printf 'kafka.bootstrap.servers = embedded\\nadmin.listen = "
           "0.0.0.0:%d\\n' > %s/w.conf",
           port, dir);
  assert_int_equal(tu_run(cmd, NULL), 0);
  snprintf(cmd, sizeof(cmd), "healthcheck -c %s/w.conf", dir);
  assert_int_equal(sh(cmd, &out), 0);
  assert_non_null(strstr(out, "http://127.0.0.1:"));
  free(out);
  /* a configuration without an admin endpoint is a configuration error */
  snprintf(cmd, sizeof(cmd),
           "printf 'kafka.bootstrap.servers = embedded\\n' > %s/n.conf", dir);
  assert_int_equal(tu_run(cmd, NULL), 0);
  snprintf(cmd, sizeof(cmd), "healthcheck -c %s/n.conf 2>&1", dir);
  assert_int_equal(sh(cmd, &out), 2);
  assert_non_null(strstr(out, "sets no admin.listen"));
  free(out);
  kill(pid, SIGTERM);
  /* nobody listens any more: unhealthy, not a hang */
  {
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
  }
  snprintf(cmd, sizeof(cmd), "healthcheck --address 127.0.0.1:%d --timeout 2",
           port);
  assert_int_equal(sh(cmd, &out), 1);
  assert_non_null(strstr(out, "unreachable"));
  free(out);
  assert_int_equal(sh("healthcheck --address nocolon 2>&1", &out), 2);
  free(out);
  tu_runf(NULL, "rm -rf '%s'", dir);
}

/* ddas-worker(1) describes every command and every option that a
 * command's --help lists (roff writes '-' as '\-'). */
static void man_page_complete(void **state) {
  static const char *const cmds[] = {
      "run",  "submit",       "replay",      "status", "validate",
      "send", "check-config", "healthcheck", "serve",  "verify"};
  char *page = tu_read(SOURCE_DIR "/man/ddas-worker.1", NULL), *out, *p;
  size_t i, missing = 0;
  (void)state;
  assert_non_null(page);
  for(i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    char cmd[64], want[128];
    snprintf(want, sizeof(want), ".SS %s\n", cmds[i]);
    if(!strstr(page, want)) {
      fprintf(stderr, "man/ddas-worker.1 has no section for %s\n", cmds[i]);
      missing++;
    }
    snprintf(cmd, sizeof(cmd), "%s --help", cmds[i]);
    assert_int_equal(sh(cmd, &out), 0);
    for(p = strstr(out, "--"); p; p = strstr(p + 2, "--")) {
      char opt[64], roff[128];
      size_t n = 0, w = 0, k;
      while(n < sizeof(opt) - 1 &&
            (p[2 + n] == '-' || (p[2 + n] >= 'a' && p[2 + n] <= 'z')))
        n++;
      if(n == 0)
        continue;
      memcpy(opt, p + 2, n);
      opt[n] = '\0';
      w = (size_t)snprintf(roff, sizeof(roff), "\\-\\-");
      for(k = 0; k < n && w + 3 < sizeof(roff); k++) {
        if(opt[k] == '-')
          roff[w++] = '\\';
        roff[w++] = opt[k];
      }
      roff[w] = '\0';
      if(!strstr(page, roff)) {
        fprintf(stderr, "man/ddas-worker.1 does not describe %s --%s\n",
                cmds[i], opt);
        missing++;
      }
    }
    free(out);
  }
  free(page);
  assert_int_equal(missing, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(help_and_usage),
      cmocka_unit_test(cli_conventions),
      cmocka_unit_test(healthcheck),
      cmocka_unit_test(man_page_complete),
      cmocka_unit_test(exit_codes),
      cmocka_unit_test(unusable_schema_dir),
      cmocka_unit_test(standard_input_and_json),
      cmocka_unit_test(custom_schema),
      cmocka_unit_test(limits),
      cmocka_unit_test(profiles_rules_and_normalised_out)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
