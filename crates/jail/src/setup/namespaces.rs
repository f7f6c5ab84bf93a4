//! Per-namespace setup done by the jail's init: user-namespace id maps,
//! hostname (UTS namespace) and the loopback interface (network namespace).

use std::io;

use crate::sys::check_int;

/// Maps the caller's uid and gid to themselves inside a fresh user
/// namespace. `setgroups` must be denied first, or an unprivileged process
/// may not write `gid_map`.
pub(crate) fn write_id_maps(uid: u32, gid: u32) -> io::Result<()> {
    std::fs::write("/proc/self/setgroups", b"deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}

/// Sets the hostname of the jail's UTS namespace.
pub(crate) fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// Brings `lo` up in the jail's network namespace.
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket creation.
    let sock = check_int(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: ifreq is plain data; the name is copied into its fixed array.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        check_int(libc::ioctl(sock, libc::SIOCSIFFLAGS, &req))
    };
    // SAFETY: closing the socket created above.
    unsafe { libc::close(sock) };
    result.map(drop)
}
