// Stream framings and the new run routes, against a fake fetch:
// blank lines and `\r` in line framing, `?output=chunks` (text and
// base64 chunks decoded to bytes), runs.cancel / jails.cancel, the exec
// streams of sessions and workspaces, and audit.actions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Paddock, PaddockError, SseParser } from "../../dist/esm/index.js";
import { collect, fakeFetch, json, sse } from "../helpers/fake.mjs";

const KEY = "unit-test-key-0123456789";
const START = 'event: started\ndata: {"id":7,"pid":1}\n\n';
const DONE = 'event: completed\ndata: {"id":7,"exit_code":0}\n\n';

function client(chunks, options = {}) {
  const state = {};
  const fetch = fakeFetch((call) =>
    call.path.endsWith("/stream") ? sse(chunks, { ...options, signal: call.signal, state }) : json(200, {}),
  );
  return { paddock: new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch }), fetch, state };
}

const bytesOf = (text) => new TextEncoder().encode(text);

describe("line framing", () => {
  it("keeps blank lines: an event with a name and no data line is an empty line", () => {
    // paddock's server (axum) frames an empty line as `event: stdout` alone.
    const parser = new SseParser();
    const messages = parser.push("event: stdout\ndata: a\n\nevent: stdout\n\nevent: stdout\ndata:\n\n:keep-alive\n\n");
    assert.deepEqual(
      messages.map((m) => [m.event, m.data]),
      [
        ["stdout", "a"],
        ["stdout", ""],
        ["stdout", ""],
      ],
    );
  });

  it("yields blank lines and joins the data lines of a `\\r` with `\\n`", async () => {
    const { paddock, fetch } = client([
      START,
      "event: stdout\ndata: a\n\n",
      "event: stdout\n\n",
      "event: stdout\ndata: 10%\ndata: 50%\ndata: 100%\n\n",
      "event: stderr\r\n\r\n",
      DONE,
    ]);
    const events = await collect(paddock.runs.stream({ code: "x", output: "lines" }));
    assert.deepEqual(
      events.filter((e) => e.type === "stdout" || e.type === "stderr").map((e) => [e.type, e.line]),
      [
        ["stdout", "a"],
        ["stdout", ""],
        ["stdout", "10%\n50%\n100%"],
        ["stderr", ""],
      ],
    );
    assert.equal(fetch.calls[0].query.output, "lines");
  });

  it("sends no ?output= by default", async () => {
    const { paddock, fetch } = client([START, DONE]);
    await collect(paddock.runs.stream({ code: "x" }));
    assert.equal(fetch.calls[0].search, "");
    assert.equal("output" in fetch.calls[0].body, false);
  });
});

describe("chunk framing", () => {
  const text = "héllo\r\n\n10%\r50% 😀";
  const raw = Uint8Array.of(0xff, 0x00, 0xfe, 0x41);
  const base64 = Buffer.from(raw).toString("base64");
  const STREAM = [
    START,
    `event: stdout\ndata: ${JSON.stringify({ text })}\n\n`,
    `event: stderr\ndata: ${JSON.stringify({ base64 })}\n\n`,
    `event: stdout\ndata: ${JSON.stringify({ text: "" })}\n\n`,
    DONE,
  ];

  it("asks for ?output=chunks and decodes text and base64 chunks to bytes", async () => {
    const { paddock, fetch } = client(STREAM);
    const events = await collect(paddock.runs.stream({ code: "x", output: "chunks" }));
    assert.equal(fetch.calls[0].path, "/v1/runs/stream");
    assert.equal(fetch.calls[0].query.output, "chunks");
    assert.equal("output" in fetch.calls[0].body, false, "output is a query parameter, not a body field");
    assert.deepEqual(
      events.map((e) => e.type),
      ["started", "stdout", "stderr", "stdout", "completed"],
    );
    const [, out, err, empty] = events;
    assert.equal(out.text, text, "the exact text, \\r and \\n kept");
    assert.ok(out.bytes instanceof Uint8Array);
    assert.deepEqual([...out.bytes], [...bytesOf(text)]);
    assert.equal("line" in out, false);
    assert.equal(err.text, undefined, "no text for bytes that are not UTF-8");
    assert.ok(err.bytes instanceof Uint8Array);
    assert.deepEqual([...err.bytes], [...raw]);
    assert.equal(empty.text, "");
    assert.equal(empty.bytes.length, 0);
  });

  it("decodes base64 of every length and padding", async () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const encoded = Buffer.from(bytes).toString("base64");
      for (const b64 of [encoded, encoded.replace(/=+$/, "")]) {
        const { paddock } = client([`event: stdout\ndata: {"base64":"${b64}"}\n\n`, DONE]);
        const [chunk] = await collect(paddock.runs.stream({ code: "x", output: "chunks" }));
        assert.deepEqual([...chunk.bytes], [...bytes], `n=${n} ${b64}`);
      }
    }
  });

  it("data that is not a chunk is a SERVER_ERROR naming the framing", async () => {
    for (const data of ["plain line", '{"base64":"!!!"}', '{"other":1}', "[1]"]) {
      const { paddock } = client([`event: stdout\ndata: ${data}\n\n`, DONE]);
      await assert.rejects(collect(paddock.runs.stream({ code: "x", output: "chunks" })), (err) => {
        assert.ok(PaddockError.is(err));
        assert.equal(err.code, "SERVER_ERROR");
        assert.match(err.message, /runs\.stream: the stdout event's data is not a chunk/);
        return true;
      });
    }
  });

  it("an unknown output framing is a TypeError before any request", async () => {
    const { paddock, fetch } = client([START, DONE]);
    await assert.rejects(collect(paddock.runs.stream({ code: "x", output: "bytes" })), TypeError);
    assert.equal(fetch.calls.length, 0);
  });
});

