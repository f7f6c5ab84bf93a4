//! Threat-model row 47: a jailed command's output must not drive the
//! operator's terminal. `paddock run` shows control characters and escape
//! sequences as text when its output is a terminal (no window title, no
//! OSC 52 clipboard write, no screen redraw), passes them with
//! `--raw-output`, and never changes output going to a pipe or a file.
//! The real binary and real jails under a real pseudo-terminal (Python's
//! `pty` module).

use std::process::{Command, Stdio};

mod support;

/// What the jailed command prints on both streams: a clipboard write
/// (OSC 52), a window title (OSC 0), a screen clear, the 8-bit CSI and
/// text that must survive intact.
const PRINTF: &str = r"printf '\033]52;c;cGFzc3dk\007\033]0;owned\007\033[2J\302\233\061mgrün ✓\tok\n'";

/// The bytes `PRINTF` writes.
const RAW: &[u8] = b"\x1b]52;c;cGFzc3dk\x07\x1b]0;owned\x07\x1b[2J\xc2\x9b1mgr\xc3\xbcn \xe2\x9c\x93\tok\n";

/// Runs the command given on the command line with a new pseudo-terminal
/// as its stdin, stdout and stderr, and copies everything it wrote to the
/// terminal to our stdout; exits with its status.
const UNDER_PTY: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.stdout.flush()
sys.exit(os.waitstatus_to_exitcode(status))
"#;

fn run_args(extra: &[&str]) -> Vec<String> {
    let script = format!("{PRINTF}; {PRINTF} >&2");
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--".into(), "sh".into(), "-c".into(), script]);
    args
}

/// What reached the terminal when `paddock run` ran on one.
fn on_a_terminal(extra: &[&str]) -> Vec<u8> {
    under_pty(run_args(extra))
}

/// What reached the terminal when `paddock ARGS` ran on one.
fn under_pty(args: Vec<String>) -> Vec<u8> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(UNDER_PTY)
        .arg(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "paddock run under a pty failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn row47_escape_sequences_never_reach_the_operators_terminal() {
    let seen = on_a_terminal(&[]);
    let text = String::from_utf8(seen.clone()).expect("what reached the terminal is UTF-8");
    // Not one control byte the terminal would act on: no ESC, no BEL, no C1.
    for bad in [b"\x1b".as_slice(), b"\x07", b"\xc2\x9b", b"\x9b"] {
        assert!(!contains(&seen, bad), "{bad:?} reached the terminal: {text:?}");
    }
    // They are shown instead, on both streams; text and layout are intact
    // (the terminal turns each \n into \r\n).
    assert_eq!(
        text.matches("^[]52;c;cGFzc3dk^G^[]0;owned^G^[[2J\\u{9b}1mgrün ✓\tok\r\n")
            .count(),
        2,
        "{text:?}"
    );

    // With --raw-output the operator asked for the bytes as they are.
    let raw = on_a_terminal(&["--raw-output"]);
    assert!(contains(&raw, b"\x1b]52;c;cGFzc3dk\x07\x1b]0;owned\x07"), "{raw:?}");
}

#[test]
fn output_to_pipes_is_passed_byte_for_byte() {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(run_args(&[]))
        .stdin(Stdio::null())
        .output()
        .expect("paddock runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, RAW);
    assert_eq!(out.stderr, RAW);
}

/// The client commands print a remote jail's output the same way: a run's
/// result, and a streamed run's chunks.
#[test]
fn row47_client_commands_show_remote_output_as_text_too() {
    let dir = support::tempdir();
    let server = support::Server::with_keys(dir.path());
    let script = format!("{PRINTF}; {PRINTF} >&2");
    for mode in ["create", "stream"] {
        let args: Vec<String> = [
            "runs",
            mode,
            "--url",
            &server.url,
            "--api-key",
            support::OP1_TOKEN,
            "-l",
            "bash",
            "-c",
            &script,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let seen = under_pty(args);
        let text = String::from_utf8_lossy(&seen).into_owned();
        for bad in [b"\x1b".as_slice(), b"\x07", b"\xc2\x9b"] {
            assert!(
                !contains(&seen, bad),
                "runs {mode}: {bad:?} reached the terminal: {text:?}"
            );
        }
        assert_eq!(text.matches("^[]52;c;cGFzc3dk^G").count(), 2, "runs {mode}: {text:?}");
    }
}
