//! `GET /v1/config`: the server's settings in agentjail's schema, with
//! addresses and paths left out for operators.

use paddock_api::identity::{
    ControlPlaneSettings, ExecSettings, PersistenceSettings, Provider, ProxySettings, Settings, SnapshotGc,
    SnapshotSettings,
};
use paddock_api::{Error, JailOptions};
use paddock_phantom::Services;

use crate::config::{Role, ServerConfig};
use crate::services::identity::Caller;
use crate::services::limits;

/// The settings `caller` may see.
pub fn settings(
    config: &ServerConfig,
    database: &str,
    services: &Services,
    caller: &Caller,
) -> Result<Settings, Error> {
    let admin = caller.role == Role::Admin;
    let show = |value: String| admin.then_some(value);
    let defaults = limits::resolve(&JailOptions::default())?;
    Ok(Settings {
        proxy: ProxySettings {
            base_url: config.proxy_url(),
            bind_addr: show(config.proxy_listen.to_string()),
            providers: services
                .iter()
                .map(|svc| Provider {
                    service_id: svc.name.clone(),
                    upstream_base: show(svc.upstream_url()).unwrap_or_default(),
                    request_prefix: format!("/v1/{}/", svc.name),
                    key_env: svc.key_env.clone(),
                    url_env: svc.url_env.clone(),
                    auth: svc.auth.to_string(),
                })
                .collect(),
        },
        control_plane: ControlPlaneSettings {
            bind_addr: show(config.listen.to_string()),
        },
        gateway: None,
        exec: Some(ExecSettings {
            default_memory_mb: defaults.memory_mb,
            default_timeout_secs: defaults.timeout_secs,
            max_concurrent: config.max_concurrent as u64,
        }),
        persistence: PersistenceSettings {
            state_dir: show(config.state_dir.display().to_string()),
            snapshot_pool_dir: show(config.state_dir.join("blobs").display().to_string()),
            idle_check_secs: config.maintenance_interval.as_secs(),
        },
        snapshots: SnapshotSettings {
            gc: Some(SnapshotGc {
                max_age_secs: config.snapshot_max_age.map(|d| d.as_secs()),
                max_count: config.snapshot_max_count.map(|n| n as u64),
                tick_secs: config.maintenance_interval.as_secs(),
            }),
        },
        database: show(database.to_owned()),
        session_ttl_max_secs: config.session_ttl_max.as_secs(),
    })
}
