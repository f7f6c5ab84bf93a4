//! Garbage collection removes exactly the unreferenced old blobs, keeps
//! live, young and recently used ones, and cleans temporary files left by
//! a crash; a blob under its final name is always complete.

use std::collections::HashSet;
use std::fs;
use std::time::Duration;

use paddock_store::{restore, snapshot, BlobHash};

use crate::common::{age, temps, verify_pool, write, Scratch};

const HOUR: Duration = Duration::from_secs(3600);

/// Makes every blob in the pool look two hours old.
fn age_pool(s: &Scratch) {
    for fan in fs::read_dir(s.pool.root()).unwrap() {
        let fan = fan.unwrap();
        if fan.file_name() != "tmp" {
            for blob in fs::read_dir(fan.path()).unwrap() {
                age(&blob.unwrap().path(), 2 * HOUR);
            }
        }
    }
}

#[test]
fn gc_removes_exactly_the_unreferenced_blobs() {
    let s = Scratch::new();
    write(&s.path("a/only-a"), b"only in a", 0o644);
    write(&s.path("a/shared"), b"in both", 0o644);
    write(&s.path("b/only-b"), b"only in b", 0o644);
    write(&s.path("b/shared"), b"in both", 0o644);
    let a = snapshot(&s.pool, &s.path("a"), None).unwrap();
    let b = snapshot(&s.pool, &s.path("b"), None).unwrap();
    assert_eq!(verify_pool(&s.pool).len(), 3);

    // Only a's manifest is committed; b's blobs are old and unused.
    let live: HashSet<BlobHash> = a.manifest.blobs().copied().collect();
    age_pool(&s);
    let stats = s.pool.gc(&live, Duration::ZERO).unwrap();
    assert_eq!((stats.blobs_removed, stats.bytes_removed), (1, 9));
    assert_eq!((stats.blobs_kept, stats.bytes_kept), (2, 16));
    assert!(!s.pool.contains(&BlobHash::of(b"only in b")).unwrap());
    assert!(s.pool.contains(&BlobHash::of(b"only in a")).unwrap());
    assert!(s.pool.contains(&BlobHash::of(b"in both")).unwrap());
    restore(&s.pool, &a.manifest, &s.path("restored-a")).unwrap();
    assert!(restore(&s.pool, &b.manifest, &s.path("restored-b")).is_err());
    assert!(!s.path("restored-b").exists());
    // Nothing more to collect.
    let again = s.pool.gc(&live, Duration::ZERO).unwrap();
    assert_eq!(again.blobs_removed, 0);
}

#[test]
fn gc_keeps_young_blobs() {
    let s = Scratch::new();
    write(&s.path("t/f"), b"young", 0o644);
    snapshot(&s.pool, &s.path("t"), None).unwrap();
    let stats = s.pool.gc(&HashSet::<BlobHash>::new(), HOUR).unwrap();
    assert_eq!((stats.blobs_removed, stats.blobs_kept), (0, 1));
    assert!(s.pool.contains(&BlobHash::of(b"young")).unwrap());
}

#[test]
fn gc_keeps_old_blobs_a_recent_snapshot_reused() {
    let s = Scratch::new();
    write(&s.path("t/f"), b"old contents", 0o644);
    snapshot(&s.pool, &s.path("t"), None).unwrap();
    let stats = s.pool.gc(&HashSet::<BlobHash>::new(), Duration::ZERO).unwrap();
    assert_eq!(stats.blobs_removed, 1);
    // The blob as an earlier run of the server left it: old, unreferenced.
    let path = s.pool.blob_path(&BlobHash::of(b"old contents"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write(&path, b"old contents", 0o444);
    age_pool(&s);
    // A new snapshot deduplicates against the old blob and returns; its
    // manifest is not committed yet when the collection runs.
    let pending = snapshot(&s.pool, &s.path("t"), None).unwrap();
    assert_eq!(pending.stats.blobs_written, 0);
    let stats = s.pool.gc(&HashSet::<BlobHash>::new(), HOUR).unwrap();
    assert_eq!((stats.blobs_removed, stats.blobs_kept), (0, 1));
    restore(&s.pool, &pending.manifest, &s.path("dst")).unwrap();
}

#[test]
fn gc_removes_stale_temp_files_and_keeps_young_ones() {
    let s = Scratch::new();
    let tmp = s.pool.root().join("tmp");
    fs::write(tmp.join("crashed.1"), b"half a blo").unwrap();
    age(&tmp.join("crashed.1"), 2 * HOUR);
    fs::write(tmp.join("in-progress.2"), b"being written").unwrap();
    // Temporary files next to their blob, as small blobs are written.
    let fan = s.pool.root().join("ab");
    fs::write(fan.join(".tmp.crashed.3"), b"half").unwrap();
    age(&fan.join(".tmp.crashed.3"), 2 * HOUR);
    fs::write(fan.join(".tmp.in-progress.4"), b"being written").unwrap();
    let stats = s.pool.gc(&HashSet::<BlobHash>::new(), HOUR).unwrap();
    assert_eq!(stats.temps_removed, 2);
    assert!(!tmp.join("crashed.1").exists());
    assert!(tmp.join("in-progress.2").exists());
    assert!(!fan.join(".tmp.crashed.3").exists());
    assert!(fan.join(".tmp.in-progress.4").exists());
    assert_eq!((stats.blobs_removed, stats.blobs_kept), (0, 0));
}

#[test]
fn a_blob_under_its_final_name_is_always_complete_after_a_crash() {
    let s = Scratch::new();
    let contents = vec![42u8; 200_000];
    let hash = BlobHash::of(&contents);
    // A crash mid-write leaves only a temporary file: the blob is absent,
    // not truncated.
    fs::write(s.pool.root().join("tmp/crash.7"), &contents[..50_000]).unwrap();
    assert!(!s.pool.contains(&hash).unwrap());
    write(&s.path("t/big"), &contents, 0o644);
    let snap = snapshot(&s.pool, &s.path("t"), None).unwrap();
    assert_eq!(snap.stats.blobs_written, 1);
    assert_eq!(fs::read(s.pool.blob_path(&hash)).unwrap(), contents);
    verify_pool(&s.pool);
    // Only the crash's leftover remains in tmp/ (a snapshot leaves none).
    assert_eq!(temps(&s.pool), 1);
    age(&s.pool.root().join("tmp/crash.7"), 2 * HOUR);
    s.pool
        .gc(&snap.manifest.blobs().copied().collect::<HashSet<_>>(), HOUR)
        .unwrap();
    assert_eq!(temps(&s.pool), 0);
}

#[test]
fn a_damaged_blob_is_replaced_by_the_next_snapshot() {
    let s = Scratch::new();
    write(&s.path("t/f"), b"contents to damage", 0o644);
    let first = snapshot(&s.pool, &s.path("t"), None).unwrap();
    let hash = first.manifest.entries[0].hash.unwrap();
    // Truncated outside the store (a disk error, an operator).
    let path = s.pool.blob_path(&hash);
    let mut perms = fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(&path, perms).unwrap();
    fs::write(&path, b"contents").unwrap();
    let second = snapshot(&s.pool, &s.path("t"), None).unwrap();
    assert_eq!(second.stats.blobs_written, 1);
    verify_pool(&s.pool);
}
