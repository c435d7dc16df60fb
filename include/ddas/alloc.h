/* ddas/alloc.h: allocation wrappers used by every core module.
 *
 * All core allocations go through these functions so that a test can make
 * the N-th allocation fail and check that the caller survives it (the curl
 * "torture" technique). The failure injection is process-global test state;
 * production code never calls ddas_alloc_fail_at().
 *
 * They also count the bytes in use and their high-water mark, so that a
 * test or a fuzz target can check a memory budget (ddas/json.h). A block
 * counts what the allocator set aside for it (malloc_usable_size), at most
 * ddas_alloc_slack() bytes more than requested. The blocks are plain malloc
 * blocks: free() still works on them, it is only not counted. */
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

/* Large arena blocks: n bytes (rounded up to whole pages) mapped from the
 * system, zeroed, released with ddas_pages_free(p, n) (the same n), never
 * with free(). Counted like the blocks above (at most ddas_alloc_slack()
 * beyond n) and subject to the same failure injection. Blocks of 2 MiB and
 * more are aligned to 2 MiB and ask for transparent huge pages
 * (MADV_HUGEPAGE; Debian's default THP mode is "madvise"): a fresh tree is
 * written once, front to back, and first-touch page faults dominated the
 * parse of a large delivery (one fault per 4 KiB page; with huge pages one
 * per 2 MiB). NULL when out of memory. */
void *ddas_pages_alloc(size_t n);
/* Resizes a block of ddas_pages_alloc(old_n) (NULL: allocates) to n bytes,
 * keeping its contents: its pages are moved, not copied (mremap). NULL,
 * with the block unchanged, when out of memory. */
void *ddas_pages_realloc(void *p, size_t old_n, size_t n);
void ddas_pages_free(void *p, size_t n);

/* Testing only: the allocation with sequence number `n` (1-based, counted
 * from this call) and all later ones fail until the next call; n = 0 turns
 * injection off. */
void ddas_alloc_fail_at(unsigned long n);
/* Testing only: allocations attempted since the last ddas_alloc_fail_at(). */
unsigned long ddas_alloc_count(void);

/* Bytes allocated through these functions and not released with
 * ddas_free() yet (process-wide, all threads). */
size_t ddas_alloc_in_use(void);
/* The highest ddas_alloc_in_use() since the last ddas_alloc_peak_reset()
 * (or the start). A realloc counts its old and new block together, since
 * both may exist while it copies: an upper bound, not an underestimate. */
size_t ddas_alloc_peak(void);
/* Starts a new high-water mark at the current use. */
void ddas_alloc_peak_reset(void);
/* The most a block can count beyond its requested size (allocator rounding:
 * a large block is rounded to whole pages): one page plus 32 bytes. */
size_t ddas_alloc_slack(void);

#endif
