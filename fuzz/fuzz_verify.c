/* fuzz_verify: ddas_verify (the CBS side of the Digest and
 * nlgov-adr-payload-sig headers) with fuzzed header values and body against
 * the trust store of a test PKI made at start-up by tests/pki/make-pki (in a
 * temporary directory, removed at exit). Input format: see fz_verify() in
 * targets.h.
 *
 * With DDAS_FUZZ_VERIFY_SEEDS=DIR set, it writes correctly signed inputs
 * into DIR and exits (fuzz/seed uses this). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *seeds = getenv("DDAS_FUZZ_VERIFY_SEEDS");
  size_t n;
  (void)argc;
  (void)argv;
  if(fz_verify_init(SOURCE_DIR)) {
    fz_verify_cleanup();
    exit(1);
  }
  atexit(fz_verify_cleanup);
  if(seeds && *seeds) {
    n = fz_verify_seeds(seeds);
    fprintf(stderr, "fuzz_verify: %zu seeds written to %s\n", n, seeds);
    exit(n ? 0 : 1);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)fz_verify(data, size);
  return 0;
}
