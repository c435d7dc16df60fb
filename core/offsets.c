/* Offset accounting (see ddas/offsets.h). Pending offsets are kept sorted
 * (they are begun in increasing order), so removal is a binary search and
 * the committable offset is the first element. */
#include "ddas/offsets.h"

#include <string.h>

#include "ddas/alloc.h"

struct ddas_offsets {
  int64_t *pending; /* sorted ascending */
  size_t n, cap;
  int64_t highest_begun; /* -1: none */
  int64_t highest_done;  /* -1: none */
};

ddas_result ddas_offsets_new(ddas_offsets **out) {
  ddas_offsets *o = ddas_calloc(1, sizeof(*o));
  *out = NULL;
  if(!o)
    return DDAS_ERR_NOMEM;
  o->highest_begun = o->highest_done = -1;
  *out = o;
  return DDAS_OK;
}

void ddas_offsets_free(ddas_offsets *o) {
  if(!o)
    return;
  ddas_free(o->pending);
  ddas_free(o);
}

void ddas_offsets_reset(ddas_offsets *o) {
  o->n = 0;
  o->highest_begun = o->highest_done = -1;
}

ddas_result ddas_offsets_begin(ddas_offsets *o, int64_t offset) {
  if(offset <= o->highest_begun)
    return DDAS_OK;
  if(o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    int64_t *p = ddas_realloc(o->pending, cap * sizeof(*p));
    if(!p)
      return DDAS_ERR_NOMEM;
    o->pending = p;
    o->cap = cap;
  }
  o->pending[o->n++] = offset;
  o->highest_begun = offset;
  return DDAS_OK;
}

void ddas_offsets_done(ddas_offsets *o, int64_t offset) {
  size_t lo = 0, hi = o->n;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(o->pending[mid] < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if(lo >= o->n || o->pending[lo] != offset)
    return;
  memmove(o->pending + lo, o->pending + lo + 1,
          (o->n - lo - 1) * sizeof(int64_t));
  o->n--;
  if(offset > o->highest_done)
    o->highest_done = offset;
}

int64_t ddas_offsets_committable(const ddas_offsets *o) {
  if(o->n)
    return o->pending[0];
  return o->highest_done >= 0 ? o->highest_done + 1 : -1;
}

size_t ddas_offsets_pending(const ddas_offsets *o) { return o->n; }
