#!/usr/bin/python3
"""Differential validation: ddas-worker's schema validator against
python-jsonschema (Debian's python3-jsonschema, draft 2020-12).

Generates mutated DDAS deliveries from the official examples and the schema
test corpus (tests/cases/schema/), validates each one with

    ddas-worker validate --no-rules --normalise none --json \
        --kind K --schema-version V FILE...

(many files per process) and with jsonschema.Draft202012Validator, and
compares per document the verdict (valid / invalid) and the multiset of
(keyword, instance pointer) of the schema findings, with python-jsonschema's
errors mapped to this project's conventions (README.md "--json output"):
required gives one finding per missing member at the object,
additionalProperties one per extra member at that member, anyOf / oneOf /
not / contains one finding at the instance (python's error context is
ignored), every other keyword one finding at the value.

python-jsonschema's format checker does not assert date-time or email
properly (rfc3339-validator is absent; email only needs an "@"), so this
script brings its own strict checkers for the four formats the validator
asserts: date, date-time, time (RFC 3339 section 5.6, real calendar dates,
leap seconds only at 23:59:60 UTC) and email (RFC 5321 section 4.1.2
Mailbox). They are checked against the official JSON Schema Test Suite's
optional/format cases first (--suite).

Differences that are intentional (tests/diff/README.md) are recognised from
the document itself and counted, not failed; known validator deviations
(reported, to be fixed in core/) likewise, listed separately. Everything
else is a mismatch: listed with file, ours and theirs; exit status 1.
The closing line is "N passed, M failed".
"""

