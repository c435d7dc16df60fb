/* Validation reports for people and programs (see ddas/report.h). */
#include "ddas/report.h"

#include <jansson.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/text.h"

#define C_RED "\033[31m"
#define C_YEL "\033[33m"
#define C_GRN "\033[32m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *col(const ddas_report_options *o, const char *c) {
  return o && o->color ? c : "";
}

static const char *record_word(const ddas_validate_result *res) {
  return res->detection.kind == DDAS_KIND_VS ? "vroegsignalen" : "trajecten";
}

static void print_finding(FILE *out, const ddas_finding *f, size_t skip,
                          const char *indent, const ddas_report_options *o) {
  const char *rest = f->pointer + skip;
  int err = f->severity == DDAS_SEV_ERROR;
  fprintf(out, "%s%s%-7s%s %s%s%s", indent, col(o, err ? C_RED : C_YEL),
          err ? "error" : "warning", col(o, C_OFF), col(o, C_BOLD),
          *rest ? rest : (skip ? "(here)" : "(document)"), col(o, C_OFF));
  fprintf(out, "  %s", f->message);
  fprintf(out, "  %s[%s%s%s", col(o, C_DIM), f->rule, f->keyword ? " " : "",
          f->keyword ? f->keyword : "");
  if(f->line)
    fprintf(out, " at line %u, column %u, byte %zu", f->line, f->column,
            f->offset);
  if(f->schema_pointer)
    fprintf(out, " %s", f->schema_pointer);
  fprintf(out, "]%s\n", col(o, C_OFF));
}

int ddas_report_text(FILE *out, const char *name,
                     const ddas_validate_result *res,
                     const ddas_report_options *opt) {
  const ddas_findings *fs = &res->findings;
  long cur_lev = -2, cur_rec = -2;
  size_t i, *order;

  /* the name comes from outside: escaped, it cannot drive the terminal */
  fputs(col(opt, C_BOLD), out);
  ddas_fput_escaped(out, name);
  fprintf(out, "%s: %s%s%s", col(opt, C_OFF),
          col(opt, res->valid ? C_GRN : C_RED),
          res->valid ? "valid" : "INVALID", col(opt, C_OFF));
  if(res->detection.kind != DDAS_KIND_UNKNOWN)
    fprintf(out, " (%s v%s; %s)",
            res->detection.kind == DDAS_KIND_SHV ? "SHV" : "VS",
            res->detection.version, res->detection.how);
  else if(res->detection.how)
    fprintf(out, " (%s)", res->detection.how);
  if(res->parsed) {
    fprintf(out, "\n  leveringen: %zu, %s: %zu, errors: %zu, warnings: %zu\n",
            res->leveringen, record_word(res), res->records, fs->errors,
            fs->warnings);
    if(opt && opt->profile && res->detection.kind != DDAS_KIND_UNKNOWN) {
      size_t k, any = 0;
      fprintf(out,
              "  profile %s: accepted %zu, rejected %zu, with warnings %zu\n",
              opt->profile, res->accepted, res->rejected, res->warned);
      for(k = 0; k < 6; k++)
        any += res->normalised.n[k];
      if(any) {
        fprintf(out, "  normalised:");
        for(k = 0; k < 6; k++)
          if(res->normalised.n[k])
            fprintf(out, " N%zu %zu", k + 1, res->normalised.n[k]);
        fprintf(out, "\n");
      }
    }
  } else
    fprintf(out, "\n  not well-formed JSON, so nothing else was checked\n");
  /* one group per scope (document, levering, record), each in document
   * order */
  if(ddas_findings_group_order(fs, &order))
    return -1;
  for(i = 0; i < fs->count; i++) {
    const ddas_finding *f = &fs->items[order[i]];
    long lev, rec;
    const char *list;
    size_t list_len;
    ddas_finding_location(f->pointer, &lev, &rec, &list, &list_len);
    if(lev != cur_lev || rec != cur_rec) {
      if(lev < 0)
        fprintf(out, "  document\n");
      else if(lev != cur_lev || rec < 0)
        fprintf(out, "  levering /leveringen/%ld\n", lev);
      if(rec >= 0)
        fprintf(out, "    %.*s/%ld\n", (int)list_len, list, rec);
      cur_lev = lev;
      cur_rec = rec;
    }
    if(rec >= 0) {
      /* strip "/leveringen/<i>/<list>/<j>" */
      size_t skip = (size_t)(list - f->pointer) + list_len + 1;
      while(f->pointer[skip] >= '0' && f->pointer[skip] <= '9')
        skip++;
      print_finding(out, f, skip, "      ", opt);
    } else if(lev >= 0) {
      size_t skip = strlen("/leveringen/");
      while(f->pointer[skip] >= '0' && f->pointer[skip] <= '9')
        skip++;
      print_finding(out, f, skip, "    ", opt);
    } else {
      print_finding(out, f, 0, "    ", opt);
    }
  }
  ddas_free(order);
  if(fs->dropped)
    fprintf(out, "  ... and %zu more findings not shown (limit %zu)\n",
            fs->dropped, fs->limit);
  return ferror(out) ? -1 : 0;
}

