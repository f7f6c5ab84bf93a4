/**
 * What the SDK's methods take: camelCase options, sent as the snake_case
 * fields of the wire.
 *
 * @module
 */

import type { WebSocketConstructor } from "./terminal.js";
import type {
  Capability,
  ProcessLogsStream,
  ProcessOwner,
  SeccompSpec,
  ServiceId,
  StreamOutput,
  WorkspaceDomain,
} from "./wire.js";

/** Options every method takes as its last argument. */
export interface CallOptions {
  /** Cancels the call: it rejects with the signal's reason, and the request is aborted. */
  signal?: AbortSignal;
  /**
   * Deadline for this call in milliseconds (0: none), instead of the
   * client's `timeoutMs`. When it passes, the call rejects with a
   * `PaddockError` of code `TIMEOUT`.
   */
  timeoutMs?: number;
}

/**
 * Network policy of a jail:
 * - `{ mode: "none" }` (default): no network; session execs still reach the phantom proxy;
 * - `{ mode: "loopback" }`: the jail's own loopback only;
 * - `{ mode: "allowlist", domains }`: only these hosts (1 to 32 names or `*.` wildcards), through the egress proxy.
 */
export type NetworkSpec =
  | { mode: "none" }
  | { mode: "loopback" }
  | { mode: "allowlist"; domains: string[] };

/**
 * Isolation settings shared by session execs, runs, forks and workspaces.
 * The server clamps out-of-range values.
 */
export interface ExecOptions {
  /** Network policy (default `{ mode: "none" }`). Sent as `network`. */
  network?: NetworkSpec;
  /** Seccomp level (default `standard`). Sent as `seccomp`. */
  seccomp?: SeccompSpec;
  /** CPU quota in percent of one core, 1 to 800 (default: no quota). Sent as `cpu_percent`. */
  cpuPercent?: number;
  /** Processes and threads, 1 to 1024. Sent as `max_pids`. */
  maxPids?: number;
}

/** {@link ExecOptions} plus the deadline and the memory limit. */
export interface JailLimits extends ExecOptions {
  /** Deadline, seconds, 1 to 3600 (default 300). Sent as `timeout_secs`. */
  timeoutSecs?: number;
  /** Memory limit, MiB, 16 to 8192 (default 512). Sent as `memory_mb`. */
  memoryMb?: number;
}

/** `credentials.put`. */
export interface CredentialPutRequest {
  /** Service the key is for (`openai`, `anthropic`, `github`, `stripe`, or one the operator configured). */
  service: ServiceId;
  /** The real upstream key. Stored encrypted, never returned. */
  secret: string;
}

/** `sessions.create`. */
export interface SessionCreateRequest {
  /** Services to mint phantom tokens for; each needs a stored credential. */
  services: ServiceId[];
  /**
   * Per service, the request paths its token may reach: exact paths or a
   * trailing `*` (`{ github: ["/repos/my-org/*"] }`). Other paths answer 403
   * at the proxy without contacting the upstream.
   */
  scopes?: Partial<Record<ServiceId, string[]>>;
  /** Lifetime, seconds (capped by the server; default: the server's default TTL). Sent as `ttl_secs`. */
  ttlSecs?: number;
  /** Requests the phantom proxy forwards for this session at most (then 429). */
  maxRequests?: number;
}

/** `sessions.exec`. */
export interface SessionExecRequest extends JailLimits {
  /** Program to run (looked up on the jail's `PATH`). */
  cmd: string;
  /** Its arguments. */
  args?: string[];
}

/** Interpreter of a run. */
export type RunLanguage = "javascript" | "python" | "bash";

/** `runs.create`. */
export interface RunRequest extends JailLimits {
  /** Source code, at most 1 MiB; fed to the interpreter on stdin. */
  code: string;
  /** Interpreter (default `javascript`). */
  language?: RunLanguage;
}

