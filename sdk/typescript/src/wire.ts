/**
 * What the server answers, field for field as on the wire (snake_case).
 *
 * Every interface in this file is checked against the component schema
 * of the same name in the server's `/openapi.json` (see
 * `test/integration/drift.test.mjs`), so keep names and optionality
 * exactly as the server sends them. Request options (camelCase) live in
 * `options.ts`.
 *
 * @module
 */

/**
 * Names of the services every deployment knows; operators may configure
 * more, so any string is accepted.
 */
export type ServiceId = "openai" | "anthropic" | "github" | "stripe" | (string & {});

/**
 * The body of every error answer; a `PaddockError`'s `message` and
 * `serverCode` come from it, and its `body` holds it.
 */
export interface ErrorBody {
  /** Human-readable message. */
  error: string;
  /** Stable machine-readable code (`NOT_FOUND`, `SESSION_CLOSED`, `BAD_LANGUAGE`, ...). */
  code: string;
}

/** Role of an API key. */
export type Role = "admin" | "operator";

/** `GET /v1/whoami`: who the API key belongs to. */
export interface Whoami {
  /** The key's tenant. */
  tenant: string;
  /** The key's role. */
  role: Role;
  /** (ext) The tenant's admission budgets and what its running jails hold of them now. */
  budgets?: TenantBudgets;
  /** (ext) The tenant's storage budget and what its snapshots and workspaces hold of it. */
  storage?: TenantStorage;
}

/**
 * (ext) A tenant's storage budget (`paddock serve --tenant-storage`) and its
 * use now: its snapshots' stored bytes, the copies its forks hold and the
 * disk limits of its workspaces; more answers 507 `STORAGE_BUDGET`.
 */
export interface TenantStorage {
  /** What the tenant may hold, MiB. */
  storage_mb: number;
  /** What it holds now, MiB (rounded up). */
  storage_in_use_mb: number;
}

/** (ext) A tenant's admission budgets and their use now; a jail that would pass one answers 429. */
export interface TenantBudgets {
  /** Jails the tenant may run at once. */
  max_concurrent: number;
  /** Jails it runs now (runs, execs, forks, clones, running workspaces). */
  running: number;
  /** The sum of memory limits its running jails may reach, MiB. */
  memory_mb: number;
  /** The sum of its running jails' memory limits now, MiB. */
  memory_in_use_mb: number;
}

/** `GET /v1/health` (no auth). */
export interface Health {
  /** `"ok"` when the server is serving. */
  status: string;
  /** The server's version. */
  version: string;
}

/** `GET /readyz` (no auth): whether the server can take work, and why not. */
export interface Readiness {
  /** Every check passed (the answer was 200; 503 otherwise). */
  ready: boolean;
  checks: ReadinessChecks;
}

/** The checks {@link Readiness} is made of. */
export interface ReadinessChecks {
  /** The database answers and accepts a write. */
  database: DatabaseCheck;
  /** The state disk is above its free-space reserve. */
  state_disk: DiskCheck;
  /** The jail engine can start jails. */
  jail_engine: Check;
}

/** One readiness check. */
export interface Check {
  ok: boolean;
  /** Why the check failed. */
  error?: string;
}

/** The database readiness check. */
export interface DatabaseCheck {
  ok: boolean;
  /** `sqlite` or `postgres`. */
  backend: string;
  /** Time the probe write took, ms. */
  latency_ms: number;
  error?: string;
}

/** The state disk readiness check. */
export interface DiskCheck {
  ok: boolean;
  /** Bytes still free. */
  free_bytes: number;
  total_bytes: number;
  /** Below this, new work answers 507 `INSUFFICIENT_STORAGE`. */
  min_free_bytes: number;
  /** Size of the reserve file kept for the database (0: none). */
  reserve_bytes: number;
  /** Whether the reserve file is held (given up when the disk fills). */
  reserve_held: boolean;
  error?: string;
}

/** `GET /v1/stats` (no auth): live counters. */
export interface PublicStats {
  /** Jails running now. */
  active_execs: number;
  /** Jails run since the ledger began. */
  total_execs: number;
  /** Sessions stored. */
  sessions: number;
  /** Credentials stored. */
  credentials: number;
}

/** A stored upstream credential. The secret itself is never returned. */
export interface CredentialRecord {
  /** Tenant the credential belongs to. */
  tenant_id: string;
  /** Service name (`openai`, ...). */
  service: ServiceId;
  /** RFC 3339, when first stored. */
  added_at: string;
  /** RFC 3339, when last replaced. */
  updated_at: string;
  /** Non-reversible fingerprint of the secret, to spot rotations. */
  fingerprint: string;
}

/** Lifecycle of a session. */
export type SessionStatus = "active" | "closed" | "expired";

/** The fields of a {@link Session} other than its `env`. */
export interface SessionRecord {
  /** `sess_` + 24 hex. */
  id: string;
  /** Tenant the session belongs to. */
  tenant_id: string;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339; sessions always expire. */
  expires_at: string;
  /** RFC 3339 when closed (its tokens are revoked), else `null`; closed sessions are only listed with `includeClosed`. */
  closed_at?: string | null;
  /** `active`, `closed` or `expired`. */
  status: SessionStatus;
  /** Services the session's tokens may use. */
  services: ServiceId[];
  /** Per-service path globs the tokens are limited to (empty: no limit). */
  scopes: Record<string, string[]>;
  /** Requests the phantom proxy forwards for the session at most; `null`: no budget. */
  max_requests?: number | null;
  /** Requests the proxy has forwarded. */
  requests_used: number;
}

/**
 * A session as `sessions.create`, `sessions.get` and `sessions.list`
 * return it (agentjail's `SessionView`, with paddock's extensions).
 */
export interface Session extends SessionRecord {
  /**
   * Variables to hand to the sandbox: per service a phantom token
   * (`OPENAI_API_KEY=phm_...`) and a base URL pointing at the phantom
   * proxy (`OPENAI_BASE_URL=http://proxy/v1/openai/v1`).
   */
  env: Record<string, string>;
}

