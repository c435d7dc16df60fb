/* The one logger (see log.h). JSON lines are built as jansson objects (the
 * project's JSON writer) and dumped whole; text lines are key=value with
 * the same keys. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ddas/text.h"

/* Set once at start (wk_log_init), before any thread logs; read-only
 * afterwards. */
static int json_format = 1;
static int min_level = WK_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void wk_log_init(const wk_config *c) {
  json_format = strcmp(c->log_format, "text") != 0;
  min_level = !strcmp(c->log_level, "debug")   ? WK_DEBUG
              : !strcmp(c->log_level, "warn")  ? WK_WARN
              : !strcmp(c->log_level, "error") ? WK_ERROR
                                               : WK_INFO;
}

int wk_log_enabled(int level) { return level >= min_level; }

int wk_log_syslog_level(void) {
  static const int syslog[] = {7, 6, 4, 3};
  return syslog[min_level];
}

/* A copy of s that is valid UTF-8 (invalid bytes become '?'), or NULL. */
static char *clean_copy(const char *s) {
  char *c = strdup(s);
  if(c)
    ddas_utf8_sanitize(c);
  return c;
}

static json_t *json_text(const char *s) {
  json_t *v = json_string(s);
  if(!v) { /* not valid UTF-8 */
    char *c = clean_copy(s);
    v = c ? json_string(c) : NULL;
    free(c);
  }
  return v;
}

static json_t *json_field(const wk_field *f) {
  json_t *a;
  long long k;
  switch(f->type) {
  case 's': return json_text(f->s);
  case 'i': return json_integer((json_int_t)f->i);
  case 'b': return json_boolean(f->i);
  case 'f': return json_real(f->f);
  case 'a':
    a = json_array();
    for(k = 0; a && k < f->i; k++)
      if(json_array_append_new(a, json_integer(f->a[k]))) {
        json_decref(a);
        return NULL;
      }
    return a;
  }
  return json_null();
}

static void line_json(FILE *o, const char *when, int level, const char *event,
                      const wk_field *f, size_t n) {
  json_t *j = json_object();
  size_t k;
  if(!j || json_object_set_new(j, "time", json_string(when)) ||
     json_object_set_new(j, "level", json_string(level_names[level])) ||
     json_object_set_new(j, "event", json_text(event)))
    goto nomem;
  for(k = 0; k < n; k++)
    if((f[k].type != 's' || f[k].s) &&
       json_object_set_new(j, f[k].key, json_field(&f[k])))
      goto nomem;
  if(json_dumpf(j, o, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0) {
    fputc('\n', o);
    json_decref(j);
    return;
  }
nomem: /* still one valid line, without the fields */
  json_decref(j);
  fprintf(o,
          "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"log line lost: out "
          "of memory\"}\n",
          when, level_names[level]);
}

/* A text value: bare when it needs no quoting, else "..." with \" \\ and
 * \xNN for control characters. */
static void text_value(FILE *o, const char *s) {
  char *c = clean_copy(s);
  const char *p = c ? c : "?";
  int quote = !*p || strpbrk(p, " =\"\\") != NULL;
  for(; !quote && *p; p++)
    quote = (unsigned char)*p < 0x20 || *p == 0x7f;
  if(!quote) {
    fputs(c, o);
    free(c);
    return;
  }
  fputc('"', o);
  for(p = c ? c : "?"; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if(ch == '"' || ch == '\\')
      fprintf(o, "\\%c", ch);
    else if(ch < 0x20 || ch == 0x7f)
      fprintf(o, "\\x%02x", ch);
    else
      fputc(ch, o);
  }
  fputc('"', o);
  free(c);
}

static void line_text(FILE *o, const char *when, int level, const char *event,
                      const wk_field *f, size_t n) {
  size_t k;
  long long m;
  fprintf(o, "%s %-5s ", when, level_names[level]);
  ddas_fput_escaped(o, event);
  for(k = 0; k < n; k++) {
    if(f[k].type == 's' && !f[k].s)
      continue;
    fprintf(o, " %s=", f[k].key);
    switch(f[k].type) {
    case 's': text_value(o, f[k].s); break;
    case 'i': fprintf(o, "%lld", f[k].i); break;
    case 'b': fputs(f[k].i ? "true" : "false", o); break;
    case 'f': fprintf(o, "%.17g", f[k].f); break;
    case 'a':
      for(m = 0; m < f[k].i; m++)
        fprintf(o, "%s%d", m ? "," : "", f[k].a[m]);
      break;
    }
  }
  fputc('\n', o);
}

void wk_log_fields(int level, const char *event, const wk_field *f, size_t n) {
  char when[40];
  struct timeval tv;
  struct tm tm;
  if(level < WK_DEBUG || level > WK_ERROR || level < min_level)
    return;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
           (long)(tv.tv_usec / 1000));
  flockfile(stderr);
  if(json_format)
    line_json(stderr, when, level, event, f, n);
  else
    line_text(stderr, when, level, event, f, n);
  fflush(stderr);
  funlockfile(stderr);
}

void wk_log(int level, const char *event, ...) {
  wk_field f[32];
  size_t n = 0;
  const char *k;
  va_list ap;
  va_start(ap, event);
  while((k = va_arg(ap, const char *)) != NULL) {
    const char *v = va_arg(ap, const char *);
    if(n < sizeof(f) / sizeof(f[0]))
      f[n++] = WK_STR(k, v);
  }
  va_end(ap);
  wk_log_fields(level, event, f, n);
}
