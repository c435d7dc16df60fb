/* `ddas-worker validate`: offline check of deliveries (thin: the core
 * decides, this file reads files and prints). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "ddas/ddas.h"
#include "io.h"

#define DEFAULT_MAX_SIZE ((size_t)1 << 30)

static void validate_usage(FILE *out) {
  fprintf(
      out,
      "usage: ddas-worker validate [OPTIONS] FILE...\n"
      "\n"
      "Checks DDAS deliveries offline: the official JSON Schema of the\n"
      "delivery's kind and version, then the business rules of RULES.md, and\n"
      "shows what the worker would accept, reject and normalise. Prints what\n"
      "is wrong, where (a JSON Pointer) and which rule or schema keyword says\n"
      "so. FILE may be '-' for standard input. Messages never repeat values\n"
      "from the delivery, so reports can be shared without exposing personal\n"
      "data.\n"
      "\n"
      "Options:\n"
      "  --profile spec|strict  business-rule severities (default strict, the\n"
      "                         production default; spec = only the\n"
      "                         specification's obligations)\n"
      "  --rule ID=SEVERITY     override one rule: error, warning or off\n"
      "                         (repeatable), e.g. --rule kvk.format=warning\n"
      "  --list-rules           print every rule with its scope and default\n"
      "                         severities, then exit\n"
      "  --no-rules             check the schema only\n"
      "  --normalise LIST       normalisations to apply: all (default), none,\n"
      "                         or a list such as N1,N2,N4\n"
      "  --normalised-out FILE  write the accepted, normalised delivery (one\n"
      "                         SHV v1.0 or VS document) to FILE; needs one\n"
      "                         input FILE\n"
      "  --delivered-at TIME    when the delivery is (was) submitted, RFC "
      "3339\n"
      "                         (2025-01-16T08:00:00Z): an SHV v0.9 delivery\n"
      "                         without aanleverdatumEnTijd gets it, as the\n"
      "                         worker gives it the time of its first Kafka\n"
      "                         message; without it, such a delivery cannot\n"
      "                         be upgraded (envelope.missing)\n"
      "  --code-gegevensleverancier TEXT\n"
      "                         codeGegevensleverancier for a delivery\n"
      "                         without one (SHV v0.9), as the worker's\n"
      "                         upgrade.code_gegevensleverancier\n"
      "  --kind shv|vs          the kind of delivery (default: detected from\n"
      "                         the content: schuldhulptrajecten = shv,\n"
      "                         vroegsignalen = vs)\n"
      "  --schema-version V     the DDAS schema version (shv: 1.0, 0.10, 0.9;\n"
      "                         vs: 0.9). Default: detected from\n"
      "                         version-specific members, else the newest\n"
      "  --schema FILE          validate against this JSON Schema (draft\n"
      "                         2020-12) instead of a shipped DDAS schema: "
      "for\n"
      "                         a DDAS version that is not shipped yet or an\n"
      "                         organisation's own stricter schema. The file "
      "is\n"
      "                         then checked as generic JSON: no detection, "
      "no\n"
      "                         rules, no normalisation\n"
      "  --schema-dir DIR       where the shipped schemas are (default:\n"
      "                         $DDAS_SCHEMA_DIR or %s)\n"
      "  --json                 one JSON object per file on standard output\n"
      "                         (field names documented in README.md) instead\n"
      "                         of the readable report\n"
      "  --color auto|always|never\n"
      "                         colour the readable report (default auto: "
      "when\n"
      "                         standard output is a terminal and NO_COLOR is\n"
      "                         unset)\n"
      "  --max-size SIZE        refuse inputs larger than SIZE (default 1G; "
      "K,\n"
      "                         M, G suffixes)\n"
      "  --max-memory SIZE      memory the parse of one file may take "
      "(default\n"
      "                         4 times its size plus 1M); input that needs\n"
      "                         more, such as long runs of tiny values, is a\n"
      "                         json.syntax memory-limit finding\n"
      "  --max-depth N          maximum nesting of arrays/objects (default "
      "64)\n"
      "  --max-findings N       findings kept per file (default 10000; the "
      "rest\n"
      "                         are counted)\n"
      "  -q, --quiet            print nothing; only the exit status tells\n"
      "  -h, --help             show this help\n"
      "\n"
      "Exit status: 0 every file is valid (warnings allowed), 1 at least one\n"
      "file has an error finding, 2 usage error, unreadable file or unusable\n"
      "schema.\n",
      wk_schema_dir());
}

static void list_rules(void) {
  size_t n, i;
  const ddas_rule_info *t = ddas_rule_table(&n);
  printf("%-28s %-9s %-8s %-8s %s\n", "rule", "scope", "spec", "strict",
         "what it checks");
  for(i = 0; i < n; i++)
    printf("%-28s %-9s %-8s %-8s %s\n", t[i].id, ddas_scope_name(t[i].scope),
           ddas_level_name(t[i].spec), ddas_level_name(t[i].strict),
           t[i].summary);
}

/* Runs the accepted records through the batch writer (N3-N6) to count the
 * normalisations and, when `out` is set, writes them as one document. */
