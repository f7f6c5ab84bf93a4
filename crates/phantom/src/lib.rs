//! paddock's phantom credential proxy.
//!
//! Jailed code holds a phantom token (`phm_` + 64 hex) instead of an API
//! key. It calls `ANY /v1/<service>/<rest>` on this proxy; the proxy looks
//! the token up, checks the service and the session's path scopes against
//! the canonical path the upstream will receive, swaps the token for the
//! tenant's real key in the upstream's header style, and streams the
//! exchange both ways. Every request, forwarded or refused, is reported as
//! an [`Event`] for the audit log.
//!
//! The proxy knows nothing of databases or tenants' storage: an
//! [`Authority`] (the control plane) resolves tokens, spends request
//! budgets and records events.

pub mod listen;
pub mod path;
pub mod proxy;
pub mod services;
pub mod token;
mod upstream;

use std::future::Future;
use std::time::SystemTime;

pub use proxy::{PhantomProxy, ProxyError, ProxySettings};
pub use services::{AuthStyle, Service, ServiceError, Services};

/// A real upstream key, only ever held in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a phantom token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Tenant whose key the token may spend.
    pub tenant_id: String,
    /// Session the token belongs to.
    pub session_id: String,
    /// The one service the token is for.
    pub service: String,
    /// When the token stops working.
    pub expires_at: SystemTime,
    /// Whether the token (its session) was revoked.
    pub revoked: bool,
    /// Path globs of the session for this service; `None`: the whole service.
    pub scopes: Option<Vec<String>>,
    /// Whether the session has a request budget to spend from.
    pub budgeted: bool,
    /// The tenant's key for the service, if one is stored.
    pub secret: Option<Secret>,
}

/// Why a request was refused (the audit log's `reject_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The path is malformed or could be read two ways (400).
    BadPath,
    /// No credential in the request (401).
    NoToken,
    /// Not a phantom token, unknown, expired or revoked (401).
    UnknownToken,
    /// No such service (404).
    UnknownService,
    /// The token is for another service (403).
    WrongService,
    /// The path is outside the session's scope (403).
    ScopeDenied,
    /// The session's request budget is spent (429).
    BudgetExhausted,
    /// The tenant has no key for the service (502).
    NoUpstreamKey,
    /// The upstream could not be reached or failed (502, 504 on timeout).
    UpstreamError,
}

impl Reject {
    /// The audit log's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::BadPath => "bad_path",
            Reject::NoToken => "no_token",
            Reject::UnknownToken => "unknown_token",
            Reject::UnknownService => "unknown_service",
            Reject::WrongService => "wrong_service",
            Reject::ScopeDenied => "scope_denied",
            Reject::BudgetExhausted => "budget_exhausted",
            Reject::NoUpstreamKey => "no_upstream_key",
            Reject::UpstreamError => "upstream_error",
        }
    }

    /// The status the client receives.
    pub fn status(self) -> u16 {
        match self {
            Reject::BadPath => 400,
            Reject::NoToken | Reject::UnknownToken => 401,
            Reject::WrongService | Reject::ScopeDenied => 403,
            Reject::UnknownService => 404,
            Reject::BudgetExhausted => 429,
            Reject::NoUpstreamKey | Reject::UpstreamError => 502,
        }
    }
}

/// One request through the proxy, for the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The token's tenant, when the token was known.
    pub tenant_id: Option<String>,
    /// The token's session, when the token was known.
    pub session_id: Option<String>,
    /// The service named by the path, when it exists.
    pub service: Option<String>,
    /// Request method.
    pub method: String,
    /// Path under the service, canonical (as forwarded), without the query.
    pub path: String,
    /// Status answered to the client.
    pub status: u16,
    /// Why it was refused; `None` when forwarded and answered.
    pub reject: Option<Reject>,
    /// Time from sending upstream to the upstream's response head.
    pub upstream_ms: Option<f64>,
}

/// An authority could not answer (its storage failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthorityError(pub String);

/// What the proxy asks of the control plane.
pub trait Authority: Send + Sync + 'static {
    /// The grant of a well-formed token, valid or not (expired and revoked
    /// grants are returned so that the refusal can say so); `None` when no
    /// such token exists. Implementations look tokens up by a hash of
    /// the token and compare in constant time; they must not cache a
    /// grant past its revocation.
    fn grant(&self, token: &str) -> impl Future<Output = Result<Option<Grant>, AuthorityError>> + Send;

    /// Spends one request of a budgeted session; `false` when none is left.
    fn spend(&self, session_id: &str) -> impl Future<Output = Result<bool, AuthorityError>> + Send;

    /// Records one request.
    fn record(&self, event: Event) -> impl Future<Output = ()> + Send;
}
