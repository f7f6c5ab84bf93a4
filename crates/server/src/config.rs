//! Server settings: listen addresses, state directory, database, keys and
//! limits. Built by `paddock serve` from flags and environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use paddock_jail::egress::TrustedUpstreams;
use paddock_phantom::ProxySettings;

/// A role: admins see and manage every tenant, operators their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every tenant.
    Admin,
    /// One tenant.
    Operator,
}

impl Role {
    /// `admin` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// Parses `admin` or `operator`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// A configured key: `token@tenant:role`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The bearer token.
    pub token: String,
    /// Its tenant.
    pub tenant: String,
    /// Its role.
    pub role: Role,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySpec(***@{}:{})", self.tenant, self.role.as_str())
    }
}

/// Tenant names: 1..=64 of `[A-Za-z0-9_.-]`.
pub fn valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl KeySpec {
    /// Parses a comma-separated list of `token@tenant:role`.
    pub fn parse_list(text: &str) -> Result<Vec<KeySpec>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(KeySpec::parse)
            .collect()
    }

    /// Parses one `token@tenant:role`.
    pub fn parse(text: &str) -> Result<KeySpec, String> {
        let (token, rest) = text
            .rsplit_once('@')
            .ok_or("an API key must look like token@tenant:role")?;
        let (tenant, role) = rest
            .split_once(':')
            .ok_or("an API key must look like token@tenant:role")?;
        if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("an API key token must be at least 16 characters, without spaces".into());
        }
        if token.starts_with(paddock_api::tokens::TOKEN_PREFIX) {
            return Err(format!(
                "an API key token must not start with {:?} (scoped tokens do)",
                paddock_api::tokens::TOKEN_PREFIX
            ));
        }
        if !valid_tenant(tenant) {
            return Err(format!(
                "bad tenant {tenant:?} in an API key (letters, digits, '_', '-', '.')"
            ));
        }
        let role = Role::parse(role).ok_or_else(|| format!("bad role {role:?} in an API key (admin or operator)"))?;
        Ok(KeySpec {
            token: token.to_owned(),
            tenant: tenant.to_owned(),
            role,
        })
    }
}

/// Everything `paddock serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Control-plane address.
    pub listen: SocketAddr,
    /// Phantom proxy address.
    pub proxy_listen: SocketAddr,
    /// The proxy's address as processes outside jails reach it (the base
    /// URL in `session.env`); `http://{proxy_listen}` when `None`.
    pub proxy_public_url: Option<String>,
    /// An extra listener serving only `GET /metrics` without
    /// authentication (`--metrics-listen`); `None`: metrics only on the
    /// API listener, with an admin key.
    pub metrics_listen: Option<SocketAddr>,
    /// The phantom proxy's services, timeouts and trusted CAs.
    pub proxy: ProxySettings,
    /// The control plane's header timeout and connection cap (the proxy
    /// has its own in `proxy`).
    pub api_limits: paddock_phantom::listen::ListenLimits,
    /// State directory (database, master key file, flavors).
    pub state_dir: PathBuf,
    /// `postgres://` URL; SQLite in the state directory when `None`.
    pub database_url: Option<String>,
    /// Keys from the configuration.
    pub api_keys: Vec<KeySpec>,
    /// Master key (hex) from the environment; a key file otherwise.
    pub master_key: Option<String>,
    /// Jails running at once; more requests answer 429.
    pub max_concurrent: usize,
    /// Jails one tenant may run at once; `None`: half of `max_concurrent`,
    /// rounded up (see `services::jails::Budgets`).
    pub tenant_max_concurrent: Option<usize>,
    /// The host's memory in MiB (`MemTotal`), what the memory budget for
    /// jails is worked out from.
    pub host_memory_mb: u64,
    /// How many times the host's memory the sum of running jails' memory
    /// limits may reach (1.0: never more than the host has).
    pub memory_overcommit: f64,
    /// MiB kept out of the jails' budget for the host (the server, the
    /// database, the page cache); `None`: an eighth of the host's memory,
    /// at least 512 MiB.
    pub memory_reserve_mb: Option<u64>,
    /// The sum of one tenant's running jails' memory limits, MiB; `None`:
    /// half the jails' budget.
    pub tenant_memory_mb: Option<u64>,
    /// Upstreams trusted for one tenant's allowlist jails only, by tenant
    /// (the engine's own trusted upstreams apply to every tenant).
    pub tenant_trust: BTreeMap<String, TrustedUpstreams>,
    /// Largest request body, bytes.
    pub body_limit: usize,
    /// Session lifetime when none is asked for.
    pub session_ttl_default: Duration,
    /// Longest session lifetime.
    pub session_ttl_max: Duration,
    /// How long running jails may finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Workspace git clones may use plain `http://` (internal forges, tests).
    pub git_allow_http: bool,
    /// Longest git clone at workspace creation.
    pub git_timeout: Duration,
    /// How often idle workspaces are paused and snapshot retention applied.
    pub maintenance_interval: Duration,
    /// Snapshots older than this are deleted (per tenant; a paused
    /// workspace's own snapshot is kept).
    pub snapshot_max_age: Option<Duration>,
    /// Snapshots beyond this many per tenant are deleted, oldest first.
    pub snapshot_max_count: Option<usize>,
    /// Unreferenced blobs younger than this survive a collection, so a
    /// snapshot being taken keeps the blobs it has written.
    pub gc_min_age: Duration,
    /// Longest wait for a database connection before a request fails with
    /// 503 (a database that is down fails fast instead of hanging).
    pub db_timeout: Duration,
    /// Free bytes the state directory's file system keeps for the record:
    /// below this, new work (jails, workspaces, snapshots) answers 507.
    pub min_free_space: u64,
    /// Bytes of a reserve file in the state directory, given up when the
    /// disk fills so the database can still record what happens.
    pub reserve_space: u64,
    /// Ledger and audit rows older than this are pruned by maintenance.
    pub record_retention: Duration,
    /// Disk limit of workspaces created without one, MiB (`None`: none).
    pub workspace_disk_mb: Option<u64>,
    /// What one tenant's snapshots and workspaces may hold on the state
    /// disk, MiB (see `services::workspaces::storage`); `None`: half the
    /// state disk.
    pub tenant_storage_mb: Option<u64>,
    /// Warm workspaces kept per tenant for `POST /v1/code` (0: each call
    /// makes its own).
    pub code_pool: usize,
    /// Start even when the database has no workspace or snapshot but the
    /// state directory holds some (see `Workspaces::unrecorded_state`).
    pub allow_new_database: bool,
    /// The domain of host-based preview URLs
    /// (`{port}--{workspace}.{preview_domain}`).
    pub preview_domain: String,
}