static int normalise(const ddas_validate_result *res,
                     const ddas_envelope_context *ec, unsigned mask, FILE *out,
                     ddas_norm_counts *counts, char *err, size_t errlen) {
  ddas_batch_options bo;
  ddas_batcher *b = NULL;
  ddas_batch batch;
  int rc = -1;
  size_t k;
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = "validate";
  bo.envelope = *ec; /* the context the delivery was checked with */
  bo.time_from_delivery = 1;
  bo.max_records = SIZE_MAX;
  bo.max_bytes = SIZE_MAX;
  bo.norm_mask = mask;
  bo.count_only = out == NULL; /* the counts need no batch bodies */
  if(ddas_batcher_new(&bo, &b) || ddas_batcher_add(b, res) ||
     ddas_batcher_finish(b)) {
    snprintf(err, errlen, "normalising the accepted records failed");
    goto out;
  }
  while(ddas_batcher_next(b, &batch)) {
    if(out && fwrite(batch.body, 1, batch.len, out) != batch.len) {
      snprintf(err, errlen, "cannot write the normalised delivery");
      ddas_batch_clear(&batch);
      goto out;
    }
    ddas_batch_clear(&batch);
  }
  for(k = 2; k < 6; k++)
    counts->n[k] += ddas_batcher_normalised(b)->n[k];
  rc = 0;
out:
  ddas_batcher_free(b);
  return rc;
}

enum {
  O_KIND = 256,
  O_VERSION,
  O_SCHEMA,
  O_SCHEMA_DIR,
  O_JSON,
  O_COLOR,
  O_MAX_SIZE,
  O_MAX_DEPTH,
  O_MAX_MEMORY,
  O_MAX_FINDINGS,
  O_PROFILE,
  O_RULE,
  O_LIST_RULES,
  O_NO_RULES,
  O_NORMALISE,
  O_NORMALISED_OUT,
  O_DELIVERED_AT,
  O_CODE
};

/* One `validate` run: the command line, and what every file is checked
 * with (set up once from it). */
typedef struct {
  /* the command line */
  ddas_validate_options vo; /* kind, version and limits from the options */
  ddas_profile profile;
  const char *overrides[64];
  size_t noverrides;
  const char *schema_file, *schema_dir, *color, *norm_out;
  size_t max_size;
  unsigned mask;
  int json, quiet, no_rules;
  /* set up from it */
  ddas_ruleset rules;
  ddas_report_options ro;
  ddas_schemaset *set;
  ddas_schema *custom;
  int progress;
  ddas_envelope_context envelope; /* --delivered-at, --code-... */
} validate_run;

/* Applies option c (its argument in optarg) to v. 0, -1 when the command is
 * done (--help, --list-rules), or 2 after a usage error message. */
