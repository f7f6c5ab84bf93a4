//! paddock's control plane: the HTTP API of `paddock serve` (tenants, API
//! keys, credentials, sessions, runs, the jail ledger and the audit log)
//! over the jail engine and a SQLite or PostgreSQL store.
//!
//! The server never touches namespaces: every jail comes from
//! `paddock_jail::Engine`.

pub mod crypto;
pub mod store;