/** cgroup counters of a jail. */
export interface ResourceStats {
  /** Highest memory use seen, bytes. */
  memory_peak_bytes: number;
  /** Memory use at the time of the sample, bytes. */
  memory_current_bytes: number;
  /** CPU time used, microseconds. */
  cpu_usage_usec: number;
  /** Bytes read from block devices. */
  io_read_bytes: number;
  /** Bytes written to block devices. */
  io_write_bytes: number;
  /** Processes and threads alive at the time of the sample. */
  pids_current: number;
}

/** What a run or an exec answers when its jail has ended. */
export interface ExecResult {
  /** (paddock) The jail's ledger id (`jails.get(id)`); also in the `x-paddock-run-id` header. */
  id: number;
  /** Standard output (capped by the server). */
  stdout: string;
  /** Standard error (capped by the server). */
  stderr: string;
  /** The command's exit status (124 deadline, 137 OOM kill, 128+N signal N). */
  exit_code: number;
  /** Wall time, milliseconds. */
  duration_ms: number;
  /** Whether the deadline ended the jail. */
  timed_out: boolean;
  /** Whether the memory limit killed it. */
  oom_killed: boolean;
  /** (paddock) stdout was longer than the server's capture cap and was cut. */
  stdout_truncated: boolean;
  /** (paddock) stderr was longer than the server's capture cap and was cut. */
  stderr_truncated: boolean;
  /** (paddock) The run was cancelled (`POST /v1/runs/{id}/cancel`). */
  cancelled: boolean;
  /** cgroup counters; `null` or absent when the host has no cgroup for the jail. */
  stats?: ResourceStats | null;
  /** (paddock) Connections the egress proxy refused or could not make (allowlist mode). */
  egress_refusals?: EgressRefusal[];
}

/** A connection the egress proxy refused or could not make, so a caller sees why `curl` got a 403. */
export interface EgressRefusal {
  /** `CONNECT`, or the forwarded request's method. */
  method: string;
  /** Host as the jail named it. */
  host: string;
  /** Port asked for. */
  port: number;
  /** `denied` (by policy) or `failed` (allowed, unreachable). */
  outcome: string;
  /** Machine-readable reason (`host_not_allowed`, `non_public_address`, ...). */
  reason?: string | null;
  /** Human-readable explanation. */
  detail?: string | null;
}

/** (paddock) One connection attempt through a jail's egress proxy, as the ledger keeps it. */
export interface EgressAttempt {
  /** `CONNECT`, or the forwarded request's method. */
  method: string;
  /** Host as the jail named it. */
  host: string;
  /** Port asked for. */
  port: number;
  /** The address connected to (or the first refused one). */
  address?: string | null;
  /** `allowed`, `denied` (by policy) or `failed` (allowed, unreachable). */
  outcome: string;
  /** Machine-readable reason (`host_not_allowed`, `non_public_address`, ...). */
  reason?: string | null;
  /** Human-readable explanation. */
  detail?: string | null;
  /** HTTP status: the upstream's for a forwarded request, the proxy's for a refusal; absent for a tunnel. */
  status?: number | null;
  /** Bytes from the jail to the upstream. */
  bytes_up: number;
  /** Bytes from the upstream to the jail. */
  bytes_down: number;
  /** From the request to the end of the connection, milliseconds. */
  duration_ms: number;
}

/** How one child's copy of the parent's `/output` was made. */
export interface ForkMeta {
  /** Time the copy took, milliseconds. */
  clone_ms: number;
  /** Files copied. */
  files_cloned: number;
  /** Files shared copy-on-write (reflinked). */
  files_cow: number;
  /** Bytes copied. */
  bytes_cloned: number;
  /** `reflink`, `copy` or `mixed`. */
  method: string;
  /** Whether the parent was frozen during the copy (false if it had already ended). */
  was_frozen: boolean;
}

/**
 * What `POST /v1/runs/fork` answers. `child` and `fork` repeat
 * `children[0]` and `forks[0]` for single-child callers.
 */
export interface ForkResponse {
  /** The parent's result. */
  parent: ExecResult;
  /** The first child's result (`children[0]`). */
  child: ExecResult;
  /** Every child's result, in request order. */
  children: ExecResult[];
  /** The first child's copy (`forks[0]`). */
  fork: ForkMeta;
  /** Every child's copy, in request order. */
  forks: ForkMeta[];
}

/** The agentjail SDK's name for {@link ForkResponse}. */
export type ForkResult = ForkResponse;

/** Which endpoint started a jail. */
export type JailKind = "run" | "exec" | "fork" | "stream" | "workspace";

/** Lifecycle of a ledger row: (paddock) `cancelled` when a cancel, a dropped stream or an aborted request ended it. */
export type JailStatus = "running" | "completed" | "error" | "cancelled";

/** Settings a jail ran with after defaults and clamps. */
export interface EffectiveLimits {
  /** Deadline, seconds. */
  timeout_secs: number;
  /** Memory limit, MiB. */
  memory_mb: number;
  /** CPU quota in percent of a core, `null` without a quota. */
  cpu_percent: number | null;
  /** Process and thread limit. */
  max_pids: number;
  /** Network policy. */
  network: { mode: string; domains: string[] };
  /** Seccomp level. */
  seccomp: string;
}

/**
 * The request settings recorded in a ledger row. Which fields appear
 * depends on the kind of jail: runs record the language and a hash of the
 * code, execs the command, forks the number of children.
 */
export interface JailLedgerConfig {
  /** Runs and forks: the language. */
  language?: string;
  /** Runs: size of the code, bytes. */
  code_bytes?: number;
  /** Runs: BLAKE3 of the code, hex. */
  code_blake3?: string;
  /** Execs: the command. */
  cmd?: string;
  /** Execs: its arguments. */
  args?: string[];
  /** Forks: number of children. */
  children?: number;
  /** Forks: when the parent was frozen, milliseconds. */
  fork_after_ms?: number;
  /** Runs and execs: the settings applied. */
  limits?: EffectiveLimits;
  /** Fields of kinds not listed here. */
  [field: string]: unknown;
}

