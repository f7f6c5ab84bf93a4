// Drift between the SDK and the server's OpenAPI description, checked
// against both the committed contract (../../openapi.json, the file
// clients build against; the server's own tests keep it equal to the
// routes) and the document a real `paddock serve` publishes at
// /openapi.json. Routes are matched by path and method, never by
// operation id.
//
// 1. Response types: every interface exported from src/wire.ts that has a
//    component schema of the same name must agree with it: the same
//    property names, the same optionality (a value always present and
//    non-null on one side must be so on the other) and compatible kinds
//    (string, number, boolean, array, object). Interfaces without a
//    schema are listed, not failed.
// 2. Requests: every body and query the SDK sends must only use fields the
//    route's request schema and parameters declare, and send every
//    required field, and every route it calls must be in the document.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { Paddock } from "../../dist/esm/index.js";
import { fakeFetch, json, sse } from "../helpers/fake.mjs";
import { checkRequests, compareInterfaces, sdkInterfaces } from "../helpers/drift.mjs";
import { startServer } from "../helpers/server.mjs";

const SDK_DIR = join(dirname(fileURLToPath(import.meta.url)), "../..");
const WIRE = join(SDK_DIR, "src/wire.ts");
/** The committed contract at the repository root. */
const CONTRACT = resolve(SDK_DIR, "../../openapi.json");

/** The committed contract; fails (never skips) when it is missing or not OpenAPI 3. */
function committedContract() {
  assert.ok(
    existsSync(CONTRACT),
    `the committed OpenAPI contract ${CONTRACT} is missing; generate it from the repository root with ` +
      "`cargo run -p paddock -- openapi > openapi.json`",
  );
  let doc;
  try {
    doc = JSON.parse(readFileSync(CONTRACT, "utf8"));
  } catch (err) {
    assert.fail(`${CONTRACT} is not JSON: ${err.message}`);
  }
  assert.ok(doc.openapi?.startsWith("3."), `${CONTRACT} is an OpenAPI 3 document`);
  assert.ok(Object.keys(doc.paths ?? {}).length > 10, `${CONTRACT} describes the routes`);
  return doc;
}

// ---------------------------------------------------------------- tests