import argparse
import collections
import copy
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:  # pragma: no cover
    sys.exit("diff_validate: python3-jsonschema is needed "
             "(apt-get install python3-jsonschema)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAX_DEPTH = 64

# The kinds and versions, as the schema corpus names them.
PREFIXES = [("shv10-", "shv", "1.0"), ("shv010-", "shv", "0.10"),
            ("shv09-", "shv", "0.9"), ("vs09-", "vs", "0.9")]
VERSIONS = {"shv": ["1.0", "0.10", "0.9"], "vs": ["0.9"]}


# ---------------------------------------------------------------------------
# Formats (strict, written from the RFCs, not from core/format.c)

_D2 = "[0-9]{2}"
_DATE_RE = re.compile(r"([0-9]{4})-(%s)-(%s)" % (_D2, _D2))
_TIME_RE = re.compile(r"(%s):(%s):(%s)(\.[0-9]+)?([Zz]|([+-])(%s):(%s))"
                      % (_D2, _D2, _D2, _D2, _D2))


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def is_date(s):
    """RFC 3339 full-date, and a real calendar date."""
    m = _DATE_RE.fullmatch(s)
    if not m:
        return False
    y, mo, d = (int(g) for g in m.groups())
    if not 1 <= mo <= 12:
        return False
    days = [31, 29 if _leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
            31][mo - 1]
    return 1 <= d <= days


def is_time(s):
    """RFC 3339 full-time; second 60 only where the time is 23:59:60 UTC."""
    m = _TIME_RE.fullmatch(s)
    if not m:
        return False
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h > 23 or mi > 59 or sec > 60:
        return False
    off = 0
    if m.group(6):
        oh, om = int(m.group(7)), int(m.group(8))
        if oh > 23 or om > 59:
            return False
        off = (oh * 60 + om) * (1 if m.group(6) == "+" else -1)
    if sec == 60 and (h * 60 + mi - off) % 1440 != 23 * 60 + 59:
        return False
    return True


def is_date_time(s):
    """RFC 3339 date-time: full-date "T" full-time (T and Z in any case)."""
    return (len(s) > 11 and s[10] in "Tt" and is_date(s[:10])
            and is_time(s[11:]))


_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")
_HEX = re.compile(r"[0-9A-Fa-f]{1,4}")


def _dot_string(s):
    return all(_ATEXT.fullmatch(a) for a in s.split("."))


def _quoted_string(s):
    """Length of the Quoted-string at the start of s, or 0."""
    if not s.startswith('"'):
        return 0
    i = 1
    while i < len(s):
        c = ord(s[i])
        if s[i] == '"':
            return i + 1
        if s[i] == "\\":  # quoted-pairSMTP = %d92 %d32-126
            if i + 1 >= len(s) or not 32 <= ord(s[i + 1]) <= 126:
                return 0
            i += 2
            continue
        if not (32 <= c <= 33 or 35 <= c <= 91 or 93 <= c <= 126):
            return 0
        i += 1
    return 0


def _snum_ipv4(s):
    """IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT, 0-255."""
    parts = s.split(".")
    return (len(parts) == 4 and
            all(re.fullmatch("[0-9]{1,3}", p) and int(p) <= 255
                for p in parts))


def _hex_groups(s):
    if s == "":
        return 0
    gs = s.split(":")
    return len(gs) if all(_HEX.fullmatch(g) for g in gs) else -1


def _ipv6_5321(s):
    """RFC 5321 IPv6-addr: IPv6-full / IPv6-comp / IPv6v4-full /
    IPv6v4-comp, with the group limits of its comments."""
    if "." in s:
        i = s.rfind(":")
        if i < 0 or not _snum_ipv4(s[i + 1:]):
            return False
        head = s[:i + 1]  # ends with ':'
        if "::" in head:
            if head.count("::") != 1:
                return False
            left, right = head.split("::")
            if right:
                if not right.endswith(":"):
                    return False
                right = right[:-1]
            nl, nr = _hex_groups(left), _hex_groups(right)
            return nl >= 0 and nr >= 0 and nl + nr <= 4
        return _hex_groups(head[:-1]) == 6
    if "::" in s:
        if s.count("::") != 1:
            return False
        left, right = s.split("::")
        nl, nr = _hex_groups(left), _hex_groups(right)
        return nl >= 0 and nr >= 0 and nl + nr <= 6
    return _hex_groups(s) == 8


def is_email(s):
    """RFC 5321 Mailbox = Local-part "@" ( Domain / address-literal ),
    with the size limits of section 4.5.3.1 (local part 64 octets, mailbox
    254 = path 256 without the angle brackets; labels 63, RFC 1035). A
    General-address-literal needs an IANA-registered Standardized-tag and
    none is registered but IPv6 (the "IPv6:" literal is case-insensitive,
    as every ABNF string)."""
    if not s or len(s.encode("utf-8")) > 254 or not s.isascii():
        return False
    if s.startswith('"'):
        n = _quoted_string(s)
        if not n or n >= len(s) or s[n] != "@":
            return False
        local, dom = s[:n], s[n + 1:]
    else:
        if "@" not in s:
            return False
        local, dom = s.rsplit("@", 1)
        if not _dot_string(local):
            return False
    if len(local) > 64 or not dom:
        return False
    if dom.startswith("[") and dom.endswith("]"):
        lit = dom[1:-1]
        if lit[:5].lower() == "ipv6:":
            return _ipv6_5321(lit[5:])
        return _snum_ipv4(lit)
    if len(dom) > 255:
        return False
    return all(len(lab) <= 63 and _LABEL.fullmatch(lab)
               for lab in dom.split("."))


FORMATS = {"date": is_date, "date-time": is_date_time, "time": is_time,
           "email": is_email}


def format_checker():
    fc = jsonschema.FormatChecker(formats=())
    for name, fn in FORMATS.items():
        fc.checks(name)(lambda v, fn=fn: not isinstance(v, str) or fn(v))
    return fc


def self_test(suite):
    """The four checkers against the JSON Schema Test Suite's optional
    format cases. Returns (cases checked, failures). A missing suite file,
    or one without cases, is a failure: the checkers decide what counts as
    a difference, so they are never trusted unchecked."""
    base = os.path.join(suite, "optional", "format")
    failures = []
    checked = 0
    for name, fn in FORMATS.items():
        path = os.path.join(base, name + ".json")
        if not os.path.exists(path):
            failures.append("%s: %s is missing (--suite)" % (name, path))
            continue
        with open(path, encoding="utf-8") as f:
            groups = json.load(f)
        before = checked
        for g in groups:
            for t in g["tests"]:
                d = t["data"]
                got = not isinstance(d, str) or fn(d)
                checked += 1
                if got != t["valid"]:
                    failures.append("%s: %r (%s): expected %s" %
                                    (name, d, t["description"], t["valid"]))
        if checked == before:
            failures.append("%s: %s has no cases" % (name, path))
    return checked, failures


# Known deviations of the validator from RFC 5321 for address literals
# (reported; see tests/diff/README.md). Each returns True for a value on
# which ours and the RFC disagree for that reason.
def _lit(s):
    if not isinstance(s, str) or "@" not in s:
        return None
    dom = s.rsplit("@", 1)[1]
    return dom[1:-1] if dom.startswith("[") and dom.endswith("]") else None


def _dev_ipv4_leading_zero(s):
    lit = _lit(s)
    if lit is None:
        return False
    if lit[:5].lower() == "ipv6:":
        lit = lit[5:].rsplit(":", 1)[-1]
    parts = lit.split(".")
    return (len(parts) == 4 and
            any(len(p) > 1 and p.startswith("0") for p in parts))


def _dev_ipv6_groups(s):
    lit = _lit(s)
    if lit is None or lit[:5].lower() != "ipv6:":
        return False
    a = lit[5:]
    if "::" not in a:
        return False
    if "." in a:  # IPv6v4-comp: at most 4 groups besides "::" and IPv4
        head = a[:a.rfind(":") + 1]
        return len([g for g in head.split(":") if g]) > 4
    return len([g for g in a.split(":") if g]) > 6


def _dev_ipv6_tag_case(s):
    lit = _lit(s)
    return lit is not None and lit[:5].lower() == "ipv6:" and \
        lit[:5] != "IPv6:"


# Fixed in core/format.c (RFC 5321 address literals): kept as predicates
# for reference, no longer excused.
_FIXED_FORMAT_DEVIATIONS = [
    ("email-ipv4-leading-zero", _dev_ipv4_leading_zero),
    ("email-ipv6-group-count", _dev_ipv6_groups),
    ("email-ipv6-tag-case", _dev_ipv6_tag_case),
]
KNOWN_FORMAT_DEVIATIONS = []


# ---------------------------------------------------------------------------
# python-jsonschema side

def escape_token(t):
    return str(t).replace("~", "~0").replace("/", "~1")


def pointer(path):
    return "".join("/" + escape_token(p) for p in path)


class Notes:
    """What python's parser let through that the strict parser refuses."""

    def __init__(self):
        self.duplicate = False
        self.lone_surrogate = False
        self.number_range = False
        self.depth = 0


def _pairs_hook(notes):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            notes.duplicate = True
        return dict(pairs)
    return hook


def _scan(v, notes, depth=0):
    if isinstance(v, (dict, list)):
        depth += 1
        notes.depth = max(notes.depth, depth)
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for k, x in items:
            if isinstance(k, str) and re.search("[\ud800-\udfff]", k):
                notes.lone_surrogate = True
            _scan(x, notes, depth)
    elif isinstance(v, str):
        if re.search("[\ud800-\udfff]", v):
            notes.lone_surrogate = True
    elif isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            notes.number_range = True
    elif isinstance(v, int) and not isinstance(v, bool):
        try:
            float(v)
        except OverflowError:
            notes.number_range = True


def py_load(raw):
    """(instance, notes) or (None, reason). Bytes are decoded as strict
    UTF-8 first (json.loads(bytes) would also take UTF-16/32 and a BOM);
    NaN and Infinity, which Python accepts by default, are refused."""
    notes = Notes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "utf8"

    def no_constant(name):
        raise ValueError("non-standard constant " + name)
    try:
        inst = json.loads(text, parse_constant=no_constant,
                          object_pairs_hook=_pairs_hook(notes))
    except RecursionError:
        return None, "depth"
    except ValueError as e:
        return None, "syntax: %s" % e
    _scan(inst, notes)
    return inst, notes


def py_findings(validator, inst):
    out = collections.Counter()
    for e in validator.iter_errors(inst):
        path = list(e.absolute_path)
        kw = e.validator
        if kw == "additionalProperties" and e.validator_value is False:
            props = e.schema.get("properties", {})
            for k in e.instance:
                if k not in props:
                    out[(kw, pointer(path + [k]))] += 1
        else:
            out[(kw, pointer(path))] += 1
    return out


def value_at(inst, ptr):
    if ptr == "":
        return inst
    v = inst
    for tok in ptr[1:].split("/"):
        tok = tok.replace("~1", "/").replace("~0", "~")
        if isinstance(v, list):
            v = v[int(tok)]
        else:
            v = v[tok]
    return v


# ---------------------------------------------------------------------------
# Mutations

DATES_BAD = ["2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10",
             "2024-04-31", "2024-06-31", "2024-1-05", "24-01-05",
             "2024/01/05", "20240105", "2024-01-05T00:00:00Z", "2024-01-05 ",
             " 2024-01-05", "", "2100-02-29", "1900-02-29", "2024-01-00",
             "2024-01-32", "2024-01-0\uff15", "\u0662\u0660\u0662\u0664-01-05",
             "2024-01-05\n", "2024-W01-1", "2024-001"]
DATES_GOOD = ["2024-02-29", "2000-02-29", "2023-12-31", "1999-01-01",
              "0001-01-01", "9999-12-31", "0000-02-29", "2024-04-30"]
DT_BAD = ["2024-01-15T25:00:00Z", "2024-01-15T10:60:00Z",
          "2024-01-15T10:00:61Z", "2024-01-15T10:00:00",
          "2024-01-15 10:00:00Z", "2024-01-15T10:00Z",
          "2024-01-15T10:00:00+0100", "2024-01-15T10:00:00+24:00",
          "2024-01-15T10:00:00+01:60", "2024-01-15T10:00:00.Z",
          "2024-02-30T10:00:00Z", "2024-01-15T23:59:60+01:00",
          "2024-01-15T10:00:60Z", "2024-01-15T1:00:00Z",
          "2024-01-15T10:00:00ZZ", "2024-01-15", "2024-01-15T10:00:00z ",
          "2024-01-15T10:00:00\u00b1", "2024-01-15T10:00:00.1234+01"]
DT_GOOD = ["2024-01-15T10:00:00Z", "2024-01-15t10:00:00z",
           "2024-01-15T10:00:00.123456+01:00", "2024-12-31T23:59:60Z",
           "2025-01-01T00:59:60+01:00", "2024-01-15T10:00:00-00:00",
           "2024-06-30T23:59:60Z", "2024-01-15T10:00:00.0Z",
           "2024-12-31T22:59:60-01:00", "2024-02-29T00:00:00+23:59"]
EMAIL_GOOD = ["a@example.nl", "first.last@sub.example.co.uk",
              '"quoted local"@example.nl', '"a\\"b"@example.nl',
              "user+tag@example.nl", "a@[127.0.0.1]", "a@[IPv6:::1]",
              "a@[IPv6:2001:db8::1]", "a@[IPv6:::ffff:192.0.2.1]",
              "a@[IPv6:1:2:3:4:5:6:7:8]", "a@[IPv6:1:2:3:4:5:6:1.2.3.4]",
              "x@localhost", "a@b-c.nl", "!#$%&'*+-/=?^_`{|}~@example.nl",
              "a" * 64 + "@example.nl", "a@" + "b" * 63 + ".nl",
              '""@example.nl', "1@2.3", "a@[IPv6:1::]"]
EMAIL_BAD = ["a", "a@", "@example.nl", "a@@b.nl", "a b@example.nl",
             "a..b@example.nl", ".a@example.nl", "a.@example.nl",
             "a@-example.nl", "a@example-.nl", "a@exa_mple.nl",
             "a@example..nl", "a@.example.nl", "a@example.nl.",
             "a@[256.0.0.1]", "a@[1.2.3]", "a@[IPv6:1:2:3:4:5:6:7]",
             "a@[IPv6:::1::]", "a@[IPv6:12345::1]", "a" * 65 + "@example.nl",
             "a@" + "b" * 64 + ".nl", "\u00e4@example.nl",
             "a@ex\u00e4mple.nl", '"a\nb"@example.nl', "a@[general:tag]",
             "a@[IPv6:1:2:3:4:5:6:7:8:9]", '"unterminated@example.nl',
             "a@example.nl ", "a@[]", "a@[IPv6:1:2:3:4:5:6:7:1.2.3.4]"]
EMAIL_EDGE = ["a@[01.2.3.4]", "a@[1.2.3.004]", "a@[IPv6:1:2:3:4:5:6:7::]",
              "a@[IPv6:::2:3:4:5:6:7:8]", "a@[IPv6:1:2:3:4:5::1.2.3.4]",
              "a@[ipv6:::1]", "a@[IPV6:2001:db8::1]",
              "a@[IPv6:::ffff:192.0.2.01]"]
NUMBERS = ["-0", "1e2", "1E+2", "0.5", "2.0", "2000.0", "-1", "1e308",
           "123456789012345678901234567890", "1e-400", "0.1e1", "-0.0",
           "100000000000000000000000000000000000000000000000000",
           "1.0000000000000001", "123456789012345678901.5", "12e-1",
           "9007199254740993", "-0.0e5", "5e-324"]
NUMBERS_RANGE = ["1e400", "-1e400", "1" + "0" * 400, "-2e308"]
KEYS = ["extra", "", "a/b", "~", "~1", "x y", "\u00fcber", "\U0001f600",
        "Teller", "teller ", "datumBeeindigingsbeschikking", "schulden",
        "gemeentecode", "vroegsignalen", "leefsituatie", "\u2028",
        "toelichting/opmerking"]
KEYS_NUL = ["a\u0000b", "\u0000"]
BAD_UTF8 = [b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
            b"\xe2\x82", b"\xff", b"\xfe", b"\xc3", b"\xf8\x88\x80\x80\x80",
            b"\xe0\x80\xaf", b"\xef\xbf"]
GOOD_UTF8 = ["\u00e9", "\u20ac", "\U0001f600", "\u00ad", "\ufeff"]


class Gen:
    def __init__(self, rnd, enums):
        self.rnd = rnd
        self.enums = sorted(enums)
        self.raws = []
        self.tags = []

    def raw(self, text):
        self.raws.append(text)
        return "@@RAW%d@@" % (len(self.raws) - 1)

    # paths to every value: lists of keys / indexes
    def paths(self, v, path=()):
        yield path
        if isinstance(v, dict):
            for k in list(v):
                yield from self.paths(v[k], path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield from self.paths(x, path + (i,))

    @staticmethod
    def get(doc, path):
        for p in path:
            doc = doc[p]
        return doc

    def set(self, doc, path, value):
        if not path:
            return value
        self.get(doc, path[:-1])[path[-1]] = value
        return doc

    def pick(self, doc, pred=lambda p, v: True):
        cands = [p for p in self.paths(doc) if pred(p, self.get(doc, p))]
        return self.rnd.choice(cands) if cands else None

    def random_value(self, depth=0):
        r = self.rnd.randrange(12)
        if depth > 2:
            r %= 8
        return [lambda: "x", lambda: 7, lambda: 2.5, lambda: True,
                lambda: False, lambda: None, lambda: "2024-02-29",
                lambda: self.rnd.choice(self.enums) if self.enums else "e",
                lambda: {}, lambda: [],
                lambda: {"a": self.random_value(depth + 1)},
                lambda: [self.random_value(depth + 1)]][r]()

    # -- the mutations; each returns the new document (or None: n/a)
    def m_type(self, doc):
        p = self.pick(doc, lambda p, v: len(p) > 0 or
                      self.rnd.random() < 0.02)
        if p is None:
            return None
        old = self.get(doc, p)
        for _ in range(8):
            new = self.random_value()
            if type(new) is not type(old):
                break
        self.tags.append("type@" + pointer(p))
        return self.set(doc, p, new)

    def m_remove(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, dict) and v)
        if p is None:
            return None
        obj = self.get(doc, p)
        k = self.rnd.choice(list(obj))
        del obj[k]
        self.tags.append("remove@" + pointer(p + (k,)))
        return doc

    def m_enum(self, doc):
        enums = set(self.enums)
        p = self.pick(doc, lambda p, v: isinstance(v, str) and v in enums)
        if p is None:
            return None
        v = self.get(doc, p)
        r = self.rnd.randrange(7)
        if r == 0:
            v = v.swapcase()
        elif r == 1 and len(v) > 1:
            i = self.rnd.randrange(len(v))
            v = v[:i] + v[i + 1:]
        elif r == 2:
            v = v + " "
        elif r == 3:
            v = v.replace("e", "\u00eb", 1)
        elif r == 4:
            v = self.rnd.choice(self.enums)  # maybe valid, maybe elsewhere
        elif r == 5:
            v = v.lower()
        else:
            v = v.replace("ee", "e\u00eb", 1) if "ee" in v else v + "x"
        self.tags.append("enum@" + pointer(p))
        return self.set(doc, p, v)

    def m_date(self, doc):
        dt = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T.*)?")
        p = self.pick(doc, lambda p, v: isinstance(v, str) and dt.fullmatch(v))
        if p is None:
            return None
        v = self.get(doc, p)
        pool = (DT_BAD + DT_GOOD + DATES_BAD[:4]) if "T" in v else \
            (DATES_BAD + DATES_GOOD + DT_GOOD[:2])
        self.tags.append("date@" + pointer(p))
        return self.set(doc, p, self.rnd.choice(pool))

    def m_email(self, doc):
        p = self.pick(doc, lambda p, v: p and p[-1] == "email")
        if p is None:
            return None
        pool = self.rnd.choice([EMAIL_GOOD, EMAIL_BAD, EMAIL_BAD,
                                EMAIL_EDGE])
        self.tags.append("email@" + pointer(p))
        return self.set(doc, p, self.rnd.choice(pool))

    def m_null(self, doc):
        p = self.pick(doc, lambda p, v: len(p) > 0)
        if p is None:
            return None
        self.tags.append("null@" + pointer(p))
        return self.set(doc, p, None)

    def m_extra(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, dict))
        if p is None:
            return None
        pool = KEYS_NUL if self.rnd.random() < 0.03 else KEYS
        k = self.rnd.choice(pool)
        self.get(doc, p)[k] = self.random_value()
        self.tags.append("extra@" + pointer(p + (k,)))
        return doc

    def nest(self, k):
        v = self.random_value(3)
        for _ in range(k):
            v = [v] if self.rnd.random() < 0.5 else {"n": v}
        return v

    def m_deep(self, doc, over=False):
        p = self.pick(doc, lambda p, v: len(p) > 0 and len(p) < MAX_DEPTH - 1)
        if p is None:
            return None
        room = MAX_DEPTH - len(p)
        k = room + self.rnd.randrange(1, 4) if over else \
            self.rnd.randrange(max(1, room - 3), room + 1)
        self.tags.append("deep%d@%s" % (len(p) + k, pointer(p)))
        return self.set(doc, p, self.nest(k))

    def m_number(self, doc, over=False):
        p = self.pick(doc, lambda p, v: len(p) > 0 and (
            isinstance(v, (int, float)) and not isinstance(v, bool)
            or self.rnd.random() < 0.05))
        if p is None:
            return None
        text = self.rnd.choice(NUMBERS_RANGE if over else NUMBERS)
        self.tags.append("number(%s)@%s" % (text[:12], pointer(p)))
        return self.set(doc, p, self.raw(text))

    def m_array(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, list))
        if p is None:
            return None
        a = self.get(doc, p)
        r = self.rnd.randrange(3)
        if r == 0:
            a.clear()
            self.tags.append("empty@" + pointer(p))
        elif a:
            a.append(copy.deepcopy(self.rnd.choice(a)))
            if r == 2:
                a.append(copy.deepcopy(a[0]))
            self.tags.append("dup-item@" + pointer(p))
        else:
            return None
        return doc

    def m_string(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, str))
        if p is None:
            return None
        v = self.get(doc, p)
        i = self.rnd.randrange(len(v) + 1)
        v = v[:i] + self.rnd.choice(GOOD_UTF8) + v[i:]
        self.tags.append("utf8ok@" + pointer(p))
        return self.set(doc, p, v)

    def benign(self, doc):
        """A change that keeps a valid value valid (mostly): a valid date,
        date-time or email, a number spelled differently, non-ASCII text."""
        dt = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T.*)?")
        p = self.pick(doc, lambda p, v: isinstance(v, (str, int, float))
                      and not isinstance(v, bool))
        if p is None:
            return None
        v = self.get(doc, p)
        if isinstance(v, str) and dt.fullmatch(v):
            new = self.rnd.choice(DT_GOOD if "T" in v else DATES_GOOD)
        elif isinstance(v, str) and p and p[-1] == "email":
            new = self.rnd.choice(EMAIL_GOOD)
        elif isinstance(v, str):
            i = self.rnd.randrange(len(v) + 1)
            new = v[:i] + self.rnd.choice(GOOD_UTF8) + v[i:]
        else:
            new = self.raw(self.rnd.choice(["%d.0" % v if isinstance(v, int)
                                             else repr(v), "%.17g" % v,
                                             "%de0" % v if isinstance(v, int)
                                             else repr(v)]))
        self.tags.append("benign@" + pointer(p))
        return self.set(doc, p, new)

    def m_duplicate(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, dict) and v)
        if p is None:
            return None
        obj = self.get(doc, p)
        k = self.rnd.choice(list(obj))
        obj[self.raw(json.dumps(k))] = self.random_value()
        self.tags.append("duplicate@" + pointer(p + (k,)))
        return doc

    def m_surrogate(self, doc):
        p = self.pick(doc, lambda p, v: isinstance(v, str))
        if p is None:
            return None
        esc = self.rnd.choice(["\\ud800", "\\udc00", "x\\ud83dy"])
        self.tags.append("surrogate@" + pointer(p))
        return self.set(doc, p, self.raw('"%s"' % esc))


