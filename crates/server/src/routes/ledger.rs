//! The jail ledger and the audit log (`services::ledger` and
//! `services::audit` do the work).

use axum::extract::{Path, Query, State};
use axum::Json;
use paddock_api::ledger::{ActionList, AuditList, JailRecord, JailsList};

use super::ListQuery;
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::Caller;
use crate::services::ledger::LedgerQuery;

#[utoipa::path(get, path = "/v1/jails", operation_id = "listJails", summary = "List the jail ledger", description = "Newest first. `status` (running, completed, error, cancelled) and `kind` (run, exec, fork, stream, workspace) filter; other values are ignored, as agentjail ignores them. `q` searches labels, session ids, errors and configs, ignoring case.", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "A page of the ledger", body = JailsList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list_jails(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<JailsList>> {
    let (limit, offset) = query.page(50, 1000);
    let scope = caller.scope(query.tenant.as_deref());
    let query = LedgerQuery {
        status: query.status,
        kind: query.kind,
        q: query.q,
        limit,
        offset,
    };
    Ok(Json(state.ledger.list(&scope, query).await?))
}

#[utoipa::path(get, path = "/v1/jails/{id}", operation_id = "getJail", summary = "Get a ledger row", tag = "ledger", security(("bearer" = [])), params(("id" = i64, Path, description = "Ledger id")), responses((status = 200, description = "The ledger row", body = JailRecord), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such jail", body = ErrorBody)))]
pub async fn get_jail(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JailRecord>> {
    Ok(Json(state.ledger.get(&caller.scope(None), &id).await?))
}

/// The phantom proxy's requests, in agentjail's shape.
#[utoipa::path(get, path = "/v1/audit", operation_id = "listAudit", summary = "Read the audit log", description = "The phantom proxy's requests, newest first, in agentjail's shape. Control-plane actions are at `/v1/audit/actions`.", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "A page of the proxy's requests, newest first", body = AuditList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn audit(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<AuditList>> {
    let (limit, offset) = query.page(100, 1000);
    let scope = caller.scope(query.tenant.as_deref());
    Ok(Json(state.audit_log.requests(&scope, limit, offset).await?))
}

/// (ext) Control-plane actions: who created, closed, stored or revoked what.
#[utoipa::path(get, path = "/v1/audit/actions", operation_id = "listAuditActions", summary = "Read the control-plane actions (ext)", description = "Who created, closed, stored, revoked or deleted what, newest first.", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "A page of control-plane actions, newest first", body = ActionList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn audit_actions(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<ActionList>> {
    let (limit, offset) = query.page(100, 1000);
    let scope = caller.scope(query.tenant.as_deref());
    Ok(Json(state.audit_log.actions(&scope, limit, offset).await?))
}
