//! Name resolution for the proxy: the system resolver (`getaddrinfo`, so
//! `/etc/hosts` and nsswitch apply) or the operator's name servers.

use std::net::IpAddr;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

use crate::settings::EgressSettings;

/// Resolves a name once per connection attempt; the caller connects to the
/// addresses it returns, never to the name.
#[derive(Clone)]
pub(crate) enum Resolver {
    /// `getaddrinfo` on tokio's blocking pool.
    System,
    /// These name servers (UDP, then TCP for truncated answers).
    Servers(std::sync::Arc<TokioResolver>),
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolver::System => f.write_str("Resolver::System"),
            Resolver::Servers(_) => f.write_str("Resolver::Servers"),
        }
    }
}

impl Resolver {
    pub(crate) fn new(settings: &EgressSettings) -> Resolver {
        if settings.nameservers.is_empty() {
            return Resolver::System;
        }
        let servers: Vec<NameServerConfig> = settings
            .nameservers
            .iter()
            .flat_map(|&addr| {
                [
                    NameServerConfig::new(addr, Protocol::Udp),
                    NameServerConfig::new(addr, Protocol::Tcp),
                ]
            })
            .collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), servers);
        let mut builder = TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        let options = builder.options_mut();
        options.timeout = settings.connect_timeout.min(std::time::Duration::from_secs(5));
        options.attempts = 2;
        // Every attempt asks again: an answer is used once and never reused
        // for another connection.
        options.cache_size = 0;
        Resolver::Servers(std::sync::Arc::new(builder.build()))
    }

    /// The addresses of `host`, in the resolver's order.
    pub(crate) async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        match self {
            Resolver::System => {
                let addrs = tokio::net::lookup_host((host, 0)).await.map_err(|e| e.to_string())?;
                let mut ips: Vec<IpAddr> = Vec::new();
                for addr in addrs {
                    if !ips.contains(&addr.ip()) {
                        ips.push(addr.ip());
                    }
                }
                Ok(ips)
            }
            Resolver::Servers(resolver) => {
                // Fully qualified: no search domains.
                let lookup = resolver
                    .lookup_ip(format!("{host}."))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(lookup.iter().collect())
            }
        }
    }
}
