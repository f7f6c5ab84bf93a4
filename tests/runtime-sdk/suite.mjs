// The compatibility suite: drives one sandbox-agent 0.4.2 compatible
// server with the unmodified `sandbox-agent` SDK and asserts what comes
// back (values, not only shapes). The same suite runs against the real
// binary (the oracle) and against a paddock workspace's runtime base URL.
//
// `workdir` is the directory that relative paths resolve to on that server
// (fs routes and the default process cwd): the binary is started with
// HOME and cwd there, paddock uses /workspace. Every path the suite touches
// is under `workdir/sdk-compat`.
import assert from "node:assert/strict";
import { posix } from "node:path";
import { SandboxAgent, SandboxAgentError } from "sandbox-agent";

import { createRecorder, stepLabel } from "./record.mjs";

const DIR = "sdk-compat";
const URN = "urn:sandbox-agent:error:";
const DEFAULT_CONFIG = {
  maxConcurrentProcesses: 64,
  defaultRunTimeoutMs: 30000,
  maxRunTimeoutMs: 300000,
  maxOutputBytes: 1048576,
  maxLogBytesPerProcess: 10485760,
  maxInputBytesPerRequest: 65536,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64 = (text) => Buffer.from(text).toString("base64");
const decode = (entries) => Buffer.concat(entries.map((e) => Buffer.from(e.data, e.encoding === "base64" ? "base64" : "utf8"))).toString("utf8");

/** Awaits `promise`, which must fail with a SandboxAgentError carrying a ProblemDetails. */
async function problem(promise, { status, type } = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, "the call did not fail");
  assert.ok(err instanceof SandboxAgentError, `expected SandboxAgentError, got ${err?.stack ?? err}`);
  assert.ok(err.problem, `status ${err.status}: no ProblemDetails body`);
  assert.ok(
    typeof err.problem.type === "string" && err.problem.type.startsWith(URN),
    `problem type ${JSON.stringify(err.problem.type)} is not ${URN}…`,
  );
  assert.equal(err.problem.status, err.status, "ProblemDetails.status equals the HTTP status");
  assert.equal(typeof err.problem.title, "string");
  if (status === "4xx") assert.ok(err.status >= 400 && err.status < 500, `status ${err.status} is not 4xx`);
  else if (status !== undefined) assert.equal(err.status, status, `status (${err.problem.type}: ${err.problem.detail})`);
  if (type !== undefined) assert.equal(err.problem.type, URN + type, `problem type (${err.problem.detail})`);
  return err;
}

/** Minimal ustar writer: `[{name, data?, dir?}]` → Uint8Array. */
export function makeTar(items) {
  const blocks = [];
  for (const item of items) {
    const data = item.dir ? Buffer.alloc(0) : Buffer.from(item.data ?? "");
    const h = Buffer.alloc(512, 0);
    const put = (off, len, str) => h.write(str, off, len, "utf8");
    const oct = (off, len, n) => put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
    put(0, 100, item.dir ? item.name.replace(/\/?$/, "/") : item.name);
    oct(100, 8, item.dir ? 0o755 : 0o644);
    oct(108, 8, 0);
    oct(116, 8, 0);
    oct(124, 12, data.length);
    oct(136, 12, 1700000000);
    put(148, 8, "        ");
    put(156, 1, item.dir ? "5" : "0");
    put(257, 6, "ustar\0");
    put(263, 2, "00");
    let sum = 0;
    for (const byte of h) sum += byte;
    put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(h);
    if (data.length) {
      blocks.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad, 0));
    }
  }
  blocks.push(Buffer.alloc(1024, 0));
  return new Uint8Array(Buffer.concat(blocks));
}

/**
 * Runs the suite against one server. Returns `{results, entries, facts}`:
 * one result per step (`{name, ok, error, ms}`), the recorder's raw
 * entries, and values observed on the way (for the report).
 */