static int set_new(json_t *obj, const char *key, json_t *v) {
  return v ? json_object_set_new(obj, key, v) : -1;
}

int ddas_report_json(FILE *out, const char *name,
                     const ddas_validate_result *res,
                     const ddas_report_options *opt) {
  json_t *o = json_object(), *arr = json_array();
  char *file = NULL;
  size_t i;
  int rc = -1;
  if(!o || !arr)
    goto out;
  /* a file name need not be UTF-8; JSON text must be: '?' for the rest */
  file = ddas_strdup(name);
  if(!file)
    goto out;
  ddas_utf8_sanitize(file);
  if(set_new(o, "file", json_string(file)) ||
     set_new(o, "valid", json_boolean(res->valid)) ||
     set_new(o, "kind",
             res->detection.kind != DDAS_KIND_UNKNOWN
                 ? json_string(ddas_kind_name(res->detection.kind))
                 : json_null()) ||
     set_new(o, "schema_version",
             res->detection.version ? json_string(res->detection.version)
                                    : json_null()) ||
     set_new(o, "detected_by",
             res->detection.how ? json_string(res->detection.how)
                                : json_null()) ||
     set_new(o, "leveringen", json_integer((json_int_t)res->leveringen)) ||
     set_new(o, "records", json_integer((json_int_t)res->records)) ||
     set_new(o, "errors", json_integer((json_int_t)res->findings.errors)) ||
     set_new(o, "warnings", json_integer((json_int_t)res->findings.warnings)) ||
     set_new(o, "findings_not_shown",
             json_integer((json_int_t)res->findings.dropped)))
    goto out;
  if(opt && opt->profile && res->detection.kind != DDAS_KIND_UNKNOWN) {
    json_t *norm = json_object();
    size_t k;
    if(!norm || set_new(o, "profile", json_string(opt->profile)) ||
       set_new(o, "accepted", json_integer((json_int_t)res->accepted)) ||
       set_new(o, "rejected", json_integer((json_int_t)res->rejected)) ||
       set_new(o, "warned", json_integer((json_int_t)res->warned)) ||
       set_new(o, "normalised", norm))
      goto out;
    for(k = 0; k < 6; k++) {
      char key[4] = {'N', (char)('1' + k), 0, 0};
      if(set_new(norm, key, json_integer((json_int_t)res->normalised.n[k])))
        goto out;
    }
  }
  for(i = 0; i < res->findings.count; i++) {
    const ddas_finding *f = &res->findings.items[i];
    json_t *j = json_object();
    long lev, rec;
    const char *list;
    size_t list_len;
    if(!j || json_array_append_new(arr, j))
      goto out;
    ddas_finding_location(f->pointer, &lev, &rec, &list, &list_len);
    if(set_new(
           j, "severity",
           json_string(f->severity == DDAS_SEV_ERROR ? "error" : "warning")) ||
       set_new(j, "scope", json_string(ddas_scope_name(f->scope))) ||
       set_new(j, "rule", json_string(f->rule)) ||
       set_new(j, "keyword",
               f->keyword ? json_string(f->keyword) : json_null()) ||
       set_new(j, "pointer", json_string(f->pointer)) ||
       set_new(j, "schema_pointer",
               f->schema_pointer ? json_string(f->schema_pointer)
                                 : json_null()) ||
       set_new(j, "message", json_string(f->message)) ||
       set_new(j, "levering", lev >= 0 ? json_integer(lev) : json_null()) ||
       set_new(j, "record", rec >= 0 ? json_integer(rec) : json_null()))
      goto out;
    if(f->line && (set_new(j, "offset", json_integer((json_int_t)f->offset)) ||
                   set_new(j, "line", json_integer(f->line)) ||
                   set_new(j, "column", json_integer(f->column))))
      goto out;
  }
  if(json_object_set(o, "findings", arr))
    goto out;
  if(json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 &&
     fputc('\n', out) != EOF)
    rc = 0;
out:
  ddas_free(file);
  json_decref(arr);
  json_decref(o);
  return rc;
}
