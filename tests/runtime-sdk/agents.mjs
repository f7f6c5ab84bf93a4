#!/usr/bin/env node
// Coding agents through the unmodified sandbox-agent 0.4.2 SDK at a paddock
// workspace's runtime base URL, with paddock's built-in `mock` ACP agent:
// the agent list, sessions, prompts and their `session/update` events,
// permissions answered reject / once / always (the file read back through
// the file API), ACP server listing, SSE replay after Last-Event-ID, and the
// transcript after a paddock restart. Exit code 0 only when every check held.
//
//   PADDOCK_BIN=target/debug/paddock node agents.mjs [--postgres]
//
// With --postgres the server keeps its state in a fresh PostgreSQL database
// made on $PADDOCK_TEST_POSTGRES_URL's server (required; dropped at the end).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxAgent, SandboxAgentError } from "sandbox-agent";

import { startPaddock } from "./servers.mjs";

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`  FAIL ${name}\n${String(err.stack ?? err).split("\n").slice(0, 8).map((l) => `       ${l}`).join("\n")}`);
  }
}

const updates = (events) =>
  events
    .filter((e) => e.sender === "agent" && e.payload.method === "session/update")
    .map((e) => e.payload.params.update);
const kinds = (events) => updates(events).map((u) => u.sessionUpdate);
const text = (events) =>
  updates(events)
    .filter((u) => u.sessionUpdate === "agent_message_chunk")
    .map((u) => u.content.text)
    .join("");

async function raw(server, path, init = {}) {
  const headers = { authorization: `Bearer ${server.token}`, ...(init.headers ?? {}) };
  return fetch(`${server.baseUrl}${path}`, { ...init, headers });
}

/** The SSE frames of GET /v1/acp/{id} read for `ms` (the stream stays open). */
async function sseFrames(server, id, headers = {}, ms = 700) {
  const controller = new AbortController();
  const res = await raw(server, `/v1/acp/${id}`, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
    }
  } catch (err) {
    if (err.name !== "AbortError") throw err;
  } finally {
    clearTimeout(timer);
  }
  return buffer
    .split("\n\n")
    .filter((chunk) => chunk.includes("data:"))
    .map((chunk) => ({
      event: chunk.match(/^event: (.*)$/m)?.[1],
      id: Number(chunk.match(/^id: (.*)$/m)?.[1]),
      data: JSON.parse(chunk.match(/^data: (.*)$/m)[1]),
    }));
}

