/* fuzz/targets.c: the bodies of the libFuzzer targets (see targets.h).
 *
 * Only the public API of the core is used. Every check here is an invariant
 * that the headers in include/ddas/ promise; when one does not hold,
 * fz_fail() aborts with a message, which libFuzzer reports as a crash. */
#include "targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ddas/alloc.h"
#include "ddas/batch.h"
#include "ddas/chunk.h"
#include "ddas/detect.h"
#include "ddas/format.h"
#include "ddas/gegevens.h"
#include "ddas/http.h"
#include "ddas/json.h"
#include "ddas/rules.h"
#include "ddas/sign.h"
#include "ddas/validate.h"

void fz_fail(const char *target, const char *what) {
  fprintf(stderr, "%s: invariant violated: %s\n", target, what);
  fflush(stderr);
  abort();
}

/* Aborts when the parse error in `e` is not well-formed. */
static void check_json_error(const char *target, const ddas_json_error *e,
                             size_t size) {
  if(!e->code || !*e->code)
    fz_fail(target, "parse error without a code");
  if(e->offset > size)
    fz_fail(target, "parse error offset beyond the input");
  if(e->line < 1 || e->column < 1)
    fz_fail(target, "parse error line or column below 1");
  if(!memchr(e->pointer, '\0', sizeof(e->pointer)) ||
     !memchr(e->message, '\0', sizeof(e->message)))
    fz_fail(target, "parse error pointer or message not terminated");
  if(e->pointer[0] != '\0' && e->pointer[0] != '/')
    fz_fail(target, "parse error pointer does not start with '/'");
}

/* ---- fuzz_json ---------------------------------------------------------- */

#define FZ_PTR_CAP 4096
#define FZ_TOKEN_MAX 511

typedef struct {
  const ddas_json *root;
  const char *input;
  size_t size;
  unsigned depth;  /* deepest nesting of arrays and objects seen */
  size_t symmetry; /* containers checked for symmetric equality so far */
  char key[FZ_PTR_CAP];
} jwalk;

static void check_symmetry(jwalk *w, const ddas_json *v) {
  const ddas_json *c[6];
  size_t n = v->n < 6 ? v->n : 6, i, j;
  if(w->symmetry++ >= 64)
    return;
  for(i = 0; i < n; i++)
    c[i] = v->type == DDAS_JSON_ARRAY ? &v->u.items[i] : &v->u.members[i].value;
  for(i = 0; i < n; i++) {
    if(ddas_json_equal(c[i], c[i]) != 1)
      fz_fail("fuzz_json", "a value is not equal to itself");
    for(j = i + 1; j < n; j++)
      if(ddas_json_equal(c[i], c[j]) != ddas_json_equal(c[j], c[i]))
        fz_fail("fuzz_json", "ddas_json_equal is not symmetric");
  }
}

/* Walks the tree: spans, unescaped strings pointing into the input, every
 * node reachable by its JSON Pointer and every member by ddas_json_get.
 * `ptr` is NULL below a member name that cannot be a C string (it holds a
 * NUL) or is longer than FZ_TOKEN_MAX, or when the pointer no longer fits. */
static void walk(jwalk *w, const ddas_json *v, char *ptr, unsigned depth) {
  size_t plen = ptr ? strlen(ptr) : 0, i;
  char first;
  if(!ddas_json_type_name(v) || v->type > DDAS_JSON_OBJECT)
    fz_fail("fuzz_json", "node of unknown type");
  if(v->start >= v->end || v->end > w->size)
    fz_fail("fuzz_json", "node span outside the input");
  first = w->input[v->start];
  switch(v->type) {
  case DDAS_JSON_NULL:
    if(first != 'n')
      fz_fail("fuzz_json", "null span");
    break;
  case DDAS_JSON_FALSE:
    if(first != 'f')
      fz_fail("fuzz_json", "false span");
    break;
  case DDAS_JSON_TRUE:
    if(first != 't')
      fz_fail("fuzz_json", "true span");
    break;
  case DDAS_JSON_NUMBER:
    if(first != '-' && (first < '0' || first > '9'))
      fz_fail("fuzz_json", "number span");
    break;
  case DDAS_JSON_STRING:
    if(first != '"' || w->input[v->end - 1] != '"')
      fz_fail("fuzz_json", "string span");
    if(!(v->flags & DDAS_JSON_F_ESCAPED) &&
       (v->u.str != w->input + v->start + 1 || v->n != v->end - v->start - 2))
      fz_fail("fuzz_json", "unescaped string does not point into the input");
    break;
  case DDAS_JSON_ARRAY:
    if(first != '[' || w->input[v->end - 1] != ']')
      fz_fail("fuzz_json", "array span");
    break;
  case DDAS_JSON_OBJECT:
    if(first != '{' || w->input[v->end - 1] != '}')
      fz_fail("fuzz_json", "object span");
    break;
  }
  if(ptr && ddas_json_pointer_get(w->root, ptr, plen) != v)
    fz_fail("fuzz_json", "a JSON Pointer does not resolve to its node");
  if(v->type != DDAS_JSON_ARRAY && v->type != DDAS_JSON_OBJECT)
    return;
  if(depth + 1 > w->depth)
    w->depth = depth + 1;
  check_symmetry(w, v);
  for(i = 0; i < v->n; i++) {
    char *child = NULL;
    if(v->type == DDAS_JSON_ARRAY) {
      if(ptr && ddas_json_pointer_push_index(ptr, FZ_PTR_CAP, i) == 0)
        child = ptr;
      walk(w, &v->u.items[i], child, depth + 1);
    } else {
      const ddas_json_member *m = &v->u.members[i];
      int has_nul = memchr(m->key, '\0', m->key_len) != NULL;
      if(!has_nul && m->key_len < sizeof(w->key)) {
        memcpy(w->key, m->key, m->key_len);
        w->key[m->key_len] = '\0';
        if(ddas_json_get(v, w->key) != &m->value)
          fz_fail("fuzz_json", "ddas_json_get does not find a member");
      }
      /* ddas_json_pointer_get resolves reference tokens of at most
       * FZ_TOKEN_MAX bytes (core/json.c); longer names are not checked */
      if(ptr && !has_nul && m->key_len <= FZ_TOKEN_MAX &&
         ddas_json_pointer_push_key(ptr, FZ_PTR_CAP, m->key, m->key_len) == 0)
        child = ptr;
      walk(w, &m->value, child, depth + 1);
    }
    if(ptr)
      ptr[plen] = '\0';
  }
}

