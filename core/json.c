/* Strict RFC 8259 parser into a compact arena tree (see ddas/json.h).
 *
 * Design, for speed on large deliveries:
 *  - recursive descent whose recursion is bounded by max_depth (<= 64 by
 *    default), so no deep C stack even on hostile input;
 *  - children are collected on two reusable scratch stacks (values, members)
 *    and copied into the arena in one piece when their container closes, so
 *    every container's children are contiguous and allocation is a bump;
 *  - strings without escapes are not copied: they point into the input;
 *  - ASCII runs inside strings and runs of spaces are skipped eight bytes at
 *    a time (SWAR), UTF-8 is validated inline;
 *  - integers and short decimals are converted exactly without strtod.
 */
#include "ddas/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddas/alloc.h"
#include "hash.h"

#define DEFAULT_MAX_DEPTH 64u
#define MAX_INPUT ((size_t)UINT32_MAX - 1u)
/* objects up to this size are checked for duplicate names pairwise */
#define SMALL_OBJECT 16u

/* ---- arena ------------------------------------------------------------ */

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  int pages; /* from ddas_pages_alloc(), else ddas_malloc() */
  /* data follows, 16-aligned */
} chunk;

#define CHUNK_HDR ((sizeof(chunk) + 15u) & ~(size_t)15u)
/* Chunks of at least this many bytes (header included) are mapped pages
 * in whole huge pages (ddas_pages_alloc): the tree of a large delivery is
 * written once into fresh memory, and its first-touch page faults cost
 * more than the parse itself with 4 KiB pages. Smaller chunks (the
 * worker's Kafka messages) come from malloc, which reuses warm memory. */
#define BIG_CHUNK ((size_t)2 << 20)

/* While parsing, everything the parser allocates (arena chunks and its
 * scratch stacks) is charged to the arena's budget, counted the way
 * core/alloc.c counts it at most (requested size plus ddas_alloc_slack(); a
 * growing stack's old and new block together), so that the allocator's
 * high-water mark of a parse never exceeds the budget. After the parse the
 * document's arena is unlimited (limit 0): normalisations only narrow the tree.
 */
typedef struct {
  chunk *head;
  size_t next_size; /* bytes of the next chunk */
  size_t limit;     /* bytes; 0 = no limit */
  size_t charged;   /* bytes charged against limit */
  int refused;      /* an allocation was refused for the limit, not by malloc */
} arena;

/* Charges n bytes; 0 (and `refused` set) when that would pass the limit. */
static int charge(arena *a, size_t n) {
  if(a->limit && (a->charged > a->limit || n > a->limit - a->charged)) {
    a->refused = 1;
    return 0;
  }
  a->charged += n;
  return 1;
}

/* Bytes still available under the limit (SIZE_MAX without one). */
static size_t headroom(const arena *a) {
  if(!a->limit)
    return SIZE_MAX;
  return a->charged < a->limit ? a->limit - a->charged : 0;
}

/* Data bytes of a new chunk that must hold n bytes, `want` wished for:
 * big chunks are whole huge pages (rounded down, or up when n needs it). */
static size_t chunk_cap(size_t want, size_t n) {
  size_t total;
  if(want < n)
    want = n;
  if(want > SIZE_MAX - CHUNK_HDR - BIG_CHUNK)
    return want;
  total = CHUNK_HDR + want;
  if(total < BIG_CHUNK)
    return want;
  total = total / BIG_CHUNK * BIG_CHUNK;
  if(total < CHUNK_HDR + n)
    total += BIG_CHUNK;
  return total - CHUNK_HDR;
}

static void *arena_alloc(arena *a, size_t n) {
  n = (n + 7u) & ~(size_t)7u;
  if(!a->head || a->head->cap - a->head->used < n) {
    size_t cap = chunk_cap(a->next_size, n), room = headroom(a);
    const size_t extra = CHUNK_HDR + ddas_alloc_slack();
    int pages;
    chunk *c;
    /* near the limit, a smaller last chunk that still fits */
    if(room < extra + cap && room >= extra + n)
      cap = room - extra;
    if(!charge(a, extra + cap))
      return NULL;
    pages = CHUNK_HDR + cap >= BIG_CHUNK;
    c = pages ? ddas_pages_alloc(CHUNK_HDR + cap)
              : ddas_malloc(CHUNK_HDR + cap);
    if(!c) {
      a->charged -= extra + cap;
      return NULL;
    }
    c->next = a->head;
    c->used = 0;
    c->cap = cap;
    c->pages = pages;
    a->head = c;
  }
  {
    void *p = (char *)a->head + CHUNK_HDR + a->head->used;
    a->head->used += n;
    return p;
  }
}

static void arena_free(arena *a) {
  chunk *c = a->head;
  while(c) {
    chunk *next = c->next;
    if(c->pages)
      ddas_pages_free(c, CHUNK_HDR + c->cap);
    else
      ddas_free(c);
    c = next;
  }
  a->head = NULL;
}

