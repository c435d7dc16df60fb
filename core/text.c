/* Small text helpers (see ddas/text.h). */
#include "ddas/text.h"

#include <string.h>

size_t ddas_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j, prev[128], cur[128];
  if(la > 126 || lb > 126)
    return 999;
  for(j = 0; j <= lb; j++)
    prev[j] = j;
  for(i = 1; i <= la; i++) {
    cur[0] = i;
    for(j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, (lb + 1) * sizeof(size_t));
  }
  return prev[lb];
}

size_t ddas_utf8_seq(const unsigned char *p, size_t avail) {
  unsigned c = p[0], lo = 0x80, hi = 0xBF;
  size_t n, i;
  if(c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if(c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if(c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if(c == 0xE0)
    lo = 0xA0;
  else if(c == 0xED)
    hi = 0x9F; /* no UTF-16 surrogates */
  else if(c == 0xF0)
    lo = 0x90;
  else if(c == 0xF4)
    hi = 0x8F;
  if(avail < n || p[1] < lo || p[1] > hi)
    return 0;
  for(i = 2; i < n; i++)
    if((p[i] & 0xC0) != 0x80)
      return 0;
  return n;
}

/* The code point of the valid sequence p[0..n). */
static unsigned decode(const unsigned char *p, size_t n) {
  unsigned cp = n == 2 ? p[0] & 0x1Fu : n == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
  size_t i;
  for(i = 1; i < n; i++)
    cp = cp << 6 | (p[i] & 0x3Fu);
  return cp;
}

/* Code points that are valid but change how a terminal shows the line. */
static int invisible(unsigned cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
         cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

int ddas_fput_escaped(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);
  int rc = 0;
  while(left && rc >= 0) {
    size_t n = 1;
    if(*p == '\\')
      rc = fputs("\\\\", out);
    else if(*p == '\n')
      rc = fputs("\\n", out);
    else if(*p == '\t')
      rc = fputs("\\t", out);
    else if(*p == '\r')
      rc = fputs("\\r", out);
    else if(*p < 0x20 || *p == 0x7F)
      rc = fprintf(out, "\\x%02X", *p);
    else if(*p < 0x80)
      rc = fputc(*p, out) == EOF ? -1 : 0;
    else if((n = ddas_utf8_seq(p, left)) == 0) {
      n = 1;
      rc = fprintf(out, "\\x%02X", *p);
    } else if(invisible(decode(p, n)))
      rc = fprintf(out, "\\u%04X", decode(p, n));
    else
      rc = fwrite(p, 1, n, out) == n ? 0 : -1;
    p += n;
    left -= n;
  }
  return rc;
}

void ddas_utf8_sanitize(char *s) {
  unsigned char *p = (unsigned char *)s;
  size_t left = strlen(s);
  while(left) {
    size_t n = *p < 0x80 ? 1 : ddas_utf8_seq(p, left);
    if(!n) {
      *p = '?';
      n = 1;
    }
    p += n;
    left -= n;
  }
}
