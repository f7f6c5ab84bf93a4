//! The control plane as the phantom proxy's authority: tokens resolved
//! from the db on every request (no cache, so a revocation or an expiry
//! takes effect at once, on every node sharing the database), credentials
//! opened with the master key, budgets spent in the db, and each
//! request written to the audit log by a background writer that batches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use paddock_phantom::{Authority, AuthorityError, Event, Grant, Secret};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::crypto::{credential_context, token_hash, MasterKey};
use crate::db::{retry_after_failure, AuditRow, Db, DbFault, RetryPolicy};
use crate::metrics::Metrics;

/// Audit rows waiting for the writer; when it falls this far behind,
/// proxied requests wait for it (backpressure) rather than lose rows.
const AUDIT_QUEUE: usize = 4096;
/// Rows written per transaction at most.
const AUDIT_BATCH: usize = 256;

/// Resolves phantom tokens for the proxy.
#[derive(Debug)]
pub struct DbAuthority {
    db: Db,
    master_key: MasterKey,
    metrics: Arc<Metrics>,
    audit: mpsc::Sender<AuditRow>,
}

/// The background task that writes proxy audit rows.
#[derive(Debug)]
pub struct AuditWriter {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl AuditWriter {
    /// Stops taking rows and waits until every queued row is written (at
    /// shutdown, once the proxy has stopped).
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

impl DbAuthority {
    /// The authority and its audit writer (spawned on the current runtime).
    pub fn start(db: Db, master_key: MasterKey, metrics: Arc<Metrics>) -> (DbAuthority, AuditWriter) {
        let (tx, rx) = mpsc::channel(AUDIT_QUEUE);
        let stop = CancellationToken::new();
        let task = tokio::spawn(write_audit(db.clone(), rx, stop.clone()));
        (
            DbAuthority {
                db,
                master_key,
                metrics,
                audit: tx,
            },
            AuditWriter { task, stop },
        )
    }
}

async fn write_audit(db: Db, mut rx: mpsc::Receiver<AuditRow>, stop: CancellationToken) {
    let mut batch = Vec::with_capacity(AUDIT_BATCH);
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, AUDIT_BATCH) => n,
            () = stop.cancelled(), if !rx.is_closed() => {
                // Refuse new rows, then drain what is queued.
                rx.close();
                continue;
            }
        };
        if received == 0 {
            break;
        }
        write_batch(&db, &batch, &stop).await;
        batch.clear();
    }
}

/// Writes one batch of proxy audit rows. While the database is down or
/// full the batch is retried with backoff (rows arriving meanwhile wait in
/// the channel), up to about five minutes, or once more at shutdown.
async fn write_batch(db: &Db, batch: &[AuditRow], stop: &CancellationToken) {
    let Err(err) = db.insert_audit_batch(batch).await else {
        return;
    };
    if err.fault() != DbFault::Other && !stop.is_cancelled() {
        tracing::warn!(%err, rows = batch.len(), "writing phantom proxy audit rows failed; retrying");
    }
    match retry_after_failure(err, AUDIT_RETRY, Some(stop), || db.insert_audit_batch(batch)).await {
        Ok(retries) => tracing::info!(
            rows = batch.len(),
            attempt = retries + 1,
            "phantom proxy audit rows written after a retry"
        ),
        Err(err) => tracing::error!(%err, rows = batch.len(), "writing phantom proxy audit rows; they are lost"),
    }
}

/// Retries of a batch of proxy audit rows (see [`write_batch`]).
const AUDIT_RETRY: RetryPolicy = RetryPolicy {
    first_delay: std::time::Duration::from_millis(250),
    max_delay: std::time::Duration::from_secs(5),
    attempts: 63,
};

impl Authority for DbAuthority {
    async fn grant(&self, token: &str) -> Result<Option<Grant>, AuthorityError> {
        let hash = token_hash(token);
        let row = self
            .db
            .phantom_grant(&hash)
            .await
            .map_err(|e| AuthorityError(e.to_string()))?;
        // The lookup is by hash, so its timing says nothing about the
        // token; the comparison re-checks it without early exit.
        let Some(row) = row.filter(|r| bool::from(r.token_hash.as_bytes().ct_eq(hash.as_bytes()))) else {
            return Ok(None);
        };
        let mut scopes: BTreeMap<String, Vec<String>> = serde_json::from_str(&row.scopes).unwrap_or_default();
        let secret = match (&row.nonce, &row.ciphertext) {
            (Some(nonce), Some(sealed)) => {
                let opened = self
                    .master_key
                    .open(nonce, sealed, &credential_context(&row.tenant_id, &row.service))
                    .and_then(|plain| String::from_utf8(plain).ok());
                if opened.is_none() {
                    tracing::error!(
                        tenant = %row.tenant_id,
                        service = %row.service,
                        "a stored credential does not open with this master key"
                    );
                }
                opened.map(Secret)
            }
            _ => None,
        };
        Ok(Some(Grant {
            scopes: scopes.remove(&row.service),
            tenant_id: row.tenant_id,
            session_id: row.session_id,
            service: row.service,
            expires_at: UNIX_EPOCH + Duration::from_millis(row.expires_at.max(0) as u64),
            revoked: row.revoked_at.is_some() || row.closed_at.is_some(),
            budgeted: row.max_requests.is_some(),
            secret,
        }))
    }

    async fn spend(&self, session_id: &str) -> Result<bool, AuthorityError> {
        self.db
            .spend_request(session_id)
            .await
            .map_err(|e| AuthorityError(e.to_string()))
    }

    async fn record(&self, event: Event) {
        let outcome = event.reject.map_or("forwarded", |r| r.as_str());
        self.metrics.proxy_request(
            outcome,
            event
                .upstream_ms
                .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
        );
        let row = AuditRow {
            tenant_id: event.tenant_id.unwrap_or_default(),
            session_id: event.session_id,
            service: event.service,
            method: Some(event.method),
            path: Some(event.path),
            status: Some(i64::from(event.status)),
            reject_reason: event.reject.map(|r| r.as_str().to_owned()),
            upstream_ms: event.upstream_ms,
            ..AuditRow::default()
        };
        if self.audit.send(row).await.is_err() {
            tracing::error!("the audit writer has stopped; a proxy audit row was lost");
        }
    }
}
