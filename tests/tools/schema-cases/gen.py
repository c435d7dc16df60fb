#!/usr/bin/python3
"""Generates tests/cases/schema/*.json + *.expected and cross-checks them with
python-jsonschema (Draft202012Validator) plus strict format checkers.

Run with Debian's python3 (package python3-jsonschema):
    /usr/bin/python3 tests/tools/schema-cases/gen.py [OUTDIR]
Seeded: a rerun rebuilds exactly the committed corpus."""
import copy, hashlib, json, os, random, sys
sys.path.insert(0, os.path.dirname(__file__))
import fmt
import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
EX = os.path.join(REPO, 'config', 'examples')
SCH = os.path.join(REPO, 'config', 'schemas')
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, 'tests', 'cases', 'schema')

def load(p):
    with open(p, encoding='utf-8') as f:
        return json.load(f)

SCHEMAS = {'shv10': load(f'{SCH}/shv-v1.0.json'), 'shv010': load(f'{SCH}/shv-v0.10.json'),
           'shv09': load(f'{SCH}/shv-v0.9.json'), 'vs09': load(f'{SCH}/vs-v0.9.json')}

# ---------------------------------------------------------------- personal data
rng = random.Random(20250117)
used = set()
def uniq(gen):
    for _ in range(1000):
        v = gen()
        if v not in used:
            used.add(v); return v
    raise RuntimeError('no unique value')
def bsn():
    def g():
        while True:
            d = [rng.randint(1, 6)] + [rng.randint(0, 9) for _ in range(7)]
            s = sum(x * w for x, w in zip(d, range(9, 1, -1))) % 11
            if s < 10:
                return ''.join(map(str, d + [s]))
    return uniq(g)
def geboortedatum():
    return uniq(lambda: '%04d-%02d-%02d' % (rng.randint(1948, 2003), rng.randint(1, 12), rng.randint(1, 28)))
def postcode():
    def g():
        while True:
            l = rng.choice('BCEGHJKLMNPRTVWXZ') + rng.choice('ABCEGHJKLMNPRTVWXZ')
            return '%d%s' % (rng.randint(1011, 9999), l)
    return uniq(g)
def huisnummer():
    return uniq(lambda: str(rng.randint(101, 989)))
TOEV = ['bis', '1hg', '2hg', '3hg', '4hg']
VOORNAMEN = ['Femke', 'Joris', 'Anouk', 'Sander', 'Marloes', 'Bram', 'Ilse', 'Wouter', 'Noortje', 'Thijs',
             'Lieke', 'Ruben', 'Esmee', 'Koen', 'Floor', 'Jasper', 'Mirjam', 'Gerrit', 'Sanne', 'Daan']
ACHTERNAMEN = ['Brouwer', 'Hoekstra', 'Verbeek', 'Kuipers', 'Mulder', 'Postma', 'Dekker', 'Veenstra',
               'Smits', 'Koster', 'Wolters', 'Scholten', 'Bosman', 'Timmermans', 'Vermeulen', 'Hendriks',
               'Kramer', 'Huisman', 'Prins', 'Dijkema', 'Zwart', 'Boersma', 'Jonker', 'Lammers']
VOORVOEGSELS = ['van der', 'van den', "van 't", 'in den']
STRATEN = ['Lindenlaan', 'Kastanjehof', 'Molenstraat', 'Wilgensingel', 'Beukendreef', 'Zonnebloemweg',
           'Havenkade', 'Kerkpad', 'Populierenrijk', 'Esdoornplein']
PLAATSEN = ['Zuiderveen', 'Westerhoven', 'Noordwolde aan Zee', 'Oosterbeekhuizen', 'Middelmeer', 'Dijkerveld']
def naam():
    return uniq(lambda: rng.choice(VOORNAMEN) + ' ' + rng.choice(ACHTERNAMEN))
def telefoon():
    return uniq(lambda: '06%08d' % rng.randint(10000000, 99999999))
def achternaam():
    return uniq(lambda: rng.choice(ACHTERNAMEN) + '-' + rng.choice(ACHTERNAMEN))
def voorletters():
    return uniq(lambda: ''.join(c + '.' for c in rng.sample('ABDEFGHJKLMNPRSTW', rng.randint(2, 3))))

def contact(c, domain):
    n = naam()
    c['naam'] = n
    if 'telefoonnummer' in c: c['telefoonnummer'] = telefoon()
    if 'email' in c: c['email'] = uniq(lambda: n.lower().replace(' ', '.') + str(rng.randint(1, 99)) + '@' + domain)

def personalise_shv(doc):
    for lev in doc['leveringen']:
        org = lev['aanleverende_organisatie']
        dom = org['(Statutaire) Naam'].lower().replace(' ', '') + '.nl'
        for c in org.get('contactpersonen', []):
            contact(c, dom)
        for t in lev.get('schuldhulptrajecten', []):
            for c in t['client']:
                c['Burgerservicenummer'] = bsn(); c['Geboortedatum'] = geboortedatum()
                c['Postcode'] = postcode(); c['Huisnummer'] = huisnummer()
                if 'Huisnummertoevoeging' in c: c['Huisnummertoevoeging'] = rng.choice(TOEV)
    return doc

def personalise_vs(doc):
    for lev in doc['leveringen']:
        for c in lev['aanleverende_organisatie'].get('contactpersoonen', []):
            contact(c, 'gemeentevoorbeeld.nl')
        for s in lev['vroegsignalen']:
            c = s['client']
            c['Burgerservicenummer'] = bsn(); c['Voorletters'] = voorletters()
            c['Voorvoegsel'] = rng.choice(VOORVOEGSELS); c['Achternaam'] = achternaam()
            c['Geboortedatum'] = geboortedatum(); c['Straatnaam'] = rng.choice(STRATEN)
            c['Postcode'] = postcode(); c['Huisnummer'] = huisnummer()
            c['Huisnummertoevoeging'] = rng.choice(TOEV); c['Plaatsnaam'] = rng.choice(PLAATSEN)
    return doc

