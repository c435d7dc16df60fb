/* tests/support/pipeline_fixture.h: the whole pipeline with real processes,
 * shared by tests/unit/test_pipeline.c and tests/fault/fault_matrix.c.
 *
 * kafka-mock (librdkafka's mock cluster as a process: 3 brokers,
 * ddas.deliveries with 6 partitions), the CBS stub over HTTPS (mutual TLS,
 * OAuth2, signatures and schemas checked), `ddas-worker run` processes in
 * one consumer group, `ddas-worker submit`, generated deliveries whose every
 * traject carries a unique record id "r-<delivery>-<n>" in `omschrijving`,
 * readers of the topics, and the reconciliation of receipts, parked
 * batches, rejection events and the batches CBS holds.
 *
 * A failure of the fixture itself (a process that does not start, a topic
 * that cannot be read) calls fx_fail(), which calls fx_fail_hook (cmocka's
 * fail_msg in the tests, a longjmp in the fault matrix) and aborts when the
 * hook returns. */
#ifndef PIPELINE_FIXTURE_H
#define PIPELINE_FIXTURE_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FX_SECRET "pipeline-s3cret-Kq7"
#define FX_PASSPHRASE "pipeline-pass-Zr4"
#define FX_BATCH_MAX_BYTES 65536
#define FX_CHUNK_BYTES 20000

/* ---- set-up and failures ------------------------------------------------ */

/* The temporary directory of the program (PKI in fx_dir/pki, one
 * sub-directory per scenario). */
extern char fx_dir[200];
/* Makes fx_dir from template (".../name-XXXXXX") and the test PKI in it; 0
 * on success. */
int fx_setup(const char *template);
/* Kills the remaining children; removes fx_dir unless DDAS_KEEP_TMP is set
 * (then prints where it is). 0 on success. */
int fx_teardown(void);

/* Called with the message of a fixture failure; must not return (cmocka's
 * fail_msg, a longjmp). NULL or a returning hook: the program aborts. */
