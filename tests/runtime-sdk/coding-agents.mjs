#!/usr/bin/env node
// The real coding agents in a paddock workspace, driven by the unmodified
// sandbox-agent 0.4.2 SDK at the workspace's runtime base URL, their model
// traffic through paddock's phantom proxy to a fake model server on
// 127.0.0.1 (Anthropic Messages, OpenAI Responses and Chat Completions,
// ./fake-model.mjs). For each agent: `paddock agents install` puts it on
// the host; a session writes a file through the agent's own tool; where the
// agent asks permission, a rejected call leaves no file and an allowed one
// writes it (read back through the file API); the events arrive in order;
// the fake upstream saw only the tenant's real key, and the jail only ever
// held phantom tokens; through paddock's agent sessions, a turn id runs once
// (the fake model is not called again) and a detached turn's result is read
// later; MCP servers and skills set through …/v1/config reach each agent's
// model; after a paddock restart every transcript replays. Exit code 0 only
// when every check held.
//
//   PADDOCK_BIN=target/debug/paddock node coding-agents.mjs [claude codex opencode pi]
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxAgent } from "sandbox-agent";

import { FINAL_TEXT, REFUSED_TEXT, startFakeModel } from "./fake-model.mjs";
import { paddockBinary, startPaddock } from "./servers.mjs";

const ALL = ["claude", "codex", "opencode", "pi"];
const agents = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
/** Agents whose ACP server asks before it writes a file. */
const ASKS = new Set(["claude", "codex"]);
/** Agents that take MCP servers (Pi has no MCP by design). */
const MCP = new Set(["claude", "codex", "opencode"]);
/** An MCP server over stdio with one tool, for the config step. */
const MCP_ECHO = `const rl = require("readline").createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\\n");
rl.on("line", (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.id === undefined) return;
  if (m.method === "initialize") send({ id: m.id, result: { protocolVersion: (m.params && m.params.protocolVersion) || "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "paddock-echo", version: "1.0.0" } } });
  else if (m.method === "tools/list") send({ id: m.id, result: { tools: [{ name: "echo_text", description: "Echoes its text back (a paddock test tool)", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } }] } });
  else if (m.method === "tools/call") send({ id: m.id, result: { content: [{ type: "text", text: String((m.params && m.params.arguments && m.params.arguments.text) || "") }] } });
  else send({ id: m.id, error: { code: -32601, message: "method not found" } });
});
`;
const SKILL_MARKER = "PADDOCK-SKILL-MARKER";
const REAL = { anthropic: "sk-ant-REAL-tenant-key-0123456789", openai: "sk-proj-REAL-tenant-key-0123456789" };

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`  FAIL ${name}\n${String(err.stack ?? err).split("\n").slice(0, 10).map((l) => `       ${l}`).join("\n")}`);
  }
}
const within = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms))]);
const updates = (events) =>
  events.filter((e) => e.sender === "agent" && e.payload.method === "session/update").map((e) => e.payload.params.update);

const fake = await startFakeModel();
const stateDir = mkdtempSync(join(tmpdir(), "paddock-coding-agents-"));
mkdirSync(join(stateDir, "state"), { mode: 0o700 });
chmodSync(join(stateDir, "state"), 0o700);

