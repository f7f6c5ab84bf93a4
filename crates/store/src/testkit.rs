//! Test helpers (feature `testkit`): a loop-mounted xfs or btrfs image, to
//! exercise the reflink path on a host whose own file systems cannot
//! reflink (ext4). Needs root, and `mkfs.xfs` (Debian package `xfsprogs`)
//! or `mkfs.btrfs` (`btrfs-progs`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A file system type for [`LoopMount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopFs {
    /// xfs with `reflink=1` (the default of current mkfs.xfs).
    Xfs,
    /// btrfs.
    Btrfs,
}

impl LoopFs {
    fn mkfs(self) -> (&'static str, &'static [&'static str], &'static str) {
        match self {
            LoopFs::Xfs => ("mkfs.xfs", &["-q", "-m", "reflink=1"], "xfsprogs"),
            LoopFs::Btrfs => ("mkfs.btrfs", &["-q"], "btrfs-progs"),
        }
    }
}

/// Whether this process runs as root (can mount).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sparse image file formatted and mounted on a fresh directory (the loop
/// device is released on unmount). Unmounted and removed on drop, also when
/// the test that made it panics.
#[derive(Debug)]
pub struct LoopMount {
    base: PathBuf,
    mount: PathBuf,
    mounted: bool,
}

impl LoopMount {
    /// Makes an image of `size_mb` MiB of `fs` under the system temporary
    /// directory and mounts it. Fails (naming the Debian package) when the
    /// `mkfs` tool is missing.
    pub fn new(fs: LoopFs, size_mb: u64) -> io::Result<LoopMount> {
        let base = std::env::temp_dir().join(format!(
            "paddock-loop-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&base)?;
        let mut this = LoopMount {
            mount: base.join("mnt"),
            base,
            mounted: false,
        };
        std::fs::create_dir(&this.mount)?;
        let image = this.base.join("image");
        std::fs::File::create(&image)?.set_len(size_mb << 20)?;
        let (tool, args, package) = fs.mkfs();
        let made = Command::new(tool)
            .args(args)
            .arg(&image)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{tool} ({package}): {e}; install the Debian package {package}"),
                )
            })?;
        if !made.status.success() {
            return Err(io::Error::other(format!(
                "{tool} failed: {}",
                String::from_utf8_lossy(&made.stderr).trim()
            )));
        }
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&this.mount)
            .stderr(Stdio::piped())
            .output()?;
        if !mounted.status.success() {
            return Err(io::Error::other(format!(
                "mount -o loop: {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            )));
        }
        this.mounted = true;
        Ok(this)
    }

    /// The mounted file system's root.
    pub fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if self.mounted {
            let plain = Command::new("umount").arg(&self.mount).stderr(Stdio::null()).status();
            if !plain.is_ok_and(|s| s.success()) {
                // Something still holds it open: detach now, freed when closed.
                let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
