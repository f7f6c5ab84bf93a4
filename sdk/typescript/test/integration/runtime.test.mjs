// The workspace runtime end to end against a real `paddock serve`: start,
// stop and state; processes (run, create, logs, follow, input, stop, kill,
// delete); a terminal session over a WebSocket (the `ws` package, as Node
// 20 has no global WebSocket); files (write, read, list, stat, mkdir,
// move, delete, tar both ways); Problem Details errors; tenant scoping.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";

import WebSocket from "ws";

import { Paddock } from "../../dist/esm/index.js";
import { collect } from "../helpers/fake.mjs";
import { ADMIN_TOKEN, OTHER_TOKEN, failure, startServer } from "../helpers/server.mjs";

let server;
let paddock;

before(async () => {
  server = await startServer();
  paddock = new Paddock({ baseUrl: server.url, apiKey: ADMIN_TOKEN, WebSocket });
});

after(async () => {
  await server?.stop();
});

const text = (bytes) => new TextDecoder().decode(bytes);
const joined = (chunks) => text(Buffer.concat(chunks.map((c) => c.bytes)));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value (or fails after `ms`). */
async function until(check, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("workspace lifecycle", () => {
  it("start, state and stop", async () => {
    const ws = await paddock.workspaces.create({ label: "sdk-runtime-lifecycle" });
    const stopped = await paddock.workspaces.state(ws.id);
    assert.equal(stopped.id, ws.id);
    assert.equal(stopped.state, "stopped");
    assert.equal(stopped.processes, 0);
    assert.equal(stopped.started_at ?? null, null);

    const started = await paddock.workspaces.start(ws.id);
    assert.equal(started.id, ws.id);
    assert.equal(started.state, "running");
    assert.ok(!Number.isNaN(Date.parse(started.started_at)), started.started_at);
    assert.equal((await paddock.workspaces.start(ws.id)).state, "running", "start is idempotent");

    const runtime = paddock.workspaces.runtime(ws.id);
    const proc = await runtime.processes.create({ command: "sleep", args: ["600"] });
    const running = await paddock.workspaces.state(ws.id);
    assert.equal(running.state, "running");
    assert.equal(running.processes, 1);

    const after = await paddock.workspaces.stop(ws.id);
    assert.equal(after.state, "stopped");
    assert.equal(after.processes, 0);
    assert.equal((await paddock.workspaces.state(ws.id)).state, "stopped");
    assert.equal((await paddock.workspaces.stop(ws.id)).state, "stopped", "stop is idempotent");
    // The process ended with the runtime jail; the next call starts a fresh one.
    assert.equal((await failure(runtime.processes.get(proc.id))).code, "NOT_FOUND");
    assert.equal((await paddock.workspaces.state(ws.id)).state, "running");

    const missing = await failure(paddock.workspaces.start("wrk_000000000000000000000000"));
    assert.equal(missing.code, "NOT_FOUND");
    await paddock.workspaces.delete(ws.id);
  });

  it("health and the sandbox-agent base URL", async () => {
    const ws = await paddock.workspaces.create({ label: "sdk-runtime-health" });
    const runtime = paddock.workspaces.runtime(ws.id);
    assert.deepEqual(await runtime.health(), { status: "ok" });
    // Health does not start the workspace.
    assert.equal((await paddock.workspaces.state(ws.id)).state, "stopped");
    const base = paddock.workspaces.sandboxAgentBaseUrl(ws.id);
    assert.equal(base, `${server.url}/v1/workspaces/${ws.id}/runtime`);
    assert.equal(runtime.baseUrl, base);
    // What the sandbox-agent SDK does with it: `${baseUrl}/v1/...` with the key as its bearer token.
    const raw = await fetch(`${base}/v1/processes/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ command: "echo", args: ["via", "base"] }),
    });
    assert.equal(raw.status, 200);
    assert.equal((await raw.json()).stdout, "via base\n");
    await paddock.workspaces.delete(ws.id);
  });
});

describe("processes", () => {
  let ws;
  let runtime;

  before(async () => {
    ws = await paddock.workspaces.create({ label: "sdk-runtime-processes" });
    runtime = paddock.workspaces.runtime(ws.id);
  });

  after(async () => {
    await paddock.workspaces.delete(ws.id);
  });

  it("run: output, exit code, env, cwd, deadline and truncation", async () => {
    const result = await runtime.processes.run({
      command: "sh",
      args: ["-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'],
      env: { GREETING: "hello" },
    });
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout, "hello from /workspace\n");
    assert.equal(result.stderr, "oops\n");
    assert.equal(result.timedOut, false);
    assert.equal(result.stdoutTruncated, false);
    assert.equal(typeof result.durationMs, "number");

    await runtime.processes.run({ command: "mkdir", args: ["-p", "sub"] });
    assert.equal((await runtime.processes.run({ command: "pwd", cwd: "/workspace/sub" })).stdout, "/workspace/sub\n");

    const slow = await runtime.processes.run({ command: "sleep", args: ["30"], timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.ok(slow.exitCode === undefined || slow.exitCode === null, `exitCode ${slow.exitCode}`);
    assert.ok(slow.durationMs < 10_000, `ended at the deadline (${slow.durationMs} ms)`);

    const cut = await runtime.processes.run({ command: "sh", args: ["-c", "printf 0123456789"], maxOutputBytes: 4 });
    assert.equal(cut.stdout, "0123");
    assert.equal(cut.stdoutTruncated, true);

    const bad = await failure(runtime.processes.run({ command: "/no/such/program" }));
    assert.ok(bad.status >= 400, `status ${bad.status}`);
    assert.equal(typeof bad.serverCode, "string");
    assert.ok(bad.message.length > 0);
    assert.match(bad.body.type, /^urn:(sandbox-agent|paddock):error:/);
  });

  it("create, input (text and bytes), logs, follow, stop, delete", async () => {
    const proc = await runtime.processes.create({
      command: "sh",
      args: ["-c", 'while IFS= read -r line; do echo "got:$line"; echo "err:$line" >&2; done; echo bye'],
      interactive: true,
    });
    assert.match(proc.id, /^proc_\d+$/);
    assert.equal(proc.status, "running");
    assert.equal(proc.interactive, true);
    assert.equal(proc.tty, false);
    assert.equal(proc.owner, "user");
    assert.equal(typeof proc.pid, "number");
    assert.deepEqual(proc.args.slice(0, 1), ["-c"]);
    assert.ok((await runtime.processes.list()).some((p) => p.id === proc.id));
    assert.equal((await runtime.processes.get(proc.id)).status, "running");

    assert.deepEqual(await runtime.processes.input(proc.id, "one\n"), { bytesWritten: 4 });
    assert.deepEqual(await runtime.processes.input(proc.id, new TextEncoder().encode("twø\n")), { bytesWritten: 5 });
    await until(async () => joined((await runtime.processes.logs(proc.id, { stream: "stdout" })).entries).includes("got:twø"), "output");

    const stdout = await runtime.processes.logs(proc.id, { stream: "stdout" });
    assert.equal(stdout.processId, proc.id);
    assert.equal(stdout.stream, "stdout");
    assert.equal(joined(stdout.entries), "got:one\ngot:twø\n");
    assert.ok(stdout.entries.every((e) => e.stream === "stdout" && e.encoding === "base64"));
    const stderr = await runtime.processes.logs(proc.id, { stream: "stderr" });
    assert.equal(joined(stderr.entries), "err:one\nerr:twø\n");
    const combined = await runtime.processes.logs(proc.id);
    assert.equal(combined.stream, "combined");
    const sequences = combined.entries.map((e) => e.sequence);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => a - b));
    assert.equal((await runtime.processes.logs(proc.id, { tail: 1 })).entries.length, 1);
    const last = sequences.at(-1);
    assert.deepEqual((await runtime.processes.logs(proc.id, { since: last })).entries, []);

    // Follow: the held output, then live chunks, until the output ends.
    const followed = [];
    const following = (async () => {
      for await (const chunk of runtime.processes.follow(proc.id, { stream: "stdout" })) followed.push(chunk);
    })();
    // (The two lines may be one chunk: the process can write both before the server reads.)
    await until(() => joined(followed) === "got:one\ngot:twø\n", "the held output");
    await runtime.processes.input(proc.id, "three\n");
    await until(() => joined(followed).includes("got:three"), "a live chunk");
    const stopped = await runtime.processes.stop(proc.id, { waitMs: 5000 });
    assert.equal(stopped.status, "exited");
    assert.equal(typeof stopped.exitedAtMs, "number");
    await following; // the stream ended with the process
    assert.equal(joined(followed), "got:one\ngot:twø\ngot:three\n");
    assert.ok(followed.every((c) => c.bytes instanceof Uint8Array && typeof c.sequence === "number"));

    // since/tail apply to a follow; a follow of an exited process ends at once.
    const tail = await collect(runtime.processes.follow(proc.id, { stream: "stdout", tail: 1 }));
    assert.equal(joined(tail), "got:three\n");
    const since = await collect(runtime.processes.follow(proc.id, { since: last }));
    assert.ok(since.every((c) => c.sequence > last));

    // Input to an exited process is a conflict.
    const late = await failure(runtime.processes.input(proc.id, "x"));
    assert.equal(late.code, "CONFLICT");

    assert.equal(await runtime.processes.delete(proc.id), undefined);
    const gone = await failure(runtime.processes.get(proc.id));
    assert.equal(gone.code, "NOT_FOUND");
    assert.equal(gone.status, 404);
    assert.equal(typeof gone.serverCode, "string");
    assert.match(gone.message, new RegExp(proc.id));
    assert.equal(gone.body.type, "urn:sandbox-agent:error:not_found");
    assert.ok(!(await runtime.processes.list()).some((p) => p.id === proc.id));
  });

  it("kill, and delete of a running process is a conflict", async () => {
    const proc = await runtime.processes.create({ command: "sh", args: ["-c", "trap '' TERM; sleep 600"] });
    const busy = await failure(runtime.processes.delete(proc.id));
    assert.equal(busy.code, "CONFLICT");
    assert.equal(busy.status, 409);
    // SIGTERM is ignored; SIGKILL is not.
    assert.equal((await runtime.processes.stop(proc.id, { waitMs: 300 })).status, "running");
    const killed = await runtime.processes.kill(proc.id, { waitMs: 5000 });
    assert.equal(killed.status, "exited");
    assert.ok(killed.exitCode === undefined || killed.exitCode === null, "a signal ended it");
    await runtime.processes.delete(proc.id);
    assert.equal((await failure(runtime.processes.kill(proc.id))).code, "NOT_FOUND");
  });

  it("config", async () => {
    const config = await runtime.processes.config();
    for (const key of ["maxConcurrentProcesses", "defaultRunTimeoutMs", "maxRunTimeoutMs", "maxOutputBytes", "maxLogBytesPerProcess", "maxInputBytesPerRequest"]) {
      assert.equal(typeof config[key], "number", key);
    }
    const changed = await runtime.processes.setConfig({ ...config, maxInputBytesPerRequest: 8 });
    assert.equal(changed.maxInputBytesPerRequest, 8);
    const proc = await runtime.processes.create({ command: "cat", interactive: true });
    const tooBig = await failure(runtime.processes.input(proc.id, "123456789"));
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.code, "BAD_REQUEST");
    await runtime.processes.setConfig(config);
    await runtime.processes.kill(proc.id, { waitMs: 5000 });
  });

  it("other tenants cannot reach the runtime", async () => {
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN }).workspaces.runtime(ws.id);
    const err = await failure(other.processes.list());
    assert.equal(err.code, "NOT_FOUND");
    assert.equal((await failure(other.files.list())).code, "NOT_FOUND");
    const anonymous = new Paddock({ baseUrl: server.url, apiKey: "sdk-test-unknown-key-0123456789" }).workspaces.runtime(ws.id);
    assert.equal((await failure(anonymous.health())).code, "UNAUTHORIZED");
  });
});

describe("terminal", () => {
  let ws;
  let runtime;

  before(async () => {
    ws = await paddock.workspaces.create({ label: "sdk-runtime-terminal" });
    runtime = paddock.workspaces.runtime(ws.id);
  });

  after(async () => {
    await paddock.workspaces.delete(ws.id);
  });

  it("a shell on a terminal: output, input, resize, exit", async () => {
    const proc = await runtime.processes.create({ command: "sh", tty: true, interactive: true });
    assert.equal(proc.tty, true);
    const term = runtime.processes.terminal(proc.id);
    let output = "";
    const decoder = new TextDecoder();
    const errors = [];
    const exits = [];
    term.onData((bytes) => (output += decoder.decode(bytes, { stream: true })));
    term.onError((err) => errors.push(err));
    term.onExit((frame) => exits.push(frame));
    const ready = await term.ready;
    assert.deepEqual(ready, { type: "ready", processId: proc.id });

    term.resize({ cols: 120, rows: 40 });
    term.sendInput("stty size; tty\n");
    await until(() => /40 120/.test(output) && /\/dev\/pts\/\d+/.test(output), `stty and tty output, got ${JSON.stringify(output)}`);

    // The HTTP resize and input reach the same terminal.
    assert.deepEqual(await runtime.processes.resize(proc.id, { cols: 90, rows: 20 }), { cols: 90, rows: 20 });
    await runtime.processes.input(proc.id, "stty size\n");
    await until(() => /20 90/.test(output), "the HTTP resize");

    // Bytes go through as they are.
    term.sendInput(new TextEncoder().encode("echo b$((40+2))ytes\n"));
    await until(() => output.includes("b42ytes"), "byte input");

    term.sendInput("exit 5\n");
    assert.equal(await term.exited, 5);
    const closed = await term.closed;
    assert.equal(typeof closed.code, "number");
    assert.deepEqual(exits, [{ type: "exit", exitCode: 5 }]);
    assert.deepEqual(errors, []);
    const info = await runtime.processes.get(proc.id);
    assert.equal(info.status, "exited");
    assert.equal(info.exitCode, 5);

    // The output is in the log too (the pty stream is a terminal process's default).
    const logs = await runtime.processes.logs(proc.id);
    assert.equal(logs.stream, "pty");
    assert.match(joined(logs.entries), /b42ytes/);
  });

  it("closing the terminal leaves the process running", async () => {
    const proc = await runtime.processes.create({ command: "sh", tty: true });
    const term = runtime.processes.terminal(proc.id);
    await term.ready;
    term.close();
    await term.closed;
    assert.equal((await runtime.processes.get(proc.id)).status, "running");
    // A second terminal on the same process works.
    const again = runtime.processes.terminal(proc.id);
    await again.ready;
    let output = "";
    again.onData((bytes) => (output += text(bytes)));
    again.sendInput("echo still-here\n");
    await until(() => output.includes("still-here"), "output on the second terminal");
    again.close();
    await runtime.processes.kill(proc.id, { waitMs: 5000 });
  });

  it("refused upgrades reject ready with a PaddockError", async () => {
    const missing = await failure(runtime.processes.terminal("proc_999999").ready);
    assert.equal(missing.code, "NOT_FOUND");
    assert.equal(missing.status, 404);

    const pipe = await runtime.processes.create({ command: "sleep", args: ["600"] });
    const notTty = await failure(runtime.processes.terminal(pipe.id).ready);
    // 409, as sandbox-agent answers it ("not running in tty mode").
    assert.equal(notTty.code, "CONFLICT");
    assert.equal(notTty.status, 409);
    await runtime.processes.kill(pipe.id, { waitMs: 5000 });

    const stranger = new Paddock({ baseUrl: server.url, apiKey: "sdk-test-unknown-key-0123456789", WebSocket });
    const denied = await failure(stranger.workspaces.runtime(ws.id).processes.terminal("proc_1").ready);
    assert.equal(denied.code, "UNAUTHORIZED");
  });
});

describe("files", () => {
  let ws;
  let runtime;

  before(async () => {
    ws = await paddock.workspaces.create({ label: "sdk-runtime-files" });
    runtime = paddock.workspaces.runtime(ws.id);
  });

  after(async () => {
    await paddock.workspaces.delete(ws.id);
  });

  it("write, read, list, stat, mkdir, move and delete", async () => {
    const written = await runtime.files.write("notes/hello.txt", "hello ✓\n");
    assert.deepEqual(written, { path: "/workspace/notes/hello.txt", bytesWritten: 10 });
    assert.equal(await runtime.files.readText("/workspace/notes/hello.txt"), "hello ✓\n");

    // Every byte value, byte for byte.
    const all = new Uint8Array(256 * 4).map((_, i) => i % 256);
    assert.equal((await runtime.files.write("notes/bytes.bin", all)).bytesWritten, all.length);
    assert.deepEqual(await runtime.files.read("notes/bytes.bin"), all);
    assert.deepEqual(new Uint8Array(await new Response(await runtime.files.readStream("notes/bytes.bin")).arrayBuffer()), all);

    // A stream upload: a Node stream of 1 MiB in 64 KiB pieces.
    const piece = new Uint8Array(64 * 1024).fill(97);
    const big = await runtime.files.write("notes/big.txt", Readable.from(Array.from({ length: 16 }, () => piece)));
    assert.equal(big.bytesWritten, 1 << 20);
    assert.equal((await runtime.files.stat("notes/big.txt")).size, 1 << 20);

    // The processes see the files, and the other way round.
    assert.equal((await runtime.processes.run({ command: "cat", args: ["notes/hello.txt"] })).stdout, "hello ✓\n");
    await runtime.processes.run({ command: "sh", args: ["-c", "echo from-process > notes/made.txt"] });
    assert.equal(await runtime.files.readText("notes/made.txt"), "from-process\n");

    const listing = await runtime.files.list("notes");
    assert.deepEqual(
      listing.map((e) => e.name),
      ["big.txt", "bytes.bin", "hello.txt", "made.txt"],
    );
    const hello = listing.find((e) => e.name === "hello.txt");
    assert.equal(hello.path, "/workspace/notes/hello.txt");
    assert.equal(hello.entryType, "file");
    assert.equal(hello.size, 10);
    assert.ok(!Number.isNaN(Date.parse(hello.modified)), hello.modified);
    assert.ok((await runtime.files.list()).some((e) => e.name === "notes" && e.entryType === "directory"));

    const stat = await runtime.files.stat("notes");
    assert.equal(stat.entryType, "directory");
    assert.equal(stat.path, "/workspace/notes");

    assert.deepEqual(await runtime.files.mkdir("deep/er/dir"), { path: "/workspace/deep/er/dir" });
    assert.deepEqual(await runtime.files.mkdir("deep/er/dir"), { path: "/workspace/deep/er/dir" }, "an existing directory is fine");
    assert.equal((await runtime.files.stat("deep/er/dir")).entryType, "directory");

    assert.deepEqual(await runtime.files.move("notes/hello.txt", "deep/hello.txt"), {
      from: "/workspace/notes/hello.txt",
      to: "/workspace/deep/hello.txt",
    });
    assert.equal(await runtime.files.readText("deep/hello.txt"), "hello ✓\n");
    const moved = await failure(runtime.files.read("notes/hello.txt"));
    assert.equal(moved.code, "BAD_REQUEST");
    assert.equal(moved.status, 400);
    assert.equal(typeof moved.serverCode, "string");
    assert.match(moved.message, /notes\/hello\.txt/);

    // An existing destination needs overwrite.
    const exists = await failure(runtime.files.move("notes/made.txt", "deep/hello.txt"));
    assert.ok(exists.status >= 400);
    await runtime.files.move("notes/made.txt", "deep/hello.txt", { overwrite: true });
    assert.equal(await runtime.files.readText("deep/hello.txt"), "from-process\n");

    // A directory with contents needs recursive.
    assert.ok((await failure(runtime.files.delete("deep"))).status >= 400);
    assert.deepEqual(await runtime.files.delete("deep/hello.txt"), { path: "/workspace/deep/hello.txt" });
    assert.deepEqual(await runtime.files.delete("deep", { recursive: true }), { path: "/workspace/deep" });
    assert.ok(!(await runtime.files.list()).some((e) => e.name === "deep"));

    // Paths outside the workspace are refused.
    const outside = await failure(runtime.files.read("../../etc/passwd"));
    assert.equal(outside.code, "BAD_REQUEST");
  });

  it("tar download and upload round trip", async () => {
    await runtime.files.write("tree/a.txt", "A");
    await runtime.files.write("tree/sub/b.txt", "BB");
    const tar = await runtime.files.downloadTar("tree");
    assert.ok(tar.length >= 1024 && tar.length % 512 === 0, `a tar (${tar.length} bytes)`);
    const streamed = new Uint8Array(await new Response(await runtime.files.downloadTarStream("tree")).arrayBuffer());
    assert.equal(streamed.length, tar.length);

    const uploaded = await runtime.files.uploadTar("copy", tar);
    assert.equal(uploaded.truncated, false);
    assert.ok(uploaded.paths.includes("/workspace/copy/a.txt"), JSON.stringify(uploaded.paths));
    assert.ok(uploaded.paths.includes("/workspace/copy/sub/b.txt"), JSON.stringify(uploaded.paths));
    assert.equal(await runtime.files.readText("copy/a.txt"), "A");
    assert.equal(await runtime.files.readText("copy/sub/b.txt"), "BB");

    // A stream upload too.
    const again = await runtime.files.uploadTar("copy2", new Blob([tar]).stream());
    assert.ok(again.paths.includes("/workspace/copy2/sub/b.txt"));

    const notTar = await failure(runtime.files.uploadTar("copy3", "this is not a tar archive, not even close, ".repeat(20)));
    assert.equal(notTar.code, "BAD_REQUEST");
  });
});

describe("previews", () => {
  it("create, fetch through path_url, list and revoke", async () => {
    const ws = await paddock.workspaces.create({ label: "sdk-previews" });
    const runtime = paddock.workspaces.runtime(ws.id);
    await runtime.files.write("/workspace/hello.txt", "served\n");
    await runtime.processes.create({ command: "python3", args: ["-m", "http.server", "8000", "-d", "/workspace"] });

    const priv = await paddock.workspaces.previews.create(ws.id, { port: 8000 });
    assert.match(priv.id, /^prv_/);
    assert.equal(priv.public, false);
    assert.equal(priv.state, "active");
    assert.ok(priv.access_url?.startsWith(priv.url) && priv.access_url.includes("paddock_token="), priv.access_url);
    const get = () => fetch(`${priv.path_url}hello.txt`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const served = await until(async () => {
      const response = await get();
      return response.status === 200 ? response : (await response.arrayBuffer(), null);
    }, "the server in the workspace");
    assert.equal(await served.text(), "served\n");

    const pub = await paddock.workspaces.previews.create(ws.id, { port: 8001, public: true, ttlSecs: 60 });
    assert.equal(pub.public, true);
    assert.equal(pub.access_url ?? null, null);
    assert.ok(Date.parse(pub.expires_at) - Date.now() <= 60_000, pub.expires_at);

    const { previews } = await paddock.workspaces.previews.list(ws.id);
    assert.deepEqual(previews.map((p) => p.id), [pub.id, priv.id]);
    assert.ok(previews.every((p) => (p.access_url ?? null) === null), "secrets are answered at creation only");

    await paddock.workspaces.previews.revoke(ws.id, priv.id);
    const gone = await get();
    assert.equal(gone.status, 404);
    await gone.arrayBuffer();
    assert.equal((await failure(paddock.workspaces.previews.revoke(ws.id, priv.id))).code, "NOT_FOUND");
    const badPort = await failure(paddock.workspaces.previews.create(ws.id, { port: 0 }));
    assert.equal(badPort.status, 400);
    assert.equal(badPort.serverCode, "BAD_PORT");
    await paddock.workspaces.delete(ws.id);
  });
});
