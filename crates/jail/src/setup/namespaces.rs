//! Per-namespace setup done by the jail's init: user-namespace id maps,
//! hostname (UTS namespace), the loopback interface and listening sockets
//! for the host's proxies (network namespace).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

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

/// A TCP socket listening on `127.0.0.1:port` of the jail's network
/// namespace. The host accepts on it (after `SCM_RIGHTS`): the jail reaches
/// the host's proxy without any route to the host.
pub(crate) fn listen_loopback(port: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation.
    let raw = check_int(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor we own from here on.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `addr` is a valid sockaddr_in of the length passed.
    check_int(unsafe {
        libc::bind(
            raw,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    // SAFETY: listen on the socket bound above.
    check_int(unsafe { libc::listen(raw, 1024) })?;
    Ok(sock)
}
