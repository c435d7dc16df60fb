/* Kafka events (ddas/events.h, docs/events.md): CloudEvents headers, the
 * exact JSON bodies, deterministic ce_id, parked batches round-tripping
 * through ddas_parked_parse, argument checks, UTF-8 hygiene, the absence of
 * anything undocumented in rejection bodies, and survival of every
 * allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ddas/alloc.h"
#include "ddas/events.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixtures ----------------------------------------------------------- */

static const ddas_source SOURCES[] = {{"ddas.deliveries", 3, 1041},
                                      {"ddas.deliveries", 3, 1042}};

/* ddas_finding has owned (non-const) strings; these arrays stand in. */
static char P_LEV[] = "/leveringen/1";
static char P_DATE[] = "/leveringen/1/schuldhulptrajecten/0/startdatum";
static char P_CODE[] = "/leveringen/1/gemeentecode";
static char SP_DATE[] = "/$defs/traject/properties/startdatum/format";
static char M_DATE[] = "is not a valid date (RFC 3339 full-date)";
static char M_CODE[] = "gemeentecode is not in the CBS list of municipalities";

static ddas_finding FINDINGS[2];

static void init_findings(void) {
  memset(FINDINGS, 0, sizeof(FINDINGS));
  FINDINGS[0].severity = DDAS_SEV_ERROR;
  FINDINGS[0].scope = DDAS_SCOPE_LEVERING;
  FINDINGS[0].rule = "schema";
  FINDINGS[0].keyword = "format";
  FINDINGS[0].pointer = P_DATE;
  FINDINGS[0].schema_pointer = SP_DATE;
  FINDINGS[0].message = M_DATE;
  FINDINGS[1].severity = DDAS_SEV_WARNING;
  FINDINGS[1].scope = DDAS_SCOPE_LEVERING;
  FINDINGS[1].rule = "levering.gemeentecode";
  FINDINGS[1].pointer = P_CODE;
  FINDINGS[1].message = M_CODE;
}

static ddas_event_base base(void) {
  ddas_event_base b;
  b.delivery_id = "del-2026-0042";
  b.key = "org-0363";
  b.ce_source = "urn:ddas-worker:ddas-worker";
  b.time = "2026-11-29T10:00:00Z";
  return b;
}

static ddas_rejection_in rejection_in(void) {
  ddas_rejection_in in;
  memset(&in, 0, sizeof(in));
  init_findings();
  in.base = base();
  in.sources = SOURCES;
  in.nsources = 2;
  in.kind = DDAS_KIND_SHV;
  in.schema_version = "1.0";
  in.scope = DDAS_SCOPE_LEVERING;
  in.pointer = P_LEV;
  in.levering_teller = 7;
  in.findings = FINDINGS;
  in.nfindings = 2;
  return in;
}

static const ddas_rule_count REJ_RULES[] = {
    {"schema", 3}, {"levering.gemeentecode", 1}, {"schema", 2}};
static const ddas_rule_count WARN_RULES[] = {{"traject.einddatum", 4}};
static const char *const BATCH_IDS[] = {"b-7f3a9c-0", "b-7f3a9c-1"};

static ddas_processed_in processed_in(void) {
  ddas_processed_in in;
  size_t i;
  memset(&in, 0, sizeof(in));
  in.base = base();
  in.sources = SOURCES;
  in.nsources = 2;
  in.kind = DDAS_KIND_SHV;
  in.schema_version = "1.0";
  in.status = "processed";
  in.records = 120;
  in.accepted = 114;
  in.rejected = 6;
  in.warned = 4;
  for(i = 0; i < 6; i++)
    in.normalised[i] = i == 1 ? 9 : 0;
  in.rejected_by_rule = REJ_RULES;
  in.nrejected_by_rule = N(REJ_RULES);
  in.warnings_by_rule = WARN_RULES;
  in.nwarnings_by_rule = N(WARN_RULES);
  in.batch_ids = BATCH_IDS;
  in.nbatch_ids = N(BATCH_IDS);
  return in;
}

/* SHA-256("abc") in the documented digest form (FIPS 180-2 test vector). */
#define ABC_DIGEST "SHA-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

static ddas_forwarded_in forwarded_in(void) {
  ddas_forwarded_in in;
  memset(&in, 0, sizeof(in));
  in.base = base();
  in.batch_id = "b-7f3a9c-0";
  in.batch_index = 0;
  in.records = 114;
  in.bytes = 3;
  in.digest = ABC_DIGEST;
  in.http_status = 201;
  in.attempts = 2;
  in.replayed = 0;
  in.sources = SOURCES;
  in.nsources = 2;
  return in;
}

/* A body with a NUL, bytes that are not UTF-8, and a CR LF. */
static const unsigned char PARKED_BODY[] = {'{',  '"',  'a',  '"',  ':', 0x00,
                                            0xFF, 0xFE, '\r', '\n', '}'};
static const ddas_attempt ATTEMPTS[] = {
    {"2026-11-29T10:00:01Z", 0, "connect timeout"},
    {"2026-11-29T10:00:05Z", 503, NULL}};
static char parked_digest[64];

/* The digest computed independently of the code under test's helpers. */
static void digest_of(const void *b, size_t n, char *out) {
  unsigned char md[32];
  unsigned len = 0;
  assert_int_equal(EVP_Digest(b, n, md, &len, EVP_sha256(), NULL), 1);
  memcpy(out, "SHA-256=", 8);
  assert_int_equal(EVP_EncodeBlock((unsigned char *)out + 8, md, 32), 44);
}

static ddas_parked_in parked_in(void) {
  ddas_parked_in in;
  memset(&in, 0, sizeof(in));
  digest_of(PARKED_BODY, sizeof(PARKED_BODY), parked_digest);
  in.base = base();
  in.batch_id = "b-7f3a9c-1";
  in.batch_index = 1;
  in.records = 57;
  in.digest = parked_digest;
  in.signature = "eyJhbGciOiJFUzI1NiJ9..c2lnbmF0dXJl";
  in.sig_profile = "adr";
  in.reason = "transient-exhausted";
  in.last_error = "HTTP 503";
  in.attempts = ATTEMPTS;
  in.nattempts = N(ATTEMPTS);
  in.sources = SOURCES;
  in.nsources = 2;
  in.body = PARKED_BODY;
  in.body_len = sizeof(PARKED_BODY);
  return in;
}

/* ---- helpers ------------------------------------------------------------ */

static json_t *body_json(const ddas_event *e) {
  json_error_t je;
  /* jansson rejects invalid UTF-8, so this also checks the encoding */
  json_t *j = json_loadb(e->body, e->body_len, JSON_REJECT_DUPLICATES, &je);
  if(!j)
    printf("body is not JSON: %s\n", je.text);
  assert_non_null(j);
  assert_true(json_is_object(j));
  assert_int_equal(e->body[e->body_len], '\0');
  return j;
}

