/* One delivery in, a verdict out (see ddas/validate.h). */
#include "ddas/validate.h"

#include <stdio.h>
#include <string.h>

#include "ddas/alloc.h"
#include "ddas/batch.h"

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

static const char *record_list(ddas_kind kind) {
  return kind == DDAS_KIND_VS ? "vroegsignalen" : "schuldhulptrajecten";
}

static void count_records(const ddas_json *root, ddas_kind kind,
                          ddas_validate_result *res) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  size_t i;
  res->leveringen = array_len(levs);
  res->records = 0;
  for(i = 0; i < res->leveringen; i++)
    res->records +=
        array_len(ddas_json_get(&levs->u.items[i], record_list(kind)));
}

/* Verdict arrays sized from the document, before any finding arrives. */
static ddas_result alloc_verdicts(const ddas_json *root, ddas_kind kind,
                                  ddas_validate_result *res) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  size_t i, n = array_len(levs);
  if(!n)
    return DDAS_OK;
  res->verdicts = ddas_calloc(n, sizeof(*res->verdicts));
  if(!res->verdicts)
    return DDAS_ERR_NOMEM;
  res->nverdicts = n;
  for(i = 0; i < n; i++) {
    size_t m = array_len(ddas_json_get(&levs->u.items[i], record_list(kind)));
    if(m && !(res->verdicts[i].record = ddas_calloc(m, 1)))
      return DDAS_ERR_NOMEM;
    res->verdicts[i].nrecords = m; /* only with its array */
  }
  return DDAS_OK;
}

/* The verdict bookkeeping of one ddas_validate_buffer() call. Findings
 * that arrive before the document's shape is known (N1 and N2 report while
 * they run, before detection) are held as (severity, scope, levering,
 * record) and applied once the verdict arrays exist; N1 removes members,
 * never array elements, so their indexes still hold. */
typedef struct {
  ddas_validate_result *res;
  int shaped; /* the verdict arrays are final (allocated, or never) */
  struct held {
    int err;
    ddas_scope scope;
    long lev, rec;
  } * held;
  size_t nheld, capheld;
  int nomem;
} vstate;

/* Marks the scope an error rejects, or a warned record. */
static void mark(ddas_validate_result *res, int err, ddas_scope scope, long lev,
                 long rec) {
  if(scope == DDAS_SCOPE_DOCUMENT || lev < 0 || (size_t)lev >= res->nverdicts) {
    if(err)
      res->document_rejected = 1;
    return;
  }
  if(scope == DDAS_SCOPE_LEVERING || rec < 0 ||
     (size_t)rec >= res->verdicts[lev].nrecords) {
    if(err)
      res->verdicts[lev].rejected = 1;
    return;
  }
  res->verdicts[lev].record[rec] |= err ? DDAS_REC_REJECTED : DDAS_REC_WARNED;
}

/* Findings callback. Runs for every finding, stored or not, so verdicts
 * and rule counts do not depend on the findings limit. */
static void on_finding(void *ctx, const ddas_finding *f) {
  vstate *st = ctx;
  ddas_validate_result *res = st->res;
  long lev, rec;
  const char *list;
  size_t ll;
  int err = f->severity == DDAS_SEV_ERROR;
  int ri = ddas_rule_index(f->rule);
  if(ri < 0 || ri >= DDAS_MAX_RULES)
    ri = DDAS_MAX_RULES;
  if(err)
    res->rule_errors[ri]++;
  else
    res->rule_warnings[ri]++;
  ddas_finding_location(f->pointer, &lev, &rec, &list, &ll);
  if(st->shaped) {
    mark(res, err, f->scope, lev, rec);
    return;
  }
  if(st->nheld == st->capheld) {
    size_t nc = st->capheld ? st->capheld * 2 : 16;
    struct held *x = ddas_realloc(st->held, nc * sizeof(*x));
    if(!x) {
      st->nomem = 1;
      return;
    }
    st->held = x;
    st->capheld = nc;
  }
  st->held[st->nheld].err = err;
  st->held[st->nheld].scope = f->scope;
  st->held[st->nheld].lev = lev;
  st->held[st->nheld].rec = rec;
  st->nheld++;
}