/** One row of the jail ledger: every jail the server started. */
export interface JailRecord {
  /** Ledger id (an integer). */
  id: number;
  /** Tenant the jail ran for. */
  tenant_id: string;
  /** Endpoint that started it. */
  kind: JailKind;
  /** RFC 3339. */
  started_at: string;
  /** RFC 3339, `null` while running. */
  ended_at: string | null;
  /** `running`, `completed`, `error` or (paddock) `cancelled`. */
  status: JailStatus;
  /** Session of a session exec. */
  session_id: string | null;
  /**
   * Per kind: the language (run, stream), the command (exec),
   * `<language> · parent|child` (fork), `workspace:<id>/<cmd>` (workspace).
   */
  label: string;
  /** Exit status once completed. */
  exit_code: number | null;
  /** Wall time, milliseconds. */
  duration_ms: number | null;
  /** Whether the deadline ended it. */
  timed_out: boolean;
  /** Whether the memory limit killed it. */
  oom_killed: boolean;
  /** Peak memory, bytes. */
  memory_peak_bytes: number | null;
  /** Memory at the end, bytes. */
  memory_current_bytes: number | null;
  /** CPU time, microseconds. */
  cpu_usage_usec: number | null;
  /** Block-device reads, bytes. */
  io_read_bytes: number | null;
  /** Block-device writes, bytes. */
  io_write_bytes: number | null;
  /** Processes at the end. */
  pids_current: number | null;
  /** Standard output, capped at 16 KiB. */
  stdout: string;
  /** Standard error, capped at 16 KiB. */
  stderr: string;
  /** Why the jail could not run or finish, for `status: "error"`. */
  error: string | null;
  /** The parent's ledger id, for fork children. */
  parent_id: number | null;
  /** The request's settings. */
  config: JailLedgerConfig;
  /** (paddock) Its connections through the egress proxy (allowlist mode), the first 100 in order; empty otherwise. */
  egress?: EgressAttempt[];
}

/** A page of the jail ledger, newest first. */
export interface JailsList {
  /** The rows of this page. */
  rows: JailRecord[];
  /** Rows matching the filter, over all pages. */
  total: number;
  /** Page size used. */
  limit: number;
  /** Rows skipped. */
  offset: number;
}

/** One request through the phantom proxy (agentjail's `AuditRow`). */
export interface AuditRow {
  /** Row id. */
  id: number;
  /** RFC 3339. */
  at: string;
  /** The session whose token was used; `""` when the request was refused before its token was known. */
  session_id: string;
  /** The service; `""` when unknown. */
  service: string;
  /** HTTP method. */
  method: string;
  /** The upstream path (without `/v1/<service>` and the query). */
  path: string;
  /** Status answered. */
  status: number;
  /** Why the proxy refused it (`no_token`, `scope_denied`, ...); `null` when forwarded. */
  reject_reason: string | null;
  /** Milliseconds until the upstream's response headers; `null` unless forwarded. */
  upstream_ms: number | null;
}

/** The most recent phantom-proxy requests. */
export interface AuditList {
  /** Newest first. */
  rows: AuditRow[];
  /** Rows stored in all. */
  total: number;
}

/** (paddock) A control-plane action: who did what to which object. */
export interface ActionRow {
  /** Row id. */
  id: number;
  /** RFC 3339. */
  at: string;
  /** Tenant it happened in. */
  tenant_id: string;
  /** The id of the key that acted. */
  actor: string;
  /** `session.create`, `credential.put`, `key.revoke`, ... */
  action: string;
  /** What it acted on (an id or a service name). */
  target: string;
}

/** (paddock) A page of control-plane actions, newest first. */
export interface ActionList {
  /** Newest first. */
  rows: ActionRow[];
  /** Rows matching, over all pages. */
  total: number;
}

/** Network mode recorded in a workspace's settings. */
export type NetworkMode = "none" | "loopback" | "allowlist";

/** Seccomp level: `strict` also refuses sockets other than `AF_UNIX`. */
export type SeccompSpec = "standard" | "strict";

/** The jail settings stored with a workspace and applied to every exec. */
export interface WorkspaceSpec {
  /** Memory limit, MiB. */
  memory_mb: number;
  /** Deadline of each exec, seconds. */
  timeout_secs: number;
  /** CPU quota, percent of one core (100 when no quota was asked for). */
  cpu_percent: number;
  /** Process and thread limit. */
  max_pids: number;
  /** Network mode. */
  network_mode: NetworkMode;
  /** Allowlisted hosts for `allowlist`. */
  network_domains: string[];
  /** Seccomp level. */
  seccomp: SeccompSpec;
  /** Pause after this many seconds without exec; 0 never. */
  idle_timeout_secs: number;
  /** Flavors mounted at `/opt/flavors/<name>`, `bin/` first on `PATH`. */
  flavors: string[];
  /** Disk limit, MiB: the tree lives on a file system of this size (absent: none of its own). */
  disk_mb?: number;
}

/** A hostname routed to a workspace (as given at creation). */
export interface WorkspaceDomain {
  /** Hostname matched against the `Host` header. */
  domain: string;
  /** Static URL requests are forwarded to. */
  backend_url?: string;
  /** Port inside the workspace's jail requests are forwarded to. */
  vm_port?: number;
}

/** A long-lived workspace: a mount tree that persists across execs. */
export interface Workspace {
  /** `wrk_` + 24 hex. */
  id: string;
  /** Tenant the workspace belongs to. */
  tenant_id: string;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339 once deleted, else `null`. */
  deleted_at: string | null;
  /** Host path of the tree mounted at `/workspace` (blank for operators). */
  source_dir: string;
  /** Host path of the output tree (blank for operators). */
  output_dir: string;
  /** Settings applied to every exec. */
  config: WorkspaceSpec;
  /** Repository cloned at creation. */
  git_repo: string | null;
  /** Ref checked out. */
  git_ref: string | null;
  /** Free-form label. */
  label: string | null;
  /** Hostnames routed to the workspace. */
  domains: WorkspaceDomain[];
  /** RFC 3339 of the last exec. */
  last_exec_at: string | null;
  /** RFC 3339 when paused for idleness (the next exec resumes it). */
  paused_at: string | null;
  /** Snapshot taken when it was paused. */
  auto_snapshot: string | null;
  /** MiB the tree uses on its own file system (with a disk limit, while the tree is there). */
  disk_used_mb?: number;
}

/** A page of workspaces. */
export interface WorkspaceList {
  /** The rows of this page. */
  rows: Workspace[];
  /** Rows matching, over all pages. */
  total: number;
  /** Page size used. */
  limit: number;
  /** Rows skipped. */
  offset: number;
}

