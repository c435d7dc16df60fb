/* kafka-mock: a standalone Kafka cluster for tests, on loopback TCP.
 *
 * librdkafka's mock cluster speaks the real Kafka protocol, so several
 * ddas-worker processes can form a real consumer group against it. This
 * program starts one with N brokers, creates the given topics, prints the
 * bootstrap servers (stdout, and --bootstrap-file), and then reads commands
 * on standard input, one per line, answering "ok" or "error: ...":
 *   down BROKER_ID        take a broker down (connections refused)
 *   up BROKER_ID          bring it back
 *   leader TOPIC PARTITION BROKER_ID   move a partition's leader
 *   coordinator group GROUP BROKER_ID  move a group's coordinator
 *   produce-errors COUNT [ERROR]       each broker's next COUNT Produce
 *                         requests fail with ERROR: a name such as
 *                         KAFKA_STORAGE_ERROR (the default: a broker's disk
 *                         full or failing) or NOT_ENOUGH_REPLICAS, or a
 *                         numeric Kafka error code
 *   produce-errors-left   answers "ok N": the errors not consumed yet
 *   quit                  stop (also on end of input and SIGTERM)
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... "
          "[--bootstrap-file FILE]\n"
          "Starts librdkafka's mock cluster on loopback, prints the bootstrap\n"
          "servers, then obeys commands on standard input: down ID, up ID,\n"
          "leader TOPIC PARTITION ID, coordinator group GROUP ID,\n"
          "produce-errors COUNT [ERROR], produce-errors-left, quit.\n");
}

/* A Kafka error code by name ("KAFKA_STORAGE_ERROR", with or without the
 * RD_KAFKA_RESP_ERR_ prefix) or number; -1 when unknown. */
static int error_code(const char *name) {
  const struct rd_kafka_err_desc *d;
  size_t n, i;
  char *end;
  long v = strtol(name, &end, 10);
  if(*name && !*end)
    return v > 0 && v < 1000 ? (int)v : -1;
  if(!strncmp(name, "RD_KAFKA_RESP_ERR_", 18))
    name += 18;
  rd_kafka_get_err_descs(&d, &n);
  for(i = 0; i < n; i++)
    if(d[i].code > 0 && d[i].name && !strcmp(d[i].name, name))
      return d[i].code;
  return -1;
}

#define PRODUCE 0 /* the Produce request's ApiKey */

/* produce-errors COUNT [ERROR] on brokers 1..brokers: 0, or -1 on a bad
 * count or error. */
static int produce_errors(rd_kafka_mock_cluster_t *mc, int brokers,
                          const char *count, const char *name) {
  char *end;
  long n = strtol(count, &end, 10), i;
  int code = error_code(name ? name : "KAFKA_STORAGE_ERROR"), b;
  if(*end || n < 1 || n > 1000 || code < 0)
    return -1;
  for(b = 1; b <= brokers; b++)
    for(i = 0; i < n; i++)
      if(rd_kafka_mock_broker_push_request_error_rtts(
             mc, b, PRODUCE, 1, (rd_kafka_resp_err_t)code, 0))
        return -1;
  return 0;
}

/* The produce errors still on the brokers' stacks, or -1. */
static long produce_errors_left(rd_kafka_mock_cluster_t *mc, int brokers) {
  long left = 0;
  int b;
  for(b = 1; b <= brokers; b++) {
    size_t cnt = 0;
    if(rd_kafka_mock_broker_error_stack_cnt(mc, b, PRODUCE, &cnt))
      return -1;
    left += (long)cnt;
  }
  return left;
}

int main(int argc, char **argv) {
  int brokers = 3, i;
  const char *bootfile = NULL;
  const char *topics[64];
  int ntopics = 0;
  char errstr[512], line[512];
  rd_kafka_conf_t *conf;
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mc;
  struct sigaction sa;

  for(i = 1; i < argc; i++) {
    if(!strcmp(argv[i], "--brokers") && i + 1 < argc)
      brokers = atoi(argv[++i]);
    else if(!strcmp(argv[i], "--topic") && i + 1 < argc && ntopics < 64)
      topics[ntopics++] = argv[++i];
    else if(!strcmp(argv[i], "--bootstrap-file") && i + 1 < argc)
      bootfile = argv[++i];
    else if(!strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if(brokers < 1 || brokers > 16) {
    fprintf(stderr, "kafka-mock: --brokers takes 1 to 16\n");
    return 2;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if(!rk) {
    fprintf(stderr, "kafka-mock: %s\n", errstr);
    return 1;
  }
  mc = rd_kafka_mock_cluster_new(rk, brokers);
  if(!mc) {
    fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for(i = 0; i < ntopics; i++) {
    char name[256];
    const char *colon = strrchr(topics[i], ':');
    int parts = colon ? atoi(colon + 1) : 1;
    size_t n = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
    if(n >= sizeof(name) || parts < 1)
      continue;
    memcpy(name, topics[i], n);
    name[n] = '\0';
    if(rd_kafka_mock_topic_create(mc, name, parts, brokers < 3 ? brokers : 3)) {
      fprintf(stderr, "kafka-mock: cannot create topic %s\n", name);
    }
  }
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  if(bootfile) {
    char tmp[1024];
    FILE *f;
    snprintf(tmp, sizeof(tmp), "%s.tmp", bootfile);
    f = fopen(tmp, "w");
    if(f) {
      fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc));
      fclose(f);
      rename(tmp, bootfile);
    }
  }
  while(!stop && fgets(line, sizeof(line), stdin)) {
    char a[256], b[256], c[256];
    int id, part, n = sscanf(line, "%255s %255s %255s %d", a, b, c, &id);
    int rc = -1;
    if(n >= 1 && !strcmp(a, "quit"))
      break;
    if(n >= 2 && !strcmp(a, "down"))
      rc = rd_kafka_mock_broker_set_down(mc, atoi(b));
    else if(n >= 2 && !strcmp(a, "up"))
      rc = rd_kafka_mock_broker_set_up(mc, atoi(b));
    else if(sscanf(line, "leader %255s %d %d", b, &part, &id) == 3)
      rc = rd_kafka_mock_partition_set_leader(mc, b, part, id);
    else if(sscanf(line, "coordinator group %255s %d", b, &id) == 2)
      rc = rd_kafka_mock_coordinator_set(mc, "group", b, id);
    else if(n >= 2 && !strcmp(a, "produce-errors"))
      rc = produce_errors(mc, brokers, b, n >= 3 ? c : NULL);
    else if(n == 1 && !strcmp(a, "produce-errors-left")) {
      long left = produce_errors_left(mc, brokers);
      if(left >= 0) {
        printf("ok %ld\n", left);
        fflush(stdout);
        continue;
      }
    }
    printf(rc == 0 ? "ok\n" : "error: unknown command or id\n");
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