TREE = [("m_type", 12), ("m_remove", 12), ("m_enum", 10), ("m_date", 12),
        ("m_email", 6), ("m_null", 8), ("m_extra", 10), ("m_deep", 4),
        ("m_number", 5), ("m_array", 6), ("m_string", 4)]
INTENTIONAL = [("m_duplicate", {}), ("m_surrogate", {}),
               ("m_deep", {"over": True}), ("m_number", {"over": True})]


def serialise(gen, doc):
    rnd = gen.rnd
    style = rnd.randrange(4)
    kw = {"ensure_ascii": rnd.random() < 0.5}
    if style == 1:
        kw["indent"] = 2
    elif style == 2:
        kw["indent"] = "\t"
    elif style == 3:
        kw["separators"] = (",", ":")
    text = json.dumps(doc, **kw)

    def put(m):
        return gen.raws[int(m.group(1))]
    text = re.sub(r'"@@RAW(\d+)@@"', put, text)
    return text.encode("utf-8")


def raw_mutation(gen, data):
    rnd = gen.rnd
    r = rnd.randrange(8)
    if r <= 2:  # bad UTF-8 inside a string value
        starts = [m.end() for m in re.finditer(rb':\s*"', data)]
        if not starts:
            return data
        i = rnd.choice(starts)
        gen.tags.append("bad-utf8@%d" % i)
        return data[:i] + rnd.choice(BAD_UTF8) + data[i:]
    if r == 3:
        i = rnd.randrange(1, max(2, len(data)))
        gen.tags.append("truncate@%d" % i)
        return data[:i]
    if r == 4:
        gen.tags.append("bom")
        return b"\xef\xbb\xbf" + data
    if r == 5:
        starts = [m.end() for m in re.finditer(rb':\s*"', data)]
        if not starts:
            return data
        i = rnd.choice(starts)
        gen.tags.append("control-char@%d" % i)
        return data[:i] + rnd.choice([b"\x01", b"\x00", b"\x1f", b"\t"]) \
            + data[i:]
    if r == 6:
        gen.tags.append("trailing")
        return data + rnd.choice([b"x", b"{}", b"\x00", b",", b" \n 1"])
    gen.tags.append("nan")
    return re.sub(rb":\s*-?[0-9]+(\.[0-9]+)?", b": NaN", data, count=1)


