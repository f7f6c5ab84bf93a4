// The SDK README's flow end to end against a real `paddock serve`:
// identity, public routes, credentials, sessions (and exec in them), runs
// in three languages, streams (order, one terminal event, cancellation),
// forks, the ledger, the audit log, and error codes from the real server.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { API_KEY_ENV, Agentjail, Paddock, URL_ENV } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, OTHER_TOKEN, failure, startServer } from "../helpers/server.mjs";

// Clients here get their URL and key as options only (test/pack.test.mjs
// configures one from the environment).
for (const name of [URL_ENV, ...API_KEY_ENV]) delete process.env[name];

let server;
let paddock;

before(async () => {
  server = await startServer();
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN });
});

after(async () => {
  await server?.stop();
});

describe("identity and public routes", () => {
  it("whoami", async () => {
    // agentjail's {tenant, role}, and (ext) the tenant's admission and
    // storage budgets.
    const { budgets, storage, ...me } = await paddock.whoami();
    assert.deepEqual(me, { tenant: "acme", role: "admin" });
    assert.equal(budgets?.running, 0);
    assert.ok((budgets?.max_concurrent ?? 0) >= 1 && (budgets?.memory_mb ?? 0) >= 16);
    assert.equal(storage?.storage_in_use_mb, 0);
    assert.ok((storage?.storage_mb ?? 0) > 0);
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN });
    const { budgets: _, storage: __, ...them } = await other.whoami();
    assert.deepEqual(them, { tenant: "other", role: "operator" });
  });

  it("health and stats need no key", async () => {
    const anonymous = new Paddock({ baseUrl: server.url });
    const health = await anonymous.public.health();
    assert.equal(health.status, "ok");
    assert.equal(typeof health.version, "string");
    const ready = await anonymous.public.ready();
    assert.equal(ready.ready, true);
    assert.equal(ready.checks.database.ok, true);
    assert.equal(ready.checks.jail_engine.ok, true);
    assert.ok(ready.checks.state_disk.free_bytes > 0);
    const stats = await anonymous.public.stats();
    for (const field of ["active_execs", "total_execs", "sessions", "credentials"]) {
      assert.equal(typeof stats[field], "number", field);
    }
  });
});

describe("credentials", () => {
  it("put, list, delete", async () => {
    const record = await paddock.credentials.put({ service: "github", secret: "ghp_real_secret_value" });
    assert.equal(record.service, "github");
    assert.equal(record.tenant_id, "acme");
    assert.equal(typeof record.fingerprint, "string");
    assert.ok(!JSON.stringify(record).includes("ghp_real_secret_value"), "the secret is never returned");
    assert.ok((await paddock.credentials.list()).some((c) => c.service === "github"));

    // Another tenant does not see it.
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN });
    assert.ok(!(await other.credentials.list()).some((c) => c.service === "github"));

    assert.equal(await paddock.credentials.delete("github"), undefined);
    assert.ok(!(await paddock.credentials.list()).some((c) => c.service === "github"));
    const err = await failure(paddock.credentials.delete("github"));
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(err.status, 404);
  });

  it("an empty secret or unknown service is BAD_REQUEST", async () => {
    const empty = await failure(paddock.credentials.put({ service: "openai", secret: "  " }));
    assert.equal(empty.code, "BAD_REQUEST");
    assert.equal(empty.serverCode, "EMPTY_SECRET");
    const unknown = await failure(paddock.credentials.put({ service: "nope", secret: "x" }));
    assert.equal(unknown.serverCode, "UNKNOWN_SERVICE");
  });
});

