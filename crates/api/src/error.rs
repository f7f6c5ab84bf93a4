//! The API's errors: one enum of stable codes, each with its HTTP status,
//! and the domain error services return. The wire form of every error is
//! `{"error": "<human message>", "code": "<CODE>"}`.

use std::fmt;

/// The JSON of every error answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable message.
    pub error: String,
    /// Stable machine-readable code (see docs/api.md).
    pub code: String,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($text:literal, $status:literal),)*) => {
        /// Every error code the API answers with. Clients switch on the code;
        /// people read the message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }
        }
    };
}

error_codes! {
    /// A request the server cannot read (generic).
    BadRequest = ("BAD_REQUEST", 400),
    /// The body is not valid JSON or does not match the route's schema.
    BadJson = ("BAD_JSON", 400),
    /// The body is JSON, but a field is missing or has the wrong type.
    BadBody = ("BAD_BODY", 422),
    /// The body is over the server's limit.
    BodyTooLarge = ("BODY_TOO_LARGE", 413),
    /// The body is not `application/json`.
    UnsupportedMediaType = ("UNSUPPORTED_MEDIA_TYPE", 415),
    /// A query parameter could not be read.
    BadQuery = ("BAD_QUERY", 400),
    /// No, an unknown or a revoked API key.
    Unauthorized = ("UNAUTHORIZED", 401),
    /// The key's role may not do this.
    Forbidden = ("FORBIDDEN", 403),
    /// A scoped token on a route that no capability opens (tenant routes,
    /// minting tokens, starting or deleting its workspace).
    ScopedTokenRefused = ("SCOPED_TOKEN_REFUSED", 403),
    /// A scoped token without the capability this route or tool needs.
    MissingCapability = ("MISSING_CAPABILITY", 403),
    /// Missing, or outside the caller's scope.
    NotFound = ("NOT_FOUND", 404),
    /// The route exists, but not with this method.
    MethodNotAllowed = ("METHOD_NOT_ALLOWED", 405),
    /// The server runs its limit of jails; retry after `Retry-After`.
    TooManyRequests = ("TOO_MANY_REQUESTS", 429),
    /// Something failed inside the server (details only in its log).
    Internal = ("INTERNAL", 500),
    /// The server cannot serve this now (transient); retry after
    /// `Retry-After`.
    Unavailable = ("UNAVAILABLE", 503),
    /// The database cannot be reached or written right now; nothing was
    /// stored. Retry after `Retry-After`.
    DatabaseUnavailable = ("DATABASE_UNAVAILABLE", 503),
    /// The connection to the database was lost while the request's
    /// statements were on their way: a write may have been stored even
    /// so. Check before retrying a write that is not idempotent.
    DatabaseConnectionLost = ("DATABASE_CONNECTION_LOST", 503),
    /// The server is shutting down: the request was refused, or its jail
    /// was killed. Retry on another instance or after the restart.
    ShuttingDown = ("SHUTTING_DOWN", 503),
    /// The state disk is below its free-space reserve: new work is refused
    /// until workspaces or snapshots are deleted or space is freed.
    InsufficientStorage = ("INSUFFICIENT_STORAGE", 507),
    /// The tenant's snapshots and workspaces hold its storage budget
    /// (`--tenant-storage`): delete some of them first.
    StorageBudget = ("STORAGE_BUDGET", 507),
    /// The host cannot do what was asked (a limit without a cgroup, a
    /// kernel feature it lacks); retrying does not help.
    Unsupported = ("UNSUPPORTED", 501),
    /// The command does not exist or cannot be executed in the jail.
    CommandNotFound = ("COMMAND_NOT_FOUND", 400),
    /// `tenant` is not a valid tenant name.
    BadTenant = ("BAD_TENANT", 400),
    /// A label is too long or has control characters.
    BadLabel = ("BAD_LABEL", 400),
    /// A size, duration or count is out of range or malformed.
    BadLimit = ("BAD_LIMIT", 400),
    /// Unknown seccomp level.
    BadSeccomp = ("BAD_SECCOMP", 400),
    /// Unknown network mode or a bad allowlist.
    BadNetwork = ("BAD_NETWORK", 400),
    /// Unknown run language.
    BadLanguage = ("BAD_LANGUAGE", 400),
    /// A run's code is over 1 MiB.
    CodeTooLarge = ("CODE_TOO_LARGE", 413),
    /// An empty or malformed command.
    BadCmd = ("BAD_CMD", 400),
    /// Bad environment variables.
    BadEnv = ("BAD_ENV", 400),
    /// A fork request without children or with too many.
    BadFork = ("BAD_FORK", 400),
    /// Unknown ledger status filter.
    BadStatus = ("BAD_STATUS", 400),
    /// Unknown ledger kind filter.
    BadKind = ("BAD_KIND", 400),
    /// The run already ended: nothing to cancel.
    RunFinished = ("RUN_FINISHED", 409),
    /// A session without services.
    NoServices = ("NO_SERVICES", 400),
    /// A service the server does not know.
    UnknownService = ("UNKNOWN_SERVICE", 400),
    /// A service listed twice.
    DuplicateService = ("DUPLICATE_SERVICE", 400),
    /// A session's service has no stored credential.
    NoCredential = ("NO_CREDENTIAL", 400),
    /// Bad path scopes.
    BadScope = ("BAD_SCOPE", 400),
    /// `ttl_secs` of 0, or a scoped token's outside 1..=86400.
    BadTtl = ("BAD_TTL", 400),
    /// A scoped token without capabilities, or an unknown one named.
    BadCapabilities = ("BAD_CAPABILITIES", 400),
    /// `max_requests` out of range.
    BadBudget = ("BAD_BUDGET", 400),
    /// The session is closed.
    SessionClosed = ("SESSION_CLOSED", 409),
    /// The session expired (400, as agentjail answers it).
    SessionExpired = ("SESSION_EXPIRED", 400),
    /// An empty secret.
    EmptySecret = ("EMPTY_SECRET", 400),
    /// A secret that is too long or has control characters.
    BadSecret = ("BAD_SECRET", 400),
    /// A bad git seed.
    BadGit = ("BAD_GIT", 400),
    /// git clone failed (git's message).
    GitCloneFailed = ("GIT_CLONE_FAILED", 400),
    /// git clone ran out of time.
    GitCloneTimeout = ("GIT_CLONE_TIMEOUT", 400),
    /// A flavor the host does not have.
    UnknownFlavor = ("UNKNOWN_FLAVOR", 400),
    /// A flavor listed twice.
    DuplicateFlavor = ("DUPLICATE_FLAVOR", 400),
    /// A workspace domain that is malformed, or not a subdomain of the
    /// preview domain.
    DomainsUnsupported = ("DOMAINS_UNSUPPORTED", 400),
    /// A workspace domain another workspace already serves.
    DomainTaken = ("DOMAIN_TAKEN", 409),
    /// Fork count out of range.
    BadCount = ("BAD_COUNT", 400),
    /// A workspace tree over the snapshot limits.
    TreeTooLarge = ("TREE_TOO_LARGE", 400),
    /// A snapshot whose manifest the store refuses.
    SnapshotDamaged = ("SNAPSHOT_DAMAGED", 422),
    /// A snapshot that holds a paused workspace's tree.
    SnapshotInUse = ("SNAPSHOT_IN_USE", 409),
    /// The workspace cannot be deleted while an exec runs in it.
    WorkspaceBusy = ("WORKSPACE_BUSY", 409),
    /// Pausing or resuming a workspace that is not running.
    WorkspaceNotRunning = ("WORKSPACE_NOT_RUNNING", 409),
    /// A runtime operation that conflicts with a process's state (deleting
    /// a running process, input to one that takes none, the process limit).
    ProcessConflict = ("PROCESS_CONFLICT", 409),
    /// A file API path outside `/workspace`, with `..`, or of the wrong type
    /// for the operation (a directory to read, a file to list, the root to
    /// delete).
    BadPath = ("BAD_PATH", 400),
    /// Nothing at a file API path (400, as sandbox-agent answers it).
    PathNotFound = ("PATH_NOT_FOUND", 400),
    /// A file API destination that already exists (400, as sandbox-agent
    /// answers it).
    PathExists = ("PATH_EXISTS", 400),
    /// A tar upload that is not a tar, or has an entry the file API refuses
    /// (absolute, `..`, hard link, device, FIFO).
    BadArchive = ("BAD_ARCHIVE", 400),
    /// A file operation the file system refused where sandbox-agent
    /// answers its `stream_error` (502): a write onto a directory, `mkdir`
    /// onto a file, a non-empty directory deleted without `recursive`, a
    /// directory moved into itself.
    StreamError = ("STREAM_ERROR", 502),
    /// A preview port outside 1..=65535.
    BadPort = ("BAD_PORT", 400),
    /// A preview's workspace is not running, or nothing listens on its port.
    PreviewUnreachable = ("PREVIEW_UNREACHABLE", 502),
    /// A code kernel did not start (its package missing from the
    /// workspace, or it exited); the message carries its stderr's end.
    KernelFailed = ("KERNEL_FAILED", 502),
    /// No such kernel in the workspace.
    KernelNotFound = ("KERNEL_NOT_FOUND", 404),
    /// An agent id paddock does not know.
    UnsupportedAgent = ("UNSUPPORTED_AGENT", 400),
    /// An agent this host has not installed (or cannot install).
    AgentNotInstalled = ("AGENT_NOT_INSTALLED", 404),
    /// Installing an agent from npm failed.
    InstallFailed = ("INSTALL_FAILED", 500),
    /// An ACP server's agent process has ended (or ended before it answered).
    AgentProcessExited = ("AGENT_PROCESS_EXITED", 500),
    /// No ACP server with that id in the workspace.
    AcpServerNotFound = ("ACP_SERVER_NOT_FOUND", 404),
    /// An ACP server id already bound to another agent.
    AcpServerConflict = ("ACP_SERVER_CONFLICT", 409),
    /// The agent did not answer a request in time.
    AgentTimeout = ("AGENT_TIMEOUT", 504),
    /// No agent session with that id in the workspace.
    AgentSessionNotFound = ("AGENT_SESSION_NOT_FOUND", 404),
    /// An agent session id already taken in the workspace.
    AgentSessionExists = ("AGENT_SESSION_EXISTS", 409),
    /// A turn of the agent session is still streaming (one at a time).
    AgentSessionBusy = ("AGENT_SESSION_BUSY", 409),
    /// No turn with that id in the agent session.
    TurnNotFound = ("TURN_NOT_FOUND", 404),
    /// A turn id used again with a different prompt.
    TurnConflict = ("TURN_CONFLICT", 409),
    /// No permission request with that id waits in the agent session.
    PermissionNotFound = ("PERMISSION_NOT_FOUND", 404),
    /// The workspace's desktop is not running (start it), or cannot run
    /// here (its packages are missing: the message says which).
    DesktopNotReady = ("DESKTOP_NOT_READY", 409),
    /// The desktop's X server failed, or refused an operation.
    DesktopFailed = ("DESKTOP_FAILED", 502),
    /// The workspace has no browser (the `browser` flavor is missing on
    /// the host or in the workspace: the message says which).
    BrowserNotReady = ("BROWSER_NOT_READY", 409),
    /// A browser command paddock does not run, or bad arguments.
    BadBrowserCommand = ("BAD_BROWSER_COMMAND", 400),
    /// A URL the workspace's network cannot reach (its mode or allowlist).
    BrowserUrlRefused = ("BROWSER_URL_REFUSED", 403),
    /// The browser ran the command and it failed (the message is
    /// agent-browser's), or it did not finish in time.
    BrowserCommandFailed = ("BROWSER_COMMAND_FAILED", 422),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a service returns: a code and a message for the caller.
/// Internal causes are logged where they happen, never put in `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// Stable code (decides the HTTP status).
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Machine-readable facts about the failure (the runtime API's
    /// Problem Details `details`, e.g. `{id, resource}` of a missing
    /// process); not part of the control plane's error body.
    pub details: Option<serde_json::Value>,
}

/// A service result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with machine-readable `details`.
    pub fn with_details(mut self, details: serde_json::Value) -> Error {
        self.details = Some(details);
        self
    }

    /// 404: `what` is missing or outside the caller's scope.
    pub fn not_found(what: &str) -> Error {
        Error::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 500, logging the cause (which the caller never sees).
    pub fn internal(cause: impl fmt::Display) -> Error {
        tracing::error!(%cause, "internal error");
        Error::new(ErrorCode::Internal, "internal error")
    }

    /// 503: the server cannot serve this now (retry later).
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Unavailable, message)
    }

    /// Whether the client should retry later (`Retry-After` is sent).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::TooManyRequests
                | ErrorCode::Unavailable
                | ErrorCode::DatabaseUnavailable
                | ErrorCode::DatabaseConnectionLost
                | ErrorCode::ShuttingDown
        )
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The wire body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.message.clone(),
            code: self.code.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_with_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{text}");
            assert!((400..600).contains(&code.status()), "{text}");
        }
    }
}

#[cfg(test)]
mod docs {
    use super::ErrorCode;

    #[test]
    fn every_code_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.status());
            assert!(doc.contains(&row), "docs/api.md lacks the row {row}");
        }
    }
}
