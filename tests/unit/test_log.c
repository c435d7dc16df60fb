/* The one logger (worker/log.h), in process: typed values, the same keys
 * in JSON and text, hostile strings kept on one line and valid UTF-8,
 * levels; and events.source (config.h), the ce_source of run and replay. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "log.h"
#include "testutil.h"

static char dir[] = "/tmp/ddas-log-XXXXXX";

/* Runs fn with stderr sent to a file; returns what it wrote. */
static char *capture(void (*fn)(void)) {
  char path[200];
  int saved = dup(2), fd;
  snprintf(path, sizeof(path), "%s/stderr", dir);
  fflush(stderr);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  close(fd);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  return tu_read(path, NULL);
}

static void set_format(const char *format, const char *level) {
  wk_config c;
  wk_config_defaults(&c);
  free(c.log_format);
  free(c.log_level);
  c.log_format = strdup(format);
  c.log_level = strdup(level);
  wk_log_init(&c);
  wk_config_free(&c);
}

static const int parts[] = {0, 1, 5};

static void some_lines(void) {
  WK_LOG(WK_INFO, "delivery processed", WK_STR("delivery_id", "d 1=\"x\"\n"),
         WK_INT("records", 10), WK_INT("big", -9007199254740993LL),
         WK_BOOL("replayed", 1), WK_NUM("seconds", 0.25),
         WK_INTS("partitions", parts, 3), WK_STR("skipped", NULL),
         WK_STR("bad_utf8", "a\xff\xc3"));
  wk_log(WK_WARN, "legacy", "batch_id", "b-1", "none", NULL, NULL);
  WK_LOG(WK_DEBUG, "not shown at info", WK_INT("n", 1));
}

static void json_lines(void **state) {
  char *out, *line, *save = NULL;
  json_t *j, *a;
  (void)state;
  set_format("json", "info");
  out = capture(some_lines);
  line = strtok_r(out, "\n", &save);
  j = json_loads(line, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
  assert_string_equal(json_string_value(json_object_get(j, "event")),
                      "delivery processed");
  assert_string_equal(json_string_value(json_object_get(j, "delivery_id")),
                      "d 1=\"x\"\n");
  /* numbers are numbers (they were strings: "records":"10") */
  assert_true(json_is_integer(json_object_get(j, "records")));
  assert_int_equal(json_integer_value(json_object_get(j, "records")), 10);
  assert_true(json_integer_value(json_object_get(j, "big")) ==
              -9007199254740993LL);
  assert_true(json_is_true(json_object_get(j, "replayed")));
  assert_true(json_real_value(json_object_get(j, "seconds")) == 0.25);
  a = json_object_get(j, "partitions");
  assert_int_equal(json_array_size(a), 3);
  assert_int_equal(json_integer_value(json_array_get(a, 2)), 5);
  assert_null(json_object_get(j, "skipped"));
  /* invalid UTF-8 does not make the line invalid JSON */
  assert_string_equal(json_string_value(json_object_get(j, "bad_utf8")), "a??");
  json_decref(j);
  line = strtok_r(NULL, "\n", &save);
  j = json_loads(line, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(j, "batch_id")), "b-1");
  assert_null(json_object_get(j, "none"));
  json_decref(j);
  assert_null(strtok_r(NULL, "\n", &save)); /* debug is below info */
  free(out);
}

static void text_lines(void **state) {
  char *out, *nl;
  (void)state;
  set_format("text", "debug");
  out = capture(some_lines);
  nl = strchr(out, '\n');
  assert_non_null(nl);
  *nl = '\0';
  /* the same keys as JSON, values quoted only when they must be */
  assert_non_null(strstr(out, " info  delivery processed "
                              "delivery_id=\"d 1=\\\"x\\\"\\x0a\" records=10 "
                              "big=-9007199254740993 replayed=true "
                              "seconds=0.25 partitions=0,1,5 "
                              "bad_utf8=a??"));
  assert_null(strstr(out, "skipped"));
  assert_non_null(strstr(nl + 1, " warn  legacy batch_id=b-1\n"));
  assert_non_null(strstr(nl + 1, " debug not shown at info n=1\n"));
  free(out);
  set_format("json", "info");
}

static void levels(void **state) {
  (void)state;
  set_format("json", "warn");
  assert_false(wk_log_enabled(WK_INFO));
  assert_true(wk_log_enabled(WK_WARN));
  assert_int_equal(wk_log_syslog_level(), 4);
  set_format("json", "debug");
  assert_int_equal(wk_log_syslog_level(), 7);
  set_format("json", "error");
  assert_int_equal(wk_log_syslog_level(), 3);
  set_format("json", "info");
  assert_int_equal(wk_log_syslog_level(), 6);
}

/* events.source: refused with the line when not a URI-reference; when not
 * set, derived from the group id, percent-encoded (it was
 * "urn:ddas-worker:my group" for run and "urn:ddas-worker:replay" for
 * replay). */
static void events_source(void **state) {
  char path[200], err[512];
  wk_config c;
  (void)state;
  snprintf(path, sizeof(path), "%s/w.conf", dir);
  tu_write_file(path, "kafka.group.id = my group\n", 26);
  assert_int_equal(wk_config_load(path, &c, err, sizeof(err)), 0);
  assert_string_equal(c.events_source, "urn:ddas-worker:my%20group");
  wk_config_free(&c);
  tu_write_file(path, "events.source = urn:example:ddas\n", 33);
  assert_int_equal(wk_config_load(path, &c, err, sizeof(err)), 0);
  assert_string_equal(c.events_source, "urn:example:ddas");
  wk_config_free(&c);
  tu_write_file(path, "\nevents.source = urn:example:a b\n", 33);
  assert_int_equal(wk_config_load(path, &c, err, sizeof(err)), -1);
  assert_non_null(strstr(err, ":2"));
  assert_non_null(strstr(err, "events.source must be a URI-reference"));
  wk_config_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_lines),
      cmocka_unit_test(text_lines),
      cmocka_unit_test(levels),
      cmocka_unit_test(events_source),
  };
  int failed;
  if(!mkdtemp(dir))
    return 1;
  failed = cmocka_run_group_tests(tests, NULL, NULL);
  tu_runf(NULL, "rm -rf '%s'", dir);
  return failed;
}
