/* `ddas-worker replay`: re-sends parked batches from topic.failed with the
 * identical body, digest, signature and batch id, and publishes receipts.
 *
 * Safe to run twice: it first reads topic.receipts and skips every batch
 * that has a forwarded receipt (a replayed one included), and sends each
 * batch id at most once per run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "ddas/accepted.h"
#include "ddas/ddas.h"
#include "forward.h"
#include "io.h"
#include "kafka.h"
#include "log.h"
#include "startcheck.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker replay -c FILE [--batch-id ID] [--delivery-id "
          "ID]\n"
          "                          [--since TIME] [--dry-run]\n"
          "\n"
          "Re-sends parked batches (topic.failed) to cbs.url with the same\n"
          "body, Digest, signature and Idempotency-Key, and publishes a\n"
          "forwarded receipt (replayed: true) for each one CBS accepts (with\n"
          "cbs.mode = both it is published to topic.accepted as well). A\n"
          "batch with a forwarded receipt in topic.receipts is skipped, so a\n"
          "second run sends nothing that the first delivered.\n"
          "\n"
          "  -c, --config FILE   the configuration\n"
          "  --batch-id ID       only this batch\n"
          "  --delivery-id ID    only batches of this delivery\n"
          "  --since TIME        only batches parked at or after TIME (RFC\n"
          "                      3339, e.g. 2026-11-29T00:00:00Z)\n"
          "  --dry-run           list what would be sent; send nothing\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 every selected batch is forwarded (now or before),\n"
          "1 some could not be delivered (they stay parked), 2 usage or\n"
          "configuration error.\n");
}

typedef struct {
  char **ids;
  size_t n, cap;
} idset;

static int idset_has(const idset *s, const char *id) {
  size_t i;
  for(i = 0; i < s->n; i++)
    if(strcmp(s->ids[i], id) == 0)
      return 1;
  return 0;
}

static int idset_add(idset *s, const char *id) {
  if(idset_has(s, id))
    return 0;
  if(s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **x = realloc(s->ids, cap * sizeof(*x));
    if(!x)
      return -1;
    s->ids = x;
    s->cap = cap;
  }
  s->ids[s->n] = strdup(id);
  return s->ids[s->n++] ? 0 : -1;
}

static void idset_free(idset *s) {
  size_t i;
  for(i = 0; i < s->n; i++)
    free(s->ids[i]);
  free(s->ids);
}

/* Forwarded receipts: their batch ids. */
static int on_receipt(void *ctx, rd_kafka_message_t *m) {
  idset *done = ctx;
  char type[64];
  json_t *j, *id;
  if(!wk_header(m, "ce_type", type, sizeof(type)) ||
     strcmp(type, DDAS_CE_FORWARDED) != 0 || !m->payload)
    return 0;
  j = json_loadb(m->payload, m->len, 0, NULL);
  id = json_object_get(j, "batch_id");
  if(json_is_string(id) && idset_add(done, json_string_value(id))) {
    json_decref(j);
    return -1;
  }
  json_decref(j);
  return 0;
}

typedef struct {
  const wk_config *cfg;
  ddas_cbs_mode mode; /* both: forwarded batches go to topic.accepted too */
  const char *batch_id, *delivery_id, *since;
  int dry_run;
  wk_forwarder *fw;
  wk_producer *prod;
  idset *done;
  idset tried;
  size_t selected, sent, forwarded, skipped, failed;
} replay_ctx;

/* cbs.mode = both: a batch forwarded now goes to topic.accepted as `run`
 * would have published it (same key, headers and body). 0, or -1 when it
 * could not be queued. A batch parked by a version that did not record its
 * kind is left out with a warning (the reader then lacks it: send the
 * delivery again). */
