//! Reading the jail ledger in agentjail's shape, and the public counters.

use paddock_api::identity::PublicStats;
use paddock_api::ledger::{JailRecord, JailsList};
use paddock_api::Error;
use serde_json::{Map, Value};

use crate::db::{Db, JailFilter, JailRow, Scope};
use crate::metrics::Metrics;
use crate::services::rfc3339;

/// Statuses the ledger filters on; any other `?status=` is ignored, as
/// agentjail ignores it.
const STATUSES: [&str; 4] = ["running", "completed", "error", "cancelled"];
/// Kinds the ledger filters on; any other `?kind=` is ignored.
const KINDS: [&str; 5] = ["run", "exec", "fork", "stream", "workspace"];
/// agentjail's `cpu_percent` when a jail has no quota.
const DEFAULT_CPU_PERCENT: u64 = 100;

/// The jail ledger, read.
#[derive(Debug, Clone)]
pub struct JailLedger {
    db: Db,
    metrics: std::sync::Arc<Metrics>,
}

/// What `GET /v1/jails` filters on.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub q: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

impl JailLedger {
    /// The ledger in `db`.
    pub fn new(db: Db, metrics: std::sync::Arc<Metrics>) -> JailLedger {
        JailLedger { db, metrics }
    }

    /// A page of the ledger in scope, newest first.
    pub async fn list(&self, scope: &Scope, query: LedgerQuery) -> Result<JailsList, Error> {
        let filter = JailFilter {
            status: query.status.filter(|s| STATUSES.contains(&s.as_str())),
            kind: query.kind.filter(|k| KINDS.contains(&k.as_str())),
            q: query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
        };
        let (rows, total) = self.db.list_jails(scope, &filter, query.limit, query.offset).await?;
        Ok(JailsList {
            rows: rows.iter().map(record).collect(),
            total,
            limit: query.limit,
            offset: query.offset,
        })
    }

    /// One ledger row in scope.
    pub async fn get(&self, scope: &Scope, id: &str) -> Result<JailRecord, Error> {
        let id: i64 = id.parse().map_err(|_| Error::not_found("jail"))?;
        let row = self.db.jail(scope, id).await?.ok_or_else(|| Error::not_found("jail"))?;
        Ok(record(&row))
    }

    /// Counters across all tenants (`/v1/stats`).
    pub async fn stats(&self) -> Result<PublicStats, Error> {
        let (total, sessions, credentials) = self.db.counters(&Scope::All).await?;
        Ok(PublicStats {
            active_execs: self.metrics.active(),
            total_execs: total,
            sessions,
            credentials,
        })
    }
}

/// A ledger row in the wire's shape.
pub fn record(row: &JailRow) -> JailRecord {
    let stored: Value = serde_json::from_str(&row.config).unwrap_or_default();
    JailRecord {
        id: row.id,
        tenant_id: row.tenant_id.clone(),
        kind: row.kind.clone(),
        started_at: rfc3339(row.started_at),
        ended_at: row.ended_at.map(rfc3339),
        status: row.status.clone(),
        session_id: row.session_id.clone(),
        label: label(&row.kind, row.label.as_deref(), &stored),
        parent_id: row.parent_id,
        exit_code: row.exit_code,
        duration_ms: row.duration_ms.map(|ms| ms.max(0.0).round() as u64),
        timed_out: row.timed_out,
        oom_killed: row.oom_killed,
        memory_peak_bytes: row.memory_peak_bytes,
        memory_current_bytes: row.memory_current_bytes,
        cpu_usage_usec: row.cpu_usage_usec,
        io_read_bytes: row.io_read_bytes,
        io_write_bytes: row.io_write_bytes,
        pids_current: row.pids_current,
        stdout: row.stdout.clone(),
        stderr: row.stderr.clone(),
        error: row.error.clone(),
        config: config(&stored),
        egress: row
            .egress
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
    }
}

/// agentjail's label of a row: a workspace exec is
/// `workspace:<id>/<cmd>`; other kinds keep the label they were written
/// with (language, command, `<lang> · parent|child`); never null.
fn label(kind: &str, stored: Option<&str>, config: &Value) -> String {
    if kind == "workspace" {
        if let (Some(id), Some(cmd)) = (config["workspace_id"].as_str(), config["cmd"].as_str()) {
            return format!("workspace:{id}/{cmd}");
        }
    }
    stored.unwrap_or_default().to_owned()
}

/// The one `config` shape of every row (agentjail's `JailConfigSnapshot`):
/// the applied limits flattened (`cpu_percent` 100 when there was no
/// quota), empty `network_domains` and absent git keys left out; then the
/// kind's own keys (ext).
fn config(stored: &Value) -> Value {
    let mut out = Map::new();
    if let Some(limits) = stored.get("limits").filter(|l| l.is_object()) {
        let network = &limits["network"];
        out.insert(
            "network_mode".into(),
            network.get("mode").cloned().unwrap_or_else(|| "none".into()),
        );
        if let Some(domains) = network["domains"].as_array().filter(|d| !d.is_empty()) {
            out.insert("network_domains".into(), Value::Array(domains.clone()));
        }
        out.insert(
            "seccomp".into(),
            limits.get("seccomp").cloned().unwrap_or_else(|| "standard".into()),
        );
        for key in ["memory_mb", "timeout_secs"] {
            if let Some(value) = limits.get(key) {
                out.insert(key.into(), value.clone());
            }
        }
        let cpu = limits["cpu_percent"]
            .as_u64()
            .filter(|&c| c > 0)
            .unwrap_or(DEFAULT_CPU_PERCENT);
        out.insert("cpu_percent".into(), cpu.into());
        if let Some(value) = limits.get("max_pids") {
            out.insert("max_pids".into(), value.clone());
        }
    }
    if let Some(stored) = stored.as_object() {
        for (key, value) in stored {
            if key == "limits" || value.is_null() || out.contains_key(key) {
                continue;
            }
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_flat_with_integer_cpu_and_no_nulls() {
        let stored = serde_json::json!({
            "language": "bash",
            "git_ref": null,
            "limits": {"timeout_secs": 30, "memory_mb": 512, "cpu_percent": 0, "max_pids": 256,
                       "network": {"mode": "none", "domains": []}, "seccomp": "standard"},
        });
        let out = config(&stored);
        assert_eq!(
            out,
            serde_json::json!({"network_mode": "none", "seccomp": "standard", "memory_mb": 512,
                               "timeout_secs": 30, "cpu_percent": 100, "max_pids": 256, "language": "bash"})
        );
        let label = label(
            "workspace",
            Some("my-ws"),
            &serde_json::json!({"workspace_id": "wrk_1", "cmd": "ls"}),
        );
        assert_eq!(label, "workspace:wrk_1/ls");
    }
}