/** What `POST /v1/workspaces/:id/fork` answers. */
export interface WorkspaceForkResponse {
  /** The workspace forked. */
  parent: Workspace;
  /** The new workspaces, `count` of them. */
  forks: Workspace[];
  /** The snapshot of the parent the forks were made from. */
  snapshot_id: string;
}

/** A snapshot of a workspace. */
export interface SnapshotRecord {
  /** `snap_` + 24 hex. */
  id: string;
  /** The workspace it was taken of. */
  workspace_id: string | null;
  /** Name given at creation. */
  name: string | null;
  /** RFC 3339. */
  created_at: string;
  /** Host path (blank for operators). */
  path: string;
  /** Bytes of its regular files. */
  size_bytes: number;
  /** Regular files. */
  file_count: number;
  /** A running exec was frozen for the copy. */
  frozen: boolean;
  /** Taken by an idle pause (it holds the paused workspace's tree). */
  auto: boolean;
  /**
   * Bytes its distinct blobs take on the state disk (holes are free): what
   * it counts against the tenant's storage budget, unless `auto`.
   */
  stored_bytes: number;
}

/** A code kernel's language. */
export type CodeLanguage = "python" | "node" | "typescript" | "bash";

/** One structured result of a `runCode` call (Tangle's `CodeResultPart`). */
export type CodeResultPart =
  | { type: "text"; value: string }
  | { type: "json"; value: unknown }
  | { type: "image"; format: "png" | "jpeg" | "svg"; /** base64, no `data:` prefix. */ data: string }
  | { type: "html"; value: string }
  | { type: "dataframe"; columns: { name: string; dtype: string }[]; rows: unknown[][]; truncated: boolean }
  | { type: "error"; name: string; message: string; traceback?: string };

/** The outcome of a `runCode` call (Tangle's `CodeExecutionResult`). */
export interface CodeExecutionResult {
  /** 0 ran to its end, 1 raised, 124 interrupted at its timeout, 137 the kernel died. */
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  results: CodeResultPart[];
  error?: { name: string; message: string; traceback?: string };
  /** (paddock) The kernel that ran it; `started` when this call started it (earlier variables are gone: `restartReason`). */
  kernel: KernelRef;
  /** (paddock) Where a `code.run` call ran (a session's workspace, or a one-call workspace deleted after it). */
  workspaceId?: string;
}

/** (paddock) Which kernel ran a call, and whether the call started it. */
export interface KernelRef {
  id: string;
  executionCount: number;
  started: boolean;
  restartReason?: "died" | "workspace-stopped" | "restarted";
}

/**
 * (paddock) One event of a streamed code call (`workspaces.runCodeStream`,
 * `code.stream`): the kernel once it is ready, output and rich results as
 * they come, then exactly one `completed` (the whole result) or `error`.
 */
export type CodeStreamEvent =
  | { type: "started"; kernel: KernelRef }
  | { type: "stdout" | "stderr"; text: string }
  | { type: "result"; part: CodeResultPart }
  | { type: "completed"; result: CodeExecutionResult }
  | { type: "error"; message: string; code?: string };

/** (paddock) A kernel of a running workspace. */
export interface KernelInfo {
  id: string;
  language: CodeLanguage;
  sessionId: string | null;
  /** `idle`, `busy` or `dead`. */
  state: string;
  executionCount: number;
  /** RFC 3339. */
  startedAt: string;
}

/** (paddock) `GET /v1/workspaces/:id/kernels`. */
export interface KernelList {
  kernels: KernelInfo[];
}

/** A page of snapshots. */
export interface SnapshotList {
  /** The rows of this page. */
  rows: SnapshotRecord[];
  /** Rows matching, over all pages. */
  total: number;
  /** Page size used. */
  limit: number;
  /** Rows skipped. */
  offset: number;
}

/** One file of a snapshot. */
export interface SnapshotManifestEntry {
  /** Path inside the snapshot. */
  path: string;
  /** Unix mode bits. */
  mode: number;
  /** BLAKE3-256 of the contents, hex. */
  hash: string;
  /** Size, bytes. */
  size: number;
}

/**
 * The files of a snapshot: listed for `incremental` (content-addressed)
 * snapshots; `classic` full copies have no entries.
 */
export interface SnapshotManifest {
  /** How the snapshot is stored. */
  kind: "incremental" | "classic";
  /** The files, for `incremental`. */
  entries: SnapshotManifestEntry[];
}

/** `data` of a stream's `started` event. */
export interface RunStarted {
  /** The jailed process's pid (in the host's namespace). */
  pid: number;
  /** (paddock) The run's ledger id (`jails.get(id)`). */
  id: number;
}

/**
 * `data` of a stream's `stdout` and `stderr` events in the default
 * `lines` framing.
 */
export interface RunOutputLine {
  /**
   * One line, without its newline (nor a `\r` before it); `""` for a
   * blank line. A `\r` inside the line (a progress bar redrawing itself)
   * arrives as `\n`: `10%\r50%` is `"10%\n50%"`. Bytes that are not
   * UTF-8 arrive as U+FFFD.
   */
  line: string;
}

/**
 * (paddock) `stdout` and `stderr` events with `output: "chunks"`: one
 * chunk as the jail wrote it. Concatenated, the chunks' `bytes` are the
 * jail's output byte for byte (up to the server's cap).
 */
export interface RunOutputChunk {
  /** The chunk's exact bytes, always present. */
  bytes: Uint8Array;
  /**
   * The chunk as text, when it is UTF-8 (the server holds back a
   * character split across writes until it is whole); absent for a
   * chunk that is not UTF-8, whose bytes are then only in `bytes`.
   */
  text?: string;
}

/**
 * `data` of a stream's `completed` event: the result without the output
 * (which came as events), with the final cgroup counters when the host
 * has a cgroup for the jail.
 */