/* o has exactly these members, in this order. */
static void assert_keys(json_t *o, const char *const *keys, size_t n) {
  const char *k;
  json_t *v;
  size_t i = 0;
  assert_true(json_is_object(o));
  json_object_foreach(o, k, v) {
    (void)v;
    assert_true(i < n);
    assert_string_equal(k, keys[i]);
    i++;
  }
  assert_int_equal(i, n);
}

/* e has exactly these headers, in this order. */
static void assert_header_names(const ddas_event *e, const char *const *names,
                                size_t n) {
  size_t i;
  assert_int_equal(e->nheaders, n);
  for(i = 0; i < n; i++) {
    assert_string_equal(e->headers[i].name, names[i]);
    assert_non_null(e->headers[i].value);
  }
}

static void assert_hdr(const ddas_event *e, const char *name, const char *v) {
  const char *h = ddas_event_header(e, name);
  assert_non_null(h);
  assert_string_equal(h, v);
}

static void assert_id_form(const char *id) {
  size_t i;
  assert_non_null(id);
  assert_int_equal(strlen(id), DDAS_EVENT_ID_LEN);
  for(i = 0; id[i]; i++)
    assert_true((id[i] >= '0' && id[i] <= '9') ||
                (id[i] >= 'a' && id[i] <= 'f'));
}

static void assert_str(const json_t *o, const char *k, const char *v) {
  json_t *x = json_object_get(o, k);
  assert_true(json_is_string(x));
  assert_string_equal(json_string_value(x), v);
}

static void assert_int(const json_t *o, const char *k, long long v) {
  json_t *x = json_object_get(o, k);
  assert_true(json_is_integer(x));
  assert_int_equal(json_integer_value(x), v);
}

static void assert_null_member(const json_t *o, const char *k) {
  assert_true(json_is_null(json_object_get(o, k)));
}

static void assert_zeroed(const ddas_event *e) {
  assert_null(e->key);
  assert_null(e->headers);
  assert_int_equal(e->nheaders, 0);
  assert_null(e->body);
  assert_int_equal(e->body_len, 0);
}

/* The documented ce_id, computed here from docs/events.md: SHA-256 over the
 * netstrings of the parts, first 16 bytes in lowercase hex. */
static void expected_id(const char *const *parts, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[32];
  unsigned len = 0;
  char buf[512];
  size_t used = 0, i;
  for(i = 0; i < n; i++) {
    int k = snprintf(buf + used, sizeof(buf) - used, "%zu:%s,",
                     strlen(parts[i]), parts[i]);
    assert_true(k > 0 && (size_t)k < sizeof(buf) - used);
    used += (size_t)k;
  }
  assert_int_equal(EVP_Digest(buf, used, md, &len, EVP_sha256(), NULL), 1);
  for(i = 0; i < 16; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[32] = '\0';
}

static const char *const CE_HEADERS[] = {
    "ce_specversion", "ce_id",   "ce_source",    "ce_type",
    "ce_subject",     "ce_time", "content-type", "ddas-delivery-id"};

static const char *const REJECTION_KEYS[] = {
    "schema_version", "delivery_id",         "sources",
    "kind",           "ddas_schema_version", "scope",
    "pointer",        "levering_teller",     "findings"};
static const char *const SOURCE_KEYS[] = {"topic", "partition", "offset"};
static const char *const FINDING_KEYS[] = {
    "rule",    "severity",       "scope",  "pointer",
    "keyword", "schema_pointer", "message"};

/* ---- rejection ---------------------------------------------------------- */

static void rejection_event(void **state) {
  ddas_rejection_in in = rejection_in();
  ddas_event e;
  json_t *j, *f;
  char id[33];
  const char *parts[] = {DDAS_CE_REJECTED, "del-2026-0042", "levering",
                         "/leveringen/1", "ddas.deliveries/3/1041"};
  static const char expected_body[] =
      "{\"schema_version\":\"1\",\"delivery_id\":\"del-2026-0042\","
      "\"sources\":[{\"topic\":\"ddas.deliveries\",\"partition\":3,"
      "\"offset\":1041},{\"topic\":\"ddas.deliveries\",\"partition\":3,"
      "\"offset\":1042}],\"kind\":\"shv\",\"ddas_schema_version\":\"1.0\","
      "\"scope\":\"levering\",\"pointer\":\"/leveringen/1\","
      "\"levering_teller\":7,\"findings\":[{\"rule\":\"schema\","
      "\"severity\":\"error\",\"scope\":\"levering\",\"pointer\":"
      "\"/leveringen/1/schuldhulptrajecten/0/startdatum\",\"keyword\":"
      "\"format\",\"schema_pointer\":"
      "\"/$defs/traject/properties/startdatum/format\",\"message\":"
      "\"is not a valid date (RFC 3339 full-date)\"},{\"rule\":"
      "\"levering.gemeentecode\",\"severity\":\"warning\",\"scope\":"
      "\"levering\",\"pointer\":\"/leveringen/1/gemeentecode\",\"keyword\":"
      "null,\"schema_pointer\":null,\"message\":\"gemeentecode is not in the "
      "CBS list of municipalities\"}]}";
  (void)state;

  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "org-0363");
  assert_header_names(&e, CE_HEADERS, N(CE_HEADERS));
  assert_hdr(&e, "ce_specversion", "1.0");
  assert_hdr(&e, "ce_source", "urn:ddas-worker:ddas-worker");
  assert_hdr(&e, "ce_type", "nl.ddas.delivery.rejected");
  assert_hdr(&e, "ce_subject", "del-2026-0042"); /* the delivery id */
  assert_hdr(&e, "ce_time", "2026-11-29T10:00:00Z");
  assert_hdr(&e, "content-type", "application/json");
  assert_hdr(&e, "ddas-delivery-id", "del-2026-0042");
  assert_null(ddas_event_header(&e, "ddas-batch-id"));
  expected_id(parts, 5, id);
  assert_hdr(&e, "ce_id", id);
  assert_id_form(ddas_event_header(&e, "ce_id"));

  /* the exact bytes: compact, stable member order */
  assert_int_equal(e.body_len, strlen(expected_body));
  assert_string_equal(e.body, expected_body);

  j = body_json(&e);
  assert_keys(j, REJECTION_KEYS, N(REJECTION_KEYS));
  assert_keys(json_array_get(json_object_get(j, "sources"), 0), SOURCE_KEYS,
              N(SOURCE_KEYS));
  f = json_object_get(j, "findings");
  assert_int_equal(json_array_size(f), 2);
  assert_keys(json_array_get(f, 0), FINDING_KEYS, N(FINDING_KEYS));
  assert_keys(json_array_get(f, 1), FINDING_KEYS, N(FINDING_KEYS));
  assert_null_member(json_array_get(f, 1), "keyword");
  assert_null_member(json_array_get(f, 1), "schema_pointer");
  json_decref(j);
  ddas_event_clear(&e);
  assert_zeroed(&e);
}

