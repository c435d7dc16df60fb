#!/usr/bin/env node
// validate-cli.mjs: ajv as a command line, the whole-process peer of
// `ddas-worker validate` in bench/run-validate.
//
// Usage: node validate-cli.mjs SCHEMA DATA
//
// What a vendor's ajv command line does once per file: start node, load ajv 8
// (draft 2020-12, allErrors: true, strict: false) and ajv-formats (date,
// date-time, time, email in "full" mode, the formats ddas asserts), read and
// compile SCHEMA, read DATA, decode it as UTF-8, JSON.parse it, validate it.
// Exit status 0 when valid, 1 when invalid (the first errors on stderr), 2
// for usage errors or an unreadable/unparsable file. Nothing is timed here:
// bench/run-validate times the whole process from outside.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [schemaPath, dataPath] = process.argv.slice(2);
if (!schemaPath || !dataPath) {
  console.error("usage: node validate-cli.mjs SCHEMA DATA");
  process.exit(2);
}

let validate, doc;
try {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv, { mode: "full", formats: ["date", "date-time", "time", "email"] });
  validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
  doc = JSON.parse(readFileSync(dataPath).toString("utf8"));
} catch (e) {
  console.error(`validate-cli.mjs: ${e.message}`);
  process.exit(2);
}
if (!validate(doc)) {
  console.error(`validate-cli.mjs: ${dataPath} is not valid:`);
  for (const e of (validate.errors || []).slice(0, 10)) {
    console.error(`  ${e.instancePath || "/"}: ${e.keyword} ${e.message}`);
  }
  process.exit(1);
}
process.exit(0);
