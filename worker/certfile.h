/* worker/certfile.h: the validity window of the certificates in a PEM
 * file, for the forwarder's start-up checks (cbs.cert, sign.cert) and the
 * start-up check of kafka.ssl.certificate.location (startcheck.c). */
#ifndef WK_CERTFILE_H
#define WK_CERTFILE_H

#include <stddef.h>

#define WK_CERT_WARN_S (30 * 86400) /* a warning this long before expiry */

/* Checks the validity window of every certificate in the PEM file `path`
 * (of the configuration key `key`) against the clock (ddas/checks.h).
 * Returns -1 with the message in err for one not yet valid (with the day it
 * starts) or expired (with the day it ended), naming the key to change;
 * else 0, with a warning in warn when one expires within WK_CERT_WARN_S
 * (else warn is ""). A file without certificates passes: reading it is
 * the caller's check. */
int wk_cert_file_window(const char *key, const char *path, char *warn,
                        size_t warncap, char *err, size_t errlen);

#endif
