// A fake `fetch` for unit tests: records every call and answers from a
// queue of responders (a Response, or a function of the call).

/** A JSON response. */
export function json(status, body, headers = {}) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return new Response(status === 204 ? null : text, {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * An SSE response whose body yields `chunks` (strings or bytes) in order.
 * Like a real fetch, the body errors when the request's signal aborts.
 * With `open: true` the body stays open after the last chunk.
 * `state.cancelled` records whether the SDK cancelled the body.
 */
export function sse(chunks, { open = false, status = 200, contentType = "text/event-stream", signal, state = {} } = {}) {
  const encoder = new TextEncoder();
  let index = 0;
  state.cancelled = false;
  const body = new ReadableStream({
    start(controller) {
      if (signal) {
        const fail = () => {
          try {
            controller.error(signal.reason);
          } catch {
            // already closed
          }
        };
        if (signal.aborted) fail();
        else signal.addEventListener("abort", fail, { once: true });
      }
    },
    async pull(controller) {
      if (index < chunks.length) {
        const chunk = chunks[index++];
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
        return;
      }
      if (open) return new Promise(() => {}); // never more data
      controller.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return new Response(body, { status, headers: { "content-type": contentType } });
}

/**
 * A fake fetch. Each responder is used once, in order; the last one is
 * reused when the queue runs out. `fetch.calls` holds what was asked:
 * `{url, method, path, query, headers, body, signal}`.
 */
export function fakeFetch(...responders) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const parsed = new URL(url);
    const headers = {};
    for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
    const call = {
      url,
      method: init.method ?? "GET",
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      search: parsed.search,
      headers,
      // JSON bodies parsed; others (files, tars) kept as sent, in `raw`.
      body: init.body === undefined ? undefined : isJson(headers) ? JSON.parse(init.body) : undefined,
      raw: init.body !== undefined && !isJson(headers) ? init.body : undefined,
      contentType: headers["content-type"],
      signal: init.signal,
      init,
    };
    calls.push(call);
    const responder = responders.length > 1 ? responders.shift() : responders[0];
    if (responder === undefined) return json(200, {});
    if (typeof responder === "function") return responder(call);
    return responder.clone();
  };
  fn.calls = calls;
  return fn;
}

function isJson(headers) {
  return headers["content-type"] === undefined || headers["content-type"] === "application/json";
}

/** A problem+json response (the runtime API's errors). */
export function problem(status, fields) {
  return new Response(JSON.stringify({ status, ...fields }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });
}

/** A response of raw bytes. */
export function bytes(data, contentType = "application/octet-stream") {
  return new Response(typeof data === "string" ? new TextEncoder().encode(data) : data, {
    status: 200,
    headers: { "content-type": contentType },
  });
}

/** A fetch that never answers until its signal aborts (then rejects like fetch). */
export function hangingFetch() {
  const calls = [];
  const fn = (url, init = {}) => {
    calls.push({ url, init });
    return new Promise((_, reject) => {
      const signal = init.signal;
      if (!signal) return;
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  };
  fn.calls = calls;
  return fn;
}

/** Collects every event of an async iterable. */
export async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}
