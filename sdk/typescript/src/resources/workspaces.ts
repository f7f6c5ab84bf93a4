import { compact, limitFields, segment } from "../encode.js";
import { jailDeadline, type HttpClient } from "../http.js";
import type {
  AgentSessionCreateRequest,
  AgentTurnRequest,
  CallOptions,
  CodeExecutionOptions,
  McpConfigOptions,
  PreviewCreateRequest,
  ScopedTokenCreateRequest,
  WorkspaceCreateRequest,
  WorkspaceExecRequest,
  WorkspaceExecStreamRequest,
  WorkspaceForkRequest,
  WorkspaceListParams,
  WorkspaceUpdateRequest,
} from "../options.js";
import type {
  AgentSession,
  AgentSessionList,
  AgentTurn,
  AgentTurnList,
  CodeExecutionResult,
  CodeLanguage,
  CodeStreamEvent,
  CreatedScopedToken,
  ExecResult,
  KernelInfo,
  KernelList,
  McpConfig,
  Preview,
  PreviewList,
  ScopedTokenList,
  StreamEvent,
  StreamOutput,
  Workspace,
  WorkspaceForkResponse,
  WorkspaceList,
  WorkspaceRunState,
} from "../wire.js";
import { codeCall, codeEvents } from "./code.js";
import { runtimePath, WorkspaceRuntime } from "./runtime.js";
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
 * one exec writes under `/workspace` the next one sees). Execs run side by
 * side, each in its own jail on the same tree; deleting a workspace while
 * an exec runs in it answers 409 (`CONFLICT`, `WORKSPACE_BUSY`). A
 * workspace can also run: see {@link Workspaces.runtime | `runtime(id)`}.
 */
export class Workspaces {
  /** (paddock) Ports of running workspaces exposed at URLs. */
  readonly previews: WorkspacePreviews;
  /** (paddock) The code kernels of running workspaces. */
  readonly kernels: WorkspaceKernels;
  /** (paddock) Scoped tokens: bound to one workspace and a set of capabilities. */
  readonly tokens: WorkspaceTokens;
  /** (paddock) Coding agents' sessions with durable, idempotent turns. */
  readonly agentSessions: WorkspaceAgentSessions;

  /** @internal */
  constructor(private readonly http: HttpClient) {
    this.previews = new WorkspacePreviews(http);
    this.kernels = new WorkspaceKernels(http);
    this.tokens = new WorkspaceTokens(http);
    this.agentSessions = new WorkspaceAgentSessions(http);
  }

  /**
   * `GET /v1/workspaces/:id/mcp-config`: mints a scoped token with `mcp`
   * (and `options.capabilities`) and answers a paste-able `.mcp.json` for
   * the workspace's MCP endpoint. Each call mints a new token.
   *
   * ```ts
   * const { config } = await paddock.workspaces.mcpConfig(ws.id, { capabilities: ["processes", "files:read"] });
   * writeFileSync(".mcp.json", JSON.stringify(config, null, 2));
   * ```
   */
  async mcpConfig(id: string, options: McpConfigOptions = {}, call?: CallOptions): Promise<McpConfig> {
    return this.http.json({
      method: "GET",
      path: `/v1/workspaces/${segment(id)}/mcp-config`,
      query: { capabilities: options.capabilities?.join(","), ttl_secs: options.ttlSecs, server_name: options.serverName },
      call,
    });
  }

  /**
   * `POST /v1/workspaces/:id/code`: Tangle's `runCode` on the workspace's
   * Jupyter kernel of `language` (one per `sessionId`, keeping its
   * variables). Raised errors are results (`exitCode` 1, `error`), not
   * exceptions; a timeout interrupts the code and keeps the kernel.
   *
   * ```ts
   * await paddock.workspaces.runCode(ws.id, "python", "import pandas as pd\ndf = pd.read_csv('data.csv')");
   * const { results } = await paddock.workspaces.runCode(ws.id, "python", "df.describe()");
   * ```
   */
  async runCode(
    id: string,
    language: CodeLanguage,
    source: string,
    options: CodeExecutionOptions = {},
    call?: CallOptions,
  ): Promise<CodeExecutionResult> {
    const { body, minTimeoutMs } = codeCall(language, source, options);
    return this.http.json({ method: "POST", path: `/v1/workspaces/${segment(id)}/code`, body, minTimeoutMs, call });
  }

