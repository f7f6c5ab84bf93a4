import { compact, limitFields, segment } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type {
  CallOptions,
  WorkspaceCreateRequest,
  WorkspaceExecRequest,
  WorkspaceExecStreamRequest,
  WorkspaceForkRequest,
  WorkspaceListParams,
  WorkspaceUpdateRequest,
} from "../options.js";
import type { ExecResult, StreamEvent, StreamOutput, Workspace, WorkspaceForkResponse, WorkspaceList } from "../wire.js";
import { streamEvents } from "./stream.js";

function execBody(request: WorkspaceExecRequest): Record<string, unknown> {
  return compact({
    cmd: request.cmd,
    args: request.args,
    env: request.env,
    timeout_secs: request.timeoutSecs,
    memory_mb: request.memoryMb,
  });
}

/**
 * Long-lived workspaces: a mount tree that persists across execs (what
 * one exec writes under `/workspace` the next one sees). One exec at a
 * time per workspace; a second concurrent one answers 409 (`CONFLICT`).
 */
export class Workspaces {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/workspaces`: creates a workspace, cloning `git` into it first when given. */
  async create(request: WorkspaceCreateRequest = {}, call?: CallOptions): Promise<Workspace> {
    return this.http.json({
      method: "POST",
      path: "/v1/workspaces",
      body: compact({
        git: request.git,
        flavors: request.flavors,
        label: request.label,
        idle_timeout_secs: request.idleTimeoutSecs,
        domains: request.domains,
        ...limitFields(request),
      }),
      call,
    });
  }

  /** `GET /v1/workspaces`: a page of workspaces, newest first; `q` searches. */
  async list(params: WorkspaceListParams = {}, call?: CallOptions): Promise<WorkspaceList> {
    return this.http.json({
      method: "GET",
      path: "/v1/workspaces",
      query: { limit: params.limit, offset: params.offset, q: params.q },
      call,
    });
  }

  /** `GET /v1/workspaces/:id`. */
  async get(id: string, call?: CallOptions): Promise<Workspace> {
    return this.http.json({ method: "GET", path: `/v1/workspaces/${segment(id)}`, call });
  }

  /** `PATCH /v1/workspaces/:id`: changes the label. */
  async update(id: string, request: WorkspaceUpdateRequest, call?: CallOptions): Promise<Workspace> {
    return this.http.json({
      method: "PATCH",
      path: `/v1/workspaces/${segment(id)}`,
      body: { label: request.label },
      call,
    });
  }

  /** `DELETE /v1/workspaces/:id`: deletes the workspace and its tree (its snapshots stay). */
  async delete(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/workspaces/${segment(id)}`, call });
  }

  /** `POST /v1/workspaces/:id/exec`: runs a command on the workspace's tree (a paused workspace resumes first). */
  async exec(id: string, request: WorkspaceExecRequest, call?: CallOptions): Promise<ExecResult> {
    return this.http.json({
      method: "POST",
      path: `/v1/workspaces/${segment(id)}/exec`,
      body: execBody(request),
      // Without timeoutSecs the workspace's own deadline applies, up to the 3600 s cap.
      minTimeoutMs: jailDeadline(request.timeoutSecs ?? 3600),
      call,
    });
  }

  /**
   * `POST /v1/workspaces/:id/exec/stream` (paddock): `exec`, yielding the
   * same events as `runs.stream` as they happen (`started`, `stdout`,
   * `stderr`, `stats`, `egress`, then one `completed` or `error`). One
   * exec at a time per workspace (409 `CONFLICT`, thrown before any
   * event). `output` and `signal` work as for `runs.stream`: aborting, or
   * leaving the loop early, aborts the request and the server ends the jail.
   */
  execStream(
    id: string,
    request: WorkspaceExecStreamRequest & { output: "chunks" },
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent<"chunks">, void, undefined>;
  execStream(
    id: string,
    request: WorkspaceExecStreamRequest & { output?: "lines" | undefined },
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent, void, undefined>;
  execStream(id: string, request: WorkspaceExecStreamRequest, call?: CallOptions): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined>;
  async *execStream(
    id: string,
    request: WorkspaceExecStreamRequest,
    call?: CallOptions,
  ): AsyncGenerator<StreamEvent<StreamOutput>, void, undefined> {
    const { signal, output, ...exec } = request;
    yield* streamEvents(
      this.http,
      "workspaces.execStream",
      `/v1/workspaces/${segment(id)}/exec/stream`,
      execBody(exec),
      jailDeadline(exec.timeoutSecs ?? 3600),
      { signal, output },
      call,
    );
  }

  /** `POST /v1/workspaces/:id/fork`: snapshots the workspace and makes `count` (1 to 16) new ones from it. */
  async fork(id: string, request: WorkspaceForkRequest, call?: CallOptions): Promise<WorkspaceForkResponse> {
    return this.http.json({
      method: "POST",
      path: `/v1/workspaces/${segment(id)}/fork`,
      body: compact({ count: request.count, label: request.label }),
      call,
    });
  }
}
