/* The shared TLS options of the worker's libcurl clients (curltls.h). */
#include "curltls.h"

static int given(const char *s) { return s && *s; }

CURLcode wk_curl_tls_setup(CURL *h, const wk_curl_tls *t) {
  CURLcode rc;
#define TRY(opt, val) WK_CURL_TRY(h, opt, val)
  TRY(CURLOPT_PROTOCOLS_STR, t->allow_insecure_http ? "http,https" : "https");
  TRY(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  TRY(CURLOPT_FOLLOWLOCATION, 0L);
  TRY(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  TRY(CURLOPT_SSL_VERIFYPEER, 1L);
  TRY(CURLOPT_SSL_VERIFYHOST, 2L);
  if(given(t->ca)) {
    TRY(CURLOPT_CAINFO, t->ca);
    TRY(CURLOPT_CAPATH, (char *)NULL);
  }
  if(given(t->cert)) {
    TRY(CURLOPT_SSLCERT, t->cert);
    TRY(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if(given(t->key)) {
    TRY(CURLOPT_SSLKEY, t->key);
    TRY(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if(given(t->key_passphrase))
    TRY(CURLOPT_KEYPASSWD, t->key_passphrase);
#undef TRY
  return CURLE_OK;
}
