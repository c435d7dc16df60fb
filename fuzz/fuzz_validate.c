/* fuzz_validate: ddas_validate_buffer with the shipped DDAS schemas
 * (SCHEMA_DIR), schema only and with the business rules and every
 * normalisation, then the batcher: every batch must be well-formed JSON.
 * The body is fz_validate() in targets.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if(fz_validate_init(SCHEMA_DIR)) {
    fprintf(stderr, "fuzz_validate: cannot load the schemas of %s\n",
            SCHEMA_DIR);
    exit(1);
  }
  atexit(fz_validate_cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_validate(data, size);
  return 0;
}
