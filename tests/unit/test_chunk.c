/* Chunks: every chunk at most max_bytes (or a single oversize unit), a valid
 * document of the delivery's kind and version on its own, envelope and
 * levering members byte-identical to the input, all records in order byte
 * for byte, VS leveringen never split, cuts greedy and deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/chunk.h"
#include "ddas/ddas.h"
#include "testutil.h"

/* ---- generators --------------------------------------------------------- */

/* A valid SHV v1.0 delivery: levering l holds counts[l] trajecten; record
 * number `big` (0-based over the document, or SIZE_MAX) carries an
 * omschrijving of `pad` bytes. Caller frees. */
static char *make_shv(const size_t *counts, size_t nlev, size_t big, size_t pad,
                      size_t *len) {
  size_t cap = 4096 + pad, w = 0, i, l, k = 0;
  char *b;
  for(l = 0; l < nlev; l++)
    cap += 600 + counts[l] * 500;
  b = malloc(cap);
  assert_non_null(b);
  w += (size_t)snprintf(b + w, cap - w,
                        "{\"startdatumLevering\":\"2024-01-01\","
                        "\"einddatumLevering\":\"2024-12-31\","
                        "\"aanleverdatumEnTijd\":\"2025-01-15T10:00:00Z\","
                        "\"codeGegevensleverancier\":\"Test 1.0\","
                        "\"leveringen\":[");
  for(l = 0; l < nlev; l++) {
    w += (size_t)snprintf(
        b + w, cap - w,
        "%s{\"teller\":%zu,\"aanleverende_organisatie\":{\"(Statutaire) "
        "Naam\":\"Org %zu\",\"KvK-nummer\":\"12345678\",\"contactpersonen\":"
        "[{\"email\":\"a@example.nl\"}]},\"schuldhulptrajecten\":[",
        l ? "," : "", l + 1, l);
    for(i = 0; i < counts[l]; i++, k++) {
      w += (size_t)snprintf(
          b + w, cap - w,
          "%s{\"gemeentecode\":\"GM%04zu\",\"startdatum\":\"2024-02-01\","
          "\"totaalSchuldbedragBijAanvangSchuld\":9%zu,",
          i ? "," : "", 100 + l, k);
      if(k == big) {
        w += (size_t)snprintf(b + w, cap - w, "\"omschrijving\":\"");
        memset(b + w, 'x', pad);
        w += pad;
        w += (size_t)snprintf(b + w, cap - w, "\",");
      }
      w += (size_t)snprintf(
          b + w, cap - w,
          "\"client\":[{\"Burgerservicenummer\":\"111222333\","
          "\"Geboortedatum\":\"1980-01-01\",\"Geslachtsaanduiding\":\"Vrouw\","
          "\"Postcode\":\"1234AB\",\"Huisnummer\":\"%zu\"}],"
          "\"schulden\":[{\"bedrag\":100,\"schuldsoort\":\"Zorg\","
          "\"schuldeiser\":{\"naam\":\"Eiser\"}}]}",
          1 + k % 500);
    }
    w += (size_t)snprintf(b + w, cap - w, "]}");
  }
  w += (size_t)snprintf(b + w, cap - w, "]}");
  assert_true(w < cap);
  *len = w;
  return b;
}

/* `n` trajecten spread evenly over `nlev` leveringen. */
static char *make_even(size_t n, size_t nlev, size_t *len) {
  size_t counts[64], l;
  assert_true(nlev <= 64);
  for(l = 0; l < nlev; l++)
    counts[l] = n * (l + 1) / nlev - n * l / nlev;
  return make_shv(counts, nlev, SIZE_MAX, 0, len);
}

/* A valid VS v0.9 delivery: levering l holds nsig[l] vroegsignalen and one
 * vroegsignaalzaak per two signals that refers to both by ID. */
