/* The strict JSON parser: values, spans, positions, pointers, and survival
 * of every allocation failure. Input defects are covered data-driven in
 * test_cases (tests/cases/input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/ddas.h"
#include "testutil.h"

static ddas_json_doc *parse_ok(const char *s) {
  ddas_json_doc *d = NULL;
  ddas_json_error e;
  ddas_result r = ddas_json_parse(s, strlen(s), NULL, &d, &e);
  if(r)
    printf("unexpected error: %s at %zu\n", e.message, e.offset);
  assert_int_equal(r, DDAS_OK);
  return d;
}

static const char *parse_err(const char *s, size_t n, ddas_json_error *e) {
  ddas_json_doc *d = NULL;
  ddas_result r = ddas_json_parse(s, n, NULL, &d, e);
  assert_int_not_equal(r, DDAS_OK);
  assert_null(d);
  return e->code;
}

static void scalars_and_flags(void **state) {
  ddas_json_doc *d =
      parse_ok(" [0, -0, 12, -3.5, 1e2, 1.0, 2.5E-3, 123456789012345678901, "
               "true, false, null, \"x\"] ");
  const ddas_json *a = ddas_json_root(d);
  (void)state;
  assert_int_equal(a->type, DDAS_JSON_ARRAY);
  assert_int_equal(a->n, 12);
  assert_true(a->u.items[0].flags & DDAS_JSON_F_INTEGRAL);
  assert_true(a->u.items[2].u.num == 12);
  assert_true(a->u.items[3].u.num == -3.5);
  assert_false(a->u.items[3].flags & DDAS_JSON_F_INTEGRAL);
  assert_true(a->u.items[4].u.num == 100);
  assert_true(a->u.items[4].flags & DDAS_JSON_F_INTEGRAL);
  assert_true(a->u.items[5].flags & DDAS_JSON_F_INTEGRAL); /* 1.0 is integral */
  assert_true(a->u.items[6].u.num == 2.5e-3);
  assert_true(a->u.items[7].u.num > 1.2e20);
  assert_int_equal(a->u.items[8].type, DDAS_JSON_TRUE);
  assert_int_equal(a->u.items[9].type, DDAS_JSON_FALSE);
  assert_int_equal(a->u.items[10].type, DDAS_JSON_NULL);
  assert_int_equal(a->u.items[11].type, DDAS_JSON_STRING);
  assert_string_equal(ddas_json_type_name(&a->u.items[5]), "integer");
  /* spans are byte offsets into the input */
  assert_int_equal(a->start, 1);
  assert_int_equal(a->u.items[2].start, 9);
  assert_int_equal(a->u.items[2].end, 11);
  ddas_json_doc_free(d);
}

static void exact_decimal_conversion(void **state) {
  ddas_json_doc *d = parse_ok("[0.1, 123.456, 1e-7, 9007199254740993, 0.3e1]");
  const ddas_json *a = ddas_json_root(d);
  (void)state;
  assert_true(a->u.items[0].u.num == 0.1);
  assert_true(a->u.items[1].u.num == 123.456);
  assert_true(a->u.items[2].u.num == 1e-7);
  assert_true(a->u.items[3].u.num == 9007199254740993.0);
  assert_true(a->u.items[4].u.num == 3.0);
  ddas_json_doc_free(d);
}

static void strings_and_escapes(void **state) {
  ddas_json_doc *d =
      parse_ok("{\"a\\/b\": \"tab\\there \\\"q\\\" \\u00e9 \\ud83d\\ude00\", "
               "\"plain\": \"caf\xc3\xa9\", \"nul\": \"x\\u0000y\"}");
  const ddas_json *o = ddas_json_root(d);
  const ddas_json *v;
  (void)state;
  assert_int_equal(o->n, 3);
  assert_int_equal(o->u.members[0].key_len, 3);
  assert_memory_equal(o->u.members[0].key, "a/b", 3);
  v = &o->u.members[0].value;
  assert_true(v->flags & DDAS_JSON_F_ESCAPED);
  assert_int_equal(v->n, strlen("tab\there \"q\" \xc3\xa9 \xf0\x9f\x98\x80"));
  assert_memory_equal(v->u.str, "tab\there \"q\" \xc3\xa9 \xf0\x9f\x98\x80",
                      v->n);
  v = ddas_json_get(o, "plain");
  assert_false(v->flags & DDAS_JSON_F_ESCAPED);
  assert_int_equal(v->n, 5);
  v = ddas_json_get(o, "nul");
  assert_int_equal(v->n, 3); /* an escaped NUL is data, kept with its length */
  assert_null(ddas_json_get(o, "missing"));
  ddas_json_doc_free(d);
}

