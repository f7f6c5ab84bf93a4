//! Upstream credentials, per tenant: sealed with the master key, never
//! returned.

use paddock_api::credentials::{CredentialRecord, PutCredential};
use paddock_api::{Error, ErrorCode};
use paddock_phantom::Services;

use crate::crypto::{credential_context, fingerprint, MasterKey};
use crate::db::{now_ms, CredentialRow, Db, Scope};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::rfc3339;

/// Longest secret accepted.
const MAX_SECRET: usize = 16 << 10;

/// Stores, lists and deletes credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    db: Db,
    master_key: MasterKey,
    services: Services,
    audit: AuditLog,
}

impl Credentials {
    /// Credentials in `db`, sealed with `master_key`, for `services`.
    pub fn new(db: Db, master_key: MasterKey, services: Services, audit: AuditLog) -> Credentials {
        Credentials {
            db,
            master_key,
            services,
            audit,
        }
    }

    /// Stores or replaces `tenant`'s credential (a rotation keeps `added_at`).
    pub async fn put(&self, caller: &Caller, tenant: &str, body: &PutCredential) -> Result<CredentialRecord, Error> {
        if self.services.get(&body.service).is_none() {
            return Err(Error::new(
                ErrorCode::UnknownService,
                format!("unknown service {:?} (known: {})", body.service, self.services.names()),
            ));
        }
        let secret = body.secret.trim();
        if secret.is_empty() {
            return Err(Error::new(ErrorCode::EmptySecret, "the secret is empty"));
        }
        if secret.len() > MAX_SECRET || secret.chars().any(char::is_control) {
            return Err(Error::new(
                ErrorCode::BadSecret,
                "the secret must be at most 16 KiB without control characters",
            ));
        }
        let (nonce, ciphertext) = self
            .master_key
            .seal(secret.as_bytes(), &credential_context(tenant, &body.service));
        let now = now_ms();
        let stored = self
            .db
            .put_credential(&CredentialRow {
                tenant_id: tenant.to_owned(),
                service: body.service.clone(),
                nonce,
                ciphertext,
                fingerprint: fingerprint(secret),
                added_at: now,
                updated_at: now,
            })
            .await?;
        self.audit.record(caller, "credential.put", &body.service).await;
        Ok(record(&stored))
    }

    /// Credentials in scope.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<CredentialRecord>, Error> {
        Ok(self.db.list_credentials(scope).await?.iter().map(record).collect())
    }

    /// Deletes `tenant`'s credential for `service`: 400 for a service the
    /// server does not know, 404 when none is stored (as agentjail).
    pub async fn remove(&self, caller: &Caller, tenant: &str, service: &str) -> Result<(), Error> {
        if self.services.get(service).is_none() {
            return Err(Error::new(
                ErrorCode::UnknownService,
                format!("unknown service {service:?} (known: {})", self.services.names()),
            ));
        }
        if !self.db.delete_credential(tenant, service).await? {
            return Err(Error::not_found("credential"));
        }
        self.audit.record(caller, "credential.delete", service).await;
        Ok(())
    }
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
