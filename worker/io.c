/* Whole-file reads with a size cap (see io.h). */
#include "io.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wk_read_file(const char *path, size_t max_bytes, char **buf, size_t *len,
                 char *err, size_t errlen) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  char *b = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  *buf = NULL;
  *len = 0;
  if(!f) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return -1;
  }
  for(;;) {
    size_t want, got;
    if(n == cap) {
      size_t ncap = cap ? cap * 2 : 1 << 16;
      char *nb;
      if(ncap > max_bytes + 1)
        ncap = max_bytes + 1; /* one byte more tells "too large" */
      if(ncap <= cap) {
        rc = -2;
        snprintf(err, errlen,
                 "larger than the limit of %zu bytes (raise it with "
                 "--max-size)",
                 max_bytes);
        break;
      }
      nb = realloc(b, ncap);
      if(!nb) {
        rc = -1;
        snprintf(err, errlen, "out of memory reading the input");
        break;
      }
      b = nb;
      cap = ncap;
    }
    want = cap - n;
    got = fread(b + n, 1, want, f);
    n += got;
    if(got < want) {
      if(ferror(f)) {
        rc = -1;
        snprintf(err, errlen, "read error: %s", strerror(errno));
      }
      break;
    }
  }
  if(!rc && n > max_bytes) {
    rc = -2;
    snprintf(err, errlen,
             "larger than the limit of %zu bytes (raise it with --max-size)",
             max_bytes);
  }
  if(f != stdin)
    fclose(f);
  if(rc) {
    free(b);
    return rc;
  }
  *buf = b;
  *len = n;
  return 0;
}

int wk_parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v;
  unsigned long long mul = 1;
  if(!s || !*s || *s == '-')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if(errno || end == s)
    return -1;
  switch(*end) {
  case '\0': break;
  case 'k':
  case 'K':
    mul = 1ull << 10;
    end++;
    break;
  case 'm':
  case 'M':
    mul = 1ull << 20;
    end++;
    break;
  case 'g':
  case 'G':
    mul = 1ull << 30;
    end++;
    break;
  default: return -1;
  }
  if(*end == 'i' || *end == 'B')
    end++;
  if(*end == 'B')
    end++;
  if(*end)
    return -1;
  if(v > (unsigned long long)SIZE_MAX / mul)
    return -1;
  *out = (size_t)(v * mul);
  return 0;
}

void wk_rfc3339(time_t t, char *buf, size_t cap) {
  struct tm tm;
  if(t < 0)
    t = time(NULL);
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