export async function runSuite({ baseUrl, token, workdir, only } = {}) {
  const rec = createRecorder(baseUrl);
  // The SDK's own start-up health wait, bounded so a dead server fails the run instead of hanging it.
  const sdk = await SandboxAgent.connect({ baseUrl, token, fetch: rec.fetch, waitForHealth: { timeoutMs: 20000 } });
  const abs = (rel) => posix.join(workdir, rel);
  const results = [];
  const facts = {};
  const created = [];
  let current = "";

  /** Runs an SDK call under the label `step.sub` (the unit of comparison). */
  const at = (sub, fn) => stepLabel.run(`${current}.${sub}`, fn);
  /** Same, for calls whose number or outcome depends on timing. */
  const poll = (fn) => stepLabel.run(`poll:${current}`, fn);

  async function waitFor(what, fn, timeoutMs = 10000, everyMs = 50) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      last = await fn();
      if (last) return last;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(everyMs);
    }
  }
  const waitExited = (id, timeoutMs) =>
    waitFor(`${id} to exit`, () => poll(async () => {
      const p = await sdk.getProcess(id);
      return p.status === "exited" ? p : null;
    }), timeoutMs);
  const waitLogs = (id, query, predicate, timeoutMs) =>
    waitFor(`logs of ${id} ${JSON.stringify(query)}`, () => poll(async () => {
      const logs = await sdk.getProcessLogs(id, query);
      return predicate(decode(logs.entries), logs) ? logs : null;
    }), timeoutMs);
  const create = async (sub, request) => {
    const p = await at(sub, () => sdk.createProcess(request));
    created.push(p.id);
    return p;
  };

  async function step(name, fn) {
    if (only && !only.some((o) => name.startsWith(o))) return;
    current = name;
    const t0 = Date.now();
    try {
      await stepLabel.run(name, fn);
      results.push({ name, ok: true, ms: Date.now() - t0 });
    } catch (err) {
      let error = err?.stack ?? String(err);
      if (err instanceof SandboxAgentError) {
        const url = err.response?.url ? new URL(err.response.url) : undefined;
        const where = url ? `${url.pathname.replace(new URL(baseUrl).pathname.replace(/\/$/, ""), "{base}")}${url.search}` : "?";
        error = `SandboxAgentError ${err.status} from ${where}: ${JSON.stringify(err.problem ?? null)}\n${error}`;
      }
      results.push({ name, ok: false, ms: Date.now() - t0, error });
    }
  }

  // ───────────────────────── health and setup ─────────────────────────
  await step("health", async () => {
    const health = await at("get", () => sdk.getHealth());
    assert.deepEqual(health, { status: "ok" });
  });

  await step("auth", async () => {
    const bad = await SandboxAgent.connect({ baseUrl, token: "sdk-compat-wrong-token-0123456789", fetch: rec.fetch, skipHealthCheck: true });
    const e1 = await problem(at("health-bad-token", () => bad.getHealth()), { status: 401, type: "token_invalid" });
    facts.badToken = e1.problem;
    await problem(at("list-bad-token", () => bad.listProcesses()), { status: 401, type: "token_invalid" });
    await problem(at("stat-bad-token", () => bad.statFs({ path: "." })), { status: 401, type: "token_invalid" });
    const none = await SandboxAgent.connect({ baseUrl, fetch: rec.fetch, skipHealthCheck: true });
    await problem(at("health-no-token", () => none.getHealth()), { status: 401, type: "token_invalid" });
    const term = await at("ws-bad-token", async () =>
      bad.connectProcessTerminal("proc_999999", { WebSocket: rec.WebSocket }),
    );
    const errors = [];
    term.onError((e) => errors.push(e));
    await term.closed;
    assert.ok(errors.length > 0, "a WebSocket with a wrong access_token is refused");
    const ws = rec.entries.find((e) => e.label === `${current}.ws-bad-token`);
    assert.equal(ws?.status, 401, "the WebSocket upgrade answers 401 before looking the process up");
    await bad.dispose();
    await none.dispose();
  });

  await step("fs.setup", async () => {
    try {
      await poll(() => sdk.deleteFsEntry({ path: DIR, recursive: true }));
    } catch {
      // absent: fine
    }
    const made = await at("mkdir", () => sdk.mkdirFs({ path: `${DIR}/a/b` }));
    assert.deepEqual(made, { path: abs(`${DIR}/a/b`) }, "mkdir makes parents and answers the absolute path");
    const again = await at("mkdir-existing", () => sdk.mkdirFs({ path: `${DIR}/a/b` }));
    assert.deepEqual(again, { path: abs(`${DIR}/a/b`) }, "mkdir of an existing directory succeeds");
  });

  // ───────────────────────── one-shot run ─────────────────────────
  await step("run.basic", async () => {
    const r = await at("exit3", () =>
      sdk.runProcess({ command: "sh", args: ["-c", "echo out; echo err >&2; exit 3"] }),
    );
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(r.timedOut, false);
    assert.equal(r.stdoutTruncated, false);
    assert.equal(r.stderrTruncated, false);
    assert.ok(Number.isInteger(r.durationMs) && r.durationMs >= 0 && r.durationMs < 10000, `durationMs ${r.durationMs}`);
    const args = await at("args-verbatim", () =>
      sdk.runProcess({ command: "printf", args: ["%s|", "a b", "$HOME", "*", ""] }),
    );
    assert.equal(args.stdout, "a b|$HOME|*||", "args are passed verbatim, no shell");
    assert.equal(args.exitCode, 0);
  });

  await step("run.env", async () => {
    const r = await at("extends", () =>
      sdk.runProcess({
        command: "sh",
        args: ["-c", 'printf "%s:%s" "$COMPAT_VAR" "${PATH:+path-kept}"'],
        env: { COMPAT_VAR: "v1 with space" },
      }),
    );
    assert.equal(r.stdout, "v1 with space:path-kept", "env adds variables and keeps PATH");
    facts.runEnvExtends = true;
  });

  await step("run.cwd", async () => {
    const def = await at("default", () => sdk.runProcess({ command: "pwd" }));
    assert.equal(def.stdout, `${workdir}\n`, "the default cwd is the workdir");
    const rel = await at("relative", () => sdk.runProcess({ command: "pwd", cwd: `${DIR}/a` }));
    assert.equal(rel.stdout, `${abs(`${DIR}/a`)}\n`, "a relative cwd resolves from the workdir");
    const ab = await at("absolute", () => sdk.runProcess({ command: "pwd", cwd: abs(`${DIR}/a/b`) }));
    assert.equal(ab.stdout, `${abs(`${DIR}/a/b`)}\n`);
    const home = await at("home", () => sdk.runProcess({ command: "sh", args: ["-c", 'printf %s "$HOME"'] }));
    facts.home = home.stdout;
    await problem(at("missing-cwd", () => sdk.runProcess({ command: "pwd", cwd: `${DIR}/no-such-dir` })));
  });

  await step("run.timeout", async () => {
    const t0 = Date.now();
    const r = await at("timeout", () =>
      sdk.runProcess({ command: "sh", args: ["-c", "echo before; exec sleep 5"], timeoutMs: 300 }),
    );
    const took = Date.now() - t0;
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode ?? null, null, "a timed-out run has no exit code");
    assert.equal(r.stdout, "before\n", "output before the timeout is kept");
    assert.ok(r.durationMs >= 250 && r.durationMs < 3000, `durationMs ${r.durationMs}`);
    assert.ok(took < 4000, `the call took ${took} ms`);
    facts.timeoutExitCode = r.exitCode;
  });

  await step("run.truncate", async () => {
    const r = await at("max-output", () =>
      sdk.runProcess({
        command: "sh",
        args: ["-c", "head -c 5000 /dev/zero | tr '\\0' y; echo small >&2"],
        maxOutputBytes: 100,
      }),
    );
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "y".repeat(100), "stdout is cut at maxOutputBytes");
    assert.equal(r.stdoutTruncated, true);
    assert.equal(r.stderr, "small\n");
    assert.equal(r.stderrTruncated, false);
  });

  await step("run.signal", async () => {
    const r = await at("killed", () => sdk.runProcess({ command: "sh", args: ["-c", "echo x; kill -9 $$"] }));
    assert.equal(r.exitCode ?? null, null, "a run killed by a signal has no exit code");
    assert.equal(r.timedOut, false);
    assert.equal(r.stdout, "x\n");
  });

  await step("run.errors", async () => {
    const missing = await problem(
      at("missing-command", () => sdk.runProcess({ command: "sdk-compat-no-such-command" })),
    );
    facts.missingCommand = { status: missing.status, type: missing.problem.type, detail: missing.problem.detail };
    await problem(at("empty-command", () => sdk.runProcess({ command: "" })), { status: 400, type: "invalid_request" });
  });

  // ───────────────────────── managed processes ─────────────────────────
  await step("process.plain", async () => {
    const p = await create("create", {
      command: "sh",
      args: ["-c", "echo err >&2; sleep 0.1; echo out; echo out2; sleep 0.2"],
    });
    assert.equal(typeof p.id, "string");
    assert.ok(p.id.length > 0);
    assert.equal(p.command, "sh");
    assert.deepEqual(p.args, ["-c", "echo err >&2; sleep 0.1; echo out; echo out2; sleep 0.2"]);
    assert.equal(p.tty, false);
    assert.equal(p.interactive, false);
    assert.equal(p.owner, "user");
    assert.equal(p.status, "running");
    assert.ok(Number.isInteger(p.pid) && p.pid > 0, `pid ${p.pid}`);
    assert.ok(Number.isInteger(p.createdAtMs) && Math.abs(p.createdAtMs - Date.now()) < 60000, "createdAtMs is epoch ms");
    assert.equal(p.exitCode ?? null, null);

    const running = await at("get-running", () => sdk.getProcess(p.id));
    assert.equal(running.id, p.id);
    const done = await waitExited(p.id);
    const got = await at("get-exited", () => sdk.getProcess(p.id));
    assert.equal(got.status, "exited");
    assert.equal(got.exitCode, 0);
    assert.ok(got.exitedAtMs >= got.createdAtMs, "exitedAtMs ≥ createdAtMs");
    assert.equal(done.createdAtMs, p.createdAtMs);

    const all = await at("logs-default", () => sdk.getProcessLogs(p.id));
    assert.equal(all.processId, p.id);
    assert.equal(all.stream, "combined", "the default stream is combined");
    const seqs = all.entries.map((e) => e.sequence);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "entries are in sequence order");
    assert.equal(new Set(seqs).size, seqs.length, "sequences are unique");
    for (const e of all.entries) {
      assert.equal(e.encoding, "base64");
      assert.ok(e.stream === "stdout" || e.stream === "stderr", `entry stream ${e.stream}`);
      assert.ok(Number.isInteger(e.timestampMs));
    }
    assert.equal(decode(all.entries.filter((e) => e.stream === "stdout")), "out\nout2\n");
    assert.equal(decode(all.entries.filter((e) => e.stream === "stderr")), "err\n");

    const out = await at("logs-stdout", () => sdk.getProcessLogs(p.id, { stream: "stdout" }));
    assert.equal(out.stream, "stdout");
    assert.ok(out.entries.every((e) => e.stream === "stdout"));
    assert.equal(decode(out.entries), "out\nout2\n");
    const err = await at("logs-stderr", () => sdk.getProcessLogs(p.id, { stream: "stderr" }));
    assert.equal(err.stream, "stderr");
    assert.equal(decode(err.entries), "err\n");
    const comb = await at("logs-combined", () => sdk.getProcessLogs(p.id, { stream: "combined" }));
    assert.deepEqual(comb.entries, all.entries);
    const pty = await at("logs-pty-of-pipe", () => sdk.getProcessLogs(p.id, { stream: "pty" }));
    assert.equal(pty.stream, "pty");
    assert.deepEqual(pty.entries, [], "a pipe process has no pty entries");

    const tail = await at("logs-tail", () => sdk.getProcessLogs(p.id, { tail: 1 }));
    assert.deepEqual(tail.entries, all.entries.slice(-1), "tail=1 is the last entry");
    const tail0 = await at("logs-tail0", () => sdk.getProcessLogs(p.id, { tail: 0 }));
    assert.deepEqual(tail0.entries, []);
    const since = await at("logs-since", () => sdk.getProcessLogs(p.id, { since: all.entries[0].sequence }));
    assert.deepEqual(since.entries, all.entries.slice(1), "since=N returns the entries with sequence > N");
    const since0 = await at("logs-since0", () => sdk.getProcessLogs(p.id, { since: 0 }));
    assert.deepEqual(since0.entries, all.entries);
    const sinceEnd = await at("logs-since-end", () => sdk.getProcessLogs(p.id, { since: seqs[seqs.length - 1] }));
    assert.deepEqual(sinceEnd.entries, []);
    facts.firstSequence = seqs[0];
  });

  await step("process.cwd-env", async () => {
    const p = await create("create", {
      command: "sh",
      args: ["-c", 'pwd; printf "%s\\n" "$COMPAT_VAR"'],
      cwd: `${DIR}/a`,
      env: { COMPAT_VAR: "managed" },
    });
    assert.equal(p.cwd, `${DIR}/a`, "cwd is echoed as given");
    await waitExited(p.id);
    const logs = await at("logs", () => sdk.getProcessLogs(p.id, { stream: "stdout" }));
    assert.equal(decode(logs.entries), `${abs(`${DIR}/a`)}\nmanaged\n`);
  });

  await step("process.interactive", async () => {
    const p = await create("create", { command: "cat", interactive: true });
    assert.equal(p.interactive, true);
    assert.equal(p.tty, false);
    const w1 = await at("input-base64", () => sdk.sendProcessInput(p.id, { data: b64("hello\n"), encoding: "base64" }));
    assert.deepEqual(w1, { bytesWritten: 6 });
    const w2 = await at("input-utf8", () => sdk.sendProcessInput(p.id, { data: "wörld\n", encoding: "utf8" }));
    assert.deepEqual(w2, { bytesWritten: Buffer.byteLength("wörld\n") }, "bytesWritten counts bytes");
    const w3 = await at("input-text", () => sdk.sendProcessInput(p.id, { data: "t\n", encoding: "text" }));
    assert.deepEqual(w3, { bytesWritten: 2 });
    const w4 = await at("input-default-encoding", () => sdk.sendProcessInput(p.id, { data: b64("d\n") }));
    assert.deepEqual(w4, { bytesWritten: 2 }, "without encoding, data is base64");
    const w5 = await at("input-empty", () => sdk.sendProcessInput(p.id, { data: "", encoding: "utf8" }));
    assert.deepEqual(w5, { bytesWritten: 0 });
    await waitLogs(p.id, { stream: "stdout" }, (t) => t === "hello\nwörld\nt\nd\n");

    await problem(at("input-bad-encoding", () => sdk.sendProcessInput(p.id, { data: "x", encoding: "hex" })), {
      status: 400,
      type: "invalid_request",
    });
    await problem(at("input-bad-base64", () => sdk.sendProcessInput(p.id, { data: "not base64!" })), {
      status: 400,
      type: "invalid_request",
    });
    await problem(at("resize-not-tty", () => sdk.resizeProcessTerminal(p.id, { cols: 80, rows: 24 })), {
      status: 409,
      type: "conflict",
    });
    await problem(at("delete-running", () => sdk.deleteProcess(p.id)), { status: 409, type: "conflict" });

    const stopped = await at("stop", () => sdk.stopProcess(p.id, { waitMs: 5000 }));
    assert.equal(stopped.status, "exited", "cat ends on SIGTERM within waitMs");
    assert.equal(stopped.exitCode ?? null, null, "ended by a signal: no exit code");
    assert.ok(stopped.exitedAtMs >= stopped.createdAtMs);
    await problem(at("input-exited", () => sdk.sendProcessInput(p.id, { data: b64("x") })), {
      status: 409,
      type: "conflict",
    });
    const deleted = await at("delete", () => sdk.deleteProcess(p.id));
    assert.equal(deleted, undefined);
    await problem(at("get-deleted", () => sdk.getProcess(p.id)), { status: 404, type: "not_found" });
    await problem(at("logs-deleted", () => sdk.getProcessLogs(p.id)), { status: 404, type: "not_found" });
    await problem(at("delete-deleted", () => sdk.deleteProcess(p.id)), { status: 404, type: "not_found" });
    const list = await at("list", () => sdk.listProcesses());
    assert.ok(!list.processes.some((x) => x.id === p.id), "a deleted process is not listed");
  });

  await step("process.stop", async () => {
    const p = await create("create-sleep", { command: "sleep", args: ["60"] });
    const t0 = Date.now();
    const stopped = await at("stop-sleep", () => sdk.stopProcess(p.id, { waitMs: 5000 }));
    assert.equal(stopped.status, "exited", "sleep 60 ends on stop");
    assert.ok(Date.now() - t0 < 4000, "stop returns as soon as the process ended");
    assert.equal(stopped.exitCode ?? null, null);
    const again = await at("stop-exited", () => sdk.stopProcess(p.id, { waitMs: 100 }));
    assert.equal(again.status, "exited", "stop of an exited process answers its info");

    const t = await create("create-trap", {
      command: "sh",
      args: ["-c", 'trap "echo got-term; exit 7" TERM; while :; do sleep 0.05; done'],
    });
    await sleep(300);
    const trapped = await at("stop-trap", () => sdk.stopProcess(t.id, { waitMs: 5000 }));
    assert.equal(trapped.status, "exited");
    assert.equal(trapped.exitCode, 7, "stop sends SIGTERM (the trap ran)");
    const logs = await at("logs", () => sdk.getProcessLogs(t.id, { stream: "stdout" }));
    assert.equal(decode(logs.entries), "got-term\n");
  });

  await step("process.kill", async () => {
    const p = await create("create", {
      command: "sh",
      args: ["-c", "trap '' TERM; while :; do sleep 0.05; done"],
    });
    await sleep(300);
    const t0 = Date.now();
    const still = await at("stop-ignored", () => sdk.stopProcess(p.id, { waitMs: 400 }));
    assert.equal(still.status, "running", "SIGTERM ignored: still running after waitMs");
    assert.ok(Date.now() - t0 >= 350, "stop waited waitMs");
    const killed = await at("kill", () => sdk.killProcess(p.id, { waitMs: 5000 }));
    assert.equal(killed.status, "exited", "SIGKILL ends it");
    assert.equal(killed.exitCode ?? null, null);
    const again = await at("kill-exited", () => sdk.killProcess(p.id));
    assert.equal(again.status, "exited");
    const deleted = await at("delete", () => sdk.deleteProcess(p.id));
    assert.equal(deleted, undefined);
  });

  await step("process.not-found", async () => {
    const id = "proc_999999";
    for (const [sub, call] of [
      ["get", () => sdk.getProcess(id)],
      ["stop", () => sdk.stopProcess(id)],
      ["kill", () => sdk.killProcess(id)],
      ["delete", () => sdk.deleteProcess(id)],
      ["logs", () => sdk.getProcessLogs(id)],
      ["input", () => sdk.sendProcessInput(id, { data: b64("x") })],
      ["resize", () => sdk.resizeProcessTerminal(id, { cols: 80, rows: 24 })],
    ]) {
      await problem(at(sub, call), { status: 404, type: "not_found" });
    }
    const e = await problem(at("create-missing-command", () => sdk.createProcess({ command: "sdk-compat-no-such-command" })));
    facts.createMissingCommand = { status: e.status, type: e.problem.type };
  });

  await step("process.follow", async () => {
    const p = await create("create", {
      command: "sh",
      args: ["-c", "for i in 1 2 3; do echo line$i; sleep 0.25; done; echo oops >&2; sleep 0.3"],
    });
    const got = [];
    const sub = await at("follow", () =>
      sdk.followProcessLogs(p.id, (entry) => got.push({ entry, at: Date.now() }), { stream: "stdout" }),
    );
    await waitFor("3 followed lines", async () => decode(got.map((g) => g.entry)) === "line1\nline2\nline3\n", 10000, 20);
    const lineAt = (n) => got.find((g) => decode(got.slice(0, got.indexOf(g) + 1).map((x) => x.entry)).includes(`line${n}`)).at;
    assert.ok(lineAt(3) - lineAt(1) >= 300, `lines arrive as printed (line1→line3 ${lineAt(3) - lineAt(1)} ms)`);
    for (const { entry } of got) {
      assert.equal(entry.stream, "stdout");
      assert.equal(entry.encoding, "base64");
      assert.ok(Number.isInteger(entry.sequence));
    }
    sub.close();
    await sub.closed;
    await waitExited(p.id);

    // After exit: the backlog is replayed, `since` applies.
    const first = got[0].entry.sequence;
    const replay = [];
    const sub2 = await at("follow-since", () =>
      sdk.followProcessLogs(p.id, (entry) => replay.push(entry), { since: first }),
    );
    await waitFor("replayed entries", async () => decode(replay).includes("oops"), 5000, 20);
    await sleep(100);
    sub2.close();
    await sub2.closed;
    assert.ok(replay.every((e) => e.sequence > first), "follow since=N skips sequences ≤ N");
    assert.equal(decode(replay.filter((e) => e.stream === "stdout")), "line2\nline3\n");
    assert.equal(decode(replay.filter((e) => e.stream === "stderr")), "oops\n");

    const tailed = [];
    const sub3 = await at("follow-tail", () => sdk.followProcessLogs(p.id, (entry) => tailed.push(entry), { tail: 1 }));
    await waitFor("tail entry", async () => tailed.length >= 1, 5000, 20);
    await sleep(150);
    sub3.close();
    await sub3.closed;
    assert.equal(tailed.length, 1, "follow tail=1 replays one entry");
    assert.equal(decode(tailed), "oops\n");

    // Does the SSE stream end by itself once the process has exited?
    const sse = rec.entries.filter((e) => e.label === `${current}.follow-tail` && e.body?.sse !== undefined)[0];
    facts.sseSample = sse?.body?.sse.slice(0, 400);
    facts.sseEndedAfterExit = Boolean(sse?.body?.sseEnded);
  });

  await step("process.tty", async () => {
    const p = await create("create", {
      command: "sh",
      args: ["-c", "stty size; sleep 0.8; stty size; tty; echo err >&2"],
      tty: true,
    });
    assert.equal(p.tty, true);
    assert.equal(p.interactive, false);
    await sleep(200);
    const size = await at("resize", () => sdk.resizeProcessTerminal(p.id, { cols: 100, rows: 30 }));
    assert.deepEqual(size, { cols: 100, rows: 30 });
    await waitExited(p.id);
    const logs = await at("logs-default", () => sdk.getProcessLogs(p.id));
    assert.equal(logs.stream, "pty", "the default stream of a tty process is pty");
    assert.ok(logs.entries.every((e) => e.stream === "pty" && e.encoding === "base64"));
    const text = decode(logs.entries);
    assert.match(text, /^24 80\r\n/, "a new PTY is 80x24");
    assert.match(text, /30 100\r\n/, "resize reached the PTY");
    assert.match(text, /\/dev\/pts\/\d+\r\n/, "tty is a /dev/pts device");
    assert.match(text, /err\r\n/, "stderr goes to the PTY");
    facts.ttyLogText = text;
    const pty = await at("logs-pty", () => sdk.getProcessLogs(p.id, { stream: "pty" }));
    assert.deepEqual(pty.entries, logs.entries);
    const out = await at("logs-stdout", () => sdk.getProcessLogs(p.id, { stream: "stdout" }));
    assert.deepEqual(out.entries, [], "a tty process has no stdout entries");
    const combined = await at("logs-combined", () => sdk.getProcessLogs(p.id, { stream: "combined" }));
    facts.ttyCombined = { stream: combined.stream, entries: combined.entries.length };
  });

  await step("process.tty-input", async () => {
    const p = await create("create", { command: "cat", tty: true, interactive: true });
    const w = await at("input", () => sdk.sendProcessInput(p.id, { data: "abc\n", encoding: "utf8" }));
    assert.deepEqual(w, { bytesWritten: 4 });
    await waitLogs(p.id, { stream: "pty" }, (t) => t === "abc\r\nabc\r\n", 5000);
    const killed = await at("kill", () => sdk.killProcess(p.id, { waitMs: 5000 }));
    assert.equal(killed.status, "exited");
  });

  await step("terminal.ws", async () => {
    const p = await create("create", { command: "sh", tty: true, interactive: true });
    const term = await at("connect", async () => sdk.connectProcessTerminal(p.id, { WebSocket: rec.WebSocket }));
    let output = "";
    const ready = [];
    const exits = [];
    const errors = [];
    let closed = false;
    term.onReady((f) => ready.push(f));
    term.onData((bytes) => {
      assert.ok(bytes instanceof Uint8Array);
      output += Buffer.from(bytes).toString("utf8");
    });
    term.onExit((f) => exits.push(f));
    term.onError((e) => errors.push(e));
    term.onClose(() => {
      closed = true;
    });
    await waitFor("ready frame", async () => ready.length > 0, 5000, 10);
    assert.deepEqual(ready[0], { type: "ready", processId: p.id });
    term.resize({ cols: 120, rows: 40 });
    term.sendInput("stty size; tty\n");
    await waitFor("stty output", async () => /40 120/.test(output) && /\/dev\/pts\/\d+/.test(output), 5000, 20);
    term.sendInput(new TextEncoder().encode("echo bin-$((40+2))\n"));
    await waitFor("binary input echoed", async () => output.includes("bin-42"), 5000, 20);
    const size = await at("resize-http", () => sdk.resizeProcessTerminal(p.id, { cols: 90, rows: 20 }));
    assert.deepEqual(size, { cols: 90, rows: 20 });
    term.sendInput("stty size\n");
    await waitFor("http resize seen", async () => output.includes("20 90"), 5000, 20);
    term.sendInput("exit 3\n");
    await waitFor("exit frame", async () => exits.length > 0, 5000, 10);
    assert.deepEqual(exits[0], { type: "exit", exitCode: 3 });
    await waitFor("socket closed by the server", async () => closed, 5000, 10);
    await term.closed;
    assert.deepEqual(errors, [], "no error frames");
    const after = await at("get", () => sdk.getProcess(p.id));
    assert.equal(after.status, "exited");
    assert.equal(after.exitCode, 3);
    facts.terminalOutput = output.slice(0, 600);

    // Connecting to an exited tty process: ready, then exit at once.
    const late = await at("connect-exited", async () => sdk.connectProcessTerminal(p.id, { WebSocket: rec.WebSocket }));
    const lateFrames = [];
    late.onReady((f) => lateFrames.push(f));
    late.onExit((f) => lateFrames.push(f));
    await late.closed;
    assert.deepEqual(lateFrames, [
      { type: "ready", processId: p.id },
      { type: "exit", exitCode: 3 },
    ]);
  });

  await step("terminal.ws-close", async () => {
    const p = await create("create", { command: "sh", tty: true, interactive: true });
    const term = await at("connect", async () => sdk.connectProcessTerminal(p.id, { WebSocket: rec.WebSocket }));
    const ready = [];
    let output = "";
    term.onReady((f) => ready.push(f));
    term.onData((bytes) => {
      output += Buffer.from(bytes).toString("utf8");
    });
    await waitFor("ready frame", async () => ready.length > 0, 5000, 10);
    term.sendInput("echo still-$((1+1))\n");
    await waitFor("echo output", async () => output.includes("still-2"), 5000, 10);
    term.close();
    await term.closed;
    const still = await at("get", () => sdk.getProcess(p.id));
    assert.equal(still.status, "running", "closing the terminal leaves the process running");
    await at("kill", () => sdk.killProcess(p.id, { waitMs: 5000 }));
  });

  await step("terminal.ws-errors", async () => {
    const p = await create("create-pipe", { command: "sleep", args: ["30"] });
    const term = await at("connect-not-tty", async () => sdk.connectProcessTerminal(p.id, { WebSocket: rec.WebSocket }));
    const ready = [];
    const errors = [];
    term.onReady((f) => ready.push(f));
    term.onError((e) => errors.push(e));
    await term.closed;
    assert.deepEqual(ready, []);
    assert.ok(errors.length > 0, "a non-tty process refuses the terminal");
    const missing = await at("connect-missing", async () => sdk.connectProcessTerminal("proc_999999", { WebSocket: rec.WebSocket }));
    const errs2 = [];
    missing.onError((e) => errs2.push(e));
    await missing.closed;
    assert.ok(errs2.length > 0);
    await at("kill", () => sdk.killProcess(p.id, { waitMs: 5000 }));
    const statuses = rec.entries.filter((e) => e.method === "WS" && e.label.startsWith(current)).map((e) => e.status);
    facts.terminalRefusals = statuses;
  });

  await step("process.list", async () => {
    const list = await at("list", () => sdk.listProcesses());
    assert.ok(Array.isArray(list.processes));
    const ids = list.processes.map((p) => p.id);
    const expected = created.filter((id) => ids.includes(id));
    assert.ok(expected.length >= 5, "processes created by the suite are listed");
    for (const p of list.processes) assert.equal(p.owner, "user");
    const user = await at("list-user", () => sdk.listProcesses({ owner: "user" }));
    assert.deepEqual(user.processes.map((p) => p.id).sort(), ids.sort());
    const system = await at("list-system", () => sdk.listProcesses({ owner: "system" }));
    assert.deepEqual(system.processes, []);
    const one = list.processes.find((p) => p.id === created[0]);
    const got = await at("get", () => sdk.getProcess(one.id));
    assert.deepEqual(got, one, "list and get agree");
  });

  await step("process.config", async () => {
    // Nothing of the suite may still run: the concurrency limit counts running processes.
    for (const p of (await poll(() => sdk.listProcesses())).processes) {
      if (p.status === "running") await poll(() => sdk.killProcess(p.id, { waitMs: 5000 }));
    }
    const cfg = await at("get", () => sdk.getProcessConfig());
    assert.deepEqual(cfg, DEFAULT_CONFIG, "default limits");
    try {
      const small = { ...DEFAULT_CONFIG, maxConcurrentProcesses: 2, maxOutputBytes: 10, maxInputBytesPerRequest: 4, maxRunTimeoutMs: 1000, defaultRunTimeoutMs: 500 };
      const set = await at("set", () => sdk.setProcessConfig(small));
      assert.deepEqual(set, small);
      assert.deepEqual(await at("get-after-set", () => sdk.getProcessConfig()), small);

      const r = await at("run-capped-output", () =>
        sdk.runProcess({ command: "echo", args: ["0123456789abcdef"], maxOutputBytes: 1000 }),
      );
      assert.equal(r.stdout, "0123456789", "maxOutputBytes is capped by the config");
      assert.equal(r.stdoutTruncated, true);
      const t = await at("run-default-timeout", () => sdk.runProcess({ command: "sleep", args: ["5"] }));
      assert.equal(t.timedOut, true, "defaultRunTimeoutMs applies");
      assert.ok(t.durationMs >= 400 && t.durationMs < 2500, `durationMs ${t.durationMs}`);
      const t2 = await at("run-capped-timeout", () => sdk.runProcess({ command: "sleep", args: ["5"], timeoutMs: 60000 }));
      assert.equal(t2.timedOut, true, "timeoutMs is capped by maxRunTimeoutMs");
      assert.ok(t2.durationMs >= 900 && t2.durationMs < 3000, `durationMs ${t2.durationMs}`);

      const a = await create("create-1", { command: "cat", interactive: true });
      await create("create-2", { command: "sleep", args: ["30"] });
      await problem(at("create-over-limit", () => sdk.createProcess({ command: "sleep", args: ["30"] })), {
        status: 409,
        type: "conflict",
      });
      const big = await problem(at("input-too-large", () => sdk.sendProcessInput(a.id, { data: "12345", encoding: "utf8" })));
      assert.equal(big.status, 413);
      facts.inputTooLarge = { status: big.status, type: big.problem.type, title: big.problem.title };
      const ok = await at("input-at-limit", () => sdk.sendProcessInput(a.id, { data: "1234", encoding: "utf8" }));
      assert.deepEqual(ok, { bytesWritten: 4 });

      const clamp = await at("set-default-above-max", () =>
        sdk.setProcessConfig({ ...DEFAULT_CONFIG, defaultRunTimeoutMs: 400000 }),
      );
      assert.equal(clamp.defaultRunTimeoutMs, clamp.maxRunTimeoutMs, "defaultRunTimeoutMs is clamped to maxRunTimeoutMs");
      for (const [sub, bad] of [
        ["set-zero-concurrency", { maxConcurrentProcesses: 0 }],
        ["set-zero-timeout", { defaultRunTimeoutMs: 0 }],
        ["set-zero-bytes", { maxOutputBytes: 0 }],
      ]) {
        await problem(at(sub, () => sdk.setProcessConfig({ ...DEFAULT_CONFIG, ...bad })), {
          status: 400,
          type: "invalid_request",
        });
      }
    } finally {
      await at("restore", () => sdk.setProcessConfig(DEFAULT_CONFIG));
      for (const p of (await poll(() => sdk.listProcesses())).processes) {
        if (p.status === "running") await poll(() => sdk.killProcess(p.id, { waitMs: 5000 }));
      }
    }
  });

  // ───────────────────────── files ─────────────────────────
  await step("fs.files", async () => {
    const w = await at("write", () => sdk.writeFsFile({ path: `${DIR}/a/hello.txt` }, "hello world"));
    assert.deepEqual(w, { path: abs(`${DIR}/a/hello.txt`), bytesWritten: 11 });
    const bin = new Uint8Array(256).map((_, i) => i);
    const wb = await at("write-binary", () => sdk.writeFsFile({ path: `${DIR}/bin.dat` }, bin));
    assert.deepEqual(wb, { path: abs(`${DIR}/bin.dat`), bytesWritten: 256 });
    const rb = await at("read-binary", () => sdk.readFsFile({ path: `${DIR}/bin.dat` }));
    assert.ok(rb instanceof Uint8Array);
    assert.deepEqual(Buffer.from(rb), Buffer.from(bin), "binary round trip");
    const deep = await at("write-new-parents", () => sdk.writeFsFile({ path: `${DIR}/new/deep/x.txt` }, "x"));
    assert.deepEqual(deep, { path: abs(`${DIR}/new/deep/x.txt`), bytesWritten: 1 }, "write creates parent directories");
    const over = await at("overwrite", () => sdk.writeFsFile({ path: `${DIR}/new/deep/x.txt` }, "second"));
    assert.equal(over.bytesWritten, 6);
    assert.equal(Buffer.from(await at("read-overwritten", () => sdk.readFsFile({ path: `${DIR}/new/deep/x.txt` }))).toString(), "second");
    const empty = await at("write-empty", () => sdk.writeFsFile({ path: `${DIR}/empty` }, new Uint8Array(0)));
    assert.equal(empty.bytesWritten, 0);
    assert.equal((await at("read-empty", () => sdk.readFsFile({ path: `${DIR}/empty` }))).length, 0);

    const r = await at("read", () => sdk.readFsFile({ path: `${DIR}/a/hello.txt` }));
    assert.equal(Buffer.from(r).toString(), "hello world");
    const rAbs = await at("read-absolute", () => sdk.readFsFile({ path: abs(`${DIR}/a/hello.txt`) }));
    assert.equal(Buffer.from(rAbs).toString(), "hello world");

    const st = await at("stat-file", () => sdk.statFs({ path: `${DIR}/a/hello.txt` }));
    assert.equal(st.path, abs(`${DIR}/a/hello.txt`));
    assert.equal(st.entryType, "file");
    assert.equal(st.size, 11);
    assert.ok(typeof st.modified === "string" && Math.abs(Date.parse(st.modified) - Date.now()) < 600000, `modified ${st.modified}`);
    const sd = await at("stat-dir", () => sdk.statFs({ path: `${DIR}/a` }));
    assert.equal(sd.entryType, "directory");
    assert.equal(sd.path, abs(`${DIR}/a`));

    const list = await at("list", () => sdk.listFsEntries({ path: `${DIR}/a` }));
    const sorted = [...list].sort((x, y) => x.name.localeCompare(y.name));
    assert.deepEqual(sorted.map((e) => [e.name, e.path, e.entryType]), [
      ["b", abs(`${DIR}/a/b`), "directory"],
      ["hello.txt", abs(`${DIR}/a/hello.txt`), "file"],
    ]);
    assert.equal(sorted[1].size, 11);
    assert.equal(typeof sorted[1].modified, "string");
    const root = await at("list-root", () => sdk.listFsEntries());
    const mine = root.find((e) => e.name === DIR);
    assert.ok(mine, "the default listing is the workdir");
    assert.equal(mine.entryType, "directory");
    assert.equal(mine.path, abs(DIR));

    // Files and processes share one tree.
    await at("run-writes", () => sdk.runProcess({ command: "sh", args: ["-c", `printf from-proc > ${DIR}/from-proc.txt`] }));
    assert.equal(Buffer.from(await at("read-proc-file", () => sdk.readFsFile({ path: `${DIR}/from-proc.txt` }))).toString(), "from-proc");
    const cat = await at("run-reads", () => sdk.runProcess({ command: "cat", args: [`${DIR}/a/hello.txt`] }));
    assert.equal(cat.stdout, "hello world");
  });

  await step("fs.move-delete", async () => {
    const mv = await at("move", () => sdk.moveFs({ from: `${DIR}/a/hello.txt`, to: `${DIR}/a/b/moved.txt` }));
    assert.deepEqual(mv, { from: abs(`${DIR}/a/hello.txt`), to: abs(`${DIR}/a/b/moved.txt`) });
    assert.equal(Buffer.from(await at("read-moved", () => sdk.readFsFile({ path: `${DIR}/a/b/moved.txt` }))).toString(), "hello world");
    await problem(at("stat-moved-away", () => sdk.statFs({ path: `${DIR}/a/hello.txt` })), { status: "4xx" });
    await problem(at("move-onto-existing", () => sdk.moveFs({ from: `${DIR}/new/deep/x.txt`, to: `${DIR}/a/b/moved.txt` })), {
      status: "4xx",
    });
    const ow = await at("move-overwrite", () =>
      sdk.moveFs({ from: `${DIR}/new/deep/x.txt`, to: `${DIR}/a/b/moved.txt`, overwrite: true }),
    );
    assert.deepEqual(ow, { from: abs(`${DIR}/new/deep/x.txt`), to: abs(`${DIR}/a/b/moved.txt`) });
    assert.equal(Buffer.from(await at("read-overwritten", () => sdk.readFsFile({ path: `${DIR}/a/b/moved.txt` }))).toString(), "second");
    const md = await at("move-dir", () => sdk.moveFs({ from: `${DIR}/new`, to: `${DIR}/new2` }));
    assert.deepEqual(md, { from: abs(`${DIR}/new`), to: abs(`${DIR}/new2`) });
    await problem(at("move-missing", () => sdk.moveFs({ from: `${DIR}/nope`, to: `${DIR}/zz` })), { status: "4xx" });

    const df = await at("delete-file", () => sdk.deleteFsEntry({ path: `${DIR}/a/b/moved.txt` }));
    assert.deepEqual(df, { path: abs(`${DIR}/a/b/moved.txt`) });
    await problem(at("delete-missing", () => sdk.deleteFsEntry({ path: `${DIR}/a/b/moved.txt` })), { status: "4xx" });
    await sdk.writeFsFile({ path: `${DIR}/a/b/keep.txt` }, "k");
    const notEmpty = await problem(at("delete-nonempty-dir", () => sdk.deleteFsEntry({ path: `${DIR}/a` })));
    facts.deleteNonEmpty = { status: notEmpty.status, type: notEmpty.problem.type };
    assert.equal((await at("stat-kept", () => sdk.statFs({ path: `${DIR}/a/b/keep.txt` }))).size, 1, "nothing deleted");
    const dr = await at("delete-recursive", () => sdk.deleteFsEntry({ path: `${DIR}/a`, recursive: true }));
    assert.deepEqual(dr, { path: abs(`${DIR}/a`) });
    await problem(at("stat-deleted", () => sdk.statFs({ path: `${DIR}/a` })), { status: "4xx" });
    const de = await at("delete-empty-dir", () => sdk.deleteFsEntry({ path: `${DIR}/new2/deep` , recursive: true }));
    assert.deepEqual(de, { path: abs(`${DIR}/new2/deep`) });
    await at("mkdir-empty", () => sdk.mkdirFs({ path: `${DIR}/e` }));
    const dn = await at("delete-empty-dir-plain", () => sdk.deleteFsEntry({ path: `${DIR}/e` }));
    assert.deepEqual(dn, { path: abs(`${DIR}/e`) }, "an empty directory is deleted without recursive");
  });

  await step("fs.upload-batch", async () => {
    const tar = makeTar([
      { name: "one.txt", data: "one\n" },
      { name: "d", dir: true },
      { name: "d/e", dir: true },
      { name: "d/e/two.txt", data: "two\n".repeat(200) },
    ]);
    const up = await at("upload", () => sdk.uploadFsBatch(tar, { path: `${DIR}/up` }));
    assert.equal(up.truncated, false);
    assert.deepEqual(up.paths, [
      abs(`${DIR}/up/one.txt`),
      abs(`${DIR}/up/d`),
      abs(`${DIR}/up/d/e`),
      abs(`${DIR}/up/d/e/two.txt`),
    ]);
    assert.equal(Buffer.from(await at("read-one", () => sdk.readFsFile({ path: `${DIR}/up/one.txt` }))).toString(), "one\n");
    assert.equal(Buffer.from(await at("read-two", () => sdk.readFsFile({ path: `${DIR}/up/d/e/two.txt` }))).toString(), "two\n".repeat(200));
    const evil = makeTar([{ name: "../evil.txt", data: "evil\n" }]);
    await problem(at("upload-dotdot", () => sdk.uploadFsBatch(evil, { path: `${DIR}/up2` })), { status: 400, type: "invalid_request" });
    await problem(at("stat-evil", () => sdk.statFs({ path: `${DIR}/evil.txt` })), { status: "4xx" });
    const absTar = makeTar([{ name: `${abs(DIR)}/abs.txt`, data: "abs\n" }]);
    await problem(at("upload-absolute", () => sdk.uploadFsBatch(absTar, { path: `${DIR}/up3` })), { status: 400, type: "invalid_request" });
    await problem(at("stat-abs", () => sdk.statFs({ path: `${DIR}/abs.txt` })), { status: "4xx" });
  });

  await step("fs.errors", async () => {
    const missing = await problem(at("read-missing", () => sdk.readFsFile({ path: `${DIR}/missing.txt` })), { status: "4xx" });
    facts.fsMissing = { status: missing.status, type: missing.problem.type, detail: missing.problem.detail };
    await problem(at("stat-missing", () => sdk.statFs({ path: `${DIR}/missing.txt` })), { status: "4xx" });
    await problem(at("list-missing", () => sdk.listFsEntries({ path: `${DIR}/missing` })), { status: "4xx" });
    await problem(at("list-file", () => sdk.listFsEntries({ path: `${DIR}/bin.dat` })), { status: "4xx" });
    await problem(at("read-dir", () => sdk.readFsFile({ path: DIR })), { status: "4xx" });
    const dotdot = await problem(at("dotdot", () => sdk.statFs({ path: `${DIR}/../${DIR}` })), { status: 400, type: "invalid_request" });
    facts.fsDotDot = dotdot.problem.detail;
    const wdir = await problem(at("write-onto-dir", () => sdk.writeFsFile({ path: DIR }, "x")));
    facts.fsWriteOntoDir = { status: wdir.status, type: wdir.problem.type };
    const mfile = await problem(at("mkdir-onto-file", () => sdk.mkdirFs({ path: `${DIR}/bin.dat` })));
    facts.fsMkdirOntoFile = { status: mfile.status, type: mfile.problem.type };
  });

  await step("config.mcp-skills", async () => {
    const mcpQ = { directory: abs(`${DIR}/cfg`), mcpName: "echo" };
    await at("mcp-put", () => sdk.setMcpConfig(mcpQ, { type: "stdio", command: "node", args: ["x.js"], env: { A: "1" } }));
    assert.deepEqual(await at("mcp-get", () => sdk.getMcpConfig(mcpQ)), { type: "local", command: "node", args: ["x.js"], env: { A: "1" } });
    const web = { ...mcpQ, mcpName: "web" };
    await at("mcp-put-remote", () => sdk.setMcpConfig(web, { type: "http", url: "http://127.0.0.1:9/mcp", headers: { "X-Test": "1" } }));
    assert.deepEqual(await at("mcp-get-remote", () => sdk.getMcpConfig(web)), { type: "remote", url: "http://127.0.0.1:9/mcp", headers: { "X-Test": "1" } });
    const missing = await problem(at("mcp-missing", () => sdk.getMcpConfig({ ...mcpQ, mcpName: "nope" })), { status: 404 });
    facts.configMissing = { type: missing.problem.type, detail: missing.problem.detail };
    await at("mcp-delete", () => sdk.deleteMcpConfig(mcpQ));
    await problem(at("mcp-deleted", () => sdk.getMcpConfig(mcpQ)), { status: 404 });
    await at("mcp-delete-missing", () => sdk.deleteMcpConfig(mcpQ));
    const stored = JSON.parse(Buffer.from(await at("mcp-file", () => sdk.readFsFile({ path: `${DIR}/cfg/.sandbox-agent/config/mcp.json` }))).toString());
    assert.deepEqual(stored, { web: { type: "remote", url: "http://127.0.0.1:9/mcp", headers: { "X-Test": "1" } } });

    const skillQ = { directory: abs(`${DIR}/cfg`), skillName: "team" };
    const skills = { sources: [{ type: "local", source: abs(`${DIR}/skills`), skills: ["greet"] }, { type: "git", source: "https://example.invalid/s.git", ref: "main", subpath: "skills" }] };
    await at("skills-put", () => sdk.setSkillsConfig(skillQ, skills));
    assert.deepEqual(await at("skills-get", () => sdk.getSkillsConfig(skillQ)), skills);
    await problem(at("skills-missing", () => sdk.getSkillsConfig({ ...skillQ, skillName: "nope" })), { status: 404 });
    await at("skills-delete", () => sdk.deleteSkillsConfig(skillQ));
    await problem(at("skills-deleted", () => sdk.getSkillsConfig(skillQ)), { status: 404 });
  });

  await step("fs.cleanup", async () => {
    const d = await at("delete", () => sdk.deleteFsEntry({ path: DIR, recursive: true }));
    assert.deepEqual(d, { path: abs(DIR) });
  });

  // Whatever a failed step left running.
  try {
    for (const p of (await poll(() => sdk.listProcesses())).processes) {
      if (p.status === "running") await poll(() => sdk.killProcess(p.id, { waitMs: 2000 }));
    }
  } catch {
    // the server may not support processes at all
  }
  await sdk.dispose();
  return { results, entries: rec.entries, facts };
}
