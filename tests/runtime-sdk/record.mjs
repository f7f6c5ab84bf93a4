// Observers for the compatibility suite: a fetch and a WebSocket class that
// pass everything through unchanged to the real network, and write down
// what went over the wire (status, content type, the JSON shape of each
// body, SSE framing, terminal frames). Nothing here answers a request.
import { AsyncLocalStorage } from "node:async_hooks";
import WebSocket from "ws";

/** The label of the suite step an SDK call belongs to. */
export const stepLabel = new AsyncLocalStorage();

/** Keys whose values (not only their types) are part of a shape. */
const VALUE_KEYS = new Set([
  "status", // ProcessInfo.status, ProblemDetails.status, health
  "stream",
  "entryType",
  "encoding",
  "owner",
  "type", // ProblemDetails.type, terminal frame type
  "title",
  "tty",
  "interactive",
  "timedOut",
  "stdoutTruncated",
  "stderrTruncated",
  "truncated",
]);

/**
 * The shape of a JSON value: types instead of values (except VALUE_KEYS),
 * object keys sorted, an array as the sorted set of its elements' shapes.
 */
export function shapeOf(value, key) {
  if (value === null) return "null";
  if (Array.isArray(value)) {
    const seen = new Map();
    for (const item of value) {
      const s = shapeOf(item);
      seen.set(JSON.stringify(s), s);
    }
    return [...seen.keys()].sort().map((k) => seen.get(k));
  }
  if (typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value).sort()) out[k] = shapeOf(value[k], k);
    return out;
  }
  if (key !== undefined && VALUE_KEYS.has(key)) return `${typeof value}:${value}`;
  return typeof value;
}

/** A route with its variable parts (process ids) replaced. */
function routeOf(url, baseUrl) {
  const u = new URL(url);
  let path = u.pathname.startsWith(new URL(baseUrl).pathname)
    ? u.pathname.slice(new URL(baseUrl).pathname.replace(/\/$/, "").length)
    : u.pathname;
  path = path.replace(/^\/v1\/processes\/(?!config$|run$)[^/]+/, "/v1/processes/{id}");
  const params = [...u.searchParams.keys()].filter((k) => k !== "access_token").sort();
  return params.length ? `${path}?${params.join("&")}` : path;
}

function mediaType(contentType) {
  return (contentType ?? "").split(";")[0].trim().toLowerCase() || null;
}

/**
 * A recorder: `fetch` and `WebSocket` to hand to the SDK, and `entries`, the
 * responses seen, each `{label, method, route, status, contentType, body}`.
 */
export function createRecorder(baseUrl) {
  const entries = [];
  const label = () => stepLabel.getStore() ?? "unlabelled";

  async function recordingFetch(input, init = {}) {
    const url = typeof input === "string" ? input : input.url;
    const method = (init.method ?? "GET").toUpperCase();
    const at = label();
    const response = await fetch(input, init);
    const entry = {
      label: at,
      method,
      route: routeOf(url, baseUrl),
      status: response.status,
      contentType: mediaType(response.headers.get("content-type")),
    };
    entries.push(entry);
    const type = entry.contentType;
    if (type === "text/event-stream" && response.body) {
      // Tee the stream: the SDK reads one branch, the recorder the other.
      const [forSdk, forUs] = response.body.tee();
      entry.body = { sse: "" };
      (async () => {
        const decoder = new TextDecoder();
        try {
          for await (const chunk of forUs) {
            if (entry.body.sse.length < 8192) entry.body.sse += decoder.decode(chunk, { stream: true });
          }
          entry.body.sseEnded = true;
        } catch {
          entry.body.sseAborted = true;
        }
      })();
      return new Response(forSdk, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    if (type === "application/json" || type === "application/problem+json") {
      const text = await response.clone().text();
      try {
        entry.body = { json: JSON.parse(text) };
      } catch {
        entry.body = { invalidJson: text.slice(0, 200) };
      }
    } else if (response.status !== 204) {
      const bytes = new Uint8Array(await response.clone().arrayBuffer());
      entry.body = { bytes: bytes.length, text: type?.startsWith("text/") ? new TextDecoder().decode(bytes).slice(0, 200) : undefined };
    }
    return response;
  }

  class RecordingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      const entry = { label: label(), method: "WS", route: routeOf(url, baseUrl), frames: [] };
      entries.push(entry);
      this.on("upgrade", (res) => {
        entry.status = res.statusCode;
      });
      this.on("message", (data, isBinary) => {
        if (isBinary) {
          entry.frames.push({ kind: "binary", bytes: data.length, text: Buffer.from(data).toString("utf8") });
        } else {
          const text = data.toString();
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          entry.frames.push({ kind: "text", json, text: json === undefined ? text : undefined });
        }
      });
      this.on("error", (err) => {
        const m = /Unexpected server response: (\d+)/.exec(err.message);
        if (m) entry.status = Number(m[1]);
        else entry.error = err.message;
      });
      this.on("close", (code) => {
        entry.closeCode = code;
      });
    }
  }

  return { entries, fetch: recordingFetch, WebSocket: RecordingWebSocket };
}

