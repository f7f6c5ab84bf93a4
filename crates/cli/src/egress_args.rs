//! Operator settings of the egress proxy, shared by every subcommand that
//! starts the jail engine.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use paddock_jail::egress::EgressSettings;

use crate::parse;

/// Flags (and environment variables) for the egress proxy.
#[derive(Debug, Clone, Args)]
pub struct EgressArgs {
    /// Trusted upstream, HOST=IP[,IP...]: the proxy uses these addresses for
    /// HOST instead of DNS and may reach them even if private (the jail
    /// still needs HOST on its allowlist). Repeatable; the variable takes a
    /// ';'-separated list.
    #[arg(
        long = "trust-host",
        value_name = "HOST=IP[,IP]",
        env = "PADDOCK_EGRESS_TRUST_HOSTS",
        value_delimiter = ';'
    )]
    pub trust_hosts: Vec<String>,
    /// Trusted range (CIDR) whose addresses the proxy may reach after
    /// resolving, even if private. Repeatable.
    #[arg(
        long = "trust-cidr",
        value_name = "CIDR",
        env = "PADDOCK_EGRESS_TRUST_CIDRS",
        value_delimiter = ','
    )]
    pub trust_cidrs: Vec<String>,
    /// Name server for the proxy (IP or IP:PORT) instead of the system
    /// resolver. Repeatable.
    #[arg(long = "dns", value_name = "IP[:PORT]", env = "PADDOCK_EGRESS_DNS", value_delimiter = ',', value_parser = parse_nameserver)]
    pub nameservers: Vec<SocketAddr>,
    /// Longest wait for an upstream connection.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub egress_connect_timeout: Duration,
    /// Close proxied connections without traffic for this long.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse::duration)]
    pub egress_idle_timeout: Duration,
}

fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not IP or IP:PORT"))
}

impl EgressArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> Result<EgressSettings, String> {
        let mut settings = EgressSettings {
            nameservers: self.nameservers.clone(),
            connect_timeout: self.egress_connect_timeout,
            idle_timeout: self.egress_idle_timeout,
            ..EgressSettings::default()
        };
        for spec in self.trust_hosts.iter().filter(|s| !s.trim().is_empty()) {
            settings
                .trusted
                .add_host_spec(spec)
                .map_err(|e| format!("--trust-host {e}"))?;
        }
        for spec in self.trust_cidrs.iter().filter(|s| !s.trim().is_empty()) {
            settings
                .trusted
                .add_cidr_spec(spec)
                .map_err(|e| format!("--trust-cidr {e}"))?;
        }
        settings.validate()?;
        Ok(settings)
    }
}
