"""Strict, independent format checks (RFC 3339 / RFC 5321) for the cross-check."""
import re, calendar
def is_date(s):
    m = re.fullmatch(r'(\d{4})-(\d{2})-(\d{2})', s, re.ASCII)
    if not m: return False
    y, mo, d = map(int, m.groups())
    if not 1 <= mo <= 12: return False
    return 1 <= d <= calendar.monthrange(y, mo)[1] if y >= 1 else False
def is_time(s):
    m = re.fullmatch(r'(\d{2}):(\d{2}):(\d{2})(\.\d+)?([zZ]|[+-](\d{2}):(\d{2}))', s, re.ASCII)
    if not m: return False
    h, mi, se = int(m[1]), int(m[2]), int(m[3])
    if h > 23 or mi > 59 or se > 60: return False
    if m[6] is not None and (int(m[6]) > 23 or int(m[7]) > 59): return False
    if se == 60:  # leap second: only 23:59:60 UTC
        off = 0 if m[6] is None else (int(m[6]) * 60 + int(m[7])) * (1 if m[5][0] == '+' else -1)
        utc = (h * 60 + mi - off) % 1440
        if utc != 23 * 60 + 59: return False
    return True
def is_date_time(s):
    m = re.fullmatch(r'(.{10})[tT](.*)', s, re.S)
    return bool(m) and is_date(m[1]) and is_time(m[2])
ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
DOTSTR = ATEXT + r'+(?:\.' + ATEXT + r'+)*'
QSTR = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
SUB = r'[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
DOMAIN = SUB + r'(?:\.' + SUB + r')*'
V4 = r'(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}'
def is_email(s):
    return re.fullmatch('(?:' + DOTSTR + '|' + QSTR + ')@(?:' + DOMAIN + r'|\[' + V4 + r'\])', s, re.ASCII) is not None
if __name__ == '__main__':
    for v in ['2024-02-29', '2023-02-29', '2024-02-30', '2024-13-01', '2024-1-05', '2024-01-01T00:00:00Z', '']:
        print('date', repr(v), is_date(v))
    for v in ['2024-12-31T23:59:59Z', '2024-12-31t23:59:59z', '2024-12-31T23:59:59', '2024-12-31 23:59:59Z', '2024-12-31T23:59:59.123+01:00', '2025-02-05T10:30:00+0100', '2023-01-01T25:00:00Z']:
        print('dt', repr(v), is_date_time(v))
    for v in ['jan@x.nl', 'jan.x.nl', 'jan@bakker@x.nl', 'jan@', 'jan jansen@x.nl', 'j..d@x.nl', '"j d"@x.nl', 'a@[127.0.0.1]', 'a@-x.nl']:
        print('email', repr(v), is_email(v))
