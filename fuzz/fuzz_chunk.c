/* fuzz_chunk: ddas_chunk_plan + ddas_chunk_write for several maximum sizes
 * and kinds: every chunk has its planned length and is well-formed JSON.
 * The body is fz_chunk() in targets.c. */
#include <stddef.h>
#include <stdint.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_chunk(data, size);
  return 0;
}
