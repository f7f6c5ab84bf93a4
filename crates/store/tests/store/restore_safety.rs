//! Restore refuses hostile manifests before writing anything (threat model
//! row 21), and removes what it wrote when it fails part way.

use std::fs;
use std::path::Path;

use paddock_store::{restore, BlobHash, Entry, EntryKind, Manifest, StoreError};

use crate::common::{describe, Scratch};

fn entry(path: &str, kind: EntryKind, hash: Option<BlobHash>, target: Option<&str>) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode: 0o644,
        size: 0,
        hash,
        target: target.map(Into::into),
        mtime_ns: 0,
    }
}

fn file(path: &str, hash: BlobHash) -> Entry {
    entry(path, EntryKind::File, Some(hash), None)
}

fn dir(path: &str) -> Entry {
    entry(path, EntryKind::Dir, None, None)
}

fn link(path: &str, target: &str) -> Entry {
    entry(path, EntryKind::Symlink, None, Some(target))
}

/// Restores `entries` and expects a refusal; checks that neither the
/// target nor anything else in the scratch directory changed.
fn refused(s: &Scratch, entries: Vec<Entry>) -> StoreError {
    let before = describe(s.dir.path());
    let target = s.path("target");
    let err = restore(&s.pool, &Manifest { entries }, &target).expect_err("restore accepted a hostile manifest");
    assert!(!target.exists(), "refusal left {} behind", target.display());
    assert_eq!(describe(s.dir.path()), before, "refusal changed the file system");
    err
}

#[test]
fn restore_refuses_absolute_paths() {
    let s = Scratch::new();
    let empty = s.pool.insert(b"").unwrap();
    let outside = s.path("outside-abs");
    let err = refused(&s, vec![file(outside.to_str().unwrap(), empty)]);
    assert!(
        matches!(
            err,
            StoreError::InvalidEntry {
                reason: "an absolute path",
                ..
            }
        ),
        "{err}"
    );
    assert!(!outside.exists());
}

#[test]
fn restore_refuses_dot_dot_and_dot_components() {
    let s = Scratch::new();
    let empty = s.pool.insert(b"").unwrap();
    for bad in ["..", "../escape", "a/../../escape", "a/..", "./a", "a/./b"] {
        let err = refused(&s, vec![dir("a"), file(bad, empty)]);
        assert!(matches!(err, StoreError::InvalidEntry { index: 1, .. }), "{bad}: {err}");
    }
    assert!(!s.path("escape").exists());
}

#[test]
fn restore_refuses_writing_through_a_symlink_parent() {
    let s = Scratch::new();
    let data = s.pool.insert(b"root::0:0::/:/bin/sh\n").unwrap();
    let etc = s.path("fake-etc");
    fs::create_dir(&etc).unwrap();
    let err = refused(&s, vec![link("a", etc.to_str().unwrap()), file("a/passwd", data)]);
    assert!(
        matches!(
            err,
            StoreError::InvalidEntry {
                reason: "its parent is not a directory",
                ..
            }
        ),
        "{err}"
    );
    // A relative symlink, and one that is later "shadowed" by a directory.
    refused(&s, vec![link("a", "../fake-etc"), dir("a/sub")]);
    refused(&s, vec![link("a", "../fake-etc"), dir("a"), file("a/passwd", data)]);
    // A parent that only appears later, or never.
    refused(&s, vec![file("a/passwd", data), dir("a")]);
    refused(&s, vec![file("missing/passwd", data)]);
    assert_eq!(
        fs::read_dir(&etc).unwrap().count(),
        0,
        "something was written through the symlink"
    );
}

#[test]
fn restore_refuses_duplicate_entries() {
    let s = Scratch::new();
    let empty = s.pool.insert(b"").unwrap();
    let err = refused(&s, vec![file("x", empty), file("x", empty)]);
    assert!(
        matches!(
            err,
            StoreError::InvalidEntry {
                reason: "a duplicate path",
                ..
            }
        ),
        "{err}"
    );
    refused(&s, vec![dir("d"), dir("d")]);
    refused(&s, vec![file("x", empty), link("x", "y")]);
}

#[test]
fn restore_refuses_nul_bytes_empty_components_and_bad_kinds() {
    let s = Scratch::new();
    let empty = s.pool.insert(b"").unwrap();
    refused(&s, vec![file("a\0b", empty)]);
    refused(&s, vec![file("", empty)]);
    refused(&s, vec![dir("a"), file("a//b", empty)]);
    refused(&s, vec![dir("a/")]);
    refused(&s, vec![link("l", "")]);
    refused(&s, vec![link("l", "x\0y")]);
    refused(&s, vec![entry("f", EntryKind::File, None, None)]);
    refused(&s, vec![entry("d", EntryKind::Dir, Some(empty), None)]);
}

#[test]
fn hostile_hashes_cannot_name_a_path_outside_the_pool() {
    let json = r#"{"entries":[{"path":"x","kind":"file","mode":420,"size":0,
        "hash":"../../../../../../../../../../../../../../../../../../etc/passwd","mtime_ns":0}]}"#;
    assert!(serde_json::from_str::<Manifest>(json).is_err());
}

#[test]
fn missing_blob_is_a_clear_error_and_the_partial_target_is_removed() {
    let s = Scratch::new();
    let present = s.pool.insert(b"present").unwrap();
    let absent = BlobHash::of(b"never stored");
    let mut first = file("a/first", present);
    first.size = 7;
    let manifest = Manifest {
        entries: vec![dir("a"), first, file("a/second", absent)],
    };
    let target = s.path("target");
    let err = restore(&s.pool, &manifest, &target).unwrap_err();
    match &err {
        StoreError::MissingBlob { hash, path, .. } => assert_eq!((hash, path.as_str()), (&absent, "a/second")),
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains(&absent.to_hex()), "{err}");
    assert!(!target.exists(), "partial restore left behind");
}

#[test]
fn a_blob_of_the_wrong_size_is_refused() {
    let s = Scratch::new();
    let hash = s.pool.insert(b"four").unwrap();
    let mut entry = file("f", hash);
    entry.size = 5;
    let target = s.path("target");
    let err = restore(&s.pool, &Manifest { entries: vec![entry] }, &target).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BlobSize {
                expected: 5,
                found: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(!target.exists());
}

#[test]
fn restore_refuses_an_existing_target_and_leaves_it_alone() {
    let s = Scratch::new();
    let target = s.path("target");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"mine").unwrap();
    let err = restore(&s.pool, &Manifest::default(), &target).unwrap_err();
    assert!(matches!(err, StoreError::TargetExists { .. }), "{err}");
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"mine");
    // A symlink in the target's place is not followed either.
    std::os::unix::fs::symlink(&target, s.path("link")).unwrap();
    let err = restore(&s.pool, &Manifest::default(), &s.path("link")).unwrap_err();
    assert!(matches!(err, StoreError::TargetExists { .. }), "{err}");
    assert!(Path::new(&target.join("keep")).exists());
}