/* Parses buf and fails the target when the allocator's high-water mark
 * rose by more than the parse's budget, or when a refusal for the budget
 * is not DDAS_ERR_LIMIT "memory-limit". */
static ddas_result fz_parse_within_budget(const char *buf, size_t size,
                                          const ddas_json_options *opt) {
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  size_t base = ddas_alloc_in_use();
  ddas_result r;
  ddas_alloc_peak_reset();
  r = ddas_json_parse(buf, size, opt, &doc, &err);
  if(ddas_alloc_peak() - base > ddas_json_memory_budget(size, opt))
    fz_fail("fuzz_json", "the parse took more memory than its budget");
  if(r == DDAS_ERR_NOMEM)
    fz_fail("fuzz_json", "out of memory instead of the budget's refusal");
  if(r && strcmp(err.code, "memory-limit") == 0 && r != DDAS_ERR_LIMIT)
    fz_fail("fuzz_json", "memory-limit is not DDAS_ERR_LIMIT");
  ddas_json_doc_free(doc);
  return r;
}

void fz_json(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  ddas_json_doc *doc = NULL, *doc2 = NULL;
  ddas_json_error err;
  ddas_json_options opt = {0};
  ddas_result r;
  jwalk *w;
  char *ptr;

  /* the memory budget (ddas/json.h): the allocator's high-water mark rises
   * by at most ddas_json_memory_budget(), with the default and with a tight
   * explicit budget (which may refuse the input, with "memory-limit") */
  opt.max_memory = size + 65536;
  fz_parse_within_budget(buf, size, &opt);
  opt.max_memory = 0;
  (void)fz_parse_within_budget(buf, size, NULL);
  r = ddas_json_parse(buf, size, NULL, &doc, &err);
  if(r != DDAS_OK) {
    if(doc)
      fz_fail("fuzz_json", "failed parse left a document");
    if(r != DDAS_ERR_SYNTAX && r != DDAS_ERR_LIMIT)
      fz_fail("fuzz_json", "parse failed with an unexpected result");
    check_json_error("fuzz_json", &err, size);
    return;
  }
  if(!ddas_json_root(doc) || ddas_json_input(doc) != buf)
    fz_fail("fuzz_json", "document without root or input");

  w = calloc(1, sizeof(*w));
  ptr = calloc(1, FZ_PTR_CAP);
  if(!w || !ptr)
    abort();
  w->root = ddas_json_root(doc);
  w->input = buf;
  w->size = size;
  walk(w, w->root, ptr, 0);

  /* equality: reflexive, and a second parse of the same bytes is equal */
  if(ddas_json_equal(w->root, w->root) != 1)
    fz_fail("fuzz_json", "the document is not equal to itself");
  if(ddas_json_parse(buf, size, NULL, &doc2, &err) != DDAS_OK)
    fz_fail("fuzz_json", "a second parse of the same input failed");
  if(ddas_json_equal(w->root, ddas_json_root(doc2)) != 1)
    fz_fail("fuzz_json", "two parses of the same input differ");
  ddas_json_doc_free(doc2);
  doc2 = NULL;

  /* the depth limit: exactly the measured depth passes, one less fails */
  if(w->depth >= 1) {
    opt.max_depth = w->depth;
    if(ddas_json_parse(buf, size, &opt, &doc2, &err) != DDAS_OK)
      fz_fail("fuzz_json", "parse fails at max_depth = its own depth");
    ddas_json_doc_free(doc2);
    doc2 = NULL;
  }
  if(w->depth >= 2) {
    opt.max_depth = w->depth - 1;
    r = ddas_json_parse(buf, size, &opt, &doc2, &err);
    if(r != DDAS_ERR_LIMIT || strcmp(err.code, "depth") != 0)
      fz_fail("fuzz_json", "parse passes below its own depth");
    check_json_error("fuzz_json", &err, size);
  }
  free(ptr);
  free(w);
  ddas_json_doc_free(doc);
}

/* ---- fuzz_validate ------------------------------------------------------ */

static ddas_schemaset *fz_set;

static const struct {
  ddas_kind kind;
  const char *version;
} fz_kinds[] = {{DDAS_KIND_SHV, "1.0"},
                {DDAS_KIND_SHV, "0.10"},
                {DDAS_KIND_SHV, "0.9"},
                {DDAS_KIND_VS, "0.9"}};

int fz_validate_init(const char *schema_dir) {
  const ddas_schema *s;
  char err[512];
  size_t i;
  if(ddas_schemaset_new(schema_dir, &fz_set))
    return -1;
  for(i = 0; i < sizeof(fz_kinds) / sizeof(fz_kinds[0]); i++) {
    if(ddas_schemaset_get(fz_set, fz_kinds[i].kind, fz_kinds[i].version, &s,
                          err, sizeof(err))) {
      fprintf(stderr, "fuzz_validate: %s\n", err);
      return -1;
    }
  }
  return 0;
}

