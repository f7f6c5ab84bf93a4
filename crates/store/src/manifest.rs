//! The manifest of a snapshot: one [`Entry`] per directory, regular file
//! and symlink, parents before children, and the validation restore runs
//! before it writes anything.
//!
//! A manifest is data that comes back from a database, so restore trusts
//! none of it: [`Manifest::validate`] refuses absolute paths, `.` and `..`,
//! empty components, NUL bytes, duplicates, and any entry whose parent is not
//! a directory entry earlier in the manifest (a symlink `a -> /etc` followed
//! by a file `a/passwd` is refused, so nothing is ever written through a
//! symlink).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::hash::BlobHash;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file, stored as a blob.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, stored as its target text.
    Symlink,
}

/// One directory, regular file or symlink of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative path, `/`-separated, no leading `/`, no `.` or `..`.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits as found (`st_mode & 0o7777`); restore drops
    /// setuid, setgid and sticky.
    pub mode: u32,
    /// Bytes of a file; the target's length for a symlink; 0 for a directory.
    pub size: u64,
    /// The blob holding a file's contents (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<BlobHash>,
    /// A symlink's target, verbatim (symlinks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// A snapshot's entries, parents before children (depth first, siblings in
/// byte order of their names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Bounds on a tree or manifest, against hostile trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest directory nesting: a directory has at most `max_depth`
    /// path components, a file or symlink at most `max_depth + 1`.
    pub max_depth: usize,
    /// Most entries (directories, files, symlinks and skipped specials).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_entries: 1_000_000,
        }
    }
}

/// Longest name of one path component (`NAME_MAX`).
pub(crate) const MAX_NAME: usize = 255;
/// Longest symlink target (`PATH_MAX - 1`).
pub(crate) const MAX_TARGET: usize = 4095;

impl Manifest {
    /// Every blob the manifest refers to (with repeats), to build the `live`
    /// set of [`BlobPool::gc`](crate::BlobPool::gc).
    pub fn blobs(&self) -> impl Iterator<Item = &BlobHash> + '_ {
        self.entries.iter().filter_map(|e| e.hash.as_ref())
    }

    /// The regular-file entries.
    pub fn files(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.iter().filter(|e| e.kind == EntryKind::File)
    }

    /// Total bytes of the regular files.
    pub fn file_bytes(&self) -> u64 {
        self.files().map(|e| e.size).sum()
    }

    /// Checks every entry as [`restore`](crate::restore) does, with the
    /// default [`Limits`].
    pub fn validate(&self) -> Result<()> {
        self.validate_with(&Limits::default())
    }

    /// Checks every entry against `limits`: relative, normalized paths
    /// within `max_depth` (see [`Limits`]) of components of at most 255 bytes, no NUL, no
    /// duplicates, each parent a directory entry earlier in the manifest, a
    /// hash on files only, a non-empty target on symlinks only.
    pub fn validate_with(&self, limits: &Limits) -> Result<()> {
        if self.entries.len() > limits.max_entries {
            return Err(StoreError::TooManyEntries {
                path: "manifest".into(),
                max: limits.max_entries,
            });
        }
        // Each path seen so far and its kind; a parent must be in here.
        let mut seen: HashMap<&str, EntryKind> = HashMap::with_capacity(self.entries.len());
        for (index, entry) in self.entries.iter().enumerate() {
            let refuse = |reason: &'static str| StoreError::InvalidEntry {
                index,
                path: entry.path.chars().take(256).collect(),
                reason,
            };
            let depth = check_path(&entry.path).map_err(refuse)?;
            let dir_limit = if entry.kind == EntryKind::Dir { 0 } else { 1 };
            if depth > limits.max_depth + dir_limit {
                return Err(refuse("nested too deeply"));
            }
            match entry.kind {
                EntryKind::File if entry.hash.is_none() => return Err(refuse("a file without a hash")),
                EntryKind::File if entry.target.is_some() => return Err(refuse("a file with a symlink target")),
                EntryKind::Dir | EntryKind::Symlink if entry.hash.is_some() => {
                    return Err(refuse("a hash on a directory or symlink"))
                }
                EntryKind::Dir if entry.target.is_some() => return Err(refuse("a directory with a symlink target")),
                EntryKind::Symlink => match &entry.target {
                    None => return Err(refuse("a symlink without a target")),
                    Some(t) if t.is_empty() => return Err(refuse("an empty symlink target")),
                    Some(t) if t.len() > MAX_TARGET => return Err(refuse("a symlink target longer than 4095 bytes")),
                    Some(t) if t.contains('\0') => return Err(refuse("a NUL byte in a symlink target")),
                    Some(_) => {}
                },
                _ => {}
            }
            if let Some((parent, _)) = entry.path.rsplit_once('/') {
                match seen.get(parent) {
                    Some(EntryKind::Dir) => {}
                    Some(_) => return Err(refuse("its parent is not a directory")),
                    None => return Err(refuse("its parent is not an earlier directory entry")),
                }
            }
            if seen.insert(&entry.path, entry.kind).is_some() {
                return Err(refuse("a duplicate path"));
            }
        }
        Ok(())
    }
}