/** What every stream takes besides its request: a signal, and the output framing. */
export interface StreamOptions {
  /**
   * Aborting ends the iteration (it rejects with the signal's reason) and
   * aborts the request; the server then ends the jail (its ledger row
   * closes as `cancelled`). Same as `signal` in the call options.
   */
  signal?: AbortSignal;
  /**
   * How output arrives (sent as `?output=`):
   * - `"lines"` (default): one `stdout`/`stderr` event per line, as `line`;
   * - `"chunks"` (paddock): one event per chunk as the jail wrote it, as
   *   `bytes` (always) and `text` (when UTF-8); byte-exact.
   */
  output?: StreamOutput;
}

/** `runs.stream`: a {@link RunRequest} and the {@link StreamOptions}. */
export interface StreamRequest extends RunRequest, StreamOptions {}

/** `sessions.execStream`: a {@link SessionExecRequest} and the {@link StreamOptions}. */
export interface SessionExecStreamRequest extends SessionExecRequest, StreamOptions {}

/** One child of a fork. */
export interface ForkChild {
  /** The child's code, run on a copy of the parent's `/output`. */
  code: string;
  /** The child's memory limit, MiB (default: the fork's). Sent as `memory_mb`. */
  memoryMb?: number;
}

/** Fields of every {@link ForkRequest}. */
export interface ForkRequestBase extends JailLimits {
  /** The parent's code. */
  parentCode: string;
  /** Interpreter of the parent and the children (default `javascript`). */
  language?: RunLanguage;
  /** How long the parent runs before it is frozen and copied, ms (default 1500, at most 30000). Sent as `fork_after_ms`. */
  forkAfterMs?: number;
}

/**
 * `runs.fork`: the parent runs; after `forkAfterMs` its `/output` is
 * copied once per child and the children run on the copies in parallel.
 * Give one child as `childCode`, or up to 16 as `children`.
 */
export type ForkRequest =
  | (ForkRequestBase & { childCode: string; children?: undefined })
  | (ForkRequestBase & { children: ForkChild[]; childCode?: undefined });

/** A repository to clone into a new workspace (`https://` only). */
export interface GitRepo {
  /** Repository URL. */
  repo: string;
  /** Branch, tag or commit. */
  ref?: string;
}

/** Git seed of a workspace: one repository, or several into named directories. */
export type GitSeed = GitRepo | { repos: (GitRepo & { dir?: string })[] };

/** `workspaces.create`. */
export interface WorkspaceCreateRequest extends JailLimits {
  /** Clone this into the workspace first (inside a jail pinned to the repository's host). */
  git?: GitSeed;
  /** Runtime overlays under the server's `flavors/` directory (`GET /v1/flavors`); unknown names answer 400. */
  flavors?: string[];
  /** Free-form label. */
  label?: string;
  /** Pause after this many seconds without exec (0: never). Sent as `idle_timeout_secs`. */
  idleTimeoutSecs?: number;
  /** Disk limit, MiB (at least 16; the server must run as root): the tree lives on a file system of this size. Sent as `disk_mb`. */
  diskMb?: number;
  /** Hostnames to route to the workspace, passed as on the wire. */
  domains?: WorkspaceDomain[];
}

/** `workspaces.list`. */
export interface WorkspaceListParams {
  /** Page size. */
  limit?: number;
  /** Rows to skip. */
  offset?: number;
  /** Search text (id, label, repository). */
  q?: string;
}

/** `workspaces.update`. */
export interface WorkspaceUpdateRequest {
  /** New label. */
  label: string;
}

/** `workspaces.exec`. */
export interface WorkspaceExecRequest {
  /** Program to run. */
  cmd: string;
  /** Its arguments. */
  args?: string[];
  /** Extra environment variables, as `[name, value]` pairs. */
  env?: [string, string][];
  /** Deadline, seconds (default: the workspace's). Sent as `timeout_secs`. */
  timeoutSecs?: number;
  /** Memory limit, MiB (default: the workspace's). Sent as `memory_mb`. */
  memoryMb?: number;
}