const stateDir = mkdtempSync(join(tmpdir(), "paddock-agents-"));
const database = process.argv.includes("--postgres") ? makeDatabase() : null;
const dbArgs = database ? ["--database-url", database.url] : [];
let server = await startPaddock({ stateDir, extraArgs: dbArgs });
console.log(`  (state in ${database ? "PostgreSQL" : "SQLite"})`);
let serverId;
let sseBefore;
try {
  const sdk = await SandboxAgent.connect({ baseUrl: server.baseUrl, token: server.token, waitForHealth: { timeoutMs: 20000 } });

  await step("listAgents: every agent, mock installed, Amp and Cursor unavailable with the reason", async () => {
    const { agents } = await sdk.listAgents();
    assert.deepEqual(agents.map((a) => a.id), ["claude", "codex", "opencode", "amp", "pi", "cursor", "mock"]);
    const mock = agents.find((a) => a.id === "mock");
    assert.equal(mock.installed, true);
    assert.equal(mock.credentialsAvailable, true);
    assert.equal(Object.keys(mock.capabilities).length, 18);
    for (const id of ["amp", "cursor"]) {
      const agent = agents.find((a) => a.id === id);
      assert.equal(agent.installed, false);
      assert.match(agent.configError, /npm/);
    }
    const detail = await sdk.getAgent("mock", { config: true });
    assert.ok(detail.configOptions.some((o) => o.category === "mode"));
    await assert.rejects(sdk.getAgent("nope"), (err) => err instanceof SandboxAgentError && err.status === 400);
    const amp = await raw(server, "/v1/agents/amp/install", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(amp.status, 404);
    assert.match((await amp.json()).type, /agent_not_installed$/);
  });

  const session = await sdk.createSession({ agent: "mock", cwd: "/workspace" });
  const events = [];
  session.onEvent((e) => events.push(e));

  await step("prompt: the answer and its session/update events in order", async () => {
    const answer = await session.prompt([{ type: "text", text: "hello from the sandbox-agent SDK" }]);
    assert.equal(answer.stopReason, "end_turn");
    await waitFor(() => kinds(events).includes("usage_update"));
    const seen = kinds(events);
    assert.equal(seen[0], "plan");
    assert.ok(seen.indexOf("agent_message_chunk") > 0);
    assert.ok(seen.lastIndexOf("agent_message_chunk") < seen.indexOf("usage_update"));
    assert.equal(text(events), "You said: hello from the sandbox-agent SDK");
  });

  let asked = [];
  let reply = "reject";
  session.onPermissionRequest((request) => {
    asked.push(request);
    void session.respondPermission(request.id, reply);
  });

  await step("permission rejected: the tool call fails and no file is written", async () => {
    events.length = 0;
    const answer = await session.prompt([{ type: "text", text: "write hello.txt: hello from the agent" }]);
    assert.equal(answer.stopReason, "end_turn");
    assert.equal(asked.length, 1);
    assert.deepEqual([...asked[0].availableReplies].sort(), ["always", "once", "reject"]);
    assert.equal(asked[0].toolCall.title, "Write hello.txt");
    const calls = updates(events).filter((u) => u.sessionUpdate.startsWith("tool_call"));
    assert.deepEqual(calls.map((u) => [u.sessionUpdate, u.status]), [["tool_call", "pending"], ["tool_call_update", "failed"]]);
    await assert.rejects(sdk.readFsFile({ path: "/workspace/hello.txt" }));
  });

  await step("permission once: the file is written and read back through the file API", async () => {
    events.length = 0;
    asked = [];
    reply = "once";
    await session.prompt([{ type: "text", text: "write hello.txt: hello from the agent" }]);
    assert.equal(asked.length, 1);
    const calls = updates(events).filter((u) => u.sessionUpdate.startsWith("tool_call"));
    assert.deepEqual(calls.map((u) => u.status), ["pending", "in_progress", "completed"]);
    const bytes = await sdk.readFsFile({ path: "/workspace/hello.txt" });
    assert.equal(new TextDecoder().decode(bytes), "hello from the agent");
  });

  await step("permission always: asked once, then not again", async () => {
    asked = [];
    reply = "always";
    await session.prompt([{ type: "text", text: "write a.txt: one" }]);
    await session.prompt([{ type: "text", text: "write b.txt: two" }]);
    assert.equal(asked.length, 1);
    assert.equal(new TextDecoder().decode(await sdk.readFsFile({ path: "/workspace/b.txt" })), "two");
  });

  await step("listAcpServers: the SDK's server, bound to mock; another agent on it is a 409", async () => {
    const { servers } = await sdk.listAcpServers();
    assert.equal(servers.length, 1);
    assert.equal(servers[0].agent, "mock");
    assert.equal(typeof servers[0].createdAtMs, "number");
    serverId = servers[0].serverId;
    const res = await raw(server, `/v1/acp/${serverId}?agent=claude`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "initialize", params: {} }),
    });
    assert.equal(res.status, 409);
    const missing = await raw(server, "/v1/acp/never-made", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).detail, /agent/);
    assert.equal((await raw(server, "/v1/acp/never-made", { headers: { accept: "text/event-stream" } })).status, 404);
  });

  await step("SSE: the agent's messages with growing ids; Last-Event-ID replays only what follows", async () => {
    sseBefore = await sseFrames(server, serverId);
    assert.ok(sseBefore.length > 20);
    assert.ok(sseBefore.every((f) => f.event === "message"));
    for (let i = 1; i < sseBefore.length; i++) assert.ok(sseBefore[i].id > sseBefore[i - 1].id);
    // Only the agent's side: no client request comes back as if the agent sent it.
    assert.ok(!sseBefore.some((f) => f.data.method === "session/prompt"));
    const cut = sseBefore[10].id;
    const after = await sseFrames(server, serverId, { "last-event-id": String(cut) });
    assert.deepEqual(after, sseBefore.filter((f) => f.id > cut));
  });

  await step("transcript: both directions, in order", async () => {
    const res = await raw(server, `/v1/acp/${serverId}/events?limit=10000`);
    assert.equal(res.status, 200);
    const { events: all, hasMore } = await res.json();
    assert.equal(hasMore, false);
    assert.ok(all.some((e) => e.direction === "outbound" && e.envelope.method === "session/prompt"));
    assert.ok(all.some((e) => e.direction === "outbound" && e.envelope.result?.outcome?.optionId === "reject-once"));
    assert.deepEqual(all.filter((e) => e.direction === "inbound").map((e) => e.envelope), sseBefore.map((f) => f.data));
  });

  await step("dispose: the SDK deletes its server; it is off the list and its stream 404, the transcript stays", async () => {
    const other = await SandboxAgent.connect({ baseUrl: server.baseUrl, token: server.token });
    const s2 = await other.createSession({ agent: "mock", cwd: "/workspace" });
    await s2.prompt([{ type: "text", text: "short-lived" }]);
    const { servers } = await sdk.listAcpServers();
    const otherId = servers.find((s) => s.serverId !== serverId).serverId;
    await other.dispose();
    const after = await sdk.listAcpServers();
    assert.deepEqual(after.servers.map((s) => s.serverId), [serverId]);
    assert.equal((await raw(server, `/v1/acp/${otherId}`, { headers: { accept: "text/event-stream" } })).status, 404);
    const kept = await (await raw(server, `/v1/acp/${otherId}/events`)).json();
    assert.ok(kept.events.some((e) => e.direction === "outbound" && e.envelope.params?.prompt?.[0]?.text === "short-lived"));
    // The id can be used again: a new agent, a new transcript, whose
    // indexes go on from the old one's (a reader's cursor stays valid).
    const oldLast = kept.events.at(-1).index;
    const again = await raw(server, `/v1/acp/${otherId}?agent=mock`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1 } }),
    });
    assert.equal(again.status, 200);
    const fresh = await (await raw(server, `/v1/acp/${otherId}/events`)).json();
    assert.equal(fresh.events[0].index, oldLast + 1);
    assert.ok(!fresh.events.some((e) => JSON.stringify(e.envelope).includes("short-lived")));
    assert.equal(fresh.events.length, 2);
    assert.equal((await raw(server, `/v1/acp/${otherId}`, { method: "DELETE" })).status, 204);
  });
  // The first client goes away without deleting its server (as a crashed one would).
} finally {
  await server.stop();
}

