/* ddas-worker: command dispatch, `help`, `version` and where the shipped
 * schemas are. The work is done by the subcommands. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "ddas/text.h"
#include "ddas_version.h" /* DDAS_GIT_DESCRIBE, generated at build time */

#ifndef DDAS_VERSION
#define DDAS_VERSION "0.0.0"
#endif
#ifndef DDAS_INSTALL_SCHEMA_DIR
#define DDAS_INSTALL_SCHEMA_DIR "/usr/local/share/ddas-worker/schemas"
#endif
#ifndef DDAS_SCHEMA_DIR_FROM_BIN
#define DDAS_SCHEMA_DIR_FROM_BIN "../share/ddas-worker/schemas"
#endif
#define BUILD_TREE_MARKER "ddas-worker-build-tree"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the shipped schemas are, in this order: $DDAS_SCHEMA_DIR; when the
 * program runs from its build tree (the build writes a marker file next
 * to it, naming the source tree's config/schemas, and the install never
 * copies it), that directory; the schemas relative to the program
 * (BINDIR/../share/ddas-worker/schemas, so that an installed tree can be
 * moved to another prefix); else the schema directory of the configured
 * install prefix. Computed once, on the first call (at start, before any
 * thread). validate's --schema-dir overrides the result. */
const char *wk_schema_dir(void) {
  static char found[PATH_MAX];
  char exe[PATH_MAX], path[PATH_MAX + 64];
  const char *env = getenv("DDAS_SCHEMA_DIR");
  ssize_t n;
  if(env && *env)
    return env;
  if(*found)
    return found;
  snprintf(found, sizeof(found), "%s", DDAS_INSTALL_SCHEMA_DIR);
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    char *slash;
    FILE *marker;
    exe[n] = '\0';
    if((slash = strrchr(exe, '/')))
      *slash = '\0';
    snprintf(path, sizeof(path), "%s/" BUILD_TREE_MARKER, exe);
    if((marker = fopen(path, "r"))) {
      char line[PATH_MAX];
      if(fgets(line, sizeof(line), marker)) {
        line[strcspn(line, "\n")] = '\0';
        if(is_dir(line))
          snprintf(found, sizeof(found), "%s", line);
      }
      fclose(marker);
      return found;
    }
    snprintf(path, sizeof(path), "%s/" DDAS_SCHEMA_DIR_FROM_BIN, exe);
    if(is_dir(path) && strlen(path) < sizeof(found))
      memcpy(found, path, strlen(path) + 1);
  }
  return found;
}

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"run", wk_cmd_run, "the daemon: consume, check, forward, publish"},
    {"submit", wk_cmd_submit,
     "publish deliveries (split into chunks when large)"},
    {"replay", wk_cmd_replay, "re-send parked batches"},
    {"serve", wk_cmd_serve,
     "answer CBS's POST /gegevens (the official pull\n"
     "                interface) from topic.accepted"},
    {"status", wk_cmd_status,
     "deliveries per organisation and period (deadlines)"},
    {"validate", wk_cmd_validate,
     "check deliveries offline: schema, business rules,\n"
     "                partial acceptance, normalisation"},
    {"send", wk_cmd_send,
     "send one delivery through the core and the CBS\n"
     "                forwarder, without Kafka (on-boarding an endpoint)"},
    {"verify", wk_cmd_verify,
     "check the Digest and signature of a signed message"},
    {"check-config", wk_cmd_check_config,
     "check a configuration file; print the reference"},
    {"healthcheck", wk_cmd_healthcheck,
     "ask a running worker's admin endpoint (Docker\n"
     "                HEALTHCHECK)"},
    {"help", NULL, "show this help, or a command's: help COMMAND"},
    {"version", NULL, "the version, commit and library versions"}};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out) {
  size_t i;
  fprintf(out, "usage: ddas-worker COMMAND [OPTIONS] [ARGS]\n"
               "\n"
               "Delivers DDAS debt-assistance data (schuldhulpverlening and\n"
               "vroegsignalering) to CBS.\n"
               "\n"
               "Commands:\n");
  for(i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n"
               "Run 'ddas-worker help COMMAND' (or 'ddas-worker COMMAND "
               "--help') for the\n"
               "options of a command; 'man ddas-worker' for all of them.\n"
               "Other options: --help, --version.\n");
}

static const command *find_command(const char *name) {
  size_t i;
  for(i = 0; i < NCOMMANDS; i++)
    if(strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* Says that `name` is not a command, with the closest one if any. */
static int unknown_command(const char *name) {
  const char *best = NULL;
  size_t bestd = 3, i;
  for(i = 0; i < NCOMMANDS; i++) {
    size_t d = ddas_edit_distance(name, commands[i].name);
    if(d < bestd) {
      bestd = d;
      best = commands[i].name;
    }
  }
  fprintf(stderr, "ddas-worker: unknown command '%s'%s%s%s\n", name,
          best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
  fprintf(stderr, "Run 'ddas-worker help' for the list of commands.\n");
  return 2;
}

/* `ddas-worker help [COMMAND]`. */
static int help(int argc, char **argv) {
  static char help_option[] = "--help";
  const command *c;
  char *args[3];
  if(argc < 3) {
    usage(stdout);
    return 0;
  }
  c = find_command(argv[2]);
  if(!c)
    return unknown_command(argv[2]);
  if(!c->run)
    return help(2, argv);
  args[0] = argv[2];
  args[1] = help_option;
  args[2] = NULL;
  return c->run(2, args);
}

int main(int argc, char **argv) {
  const command *c;
  if(argc < 2) {
    usage(stderr);
    return 2;
  }
  if(!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
     !strcmp(argv[1], "help"))
    return help(argc, argv);
  if(!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    wk_version_print(stdout, DDAS_VERSION, DDAS_GIT_DESCRIBE);
    return 0;
  }
  c = find_command(argv[1]);
  if(!c || !c->run)
    return unknown_command(argv[1]);
  return c->run(argc - 1, argv + 1);
}