/** `workspaces.runCode` (Tangle's `CodeExecutionOptions`). */
export interface CodeExecutionOptions {
  /** Session scope: kernels keep variables across calls with the same id (one kernel per session and language). */
  sessionId?: string;
  /** Per-call timeout, ms; the code is interrupted and the kernel lives on. 0 disables. Default 60000. */
  timeoutMs?: number;
  /** Environment variables for this call only. */
  env?: Record<string, string>;
  /** Working directory of a kernel this call starts. */
  cwd?: string;
  /** The same key (per workspace and session) within 15 minutes returns the first successful result without running again. */
  idempotencyKey?: string;
}

/** `workspaces.execStream`: a {@link WorkspaceExecRequest} and the {@link StreamOptions}. */
export interface WorkspaceExecStreamRequest extends WorkspaceExecRequest, StreamOptions {}

/** `workspaces.fork`. */
export interface WorkspaceForkRequest {
  /** Number of forks, 1 to 16. */
  count: number;
  /** Label of the new workspaces. */
  label?: string;
}

/** `workspaces.previews.create`. */
export interface PreviewCreateRequest {
  /** The port inside the workspace (1..=65535), reached on its `127.0.0.1`. */
  port: number;
  /** Anyone with the URL may use it until it expires (default: private, the tenant's API key or the `access_url`). */
  public?: boolean;
  /** Lifetime in seconds (1..=604800); public previews default to 3600, private ones do not expire unless asked. */
  ttlSecs?: number;
}

/** `workspaces.tokens.create`. */
export interface ScopedTokenCreateRequest {
  /** What the token may do in the workspace (at least one). */
  capabilities: Capability[];
  /** Lifetime in seconds, 1..=86400 (default 900). */
  ttlSecs?: number;
  /** A note for people (at most 200 bytes). */
  label?: string;
}

/** `workspaces.mcpConfig`. */
export interface McpConfigOptions {
  /** The token's capabilities (`mcp` is always added); default `processes`, `files:read`, `files:write`, `code`. */
  capabilities?: Capability[];
  /** The token's lifetime in seconds, 1..=86400 (default 900). */
  ttlSecs?: number;
  /** The key under `mcpServers` (default `paddock`). */
  serverName?: string;
}

/** `snapshots.create`. */
export interface SnapshotCreateRequest {
  /** Name of the snapshot. */
  name?: string;
}

/** `snapshots.list`. */
export interface SnapshotListParams {
  /** Only this workspace's snapshots. Sent as `workspace_id`. */
  workspaceId?: string;
  /** Page size. */
  limit?: number;
  /** Rows to skip. */
  offset?: number;
  /** Search text. */
  q?: string;
}

/** `snapshots.createWorkspaceFrom`. */
export interface WorkspaceFromSnapshotRequest {
  /** The workspace the snapshot was taken of (proof of ownership). Sent as `parent_workspace_id`. */
  parentWorkspaceId: string;
  /** Label of the new workspace. */
  label?: string;
}

/** `jails.list`. */
export interface JailListParams {
  /** Page size (default 50, at most 1000). */
  limit?: number;
  /** Rows to skip. */
  offset?: number;
  /** Only rows in this state. */
  status?: "running" | "completed" | "error" | "cancelled";
  /** Only rows of this kind. */
  kind?: "run" | "exec" | "fork" | "stream" | "workspace";
  /** Search text. */
  q?: string;
}

/** `sessions.list`. */
export interface SessionListParams {
  /** Page size. */
  limit?: number;
  /** Rows to skip. */
  offset?: number;
  /** (paddock) List closed sessions too (left out by default, as agentjail removes them). Sent as `include_closed`. */
  includeClosed?: boolean;
}

