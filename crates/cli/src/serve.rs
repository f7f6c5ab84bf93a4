//! `paddock serve`: the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use paddock_jail::Engine;
use paddock_phantom::Services;
use paddock_server::config::{KeySpec, ServerConfig};

use crate::parse;

/// Options of `paddock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Control-plane address.
    #[arg(long, env = "PADDOCK_LISTEN", default_value = "127.0.0.1:7000")]
    pub listen: SocketAddr,
    /// Phantom proxy address. Jails reach it on their own loopback
    /// whatever this is.
    #[arg(long, env = "PADDOCK_PROXY_LISTEN", default_value = "127.0.0.1:8443")]
    pub proxy_listen: SocketAddr,
    /// The proxy's URL as processes outside jails reach it (the base URLs
    /// in `session.env`; default: http://PROXY_LISTEN).
    #[arg(long, env = "PADDOCK_PROXY_PUBLIC_URL", value_name = "URL")]
    pub proxy_public_url: Option<String>,
    /// Also serve `GET /metrics` here, without authentication, for a
    /// Prometheus scraper (its counters span every tenant: bind it where
    /// only the operator reaches it). Without it, `/metrics` on the API
    /// listener needs an admin key.
    #[arg(long, env = "PADDOCK_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Point a built-in service at another upstream, or add one:
    /// NAME=URL[,auth=bearer|x-api-key|basic|header:NAME][,env=PREFIX].
    /// Repeatable; the variable takes a ';'-separated list.
    #[arg(
        long = "service",
        value_name = "SPEC",
        env = "PADDOCK_SERVICES",
        value_delimiter = ';'
    )]
    pub services: Vec<String>,
    /// PEM file of a CA the proxy trusts for upstreams, besides the
    /// system's roots (internal services). Repeatable.
    #[arg(
        long = "upstream-ca",
        value_name = "FILE",
        env = "PADDOCK_UPSTREAM_CA",
        value_delimiter = ':'
    )]
    pub upstream_ca: Vec<PathBuf>,
    /// Longest wait for a connection to an upstream.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub upstream_connect_timeout: Duration,
    /// Longest proxied exchange, streamed response included.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse::duration)]
    pub upstream_timeout: Duration,
    /// State directory: the SQLite database, the master key file, flavors
    /// (default /var/lib/paddock as root, ~/.local/state/paddock otherwise).
    #[arg(long, env = "PADDOCK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// PostgreSQL URL; SQLite in the state directory when absent.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Jails running at once; more requests answer 429 (default: 8 per core).
    #[arg(long, env = "PADDOCK_MAX_CONCURRENT", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent: Option<u32>,
    /// Jails one tenant may run at once (default: half of --max-concurrent,
    /// rounded up, so one tenant never holds the slots others need).
    #[arg(long, env = "PADDOCK_TENANT_MAX_CONCURRENT", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tenant_max_concurrent: Option<u32>,
    /// The sum of one tenant's running jails' memory limits (default: half
    /// the jails' memory budget).
    #[arg(long, env = "PADDOCK_TENANT_MEMORY", value_name = "SIZE", value_parser = parse::memory_mib)]
    pub tenant_memory: Option<u64>,
    /// Disk limit of workspaces created without `disk_mb`: each tree lives
    /// on a file system of this size (an ext4 image on a loop device; root
    /// only). Default: no limit of their own.
    #[arg(long, env = "PADDOCK_WORKSPACE_DISK", value_name = "SIZE", value_parser = parse::disk_mib)]
    pub workspace_disk: Option<u64>,
    /// What one tenant's snapshots, forks and disk-limited workspaces may
    /// hold on the state disk; more is refused with 507 STORAGE_BUDGET
    /// (default: half the state disk).
    #[arg(long, env = "PADDOCK_TENANT_STORAGE", value_name = "SIZE", value_parser = parse::disk_mib)]
    pub tenant_storage: Option<u64>,
    /// Warm workspaces (started, a Python kernel waiting) kept per tenant
    /// for the workspace-less `POST /v1/code`, made on the tenant's first
    /// call (0: each call makes its own workspace).
    #[arg(long, env = "PADDOCK_CODE_POOL", value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub code_pool: u16,
    /// How many times the host's memory the running jails' memory limits
    /// may add up to (1: admission never promises more than the host has).
    #[arg(long, env = "PADDOCK_MEMORY_OVERCOMMIT", value_name = "RATIO", default_value = "1", value_parser = parse_overcommit)]
    pub memory_overcommit: f64,
    /// Host memory kept out of the jails' budget for the server, the
    /// database and the page cache (default: an eighth of the host's
    /// memory, at least 512 MiB).
    #[arg(long, env = "PADDOCK_MEMORY_RESERVE", value_name = "SIZE", value_parser = parse::size)]
    pub memory_reserve: Option<u64>,
    /// After SIGTERM or SIGINT, how long running jails may finish.
    #[arg(long, default_value = "30s", value_parser = parse::duration)]
    pub shutdown_grace: Duration,
    /// Let workspace git clones use plain http:// (internal forges, tests);
    /// private addresses also need --trust-host or --trust-cidr.
    #[arg(long, env = "PADDOCK_GIT_ALLOW_HTTP")]
    pub git_allow_http: bool,
    /// Longest git clone at workspace creation.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse::duration)]
    pub git_timeout: Duration,
    /// How often idle workspaces are paused and snapshot retention runs.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse::duration)]
    pub maintenance_interval: Duration,
    /// Delete snapshots older than this (per tenant; a paused workspace's
    /// own snapshot is kept).
    #[arg(long, value_name = "DURATION", value_parser = parse::long_duration)]
    pub snapshot_max_age: Option<Duration>,
    /// Keep at most this many snapshots per tenant (newest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub snapshot_max_count: Option<u32>,
    /// Unreferenced blobs younger than this survive a garbage collection.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse::duration)]
    pub snapshot_gc_min_age: Duration,
    /// Longest wait for a database connection; past it a request answers
    /// 503 with Retry-After instead of hanging.
    #[arg(long, env = "PADDOCK_DB_TIMEOUT", value_name = "DURATION", default_value = "3s", value_parser = parse::duration)]
    pub db_timeout: Duration,
    /// Free space the state directory's disk keeps for the database: below
    /// it, new jails, workspaces and snapshots answer 507.
    #[arg(long, env = "PADDOCK_MIN_FREE_SPACE", value_name = "SIZE", default_value = "256m", value_parser = parse::size)]
    pub min_free_space: u64,
    /// Size of the reserve file kept in the state directory and given up
    /// when the disk fills, so the database can still write (0: none).
    #[arg(long, env = "PADDOCK_RESERVE_SPACE", value_name = "SIZE", default_value = "64m", value_parser = parse::size)]
    pub reserve_space: u64,
    /// Ledger and audit rows older than this are deleted by maintenance.
    #[arg(long, env = "PADDOCK_RECORD_RETENTION", value_name = "DURATION", default_value = "90d", value_parser = parse::long_duration)]
    pub record_retention: Duration,
    /// Start even when the database has no workspace or snapshot while the
    /// state directory holds workspace trees or snapshot blobs (a replaced
    /// database): the trees move to lost+found, unreferenced blobs are
    /// collected. Without it such a start is refused.
    #[arg(long, env = "PADDOCK_ALLOW_NEW_DATABASE")]
    pub allow_new_database: bool,
    /// The domain of host-based preview URLs: `{port}--{workspace}.DOMAIN`
    /// (`localhost` resolves to loopback in browsers; use a wildcard DNS
    /// name pointing at this server otherwise).
    #[arg(long, env = "PADDOCK_PREVIEW_DOMAIN", default_value = "localhost")]
    pub preview_domain: String,
    /// Longest wait for a request head on the control plane and the
    /// phantom proxy, counted from when a connection waits for one (the
    /// first request's and each keep-alive one's, so idle keep-alive
    /// connections close after it too). Streamed responses are not timed.
    #[arg(long, env = "PADDOCK_HEADER_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = parse::duration)]
    pub header_timeout: Duration,
    /// Longest wait for the next bytes of a request body being read, on
    /// the control plane and the phantom proxy: a client that stalls (or
    /// trickles slower) is answered 408 and its connection closed. A body
    /// that keeps flowing is never cut.
    #[arg(long, env = "PADDOCK_BODY_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = parse::duration)]
    pub body_timeout: Duration,
    /// Connections each listener (control plane, phantom proxy) serves at
    /// once; when full, the one waiting longest for a request head is
    /// closed to make room (default: a quarter of the open-files limit,
    /// at most 4096).
    #[arg(long, env = "PADDOCK_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Pre-created jails kept ready.
    #[arg(long, default_value = "4")]
    pub warm_pool: usize,
    /// Host uids and gids root-mode jails take their blocks of 65536 from,
    /// as START:COUNT (default 2147483648:1073741824). No other user or
    /// group on the host may use them. Ignored rootless.
    #[arg(long, env = "PADDOCK_JAIL_IDS", value_name = "START:COUNT", value_parser = paddock_jail::IdRange::parse)]
    pub jail_ids: Option<paddock_jail::IdRange>,
    #[command(flatten)]
    pub egress: crate::egress_args::EgressArgs,
    #[command(flatten)]
    pub tenant_trust: crate::egress_args::TenantTrustArgs,
}

