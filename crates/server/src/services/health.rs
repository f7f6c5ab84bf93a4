//! Readiness: whether the server can take work now (the database accepts
//! a write, the state disk is above its watermark, the jail engine runs),
//! and why not.

use std::time::{Duration, Instant};

use paddock_api::identity::{Check, DatabaseCheck, DiskCheck, Readiness, ReadinessChecks};
use paddock_jail::Engine;

use crate::db::Db;
use crate::services::space::StateDisk;

/// Runs every readiness check; the database's within `db_timeout`.
pub async fn readiness(db: &Db, disk: &StateDisk, engine: &Engine, db_timeout: Duration) -> Readiness {
    let database = database_check(db, db_timeout).await;
    let state_disk = disk_check(disk);
    let engine_alive = engine.is_alive();
    let jail_engine = Check {
        ok: engine_alive,
        error: (!engine_alive).then(|| "the jail engine's zygote is gone: no jail can start".to_owned()),
    };
    Readiness {
        ready: database.ok && state_disk.ok && jail_engine.ok,
        checks: ReadinessChecks {
            database,
            state_disk,
            jail_engine,
        },
    }
}

/// A probe write, timed.
async fn database_check(db: &Db, timeout: Duration) -> DatabaseCheck {
    let started = Instant::now();
    let probe = tokio::time::timeout(timeout, db.probe()).await;
    DatabaseCheck {
        ok: matches!(probe, Ok(Ok(()))),
        backend: db.backend_name().to_owned(),
        latency_ms: started.elapsed().as_millis() as u64,
        error: match probe {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(first_line(&err.to_string())),
            Err(_) => Some(format!("no answer within {timeout:?}")),
        },
    }
}

fn disk_check(disk: &StateDisk) -> DiskCheck {
    match disk.status() {
        Ok(status) => DiskCheck {
            ok: status.has_room(),
            free_bytes: status.free_bytes,
            total_bytes: status.total_bytes,
            min_free_bytes: status.min_free_bytes,
            reserve_bytes: status.reserve_bytes,
            reserve_held: status.reserve_held,
            error: (!status.has_room()).then(|| {
                format!(
                    "{} MiB free, below the {} MiB watermark (--min-free-space): new work answers 507",
                    status.free_bytes >> 20,
                    status.min_free_bytes >> 20
                )
            }),
        },
        Err(err) => DiskCheck {
            ok: false,
            free_bytes: 0,
            total_bytes: 0,
            min_free_bytes: disk.min_free(),
            reserve_bytes: disk.reserve_size(),
            reserve_held: disk.reserve_held(),
            error: Some(format!("cannot read the state disk's free space: {}", err.kind())),
        },
    }
}

/// The first line of `text`, at most 200 characters.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(200).collect()
}
