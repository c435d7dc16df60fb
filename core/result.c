/* Descriptions of ddas_result values (see ddas/result.h). */
#include "ddas/result.h"

const char *ddas_result_str(ddas_result r) {
  switch(r) {
  case DDAS_OK: return "ok";
  case DDAS_ERR_NOMEM: return "out of memory";
  case DDAS_ERR_IO: return "input/output error";
  case DDAS_ERR_SYNTAX: return "malformed input";
  case DDAS_ERR_LIMIT: return "limit exceeded";
  case DDAS_ERR_UNSUPPORTED: return "unsupported feature";
  case DDAS_ERR_SCHEMA: return "malformed schema";
  case DDAS_ERR_ARG: return "invalid argument";
  }
  return "unknown error";
}

int ddas_result_retryable(ddas_result r) {
  return r == DDAS_ERR_NOMEM || r == DDAS_ERR_IO;
}
