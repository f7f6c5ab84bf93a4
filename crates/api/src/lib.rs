//! paddock's wire contract: the JSON types and error codes of the control
//! plane's HTTP API, defined once and used by the server (which serves
//! them), the CLI (which reads them) and the OpenAPI document (from which
//! the SDKs are checked).
//!
//! This crate knows nothing of HTTP frameworks, databases or jails.

pub mod agent_sessions;
pub mod code;
pub mod credentials;
pub mod error;
pub mod identity;
pub mod jail;
pub mod ledger;
pub mod previews;
pub mod runs;
pub mod runtime;
pub mod sessions;
pub mod tokens;
pub mod workspaces;

pub use error::{Error, ErrorBody, ErrorCode};
pub use jail::{EgressAttempt, EgressRefusal, ExecResult, JailOptions, LimitsApplied, NetworkSpec, ResourceStats};
