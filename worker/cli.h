/* worker/cli.h: the command-line conventions every subcommand shares:
 * getopt errors that name the command and suggest the closest option, and
 * the version report. */
#ifndef WK_CLI_H
#define WK_CLI_H

#include <getopt.h>
#include <stdio.h>

/* getopt_long for subcommand `cmd` (e.g. "run") with getopt's own messages
 * off: an unknown option, one that needs a value and has none, or an
 * ambiguous abbreviation is reported on stderr as
 *   ddas-worker CMD: unknown option '--cofnig' (did you mean '--config'?)
 *   Try 'ddas-worker CMD --help'.
 * and '?' is returned; every other return is getopt_long's. */
int wk_getopt(int argc, char **argv, const char *shortopts,
              const struct option *opts, const char *cmd);

/* Writes what `ddas-worker version` prints: the program's version and the
 * commit it was built from (git describe), then the versions of the
 * libraries it runs with (librdkafka, libcurl, OpenSSL, jansson), as
 * reported by the libraries loaded now. */
void wk_version_print(FILE *out, const char *version, const char *commit);
/* Catches SIGTERM and SIGINT for a daemon (run, serve): they only set a
 * flag that wk_stop_requested() returns, so the command stops at its next
 * check and tears down in order. */
void wk_catch_stop_signals(void);
int wk_stop_requested(void);

#endif
