/* ddas/status.h: delivery status per organisation, reporting period and
 * kind, for reporting deadlines (`ddas-worker status`, README "Reporting
 * deadlines").
 *
 * Pure functions: events go in (the headers and bodies the worker
 * published on topic.receipts, topic.rejections and topic.failed, see
 * docs/events.md), a table comes out. The worker only reads the topics and
 * prints. The same events in any order give the same table: rows are
 * sorted by organisation name, organisation code, period and kind, and a
 * delivery's latest receipt is chosen by ce_time (then by content), never
 * by arrival.
 *
 * What is counted (one row = one organisation, period and kind):
 *  - deliveries: distinct delivery ids with a receipt (processed or
 *    incomplete); the latest one (by receipt ce_time) is named;
 *  - records, accepted, rejected, warned: summed over those deliveries'
 *    receipts (a delivery read twice counts once: its latest receipt);
 *  - rejection rules: summed rejected_by_rule, the top ones by count;
 *  - batches: distinct batch ids of the row's deliveries: forwarded (a
 *    forwarded receipt, replayed or not), replayed (forwarded by `replay`),
 *    parked (parked and not forwarded since: what is still parked);
 *  - incomplete: deliveries whose latest receipt is incomplete;
 *  - last outcome: the latest ce_time of any of the row's events.
 * A delivery that has events (rejections, batches) but no receipt yet is
 * still being processed; its organisation is not known yet (only the
 * receipt names it), so it is counted in a row of its own with no
 * organisation, period or kind, state "in progress", which every filter
 * keeps: a deadline script waiting for one organisation must not stop
 * while a delivery that may be that organisation's is unfinished.
 *
 * State of a row, the first that holds: "in progress" (a delivery without
 * receipt), "incomplete" (its latest delivery is incomplete), "parked
 * batches" (a batch is still parked), "rejections" (its latest delivery
 * rejected records), "complete".
 *
 * No personal data: the events carry none, and what this module keeps of
 * them is identifiers, counts, rule ids, times and the organisation's name
 * and code (business data the receipts carry on purpose). A parked batch's
 * body (the batch itself) is never read. */
#ifndef DDAS_STATUS_H
#define DDAS_STATUS_H

#include <stddef.h>
#include <stdio.h>

#include "ddas/detect.h"
#include "ddas/events.h"
#include "ddas/json.h"
#include "ddas/result.h"

/* ---- the identity of a delivery (what its receipt names) --------------- */

#define DDAS_ORG_NAME_MAX 160
#define DDAS_ORG_CODE_MAX 40
#define DDAS_PERIOD_MAX 40

/* Who delivered for which period: every member "" when unknown. */
typedef struct {
  char org_name[DDAS_ORG_NAME_MAX];   /* aanleverende_organisatie's name */
  char org_code[DDAS_ORG_CODE_MAX];   /* its KvK number, else gemeentecode */
  char period_start[DDAS_PERIOD_MAX]; /* startdatumLevering */
  char period_end[DDAS_PERIOD_MAX];   /* einddatumLevering */
} ddas_delivery_identity;

/* Fills *out from a parsed DDAS document (root may be NULL: all ""). The
 * organisation is the first levering's aanleverende_organisatie: its
 * "(Statutaire) Naam" (SHV) or "naam" (VS), and its "KvK-nummer" (SHV) or
 * "kvk-nummer" (VS), else the levering's or organisation's "gemeentecode".
 * Only string values are taken; a value that does not fit is cut at a
 * UTF-8 character boundary. Never fails, allocates nothing. */
void ddas_delivery_identity_get(const ddas_json *root,
                                ddas_delivery_identity *out);

/* ---- aggregation ------------------------------------------------------- */

typedef struct ddas_status ddas_status;

/* Which rows to show; NULL members select everything. */
typedef struct {
  const char *period;       /* "YYYY-MM-DD/YYYY-MM-DD": start and end exactly
                             */
  const char *organisation; /* the organisation's name or code, exactly */
  const char *since;        /* RFC 3339 in UTC ("...Z"): events whose ce_time
                               is earlier are left out */
} ddas_status_filter;

/* A new, empty aggregation; the filter's strings are copied. DDAS_ERR_ARG
 * when filter->period is not two dates joined by "/" or filter->since is
 * not an RFC 3339 date-time (err says which and what to write),
 * DDAS_ERR_NOMEM. filter may be NULL. */
