"""The API's schemas as pydantic models.

Generated from openapi.json by scripts/gen_models.py; do not edit.
Every model also answers ``model["wire_name"]`` (agentjail's clients
returned dicts), and unknown fields a newer server sends are kept.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import Field

from ._base import ExecResultMixin, PaddockModel, SessionMixin

__all__ = [
    "AcpEnvelope",
    "AcpEvent",
    "AcpEventList",
    "AcpServerInfo",
    "AcpServerListResponse",
    "ActionList",
    "ActionRow",
    "AgentCapabilities",
    "AgentInfo",
    "AgentInstallArtifact",
    "AgentInstallRequest",
    "AgentInstallResponse",
    "AgentListResponse",
    "AgentSession",
    "AgentSessionList",
    "AgentTurn",
    "AgentTurnList",
    "AuditList",
    "AuditRow",
    "BrowserCommandRequest",
    "BrowserCommandResponse",
    "BrowserImage",
    "CancelResponse",
    "Capability",
    "Check",
    "CodeError",
    "CodeExecutionResult",
    "CodeLanguage",
    "CodeRequest",
    "ControlPlaneSettings",
    "CreateAgentSession",
    "CreateTurn",
    "CreatedKey",
    "CreatedScopedToken",
    "CredentialRecord",
    "DatabaseCheck",
    "DataframeColumn",
    "DesktopActionResponse",
    "DesktopClipboardResponse",
    "DesktopClipboardWriteRequest",
    "DesktopDisplayInfoResponse",
    "DesktopErrorInfo",
    "DesktopKeyModifiers",
    "DesktopKeyRequest",
    "DesktopKeyboardPressRequest",
    "DesktopKeyboardTypeRequest",
    "DesktopLaunchRequest",
    "DesktopLaunchResponse",
    "DesktopMouseButton",
    "DesktopMouseButtonRequest",
    "DesktopMouseClickRequest",
    "DesktopMouseDragRequest",
    "DesktopMouseMoveRequest",
    "DesktopMousePositionResponse",
    "DesktopMouseScrollRequest",
    "DesktopOpenRequest",
    "DesktopOpenResponse",
    "DesktopProcessInfo",
    "DesktopRecordingInfo",
    "DesktopRecordingListResponse",
    "DesktopRecordingStartRequest",
    "DesktopRecordingStatus",
    "DesktopResolution",
    "DesktopStartRequest",
    "DesktopState",
    "DesktopStatusResponse",
    "DesktopStreamStatusResponse",
    "DesktopWindowInfo",
    "DesktopWindowListResponse",
    "DesktopWindowMoveRequest",
    "DesktopWindowResizeRequest",
    "DiskCheck",
    "EgressAttempt",
    "EgressRefusal",
    "ErrorBody",
    "ExecRequest",
    "ExecResult",
    "ExecSettings",
    "Flavor",
    "ForkChild",
    "ForkMeta",
    "ForkRequest",
    "ForkResponse",
    "FromSnapshot",
    "FsActionResponse",
    "FsEntry",
    "FsEntryType",
    "FsMoveRequest",
    "FsMoveResponse",
    "FsStat",
    "FsUploadBatchResponse",
    "FsWriteResponse",
    "GatewaySettings",
    "GitSeed",
    "Health",
    "ImageFormat",
    "JailOptions",
    "JailRecord",
    "JailsList",
    "JsonObject",
    "KernelInfo",
    "KernelList",
    "KernelRef",
    "KeyRecord",
    "KeyRole",
    "McpConfig",
    "NetworkSpec",
    "NewKey",
    "NewPreview",
    "NewScopedToken",
    "NewSession",
    "NewSnapshot",
    "NewWorkspace",
    "PendingPermission",
    "PermissionAnswer",
    "PermissionPolicy",
    "PermissionReply",
    "PersistenceSettings",
    "Preview",
    "PreviewList",
    "ProblemDetails",
    "ProcessConfig",
    "ProcessCreateRequest",
    "ProcessInfo",
    "ProcessInputRequest",
    "ProcessInputResponse",
    "ProcessListResponse",
    "ProcessLogEntry",
    "ProcessLogsResponse",
    "ProcessLogsStream",
    "ProcessOwner",
    "ProcessRunRequest",
    "ProcessRunResponse",
    "ProcessState",
    "ProcessTerminalSize",
    "Provider",
    "ProxySettings",
    "PublicStats",
    "PutCredential",
    "Readiness",
    "ReadinessChecks",
    "RepoSpec",
    "ResourceStats",
    "RunRequest",
    "RuntimeHealth",
    "ScopedTokenList",
    "ScopedTokenRecord",
    "ServerStatusInfo",
    "Session",
    "Settings",
    "SkillSource",
    "SkillsConfig",
    "SnapshotGc",
    "SnapshotList",
    "SnapshotManifest",
    "SnapshotManifestEntry",
    "SnapshotRecord",
    "SnapshotSettings",
    "StringMap",
    "TenantBudgets",
    "TenantStorage",
    "TurnToolCall",
    "Whoami",
    "Workspace",
    "WorkspaceDomain",
    "WorkspaceExec",
    "WorkspaceForkRequest",
    "WorkspaceForkResponse",
    "WorkspaceList",
    "WorkspaceRunState",
    "WorkspaceSpec",
    "WorkspaceUpdate",
]


Capability = Literal["processes", "files:read", "files:write", "code", "agents", "previews", "desktop", "browser", "mcp"]
"""What a scoped token may do in its workspace. Each route under the"""

CodeLanguage = Literal["python", "node", "typescript", "bash"]
"""A kernel's language."""

DesktopMouseButton = Literal["left", "middle", "right"]
"""A mouse button."""

DesktopRecordingStatus = Literal["recording", "completed", "failed"]
"""A recording's state."""

