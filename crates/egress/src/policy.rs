//! Which destinations one jail may reach: host patterns and ports.
//!
//! Hosts are compared in one canonical form: ASCII (IDNA, UTS #46),
//! lower case, without a trailing dot. A pattern `*.example.com` matches
//! `example.com` itself and every name below it. IP literals are never
//! matched by a name pattern; they pass only when the exact address is on
//! the list.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::settings::TrustedUpstreams;

/// Ports reachable when a policy names none.
pub const DEFAULT_PORTS: [u16; 2] = [443, 80];

/// Most patterns one policy may hold.
pub const MAX_PATTERNS: usize = 256;

/// A rejected pattern or request host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy names no host.
    #[error("the allowlist is empty; name at least one host")]
    Empty,
    /// More than [`MAX_PATTERNS`] patterns.
    #[error("the allowlist has {0} hosts; at most {MAX_PATTERNS} are allowed")]
    TooMany(usize),
    /// Not a valid host name, wildcard or IP address.
    #[error("{host:?} is not a valid host: {reason}")]
    InvalidHost { host: String, reason: String },
    /// A port of 0.
    #[error("port 0 cannot be allowed")]
    ZeroPort,
}

/// A host as a request names it, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name (ASCII, lower case, no trailing dot).
    Name(String),
    /// An IP address literal.
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Host {
    /// Parses and canonicalizes a host (IPv6 literals may keep their
    /// brackets). Names that libc would read as numeric addresses
    /// (`0x7f000001`, `127.1`, `2130706433`) are refused rather than
    /// treated as names.
    pub fn parse(text: &str) -> Result<Host, PolicyError> {
        let invalid = |reason: &str| PolicyError::InvalidHost {
            host: text.to_owned(),
            reason: reason.to_owned(),
        };
        let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if text.starts_with('[') {
            return Err(invalid("not an IPv6 address"));
        }
        let name = canonical_name(text).map_err(|reason| invalid(&reason))?;
        if looks_numeric(&name) {
            return Err(invalid("a numeric address in a non-standard form"));
        }
        Ok(Host::Name(name))
    }
}

/// IDNA to ASCII, lower case, trailing dot removed, and DNS syntax checked
/// (labels of letters, digits, hyphens and underscores, 1..=63 bytes, at
/// most 253 bytes in all).
fn canonical_name(text: &str) -> Result<String, String> {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if trimmed.is_empty() {
        return Err("empty".into());
    }
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| "not a valid internationalized domain name".to_owned())?;
    if ascii.is_empty() {
        return Err("empty".into());
    }
    if ascii.len() > 253 {
        return Err("longer than 253 bytes".into());
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every label must be 1 to 63 bytes".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-' and '_' are allowed in a label".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'".into());
        }
    }
    Ok(ascii)
}

/// Whether `inet_aton` would take this name for an address: its last label
/// is a decimal, octal or hex number. No top-level domain is numeric.
fn looks_numeric(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let digits = last
        .strip_prefix("0x")
        .map(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    digits.unwrap_or_else(|| last.bytes().all(|b| b.is_ascii_digit()))
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// This name exactly.
    Exact(String),
    /// This name and every name below it (`*.suffix`).
    Subtree(String),
    /// This IP address exactly.
    Ip(IpAddr),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, PolicyError> {
        let text = text.trim();
        if let Some(suffix) = text.strip_prefix("*.") {
            return match Host::parse(suffix)? {
                Host::Name(name) if name.contains('.') => Ok(Pattern::Subtree(name)),
                Host::Name(_) => Err(PolicyError::InvalidHost {
                    host: text.to_owned(),
                    reason: "a wildcard must cover a domain with at least two labels (*.example.com)".into(),
                }),
                Host::Ip(_) => Err(PolicyError::InvalidHost {
                    host: text.to_owned(),
                    reason: "wildcards apply to names, not addresses".into(),
                }),
            };
        }
        if text.contains('*') {
            return Err(PolicyError::InvalidHost {
                host: text.to_owned(),
                reason: "'*' is only allowed as a leading '*.' label".into(),
            });
        }
        Ok(match Host::parse(text)? {
            Host::Name(name) => Pattern::Exact(name),
            Host::Ip(ip) => Pattern::Ip(ip),
        })
    }

    fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (Pattern::Exact(p), Host::Name(n)) => p == n,
            (Pattern::Subtree(p), Host::Name(n)) => {
                n == p || (n.len() > p.len() && n.ends_with(p.as_str()) && n.as_bytes()[n.len() - p.len() - 1] == b'.')
            }
            (Pattern::Ip(p), Host::Ip(ip)) => p == ip,
            _ => false,
        }
    }
}

