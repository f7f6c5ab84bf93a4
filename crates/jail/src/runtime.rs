//! The engine's small host directory: an empty mount point for jail roots
//! and the minimal `/etc` every jail sees (threat-model row 2).
//!
//! Both are shared by all jails and never written by them: each jail mounts
//! its own tmpfs over the mount point inside its private mount namespace,
//! so nothing per jail is ever created on the host.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{JailError, Result};

/// Paths inside the runtime directory.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeDir {
    pub root_mount: PathBuf,
    pub etc_template: PathBuf,
}

/// One entry of the minimal `/etc`.
#[derive(Debug)]
enum EtcEntry {
    Dir(PathBuf),
    File(PathBuf, Vec<u8>),
    Symlink(PathBuf, PathBuf),
}

/// The default runtime directory: `/run/paddock` as root,
/// `$XDG_RUNTIME_DIR/paddock` or `/tmp/paddock-<uid>` otherwise.
pub(crate) fn default_dir(uid: u32) -> PathBuf {
    if uid == 0 && Path::new("/run").is_dir() {
        return PathBuf::from("/run/paddock");
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        let xdg = PathBuf::from(xdg);
        if std::fs::metadata(&xdg).is_ok_and(|m| m.uid() == uid) {
            return xdg.join("paddock");
        }
    }
    std::env::temp_dir().join(format!("paddock-{uid}"))
}

/// Creates (or checks) the runtime directory and its contents.
pub(crate) fn prepare(dir: &Path, uid: u32, gid: u32) -> Result<RuntimeDir> {
    let host = |op: &'static str| move |e: io::Error| JailError::host(op, e);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(host("create the runtime directory")(e)),
    }
    // In a shared /tmp someone else could have made the directory first.
    let meta = std::fs::symlink_metadata(dir).map_err(host("inspect the runtime directory"))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(JailError::InvalidConfig(format!(
            "runtime directory {} is not a directory owned by uid {uid}",
            dir.display()
        )));
    }
    // Root-mode jails' inits hold none of the host's privileges and must
    // reach the root mount point and the minimal /etc by path: search
    // permission only (neither is secret; nothing else lives here).
    let mode = if uid == 0 { 0o711 } else { 0o700 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(host("chmod the runtime directory"))?;

    let root_mount = dir.join("root");
    match std::fs::DirBuilder::new().mode(0o755).create(&root_mount) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(host("create the root mount point")(e)),
    }

    let etc_template = dir.join(format!("etc-{:016x}", etc_fingerprint(uid, gid)));
    if !etc_template.is_dir() {
        write_template(dir, &etc_template, &etc_entries(uid, gid)).map_err(host("write the minimal /etc"))?;
    }
    Ok(RuntimeDir {
        root_mount,
        etc_template,
    })
}