/// Checks one relative path and returns its number of components.
fn check_path(path: &str) -> std::result::Result<usize, &'static str> {
    if path.is_empty() {
        return Err("an empty path");
    }
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    if path.contains('\0') {
        return Err("a NUL byte in the path");
    }
    let mut depth = 0;
    for component in path.split('/') {
        match component {
            "" => return Err("an empty path component"),
            "." => return Err("a `.` component"),
            ".." => return Err("a `..` component"),
            c if c.len() > MAX_NAME => return Err("a path component longer than 255 bytes"),
            _ => depth += 1,
        }
    }
    Ok(depth)
}

/// Orders paths depth first: component by component, so a directory comes
/// right before its subtree (`a`, `a/b`, `a-b` rather than `a`, `a-b`,
/// `a/b`).
pub(crate) fn tree_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            size: 0,
            hash: None,
            target: None,
            mtime_ns: 0,
        }
    }

    fn file(path: &str) -> Entry {
        Entry {
            kind: EntryKind::File,
            hash: Some(BlobHash::of(b"")),
            ..dir(path)
        }
    }

    fn link(path: &str, target: &str) -> Entry {
        Entry {
            kind: EntryKind::Symlink,
            target: Some(target.into()),
            ..dir(path)
        }
    }

    fn refused(entries: Vec<Entry>) -> &'static str {
        match (Manifest { entries }).validate() {
            Err(StoreError::InvalidEntry { reason, .. }) => reason,
            other => panic!("accepted or wrong error: {other:?}"),
        }
    }

    #[test]
    fn accepts_a_normal_tree() {
        let m = Manifest {
            entries: vec![
                dir("a"),
                file("a/x"),
                dir("a/b"),
                link("a/b/l", "../../../etc"),
                file("top"),
            ],
        };
        m.validate().unwrap();
    }

    #[test]
    fn refuses_escapes_and_malformed_paths() {
        assert_eq!(refused(vec![file("/etc/passwd")]), "an absolute path");
        assert_eq!(refused(vec![file("..")]), "a `..` component");
        assert_eq!(refused(vec![dir("a"), file("a/../../x")]), "a `..` component");
        assert_eq!(refused(vec![file("./x")]), "a `.` component");
        assert_eq!(refused(vec![dir("a"), file("a//x")]), "an empty path component");
        assert_eq!(refused(vec![dir("a"), file("a/")]), "an empty path component");
        assert_eq!(refused(vec![file("")]), "an empty path");
        assert_eq!(refused(vec![file("a\0b")]), "a NUL byte in the path");
        assert_eq!(
            refused(vec![file(&"n".repeat(256))]),
            "a path component longer than 255 bytes"
        );
    }

    #[test]
    fn refuses_symlink_parents_missing_parents_and_duplicates() {
        assert_eq!(
            refused(vec![link("a", "/etc"), file("a/passwd")]),
            "its parent is not a directory"
        );
        assert_eq!(refused(vec![file("a"), file("a/b")]), "its parent is not a directory");
        assert_eq!(
            refused(vec![file("a/b"), dir("a")]),
            "its parent is not an earlier directory entry"
        );
        assert_eq!(refused(vec![file("a"), file("a")]), "a duplicate path");
        assert_eq!(refused(vec![dir("a"), link("a", "x")]), "a duplicate path");
    }

    #[test]
    fn refuses_inconsistent_kinds() {
        let mut f = file("f");
        f.hash = None;
        assert_eq!(refused(vec![f]), "a file without a hash");
        let mut d = dir("d");
        d.hash = Some(BlobHash::of(b""));
        assert_eq!(refused(vec![d]), "a hash on a directory or symlink");
        assert_eq!(refused(vec![link("l", "")]), "an empty symlink target");
        assert_eq!(refused(vec![link("l", "a\0b")]), "a NUL byte in a symlink target");
    }

    #[test]
    fn refuses_too_deep_and_too_many() {
        let limits = Limits {
            max_depth: 2,
            max_entries: 10,
        };
        let ok = Manifest {
            entries: vec![dir("a"), dir("a/b"), file("a/b/c")],
        };
        ok.validate_with(&limits).unwrap();
        let deep = Manifest {
            entries: vec![dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/d")],
        };
        assert!(matches!(
            deep.validate_with(&limits),
            Err(StoreError::InvalidEntry {
                reason: "nested too deeply",
                ..
            })
        ));
        let many = Manifest {
            entries: (0..11).map(|i| file(&format!("f{i}"))).collect(),
        };
        assert!(matches!(
            many.validate_with(&limits),
            Err(StoreError::TooManyEntries { .. })
        ));
    }

    #[test]
    fn tree_order_puts_a_directory_before_its_subtree() {
        let mut paths = vec!["a-b", "a/b", "a", "a/b/c", "a.b", "b"];
        paths.sort_by(|a, b| tree_order(a, b));
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a-b", "a.b", "b"]);
    }

    #[test]
    fn serializes_with_lowercase_kinds_and_hex_hashes() {
        let m = Manifest {
            entries: vec![file("f"), link("l", "f")],
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["entries"][0]["kind"], "file");
        assert_eq!(json["entries"][0]["hash"], BlobHash::of(b"").to_hex());
        assert_eq!(json["entries"][1]["kind"], "symlink");
        assert!(json["entries"][1].get("hash").is_none());
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), m);
    }
}
