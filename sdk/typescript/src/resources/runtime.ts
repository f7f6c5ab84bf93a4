import { asBytes, fromBase64, toBase64 } from "../bytes.js";
import { RuntimeBrowser } from "./browser.js";
import { RuntimeDesktop } from "./desktop.js";
import { compact, segment } from "../encode.js";
import { PaddockError } from "../errors.js";
import { JAIL_GRACE_MS, type HttpClient, type OpenResponse } from "../http.js";
import type {
  CallOptions,
  FileData,
  FileDeleteOptions,
  FileMoveOptions,
  ProcessCreateRequest,
  ProcessFollowOptions,
  ProcessListParams,
  ProcessLogsParams,
  ProcessRunRequest,
  ProcessSignalOptions,
  TerminalOptions,
} from "../options.js";
import { SseParser } from "../sse.js";
import { TerminalSession } from "../terminal.js";
import type {
  AcpEnvelope,
  AcpEventList,
  AcpServerInfo,
  AcpServerListResponse,
  AgentInfo,
  AgentInstallRequest,
  AgentInstallResponse,
  AgentListResponse,
  FsActionResponse,
  FsEntry,
  FsMoveResponse,
  FsStat,
  FsUploadBatchResponse,
  FsWriteResponse,
  McpServerConfig,
  ProcessConfig,
  ProcessInfo,
  ProcessInputResponse,
  ProcessListResponse,
  ProcessLogChunk,
  ProcessLogEntry,
  ProcessLogs,
  ProcessLogsResponse,
  ProcessRunResponse,
  ProcessTerminalSize,
  RuntimeHealth,
  SkillsConfig,
} from "../wire.js";

/** Longest run deadline the server allows by default (sandbox-agent's `maxRunTimeoutMs`), ms. */
const MAX_RUN_TIMEOUT_MS = 300_000;

/**
 * The runtime of one workspace: its processes and files, at the
 * workspace's runtime base URL (`/v1/workspaces/{id}/runtime`), which
 * speaks sandbox-agent 0.4.2's API. Get one with
 * `paddock.workspaces.runtime(id)`. Calls on processes start the
 * workspace's runtime jail when it is not running; file calls work on
 * its tree whether it runs or not.
 *
 * Errors are Problem Details on the wire; they reject as `PaddockError`
 * like every other call (`message` is the `detail`, `serverCode`
 * paddock's stable code, `body` the whole {@link ProblemDetails}).
 */
export class WorkspaceRuntime {
  /** The workspace. */
  readonly workspaceId: string;
  /** Processes: runs, managed processes, logs, input and terminals. */
  readonly processes: RuntimeProcesses;
  /** Files beneath `/workspace`. */
  readonly files: RuntimeFiles;
  /** Coding agents and their ACP servers. */
  readonly agents: RuntimeAgents;
  /** The desktop: screenshots, mouse, keyboard, windows, clipboard, recordings. */
  readonly desktop: RuntimeDesktop;
  /** The browser: agent-browser's commands on the workspace's Chromium. */
  readonly browser: RuntimeBrowser;
  private readonly prefix: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    workspaceId: string,
  ) {
    this.workspaceId = workspaceId;
    this.prefix = runtimePath(workspaceId);
    this.processes = new RuntimeProcesses(http, this.prefix);
    this.files = new RuntimeFiles(http, this.prefix);
    this.agents = new RuntimeAgents(http, this.prefix);
    this.desktop = new RuntimeDesktop(http, this.prefix);
    this.browser = new RuntimeBrowser(http, this.prefix);
  }

  /**
   * The runtime base URL, `{server}/v1/workspaces/{id}/runtime`: hand it,
   * with the API key as the token, to the `sandbox-agent` npm SDK
   * (`SandboxAgent.connect({ baseUrl, token })`).
   */
  get baseUrl(): string {
    return this.http.baseUrl + this.prefix;
  }

  /** `GET …/runtime/v1/health`: `{status: "ok"}`; does not start the workspace. */
  async health(call?: CallOptions): Promise<RuntimeHealth> {
    return this.http.json({ method: "GET", path: `${this.prefix}/v1/health`, call });
  }
}

