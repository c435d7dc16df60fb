/* Send outcomes and the configuration-fault stall (ddas/stall.h): every
 * outcome in and out of a stall, the probe rounds, held batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ddas/stall.h"

static ddas_stall_decision on(ddas_stall *s, uint64_t t, ddas_sent o) {
  return ddas_stall_on_sent(s, t, o);
}

static void check(ddas_stall_decision d, ddas_next next, int begins, int ends) {
  assert_int_equal(d.next, next);
  assert_int_equal(d.stall_begins, begins);
  assert_int_equal(d.stall_ends, ends);
}

static void outcomes_without_a_stall(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 3, 2);
  check(on(&s, 1, DDAS_SENT_FORWARDED), DDAS_NEXT_FORWARDED, 0, 0);
  check(on(&s, 2, DDAS_SENT_REFUSED), DDAS_NEXT_PARK, 0, 0);
  check(on(&s, 3, DDAS_SENT_TRANSIENT), DDAS_NEXT_PARK, 0, 0);
  check(on(&s, 4, DDAS_SENT_LOCAL), DDAS_NEXT_PARK, 0, 0);
  /* below the threshold a configuration fault parks */
  check(on(&s, 5, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PARK, 0, 0);
  check(on(&s, 6, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PARK, 0, 0);
  assert_int_equal(s.stalled, 0);
}

static void answers_reset_the_count(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 2, 2);
  on(&s, 1, DDAS_SENT_CONFIG_FAULT);
  on(&s, 2, DDAS_SENT_FORWARDED);
  check(on(&s, 3, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PARK, 0, 0);
  on(&s, 4, DDAS_SENT_REFUSED); /* CBS read the batch: config is fine */
  check(on(&s, 5, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PARK, 0, 0);
  /* transient failures say nothing about the configuration */
  on(&s, 6, DDAS_SENT_TRANSIENT);
  check(on(&s, 7, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 1, 0);
}

static void stall_probes_holds_and_ends_on_forward(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 2, 2);
  on(&s, 1, DDAS_SENT_CONFIG_FAULT);
  check(on(&s, 2, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 1, 0);
  assert_true(s.stalled);
  assert_int_equal(s.probe, 2);
  /* other batches in flight are held, whatever failed them */
  check(on(&s, 3, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_HOLD, 0, 0);
  check(on(&s, 4, DDAS_SENT_TRANSIENT), DDAS_NEXT_HOLD, 0, 0);
  /* one refused for its content is parked; the stall goes on */
  check(on(&s, 5, DDAS_SENT_REFUSED), DDAS_NEXT_PARK, 0, 0);
  assert_true(s.stalled);
  /* the probe keeps probing while CBS answers with a configuration fault */
  check(on(&s, 2, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 0, 0);
  check(on(&s, 2, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 0, 0);
  /* the probe forwarded ends the stall */
  check(on(&s, 2, DDAS_SENT_FORWARDED), DDAS_NEXT_FORWARDED, 0, 1);
  assert_false(s.stalled);
  assert_int_equal(s.consecutive, 0);
}

static void probe_transient_rounds_are_bounded(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 1, 2);
  check(on(&s, 9, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 1, 0);
  check(on(&s, 9, DDAS_SENT_TRANSIENT), DDAS_NEXT_PROBE, 0, 0);
  check(on(&s, 9, DDAS_SENT_TRANSIENT), DDAS_NEXT_PROBE, 0, 0);
  check(on(&s, 9, DDAS_SENT_TRANSIENT), DDAS_NEXT_PARK, 0, 1);
  assert_false(s.stalled);
  /* a configuration fault answer in between starts the rounds again */
  check(on(&s, 8, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 1, 0);
  on(&s, 8, DDAS_SENT_TRANSIENT);
  on(&s, 8, DDAS_SENT_CONFIG_FAULT);
  check(on(&s, 8, DDAS_SENT_TRANSIENT), DDAS_NEXT_PROBE, 0, 0);
  check(on(&s, 8, DDAS_SENT_TRANSIENT), DDAS_NEXT_PROBE, 0, 0);
  check(on(&s, 8, DDAS_SENT_TRANSIENT), DDAS_NEXT_PARK, 0, 1);
}

static void probe_refused_or_local_parks_and_resumes(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 1, 3);
  on(&s, 1, DDAS_SENT_CONFIG_FAULT);
  check(on(&s, 1, DDAS_SENT_REFUSED), DDAS_NEXT_PARK, 0, 1);
  on(&s, 2, DDAS_SENT_CONFIG_FAULT);
  check(on(&s, 2, DDAS_SENT_LOCAL), DDAS_NEXT_PARK, 0, 1);
  assert_false(s.stalled);
}

static void abandoned_probe_ends_the_stall(void **state) {
  ddas_stall s;
  (void)state;
  ddas_stall_init(&s, 1, 3);
  assert_int_equal(ddas_stall_abandoned(&s, 1), 0);
  on(&s, 1, DDAS_SENT_CONFIG_FAULT);
  assert_int_equal(ddas_stall_abandoned(&s, 2), 0); /* not the probe */
  assert_true(s.stalled);
  assert_int_equal(ddas_stall_abandoned(&s, 1), 1);
  assert_false(s.stalled);
  /* threshold 0 is taken as 1 */
  ddas_stall_init(&s, 0, 0);
  check(on(&s, 3, DDAS_SENT_CONFIG_FAULT), DDAS_NEXT_PROBE, 1, 0);
  check(on(&s, 3, DDAS_SENT_TRANSIENT), DDAS_NEXT_PARK, 0, 1);
}

static void flow_control_with_hysteresis(void **state) {
  (void)state;
  assert_int_equal(ddas_flow_full(0, 99, 100), 0);
  assert_int_equal(ddas_flow_full(0, 100, 100), 1);
  assert_int_equal(ddas_flow_full(1, 80, 100), 1); /* draining */
  assert_int_equal(ddas_flow_full(0, 80, 100), 0); /* filling */
  assert_int_equal(ddas_flow_full(1, 74, 100), 0);
  /* a stall pauses everything; full spares partitions with an open
   * delivery, so it can complete and free its bytes */
  assert_int_equal(ddas_flow_pause(1, 0, 1), 1);
  assert_int_equal(ddas_flow_pause(1, 1, 1), 1);
  assert_int_equal(ddas_flow_pause(0, 1, 0), 1);
  assert_int_equal(ddas_flow_pause(0, 1, 1), 0);
  assert_int_equal(ddas_flow_pause(0, 0, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(outcomes_without_a_stall),
      cmocka_unit_test(answers_reset_the_count),
      cmocka_unit_test(stall_probes_holds_and_ends_on_forward),
      cmocka_unit_test(probe_transient_rounds_are_bounded),
      cmocka_unit_test(probe_refused_or_local_parks_and_resumes),
      cmocka_unit_test(abandoned_probe_ends_the_stall),
      cmocka_unit_test(flow_control_with_hysteresis),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
