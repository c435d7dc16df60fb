/* Helpers shared by the unit tests (see testutil.h). */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

char *tu_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *b;
  long n;
  if(!f) {
    fprintf(stderr, "cannot open %s\n", path);
    abort();
  }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  b = malloc((size_t)n + 1);
  if(!b || fread(b, 1, (size_t)n, f) != (size_t)n)
    abort();
  b[n] = '\0';
  fclose(f);
  if(len)
    *len = (size_t)n;
  return b;
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **tu_list(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char **list = NULL;
  size_t n = 0, sl = strlen(suffix);
  if(!d) {
    fprintf(stderr, "cannot open directory %s\n", dir);
    abort();
  }
  while((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if(l > sl && strcmp(e->d_name + l - sl, suffix) == 0) {
      list = realloc(list, (n + 2) * sizeof(*list));
      list[n++] = strdup(e->d_name);
    }
  }
  closedir(d);
  if(!list)
    list = calloc(1, sizeof(*list));
  list[n] = NULL;
  qsort(list, n, sizeof(*list), cmp);
  return list;
}

void tu_free_list(char **list) {
  size_t i;
  for(i = 0; list && list[i]; i++)
    free(list[i]);
  free(list);
}

int tu_run(const char *cmd, char **out) {
  FILE *p = popen(cmd, "r");
  char *b = NULL;
  size_t n = 0, cap = 0;
  int st;
  if(!p)
    return -1;
  for(;;) {
    size_t got;
    if(cap - n < 4096) {
      cap = cap ? cap * 2 : 8192;
      b = realloc(b, cap);
    }
    got = fread(b + n, 1, cap - n - 1, p);
    n += got;
    if(!got)
      break;
  }
  b[n] = '\0';
  st = pclose(p);
  if(out)
    *out = b;
  else
    free(b);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
