/* core/events_int.h: the event-building helpers of events.c, shared with
 * the builders of accepted.c (not a public header). Same contracts as the
 * builders' own: DDAS_ERR_NOMEM when an allocation fails, the event is
 * left for the caller to clear. */
#ifndef DDAS_EVENTS_INT_H
#define DDAS_EVENTS_INT_H

#include <stdint.h>

#include "ddas/events.h"

/* Room for the headers of one event, and key (made valid UTF-8; NULL:
 * none). e must be empty. */
ddas_result ddas_ev_start(ddas_event *e, const char *key);
/* Appends header name = value (value made valid UTF-8). */
ddas_result ddas_ev_header(ddas_event *e, const char *name, const char *value);
/* Appends header name = v in decimal. */
ddas_result ddas_ev_header_uint(ddas_event *e, const char *name, uintmax_t v);

#endif
