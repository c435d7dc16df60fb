/* Helpers shared by the unit tests (see testutil.h). */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

size_t tu_orphan_expected(const char *dir, const char *const *suffixes) {
  char **names = tu_list(dir, ".expected");
  size_t i, k, orphans = 0;
  for(i = 0; names[i]; i++) {
    size_t l = strlen(names[i]);
    int found = 0;
    for(k = 0; suffixes[k] && !found; k++) {
      size_t sl = strlen(suffixes[k]);
      char path[4096];
      if(l <= sl || strcmp(names[i] + l - sl, suffixes[k]) != 0)
        continue;
      snprintf(path, sizeof(path), "%s/%.*s.json", dir, (int)(l - sl),
               names[i]);
      found = access(path, F_OK) == 0;
    }
    if(!found) {
      printf("ORPHAN %s/%s: no case document reads it\n", dir, names[i]);
      orphans++;
    }
  }
  tu_free_list(names);
  return orphans;
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

/* Member names whose values are personal data (SHV and VS spellings). */
static const char *const pd_keys[] = {"Burgerservicenummer",
                                      "Geboortedatum",
                                      "Postcode",
                                      "Huisnummer",
                                      "Huisnummertoevoeging",
                                      "Voorletters",
                                      "Voorvoegsel",
                                      "Achternaam",
                                      "Straatnaam",
                                      "Plaatsnaam",
                                      "naam",
                                      "Naam",
                                      "email",
                                      "telefoonnummer",
                                      NULL};

/* Collects the raw value tokens of personal-data members by scanning the
 * bytes, so it works on malformed input too. Values shorter than 4 bytes are
 * not collected: they occur in ordinary text by chance; nor are the
 * literals true, false and null, which are no personal data. */
size_t tu_collect_pd(const char *buf, size_t len, char **vals, size_t cap) {
  size_t n = 0, k;
  for(k = 0; pd_keys[k]; k++) {
    char pat[64];
    size_t plen;
    const char *p = buf, *end = buf + len;
    snprintf(pat, sizeof(pat), "\"%s\"", pd_keys[k]);
    plen = strlen(pat);
    while(p < end) {
      const char *hit = memmem(p, (size_t)(end - p), pat, plen), *v, *e;
      if(!hit)
        break;
      v = hit + plen;
      while(v < end && (*v == ' ' || *v == '\n' || *v == '\t' || *v == '\r'))
        v++;
      p = v;
      if(v >= end || *v != ':')
        continue;
      v++;
      while(v < end && (*v == ' ' || *v == '\n' || *v == '\t' || *v == '\r'))
        v++;
      if(v < end && *v == '"') {
        v++;
        e = v;
        while(e < end && *e != '"')
          e++;
      } else {
        e = v;
        while(e < end && *e != ',' && *e != '}' && *e != ']' && *e != '\n')
          e++;
      }
      if(e - v >= 4 && n < cap && strncmp(v, "true", 4) != 0 &&
         strncmp(v, "false", 5) != 0 && strncmp(v, "null", 4) != 0)
        vals[n++] = strndup(v, (size_t)(e - v));
    }
  }
  return n;
}

ddas_schemaset *tu_set;

int tu_setup_schemas(void **state) {
  (void)state;
  return ddas_schemaset_new(SCHEMA_DIR, &tu_set) ? -1 : 0;
}

int tu_teardown_schemas(void **state) {
  (void)state;
  ddas_schemaset_free(tu_set);
  tu_set = NULL;
  return 0;
}

int tu_make_pki(const char *dir, const char *passphrase) {
  char cmd[2048];
  snprintf(cmd, sizeof(cmd),
           "mkdir -p '%s/pki' && DDAS_PKI_PASSPHRASE='%s' "
           "'%s/tests/pki/make-pki' '%s/pki' >'%s/pki.log' 2>&1",
           dir, passphrase, SOURCE_DIR, dir, dir);
  return system(cmd) == 0 ? 0 : -1;
}

size_t tu_sink_write(char *p, size_t size, size_t n, void *sink) {
  tu_sink *s = sink;
  size_t k = size * n;
  if(k >= sizeof(s->buf) - s->len)
    return 0;
  memcpy(s->buf + s->len, p, k);
  s->len += k;
  s->buf[s->len] = '\0';
  return k;
}

int tu_connect_loopback(int port) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if(fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
    return fd;
  close(fd);
  return -1;
}

int tu_log_dir_setup(char *dir, char *log, size_t cap) {
  int fd;
  if(!mkdtemp(dir) || tu_make_pki(dir, "unused"))
    return -1;
  snprintf(log, cap, "%s/log", dir);
  fflush(stderr);
  fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if(fd < 0 || dup2(fd, 2) < 0)
    return -1;
  close(fd);
  return 0;
}

int tu_log_dir_remove(const char *dir) {
  char cmd[600];
  fflush(stderr);
  snprintf(cmd, sizeof(cmd), "cat '%s/log'; rm -rf '%s'", dir, dir);
  return system(cmd) == 0 ? 0 : -1;
}

int tu_runf(char **out, const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  return tu_run(cmd, out);
}

void tu_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if(!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    abort();
  }
}

int tu_wait_port_file(const char *path, int ms) {
  int waited;
  for(waited = 0; waited <= ms; waited += 50) {
    FILE *f = fopen(path, "r");
    if(f) {
      int port = 0, ok = fscanf(f, "%d", &port) == 1;
      fclose(f);
      if(ok && port > 0)
        return port;
    }
    usleep(50000);
  }
  return 0;
}

ddas_result tu_validate(const char *buf, size_t len, const ddas_ruleset *rs,
                        ddas_kind kind, const char *version, int kept,
                        ddas_validate_result *res) {
  ddas_validate_options vo;
  char err[300];
  memset(&vo, 0, sizeof(vo));
  vo.rules = rs;
  vo.kind = kind;
  vo.version = version;
  vo.norm_mask = kept ? DDAS_N_ALL : 0;
  vo.keep_document = kept;
  return ddas_validate_buffer(tu_set, &vo, buf, len, res, err, sizeof(err));
}

size_t tu_batches(const ddas_validate_result *res, const char *delivery_id,
                  size_t max_records, size_t max_bytes, ddas_batch *out,
                  size_t cap) {
  ddas_batch_options bo;
  ddas_batcher *bt;
  ddas_batch extra;
  size_t n = 0;
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = delivery_id;
  bo.envelope.delivered_at = "2025-01-16T08:00:00Z";
  bo.max_records = max_records;
  bo.max_bytes = max_bytes;
  bo.norm_mask = DDAS_N_ALL;
  if(ddas_batcher_new(&bo, &bt))
    return SIZE_MAX;
  if(ddas_batcher_add(bt, res) || ddas_batcher_finish(bt)) {
    ddas_batcher_free(bt);
    return SIZE_MAX;
  }
  while(n < cap && ddas_batcher_next(bt, &out[n]))
    n++;
  while(ddas_batcher_next(bt, &extra))
    ddas_batch_clear(&extra);
  ddas_batcher_free(bt);
  return n;
}
