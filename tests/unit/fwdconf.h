/* tests/unit/fwdconf.h: the forwarder configuration that the tests of
 * worker/ code (test_outbox, test_transfer) start from. */
#ifndef TESTS_FWDCONF_H
#define TESTS_FWDCONF_H

#include "config.h"

/* Replaces *slot with a copy of v (cmocka-fails out of memory). */
void tu_setstr(char **slot, const char *v);
/* A valid configuration for the PKI that tests/pki/make-pki wrote into
 * pki_dir (made with sign_pass): cbs.url = url, mutual TLS with the
 * transport certificate, signing with the encrypted signing key. */
void tu_fwd_config(wk_config *c, const char *pki_dir, const char *url,
                   const char *sign_pass);

#endif
