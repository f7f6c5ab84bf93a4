//! Sessions: a set of services whose phantom tokens a jail may use,
//! with a lifetime and optional path scopes. Tokens are returned once, at
//! creation, and stored hashed; closing a session revokes them at once.

use paddock_api::{Error, ErrorCode};
use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{rfc3339, ListQuery, TenantQuery};
use paddock_jail::{HostForward, JailConfig};

use crate::app::SharedState;
use crate::routes::extract::{ApiJson, Caller};
use crate::config::reachable;
use crate::crypto::{new_id, new_token, token_hash};
use crate::routes::error::{ApiError, ApiResult, ErrorBody};
use crate::services::jails::LedgerEntry;
use crate::services::limits;
use paddock_api::{ExecResult, JailOptions};
use crate::db::{now_ms, SessionRow, TokenRow};
use paddock_phantom::{Service, Services};

/// Most globs per service scope, and their longest length.
const MAX_GLOBS: usize = 64;
const MAX_GLOB_BYTES: usize = 512;
/// Largest request budget.
const MAX_BUDGET: u64 = 1_000_000_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSession {
    services: Vec<String>,
    ttl_secs: Option<u64>,
    #[serde(default)]
    scopes: BTreeMap<String, Vec<String>>,
    /// (ext) Requests the phantom proxy forwards for this session at most;
    /// further ones answer 429. No budget when absent.
    max_requests: Option<u64>,
}

/// A session as `GET` returns it (tokens are never shown again).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionRecord {
    pub id: String,
    /// (ext) The owning tenant.
    pub tenant_id: String,
    pub created_at: String,
    pub expires_at: String,
    /// (ext) When it was closed.
    pub closed_at: Option<String>,
    /// (ext) `active`, `expired` or `closed`.
    pub status: String,
    pub services: Vec<String>,
    /// (ext) Path globs per service.
    pub scopes: BTreeMap<String, Vec<String>>,
    /// (ext) Request budget of the phantom proxy; `null`: none.
    pub max_requests: Option<i64>,
    /// (ext) Requests the proxy forwarded.
    pub requests_used: i64,
}

/// A new session: the record and, this once, its environment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    pub tenant_id: String,
    pub created_at: String,
    pub expires_at: String,
    pub closed_at: Option<String>,
    pub status: String,
    pub services: Vec<String>,
    pub scopes: BTreeMap<String, Vec<String>>,
    pub max_requests: Option<i64>,
    pub requests_used: i64,
    /// Phantom tokens and the base URLs pointing at the proxy.
    pub env: BTreeMap<String, String>,
}