void fz_validate_cleanup(void) {
  ddas_schemaset_free(fz_set);
  fz_set = NULL;
}

static void check_result(const ddas_validate_result *res) {
  size_t i;
  int syntax = 0;
  ddas_rejection_group *g = NULL;
  size_t ng = 0;
  if(res->valid != (res->findings.errors == 0))
    fz_fail("fuzz_validate", "valid disagrees with the error count");
  if(res->findings.count > res->findings.errors + res->findings.warnings)
    fz_fail("fuzz_validate", "more findings stored than counted");
  for(i = 0; i < res->findings.count; i++) {
    const ddas_finding *f = &res->findings.items[i];
    if(!f->rule || !f->pointer || !f->message)
      fz_fail("fuzz_validate", "finding without rule, pointer or message");
    if(f->pointer[0] != '\0' && f->pointer[0] != '/')
      fz_fail("fuzz_validate", "finding pointer does not start with '/'");
    if(strcmp(f->rule, "json.syntax") == 0)
      syntax = 1;
  }
  if(!res->parsed && !syntax)
    fz_fail("fuzz_validate", "unparsed input without a json.syntax finding");
  if(ddas_rejection_groups(res, &g, &ng) != DDAS_OK)
    fz_fail("fuzz_validate", "ddas_rejection_groups failed");
  if(!res->valid && ng == 0)
    fz_fail("fuzz_validate", "an invalid document rejects nothing");
  ddas_rejection_groups_free(g, ng);
}

/* 1 when a batch must also be valid against the schema of its kind (the
 * README's promise; DDAS_FUZZ_BATCH_SCHEMA=1 turns the check on). */
static int batch_schema_check(void) {
  static int on = -1;
  if(on < 0) {
    const char *e = getenv("DDAS_FUZZ_BATCH_SCHEMA");
    on = e && strcmp(e, "1") == 0;
  }
  return on;
}

static void check_batch(const ddas_validate_result *res, const ddas_batch *b) {
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  size_t i;
  if(!b->body || b->len == 0)
    fz_fail("fuzz_validate", "empty batch");
  if(strlen(b->id) != 32 || strspn(b->id, "0123456789abcdef") != 32)
    fz_fail("fuzz_validate", "batch id is not 32 hex digits");
  if(ddas_json_parse(b->body, b->len, NULL, &doc, &err) != DDAS_OK) {
    fprintf(stderr, "fuzz_validate: batch %u: %s at offset %zu (%s)\n",
            b->index, err.code, err.offset, err.message);
    fz_fail("fuzz_validate", "a batch is not well-formed JSON");
  }
  ddas_json_doc_free(doc);
  if(batch_schema_check()) {
    ddas_validate_options o;
    ddas_validate_result br;
    char e[512];
    memset(&o, 0, sizeof(o));
    o.kind = res->detection.kind;
    o.version = res->detection.kind == DDAS_KIND_SHV ? "1.0" : "0.9";
    if(ddas_validate_buffer(fz_set, &o, b->body, b->len, &br, e, sizeof(e)))
      fz_fail("fuzz_validate", "validating a batch failed");
    for(i = 0; i < br.findings.count; i++)
      fprintf(stderr, "fuzz_validate: batch finding %s %s at %s\n",
              br.findings.items[i].rule,
              br.findings.items[i].keyword ? br.findings.items[i].keyword : "",
              br.findings.items[i].pointer);
    if(!br.valid)
      fz_fail("fuzz_validate", "a batch is not valid against its schema");
    ddas_validate_result_clear(&br);
  }
}

/* Runs the batcher over res and returns every batch's id and body,
 * concatenated (free()). With `release` it uses ddas_batcher_add_release(),
 * which frees res->doc; else every batch is checked with check_batch(). */
static char *run_batcher(ddas_validate_result *res, size_t max_records,
                         size_t max_bytes, int release, size_t *outlen) {
  ddas_batch_options bo;
  ddas_batcher *bt = NULL;
  ddas_batch b;
  ddas_result r;
  char *out = NULL;
  size_t len = 0;
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = "fuzz-delivery";
  bo.envelope.delivered_at = "2025-01-16T08:00:00Z";
  bo.max_records = max_records;
  bo.max_bytes = max_bytes;
  bo.norm_mask = DDAS_N_ALL;
  bo.reparse_min = 1; /* always re-read, to compare */
  if(ddas_batcher_new(&bo, &bt) != DDAS_OK)
    fz_fail("fuzz_validate", "ddas_batcher_new failed");
  r = release ? ddas_batcher_add_release(bt, res) : ddas_batcher_add(bt, res);
  if(release && res->doc)
    fz_fail("fuzz_validate", "ddas_batcher_add_release kept the document");
  if(r == DDAS_OK) {
    if(ddas_batcher_finish(bt) != DDAS_OK)
      fz_fail("fuzz_validate", "ddas_batcher_finish failed");
  } else if(r != DDAS_ERR_ARG) {
    fz_fail("fuzz_validate", "ddas_batcher_add failed");
  }
  memset(&b, 0, sizeof(b));
  while(ddas_batcher_next(bt, &b)) {
    char *n = realloc(out, len + sizeof(b.id) + b.len);
    if(!n)
      fz_fail("fuzz_validate", "out of memory");
    out = n;
    memcpy(out + len, b.id, sizeof(b.id));
    memcpy(out + len + sizeof(b.id), b.body, b.len);
    len += sizeof(b.id) + b.len;
    if(!release)
      check_batch(res, &b);
    ddas_batch_clear(&b);
  }
  ddas_batcher_free(bt);
  *outlen = len;
  return out;
}