static char *make_vs(const size_t *nsig, size_t nlev, size_t *len) {
  size_t cap = 4096, w = 0, i, l;
  char *b;
  for(l = 0; l < nlev; l++)
    cap += 600 + nsig[l] * 700;
  b = malloc(cap);
  assert_non_null(b);
  w += (size_t)snprintf(b + w, cap - w,
                        "{\"codeGegevensleverancier\":\"SOFT-123\","
                        "\"startdatumLevering\":\"2025-01-01\","
                        "\"einddatumLevering\":\"2025-01-31\","
                        "\"aanleverdatumEnTijd\":\"2025-02-05T10:30:00Z\","
                        "\"leveringen\":[");
  for(l = 0; l < nlev; l++) {
    w += (size_t)snprintf(
        b + w, cap - w,
        "%s{\"teller\":%zu,\"gemeentecode\":\"%04zu\","
        "\"aanleverende_organisatie\":{\"naam\":\"Gemeente %zu\","
        "\"kvk-nummer\":\"12345678\",\"contactpersoonen\":[{\"naam\":\"J\","
        "\"email\":\"j@example.nl\"}]},\"vroegsignalen\":[",
        l ? "," : "", l + 1, 500 + l, l);
    for(i = 0; i < nsig[l]; i++)
      w += (size_t)snprintf(
          b + w, cap - w,
          "%s{\"ID\":\"VS-%zu-%zu\",\"bedrag\":450,"
          "\"signaaldatum\":\"2025-01-05\",\"signaalpartner\":{\"type\":"
          "\"Energie\"},\"client\":{\"Burgerservicenummer\":\"123456789\","
          "\"Achternaam\":\"Dijk\",\"Geboortedatum\":\"1985-06-15\","
          "\"Postcode\":\"1234AB\",\"Huisnummer\":\"%zu\"}}",
          i ? "," : "", l, i, 1 + i);
    w += (size_t)snprintf(b + w, cap - w, "],\"vroegsignaalzaken\":[");
    for(i = 0; i < nsig[l]; i += 2) {
      w += (size_t)snprintf(b + w, cap - w,
                            "%s{\"matchingsdatum\":\"2025-01-06\","
                            "\"vroegsignalen\":[{\"ID\":\"VS-%zu-%zu\"}",
                            i ? "," : "", l, i);
      if(i + 1 < nsig[l])
        w += (size_t)snprintf(b + w, cap - w, ",{\"ID\":\"VS-%zu-%zu\"}", l,
                              i + 1);
      w += (size_t)snprintf(b + w, cap - w, "]}");
    }
    w += (size_t)snprintf(b + w, cap - w, "]}");
  }
  w += (size_t)snprintf(b + w, cap - w, "]}");
  assert_true(w < cap);
  *len = w;
  return b;
}

/* ---- helpers ------------------------------------------------------------ */

static ddas_json_doc *parse(const char *buf, size_t len) {
  ddas_json_doc *doc = NULL;
  ddas_json_error err;
  assert_int_equal(ddas_json_parse(buf, len, NULL, &doc, &err), DDAS_OK);
  return doc;
}

typedef struct {
  ddas_chunk_span *spans;
  size_t n;
  char **body;
  size_t *len;
} chunks;

static void chunk_all(const ddas_json_doc *doc, ddas_kind kind, size_t max,
                      chunks *c) {
  size_t i;
  assert_int_equal(ddas_chunk_plan(doc, kind, max, &c->spans, &c->n), DDAS_OK);
  assert_true(c->n >= 1);
  c->body = calloc(c->n, sizeof(*c->body));
  c->len = calloc(c->n, sizeof(*c->len));
  assert_non_null(c->body);
  assert_non_null(c->len);
  for(i = 0; i < c->n; i++) {
    assert_int_equal(
        ddas_chunk_write(doc, kind, &c->spans[i], &c->body[i], &c->len[i]),
        DDAS_OK);
    assert_int_equal(c->spans[i].as_is, c->n == 1 && c->spans[0].as_is);
    /* the plan knows each chunk's size exactly */
    assert_int_equal(c->len[i], c->spans[i].bytes);
    assert_int_equal(c->body[i][c->len[i]], '\0');
  }
}

static void chunks_free(chunks *c) {
  size_t i;
  for(i = 0; i < c->n; i++)
    ddas_free(c->body[i]);
  free(c->body);
  free(c->len);
  ddas_free(c->spans);
  memset(c, 0, sizeof(*c));
}

static const char *list_name(ddas_kind kind) {
  return kind == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
}

static size_t nrecords(const ddas_json *lev, ddas_kind kind) {
  const ddas_json *list = ddas_json_get(lev, list_name(kind));
  return list ? list->n : 0;
}

static int raw_equal(const char *a, const ddas_json *va, const char *b,
                     const ddas_json *vb) {
  return va->end - va->start == vb->end - vb->start &&
         memcmp(a + va->start, b + vb->start, va->end - va->start) == 0;
}

