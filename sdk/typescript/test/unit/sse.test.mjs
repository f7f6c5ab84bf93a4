// SSE parsing (split chunks at every byte, line endings, multi-line data,
// comments) and runs.stream (every event type, terminal events, early
// end, cancellation).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Paddock, PaddockError, SseParser } from "../../dist/esm/index.js";
import { collect, fakeFetch, json, sse } from "../helpers/fake.mjs";

const KEY = "unit-test-key-0123456789";

function parseAll(pieces) {
  const parser = new SseParser();
  const out = [];
  for (const piece of pieces) out.push(...parser.push(piece));
  parser.end();
  return out;
}

describe("SseParser", () => {
  it("parses events, multi-line data, comments, ids and fields without values", () => {
    const text = [
      ": keep-alive comment",
      "event: started",
      'data: {"pid":7}',
      "",
      "event: note",
      "data: line one",
      "data: line two",
      "data:",
      "data:  two spaces keep one",
      "id: 42",
      "retry: 1000",
      "unknown: ignored",
      "",
      "data",
      "",
      "id: 43",
      "",
      "data: no blank line at the end is dropped",
    ].join("\n");
    assert.deepEqual(parseAll([text]), [
      { event: "started", data: '{"pid":7}', id: "" },
      { event: "note", data: "line one\nline two\n\n two spaces keep one", id: "42" },
      { event: "message", data: "", id: "42" },
    ]);
  });

  it("accepts \\r\\n and bare \\r line ends", () => {
    const crlf = "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r";
    assert.deepEqual(
      parseAll([crlf]).map((m) => [m.event, m.data]),
      [
        ["a", "1"],
        ["b", "2"],
      ],
    );
  });

  it("gives the same result however the text is split", () => {
    const text = "event: x\r\ndata: a\r\ndata: b\r\n\r\n: c\r\nevent: y\ndata: é€😀\n\n";
    const whole = parseAll([text]);
    assert.equal(whole.length, 2);
    for (let i = 0; i <= text.length; i++) {
      assert.deepEqual(parseAll([text.slice(0, i), text.slice(i)]), whole, `split at ${i}`);
    }
    assert.deepEqual(parseAll([...text]), whole, "one character at a time");
  });
});

// Every event type, as paddock sends them.
const stats = {
  memory_peak_bytes: 4096,
  memory_current_bytes: 2048,
  cpu_usage_usec: 10,
  io_read_bytes: 0,
  io_write_bytes: 1,
  pids_current: 2,
};
const egress = {
  method: "CONNECT",
  host: "pypi.org",
  port: 443,
  address: "151.101.0.223",
  outcome: "allowed",
  reason: null,
  detail: null,
  status: null,
  bytes_up: 10,
  bytes_down: 20,
  duration_ms: 3.5,
};
const completed = { exit_code: 0, duration_ms: 12.5, timed_out: false, oom_killed: false, ...stats };
const STREAM =
  'event: started\ndata: {"pid":1234}\n\n' +
  ": keep-alive\n\n" +
  'event: stdout\ndata: héllo wörld 😀\n\n' +
  'event: stderr\ndata: warn: ∑\n\n' +
  `event: stats\ndata: ${JSON.stringify(stats)}\n\n` +
  `event: egress\ndata: ${JSON.stringify(egress)}\n\n` +
  'event: future-event\ndata: {"x":1}\n\n' +
  `event: completed\ndata: ${JSON.stringify(completed)}\n\n`;
const EXPECTED = [
  { type: "started", pid: 1234 },
  { type: "stdout", line: "héllo wörld 😀" },
  { type: "stderr", line: "warn: ∑" },
  { type: "stats", ...stats },
  { type: "egress", ...egress },
  { type: "completed", ...completed },
];

function streamClient(chunks, options = {}) {
  const state = {};
  const fetch = fakeFetch((call) => sse(chunks, { ...options, signal: call.signal, state }));
  return { paddock: new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch }), fetch, state };
}

