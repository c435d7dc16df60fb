/* Batch building with normalisations N3-N6 (see ddas/batch.h). */
#include "ddas/batch.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/schema.h"
#include "wbuf.h"

/* ---- emitting values from a checked document ------------------------ */

typedef struct {
  const char *input; /* the document's input bytes (number lexemes) */
} src;

static void emit(const src *s, wbuf *w, const ddas_json *v);

static void emit_string(wbuf *w, const ddas_json *v) {
  if(v->flags & DDAS_JSON_F_ESCAPED) {
    w_str(w, v->u.str, v->n);
  } else {
    /* input bytes without escapes: no quote, backslash or control char */
    w_reserve(w, v->n + 2);
    w_raw(w, "\"", 1);
    w_raw(w, v->u.str, v->n);
    w_raw(w, "\"", 1);
  }
}

static void emit(const src *s, wbuf *w, const ddas_json *v) {
  size_t i;
  switch(v->type) {
  case DDAS_JSON_NULL: w_raw(w, "null", 4); break;
  case DDAS_JSON_TRUE: w_raw(w, "true", 4); break;
  case DDAS_JSON_FALSE: w_raw(w, "false", 5); break;
  case DDAS_JSON_NUMBER:
    /* the exact lexeme: no float round trip */
    w_raw(w, s->input + v->start, v->end - v->start);
    break;
  case DDAS_JSON_STRING: emit_string(w, v); break;
  case DDAS_JSON_ARRAY:
    w_raw(w, "[", 1);
    for(i = 0; i < v->n; i++) {
      if(i)
        w_raw(w, ",", 1);
      emit(s, w, &v->u.items[i]);
    }
    w_raw(w, "]", 1);
    break;
  case DDAS_JSON_OBJECT: {
    int first = 1;
    w_raw(w, "{", 1);
    for(i = 0; i < v->n; i++) {
      w_mkey(w, &first, &v->u.members[i]);
      emit(s, w, &v->u.members[i].value);
    }
    w_raw(w, "}", 1);
    break;
  }
  }
}

static int key_is(const ddas_json_member *m, const char *k) {
  size_t n = strlen(k);
  return m->key_len == n && memcmp(m->key, k, n) == 0;
}

static const ddas_json *str_member(const ddas_json *o, const char *k) {
  const ddas_json *v = ddas_json_get(o, k);
  return v && v->type == DDAS_JSON_STRING && v->n ? v : NULL;
}

static int str_is(const ddas_json *v, const char *s) {
  return v && v->type == DDAS_JSON_STRING && v->n == strlen(s) &&
         memcmp(v->u.str, s, v->n) == 0;
}

/* ---- record normalisation (N3 upgrade, N4, N5) ----------------------- */

typedef struct {
  const src *s;
  unsigned mask;
  int from_v09, from_v010; /* upgrade to v1.0 (N3 on) */
  ddas_norm_counts *counts;
  /* ddas_upgrade_check only: what the upgrade leaves out is reported here
   * (upgrade.dropped), by the code that leaves it out; NULL while writing
   * batches (reported when the delivery was checked) */
  ddas_findings *drops;
  const ddas_ruleset *rs;
  const char *base; /* pointer of the traject being written */
  int nomem;
} rctx;

/* An upgrade.dropped finding at base + rel, and the member `key` below it
 * when key is not NULL (RFC 6901 escaped). */
static void dropped(rctx *c, const char *rel, const char *key, size_t klen) {
  char ptr[2048];
  if(!c->drops)
    return;
  snprintf(ptr, sizeof(ptr), "%s%s", c->base, rel);
  if(key)
    ddas_json_pointer_push_key(ptr, sizeof(ptr), key, klen);
  if(ddas_rule_add(c->rs, c->drops, "upgrade.dropped", ptr, "%s",
                   "SHV v1.0 has no place for this value: it is left out of "
                   "the upgraded delivery"))
    c->nomem = 1;
}

/* A schuld with N5 (schuldeiser naam <-> Naam) and, for v0.9 debts, soort
 * renamed to schuldsoort. */
static void emit_schuld(rctx *c, wbuf *w, const ddas_json *d, int rename) {
  size_t i;
  int first = 1;
  if(d->type != DDAS_JSON_OBJECT) {
    emit(c->s, w, d);
    return;
  }
  w_raw(w, "{", 1);
  for(i = 0; i < d->n; i++) {
    const ddas_json_member *m = &d->u.members[i];
    if(rename && key_is(m, "soort")) {
      w_key(w, &first, "schuldsoort", 11);
      emit(c->s, w, &m->value);
    } else if(key_is(m, "schuldeiser") && m->value.type == DDAS_JSON_OBJECT &&
              (c->mask & DDAS_N5)) {
      const ddas_json *se = &m->value, *a = str_member(se, "naam"),
                      *b = str_member(se, "Naam");
      int f2 = 1;
      size_t j;
      w_mkey(w, &first, m);
      w_raw(w, "{", 1);
      for(j = 0; j < se->n; j++) {
        w_mkey(w, &f2, &se->u.members[j]);
        emit(c->s, w, &se->u.members[j].value);
      }
      if(a && !b) {
        w_key(w, &f2, "Naam", 4);
        emit_string(w, a);
        c->counts->n[4]++;
      } else if(b && !a) {
        w_key(w, &f2, "naam", 4);
        emit_string(w, b);
        c->counts->n[4]++;
      }
      w_raw(w, "}", 1);
    } else {
      w_mkey(w, &first, m);
      emit(c->s, w, &m->value);
    }
  }
  w_raw(w, "}", 1);
}

/* The date a v0.10 "Beeindigingsbeschikking" intake carries: in v1.0 it is
 * uitstroom.datumBeeindigingsbeschikking. */
static const ddas_json *v010_beeindiging(const rctx *c, const ddas_json *in) {
  if(!c->from_v010 ||
     !str_is(ddas_json_get(in, "beschikkingssoort"), "Beeindigingsbeschikking"))
    return NULL;
  return str_member(in, "beschikkingsdatum");
}

/* 1 when a v0.10 intake says "Beeindigingsbeschikking", a value v1.0
 * does not have: the soort (and its date, moved by v010_beeindiging) leave
 * the intake, with or without a date. */
