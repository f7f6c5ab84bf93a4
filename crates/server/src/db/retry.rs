//! Retrying a write that met a database which cannot take it now (down,
//! unwritable, full), for records whose work is already done: a jail's
//! result, the proxy's audit rows. Faults that retrying does not cure end
//! the retries at once.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{DbError, DbFault, DbResult};

/// How a failed write is tried again: first after `first_delay`, the delay
/// doubling up to `max_delay`, at most `attempts` more times.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub attempts: u32,
}

/// Tries `write` again after it failed with `failure`, while it fails with
/// a fault retrying can cure ([`DbFault::Unavailable`], [`DbFault::Full`]).
/// Once `stop` is cancelled, a pending wait ends and the next failure is
/// the last. Returns the attempts it took, or the last error.
pub async fn retry_after_failure<F, Fut>(
    failure: DbError,
    policy: RetryPolicy,
    stop: Option<&CancellationToken>,
    mut write: F,
) -> Result<u32, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DbResult<()>>,
{
    let mut last = failure;
    let mut delay = policy.first_delay;
    let stopped = || stop.is_some_and(CancellationToken::is_cancelled);
    for attempt in 1..=policy.attempts {
        if last.fault() == DbFault::Other || stopped() {
            return Err(last);
        }
        match stop {
            Some(stop) => tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => {}
            },
            None => tokio::time::sleep(delay).await,
        }
        match write().await {
            Ok(()) => return Ok(attempt),
            Err(err) => last = err,
        }
        delay = (delay * 2).min(policy.max_delay);
    }
    Err(last)
}
