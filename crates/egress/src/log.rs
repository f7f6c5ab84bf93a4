//! The per-jail record of every connection attempt through the proxy.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed and connected; bytes were relayed.
    Allowed,
    /// Refused by policy; nothing left the host.
    Denied,
    /// Allowed, but the upstream could not be reached.
    Failed,
}

impl Outcome {
    /// The outcome's name, as in the log and the API (`allowed`, `denied`,
    /// `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Machine-readable reason of a denial or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The host is not on the allowlist.
    HostNotAllowed,
    /// The request named an IP address that is not on the allowlist.
    IpLiteral,
    /// The port is not allowed.
    PortNotAllowed,
    /// Every address the name resolved to is private, loopback, link-local
    /// or otherwise non-public.
    NonPublicAddress,
    /// The host is not a valid name or address.
    InvalidHost,
    /// Malformed request, or not a proxy request.
    BadRequest,
    /// The request head or URL is too large.
    TooLarge,
    /// The jail has too many proxy connections open.
    TooManyConnections,
    /// The name did not resolve.
    ResolveFailed,
    /// No address accepted the connection.
    ConnectFailed,
    /// The connection attempt timed out.
    ConnectTimeout,
    /// The client took too long to send its request head.
    HeaderTimeout,
    /// No traffic either way for the idle timeout.
    IdleTimeout,
    /// The jail ended while the connection was open.
    JailEnded,
}

impl Reason {
    /// The reason's name, as in the log and the `x-paddock-egress` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HostNotAllowed => "host_not_allowed",
            Reason::IpLiteral => "ip_literal",
            Reason::PortNotAllowed => "port_not_allowed",
            Reason::NonPublicAddress => "non_public_address",
            Reason::InvalidHost => "invalid_host",
            Reason::BadRequest => "bad_request",
            Reason::TooLarge => "too_large",
            Reason::TooManyConnections => "too_many_connections",
            Reason::ResolveFailed => "resolve_failed",
            Reason::ConnectFailed => "connect_failed",
            Reason::ConnectTimeout => "connect_timeout",
            Reason::HeaderTimeout => "header_timeout",
            Reason::IdleTimeout => "idle_timeout",
            Reason::JailEnded => "jail_ended",
        }
    }
}

/// One connection attempt (a tunnel, or one forwarded HTTP request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRecord {
    /// `CONNECT`, or the forwarded request's method.
    pub method: String,
    /// The host as the client named it (canonical form when valid).
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// The address connected to (or the first refused one).
    pub address: Option<IpAddr>,
    /// Allowed, denied or failed.
    pub outcome: Outcome,
    /// Why it was denied, failed or closed early.
    pub reason: Option<Reason>,
    /// Human-readable explanation (also sent to the client on refusal).
    pub detail: Option<String>,
    /// HTTP status: the upstream's for a forwarded request, the proxy's
    /// for a refusal; `None` for a tunnel.
    pub status: Option<u16>,
    /// Bytes from the jail to the upstream.
    pub bytes_up: u64,
    /// Bytes from the upstream to the jail.
    pub bytes_down: u64,
    /// From the request to the end of the connection.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}

/// All records of one jail, in the order attempts finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressLog {
    /// The records kept.
    pub records: Vec<EgressRecord>,
    /// Attempts past the record cap, counted but not kept.
    pub dropped: u64,
}

/// Collects records as connections finish; optionally forwards each to a
/// live subscriber. The cap bounds both the log and the subscriber's queue.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    inner: Arc<Mutex<EgressLog>>,
    cap: usize,
    live: Option<mpsc::UnboundedSender<EgressRecord>>,
}

impl Recorder {
    pub(crate) fn new(cap: usize, live: Option<mpsc::UnboundedSender<EgressRecord>>) -> Self {
        Recorder {
            inner: Arc::default(),
            cap,
            live,
        }
    }

    pub(crate) fn record(&self, record: EgressRecord) {
        match &record.outcome {
            Outcome::Allowed => tracing::debug!(host = %record.host, port = record.port, "egress allowed"),
            _ => {
                tracing::debug!(host = %record.host, port = record.port, reason = ?record.reason, "egress refused or failed")
            }
        }
        let mut log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if log.records.len() >= self.cap {
            log.dropped += 1;
            return;
        }
        if let Some(live) = &self.live {
            let _ = live.send(record.clone());
        }
        log.records.push(record);
    }

    pub(crate) fn snapshot(&self) -> EgressLog {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
