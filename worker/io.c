/* Whole-file reads with a size cap, mapped where possible (see io.h). */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void too_large(size_t max_bytes, char *err, size_t errlen) {
  snprintf(err, errlen,
           "larger than the limit of %zu bytes (raise it with --max-size)",
           max_bytes);
}

/* Reads f to its end into a new malloc buffer, at most max_bytes (one more
 * byte tells "too large"). 0, -1 or -2 as wk_file_read(). */
static int read_stream(FILE *f, size_t max_bytes, wk_file *out, char *err,
                       size_t errlen) {
  char *b = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for(;;) {
    size_t want, got;
    if(n == cap) {
      size_t ncap = cap ? cap * 2 : 1 << 16;
      char *nb;
      if(ncap > max_bytes + 1)
        ncap = max_bytes + 1;
      if(ncap <= cap) {
        rc = -2;
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
  if(!rc && n > max_bytes)
    rc = -2;
  if(rc == -2)
    too_large(max_bytes, err, errlen);
  if(rc) {
    free(b);
    return rc;
  }
  out->data = b;
  out->len = n;
  return 0;
}

int wk_file_read(const char *path, size_t max_bytes, wk_file *out, char *err,
                 size_t errlen) {
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  struct stat st;
  int rc;
  memset(out, 0, sizeof(*out));
  if(!f) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return -1;
  }
  if(fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
    off_t pos = is_stdin ? lseek(fileno(f), 0, SEEK_CUR) : 0;
    /* refused from its size, before a byte is read */
    if(pos >= 0 && st.st_size > pos &&
       (uintmax_t)(st.st_size - pos) > (uintmax_t)max_bytes) {
      too_large(max_bytes, err, errlen);
      rc = -2;
      goto out;
    }
    /* a named file is mapped, not copied: the parser only reads it, and
     * its pages come from the page cache (size 0: /proc files and the like
     * are read instead; an empty file is read as empty) */
    if(!is_stdin && st.st_size > 0 &&
       (uintmax_t)st.st_size <= (uintmax_t)SIZE_MAX) {
      /* MAP_POPULATE: every page is read and mapped now, in one call,
       * instead of one page fault per 16 pages while parsing (the parse
       * reads all of it anyway) */
      void *m = mmap(NULL, (size_t)st.st_size, PROT_READ,
                     MAP_PRIVATE | MAP_POPULATE, fileno(f), 0);
      if(m != MAP_FAILED) {
        out->data = m;
        out->len = (size_t)st.st_size;
        out->mapped = 1;
        rc = 0;
        goto out;
      }
    }
  }
  rc = read_stream(f, max_bytes, out, err, errlen);
out:
  if(!is_stdin)
    fclose(f);
  return rc;
}

void wk_file_release(wk_file *f) {
  if(f->mapped)
    munmap(f->data, f->len);
  else
    free(f->data);
  memset(f, 0, sizeof(*f));
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

int wk_parse_listen(const char *key, const char *listen_on,
                    struct sockaddr_storage *ss, char *err, size_t errlen) {
  char host[64], *end;
  const char *colon = strrchr(listen_on, ':');
  const char *h = listen_on;
  size_t hl;
  long port;
  memset(ss, 0, sizeof(*ss));
  if(!colon) {
    snprintf(err, errlen, "%s must be HOST:PORT, e.g. 127.0.0.1:9464", key);
    return -1;
  }
  hl = (size_t)(colon - listen_on);
  if(hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if(hl >= sizeof(host) || errno || end == colon + 1 || *end || port < 0 ||
     port > 65535) {
    snprintf(err, errlen,
             "%s must be HOST:PORT with a port from 0 to 65535, "
             "e.g. 127.0.0.1:9464",
             key);
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  if(strchr(host, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if(inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
      return 0;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if(inet_pton(AF_INET, host, &s4->sin_addr) == 1)
      return 0;
  }
  snprintf(err, errlen,
           "%s: '%s' is not an IP address (use 127.0.0.1, 0.0.0.0 "
           "or [::1])",
           key, host);
  return -1;
}

void wk_sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

uint64_t wk_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