describe("sessions", () => {
  it("create, get, list, exec, close; exec on a closed session is CONFLICT", async () => {
    await paddock.credentials.put({ service: "openai", secret: "sk-real-upstream" });
    const session = await paddock.sessions.create({
      services: ["openai"],
      ttlSecs: 600,
      scopes: { openai: ["/v1/chat/*"] },
    });
    assert.match(session.id, /^sess_[0-9a-f]{24}$/);
    assert.deepEqual(session.services, ["openai"]);
    assert.match(session.env.OPENAI_API_KEY, /^phm_[0-9a-f]{64}$/);
    assert.match(server.proxyUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, "the proxy's bound address, not port 0");
    assert.equal(session.env.OPENAI_BASE_URL, `${server.proxyUrl}/v1/openai/v1`);
    assert.ok(!JSON.stringify(session).includes("sk-real-upstream"));
    const ttl = Date.parse(session.expires_at) - Date.parse(session.created_at);
    assert.ok(Math.abs(ttl - 600_000) < 2000, `ttl ${ttl}`);

    const got = await paddock.sessions.get(session.id);
    assert.equal(got.id, session.id);
    assert.equal(got.status, "active");
    assert.deepEqual(got.scopes, { openai: ["/v1/chat/*"] });
    assert.deepEqual(got.env, session.env, "get answers the env, as agentjail does");

    const listed = await paddock.sessions.list();
    assert.ok(Array.isArray(listed));
    assert.ok(listed.some((s) => s.id === session.id));

    const result = await paddock.sessions.exec(session.id, {
      cmd: "sh",
      args: ["-c", 'printf "%s\\n" "${OPENAI_API_KEY%%_*}" "$OPENAI_BASE_URL"; echo oops >&2; exit 3'],
      timeoutSecs: 20,
      memoryMb: 128,
      network: { mode: "none" },
      seccomp: "strict",
      maxPids: 32,
    });
    assert.equal(result.exit_code, 3);
    const [prefix, baseUrl] = result.stdout.trim().split("\n");
    assert.equal(prefix, "phm");
    assert.match(baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1\/openai\/v1$/);
    assert.equal(result.stderr, "oops\n");
    assert.equal(result.timed_out, false);
    assert.equal(typeof result.duration_ms, "number");

    assert.equal(await paddock.sessions.close(session.id), undefined);
    // A closed session is gone, as in agentjail; includeClosed still lists it.
    assert.equal((await failure(paddock.sessions.get(session.id))).code, "NOT_FOUND");
    assert.ok(!(await paddock.sessions.list()).some((s) => s.id === session.id));
    const closed = (await paddock.sessions.list({ includeClosed: true })).find((s) => s.id === session.id);
    assert.equal(closed?.status, "closed");
    const err = await failure(paddock.sessions.exec(session.id, { cmd: "true" }));
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(err.status, 404);
    assert.equal(err.path, `/v1/sessions/${session.id}/exec`);
  });

  it("a service without a credential, or none at all, is BAD_REQUEST", async () => {
    const missing = await failure(paddock.sessions.create({ services: ["stripe"] }));
    assert.equal(missing.code, "BAD_REQUEST");
    assert.equal(missing.serverCode, "NO_CREDENTIAL");
    const none = await failure(paddock.sessions.create({ services: [] }));
    assert.equal(none.serverCode, "NO_SERVICES");
  });

  it("unknown and other tenants' sessions are NOT_FOUND", async () => {
    const unknown = await failure(paddock.sessions.get("sess_000000000000000000000000"));
    assert.equal(unknown.code, "NOT_FOUND");
    const session = await paddock.sessions.create({ services: ["openai"] });
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN });
    assert.equal((await failure(other.sessions.get(session.id))).code, "NOT_FOUND");
    assert.equal((await failure(other.sessions.close(session.id))).code, "NOT_FOUND");
    await paddock.sessions.close(session.id);
  });
});

describe("runs", () => {
  for (const [language, code] of [
    ["bash", "echo $((6*7))"],
    ["python", "print(6*7)"],
    ["javascript", "console.log(6*7)"],
  ]) {
    it(`runs.create in ${language}`, async () => {
      const result = await paddock.runs.create({ language, code, timeoutSecs: 30 });
      assert.equal(result.stdout, "42\n", result.stderr);
      assert.equal(result.exit_code, 0);
      assert.equal(result.timed_out, false);
      assert.equal(result.oom_killed, false);
      assert.equal(result.stdout_truncated, false);
      assert.equal(result.cancelled, false);
      assert.equal((await paddock.jails.get(result.id)).id, result.id, "id is the run's ledger row");
    });
  }

  it("javascript is the default language", async () => {
    assert.equal((await paddock.runs.create({ code: "console.log('js')" })).stdout, "js\n");
  });

  it("limits reach the jail (deadline)", async () => {
    const result = await paddock.runs.create({ language: "bash", code: "sleep 10", timeoutSecs: 1 });
    assert.equal(result.timed_out, true);
    assert.ok(result.duration_ms < 5000, String(result.duration_ms));
  });

  it("an unknown language is BAD_REQUEST", async () => {
    const err = await failure(paddock.runs.create({ language: "cobol", code: "x" }));
    assert.equal(err.code, "BAD_REQUEST");
    assert.equal(err.status, 400);
    assert.equal(err.serverCode, "BAD_LANGUAGE");
    assert.match(err.message, /cobol/);
  });

  it("a bad network setting is BAD_REQUEST", async () => {
    const err = await failure(paddock.runs.create({ code: "1", network: { mode: "allowlist", domains: [] } }));
    assert.equal(err.serverCode, "BAD_NETWORK");
  });
});

