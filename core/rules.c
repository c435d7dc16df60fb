/* DDAS business rules (see ddas/rules.h and docs/spec/RULES.md).
 *
 * The checks walk the document once per levering and record. Pointers are
 * built from fixed member names (none of which needs RFC 6901 escaping) and
 * array indexes. Messages describe the problem in general terms and never
 * contain a value from the document. */
#include "ddas/rules.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ddas/alloc.h"
#include "ddas/format.h"
#include "ddas/text.h"

enum {
  R_JSON_SYNTAX,
  R_SCHEMA,
  R_PERIOD_ORDER,
  R_TELLER_UNIQUE,
  R_GEMEENTE_SINGLE,
  R_CLIENT_IDENT,
  R_CLIENT_GESLACHT,
  R_CLIENT_GEBOORTEDATUM,
  R_DATES_ORDER,
  R_DWANGAKKOORD,
  R_AMOUNT_NONNEG,
  R_TRAJECT_IN_PERIOD,
  R_CLIENT_SINGLE_TRAJECT,
  R_EINDDATUM_CONSISTENT,
  R_BESCHIKKING_PAIR,
  R_TOEKENNING_CONSISTENT,
  R_CONTACT_EMAIL,
  R_BSN_ELFPROEF,
  R_GEMEENTECODE_FORMAT,
  R_KVK_FORMAT,
  R_POSTCODE_FORMAT,
  R_DATES_NOT_FUTURE,
  R_VS_ID_UNIQUE,
  R_VS_ZAAK_REF,
  R_SCHEMA_NULL,
  R_SCHEMA_WHITESPACE,
  R_UPGRADE_DROPPED,
  R_ENVELOPE_FILLED,
  R_ENVELOPE_MISSING,
  R_COUNT
};

#define D DDAS_SCOPE_DOCUMENT
#define L DDAS_SCOPE_LEVERING
#define T DDAS_SCOPE_RECORD
#define OFF DDAS_LEVEL_OFF
#define WARN DDAS_LEVEL_WARNING
#define ERR DDAS_LEVEL_ERROR

static const ddas_rule_info table[R_COUNT] = {
    {"json.syntax", D, ERR, ERR, 1,
     "RFC 8259 JSON, UTF-8, no duplicate member names, nesting <= 64"},
    {"schema", T, ERR, ERR, 1,
     "the JSON Schema of the detected kind and version"},
    {"period.order", D, ERR, ERR, 0, "startdatumLevering <= einddatumLevering"},
    {"levering.teller.unique", D, ERR, ERR, 0,
     "teller values are unique within the document"},
    {"levering.gemeente.single", L, OFF, OFF, 1,
     "all trajecten of a levering share one gemeentecode (normalisation N6 "
     "regroups; never a finding)"},
    {"client.identification", T, ERR, ERR, 0,
     "every client has a BSN, or else all of Geboortedatum, "
     "Geslachtsaanduiding, Postcode, Huisnummer"},
    {"client.geslacht", T, ERR, ERR, 0,
     "Geslachtsaanduiding is one of Man, Vrouw, Onbekend, Leeg"},
    {"client.geboortedatum", T, ERR, ERR, 0,
     "Geboortedatum is a real calendar date YYYY-MM-DD"},
    {"dates.order", T, ERR, ERR, 0,
     "startdatum <= einddatum in every object that has both"},
    {"schuldregeling.dwangakkoord", T, ERR, ERR, 0,
     "dwangakkoord true only when schuldregeling.toegekend has a value"},
    {"amount.nonnegative", T, ERR, ERR, 0,
     "totaalSchuldbedragBijAanvangSchuld, schulden[].bedrag, oplossing.vtlb "
     ">= 0"},
    {"traject.in.period", T, WARN, ERR, 0,
     "the trajectory overlaps the reporting period"},
    {"client.single.traject", T, WARN, WARN, 0,
     "two trajecten with a common client (same BSN) do not overlap in time"},
    {"einddatum.consistent", T, WARN, WARN, 0,
     "traject einddatum, uitstroom.datum and "
     "uitstroom.datumBeeindigingsbeschikking are equal where present"},
    {"intake.beschikking.pair", T, WARN, WARN, 0,
     "beschikkingssoort and beschikkingsdatum are both present or both "
     "absent"},
    {"toekenningsdatum.consistent", T, WARN, WARN, 0,
     "toekenningsdatum equals schuldregeling.toegekend where both present"},
    {"organisatie.contact.email", L, WARN, ERR, 0,
     "at least one contactpersoon with a syntactically valid email"},
    {"client.bsn.elfproef", T, OFF, ERR, 0,
     "BSN is 9 digits and passes the eleven-test"},
    {"gemeentecode.format", T, OFF, ERR, 0,
     "GM + 4 digits, or 4 digits, or Onbekend"},
    {"kvk.format", L, OFF, ERR, 0, "a present KvK number is 8 digits"},
    {"postcode.format", T, OFF, WARN, 0,
     "Dutch postcode: 4 digits (first not 0) + 2 capital letters, after N2"},
    {"dates.not.future", T, OFF, ERR, 0, "no date after aanleverdatumEnTijd"},
    {"vs.signaal.id.unique", L, ERR, ERR, 0,
     "(VS) vroegsignalen[].ID unique within a levering"},
    {"vs.zaak.ref", L, ERR, ERR, 0,
     "(VS) every vroegsignaalzaken[].vroegsignalen[].ID refers to a signal "
     "of the same levering"},
    /* Deviations the normalisations and the upgrade repair or cannot carry:
     * reported so that a vendor sees what the official schema would say
     * (N1, N2 run before the schema) and what does not reach CBS. Their
     * scope, like "schema", is the deepest enclosing traject, levering or
     * document of the pointer. */
    {"schema.null", T, WARN, ERR, 0,
     "a member is null, which the official schema does not allow; N1 "
     "treats it as absent"},
    {"schema.whitespace", T, WARN, ERR, 0,
     "a string has leading or trailing white space, which the official "
     "schema sees untrimmed; N2 trims it"},
    {"upgrade.dropped", T, WARN, WARN, 0,
     "a value of an older version that SHV v1.0 has no place for is left "
     "out of the upgraded delivery"},
    {"envelope.filled", D, WARN, WARN, 0,
     "an envelope member the delivery lacks (SHV v0.9) is filled from its "
     "context: the time it was submitted, or configuration"},
    {"envelope.missing", D, ERR, ERR, 0,
     "an envelope member SHV v1.0 requires is absent and its context has "
     "no value for it"}};

