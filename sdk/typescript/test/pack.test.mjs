// `npm pack` builds the package itself (the `prepack` script) and produces
// a tarball that a fresh project installs offline and uses from ES
// modules, CommonJS and TypeScript (node16/nodenext, bundler and node10
// resolution), with no runtime dependency, against a real server.
//
// The package is packed from a copy of the sources without `dist` (only
// node_modules is shared, for the compiler), so the tarball holds code only
// if `npm pack` built it. The copy also leaves this checkout's `dist` alone
// for the test files that run at the same time.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { ADMIN_TOKEN, startServer } from "./helpers/server.mjs";

const SDK_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const work = mkdtempSync(join(tmpdir(), "paddock-sdk-pack-"));
const source = join(work, "source");
const consumer = join(work, "consumer");
let tarball;
let packed;

const run = (command, args, cwd, env = {}) =>
  execFileSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  // What a fresh checkout has: everything but the build output, packs and installed modules.
  cpSync(SDK_DIR, source, {
    recursive: true,
    filter: (path) => !/^(dist|node_modules|test)(\/|$)|\.tgz$/.test(relative(SDK_DIR, path)),
  });
  symlinkSync(join(SDK_DIR, "node_modules"), join(source, "node_modules"), "dir");
  assert.equal(existsSync(join(source, "dist")), false, "packing starts without a build");
  const out = JSON.parse(run(NPM, ["pack", "--json", "--pack-destination", work], source));
  packed = out[0];
  tarball = join(work, packed.filename);
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  // A fresh, empty cache and --offline: nothing may come from a registry.
  run(NPM, ["install", "--offline", "--no-audit", "--no-fund", "--cache", join(work, "cache"), tarball], consumer);
});

after(() => rmSync(work, { recursive: true, force: true }));

