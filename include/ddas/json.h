/* ddas/json.h: a strict RFC 8259 parser into a compact, read-only tree.
 *
 * Purpose-built for validating large deliveries fast: one pass, no
 * recursion beyond the (bounded) nesting depth, every node in one arena, and
 * strings without escapes pointing straight into the input buffer. Every
 * node keeps its byte span in the input, so a record can later be copied out
 * as the exact bytes it came in as.
 *
 * Strictness (each is a json.syntax finding, never a crash):
 *  - RFC 8259 grammar only: no comments, trailing commas, NaN, leading zeros,
 *    single quotes, BOM, or bytes after the value;
 *  - the input is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF);
 *    a \u escape may not leave a surrogate unpaired;
 *  - no raw control characters (including NUL) inside strings;
 *  - member names are unique within an object;
 *  - nesting is at most `max_depth` (default 64) arrays/objects;
 *  - numbers must be finite as IEEE doubles;
 *  - the input is not empty and not larger than 4 GiB - 1;
 *  - the parse stays within a memory budget (ddas_json_memory_budget):
 *    the tree costs 24 bytes per value, so input made of tiny values
 *    ([0,0,...]: 12 bytes per input byte) is refused ("memory-limit")
 *    instead of taking many times its size, while DDAS deliveries pass
 *    (measured on bench/gen_delivery.py output: 1.0 times their size
 *    indented, 1.9 times compact). */
#ifndef DDAS_JSON_H
#define DDAS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ddas/result.h"

typedef enum {
  DDAS_JSON_NULL = 0,
  DDAS_JSON_FALSE,
  DDAS_JSON_TRUE,
  DDAS_JSON_NUMBER,
  DDAS_JSON_STRING,
  DDAS_JSON_ARRAY,
  DDAS_JSON_OBJECT
} ddas_json_type;

/* Flags of a node. */
#define DDAS_JSON_F_INTEGRAL 0x01u /* number: mathematically an integer */
#define DDAS_JSON_F_ESCAPED 0x02u  /* string: had escapes; str is decoded */

typedef struct ddas_json ddas_json;
typedef struct ddas_json_member ddas_json_member;

struct ddas_json {
  uint8_t type;  /* ddas_json_type */
  uint8_t flags; /* DDAS_JSON_F_* */
  uint16_t spare;
  uint32_t n;     /* string: byte length; array/object: number of children */
  uint32_t start; /* byte offset of the value's first byte in the input */
  uint32_t end;   /* byte offset one past the value's last byte */
  union {
    double num;       /* NUMBER */
    const char *str;  /* STRING: n bytes of UTF-8, not NUL-terminated */
    ddas_json *items; /* ARRAY: n values */
    ddas_json_member *members; /* OBJECT: n members, in input order */
  } u;
};

struct ddas_json_member {
  const char *key; /* UTF-8, key_len bytes, not NUL-terminated */
  uint32_t key_len;
  uint32_t key_flags; /* DDAS_JSON_F_ESCAPED: the name had escapes; without
                         it, key holds the input's bytes, which need no
                         escaping when written out again */
  ddas_json value;
};

typedef struct ddas_json_doc ddas_json_doc;

/* Why parsing stopped. `code` is a stable short identifier:
 * "syntax", "utf8", "control-char", "escape", "surrogate", "duplicate-key",
 * "depth", "number-range", "empty", "trailing", "bom", "too-large",
 * "memory-limit", "nomem". `pointer` is the JSON Pointer of the value being
 * parsed when the error was found ("" = the document itself). `message` never
 * quotes input bytes: it describes the defect in general terms. */
typedef struct {
  const char *code;
  size_t offset;   /* byte offset of the offending byte */
  unsigned line;   /* 1-based */
  unsigned column; /* 1-based, in bytes */
  char pointer[512];
  char message[200];
} ddas_json_error;

typedef struct {
  unsigned max_depth; /* 0 = default 64 */
  size_t max_memory;  /* bytes the parse may allocate; 0 = the default
                         budget (see ddas_json_memory_budget) */
  /* When set, a repeated member name does not stop the parse: every
   * repetition (a name given three times is two) in every object is passed
   * here with its position and pointer when its object closes (so an inner
   * object's before its parent's; sort by offset for input order), and
   * parsing goes on. The parse still fails with DDAS_ERR_SYNTAX: `err` then
   * describes the first other defect, or has code "" when the duplicates were
   * the only ones. `e` is valid during the call only. */
  void (*on_duplicate)(void *ctx, const ddas_json_error *e);
  void *ctx;
} ddas_json_options;

