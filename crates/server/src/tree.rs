//! Copying a jail's output tree for forks: reflink (copy-on-write) where
//! the file system can, a plain copy otherwise. Symlinks are recreated as
//! symlinks and never followed; special files are skipped; setuid, setgid
//! and sticky bits are dropped.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};
use std::path::Path;

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Regular files copied (either way).
    pub files_cloned: u64,
    /// Of those, files shared copy-on-write (reflink).
    pub files_cow: u64,
    /// Bytes of the regular files copied.
    pub bytes_cloned: u64,
    /// `reflink`, `copy`, or `mixed`.
    pub method: &'static str,
}

/// `FICLONE` from `linux/fs.h`: `_IOW(0x94, 9, int)`.
const FICLONE: libc::c_ulong = 0x4004_9409;

/// Copies the tree under `from` into `to` (which must not exist).
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<CopyStats> {
    let mut stats = CopyStats::default();
    fs::create_dir(to)?;
    copy_dir(from, to, &mut stats, 0)?;
    stats.method = match (stats.files_cow, stats.files_cloned) {
        (0, _) => "copy",
        (cow, all) if cow == all => "reflink",
        _ => "mixed",
    };
    Ok(stats)
}

/// Deepest directory nesting copied (a jail could build a pathological tree).
const MAX_DEPTH: usize = 256;

fn copy_dir(from: &Path, to: &Path, stats: &mut CopyStats, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other("the output tree is nested too deeply"));
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        // symlink_metadata: a symlink is described, never followed.
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        let mode = meta.permissions().mode() & 0o777;
        if kind.is_symlink() {
            symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_dir(&source, &target, stats, depth + 1)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o700))?;
        } else if kind.is_file() {
            let cow = copy_file(&source, &target)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            stats.files_cloned += 1;
            stats.files_cow += cow as u64;
            stats.bytes_cloned += meta.len();
        } else if kind.is_fifo() || kind.is_socket() || kind.is_block_device() || kind.is_char_device() {
            continue;
        }
    }
    Ok(())
}

/// Copies one regular file; `true` when it was reflinked.
fn copy_file(source: &Path, target: &Path) -> io::Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut input = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(source)?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)?;
    // SAFETY: FICLONE with two descriptors we own.
    if unsafe { libc::ioctl(output.as_raw_fd(), FICLONE as _, input.as_raw_fd()) } == 0 {
        return Ok(true);
    }
    io::copy(&mut input, &mut output)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_dirs_and_symlinks_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.txt"), "hello").unwrap();
        fs::write(src.join("sub/b.bin"), vec![7u8; 10_000]).unwrap();
        fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o4755)).unwrap_or(());
        symlink("/etc/shadow", src.join("evil")).unwrap();
        symlink("a.txt", src.join("rel")).unwrap();
        let dst = dir.path().join("dst");
        let stats = copy_tree(&src, &dst).unwrap();
        assert_eq!((stats.files_cloned, stats.bytes_cloned), (2, 10_005));
        assert!(["copy", "reflink", "mixed"].contains(&stats.method));
        assert_eq!(fs::read_to_string(dst.join("a.txt")).unwrap(), "hello");
        assert_eq!(fs::read(dst.join("sub/b.bin")).unwrap().len(), 10_000);
        assert_eq!(fs::read_link(dst.join("evil")).unwrap(), Path::new("/etc/shadow"));
        assert!(fs::symlink_metadata(dst.join("evil")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_link(dst.join("rel")).unwrap(), Path::new("a.txt"));
        let mode = fs::metadata(dst.join("a.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7000, 0, "setuid kept");
        // Writing the copy leaves the source alone.
        fs::write(dst.join("a.txt"), "changed").unwrap();
        assert_eq!(fs::read_to_string(src.join("a.txt")).unwrap(), "hello");
    }
}
