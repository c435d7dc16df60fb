/* `ddas-worker send`: one delivery through the core and the CBS forwarder,
 * without Kafka. For on-boarding a new endpoint: it shows what would be
 * accepted and what CBS answers for each batch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "ddas/checks.h"
#include "ddas/ddas.h"
#include "ddas/text.h"
#include "forward.h"
#include "io.h"
#include "log.h"
#include "startcheck.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker send -c FILE [--delivery-id ID] DELIVERY.json\n"
          "\n"
          "Runs one delivery through the core (schema, business rules,\n"
          "normalisation, batches, digest and signature) and sends every\n"
          "batch to the configured CBS endpoint (cbs.url), with the same\n"
          "retries, tokens and certificates as the daemon, but without Kafka.\n"
          "Rejected records are listed, not sent. Prints one line per batch:\n"
          "its id (the Idempotency-Key), records, and what CBS answered.\n"
          "\n"
          "  -c, --config FILE   the configuration (see check-config)\n"
          "  --delivery-id ID    the delivery id the batch ids derive from\n"
          "                      (default: the file name and a hash of its\n"
          "                      content, as submit and run --submit)\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 every batch was forwarded, 1 a batch was refused or\n"
          "could not be delivered (or nothing was accepted), 2 usage,\n"
          "configuration or input error.\n");
}

/* The command line of `send`. */
typedef struct {
  const char *path;                        /* -c FILE */
  const char *delivery_id;                 /* --delivery-id, else file_id */
  char file_id[DDAS_FILE_DELIVERY_ID_MAX]; /* ddas_file_delivery_id */
  const char *file;                        /* DELIVERY.json */
  char sent_at[32]; /* the clock when send started: the delivery's time of
                       submission, for an envelope without one (SHV v0.9);
                       the same for the check and the batches */
} send_args;

#define SEND_TIME_FROM "the clock when ddas-worker send started"

/* Parses the command line into a. 0, -1 after --help, or 2 after a usage
 * error message. */
static int parse_args(int argc, char **argv, send_args *a) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"delivery-id", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  memset(a, 0, sizeof(*a));
  optind = 1;
  while((c = wk_getopt(argc, argv, "c:h", opts, "send")) != -1) {
    switch(c) {
    case 'c': a->path = optarg; break;
    case 'd': a->delivery_id = optarg; break;
    case 'h': usage(stdout); return -1;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!a->path || optind + 1 != argc) {
    fprintf(stderr, "ddas-worker send: needs -c FILE and one DELIVERY.json\n"
                    "Try 'ddas-worker send --help'.\n");
    return 2;
  }
  a->file = argv[optind];
  return 0;
}

/* Checks the delivery in buf with the configured rules and normalisations
 * against the schemas of set and prints what was accepted and rejected. 0
 * (then *res must be cleared), or -1 after an error message. */