DesktopState = Literal["inactive", "install_required", "starting", "active", "stopping", "failed"]
"""The desktop's state."""

FsEntryType = Literal["file", "directory"]
"""A file or a directory."""

ImageFormat = Literal["png", "jpeg", "svg"]
"""An image part's format."""

KeyRole = Literal["admin", "operator"]
"""What a key may do."""

PermissionPolicy = Literal["ask", "allow", "reject"]
"""How an agent session answers the agent's permission requests."""

PermissionReply = Literal["once", "always", "reject"]
"""How a permission request is answered."""

ProcessLogsStream = Literal["stdout", "stderr", "combined", "pty"]
"""Which output a log read returns."""

ProcessOwner = Literal["user", "desktop", "system"]
"""Who started a process."""

ProcessState = Literal["running", "exited"]
"""Whether a process still runs."""


class AcpEnvelope(PaddockModel):
    """A JSON-RPC 2.0 envelope (a request, a response or a notification) as
    the Agent Client Protocol carries it, passed on unchanged.
    """

    pass


class AcpEvent(PaddockModel):
    """One envelope of an ACP server's transcript."""

    created_at_ms: int = Field(alias="createdAtMs")
    direction: str
    envelope: Dict[str, Any]
    index: int


class AcpEventList(PaddockModel):
    """`GET …/v1/acp/{server}/events` (ext): the transcript, both directions."""

    events: List[AcpEvent]
    has_more: bool = Field(alias="hasMore")


class AcpServerInfo(PaddockModel):
    """One ACP server of a workspace."""

    agent: str
    created_at_ms: int = Field(alias="createdAtMs")
    server_id: str = Field(alias="serverId")
    status: str


class AcpServerListResponse(PaddockModel):
    """`GET …/v1/acp`."""

    servers: List[AcpServerInfo]


class ActionList(PaddockModel):
    """(ext) `{rows, total}` of the control-plane actions, newest first."""

    rows: List[ActionRow]
    total: int


class ActionRow(PaddockModel):
    """(ext) A control-plane action: who did what to which object."""

    action: str
    actor: str
    at: str
    id: int
    target: str
    tenant_id: str


class AgentCapabilities(PaddockModel):
    """What an agent can do, as sandbox-agent reports it (18 flags)."""

    command_execution: bool = Field(alias="commandExecution")
    error_events: bool = Field(alias="errorEvents")
    file_attachments: bool = Field(alias="fileAttachments")
    file_changes: bool = Field(alias="fileChanges")
    images: bool
    item_started: bool = Field(alias="itemStarted")
    mcp_tools: bool = Field(alias="mcpTools")
    permissions: bool
    plan_mode: bool = Field(alias="planMode")
    questions: bool
    reasoning: bool
    session_lifecycle: bool = Field(alias="sessionLifecycle")
    shared_process: bool = Field(alias="sharedProcess")
    status: bool
    streaming_deltas: bool = Field(alias="streamingDeltas")
    text_messages: bool = Field(alias="textMessages")
    tool_calls: bool = Field(alias="toolCalls")
    tool_results: bool = Field(alias="toolResults")


class AgentInfo(PaddockModel):
    """One agent: `GET …/v1/agents` lists them, `GET …/v1/agents/{agent}`
    gives one.
    """

    capabilities: AgentCapabilities
    config_error: Optional[str] = Field(default=None, alias="configError")
    config_options: Optional[List[Any]] = Field(default=None, alias="configOptions")
    credentials_available: bool = Field(alias="credentialsAvailable")
    id: str
    installed: bool
    path: Optional[str] = None
    server_status: Optional[ServerStatusInfo] = Field(default=None, alias="serverStatus")
    version: Optional[str] = None


class AgentInstallArtifact(PaddockModel):
    """One thing an install put in place."""

    kind: str
    path: str
    source: str
    version: Optional[str] = None


class AgentInstallRequest(PaddockModel):
    """`POST …/v1/agents/{agent}/install`."""

    agent_process_version: Optional[str] = Field(default=None, alias="agentProcessVersion")
    agent_version: Optional[str] = Field(default=None, alias="agentVersion")
    reinstall: Optional[bool] = None


class AgentInstallResponse(PaddockModel):
    """The answer of an install (sandbox-agent's snake_case field included)."""

    already_installed: bool
    artifacts: List[AgentInstallArtifact]


class AgentListResponse(PaddockModel):
    """`GET …/v1/agents`."""

    agents: List[AgentInfo]


class AgentSession(PaddockModel):
    """One agent session."""

    acp_session_id: str = Field(alias="acpSessionId")
    agent: str
    created_at: int = Field(alias="createdAt")
    cwd: str
    id: str
    mode: Optional[str] = None
    pending_permissions: List[PendingPermission] = Field(alias="pendingPermissions")
    permissions: str
    server_id: str = Field(alias="serverId")
    status: str
    turns: int
    workspace_id: str = Field(alias="workspaceId")


class AgentSessionList(PaddockModel):
    """`GET /v1/workspaces/{id}/agent-sessions`."""

    sessions: List[AgentSession]


class AgentTurn(PaddockModel):
    """One turn: a prompt and what the agent made of it."""

    completed_at: Optional[int] = Field(default=None, alias="completedAt")
    first_event: int = Field(alias="firstEvent")
    interrupt_reason: Optional[str] = Field(default=None, alias="interruptReason")
    interrupted_at: Optional[int] = Field(default=None, alias="interruptedAt")
    last_event: Optional[int] = Field(default=None, alias="lastEvent")
    prompt: List[Dict[str, Any]]
    replayed: bool
    server_id: str = Field(alias="serverId")
    session_id: str = Field(alias="sessionId")
    started_at: int = Field(alias="startedAt")
    status: str
    stop_reason: Optional[str] = Field(default=None, alias="stopReason")
    text: str
    tool_calls: List[TurnToolCall] = Field(alias="toolCalls")
    turn_id: str = Field(alias="turnId")
    usage: Optional[Dict[str, Any]] = None