/* ---- document --------------------------------------------------------- */

struct ddas_json_doc {
  arena mem;
  const char *input;
  ddas_json root;
};

const ddas_json *ddas_json_root(const ddas_json_doc *doc) {
  return doc ? &doc->root : NULL;
}

ddas_json *ddas_json_root_mut(ddas_json_doc *doc) {
  return doc ? &doc->root : NULL;
}

void *ddas_json_doc_alloc(ddas_json_doc *doc, size_t n) {
  return arena_alloc(&doc->mem, n);
}

const char *ddas_json_input(const ddas_json_doc *doc) {
  return doc ? doc->input : NULL;
}

void ddas_json_doc_free(ddas_json_doc *doc) {
  arena a;
  if(!doc)
    return;
  a = doc->mem; /* the doc itself lives in its arena */
  arena_free(&a);
}

/* ---- parser state ----------------------------------------------------- */

typedef struct {
  int is_object;
  int has_child;   /* a child value is being parsed */
  size_t index;    /* array: index of the child */
  const char *key; /* object: name of the child */
  size_t key_len;
} frame;

typedef struct {
  const unsigned char *start, *p, *end;
  arena *mem;
  const ddas_json_options *opt; /* never NULL */
  size_t duplicates;            /* reported through opt->on_duplicate */
  unsigned max_depth;
  unsigned depth;
  ddas_json *vals;
  size_t nvals, capvals;
  ddas_json_member *mems;
  size_t nmems, capmems;
  uint32_t *dupset; /* open-addressing set of member indexes, for big objects */
  size_t dupcap;
  frame frames[DEFAULT_MAX_DEPTH + 2];
  frame *deep_frames; /* when max_depth > DEFAULT_MAX_DEPTH */
  ddas_json_error *err;
  ddas_result fail;
} parser;

static frame *frame_at(parser *ps, unsigned d) {
  return ps->deep_frames ? &ps->deep_frames[d] : &ps->frames[d];
}

static void line_col(const unsigned char *start, const unsigned char *at,
                     unsigned *line, unsigned *col) {
  const unsigned char *p, *bol = start;
  unsigned l = 1;
  for(p = start; p < at; p++) {
    if(*p == '\n') {
      l++;
      bol = p + 1;
    }
  }
  *line = l;
  *col = (unsigned)(at - bol) + 1u;
}

/* Fills e with a defect at `at`, and the pointer of the value being parsed
 * (the open containers' current children). */
static void describe(parser *ps, ddas_json_error *e, const char *code,
                     const unsigned char *at, const char *msg) {
  unsigned d;
  if(at > ps->end)
    at = ps->end;
  e->code = code;
  e->offset = (size_t)(at - ps->start);
  line_col(ps->start, at, &e->line, &e->column);
  snprintf(e->message, sizeof(e->message), "%s", msg);
  e->pointer[0] = '\0';
  for(d = 0; d < ps->depth; d++) {
    frame *f = frame_at(ps, d);
    if(!f->has_child)
      break;
    if(f->is_object) {
      if(ddas_json_pointer_push_key(e->pointer, sizeof(e->pointer), f->key,
                                    f->key_len))
        break;
    } else if(ddas_json_pointer_push_index(e->pointer, sizeof(e->pointer),
                                           f->index)) {
      break;
    }
  }
}

/* Records the first error; returns 0 so callers can `return fail(...)`. */
static int fail(parser *ps, ddas_result r, const char *code,
                const unsigned char *at, const char *msg) {
  if(ps->fail)
    return 0;
  ps->fail = r;
  if(ps->err)
    describe(ps, ps->err, code, at, msg);
  return 0;
}

/* An allocation failed: over the memory budget (a finding for the input),
 * or malloc itself (DDAS_ERR_NOMEM). */
static int fail_alloc(parser *ps) {
  char msg[200];
  if(!ps->mem->refused)
    return fail(ps, DDAS_ERR_NOMEM, "nomem", ps->p, "out of memory");
  /* what the limit is, why it was hit, how to raise it; the CLI's option
   * is named because this is what a person acts on */
  snprintf(msg, sizeof(msg),
           "parsing needs more memory than the limit of %zu bytes (%s); "
           "tiny values such as [0,0,...] cost far more than their text; "
           "raise it with --max-memory",
           ps->mem->limit,
           ps->opt->max_memory ? "as set" : "4 times the input plus 1 MiB");
  return fail(ps, DDAS_ERR_LIMIT, "memory-limit", ps->p, msg);
}

/* Grows a scratch stack of `elem`-byte entries to at least `want` entries
 * (doubling, or what the budget still allows). 0 after fail_alloc(). */
