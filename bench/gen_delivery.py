#!/usr/bin/env python3
"""Generate a realistic, valid SHV v1.0 delivery for benchmarks.

Python 3 standard library only; deterministic for a given --seed and size.

The document is the "shared-service centre" variant of the specification:
one delivering organisation (no gemeentecode of its own) with one levering
per responsible municipality (20 by default, tellers 1..n), every traject of
a levering carrying that levering's gemeentecode. Each traject has 1-2
clients (BSNs passing the eleven-test, unique in the document), the phases
of the NVVK reference process with real, ordered dates (aanmelding, intake
with beschikkingsdatum + beschikkingssoort, planVanAanpak, stabilisatie,
schuldregeling, oplossing, nazorg, uitstroom as far as the trajectory got by
the end of the reporting period), begeleiding[], crisisinterventies[],
moratoria[], voorlopigeVoorzieningen[] now and then, and 3-8 schulden[] with
a schuldeiser. Amounts are whole euros; the debts add up to
totaalSchuldbedragBijAanvangSchuld. A few free-text fields contain
non-ASCII characters and JSON escapes, as real deliveries do.

Serialisation: 2-space indentation like the official examples
(json.dumps(indent=2, ensure_ascii=False), UTF-8, trailing newline); use
--indent 0 for compact output. At indent 2 a traject is about 2 KB.
"MB" means 10^6 bytes.

Besides the schema, the generated data satisfy the `strict` profile of
docs/spec/RULES.md (periods, date order, dwangakkoord, eleven-test,
GM+4-digit gemeentecodes, KvK 8 digits, postcodes, no future dates, one
trajectory per client, consistent einddatum/toekenningsdatum), so a
benchmark measures the path of an accepted delivery.

Examples:
  gen_delivery.py --trajecten 1000 --seed 1 -o d.json
  gen_delivery.py --mb 10 --seed 1 -o d.json
  gen_delivery.py --check                 # small document, checked
  gen_delivery.py --trajecten 500 --check -o d.json
  gen_delivery.py --check-file d.json     # check an existing file

--check / --check-file validate against the JSON Schema with the Debian
python3-jsonschema (run as /usr/bin/python3, Draft 2020-12 with its format
checker: date and email are asserted; date-time/time are checked here,
because jsonschema 4.10 needs an extra package for them) and then check the
strict rules above in-process. Exit status 1 when anything fails.
"""

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(
    os.path.join(HERE, "..", "config", "schemas", "shv-v1.0.json"))
SYSTEM_PYTHON = "/usr/bin/python3"
GENERATOR_VERSION = "1"

# Reporting period and moment of delivery.
PERIOD_START = dt.date(2024, 1, 1)
PERIOD_END = dt.date(2024, 12, 31)
DELIVERED_AT = "2025-01-15T09:30:00Z"

# (gemeentecode, name, weight, postcode range of the 4 digits)
MUNICIPALITIES = [
    ("GM0363", "Amsterdam", 18, (1011, 1109)),
    ("GM0599", "Rotterdam", 14, (3011, 3089)),
    ("GM0518", "'s-Gravenhage", 12, (2491, 2599)),
    ("GM0344", "Utrecht", 8, (3511, 3585)),
    ("GM0772", "Eindhoven", 5, (5611, 5658)),
    ("GM0014", "Groningen", 5, (9711, 9747)),
    ("GM0034", "Almere", 4, (1311, 1363)),
    ("GM0855", "Tilburg", 4, (5011, 5049)),
    ("GM0758", "Breda", 4, (4811, 4839)),
    ("GM0268", "Nijmegen", 4, (6511, 6546)),
    ("GM0200", "Apeldoorn", 3, (7311, 7339)),
    ("GM0202", "Arnhem", 3, (6811, 6846)),
    ("GM0392", "Haarlem", 3, (2011, 2037)),
    ("GM0153", "Enschede", 3, (7511, 7548)),
    ("GM0193", "Zwolle", 3, (8011, 8049)),
    ("GM0796", "'s-Hertogenbosch", 3, (5211, 5237)),
    ("GM0935", "Maastricht", 3, (6211, 6229)),
    ("GM0546", "Leiden", 2, (2311, 2334)),
    ("GM0080", "Leeuwarden", 2, (8911, 8939)),
    ("GM0106", "Assen", 1, (9401, 9409)),
]