class AgentTurnList(PaddockModel):
    """`GET …/agent-sessions/{session}/turns`."""

    turns: List[AgentTurn]


class AuditList(PaddockModel):
    """`{rows, total}` of the proxy's audit log, newest first."""

    rows: List[AuditRow]
    total: int


class AuditRow(PaddockModel):
    """One request through the phantom proxy (agentjail's `AuditRow`)."""

    at: str
    id: int
    method: str
    path: str
    reject_reason: Optional[str] = None
    service: str
    session_id: str
    status: int
    upstream_ms: Optional[int] = None


class BrowserCommandRequest(PaddockModel):
    """`POST …/runtime/v1/browser`: one agent-browser command."""

    args: Optional[List[str]] = None
    command: str
    session: Optional[str] = None
    timeout_ms: Optional[int] = Field(default=None, alias="timeoutMs")


class BrowserCommandResponse(PaddockModel):
    """What a command answered."""

    command: str
    data: Dict[str, Any]
    duration_ms: int = Field(alias="durationMs")
    image: Optional[BrowserImage] = None
    session: str


class BrowserImage(PaddockModel):
    """An image a command made (a screenshot), base64."""

    data: str
    mime_type: str = Field(alias="mimeType")


class CancelResponse(PaddockModel):
    """The answer of `POST /v1/runs/{id}/cancel`."""

    cancelled: bool
    id: int


class Check(PaddockModel):
    """One readiness check."""

    error: Optional[str] = None
    ok: bool


class CodeError(PaddockModel):
    """The error of a call whose code raised (or was interrupted)."""

    message: str
    name: str
    traceback: Optional[str] = None


class CodeExecutionResult(PaddockModel):
    """Tangle's `CodeExecutionResult`."""

    duration_ms: int = Field(alias="durationMs")
    error: Optional[CodeError] = None
    exit_code: int = Field(alias="exitCode")
    kernel: KernelRef
    results: List[Dict[str, Any]]
    stderr: str
    stdout: str
    workspace_id: Optional[str] = Field(default=None, alias="workspaceId")


class CodeRequest(PaddockModel):
    """`POST /v1/workspaces/{id}/code`: the code and Tangle's
    `CodeExecutionOptions`.
    """

    code: str
    cwd: Optional[str] = None
    env: Optional[Dict[str, str]] = None
    idempotency_key: Optional[str] = Field(default=None, alias="idempotencyKey")
    language: str
    session_id: Optional[str] = Field(default=None, alias="sessionId")
    timeout_ms: Optional[int] = Field(default=None, alias="timeoutMs")


class ControlPlaneSettings(PaddockModel):
    """The control plane's own listener."""

    bind_addr: Optional[str] = None


class CreateAgentSession(PaddockModel):
    """`POST /v1/workspaces/{id}/agent-sessions`."""

    agent: str
    cwd: Optional[str] = None
    id: Optional[str] = None
    mode: Optional[str] = None
    permissions: Optional[str] = None


class CreateTurn(PaddockModel):
    """`POST …/agent-sessions/{session}/turns`."""

    detach: Optional[bool] = None
    prompt: Union[str, List[Dict[str, Any]]]
    turn_id: Optional[str] = Field(default=None, alias="turnId")


class CreatedKey(PaddockModel):
    """A new key, with its token (shown this once)."""

    _secret_fields = frozenset({"token"})

    created_at: str
    id: str
    label: Optional[str] = None
    revoked_at: Optional[str] = None
    role: str
    source: str
    tenant: str
    token: str


class CreatedScopedToken(PaddockModel):
    """A new scoped token, with its secret (shown this once)."""

    capabilities: List[str]
    created_at: str
    created_by: str
    expires_at: str
    id: str
    label: Optional[str] = None
    revoked_at: Optional[str] = None
    state: str
    tenant: str
    token: str
    workspace_id: str


class CredentialRecord(PaddockModel):
    """A stored credential (never its secret)."""

    added_at: str
    fingerprint: str
    service: str
    tenant_id: str
    updated_at: str


class DatabaseCheck(PaddockModel):
    """The database check, with its round trip."""

    backend: str
    error: Optional[str] = None
    latency_ms: int
    ok: bool


class DataframeColumn(PaddockModel):
    """A dataframe column."""

    dtype: str
    name: str


class DesktopActionResponse(PaddockModel):
    """What an action route answers."""

    ok: bool


class DesktopClipboardResponse(PaddockModel):
    """The text of a selection."""

    selection: str
    text: str


class DesktopClipboardWriteRequest(PaddockModel):
    """`POST …/desktop/clipboard`."""

    selection: Optional[str] = None
    text: str


class DesktopDisplayInfoResponse(PaddockModel):
    """`GET …/desktop/display/info`."""

    display: str
    resolution: DesktopResolution


class DesktopErrorInfo(PaddockModel):
    """Why the desktop failed."""

    code: str
    message: str


class DesktopKeyModifiers(PaddockModel):
    """Modifiers held around a key press."""

    alt: Optional[bool] = None
    cmd: Optional[bool] = None
    ctrl: Optional[bool] = None
    shift: Optional[bool] = None


class DesktopKeyRequest(PaddockModel):
    """`POST …/desktop/keyboard/down` and `…/up`."""

    key: str


class DesktopKeyboardPressRequest(PaddockModel):
    """`POST …/desktop/keyboard/press`: a key by its X keysym name (`Return`,
    `a`, `F5`, `ctrl+shift+t` as xdotool writes them).
    """

    key: str
    modifiers: Optional[DesktopKeyModifiers] = None


