/* Response classification and retry timing (see ddas/exchange.h). */
#define _DEFAULT_SOURCE /* timegm */
#include "ddas/exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

ddas_outcome ddas_classify(int s) {
  if(s >= 200 && s < 300)
    return DDAS_OUT_FORWARDED;
  if(s == 401)
    return DDAS_OUT_AUTH;
  if(s == 403 || s == 404 || s == 405 || (s >= 300 && s < 400))
    return DDAS_OUT_CONFIG_FAULT;
  if(s == 0 || s == 408 || s == 425 || s == 429 || (s >= 500 && s < 600))
    return DDAS_OUT_TRANSIENT;
  if(s >= 400 && s < 500)
    return DDAS_OUT_REFUSED;
  /* 1xx or nonsense from a broken peer: try again later */
  return DDAS_OUT_TRANSIENT;
}

const char *ddas_outcome_name(ddas_outcome o) {
  switch(o) {
  case DDAS_OUT_FORWARDED: return "forwarded";
  case DDAS_OUT_REFUSED: return "refused";
  case DDAS_OUT_AUTH: return "auth";
  case DDAS_OUT_CONFIG_FAULT: return "config-fault";
  case DDAS_OUT_TRANSIENT: return "transient";
  }
  return "transient";
}

static int month_of(const char *m) {
  static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int i;
  for(i = 0; i < 12; i++)
    if(strncmp(m, names[i], 3) == 0)
      return i;
  return -1;
}

long ddas_retry_after(const char *v, int64_t now) {
  const char *p = v;
  long secs = 0;
  if(!v)
    return -1;
  while(*p == ' ')
    p++;
  if(*p >= '0' && *p <= '9') {
    while(*p >= '0' && *p <= '9') {
      if(secs > 100000000L)
        return -1;
      secs = secs * 10 + (*p++ - '0');
    }
    while(*p == ' ')
      p++;
    return *p ? -1 : secs;
  }
  {
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    char wd[4], mon[4], zone[4];
    int d, y, hh, mm, ss, n = 0;
    struct tm tm;
    int64_t t;
    if(sscanf(p, "%3s, %d %3s %d %d:%d:%d %3s%n", wd, &d, mon, &y, &hh, &mm,
              &ss, zone, &n) != 8 ||
       strcmp(zone, "GMT") != 0 || month_of(mon) < 0 || d < 1 || d > 31 ||
       hh > 23 || mm > 59 || ss > 60 || y < 1970 ||
       p[n + strspn(p + n, " ")] != '\0')
      return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = month_of(mon);
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = (int64_t)timegm(&tm);
    return t <= now ? 0 : (long)(t - now > 100000000 ? 100000000 : t - now);
  }
}

uint64_t ddas_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms,
                         long retry_after_s, double rnd) {
  uint64_t cap = base_ms, d;
  unsigned i;
  for(i = 1; i < attempt && cap < max_ms; i++)
    cap *= 2;
  if(cap > max_ms)
    cap = max_ms;
  if(rnd < 0)
    rnd = 0;
  if(rnd >= 1)
    rnd = 0.999999;
  d = (uint64_t)((double)cap * rnd);
  if(retry_after_s >= 0 && d < (uint64_t)retry_after_s * 1000u)
    d = (uint64_t)retry_after_s * 1000u;
  return d;
}

int ddas_retry_allowed(const ddas_retry_policy *p, unsigned attempts_made,
                       uint64_t elapsed_ms, uint64_t next_delay_ms) {
  if(attempts_made >= p->max_attempts)
    return 0;
  return elapsed_ms + next_delay_ms <= p->budget_ms;
}
