/**
 * Server-Sent Events: an incremental parser following the WHATWG
 * event-stream rules, and the typed events of `runs.stream`.
 *
 * @module
 */

import { PaddockError } from "./errors.js";
import type { OpenResponse } from "./http.js";
import type {
  CodeExecutionResult,
  KernelRef,
  CodeResultPart,
  CodeStreamEvent,
  RunOutputChunk,
  StreamEvent,
  StreamOutput,
} from "./wire.js";

/** One dispatched SSE message. */
export interface SseMessage {
  /** The `event:` name (`"message"` when the server gave none). */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen (`""` if none). */
  id: string;
}

/**
 * Incremental `text/event-stream` parser. Feed it decoded text in pieces
 * of any size; it returns the messages completed so far. Handles `\n`,
 * `\r\n` and `\r` line ends (also split between pieces), comments,
 * multi-line `data:` (joined with `\n`), and fields without a value. A
 * message is dispatched at a blank line; an unterminated one at the end
 * of the stream is dropped, as the standard says.
 *
 * One departure from the standard: a message that has an `event:` name
 * but no `data:` line is dispatched with empty data (the standard drops
 * it). That is how paddock's server frames an output event whose data is
 * empty (a blank line of output), and dropping it would lose the line.
 * A message with neither (say a lone `id:`) is still not dispatched.
 */
export class SseParser {
  private buffer = "";
  private skipLineFeed = false;
  private eventName = "";
  private data: string[] = [];
  private lastId = "";

  /** Parses the next piece of text; returns the messages it completed. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let chunk = text;
    if (this.skipLineFeed && chunk.length > 0) {
      if (chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
      this.skipLineFeed = false;
    }
    const buffer = this.buffer + chunk;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLineFeed = true;
        }
      }
      start = i + 1;
    }
    this.buffer = buffer.slice(start);
    return out;
  }

  /** Ends the stream: drops an unterminated message. */
  end(): void {
    this.buffer = "";
    this.eventName = "";
    this.data = [];
  }

  private line(line: string, out: SseMessage[]): void {
    if (line.length === 0) {
      if (this.data.length > 0 || this.eventName !== "") {
        out.push({ event: this.eventName || "message", data: this.data.join("\n"), id: this.lastId });
      }
      this.eventName = "";
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventName = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      default:
        // `retry` and unknown fields carry nothing for this client.
        break;
    }
  }
}

const JSON_EVENTS = new Set(["started", "stats", "completed", "egress", "error"]);

/**
 * The typed event of one SSE message, or `undefined` for events this SDK
 * does not know (skipped, for forward compatibility). With `output`
 * `"chunks"`, `stdout` and `stderr` carry `bytes` (and `text` when the
 * chunk is UTF-8) instead of `line`.
 *
 * @internal
 */
export function toStreamEvent(
  message: SseMessage,
  output: StreamOutput = "lines",
  what = "runs.stream",
): StreamEvent<StreamOutput> | undefined {
  const type = message.event;
  if (type === "stdout" || type === "stderr") {
    if (output === "chunks") return { type, ...toChunk(message.data, type, what) } as StreamEvent<"chunks">;
    // Output lines are the bare text, as agentjail sends them (a line that
    // looks like JSON is still just a line).
    return { type, line: message.data } as StreamEvent;
  }
  if (!JSON_EVENTS.has(type)) return undefined;
  const parsed = eventObject(message, what);
  if (parsed === undefined) return { type: "error", message: message.data };
  return { ...parsed, type } as StreamEvent;
}

/**
 * The typed event of one SSE message of a code stream (`started`,
 * `stdout`, `stderr`, `result`, `completed`, `error`), or `undefined` for
 * events this SDK does not know.
 *
 * @internal
 */
export function toCodeEvent(message: SseMessage, what: string): CodeStreamEvent | undefined {
  const type = message.event;
  const parsed = eventObject(message, what);
  if (parsed === undefined) return { type: "error", message: message.data };
  switch (type) {
    case "started":
      return { type, kernel: parsed as unknown as KernelRef };
    case "stdout":
    case "stderr":
      return { type, text: typeof parsed.text === "string" ? parsed.text : "" };
    case "result":
      return { type, part: parsed as unknown as CodeResultPart };
    case "completed":
      return { type, result: parsed as unknown as CodeExecutionResult };
    case "error":
      return {
        type,
        message: typeof parsed.message === "string" ? parsed.message : message.data,
        ...(typeof parsed.code === "string" ? { code: parsed.code } : {}),
      };
    default:
      return undefined;
  }
}