describe("runs.stream", () => {
  it("sends the run as JSON and asks for an event stream", async () => {
    const { paddock, fetch } = streamClient([STREAM]);
    await collect(
      paddock.runs.stream({ code: "echo hi", language: "bash", timeoutSecs: 5, memoryMb: 64, network: { mode: "loopback" } }),
    );
    const call = fetch.calls[0];
    assert.equal(call.method, "POST");
    assert.equal(call.path, "/v1/runs/stream");
    assert.equal(call.headers.accept, "text/event-stream");
    assert.equal(call.headers["content-type"], "application/json");
    assert.equal(call.headers.authorization, `Bearer ${KEY}`);
    assert.deepEqual(call.body, {
      code: "echo hi",
      language: "bash",
      timeout_secs: 5,
      memory_mb: 64,
      network: { mode: "loopback" },
    });
    assert.equal("signal" in call.body, false, "the signal is not sent");
  });

  it("yields every event type in order and ends after completed", async () => {
    const { paddock } = streamClient([STREAM]);
    assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), EXPECTED);
  });

  it("ends after the terminal event even if the server keeps the stream open", async () => {
    const { paddock, fetch } = streamClient([STREAM, 'event: stdout\ndata: after\n\n'], { open: true });
    assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), EXPECTED);
    assert.equal(fetch.calls[0].signal.aborted, true, "the request is closed after the terminal event");
  });

  it("handles the stream split at every byte, inside multi-byte characters too", async () => {
    const bytes = new TextEncoder().encode(STREAM.replaceAll("\n", "\r\n"));
    for (let i = 1; i < bytes.length; i += 1) {
      const { paddock } = streamClient([bytes.slice(0, i), bytes.slice(i)]);
      assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), EXPECTED, `split at byte ${i}`);
    }
    const single = [...bytes].map((b) => Uint8Array.of(b));
    const { paddock } = streamClient(single);
    assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), EXPECTED, "one byte per chunk");
  });

  it("an error event is terminal and yielded, not thrown", async () => {
    const { paddock } = streamClient([
      'event: started\ndata: {"pid":1}\n\nevent: error\ndata: {"message":"spawn failed"}\n\nevent: completed\ndata: {}\n\n',
    ]);
    assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), [
      { type: "started", pid: 1 },
      { type: "error", message: "spawn failed" },
    ]);
  });

  it("takes output lines verbatim (even JSON-looking ones) and a non-JSON error", async () => {
    const { paddock } = streamClient(['event: stdout\ndata: plain line\n\nevent: stdout\ndata: {"line":"x"}\n\nevent: error\ndata: boom\n\n']);
    assert.deepEqual(await collect(paddock.runs.stream({ code: "x" })), [
      { type: "stdout", line: "plain line" },
      { type: "stdout", line: '{"line":"x"}' },
      { type: "error", message: "boom" },
    ]);
  });

  it("multi-line data is joined with newlines", async () => {
    const { paddock } = streamClient(["event: stdout\ndata: a\ndata: b\n\nevent: completed\ndata: {\ndata: \"exit_code\": 3}\n\n"]);
    const events = await collect(paddock.runs.stream({ code: "x" }));
    assert.deepEqual(events, [
      { type: "stdout", line: "a\nb" },
      { type: "completed", exit_code: 3 },
    ]);
  });

  it("a stream that ends without a terminal event throws a PaddockError", async () => {
    for (const body of ["", 'event: started\ndata: {"pid":1}\n\n', 'event: completed\ndata: {"exit_code":0}']) {
      const { paddock } = streamClient([body]);
      const seen = [];
      await assert.rejects(
        (async () => {
          for await (const event of paddock.runs.stream({ code: "x" })) seen.push(event);
        })(),
        (err) => {
          assert.ok(PaddockError.is(err));
          assert.equal(err.code, "SERVER_ERROR");
          assert.match(err.message, /ended before a completed or error event/);
          return true;
        },
      );
      assert.ok(seen.every((e) => e.type !== "completed"));
    }
  });

  it("a broken connection mid-stream is NETWORK", async () => {
    const fetch = async () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('event: started\ndata: {"pid":1}\n\n'));
          },
          pull(controller) {
            controller.error(new TypeError("terminated"));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    const events = [];
    await assert.rejects(
      (async () => {
        for await (const e of paddock.runs.stream({ code: "x" })) events.push(e);
      })(),
      { code: "NETWORK" },
    );
    assert.deepEqual(events, [{ type: "started", pid: 1 }]);
  });

  it("malformed JSON in a known event is a SERVER_ERROR", async () => {
    const { paddock } = streamClient(["event: completed\ndata: {not json\n\n"]);
    await assert.rejects(collect(paddock.runs.stream({ code: "x" })), { code: "SERVER_ERROR" });
  });

  it("an error status is thrown as a PaddockError before any event", async () => {
    const fetch = fakeFetch(json(429, { error: "the server is running its limit", code: "TOO_MANY_REQUESTS" }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch, retry: true });
    await assert.rejects(collect(paddock.runs.stream({ code: "x" })), (err) => {
      assert.equal(err.code, "RATE_LIMITED");
      assert.equal(err.serverCode, "TOO_MANY_REQUESTS");
      return true;
    });
    assert.equal(fetch.calls.length, 1, "POST streams are never retried");
  });

  it("an answer that is not an event stream is a SERVER_ERROR", async () => {
    const fetch = fakeFetch(json(200, { stdout: "" }));
    const paddock = new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch });
    await assert.rejects(collect(paddock.runs.stream({ code: "x" })), /expected text\/event-stream/);
  });

  it("aborting the signal ends the iteration with its reason and aborts the fetch", async () => {
    const controller = new AbortController();
    const { paddock, fetch } = streamClient(['event: started\ndata: {"pid":1}\n\n', 'event: stdout\ndata: 1\n\n'], {
      open: true,
    });
    const seen = [];
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const event of paddock.runs.stream({ code: "x", signal: controller.signal })) {
          seen.push(event.type);
          if (event.type === "stdout") setTimeout(() => controller.abort(), 10);
        }
      })(),
      { name: "AbortError" },
    );
    assert.deepEqual(seen, ["started", "stdout"]);
    assert.equal(fetch.calls[0].signal.aborted, true, "the underlying fetch was aborted");
    assert.ok(Date.now() - started < 2000);
  });

  it("aborting while the caller holds an event stops before the next one", async () => {
    const controller = new AbortController();
    const { paddock } = streamClient([STREAM]);
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const event of paddock.runs.stream({ code: "x" }, { signal: controller.signal })) {
          seen.push(event.type);
          controller.abort();
        }
      })(),
      { name: "AbortError" },
    );
    assert.deepEqual(seen, ["started"]);
  });

  it("leaving the loop early cancels the body and aborts the fetch", async () => {
    const { paddock, fetch, state } = streamClient([STREAM], { open: true });
    for await (const event of paddock.runs.stream({ code: "x" })) {
      if (event.type === "stdout") break;
    }
    assert.equal(fetch.calls[0].signal.aborted, true);
    assert.equal(state.cancelled, true);
  });

  it("the stream's deadline gives TIMEOUT", async () => {
    const { paddock } = streamClient(['event: started\ndata: {"pid":1}\n\n'], { open: true });
    await assert.rejects(collect(paddock.runs.stream({ code: "x" }, { timeoutMs: 50 })), { code: "TIMEOUT" });
  });
});
