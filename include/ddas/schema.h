/* ddas/schema.h: JSON Schema (draft 2020-12) compiled once, applied often.
 *
 * A schema is compiled from a parsed JSON tree into a graph of nodes with
 * direct pointers for $ref and hashed `properties`, so validation does no
 * look-ups by name. Supported keywords: type, enum, const, properties,
 * required, additionalProperties, patternProperties is NOT supported,
 * items, prefixItems, contains, minContains, maxContains, minItems, maxItems,
 * uniqueItems, minLength, maxLength (code points), minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minProperties,
 * maxProperties, dependentRequired, dependentSchemas, propertyNames,
 * $ref (local JSON Pointers only), $defs, allOf, anyOf, oneOf, not,
 * if/then/else, boolean schemas, and format (date, date-time, time, email).
 * Annotations accepted and ignored: title, description, $comment, examples,
 * default, deprecated, readOnly, writeOnly, $id (at the root only), and
 * $schema when it names the draft 2020-12 meta-schema (another one could
 * switch vocabularies, so it is refused).
 *
 * Compiling a schema that uses any other keyword fails with
 * DDAS_ERR_UNSUPPORTED and a message naming the keyword and its location:
 * nothing is silently ignored. */
#ifndef DDAS_SCHEMA_H
#define DDAS_SCHEMA_H

#include <stddef.h>

#include "ddas/findings.h"
#include "ddas/json.h"
#include "ddas/result.h"

typedef struct ddas_schema ddas_schema;

typedef struct {
  /* 1 (default): `format` is an assertion and an unknown format name is a
   * compile error. 0: `format` is an annotation only (the 2020-12 default
   * vocabulary; used by the official test suite's format.json). */
  int format_annotation_only;
} ddas_schema_options;

/* Compiles the schema rooted at `root`. `root` is borrowed: its document must
 * outlive the schema. On failure *out is NULL and errbuf holds a message
 * with the schema location ("#/properties/x: keyword 'pattern' is not
 * supported"). */
ddas_result ddas_schema_compile(const ddas_json *root,
                                const ddas_schema_options *opt,
                                ddas_schema **out, char *errbuf, size_t errlen);

/* Reads, parses and compiles a schema file. The schema owns its text. */
ddas_result ddas_schema_load_file(const char *path,
                                  const ddas_schema_options *opt,
                                  ddas_schema **out, char *errbuf,
                                  size_t errlen);

void ddas_schema_free(ddas_schema *s);

/* Validates `instance`. Returns 1 when valid, 0 when not, or -1 when a
 * finding could not be recorded (out of memory). With `findings` NULL it
 * stops at the first violation. Each violated keyword adds one finding with
 * rule "schema"; `base_pointer` (NULL = "") is prefixed to instance
 * pointers. */
int ddas_schema_validate(const ddas_schema *s, const ddas_json *instance,
                         ddas_findings *findings);

/* The same against the subschema at `location` ("#/properties/x/items"),
 * which must be one the compiler walked (not through a $ref only). Returns
 * -2 when there is no such subschema. Finding pointers are relative to
 * `instance`. */
int ddas_schema_validate_at(const ddas_schema *s, const char *location,
                            const ddas_json *instance, ddas_findings *findings);

/* The document's $id, or "" when it has none. */
const char *ddas_schema_id(const ddas_schema *s);

#endif
