/* `ddas-worker healthcheck`: asks a running worker's admin endpoint whether
 * it is alive (GET /healthz) or ready (GET /readyz), for Docker's
 * HEALTHCHECK and other probes that run a command rather than an HTTP
 * request (the runtime image has no HTTP client of its own). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ddas-worker healthcheck [-c FILE | --address HOST:PORT] "
          "[--ready]\n"
          "                               [--timeout SECONDS]\n"
          "\n"
          "Asks a running worker's admin endpoint (admin.listen) whether it\n"
          "is alive (GET /healthz) or, with --ready, ready (GET /readyz),\n"
          "and prints the answer. For Docker's HEALTHCHECK:\n"
          "  HEALTHCHECK CMD [\"ddas-worker\", \"healthcheck\", \"-c\", "
          "\"/etc/ddas-worker/worker.conf\"]\n"
          "\n"
          "  -c, --config FILE     take the address from admin.listen of FILE\n"
          "                        (with its DDAS_* overrides); a wildcard\n"
          "                        host (0.0.0.0) is asked on 127.0.0.1\n"
          "  --address HOST:PORT   the admin endpoint (default "
          "127.0.0.1:9464)\n"
          "  --ready               ask /readyz instead of /healthz\n"
          "  --timeout SECONDS     give up after this long (default 5)\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 the endpoint answered 200, 1 it answered otherwise\n"
          "or could not be reached, 2 usage or configuration error.\n");
}

/* Writes the URL for `address` (HOST:PORT, a wildcard host replaced by
 * loopback) and `path` into url. 0, or -1 when address has no port. */
static int admin_url(const char *address, const char *path, char *url,
                     size_t cap) {
  const char *colon = strrchr(address, ':');
  size_t hostlen;
  const char *host;
  if(!colon || !colon[1])
    return -1;
  hostlen = (size_t)(colon - address);
  host = address;
  if(hostlen == 0 || (hostlen == 7 && !strncmp(address, "0.0.0.0", 7))) {
    host = "127.0.0.1";
    hostlen = 9;
  } else if(hostlen == 4 && !strncmp(address, "[::]", 4)) {
    host = "[::1]";
    hostlen = 5;
  }
  snprintf(url, cap, "http://%.*s%s%s", (int)hostlen, host, colon, path);
  return 0;
}

/* The body is shown (one line, at most 200 bytes): it carries the reason
 * /readyz gives. */
typedef struct {
  char text[201];
  size_t len;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  body *b = arg;
  size_t take = size * n, room = sizeof(b->text) - 1 - b->len;
  memcpy(b->text + b->len, p, take < room ? take : room);
  b->len += take < room ? take : room;
  return size * n;
}

static int probe(const char *url, long timeout_s) {
  CURL *h = curl_easy_init();
  body b = {{0}, 0};
  long status = 0;
  CURLcode rc;
  char *nl;
  if(!h) {
    fprintf(stderr, "ddas-worker healthcheck: cannot start libcurl\n");
    return 1;
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  rc = curl_easy_perform(h);
  if(rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  if(rc != CURLE_OK) {
    printf("%s: unreachable: %s\n", url, curl_easy_strerror(rc));
    return 1;
  }
  b.text[b.len] = '\0';
  if((nl = strchr(b.text, '\n')))
    *nl = '\0';
  printf("%s: %ld %s\n", url, status, b.text);
  return status == 200 ? 0 : 1;
}

int wk_cmd_healthcheck(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"address", required_argument, NULL, 'a'},
      {"ready", no_argument, NULL, 'r'},
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *path = NULL, *address = "127.0.0.1:9464";
  int ready = 0, o, rc;
  long timeout_s = 5;
  char url[512], err[1024], *end;
  wk_config cfg;
  optind = 1;
  while((o = wk_getopt(argc, argv, "c:h", opts, "healthcheck")) != -1) {
    switch(o) {
    case 'c': path = optarg; break;
    case 'a': address = optarg; break;
    case 'r': ready = 1; break;
    case 't':
      timeout_s = strtol(optarg, &end, 10);
      if(*end || timeout_s < 1 || timeout_s > 3600) {
        fprintf(stderr, "ddas-worker healthcheck: --timeout takes seconds "
                        "from 1 to 3600\n");
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: return 2; /* wk_getopt said why */
    }
  }
  if(optind != argc) {
    fprintf(stderr,
            "ddas-worker healthcheck: unexpected argument '%s'\n"
            "Try 'ddas-worker healthcheck --help'.\n",
            argv[optind]);
    return 2;
  }
  if(path) {
    if(wk_config_load(path, &cfg, err, sizeof(err))) {
      fprintf(stderr, "ddas-worker healthcheck: %s\n", err);
      wk_config_free(&cfg);
      return 2;
    }
    if(!*cfg.admin_listen) {
      fprintf(stderr,
              "ddas-worker healthcheck: %s sets no admin.listen, so "
              "the worker has no admin endpoint to ask; set "
              "admin.listen = HOST:PORT\n",
              path);
      wk_config_free(&cfg);
      return 2;
    }
    rc = admin_url(cfg.admin_listen, ready ? "/readyz" : "/healthz", url,
                   sizeof(url));
    wk_config_free(&cfg);
  } else
    rc = admin_url(address, ready ? "/readyz" : "/healthz", url, sizeof(url));
  if(rc) {
    fprintf(stderr, "ddas-worker healthcheck: the admin address must be "
                    "HOST:PORT\n");
    return 2;
  }
  return probe(url, timeout_s);
}