static int v010_beeind_soort(const rctx *c, const ddas_json *in) {
  return c->from_v010 && str_is(ddas_json_get(in, "beschikkingssoort"),
                                "Beeindigingsbeschikking");
}

static void emit_intake(rctx *c, wbuf *w, const ddas_json *in) {
  size_t i;
  int first = 1;
  const ddas_json *toel =
      c->from_v09 ? str_member(in, "toelatingsbeschikking") : NULL;
  int beeind = v010_beeind_soort(c, in);
  const ddas_json *bdatum = toel     ? toel
                            : beeind ? NULL
                                     : str_member(in, "beschikkingsdatum");
  if(beeind && !str_member(in, "beschikkingsdatum"))
    dropped(c, "/intake/beschikkingssoort", NULL, 0); /* nothing to move */
  w_raw(w, "{", 1);
  for(i = 0; i < in->n; i++) {
    const ddas_json_member *m = &in->u.members[i];
    if(toel && key_is(m, "toelatingsbeschikking")) {
      w_key(w, &first, "beschikkingsdatum", 17);
      emit(c->s, w, &m->value);
      if(!ddas_json_get(in, "beschikkingssoort")) {
        w_key(w, &first, "beschikkingssoort", 17);
        w_lit(w, "\"Toelatingsbeschikking\"");
      }
      continue;
    }
    if(beeind &&
       (key_is(m, "beschikkingssoort") || key_is(m, "beschikkingsdatum")))
      continue; /* moved to uitstroom by emit_uitstroom */
    w_mkey(w, &first, m);
    emit(c->s, w, &m->value);
  }
  if((c->mask & DDAS_N4) && bdatum && !str_member(in, "einddatum")) {
    w_key(w, &first, "einddatum", 9);
    emit_string(w, bdatum);
    c->counts->n[3]++;
  }
  w_raw(w, "}", 1);
}

/* The traject's end dates in N4's order: einddatum, uitstroom.datum,
 * uitstroom.datumBeeindigingsbeschikking (the last may come from a v0.10
 * intake). Returns the first present. */
static const ddas_json *end_reference(const rctx *c, const ddas_json *tr) {
  const ddas_json *uit = ddas_json_get(tr, "uitstroom"), *v;
  if((v = str_member(tr, "einddatum")))
    return v;
  if((v = str_member(uit, "datum")))
    return v;
  if((v = str_member(uit, "datumBeeindigingsbeschikking")))
    return v;
  return v010_beeindiging(c, ddas_json_get(tr, "intake"));
}

static void emit_uitstroom(rctx *c, wbuf *w, const ddas_json *tr,
                           const ddas_json *uit) {
  size_t i;
  int first = 1;
  const ddas_json *moved = v010_beeindiging(c, ddas_json_get(tr, "intake"));
  const ddas_json *ref = end_reference(c, tr);
  w_raw(w, "{", 1);
  for(i = 0; uit && i < uit->n; i++) {
    w_mkey(w, &first, &uit->u.members[i]);
    emit(c->s, w, &uit->u.members[i].value);
  }
  if(moved && str_member(uit, "datumBeeindigingsbeschikking"))
    dropped(c, "/intake/beschikkingsdatum", NULL, 0); /* uitstroom has one */
  if(moved && !str_member(uit, "datumBeeindigingsbeschikking")) {
    w_key(w, &first, "datumBeeindigingsbeschikking", 28);
    emit_string(w, moved);
  } else if((c->mask & DDAS_N4) && ref && uit &&
            !str_member(uit, "datumBeeindigingsbeschikking")) {
    w_key(w, &first, "datumBeeindigingsbeschikking", 28);
    emit_string(w, ref);
    c->counts->n[3]++;
  }
  if((c->mask & DDAS_N4) && ref && !str_member(uit, "datum")) {
    w_key(w, &first, "datum", 5);
    emit_string(w, ref);
    c->counts->n[3]++;
  }
  w_raw(w, "}", 1);
}

/* v0.9 debts: client[].leefsituatie[].schulden[] in document order. */
static int emit_v09_debts(rctx *c, wbuf *w, const ddas_json *clients,
                          int *first_member) {
  size_t i, j, k;
  int any = 0;
  for(i = 0; clients && clients->type == DDAS_JSON_ARRAY && i < clients->n;
      i++) {
    const ddas_json *ls = ddas_json_get(&clients->u.items[i], "leefsituatie");
    for(j = 0; ls && ls->type == DDAS_JSON_ARRAY && j < ls->n; j++) {
      const ddas_json *sch = ddas_json_get(&ls->u.items[j], "schulden");
      for(k = 0; sch && sch->type == DDAS_JSON_ARRAY && k < sch->n; k++) {
        if(!any) {
          w_key(w, first_member, "schulden", 8);
          w_raw(w, "[", 1);
        } else {
          w_raw(w, ",", 1);
        }
        any = 1;
        emit_schuld(c, w, &sch->u.items[k], 1);
      }
    }
  }
  if(any)
    w_raw(w, "]", 1);
  return any;
}

/* Reports what of client `ci`'s leefsituatie does not reach v1.0: every
 * member of its elements but schulden (moved by emit_v09_debts). */
static void dropped_leefsituatie(rctx *c, size_t ci, const ddas_json *ls) {
  size_t j, k;
  char rel[96];
  for(j = 0; c->drops && ls->type == DDAS_JSON_ARRAY && j < ls->n; j++) {
    const ddas_json *e = &ls->u.items[j];
    snprintf(rel, sizeof(rel), "/client/%zu/leefsituatie/%zu", ci, j);
    if(e->type != DDAS_JSON_OBJECT) {
      dropped(c, rel, NULL, 0);
      continue;
    }
    for(k = 0; k < e->n; k++)
      if(!key_is(&e->u.members[k], "schulden"))
        dropped(c, rel, e->u.members[k].key, e->u.members[k].key_len);
  }
}