/// Builds the template next to its final name, then renames it into place
/// (a concurrent engine building the same template simply loses the race).
fn write_template(dir: &Path, target: &Path, entries: &[EtcEntry]) -> io::Result<()> {
    let staging = dir.join(format!(".etc-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o755).create(&staging)?;
    for entry in entries {
        match entry {
            EtcEntry::Dir(path) => std::fs::DirBuilder::new()
                .mode(0o755)
                .recursive(true)
                .create(staging.join(path))?,
            EtcEntry::File(path, bytes) => {
                std::fs::write(staging.join(path), bytes)?;
                std::fs::set_permissions(staging.join(path), std::fs::Permissions::from_mode(0o644))?;
            }
            EtcEntry::Symlink(path, to) => symlink(to, staging.join(path))?,
        }
    }
    match std::fs::rename(&staging, target) {
        Ok(()) => Ok(()),
        Err(_) if target.is_dir() => std::fs::remove_dir_all(&staging),
        Err(e) => Err(e),
    }
}

/// Host sources of the minimal `/etc`. A directory's mtime changes when an
/// entry is added, removed or replaced (which is how package tools update
/// symlinks), a file's when it is rewritten.
const ETC_SOURCES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl/certs",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/openssl.cnf",
    "/etc/alternatives",
    "/etc/localtime",
];

/// Names the template after its inputs' metadata, so an engine start costs
/// a few `stat` calls instead of reading every certificate.
fn etc_fingerprint(uid: u32, gid: u32) -> u64 {
    let mut hasher = DefaultHasher::new();
    (ETC_TEMPLATE_VERSION, uid, gid).hash(&mut hasher);
    for source in ETC_SOURCES {
        match std::fs::symlink_metadata(source) {
            Ok(meta) => (source, meta.mtime(), meta.mtime_nsec(), meta.size(), meta.ino()).hash(&mut hasher),
            Err(_) => (source, "missing").hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// Bumped whenever `etc_entries` changes what it writes.
const ETC_TEMPLATE_VERSION: u32 = 1;

/// What dynamic linking, user lookup, name lookup of `localhost` and TLS
/// need, and nothing else (no shadow, no machine-id, no host names).
fn etc_entries(uid: u32, gid: u32) -> Vec<EtcEntry> {
    let mut passwd =
        String::from("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    let mut group = String::from("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
    if uid != 0 {
        passwd.push_str(&format!("paddock:x:{uid}:{gid}:paddock:/tmp:/bin/sh\n"));
    }
    if gid != 0 && gid != 5 && gid != 65534 {
        group.push_str(&format!("paddock:x:{gid}:\n"));
    }
    let mut entries = vec![
        EtcEntry::File("passwd".into(), passwd.into_bytes()),
        EtcEntry::File("group".into(), group.into_bytes()),
        EtcEntry::File(
            "hosts".into(),
            b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_vec(),
        ),
        EtcEntry::File(
            "nsswitch.conf".into(),
            b"passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n".to_vec(),
        ),
        EtcEntry::File(
            "resolv.conf".into(),
            b"# paddock jails have no DNS; allowlisted hosts are reached through the egress proxy\n".to_vec(),
        ),
    ];
    for file in ["ld.so.cache", "ld.so.conf"] {
        if let Ok(bytes) = std::fs::read(Path::new("/etc").join(file)) {
            entries.push(EtcEntry::File(file.into(), bytes));
        }
    }
    copy_tree(Path::new("/etc/ld.so.conf.d"), Path::new("ld.so.conf.d"), &mut entries);
    // Certificates only: /etc/ssl/private holds host keys and stays out.
    entries.push(EtcEntry::Dir("ssl".into()));
    copy_tree(Path::new("/etc/ssl/certs"), Path::new("ssl/certs"), &mut entries);
    if let Ok(bytes) = std::fs::read("/etc/ssl/openssl.cnf") {
        entries.push(EtcEntry::File("ssl/openssl.cnf".into(), bytes));
    }
    // Debian's /usr/bin/awk and friends are symlinks through here.
    copy_tree(Path::new("/etc/alternatives"), Path::new("alternatives"), &mut entries);
    if let Ok(to) = std::fs::read_link("/etc/localtime") {
        entries.push(EtcEntry::Symlink("localtime".into(), to));
    }
    entries
}

/// Copies a directory tree's regular files, directories and symlinks
/// (symlinks stay symlinks; their targets are not followed).
fn copy_tree(host: &Path, rel: &Path, entries: &mut Vec<EtcEntry>) {
    let Ok(list) = std::fs::read_dir(host) else {
        return;
    };
    entries.push(EtcEntry::Dir(rel.to_path_buf()));
    let mut children: Vec<_> = list.flatten().collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let Ok(meta) = child.path().symlink_metadata() else {
            continue;
        };
        let name = rel.join(child.file_name());
        if meta.file_type().is_symlink() {
            if let Ok(to) = std::fs::read_link(child.path()) {
                entries.push(EtcEntry::Symlink(name, to));
            }
        } else if meta.is_file() {
            if let Ok(bytes) = std::fs::read(child.path()) {
                entries.push(EtcEntry::File(name, bytes));
            }
        } else if meta.is_dir() {
            copy_tree(&child.path(), &name, entries);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_holds_no_secrets_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let first = prepare(&dir.path().join("rt"), uid, gid).unwrap();
        let second = prepare(&dir.path().join("rt"), uid, gid).unwrap();
        assert_eq!(first.etc_template, second.etc_template);
        for secret in ["shadow", "gshadow", "machine-id", "hostname", "ssl/private", "ssh"] {
            assert!(!first.etc_template.join(secret).exists(), "{secret} leaked into /etc");
        }
        assert!(first.etc_template.join("passwd").is_file());
    }
}