static int key_is(const ddas_json_member *m, const char *k) {
  return m->key_len == strlen(k) && memcmp(m->key, k, m->key_len) == 0;
}

static void validate(const char *buf, size_t len, ddas_kind kind,
                     const char *version, const ddas_ruleset *rules) {
  ddas_validate_result res;
  assert_int_equal(tu_validate(buf, len, rules, kind, version, 0, &res),
                   DDAS_OK);
  if(res.findings.errors || (!rules && res.findings.count))
    printf("chunk: %zu findings, first: %s %s\n", res.findings.count,
           res.findings.items[0].pointer, res.findings.items[0].message);
  assert_true(res.valid);
  assert_int_equal(res.findings.errors, 0);
  if(!rules) /* schema only: not even a warning */
    assert_int_equal(res.findings.count, 0);
  ddas_validate_result_clear(&res);
}

/* Every vroegsignaalzaak of a VS levering refers to signals of the same
 * levering. Returns the number of references checked. */
static size_t check_zaak_refs(const ddas_json *lev) {
  const ddas_json *sig = ddas_json_get(lev, "vroegsignalen");
  const ddas_json *zaken = ddas_json_get(lev, "vroegsignaalzaken");
  size_t z, r, s, refs = 0;
  if(!zaken)
    return 0;
  for(z = 0; z < zaken->n; z++) {
    const ddas_json *ids = ddas_json_get(&zaken->u.items[z], "vroegsignalen");
    for(r = 0; ids && r < ids->n; r++) {
      const ddas_json *id = ddas_json_get(&ids->u.items[r], "ID");
      int found = 0;
      for(s = 0; sig && s < sig->n && !found; s++)
        found = ddas_json_equal(ddas_json_get(&sig->u.items[s], "ID"), id);
      assert_true(found);
      refs++;
    }
  }
  return refs;
}

typedef struct {
  size_t chunks;
  size_t oversize;
  size_t refs; /* VS: zaak references checked */
} outcome;

/* Chunks buf at max and checks every property of the module's contract;
 * the chunks are validated against kind/version (schema only, and with
 * `rules` when given). */