static void emit_clients_v09(rctx *c, wbuf *w, const ddas_json *clients) {
  size_t i, j;
  w_raw(w, "[", 1);
  for(i = 0; i < clients->n; i++) {
    const ddas_json *cl = &clients->u.items[i];
    int first = 1;
    if(i)
      w_raw(w, ",", 1);
    if(cl->type != DDAS_JSON_OBJECT) {
      emit(c->s, w, cl);
      continue;
    }
    w_raw(w, "{", 1);
    for(j = 0; j < cl->n; j++) {
      if(key_is(&cl->u.members[j], "leefsituatie")) {
        dropped_leefsituatie(c, i, &cl->u.members[j].value);
        continue; /* its debts move to the traject; v1.0 has no place for
                     the rest (datumGeldigVanaf/Tot) */
      }
      w_mkey(w, &first, &cl->u.members[j]);
      emit(c->s, w, &cl->u.members[j].value);
    }
    w_raw(w, "}", 1);
  }
  w_raw(w, "]", 1);
}

static void emit_traject(rctx *c, wbuf *w, const ddas_json *tr) {
  size_t i;
  int first = 1, upgraded = c->from_v09 || c->from_v010;
  const ddas_json *sr = ddas_json_get(tr, "schuldregeling");
  const ddas_json *ref = end_reference(c, tr);
  const ddas_json *moved = v010_beeindiging(c, ddas_json_get(tr, "intake"));
  if(tr->type != DDAS_JSON_OBJECT) {
    emit(c->s, w, tr);
    return;
  }
  w_raw(w, "{", 1);
  for(i = 0; i < tr->n; i++) {
    const ddas_json_member *m = &tr->u.members[i];
    w_mkey(w, &first, m);
    if(key_is(m, "intake") && m->value.type == DDAS_JSON_OBJECT)
      emit_intake(c, w, &m->value);
    else if(key_is(m, "uitstroom") && m->value.type == DDAS_JSON_OBJECT)
      emit_uitstroom(c, w, tr, &m->value);
    else if(key_is(m, "client") && c->from_v09 &&
            m->value.type == DDAS_JSON_ARRAY)
      emit_clients_v09(c, w, &m->value);
    else if(key_is(m, "schulden") && m->value.type == DDAS_JSON_ARRAY) {
      size_t k;
      w_raw(w, "[", 1);
      for(k = 0; k < m->value.n; k++) {
        if(k)
          w_raw(w, ",", 1);
        emit_schuld(c, w, &m->value.u.items[k], 0);
      }
      w_raw(w, "]", 1);
    } else
      emit(c->s, w, &m->value);
  }
  if(moved && !ddas_json_get(tr, "uitstroom")) {
    w_key(w, &first, "uitstroom", 9);
    emit_uitstroom(c, w, tr, NULL);
  }
  if((c->mask & DDAS_N4) && ref && !str_member(tr, "einddatum")) {
    w_key(w, &first, "einddatum", 9);
    emit_string(w, ref);
    c->counts->n[3]++;
  }
  if((c->mask & DDAS_N5) && !str_member(tr, "toekenningsdatum") &&
     str_member(sr, "toegekend")) {
    w_key(w, &first, "toekenningsdatum", 16);
    emit_string(w, str_member(sr, "toegekend"));
    c->counts->n[4]++;
  }
  if(c->from_v09)
    emit_v09_debts(c, w, ddas_json_get(tr, "client"), &first);
  w_raw(w, "}", 1);
  if(upgraded)
    c->counts->n[2]++;
}

/* ---- the batcher ------------------------------------------------------ */

typedef struct {
  ddas_batch b;
  size_t lev_start; /* offset of the "leveringen" array's first byte */
} open_batch;

struct ddas_batcher {
  ddas_batch_options opt;
  char *delivery_id;
  char *ctx_time, *ctx_code; /* copies of the envelope context's values */
  char *sent_at, *code;      /* the envelope's values (NULL: left out), fixed by
                                the first chunk with accepted records */
  ddas_kind kind;
  const char *version;
  char *period_start, *period_end;
  size_t nchunks;
  ddas_norm_counts counts;
  /* the batch being written */
  int open;
  open_batch cur;
  wbuf body;
  size_t leveringen;  /* in the current batch */
  int lev_open;       /* a levering is open in the current batch */
  size_t lev_records; /* records in the open levering */
  unsigned next_index;
  /* completed batches */
  ddas_batch *done;
  size_t ndone, capdone, taken;
  wbuf scratch;
  int failed;
};

void ddas_batch_clear(ddas_batch *b) {
  if(!b)
    return;
  if(b->body_mapped)
    ddas_pages_free(b->body, b->body_mapped);
  else
    ddas_free(b->body);
  memset(b, 0, sizeof(*b));
}

ddas_result ddas_batcher_new(const ddas_batch_options *opt,
                             ddas_batcher **out) {
  ddas_batcher *b;
  *out = NULL;
  const ddas_envelope_context *ec = opt ? &opt->envelope : NULL;
  if(!opt || !opt->delivery_id ||
     (!opt->time_from_delivery && !opt->envelope.delivered_at))
    return DDAS_ERR_ARG;
  b = ddas_calloc(1, sizeof(*b));
  if(!b)
    return DDAS_ERR_NOMEM;
  b->opt = *opt;
  /* the context's strings are the caller's: keep copies (the words of
   * their origin are for findings only) */
  memset(&b->opt.envelope, 0, sizeof(b->opt.envelope));
  b->opt.envelope.code_replaces = ec->code_replaces;
  b->delivery_id = ddas_strdup(opt->delivery_id);
  b->ctx_time = ec->delivered_at ? ddas_strdup(ec->delivered_at) : NULL;
  b->ctx_code = ec->code ? ddas_strdup(ec->code) : NULL;
  b->opt.envelope.delivered_at = b->ctx_time;
  b->opt.envelope.code = b->ctx_code;
  if(!b->delivery_id || (ec->delivered_at && !b->ctx_time) ||
     (ec->code && !b->ctx_code)) {
    ddas_batcher_free(b);
    return DDAS_ERR_NOMEM;
  }
  if(!b->opt.max_bytes)
    b->opt.max_bytes = DDAS_BATCH_DEFAULT_MAX_BYTES;
  if(!b->opt.reparse_min)
    b->opt.reparse_min = DDAS_BATCH_DEFAULT_REPARSE_MIN;
  *out = b;
  return DDAS_OK;
}

