/* Delivery assembly: every action, every transition, and the offsets
 * (ddas/assembly.h). A small driver feeds messages and checks the actions
 * and the committable offset after each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ddas/alloc.h"
#include "ddas/assembly.h"

typedef struct {
  ddas_assembler *a;
  ddas_asm_action acts[DDAS_ASM_MAX_ACTIONS];
  size_t n;
} fx;

static int setup(void **state) {
  static fx f;
  memset(&f, 0, sizeof(f));
  assert_int_equal(ddas_asm_new(1000, &f.a), DDAS_OK);
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  ddas_asm_free(f->a);
  return 0;
}

/* Feeds one message; chunk NULL is a whole delivery. */
static void msg(fx *f, int64_t off, const char *id, const char *chunk,
                uint64_t now) {
  ddas_asm_message_in m;
  m.offset = off;
  m.delivery_id = id;
  m.chunk_header = chunk;
  m.now_ms = now;
  assert_int_equal(ddas_asm_message(f->a, &m, f->acts, &f->n), DDAS_OK);
}

static void expect(const ddas_asm_action *x, ddas_asm_kind k,
                   ddas_asm_reason why) {
  assert_int_equal(x->kind, k);
  assert_int_equal(x->reason, why);
}

static void whole_delivery_is_checked_and_complete(void **state) {
  fx *f = *state;
  uint64_t h;
  size_t n;
  msg(f, 0, "d1", NULL, 0);
  assert_int_equal(f->n, 2);
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[0].first, 1);
  assert_int_equal(f->acts[0].chunk, 1);
  assert_int_equal(f->acts[0].offset, 0);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  h = f->acts[0].delivery;
  assert_true(h != 0);
  assert_int_equal(f->acts[1].delivery, h);
  assert_int_equal(ddas_asm_offsets(f->a, h, &n)[0], 0);
  assert_int_equal(n, 1);
  /* not durable yet: nothing to commit */
  assert_int_equal(ddas_asm_committable(f->a), 0);
  assert_int_equal(ddas_asm_ended(f->a), 1);
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 1);
  assert_int_equal(ddas_asm_ended(f->a), 0);
  assert_int_equal(ddas_asm_pending(f->a), 0);
  /* a handle is done once */
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_ERR_ARG);
}

static void chunks_in_order_make_one_delivery(void **state) {
  fx *f = *state;
  uint64_t h;
  size_t n;
  const int64_t *offs;
  msg(f, 5, "big", "1/3", 0);
  assert_int_equal(f->n, 1);
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[0].nchunks, 3);
  h = f->acts[0].delivery;
  /* not ended: done is refused */
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_ERR_ARG);
  msg(f, 6, "big", "2/3", 10);
  assert_int_equal(f->n, 1);
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[0].first, 0);
  assert_int_equal(f->acts[0].delivery, h);
  msg(f, 7, "big", "3/3", 20);
  assert_int_equal(f->n, 2);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  offs = ddas_asm_offsets(f->a, h, &n);
  assert_int_equal(n, 3);
  assert_int_equal(offs[0], 5);
  assert_int_equal(offs[2], 7);
  assert_int_equal(ddas_asm_committable(f->a), 5);
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 8);
}

/* The regression of the blocking loop: chunks 1/3 and 3/3 of a delivery,
 * then five deliveries with the same key on the same partition. Chunk 3 is
 * dropped with an event of its own, the delivery ends incomplete after
 * chunk 1, and the offsets advance past chunk 3 and past the deliveries
 * that follow once their outcomes are durable. */
static void skipped_chunk_drops_it_and_offsets_advance(void **state) {
  fx *f = *state;
  uint64_t h, later[5];
  int i;
  msg(f, 0, "x", "1/3", 0);
  h = f->acts[0].delivery;
  msg(f, 1, "x", "3/3", 1);
  assert_int_equal(f->n, 2);
  expect(&f->acts[0], DDAS_ASM_INCOMPLETE, DDAS_ASM_WHY_GAP);
  assert_int_equal(f->acts[0].delivery, h);
  assert_int_equal(f->acts[0].seen, 1);
  assert_int_equal(f->acts[0].nchunks, 3);
  expect(&f->acts[1], DDAS_ASM_DROP, DDAS_ASM_WHY_GAP);
  assert_int_equal(f->acts[1].offset, 1);
  assert_int_equal(f->acts[1].chunk, 3);
  for(i = 0; i < 5; i++) {
    char id[8];
    snprintf(id, sizeof(id), "n%d", i);
    msg(f, 2 + i, id, NULL, 2);
    expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
    expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
    later[i] = f->acts[0].delivery;
  }
  assert_int_equal(ddas_asm_pending(f->a), 7);
  for(i = 0; i < 5; i++)
    assert_int_equal(ddas_asm_delivery_done(f->a, later[i]), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 0);
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 1); /* the dropped chunk */
  ddas_asm_offset_done(f->a, 1);
  assert_int_equal(ddas_asm_committable(f->a), 7);
  assert_int_equal(ddas_asm_pending(f->a), 0);
}

