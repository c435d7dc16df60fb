/* worker/startcheck.h: the one start-up check, used by `check-config` and
 * by every command before it starts anything (admin endpoint, embedded
 * cluster, consumer): what is wrong is said once, at start, with the file,
 * line and key to change, instead of on the first delivery. */
#ifndef WK_STARTCHECK_H
#define WK_STARTCHECK_H

#include <stdio.h>

#include "config.h"
#include "ddas/schema.h"

enum {
  /* every kafka.* key set in a librdkafka configuration one by one (an
   * unknown property with file:line and the closest known one; an invalid
   * value with librdkafka's reason), then a producer and a consumer built
   * from them all (without brokers: nothing is contacted); the validity
   * window of kafka.ssl.certificate.location */
  WK_CHECK_KAFKA = 1u,
  /* every shipped schema loaded and compiled (wk_schemas_load) */
  WK_CHECK_SCHEMAS = 2u,
  /* with cbs.url set: the forwarder's checks (URL, certificates' validity
   * windows, key/certificate pairs, separate signing key; forward.h) */
  WK_CHECK_CBS = 4u,
  /* warnings only: private keys, secret files, and a configuration file
   * holding a secret inline, that others than the owner may read */
  WK_CHECK_FILES = 8u,
  WK_CHECK_ALL = 15u
};

/* Runs the checks in `what` on c (borrowed). Warnings go to the logger
 * (wk_log) and are counted in *warnings (may be NULL). With
 * WK_CHECK_SCHEMAS and set not NULL, the loaded schema set is handed to
 * the caller (who frees it); else it is freed. 0, or -1 with a message in
 * err naming the place and what to change. Secret values never appear. */
int wk_startcheck(const wk_config *c, unsigned what, ddas_schemaset **set,
                  unsigned *warnings, char *err, size_t errlen);

/* `check-config --probe`: asks the brokers for metadata (within
 * timeout_ms), the token endpoint for a token and CBS for an HTTP answer
 * over TLS, one line each on out ("probe kafka: ok: …" / "probe kafka:
 * FAILED: …" / "probe token: skipped: …"). Returns the number of probes
 * that failed. */
int wk_probe(const wk_config *c, int timeout_ms, FILE *out);

#endif
