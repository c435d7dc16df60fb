/* worker/cmd.h: the subcommands of ddas-worker. Each returns the process
 * exit status: 0 success, 1 the input was checked and is invalid (or the
 * operation failed for a reason the input causes), 2 usage or I/O error. */
#ifndef WK_CMD_H
#define WK_CMD_H

#include <stddef.h>

#include "config.h"
#include "ddas/rules.h"

int wk_cmd_validate(int argc, char **argv);
int wk_cmd_check_config(int argc, char **argv);
int wk_cmd_send(int argc, char **argv);
int wk_cmd_run(int argc, char **argv);
int wk_cmd_submit(int argc, char **argv);
int wk_cmd_replay(int argc, char **argv);
int wk_cmd_status(int argc, char **argv);
int wk_cmd_serve(int argc, char **argv);
int wk_cmd_verify(int argc, char **argv);
int wk_cmd_healthcheck(int argc, char **argv);

/* The configuration keys the core interprets: the ruleset (profile plus
 * rules.* overrides) and the normalisation mask. Either output may be NULL.
 * 0, or -1 with a message naming the key. */
int wk_config_core(const wk_config *c, ddas_ruleset *rules, unsigned *mask,
                   char *err, size_t errlen);

/* The directory holding the shipped schemas: $DDAS_SCHEMA_DIR, else the
 * build tree's when run from it, else relative to the installed program,
 * else the install prefix's (main.c says how each is found). */
const char *wk_schema_dir(void);

/* The schema set of wk_schema_dir() with every shipped schema (SHV 1.0,
 * 0.10, 0.9; VS 0.9) loaded and compiled now, so that a missing or broken
 * schema directory stops a start (or check-config) instead of the first
 * delivery. 0, or -1 with a message naming the file and DDAS_SCHEMA_DIR. */
int wk_schemas_load(ddas_schemaset **out, char *err, size_t errlen);

#endif
