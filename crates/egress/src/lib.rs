//! paddock's egress proxy: how a jail in `allowlist` mode reaches named
//! hosts and nothing else.
//!
//! The jail engine creates a listening socket inside the jail's network
//! namespace and hands it over; [`EgressProxy::serve`] accepts on it. Each
//! connection is an HTTP `CONNECT` tunnel or a plain-HTTP forward request.
//! The host is checked against the jail's [`EgressPolicy`], resolved once,
//! every non-public address is dropped (unless the operator trusts it),
//! and the proxy connects to a checked address, never to the name again.
//! Every attempt lands in the jail's [`EgressLog`].
//!
//! The crate knows nothing of jails: it serves a listener.

pub mod address;
mod io;
pub mod log;
pub mod policy;
mod proxy;
mod resolve;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use log::{EgressLog, EgressRecord, Outcome, Reason};
pub use policy::{EgressPolicy, Host, PolicyError, DEFAULT_PORTS};
pub use proxy::{EgressProxy, ProxySession};
pub use settings::{EgressSettings, TrustedUpstreams};
