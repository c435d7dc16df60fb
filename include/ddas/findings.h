/* ddas/findings.h: what is wrong with a document, and where.
 *
 * A finding names the instance location (RFC 6901 JSON Pointer), the rule
 * that was violated, the schema keyword and schema location when the rule is
 * "schema", and a message. Messages are written by the core only and never
 * contain values taken from the instance (personal data protection); they may
 * quote values from the schema, such as the allowed values of an enum. */
#ifndef DDAS_FINDINGS_H
#define DDAS_FINDINGS_H

#include <stddef.h>

#include "ddas/json.h"
#include "ddas/result.h"

typedef enum { DDAS_SEV_ERROR = 0, DDAS_SEV_WARNING = 1 } ddas_severity;

/* What an error rejects (RULES.md "Scope of a finding"): the whole delivery,
 * one levering, or one record (a traject of SHV, a vroegsignaal of VS). */
typedef enum {
  DDAS_SCOPE_DOCUMENT = 0,
  DDAS_SCOPE_LEVERING = 1,
  DDAS_SCOPE_RECORD = 2
} ddas_scope;

/* "document", "levering", "traject" (the RULES.md word for a record). */
const char *ddas_scope_name(ddas_scope s);

typedef struct {
  ddas_severity severity;
  ddas_scope scope; /* derived from the pointer unless the rule sets it */
  const char *rule; /* static string: "json.syntax", "schema", "detect", ... */
  const char *keyword;  /* static string or NULL */
  char *pointer;        /* owned; "" = the whole document */
  char *schema_pointer; /* owned; NULL when not a schema finding */
  char *message;        /* owned */
  /* json.syntax only (line == 0 otherwise) */
  size_t offset;
  unsigned line, column;
} ddas_finding;

typedef struct {
  ddas_finding *items;
  size_t count, cap;
  size_t limit;    /* stored at most this many; 0 = no limit */
  size_t dropped;  /* findings counted but not stored because of `limit` */
  size_t errors;   /* all errors, stored or dropped */
  size_t warnings; /* all warnings, stored or dropped */
  /* Called for every finding added, stored or dropped, before it is stored;
   * the finding's strings are valid during the call only. Lets a caller
   * keep verdicts per scope that do not depend on `limit`. */
  void (*on_add)(void *ctx, const ddas_finding *f);
  void *on_add_ctx;
} ddas_findings;

void ddas_findings_init(ddas_findings *f, size_t limit);
/* Frees every finding; `f` may be reused after ddas_findings_init(). */
void ddas_findings_clear(ddas_findings *f);

/* Appends a finding; message is printf-formatted. Strings are copied.
 * DDAS_ERR_NOMEM leaves `f` unchanged apart from the counters. */
ddas_result ddas_findings_add(ddas_findings *f, ddas_severity sev,
                              const char *rule, const char *keyword,
                              const char *pointer, const char *schema_pointer,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 7, 8)))
#endif
    ;

/* The same with an explicit scope instead of the one derived from the
 * pointer (for rules whose scope is wider than where they point). */
ddas_result ddas_findings_add_scoped(ddas_findings *f, ddas_severity sev,
                                     ddas_scope scope, const char *rule,
                                     const char *pointer, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Sorts findings by instance pointer (member names alphabetically, array
 * indexes numerically), keeping insertion order for equal pointers. */
void ddas_findings_sort(ddas_findings *f);

/* Sorts findings into document order: by the byte offset of what each
 * points at in the input `root` was parsed from (json.syntax: its own
 * offset; a missing member: the deepest value of its pointer that exists),
 * keeping insertion order for equal offsets, so a finding at an object
 * comes before the findings inside it. root may be NULL (unparsable input:
 * only json.syntax findings, by offset). Unchanged when out of memory. */
void ddas_findings_sort_document(ddas_findings *f, const ddas_json *root);

/* The order in which a report lists f's findings by group: the document's
 * own first, then per levering (by index) the levering's own, then each of
 * its records' (by index), keeping f's order within a group, so that every
 * group is one run. *order (free with ddas_free) holds f->count indexes. */
ddas_result ddas_findings_group_order(const ddas_findings *f, size_t **order);

/* Parses "/leveringen/<i>/<list>/<j>/..." style pointers: *levering and
 * *record receive the indexes, or -1 when the pointer is not inside one.
 * `list` names the record list of the kind ("schuldhulptrajecten",
 * "vroegsignalen", ...); any array member directly below a levering counts. */
void ddas_finding_location(const char *pointer, long *levering, long *record,
                           const char **list, size_t *list_len);

#endif