#undef D
#undef L
#undef T

const ddas_rule_info *ddas_rule_table(size_t *count) {
  *count = R_COUNT;
  return table;
}

int ddas_rule_index(const char *id) {
  int i;
  for(i = 0; i < R_COUNT; i++)
    if(strcmp(table[i].id, id) == 0)
      return i;
  return -1;
}

const char *ddas_rule_suggest(const char *id) {
  size_t best = 99, d;
  const char *s = NULL;
  int i;
  for(i = 0; i < R_COUNT; i++) {
    d = ddas_edit_distance(id, table[i].id);
    if(strstr(table[i].id, id) && strlen(id) >= 3)
      d = 1;
    if(d < best) {
      best = d;
      s = table[i].id;
    }
  }
  return best <= 4 ? s : NULL;
}

int ddas_profile_parse(const char *s, ddas_profile *out) {
  if(strcmp(s, "spec") == 0)
    *out = DDAS_PROFILE_SPEC;
  else if(strcmp(s, "strict") == 0)
    *out = DDAS_PROFILE_STRICT;
  else
    return -1;
  return 0;
}

const char *ddas_profile_name(ddas_profile p) {
  return p == DDAS_PROFILE_STRICT ? "strict" : "spec";
}

int ddas_level_parse(const char *s, ddas_level *out) {
  if(strcmp(s, "error") == 0)
    *out = ERR;
  else if(strcmp(s, "warning") == 0)
    *out = WARN;
  else if(strcmp(s, "off") == 0)
    *out = OFF;
  else
    return -1;
  return 0;
}

const char *ddas_level_name(ddas_level l) {
  return l == ERR ? "error" : l == WARN ? "warning" : "off";
}

void ddas_ruleset_init(ddas_ruleset *rs, ddas_profile profile) {
  int i;
  memset(rs, 0, sizeof(*rs));
  rs->profile = profile;
  for(i = 0; i < R_COUNT; i++)
    rs->level[i] =
        profile == DDAS_PROFILE_STRICT ? table[i].strict : table[i].spec;
}

