/* Command-line conventions shared by the subcommands (see cli.h). */
#include "cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <string.h>

#include "ddas/text.h"

/* The long option closest to `name` (edit distance at most 3, or a prefix
 * of it), or NULL. */
static const char *closest_option(const struct option *opts, const char *name) {
  const char *best = NULL;
  size_t bestd = 4, i;
  for(i = 0; opts[i].name; i++) {
    size_t d = ddas_edit_distance(name, opts[i].name);
    if(*name && strncmp(opts[i].name, name, strlen(name)) == 0)
      d = 1;
    if(d < bestd) {
      bestd = d;
      best = opts[i].name;
    }
  }
  return best;
}

/* The option `name` (len bytes) stands for: an exact name, or the one
 * option it abbreviates. NULL when there is none; *ambiguous is set when
 * it abbreviates several. */
static const struct option *long_named(const struct option *opts,
                                       const char *name, size_t len,
                                       int *ambiguous) {
  const struct option *found = NULL;
  size_t i;
  *ambiguous = 0;
  for(i = 0; opts[i].name; i++) {
    if(strncmp(opts[i].name, name, len) != 0)
      continue;
    if(strlen(opts[i].name) == len)
      return &opts[i];
    if(found && found->val != opts[i].val)
      *ambiguous = 1;
    found = &opts[i];
  }
  return *ambiguous ? NULL : found;
}

/* The message for the option getopt_long just refused. argv[optind - 1]
 * is the offending word for a long option; for a short one getopt keeps
 * the character in optopt. */
static void report(int argc, char **argv, const char *shortopts,
                   const struct option *opts, const char *cmd) {
  const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
  if(strncmp(word, "--", 2) == 0) {
    const char *name = word + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    char buf[128];
    const char *s;
    int ambiguous;
    const struct option *o = long_named(opts, name, len, &ambiguous);
    if(o) {
      fprintf(stderr, "ddas-worker %s: option '--%s' %s\n", cmd, o->name,
              eq ? "takes no value" : "needs a value");
      return;
    }
    if(ambiguous) {
      fprintf(stderr,
              "ddas-worker %s: option '--%.*s' is ambiguous (write "
              "it out)\n",
              cmd, (int)len, name);
      return;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
    s = closest_option(opts, buf);
    fprintf(stderr, "ddas-worker %s: unknown option '--%s'%s%s%s\n", cmd, buf,
            s ? " (did you mean '--" : "", s ? s : "", s ? "'?)" : "");
    return;
  }
  if(optopt && strchr(shortopts, optopt))
    fprintf(stderr, "ddas-worker %s: option '-%c' needs a value\n", cmd,
            optopt);
  else if(optopt > ' ' && optopt < 127)
    fprintf(stderr, "ddas-worker %s: unknown option '-%c'\n", cmd, optopt);
  else
    fprintf(stderr, "ddas-worker %s: unknown option '%s'\n", cmd, word);
}

int wk_getopt(int argc, char **argv, const char *shortopts,
              const struct option *opts, const char *cmd) {
  int c;
  opterr = 0;
  optopt = 0;
  c = getopt_long(argc, argv, shortopts, opts, NULL);
  if(c == '?' || c == ':') {
    report(argc, argv, shortopts, opts, cmd);
    fprintf(stderr, "Try 'ddas-worker %s --help'.\n", cmd);
    return '?';
  }
  return c;
}

void wk_version_print(FILE *out, const char *version, const char *commit) {
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  fprintf(out, "ddas-worker %s (%s)\n", version, commit);
  fprintf(out, "librdkafka %s\n", rd_kafka_version_str());
  fprintf(out, "libcurl %s\n", cv && cv->version ? cv->version : "unknown");
  fprintf(out, "%s\n", OpenSSL_version(OPENSSL_VERSION));
  fprintf(out, "jansson %s\n", jansson_version_str());
}

static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

void wk_catch_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

int wk_stop_requested(void) { return stop_requested; }