static int publish_accepted(replay_ctx *rc, const ddas_parked *p) {
  ddas_delivery_identity id;
  ddas_accepted_batch_in in;
  ddas_event ev;
  int out = 0;
  if(!ddas_cbs_mode_publishes(rc->mode))
    return 0;
  if(p->kind == DDAS_KIND_UNKNOWN) {
    wk_log(WK_WARN,
           "parked batch without ddas-kind (parked by an older version); not "
           "published to topic.accepted",
           "batch_id", p->batch_id, "delivery_id", p->delivery_id, NULL);
    return 0;
  }
  memset(&id, 0, sizeof(id));
  snprintf(id.org_name, sizeof(id.org_name), "%s",
           p->org_name ? p->org_name : "");
  snprintf(id.org_code, sizeof(id.org_code), "%s",
           p->org_code ? p->org_code : "");
  snprintf(id.period_start, sizeof(id.period_start), "%s",
           p->period_start ? p->period_start : "");
  snprintf(id.period_end, sizeof(id.period_end), "%s",
           p->period_end ? p->period_end : "");
  memset(&in, 0, sizeof(in));
  in.delivery_id = p->delivery_id;
  in.kind = p->kind;
  in.ident = &id;
  in.batch_id = p->batch_id;
  in.batch_index = p->batch_index;
  in.records = p->records;
  in.body = p->body;
  in.body_len = p->body_len;
  if(ddas_accepted_batch(&in, &ev) != DDAS_OK ||
     wk_produce_value(rc->prod, rc->cfg->topic_accepted, &ev, p->body,
                      p->body_len, NULL))
    out = -1;
  ddas_event_clear(&ev);
  return out;
}

static int on_parked(void *ctx, rd_kafka_message_t *m) {
  replay_ctx *rc = ctx;
  ddas_kv kv[32];
  size_t n = wk_headers_kv(m, kv, 32);
  ddas_parked p;
  char err[300], when[40];
  wk_send_result r;
  int out;
  out = 0;
  if(ddas_parked_parse(kv, n, m->payload, m->len, &p, err, sizeof(err))) {
    wk_log(WK_WARN, "not a parked batch; skipped", "error", err, NULL);
    goto done;
  }
  if((rc->batch_id && strcmp(rc->batch_id, p.batch_id)) ||
     (rc->delivery_id && strcmp(rc->delivery_id, p.delivery_id)) ||
     (rc->since && strcmp(p.time, rc->since) < 0))
    goto done;
  rc->selected++;
  if(idset_has(rc->done, p.batch_id) || idset_has(&rc->tried, p.batch_id)) {
    printf("batch %s (delivery %s): already forwarded, skipped\n", p.batch_id,
           p.delivery_id);
    rc->skipped++;
    goto done;
  }
  if(idset_add(&rc->tried, p.batch_id)) {
    out = -1;
    goto done;
  }
  if(rc->dry_run) {
    printf("batch %s (delivery %s, %zu records): would be sent\n", p.batch_id,
           p.delivery_id, p.records);
    goto done;
  }
  rc->sent++;
  memset(&r, 0, sizeof(r));
  if(wk_forwarder_send_signed(rc->fw, p.batch_id, p.body, p.body_len, p.digest,
                              p.signature, &r) == 0 &&
     r.outcome == DDAS_OUT_FORWARDED) {
    ddas_forwarded_in in;
    ddas_event ev;
    memset(&in, 0, sizeof(in));
    wk_rfc3339(-1, when, sizeof(when));
    in.base.delivery_id = p.delivery_id;
    in.base.ce_source = rc->cfg->events_source; /* the same as run's */
    in.base.time = when;
    in.batch_id = p.batch_id;
    in.batch_index = p.batch_index;
    in.records = p.records;
    in.bytes = p.body_len;
    in.digest = p.digest;
    in.http_status = r.http_status ? r.http_status : 200;
    in.attempts = r.attempts ? r.attempts : 1;
    in.replayed = 1;
    if(ddas_event_forwarded(&in, &ev) != DDAS_OK ||
       wk_produce_event(rc->prod, rc->cfg->topic_receipts, &ev) ||
       publish_accepted(rc, &p)) {
      out = -1;
    } else {
      rc->forwarded++;
      printf("batch %s (delivery %s, %zu records): forwarded, HTTP %d\n",
             p.batch_id, p.delivery_id, p.records, in.http_status);
    }
    ddas_event_clear(&ev);
  } else {
    rc->failed++;
    printf("batch %s (delivery %s): not delivered: %s (%s); it stays parked\n",
           p.batch_id, p.delivery_id, ddas_outcome_name(r.outcome),
           r.last_error);
  }
  wk_send_result_clear(&r);
done:
  wk_headers_free(kv, n);
  return out;
}

/* Parses the command line: the configuration file into *path, the
 * selection and --dry-run into rc. 0, -1 after --help, or 2 after a usage
 * error message. */