class DesktopKeyboardTypeRequest(PaddockModel):
    """`POST …/desktop/keyboard/type`."""

    delay_ms: Optional[int] = Field(default=None, alias="delayMs")
    text: str


class DesktopLaunchRequest(PaddockModel):
    """`POST …/desktop/launch`."""

    app: str
    args: Optional[List[str]] = None
    wait: Optional[bool] = None


class DesktopLaunchResponse(PaddockModel):
    """What `launch` answers."""

    pid: Optional[int] = None
    process_id: str = Field(alias="processId")
    window_id: Optional[str] = Field(default=None, alias="windowId")


class DesktopMouseButtonRequest(PaddockModel):
    """`POST …/desktop/mouse/down` and `…/up`: at the pointer, or at `x, y`."""

    button: Optional[str] = None
    x: Optional[int] = None
    y: Optional[int] = None


class DesktopMouseClickRequest(PaddockModel):
    """`POST …/desktop/mouse/click`."""

    button: Optional[str] = None
    click_count: Optional[int] = Field(default=None, alias="clickCount")
    x: int
    y: int


class DesktopMouseDragRequest(PaddockModel):
    """`POST …/desktop/mouse/drag`."""

    button: Optional[str] = None
    end_x: int = Field(alias="endX")
    end_y: int = Field(alias="endY")
    start_x: int = Field(alias="startX")
    start_y: int = Field(alias="startY")


class DesktopMouseMoveRequest(PaddockModel):
    """`POST …/desktop/mouse/move`."""

    x: int
    y: int


class DesktopMousePositionResponse(PaddockModel):
    """Where the pointer is (every mouse route answers it)."""

    screen: Optional[int] = None
    window: Optional[str] = None
    x: int
    y: int


class DesktopMouseScrollRequest(PaddockModel):
    """`POST …/desktop/mouse/scroll`: wheel clicks at `x, y` (positive
    `deltaY` scrolls down, positive `deltaX` right).
    """

    delta_x: Optional[int] = Field(default=None, alias="deltaX")
    delta_y: Optional[int] = Field(default=None, alias="deltaY")
    x: int
    y: int


class DesktopOpenRequest(PaddockModel):
    """`POST …/desktop/open`: a file or URL with `xdg-open`."""

    target: str


class DesktopOpenResponse(PaddockModel):
    """What `open` answers."""

    pid: Optional[int] = None
    process_id: str = Field(alias="processId")


class DesktopProcessInfo(PaddockModel):
    """One of the desktop's own processes."""

    log_path: Optional[str] = Field(default=None, alias="logPath")
    name: str
    pid: Optional[int] = None
    running: bool


class DesktopRecordingInfo(PaddockModel):
    """A recording (MP4, H.264)."""

    bytes: int
    ended_at: Optional[str] = Field(default=None, alias="endedAt")
    file_name: str = Field(alias="fileName")
    id: str
    process_id: Optional[str] = Field(default=None, alias="processId")
    started_at: str = Field(alias="startedAt")
    status: str


class DesktopRecordingListResponse(PaddockModel):
    """`GET …/desktop/recordings`."""

    recordings: List[DesktopRecordingInfo]


class DesktopRecordingStartRequest(PaddockModel):
    """`POST …/desktop/recording/start`."""

    fps: Optional[int] = None


class DesktopResolution(PaddockModel):
    """A display's size."""

    dpi: Optional[int] = None
    height: int
    width: int


class DesktopStartRequest(PaddockModel):
    """`POST …/desktop/start`. The streaming fields are accepted and ignored
    (paddock serves no WebRTC stream).
    """

    display_num: Optional[int] = Field(default=None, alias="displayNum")
    dpi: Optional[int] = None
    height: Optional[int] = None
    recording_fps: Optional[int] = Field(default=None, alias="recordingFps")
    state_dir: Optional[str] = Field(default=None, alias="stateDir")
    stream_audio_codec: Optional[str] = Field(default=None, alias="streamAudioCodec")
    stream_frame_rate: Optional[int] = Field(default=None, alias="streamFrameRate")
    stream_video_codec: Optional[str] = Field(default=None, alias="streamVideoCodec")
    webrtc_port_range: Optional[str] = Field(default=None, alias="webrtcPortRange")
    width: Optional[int] = None


class DesktopStatusResponse(PaddockModel):
    """`GET …/desktop/status` (and the answer of start and stop)."""

    display: Optional[str] = None
    install_command: Optional[str] = Field(default=None, alias="installCommand")
    last_error: Optional[DesktopErrorInfo] = Field(default=None, alias="lastError")
    missing_dependencies: List[str] = Field(alias="missingDependencies")
    processes: List[DesktopProcessInfo]
    resolution: Optional[DesktopResolution] = None
    runtime_log_path: Optional[str] = Field(default=None, alias="runtimeLogPath")
    started_at: Optional[str] = Field(default=None, alias="startedAt")
    state: str
    windows: List[DesktopWindowInfo]


class DesktopStreamStatusResponse(PaddockModel):
    """`GET …/desktop/stream/status`: paddock serves no WebRTC stream, so it
    is never active.
    """

    active: bool
    process_id: Optional[str] = Field(default=None, alias="processId")
    window_id: Optional[str] = Field(default=None, alias="windowId")


class DesktopWindowInfo(PaddockModel):
    """A top-level window."""

    height: int
    id: str
    is_active: bool = Field(alias="isActive")
    title: str
    width: int
    x: int
    y: int


class DesktopWindowListResponse(PaddockModel):
    """`GET …/desktop/windows`."""

    windows: List[DesktopWindowInfo]


class DesktopWindowMoveRequest(PaddockModel):
    """`POST …/desktop/windows/{id}/move`."""

    x: int
    y: int