static void validate_once(const uint8_t *data, size_t size,
                          const ddas_validate_options *o, int batch) {
  ddas_validate_result res;
  char err[512];
  ddas_result r = ddas_validate_buffer(fz_set, o, (const char *)data, size,
                                       &res, err, sizeof(err));
  if(r != DDAS_OK) {
    fprintf(stderr, "fuzz_validate: %s: %s\n", ddas_result_str(r), err);
    fz_fail("fuzz_validate", "no verdict");
  }
  check_result(&res);
  if(o->keep_document && res.parsed && !res.doc)
    fz_fail("fuzz_validate", "keep_document kept nothing");
  if(batch && res.doc) {
    size_t lc, la, lb;
    char *c = run_batcher(&res, 2, 1, 0, &lc); /* a cut after every record */
    char *a = run_batcher(&res, 0, 0, 0, &la);
    /* releasing the tree (records parsed again from their bytes) writes
     * the same batches, byte for byte (ddas/batch.h) */
    char *b = run_batcher(&res, 0, 0, 1, &lb);
    if(la != lb || (la && memcmp(a, b, la) != 0))
      fz_fail("fuzz_validate", "ddas_batcher_add_release wrote other bytes");
    free(a);
    free(b);
    free(c);
  }
  ddas_validate_result_clear(&res);
}

void fz_validate(const uint8_t *data, size_t size) {
  ddas_validate_options o;
  ddas_ruleset rs;
  size_t k = size % (sizeof(fz_kinds) / sizeof(fz_kinds[0]));

  /* schema only: detected, then an explicit kind and version */
  memset(&o, 0, sizeof(o));
  validate_once(data, size, &o, 0);
  o.kind = fz_kinds[k].kind;
  o.version = fz_kinds[k].version;
  validate_once(data, size, &o, 0);

  /* the worker's path: rules, every normalisation, the document kept for
   * the batcher; strict (the production default) and spec (which accepts
   * the made-up BSNs, so more records reach the batches) */
  memset(&o, 0, sizeof(o));
  o.rules = &rs;
  o.norm_mask = DDAS_N_ALL;
  o.keep_document = 1;
  ddas_ruleset_init(&rs, DDAS_PROFILE_STRICT);
  validate_once(data, size, &o, 1);
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  validate_once(data, size, &o, 1);
}

/* ---- fuzz_chunk --------------------------------------------------------- */

/* Records in the record lists of `root` for `kind` (what the chunks must
 * hold between them when the document can be split). */
static size_t count_records(const ddas_json *root, ddas_kind kind) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  const char *list =
      kind == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
  size_t i, n = 0;
  if(!levs || levs->type != DDAS_JSON_ARRAY)
    return 0;
  for(i = 0; i < levs->n; i++) {
    const ddas_json *recs = ddas_json_get(&levs->u.items[i], list);
    if(recs && recs->type == DDAS_JSON_ARRAY)
      n += recs->n;
  }
  return n;
}

static void chunk_with(const ddas_json_doc *doc, ddas_kind kind,
                       size_t max_bytes) {
  ddas_chunk_span *spans = NULL;
  size_t n = 0, i, records = 0;
  int as_is = 0;
  if(ddas_chunk_plan(doc, kind, max_bytes, &spans, &n) != DDAS_OK)
    fz_fail("fuzz_chunk", "ddas_chunk_plan failed");
  if(n < 1 || !spans)
    fz_fail("fuzz_chunk", "a plan without chunks");
  for(i = 0; i < n; i++) {
    char *out = NULL;
    size_t len = 0;
    ddas_json_doc *cd = NULL;
    ddas_json_error err;
    if(ddas_chunk_write(doc, kind, &spans[i], &out, &len) != DDAS_OK)
      fz_fail("fuzz_chunk", "ddas_chunk_write failed for a planned span");
    if(len != spans[i].bytes)
      fz_fail("fuzz_chunk", "chunk length differs from the plan");
    if(out[len] != '\0')
      fz_fail("fuzz_chunk", "chunk is not NUL-terminated");
    if(ddas_json_parse(out, len, NULL, &cd, &err) != DDAS_OK) {
      fprintf(stderr, "fuzz_chunk: chunk %zu of %zu: %s at %zu (%s)\n", i, n,
              err.code, err.offset, err.message);
      fz_fail("fuzz_chunk", "a chunk is not well-formed JSON");
    }
    ddas_json_doc_free(cd);
    ddas_free(out);
    records += spans[i].records;
    as_is |= spans[i].as_is;
  }
  if(as_is && n != 1)
    fz_fail("fuzz_chunk", "an as-is chunk among others");
  if(!as_is && records != count_records(ddas_json_root(doc), kind))
    fz_fail("fuzz_chunk", "the chunks do not hold every record once");
  ddas_free(spans);
}

void fz_chunk(const uint8_t *data, size_t size) {
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  ddas_detection det;
  ddas_kind kinds[3];
  size_t nk = 0, i, j;
  char why[300];
  const size_t sizes[] = {
      1, 200, 700, 4096, size / 2 + 1, size + 64, (size_t)1 << 40};
  if(ddas_json_parse((const char *)data, size, NULL, &doc, &err) != DDAS_OK)
    return;
  if(ddas_detect(ddas_json_root(doc), DDAS_KIND_UNKNOWN, NULL, &det, why,
                 sizeof(why)) == 0)
    kinds[nk++] = det.kind;
  else
    kinds[nk++] = DDAS_KIND_UNKNOWN;
  /* the caller may also insist on a kind the content does not show */
  if(kinds[0] != DDAS_KIND_SHV)
    kinds[nk++] = DDAS_KIND_SHV;
  if(kinds[0] != DDAS_KIND_VS)
    kinds[nk++] = DDAS_KIND_VS;
  for(i = 0; i < nk; i++)
    for(j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++)
      chunk_with(doc, kinds[i], sizes[j]);
  ddas_json_doc_free(doc);
}

