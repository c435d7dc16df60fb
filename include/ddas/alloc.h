/* ddas/alloc.h: allocation wrappers used by every core module.
 *
 * All core allocations go through these functions so that a test can make
 * the N-th allocation fail and check that the caller survives it (the curl
 * "torture" technique). The failure injection is process-global test state;
 * production code never calls ddas_alloc_fail_at(). */
#ifndef DDAS_ALLOC_H
#define DDAS_ALLOC_H

#include <stddef.h>

void *ddas_malloc(size_t n);
void *ddas_calloc(size_t count, size_t size);
void *ddas_realloc(void *p, size_t n);
void ddas_free(void *p);
/* Copy of s[0..n) plus a terminating NUL; NULL when out of memory. */
char *ddas_strndup(const char *s, size_t n);
char *ddas_strdup(const char *s);

/* Testing only: the allocation with sequence number `n` (1-based, counted
 * from this call) and all later ones fail until the next call; n = 0 turns
 * injection off. */
void ddas_alloc_fail_at(unsigned long n);
/* Testing only: allocations attempted since the last ddas_alloc_fail_at(). */
unsigned long ddas_alloc_count(void);

#endif
