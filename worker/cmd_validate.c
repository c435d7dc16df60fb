/* `ddas-worker validate`: offline check of deliveries (thin: the core
 * decides, this file reads files and prints). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static int normalise(const ddas_validate_result *res, unsigned mask, FILE *out,
                     ddas_norm_counts *counts, char *err, size_t errlen) {
  ddas_batch_options bo;
  ddas_batcher *b = NULL;
  ddas_batch batch;
  int rc = -1;
  size_t k;
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = "validate";
  /* the delivery's own time, as the worker writes it */
  bo.sent_at = "1970-01-01T00:00:00Z";
  bo.time_from_delivery = 1;
  bo.max_records = SIZE_MAX;
  bo.max_bytes = SIZE_MAX;
  bo.norm_mask = mask;
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
  O_MAX_FINDINGS,
  O_PROFILE,
  O_RULE,
  O_LIST_RULES,
  O_NO_RULES,
  O_NORMALISE,
  O_NORMALISED_OUT
};

int wk_cmd_validate(int argc, char **argv) {
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
      {"max-findings", required_argument, NULL, O_MAX_FINDINGS},
      {"profile", required_argument, NULL, O_PROFILE},
      {"rule", required_argument, NULL, O_RULE},
      {"list-rules", no_argument, NULL, O_LIST_RULES},
      {"no-rules", no_argument, NULL, O_NO_RULES},
      {"normalise", required_argument, NULL, O_NORMALISE},
      {"normalize", required_argument, NULL, O_NORMALISE},
      {"normalised-out", required_argument, NULL, O_NORMALISED_OUT},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  ddas_validate_options vo;
  ddas_report_options ro = {0};
  ddas_ruleset rules;
  ddas_profile profile = DDAS_PROFILE_STRICT;
  const char *overrides[64];
  size_t noverrides = 0, k;
  const char *schema_file = NULL, *schema_dir = wk_schema_dir();
  const char *color = "auto", *norm_out = NULL;
  size_t max_size = DEFAULT_MAX_SIZE;
  int json = 0, quiet = 0, no_rules = 0, c, i, status = 0, progress;
  unsigned mask = DDAS_N_ALL;
  ddas_schemaset *set = NULL;
  ddas_schema *custom = NULL;
  char err[600];

  memset(&vo, 0, sizeof(vo));
  optind = 1;
  while((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
    char *end;
    switch(c) {
    case O_KIND:
      vo.kind = ddas_kind_parse(optarg);
      if(vo.kind == DDAS_KIND_UNKNOWN) {
        fprintf(stderr, "ddas-worker validate: --kind must be shv or vs\n");
        return 2;
      }
      break;
    case O_VERSION: vo.version = optarg; break;
    case O_SCHEMA: schema_file = optarg; break;
    case O_SCHEMA_DIR: schema_dir = optarg; break;
    case O_JSON: json = 1; break;
    case O_COLOR:
      if(strcmp(optarg, "auto") && strcmp(optarg, "always") &&
         strcmp(optarg, "never")) {
        fprintf(stderr, "ddas-worker validate: --color must be auto, always "
                        "or never\n");
        return 2;
      }
      color = optarg;
      break;
    case O_MAX_SIZE:
      if(wk_parse_size(optarg, &max_size) || max_size == 0) {
        fprintf(stderr, "ddas-worker validate: --max-size takes a size such "
                        "as 512M or 2G\n");
        return 2;
      }
      break;
    case O_MAX_DEPTH:
      vo.max_depth = (unsigned)strtoul(optarg, &end, 10);
      if(*end || vo.max_depth == 0 || vo.max_depth > 10000) {
        fprintf(stderr, "ddas-worker validate: --max-depth takes a number "
                        "from 1 to 10000\n");
        return 2;
      }
      break;
    case O_MAX_FINDINGS:
      vo.max_findings = strtoul(optarg, &end, 10);
      if(*end || vo.max_findings == 0) {
        fprintf(stderr, "ddas-worker validate: --max-findings takes a "
                        "positive number\n");
        return 2;
      }
      break;
    case O_PROFILE:
      if(ddas_profile_parse(optarg, &profile)) {
        fprintf(stderr,
                "ddas-worker validate: --profile must be spec or strict\n");
        return 2;
      }
      break;
    case O_RULE:
      if(noverrides == sizeof(overrides) / sizeof(overrides[0])) {
        fprintf(stderr, "ddas-worker validate: too many --rule options\n");
        return 2;
      }
      overrides[noverrides++] = optarg;
      break;
    case O_LIST_RULES: list_rules(); return 0;
    case O_NO_RULES: no_rules = 1; break;
    case O_NORMALISE:
      if(ddas_norm_parse(optarg, &mask)) {
        fprintf(stderr, "ddas-worker validate: --normalise takes all, none "
                        "or a list such as N1,N2,N4\n");
        return 2;
      }
      break;
    case O_NORMALISED_OUT: norm_out = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': validate_usage(stdout); return 0;
    default: fprintf(stderr, "Try 'ddas-worker validate --help'.\n"); return 2;
    }
  }
  if(optind >= argc) {
    fprintf(stderr, "ddas-worker validate: no FILE given (use - for standard "
                    "input)\nTry 'ddas-worker validate --help'.\n");
    return 2;
  }
  if(schema_file && (vo.kind != DDAS_KIND_UNKNOWN || vo.version)) {
    fprintf(stderr, "ddas-worker validate: --schema cannot be combined with "
                    "--kind or --schema-version\n");
    return 2;
  }
  if(norm_out && (optind + 1 != argc || schema_file)) {
    fprintf(stderr, "ddas-worker validate: --normalised-out needs exactly one "
                    "FILE and a shipped DDAS schema\n");
    return 2;
  }
  if(vo.version && vo.kind != DDAS_KIND_UNKNOWN &&
     !ddas_version_canonical(vo.kind, vo.version)) {
    fprintf(stderr,
            "ddas-worker validate: schema version '%s' is not known for %s "
            "(known: %s)\n",
            vo.version, ddas_kind_name(vo.kind),
            vo.kind == DDAS_KIND_SHV ? "1.0, 0.10, 0.9" : "0.9");
    return 2;
  }
  ddas_ruleset_init(&rules, profile);
  for(k = 0; k < noverrides; k++) {
    if(ddas_ruleset_override(&rules, overrides[k], err, sizeof(err))) {
      fprintf(stderr, "ddas-worker validate: --rule %s: %s\n", overrides[k],
              err);
      return 2;
    }
  }
  if(strcmp(color, "always") == 0)
    ro.color = 1;
  else if(strcmp(color, "auto") == 0)
    ro.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");

  if(schema_file) {
    ddas_result r =
        ddas_schema_load_file(schema_file, NULL, &custom, err, sizeof(err));
    if(r) {
      fprintf(stderr, "ddas-worker validate: cannot use schema: %s\n", err);
      return 2;
    }
    vo.schema = custom;
  } else {
    if(ddas_schemaset_new(schema_dir, &set)) {
      fprintf(stderr, "ddas-worker validate: out of memory\n");
      return 2;
    }
    if(!no_rules) {
      vo.rules = &rules;
      ro.profile = ddas_profile_name(profile);
    }
    vo.norm_mask = mask;
    vo.keep_document = !no_rules;
  }

  progress = !quiet && isatty(STDERR_FILENO);
  for(i = optind; i < argc; i++) {
    const char *name = argv[i];
    const char *shown = strcmp(name, "-") ? name : "(standard input)";
    char *buf = NULL;
    size_t len = 0;
    ddas_validate_result res;
    ddas_result r;
    int rr = wk_read_file(name, max_size, &buf, &len, err, sizeof(err));
    if(rr) {
      fprintf(stderr, "ddas-worker validate: %s: %s\n", shown, err);
      status = 2;
      continue;
    }
    if(progress) {
      /* on a terminal only: which file, how big, how far */
      fprintf(stderr, "\r\033[K[%d/%d] checking %s (%.1f MB)...",
              i - optind + 1, argc - optind, shown, (double)len / 1e6);
      fflush(stderr);
    }
    r = ddas_validate_buffer(set, &vo, buf, len, &res, err, sizeof(err));
    if(progress)
      fprintf(stderr, "\r\033[K");
    if(r) {
      fprintf(stderr, "ddas-worker validate: %s: %s%s%s\n", shown,
              ddas_result_str(r), *err ? ": " : "", err);
      ddas_validate_result_clear(&res);
      free(buf);
      status = 2;
      continue;
    }
    ddas_findings_sort(&res.findings);
    if(res.doc) {
      FILE *out = NULL;
      if(norm_out && res.accepted) {
        out = fopen(norm_out, "wb");
        if(!out) {
          fprintf(stderr, "ddas-worker validate: cannot write %s\n", norm_out);
          status = 2;
        }
      } else if(norm_out) {
        fprintf(stderr,
                "ddas-worker validate: %s: no record was accepted, so %s was "
                "not written\n",
                shown, norm_out);
      }
      if(normalise(&res, mask, out, &res.normalised, err, sizeof(err))) {
        fprintf(stderr, "ddas-worker validate: %s: %s\n", shown, err);
        status = 2;
      }
      if(out && fclose(out) != 0) {
        fprintf(stderr, "ddas-worker validate: cannot write %s\n", norm_out);
        status = 2;
      }
    }
    free(buf);
    if(!quiet) {
      if(json ? ddas_report_json(stdout, shown, &res, &ro)
              : ddas_report_text(stdout, shown, &res, &ro)) {
        fprintf(stderr, "ddas-worker validate: cannot write the report\n");
        status = 2;
      }
    }
    if(!res.valid && status == 0)
      status = 1;
    ddas_validate_result_clear(&res);
  }
  ddas_schemaset_free(set);
  ddas_schema_free(custom);
  if(fflush(stdout) != 0)
    status = 2;
  return status;
}