ddas_result ddas_status_new(const ddas_status_filter *filter, ddas_status **out,
                            char *err, size_t errlen);
void ddas_status_free(ddas_status *s);

/* Adds one event: its Kafka headers and value. Events of types it does not
 * count (or without ce_type) are ignored (DDAS_OK, counted as ignored). An
 * event it counts but cannot read (a receipt body that is not the
 * documented JSON, a missing ddas-delivery-id or ce_time) is skipped with
 * DDAS_ERR_ARG and a reason in err (naming the header or member); the
 * aggregation stays usable. DDAS_ERR_NOMEM: the event may be counted in
 * part (its delivery known, its receipt not); the aggregation can still be
 * built into a table and freed, but the table is not to be trusted: the
 * command gives up (exit status 2). */
ddas_result ddas_status_add(ddas_status *s, const ddas_kv *headers,
                            size_t nheaders, const void *body, size_t len,
                            char *err, size_t errlen);

typedef enum {
  DDAS_STATE_COMPLETE = 0,
  DDAS_STATE_REJECTIONS,
  DDAS_STATE_PARKED,
  DDAS_STATE_INCOMPLETE,
  DDAS_STATE_IN_PROGRESS
} ddas_status_state;

/* "complete", "rejections", "parked batches", "incomplete", "in progress" */
const char *ddas_status_state_name(ddas_status_state st);

#define DDAS_STATUS_TOP_RULES 3

typedef struct {
  char *rule; /* owned */
  size_t count;
} ddas_status_rule;

/* One row. Strings are owned by the table; NULL when unknown (the row of
 * deliveries without receipt). */
typedef struct {
  char *org_name, *org_code, *period_start, *period_end;
  ddas_kind kind;
  ddas_status_state state;
  size_t deliveries;
  char *latest_delivery_id;
  size_t records, accepted, rejected, warned;
  ddas_status_rule top_rules[DDAS_STATUS_TOP_RULES]; /* by count, then id */
  size_t ntop_rules;
  size_t batches_forwarded, batches_parked, batches_replayed;
  size_t incomplete;  /* deliveries */
  size_t in_progress; /* deliveries without receipt */
  char *last_outcome; /* RFC 3339, NULL when none */
} ddas_status_row;

typedef struct {
  ddas_status_row *rows;
  size_t nrows;
  /* sums of the rows; org/period/kind/latest NULL; state: the worst row's
   * (COMPLETE when there are no rows); top_rules over all rows */
  ddas_status_row total;
  size_t complete;                     /* rows in state complete */
  size_t events, ignored, skipped;     /* as counted by ddas_status_add */
  char *period, *organisation, *since; /* the filter, NULL when unset */
} ddas_status_table;

/* The table of what was added, filtered. On failure (DDAS_ERR_NOMEM) *out
 * is empty; on success the caller releases it with
 * ddas_status_table_clear(). s is not changed. */
ddas_result ddas_status_table_build(const ddas_status *s,
                                    ddas_status_table *out);
void ddas_status_table_clear(ddas_status_table *t);

/* 1 when the table has rows and every row is complete: the exit status of
 * `ddas-worker status` is 0 then, else 1. */
int ddas_status_all_complete(const ddas_status_table *t);

/* ---- output ------------------------------------------------------------ */

/* Each writes to `out` (as ddas/report.h does) and returns 0, or -1 when
 * writing or an allocation failed.
 *
 * JSON: one object, members documented in README "Reporting deadlines".
 * Text: an aligned table for a terminal, totals at the bottom.
 * HTML: one self-contained page (no external assets: inline CSS, script
 * and SVG), the same table sortable by clicking a column header (or on
 * load by the fragment #sort=COLUMN), and a bar chart of accepted and
 * rejected records per row, readable when printed (every bar is labelled
 * with its number). Every number cell carries data-col and data-value
 * attributes so that a test can compare them with the JSON. `generated`
 * (RFC 3339, may be NULL) is printed in the page. */
int ddas_status_json(FILE *out, const ddas_status_table *t);
int ddas_status_text(FILE *out, const ddas_status_table *t);
int ddas_status_html(FILE *out, const ddas_status_table *t,
                     const char *generated);

#endif
