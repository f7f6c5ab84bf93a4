//! Counters behind `GET /metrics` (Prometheus text format) and
//! `GET /v1/stats`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the jail duration histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0];

/// Jail kinds counted separately.
const KINDS: [&str; 5] = ["run", "stream", "exec", "fork", "workspace"];

/// Outcomes counted separately.
const STATUSES: [&str; 3] = ["completed", "error", "cancelled"];

/// Outcomes of phantom proxy requests: forwarded, or the refusal reason.
const PROXY_OUTCOMES: [&str; 10] = [
    "forwarded",
    "bad_path",
    "no_token",
    "unknown_token",
    "unknown_service",
    "wrong_service",
    "scope_denied",
    "budget_exhausted",
    "no_upstream_key",
    "upstream_error",
];

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    started: [AtomicU64; KINDS.len()],
    finished: [AtomicU64; STATUSES.len()],
    timed_out: AtomicU64,
    oom_killed: AtomicU64,
    refused_busy: AtomicU64,
    active: AtomicI64,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    proxy: [AtomicU64; PROXY_OUTCOMES.len()],
    proxy_upstream_count: AtomicU64,
    proxy_upstream_sum_us: AtomicU64,
}

impl Metrics {
    /// A jail of `kind` started.
    pub fn jail_started(&self, kind: &str) {
        if let Some(i) = KINDS.iter().position(|k| *k == kind) {
            self.started[i].fetch_add(1, Ordering::Relaxed);
        }
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// A jail ended with `status` after `duration`.
    pub fn jail_finished(&self, status: &str, duration: Duration, timed_out: bool, oom_killed: bool) {
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.finished[i].fetch_add(1, Ordering::Relaxed);
        }
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.timed_out.fetch_add(timed_out as u64, Ordering::Relaxed);
        self.oom_killed.fetch_add(oom_killed as u64, Ordering::Relaxed);
        let seconds = duration.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add(duration.as_micros() as u64, Ordering::Relaxed);
    }

    /// A request was refused at the concurrency limit.
    pub fn refused_busy(&self) {
        self.refused_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// A phantom proxy request ended with `outcome` (`forwarded` or a
    /// refusal reason), after `upstream` when the upstream was contacted.
    pub fn proxy_request(&self, outcome: &str, upstream: Option<Duration>) {
        if let Some(i) = PROXY_OUTCOMES.iter().position(|o| *o == outcome) {
            self.proxy[i].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(upstream) = upstream {
            self.proxy_upstream_count.fetch_add(1, Ordering::Relaxed);
            self.proxy_upstream_sum_us
                .fetch_add(upstream.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Jails running now.
    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Jails started since the server started.
    pub fn total(&self) -> u64 {
        self.started.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The Prometheus exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str(
            "# HELP paddock_jails_started_total Jails started, by kind.\n# TYPE paddock_jails_started_total counter\n",
        );
        for (kind, count) in KINDS.iter().zip(&self.started) {
            out.push_str(&format!(
                "paddock_jails_started_total{{kind=\"{kind}\"}} {}\n",
                load(count)
            ));
        }
        out.push_str("# HELP paddock_jails_finished_total Jails ended, by status.\n# TYPE paddock_jails_finished_total counter\n");
        for (status, count) in STATUSES.iter().zip(&self.finished) {
            out.push_str(&format!(
                "paddock_jails_finished_total{{status=\"{status}\"}} {}\n",
                load(count)
            ));
        }
        for (name, help, value) in [
            (
                "paddock_jails_timed_out_total",
                "Jails killed at their deadline.",
                load(&self.timed_out),
            ),
            (
                "paddock_jails_oom_killed_total",
                "Jails the OOM killer acted in.",
                load(&self.oom_killed),
            ),
            (
                "paddock_requests_refused_busy_total",
                "Requests answered 429 at the concurrency limit.",
                load(&self.refused_busy),
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP paddock_jails_active Jails running now.\n# TYPE paddock_jails_active gauge\npaddock_jails_active {}\n",
            self.active()
        ));
        out.push_str("# HELP paddock_jail_duration_seconds Wall time of finished jails.\n# TYPE paddock_jail_duration_seconds histogram\n");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            out.push_str(&format!(
                "paddock_jail_duration_seconds_bucket{{le=\"{bound}\"}} {}\n",
                load(bucket)
            ));
        }
        let count = load(&self.duration_count);
        out.push_str(&format!(
            "paddock_jail_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n"
        ));
        out.push_str(&format!(
            "paddock_jail_duration_seconds_sum {}\npaddock_jail_duration_seconds_count {count}\n",
            load(&self.duration_sum_us) as f64 / 1e6
        ));
        out.push_str("# HELP paddock_phantom_requests_total Phantom proxy requests, by outcome (forwarded or the refusal reason).\n# TYPE paddock_phantom_requests_total counter\n");
        for (outcome, count) in PROXY_OUTCOMES.iter().zip(&self.proxy) {
            out.push_str(&format!(
                "paddock_phantom_requests_total{{outcome=\"{outcome}\"}} {}\n",
                load(count)
            ));
        }
        out.push_str(&format!(
            "# HELP paddock_phantom_upstream_seconds Time to the upstream's response head.\n# TYPE paddock_phantom_upstream_seconds summary\npaddock_phantom_upstream_seconds_sum {}\npaddock_phantom_upstream_seconds_count {}\n",
            load(&self.proxy_upstream_sum_us) as f64 / 1e6,
            load(&self.proxy_upstream_count)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.jail_started("run");
        m.jail_started("stream");
        m.jail_finished("completed", Duration::from_millis(20), false, false);
        let text = m.render();
        assert!(text.contains("paddock_jails_started_total{kind=\"run\"} 1"));
        assert!(text.contains("paddock_jails_active 1"));
        assert!(text.contains("paddock_jail_duration_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("paddock_jail_duration_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("paddock_jail_duration_seconds_bucket{le=\"300\"} 1"));
        assert!(text.contains("paddock_jail_duration_seconds_count 1"));
        m.proxy_request("scope_denied", None);
        m.proxy_request("forwarded", Some(Duration::from_millis(2)));
        let text = m.render();
        assert!(text.contains("paddock_phantom_requests_total{outcome=\"scope_denied\"} 1"));
        assert!(text.contains("paddock_phantom_requests_total{outcome=\"forwarded\"} 1"));
        assert!(text.contains("paddock_phantom_upstream_seconds_count 1"));
    }
}
