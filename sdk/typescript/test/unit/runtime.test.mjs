// The workspace runtime against a fake fetch and a fake WebSocket:
// start/stop/state, every process and file call's request, Problem
// Details errors, log decoding, the SSE follow parser, streamed bodies,
// and the terminal's frames.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";

import { Paddock, PaddockError, TerminalSession } from "../../dist/esm/index.js";
import { bytes, collect, fakeFetch, json, problem, sse } from "../helpers/fake.mjs";

const KEY = "unit-test-key-0123456789";
const WS = "wrk_0123456789abcdef01234567";
const RT = `/v1/workspaces/${WS}/runtime`;

function client(response = json(200, {}), extra = {}) {
  const fetch = fakeFetch(response);
  const paddock = new Paddock({ baseUrl: "http://paddock.test:7000/prefix/", apiKey: KEY, fetch, ...extra });
  return { paddock, fetch, runtime: paddock.workspaces.runtime(WS) };
}

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("the call did not fail");
}

const b64 = (text) => Buffer.from(text).toString("base64");
const entry = (sequence, text, stream = "stdout") => ({ sequence, stream, timestampMs: 1_700_000_000_000 + sequence, data: b64(text), encoding: "base64" });

describe("workspace lifecycle", () => {
  for (const [name, method, suffix] of [
    ["start", "POST", "start"],
    ["stop", "POST", "stop"],
    ["state", "GET", "state"],
  ]) {
    it(`workspaces.${name}`, async () => {
      const state = { id: WS, state: "running", started_at: "2026-01-01T00:00:00Z", processes: 2 };
      const { paddock, fetch } = client(json(200, state));
      assert.deepEqual(await paddock.workspaces[name](WS), state);
      const [call] = fetch.calls;
      assert.equal(call.method, method);
      assert.equal(call.path, `/prefix/v1/workspaces/${WS}/${suffix}`);
      assert.equal(call.body, undefined);
      assert.equal(call.headers.authorization, `Bearer ${KEY}`);
    });
  }

  it("the sandbox-agent base URL keeps the client's prefix and escapes the id", () => {
    const { paddock, runtime } = client();
    assert.equal(paddock.workspaces.sandboxAgentBaseUrl(WS), `http://paddock.test:7000/prefix/v1/workspaces/${WS}/runtime`);
    assert.equal(runtime.baseUrl, paddock.workspaces.sandboxAgentBaseUrl(WS));
    assert.equal(runtime.workspaceId, WS);
    assert.equal(paddock.workspaces.sandboxAgentBaseUrl("a/b"), "http://paddock.test:7000/prefix/v1/workspaces/a%2Fb/runtime");
    assert.throws(() => paddock.workspaces.runtime(""), TypeError);
  });
});

