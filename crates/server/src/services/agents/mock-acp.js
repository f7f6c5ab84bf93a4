#!/usr/bin/env node
// paddock's built-in `mock` coding agent: a real Agent Client Protocol
// agent (JSON-RPC 2.0, one message per line on stdin and stdout) with no
// model behind it, for fast tests of everything around an agent. Written
// into the server's agents directory at startup; see
// crates/server/src/services/agents/mod.rs.
//
// A prompt is read as a small script:
//   write PATH: TEXT   a tool call that writes TEXT to PATH (relative to the
//                      session's cwd) after asking permission
//   sleep MS           streams a chunk every 100 ms for MS (cancellable)
//   fail               answers the prompt with a JSON-RPC error
//   mcp                the names of the MCP servers the session was given
//   skills             the skills in the session's .claude/skills
//   anything else      echoed back as the agent's message
// Every turn reports a plan and its usage.
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const sessions = new Map();
const waiting = new Map();
let nextRequest = 1;
let nextSession = 1;

function send(message) {
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n");
}
function notify(sessionId, update) {
  send({ method: "session/update", params: { sessionId, update } });
}
function request(method, params) {
  const id = `mock-${nextRequest++}`;
  send({ id, method, params });
  return new Promise((resolve) => waiting.set(id, resolve));
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const MODES = [
  { id: "default", name: "Default", description: "Ask before writing files" },
  { id: "acceptEdits", name: "Accept edits", description: "Write files without asking" },
];

async function handle(message) {
  const { id, method, params } = message;
  switch (method) {
    case "initialize":
      return {
        protocolVersion: 1,
        agentCapabilities: {
          loadSession: false,
          promptCapabilities: { image: false, audio: false, embeddedContext: true },
        },
        authMethods: [],
        agentInfo: { name: "paddock-mock", version: "1.0.0" },
      };
    case "session/new": {
      const sessionId = `mock-session-${nextSession++}`;
      const mcp = (params.mcpServers || []).map((s) => s.name);
      sessions.set(sessionId, { cwd: params.cwd || process.cwd(), mode: "default", always: false, turn: null, mcp });
      return { sessionId, modes: { currentModeId: "default", availableModes: MODES } };
    }
    case "session/set_mode": {
      const session = need(params.sessionId);
      if (!MODES.some((m) => m.id === params.modeId)) throw rpcError(-32602, `unknown mode ${params.modeId}`);
      session.mode = params.modeId;
      notify(params.sessionId, { sessionUpdate: "current_mode_update", currentModeId: params.modeId });
      return {};
    }
    case "session/prompt":
      return prompt(need(params.sessionId), params.sessionId, params.prompt || []);
    case "session/cancel":
      if (sessions.has(params.sessionId)) {
        const turn = sessions.get(params.sessionId).turn;
        if (turn) turn.cancelled = true;
      }
      return undefined;
    default:
      if (id === undefined) return undefined;
      throw rpcError(-32601, `method not found: ${method}`);
  }
}

function need(sessionId) {
  const session = sessions.get(sessionId);
  if (!session) throw rpcError(-32602, `unknown session ${sessionId}`);
  return session;
}
function rpcError(code, message) {
  const err = new Error(message);
  err.rpc = { code, message };
  return err;
}

async function prompt(session, sessionId, blocks) {
  const text = blocks.filter((b) => b.type === "text").map((b) => b.text).join("\n").trim();
  const turn = { cancelled: false };
  session.turn = turn;
  try {
    notify(sessionId, { sessionUpdate: "plan", entries: [{ content: `Handle: ${text.slice(0, 60)}`, priority: "medium", status: "in_progress" }] });
    let reply;
    let match;
    if ((match = /^write\s+([^:]+):\s?([\s\S]*)$/.exec(text))) {
      reply = await write(session, sessionId, match[1].trim(), match[2]);
    } else if ((match = /^sleep\s+(\d+)$/.exec(text))) {
      const until = Date.now() + Number(match[1]);
      let n = 0;
      while (Date.now() < until && !turn.cancelled) {
        notify(sessionId, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `tick ${++n}\n` } });
        await sleep(100);
      }
      reply = `slept ${n} ticks`;
    } else if (text === "mcp") {
      reply = `MCP servers: ${session.mcp.join(",")}`;
    } else if (text === "skills") {
      const dir = path.join(session.cwd, ".claude", "skills");
      const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, "SKILL.md"))).sort() : [];
      reply = `Skills: ${names.join(",")}`;
    } else if (text === "fail") {
      throw rpcError(-32603, "the mock agent was asked to fail");
    } else {
      reply = `You said: ${text}`;
    }
    if (turn.cancelled) return { stopReason: "cancelled" };
    for (const piece of reply.match(/[\s\S]{1,16}/g) || [""]) {
      notify(sessionId, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: piece } });
    }
    notify(sessionId, { sessionUpdate: "plan", entries: [{ content: `Handle: ${text.slice(0, 60)}`, priority: "medium", status: "completed" }] });
    notify(sessionId, { sessionUpdate: "usage_update", used: text.length + reply.length, size: 200000 });
    return { stopReason: "end_turn" };
  } finally {
    session.turn = null;
  }
}

