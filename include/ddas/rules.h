/* ddas/rules.h: the DDAS business rules beyond the schema (RULES.md).
 *
 * Every rule has an id, a scope and a default severity per profile; a
 * ruleset holds the severity in force for each rule (profile defaults plus
 * overrides from configuration or the command line). The checks read the
 * parsed document after normalisations N1 (null = absent) and N2 (trimmed
 * strings, normalised postcodes) and add findings; they never quote a value
 * of the document in a message. */
#ifndef DDAS_RULES_H
#define DDAS_RULES_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/findings.h"
#include "ddas/json.h"

typedef enum { DDAS_PROFILE_SPEC = 0, DDAS_PROFILE_STRICT = 1 } ddas_profile;

typedef enum {
  DDAS_LEVEL_OFF = 0,
  DDAS_LEVEL_WARNING = 1,
  DDAS_LEVEL_ERROR = 2
} ddas_level;

typedef struct {
  const char *id;
  ddas_scope scope;
  ddas_level spec, strict;
  int fixed; /* 1: the severity cannot be changed (json.syntax, schema) */
  const char *summary;
} ddas_rule_info;

/* The rule table, in RULES.md order. */
const ddas_rule_info *ddas_rule_table(size_t *count);
/* Index of a rule id in the table, or -1. */
int ddas_rule_index(const char *id);
/* The known id closest to `id` (for "did you mean"), or NULL. */
const char *ddas_rule_suggest(const char *id);

int ddas_profile_parse(const char *s, ddas_profile *out);
const char *ddas_profile_name(ddas_profile p);
int ddas_level_parse(const char *s, ddas_level *out);
const char *ddas_level_name(ddas_level l);

#define DDAS_MAX_RULES 32

typedef struct {
  ddas_profile profile;
  ddas_level level[DDAS_MAX_RULES];
} ddas_ruleset;

void ddas_ruleset_init(ddas_ruleset *rs, ddas_profile profile);
/* Sets one rule's severity from "ID=SEVERITY". Returns 0, or -1 with a
 * message in err (unknown rule with a suggestion, unknown severity, or a
 * rule whose severity is fixed). */
int ddas_ruleset_override(ddas_ruleset *rs, const char *assignment, char *err,
                          size_t errlen);
ddas_level ddas_ruleset_level(const ddas_ruleset *rs, const char *id);

/* Adds a finding of rule `id` (a table id) with the severity `rs` gives it
 * (the spec profile's default when rs is NULL; nothing when off), for
 * checks outside the rule walk (normalisations, the upgrade, the envelope).
 * A traject-scope rule counts in the deepest traject, levering or document
 * that encloses the pointer. The message must not quote document values.
 * Returns DDAS_OK, DDAS_ERR_NOMEM, or DDAS_ERR_ARG for an unknown id. */
ddas_result ddas_rule_add(const ddas_ruleset *rs, ddas_findings *out,
                          const char *id, const char *pointer, const char *fmt,
                          ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Runs every rule that is not off over a document of `kind` (after N1/N2)
 * and appends the findings. Returns DDAS_OK or DDAS_ERR_NOMEM. */
ddas_result ddas_rules_check(const ddas_ruleset *rs, const ddas_json *root,
                             ddas_kind kind, ddas_findings *out);

/* The BSN eleven-test: 9 digits, weighted sum (9..2, -1) divisible by 11
 * and not 0. */
int ddas_bsn_valid(const char *s, size_t n);

#endif