describe("runtime requests", () => {
  // [name, call, method, path (after the runtime prefix), query, body]
  const cases = [
    ["health", (r) => r.health(), "GET", "/v1/health", {}, undefined],
    [
      "processes.run (all options)",
      (r) =>
        r.processes.run({ command: "sh", args: ["-c", "echo hi"], cwd: "/workspace/app", env: { A: "1" }, timeoutMs: 5000, maxOutputBytes: 1024 }),
      "POST",
      "/v1/processes/run",
      {},
      { command: "sh", args: ["-c", "echo hi"], cwd: "/workspace/app", env: { A: "1" }, timeoutMs: 5000, maxOutputBytes: 1024 },
    ],
    ["processes.run (command only)", (r) => r.processes.run({ command: "true" }), "POST", "/v1/processes/run", {}, { command: "true" }],
    [
      "processes.create",
      (r) => r.processes.create({ command: "bash", args: ["-i"], cwd: "sub", env: { TERM: "xterm" }, interactive: true, tty: true }),
      "POST",
      "/v1/processes",
      {},
      { command: "bash", args: ["-i"], cwd: "sub", env: { TERM: "xterm" }, interactive: true, tty: true },
    ],
    ["processes.list", (r) => r.processes.list(), "GET", "/v1/processes", {}, undefined],
    ["processes.list (owner)", (r) => r.processes.list({ owner: "user" }), "GET", "/v1/processes", { owner: "user" }, undefined],
    ["processes.get", (r) => r.processes.get("proc_1"), "GET", "/v1/processes/proc_1", {}, undefined],
    ["processes.stop", (r) => r.processes.stop("proc_1"), "POST", "/v1/processes/proc_1/stop", {}, undefined],
    ["processes.stop (waitMs)", (r) => r.processes.stop("proc_1", { waitMs: 2000 }), "POST", "/v1/processes/proc_1/stop", { waitMs: "2000" }, undefined],
    ["processes.kill (waitMs)", (r) => r.processes.kill("proc_1", { waitMs: 0 }), "POST", "/v1/processes/proc_1/kill", { waitMs: "0" }, undefined],
    ["processes.delete", (r) => r.processes.delete("proc_1"), "DELETE", "/v1/processes/proc_1", {}, undefined],
    ["processes.logs", (r) => r.processes.logs("proc_1"), "GET", "/v1/processes/proc_1/logs", {}, undefined],
    [
      "processes.logs (filters)",
      (r) => r.processes.logs("proc_1", { stream: "stderr", tail: 5, since: 3 }),
      "GET",
      "/v1/processes/proc_1/logs",
      { stream: "stderr", tail: "5", since: "3" },
      undefined,
    ],
    ["processes.input (text)", (r) => r.processes.input("proc_1", "héllo\n"), "POST", "/v1/processes/proc_1/input", {}, { data: "héllo\n", encoding: "utf8" }],
    [
      "processes.input (bytes)",
      (r) => r.processes.input("proc_1", new Uint8Array([0, 255, 10])),
      "POST",
      "/v1/processes/proc_1/input",
      {},
      { data: "AP8K", encoding: "base64" },
    ],
    ["processes.resize", (r) => r.processes.resize("proc_1", { cols: 120, rows: 40 }), "POST", "/v1/processes/proc_1/terminal/resize", {}, { cols: 120, rows: 40 }],
    ["processes.config", (r) => r.processes.config(), "GET", "/v1/processes/config", {}, undefined],
    ["files.list", (r) => r.files.list("src"), "GET", "/v1/fs/entries", { path: "src" }, undefined],
    ["files.list (root)", (r) => r.files.list(), "GET", "/v1/fs/entries", {}, undefined],
    ["files.stat", (r) => r.files.stat("/workspace/a b.txt"), "GET", "/v1/fs/stat", { path: "/workspace/a b.txt" }, undefined],
    ["files.mkdir", (r) => r.files.mkdir("a/b/c"), "POST", "/v1/fs/mkdir", { path: "a/b/c" }, undefined],
    ["files.move", (r) => r.files.move("a", "b"), "POST", "/v1/fs/move", {}, { from: "a", to: "b" }],
    ["files.move (overwrite)", (r) => r.files.move("a", "b", { overwrite: true }), "POST", "/v1/fs/move", {}, { from: "a", to: "b", overwrite: true }],
    ["files.delete", (r) => r.files.delete("a.txt"), "DELETE", "/v1/fs/entry", { path: "a.txt" }, undefined],
    ["files.delete (recursive)", (r) => r.files.delete("dir", { recursive: true }), "DELETE", "/v1/fs/entry", { path: "dir", recursive: "true" }, undefined],
  ];
  for (const [name, call, method, path, query, body] of cases) {
    it(name, async () => {
      const answer = name.startsWith("processes.logs")
        ? { processId: "proc_1", stream: "combined", entries: [] }
        : name.startsWith("processes.list")
          ? { processes: [] }
          : {};
      const { fetch, runtime } = client(json(200, answer));
      await call(runtime);
      assert.equal(fetch.calls.length, 1);
      const [sent] = fetch.calls;
      assert.equal(sent.method, method);
      assert.equal(sent.path, `/prefix${RT}${path}`);
      assert.deepEqual(sent.query, query);
      assert.deepEqual(sent.body, body);
      assert.equal(sent.headers.authorization, `Bearer ${KEY}`);
      assert.equal(sent.headers["content-type"], body === undefined ? undefined : "application/json");
    });
  }

  it("processes.setConfig sends the six limits and nothing else", async () => {
    const config = {
      maxConcurrentProcesses: 8,
      defaultRunTimeoutMs: 1000,
      maxRunTimeoutMs: 2000,
      maxOutputBytes: 10,
      maxLogBytesPerProcess: 20,
      maxInputBytesPerRequest: 30,
    };
    const { fetch, runtime } = client(json(200, config));
    assert.deepEqual(await runtime.processes.setConfig({ ...config, extra: 1 }), config);
    assert.deepEqual(fetch.calls[0].body, config);
    assert.equal(fetch.calls[0].path, `/prefix${RT}/v1/processes/config`);
  });

  it("processes.list returns the array of processes", async () => {
    const proc = { id: "proc_1", command: "sleep", args: ["9"], tty: false, interactive: false, owner: "user", status: "running", pid: 7, createdAtMs: 1 };
    const { runtime } = client(json(200, { processes: [proc] }));
    assert.deepEqual(await runtime.processes.list(), [proc]);
  });

  it("processes.delete resolves to undefined on 204", async () => {
    const { runtime } = client(new Response(null, { status: 204 }));
    assert.equal(await runtime.processes.delete("proc_1"), undefined);
  });

  it("processes.input encodes any bytes as base64 exactly", async () => {
    for (const size of [0, 1, 2, 3, 4, 5, 255, 1000]) {
      const data = new Uint8Array(randomBytes(size));
      const { fetch, runtime } = client(json(200, { bytesWritten: size }));
      await runtime.processes.input("proc_1", data);
      assert.equal(fetch.calls[0].body.data, Buffer.from(data).toString("base64"), `size ${size}`);
      // An ArrayBuffer and a Buffer too.
      await runtime.processes.input("proc_1", data.buffer.slice(0));
      await runtime.processes.input("proc_1", Buffer.from(data));
      assert.equal(fetch.calls[1].body.data, fetch.calls[0].body.data);
      assert.equal(fetch.calls[2].body.data, fetch.calls[0].body.data);
    }
    const { runtime } = client();
    await assert.rejects(runtime.processes.input("proc_1", 42), TypeError);
  });

  it("process and file paths are escaped; empty ids and paths are refused", async () => {
    const { fetch, runtime } = client(json(200, {}));
    await runtime.processes.get("a/b?c");
    assert.equal(fetch.calls[0].url, `http://paddock.test:7000/prefix${RT}/v1/processes/a%2Fb%3Fc`);
    await runtime.files.stat("dir/x&y=z #1");
    assert.deepEqual(fetch.calls[1].query, { path: "dir/x&y=z #1" });
    await assert.rejects(runtime.processes.get(""), TypeError);
    await assert.rejects(runtime.files.read(""), TypeError);
    await assert.rejects(runtime.files.write("", "x"), TypeError);
  });

  it("processes.run waits for its own deadline plus 30 s", async () => {
    // The client's 10 ms deadline would fail a run that takes 50 ms.
    const slow = async (call) => {
      // Like fetch, fail when the request is aborted.
      await new Promise((resolve, reject) => {
        setTimeout(resolve, 50);
        call.signal.addEventListener("abort", () => reject(call.signal.reason), { once: true });
      });
      return json(200, { exitCode: 0, timedOut: false, stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, durationMs: 50 });
    };
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch: fakeFetch(slow), timeoutMs: 10 });
    const runtime = paddock.workspaces.runtime(WS);
    assert.equal((await runtime.processes.run({ command: "true", timeoutMs: 1000 })).exitCode, 0);
    assert.equal((await runtime.processes.stop("proc_1", { waitMs: 1000 })).exitCode, 0);
    // Without waitMs a stop keeps the client's deadline.
    assert.equal((await failure(runtime.processes.stop("proc_1"))).code, "TIMEOUT");
  });
});

