#!/usr/bin/python3
"""Integration test of `ddas-worker serve` (POST /gegevens) with an
independent client: Python's ssl and http.client, the openssl command line
and python3-jsonschema, none of the project's code on the client side.

What it sets up, all on loopback: a throw-away PKI (tests/pki/make-pki),
kafka-mock (a real Kafka protocol peer), the CBS stub (the push side), an
RFC 7662 introspection endpoint written here (so the test controls and
counts its answers), `ddas-worker run` in cbs.mode = both over several
deliveries of one reporting period (one of them replacing an earlier one of
the same organisation) and deliveries that must not be served, then
`ddas-worker serve`.

What it checks (each a test_* function below, run in order):
  - paging reconciles: every record of the latest deliveries exactly once,
    none of the replaced delivery; each body valid against the OpenAPI
    response schema and the official JSON Schema; each signature verified
    by the openssl command line and by the core's verifier
    (`ddas-worker verify`); paginering present exactly when paged;
  - every error response of the OpenAPI (400 problem+json with its
    pointer, 401 with Fsc-Error-Code and WWW-Authenticate, 404, 405, 413,
    503 with Retry-After when introspection is down);
  - mutual TLS: no client certificate, an untrusted one, one not on
    serve.allow: the handshake fails;
  - token introspection: active, inactive, expired, wrong scope, cached;
  - signed requests: verified, a tampered one refused;
  - restart and a second instance: byte-identical answers.

Usage: test_serve.py --worker BIN --kafka-mock BIN --cbs-stub BIN
                     --source-dir DIR [--keep]
"""
import argparse
import base64
import copy
import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import jsonschema
import yaml

ARGS = None
TMP = None
PROCS = []
BSNS = set()  # of the generated deliveries: must never reach serve's log

ORG_A = "Gemeenschappelijke Kredietbank Regio A"
ORG_B = "Stichting Schuldhulp Regio B"
KVK_A, KVK_B = "12345678", "87654321"
PERIOD = ("2024-01-01", "2024-12-31")
OIN = "00000001234567890000"  # the transport certificate's serialNumber


def log(*a):
    print("test_serve:", *a, flush=True)


# ---- processes -------------------------------------------------------------

def start(cmd, name, **kw):
    out = open(os.path.join(TMP, name + ".log"), "wb")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=20):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("process did not stop within %ss" % timeout)
    return p.returncode