  /**
   * `POST /v1/workspaces/:id/code/stream`: as `runCode`, with the kernel,
   * output and rich results as they come, then the whole result.
   *
   * ```ts
   * for await (const event of paddock.workspaces.runCodeStream(ws.id, "python", "train()")) {
   *   if (event.type === "stdout") process.stdout.write(event.text);
   * }
   * ```
   */
  runCodeStream(
    id: string,
    language: CodeLanguage,
    source: string,
    options: CodeExecutionOptions = {},
    call?: CallOptions,
  ): AsyncGenerator<CodeStreamEvent, void, undefined> {
    const path = `/v1/workspaces/${segment(id)}/code/stream`;
    return codeEvents(this.http, "workspaces.runCodeStream", path, language, source, options, call);
  }

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
        disk_mb: request.diskMb,
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
   * `stderr`, `stats`, `egress`, then one `completed` or `error`). An
   * error answer is thrown before any event. `output` and `signal` work as for `runs.stream`: aborting, or
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

  /**
   * `POST /v1/workspaces/:id/start` (paddock): starts the workspace's
   * runtime jail, where its processes run (a paused tree is brought back
   * first). Idempotent; runtime calls start it on demand too.
   */
  async start(id: string, call?: CallOptions): Promise<WorkspaceRunState> {
    return this.http.json({ method: "POST", path: `/v1/workspaces/${segment(id)}/start`, call });
  }

  /**
   * `POST /v1/workspaces/:id/stop` (paddock): ends the runtime jail and
   * every process in it; the tree stays. Idempotent.
   */
  async stop(id: string, call?: CallOptions): Promise<WorkspaceRunState> {
    return this.http.json({ method: "POST", path: `/v1/workspaces/${segment(id)}/stop`, call });
  }

  /** `GET /v1/workspaces/:id/state` (paddock): `running` or `stopped`, and how many processes run. */
  async state(id: string, call?: CallOptions): Promise<WorkspaceRunState> {
    return this.http.json({ method: "GET", path: `/v1/workspaces/${segment(id)}/state`, call });
  }

  /**
   * (paddock) The runtime of workspace `id`: its processes
   * (`runtime.processes`) and files (`runtime.files`), at the runtime
   * base URL. Makes no request.
   *
   * ```ts
   * const runtime = paddock.workspaces.runtime(ws.id);
   * const { stdout } = await runtime.processes.run({ command: "ls", args: ["-la"] });
   * await runtime.files.write("notes.txt", "hello");
   * ```
   */
  runtime(id: string): WorkspaceRuntime {
    return new WorkspaceRuntime(this.http, id);
  }

  /**
   * (paddock) The base URL to hand the `sandbox-agent` npm SDK for
   * workspace `id`, `{baseUrl}/v1/workspaces/{id}/runtime`, with the API
   * key as its token. Makes no request.
   */
  sandboxAgentBaseUrl(id: string): string {
    return this.http.baseUrl + runtimePath(id);
  }
}

/**
 * (paddock) The code kernels of a running workspace (started by
 * {@link Workspaces.runCode}).
 */
export class WorkspaceKernels {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `GET /v1/workspaces/:id/kernels`. */
  async list(id: string, call?: CallOptions): Promise<KernelList> {
    return this.http.json({ method: "GET", path: `/v1/workspaces/${segment(id)}/kernels`, call });
  }

