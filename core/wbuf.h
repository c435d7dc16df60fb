/* core/wbuf.h: the core's one growable output buffer and JSON writer
 * (batch bodies, /gegevens pages and problem bodies). Internal to core/.
 *
 * Errors are sticky: a failed allocation sets `nomem` and every later write
 * is a no-op, so a writer checks once at the end. Static inline because
 * the batcher writes tens of bytes per call millions of times (a call per
 * w_raw was measurable on the full path). */
#ifndef DDAS_CORE_WBUF_H
#define DDAS_CORE_WBUF_H

#include <stdio.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/json.h"
#include "ddas/text.h"

/* ---- output buffer ---------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  int nomem;
  int mapped; /* p is a ddas_pages_alloc() block of cap bytes */
  int heap;   /* never mapped: p stays ddas_malloc memory at any size, so
                 that it can be handed to a caller who frees it with
                 ddas_free() */
} wbuf;

/* A buffer of this size and more is mapped pages (ddas_pages_alloc), grown
 * by moving them: a batch body of tens of MB is written once into fresh
 * memory, and with malloc its growth copied it and every 4 KiB page was
 * a page fault (a quarter of the full path's time on the 40 MB delivery);
 * mapped buffers get huge pages. Records and small batches stay in malloc's
 * warm memory. */
#define MAPPED_BUF ((size_t)2 << 20)

static inline void w_reserve(wbuf *w, size_t more) {
  size_t cap;
  char *n;
  if(w->nomem || w->cap - w->len >= more)
    return;
  cap = w->cap ? w->cap : 4096;
  while(cap - w->len < more)
    cap *= 2;
  if(cap < MAPPED_BUF || w->heap) {
    n = ddas_realloc(w->p, cap);
  } else if(w->mapped) {
    n = ddas_pages_realloc(w->p, w->cap, cap);
  } else {
    n = ddas_pages_alloc(cap);
    if(n) {
      if(w->len)
        memcpy(n, w->p, w->len);
      ddas_free(w->p);
    }
  }
  if(!n) {
    w->nomem = 1;
    return;
  }
  w->mapped = cap >= MAPPED_BUF && !w->heap;
  w->p = n;
  w->cap = cap;
}

static inline void w_free(wbuf *w) {
  if(w->mapped)
    ddas_pages_free(w->p, w->cap);
  else
    ddas_free(w->p);
  memset(w, 0, sizeof(*w));
}

/* n may be 0 with s or the buffer still NULL (memcpy may not see NULL). */
static inline void w_raw(wbuf *w, const char *s, size_t n) {
  w_reserve(w, n);
  if(w->nomem || n == 0)
    return;
  memcpy(w->p + w->len, s, n);
  w->len += n;
}

static inline void w_lit(wbuf *w, const char *s) { w_raw(w, s, strlen(s)); }

/* A JSON string with the escapes RFC 8259 requires. With `fix_utf8`, every
 * byte that does not start a valid UTF-8 sequence is written as U+FFFD
 * (for text from outside that the parser has not checked); without, s must
 * be valid UTF-8 (a constant argument, so the batcher's path has no test
 * for it). */
static inline void w_str_x(wbuf *w, const char *s, size_t n, int fix_utf8) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  w_reserve(w, n + 2);
  w_raw(w, "\"", 1);
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    size_t seq = 1;
    if(c >= 0x20 && c != '"' && c != '\\' &&
       (!fix_utf8 || c < 0x80 ||
        (seq = ddas_utf8_seq((const unsigned char *)s + i, n - i)))) {
      i += seq - 1;
      continue;
    }
    w_raw(w, s + run, i - run);
    run = i + 1;
    if(c == '"')
      w_raw(w, "\\\"", 2);
    else if(c == '\\')
      w_raw(w, "\\\\", 2);
    else if(c == '\n')
      w_raw(w, "\\n", 2);
    else if(c == '\t')
      w_raw(w, "\\t", 2);
    else if(c == '\r')
      w_raw(w, "\\r", 2);
    else if(c >= 0x80)
      w_raw(w, "\\ufffd", 6);
    else {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      w_raw(w, e, 6);
    }
  }
  w_raw(w, s + run, n - run);
  w_raw(w, "\"", 1);
}

static inline void w_str(wbuf *w, const char *s, size_t n) {
  w_str_x(w, s, n, 0);
}

/* A member name that needs no escaping: a literal of this file, or a name
 * that had no escapes in the input (the parser refused quotes, backslashes
 * and control characters there). */
static inline void w_key(wbuf *w, int *first, const char *k, size_t n) {
  w_reserve(w, n + 4);
  if(!*first)
    w_raw(w, ",", 1);
  *first = 0;
  w_raw(w, "\"", 1);
  w_raw(w, k, n);
  w_raw(w, "\":", 2);
}

/* The name of a member of the input, escaped again when it had escapes. */
static inline void w_mkey(wbuf *w, int *first, const ddas_json_member *m) {
  if(!(m->key_flags & DDAS_JSON_F_ESCAPED)) {
    w_key(w, first, m->key, m->key_len);
    return;
  }
  if(!*first)
    w_raw(w, ",", 1);
  *first = 0;
  w_str(w, m->key, m->key_len);
  w_raw(w, ":", 1);
}

static inline void w_uint(wbuf *w, size_t v) {
  char b[32];
  int n = snprintf(b, sizeof(b), "%zu", v);
  w_raw(w, b, (size_t)n);
}

#endif