/* The default budget is DDAS_JSON_MEMORY_FACTOR times the input plus
 * DDAS_JSON_MEMORY_BASE (for the first arena chunk, the scratch stacks and
 * a deep --max-depth on tiny inputs). */
#define DDAS_JSON_MEMORY_FACTOR 4u
#define DDAS_JSON_MEMORY_BASE ((size_t)1 << 20)

/* The bytes a parse of `len` bytes with `opt` (may be NULL) may allocate:
 * opt->max_memory, else the default. Everything the parser allocates is
 * counted as core/alloc.c counts it (ddas_alloc_peak), so the allocator's
 * high-water mark during ddas_json_parse() rises by at most this much; an
 * input that would need more fails with DDAS_ERR_LIMIT, code
 * "memory-limit", at the value being parsed. The budget covers the parse
 * only: the buffer is the caller's, and later stages (normalisation,
 * findings) allocate on their own. */
size_t ddas_json_memory_budget(size_t len, const ddas_json_options *opt);

/* Parses buf[0..len). On success *out owns the tree; `buf` is borrowed and
 * must stay alive and unchanged until ddas_json_doc_free() (unescaped
 * strings point into it). On failure *out is NULL and `err` (when not NULL)
 * says why: DDAS_ERR_SYNTAX, DDAS_ERR_LIMIT (depth, size, memory) or
 * DDAS_ERR_NOMEM. */
ddas_result ddas_json_parse(const char *buf, size_t len,
                            const ddas_json_options *opt, ddas_json_doc **out,
                            ddas_json_error *err);

/* The root value; never NULL for a parsed document. */
const ddas_json *ddas_json_root(const ddas_json_doc *doc);
/* The input buffer the document was parsed from. */
const char *ddas_json_input(const ddas_json_doc *doc);
void ddas_json_doc_free(ddas_json_doc *doc);

/* For the core's normalisations only: the root as a mutable value, and
 * memory that lives as long as the document (for rewritten strings). The
 * tree may be changed in place (members removed, string spans narrowed or
 * redirected), never grown. */
ddas_json *ddas_json_root_mut(ddas_json_doc *doc);
void *ddas_json_doc_alloc(ddas_json_doc *doc, size_t n);

/* Object member lookup by NUL-terminated name; NULL when absent or when
 * `obj` is not an object. Linear: for hot paths use compiled schemas.
 * Inline, because the rules and the batcher call it with literal names
 * tens of times per record: the name's length and the comparison are then
 * constants (it was a tenth of the full path's time as a call). */
static inline const ddas_json *ddas_json_get(const ddas_json *obj,
                                             const char *key) {
  size_t i, n;
  if(!obj || obj->type != DDAS_JSON_OBJECT)
    return NULL;
  n = strlen(key);
  /* the first byte first: most members of a DDAS object differ there */
  for(i = 0; i < obj->n; i++) {
    const ddas_json_member *m = &obj->u.members[i];
    if(m->key_len == n &&
       (n == 0 || (m->key[0] == key[0] && memcmp(m->key, key, n) == 0)))
      return &m->value;
  }
  return NULL;
}
/* 1 when a and b are equal JSON values: numbers by value (1 == 1.0),
 * objects regardless of member order. */
int ddas_json_equal(const ddas_json *a, const ddas_json *b);
/* Name of a type ("null", "boolean", "number", "integer", ...). */
const char *ddas_json_type_name(const ddas_json *v);

/* Appends an RFC 6901 reference token (escaping ~ and /) for a member name
 * or an array index to the NUL-terminated pointer in buf[cap]. Returns 0, or
 * -1 when it does not fit (buf is then left unchanged). */
int ddas_json_pointer_push_key(char *buf, size_t cap, const char *key,
                               size_t key_len);
int ddas_json_pointer_push_index(char *buf, size_t cap, size_t index);

/* Resolves an RFC 6901 pointer (without the leading '#', already
 * percent-decoded) against root. NULL when it does not resolve. */
const ddas_json *ddas_json_pointer_get(const ddas_json *root, const char *ptr,
                                       size_t len);

#endif