/* The verdict arrays are final: applies the held findings. */
static void shaped(vstate *st) {
  size_t i;
  if(st->shaped)
    return;
  st->shaped = 1;
  for(i = 0; i < st->nheld; i++)
    mark(st->res, st->held[i].err, st->held[i].scope, st->held[i].lev,
         st->held[i].rec);
  ddas_free(st->held);
  st->held = NULL;
  st->nheld = st->capheld = 0;
}

int ddas_record_accepted(const ddas_validate_result *res, size_t lev,
                         size_t rec) {
  if(res->document_rejected || lev >= res->nverdicts ||
     res->verdicts[lev].rejected || rec >= res->verdicts[lev].nrecords)
    return 0;
  return !(res->verdicts[lev].record[rec] & DDAS_REC_REJECTED);
}

static void tally(ddas_validate_result *res) {
  size_t i, j;
  res->accepted = res->rejected = res->warned = 0;
  for(i = 0; i < res->nverdicts; i++) {
    for(j = 0; j < res->verdicts[i].nrecords; j++) {
      if(ddas_record_accepted(res, i, j)) {
        res->accepted++;
        if(res->verdicts[i].record[j] & DDAS_REC_WARNED)
          res->warned++;
      } else {
        res->rejected++;
      }
    }
  }
  /* records that no levering verdict covers (malformed shapes) */
  if(res->records > res->accepted + res->rejected)
    res->rejected = res->records - res->accepted;
}

static ddas_result add_syntax_finding(ddas_validate_result *res,
                                      const ddas_json_error *jerr) {
  if(ddas_findings_add(&res->findings, DDAS_SEV_ERROR, "json.syntax",
                       jerr->code, jerr->pointer, NULL, "%s", jerr->message)) {
    res->syntax_nomem = 1;
    return DDAS_ERR_NOMEM;
  }
  if(res->findings.count) {
    ddas_finding *f = &res->findings.items[res->findings.count - 1];
    f->offset = jerr->offset;
    f->line = jerr->line;
    f->column = jerr->column;
  }
  res->document_rejected = 1;
  return DDAS_OK;
}