POSTCODE_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"  # no F I O Q U Y, as in real ones

CREDITORS = [
    # (naam, kvknummer, postcode, schuldsoort)
    ("Belastingdienst", "27376655", "7301BB", "Publiek"),
    ("Centraal Justitieel Incassobureau", "27372145", "8901BB", "Publiek"),
    ("Dienst Uitvoering Onderwijs", "27373244", "9722BW", "Publiek"),
    ("Sociale Verzekeringsbank", "34367236", "1183NL", "Publiek"),
    ("UWV", "34373296", "1081KS", "Publiek"),
    ("Gemeentelijke Belastingen", "40436723", "2511BT", "Publiek"),
    ("Zilveren Kruis Zorgverzekeringen N.V.", "31032549", "3707NH", "Zorg"),
    ("VGZ Zorgverzekeraar N.V.", "09104288", "6534AD", "Zorg"),
    ("CZ Zorgverzekeringen N.V.", "18057051", "5037DG", "Zorg"),
    ("Menzis Zorgverzekeraar N.V.", "02086440", "7522AP", "Zorg"),
    ("Vattenfall Klantenservice N.V.", "33292246", "1043BA", "Nuts"),
    ("Eneco Consumenten B.V.", "24403523", "3011TA", "Nuts"),
    ("Essent Retail Energie B.V.", "14049498", "5223MB", "Nuts"),
    ("Waternet", "41216593", "1096AC", "Nuts"),
    ("Evides Waterbedrijf N.V.", "24342434", "3088HE", "Nuts"),
    ("Vodafone Libertel B.V.", "14052264", "6221BV", "Overig"),
    ("Ziggo B.V.", "30176206", "3542DZ", "Overig"),
    ("KPN B.V.", "27124701", "2316XT", "Overig"),
    ("Ymere Woningcorporatie", "34108365", "1018VG", "Overig"),
    ("Woonstad Rotterdam", "24263799", "3011TA", "Overig"),
    ("Wehkamp Finance B.V.", "05051436", "8028PV", "Overig"),
    ("Klarna Bank AB", "73384909", "1017CE", "Overig"),
    ("Intrum Nederland B.V.", "17049430", "5215MV", "Overig"),
    ("Lowell Solutions B.V.", "30059097", "3503RL", "Overig"),
    ("Anwb Verzekeren", "27173651", "2509BA", "Overig"),
    ("Sportschool Fitfabriek", "61234567", "5611AZ", "Overig"),
]

FIRST_NAMES = ["Jan", "Anouk", "Mohamed", "Fatima", "Sanne", "Ruben", "Noëlle",
               "Daan", "Eline", "Youssef", "Ayşe", "Kees", "Lotte", "Bram",
               "Inge", "Jeroen", "Priya", "Wouter", "Chantal", "Thijs"]
LAST_NAMES = ["de Vries", "Jansen", "van den Berg", "Bakker", "El Amrani",
              "Visser", "Smit", "Meijer", "de Boer", "Mulder", "Yılmaz",
              "Bos", "Vos", "Peters", "Hendriks", "van Dijk", "Dekker",
              "Brouwer", "de Groot", "Gijsbers"]
FUNCTIONS = ["Coördinator schuldhulpverlening", "Teamleider Schulddienstverlening",
             "Functioneel beheerder", "Kwaliteitsmedewerker", "Informatieanalist"]
BEGELEIDING = ["Budgetcoaching", "Budgetbeheer", "Beschermingsbewind",
               "Lange Termijn Begeleiding (DFD)", "Budgetbegeleiding"]
UITSTROOM_EARLY = ["Nietverschenen", "Ingetrokken", "Niet passend", "Zelf",
                   "Verhuisd", "Overleden", "Overig"]
OMSCHRIJVINGEN = [
    "Minnelijk traject",
    "Traject na vroegsignalering (huurachterstand)",
    "Aanmelding via wijkteam",
    "Doorverwijzing door \"Geldfit\"-loket",
    "Schulden na echtscheiding; partner meegenomen",
    "Zelfstandig ondernemer (zzp), zakelijke schulden",
    "Traject overgenomen van vorige gemeente\nDossier compleet",
    "Crisisinterventie: dreigende ontruiming",
    "Re-integratie & budgetcoaching",
    "Cliënt wil zelf regelen",
]


def d(x):
    return x.isoformat()