/// `--memory-overcommit`: a finite ratio from 0.1 to 10.
fn parse_overcommit(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ratio) if ratio.is_finite() && (0.1..=10.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a ratio from 0.1 to 10 (1: no overcommit)")),
    }
}

/// Where state lives by default.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/paddock");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("paddock")
}

/// API keys from `PADDOCK_API_KEYS`, or `AGENTJAIL_API_KEY` (the alias
/// agentjail deployments set).
fn keys_from_env() -> Result<Vec<KeySpec>, String> {
    let text = std::env::var("PADDOCK_API_KEYS")
        .or_else(|_| std::env::var("AGENTJAIL_API_KEY"))
        .unwrap_or_default();
    KeySpec::parse_list(&text).map_err(|e| format!("PADDOCK_API_KEYS: {e}"))
}

/// The server configuration the flags describe.
pub fn build_config(args: &ServeArgs) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::new(args.state_dir.clone().unwrap_or_else(default_state_dir));
    config.listen = args.listen;
    config.proxy_listen = args.proxy_listen;
    config.metrics_listen = args.metrics_listen;
    config.proxy_public_url = match &args.proxy_public_url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.clone()),
        Some(url) => return Err(format!("--proxy-public-url must be an http(s) URL, got {url:?}")),
        None => None,
    };
    config.proxy.services =
        Services::configured(args.services.iter().map(String::as_str)).map_err(|e| format!("--service: {e}"))?;
    for ca in &args.upstream_ca {
        if !ca.is_file() {
            return Err(format!("--upstream-ca: {} is not a file", ca.display()));
        }
    }
    config.proxy.extra_ca = args.upstream_ca.clone();
    config.proxy.connect_timeout = args.upstream_connect_timeout;
    config.proxy.total_timeout = args.upstream_timeout;
    if args.header_timeout.is_zero() {
        return Err("--header-timeout must be longer than zero".into());
    }
    if args.body_timeout.is_zero() {
        return Err("--body-timeout must be longer than zero".into());
    }
    let open_files = raise_open_files_limit();
    let max_connections = match args.max_connections {
        Some(n) => n as usize,
        None => default_max_connections(open_files),
    };
    config.api_limits = paddock_phantom::listen::ListenLimits {
        header_timeout: args.header_timeout,
        max_connections,
        body_timeout: args.body_timeout,
    };
    config.proxy.header_timeout = args.header_timeout;
    config.proxy.body_timeout = args.body_timeout;
    config.proxy.max_connections = max_connections;
    config.database_url = args.database_url.clone().filter(|u| !u.is_empty());
    config.api_keys = keys_from_env()?;
    config.master_key = std::env::var("PADDOCK_MASTER_KEY").ok().filter(|k| !k.is_empty());
    if let Some(n) = args.max_concurrent {
        config.max_concurrent = n as usize;
    }
    config.tenant_max_concurrent = args.tenant_max_concurrent.map(|n| n as usize);
    config.tenant_memory_mb = args.tenant_memory;
    config.tenant_storage_mb = args.tenant_storage;
    config.code_pool = usize::from(args.code_pool);
    config.workspace_disk_mb = args.workspace_disk;
    config.memory_overcommit = args.memory_overcommit;
    config.memory_reserve_mb = args.memory_reserve.map(|bytes| bytes >> 20);
    // Impossible budgets are refused before anything starts.
    paddock_server::services::jails::Budgets::of(&config)?;
    config.tenant_trust = args.tenant_trust.trust()?;
    config.shutdown_grace = args.shutdown_grace;
    config.git_allow_http = args.git_allow_http;
    config.git_timeout = args.git_timeout;
    if args.maintenance_interval.is_zero() {
        return Err("--maintenance-interval must be longer than zero".into());
    }
    config.maintenance_interval = args.maintenance_interval;
    config.snapshot_max_age = args.snapshot_max_age;
    config.snapshot_max_count = args.snapshot_max_count.map(|n| n as usize);
    config.gc_min_age = args.snapshot_gc_min_age;
    if args.db_timeout.is_zero() {
        return Err("--db-timeout must be longer than zero".into());
    }
    config.db_timeout = args.db_timeout;
    if args.reserve_space > args.min_free_space / 2 {
        return Err(format!(
            "--reserve-space ({} MiB) must be at most half of --min-free-space ({} MiB): the reserve is given up when free space falls below half the watermark, and taken again only above the watermark plus the reserve",
            args.reserve_space >> 20,
            args.min_free_space >> 20
        ));
    }
    config.min_free_space = args.min_free_space;
    config.reserve_space = args.reserve_space;
    config.record_retention = args.record_retention;
    config.allow_new_database = args.allow_new_database;
    config.preview_domain = args.preview_domain.trim_matches('.').to_ascii_lowercase();
    Ok(config)
}

