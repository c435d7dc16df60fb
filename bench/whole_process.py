#!/usr/bin/env python3
"""whole_process.py: `ddas-worker validate` against an ajv command line as
whole processes, on the same file, in the same run (bench/run-validate's
whole-process row; see bench/README.md).

Usage: whole_process.py DDAS_WORKER SCHEMA_DIR FILE [RUNS=7]

Each round runs, one after the other:
  DDAS_WORKER validate --profile strict --schema-dir SCHEMA_DIR -q FILE
  node bench/ajv/validate-cli.mjs SCHEMA_DIR/shv-v1.0.json FILE
(start-up, reading, parsing, schema compilation, validation, exit: what a
person or a script calling either tool waits for). One untimed warm-up round
first (page cache, node's compile cache), which also checks that both say
"valid" (exit status 0); any other exit status stops the script. Wall time
is measured around fork and wait (time.perf_counter), CPU time and peak RSS
come from the child's rusage (os.wait4: ru_utime + ru_stime, ru_maxrss).
Prints one JSON line per tool: the median wall time (and min), median CPU
time, median and largest peak RSS, and that RSS over the input's size.
Standard library only.
"""

import json
import os
import statistics
import sys
import time


def run_once(argv):
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return code, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    ddas, schema_dir, path = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) == 5 else 7
    here = os.path.relpath(os.path.dirname(os.path.abspath(__file__)))
    tools = {
        "ddas-cli": [ddas, "validate", "--profile", "strict", "--schema-dir", schema_dir,
                     "-q", path],
        "ajv-cli": ["node", os.path.join(here, "ajv", "validate-cli.mjs"),
                    os.path.join(schema_dir, "shv-v1.0.json"), path],
    }
    size = os.path.getsize(path)
    res = {k: [] for k in tools}
    load0 = os.getloadavg()
    for rnd in range(runs + 1):  # round 0: the warm-up
        for name, argv in tools.items():
            code, wall, cpu, rss = run_once(argv)
            if code != 0:
                print("whole_process.py: %s exited with status %d on %s (expected 0: valid)"
                      % (" ".join(argv), code, path), file=sys.stderr)
                return 1
            if rnd:
                res[name].append((wall, cpu, rss))
    load1 = os.getloadavg()
    for name, xs in res.items():
        walls = [x[0] for x in xs]
        rss = [x[2] for x in xs]
        print(json.dumps({
            "tool": name, "mode": "whole-process", "file": path, "bytes": size,
            "command": " ".join(tools[name]), "runs": runs,
            "median_s": round(statistics.median(walls), 4), "min_s": round(min(walls), 4),
            "cpu_median_s": round(statistics.median(x[1] for x in xs), 4),
            "peak_rss_kib": int(statistics.median(rss)), "peak_rss_max_kib": max(rss),
            "rss_over_input": round(statistics.median(rss) * 1024 / size, 3),
            "load_before": [round(v, 2) for v in load0], "load_after": [round(v, 2) for v in load1],
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