static int grow_stack(parser *ps, void **stack, size_t *cap, size_t elem,
                      size_t want) {
  size_t ncap = *cap ? *cap * 2 : 256, room = headroom(ps->mem);
  void *n;
  if(ncap < want)
    ncap = want;
  if(room < ddas_alloc_slack() + ncap * elem &&
     room >= ddas_alloc_slack() + want * elem)
    ncap = (room - ddas_alloc_slack()) / elem;
  /* the old block stays charged until realloc has returned */
  if(!charge(ps->mem, ddas_alloc_slack() + ncap * elem))
    return fail_alloc(ps);
  n = ddas_realloc(*stack, ncap * elem);
  if(!n) {
    ps->mem->charged -= ddas_alloc_slack() + ncap * elem;
    return fail_alloc(ps);
  }
  if(*cap)
    ps->mem->charged -= ddas_alloc_slack() + *cap * elem;
  *stack = n;
  *cap = ncap;
  return 1;
}

/* Character classes. */
static const unsigned char is_ws[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline uint64_t load64(const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define HAS_ZERO(v) (((v)-ONES) & ~(v)&HIGHS)

static inline void skip_ws(parser *ps) {
  const unsigned char *p = ps->p, *end = ps->end;
  for(;;) {
    while(end - p >= 8 && load64(p) == 0x2020202020202020ull)
      p += 8;
    if(p < end && is_ws[*p])
      p++;
    else
      break;
  }
  ps->p = p;
}

/* ---- strings ---------------------------------------------------------- */

/* Length of a valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0.
 * Rejects overlongs, surrogates and code points above U+10FFFF. */
static inline size_t utf8_seq(const unsigned char *p,
                              const unsigned char *end) {
  unsigned c = p[0];
  if(c >= 0xC2 && c <= 0xDF) {
    if(end - p >= 2 && (p[1] & 0xC0) == 0x80)
      return 2;
    return 0;
  }
  if(c >= 0xE0 && c <= 0xEF) {
    unsigned lo = 0x80, hi = 0xBF;
    if(c == 0xE0)
      lo = 0xA0;
    else if(c == 0xED)
      hi = 0x9F; /* no UTF-16 surrogates */
    if(end - p >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80)
      return 3;
    return 0;
  }
  if(c >= 0xF0 && c <= 0xF4) {
    unsigned lo = 0x80, hi = 0xBF;
    if(c == 0xF0)
      lo = 0x90;
    else if(c == 0xF4)
      hi = 0x8F;
    if(end - p >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
       (p[3] & 0xC0) == 0x80)
      return 4;
    return 0;
  }
  return 0;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0, i;
  for(i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if(c >= '0' && c <= '9')
      d = c - '0';
    else if(c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if(c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
  if(cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if(cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | cp >> 6);
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if(cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | cp >> 12);
    o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | cp >> 18);
  o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the escaped string body [b, e) (already validated) into the arena. */
static int decode_escaped(parser *ps, const unsigned char *b,
                          const unsigned char *e, const char **out,
                          uint32_t *outlen) {
  /* decoded text is never longer than the source */
  unsigned char *o = arena_alloc(ps->mem, (size_t)(e - b) + 1u), *w;
  if(!o)
    return fail_alloc(ps);
  w = o;
  while(b < e) {
    if(*b != '\\') {
      *w++ = *b++;
      continue;
    }
    b++;
    switch(*b) {
    case '"':
      *w++ = '"';
      b++;
      break;
    case '\\':
      *w++ = '\\';
      b++;
      break;
    case '/':
      *w++ = '/';
      b++;
      break;
    case 'b':
      *w++ = '\b';
      b++;
      break;
    case 'f':
      *w++ = '\f';
      b++;
      break;
    case 'n':
      *w++ = '\n';
      b++;
      break;
    case 'r':
      *w++ = '\r';
      b++;
      break;
    case 't':
      *w++ = '\t';
      b++;
      break;
    default: { /* 'u', validated by the scanner */
      unsigned cp = 0, lo = 0xDC00;
      hex4(b + 1, &cp);
      b += 5;
      if(cp >= 0xD800 && cp <= 0xDBFF) {
        hex4(b + 2, &lo);
        b += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      w += put_utf8(w, cp);
      break;
    }
    }
  }
  *w = '\0';
  *out = (const char *)o;
  *outlen = (uint32_t)(w - o);
  return 1;
}

/* Scans a string starting at the opening quote. On success sets *str and *len
 * and leaves ps->p after the closing quote. */
static int parse_string(parser *ps, const char **str, uint32_t *len,
                        int *escaped) {
  const unsigned char *p = ps->p + 1, *end = ps->end, *body = p;
  int esc = 0;
  for(;;) {
    /* fast path: 8 plain ASCII bytes at a time */
    while(end - p >= 8) {
      uint64_t w = load64(p);
      uint64_t m = (w & HIGHS) | ((w - 0x2020202020202020ull) & ~w & HIGHS) |
                   HAS_ZERO(w ^ 0x2222222222222222ull) |
                   HAS_ZERO(w ^ 0x5C5C5C5C5C5C5C5Cull);
      if(m)
        break;
      p += 8;
    }
    if(p >= end)
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                  "unterminated string: the input ends inside a string");
    {
      unsigned c = *p;
      if(c == '"')
        break;
      if(c == '\\') {
        unsigned cp;
        esc = 1;
        if(end - p < 2)
          return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                      "unterminated string: the input ends inside an escape");
        c = p[1];
        if(c == 'u') {
          if(end - p < 6 || hex4(p + 2, &cp))
            return fail(ps, DDAS_ERR_SYNTAX, "escape", p,
                        "invalid \\u escape: four hexadecimal digits "
                        "expected");
          if(cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(ps, DDAS_ERR_SYNTAX, "surrogate", p,
                        "invalid \\u escape: a low surrogate without a "
                        "preceding high surrogate");
          if(cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if(end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
               hex4(p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
              return fail(ps, DDAS_ERR_SYNTAX, "surrogate", p,
                          "invalid \\u escape: a high surrogate must be "
                          "followed by a low surrogate escape");
            p += 12;
          } else {
            p += 6;
          }
          continue;
        }
        if(c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
           c == 'n' || c == 'r' || c == 't') {
          p += 2;
          continue;
        }
        return fail(ps, DDAS_ERR_SYNTAX, "escape", p,
                    "invalid escape sequence in a string; allowed are \\\" "
                    "\\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
      }
      if(c < 0x20)
        return fail(ps, DDAS_ERR_SYNTAX, "control-char", p,
                    c == 0 ? "NUL byte inside a string"
                           : "unescaped control character inside a string "
                             "(write it as a \\u escape)");
      if(c >= 0x80) {
        size_t n = utf8_seq(p, end);
        if(!n)
          return fail(ps, DDAS_ERR_SYNTAX, "utf8", p,
                      "invalid UTF-8 byte sequence in a string (the input "
                      "must be UTF-8)");
        p += n;
        continue;
      }
      p++;
    }
  }
  if((size_t)(p - body) > UINT32_MAX)
    return fail(ps, DDAS_ERR_LIMIT, "too-large", body, "string too long");
  ps->p = p + 1;
  *escaped = esc;
  if(esc)
    return decode_escaped(ps, body, p, str, len);
  *str = (const char *)body;
  *len = (uint32_t)(p - body);
  return 1;
}

/* ---- numbers ---------------------------------------------------------- */

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_number(parser *ps, ddas_json *v) {
  const unsigned char *p = ps->p, *end = ps->end, *s = p;
  int neg = 0, frac = 0, expo = 0;
  uint64_t mant = 0;
  int digits = 0, fdigits = 0;
  long e10 = 0;
  int esign = 1;

  if(*p == '-') {
    neg = 1;
    p++;
  }
  if(p >= end || *p < '0' || *p > '9')
    return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                "invalid number: a digit is expected");
  if(*p == '0') {
    p++;
    if(p < end && *p >= '0' && *p <= '9')
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                  "invalid number: leading zeros are not allowed");
    digits = 1;
  } else {
    while(p < end && *p >= '0' && *p <= '9') {
      if(digits < 19)
        mant = mant * 10u + (uint64_t)(*p - '0');
      digits++;
      p++;
    }
  }
  if(p < end && *p == '.') {
    frac = 1;
    p++;
    if(p >= end || *p < '0' || *p > '9')
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                  "invalid number: a digit is expected after the decimal "
                  "point");
    while(p < end && *p >= '0' && *p <= '9') {
      if(digits + fdigits < 19)
        mant = mant * 10u + (uint64_t)(*p - '0');
      fdigits++;
      p++;
    }
  }
  if(p < end && (*p == 'e' || *p == 'E')) {
    expo = 1;
    p++;
    if(p < end && (*p == '+' || *p == '-')) {
      if(*p == '-')
        esign = -1;
      p++;
    }
    if(p >= end || *p < '0' || *p > '9')
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", p,
                  "invalid number: a digit is expected in the exponent");
    while(p < end && *p >= '0' && *p <= '9') {
      if(e10 < 100000)
        e10 = e10 * 10 + (*p - '0');
      p++;
    }
  }
  ps->p = p;
  v->type = DDAS_JSON_NUMBER;

  if(!frac && !expo && digits <= 18) {
    v->u.num = neg ? -(double)mant : (double)mant;
    v->flags = DDAS_JSON_F_INTEGRAL;
    return 1;
  }
  /* exact fast path: mantissa < 2^53 and a power of ten <= 22 */
  if(digits + fdigits <= 15) {
    long k = (long)esign * e10 - fdigits;
    if(k >= -22 && k <= 22) {
      double d = (double)mant;
      d = k < 0 ? d / pow10_exact[-k] : d * pow10_exact[k];
      v->u.num = neg ? -d : d;
      v->flags = (d == floor(d)) ? DDAS_JSON_F_INTEGRAL : 0;
      return 1;
    }
  }
  {
    /* general case: strtod on a NUL-terminated copy of the lexeme (the
     * input need not be NUL-terminated) */
    size_t n = (size_t)(p - s);
    char small[64], *lex = small;
    double d;
    if(n >= sizeof(small)) {
      lex = ddas_malloc(n + 1);
      if(!lex)
        return fail_alloc(ps);
    }
    memcpy(lex, s, n);
    lex[n] = '\0';
    errno = 0;
    d = strtod(lex, NULL);
    if(lex != small)
      ddas_free(lex);
    if(isinf(d))
      return fail(ps, DDAS_ERR_SYNTAX, "number-range", s,
                  "number out of range: its magnitude exceeds what a 64-bit "
                  "floating point number can hold");
    v->u.num = d;
    v->flags = (d == floor(d)) ? DDAS_JSON_F_INTEGRAL : 0;
  }
  return 1;
}

/* ---- values ----------------------------------------------------------- */

static int parse_value(parser *ps, ddas_json *v);

static int push_val(parser *ps, const ddas_json *v) {
  if(ps->nvals == ps->capvals &&
     !grow_stack(ps, (void **)&ps->vals, &ps->capvals, sizeof(*ps->vals),
                 ps->nvals + 1))
    return 0;
  ps->vals[ps->nvals++] = *v;
  return 1;
}

static ddas_json_member *push_mem(parser *ps) {
  if(ps->nmems == ps->capmems &&
     !grow_stack(ps, (void **)&ps->mems, &ps->capmems, sizeof(*ps->mems),
                 ps->nmems + 1))
    return NULL;
  return &ps->mems[ps->nmems++];
}

static int same_name(const ddas_json_member *a, const ddas_json_member *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* A member m (of the object in frame f) repeats an earlier name: without
 * opt->on_duplicate the parse fails here; with it the duplicate is
 * reported and parsing goes on. 0 after a failure. */
static int duplicate(parser *ps, frame *f, const ddas_json_member *m) {
  static const char msg[] = "duplicate member name in an object (each name "
                            "may appear once)";
  const unsigned char *at = ps->start + m->value.start;
  int ok = 1;
  f->key = m->key;
  f->key_len = m->key_len;
  f->has_child = 1;
  if(ps->opt->on_duplicate) {
    ddas_json_error e;
    memset(&e, 0, sizeof(e));
    describe(ps, &e, "duplicate-key", at, msg);
    ps->opt->on_duplicate(ps->opt->ctx, &e);
    ps->duplicates++;
  } else {
    ok = fail(ps, DDAS_ERR_SYNTAX, "duplicate-key", at, msg);
  }
  f->has_child = 0;
  return ok;
}

/* Every member of m[0..n) whose name repeats an earlier one goes to
 * duplicate() (a name given three times: twice), in input order. 0 after a
 * failure. */
static int check_duplicates(parser *ps, frame *f, const ddas_json_member *m,
                            size_t n) {
  size_t i, j, cap = 64;
  if(n <= SMALL_OBJECT) {
    for(i = 1; i < n; i++)
      for(j = 0; j < i; j++)
        if(same_name(&m[i], &m[j])) {
          if(!duplicate(ps, f, &m[i]))
            return 0;
          break;
        }
    return 1;
  }
  while(cap < n * 2)
    cap *= 2;
  if(cap > ps->dupcap &&
     !grow_stack(ps, (void **)&ps->dupset, &ps->dupcap, sizeof(uint32_t), cap))
    return 0;
  memset(ps->dupset, 0xff, cap * sizeof(uint32_t));
  for(i = 0; i < n; i++) {
    size_t slot = ddas_fnv1a(m[i].key, m[i].key_len) & (cap - 1);
    while(ps->dupset[slot] != UINT32_MAX &&
          !same_name(&m[ps->dupset[slot]], &m[i]))
      slot = (slot + 1) & (cap - 1);
    if(ps->dupset[slot] == UINT32_MAX)
      ps->dupset[slot] = (uint32_t)i;
    else if(!duplicate(ps, f, &m[i]))
      return 0;
  }
  return 1;
}

static int enter(parser *ps, int is_object) {
  frame *f;
  if(ps->depth >= ps->max_depth)
    return fail(ps, DDAS_ERR_LIMIT, "depth", ps->p,
                "nesting too deep: more levels of arrays and objects than "
                "allowed (64 unless configured otherwise)");
  f = frame_at(ps, ps->depth++);
  f->is_object = is_object;
  f->has_child = 0;
  f->index = 0;
  f->key = NULL;
  f->key_len = 0;
  return 1;
}

static int parse_array(parser *ps, ddas_json *v) {
  size_t base = ps->nvals, n;
  frame *f;
  if(!enter(ps, 0))
    return 0;
  f = frame_at(ps, ps->depth - 1);
  ps->p++; /* '[' */
  skip_ws(ps);
  if(ps->p < ps->end && *ps->p == ']') {
    ps->p++;
  } else {
    for(;;) {
      ddas_json child;
      f->has_child = 1;
      if(!parse_value(ps, &child) || !push_val(ps, &child))
        return 0;
      f->has_child = 0;
      skip_ws(ps);
      if(ps->p >= ps->end)
        return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                    "unexpected end of input inside an array: ',' or ']' "
                    "expected");
      if(*ps->p == ',') {
        ps->p++;
        f->index++;
        skip_ws(ps);
        continue;
      }
      if(*ps->p == ']') {
        ps->p++;
        break;
      }
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                  "',' or ']' expected after an array element");
    }
  }
  n = ps->nvals - base;
  v->type = DDAS_JSON_ARRAY;
  v->n = (uint32_t)n;
  v->u.items = NULL;
  if(n) {
    v->u.items = arena_alloc(ps->mem, n * sizeof(ddas_json));
    if(!v->u.items)
      return fail_alloc(ps);
    memcpy(v->u.items, ps->vals + base, n * sizeof(ddas_json));
  }
  ps->nvals = base;
  ps->depth--;
  return 1;
}

static int parse_object(parser *ps, ddas_json *v) {
  size_t base = ps->nmems, n;
  frame *f;
  if(!enter(ps, 1))
    return 0;
  f = frame_at(ps, ps->depth - 1);
  ps->p++; /* '{' */
  skip_ws(ps);
  if(ps->p < ps->end && *ps->p == '}') {
    ps->p++;
  } else {
    for(;;) {
      ddas_json_member *m;
      const char *key;
      uint32_t klen;
      int esc;
      if(ps->p >= ps->end || *ps->p != '"')
        return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                    ps->p >= ps->end
                        ? "unexpected end of input inside an object: a "
                          "member name is expected"
                        : "a member name in double quotes is expected");
      if(!parse_string(ps, &key, &klen, &esc))
        return 0;
      skip_ws(ps);
      if(ps->p >= ps->end || *ps->p != ':')
        return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                    "':' expected after a member name");
      ps->p++;
      skip_ws(ps);
      f->key = key;
      f->key_len = klen;
      f->has_child = 1;
      m = push_mem(ps);
      if(!m)
        return 0;
      m->key = key;
      m->key_len = klen;
      m->key_flags = esc ? DDAS_JSON_F_ESCAPED : 0;
      {
        ddas_json child;
        size_t idx = (size_t)(m - ps->mems);
        if(!parse_value(ps, &child))
          return 0;
        ps->mems[idx].value = child; /* the stack may have moved */
      }
      f->has_child = 0;
      skip_ws(ps);
      if(ps->p >= ps->end)
        return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                    "unexpected end of input inside an object: ',' or '}' "
                    "expected");
      if(*ps->p == ',') {
        ps->p++;
        skip_ws(ps);
        continue;
      }
      if(*ps->p == '}') {
        ps->p++;
        break;
      }
      return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                  "',' or '}' expected after an object member");
    }
  }
  n = ps->nmems - base;
  /* no pointer arithmetic on the (possibly NULL) stack of an empty object */
  if(n && !check_duplicates(ps, f, ps->mems + base, n))
    return 0;
  v->type = DDAS_JSON_OBJECT;
  v->n = (uint32_t)n;
  v->u.members = NULL;
  if(n) {
    v->u.members = arena_alloc(ps->mem, n * sizeof(ddas_json_member));
    if(!v->u.members)
      return fail_alloc(ps);
    memcpy(v->u.members, ps->mems + base, n * sizeof(ddas_json_member));
  }
  ps->nmems = base;
  ps->depth--;
  return 1;
}

