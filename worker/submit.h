/* worker/submit.h: publishing a delivery to the input topic: split into
 * chunks (complete DDAS documents, core/chunk.c) when it is larger than
 * submit.chunk_bytes, with the headers ddas-delivery-id, ddas-kind,
 * ddas-schema-version and ddas-chunk (i/n), keyed by the delivery id so
 * that every chunk lands on one partition in order. */
#ifndef WK_SUBMIT_H
#define WK_SUBMIT_H

#include <stddef.h>

#include "config.h"
#include "kafka.h"

typedef struct {
  char delivery_id[160];
  size_t chunks;
  size_t bytes;
} wk_submit_result;

/* Queues the file's messages on p (the caller flushes to learn whether
 * Kafka acknowledged them). delivery_id NULL: the file's base name and a
 * hash of its content. 0, or -1 with a message. */
int wk_submit_file(const wk_config *c, wk_producer *p, const char *path,
                   const char *delivery_id, wk_submit_result *out, char *err,
                   size_t errlen);

#endif