static int parse_option(int c, validate_run *v) {
  char *end;
  switch(c) {
  case O_KIND:
    v->vo.kind = ddas_kind_parse(optarg);
    if(v->vo.kind == DDAS_KIND_UNKNOWN) {
      fprintf(stderr, "ddas-worker validate: --kind must be shv or vs\n");
      return 2;
    }
    break;
  case O_VERSION: v->vo.version = optarg; break;
  case O_SCHEMA: v->schema_file = optarg; break;
  case O_SCHEMA_DIR: v->schema_dir = optarg; break;
  case O_JSON: v->json = 1; break;
  case O_COLOR:
    if(strcmp(optarg, "auto") && strcmp(optarg, "always") &&
       strcmp(optarg, "never")) {
      fprintf(stderr, "ddas-worker validate: --color must be auto, always "
                      "or never\n");
      return 2;
    }
    v->color = optarg;
    break;
  case O_MAX_SIZE:
    if(wk_parse_size(optarg, &v->max_size) || v->max_size == 0) {
      fprintf(stderr, "ddas-worker validate: --max-size takes a size such "
                      "as 512M or 2G\n");
      return 2;
    }
    break;
  case O_MAX_MEMORY:
    if(wk_parse_size(optarg, &v->vo.max_memory) || v->vo.max_memory == 0) {
      fprintf(stderr, "ddas-worker validate: --max-memory takes a size such "
                      "as 512M or 8G\n");
      return 2;
    }
    break;
  case O_MAX_DEPTH:
    v->vo.max_depth = (unsigned)strtoul(optarg, &end, 10);
    if(*end || v->vo.max_depth == 0 || v->vo.max_depth > 10000) {
      fprintf(stderr, "ddas-worker validate: --max-depth takes a number "
                      "from 1 to 10000\n");
      return 2;
    }
    break;
  case O_MAX_FINDINGS:
    v->vo.max_findings = strtoul(optarg, &end, 10);
    if(*end || v->vo.max_findings == 0) {
      fprintf(stderr, "ddas-worker validate: --max-findings takes a "
                      "positive number\n");
      return 2;
    }
    break;
  case O_PROFILE:
    if(ddas_profile_parse(optarg, &v->profile)) {
      fprintf(stderr,
              "ddas-worker validate: --profile must be spec or strict\n");
      return 2;
    }
    break;
  case O_RULE:
    if(v->noverrides == sizeof(v->overrides) / sizeof(v->overrides[0])) {
      fprintf(stderr, "ddas-worker validate: too many --rule options\n");
      return 2;
    }
    v->overrides[v->noverrides++] = optarg;
    break;
  case O_LIST_RULES: list_rules(); return -1;
  case O_NO_RULES: v->no_rules = 1; break;
  case O_NORMALISE:
    if(ddas_norm_parse(optarg, &v->mask)) {
      fprintf(stderr, "ddas-worker validate: --normalise takes all, none "
                      "or a list such as N1,N2,N4\n");
      return 2;
    }
    break;
  case O_NORMALISED_OUT: v->norm_out = optarg; break;
  case O_DELIVERED_AT:
    if(!ddas_format_date_time(optarg, strlen(optarg))) {
      fprintf(stderr, "ddas-worker validate: --delivered-at takes an RFC "
                      "3339 time such as 2025-01-16T08:00:00Z\n");
      return 2;
    }
    v->envelope.delivered_at = optarg;
    v->envelope.delivered_at_from = "--delivered-at";
    break;
  case O_CODE:
    if(!*optarg) {
      fprintf(stderr, "ddas-worker validate: --code-gegevensleverancier "
                      "takes a non-empty text\n");
      return 2;
    }
    v->envelope.code = optarg;
    v->envelope.code_from = "--code-gegevensleverancier";
    break;
  case 'q': v->quiet = 1; break;
  case 'h': validate_usage(stdout); return -1;
  default: return 2; /* wk_getopt said why */
  }
  return 0;
}

/* Parses the command line into v (zeroed first; the FILEs are argv[optind]
 * on). 0, -1 when the command is done (--help, --list-rules), or 2 after a
 * usage error message. */