describe("runs.stream", () => {
  it("events come in order with exactly one terminal event", async () => {
    const events = [];
    for await (const event of paddock.runs.stream({
      language: "bash",
      code: "echo out1; echo err1 >&2; sleep 1.2; echo 'ünï 😀'",
      timeoutSecs: 30,
    })) {
      events.push(event);
    }
    const types = events.map((e) => e.type);
    assert.equal(types[0], "started");
    assert.equal(typeof events[0].pid, "number");
    assert.equal(types.filter((t) => t === "completed" || t === "error").length, 1);
    assert.equal(types.at(-1), "completed");
    const stdout = events.filter((e) => e.type === "stdout").map((e) => e.line);
    assert.deepEqual(stdout, ["out1", "ünï 😀"]);
    assert.deepEqual(
      events.filter((e) => e.type === "stderr").map((e) => e.line),
      ["err1"],
    );
    assert.ok(types.includes("stats"), `a stats event within 1.2 s: ${types}`);
    const stats = events.find((e) => e.type === "stats");
    assert.equal(typeof stats.memory_peak_bytes, "number");
    const done = events.at(-1);
    assert.equal(done.exit_code, 0);
    assert.equal(done.timed_out, false);
    assert.equal(done.cancelled, false);
    assert.equal(typeof events[0].id, "number");
    assert.equal(done.id, events[0].id, "started and completed name the same ledger row");
    assert.equal(typeof done.duration_ms, "number");
    assert.ok(types.indexOf("stdout") < types.indexOf("completed"));
  });

  it("a failing program still completes (with its exit code)", async () => {
    const events = [];
    for await (const event of paddock.runs.stream({ language: "python", code: "import sys; sys.exit(5)" })) events.push(event);
    assert.equal(events.at(-1).type, "completed");
    assert.equal(events.at(-1).exit_code, 5);
  });

  it("an AbortSignal cancels the stream and the request", async () => {
    const controller = new AbortController();
    const seen = [];
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const event of paddock.runs.stream({
          language: "bash",
          code: "for i in $(seq 1 100); do echo $i; sleep 0.1; done",
          signal: controller.signal,
        })) {
          seen.push(event);
          if (event.type === "stdout") controller.abort();
        }
      })(),
      { name: "AbortError" },
    );
    assert.ok(Date.now() - started < 8000, "cancelled long before the run's end");
    assert.equal(seen.filter((e) => e.type === "stdout").length, 1);
    assert.ok(!seen.some((e) => e.type === "completed"));
    // The server finishes the jail and closes its ledger row anyway.
    const row = await waitFor(async () => {
      const { rows } = await paddock.jails.list({ kind: "stream", limit: 1 });
      return rows[0]?.status !== "running" ? rows[0] : undefined;
    }, 20_000);
    assert.equal(row.kind, "stream");
  });

  it("breaking out of the loop ends the stream", async () => {
    let count = 0;
    for await (const event of paddock.runs.stream({ language: "bash", code: "while true; do echo x; sleep 0.05; done", timeoutSecs: 5 })) {
      if (event.type === "stdout" && ++count === 3) break;
    }
    assert.equal(count, 3);
  });

  it("a bad request is thrown before any event", async () => {
    const err = await failure(
      (async () => {
        for await (const _ of paddock.runs.stream({ language: "cobol", code: "x" })) {
          // no events
        }
      })(),
    );
    assert.equal(err.serverCode, "BAD_LANGUAGE");
  });
});

describe("runs.fork", () => {
  it("one child sees the parent's /output", async () => {
    const result = await paddock.runs.fork({
      language: "bash",
      parentCode: "echo from-parent > /output/state.txt; sleep 2; echo parent-done",
      childCode: "cat /output/state.txt",
      forkAfterMs: 600,
      timeoutSecs: 30,
    });
    assert.equal(result.parent.stdout, "parent-done\n");
    assert.equal(result.children.length, 1);
    assert.equal(result.children[0].stdout, "from-parent\n");
    assert.deepEqual(result.child, result.children[0]);
    assert.equal(result.forks.length, 1);
    assert.deepEqual(result.fork, result.forks[0]);
    assert.equal(result.fork.was_frozen, true);
    assert.ok(result.fork.files_cloned + result.fork.files_cow >= 1);
  });

  it("N children with their own memory limits", async () => {
    const result = await paddock.runs.fork({
      language: "bash",
      parentCode: "echo 7 > /output/n; sleep 1",
      children: [{ code: "echo a$(cat /output/n)" }, { code: "echo b$(cat /output/n)", memoryMb: 64 }],
      forkAfterMs: 300,
    });
    assert.deepEqual(
      result.children.map((c) => c.stdout),
      ["a7\n", "b7\n"],
    );
    assert.equal(result.forks.length, 2);
  });

  it("no child is BAD_REQUEST", async () => {
    const err = await failure(paddock.runs.fork({ language: "bash", parentCode: "true", children: [] }));
    assert.equal(err.serverCode, "BAD_FORK");
  });
});

