//! One pool used by many threads at once: snapshots of overlapping trees,
//! restores and collections.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_store::{restore, snapshot, BlobHash};

use crate::common::{describe, temps, verify_pool, write, Scratch};

#[test]
fn concurrent_snapshots_restores_and_gc_share_one_pool() {
    let s = Scratch::new();
    let committed = Arc::new(Mutex::new(HashSet::<BlobHash>::new()));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &s;
            let committed = committed.clone();
            scope.spawn(move || {
                for round in 0..5 {
                    let src = s.path(&format!("src-{t}-{round}"));
                    for i in 0..50 {
                        // Half the contents are shared by every thread.
                        let data = if i % 2 == 0 {
                            format!("shared {i}")
                        } else {
                            format!("{t} {round} {i}")
                        };
                        write(&src.join(format!("d{}/f{i}", i % 5)), data.as_bytes(), 0o644);
                    }
                    let snap = snapshot(&s.pool, &src, None).unwrap();
                    committed.lock().unwrap().extend(snap.manifest.blobs().copied());
                    let dst = s.path(&format!("dst-{t}-{round}"));
                    restore(&s.pool, &snap.manifest, &dst).unwrap();
                    assert_eq!(describe(&dst), describe(&src));
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..10 {
                let live = committed.lock().unwrap().clone();
                s.pool.gc(&live, Duration::from_secs(60)).unwrap();
            }
        });
    });
    let blobs = verify_pool(&s.pool);
    assert_eq!(blobs.len(), 25 + 4 * 5 * 25);
    assert_eq!(temps(&s.pool), 0);
}
