/* `ddas-worker submit`: publishes deliveries to the input topic. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "startcheck.h"
#include "submit.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: ddas-worker submit -c FILE [--delivery-id ID] [--timeout S] "
      "DELIVERY...\n"
      "\n"
      "Publishes deliveries to the input topic (topic.deliveries). A\n"
      "delivery larger than submit.chunk_bytes is split into chunks, each\n"
      "a complete DDAS document, published in order with the header\n"
      "ddas-chunk i/n and keyed by the delivery id. Shows one line per\n"
      "delivery; waits until Kafka acknowledged every message.\n"
      "\n"
      "  -c, --config FILE   the configuration (kafka.bootstrap.servers)\n"
      "  --delivery-id ID    the delivery id (one DELIVERY only); default:\n"
      "                      the file name and a hash of its content\n"
      "  --timeout S         give up on messages Kafka has not acknowledged\n"
      "                      after S seconds (default 60), e.g. when no\n"
      "                      broker answers\n"
      "  -h, --help          show this help\n"
      "\n"
      "Exit status: 0 every message was acknowledged, 1 not all were, 2\n"
      "usage, configuration or input error.\n");
}

int wk_cmd_submit(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"delivery-id", required_argument, NULL, 'd'},
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *path = NULL, *id = NULL;
  wk_config cfg;
  wk_producer p;
  char err[1024];
  int c, i, status = 0, tty = isatty(STDERR_FILENO);
  size_t total = 0;
  long timeout_s = 60;
  char *end;

  optind = 1;
  while((c = wk_getopt(argc, argv, "c:h", opts, "submit")) != -1) {
    switch(c) {
    case 'c': path = optarg; break;
    case 'd': id = optarg; break;
    case 't':
      errno = 0;
      timeout_s = strtol(optarg, &end, 10);
      if(errno || end == optarg || *end || timeout_s < 1 || timeout_s > 86400) {
        fprintf(stderr, "ddas-worker submit: --timeout takes seconds from 1 "
                        "to 86400, e.g. --timeout 60\n");
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!path || optind >= argc || (id && optind + 1 != argc)) {
    fprintf(stderr, "ddas-worker submit: needs -c FILE and DELIVERY files "
                    "(--delivery-id with one file only)\n");
    return 2;
  }
  if(wk_config_load(path, &cfg, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker submit: %s\n", err);
    return 2;
  }
  wk_log_init(&cfg);
  if(wk_startcheck(&cfg, WK_CHECK_KAFKA | WK_CHECK_FILES, NULL, NULL, err,
                   sizeof(err))) {
    fprintf(stderr, "ddas-worker submit: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  if(!wk_kafka_bootstrap(&cfg) || wk_kafka_is_embedded(&cfg)) {
    fprintf(stderr,
            "ddas-worker submit: set kafka.bootstrap.servers to the cluster "
            "(the embedded one lives inside 'ddas-worker run'; use 'run "
            "--submit FILE' with it)\n");
    wk_config_free(&cfg);
    return 2;
  }
  if(wk_producer_open(&cfg, wk_kafka_bootstrap(&cfg), timeout_s * 1000, &p, err,
                      sizeof(err))) {
    fprintf(stderr, "ddas-worker submit: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  for(i = optind; i < argc; i++) {
    wk_submit_result r;
    if(wk_submit_file(&cfg, &p, argv[i], id, &r, err, sizeof(err))) {
      fprintf(stderr, "ddas-worker submit: %s: %s\n", argv[i], err);
      status = status ? status : 2;
      continue;
    }
    total += r.chunks;
    printf("%s: delivery %s, %zu message%s, %zu bytes\n", argv[i],
           r.delivery_id, r.chunks, r.chunks == 1 ? "" : "s", r.bytes);
    if(tty)
      fprintf(stderr, "\r%d of %d files queued", i - optind + 1, argc - optind);
  }
  if(tty)
    fprintf(stderr, "\n");
  /* every message fails by itself after the timeout (message.timeout.ms);
   * the flush waits a little longer for those reports */
  if(wk_producer_flush(&p, (int)timeout_s * 1000 + 5000, err, sizeof(err))) {
    wk_producer_close(&p); /* its last log lines before the verdict */
    fprintf(stderr,
            "ddas-worker submit: gave up after %ld s: %s; check "
            "kafka.bootstrap.servers and that the brokers are up, or raise "
            "--timeout\n",
            timeout_s, err);
    status = 1;
  } else {
    printf("%zu message%s acknowledged by Kafka\n", total,
           total == 1 ? "" : "s");
  }
  wk_producer_close(&p);
  wk_config_free(&cfg);
  return status;
}