static int parse_args(int argc, char **argv, const char **path,
                      replay_ctx *rc) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"batch-id", required_argument, NULL, 'b'},
      {"delivery-id", required_argument, NULL, 'd'},
      {"since", required_argument, NULL, 's'},
      {"dry-run", no_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int o;
  *path = NULL;
  optind = 1;
  while((o = wk_getopt(argc, argv, "c:h", opts, "replay")) != -1) {
    switch(o) {
    case 'c': *path = optarg; break;
    case 'b': rc->batch_id = optarg; break;
    case 'd': rc->delivery_id = optarg; break;
    case 's':
      if(!ddas_format_date_time(optarg, strlen(optarg))) {
        fprintf(stderr, "ddas-worker replay: --since takes an RFC 3339 time "
                        "such as 2026-11-29T00:00:00Z\n");
        return 2;
      }
      rc->since = optarg;
      break;
    case 'n': rc->dry_run = 1; break;
    case 'h': usage(stdout); return -1;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(!*path || optind != argc) {
    fprintf(stderr, "ddas-worker replay: needs -c FILE\n");
    return 2;
  }
  return 0;
}

/* Opens what the run needs: the forwarder and the receipt producer (not
 * for a dry run; prod is rc->prod) and the reader of both topics (*rk).
 * 0, or -1 after an error message. */
static int open_clients(replay_ctx *rc, wk_producer *prod, rd_kafka_t **rk) {
  const wk_config *cfg = rc->cfg;
  char err[1024];
  if(!wk_kafka_bootstrap(cfg) || wk_kafka_is_embedded(cfg)) {
    fprintf(stderr, "ddas-worker replay: set kafka.bootstrap.servers to the "
                    "cluster that holds the parked batches\n");
    return -1;
  }
  if(!rc->dry_run && wk_forwarder_new(cfg, &rc->fw, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return -1;
  }
  if(!rc->dry_run &&
     wk_producer_new(cfg, wk_kafka_bootstrap(cfg), prod, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return -1;
  }
  rc->prod = prod;
  *rk = wk_reader_new(cfg, "replay", err, sizeof(err));
  if(!*rk) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return -1;
  }
  return 0;
}

/* Reads the forwarded receipts, then replays the selected parked batches
 * and waits for their receipts. The exit status: 0 when nothing stays
 * parked, else 1 (after a message when Kafka failed). */
static int replay(replay_ctx *rc, rd_kafka_t *rk) {
  const wk_config *cfg = rc->cfg;
  char err[1024];
  if(wk_read_all(rk, cfg->topic_receipts, on_receipt, rc->done, 10000, err,
                 sizeof(err)) ||
     wk_read_all(rk, cfg->topic_failed, on_parked, rc, 10000, err,
                 sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return 1;
  }
  if(!rc->dry_run && rc->sent &&
     wk_producer_flush(rc->prod, 60000, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return 1;
  }
  printf("parked batches selected: %zu; sent: %zu; forwarded: %zu; already "
         "forwarded: %zu; still parked: %zu\n",
         rc->selected, rc->sent, rc->forwarded, rc->skipped, rc->failed);
  return rc->failed ? 1 : 0;
}

int wk_cmd_replay(int argc, char **argv) {
  const char *path;
  replay_ctx rc;
  wk_config cfg;
  wk_producer prod;
  idset done;
  rd_kafka_t *rk = NULL;
  char err[1024];
  int status;

  memset(&rc, 0, sizeof(rc));
  memset(&done, 0, sizeof(done));
  memset(&prod, 0, sizeof(prod));
  if((status = parse_args(argc, argv, &path, &rc)))
    return status < 0 ? 0 : status;
  if(wk_config_load(path, &cfg, err, sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    return 2;
  }
  wk_log_init(&cfg);
  if(wk_startcheck(&cfg, WK_CHECK_KAFKA | WK_CHECK_FILES, NULL, NULL, err,
                   sizeof(err))) {
    fprintf(stderr, "ddas-worker replay: %s\n", err);
    wk_config_free(&cfg);
    return 2;
  }
  rc.cfg = &cfg;
  rc.done = &done;
  ddas_cbs_mode_parse(cfg.cbs_mode, &rc.mode); /* checked by the load */
  status = open_clients(&rc, &prod, &rk) ? 2 : replay(&rc, rk);
  if(rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
  if(prod.rk)
    wk_producer_close(&prod);
  wk_forwarder_free(rc.fw);
  idset_free(&done);
  idset_free(&rc.tried);
  wk_config_free(&cfg);
  return status;
}
