/* `ddas-worker check-config`: loads and checks a configuration the way the
 * daemon will, and prints it with secrets masked. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "ddas/normalize.h"
#include "ddas/rules.h"
#include "log.h"
#include "startcheck.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker check-config -c FILE [--print] [--probe]\n"
          "       ddas-worker check-config --reference\n"
          "\n"
          "Checks a configuration file as the worker would load it: the file,\n"
          "then DDAS_* environment overrides, then *_file secrets; types,\n"
          "bounds, unknown keys (with a suggestion), rule overrides, then the\n"
          "start-up checks every command makes: every kafka.* key against\n"
          "librdkafka, the schemas, the CBS settings (URL scheme, every\n"
          "certificate's validity window, key/certificate pairs, signing\n"
          "certificate separate from the transport certificate), and a\n"
          "warning for keys and secrets that others may read.\n"
          "\n"
          "  -c, --config FILE  the configuration file\n"
          "  --print            print the effective configuration (secrets\n"
          "                     are never shown)\n"
          "  --probe            also reach what the configuration names: the\n"
          "                     brokers (metadata), the token endpoint (a\n"
          "                     token) and CBS (TLS and an HTTP answer); one\n"
          "                     line each\n"
          "  --probe-timeout MS how long to wait for the brokers (10000)\n"
          "  --reference        print the reference table of every key\n"
          "                     (markdown, as in README.md) and exit\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 usable (and every probe reached), 1 a probe failed,\n"
          "2 not usable (the message says what to change).\n");
}

int wk_config_core(const wk_config *c, ddas_ruleset *rules, unsigned *mask,
                   char *err, size_t errlen) {
  ddas_ruleset rs;
  ddas_profile p;
  unsigned m;
  size_t i;
  if(ddas_profile_parse(c->profile, &p)) {
    snprintf(err, errlen, "rules.profile must be spec or strict");
    return -1;
  }
  ddas_ruleset_init(&rs, p);
  for(i = 0; i < c->nrules; i++) {
    char a[256], why[256];
    snprintf(a, sizeof(a), "%s=%s", c->rules[i].name, c->rules[i].value);
    if(ddas_ruleset_override(&rs, a, why, sizeof(why))) {
      snprintf(err, errlen, "rules.%s: %s", c->rules[i].name, why);
      return -1;
    }
  }
  if(ddas_norm_parse(c->normalise, &m)) {
    snprintf(err, errlen,
             "normalise must be all, none or a list such as N1,N2,N4");
    return -1;
  }
  if(rules)
    *rules = rs;
  if(mask)
    *mask = m;
  return 0;
}

int wk_schemas_load(ddas_schemaset **out, char *err, size_t errlen) {
  static const struct {
    ddas_kind kind;
    const char *version;
  } shipped[] = {{DDAS_KIND_SHV, "1.0"},
                 {DDAS_KIND_SHV, "0.10"},
                 {DDAS_KIND_SHV, "0.9"},
                 {DDAS_KIND_VS, "0.9"}};
  size_t i;
  char why[400];
  *out = NULL;
  if(ddas_schemaset_new(wk_schema_dir(), out)) {
    snprintf(err, errlen, "cannot use the schema directory %s",
             wk_schema_dir());
    return -1;
  }
  for(i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
    const ddas_schema *sch;
    why[0] = '\0';
    if(ddas_schemaset_get(*out, shipped[i].kind, shipped[i].version, &sch, why,
                          sizeof(why))) {
      snprintf(err, errlen,
               "the shipped schemas cannot be loaded from %s: %s (set "
               "DDAS_SCHEMA_DIR to the directory holding them, e.g. "
               "config/schemas of the source tree)",
               wk_schema_dir(), why[0] ? why : "unknown error");
      ddas_schemaset_free(*out);
      *out = NULL;
      return -1;
    }
  }
  return 0;
}

int wk_cmd_check_config(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"print", no_argument, NULL, 'p'},
      {"probe", no_argument, NULL, 'P'},
      {"probe-timeout", required_argument, NULL, 't'},
      {"reference", no_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *path = NULL;
  int print = 0, probe = 0, timeout_ms = 10000, c, status = 2;
  unsigned warnings = 0;
  wk_config cfg;
  char err[1024], *end;
  optind = 1;
  while((c = wk_getopt(argc, argv, "c:h", opts, "check-config")) != -1) {
    switch(c) {
    case 'c': path = optarg; break;
    case 'p': print = 1; break;
    case 'P': probe = 1; break;
    case 't':
      timeout_ms = (int)strtol(optarg, &end, 10);
      if(*end || timeout_ms < 100 || timeout_ms > 600000) {
        fprintf(stderr, "ddas-worker check-config: --probe-timeout must be "
                        "100 to 600000 (milliseconds)\n");
        return 2;
      }
      break;
    case 'r': wk_config_reference(stdout); return 0;
    case 'h': usage(stdout); return 0;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!path) {
    fprintf(stderr, "ddas-worker check-config: -c FILE is required\n");
    return 2;
  }
  if(wk_config_load(path, &cfg, err, sizeof(err)) ||
     wk_config_core(&cfg, NULL, NULL, err, sizeof(err)) ||
     (wk_log_init(&cfg),
      wk_startcheck(&cfg, WK_CHECK_ALL, NULL, &warnings, err, sizeof(err)))) {
    fprintf(stderr, "ddas-worker check-config: %s\n", err);
    goto out;
  }
  if(print)
    wk_config_print(&cfg, stdout);
  else if(warnings)
    printf("%s: configuration is usable, with %u warning%s (above)\n", path,
           warnings, warnings == 1 ? "" : "s");
  else
    printf("%s: configuration is usable\n", path);
  status = probe && wk_probe(&cfg, timeout_ms, stdout) ? 1 : 0;
out:
  wk_config_free(&cfg);
  return status;
}
