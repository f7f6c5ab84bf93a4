#!/usr/bin/env node
// Entry point of the runtime compatibility suite.
//
//   node run.mjs --oracle-only   the real sandbox-agent 0.4.2 binary only (twice, in
//                                parallel: the shape record must be stable, and equal
//                                to the committed oracle-record.json)
//   node run.mjs                 also paddock: `paddock serve`, a workspace, the suite
//                                at {server}/v1/workspaces/{id}/runtime, and the diff of
//                                paddock's shape record against the oracle's
//
// Options: --only=STEP[,STEP]  run the steps whose names start with these
//          --json=FILE         write every observation (responses, frames, facts)
//          --write-record      rewrite oracle-record.json from this run's oracle
//          --verbose           print the facts and records
// Exit code 0 only when every step passed everywhere and the records agree.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { diffRecords, normalize } from "./record.mjs";
import { startOracle, startPaddock } from "./servers.mjs";
import { runSuite } from "./suite.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const RECORD_FILE = join(HERE, "oracle-record.json");
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const oracleOnly = flag("oracle-only");
const only = option("only")?.split(",").filter(Boolean);
const verbose = flag("verbose");

const started = Date.now();
let failed = false;
const fail = (msg) => {
  failed = true;
  console.log(`FAIL ${msg}`);
};

function report(name, run) {
  const bad = run.results.filter((r) => !r.ok);
  console.log(`\n== ${name}: ${run.results.length - bad.length}/${run.results.length} steps passed`);
  for (const r of run.results) {
    console.log(`  ${r.ok ? "ok  " : "FAIL"} ${r.name} (${r.ms} ms)`);
    if (!r.ok) {
      const lines = r.error.split("\n");
      const shown = lines.filter((l) => !/node:internal|node_modules/.test(l)).slice(0, 6);
      for (const l of shown) console.log(`         ${l}`);
    }
  }
  if (bad.length) fail(`${name}: ${bad.length} step(s) failed: ${bad.map((r) => r.name).join(", ")}`);
}

async function withServer(start, fn) {
  const server = await start();
  try {
    return await fn(server);
  } catch (err) {
    throw new Error(`${err.stack ?? err}\n--- ${server.name} log (tail) ---\n${server.logs().split("\n").slice(-30).join("\n")}`);
  } finally {
    await server.stop();
  }
}

const runOracle = () =>
  withServer(startOracle, async (s) => {
    const run = await runSuite({ baseUrl: s.baseUrl, token: s.token, workdir: s.workdir, only });
    return { ...run, workdir: s.workdir };
  });

async function runPaddock() {
  return withServer(startPaddock, async (s) => {
    // Plumbing first: server, workspace, base URL, key. This route exists already.
    const r = await fetch(`${s.baseUrl}/v1/health`, { headers: { authorization: `Bearer ${s.token}` } });
    const body = await r.text();
    if (r.status !== 200 || JSON.stringify(JSON.parse(body)) !== '{"status":"ok"}') {
      throw new Error(`paddock plumbing: GET ${s.baseUrl}/v1/health answered ${r.status} ${body}`);
    }
    console.log(`paddock: workspace ${s.workspaceId}, GET {base}/v1/health → 200 ${body}`);
    return runSuite({ baseUrl: s.baseUrl, token: s.token, workdir: s.workdir, only });
  });
}

try {
  const jobs = [runOracle(), runOracle()];
  if (!oracleOnly) jobs.push(runPaddock().catch((err) => ({ fatal: err })));
  const [oracle, oracle2, paddock] = await Promise.all(jobs);

  report("oracle (sandbox-agent 0.4.2)", oracle);
  report("oracle, second instance", oracle2);
  const record = normalize(oracle.entries);
  const record2 = normalize(oracle2.entries);

  const unstable = diffRecords(record, record2, "oracle#1", "oracle#2");
  if (unstable.length) fail(`the oracle's shape record is not stable between two runs:\n${unstable.join("\n")}`);
  else console.log("\noracle shape record stable across two instances");

  if (!only) {
    if (flag("write-record")) {
      writeFileSync(RECORD_FILE, `${JSON.stringify(record, null, 2)}\n`);
      console.log(`wrote ${RECORD_FILE}`);
    } else {
      let committed;
      try {
        committed = JSON.parse(readFileSync(RECORD_FILE, "utf8"));
      } catch {
        committed = undefined;
      }
      if (!committed) fail(`${RECORD_FILE} missing: run with --write-record`);
      else {
        const drift = diffRecords(committed, record, "oracle-record.json", "oracle");
        if (drift.length) fail(`the oracle no longer matches oracle-record.json:\n${drift.join("\n")}`);
        else console.log("oracle shape record equals oracle-record.json");
      }
    }
  }

  if (paddock) {
    if (paddock.fatal) {
      fail(`paddock could not be driven:\n${paddock.fatal.stack ?? paddock.fatal}`);
    } else {
      report("paddock", paddock);
      const diff = diffRecords(record, normalize(paddock.entries));
      if (diff.length) {
        fail(`paddock's responses differ from the oracle's (${diff.length} lines; "-" oracle only, "+" paddock only):`);
        console.log(diff.join("\n"));
      } else {
        console.log("paddock shape record equals the oracle's");
      }
    }
  }

  if (verbose) {
    console.log("\noracle facts:", JSON.stringify(oracle.facts, null, 2));
    if (paddock && !paddock.fatal) console.log("paddock facts:", JSON.stringify(paddock.facts, null, 2));
    console.log("oracle record:", JSON.stringify(record, null, 2));
  }
  const json = option("json");
  if (json) {
    writeFileSync(json, JSON.stringify({ oracle, paddock: paddock?.fatal ? String(paddock.fatal) : paddock }, null, 2));
    console.log(`wrote ${json}`);
  }
} catch (err) {
  fail(err.stack ?? String(err));
}

console.log(`\n${failed ? "FAILED" : "PASSED"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
