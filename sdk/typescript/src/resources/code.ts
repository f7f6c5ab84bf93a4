import { compact, segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions, CodeExecutionOptions } from "../options.js";
import { readEvents, toCodeEvent } from "../sse.js";
import type { CodeExecutionResult, CodeLanguage, CodeStreamEvent } from "../wire.js";

/**
 * The body and time budget of a code call: the code's own timeout, and
 * time for the workspace and kernel to start.
 *
 * @internal
 */
export function codeCall(
  language: CodeLanguage,
  source: string,
  options: CodeExecutionOptions,
): { body: Record<string, unknown>; minTimeoutMs: number } {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return {
    body: compact({ language, code: source, ...options }),
    minTimeoutMs: timeoutMs === 0 ? 24 * 3600 * 1000 : timeoutMs + 120_000,
  };
}

/**
 * Opens a streamed code call and yields its events. Leaving the loop early
 * closes the connection; the call runs to its end on the server.
 *
 * @internal
 */
export async function* codeEvents(
  http: HttpClient,
  what: string,
  path: string,
  language: CodeLanguage,
  source: string,
  options: CodeExecutionOptions,
  call: CallOptions | undefined,
): AsyncGenerator<CodeStreamEvent, void, undefined> {
  const { body, minTimeoutMs } = codeCall(language, source, options);
  const open = await http.open({ method: "POST", path, body, minTimeoutMs, call }, "text/event-stream");
  yield* readEvents(open, what, (message) => toCodeEvent(message, what));
}

/**
 * (paddock) Code without a workspace (`POST /v1/code`): each call runs in
 * a workspace the server keeps warm and deletes after the call, so nothing
 * of it is seen by the next. With `sessionId`, the session keeps its
 * workspace and variables for its later calls (until it has been idle 15
 * minutes, or `endSession`). `result.workspaceId` says where it ran.
 *
 * ```ts
 * const { results } = await paddock.code.run("python", "sum(range(10))");
 * ```
 */
export class Code {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/code`: Tangle's `runCode` without a workspace. */
  async run(
    language: CodeLanguage,
    source: string,
    options: CodeExecutionOptions = {},
    call?: CallOptions,
  ): Promise<CodeExecutionResult> {
    const { body, minTimeoutMs } = codeCall(language, source, options);
    return this.http.json({ method: "POST", path: "/v1/code", body, minTimeoutMs, call });
  }

  /** `POST /v1/code/stream`: as `run`, with output and rich results as they come. */
  stream(
    language: CodeLanguage,
    source: string,
    options: CodeExecutionOptions = {},
    call?: CallOptions,
  ): AsyncGenerator<CodeStreamEvent, void, undefined> {
    return codeEvents(this.http, "code.stream", "/v1/code/stream", language, source, options, call);
  }

  /** `DELETE /v1/code/sessions/:session`: ends a session now (its workspace and variables go). */
  async endSession(sessionId: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/code/sessions/${segment(sessionId)}`, call });
  }
}