/** Parses SSE text into events `{event, id, data}` (comments dropped). */
export function parseSse(text) {
  const events = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    if (!block.trim()) continue;
    const ev = { event: undefined, id: undefined, data: [] , comment: false };
    let fields = 0;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) {
        ev.comment = true;
        continue;
      }
      fields++;
      const at = line.indexOf(":");
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (name === "event") ev.event = value;
      else if (name === "id") ev.id = value;
      else if (name === "data") ev.data.push(value);
    }
    if (fields) events.push(ev);
  }
  return events;
}

/**
 * The normalized record compared between two servers: for each step label
 * the set of distinct responses `METHOD route -> status type shape`; ids,
 * times, pids and counts ignored. Labels starting with `poll:` are timing
 * dependent and left out.
 */
export function normalize(entries) {
  const byLabel = {};
  for (const e of entries) {
    if (e.label.startsWith("poll:") || e.label === "unlabelled") continue;
    let line;
    if (e.method === "WS") {
      // Consecutive binary frames collapse into one; text frames keep their shape.
      const kinds = [];
      for (const f of e.frames) {
        const k = f.kind === "binary" ? "binary" : f.json !== undefined ? JSON.stringify(shapeOf(f.json)) : `text:${f.text}`;
        if (k === "binary" && kinds[kinds.length - 1] === "binary") continue;
        kinds.push(k);
      }
      line = `WS ${e.route} -> ${e.status ?? "?"} frames=[${kinds.join(", ")}] close=${e.closeCode ?? "-"}`;
    } else {
      let body = "";
      if (e.body?.json !== undefined) body = JSON.stringify(shapeOf(withoutExtensions(e)));
      else if (e.body?.invalidJson !== undefined) body = `invalid-json`;
      else if (e.body?.sse !== undefined) {
        const events = parseSse(e.body.sse).filter((ev) => !ev.comment || ev.event || ev.data.length);
        const kinds = new Set(
          events.map((ev) => {
            let data;
            try {
              data = JSON.stringify(shapeOf(JSON.parse(ev.data.join("\n"))));
            } catch {
              data = "non-json";
            }
            const idIsSeq = ev.id !== undefined && (() => {
              try {
                return String(JSON.parse(ev.data.join("\n")).sequence) === ev.id;
              } catch {
                return false;
              }
            })();
            return `event=${ev.event ?? "-"} id=${ev.id === undefined ? "-" : idIsSeq ? "sequence" : "other"} data=${data}`;
          }),
        );
        body = `sse{${[...kinds].sort().join(" | ")}}`;
      } else if (e.body?.bytes !== undefined) body = e.contentType?.startsWith("text/") ? `text` : `bytes`;
      line = `${e.method} ${e.route} -> ${e.status} ${e.contentType ?? "-"} ${body}`.trimEnd();
    }
    (byLabel[e.label] ??= new Set()).add(line);
  }
  const out = {};
  for (const k of Object.keys(byLabel).sort()) out[k] = [...byLabel[k]].sort();
  return out;
}

/**
 * A response's JSON without paddock's one documented extension member of
 * Problem Details (RFC 9457 §3.2): `code`, its stable error code. Every
 * other member must match the oracle's.
 */
function withoutExtensions(e) {
  const json = e.body.json;
  if (!e.contentType?.startsWith("application/problem+json") || json === null || typeof json !== "object") return json;
  const { code, ...rest } = json;
  return rest;
}

/** Differences between two normalized records, as readable lines. */
export function diffRecords(expected, actual, expectedName = "oracle", actualName = "paddock") {
  const lines = [];
  const labels = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const label of labels) {
    const a = new Set(expected[label] ?? []);
    const b = new Set(actual[label] ?? []);
    const missing = [...a].filter((x) => !b.has(x));
    const extra = [...b].filter((x) => !a.has(x));
    if (!missing.length && !extra.length) continue;
    lines.push(`  step ${label}:`);
    for (const m of missing) lines.push(`    - ${expectedName}: ${m}`);
    for (const x of extra) lines.push(`    + ${actualName}: ${x}`);
  }
  return lines;
}