static void long_strings_use_the_fast_path_correctly(void **state) {
  /* quotes and escapes at every position relative to 8-byte words */
  size_t pos;
  (void)state;
  for(pos = 0; pos < 24; pos++) {
    char buf[64], want[40];
    ddas_json_doc *d;
    memset(want, 'a', sizeof(want));
    snprintf(buf, sizeof(buf), "[\"%.*s\\\\%.*s\"]", (int)pos, want,
             (int)(24 - pos), want);
    d = parse_ok(buf);
    assert_int_equal(ddas_json_root(d)->u.items[0].n, 25);
    assert_int_equal(ddas_json_root(d)->u.items[0].u.str[pos], '\\');
    ddas_json_doc_free(d);
  }
}

static void error_positions(void **state) {
  ddas_json_error e;
  const char *s = "{\n  \"a\": [1,\n   2,, 3]\n}";
  (void)state;
  assert_string_equal(parse_err(s, strlen(s), &e), "syntax");
  assert_int_equal(e.line, 3);
  assert_int_equal(e.column, 6);
  assert_int_equal(e.offset, 18);
  assert_string_equal(e.pointer, "/a/2");
  assert_null(strstr(e.message, "2,,")); /* no input quoted */
}

static void defect_codes(void **state) {
  ddas_json_error e;
  (void)state;
  assert_string_equal(parse_err("", 0, &e), "empty");
  assert_string_equal(parse_err("{\"a\":1,\"a\":2}", 13, &e), "duplicate-key");
  assert_string_equal(e.pointer, "/a");
  assert_string_equal(parse_err("[1e999]", 7, &e), "number-range");
  assert_string_equal(parse_err("[-1e999]", 8, &e), "number-range");
  assert_string_equal(parse_err("[\"\\ud800\"]", 10, &e), "surrogate");
  assert_string_equal(parse_err("[\"a\0b\"]", 7, &e), "control-char");
  assert_string_equal(parse_err("[\"\xf5\x80\x80\x80\"]", 8, &e), "utf8");
  assert_string_equal(parse_err("[\"\xf4\x90\x80\x80\"]", 8, &e), "utf8");
  assert_string_equal(parse_err("[1] x", 5, &e), "trailing");
  assert_string_equal(parse_err("[01]", 4, &e), "syntax");
  assert_string_equal(parse_err("[1.]", 4, &e), "syntax");
  assert_string_equal(parse_err("[.5]", 4, &e), "syntax");
  assert_string_equal(parse_err("[1e]", 4, &e), "syntax");
  assert_string_equal(parse_err("[+1]", 4, &e), "syntax");
  assert_string_equal(parse_err("[tru]", 5, &e), "syntax");
  assert_string_equal(parse_err("{\"a\" 1}", 7, &e), "syntax");
  assert_string_equal(parse_err("{1:2}", 5, &e), "syntax");
  assert_string_equal(parse_err("[1,]", 4, &e), "syntax");
  /* numbers at the very end of an unterminated buffer: no over-read */
  assert_string_equal(parse_err("1.25e", 5, &e), "syntax");
  {
    ddas_json_doc *d = NULL;
    assert_int_equal(ddas_json_parse("-12.5e-1", 8, NULL, &d, &e), DDAS_OK);
    assert_true(ddas_json_root(d)->u.num == -1.25);
    ddas_json_doc_free(d);
  }
}

static void duplicate_keys_in_large_objects(void **state) {
  /* more than 16 members takes the hashed path */
  char buf[4096];
  size_t w = 0, i;
  ddas_json_error e;
  ddas_json_doc *d;
  (void)state;
  w += (size_t)snprintf(buf + w, sizeof(buf) - w, "{");
  for(i = 0; i < 100; i++)
    w += (size_t)snprintf(buf + w, sizeof(buf) - w, "%s\"k%zu\":%zu",
                          i ? "," : "", i, i);
  snprintf(buf + w, sizeof(buf) - w, "}");
  d = parse_ok(buf);
  assert_int_equal(ddas_json_root(d)->n, 100);
  ddas_json_doc_free(d);
  buf[w] = '\0';
  snprintf(buf + w, sizeof(buf) - w, ",\"k57\":1}");
  assert_string_equal(parse_err(buf, strlen(buf), &e), "duplicate-key");
  assert_string_equal(e.pointer, "/k57");
}

