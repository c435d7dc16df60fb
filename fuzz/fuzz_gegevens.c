/* fuzz_gegevens: the input as a POST /gegevens request body and as a stored
 * batch body that the page writer renders. The body is fz_gegevens() in
 * targets.c. */
#include <stddef.h>
#include <stdint.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_gegevens(data, size);
  return 0;
}
