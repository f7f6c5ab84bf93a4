// Request building: method, path, query, headers and the snake_case body
// of every method of the SDK, against a fake fetch.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { API_KEY_ENV, Agentjail, Paddock, URL_ENV } from "../../dist/esm/index.js";
import { fakeFetch, json } from "../helpers/fake.mjs";

const KEY = "unit-test-key-0123456789";

// The defaults below are the ones without configuration (test/unit/env.test.mjs covers the environment).
for (const name of [URL_ENV, ...API_KEY_ENV]) delete process.env[name];

function client(response = json(200, {}), extra = {}) {
  const fetch = fakeFetch(response);
  const paddock = new Paddock({ baseUrl: "http://paddock.test:7000/", apiKey: KEY, fetch, ...extra });
  return { paddock, fetch };
}

const network = { mode: "allowlist", domains: ["api.example.com", "*.pypi.org"] };
const limits = { timeoutSecs: 30, memoryMb: 256, network, seccomp: "strict", cpuPercent: 150, maxPids: 64 };
const limitsWire = { timeout_secs: 30, memory_mb: 256, network, seccomp: "strict", cpu_percent: 150, max_pids: 64 };

// [name, call, method, path, query, body]
const cases = [
  ["whoami", (p) => p.whoami(), "GET", "/v1/whoami", {}, undefined],
  ["credentials.list", (p) => p.credentials.list(), "GET", "/v1/credentials", {}, undefined],
  [
    "credentials.put",
    (p) => p.credentials.put({ service: "openai", secret: "sk-real" }),
    "POST",
    "/v1/credentials",
    {},
    { service: "openai", secret: "sk-real" },
  ],
  ["credentials.delete", (p) => p.credentials.delete("openai"), "DELETE", "/v1/credentials/openai", {}, undefined],
  [
    "sessions.create (all options)",
    (p) =>
      p.sessions.create({ services: ["openai", "github"], ttlSecs: 600, scopes: { github: ["/repos/acme/*"] }, maxRequests: 50 }),
    "POST",
    "/v1/sessions",
    {},
    { services: ["openai", "github"], ttl_secs: 600, scopes: { github: ["/repos/acme/*"] }, max_requests: 50 },
  ],
  [
    "sessions.create (services only)",
    (p) => p.sessions.create({ services: ["openai"] }),
    "POST",
    "/v1/sessions",
    {},
    { services: ["openai"] },
  ],
  ["sessions.list", (p) => p.sessions.list(), "GET", "/v1/sessions", {}, undefined],
  [
    "sessions.list (page)",
    (p) => p.sessions.list({ limit: 10, offset: 20 }),
    "GET",
    "/v1/sessions",
    { limit: "10", offset: "20" },
    undefined,
  ],
  ["sessions.get", (p) => p.sessions.get("sess_abc"), "GET", "/v1/sessions/sess_abc", {}, undefined],
  ["sessions.close", (p) => p.sessions.close("sess_abc"), "DELETE", "/v1/sessions/sess_abc", {}, undefined],
  [
    "sessions.exec (all options)",
    (p) => p.sessions.exec("sess_abc", { cmd: "python3", args: ["agent.py"], ...limits }),
    "POST",
    "/v1/sessions/sess_abc/exec",
    {},
    { cmd: "python3", args: ["agent.py"], ...limitsWire },
  ],
  [
    "sessions.exec (cmd only)",
    (p) => p.sessions.exec("sess_abc", { cmd: "true" }),
    "POST",
    "/v1/sessions/sess_abc/exec",
    {},
    { cmd: "true" },
  ],
  [
    "runs.create (all options)",
    (p) => p.runs.create({ code: "print(1)", language: "python", ...limits }),
    "POST",
    "/v1/runs",
    {},
    { code: "print(1)", language: "python", ...limitsWire },
  ],
  ["runs.create (code only)", (p) => p.runs.create({ code: "1" }), "POST", "/v1/runs", {}, { code: "1" }],
  [
    "runs.fork (childCode)",
    (p) => p.runs.fork({ parentCode: "a", childCode: "b", language: "bash", forkAfterMs: 500, ...limits }),
    "POST",
    "/v1/runs/fork",
    {},
    { parent_code: "a", child_code: "b", language: "bash", fork_after_ms: 500, ...limitsWire },
  ],
  [
    "runs.fork (children)",
    (p) => p.runs.fork({ parentCode: "a", children: [{ code: "b" }, { code: "c", memoryMb: 64 }] }),
    "POST",
    "/v1/runs/fork",
    {},
    { parent_code: "a", children: [{ code: "b" }, { code: "c", memory_mb: 64 }] },
  ],
  [
    "workspaces.create (all options)",
    (p) =>
      p.workspaces.create({
        git: { repo: "https://github.com/acme/app", ref: "main" },
        flavors: ["nodejs"],
        label: "ci",
        idleTimeoutSecs: 600,
        domains: [{ domain: "app.test", vm_port: 3000 }],
        ...limits,
      }),
    "POST",
    "/v1/workspaces",
    {},
    {
      git: { repo: "https://github.com/acme/app", ref: "main" },
      flavors: ["nodejs"],
      label: "ci",
      idle_timeout_secs: 600,
      domains: [{ domain: "app.test", vm_port: 3000 }],
      ...limitsWire,
    },
  ],
  [
    "workspaces.create (multi-repo git)",
    (p) => p.workspaces.create({ git: { repos: [{ repo: "https://x.test/a", dir: "a" }] } }),
    "POST",
    "/v1/workspaces",
    {},
    { git: { repos: [{ repo: "https://x.test/a", dir: "a" }] } },
  ],
  ["workspaces.create (nothing)", (p) => p.workspaces.create(), "POST", "/v1/workspaces", {}, {}],
  ["workspaces.list", (p) => p.workspaces.list(), "GET", "/v1/workspaces", {}, undefined],
  [
    "workspaces.list (page, search)",
    (p) => p.workspaces.list({ limit: 5, offset: 10, q: "ci run" }),
    "GET",
    "/v1/workspaces",
    { limit: "5", offset: "10", q: "ci run" },
    undefined,
  ],
  ["workspaces.get", (p) => p.workspaces.get("wrk_1"), "GET", "/v1/workspaces/wrk_1", {}, undefined],
  [
    "workspaces.update",
    (p) => p.workspaces.update("wrk_1", { label: "renamed" }),
    "PATCH",
    "/v1/workspaces/wrk_1",
    {},
    { label: "renamed" },
  ],
  ["workspaces.delete", (p) => p.workspaces.delete("wrk_1"), "DELETE", "/v1/workspaces/wrk_1", {}, undefined],
  [
    "workspaces.exec",
    (p) =>
      p.workspaces.exec("wrk_1", { cmd: "sh", args: ["-c", "ls"], env: [["A", "1"]], timeoutSecs: 20, memoryMb: 128 }),
    "POST",
    "/v1/workspaces/wrk_1/exec",
    {},
    { cmd: "sh", args: ["-c", "ls"], env: [["A", "1"]], timeout_secs: 20, memory_mb: 128 },
  ],
  [
    "workspaces.fork",
    (p) => p.workspaces.fork("wrk_1", { count: 3, label: "agents" }),
    "POST",
    "/v1/workspaces/wrk_1/fork",
    {},
    { count: 3, label: "agents" },
  ],
  [
    "snapshots.create",
    (p) => p.snapshots.create("wrk_1", { name: "deps-ready" }),
    "POST",
    "/v1/workspaces/wrk_1/snapshot",
    {},
    { name: "deps-ready" },
  ],
  ["snapshots.create (no name)", (p) => p.snapshots.create("wrk_1"), "POST", "/v1/workspaces/wrk_1/snapshot", {}, {}],
  [
    "snapshots.list (all filters)",
    (p) => p.snapshots.list({ workspaceId: "wrk_1", limit: 2, offset: 4, q: "deps" }),
    "GET",
    "/v1/snapshots",
    { workspace_id: "wrk_1", limit: "2", offset: "4", q: "deps" },
    undefined,
  ],
  ["snapshots.list", (p) => p.snapshots.list(), "GET", "/v1/snapshots", {}, undefined],
  ["snapshots.get", (p) => p.snapshots.get("snap_1"), "GET", "/v1/snapshots/snap_1", {}, undefined],
  ["snapshots.manifest", (p) => p.snapshots.manifest("snap_1"), "GET", "/v1/snapshots/snap_1/manifest", {}, undefined],
  ["snapshots.delete", (p) => p.snapshots.delete("snap_1"), "DELETE", "/v1/snapshots/snap_1", {}, undefined],
  [
    "snapshots.createWorkspaceFrom",
    (p) => p.snapshots.createWorkspaceFrom("snap_1", { parentWorkspaceId: "wrk_1", label: "restored" }),
    "POST",
    "/v1/workspaces/from-snapshot",
    {},
    { snapshot_id: "snap_1", parent_workspace_id: "wrk_1", label: "restored" },
  ],
  ["audit.recent", (p) => p.audit.recent(), "GET", "/v1/audit", {}, undefined],
  ["audit.recent(20)", (p) => p.audit.recent(20), "GET", "/v1/audit", { limit: "20" }, undefined],
  ["jails.list", (p) => p.jails.list(), "GET", "/v1/jails", {}, undefined],
  [
    "jails.list (all filters)",
    (p) => p.jails.list({ limit: 5, offset: 1, status: "error", kind: "run", q: "python" }),
    "GET",
    "/v1/jails",
    { limit: "5", offset: "1", status: "error", kind: "run", q: "python" },
    undefined,
  ],
  ["jails.get", (p) => p.jails.get(42), "GET", "/v1/jails/42", {}, undefined],
  ["public.health", (p) => p.public.health(), "GET", "/v1/health", {}, undefined],
  ["public.stats", (p) => p.public.stats(), "GET", "/v1/stats", {}, undefined],
];

