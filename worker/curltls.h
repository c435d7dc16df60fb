/* worker/curltls.h: the TLS options every libcurl client of the worker
 * sets the same way (the CBS forwarder, the token introspection client). */
#ifndef WK_CURLTLS_H
#define WK_CURLTLS_H

#include <curl/curl.h>

typedef struct {
  const char *ca;             /* PEM trust anchors; NULL or "": the system's */
  const char *cert, *key;     /* client certificate and key (PEM); NULL or
                                 "": none */
  const char *key_passphrase; /* NULL or "": the key is not encrypted */
  int allow_insecure_http;    /* http:// as well as https:// (tests) */
} wk_curl_tls;

/* Sets option `opt` of h to `val`; on failure returns the CURLcode from
 * the enclosing function (which declares CURLcode rc). */
#define WK_CURL_TRY(h, opt, val)                                               \
  if((rc = curl_easy_setopt((h), (opt), (val))) != CURLE_OK)                   \
  return rc

/* Sets on h: https only (plus http with allow_insecure_http), no redirects
 * (a redirect could only go to https), TLS >= 1.2, the peer certificate and
 * host name verified, `ca` as the only trust anchors when given (not the
 * system directory as well), the client certificate when given. Returns
 * CURLE_OK or the first option that failed. */
CURLcode wk_curl_tls_setup(CURL *h, const wk_curl_tls *t);

#endif