describe("npm pack", () => {
  it("builds the package first (prepack)", () => {
    const manifest = JSON.parse(readFileSync(join(SDK_DIR, "package.json"), "utf8"));
    assert.equal(manifest.scripts.prepack, "node tools/build.mjs");
    assert.ok(existsSync(join(source, "dist/esm/index.js")), "npm pack built dist in the copy");
    const code = packed.files.filter((f) => /\.js$/.test(f.path));
    assert.ok(code.length >= 20, `the tarball holds the code (${code.length} .js files)`);
    assert.ok(packed.files.find((f) => f.path === "dist/cjs/index.js").size > 1000, "a real CommonJS build");
  });

  it("ships the builds, their declarations and the README, and nothing else", () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const file of [
      "package.json",
      "README.md",
      "dist/esm/index.js",
      "dist/esm/index.d.ts",
      "dist/esm/package.json",
      "dist/cjs/index.js",
      "dist/cjs/index.d.ts",
      "dist/cjs/package.json",
      "dist/esm/resources/runs.js",
      "dist/cjs/sse.js",
    ]) {
      assert.ok(files.includes(file), `${file} is in the package`);
    }
    for (const file of files) {
      assert.match(file, /^(package\.json|README\.md|dist\/(esm|cjs)\/.+\.(js|d\.ts|json))$/, `unexpected file ${file}`);
    }
    assert.equal(packed.name, "@paddock/sdk");
    assert.equal(packed.version, "0.1.0");
  });

  it("has no runtime dependencies", () => {
    const manifest = JSON.parse(readFileSync(join(consumer, "node_modules/@paddock/sdk/package.json"), "utf8"));
    assert.equal(manifest.dependencies, undefined);
    assert.equal(manifest.peerDependencies, undefined);
    assert.equal(manifest.optionalDependencies, undefined);
    const lock = JSON.parse(readFileSync(join(consumer, "package-lock.json"), "utf8"));
    assert.deepEqual(Object.keys(lock.packages).sort(), ["", "node_modules/@paddock/sdk"]);
  });

  const script = (load) => `
${load}
const calls = [];
const fetch = async (url, init) => {
  calls.push([init.method, url, init.headers.authorization, init.body]);
  if (url.endsWith("/v1/runs/stream")) {
    return new Response('event: started\\ndata: {"pid":1}\\n\\nevent: completed\\ndata: {"exit_code":0}\\n\\n',
      { headers: { "content-type": "text/event-stream" } });
  }
  if (url.endsWith("/v1/whoami")) return new Response(JSON.stringify({ error: "nope", code: "UNAUTHORIZED" }), { status: 401 });
  return new Response(JSON.stringify({ stdout: "42\\n", exit_code: 0 }), { status: 201 });
};
(async () => {
  const paddock = new sdk.Paddock({ baseUrl: "http://x.test", apiKey: "k", fetch });
  const result = await paddock.runs.create({ code: "print(6*7)", language: "python", timeoutSecs: 5 });
  const events = [];
  for await (const e of paddock.runs.stream({ code: "1" })) events.push(e.type);
  let error;
  try { await new sdk.Agentjail({ baseUrl: "http://x.test", apiKey: "bad", fetch }).whoami(); } catch (e) { error = e; }
  console.log(JSON.stringify({
    stdout: result.stdout,
    body: calls[0][3],
    auth: calls[0][2],
    events,
    errorCode: error.code,
    serverCode: error.serverCode,
    isError: error instanceof sdk.PaddockError && error instanceof sdk.AgentjailError && sdk.PaddockError.is(error),
    aliases: sdk.Agentjail === sdk.Paddock && sdk.AgentjailError === sdk.PaddockError,
    parser: typeof sdk.SseParser,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
  const expected = {
    stdout: "42\n",
    body: JSON.stringify({ code: "print(6*7)", language: "python", timeout_secs: 5 }),
    auth: "Bearer k",
    events: ["started", "completed"],
    errorCode: "UNAUTHORIZED",
    serverCode: "UNAUTHORIZED",
    isError: true,
    aliases: true,
    parser: "function",
  };

  it("works from an ES module (import)", () => {
    writeFileSync(join(consumer, "esm.mjs"), script('import * as sdk from "@paddock/sdk";'));
    assert.deepEqual(JSON.parse(run(process.execPath, ["esm.mjs"], consumer)), expected);
  });

  it("works from CommonJS (require)", () => {
    writeFileSync(join(consumer, "cjs.cjs"), script('const sdk = require("@paddock/sdk");'));
    assert.deepEqual(JSON.parse(run(process.execPath, ["cjs.cjs"], consumer)), expected);
  });

  it("import and require load the ESM and the CommonJS build", () => {
    const probe = `
const required = require.resolve("@paddock/sdk");
import("@paddock/sdk").then((esm) => {
  const cjs = require("@paddock/sdk");
  let crossBuild = false;
  try { throw new cjs.PaddockError({ status: 404, code: "NOT_FOUND", message: "x" }); } catch (e) { crossBuild = esm.PaddockError.is(e); }
  console.log(JSON.stringify({ required, distinct: esm.Paddock !== cjs.Paddock, crossBuild }));
});`;
    writeFileSync(join(consumer, "probe.cjs"), probe);
    const out = JSON.parse(run(process.execPath, ["probe.cjs"], consumer));
    assert.match(out.required, /node_modules\/@paddock\/sdk\/dist\/cjs\/index\.js$/);
    assert.equal(out.distinct, true, "two builds");
    assert.equal(out.crossBuild, true, "PaddockError.is works across the builds");
  });

  for (const [resolution, module] of [
    ["NodeNext", "NodeNext"],
    ["Bundler", "ESNext"],
    ["Node10", "CommonJS"],
  ]) {
    it(`type-checks for TypeScript consumers (moduleResolution ${resolution})`, () => {
      const source = `import { Paddock, PaddockError, type ExecResult, type ProcessInfo, type StreamEvent, type TerminalSession } from "@paddock/sdk";
