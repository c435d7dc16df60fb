/* Kind and version detection (see ddas/detect.h). */
#include "ddas/detect.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const shv_versions[] = {"1.0", "0.10", "0.9", NULL};
static const char *const vs_versions[] = {"0.9", NULL};
static const char *const no_versions[] = {NULL};

const char *ddas_kind_name(ddas_kind k) {
  return k == DDAS_KIND_SHV ? "shv" : k == DDAS_KIND_VS ? "vs" : "unknown";
}

ddas_kind ddas_kind_parse(const char *s) {
  if(!s)
    return DDAS_KIND_UNKNOWN;
  if(strcasecmp(s, "shv") == 0)
    return DDAS_KIND_SHV;
  if(strcasecmp(s, "vs") == 0)
    return DDAS_KIND_VS;
  return DDAS_KIND_UNKNOWN;
}

const char *const *ddas_versions(ddas_kind kind) {
  return kind == DDAS_KIND_SHV  ? shv_versions
         : kind == DDAS_KIND_VS ? vs_versions
                                : no_versions;
}

const char *ddas_version_canonical(ddas_kind kind, const char *v) {
  const char *const *list = ddas_versions(kind);
  char buf[16];
  size_t i;
  if(!v)
    return NULL;
  if(v[0] == 'v' || v[0] == 'V')
    v++;
  if(strlen(v) >= sizeof(buf) - 2)
    return NULL;
  snprintf(buf, sizeof(buf), "%s%s", v, strchr(v, '.') ? "" : ".0");
  for(i = 0; list[i]; i++)
    if(strcmp(list[i], buf) == 0)
      return list[i];
  return NULL;
}

static int str_is(const ddas_json *v, const char *s) {
  return v && v->type == DDAS_JSON_STRING && v->n == strlen(s) &&
         memcmp(v->u.str, s, v->n) == 0;
}

static ddas_kind kind_of_levering(const ddas_json *lev, const char **how) {
  const ddas_json *org = ddas_json_get(lev, "aanleverende_organisatie");
  if(ddas_json_get(lev, "vroegsignalen")) {
    *how = "content: leveringen[].vroegsignalen";
    return DDAS_KIND_VS;
  }
  if(ddas_json_get(lev, "vroegsignaalzaken")) {
    *how = "content: leveringen[].vroegsignaalzaken";
    return DDAS_KIND_VS;
  }
  if(ddas_json_get(lev, "schuldhulptrajecten")) {
    *how = "content: leveringen[].schuldhulptrajecten";
    return DDAS_KIND_SHV;
  }
  if(ddas_json_get(org, "contactpersoonen") ||
     ddas_json_get(org, "kvk-nummer")) {
    *how = "content: VS spelling of aanleverende_organisatie";
    return DDAS_KIND_VS;
  }
  if(ddas_json_get(org, "contactpersonen") ||
     ddas_json_get(org, "KvK-nummer") ||
     ddas_json_get(org, "(Statutaire) Naam")) {
    *how = "content: SHV spelling of aanleverende_organisatie";
    return DDAS_KIND_SHV;
  }
  return DDAS_KIND_UNKNOWN;
}

/* Version clues of SHV: v0.9 only members, v1.0 only members, v0.10 only
 * enum value. Without any clue the newest version applies: v1.0 accepts every
 * v0.10 document that lacks the removed enum value. */
static const char *shv_version(const ddas_json *root, const char **how) {
  const ddas_json *levs = ddas_json_get(root, "leveringen");
  const char *found = NULL;
  size_t i, j, k;
  if(!levs || levs->type != DDAS_JSON_ARRAY)
    goto fallback;
  for(i = 0; i < levs->n && !found; i++) {
    const ddas_json *trs =
        ddas_json_get(&levs->u.items[i], "schuldhulptrajecten");
    if(!trs || trs->type != DDAS_JSON_ARRAY)
      continue;
    for(j = 0; j < trs->n && !found; j++) {
      const ddas_json *t = &trs->u.items[j];
      const ddas_json *intake = ddas_json_get(t, "intake");
      const ddas_json *uit = ddas_json_get(t, "uitstroom");
      const ddas_json *clients = ddas_json_get(t, "client");
      if(ddas_json_get(intake, "toelatingsbeschikking")) {
        found = "0.9";
        *how = "content: intake.toelatingsbeschikking (v0.9 only)";
      } else if(ddas_json_get(uit, "datumBeeindigingsbeschikking")) {
        found = "1.0";
        *how = "content: uitstroom.datumBeeindigingsbeschikking (v1.0 only)";
      } else if(str_is(ddas_json_get(intake, "beschikkingssoort"),
                       "Beeindigingsbeschikking")) {
        found = "0.10";
        *how =
            "content: beschikkingssoort Beeindigingsbeschikking (v0.10 only)";
      } else if(clients && clients->type == DDAS_JSON_ARRAY) {
        for(k = 0; k < clients->n; k++)
          if(ddas_json_get(&clients->u.items[k], "leefsituatie")) {
            found = "0.9";
            *how = "content: client[].leefsituatie (v0.9 only)";
            break;
          }
      }
    }
  }
  if(found)
    return found;
fallback:
  *how = "content: no version-specific members, so the newest version";
  return shv_versions[0];
}

int ddas_detect(const ddas_json *root, ddas_kind kind, const char *version,
                ddas_detection *out, char *why, size_t whylen) {
  const char *how = "option";
  memset(out, 0, sizeof(*out));
  if(why && whylen)
    why[0] = '\0';
  if(kind == DDAS_KIND_UNKNOWN) {
    const ddas_json *levs = ddas_json_get(root, "leveringen");
    size_t i;
    if(!root || root->type != DDAS_JSON_OBJECT) {
      snprintf(why, whylen,
               "the document is not a JSON object, so it is not a DDAS "
               "delivery");
      return -1;
    }
    if(levs && levs->type == DDAS_JSON_ARRAY)
      for(i = 0; i < levs->n && kind == DDAS_KIND_UNKNOWN; i++)
        kind = kind_of_levering(&levs->u.items[i], &how);
    if(kind == DDAS_KIND_UNKNOWN) {
      /* a best guess to check the document against all the same: the
       * newest SHV (the kind most deliveries are), or the version asked */
      out->kind = DDAS_KIND_SHV;
      out->version = ddas_version_canonical(DDAS_KIND_SHV, version);
      if(!out->version)
        out->version = shv_versions[0];
      out->how = "guess: the kind cannot be told from the content, so "
                 "checked as SHV";
      snprintf(why, whylen,
               "cannot tell whether this is an SHV or a VS delivery: no "
               "levering has schuldhulptrajecten, vroegsignalen or "
               "vroegsignaalzaken; pass the kind explicitly (--kind shv|vs)");
      return -1;
    }
  }
  out->kind = kind;
  if(version) {
    out->version = ddas_version_canonical(kind, version);
    if(!out->version) {
      snprintf(why, whylen, "schema version '%.20s' is not known for %s",
               version, ddas_kind_name(kind));
      return -1;
    }
    out->how = "option";
    return 0;
  }
  if(kind == DDAS_KIND_VS) {
    out->version = vs_versions[0];
  } else {
    const char *vhow = how;
    out->version = shv_version(root, &vhow);
    if(strcmp(how, "option") != 0)
      how = vhow;
  }
  out->how = how;
  return 0;
}
