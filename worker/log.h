/* worker/log.h: structured log lines on stderr.
 *
 * JSON lines ({"time","level","event", fields...}) or text, per log.format;
 * levels per log.level. Callers pass identifiers and counts only: a
 * delivery id, a batch id, a topic/partition/offset, numbers. Never a value
 * from a delivery, a secret or a token. */
#ifndef WK_LOG_H
#define WK_LOG_H

#include "config.h"

enum { WK_DEBUG = 0, WK_INFO, WK_WARN, WK_ERROR };

void wk_log_init(const wk_config *c);
/* Logs `event` with NULL-terminated pairs of field name and value
 * (strings); a value NULL skips the pair. */
void wk_log(int level, const char *event, ...);

#endif
