/* fuzz_json: the strict JSON parser (ddas/json.h) on arbitrary bytes; on
 * success equality, JSON Pointers, spans and the depth limit over the tree.
 * The body is fz_json() in targets.c. */
#include <stddef.h>
#include <stdint.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_json(data, size);
  return 0;
}
