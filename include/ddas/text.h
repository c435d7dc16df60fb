/* ddas/text.h: small text helpers shared by the core and the worker. */
#ifndef DDAS_TEXT_H
#define DDAS_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Levenshtein distance between two short strings (for "did you mean"
 * hints); strings longer than 126 bytes count as very far apart (999). */
size_t ddas_edit_distance(const char *a, const char *b);

/* Length of the valid UTF-8 sequence at p (at most `avail` bytes; a lead
 * byte >= 0x80), or 0 when it is not one: overlongs, surrogates and code
 * points above U+10FFFF are not valid. */
size_t ddas_utf8_seq(const unsigned char *p, size_t avail);

/* Replaces every byte of s that is not part of a valid UTF-8 sequence with
 * '?', in place. */
void ddas_utf8_sanitize(char *s);

/* Writes s for a terminal, so that a name from outside (a file name) can
 * neither move the cursor, recolour nor reorder the line: printable UTF-8
 * as is, a backslash doubled, \n \t \r for those, every other control
 * character (C0, DEL) and every byte that is not valid UTF-8 as \xNN, and
 * C1 controls, the line and paragraph separators and the bidirectional
 * controls (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F) as \uNNNN.
 * Returns what fputs/fprintf return last (negative on a write error). */
int ddas_fput_escaped(FILE *out, const char *s);

#endif
