/* String formats asserted by the validator (see ddas/format.h). */
#include "ddas/format.h"

#include <string.h>
#include <strings.h>

static int digits(const char *s, size_t n) {
  size_t i;
  for(i = 0; i < n; i++)
    if(s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int num(const char *s, size_t n) {
  int v = 0;
  size_t i;
  for(i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

static int is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* full-date = date-fullyear "-" date-month "-" date-mday */
static int parse_date(const char *s, size_t n, int *y, int *m, int *d) {
  if(n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) ||
     !digits(s + 5, 2) || !digits(s + 8, 2))
    return -1;
  *y = num(s, 4);
  *m = num(s + 5, 2);
  *d = num(s + 8, 2);
  if(*m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
    return -1;
  return 0;
}

int ddas_format_date(const char *s, size_t n) {
  int y, m, d;
  return parse_date(s, n, &y, &m, &d) == 0;
}

int ddas_date_parse(const char *s, size_t n, long *day) {
  int y, m, d;
  long yy, era, yoe, doy, doe;
  if(parse_date(s, n, &y, &m, &d))
    return -1;
  /* days from civil (Howard Hinnant), shifted so March is month 0 */
  yy = y - (m <= 2);
  era = yy / 400;
  yoe = yy - era * 400;
  doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  *day = era * 146097 + doe;
  return 0;
}

/* full-time = partial-time time-offset, with the leap-second rule: second 60
 * is allowed only where the time in UTC is 23:59:60. */
int ddas_format_time(const char *s, size_t n) {
  int hh, mm, ss, oh = 0, om = 0, sign = 0;
  size_t i = 8;
  if(n < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2) ||
     !digits(s + 3, 2) || !digits(s + 6, 2))
    return 0;
  hh = num(s, 2);
  mm = num(s + 3, 2);
  ss = num(s + 6, 2);
  if(hh > 23 || mm > 59 || ss > 60)
    return 0;
  if(s[i] == '.') {
    size_t f = ++i;
    while(i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if(i == f)
      return 0;
  }
  if(i >= n)
    return 0;
  if(s[i] == 'Z' || s[i] == 'z') {
    if(i + 1 != n)
      return 0;
  } else if(s[i] == '+' || s[i] == '-') {
    sign = s[i] == '+' ? 1 : -1;
    if(n - i != 6 || s[i + 3] != ':' || !digits(s + i + 1, 2) ||
       !digits(s + i + 4, 2))
      return 0;
    oh = num(s + i + 1, 2);
    om = num(s + i + 4, 2);
    if(oh > 23 || om > 59)
      return 0;
  } else {
    return 0;
  }
  if(ss == 60) {
    /* UTC = local - offset */
    int minutes = hh * 60 + mm - sign * (oh * 60 + om);
    minutes = ((minutes % 1440) + 1440) % 1440;
    if(minutes != 23 * 60 + 59)
      return 0;
  }
  return 1;
}

int ddas_format_date_time(const char *s, size_t n) {
  if(n < 11 || (s[10] != 'T' && s[10] != 't'))
    return 0;
  return ddas_format_date(s, 10) && ddas_format_time(s + 11, n - 11);
}

/* ---- email (RFC 5321 Mailbox) ---------------------------------------- */

static int is_atext(unsigned char c) {
  if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_let_dig(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

/* Dot-string = Atom *("." Atom) */
static int dot_string(const char *s, size_t n) {
  size_t i, atom = 0;
  if(n == 0)
    return 0;
  for(i = 0; i < n; i++) {
    if(s[i] == '.') {
      if(atom == 0)
        return 0;
      atom = 0;
    } else if(is_atext((unsigned char)s[i])) {
      atom++;
    } else {
      return 0;
    }
  }
  return atom > 0;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; returns its length or 0 */
static size_t quoted_string(const char *s, size_t n) {
  size_t i = 1;
  if(n < 2 || s[0] != '"')
    return 0;
  while(i < n) {
    unsigned char c = (unsigned char)s[i];
    if(c == '"')
      return i + 1;
    if(c == '\\') {
      if(i + 1 >= n || (unsigned char)s[i + 1] < 32 ||
         (unsigned char)s[i + 1] > 126)
        return 0;
      i += 2;
      continue;
    }
    if(c < 32 || c > 126)
      return 0;
    i++;
  }
  return 0;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] */
static int domain(const char *s, size_t n) {
  size_t i = 0, label = 0;
  if(n == 0 || n > 253)
    return 0;
  for(i = 0; i <= n; i++) {
    if(i == n || s[i] == '.') {
      if(label == 0 || label > 63 || s[i - 1] == '-')
        return 0;
      label = 0;
    } else if(is_let_dig((unsigned char)s[i]) || (s[i] == '-' && label > 0)) {
      label++;
    } else {
      return 0;
    }
  }
  return 1;
}

/* Dotted quad. RFC 5321's Snum is 1*3DIGIT with a value of 0-255, so a
 * leading zero is allowed there. */
static int ipv4(const char *s, size_t n) {
  size_t i = 0;
  int parts = 0;
  while(i < n) {
    size_t st = i;
    int v = 0;
    while(i < n && s[i] >= '0' && s[i] <= '9' && i - st < 3)
      v = v * 10 + (s[i++] - '0');
    if(i == st || v > 255)
      return 0;
    parts++;
    if(i < n) {
      if(s[i] != '.' || parts == 4)
        return 0;
      i++;
      if(i == n)
        return 0;
    }
  }
  return parts == 4;
}

/* IPv6 address literal of RFC 5321 4.1.3: IPv6-full (8 groups), IPv6-comp
 * ("::" and at most 6 groups besides it), and the v4 forms, where the IPv4
 * part counts as two groups. */
static int ipv6(const char *s, size_t n) {
  size_t i = 0;
  int groups = 0, dbl = 0;
  if(n < 2)
    return 0;
  if(s[0] == ':') {
    if(s[1] != ':')
      return 0;
    dbl = 1;
    i = 2;
    if(i == n)
      return 1;
  }
  while(i < n) {
    size_t st = i;
    while(i < n && i - st < 5 &&
          ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
           (s[i] >= 'A' && s[i] <= 'F')))
      i++;
    if(i < n && s[i] == '.') {
      /* embedded IPv4 takes two groups and ends the address */
      if(!ipv4(s + st, n - st))
        return 0;
      groups += 2;
      i = n;
      break;
    }
    if(i == st || i - st > 4)
      return 0;
    groups++;
    if(i == n)
      break;
    if(s[i] != ':')
      return 0;
    i++;
    if(i < n && s[i] == ':') {
      if(dbl)
        return 0;
      dbl = 1;
      i++;
      if(i == n)
        break;
    } else if(i == n) {
      return 0;
    }
  }
  return dbl ? groups <= 6 : groups == 8;
}

int ddas_format_email(const char *s, size_t n) {
  size_t at, local_len;
  const char *dom;
  size_t dlen;
  if(n == 0 || n > 254)
    return 0;
  if(s[0] == '"') {
    local_len = quoted_string(s, n);
    if(!local_len || local_len >= n || s[local_len] != '@')
      return 0;
  } else {
    /* the last '@' separates: an unquoted local part cannot contain one */
    for(at = n; at > 0 && s[at - 1] != '@'; at--)
      ;
    if(at == 0)
      return 0;
    local_len = at - 1;
    if(!dot_string(s, local_len))
      return 0;
  }
  if(local_len > 64)
    return 0;
  dom = s + local_len + 1;
  dlen = n - local_len - 1;
  if(dlen >= 2 && dom[0] == '[' && dom[dlen - 1] == ']') {
    const char *lit = dom + 1;
    size_t llen = dlen - 2;
    /* ABNF string literals are case-insensitive (RFC 5234 2.3) */
    if(llen > 5 && strncasecmp(lit, "IPv6:", 5) == 0)
      return ipv6(lit + 5, llen - 5);
    return ipv4(lit, llen);
  }
  return domain(dom, dlen);
}
