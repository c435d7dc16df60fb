/* Send outcomes and the configuration-fault stall (see ddas/stall.h). */
#include "ddas/stall.h"

#include <string.h>

void ddas_stall_init(ddas_stall *s, unsigned threshold,
                     unsigned max_probe_rounds) {
  memset(s, 0, sizeof(*s));
  s->threshold = threshold ? threshold : 1;
  s->max_probe_rounds = max_probe_rounds;
}

static void end_stall(ddas_stall *s, ddas_stall_decision *d) {
  s->stalled = 0;
  s->probe = 0;
  s->probe_rounds = 0;
  d->stall_ends = 1;
}

ddas_stall_decision ddas_stall_on_sent(ddas_stall *s, uint64_t token,
                                       ddas_sent outcome) {
  ddas_stall_decision d;
  int is_probe = s->stalled && token == s->probe;
  memset(&d, 0, sizeof(d));
  d.next = DDAS_NEXT_PARK;
  switch(outcome) {
  case DDAS_SENT_FORWARDED:
    s->consecutive = 0;
    d.next = DDAS_NEXT_FORWARDED;
    if(s->stalled)
      end_stall(s, &d);
    break;
  case DDAS_SENT_REFUSED:
    s->consecutive = 0;
    if(is_probe)
      end_stall(s, &d);
    break;
  case DDAS_SENT_CONFIG_FAULT:
    if(s->consecutive < UINT32_MAX)
      s->consecutive++;
    if(is_probe) {
      d.next = DDAS_NEXT_PROBE;
      s->probe_rounds = 0; /* CBS answers: not a transient round */
    } else if(s->stalled) {
      d.next = DDAS_NEXT_HOLD;
    } else if(s->consecutive >= s->threshold) {
      s->stalled = 1;
      s->probe = token;
      s->probe_rounds = 0;
      d.stall_begins = 1;
      d.next = DDAS_NEXT_PROBE;
    }
    break;
  case DDAS_SENT_TRANSIENT:
    if(is_probe) {
      if(++s->probe_rounds <= s->max_probe_rounds)
        d.next = DDAS_NEXT_PROBE;
      else
        end_stall(s, &d);
    } else if(s->stalled) {
      d.next = DDAS_NEXT_HOLD;
    }
    break;
  case DDAS_SENT_LOCAL:
    if(is_probe)
      end_stall(s, &d);
    break;
  }
  return d;
}

int ddas_stall_abandoned(ddas_stall *s, uint64_t token) {
  ddas_stall_decision d;
  if(!s->stalled || token != s->probe)
    return 0;
  end_stall(s, &d);
  return 1;
}

int ddas_flow_full(int was_full, long long held, long long cap) {
  if(held >= cap)
    return 1;
  if(held < cap / 4 * 3)
    return 0;
  return was_full;
}

int ddas_flow_pause(int stalled, int full, int has_open_delivery) {
  return stalled || (full && !has_open_delivery);
}