/** `/v1/workspaces/{id}/runtime` of a workspace. @internal */
export function runtimePath(workspaceId: string): string {
  return `/v1/workspaces/${segment(workspaceId)}/runtime`;
}

/** Processes of a running workspace (`…/runtime/v1/processes`). */
export class RuntimeProcesses {
  private readonly base: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    prefix: string,
  ) {
    this.base = `${prefix}/v1/processes`;
  }

  /**
   * `POST …/v1/processes/run`: runs a command to its end and answers its
   * output and exit code. The deadline is `timeoutMs` (default 30 s, at
   * most 300 s, from the process config); the call waits that long plus 30 s.
   */
  async run(request: ProcessRunRequest, call?: CallOptions): Promise<ProcessRunResponse> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/run`,
      body: compact({
        command: request.command,
        args: request.args,
        cwd: request.cwd,
        env: request.env,
        timeoutMs: request.timeoutMs,
        maxOutputBytes: request.maxOutputBytes,
      }),
      minTimeoutMs: (request.timeoutMs ?? MAX_RUN_TIMEOUT_MS) + JAIL_GRACE_MS,
      call,
    });
  }

  /**
   * `POST …/v1/processes`: starts a managed process that outlives the
   * call, on pipes (with `interactive`, its input stays open for
   * `input`) or on a terminal (`tty`).
   */
  async create(request: ProcessCreateRequest, call?: CallOptions): Promise<ProcessInfo> {
    return this.http.json({
      method: "POST",
      path: this.base,
      body: compact({
        command: request.command,
        args: request.args,
        cwd: request.cwd,
        env: request.env,
        interactive: request.interactive,
        tty: request.tty,
      }),
      call,
    });
  }

  /** `GET …/v1/processes`: every process record of the workspace, oldest first (exited ones until deleted). */
  async list(params: ProcessListParams = {}, call?: CallOptions): Promise<ProcessInfo[]> {
    const answer = await this.http.json<ProcessListResponse>({
      method: "GET",
      path: this.base,
      query: { owner: params.owner },
      call,
    });
    return answer.processes;
  }

  /** `GET …/v1/processes/{id}`. */
  async get(id: string, call?: CallOptions): Promise<ProcessInfo> {
    return this.http.json({ method: "GET", path: `${this.base}/${segment(id)}`, call });
  }

  /**
   * `POST …/v1/processes/{id}/stop`: sends `SIGTERM` to the process's
   * group. With `waitMs`, answers once it ended or that time passed.
   */
  async stop(id: string, options: ProcessSignalOptions = {}, call?: CallOptions): Promise<ProcessInfo> {
    return this.signal(id, "stop", options, call);
  }

  /** `POST …/v1/processes/{id}/kill`: sends `SIGKILL`; `waitMs` as for `stop`. */
  async kill(id: string, options: ProcessSignalOptions = {}, call?: CallOptions): Promise<ProcessInfo> {
    return this.signal(id, "kill", options, call);
  }

  private async signal(id: string, action: string, options: ProcessSignalOptions, call?: CallOptions): Promise<ProcessInfo> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/${segment(id)}/${action}`,
      query: { waitMs: options.waitMs },
      minTimeoutMs: options.waitMs === undefined ? undefined : Math.min(options.waitMs, MAX_RUN_TIMEOUT_MS) + JAIL_GRACE_MS,
      call,
    });
  }

  /** `DELETE …/v1/processes/{id}`: forgets an exited process (a running one is `CONFLICT`: stop or kill it first). */
  async delete(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `${this.base}/${segment(id)}`, call });
  }

  /**
   * `GET …/v1/processes/{id}/logs`: the output the server still holds,
   * as chunks with sequence numbers; each entry has its `bytes` decoded
   * (the wire's `data` is base64).
   *
   * ```ts
   * const { entries } = await runtime.processes.logs(proc.id, { stream: "stdout" });
   * const text = new TextDecoder().decode(concat(entries.map((e) => e.bytes)));
   * ```
   */
  async logs(id: string, params: ProcessLogsParams = {}, call?: CallOptions): Promise<ProcessLogs> {
    const answer = await this.http.json<ProcessLogsResponse>({
      method: "GET",
      path: `${this.base}/${segment(id)}/logs`,
      query: { stream: params.stream, tail: params.tail, since: params.since },
      call,
    });
    return { ...answer, entries: answer.entries.map((entry) => decodeEntry(entry, "processes.logs")) };
  }

  /**
   * `GET …/v1/processes/{id}/logs?follow=true` (SSE): yields the output
   * the server holds (filtered by `stream`, `since` and `tail`), then each
   * new chunk as it is written, and ends when the process's output has
   * ended. Each chunk has its `bytes` decoded.
   *
   * ```ts
   * for await (const chunk of runtime.processes.follow(proc.id)) process.stdout.write(chunk.bytes);
   * ```
   *
   * There is no deadline unless the call options give `timeoutMs`.
   * Aborting `signal`, or leaving the loop early, closes the stream.
   */
  async *follow(
    id: string,
    options: ProcessFollowOptions = {},
    call?: CallOptions,
  ): AsyncGenerator<ProcessLogChunk, void, undefined> {
    const merged: CallOptions = { ...call };
    if (merged.signal === undefined && options.signal !== undefined) merged.signal = options.signal;
    const open = await this.http.open(
      {
        method: "GET",
        path: `${this.base}/${segment(id)}/logs`,
        query: { stream: options.stream, tail: options.tail, since: options.since, follow: true },
        minTimeoutMs: Number.POSITIVE_INFINITY,
        call: merged,
      },
      "text/event-stream",
    );
    yield* readLogEvents(open, "processes.follow");
  }

  /**
   * `POST …/v1/processes/{id}/input`: writes to the standard input of an
   * `interactive` process, or types on a terminal process. Text is sent
   * as UTF-8, bytes as base64.
   */
  async input(id: string, data: string | Uint8Array | ArrayBuffer, call?: CallOptions): Promise<ProcessInputResponse> {
    let body: { data: string; encoding: string };
    if (typeof data === "string") {
      body = { data, encoding: "utf8" };
    } else {
      const bytes = asBytes(data);
      if (!bytes) throw new TypeError("processes.input: data must be a string, a Uint8Array or an ArrayBuffer");
      body = { data: toBase64(bytes), encoding: "base64" };
    }
    return this.http.json({ method: "POST", path: `${this.base}/${segment(id)}/input`, body, call });
  }

  /** `POST …/v1/processes/{id}/terminal/resize`: resizes a terminal process's terminal; answers the new size. */
  async resize(id: string, size: ProcessTerminalSize, call?: CallOptions): Promise<ProcessTerminalSize> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/${segment(id)}/terminal/resize`,
      body: { cols: size.cols, rows: size.rows },
      call,
    });
  }

  /**
   * The terminal of a `tty` process, over a WebSocket
   * (`…/v1/processes/{id}/terminal/ws`, authenticated with the API key
   * as `?access_token=`). Returns at once; `await terminal.ready` to know
   * it is connected. See {@link TerminalSession}.
   *
   * The `WebSocket` class is `options.WebSocket`, else the client's
   * `WebSocket` option, else `globalThis.WebSocket`; on Node 18 and 20,
   * which have none, pass the `ws` package's. Throws a `TypeError` when
   * there is none.
   */
  terminal(id: string, options: TerminalOptions = {}): TerminalSession {
    const WebSocketClass =
      options.WebSocket ?? this.http.webSocket ?? (globalThis as { WebSocket?: TerminalOptions["WebSocket"] }).WebSocket;
    if (typeof WebSocketClass !== "function") {
      throw new TypeError(
        "processes.terminal: this runtime has no global WebSocket; pass one as the WebSocket option " +
          '(on Node 18 and 20: new Paddock({ WebSocket: (await import("ws")).default }))',
      );
    }
    const url = this.http.webSocketUrl(`${this.base}/${segment(id)}/terminal/ws`);
    const socket = options.protocols === undefined ? new WebSocketClass(url) : new WebSocketClass(url, options.protocols);
    return new TerminalSession(socket, id);
  }

  /** `GET …/v1/processes/config`: the limits of the workspace's processes. */
  async config(call?: CallOptions): Promise<ProcessConfig> {
    return this.http.json({ method: "GET", path: `${this.base}/config`, call });
  }

  /** `POST …/v1/processes/config`: replaces the limits (all six) until the workspace stops. */
  async setConfig(config: ProcessConfig, call?: CallOptions): Promise<ProcessConfig> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/config`,
      body: {
        maxConcurrentProcesses: config.maxConcurrentProcesses,
        defaultRunTimeoutMs: config.defaultRunTimeoutMs,
        maxRunTimeoutMs: config.maxRunTimeoutMs,
        maxOutputBytes: config.maxOutputBytes,
        maxLogBytesPerProcess: config.maxLogBytesPerProcess,
        maxInputBytesPerRequest: config.maxInputBytesPerRequest,
      },
      call,
    });
  }
}

