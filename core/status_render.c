/* The text and HTML views of a status table (see ddas/status.h). Both take
 * their cells from one column list, so the terminal table, the page and
 * the totals always show the same numbers. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ddas/status.h"

enum {
  C_ORG,
  C_CODE,
  C_PERIOD,
  C_KIND,
  C_STATE,
  C_DELIVERIES,
  C_LATEST,
  C_RECORDS,
  C_ACCEPTED,
  C_REJECTED,
  C_WARNED,
  C_FORWARDED,
  C_PARKED,
  C_REPLAYED,
  C_INCOMPLETE,
  C_IN_PROGRESS,
  C_LAST,
  C_RULES,
  NCOLS
};

/* id: the data-col attribute (and the JSON member it mirrors), head: the
 * column header. */
static const struct {
  const char *id, *head;
  int numeric;
} cols[NCOLS] = {
    {"organisation", "ORGANISATION", 0},
    {"code", "CODE", 0},
    {"period", "PERIOD", 0},
    {"kind", "KIND", 0},
    {"state", "STATE", 0},
    {"deliveries", "DELIVERIES", 1},
    {"latest_delivery_id", "LATEST DELIVERY", 0},
    {"records", "RECORDS", 1},
    {"accepted", "ACCEPTED", 1},
    {"rejected", "REJECTED", 1},
    {"warned", "WARNED", 1},
    {"forwarded", "BATCHES FWD", 1},
    {"parked", "PARKED", 1},
    {"replayed", "REPLAYED", 1},
    {"incomplete_deliveries", "INCOMPLETE", 1},
    {"in_progress_deliveries", "IN PROGRESS", 1},
    {"last_outcome", "LAST OUTCOME", 0},
    {"top_rejection_rules", "TOP REJECTION RULES", 0},
};

static size_t number(const ddas_status_row *w, int c) {
  switch(c) {
  case C_DELIVERIES: return w->deliveries;
  case C_RECORDS: return w->records;
  case C_ACCEPTED: return w->accepted;
  case C_REJECTED: return w->rejected;
  case C_WARNED: return w->warned;
  case C_FORWARDED: return w->batches_forwarded;
  case C_PARKED: return w->batches_parked;
  case C_REPLAYED: return w->batches_replayed;
  case C_INCOMPLETE: return w->incomplete;
  case C_IN_PROGRESS: return w->in_progress;
  default: return 0;
  }
}

/* The text of cell c of row w (total: the totals row) in buf. */
static const char *cell(const ddas_status_row *w, int total, int c, char *buf,
                        size_t cap) {
  size_t i, o;
  buf[0] = '\0';
  if(cols[c].numeric) {
    snprintf(buf, cap, "%zu", number(w, c));
    return buf;
  }
  switch(c) {
  case C_ORG:
    if(total)
      return "TOTAL";
    /* no name: a receipt that named none (the document had no organisation,
     * or the receipt predates issue 16), or deliveries without receipt yet */
    return w->org_name     ? w->org_name
           : w->deliveries ? "(not named)"
                           : "(not yet known)";
  case C_CODE: return w->org_code ? w->org_code : "";
  case C_PERIOD:
    if(w->period_start || w->period_end)
      snprintf(buf, cap, "%s/%s", w->period_start ? w->period_start : "",
               w->period_end ? w->period_end : "");
    return buf;
  case C_KIND:
    return w->kind == DDAS_KIND_UNKNOWN ? "" : ddas_kind_name(w->kind);
  case C_STATE: return ddas_status_state_name(w->state);
  case C_LATEST: return w->latest_delivery_id ? w->latest_delivery_id : "";
  case C_LAST: return w->last_outcome ? w->last_outcome : "";
  case C_RULES:
    for(i = 0, o = 0; i < w->ntop_rules && o < cap; i++) {
      int n = snprintf(buf + o, cap - o, "%s%s (%zu)", i ? ", " : "",
                       w->top_rules[i].rule, w->top_rules[i].count);
      if(n < 0)
        break;
      o += (size_t)n;
    }
    return buf;
  default: return "";
  }
}

/* ---- text ------------------------------------------------------------------
 */