  /** `POST /v1/workspaces/:id/kernels/:kernel/interrupt`: interrupts what the kernel runs; it and its variables live on. */
  async interrupt(id: string, kernel: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "POST", path: `/v1/workspaces/${segment(id)}/kernels/${segment(kernel)}/interrupt`, call });
  }

  /** `POST /v1/workspaces/:id/kernels/:kernel/restart`: a new kernel in its place (variables gone). */
  async restart(id: string, kernel: string, call?: CallOptions): Promise<KernelInfo> {
    return this.http.json({ method: "POST", path: `/v1/workspaces/${segment(id)}/kernels/${segment(kernel)}/restart`, call });
  }

  /** `DELETE /v1/workspaces/:id/kernels/:kernel`: ends the kernel. */
  async shutdown(id: string, kernel: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/workspaces/${segment(id)}/kernels/${segment(kernel)}`, call });
  }
}

/**
 * (paddock) Previews: a port served inside a running workspace, exposed
 * through the server at `url` (host-based, for browsers) and `path_url`
 * (for API clients). Private by default: the tenant's API key, or the
 * creation answer's one-time `access_url` in a browser.
 *
 * ```ts
 * const preview = await paddock.workspaces.previews.create(ws.id, { port: 3000, public: true, ttlSecs: 600 });
 * console.log(preview.url);
 * ```
 */
export class WorkspacePreviews {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/workspaces/:id/previews`: exposes `port`; an active preview of the same port is revoked. */
  async create(id: string, request: PreviewCreateRequest, call?: CallOptions): Promise<Preview> {
    return this.http.json({
      method: "POST",
      path: `/v1/workspaces/${segment(id)}/previews`,
      body: compact({ port: request.port, public: request.public, ttl_secs: request.ttlSecs }),
      call,
    });
  }

  /** `GET /v1/workspaces/:id/previews`: every preview of the workspace, newest first. */
  async list(id: string, call?: CallOptions): Promise<PreviewList> {
    return this.http.json({ method: "GET", path: `/v1/workspaces/${segment(id)}/previews`, call });
  }

  /** `DELETE /v1/workspaces/:id/previews/:previewId`: its URLs and secret stop working at once. */
  async revoke(id: string, previewId: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({
      method: "DELETE",
      path: `/v1/workspaces/${segment(id)}/previews/${segment(previewId)}`,
      call,
    });
  }
}

/**
 * (paddock) Scoped tokens: short-lived bearer tokens bound to one
 * workspace and a set of capabilities, for tools and people that should not
 * hold the API key. A token works as the `apiKey` of a client for its
 * workspace's runtime, exec, code, kernel, preview, agent-session and MCP
 * routes that its capabilities open, and is refused everywhere else.
 *
 * ```ts
 * const { token } = await paddock.workspaces.tokens.create(ws.id, { capabilities: ["files:read"], ttlSecs: 600 });
 * const reader = new Paddock({ baseUrl, apiKey: token });
 * await reader.workspaces.runtime(ws.id).fs.entries("/workspace");
 * ```
 */
