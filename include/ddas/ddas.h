/* ddas/ddas.h: the whole public API of libddas-core, for convenience. Core
 * modules include only the headers they use. */
#ifndef DDAS_DDAS_H
#define DDAS_DDAS_H

#include "ddas/alloc.h"
#include "ddas/batch.h"
#include "ddas/chunk.h"
#include "ddas/detect.h"
#include "ddas/events.h"
#include "ddas/findings.h"
#include "ddas/format.h"
#include "ddas/json.h"
#include "ddas/normalize.h"
#include "ddas/offsets.h"
#include "ddas/report.h"
#include "ddas/result.h"
#include "ddas/rules.h"
#include "ddas/schema.h"
#include "ddas/sign.h"
#include "ddas/validate.h"

#endif
