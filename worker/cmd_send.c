/* `ddas-worker send`: one delivery through the core and the CBS forwarder,
 * without Kafka. For on-boarding a new endpoint: it shows what would be
 * accepted and what CBS answers for each batch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "ddas/ddas.h"
#include "forward.h"
#include "io.h"

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
          "                      (default: the file name)\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 every batch was forwarded, 1 a batch was refused or\n"
          "could not be delivered (or nothing was accepted), 2 usage,\n"
          "configuration or input error.\n");
}

static void now_rfc3339(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wk_cmd_send(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"delivery-id", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *path = NULL, *delivery_id = NULL, *file;
  wk_config cfg;
  wk_forwarder *fw = NULL;
  ddas_schemaset *set = NULL;
  ddas_ruleset rules;
  ddas_validate_options vo;
  ddas_validate_result res;
  ddas_batch_options bo;
  ddas_batcher *bt = NULL;
  ddas_batch batch;
  unsigned mask;
  char err[1024], sent_at[32];
  char *buf = NULL;
  size_t len = 0, nbatches = 0, nforwarded = 0;
  int c, status = 2, have_res = 0;

  optind = 1;
  while((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch(c) {
    case 'c': path = optarg; break;
    case 'd': delivery_id = optarg; break;
    case 'h': usage(stdout); return 0;
    default: fprintf(stderr, "Try 'ddas-worker send --help'.\n"); return 2;
    }
  }
  if(!path || optind + 1 != argc) {
    fprintf(stderr, "ddas-worker send: needs -c FILE and one DELIVERY.json\n"
                    "Try 'ddas-worker send --help'.\n");
    return 2;
  }
  file = argv[optind];
  if(!delivery_id) {
    const char *slash = strrchr(file, '/');
    delivery_id = slash ? slash + 1 : file;
  }
  if(wk_config_load(path, &cfg, err, sizeof(err)) ||
     wk_config_core(&cfg, &rules, &mask, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  if(!*cfg.cbs_url) {
    fprintf(stderr, "ddas-worker send: %s: cbs.url is not set\n", path);
    goto out;
  }
  if(wk_forwarder_new(&cfg, &fw, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s\n", err);
    goto out;
  }
  if(wk_read_file(file, (size_t)1 << 30, &buf, &len, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s: %s\n", file, err);
    goto out;
  }
  if(ddas_schemaset_new(wk_schema_dir(), &set))
    goto out;
  memset(&vo, 0, sizeof(vo));
  vo.rules = &rules;
  vo.norm_mask = mask;
  vo.keep_document = 1;
  if(ddas_validate_buffer(set, &vo, buf, len, &res, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker send: %s: %s\n", file, err);
    goto out;
  }
  have_res = 1;
  printf("%s: %zu records, %zu accepted, %zu rejected, %zu with warnings "
         "(profile %s)\n",
         file, res.records, res.accepted, res.rejected, res.warned,
         cfg.profile);
  if(res.rejected)
    printf("  rejected records are not sent; 'ddas-worker validate' shows "
           "why\n");
  status = 1;
  if(!res.accepted)
    goto out;
  now_rfc3339(sent_at, sizeof(sent_at));
  memset(&bo, 0, sizeof(bo));
  bo.delivery_id = delivery_id;
  bo.sent_at = sent_at; /* only when the delivery has no time of its own */
  bo.time_from_delivery = 1;
  bo.code_gegevensleverancier =
      *cfg.code_gegevensleverancier ? cfg.code_gegevensleverancier : NULL;
  bo.max_records = (size_t)cfg.max_records;
  bo.max_bytes = (size_t)cfg.max_batch_bytes;
  bo.norm_mask = mask;
  if(ddas_batcher_new(&bo, &bt) || ddas_batcher_add_release(bt, &res) ||
     ddas_batcher_finish(bt)) {
    fprintf(stderr, "ddas-worker send: cannot build batches\n");
    status = 2;
    goto out;
  }
  while(ddas_batcher_next(bt, &batch)) {
    wk_send_result r;
    memset(&r, 0, sizeof(r));
    nbatches++;
    if(wk_forwarder_send(fw, batch.id, batch.body, batch.len, &r)) {
      fprintf(stderr, "ddas-worker send: batch %s: %s\n", batch.id,
              r.last_error);
    } else {
      printf("  batch %s (#%u, %zu records, %zu bytes): %s", batch.id,
             batch.index, batch.records, batch.len,
             ddas_outcome_name(r.outcome));
      if(r.http_status)
        printf(", HTTP %d", r.http_status);
      printf(" after %u attempt%s", r.attempts, r.attempts == 1 ? "" : "s");
      if(r.outcome != DDAS_OUT_FORWARDED && *r.last_error)
        printf(" (%s)", r.last_error);
      printf("\n");
      if(r.outcome == DDAS_OUT_FORWARDED)
        nforwarded++;
    }
    wk_send_result_clear(&r);
    ddas_batch_clear(&batch);
  }
  printf("%zu of %zu batches forwarded\n", nforwarded, nbatches);
  status = nforwarded == nbatches ? 0 : 1;
out:
  ddas_batcher_free(bt);
  if(have_res)
    ddas_validate_result_clear(&res);
  ddas_schemaset_free(set);
  free(buf);
  wk_forwarder_free(fw);
  wk_config_free(&cfg);
  return status;
}
