//! Property tests of restore's validation: whatever the manifest, it never
//! panics, and never accepts a path that could leave the target; a restore
//! of an accepted manifest writes only inside the target.

use std::path::{Component, Path};

use paddock_store::{restore, BlobHash, Entry, EntryKind, Manifest};
use proptest::prelude::*;

use crate::common::{describe, Scratch};

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-c]{1,2}",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just(String::new()),
        1 => Just("a\0b".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("x".repeat(256)),
        1 => ".{0,4}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..5))
        .prop_map(|(absolute, parts)| format!("{}{}", if absolute { "/" } else { "" }, parts.join("/")))
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        path(),
        0..3u8,
        any::<u32>(),
        prop_oneof![
            Just(None),
            Just(Some("t".to_owned())),
            Just(Some("/etc".to_owned())),
            ".{0,3}".prop_map(Some)
        ],
        any::<bool>(),
    )
        .prop_map(|(path, kind, mode, target, hashed)| {
            let kind = [EntryKind::Dir, EntryKind::File, EntryKind::Symlink][kind as usize];
            Entry {
                path,
                kind,
                mode,
                size: 0,
                hash: hashed.then(|| BlobHash::of(b"")),
                target,
                mtime_ns: 0,
            }
        })
}

/// What an accepted path must be: relative, and only plain names.
fn stays_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && Path::new("/target")
            .join(path)
            .components()
            .skip(2)
            .all(|c| matches!(c, Component::Normal(_)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_accepts_an_escaping_path_and_never_panics(entries in prop::collection::vec(entry(), 0..8)) {
        let manifest = Manifest { entries };
        if manifest.validate().is_ok() {
            for (i, entry) in manifest.entries.iter().enumerate() {
                prop_assert!(stays_inside(&entry.path), "accepted {:?}", entry.path);
                if let Some((parent, _)) = entry.path.rsplit_once('/') {
                    prop_assert!(manifest.entries[..i].iter().any(|e| e.path == parent && e.kind == EntryKind::Dir));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn restore_writes_only_inside_its_target(entries in prop::collection::vec(entry(), 0..8)) {
        let s = Scratch::new();
        s.pool.insert(b"").unwrap();
        let before = describe(s.dir.path());
        let target = s.path("target");
        let manifest = Manifest { entries };
        match restore(&s.pool, &manifest, &target) {
            Ok(_) => {
                // The restored tree goes first: its files keep the modes the
                // manifest gave, unreadable ones included, and only what is
                // outside it is compared.
                std::fs::remove_dir_all(&target).unwrap();
                prop_assert_eq!(describe(s.dir.path()), before);
            }
            Err(_) => {
                prop_assert!(!target.exists());
                prop_assert_eq!(describe(s.dir.path()), before);
            }
        }
    }
}
