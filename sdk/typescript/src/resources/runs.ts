import { compact, limitFields } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type { CallOptions, ForkRequest, RunRequest, StreamRequest } from "../options.js";
import { readEvents } from "../sse.js";
import type { ExecResult, ForkResponse, StreamEvent } from "../wire.js";

function runBody(request: RunRequest): Record<string, unknown> {
  return compact({ code: request.code, language: request.language, ...limitFields(request) });
}

/** One-shot code in a fresh jail. */
export class Runs {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/runs`: runs `code` and answers when the jail has ended. */
  async create(request: RunRequest, call?: CallOptions): Promise<ExecResult> {
    return this.http.json({
      method: "POST",
      path: "/v1/runs",
      body: runBody(request),
      minTimeoutMs: jailDeadline(request.timeoutSecs),
      call,
    });
  }

  /**
   * `POST /v1/runs/fork`: the parent runs; after `forkAfterMs` it is
   * frozen, its `/output` is copied once per child, and the children run
   * on the copies in parallel.
   */
  async fork(request: ForkRequest, call?: CallOptions): Promise<ForkResponse> {
    const children = request.children?.map((child) => compact({ code: child.code, memory_mb: child.memoryMb }));
    return this.http.json({
      method: "POST",
      path: "/v1/runs/fork",
      body: compact({
        parent_code: request.parentCode,
        child_code: request.childCode,
        children,
        language: request.language,
        fork_after_ms: request.forkAfterMs,
        ...limitFields(request),
      }),
      minTimeoutMs: jailDeadline(request.timeoutSecs, request.forkAfterMs ?? 1500),
      call,
    });
  }

  /**
   * `POST /v1/runs/stream`: runs `code` and yields its events as they
   * happen, ending after the one terminal `completed` or `error` event.
   *
   * ```ts
   * for await (const event of paddock.runs.stream({ language: "bash", code: "echo hi" })) {
   *   if (event.type === "stdout") console.log(event.line);
   * }
   * ```
   *
   * Aborting `signal` (or the one in `call`) ends the iteration with the
   * signal's reason and aborts the request; so does leaving the loop
   * early. A stream that ends before its terminal event throws a
   * `PaddockError` (`SERVER_ERROR`).
   */
  async *stream(request: StreamRequest, call?: CallOptions): AsyncGenerator<StreamEvent, void, undefined> {
    const { signal, ...run } = request;
    const options: CallOptions = { ...call };
    if (options.signal === undefined && signal !== undefined) options.signal = signal;
    const open = await this.http.open(
      {
        method: "POST",
        path: "/v1/runs/stream",
        body: runBody(run),
        minTimeoutMs: jailDeadline(run.timeoutSecs),
        call: options,
      },
      "text/event-stream",
    );
    yield* readEvents(open, "runs.stream");
  }
}
