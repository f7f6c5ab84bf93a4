// Error mapping, timeouts, cancellation and the retry policy.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { AgentjailError, Paddock, PaddockError } from "../../dist/esm/index.js";
import { fakeFetch, hangingFetch, json } from "../helpers/fake.mjs";

const KEY = "unit-test-key-0123456789";
const make = (fetch, extra = {}) => new Paddock({ baseUrl: "http://paddock.test", apiKey: KEY, fetch, ...extra });

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("the call did not fail");
}

describe("error mapping", () => {
  const table = [
    [400, "BAD_REQUEST", "BAD_LANGUAGE"],
    [401, "UNAUTHORIZED", "UNAUTHORIZED"],
    [403, "FORBIDDEN", "FORBIDDEN"],
    [404, "NOT_FOUND", "NOT_FOUND"],
    [408, "TIMEOUT", "TIMEOUT"],
    [409, "CONFLICT", "SESSION_CLOSED"],
    [413, "BAD_REQUEST", "CODE_TOO_LARGE"],
    [415, "BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE"],
    [422, "BAD_REQUEST", "X"],
    [429, "RATE_LIMITED", "TOO_MANY_REQUESTS"],
    [500, "SERVER_ERROR", "INTERNAL"],
    [502, "SERVER_ERROR", "BAD_GATEWAY"],
    [503, "SERVER_ERROR", "UNAVAILABLE"],
    [504, "TIMEOUT", "GATEWAY_TIMEOUT"],
  ];
  for (const [status, code, serverCode] of table) {
    it(`${status} → ${code}`, async () => {
      const body = { error: `message for ${status}`, code: serverCode };
      const err = await failure(make(fakeFetch(json(status, body))).sessions.get("sess_1"));
      assert.ok(err instanceof PaddockError);
      assert.ok(err instanceof AgentjailError, "AgentjailError is the same class");
      assert.ok(err instanceof Error);
      assert.ok(PaddockError.is(err));
      assert.equal(err.name, "PaddockError");
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(err.serverCode, serverCode);
      assert.equal(err.message, `message for ${status}`);
      assert.deepEqual(err.body, body);
      assert.equal(err.method, "GET");
      assert.equal(err.path, "/v1/sessions/sess_1");
    });
  }

  it("an error without JSON keeps the text as body and message", async () => {
    const err = await failure(make(fakeFetch(new Response("upstream exploded\n", { status: 502 }))).whoami());
    assert.equal(err.code, "SERVER_ERROR");
    assert.equal(err.serverCode, undefined);
    assert.equal(err.body, "upstream exploded\n");
    assert.equal(err.message, "upstream exploded");
  });

  it("an error with an empty body still says what failed", async () => {
    const err = await failure(make(fakeFetch(new Response(null, { status: 404, statusText: "Not Found" }))).whoami());
    assert.equal(err.code, "NOT_FOUND");
    assert.equal(err.body, undefined);
    assert.match(err.message, /GET \/v1\/whoami: HTTP 404/);
  });

  it("an agentjail-style body (error only) has no serverCode", async () => {
    const err = await failure(make(fakeFetch(json(400, { error: "bad" }))).whoami());
    assert.equal(err.message, "bad");
    assert.equal(err.serverCode, undefined);
  });

  it("a fetch failure is NETWORK with the cause", async () => {
    const cause = new Error("connect ECONNREFUSED 127.0.0.1:1");
    const fetch = async () => {
      throw new TypeError("fetch failed", { cause });
    };
    const err = await failure(make(fetch).credentials.put({ service: "openai", secret: "s" }));
    assert.ok(PaddockError.is(err));
    assert.equal(err.code, "NETWORK");
    assert.equal(err.status, 0);
    assert.match(err.message, /fetch failed: connect ECONNREFUSED/);
    assert.equal(err.cause.cause, cause);
  });

  it("a real refused connection is NETWORK", async () => {
    const paddock = new Paddock({ baseUrl: "http://127.0.0.1:1", apiKey: KEY });
    const err = await failure(paddock.whoami());
    assert.equal(err.code, "NETWORK");
  });

  it("PaddockError.is refuses look-alikes", () => {
    assert.equal(PaddockError.is(new Error("x")), false);
    assert.equal(PaddockError.is({ code: "NOT_FOUND", status: 404 }), false);
    assert.equal(PaddockError.is(null), false);
  });
});