class DesktopWindowResizeRequest(PaddockModel):
    """`POST …/desktop/windows/{id}/resize`."""

    height: int
    width: int


class DiskCheck(PaddockModel):
    """The state disk check."""

    error: Optional[str] = None
    free_bytes: int
    min_free_bytes: int
    ok: bool
    reserve_bytes: int
    reserve_held: bool
    total_bytes: int


class EgressAttempt(PaddockModel):
    """One connection attempt through a jail's egress proxy (allowlist mode),
    as the jail ledger keeps it.
    """

    address: Optional[str] = None
    bytes_down: int
    bytes_up: int
    detail: Optional[str] = None
    duration_ms: int
    host: str
    method: str
    outcome: str
    port: int
    reason: Optional[str] = None
    status: Optional[int] = None


class EgressRefusal(PaddockModel):
    """A connection the egress proxy refused or could not make (allowlist
    mode), so a caller sees why `curl` got a 403.
    """

    detail: Optional[str] = None
    host: str
    method: str
    outcome: str
    port: int
    reason: Optional[str] = None


class ErrorBody(PaddockModel):
    """The JSON of every error answer."""

    code: str
    error: str


class ExecRequest(PaddockModel):
    """`POST /v1/sessions/{id}/exec` and `/exec/stream`."""

    args: Optional[List[str]] = None
    cmd: str
    cpu_percent: Optional[int] = None
    max_pids: Optional[int] = None
    memory_mb: Optional[int] = None
    network: Optional[NetworkSpec] = None
    seccomp: Optional[str] = None
    timeout_secs: Optional[int] = None


class ExecResult(ExecResultMixin, PaddockModel):
    """What every run and exec answers."""

    cancelled: bool
    duration_ms: int
    egress_refusals: Optional[List[EgressRefusal]] = None
    exit_code: int
    id: int
    oom_killed: bool
    stats: Optional[ResourceStats] = None
    stderr: str
    stderr_truncated: bool
    stdout: str
    stdout_truncated: bool
    timed_out: bool


class ExecSettings(PaddockModel):
    """Defaults and limits of jails."""

    default_memory_mb: int
    default_timeout_secs: int
    max_concurrent: int


class Flavor(PaddockModel):
    """A flavor the host offers."""

    name: str


class ForkChild(PaddockModel):
    """One child of a fork."""

    code: str
    memory_mb: Optional[int] = None


class ForkMeta(PaddockModel):
    """How one child's copy of the parent's `/output` was made."""

    bytes_cloned: int
    clone_ms: int
    files_cloned: int
    files_cow: int
    method: str
    was_frozen: bool


class ForkRequest(PaddockModel):
    """`POST /v1/runs/fork`."""

    child_code: Optional[str] = None
    children: Optional[List[ForkChild]] = None
    cpu_percent: Optional[int] = None
    fork_after_ms: Optional[int] = None
    language: Optional[str] = None
    max_pids: Optional[int] = None
    memory_mb: Optional[int] = None
    network: Optional[NetworkSpec] = None
    parent_code: str
    seccomp: Optional[str] = None
    timeout_secs: Optional[int] = None


class ForkResponse(PaddockModel):
    """The answer of a fork."""

    child: ExecResult
    children: List[ExecResult]
    fork: ForkMeta
    forks: List[ForkMeta]
    parent: ExecResult


class FromSnapshot(PaddockModel):
    """`POST /v1/workspaces/from-snapshot`."""

    label: Optional[str] = None
    parent_workspace_id: str
    snapshot_id: str


class FsActionResponse(PaddockModel):
    """`DELETE …/v1/fs/entry`, `POST …/v1/fs/mkdir`."""

    path: str


class FsEntry(PaddockModel):
    """One entry of a directory listing."""

    entry_type: str = Field(alias="entryType")
    modified: Optional[str] = None
    name: str
    path: str
    size: int


class FsMoveRequest(PaddockModel):
    """`POST …/v1/fs/move`."""

    from_: str = Field(alias="from")
    overwrite: Optional[bool] = None
    to: str


class FsMoveResponse(PaddockModel):
    """The answer of a move."""

    from_: str = Field(alias="from")
    to: str


class FsStat(PaddockModel):
    """`GET …/v1/fs/stat`."""

    entry_type: str = Field(alias="entryType")
    modified: Optional[str] = None
    path: str
    size: int


class FsUploadBatchResponse(PaddockModel):
    """`POST …/v1/fs/upload-batch`."""

    paths: List[str]
    truncated: bool


class FsWriteResponse(PaddockModel):
    """`PUT …/v1/fs/file`."""

    bytes_written: int = Field(alias="bytesWritten")
    path: str


class GatewaySettings(PaddockModel):
    """The inbound gateway (not served)."""

    bind_addr: str


class GitSeed(PaddockModel):
    """`git` in a create request: one repository, or several with their
    directories.
    """

    ref: Optional[str] = None
    repo: Optional[str] = None
    repos: Optional[List[RepoSpec]] = None


class Health(PaddockModel):
    """Liveness and version."""

    status: str
    version: str


class JailOptions(PaddockModel):
    """Limits and isolation settings a request may ask for. Absent fields
    take the server's defaults; out-of-range values are clamped (the
    server records what it applied in the ledger as `LimitsApplied`).
    """

    cpu_percent: Optional[int] = None
    max_pids: Optional[int] = None
    memory_mb: Optional[int] = None
    network: Optional[NetworkSpec] = None
    seccomp: Optional[str] = None
    timeout_secs: Optional[int] = None