void ddas_batcher_free(ddas_batcher *b) {
  size_t i;
  if(!b)
    return;
  for(i = b->taken; i < b->ndone; i++)
    ddas_batch_clear(&b->done[i]);
  ddas_free(b->done);
  w_free(&b->body);
  w_free(&b->scratch);
  ddas_free(b->delivery_id);
  ddas_free(b->ctx_time);
  ddas_free(b->ctx_code);
  ddas_free(b->sent_at);
  ddas_free(b->code);
  ddas_free(b->period_start);
  ddas_free(b->period_end);
  ddas_free(b);
}

const ddas_norm_counts *ddas_batcher_normalised(const ddas_batcher *b) {
  return &b->counts;
}

static void hex(const unsigned char *in, size_t n, char *out) {
  static const char h[] = "0123456789abcdef";
  size_t i;
  for(i = 0; i < n; i++) {
    out[2 * i] = h[in[i] >> 4];
    out[2 * i + 1] = h[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void ddas_batch_id(const char *delivery_id, unsigned index,
                   const unsigned char records_sha256[32], char out[33]) {
  unsigned char md[32];
  char idx[16], rh[65];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int mdlen = 0;
  snprintf(idx, sizeof(idx), "%u", index);
  hex(records_sha256, 32, rh);
  memset(md, 0, sizeof(md));
  if(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
     EVP_DigestUpdate(ctx, "ddas-batch/1\n", 13) &&
     EVP_DigestUpdate(ctx, delivery_id, strlen(delivery_id)) &&
     EVP_DigestUpdate(ctx, "\n", 1) &&
     EVP_DigestUpdate(ctx, idx, strlen(idx)) &&
     EVP_DigestUpdate(ctx, "\n", 1) && EVP_DigestUpdate(ctx, rh, 64))
    EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  hex(md, 16, out);
}

void ddas_file_delivery_id(const char *path, const void *content, size_t len,
                           char *out, size_t cap) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  const char *base = strrchr(path, '/');
  char name[100], h[13];
  size_t i, w = 0;
  base = base ? base + 1 : path;
  for(i = 0; base[i] && w + 1 < sizeof(name); i++) {
    char c = base[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '_';
    name[w++] = ok ? c : '_';
  }
  name[w] = '\0';
  if(w > 5 && strcmp(name + w - 5, "_json") == 0)
    name[w - 5] = '\0';
  memset(md, 0, sizeof(md));
  EVP_Digest(content, len, md, &mdlen, EVP_sha256(), NULL);
  hex(md, 6, h);
  snprintf(out, cap, "%s-%s", strcmp(path, "-") ? name : "stdin", h);
}

static void start_batch(ddas_batcher *b) {
  wbuf *w = &b->body;
  int first = 1;
  w->len = 0;
  w_raw(w, "{", 1);
  w_key(w, &first, "startdatumLevering", 18);
  w_str(w, b->period_start, strlen(b->period_start));
  w_key(w, &first, "einddatumLevering", 17);
  w_str(w, b->period_end, strlen(b->period_end));
  if(b->sent_at) {
    w_key(w, &first, "aanleverdatumEnTijd", 19);
    w_str(w, b->sent_at, strlen(b->sent_at));
  }
  if(b->code) {
    w_key(w, &first, "codeGegevensleverancier", 23);
    w_str(w, b->code, strlen(b->code));
  }
  w_key(w, &first, "leveringen", 10);
  w_raw(w, "[", 1);
  memset(&b->cur, 0, sizeof(b->cur));
  b->cur.lev_start = w->len - 1;
  b->cur.b.index = b->next_index++;
  b->cur.b.first_chunk = b->nchunks - 1;
  b->open = 1;
  b->leveringen = 0;
  b->lev_open = 0;
}

static const char *list_name(ddas_kind k) {
  return k == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
}

/* The VS zaken of a levering travel with its signals; zaken referring to a
 * signal that is not in this batch part are left out (their signals were
 * rejected, which the rejection events report). */
typedef struct {
  const ddas_json *lev; /* source levering */
  const ddas_validate_result *res;
  size_t lev_index;
  size_t from, to; /* records of the source levering in this part */
} vs_part;

static int signal_in_part(const vs_part *p, const ddas_json *id) {
  const ddas_json *sig = ddas_json_get(p->lev, "vroegsignalen");
  size_t i;
  for(i = p->from; sig && i < p->to && i < sig->n; i++) {
    const ddas_json *o = str_member(&sig->u.items[i], "ID");
    if(o && o->n == id->n && memcmp(o->u.str, id->u.str, id->n) == 0 &&
       ddas_record_accepted(p->res, p->lev_index, i))
      return 1;
  }
  return 0;
}

static void close_levering(ddas_batcher *b, const src *s, const vs_part *vp) {
  wbuf *w = &b->body;
  if(!b->lev_open)
    return;
  w_raw(w, "]", 1);
  if(b->kind == DDAS_KIND_VS && vp) {
    const ddas_json *zaken = ddas_json_get(vp->lev, "vroegsignaalzaken");
    size_t i, k, n = 0;
    w_lit(w, ",\"vroegsignaalzaken\":[");
    for(i = 0; zaken && zaken->type == DDAS_JSON_ARRAY && i < zaken->n; i++) {
      const ddas_json *refs =
          ddas_json_get(&zaken->u.items[i], "vroegsignalen");
      int all = 1;
      for(k = 0; refs && refs->type == DDAS_JSON_ARRAY && k < refs->n && all;
          k++) {
        const ddas_json *id = str_member(&refs->u.items[k], "ID");
        all = id && signal_in_part(vp, id);
      }
      if(!all)
        continue;
      if(n++)
        w_raw(w, ",", 1);
      emit(s, w, &zaken->u.items[i]);
    }
    w_raw(w, "]", 1);
  }
  w_raw(w, "}", 1);
  b->lev_open = 0;
}

static ddas_result close_batch(ddas_batcher *b) {
  wbuf *w = &b->body;
  unsigned char md[32];
  unsigned int mdlen = 0;
  ddas_batch *d;
  if(!b->open)
    return DDAS_OK;
  w_raw(w, "]}", 2);
  if(w->nomem)
    return DDAS_ERR_NOMEM;
  if(!EVP_Digest(w->p + b->cur.lev_start, w->len - b->cur.lev_start, md, &mdlen,
                 EVP_sha256(), NULL))
    return DDAS_ERR_NOMEM;
  if(b->ndone == b->capdone) {
    size_t cap = b->capdone ? b->capdone * 2 : 4;
    ddas_batch *n = ddas_realloc(b->done, cap * sizeof(*n));
    if(!n)
      return DDAS_ERR_NOMEM;
    b->done = n;
    b->capdone = cap;
  }
  d = &b->done[b->ndone++];
  *d = b->cur.b;
  d->leveringen = b->leveringen;
  d->last_chunk = b->nchunks - 1;
  ddas_batch_id(b->delivery_id, d->index, md, d->id);
  /* hand the buffer over; the next batch starts a new one */
  d->body = w->p;
  d->len = w->len;
  d->body_mapped = w->mapped ? w->cap : 0;
  w->p = NULL;
  w->len = w->cap = 0;
  w->mapped = 0;
  b->open = 0;
  return DDAS_OK;
}

/* The output levering being written: what (re)opening it in the next batch
 * needs. */
typedef struct {
  const src *s;         /* input of org and gem (number lexemes) */
  const ddas_json *org; /* aanleverende_organisatie, or NULL */
  const ddas_json *gem; /* VS: the levering's gemeentecode, or NULL */
  vs_part *vp;          /* VS: the source levering, else NULL */
} lev_out;

static void open_levering(ddas_batcher *b, const lev_out *lo) {
  wbuf *w = &b->body;
  int first = 1;
  if(b->leveringen)
    w_raw(w, ",", 1);
  w_raw(w, "{", 1);
  w_key(w, &first, "teller", 6);
  w_uint(w, ++b->leveringen);
  if(b->kind == DDAS_KIND_VS && lo->gem) {
    w_key(w, &first, "gemeentecode", 12);
    emit(lo->s, w, lo->gem);
  }
  if(lo->org) {
    w_key(w, &first, "aanleverende_organisatie", 24);
    emit(lo->s, w, lo->org);
  }
  w_key(w, &first, list_name(b->kind), strlen(list_name(b->kind)));
  w_raw(w, "[", 1);
  b->lev_open = 1;
  b->lev_records = 0;
}

/* Bytes that closing the open levering and the batch will add at most
 * (VS zaken are bounded separately by the record limit). */
#define CLOSE_RESERVE 64

static size_t max_records(const ddas_batcher *b) {
  if(b->opt.max_records)
    return b->opt.max_records;
  return b->kind == DDAS_KIND_VS ? DDAS_BATCH_MAX_VROEGSIGNALEN
                                 : DDAS_BATCH_MAX_TRAJECTEN;
}

static int same_str(const ddas_json *a, const ddas_json *b) {
  if(!a || !b)
    return a == b;
  return a->type == DDAS_JSON_STRING && b->type == DDAS_JSON_STRING &&
         a->n == b->n && memcmp(a->u.str, b->u.str, a->n) == 0;
}

/* Appends the record serialised in b->scratch (record j of its source
 * levering) to the output levering `lo`, cutting the batch before it when
 * it does not fit. */
static ddas_result append_record(ddas_batcher *b, lev_out *lo, size_t j) {
  wbuf *sc = &b->scratch;
  size_t need;
  ddas_result r;
  if(sc->nomem)
    return DDAS_ERR_NOMEM;
  if(b->opt.count_only)
    return DDAS_OK; /* counted while it was written; no batch is kept */
  need = sc->len + 1 + CLOSE_RESERVE + (b->lev_open ? 0 : 512);
  if(b->open &&
     (b->cur.b.records >= max_records(b) ||
      (b->cur.b.records > 0 && b->body.len + need > b->opt.max_bytes))) {
    if(lo->vp)
      lo->vp->to = j;
    close_levering(b, lo->s, lo->vp);
    if((r = close_batch(b)))
      return r;
  }
  if(!b->open)
    start_batch(b);
  if(!b->lev_open) {
    open_levering(b, lo);
    if(lo->vp)
      lo->vp->from = j;
  }
  if(b->lev_records++)
    w_raw(&b->body, ",", 1);
  w_raw(&b->body, sc->p, sc->len);
  b->cur.b.records++;
  return b->body.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}

/* VS: the accepted signals of one source levering as one output levering,
 * cut across batches when full, each part with the zaken whose signals are
 * all in it. Reads the tree. */
static ddas_result write_vs_levering(ddas_batcher *b, const src *s,
                                     const ddas_validate_result *res, size_t li,
                                     const ddas_json *lev) {
  const ddas_json *recs = ddas_json_get(lev, "vroegsignalen");
  vs_part vp;
  lev_out lo;
  size_t j;
  ddas_result r;
  vp.lev = lev;
  vp.res = res;
  vp.lev_index = li;
  vp.from = vp.to = 0;
  lo.s = s;
  lo.org = ddas_json_get(lev, "aanleverende_organisatie");
  lo.gem = ddas_json_get(lev, "gemeentecode");
  lo.vp = &vp;
  for(j = 0; recs && j < recs->n; j++) {
    if(!ddas_record_accepted(res, li, j))
      continue;
    b->scratch.len = 0;
    emit(s, &b->scratch, &recs->u.items[j]);
    if((r = append_record(b, &lo, j)))
      return r;
  }
  vp.to = recs ? recs->n : 0;
  close_levering(b, s, &vp);
  return DDAS_OK;
}

/* ---- SHV: a plan of spans, so that the tree can go before the body ----- */

/* A value the SHV writer needs: its tree node and its bytes in the input.
 * Once the tree is released only the span is used: the bytes are parsed
 * again and N1/N2 applied again, which gives the same normalised value
 * (N1/N2 change values, never spans). */
typedef struct {
  const ddas_json *node;
  uint32_t start, end;
} vref;

/* One output levering: the accepted records of a source levering (with N6:
 * those of one gemeentecode), recs[from..to) of the plan. */
typedef struct {
  vref org; /* node NULL: the levering has no aanleverende_organisatie */
  size_t from, to;
  int split; /* N6 made this an extra output levering */
} shv_group;

typedef struct {
  shv_group *groups;
  size_t ngroups, capgroups;
  vref *recs;
  size_t nrecs, caprecs;
} shv_plan;

static void shv_plan_free(shv_plan *p) {
  ddas_free(p->groups);
  ddas_free(p->recs);
}

static vref vref_of(const ddas_json *v) {
  vref r;
  r.node = v;
  r.start = v ? v->start : 0;
  r.end = v ? v->end : 0;
  return r;
}

static ddas_result plan_group(shv_plan *p, const ddas_json *org, int split) {
  shv_group *g;
  if(p->ngroups == p->capgroups) {
    size_t cap = p->capgroups ? p->capgroups * 2 : 8;
    shv_group *n = ddas_realloc(p->groups, cap * sizeof(*n));
    if(!n)
      return DDAS_ERR_NOMEM;
    p->groups = n;
    p->capgroups = cap;
  }
  g = &p->groups[p->ngroups++];
  g->org = vref_of(org);
  g->from = g->to = p->nrecs;
  g->split = split;
  return DDAS_OK;
}

static ddas_result plan_record(shv_plan *p, const ddas_json *rec) {
  if(p->nrecs == p->caprecs) {
    size_t cap = p->caprecs ? p->caprecs * 2 : 256;
    vref *n = ddas_realloc(p->recs, cap * sizeof(*n));
    if(!n)
      return DDAS_ERR_NOMEM;
    p->recs = n;
    p->caprecs = cap;
  }
  p->recs[p->nrecs++] = vref_of(rec);
  p->groups[p->ngroups - 1].to = p->nrecs;
  return DDAS_OK;
}

/* The output leveringen of one accepted source levering, in order. N6: one
 * per gemeentecode, in order of first appearance; records keep their input
 * order within a group. The distinct codes of a levering are few
 * (municipalities). */
static ddas_result plan_levering(shv_plan *p, const ddas_validate_result *res,
                                 size_t li, const ddas_json *lev,
                                 const ddas_json *recs, int n6) {
  const ddas_json *org = ddas_json_get(lev, "aanleverende_organisatie");
  const ddas_json **seen = NULL;
  size_t j, k, groups = 0;
  ddas_result r = DDAS_OK;
  if(!n6) {
    if((r = plan_group(p, org, 0)))
      return r;
    for(j = 0; j < recs->n && !r; j++)
      if(ddas_record_accepted(res, li, j))
        r = plan_record(p, &recs->u.items[j]);
    return r;
  }
  for(j = 0; j < recs->n; j++) {
    const ddas_json *g = ddas_json_get(&recs->u.items[j], "gemeentecode");
    int known = 0;
    if(!ddas_record_accepted(res, li, j))
      continue;
    for(k = 0; k < groups && !known; k++)
      known = same_str(seen[k], g);
    if(known)
      continue;
    if(groups % 16 == 0) {
      const ddas_json **n =
          ddas_realloc((void *)seen, (groups + 16) * sizeof(*seen));
      if(!n) {
        ddas_free((void *)seen);
        return DDAS_ERR_NOMEM;
      }
      seen = n;
    }
    seen[groups++] = g;
  }
  for(k = 0; k < groups && !r; k++) {
    r = plan_group(p, org, k > 0);
    for(j = 0; j < recs->n && !r; j++)
      if(ddas_record_accepted(res, li, j) &&
         same_str(ddas_json_get(&recs->u.items[j], "gemeentecode"), seen[k]))
        r = plan_record(p, &recs->u.items[j]);
  }
  ddas_free((void *)seen);
  return r;
}

/* What reading a plan value needs once the tree is gone. */
typedef struct {
  const char *input; /* the whole input */
  int reparse;       /* 1: the tree was released */
  unsigned norms;    /* the N1/N2 bits the tree had */
  unsigned max_depth;
} vsource;

/* The value `v` as a tree node with the src its number lexemes come from;
 * *tmp (free it after use) holds a re-parsed value. */
static ddas_result value_of(const vsource *vs, const vref *v,
                            ddas_json_doc **tmp, src *s,
                            const ddas_json **out) {
  ddas_json_options o;
  ddas_json_error e;
  ddas_norm_counts scratch;
  ddas_result r;
  *tmp = NULL;
  if(!vs->reparse) {
    s->input = vs->input;
    *out = v->node;
    return DDAS_OK;
  }
  memset(&o, 0, sizeof(o));
  o.max_depth = vs->max_depth;
  r = ddas_json_parse(vs->input + v->start, v->end - v->start, &o, tmp, &e);
  if(r) /* checked bytes parse again unless memory runs out */
    return r == DDAS_ERR_NOMEM ? r : DDAS_ERR_ARG;
  memset(&scratch, 0, sizeof(scratch));
  if(vs->norms && /* reported when the delivery was checked */
     (r = ddas_normalize_values(*tmp, vs->norms, NULL, NULL, &scratch))) {
    ddas_json_doc_free(*tmp);
    *tmp = NULL;
    return r;
  }
  s->input = vs->input + v->start;
  *out = ddas_json_root(*tmp);
  return DDAS_OK;
}

static ddas_result write_shv_group(ddas_batcher *b, rctx *rc, const vsource *vs,
                                   const shv_plan *p, const shv_group *g) {
  ddas_json_doc *orgdoc = NULL;
  src orgsrc, recsrc;
  lev_out lo;
  size_t i;
  ddas_result r = DDAS_OK;
  lo.s = &orgsrc;
  lo.org = NULL;
  lo.gem = NULL;
  lo.vp = NULL;
  orgsrc.input = vs->input;
  if(g->split)
    b->counts.n[5]++;
  if(g->org.node && (r = value_of(vs, &g->org, &orgdoc, &orgsrc, &lo.org)))
    return r;
  for(i = g->from; i < g->to && !r; i++) {
    ddas_json_doc *recdoc = NULL;
    const ddas_json *rec;
    if(!(r = value_of(vs, &p->recs[i], &recdoc, &recsrc, &rec))) {
      rc->s = &recsrc;
      b->scratch.len = 0;
      emit_traject(rc, &b->scratch, rec);
      r = append_record(b, &lo, i);
    }
    ddas_json_doc_free(recdoc);
  }
  if(!r)
    close_levering(b, lo.s, NULL);
  ddas_json_doc_free(orgdoc);
  return r;
}

static ddas_result set_envelope(ddas_batcher *b,
                                const ddas_validate_result *res,
                                const ddas_json *root) {
  const ddas_json *s = str_member(root, "startdatumLevering");
  const ddas_json *e = str_member(root, "einddatumLevering");
  if(!s || !e)
    return DDAS_ERR_ARG;
  if(!b->period_start) {
    size_t tn, cn;
    const char *from;
    const char *t = b->opt.time_from_delivery
                        ? ddas_envelope_value(&b->opt.envelope, root,
                                              "aanleverdatumEnTijd", &tn, &from)
                        : b->opt.envelope.delivered_at;
    const char *code = ddas_envelope_value(
        &b->opt.envelope, root, "codeGegevensleverancier", &cn, &from);
    b->kind = res->detection.kind;
    b->version = res->detection.version;
    b->period_start = ddas_strndup(s->u.str, s->n);
    b->period_end = ddas_strndup(e->u.str, e->n);
    if(!b->opt.time_from_delivery)
      tn = strlen(t);
    b->sent_at = t ? ddas_strndup(t, tn) : NULL;
    b->code = code ? ddas_strndup(code, cn) : NULL;
    if(!b->period_start || !b->period_end || (t && !b->sent_at) ||
       (code && !b->code))
      return DDAS_ERR_NOMEM;
    return DDAS_OK;
  }
  if(b->kind != res->detection.kind || strlen(b->period_start) != s->n ||
     memcmp(b->period_start, s->u.str, s->n) != 0 ||
     strlen(b->period_end) != e->n || memcmp(b->period_end, e->u.str, e->n))
    return DDAS_ERR_ARG; /* a batch never mixes kinds or periods */
  return DDAS_OK;
}

/* `release` is NULL, or &res->doc: then the document is freed (and the
 * pointer set to NULL) as soon as it is no longer needed: for SHV after
 * the plan, before the first record is written. */
static ddas_result batcher_add(ddas_batcher *b, const ddas_validate_result *res,
                               ddas_json_doc **release) {
  const ddas_json *root, *levs;
  src s;
  rctx rc;
  vsource vs;
  shv_plan plan;
  size_t i;
  ddas_result r = DDAS_OK;
  if(b->failed || !res || !res->doc) {
    if(release) { /* the promise holds on every return */
      ddas_json_doc_free(*release);
      *release = NULL;
    }
    return DDAS_ERR_ARG;
  }
  root = ddas_json_root(res->doc);
  b->nchunks++;
  memset(&plan, 0, sizeof(plan));
  if(res->document_rejected || res->accepted == 0)
    goto out;
  if((r = set_envelope(b, res, root)) == DDAS_ERR_ARG)
    goto refused; /* another kind or period: refused, the batcher lives on */
  if(r)
    goto out; /* out of memory: the envelope may be half set */
  s.input = ddas_json_input(res->doc);
  memset(&rc, 0, sizeof(rc));
  rc.s = &s;
  rc.mask = b->opt.norm_mask;
  rc.counts = &b->counts;
  if(b->kind == DDAS_KIND_SHV && (b->opt.norm_mask & DDAS_N3)) {
    rc.from_v09 = strcmp(res->detection.version, "0.9") == 0;
    rc.from_v010 = strcmp(res->detection.version, "0.10") == 0;
  }
  levs = ddas_json_get(root, "leveringen");
  for(i = 0; levs && i < levs->n && i < res->nverdicts && !r; i++) {
    const ddas_json *lev = &levs->u.items[i];
    const ddas_json *recs = ddas_json_get(lev, list_name(b->kind));
    if(res->verdicts[i].rejected || !recs)
      continue;
    if(b->kind == DDAS_KIND_VS)
      r = write_vs_levering(b, &s, res, i, lev);
    else
      r = plan_levering(&plan, res, i, lev, recs,
                        (b->opt.norm_mask & DDAS_N6) != 0);
  }
  if(r || b->kind == DDAS_KIND_VS)
    goto out;
  vs.input = s.input;
  vs.reparse = release && root->end >= b->opt.reparse_min;
  vs.norms = res->doc_norms;
  vs.max_depth = res->doc_max_depth;
  if(vs.reparse) { /* the tree and the body never coexist */
    ddas_json_doc_free(*release);
    *release = NULL;
  }
  for(i = 0; i < plan.ngroups && !r; i++)
    r = write_shv_group(b, &rc, &vs, &plan, &plan.groups[i]);
out:
  if(r)
    b->failed = 1; /* a batch may be half written */
refused:
  shv_plan_free(&plan);
  if(release) {
    ddas_json_doc_free(*release);
    *release = NULL;
  }
  return r;
}

ddas_result ddas_batcher_add(ddas_batcher *b, const ddas_validate_result *res) {
  return batcher_add(b, res, NULL);
}

ddas_result ddas_batcher_add_release(ddas_batcher *b,
                                     ddas_validate_result *res) {
  return batcher_add(b, res, res ? &res->doc : NULL);
}

ddas_result ddas_batcher_finish(ddas_batcher *b) {
  if(b->failed)
    return DDAS_ERR_ARG;
  return close_batch(b);
}

int ddas_batcher_next(ddas_batcher *b, ddas_batch *out) {
  if(b->taken >= b->ndone)
    return 0;
  *out = b->done[b->taken];
  memset(&b->done[b->taken], 0, sizeof(ddas_batch));
  b->taken++;
  if(b->taken == b->ndone)
    b->taken = b->ndone = 0;
  return 1;
}

ddas_result ddas_upgrade_check(ddas_validate_result *res,
                               const ddas_json_doc *doc, const ddas_schema *v10,
                               unsigned norm_mask, const ddas_ruleset *rs) {
  static const char traject_schema[] =
      "#/properties/leveringen/items/properties/schuldhulptrajecten/items";
  const ddas_json *levs;
  ddas_norm_counts scratch_counts;
  wbuf w = {NULL, 0, 0, 0, 0};
  src sc;
  rctx rc;
  size_t i, j, k;
  ddas_result r = DDAS_OK;
  if(res->detection.kind != DDAS_KIND_SHV || !res->detection.version ||
     !(norm_mask & DDAS_N3) || !strcmp(res->detection.version, "1.0"))
    return DDAS_OK;
  memset(&rc, 0, sizeof(rc));
  memset(&scratch_counts, 0, sizeof(scratch_counts));
  sc.input = ddas_json_input(doc);
  rc.s = &sc;
  rc.mask = norm_mask;
  rc.counts = &scratch_counts;
  rc.drops = &res->findings;
  rc.rs = rs;
  rc.from_v09 = !strcmp(res->detection.version, "0.9");
  rc.from_v010 = !strcmp(res->detection.version, "0.10");
  levs = ddas_json_get(ddas_json_root(doc), "leveringen");
  for(i = 0; levs && levs->type == DDAS_JSON_ARRAY && i < levs->n &&
             i < res->nverdicts && !r;
      i++) {
    const ddas_json *recs =
        ddas_json_get(&levs->u.items[i], "schuldhulptrajecten");
    for(j = 0; recs && recs->type == DDAS_JSON_ARRAY && j < recs->n && !r;
        j++) {
      ddas_json_doc *out = NULL;
      ddas_json_error e;
      ddas_findings f;
      char base[64];
      int accepted = ddas_record_accepted(res, i, j);
      snprintf(base, sizeof(base), "/leveringen/%zu/schuldhulptrajecten/%zu", i,
               j);
      rc.base = base;
      w.len = 0;
      /* every traject, so that what it would lose is reported even when
       * it is rejected for something else; only accepted ones go out */
      emit_traject(&rc, &w, &recs->u.items[j]);
      if(w.nomem || rc.nomem) {
        r = DDAS_ERR_NOMEM;
        break;
      }
      if(!accepted)
        continue;
      if(ddas_json_parse(w.p, w.len, NULL, &out, &e) != DDAS_OK) {
        r = e.code && !strcmp(e.code, "nomem") ? DDAS_ERR_NOMEM : DDAS_OK;
        continue; /* cannot happen for written JSON; not a record's fault */
      }
      ddas_findings_init(&f, 100);
      if(ddas_schema_validate_at(v10, traject_schema, ddas_json_root(out), &f) <
         0)
        r = DDAS_ERR_NOMEM;
      for(k = 0; k < f.count && !r; k++) {
        char ptr[2048];
        snprintf(ptr, sizeof(ptr), "%s%s", base, f.items[k].pointer);
        r = ddas_findings_add(
            &res->findings, DDAS_SEV_ERROR, "schema", f.items[k].keyword, ptr,
            f.items[k].schema_pointer, "after the upgrade to SHV v1.0: %s",
            f.items[k].message);
      }
      ddas_findings_clear(&f);
      ddas_json_doc_free(out);
    }
  }
  w_free(&w);
  return r;
}

/* ---- the envelope ----------------------------------------------------- */

const char *ddas_envelope_value(const ddas_envelope_context *ctx,
                                const ddas_json *root, const char *member,
                                size_t *len, const char **from) {
  int is_time = strcmp(member, "aanleverdatumEnTijd") == 0;
  const ddas_json *own = str_member(root, member);
  const char *v = !ctx ? NULL : is_time ? ctx->delivered_at : ctx->code;
  *from = NULL;
  if(own && (is_time || !ctx || !ctx->code || !ctx->code_replaces)) {
    *len = own->n;
    return own->u.str;
  }
  if(v && *v) {
    *from = is_time ? ctx->delivered_at_from : ctx->code_from;
    if(!*from)
      *from = "the delivery's context";
    *len = strlen(v);
    return v;
  }
  *len = 0;
  return NULL;
}

ddas_result ddas_envelope_check(const ddas_envelope_context *ctx,
                                const ddas_json *root,
                                const ddas_detection *det, unsigned norm_mask,
                                const ddas_ruleset *rs, ddas_findings *out) {
  static const char *const fill[2] = {"aanleverdatumEnTijd",
                                      "codeGegevensleverancier"};
  static const char *const kept[5] = {"startdatumLevering", "einddatumLevering",
                                      "aanleverdatumEnTijd",
                                      "codeGegevensleverancier", "leveringen"};
  size_t i, k, n;
  ddas_result r = DDAS_OK;
  if(det->kind != DDAS_KIND_SHV || !det->version ||
     strcmp(det->version, "0.9") != 0 || !root ||
     root->type != DDAS_JSON_OBJECT)
    return DDAS_OK;
  for(i = 0; i < 2 && !r; i++) {
    const char *from;
    char ptr[64];
    if(str_member(root, fill[i]))
      continue;
    snprintf(ptr, sizeof(ptr), "/%s", fill[i]);
    if(ddas_envelope_value(ctx, root, fill[i], &n, &from))
      r = ddas_rule_add(rs, out, "envelope.filled", ptr,
                        "absent (optional in SHV v0.9, required in v1.0): the "
                        "batches carry the value of %s",
                        from);
    else if(norm_mask & DDAS_N3)
      r = ddas_rule_add(rs, out, "envelope.missing", ptr,
                        "absent (optional in SHV v0.9, required in v1.0), and "
                        "%s to fill it from",
                        i == 0 ? "no time of submission is known"
                               : "no codeGegevensleverancier is configured");
  }
  for(i = 0; i < root->n && !r; i++) {
    const ddas_json_member *m = &root->u.members[i];
    char ptr[2048] = "";
    int keep = 0;
    for(k = 0; k < 5 && !keep; k++)
      keep = key_is(m, kept[k]);
    if(keep)
      continue;
    ddas_json_pointer_push_key(ptr, sizeof(ptr), m->key, m->key_len);
    r = ddas_rule_add(rs, out, "upgrade.dropped", ptr, "%s",
                      "no batch envelope carries this member: it is left out "
                      "of what is sent");
  }
  return r;
}
