/* Allocation wrappers with test-time failure injection (see ddas/alloc.h). */
#include "ddas/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Test hook state. Plain globals on purpose: injection is a test-only,
 * single-threaded facility, like curl's memdebug. */
static unsigned long fail_at;
static unsigned long counter;

static int should_fail(void) {
  counter++;
  return fail_at && counter >= fail_at;
}

void ddas_alloc_fail_at(unsigned long n) {
  fail_at = n;
  counter = 0;
}

unsigned long ddas_alloc_count(void) { return counter; }

void *ddas_malloc(size_t n) {
  if(should_fail())
    return NULL;
  return malloc(n ? n : 1);
}

void *ddas_calloc(size_t count, size_t size) {
  if(should_fail())
    return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *ddas_realloc(void *p, size_t n) {
  if(should_fail())
    return NULL;
  return realloc(p, n ? n : 1);
}

void ddas_free(void *p) { free(p); }

char *ddas_strndup(const char *s, size_t n) {
  char *d = ddas_malloc(n + 1);
  if(!d)
    return NULL;
  if(n)
    memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *ddas_strdup(const char *s) { return ddas_strndup(s, strlen(s)); }
