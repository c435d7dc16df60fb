/* bench_validate: parse + validate throughput of the ddas core.
 *
 * Usage: bench_validate [--schema-dir DIR] [--runs N] FILE
 *
 * Reads FILE once into memory, then calls ddas_validate_buffer() (strict
 * JSON parse + kind/version detection + JSON Schema validation, exactly what
 * `ddas-worker validate` does before the business rules) once untimed as a
 * warm-up (it loads and compiles the schema on first use, and checks that the
 * document is valid), then N times (default 7) timed with
 * clock_gettime(CLOCK_MONOTONIC). Single thread. Any run that does not reach
 * a "valid" verdict aborts the benchmark with exit status 1: a benchmark of
 * a rejected document would measure the wrong path.
 *
 * Prints one JSON line on stdout:
 *   {"tool":"ddas","file":...,"bytes":...,"trajecten":...,"runs":N,
 *    "median_s":...,"min_s":...,"mb_per_s":...,"trajecten_per_s":...}
 * MB = 10^6 bytes; mb_per_s and trajecten_per_s are from the median. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddas/batch.h"
#include "ddas/validate.h"

#ifndef DDAS_BENCH_SCHEMA_DIR
#define DDAS_BENCH_SCHEMA_DIR "config/schemas"
#endif

static void usage(FILE *out) {
  fprintf(out,
          "usage: bench_validate [--schema-dir DIR] [--runs N] [--schema-only] "
          "FILE\n"
          "  Times the core on FILE: parse, N1/N2, detect, schema, business\n"
          "  rules (strict) and batch writing with N3-N6 (--schema-only:\n"
          "  parse + detect + schema),\n"
          "  read once into memory; one untimed warm-up, then N timed runs\n"
          "  (default 7). Prints one JSON line with the median.\n"
          "  --schema-dir DIR  schema set directory (default %s)\n",
          DDAS_BENCH_SCHEMA_DIR);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if(!f) {
    fprintf(stderr, "bench_validate: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  while(buf) {
    if(n == cap) {
      char *nb = realloc(buf, cap * 2);
      if(!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if(got == 0) {
      if(ferror(f)) {
        fprintf(stderr, "bench_validate: %s: read error\n", path);
        free(buf);
        buf = NULL;
      }
      break;
    }
  }
  if(!buf && !ferror(f))
    fprintf(stderr, "bench_validate: out of memory\n");
  fclose(f);
  *len = n;
  return buf;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The file name as a JSON string (the path is ours, not personal data). */
