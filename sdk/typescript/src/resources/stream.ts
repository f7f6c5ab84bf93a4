import type { HttpClient } from "../http.js";
import type { CallOptions, StreamOptions } from "../options.js";
import { readEvents, toStreamEvent } from "../sse.js";
import type { StreamEvent, StreamOutput } from "../wire.js";

/**
 * Opens a streaming route (`POST …/stream`) and yields its events.
 * `output` goes on the query when given; the stream's `signal` is used
 * unless the call options have their own.
 *
 * @internal
 */
export async function* streamEvents(
  http: HttpClient,
  what: string,
  path: string,
  body: Record<string, unknown>,
  minTimeoutMs: number,
  options: StreamOptions,
  call: CallOptions | undefined,
): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined> {
  const output = options.output;
  if (output !== undefined && output !== "lines" && output !== "chunks") {
    throw new TypeError(`${what}: output must be "lines" or "chunks", got ${JSON.stringify(output)}`);
  }
  const merged: CallOptions = { ...call };
  if (merged.signal === undefined && options.signal !== undefined) merged.signal = options.signal;
  const open = await http.open(
    { method: "POST", path, query: { output }, body, minTimeoutMs, call: merged },
    "text/event-stream",
  );
  yield* readEvents(open, what, (message) => toStreamEvent(message, output ?? "lines", what));
}