/* ---- fuzz_verify -------------------------------------------------------- */

#define FZ_NOW INT64_C(1798761600)    /* 2027-01-01: certificates valid */
#define FZ_IAT INT64_C(1798761000)    /* a little earlier */
#define FZ_BEFORE INT64_C(1717200000) /* 2024-06-01: before the end entity */
#define FZ_AFTER INT64_C(2082758400)  /* 2036-01-01: after it */
#define FZ_MAX_SEEDS 8

static char fz_pki[256];
static ddas_truststore *fz_trust;
static ddas_signer *fz_signer;
static uint8_t *fz_seeds[FZ_MAX_SEEDS];
static size_t fz_seed_lens[FZ_MAX_SEEDS], fz_nseeds;

/* Appends one seed: FLAGS digest \n header \n signature \n body. */
static int add_seed(uint8_t flags, const char *digest, const char *hdr,
                    size_t hlen, const char *sig, const char *body,
                    size_t blen) {
  size_t dl = strlen(digest), sl = strlen(sig);
  size_t n = 1 + dl + 1 + hlen + 1 + sl + 1 + blen, w = 0;
  uint8_t *s;
  if(fz_nseeds >= FZ_MAX_SEEDS || memchr(hdr, '\n', hlen))
    return 0;
  s = malloc(n);
  if(!s)
    return -1;
  s[w++] = flags;
  memcpy(s + w, digest, dl);
  w += dl;
  s[w++] = '\n';
  memcpy(s + w, hdr, hlen);
  w += hlen;
  s[w++] = '\n';
  memcpy(s + w, sig, sl);
  w += sl;
  s[w++] = '\n';
  memcpy(s + w, body, blen);
  fz_seeds[fz_nseeds] = s;
  fz_seed_lens[fz_nseeds++] = n;
  return 0;
}

static int make_seeds(void) {
  static const char *const bodies[] = {
      "{\"startdatumLevering\":\"2024-01-01\",\"leveringen\":[]}", ""};
  static const ddas_sig_profile profiles[] = {DDAS_SIG_ADR, DDAS_SIG_BODY};
  size_t i;
  for(i = 0; i < 2; i++) {
    const char *body = bodies[i];
    size_t blen = strlen(body);
    char digest[DDAS_DIGEST_HEADER_SIZE], *sig = NULL, *dots;
    unsigned char hdr[8192];
    long hn;
    if(ddas_digest_header(body, blen, digest, sizeof(digest)) ||
       ddas_sign(fz_signer, profiles[i], body, blen, FZ_IAT, &sig))
      return -1;
    dots = strstr(sig, "..");
    if(!dots) {
      ddas_free(sig);
      return -1;
    }
    *dots = '\0';
    hn = ddas_b64url_decode(sig, strlen(sig), hdr, sizeof(hdr));
    if(hn <= 0 ||
       add_seed(0x00, digest, sig, strlen(sig), dots + 2, body, blen) ||
       add_seed(0x02, digest, (const char *)hdr, (size_t)hn, dots + 2, body,
                blen) ||
       add_seed(0x01, "", sig, strlen(sig), dots + 2, body, blen)) {
      ddas_free(sig);
      return -1;
    }
    ddas_free(sig);
  }
  return 0;
}

int fz_verify_init(const char *source_dir) {
  const char *tmp = getenv("TMPDIR");
  char cmd[1024], a[512], b[512], err[256] = "";
  if(!tmp || !*tmp || strlen(tmp) > 200)
    tmp = "/tmp";
  snprintf(fz_pki, sizeof(fz_pki), "%s/ddas-fuzz-pki-XXXXXX", tmp);
  if(!mkdtemp(fz_pki)) {
    fz_pki[0] = '\0';
    return -1;
  }
  if((size_t)snprintf(cmd, sizeof(cmd),
                      "bash '%s/tests/pki/make-pki' '%s' >/dev/null 2>&1",
                      source_dir, fz_pki) >= sizeof(cmd) ||
     system(cmd) != 0) {
    fprintf(stderr, "fuzz_verify: make-pki failed\n");
    return -1;
  }
  snprintf(a, sizeof(a), "%s/root.pem", fz_pki);
  if(ddas_truststore_load(a, &fz_trust, err, sizeof(err))) {
    fprintf(stderr, "fuzz_verify: trust store: %s\n", err);
    return -1;
  }
  snprintf(a, sizeof(a), "%s/signing.key", fz_pki);
  snprintf(b, sizeof(b), "%s/signing-chain.pem", fz_pki);
  if(ddas_signer_load(a, NULL, b, NULL, &fz_signer, err, sizeof(err))) {
    fprintf(stderr, "fuzz_verify: signer: %s\n", err);
    return -1;
  }
  if(make_seeds()) {
    fprintf(stderr, "fuzz_verify: cannot make the seeds\n");
    return -1;
  }
  return 0;
}

void fz_verify_cleanup(void) {
  char cmd[512];
  size_t i;
  ddas_truststore_free(fz_trust);
  ddas_signer_free(fz_signer);
  fz_trust = NULL;
  fz_signer = NULL;
  for(i = 0; i < fz_nseeds; i++)
    free(fz_seeds[i]);
  fz_nseeds = 0;
  if(fz_pki[0] && !strchr(fz_pki, 'X')) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_pki);
    if(system(cmd) != 0)
      fprintf(stderr, "fuzz_verify: cannot remove %s\n", fz_pki);
  }
  fz_pki[0] = '\0';
}

