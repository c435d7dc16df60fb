/* `ddas-worker verify`: checks the Digest and nlgov-adr-payload-sig of a
 * signed message (a batch, a POST /gegevens request or answer) with the
 * core's verifier (ddas_verify of ddas/sign.h), the one the CBS stub and
 * `serve` use. For on-boarding and support: "does this message verify
 * against these trust anchors, and if not, why". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd.h"
#include "ddas/sign.h"
#include "io.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker verify --trust CA.pem --digest VALUE\n"
          "                          --signature VALUE [--at UNIX] FILE\n"
          "\n"
          "Verifies a signed message: FILE (\"-\": standard input) holds its\n"
          "body, exactly as received; VALUE are its Digest and\n"
          "nlgov-adr-payload-sig header values. Checks the digest, the JWS\n"
          "header (PS256; the adr or body profile), the certificate chain\n"
          "to the trust anchors in CA.pem at the time --at (default: now)\n"
          "and the signature. Prints the profile, kid and x5t#S256, or why\n"
          "it does not verify.\n"
          "\n"
          "Exit status: 0 verified, 1 not verified, 2 usage error.\n");
}

int wk_cmd_verify(int argc, char **argv) {
  static const struct option opts[] = {
      {"trust", required_argument, NULL, 't'},
      {"digest", required_argument, NULL, 'd'},
      {"signature", required_argument, NULL, 's'},
      {"at", required_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *trust_path = NULL, *digest = NULL, *sig = NULL;
  long long at = (long long)time(NULL);
  ddas_http_header h[2];
  ddas_truststore *trust = NULL;
  ddas_verified info;
  wk_file body;
  char err[512], *end;
  int o, rc;
  optind = 1;
  while((o = wk_getopt(argc, argv, "h", opts, "verify")) != -1) {
    switch(o) {
    case 't': trust_path = optarg; break;
    case 'd': digest = optarg; break;
    case 's': sig = optarg; break;
    case 'a':
      at = strtoll(optarg, &end, 10);
      if(*end || at < 0) {
        fprintf(stderr, "ddas-worker verify: --at needs Unix seconds\n");
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: return 2;
    }
  }
  if(!trust_path || !digest || !sig || optind + 1 != argc) {
    fprintf(stderr, "ddas-worker verify: needs --trust, --digest, "
                    "--signature and one FILE; try 'ddas-worker verify "
                    "--help'\n");
    return 2;
  }
  if(ddas_truststore_load(trust_path, &trust, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker verify: %s: %s\n", trust_path, err);
    return 2;
  }
  if(wk_file_read(argv[optind], (size_t)1 << 31, &body, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker verify: %s\n", err);
    ddas_truststore_free(trust);
    return 2;
  }
  h[0].name = "Digest";
  h[0].value = digest;
  h[1].name = "nlgov-adr-payload-sig";
  h[1].value = sig;
  if(ddas_verify(trust, h, 2, body.data, body.len, at, &info, err,
                 sizeof(err)) == DDAS_OK) {
    printf("verified: profile %s, kid %s, x5t#S256 %s\n",
           ddas_sig_profile_name(info.profile), info.kid, info.thumbprint);
    rc = 0;
  } else {
    printf("not verified: %s\n", err);
    rc = 1;
  }
  wk_file_release(&body);
  ddas_truststore_free(trust);
  return rc;
}
