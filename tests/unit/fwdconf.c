/* See fwdconf.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fwdconf.h"

void tu_setstr(char **slot, const char *v) {
  free(*slot);
  *slot = strdup(v);
  assert_non_null(*slot);
}

static void set_path(char **slot, const char *dir, const char *name) {
  char p[1024];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  tu_setstr(slot, p);
}

void tu_fwd_config(wk_config *c, const char *pki_dir, const char *url,
                   const char *sign_pass) {
  wk_config_defaults(c);
  tu_setstr(&c->cbs_url, url);
  set_path(&c->cbs_ca, pki_dir, "root.pem");
  set_path(&c->cbs_cert, pki_dir, "transport-chain.pem");
  set_path(&c->cbs_key, pki_dir, "transport.key");
  set_path(&c->sign_cert, pki_dir, "signing-chain.pem");
  set_path(&c->sign_key, pki_dir, "signing-enc.key");
  tu_setstr(&c->sign_key_passphrase, sign_pass);
}
