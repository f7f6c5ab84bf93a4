//! Previews (RUNTIME.md §5): ports served inside a running workspace,
//! exposed through the server. This service keeps their records (created,
//! listed, revoked; one active preview per workspace and port), decides
//! who may use one (public until expiry; private with the tenant's API key
//! or the preview's secret) and finds the running jail a request goes to.
//! The HTTP relay itself is in [`crate::routes::previews`].
//!
//! The records are in the database, so previews survive restarts
//! (RUNTIME.md §9: nothing only in memory). A relayed request finds its
//! preview in a short memory of recent reads ([`Memo`]), which a revoke or
//! a replacement through this service clears at once, which checks the
//! expiry on every use, and which serves only while the workspace runs
//! (its deletion, by another service, stops it first). The one step that
//! finds a running jail is [`Previews::jail`], which a later version can
//! point at another node.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use paddock_api::previews::{NewPreview, Preview, PreviewList, DEFAULT_PUBLIC_TTL_SECS, MAX_TTL_SECS};
use paddock_api::workspaces::Workspace;
use paddock_api::{Error, ErrorCode};

use crate::crypto::{new_id, new_token, token_hash};
use crate::db::{now_ms, Db, DbResult, PreviewRow};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::memo::Memo;
use crate::services::rfc3339;
use crate::services::runtime::RunningJail;
use crate::services::workspaces::Workspaces;

/// The query parameter carrying a private preview's secret.
pub const TOKEN_PARAM: &str = "paddock_token";
/// The cookie a private preview's secret is kept in by browsers.
pub const COOKIE: &str = "paddock_preview";

/// Where the server is reached, as the client that created a preview saw
/// it: preview URLs are built from it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// The API's `host[:port]` (path-based URLs).
    pub authority: String,
    /// The port of `authority`, if it names one (host-based URLs keep it).
    pub port: Option<u16>,
}

/// The previews of this server.
#[derive(Debug, Clone)]
pub struct Previews {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    workspaces: Workspaces,
    audit: AuditLog,
    /// The preview domain (`--preview-domain`), lowercase, without dots
    /// around it.
    domain: String,
    /// Active previews read recently, by what requests name.
    remembered: Memo<Target, PreviewRow>,
}

/// What a relayed request names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    /// A workspace's port.
    Port(String, u16),
    /// A workspace domain.
    Domain(String),
}

/// How long a preview read is remembered.
const PREVIEW_MEMORY: Duration = Duration::from_secs(5);
/// Most previews remembered at once.
const MAX_REMEMBERED: usize = 4096;

/// What a host-based request names: a workspace's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// The port inside the workspace.
    pub port: u16,
    /// The workspace id.
    pub workspace_id: String,
}

impl Previews {
    /// Previews over `db`, for `workspaces`, under `domain`.
    pub fn new(db: Db, workspaces: Workspaces, audit: AuditLog, domain: &str) -> Previews {
        Previews {
            inner: Arc::new(Inner {
                db,
                workspaces,
                audit,
                domain: domain.trim_matches('.').to_ascii_lowercase(),
                remembered: Memo::new(PREVIEW_MEMORY, MAX_REMEMBERED),
            }),
        }
    }

