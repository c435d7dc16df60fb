/* fuzz_http: ddas_http_parse_head on arbitrary bytes: spans inside the
 * input, the limits and the refusal statuses of ddas/http.h. The body is
 * fz_http() in targets.c. */
#include <stddef.h>
#include <stdint.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_http(data, size);
  return 0;
}
