/* ddas-worker: command dispatch. The work is done by the subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#ifndef DDAS_VERSION
#define DDAS_VERSION "0.0.0"
#endif
#ifndef DDAS_DEFAULT_SCHEMA_DIR
#define DDAS_DEFAULT_SCHEMA_DIR "config/schemas"
#endif

const char *wk_schema_dir(void) {
  const char *d = getenv("DDAS_SCHEMA_DIR");
  return d && *d ? d : DDAS_DEFAULT_SCHEMA_DIR;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker COMMAND [OPTIONS] [ARGS]\n"
          "\n"
          "Delivers DDAS debt-assistance data (schuldhulpverlening and\n"
          "vroegsignalering) to CBS.\n"
          "\n"
          "Commands:\n"
          "  run           the daemon: consume, check, forward, publish\n"
          "  submit        publish deliveries (split into chunks when large)\n"
          "  replay        re-send parked batches\n"
          "  status        deliveries per organisation and period (deadlines)\n"
          "  validate      check deliveries offline: schema, business rules,\n"
          "                partial acceptance, normalisation\n"
          "  send          send one delivery through the core and the CBS\n"
          "                forwarder, without Kafka (on-boarding an endpoint)\n"
          "  check-config  check a configuration file; print the reference\n"
          "\n"
          "Run 'ddas-worker COMMAND --help' for the options of a command.\n"
          "Other options: --help, --version.\n");
}

int main(int argc, char **argv) {
  if(argc < 2) {
    usage(stderr);
    return 2;
  }
  if(strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
     strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if(strcmp(argv[1], "--version") == 0) {
    printf("ddas-worker %s\n", DDAS_VERSION);
    return 0;
  }
  if(strcmp(argv[1], "validate") == 0)
    return wk_cmd_validate(argc - 1, argv + 1);
  if(strcmp(argv[1], "check-config") == 0)
    return wk_cmd_check_config(argc - 1, argv + 1);
  if(strcmp(argv[1], "send") == 0)
    return wk_cmd_send(argc - 1, argv + 1);
  if(strcmp(argv[1], "run") == 0)
    return wk_cmd_run(argc - 1, argv + 1);
  if(strcmp(argv[1], "submit") == 0)
    return wk_cmd_submit(argc - 1, argv + 1);
  if(strcmp(argv[1], "replay") == 0)
    return wk_cmd_replay(argc - 1, argv + 1);
  if(strcmp(argv[1], "status") == 0)
    return wk_cmd_status(argc - 1, argv + 1);
  fprintf(stderr, "ddas-worker: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