size_t fz_verify_seeds(const char *dir) {
  size_t i;
  for(i = 0; dir && i < fz_nseeds; i++) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof(path), "%s/verify-seed-%zu", dir, i);
    f = fopen(path, "wb");
    if(!f || fwrite(fz_seeds[i], 1, fz_seed_lens[i], f) != fz_seed_lens[i]) {
      if(f)
        fclose(f);
      return 0;
    }
    if(fclose(f))
      return 0;
  }
  return fz_nseeds;
}

const uint8_t *fz_verify_seed(size_t i, size_t *len) {
  if(i >= fz_nseeds)
    return NULL;
  *len = fz_seed_lens[i];
  return fz_seeds[i];
}

/* A NUL-terminated copy of p[0..n) (an embedded NUL ends the C string). */
static char *cstr(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if(!s)
    abort();
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static char *b64url(const uint8_t *p, size_t n) {
  size_t cap = (4 * n + 2) / 3 + 1;
  char *s = malloc(cap);
  if(!s)
    abort();
  s[0] = '\0';
  if(n && ddas_b64url_encode(p, n, s, cap) == 0)
    fz_fail("fuzz_verify", "base64url encoding failed");
  return s;
}

/* " \t" + s + "\t " */
static char *padded(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 5);
  if(!p)
    abort();
  memcpy(p, " \t", 2);
  memcpy(p + 2, s, n);
  memcpy(p + 2 + n, "\t ", 3);
  return p;
}

ddas_result fz_verify(const uint8_t *data, size_t size) {
  static const int64_t times[] = {FZ_NOW, FZ_BEFORE, FZ_AFTER, 0};
  const uint8_t *part[3] = {NULL, NULL, NULL}, *p, *end, *body;
  size_t plen[3] = {0, 0, 0}, blen, i, nh = 0;
  uint8_t flags = size ? data[0] : 0;
  char *digest, *hdr, *sigpart, *sig, *pd = NULL, *ps = NULL;
  ddas_http_header h[5];
  ddas_verified info;
  char err[256];
  ddas_result r;

  if(!fz_trust)
    fz_fail("fuzz_verify", "fz_verify_init was not called");
  p = size ? data + 1 : data;
  end = data + size;
  for(i = 0; i < 3; i++) {
    const uint8_t *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    part[i] = p;
    plen[i] = nl ? (size_t)(nl - p) : (size_t)(end - p);
    p = nl ? nl + 1 : end;
  }
  body = p;
  blen = (size_t)(end - p);

  if(flags & 1) {
    digest = malloc(DDAS_DIGEST_HEADER_SIZE);
    if(!digest ||
       ddas_digest_header(body, blen, digest, DDAS_DIGEST_HEADER_SIZE))
      abort();
  } else {
    digest = cstr(part[0], plen[0]);
  }
  hdr = flags & 2 ? b64url(part[1], plen[1]) : cstr(part[1], plen[1]);
  sigpart = flags & 4 ? b64url(part[2], plen[2]) : cstr(part[2], plen[2]);
  if(!(flags & 6) && plen[2] == 0) {
    sig = hdr; /* the whole header value, separators included */
    hdr = NULL;
  } else {
    size_t a = strlen(hdr), c = strlen(sigpart);
    sig = malloc(a + c + 3);
    if(!sig)
      abort();
    memcpy(sig, hdr, a);
    memcpy(sig + a, "..", 2);
    memcpy(sig + a + 2, sigpart, c + 1);
  }

  switch((flags >> 3) & 7) {
  case 0:
    h[nh++] = (ddas_http_header){"Digest", digest};
    h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", sig};
    break;
  case 1:
    h[nh++] = (ddas_http_header){"Digest", digest};
    h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", sig};
    h[nh++] = (ddas_http_header){"digest", digest};
    break;
  case 2:
    h[nh++] = (ddas_http_header){"Digest", digest};
    h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", sig};
    h[nh++] = (ddas_http_header){"NLGOV-ADR-PAYLOAD-SIG", sig};
    break;
  case 3: h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", sig}; break;
  case 4: h[nh++] = (ddas_http_header){"Digest", digest}; break;
  case 5:
    h[nh++] = (ddas_http_header){"Content-Type", "application/json"};
    h[nh++] = (ddas_http_header){"NLGOV-Adr-Payload-Sig", sig};
    h[nh++] = (ddas_http_header){"X-Digest", "SHA-256=x"};
    h[nh++] = (ddas_http_header){"DIGEST", digest};
    break;
  case 6:
    pd = padded(digest);
    ps = padded(sig);
    h[nh++] = (ddas_http_header){"Digest", pd};
    h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", ps};
    break;
  default:
    h[nh++] = (ddas_http_header){"Digest", digest};
    h[nh++] = (ddas_http_header){"nlgov-adr-payload-sig", sig};
    h[nh++] = (ddas_http_header){"X-Empty", NULL};
    break;
  }

  err[0] = '\0';
  r = ddas_verify(fz_trust, h, nh, blen ? body : NULL, blen,
                  times[(flags >> 6) & 3], &info, err, sizeof(err));
  if(r == DDAS_OK) {
    if(info.profile != DDAS_SIG_ADR && info.profile != DDAS_SIG_BODY)
      fz_fail("fuzz_verify", "verified with an unknown profile");
    if(strlen(info.thumbprint) != 43 || !memchr(info.kid, '\0', 128))
      fz_fail("fuzz_verify", "verified without a thumbprint");
  } else if(r == DDAS_ERR_NOMEM) {
    /* nothing here runs out of memory: a malformed request reported as
     * retryable would be retried forever instead of refused */
    fprintf(stderr, "fuzz_verify: %s\n", err);
    fz_fail("fuzz_verify", "a request was refused as out of memory");
  } else if(r != DDAS_ERR_ARG || !err[0]) {
    fz_fail("fuzz_verify", "refused without a reason");
  }
  free(digest);
  free(hdr);
  free(sigpart);
  free(sig);
  free(pd);
  free(ps);
  return r;
}

