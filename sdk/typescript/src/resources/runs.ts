import { compact, limitFields, segment } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type { CallOptions, ForkRequest, RunRequest, StreamRequest } from "../options.js";
import type { CancelResponse, ExecResult, ForkResponse, StreamEvent, StreamOutput } from "../wire.js";
import { streamEvents } from "./stream.js";

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
   * With `output: "chunks"`, `stdout` and `stderr` events carry the exact
   * `bytes` (and `text` when UTF-8) instead of `line`s.
   *
   * Aborting `signal` (or the one in `call`) ends the iteration with the
   * signal's reason and aborts the request, and the server ends the jail;
   * so does leaving the loop early. A stream that ends before its
   * terminal event throws a `PaddockError` (`SERVER_ERROR`).
   */
  stream(request: StreamRequest & { output: "chunks" }, call?: CallOptions): AsyncGenerator<StreamEvent<"chunks">, void, undefined>;
  stream(request: StreamRequest & { output?: "lines" | undefined }, call?: CallOptions): AsyncGenerator<StreamEvent, void, undefined>;
  stream(request: StreamRequest, call?: CallOptions): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined>;
  async *stream(request: StreamRequest, call?: CallOptions): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined> {
    const { signal, output, ...run } = request;
    yield* streamEvents(
      this.http,
      "runs.stream",
      "/v1/runs/stream",
      runBody(run),
      jailDeadline(run.timeoutSecs),
      { signal, output },
      call,
    );
  }

  /**
   * `POST /v1/runs/:id/cancel` (paddock): kills a running jail of the
   * ledger (a run, a stream, a session exec or a workspace exec) by its
   * id: `ExecResult.id`, the `started` event's `id`, or `jails.list`.
   * Answers `{id, cancelled: true}` (202) once the kill is under way; the
   * jail's caller gets its result with `cancelled: true` and its ledger
   * row closes as `cancelled`. Rejects with `NOT_FOUND` (unknown, or
   * another tenant's) or `CONFLICT` with `serverCode` `RUN_FINISHED`
   * (it already ended).
   */
  async cancel(id: number | string, call?: CallOptions): Promise<CancelResponse> {
    return this.http.json({ method: "POST", path: `/v1/runs/${segment(id)}/cancel`, call });
  }
}