await step(`paddock agents install ${agents.join(" ")} (pinned npm packages)`, async () => {
  const run = spawnSync(paddockBinary(), ["agents", "install", ...agents, "--state-dir", join(stateDir, "state")], { encoding: "utf8", timeout: 15 * 60 * 1000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  for (const agent of agents) assert.match(run.stdout, new RegExp(`^${agent}: installed`, "m"));
});

const serveArgs = ["--service", `anthropic=${fake.url}`, "--service", `openai=${fake.url}`];
let server = await startPaddock({ stateDir, extraArgs: serveArgs });
const api = async (method, path, body) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
};
try {
  for (const [service, secret] of Object.entries(REAL)) await api("POST", "/v1/credentials", { service, secret });
  // Agents need more than the default 512 MiB (OpenCode alone takes ~550 MiB).
  const ws = await api("POST", "/v1/workspaces", { memory_mb: 3072, network: { mode: "none" } });
  const baseUrl = `${server.url}/v1/workspaces/${ws.id}/runtime`;
  const sdk = await SandboxAgent.connect({ baseUrl, token: server.token });

  for (const agent of agents) {
    const agentStart = fake.requests.length;
    await step(`${agent}: listed installed with its pinned version and the tenant's credential`, async () => {
      const info = await sdk.getAgent(agent);
      assert.equal(info.installed, true);
      assert.equal(info.credentialsAvailable, true);
      assert.match(info.version, /^\d+\.\d+\.\d+/);
      assert.equal(info.configError, undefined);
    });

    await step(`${agent}: a session writes a file through the agent's tool; the model saw only the real key`, async () => {
      const first = fake.requests.length;
      const session = await within(sdk.createSession({ agent, cwd: "/workspace" }), 120000, `${agent} createSession`);
      const events = [];
      session.onEvent((e) => events.push(e));
      let reply = "reject";
      const asked = [];
      session.onPermissionRequest((request) => {
        asked.push(request);
        void session.respondPermission(request.id, reply);
      });
      if (ASKS.has(agent)) {
        fake.target.file = `/workspace/${agent}-rejected.txt`;
        const refused = await within(session.prompt([{ type: "text", text: "Write the file." }]), 120000, `${agent} prompt`);
        assert.equal(asked.length, 1, "the agent asked once");
        assert.ok(asked[0].availableReplies.includes("reject"));
        await assert.rejects(sdk.readFsFile({ path: fake.target.file }), `${fake.target.file} must not exist`);
        if (agent === "codex") {
          // Codex's refusal ("No, provide feedback") ends the turn.
          assert.equal(refused.stopReason, "cancelled");
        } else {
          assert.equal(refused.stopReason, "end_turn");
          const said = updates(events).filter((u) => u.sessionUpdate === "agent_message_chunk").map((u) => u.content.text).join("");
          assert.ok(said.includes(REFUSED_TEXT), `the refusal reached the model: ${said}`);
        }
        reply = "once";
        events.length = 0;
      }
      fake.target.file = `/workspace/${agent}-hello.txt`;
      fake.target.content = `hello from ${agent}\n`;
      const answer = await within(session.prompt([{ type: "text", text: "Write the file." }]), 120000, `${agent} prompt`);
      assert.equal(answer.stopReason, "end_turn");
      assert.equal(asked.length, ASKS.has(agent) ? 2 : 0);
      const written = new TextDecoder().decode(await sdk.readFsFile({ path: fake.target.file }));
      assert.equal(written, fake.target.content);
      // In order: the tool call, its completion, then the final message.
      const seen = updates(events);
      const call = seen.findIndex((u) => u.sessionUpdate === "tool_call");
      const done = seen.findIndex((u) => u.sessionUpdate === "tool_call_update" && u.status === "completed");
      const chunks = seen.filter((u) => u.sessionUpdate === "agent_message_chunk");
      const firstChunk = seen.findIndex((u) => u.sessionUpdate === "agent_message_chunk");
      assert.ok(call >= 0 && done > call, `tool_call then tool_call_update(completed): ${seen.map((u) => u.sessionUpdate).join(",")}`);
      assert.ok(seen.slice(done).some((u) => u.sessionUpdate === "agent_message_chunk"), "a message after the tool call");
      assert.ok(firstChunk >= 0);
      assert.ok(chunks.map((u) => u.content.text).join("").includes(FINAL_TEXT), chunks.map((u) => u.content.text).join(""));
      const calls = fake.requests.slice(first).filter((r) => r.method === "POST");
      assert.ok(calls.length >= 2, "the agent called the model");
      for (const r of calls) {
        const credential = r.apiKey ?? r.authorization ?? "";
        assert.ok(credential === REAL.anthropic || credential === REAL.openai || credential === `Bearer ${REAL.openai}` || credential === `Bearer ${REAL.anthropic}`, `upstream credential ${credential}`);
      }
    });

    await step(`${agent}: ${MCP.has(agent) ? "MCP servers and skills" : "skills (Pi has no MCP)"} from …/v1/config reach the agent's model`, async () => {
      const directory = `/workspace/cfg-${agent}`;
      await sdk.mkdirFs({ path: directory });
      await sdk.writeFsFile({ path: "/workspace/mcp-echo.js" }, MCP_ECHO);
      await sdk.writeFsFile(
        { path: "/workspace/skills-src/paddock-greeting/SKILL.md" },
        `---\nname: paddock-greeting\ndescription: ${SKILL_MARKER} greets the user politely\n---\n\nSay hello.\n`,
      );
      await sdk.setMcpConfig({ directory, mcpName: "paddock-echo" }, { type: "local", command: "node", args: ["/workspace/mcp-echo.js"] });
      await sdk.setSkillsConfig({ directory, skillName: "team" }, { sources: [{ type: "local", source: "/workspace/skills-src" }] });
      fake.target.file = `${directory}/configured.txt`;
      const first = fake.requests.length;
      const session = await within(sdk.createSession({ agent, cwd: directory }), 120000, `${agent} createSession`);
      session.onPermissionRequest((request) => void session.respondPermission(request.id, "once"));
      const answer = await within(session.prompt([{ type: "text", text: "Write the file." }]), 120000, `${agent} prompt`);
      assert.equal(answer.stopReason, "end_turn");
      const text = (requests) => requests.map((r) => JSON.stringify(r.body ?? "")).join("\n");
      const seen = text(fake.requests.slice(first));
      // The control: this agent's session before had neither.
      const before = text(fake.requests.slice(agentStart, first));
      assert.ok(!before.includes("echo_text") && !before.includes(SKILL_MARKER), "an earlier session already had them");
      const report = [];
      if (MCP.has(agent) && !seen.includes("echo_text")) report.push("the MCP tool echo_text was not offered to the model");
      if (!seen.includes(SKILL_MARKER)) report.push("the skill's description did not reach the model");
      assert.deepEqual(report, [], `${agent}: ${report.join("; ")}`);
      await sdk.destroySession(session.id);
    });

    await step(`${agent}: an agent session's turn id runs once (the model is not called again); a detached turn is read later`, async () => {
      const sessions = `/v1/workspaces/${ws.id}/agent-sessions`;
      const session = await api("POST", sessions, { agent, id: `ags-${agent}`, permissions: "allow" });
      assert.equal(session.status, "idle");
      const turns = `${sessions}/ags-${agent}/turns`;
      fake.target.file = `/workspace/${agent}-turn.txt`;
      fake.target.content = `a turn of ${agent}\n`;
      const before = fake.requests.length;
      const turn = await within(api("POST", turns, { turnId: "write-1", prompt: "Write the file." }), 120000, `${agent} turn`);
      assert.equal(turn.status, "completed", JSON.stringify(turn));
      assert.equal(turn.stopReason, "end_turn");
      assert.ok(turn.text.includes(FINAL_TEXT), turn.text);
      assert.ok(turn.toolCalls.some((c) => c.status === "completed"), JSON.stringify(turn.toolCalls));
      assert.equal(new TextDecoder().decode(await sdk.readFsFile({ path: fake.target.file })), fake.target.content);
      const called = fake.requests.length - before;
      assert.ok(called >= 2, "the agent called the model");
      const again = await api("POST", turns, { turnId: "write-1", prompt: "Write the file." });
      assert.equal(again.replayed, true);
      assert.equal(again.text, turn.text);
      assert.equal(fake.requests.length - before, called, "a repeated turn id called the model again");

      fake.target.file = `/workspace/${agent}-detached.txt`;
      const detached = await api("POST", turns, { turnId: "write-2", prompt: "Write the file.", detach: true });
      assert.equal(detached.status, "streaming");
      const later = await api("GET", `${turns}/write-2?waitMs=120000`);
      assert.equal(later.status, "completed", JSON.stringify(later));
      assert.ok(later.text.includes(FINAL_TEXT), later.text);
      assert.equal(new TextDecoder().decode(await sdk.readFsFile({ path: fake.target.file })), fake.target.content);
      // Its agent goes with it (a workspace runs at most 8).
      await api("DELETE", `${sessions}/ags-${agent}`);
    });
  }

  await step("the jail held phantom tokens only: no real key in any process's environment or file", async () => {
    // A live agent, so its environment is there to search.
    const live = await sdk.createSession({ agent: agents[0], cwd: "/workspace" });
    // Jailed processes are not dumpable, so their environments are read
    // from the host (as root, which this suite runs as).
    assert.equal(process.getuid(), 0, "reading the agents' environments from the host needs root");
    const environs = [];
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (cmdline.includes("/opt/paddock/agents/")) environs.push(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0"));
      } catch {
        // gone meanwhile
      }
    }
    assert.ok(environs.length > 0, "found the agent's processes");
    assert.ok(environs.some((env) => env.some((v) => /^(ANTHROPIC|OPENAI)_API_KEY=phm_/.test(v))), "an agent holds a phantom token");
    for (const env of environs) assert.ok(!env.some((v) => v.includes("REAL-tenant-key")), "no real key in an agent's environment");
    const probe = await api("POST", `/v1/workspaces/${ws.id}/runtime/v1/processes/run`, {
      command: "/bin/sh",
      args: ["-c", "grep -rl REAL-tenant-key /tmp /workspace; echo grep=$?"],
      timeoutMs: 20000,
    });
    assert.equal(probe.stdout.trim(), "grep=1", `files holding a real key: ${probe.stdout}`);
    void live;
  });
  await step("after a paddock restart each agent's transcript replays: its tool call, its final message, the restart", async () => {
    const servers = (await api("GET", `/v1/workspaces/${ws.id}/runtime/v1/acp`)).servers;
    await server.stop();
    server = await startPaddock({ stateDir, workspaceId: server.workspaceId, extraArgs: serveArgs });
    for (const agent of agents) {
      const ids = servers.filter((s) => s.agent === agent).map((s) => s.serverId);
      assert.ok(ids.length > 0, `${agent} had ACP servers`);
      let said = "";
      let called = false;
      for (const id of ids) {
        const { events } = await api("GET", `/v1/workspaces/${ws.id}/runtime/v1/acp/${id}/events?limit=10000`);
        for (const { envelope } of events) {
          const update = envelope.params?.update;
          if (update?.sessionUpdate === "tool_call") called = true;
          if (update?.sessionUpdate === "agent_message_chunk") said += update.content?.text ?? "";
        }
        assert.equal(events.at(-1).envelope.method, "_adapter/agent_exited", `${agent}: the end of ${id} is in its transcript`);
      }
      assert.ok(called, `${agent}: a tool call in the replayed transcript`);
      assert.ok(said.includes(FINAL_TEXT), `${agent}: the final message in the replayed transcript`);
    }
  });
  await sdk.dispose();
} finally {
  await server.stop();
  await fake.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok);
console.log(`\n== coding agents: ${results.length - failed.length}/${results.length} checks passed`);
process.exit(failed.length ? 1 : 0);
