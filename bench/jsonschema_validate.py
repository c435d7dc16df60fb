#!/usr/bin/python3
"""jsonschema_validate.py: the python3-jsonschema baseline of bench/run-validate.

Usage: /usr/bin/python3 jsonschema_validate.py SCHEMA DATA [RUNS=7]

Debian's python3-jsonschema (run with /usr/bin/python3, the system Python:
the Debian package is installed there), Draft202012Validator with the
validator class's own FORMAT_CHECKER. The schema is loaded and the validator
built once, untimed; DATA is read once into bytes, untimed. One untimed
warm-up run (it also checks that the document is valid, exit status 1 when
it is not), then RUNS timed runs, each timing exactly: strict UTF-8 decoding
of the raw bytes + json.loads + list(validator.iter_errors(doc)) (all
errors, like ajv's allErrors). A full gc.collect() runs before every run,
outside the timing. One thread.

Prints one JSON line on stdout: median seconds and MB/s (MB = 10^6 bytes),
and which of the formats used by the schema the checker asserts.
"""

import gc
import json
import platform
import sys
import time


def schema_formats(node, out):
    if isinstance(node, dict):
        f = node.get("format")
        if isinstance(f, str):
            out.add(f)
        for v in node.values():
            schema_formats(v, out)
    elif isinstance(node, list):
        for v in node:
            schema_formats(v, out)
    return out


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: jsonschema_validate.py SCHEMA DATA [RUNS=7]", file=sys.stderr)
        return 2
    schema_path, data_path = sys.argv[1], sys.argv[2]
    try:
        runs = int(sys.argv[3]) if len(sys.argv) == 4 else 7
    except ValueError:
        runs = 0
    if runs < 1:
        print("jsonschema_validate.py: RUNS must be a positive integer", file=sys.stderr)
        return 2
    try:
        import jsonschema
        from jsonschema import Draft202012Validator
    except ImportError:
        print("jsonschema_validate.py: python3-jsonschema is not installed "
              "(apt-get install python3-jsonschema)", file=sys.stderr)
        return 2
    try:
        from importlib.metadata import version
        js_version = version("jsonschema")
    except Exception:  # pragma: no cover
        js_version = getattr(jsonschema, "__version__", "?")

    with open(schema_path, "rb") as f:
        schema = json.loads(f.read().decode("utf-8"))
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator.FORMAT_CHECKER
    validator = Draft202012Validator(schema, format_checker=checker)
    used = schema_formats(schema, set())
    asserted = sorted(f for f in used if f in checker.checkers)
    not_asserted = sorted(f for f in used if f not in checker.checkers)

    with open(data_path, "rb") as f:
        data = f.read()

    def once():
        doc = json.loads(data.decode("utf-8", "strict"))
        errors = list(validator.iter_errors(doc))
        return doc, errors

    doc, errors = once()  # warm-up and validity check
    if errors:
        print("jsonschema_validate.py: %s is not valid against %s:" % (data_path, schema_path),
              file=sys.stderr)
        for e in errors[:10]:
            print("  /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:200]),
                  file=sys.stderr)
        return 1
    trajecten = sum(len(l.get("schuldhulptrajecten", [])) for l in doc.get("leveringen", []))
    del doc, errors

    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        doc, errors = once()
        t1 = time.perf_counter()
        if errors:
            print("jsonschema_validate.py: the document became invalid between runs",
                  file=sys.stderr)
            return 1
        del doc, errors
        times.append(t1 - t0)
    times.sort()
    median = times[runs // 2] if runs % 2 else (times[runs // 2 - 1] + times[runs // 2]) / 2
    print(json.dumps({
        "tool": "python-jsonschema",
        "mode": "schema",
        "jsonschema": js_version,
        "python": platform.python_version(),
        "formats_asserted": asserted,
        "formats_not_asserted": not_asserted,
        "file": data_path,
        "bytes": len(data),
        "trajecten": trajecten,
        "runs": runs,
        "gc_between_runs": True,
        "median_s": round(median, 6),
        "min_s": round(times[0], 6),
        "mb_per_s": round(len(data) / 1e6 / median, 2),
        "trajecten_per_s": round(trajecten / median),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