extern void (*fx_fail_hook)(const char *msg);
void fx_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
#define FX_CHECK(c)                                                            \
  do {                                                                         \
    if(!(c))                                                                   \
      fx_fail("%s:%d: check failed: %s", __FILE__, __LINE__, #c);              \
  } while(0)

double now_s(void);

/* ---- child processes ---------------------------------------------------- */

/* Starts argv[0] with stdout and stderr appended to log and stdin from
 * in_fd (-1: /dev/null); remembers it for children_kill_all(). */
pid_t spawn(const char *const argv[], const char *log, int in_fd);
/* Waits for pid: its exit status, 128 + signal when killed by one, or -1
 * after timeout_ms (then it is killed). */
int wait_exit(pid_t pid, int timeout_ms);
/* Like wait_exit with no waiting: the status, or -2 while it runs. */
int poll_exit(pid_t pid);
/* Forgets pid (reaped elsewhere). */
void child_forget(pid_t pid);
/* Kills every child still running (a failed scenario leaves some). */
void children_kill_all(void);

/* ---- kafka-mock --------------------------------------------------------- */

typedef struct {
  pid_t pid;
  int in; /* its stdin: commands */
  char log[400];
  char bootstrap[512];
} mock;

void mock_start(mock *m, const char *sdir);
/* Sends one command ("down 2") and waits for its "ok" (fails without). */
void mock_cmd(mock *m, const char *cmd);
/* The same for a command that answers "ok VALUE": VALUE into answer. */
void mock_query(mock *m, const char *cmd, char *answer, size_t cap);
/* Like mock_query without failing: 0 on "ok" (VALUE into answer), -1 when
 * kafka-mock answered an error or nothing within 5 s (what it said, or
 * "no answer within 5 s", into answer). A command is done when it says
 * "ok": it answers only after the mock cluster call returned. */
int mock_try(mock *m, const char *cmd, char *answer, size_t cap);
void mock_stop(mock *m);

/* ---- the CBS stub ------------------------------------------------------- */

typedef struct {
  pid_t pid;
  int port;
  char records[400];
  char log[400];
} stub;

/* How to start the stub; zeroes give the normal one. */
typedef struct {
  const char *plan;      /* fault plan (JSON), or NULL */
  const char *cert;      /* server chain in fx_dir/pki, default server-chain */
  const char *key;       /* its key, default server.key */
  const char *client_ca; /* CA of client certificates, default root.pem */
  int port;              /* 0: a free one */
  int token_lifetime;    /* seconds, 0: the stub's default */
} stub_opts;

void stub_start(stub *s, const char *sdir, const char *plan);
void stub_start_opts(stub *s, const char *sdir, const stub_opts *o);
void stub_stop(stub *s);
/* GET /_stats, or POST /_plan with body; the answer as JSON. */
json_t *stub_call(const stub *s, const char *path, const char *body);
long stub_stat(const stub *s, const char *name);

/* ---- generated deliveries ----------------------------------------------- */

typedef enum {
  K_SINGLE,    /* one valid traject */
  K_MULTI,     /* several leveringen, all valid */
  K_AMOUNT,    /* two leveringen, one traject with a negative amount */
  K_SCHEMA,    /* three trajecten, one with crisisinterventie "ja" */
  K_ALLBAD,    /* one traject, negative amount: accepted 0 */
  K_MALFORMED, /* not JSON: nothing counted, nothing forwarded */
  K_LARGE,     /* chunked by submit; one or more invalid trajecten */
  K_NKINDS
} dkind;

extern const char *const kind_names[K_NKINDS];

typedef struct {
  dkind kind;
  int variant;     /* K_MALFORMED: 0 syntax error in the envelope, 1 cut
                      inside the first traject; K_LARGE: invalid every Nth */
  size_t nrec;     /* record ids r-<i>-0 .. r-<i>-(nrec-1) in the file */
  size_t base;     /* index of r-<i>-0 in the record tables */
  size_t accepted; /* what the processed receipt must say */
  size_t rejected;
  size_t chunks; /* messages submit published */
  char id[200];  /* delivery id, from submit's output */
  char path[512];
} gdel;

typedef struct {
  gdel *d;
  size_t n;
  unsigned char *valid;      /* per record: 1 valid, 0 invalid */
  unsigned char *bad_schema; /* per record: invalid by its schema error */
  size_t nrec, nvalid, bytes, large, malformed, partial;
  char sdir[256];
} dataset;

typedef struct {
  char *b;
  size_t n, cap;
} sbuf;

void sb_printf(sbuf *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes delivery i of kind k (variant v) to ds->sdir/in/d-<i>.json;
 * *bsnk numbers the BSNs. */
void gen_delivery(dataset *ds, size_t i, dkind k, int v, unsigned long *bsnk);
void dataset_init(dataset *ds, const char *sdir, size_t n);
/* n deliveries of the standard mix: mostly single trajecten, a tenth
 * multi-levering, partly invalid ones, a few wholly invalid and malformed,
 * and one in a hundred large (chunked). */
void dataset_mix(dataset *ds, const char *sdir, size_t n,
                 unsigned long bsn_from);
void dataset_free(dataset *ds);
/* The index of delivery id, or -1. */
long index_of_id(const dataset *ds, const char *id);
void print_dataset(const char *tag, const dataset *ds);
/* Every delivery was published, large ones in 3..10 chunks. */
void check_chunking(const dataset *ds);

/* ---- a scenario: cluster, stub, configuration, workers ------------------ */

#define FX_MAX_WORKERS 16

typedef struct {
  char sdir[256];
  char conf[400];
  mock km;
  stub cbs;
  pid_t worker[FX_MAX_WORKERS];
  int nworkers;
} scen;

/* Starts kafka-mock and the stub (with plan) in fx_dir/tag and writes the
 * worker configuration (extra: more lines). */
void scen_start(scen *s, const char *tag, const char *plan, const char *extra);
void scen_start_opts(scen *s, const char *tag, const stub_opts *o,
                     const char *extra);
pid_t worker_start(scen *s);
/* SIGTERM to every worker still running; each must exit 0. */
void workers_stop(scen *s);
/* The same without failing: how many did not exit 0 (each one printed). */
int workers_stop_count(scen *s);
void scen_stop(scen *s);
/* Publishes deliveries [from, to) with `ddas-worker submit` (up to 400
 * files per process) and learns each delivery id and chunk count. */
void submit_range(scen *s, dataset *ds, size_t from, size_t to);
/* `ddas-worker replay` (stderr appended to sdir/replay.log); its exit
 * status, stdout in *out. */
int run_replay(const scen *s, char **out);

/* ---- reading topics ----------------------------------------------------- */

rd_kafka_t *consumer_new(const char *bootstrap);
int partitions_of(rd_kafka_t *rk, const char *topic);
typedef void (*msg_cb)(void *ctx, rd_kafka_message_t *m);
/* Calls cb for every message of topic, from the beginning to its current
 * end (high watermark), by manual assignment. */
size_t read_topic(const char *bootstrap, const char *topic, msg_cb cb,
                  void *ctx);
/* The value of header name as a string in buf; 0 when absent. */
int header(rd_kafka_message_t *m, const char *name, char *buf, size_t cap);

/* Input messages (ddas.deliveries), for resolving rejection pointers. */
typedef struct {
  int32_t partition;
  int64_t offset;
  char *payload;
  size_t len;
} kmsg;

typedef struct {
  kmsg *m;
  size_t n;
} kmsgs;

/* read_topic callback collecting into a kmsgs. */
void on_input(void *ctx, rd_kafka_message_t *m);
void kmsgs_free(kmsgs *l);
const kmsg *input_at(const kmsgs *l, int32_t part, int64_t off);
/* The value at pointer p ("/leveringen/0/schuldhulptrajecten/3") in doc. */
json_t *resolve(json_t *doc, const char *p);

/* Follows ddas.receipts while the workers run: which deliveries have a
 * processed receipt. */
typedef struct {
  rd_kafka_t *rk;
  const dataset *ds;
  unsigned char *seen;
  size_t count;
} watch;

void watch_start(watch *w, const char *bootstrap, const dataset *ds);
void watch_poll(watch *w, int ms);
/* Waits until `target` deliveries have a processed receipt (fails after
 * timeout_s). */
void watch_wait(watch *w, size_t target, int timeout_s, const char *what);
void watch_stop(watch *w);

/* ---- reconciliation ----------------------------------------------------- */

typedef struct {
  /* inputs */
  size_t deliveries, records, valid, chunks;
  /* receipts */
  size_t processed, processed_again, forwarded_receipts, replayed_receipts;
  /* CBS */
  size_t cbs_batches, cbs_records, cbs_resends;
  /* ddas.failed */
  size_t parked_events, parked_batches, parked_records, parked_at_cbs;
  /* records, over every batch CBS holds and every parked batch:
   * copies_same_key: a record again under the key it was first seen under;
   * key_mismatch: a record again under another key (parked under one, at
   * CBS under another, say); lost: valid records in no batch at all;
   * extra: invalid records in a batch; foreign: ids not in the dataset */
  size_t copies_same_key, key_mismatch, lost, extra, foreign;
  /* per record, each distinct: at CBS; in a parked batch CBS does not hold;
   * named by a rejection event (with FX_RECON_REJECTIONS, else 0) */
  size_t rec_forwarded, rec_parked, rec_rejected;
  /* records at CBS in a batch it received more than once: the re-sends
   * (receipts - 1 per batch, times its records) */
  size_t rec_resent_same_key;
  /* records at CBS under two different keys (never acceptable) */
  size_t rec_dup_other_key;
  /* records in none of rec_forwarded, rec_parked, rec_rejected, valid or
   * not (with FX_RECON_REJECTIONS; without it every invalid record counts);
   * `lost` above counts only valid records in no batch at all */
  size_t rec_lost;
  /* rejection events, and how many named no known record */
  size_t rejection_events, rejection_unresolved;
  /* checks that failed (each printed, the first 10) */
  size_t failures;
  /* the stub's counters */
  long key_conflicts, bad_signature, schema_invalid;
} recon;

/* Flags of fx_reconcile. */
#define FX_RECON_REQUIRE_REPLAYED 1 /* every parked batch must be at CBS */
#define FX_RECON_REJECTIONS 2       /* read ddas.rejections as well */

/* Reads receipts, CBS's record directory, ddas.failed (and, with
 * FX_RECON_REJECTIONS, ddas.deliveries and ddas.rejections), fills r and
 * prints one summary line. Checks that fail are counted in r->failures;
 * nothing here fails the program but a fixture failure. */
void fx_reconcile(const scen *s, const dataset *ds, recon *r, int flags);

#endif
