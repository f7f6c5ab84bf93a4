//! Shared state of the control plane and the request extractors every
//! route uses: the authenticated caller and JSON bodies with API errors.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use paddock_jail::Engine;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::config::{Role, ServerConfig};
use crate::crypto::{token_hash, MasterKey};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::phantom::{AuditWriter, StoreAuthority};
use crate::store::{AuditRow, Scope, Store};
use crate::workspaces::Workspaces;
use paddock_phantom::PhantomProxy;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: ServerConfig,
    /// Database.
    pub store: Store,
    /// The jail engine.
    pub engine: Engine,
    /// Encrypts credentials at rest.
    pub master_key: MasterKey,
    /// One permit per running jail (the global concurrency limit).
    pub slots: Arc<Semaphore>,
    /// Counters for `/metrics` and `/v1/stats`.
    pub metrics: Arc<Metrics>,
    /// The phantom credential proxy (served on its own listener).
    pub phantom: PhantomProxy<StoreAuthority>,
    /// Workspace trees and the snapshot pool.
    pub workspaces: Workspaces,
    /// Writes the proxy's audit rows; taken at shutdown to flush them.
    pub audit_writer: std::sync::Mutex<Option<AuditWriter>>,
    /// When the server started.
    pub started: Instant,
}

/// Shared state as handlers receive it.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Appends a control-plane audit row; a failure is logged, not fatal.
    pub async fn audit(&self, caller: &Caller, action: &str, target: &str) {
        let row = AuditRow {
            tenant_id: caller.tenant.clone(),
            actor: Some(caller.key_id.clone()),
            action: Some(action.to_owned()),
            target: Some(target.to_owned()),
            ..AuditRow::default()
        };
        if let Err(err) = self.store.insert_audit(&row).await {
            tracing::error!(%err, action, "writing an audit row");
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id (never the token).
    pub key_id: String,
    /// The key's tenant.
    pub tenant: String,
    /// The key's role.
    pub role: Role,
}

impl Caller {
    /// The rows this caller may see: an operator's own tenant; for an
    /// admin, every tenant or the one named by `?tenant=`.
    pub fn scope(&self, tenant: Option<&str>) -> Scope {
        match (self.role, tenant.filter(|t| !t.is_empty())) {
            (Role::Admin, Some(tenant)) => Scope::Tenant(tenant.to_owned()),
            (Role::Admin, None) => Scope::All,
            (Role::Operator, _) => Scope::Tenant(self.tenant.clone()),
        }
    }

    /// The tenant a new row belongs to: the caller's, or for an admin the
    /// one named by `?tenant=`.
    pub fn owner(&self, tenant: Option<&str>) -> Result<String, ApiError> {
        match (self.role, tenant.filter(|t| !t.is_empty())) {
            (Role::Admin, Some(tenant)) if crate::config::valid_tenant(tenant) => Ok(tenant.to_owned()),
            (Role::Admin, Some(tenant)) => Err(ApiError::bad_request("BAD_TENANT", format!("bad tenant {tenant:?}"))),
            _ => Ok(self.tenant.clone()),
        }
    }

    /// Refuses operators.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Operator => Err(ApiError::forbidden("this needs an admin key")),
        }
    }
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header (Bearer <api key>)"))?;
        let text = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?
            .trim();
        let token = match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            Some(_) => return Err(ApiError::unauthorized("the Authorization scheme must be Bearer")),
            None => text,
        };
        if token.is_empty() {
            return Err(ApiError::unauthorized("empty API key"));
        }
        let key = state
            .store
            .key_by_hash(&token_hash(token))
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
        let role = Role::parse(&key.role).ok_or_else(|| ApiError::internal("a stored key has an unknown role"))?;
        Ok(Caller {
            key_id: key.id,
            tenant: key.tenant_id,
            role,
        })
    }
}

/// A JSON body whose every rejection is an API error: 400 for malformed
/// or mistyped JSON (with serde's message), 413 over the body limit, 415
/// without a JSON content type.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
                    _ => "BAD_JSON",
                };
                let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
                    StatusCode::BAD_REQUEST
                } else {
                    status
                };
                Err(ApiError::status(status, code, rejection.body_text()))
            }
        }
    }
}