static outcome check_chunks(const char *buf, size_t len, ddas_kind kind,
                            const char *version, size_t max,
                            const ddas_ruleset *rules) {
  ddas_json_doc *doc = parse(buf, len);
  const ddas_json *root = ddas_json_root(doc);
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  const char *list = list_name(kind);
  size_t nlev = levs->n, i, j, k, m, total = 0, seen_total = 0;
  size_t cl = 0, cr = 0; /* cursor: the next original record */
  size_t *seen = calloc(nlev, sizeof(*seen));
  chunks a, b;
  outcome o;
  memset(&o, 0, sizeof(o));
  assert_non_null(seen);
  for(i = 0; i < nlev; i++)
    total += nrecords(&levs->u.items[i], kind);

  chunk_all(doc, kind, max, &a);
  /* deterministic: the same input gives the same chunks */
  chunk_all(doc, kind, max, &b);
  assert_int_equal(a.n, b.n);
  for(i = 0; i < a.n; i++) {
    assert_int_equal(a.len[i], b.len[i]);
    assert_memory_equal(a.body[i], b.body[i], a.len[i]);
  }
  chunks_free(&b);

  o.chunks = a.n;
  for(i = 0; i < a.n; i++) {
    const ddas_chunk_span *sp = &a.spans[i];
    ddas_json_doc *cd;
    const ddas_json *croot, *clevs;
    size_t recs = 0;
    assert_false(sp->as_is);
    /* at most max_bytes, unless it is a single unit that does not fit */
    if(a.len[i] > max) {
      if(kind == DDAS_KIND_VS)
        assert_int_equal(sp->lev_from, sp->lev_to);
      else
        assert_int_equal(sp->records, 1);
      o.oversize++;
    }
    /* valid on its own, as the same kind and version */
    validate(a.body[i], a.len[i], kind, version, NULL);
    if(rules)
      validate(a.body[i], a.len[i], kind, version, rules);

    cd = parse(a.body[i], a.len[i]);
    croot = ddas_json_root(cd);
    /* the envelope: the same members, in order, byte for byte */
    assert_int_equal(croot->n, root->n);
    for(m = 0; m < root->n; m++) {
      const ddas_json_member *om = &root->u.members[m];
      const ddas_json_member *cm = &croot->u.members[m];
      assert_int_equal(cm->key_len, om->key_len);
      assert_memory_equal(cm->key, om->key, om->key_len);
      if(!key_is(om, "leveringen"))
        assert_true(raw_equal(a.body[i], &cm->value, buf, &om->value));
    }
    clevs = ddas_json_get(croot, "leveringen");
    assert_int_equal(clevs->n, sp->lev_to - sp->lev_from + 1);
    if(i) /* leveringen in order: the next one or the one split */
      assert_true(sp->lev_from == a.spans[i - 1].lev_to ||
                  sp->lev_from == a.spans[i - 1].lev_to + 1);
    for(k = 0; k < clevs->n; k++) {
      size_t ol = sp->lev_from + k, r0, r1;
      const ddas_json *olev = &levs->u.items[ol];
      const ddas_json *clev = &clevs->u.items[k];
      const ddas_json *olist = ddas_json_get(olev, list);
      const ddas_json *clist = ddas_json_get(clev, list);
      /* the levering's other members, byte for byte (teller included) */
      assert_int_equal(clev->n, olev->n);
      for(m = 0; m < olev->n; m++) {
        const ddas_json_member *om = &olev->u.members[m];
        const ddas_json_member *cm = &clev->u.members[m];
        assert_int_equal(cm->key_len, om->key_len);
        assert_memory_equal(cm->key, om->key, om->key_len);
        if(!key_is(om, list))
          assert_true(raw_equal(a.body[i], &cm->value, buf, &om->value));
      }
      assert_true((olist == NULL) == (clist == NULL));
      r0 = k == 0 ? sp->rec_from : 0;
      r1 = ol == sp->lev_to ? sp->rec_to : nrecords(olev, kind);
      assert_int_equal(clist ? clist->n : 0, r1 - r0);
      if(kind == DDAS_KIND_VS) { /* never split */
        assert_int_equal(r0, 0);
        assert_int_equal(r1, nrecords(olev, kind));
        o.refs += check_zaak_refs(clev);
      }
      if(nrecords(olev, kind) == 0 || kind == DDAS_KIND_VS)
        assert_int_equal(seen[ol], 0); /* whole leveringen: exactly once */
      seen[ol]++;
      /* the records: the next ones of the input, byte for byte */
      for(j = 0; clist && j < clist->n; j++) {
        while(cr == nrecords(&levs->u.items[cl], kind)) {
          cl++;
          cr = 0;
        }
        assert_int_equal(cl, ol);
        assert_int_equal(cr, r0 + j);
        assert_true(
            raw_equal(a.body[i], &clist->u.items[j], buf, &olist->u.items[cr]));
        cr++;
        recs++;
      }
    }
    assert_int_equal(recs, sp->records);
    seen_total += recs;
    ddas_json_doc_free(cd);

    /* greedy: the first unit of the next chunk would not have fitted */
    if(i + 1 < a.n) {
      const ddas_chunk_span *next = &a.spans[i + 1];
      ddas_chunk_span ext = *sp;
      size_t n = nrecords(&levs->u.items[next->lev_from], kind);
      char *body;
      size_t blen;
      ext.lev_to = next->lev_from;
      ext.rec_to = kind == DDAS_KIND_VS || n == 0 ? n : next->rec_from + 1;
      assert_int_equal(ddas_chunk_write(doc, kind, &ext, &body, &blen),
                       DDAS_OK);
      assert_true(blen > max);
      ddas_free(body);
    }
  }
  /* every record exactly once, every levering at least once */
  assert_int_equal(seen_total, total);
  for(i = 0; i < nlev; i++)
    assert_true(seen[i] >= 1);
  free(seen);
  chunks_free(&a);
  ddas_json_doc_free(doc);
  return o;
}

/* ---- tests -------------------------------------------------------------- */

/* 5,000 trajecten over 7 leveringen (about 1.6 MB) at 64 KiB and at
 * 1 MiB. */
