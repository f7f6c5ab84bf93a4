//! Who the caller is, what the host offers, and API keys (ext)
//! (`services::keys` and `services::settings` do the work).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::identity::{CreatedKey, Flavor, KeyRecord, NewKey, Settings, Whoami};

use super::TenantQuery;
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

#[utoipa::path(get, path = "/v1/whoami", operation_id = "whoami", summary = "The caller's tenant and role", description = "(ext) With the tenant's admission budgets (jails at once, the sum of their memory limits) and what its running jails hold of them now, and its storage budget and what its snapshots and workspaces hold of it.", tag = "identity", security(("bearer" = [])), responses((status = 200, description = "The caller's tenant and role, and its budgets", body = Whoami), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 503, description = "The database is unavailable", body = ErrorBody)))]
pub async fn whoami(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<Whoami>> {
    Ok(Json(Whoami {
        budgets: Some(state.runner.tenant_budgets(&caller.tenant)),
        storage: Some(state.workspaces.tenant_storage(&caller.tenant).await?),
        tenant: caller.tenant,
        role: caller.role.as_str().to_owned(),
    }))
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

/// agentjail's settings snapshot; bind addresses and paths only for admins.
#[utoipa::path(get, path = "/v1/config", operation_id = "getConfig", summary = "Server settings", description = "agentjail's settings snapshot: the proxy and its providers, exec defaults, persistence and snapshot retention. Bind addresses, the state directory and the database are left out for operators.", tag = "identity", security(("bearer" = [])), responses((status = 200, description = "The settings the caller may see", body = Settings), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn config(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<Settings>> {
    Ok(Json(crate::services::settings::settings(
        &state.config,
        state.db.backend_name(),
        state.phantom.services(),
        &caller,
    )?))
}

#[utoipa::path(get, path = "/v1/keys", operation_id = "listKeys", summary = "List API keys (admins)", tag = "identity", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "API keys (never tokens)", body = [KeyRecord]), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
) -> ApiResult<Json<Vec<KeyRecord>>> {
    Ok(Json(state.keys.list(&caller, query.tenant.as_deref()).await?))
}

/// Creates a key; the token is in this answer only.
#[utoipa::path(post, path = "/v1/keys", operation_id = "createKey", summary = "Create an API key (admins)", description = "Creates a key; the token is in this answer only.", tag = "identity", security(("bearer" = [])), request_body = NewKey, responses((status = 201, description = "The key, with its token (shown once)", body = CreatedKey), (status = 400, description = "Bad tenant name, role or label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn create_key(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    Ok((StatusCode::CREATED, Json(state.keys.create(&caller, body).await?)))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", operation_id = "revokeKey", summary = "Revoke an API key (admins)", tag = "identity", security(("bearer" = [])), params(("id" = String, Path, description = "Key id")), responses((status = 204, description = "Revoked"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody), (status = 404, description = "No such key", body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.keys.revoke(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