describe("files: bytes and streams", () => {
  it("files.read returns the bytes; readText decodes UTF-8", async () => {
    const data = new Uint8Array([0, 1, 2, 250, 255]);
    const { fetch, runtime } = client(bytes(data));
    assert.deepEqual(await runtime.files.read("bin/x"), data);
    assert.equal(fetch.calls[0].method, "GET");
    assert.equal(fetch.calls[0].path, `/prefix${RT}/v1/fs/file`);
    assert.deepEqual(fetch.calls[0].query, { path: "bin/x" });
    assert.equal(fetch.calls[0].headers.accept, "application/octet-stream");
    const text = client(bytes("héllo ✓"));
    assert.equal(await text.runtime.files.readText("a.txt"), "héllo ✓");
  });

  it("files.readStream hands the body over as it arrives, after the deadline stopped", async () => {
    const state = {};
    const fetch = fakeFetch((call) => sse(["one,", "two,", "three"], { signal: call.signal, contentType: "application/octet-stream", state }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch, timeoutMs: 30 });
    const stream = await paddock.workspaces.runtime(WS).files.readStream("big.bin");
    assert.ok(stream instanceof ReadableStream);
    // Past the client's 30 ms deadline: the body is the caller's now.
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await new Response(stream).text(), "one,two,three");
    assert.equal(state.cancelled, false);
  });

  it("cancelling a read stream cancels the body; aborting the signal fails it", async () => {
    const state = {};
    const { runtime } = client((call) => sse(["a", "b"], { open: true, signal: call.signal, contentType: "application/octet-stream", state }));
    const stream = await runtime.files.readStream("x");
    const reader = stream.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "a");
    await reader.cancel();
    assert.equal(state.cancelled, true);

    const controller = new AbortController();
    const other = client((call) => sse(["a"], { open: true, signal: call.signal, contentType: "application/octet-stream" }));
    const aborted = await other.runtime.files.readStream("x", { signal: controller.signal });
    const r2 = aborted.getReader();
    await r2.read();
    const reason = new Error("stop");
    controller.abort(reason);
    await assert.rejects(r2.read(), (err) => err === reason);
  });

  it("files.downloadTar and downloadTarStream ask for the archive", async () => {
    const tar = new Uint8Array(1024).fill(7);
    const { fetch, runtime } = client(bytes(tar, "application/x-tar"));
    assert.deepEqual(await runtime.files.downloadTar("src"), tar);
    assert.equal(fetch.calls[0].path, `/prefix${RT}/v1/fs/archive`);
    assert.deepEqual(fetch.calls[0].query, { path: "src" });
    assert.equal(fetch.calls[0].headers.accept, "application/x-tar");
    const stream = await runtime.files.downloadTarStream();
    assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), tar);
    assert.deepEqual(fetch.calls[1].query, {});
  });

  it("files.write sends text, bytes, blobs, web streams and Node streams as octet-stream", async () => {
    const answer = json(200, { path: "/workspace/f", bytesWritten: 3 });
    const seen = [];
    const fetch = fakeFetch(async (call) => {
      seen.push({ call, text: await new Response(call.raw).text() });
      return answer.clone();
    });
    const runtime = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch }).workspaces.runtime(WS);
    const web = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("we"));
        controller.enqueue(new TextEncoder().encode("b"));
        controller.close();
      },
    });
    const results = [
      await runtime.files.write("f", "txt"),
      await runtime.files.write("f", new TextEncoder().encode("u8a")),
      await runtime.files.write("f", new Blob(["blob"])),
      await runtime.files.write("f", web),
      await runtime.files.write("f", Readable.from([Buffer.from("no"), Buffer.from("de")])),
      await runtime.files.write("f", (async function* () {
        yield new TextEncoder().encode("gen");
      })()),
    ];
    assert.deepEqual(results[0], { path: "/workspace/f", bytesWritten: 3 });
    assert.deepEqual(
      seen.map((s) => s.text),
      ["txt", "u8a", "blob", "web", "node", "gen"],
    );
    for (const { call } of seen) {
      assert.equal(call.method, "PUT");
      assert.equal(call.path, `/v1/workspaces/${WS}/runtime/v1/fs/file`);
      assert.deepEqual(call.query, { path: "f" });
      assert.equal(call.headers["content-type"], "application/octet-stream");
    }
    // Streams go half duplex (what Node's fetch requires of a stream body).
    assert.equal(seen[3].call.init.duplex, "half");
    assert.equal(seen[4].call.init.duplex, "half");
    assert.equal(seen[0].call.init.duplex, undefined);
  });

  it("files.uploadTar posts application/x-tar to upload-batch", async () => {
    const { fetch, runtime } = client(json(200, { paths: ["/workspace/d/a"], truncated: false }));
    const tar = new Uint8Array(512);
    assert.deepEqual(await runtime.files.uploadTar("d", tar), { paths: ["/workspace/d/a"], truncated: false });
    const [call] = fetch.calls;
    assert.equal(call.method, "POST");
    assert.equal(call.path, `/prefix${RT}/v1/fs/upload-batch`);
    assert.deepEqual(call.query, { path: "d" });
    assert.equal(call.headers["content-type"], "application/x-tar");
    assert.equal(call.raw, tar);
  });
});