static int literal(parser *ps, const char *word, size_t n) {
  if((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail(ps, DDAS_ERR_SYNTAX, "syntax", ps->p,
                "invalid literal: true, false or null expected");
  ps->p += n;
  return 1;
}

static int parse_value(parser *ps, ddas_json *v) {
  const unsigned char *s;
  int ok;
  skip_ws(ps);
  s = ps->p;
  if(s >= ps->end)
    return fail(ps, DDAS_ERR_SYNTAX, ps->depth ? "syntax" : "empty", s,
                ps->depth ? "unexpected end of input: a value is expected"
                          : "empty input: a JSON document is expected");
  v->flags = 0;
  v->spare = 0;
  v->n = 0;
  v->start = (uint32_t)(s - ps->start);
  switch(*s) {
  case '{': ok = parse_object(ps, v); break;
  case '[': ok = parse_array(ps, v); break;
  case '"': {
    const char *str;
    uint32_t len;
    int esc;
    ok = parse_string(ps, &str, &len, &esc);
    if(ok) {
      v->type = DDAS_JSON_STRING;
      v->flags = esc ? DDAS_JSON_F_ESCAPED : 0;
      v->u.str = str;
      v->n = len;
    }
    break;
  }
  case 't':
    ok = literal(ps, "true", 4);
    v->type = DDAS_JSON_TRUE;
    break;
  case 'f':
    ok = literal(ps, "false", 5);
    v->type = DDAS_JSON_FALSE;
    break;
  case 'n':
    ok = literal(ps, "null", 4);
    v->type = DDAS_JSON_NULL;
    break;
  default:
    if(*s == '-' || (*s >= '0' && *s <= '9')) {
      ok = parse_number(ps, v);
    } else if(*s >= 0x80 && utf8_seq(s, ps->end) == 0) {
      ok = fail(ps, DDAS_ERR_SYNTAX, "utf8", s,
                "invalid UTF-8 byte sequence (the input must be UTF-8)");
    } else if(*s == 0) {
      ok = fail(ps, DDAS_ERR_SYNTAX, "control-char", s,
                "NUL byte where a value is expected");
    } else {
      ok = fail(ps, DDAS_ERR_SYNTAX, "syntax", s,
                "unexpected character: a value (object, array, string, "
                "number, true, false or null) is expected");
    }
  }
  if(!ok)
    return 0;
  v->end = (uint32_t)(ps->p - ps->start);
  return 1;
}

size_t ddas_json_memory_budget(size_t len, const ddas_json_options *opt) {
  if(opt && opt->max_memory)
    return opt->max_memory;
  if(len > (SIZE_MAX - DDAS_JSON_MEMORY_BASE) / DDAS_JSON_MEMORY_FACTOR)
    return SIZE_MAX;
  return DDAS_JSON_MEMORY_FACTOR * len + DDAS_JSON_MEMORY_BASE;
}

ddas_result ddas_json_parse(const char *buf, size_t len,
                            const ddas_json_options *opt, ddas_json_doc **out,
                            ddas_json_error *err) {
  static const ddas_json_options defaults;
  parser ps;
  arena mem = {NULL, 64 * 1024, 0, 0, 0};
  ddas_json_doc *doc = NULL;
  ddas_json root;
  ddas_result r;

  *out = NULL;
  if(err) {
    memset(err, 0, sizeof(*err));
    err->code = "";
  }
  memset(&ps, 0, sizeof(ps));
  ps.start = ps.p = (const unsigned char *)buf;
  ps.end = ps.start + len;
  ps.err = err;
  ps.mem = &mem;
  ps.opt = opt ? opt : &defaults;
  ps.max_depth = ps.opt->max_depth ? ps.opt->max_depth : DEFAULT_MAX_DEPTH;
  mem.limit = ddas_json_memory_budget(len, opt);

  if(len > MAX_INPUT) {
    ps.end = ps.start;
    fail(&ps, DDAS_ERR_LIMIT, "too-large", ps.start,
         "input too large: at most 4 GiB can be parsed");
    return ps.fail;
  }
  if(ps.max_depth > DEFAULT_MAX_DEPTH) {
    size_t bytes = (ps.max_depth + 2u) * sizeof(frame);
    if(charge(&mem, ddas_alloc_slack() + bytes))
      ps.deep_frames = ddas_calloc(ps.max_depth + 2u, sizeof(frame));
    if(!ps.deep_frames) {
      fail_alloc(&ps);
      return ps.fail;
    }
  }
  /* Chunks of an eighth of the input (64 KiB to 16 MiB): few allocations,
   * and at most one partly used chunk, so the tree costs little more than
   * its nodes (doubling chunks wasted up to half, which the budget would
   * have to allow for). */
  if(len / 8 > mem.next_size)
    mem.next_size = len / 8 < (16u << 20) ? len / 8 : (16u << 20);
  /* From 2 MiB of input on, chunks are at least one huge page (see
   * BIG_CHUNK): chunks of 256 KiB to 2 MiB were mapped by malloc (above
   * its mmap threshold, which only ever rises to the size just freed) and
   * faulted in anew, 4 KiB at a time, by every parse of such an input:
   * the schema-only path of a 10 MB file lost a third of its speed */
  if(len >= BIG_CHUNK && mem.next_size < BIG_CHUNK - CHUNK_HDR)
    mem.next_size = BIG_CHUNK - CHUNK_HDR;

  if(len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
    fail(&ps, DDAS_ERR_SYNTAX, "bom", ps.start,
         "the input starts with a byte order mark; save it as UTF-8 without "
         "BOM");
    goto out;
  }
  if(!parse_value(&ps, &root))
    goto out;
  skip_ws(&ps);
  if(ps.p < ps.end) {
    fail(&ps, DDAS_ERR_SYNTAX, "trailing", ps.p,
         *ps.p == 0 ? "NUL byte after the JSON value"
                    : "unexpected data after the JSON value (only one value "
                      "per document)");
    goto out;
  }
  if(ps.duplicates) {
    /* all reported through on_duplicate; err keeps code "" */
    ps.fail = DDAS_ERR_SYNTAX;
    goto out;
  }
  doc = arena_alloc(&mem, sizeof(*doc));
  if(!doc) {
    fail_alloc(&ps);
    goto out;
  }
  doc->root = root;
  doc->input = buf;
  mem.limit = 0;  /* the parse is over: see arena */
  doc->mem = mem; /* copied last: the arena holds the doc itself */
  *out = doc;
out:
  r = ps.fail;
  ddas_free(ps.vals);
  ddas_free(ps.mems);
  ddas_free(ps.dupset);
  ddas_free(ps.deep_frames);
  if(r)
    arena_free(&mem);
  return r;
}

/* ---- queries ---------------------------------------------------------- */

int ddas_json_equal(const ddas_json *a, const ddas_json *b) {
  size_t i;
  if(a->type != b->type)
    return 0;
  switch(a->type) {
  case DDAS_JSON_NULL:
  case DDAS_JSON_TRUE:
  case DDAS_JSON_FALSE: return 1;
  case DDAS_JSON_NUMBER: return a->u.num == b->u.num;
  case DDAS_JSON_STRING:
    return a->n == b->n && (a->n == 0 || memcmp(a->u.str, b->u.str, a->n) == 0);
  case DDAS_JSON_ARRAY:
    if(a->n != b->n)
      return 0;
    for(i = 0; i < a->n; i++)
      if(!ddas_json_equal(&a->u.items[i], &b->u.items[i]))
        return 0;
    return 1;
  case DDAS_JSON_OBJECT:
    /* member names are unique (the parser guarantees it), so equal counts
     * and every member of a found equal in b means equality */
    if(a->n != b->n)
      return 0;
    for(i = 0; i < a->n; i++) {
      const ddas_json_member *m = &a->u.members[i];
      size_t j;
      int found = 0;
      for(j = 0; j < b->n; j++) {
        const ddas_json_member *o = &b->u.members[j];
        if(o->key_len == m->key_len &&
           memcmp(o->key, m->key, m->key_len) == 0) {
          found = ddas_json_equal(&m->value, &o->value);
          break;
        }
      }
      if(!found)
        return 0;
    }
    return 1;
  }
  return 0;
}

const char *ddas_json_type_name(const ddas_json *v) {
  switch(v->type) {
  case DDAS_JSON_NULL: return "null";
  case DDAS_JSON_TRUE:
  case DDAS_JSON_FALSE: return "boolean";
  case DDAS_JSON_NUMBER:
    return (v->flags & DDAS_JSON_F_INTEGRAL) ? "integer" : "number";
  case DDAS_JSON_STRING: return "string";
  case DDAS_JSON_ARRAY: return "array";
  case DDAS_JSON_OBJECT: return "object";
  }
  return "unknown";
}

/* ---- JSON Pointer ----------------------------------------------------- */

int ddas_json_pointer_push_key(char *buf, size_t cap, const char *key,
                               size_t key_len) {
  size_t len = strlen(buf), need = len + 1, i, w;
  for(i = 0; i < key_len; i++)
    need += (key[i] == '~' || key[i] == '/') ? 2 : 1;
  if(need + 1 > cap)
    return -1;
  w = len;
  buf[w++] = '/';
  for(i = 0; i < key_len; i++) {
    if(key[i] == '~') {
      buf[w++] = '~';
      buf[w++] = '0';
    } else if(key[i] == '/') {
      buf[w++] = '~';
      buf[w++] = '1';
    } else {
      buf[w++] = key[i];
    }
  }
  buf[w] = '\0';
  return 0;
}

int ddas_json_pointer_push_index(char *buf, size_t cap, size_t index) {
  size_t len = strlen(buf);
  int n = snprintf(buf + len, cap > len ? cap - len : 0, "/%zu", index);
  if(n < 0 || (size_t)n >= cap - len) {
    buf[len] = '\0';
    return -1;
  }
  return 0;
}

const ddas_json *ddas_json_pointer_get(const ddas_json *root, const char *ptr,
                                       size_t len) {
  const ddas_json *cur = root;
  size_t i = 0;
  char tok[512];
  while(i < len) {
    size_t t = 0;
    if(ptr[i] != '/')
      return NULL;
    i++;
    while(i < len && ptr[i] != '/') {
      char c = ptr[i++];
      if(c == '~') {
        if(i >= len || (ptr[i] != '0' && ptr[i] != '1'))
          return NULL;
        c = ptr[i++] == '0' ? '~' : '/';
      }
      if(t + 1 >= sizeof(tok))
        return NULL;
      tok[t++] = c;
    }
    tok[t] = '\0';
    if(cur->type == DDAS_JSON_OBJECT) {
      size_t j;
      const ddas_json *next = NULL;
      for(j = 0; j < cur->n; j++) {
        const ddas_json_member *m = &cur->u.members[j];
        if(m->key_len == t && memcmp(m->key, tok, t) == 0) {
          next = &m->value;
          break;
        }
      }
      if(!next)
        return NULL;
      cur = next;
    } else if(cur->type == DDAS_JSON_ARRAY) {
      size_t idx = 0, k;
      if(t == 0 || (t > 1 && tok[0] == '0'))
        return NULL;
      for(k = 0; k < t; k++) {
        if(tok[k] < '0' || tok[k] > '9' || idx > 100000000u)
          return NULL;
        idx = idx * 10 + (size_t)(tok[k] - '0');
      }
      if(idx >= cur->n)
        return NULL;
      cur = &cur->u.items[idx];
    } else {
      return NULL;
    }
  }
  return cur;
}