/* The parser's on_duplicate: every repeated member name is a finding. */
static void on_duplicate(void *ctx, const ddas_json_error *e) {
  add_syntax_finding(ctx, e);
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
  const ddas_json *root;
  ddas_result r = DDAS_OK;
  int ok, generic = opt && opt->schema, guessed = 0;
  vstate st;

  memset(res, 0, sizeof(*res));
  memset(&st, 0, sizeof(st));
  st.res = res;
  ddas_findings_init(&res->findings,
                     opt && opt->max_findings ? opt->max_findings : 10000);
  res->findings.on_add = on_finding;
  res->findings.on_add_ctx = &st;
  if(errbuf && errlen)
    errbuf[0] = '\0';
  jopt.max_depth = opt ? opt->max_depth : 0;
  jopt.max_memory = opt ? opt->max_memory : 0;
  jopt.on_duplicate = on_duplicate;
  jopt.ctx = res;

  r = ddas_json_parse(buf, len, &jopt, &doc, &jerr);
  if(r == DDAS_ERR_NOMEM || res->syntax_nomem) {
    shaped(&st);
    res->findings.on_add = NULL;
    return DDAS_ERR_NOMEM;
  }
  if(r) {
    r = *jerr.code ? add_syntax_finding(res, &jerr) : DDAS_OK;
    shaped(&st); /* a document that does not parse is rejected whole */
    if(!r && st.nomem)
      r = DDAS_ERR_NOMEM;
    /* the duplicates arrive as their objects close: input order */
    ddas_findings_sort_document(&res->findings, NULL);
    res->findings.on_add = NULL;
    return r;
  }
  res->parsed = 1;
  if(!generic && opt && opt->norm_mask) {
    r = ddas_normalize_values(doc, opt->norm_mask, opt->rules, &res->findings,
                              &res->normalised);
    if(!r && st.nomem)
      r = DDAS_ERR_NOMEM;
    if(r)
      goto out;
  }
  root = ddas_json_root(doc);

  if(generic) {
    schema = opt->schema;
    res->detection.how = "schema file";
  } else {
    char why[300];
    if(ddas_detect(root, opt ? opt->kind : DDAS_KIND_UNKNOWN,
                   opt ? opt->version : NULL, &res->detection, why,
                   sizeof(why))) {
      r = ddas_findings_add(&res->findings, DDAS_SEV_ERROR, "detect", NULL, "",
                            NULL, "%s", why);
      /* with a best guess, its schema shows what else is wrong; the rules
       * and the upgrade are not run on a guess */
      if(r || res->detection.kind == DDAS_KIND_UNKNOWN)
        goto out;
      guessed = 1;
    }
    r = ddas_schemaset_get(set, res->detection.kind, res->detection.version,
                           &schema, errbuf, errlen);
    if(r)
      goto out;
  }
  count_records(root, res->detection.kind, res);
  if(!generic) {
    r = alloc_verdicts(root, res->detection.kind, res);
    if(r)
      goto out;
  }
  shaped(&st);
  ok = ddas_schema_validate(schema, root, &res->findings);
  if(ok < 0) {
    r = DDAS_ERR_NOMEM;
    goto out;
  }
  if(!generic && !guessed && opt && opt->rules) {
    r = ddas_rules_check(opt->rules, root, res->detection.kind, &res->findings);
    if(r)
      goto out;
  }
  if(!generic && !guessed && opt && opt->rules) {
    /* what the batches' envelope will be (not a schema-only question) */
    r = ddas_envelope_check(opt->envelope, root, &res->detection,
                            opt->norm_mask, opt->rules, &res->findings);
    if(r)
      goto out;
  }
  if(!generic && !guessed && opt && (opt->norm_mask & DDAS_N3) &&
     res->detection.kind == DDAS_KIND_SHV &&
     strcmp(res->detection.version, "1.0") != 0) {
    /* what goes out must be valid v1.0: check the upgraded records */
    const ddas_schema *v10;
    r = ddas_schemaset_get(set, DDAS_KIND_SHV, "1.0", &v10, errbuf, errlen);
    if(!r)
      r = ddas_upgrade_check(res, doc, v10, opt->norm_mask, opt->rules);
    if(r)
      goto out;
  }
out:
  shaped(&st); /* detection failed: held errors reject the document */
  if(!r && st.nomem)
    r = DDAS_ERR_NOMEM;
  /* schema, rule and upgrade findings arrive in runs: document order */
  ddas_findings_sort_document(&res->findings, ddas_json_root(doc));
  res->valid = res->findings.errors == 0 && !r;
  tally(res);
  if(!r && opt && opt->keep_document) {
    res->doc = doc;
    res->doc_norms = generic ? 0 : opt->norm_mask & (DDAS_N1 | DDAS_N2);
    res->doc_max_depth = opt->max_depth;
    doc = NULL;
  }
  ddas_json_doc_free(doc);
  res->findings.on_add = NULL;
  return r;
}

void ddas_validate_result_clear(ddas_validate_result *res) {
  size_t i;
  ddas_findings_clear(&res->findings);
  for(i = 0; i < res->nverdicts; i++)
    ddas_free(res->verdicts[i].record);
  ddas_free(res->verdicts);
  ddas_json_doc_free(res->doc);
  memset(res, 0, sizeof(*res));
}

/* The scope key of a finding: the pointer prefix of the scope it counts in. */
static void scope_key(const ddas_validate_result *res, const ddas_finding *f,
                      ddas_scope *scope, long *lev, long *rec, char *key,
                      size_t cap) {
  const char *list;
  size_t ll;
  ddas_finding_location(f->pointer, lev, rec, &list, &ll);
  *scope = f->scope;
  if(res->document_rejected || *scope == DDAS_SCOPE_DOCUMENT || *lev < 0) {
    *scope = DDAS_SCOPE_DOCUMENT;
    *lev = *rec = -1;
    key[0] = '\0';
  } else if(*scope == DDAS_SCOPE_LEVERING || *rec < 0) {
    *scope = DDAS_SCOPE_LEVERING;
    *rec = -1;
    snprintf(key, cap, "/leveringen/%ld", *lev);
  } else {
    snprintf(key, cap, "/leveringen/%ld/%.*s/%ld", *lev, (int)ll, list, *rec);
  }
}

static int scope_rejected(const ddas_validate_result *res, ddas_scope s,
                          long lev, long rec) {
  if(s == DDAS_SCOPE_DOCUMENT)
    return res->document_rejected;
  if((size_t)lev >= res->nverdicts)
    return 0;
  if(s == DDAS_SCOPE_LEVERING)
    return res->verdicts[lev].rejected;
  return (size_t)rec < res->verdicts[lev].nrecords &&
         (res->verdicts[lev].record[rec] & DDAS_REC_REJECTED);
}

