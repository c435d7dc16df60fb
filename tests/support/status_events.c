/* Events for the status tests and bench (status_events.h). */
#include "status_events.h"

#include <stdint.h>
#include <string.h>

/* SHA-256("abc") in the documented digest form (FIPS 180-2 test vector). */
#define ABC_DIGEST "SHA-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

ddas_result se_batch(const ddas_event_base *base, const char *batch,
                     unsigned index, size_t records, se_batch_kind kind,
                     ddas_event *out) {
  if(kind == SE_PARKED) {
    ddas_parked_in p;
    memset(&p, 0, sizeof(p));
    p.base = *base;
    p.batch_id = batch;
    p.batch_index = index;
    p.records = records;
    p.digest = ABC_DIGEST;
    p.signature = "sig";
    p.sig_profile = "adr";
    p.reason = "transient-exhausted";
    p.last_error = "HTTP 503";
    p.body = "abc";
    p.body_len = 3;
    return ddas_event_parked(&p, out);
  } else {
    ddas_forwarded_in f;
    memset(&f, 0, sizeof(f));
    f.base = *base;
    f.batch_id = batch;
    f.batch_index = index;
    f.records = records;
    f.bytes = 3;
    f.digest = ABC_DIGEST;
    f.http_status = 200;
    f.attempts = 1;
    f.replayed = kind == SE_REPLAYED;
    return ddas_event_forwarded(&f, out);
  }
}

ddas_result se_rejection(const ddas_event_base *base, ddas_event *out) {
  ddas_rejection_in in;
  ddas_finding f;
  memset(&in, 0, sizeof(in));
  memset(&f, 0, sizeof(f));
  in.base = *base;
  in.kind = DDAS_KIND_SHV;
  in.scope = DDAS_SCOPE_RECORD;
  in.pointer = "/leveringen/0/schuldhulptrajecten/1";
  in.levering_teller = 1;
  f.rule = "schema";
  f.scope = DDAS_SCOPE_RECORD;
  f.pointer =
      (char *)(uintptr_t) "/leveringen/0/schuldhulptrajecten/1/startdatum";
  f.message = (char *)(uintptr_t) "is not a valid date";
  in.findings = &f;
  in.nfindings = 1;
  return ddas_event_rejection(&in, out);
}