describe("request building", () => {
  for (const [name, call, method, path, query, body] of cases) {
    it(name, async () => {
      const { paddock, fetch } = client();
      await call(paddock);
      assert.equal(fetch.calls.length, 1);
      const sent = fetch.calls[0];
      assert.equal(sent.method, method);
      assert.equal(sent.path, path);
      assert.ok(sent.url.startsWith("http://paddock.test:7000/v1/"), sent.url);
      assert.deepEqual(sent.query, query);
      assert.deepEqual(sent.body, body);
      assert.equal(sent.headers.accept, "application/json");
      if (body === undefined) assert.equal(sent.headers["content-type"], undefined);
      else assert.equal(sent.headers["content-type"], "application/json");
      if (name.startsWith("public.")) assert.equal(sent.headers.authorization, undefined, "public routes send no key");
      else assert.equal(sent.headers.authorization, `Bearer ${KEY}`);
      assert.ok(sent.signal instanceof AbortSignal, "every call has a signal");
    });
  }

  it("escapes ids in paths", async () => {
    const { paddock, fetch } = client();
    await paddock.sessions.get("a/b c?d");
    assert.equal(new URL(fetch.calls[0].url).pathname, "/v1/sessions/a%2Fb%20c%3Fd");
    await assert.rejects(() => paddock.sessions.get(""), TypeError);
  });

  it("keeps a path prefix of baseUrl and strips trailing slashes", async () => {
    const fetch = fakeFetch(json(200, {}));
    const paddock = new Paddock({ baseUrl: "https://gw.test/paddock///", apiKey: KEY, fetch });
    await paddock.whoami();
    assert.equal(fetch.calls[0].url, "https://gw.test/paddock/v1/whoami");
    assert.equal(paddock.baseUrl, "https://gw.test/paddock");
  });

  it("defaults baseUrl to 127.0.0.1:7000 and sends no Authorization without a key", async () => {
    const fetch = fakeFetch(json(200, {}));
    const paddock = new Paddock({ fetch });
    await paddock.whoami();
    assert.equal(fetch.calls[0].url, "http://127.0.0.1:7000/v1/whoami");
    assert.equal(fetch.calls[0].headers.authorization, undefined);
  });

  it("sends extra headers but never lets them drop the key", async () => {
    const { paddock, fetch } = client(json(200, {}), { headers: { "x-trace": "t1" } });
    await paddock.credentials.list();
    assert.equal(fetch.calls[0].headers["x-trace"], "t1");
    assert.equal(fetch.calls[0].headers.authorization, `Bearer ${KEY}`);
  });

  it("refuses a baseUrl that is not http(s)", () => {
    assert.throws(() => new Paddock({ baseUrl: "127.0.0.1:7000", fetch: fakeFetch() }), TypeError);
  });

  it("Agentjail is the same client", async () => {
    assert.equal(Agentjail, Paddock);
    const fetch = fakeFetch(json(201, { id: "sess_1", env: {} }));
    const aj = new Agentjail({ baseUrl: "http://localhost:7000", apiKey: KEY, fetch });
    const session = await aj.sessions.create({ services: ["openai"], ttlSecs: 600 });
    assert.equal(session.id, "sess_1");
    assert.deepEqual(fetch.calls[0].body, { services: ["openai"], ttl_secs: 600 });
  });
});