int ddas_status_text(FILE *out, const ddas_status_table *t) {
  size_t width[NCOLS], i, n;
  char buf[512];
  int c, bad = 0;
  for(c = 0; c < NCOLS; c++)
    width[c] = strlen(cols[c].head);
  for(i = 0; i <= t->nrows; i++) {
    const ddas_status_row *w = i < t->nrows ? &t->rows[i] : &t->total;
    for(c = 0; c < NCOLS; c++)
      if((n = strlen(cell(w, i == t->nrows, c, buf, sizeof(buf)))) > width[c])
        width[c] = n;
  }
  for(c = 0; c < NCOLS; c++)
    bad |= fprintf(out, cols[c].numeric ? "%*s%s" : "%-*s%s", (int)width[c],
                   cols[c].head, c + 1 < NCOLS ? "  " : "\n") < 0;
  for(i = 0; i <= t->nrows; i++) {
    const ddas_status_row *w = i < t->nrows ? &t->rows[i] : &t->total;
    for(c = 0; c < NCOLS; c++)
      bad |= fprintf(out, cols[c].numeric ? "%*s%s" : "%-*s%s", (int)width[c],
                     cell(w, i == t->nrows, c, buf, sizeof(buf)),
                     c + 1 < NCOLS ? "  " : "\n") < 0;
  }
  bad |= fprintf(out,
                 "%zu of %zu rows complete; %zu events counted, %zu "
                 "skipped (unreadable)\n",
                 t->complete, t->nrows, t->events, t->skipped) < 0;
  return bad ? -1 : 0;
}

/* ---- HTML ------------------------------------------------------------------
 */

static int esc(FILE *out, const char *s) {
  for(; *s; s++) {
    const char *e = *s == '&'    ? "&amp;"
                    : *s == '<'  ? "&lt;"
                    : *s == '>'  ? "&gt;"
                    : *s == '"'  ? "&quot;"
                    : *s == '\'' ? "&#39;"
                                 : NULL;
    if(e ? fputs(e, out) < 0 : fputc(*s, out) == EOF)
      return -1;
  }
  return 0;
}

