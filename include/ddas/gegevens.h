/* ddas/gegevens.h: the pure core of the official pull interface
 * `POST /gegevens` (docs/spec/openapi-DDAS-SHV.yaml, openapi-DDAS-VS.yaml;
 * `ddas-worker serve`).
 *
 * CBS asks for the data of a reporting period and organisation and gets it
 * page by page as {"gegevens": <SHV or VS document>, "paginering": {...}}.
 * The answer is made of stored batch bodies (written by core/batch.c) of
 * the latest complete delivery per organisation and period. This module
 * decides everything about that answer, bytes in, bytes out:
 *  1. the request (GegevensRequest) and the problem bodies of a refusal;
 *  2. which deliveries answer it (ddas_gegevens_select);
 *  3. which records a page holds (ddas_gegevens_plan);
 *  4. the page itself (ddas_page_writer), records copied byte-exact from
 *     the batch bodies.
 * No I/O, no clock; every allocation through ddas/alloc.h. Nothing here
 * logs; no problem detail quotes a value of the request (only member
 * names), so a problem body never carries what a client sent. */
#ifndef DDAS_GEGEVENS_H
#define DDAS_GEGEVENS_H

#include <stddef.h>

#include "ddas/detect.h"
#include "ddas/result.h"

/* ---- problems (RFC 9457 application/problem+json) ---------------------- */

/* Every type is DDAS_PROBLEM_BASE followed by a stable slug:
 *   request-too-large    body over DDAS_GEGEVENS_REQUEST_MAX bytes
 *   invalid-json         not JSON (the parser's reason, line and column)
 *   invalid-body         JSON, but not an object
 *   unknown-member       a member GegevensRequest does not have
 *   invalid-date         a date that is not a string YYYY-MM-DD naming a
 *                        real calendar day
 *   invalid-period       aanleverperiodeStartdatum after ...Einddatum
 *   invalid-organisation not a string of 1..255 bytes without control
 *                        characters
 *   invalid-page         page or pageSize not an integer >= 1, or page
 *                        over DDAS_GEGEVENS_PAGE_MAX
 *   page-size-too-large  pageSize over the kind's maximum
 *   page-out-of-range    page after the answer's last page (plan)
 *   no-data              no delivery answers the request (status 404;
 *                        ddas_gegevens_no_data)
 *   answer-too-large     the answer's record count overflows (status 500)
 * The others have status 400. */
#define DDAS_PROBLEM_BASE "https://ddas-worker.invalid/problems/"

typedef struct {
  int status;        /* HTTP status: 400 (404 for no-data) */
  char type[96];     /* DDAS_PROBLEM_BASE + slug */
  char title[96];    /* short, Dutch ("Ongeldige datum") */
  char detail[256];  /* what is wrong and what to send instead (English);
                        never a value of the request, only member names */
  char pointer[128]; /* JSON Pointer of the offending member ("/page"), ""
                        for the body as a whole */
} ddas_problem;

/* Writes p as application/problem+json: {"type","title","status","detail"}
 * in that order, then "instance" when instance is not NULL, then "pointer"
 * (an extension member) when p->pointer is not empty. Strings are escaped
 * as RFC 8259 requires; bytes that are not valid UTF-8 are written as
 * U+FFFD. On success *out (ddas_free) holds *len bytes, NUL-terminated
 * (the NUL not counted); on failure (DDAS_ERR_NOMEM; DDAS_ERR_ARG when p
 * or out is NULL) *out is NULL and *len 0. */
ddas_result ddas_problem_json(const ddas_problem *p, const char *instance,
                              char **out, size_t *len);

/* Writes the FSC error body {"code","domain":"ERROR_DOMAIN_INWAY","title",
 * "detail","status"} (FscError of the OpenAPI; title and detail are left
 * out when NULL). code is an ERROR_CODE_... value (required: DDAS_ERR_ARG
 * when NULL). Ownership and failure as ddas_problem_json. */
ddas_result ddas_fsc_error_json(const char *code, int status, const char *title,
                                const char *detail, char **out, size_t *len);

/* Fills *prob with the no-data problem (status 404): no complete delivery
 * of the kind matches the request's period and organisation. */
void ddas_gegevens_no_data(ddas_problem *prob);

/* ---- 1. the request ----------------------------------------------------- */

#define DDAS_GEGEVENS_REQUEST_MAX ((size_t)64 << 10)
#define DDAS_GEGEVENS_PAGE_MAX ((size_t)1000000000)

typedef struct {
  char start[11]; /* aanleverperiodeStartdatum, YYYY-MM-DD; "" when absent */
  char end[11];   /* aanleverperiodeEinddatum, YYYY-MM-DD; "" when absent */
  char organisation[256]; /* aanleverende_organisatie (UTF-8, 1..255 bytes,
                             NUL-terminated), when has_organisation */
  int has_organisation;
  size_t page;      /* 1 when absent */
  size_t page_size; /* the kind's maximum (ddas_gegevens_max_page_size) when
                       absent */
  int has_page_size;
} ddas_gegevens_request;

