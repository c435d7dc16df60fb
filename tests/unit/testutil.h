/* tests/unit/testutil.h: small helpers shared by the unit tests. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>

/* Reads a whole file; aborts the test program when it cannot. Free with
 * free(). */
char *tu_read(const char *path, size_t *len);
/* Sorted names of the files in dir ending in suffix; NULL-terminated; free
 * with tu_free_list(). */
char **tu_list(const char *dir, const char *suffix);
void tu_free_list(char **list);
/* Runs a shell command, captures stdout into *out (free()), returns the exit
 * status (or -1). */
int tu_run(const char *cmd, char **out);

#endif
