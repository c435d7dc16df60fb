/* Allocation wrappers with test-time failure injection and byte accounting
 * (see ddas/alloc.h). */
#define _GNU_SOURCE /* MAP_ANONYMOUS, madvise, mremap */
#include "ddas/alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The huge page size of x86-64 and arm64 (4 KiB base pages). */
#define HUGE_PAGE ((size_t)2 << 20)

/* Test hook state. Plain globals on purpose: injection is a test-only,
 * single-threaded facility, like curl's memdebug. */
static unsigned long fail_at;
static unsigned long counter;

/* Accounting is process-wide and may be updated from several threads (the
 * worker's stages share the core), hence atomics; relaxed order suffices
 * because the figures are statistics, not synchronisation. A block counts
 * malloc_usable_size() bytes, what the allocator really set aside (glibc
 * and the sanitizers' allocators provide it): no header is added, so core
 * memory stays plain malloc memory that callers may free() as before; such
 * a free() is simply not subtracted. */
static atomic_size_t in_use;
static atomic_size_t peak;

static int should_fail(void) {
  counter++;
  return fail_at && counter >= fail_at;
}

void ddas_alloc_fail_at(unsigned long n) {
  fail_at = n;
  counter = 0;
}

unsigned long ddas_alloc_count(void) { return counter; }

size_t ddas_alloc_in_use(void) {
  return atomic_load_explicit(&in_use, memory_order_relaxed);
}

size_t ddas_alloc_peak(void) {
  return atomic_load_explicit(&peak, memory_order_relaxed);
}

void ddas_alloc_peak_reset(void) {
  atomic_store_explicit(&peak, ddas_alloc_in_use(), memory_order_relaxed);
}

static size_t page_size(void) {
  static size_t page;
  if(!page) {
    long v = sysconf(_SC_PAGESIZE);
    page = v > 0 ? (size_t)v : 4096u;
  }
  return page;
}

size_t ddas_alloc_slack(void) { return page_size() + 32u; }

static void raise_peak(size_t v) {
  size_t p = atomic_load_explicit(&peak, memory_order_relaxed);
  while(v > p && !atomic_compare_exchange_weak_explicit(
                     &peak, &p, v, memory_order_relaxed, memory_order_relaxed))
    ;
}

static void *counted(void *p) {
  if(p) {
    size_t n = malloc_usable_size(p);
    raise_peak(atomic_fetch_add_explicit(&in_use, n, memory_order_relaxed) + n);
  }
  return p;
}

void *ddas_malloc(size_t n) {
  if(should_fail())
    return NULL;
  return counted(malloc(n ? n : 1));
}

void *ddas_calloc(size_t count, size_t size) {
  if(should_fail())
    return NULL;
  return counted(calloc(count ? count : 1, size ? size : 1));
}

void *ddas_realloc(void *p, size_t n) {
  size_t was;
  void *q;
  if(!p)
    return ddas_malloc(n);
  if(should_fail())
    return NULL;
  was = malloc_usable_size(p);
  /* the old and the new block may both exist while realloc copies: the
   * high-water mark counts both (the new one at its requested size plus the
   * slack), so it is an upper bound */
  raise_peak(ddas_alloc_in_use() + (n ? n : 1) + ddas_alloc_slack());
  q = realloc(p, n ? n : 1);
  if(!q)
    return NULL;
  atomic_fetch_sub_explicit(&in_use, was, memory_order_relaxed);
  return counted(q);
}

void ddas_free(void *p) {
  if(!p)
    return;
  atomic_fetch_sub_explicit(&in_use, malloc_usable_size(p),
                            memory_order_relaxed);
  free(p);
}

/* n rounded up to whole pages; 0 when that overflows. */
static size_t page_round(size_t n) {
  size_t page = page_size();
  if(n > SIZE_MAX - page)
    return 0;
  return (n + page - 1) / page * page;
}

void *ddas_pages_alloc(size_t n) {
  size_t len = page_round(n ? n : 1), map;
  char *m, *p;
  if(should_fail() || !len)
    return NULL;
  /* big blocks: map a huge page more and trim, so that the block starts on
   * a huge page boundary and every whole 2 MiB of it can be one page */
  map = len >= HUGE_PAGE ? len + HUGE_PAGE : len;
  if(map < len)
    return NULL;
  m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
           0);
  if(m == MAP_FAILED)
    return NULL;
  p = m;
  if(map != len) {
    size_t head = (HUGE_PAGE - (uintptr_t)m % HUGE_PAGE) % HUGE_PAGE;
    p = m + head;
    if(head)
      munmap(m, head);
    if(map - head > len)
      munmap(p + len, map - head - len);
#ifdef MADV_HUGEPAGE
    /* a hint: without THP the block simply has small pages */
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
  }
  raise_peak(atomic_fetch_add_explicit(&in_use, len, memory_order_relaxed) +
             len);
  return p;
}

void *ddas_pages_realloc(void *p, size_t old_n, size_t n) {
  size_t was, len = page_round(n ? n : 1);
  void *q;
  if(!p)
    return ddas_pages_alloc(n);
  if(should_fail() || !len)
    return NULL;
  was = page_round(old_n ? old_n : 1);
  if(len == was)
    return p;
  /* the pages move, they are not copied: old and new never both exist */
  q = mremap(p, was, len, MREMAP_MAYMOVE);
  if(q == MAP_FAILED)
    return NULL;
#ifdef MADV_HUGEPAGE
  if(len > was)
    (void)madvise(q, len, MADV_HUGEPAGE);
#endif
  if(len > was)
    raise_peak(
        atomic_fetch_add_explicit(&in_use, len - was, memory_order_relaxed) +
        (len - was));
  else
    atomic_fetch_sub_explicit(&in_use, was - len, memory_order_relaxed);
  return q;
}

void ddas_pages_free(void *p, size_t n) {
  size_t len = page_round(n ? n : 1);
  if(!p)
    return;
  atomic_fetch_sub_explicit(&in_use, len, memory_order_relaxed);
  munmap(p, len);
}

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