/// Raises the soft open-files limit to the hard one (connections, jails,
/// the database and files all need descriptors); returns the soft limit
/// in force.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    limit.rlim_cur
}

/// Each listener's connection cap when none is given: a quarter of the
/// open-files limit each (a proxied connection also holds its upstream's
/// descriptor, so both listeners at their caps use three quarters), the
/// rest kept for jails, the database and files; at most 4096, at least 64.
pub fn default_max_connections(open_files: u64) -> usize {
    (open_files / 4).clamp(64, 4096) as usize
}

/// Whether logs are JSON lines (`LOG_FORMAT=json`).
fn json_logs() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = json_logs();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Runs the server until a shutdown signal; returns the exit status.
pub async fn serve(engine: Engine, mut config: ServerConfig) -> i32 {
    init_logging();
    let bind = |addr: SocketAddr, what: &'static str| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| eprintln!("paddock serve: cannot listen on {addr} ({what}): {err}"))
    };
    let Ok(listener) = bind(config.listen, "control plane").await else {
        return 1;
    };
    let Ok(proxy_listener) = bind(config.proxy_listen, "phantom proxy").await else {
        return 1;
    };
    let metrics_listener = match config.metrics_listen {
        Some(addr) => match bind(addr, "metrics").await {
            Ok(listener) => Some(listener),
            Err(()) => return 1,
        },
        None => None,
    };
    // With port 0, session URLs and jail forwards need the port chosen.
    if let Ok(addr) = proxy_listener.local_addr() {
        config.proxy_listen = addr;
    }
    let prepared = match paddock_server::server::prepare(config, engine).await {
        Ok(prepared) => prepared,
        Err(err) => {
            eprintln!("paddock serve: {err:#}");
            return 1;
        }
    };
    let state = prepared.state;
    if let Some(token) = &prepared.generated_admin_key {
        // Shown once: only its hash is stored.
        eprintln!(
            "\nNo API key was configured: generated an admin key for tenant \"default\".\nIt is shown only now; store it:\n\n    {token}\n"
        );
    }
    let c = &state.config;
    let open_files = raise_open_files_limit();
    if c.api_limits.max_connections as u64 > open_files / 4 {
        // A proxied connection holds two descriptors: both listeners at
        // their caps would use most of them, leaving jails short.
        tracing::warn!(
            max_connections = c.api_limits.max_connections,
        open_files,
            open_files,
            "--max-connections is over a quarter of the open-files limit; a flood of connections may leave jails, the database and files without descriptors"
        );
    }
    let metrics_listen = metrics_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .unwrap_or_else(|| "none".into());
    if let Some(metrics_listener) = metrics_listener {
        // Ends with the process: nothing there outlives a request.
        tokio::spawn(paddock_server::routes::serve_metrics(
            state.clone(),
            metrics_listener,
            std::future::pending(),
        ));
    }
    let console = listener.local_addr().map(console_url).unwrap_or_default();
    tracing::info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        console = %console,
        proxy_listen = %c.proxy_listen,
        metrics_listen = %metrics_listen,
        proxy_url = %c.proxy_url(),
        services = %state.phantom.services().names(),
        state_dir = %c.state_dir.display(),
        database = state.db.backend_name(),
        configured_keys = c.api_keys.len(),
        max_concurrent = c.max_concurrent,
        tenant_max_concurrent = state.runner.budgets().tenant_max_concurrent,
        memory_budget_mib = state.runner.budgets().memory_mb,
        tenant_memory_mib = state.runner.budgets().tenant_memory_mb,
        tenant_storage_mib = state.workspaces.storage_budget() >> 20,
        max_connections = c.api_limits.max_connections,
        header_timeout = ?c.api_limits.header_timeout,
        body_timeout = ?c.api_limits.body_timeout,
        recovered_jails = prepared.recovered_jails,
        "paddock serve ready"
    );
    if !json_logs() {
        // For people: where to point a browser (sign in with an API key).
        eprintln!("\npaddock console: {console}\n");
    }
    match paddock_server::server::serve(state, listener, proxy_listener, shutdown_signal()).await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("paddock serve: {err:#}");
            1
        }
    }
}

/// The web console's URL for a listening address (a wildcard address is
/// shown as loopback, which a browser on this machine can open).
fn console_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/ui/", std::net::SocketAddr::new(ip, addr.port()))
}
