// Coding agents through the SDK's runtime handle against a real `paddock
// serve`, with paddock's built-in mock ACP agent: the agent list, an ACP
// server started by its first envelope, a prompt whose permission request
// arrives on `follow` and is answered with `send`, the file read back, the
// stored transcript, resuming `follow` after an index, and deletion.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Paddock } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, startServer } from "../helpers/server.mjs";

let server;
let paddock;

before(async () => {
  server = await startServer();
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN });
});

after(async () => {
  await server?.stop();
});

describe("coding agents", () => {
  it("list, ACP envelopes both ways, a permission answered, the transcript", async () => {
    const ws = await paddock.workspaces.create({});
    const agents = paddock.workspaces.runtime(ws.id).agents;
    const list = await agents.list();
    assert.deepEqual(list.map((a) => a.id), ["claude", "codex", "opencode", "amp", "pi", "cursor", "mock"]);
    assert.equal(list.find((a) => a.id === "mock").installed, true);
    assert.match((await agents.get("amp")).configError, /npm/);

    const init = await agents.send("s1", { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1 } }, { agent: "mock" });
    assert.equal(init.result.protocolVersion, 1);
    const created = await agents.send("s1", { jsonrpc: "2.0", id: 2, method: "session/new", params: { cwd: "/workspace", mcpServers: [] } });
    const sessionId = created.result.sessionId;
    assert.deepEqual((await agents.servers()).map((s) => [s.serverId, s.agent, s.status]), [["s1", "mock", "running"]]);

    // Follow the agent while the prompt runs; answer its permission request.
    const controller = new AbortController();
    const seen = [];
    const following = (async () => {
      try {
        for await (const message of agents.follow("s1", { signal: controller.signal })) {
          seen.push(message);
          const { envelope } = message;
          if (envelope.method === "session/request_permission") {
            await agents.send("s1", { jsonrpc: "2.0", id: envelope.id, result: { outcome: { outcome: "selected", optionId: "allow-once" } } });
          }
        }
      } catch (err) {
        if (!controller.signal.aborted) throw err;
      }
    })();
    const answer = await agents.send("s1", {
      jsonrpc: "2.0",
      id: 3,
      method: "session/prompt",
      params: { sessionId, prompt: [{ type: "text", text: "write notes/a.txt: from the TypeScript SDK" }] },
    });
    assert.equal(answer.result.stopReason, "end_turn");
    const file = await paddock.workspaces.runtime(ws.id).files.readText("notes/a.txt");
    assert.equal(file, "from the TypeScript SDK");
    controller.abort();
    await following;
    const kinds = seen.map((m) => m.envelope.params?.update?.sessionUpdate ?? m.envelope.method ?? "response");
    assert.ok(kinds.indexOf("tool_call") < kinds.indexOf("session/request_permission"), kinds.join(","));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].index > seen[i - 1].index);

    const { events, hasMore } = await agents.transcript("s1");
    assert.equal(hasMore, false);
    assert.ok(events.some((e) => e.direction === "outbound" && e.envelope.method === "session/prompt"));
    assert.ok(events.some((e) => e.direction === "outbound" && e.envelope.result?.outcome?.optionId === "allow-once"));
    // Resuming after an index yields only what followed it.
    const cut = seen[2].index;
    const resumed = [];
    const again = new AbortController();
    const reading = (async () => {
      try {
        for await (const message of agents.follow("s1", { since: cut, signal: again.signal })) resumed.push(message);
      } catch (err) {
        if (!again.signal.aborted) throw err;
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    again.abort();
    await reading;
    assert.deepEqual(resumed.map((m) => m.index), seen.filter((m) => m.index > cut).map((m) => m.index));

    await agents.deleteServer("s1");
    assert.deepEqual(await agents.servers(), []);
    await assert.rejects(agents.send("s2", { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, { agent: "nope" }), (err) => err.status === 400 && err.serverCode === "UNSUPPORTED_AGENT");
  });

  it("agent sessions: a permission answered from the API, a turn id that runs once, a detached turn, a cancel", async () => {
    const ws = await paddock.workspaces.create({});
    const sessions = paddock.workspaces.agentSessions;
    const created = await sessions.create(ws.id, { agent: "mock", id: "sdk" });
    assert.equal(created.permissions, "ask");
    const detached = await sessions.prompt(ws.id, "sdk", { turnId: "w1", prompt: "write sdk.txt: from the sdk", detach: true });
    assert.equal(detached.status, "streaming");
    let waiting = [];
    for (let i = 0; i < 100 && waiting.length === 0; i++) {
      waiting = (await sessions.get(ws.id, "sdk")).pendingPermissions;
      if (waiting.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(waiting.length, 1);
    await sessions.answerPermission(ws.id, "sdk", waiting[0].id, "once");
    const done = await sessions.turn(ws.id, "sdk", "w1", { waitMs: 20000 });
    assert.equal(done.status, "completed");
    assert.equal(done.text, "I wrote sdk.txt.");
    const text = new TextDecoder().decode(await paddock.workspaces.runtime(ws.id).files.read("/workspace/sdk.txt"));
    assert.equal(text, "from the sdk");
    const again = await sessions.prompt(ws.id, "sdk", { turnId: "w1", prompt: "write sdk.txt: from the sdk" });
    assert.equal(again.replayed, true);
    await assert.rejects(sessions.prompt(ws.id, "sdk", { turnId: "w1", prompt: "other" }), (err) => err.status === 409 && err.serverCode === "TURN_CONFLICT");
    await sessions.prompt(ws.id, "sdk", { turnId: "slow", prompt: "sleep 60000", detach: true });
    const cancelled = await sessions.cancel(ws.id, "sdk", "slow");
    assert.deepEqual([cancelled.status, cancelled.interruptReason], ["interrupted", "cancelled"]);
    assert.deepEqual((await sessions.turns(ws.id, "sdk")).turns.map((t) => [t.turnId, t.status]), [["w1", "completed"], ["slow", "interrupted"]]);
    assert.deepEqual((await sessions.list(ws.id)).sessions.map((s) => s.id), ["sdk"]);
    await sessions.delete(ws.id, "sdk");
    await assert.rejects(sessions.get(ws.id, "sdk"), (err) => err.status === 404 && err.serverCode === "AGENT_SESSION_NOT_FOUND");
  });
});