static void rejection_document_scope(void **state) {
  ddas_rejection_in in = rejection_in();
  static char empty[] = "";
  ddas_event e;
  json_t *j;
  (void)state;
  in.base.key = NULL;
  in.sources = NULL;
  in.nsources = 0;
  in.kind = DDAS_KIND_UNKNOWN;
  in.schema_version = NULL;
  in.scope = DDAS_SCOPE_DOCUMENT;
  in.pointer = empty;
  in.levering_teller = -1;
  in.findings = NULL;
  in.nfindings = 0;
  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  assert_null(e.key);
  j = body_json(&e);
  assert_keys(j, REJECTION_KEYS, N(REJECTION_KEYS));
  assert_null_member(j, "kind");
  assert_null_member(j, "ddas_schema_version");
  assert_null_member(j, "levering_teller");
  assert_str(j, "scope", "document");
  assert_str(j, "pointer", "");
  assert_int_equal(json_array_size(json_object_get(j, "sources")), 0);
  assert_int_equal(json_array_size(json_object_get(j, "findings")), 0);
  json_decref(j);
  ddas_event_clear(&e);

  in.scope = DDAS_SCOPE_RECORD;
  in.kind = DDAS_KIND_VS;
  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  j = body_json(&e);
  assert_str(j, "scope", "traject");
  assert_str(j, "kind", "vs");
  json_decref(j);
  ddas_event_clear(&e);
}

/* Collects every string value (not member names) in j. */
static void collect_strings(json_t *j, const char **out, size_t *n,
                            size_t cap) {
  const char *k;
  json_t *v;
  size_t i;
  if(json_is_string(j)) {
    assert_true(*n < cap);
    out[(*n)++] = json_string_value(j);
  } else if(json_is_array(j)) {
    for(i = 0; i < json_array_size(j); i++)
      collect_strings(json_array_get(j, i), out, n, cap);
  } else if(json_is_object(j)) {
    json_object_foreach(j, k, v) {
      (void)k;
      collect_strings(v, out, n, cap);
    }
  }
}

/* A rejection body holds the documented members and nothing else: the key
 * sets match at every level, every string in it is one of the inputs that
 * docs/events.md says is copied, and the messages are there verbatim. The
 * input's Kafka key (here a BSN-shaped canary) becomes the event key and
 * appears in no body and no header. */
static void rejection_privacy(void **state) {
  static const char *const pd[] = {"123456782", "1980-05-01", "1234AB",
                                   "Jansen"};
  static const char *const allowed[] = {
      DDAS_EVENT_SCHEMA_VERSION,
      "del-2026-0042",
      "ddas.deliveries",
      "shv",
      "1.0",
      "levering",
      "error",
      "warning",
      "schema",
      "format",
      "levering.gemeentecode",
      "/leveringen/1",
      "/leveringen/1/schuldhulptrajecten/0/startdatum",
      "/leveringen/1/gemeentecode",
      "/$defs/traject/properties/startdatum/format",
      "is not a valid date (RFC 3339 full-date)",
      "gemeentecode is not in the CBS list of municipalities"};
  ddas_rejection_in in = rejection_in();
  const char *strs[64];
  size_t nstrs = 0, i, k, fi;
  ddas_event e;
  json_t *j, *fs;
  (void)state;

  in.base.key = "123456782";
  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "123456782");
  j = body_json(&e);

  assert_keys(j, REJECTION_KEYS, N(REJECTION_KEYS));
  for(i = 0; i < json_array_size(json_object_get(j, "sources")); i++)
    assert_keys(json_array_get(json_object_get(j, "sources"), i), SOURCE_KEYS,
                N(SOURCE_KEYS));
  fs = json_object_get(j, "findings");
  assert_int_equal(json_array_size(fs), in.nfindings);
  for(fi = 0; fi < json_array_size(fs); fi++) {
    json_t *f = json_array_get(fs, fi);
    assert_keys(f, FINDING_KEYS, N(FINDING_KEYS));
    /* verbatim, in input order */
    assert_str(f, "message", in.findings[fi].message);
    assert_str(f, "pointer", in.findings[fi].pointer);
    assert_str(f, "rule", in.findings[fi].rule);
  }

  collect_strings(j, strs, &nstrs, N(strs));
  assert_true(nstrs > 10);
  for(i = 0; i < nstrs; i++) {
    int ok = 0;
    for(k = 0; k < N(allowed); k++)
      ok |= strcmp(strs[i], allowed[k]) == 0;
    if(!ok)
      printf("undocumented string in body: %s\n", strs[i]);
    assert_true(ok);
  }
  for(k = 0; k < N(pd); k++) {
    assert_null(strstr(e.body, pd[k]));
    for(i = 0; i < e.nheaders; i++)
      assert_null(strstr(e.headers[i].value, pd[k]));
  }
  json_decref(j);
  ddas_event_clear(&e);
}

/* ---- ce_id -------------------------------------------------------------- */

static char *id_of_rejection(const ddas_rejection_in *in) {
  ddas_event e;
  char *id;
  assert_int_equal(ddas_event_rejection(in, &e), DDAS_OK);
  id = strdup(ddas_event_header(&e, "ce_id"));
  ddas_event_clear(&e);
  return id;
}

static void ce_id_deterministic(void **state) {
  ddas_rejection_in in = rejection_in(), other;
  ddas_processed_in pin = processed_in();
  ddas_forwarded_in fin = forwarded_in();
  ddas_parked_in kin = parked_in();
  ddas_event a, b;
  char *id0, *id;
  char exp[33];
  static char p2[] = "/leveringen/2";
  const char *pparts[] = {DDAS_CE_PROCESSED, "del-2026-0042"};
  const char *fparts[] = {DDAS_CE_FORWARDED, "del-2026-0042", "b-7f3a9c-0"};
  const char *kparts[] = {DDAS_CE_PARKED, "del-2026-0042", "b-7f3a9c-1"};
  (void)state;

  /* same input: same id and the same bytes */
  assert_int_equal(ddas_event_rejection(&in, &a), DDAS_OK);
  assert_int_equal(ddas_event_rejection(&in, &b), DDAS_OK);
  assert_string_equal(ddas_event_header(&a, "ce_id"),
                      ddas_event_header(&b, "ce_id"));
  assert_int_equal(a.body_len, b.body_len);
  assert_memory_equal(a.body, b.body, a.body_len);
  ddas_event_clear(&a);
  ddas_event_clear(&b);

  id0 = id_of_rejection(&in);
  assert_id_form(id0);

  /* processing the delivery again later: same id */
  other = in;
  other.base.time = "2027-01-01T00:00:00Z";
  other.base.ce_source = "urn:ddas-worker:other-host";
  id = id_of_rejection(&other);
  assert_string_equal(id, id0);
  free(id);

  /* the same pointer in another message (another chunk of the delivery) */
  {
    ddas_source moved[2];
    memcpy(moved, in.sources, sizeof(moved));
    moved[0].offset += 5;
    other = in;
    other.sources = moved;
    id = id_of_rejection(&other);
    assert_string_not_equal(id, id0);
    free(id);
  }

  /* another levering of the same delivery */
  other = in;
  other.pointer = p2;
  id = id_of_rejection(&other);
  assert_string_not_equal(id, id0);
  free(id);

  /* same pointer, another scope */
  other = in;
  other.scope = DDAS_SCOPE_DOCUMENT;
  id = id_of_rejection(&other);
  assert_string_not_equal(id, id0);
  free(id);

  /* another delivery */
  other = in;
  other.base.delivery_id = "del-2026-0043";
  id = id_of_rejection(&other);
  assert_string_not_equal(id, id0);
  free(id);

  /* netstrings keep field boundaries: moving a character between delivery
   * id and pointer changes the id */
  other = in;
  other.base.delivery_id = "del-2026-0042/";
  other.pointer = P_LEV + 1; /* "leveringen/1" */
  id = id_of_rejection(&other);
  assert_string_not_equal(id, id0);
  free(id);

  /* receipts and parked batches follow the documented recipe */
  assert_int_equal(ddas_event_processed(&pin, &a), DDAS_OK);
  expected_id(pparts, 2, exp);
  assert_hdr(&a, "ce_id", exp);
  ddas_event_clear(&a);
  assert_int_equal(ddas_event_forwarded(&fin, &a), DDAS_OK);
  expected_id(fparts, 3, exp);
  assert_hdr(&a, "ce_id", exp);
  ddas_event_clear(&a);
  assert_int_equal(ddas_event_parked(&kin, &a), DDAS_OK);
  expected_id(kparts, 3, exp);
  assert_hdr(&a, "ce_id", exp);
  ddas_event_clear(&a);

  /* the same batch forwarded and parked: different events */
  fin.batch_id = kin.batch_id;
  assert_int_equal(ddas_event_forwarded(&fin, &a), DDAS_OK);
  assert_int_equal(ddas_event_parked(&kin, &b), DDAS_OK);
  assert_string_not_equal(ddas_event_header(&a, "ce_id"),
                          ddas_event_header(&b, "ce_id"));
  ddas_event_clear(&a);
  ddas_event_clear(&b);
  free(id0);
}

