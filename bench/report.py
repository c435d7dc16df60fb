#!/usr/bin/python3
"""report.py: writes bench/RESULTS.md and the chart bench/results.png.

Usage (bench/run-all calls it; run with /usr/bin/python3, which has
Debian's python3-matplotlib):

  report.py --machine machine.json --commands commands.txt
            [--validate results-validate.jsonl] [--e2e results-e2e.jsonl]
            [--fuzz fuzz.log] [--diff diff.log] [--faults faults.md]
            [--faults-status N] [--quick] [--title-cmd "bench/run-all ..."]
            --out bench/RESULTS.md --png bench/results.png

The targets (issues 7 and 14) are fixed here, not tuned: validation in
process (schema + rules + normalisation + batches) >= 2x ajv's throughput
on the 40 MB delivery; as whole processes, `ddas-worker validate --profile
strict` >= 4x faster than ajv's command line on it, with a peak RSS <= 3x
the input; end to end with one worker >= 25 % of kcat's raw consume rate on
the same data; peak RSS for a 25,000-trajecten batch <= 3x its body size.
"""

import argparse
import json
import os
import re
import sys


def load_jsonl(path):
    if not path or not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


def md_table(head, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return out


def fmt_int(x):
    return "{:,}".format(int(round(x)))


TOOLS = [
    ("ddas", "ddas, full path (schema + rules + normalisation + batches)"),
    ("ddas-schema", "ddas, schema only"),
    ("ajv", "ajv (node), schema only"),
    ("python-jsonschema", "python3-jsonschema (Debian), schema only"),
]


SHORT = {"ddas": "ddas, full path", "ddas-schema": "ddas, schema only", "ajv": "ajv (node)",
         "python-jsonschema": "python3-jsonschema"}


def tool_key(r):
    if r["tool"] == "ddas" and r.get("mode") == "schema":
        return "ddas-schema"
    return r["tool"]


def whole_process_section(rows, md):
    rows = [r for r in rows if r.get("mode") == "whole-process"]
    if not rows:
        return {}
    t = {r["tool"]: r for r in rows}
    r0 = rows[0]
    md += ["## Validation as whole processes", ""]
    md += ["`ddas-worker validate --profile strict` against an ajv command line "
           "(`bench/ajv/validate-cli.mjs`: node start-up, loading ajv 8 and ajv-formats, "
           "compiling the schema, reading, decoding and `JSON.parse` of the file, "
           "`validate()`, exit) on the same %.0f MB delivery, one after the other in each "
           "of %d rounds after an untimed warm-up round (both must exit 0, valid); what a "
           "person or a script calling either tool waits for (`bench/whole_process.py`: "
           "wall time around fork and wait, CPU time and peak RSS from the child's "
           "rusage). Medians; load average %s at the start, %s at the end." % (
               r0["bytes"] / 1e6, r0["runs"], " ".join(map(str, r0.get("load_before", []))),
               " ".join(map(str, r0.get("load_after", [])))), ""]
    out = []
    for k, name in (("ddas-cli", "ddas-worker validate --profile strict"),
                    ("ajv-cli", "ajv command line (node)")):
        if k in t:
            x = t[k]
            out.append([name, "%.3f (%.3f)" % (x["median_s"], x["min_s"]), "%.3f" % x["cpu_median_s"],
                        "%.1f MB (largest %.1f)" % (x["peak_rss_kib"] * 1024 / 1e6,
                                                    x["peak_rss_max_kib"] * 1024 / 1e6),
                        "%.2fx" % x["rss_over_input"]])
    md += md_table(["process", "wall s, median (min)", "CPU s (user + system)", "peak RSS",
                    "peak RSS / input"], out)
    if "ddas-cli" in t and "ajv-cli" in t:
        md += ["", "ajv / ddas: %.2fx wall time, %.2fx CPU time." % (
            t["ajv-cli"]["median_s"] / t["ddas-cli"]["median_s"],
            t["ajv-cli"]["cpu_median_s"] / t["ddas-cli"]["cpu_median_s"])]
    md += ["", "`validate` maps the file (populated in one call), parses it into a tree in "
           "huge-page chunks, and counts the normalisations N3-N6 without building batch "
           "bodies (it needs them only for `--normalised-out`). Node's start-up, module "
           "loading and schema compilation are part of ajv's time, as they are of every "
           "call of an ajv command line.", ""]
    return t


def validation_section(rows, md):
    files, by = [], {}
    rows = [r for r in rows if r.get("mode") != "whole-process"]
    for r in rows:
        if r["file"] not in by:
            by[r["file"]] = {}
            files.append(r["file"])
        by[r["file"]][tool_key(r)] = r
    md += ["## Validation throughput", ""]
    if not rows:
        md += ["Not run.", ""]
        return by, files
    md += ["Same generated SHV v1.0 files (`bench/gen_delivery.py`, 2-space indentation, "
           "about 2.75 KB per traject), same run, one thread each; each file read into "
           "memory once, schema compiled once, one untimed warm-up (it also checks the "
           "verdict is \"valid\"), then timed runs; the **median** is reported, with the "
           "number of timed runs in brackets. MB = 10^6 bytes.", ""]
    head = ["file", "trajecten"] + ["%s MB/s (runs)" % k for k, _ in TOOLS] + \
        ["ddas full / ajv", "ddas schema / ajv", "ddas full / python"]
    out = []
    for f in files:
        t = by[f]
        any_ = next(iter(t.values()))
        cells = ["%.0f MB (%s bytes)" % (any_["bytes"] / 1e6, fmt_int(any_["bytes"])),
                 fmt_int(any_["trajecten"])]
        for k, _ in TOOLS:
            cells.append("%.1f (%d)" % (t[k]["mb_per_s"], t[k]["runs"]) if k in t else "not run")
        def ratio(a, b):
            return "%.2fx" % (t[a]["mb_per_s"] / t[b]["mb_per_s"]) if a in t and b in t else "-"
        cells += [ratio("ddas", "ajv"), ratio("ddas-schema", "ajv"), ratio("ddas", "python-jsonschema")]
        out.append(cells)
    md += md_table(head, out)
    md += [""]
    head = ["file"] + ["%s trajecten/s" % k for k, _ in TOOLS]
    out = []
    for f in files:
        t = by[f]
        any_ = next(iter(t.values()))
        out.append(["%.0f MB" % (any_["bytes"] / 1e6)] +
                   [fmt_int(t[k]["trajecten_per_s"]) if k in t else "not run" for k, _ in TOOLS])
    md += md_table(head, out)
    md += [""]
    py = [r for r in rows if r["tool"] == "python-jsonschema"]
    runs = sorted({r["runs"] for r in rows if r["tool"] != "python-jsonschema"})
    slow = ""
    if py and files and "ajv" in by[files[0]] and "python-jsonschema" in by[files[0]]:
        slow = " (%.0fx slower than ajv here)" % (
            by[files[0]]["ajv"]["mb_per_s"] / by[files[0]]["python-jsonschema"]["mb_per_s"])
    md += ["Run counts: ddas and ajv %s timed runs per file; python3-jsonschema is much "
           "slower%s, so its runs per file were planned from its speed on the smallest "
           "file (a budget of timed seconds per file, or fixed with --python-runs): %s. "
           "Fewer runs make its median less certain, not biased." % (
               "/".join(map(str, runs)) or "-", slow,
               ", ".join("%.0f MB: %d" % (r["bytes"] / 1e6, r["runs"]) for r in py) or "not run"), ""]
    fa = py[0] if py else {}
    md += ["What each tool does per timed run, and which `format`s it asserts (the schema "
           "uses `date`, `date-time`, `time` and `email`):", ""]
    md += md_table(["tool", "timed", "formats asserted"], [
        ["ddas full (`bench_validate`)",
         "strict RFC 8259 parse of the raw bytes (UTF-8, duplicate names, depth, numbers), "
         "N1/N2, kind/version detection, JSON Schema, business rules (profile strict), "
         "writing every accepted record into batches with normalisations N3-N6, freeing",
         "date, date-time, time, email (RFC 3339 / RFC 5321, strict)"],
        ["ddas schema (`bench_validate --schema-only`)",
         "the same parse, detection and JSON Schema; no rules, no normalisation, no batches",
         "date, date-time, time, email (strict)"],
        ["ajv (`bench/ajv/validate.mjs`)",
         "`Buffer.toString('utf8')`, `JSON.parse`, `validate()` (ajv 8 draft 2020-12, "
         "allErrors); forced GC before each run, outside the timing",
         "date, date-time, time, email (ajv-formats, \"full\" mode)"],
        ["python3-jsonschema (`bench/jsonschema_validate.py`)",
         "strict UTF-8 decode, `json.loads`, `list(Draft202012Validator.iter_errors())` "
         "with the class's FORMAT_CHECKER; `gc.collect()` before each run, outside the timing",
         "%s only (date via `datetime.date.fromisoformat`, email only needs an `@`); "
         "not asserted: %s (Debian 12 has no rfc3339-validator package, which "
         "jsonschema needs for them)" % (
             ", ".join(fa.get("formats_asserted", ["?"])),
             ", ".join(fa.get("formats_not_asserted", ["?"])))],
    ], ["---", "---", "---"])
    md += ["", "The issue's comparison is ddas's full path against ajv's schema-only "
           "validation: ddas does strictly more work per document (rules, normalisation, "
           "batch writing). The schema-only column is the like-for-like comparison. "
           "ajv's V8 may use helper threads for GC; the others are strictly one thread.", ""]
    return by, files


def e2e_section(rows, md, quick, rdkafka="?"):
    e2e = [r for r in rows if r["kind"] == "e2e"]
    md += ["## End-to-end throughput and scaling", ""]
    if not e2e:
        md += ["Not run.", ""]
        return e2e
    md += ["Trajecten per second from `ddas.deliveries` (kafka-mock: librdkafka %s's mock "
           "cluster, 3 brokers, loopback) to the CBS stub's acknowledgement over HTTPS "
           "(mutual TLS, OAuth2, PS256-signed batches; the stub verifies signature and "
           "schema and fsyncs every accepted batch to disk), profile strict, all "
           "normalisations. Deliveries are compact JSON (`--indent 0`, about 1.5 KB per "
           "traject), submitted beforehand with `ddas-worker submit` (chunks of at most "
           "900,000 bytes), so the whole row is a backlog when the workers start. Worker "
           "rates use the worker's busy time (first message to last outcome: the group "
           "join and the 1.5 s idle wait are not counted; with 2 workers the longer of "
           "the two); kcat's rate is its wall time, start-up included, reading the same "
           "messages (`kcat -C -e -o beginning`, partition/size/key printed, not the "
           "payload)." % rdkafka, ""]
    head = ["trajecten", "input", "deliveries x trajecten", "partitions",
            "1 worker (traj/s)", "2 workers (traj/s)", "kcat raw (traj/s)",
            "1 worker / kcat", "2 workers / 1", "peak RSS, 1 worker", "peak RSS, 2 workers (max)"]
    out = []
    for r in e2e:
        t = r["trajecten"]
        tps = lambda s: t / s if s else 0.0
        t1, t2, tk = tps(r["w1_busy_s"]), tps(r["w2_busy_s"]), tps(r["kcat_s"])
        if not r["accounted"]:
            out.append([fmt_int(t), "%.1f MB" % (r["bytes"] / 1e6),
                        "%d x %s" % (r["deliveries"], fmt_int(r["per_delivery"])), r["partitions"]] +
                       ["**row lost records: rates invalid** (see the accounting)"] + [""] * 4 +
                       ["%.0f MiB" % (r["w1_rss_kib"] / 1024), "%.0f MiB" % (r["w2_rss_kib"] / 1024)])
            continue
        out.append([fmt_int(t), "%.1f MB" % (r["bytes"] / 1e6),
                    "%d x %s" % (r["deliveries"], fmt_int(r["per_delivery"])),
                    r["partitions"], fmt_int(t1), fmt_int(t2), fmt_int(tk),
                    "%.1f%%" % (100 * t1 / tk) if tk else "-",
                    "%.2fx" % (t2 / t1) if t1 else "-",
                    "%.0f MiB" % (r["w1_rss_kib"] / 1024), "%.0f MiB" % (r["w2_rss_kib"] / 1024)])
    md += md_table(head, out)
    md += ["", "Cost per traject (1 worker): " + ", ".join(
        "%s: %.1f µs" % (fmt_int(r["trajecten"]), 1e6 * r["w1_busy_s"] / r["trajecten"])
        for r in e2e if r["w1_busy_s"] and r["accounted"]) + ".", ""]
    md += ["Accounting (kafka-mock deletes the oldest message sets of a partition beyond "
           "5 MiB, so deliveries are placed %s: every row must show the same number "
           "everywhere):" % "round-robin over enough partitions by choosing their delivery ids (`bench/e2e_place.py`); kcat checks that each message is on its planned partition", ""]
    head = ["trajecten", "messages submitted", "messages read by kcat",
            "largest partition", "1 worker: records / accepted / incomplete",
            "stub: records accepted after 1 worker", "2 workers: records (split) / incomplete",
            "stub: records received by both runs", "every record accounted"]
    out = []
    for r in e2e:
        out.append([fmt_int(r["trajecten"]), fmt_int(r["submitted_messages"]),
                    "%s%s" % (fmt_int(r["kcat_messages"]),
                              " (%d misplaced, %d deliveries missing)" % (r["kcat_misplaced"], r["kcat_missing_deliveries"])
                              if r["kcat_misplaced"] or r["kcat_missing_deliveries"] else ""),
                    "%.2f MiB of 5 MiB" % (r["max_partition_bytes"] / 1048576),
                    "%s / %s / %d" % (fmt_int(r["w1_records"]), fmt_int(r["w1_accepted"]), r["w1_incomplete"]),
                    fmt_int(r["stub1_records"]),
                    "%s (%s) / %d" % (fmt_int(r["w2_records"]), r["w2_split"], r["w2_incomplete"]),
                    fmt_int(r["stub2_records"]),
                    "yes" if r["accounted"] else "**NO**"])
    md += md_table(head, out)
    md += ["", "With 2 workers, records above the row's count were processed twice after "
           "a rebalance (same batch ids, sent again with the same `Idempotency-Key`: the "
           "stub counts them once).", ""]
    cpu_table(e2e, md)
    return e2e


def cpu_table(e2e, md):
    """Where the machine's CPU went in each row: the worker(s), the CBS stub
    and kafka-mock, in CPU seconds (user + system) over the run, and their
    sum against all cores for the busy time. Near 100% the rates are bounded
    by the machine, not by the worker."""
    rows = [r for r in e2e if "w1_cpu_s" in r and r["accounted"]]
    if not rows:
        return
    cores = os.cpu_count() or 1
    md += ["CPU seconds (user + system) during each run, and their sum as a share of "
           "the %d cores over the busy time: the stub verifies, validates and fsyncs every "
           "batch and kafka-mock serves the fetches on the same machine, so near 100%% the "
           "rates say what the machine can do, not what one worker can." % cores, ""]
    out = []
    for r in rows:
        def share(w, st, mk, busy):
            return "%.0f%%" % (100 * (w + st + mk) / (cores * busy)) if busy else "-"
        out.append([fmt_int(r["trajecten"]),
                    "%.1f / %.1f / %.1f" % (r["w1_cpu_s"], r["stub1_cpu_s"], r["mock1_cpu_s"]),
                    share(r["w1_cpu_s"], r["stub1_cpu_s"], r["mock1_cpu_s"], r["w1_busy_s"]),
                    "%.1f / %.1f / %.1f" % (r["w2_cpu_s"], r["stub2_cpu_s"], r["mock2_cpu_s"]),
                    share(r["w2_cpu_s"], r["stub2_cpu_s"], r["mock2_cpu_s"], r["w2_busy_s"])])
    md += md_table(["trajecten", "1 worker: worker / stub / kafka-mock CPU s",
                    "of %d cores" % cores, "2 workers: workers / stub / kafka-mock CPU s",
                    "of %d cores" % cores], out)
    md += [""]


def latency_section(rows, md):
    lat = sorted((r for r in rows if r["kind"] == "latency"), key=lambda r: r["delay_ms"])
    md += ["## A slow CBS: one worker, CBS answering after 0, 20 and 100 ms", ""]
    if not lat:
        md += ["Not run.", ""]
        return lat
    base = [r for r in lat if r["delay_ms"] == 0 and r["busy_s"]]
    md += ["The same deliveries (%d x %s trajecten) through one worker while the stub answers "
           "every batch request after the given delay (`cbs-stub --delay-ms`), as CBS behind an "
           "FSC Outway/Inway across the internet would. The worker keeps up to "
           "`cbs.max_in_flight` (default 16) batches at CBS at once (libcurl's multi interface, "
           "retries as timers) while it goes on checking; the share is the throughput "
           "against the 0 ms row of the same run." % (
               lat[0]["deliveries"], fmt_int(lat[0]["per_delivery"])), ""]
    out = []
    for r in lat:
        tps = r["trajecten"] / r["busy_s"] if r["busy_s"] else 0
        share = base[0]["busy_s"] / r["busy_s"] if base and r["busy_s"] else 0
        out.append(["%d ms" % r["delay_ms"], fmt_int(r["trajecten"]),
                    "%.2f s" % r["busy_s"], fmt_int(tps),
                    "%.0f%%" % (100 * share) if base else "-",
                    "%.0f MiB" % (r["rss_kib"] / 1024),
                    "yes" if r["accounted"] else "**NO**"])
        if "cpu_s" in r:
            out[-1].append("%.1f / %.1f / %.1f" % (r["cpu_s"], r["stub_cpu_s"], r["mock_cpu_s"]))
    head = ["CBS delay", "trajecten", "busy", "trajecten/s", "of the 0 ms row",
            "peak RSS", "every record accounted"]
    if all("cpu_s" in r for r in lat):
        head.append("CPU s: worker / stub / kafka-mock")
    md += md_table(head, out)
    md += [""]
    return lat


def rss_section(rows, e2e, md):
    md += ["## Peak RSS", ""]
    rb = [r for r in rows if r["kind"] == "rss_batch"]
    for r in rb:
        ratio = r["peak_rss_kib"] * 1024 / r["body_bytes"]
        md += ["- **One %s-trajecten batch**: one delivery of %s trajecten (%s bytes) through "
               "`ddas-worker send` to the outbox sink (`cbs.url = file://...`: the worker's "
               "core path, parse, check, normalise, batch, sign, write, without Kafka, since "
               "kafka-mock cannot hold a 37 MB delivery in one partition): %d batch(es), the "
               "largest body %s bytes; peak RSS %s KiB (`/usr/bin/time -f %%M`) = "
               "**%.2fx the body** (the process alone, `ddas-worker --version`, peaks at %s KiB)."
               % (fmt_int(r["trajecten"]), fmt_int(r["trajecten"]), fmt_int(r["delivery_bytes"]),
                  r["batches"], fmt_int(r["body_bytes"]), fmt_int(r["peak_rss_kib"]), ratio,
                  fmt_int(r["baseline_rss_kib"]))]
    if e2e:
        big = max(e2e, key=lambda r: r["trajecten"])
        md += ["- **Under a large backlog**: the largest end-to-end row, %s trajecten (%.0f MB in "
               "%d messages on %d partitions) waiting in `ddas.deliveries` when the worker "
               "starts: peak RSS %.0f MiB with 1 worker, %.0f MiB per worker with 2." % (
                   fmt_int(big["trajecten"]), big["bytes"] / 1e6, big["submitted_messages"],
                   big["partitions"], big["w1_rss_kib"] / 1024, big["w2_rss_kib"] / 1024)]
    if not rb and not e2e:
        md += ["Not run."]
    md += [""]
    return rb


def targets_section(by, files, e2e, rb, md, lat=(), whole=None):
    rows = []
    # validation >= 2x ajv on the 40 MB delivery
    pick = None
    for f in files:
        t = by[f]
        if "ddas" in t and "ajv" in t and abs(t["ddas"]["bytes"] / 1e6 - 40) < 1:
            pick = f
    note = ""
    if pick is None:
        cand = [f for f in files if "ddas" in by[f] and "ajv" in by[f]]
        if cand:
            pick = max(cand, key=lambda f: by[f]["ddas"]["bytes"])
            note = " (40 MB not measured in this run: %.0f MB file)" % (by[pick]["ddas"]["bytes"] / 1e6)
    if pick:
        d, a = by[pick]["ddas"], by[pick]["ajv"]
        r = d["mb_per_s"] / a["mb_per_s"]
        verdict = "not judged: no 40 MB file in this run" if note else "met" if r >= 2 else "missed by %.2fx: ddas would need %.0f%% more throughput" % (
            2 - r, 100 * (2 / r - 1))
        rows.append(["validation in process (schema + rules + normalisation + batches) >= 2x ajv on the 40 MB delivery",
                     "%.1f vs %.1f MB/s = %.2fx%s" % (d["mb_per_s"], a["mb_per_s"], r, note), verdict])
    else:
        rows.append(["validation >= 2x ajv on the 40 MB delivery", "not measured", "-"])
    if whole and "ddas-cli" in whole and "ajv-cli" in whole:
        d, a = whole["ddas-cli"], whole["ajv-cli"]
        r = a["median_s"] / d["median_s"]
        mb = d["bytes"] / 1e6
        off = abs(mb - 40) >= 1
        rows.append(["whole processes: `ddas-worker validate --profile strict` >= 4x faster than "
                     "ajv's command line on the 40 MB delivery",
                     "%.3f vs %.3f s = %.2fx%s" % (d["median_s"], a["median_s"], r,
                                                   " (%.0f MB file)" % mb if off else ""),
                     "not judged: not the 40 MB file" if off else "met" if r >= 4 else
                     "missed by %.2fx: ddas would need to take %.0f%% less time" % (
                         4 - r, 100 * (1 - r / 4))])
        q = d["rss_over_input"]
        rows.append(["peak RSS of `ddas-worker validate` <= 3x the input (40 MB delivery)",
                     "%.1f MB for %.1f MB = %.2fx" % (d["peak_rss_kib"] * 1024 / 1e6, mb, q),
                     "not judged: not the 40 MB file" if off else "met" if q <= 3 else
                     "missed by %.2fx" % (q - 3)])
    else:
        rows.append(["whole processes: ddas-worker validate >= 4x faster than ajv's command line",
                     "not measured", "-"])
    if e2e:
        big = max(e2e, key=lambda r: r["trajecten"])
        t = big["trajecten"]
        t1, tk = t / big["w1_busy_s"] if big["w1_busy_s"] else 0, t / big["kcat_s"]
        r = t1 / tk
        verdict = "met" if r >= 0.25 else "missed by %.1f points: the worker would need %.0f%% more throughput" % (
            100 * (0.25 - r), 100 * (0.25 / r - 1) if r else float("inf"))
        rows.append(["end to end, 1 worker >= 25%% of kcat's raw consume rate (largest row, %s trajecten)" % fmt_int(t),
                     "%s vs %s trajecten/s = %.1f%% (all rows: %s)" % (
                         fmt_int(t1), fmt_int(tk), 100 * r,
                         ", ".join("%s: %.0f%%" % (fmt_int(x["trajecten"]),
                                                  100 * (x["kcat_s"] / x["w1_busy_s"]) if x["w1_busy_s"] else 0)
                                   for x in e2e)),
                     verdict if big["accounted"] else
                     "not judged: **the row lost records** (see the accounting)"])
    else:
        rows.append(["end to end, 1 worker >= 25% of kcat", "not measured", "-"])
    if e2e:
        big = max(e2e, key=lambda r: r["trajecten"])
        if big["w1_busy_s"] and big["w2_busy_s"] and big["accounted"]:
            r = big["w1_busy_s"] / big["w2_busy_s"]
            rows.append(["2 workers >= 1.8x 1 worker (largest row)", "%.2fx" % r,
                         "met" if r >= 1.8 else "missed by %.2fx" % (1.8 - r)])
    if e2e:
        big = max(e2e, key=lambda r: r["trajecten"])
        mib = big["w1_rss_kib"] / 1024
        rows.append(["peak RSS of 1 worker with the largest backlog (%s trajecten) <= 510 MiB "
                     "(the blocking worker's, 2026-11-29) at the default run.max_inflight_bytes"
                     % fmt_int(big["trajecten"]), "%.0f MiB" % mib,
                     "met" if mib <= 510 else "missed by %.0f MiB" % (mib - 510)])
    b0 = [x for x in lat if x["delay_ms"] == 0 and x["busy_s"]]
    slow = [x for x in lat if x["delay_ms"] == 100 and x["busy_s"]]
    if b0 and slow:
        r = b0[0]["busy_s"] / slow[0]["busy_s"]
        ok = b0[0]["accounted"] and slow[0]["accounted"]
        rows.append(["1 worker with CBS answering after 100 ms keeps >= 80% of its 0 ms throughput",
                     "%.0f%% (%s vs %s trajecten/s)" % (
                         100 * r, fmt_int(slow[0]["trajecten"] / slow[0]["busy_s"]),
                         fmt_int(b0[0]["trajecten"] / b0[0]["busy_s"])),
                     ("met" if r >= 0.8 else "missed by %.0f points" % (100 * (0.8 - r)))
                     if ok else "not judged: a row lost records"])
    else:
        rows.append(["1 worker at 100 ms CBS latency >= 80% of 0 ms", "not measured", "-"])
    if rb:
        x = rb[0]
        r = x["peak_rss_kib"] * 1024 / x["body_bytes"]
        verdict = "met" if r <= 3 else "missed by %.2fx: %.0f MiB over 3x the body" % (
            r - 3, (x["peak_rss_kib"] * 1024 - 3 * x["body_bytes"]) / 1048576)
        rows.append(["peak RSS for a %s-trajecten batch <= 3x its body" % fmt_int(x["trajecten"]),
                     "%.1f MiB for a %.1f MB body = %.2fx" % (x["peak_rss_kib"] / 1024, x["body_bytes"] / 1e6, r),
                     verdict])
    else:
        rows.append(["peak RSS for a 25,000-trajecten batch <= 3x its body", "not measured", "-"])
    md += ["## Targets", ""]
    md += md_table(["target", "measured", "verdict"], rows, ["---", "---", "---"])
    md += [""]


def chart(by, files, e2e, rb, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    ax = axes[0]
    for k, label in TOOLS:
        xs = [by[f][k]["bytes"] / 1e6 for f in files if k in by[f]]
        ys = [by[f][k]["mb_per_s"] for f in files if k in by[f]]
        if xs:
            ax.plot(xs, ys, marker="o", label=SHORT[k])
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("file size (MB)"); ax.set_ylabel("MB/s (median, log)")
    ax.set_title("Validation throughput, one thread")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
    ax = axes[1]
    if e2e:
        xs = [r["trajecten"] for r in e2e]
        for key, label in (("w1_busy_s", "1 worker"), ("w2_busy_s", "2 workers"), ("kcat_s", "kcat raw consume")):
            ax.plot(xs, [r["trajecten"] / r[key] if r[key] else 0 for r in e2e], marker="o", label=label)
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("trajecten in the backlog (log)"); ax.set_ylabel("trajecten/s")
    ax.set_title("End to end: ddas.deliveries to CBS stub ack")
    ax.grid(True, which="both", alpha=0.3)
    ax = axes[2]
    if e2e:
        xs = [r["bytes"] / 1e6 for r in e2e]
        ax.plot(xs, [r["w1_rss_kib"] / 1024 for r in e2e], marker="o", label="peak RSS, 1 worker")
        ax.plot(xs, [r["w2_rss_kib"] / 1024 for r in e2e], marker="o", label="peak RSS, 2 workers (max)")
        ax.set_xscale("log")
    for x in rb:
        ax.axhline(x["peak_rss_kib"] / 1024, color="C3", linestyle="--",
                   label="one %s-trajecten batch (send)" % fmt_int(x["trajecten"]))
        ax.axhline(3 * x["body_bytes"] / 1048576, color="C3", linestyle=":",
                   label="target: 3x that batch's body")
    ax.set_xlabel("backlog in the topic (MB, log)"); ax.set_ylabel("MiB")
    ax.set_title("Peak RSS per worker")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    plain = FuncFormatter(lambda v, _: "{:,g}".format(round(v, 1)))
    # ticks at the measured sizes
    xticks = [sorted({round(next(iter(by[f].values()))["bytes"] / 1e6) for f in files}),
              [r["trajecten"] for r in e2e], [round(r["bytes"] / 1e6, 1) for r in e2e]]
    for ax, ticks in zip(axes, xticks):
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        if ticks and ax.xaxis.get_scale() == "log":
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
    for x in rb:
        lo, hi = axes[2].get_ylim()
        axes[2].set_ylim(0, max(hi, 3.3 * x["body_bytes"] / 1048576))
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def fuzz_section(path, md, note=None):
    md += ["## Fuzzing (`scripts/fuzz-smoke`)", ""]
    if note:
        md += ["Results %s." % note, ""]
    text = open(path, errors="replace").read()
    lines = [l for l in text.splitlines() if re.match(r"^fuzz_\w+: ", l)]
    summary = lines[-len(set(l.split(":")[0] for l in lines)):] if lines else []
    rows = []
    for l in summary:
        m = re.match(r"^(fuzz_\w+): (\S+) executions \((\S+)/s\): (.*)$", l)
        if m:
            rows.append([m.group(1), m.group(2), m.group(3), m.group(4)])
    secs = re.findall(r"^== fuzz-smoke summary \((\d+) s per target\)", text, re.M)
    if secs:
        md += ["Each target ran for %s s (libFuzzer `-max_total_time`), ASan+UBSan, "
               "`-rss_limit_mb=2048 -timeout=10`." % secs[-1], ""]
    if rows:
        md += md_table(["target", "executions", "per second", "result"], rows)
    else:
        md += ["No per-target summary found; the end of the log:", "", "```"] + text.splitlines()[-15:] + ["```"]
    last = [l for l in text.splitlines() if l.startswith("fuzz-smoke:")]
    md += ["", "`%s`" % (last[-1] if last else "fuzz-smoke: no closing line (see the log)"), ""]


def diff_section(path, md):
    md += ["## Differential validation (`tests/diff/diff_validate.py`)", ""]
    text = open(path, errors="replace").read().splitlines()
    mism = [l for l in text if l.startswith("MISMATCH")]
    tail = [l for l in text if not l.startswith("MISMATCH")][-12:]
    md += ["Mismatches: %d%s" % (len(mism), " (first 10 below)" if mism else ""), "", "```"]
    md += mism[:10] + tail + ["```", ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--machine", required=True)
    ap.add_argument("--commands", required=True)
    ap.add_argument("--validate")
    ap.add_argument("--e2e")
    ap.add_argument("--fuzz")
    ap.add_argument("--fuzz-note")
    ap.add_argument("--diff")
    ap.add_argument("--faults")
    ap.add_argument("--faults-status", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--title-cmd", default="bench/run-all")
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", required=True)
    a = ap.parse_args()
    machine = json.load(open(a.machine))
    vrows = load_jsonl(a.validate)
    erows = load_jsonl(a.e2e)

    md = ["# Benchmark results", ""]
    md += ["Generated by `%s` on %s, commit %s, in %s. Not run by CI; see `bench/README.md` "
           "for what is measured and how to read this file." % (
               a.title_cmd, machine.get("date", "?"), machine.get("commit", "?"),
               machine.get("duration", "?")), ""]
    if a.quick:
        md += ["> **Quick mode** (`--quick`): small sizes and 1-2 runs, for checking the "
               "scripts. These numbers are not the benchmark; run `bench/run-all` without "
               "`--quick` on a quiet machine.", ""]
    warn = machine.get("warnings") or []
    for w in warn:
        md += ["> **Warning:** %s" % w, ""]
    body = []
    by, files = validation_section(vrows, body)
    whole = whole_process_section(vrows, body)
    e2e = e2e_section(erows, body, a.quick, machine.get("librdkafka", "?"))
    lat = latency_section(erows, body)
    rb = rss_section(erows, e2e, body)
    targets_section(by, files, e2e, rb, md, lat, whole)
    md += ["![results](%s)" % os.path.basename(a.png), ""]
    md += ["## Machine", ""]
    md += md_table(["", ""], [[k, v] for k, v in machine.get("table", [])], ["---", "---"])
    md += ["", "## Commands", "", "```sh"] + open(a.commands).read().rstrip("\n").splitlines() + ["```", ""]
    md += body
    if a.fuzz:
        fuzz_section(a.fuzz, md, a.fuzz_note)
    if a.diff:
        diff_section(a.diff, md)
    if a.faults:
        md += ["## Fault matrix (`tests/fault/fault-matrix`)", ""]
        if a.faults_status:
            md += ["**fault-matrix exited with status %d: a row lost records (or it could not "
                   "run).**" % a.faults_status, ""]
        if os.path.exists(a.faults) and os.path.getsize(a.faults):
            text = open(a.faults).read().rstrip("\n").splitlines()
            # its own top-level heading is this section's; other headings
            # go one level down
            if text and text[0].startswith("# "):
                text = text[1:]
            md += [("#" + l) if l.startswith("#") else l for l in text]
        else:
            md += ["fault-matrix wrote no section."]
        md += [""]
    # bench/run-status and bench/run-serve have their own sections in the
    # file (they are not part of run-all): keep them
    old = open(a.out).read() if os.path.exists(a.out) else ""
    for name in ("status", "serve"):
        b, e = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
        if b in old and e in old:
            kept = old[old.index(b):old.index(e)]
            md += kept.rstrip("\n").splitlines() + [e, ""]
    md += ["## Raw results", "", "```"]
    md += [json.dumps(r, separators=(",", ":")) for r in vrows + erows]
    md += ["```", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    chart(by, files, e2e, rb, a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
