//! Starting and stopping the control plane: the db, the master key,
//! the configured and bootstrap keys, crash recovery of the ledger, the
//! listener and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::os::unix::fs::DirBuilderExt;

use anyhow::Context;
use paddock_jail::Engine;

use crate::app::{AppState, SharedState};
use crate::config::{Role, ServerConfig};
use crate::crypto::{new_id, new_token, token_hash, MasterKey};
use crate::db::{now_ms, Db, KeyRow, Scope};
use crate::metrics::Metrics;
use crate::phantom::DbAuthority;
use crate::services::audit::AuditLog;
use crate::services::credentials::Credentials;
use crate::services::jails::JailRunner;
use crate::services::keys::Keys;
use crate::services::ledger::JailLedger;
use crate::services::runs::Runs;
use crate::services::sessions::Sessions;
use crate::services::space::StateDisk;
use crate::services::tokens::ScopedTokens;
use crate::services::workspaces::Workspaces;
use paddock_phantom::PhantomProxy;
use tokio_util::sync::CancellationToken;

/// A server ready to serve.
#[derive(Debug)]
pub struct Prepared {
    /// The shared state.
    pub state: SharedState,
    /// An admin key generated because none was configured or stored; it is
    /// shown once and stored hashed.
    pub generated_admin_key: Option<String>,
    /// Ledger rows a previous run left `running` and that were closed.
    pub recovered_jails: u64,
}

/// Opens the db and the master key, syncs the configured keys, and
/// closes ledger rows left running by a crash.
pub async fn prepare(config: ServerConfig, engine: Engine) -> anyhow::Result<Prepared> {
    if !config.state_dir.exists() {
        // Private: it holds the database and the master key file.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.state_dir)
            .with_context(|| format!("creating the state directory {}", config.state_dir.display()))?;
    }
    // Before anything is read or written there: refuse another user's
    // directory, close a loose one (finding 10 of issue 14).
    crate::state_dir::log(&crate::state_dir::secure(&config.state_dir)?);
    // Before the database opens: on a full disk the reserve file is given
    // up first, so the server can start and serve the deletes that free
    // space.
    let disk = StateDisk::new(&config.state_dir, config.min_free_space).with_reserve(config.reserve_space);
    let reserve = disk
        .prepare()
        .with_context(|| format!("preparing the reserve file in {}", config.state_dir.display()))?;
    tracing::info!(
        held = reserve.held,
        released = reserve.released,
        created = reserve.created,
        free_mib = reserve.free_bytes >> 20,
        "state disk reserve"
    );
    let db = Db::open_with(config.database_url.as_deref(), &config.state_dir, config.db_timeout).await?;
    let master_key = MasterKey::load(config.master_key.as_deref(), &config.state_dir.join("master.key"))?;
    // SQLite made its files with the umask's mode (0644).
    crate::state_dir::log(&crate::state_dir::secure_files(&config.state_dir)?);
    let generated_admin_key = sync_keys(&db, &config).await?;
    let recovered_jails = db.close_running_jails("the server stopped while the jail ran").await?;
    let metrics = Arc::new(Metrics::default());
    let (authority, audit_writer) = DbAuthority::start(db.clone(), master_key.clone(), metrics.clone());
    let phantom = PhantomProxy::new(config.proxy.clone(), authority)?;
    let runner =
        JailRunner::new(engine, db.clone(), metrics.clone(), &config, disk.clone()).map_err(anyhow::Error::msg)?;
    let runs = Runs::new(runner.clone(), config.state_dir.join("tmp"));
    let audit_log = AuditLog::new(db.clone());
    let workspaces = Workspaces::open(&config, db.clone(), runner.clone(), audit_log.clone(), disk.clone())?;
    if let Some(found) = workspaces.unrecorded_state().await? {
        if !config.allow_new_database {
            anyhow::bail!(
                "refusing to start: {found}. This database is not the one they were recorded in (a deleted or replaced database file, the wrong --database-url, an empty database). Point paddock at the right database, or start with --allow-new-database to keep going with this one: workspace directories then move to {}/lost+found and unreferenced snapshot blobs are collected",
                config.state_dir.display()
            );
        }
        tracing::warn!(%found, "starting with a new database (--allow-new-database)");
    }
    let repaired = workspaces.repair().await?;
    repaired.log();
    let sessions = Sessions::new(
        &config,
        db.clone(),
        master_key.clone(),
        phantom.clone(),
        runner.clone(),
        audit_log.clone(),
    );
    let credentials = Credentials::new(
        db.clone(),
        master_key.clone(),
        phantom.services().clone(),
        audit_log.clone(),
    );
    let scoped_tokens = ScopedTokens::new(db.clone(), audit_log.clone(), workspaces.clone());
    let keys = Keys::new(db.clone(), audit_log.clone(), scoped_tokens.clone());
    let ledger = JailLedger::new(db.clone(), metrics.clone());
    let previews = crate::services::previews::Previews::new(
        db.clone(),
        workspaces.clone(),
        audit_log.clone(),
        &config.preview_domain,
    );
    let kernels = crate::services::kernels::Kernels::new(workspaces.clone(), db.clone(), audit_log.clone());
    let code_pool =
        crate::services::kernels::pool::CodePool::new(kernels.clone(), workspaces.clone(), config.code_pool);
    let agents = crate::services::agents::Agents::open(
        &config.state_dir,
        workspaces.clone(),
        sessions.clone(),
        db.clone(),
        audit_log.clone(),
        disk.clone(),
    )
    .await?;
    let agent_sessions =
        crate::services::agents::sessions::AgentSessions::open(agents.clone(), db.clone(), audit_log.clone()).await?;
    let state = Arc::new(AppState {
        agents,
        agent_sessions,
        kernels,
        desktops: crate::services::desktop::Desktops::new(workspaces.clone(), config.state_dir.join("flavors")),
        browsers: crate::services::browser::Browsers::new(
            workspaces.clone(),
            config.state_dir.join("flavors"),
            disk.clone(),
        ),
        code_pool,
        disk,
        runs,
        sessions,
        credentials,
        keys,
        scoped_tokens,
        ledger,
        audit_log,
        config,
        db,
        runner,
        master_key,
        metrics,
        phantom,
        previews,
        workspaces,
        audit_writer: std::sync::Mutex::new(Some(audit_writer)),
        started: Instant::now(),
        shutdown: CancellationToken::new(),
    });
    Ok(Prepared {
        state,
        generated_admin_key,
        recovered_jails,
    })
}