describe("Problem Details errors", () => {
  const detail = (status, code, kind, more = {}) =>
    problem(status, { type: `urn:sandbox-agent:error:${kind}`, title: kind, detail: `detail ${status}`, code, ...more });

  const table = [
    [400, "BAD_REQUEST", "PATH_NOT_FOUND", "invalid_request"],
    [401, "UNAUTHORIZED", "UNAUTHORIZED", "token_invalid"],
    [404, "NOT_FOUND", "PROCESS_NOT_FOUND", "not_found"],
    [409, "CONFLICT", "PROCESS_RUNNING", "conflict"],
    [413, "BAD_REQUEST", "BODY_TOO_LARGE", "invalid_request"],
    [429, "RATE_LIMITED", "TOO_MANY_REQUESTS", "rate"],
    [502, "SERVER_ERROR", "SPAWN_FAILED", "stream_error"],
    [504, "TIMEOUT", "TIMEOUT", "timeout"],
    [507, "SERVER_ERROR", "INSUFFICIENT_STORAGE", "x"],
  ];
  for (const [status, code, serverCode, kind] of table) {
    it(`${status} problem+json → ${code}`, async () => {
      const { runtime } = client(detail(status, serverCode, kind));
      const err = await failure(runtime.processes.get("proc_9"));
      assert.ok(err instanceof PaddockError);
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(err.serverCode, serverCode);
      assert.equal(err.message, `detail ${status}`);
      assert.equal(err.body.type, `urn:sandbox-agent:error:${kind}`);
      assert.equal(err.method, "GET");
      assert.equal(err.path, `${RT}/v1/processes/proc_9`);
    });
  }

  it("takes the stable code from details.code when there is no top-level code", async () => {
    const { runtime } = client(
      problem(404, { type: "urn:sandbox-agent:error:not_found", title: "Not Found", detail: "process proc_9 not found", details: { code: "PROCESS_NOT_FOUND" } }),
    );
    const err = await failure(runtime.processes.kill("proc_9"));
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(err.serverCode, "PROCESS_NOT_FOUND");
    assert.equal(err.message, "process proc_9 not found");
    assert.equal(err.status, 404);
  });

  it("falls back to the title without a detail, and keeps sandbox-agent's details", async () => {
    const { runtime } = client(problem(409, { type: "urn:sandbox-agent:error:conflict", title: "Conflict", details: { message: "busy" } }));
    const err = await failure(runtime.files.move("a", "b"));
    assert.equal(err.message, "Conflict");
    assert.equal(err.serverCode, undefined);
    assert.deepEqual(err.body.details, { message: "busy" });
  });

  it("errors of binary and streamed calls are mapped too", async () => {
    for (const call of [(r) => r.files.read("nope"), (r) => r.files.readStream("nope"), (r) => r.files.downloadTar("nope"), (r) => collect(r.processes.follow("proc_1"))]) {
      const { runtime } = client(detail(400, "PATH_NOT_FOUND", "invalid_request"));
      const err = await failure(call(runtime));
      assert.equal(err.code, "BAD_REQUEST");
      assert.equal(err.serverCode, "PATH_NOT_FOUND");
      assert.equal(err.message, "detail 400");
    }
  });

  it("workspace lifecycle errors keep the control plane's {error, code}", async () => {
    const { paddock } = client(json(404, { error: "workspace not found", code: "NOT_FOUND" }));
    const err = await failure(paddock.workspaces.start(WS));
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(err.message, "workspace not found");
  });
});

