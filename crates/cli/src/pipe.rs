//! A closed standard output (`paddock ... | head -1`) ends paddock quietly.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone fails
//! with EPIPE and `println!` panics. Commands that only talk to a server
//! (and `version`, `completions`) get the default disposition back, so the
//! kernel ends them silently like `cat` (status 141 in a shell). Commands
//! that run the jail engine (`run`, `serve`, `doctor`) keep SIGPIPE ignored:
//! a jail closing its stdin must not kill paddock, and the engine must get
//! to clean up. They write through [`print`] and [`errln!`] instead, which
//! never panic.

use std::io::Write;

/// The exit status of a command whose output's reader went away (128 +
/// SIGPIPE, as a shell reports a process SIGPIPE killed).
pub const EXIT_CLOSED_PIPE: i32 = 128 + libc::SIGPIPE;

/// SIGPIPE ends the process silently (client commands).
pub fn default_sigpipe() {
    // SAFETY: setting a signal disposition to a constant has no
    // preconditions; nothing else in the process handles SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// SIGPIPE is ignored and writes fail with EPIPE (the engine commands;
/// Rust's own default, set again after [`default_sigpipe`]).
pub fn ignore_sigpipe() {
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Writes `text` to standard output and flushes; `false` when the reader
/// has gone (or the write failed otherwise). Never panics.
pub fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_ok()
}

/// `eprintln!` that never panics (standard error may be a closed pipe too).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use errln;