/// One jail's egress policy. On the wire:
/// `{"domains": ["api.example.com", "*.pypi.org"], "ports": [443, 80]}`,
/// and `"trusted": {"hosts": {...}, "cidrs": [...]}` when this jail has
/// trusted upstreams of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicySpec", into = "PolicySpec")]
pub struct EgressPolicy {
    domains: Vec<String>,
    patterns: Vec<Pattern>,
    ports: Vec<u16>,
    /// Upstreams trusted for this jail only (a tenant's), on top of the
    /// engine's [`crate::EgressSettings::trusted`], which every jail has.
    trusted: TrustedUpstreams,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    domains: Vec<String>,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default, skip_serializing_if = "TrustedUpstreams::is_empty")]
    trusted: TrustedUpstreams,
}

impl TryFrom<PolicySpec> for EgressPolicy {
    type Error = PolicyError;
    fn try_from(spec: PolicySpec) -> Result<Self, PolicyError> {
        let mut policy = EgressPolicy::new(spec.domains, spec.ports)?;
        policy.trusted = spec.trusted;
        Ok(policy)
    }
}

impl From<EgressPolicy> for PolicySpec {
    fn from(policy: EgressPolicy) -> Self {
        PolicySpec {
            domains: policy.domains,
            ports: policy.ports,
            trusted: policy.trusted,
        }
    }
}

