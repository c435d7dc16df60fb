/* Certificate files' validity windows (see certfile.h). */
#define _DEFAULT_SOURCE /* timegm */
#include "certfile.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ddas/checks.h"

static int64_t asn1_to_unix(const ASN1_TIME *t) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm);
}

static void day_of(int64_t t, char *buf, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, cap, "%Y-%m-%d", &tm);
}

int wk_cert_file_window(const char *key, const char *path, char *warn,
                        size_t warncap, char *err, size_t errlen) {
  int64_t now = (int64_t)time(NULL);
  BIO *b = BIO_new_file(path, "r");
  X509 *x;
  int n = 0, rc = 0;
  if(warncap)
    *warn = '\0';
  while(!rc && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    int64_t nb = asn1_to_unix(X509_get0_notBefore(x)),
            na = asn1_to_unix(X509_get0_notAfter(x));
    char day[16], which[48];
    X509_free(x);
    snprintf(which, sizeof(which),
             n ? "certificate #%d in the file" : "the certificate", n + 1);
    n++;
    switch(ddas_cert_window_at(now, nb, na, WK_CERT_WARN_S)) {
    case DDAS_CERT_NOT_YET_VALID:
      day_of(nb, day, sizeof(day));
      snprintf(err, errlen,
               "%s: %s is not valid before %s; use a certificate valid now "
               "(change %s) or start on that day",
               key, which, day, key);
      rc = -1;
      break;
    case DDAS_CERT_EXPIRED:
      day_of(na, day, sizeof(day));
      snprintf(err, errlen, "%s: %s expired on %s; renew it and change %s", key,
               which, day, key);
      rc = -1;
      break;
    case DDAS_CERT_EXPIRES_SOON:
      day_of(na, day, sizeof(day));
      if(warncap && !*warn)
        snprintf(warn, warncap,
                 "WARNING: %s in %s expires on %s (in %lld days); renew it",
                 which, key, day, (long long)((na - now) / 86400));
      break;
    case DDAS_CERT_VALID: break;
    }
  }
  ERR_clear_error();
  BIO_free(b);
  return rc;
}
