//! Incremental snapshots: unchanged files are not read again, changed ones
//! always are, even when a hostile jail gives them back their size and mtime.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paddock_store::{restore, snapshot, BlobHash, StatCache, RACY_WINDOW};

use crate::common::{make_tree, settle, verify_pool, write, Scratch};

#[test]
fn second_snapshot_of_an_unchanged_tree_rereads_nothing() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tree(&src, 4, 40, 1000);
    std::os::unix::fs::symlink("d0/f0", src.join("link")).unwrap();
    settle();
    let first = snapshot(&s.pool, &src, None).unwrap();
    assert_eq!((first.stats.files_hashed, first.stats.blobs_written), (40, 40));
    let second = snapshot(&s.pool, &src, Some(&first.cache)).unwrap();
    assert_eq!(second.stats.files_hashed, 0, "{:?}", second.stats);
    assert_eq!(second.stats.files_reused, 40);
    assert_eq!((second.stats.blobs_written, second.stats.bytes_written), (0, 0));
    assert_eq!(second.manifest, first.manifest);
    // The cache survives JSON, as the server keeps it.
    let json = serde_json::to_string(&second.cache).unwrap();
    let cache: StatCache = serde_json::from_str(&json).unwrap();
    let third = snapshot(&s.pool, &src, Some(&cache)).unwrap();
    assert_eq!(third.stats.files_hashed, 0);
}

#[test]
fn rewritten_file_is_detected_even_with_size_and_mtime_restored() {
    let s = Scratch::new();
    let src = s.path("src");
    let file = src.join("victim.txt");
    write(&file, b"aaaa-original", 0o644);
    write(&src.join("other"), b"untouched", 0o644);
    settle();
    let first = snapshot(&s.pool, &src, None).unwrap();
    let before = fs::metadata(&file).unwrap();
    let original_mtime = before.modified().unwrap();

    // What `echo -n bbbb-modified! > f; touch -d @<old> f` does.
    let mut f = OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all(b"bbbb-rewritten").unwrap();
    f.set_len(13).unwrap();
    f.set_modified(original_mtime).unwrap();
    drop(f);
    let after = fs::metadata(&file).unwrap();
    assert_eq!((after.len(), after.modified().unwrap()), (before.len(), original_mtime));
    assert_eq!(after.ino(), before.ino());

    let second = snapshot(&s.pool, &src, Some(&first.cache)).unwrap();
    assert_eq!((second.stats.files_hashed, second.stats.files_reused), (1, 1));
    let entry = second.manifest.entries.iter().find(|e| e.path == "victim.txt").unwrap();
    assert_eq!(entry.hash, Some(BlobHash::of(b"bbbb-rewritte")));
    assert!(s.pool.contains(&BlobHash::of(b"bbbb-rewritte")).unwrap());
}

#[test]
fn replaced_file_with_the_same_size_and_mtime_is_detected() {
    let s = Scratch::new();
    let src = s.path("src");
    let file = src.join("f");
    write(&file, b"first", 0o644);
    settle();
    let first = snapshot(&s.pool, &src, None).unwrap();
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let other = src.join("f.new");
    write(&other, b"other", 0o644);
    OpenOptions::new()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    fs::rename(&other, &file).unwrap();
    let second = snapshot(&s.pool, &src, Some(&first.cache)).unwrap();
    assert_eq!(second.stats.files_hashed, 1);
    assert_eq!(second.manifest.entries[0].hash, Some(BlobHash::of(b"other")));
}

#[test]
fn snapshot_after_restore_reuses_hashes() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tree(&src, 3, 30, 500);
    let first = snapshot(&s.pool, &src, None).unwrap();
    let dst = s.path("dst");
    let restored = restore(&s.pool, &first.manifest, &dst).unwrap();
    assert_eq!(restored.cache.len(), 30);
    let again = snapshot(&s.pool, &dst, Some(&restored.cache)).unwrap();
    assert_eq!(again.stats.files_hashed, 0, "{:?}", again.stats);
    assert_eq!(again.stats.files_reused, 30);
    assert_eq!(again.manifest, first.manifest);
    // A change after the restore is still seen.
    fs::write(dst.join("d1/f1"), b"changed").unwrap();
    let changed = snapshot(&s.pool, &dst, Some(&restored.cache)).unwrap();
    assert_eq!(changed.stats.files_hashed, 1);
}

#[test]
fn files_changed_just_before_a_snapshot_are_read_again_next_time() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("hot"), b"just written", 0o644);
    let first = snapshot(&s.pool, &src, None).unwrap();
    // The racy rule compares the file's ctime with the end of the snapshot
    // that recorded it, on the wall clock. Measured from the ctime (which a
    // coarse kernel clock can set up to a tick before the write), not from
    // an instant taken before the write: when the ctime is within the window
    // of a moment after that snapshot ended, it was within the window of
    // the snapshot's end too, and the next snapshot must read the file.
    let meta = fs::metadata(src.join("hot")).unwrap();
    let ctime = UNIX_EPOCH + Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
    let since_change = SystemTime::now().duration_since(ctime).unwrap_or_default();
    let second = snapshot(&s.pool, &src, Some(&first.cache)).unwrap();
    if since_change < RACY_WINDOW {
        assert_eq!(second.stats.files_hashed, 1, "a racily clean file was trusted");
    }
    std::thread::sleep(RACY_WINDOW + Duration::from_millis(10));
    let third = snapshot(&s.pool, &src, Some(&second.cache)).unwrap();
    let fourth = snapshot(&s.pool, &src, Some(&third.cache)).unwrap();
    assert_eq!(fourth.stats.files_hashed, 0);
}

#[test]
fn cache_made_before_a_collection_rewrites_the_blobs_it_lost() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tree(&src, 2, 10, 100);
    settle();
    let first = snapshot(&s.pool, &src, None).unwrap();
    // The manifest was never committed: nothing is live.
    let stats = s.pool.gc(&Default::default(), Duration::ZERO).unwrap();
    assert_eq!(stats.blobs_removed, 10);
    let second = snapshot(&s.pool, &src, Some(&first.cache)).unwrap();
    assert_eq!(second.stats.files_hashed, 10, "{:?}", second.stats);
    assert_eq!(second.stats.blobs_written, 10);
    verify_pool(&s.pool);
    restore(&s.pool, &second.manifest, &s.path("dst")).unwrap();
    // After that the new cache is trusted again.
    let third = snapshot(&s.pool, &src, Some(&second.cache)).unwrap();
    assert_eq!(third.stats.files_hashed, 0);
}