/// Stores configured keys (hashed) that are new, revokes keys that came
/// from the configuration and are no longer in it, and generates an admin
/// key when no key is usable at all.
async fn sync_keys(db: &Db, config: &ServerConfig) -> anyhow::Result<Option<String>> {
    let configured: Vec<String> = config.api_keys.iter().map(|k| token_hash(&k.token)).collect();
    for (spec, hash) in config.api_keys.iter().zip(&configured) {
        if db.key_by_hash(hash).await?.is_none() {
            db.insert_key(&KeyRow {
                id: new_id("key_"),
                tenant_id: spec.tenant.clone(),
                role: spec.role.as_str().to_owned(),
                token_hash: hash.clone(),
                label: Some("configured".into()),
                source: "config".into(),
                created_at: now_ms(),
                revoked_at: None,
            })
            .await?;
        }
    }
    for key in db.list_keys(&Scope::All).await? {
        if key.source == "config" && key.revoked_at.is_none() && !configured.contains(&key.token_hash) {
            db.revoke_key(&Scope::All, &key.id).await?;
        }
    }
    if db.active_key_count().await? > 0 {
        return Ok(None);
    }
    let token = new_token("pdk_");
    db.insert_key(&KeyRow {
        id: new_id("key_"),
        tenant_id: "default".into(),
        role: Role::Admin.as_str().to_owned(),
        token_hash: token_hash(&token),
        label: Some("generated at first start".into()),
        source: "generated".into(),
        created_at: now_ms(),
        revoked_at: None,
    })
    .await?;
    Ok(Some(token))
}