/* ---- fuzz_gegevens ---------------------------------------------------- */

static void gg_request(const uint8_t *data, size_t size, ddas_kind kind) {
  ddas_gegevens_request rq;
  ddas_problem pb;
  ddas_json_doc *doc;
  char *out;
  size_t len;
  ddas_result r;
  memset(&pb, 0, sizeof(pb));
  r = ddas_gegevens_request_parse((const char *)data, size, kind, &rq, &pb);
  if(r == DDAS_OK) {
    if(rq.page < 1 || rq.page > DDAS_GEGEVENS_PAGE_MAX || rq.page_size < 1 ||
       rq.page_size > ddas_gegevens_max_page_size(kind))
      fz_fail("fuzz_gegevens", "an accepted page or pageSize out of bounds");
    if((rq.start[0] && !ddas_format_date(rq.start, strlen(rq.start))) ||
       (rq.end[0] && !ddas_format_date(rq.end, strlen(rq.end))) ||
       (rq.start[0] && rq.end[0] && strcmp(rq.start, rq.end) > 0))
      fz_fail("fuzz_gegevens", "an accepted period is not one");
    if(rq.has_organisation &&
       (!rq.organisation[0] || strlen(rq.organisation) > 255))
      fz_fail("fuzz_gegevens", "an accepted organisation out of bounds");
    return;
  }
  if(r != DDAS_ERR_ARG)
    fz_fail("fuzz_gegevens", "a request refused other than DDAS_ERR_ARG");
  if(pb.status != 400 ||
     strncmp(pb.type, DDAS_PROBLEM_BASE, strlen(DDAS_PROBLEM_BASE)) ||
     !memchr(pb.title, '\0', sizeof(pb.title)) || !pb.title[0] ||
     !memchr(pb.detail, '\0', sizeof(pb.detail)) || !pb.detail[0] ||
     !memchr(pb.pointer, '\0', sizeof(pb.pointer)) ||
     (pb.pointer[0] && pb.pointer[0] != '/'))
    fz_fail("fuzz_gegevens", "a refusal without a well-formed problem");
  if(ddas_problem_json(&pb, "/gegevens", &out, &len))
    fz_fail("fuzz_gegevens", "a problem body was not written");
  if(ddas_json_parse(out, len, NULL, &doc, NULL))
    fz_fail("fuzz_gegevens", "a problem body does not parse");
  ddas_json_doc_free(doc);
  ddas_free(out);
}

/* The records of a body as the writer counts them, or -1 when it is not a
 * batch body the writer takes. */
static long long gg_records(const ddas_json *root, ddas_kind kind) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  const char *list =
      kind == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
  long long n = 0;
  size_t i;
  if(!levs || levs->type != DDAS_JSON_ARRAY)
    return -1;
  for(i = 0; i < levs->n; i++) {
    const ddas_json *r = ddas_json_get(&levs->u.items[i], list),
                    *z = ddas_json_get(&levs->u.items[i], "vroegsignaalzaken");
    if(!r || r->type != DDAS_JSON_ARRAY ||
       (kind == DDAS_KIND_VS && z && z->type != DDAS_JSON_ARRAY))
      return -1;
    n += r->n;
  }
  return n;
}

/* One page of the given ranges of the body; checks it and returns its
 * records, or -1 when the writer refused the body. */
static long long gg_page(const char *body, size_t size, ddas_kind kind,
                         const size_t *ranges, size_t nranges,
                         const ddas_page_plan *plan) {
  static const ddas_page_envelope env = {"2025-01-01", "2025-12-31",
                                         "2026-01-01T00:00:00Z", "fuzz"};
  ddas_page_writer *w;
  ddas_json_doc *doc;
  char *out;
  size_t len, i, want = 0;
  ddas_result r = DDAS_OK;
  if(ddas_page_writer_new(kind, &env, &w))
    fz_fail("fuzz_gegevens", "no page writer");
  for(i = 0; i < nranges && !r; i++) {
    r = ddas_page_writer_add_batch(w, body, size, ranges[2 * i],
                                   ranges[2 * i + 1], "g");
    want += ranges[2 * i + 1] - ranges[2 * i];
  }
  if(r) {
    if(r != DDAS_ERR_ARG || !ddas_page_writer_error(w)[0])
      fz_fail("fuzz_gegevens", "a batch body refused without a reason");
    ddas_page_writer_free(w);
    return -1;
  }
  if(ddas_page_writer_records(w) != want)
    fz_fail("fuzz_gegevens", "the page does not hold the records asked for");
  if(ddas_page_writer_finish(w, plan, plan ? plan->page : 1, &out, &len))
    fz_fail("fuzz_gegevens", "a page was not finished");
  ddas_page_writer_free(w);
  if(ddas_json_parse(out, len, NULL, &doc, NULL))
    fz_fail("fuzz_gegevens", "a page does not parse");
  if(gg_records(ddas_json_get(ddas_json_root(doc), "gegevens"), kind) !=
     (long long)want)
    fz_fail("fuzz_gegevens", "a page's leveringen do not hold its records");
  if((ddas_json_get(ddas_json_root(doc), "paginering") != NULL) !=
     (plan && plan->paginated))
    fz_fail("fuzz_gegevens", "paginering where it should not be, or none");
  ddas_json_doc_free(doc);
  ddas_free(out);
  return (long long)want;
}

