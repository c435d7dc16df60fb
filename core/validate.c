/* One delivery in, a verdict out (see ddas/validate.h). */
#include "ddas/validate.h"

#include <stdio.h>
#include <string.h>

#include "ddas/alloc.h"

#define NSLOTS 8

struct ddas_schemaset {
  char *dir;
  struct {
    ddas_kind kind;
    const char *version; /* static, canonical */
    ddas_schema *schema;
  } slot[NSLOTS];
};

ddas_result ddas_schemaset_new(const char *dir, ddas_schemaset **out) {
  ddas_schemaset *s = ddas_calloc(1, sizeof(*s));
  *out = NULL;
  if(!s)
    return DDAS_ERR_NOMEM;
  s->dir = ddas_strdup(dir);
  if(!s->dir) {
    ddas_free(s);
    return DDAS_ERR_NOMEM;
  }
  *out = s;
  return DDAS_OK;
}

void ddas_schemaset_free(ddas_schemaset *set) {
  size_t i;
  if(!set)
    return;
  for(i = 0; i < NSLOTS; i++)
    ddas_schema_free(set->slot[i].schema);
  ddas_free(set->dir);
  ddas_free(set);
}

ddas_result ddas_schemaset_get(ddas_schemaset *set, ddas_kind kind,
                               const char *version, const ddas_schema **out,
                               char *errbuf, size_t errlen) {
  size_t i;
  char path[4096];
  ddas_schema *s = NULL;
  ddas_result r;
  const char *canon = ddas_version_canonical(kind, version);
  *out = NULL;
  if(!canon) {
    snprintf(errbuf, errlen, "no schema for %s version %s",
             ddas_kind_name(kind), version ? version : "(none)");
    return DDAS_ERR_ARG;
  }
  for(i = 0; i < NSLOTS && set->slot[i].schema; i++) {
    if(set->slot[i].kind == kind && set->slot[i].version == canon) {
      *out = set->slot[i].schema;
      return DDAS_OK;
    }
  }
  if(i == NSLOTS) {
    snprintf(errbuf, errlen, "too many schemas loaded");
    return DDAS_ERR_LIMIT;
  }
  if(snprintf(path, sizeof(path), "%s/%s-v%s.json", set->dir,
              ddas_kind_name(kind), canon) >= (int)sizeof(path)) {
    snprintf(errbuf, errlen, "schema directory path too long");
    return DDAS_ERR_ARG;
  }
  r = ddas_schema_load_file(path, NULL, &s, errbuf, errlen);
  if(r)
    return r;
  set->slot[i].kind = kind;
  set->slot[i].version = canon;
  set->slot[i].schema = s;
  *out = s;
  return DDAS_OK;
}

static size_t array_len(const ddas_json *v) {
  return v && v->type == DDAS_JSON_ARRAY ? v->n : 0;
}

static void count_records(const ddas_json *root, ddas_kind kind,
                          ddas_validate_result *res) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  size_t i;
  res->leveringen = array_len(levs);
  res->records = 0;
  for(i = 0; i < res->leveringen; i++)
    res->records += array_len(ddas_json_get(
        &levs->u.items[i],
        kind == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten"));
}

ddas_result ddas_validate_buffer(ddas_schemaset *set,
                                 const ddas_validate_options *opt,
                                 const char *buf, size_t len,
                                 ddas_validate_result *res, char *errbuf,
                                 size_t errlen) {
  ddas_json_options jopt = {0};
  ddas_json_doc *doc = NULL;
  ddas_json_error jerr;
  const ddas_schema *schema;
  ddas_result r;
  int ok;

  memset(res, 0, sizeof(*res));
  ddas_findings_init(&res->findings,
                     opt && opt->max_findings ? opt->max_findings : 10000);
  if(errbuf && errlen)
    errbuf[0] = '\0';
  jopt.max_depth = opt ? opt->max_depth : 0;

  r = ddas_json_parse(buf, len, &jopt, &doc, &jerr);
  if(r == DDAS_ERR_NOMEM)
    return r;
  if(r) {
    if(ddas_findings_add(&res->findings, DDAS_SEV_ERROR, "json.syntax",
                         jerr.code, jerr.pointer, NULL, "%s", jerr.message))
      return DDAS_ERR_NOMEM;
    if(res->findings.count) {
      ddas_finding *f = &res->findings.items[res->findings.count - 1];
      f->offset = jerr.offset;
      f->line = jerr.line;
      f->column = jerr.column;
    }
    res->valid = 0;
    return DDAS_OK;
  }
  res->parsed = 1;

  if(opt && opt->schema) {
    schema = opt->schema;
    res->detection.how = "schema file";
  } else {
    char why[300];
    if(ddas_detect(ddas_json_root(doc), opt ? opt->kind : DDAS_KIND_UNKNOWN,
                   opt ? opt->version : NULL, &res->detection, why,
                   sizeof(why))) {
      r = ddas_findings_add(&res->findings, DDAS_SEV_ERROR, "detect", NULL, "",
                            NULL, "%s", why);
      ddas_json_doc_free(doc);
      res->valid = 0;
      return r;
    }
    r = ddas_schemaset_get(set, res->detection.kind, res->detection.version,
                           &schema, errbuf, errlen);
    if(r) {
      ddas_json_doc_free(doc);
      return r;
    }
  }
  count_records(ddas_json_root(doc), res->detection.kind, res);
  ok = ddas_schema_validate(schema, ddas_json_root(doc), &res->findings);
  ddas_json_doc_free(doc);
  if(ok < 0)
    return DDAS_ERR_NOMEM;
  res->valid = res->findings.errors == 0;
  return DDAS_OK;
}

void ddas_validate_result_clear(ddas_validate_result *res) {
  ddas_findings_clear(&res->findings);
  memset(res, 0, sizeof(*res));
}