def base(which):
    if which == 'enkel': return personalise_shv(load(f'{EX}/shv-v1.0-enkelvoudig.json'))
    if which == 'meer': return personalise_shv(load(f'{EX}/shv-v1.0-meervoudig.json'))
    if which == 'samen': return personalise_shv(load(f'{EX}/shv-v1.0-samenloop-deel1.json'))
    if which == 'full':   # the v0.10 example moved to 2024, plus the v1.0-only member
        d = load(f'{EX}/shv-v0.10-enkelvoudig.json')
        s = json.dumps(d).replace('"2024-', '"2025-').replace('"2023-', '"2024-')
        d = json.loads(s)
        d['codeGegevensleverancier'] = 'Acme Schuldhulp 4.2.1'
        d['leveringen'][0]['schuldhulptrajecten'][0]['uitstroom']['datumBeeindigingsbeschikking'] = '2024-12-31'
        return personalise_shv(d)
    if which == 'v010': return personalise_shv(load(f'{EX}/shv-v0.10-enkelvoudig.json'))
    if which == 'v09': return personalise_shv(load(f'{EX}/shv-v0.9-enkelvoudig.json'))
    if which == 'vs': return personalise_vs(load(f'{EX}/vs-v0.9-enkelvoudig.json'))
    raise KeyError(which)

# ---------------------------------------------------------------- helpers
def esc(k): return str(k).replace('~', '~0').replace('/', '~1')
def P(*path): return ''.join('/' + esc(k) for k in path)
def walk(doc, path):
    for k in path: doc = doc[k]
    return doc
def S(path, value):
    def f(doc): walk(doc, path[:-1])[path[-1]] = value
    return f
def D(path):
    def f(doc): del walk(doc, path[:-1])[path[-1]]
    return f
def M(path, fn):
    """fn(current value) -> new value"""
    def f(doc): walk(doc, path[:-1])[path[-1]] = fn(walk(doc, path))
    return f
def RENAME(path, new):
    """rename the member path[-1] of the object at path[:-1], keeping member order"""
    def f(doc):
        o = walk(doc, path[:-1]); items = [(new if k == path[-1] else k, v) for k, v in o.items()]
        o.clear(); o.update(items)
    return f
def ADD(path, key, value):   # append a member at the end of the object at path
    def f(doc): walk(doc, path)[key] = value
    return f

L0 = ('leveringen', 0)
ORG = L0 + ('aanleverende_organisatie',)
T0 = L0 + ('schuldhulptrajecten', 0)
C0 = T0 + ('client', 0)
VS0 = L0 + ('vroegsignalen', 0)
VC0 = VS0 + ('client',)
Z0 = L0 + ('vroegsignaalzaken', 0)
def T(i): return L0 + ('schuldhulptrajecten', i)

CASES = []
def case(name, b, ops, expect, why):
    CASES.append((name, b, ops if isinstance(ops, list) else [ops], expect, why))

# ================================================================ SHV v1.0
# --- type
case('shv10-type-teller-string', 'enkel', S(L0 + ('teller',), '1'),
     [('type', P(*L0, 'teller'))], 'teller is a string')
case('shv10-type-teller-fraction', 'enkel',
     [lambda d: d['leveringen'].append(copy.deepcopy(d['leveringen'][0])),
      S(L0 + ('teller',), 1.5), S(('leveringen', 1, 'teller'), 2.0)],
     [('type', P(*L0, 'teller'))], 'teller 1.5 is not an integer; the second levering teller 2.0 IS an integer (2020-12: zero fractional part)')
case('shv10-type-totaalschuldbedrag-fraction', 'enkel', S(T0 + ('totaalSchuldbedragBijAanvangSchuld',), 12.5),
     [('type', P(*T0, 'totaalSchuldbedragBijAanvangSchuld'))], 'amount 12.5 via $ref bedrag')
case('shv10-type-schuld-bedrag-string', 'full',
     [S(T0 + ('schulden', 1, 'bedrag'), '5000'), S(T0 + ('oplossing', 'vtlb'), 2000.0)],
     [('type', P(*T0, 'schulden', 1, 'bedrag'))], 'debt amount as string; vtlb 2000.0 is an integer and gives nothing')
case('shv10-type-vtlb-negative-fraction', 'full', S(T0 + ('oplossing', 'vtlb'), -1250.75),
     [('type', P(*T0, 'oplossing', 'vtlb'))], 'vtlb -1250.75: type only (no minimum in the schema; sign is a business rule)')
case('shv10-type-crisisinterventie-string', 'enkel', S(T0 + ('aanmelding', 'crisisinterventie'), 'ja'),
     [('type', P(*T0, 'aanmelding', 'crisisinterventie'))], 'boolean given as "ja"')
case('shv10-type-dwangakkoord-string', 'enkel', S(T0 + ('schuldregeling', 'dwangakkoord'), 'true'),
     [('type', P(*T0, 'schuldregeling', 'dwangakkoord'))], 'boolean given as "true"')
case('shv10-type-zakelijkeschuld-number', 'full', S(T0 + ('schulden', 0, 'zakelijkeSchuld'), 0),
     [('type', P(*T0, 'schulden', 0, 'zakelijkeSchuld'))], 'boolean given as 0')
