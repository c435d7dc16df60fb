/* ddas/checks.h: the decisions of the start-up checks (worker/startcheck.c)
 * and of what `send` shows of a refusal. Pure: the caller reads the clock,
 * the file modes and the response; these functions only decide. */
#ifndef DDAS_CHECKS_H
#define DDAS_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* Where `now` lies in a certificate's validity window (all Unix seconds).
 * A certificate is valid from not_before to not_after inclusive, as OpenSSL
 * verifies it: no tolerance for clock skew, since a peer that verifies it
 * would refuse it just the same. */
typedef enum {
  DDAS_CERT_VALID = 0,
  DDAS_CERT_EXPIRES_SOON, /* valid, but not_after is within warn_s */
  DDAS_CERT_NOT_YET_VALID,
  DDAS_CERT_EXPIRED
} ddas_cert_window;
ddas_cert_window ddas_cert_window_at(int64_t now, int64_t not_before,
                                     int64_t not_after, int64_t warn_s);

/* Who besides the owner may read a file holding a private key or a secret,
 * from its st_mode permission bits. World wins over group. */
typedef enum {
  DDAS_MODE_PRIVATE = 0,
  DDAS_MODE_GROUP_READABLE,
  DDAS_MODE_WORLD_READABLE
} ddas_mode_verdict;
ddas_mode_verdict ddas_secret_mode(unsigned mode);

/* The candidate closest to `word` by edit distance, when at most max_dist
 * edits away (the first of equals, in the order given); else NULL. For
 * "did you mean" hints. */
const char *ddas_closest(const char *word, const char *const *cands, size_t n,
                         size_t max_dist);

/* A one-line summary of an application/problem+json body (RFC 9457) for a
 * person to read: `type`, `title` and `status`, and the JSON Pointers the
 * problem names (members `errors[].pointer`, `errors[].source.pointer`,
 * `invalid-params[].name` or `.pointer`; at most 8, then "and N more").
 * `detail`, `instance` and every other member are left out on purpose: they
 * are free text or values that may echo the refused records (personal
 * data), whereas type, title and status name a class of problem and a
 * pointer names a place. Each string is cut at 160 bytes, control
 * characters become '?', and invalid UTF-8 is replaced. Returns 0 with the
 * summary in out (cut to cap), or -1 when body is not a JSON object (then
 * out says "not problem+json"). */
int ddas_problem_summary(const char *body, size_t len, char *out, size_t cap);

#endif