static int check_delivery(const send_args *a, const wk_config *cfg,
                          ddas_schemaset *set, const ddas_ruleset *rules,
                          unsigned mask, const char *buf, size_t len,
                          ddas_validate_result *res) {
  ddas_validate_options vo;
  ddas_envelope_context ec;
  char err[1024];
  memset(&vo, 0, sizeof(vo));
  vo.rules = rules;
  vo.norm_mask = mask;
  vo.keep_document = 1;
  wk_config_envelope(cfg, a->sent_at, SEND_TIME_FROM, &ec);
  vo.envelope = &ec; /* as make_batches will fill */
  if(ddas_validate_buffer(set, &vo, buf, len, res, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s: %s\n", a->file, err);
    return -1;
  }
  printf("%s: delivery %s: %zu records, %zu accepted, %zu rejected, %zu with "
         "warnings (profile %s)\n",
         a->file, a->delivery_id, res->records, res->accepted, res->rejected,
         res->warned, cfg->profile);
  if(res->rejected)
    printf("  rejected records are not sent; 'ddas-worker validate' shows "
           "why\n");
  return 0;
}

/* Cuts the accepted records of res (released into the batcher) into
 * batches as the daemon would. 0, or -1 after an error message. */
static int make_batches(const send_args *a, const wk_config *cfg, unsigned mask,
                        ddas_validate_result *res, ddas_batcher **bt) {
  ddas_batch_options bo;
  memset(&bo, 0, sizeof(bo));
  wk_config_envelope(cfg, a->sent_at, SEND_TIME_FROM, &bo.envelope);
  bo.time_from_delivery = 1;
  bo.delivery_id = a->delivery_id;
  bo.max_records = (size_t)cfg->max_records;
  bo.max_bytes = (size_t)cfg->max_batch_bytes;
  bo.norm_mask = mask;
  if(ddas_batcher_new(&bo, bt) || ddas_batcher_add_release(*bt, res) ||
     ddas_batcher_finish(*bt)) {
    fprintf(stderr, "ddas-worker send: cannot build batches\n");
    return -1;
  }
  return 0;
}

/* Prints the line of one batch that reached an outcome. */
static void print_batch(const ddas_batch *batch, const wk_send_result *r) {
  printf("  batch %s (#%u, %zu records, %zu bytes): %s", batch->id,
         batch->index, batch->records, batch->len,
         ddas_outcome_name(r->outcome));
  if(r->http_status)
    printf(", HTTP %d", r->http_status);
  printf(" after %u attempt%s", r->attempts, r->attempts == 1 ? "" : "s");
  if(r->outcome != DDAS_OUT_FORWARDED && *r->last_error)
    printf(" (%s)", r->last_error);
  printf("\n");
  if(r->problem) {
    /* what CBS says is wrong, without its free text (ddas/checks.h) */
    char sum[1024];
    ddas_problem_summary(r->problem, strlen(r->problem), sum, sizeof(sum));
    printf("    CBS problem: ");
    ddas_fput_escaped(stdout, sum);
    printf("\n");
  }
}

/* Sends every batch of bt to CBS, one line each, then the count. The exit
 * status: 0 when every batch was forwarded, else 1. */
static int send_batches(wk_forwarder *fw, ddas_batcher *bt) {
  ddas_batch batch;
  size_t nbatches = 0, nforwarded = 0;
  while(ddas_batcher_next(bt, &batch)) {
    wk_send_result r;
    memset(&r, 0, sizeof(r));
    nbatches++;
    if(wk_forwarder_send(fw, batch.id, batch.body, batch.len, &r)) {
      fprintf(stderr, "ddas-worker send: batch %s: %s\n", batch.id,
              r.last_error);
    } else {
      print_batch(&batch, &r);
      if(r.outcome == DDAS_OUT_FORWARDED)
        nforwarded++;
    }
    wk_send_result_clear(&r);
    ddas_batch_clear(&batch);
  }
  printf("%zu of %zu batches forwarded\n", nforwarded, nbatches);
  return nforwarded == nbatches ? 0 : 1;
}

int wk_cmd_send(int argc, char **argv) {
  send_args a;
  wk_config cfg;
  wk_forwarder *fw = NULL;
  ddas_schemaset *set = NULL;
  ddas_ruleset rules;
  ddas_validate_result res;
  ddas_batcher *bt = NULL;
  unsigned mask;
  char err[1024];
  wk_file in = {NULL, 0, 0}; /* released at out: even when never read */
  int status, have_res = 0;

  if((status = parse_args(argc, argv, &a)))
    return status < 0 ? 0 : status;
  wk_rfc3339(-1, a.sent_at, sizeof(a.sent_at));
  if(wk_config_load(a.path, &cfg, err, sizeof(err)) ||
     wk_config_core(&cfg, &rules, &mask, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  wk_log_init(&cfg); /* the forwarder's lines: log.format, log.level */
  status = 2;
  if(wk_startcheck(&cfg, WK_CHECK_SCHEMAS | WK_CHECK_FILES, &set, NULL, err,
                   sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s\n", err);
    goto out;
  }
  if(!*cfg.cbs_url) {
    fprintf(stderr, "ddas-worker send: %s: cbs.url is not set\n", a.path);
    goto out;
  }
  if(wk_forwarder_new(&cfg, &fw, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s\n", err);
    goto out;
  }
  if(wk_file_read(a.file, (size_t)1 << 30, &in, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s: %s\n", a.file, err);
    goto out;
  }
  if(!a.delivery_id) {
    ddas_file_delivery_id(a.file, in.data, in.len, a.file_id,
                          sizeof(a.file_id));
    a.delivery_id = a.file_id;
  }
  if(check_delivery(&a, &cfg, set, &rules, mask, in.data, in.len, &res))
    goto out;
  have_res = 1;
  status = 1;
  if(!res.accepted)
    goto out;
  if(make_batches(&a, &cfg, mask, &res, &bt)) {
    status = 2;
    goto out;
  }
  status = send_batches(fw, bt);
out:
  ddas_batcher_free(bt);
  if(have_res)
    ddas_validate_result_clear(&res);
  ddas_schemaset_free(set);
  wk_file_release(&in);
  wk_forwarder_free(fw);
  wk_config_free(&cfg);
  return status;
}
