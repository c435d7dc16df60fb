/* ddas/text.h: small text helpers shared by the core and the worker. */
#ifndef DDAS_TEXT_H
#define DDAS_TEXT_H

#include <stddef.h>

/* Levenshtein distance between two short strings (for "did you mean"
 * hints); strings longer than 126 bytes count as very far apart (999). */
size_t ddas_edit_distance(const char *a, const char *b);

#endif
