/* ddas/report.h: how a validation result is shown to a person or a program.
 *
 * Text: summary first (kind, version, leveringen, records, errors,
 * warnings), then findings grouped by levering and record. JSON: one object
 * per file with stable field names (documented in README.md). Neither ever
 * contains instance values: findings carry none by construction. */
#ifndef DDAS_REPORT_H
#define DDAS_REPORT_H

#include <stdio.h>

#include "ddas/validate.h"

typedef struct {
  int color;           /* 1: ANSI colours (for a terminal) */
  const char *profile; /* the rules profile used, NULL when rules were off */
} ddas_report_options;

/* Writes the readable report for one file named `name`. */
int ddas_report_text(FILE *out, const char *name,
                     const ddas_validate_result *res,
                     const ddas_report_options *opt);
/* Writes one JSON object (one line) for one file named `name`. Returns 0, or
 * -1 when out of memory or the write failed. */
int ddas_report_json(FILE *out, const char *name,
                     const ddas_validate_result *res,
                     const ddas_report_options *opt);

#endif