ddas_result ddas_rejection_groups(const ddas_validate_result *res,
                                  ddas_rejection_group **out, size_t *n) {
  ddas_rejection_group *g = NULL;
  size_t ng = 0, cap = 0, i, j;
  *out = NULL;
  *n = 0;
  for(i = 0; i < res->findings.count; i++) {
    const ddas_finding *f = &res->findings.items[i];
    ddas_scope s;
    long lev, rec;
    char key[96];
    ddas_rejection_group *grp = NULL;
    scope_key(res, f, &s, &lev, &rec, key, sizeof(key));
    if(!scope_rejected(res, s, lev, rec))
      continue;
    for(j = 0; j < ng && !grp; j++)
      if(g[j].scope == s && strcmp(g[j].pointer, key) == 0)
        grp = &g[j];
    if(!grp) {
      if(ng == cap) {
        size_t nc = cap ? cap * 2 : 8;
        ddas_rejection_group *x = ddas_realloc(g, nc * sizeof(*x));
        if(!x)
          goto nomem;
        g = x;
        cap = nc;
      }
      grp = &g[ng++];
      memset(grp, 0, sizeof(*grp));
      grp->scope = s;
      grp->levering = lev;
      grp->record = rec;
      snprintf(grp->pointer, sizeof(grp->pointer), "%s", key);
    }
    {
      ddas_finding *x =
          ddas_realloc(grp->findings, (grp->nfindings + 1) * sizeof(*x));
      if(!x)
        goto nomem;
      grp->findings = x;
      grp->findings[grp->nfindings++] = *f;
    }
  }
  /* rejected scopes whose findings were all beyond max_findings still get
   * a group: every rejected record must be reported */
  {
    size_t li, ri;
    for(li = 0; li <= res->nverdicts; li++) {
      for(ri = 0; li < res->nverdicts && ri <= res->verdicts[li].nrecords;
          ri++) {
        ddas_scope s = ri == res->verdicts[li].nrecords ? DDAS_SCOPE_LEVERING
                                                        : DDAS_SCOPE_RECORD;
        long lev = (long)li, rec = s == DDAS_SCOPE_RECORD ? (long)ri : -1;
        char key[96];
        int found = 0;
        if(res->document_rejected || !scope_rejected(res, s, lev, rec))
          continue;
        if(s == DDAS_SCOPE_RECORD && res->verdicts[li].rejected)
          continue; /* the levering's event covers it */
        if(s == DDAS_SCOPE_LEVERING)
          snprintf(key, sizeof(key), "/leveringen/%ld", lev);
        for(j = 0; j < ng && !found; j++)
          found = g[j].scope == s && g[j].levering == lev && g[j].record == rec;
        if(found)
          continue;
        if(ng == cap) {
          size_t nc = cap ? cap * 2 : 8;
          ddas_rejection_group *x = ddas_realloc(g, nc * sizeof(*x));
          if(!x)
            goto nomem;
          g = x;
          cap = nc;
        }
        memset(&g[ng], 0, sizeof(g[ng]));
        g[ng].scope = s;
        g[ng].levering = lev;
        g[ng].record = rec;
        if(s == DDAS_SCOPE_LEVERING)
          snprintf(g[ng].pointer, sizeof(g[ng].pointer), "%s", key);
        else
          snprintf(g[ng].pointer, sizeof(g[ng].pointer),
                   "/leveringen/%ld/%s/%ld", lev,
                   res->detection.kind == DDAS_KIND_VS ? "vroegsignalen"
                                                       : "schuldhulptrajecten",
                   rec);
        ng++;
      }
    }
    if(res->document_rejected && ng == 0) {
      g = ddas_calloc(1, sizeof(*g));
      if(!g)
        return DDAS_ERR_NOMEM;
      g->levering = g->record = -1;
      ng = 1;
    }
  }
  *out = g;
  *n = ng;
  return DDAS_OK;
nomem:
  ddas_rejection_groups_free(g, ng);
  return DDAS_ERR_NOMEM;
}

void ddas_rejection_groups_free(ddas_rejection_group *g, size_t n) {
  size_t i;
  for(i = 0; g && i < n; i++)
    ddas_free(g[i].findings);
  ddas_free(g);
}