static void restart_ends_the_earlier_run_incomplete(void **state) {
  fx *f = *state;
  uint64_t h1, h2;
  msg(f, 0, "r", "1/2", 0);
  h1 = f->acts[0].delivery;
  msg(f, 1, "r", "1/2", 1);
  assert_int_equal(f->n, 2);
  expect(&f->acts[0], DDAS_ASM_INCOMPLETE, DDAS_ASM_WHY_RESTARTED);
  assert_int_equal(f->acts[0].delivery, h1);
  assert_int_equal(f->acts[0].seen, 1);
  expect(&f->acts[1], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[1].first, 1);
  h2 = f->acts[1].delivery;
  assert_true(h2 != h1);
  msg(f, 2, "r", "2/2", 2);
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[0].delivery, h2);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  assert_int_equal(ddas_asm_delivery_done(f->a, h2), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 0);
  assert_int_equal(ddas_asm_delivery_done(f->a, h1), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 3);
}

/* A whole delivery with the id of an open chunked one restarts it too. */
static void whole_delivery_restarts_an_open_one(void **state) {
  fx *f = *state;
  msg(f, 0, "w", "1/2", 0);
  msg(f, 1, "w", NULL, 1);
  assert_int_equal(f->n, 3);
  expect(&f->acts[0], DDAS_ASM_INCOMPLETE, DDAS_ASM_WHY_RESTARTED);
  expect(&f->acts[1], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  expect(&f->acts[2], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
}

static void duplicate_chunk_is_done_at_once(void **state) {
  fx *f = *state;
  uint64_t h;
  msg(f, 0, "d", "1/3", 0);
  h = f->acts[0].delivery;
  msg(f, 1, "d", "2/3", 1);
  msg(f, 2, "d", "2/3", 2);
  assert_int_equal(f->n, 1);
  expect(&f->acts[0], DDAS_ASM_DUPLICATE, DDAS_ASM_WHY_NONE);
  assert_int_equal(f->acts[0].delivery, h);
  assert_int_equal(f->acts[0].offset, 2);
  msg(f, 3, "d", "3/3", 3);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  /* the duplicate's offset never let the commit pass chunk 1 */
  assert_int_equal(ddas_asm_committable(f->a), 0);
  assert_int_equal(ddas_asm_delivery_done(f->a, h), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 4);
}

static void orphan_chunk_is_dropped(void **state) {
  fx *f = *state;
  msg(f, 10, "o", "2/4", 0);
  assert_int_equal(f->n, 1);
  expect(&f->acts[0], DDAS_ASM_DROP, DDAS_ASM_WHY_ORPHAN);
  assert_int_equal(f->acts[0].delivery, 0);
  assert_int_equal(f->acts[0].offset, 10);
  assert_int_equal(f->acts[0].chunk, 2);
  assert_int_equal(f->acts[0].nchunks, 4);
  assert_int_equal(ddas_asm_committable(f->a), 10);
  ddas_asm_offset_done(f->a, 10);
  assert_int_equal(ddas_asm_committable(f->a), 11);
  /* a chunk of a delivery that already ended is an orphan as well */
  msg(f, 11, "c", "1/1", 1);
  msg(f, 12, "c", "1/1", 2); /* a whole new run of it: fine */
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
  msg(f, 13, "e", "1/2", 3);
  msg(f, 14, "e", "2/2", 4);
  msg(f, 15, "e", "2/2", 5);
  expect(&f->acts[0], DDAS_ASM_DROP, DDAS_ASM_WHY_ORPHAN);
}

static void chunk_count_change_ends_the_delivery(void **state) {
  fx *f = *state;
  msg(f, 0, "k", "1/3", 0);
  msg(f, 1, "k", "2/4", 1);
  assert_int_equal(f->n, 2);
  expect(&f->acts[0], DDAS_ASM_INCOMPLETE, DDAS_ASM_WHY_COUNT);
  expect(&f->acts[1], DDAS_ASM_DROP, DDAS_ASM_WHY_COUNT);
}

static void malformed_chunk_header_is_dropped(void **state) {
  fx *f = *state;
  static const char *bad[] = {"",    "1",    "0/1",  "2/1",  "1/100001",
                              "a/2", "1/2x", "-1/2", "1//2", "1234567/1234567",
                              " 1/2"};
  size_t i;
  for(i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    msg(f, (int64_t)i, "m", bad[i], 0);
    assert_int_equal(f->n, 1);
    expect(&f->acts[0], DDAS_ASM_DROP, DDAS_ASM_WHY_HEADER);
  }
  msg(f, 100, "m", "100000/100000", 0); /* the largest count: an orphan */
  expect(&f->acts[0], DDAS_ASM_DROP, DDAS_ASM_WHY_ORPHAN);
}

static void interleaved_deliveries_on_one_partition(void **state) {
  fx *f = *state;
  uint64_t ha, hb;
  msg(f, 0, "a", "1/2", 0);
  ha = f->acts[0].delivery;
  msg(f, 1, "b", "1/2", 0);
  hb = f->acts[0].delivery;
  assert_int_equal(ddas_asm_open(f->a), 2);
  msg(f, 2, "b", "2/2", 0);
  assert_int_equal(f->acts[0].delivery, hb);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  msg(f, 3, "a", "2/2", 0);
  assert_int_equal(f->acts[0].delivery, ha);
  expect(&f->acts[1], DDAS_ASM_COMPLETE, DDAS_ASM_WHY_NONE);
  /* b is durable first: a still holds offset 0 */
  assert_int_equal(ddas_asm_delivery_done(f->a, hb), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 0);
  assert_int_equal(ddas_asm_delivery_done(f->a, ha), DDAS_OK);
  assert_int_equal(ddas_asm_committable(f->a), 4);
}

static void timeout_ends_only_overdue_deliveries(void **state) {
  fx *f = *state;
  ddas_asm_action acts[4];
  uint64_t ha;
  msg(f, 0, "a", "1/2", 0);
  ha = f->acts[0].delivery;
  msg(f, 1, "b", "1/2", 800);
  assert_int_equal(ddas_asm_tick(f->a, 1000, acts, 4), 0); /* not over */
  assert_int_equal(ddas_asm_tick(f->a, 1001, acts, 4), 1);
  expect(&acts[0], DDAS_ASM_INCOMPLETE, DDAS_ASM_WHY_TIMEOUT);
  assert_int_equal(acts[0].delivery, ha);
  assert_int_equal(acts[0].seen, 1);
  /* reported once */
  assert_int_equal(ddas_asm_tick(f->a, 1500, acts, 4), 0);
  assert_int_equal(ddas_asm_open(f->a), 1);
  /* its late chunk is dropped */
  msg(f, 2, "a", "2/2", 1600);
  expect(&f->acts[0], DDAS_ASM_DROP, DDAS_ASM_WHY_ORPHAN);
  assert_int_equal(ddas_asm_tick(f->a, 1801, acts, 1), 1); /* b */
  assert_int_equal(ddas_asm_open(f->a), 0);
  assert_int_equal(ddas_asm_ended(f->a), 2);
}

static void revoke_abandons_everything_and_forgets_offsets(void **state) {
  fx *f = *state;
  ddas_asm_action acts[2];
  uint64_t h1, h2, h3;
  msg(f, 0, "a", "1/2", 0);
  h1 = f->acts[0].delivery;
  msg(f, 1, "b", NULL, 0); /* ended, not durable */
  h2 = f->acts[0].delivery;
  msg(f, 2, "c", "5/6", 0); /* dropped, not durable */
  assert_int_equal(ddas_asm_revoke(f->a, acts, 1), 1);
  expect(&acts[0], DDAS_ASM_ABANDON, DDAS_ASM_WHY_REVOKED);
  assert_int_equal(acts[0].delivery, h1);
  assert_int_equal(ddas_asm_revoke(f->a, acts, 2), 1);
  assert_int_equal(acts[0].delivery, h2);
  assert_int_equal(ddas_asm_open(f->a) + ddas_asm_ended(f->a), 0);
  assert_int_equal(ddas_asm_pending(f->a), 0);
  assert_int_equal(ddas_asm_committable(f->a), -1);
  assert_int_equal(ddas_asm_delivery_done(f->a, h2), DDAS_ERR_ARG);
  /* assigned again: the same messages come again and get new handles */
  msg(f, 0, "a", "1/2", 0);
  h3 = f->acts[0].delivery;
  assert_true(h3 != h1 && h3 != h2);
  expect(&f->acts[0], DDAS_ASM_CHECK, DDAS_ASM_WHY_NONE);
}

static void repeated_offset_is_ignored(void **state) {
  fx *f = *state;
  uint64_t h;
  msg(f, 4, "a", "1/2", 0);
  h = f->acts[0].delivery;
  msg(f, 4, "a", "1/2", 0);
  assert_int_equal(f->n, 1);
  expect(&f->acts[0], DDAS_ASM_REPEAT, DDAS_ASM_WHY_NONE);
  msg(f, 3, "z", NULL, 0);
  expect(&f->acts[0], DDAS_ASM_REPEAT, DDAS_ASM_WHY_NONE);
  assert_int_equal(ddas_asm_open(f->a), 1);
  msg(f, 5, "a", "2/2", 0);
  assert_int_equal(f->acts[0].delivery, h);
}

static void bad_arguments_change_nothing(void **state) {
  fx *f = *state;
  ddas_asm_message_in m;
  memset(&m, 0, sizeof(m));
  m.offset = 1;
  assert_int_equal(ddas_asm_message(f->a, &m, f->acts, &f->n), DDAS_ERR_ARG);
  m.delivery_id = "";
  assert_int_equal(ddas_asm_message(f->a, &m, f->acts, &f->n), DDAS_ERR_ARG);
  m.delivery_id = "x";
  m.offset = -1;
  assert_int_equal(ddas_asm_message(f->a, &m, f->acts, &f->n), DDAS_ERR_ARG);
  assert_int_equal(f->n, 0);
  assert_int_equal(ddas_asm_pending(f->a), 0);
  assert_int_equal(ddas_asm_committable(f->a), -1);
  assert_int_equal(ddas_asm_delivery_done(f->a, 12345), DDAS_ERR_ARG);
  assert_string_equal(ddas_asm_reason_id(DDAS_ASM_WHY_GAP), "gap");
  assert_string_equal(ddas_asm_reason_text(DDAS_ASM_WHY_GAP),
                      "a chunk is missing");
}

/* Out of memory at every allocation of a busy sequence: the call fails
 * with NOMEM and leaves the assembler as it was (the same message then
 * succeeds), and nothing leaks (ASan). */
static void out_of_memory_changes_nothing(void **state) {
  static const struct {
    const char *id, *chunk;
  } seq[] = {{"a", "1/3"}, {"b", NULL},  {"a", "2/3"}, {"a", "1/3"},
             {"c", "1/2"}, {"a", "3/3"}, {"c", "2/2"}};
  fx *f = *state;
  size_t i;
  (void)f;
  for(i = 0; i < sizeof(seq) / sizeof(*seq); i++) {
    ddas_asm_message_in m;
    ddas_asm_action acts[DDAS_ASM_MAX_ACTIONS];
    size_t n, pend = ddas_asm_pending(f->a), open = ddas_asm_open(f->a);
    unsigned long k;
    m.offset = (int64_t)i;
    m.delivery_id = seq[i].id;
    m.chunk_header = seq[i].chunk;
    m.now_ms = 0;
    for(k = 1; k < 6; k++) {
      ddas_result r;
      ddas_alloc_fail_at(k);
      r = ddas_asm_message(f->a, &m, acts, &n);
      ddas_alloc_fail_at(0);
      if(r == DDAS_OK)
        break;
      assert_int_equal(r, DDAS_ERR_NOMEM);
      assert_int_equal(ddas_asm_pending(f->a), pend);
      assert_int_equal(ddas_asm_open(f->a), open);
    }
    assert_true(k < 6);
  }
  assert_int_equal(ddas_asm_ended(f->a), 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(whole_delivery_is_checked_and_complete),
      T(chunks_in_order_make_one_delivery),
      T(skipped_chunk_drops_it_and_offsets_advance),
      T(restart_ends_the_earlier_run_incomplete),
      T(whole_delivery_restarts_an_open_one),
      T(duplicate_chunk_is_done_at_once),
      T(orphan_chunk_is_dropped),
      T(chunk_count_change_ends_the_delivery),
      T(malformed_chunk_header_is_dropped),
      T(interleaved_deliveries_on_one_partition),
      T(timeout_ends_only_overdue_deliveries),
      T(revoke_abandons_everything_and_forgets_offsets),
      T(repeated_offset_is_ignored),
      T(bad_arguments_change_nothing),
      T(out_of_memory_changes_nothing),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