/** Files of a workspace (`…/runtime/v1/fs`): paths are `/workspace/…`, or relative to `/workspace`. */
export class RuntimeFiles {
  private readonly base: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    prefix: string,
  ) {
    this.base = `${prefix}/v1/fs`;
  }

  /** `GET …/v1/fs/entries`: the entries of a directory (`/workspace` by default), sorted by name. */
  async list(path?: string, call?: CallOptions): Promise<FsEntry[]> {
    return this.http.json({ method: "GET", path: `${this.base}/entries`, query: { path }, call });
  }

  /** `GET …/v1/fs/file`: a regular file's bytes. */
  async read(path: string, call?: CallOptions): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: `${this.base}/file`, query: { path: required(path, "files.read") }, call });
  }

  /** `GET …/v1/fs/file`: a regular file's bytes, decoded as UTF-8. */
  async readText(path: string, call?: CallOptions): Promise<string> {
    return new TextDecoder().decode(await this.read(path, call));
  }

  /**
   * `GET …/v1/fs/file`, streamed: the file's bytes as a `ReadableStream`,
   * read as they come. The call's deadline covers the answer's headers
   * only; cancel the stream (or abort the signal) to stop early.
   *
   * ```ts
   * import { Readable } from "node:stream";
   * Readable.fromWeb(await runtime.files.readStream("big.bin")).pipe(fs.createWriteStream("big.bin"));
   * ```
   */
  async readStream(path: string, call?: CallOptions): Promise<ReadableStream<Uint8Array>> {
    const open = await this.http.open(
      { method: "GET", path: `${this.base}/file`, query: { path: required(path, "files.readStream") }, call },
      "application/octet-stream",
    );
    return bodyStream(open);
  }

  /**
   * `PUT …/v1/fs/file`: stores `data` as the file (parent directories
   * are made). Text is stored as UTF-8; streams are sent as they are
   * read. The file is replaced whole once the body is stored.
   */
  async write(path: string, data: FileData, call?: CallOptions): Promise<FsWriteResponse> {
    return this.http.json({
      method: "PUT",
      path: `${this.base}/file`,
      query: { path: required(path, "files.write") },
      raw: data,
      contentType: "application/octet-stream",
      call,
    });
  }

  /** `GET …/v1/fs/stat`: describes a file or directory (following symlinks that stay inside the workspace). */
  async stat(path: string, call?: CallOptions): Promise<FsStat> {
    return this.http.json({ method: "GET", path: `${this.base}/stat`, query: { path: required(path, "files.stat") }, call });
  }

  /** `POST …/v1/fs/mkdir`: makes a directory and its parents; an existing one is fine. */
  async mkdir(path: string, call?: CallOptions): Promise<FsActionResponse> {
    return this.http.json({ method: "POST", path: `${this.base}/mkdir`, query: { path: required(path, "files.mkdir") }, call });
  }

  /** `POST …/v1/fs/move`: renames `from` to `to` (parents made); an existing `to` is refused unless `overwrite`. */
  async move(from: string, to: string, options: FileMoveOptions = {}, call?: CallOptions): Promise<FsMoveResponse> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/move`,
      body: compact({ from: required(from, "files.move"), to: required(to, "files.move"), overwrite: options.overwrite }),
      call,
    });
  }

  /** `DELETE …/v1/fs/entry`: deletes a file, a symlink, or a directory (with contents only when `recursive`). */
  async delete(path: string, options: FileDeleteOptions = {}, call?: CallOptions): Promise<FsActionResponse> {
    return this.http.json({
      method: "DELETE",
      path: `${this.base}/entry`,
      query: { path: required(path, "files.delete"), recursive: options.recursive },
      call,
    });
  }

  /**
   * `POST …/v1/fs/upload-batch`: extracts a tar (bytes or a stream) into
   * the directory `path` (made as needed). Files, directories and
   * symlinks are accepted; absolute names, `..`, hard links and devices
   * are refused (`BAD_REQUEST`).
   */
  async uploadTar(path: string, tar: FileData, call?: CallOptions): Promise<FsUploadBatchResponse> {
    return this.http.json({
      method: "POST",
      path: `${this.base}/upload-batch`,
      query: { path: required(path, "files.uploadTar") },
      raw: tar,
      contentType: "application/x-tar",
      call,
    });
  }

  /**
   * `GET …/v1/fs/archive` (paddock): the directory `path` (`/workspace`
   * by default) as a tar, in memory. Use {@link downloadTarStream} for
   * large trees.
   */
  async downloadTar(path?: string, call?: CallOptions): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: `${this.base}/archive`, query: { path }, call }, "application/x-tar");
  }

  /** `GET …/v1/fs/archive` (paddock), streamed; the deadline covers the headers only, as for {@link readStream}. */
  async downloadTarStream(path?: string, call?: CallOptions): Promise<ReadableStream<Uint8Array>> {
    const open = await this.http.open({ method: "GET", path: `${this.base}/archive`, query: { path }, call }, "application/x-tar");
    return bodyStream(open);
  }
}

function required(path: string, what: string): string {
  if (typeof path !== "string" || path.length === 0) throw new TypeError(`${what}: a path is required`);
  return path;
}

/** `entry` with its `data` decoded into `bytes`. */
function decodeEntry(entry: ProcessLogEntry, what: string): ProcessLogChunk {
  const bytes = entry.encoding === "base64" || entry.encoding === undefined ? fromBase64(entry.data) : undefined;
  if (!bytes) {
    if (entry.encoding === "utf8" || entry.encoding === "text") return { ...entry, bytes: new TextEncoder().encode(entry.data) };
    throw new PaddockError({
      status: 200,
      code: "SERVER_ERROR",
      message: `${what}: a log entry's data is not ${entry.encoding === "base64" ? "base64" : `in a known encoding (${entry.encoding})`}`,
      body: entry,
    });
  }
  return { ...entry, bytes };
}