describe("responses", () => {
  it("returns the JSON as the server sent it (snake_case)", async () => {
    const record = { tenant_id: "acme", service: "openai", added_at: "t", updated_at: "t", fingerprint: "blake3:1" };
    const { paddock } = client(json(200, record));
    assert.deepEqual(await paddock.credentials.put({ service: "openai", secret: "s" }), record);
  });

  it("resolves 204 answers to undefined", async () => {
    const { paddock } = client(json(204));
    assert.equal(await paddock.sessions.close("sess_1"), undefined);
    assert.equal(await paddock.credentials.delete("openai"), undefined);
  });

  it("sessions.list accepts paddock's page and agentjail's array", async () => {
    const row = { id: "sess_1" };
    const page = client(json(200, { rows: [row], total: 1, limit: 50, offset: 0 }));
    assert.deepEqual(await page.paddock.sessions.list(), [row]);
    const array = client(json(200, [row]));
    assert.deepEqual(await array.paddock.sessions.list(), [row]);
  });

  it("a 200 answer that is not JSON is a SERVER_ERROR", async () => {
    const { paddock } = client(new Response("<html>proxy</html>", { status: 200 }));
    await assert.rejects(paddock.whoami(), (err) => {
      assert.equal(err.code, "SERVER_ERROR");
      assert.equal(err.status, 200);
      assert.equal(err.body, "<html>proxy</html>");
      return true;
    });
  });
});

describe("public.ready", () => {
  const notReady = {
    ready: false,
    checks: {
      database: { ok: false, backend: "sqlite", latency_ms: 3, error: "disk I/O error" },
      state_disk: { ok: true, free_bytes: 1, total_bytes: 2, min_free_bytes: 0, reserve_bytes: 0, reserve_held: false },
      jail_engine: { ok: true },
    },
  };

  it("returns a not-ready answer (503) instead of throwing it", async () => {
    const { paddock, fetch } = client(json(503, notReady));
    assert.deepEqual(await paddock.public.ready(), notReady);
    assert.equal(new URL(fetch.calls[0].url).pathname, "/readyz");
    assert.equal(fetch.calls[0].headers.authorization, undefined, "no key is sent");
  });

  it("still throws other failures", async () => {
    const { paddock } = client(json(503, { error: "the database cannot be reached", code: "DATABASE_UNAVAILABLE" }));
    await assert.rejects(paddock.public.ready(), (err) => err.status === 503 && err.serverCode === "DATABASE_UNAVAILABLE");
  });
});