impl ServerConfig {
    /// The phantom proxy's base URL for processes outside jails.
    pub fn proxy_url(&self) -> String {
        match &self.proxy_public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", reachable(self.proxy_listen)),
        }
    }

    /// Defaults for `state_dir`.
    pub fn new(state_dir: PathBuf) -> ServerConfig {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        ServerConfig {
            listen: ([127, 0, 0, 1], 7000).into(),
            proxy_listen: ([127, 0, 0, 1], 8443).into(),
            proxy_public_url: None,
            metrics_listen: None,
            proxy: ProxySettings::default(),
            api_limits: paddock_phantom::listen::ListenLimits::default(),
            state_dir,
            database_url: None,
            api_keys: Vec::new(),
            master_key: None,
            max_concurrent: (cores * 8).max(8),
            tenant_max_concurrent: None,
            host_memory_mb: host_memory_mb(),
            memory_overcommit: 1.0,
            memory_reserve_mb: None,
            tenant_memory_mb: None,
            tenant_trust: BTreeMap::new(),
            body_limit: 2 << 20,
            session_ttl_default: Duration::from_secs(3600),
            session_ttl_max: Duration::from_secs(24 * 3600),
            shutdown_grace: Duration::from_secs(30),
            git_allow_http: false,
            git_timeout: Duration::from_secs(60),
            maintenance_interval: Duration::from_secs(30),
            snapshot_max_age: None,
            snapshot_max_count: None,
            gc_min_age: Duration::from_secs(600),
            db_timeout: crate::db::DEFAULT_ACQUIRE_TIMEOUT,
            min_free_space: 256 << 20,
            reserve_space: 64 << 20,
            record_retention: Duration::from_secs(90 * 24 * 3600),
            workspace_disk_mb: None,
            tenant_storage_mb: None,
            code_pool: 2,
            allow_new_database: false,
            preview_domain: "localhost".to_owned(),
        }
    }
}

/// The host's memory in MiB: `MemTotal` of `/proc/meminfo` (4 GiB if it
/// cannot be read, so a broken `/proc` gives a small budget, never a large
/// one).
pub fn host_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(4096, |kib| kib >> 10)
}

/// Where the host reaches a listener bound to `addr` (a wildcard address
/// is reached on loopback).
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => (std::net::Ipv4Addr::LOCALHOST, addr.port()).into(),
        ip if ip.is_unspecified() => (std::net::Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse_and_reject_bad_ones() {
        let keys = KeySpec::parse_list("aaaaaaaaaaaaaaaa@acme:admin, bbbbbbbbbbbbbbbb@t-2:operator").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].tenant, "t-2");
        assert_eq!(keys[1].role, Role::Operator);
        for bad in [
            "short@t:admin",
            "aaaaaaaaaaaaaaaa@t:root",
            "aaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaa@bad tenant:admin",
        ] {
            assert!(KeySpec::parse(bad).is_err(), "{bad}");
        }
        assert!(!format!("{:?}", keys[0]).contains("aaaa"));
    }
}