/**
 * A JSON event's data as an object; `undefined` for an `error` event
 * whose data is plain text (its message); other data throws.
 */
function eventObject(message: SseMessage, what: string): Record<string, unknown> | undefined {
  const parsed = tryJson(message.data);
  if (isObject(parsed)) return parsed;
  if (message.event === "error") return undefined;
  throw new PaddockError({
    status: 200,
    code: "SERVER_ERROR",
    message: `${what}: the ${message.event} event's data is not a JSON object`,
    body: message.data,
  });
}

/**
 * The data of a chunk event: `{"text": ...}` (exact UTF-8 text) or
 * `{"base64": ...}` (bytes that are not UTF-8).
 */
function toChunk(data: string, type: string, what: string): RunOutputChunk {
  const parsed = tryJson(data);
  if (isObject(parsed)) {
    if (typeof parsed.text === "string") return { text: parsed.text, bytes: utf8Encoder.encode(parsed.text) };
    if (typeof parsed.base64 === "string") {
      const bytes = fromBase64(parsed.base64);
      if (bytes) return { bytes };
    }
  }
  throw new PaddockError({
    status: 200,
    code: "SERVER_ERROR",
    message: `${what}: the ${type} event's data is not a chunk ({"text"} or {"base64"}); does the server support ?output=chunks?`,
    body: data,
  });
}

const utf8Encoder = new TextEncoder();
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_INDEX = new Map([...BASE64].map((c, i) => [c.charCodeAt(0), i]));

/**
 * Standard base64 (padding optional) to bytes; `undefined` when
 * malformed. Needs neither `atob` nor `Buffer`.
 *
 * @internal
 */
export function fromBase64(text: string): Uint8Array | undefined {
  const clean = text.replace(/=+$/, "");
  if (clean.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = 0; i < clean.length; i++) {
    const digit = BASE64_INDEX.get(clean.charCodeAt(i));
    if (digit === undefined) return undefined;
    value = ((value << 6) | digit) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads an SSE response as typed events until the terminal `completed`
 * or `error` event, then closes the response. A stream that ends before
 * a terminal event throws a `PaddockError`. Leaving the loop early
 * (`break`, `return`, a throw) or aborting the call's signal aborts the
 * request.
 *
 * @internal
 */
export async function* readEvents<E extends { type: string }>(
  open: OpenResponse,
  what: string,
  convert: (message: SseMessage) => E | undefined,
): AsyncGenerator<E, void, undefined> {
  const body = open.response.body;
  let finished = false;
  try {
    if (!body) {
      throw new PaddockError({ status: open.response.status, code: "SERVER_ERROR", message: `${what}: the answer has no body` });
    }
    const contentType = open.response.headers.get("content-type") ?? "";
    if (!contentType.toLowerCase().includes("text/event-stream")) {
      throw new PaddockError({
        status: open.response.status,
        code: "SERVER_ERROR",
        message: `${what}: expected text/event-stream, got ${contentType || "no content type"}`,
      });
    }
    const reader = body.getReader();
    const decoder = new TextDecoder("utf-8");
    const parser = new SseParser();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw open.failure(err);
        }
        const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
        for (const message of parser.push(text)) {
          const event = convert(message);
          if (!event) continue;
          const terminal = event.type === "completed" || event.type === "error";
          if (terminal) finished = true;
          yield event;
          if (terminal) return;
          // Cancelled (or timed out) while the caller held the event.
          if (open.signal.aborted) throw open.failure(open.signal.reason);
        }
        if (chunk.done) break;
      }
      parser.end();
      throw new PaddockError({
        status: open.response.status,
        code: "SERVER_ERROR",
        message: `${what}: the event stream ended before a completed or error event`,
      });
    } finally {
      if (!finished) reader.cancel().catch(() => undefined);
    }
  } finally {
    open.close();
    open.abort();
  }
}