static void gg_batch(const char *body, size_t size, ddas_kind kind) {
  ddas_json_doc *doc = NULL;
  long long total;
  size_t t, ps, page, ranges[4];
  if(ddas_json_parse(body, size, NULL, &doc, NULL)) {
    ranges[0] = 0;
    ranges[1] = 1;
    if(gg_page(body, size, kind, ranges, 1, NULL) >= 0)
      fz_fail("fuzz_gegevens", "a body that does not parse was taken");
    return;
  }
  total = gg_records(ddas_json_root(doc), kind);
  ddas_json_doc_free(doc);
  ranges[0] = 0;
  ranges[1] = total < 0 ? 1 : (size_t)total;
  if((gg_page(body, size, kind, ranges, 1, NULL) < 0) != (total < 0))
    fz_fail("fuzz_gegevens", "the writer and the harness disagree on a body");
  if(total <= 0)
    return;
  t = (size_t)total;
  /* halves (no merge: the second half does not start the batch), then the
   * whole body twice (a merge across the "cut" when the last levering and
   * the first are alike) */
  ranges[0] = 0;
  ranges[1] = ranges[2] = t / 2;
  ranges[3] = t;
  gg_page(body, size, kind, ranges, 2, NULL);
  ranges[0] = ranges[2] = 0;
  ranges[1] = ranges[3] = t;
  gg_page(body, size, kind, ranges, 2, NULL);
  for(ps = 1; ps <= 3 && t <= 64; ps += 2) {
    size_t got = 0;
    for(page = 1;; page++) {
      ddas_page_plan plan;
      ddas_problem pb;
      size_t from, to;
      if(ddas_gegevens_plan(&t, 1, page, ps, &plan, &pb))
        break;
      if(!ddas_page_plan_range(&plan, &t, 0, &from, &to))
        fz_fail("fuzz_gegevens", "a page of a batch without records of it");
      ranges[0] = from;
      ranges[1] = to;
      got += (size_t)gg_page(body, size, kind, ranges, 1, &plan);
    }
    if(got != t)
      fz_fail("fuzz_gegevens", "the pages do not hold every record once");
  }
}

void fz_gegevens(const uint8_t *data, size_t size) {
  gg_request(data, size, DDAS_KIND_SHV);
  gg_request(data, size, DDAS_KIND_VS);
  if(size == 0)
    return;
  gg_batch((const char *)data, size, DDAS_KIND_SHV);
  gg_batch((const char *)data, size, DDAS_KIND_VS);
}

/* ---- fuzz_http ---------------------------------------------------------- */

static int fz_in(const char *buf, size_t size, ddas_http_span s) {
  return s.n == 0 || (s.p >= buf && s.p + s.n <= buf + size);
}

/* One parse of buf[0..size); returns the head length (0: incomplete or
 * refused). */
static size_t fz_http_once(const char *buf, size_t size) {
  ddas_http_request_head h;
  int st = -1;
  size_t i;
  ddas_result r = ddas_http_parse_head(buf, size, &h, &st);
  if(st) {
    if(r == DDAS_OK || !h.error)
      fz_fail("fuzz_http", "a refusal without a result or a reason");
    if(st != 400 && st != 414 && st != 431 && st != 501 && st != 505)
      fz_fail("fuzz_http", "a refusal status that is not documented");
    return 0;
  }
  if(r != DDAS_OK)
    fz_fail("fuzz_http", "a failure without a status");
  if(!h.head_len)
    return 0;
  if(h.head_len > size || h.head_len > DDAS_HTTP_MAX_HEAD)
    fz_fail("fuzz_http", "the head is longer than the input or the limit");
  if(h.nheaders > DDAS_HTTP_MAX_HEADERS || h.target.n > DDAS_HTTP_MAX_TARGET)
    fz_fail("fuzz_http", "too many headers or too long a target");
  if(!fz_in(buf, h.head_len, h.method) || !fz_in(buf, h.head_len, h.target) ||
     !fz_in(buf, h.head_len, h.path) || !fz_in(buf, h.head_len, h.query) ||
     h.method.n == 0 || h.path.n == 0 || h.path.p[0] != '/')
    fz_fail("fuzz_http", "a request-line span outside the head");
  for(i = 0; i < h.nheaders; i++)
    if(!fz_in(buf, h.head_len, h.headers[i].name) ||
       !fz_in(buf, h.head_len, h.headers[i].value) ||
       h.headers[i].name.n == 0)
      fz_fail("fuzz_http", "a header span outside the head");
  if(h.has_length != (ddas_http_header_get(&h, "Content-Length", NULL) != 0))
    fz_fail("fuzz_http", "has_length disagrees with the headers");
  if(ddas_http_header_get(&h, "Transfer-Encoding", NULL))
    fz_fail("fuzz_http", "Transfer-Encoding accepted");
  return h.head_len;
}

void fz_http(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  size_t len = fz_http_once(buf, size), cut;
  if(!len || !size)
    return;
  /* the same head with any bytes after it parses to the same length */
  if(fz_http_once(buf, len) != len)
    fz_fail("fuzz_http", "the head parses differently without its body");
  cut = data[0] % len;
  if(fz_http_once(buf, cut) != 0)
    fz_fail("fuzz_http", "a prefix of a head is accepted");
}
