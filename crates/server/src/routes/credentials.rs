//! Upstream credentials, per tenant: stored encrypted, never returned
//! (`services::credentials` does the work).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::credentials::{CredentialRecord, PutCredential};

use super::TenantQuery;
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

#[utoipa::path(post, path = "/v1/credentials", operation_id = "putCredential", summary = "Store or replace a credential", tag = "credentials", security(("bearer" = [])), params(TenantQuery), request_body = PutCredential, responses((status = 200, description = "The stored credential (never its secret)", body = CredentialRecord), (status = 400, description = "Unknown service, bad tenant, or an empty or malformed secret", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn put(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
    ApiJson(body): ApiJson<PutCredential>,
) -> ApiResult<Json<CredentialRecord>> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    Ok(Json(state.credentials.put(&caller, &tenant, &body).await?))
}

#[utoipa::path(get, path = "/v1/credentials", operation_id = "listCredentials", summary = "List credentials", tag = "credentials", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "Credential records (never secrets)", body = [CredentialRecord]), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
) -> ApiResult<Json<Vec<CredentialRecord>>> {
    Ok(Json(
        state.credentials.list(&caller.scope(query.tenant.as_deref())).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/credentials/{service}", operation_id = "deleteCredential", summary = "Delete a credential", tag = "credentials", security(("bearer" = [])), params(("service" = String, Path, description = "Service name"), TenantQuery), responses((status = 204, description = "Deleted"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 400, description = "A service the server does not know", body = ErrorBody), (status = 404, description = "No credential for that service", body = ErrorBody)))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    Path(service): Path<String>,
    Query(query): Query<TenantQuery>,
) -> ApiResult<StatusCode> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    state.credentials.remove(&caller, &tenant, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}