/**
 * The `log` events of a followed log, decoded, until the stream ends.
 * Other events and comments (keep-alives) are skipped.
 */
/** A followed log's entries, their bytes decoded. */
function readLogEvents(open: OpenResponse, what: string): AsyncGenerator<ProcessLogChunk, void, undefined> {
  return readOpenStream(open, what, "log", (data) => {
    let entry: unknown;
    try {
      entry = JSON.parse(data);
    } catch {
      entry = undefined;
    }
    if (typeof entry !== "object" || entry === null || typeof (entry as ProcessLogEntry).data !== "string") {
      throw new PaddockError({
        status: open.response.status,
        code: "SERVER_ERROR",
        message: `${what}: a log event's data is not a log entry`,
        body: data,
      });
    }
    return decodeEntry(entry as ProcessLogEntry, what);
  });
}

/**
 * Reads an SSE response that ends when the server ends it (or the caller
 * leaves), yielding `convert` of each message named `event`.
 */
async function* readOpenStream<T>(
  open: OpenResponse,
  what: string,
  event: string,
  convert: (data: string, id: string) => T,
): AsyncGenerator<T, void, undefined> {
  const body = open.response.body;
  let finished = false;
  try {
    if (!body) return;
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
          if (message.event !== event) continue;
          yield convert(message.data, message.id);
          if (open.signal.aborted) throw open.failure(open.signal.reason);
        }
        if (chunk.done) break;
      }
      parser.end();
      finished = true;
    } finally {
      if (!finished) reader.cancel().catch(() => undefined);
    }
  } finally {
    open.close();
    open.abort();
  }
}