impl EgressPolicy {
    /// A policy for these hosts (names, `*.` wildcards or IP addresses) and
    /// ports (empty: 443 and 80).
    pub fn new<S: AsRef<str>>(
        domains: impl IntoIterator<Item = S>,
        ports: impl IntoIterator<Item = u16>,
    ) -> Result<Self, PolicyError> {
        let domains: Vec<String> = domains.into_iter().map(|d| d.as_ref().trim().to_owned()).collect();
        if domains.is_empty() {
            return Err(PolicyError::Empty);
        }
        if domains.len() > MAX_PATTERNS {
            return Err(PolicyError::TooMany(domains.len()));
        }
        let patterns = domains
            .iter()
            .map(|d| Pattern::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ports: Vec<u16> = ports.into_iter().collect();
        if ports.contains(&0) {
            return Err(PolicyError::ZeroPort);
        }
        if ports.is_empty() {
            ports = DEFAULT_PORTS.to_vec();
        }
        ports.dedup();
        Ok(EgressPolicy {
            domains,
            patterns,
            ports,
            trusted: TrustedUpstreams::default(),
        })
    }

    /// Adds upstreams this jail alone may reach even if private (its
    /// tenant's, set by the operator); the jail still needs their names or
    /// addresses on its list.
    pub fn trust(&mut self, trusted: &TrustedUpstreams) {
        self.trusted.merge(trusted);
    }

    /// The upstreams trusted for this jail only.
    pub fn trusted(&self) -> &TrustedUpstreams {
        &self.trusted
    }

    /// The hosts as given.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// The ports that may be reached.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Whether the policy lets `host` through (ports are checked apart).
    pub fn allows_host(&self, host: &Host) -> bool {
        self.patterns.iter().any(|p| p.matches(host))
    }

    /// Whether `port` may be reached.
    pub fn allows_port(&self, port: u16) -> bool {
        self.ports.contains(&port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str]) -> EgressPolicy {
        EgressPolicy::new(domains, []).unwrap()
    }

    fn name(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn names_are_canonicalized() {
        assert_eq!(name("API.Example.COM."), Host::Name("api.example.com".into()));
        assert_eq!(name("bücher.example"), Host::Name("xn--bcher-kva.example".into()));
        assert_eq!(name("[::1]"), Host::Ip("::1".parse().unwrap()));
        assert_eq!(name("10.0.0.1"), Host::Ip("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn numeric_and_malformed_names_are_refused() {
        for bad in [
            "0x7f000001",
            "127.1",
            "2130706433",
            "1.2.3.0x4",
            "",
            ".",
            "a..b",
            "-a.com",
            "a b.com",
            "[example.com]",
            "exa$mple.com",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Host::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn exact_and_wildcard_matching() {
        let p = policy(&["api.example.com", "*.pypi.org"]);
        assert!(p.allows_host(&name("api.example.com")));
        assert!(p.allows_host(&name("API.EXAMPLE.COM.")));
        assert!(!p.allows_host(&name("example.com")));
        assert!(!p.allows_host(&name("evil-api.example.com")));
        assert!(!p.allows_host(&name("api.example.com.evil.net")));
        assert!(p.allows_host(&name("pypi.org")));
        assert!(p.allows_host(&name("files.pypi.org")));
        assert!(p.allows_host(&name("a.b.pypi.org")));
        assert!(!p.allows_host(&name("notpypi.org")));
        assert!(!p.allows_host(&name("pypi.org.evil.net")));
    }

    #[test]
    fn ip_literals_need_an_exact_entry() {
        let p = policy(&["*.example.com", "93.184.216.34"]);
        assert!(p.allows_host(&name("93.184.216.34")));
        assert!(!p.allows_host(&name("93.184.216.35")));
        assert!(!policy(&["example.com"]).allows_host(&name("127.0.0.1")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["*", "*.com", "a.*.com", "*example.com", "*.1.2.3.4", "x..y"] {
            assert!(EgressPolicy::new([bad], []).is_err(), "{bad:?} accepted");
        }
        assert_eq!(EgressPolicy::new(Vec::<String>::new(), []), Err(PolicyError::Empty));
        assert_eq!(EgressPolicy::new(["a.com"], [0]), Err(PolicyError::ZeroPort));
    }

    #[test]
    fn ports_default_to_https_and_http() {
        let p = policy(&["a.com"]);
        assert!(p.allows_port(443) && p.allows_port(80) && !p.allows_port(22));
        let p = EgressPolicy::new(["a.com"], [8443]).unwrap();
        assert!(p.allows_port(8443) && !p.allows_port(443));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Hostile host text never panics, and whatever parses as a name
        /// is canonical (parsing it again gives the same name).
        #[test]
        fn host_parsing_is_total_and_canonical(text in "\\PC{0,70}|[a-zA-Z0-9.*\\-\\[\\]:_]{0,70}") {
            if let Ok(Host::Name(name)) = Host::parse(&text) {
                proptest::prop_assert_eq!(Host::parse(&name), Ok(Host::Name(name.clone())));
            }
            let _ = EgressPolicy::new([text.as_str()], []);
        }
    }

    #[test]
    fn wire_form_round_trips_and_is_validated() {
        let p: EgressPolicy = serde_json::from_str(r#"{"domains":["a.com","*.b.org"]}"#).unwrap();
        assert_eq!(p.ports(), &[443, 80]);
        let back: EgressPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<EgressPolicy>(r#"{"domains":["*"]}"#).is_err());
        assert!(serde_json::from_str::<EgressPolicy>(r#"{"domains":["a.com"],"extra":1}"#).is_err());
    }
}