describe("ledger and audit", () => {
  it("jails.list and jails.get", async () => {
    const page = await paddock.jails.list({ limit: 3 });
    assert.ok(page.rows.length > 0 && page.rows.length <= 3);
    assert.equal(page.limit, 3);
    assert.ok(page.total >= page.rows.length);
    const runs = await paddock.jails.list({ kind: "run", status: "completed", limit: 50 });
    assert.ok(runs.rows.length > 0);
    assert.ok(runs.rows.every((r) => r.kind === "run" && r.status === "completed"));
    const row = await paddock.jails.get(runs.rows[0].id);
    assert.equal(row.id, runs.rows[0].id);
    assert.equal(typeof row.started_at, "string");
    assert.equal(typeof row.config, "object");
    const python = await paddock.jails.list({ kind: "run", q: "python" });
    assert.ok(python.rows.length >= 0);
  });

  it("unknown filters are ignored (as agentjail ignores them), unknown ids NOT_FOUND", async () => {
    const all = await paddock.jails.list({ limit: 5 });
    assert.deepEqual((await paddock.jails.list({ status: "bogus", limit: 5 })).total, all.total);
    assert.deepEqual((await paddock.jails.list({ kind: "bogus", limit: 5 })).total, all.total);
    assert.equal((await failure(paddock.jails.get(99_999_999))).code, "NOT_FOUND");
  });

  it("audit.recent answers the proxy's requests; audit.actions the control-plane actions", async () => {
    const audit = await paddock.audit.recent(50);
    assert.ok(Array.isArray(audit.rows) && audit.rows.length <= 50);
    assert.ok(audit.total >= audit.rows.length);
    const page = await paddock.audit.actions({ limit: 50 });
    assert.ok(page.rows.length > 0 && page.rows.length <= 50);
    assert.ok(page.total >= page.rows.length);
    const actions = page.rows.map((r) => r.action);
    assert.ok(actions.includes("session.create"), actions.join(","));
    assert.ok(actions.includes("credential.put"));
    assert.equal(typeof page.rows[0].actor, "string");
    assert.equal((await paddock.audit.actions({ limit: 1 })).rows.length, 1);
  });
});

describe("errors from the real server", () => {
  it("a bad key is UNAUTHORIZED", async () => {
    const bad = new Agentjail({ baseUrl: server.url, apiKey: "not-a-valid-key-at-all" });
    const err = await failure(bad.whoami());
    assert.equal(err.code, "UNAUTHORIZED");
    assert.equal(err.status, 401);
    assert.equal(err.serverCode, "UNAUTHORIZED");
    assert.equal(typeof err.message, "string");
    const none = await failure(new Paddock({ baseUrl: server.url }).credentials.list());
    assert.equal(none.code, "UNAUTHORIZED");
    assert.match(none.message, /no API key was sent: pass apiKey to new Paddock\(\) or set PADDOCK_API_KEY$/);
  });

  it("an unknown route is NOT_FOUND", async () => {
    const err = await failure(paddock.jails.get("not-a-number"));
    assert.equal(err.code, "NOT_FOUND");
  });

  it("a body the server cannot decode is BAD_REQUEST", async () => {
    // The SDK's types would not allow this; plain JS callers can still send it.
    const err = await failure(paddock.runs.create({ code: 42 }));
    // JSON of the wrong shape: 422, as agentjail answers it.
    assert.equal(err.code, "BAD_REQUEST");
    assert.equal(err.status, 422);
    assert.equal(err.serverCode, "BAD_BODY");
  });

  it("a per-call timeout is TIMEOUT", async () => {
    const err = await failure(paddock.runs.create({ language: "bash", code: "sleep 5" }, { timeoutMs: 300 }));
    assert.equal(err.code, "TIMEOUT");
  });

  it("a server that is not there is NETWORK", async () => {
    const gone = new Paddock({ baseUrl: "http://127.0.0.1:9", apiKey: ADMIN_TOKEN });
    assert.equal((await failure(gone.whoami())).code, "NETWORK");
  });
});

async function waitFor(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail("condition not reached in time");
    await new Promise((r) => setTimeout(r, 200));
  }
}
