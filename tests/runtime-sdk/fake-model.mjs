// A fake model server on 127.0.0.1 for the coding-agent tests: it speaks
// Anthropic Messages, OpenAI Responses and OpenAI Chat Completions (each
// streamed as SSE, or as one JSON answer), records every request (method,
// path, credential headers, body), and plays one script whatever the agent:
//
//   1. a request that offers a tool able to write files, with no tool result
//      after the latest user message: call it to write `target.file` (default
//      /workspace/hello.txt) with `target.content`;
//   2. a request with a tool result after the latest user message: a final message,
//      FINAL_TEXT ("I wrote hello.txt." or, when the result says the call
//      was refused, "The write was refused.");
//   3. anything else (titles, summaries, probes): a short text.
//
// It is a stand-in for the model APIs only (which cannot be reached here);
// the agents, their adapters and the phantom proxy in front of it are real.
import { createServer } from "node:http";

export const FINAL_TEXT = "I wrote hello.txt.";
export const REFUSED_TEXT = "The write was refused.";

export async function startFakeModel({ file = "/workspace/hello.txt", content = "hello from the agent\n" } = {}) {
  const requests = [];
  // What the next tool call writes (a test moves it between prompts).
  const target = { file, content };
  let counter = 0;
  const id = (prefix) => `${prefix}_${++counter}`;

  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const path = req.url.split("?")[0];
    const record = {
      method: req.method,
      path,
      apiKey: req.headers["x-api-key"] ?? null,
      authorization: req.headers.authorization ?? null,
      body,
    };
    requests.push(record);
    try {
      if (req.method === "GET" && /\/models$/.test(path)) return json(res, 200, models(path));
      if (req.method !== "POST") return json(res, 404, { error: { type: "not_found", message: `fake model: no ${req.method} ${path}` } });
      if (path.endsWith("/messages/count_tokens")) return json(res, 200, { input_tokens: 42 });
      if (path.endsWith("/messages")) return anthropic(res, body);
      if (path.endsWith("/responses")) return responses(res, body);
      if (path.endsWith("/chat/completions")) return chat(res, body);
      return json(res, 404, { error: { type: "not_found", message: `fake model: no POST ${path}` } });
    } catch (err) {
      record.error = String(err.stack ?? err);
      if (!res.headersSent) json(res, 500, { error: { type: "api_error", message: String(err.message) } });
      else res.end();
    }
  });

  function models(path) {
    const data = [
      { id: "claude-sonnet-4-5", type: "model", display_name: "Claude Sonnet 4.5", created_at: "2025-09-29T00:00:00Z" },
      { id: "gpt-5", object: "model", created: 1, owned_by: "openai" },
    ];
    return path.includes("anthropic") ? { data, has_more: false, first_id: data[0].id, last_id: data[1].id } : { object: "list", data };
  }

  // --- the script --------------------------------------------------------

  /** What to do for a conversation: {kind:"tool", name, input} | {kind:"text", text}. */
  function decide(tools, toolResult) {
    if (toolResult !== undefined) {
      const refused = /denied|refused|rejected|not allowed|permission|declined|aborted|cancel/i.test(toolResult);
      return { kind: "text", text: refused ? REFUSED_TEXT : FINAL_TEXT };
    }
    const tool = writeTool(tools);
    if (tool) return { kind: "tool", ...tool };
    return { kind: "text", text: "hello.txt writer" };
  }

  /** The agent's tool that writes a file, and its input for FILE. */
  function writeTool(tools) {
    const { file, content } = target;
    for (const t of tools) {
      const name = t.name;
      const props = t.properties ?? {};
      const keys = Object.keys(props);
      if (/^(write|Write|write_file|create_file)$/.test(name) && keys.includes("content")) {
        const pathKey = ["file_path", "filePath", "path", "filename"].find((k) => keys.includes(k));
        if (pathKey) return { name, input: { [pathKey]: file, content } };
      }
    }
    for (const t of tools) {
      if (t.name === "apply_patch") {
        const patch = `*** Begin Patch\n*** Add File: ${file}\n${content.replace(/\n$/, "").split("\n").map((l) => `+${l}`).join("\n")}\n*** End Patch\n`;
        return t.freeform ? { name: t.name, freeform: true, input: patch } : { name: t.name, input: { input: patch } };
      }
    }
    for (const t of tools) {
      if (/^(shell|exec_command|bash|Bash)$/.test(t.name)) {
        const script = `printf %s ${shellQuote(content)} > ${shellQuote(file)}`;
        const keys = Object.keys(t.properties ?? {});
        if (keys.includes("cmd")) return { name: t.name, input: { cmd: script } };
        if (t.name === "shell") return { name: t.name, input: { command: ["bash", "-lc", script] } };
        return { name: t.name, input: { command: script } };
      }
    }
    return null;
  }

  // --- Anthropic Messages ------------------------------------------------

  function anthropic(res, body) {
    const tools = (body.tools ?? []).map((t) => ({ name: t.name, properties: t.input_schema?.properties }));
    // Only results after the latest user turn count (a new prompt starts over).
    let toolResult;
    for (const m of body.messages ?? []) {
      if (m.role !== "user") continue;
      const blocks = Array.isArray(m.content) ? m.content : [{ type: "text", text: m.content }];
      const results = blocks.filter((b) => b.type === "tool_result");
      if (results.length === 0) toolResult = undefined;
      for (const block of results) toolResult = textOf(block.content) + (block.is_error ? " (error)" : "");
    }
    const action = decide(tools, toolResult);
    const model = body.model ?? "claude-sonnet-4-5";
    const msgId = id("msg");
    const usage = { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const block =
      action.kind === "tool"
        ? { type: "tool_use", id: id("toolu"), name: action.name, input: action.input }
        : { type: "text", text: action.text };
    const stopReason = action.kind === "tool" ? "tool_use" : "end_turn";
    if (!body.stream) {
      return json(res, 200, { id: msgId, type: "message", role: "assistant", model, content: [block], stop_reason: stopReason, stop_sequence: null, usage });
    }
    const sse = startSse(res);
    sse("message_start", { type: "message_start", message: { id: msgId, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
    if (block.type === "text") {
      sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      for (const piece of split(block.text)) sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: piece } });
    } else {
      sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: block.id, name: block.name, input: {} } });
      for (const piece of split(JSON.stringify(block.input), 24)) sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: piece } });
    }
    sse("content_block_stop", { type: "content_block_stop", index: 0 });
    sse("message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 20 } });
    sse("message_stop", { type: "message_stop" });
    res.end();
  }

  // --- OpenAI Responses --------------------------------------------------

  function responses(res, body) {
    const tools = (body.tools ?? []).map((t) =>
      t.type === "custom" ? { name: t.name, freeform: true } : { name: t.name ?? t.function?.name, properties: (t.parameters ?? t.function?.parameters)?.properties },
    );
    let toolResult;
    for (const item of Array.isArray(body.input) ? body.input : []) {
      if (item.type === "message" && item.role === "user") toolResult = undefined;
      if (item.type === "function_call_output" || item.type === "custom_tool_call_output") toolResult = textOf(item.output);
    }
    const action = decide(tools, toolResult);
    const model = body.model ?? "gpt-5";
    const respId = id("resp");
    let item;
    if (action.kind === "tool" && action.freeform) {
      item = { type: "custom_tool_call", id: id("ctc"), call_id: id("call"), name: action.name, input: action.input, status: "completed" };
    } else if (action.kind === "tool") {
      item = { type: "function_call", id: id("fc"), call_id: id("call"), name: action.name, arguments: JSON.stringify(action.input), status: "completed" };
    } else {
      item = { type: "message", id: id("msg"), role: "assistant", status: "completed", content: [{ type: "output_text", text: action.text, annotations: [] }] };
    }
    const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 120 };
    const response = (status, output) => ({ id: respId, object: "response", created_at: Math.floor(Date.now() / 1000), status, model, output, usage: status === "completed" ? usage : null });
    if (!body.stream) return json(res, 200, response("completed", [item]));
    const sse = startSse(res);
    let seq = 0;
    const send = (type, data) => sse(type, { type, sequence_number: seq++, ...data });
    send("response.created", { response: response("in_progress", []) });
    send("response.in_progress", { response: response("in_progress", []) });
    if (item.type === "message") {
      send("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } });
      send("response.content_part.added", { item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
      for (const piece of split(action.text)) send("response.output_text.delta", { item_id: item.id, output_index: 0, content_index: 0, delta: piece });
      send("response.output_text.done", { item_id: item.id, output_index: 0, content_index: 0, text: action.text });
      send("response.content_part.done", { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] });
    } else if (item.type === "function_call") {
      send("response.output_item.added", { output_index: 0, item: { ...item, arguments: "", status: "in_progress" } });
      send("response.function_call_arguments.delta", { item_id: item.id, output_index: 0, delta: item.arguments });
      send("response.function_call_arguments.done", { item_id: item.id, output_index: 0, arguments: item.arguments });
    } else {
      send("response.output_item.added", { output_index: 0, item: { ...item, input: "", status: "in_progress" } });
      send("response.custom_tool_call_input.delta", { item_id: item.id, output_index: 0, delta: item.input });
      send("response.custom_tool_call_input.done", { item_id: item.id, output_index: 0, input: item.input });
    }
    send("response.output_item.done", { output_index: 0, item });
    send("response.completed", { response: response("completed", [item]) });
    res.end();
  }

  // --- OpenAI Chat Completions -------------------------------------------

  function chat(res, body) {
    const tools = (body.tools ?? []).map((t) => ({ name: t.function?.name, properties: t.function?.parameters?.properties }));
    let toolResult;
    for (const m of body.messages ?? []) {
      if (m.role === "user") toolResult = undefined;
      if (m.role === "tool") toolResult = textOf(m.content);
    }
    const action = decide(tools, toolResult);
    const model = body.model ?? "gpt-5";
    const chatId = id("chatcmpl");
    const created = Math.floor(Date.now() / 1000);
    const call = action.kind === "tool" ? { id: id("call"), type: "function", function: { name: action.name, arguments: JSON.stringify(action.input) } } : null;
    const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 };
    if (!body.stream) {
      const message = call ? { role: "assistant", content: null, tool_calls: [call] } : { role: "assistant", content: action.text };
      return json(res, 200, { id: chatId, object: "chat.completion", created, model, choices: [{ index: 0, message, finish_reason: call ? "tool_calls" : "stop" }], usage });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const chunk = (delta, finish = null, extra = {}) =>
      res.write(`data: ${JSON.stringify({ id: chatId, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);
    if (call) {
      chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, ...call, function: { name: call.function.name, arguments: "" } }] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: call.function.arguments } }] });
      chunk({}, "tool_calls");
    } else {
      chunk({ role: "assistant", content: "" });
      for (const piece of split(action.text)) chunk({ content: piece });
      chunk({}, "stop");
    }
    if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: chatId, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`);
    res.write("data: [DONE]\n\n");
    res.end();
  }

  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    target,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

function json(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function startSse(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  return (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function split(text, size = 8) {
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [""];
}

function textOf(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? v : v.text ?? v.output ?? JSON.stringify(v))).join("\n");
  if (value && typeof value === "object") return value.text ?? value.output ?? JSON.stringify(value);
  return String(value ?? "");
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}
