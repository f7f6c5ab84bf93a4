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

use paddock_api::Error;

use crate::db::DbError;

impl From<DbError> for Error {
    /// A database failure is an internal error: logged, never answered.
    fn from(err: DbError) -> Self {
        Error::internal(err)
    }
}

/// An RFC 3339 UTC timestamp from Unix milliseconds (`Z`, fractional
/// seconds only when nonzero).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