class JailRecord(PaddockModel):
    """One jail of the ledger (agentjail's `JailRecord`, with extensions)."""

    config: Dict[str, Any]
    cpu_usage_usec: Optional[int] = None
    duration_ms: Optional[int] = None
    egress: Optional[List[EgressAttempt]] = None
    ended_at: Optional[str] = None
    error: Optional[str] = None
    exit_code: Optional[int] = None
    id: int
    io_read_bytes: Optional[int] = None
    io_write_bytes: Optional[int] = None
    kind: str
    label: str
    memory_current_bytes: Optional[int] = None
    memory_peak_bytes: Optional[int] = None
    oom_killed: bool
    parent_id: Optional[int] = None
    pids_current: Optional[int] = None
    session_id: Optional[str] = None
    started_at: str
    status: str
    stderr: str
    stdout: str
    tenant_id: str
    timed_out: bool


class JailsList(PaddockModel):
    """`{rows, total, limit, offset}` of the ledger."""

    limit: int
    offset: int
    rows: List[JailRecord]
    total: int


class JsonObject(PaddockModel):
    """A JSON object of any members."""

    pass


class KernelInfo(PaddockModel):
    """A kernel of a running workspace."""

    execution_count: int = Field(alias="executionCount")
    id: str
    language: str
    session_id: Optional[str] = Field(default=None, alias="sessionId")
    started_at: str = Field(alias="startedAt")
    state: str


class KernelList(PaddockModel):
    """`GET /v1/workspaces/{id}/kernels`."""

    kernels: List[KernelInfo]


class KernelRef(PaddockModel):
    """(ext) Which kernel ran a call, and whether it is new."""

    execution_count: int = Field(alias="executionCount")
    id: str
    restart_reason: Optional[str] = Field(default=None, alias="restartReason")
    started: bool


class KeyRecord(PaddockModel):
    """An API key (never its token)."""

    created_at: str
    id: str
    label: Optional[str] = None
    revoked_at: Optional[str] = None
    role: str
    source: str
    tenant: str


class McpConfig(PaddockModel):
    """`GET /v1/workspaces/{id}/mcp-config`: a `.mcp.json` for the workspace's
    MCP endpoint with a freshly minted scoped token in it.
    """

    capabilities: List[str]
    config: Dict[str, Any]
    expires_at: str
    server_name: str
    token: str
    token_id: str
    url: str


class NetworkSpec(PaddockModel):
    """A jail's network: no network, its own loopback, or egress through the
    allowlist proxy to the listed hosts.
    """

    domains: Optional[List[str]] = None
    mode: str


class NewKey(PaddockModel):
    """`POST /v1/keys`."""

    label: Optional[str] = None
    role: str
    tenant: str


class NewPreview(PaddockModel):
    """`POST /v1/workspaces/{id}/previews`."""

    port: int
    public: Optional[bool] = None
    ttl_secs: Optional[int] = None


class NewScopedToken(PaddockModel):
    """`POST /v1/workspaces/{id}/tokens`."""

    capabilities: List[str]
    label: Optional[str] = None
    ttl_secs: Optional[int] = None


class NewSession(PaddockModel):
    """`POST /v1/sessions`."""

    max_requests: Optional[int] = None
    scopes: Optional[Dict[str, List[str]]] = None
    services: Optional[List[str]] = None
    ttl_secs: Optional[int] = None


class NewSnapshot(PaddockModel):
    """`POST /v1/workspaces/{id}/snapshot` (the body is optional)."""

    name: Optional[str] = None


class NewWorkspace(PaddockModel):
    """`POST /v1/workspaces`."""

    cpu_percent: Optional[int] = None
    disk_mb: Optional[int] = None
    domains: Optional[List[Dict[str, Any]]] = None
    flavors: Optional[List[str]] = None
    git: Optional[GitSeed] = None
    idle_timeout_secs: Optional[int] = None
    label: Optional[str] = None
    max_pids: Optional[int] = None
    memory_mb: Optional[int] = None
    network: Optional[NetworkSpec] = None
    seccomp: Optional[str] = None
    timeout_secs: Optional[int] = None


class PendingPermission(PaddockModel):
    """A permission request of the agent waiting for an answer."""

    id: str
    options: List[Dict[str, Any]]
    tool_call: Optional[Dict[str, Any]] = Field(default=None, alias="toolCall")
    turn_id: str = Field(alias="turnId")


class PermissionAnswer(PaddockModel):
    """`POST …/agent-sessions/{session}/permissions/{request}`."""

    reply: str


class PersistenceSettings(PaddockModel):
    """Where state lives."""

    idle_check_secs: int
    snapshot_pool_dir: Optional[str] = None
    state_dir: Optional[str] = None


class Preview(PaddockModel):
    """A preview."""

    _secret_fields = frozenset({"access_url"})

    access_url: Optional[str] = None
    created_at: str
    expires_at: Optional[str] = None
    hostname: Optional[str] = None
    id: str
    path_url: str
    port: int
    public: bool
    revoked_at: Optional[str] = None
    state: str
    url: str
    workspace_id: str


class PreviewList(PaddockModel):
    """`GET /v1/workspaces/{id}/previews`: active, expired and revoked, newest
    first.
    """

    previews: List[Preview]


class ProblemDetails(PaddockModel):
    """A runtime error answer."""

    code: str
    detail: Optional[str] = None
    details: Any = None
    session_id: Optional[str] = Field(default=None, alias="sessionId")
    status: int
    title: str
    type: str


class ProcessConfig(PaddockModel):
    """Limits of the runtime's processes (`GET`/`POST …/v1/processes/config`)."""

    default_run_timeout_ms: int = Field(alias="defaultRunTimeoutMs")
    max_concurrent_processes: int = Field(alias="maxConcurrentProcesses")
    max_input_bytes_per_request: int = Field(alias="maxInputBytesPerRequest")
    max_log_bytes_per_process: int = Field(alias="maxLogBytesPerProcess")
    max_output_bytes: int = Field(alias="maxOutputBytes")
    max_run_timeout_ms: int = Field(alias="maxRunTimeoutMs")


