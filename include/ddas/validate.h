/* ddas/validate.h: one delivery in, a verdict and findings out.
 *
 * The front door of the core for `ddas-worker validate`: parse strictly,
 * detect kind and version, pick the schema from a schema set, validate, and
 * count leveringen and records. */
#ifndef DDAS_VALIDATE_H
#define DDAS_VALIDATE_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/findings.h"
#include "ddas/json.h"
#include "ddas/normalize.h"
#include "ddas/result.h"
#include "ddas/rules.h"
#include "ddas/schema.h"

/* The DDAS schemas, loaded lazily from a directory holding
 * "<kind>-v<version>.json" files (config/schemas/ in the repository). */
typedef struct ddas_schemaset ddas_schemaset;

ddas_result ddas_schemaset_new(const char *dir, ddas_schemaset **out);
void ddas_schemaset_free(ddas_schemaset *set);
/* The compiled schema for kind/version, loading it on first use. On
 * failure errbuf says which file and why. The schema stays owned by the
 * set. */
ddas_result ddas_schemaset_get(ddas_schemaset *set, ddas_kind kind,
                               const char *version, const ddas_schema **out,
                               char *errbuf, size_t errlen);

/* The context of a delivery, for the envelope members of its batches that
 * the delivery itself may lack (SHV v0.9, where aanleverdatumEnTijd and
 * codeGegevensleverancier are optional and v1.0 requires both): nothing is
 * made up, every value comes from here, and the words saying where it came
 * from go into the envelope.filled finding. */
typedef struct {
  const char *delivered_at;      /* RFC 3339 UTC: when the delivery was
                                    submitted (the worker: the Kafka
                                    timestamp of its first message, the same
                                    when it is redone); NULL: unknown */
  const char *delivered_at_from; /* where that time comes from, in words */
  const char *code;              /* codeGegevensleverancier from
                                    configuration; NULL: none */
  const char *code_from;         /* where it comes from (the config key) */
  int code_replaces;             /* 1: `code` replaces the delivery's own
                                    too (batch.code_gegevensleverancier);
                                    0: it only fills a missing one */
} ddas_envelope_context;

typedef struct {
  ddas_kind kind;            /* DDAS_KIND_UNKNOWN: detect */
  const char *version;       /* NULL: detect */
  const ddas_schema *schema; /* non-NULL: generic mode, validate against it */
  unsigned max_depth;        /* 0 = 64 */
  size_t max_memory;         /* the parse's memory budget in bytes; 0 = the
                                default (ddas_json_memory_budget) */
  size_t max_findings;       /* 0 = 10000 */
  const ddas_ruleset *rules; /* NULL: schema only, no business rules */
  unsigned norm_mask;        /* DDAS_N1 and DDAS_N2 are applied here (DDAS
                                mode only, never with `schema`) */
  int keep_document;         /* 1: the result keeps the parsed, normalised
                                document for batching */
  const ddas_envelope_context *envelope; /* NULL: no context (nothing to
                                            fill a missing member from) */
} ddas_validate_options;

/* Verdict of one levering and its records. */
typedef struct {
  int rejected; /* an error of levering scope */
  size_t nrecords;
  unsigned char *record; /* per record: DDAS_REC_* bits */
} ddas_levering_verdict;

#define DDAS_REC_REJECTED 1u /* an error of record scope */
#define DDAS_REC_WARNED 2u   /* a warning of record scope */

typedef struct {
  int valid;        /* 1 when there is no error finding */
  int parsed;       /* 1 when the input was well-formed JSON */
  int syntax_nomem; /* internal: a json.syntax finding found during the
                       parse could not be stored (out of memory) */
  ddas_detection detection;
  size_t leveringen;      /* number of leveringen (0 when not a DDAS shape) */
  size_t records;         /* trajecten (SHV) or vroegsignalen (VS) */
  ddas_findings findings; /* owned; release with ddas_validate_result_clear;
                             in document order
                             (ddas_findings_sort_document) */
  ddas_norm_counts normalised; /* N1 and N2; N3-N6 come from the batcher */
  /* Partial acceptance (RULES.md scopes): a record is accepted unless the
   * document, its levering or the record itself has an error. */
  int document_rejected;
  size_t accepted, rejected, warned; /* records */
  ddas_levering_verdict *verdicts;   /* one per levering, or NULL */
  size_t nverdicts;
  ddas_json_doc *doc;     /* with keep_document: owned, else NULL */
  unsigned doc_norms;     /* the N1/N2 bits applied to doc */
  unsigned doc_max_depth; /* the max_depth doc was parsed with (0 = 64) */
  /* errors and warnings per rule (index in ddas_rule_table(); the last slot
   * counts rules outside the table, such as "detect"), stored or not */
  size_t rule_errors[DDAS_MAX_RULES + 1];
  size_t rule_warnings[DDAS_MAX_RULES + 1];
} ddas_validate_result;

/* One scope that an error rejects, with the stored findings (errors and
 * warnings) that point into it: the content of one rejection event. */
typedef struct {
  ddas_scope scope;
  char pointer[96];       /* "", "/leveringen/3", "/leveringen/3/<list>/7" */
  long levering;          /* index, or -1 */
  long record;            /* index, or -1 */
  ddas_finding *findings; /* shallow copies: strings belong to the result */
  size_t nfindings;
} ddas_rejection_group;

/* The rejected scopes of a result, in document order: the document when it
 * is rejected (then nothing else), else every levering and every record
 * with an error of its own scope. Free with ddas_rejection_groups_free().
 * Findings beyond max_findings are not in any group (they were not
 * stored), but their rejected scope is still listed. */
ddas_result ddas_rejection_groups(const ddas_validate_result *res,
                                  ddas_rejection_group **out, size_t *n);
void ddas_rejection_groups_free(ddas_rejection_group *g, size_t n);

/* 1 when record `rec` of levering `lev` is accepted. */
int ddas_record_accepted(const ddas_validate_result *res, size_t lev,
                         size_t rec);

/* Validates buf[0..len). Returns DDAS_OK when a verdict was reached (valid or
 * not: see res->valid), DDAS_ERR_NOMEM when it could not be, or the
 * schemaset's error when a shipped schema cannot be loaded (errbuf says
 * which). `set` may be NULL when opt->schema is given. */
ddas_result ddas_validate_buffer(ddas_schemaset *set,
                                 const ddas_validate_options *opt,
                                 const char *buf, size_t len,
                                 ddas_validate_result *res, char *errbuf,
                                 size_t errlen);

void ddas_validate_result_clear(ddas_validate_result *res);

#endif