/* ---- receipts ----------------------------------------------------------- */

static void processed_receipt(void **state) {
  ddas_source moved[8]; /* outlives every use of in.sources below */
  static const char *const keys[] = {"schema_version",
                                     "delivery_id",
                                     "sources",
                                     "kind",
                                     "ddas_schema_version",
                                     "status",
                                     "records",
                                     "accepted",
                                     "rejected",
                                     "warned",
                                     "normalised",
                                     "rejected_by_rule",
                                     "warnings_by_rule",
                                     "batch_ids",
                                     "organisation",
                                     "period"};
  static const char *const nkeys[] = {"N1", "N2", "N3", "N4", "N5", "N6"};
  ddas_processed_in in = processed_in();
  ddas_event e;
  json_t *j, *x;
  (void)state;

  assert_int_equal(ddas_event_processed(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "org-0363");
  assert_header_names(&e, CE_HEADERS, N(CE_HEADERS));
  assert_hdr(&e, "ce_type", "nl.ddas.delivery.processed");
  assert_hdr(&e, "content-type", "application/json");
  j = body_json(&e);
  assert_keys(j, keys, N(keys));
  assert_str(j, "schema_version", "1");
  assert_str(j, "status", "processed");
  assert_str(j, "kind", "shv");
  assert_int(j, "records", 120);
  assert_int(j, "accepted", 114);
  assert_int(j, "rejected", 6);
  assert_int(j, "warned", 4);
  /* all six, zeros included */
  x = json_object_get(j, "normalised");
  assert_keys(x, nkeys, N(nkeys));
  assert_int(x, "N1", 0);
  assert_int(x, "N2", 9);
  assert_int(x, "N6", 0);
  /* a rule listed twice adds up */
  x = json_object_get(j, "rejected_by_rule");
  assert_int_equal(json_object_size(x), 2);
  assert_int(x, "schema", 5);
  assert_int(x, "levering.gemeentecode", 1);
  x = json_object_get(j, "warnings_by_rule");
  assert_int_equal(json_object_size(x), 1);
  assert_int(x, "traject.einddatum", 4);
  x = json_object_get(j, "batch_ids");
  assert_int_equal(json_array_size(x), 2);
  assert_string_equal(json_string_value(json_array_get(x, 1)), "b-7f3a9c-1");
  json_decref(j);
  ddas_event_clear(&e);

  /* nothing to count: empty objects and arrays, still all N keys */
  in.nrejected_by_rule = in.nwarnings_by_rule = in.nbatch_ids = 0;
  in.rejected_by_rule = in.warnings_by_rule = NULL;
  in.batch_ids = NULL;
  assert_int_equal(ddas_event_processed(&in, &e), DDAS_OK);
  j = body_json(&e);
  assert_keys(j, keys, N(keys));
  assert_keys(json_object_get(j, "normalised"), nkeys, N(nkeys));
  assert_int_equal(json_object_size(json_object_get(j, "rejected_by_rule")), 0);
  assert_int_equal(json_array_size(json_object_get(j, "batch_ids")), 0);
  json_decref(j);
  ddas_event_clear(&e);

  /* incomplete: its own type, the chunks seen and missing, and why */
  in.status = "incomplete";
  assert_int_equal(ddas_event_processed(&in, &e), DDAS_ERR_ARG); /* no why */
  assert_zeroed(&e);
  in.nchunks = 5;
  in.chunks_seen = 2;
  in.reason = "gap";
  in.reason_text = "a chunk is missing";
  assert_int_equal(ddas_event_processed(&in, &e), DDAS_OK);
  assert_string_equal(ddas_event_header(&e, DDAS_H_TYPE),
                      "nl.ddas.delivery.incomplete");
  j = body_json(&e);
  assert_str(j, "status", "incomplete");
  assert_str(j, "reason", "gap");
  assert_str(j, "reason_text", "a chunk is missing");
  x = json_object_get(j, "chunks");
  assert_int(x, "total", 5);
  assert_str(x, "seen", "1-2");
  assert_str(x, "missing", "3-5");
  json_decref(j);
  {
    /* a later run of the delivery from another offset has another id */
    char first_id[DDAS_EVENT_ID_LEN + 1];
    size_t k;
    snprintf(first_id, sizeof(first_id), "%s",
             ddas_event_header(&e, DDAS_H_ID));
    ddas_event_clear(&e);
    assert_true(in.nsources >= 1 && in.nsources <= 8);
    for(k = 0; k < in.nsources; k++)
      moved[k] = in.sources[k];
    moved[0].offset += 100;
    in.sources = moved;
    in.nchunks = 2;
    in.chunks_seen = 1;
    assert_int_equal(ddas_event_processed(&in, &e), DDAS_OK);
    assert_string_not_equal(ddas_event_header(&e, DDAS_H_ID), first_id);
    j = body_json(&e);
    x = json_object_get(j, "chunks");
    assert_str(x, "seen", "1");
    assert_str(x, "missing", "2");
    json_decref(j);
    ddas_event_clear(&e);
    in.chunks_seen = 2; /* every chunk seen is not incomplete */
    assert_int_equal(ddas_event_processed(&in, &e), DDAS_ERR_ARG);
  }

  in.status = "done";
  assert_int_equal(ddas_event_processed(&in, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
}

static void forwarded_receipt(void **state) {
  static const char *const keys[] = {
      "schema_version", "delivery_id", "batch_id", "batch_index",
      "records",        "bytes",       "digest",   "http_status",
      "attempts",       "replayed",    "sources"};
  static const char *const hdrs[] = {
      "ce_specversion", "ce_id",   "ce_source",    "ce_type",
      "ce_subject",     "ce_time", "content-type", "ddas-delivery-id",
      "ddas-batch-id"};
  ddas_forwarded_in in = forwarded_in();
  ddas_event e;
  json_t *j;
  (void)state;

  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_OK);
  assert_header_names(&e, hdrs, N(hdrs));
  assert_hdr(&e, "ce_type", "nl.ddas.batch.forwarded");
  assert_hdr(&e, "ddas-batch-id", "b-7f3a9c-0");
  j = body_json(&e);
  assert_keys(j, keys, N(keys));
  assert_str(j, "batch_id", "b-7f3a9c-0");
  assert_int(j, "batch_index", 0);
  assert_int(j, "records", 114);
  assert_int(j, "bytes", 3);
  assert_str(j, "digest", ABC_DIGEST);
  assert_int(j, "http_status", 201);
  assert_int(j, "attempts", 2);
  assert_true(json_is_false(json_object_get(j, "replayed")));
  assert_int_equal(json_array_size(json_object_get(j, "sources")), 2);
  json_decref(j);
  ddas_event_clear(&e);

  in.replayed = 5; /* any non-zero value is true */
  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_OK);
  j = body_json(&e);
  assert_true(json_is_true(json_object_get(j, "replayed")));
  json_decref(j);
  ddas_event_clear(&e);

  in.http_status = 503; /* not accepted: that is a parked batch */
  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_ERR_ARG);
  in.http_status = 200;
  in.attempts = 0;
  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
}