/* on_duplicate collector: the pointers reported, joined by spaces */
typedef struct {
  char pointers[512];
  size_t n;
} dup_log;

static void log_duplicate(void *ctx, const ddas_json_error *e) {
  dup_log *l = ctx;
  size_t w = strlen(l->pointers);
  assert_string_equal(e->code, "duplicate-key");
  assert_true(e->line >= 1 && e->column >= 1);
  snprintf(l->pointers + w, sizeof(l->pointers) - w, "%s%s", w ? " " : "",
           e->pointer);
  l->n++;
}

static void every_duplicate_is_reported(void **state) {
  ddas_json_options o = {0};
  ddas_json_error e;
  ddas_json_doc *d = NULL;
  dup_log l;
  char buf[4096];
  size_t w = 0, i;
  static const char small[] =
      "{\"a\":1,\"b\":2,\"a\":3,\"a\":4,\"b\":5,\"c\":{\"x\":1,\"x\":2}}";
  (void)state;
  o.on_duplicate = log_duplicate;
  o.ctx = &l;
  memset(&l, 0, sizeof(l));
  /* a name given three times is two repetitions; the inner object closes,
   * and is checked, first */
  assert_int_equal(ddas_json_parse(small, strlen(small), &o, &d, &e),
                   DDAS_ERR_SYNTAX);
  assert_null(d);
  assert_string_equal(e.code, ""); /* the duplicates were the only defect */
  assert_int_equal(l.n, 4);
  assert_string_equal(l.pointers, "/c/x /a /a /b");
  /* the hashed path of objects with more than 16 members, then a syntax
   * error after the object: err describes that one */
  memset(&l, 0, sizeof(l));
  w += (size_t)snprintf(buf + w, sizeof(buf) - w, "[{");
  for(i = 0; i < 100; i++)
    w += (size_t)snprintf(buf + w, sizeof(buf) - w, "%s\"k%zu\":%zu",
                          i ? "," : "", i % 90, i);
  snprintf(buf + w, sizeof(buf) - w, "},x]");
  assert_int_equal(ddas_json_parse(buf, strlen(buf), &o, &d, &e),
                   DDAS_ERR_SYNTAX);
  assert_string_equal(e.code, "syntax");
  assert_int_equal(l.n, 10);
  assert_non_null(strstr(l.pointers, "/0/k0 /0/k1 "));
  assert_non_null(strstr(l.pointers, " /0/k9"));
  /* without on_duplicate the first one stops the parse, as before */
  assert_string_equal(parse_err(small, strlen(small), &e), "duplicate-key");
  assert_string_equal(e.pointer, "/c/x");
}

/* Parses buf with opt and checks the allocator's high-water mark against
 * the budget; returns the error code ("" on success). */
static const char *parse_within_budget(const char *buf, size_t len,
                                       const ddas_json_options *opt,
                                       ddas_json_error *e) {
  ddas_json_doc *d = NULL;
  size_t base = ddas_alloc_in_use(), budget = ddas_json_memory_budget(len, opt);
  ddas_result r;
  ddas_alloc_peak_reset();
  r = ddas_json_parse(buf, len, opt, &d, e);
  if(ddas_alloc_peak() - base > budget)
    fail_msg("%zu bytes of input took %zu bytes, over the budget of %zu", len,
             ddas_alloc_peak() - base, budget);
  ddas_json_doc_free(d);
  assert_int_equal(ddas_alloc_in_use(), base); /* nothing kept */
  return r ? e->code : "";
}

/* n bytes: `open`, then `item` repeated (separated by `sep`), then `close` */
static char *repeat(const char *open, const char *item, const char *sep,
                    const char *close, size_t n, size_t *len) {
  char *b = malloc(n + 1);
  size_t w = strlen(open), li = strlen(item), ls = strlen(sep),
         lc = strlen(close);
  assert_non_null(b);
  memcpy(b, open, w);
  while(w + ls + li + lc <= n) {
    memcpy(b + w, item, li);
    w += li;
    if(w + ls + li + lc > n)
      break;
    memcpy(b + w, sep, ls);
    w += ls;
  }
  memcpy(b + w, close, lc);
  w += lc;
  b[w] = '\0';
  *len = w;
  return b;
}