static void shv_delivery_at_64k_and_1m(void **state) {
  static const size_t maxes[] = {64u << 10, 1u << 20};
  size_t len, i, l, rec_bytes = 0, head = 0, maxrec = 0;
  char *buf = make_even(5000, 7, &len);
  ddas_json_doc *doc = parse(buf, len);
  const ddas_json *levs = ddas_json_get(ddas_json_root(doc), "leveringen");
  ddas_ruleset rs;
  (void)state;
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  validate(buf, len, DDAS_KIND_SHV, "1.0", NULL);
  /* sizes for the expected number of chunks */
  for(l = 0; l < levs->n; l++) {
    const ddas_json *lev = &levs->u.items[l];
    const ddas_json *list = ddas_json_get(lev, "schuldhulptrajecten");
    head += (lev->end - lev->start) - (list->end - list->start) + 2;
    for(i = 0; i < list->n; i++) {
      size_t n = list->u.items[i].end - list->u.items[i].start;
      rec_bytes += n + 1;
      if(n > maxrec)
        maxrec = n;
    }
  }
  for(i = 0; i < 2; i++) {
    size_t max = maxes[i];
    size_t env = len - (levs->end - levs->start);
    outcome o = check_chunks(buf, len, DDAS_KIND_SHV, "1.0", max, &rs);
    /* no chunk holds more than max_bytes of records; every chunk but the
     * last is full up to one record and the fixed parts */
    size_t lo = (rec_bytes + max - 1) / max;
    size_t hi = rec_bytes / (max - env - head - maxrec - 2) + 1;
    printf("max %zu: %zu bytes, %zu chunks (expected %zu..%zu)\n", max, len,
           o.chunks, lo, hi);
    assert_int_equal(o.oversize, 0);
    assert_true(o.chunks >= 2);
    assert_true(o.chunks >= lo && o.chunks <= hi);
  }
  assert_true(len > (1u << 20) + (1u << 19)); /* about 1.6 MB */
  ddas_json_doc_free(doc);
  free(buf);
}

/* Without a kind the record list is unknown: one chunk, the input as is. */
static void unknown_kind_is_one_chunk(void **state) {
  size_t len;
  char *buf = make_even(300, 3, &len);
  ddas_json_doc *doc = parse(buf, len);
  chunks c;
  (void)state;
  chunk_all(doc, DDAS_KIND_UNKNOWN, 8192, &c);
  assert_int_equal(c.n, 1);
  assert_true(c.spans[0].as_is);
  assert_int_equal(c.len[0], len);
  assert_memory_equal(c.body[0], buf, len);
  chunks_free(&c);
  ddas_json_doc_free(doc);
  free(buf);
}

/* Leveringen without trajecten still appear, each exactly once, where their
 * position falls; tellers stay as they are. */
static void empty_leveringen_keep_their_place(void **state) {
  static const size_t counts[] = {0, 7, 0, 0, 12, 0, 3, 0};
  static const size_t maxes[] = {1200, 2000, 3000, 100000};
  size_t len, i;
  char *buf = make_shv(counts, 8, SIZE_MAX, 0, &len);
  (void)state;
  for(i = 0; i < 4; i++) {
    outcome o = check_chunks(buf, len, DDAS_KIND_SHV, "1.0", maxes[i], NULL);
    assert_int_equal(o.oversize, 0);
    if(maxes[i] >= len)
      assert_int_equal(o.chunks, 1);
  }
  free(buf);
}

/* A trajectory larger than max_bytes is a chunk of its own; the others
 * around it still fit. */
static void oversize_record_is_its_own_chunk(void **state) {
  static const size_t counts[] = {4, 4};
  size_t len, i;
  char *buf = make_shv(counts, 2, 5, 6000, &len);
  ddas_json_doc *doc = parse(buf, len);
  chunks c;
  outcome o;
  (void)state;
  o = check_chunks(buf, len, DDAS_KIND_SHV, "1.0", 2000, NULL);
  assert_int_equal(o.oversize, 1);
  chunk_all(doc, DDAS_KIND_SHV, 2000, &c);
  for(i = 0; i < c.n; i++) {
    if(c.len[i] <= 2000)
      continue;
    /* record 5 of the document is record 1 of levering 1 */
    assert_int_equal(c.spans[i].lev_from, 1);
    assert_int_equal(c.spans[i].rec_from, 1);
    assert_int_equal(c.spans[i].lev_to, 1);
    assert_int_equal(c.spans[i].rec_to, 2);
    assert_true(c.len[i] > 6000);
  }
  chunks_free(&c);
  ddas_json_doc_free(doc);
  free(buf);
}

/* VS: leveringen are never split, zaken stay with their signals, an
 * oversize levering is a chunk of its own. */
