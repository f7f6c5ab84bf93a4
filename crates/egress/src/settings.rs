//! Operator settings shared by every jail's proxy: trusted upstreams, name
//! servers, timeouts and caps.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::policy::Host;

/// Upstreams the operator vouches for. Without any, private, loopback and
/// other non-public addresses are never reachable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedUpstreams {
    /// Host name → addresses, used instead of DNS; these addresses are
    /// trusted whatever range they are in. A jail still needs the name on
    /// its allowlist.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Ranges whose addresses are acceptable after resolving.
    pub cidrs: Vec<IpNet>,
}

impl TrustedUpstreams {
    /// Adds `HOST=IP[,IP...]`.
    pub fn add_host_spec(&mut self, spec: &str) -> Result<(), String> {
        let (host, addrs) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?}: expected HOST=IP[,IP...]"))?;
        let host = match Host::parse(host.trim()).map_err(|e| e.to_string())? {
            Host::Name(name) => name,
            Host::Ip(_) => return Err(format!("{spec:?}: the host must be a name, not an address")),
        };
        let addrs = addrs
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{spec:?}: {a:?} is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.hosts.insert(host, addrs);
        Ok(())
    }

    /// Adds a CIDR range such as `10.20.0.0/16`.
    pub fn add_cidr_spec(&mut self, spec: &str) -> Result<(), String> {
        let net = spec
            .trim()
            .parse::<IpNet>()
            .map_err(|_| format!("{spec:?} is not a CIDR range (like 10.20.0.0/16)"))?;
        self.cidrs.push(net.trunc());
        Ok(())
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.cidrs.is_empty()
    }

    /// Adds everything `other` trusts (its addresses win for a host both
    /// name).
    pub fn merge(&mut self, other: &TrustedUpstreams) {
        for (host, addresses) in &other.hosts {
            self.hosts.insert(host.clone(), addresses.clone());
        }
        for net in &other.cidrs {
            if !self.cidrs.contains(net) {
                self.cidrs.push(*net);
            }
        }
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.cidrs.iter().any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so ranges match either spelling.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Settings of the egress proxies of one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressSettings {
    /// Upstreams the operator vouches for.
    pub trusted: TrustedUpstreams,
    /// Name servers to ask instead of the system resolver (`getaddrinfo`).
    pub nameservers: Vec<SocketAddr>,
    /// Longest wait for an upstream TCP connection (all addresses together).
    pub connect_timeout: Duration,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    /// Longest time a client may take to send a request's head.
    pub header_timeout: Duration,
    /// Connections one jail may have open through its proxy at once.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
    /// Longest request target (URL), in bytes.
    pub max_uri_bytes: usize,
    /// Records kept per jail; later attempts are only counted.
    pub max_log_records: usize,
}

impl Default for EgressSettings {
    fn default() -> Self {
        EgressSettings {
            trusted: TrustedUpstreams::default(),
            nameservers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            header_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_head_bytes: 32 << 10,
            max_uri_bytes: 8 << 10,
            max_log_records: 1000,
        }
    }
}

impl EgressSettings {
    /// Checks values that would make the proxy useless or unsafe.
    pub fn validate(&self) -> Result<(), String> {
        for (what, value) in [
            ("connect timeout", self.connect_timeout),
            ("idle timeout", self.idle_timeout),
            ("header timeout", self.header_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("the egress {what} must be longer than zero"));
            }
        }
        if self.max_connections == 0 {
            return Err("the egress connection cap must be at least 1".into());
        }
        if self.max_head_bytes < 8192 {
            return Err("the egress request-head cap must be at least 8 KiB".into());
        }
        if self.max_uri_bytes == 0 || self.max_uri_bytes > self.max_head_bytes {
            return Err("the egress URL cap must be between 1 byte and the request-head cap".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_cidr_specs_parse() {
        let mut t = TrustedUpstreams::default();
        t.add_host_spec("API.Internal.=10.0.0.5,fd00::5").unwrap();
        assert_eq!(t.hosts["api.internal"].len(), 2);
        assert!(t.add_host_spec("api.internal").is_err());
        assert!(t.add_host_spec("1.2.3.4=10.0.0.1").is_err());
        assert!(t.add_host_spec("a.b=nope").is_err());
        t.add_cidr_spec("10.20.1.7/16").unwrap();
        assert!(t.trusts("10.20.200.1".parse().unwrap()));
        assert!(t.trusts("::ffff:10.20.0.1".parse().unwrap()));
        assert!(!t.trusts("10.21.0.1".parse().unwrap()));
        assert!(t.add_cidr_spec("10.0.0.0").is_err());
    }

    #[test]
    fn zero_settings_are_refused() {
        let mut s = EgressSettings::default();
        s.validate().unwrap();
        s.idle_timeout = Duration::ZERO;
        assert!(s.validate().is_err());
        let s = EgressSettings {
            max_connections: 0,
            ..EgressSettings::default()
        };
        assert!(s.validate().is_err());
    }
}
