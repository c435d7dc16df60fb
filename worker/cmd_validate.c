/* `ddas-worker validate`: offline check of deliveries (thin: the core
 * decides, this file reads files and prints). */
#include <getopt.h>
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
      "Checks DDAS deliveries offline against the official JSON Schemas and\n"
      "prints what is wrong, where (as a JSON Pointer) and which schema "
      "keyword\n"
      "says so. FILE may be '-' for standard input. Messages never repeat "
      "values\n"
      "from the delivery, so reports can be shared without exposing personal "
      "data.\n"
      "\n"
      "Options:\n"
      "  --kind shv|vs          the kind of delivery (default: detected from "
      "the\n"
      "                         content: schuldhulptrajecten = shv, "
      "vroegsignalen =\n"
      "                         vs)\n"
      "  --schema-version V     the DDAS schema version (shv: 1.0, 0.10, 0.9;\n"
      "                         vs: 0.9). Default: detected from "
      "version-specific\n"
      "                         members, else the newest version of the kind\n"
      "  --schema FILE          validate against this JSON Schema (draft "
      "2020-12)\n"
      "                         instead of a shipped DDAS schema: for a DDAS "
      "version\n"
      "                         that is not shipped yet or an organisation's "
      "own\n"
      "                         stricter schema. Kind and version are not "
      "detected\n"
      "  --schema-dir DIR       where the shipped schemas are (default:\n"
      "                         $DDAS_SCHEMA_DIR or %s)\n"
      "  --json                 one JSON object per file on standard output "
      "(field\n"
      "                         names documented in README.md) instead of the\n"
      "                         readable report\n"
      "  --color auto|always|never\n"
      "                         colour the readable report (default auto: "
      "when\n"
      "                         standard output is a terminal and NO_COLOR is "
      "unset)\n"
      "  --max-size SIZE        refuse inputs larger than SIZE (default 1G; K, "
      "M, G\n"
      "                         suffixes)\n"
      "  --max-depth N          maximum nesting of arrays/objects (default "
      "64)\n"
      "  --max-findings N       findings kept per file (default 10000; the "
      "rest are\n"
      "                         counted)\n"
      "  -q, --quiet            print nothing; only the exit status tells\n"
      "  -h, --help             show this help\n"
      "\n"
      "Exit status: 0 every file is valid, 1 at least one file is invalid,\n"
      "2 usage error, unreadable file or unusable schema.\n",
      wk_schema_dir());
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
  O_MAX_FINDINGS
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
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  ddas_validate_options vo;
  ddas_report_options ro = {0};
  const char *schema_file = NULL, *schema_dir = wk_schema_dir();
  const char *color = "auto";
  size_t max_size = DEFAULT_MAX_SIZE;
  int json = 0, quiet = 0, c, i, status = 0;
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
        fprintf(stderr, "ddas-worker validate: --color must be auto, always or "
                        "never\n");
        return 2;
      }
      color = optarg;
      break;
    case O_MAX_SIZE:
      if(wk_parse_size(optarg, &max_size) || max_size == 0) {
        fprintf(stderr, "ddas-worker validate: --max-size takes a size such as "
                        "512M or 2G\n");
        return 2;
      }
      break;
    case O_MAX_DEPTH:
      vo.max_depth = (unsigned)strtoul(optarg, &end, 10);
      if(*end || vo.max_depth == 0 || vo.max_depth > 10000) {
        fprintf(stderr,
                "ddas-worker validate: --max-depth takes a number from 1 to "
                "10000\n");
        return 2;
      }
      break;
    case O_MAX_FINDINGS:
      vo.max_findings = strtoul(optarg, &end, 10);
      if(*end || vo.max_findings == 0) {
        fprintf(stderr, "ddas-worker validate: --max-findings takes a positive "
                        "number\n");
        return 2;
      }
      break;
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
    fprintf(stderr,
            "ddas-worker validate: --schema cannot be combined with --kind "
            "or --schema-version\n");
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
  } else if(ddas_schemaset_new(schema_dir, &set)) {
    fprintf(stderr, "ddas-worker validate: out of memory\n");
    return 2;
  }

  for(i = optind; i < argc; i++) {
    const char *name = argv[i];
    char *buf = NULL;
    size_t len = 0;
    ddas_validate_result res;
    ddas_result r;
    int rr = wk_read_file(name, max_size, &buf, &len, err, sizeof(err));
    if(rr) {
      fprintf(stderr, "ddas-worker validate: %s: %s\n",
              strcmp(name, "-") ? name : "(standard input)", err);
      status = 2;
      continue;
    }
    r = ddas_validate_buffer(set, &vo, buf, len, &res, err, sizeof(err));
    free(buf);
    if(r) {
      fprintf(stderr, "ddas-worker validate: %s: %s%s%s\n", name,
              ddas_result_str(r), *err ? ": " : "", err);
      ddas_validate_result_clear(&res);
      status = 2;
      continue;
    }
    if(!quiet) {
      const char *shown = strcmp(name, "-") ? name : "(standard input)";
      if(json ? ddas_report_json(stdout, shown, &res)
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
