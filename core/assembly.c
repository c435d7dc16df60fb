/* Delivery assembly (see ddas/assembly.h). Deliveries live in one array in
 * the order they were opened, so tick and revoke report them in that order;
 * a partition has few open deliveries at a time (one per chunked delivery
 * in progress), so linear search is the right tool. Every function that
 * can fail allocates before it changes anything. */
#include "ddas/assembly.h"

#include <string.h>

#include "ddas/alloc.h"
#include "ddas/offsets.h"

typedef struct {
  uint64_t handle;
  char *id;
  unsigned nchunks;
  unsigned expected; /* the next chunk index to check */
  uint64_t last_ms;  /* when its last chunk came */
  int64_t *offs;     /* offsets of the checked chunks */
  size_t noffs, capoffs;
  int ended; /* COMPLETE or INCOMPLETE was given */
} asm_delivery;

struct ddas_assembler {
  ddas_offsets *trk;
  asm_delivery *d;
  size_t n, cap;
  uint64_t next_handle;
  uint64_t timeout_ms;
  int64_t last_offset; /* the highest offset taken; -1: none */
};

const char *ddas_asm_reason_text(ddas_asm_reason r) {
  switch(r) {
  case DDAS_ASM_WHY_RESTARTED:
    return "the delivery started again before its last chunk arrived";
  case DDAS_ASM_WHY_GAP: return "a chunk is missing";
  case DDAS_ASM_WHY_COUNT:
    return "a chunk gives another chunk count than the delivery's first chunk";
  case DDAS_ASM_WHY_TIMEOUT: return "the next chunk did not arrive in time";
  case DDAS_ASM_WHY_ORPHAN:
    return "a chunk of a delivery whose first chunk was not seen, or that "
           "had already ended";
  case DDAS_ASM_WHY_HEADER:
    return "the ddas-chunk header is not i/n with 1 <= i <= n <= 100000";
  case DDAS_ASM_WHY_REVOKED: return "the partition was revoked";
  case DDAS_ASM_WHY_NONE: break;
  }
  return "";
}

const char *ddas_asm_reason_id(ddas_asm_reason r) {
  switch(r) {
  case DDAS_ASM_WHY_RESTARTED: return "restarted";
  case DDAS_ASM_WHY_GAP: return "gap";
  case DDAS_ASM_WHY_COUNT: return "chunk-count";
  case DDAS_ASM_WHY_TIMEOUT: return "timeout";
  case DDAS_ASM_WHY_ORPHAN: return "orphan";
  case DDAS_ASM_WHY_HEADER: return "chunk-header";
  case DDAS_ASM_WHY_REVOKED: return "revoked";
  case DDAS_ASM_WHY_NONE: break;
  }
  return "";
}

ddas_result ddas_asm_new(uint64_t incomplete_after_ms, ddas_assembler **out) {
  ddas_assembler *a = ddas_calloc(1, sizeof(*a));
  *out = NULL;
  if(!a || ddas_offsets_new(&a->trk)) {
    ddas_free(a);
    return DDAS_ERR_NOMEM;
  }
  a->next_handle = 1;
  a->timeout_ms = incomplete_after_ms;
  a->last_offset = -1;
  *out = a;
  return DDAS_OK;
}

static void drop_at(ddas_assembler *a, size_t i) {
  ddas_free(a->d[i].id);
  ddas_free(a->d[i].offs);
  memmove(a->d + i, a->d + i + 1, (a->n - i - 1) * sizeof(*a->d));
  a->n--;
}

void ddas_asm_free(ddas_assembler *a) {
  if(!a)
    return;
  while(a->n)
    drop_at(a, a->n - 1);
  ddas_free(a->d);
  ddas_offsets_free(a->trk);
  ddas_free(a);
}

/* "i/n" with 1 <= i <= n <= DDAS_ASM_MAX_CHUNKS, digits only; 0 or -1. */
static int parse_chunk(const char *h, unsigned *i, unsigned *n) {
  unsigned long v[2] = {0, 0};
  int k;
  for(k = 0; k < 2; k++) {
    const char *s = h;
    if(*h < '0' || *h > '9')
      return -1;
    while(*h >= '0' && *h <= '9') {
      v[k] = v[k] * 10 + (unsigned long)(*h++ - '0');
      if(h - s > 6)
        return -1;
    }
    if(k == 0 && *h++ != '/')
      return -1;
  }
  if(*h || v[0] < 1 || v[0] > v[1] || v[1] > DDAS_ASM_MAX_CHUNKS)
    return -1;
  *i = (unsigned)v[0];
  *n = (unsigned)v[1];
  return 0;
}

