/* Small text helpers (see ddas/text.h). */
#include "ddas/text.h"

#include <string.h>

size_t ddas_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j, prev[128], cur[128];
  if(la > 126 || lb > 126)
    return 999;
  for(j = 0; j <= lb; j++)
    prev[j] = j;
  for(i = 1; i <= la; i++) {
    cur[0] = i;
    for(j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, (lb + 1) * sizeof(size_t));
  }
  return prev[lb];
}