async function write(session, sessionId, file, content) {
  const toolCallId = `call-${nextRequest}`;
  const target = path.resolve(session.cwd, file);
  const toolCall = { toolCallId, title: `Write ${file}`, kind: "edit", status: "pending", rawInput: { path: file, content }, locations: [{ path: target }] };
  notify(sessionId, { sessionUpdate: "tool_call", ...toolCall });
  let allowed = session.always || session.mode === "acceptEdits";
  if (!allowed) {
    const answer = await request("session/request_permission", {
      sessionId,
      toolCall,
      options: [
        { optionId: "allow-once", name: "Allow once", kind: "allow_once" },
        { optionId: "allow-always", name: "Always allow", kind: "allow_always" },
        { optionId: "reject-once", name: "Reject", kind: "reject_once" },
      ],
    });
    const outcome = (answer && answer.result && answer.result.outcome) || { outcome: "cancelled" };
    allowed = outcome.outcome === "selected" && outcome.optionId.startsWith("allow");
    if (outcome.outcome === "selected" && outcome.optionId === "allow-always") session.always = true;
  }
  if (!allowed) {
    notify(sessionId, { sessionUpdate: "tool_call_update", toolCallId, status: "failed", content: [{ type: "content", content: { type: "text", text: "permission denied" } }] });
    return `I did not write ${file}: permission was refused.`;
  }
  notify(sessionId, { sessionUpdate: "tool_call_update", toolCallId, status: "in_progress" });
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  } catch (err) {
    notify(sessionId, { sessionUpdate: "tool_call_update", toolCallId, status: "failed", content: [{ type: "content", content: { type: "text", text: String(err.message) } }] });
    return `Writing ${file} failed: ${err.message}`;
  }
  notify(sessionId, { sessionUpdate: "tool_call_update", toolCallId, status: "completed", content: [{ type: "content", content: { type: "text", text: `wrote ${Buffer.byteLength(content)} bytes` } }] });
  return `I wrote ${file}.`;
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    send({ id: null, error: { code: -32700, message: "parse error" } });
    return;
  }
  if (message.method === undefined && message.id !== undefined) {
    const resolve = waiting.get(message.id);
    if (resolve) {
      waiting.delete(message.id);
      resolve(message);
    }
    return;
  }
  Promise.resolve()
    .then(() => handle(message))
    .then(
      (result) => {
        if (message.id !== undefined) send({ id: message.id, result: result === undefined ? null : result });
      },
      (err) => {
        if (message.id !== undefined) send({ id: message.id, error: err.rpc || { code: -32603, message: String(err.message) } });
      },
    );
});
process.stdin.on("end", () => process.exit(0));
