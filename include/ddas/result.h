/* ddas/result.h: the one result type of the core.
 *
 * Every fallible core function returns a ddas_result. DDAS_OK is 0 so that
 * `if(result) goto out;` reads naturally. The split between retryable and
 * permanent failures matters to the worker: only DDAS_ERR_NOMEM and
 * DDAS_ERR_IO may be retried; everything else is a property of the input or
 * the configuration and will fail again the same way. */
#ifndef DDAS_RESULT_H
#define DDAS_RESULT_H

typedef enum {
  DDAS_OK = 0,
  DDAS_ERR_NOMEM,       /* an allocation failed (retryable) */
  DDAS_ERR_IO,          /* reading or writing a file failed (retryable) */
  DDAS_ERR_SYNTAX,      /* the input is not acceptable JSON (permanent) */
  DDAS_ERR_LIMIT,       /* a configured limit was exceeded (permanent) */
  DDAS_ERR_UNSUPPORTED, /* a schema uses a feature that is not implemented */
  DDAS_ERR_SCHEMA,      /* a schema is itself malformed */
  DDAS_ERR_ARG          /* a caller passed an invalid argument */
} ddas_result;

/* A short, static, English description of `r`. Never NULL. */
const char *ddas_result_str(ddas_result r);

/* 1 when `r` may succeed if the same call is repeated later. */
int ddas_result_retryable(ddas_result r);

#endif
