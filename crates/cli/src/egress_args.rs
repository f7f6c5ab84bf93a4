//! Operator settings of the egress proxy, shared by every subcommand that
//! starts the jail engine.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use paddock_jail::egress::{EgressSettings, TrustedUpstreams};

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

/// Trusted upstreams for one tenant's jails only (`paddock serve`). The
/// global `--trust-host`/`--trust-cidr` apply to every tenant's jails;
/// these widen only the named tenant's allowlists, so one tenant's
/// internal services are never reachable from another's jails.
#[derive(Debug, Clone, Args)]
pub struct TenantTrustArgs {
    /// TENANT=HOST=IP[,IP...]: like --trust-host, for TENANT's allowlist
    /// jails only. Repeatable; the variable takes a ';'-separated list.
    #[arg(
        long = "tenant-trust-host",
        value_name = "TENANT=HOST=IP[,IP]",
        env = "PADDOCK_TENANT_TRUST_HOSTS",
        value_delimiter = ';'
    )]
    pub hosts: Vec<String>,
    /// TENANT=CIDR: like --trust-cidr, for TENANT's allowlist jails only.
    /// Repeatable; the variable takes a ';'-separated list.
    #[arg(
        long = "tenant-trust-cidr",
        value_name = "TENANT=CIDR",
        env = "PADDOCK_TENANT_TRUST_CIDRS",
        value_delimiter = ';'
    )]
    pub cidrs: Vec<String>,
}

impl TenantTrustArgs {
    /// Each tenant's trusted upstreams.
    pub fn trust(&self) -> Result<BTreeMap<String, TrustedUpstreams>, String> {
        let mut trust: BTreeMap<String, TrustedUpstreams> = BTreeMap::new();
        let specs = self
            .hosts
            .iter()
            .map(|s| ("--tenant-trust-host", s, true))
            .chain(self.cidrs.iter().map(|s| ("--tenant-trust-cidr", s, false)));
        for (flag, spec, is_host) in specs.filter(|(_, s, _)| !s.trim().is_empty()) {
            // A tenant name has no '=', so the first one ends it.
            let (tenant, rest) = spec
                .split_once('=')
                .ok_or_else(|| format!("{flag} {spec:?}: expected TENANT=..."))?;
            let tenant = tenant.trim();
            if !paddock_server::config::valid_tenant(tenant) {
                return Err(format!(
                    "{flag} {spec:?}: {tenant:?} is not a tenant name (letters, digits, '_', '-', '.')"
                ));
            }
            let entry = trust.entry(tenant.to_owned()).or_default();
            let added = if is_host {
                entry.add_host_spec(rest)
            } else {
                entry.add_cidr_spec(rest)
            };
            added.map_err(|e| format!("{flag} {tenant}: {e}"))?;
        }
        Ok(trust)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_trust_is_kept_per_tenant_and_checked() {
        let args = TenantTrustArgs {
            hosts: vec!["t1=git.corp=10.0.0.5,10.0.0.6".into()],
            cidrs: vec!["t1=10.1.0.0/16".into(), "t2=fd00::/8".into(), " ".into()],
        };
        let trust = args.trust().unwrap();
        assert_eq!(trust.len(), 2);
        assert_eq!(trust["t1"].hosts["git.corp"].len(), 2);
        assert_eq!(trust["t1"].cidrs.len(), 1);
        assert!(trust["t2"].hosts.is_empty() && trust["t2"].cidrs.len() == 1);
        for (hosts, cidrs, needle) in [
            (vec![], vec!["10.0.0.0/8"], "TENANT="),
            (vec![], vec!["bad tenant=10.0.0.0/8"], "tenant name"),
            (vec![], vec!["t1=10.0.0.0"], "CIDR"),
            (vec!["t1=git.corp"], vec![], "HOST=IP"),
        ] {
            let args = TenantTrustArgs {
                hosts: hosts.into_iter().map(String::from).collect(),
                cidrs: cidrs.into_iter().map(String::from).collect(),
            };
            let err = args.trust().unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