case('shv10-type-privepersoon-string', 'full', S(T0 + ('schulden', 1, 'schuldeiser', 'privepersoon'), 'nee'),
     [('type', P(*T0, 'schulden', 1, 'schuldeiser', 'privepersoon'))], 'boolean given as "nee"')
case('shv10-type-client-object', 'enkel', M(T0 + ('client',), lambda c: c[0]),
     [('type', P(*T0, 'client'))], 'client is one object instead of an array: only type (minItems/maxItems ignore non-arrays)')
case('shv10-type-leveringen-object', 'enkel', M(('leveringen',), lambda l: l[0]),
     [('type', P('leveringen'))], 'leveringen is one object instead of an array: only type')
case('shv10-type-schulden-object', 'full', M(T0 + ('schulden',), lambda s: s[0]),
     [('type', P(*T0, 'schulden'))], 'schulden is one object instead of an array')
case('shv10-type-organisatie-array', 'enkel', M(ORG, lambda o: [o]),
     [('type', P(*ORG))], 'aanleverende_organisatie wrapped in an array; it stays present so no required finding')
case('shv10-type-intake-string', 'full', S(T0 + ('intake',), 'Toelatingsbeschikking'),
     [('type', P(*T0, 'intake'))], 'intake object given as a string')
case('shv10-type-schuldeiser-string', 'full', S(T0 + ('schulden', 0, 'schuldeiser'), 'Zorgverzekeraar A'),
     [('type', P(*T0, 'schulden', 0, 'schuldeiser'))], 'schuldeiser object given as a string')
case('shv10-type-contactpersoon-string', 'enkel', M(ORG + ('contactpersonen', 0), lambda c: c['naam']),
     [('type', P(*ORG, 'contactpersonen', 0))], 'PERSONAL: a contact person given as just the name string')
case('shv10-type-gemeentecode-number', 'enkel', S(T0 + ('gemeentecode',), 363),
     [('type', P(*T0, 'gemeentecode'))], 'traject gemeentecode as a number (present, so no required finding)')
case('shv10-type-bsn-number', 'enkel', M(C0 + ('Burgerservicenummer',), int),
     [('type', P(*C0, 'Burgerservicenummer'))], 'PERSONAL: BSN as a JSON number')
case('shv10-type-postcode-number', 'samen', M(T(2) + ('client', 0, 'Postcode'), lambda p: int(p[:4])),
     [('type', P(*T(2), 'client', 0, 'Postcode'))], 'PERSONAL: postcode digits as a number, third traject')
case('shv10-type-huisnummer-number', 'meer', M(T(4) + ('client', 0, 'Huisnummer'), int),
     [('type', P(*T(4), 'client', 0, 'Huisnummer'))], 'PERSONAL: house number as a number, fifth traject')
case('shv10-type-geboortedatum-number', 'enkel', M(C0 + ('Geboortedatum',), lambda g: int(g.replace('-', ''))),
     [('type', P(*C0, 'Geboortedatum'))], 'PERSONAL: birth date as number; in SHV v1.0 Geboortedatum is a plain string (no format)')
case('shv10-type-telefoonnummer-number', 'enkel', M(ORG + ('contactpersonen', 0, 'telefoonnummer'), lambda t: int(t)),
     [('type', P(*ORG, 'contactpersonen', 0, 'telefoonnummer'))], 'PERSONAL: phone as a number (leading zero lost)')
case('shv10-type-date-as-number', 'enkel', S(T0 + ('startdatum',), 20240110),
     [('type', P(*T0, 'startdatum'))], 'date as number 20240110: only type; format ignores non-strings')
case('shv10-type-email-boolean', 'enkel', S(ORG + ('contactpersonen', 0, 'email'), False),
     [('type', P(*ORG, 'contactpersonen', 0, 'email'))], 'email false: only type; format ignores non-strings')
case('shv10-type-and-enum-beschikkingssoort', 'full', S(T0 + ('intake', 'beschikkingssoort'), 1),
     [('type', P(*T0, 'intake', 'beschikkingssoort')), ('enum', P(*T0, 'intake', 'beschikkingssoort'))],
     'number where {"type":"string","enum":[...]}: both type and enum')
case('shv10-type-and-enum-oplossingssoort', 'full', S(T0 + ('oplossing', 'soort'), True),
     [('type', P(*T0, 'oplossing', 'soort')), ('enum', P(*T0, 'oplossing', 'soort'))],
     'boolean where {"type":"string","enum":[...]}: both type and enum')
# --- required
for m in ['startdatumLevering', 'einddatumLevering', 'aanleverdatumEnTijd']:
    case(f'shv10-required-{m}', 'enkel', D((m,)), [('required', '')], f'envelope member {m} missing; pointer is the document')
case('shv10-required-envelope-dates', 'enkel', [D(('startdatumLevering',)), D(('einddatumLevering',)), D(('aanleverdatumEnTijd',))],
     [('required', ''), ('required', ''), ('required', '')], 'three envelope members missing: three findings at the root')
case('shv10-required-teller', 'enkel', D(L0 + ('teller',)), [('required', P(*L0))], 'levering without teller')
case('shv10-required-aanleverende_organisatie', 'enkel', D(ORG), [('required', P(*L0))], 'levering without aanleverende_organisatie')
case('shv10-required-levering-both', 'meer', [D(L0 + ('teller',)), D(ORG)],
     [('required', P(*L0)), ('required', P(*L0))], 'levering without teller and organisation: one finding per missing member')
case('shv10-required-gemeentecode', 'meer', D(T(7) + ('gemeentecode',)),
     [('required', P(*T(7)))], 'eighth traject without gemeentecode')