/** Every request the SDK makes, one call of each method, recorded by a fake fetch. */
async function sdkRequests() {
  const network = { mode: "allowlist", domains: ["api.example.com"] };
  const limits = { timeoutSecs: 30, memoryMb: 256, network, seccomp: "strict", cpuPercent: 150, maxPids: 64 };
  const calls = [
    (p) => p.whoami(),
    (p) => p.public.health(),
    (p) => p.public.ready(),
    (p) => p.public.stats(),
    (p) => p.credentials.list(),
    (p) => p.credentials.put({ service: "openai", secret: "s" }),
    (p) => p.credentials.delete("openai"),
    (p) => p.sessions.create({ services: ["openai"], ttlSecs: 60, scopes: { openai: ["/v1/*"] }, maxRequests: 5 }),
    (p) => p.sessions.list({ limit: 1, offset: 0, includeClosed: true }),
    (p) => p.sessions.get("sess_1"),
    (p) => p.sessions.close("sess_1"),
    (p) => p.sessions.exec("sess_1", { cmd: "true", args: ["x"], ...limits }),
    async (p) => {
      for await (const _ of p.sessions.execStream("sess_1", { cmd: "true", args: ["x"], output: "chunks", ...limits })) {
        // drain
      }
    },
    (p) => p.runs.create({ code: "1", language: "bash", ...limits }),
    (p) => p.runs.fork({ parentCode: "1", childCode: "2", language: "bash", forkAfterMs: 10, ...limits }),
    (p) => p.runs.fork({ parentCode: "1", children: [{ code: "2", memoryMb: 64 }] }),
    async (p) => {
      for await (const _ of p.runs.stream({ code: "1", language: "bash", ...limits })) {
        // drain
      }
    },
    async (p) => {
      for await (const _ of p.runs.stream({ code: "1", output: "lines" })) {
        // drain
      }
    },
    (p) => p.runs.cancel(1),
    (p) => p.jails.cancel(1),
    (p) => p.jails.list({ limit: 1, offset: 0, status: "completed", kind: "run", q: "x" }),
    (p) => p.jails.get(1),
    (p) => p.audit.recent(5),
    (p) => p.audit.actions({ limit: 5, offset: 0, q: "x" }),
    (p) =>
      p.workspaces.create({
        git: { repo: "https://example.com/r", ref: "main" },
        flavors: ["nodejs"],
        label: "l",
        idleTimeoutSecs: 60,
        domains: [{ domain: "a.test", vm_port: 3000 }],
        ...limits,
      }),
    (p) => p.workspaces.list({ limit: 1, offset: 0, q: "x" }),
    (p) => p.workspaces.get("wrk_1"),
    (p) => p.workspaces.update("wrk_1", { label: "x" }),
    (p) => p.workspaces.delete("wrk_1"),
    (p) => p.workspaces.exec("wrk_1", { cmd: "true", args: ["x"], env: [["A", "1"]], timeoutSecs: 5, memoryMb: 64 }),
    async (p) => {
      const request = { cmd: "true", args: ["x"], env: [["A", "1"]], timeoutSecs: 5, memoryMb: 64, output: "chunks" };
      for await (const _ of p.workspaces.execStream("wrk_1", request)) {
        // drain
      }
    },
    (p) => p.workspaces.fork("wrk_1", { count: 2, label: "f" }),
    (p) => p.snapshots.create("wrk_1", { name: "n" }),
    (p) => p.snapshots.list({ workspaceId: "wrk_1", limit: 1, offset: 0, q: "x" }),
    (p) => p.snapshots.get("snap_1"),
    (p) => p.snapshots.manifest("snap_1"),
    (p) => p.snapshots.delete("snap_1"),
    (p) => p.snapshots.createWorkspaceFrom("snap_1", { parentWorkspaceId: "wrk_1", label: "l" }),
    (p) => p.workspaces.start("wrk_1"),
    (p) => p.workspaces.stop("wrk_1"),
    (p) => p.workspaces.state("wrk_1"),
    (p) => p.workspaces.previews.create("wrk_1", { port: 3000, public: true, ttlSecs: 60 }),
    (p) => p.workspaces.previews.list("wrk_1"),
    (p) => p.workspaces.previews.revoke("wrk_1", "prv_1"),
    (p) => p.workspaces.tokens.create("wrk_1", { capabilities: ["files:read", "mcp"], ttlSecs: 60, label: "l" }),
    (p) => p.workspaces.tokens.list("wrk_1"),
    (p) => p.workspaces.tokens.revoke("wrk_1", "tok_1"),
    (p) => p.workspaces.mcpConfig("wrk_1", { capabilities: ["processes"], ttlSecs: 60, serverName: "box" }),
    (p) => p.workspaces.agentSessions.create("wrk_1", { agent: "mock", id: "s1", cwd: "/workspace", mode: "default", permissions: "allow" }),
    (p) => p.workspaces.agentSessions.list("wrk_1"),
    (p) => p.workspaces.agentSessions.get("wrk_1", "s1"),
    (p) => p.workspaces.agentSessions.delete("wrk_1", "s1"),
    (p) => p.workspaces.agentSessions.prompt("wrk_1", "s1", { prompt: "hi", turnId: "t1", detach: true }),
    (p) => p.workspaces.agentSessions.turns("wrk_1", "s1"),
    (p) => p.workspaces.agentSessions.turn("wrk_1", "s1", "t1", { waitMs: 1000 }),
    (p) => p.workspaces.agentSessions.cancel("wrk_1", "s1", "t1"),
    (p) => p.workspaces.agentSessions.answerPermission("wrk_1", "s1", "mock-1", "once"),
    // The runtime (sandbox-agent's API under the workspace's base URL).
    (p) => p.workspaces.runtime("wrk_1").health(),
    (p) =>
      p.workspaces.runtime("wrk_1").processes.run({
        command: "sh",
        args: ["-c", "true"],
        cwd: "/workspace",
        env: { A: "1" },
        timeoutMs: 1000,
        maxOutputBytes: 10,
      }),
    (p) =>
      p.workspaces.runtime("wrk_1").processes.create({ command: "sh", args: ["-i"], cwd: "/workspace", env: { A: "1" }, interactive: true, tty: true }),
    (p) => p.workspaces.runtime("wrk_1").processes.list({ owner: "user" }),
    (p) => p.workspaces.runtime("wrk_1").processes.get("proc_1"),
    (p) => p.workspaces.runtime("wrk_1").processes.stop("proc_1", { waitMs: 10 }),
    (p) => p.workspaces.runtime("wrk_1").processes.kill("proc_1", { waitMs: 10 }),
    (p) => p.workspaces.runtime("wrk_1").processes.delete("proc_1"),
    (p) => p.workspaces.runtime("wrk_1").processes.logs("proc_1", { stream: "stdout", tail: 1, since: 0 }),
    async (p) => {
      for await (const _ of p.workspaces.runtime("wrk_1").processes.follow("proc_1", { stream: "pty", tail: 1, since: 0 })) {
        // drain
      }
    },
    (p) => p.workspaces.runtime("wrk_1").processes.input("proc_1", "text"),
    (p) => p.workspaces.runtime("wrk_1").processes.input("proc_1", new Uint8Array([1])),
    (p) => p.workspaces.runtime("wrk_1").processes.resize("proc_1", { cols: 80, rows: 24 }),
    (p) => p.workspaces.runtime("wrk_1").processes.config(),
    (p) =>
      p.workspaces.runtime("wrk_1").processes.setConfig({
        maxConcurrentProcesses: 1,
        defaultRunTimeoutMs: 1,
        maxRunTimeoutMs: 1,
        maxOutputBytes: 1,
        maxLogBytesPerProcess: 1,
        maxInputBytesPerRequest: 1,
      }),
    (p) => p.workspaces.runtime("wrk_1").processes.terminal("proc_1"),
    (p) => p.workspaces.runtime("wrk_1").files.list("src"),
    (p) => p.workspaces.runtime("wrk_1").files.read("a.txt"),
    (p) => p.workspaces.runtime("wrk_1").files.readStream("a.txt").then((s) => s.cancel()),
    (p) => p.workspaces.runtime("wrk_1").files.write("a.txt", "data"),
    (p) => p.workspaces.runtime("wrk_1").files.stat("a.txt"),
    (p) => p.workspaces.runtime("wrk_1").files.mkdir("d"),
    (p) => p.workspaces.runtime("wrk_1").files.move("a.txt", "b.txt", { overwrite: true }),
    (p) => p.workspaces.runtime("wrk_1").files.delete("d", { recursive: true }),
    (p) => p.workspaces.runtime("wrk_1").files.uploadTar("d", new Uint8Array(1024)),
    (p) => p.workspaces.runtime("wrk_1").files.downloadTar("d"),
    (p) => p.workspaces.runtime("wrk_1").files.downloadTarStream().then((s) => s.cancel()),
    (p) => p.workspaces.runtime("wrk_1").agents.list({ config: true }),
    (p) => p.workspaces.runtime("wrk_1").agents.get("claude", { config: true }),
    (p) => p.workspaces.runtime("wrk_1").agents.install("claude", { reinstall: true }),
    (p) => p.workspaces.runtime("wrk_1").agents.servers(),
    (p) => p.workspaces.runtime("wrk_1").agents.send("s1", { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, { agent: "mock" }),
    async (p) => {
      for await (const _ of p.workspaces.runtime("wrk_1").agents.follow("s1", { since: 3 })) {
        // drain
      }
    },
    (p) => p.workspaces.runtime("wrk_1").agents.transcript("s1", { since: 0, limit: 10 }),
    (p) => p.workspaces.runtime("wrk_1").agents.deleteServer("s1"),
    (p) => p.workspaces.runtime("wrk_1").agents.getMcpConfig({ directory: "/workspace", mcpName: "echo" }),
    (p) => p.workspaces.runtime("wrk_1").agents.setMcpConfig({ directory: "/workspace", mcpName: "echo" }, { type: "local", command: "node", args: ["x.js"], env: { A: "1" } }),
    (p) => p.workspaces.runtime("wrk_1").agents.deleteMcpConfig({ directory: "/workspace", mcpName: "echo" }),
    (p) => p.workspaces.runtime("wrk_1").agents.getSkillsConfig({ directory: "/workspace", skillName: "team" }),
    (p) => p.workspaces.runtime("wrk_1").agents.setSkillsConfig({ directory: "/workspace", skillName: "team" }, { sources: [{ type: "local", source: "/workspace/skills" }] }),
    (p) => p.workspaces.runtime("wrk_1").agents.deleteSkillsConfig({ directory: "/workspace", skillName: "team" }),
    (p) => p.workspaces.runtime("wrk_1").desktop.start({ width: 1280, height: 720, dpi: 96, displayNum: 99, recordingFps: 30 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.stop(),
    // The live view is a WebSocket URL for a VNC viewer: its handshake is a GET.
    (p) => fetch(p.workspaces.runtime("wrk_1").desktop.vncUrl().replace(/^ws/, "http")),
    (p) => p.workspaces.runtime("wrk_1").browser.run("snapshot", ["-i"], { session: "s1", timeoutMs: 1000 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.status(),
    (p) => p.workspaces.runtime("wrk_1").desktop.displayInfo(),
    (p) => p.workspaces.runtime("wrk_1").desktop.screenshot({ format: "jpeg", quality: 80, scale: 0.5, showCursor: false }),
    (p) => p.workspaces.runtime("wrk_1").desktop.screenshotRegion({ x: 0, y: 0, width: 10, height: 10 }, { format: "png" }),
    (p) => p.workspaces.runtime("wrk_1").desktop.mousePosition(),
    (p) => p.workspaces.runtime("wrk_1").desktop.moveMouse(1, 2),
    (p) => p.workspaces.runtime("wrk_1").desktop.click({ x: 1, y: 2, button: "right", clickCount: 2 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.mouseDown({ x: 1, y: 2, button: "left" }),
    (p) => p.workspaces.runtime("wrk_1").desktop.mouseUp({ button: "left" }),
    (p) => p.workspaces.runtime("wrk_1").desktop.drag({ startX: 1, startY: 2, endX: 3, endY: 4, button: "left" }),
    (p) => p.workspaces.runtime("wrk_1").desktop.scroll({ x: 1, y: 2, deltaX: 0, deltaY: 3 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.type("hi", { delayMs: 5 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.press("s", { ctrl: true }),
    (p) => p.workspaces.runtime("wrk_1").desktop.keyDown("Shift_L"),
    (p) => p.workspaces.runtime("wrk_1").desktop.keyUp("Shift_L"),
    (p) => p.workspaces.runtime("wrk_1").desktop.windows(),
    (p) => p.workspaces.runtime("wrk_1").desktop.focusedWindow(),
    (p) => p.workspaces.runtime("wrk_1").desktop.focusWindow("0x1"),
    (p) => p.workspaces.runtime("wrk_1").desktop.moveWindow("0x1", 1, 2),
    (p) => p.workspaces.runtime("wrk_1").desktop.resizeWindow("0x1", 100, 200),
    (p) => p.workspaces.runtime("wrk_1").desktop.clipboard("primary"),
    (p) => p.workspaces.runtime("wrk_1").desktop.setClipboard("x", "both"),
    (p) => p.workspaces.runtime("wrk_1").desktop.launch({ app: "xterm", args: ["-e", "true"], wait: true }),
    (p) => p.workspaces.runtime("wrk_1").desktop.open("/workspace/a.txt"),
    (p) => p.workspaces.runtime("wrk_1").desktop.startRecording({ fps: 10 }),
    (p) => p.workspaces.runtime("wrk_1").desktop.stopRecording(),
    (p) => p.workspaces.runtime("wrk_1").desktop.recordings(),
    (p) => p.workspaces.runtime("wrk_1").desktop.recording("rec_1"),
    (p) => p.workspaces.runtime("wrk_1").desktop.downloadRecording("rec_1"),
    (p) => p.workspaces.runtime("wrk_1").desktop.deleteRecording("rec_1"),
    (p) => p.workspaces.runtime("wrk_1").desktop.streamStatus(),
    (p) => p.workspaces.runtime("wrk_1").desktop.startStream(),
    (p) => p.workspaces.runtime("wrk_1").desktop.stopStream(),
  ];
  const answer = (call) => {
    if (call.path.endsWith("/stream") && call.method === "POST") return sse(['event: completed\ndata: {"exit_code":0}\n\n']);
    if (call.query.follow === "true") return sse([]);
    if (/\/runtime\/v1\/acp\/s1$/.test(call.path) && call.method === "GET") return sse([]);
    if (call.path.endsWith("/runtime/v1/agents")) return json(200, { agents: [] });
    if (call.path.endsWith("/runtime/v1/acp")) return json(200, { servers: [] });
    if (call.path.endsWith("/logs")) return json(200, { processId: "proc_1", stream: "stdout", entries: [] });
    if (call.path.endsWith("/runtime/v1/processes") && call.method === "GET") return json(200, { processes: [] });
    return json(200, call.path === "/v1/sessions" && call.method === "GET" ? [] : {});
  };
  const fetch = fakeFetch(answer);
  // The terminal's WebSocket handshake is a GET too: recorded as one.
  class RecordingWebSocket {
    constructor(url) {
      const parsed = new URL(url);
      fetch.calls.push({ method: "GET", path: parsed.pathname, query: Object.fromEntries(parsed.searchParams) });
      this.readyState = 0;
    }
    addEventListener() {}
    send() {}
    close() {}
  }
  const paddock = new Paddock({ baseUrl: "http://sdk.test", apiKey: "k", fetch, WebSocket: RecordingWebSocket });
  for (const call of calls) await call(paddock);
  return fetch.calls;
}

/** The drift checks against the document `load()` returns. */
function driftChecks(load) {
  it("the SDK's response types match the server's component schemas", (t) => {
    const openapi = load();
    const interfaces = sdkInterfaces(WIRE);
    assert.ok(interfaces.size > 10, "read the SDK's interfaces");
    const { problems, checked, missing, unmatched } = compareInterfaces(interfaces, openapi);
    t.diagnostic(`checked against a schema (${checked.length}): ${checked.join(", ") || "none"}`);
    t.diagnostic(`no component schema yet (${missing.length}): ${missing.join(", ")}`);
    t.diagnostic(`server schemas without an SDK response interface (requests, enums): ${unmatched.join(", ")}`);
    assert.deepEqual(problems, [], `the SDK and the server disagree:\n  ${problems.join("\n  ")}`);
  });

  it("every body and query the SDK sends is declared by the route", async (t) => {
    const openapi = load();
    const { problems, checked, unpublished } = checkRequests(await sdkRequests(), openapi);
    t.diagnostic(`requests checked: ${checked}`);
    assert.deepEqual(unpublished, [], "routes the SDK calls that the document does not describe");
    assert.deepEqual(problems, [], `requests the server does not declare:\n  ${problems.join("\n  ")}`);
  });

  it("the SDK reaches every route of the workspace runtime", async () => {
    const missing = uncoveredRuntimeRoutes(load(), await sdkRequests());
    assert.deepEqual(missing, [], "runtime routes without an SDK method");
  });
}

/** Operations of the workspace runtime (its lifecycle and previews) in `openapi` that no SDK call reaches. */
function uncoveredRuntimeRoutes(openapi, calls) {
  const missing = [];
  for (const [path, operations] of Object.entries(openapi.paths ?? {})) {
    if (!/^\/v1\/workspaces\/\{id\}\/(runtime\/|start$|stop$|state$|previews$|previews\/\{preview_id\}$)/.test(path)) continue;
    const regex = new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const method of Object.keys(operations)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const reached = calls.some((call) => call.method.toLowerCase() === method && regex.test(call.path));
      if (!reached) missing.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return missing;
}

describe("drift against the committed openapi.json", () => {
  let contract;
  driftChecks(() => (contract ??= committedContract()));
});

describe("drift against the live /openapi.json", () => {
  let server;
  let live;

  before(async () => {
    server = await startServer();
    const response = await fetch(`${server.url}/openapi.json`);
    assert.equal(response.status, 200, "GET /openapi.json");
    live = await response.json();
    assert.ok(live.openapi?.startsWith("3."), "an OpenAPI 3 document");
  });

  after(async () => {
    await server?.stop();
  });

  driftChecks(() => live);
});