export interface RunCompleted {
  /** (paddock) The run's ledger id (`jails.get(id)`). */
  id: number;
  /** Exit status. */
  exit_code: number;
  /** Wall time, milliseconds. */
  duration_ms: number;
  /** Whether the deadline ended the jail. */
  timed_out: boolean;
  /** Whether the memory limit killed it. */
  oom_killed: boolean;
  /** (paddock) stdout was longer than the server's capture cap and was cut. */
  stdout_truncated: boolean;
  /** (paddock) stderr was longer than the server's capture cap and was cut. */
  stderr_truncated: boolean;
  /** (paddock) The run was cancelled. */
  cancelled: boolean;
  /** (paddock) Connections the egress proxy refused or could not make. */
  egress_refusals?: EgressRefusal[];
  /** Peak memory, bytes. */
  memory_peak_bytes?: number;
  /** Memory at the end, bytes. */
  memory_current_bytes?: number;
  /** CPU time, microseconds. */
  cpu_usage_usec?: number;
  /** Block-device reads, bytes. */
  io_read_bytes?: number;
  /** Block-device writes, bytes. */
  io_write_bytes?: number;
  /** Processes at the end. */
  pids_current?: number;
}

/** `data` of a stream's `error` event: the jail could not run or finish. */
export interface RunFailed {
  /** Why. */
  message: string;
}

/** `data` of a stream's `egress` event: one connection through the allowlist proxy. */
export interface EgressRecord {
  /** `CONNECT`, or the forwarded request's method. */
  method: string;
  /** Host as the jail named it. */
  host: string;
  /** Port asked for. */
  port: number;
  /** Address connected to (or the first refused one). */
  address: string | null;
  /** `allowed`, `denied` or `failed`. */
  outcome: "allowed" | "denied" | "failed";
  /** Why it was denied, failed or closed early (`host_not_allowed`, ...). */
  reason: string | null;
  /** Human-readable explanation. */
  detail: string | null;
  /** HTTP status of a forwarded request or a refusal; `null` for a tunnel. */
  status: number | null;
  /** Bytes from the jail upstream. */
  bytes_up: number;
  /** Bytes from upstream to the jail. */
  bytes_down: number;
  /** Connection time, milliseconds. */
  duration_ms: number;
}

/** How a stream frames output: one event per line (default), or (paddock) per chunk, byte-exact. */
export type StreamOutput = "lines" | "chunks";

/** The data of `stdout` / `stderr` events in framing `O`. */
export type StreamOutputData<O extends StreamOutput = "lines"> = O extends "chunks" ? RunOutputChunk : RunOutputLine;

/**
 * One event of {@link Runs.stream | `runs.stream`} (and of the exec
 * streams): the SSE event name as `type`, plus its data. A stream is
 * `started`, then any number of `stdout`, `stderr`, `stats` (every
 * 500 ms) and `egress`, then exactly one `completed` or `error`, after
 * which iteration ends.
 *
 * `StreamEvent` (or `StreamEvent<"lines">`) has output as `line`s;
 * `StreamEvent<"chunks">` has output as {@link RunOutputChunk}s.
 */
export type StreamEvent<O extends StreamOutput = "lines"> =
  | ({ type: "started" } & RunStarted)
  | ({ type: "stdout" } & StreamOutputData<O>)
  | ({ type: "stderr" } & StreamOutputData<O>)
  | ({ type: "stats" } & ResourceStats)
  | ({ type: "egress" } & EgressRecord)
  | ({ type: "completed" } & RunCompleted)
  | ({ type: "error" } & RunFailed);

/** (paddock) An event of a stream with `output: "chunks"`. */
export type ChunkStreamEvent = StreamEvent<"chunks">;

/** The `type` of every {@link StreamEvent}. */
export type StreamEventType = StreamEvent["type"];

/** (paddock) What `POST /v1/runs/{id}/cancel` answers: the jail is being killed. */
export interface CancelResponse {
  /** The run's ledger id. */
  id: number;
  /** Always `true`; the jail's ledger row closes as `cancelled`. */
  cancelled: boolean;
}

/** (paddock) Whether a workspace runs: `workspaces.start`, `stop` and `state`. */
export interface WorkspaceRunState {
  /** The workspace. */
  id: string;
  /** `running` (its runtime jail is up) or `stopped`. */
  state: "running" | "stopped" | (string & {});
  /** RFC 3339, when its runtime jail started; only while running. */
  started_at?: string | null;
  /** Processes running in it. */
  processes: number;
}

/** A preview: a port of a running workspace exposed at a URL (paddock). */
export interface Preview {
  /** `prv_` and 24 hex digits. */
  id: string;
  /** The workspace whose port this exposes. */
  workspace_id: string;
  /** The port inside the workspace. */
  port: number;
  /** Whether anyone with the URL may use it. */
  public: boolean;
  /** `active`, `expired` or `revoked`. */
  state: "active" | "expired" | "revoked" | (string & {});
  /** The host-based URL (`http://{port}--{workspace}.{preview-domain}/`, or a workspace domain). */
  url: string;
  /** The path-based URL for API clients (needs the tenant's API key). */
  path_url: string;
  /** Private previews, in the creation answer only: `url?paddock_token=<secret>`, which a browser trades for a cookie. */
  access_url?: string | null;
  /** A workspace domain (agentjail's `domains`), if this preview serves one. */
  hostname?: string | null;
  /** RFC 3339, when it stops working, or `null`. */
  expires_at?: string | null;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339, when it was revoked. */
  revoked_at?: string | null;
}

/** `workspaces.previews.list`: active, expired and revoked, newest first. */
export interface PreviewList {
  previews: Preview[];
}

/** What a scoped token may do in its workspace (paddock). */
export type Capability = "processes" | "files:read" | "files:write" | "code" | "agents" | "previews" | "desktop" | "browser" | "mcp";

/** A scoped token: bound to one workspace and a set of capabilities, short-lived (paddock). Never its secret. */
export interface ScopedTokenRecord {
  /** `tok_` and 24 hex digits. */
  id: string;
  /** The one workspace it opens. */
  workspace_id: string;
  tenant: string;
  /** What it may do there, sorted. */
  capabilities: Capability[];
  label?: string | null;
  /** The API key that minted it. */
  created_by: string;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339, when it stops working. */
  expires_at: string;
  /** RFC 3339, when it was revoked. */
  revoked_at?: string | null;
  /** `active`, `expired` or `revoked`. */
  state: "active" | "expired" | "revoked" | (string & {});
}

/** `workspaces.tokens.create`: the record and the bearer token, shown this once. */
export interface CreatedScopedToken extends ScopedTokenRecord {
  /** `pdt_` and 64 hex digits; stored hashed, never shown again. */
  token: string;
}

