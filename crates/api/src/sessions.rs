//! Sessions: a set of services whose phantom tokens a jail may use, and
//! commands run with them (`/v1/sessions`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::jail::JailOptions;

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewSession {
    /// Services whose phantom tokens the session hands out (at least one).
    #[serde(default)]
    pub services: Vec<String>,
    /// Lifetime in seconds (default: the server's; capped by it).
    pub ttl_secs: Option<u64>,
    /// Path globs each service may be called on.
    #[serde(default)]
    pub scopes: BTreeMap<String, Vec<String>>,
    /// (ext) Requests the phantom proxy forwards for this session at most;
    /// further ones answer 429. No budget when absent.
    pub max_requests: Option<u64>,
}

/// A session, as create, get and list return it (agentjail's
/// `SessionView`, with extensions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub services: Vec<String>,
    /// Phantom tokens and the base URLs pointing at the proxy, per service
    /// (e.g. `OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    pub env: BTreeMap<String, String>,
    /// (ext) The owning tenant.
    pub tenant_id: String,
    /// (ext) When it was closed (only listed with `?include_closed=true`).
    pub closed_at: Option<String>,
    /// (ext) `active`, `expired` or `closed`.
    pub status: String,
    /// (ext) Path globs per service.
    pub scopes: BTreeMap<String, Vec<String>>,
    /// (ext) Request budget of the phantom proxy; `null`: none.
    pub max_requests: Option<i64>,
    /// (ext) Requests the proxy forwarded.
    pub requests_used: i64,
}

/// `POST /v1/sessions/{id}/exec` and `/exec/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecRequest {
    /// The program (looked up on the jail's `PATH`).
    pub cmd: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(flatten)]
    pub options: JailOptions,
}
