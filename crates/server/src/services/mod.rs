//! The control plane's services: what the API does, free of HTTP. Routes
//! decode and authorize a request, call one service, and encode its
//! answer; services return [`paddock_api::Error`]s, which the route layer
//! turns into responses; SQL stays in [`crate::db`].

pub mod identity;
pub mod jails;
pub mod limits;
pub mod runs;
pub mod workspaces;

use paddock_api::Error;

use crate::db::DbError;

impl From<DbError> for Error {
    /// A database failure is an internal error: logged, never answered.
    fn from(err: DbError) -> Self {
        Error::internal(err)
    }
}