export async function main(): Promise<number> {
  const paddock = new Paddock({ baseUrl: "http://127.0.0.1:7000", apiKey: "k" });
  const result: ExecResult = await paddock.runs.create({ code: "1", language: "bash" });
  const events: StreamEvent[] = [];
  for await (const e of paddock.runs.stream({ code: "1" })) events.push(e);
  try { await paddock.whoami(); } catch (e) { if (PaddockError.is(e)) return e.status; }
  // @ts-expect-error camelCase options only
  await paddock.runs.create({ code: "1", timeout_secs: 1 });
  // The runtime, with the DOM's WebSocket class.
  const runtime = new Paddock({ apiKey: "k", WebSocket: globalThis.WebSocket }).workspaces.runtime("wrk_1");
  const proc: ProcessInfo = await runtime.processes.create({ command: "sh", tty: true });
  const terminal: TerminalSession = runtime.processes.terminal(proc.id);
  terminal.onData((bytes: Uint8Array) => bytes.length);
  const bytes: Uint8Array = await runtime.files.read("a.txt");
  return result.exit_code + events.length + bytes.length;
}
`;
      const files = resolution === "NodeNext" ? ["index.mts", "index.cts"] : ["index.ts"];
      for (const file of files) writeFileSync(join(consumer, file), source);
      const config = {
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          types: [],
          module,
          moduleResolution: resolution,
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files,
      };
      writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify(config));
      let listed;
      try {
        listed = run(process.execPath, [TSC, "-p", "tsconfig.json", "--listFiles"], consumer);
      } catch (err) {
        assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
      } finally {
        for (const file of files) rmSync(join(consumer, file), { force: true });
      }
      if (resolution === "NodeNext") {
        assert.match(listed, /@paddock\/sdk\/dist\/esm\/index\.d\.ts/, "import resolves the ESM declarations");
        assert.match(listed, /@paddock\/sdk\/dist\/cjs\/index\.d\.ts/, "require resolves the CommonJS declarations");
      } else if (resolution === "Bundler") {
        assert.match(listed, /@paddock\/sdk\/dist\/esm\/index\.d\.ts/);
      } else {
        assert.match(listed, /@paddock\/sdk\/dist\/cjs\/index\.d\.ts/);
      }
    });
  }
});

describe("the installed package against a real server", () => {
  let server;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  // Configured from the environment only: PADDOCK_URL and PADDOCK_API_KEY.
  const script = (load) => `
${load}
(async () => {
  const paddock = new sdk.Paddock();
  const whoami = await paddock.whoami();
  const health = await paddock.public.health();
  const run = await paddock.runs.create({ language: "bash", code: "echo $((6*7))", timeoutSecs: 30 });
  let error;
  try { await paddock.sessions.get("sess_000000000000000000000000"); } catch (e) { error = e; }
  const ws = await paddock.workspaces.create({ label: "pack" });
  const runtime = paddock.workspaces.runtime(ws.id);
  await runtime.files.write("hi.txt", "from a file");
  const process = await runtime.processes.run({ command: "cat", args: ["hi.txt"] });
  await paddock.workspaces.delete(ws.id);
  console.log(JSON.stringify({ whoami: { tenant: whoami.tenant, role: whoami.role }, health: health.status, stdout: run.stdout, exit: run.exit_code, missing: error.code, runtime: process.stdout }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
  const execFileAsync = promisify(execFile);

  for (const [kind, file, load] of [
    ["import", "real.mjs", 'import * as sdk from "@paddock/sdk";'],
    ["require", "real.cjs", 'const sdk = require("@paddock/sdk");'],
  ]) {
    it(`calls the server (${kind}, configured from PADDOCK_URL and PADDOCK_API_KEY)`, async () => {
      writeFileSync(join(consumer, file), script(load));
      const env = { ...process.env, PADDOCK_URL: server.url, PADDOCK_API_KEY: ADMIN_TOKEN };
      delete env.AGENTJAIL_API_KEY;
      const { stdout } = await execFileAsync(process.execPath, [file], { cwd: consumer, env, encoding: "utf8" });
      assert.deepEqual(JSON.parse(stdout), {
        whoami: { tenant: "acme", role: "admin" },
        health: "ok",
        stdout: "42\n",
        exit: 0,
        missing: "NOT_FOUND",
        runtime: "from a file",
      });
    });
  }
});
