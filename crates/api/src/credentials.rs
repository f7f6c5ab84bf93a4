//! Upstream credentials (`/v1/credentials`): stored encrypted, never
//! returned.

use serde::{Deserialize, Serialize};

/// `POST /v1/credentials`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PutCredential {
    /// A service the server knows (`openai`, `anthropic`, `github`, `stripe`, ...).
    pub service: String,
    /// The upstream key (at most 16 KiB, no control characters).
    pub secret: String,
}

/// A stored credential (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialRecord {
    pub tenant_id: String,
    pub service: String,
    pub added_at: String,
    pub updated_at: String,
    /// A non-reversible fingerprint of the secret, to tell rotations apart.
    pub fingerprint: String,
}