/** `audit.actions`. */
export interface AuditActionsParams {
  /** Page size. */
  limit?: number;
  /** Rows to skip. */
  offset?: number;
  /** Search text. */
  q?: string;
}

/**
 * `processes.run` (sandbox-agent's `ProcessRunRequest`; the runtime API
 * is camelCase on the wire, so these names are sent as they are).
 */
export interface ProcessRunRequest {
  /** Program name (looked up in `PATH`) or path. */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Working directory inside the jail (default `/workspace`). */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Deadline, ms (default and maximum from the process config: 30 s and 300 s). */
  timeoutMs?: number;
  /** Bytes kept of each stream (default and maximum from the process config: 1 MiB). */
  maxOutputBytes?: number;
}

/** `processes.create`: a managed process that outlives the call. */
export interface ProcessCreateRequest {
  /** Program name (looked up in `PATH`) or path. */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Working directory inside the jail (default `/workspace`). */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Marks the process as one that takes input (its standard input is open for `processes.input` either way, as in sandbox-agent). */
  interactive?: boolean;
  /** Run on a terminal (for `processes.terminal` and `processes.resize`). */
  tty?: boolean;
}

/** `processes.list`. */
export interface ProcessListParams {
  /** Only processes of this owner. */
  owner?: ProcessOwner;
}

/** `processes.stop` and `processes.kill`. */
export interface ProcessSignalOptions {
  /** Wait up to this long (ms, at most 300000) for the process to end before answering. Sent as `?waitMs=`. */
  waitMs?: number;
}

/** `processes.logs`. */
export interface ProcessLogsParams {
  /** `stdout`, `stderr`, `combined` (default for pipes) or `pty` (default for terminal processes). */
  stream?: ProcessLogsStream;
  /** Only the last this many entries. */
  tail?: number;
  /** Only entries with a `sequence` above this. */
  since?: number;
}

/** `processes.follow`. */
export interface ProcessFollowOptions extends ProcessLogsParams {
  /** Ends the iteration (it rejects with the signal's reason) and closes the stream. */
  signal?: AbortSignal;
}

/** `processes.terminal`. */
export interface TerminalOptions {
  /** The `WebSocket` class for this terminal (default: the client's `WebSocket` option, else `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** WebSocket subprotocols. */
  protocols?: string | string[];
}

/**
 * What `files.write` and `files.uploadTar` send: text (as UTF-8), bytes,
 * a `Blob`, a `ReadableStream` of bytes, or any async iterable of bytes
 * (a Node stream such as `fs.createReadStream(...)`). Streams are sent as
 * they are read, never held in memory whole.
 */
export type FileData = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** `files.move`. */
export interface FileMoveOptions {
  /** Replace an existing destination (a directory with its contents). */
  overwrite?: boolean;
}

/** `files.delete`. */
export interface FileDeleteOptions {
  /** Delete a directory with its contents. */
  recursive?: boolean;
}

/** `workspaces.agentSessions.create`. */
export interface AgentSessionCreateRequest {
  /** The agent (`claude`, `codex`, `opencode`, `pi`, `mock`). */
  agent: string;
  /** The session's id (1 to 100 of `A-Za-z0-9._-`); generated when absent. */
  id?: string;
  /** The agent's working directory (default `/workspace`). */
  cwd?: string;
  /** A mode the agent offers (ACP `session/set_mode`). */
  mode?: string;
  /** `ask` (default: kept for `answerPermission`), `allow` or `reject`. */
  permissions?: "ask" | "allow" | "reject";
}

/** `workspaces.agentSessions.prompt`. */
export interface AgentTurnRequest {
  /** Text, or ACP content blocks. */
  prompt: string | Array<Record<string, unknown>>;
  /** A turn id the session has seen is not run again: its stored turn is the answer. */
  turnId?: string;
  /** Answer at once with the turn `streaming`; read it later with `turn()`. */
  detach?: boolean;
}