static const char *const page_head =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<title>DDAS delivery status</title>\n<style>\n"
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#111}\n"
    "table{border-collapse:collapse;margin:1em 0}\n"
    "th,td{border:1px solid #999;padding:.25em .5em;text-align:left}\n"
    "td{white-space:nowrap}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "th{background:#eee;cursor:pointer;user-select:none}\n"
    "th[aria-sort=ascending]::after{content:\" \\25B2\"}\n"
    "th[aria-sort=descending]::after{content:\" \\25BC\"}\n"
    "tfoot td{font-weight:bold;background:#f6f6f6}\n"
    ".s-complete{background:#e6f4ea}.s-rejections{background:#fff4e0}\n"
    ".s-parked-batches,.s-incomplete,.s-in-progress{background:#fde8e8}\n"
    "svg text{font:12px sans-serif}\n"
    ".acc{fill:#2e7d32}.rej{fill:#c62828}\n"
    "@media print{body{margin:0}th{cursor:auto}"
    ".acc{fill:#555}.rej{fill:#bbb;stroke:#000}"
    "table,svg{page-break-inside:avoid}}\n"
    "</style>\n</head>\n<body>\n<h1>DDAS delivery status</h1>\n";

/* Sorting: a click on a header (or #sort=COLUMN, #sort=-COLUMN on load)
 * orders the body rows by that column's data-value. */
static const char *const page_script =
    "<script>\n"
    "(function(){\n"
    "var table=document.getElementById('status');\n"
    "var heads=table.tHead.rows[0].cells;\n"
    "function sortBy(i,desc){\n"
    " var body=table.tBodies[0];\n"
    " var rows=Array.prototype.slice.call(body.rows);\n"
    " var num=heads[i].getAttribute('data-numeric')==='1';\n"
    " rows.sort(function(a,b){\n"
    "  var x=a.cells[i].getAttribute('data-value'),"
    "y=b.cells[i].getAttribute('data-value');\n"
    "  var c=num?(Number(x)-Number(y)):(x<y?-1:x>y?1:0);\n"
    "  return desc?-c:c;});\n"
    " rows.forEach(function(r){body.appendChild(r);});\n"
    " for(var k=0;k<heads.length;k++)heads[k].removeAttribute('aria-sort');\n"
    " heads[i].setAttribute('aria-sort',desc?'descending':'ascending');\n"
    "}\n"
    "Array.prototype.forEach.call(heads,function(h,i){\n"
    " h.addEventListener('click',function(){\n"
    "  sortBy(i,h.getAttribute('aria-sort')==='ascending');});});\n"
    "var m=/^#sort=(-?)([a-z_]+)$/.exec(location.hash);\n"
    "if(m){for(var k=0;k<heads.length;k++)\n"
    " if(heads[k].getAttribute('data-col')===m[2])sortBy(k,m[1]==='-');}\n"
    "})();\n"
    "</script>\n";

static int html_row(FILE *out, const ddas_status_row *w, int total) {
  char buf[512], cls[32];
  size_t k;
  int c, bad = 0;
  snprintf(cls, sizeof(cls), "s-%s", ddas_status_state_name(w->state));
  for(k = 0; cls[k]; k++)
    if(cls[k] == ' ')
      cls[k] = '-';
  bad |= fprintf(out, "<tr class=\"%s\">", cls) < 0;
  for(c = 0; c < NCOLS; c++) {
    const char *v = cell(w, total, c, buf, sizeof(buf));
    bad |= fprintf(out, "<td data-col=\"%s\"%s data-value=\"", cols[c].id,
                   cols[c].numeric ? " class=\"n\"" : "") < 0;
    bad |= esc(out, v) | (fputs("\">", out) < 0) | esc(out, v) |
           (fputs("</td>", out) < 0);
  }
  return bad | (fputs("</tr>\n", out) < 0) ? -1 : 0;
}

/* A horizontal bar chart: per row one bar of accepted and one of rejected
 * records, each labelled with its number (readable in black and white). */
static int html_chart(FILE *out, const ddas_status_table *t) {
  size_t i, max = 1;
  const int label = 330, bar = 360, h = 18;
  char buf[512];
  int bad = 0;
  for(i = 0; i < t->nrows; i++) {
    if(t->rows[i].accepted > max)
      max = t->rows[i].accepted;
    if(t->rows[i].rejected > max)
      max = t->rows[i].rejected;
  }
  bad |= fprintf(out,
                 "<h2>Accepted and rejected records</h2>\n"
                 "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
                 "width=\"%d\" height=\"%zu\" role=\"img\" "
                 "aria-label=\"accepted and rejected records per row\">\n",
                 label + bar + 80, (size_t)(2 * h + 10) * t->nrows + 10) < 0;
  for(i = 0; i < t->nrows; i++) {
    const ddas_status_row *w = &t->rows[i];
    size_t y = 5 + (size_t)(2 * h + 10) * i;
    int wa = (int)((double)w->accepted / (double)max * bar);
    int wr = (int)((double)w->rejected / (double)max * bar);
    bad |= fprintf(out, "<text x=\"0\" y=\"%zu\">", y + h) < 0;
    bad |= esc(out, cell(w, 0, C_ORG, buf, sizeof(buf)));
    bad |= fputs(" ", out) < 0;
    bad |= esc(out, cell(w, 0, C_PERIOD, buf, sizeof(buf)));
    bad |= fputs(" ", out) < 0;
    bad |= esc(out, cell(w, 0, C_KIND, buf, sizeof(buf)));
    bad |=
        fprintf(out,
                "</text>\n<rect class=\"acc\" x=\"%d\" y=\"%zu\" width=\"%d\" "
                "height=\"%d\"/><text x=\"%d\" y=\"%zu\">accepted "
                "%zu</text>\n<rect class=\"rej\" x=\"%d\" y=\"%zu\" "
                "width=\"%d\" height=\"%d\"/><text x=\"%d\" y=\"%zu\">"
                "rejected %zu</text>\n",
                label, y, wa, h - 2, label + wa + 4, y + h - 5, w->accepted,
                label, y + h, wr, h - 2, label + wr + 4, y + 2 * h - 5,
                w->rejected) < 0;
  }
  return bad | (fputs("</svg>\n", out) < 0) ? -1 : 0;
}

int ddas_status_html(FILE *out, const ddas_status_table *t,
                     const char *generated) {
  size_t i;
  int c, bad = fputs(page_head, out) < 0;
  bad |= fputs("<p>", out) < 0;
  if(generated)
    bad |= (fputs("Generated ", out) < 0) | esc(out, generated) |
           (fputs(". ", out) < 0);
  bad |= fprintf(out, "%zu of %zu rows complete; %zu events counted.",
                 t->complete, t->nrows, t->events) < 0;
  if(t->period || t->organisation || t->since) {
    bad |= fputs(" Selected:", out) < 0;
    if(t->period)
      bad |= (fputs(" period ", out) < 0) | esc(out, t->period);
    if(t->organisation)
      bad |= (fputs(" organisation ", out) < 0) | esc(out, t->organisation);
    if(t->since)
      bad |= (fputs(" events since ", out) < 0) | esc(out, t->since);
  }
  bad |= fputs(" Click a column header to sort.</p>\n"
               "<table id=\"status\">\n<thead><tr>",
               out) < 0;
  for(c = 0; c < NCOLS; c++)
    bad |= fprintf(out, "<th data-col=\"%s\" data-numeric=\"%d\">%s</th>",
                   cols[c].id, cols[c].numeric, cols[c].head) < 0;
  bad |= fputs("</tr></thead>\n<tbody>\n", out) < 0;
  for(i = 0; i < t->nrows; i++)
    bad |= html_row(out, &t->rows[i], 0);
  bad |= fputs("</tbody>\n<tfoot>\n", out) < 0;
  bad |= html_row(out, &t->total, 1);
  bad |= fputs("</tfoot>\n</table>\n", out) < 0;
  bad |= html_chart(out, t);
  bad |= fputs(page_script, out) < 0;
  bad |= fputs("</body>\n</html>\n", out) < 0;
  return bad ? -1 : 0;
}
