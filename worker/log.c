/* Structured logging (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int json_format = 1;
static int min_level = WK_INFO;

void wk_log_init(const wk_config *c) {
  json_format = strcmp(c->log_format, "text") != 0;
  min_level = !strcmp(c->log_level, "debug")   ? WK_DEBUG
              : !strcmp(c->log_level, "warn")  ? WK_WARN
              : !strcmp(c->log_level, "error") ? WK_ERROR
                                               : WK_INFO;
}

static void put_json(FILE *f, const char *s) {
  fputc('"', f);
  for(; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if(c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if(c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void wk_log(int level, const char *event, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char when[40];
  struct timeval tv;
  struct tm tm;
  va_list ap;
  const char *k;
  if(level < min_level)
    return;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
           (long)(tv.tv_usec / 1000));
  flockfile(stderr);
  if(json_format) {
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":", when,
            names[level]);
    put_json(stderr, event);
  } else {
    fprintf(stderr, "%s %-5s %s", when, names[level], event);
  }
  va_start(ap, event);
  while((k = va_arg(ap, const char *)) != NULL) {
    const char *v = va_arg(ap, const char *);
    if(!v)
      continue;
    if(json_format) {
      fputc(',', stderr);
      put_json(stderr, k);
      fputc(':', stderr);
      put_json(stderr, v);
    } else {
      fprintf(stderr, " %s=%s", k, v);
    }
  }
  va_end(ap);
  fputs(json_format ? "}\n" : "\n", stderr);
  funlockfile(stderr);
}
