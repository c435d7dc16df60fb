/* ddas/detect.h: which DDAS document this is (kind and schema version).
 *
 * Kind: SHV (schuldhulpverlening) or VS (vroegsignalering). Version: the
 * schema version of that kind. Both come from explicit options when given
 * (for example Kafka headers or command-line flags), else from the content:
 * the official schemas share $id values between kinds, so detection looks at
 * the members that only one kind or version has. */
#ifndef DDAS_DETECT_H
#define DDAS_DETECT_H

#include <stddef.h>

#include "ddas/json.h"
#include "ddas/result.h"

typedef enum { DDAS_KIND_UNKNOWN = 0, DDAS_KIND_SHV, DDAS_KIND_VS } ddas_kind;

typedef struct {
  ddas_kind kind;
  const char *version; /* static: "1.0", "0.10", "0.9"; NULL when unknown */
  const char *how;     /* static: "option" or the content clue used */
} ddas_detection;

/* "shv" / "vs" / "unknown". */
const char *ddas_kind_name(ddas_kind k);
/* Parses "shv"/"vs" (case-insensitive); DDAS_KIND_UNKNOWN otherwise. */
ddas_kind ddas_kind_parse(const char *s);
/* The canonical spelling of a known version of `kind` ("1.0" for "v1.0",
 * "1", "1.0"); NULL when the version is unknown for that kind. */
const char *ddas_version_canonical(ddas_kind kind, const char *v);
/* The versions known for a kind, NULL-terminated, newest first. */
const char *const *ddas_versions(ddas_kind kind);

/* Detects kind and version. `kind`/`version` (may be DDAS_KIND_UNKNOWN /
 * NULL) are explicit choices that override detection. Returns 0 and fills
 * *out, or -1 with a message in why[] when the document cannot be
 * classified (the message names what was missing). When the root is an
 * object whose leveringen tell no kind (empty, not a list, or without the
 * members of either kind), *out then holds a best guess to check it
 * against: SHV, the version asked or the newest, with `how` starting with
 * "guess"; otherwise *out is zeroed (kind DDAS_KIND_UNKNOWN). */
int ddas_detect(const ddas_json *root, ddas_kind kind, const char *version,
                ddas_detection *out, char *why, size_t whylen);

#endif
