/* core/hash.h: the one string hash of the core (FNV-1a, 32 bit), for
 * member-name tables in the parser and the schema compiler. Not for
 * anything that needs collision resistance. */
#ifndef DDAS_CORE_HASH_H
#define DDAS_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ddas_fnv1a(const char *k, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for(i = 0; i < n; i++) {
    h ^= (unsigned char)k[i];
    h *= 16777619u;
  }
  return h;
}

#endif