describe("timeouts and cancellation", () => {
  it("the client's timeoutMs turns a hung call into TIMEOUT and aborts the request", async () => {
    const fetch = hangingFetch();
    const started = Date.now();
    const err = await failure(make(fetch, { timeoutMs: 50 }).whoami());
    assert.equal(err.code, "TIMEOUT");
    assert.equal(err.status, 0);
    assert.match(err.message, /no answer within 50 ms/);
    assert.ok(Date.now() - started < 2000);
    assert.equal(fetch.calls[0].init.signal.aborted, true, "the request was aborted");
  });

  it("a per-call timeoutMs overrides the client's", async () => {
    const fetch = hangingFetch();
    const err = await failure(make(fetch, { timeoutMs: 60_000 }).whoami({ timeoutMs: 30 }));
    assert.equal(err.code, "TIMEOUT");
    assert.match(err.message, /30 ms/);
  });

  it("the timeout also covers reading the body", async () => {
    const fetch = async (url, init) =>
      new Response(
        new ReadableStream({
          start(controller) {
            init.signal.addEventListener("abort", () => controller.error(init.signal.reason));
          },
        }),
        { status: 200 },
      );
    const err = await failure(make(fetch, { timeoutMs: 40 }).whoami());
    assert.equal(err.code, "TIMEOUT");
  });

  it("calls that run a jail wait at least the jail's deadline plus grace", async () => {
    // A client timeout of 20 ms, but runs.create with timeoutSecs 1 may take 31 s:
    // the call must still be pending after 100 ms.
    const fetch = hangingFetch();
    const paddock = make(fetch, { timeoutMs: 20 });
    const controller = new AbortController();
    const pending = paddock.runs.create({ code: "1", timeoutSecs: 1 }, { signal: controller.signal });
    const outcome = await Promise.race([pending.then(() => "done", () => "failed"), sleep(100).then(() => "pending")]);
    assert.equal(outcome, "pending");
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
  });

  it("timeoutMs 0 disables the deadline", async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    const pending = make(fetch, { timeoutMs: 0 }).whoami({ signal: controller.signal });
    const outcome = await Promise.race([pending.then(() => "done", () => "failed"), sleep(80).then(() => "pending")]);
    assert.equal(outcome, "pending");
    controller.abort();
    await assert.rejects(pending);
  });

  it("the caller's signal rejects with its reason, not a PaddockError", async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    const pending = make(fetch).whoami({ signal: controller.signal });
    const reason = new Error("user went away");
    controller.abort(reason);
    const err = await failure(pending);
    assert.equal(err, reason);
    assert.equal(fetch.calls[0].init.signal.aborted, true);
  });

  it("an already aborted signal never calls fetch", async () => {
    const fetch = fakeFetch(json(200, {}));
    const err = await failure(make(fetch).whoami({ signal: AbortSignal.abort() }));
    assert.equal(err.name, "AbortError");
    assert.equal(fetch.calls.length, 0);
  });
});

