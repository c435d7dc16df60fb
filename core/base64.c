/* Strict base64 (RFC 4648 section 4, with padding) and base64url (section 5,
 * without padding), see ddas/sign.h.
 *
 * The decoders accept only the canonical encoding: no white space, no
 * padding in base64url, padding exactly where section 4 puts it in base64,
 * and zero bits in the unused low bits of the last character. Every value
 * has exactly one accepted spelling, so encoded strings can be compared as
 * strings (the x5t#S256 check relies on it). */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ddas/sign.h"

static const char STD[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes in[0..len) with `alphabet`, padding with '=' when `pad`. Returns
 * the number of characters written before the NUL, or 0 when out[cap] is too
 * small (or the length would overflow). */
static size_t encode(const char *alphabet, int pad, const void *in, size_t len,
                     char *out, size_t cap) {
  const unsigned char *p = in;
  size_t full = len / 3, rest = len % 3, need, i, o = 0;
  if(full > (SIZE_MAX - 8) / 4)
    return 0;
  need = full * 4 + (rest ? (pad ? 4 : rest + 1) : 0);
  if(!out || cap < need + 1)
    return 0;
  for(i = 0; i < full * 3; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if(rest) {
    uint32_t v = (uint32_t)p[i] << 16;
    if(rest == 2)
      v |= (uint32_t)p[i + 1] << 8;
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    if(rest == 2)
      out[o++] = alphabet[(v >> 6) & 63];
    else if(pad)
      out[o++] = '=';
    if(pad)
      out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

size_t ddas_b64_encode(const void *in, size_t len, char *out, size_t cap) {
  return encode(STD, 1, in, len, out, cap);
}

size_t ddas_b64url_encode(const void *in, size_t len, char *out, size_t cap) {
  return encode(URL, 0, in, len, out, cap);
}

/* The 6-bit value of c in the alphabet (url selects "-_" over "+/"), or -1. */
static int sextet(unsigned char c, int url) {
  if(c >= 'A' && c <= 'Z')
    return c - 'A';
  if(c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if(c >= '0' && c <= '9')
    return c - '0' + 52;
  if(c == (url ? '-' : '+'))
    return 62;
  if(c == (url ? '_' : '/'))
    return 63;
  return -1;
}

/* Decodes the unpadded characters in[0..len) (len % 4 != 1) into out[cap].
 * Returns the decoded length, or -1 on a character outside the alphabet,
 * non-zero unused bits, or too small a buffer. */
static long decode(const char *in, size_t len, unsigned char *out, size_t cap,
                   int url) {
  size_t i, o = 0, need;
  uint32_t acc = 0;
  unsigned bits = 0;
  if(len % 4 == 1 || len / 4 > (size_t)LONG_MAX / 3 - 1)
    return -1;
  need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
  if(need > cap || (need && !out))
    return -1;
  for(i = 0; i < len; i++) {
    int v = sextet((unsigned char)in[i], url);
    if(v < 0)
      return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffffu;
    bits += 6;
    if(bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if(bits && (acc & ((1u << bits) - 1)))
    return -1; /* non-canonical: the unused low bits must be zero */
  return (long)o;
}

long ddas_b64_decode(const char *in, size_t len, unsigned char *out,
                     size_t cap) {
  size_t pad = 0;
  if(len % 4)
    return -1;
  if(len && in[len - 1] == '=')
    pad = len >= 2 && in[len - 2] == '=' ? 2 : 1;
  return decode(in, len - pad, out, cap, 0);
}

long ddas_b64url_decode(const char *in, size_t len, unsigned char *out,
                        size_t cap) {
  return decode(in, len, out, cap, 1);
}
