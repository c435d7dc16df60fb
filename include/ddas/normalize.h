/* ddas/normalize.h: the normalisations N1-N6 of RULES.md.
 *
 * N1 (null = absent) and N2 (trim strings, normalise postcodes) change
 * values only; they run on the parsed tree before the schema and the rules,
 * so that "leeg" values and stray spaces do not reject a record. N3-N6
 * change structure (version upgrade, derived end dates, mirrored fields,
 * one levering per municipality); they are applied while accepted records
 * are written into batches (ddas/batch.h). Each is switchable and counted. */
#ifndef DDAS_NORMALIZE_H
#define DDAS_NORMALIZE_H

#include <stddef.h>

#include "ddas/json.h"
#include "ddas/result.h"
#include "ddas/rules.h"

#define DDAS_N1 (1u << 0)
#define DDAS_N2 (1u << 1)
#define DDAS_N3 (1u << 2)
#define DDAS_N4 (1u << 3)
#define DDAS_N5 (1u << 4)
#define DDAS_N6 (1u << 5)
#define DDAS_N_ALL 0x3Fu

/* Counts per normalisation: counts[0] is N1 ... counts[5] is N6. */
typedef struct {
  size_t n[6];
} ddas_norm_counts;

/* Parses "N1,N3" style lists (also "all", "none") into a mask; -1 when
 * malformed. */
int ddas_norm_parse(const char *list, unsigned *mask);

/* Applies N1 and N2 (as enabled in mask) to the document in place and adds
 * to counts: N1 counts removed members, N2 counts changed strings. Because
 * they run before the schema, what they repair would otherwise go unseen:
 * with `out`, every member N1 removes gives a finding of rule schema.null
 * at the member, and every string N2 trims (leading or trailing white
 * space; not a postcode's case or inner spaces, which the schema does not
 * constrain) one of rule schema.whitespace at the string, with the
 * severity `rs` gives the rule (see ddas_rule_add). Returns DDAS_OK or
 * DDAS_ERR_NOMEM. */
ddas_result ddas_normalize_values(ddas_json_doc *doc, unsigned mask,
                                  const ddas_ruleset *rs, ddas_findings *out,
                                  ddas_norm_counts *counts);

#endif
