#!/usr/bin/env node
// validate.mjs: the ajv baseline of bench/run-validate.
//
// Usage: node [--expose-gc] validate.mjs SCHEMA DATA [RUNS=7]
//
// ajv 8, draft 2020-12 (ajv/dist/2020), allErrors: true, strict: false, with
// ajv-formats asserting date, date-time, time and email ("full" mode). The
// schema is compiled once, untimed. DATA is read once into a Buffer,
// untimed. One untimed warm-up run (JIT; it also checks that the document is
// valid, exiting with status 1 when it is not), then RUNS timed runs, each
// timing exactly: UTF-8 decoding of the raw bytes + JSON.parse + validate.
// With --expose-gc a full GC runs before every run, outside the timing.
// Prints one JSON line on stdout: median seconds and MB/s (MB = 10^6 bytes).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const [schemaPath, dataPath, runsArg] = process.argv.slice(2);
if (!schemaPath || !dataPath) {
  console.error("usage: node validate.mjs SCHEMA DATA [RUNS=7]");
  process.exit(2);
}
const runs = runsArg === undefined ? 7 : Number.parseInt(runsArg, 10);
if (!Number.isInteger(runs) || runs < 1) {
  console.error("validate.mjs: RUNS must be a positive integer");
  process.exit(2);
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv, { mode: "full", formats: ["date", "date-time", "time", "email"] });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));

const bytes = readFileSync(dataPath); // raw bytes, read once
const gc = typeof globalThis.gc === "function" ? globalThis.gc : null;

function once() {
  const doc = JSON.parse(bytes.toString("utf8"));
  const ok = validate(doc);
  return { doc, ok };
}

// warm-up, also the validity check
const first = once();
if (!first.ok) {
  console.error(`validate.mjs: ${dataPath} is not valid against ${schemaPath}:`);
  for (const e of (validate.errors || []).slice(0, 10)) {
    console.error(`  ${e.instancePath || "/"}: ${e.keyword} ${e.message}`);
  }
  process.exit(1);
}
let trajecten = 0;
for (const l of first.doc.leveringen || []) {
  trajecten += (l.schuldhulptrajecten || []).length;
}

const times = [];
let sink = 0;
for (let i = 0; i < runs; i++) {
  if (gc) gc();
  const t0 = process.hrtime.bigint();
  const r = once();
  const t1 = process.hrtime.bigint();
  if (!r.ok) {
    console.error("validate.mjs: the document became invalid between runs");
    process.exit(1);
  }
  sink += r.doc.leveringen.length;
  times.push(Number(t1 - t0) / 1e9);
}
times.sort((a, b) => a - b);
const median =
  runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;

const round = (x, d) => Number(x.toFixed(d));
console.log(
  JSON.stringify({
    tool: "ajv",
    ajv: require("ajv/package.json").version,
    ajv_formats: require("ajv-formats/package.json").version,
    node: process.versions.node,
    file: dataPath,
    bytes: bytes.length,
    trajecten,
    runs,
    gc_between_runs: Boolean(gc),
    median_s: round(median, 6),
    min_s: round(times[0], 6),
    mb_per_s: round(bytes.length / 1e6 / median, 2),
    trajecten_per_s: round(trajecten / median, 0),
  })
);
if (sink < 0) console.error(sink); // keep results alive