def wait_file(path, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                return f.read().strip()
        time.sleep(0.05)
    raise AssertionError("%s did not appear: %s" % (what, path))


# ---- the introspection endpoint (RFC 7662) -----------------------------------

class Introspection:
    """HTTPS endpoint answering from self.tokens; counts its calls."""

    def __init__(self, pki):
        self.tokens = {}
        self.calls = 0
        self.down = False
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = self.rfile.read(n).decode()
                outer.calls += 1
                auth = self.headers.get("Authorization", "")
                want = "Basic " + base64.b64encode(b"serve:introspect-secret").decode()
                if outer.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if auth != want:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fields = dict(kv.split("=", 1) for kv in form.split("&") if "=" in kv)
                ans = outer.tokens.get(fields.get("token"), {"active": False})
                body = json.dumps(ans).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(pki, "server-chain.pem"),
                            os.path.join(pki, "server.key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


# ---- deliveries ----------------------------------------------------------------

def delivery(name, trajecten, seed, org, kvk, delivered_at, period=PERIOD):
    """A generated SHV v1.0 delivery whose trajecten carry a unique tag in
    `omschrijving` (a free text CBS does not use), so records can be
    reconciled without looking at personal data."""
    path = os.path.join(TMP, name + ".json")
    subprocess.run([sys.executable, os.path.join(ARGS.source_dir, "bench", "gen_delivery.py"),
                    "--trajecten", str(trajecten), "--seed", str(seed),
                    "--gemeenten", "3", "-o", path], check=True)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["startdatumLevering"], doc["einddatumLevering"] = period
    doc["aanleverdatumEnTijd"] = delivered_at
    tags = []
    for lev in doc["leveringen"]:
        for t in lev["schuldhulptrajecten"]:
            for c in t.get("client", []):
                if c.get("Burgerservicenummer"):
                    BSNS.add(c["Burgerservicenummer"])
    for lev in doc["leveringen"]:
        lev["aanleverende_organisatie"]["(Statutaire) Naam"] = org
        lev["aanleverende_organisatie"]["KvK-nummer"] = kvk
        for i, t in enumerate(lev["schuldhulptrajecten"]):
            t["omschrijving"] = "%s-%d-%d" % (name, lev["teller"], i)
            tags.append(t["omschrijving"])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return path, tags


# ---- the client ------------------------------------------------------------------

def client_ctx(cert="transport", tls=None):
    ctx = ssl.create_default_context(cafile=os.path.join(TMP, "pki", "root.pem"))
    if cert:
        ctx.load_cert_chain(os.path.join(TMP, "pki", cert + "-chain.pem"),
                            os.path.join(TMP, "pki", cert + ".key"))
    if tls:
        ctx.minimum_version = ctx.maximum_version = tls
    return ctx


def post(port, path, body, token="tok-good-9f2c", headers=None, ctx=None, method="POST"):
    """One request on a new connection: (status, headers dict lower-case, body bytes)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx or client_ctx(),
                                       timeout=60)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    out = r.read()
    hs = {}
    for k, v in r.getheaders():
        hs.setdefault(k.lower(), v)
    conn.close()
    return r.status, hs, out


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def openssl_verify(headers, body):
    """Checks Digest and nlgov-adr-payload-sig of an answer with hashlib and
    the openssl command line only."""
    digest = headers["digest"]
    assert digest == "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(), \
        "Digest does not match the body"
    sig = headers["nlgov-adr-payload-sig"]
    prot, empty, s = sig.split(".")
    assert empty == "", "the payload is not detached"
    hdr = json.loads(b64url_decode(prot))
    assert hdr["alg"] == "PS256", hdr
    d = tempfile.mkdtemp(dir=TMP)
    cert = os.path.join(d, "cert.pem")
    with open(cert, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
        b = hdr["x5c"][0]
        f.write("\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n")
        f.write("-----END CERTIFICATE-----\n")
    subprocess.run(["openssl", "verify", "-CAfile", os.path.join(TMP, "pki", "root.pem"),
                    "-untrusted", os.path.join(TMP, "pki", "intermediate.pem"), cert],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out",
                    os.path.join(d, "pub.pem")], check=True)
    if hdr.get("b64") is False:  # the ADR profile: the digest header line is signed
        signing_input = prot.encode() + b"." + b"digest: " + digest.encode()
    else:
        signing_input = prot.encode() + b"." + base64.urlsafe_b64encode(body).rstrip(b"=")
    with open(os.path.join(d, "input"), "wb") as f:
        f.write(signing_input)
    with open(os.path.join(d, "sig"), "wb") as f:
        f.write(b64url_decode(s))
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss",
                        "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256",
                        "-verify", os.path.join(d, "pub.pem"), "-signature",
                        os.path.join(d, "sig"), os.path.join(d, "input")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr
    shutil.rmtree(d)


def core_verify(headers, body):
    """The same answer through the core's verifier (ddas-worker verify)."""
    path = os.path.join(TMP, "answer.json")
    with open(path, "wb") as f:
        f.write(body)
    r = subprocess.run([ARGS.worker, "verify", "--trust", os.path.join(TMP, "pki", "root.pem"),
                        "--digest", headers["digest"],
                        "--signature", headers["nlgov-adr-payload-sig"], path],
                       capture_output=True, text=True)
    assert r.returncode == 0, "core verifier: " + r.stdout + r.stderr
    return r.stdout


class Schemas:
    def __init__(self):
        spec = os.path.join(ARGS.source_dir, "docs", "spec")
        with open(os.path.join(spec, "openapi-DDAS-SHV.yaml")) as f:
            api = yaml.safe_load(f)
        comp = api["components"]["schemas"]
        resp = api["paths"]["/gegevens"]["post"]["responses"]
        ok = copy.deepcopy(resp["200"]["content"]["application/json"]["schema"])
        # the response schema with its references resolved here
        ok["properties"]["gegevens"] = {}  # checked against the official schema below
        ok["properties"]["paginering"] = {"allOf": [comp["Paginering"]]}
        ok["additionalProperties"] = False
        self.response = ok
        self.problem = comp["ProblemDetails"]
        self.fsc = comp["FscError"]
        self.docs = {}
        for kind, name in (("shv", "shv-v1.0.json"), ("vs", "vs-v0.9.json")):
            with open(os.path.join(ARGS.source_dir, "config", "schemas", name)) as f:
                self.docs[kind] = json.load(f)

    def check(self, kind, body):
        doc = json.loads(body)
        jsonschema.Draft202012Validator(self.response).validate(doc)
        jsonschema.Draft202012Validator(
            self.docs[kind], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(doc["gegevens"])
        return doc


# ---- the environment -----------------------------------------------------------------

class Env:
    pass


def setup():
    e = Env()
    pki = os.path.join(TMP, "pki")
    os.mkdir(pki)
    subprocess.run([os.path.join(ARGS.source_dir, "tests", "pki", "make-pki"), pki],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    e.intro = Introspection(pki)
    now = int(time.time())
    e.intro.tokens = {
        "tok-good-9f2c": {"active": True, "exp": now + 3600, "scope": "read", "client_id": "cbs"},
        "tok-inactive-41d7": {"active": False},
        "tok-expired-8b3e": {"active": True, "exp": now - 60, "scope": "read"},
        "tok-noscope-2a90": {"active": True, "exp": now + 3600, "scope": "write"},
    }
    bfile = os.path.join(TMP, "bootstrap")
    topics = []
    for t in ("deliveries", "rejections", "receipts", "failed", "accepted"):
        topics += ["--topic", "ddas.%s:3" % t]
    e.kafka = subprocess.Popen([ARGS.kafka_mock, "--bootstrap-file", bfile] + topics,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(TMP, "kafka.log"), "wb"))
    PROCS.append(e.kafka)
    e.bootstrap = wait_file(bfile, "kafka-mock bootstrap")
    stub_port = os.path.join(TMP, "stub.port")
    start([ARGS.cbs_stub, "--listen", "127.0.0.1:0",
           "--cert", os.path.join(pki, "server-chain.pem"), "--key", os.path.join(pki, "server.key"),
           "--client-ca", os.path.join(pki, "root.pem"), "--trust", os.path.join(pki, "root.pem"),
           "--schema-dir", os.path.join(ARGS.source_dir, "config", "schemas"),
           "--record-dir", os.path.join(TMP, "cbs"), "--client-id", "w", "--client-secret", "s",
           "--port-file", stub_port, "--quiet"], "stub")
    e.stub_port = wait_file(stub_port, "cbs-stub port")
    with open(os.path.join(TMP, "introspect.secret"), "w") as f:
        f.write("introspect-secret\n")
    os.chmod(os.path.join(TMP, "introspect.secret"), 0o600)
    e.conf = os.path.join(TMP, "worker.conf")
    write_conf(e, e.conf)
    return e


def write_conf(e, path, extra=""):
    pki = os.path.join(TMP, "pki")
    with open(path, "w") as f:
        f.write("""kafka.bootstrap.servers = {b}
cbs.mode = both
cbs.url = https://127.0.0.1:{sp}/gegevens
cbs.token_url = https://127.0.0.1:{sp}/token
cbs.client_id = w
cbs.client_secret = s
cbs.ca = {pki}/root.pem
cbs.cert = {pki}/transport-chain.pem
cbs.key = {pki}/transport.key
sign.cert = {pki}/signing-chain.pem
sign.key = {pki}/signing.key
rules.profile = spec
batch.max_records = 25
log.format = json
log.level = info
serve.listen = 127.0.0.1:0
serve.cert = {pki}/server-chain.pem
serve.key = {pki}/server.key
serve.client_ca = {pki}/root.pem
serve.introspection_url = https://127.0.0.1:{ip}/introspect
serve.introspection_ca = {pki}/root.pem
serve.introspection_client_id = serve
serve.introspection_client_secret_file = {tmp}/introspect.secret
serve.spool_dir = {tmp}
""".format(b=e.bootstrap, sp=e.stub_port, pki=pki, ip=e.intro.port, tmp=TMP) + extra)


def run_worker(e, files):
    args = [ARGS.worker, "run", "-c", e.conf, "--until-idle"]
    for f in files:
        args += ["--submit", f]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    with open(os.path.join(TMP, "run.log"), "ab") as f:
        f.write(r.stdout)
    assert r.returncode == 0, "run failed: %s" % r.stdout[-3000:].decode(errors="replace")


def start_serve(e, name="serve", conf=None):
    pf = os.path.join(TMP, name + ".port")
    if os.path.exists(pf):
        os.unlink(pf)
    p = start([ARGS.worker, "serve", "-c", conf or e.conf, "--port-file", pf], name)
    port = int(wait_file(pf, name + " port"))
    end = time.time() + 60
    while True:  # 503 until the index has read topic.accepted
        st, hs, _ = post(port, "/gegevens", {"pageSize": 1})
        if st != 503:
            break
        assert "retry-after" in hs, hs
        assert time.time() < end, "serve stayed at 503"
        time.sleep(0.2)
    return p, port


# ---- the tests -----------------------------------------------------------------------

def page_all(port, kind, req, schemas, verify=True):
    """Pages through an answer; returns (pages' bodies, records' tags)."""
    bodies, tags, page = [], [], 1
    total_pages = None
    while True:
        r = dict(req, page=page)
        st, hs, body = post(port, "/gegevens" if kind == "shv" else "/vs/gegevens", r)
        assert st == 200, (st, body[:500])
        assert hs["content-type"].startswith("application/json")
        doc = schemas.check(kind, body)
        if verify:
            openssl_verify(hs, body)
        bodies.append(body)
        pg = doc.get("paginering")
        levs = doc["gegevens"]["leveringen"]
        assert [l["teller"] for l in levs] == list(range(1, len(levs) + 1))
        for l in levs:
            for t in l.get("schuldhulptrajecten", l.get("vroegsignalen", [])):
                tags.append(t.get("omschrijving") or t.get("ID"))
        if pg is None:
            assert page == 1 and total_pages is None
            return bodies, tags, doc
        assert pg["currentPage"] == page and pg["pageSize"] == req["pageSize"]
        if total_pages is None:
            total_pages = pg["totalPages"]
            total = pg["totalRecords"]
            assert total_pages > 1 and total_pages == -(-total // req["pageSize"])
        assert pg["totalPages"] == total_pages
        n = sum(len(l.get("schuldhulptrajecten", l.get("vroegsignalen", []))) for l in levs)
        assert n == (req["pageSize"] if page < total_pages else total - req["pageSize"] * (page - 1))
        if page == total_pages:
            assert len(tags) == total
            return bodies, tags, doc
        page += 1


def test_paging_reconciles(e):
    req = {"aanleverperiodeStartdatum": PERIOD[0], "aanleverperiodeEinddatum": PERIOD[1],
           "pageSize": 40}
    bodies, tags, _ = page_all(e.port, "shv", req, e.schemas)
    assert len(tags) == len(set(tags)), "a record appears twice"
    want = e.tags["a2"] + e.tags["b1"]
    assert sorted(tags) == sorted(want), "served %d records, expected %d; missing %s extra %s" % (
        len(tags), len(want), sorted(set(want) - set(tags))[:5], sorted(set(tags) - set(want))[:5])
    assert not set(tags) & set(e.tags["a1"]), "a record of the replaced delivery was served"
    assert not set(tags) & set(e.tags["a3"]), "a record of another period was served"
    core_verify(*e.first_page(bodies))
    e.pages = bodies
    # one organisation, by name and by KvK number: the same records
    for org in (ORG_B, KVK_B):
        _, t, _ = page_all(e.port, "shv", dict(req, aanleverende_organisatie=org, pageSize=25000),
                           e.schemas, verify=False)
        assert sorted(t) == sorted(e.tags["b1"]), org
    # the other period, requested on its own; a window that holds no period
    _, t, _ = page_all(e.port, "shv", {"aanleverperiodeStartdatum": "2025-01-01"}, e.schemas,
                       verify=False)
    assert sorted(t) == sorted(e.tags["a3"])
    st, _, body = post(e.port, "/gegevens", {"aanleverperiodeStartdatum": "2024-02-01",
                                            "aanleverperiodeEinddatum": "2024-11-30"})
    assert st == 404 and json.loads(body)["status"] == 404, (st, body)
    log("paging: %d pages, %d records reconciled" % (len(bodies), len(tags)))


def test_vs(e):
    _, tags, doc = page_all(e.port, "vs", {"pageSize": 50000}, e.schemas)
    assert tags and len(tags) == len(set(tags))
    levs = doc["gegevens"]["leveringen"]
    ids = {s["ID"] for l in levs for s in l["vroegsignalen"]}
    for l in levs:
        for z in l.get("vroegsignaalzaken", []):
            for ref in z.get("vroegsignalen", []):
                assert ref["ID"] in ids, "a zaak refers to a signal that is not served"


def expect_problem(e, body, status, type_end, pointer=None, path="/gegevens", **kw):
    st, hs, out = post(e.port, path, body, **kw)
    assert st == status, (body, st, out[:300])
    assert hs["content-type"].startswith("application/problem+json"), hs
    doc = json.loads(out)
    jsonschema.Draft202012Validator(e.schemas.problem).validate(doc)
    assert doc["status"] == status and doc["type"].endswith(type_end), doc
    if pointer is not None:
        assert doc.get("pointer") == pointer, doc
    return doc


def test_request_errors(e):
    expect_problem(e, {"onbekend": 1}, 400, "unknown-member", "/onbekend")
    expect_problem(e, {"aanleverperiodeStartdatum": "2024-02-30"}, 400, "invalid-date",
                   "/aanleverperiodeStartdatum")
    expect_problem(e, {"aanleverperiodeStartdatum": "2024-12-01",
                       "aanleverperiodeEinddatum": "2024-01-01"}, 400, "invalid-period")
    expect_problem(e, {"page": 0}, 400, "invalid-page", "/page")
    expect_problem(e, {"pageSize": 0}, 400, "invalid-page", "/pageSize")
    expect_problem(e, {"page": 1.5}, 400, "invalid-page", "/page")
    expect_problem(e, {"pageSize": 25001}, 400, "page-size-too-large", "/pageSize")
    expect_problem(e, {"pageSize": 50001}, 400, "page-size-too-large", "/pageSize",
                   path="/vs/gegevens")
    st, _, _ = post(e.port, "/vs/gegevens", {"pageSize": 50000})
    assert st == 200, st
    expect_problem(e, {"page": 99, "pageSize": 40}, 400, "page-out-of-range", "/page")
    expect_problem(e, b"{not json", 400, "invalid-json")
    log("request errors: ok")


def expect_fsc(e, status, code, path="/gegevens", method="POST", **kw):
    st, hs, out = post(e.port, path, {}, method=method, **kw)
    assert st == status, (st, out[:300])
    assert hs.get("fsc-error-code") == code, hs
    doc = json.loads(out)
    jsonschema.Draft202012Validator(e.schemas.fsc).validate(doc)
    assert doc["code"] == code
    return hs


def test_fsc_errors(e):
    expect_fsc(e, 404, "ERROR_CODE_SERVICE_NOT_FOUND", path="/elders")
    hs = expect_fsc(e, 405, "ERROR_CODE_METHOD_UNSUPPORTED", method="GET")
    assert hs.get("allow") == "POST"
    hs = expect_fsc(e, 401, "ERROR_CODE_ACCESS_TOKEN_MISSING", token=None)
    assert hs["www-authenticate"].startswith("Bearer")
    for tok, code in (("tok-inactive-41d7", "ERROR_CODE_ACCESS_TOKEN_INVALID"),
                      ("tok-unknown-77e1", "ERROR_CODE_ACCESS_TOKEN_INVALID"),
                      ("tok-noscope-2a90", "ERROR_CODE_ACCESS_TOKEN_INVALID"),
                      ("tok-expired-8b3e", "ERROR_CODE_ACCESS_TOKEN_EXPIRED")):
        hs = expect_fsc(e, 401, code, token=tok)
        assert hs["www-authenticate"].startswith("Bearer"), hs
    # a large body: 413 without reading it
    st, _, _ = post(e.port, "/gegevens", b"{" + b" " * (70 * 1024) + b"}")
    assert st == 413, st
    log("FSC errors and 413: ok")


def test_introspection_cache_and_outage(e):
    before = e.intro.calls
    for _ in range(3):
        assert post(e.port, "/gegevens", {"pageSize": 1})[0] == 200
    assert e.intro.calls == before, "a cached active token was introspected again"
    e.intro.down = True
    try:
        st, hs, _ = post(e.port, "/gegevens", {"pageSize": 1}, token="tok-fresh-c05b")
        assert st == 503 and int(hs["retry-after"]) > 0, (st, hs)
    finally:
        e.intro.down = False
    log("introspection: cache and outage ok")


def expect_handshake_failure(e, port, ctx, what):
    try:
        st, _, _ = post(port, "/gegevens", {"pageSize": 1}, ctx=ctx)
    except ConnectionRefusedError:
        raise AssertionError("%s: nothing listens on port %d" % (what, port))
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return  # the TCP connection was accepted, the TLS handshake refused
    raise AssertionError("%s: got HTTP %s instead of a failed handshake" % (what, st))


def test_mtls(e):
    expect_handshake_failure(e, e.port, client_ctx(cert=None), "no client certificate")
    expect_handshake_failure(e, e.port, client_ctx(cert="rogue-transport"), "untrusted client")
    expect_handshake_failure(e, e.port, client_ctx(tls=ssl.TLSVersion.TLSv1_1), "TLS 1.1")
    conf = os.path.join(TMP, "allow.conf")
    write_conf(e, conf, "serve.allow = oin:99999999999999999999; CN=someone else\n")
    p, port = None, None
    pf = os.path.join(TMP, "allow.port")
    p = start([ARGS.worker, "serve", "-c", conf, "--port-file", pf], "serve-allow")
    port = int(wait_file(pf, "serve-allow port"))
    expect_handshake_failure(e, port, client_ctx(), "client not on serve.allow")
    assert stop(p) == 0, "serve did not stop cleanly (exit %s)" % p.returncode
    write_conf(e, conf, "serve.allow = oin:%s\n" % OIN)
    os.unlink(pf)
    p = start([ARGS.worker, "serve", "-c", conf, "--port-file", pf], "serve-allow2")
    port = int(wait_file(pf, "serve-allow2 port"))
    end = time.time() + 30
    while post(port, "/gegevens", {"pageSize": 1})[0] == 503 and time.time() < end:
        time.sleep(0.2)
    assert post(port, "/gegevens", {"pageSize": 1})[0] == 200
    assert stop(p) == 0, "serve did not stop cleanly (exit %s)" % p.returncode
    log("mutual TLS: ok")


def sign_request(body, key, chain):
    """A signed request (ADR profile) made with the openssl command line."""
    certs = []
    with open(chain) as f:
        cur = None
        for line in f:
            if "BEGIN CERT" in line:
                cur = []
            elif "END CERT" in line:
                certs.append("".join(cur))
                cur = None
            elif cur is not None:
                cur.append(line.strip())
    der = base64.b64decode(certs[0])
    x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    hdr = {"alg": "PS256", "typ": "JOSE", "kid": x5t, "x5c": certs, "x5t#S256": x5t,
           "iat": int(time.time()), "b64": False, "crit": ["b64", "sigD"],
           "sigD": {"mId": "http://uri.etsi.org/19182/HttpHeaders", "pars": ["digest"]}}
    prot = base64.urlsafe_b64encode(json.dumps(hdr, separators=(",", ":")).encode()).rstrip(b"=")
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    inp = os.path.join(TMP, "sig.in")
    with open(inp, "wb") as f:
        f.write(prot + b".digest: " + digest.encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss",
                          "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256",
                          "-sign", key, inp], check=True, capture_output=True).stdout
    return {"Digest": digest,
            "nlgov-adr-payload-sig": prot.decode() + ".." +
            base64.urlsafe_b64encode(sig).rstrip(b"=").decode()}


def test_signed_requests(e):
    pki = os.path.join(TMP, "pki")
    body = json.dumps({"pageSize": 5}).encode()
    h = sign_request(body, os.path.join(pki, "signing.key"), os.path.join(pki, "signing-chain.pem"))
    st, _, out = post(e.port, "/gegevens", body, headers=h)
    assert st == 200, (st, out[:300])
    doc = expect_problem(e, json.dumps({"pageSize": 6}).encode(), 400, "invalid-signature",
                         headers=h)
    assert "Digest" in doc["detail"], doc
    h = sign_request(body, os.path.join(pki, "rogue.key"), os.path.join(pki, "rogue-chain.pem"))
    expect_problem(e, body, 400, "invalid-signature", headers=h)
    log("signed requests: ok")


def test_restart_and_second_instance(e):
    # SIGTERM: a clean stop, exit 0 (under ASan also: no leak, no error)
    assert stop(e.serve) == 0, "serve did not stop cleanly (exit %s)" % e.serve.returncode
    e.serve, e.port = start_serve(e, "serve-restarted")
    p2, port2 = start_serve(e, "serve-second")
    req = {"aanleverperiodeStartdatum": PERIOD[0], "aanleverperiodeEinddatum": PERIOD[1],
           "pageSize": 40}
    for port in (e.port, port2):
        again, _, _ = page_all(port, "shv", req, e.schemas, verify=False)
        assert again == e.pages, "answers differ after a restart or on another instance"
    assert stop(p2) == 0 and stop(e.serve) == 0, "serve did not stop cleanly"
    log("restart and second instance: byte-identical answers")


def main():
    global ARGS, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--kafka-mock", required=True)
    ap.add_argument("--cbs-stub", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--keep", action="store_true")
    ARGS = ap.parse_args()
    TMP = tempfile.mkdtemp(prefix="test_serve.")
    ok = False
    try:
        e = setup()
        e.schemas = Schemas()
        e.first_page = lambda bodies: (post_headers_of(e, bodies[0]), bodies[0])
        files, e.tags = [], {}
        for name, n, seed, org, kvk, at, period in (
                ("a2", 110, 2, ORG_A, KVK_A, "2025-02-01T09:00:00+01:00", PERIOD),
                ("a1", 130, 1, ORG_A, KVK_A, "2025-01-15T10:00:00Z", PERIOD),
                ("b1", 70, 3, ORG_B, KVK_B, "2025-01-20T10:00:00Z", PERIOD),
                ("a3", 30, 4, ORG_A, KVK_A, "2026-01-10T10:00:00Z", ("2025-01-01", "2025-12-31"))):
            f, e.tags[name] = delivery(name, n, seed, org, kvk, at, period)
            files.append(f)
        files.append(os.path.join(ARGS.source_dir, "config", "examples", "vs-v0.9-enkelvoudig.json"))
        run_worker(e, files)
        e.serve, e.port = start_serve(e)
        for t in (test_paging_reconciles, test_vs, test_request_errors, test_fsc_errors,
                  test_introspection_cache_and_outage, test_mtls, test_signed_requests,
                  test_restart_and_second_instance):
            log("--", t.__name__)
            t(e)
        # personal data never in the logs of serve
        assert len(BSNS) > 100, "the deliveries should hold BSNs to look for"
        for name in os.listdir(TMP):
            if (name.startswith("serve") or name == "run.log") and name.endswith(".log"):
                with open(os.path.join(TMP, name), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for secret in ("tok-", "introspect-secret"):
                    assert secret not in text, "%s in %s" % (secret, name)
                leaked = [b for b in BSNS if b in text]
                assert not leaked, "%d BSNs in %s" % (len(leaked), name)
                assert "serve.answered" in text or name != "serve.log", name
        ok = True
        log("PASS")
    except Exception:
        traceback.print_exc()
        log("FAIL; logs in", TMP)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if ok and not ARGS.keep:
            shutil.rmtree(TMP, ignore_errors=True)
    return 0 if ok else 1


def post_headers_of(e, body):
    """The headers of the answer whose body is `body` (asked again: the
    body is deterministic, so the same request gives the same bytes)."""
    req = {"aanleverperiodeStartdatum": PERIOD[0], "aanleverperiodeEinddatum": PERIOD[1],
           "pageSize": 40, "page": 1}
    st, hs, again = post(e.port, "/gegevens", req)
    assert st == 200 and again == body, "page 1 differs when asked again"
    return hs


if __name__ == "__main__":
    sys.exit(main())