describe("cancel", () => {
  it("runs.cancel and jails.cancel post to /v1/runs/:id/cancel", async () => {
    const fetch = fakeFetch((call) => json(202, { id: Number(call.path.split("/")[3]), cancelled: true }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    assert.deepEqual(await paddock.runs.cancel(12), { id: 12, cancelled: true });
    assert.deepEqual(await paddock.jails.cancel("13"), { id: 13, cancelled: true });
    assert.deepEqual(
      fetch.calls.map((c) => [c.method, c.path, c.body]),
      [
        ["POST", "/v1/runs/12/cancel", undefined],
        ["POST", "/v1/runs/13/cancel", undefined],
      ],
    );
  });

  it("404 is NOT_FOUND, 409 is CONFLICT with RUN_FINISHED", async () => {
    const fetch = fakeFetch(
      json(404, { error: "no such run", code: "NOT_FOUND" }),
      json(409, { error: "the run already ended", code: "RUN_FINISHED" }),
    );
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    await assert.rejects(paddock.runs.cancel(1), { code: "NOT_FOUND", status: 404 });
    await assert.rejects(paddock.runs.cancel(2), { code: "CONFLICT", status: 409, serverCode: "RUN_FINISHED" });
  });
});

describe("exec streams", () => {
  it("sessions.execStream posts the exec body to /v1/sessions/:id/exec/stream", async () => {
    const { paddock, fetch } = client([START, 'event: stdout\ndata: {"text":"hi\\n"}\n\n', DONE]);
    const events = await collect(
      paddock.sessions.execStream("sess_1", { cmd: "echo", args: ["hi"], timeoutSecs: 5, network: { mode: "none" }, output: "chunks" }),
    );
    const call = fetch.calls[0];
    assert.equal(call.method, "POST");
    assert.equal(call.path, "/v1/sessions/sess_1/exec/stream");
    assert.equal(call.headers.accept, "text/event-stream");
    assert.deepEqual(call.query, { output: "chunks" });
    assert.deepEqual(call.body, { cmd: "echo", args: ["hi"], timeout_secs: 5, network: { mode: "none" } });
    assert.equal(events[1].text, "hi\n");
    assert.equal(events.at(-1).type, "completed");
  });

  it("workspaces.execStream posts the exec body to /v1/workspaces/:id/exec/stream", async () => {
    const { paddock, fetch } = client([START, "event: stdout\ndata: hi\n\n", DONE]);
    const events = await collect(
      paddock.workspaces.execStream("wrk_1", { cmd: "sh", args: ["-c", "echo hi"], env: [["A", "1"]], memoryMb: 64 }),
    );
    const call = fetch.calls[0];
    assert.equal(call.path, "/v1/workspaces/wrk_1/exec/stream");
    assert.deepEqual(call.query, {});
    assert.deepEqual(call.body, { cmd: "sh", args: ["-c", "echo hi"], env: [["A", "1"]], memory_mb: 64 });
    assert.deepEqual(events[1], { type: "stdout", line: "hi" });
  });

  it("a stream's signal aborts the request; leaving early cancels the body", async () => {
    const controller = new AbortController();
    const { paddock, fetch } = client([START, "event: stdout\ndata: 1\n\n"], { open: true });
    await assert.rejects(
      (async () => {
        for await (const event of paddock.workspaces.execStream("wrk_1", { cmd: "x", signal: controller.signal })) {
          if (event.type === "stdout") controller.abort();
        }
      })(),
      { name: "AbortError" },
    );
    assert.equal(fetch.calls[0].signal.aborted, true);
    assert.equal("signal" in fetch.calls[0].body, false);

    const second = client([START, "event: stdout\ndata: 1\n\n"], { open: true });
    for await (const event of second.paddock.sessions.execStream("sess_1", { cmd: "x" })) {
      if (event.type === "stdout") break;
    }
    assert.equal(second.fetch.calls[0].signal.aborted, true);
    assert.equal(second.state.cancelled, true);
  });

  it("an error answer is thrown before any event (404 on an unknown workspace)", async () => {
    const fetch = fakeFetch(json(404, { error: "workspace not found", code: "NOT_FOUND" }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    await assert.rejects(collect(paddock.workspaces.execStream("wrk_1", { cmd: "x" })), {
      code: "NOT_FOUND",
      serverCode: "NOT_FOUND",
    });
  });
});

describe("audit.actions", () => {
  it("reads /v1/audit/actions with its page and search", async () => {
    const fetch = fakeFetch(json(200, { rows: [], total: 0 }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    assert.deepEqual(await paddock.audit.actions({ limit: 5, offset: 1, q: "session" }), { rows: [], total: 0 });
    assert.equal(fetch.calls[0].path, "/v1/audit/actions");
    assert.deepEqual(fetch.calls[0].query, { limit: "5", offset: "1", q: "session" });
  });
});