case('shv10-misspelled-teller', 'enkel', RENAME(L0 + ('teller',), 'Teller'),
     [('required', P(*L0)), ('additionalProperties', P(*L0, 'Teller'))], 'Teller instead of teller: required + additionalProperties')
# --- additionalProperties
case('shv10-additional-root', 'enkel', ADD((), 'versie', '1.0'),
     [('additionalProperties', '/versie')], 'extra top-level member')
case('shv10-additional-root-escaped', 'enkel', [ADD((), 'toelichting/opmerking', 'x'), ADD((), 'ref~1', 'y')],
     [('additionalProperties', '/toelichting~1opmerking'), ('additionalProperties', '/ref~01')],
     'two extra top-level members whose names need RFC 6901 escaping ("/" -> ~1, "~" -> ~0)')
case('shv10-additional-root-empty-name', 'enkel', ADD((), '', 'leeg'),
     [('additionalProperties', '/')], 'extra top-level member with the empty name: pointer "/" (not "")')
case('shv10-additional-levering', 'enkel', [ADD(L0, 'gemeentecode', 'GM0363'), ADD(ORG, 'website', 'https://example.org')],
     [('additionalProperties', P(*L0, 'gemeentecode'))],
     'VS-style gemeentecode on an SHV levering; the extra "website" in aanleverende_organisatie is allowed (no additionalProperties there)')
case('shv10-additional-traject', 'full', ADD(T0, 'status', 'lopend'),
     [('additionalProperties', P(*T0, 'status'))], 'extra member in a traject')
case('shv10-additional-traject-utf8', 'meer', ADD(T(9), 'beëindigd', True),
     [('additionalProperties', P(*T(9), 'beëindigd'))], 'extra non-ASCII member in the tenth traject (pointer is UTF-8)')
case('shv10-additional-traject-datumBeeindigingsbeschikking', 'full',
     lambda d: walk(d, T0).__setitem__('datumBeeindigingsbeschikking', walk(d, T0 + ('uitstroom',)).pop('datumBeeindigingsbeschikking')),
     [('additionalProperties', P(*T0, 'datumBeeindigingsbeschikking'))], 'member put one level too high (traject instead of uitstroom)')
# --- enum (geslacht is not referenced by any schema: see shv10-geslacht-not-in-schema)
case('shv10-enum-beschikkingssoort', 'full', S(T0 + ('intake', 'beschikkingssoort'), 'Beeindigingsbeschikking'),
     [('enum', P(*T0, 'intake', 'beschikkingssoort'))], 'value allowed in v0.10 but not in v1.0')
case('shv10-enum-begeleidingssoort-case', 'enkel', S(T0 + ('begeleiding', 0, 'soort'), 'budgetbeheer'),
     [('enum', P(*T0, 'begeleiding', 0, 'soort'))], 'wrong case')
case('shv10-enum-uitstroomreden', 'full', S(T0 + ('uitstroom', 'reden'), 'Niet verschenen'),
     [('enum', P(*T0, 'uitstroom', 'reden'))], 'the enum spells Nietverschenen')
case('shv10-enum-schuldsoort', 'full', S(T0 + ('schulden', 1, 'schuldsoort'), 'Belasting'),
     [('enum', P(*T0, 'schulden', 1, 'schuldsoort'))], 'unknown debt kind')
case('shv10-enum-oplossingssoort', 'full', S(T0 + ('oplossing', 'soort'), '0% aanbod'),
     [('enum', P(*T0, 'oplossing', 'soort'))], 'the enum spells 0%-aanbod')
case('shv10-enum-empty-string', 'full', S(T0 + ('uitstroom', 'reden'), ''),
     [('enum', P(*T0, 'uitstroom', 'reden'))], 'empty string is not in the enum')
case('shv10-geslacht-not-in-schema', 'enkel', [S(C0 + ('Geslachtsaanduiding',), 'man'), S(C0 + ('Huisnummertoevoeging',), 2)],
     [('type', P(*C0, 'Huisnummertoevoeging'))],
     'Geslachtsaanduiding "man" gives NO schema finding ($defs/geslacht is never referenced; rule client.geslacht covers it); the PERSONAL defect is Huisnummertoevoeging as a number')
# --- minItems / maxItems
case('shv10-minItems-contactpersonen', 'enkel', S(ORG + ('contactpersonen',), []),
     [('minItems', P(*ORG, 'contactpersonen'))], 'no contact persons')
case('shv10-minItems-client', 'meer', S(T(3) + ('client',), []),
     [('minItems', P(*T(3), 'client'))], 'traject without clients')
def three_clients(d):
    cl = walk(d, T0 + ('client',))
    for g in ['Vrouw', 'Onbekend']:
        c = copy.deepcopy(cl[0]); c['Burgerservicenummer'] = bsn(); c['Geboortedatum'] = geboortedatum()
        c['Geslachtsaanduiding'] = g; cl.append(c)
case('shv10-maxItems-client', 'enkel', three_clients, [('maxItems', P(*T0, 'client'))], 'three clients in one traject (max 2)')
def two_clients(d):
    cl = walk(d, T0 + ('client',)); c = copy.deepcopy(cl[0])
    c['Burgerservicenummer'] = bsn(); c['Geboortedatum'] = geboortedatum(); c['Geslachtsaanduiding'] = 'Vrouw'
    c['Postcode'] = int(postcode()[:4]); cl.append(c)
case('shv10-two-clients-one-bad', 'enkel', two_clients, [('type', P(*T0, 'client', 1, 'Postcode'))],
     'two clients are allowed (maxItems 2); PERSONAL: the second one has its Postcode digits as a number')
