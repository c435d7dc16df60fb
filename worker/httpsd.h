/* worker/httpsd.h: the HTTPS server of `ddas-worker serve` (CBS's pull
 * interface), on OpenSSL with mutual TLS.
 *
 * Not libmicrohttpd: a client certificate that does not chain to
 * client_ca, or is not on the allow list, must fail the TLS handshake
 * itself, before any HTTP byte is read; that needs the verify callback.
 *
 * TLS: at least TLS 1.2; SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
 * against client_ca, chains of at most WK_HTTPSD_VERIFY_DEPTH CA
 * certificates. The allow list is checked in the verify callback at depth
 * 0, so a certificate not on it fails the handshake with a TLS alert
 * (handshake failure / certificate unknown) like an untrusted one.
 *
 * Concurrency: `threads` threads each accept and serve one connection at a
 * time (several requests per connection with keep-alive). Further
 * connections wait in the listen backlog (WK_HTTPSD_BACKLOG) until a thread
 * is free; none is answered 503 by this server.
 *
 * HTTP (ddas/http.h parses the heads): the server answers by itself, with
 * an application/problem+json body, and closes the connection for: a head
 * refused by the parser (400, 414, 431, 501, 505), a Content-Length above
 * max_body (413, without reading the body), a request not received within
 * io_timeout_ms of its first byte (408). It writes Content-Length, Date and
 * Connection itself. A connection idle longer than idle_timeout_ms between
 * requests is closed without an answer.
 *
 * Signals: SIGPIPE is blocked in the server's threads (a write to a peer
 * that went away fails with EPIPE instead of killing the process); plain
 * sockets also write with MSG_NOSIGNAL.
 *
 * Logging (worker/log.h): refused connections ("https connection refused"
 * with reason "no certificate", "untrusted" (with OpenSSL's verify error,
 * e.g. "certificate has expired"), "not allowed", "handshake failed" (with
 * OpenSSL's error, e.g. "unsupported protocol") or "handshake timed out",
 * and the peer certificate's OIN and thumbprint when there is one; never a
 * name from it) and refused requests (status, reason). Never
 * a request body, header value or token. */
#ifndef WK_HTTPSD_H
#define WK_HTTPSD_H

#include <stddef.h>

#include "ddas/http.h" /* ddas_http_header */

#define WK_HTTPSD_VERIFY_DEPTH 4
#define WK_HTTPSD_BACKLOG 128
#define WK_HTTPSD_MAX_RESP_HEADERS 32

typedef struct {
  const char *listen;         /* "HOST:PORT", "[V6]:PORT"; port 0: ephemeral */
  const char *cert;           /* PEM: server certificate, then intermediates */
  const char *key;            /* PEM private key of cert */
  const char *key_passphrase; /* NULL: the key is not encrypted */
  const char *client_ca;      /* PEM bundle client certificates chain to */
  /* Allowed client identities: "oin:<digits>" matches the certificate
   * subject's serialNumber (the OIN) exactly; anything else is a subject DN
   * compared exactly with OpenSSL's RFC 2253 rendering (XN_FLAG_RFC2253:
   * most significant last, e.g. "CN=x,serialNumber=0000...,O=Org,C=NL").
   * nallow = 0: every certificate that chains to client_ca. */
  const char *const *allow;
  size_t nallow;
  size_t max_body;         /* bytes; 0: 64 KiB */
  unsigned threads;        /* connections served at once; 0: 16 */
  long idle_timeout_ms;    /* keep-alive idling; 0: 30000 */
  long io_timeout_ms;      /* the TLS handshake, receiving one request from its
                              first byte, each write; 0: 10000 */
  int insecure_plain_http; /* local development only: plain HTTP, no TLS,
                              no client identity (cert, key, client_ca and
                              allow are ignored) */
} wk_httpsd_options;

/* One request, valid during the handler call only. Strings are
 * NUL-terminated. */
typedef struct {
  const char *method;
  const char *path;  /* the target up to '?', as sent (not decoded) */
  const char *query; /* after '?', "" when none */
  const ddas_http_header *headers; /* in the order received */
  size_t nheaders;
  const char *body; /* body_len bytes (NUL-terminated for convenience) */
  size_t body_len;
  /* The verified client certificate (all "" under insecure_plain_http). */
  const char *peer_dn;         /* subject, RFC 2253 form (see allow); ""
                                  when longer than 1023 bytes */
  const char *peer_oin;        /* subject serialNumber, "" when none */
  const char *peer_thumbprint; /* x5t#S256: base64url SHA-256 of the DER */
} wk_httpsd_request;

/* The value of the first header named `name` (case-insensitive), or NULL;
 * *count (may be NULL) receives the number of fields with that name, so a
 * handler can refuse duplicates. */
const char *wk_httpsd_header_get(const wk_httpsd_request *r, const char *name,
                                 size_t *count);

typedef struct wk_httpsd_response wk_httpsd_response;

/* The status (100..599; anything else answers 500). Not calling it: 500. */
void wk_httpsd_set_status(wk_httpsd_response *r, int status);
/* Adds a header; name and value are copied. Returns 0, or -1 (nothing
 * added, logged) when the name is not a token, the value holds CR, LF or
 * another control character, the name is one the server writes itself
 * (Content-Length, Transfer-Encoding, Connection, Date), more than
 * WK_HTTPSD_MAX_RESP_HEADERS were added, or memory ran out. */
int wk_httpsd_add_header(wk_httpsd_response *r, const char *name,
                         const char *value);
/* Hands the body over: `body` (len bytes, from ddas_malloc; NULL with
 * len 0 for none) is
 * owned by the server from this call on and freed with ddas_free(), also
 * when the answer cannot be written. A second call frees the first body. */
void wk_httpsd_set_body(wk_httpsd_response *r, char *body, size_t len);

/* Called on a server thread for each request; several calls run at once
 * (one per thread), so `ctx` must be safe for that. It must return within a
 * bound of its own: wk_httpsd_stop() waits for it. */
typedef void (*wk_httpsd_handler)(void *ctx, const wk_httpsd_request *req,
                                  wk_httpsd_response *resp);

typedef struct wk_httpsd wk_httpsd;

/* Loads the certificates, listens and starts the threads. On success *out
 * is the server (wk_httpsd_stop); on failure *out is NULL, err holds what
 * is wrong (which file, which option) and -1 is returned. */
int wk_httpsd_start(const wk_httpsd_options *o, wk_httpsd_handler fn, void *ctx,
                    wk_httpsd **out, char *err, size_t errlen);
/* The port listened on (useful with port 0); 0 for NULL. */
int wk_httpsd_port(const wk_httpsd *s);
/* Stops accepting, closes idle connections and connections still sending
 * their request, lets requests whose handler runs finish (their answer is
 * written with Connection: close, each write bounded by io_timeout_ms),
 * joins the threads and frees everything. NULL is accepted. */
void wk_httpsd_stop(wk_httpsd *s);

#endif