class ProcessCreateRequest(PaddockModel):
    """`POST …/v1/processes`: start a managed process."""

    args: Optional[List[str]] = None
    command: str
    cwd: Optional[str] = None
    env: Optional[Dict[str, str]] = None
    interactive: Optional[bool] = None
    tty: Optional[bool] = None


class ProcessInfo(PaddockModel):
    """A managed process."""

    args: List[str]
    command: str
    created_at_ms: int = Field(alias="createdAtMs")
    cwd: Optional[str] = None
    exit_code: Optional[int] = Field(default=None, alias="exitCode")
    exited_at_ms: Optional[int] = Field(default=None, alias="exitedAtMs")
    id: str
    interactive: bool
    owner: str
    pid: Optional[int] = None
    status: str
    tty: bool


class ProcessInputRequest(PaddockModel):
    """`POST …/v1/processes/{id}/input`."""

    data: str
    encoding: Optional[str] = None
    eof: Optional[bool] = None


class ProcessInputResponse(PaddockModel):
    """What an input call wrote."""

    bytes_written: int = Field(alias="bytesWritten")


class ProcessListResponse(PaddockModel):
    """`GET …/v1/processes`."""

    processes: List[ProcessInfo]


class ProcessLogEntry(PaddockModel):
    """One chunk of output."""

    data: str
    encoding: str
    sequence: int
    stream: str
    timestamp_ms: int = Field(alias="timestampMs")


class ProcessLogsResponse(PaddockModel):
    """`GET …/v1/processes/{id}/logs` without `follow`."""

    entries: List[ProcessLogEntry]
    process_id: str = Field(alias="processId")
    stream: str


class ProcessRunRequest(PaddockModel):
    """`POST …/v1/processes/run`: run a command to its end."""

    args: Optional[List[str]] = None
    command: str
    cwd: Optional[str] = None
    env: Optional[Dict[str, str]] = None
    max_output_bytes: Optional[int] = Field(default=None, alias="maxOutputBytes")
    timeout_ms: Optional[int] = Field(default=None, alias="timeoutMs")


class ProcessRunResponse(PaddockModel):
    """The outcome of a run."""

    duration_ms: int = Field(alias="durationMs")
    exit_code: Optional[int] = Field(default=None, alias="exitCode")
    stderr: str
    stderr_truncated: bool = Field(alias="stderrTruncated")
    stdout: str
    stdout_truncated: bool = Field(alias="stdoutTruncated")
    timed_out: bool = Field(alias="timedOut")


class ProcessTerminalSize(PaddockModel):
    """`POST …/v1/processes/{id}/terminal/resize`, and its answer."""

    cols: int
    rows: int


class Provider(PaddockModel):
    """A service the proxy forwards to."""

    auth: str
    key_env: str
    request_prefix: str
    service_id: str
    upstream_base: str
    url_env: str


class ProxySettings(PaddockModel):
    """The phantom proxy."""

    base_url: str
    bind_addr: Optional[str] = None
    providers: List[Provider]


class PublicStats(PaddockModel):
    """Counters across all tenants."""

    active_execs: int
    credentials: int
    sessions: int
    total_execs: int


class PutCredential(PaddockModel):
    """`POST /v1/credentials`."""

    _secret_fields = frozenset({"secret"})

    secret: str
    service: str


class Readiness(PaddockModel):
    """Readiness: whether the server can take work now, and why not."""

    checks: ReadinessChecks
    ready: bool


class ReadinessChecks(PaddockModel):
    """The checks readiness is made of."""

    database: DatabaseCheck
    jail_engine: Check
    state_disk: DiskCheck


class RepoSpec(PaddockModel):
    """One repository of `repos`."""

    dir: Optional[str] = None
    ref: Optional[str] = None
    repo: str


class ResourceStats(PaddockModel):
    """What a jail's cgroup counted."""

    cpu_usage_usec: int
    io_read_bytes: int
    io_write_bytes: int
    memory_current_bytes: int
    memory_peak_bytes: int
    pids_current: int


class RunRequest(PaddockModel):
    """`POST /v1/runs` and `/v1/runs/stream`."""

    code: str
    cpu_percent: Optional[int] = None
    language: Optional[str] = None
    max_pids: Optional[int] = None
    memory_mb: Optional[int] = None
    network: Optional[NetworkSpec] = None
    seccomp: Optional[str] = None
    timeout_secs: Optional[int] = None


class RuntimeHealth(PaddockModel):
    """`GET …/runtime/v1/health`."""

    status: str


class ScopedTokenList(PaddockModel):
    """`GET /v1/workspaces/{id}/tokens`."""

    tokens: List[ScopedTokenRecord]


class ScopedTokenRecord(PaddockModel):
    """A scoped token (never its secret)."""

    capabilities: List[str]
    created_at: str
    created_by: str
    expires_at: str
    id: str
    label: Optional[str] = None
    revoked_at: Optional[str] = None
    state: str
    tenant: str
    workspace_id: str


class ServerStatusInfo(PaddockModel):
    """Whether an agent's ACP server process runs (sandbox-agent's
    `ServerStatusInfo`).
    """

    status: str
    uptime_ms: Optional[int] = Field(default=None, alias="uptimeMs")


class Session(SessionMixin, PaddockModel):
    """A session, as create, get and list return it (agentjail's
    `SessionView`, with extensions).
    """

    _secret_fields = frozenset({"env"})

    closed_at: Optional[str] = None
    created_at: str
    env: Dict[str, str]
    expires_at: str
    id: str
    max_requests: Optional[int] = None
    requests_used: int
    scopes: Dict[str, List[str]]
    services: List[str]
    status: str
    tenant_id: str