static void memory_stays_within_the_budget(void **state) {
  /* the 100 MB of [0,0,...] took 24 times its size; scaled down to
   * 4 MB, each pattern must stay within 4 times the input plus 1 MiB */
  static const struct {
    const char *open, *item, *sep, *close, *code;
  } pat[] = {{"[", "0", ",", "]", "memory-limit"},
             {"[", "[]", ",", "]", "memory-limit"},
             {"[", "{}", ",", "]", "memory-limit"},
             {"[", "[0,0,0]", ",", "]", "memory-limit"},
             {"{\"a\":", "{\"a\":", "", "0}", "depth"},
             {"[", "[", "", "]", "depth"}};
  const size_t n = (size_t)4 << 20;
  size_t i, len;
  ddas_json_error e;
  ddas_json_options o = {0};
  char *buf, *ex;
  (void)state;
  for(i = 0; i < sizeof(pat) / sizeof(pat[0]); i++) {
    buf = repeat(pat[i].open, pat[i].item, pat[i].sep, pat[i].close, n, &len);
    assert_string_equal(parse_within_budget(buf, len, NULL, &e), pat[i].code);
    if(strcmp(pat[i].code, "memory-limit") == 0) {
      assert_non_null(strstr(e.message, "4 times the input plus 1 MiB"));
      assert_non_null(strstr(e.message, "--max-memory"));
    }
    /* the deepest allowed nesting cannot escape the budget either */
    o.max_depth = 10000;
    assert_string_equal(parse_within_budget(buf, len, &o, &e), pat[i].code);
    free(buf);
  }
  /* a big object of tiny members */
  {
    char *b = malloc(n + 32);
    size_t w = 0, k = 0;
    assert_non_null(b);
    b[w++] = '{';
    while(w < n)
      w += (size_t)sprintf(b + w, "%s\"%zx\":0", k ? "," : "", k), k++;
    b[w++] = '}';
    assert_string_equal(parse_within_budget(b, w, NULL, &e), "memory-limit");
    free(b);
  }
  /* real data passes: 4 MB of official example deliveries in an array */
  ex = tu_read(SOURCE_DIR "/config/examples/shv-v1.0-meervoudig.json", &len);
  {
    size_t blen;
    char *b = repeat("[", ex, ",", "]", n, &blen);
    assert_string_equal(parse_within_budget(b, blen, NULL, &e), "");
    /* an explicit budget replaces the default, both ways */
    o.max_depth = 0;
    o.max_memory = 100000;
    assert_string_equal(parse_within_budget(b, blen, &o, &e), "memory-limit");
    assert_non_null(strstr(e.message, "limit of 100000 bytes (as set)"));
    free(b);
    o.max_memory = (size_t)64 << 20; /* 1 MB of [0,...] needs about 40 */
    b = repeat("[", "0", ",", "]", n / 4, &blen);
    assert_string_equal(parse_within_budget(b, blen, &o, &e), "");
    free(b);
    /* 24 MB: the tree's chunks are mapped huge pages (2 MiB and more,
     * ddas_pages_alloc), counted, and all given back */
    b = repeat("[", ex, ",", "]", 6 * n, &blen);
    assert_string_equal(parse_within_budget(b, blen, NULL, &e), "");
    o.max_memory = blen + blen / 2; /* a tight budget: smaller last chunk */
    assert_string_equal(parse_within_budget(b, blen, &o, &e), "");
    o.max_memory = blen / 2;
    assert_string_equal(parse_within_budget(b, blen, &o, &e), "memory-limit");
    free(b);
  }
  free(ex);
}

static void depth_limit(void **state) {
  char buf[300];
  ddas_json_error e;
  ddas_json_doc *d = NULL;
  ddas_json_options o = {0};
  (void)state;
  memset(buf, '[', 64);
  memset(buf + 64, ']', 64);
  assert_int_equal(ddas_json_parse(buf, 128, NULL, &d, &e), DDAS_OK);
  ddas_json_doc_free(d);
  memset(buf, '[', 65);
  memset(buf + 65, ']', 65);
  assert_int_equal(ddas_json_parse(buf, 130, NULL, &d, &e), DDAS_ERR_LIMIT);
  assert_string_equal(e.code, "depth");
  o.max_depth = 100;
  assert_int_equal(ddas_json_parse(buf, 130, &o, &d, &e), DDAS_OK);
  ddas_json_doc_free(d);
  o.max_depth = 3;
  assert_int_equal(ddas_json_parse("[[[[]]]]", 8, &o, &d, &e), DDAS_ERR_LIMIT);
}

