/**
 * Server-Sent Events: an incremental parser following the WHATWG
 * event-stream rules, and the typed events of `runs.stream`.
 *
 * @module
 */

import { PaddockError } from "./errors.js";
import type { OpenResponse } from "./http.js";
import type { StreamEvent } from "./wire.js";

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
 * multi-line `data:`, and fields without a value. A message is dispatched
 * at a blank line; an unterminated one at the end of the stream is
 * dropped, as the standard says.
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
      if (this.data.length > 0) {
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
 * does not know (skipped, for forward compatibility).
 *
 * @internal
 */
export function toStreamEvent(message: SseMessage): StreamEvent | undefined {
  const type = message.event;
  if (type === "stdout" || type === "stderr") {
    // Output lines are the bare text, as agentjail sends them (a line that
    // looks like JSON is still just a line).
    return { type, line: message.data };
  }
  if (!JSON_EVENTS.has(type)) return undefined;
  const parsed = tryJson(message.data);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    if (type === "error") return { type, message: message.data };
    throw new PaddockError({
      status: 200,
      code: "SERVER_ERROR",
      message: `runs.stream: the ${type} event's data is not a JSON object`,
      body: message.data,
    });
  }
  return { ...(parsed as object), type } as StreamEvent;
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
export async function* readEvents(open: OpenResponse, what: string): AsyncGenerator<StreamEvent, void, undefined> {
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
          const event = toStreamEvent(message);
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