await step("after a paddock restart: listed as exited, replayed over SSE, a POST says the agent exited", async () => {
  server = await startPaddock({ stateDir, workspaceId: server.workspaceId, extraArgs: dbArgs });
  try {
    const list = await (await raw(server, "/v1/acp")).json();
    assert.deepEqual(list.servers.map((s) => [s.serverId, s.status]), [[serverId, "exited"]]);
    const replayed = await sseFrames(server, serverId);
    // What the agent said before, then the note that its process ended.
    assert.deepEqual(replayed.slice(0, sseBefore.length), sseBefore);
    assert.equal(replayed.length, sseBefore.length + 1);
    assert.deepEqual(replayed.at(-1).data.params, { success: false, code: null, reason: "paddock stopped" });
    const res = await raw(server, `/v1/acp/${serverId}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1000, method: "session/prompt", params: {} }),
    });
    assert.equal(res.status, 500);
    assert.match((await res.json()).type, /agent_process_exited$/);
    const gone = await raw(server, `/v1/acp/${serverId}`, { method: "DELETE" });
    assert.equal(gone.status, 204);
    assert.deepEqual((await (await raw(server, "/v1/acp")).json()).servers, []);
    assert.equal((await raw(server, `/v1/acp/${serverId}/events`)).status, 200);
    assert.equal((await raw(server, "/v1/acp/no-such-server/events")).status, 404);
  } finally {
    await server.stop();
  }
});
rmSync(stateDir, { recursive: true, force: true });
database?.drop();

/** A fresh database on $PADDOCK_TEST_POSTGRES_URL's server (psql). */
function makeDatabase() {
  const admin = process.env.PADDOCK_TEST_POSTGRES_URL;
  if (!admin) throw new Error("--postgres needs PADDOCK_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL server and sets it)");
  const name = `paddock_agents_${process.pid}`;
  const psql = (sql) => {
    const run = spawnSync("psql", [admin, "-qtAc", sql], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`psql ${sql}: ${run.stderr || run.error}`);
  };
  psql(`DROP DATABASE IF EXISTS ${name}`);
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function waitFor(check, ms = 5000) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const failed = results.filter((r) => !r.ok);
console.log(`\n== agents: ${results.length - failed.length}/${results.length} checks passed`);
process.exit(failed.length ? 1 : 0);