/** `workspaces.tokens.list`: newest first, at most 200. */
export interface ScopedTokenList {
  tokens: ScopedTokenRecord[];
}

/** `workspaces.mcpConfig`: a paste-able `.mcp.json` with a freshly minted scoped token. */
export interface McpConfig {
  /** `{"mcpServers": {"<server_name>": {"type": "http", "url", "headers": {"Authorization": "Bearer pdt_…"}}}}`. */
  config: { mcpServers: Record<string, { type: "http"; url: string; headers: Record<string, string> }> };
  /** The key under `mcpServers`. */
  server_name: string;
  /** The workspace's MCP endpoint (Streamable HTTP). */
  url: string;
  /** The scoped token in `config` (shown this once). */
  token: string;
  token_id: string;
  /** RFC 3339, when the token stops working; ask again for a new one. */
  expires_at: string;
  capabilities: Capability[];
}

// ---------------------------------------------------------------- runtime
//
// The runtime API under each workspace's base URL
// (`/v1/workspaces/{id}/runtime`) speaks sandbox-agent 0.4.2's wire
// shapes, whose fields are camelCase.

/** `GET …/runtime/v1/health`. */
export interface RuntimeHealth {
  /** `ok`. */
  status: string;
}

/**
 * An error of the runtime API, as RFC 9457 Problem Details
 * (`application/problem+json`). A `PaddockError`'s `message` is its
 * `detail`, its `serverCode` paddock's stable `code`, and its `body` this.
 */
export interface ProblemDetails {
  /** `urn:sandbox-agent:error:<kind>` (`invalid_request`, `not_found`, `conflict`, ...) or `urn:paddock:error:<CODE>`. */
  type: string;
  /** Short title of the kind. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What was wrong. */
  detail?: string | null;
  /** paddock's stable error code (`PROCESS_NOT_FOUND`, `PATH_NOT_FOUND`, ...). */
  code: string;
  /** Machine-readable facts, as sandbox-agent gives them (`{message}`, `{id, resource}`). */
  details?: unknown;
  /** The missing session (ACP server, configuration entry) of a `session_not_found`. */
  sessionId?: string | null;
}

/** Who started a process. */
export type ProcessOwner = "user" | "desktop" | "system";

/** Whether a process still runs. */
export type ProcessState = "running" | "exited";

/** Which output a log read returns: `combined` (stdout and stderr in order) is the default of pipe processes, `pty` of terminal ones. */
export type ProcessLogsStream = "stdout" | "stderr" | "combined" | "pty";

/** What `processes.run` answers when the command has ended. */
export interface ProcessRunResponse {
  /** Exit code; `null` or absent when a signal (or the deadline) ended it. */
  exitCode?: number | null;
  /** The deadline passed and the process was killed. */
  timedOut: boolean;
  /** Standard output (UTF-8, lossy). */
  stdout: string;
  /** Standard error (UTF-8, lossy). */
  stderr: string;
  /** Standard output passed `maxOutputBytes` and was cut. */
  stdoutTruncated: boolean;
  /** Standard error passed `maxOutputBytes` and was cut. */
  stderrTruncated: boolean;
  /** Wall time, milliseconds. */
  durationMs: number;
}

/** A managed process of a workspace. */
export interface ProcessInfo {
  /** `proc_N`, unique within the workspace. */
  id: string;
  /** The program. */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Its working directory, when one was given. */
  cwd?: string | null;
  /** On a terminal. */
  tty: boolean;
  /** Standard input open for `input`. */
  interactive: boolean;
  /** Who started it. */
  owner: ProcessOwner;
  /** `running` or `exited`. */
  status: ProcessState;
  /** Its pid inside the workspace's jail, while running. */
  pid?: number | null;
  /** Exit code, once exited (absent when a signal ended it). */
  exitCode?: number | null;
  /** Start, milliseconds since the epoch. */
  createdAtMs: number;
  /** End, milliseconds since the epoch. */
  exitedAtMs?: number | null;
}

/** `GET …/v1/processes`. */
export interface ProcessListResponse {
  /** Every process record of the workspace, oldest first. */
  processes: ProcessInfo[];
}

/** One chunk of a process's output, as on the wire. */
export interface ProcessLogEntry {
  /** Increasing per process, from 1. */
  sequence: number;
  /** The stream it came from. */
  stream: ProcessLogsStream;
  /** When it was read, milliseconds since the epoch. */
  timestampMs: number;
  /** The bytes, encoded as `encoding` says (base64). */
  data: string;
  /** `base64`. */
  encoding: string;
}

/**
 * (SDK) A {@link ProcessLogEntry} with its bytes decoded: what
 * `processes.logs` and `processes.follow` give.
 */
export interface ProcessLogChunk extends ProcessLogEntry {
  /** The chunk's bytes (`data` decoded). */
  bytes: Uint8Array;
}

/** `GET …/v1/processes/{id}/logs`, as on the wire. */
export interface ProcessLogsResponse {
  /** The process. */
  processId: string;
  /** The stream asked for. */
  stream: ProcessLogsStream;
  /** The retained chunks that match. */
  entries: ProcessLogEntry[];
}

/** (SDK) What `processes.logs` returns: the {@link ProcessLogsResponse} with each entry's bytes decoded. */
export interface ProcessLogs extends Omit<ProcessLogsResponse, "entries"> {
  /** The retained chunks that match, decoded. */
  entries: ProcessLogChunk[];
}

/** What an input call wrote. */
export interface ProcessInputResponse {
  /** Bytes delivered to the process's input. */
  bytesWritten: number;
}

/** A terminal's size: `processes.resize` takes and answers it. */
export interface ProcessTerminalSize {
  /** Columns. */
  cols: number;
  /** Rows. */
  rows: number;
}

/** Limits of a running workspace's processes (`processes.config`, `processes.setConfig`). */
export interface ProcessConfig {
  /** Processes running at once in the workspace. */
  maxConcurrentProcesses: number;
  /** Deadline of a run without `timeoutMs`, ms. */
  defaultRunTimeoutMs: number;
  /** Longest deadline a run may ask for, ms. */
  maxRunTimeoutMs: number;
  /** Bytes kept of each stream of a run. */
  maxOutputBytes: number;
  /** Bytes of output kept per managed process (older chunks are dropped). */
  maxLogBytesPerProcess: number;
  /** Largest input call, bytes. */
  maxInputBytesPerRequest: number;
}