/// Serves the control plane on `listener` and the phantom proxy on
/// `proxy_listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish for most of the grace period, kills the jails
/// still running (their requests answer SHUTTING_DOWN), closes the ledger
/// rows left open and flushes the proxy's audit rows, all within the
/// grace period ([`ShutdownPlan`]).
pub async fn serve(
    state: SharedState,
    listener: tokio::net::TcpListener,
    proxy_listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = crate::routes::router(state.clone());
    let stop = state.shutdown.clone();
    let trigger = stop.clone();
    let grace = state.config.shutdown_grace;
    let plan = ShutdownPlan::for_grace(grace);
    tokio::spawn(async move {
        shutdown.await;
        plan.start_watchdog();
        trigger.cancel();
    });
    let maintenance = tokio::spawn(
        state
            .workspaces
            .clone()
            .maintenance_loop(state.config.maintenance_interval, stop.clone()),
    );
    let disk_monitor = tokio::spawn(state.disk.clone().monitor(Duration::from_secs(1), stop.clone()));
    let code_pool = tokio::spawn(state.code_pool.clone().maintenance_loop(stop.clone()));
    // Peer addresses are kept for the preview relay's `X-Forwarded-For`.
    let handler = move |mut request: http::Request<paddock_phantom::listen::TimedBody>, peer: std::net::SocketAddr| {
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            match tower_service::Service::call(&mut router, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    let api = async {
        paddock_phantom::listen::serve(
            listener,
            state.config.api_limits,
            "control plane",
            handler,
            stop.clone().cancelled_owned(),
        )
        .await;
        Ok::<(), std::io::Error>(())
    };
    let proxy = state
        .phantom
        .serve(proxy_listener, stop.clone().cancelled_owned(), grace);
    let served = async { tokio::join!(api, proxy) };
    tokio::pin!(served);
    let served = tokio::select! {
        (result, ()) = &mut served => result,
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(plan.kill_at).await;
        } => {
            tracing::warn!(?grace, "shutdown grace period ending; killing the jails still running");
            // Their requests answer SHUTTING_DOWN and their streams end
            // with an error event, in the time left for that.
            state.runner.shut_down();
            match tokio::time::timeout(plan.flush, &mut served).await {
                Ok((result, ())) => result,
                Err(_) => {
                    tracing::warn!("requests still open at the end of the grace period; closing their connections");
                    Ok(())
                }
            }
        }
    };
    served.context("serving HTTP")?;
    // Rows and audit rows first: a maintenance round (a pause snapshot, a
    // pruning) cannot be interrupted and may use up the time left.
    let cleanup = async {
        match state.db.close_running_jails("killed at server shutdown").await {
            Ok(0) => {}
            Ok(closed) => tracing::warn!(closed, "ledger rows closed at shutdown"),
            Err(err) => tracing::error!(%err, "closing the ledger rows of jails still running"),
        }
        let writer = state.audit_writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            writer.finish().await;
        }
        let _ = disk_monitor.await;
        let _ = maintenance.await;
        let _ = code_pool.await;
        state.db.close().await;
    };
    if tokio::time::timeout(plan.cleanup, cleanup).await.is_err() {
        tracing::error!("shutdown cleanup did not finish in time (a hung disk or database?); exiting without it");
    }
    Ok(())
}

/// How a shutdown spends its grace period: requests run until `kill_at`,
/// then their jails are killed and the answers flushed, then rows are
/// closed and the database shut, so the process exits within the grace
/// period. A watchdog thread ends the process shortly after it whatever
/// happens (a hung disk, a wedged runtime).
#[derive(Debug, Clone, Copy)]
struct ShutdownPlan {
    grace: Duration,
    kill_at: Duration,
    flush: Duration,
    cleanup: Duration,
}

impl ShutdownPlan {
    /// Time after the grace period at which the watchdog exits.
    const LAST_RESORT: Duration = Duration::from_secs(1);

    fn for_grace(grace: Duration) -> ShutdownPlan {
        let margin = (grace / 4).min(Duration::from_secs(4));
        ShutdownPlan {
            grace,
            kill_at: grace - margin,
            flush: margin / 2,
            cleanup: margin / 2,
        }
    }

    fn start_watchdog(self) {
        let deadline = self.grace + Self::LAST_RESORT;
        let spawned = std::thread::Builder::new()
            .name("shutdown-watchdog".into())
            .spawn(move || {
                std::thread::sleep(deadline);
                eprintln!("paddock serve: shutdown did not finish within {deadline:?}; exiting");
                std::process::exit(1);
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "starting the shutdown watchdog");
        }
    }
}