fn record(row: &SessionRow) -> SessionRecord {
    let status = if row.closed_at.is_some() {
        "closed"
    } else if row.expires_at <= now_ms() {
        "expired"
    } else {
        "active"
    };
    SessionRecord {
        id: row.id.clone(),
        tenant_id: row.tenant_id.clone(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        closed_at: row.closed_at.map(rfc3339),
        status: status.to_owned(),
        services: serde_json::from_str(&row.services).unwrap_or_default(),
        scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
        max_requests: row.max_requests,
        requests_used: row.requests_used,
    }
}

fn check_scopes(services: &[String], scopes: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    let bad = |msg: String| Error::new(ErrorCode::BadScope, msg);
    for (service, globs) in scopes {
        if !services.contains(service) {
            return Err(bad(format!(
                "a scope names {service:?}, which is not among the session's services"
            )));
        }
        if globs.is_empty() || globs.len() > MAX_GLOBS {
            return Err(bad(format!("{service}: a scope needs 1 to {MAX_GLOBS} paths")));
        }
        // `*` is a wildcard (the agentjail SDK's examples use it inside a
        // path too, as in `/repos/my-org/*/issues*`).
        for glob in globs {
            if !glob.starts_with('/')
                || glob.len() > MAX_GLOB_BYTES
                || glob.contains("**")
                || glob.chars().any(|c| c.is_control() || c == '?' || c == '#')
            {
                return Err(bad(format!(
                    "{service}: scope path {glob:?} must start with '/', without a query, '#' or '**'"
                )));
            }
        }
    }
    Ok(())
}

/// Everything about a new session that can be checked without the store:
/// the services (known, not repeated), the scopes and the TTL.
pub(super) fn validate(body: &NewSession, known: &Services) -> Result<Vec<Service>, ApiError> {
    if body.services.is_empty() {
        return Err(Error::new(ErrorCode::NoServices,
            "a session needs at least one service",
        ).into());
    }
    let mut found = Vec::new();
    for name in &body.services {
        let service = known.get(name).cloned().ok_or_else(|| {
            Error::new(ErrorCode::UnknownService,
                format!("unknown service {name:?} (known: {})", known.names()),
            )
        })?;
        if found.contains(&service) {
            return Err(Error::new(ErrorCode::DuplicateService,
                format!("{name} is listed twice"),
            ).into());
        }
        found.push(service);
    }
    check_scopes(&body.services, &body.scopes)?;
    if body.ttl_secs == Some(0) {
        return Err(Error::new(ErrorCode::BadTtl, "ttl_secs must be at least 1").into());
    }
    if body.max_requests.is_some_and(|n| n == 0 || n > MAX_BUDGET) {
        return Err(Error::new(ErrorCode::BadBudget,
            format!("max_requests must be 1 to {MAX_BUDGET}"),
        ).into());
    }
    Ok(found)
}

#[utoipa::path(post, path = "/v1/sessions", operation_id = "createSession", summary = "Create a session", tag = "sessions", security(("bearer" = [])), params(TenantQuery), request_body = NewSession, responses((status = 201, description = "The session with its env (tokens shown once)", body = Session), (status = 400, description = "Bad services, scopes, TTL or budget, or a service without a stored credential", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<NewSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let services = validate(&body, state.phantom.services())?;
    for service in &services {
        if state.db.credential(&tenant, &service.name).await?.is_none() {
            return Err(Error::new(ErrorCode::NoCredential,
                format!(
                    "no credential is stored for {}; POST /v1/credentials first",
                    service.name
                ),
            ).into());
        }
    }
    let ttl = match body.ttl_secs {
        Some(secs) => Duration::from_secs(secs).min(state.config.session_ttl_max),
        None => state.config.session_ttl_default,
    };
    let now = now_ms();
    let row = SessionRow {
        id: new_id("sess_"),
        tenant_id: tenant.clone(),
        created_at: now,
        expires_at: now + ttl.as_millis() as i64,
        closed_at: None,
        services: serde_json::to_string(&body.services).map_err(Error::internal)?,
        scopes: serde_json::to_string(&body.scopes).map_err(Error::internal)?,
        max_requests: body.max_requests.map(|n| n as i64),
        requests_used: 0,
    };
    let (env, tokens) = mint_env(&row, &services, &state.config.proxy_url());
    state.db.insert_session(&row, &tokens).await?;
    state.audit(&caller, "session.create", &row.id).await;
    let r = record(&row);
    Ok((
        StatusCode::CREATED,
        Json(Session {
            id: r.id,
            tenant_id: r.tenant_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            closed_at: r.closed_at,
            status: r.status,
            services: r.services,
            scopes: r.scopes,
            max_requests: r.max_requests,
            requests_used: r.requests_used,
            env: env.into_iter().collect(),
        }),
    ))
}

/// Fresh phantom tokens for `services` of `session`, and the environment
/// that hands them out with base URLs under `proxy`.
fn mint_env(session: &SessionRow, services: &[Service], proxy: &str) -> (Vec<(String, String)>, Vec<TokenRow>) {
    let mut env = Vec::new();
    let mut tokens = Vec::new();
    for service in services {
        let token = new_token("phm_");
        tokens.push(TokenRow {
            token_hash: token_hash(&token),
            session_id: session.id.clone(),
            tenant_id: session.tenant_id.clone(),
            service: service.name.clone(),
            expires_at: session.expires_at,
            revoked_at: None,
        });
        env.push((service.key_env.clone(), token));
        env.push((service.url_env.clone(), format!("{proxy}{}", service.proxy_base_path())));
    }
    (env, tokens)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExecRequest {
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(flatten)]
    options: JailOptions,
}