/* The largest pageSize of a kind: DDAS_BATCH_MAX_TRAJECTEN (SHV) or
 * DDAS_BATCH_MAX_VROEGSIGNALEN (VS); 0 for another kind. */
size_t ddas_gegevens_max_page_size(ddas_kind kind);

/* Parses a request body (GegevensRequest): a JSON object with only the
 * members aanleverperiodeStartdatum, aanleverperiodeEinddatum (dates
 * YYYY-MM-DD, real calendar days, start <= end when both are given),
 * aanleverende_organisatie, page (integer 1..DDAS_GEGEVENS_PAGE_MAX) and
 * pageSize (integer 1..max of `kind`). An integer may be written 2, 2.0 or
 * 2e0 (JSON Schema's integer); 2.5, "2", true are refused. An empty body
 * (or one of white space only) and {} ask for everything, page 1. A body
 * over DDAS_GEGEVENS_REQUEST_MAX bytes is refused unread.
 * On success (DDAS_OK) *out is filled and *prob untouched. A refusal
 * returns DDAS_ERR_ARG with *prob filled (see the slugs above; the first
 * defect in member order is reported) and *out zeroed; DDAS_ERR_NOMEM when
 * the parser ran out of memory (*prob untouched). kind must be SHV or VS
 * (else DDAS_ERR_ARG with an empty problem of status 500). `body` may be
 * NULL when len is 0. */
ddas_result ddas_gegevens_request_parse(const char *body, size_t len,
                                        ddas_kind kind,
                                        ddas_gegevens_request *out,
                                        ddas_problem *prob);

/* ---- 2. deliveries and selection ---------------------------------------- */

/* A delivery the server knows (what `serve` indexed from ddas.accepted).
 * Strings are borrowed; NULL reads as "". */
typedef struct {
  ddas_kind kind;
  const char *delivery_id;
  const char *org_name, *org_code;       /* ddas_delivery_identity's */
  const char *period_start, *period_end; /* YYYY-MM-DD */
  const char *delivered_at; /* RFC 3339 aanleverdatumEnTijd of its batches */
  const char *code;         /* codeGegevensleverancier of its batches */
  size_t records;
  size_t nbatches;
  int complete; /* 1 once its manifest said every batch is there */
} ddas_served_delivery;

/* Compares two RFC 3339 date-times as instants: <0, 0, >0. Offsets count
 * ("2025-01-01T10:00:00+01:00" is earlier than "2025-01-01T09:30:00Z"),
 * fractions to the nanosecond; a string that is not an RFC 3339
 * date-time (or NULL) is earlier than every one that is, and equal to
 * another such. */
int ddas_instant_cmp(const char *a, const char *b);

/* 1 when a is the later delivery of the two: the later delivered_at as an
 * instant, on a tie the greater delivery_id (byte order). */
int ddas_served_later(const ddas_served_delivery *a,
                      const ddas_served_delivery *b);

/* The deliveries that answer `req` for `kind`, as indexes into all[0..n):
 *  - only complete deliveries of `kind`;
 *  - per (org_name, org_code, period_start, period_end) only the latest
 *    (ddas_served_later): a later delivery replaces an earlier one for the
 *    same organisation and period, also when it has fewer records;
 *  - only those whose period lies within the request (period_start >=
 *    req->start when given, period_end <= req->end when given; dates
 *    compare as bytes) and, when req->has_organisation, whose org_name or
 *    org_code equals req->organisation byte for byte;
 *  - ordered by (org_name, org_code, period_start, period_end,
 *    delivery_id), bytes.
 * The same set in any input order gives the same output. out_idx has room
 * for n; *nout is the count (0 on failure). DDAS_ERR_NOMEM, or DDAS_ERR_ARG
 * when a pointer is NULL (all and out_idx may be NULL when n is 0). */
ddas_result ddas_gegevens_select(const ddas_served_delivery *all, size_t n,
                                 ddas_kind kind,
                                 const ddas_gegevens_request *req,
                                 size_t *out_idx, size_t *nout);

/* ---- 3. the paging plan ------------------------------------------------- */

typedef struct {
  size_t total_records; /* paginering.totalRecords */
  size_t total_pages;   /* ceil(total_records / page_size), at least 1 */
  size_t page_size;     /* paginering.pageSize */
  size_t page;          /* paginering.currentPage */
  int paginated;        /* 1 exactly when total_pages > 1 */
  /* The page's records [ (page-1)*page_size, min(page*page_size, total) )
   * of the answer: from record first_offset of batch first_batch up to
   * (not including) record last_end of batch last_batch. nrecords is their
   * count; when it is 0 (an answer without records) the four are 0. */
  size_t first_batch, first_offset;
  size_t last_batch, last_end;
  size_t nrecords;
} ddas_page_plan;

