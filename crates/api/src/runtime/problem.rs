//! Errors of the runtime API: RFC 9457 Problem Details
//! (`application/problem+json`), typed as sandbox-agent types them.

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorCode};

/// Prefix of sandbox-agent's problem types.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:sandbox-agent:error:";

/// A runtime error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// `urn:sandbox-agent:error:<kind>`: `invalid_request`, `token_invalid`,
    /// `not_found`, `conflict`, `timeout`, `unsupported_media_type`,
    /// `permission_denied`, or, for failures sandbox-agent has no kind for,
    /// `urn:paddock:error:<CODE>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human title of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Machine-readable facts, as sandbox-agent gives them: `{message}` for
    /// conflicts and refused tokens, `{id, resource}` for a missing process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The missing session (ACP server, configuration entry) of a
    /// `session_not_found`, where sandbox-agent puts it.
    #[serde(default, rename = "sessionId", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// (ext, an RFC 9457 extension member) paddock's stable error code, as
    /// in the control plane's errors.
    pub code: String,
}

impl ProblemDetails {
    /// The problem answering a paddock error.
    pub fn from_error(err: &Error) -> ProblemDetails {
        let (kind, title) = match err.code {
            ErrorCode::NotFound => ("not_found", "Not Found"),
            ErrorCode::Unauthorized => ("token_invalid", "Token Invalid"),
            ErrorCode::Forbidden | ErrorCode::MissingCapability | ErrorCode::ScopedTokenRefused => {
                ("permission_denied", "Permission Denied")
            }
            ErrorCode::UnsupportedMediaType => ("unsupported_media_type", "Unsupported Media Type"),
            ErrorCode::BodyTooLarge => ("invalid_request", "Payload Too Large"),
            ErrorCode::StreamError => ("stream_error", "Stream Error"),
            ErrorCode::UnsupportedAgent => ("unsupported_agent", "Unsupported Agent"),
            ErrorCode::AgentNotInstalled => ("agent_not_installed", "Agent Not Installed"),
            ErrorCode::InstallFailed => ("install_failed", "Install Failed"),
            ErrorCode::AgentProcessExited => ("agent_process_exited", "Agent Process Exited"),
            ErrorCode::AcpServerNotFound => ("session_not_found", "Session Not Found"),
            code if code.status() == 409 => ("conflict", "Conflict"),
            code if code.status() == 504 => ("timeout", "Timeout"),
            code if (400..500).contains(&code.status()) && code.status() != 429 => {
                ("invalid_request", "Invalid Request")
            }
            _ => ("", ""),
        };
        let (kind, title) = if kind.is_empty() {
            (
                format!("urn:paddock:error:{}", err.code.as_str()),
                err.code.as_str().to_owned(),
            )
        } else {
            (format!("{PROBLEM_TYPE_PREFIX}{kind}"), title.to_owned())
        };
        let mut details = err.details.clone().or_else(|| {
            matches!(kind_of(&kind), "conflict" | "token_invalid" | "stream_error")
                .then(|| serde_json::json!({ "message": err.message }))
        });
        let mut session_id = None;
        if kind_of(&kind) == "session_not_found" {
            session_id = details
                .take()
                .and_then(|d| d.get("sessionId").and_then(|s| s.as_str()).map(str::to_owned));
        }
        ProblemDetails {
            kind,
            title,
            status: err.status(),
            detail: Some(err.message.clone()),
            details,
            session_id,
            code: err.code.as_str().to_owned(),
        }
    }
}

/// The sandbox-agent kind of a problem type (empty for paddock's own).
fn kind_of(kind: &str) -> &str {
    kind.strip_prefix(PROBLEM_TYPE_PREFIX).unwrap_or("")
}