/// Runs a command with the session's environment. Each exec gets its own
/// phantom tokens (revoked with the session), and the phantom proxy is
/// reachable on the jail's own `127.0.0.1` whatever the network mode.
#[utoipa::path(post, path = "/v1/sessions/{id}/exec", operation_id = "execSession", summary = "Run a command in a session", description = "Runs a command with the session's environment. Each exec gets its own phantom tokens (revoked with the session), and the phantom proxy is reachable on the jail's own `127.0.0.1` whatever the network mode.", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), request_body = ExecRequest, responses((status = 200, description = "The command's result", body = ExecResult), (status = 400, description = "Empty command or bad limits", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session", body = ErrorBody), (status = 409, description = "Closed or expired session", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExecRequest>,
) -> ApiResult<Json<ExecResult>> {
    let session = state
        .db
        .session(&caller.scope(None), &id)
        .await?
        .ok_or_else(|| Error::not_found("session"))?;
    if session.closed_at.is_some() {
        return Err(Error::new(ErrorCode::SessionClosed,
            "the session is closed",
        ).into());
    }
    if session.expires_at <= now_ms() {
        return Err(Error::new(ErrorCode::SessionExpired,
            "the session has expired",
        ).into());
    }
    if body.cmd.is_empty() {
        return Err(Error::new(ErrorCode::BadCmd, "cmd is empty").into());
    }
    let names: Vec<String> = serde_json::from_str(&session.services).map_err(Error::internal)?;
    // A service the operator has since removed gets no token.
    let services: Vec<Service> = names
        .iter()
        .filter_map(|n| state.phantom.services().get(n).cloned())
        .collect();
    let proxy_port = state.config.proxy_listen.port();
    let (env, tokens) = mint_env(&session, &services, &format!("http://127.0.0.1:{proxy_port}"));
    let mut config = JailConfig::new(body.cmd.clone(), body.args.clone());
    let effective = limits::apply(&body.options, &mut config)?;
    for (key, value) in env {
        config = config.env(key, value);
    }
    config.forwards = vec![HostForward {
        port: proxy_port,
        target: reachable(state.config.proxy_listen),
    }];
    state.db.insert_tokens(&tokens).await?;
    let entry = LedgerEntry {
        tenant: session.tenant_id.clone(),
        kind: "exec",
        session_id: Some(session.id.clone()),
        label: Some(body.cmd.clone()),
        parent_id: None,
        config: serde_json::json!({ "cmd": body.cmd, "args": body.args, "limits": effective }),
    };
    let finished = state.runner.run(entry, config).await?;
    Ok(Json(finished.to_wire()))
}

/// The sessions, newest first, as a JSON array (agentjail's shape; its
/// clients expect an array). `?limit=&offset=` page through them; the
/// total is in `x-total-count`.
#[utoipa::path(get, path = "/v1/sessions", operation_id = "listSessions", summary = "List sessions", description = "The sessions, newest first, as a JSON array (agentjail's shape; its clients expect an array). `?limit=&offset=` page through them; the total is in `x-total-count`.", tag = "sessions", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "Sessions (without tokens); `x-total-count` has the total", body = [SessionRecord], headers(("x-total-count" = i64, description = "Sessions in scope"))), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<([(axum::http::HeaderName, String); 1], Json<Vec<SessionRecord>>)> {
    let (limit, offset) = query.page(1000, 1000);
    let (rows, total) = state
        .db
        .list_sessions(&caller.scope(query.tenant.as_deref()), limit, offset)
        .await?;
    Ok((
        [(axum::http::HeaderName::from_static("x-total-count"), total.to_string())],
        Json(rows.iter().map(record).collect()),
    ))
}

#[utoipa::path(get, path = "/v1/sessions/{id}", operation_id = "getSession", summary = "Get a session", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), responses((status = 200, description = "The session (without tokens)", body = SessionRecord), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionRecord>> {
    let row = state
        .db
        .session(&caller.scope(None), &id)
        .await?
        .ok_or_else(|| Error::not_found("session"))?;
    Ok(Json(record(&row)))
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", operation_id = "closeSession", summary = "Close a session", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), responses((status = 204, description = "Closed; its tokens are revoked"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session", body = ErrorBody)))]
pub async fn close(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let scope = caller.scope(None);
    if state.db.close_session(&scope, &id).await? {
        // The tokens are revoked in the store; requests still streaming
        // through the proxy are cut too.
        let cut = state.phantom.revoke_session(&id);
        state.audit(&caller, "session.close", &id).await;
        if cut > 0 {
            tracing::info!(session = %id, cut, "closing a session cut proxied requests in flight");
        }
        return Ok(StatusCode::NO_CONTENT);
    }
    // Closing a closed session is not an error; an unknown one is.
    match state.db.session(&scope, &id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(Error::not_found("session").into()),
    }
}