/* The open (not ended) delivery called id, or NULL. */
static asm_delivery *find_open(ddas_assembler *a, const char *id) {
  size_t i;
  for(i = 0; i < a->n; i++)
    if(!a->d[i].ended && strcmp(a->d[i].id, id) == 0)
      return &a->d[i];
  return NULL;
}

static asm_delivery *find_handle(const ddas_assembler *a, uint64_t h,
                                 size_t *at) {
  size_t i;
  for(i = 0; i < a->n; i++)
    if(a->d[i].handle == h) {
      if(at)
        *at = i;
      return &a->d[i];
    }
  return NULL;
}

static int reserve_offs(asm_delivery *d) {
  if(d->noffs == d->capoffs) {
    size_t cap = d->capoffs ? d->capoffs * 2 : 4;
    int64_t *p = ddas_realloc(d->offs, cap * sizeof(*p));
    if(!p)
      return -1;
    d->offs = p;
    d->capoffs = cap;
  }
  return 0;
}

static ddas_asm_action act(ddas_asm_kind k, uint64_t delivery, int64_t offset,
                           unsigned chunk, unsigned nchunks,
                           ddas_asm_reason why) {
  ddas_asm_action x;
  memset(&x, 0, sizeof(x));
  x.kind = k;
  x.delivery = delivery;
  x.offset = offset;
  x.chunk = chunk;
  x.nchunks = nchunks;
  x.reason = why;
  return x;
}

static ddas_asm_action end_incomplete(asm_delivery *d, ddas_asm_reason why) {
  ddas_asm_action x =
      act(DDAS_ASM_INCOMPLETE, d->handle, -1, 0, d->nchunks, why);
  x.seen = d->expected - 1;
  d->ended = 1;
  return x;
}

/* Opens a delivery for the message (chunk 1 of n) in the slot reserved by
 * the caller. */
static asm_delivery *open_delivery(ddas_assembler *a, char *id, int64_t *offs,
                                   unsigned n, uint64_t now) {
  asm_delivery *d = &a->d[a->n++];
  memset(d, 0, sizeof(*d));
  d->handle = a->next_handle++;
  d->id = id;
  d->nchunks = n;
  d->expected = 1;
  d->last_ms = now;
  d->offs = offs;
  d->capoffs = 4;
  return d;
}

ddas_result ddas_asm_message(ddas_assembler *a, const ddas_asm_message_in *m,
                             ddas_asm_action acts[DDAS_ASM_MAX_ACTIONS],
                             size_t *nacts) {
  unsigned ci = 1, cn = 1;
  asm_delivery *d;
  size_t k = 0;
  *nacts = 0;
  if(!m->delivery_id || !*m->delivery_id || m->offset < 0)
    return DDAS_ERR_ARG;
  if(m->offset <= a->last_offset) {
    acts[0] = act(DDAS_ASM_REPEAT, 0, m->offset, 0, 0, DDAS_ASM_WHY_NONE);
    *nacts = 1;
    return DDAS_OK;
  }
  if(m->chunk_header && parse_chunk(m->chunk_header, &ci, &cn)) {
    if(ddas_offsets_begin(a->trk, m->offset))
      return DDAS_ERR_NOMEM;
    a->last_offset = m->offset;
    acts[0] = act(DDAS_ASM_DROP, 0, m->offset, 0, 0, DDAS_ASM_WHY_HEADER);
    *nacts = 1;
    return DDAS_OK;
  }
  d = find_open(a, m->delivery_id);
  if(ci == 1) {
    /* a new delivery: everything it needs is allocated first */
    char *id = ddas_strdup(m->delivery_id);
    int64_t *offs = ddas_malloc(4 * sizeof(*offs));
    size_t at = d ? (size_t)(d - a->d) : 0;
    if(id && offs && a->n == a->cap) {
      size_t cap = a->cap ? a->cap * 2 : 8;
      asm_delivery *p = ddas_realloc(a->d, cap * sizeof(*p));
      if(p) {
        a->d = p;
        a->cap = cap;
      }
    }
    if(!id || !offs || a->n == a->cap ||
       ddas_offsets_begin(a->trk, m->offset)) {
      ddas_free(id);
      ddas_free(offs);
      return DDAS_ERR_NOMEM;
    }
    if(d)
      acts[k++] = end_incomplete(&a->d[at], DDAS_ASM_WHY_RESTARTED);
    d = open_delivery(a, id, offs, cn, m->now_ms);
  } else if(!d || cn != d->nchunks || ci > d->expected) {
    /* not the next chunk of an open delivery: dropped, and the delivery
     * it breaks (if any) ends incomplete */
    ddas_asm_reason why = !d                 ? DDAS_ASM_WHY_ORPHAN
                          : cn != d->nchunks ? DDAS_ASM_WHY_COUNT
                                             : DDAS_ASM_WHY_GAP;
    if(ddas_offsets_begin(a->trk, m->offset))
      return DDAS_ERR_NOMEM;
    a->last_offset = m->offset;
    if(d)
      acts[k++] = end_incomplete(d, why);
    acts[k] = act(DDAS_ASM_DROP, 0, m->offset, ci, cn, why);
    *nacts = k + 1;
    return DDAS_OK;
  } else if(ci < d->expected) {
    /* already checked: its records are in the delivery's outcomes */
    if(ddas_offsets_begin(a->trk, m->offset))
      return DDAS_ERR_NOMEM;
    ddas_offsets_done(a->trk, m->offset);
    a->last_offset = m->offset;
    acts[0] = act(DDAS_ASM_DUPLICATE, d->handle, m->offset, ci, cn,
                  DDAS_ASM_WHY_NONE);
    *nacts = 1;
    return DDAS_OK;
  } else if(reserve_offs(d) || ddas_offsets_begin(a->trk, m->offset)) {
    return DDAS_ERR_NOMEM;
  }
  /* ci == d->expected */
  a->last_offset = m->offset;
  d->offs[d->noffs++] = m->offset;
  d->expected++;
  d->last_ms = m->now_ms;
  acts[k] =
      act(DDAS_ASM_CHECK, d->handle, m->offset, ci, cn, DDAS_ASM_WHY_NONE);
  acts[k++].first = ci == 1;
  if(ci == cn) {
    d->ended = 1;
    acts[k++] = act(DDAS_ASM_COMPLETE, d->handle, -1, 0, cn, DDAS_ASM_WHY_NONE);
  }
  *nacts = k;
  return DDAS_OK;
}