/** (SDK) The terminal WebSocket's first frame. */
export interface TerminalReadyFrame {
  type: "ready";
  /** The process. */
  processId: string;
}

/** (SDK) The terminal WebSocket's frame when the process has ended. */
export interface TerminalExitFrame {
  type: "exit";
  /** Exit code; `null` when a signal ended it. */
  exitCode: number | null;
}

/** A file or a directory. */
export type FsEntryType = "file" | "directory";

/** One entry of a directory listing. */
export interface FsEntry {
  /** File name. */
  name: string;
  /** Path inside the jail. */
  path: string;
  /** `file` (anything that is not a directory, symlinks included) or `directory`. */
  entryType: FsEntryType;
  /** Size, bytes. */
  size: number;
  /** Last modification, RFC 3339. */
  modified?: string | null;
}

/** `files.stat`. */
export interface FsStat {
  /** Path inside the jail. */
  path: string;
  /** File or directory. */
  entryType: FsEntryType;
  /** Size, bytes. */
  size: number;
  /** Last modification, RFC 3339. */
  modified?: string | null;
}

/** What `files.write` answers. */
export interface FsWriteResponse {
  /** Path inside the jail. */
  path: string;
  /** Bytes stored. */
  bytesWritten: number;
}

/** What `files.delete` and `files.mkdir` answer. */
export interface FsActionResponse {
  /** Path inside the jail. */
  path: string;
}

/** What `files.move` answers. */
export interface FsMoveResponse {
  /** Source path. */
  from: string;
  /** Destination path. */
  to: string;
}

/** What `files.uploadTar` answers. */
export interface FsUploadBatchResponse {
  /** Paths written, inside the jail (at most 1024). */
  paths: string[];
  /** The list of paths was cut short (every entry was still written). */
  truncated: boolean;
}

// --- Coding agents (`…/runtime/v1/agents`, `…/runtime/v1/acp`) ------------

/** What an agent can do (sandbox-agent's 18 flags). */
export interface AgentCapabilities {
  planMode: boolean;
  permissions: boolean;
  questions: boolean;
  toolCalls: boolean;
  toolResults: boolean;
  textMessages: boolean;
  images: boolean;
  fileAttachments: boolean;
  sessionLifecycle: boolean;
  errorEvents: boolean;
  reasoning: boolean;
  status: boolean;
  commandExecution: boolean;
  fileChanges: boolean;
  mcpTools: boolean;
  streamingDeltas: boolean;
  itemStarted: boolean;
  sharedProcess: boolean;
}

/** Whether an ACP server of the agent runs in the workspace. */
export interface ServerStatusInfo {
  /** `running` or `stopped`. */
  status: string;
  /** How long the oldest running one has run, ms. */
  uptimeMs?: number | null;
}

/** One coding agent as a workspace sees it. */
export interface AgentInfo {
  /** `claude`, `codex`, `opencode`, `amp`, `pi`, `cursor` or `mock`. */
  id: string;
  /** Installed on the server's host (`paddock agents install`), or built in. */
  installed: boolean;
  /** The tenant has a credential for the model service the agent calls. */
  credentialsAvailable: boolean;
  /** The installed agent's version. */
  version?: string | null;
  /** Its ACP server inside the workspace. */
  path?: string | null;
  capabilities: AgentCapabilities;
  /** Models, modes and thought levels (with `config: true`). */
  configOptions?: unknown[] | null;
  /** Why the agent cannot run here, when it cannot. */
  configError?: string | null;
  serverStatus?: ServerStatusInfo | null;
}

/** `GET …/v1/agents`. */
export interface AgentListResponse {
  agents: AgentInfo[];
}

/** `POST …/v1/agents/{agent}/install`. */
export interface AgentInstallRequest {
  /** Install again when installed. */
  reinstall?: boolean | null;
  /** Must be the pinned version when given. */
  agentVersion?: string | null;
  /** Must be the pinned adapter version when given. */
  agentProcessVersion?: string | null;
}

/** One thing an install put in place. */
export interface AgentInstallArtifact {
  /** `agent_process` (the ACP server) or `native_agent` (the CLI it drives). */
  kind: string;
  path: string;
  /** `builtin` or `npm:<package>`. */
  source: string;
  version?: string | null;
}

/** The answer of an install. */
export interface AgentInstallResponse {
  already_installed: boolean;
  artifacts: AgentInstallArtifact[];
}

/** One ACP server of a workspace. */
export interface AcpServerInfo {
  serverId: string;
  agent: string;
  createdAtMs: number;
  /** (ext) `running`, or `exited` once its agent process ended. */
  status: string;
}

/** `GET …/v1/acp`. */
export interface AcpServerListResponse {
  servers: AcpServerInfo[];
}

/** A JSON-RPC 2.0 envelope as the Agent Client Protocol carries it. */
export type AcpEnvelope = Record<string, unknown>;

/** One stored envelope of an ACP server's transcript. */
export interface AcpEvent {
  /** Grows by one per envelope from 1; the SSE `id`. */
  index: number;
  /** `outbound` (client to agent) or `inbound` (agent to client). */
  direction: string;
  createdAtMs: number;
  envelope: AcpEnvelope;
}

/** `GET …/v1/acp/{server}/events`. */
export interface AcpEventList {
  events: AcpEvent[];
  hasMore: boolean;
}

/** (paddock) How an agent session answers the agent's permission requests. */
export type PermissionPolicy = "ask" | "allow" | "reject";

/** (paddock) A permission request of the agent waiting for an answer. */
export interface PendingPermission {
  /** The `request` to answer with `agentSessions.answerPermission`. */
  id: string;
  turnId: string;
  /** ACP's `toolCall` (null when the agent sent none). */
  toolCall: Record<string, unknown> | null;
  /** The options offered (`{optionId, name, kind}`). */
  options: unknown;
}