/* ---- parked batches ----------------------------------------------------- */

static const char *const PARKED_HEADERS[] = {
    "ce_specversion", "ce_id",
    "ce_source",      "ce_type",
    "ce_subject",     "ce_time",
    "content-type",   "ddas-delivery-id",
    "ddas-batch-id",  "ddas-batch-index",
    "ddas-records",   "ddas-digest",
    "ddas-signature", "ddas-signature-profile",
    "ddas-reason",    "ddas-last-error",
    "ddas-attempts",  "ddas-sources"};

/* The delivery's kind and identity travel with a parked batch, so that
 * replay can publish it to topic.accepted as run would have; a parked
 * batch without them (an older version's) still parses. */
static void parked_identity(void **state) {
  ddas_parked_in in = parked_in();
  ddas_parked p;
  ddas_event e;
  char err[128];
  (void)state;
  in.kind = DDAS_KIND_VS;
  in.org_name = "Gemeente Zwolle";
  in.org_code = "GM0193";
  in.period_start = "2026-01-01";
  in.period_end = "";
  assert_int_equal(ddas_event_parked(&in, &e), DDAS_OK);
  assert_hdr(&e, "ddas-kind", "vs");
  assert_hdr(&e, "ddas-org-name", "Gemeente Zwolle");
  assert_hdr(&e, "ddas-period-end", "");
  assert_int_equal(ddas_parked_parse(e.headers, e.nheaders, e.body, e.body_len,
                                     &p, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(p.kind, DDAS_KIND_VS);
  assert_string_equal(p.org_name, "Gemeente Zwolle");
  assert_string_equal(p.org_code, "GM0193");
  assert_string_equal(p.period_start, "2026-01-01");
  assert_string_equal(p.period_end, "");
  ddas_event_clear(&e);
  in = parked_in();
  assert_int_equal(ddas_event_parked(&in, &e), DDAS_OK);
  assert_null(ddas_event_header(&e, "ddas-kind"));
  assert_int_equal(ddas_parked_parse(e.headers, e.nheaders, e.body, e.body_len,
                                     &p, err, sizeof(err)),
                   DDAS_OK);
  assert_int_equal(p.kind, DDAS_KIND_UNKNOWN);
  assert_null(p.org_name);
  assert_null(p.period_end);
  ddas_event_clear(&e);
}

static void parked_round_trip(void **state) {
  static const char *const akeys[] = {"time", "http_status", "error"};
  ddas_parked_in in = parked_in();
  ddas_parked p;
  ddas_event e;
  json_t *a;
  json_error_t je;
  char err[128];
  (void)state;

  assert_int_equal(ddas_event_parked(&in, &e), DDAS_OK);
  assert_string_equal(e.key, "org-0363");
  assert_header_names(&e, PARKED_HEADERS, N(PARKED_HEADERS));
  assert_hdr(&e, "ce_type", "nl.ddas.batch.parked");
  assert_hdr(&e, "content-type", "application/json");
  assert_hdr(&e, "ddas-batch-id", "b-7f3a9c-1");
  assert_hdr(&e, "ddas-batch-index", "1");
  assert_hdr(&e, "ddas-records", "57");
  assert_hdr(&e, "ddas-digest", parked_digest);
  assert_hdr(&e, "ddas-signature", "eyJhbGciOiJFUzI1NiJ9..c2lnbmF0dXJl");
  assert_hdr(&e, "ddas-signature-profile", "adr");
  assert_hdr(&e, "ddas-reason", "transient-exhausted");
  assert_hdr(&e, "ddas-last-error", "HTTP 503");
  assert_hdr(&e, "ddas-attempts",
             "[{\"time\":\"2026-11-29T10:00:01Z\",\"http_status\":null,"
             "\"error\":\"connect timeout\"},{\"time\":"
             "\"2026-11-29T10:00:05Z\",\"http_status\":503,\"error\":null}]");
  assert_hdr(
      &e, "ddas-sources",
      "[{\"topic\":\"ddas.deliveries\",\"partition\":3,\"offset\":1041},"
      "{\"topic\":\"ddas.deliveries\",\"partition\":3,\"offset\":1042}]");
  assert_null(ddas_event_header(&e, "ddas-problem"));
  a = json_loads(ddas_event_header(&e, "ddas-attempts"), 0, &je);
  assert_non_null(a);
  assert_keys(json_array_get(a, 0), akeys, N(akeys));
  json_decref(a);

  /* the body is exactly the given bytes, NULs and non-UTF-8 included */
  assert_int_equal(e.body_len, sizeof(PARKED_BODY));
  assert_memory_equal(e.body, PARKED_BODY, sizeof(PARKED_BODY));

  assert_int_equal(ddas_parked_parse(e.headers, e.nheaders, e.body, e.body_len,
                                     &p, err, sizeof(err)),
                   DDAS_OK);
  assert_string_equal(err, "");
  assert_string_equal(p.batch_id, "b-7f3a9c-1");
  assert_string_equal(p.delivery_id, "del-2026-0042");
  assert_string_equal(p.digest, parked_digest);
  assert_string_equal(p.signature, in.signature);
  assert_string_equal(p.sig_profile, "adr");
  assert_string_equal(p.content_type, "application/json");
  assert_string_equal(p.time, "2026-11-29T10:00:00Z");
  assert_int_equal(p.batch_index, 1);
  assert_int_equal(p.records, 57);
  assert_ptr_equal(p.body, e.body);
  assert_int_equal(p.body_len, sizeof(PARKED_BODY));
  assert_memory_equal(p.body, PARKED_BODY, sizeof(PARKED_BODY));
  assert_string_equal(p.reason, "transient-exhausted");
  assert_string_equal(p.last_error, "HTTP 503");
  assert_null(p.problem);
  assert_string_equal(p.attempts, ddas_event_header(&e, "ddas-attempts"));
  assert_string_equal(p.sources, ddas_event_header(&e, "ddas-sources"));
  ddas_event_clear(&e);

  /* with a problem body, another content type, no attempts, an empty body */
  in.problem = "{\"type\":\"https://cbs.nl/problems/schema\",\"status\":422}";
  in.content_type = "application/json; charset=utf-8";
  in.reason = "refused";
  in.sig_profile = "body";
  in.attempts = NULL;
  in.nattempts = 0;
  in.body = NULL;
  in.body_len = 0;
  in.digest = "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  assert_int_equal(ddas_event_parked(&in, &e), DDAS_OK);
  assert_hdr(&e, "ddas-problem", in.problem);
  assert_string_equal(e.headers[e.nheaders - 1].name, "ddas-problem");
  assert_hdr(&e, "content-type", "application/json; charset=utf-8");
  assert_hdr(&e, "ddas-attempts", "[]");
  assert_int_equal(e.body_len, 0);
  assert_int_equal(ddas_parked_parse(e.headers, e.nheaders, e.body, e.body_len,
                                     &p, err, sizeof(err)),
                   DDAS_OK);
  assert_string_equal(p.problem, in.problem);
  assert_string_equal(p.content_type, "application/json; charset=utf-8");
  assert_string_equal(p.sig_profile, "body");
  assert_int_equal(p.body_len, 0);
  ddas_event_clear(&e);
}

/* Parses e with header `drop` left out, or with header `name` set to
 * `value`, or with the first body byte changed; returns the result. */
static ddas_result parse_variant(const ddas_event *e, const char *drop,
                                 const char *name, char *value, int tamper,
                                 int duplicate, char *err, size_t errlen) {
  ddas_kv h[32];
  char body[64];
  ddas_parked p;
  size_t n = 0, i;
  ddas_result r;
  assert_true(e->nheaders < N(h) - 1 && e->body_len <= sizeof(body));
  for(i = 0; i < e->nheaders; i++) {
    if(drop && !strcmp(e->headers[i].name, drop))
      continue;
    h[n] = e->headers[i];
    if(name && !strcmp(h[n].name, name))
      h[n].value = value;
    n++;
  }
  if(duplicate)
    h[n++] = e->headers[1 + (size_t)duplicate];
  memcpy(body, e->body, e->body_len);
  if(tamper)
    body[0] ^= 1;
  memset(&p, 0x5A, sizeof(p));
  r = ddas_parked_parse(h, n, body, e->body_len, &p, err, errlen);
  if(r) {
    assert_null(p.batch_id);
    assert_null(p.body);
  }
  return r;
}

static void parked_parse_errors(void **state) {
  static const char *const required[] = {
      "ce_type",       "ce_time",          "ddas-delivery-id",
      "ddas-batch-id", "ddas-batch-index", "ddas-records",
      "ddas-digest",   "ddas-signature",   "ddas-signature-profile"};
  static const char *const optional[] = {
      "ce_specversion", "ce_id",           "ce_source",     "content-type",
      "ddas-reason",    "ddas-last-error", "ddas-attempts", "ddas-sources"};
  static char bad_index[] = "1a", empty[] = "", huge[] = "99999999999999999999",
              minus[] = "-1", fwd[] = DDAS_CE_FORWARDED, jws[] = "jws",
              spec[] = "0.3";
  ddas_parked_in in = parked_in();
  ddas_event e;
  char err[160];
  size_t i;
  (void)state;

  assert_int_equal(ddas_event_parked(&in, &e), DDAS_OK);
  assert_int_equal(parse_variant(&e, NULL, NULL, NULL, 0, 0, err, sizeof(err)),
                   DDAS_OK);

  for(i = 0; i < N(required); i++) {
    assert_int_equal(
        parse_variant(&e, required[i], NULL, NULL, 0, 0, err, sizeof(err)),
        DDAS_ERR_ARG);
    assert_non_null(strstr(err, required[i]));
    assert_non_null(strstr(err, "missing"));
  }
  for(i = 0; i < N(optional); i++)
    assert_int_equal(
        parse_variant(&e, optional[i], NULL, NULL, 0, 0, err, sizeof(err)),
        DDAS_OK);

  /* one changed byte */
  assert_int_equal(parse_variant(&e, NULL, NULL, NULL, 1, 0, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_non_null(strstr(err, "does not match"));
  assert_non_null(strstr(err, "ddas-digest"));

  assert_int_equal(parse_variant(&e, NULL, "ddas-batch-index", bad_index, 0, 0,
                                 err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_non_null(strstr(err, "ddas-batch-index"));
  assert_int_equal(
      parse_variant(&e, NULL, "ddas-records", empty, 0, 0, err, sizeof(err)),
      DDAS_ERR_ARG);
  assert_int_equal(
      parse_variant(&e, NULL, "ddas-records", huge, 0, 0, err, sizeof(err)),
      DDAS_ERR_ARG);
  assert_int_equal(parse_variant(&e, NULL, "ddas-batch-index", minus, 0, 0, err,
                                 sizeof(err)),
                   DDAS_ERR_ARG);
  assert_int_equal(
      parse_variant(&e, NULL, "ce_type", fwd, 0, 0, err, sizeof(err)),
      DDAS_ERR_ARG);
  assert_non_null(strstr(err, "ce_type"));
  assert_int_equal(parse_variant(&e, NULL, "ddas-signature-profile", jws, 0, 0,
                                 err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_int_equal(
      parse_variant(&e, NULL, "ce_specversion", spec, 0, 0, err, sizeof(err)),
      DDAS_ERR_ARG);
  /* a header we read, twice (ce_type: index 3) */
  assert_int_equal(parse_variant(&e, NULL, NULL, NULL, 0, 2, err, sizeof(err)),
                   DDAS_ERR_ARG);
  assert_non_null(strstr(err, "more than once"));
  /* no error buffer, and a tiny one */
  assert_int_equal(parse_variant(&e, NULL, NULL, NULL, 1, 0, NULL, 0),
                   DDAS_ERR_ARG);
  assert_int_equal(parse_variant(&e, NULL, NULL, NULL, 1, 0, err, 4),
                   DDAS_ERR_ARG);
  assert_int_equal(strlen(err), 3);
  assert_int_equal(ddas_parked_parse(e.headers, e.nheaders, e.body, e.body_len,
                                     NULL, err, sizeof(err)),
                   DDAS_ERR_ARG);
  ddas_event_clear(&e);
}

static void parked_builder_checks(void **state) {
  ddas_parked_in in = parked_in(), x;
  ddas_event e;
  (void)state;
  x = in;
  x.digest = ABC_DIGEST; /* not the digest of this body */
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
  x = in;
  x.reason = "gave-up";
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.sig_profile = "jws";
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.signature = NULL;
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.last_error = NULL;
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.batch_id = "";
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.body = NULL;
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.attempts = NULL;
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.nattempts = 1;
  x.attempts = &(ddas_attempt){"yesterday", 500, "x"};
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.content_type = "";
  assert_int_equal(ddas_event_parked(&x, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
}

/* ---- arguments, UTF-8, memory ------------------------------------------- */

/* Every builder rejects a bad base the same way and leaves *out empty. */
static ddas_result build_with_base(int which, ddas_event_base b,
                                   ddas_event *e) {
  ddas_rejection_in r = rejection_in();
  ddas_processed_in p = processed_in();
  ddas_forwarded_in f = forwarded_in();
  ddas_parked_in k = parked_in();
  memset(e, 0xA5, sizeof(*e));
  switch(which) {
  case 0: r.base = b; return ddas_event_rejection(&r, e);
  case 1: p.base = b; return ddas_event_processed(&p, e);
  case 2: f.base = b; return ddas_event_forwarded(&f, e);
  default: k.base = b; return ddas_event_parked(&k, e);
  }
}

static void argument_checks(void **state) {
  ddas_rejection_in in = rejection_in(), x;
  static ddas_source bad_src[] = {{NULL, 0, 0}, {"t", -1, 0}, {"t", 0, -5}};
  ddas_finding f[1];
  static char pointer[] = "/leveringen/0";
  ddas_event e;
  ddas_event_base b;
  int w;
  size_t i;
  (void)state;

  for(w = 0; w < 4; w++) {
    ddas_event_base good = base();
    assert_int_equal(build_with_base(w, good, &e), DDAS_OK);
    ddas_event_clear(&e);
    b = good;
    b.delivery_id = NULL;
    assert_int_equal(build_with_base(w, b, &e), DDAS_ERR_ARG);
    assert_zeroed(&e);
    b = good;
    b.delivery_id = "";
    assert_int_equal(build_with_base(w, b, &e), DDAS_ERR_ARG);
    b = good;
    b.ce_source = NULL;
    assert_int_equal(build_with_base(w, b, &e), DDAS_ERR_ARG);
    b = good;
    b.time = NULL;
    assert_int_equal(build_with_base(w, b, &e), DDAS_ERR_ARG);
    b = good;
    b.time = "29-11-2026 10:00";
    assert_int_equal(build_with_base(w, b, &e), DDAS_ERR_ARG);
    assert_zeroed(&e);
  }

  assert_int_equal(ddas_event_rejection(NULL, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
  assert_int_equal(ddas_event_rejection(&in, NULL), DDAS_ERR_ARG);
  assert_int_equal(ddas_event_processed(NULL, &e), DDAS_ERR_ARG);
  assert_int_equal(ddas_event_forwarded(NULL, &e), DDAS_ERR_ARG);
  assert_int_equal(ddas_event_parked(NULL, &e), DDAS_ERR_ARG);
  {
    ddas_processed_in p = processed_in();
    ddas_forwarded_in fw = forwarded_in();
    ddas_parked_in k = parked_in();
    assert_int_equal(ddas_event_processed(&p, NULL), DDAS_ERR_ARG);
    assert_int_equal(ddas_event_forwarded(&fw, NULL), DDAS_ERR_ARG);
    assert_int_equal(ddas_event_parked(&k, NULL), DDAS_ERR_ARG);
    p.rejected_by_rule = &(ddas_rule_count){NULL, 1};
    p.nrejected_by_rule = 1;
    assert_int_equal(ddas_event_processed(&p, &e), DDAS_ERR_ARG);
    p = processed_in();
    p.batch_ids = (const char *const[]){"b-1", NULL};
    p.nbatch_ids = 2;
    assert_int_equal(ddas_event_processed(&p, &e), DDAS_ERR_ARG);
    fw.batch_id = NULL;
    assert_int_equal(ddas_event_forwarded(&fw, &e), DDAS_ERR_ARG);
    fw = forwarded_in();
    fw.digest = NULL;
    assert_int_equal(ddas_event_forwarded(&fw, &e), DDAS_ERR_ARG);
  }

  for(i = 0; i < N(bad_src); i++) {
    x = in;
    x.sources = &bad_src[i];
    x.nsources = 1;
    assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  }
  x = in;
  x.sources = NULL;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.pointer = NULL;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.findings = NULL;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.scope = (ddas_scope)7;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  x = in;
  x.kind = (ddas_kind)9;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);

  f[0] = FINDINGS[0];
  f[0].message = NULL;
  x = in;
  x.findings = f;
  x.nfindings = 1;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  f[0] = FINDINGS[0];
  f[0].pointer = NULL;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  f[0] = FINDINGS[0];
  f[0].rule = NULL;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  f[0] = FINDINGS[0];
  f[0].severity = (ddas_severity)3;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_ERR_ARG);
  f[0] = FINDINGS[0];
  f[0].pointer = pointer;
  assert_int_equal(ddas_event_rejection(&x, &e), DDAS_OK);
  ddas_event_clear(&e);
  assert_zeroed(&e);
}

/* Invalid UTF-8 from the outside (a delivery id from a Kafka header, a rule
 * count key) becomes U+FFFD in bodies and headers; the JSON stays valid. */
static void utf8_hygiene(void **state) {
  ddas_rejection_in in = rejection_in();
  ddas_processed_in p = processed_in();
  static const ddas_rule_count rc[] = {{"bad\xC3(rule", 1}};
  static char msg[] = "caf\xC3\xA9 \xED\xA0\x80 ok"; /* é, then a surrogate */
  ddas_finding f[1];
  ddas_event e;
  json_t *j;
  (void)state;

  in.base.delivery_id = "del-\xFF\xC3(";
  in.base.key = "k\xFE";
  f[0] = FINDINGS[0];
  f[0].message = msg;
  in.findings = f;
  in.nfindings = 1;
  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  j = body_json(&e);
  assert_str(j, "delivery_id", "del-\xEF\xBF\xBD\xEF\xBF\xBD(");
  assert_str(json_array_get(json_object_get(j, "findings"), 0), "message",
             "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok");
  assert_hdr(&e, "ddas-delivery-id", "del-\xEF\xBF\xBD\xEF\xBF\xBD(");
  assert_string_equal(e.key, "k\xEF\xBF\xBD");
  json_decref(j);
  ddas_event_clear(&e);

  p.rejected_by_rule = rc;
  p.nrejected_by_rule = 1;
  assert_int_equal(ddas_event_processed(&p, &e), DDAS_OK);
  j = body_json(&e);
  assert_int(json_object_get(j, "rejected_by_rule"), "bad\xEF\xBF\xBD(rule", 1);
  json_decref(j);
  ddas_event_clear(&e);
}

static ddas_result build(int which, ddas_event *e) {
  ddas_rejection_in r = rejection_in();
  ddas_processed_in p = processed_in();
  ddas_forwarded_in f = forwarded_in();
  ddas_parked_in k = parked_in();
  k.problem = "{\"status\":422}";
  switch(which) {
  case 0: return ddas_event_rejection(&r, e);
  case 1: return ddas_event_processed(&p, e);
  case 2: return ddas_event_forwarded(&f, e);
  default: return ddas_event_parked(&k, e);
  }
}

/* Allocation n fails, for every n until the builder succeeds: it returns
 * DDAS_ERR_NOMEM with an empty event, never crashes or leaks (ASan), and the
 * eventual success is byte-identical to an unhindered build. */
static void allocation_failures(void **state) {
  int w;
  (void)state;
  for(w = 0; w < 4; w++) {
    ddas_event ref, e;
    unsigned long n, used;
    size_t i;
    ddas_alloc_fail_at(0);
    assert_int_equal(build(w, &ref), DDAS_OK);
    ddas_alloc_fail_at(1000000);
    assert_int_equal(build(w, &e), DDAS_OK);
    used = ddas_alloc_count();
    ddas_alloc_fail_at(0);
    ddas_event_clear(&e);
    assert_true(used > 10); /* the loop below really exercises something */
    for(n = 1;; n++) {
      ddas_result r;
      ddas_alloc_fail_at(n);
      r = build(w, &e);
      ddas_alloc_fail_at(0);
      if(r == DDAS_OK)
        break;
      assert_int_equal(r, DDAS_ERR_NOMEM);
      assert_zeroed(&e);
    }
    assert_int_equal(n, used + 1);
    assert_int_equal(e.nheaders, ref.nheaders);
    for(i = 0; i < e.nheaders; i++) {
      assert_string_equal(e.headers[i].name, ref.headers[i].name);
      assert_string_equal(e.headers[i].value, ref.headers[i].value);
    }
    assert_int_equal(e.body_len, ref.body_len);
    assert_memory_equal(e.body, ref.body, e.body_len);
    ddas_event_clear(&e);
    ddas_event_clear(&ref);
  }
}

static void clear_and_lookup(void **state) {
  ddas_event e;
  ddas_rejection_in in = rejection_in();
  (void)state;
  ddas_event_clear(NULL);
  assert_null(ddas_event_header(NULL, "ce_id"));
  assert_int_equal(ddas_event_rejection(&in, &e), DDAS_OK);
  assert_null(ddas_event_header(&e, "CE_ID")); /* names are exact */
  assert_null(ddas_event_header(&e, "ce_i"));
  assert_null(ddas_event_header(&e, NULL));
  ddas_event_clear(&e);
  ddas_event_clear(&e);
  assert_zeroed(&e);
}

/* ce_source is a CloudEvents URI-reference (issue 12): a group id with a
 * space gave "urn:ddas-worker:my group", which is not one. The default is
 * percent-encoded, and a builder refuses a source that is not a
 * URI-reference; every event names its delivery in ce_subject. */
static void ce_source_and_subject(void **state) {
  static const char *const good[] = {"urn:ddas-worker:ddas-worker",
                                     "urn:ddas-worker:my%20group",
                                     "https://worker.example.nl/ddas?x=1#y",
                                     "/relative/path",
                                     "a",
                                     "urn:x:[::1]:9092",
                                     "mailto:ops@example.nl"};
  static const char *const bad[] = {"",
                                    "urn:ddas-worker:my group",
                                    "urn:x:\"q\"",
                                    "urn:x:%2",
                                    "urn:x:%zz",
                                    "1urn:x",
                                    ":x",
                                    "ur n:x",
                                    "a%20b:c",
                                    "urn:x:\xc3\xa9",
                                    "urn:x:\tb",
                                    "urn:x:<b>",
                                    "urn:x:{b}",
                                    "urn:x:a|b",
                                    "urn:x:a\\b"};
  char out[64];
  size_t i;
  ddas_event_base b = base();
  ddas_forwarded_in in = forwarded_in();
  ddas_event e;
  (void)state;
  for(i = 0; i < N(good); i++) {
    if(!ddas_uri_reference_ok(good[i]))
      print_message("refused: %s\n", good[i]);
    assert_true(ddas_uri_reference_ok(good[i]));
  }
  for(i = 0; i < N(bad); i++) {
    if(ddas_uri_reference_ok(bad[i]))
      print_message("accepted: %s\n", bad[i]);
    assert_false(ddas_uri_reference_ok(bad[i]));
  }
  assert_false(ddas_uri_reference_ok(NULL));

  assert_int_equal(ddas_ce_source_default("ddas-worker", out, sizeof(out)),
                   DDAS_OK);
  assert_string_equal(out, "urn:ddas-worker:ddas-worker");
  assert_int_equal(ddas_ce_source_default("my group/1:\"é\"", out, sizeof(out)),
                   DDAS_OK);
  assert_string_equal(out, "urn:ddas-worker:my%20group%2F1%3A%22%C3%A9%22");
  assert_true(ddas_uri_reference_ok(out));
  assert_int_equal(ddas_ce_source_default("a.b_c~d-e", out, sizeof(out)),
                   DDAS_OK);
  assert_string_equal(out, "urn:ddas-worker:a.b_c~d-e");
  assert_int_equal(ddas_ce_source_default("", out, sizeof(out)), DDAS_ERR_ARG);
  assert_int_equal(ddas_ce_source_default(NULL, out, sizeof(out)),
                   DDAS_ERR_ARG);
  /* exactly full, then one byte short */
  assert_int_equal(ddas_ce_source_default(" ", out, 20), DDAS_OK);
  assert_string_equal(out, "urn:ddas-worker:%20");
  assert_int_equal(ddas_ce_source_default(" ", out, 19), DDAS_ERR_LIMIT);
  assert_string_equal(out, "");

  /* the builders refuse a source that is not a URI-reference */
  b.ce_source = "urn:ddas-worker:my group";
  in.base = b;
  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_ERR_ARG);
  assert_zeroed(&e);
  b.ce_source = "urn:ddas-worker:my%20group";
  b.delivery_id = "ddas.deliveries/3/1041";
  in.base = b;
  assert_int_equal(ddas_event_forwarded(&in, &e), DDAS_OK);
  assert_hdr(&e, "ce_source", "urn:ddas-worker:my%20group");
  assert_hdr(&e, "ce_subject", "ddas.deliveries/3/1041");
  ddas_event_clear(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rejection_event),
      cmocka_unit_test(rejection_document_scope),
      cmocka_unit_test(rejection_privacy),
      cmocka_unit_test(ce_id_deterministic),
      cmocka_unit_test(processed_receipt),
      cmocka_unit_test(forwarded_receipt),
      cmocka_unit_test(parked_round_trip),
      cmocka_unit_test(parked_identity),
      cmocka_unit_test(parked_parse_errors),
      cmocka_unit_test(parked_builder_checks),
      cmocka_unit_test(argument_checks),
      cmocka_unit_test(utf8_hygiene),
      cmocka_unit_test(allocation_failures),
      cmocka_unit_test(clear_and_lookup),
      cmocka_unit_test(ce_source_and_subject),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
