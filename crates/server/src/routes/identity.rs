//! Who the caller is, what the host offers, and API keys (ext).

use paddock_api::{Error, ErrorCode};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::{rfc3339, ListQuery, TenantQuery};
use crate::app::SharedState;
use crate::routes::extract::{ApiJson, Caller};
use crate::config::Role;
use crate::crypto::{new_id, new_token, token_hash};
use crate::routes::error::{ApiResult, ErrorBody};
use crate::db::{now_ms, KeyRow};

/// The caller's tenant and role.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Whoami {
    pub tenant: String,
    /// `admin` or `operator`.
    pub role: String,
}

/// A flavor the host offers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Flavor {
    pub name: String,
}

#[utoipa::path(get, path = "/v1/whoami", operation_id = "whoami", summary = "The caller's tenant and role", tag = "identity", security(("bearer" = [])), responses((status = 200, description = "The caller's tenant and role", body = Whoami), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn whoami(caller: Caller) -> Json<Whoami> {
    Json(Whoami {
        tenant: caller.tenant,
        role: caller.role.as_str().to_owned(),
    })
}

/// Directories under `$state_dir/flavors/`.
#[utoipa::path(get, path = "/v1/flavors", operation_id = "listFlavors", summary = "List flavors", description = "Directories under `$state_dir/flavors/`.", tag = "identity", security(("bearer" = [])), responses((status = 200, description = "The flavors this host offers", body = [Flavor]), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn flavors(State(state): State<SharedState>, _caller: Caller) -> Json<Vec<Flavor>> {
    Json(
        state
            .workspaces
            .flavor_names()
            .into_iter()
            .map(|name| Flavor { name })
            .collect(),
    )
}

/// Bind addresses and the state directory for admins; the same fields,
/// blanked, for operators.
#[utoipa::path(get, path = "/v1/config", operation_id = "getConfig", summary = "Server settings", description = "Bind addresses and the state directory for admins; the same fields, blanked, for operators.", tag = "identity", security(("bearer" = [])), responses((status = 200, description = "Addresses and state directory (blank for operators)", body = Object), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn config(State(state): State<SharedState>, caller: Caller) -> Json<serde_json::Value> {
    let admin = caller.role == Role::Admin;
    let show = |value: String| if admin { value } else { String::new() };
    let c = &state.config;
    Json(serde_json::json!({
        "listen": show(c.listen.to_string()),
        "proxy_listen": show(c.proxy_listen.to_string()),
        "state_dir": show(c.state_dir.display().to_string()),
        "database": show(state.db.backend_name().to_owned()),
        "max_concurrent": c.max_concurrent,
        "session_ttl_max_secs": c.session_ttl_max.as_secs(),
        "proxy": {
            "base_url": c.proxy_url(),
            "services": state.phantom.services().iter().map(|svc| serde_json::json!({
                "name": svc.name,
                "upstream": show(svc.upstream_url()),
                "auth": svc.auth.to_string(),
                "key_env": svc.key_env,
                "url_env": svc.url_env,
                "base_path": svc.proxy_base_path(),
            })).collect::<Vec<_>>(),
        },
    }))
}

fn key_json(key: &KeyRow) -> serde_json::Value {
    serde_json::json!({
        "id": key.id,
        "tenant": key.tenant_id,
        "role": key.role,
        "label": key.label,
        "source": key.source,
        "created_at": rfc3339(key.created_at),
        "revoked_at": key.revoked_at.map(rfc3339),
    })
}

#[utoipa::path(get, path = "/v1/keys", operation_id = "listKeys", summary = "List API keys (admins)", tag = "identity", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "API keys (never tokens)", body = [Object]), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    caller.require_admin()?;
    let keys = state.db.list_keys(&caller.scope(query.tenant.as_deref())).await?;
    Ok(Json(keys.iter().map(key_json).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    tenant: String,
    role: Role,
    label: Option<String>,
}

/// Creates a key; the token is in this answer only.
#[utoipa::path(post, path = "/v1/keys", operation_id = "createKey", summary = "Create an API key (admins)", description = "Creates a key; the token is in this answer only.", tag = "identity", security(("bearer" = [])), request_body = NewKey, responses((status = 201, description = "The key, with its token (shown once)", body = Object), (status = 400, description = "Bad tenant name or label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn create_key(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    caller.require_admin()?;
    if !crate::config::valid_tenant(&body.tenant) {
        return Err(Error::new(ErrorCode::BadTenant,
            "tenant names are 1 to 64 letters, digits, '_', '-' or '.'",
        ).into());
    }
    if body.label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(Error::new(ErrorCode::BadLabel, "the label is longer than 200 bytes").into());
    }
    let token = new_token("pdk_");
    let key = KeyRow {
        id: new_id("key_"),
        tenant_id: body.tenant,
        role: body.role.as_str().to_owned(),
        token_hash: token_hash(&token),
        label: body.label,
        source: "api".into(),
        created_at: now_ms(),
        revoked_at: None,
    };
    state.db.insert_key(&key).await?;
    state.audit(&caller, "key.create", &key.id).await;
    let mut json = key_json(&key);
    json["token"] = serde_json::Value::String(token);
    Ok((StatusCode::CREATED, Json(json)))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", operation_id = "revokeKey", summary = "Revoke an API key (admins)", tag = "identity", security(("bearer" = [])), params(("id" = String, Path, description = "Key id")), responses((status = 204, description = "Revoked"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody), (status = 404, description = "No such key", body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    if !state.db.revoke_key(&caller.scope(None), &id).await? {
        return Err(Error::not_found("key").into());
    }
    state.audit(&caller, "key.revoke", &id).await;
    Ok(StatusCode::NO_CONTENT)
}
