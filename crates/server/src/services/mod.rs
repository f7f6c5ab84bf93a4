//! The control plane's services: what the API does, free of HTTP. Routes
//! decode and authorize a request, call one service, and encode its
//! answer; services return [`paddock_api::Error`]s, which the route layer
//! turns into responses; SQL stays in [`crate::db`].

pub mod audit;
pub mod credentials;
pub mod identity;
pub mod jails;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod runs;
pub mod sessions;
pub mod settings;
pub mod space;
pub mod workspaces;

use paddock_api::{Error, ErrorCode};

use crate::db::{DbError, DbFault};

impl From<DbError> for Error {
    /// A database that cannot be reached or written is a 503 the client
    /// may retry, a full one a 507; anything else is an internal error,
    /// logged and never answered in detail.
    fn from(err: DbError) -> Self {
        match err.fault() {
            DbFault::Unavailable => {
                tracing::warn!(%err, "the database cannot serve");
                Error::new(
                    ErrorCode::DatabaseUnavailable,
                    format!(
                        "the database cannot be reached or written right now; nothing was stored ({}); retry later",
                        brief(&err)
                    ),
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

/// The first line of an error, at most 200 characters, for messages.
fn brief(err: &impl std::fmt::Display) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

/// An RFC 3339 UTC timestamp from Unix milliseconds (`Z`, fractional
/// seconds only when nonzero).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
