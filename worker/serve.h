/* worker/serve.h: the POST /gegevens server (cmd_serve.c) as a unit that
 * `serve` runs alone and `run --serve` runs beside the pipeline (the only
 * way to serve from the embedded cluster, which lives inside one
 * process). */
#ifndef WK_SERVE_H
#define WK_SERVE_H

#include "config.h"

typedef struct wk_serve wk_serve;

/* Checks the serve.* configuration, loads the signing key, the trust
 * anchors and the introspection client, starts the follower of
 * topic.accepted on `bootstrap` and the HTTPS server (port_file, may be
 * NULL: where to write the bound port). c must outlive the server. Returns
 * 0; 2 after a configuration message on stderr; 1 after a start-up
 * failure. */
int wk_serve_start(const wk_config *c, const char *bootstrap,
                   const char *port_file, wk_serve **out);
/* Stops accepting, finishes requests in progress, stops the follower and
 * frees s (NULL is accepted). */
void wk_serve_stop(wk_serve *s);

#endif