describe("logs", () => {
  it("processes.logs decodes each entry's bytes and keeps the wire fields", async () => {
    const wire = { processId: "proc_1", stream: "combined", entries: [entry(1, "hello\n"), entry(2, "oops\n", "stderr"), { ...entry(3, ""), data: "/w==" }] };
    const { runtime } = client(json(200, wire));
    const logs = await runtime.processes.logs("proc_1");
    assert.equal(logs.processId, "proc_1");
    assert.equal(logs.stream, "combined");
    assert.equal(logs.entries.length, 3);
    assert.equal(new TextDecoder().decode(logs.entries[0].bytes), "hello\n");
    assert.equal(logs.entries[1].stream, "stderr");
    assert.deepEqual(logs.entries[2].bytes, new Uint8Array([255]));
    assert.equal(logs.entries[0].data, b64("hello\n"));
    assert.equal(logs.entries[0].sequence, 1);
  });

  it("bad base64 is a SERVER_ERROR", async () => {
    const { runtime } = client(json(200, { processId: "proc_1", stream: "combined", entries: [{ ...entry(1, "x"), data: "!!!" }] }));
    assert.equal((await failure(runtime.processes.logs("proc_1"))).code, "SERVER_ERROR");
  });
});

describe("processes.follow (SSE)", () => {
  const event = (e) => `event: log\nid: ${e.sequence}\ndata: ${JSON.stringify(e)}\n\n`;

  it("asks for follow=true as an event stream, with no deadline", async () => {
    const fetch = fakeFetch((call) => sse([event(entry(1, "a"))], { signal: call.signal }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch, timeoutMs: 20 });
    const runtime = paddock.workspaces.runtime(WS);
    const out = [];
    for await (const chunk of runtime.processes.follow("proc_1", { stream: "pty", since: 4, tail: 10 })) {
      // Longer than the client's deadline: a follow has none by default.
      await new Promise((resolve) => setTimeout(resolve, 40));
      out.push(chunk);
    }
    assert.equal(out.length, 1);
    const [call] = fetch.calls;
    assert.equal(call.method, "GET");
    assert.equal(call.path, `${RT}/v1/processes/proc_1/logs`);
    assert.deepEqual(call.query, { stream: "pty", tail: "10", since: "4", follow: "true" });
    assert.equal(call.headers.accept, "text/event-stream");
  });

  it("yields decoded entries across split chunks, skipping comments and other events, until the stream ends", async () => {
    const wire = event(entry(1, "héllo ")) + ": keep-alive\n\n" + "event: other\ndata: {}\n\n" + event(entry(2, "wörld\n", "stderr"));
    // Split everywhere, even inside multi-byte characters, with CRLF line ends on half.
    const encoded = new TextEncoder().encode(wire);
    const pieces = [];
    for (let i = 0; i < encoded.length; i += 7) pieces.push(encoded.slice(i, i + 7));
    const { runtime } = client((call) => sse(pieces, { signal: call.signal }));
    const chunks = await collect(runtime.processes.follow("proc_1"));
    assert.deepEqual(
      chunks.map((c) => [c.sequence, c.stream, new TextDecoder().decode(c.bytes)]),
      [
        [1, "stdout", "héllo "],
        [2, "stderr", "wörld\n"],
      ],
    );
    assert.equal(chunks[0].timestampMs, 1_700_000_000_001);
    const crlf = client((call) => sse([event(entry(5, "x")).replace(/\n/g, "\r\n")], { signal: call.signal }));
    assert.deepEqual((await collect(crlf.runtime.processes.follow("proc_1"))).map((c) => c.sequence), [5]);
  });

  it("an empty stream (the process had ended) yields nothing", async () => {
    const { runtime } = client((call) => sse([], { signal: call.signal }));
    assert.deepEqual(await collect(runtime.processes.follow("proc_1")), []);
  });

  it("leaving the loop early cancels the stream", async () => {
    const state = {};
    const { runtime } = client((call) => sse([event(entry(1, "a")), event(entry(2, "b"))], { open: true, signal: call.signal, state }));
    for await (const chunk of runtime.processes.follow("proc_1")) {
      assert.equal(chunk.sequence, 1);
      break;
    }
    assert.equal(state.cancelled, true);
  });

  it("aborting the signal rejects with its reason", async () => {
    const controller = new AbortController();
    const { runtime } = client((call) => sse([event(entry(1, "a"))], { open: true, signal: call.signal }));
    const reason = new Error("enough");
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of runtime.processes.follow("proc_1", { signal: controller.signal })) {
          seen.push(chunk.sequence);
          setTimeout(() => controller.abort(reason), 5);
        }
      })(),
      (err) => err === reason,
    );
    assert.deepEqual(seen, [1]);
  });

  it("a timeoutMs in the call options bounds the follow", async () => {
    const { runtime } = client((call) => sse([], { open: true, signal: call.signal }));
    const err = await failure(collect(runtime.processes.follow("proc_1", {}, { timeoutMs: 30 })));
    assert.equal(err.code, "TIMEOUT");
  });

  it("a log event that is not an entry, or an answer that is not SSE, is a SERVER_ERROR", async () => {
    const bad = client((call) => sse(["event: log\ndata: nope\n\n"], { signal: call.signal }));
    assert.equal((await failure(collect(bad.runtime.processes.follow("proc_1")))).code, "SERVER_ERROR");
    const notSse = client(json(200, { processId: "proc_1", stream: "combined", entries: [] }));
    const err = await failure(collect(notSse.runtime.processes.follow("proc_1")));
    assert.equal(err.code, "SERVER_ERROR");
    assert.match(err.message, /text\/event-stream/);
  });
});