# ---------------------------------------------------------------------------
# Sources, generation, running

def kind_of_name(name):
    """(kind, version) of an example or schema-corpus file name."""
    m = re.match(r"(shv|vs)-v([0-9.]+)-", name)
    if m:
        return m.group(1), m.group(2)
    for prefix, kind, version in PREFIXES:
        if name.startswith(prefix):
            return kind, version
    return None


EXAMPLE_NAMES = set()


def load_sources(examples, cases):
    out = []
    for name in os.listdir(examples):
        EXAMPLE_NAMES.add(name[:-5])
    for d in (examples, cases):
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue
            kv = kind_of_name(name)
            if kv is None:
                continue
            with open(os.path.join(d, name), "rb") as f:
                out.append((name[:-5], kv, json.loads(f.read())))
    return out


def collect_enums(schemas):
    out = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "enum" and isinstance(v, list):
                    out.update(e for e in v if isinstance(e, str))
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    for s in schemas.values():
        walk(s)
    return out


def generate(args, sources, enums, outdir):
    """Writes args.count documents; returns a list of dicts
    (file, kind, version, tags)."""
    rnd = random.Random(args.seed)
    docs = []
    examples = [s for s in sources if s[0] in EXAMPLE_NAMES]
    for i in range(args.count):
        if i < len(sources):  # the first round: each source unchanged
            src = sources[i]
        elif rnd.random() < 0.5:  # half from the (valid) official examples
            src = rnd.choice(examples)
        else:
            src = rnd.choice(sources)
        name, (kind, version), base = src
        gen = Gen(rnd, enums)
        doc = copy.deepcopy(base)
        if i >= len(sources):
            n = rnd.choices([0, 1, 2, 3], [15, 45, 25, 15])[0]
            for _ in range(n):
                m = rnd.choices([t[0] for t in TREE],
                                [t[1] for t in TREE])[0]
                doc = getattr(gen, m)(doc) or doc
            if n == 0 or rnd.random() < 0.3:
                doc = gen.benign(doc) or doc
            if rnd.random() < 0.04:
                m, kw = rnd.choice(INTENTIONAL)
                doc = getattr(gen, m)(doc, **kw) or doc
            if rnd.random() < 0.10:
                version = rnd.choice(VERSIONS[kind])
                gen.tags.append("as-v" + version)
        data = serialise(gen, doc)
        if i >= len(sources) and rnd.random() < 0.12:
            data = raw_mutation(gen, data)
        path = os.path.join(outdir, "%05d-%s.json" % (i, name))
        with open(path, "wb") as f:
            f.write(data)
        docs.append({"file": path, "kind": kind, "version": version,
                     "tags": gen.tags or ["unchanged"]})
    return docs