/** (paddock) An agent session: a coding agent's ACP session driven by paddock. */
export interface AgentSession {
  id: string;
  workspaceId: string;
  agent: string;
  /** The ACP server its agent runs as (its transcript: `runtime(id).agents.events(serverId)`). */
  serverId: string;
  acpSessionId: string;
  cwd: string;
  mode?: string;
  permissions: PermissionPolicy;
  /** `idle`, `streaming` or `exited` (the next turn starts the agent again). */
  status: string;
  turns: number;
  pendingPermissions: PendingPermission[];
  createdAt: number;
}

/** `GET /v1/workspaces/{id}/agent-sessions`. */
export interface AgentSessionList {
  sessions: AgentSession[];
}

/** A tool call of a turn as its last update left it. */
export interface TurnToolCall {
  toolCallId: string;
  title?: string;
  kind?: string;
  status?: string;
}

/** (paddock) One turn of an agent session, with Tangle's marker. */
export interface AgentTurn {
  turnId: string;
  sessionId: string;
  /** `streaming`, `completed` or `interrupted`. */
  status: string;
  /** The prompt as ACP content blocks. */
  prompt: unknown;
  /** The agent's message. */
  text: string;
  toolCalls: TurnToolCall[];
  stopReason?: string;
  interruptReason?: string;
  usage?: unknown;
  serverId: string;
  firstEvent: number;
  lastEvent?: number;
  startedAt: number;
  completedAt?: number;
  interruptedAt?: number;
  /** True on a prompt whose `turnId` had been seen: nothing ran. */
  replayed: boolean;
}

/** `GET …/agent-sessions/{session}/turns`. */
export interface AgentTurnList {
  turns: AgentTurn[];
}

/** An MCP server of a directory's agents (sandbox-agent's `McpServerConfig`); `stdio` and `http` are read as `local` and `remote`. */
export type McpServerConfig =
  | {
      type: "local" | "stdio";
      command: string;
      args?: string[];
      cwd?: string | null;
      enabled?: boolean | null;
      env?: Record<string, string> | null;
      timeoutMs?: number | null;
    }
  | {
      type: "remote" | "http";
      url: string;
      bearerTokenEnvVar?: string | null;
      enabled?: boolean | null;
      envHeaders?: Record<string, string> | null;
      headers?: Record<string, string> | null;
      oauth?: Record<string, unknown> | null;
      timeoutMs?: number | null;
      transport?: string | null;
    };

/** Where skills come from (`local`: a workspace directory; `git`: a repository URL; `github`: `owner/repo`). */
export interface SkillSource {
  type: string;
  source: string;
  skills?: string[] | null;
  ref?: string | null;
  subpath?: string | null;
}

/** The skills of a directory's agents (sandbox-agent's `SkillsConfig`). */
export interface SkillsConfig {
  sources: SkillSource[];
}

// ---------------------------------------------------------------- desktop
//
// A workspace's browser under its runtime base URL (`…/v1/browser`).

/** An image a browser command made (a screenshot), base64. */
export interface BrowserImage {
  /** `image/png` or `image/jpeg`. */
  mimeType: string;
  /** The bytes, base64. */
  data: string;
}

/** What a browser command answered. */
export interface BrowserCommandResponse {
  command: string;
  session: string;
  /** agent-browser's `data` (`snapshot` and `refs` for a snapshot, `text` for `get text`, …). */
  data: Record<string, unknown>;
  /** A screenshot taken without a path of the caller's. */
  image?: BrowserImage | null;
  durationMs: number;
}

// A workspace's desktop under its runtime base URL (sandbox-agent 0.4.2's
// `/v1/desktop/*` shapes, camelCase).

/** The desktop's state. */
export type DesktopState = "inactive" | "install_required" | "starting" | "active" | "stopping" | "failed";

/** A display's size. */
export interface DesktopResolution {
  width: number;
  height: number;
  dpi?: number | null;
}

/** Why the desktop failed. */
export interface DesktopErrorInfo {
  code: string;
  message: string;
}

/** One of the desktop's own processes (Xvfb, openbox). */
export interface DesktopProcessInfo {
  name: string;
  pid?: number | null;
  running: boolean;
  logPath?: string | null;
}

/** A top-level window. */
export interface DesktopWindowInfo {
  /** The X window id, `0x…`. */
  id: string;
  title: string;
  x: number;
  y: number;
  width: number;
  height: number;
  isActive: boolean;
}

/** `runtime(id).desktop.status()` (and what start and stop answer). */
export interface DesktopStatusResponse {
  state: DesktopState;
  display?: string;
  resolution?: DesktopResolution;
  startedAt?: string;
  lastError?: DesktopErrorInfo;
  /** What is missing for `install_required`. */
  missingDependencies: string[];
  installCommand?: string;
  processes: DesktopProcessInfo[];
  runtimeLogPath?: string;
  windows: DesktopWindowInfo[];
}

/** `desktop.displayInfo()`. */
export interface DesktopDisplayInfoResponse {
  display: string;
  resolution: DesktopResolution;
}

/** Where the pointer is (every mouse call answers it). */
export interface DesktopMousePositionResponse {
  x: number;
  y: number;
  screen?: number | null;
  window?: string | null;
}

/** What an action answers. */
export interface DesktopActionResponse {
  ok: boolean;
}

/** `desktop.windows()`. */
export interface DesktopWindowListResponse {
  windows: DesktopWindowInfo[];
}

/** `desktop.clipboard()`. */
export interface DesktopClipboardResponse {
  selection: string;
  text: string;
}

/** `desktop.launch()`. */
export interface DesktopLaunchResponse {
  processId: string;
  pid?: number | null;
  windowId?: string | null;
}

/** `desktop.open()`. */
export interface DesktopOpenResponse {
  processId: string;
  pid?: number | null;
}

/** A recording (MP4). */
export interface DesktopRecordingInfo {
  id: string;
  /** Its path in the workspace. */
  fileName: string;
  bytes: number;
  status: "recording" | "completed" | "failed" | (string & {});
  startedAt: string;
  endedAt?: string | null;
  processId?: string | null;
}

/** `desktop.recordings()`. */
export interface DesktopRecordingListResponse {
  recordings: DesktopRecordingInfo[];
}

/** `desktop.streamStatus()`: paddock serves no WebRTC stream. */
export interface DesktopStreamStatusResponse {
  active: boolean;
  processId?: string | null;
  windowId?: string | null;
}
