//! Previews (`/v1/workspaces/{id}/previews`): a port served inside a
//! running workspace, exposed as HTTP and WebSocket through the server,
//! host-based (`http://{port}--{workspace}.{preview-domain}`) and
//! path-based (`/v1/workspaces/{id}/previews/{port}/proxy/...`).

use serde::{Deserialize, Serialize};

/// Lifetime of a public preview when none is asked for, seconds.
pub const DEFAULT_PUBLIC_TTL_SECS: u64 = 3600;
/// Longest lifetime of any preview, seconds (a week).
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// `POST /v1/workspaces/{id}/previews`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPreview {
    /// The port inside the workspace (1..=65535), reached on its
    /// `127.0.0.1`.
    pub port: u32,
    /// Anyone with the URL may use a public preview until it expires; a
    /// private one needs the tenant's API key or the preview's secret.
    #[serde(default)]
    pub public: bool,
    /// Lifetime in seconds (1..=604800). Public previews default to 3600;
    /// private ones do not expire unless asked.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// A preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    /// `prv_` and 24 hex digits.
    pub id: String,
    /// The workspace whose port this exposes.
    pub workspace_id: String,
    /// The port inside the workspace.
    pub port: u16,
    /// Whether anyone with the URL may use it.
    pub public: bool,
    /// `active`, `expired` or `revoked`.
    pub state: String,
    /// The host-based URL (`http://{port}--{workspace}.{preview-domain}/`,
    /// or the custom hostname of a workspace's `domains`).
    pub url: String,
    /// The path-based URL for API clients (needs the tenant's API key).
    pub path_url: String,
    /// A custom hostname (a workspace's `domains`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Private previews, in the creation answer only: `url` with
    /// `?paddock_token=<secret>`, which a browser exchanges for a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_url: Option<String>,
    /// When it stops working (RFC 3339), or `null`.
    pub expires_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked (RFC 3339), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `GET /v1/workspaces/{id}/previews`: active, expired and revoked, newest
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewList {
    /// The workspace's previews.
    pub previews: Vec<Preview>,
}