static void equality(void **state) {
  ddas_json_doc *d = parse_ok(
      "[{\"a\":1,\"b\":[true,null]}, {\"b\":[true,null],\"a\":1.0}, {\"a\":1}, "
      "\"x\", \"x\", 1, true]");
  const ddas_json *a = ddas_json_root(d)->u.items;
  (void)state;
  assert_true(ddas_json_equal(&a[0], &a[1]));
  assert_false(ddas_json_equal(&a[0], &a[2]));
  assert_true(ddas_json_equal(&a[3], &a[4]));
  assert_false(ddas_json_equal(&a[5], &a[6]));
  ddas_json_doc_free(d);
}

static void pointers(void **state) {
  char buf[64] = "";
  ddas_json_doc *d = parse_ok("{\"a/b\":{\"m~n\":[10,20]},\"\":3}");
  const ddas_json *v;
  (void)state;
  assert_int_equal(ddas_json_pointer_push_key(buf, sizeof(buf), "a/b", 3), 0);
  assert_int_equal(ddas_json_pointer_push_key(buf, sizeof(buf), "m~n", 3), 0);
  assert_int_equal(ddas_json_pointer_push_index(buf, sizeof(buf), 1), 0);
  assert_string_equal(buf, "/a~1b/m~0n/1");
  v = ddas_json_pointer_get(ddas_json_root(d), buf, strlen(buf));
  assert_non_null(v);
  assert_true(v->u.num == 20);
  v = ddas_json_pointer_get(ddas_json_root(d), "/", 1);
  assert_true(v && v->u.num == 3);
  assert_null(ddas_json_pointer_get(ddas_json_root(d), "/a~1b/m~0n/01", 13));
  assert_null(ddas_json_pointer_get(ddas_json_root(d), "/a~2b", 5));
  /* a token that does not fit leaves the buffer unchanged */
  {
    char small[8] = "/x";
    assert_int_equal(
        ddas_json_pointer_push_key(small, sizeof(small), "abcdefgh", 8), -1);
    assert_string_equal(small, "/x");
  }
  ddas_json_doc_free(d);
}

/* Every allocation of a parse (and of a validation) may fail: the call must
 * return DDAS_ERR_NOMEM (or succeed), never crash or leak (ASan checks). */
static void allocation_failures(void **state) {
  size_t len;
  char *buf =
      tu_read(SOURCE_DIR "/config/examples/shv-v1.0-meervoudig.json", &len);
  unsigned long n;
  int succeeded = 0;
  (void)state;
  for(n = 1; n < 10000 && !succeeded; n++) {
    ddas_json_doc *d = NULL;
    ddas_json_error e;
    ddas_result r;
    ddas_alloc_fail_at(n);
    r = ddas_json_parse(buf, len, NULL, &d, &e);
    ddas_alloc_fail_at(0);
    if(r == DDAS_OK) {
      succeeded = 1;
      ddas_json_doc_free(d);
    } else {
      assert_int_equal(r, DDAS_ERR_NOMEM);
      assert_null(d);
    }
  }
  assert_true(succeeded);
  assert_true(n > 2); /* at least one failure was injected and survived */
  succeeded = 0;
  for(n = 1; n < 100000 && !succeeded; n++) {
    ddas_schemaset *set = NULL;
    ddas_validate_result res;
    char err[300];
    ddas_result r;
    ddas_alloc_fail_at(n);
    r = ddas_schemaset_new(SCHEMA_DIR, &set);
    if(!r)
      r = ddas_validate_buffer(set, NULL, buf, len, &res, err, sizeof(err));
    ddas_alloc_fail_at(0);
    if(r == DDAS_OK && set) {
      succeeded = res.valid;
      assert_true(res.valid);
    } else {
      assert_true(r == DDAS_ERR_NOMEM);
    }
    if(set)
      ddas_validate_result_clear(&res);
    ddas_schemaset_free(set);
  }
  assert_true(succeeded);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scalars_and_flags),
      cmocka_unit_test(exact_decimal_conversion),
      cmocka_unit_test(strings_and_escapes),
      cmocka_unit_test(long_strings_use_the_fast_path_correctly),
      cmocka_unit_test(error_positions),
      cmocka_unit_test(defect_codes),
      cmocka_unit_test(duplicate_keys_in_large_objects),
      cmocka_unit_test(every_duplicate_is_reported),
      cmocka_unit_test(memory_stays_within_the_budget),
      cmocka_unit_test(depth_limit),
      cmocka_unit_test(equality),
      cmocka_unit_test(pointers),
      cmocka_unit_test(allocation_failures)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