int ddas_ruleset_override(ddas_ruleset *rs, const char *assignment, char *err,
                          size_t errlen) {
  const char *eq = strchr(assignment, '=');
  char id[64];
  ddas_level lv;
  int idx;
  if(!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(id)) {
    snprintf(err, errlen, "expected RULE=SEVERITY, such as kvk.format=warning");
    return -1;
  }
  memcpy(id, assignment, (size_t)(eq - assignment));
  id[eq - assignment] = '\0';
  idx = ddas_rule_index(id);
  if(idx < 0) {
    const char *s = ddas_rule_suggest(id);
    snprintf(err, errlen, "unknown rule '%.63s'%s%s%s", id,
             s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    return -1;
  }
  if(ddas_level_parse(eq + 1, &lv)) {
    snprintf(err, errlen,
             "unknown severity '%.20s' for rule '%s': use error, warning or "
             "off",
             eq + 1, id);
    return -1;
  }
  if(table[idx].fixed) {
    snprintf(err, errlen,
             "the severity of rule '%s' cannot be changed (batches must be "
             "well-formed and valid)",
             id);
    return -1;
  }
  rs->level[idx] = lv;
  return 0;
}

ddas_level ddas_ruleset_level(const ddas_ruleset *rs, const char *id) {
  int i = ddas_rule_index(id);
  return i < 0 ? OFF : rs->level[i];
}

ddas_result ddas_rule_add(const ddas_ruleset *rs, ddas_findings *out,
                          const char *id, const char *pointer, const char *fmt,
                          ...) {
  int i = ddas_rule_index(id);
  ddas_level lv;
  char msg[480];
  va_list ap;
  if(i < 0)
    return DDAS_ERR_ARG;
  lv = rs ? rs->level[i] : table[i].spec;
  if(lv == OFF)
    return DDAS_OK;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* a traject-scope rule counts in the deepest scope of its pointer, as
   * "schema" does; the others in their own */
  if(table[i].scope == DDAS_SCOPE_RECORD)
    return ddas_findings_add(out, lv == ERR ? DDAS_SEV_ERROR : DDAS_SEV_WARNING,
                             table[i].id, NULL, pointer, NULL, "%s", msg);
  return ddas_findings_add_scoped(
      out, lv == ERR ? DDAS_SEV_ERROR : DDAS_SEV_WARNING, table[i].scope,
      table[i].id, pointer, "%s", msg);
}

int ddas_bsn_valid(const char *s, size_t n) {
  long sum = 0;
  size_t i;
  if(n != 9)
    return 0;
  for(i = 0; i < 9; i++) {
    if(s[i] < '0' || s[i] > '9')
      return 0;
    sum += (long)(s[i] - '0') * (i == 8 ? -1 : (long)(9 - i));
  }
  return sum != 0 && sum % 11 == 0;
}

/* ---- helpers ---------------------------------------------------------- */

typedef struct {
  const ddas_ruleset *rs;
  ddas_findings *out;
  ddas_kind kind;
  int nomem;
  int have_period;
  long period_start, period_end;
  int have_delivered;
  long delivered; /* date part of aanleverdatumEnTijd */
  /* BSN index for client.single.traject */
  struct bsn_entry {
    const char *bsn; /* 9 bytes, borrowed from the tree */
    long start, end; /* end = LONG_MAX when open */
    size_t next;     /* chain; (size_t)-1 = end */
  } * entries;
  size_t nentries, capentries;
  size_t *buckets;
  size_t nbuckets;
} rctx;

#define NONE ((size_t)-1)

static void add(rctx *c, int rule, const char *ptr, const char *msg) {
  ddas_level lv = c->rs->level[rule];
  if(lv == OFF)
    return;
  if(ddas_findings_add_scoped(
         c->out, lv == ERR ? DDAS_SEV_ERROR : DDAS_SEV_WARNING,
         table[rule].scope, table[rule].id, ptr, "%s", msg))
    c->nomem = 1;
}

static int on(const rctx *c, int rule) { return c->rs->level[rule] != OFF; }

static const ddas_json *get(const ddas_json *o, const char *k) {
  return ddas_json_get(o, k);
}

/* A present, non-empty string member (N1 removed nulls, N2 trimmed). */
static const ddas_json *str(const ddas_json *o, const char *k) {
  const ddas_json *v = get(o, k);
  return v && v->type == DDAS_JSON_STRING && v->n > 0 ? v : NULL;
}

static int date_of(const ddas_json *v, long *day) {
  return v && v->type == DDAS_JSON_STRING &&
         ddas_date_parse(v->u.str, v->n, day) == 0;
}

static int date_member(const ddas_json *o, const char *k, long *day) {
  return date_of(get(o, k), day);
}

static int str_eq(const ddas_json *a, const ddas_json *b) {
  return a->n == b->n && memcmp(a->u.str, b->u.str, a->n) == 0;
}

/* buf = base + suffix, truncated to cap (pointers here are far shorter). */
static void join(char *buf, size_t cap, const char *base, const char *suffix) {
  size_t a = strlen(base), b = strlen(suffix);
  if(a >= cap)
    a = cap - 1;
  memmove(buf, base, a);
  if(b > cap - 1 - a)
    b = cap - 1 - a;
  memcpy(buf + a, suffix, b);
  buf[a + b] = '\0';
}

/* base + "/" + seg + "/" + idx into buf (seg NULL: base + "/" + idx), cut
 * to cap like join(). The pointers of every record are built on the hot
 * path, where snprintf cost several per cent of the whole check. */
static void join_idx(char *buf, size_t cap, const char *base, const char *seg,
                     size_t idx) {
  char tail[320], digits[24];
  size_t t = 0, n = 0, sl = seg ? strlen(seg) : 0;
  do {
    digits[n++] = (char)('0' + idx % 10);
    idx /= 10;
  } while(idx);
  if(sl > sizeof(tail) - 2 - sizeof(digits))
    sl = sizeof(tail) - 2 - sizeof(digits);
  if(seg) {
    tail[t++] = '/';
    memcpy(tail + t, seg, sl);
    t += sl;
  }
  tail[t++] = '/';
  while(n)
    tail[t++] = digits[--n];
  tail[t] = '\0';
  join(buf, cap, base, tail);
}

/* ---- document and levering rules ------------------------------------- */

static void check_period(rctx *c, const ddas_json *root) {
  long s, e;
  const ddas_json *t = str(root, "aanleverdatumEnTijd");
  if(date_member(root, "startdatumLevering", &s) &&
     date_member(root, "einddatumLevering", &e)) {
    c->have_period = 1;
    c->period_start = s;
    c->period_end = e;
    if(s > e)
      add(c, R_PERIOD_ORDER, "/einddatumLevering",
          "the reporting period ends before it starts "
          "(startdatumLevering is after einddatumLevering)");
  }
  if(t && t->n >= 10 && ddas_date_parse(t->u.str, 10, &c->delivered) == 0 &&
     ddas_format_date_time(t->u.str, t->n))
    c->have_delivered = 1;
}

static void check_tellers(rctx *c, const ddas_json *levs) {
  size_t i, j;
  char ptr[64];
  if(!on(c, R_TELLER_UNIQUE))
    return;
  for(i = 1; i < levs->n; i++) {
    const ddas_json *ti = get(&levs->u.items[i], "teller");
    if(!ti || ti->type != DDAS_JSON_NUMBER)
      continue;
    for(j = 0; j < i; j++) {
      const ddas_json *tj = get(&levs->u.items[j], "teller");
      if(tj && tj->type == DDAS_JSON_NUMBER && tj->u.num == ti->u.num) {
        join_idx(ptr, sizeof(ptr), "", "leveringen", i);
        join(ptr, sizeof(ptr), ptr, "/teller");
        add(c, R_TELLER_UNIQUE, ptr,
            "this teller repeats the teller of an earlier levering; tellers "
            "must be unique within the document");
        break;
      }
    }
  }
}

static int digits_only(const ddas_json *v, size_t n) {
  size_t i;
  if(v->n != n)
    return 0;
  for(i = 0; i < n; i++)
    if(v->u.str[i] < '0' || v->u.str[i] > '9')
      return 0;
  return 1;
}

static void check_organisation(rctx *c, const ddas_json *lev, const char *lp) {
  const ddas_json *org = get(lev, "aanleverende_organisatie");
  const int vs = c->kind == DDAS_KIND_VS;
  char ptr[768];
  if(!org || org->type != DDAS_JSON_OBJECT)
    return;
  if(on(c, R_CONTACT_EMAIL)) {
    const ddas_json *cps =
        get(org, vs ? "contactpersoonen" : "contactpersonen");
    size_t i;
    int ok = 0;
    for(i = 0; cps && cps->type == DDAS_JSON_ARRAY && i < cps->n && !ok; i++) {
      const ddas_json *e = str(&cps->u.items[i], "email");
      ok = e && ddas_format_email(e->u.str, e->n);
    }
    if(!ok) {
      join(ptr, sizeof(ptr), lp, "/aanleverende_organisatie");
      add(c, R_CONTACT_EMAIL, ptr,
          "no contactpersoon has a valid email address; CBS sends its "
          "quality report there");
    }
  }
  if(on(c, R_KVK_FORMAT)) {
    const char *k = vs ? "kvk-nummer" : "KvK-nummer";
    const ddas_json *kvk = str(org, k);
    if(kvk && !digits_only(kvk, 8)) {
      snprintf(ptr, sizeof(ptr), "%s/aanleverende_organisatie/%s", lp, k);
      add(c, R_KVK_FORMAT, ptr, "the KvK number is not 8 digits");
    }
  }
}

static int gemeentecode_ok(const ddas_json *g) {
  if(g->n == 8 && memcmp(g->u.str, "Onbekend", 8) == 0)
    return 1;
  if(g->n == 6 && g->u.str[0] == 'G' && g->u.str[1] == 'M') {
    ddas_json t = *g;
    t.u.str += 2;
    t.n -= 2;
    return digits_only(&t, 4);
  }
  return digits_only(g, 4);
}

/* ---- record rules ----------------------------------------------------- */

static int postcode_ok(const ddas_json *p) {
  const char *s = p->u.str;
  return p->n == 6 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' &&
         s[1] <= '9' && s[2] >= '0' && s[2] <= '9' && s[3] >= '0' &&
         s[3] <= '9' && s[4] >= 'A' && s[4] <= 'Z' && s[5] >= 'A' &&
         s[5] <= 'Z';
}

/* Client checks shared by SHV clients and the VS signal's client. */
static void check_client(rctx *c, const ddas_json *cl, const char *cp,
                         int shv) {
  char ptr[768];
  const ddas_json *bsn = str(cl, "Burgerservicenummer");
  const ddas_json *gd = str(cl, "Geboortedatum");
  const ddas_json *pc = str(cl, "Postcode");
  if(shv && on(c, R_CLIENT_IDENT) && !bsn &&
     !(gd && str(cl, "Geslachtsaanduiding") && pc && str(cl, "Huisnummer")))
    add(c, R_CLIENT_IDENT, cp,
        "the client has no BSN and not all of Geboortedatum, "
        "Geslachtsaanduiding, Postcode and Huisnummer");
  if(shv && on(c, R_CLIENT_GESLACHT)) {
    const ddas_json *g = str(cl, "Geslachtsaanduiding");
    static const char *const ok[] = {"Man", "Vrouw", "Onbekend", "Leeg"};
    size_t i;
    int found = 0;
    for(i = 0; g && i < 4 && !found; i++)
      found = g->n == strlen(ok[i]) && memcmp(g->u.str, ok[i], g->n) == 0;
    if(g && !found) {
      join(ptr, sizeof(ptr), cp, "/Geslachtsaanduiding");
      add(c, R_CLIENT_GESLACHT, ptr,
          "Geslachtsaanduiding is not one of \"Man\", \"Vrouw\", "
          "\"Onbekend\", \"Leeg\"");
    }
  }
  if(gd && on(c, R_CLIENT_GEBOORTEDATUM) &&
     !ddas_format_date(gd->u.str, gd->n)) {
    join(ptr, sizeof(ptr), cp, "/Geboortedatum");
    add(c, R_CLIENT_GEBOORTEDATUM, ptr,
        "Geboortedatum is not a valid date (YYYY-MM-DD, a real calendar "
        "date)");
  }
  if(bsn && on(c, R_BSN_ELFPROEF) && !ddas_bsn_valid(bsn->u.str, bsn->n)) {
    join(ptr, sizeof(ptr), cp, "/Burgerservicenummer");
    add(c, R_BSN_ELFPROEF, ptr,
        "the BSN is not 9 digits or fails the eleven-test");
  }
  if(pc && on(c, R_POSTCODE_FORMAT) && !postcode_ok(pc)) {
    join(ptr, sizeof(ptr), cp, "/Postcode");
    add(c, R_POSTCODE_FORMAT, ptr,
        "the postcode is not a Dutch postcode (4 digits, the first not 0, "
        "and 2 capital letters)");
  }
}

static void check_order(rctx *c, const ddas_json *o, const char *op) {
  long s, e;
  char ptr[768];
  if(o && o->type == DDAS_JSON_OBJECT && date_member(o, "startdatum", &s) &&
     date_member(o, "einddatum", &e) && s > e) {
    join(ptr, sizeof(ptr), op, "/einddatum");
    add(c, R_DATES_ORDER, ptr, "einddatum is before startdatum");
  }
}

static void check_negative(rctx *c, const ddas_json *v, const char *ptr) {
  if(v && v->type == DDAS_JSON_NUMBER && v->u.num < 0)
    add(c, R_AMOUNT_NONNEG, ptr, "the amount is negative");
}

/* dates.not.future: every string in the subtree that is a date. The path
 * is kept as segments and turned into a pointer only for a finding: most
 * records have none, and this walk visits every value. */
typedef struct {
  const char *key; /* NULL: an array index */
  size_t len_or_index;
} fseg;

static void future_report(rctx *c, const char *base, const fseg *path,
                          size_t depth) {
  char ptr[768];
  size_t i;
  snprintf(ptr, sizeof(ptr), "%s", base);
  for(i = 0; i < depth; i++) {
    if(path[i].key)
      ddas_json_pointer_push_key(ptr, sizeof(ptr), path[i].key,
                                 path[i].len_or_index);
    else
      ddas_json_pointer_push_index(ptr, sizeof(ptr), path[i].len_or_index);
  }
  add(c, R_DATES_NOT_FUTURE, ptr,
      "the date is after aanleverdatumEnTijd (a date in the future)");
}

static void check_future(rctx *c, const ddas_json *v, const char *base,
                         fseg *path, size_t depth) {
  size_t i;
  long d;
  switch(v->type) {
  case DDAS_JSON_STRING:
    /* cheap pre-check: a date is exactly 10 bytes with '-' at 4 and 7 */
    if(v->n == 10 && v->u.str[4] == '-' && v->u.str[7] == '-' &&
       date_of(v, &d) && d > c->delivered)
      future_report(c, base, path, depth);
    break;
  case DDAS_JSON_OBJECT:
    if(depth >= 64)
      break;
    for(i = 0; i < v->n; i++) {
      const ddas_json_member *m = &v->u.members[i];
      if(m->value.type != DDAS_JSON_STRING &&
         m->value.type != DDAS_JSON_OBJECT && m->value.type != DDAS_JSON_ARRAY)
        continue;
      path[depth].key = m->key;
      path[depth].len_or_index = m->key_len;
      check_future(c, &m->value, base, path, depth + 1);
    }
    break;
  case DDAS_JSON_ARRAY:
    if(depth >= 64)
      break;
    for(i = 0; i < v->n; i++) {
      path[depth].key = NULL;
      path[depth].len_or_index = i;
      check_future(c, &v->u.items[i], base, path, depth + 1);
    }
    break;
  default: break;
  }
}

static size_t bsn_hash(const char *s) {
  size_t h = 5381, i;
  for(i = 0; i < 9; i++)
    h = h * 33 + (unsigned char)s[i];
  return h;
}

/* client.single.traject: remembers (BSN, period) of each traject and flags a
 * later traject that overlaps an earlier one with the same BSN. */
static void check_single(rctx *c, const ddas_json *tr, const char *tp) {
  const ddas_json *clients = get(tr, "client");
  long s, e = 0;
  int open;
  size_t k;
  char ptr[768];
  if(!clients || clients->type != DDAS_JSON_ARRAY ||
     !date_member(tr, "startdatum", &s))
    return;
  open = !date_member(tr, "einddatum", &e);
  if(!c->buckets) {
    c->nbuckets = 4096;
    c->buckets = ddas_malloc(c->nbuckets * sizeof(size_t));
    if(!c->buckets) {
      c->nomem = 1;
      return;
    }
    memset(c->buckets, 0xff, c->nbuckets * sizeof(size_t));
  }
  for(k = 0; k < clients->n; k++) {
    const ddas_json *b = str(&clients->u.items[k], "Burgerservicenummer");
    size_t h, i;
    int overlap = 0;
    if(!b || b->n != 9)
      continue;
    h = bsn_hash(b->u.str) & (c->nbuckets - 1);
    for(i = c->buckets[h]; i != NONE && !overlap; i = c->entries[i].next) {
      const struct bsn_entry *x = &c->entries[i];
      if(memcmp(x->bsn, b->u.str, 9) != 0)
        continue;
      /* [s, e] and [x->start, x->end] overlap, open ends are infinite */
      overlap = (open || x->start <= e) && s <= x->end;
    }
    if(overlap) {
      join_idx(ptr, sizeof(ptr), tp, "client", k);
      join(ptr, sizeof(ptr), ptr, "/Burgerservicenummer");
      add(c, R_CLIENT_SINGLE_TRAJECT, ptr,
          "a client of this traject also has an earlier traject in this "
          "delivery that overlaps it in time");
    }
    if(c->nentries == c->capentries) {
      size_t cap = c->capentries ? c->capentries * 2 : 1024;
      struct bsn_entry *n = ddas_realloc(c->entries, cap * sizeof(*n));
      if(!n) {
        c->nomem = 1;
        return;
      }
      c->entries = n;
      c->capentries = cap;
    }
    c->entries[c->nentries].bsn = b->u.str;
    c->entries[c->nentries].start = s;
    c->entries[c->nentries].end = open ? LONG_MAX : e;
    c->entries[c->nentries].next = c->buckets[h];
    c->buckets[h] = c->nentries++;
  }
}

static void check_traject(rctx *c, const ddas_json *tr, const char *tp) {
  static const char *const phases[] = {
      "aanmelding",         "intake", "stabilisatie", "oplossing", "nazorg",
      "informatieEnAdvies", NULL};
  static const char *const lists[] = {"begeleiding", "crisisinterventies",
                                      "moratoria", "voorlopigeVoorzieningen",
                                      NULL};
  const ddas_json *clients = get(tr, "client");
  const ddas_json *sr = get(tr, "schuldregeling");
  const ddas_json *intake = get(tr, "intake");
  const ddas_json *uit = get(tr, "uitstroom");
  char ptr[768];
  size_t i, k;
  long s, e;

  if(tr->type != DDAS_JSON_OBJECT)
    return;
  for(k = 0; clients && clients->type == DDAS_JSON_ARRAY && k < clients->n;
      k++) {
    if(clients->u.items[k].type != DDAS_JSON_OBJECT)
      continue;
    join_idx(ptr, sizeof(ptr), tp, "client", k);
    check_client(c, &clients->u.items[k], ptr, 1);
  }
  if(on(c, R_DATES_ORDER)) {
    check_order(c, tr, tp);
    for(i = 0; phases[i]; i++) {
      join(ptr, sizeof(ptr), tp, "/");
      join(ptr, sizeof(ptr), ptr, phases[i]);
      check_order(c, get(tr, phases[i]), ptr);
    }
    for(i = 0; lists[i]; i++) {
      const ddas_json *l = get(tr, lists[i]);
      for(k = 0; l && l->type == DDAS_JSON_ARRAY && k < l->n; k++) {
        join_idx(ptr, sizeof(ptr), tp, lists[i], k);
        check_order(c, &l->u.items[k], ptr);
      }
    }
  }
  if(on(c, R_DWANGAKKOORD) && sr) {
    const ddas_json *d = get(sr, "dwangakkoord");
    if(d && d->type == DDAS_JSON_TRUE && !str(sr, "toegekend")) {
      join(ptr, sizeof(ptr), tp, "/schuldregeling/dwangakkoord");
      add(c, R_DWANGAKKOORD, ptr,
          "dwangakkoord is true but the schuldregeling has no toegekend "
          "date");
    }
  }
  if(on(c, R_AMOUNT_NONNEG)) {
    const ddas_json *sch = get(tr, "schulden");
    join(ptr, sizeof(ptr), tp, "/totaalSchuldbedragBijAanvangSchuld");
    check_negative(c, get(tr, "totaalSchuldbedragBijAanvangSchuld"), ptr);
    for(k = 0; sch && sch->type == DDAS_JSON_ARRAY && k < sch->n; k++) {
      join_idx(ptr, sizeof(ptr), tp, "schulden", k);
      join(ptr, sizeof(ptr), ptr, "/bedrag");
      check_negative(c, get(&sch->u.items[k], "bedrag"), ptr);
    }
    join(ptr, sizeof(ptr), tp, "/oplossing/vtlb");
    check_negative(c, get(get(tr, "oplossing"), "vtlb"), ptr);
  }
  if(on(c, R_TRAJECT_IN_PERIOD) && c->have_period &&
     date_member(tr, "startdatum", &s)) {
    int open = !date_member(tr, "einddatum", &e);
    if(s > c->period_end || (!open && e < c->period_start))
      add(c, R_TRAJECT_IN_PERIOD, tp,
          "the traject does not overlap the reporting period; only running "
          "trajecten belong in a delivery");
  }
  if(on(c, R_CLIENT_SINGLE_TRAJECT))
    check_single(c, tr, tp);
  if(on(c, R_EINDDATUM_CONSISTENT)) {
    const ddas_json *v[3];
    static const char *const where[3] = {
        "/einddatum", "/uitstroom/datum",
        "/uitstroom/datumBeeindigingsbeschikking"};
    const ddas_json *ref = NULL;
    v[0] = str(tr, "einddatum");
    v[1] = str(uit, "datum");
    v[2] = str(uit, "datumBeeindigingsbeschikking");
    for(i = 0; i < 3; i++) {
      if(!v[i])
        continue;
      if(!ref) {
        ref = v[i];
      } else if(!str_eq(ref, v[i])) {
        join(ptr, sizeof(ptr), tp, where[i]);
        add(c, R_EINDDATUM_CONSISTENT, ptr,
            "this end date differs from the traject's other end dates "
            "(einddatum, uitstroom.datum, "
            "uitstroom.datumBeeindigingsbeschikking)");
      }
    }
  }
  if(on(c, R_BESCHIKKING_PAIR) && intake && intake->type == DDAS_JSON_OBJECT &&
     (!get(intake, "beschikkingssoort") != !get(intake, "beschikkingsdatum"))) {
    join(ptr, sizeof(ptr), tp, "/intake");
    add(c, R_BESCHIKKING_PAIR, ptr,
        "beschikkingssoort and beschikkingsdatum must be given together");
  }
  if(on(c, R_TOEKENNING_CONSISTENT)) {
    const ddas_json *a = str(tr, "toekenningsdatum"), *b = str(sr, "toegekend");
    if(a && b && !str_eq(a, b)) {
      join(ptr, sizeof(ptr), tp, "/toekenningsdatum");
      add(c, R_TOEKENNING_CONSISTENT, ptr,
          "toekenningsdatum differs from schuldregeling.toegekend");
    }
  }
  if(on(c, R_GEMEENTECODE_FORMAT)) {
    const ddas_json *g = get(tr, "gemeentecode");
    if(g && g->type == DDAS_JSON_STRING && !gemeentecode_ok(g)) {
      join(ptr, sizeof(ptr), tp, "/gemeentecode");
      add(c, R_GEMEENTECODE_FORMAT, ptr,
          "gemeentecode is not GM plus 4 digits, 4 digits, or \"Onbekend\"");
    }
  }
  if(on(c, R_DATES_NOT_FUTURE) && c->have_delivered) {
    fseg path[64];
    check_future(c, tr, tp, path, 0);
  }
}

static void check_vs_levering(rctx *c, const ddas_json *lev, const char *lp) {
  const ddas_json *sig = get(lev, "vroegsignalen");
  const ddas_json *zaken = get(lev, "vroegsignaalzaken");
  const ddas_json *g = get(lev, "gemeentecode");
  char ptr[768];
  size_t i, j, k;
  size_t nsig = sig && sig->type == DDAS_JSON_ARRAY ? sig->n : 0;
  if(g && g->type == DDAS_JSON_STRING && on(c, R_GEMEENTECODE_FORMAT) &&
     !gemeentecode_ok(g)) {
    join(ptr, sizeof(ptr), lp, "/gemeentecode");
    add(c, R_GEMEENTECODE_FORMAT, ptr,
        "gemeentecode is not GM plus 4 digits, 4 digits, or \"Onbekend\"");
  }
  for(i = 0; i < nsig; i++) {
    const ddas_json *s = &sig->u.items[i], *id = str(s, "ID");
    const ddas_json *cl = get(s, "client");
    char sp[128];
    snprintf(sp, sizeof(sp), "%s/vroegsignalen/%zu", lp, i);
    if(cl && cl->type == DDAS_JSON_OBJECT) {
      snprintf(ptr, sizeof(ptr), "%s/client", sp);
      check_client(c, cl, ptr, 0);
    }
    if(on(c, R_DATES_NOT_FUTURE) && c->have_delivered) {
      fseg path[64];
      check_future(c, s, sp, path, 0);
    }
    if(!id || !on(c, R_VS_ID_UNIQUE))
      continue;
    /* quadratic in the signals of one levering; a hash would be better for
     * very large leveringen */
    for(j = 0; j < i; j++) {
      const ddas_json *o = str(&sig->u.items[j], "ID");
      if(o && str_eq(o, id)) {
        snprintf(ptr, sizeof(ptr), "%s/ID", sp);
        add(c, R_VS_ID_UNIQUE, ptr,
            "this ID repeats the ID of an earlier vroegsignaal in the "
            "levering");
        break;
      }
    }
  }
  if(!on(c, R_VS_ZAAK_REF) || !zaken || zaken->type != DDAS_JSON_ARRAY)
    return;
  for(i = 0; i < zaken->n; i++) {
    const ddas_json *refs = get(&zaken->u.items[i], "vroegsignalen");
    for(k = 0; refs && refs->type == DDAS_JSON_ARRAY && k < refs->n; k++) {
      const ddas_json *id = str(&refs->u.items[k], "ID");
      int found = 0;
      if(!id)
        continue;
      for(j = 0; j < nsig && !found; j++) {
        const ddas_json *o = str(&sig->u.items[j], "ID");
        found = o && str_eq(o, id);
      }
      if(!found) {
        snprintf(ptr, sizeof(ptr),
                 "%s/vroegsignaalzaken/%zu/vroegsignalen/%zu/ID", lp, i, k);
        add(c, R_VS_ZAAK_REF, ptr,
            "this ID refers to no vroegsignaal of the same levering");
      }
    }
  }
}

ddas_result ddas_rules_check(const ddas_ruleset *rs, const ddas_json *root,
                             ddas_kind kind, ddas_findings *out) {
  rctx c;
  const ddas_json *levs;
  size_t i, j;
  char lp[64], tp[128];
  if(!root || root->type != DDAS_JSON_OBJECT)
    return DDAS_OK;
  memset(&c, 0, sizeof(c));
  c.rs = rs;
  c.out = out;
  c.kind = kind;
  check_period(&c, root);
  levs = get(root, "leveringen");
  if(levs && levs->type == DDAS_JSON_ARRAY) {
    check_tellers(&c, levs);
    for(i = 0; i < levs->n && !c.nomem; i++) {
      const ddas_json *lev = &levs->u.items[i], *trs;
      if(lev->type != DDAS_JSON_OBJECT)
        continue;
      join_idx(lp, sizeof(lp), "", "leveringen", i);
      check_organisation(&c, lev, lp);
      if(kind == DDAS_KIND_VS) {
        check_vs_levering(&c, lev, lp);
        continue;
      }
      trs = get(lev, "schuldhulptrajecten");
      for(j = 0; trs && trs->type == DDAS_JSON_ARRAY && j < trs->n; j++) {
        join_idx(tp, sizeof(tp), lp, "schuldhulptrajecten", j);
        check_traject(&c, &trs->u.items[j], tp);
      }
    }
  }
  ddas_free(c.entries);
  ddas_free(c.buckets);
  return c.nomem ? DDAS_ERR_NOMEM : DDAS_OK;
}
