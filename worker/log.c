/* The one logger (see log.h): each line is streamed to stderr under its
 * lock, JSON or key=value text with the same keys. It writes, never
 * parses, so it needs no JSON tree: a line costs no allocation. */
#include "log.h"

#include <math.h>
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

/* Writes s with each byte that is not part of valid UTF-8 as '?'; bytes
 * for which esc() returns non-zero go through it instead. Nothing is
 * allocated: the logger runs on librdkafka's threads too, and a
 * per-line allocation there cost every such thread a malloc arena (test_
 * pipeline's RSS bound caught 10 MiB more). */
static void put_clean(FILE *o, const char *s, int (*esc)(FILE *, int)) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);
  while(left) {
    size_t n = *p < 0x80 ? 1 : ddas_utf8_seq(p, left);
    if(!n) {
      fputc('?', o);
      n = 1;
    } else if(n > 1 || !esc(o, *p)) {
      fwrite(p, 1, n, o);
    }
    p += n;
    left -= n;
  }
}

/* JSON string escapes (RFC 8259): quote, backslash, control characters. */
static int esc_json(FILE *o, int c) {
  if(c == '"' || c == '\\')
    return fprintf(o, "\\%c", c), 1;
  if(c < 0x20 || c == 0x7f)
    return fprintf(o, "\\u%04x", c), 1;
  return 0;
}

/* Text escapes inside "...": \" \\ and \xNN for control characters. */
static int esc_text(FILE *o, int c) {
  if(c == '"' || c == '\\')
    return fprintf(o, "\\%c", c), 1;
  if(c < 0x20 || c == 0x7f)
    return fprintf(o, "\\x%02x", c), 1;
  return 0;
}

static void json_str(FILE *o, const char *s) {
  fputc('"', o);
  put_clean(o, s, esc_json);
  fputc('"', o);
}

/* A text value: bare when it needs no quoting, else "..." escaped. */
static void text_str(FILE *o, const char *s) {
  const char *p;
  int quote = !*s;
  for(p = s; !quote && *p; p++)
    quote = strchr(" =\"\\", *p) || (unsigned char)*p < 0x20 || *p == 0x7f;
  if(quote)
    fputc('"', o);
  put_clean(o, s, esc_text);
  if(quote)
    fputc('"', o);
}

/* One field's value; `text` picks the text form of strings and arrays. */
static void value(FILE *o, const wk_field *f, int text) {
  long long m;
  switch(f->type) {
  case 's': (text ? text_str : json_str)(o, f->s); break;
  case 'i': fprintf(o, "%lld", f->i); break;
  case 'b': fputs(f->i ? "true" : "false", o); break;
  case 'f':
    if(isfinite(f->f))
      fprintf(o, "%.17g", f->f);
    else
      fputs(text ? "nan" : "null", o); /* JSON has no NaN or infinity */
    break;
  case 'a':
    fputs(text ? "" : "[", o);
    for(m = 0; m < f->i; m++)
      fprintf(o, "%s%d", m ? "," : "", f->a[m]);
    fputs(text ? "" : "]", o);
    break;
  default: fputs(text ? "?" : "null", o); break;
  }
}

static void line(FILE *o, const char *when, int level, const char *event,
                 const wk_field *f, size_t n) {
  size_t k;
  if(json_format) {
    fprintf(o, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":", when,
            level_names[level]);
    json_str(o, event);
  } else {
    fprintf(o, "%s %-5s ", when, level_names[level]);
    ddas_fput_escaped(o, event);
  }
  for(k = 0; k < n; k++) {
    if(f[k].type == 's' && !f[k].s)
      continue;
    if(json_format) {
      fputc(',', o);
      json_str(o, f[k].key);
      fputc(':', o);
    } else {
      fprintf(o, " %s=", f[k].key);
    }
    value(o, &f[k], !json_format);
  }
  fputs(json_format ? "}\n" : "\n", o);
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
  line(stderr, when, level, event, f, n);
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