# --- format
case('shv10-format-date-feb30', 'enkel', S(T0 + ('startdatum',), '2024-02-30'),
     [('format', P(*T0, 'startdatum'))], 'not a calendar date')
case('shv10-format-date-non-leap', 'full', [S(T0 + ('schuldregeling', 'datum'), '2023-02-29'), S(T0 + ('toekenningsdatum',), '2024-02-29')],
     [('format', P(*T0, 'schuldregeling', 'datum'))], '2023-02-29 is not a date; 2024-02-29 (toekenningsdatum) is')
case('shv10-format-date-month13', 'enkel', [S(('startdatumLevering',), '2024-13-01'), S(('aanleverdatumEnTijd',), '2024-12-31t23:59:59z')],
     [('format', '/startdatumLevering')], 'month 13; the lower-case t/z date-time is valid (RFC 3339 allows it)')
case('shv10-format-date-unpadded', 'enkel', [S(T0 + ('begeleiding', 0, 'startdatum'), '2024-1-05'), S(('aanleverdatumEnTijd',), '2024-12-31T23:59:59.250+01:00')],
     [('format', P(*T0, 'begeleiding', 0, 'startdatum'))], 'month not zero-padded; fractional seconds with +01:00 offset are valid')
case('shv10-format-date-with-time', 'enkel', S(('einddatumLevering',), '2024-01-01T00:00:00Z'),
     [('format', '/einddatumLevering')], 'a date-time where a date is required')
case('shv10-format-date-empty', 'full', S(T0 + ('nazorg', 'einddatum'), ''),
     [('format', P(*T0, 'nazorg', 'einddatum'))], 'empty string is not a date')
case('shv10-format-date-april31', 'full', S(T0 + ('moratoria', 0, 'datumGoedkeuring'), '2024-04-31'),
     [('format', P(*T0, 'moratoria', 0, 'datumGoedkeuring'))], 'April has 30 days')
case('shv10-format-date-dutch-order', 'full', S(T0 + ('voorlopigeVoorzieningen', 0, 'startdatum'), '01-06-2024'),
     [('format', P(*T0, 'voorlopigeVoorzieningen', 0, 'startdatum'))], 'DD-MM-YYYY')
case('shv10-format-datetime-no-offset', 'enkel', S(('aanleverdatumEnTijd',), '2024-12-31T23:59:59'),
     [('format', '/aanleverdatumEnTijd')], 'RFC 3339 requires an offset')
case('shv10-format-datetime-space', 'enkel', S(('aanleverdatumEnTijd',), '2024-12-31 23:59:59Z'),
     [('format', '/aanleverdatumEnTijd')], 'space instead of T')
case('shv10-format-datetime-date-only', 'samen', S(('aanleverdatumEnTijd',), '2024-12-31'),
     [('format', '/aanleverdatumEnTijd')], 'a date where a date-time is required')
case('shv10-format-email-no-at', 'enkel', M(ORG + ('contactpersonen', 0, 'email'), lambda e: e.replace('@', '.')),
     [('format', P(*ORG, 'contactpersonen', 0, 'email'))], 'PERSONAL: email without @')
case('shv10-format-email-two-at', 'meer', M(ORG + ('contactpersonen', 0, 'email'), lambda e: e.replace('@', '@kantoor@')),
     [('format', P(*ORG, 'contactpersonen', 0, 'email'))], 'PERSONAL: email with two @')
case('shv10-format-email-no-domain', 'samen', M(ORG + ('contactpersonen', 0, 'email'), lambda e: e.split('@')[0] + '@'),
     [('format', P(*ORG, 'contactpersonen', 0, 'email'))], 'PERSONAL: email "name@" without domain')
case('shv10-format-email-space', 'full', M(ORG + ('contactpersonen', 0, 'email'), lambda e: e.replace('.', ' ', 1)),
     [('format', P(*ORG, 'contactpersonen', 0, 'email'))], 'PERSONAL: space inside the local part')
def second_contact(d):
    cs = walk(d, ORG + ('contactpersonen',)); c = copy.deepcopy(cs[0])
    contact(c, 'schuldhulporganisatiex.nl'); c['email'] = c['email'].replace('@', '..@'); cs.append(c)
case('shv10-format-email-second-contact', 'enkel', second_contact,
     [('format', P(*ORG, 'contactpersonen', 1, 'email'))], 'PERSONAL: second contact, local part ends with a dot ("x..@")')
# --- several findings in one document
case('shv10-multi-two-trajecten', 'meer', [S(T(1) + ('totaalSchuldbedragBijAanvangSchuld',), '15000'), S(T(9) + ('startdatum',), '2024-09-31')],
     [('type', P(*T(1), 'totaalSchuldbedragBijAanvangSchuld')), ('format', P(*T(9), 'startdatum'))], 'defects in trajecten 1 and 9')
case('shv10-multi-two-leveringen', 'enkel',
     [lambda d: d['leveringen'].append(personalise_shv({'leveringen': [copy.deepcopy(d['leveringen'][0])]})['leveringen'][0]),
      S(('leveringen', 1, 'teller'), 2), M(('leveringen', 1, 'schuldhulptrajecten', 0, 'client', 0, 'Huisnummer'), int),
      D(('leveringen', 1, 'schuldhulptrajecten', 0, 'gemeentecode'))],
     [('type', P('leveringen', 1, 'schuldhulptrajecten', 0, 'client', 0, 'Huisnummer')),
      ('required', P('leveringen', 1, 'schuldhulptrajecten', 0))],
     'second levering (teller 2): PERSONAL Huisnummer as a number and a traject without gemeentecode')
