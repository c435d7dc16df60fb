/* worker/config.h: the configuration of ddas-worker, as one typed table.
 *
 * One `key = value` file (`#` comments), then environment overrides
 * (DDAS_ + the key upper-cased with dots as underscores, e.g.
 * DDAS_CBS_CLIENT_SECRET), then secrets from files: every secret key K may
 * instead be given as K_file = PATH (the file's content, trailing newline
 * removed); so may kafka.sasl.password, kafka.ssl.key.password,
 * kafka.ssl.keystore.password and kafka.sasl.oauthbearer.client.secret.
 * Unknown keys are errors with a "did you mean" hint. `kafka.*` keys pass
 * through to librdkafka (checked against it by wk_startcheck) except the
 * guarded ones the worker's guarantees rest on, which are refused with the
 * reason; `cbs.header.NAME` adds a request header.
 * The README's configuration reference and `check-config` come from the
 * same table (wk_config_reference). */
#ifndef WK_CONFIG_H
#define WK_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "ddas/validate.h"

typedef struct {
  char *name;
  char *value;
  char *where; /* "FILE:LINE" or "environment DDAS_…" it came from; NULL
                  when built by hand */
} wk_kv;

typedef struct {
  /* CBS endpoint */
  char *cbs_mode;           /* "push", "pull" or "both" (ddas/accepted.h) */
  char *cbs_url;            /* https://… or file:///dir (outbox) */
  int allow_insecure_http;  /* permit http:// for a local stub */
  char *cbs_ca;             /* CA bundle (PEM) for the server certificate */
  char *cbs_cert;           /* transport (mTLS) certificate chain, PEM */
  char *cbs_key;            /* its key, PEM */
  char *cbs_key_passphrase; /* secret */
  long connect_timeout_ms;
  long timeout_ms;
  wk_kv *headers; /* cbs.header.NAME = value, extra request headers */
  size_t nheaders;
  /* OAuth 2.0 client credentials */
  char *token_url; /* empty: no Authorization header */
  char *client_id;
  char *client_secret; /* secret */
  char *auth_method;   /* "basic" or "form" */
  char *scope;         /* optional */
  long token_refresh_margin_s;
  /* signing */
  char *sign_cert;           /* signing certificate chain, PEM */
  char *sign_key;            /* its key, PEM */
  char *sign_key_passphrase; /* secret */
  char *sign_profile;        /* "adr" or "body" */
  char *sign_kid;            /* empty: the x5t#S256 */
  /* retries */
  long retry_max_attempts;
  long retry_base_ms;
  long retry_max_ms;
  long retry_budget_ms;
  long config_fault_threshold; /* consecutive configuration faults before
                                  run stalls (ddas/stall.h) */
  /* content */
  char *code_gegevensleverancier; /* every batch's; empty: the delivery's
                                     own */
  char *upgrade_code_gegevensleverancier; /* for a delivery without one;
                                             empty: none */
  char *profile;                          /* "spec" or "strict" */
  wk_kv *rules;                           /* rules.ID = error|warning|off */
  size_t nrules;
  char *normalise;  /* "all", "none" or "N1,N2,…" */
  long max_records; /* per batch; 0: 25,000 / 50,000 */
  long max_batch_bytes;
  /* Kafka */
  wk_kv *kafka; /* kafka.* pass-through to librdkafka */
  size_t nkafka;
  char *group_id;
  char *topic_deliveries, *topic_rejections, *topic_receipts, *topic_failed;
  char *topic_accepted;      /* compacted: accepted batches and manifests */
  long chunk_bytes;          /* submit: largest message; larger deliveries
                                are split into chunks */
  long incomplete_after_ms;  /* a chunked delivery whose next chunk does not
                                arrive within this time is incomplete */
  long max_poll_interval_ms; /* kafka max.poll.interval.ms */
  long max_inflight_bytes;   /* batches built, outcome not yet durable */
  long revoke_timeout_ms;    /* how long a revocation waits for outcomes */
  long max_in_flight;        /* batches at CBS at once */
  /* where the configuration came from, for the start-up checks */
  char *source;        /* the file given to wk_config_load, or NULL */
  char *inline_secret; /* the first secret key the file itself holds
                          (e.g. cbs.client_secret), or NULL */
  wk_kv *secret_files; /* every KEY_file read: name KEY_file, value the
                          path */
  size_t nsecret_files;
  /* serve: POST /gegevens */
  char *serve_listen, *serve_cert, *serve_key;
  char *serve_key_passphrase; /* secret */
  char *serve_client_ca, *serve_allow, *serve_auth;
  char *serve_introspection_url, *serve_introspection_ca;
  char *serve_introspection_client_id;
  char *serve_introspection_client_secret; /* secret */
  long serve_introspection_cache_s;
  char *serve_required_scope;
  int serve_allow_insecure_http;
  char *serve_signature_trust;
  int serve_require_signed_requests;
  char *serve_path_shv, *serve_path_vs;
  long serve_max_request_bytes, serve_threads;
  char *serve_spool_dir;
  /* operations */
  char *admin_listen;  /* empty: no admin endpoint */
  char *events_source; /* ce_source of events; after wk_config_load never
                          empty (derived from group_id when not set) */
  char *log_format;    /* "json" or "text" */
  char *log_level;     /* "debug", "info", "warn", "error" */
} wk_config;

/* Sets every key to its default. */
void wk_config_defaults(wk_config *c);
/* Loads `path` (NULL: defaults and environment only), applies DDAS_*
 * environment overrides and *_file secrets, and checks types, bounds and
 * enumerations. Returns 0, or -1 with a message naming the file, line and
 * key in err. Secret values never appear in messages. */
int wk_config_load(const char *path, wk_config *c, char *err, size_t errlen);
void wk_config_free(wk_config *c);
/* Writes the reference table (markdown: key, type, default, description). */
void wk_config_reference(FILE *out);
/* 1 when `key` names a secret (its value is never printed): a secret key
 * of the table, or a kafka.* secret such as kafka.sasl.password. */
int wk_config_is_secret(const char *key);
/* Prints the effective configuration with secrets masked. */
void wk_config_print(const wk_config *c, FILE *out);
/* The envelope context of a delivery submitted at `delivered_at` (words
 * of its origin in `delivered_at_from`; both borrowed, as is c):
 * codeGegevensleverancier from batch.code_gegevensleverancier (replacing
 * the delivery's own, as RULES.md's "from configuration when set"), else
 * from upgrade.code_gegevensleverancier (only for a delivery without one),
 * else none. */
void wk_config_envelope(const wk_config *c, const char *delivered_at,
                        const char *delivered_at_from,
                        ddas_envelope_context *out);

#endif
