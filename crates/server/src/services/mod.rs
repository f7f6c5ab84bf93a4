//! The control plane's services: what the API does, free of HTTP. Routes
//! decode and authorize a request, call one service, and encode its
//! answer; services return [`paddock_api::Error`]s, which the route layer
//! turns into responses; SQL stays in [`crate::db`].

pub mod agents;
pub mod audit;
pub mod browser;
pub mod credentials;
pub mod desktop;
pub mod files;
pub mod health;
pub mod identity;
pub mod jails;
pub mod kernels;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod memo;
pub mod previews;
pub mod runs;
pub mod runtime;
pub mod sessions;
pub mod settings;
pub mod space;
pub mod tokens;
pub mod workspaces;

use paddock_api::{Error, ErrorCode};

use crate::db::{DbError, DbFault};

impl From<DbError> for Error {
    /// A database that cannot be reached or written is a 503 the client
    /// may retry, a full one a 507; anything else is an internal error.
    /// The cause goes to the log (with the request id), never to the
    /// client: it can name files and hosts of the operator's.
    fn from(err: DbError) -> Self {
        match err.fault() {
            DbFault::Unavailable if err.outcome_unknown() => {
                tracing::warn!(%err, "the database connection was lost during a request");
                Error::new(
                    ErrorCode::DatabaseConnectionLost,
                    "the connection to the database was lost during the request: a write may have been stored \
                     even so; check before retrying",
                )
            }
            DbFault::Unavailable => {
                tracing::warn!(%err, "the database cannot serve");
                Error::new(
                    ErrorCode::DatabaseUnavailable,
                    "the database cannot be reached or written right now; nothing was stored; retry later",
                )
            }
            DbFault::Full => {
                tracing::error!(%err, "the database's disk is full");
                Error::new(
                    ErrorCode::InsufficientStorage,
                    "the database's disk is full; nothing was stored. Delete workspaces or snapshots, or free space",
                )
            }
            DbFault::Other => Error::internal(err),
        }
    }
}

/// Locks `mutex`, taking it back from a thread that panicked while holding
/// it (what it guards is kept consistent under the lock, never half-made).
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last `max` bytes of `text` (at a character boundary), for messages
/// that quote a program's output.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// An RFC 3339 UTC timestamp from Unix milliseconds (`Z`, fractional
/// seconds only when nonzero).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