case('shv10-v09-document', 'v09', [],
     [('required', '')],
     'the v0.9 example validated as v1.0 (explicit version): only codeGegevensleverancier is missing; leefsituatie in client and intake.toelatingsbeschikking are allowed because client/intake have no additionalProperties')

# ================================================================ SHV v0.10 (always run with explicit version)
case('shv010-required-codeGegevensleverancier', 'v010', D(('codeGegevensleverancier',)),
     [('required', '')], 'v0.10 envelope without codeGegevensleverancier')
case('shv010-required-leveringen', 'v010', D(('leveringen',)),
     [('required', '')], 'no leveringen at all')
case('shv010-minItems-leveringen', 'v010', S(('leveringen',), []),
     [('minItems', '/leveringen')], 'empty leveringen')
case('shv010-enum-beschikkingssoort-diaeresis', 'v010', S(T0 + ('intake', 'beschikkingssoort'), 'Beëindigingsbeschikking'),
     [('enum', P(*T0, 'intake', 'beschikkingssoort'))], 'the v0.10 enum has Beeindigingsbeschikking without the diaeresis')
case('shv010-additional-datumBeeindigingsbeschikking', 'v010', ADD(T0, 'datumBeeindigingsbeschikking', '2023-12-31'),
     [('additionalProperties', P(*T0, 'datumBeeindigingsbeschikking'))], 'extra traject member (in uitstroom it would be silently allowed)')
case('shv010-type-vtlb-string', 'v010', S(T0 + ('oplossing', 'vtlb'), '2000'),
     [('type', P(*T0, 'oplossing', 'vtlb'))], 'amount as a string')
case('shv010-maxItems-client', 'v010', three_clients, [('maxItems', P(*T0, 'client'))], 'three clients')

# ================================================================ SHV v0.9
LS = C0 + ('leefsituatie', 0)
case('shv09-enum-leefsituatie-schuldsoort', 'v09', S(LS + ('schulden', 0, 'soort'), 'Belastingen'),
     [('enum', P(*LS, 'schulden', 0, 'soort'))], 'v0.9 debt kind under client[].leefsituatie[]')
case('shv09-type-leefsituatie-bedrag', 'v09', S(LS + ('schulden', 0, 'bedrag'), '1000'),
     [('type', P(*LS, 'schulden', 0, 'bedrag'))], 'v0.9 debt amount as a string')
case('shv09-format-leefsituatie-datum', 'v09', S(LS + ('datumGeldigTot',), '2023-11-31'),
     [('format', P(*LS, 'datumGeldigTot'))], 'November has 30 days')
case('shv09-format-toelatingsbeschikking', 'v09', S(T0 + ('intake', 'toelatingsbeschikking'), '2023-01-15T00:00:00'),
     [('format', P(*T0, 'intake', 'toelatingsbeschikking'))], 'v0.9 intake date given as a date-time')
case('shv09-format-datetime-hour25', 'v09', S(('aanleverdatumEnTijd',), '2023-01-01T25:00:00Z'),
     [('format', '/aanleverdatumEnTijd')], 'hour 25')
case('shv09-required-teller', 'v09', D(L0 + ('teller',)), [('required', P(*L0))], 'v0.9 levering requires only teller')
case('shv09-required-gemeentecode', 'v09', D(T0 + ('gemeentecode',)), [('required', P(*T0))], 'traject without gemeentecode')
case('shv09-additional-traject-schulden', 'v09', ADD(T0, 'schulden', []),
     [('additionalProperties', P(*T0, 'schulden'))], 'v0.10-style traject schulden is not allowed in v0.9')
case('shv09-additional-levering', 'v09', [ADD(L0, 'opmerking', 'x'), ADD((), 'extraVeld', 'top-level extras are allowed in v0.9')],
     [('additionalProperties', P(*L0, 'opmerking'))], 'extra levering member; the extra top-level member gives nothing (v0.9 root has no additionalProperties)')
case('shv09-enum-oplossingssoort-case', 'v09', S(T0 + ('oplossing', 'soort'), 'schuldbemiddeling'),
     [('enum', P(*T0, 'oplossing', 'soort'))], 'wrong case')
case('shv09-type-bsn-number', 'v09', [M(C0 + ('Burgerservicenummer',), int), three_clients],
     [('type', P(*C0, 'Burgerservicenummer'))], 'PERSONAL: BSN as number; three clients are fine in v0.9 (no maxItems)')

# ================================================================ VS v0.9
case('vs09-type-crisissignaal-string', 'vs', S(VS0 + ('crisissignaal',), 'nee'), [('type', P(*VS0, 'crisissignaal'))], 'boolean as string')
case('vs09-type-warmeOverdracht-number', 'vs', S(VS0 + ('warmeOverdracht',), 1), [('type', P(*VS0, 'warmeOverdracht'))], 'boolean as 1')
case('vs09-type-bedrag-fraction', 'vs', S(VS0 + ('bedrag',), 450.75), [('type', P(*VS0, 'bedrag'))], 'amount with cents')
case('vs09-type-client-array', 'vs', M(VC0, lambda c: [c]), [('type', P(*VC0))], 'client wrapped in an array (present, so not required)')
case('vs09-type-signaalpartner-string', 'vs', S(VS0 + ('signaalpartner',), 'Energie'), [('type', P(*VS0, 'signaalpartner'))], 'signaalpartner as a string')
case('vs09-type-ID-number', 'vs', [S(VS0 + ('ID',), 20250001), S(Z0 + ('vroegsignalen', 0, 'ID'), 20250001)],
     [('type', P(*VS0, 'ID')), ('type', P(*Z0, 'vroegsignalen', 0, 'ID'))], 'numeric IDs in the signal and in the zaak reference')
