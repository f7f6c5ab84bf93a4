//! Upstream credentials, per tenant: stored encrypted, never returned.

use paddock_api::{Error, ErrorCode};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::{rfc3339, ListQuery, TenantQuery};
use crate::app::SharedState;
use crate::routes::extract::{ApiJson, Caller};
use crate::crypto::{credential_context, fingerprint};
use crate::routes::error::{ApiResult, ErrorBody};
use crate::db::{now_ms, CredentialRow};

/// Longest secret accepted.
const MAX_SECRET: usize = 16 << 10;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PutCredential {
    service: String,
    secret: String,
}

/// A stored credential (never its secret).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CredentialRecord {
    pub tenant_id: String,
    pub service: String,
    pub added_at: String,
    pub updated_at: String,
    /// A non-reversible fingerprint of the secret, to tell rotations apart.
    pub fingerprint: String,
}

fn record(row: &CredentialRow) -> CredentialRecord {
    CredentialRecord {
        tenant_id: row.tenant_id.clone(),
        service: row.service.clone(),
        added_at: rfc3339(row.added_at),
        updated_at: rfc3339(row.updated_at),
        fingerprint: row.fingerprint.clone(),
    }
}

#[utoipa::path(post, path = "/v1/credentials", operation_id = "putCredential", summary = "Store or replace a credential", tag = "credentials", security(("bearer" = [])), params(TenantQuery), request_body = PutCredential, responses((status = 200, description = "The stored credential (never its secret)", body = CredentialRecord), (status = 400, description = "Unknown service, bad tenant, or an empty or malformed secret", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn put(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<PutCredential>,
) -> ApiResult<Json<CredentialRecord>> {
    let services = state.phantom.services();
    if services.get(&body.service).is_none() {
        return Err(Error::new(ErrorCode::UnknownService,
            format!("unknown service {:?} (known: {})", body.service, services.names()),
        ).into());
    }
    let secret = body.secret.trim();
    if secret.is_empty() {
        return Err(Error::new(ErrorCode::EmptySecret, "the secret is empty").into());
    }
    if secret.len() > MAX_SECRET || secret.chars().any(char::is_control) {
        return Err(Error::new(ErrorCode::BadSecret,
            "the secret must be at most 16 KiB without control characters",
        ).into());
    }
    let tenant = caller.owner(query.tenant.as_deref())?;
    let (nonce, ciphertext) = state
        .master_key
        .seal(secret.as_bytes(), &credential_context(&tenant, &body.service));
    let now = now_ms();
    let stored = state
        .db
        .put_credential(&CredentialRow {
            tenant_id: tenant,
            service: body.service.clone(),
            nonce,
            ciphertext,
            fingerprint: fingerprint(secret),
            added_at: now,
            updated_at: now,
        })
        .await?;
    state.audit(&caller, "credential.put", &body.service).await;
    Ok(Json(record(&stored)))
}

#[utoipa::path(get, path = "/v1/credentials", operation_id = "listCredentials", summary = "List credentials", tag = "credentials", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "Credential records (never secrets)", body = [CredentialRecord]), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<CredentialRecord>>> {
    let rows = state
        .db
        .list_credentials(&caller.scope(query.tenant.as_deref()))
        .await?;
    Ok(Json(rows.iter().map(record).collect()))
}

#[utoipa::path(delete, path = "/v1/credentials/{service}", operation_id = "deleteCredential", summary = "Delete a credential", tag = "credentials", security(("bearer" = [])), params(("service" = String, Path, description = "Service name"), TenantQuery), responses((status = 204, description = "Deleted"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No credential for that service", body = ErrorBody)))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    Path(service): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<StatusCode> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    if !state.db.delete_credential(&tenant, &service).await? {
        return Err(Error::not_found("credential").into());
    }
    state.audit(&caller, "credential.delete", &service).await;
    Ok(StatusCode::NO_CONTENT)
}