export class WorkspaceTokens {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/workspaces/:id/tokens`: the token is in this answer only. */
  async create(id: string, request: ScopedTokenCreateRequest, call?: CallOptions): Promise<CreatedScopedToken> {
    return this.http.json({
      method: "POST",
      path: `/v1/workspaces/${segment(id)}/tokens`,
      body: compact({ capabilities: request.capabilities, ttl_secs: request.ttlSecs, label: request.label }),
      call,
    });
  }

  /** `GET /v1/workspaces/:id/tokens`: active, expired and revoked, newest first (never their secrets). */
  async list(id: string, call?: CallOptions): Promise<ScopedTokenList> {
    return this.http.json({ method: "GET", path: `/v1/workspaces/${segment(id)}/tokens`, call });
  }

  /** `DELETE /v1/workspaces/:id/tokens/:tokenId`: it stops working at once. */
  async revoke(id: string, tokenId: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({
      method: "DELETE",
      path: `/v1/workspaces/${segment(id)}/tokens/${segment(tokenId)}`,
      call,
    });
  }
}

/**
 * (paddock) Agent sessions: a coding agent's ACP session driven by paddock,
 * with Tangle's durable turns. Each turn is stored with its marker
 * (`streaming`, `completed`, `interrupted` with `interruptReason`); a
 * `turnId` the session has seen never runs again (the stored turn is the
 * answer, `replayed: true`); a detached turn's result is read later.
 *
 * ```ts
 * await paddock.workspaces.agentSessions.create(ws.id, { agent: "claude", id: "fix-bug", permissions: "allow" });
 * const turn = await paddock.workspaces.agentSessions.prompt(ws.id, "fix-bug", { turnId: "t1", prompt: "Fix the failing test." });
 * console.log(turn.status, turn.text);
 * ```
 */
export class WorkspaceAgentSessions {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  private path(id: string, session?: string): string {
    const base = `/v1/workspaces/${segment(id)}/agent-sessions`;
    return session === undefined ? base : `${base}/${segment(session)}`;
  }

  /** `POST /v1/workspaces/:id/agent-sessions`: starts the agent and opens its ACP session. */
  async create(id: string, request: AgentSessionCreateRequest, call?: CallOptions): Promise<AgentSession> {
    return this.http.json({
      method: "POST",
      path: this.path(id),
      body: compact({ agent: request.agent, id: request.id, cwd: request.cwd, mode: request.mode, permissions: request.permissions }),
      call,
    });
  }

  /** `GET /v1/workspaces/:id/agent-sessions`: oldest first. */
  async list(id: string, call?: CallOptions): Promise<AgentSessionList> {
    return this.http.json({ method: "GET", path: this.path(id), call });
  }

  /** `GET /v1/workspaces/:id/agent-sessions/:session`: with its status and waiting permission requests. */
  async get(id: string, session: string, call?: CallOptions): Promise<AgentSession> {
    return this.http.json({ method: "GET", path: this.path(id, session), call });
  }

  /** `DELETE /v1/workspaces/:id/agent-sessions/:session`: ends its agent, removes it and its turns. */
  async delete(id: string, session: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: this.path(id, session), call });
  }

  /**
   * `POST …/agent-sessions/:session/turns`: a turn. Resolves when it has
   * ended, or at once with `detach` (status `streaming`). A long turn
   * needs a `call.timeoutMs` past the client's default.
   */
  async prompt(id: string, session: string, request: AgentTurnRequest, call?: CallOptions): Promise<AgentTurn> {
    return this.http.json({
      method: "POST",
      path: `${this.path(id, session)}/turns`,
      body: compact({ prompt: request.prompt, turnId: request.turnId, detach: request.detach }),
      call,
    });
  }

  /** `GET …/agent-sessions/:session/turns`: oldest first, with their markers. */
  async turns(id: string, session: string, call?: CallOptions): Promise<AgentTurnList> {
    return this.http.json({ method: "GET", path: `${this.path(id, session)}/turns`, call });
  }

  /** `GET …/turns/:turn` (Tangle's `findCompletedTurn`); `waitMs` waits for a streaming turn's end. */
  async turn(id: string, session: string, turnId: string, options: { waitMs?: number } = {}, call?: CallOptions): Promise<AgentTurn> {
    return this.http.json({
      method: "GET",
      path: `${this.path(id, session)}/turns/${segment(turnId)}`,
      query: { waitMs: options.waitMs },
      call,
    });
  }

  /** `POST …/turns/:turn/cancel`: ACP's `session/cancel`; the turn as the agent left it. */
  async cancel(id: string, session: string, turnId: string, call?: CallOptions): Promise<AgentTurn> {
    return this.http.json({ method: "POST", path: `${this.path(id, session)}/turns/${segment(turnId)}/cancel`, call });
  }

  /** `POST …/permissions/:request`: answers a waiting permission request (`once`, `always` or `reject`). */
  async answerPermission(id: string, session: string, request: string, reply: "once" | "always" | "reject", call?: CallOptions): Promise<void> {
    await this.http.json<void>({
      method: "POST",
      path: `${this.path(id, session)}/permissions/${segment(request)}`,
      body: { reply },
      call,
    });
  }
}