static void vs_leveringen_stay_whole(void **state) {
  static const size_t nsig[] = {3, 1, 0, 8, 2, 40, 5};
  static const size_t maxes[] = {3000, 6000, 20000, 1u << 20};
  size_t len, i;
  char *buf = make_vs(nsig, 7, &len);
  ddas_ruleset rs;
  (void)state;
  ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
  validate(buf, len, DDAS_KIND_VS, "0.9", &rs);
  for(i = 0; i < 4; i++) {
    outcome o = check_chunks(buf, len, DDAS_KIND_VS, "0.9", maxes[i], &rs);
    assert_int_equal(o.refs, 59); /* (3+1+0+8+2+40+5) signals, all referred */
    printf("vs max %zu: %zu chunks, %zu oversize\n", maxes[i], o.chunks,
           o.oversize);
    if(maxes[i] == 3000) /* levering 5 (40 signals) does not fit alone */
      assert_true(o.oversize >= 1);
    if(maxes[i] >= len)
      assert_int_equal(o.chunks, 1);
  }
  free(buf);
}

/* The official examples, chunked small, validate per chunk against their
 * own kind and version. */
static void official_examples_chunk_into_valid_documents(void **state) {
  char **names = tu_list(SOURCE_DIR "/config/examples", ".json");
  size_t i, n = 0, vs = 0;
  (void)state;
  for(i = 0; names[i]; i++) {
    char path[1024];
    size_t len;
    char *buf;
    ddas_kind kind = DDAS_KIND_SHV;
    const char *version = "1.0";
    ddas_ruleset rs;
    outcome o;
    if(strncmp(names[i], "shv-v0.10-", 10) == 0)
      version = "0.10";
    else if(strncmp(names[i], "shv-v0.9-", 9) == 0)
      version = "0.9";
    else if(strncmp(names[i], "vs-v0.9-", 8) == 0) {
      kind = DDAS_KIND_VS;
      version = "0.9";
    } else if(strncmp(names[i], "shv-v1.0-", 9) != 0)
      continue;
    snprintf(path, sizeof(path), SOURCE_DIR "/config/examples/%s", names[i]);
    buf = tu_read(path, &len);
    ddas_ruleset_init(&rs, DDAS_PROFILE_SPEC);
    o = check_chunks(buf, len, kind, version, 1500,
                     kind == DDAS_KIND_VS ? &rs : NULL);
    printf("%s: %zu bytes, %zu chunks at 1500 (%zu oversize)\n", names[i], len,
           o.chunks, o.oversize);
    if(kind == DDAS_KIND_VS) {
      assert_true(o.refs >= 1);
      vs++;
    }
    free(buf);
    n++;
  }
  tu_free_list(names);
  assert_true(n >= 6);
  assert_int_equal(vs, 1);
}

/* The exact output: raw member bytes (names as spelled, values with their
 * own whitespace), compact separators, members in input order, an empty
 * levering that does not fit pushed into the next chunk. */
