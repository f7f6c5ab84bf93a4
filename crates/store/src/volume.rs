//! Size-limited file systems for workspace trees (threat-model row 32).
//!
//! A workspace with a disk limit keeps its tree on a file system of its
//! own: an ext4 image file (sparse: it costs the host only what the tree
//! uses) attached to a loop device and mounted. The file system enforces
//! the limit, so a jail that fills its tree gets `ENOSPC` and nothing else
//! on the host does.
//!
//! Why not project quotas: they need quota support for the state
//! directory's file system in the kernel (ext4's `quota` format, XFS
//! quotas), which kernels are often built without (this project's CI host
//! has neither), and they cannot bound a tree on file systems without
//! them. An image works on any file system that holds files, at the cost
//! of a loop device and a mount per workspace whose tree exists. Needs
//! root.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Smallest image: ext4's metadata and journal need room of their own.
pub const MIN_SIZE: u64 = 16 << 20;

/// What went wrong with a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A system call or file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// `mkfs.ext4` failed or is missing.
    #[error("formatting {path} with mkfs.ext4 (Debian package e2fsprogs): {message}")]
    Format {
        /// The image.
        path: PathBuf,
        /// What mkfs said.
        message: String,
    },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `image`, a sparse file of `size` bytes holding an empty ext4
/// file system whose root belongs to uid and gid 0.
pub fn create(image: &Path, size: u64) -> Result<(), VolumeError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(io_error("create", image))?;
    file.set_len(size).map_err(io_error("size", image))?;
    drop(file);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0", "-E", "nodiscard,root_owner=0:0"])
        .arg(image)
        .output();
    let failure = match out {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(err) => err.to_string(),
    };
    let _ = std::fs::remove_file(image);
    Err(VolumeError::Format {
        path: image.to_path_buf(),
        message: failure,
    })
}

/// Whether `dir` is the root of a mount (its device differs from its
/// parent's).
pub fn is_mounted(dir: &Path) -> bool {
    let parent = dir.parent().unwrap_or(dir);
    match (std::fs::metadata(dir), std::fs::metadata(parent)) {
        (Ok(own), Ok(up)) => own.dev() != up.dev(),
        _ => false,
    }
}

/// Mounts `image` at `target` (an existing directory), `nosuid` and
/// `nodev`, through a loop device that detaches itself at the unmount.
/// The file system's own `lost+found` is removed: the tree is the
/// workspace's, entry for entry.
pub fn mount(image: &Path, target: &Path) -> Result<(), VolumeError> {
    let backing = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(io_error("open", image))?;
    let (device, loop_file) = attach(&backing).map_err(io_error("attach a loop device to", image))?;
    let source = CString::new(device.as_os_str().as_bytes()).map_err(|_| nul(&device))?;
    let dest = CString::new(target.as_os_str().as_bytes()).map_err(|_| nul(target))?;
    // SAFETY: NUL-terminated strings that outlive the call; no data.
    let mounted = unsafe {
        libc::mount(
            source.as_ptr(),
            dest.as_ptr(),
            c"ext4".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null(),
        )
    };
    let result = if mounted == 0 {
        Ok(())
    } else {
        Err(io_error("mount", target)(io::Error::last_os_error()))
    };
    // With the mount holding the device, closing ours leaves the detach to
    // the unmount (autoclear); without it, the device detaches now.
    drop(loop_file);
    result?;
    match std::fs::remove_dir(target.join("lost+found")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove lost+found in", target)(e)),
    }
}

fn nul(path: &Path) -> VolumeError {
    VolumeError::Io {
        what: "use",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"),
    }
}

/// Unmounts the volume at `target` if one is mounted there.
pub fn unmount(target: &Path) -> Result<(), VolumeError> {
    if !is_mounted(target) {
        return Ok(());
    }
    let dest = CString::new(target.as_os_str().as_bytes()).map_err(|_| nul(target))?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::umount2(dest.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EBUSY) {
        return Err(io_error("unmount", target)(err));
    }
    // Still open somewhere (a jail's mount namespace being released): the
    // tree leaves the host's namespace now and the device detaches once
    // the last user is gone.
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::umount2(dest.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io_error("unmount", target)(io::Error::last_os_error()))
    }
}

/// Size and use of the file system mounted at `target`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes the file system can hold (its metadata excluded).
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
}

/// The use of the volume mounted at `target`.
pub fn usage(target: &Path) -> Result<Usage, VolumeError> {
    let dest = CString::new(target.as_os_str().as_bytes()).map_err(|_| nul(target))?;
    // SAFETY: statvfs is plain data, filled by the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    if unsafe { libc::statvfs(dest.as_ptr(), &mut stat) } != 0 {
        return Err(io_error("statvfs", target)(io::Error::last_os_error()));
    }
    let block = stat.f_frsize;
    Ok(Usage {
        total: stat.f_blocks * block,
        used: (stat.f_blocks - stat.f_bfree) * block,
    })
}

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of `<linux/loop.h>`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// Attaches `backing` to a free loop device; returns its path and an open
/// descriptor of it.
fn attach(backing: &File) -> io::Result<(PathBuf, File)> {
    let control = OpenOptions::new().read(true).write(true).open("/dev/loop-control")?;
    // Another process may take the free device first: ask again.
    for _ in 0..16 {
        // SAFETY: an ioctl without argument on /dev/loop-control.
        let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if number < 0 {
            return Err(io::Error::last_os_error());
        }
        let path = PathBuf::from(format!("/dev/loop{number}"));
        let device = OpenOptions::new().read(true).write(true).open(&path)?;
        // SAFETY: both structs are plain data; zero is valid for every field.
        let mut config: LoopConfig = unsafe { std::mem::zeroed() };
        config.fd = backing.as_raw_fd() as u32;
        config.info.flags = LO_FLAGS_AUTOCLEAR;
        // SAFETY: LOOP_CONFIGURE reads a loop_config of the declared layout.
        if unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CONFIGURE, &config as *const LoopConfig) } == 0 {
            return Ok((path, device));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EBUSY) {
            return Err(err);
        }
    }
    Err(io::Error::other("no free loop device after 16 tries"))
}