/**
 * Coding agents of a workspace (`…/runtime/v1/agents`) and their ACP
 * servers (`…/runtime/v1/acp`): sandbox-agent 0.4.2's routes, plus
 * paddock's stored transcript of each server. An ACP server is an agent
 * process in the workspace, spoken to in JSON-RPC 2.0 envelopes: `send`
 * posts one (the first names the agent), `follow` yields the agent's
 * messages (requests such as `session/request_permission`, notifications
 * such as `session/update`, and responses) from the stored ones on.
 *
 * ```ts
 * const acp = paddock.workspaces.runtime(id).agents;
 * await acp.send("s1", { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1 } }, { agent: "claude" });
 * for await (const { index, envelope } of acp.follow("s1")) console.log(index, envelope);
 * ```
 *
 * The `sandbox-agent` npm SDK drives the same routes with sessions,
 * prompts and permission callbacks: give it `runtime.baseUrl`.
 */
export class RuntimeAgents {
  private readonly agents: string;
  private readonly acp: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    prefix: string,
  ) {
    this.agents = `${prefix}/v1/agents`;
    this.acp = `${prefix}/v1/acp`;
  }

  /** `GET …/v1/agents`: every agent, installed or not (`config: true` adds their config options). */
  async list(options: { config?: boolean } = {}, call?: CallOptions): Promise<AgentInfo[]> {
    const answer = await this.http.json<AgentListResponse>({ method: "GET", path: this.agents, query: { config: options.config }, call });
    return answer.agents;
  }

  /** `GET …/v1/agents/{agent}`. */
  async get(agent: string, options: { config?: boolean } = {}, call?: CallOptions): Promise<AgentInfo> {
    return this.http.json({ method: "GET", path: `${this.agents}/${segment(agent)}`, query: { config: options.config }, call });
  }

  /**
   * `POST …/v1/agents/{agent}/install`: installs the agent's pinned npm
   * packages on the server's host; answers when done (up to 15 minutes).
   */
  async install(agent: string, request: AgentInstallRequest = {}, call?: CallOptions): Promise<AgentInstallResponse> {
    return this.http.json({
      method: "POST",
      path: `${this.agents}/${segment(agent)}/install`,
      body: request,
      minTimeoutMs: 15 * 60_000,
      call,
    });
  }

  /** `GET …/v1/acp`: the workspace's ACP servers, oldest first. */
  async servers(call?: CallOptions): Promise<AcpServerInfo[]> {
    const answer = await this.http.json<AcpServerListResponse>({ method: "GET", path: this.acp, call });
    return answer.servers;
  }

  /**
   * `POST …/v1/acp/{server}`: sends a JSON-RPC envelope to the server's
   * agent (`agent` starts it on the first one). A request answers the
   * agent's response (a prompt's when its turn ends: no deadline unless
   * the call options give one); anything else `undefined` once delivered.
   */
  async send(
    serverId: string,
    envelope: AcpEnvelope,
    options: { agent?: string } = {},
    call?: CallOptions,
  ): Promise<AcpEnvelope | undefined> {
    return this.http.json({
      method: "POST",
      path: `${this.acp}/${segment(serverId)}`,
      query: { agent: options.agent },
      body: envelope,
      minTimeoutMs: Number.POSITIVE_INFINITY,
      call,
    });
  }

  /**
   * `GET …/v1/acp/{server}` (SSE): the agent's messages after `since`
   * (from the first without it), then live ones; the stream stays open
   * until the caller leaves the loop or aborts `signal`. Each comes with
   * its transcript `index` (pass the last one as `since` to resume).
   */
  async *follow(
    serverId: string,
    options: { since?: number; signal?: AbortSignal } = {},
    call?: CallOptions,
  ): AsyncGenerator<{ index: number; envelope: AcpEnvelope }, void, undefined> {
    const merged: CallOptions = { ...call };
    if (merged.signal === undefined && options.signal !== undefined) merged.signal = options.signal;
    const open = await this.http.open(
      {
        method: "GET",
        path: `${this.acp}/${segment(serverId)}`,
        query: { since: options.since },
        minTimeoutMs: Number.POSITIVE_INFINITY,
        call: merged,
      },
      "text/event-stream",
    );
    yield* readOpenStream(open, "agents.follow", "message", (data, id) => {
      let envelope: unknown;
      try {
        envelope = JSON.parse(data);
      } catch {
        envelope = undefined;
      }
      if (typeof envelope !== "object" || envelope === null) {
        throw new PaddockError({ status: open.response.status, code: "SERVER_ERROR", message: "agents.follow: a message is not a JSON-RPC envelope", body: data });
      }
      return { index: Number(id), envelope: envelope as AcpEnvelope };
    });
  }

  /**
   * `GET …/v1/config/mcp`: the MCP server `mcpName` of `directory`'s agents
   * (sandbox-agent's `getMcpConfig`). Agents opening a session with the
   * directory as `cwd` get it in `mcpServers`.
   */
  async getMcpConfig(query: { directory: string; mcpName: string }, call?: CallOptions): Promise<McpServerConfig> {
    return this.http.json({ method: "GET", path: this.config("mcp"), query, call });
  }

  /** `PUT …/v1/config/mcp`: stores (or replaces) the entry. */
  async setMcpConfig(query: { directory: string; mcpName: string }, config: McpServerConfig, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "PUT", path: this.config("mcp"), query, body: config, call });
  }

  /** `DELETE …/v1/config/mcp`: removes the entry (a missing one too). */
  async deleteMcpConfig(query: { directory: string; mcpName: string }, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: this.config("mcp"), query, call });
  }

  /**
   * `GET …/v1/config/skills`: the skills entry `skillName` of `directory`'s
   * agents. They are copied where an agent reads a project's skills when it
   * opens a session there.
   */
  async getSkillsConfig(query: { directory: string; skillName: string }, call?: CallOptions): Promise<SkillsConfig> {
    return this.http.json({ method: "GET", path: this.config("skills"), query, call });
  }

  /** `PUT …/v1/config/skills`: stores (or replaces) the entry. */
  async setSkillsConfig(query: { directory: string; skillName: string }, config: SkillsConfig, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "PUT", path: this.config("skills"), query, body: config, call });
  }

  /** `DELETE …/v1/config/skills`: removes the entry (a missing one too). */
  async deleteSkillsConfig(query: { directory: string; skillName: string }, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: this.config("skills"), query, call });
  }

  private config(kind: "mcp" | "skills"): string {
    return `${this.acp.slice(0, -"/acp".length)}/config/${kind}`;
  }

  /** `GET …/v1/acp/{server}/events` (ext): the stored transcript, both directions, after `since`. */
  async transcript(serverId: string, options: { since?: number; limit?: number } = {}, call?: CallOptions): Promise<AcpEventList> {
    return this.http.json({
      method: "GET",
      path: `${this.acp}/${segment(serverId)}/events`,
      query: { since: options.since, limit: options.limit },
      call,
    });
  }

  /** `DELETE …/v1/acp/{server}`: ends the agent; its transcript stays readable until the id is used again. */
  async deleteServer(serverId: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `${this.acp}/${segment(serverId)}`, call });
  }
}

/** The body of `open` as a stream the caller reads; the deadline stops at the headers. */
function bodyStream(open: OpenResponse): ReadableStream<Uint8Array> {
  open.disarm();
  const body = open.response.body;
  if (!body) {
    open.close();
    return new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  }
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        const error = open.failure(err);
        open.close();
        controller.error(error);
        return;
      }
      if (chunk.done) {
        open.close();
        controller.close();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    async cancel(reason) {
      open.close();
      await reader.cancel(reason).catch(() => undefined);
      open.abort();
    },
  });
}
