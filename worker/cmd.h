/* worker/cmd.h: the subcommands of ddas-worker. Each returns the process
 * exit status: 0 success, 1 the input was checked and is invalid (or the
 * operation failed for a reason the input causes), 2 usage or I/O error. */
#ifndef WK_CMD_H
#define WK_CMD_H

int wk_cmd_validate(int argc, char **argv);

/* The directory holding the shipped schemas: $DDAS_SCHEMA_DIR, else the
 * build-time default. */
const char *wk_schema_dir(void);

#endif