describe("retry policy", () => {
  const busy = (headers = {}) => json(429, { error: "busy", code: "TOO_MANY_REQUESTS" }, headers);
  const fast = { retries: 3, baseDelayMs: 1, maxDelayMs: 50, jitter: false };

  it("is off by default", async () => {
    const fetch = fakeFetch(busy(), json(200, {}));
    const err = await failure(make(fetch).jails.list());
    assert.equal(err.code, "RATE_LIMITED");
    assert.equal(fetch.calls.length, 1);
  });

  it("retries GETs on 429 and 503 until they succeed", async () => {
    const fetch = fakeFetch(busy(), json(503, { error: "later", code: "UNAVAILABLE" }), json(200, { rows: [] }));
    const result = await make(fetch, { retry: fast }).jails.list();
    assert.deepEqual(result, { rows: [] });
    assert.equal(fetch.calls.length, 3);
  });

  it("gives up after `retries` and throws the last error", async () => {
    const fetch = fakeFetch(busy());
    const err = await failure(make(fetch, { retry: { ...fast, retries: 2 } }).whoami());
    assert.equal(err.code, "RATE_LIMITED");
    assert.equal(fetch.calls.length, 3);
  });

  it("never retries calls that change state", async () => {
    const calls = [
      (p) => p.runs.create({ code: "1" }),
      (p) => p.sessions.create({ services: ["openai"] }),
      (p) => p.sessions.close("sess_1"),
      (p) => p.credentials.put({ service: "openai", secret: "s" }),
      (p) => p.credentials.delete("openai"),
      (p) => p.workspaces.update("wrk_1", { label: "x" }),
      (p) => p.snapshots.delete("snap_1"),
    ];
    for (const call of calls) {
      const fetch = fakeFetch(busy(), json(200, {}));
      const err = await failure(call(make(fetch, { retry: fast })));
      assert.equal(err.code, "RATE_LIMITED");
      assert.equal(fetch.calls.length, 1, `${fetch.calls[0].method} ${fetch.calls[0].path} was retried`);
    }
  });

  it("does not retry other statuses", async () => {
    for (const status of [400, 404, 500, 502]) {
      const fetch = fakeFetch(json(status, { error: "no" }), json(200, {}));
      await assert.rejects(make(fetch, { retry: fast }).whoami());
      assert.equal(fetch.calls.length, 1);
    }
  });

  it("backs off exponentially", async () => {
    const times = [];
    const fetch = fakeFetch((call) => {
      times.push(Date.now());
      return times.length < 4 ? busy() : json(200, {});
    });
    await make(fetch, { retry: { retries: 3, baseDelayMs: 40, maxDelayMs: 1000, jitter: false } }).whoami();
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps[0] >= 35, `first gap ${gaps[0]}`);
    assert.ok(gaps[1] >= 75, `second gap ${gaps[1]}`);
    assert.ok(gaps[2] >= 155, `third gap ${gaps[2]}`);
  });

  it("honours Retry-After in seconds, capped by maxDelayMs", async () => {
    const times = [];
    const fetch = fakeFetch((call) => {
      times.push(Date.now());
      return times.length === 1 ? busy({ "retry-after": "0.2" }) : json(200, {});
    });
    await make(fetch, { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 5000, jitter: false } }).whoami();
    assert.ok(times[1] - times[0] >= 180, `waited ${times[1] - times[0]} ms`);

    const times2 = [];
    const capped = fakeFetch(() => {
      times2.push(Date.now());
      return times2.length === 1 ? busy({ "retry-after": "120" }) : json(200, {});
    });
    await make(capped, { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 30, jitter: false } }).whoami();
    assert.ok(times2[1] - times2[0] < 1000);
  });

  it("honours Retry-After as an HTTP date and exposes retryAfterMs", async () => {
    const when = new Date(Date.now() + 3000).toUTCString();
    const err = await failure(make(fakeFetch(busy({ "retry-after": when }))).whoami());
    assert.ok(err.retryAfterMs > 1000 && err.retryAfterMs <= 3000, String(err.retryAfterMs));
  });

  it("does not wait past the call's deadline", async () => {
    const fetch = fakeFetch(busy({ "retry-after": "5" }));
    const started = Date.now();
    const err = await failure(make(fetch, { timeoutMs: 200, retry: { retries: 3, maxDelayMs: 10_000 } }).whoami());
    assert.equal(err.code, "RATE_LIMITED", "the server's answer, not a timeout");
    assert.equal(fetch.calls.length, 1);
    assert.ok(Date.now() - started < 150);
  });

  it("a cancelled signal stops the backoff", async () => {
    const fetch = fakeFetch(busy());
    const controller = new AbortController();
    const pending = make(fetch, { retry: { retries: 5, baseDelayMs: 10_000, maxDelayMs: 10_000, jitter: false } }).whoami({
      signal: controller.signal,
    });
    await sleep(30);
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    assert.equal(fetch.calls.length, 1);
  });

  it("retry: true uses the defaults", async () => {
    const fetch = fakeFetch(json(503, { error: "x" }), json(200, { ok: 1 }));
    assert.deepEqual(await make(fetch, { retry: true }).public.stats(), { ok: 1 });
    assert.equal(fetch.calls.length, 2);
  });
});

describe("construction", () => {
  it("throws without any fetch", () => {
    const saved = globalThis.fetch;
    try {
      globalThis.fetch = undefined;
      assert.throws(() => new Paddock({ apiKey: KEY }), /no fetch implementation/);
    } finally {
      globalThis.fetch = saved;
    }
  });

  it("uses the global fetch by default", async () => {
    const saved = globalThis.fetch;
    const fetch = fakeFetch(json(200, { tenant: "acme", role: "admin" }));
    try {
      globalThis.fetch = fetch;
      assert.deepEqual(await new Paddock({ apiKey: KEY }).whoami(), { tenant: "acme", role: "admin" });
    } finally {
      globalThis.fetch = saved;
    }
    assert.equal(fetch.calls.length, 1);
  });
});

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