static int parse_args(int argc, char **argv, validate_run *v) {
  static const struct option opts[] = {
      {"kind", required_argument, NULL, O_KIND},
      {"schema-version", required_argument, NULL, O_VERSION},
      {"schema", required_argument, NULL, O_SCHEMA},
      {"schema-dir", required_argument, NULL, O_SCHEMA_DIR},
      {"json", no_argument, NULL, O_JSON},
      {"color", required_argument, NULL, O_COLOR},
      {"colour", required_argument, NULL, O_COLOR},
      {"max-size", required_argument, NULL, O_MAX_SIZE},
      {"max-depth", required_argument, NULL, O_MAX_DEPTH},
      {"max-memory", required_argument, NULL, O_MAX_MEMORY},
      {"max-findings", required_argument, NULL, O_MAX_FINDINGS},
      {"profile", required_argument, NULL, O_PROFILE},
      {"rule", required_argument, NULL, O_RULE},
      {"list-rules", no_argument, NULL, O_LIST_RULES},
      {"no-rules", no_argument, NULL, O_NO_RULES},
      {"normalise", required_argument, NULL, O_NORMALISE},
      {"normalize", required_argument, NULL, O_NORMALISE},
      {"normalised-out", required_argument, NULL, O_NORMALISED_OUT},
      {"delivered-at", required_argument, NULL, O_DELIVERED_AT},
      {"code-gegevensleverancier", required_argument, NULL, O_CODE},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c, rc;
  memset(v, 0, sizeof(*v));
  v->profile = DDAS_PROFILE_STRICT;
  v->schema_dir = wk_schema_dir();
  v->color = "auto";
  v->max_size = DEFAULT_MAX_SIZE;
  v->mask = DDAS_N_ALL;
  optind = 1;
  while((c = wk_getopt(argc, argv, "qh", opts, "validate")) != -1)
    if((rc = parse_option(c, v)))
      return rc;
  if(optind >= argc) {
    fprintf(stderr, "ddas-worker validate: no FILE given (use - for standard "
                    "input)\nTry 'ddas-worker validate --help'.\n");
    return 2;
  }
  if(v->schema_file && (v->vo.kind != DDAS_KIND_UNKNOWN || v->vo.version)) {
    fprintf(stderr, "ddas-worker validate: --schema cannot be combined with "
                    "--kind or --schema-version\n");
    return 2;
  }
  if(v->norm_out && (optind + 1 != argc || v->schema_file)) {
    fprintf(stderr, "ddas-worker validate: --normalised-out needs exactly one "
                    "FILE and a shipped DDAS schema\n");
    return 2;
  }
  if(v->vo.version && v->vo.kind != DDAS_KIND_UNKNOWN &&
     !ddas_version_canonical(v->vo.kind, v->vo.version)) {
    fprintf(stderr,
            "ddas-worker validate: schema version '%s' is not known for %s "
            "(known: %s)\n",
            v->vo.version, ddas_kind_name(v->vo.kind),
            v->vo.kind == DDAS_KIND_SHV ? "1.0, 0.10, 0.9" : "0.9");
    return 2;
  }
  return 0;
}

/* Sets up what every file is checked with: the ruleset, the report's
 * colour, the schema (--schema, else the shipped set). 0, or 2 after an
 * error message; v->set and v->custom are freed by the caller either way. */
static int setup(validate_run *v) {
  char err[600];
  size_t k;
  ddas_ruleset_init(&v->rules, v->profile);
  for(k = 0; k < v->noverrides; k++) {
    if(ddas_ruleset_override(&v->rules, v->overrides[k], err, sizeof(err))) {
      fprintf(stderr, "ddas-worker validate: --rule %s: %s\n", v->overrides[k],
              err);
      return 2;
    }
  }
  if(strcmp(v->color, "always") == 0)
    v->ro.color = 1;
  else if(strcmp(v->color, "auto") == 0)
    v->ro.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");

  if(v->schema_file) {
    ddas_result r = ddas_schema_load_file(v->schema_file, NULL, &v->custom, err,
                                          sizeof(err));
    if(r) {
      fprintf(stderr, "ddas-worker validate: cannot use schema: %s\n", err);
      return 2;
    }
    v->vo.schema = v->custom;
  } else {
    if(ddas_schemaset_new(v->schema_dir, &v->set)) {
      fprintf(stderr, "ddas-worker validate: out of memory\n");
      return 2;
    }
    if(!v->no_rules) {
      v->vo.rules = &v->rules;
      v->ro.profile = ddas_profile_name(v->profile);
    }
    v->vo.norm_mask = v->mask;
    v->vo.keep_document = !v->no_rules;
    v->vo.envelope = &v->envelope;
  }
  v->progress = !v->quiet && isatty(STDERR_FILENO);
  return 0;
}

/* Normalises the checked document of `shown` (res->normalised gets the
 * counts) and writes it to --normalised-out when records were accepted.
 * 0, or 2 after an error message. */
static int normalise_file(const validate_run *v, const char *shown,
                          ddas_validate_result *res) {
  FILE *out = NULL;
  char err[600];
  int status = 0;
  if(v->norm_out && res->accepted) {
    out = fopen(v->norm_out, "wb");
    if(!out) {
      fprintf(stderr, "ddas-worker validate: cannot write %s\n", v->norm_out);
      status = 2;
    }
  } else if(v->norm_out) {
    fprintf(stderr,
            "ddas-worker validate: %s: no record was accepted, so %s was "
            "not written\n",
            shown, v->norm_out);
  }
  if(normalise(res, &v->envelope, v->mask, out, &res->normalised, err,
               sizeof(err))) {
    fprintf(stderr, "ddas-worker validate: %s: %s\n", shown, err);
    status = 2;
  }
  if(out && fclose(out) != 0) {
    fprintf(stderr, "ddas-worker validate: cannot write %s\n", v->norm_out);
    status = 2;
  }
  return status;
}

/* Checks one FILE (`nth` of `count`, for the progress line) and prints its
 * report. The file's exit status: 0 valid, 1 an error finding, 2 it could
 * not be read, checked or reported (after a message). */
static int check_file(const validate_run *v, const char *name, int nth,
                      int count) {
  const char *shown = strcmp(name, "-") ? name : "(standard input)";
  char err[600];
  wk_file in;
  ddas_validate_result res;
  ddas_result r;
  int status = 0;
  if(wk_file_read(name, v->max_size, &in, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker validate: %s: %s\n", shown, err);
    return 2;
  }
  if(v->progress) {
    /* on a terminal only: which file, how big, how far */
    fprintf(stderr, "\r\033[K[%d/%d] checking %s (%.1f MB)...", nth, count,
            shown, (double)in.len / 1e6);
    fflush(stderr);
  }
  r = ddas_validate_buffer(v->set, &v->vo, in.data, in.len, &res, err,
                           sizeof(err));
  if(v->progress)
    fprintf(stderr, "\r\033[K");
  if(r) {
    fprintf(stderr, "ddas-worker validate: %s: %s%s%s\n", shown,
            ddas_result_str(r), *err ? ": " : "", err);
    ddas_validate_result_clear(&res);
    wk_file_release(&in);
    return 2;
  }
  if(res.doc)
    status = normalise_file(v, shown, &res);
  /* the report needs only the findings; the kept document borrows the
   * input, which goes first, so res.doc must not be used from here on */
  wk_file_release(&in);
  if(!v->quiet) {
    if(v->json ? ddas_report_json(stdout, shown, &res, &v->ro)
               : ddas_report_text(stdout, shown, &res, &v->ro)) {
      fprintf(stderr, "ddas-worker validate: cannot write the report\n");
      status = 2;
    }
  }
  if(!res.valid && status == 0)
    status = 1;
  ddas_validate_result_clear(&res);
  return status;
}

/* The exit status is the worst of the files' (2 over 1 over 0); 2 as well
 * when standard output cannot be flushed. */
int wk_cmd_validate(int argc, char **argv) {
  validate_run v;
  int i, status;
  if((status = parse_args(argc, argv, &v)))
    return status < 0 ? 0 : status;
  if((status = setup(&v))) {
    ddas_schemaset_free(v.set);
    ddas_schema_free(v.custom);
    return status;
  }
  for(i = optind; i < argc; i++) {
    int fs = check_file(&v, argv[i], i - optind + 1, argc - optind);
    if(fs > status)
      status = fs;
  }
  ddas_schemaset_free(v.set);
  ddas_schema_free(v.custom);
  if(fflush(stdout) != 0)
    status = 2;
  return status;
}