    /// The preview domain.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Exposes a port of one of the caller's workspaces; an active preview
    /// of the same port is revoked. Private previews answer their secret
    /// once, in `access_url`.
    pub async fn create(
        &self,
        caller: &Caller,
        workspace_id: &str,
        body: NewPreview,
        origin: &Origin,
    ) -> Result<Preview, Error> {
        let workspace = self
            .inner
            .db
            .workspace(&caller.scope(None), workspace_id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        let port = u16::try_from(body.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::new(ErrorCode::BadPort, "port must be in 1..=65535"))?;
        if port == crate::services::workspaces::JAIL_PROXY_PORT {
            return Err(Error::new(
                ErrorCode::BadPort,
                format!("port {port} is paddock's own in every workspace (the phantom proxy) and cannot be previewed"),
            ));
        }
        let ttl = match (body.ttl_secs, body.public) {
            (Some(0), _) => return Err(Error::new(ErrorCode::BadTtl, "ttl_secs must be at least 1")),
            (Some(t), _) if t > MAX_TTL_SECS => {
                return Err(Error::new(
                    ErrorCode::BadTtl,
                    format!("ttl_secs must be at most {MAX_TTL_SECS} (7 days)"),
                ))
            }
            (Some(t), _) => Some(t),
            (None, true) => Some(DEFAULT_PUBLIC_TTL_SECS),
            (None, false) => None,
        };
        let now = now_ms();
        let secret = (!body.public).then(|| new_token("pvs_"));
        let row = PreviewRow {
            id: new_id("prv_"),
            tenant_id: workspace.tenant_id.clone(),
            workspace_id: workspace.id.clone(),
            port: i64::from(port),
            public: i64::from(body.public),
            hostname: None,
            secret_hash: secret.as_deref().map(token_hash),
            created_at: now,
            expires_at: ttl.map(|t| now.saturating_add((t as i64).saturating_mul(1000))),
            revoked_at: None,
        };
        // A scoped token's preview ends with the token, so that a
        // short-lived token does not leave lasting access behind.
        let row = match &caller.grant {
            Some(grant) => PreviewRow {
                expires_at: Some(row.expires_at.map_or(grant.expires_at, |at| at.min(grant.expires_at))),
                ..row
            },
            None => row,
        };
        self.inner.db.replace_preview(&row).await?;
        let replaced = Target::Port(row.workspace_id.clone(), port);
        self.inner.remembered.forget(|target, _| *target == replaced);
        self.inner.audit.record(caller, "preview.create", &row.id).await;
        let mut preview = self.wire(&row, origin, now);
        if let Some(secret) = secret {
            preview.access_url = Some(format!("{}?{TOKEN_PARAM}={secret}", preview.url));
        }
        Ok(preview)
    }

    /// Every preview of one of the caller's workspaces, newest first.
    pub async fn list(&self, caller: &Caller, workspace_id: &str, origin: &Origin) -> Result<PreviewList, Error> {
        self.inner
            .db
            .workspace(&caller.scope(None), workspace_id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        let now = now_ms();
        let rows = self.inner.db.workspace_previews(workspace_id).await?;
        Ok(PreviewList {
            previews: rows.iter().map(|row| self.wire(row, origin, now)).collect(),
        })
    }

    /// Revokes a preview of one of the caller's workspaces (404 when it is
    /// unknown or already revoked).
    pub async fn revoke(&self, caller: &Caller, workspace_id: &str, preview_id: &str) -> Result<(), Error> {
        self.inner
            .db
            .workspace(&caller.scope(None), workspace_id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        if !self.inner.db.revoke_preview(workspace_id, preview_id, now_ms()).await? {
            return Err(Error::not_found("preview"));
        }
        self.inner.remembered.forget(|_, row| row.id == preview_id);
        self.inner.audit.record(caller, "preview.revoke", preview_id).await;
        Ok(())
    }

    /// Serves a new workspace's domains (agentjail's `domains`) as public
    /// previews of its ports, all or none: each must be a subdomain of the
    /// preview domain (400 `DOMAINS_UNSUPPORTED`) that no other workspace
    /// serves (409 `DOMAIN_TAKEN`). They last as long as the workspace.
    pub async fn claim_domains(&self, workspace: &Workspace) -> Result<(), Error> {
        if workspace.domains.is_empty() {
            return Ok(());
        }
        let suffix = format!(".{}", self.inner.domain);
        let now = now_ms();
        let mut rows = Vec::new();
        for domain in &workspace.domains {
            if !domain.domain.ends_with(&suffix) {
                return Err(Error::new(
                    ErrorCode::DomainsUnsupported,
                    format!(
                        "{} is not under this server's preview domain: use a name ending in {suffix}",
                        domain.domain
                    ),
                ));
            }
            rows.push(PreviewRow {
                id: new_id("prv_"),
                tenant_id: workspace.tenant_id.clone(),
                workspace_id: workspace.id.clone(),
                port: i64::from(domain.vm_port.unwrap_or_default()),
                public: 1,
                hostname: Some(domain.domain.clone()),
                secret_hash: None,
                created_at: now,
                expires_at: None,
                revoked_at: None,
            });
        }
        match self.inner.db.insert_domain_previews(&rows).await {
            Err(err) if err.is_unique_violation() => Err(Error::new(
                ErrorCode::DomainTaken,
                "another workspace already serves one of these domains",
            )),
            other => Ok(other?),
        }
    }

    /// The workspace domain a `Host` names: a subdomain of the preview
    /// domain that is not a `{port}--{workspace}` preview host.
    pub fn domain_target(&self, host: &str) -> Option<String> {
        let name = strip_port(host)?.to_ascii_lowercase();
        let label = name.strip_suffix(self.inner.domain.as_str())?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains("--")).then_some(name)
    }

    /// The preview serving a workspace domain, if any.
    pub async fn domain_preview(&self, hostname: &str) -> Result<Option<PreviewRow>, Error> {
        let read = self.inner.db.domain_preview(hostname);
        self.remembered_or(Target::Domain(hostname.to_owned()), read).await
    }

    /// What a `Host` header names (see [`parse_host`]).
    pub fn target(&self, host: &str) -> Option<Result<HostTarget, ()>> {
        parse_host(&self.inner.domain, host)
    }

    /// The active preview of a workspace's port, if any.
    pub async fn active(&self, workspace_id: &str, port: u16) -> Result<Option<PreviewRow>, Error> {
        let read = self.inner.db.active_preview(workspace_id, port, now_ms());
        self.remembered_or(Target::Port(workspace_id.to_owned(), port), read)
            .await
    }

    /// The active preview of a port of one of the caller's workspaces (404
    /// for the workspace, then for the preview).
    pub async fn active_for(&self, caller: &Caller, workspace_id: &str, port: u16) -> Result<PreviewRow, Error> {
        let scope = caller.scope(None);
        if let Some(row) = self.fresh(&Target::Port(workspace_id.to_owned(), port)) {
            if scope.includes(&row.tenant_id) {
                return Ok(row);
            }
        }
        self.inner
            .db
            .workspace(&scope, workspace_id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        self.active(workspace_id, port)
            .await?
            .ok_or_else(|| Error::not_found("preview"))
    }

    /// A remembered preview that still holds: not expired, and its
    /// workspace runs.
    fn fresh(&self, target: &Target) -> Option<PreviewRow> {
        let row = self.inner.remembered.get(target)?;
        let live = row.active_at(now_ms()) && self.jail(&row).is_some();
        live.then_some(row)
    }

    /// The remembered preview of `target`, or `read`'s (then remembered).
    async fn remembered_or(
        &self,
        target: Target,
        read: impl Future<Output = DbResult<Option<PreviewRow>>>,
    ) -> Result<Option<PreviewRow>, Error> {
        if let Some(row) = self.fresh(&target) {
            return Ok(Some(row));
        }
        let stamp = self.inner.remembered.stamp();
        let row = read.await?;
        if let Some(row) = &row {
            self.inner.remembered.put(target, row.clone(), stamp);
        }
        Ok(row)
    }

    /// The running jail a preview relays into, if its workspace runs (never
    /// started by a preview request).
    pub fn jail(&self, row: &PreviewRow) -> Option<Arc<RunningJail>> {
        self.inner.workspaces.running_jail(&row.workspace_id)
    }

    /// Whether `secret` is the secret of the private preview `row`.
    pub fn secret_matches(row: &PreviewRow, secret: &str) -> bool {
        let Some(stored) = &row.secret_hash else {
            return false;
        };
        let given = token_hash(secret);
        subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), given.as_bytes()).into()
    }

    /// The wire form of a preview at `now`.
    fn wire(&self, row: &PreviewRow, origin: &Origin, now: i64) -> Preview {
        let host = match &row.hostname {
            Some(hostname) => hostname.clone(),
            None => format!("{}--{}.{}", row.port, row.workspace_id, self.inner.domain),
        };
        let host = match origin.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        let state = if row.revoked_at.is_some() {
            "revoked"
        } else if row.active_at(now) {
            "active"
        } else {
            "expired"
        };
        Preview {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            port: u16::try_from(row.port).unwrap_or_default(),
            public: row.public != 0,
            state: state.to_owned(),
            url: format!("{}://{host}/", origin.scheme),
            path_url: format!(
                "{}://{}/v1/workspaces/{}/previews/{}/proxy/",
                origin.scheme, origin.authority, row.workspace_id, row.port
            ),
            hostname: row.hostname.clone(),
            access_url: None,
            expires_at: row.expires_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
            revoked_at: row.revoked_at.map(rfc3339),
        }
    }
}

/// What a `Host` header names under the preview domain `domain`:
/// `None` when it is not a preview host (the API's), `Some(Err)` when it is
/// under the domain and shaped like one (`--` in its label) but malformed,
/// and the workspace's port for `{port}--{workspace}.{domain}[:any]`.
pub fn parse_host(domain: &str, host: &str) -> Option<Result<HostTarget, ()>> {
    let name = strip_port(host)?.to_ascii_lowercase();
    let label = name.strip_suffix(domain)?.strip_suffix('.')?;
    if !label.contains("--") {
        return None;
    }
    let parsed = label.split_once("--").and_then(|(port, workspace)| {
        let valid_port = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        let port = port.parse::<u16>().ok().filter(|p| valid_port && *p > 0)?;
        let valid_id = !workspace.is_empty()
            && workspace.len() <= 64
            && workspace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid_id.then(|| HostTarget {
            port,
            workspace_id: workspace.to_owned(),
        })
    });
    Some(parsed.ok_or(()))
}

/// `host` without a `:port` suffix (`None` for an empty or malformed host).
fn strip_port(host: &str) -> Option<&str> {
    let host = host.trim();
    if host.is_empty() || host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    Some(name.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_hosts_are_parsed() {
        let target = |port, id: &str| {
            Some(Ok(HostTarget {
                port,
                workspace_id: id.to_owned(),
            }))
        };
        assert_eq!(
            parse_host("localhost", "8000--ws_1.localhost:7000"),
            target(8000, "ws_1")
        );
        assert_eq!(parse_host("localhost", "8000--WS_1.LocalHost."), target(8000, "ws_1"));
        assert_eq!(parse_host("localhost", "localhost:7000"), None);
        assert_eq!(parse_host("localhost", "127.0.0.1:7000"), None);
        assert_eq!(parse_host("localhost", "app.localhost"), None);
        assert_eq!(parse_host("localhost", "evil-localhost"), None);
        assert_eq!(parse_host("localhost", "0--ws.localhost"), Some(Err(())));
        assert_eq!(parse_host("localhost", "99999--ws.localhost"), Some(Err(())));
        assert_eq!(parse_host("localhost", "80--a.b.localhost"), Some(Err(())));
        assert_eq!(parse_host("localhost", "a.localhost:x"), None);
        assert_eq!(parse_host("localhost", "[::1]:80"), None);
    }
}
