//! A short memory of database reads on hot paths (the API key behind each
//! request, the preview behind each relayed request), so that a busy
//! client does not pay a database round trip per call. The database stays
//! the record: entries expire after a few seconds, and the service that
//! changes a row forgets what it remembered of it, at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values by key, each kept for `ttl`.
#[derive(Debug)]
pub struct Memo<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    /// Counts the calls to [`Memo::forget`]: a read that raced one is not
    /// remembered.
    changes: AtomicU64,
    ttl: Duration,
    /// Most entries at once (the memory starts over when full).
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// An empty memory keeping entries for `ttl`, at most `capacity`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Memo {
            entries: Mutex::new(HashMap::new()),
            changes: AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    /// The value remembered for `key`, if it is fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, since) = entries.get(key)?;
        (since.elapsed() < self.ttl).then(|| value.clone())
    }

    /// A stamp to take before reading the database, for [`Memo::put`].
    pub fn stamp(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Remembers what was read under `stamp`, unless something was
    /// forgotten since (the read may predate that change).
    pub fn put(&self, key: K, value: V, stamp: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if self.changes.load(Ordering::SeqCst) != stamp {
            return;
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// The value remembered for `key`, else what `load` reads, remembered
    /// unless something was forgotten while it read.
    pub async fn get_or_load<E>(&self, key: K, load: impl std::future::Future<Output = Result<V, E>>) -> Result<V, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let stamp = self.stamp();
        let value = load.await?;
        self.put(key, value.clone(), stamp);
        Ok(value)
    }

    /// Forgets every entry `changed` matches (its row was changed).
    pub fn forget(&self, changed: impl Fn(&K, &V) -> bool) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|key, (value, _)| !changed(key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_forgets_entries_and_beats_a_racing_read() {
        let memo = Memo::new(Duration::from_secs(60), 16);
        memo.put("a", 1, memo.stamp());
        memo.put("b", 2, memo.stamp());
        assert_eq!(memo.get(&"a"), Some(1));
        // A read that began before this change took its stamp then.
        let before = memo.stamp();
        memo.forget(|_, value| *value == 1);
        assert_eq!(memo.get(&"a"), None);
        assert_eq!(memo.get(&"b"), Some(2), "other entries stay");
        memo.put("a", 1, before);
        assert_eq!(memo.get(&"a"), None, "a read that raced the change is not kept");
    }

    #[test]
    fn entries_expire_and_the_memory_is_bounded() {
        let memo = Memo::new(Duration::ZERO, 2);
        memo.put(1, 1, memo.stamp());
        assert_eq!(memo.get(&1), None, "expired at once");
        let memo = Memo::new(Duration::from_secs(60), 2);
        for key in 0..5 {
            memo.put(key, key, memo.stamp());
        }
        assert!(memo.entries.lock().unwrap().len() <= 2);
        assert_eq!(memo.get(&4), Some(4));
    }
}