case('vs09-type-bereikt-string', 'vs', S(Z0 + ('contactpogingen', 1, 'bereikt'), 'ja'), [('type', P(*Z0, 'contactpogingen', 1, 'bereikt'))], 'boolean as "ja"')
case('vs09-type-and-enum-status', 'vs', S(VS0 + ('status',), 1), [('type', P(*VS0, 'status')), ('enum', P(*VS0, 'status'))], 'number: type and enum')
case('vs09-type-bsn-number', 'vs', M(VC0 + ('Burgerservicenummer',), int), [('type', P(*VC0, 'Burgerservicenummer'))], 'PERSONAL: BSN as number')
case('vs09-type-geboortedatum-number', 'vs', M(VC0 + ('Geboortedatum',), lambda g: int(g.replace('-', ''))),
     [('type', P(*VC0, 'Geboortedatum'))], 'PERSONAL: date as number: type only, no format')
case('vs09-type-huisnummer-number', 'vs', M(VC0 + ('Huisnummer',), int), [('type', P(*VC0, 'Huisnummer'))], 'PERSONAL: house number as number')
case('vs09-type-achternaam-array', 'vs', M(VC0 + ('Achternaam',), lambda a: a.split('-')),
     [('type', P(*VC0, 'Achternaam'))], 'PERSONAL: surname as an array of strings')
case('vs09-required-ID', 'vs', D(VS0 + ('ID',)), [('required', P(*VS0))], 'signal without ID')
case('vs09-required-client', 'vs', D(VC0), [('required', P(*VS0))], 'signal without client')
case('vs09-required-signaalpartner', 'vs', D(VS0 + ('signaalpartner',)), [('required', P(*VS0))], 'signal without signaalpartner')
case('vs09-required-signal-all', 'vs', [D(VS0 + ('ID',)), D(VC0), D(VS0 + ('signaalpartner',))],
     [('required', P(*VS0))] * 3, 'signal without ID, client and signaalpartner: three findings at the signal')
case('vs09-required-zaak-ID', 'vs', S(Z0 + ('vroegsignalen', 0), {}), [('required', P(*Z0, 'vroegsignalen', 0))], 'empty signal reference')
case('vs09-misspelled-id', 'vs', RENAME(VS0 + ('ID',), 'id'),
     [('required', P(*VS0)), ('additionalProperties', P(*VS0, 'id'))], 'id instead of ID')
case('vs09-required-gemeentecode', 'vs', D(L0 + ('gemeentecode',)), [('required', P(*L0))], 'VS levering without gemeentecode')
case('vs09-required-teller', 'vs', D(L0 + ('teller',)), [('required', P(*L0))], 'VS levering without teller')
case('vs09-required-aanleverende_organisatie', 'vs', D(ORG), [('required', P(*L0))], 'VS levering without organisation')
case('vs09-required-codeGegevensleverancier', 'vs', D(('codeGegevensleverancier',)), [('required', '')], 'VS envelope without codeGegevensleverancier')
case('vs09-required-envelope-two', 'vs', [D(('startdatumLevering',)), D(('aanleverdatumEnTijd',))],
     [('required', ''), ('required', '')], 'two envelope members missing')
case('vs09-additional-root', 'vs', ADD((), 'kenmerk', 'VS-2025-01'), [('additionalProperties', '/kenmerk')], 'extra top-level member')
case('vs09-additional-levering', 'vs', ADD(L0, 'periode', '2025-01'), [('additionalProperties', P(*L0, 'periode'))], 'extra levering member')
case('vs09-additional-signal-personal', 'vs', lambda d: walk(d, VS0).__setitem__('Achternaam', walk(d, VC0).pop('Achternaam')),
     [('additionalProperties', P(*VS0, 'Achternaam'))], 'PERSONAL: surname one level too high (on the signal, not in client)')
case('vs09-additional-zaak-ref', 'vs', ADD(Z0 + ('vroegsignalen', 0), 'signaaldatum', '2025-01-05'),
     [('additionalProperties', P(*Z0, 'vroegsignalen', 0, 'signaaldatum'))], 'signal reference may hold only ID')
case('vs09-enum-signaalpartner-case', 'vs', S(VS0 + ('signaalpartner', 'type'), 'energie'),
     [('enum', P(*VS0, 'signaalpartner', 'type'))], 'wrong case')
case('vs09-enum-status', 'vs', S(VS0 + ('status',), 'Opgepakt'), [('enum', P(*VS0, 'status'))], 'unknown status')
case('vs09-enum-resultaat', 'vs', S(Z0 + ('resultaat',), 'Afgerond'), [('enum', P(*Z0, 'resultaat'))], 'unknown result')
case('vs09-enum-contactsoort', 'vs', S(Z0 + ('contactpogingen', 0, 'soort'), 'WhatsApp'), [('enum', P(*Z0, 'contactpogingen', 0, 'soort'))], 'the enum has SMS/Whatsapp')
case('vs09-enum-dagdeel', 'vs', S(Z0 + ('contactpogingen', 1, 'dagdeel'), 'Nacht'), [('enum', P(*Z0, 'contactpogingen', 1, 'dagdeel'))], 'unknown part of day')
case('vs09-minItems-contactpersoonen', 'vs', S(ORG + ('contactpersoonen',), []), [('minItems', P(*ORG, 'contactpersoonen'))], 'no contacts (VS spells contactpersoonen)')
case('vs09-minItems-zaak-vroegsignalen', 'vs', S(Z0 + ('vroegsignalen',), []), [('minItems', P(*Z0, 'vroegsignalen'))], 'zaak without signals')
case('vs09-uniqueItems-zaak-vroegsignalen', 'vs', M(Z0 + ('vroegsignalen',), lambda v: v + copy.deepcopy(v)),
     [('uniqueItems', P(*Z0, 'vroegsignalen'))], 'the same signal referenced twice')