// ---------------------------------------------------------------- terminal

/** A WebSocket double: records what the SDK sends; the test plays the server. */
class FakeSocket {
  static instances = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.binaryType = "blob";
    this.sent = [];
    this.closed = false;
    this.listeners = { open: [], message: [], error: [], close: [] };
    FakeSocket.instances.push(this);
  }
  addEventListener(type, listener) {
    this.listeners[type].push(listener);
  }
  send(data) {
    assert.equal(this.readyState, 1, "send only on an open socket");
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.closed = true;
    if (this.readyState < 2) this.readyState = 2;
  }
  // The server's side.
  emit(type, event = {}) {
    for (const listener of this.listeners[type]) listener(event);
  }
  open() {
    this.readyState = 1;
    this.emit("open");
  }
  text(frame) {
    this.emit("message", { data: JSON.stringify(frame) });
  }
  binary(data) {
    this.emit("message", { data });
  }
  shut(code = 1005, reason = "") {
    this.readyState = 3;
    this.emit("close", { code, reason });
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function terminal(options = {}, clientOptions = { WebSocket: FakeSocket }) {
  FakeSocket.instances = [];
  const { runtime } = client(json(200, {}), clientOptions);
  const term = runtime.processes.terminal("proc_3", options);
  return { term, socket: FakeSocket.instances[0] };
}

describe("processes.terminal", () => {
  it("connects to the terminal route over ws:// with the key as access_token", () => {
    const { term, socket } = terminal();
    assert.ok(term instanceof TerminalSession);
    const url = new URL(socket.url);
    assert.equal(url.protocol, "ws:");
    assert.equal(url.host, "paddock.test:7000");
    assert.equal(url.pathname, `/prefix${RT}/v1/processes/proc_3/terminal/ws`);
    assert.equal(url.searchParams.get("access_token"), KEY);
    assert.equal(socket.binaryType, "arraybuffer");
    assert.equal(term.processId, "proc_3");
    assert.equal(term.socket, socket);

    FakeSocket.instances = [];
    const secure = new Paddock({ baseUrl: "https://paddock.example", apiKey: "k/+=", fetch: fakeFetch(), WebSocket: FakeSocket });
    secure.workspaces.runtime(WS).processes.terminal("proc_1", { protocols: ["x"] });
    assert.equal(FakeSocket.instances[0].url, `wss://paddock.example${RT}/v1/processes/proc_1/terminal/ws?access_token=k%2F%2B%3D`);
    assert.deepEqual(FakeSocket.instances[0].protocols, ["x"]);
  });

  it("delivers ready, output (any binary form, in order), exit and close", async () => {
    const { term, socket } = terminal();
    const seen = [];
    term.onReady((frame) => seen.push(["ready", frame.processId]));
    term.onData((data) => seen.push(["data", new TextDecoder().decode(data)]));
    term.onExit((frame) => seen.push(["exit", frame.exitCode]));
    term.onClose((info) => seen.push(["close", info.code]));
    socket.open();
    socket.text({ type: "ready", processId: "proc_3" });
    assert.deepEqual(await term.ready, { type: "ready", processId: "proc_3" });
    socket.binary(new TextEncoder().encode("ab").buffer); // ArrayBuffer
    socket.binary(new Blob(["cd"])); // a Blob (read asynchronously, still in order)
    socket.binary(Buffer.from("ef")); // Node's Buffer
    socket.binary([Buffer.from("g"), Buffer.from("h")]); // ws "fragments"
    socket.text({ type: "exit", exitCode: 3 });
    socket.shut();
    assert.equal(await term.exited, 3);
    assert.deepEqual(await term.closed, { code: 1005, reason: "" });
    assert.deepEqual(seen, [
      ["ready", "proc_3"],
      ["data", "ab"],
      ["data", "cd"],
      ["data", "ef"],
      ["data", "gh"],
      ["exit", 3],
      ["close", 1005],
    ]);
  });

  it("sends input (text as utf8, bytes as base64), resizes and close as JSON frames; queues them until open", async () => {
    const { term, socket } = terminal();
    term.sendInput("ls\n");
    term.resize({ cols: 100, rows: 30 });
    assert.deepEqual(socket.sent, [], "nothing is sent before the socket opens");
    socket.open();
    await tick();
    term.sendInput(new Uint8Array([3]));
    term.sendInput(new Uint8Array([0xe2, 0x9c, 0x93]).buffer);
    term.close();
    assert.deepEqual(socket.sent, [
      { type: "input", data: "ls\n", encoding: "utf8" },
      { type: "resize", cols: 100, rows: 30 },
      { type: "input", data: "Aw==", encoding: "base64" },
      { type: "input", data: "4pyT", encoding: "base64" },
      { type: "close" },
    ]);
    assert.equal(socket.closed, true);
    term.close(); // a second close does nothing
    assert.equal(socket.sent.length, 5);
    term.sendInput("dropped"); // after close: dropped, not thrown
    assert.equal(socket.sent.length, 5);
    assert.throws(() => term.sendInput(42), TypeError);
  });

  it("closing before the socket opens sends nothing and drops queued input", async () => {
    const { term, socket } = terminal();
    term.sendInput("queued");
    term.close();
    assert.equal(socket.closed, true);
    socket.shut(1006);
    await term.closed;
    assert.deepEqual(socket.sent, []);
    assert.equal((await failure(term.ready)).code, "NETWORK");
  });

  it("error frames and unreadable frames reach onError as PaddockErrors", async () => {
    const { term, socket } = terminal();
    const errors = [];
    term.onError((err) => errors.push(err));
    socket.open();
    socket.text({ type: "ready", processId: "proc_3" });
    socket.text({ type: "error", message: "bad terminal frame: x" });
    socket.emit("message", { data: "not json" });
    socket.emit("message", { data: 42 });
    await term.ready;
    await tick();
    assert.equal(errors.length, 3);
    assert.ok(errors.every((e) => PaddockError.is(e)));
    assert.equal(errors[0].code, "BAD_REQUEST");
    assert.equal(errors[0].message, "bad terminal frame: x");
    assert.equal(errors[1].code, "SERVER_ERROR");
    assert.equal(errors[2].code, "SERVER_ERROR");
  });

  it("a refused upgrade rejects ready with the status ws reports", async () => {
    const { term, socket } = terminal();
    const errors = [];
    term.onError((err) => errors.push(err));
    socket.emit("error", { message: "Unexpected server response: 404", error: new Error("Unexpected server response: 404") });
    socket.shut(1006);
    const err = await failure(term.ready);
    assert.ok(PaddockError.is(err));
    assert.equal(err.status, 404);
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(errors.length, 1);
    assert.equal((await term.closed).code, 1006);
  });

  it("a socket that fails or closes before ready rejects ready with NETWORK", async () => {
    const failed = terminal();
    failed.socket.emit("error", {});
    assert.equal((await failure(failed.term.ready)).code, "NETWORK");

    const closed = terminal();
    closed.socket.shut(1006);
    const err = await failure(closed.term.ready);
    assert.equal(err.code, "NETWORK");
    assert.match(err.message, /before the server was ready/);
  });

  it("an unobserved failure of ready is not an unhandled rejection", async () => {
    const { socket } = terminal();
    let unhandled = false;
    const onUnhandled = () => (unhandled = true);
    process.on("unhandledRejection", onUnhandled);
    socket.shut(1006);
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.off("unhandledRejection", onUnhandled);
    assert.equal(unhandled, false);
  });

  it("listeners can be removed", async () => {
    const { term, socket } = terminal();
    const seen = [];
    const off = term.onData((d) => seen.push(d));
    socket.open();
    socket.binary(new Uint8Array([1]));
    await tick();
    off();
    socket.binary(new Uint8Array([2]));
    await tick();
    assert.equal(seen.length, 1);
  });

  it("picks the WebSocket class: per call, else the client's, else the global, else throws", () => {
    class Other extends FakeSocket {}
    FakeSocket.instances = [];
    const { runtime } = client(json(200, {}), { WebSocket: FakeSocket });
    runtime.processes.terminal("p", { WebSocket: Other });
    assert.ok(FakeSocket.instances[0] instanceof Other);

    const bare = client(json(200, {}), {});
    const saved = globalThis.WebSocket;
    try {
      globalThis.WebSocket = undefined;
      assert.throws(() => bare.runtime.processes.terminal("p"), (err) => err instanceof TypeError && /ws/.test(err.message));
      globalThis.WebSocket = FakeSocket;
      FakeSocket.instances = [];
      bare.runtime.processes.terminal("p");
      assert.equal(FakeSocket.instances.length, 1);
    } finally {
      globalThis.WebSocket = saved;
    }
  });
});