static void exact_bytes_of_a_small_document(void **state) {
  static const char in[] =
      " { \"a\" : 1 ,\n \"lev\\u0065ringen\" : [ { \"teller\" : 1 , "
      "\"x\\\"y\" : { \"k\" : [ 1, 2 ] } , \"schuldhulptrajecten\" : [ "
      "{\"t\":1} , {\"t\": 2} , {\"t\":3} ] , \"z\" : null } , "
      "{ \"teller\":2, \"schuldhulptrajecten\":[] } ],\n \"b\" : \"c\" }\n";
  static const char c0[] =
      "{\"a\":1,\"lev\\u0065ringen\":[{\"teller\":1,\"x\\\"y\":{ \"k\" : [ "
      "1, 2 ] },\"schuldhulptrajecten\":[{\"t\":1},{\"t\": 2}],\"z\":null}],"
      "\"b\":\"c\"}";
  static const char c1[] =
      "{\"a\":1,\"lev\\u0065ringen\":[{\"teller\":1,\"x\\\"y\":{ \"k\" : [ "
      "1, 2 ] },\"schuldhulptrajecten\":[{\"t\":3}],\"z\":null}],"
      "\"b\":\"c\"}";
  static const char c2[] = "{\"a\":1,\"lev\\u0065ringen\":[{\"teller\":2,"
                           "\"schuldhulptrajecten\":[]}],\"b\":\"c\"}";
  static const char whole[] =
      "{\"a\":1,\"lev\\u0065ringen\":[{\"teller\":1,\"x\\\"y\":{ \"k\" : [ "
      "1, 2 ] },\"schuldhulptrajecten\":[{\"t\":1},{\"t\": 2},{\"t\":3}],"
      "\"z\":null},{\"teller\":2,\"schuldhulptrajecten\":[]}],\"b\":\"c\"}";
  ddas_json_doc *doc = parse(in, sizeof(in) - 1);
  chunks c;
  (void)state;
  chunk_all(doc, DDAS_KIND_SHV, sizeof(c0) - 1, &c);
  assert_int_equal(c.n, 3);
  assert_string_equal(c.body[0], c0);
  assert_string_equal(c.body[1], c1);
  assert_string_equal(c.body[2], c2);
  assert_int_equal(c.spans[0].lev_from, 0);
  assert_int_equal(c.spans[0].rec_from, 0);
  assert_int_equal(c.spans[0].lev_to, 0);
  assert_int_equal(c.spans[0].rec_to, 2);
  assert_int_equal(c.spans[0].records, 2);
  assert_int_equal(c.spans[1].rec_from, 2);
  assert_int_equal(c.spans[1].rec_to, 3);
  assert_int_equal(c.spans[2].lev_from, 1);
  assert_int_equal(c.spans[2].lev_to, 1);
  assert_int_equal(c.spans[2].records, 0);
  chunks_free(&c);
  /* room for everything: one compact chunk */
  chunk_all(doc, DDAS_KIND_SHV, sizeof(in), &c);
  assert_int_equal(c.n, 1);
  assert_string_equal(c.body[0], whole);
  chunks_free(&c);
  ddas_json_doc_free(doc);
}

/* Documents that cannot be split are one chunk: the input as is. */
static void non_ddas_documents_are_one_chunk(void **state) {
  static const char *const docs[] = {
      "[1,2,3]",
      "{\"a\":1}",
      "\"leveringen\"",
      "{\"leveringen\":[]}",
      "{\"leveringen\":{\"schuldhulptrajecten\":[]}}",
      "{\"leveringen\":[1]}",
      "{\"leveringen\":[{\"schuldhulptrajecten\":{}}]}",
  };
  size_t i, k;
  (void)state;
  for(i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    for(k = 0; k < 2; k++) {
      ddas_json_doc *doc = parse(docs[i], strlen(docs[i]));
      ddas_kind kind = k ? DDAS_KIND_SHV : DDAS_KIND_UNKNOWN;
      chunks c;
      chunk_all(doc, kind, 2, &c);
      assert_int_equal(c.n, 1);
      assert_int_equal(c.len[0], strlen(docs[i]));
      assert_string_equal(c.body[0], docs[i]);
      assert_true(c.spans[0].as_is);
      assert_int_equal(c.spans[0].lev_from, 0);
      assert_int_equal(c.spans[0].lev_to, 0);
      assert_int_equal(c.spans[0].records, 0);
      chunks_free(&c);
      ddas_json_doc_free(doc);
    }
  }
}

