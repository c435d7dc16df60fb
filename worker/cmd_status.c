/* `ddas-worker status`: delivery status per organisation, reporting period
 * and kind, for reporting deadlines. Reads topic.receipts, topic.rejections
 * and topic.failed from the beginning to their current end (manual
 * assignment, nothing committed) and hands every event to the core's
 * aggregation (ddas/status.h), which decides everything shown; this file
 * only reads and prints. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "ddas/status.h"
#include "io.h"
#include "kafka.h"
#include "log.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: ddas-worker status -c FILE [--period START/END]\n"
      "                          [--organisation X] [--since TIME]\n"
      "                          [--json | --html FILE]\n"
      "\n"
      "Shows, per organisation, reporting period and kind, what happened\n"
      "to its deliveries: deliveries (the latest by id), records accepted,\n"
      "rejected and accepted with warnings, the top rejection rules,\n"
      "batches forwarded, parked and replayed, incomplete deliveries, the\n"
      "time of the last outcome and a state (complete, rejections, parked\n"
      "batches, incomplete, in progress), with totals. Reads\n"
      "topic.receipts, topic.rejections and topic.failed; commits nothing.\n"
      "\n"
      "  -c, --config FILE      the configuration\n"
      "  --period START/END     only this reporting period, e.g.\n"
      "                         2026-01-01/2026-12-31\n"
      "  --organisation X       only this organisation (name or code)\n"
      "  --since TIME           only events at or after TIME (RFC 3339)\n"
      "  --json                 print JSON instead of a table\n"
      "  --html FILE            also write a self-contained HTML page\n"
      "  -h, --help             show this help\n"
      "\n"
      "Exit status: 0 every selected row is complete, 1 some row is not\n"
      "(or nothing matched), 2 usage, configuration or Kafka error.\n");
}

typedef struct {
  const char *path, *html;
  int json;
  ddas_status_filter filter;
} status_args;

/* 0, -1 after --help, or 2 after a usage error message. */
static int parse_args(int argc, char **argv, status_args *a) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"period", required_argument, NULL, 'p'},
      {"organisation", required_argument, NULL, 'o'},
      {"since", required_argument, NULL, 's'},
      {"json", no_argument, NULL, 'j'},
      {"html", required_argument, NULL, 'H'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int o;
  memset(a, 0, sizeof(*a));
  optind = 1;
  while((o = wk_getopt(argc, argv, "c:h", opts, "status")) != -1) {
    switch(o) {
    case 'c': a->path = optarg; break;
    case 'p': a->filter.period = optarg; break;
    case 'o': a->filter.organisation = optarg; break;
    case 's': a->filter.since = optarg; break;
    case 'j': a->json = 1; break;
    case 'H': a->html = optarg; break;
    case 'h': usage(stdout); return -1;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!a->path || optind != argc) {
    fprintf(stderr, "ddas-worker status: needs -c FILE (and no other "
                    "arguments); try 'ddas-worker status --help'\n");
    return 2;
  }
  if(a->json && a->html) {
    fprintf(stderr, "ddas-worker status: --json and --html exclude each "
                    "other: choose one\n");
    return 2;
  }
  return 0;
}

typedef struct {
  ddas_status *st;
  const char *topic;
  size_t read;
  int tty, nomem;
} reader_ctx;

static int on_event(void *ctx, rd_kafka_message_t *m) {
  reader_ctx *rc = ctx;
  ddas_kv kv[32];
  size_t n = wk_headers_kv(m, kv, 32);
  char err[300];
  ddas_result r =
      ddas_status_add(rc->st, kv, n, m->payload, m->len, err, sizeof(err));
  wk_headers_free(kv, n);
  if(r == DDAS_ERR_ARG)
    wk_log(WK_WARN, "event not counted", "topic", rc->topic, "error", err,
           NULL);
  rc->nomem |= r == DDAS_ERR_NOMEM;
  if(rc->tty && ++rc->read % 5000 == 0)
    fprintf(stderr, "\rreading %s: %zu events", rc->topic, rc->read);
  return r == DDAS_ERR_NOMEM ? -1 : 0;
}

/* Reads the three topics into st. 0, or -1 after a message. */
static int read_topics(const wk_config *cfg, ddas_status *st) {
  const char *topics[3] = {cfg->topic_receipts, cfg->topic_rejections,
                           cfg->topic_failed};
  reader_ctx rc;
  rd_kafka_t *rk;
  char err[1024];
  int i, r = 0;
  if(!wk_kafka_bootstrap(cfg) || wk_kafka_is_embedded(cfg)) {
    fprintf(stderr, "ddas-worker status: set kafka.bootstrap.servers to the "
                    "cluster that holds the event topics\n");
    return -1;
  }
  if(!(rk = wk_reader_new(cfg, "status", err, sizeof(err)))) {
    fprintf(stderr, "ddas-worker status: %s\n", err);
    return -1;
  }
  memset(&rc, 0, sizeof(rc));
  rc.st = st;
  rc.tty = isatty(STDERR_FILENO);
  for(i = 0; i < 3 && !r; i++) {
    rc.topic = topics[i];
    if(rc.tty)
      fprintf(stderr, "\rreading %s: %zu events", rc.topic, rc.read);
    if(wk_read_all(rk, topics[i], on_event, &rc, 10000, err, sizeof(err))) {
      if(rc.nomem)
        fprintf(stderr, "%sddas-worker status: out of memory\n",
                rc.tty ? "\n" : "");
      else
        fprintf(stderr,
                "%sddas-worker status: %s: check that the cluster at "
                "kafka.bootstrap.servers = %s is reachable and holds the "
                "topic (topic.* in the configuration)\n",
                rc.tty ? "\n" : "", err, wk_kafka_bootstrap(cfg));
      r = -1;
    }
  }
  if(rc.tty && !r)
    fprintf(stderr, "\rread %zu events%30s\n", rc.read, "");
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return r;
}

/* Prints the table (and writes the page). 0, or -1 after a message. */
static int print_table(const status_args *a, const ddas_status_table *t) {
  char when[40];
  FILE *f;
  int bad;
  if(a->json)
    return ddas_status_json(stdout, t) || fflush(stdout) ? -1 : 0;
  if(ddas_status_text(stdout, t) || fflush(stdout))
    return -1;
  if(!a->html)
    return 0;
  if(!(f = fopen(a->html, "w"))) {
    fprintf(stderr, "ddas-worker status: cannot write %s: %s\n", a->html,
            strerror(errno));
    return -1;
  }
  wk_rfc3339(-1, when, sizeof(when));
  bad = ddas_status_html(f, t, when);
  if(fclose(f) || bad) {
    fprintf(stderr, "ddas-worker status: cannot write %s\n", a->html);
    return -1;
  }
  return 0;
}

int wk_cmd_status(int argc, char **argv) {
  status_args a;
  wk_config cfg;
  ddas_status *st = NULL;
  ddas_status_table t;
  char err[512];
  ddas_result r;
  int status;

  if((status = parse_args(argc, argv, &a)))
    return status < 0 ? 0 : status;
  if((r = ddas_status_new(&a.filter, &st, err, sizeof(err)))) {
    fprintf(stderr, "ddas-worker status: %s\n",
            r == DDAS_ERR_NOMEM ? "out of memory" : err);
    return 2;
  }
  if(wk_config_load(a.path, &cfg, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker status: %s\n", err);
    ddas_status_free(st);
    return 2;
  }
  wk_log_init(&cfg);
  memset(&t, 0, sizeof(t));
  if(read_topics(&cfg, st))
    status = 2;
  else if(ddas_status_table_build(st, &t)) {
    fprintf(stderr, "ddas-worker status: out of memory\n");
    status = 2;
  } else if(print_table(&a, &t))
    status = 2;
  else
    status = ddas_status_all_complete(&t) ? 0 : 1;
  ddas_status_table_clear(&t);
  ddas_status_free(st);
  wk_config_free(&cfg);
  return status;
}
