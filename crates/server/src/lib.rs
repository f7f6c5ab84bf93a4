//! paddock's control plane: the HTTP API of `paddock serve` (tenants, API
//! keys, credentials, sessions, runs, the jail ledger and the audit log)
//! over the jail engine and a SQLite or PostgreSQL store, and the
//! authority behind its phantom credential proxy.
//!
//! The server never touches namespaces: every jail comes from
//! `paddock_jail::Engine`.

pub mod app;
pub mod config;
pub mod crypto;
pub mod db;
#[cfg(test)]
mod fuzz;
pub mod metrics;
pub mod phantom;
pub mod routes;
pub mod server;
pub mod services;
pub mod state_dir;
