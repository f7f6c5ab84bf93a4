//! The audit log: control-plane actions written by every service, and
//! both halves of the log read back (the phantom proxy's requests in
//! agentjail's shape, and the actions separately).

use paddock_api::ledger::{ActionList, ActionRow, AuditList, AuditRow as AuditWire};
use paddock_api::Error;

use crate::db::{AuditRow, Db, Scope};
use crate::services::identity::Caller;
use crate::services::rfc3339;

/// Writes and reads the audit log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Db,
}

impl AuditLog {
    /// The audit log in `db`.
    pub fn new(db: Db) -> AuditLog {
        AuditLog { db }
    }

    /// Appends a control-plane action; a failure is logged, not fatal.
    pub async fn record(&self, caller: &Caller, action: &str, target: &str) {
        let row = AuditRow {
            tenant_id: caller.tenant.clone(),
            actor: Some(caller.key_id.clone()),
            action: Some(action.to_owned()),
            target: Some(target.to_owned()),
            ..AuditRow::default()
        };
        if let Err(err) = self.db.insert_audit(&row).await {
            tracing::error!(%err, action, "writing an audit row");
        }
    }

    /// The phantom proxy's requests in scope, newest first.
    pub async fn requests(&self, scope: &Scope, limit: i64, offset: i64) -> Result<AuditList, Error> {
        let (rows, total) = self.db.list_audit(scope, false, limit, offset).await?;
        Ok(AuditList {
            rows: rows.iter().map(request_row).collect(),
            total,
        })
    }

    /// Control-plane actions in scope, newest first.
    pub async fn actions(&self, scope: &Scope, limit: i64, offset: i64) -> Result<ActionList, Error> {
        let (rows, total) = self.db.list_audit(scope, true, limit, offset).await?;
        Ok(ActionList {
            rows: rows
                .into_iter()
                .map(|row| ActionRow {
                    id: row.id,
                    at: rfc3339(row.at_ms),
                    tenant_id: row.tenant_id,
                    actor: row.actor.unwrap_or_default(),
                    action: row.action.unwrap_or_default(),
                    target: row.target.unwrap_or_default(),
                })
                .collect(),
            total,
        })
    }
}

/// A proxy row as agentjail's clients read it: strings never null
/// (`""` when unknown), integer status and milliseconds.
fn request_row(row: &AuditRow) -> AuditWire {
    AuditWire {
        id: row.id,
        at: rfc3339(row.at_ms),
        session_id: row.session_id.clone().unwrap_or_default(),
        service: row.service.clone().unwrap_or_default(),
        method: row.method.clone().unwrap_or_default(),
        path: row.path.clone().unwrap_or_default(),
        status: row.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
        reject_reason: row.reject_reason.clone(),
        // Only a forwarded request has an upstream time, as in agentjail.
        upstream_ms: row
            .upstream_ms
            .filter(|_| row.reject_reason.is_none())
            .map(|ms| ms.max(0.0).round() as u64),
    }
}