static void put_json_string(const char *s) {
  putchar('"');
  for(const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if(*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if(*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

/* 1 (default): the whole core path: strict parse, N1/N2, detection, schema,
 * business rules (profile strict) and writing every accepted record into
 * batches with N3-N6. 0 (--schema-only): parse + detect + schema. */
static int full = 1;

/* One pass of the core over buf, as chosen by `full`. */
static ddas_result core_pass(ddas_schemaset *set, const char *buf, size_t len,
                             ddas_validate_result *res, char *errbuf,
                             size_t errlen) {
  ddas_validate_options opt;
  ddas_ruleset rules;
  ddas_result r;
  memset(&opt, 0, sizeof opt); /* detect kind and version */
  if(full) {
    ddas_ruleset_init(&rules, DDAS_PROFILE_STRICT);
    opt.rules = &rules;
    opt.norm_mask = DDAS_N_ALL;
    opt.keep_document = 1;
  }
  r = ddas_validate_buffer(set, &opt, buf, len, res, errbuf, errlen);
  if(r == DDAS_OK && full && res->valid) {
    ddas_batch_options bo;
    ddas_batcher *b = NULL;
    ddas_batch batch;
    memset(&bo, 0, sizeof bo);
    bo.delivery_id = "bench";
    bo.envelope.delivered_at = "2026-01-01T00:00:00Z";
    bo.norm_mask = DDAS_N_ALL;
    r = ddas_batcher_new(&bo, &b);
    if(!r)
      r = ddas_batcher_add(b, res);
    while(!r && ddas_batcher_next(b, &batch))
      ddas_batch_clear(&batch);
    if(!r)
      r = ddas_batcher_finish(b);
    while(!r && ddas_batcher_next(b, &batch))
      ddas_batch_clear(&batch);
    ddas_batcher_free(b);
  }
  return r;
}

/* Runs one validation; returns 0 when the document was judged valid. */
static int run_once(ddas_schemaset *set, const char *buf, size_t len,
                    ddas_validate_result *res, const char *path, int report) {
  char errbuf[512] = "";
  memset(res, 0, sizeof *res);
  ddas_result r = core_pass(set, buf, len, res, errbuf, sizeof errbuf);
  if(r != DDAS_OK) {
    fprintf(stderr, "bench_validate: %s: no verdict: %s%s%s\n", path,
            ddas_result_str(r), errbuf[0] ? ": " : "", errbuf);
    return -1;
  }
  if(!res->parsed || !res->valid) {
    if(report) {
      fprintf(stderr,
              "bench_validate: %s is not valid (%s, kind %s, version %s): "
              "%zu error(s), %zu warning(s); first findings:\n",
              path, res->parsed ? "parsed" : "not parsed",
              ddas_kind_name(res->detection.kind),
              res->detection.version ? res->detection.version : "?",
              res->findings.errors, res->findings.warnings);
      for(size_t i = 0; i < res->findings.count && i < 10; i++) {
        const ddas_finding *f = &res->findings.items[i];
        fprintf(stderr, "  %s %s%s%s at \"%s\": %s\n",
                f->severity == DDAS_SEV_ERROR ? "error" : "warning", f->rule,
                f->keyword ? "/" : "", f->keyword ? f->keyword : "",
                f->pointer ? f->pointer : "", f->message ? f->message : "");
      }
    }
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *schema_dir = DDAS_BENCH_SCHEMA_DIR;
  const char *path = NULL;
  long runs = 7;

  for(int i = 1; i < argc; i++) {
    if(!strcmp(argv[i], "--schema-dir") && i + 1 < argc) {
      schema_dir = argv[++i];
    } else if(!strcmp(argv[i], "--runs") && i + 1 < argc) {
      char *end;
      errno = 0;
      runs = strtol(argv[++i], &end, 10);
      if(errno || *end || runs < 1 || runs > 1000000) {
        fprintf(stderr, "bench_validate: --runs must be a positive integer\n");
        return 2;
      }
    } else if(!strcmp(argv[i], "--schema-only")) {
      full = 0;
    } else if(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if(argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "bench_validate: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    } else if(!path) {
      path = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if(!path) {
    usage(stderr);
    return 2;
  }

  size_t len = 0;
  char *buf = read_file(path, &len);
  if(!buf)
    return 1;

  ddas_schemaset *set = NULL;
  ddas_result r = ddas_schemaset_new(schema_dir, &set);
  if(r != DDAS_OK) {
    fprintf(stderr, "bench_validate: schema set %s: %s\n", schema_dir,
            ddas_result_str(r));
    free(buf);
    return 1;
  }

  double *times = malloc((size_t)runs * sizeof *times);
  if(!times) {
    fprintf(stderr, "bench_validate: out of memory\n");
    ddas_schemaset_free(set);
    free(buf);
    return 1;
  }

  int status = 1;
  ddas_validate_result res;
  /* Warm-up: loads and compiles the schema, checks the verdict. */
  if(run_once(set, buf, len, &res, path, 1) != 0) {
    ddas_validate_result_clear(&res);
    goto out;
  }
  size_t trajecten = res.records;
  ddas_validate_result_clear(&res);

  for(long i = 0; i < runs; i++) {
    char errbuf[512] = "";
    memset(&res, 0, sizeof res);
    double t0 = now_s();
    r = core_pass(set, buf, len, &res, errbuf, sizeof errbuf);
    double t1 = now_s();
    times[i] = t1 - t0;
    int ok =
        r == DDAS_OK && res.parsed && res.valid && res.records == trajecten;
    ddas_validate_result_clear(&res);
    if(!ok) {
      fprintf(stderr, "bench_validate: run %ld: verdict changed (%s)\n", i + 1,
              r == DDAS_OK ? "not valid" : ddas_result_str(r));
      goto out;
    }
  }

  qsort(times, (size_t)runs, sizeof *times, cmp_double);
  double median = runs % 2 ? times[runs / 2]
                           : (times[runs / 2 - 1] + times[runs / 2]) / 2.0;
  if(median <= 0)
    median = 1e-9;

  printf("{\"tool\":\"ddas\",\"mode\":\"%s\",\"file\":",
         full ? "schema+rules+normalise" : "schema");
  put_json_string(path);
  printf(",\"bytes\":%zu,\"trajecten\":%zu,\"runs\":%ld,\"median_s\":%.6f,"
         "\"min_s\":%.6f,\"mb_per_s\":%.2f,\"trajecten_per_s\":%.0f}\n",
         len, trajecten, runs, median, times[0], (double)len / 1e6 / median,
         (double)trajecten / median);
  fflush(stdout);
  status = 0;

out:
  free(times);
  ddas_schemaset_free(set);
  free(buf);
  return status;
}
