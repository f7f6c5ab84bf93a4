//! The local terminal of `paddock ws exec -it`: raw mode that is undone on
//! every way out, the window size, and SIGWINCH.
//!
//! Raw mode is restored by the guard's `Drop` (normal returns and panics
//! that unwind), by a panic hook (a panic on another thread), by an
//! `atexit` handler (`std::process::exit` from anywhere, the Ctrl-C thread
//! included), and by the handlers of SIGTERM, SIGHUP and SIGQUIT, which
//! restore the terminal (`tcsetattr` is async-signal-safe) and then die of
//! the signal as they would have. The saved settings live in a static that
//! is written once, before any of these can run.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The terminal settings before raw mode, and the descriptor they belong to.
struct Saved {
    fd: libc::c_int,
    termios: libc::termios,
}

/// Written once by [`RawMode::enter`]; read by every restoring path.
static SAVED: OnceLock<Saved> = OnceLock::new();
/// Raw mode is on (so the restoring paths have something to undo).
static RAW: AtomicBool = AtomicBool::new(false);
/// Set by the SIGWINCH handler, taken by [`take_resized`].
static RESIZED: AtomicBool = AtomicBool::new(false);

/// Whether `fd` is a terminal.
pub fn is_tty(fd: libc::c_int) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The size of the terminal on `fd`: `(cols, rows)`, or `None` when it is
/// not a terminal or reports 0.
pub fn size(fd: libc::c_int) -> Option<(u16, u16)> {
    // SAFETY: a zeroed winsize is valid, and TIOCGWINSZ writes only into it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `ws` outlives the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// Whether the window changed size since the last call.
pub fn take_resized() -> bool {
    RESIZED.swap(false, Ordering::SeqCst)
}

/// Puts the terminal back as it was, if raw mode is on. Safe to call from
/// a signal handler (an atomic swap and `tcsetattr`).
fn restore() {
    if RAW.swap(false, Ordering::SeqCst) {
        if let Some(saved) = SAVED.get() {
            // SAFETY: `saved.termios` came from tcgetattr on this fd.
            unsafe { libc::tcsetattr(saved.fd, libc::TCSAFLUSH, &saved.termios) };
        }
    }
}

extern "C" fn restore_at_exit() {
    restore();
}

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::SeqCst);
}

extern "C" fn on_fatal(signal: libc::c_int) {
    restore();
    // SAFETY: signal and raise are async-signal-safe; with the default
    // disposition back, the process ends of this signal as it would have.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Installs `handler` for `signal` (with `SA_RESTART`).
fn handle(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask
    // is a valid argument; the handlers only touch atomics and call
    // async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Reports window changes through [`take_resized`] from now on.
pub fn watch_resizes() {
    handle(libc::SIGWINCH, on_winch);
}

/// The terminal in raw mode until this is dropped.
pub struct RawMode(());

impl RawMode {
    /// Puts the terminal on `fd` in raw mode (no echo, no line editing, no
    /// signals from keys: Ctrl-C goes to the remote program as a byte).
    pub fn enter(fd: libc::c_int) -> io::Result<RawMode> {
        // SAFETY: a zeroed termios is valid storage for tcgetattr.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `termios` outlives the call.
        if unsafe { libc::tcgetattr(fd, &mut termios) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if SAVED.set(Saved { fd, termios }).is_err() {
            return Err(io::Error::other("the terminal is in raw mode already"));
        }
        // Every way out restores it: exit, panics, fatal signals.
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(restore_at_exit) };
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            handle(signal, on_fatal);
        }
        let mut raw = termios;
        // SAFETY: cfmakeraw edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        RAW.store(true, Ordering::SeqCst);
        // SAFETY: `raw` is a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) } != 0 {
            let err = io::Error::last_os_error();
            RAW.store(false, Ordering::SeqCst);
            return Err(err);
        }
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}