static void bad_arguments_are_refused(void **state) {
  static const char shv[] =
      "{\"leveringen\":[{\"teller\":1,\"schuldhulptrajecten\":[{},{}]}]}";
  static const char vs[] =
      "{\"leveringen\":[{\"teller\":1,\"vroegsignalen\":[{},{}]}]}";
  ddas_json_doc *d1 = parse(shv, sizeof(shv) - 1);
  ddas_json_doc *d2 = parse(vs, sizeof(vs) - 1);
  ddas_json_doc *d3 = parse("[1,2,3]", 7);
  ddas_chunk_span *spans = (ddas_chunk_span *)1, sp;
  size_t n = 1, len = 1;
  char *out = (char *)1;
  (void)state;
  assert_int_equal(ddas_chunk_plan(d1, DDAS_KIND_SHV, 0, &spans, &n),
                   DDAS_ERR_ARG);
  assert_null(spans);
  assert_int_equal(n, 0);
  assert_int_equal(ddas_chunk_plan(NULL, DDAS_KIND_SHV, 10, &spans, &n),
                   DDAS_ERR_ARG);
  memset(&sp, 0, sizeof(sp));
  /* a document that cannot be split has only its as_is chunk */
  assert_int_equal(ddas_chunk_write(d3, DDAS_KIND_SHV, &sp, &out, &len),
                   DDAS_ERR_ARG);
  assert_int_equal(ddas_chunk_write(d1, DDAS_KIND_UNKNOWN, &sp, &out, &len),
                   DDAS_ERR_ARG);
  /* levering 0 with no records is a chunk */
  assert_int_equal(ddas_chunk_write(d1, DDAS_KIND_SHV, &sp, &out, &len),
                   DDAS_OK);
  assert_string_equal(out, "{\"leveringen\":[{\"teller\":1,"
                           "\"schuldhulptrajecten\":[]}]}");
  ddas_free(out);
  sp.lev_to = 1; /* one levering only */
  assert_int_equal(ddas_chunk_write(d1, DDAS_KIND_SHV, &sp, &out, &len),
                   DDAS_ERR_ARG);
  assert_null(out);
  assert_int_equal(len, 0);
  sp.lev_to = 0;
  sp.rec_to = 3; /* two records only */
  assert_int_equal(ddas_chunk_write(d1, DDAS_KIND_SHV, &sp, &out, &len),
                   DDAS_ERR_ARG);
  sp.rec_from = 2;
  sp.rec_to = 1;
  assert_int_equal(ddas_chunk_write(d1, DDAS_KIND_SHV, &sp, &out, &len),
                   DDAS_ERR_ARG);
  sp.rec_from = 0;
  sp.rec_to = 1; /* half a VS levering */
  assert_int_equal(ddas_chunk_write(d2, DDAS_KIND_VS, &sp, &out, &len),
                   DDAS_ERR_ARG);
  sp.rec_to = 2;
  assert_int_equal(ddas_chunk_write(d2, DDAS_KIND_VS, &sp, &out, &len),
                   DDAS_OK);
  assert_string_equal(out, vs);
  ddas_free(out);
  ddas_json_doc_free(d1);
  ddas_json_doc_free(d2);
  ddas_json_doc_free(d3);
}

/* Every allocation of plan and write may fail: the result is then
 * DDAS_ERR_NOMEM and nothing leaks (ASan); with enough memory the chunks
 * are the same as without injection. */
static void allocation_failures_are_survived(void **state) {
  size_t len, i;
  char *buf = make_even(400, 3, &len);
  ddas_json_doc *doc = parse(buf, len);
  unsigned long at;
  chunks ref;
  int done = 0;
  (void)state;
  chunk_all(doc, DDAS_KIND_SHV, 4096, &ref);
  assert_true(ref.n > 32); /* the span array grows more than once */
  for(at = 1; !done && at < 1000; at++) {
    ddas_chunk_span *spans = NULL;
    size_t n = 0;
    ddas_result r;
    ddas_alloc_fail_at(at);
    r = ddas_chunk_plan(doc, DDAS_KIND_SHV, 4096, &spans, &n);
    if(r) {
      ddas_alloc_fail_at(0);
      assert_int_equal(r, DDAS_ERR_NOMEM);
      assert_null(spans);
      assert_int_equal(n, 0);
      continue;
    }
    for(i = 0; i < n && !r; i++) {
      char *out = NULL;
      size_t olen = 0;
      r = ddas_chunk_write(doc, DDAS_KIND_SHV, &spans[i], &out, &olen);
      if(r) {
        assert_int_equal(r, DDAS_ERR_NOMEM);
        assert_null(out);
        break;
      }
      assert_int_equal(olen, ref.len[i]);
      assert_memory_equal(out, ref.body[i], olen);
      ddas_free(out);
    }
    ddas_alloc_fail_at(0);
    if(!r) {
      assert_int_equal(n, ref.n);
      done = 1;
    }
    ddas_free(spans);
  }
  assert_true(done);
  chunks_free(&ref);
  ddas_json_doc_free(doc);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(shv_delivery_at_64k_and_1m),
      cmocka_unit_test(unknown_kind_is_one_chunk),
      cmocka_unit_test(empty_leveringen_keep_their_place),
      cmocka_unit_test(oversize_record_is_its_own_chunk),
      cmocka_unit_test(vs_leveringen_stay_whole),
      cmocka_unit_test(official_examples_chunk_into_valid_documents),
      cmocka_unit_test(exact_bytes_of_a_small_document),
      cmocka_unit_test(non_ddas_documents_are_one_chunk),
      cmocka_unit_test(bad_arguments_are_refused),
      cmocka_unit_test(allocation_failures_are_survived),
  };
  return cmocka_run_group_tests(tests, tu_setup_schemas, tu_teardown_schemas);
}
