/* worker/log.h: the one logger of ddas-worker: structured lines on stderr.
 *
 * Every line is one event: JSON ({"time","level","event", fields...}) or
 * text (`TIME LEVEL EVENT key=value ...`), per log.format, with the same
 * keys in both; levels per log.level. Numbers are JSON numbers (text: bare
 * digits), strings are JSON strings made valid UTF-8 (text: quoted when
 * they hold a space, '=', '"' or a control character). A line is written
 * whole under the stderr lock, so threads (the senders, librdkafka's own
 * threads) never interleave. librdkafka's log lines come here too
 * (wk_kafka_conf routes them), as event "librdkafka" with the fields
 * facility, client and message.
 *
 * Callers pass identifiers and counts only: a delivery id, a batch id, a
 * topic/partition/offset, numbers. Never a value from a delivery, a secret
 * or a token. */
#ifndef WK_LOG_H
#define WK_LOG_H

#include <stddef.h>

#include "config.h"

enum { WK_DEBUG = 0, WK_INFO, WK_WARN, WK_ERROR };

/* Reads log.format and log.level. Before it: JSON, info. */
void wk_log_init(const wk_config *c);
/* 1 when a line of `level` would be written. */
int wk_log_enabled(int level);
/* The syslog level (3 error .. 7 debug) that matches log.level, for
 * librdkafka's log_level. */
int wk_log_syslog_level(void);

/* Logs `event` with NULL-terminated pairs of field name and value
 * (strings); a value NULL skips the pair. Kept for callers that have only
 * strings; new code uses WK_LOG. */
void wk_log(int level, const char *event, ...);

/* A typed field of WK_LOG. Build them with the macros below. */
typedef struct {
  const char *key;
  char type;     /* 's' string, 'i' integer, 'b' boolean, 'f' number,
                    'a' array of integers */
  const char *s; /* 's'; NULL: the field is left out */
  long long i;   /* 'i', 'b' */
  double f;      /* 'f' */
  const int *a;  /* 'a': a[0..i) */
} wk_field;

#define WK_STR(k, v) ((wk_field){(k), 's', (v), 0, 0.0, NULL})
#define WK_INT(k, v) ((wk_field){(k), 'i', NULL, (long long)(v), 0.0, NULL})
#define WK_BOOL(k, v) ((wk_field){(k), 'b', NULL, (v) ? 1 : 0, 0.0, NULL})
#define WK_NUM(k, v) ((wk_field){(k), 'f', NULL, 0, (double)(v), NULL})
#define WK_INTS(k, arr, n)                                                     \
  ((wk_field){(k), 'a', NULL, (long long)(n), 0.0, (arr)})

/* Logs `event` with n typed fields, in order. */
void wk_log_fields(int level, const char *event, const wk_field *f, size_t n);

/* WK_LOG(WK_INFO, "delivery processed", WK_STR("delivery_id", id),
 *        WK_INT("records", n)): at least one field (wk_log(level, event,
 * NULL) for none). */
#define WK_LOG(level, event, ...)                                              \
  wk_log_fields((level), (event), (const wk_field[]){__VA_ARGS__},             \
                sizeof((const wk_field[]){__VA_ARGS__}) / sizeof(wk_field))

#endif