/* Plans page `page` of an answer whose batches (in answer order: the
 * selected deliveries in ddas_gegevens_select order, each delivery's
 * batches by batch index) hold batch_records[0..nbatches) records.
 * DDAS_ERR_ARG with *prob filled: page 0 or page_size 0 (invalid-page,
 * pointer "/page" or "/pageSize"), page after the last page
 * (page-out-of-range, naming the last page, pointer "/page").
 * DDAS_ERR_LIMIT with *prob filled (status 500, answer-too-large) when the
 * record counts sum beyond SIZE_MAX. Never overflows: huge page and
 * page_size values are fine. *out is zeroed on failure. */
ddas_result ddas_gegevens_plan(const size_t *batch_records, size_t nbatches,
                               size_t page, size_t page_size,
                               ddas_page_plan *out, ddas_problem *prob);

/* Batch i's share of the planned page: returns 1 and sets [*from, *to)
 * (record indexes within batch i, from < to) when the page holds records
 * of batch i, else 0. */
int ddas_page_plan_range(const ddas_page_plan *plan,
                         const size_t *batch_records, size_t i, size_t *from,
                         size_t *to);

/* ---- 4. the page -------------------------------------------------------- */

/* The envelope of every page of an answer, written as the document's
 * startdatumLevering, einddatumLevering, aanleverdatumEnTijd and
 * codeGegevensleverancier (in that order, as core/batch.c does). start and
 * end are required; delivered_at and code are left out when NULL.
 * Borrowed for ddas_page_writer_new only. */
typedef struct {
  const char *start, *end, *delivered_at, *code;
} ddas_page_envelope;

/* The answer's envelope from the selected deliveries all[idx[0..n)]: the
 * least period_start, the greatest period_end (as bytes), and delivered_at
 * and code of the latest of them (ddas_served_later). The same for every
 * page of an answer. Pointers are into `all`; all NULL when n is 0. */
void ddas_gegevens_envelope(const ddas_served_delivery *all, const size_t *idx,
                            size_t n, ddas_page_envelope *out);

typedef struct ddas_page_writer ddas_page_writer;

/* Starts a page of `kind` (SHV or VS) with envelope env (strings copied
 * into the output at once). DDAS_ERR_ARG when kind is neither or env,
 * env->start or env->end is NULL; DDAS_ERR_NOMEM. *out is NULL on
 * failure. */
ddas_result ddas_page_writer_new(ddas_kind kind, const ddas_page_envelope *env,
                                 ddas_page_writer **out);

/* Adds records [from, to) of one stored batch body (a document as
 * core/batch.c writes it; records counted across its leveringen in order:
 * SHV schuldhulptrajecten, VS vroegsignalen) as leveringen of the page:
 *  - every levering member except teller, the record list and (VS)
 *    vroegsignaalzaken is copied byte-exact, in input order, after a new
 *    teller (1..n across the page); then the record list; then (VS) the
 *    zaken;
 *  - records are copied byte-exact;
 *  - a levering that a batch cut split is one levering on the page: the
 *    first levering of a batch continues the page's last levering when
 *    that one holds the last record of the previous batch, both have the
 *    same `group` (the caller passes the delivery id) and byte-identical
 *    members other than those three, and (SHV) the records on either side
 *    of the cut have the same gemeentecode (so the leveringen that N6 split
 *    per municipality, which share their organisation, stay apart).
 *    Leveringen within one batch are never merged;
 *  - VS: a zaak goes on the page holding the last (by position in its
 *    batch levering) of the signals it refers to by ID, so every zaak is on
 *    exactly one page and never before its signals; a zaak that refers to
 *    no signal of its levering goes with the levering's first record;
 *  - a levering with no records in [from, to) adds nothing.
 * body is borrowed for the call; its parse is freed before return.
 * DDAS_ERR_ARG (and ddas_page_writer_error says why; the page is
 * unchanged) when the body does not parse, is not an object with a
 * "leveringen" array of objects each with the kind's record array, or
 * [from, to) is not within its records, or the writer is finished or
 * failed; DDAS_ERR_NOMEM leaves the writer failed (every later call fails;
 * free it). */
ddas_result ddas_page_writer_add_batch(ddas_page_writer *w, const char *body,
                                       size_t len, size_t from, size_t to,
                                       const char *group);

/* Why the last call failed ("" when none did). Owned by the writer. */
const char *ddas_page_writer_error(const ddas_page_writer *w);

/* Records added so far. */
size_t ddas_page_writer_records(const ddas_page_writer *w);

/* Closes the page: {"gegevens":{...},"paginering":{"pageSize",
 * "currentPage","totalPages","totalRecords"}} (compact JSON; paginering
 * only when plan is not NULL and plan->paginated; currentPage is
 * current_page). On success *out (ddas_free; plain heap memory) holds *len
 * bytes, not NUL-terminated, and the writer is finished (only
 * ddas_page_writer_free is left). A page without records has
 * "leveringen":[], which the SHV schema refuses: answer no-data instead.
 * On failure *out is NULL and *len 0. */
ddas_result ddas_page_writer_finish(ddas_page_writer *w,
                                    const ddas_page_plan *plan,
                                    size_t current_page, char **out,
                                    size_t *len);

/* Frees the writer (NULL is fine). */
void ddas_page_writer_free(ddas_page_writer *w);

#endif
