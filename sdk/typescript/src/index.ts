/**
 * `@paddock/sdk`: TypeScript client for the paddock control plane,
 * with the agentjail SDK's surface (`Agentjail`, `AgentjailError` are
 * aliases), so code written for it runs by changing the import.
 *
 * @module
 */

export { Paddock, Paddock as Agentjail } from "./client.js";
export { PaddockError, PaddockError as AgentjailError } from "./errors.js";
export type { AgentjailErrorCode, PaddockErrorCode, PaddockErrorInit } from "./errors.js";
export { API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_TIMEOUT_MS, JAIL_GRACE_MS, URL_ENV } from "./http.js";
export type { FetchLike, HttpConfig, PaddockOptions, RetryOptions } from "./http.js";
export { SseParser } from "./sse.js";
export type { SseMessage } from "./sse.js";
export type { Credentials } from "./resources/credentials.js";
export type { Sessions } from "./resources/sessions.js";
export type { Runs } from "./resources/runs.js";
export type { Workspaces } from "./resources/workspaces.js";
export type { RuntimeFiles, RuntimeProcesses, WorkspaceRuntime } from "./resources/runtime.js";
export { TerminalSession } from "./terminal.js";
export type { TerminalCloseInfo, WebSocketConstructor, WebSocketLike } from "./terminal.js";
export type { Snapshots } from "./resources/snapshots.js";
export type { Audit, Jails } from "./resources/ledger.js";
export type { Public } from "./resources/public.js";
export type {
  AuditActionsParams,
  CallOptions,
  CredentialPutRequest,
  ExecOptions,
  FileData,
  FileDeleteOptions,
  FileMoveOptions,
  ForkChild,
  ForkRequest,
  ForkRequestBase,
  GitRepo,
  GitSeed,
  JailLimits,
  JailListParams,
  NetworkSpec,
  ProcessCreateRequest,
  ProcessFollowOptions,
  ProcessListParams,
  ProcessLogsParams,
  ProcessRunRequest,
  ProcessSignalOptions,
  RunLanguage,
  RunRequest,
  SessionCreateRequest,
  SessionExecRequest,
  SessionExecStreamRequest,
  SessionListParams,
  SnapshotCreateRequest,
  SnapshotListParams,
  StreamOptions,
  StreamRequest,
  TerminalOptions,
  WorkspaceCreateRequest,
  WorkspaceExecRequest,
  WorkspaceExecStreamRequest,
  WorkspaceForkRequest,
  WorkspaceFromSnapshotRequest,
  WorkspaceListParams,
  WorkspaceUpdateRequest,
} from "./options.js";
export type {
  ActionList,
  ActionRow,
  AuditList,
  CancelResponse,
  ChunkStreamEvent,
  AuditRow,
  CredentialRecord,
  EffectiveLimits,
  EgressRecord,
  EgressRefusal,
  ErrorBody,
  ExecResult,
  ForkMeta,
  ForkResponse,
  FsActionResponse,
  FsEntry,
  FsEntryType,
  FsMoveResponse,
  FsStat,
  FsUploadBatchResponse,
  FsWriteResponse,
  ForkResult,
  Health,
  JailKind,
  JailLedgerConfig,
  JailRecord,
  JailStatus,
  JailsList,
  NetworkMode,
  ProblemDetails,
  ProcessConfig,
  ProcessInfo,
  ProcessInputResponse,
  ProcessListResponse,
  ProcessLogChunk,
  ProcessLogEntry,
  ProcessLogs,
  ProcessLogsResponse,
  ProcessLogsStream,
  ProcessOwner,
  ProcessRunResponse,
  ProcessState,
  ProcessTerminalSize,
  PublicStats,
  ResourceStats,
  Role,
  RunCompleted,
  RunFailed,
  RunOutputChunk,
  RunOutputLine,
  RunStarted,
  RuntimeHealth,
  SeccompSpec,
  ServiceId,
  Session,
  SessionRecord,
  SessionStatus,
  SnapshotList,
  SnapshotManifest,
  SnapshotManifestEntry,
  SnapshotRecord,
  StreamEvent,
  StreamEventType,
  StreamOutput,
  StreamOutputData,
  TerminalExitFrame,
  TerminalReadyFrame,
  Whoami,
  Workspace,
  WorkspaceDomain,
  WorkspaceForkResponse,
  WorkspaceList,
  WorkspaceRunState,
  WorkspaceSpec,
} from "./wire.js";