class Settings(PaddockModel):
    """`GET /v1/config` (agentjail's settings snapshot, with extensions).
    Keys marked admin-only are left out for operators.
    """

    control_plane: ControlPlaneSettings
    database: Optional[str] = None
    exec: Optional[ExecSettings] = None
    gateway: Optional[GatewaySettings] = None
    persistence: PersistenceSettings
    proxy: ProxySettings
    session_ttl_max_secs: int
    snapshots: SnapshotSettings


class SkillSource(PaddockModel):
    """Where skills come from (sandbox-agent's `SkillSource`)."""

    ref: Optional[str] = None
    skills: Optional[List[str]] = None
    source: str
    subpath: Optional[str] = None
    type: str


class SkillsConfig(PaddockModel):
    """The skills of a directory's agents (sandbox-agent's `SkillsConfig`)."""

    sources: List[SkillSource]


class SnapshotGc(PaddockModel):
    """Snapshot garbage collection."""

    max_age_secs: Optional[int] = None
    max_count: Optional[int] = None
    tick_secs: int


class SnapshotList(PaddockModel):
    """`{rows, total, limit, offset}` of snapshots."""

    limit: int
    offset: int
    rows: List[SnapshotRecord]
    total: int


class SnapshotManifest(PaddockModel):
    """The per-file hash list of a snapshot."""

    entries: List[SnapshotManifestEntry]
    kind: str


class SnapshotManifestEntry(PaddockModel):
    """One file of a snapshot."""

    hash: str
    mode: int
    path: str
    size: int


class SnapshotRecord(PaddockModel):
    """A snapshot as the API returns it."""

    auto: bool
    created_at: str
    file_count: int
    frozen: bool
    id: str
    name: Optional[str] = None
    path: str
    size_bytes: int
    stored_bytes: int
    workspace_id: Optional[str] = None


class SnapshotSettings(PaddockModel):
    """Snapshot retention."""

    gc: Optional[SnapshotGc] = None


class StringMap(PaddockModel):
    """Names to values (environment variables, HTTP headers)."""

    pass


class TenantBudgets(PaddockModel):
    """(ext) A tenant's admission budgets (`paddock serve
    --tenant-max-concurrent`, `--tenant-memory`) and their use now. A jail
    that would pass one answers 429.
    """

    max_concurrent: int
    memory_in_use_mb: int
    memory_mb: int
    running: int


class TenantStorage(PaddockModel):
    """(ext) A tenant's storage budget (`paddock serve --tenant-storage`) and
    its use now: its snapshots' stored bytes, the copies its forks hold,
    and the disk limits of its workspaces. A snapshot, fork or workspace
    that would pass it answers 507 `STORAGE_BUDGET`.
    """

    storage_in_use_mb: int
    storage_mb: int


class TurnToolCall(PaddockModel):
    """A tool call of a turn, as its last update left it."""

    kind: Optional[str] = None
    status: Optional[str] = None
    title: Optional[str] = None
    tool_call_id: str = Field(alias="toolCallId")


class Whoami(PaddockModel):
    """The caller's tenant and role."""

    budgets: Optional[TenantBudgets] = None
    role: str
    storage: Optional[TenantStorage] = None
    tenant: str


class Workspace(PaddockModel):
    """A workspace as the API returns it."""

    auto_snapshot: Optional[str] = None
    config: WorkspaceSpec
    created_at: str
    deleted_at: Optional[str] = None
    disk_used_mb: Optional[int] = None
    domains: List[WorkspaceDomain]
    git_ref: Optional[str] = None
    git_repo: Optional[str] = None
    id: str
    label: Optional[str] = None
    last_exec_at: Optional[str] = None
    output_dir: str
    paused_at: Optional[str] = None
    source_dir: str
    tenant_id: str


class WorkspaceDomain(PaddockModel):
    """An inbound hostname forward (agentjail's gateway): requests whose
    `Host` is `domain` are relayed to `vm_port` inside the running
    workspace, like a public preview. The domain must be a subdomain of the
    server's preview domain (`myapp.localhost` by default).
    """

    backend_url: Optional[str] = None
    domain: str
    vm_port: Optional[int] = None


class WorkspaceExec(PaddockModel):
    """`POST /v1/workspaces/{id}/exec` and `/exec/stream`."""

    args: Optional[List[str]] = None
    cmd: str
    env: Optional[List[List[str]]] = None
    memory_mb: Optional[int] = None
    timeout_secs: Optional[int] = None


class WorkspaceForkRequest(PaddockModel):
    """`POST /v1/workspaces/{id}/fork`."""

    count: int
    label: Optional[str] = None


class WorkspaceForkResponse(PaddockModel):
    """The answer of a fork."""

    forks: List[Workspace]
    parent: Workspace
    snapshot_id: str


class WorkspaceList(PaddockModel):
    """`{rows, total, limit, offset}` of workspaces."""

    limit: int
    offset: int
    rows: List[Workspace]
    total: int


class WorkspaceRunState(PaddockModel):
    """Whether a workspace runs (`POST /v1/workspaces/{id}/start` and `/stop`)."""

    id: str
    processes: int
    started_at: Optional[str] = None
    state: str


class WorkspaceSpec(PaddockModel):
    """A workspace's settings, applied to every exec (API.md `WorkspaceSpec`)."""

    cpu_percent: int
    disk_mb: Optional[int] = None
    flavors: List[str]
    idle_timeout_secs: int
    max_pids: int
    memory_mb: int
    network_domains: List[str]
    network_mode: str
    seccomp: str
    timeout_secs: int


class WorkspaceUpdate(PaddockModel):
    """`PATCH /v1/workspaces/{id}`."""

    label: Optional[str] = None