def run_ours(worker, docs, per_process):
    groups = collections.defaultdict(list)
    for d in docs:
        groups[(d["kind"], d["version"])].append(d["file"])
    ours = {}
    for (kind, version), files in sorted(groups.items()):
        for i in range(0, len(files), per_process):
            part = files[i:i + per_process]
            p = subprocess.run([worker, "validate", "--no-rules",
                                "--normalise", "none", "--json", "--kind",
                                kind, "--schema-version", version] + part,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               check=False)
            if p.returncode not in (0, 1):
                sys.exit("diff_validate: %s exited %d: %s" %
                         (worker, p.returncode,
                          p.stderr.decode("utf-8", "replace")[:2000]))
            for line in p.stdout.decode("utf-8").split("\n"):
                if not line:
                    continue
                r = json.loads(line)
                ours[r["file"]] = r
    return ours


def compare(doc, mine, validators):
    """Returns (status, detail): status "pass", "explained:<why>",
    "known:<id>" or "fail"."""
    with open(doc["file"], "rb") as f:
        raw = f.read()
    inst, notes = py_load(raw)
    syntax = [f for f in mine["findings"] if f["rule"] == "json.syntax"]
    other = [f for f in mine["findings"]
             if f["rule"] not in ("json.syntax", "schema")]
    ours_c = collections.Counter((f["keyword"], f["pointer"])
                                 for f in mine["findings"]
                                 if f["rule"] == "schema")
    if inst is None:  # python refuses the bytes
        if syntax and not mine["valid"]:
            return "pass", None
        return "fail", ("ours: %s; theirs: not JSON (%s)" %
                        ("valid" if mine["valid"] else "invalid", notes))
    if syntax:
        code = syntax[0]["keyword"]
        why = {"duplicate-key": notes.duplicate,
               "surrogate": notes.lone_surrogate,
               "number-range": notes.number_range,
               "depth": notes.depth > MAX_DEPTH}.get(code)
        if why:
            return "explained:" + code, None
        return "fail", ("ours: json.syntax %s at %s; theirs: parsed" %
                        (code, syntax[0]["pointer"]))
    v = validators[(doc["kind"], doc["version"])]
    theirs_c = py_findings(v, inst)
    theirs_valid = not theirs_c
    if mine["findings_not_shown"]:
        return "fail", "ours: findings not shown (over --max-findings)"
    if mine["valid"] == theirs_valid and ours_c == theirs_c and not other:
        return "pass", None
    # known validator deviations: normalise both sides for them, compare
    known = set()
    if any("\x00" in p for (_, p) in theirs_c):
        t = collections.Counter()
        for (k, p), n in theirs_c.items():
            t[(k, p.split("\x00")[0])] += n
        if t != theirs_c:
            known.add("pointer-nul")
        theirs_n = t
    else:
        theirs_n = collections.Counter(theirs_c)
    ours_n = collections.Counter(ours_c)
    for c in (ours_n, theirs_n):
        for (k, p) in list(c):
            if k != "format":
                continue
            try:
                val = value_at(inst, p)
            except (KeyError, IndexError, ValueError, TypeError):
                continue
            for name, pred in KNOWN_FORMAT_DEVIATIONS:
                if pred(val) and ((ours_c - theirs_c)[(k, p)] or
                                  (theirs_n - ours_c)[(k, p)]):
                    known.add(name)
                    del c[(k, p)]
                    break
    if known and ours_n == theirs_n and not other:
        return "known:" + ",".join(sorted(known)), None
    fmt = lambda c: sorted("%s %s%s" % (k, json.dumps(p, ensure_ascii=True),
                                        " x%d" % n if n > 1 else "")
                           for (k, p), n in c.items())
    return "fail", ("ours: %s %s%s; theirs: %s %s" %
                    ("valid" if mine["valid"] else "invalid",
                     fmt(ours_c - theirs_c),
                     " other rules: %s" % [f["rule"] for f in other]
                     if other else "",
                     "valid" if theirs_valid else "invalid",
                     fmt(theirs_c - ours_c)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", required=True, help="the ddas-worker binary")
    ap.add_argument("--count", type=int, default=10000,
                    help="documents to generate (default 10000)")
    ap.add_argument("--seed", type=int, default=1,
                    help="random seed (default 1: the same documents)")
    ap.add_argument("--suite", default=os.path.join(
        ROOT, "tests", "data", "jsonschema-test-suite", "tests",
        "draft2020-12"), help="the JSON Schema Test Suite's draft 2020-12 "
        "directory (default: the copy in tests/data)")
    ap.add_argument("--examples", default=os.path.join(ROOT, "config",
                                                       "examples"),
                    help="the official example deliveries")
    ap.add_argument("--schemas", default=os.path.join(ROOT, "config",
                                                      "schemas"))
    ap.add_argument("--cases", default=os.path.join(ROOT, "tests", "cases",
                                                    "schema"))
    ap.add_argument("--keep", metavar="DIR",
                    help="write the documents into DIR and keep them")
    ap.add_argument("--per-process", type=int, default=500,
                    help="files per ddas-worker process (default 500)")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be at least 1")

    checked, fails = self_test(args.suite)
    if fails:
        print("format checkers not confirmed by the JSON Schema Test Suite:")
        for f in fails:
            print("  " + f)
        print("0 passed, %d failed" % len(fails))
        return 1

    schemas = {}
    validators = {}
    fc = format_checker()
    for kind, versions in VERSIONS.items():
        for version in versions:
            path = os.path.join(args.schemas, "%s-v%s.json" % (kind, version))
            with open(path, encoding="utf-8") as f:
                schemas[(kind, version)] = json.load(f)
            jsonschema.Draft202012Validator.check_schema(
                schemas[(kind, version)])
            validators[(kind, version)] = jsonschema.Draft202012Validator(
                schemas[(kind, version)], format_checker=fc)
    sources = load_sources(args.examples, args.cases)
    enums = collect_enums(schemas)

    outdir = args.keep or tempfile.mkdtemp(prefix="ddas-diff-")
    os.makedirs(outdir, exist_ok=True)
    docs = generate(args, sources, enums, outdir)
    ours = run_ours(args.worker, docs, args.per_process)

    status = collections.Counter()
    verdicts = collections.Counter()
    keywords = collections.Counter()
    failed = []
    for d in docs:
        mine = ours.get(d["file"])
        if mine is None:
            failed.append((d, "ours: no result for the file"))
            continue
        verdicts["valid" if mine["valid"] else "invalid"] += 1
        for f in mine["findings"]:
            keywords[f["keyword"] if f["rule"] == "schema" else
                     "%s/%s" % (f["rule"], f["keyword"])] += 1
        st, detail = compare(d, mine, validators)
        status[st.split(":")[0]] += 1
        if st.startswith(("explained:", "known:")):
            status[st] += 1
        if st == "fail":
            failed.append((d, detail))

    for d, detail in failed:
        print("MISMATCH %s (%s %s; %s): %s" %
              (d["file"], d["kind"], d["version"], " ".join(d["tags"]),
               detail))
    print("documents: %d from %d sources (seed %d), ddas-worker %s" %
          (len(docs), len(sources), args.seed, args.worker))
    print("  format checkers: %d JSON Schema Test Suite cases agree" %
          checked)
    print("  ours: %d valid, %d invalid; findings by keyword: %s" %
          (verdicts["valid"], verdicts["invalid"],
           ", ".join("%s %d" % kv for kv in sorted(keywords.items()))))
    for k in sorted(status):
        if ":" in k:
            kind, why = k.split(":", 1)
            print("  %s: %s: %d" % ("intentional difference" if
                                    kind == "explained" else
                                    "known validator deviation", why,
                                    status[k]))
    passed = len(docs) - len(failed)
    print("%d passed, %d failed" % (passed, len(failed)))
    if failed and not args.keep:
        print("(documents kept in %s)" % outdir)
    elif not args.keep:
        shutil.rmtree(outdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
