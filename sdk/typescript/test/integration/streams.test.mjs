// Run ids, cancellation and stream framings against a real `paddock
// serve`: runs.cancel / jails.cancel (202, 404, 409 RUN_FINISHED), an
// AbortSignal on a run or a stream ends the jail server-side (its ledger
// row becomes `cancelled`), `output: "chunks"` is byte-exact, the line
// framing keeps blank lines and `\r`, and the exec streams of sessions
// and workspaces.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { API_KEY_ENV, Paddock, URL_ENV } from "../../dist/esm/index.js";
import { ADMIN_TOKEN, OTHER_TOKEN, failure, startServer } from "../helpers/server.mjs";

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

/** Polls `probe` until it answers something other than `undefined`. */
async function waitFor(probe, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until ledger row `id` has ended; answers the row. */
async function ended(id, timeoutMs = 5000) {
  return waitFor(
    async () => {
      const row = await paddock.jails.get(id);
      return row.status === "running" ? undefined : row;
    },
    timeoutMs,
    `jail ${id} ends`,
  );
}

/** The id of the one running jail of `kind` started after `since` (an id). */
async function runningJail(kind, since) {
  return waitFor(
    async () => {
      const { rows } = await paddock.jails.list({ status: "running", kind, limit: 20 });
      return rows.find((r) => r.id > since)?.id;
    },
    10_000,
    `a running ${kind} jail`,
  );
}

async function lastJailId() {
  const { rows } = await paddock.jails.list({ limit: 1 });
  return rows[0]?.id ?? 0;
}

const concat = (chunks) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

describe("runs.cancel", () => {
  it("cancels a stream by the id of its started event; the stream completes with cancelled", async () => {
    const events = [];
    let answer;
    for await (const event of paddock.runs.stream({ language: "bash", code: "echo up; sleep 30; echo never", timeoutSecs: 60 })) {
      events.push(event);
      if (event.type === "stdout" && event.line === "up") {
        answer = await paddock.runs.cancel(events[0].id);
      }
    }
    assert.equal(events[0].type, "started");
    assert.deepEqual(answer, { id: events[0].id, cancelled: true });
    const done = events.at(-1);
    assert.equal(done.type, "completed");
    assert.equal(done.cancelled, true);
    assert.equal(done.id, events[0].id);
    assert.ok(!events.some((e) => e.type === "stdout" && e.line === "never"));
    assert.equal((await ended(done.id)).status, "cancelled");

    // Once it has ended: 409 RUN_FINISHED, for both names of the method.
    for (const cancel of [(id) => paddock.runs.cancel(id), (id) => paddock.jails.cancel(id)]) {
      const err = await failure(cancel(done.id));
      assert.equal(err.code, "CONFLICT");
      assert.equal(err.status, 409);
      assert.equal(err.serverCode, "RUN_FINISHED");
    }
  });

  it("cancels a waiting runs.create, which answers its result with cancelled: true", async () => {
    const since = await lastJailId();
    const pending = paddock.runs.create({ language: "bash", code: "echo partial; sleep 30", timeoutSecs: 60 });
    const id = await runningJail("run", since);
    await new Promise((r) => setTimeout(r, 300)); // let `echo partial` run
    assert.deepEqual(await paddock.jails.cancel(id), { id, cancelled: true });
    const result = await pending;
    assert.equal(result.id, id);
    assert.equal(result.cancelled, true);
    assert.equal(result.stdout, "partial\n", "the output so far");
    assert.equal((await ended(id)).status, "cancelled");
  });

  it("an unknown id, or another tenant's jail, is NOT_FOUND", async () => {
    assert.equal((await failure(paddock.runs.cancel(99_999_999))).code, "NOT_FOUND");
    const since = await lastJailId();
    const controller = new AbortController();
    const pending = paddock.runs.create({ language: "bash", code: "sleep 30" }, { signal: controller.signal }).catch((e) => e);
    const id = await runningJail("run", since);
    const other = new Paddock({ baseUrl: server.url, apiKey: OTHER_TOKEN });
    const err = await failure(other.runs.cancel(id));
    assert.equal(err.code, "NOT_FOUND");
    assert.equal((await paddock.jails.get(id)).status, "running", "the other tenant's cancel did nothing");
    controller.abort();
    assert.equal((await pending).name, "AbortError");
    assert.equal((await ended(id)).status, "cancelled");
  });
});

describe("an AbortSignal ends the jail on the server", () => {
  it("runs.stream: the row of the started event's id becomes cancelled within seconds", async () => {
    const controller = new AbortController();
    let id;
    await assert.rejects(
      (async () => {
        for await (const event of paddock.runs.stream({
          language: "bash",
          code: "while true; do echo tick; sleep 0.1; done",
          timeoutSecs: 120,
          signal: controller.signal,
        })) {
          if (event.type === "started") id = event.id;
          if (event.type === "stdout") controller.abort();
        }
      })(),
      { name: "AbortError" },
    );
    assert.equal(typeof id, "number");
    const started = Date.now();
    const row = await ended(id, 5000);
    assert.equal(row.status, "cancelled");
    assert.ok(Date.now() - started < 5000);
  });

  it("runs.create: aborting the request ends the jail (found with status=running)", async () => {
    const since = await lastJailId();
    const controller = new AbortController();
    const pending = paddock.runs.create({ language: "bash", code: "sleep 60", timeoutSecs: 120 }, { signal: controller.signal });
    const id = await runningJail("run", since);
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    assert.equal((await ended(id, 5000)).status, "cancelled");
  });

  it("leaving the loop early ends the jail too", async () => {
    let id;
    for await (const event of paddock.runs.stream({ language: "bash", code: "while true; do echo x; sleep 0.1; done", timeoutSecs: 120 })) {
      if (event.type === "started") id = event.id;
      if (event.type === "stdout") break;
    }
    assert.equal((await ended(id, 5000)).status, "cancelled");
  });
});

describe("output framings", () => {
  // Blank lines, a progress bar (`\r`), `\r\n`, bytes that are not UTF-8,
  // and a character split across two writes.
  const code = [
    "printf 'one\\n\\n'",
    "printf '10%%\\r50%%\\r100%%\\n'",
    "printf 'dos\\r\\n'",
    "printf '\\342\\202'; sleep 0.2; printf '\\254 euro\\n'",
    "sleep 0.2; printf 'bad \\377\\376 bytes\\n'",
    "printf 'err\\n' >&2",
    "printf 'no newline at the end'",
  ].join("; ");
  const expected = Buffer.concat([
    Buffer.from("one\n\n10%\r50%\r100%\ndos\r\n"),
    Buffer.from([0xe2, 0x82, 0xac]),
    Buffer.from(" euro\nbad "),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(" bytes\nno newline at the end"),
  ]);

  it("lines: blank lines are events, a \\r is a \\n, not UTF-8 is U+FFFD", async () => {
    const events = [];
    for await (const event of paddock.runs.stream({ language: "bash", code, output: "lines" })) events.push(event);
    assert.deepEqual(
      events.filter((e) => e.type === "stdout").map((e) => e.line),
      ["one", "", "10%\n50%\n100%", "dos", "€ euro", "bad \ufffd\ufffd bytes", "no newline at the end"],
    );
    assert.deepEqual(
      events.filter((e) => e.type === "stderr").map((e) => e.line),
      ["err"],
    );
    assert.equal(events.at(-1).type, "completed");
  });

  it("chunks: the bytes are the output, byte for byte; text only for UTF-8 chunks", async () => {
    const events = [];
    for await (const event of paddock.runs.stream({ language: "bash", code, output: "chunks" })) events.push(event);
    const stdout = events.filter((e) => e.type === "stdout");
    assert.ok(stdout.every((e) => e.bytes instanceof Uint8Array && !("line" in e)));
    assert.deepEqual(Buffer.from(concat(stdout.map((e) => e.bytes))), expected);
    for (const chunk of stdout) {
      if (chunk.text !== undefined) assert.deepEqual(Buffer.from(chunk.bytes), Buffer.from(chunk.text), "text and bytes agree");
    }
    assert.ok(stdout.some((e) => e.text === undefined), "the non-UTF-8 chunk has no text");
    assert.ok(
      stdout.some((e) => e.text?.includes("€")),
      "the split character arrives whole in a text chunk",
    );
    const stderr = events.filter((e) => e.type === "stderr");
    assert.equal(stderr.map((e) => e.text).join(""), "err\n");
    assert.equal(events.at(-1).type, "completed");
    assert.equal(events.at(-1).exit_code, 0);
  });
});

describe("exec streams", () => {
  it("sessions.execStream: the session's env, events as runs.stream, chunks too", async () => {
    await paddock.credentials.put({ service: "openai", secret: "sk-stream-test" });
    const session = await paddock.sessions.create({ services: ["openai"], ttlSecs: 600 });
    const events = [];
    for await (const event of paddock.sessions.execStream(session.id, {
      cmd: "sh",
      args: ["-c", 'echo "${OPENAI_API_KEY%%_*}"; echo; echo oops >&2; exit 4'],
      timeoutSecs: 20,
    })) {
      events.push(event);
    }
    assert.equal(events[0].type, "started");
    assert.equal(typeof events[0].id, "number");
    assert.deepEqual(
      events.filter((e) => e.type === "stdout").map((e) => e.line),
      ["phm", ""],
    );
    assert.deepEqual(
      events.filter((e) => e.type === "stderr").map((e) => e.line),
      ["oops"],
    );
    const done = events.at(-1);
    assert.equal(done.type, "completed");
    assert.equal(done.exit_code, 4);
    assert.equal(done.id, events[0].id);
    const row = await paddock.jails.get(done.id);
    assert.equal(row.kind, "exec");
    assert.equal(row.session_id, session.id);

    const chunks = [];
    for await (const event of paddock.sessions.execStream(session.id, { cmd: "printf", args: ["a\\r\\nb"], output: "chunks" })) {
      if (event.type === "stdout") chunks.push(event.bytes);
    }
    assert.equal(Buffer.from(concat(chunks)).toString(), "a\r\nb");

    // Cancelled by id from its started event.
    const seen = [];
    for await (const event of paddock.sessions.execStream(session.id, { cmd: "sleep", args: ["30"], timeoutSecs: 60 })) {
      seen.push(event);
      if (event.type === "started") await paddock.runs.cancel(event.id);
    }
    assert.equal(seen.at(-1).type, "completed");
    assert.equal(seen.at(-1).cancelled, true);

    await paddock.sessions.close(session.id);
    const err = await failure(
      (async () => {
        for await (const _ of paddock.sessions.execStream(session.id, { cmd: "true" })) {
          // no events
        }
      })(),
    );
    assert.equal(err.code, "NOT_FOUND");
  });

  it("workspaces.execStream: state persists, execs side by side, abort cancels", async () => {
    const ws = await paddock.workspaces.create({ label: "sdk-stream", timeoutSecs: 60 });
    try {
      const events = [];
      for await (const event of paddock.workspaces.execStream(ws.id, {
        cmd: "sh",
        args: ["-c", "echo kept > /workspace/f; cat /workspace/f; echo \"$X\""],
        env: [["X", "from-env"]],
        timeoutSecs: 30,
      })) {
        events.push(event);
      }
      assert.deepEqual(
        events.filter((e) => e.type === "stdout").map((e) => e.line),
        ["kept", "from-env"],
      );
      assert.equal(events.at(-1).type, "completed");
      assert.equal(events.at(-1).exit_code, 0);
      assert.equal((await paddock.jails.get(events[0].id)).kind, "workspace");

      const again = await paddock.workspaces.exec(ws.id, { cmd: "cat", args: ["/workspace/f"] });
      assert.equal(again.stdout, "kept\n");

      // While a stream runs, a second exec runs beside it and sees the same
      // tree, and the workspace cannot be deleted; aborting ends the jail.
      const controller = new AbortController();
      let id;
      const running = (async () => {
        for await (const event of paddock.workspaces.execStream(ws.id, {
          cmd: "sh",
          args: ["-c", "echo go; sleep 30"],
          output: "chunks",
          signal: controller.signal,
        })) {
          if (event.type === "started") id = event.id;
          if (event.type === "stdout") {
            const beside = await paddock.workspaces.exec(ws.id, { cmd: "cat", args: ["/workspace/f"] });
            assert.equal(beside.stdout, "kept\n");
            const busy = await failure(paddock.workspaces.delete(ws.id));
            assert.equal(busy.code, "CONFLICT");
            assert.equal(busy.serverCode, "WORKSPACE_BUSY");
            controller.abort();
          }
        }
      })();
      await assert.rejects(running, { name: "AbortError" });
      assert.equal((await ended(id, 5000)).status, "cancelled");
    } finally {
      await paddock.workspaces.delete(ws.id);
    }
  });
});