case('vs09-uniqueItems-contactpersoonen-member-order', 'vs',
     M(ORG + ('contactpersoonen',), lambda cs: cs + [dict(reversed(list(cs[0].items())))]),
     [('uniqueItems', P(*ORG, 'contactpersoonen'))], 'PERSONAL: the same contact twice, members in another order (objects are equal regardless of order)')
def two_leveringen(d):
    d['leveringen'].append(copy.deepcopy(d['leveringen'][0]))
case('vs09-uniqueItems-leveringen', 'vs', two_leveringen, [('uniqueItems', '/leveringen')], 'the same levering twice')
def two_leveringen_differ(d):
    l = copy.deepcopy(d['leveringen'][0]); l['teller'] = 2.0; d['leveringen'].append(l)
    d['leveringen'][0]['teller'] = 2
case('vs09-uniqueItems-leveringen-numeric-equal', 'vs', two_leveringen_differ, [('uniqueItems', '/leveringen')],
     'two leveringen equal except teller 2 vs 2.0: numbers compare by value, so still duplicates')
case('vs09-format-geboortedatum', 'vs', M(VC0 + ('Geboortedatum',), lambda g: g[:5] + '02-30'),
     [('format', P(*VC0, 'Geboortedatum'))], 'PERSONAL: VS client Geboortedatum is $ref datum: Feb 30')
case('vs09-format-signaaldatum-unpadded', 'vs', S(VS0 + ('signaaldatum',), '2025-1-5'), [('format', P(*VS0, 'signaaldatum'))], 'not zero-padded')
case('vs09-format-contactpoging-datum', 'vs', S(Z0 + ('contactpogingen', 0, 'datum'), '2025-01-32'), [('format', P(*Z0, 'contactpogingen', 0, 'datum'))], 'day 32')
case('vs09-format-datetime-offset-colon', 'vs', S(('aanleverdatumEnTijd',), '2025-02-05T10:30:00+0100'),
     [('format', '/aanleverdatumEnTijd')], 'offset without colon is ISO 8601 basic, not RFC 3339')
case('vs09-format-email-double-dot', 'vs', M(ORG + ('contactpersoonen', 0, 'email'), lambda e: e.replace('.', '..', 1)),
     [('format', P(*ORG, 'contactpersoonen', 0, 'email'))], 'PERSONAL: consecutive dots in the local part')
case('vs09-format-email-no-at', 'vs', M(ORG + ('contactpersoonen', 0, 'email'), lambda e: e.replace('@', ' at ')),
     [('format', P(*ORG, 'contactpersoonen', 0, 'email'))], 'PERSONAL: "name at domain"')

# ---------------------------------------------------------------- build and check
def fc():
    c = jsonschema.FormatChecker(formats=())
    c.checks('date')(lambda v: not isinstance(v, str) or fmt.is_date(v))
    c.checks('date-time')(lambda v: not isinstance(v, str) or fmt.is_date_time(v))
    c.checks('time')(lambda v: not isinstance(v, str) or fmt.is_time(v))
    c.checks('email')(lambda v: not isinstance(v, str) or fmt.is_email(v))
    return c

def findings(schema, doc):
    v = jsonschema.Draft202012Validator(schema, format_checker=fc())
    out = []
    def rec(errs):
        for e in errs:
            if e.context: rec(e.context)
            ptr = P(*e.absolute_path)
            if e.validator == 'additionalProperties':
                extra = [k for k in e.instance if k not in e.schema.get('properties', {})]
                out.extend(('additionalProperties', ptr + '/' + esc(k)) for k in extra)
            elif e.validator == 'required':
                out.append(('required', ptr))
            else:
                out.append((e.validator, ptr))
    rec(v.iter_errors(doc))
    return sorted(out)

def main():
    names = set(); ok = True
    os.makedirs(OUT, exist_ok=True)
    for name, b, ops, expect, why in CASES:
        assert name not in names, name; names.add(name)
        prefix = name.split('-')[0]
        doc = base(b)
        clean = findings(SCHEMAS[prefix], doc) if not (prefix == 'shv10' and b == 'v09') else None
        if clean: print('BASE NOT CLEAN', name, clean); ok = False
        for op in ops: op(doc)
        got = findings(SCHEMAS[prefix], doc)
        if sorted(expect) != got:
            print('MISMATCH', name, '\n  expected', sorted(expect), '\n  jsonschema', got); ok = False
        with open(f'{OUT}/{name}.json', 'w', encoding='utf-8') as f:
            json.dump(doc, f, ensure_ascii=False, indent=2); f.write('\n')
        with open(f'{OUT}/{name}.expected', 'w', encoding='utf-8') as f:
            for kw, ptr in expect:
                f.write(f'schema\t{kw}\t{ptr}\n')
    with open(f'{OUT}/README.md', 'w', encoding='utf-8') as f:
        f.write(open(os.path.join(os.path.dirname(__file__), 'readme_head.md'), encoding='utf-8').read())
        for name, b, ops, expect, why in sorted(CASES):
            f.write(f'| `{name}` | {len(expect)} | {why.replace("|", "/")} |\n')
    print(len(CASES), 'cases', 'OK' if ok else 'WITH PROBLEMS')
    return CASES

if __name__ == '__main__':
    main()