size_t ddas_asm_tick(ddas_assembler *a, uint64_t now_ms, ddas_asm_action *acts,
                     size_t cap) {
  size_t i, k = 0;
  for(i = 0; i < a->n && k < cap; i++) {
    asm_delivery *d = &a->d[i];
    if(!d->ended && now_ms > d->last_ms && now_ms - d->last_ms > a->timeout_ms)
      acts[k++] = end_incomplete(d, DDAS_ASM_WHY_TIMEOUT);
  }
  return k;
}

size_t ddas_asm_revoke(ddas_assembler *a, ddas_asm_action *acts, size_t cap) {
  size_t k = 0;
  while(a->n && k < cap) {
    acts[k++] = act(DDAS_ASM_ABANDON, a->d[0].handle, -1, 0, a->d[0].nchunks,
                    DDAS_ASM_WHY_REVOKED);
    drop_at(a, 0);
  }
  if(k < cap) {
    ddas_offsets_reset(a->trk);
    a->last_offset = -1;
  }
  return k;
}

ddas_result ddas_asm_delivery_done(ddas_assembler *a, uint64_t delivery) {
  size_t at, i;
  asm_delivery *d = find_handle(a, delivery, &at);
  if(!d || !d->ended)
    return DDAS_ERR_ARG;
  for(i = 0; i < d->noffs; i++)
    ddas_offsets_done(a->trk, d->offs[i]);
  drop_at(a, at);
  return DDAS_OK;
}

void ddas_asm_offset_done(ddas_assembler *a, int64_t offset) {
  ddas_offsets_done(a->trk, offset);
}

int64_t ddas_asm_committable(const ddas_assembler *a) {
  return ddas_offsets_committable(a->trk);
}

size_t ddas_asm_open(const ddas_assembler *a) {
  size_t i, n = 0;
  for(i = 0; i < a->n; i++)
    n += !a->d[i].ended;
  return n;
}

size_t ddas_asm_ended(const ddas_assembler *a) {
  return a->n - ddas_asm_open(a);
}

size_t ddas_asm_pending(const ddas_assembler *a) {
  return ddas_offsets_pending(a->trk);
}

const int64_t *ddas_asm_offsets(const ddas_assembler *a, uint64_t delivery,
                                size_t *n) {
  asm_delivery *d = find_handle(a, delivery, NULL);
  *n = d ? d->noffs : 0;
  return d ? d->offs : NULL;
}