def elfproef_ok(bsn):
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    s = sum(int(c) * w for c, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1)))
    return s != 0 and s % 11 == 0


class Gen:
    def __init__(self, seed, n_gemeenten):
        self.rnd = random.Random(seed)
        self.gemeenten = MUNICIPALITIES[:n_gemeenten]
        self.weights = [m[2] for m in self.gemeenten]
        self.bsns = set()

    # --- small value generators -------------------------------------------
    def days(self, a, b):
        return dt.timedelta(days=self.rnd.randint(a, b))

    def bsn(self):
        r = self.rnd
        while True:
            head = [r.randint(1, 6)] + [r.randint(0, 9) for _ in range(7)]
            s = sum(c * w for c, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2)))
            last = s % 11  # s - last == 0 (mod 11)
            if last > 9:
                continue
            b = "".join(map(str, head)) + str(last)
            if b in self.bsns or not elfproef_ok(b):
                continue
            self.bsns.add(b)
            return b

    def postcode(self, rng=None):
        r = self.rnd
        lo, hi = rng or (1011, 9999)
        while True:
            letters = r.choice(POSTCODE_LETTERS) + r.choice(POSTCODE_LETTERS)
            if letters not in ("SA", "SD", "SS"):
                return "%04d%s" % (r.randint(lo, hi), letters)

    def birth_date(self, start):
        age_days = self.rnd.randint(19 * 365, 78 * 365)
        return start - dt.timedelta(days=age_days)

    def person_name(self):
        return "%s %s" % (self.rnd.choice(FIRST_NAMES), self.rnd.choice(LAST_NAMES))

    # --- the document -------------------------------------------------------
    def organisation(self):
        r = self.rnd
        contacts = []
        for i in range(r.randint(1, 2)):
            first = r.choice(FIRST_NAMES)
            last = r.choice(LAST_NAMES)
            local = (first[0] + "." + last.replace(" ", "").replace("'", "")).lower()
            local = local.encode("ascii", "ignore").decode()
            contacts.append({
                "email": "%s@kredietbank-regio.nl" % local,
                "functietitel": r.choice(FUNCTIONS),
                "naam": "%s %s" % (first, last),
                "telefoonnummer": "088%07d" % r.randint(0, 9999999),
            })
        return {
            "(Statutaire) Naam": "Gemeenschappelijke Kredietbank Regio B.V.",
            "KvK-nummer": "%08d" % r.randint(10000000, 99999999),
            "postcode": "3511AB",
            "contactpersonen": contacts,
        }

    def traject(self, gm):
        """One trajectory that overlaps the reporting period."""
        while True:
            t = self._traject(gm)
            if t is not None:
                return t

    def _traject(self, gm):
        r = self.rnd
        code, _name, _w, pc_range = gm
        END = PERIOD_END
        # Older trajectories are rarer; most start in 2023/2024.
        start = PERIOD_END - dt.timedelta(days=int(r.triangular(5, 3 * 365, 60)))
        t = {}
        t["gemeentecode"] = code
        t["startdatum"] = d(start)
        om = r.random()
        if om < 0.5:
            t["omschrijving"] = r.choice(OMSCHRIJVINGEN)

        # clients: 25 % two partners at the same address
        postcode = self.postcode(pc_range)
        huisnummer = str(r.randint(1, 320))
        toev = r.choice(["", "", "", "", "A", "B", "1", "2-hoog", "bis"])
        clients = []
        for i in range(2 if r.random() < 0.25 else 1):
            c = {
                "Burgerservicenummer": self.bsn(),
                "Geboortedatum": d(self.birth_date(start)),
                "Geslachtsaanduiding": r.choices(["Man", "Vrouw", "Onbekend"], [48, 50, 2])[0],
                "Postcode": postcode,
                "Huisnummer": huisnummer,
            }
            if toev:
                c["Huisnummertoevoeging"] = toev
            clients.append(c)
        t["client"] = clients

        ended = None  # (date, reden) when the trajectory ended
        crisis = r.random() < 0.08
        a_end = start + self.days(0, 14)
        aanmelding = {"crisisinterventie": crisis, "startdatum": d(start)}
        if a_end <= END:
            aanmelding["einddatum"] = d(a_end)
        t["aanmelding"] = aanmelding
        if crisis:
            c_end = start + self.days(3, 45)
            ci = {"startdatum": d(start)}
            if c_end <= END:
                ci["einddatum"] = d(c_end)
            t["crisisinterventies"] = [ci]

        phase_end = a_end
        if a_end <= END and r.random() < 0.07:
            ended = (a_end + self.days(0, 10), r.choice(UITSTROOM_EARLY))
        # intake
        i_start = a_end + self.days(0, 14)
        if ended is None and i_start <= END:
            intake = {"startdatum": d(i_start)}
            i_end = i_start + self.days(7, 42)
            if i_end <= END:
                intake["einddatum"] = d(i_end)
                intake["beschikkingsdatum"] = d(i_end)
                afwijzing = r.random() < 0.1
                intake["beschikkingssoort"] = ("Afwijzingsbeschikking" if afwijzing
                                               else "Toelatingsbeschikking")
                if afwijzing:
                    ended = (i_end + self.days(0, 14), "Voldoet niet")
                phase_end = i_end
            else:
                phase_end = None
            t["intake"] = intake
        else:
            phase_end = None if ended is None else phase_end

        # debts, known from the intake on
        n = int(r.triangular(3, 9, 3))  # 3..8, mostly few
        peil = i_start if (ended is None and i_start <= END) else start
        schulden = []
        total = 0
        for _ in range(n):
            naam, kvk, pc, soort = r.choice(CREDITORS)
            bedrag = int(r.lognormvariate(6.5, 1.1)) + 25
            total += bedrag
            # optional members only when they say something (compact-ish,
            # like most source systems): zakelijkeSchuld when true,
            # privepersoon when true, the creditor's postcode now and then
            s = {"bedrag": bedrag, "peildatum": d(peil), "schuldsoort": soort}
            if r.random() < 0.06:
                s["schuldsoort"] = "Overig"
                s["schuldeiser"] = {"naam": "Particuliere schuldeiser", "privepersoon": True}
            else:
                s["schuldeiser"] = {"naam": naam, "kvknummer": kvk}
                if r.random() < 0.25:
                    s["schuldeiser"]["postcode"] = pc
            schulden.append(s)
        if r.random() < 0.05:
            schulden[0]["zakelijkeSchuld"] = True
        t["totaalSchuldbedragBijAanvangSchuld"] = total
        t["schulden"] = schulden

        oplossing_end = None
        if ended is None and phase_end is not None:
            # plan van aanpak
            pva = phase_end + self.days(7, 45)
            if pva <= END:
                t["planVanAanpak"] = {"datumAfronding": d(pva)}
                phase_end = pva
                if r.random() < 0.1:
                    ended = (pva + self.days(10, 120), r.choice(UITSTROOM_EARLY))
            else:
                phase_end = None
        if ended is None and phase_end is not None:
            # stabilisatie
            st_end = phase_end + self.days(30, 200)
            stab = {"startdatum": d(phase_end)}
            if st_end <= END:
                stab["einddatum"] = d(st_end)
            t["stabilisatie"] = stab
            if r.random() < 0.06:
                mo = phase_end + self.days(0, 30)
                if mo <= END:
                    mor = {"datumAanvraag": d(mo)}
                    goed = mo + self.days(7, 21)
                    if goed <= END:
                        mor["datumGoedkeuring"] = d(goed)
                        mor["startdatum"] = d(goed)
                        if goed + dt.timedelta(days=183) <= END:
                            mor["einddatum"] = d(goed + dt.timedelta(days=183))
                    t["moratoria"] = [mor]
            if r.random() < 0.03:
                vv = phase_end + self.days(0, 20)
                if vv <= END:
                    v = {"startdatum": d(vv)}
                    if vv + dt.timedelta(days=183) <= END:
                        v["einddatum"] = d(vv + dt.timedelta(days=183))
                    t["voorlopigeVoorzieningen"] = [v]
            phase_end = st_end if st_end <= END else None
        if ended is None and phase_end is not None:
            # schuldregeling or a payment arrangement
            filed = phase_end + self.days(0, 30)
            if filed <= END:
                if r.random() < 0.8:
                    sr = {"datum": d(filed), "dwangakkoord": False}
                    decided = filed + self.days(14, 90)
                    x = r.random()
                    soort = None
                    if decided <= END:
                        if x < 0.75:
                            sr["toegekend"] = d(decided)
                            t["toekenningsdatum"] = d(decided)
                            soort = r.choices(["Saneringskrediet", "Schuldbemiddeling"], [55, 45])[0]
                            if r.random() < 0.05:
                                sr["dwangakkoord"] = True
                                sr["datumVerzoekDwangakkoord"] = d(filed + dt.timedelta(
                                    days=(decided - filed).days // 2))
                        elif x < 0.9:
                            sr["afgewezen"] = d(decided)
                            ended = (decided + self.days(0, 30), "Overig")
                        else:
                            sr["ingetrokken"] = d(decided)
                            ended = (decided + self.days(0, 14), "Ingetrokken")
                    t["schuldregeling"] = sr
                    op_start = decided + self.days(0, 30) if soort else None
                else:
                    soort = r.choices(["Betalingsregeling", "Herfinanciering", "0%-aanbod"],
                                      [70, 20, 10])[0]
                    op_start = filed
                if soort and op_start <= END:
                    op = {"soort": soort, "startdatum": d(op_start),
                          "vtlb": r.randint(1050, 2250)}
                    months = 18 if soort in ("Saneringskrediet", "Schuldbemiddeling") \
                        else r.randint(6, 36)
                    op_end = op_start + dt.timedelta(days=months * 30)
                    if op_end <= END:
                        op["einddatum"] = d(op_end)
                        oplossing_end = op_end
                    t["oplossing"] = op
        if oplossing_end is not None:
            ended = (oplossing_end, "Afgerond")
            nz_end = oplossing_end + self.days(30, 180)
            nz = {"startdatum": d(oplossing_end)}
            if nz_end <= END:
                nz["einddatum"] = d(nz_end)
            t["nazorg"] = nz
        if r.random() < 0.15:
            ia_end = start + self.days(0, 30)
            ia = {"startdatum": d(start)}
            if ia_end <= END:
                ia["einddatum"] = d(ia_end)
            t["informatieEnAdvies"] = ia
        t_end = None
        if ended is not None:
            t_end, reden = ended
            if t_end > END:
                t_end = None  # still running at the end of the period
            else:
                u = {"datum": d(t_end), "datumBeeindigingsbeschikking": d(t_end),
                     "reden": reden}
                if reden == "Overig":
                    u["omschrijving"] = "Schuldregeling afgewezen; doorverwezen naar Wsnp"
                t["uitstroom"] = u
                t["einddatum"] = d(t_end)
        if t_end is not None and t_end < PERIOD_START:
            return None  # ended before the period: not part of this delivery
        if t_end is not None:
            # side intervals do not outlast the trajectory
            for k in ("crisisinterventies", "moratoria", "voorlopigeVoorzieningen"):
                if k in t:
                    t[k] = [x for x in t[k] if x["startdatum" if "startdatum" in x
                                                 else "datumAanvraag"] <= d(t_end)]
                    if not t[k]:
                        del t[k]
            for o in ([t[k] for k in ("stabilisatie", "informatieEnAdvies") if k in t]
                      + t.get("crisisinterventies", []) + t.get("moratoria", [])
                      + t.get("voorlopigeVoorzieningen", [])):
                if "einddatum" in o and o["einddatum"] > d(t_end):
                    o["einddatum"] = d(t_end)
        # Running end of every open interval for begeleiding
        horizon = t_end or END
        beg = []
        b_start = i_start
        for _ in range(r.choices([0, 1, 2], [45, 40, 15])[0]):
            if b_start > horizon:
                break
            b = {"soort": r.choice(BEGELEIDING), "startdatum": d(b_start)}
            b_end = b_start + self.days(60, 540)
            if b_end <= horizon and (t_end is not None or r.random() < 0.5):
                b["einddatum"] = d(b_end)
            beg.append(b)
            b_start = b_start + self.days(30, 200)
        if beg:
            t["begeleiding"] = beg
        return t

    def document(self, n_trajecten=None, target_bytes=None, indent=2):
        r = self.rnd
        org = self.organisation()
        per_gm = {m[0]: [] for m in self.gemeenten}
        by_code = {m[0]: m for m in self.gemeenten}
        # size of one traject in the document: its dumps at the nesting depth
        depth = 4  # root > leveringen[] > levering > schuldhulptrajecten[] > traject
        org_text = json.dumps(org, indent=indent or None, ensure_ascii=False)
        envelope = 300 + len(self.gemeenten) * (
            len(org_text.encode("utf-8")) + 80 + org_text.count("\n") * indent * 3)
        size = envelope
        count = 0
        while True:
            if n_trajecten is not None and count >= n_trajecten:
                break
            if target_bytes is not None and size >= target_bytes:
                break
            gm = by_code[r.choices(list(by_code), self.weights)[0]]
            t = self.traject(gm)
            per_gm[gm[0]].append(t)
            count += 1
            if target_bytes is not None:
                text = json.dumps(t, indent=indent or None, ensure_ascii=False,
                                  separators=(",", ": ") if indent else (",", ":"))
                nbytes = len(text.encode("utf-8"))
                if indent:
                    nbytes += (text.count("\n") + 1) * indent * depth + 2
                else:
                    nbytes += 1
                size += nbytes
        leveringen = []
        for code, _n, _w, _p in self.gemeenten:
            if not per_gm[code]:
                continue
            # deterministic order: by startdatum, then BSN
            tr = sorted(per_gm[code], key=lambda t: (t["startdatum"],
                                                     t["client"][0]["Burgerservicenummer"]))
            leveringen.append({"teller": len(leveringen) + 1,
                               "aanleverende_organisatie": org,
                               "schuldhulptrajecten": tr})
        return {
            "startdatumLevering": d(PERIOD_START),
            "einddatumLevering": d(PERIOD_END),
            "aanleverdatumEnTijd": DELIVERED_AT,
            "codeGegevensleverancier": "Schuldhulp Suite 7.3.2",
            "leveringen": leveringen,
        }


def serialise(doc, indent):
    if indent:
        text = json.dumps(doc, indent=indent, ensure_ascii=False)
    else:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


# --- checking ---------------------------------------------------------------

SCHEMA_CHECK = r"""
import json, sys
from jsonschema import Draft202012Validator as V
schema = json.load(open(sys.argv[1], encoding="utf-8"))
V.check_schema(schema)
doc = json.load(open(sys.argv[2], encoding="utf-8"))
v = V(schema, format_checker=V.FORMAT_CHECKER)
n = 0
for e in v.iter_errors(doc):
    n += 1
    if n <= 20:
        print("schema: /%s: %s" % ("/".join(map(str, e.absolute_path)), e.message[:200]))
print("schema errors: %d (formats asserted: %s)" % (n, ",".join(
    f for f in ("date", "date-time", "time", "email") if f in V.FORMAT_CHECKER.checkers)))
sys.exit(1 if n else 0)
"""

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
POSTCODE_RE = re.compile(r"^[1-9]\d{3}[A-Z]{2}$")
GM_RE = re.compile(r"^(GM\d{4}|\d{4}|Onbekend)$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def check_schema(schema_path, data_path):
    if not os.path.exists(SYSTEM_PYTHON):
        print("check: %s not found (needs python3-jsonschema)" % SYSTEM_PYTHON,
              file=sys.stderr)
        return False
    p = subprocess.run([SYSTEM_PYTHON, "-c", SCHEMA_CHECK, schema_path, data_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stderr.write(p.stdout)
    return p.returncode == 0


def check_rules(doc):
    """The strict profile of RULES.md, plus date-time formats. List of problems."""
    bad = []

    def date(v, where):
        if not isinstance(v, str) or not DATE_RE.match(v):
            bad.append("%s: not a date" % where)
            return None
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            bad.append("%s: not a real date" % where)
            return None

    at = doc.get("aanleverdatumEnTijd")
    if not isinstance(at, str) or not DATETIME_RE.match(at):
        bad.append("/aanleverdatumEnTijd: not an RFC 3339 date-time")
        delivered = None
    else:
        delivered = dt.date.fromisoformat(at[:10])
    ps = date(doc.get("startdatumLevering"), "/startdatumLevering")
    pe = date(doc.get("einddatumLevering"), "/einddatumLevering")
    if ps and pe and ps > pe:
        bad.append("period.order")
    tellers = [l.get("teller") for l in doc.get("leveringen", [])]
    if len(set(tellers)) != len(tellers):
        bad.append("levering.teller.unique")
    if tellers != list(range(1, len(tellers) + 1)):
        bad.append("tellers are not 1..n")
    periods_by_bsn = {}
    for li, lev in enumerate(doc.get("leveringen", [])):
        lp = "/leveringen/%d" % li
        org = lev.get("aanleverende_organisatie", {})
        kvk = org.get("KvK-nummer")
        if kvk is not None and not re.match(r"^\d{8}$", kvk):
            bad.append(lp + ": kvk.format")
        if not any(EMAIL_RE.match(c.get("email", "")) for c in org.get("contactpersonen", [])):
            bad.append(lp + ": organisatie.contact.email")
        gms = {t.get("gemeentecode") for t in lev.get("schuldhulptrajecten", [])}
        if len(gms) > 1:
            bad.append(lp + ": levering.gemeente.single")
        for ti, t in enumerate(lev.get("schuldhulptrajecten", [])):
            tp = "%s/schuldhulptrajecten/%d" % (lp, ti)

            def walk_dates(v, p):
                if isinstance(v, dict):
                    for k, x in v.items():
                        walk_dates(x, p + "/" + k)
                elif isinstance(v, list):
                    for i, x in enumerate(v):
                        walk_dates(x, "%s/%d" % (p, i))
                elif isinstance(v, str) and DATE_RE.match(v):
                    x = date(v, p)
                    if x and delivered and x > delivered:
                        bad.append(p + ": dates.not.future")
            walk_dates(t, tp)
            if not GM_RE.match(t.get("gemeentecode", "")):
                bad.append(tp + ": gemeentecode.format")
            clients = t.get("client", [])
            for ci, c in enumerate(clients):
                cp = "%s/client/%d" % (tp, ci)
                bsn = c.get("Burgerservicenummer")
                if bsn is None:
                    if not all(k in c for k in ("Geboortedatum", "Geslachtsaanduiding",
                                                "Postcode", "Huisnummer")):
                        bad.append(cp + ": client.identification")
                elif not elfproef_ok(bsn):
                    bad.append(cp + ": client.bsn.elfproef")
                if c.get("Geslachtsaanduiding") not in (None, "Man", "Vrouw", "Onbekend", "Leeg"):
                    bad.append(cp + ": client.geslacht")
                if "Geboortedatum" in c:
                    date(c["Geboortedatum"], cp + "/Geboortedatum")
                if "Postcode" in c and not POSTCODE_RE.match(c["Postcode"]):
                    bad.append(cp + ": postcode.format")
            objs = [("", t)] + [(k, t[k]) for k in ("aanmelding", "intake", "stabilisatie",
                                                      "oplossing", "nazorg",
                                                      "informatieEnAdvies") if k in t]
            for k in ("begeleiding", "crisisinterventies", "moratoria",
                      "voorlopigeVoorzieningen"):
                objs += [("%s/%d" % (k, i), x) for i, x in enumerate(t.get(k, []))]
            for k, o in objs:
                if "startdatum" in o and "einddatum" in o and o["startdatum"] > o["einddatum"]:
                    bad.append("%s/%s: dates.order" % (tp, k))
            sr = t.get("schuldregeling", {})
            if sr.get("dwangakkoord") and not sr.get("toegekend"):
                bad.append(tp + ": schuldregeling.dwangakkoord")
            amounts = [t.get("totaalSchuldbedragBijAanvangSchuld", 0),
                       t.get("oplossing", {}).get("vtlb", 0)]
            amounts += [s.get("bedrag", 0) for s in t.get("schulden", [])]
            if any(a < 0 for a in amounts):
                bad.append(tp + ": amount.nonnegative")
            if sum(s.get("bedrag", 0) for s in t.get("schulden", [])) != \
                    t.get("totaalSchuldbedragBijAanvangSchuld"):
                bad.append(tp + ": debts do not add up to the total")
            s0 = t.get("startdatum")
            e0 = t.get("einddatum")
            if ps and pe and s0 and (s0 > d(pe) or (e0 and e0 < d(ps))):
                bad.append(tp + ": traject.in.period")
            ends = {x for x in (e0, t.get("uitstroom", {}).get("datum"),
                                t.get("uitstroom", {}).get("datumBeeindigingsbeschikking")) if x}
            if len(ends) > 1:
                bad.append(tp + ": einddatum.consistent")
            ik = t.get("intake", {})
            if ("beschikkingssoort" in ik) != ("beschikkingsdatum" in ik):
                bad.append(tp + ": intake.beschikking.pair")
            if "toekenningsdatum" in t and "toegekend" in sr and \
                    t["toekenningsdatum"] != sr["toegekend"]:
                bad.append(tp + ": toekenningsdatum.consistent")
            # chronological phases
            chain = [t.get("aanmelding", {}).get("startdatum"),
                     t.get("aanmelding", {}).get("einddatum"),
                     ik.get("startdatum"), ik.get("einddatum"),
                     t.get("planVanAanpak", {}).get("datumAfronding"),
                     t.get("stabilisatie", {}).get("startdatum"),
                     t.get("stabilisatie", {}).get("einddatum"),
                     sr.get("datum"), sr.get("datumVerzoekDwangakkoord"),
                     sr.get("toegekend") or sr.get("afgewezen") or sr.get("ingetrokken"),
                     t.get("oplossing", {}).get("startdatum"),
                     t.get("oplossing", {}).get("einddatum")]
            chain = [x for x in chain if x]
            if chain != sorted(chain):
                bad.append(tp + ": phases out of order")
            if e0 and max(chain + [s0]) > e0 and "nazorg" not in t:
                bad.append(tp + ": phase after einddatum")
            for c in clients:
                bsn = c.get("Burgerservicenummer")
                if bsn:
                    periods_by_bsn.setdefault(bsn, []).append((s0, e0 or "9999-12-31", tp))
    for bsn, ps_ in periods_by_bsn.items():
        ps_.sort()
        for (s1, e1, p1), (s2, e2, p2) in zip(ps_, ps_[1:]):
            if s2 <= e1:
                bad.append(p2 + ": client.single.traject")
    return bad


def check_file(path, schema_path):
    ok = check_schema(schema_path, path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    bad = check_rules(doc)
    for b in bad[:20]:
        print("rules: " + b, file=sys.stderr)
    n_tr = sum(len(l.get("schuldhulptrajecten", [])) for l in doc.get("leveringen", []))
    print("rules (strict profile + date-time) problems: %d in %d trajecten, %d leveringen"
          % (len(bad), n_tr, len(doc.get("leveringen", []))), file=sys.stderr)
    return ok and not bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="MB = 10^6 bytes. See the module docstring.")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--trajecten", type=int, help="number of trajecten")
    size.add_argument("--mb", type=float, help="target size in MB (10^6 bytes), about")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--gemeenten", type=int, default=20,
                    help="municipalities = leveringen (1..%d, default 20)" % len(MUNICIPALITIES))
    ap.add_argument("--indent", type=int, default=2,
                    help="indentation (default 2, like the examples; 0 = compact)")
    ap.add_argument("-o", "--output", help="output file (default stdout)")
    ap.add_argument("--check", action="store_true",
                    help="validate what was generated (schema with %s + jsonschema, "
                         "and the strict rules); small default size" % SYSTEM_PYTHON)
    ap.add_argument("--check-file", metavar="FILE", help="only check an existing file")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema for the checks")
    a = ap.parse_args(argv)

    if a.check_file:
        return 0 if check_file(a.check_file, a.schema) else 1
    if not 1 <= a.gemeenten <= len(MUNICIPALITIES):
        ap.error("--gemeenten must be 1..%d" % len(MUNICIPALITIES))
    if a.trajecten is None and a.mb is None:
        a.trajecten = 200 if a.check else 1000
    g = Gen(a.seed, a.gemeenten)
    doc = g.document(n_trajecten=a.trajecten,
                     target_bytes=int(a.mb * 1e6) if a.mb is not None else None,
                     indent=a.indent)
    data = serialise(doc, a.indent)
    n_tr = sum(len(l["schuldhulptrajecten"]) for l in doc["leveringen"])
    tmp = None
    out = a.output
    if out:
        part = out + ".part"
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, out)
    elif a.check:
        fd, tmp = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        out = tmp
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    info = {"file": a.output or "-", "bytes": len(data), "trajecten": n_tr,
            "leveringen": len(doc["leveringen"]), "seed": a.seed, "indent": a.indent,
            "bytes_per_traject": round(len(data) / max(n_tr, 1)),
            "generator": GENERATOR_VERSION}
    print(json.dumps(info), file=sys.stderr)
    rc = 0
    if a.check:
        rc = 0 if check_file(out, a.schema) else 1
        print("check: %s" % ("OK" if rc == 0 else "FAILED"), file=sys.stderr)
    if tmp:
        os.unlink(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
