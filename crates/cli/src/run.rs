//! `paddock run`: one jail on this machine, no server.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use paddock_jail::egress::{EgressLog, Outcome};
use paddock_jail::{Engine, JailConfig, JailError, NetworkMode, Preset, SeccompLevel, Stdin};

use crate::egress_args::EgressArgs;
use crate::parse;
use crate::pipe::errln;

/// Exit status when the deadline passed (like `timeout(1)`).
const EXIT_TIMEOUT: i32 = 124;
/// Exit status after an OOM kill (128 + SIGKILL).
const EXIT_OOM: i32 = 137;
/// Exit status when the jail could not be set up.
const EXIT_SETUP: i32 = 125;
/// Exit status when the command could not be executed.
const EXIT_NOT_FOUND: i32 = 127;

/// Options of `paddock run`.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Network: `none` (no interface up), `loopback` (the jail's own lo), or
    /// `allow:HOST[,HOST...]` (only these hosts, through the egress proxy;
    /// `*.example.com` also matches example.com).
    #[arg(long, default_value = "none", value_parser = parse_network)]
    pub net: NetworkMode,
    /// Port the allowlist may reach (repeatable; default 443 and 80).
    #[arg(long = "allow-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub allow_ports: Vec<u16>,
    /// Memory limit: 64m, 2g (a bare number is MiB), or `unlimited`.
    #[arg(long, value_name = "SIZE", default_value = "512m", value_parser = parse::size_or_unlimited)]
    pub memory: parse::SizeLimit,
    /// CPU quota in percent of one core (100 = one core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=25600))]
    pub cpu: Option<u32>,
    /// Maximum number of processes and threads, or `unlimited`.
    #[arg(long, default_value = "64")]
    pub pids: String,
    /// Read bandwidth per block device, per second: 10m (a bare number is
    /// MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub io_read: Option<u64>,
    /// Write bandwidth per block device, per second.
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub io_write: Option<u64>,
    /// Deadline for the whole jail: 30s, 2m, 500ms (a bare number is
    /// seconds).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse::duration)]
    pub timeout: Duration,
    /// Output kept of each stream with --json: 1m, 64k (a bare number is
    /// MiB).
    #[arg(long, value_name = "SIZE", default_value = "1m", value_parser = parse::size)]
    pub output_cap: u64,
    /// Size of the jail's /tmp: 256m, 1g (a bare number is MiB).
    #[arg(long, value_name = "SIZE", default_value = "256m", value_parser = parse::size)]
    pub tmp_size: u64,
    /// Read-only bind, HOST[:JAIL]; without JAIL the first becomes /workspace.
    #[arg(long = "ro", value_name = "HOST[:JAIL]", value_parser = parse::bind)]
    pub ro: Vec<parse::BindSpec>,
    /// Read-write bind, HOST[:JAIL]; without JAIL: /workspace, else /output.
    #[arg(long = "rw", value_name = "HOST[:JAIL]", value_parser = parse::bind)]
    pub rw: Vec<parse::BindSpec>,
    /// Working directory inside the jail.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Environment variable for the command (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse::env)]
    pub env: Vec<(String, String)>,
    /// Seccomp policy: `standard`, or `strict` (no sockets but AF_UNIX).
    #[arg(long, default_value = "standard", value_parser = parse_seccomp)]
    pub seccomp: SeccompLevel,
    /// Start from a preset's limits (default, build, agent, dev); explicit
    /// flags still apply on top.
    #[arg(long, value_parser = parse_preset)]
    pub preset: Option<Preset>,
    /// Print the result as JSON instead of passing output through.
    #[arg(long)]
    pub json: bool,
    /// Pass the command's output to a terminal byte for byte. By default,
    /// output going to a terminal has its control characters and escape
    /// sequences shown as text (`^[]52;c;...^G`), so the jailed command
    /// cannot retitle the window, write the clipboard (OSC 52) or redraw
    /// the screen; output to a pipe or a file is never changed.
    #[arg(long)]
    pub raw_output: bool,
    #[command(flatten)]
    pub egress: EgressArgs,
    /// The command and its arguments.
    #[arg(required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_network(text: &str) -> Result<NetworkMode, String> {
    match text {
        "none" => Ok(NetworkMode::None),
        "loopback" => Ok(NetworkMode::Loopback),
        other => match other.strip_prefix("allow:") {
            Some(hosts) => NetworkMode::allowlist(hosts.split(','), []).map_err(|e| match e {
                JailError::InvalidConfig(msg) => msg,
                other => other.to_string(),
            }),
            None => Err(format!(
                "unknown network mode {other:?} (none, loopback or allow:HOST[,HOST...])"
            )),
        },
    }
}

fn parse_seccomp(text: &str) -> Result<SeccompLevel, String> {
    match text {
        "standard" => Ok(SeccompLevel::Standard),
        "strict" => Ok(SeccompLevel::Strict),
        other => Err(format!("unknown seccomp level {other:?} (standard or strict)")),
    }
}

fn parse_preset(text: &str) -> Result<Preset, String> {
    Preset::from_name(text).ok_or_else(|| format!("unknown preset {text:?} (default, build, agent, dev)"))
}

fn optional<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if text == "unlimited" {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

/// Builds the jail configuration, or says which flag is wrong.
pub fn build_config(args: &RunArgs, explicit: &dyn Fn(&str) -> bool) -> Result<JailConfig, String> {
    let mut config = JailConfig::new(args.command[0].clone(), args.command[1..].to_vec());
    if let Some(preset) = args.preset {
        config = config.preset(preset);
    }
    // Without a preset every default applies; with one, only flags given.
    let wanted = |id: &str| args.preset.is_none() || explicit(id);
    if wanted("net") {
        config.network = args.net.clone();
    }
    if !args.allow_ports.is_empty() {
        let Some(policy) = config.network.egress_policy() else {
            return Err("--allow-port needs --net allow:HOST[,HOST...]".into());
        };
        config.network = NetworkMode::allowlist(policy.domains(), args.allow_ports.iter().copied())
            .map_err(|e| format!("--allow-port: {e}"))?;
    }
    let limits = &mut config.limits;
    if wanted("memory") {
        limits.memory_bytes = args.memory.0;
    }
    if wanted("pids") {
        limits.pids = optional(&args.pids, |t| {
            t.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("{t:?} is not a positive number"))
        })
        .map_err(|e| format!("--pids: {e}"))?;
    }
    if let Some(cpu) = args.cpu {
        limits.cpu_percent = Some(cpu);
    }
    if wanted("timeout") {
        limits.timeout = Some(args.timeout);
    }
    limits.io_read_bps = args.io_read;
    limits.io_write_bps = args.io_write;
    limits.output_cap_bytes = usize::try_from(args.output_cap).map_err(|_| "--output-cap is too large".to_owned())?;
    limits.tmp_size_bytes = args.tmp_size;

    let mut taken_workspace = false;
    let mut taken_output = false;
    for (spec, writable) in args
        .ro
        .iter()
        .map(|s| (s, false))
        .chain(args.rw.iter().map(|s| (s, true)))
    {
        let flag = if writable { "--rw" } else { "--ro" };
        let host = absolute(&spec.host).map_err(|e| format!("{flag} {}: {e}", spec.host.display()))?;
        let target = match &spec.jail {
            Some(target) => target.clone(),
            None if !taken_workspace => {
                taken_workspace = true;
                PathBuf::from("/workspace")
            }
            None if writable && !taken_output => {
                taken_output = true;
                PathBuf::from("/output")
            }
            None => {
                return Err(format!(
                    "{flag} {}: /workspace{} taken; give a jail path (HOST:JAIL)",
                    spec.host.display(),
                    if writable { " and /output are" } else { " is" }
                ))
            }
        };
        if target == Path::new("/workspace") {
            taken_workspace = true;
        }
        if target == Path::new("/output") {
            taken_output = true;
        }
        config = config.bind(host, target, writable);
    }
    config.workdir = args.workdir.clone();
    for (key, value) in &args.env {
        config = config.env(key.clone(), value.clone());
    }
    config.seccomp = args.seccomp;
    config.stdin = if std::io::stdin().is_terminal() {
        Stdin::Null
    } else {
        Stdin::Pipe
    };
    config.validate().map_err(|e| match e {
        JailError::InvalidConfig(msg) => msg,
        other => other.to_string(),
    })?;
    Ok(config)
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path)
}

/// Runs the jail and returns the process exit status. Output going to a
/// terminal is neutralized ([`Neutralizer`]) unless `raw_output`.
pub async fn run(engine: Engine, config: JailConfig, json: bool, raw_output: bool) -> i32 {
    let pass_stdin = config.stdin == Stdin::Pipe;
    let mut handle = match engine.spawn(config).await {
        Ok(handle) => handle,
        Err(err) => return report_error(&err),
    };
    if pass_stdin {
        if let Some(sender) = handle.take_stdin().and_then(|s| s.into_blocking_fd().ok()) {
            // Detached: a command that never reads stdin must not keep
            // paddock waiting for the terminal or a slow producer.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::fs::File::from(sender));
            });
        }
    }
    let mut copies = Vec::new();
    if !json {
        if let Some(out) = handle.take_stdout().and_then(|r| r.into_blocking_fd().ok()) {
            let neutralize = !raw_output && std::io::stdout().is_terminal();
            copies.push(std::thread::spawn(move || {
                let _ = pass_output(std::fs::File::from(out), &mut std::io::stdout().lock(), neutralize);
            }));
        }
        if let Some(err) = handle.take_stderr().and_then(|r| r.into_blocking_fd().ok()) {
            let neutralize = !raw_output && std::io::stderr().is_terminal();
            copies.push(std::thread::spawn(move || {
                let _ = pass_output(std::fs::File::from(err), &mut std::io::stderr().lock(), neutralize);
            }));
        }
    }
    let result = handle.wait().await;
    for copy in copies {
        // The jail is gone, so its pipes are at end of file.
        let _ = copy.join();
    }
    match result {
        Err(err) => report_error(&err),
        Ok(result) => {
            let mut closed_pipe = false;
            if json {
                match serde_json::to_string_pretty(&result) {
                    Ok(text) => closed_pipe = !crate::pipe::print(&format!("{text}\n")),
                    Err(e) => errln!("paddock: {e}"),
                }
            } else {
                if let Some(log) = &result.egress {
                    report_egress_refusals(log);
                }
                if result.timed_out {
                    errln!("paddock: the jail was killed at its {:?} deadline", result.duration);
                } else if result.oom_killed {
                    errln!("paddock: the jail ran out of memory and was killed");
                }
            }
            if closed_pipe {
                // Nobody reads the result any more (`| head`): end quietly.
                crate::pipe::EXIT_CLOSED_PIPE
            } else if result.timed_out {
                EXIT_TIMEOUT
            } else if result.oom_killed {
                EXIT_OOM
            } else {
                result.exit_code()
            }
        }
    }
}

/// One line per refused or failed connection attempt, after the run, so
/// that a command that only says "403" or "connection failed" is explained.
fn report_egress_refusals(log: &EgressLog) {
    for record in log.records.iter().filter(|r| r.outcome != Outcome::Allowed) {
        let what = if record.method.is_empty() {
            "a connection".to_owned()
        } else {
            format!("{} {}:{}", record.method, record.host, record.port)
        };
        let verdict = if record.outcome == Outcome::Denied {
            "refused"
        } else {
            "failed"
        };
        errln!(
            "paddock: egress {verdict}: {what}: {}",
            record.detail.as_deref().unwrap_or("no detail")
        );
    }
    if log.dropped > 0 {
        errln!("paddock: {} more egress attempts were not recorded", log.dropped);
    }
}

fn report_error(err: &JailError) -> i32 {
    errln!("paddock: {err}");
    match err {
        JailError::Exec { .. } => EXIT_NOT_FOUND,
        JailError::InvalidConfig(_) | JailError::LimitUnavailable { .. } => 2,
        _ => EXIT_SETUP,
    }
}

/// Copies a jail's output stream to ours: byte for byte, or through a
/// [`Neutralizer`] when it goes to a terminal.
fn pass_output(mut from: std::fs::File, to: &mut impl Write, neutralize: bool) -> std::io::Result<()> {
    if !neutralize {
        std::io::copy(&mut from, to)?;
        return to.flush();
    }
    let mut neutralizer = Neutralizer::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut shown = Vec::with_capacity(buf.len());
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        shown.clear();
        neutralizer.push(&buf[..n], &mut shown);
        to.write_all(&shown)?;
        // Promptly, as a terminal would have shown the raw bytes.
        to.flush()?;
    }
    shown.clear();
    neutralizer.finish(&mut shown);
    to.write_all(&shown)?;
    to.flush()
}

/// `bytes` of a jail's output as they may be written to `stream`:
/// neutralized ([`Neutralizer`]) when it is a terminal, unchanged
/// otherwise (pipes and files get the exact bytes).
pub fn for_terminal<'a>(bytes: &'a [u8], stream: &impl IsTerminal) -> std::borrow::Cow<'a, [u8]> {
    if !stream.is_terminal() {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut neutralizer = Neutralizer::default();
    neutralizer.push(bytes, &mut out);
    neutralizer.finish(&mut out);
    std::borrow::Cow::Owned(out)
}

/// Makes output safe to show on a terminal: every control character but
/// `\n`, `\t` and `\r` is shown as text instead of acting on the terminal,
/// so escape sequences (window titles, OSC 52 clipboard writes, cursor
/// moves, the 8-bit CSI) become visible. C0 controls and DEL are shown in
/// caret notation (`ESC` as `^[`, `BEL` as `^G`), C1 controls and the
/// bidirectional overrides and isolates as `\u{9b}`, `\u{202e}`, and bytes
/// that are not UTF-8 as `\xNN`; every other character, non-ASCII
/// text included, passes unchanged. Streams are fed in arbitrary chunks: a
/// UTF-8 character split between two chunks is kept whole.
#[derive(Debug, Default)]
pub struct Neutralizer {
    /// The start of a UTF-8 character the last chunk ended inside.
    pending: Vec<u8>,
}

impl Neutralizer {
    /// Appends the safe form of `bytes` to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let joined;
        let mut input = bytes;
        if !self.pending.is_empty() {
            let mut both = std::mem::take(&mut self.pending);
            both.extend_from_slice(bytes);
            joined = both;
            input = &joined;
        }
        loop {
            match std::str::from_utf8(input) {
                Ok(text) => {
                    show_text(text, out);
                    return;
                }
                Err(err) => {
                    let (valid, rest) = input.split_at(err.valid_up_to());
                    // `valid` is the part from_utf8 just checked.
                    show_text(std::str::from_utf8(valid).unwrap_or_default(), out);
                    match err.error_len() {
                        Some(bad) => {
                            for byte in &rest[..bad] {
                                out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
                            }
                            input = &rest[bad..];
                        }
                        None => {
                            // A character cut at the end of the chunk.
                            self.pending = rest.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Appends what is left at the end of the stream (a character that
    /// never completed, shown as bytes).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        for byte in std::mem::take(&mut self.pending) {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        }
    }
}

/// Appends `text` with its controls shown as text.
fn show_text(text: &str, out: &mut Vec<u8>) {
    let mut plain = 0;
    for (i, c) in text.char_indices() {
        let shown = match c {
            '\n' | '\t' | '\r' => continue,
            '\u{0}'..='\u{1f}' => format!("^{}", char::from(c as u8 + b'@')),
            '\u{7f}' => "^?".to_owned(),
            // C1 controls, and the bidirectional overrides and isolates
            // that reorder what a terminal shows (output that reads as
            // something other than what it is).
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                format!("\\u{{{:x}}}", c as u32)
            }
            _ => continue,
        };
        out.extend_from_slice(&text.as_bytes()[plain..i]);
        out.extend_from_slice(shown.as_bytes());
        plain = i + c.len_utf8();
    }
    out.extend_from_slice(&text.as_bytes()[plain..]);
}

#[cfg(test)]
mod tests {
    use super::Neutralizer;

    fn shown(chunks: &[&[u8]]) -> String {
        let mut neutralizer = Neutralizer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            neutralizer.push(chunk, &mut out);
        }
        neutralizer.finish(&mut out);
        String::from_utf8(out).expect("the shown form is UTF-8")
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        assert_eq!(
            shown(&[b"\x1b]52;c;aGVsbG8=\x07\x1b]0;title\x07ok\n"]),
            "^[]52;c;aGVsbG8=^G^[]0;title^Gok\n"
        );
        assert_eq!(shown(&[b"a\x1b[2Jb\x00c\x7fd\x08"]), "a^[[2Jb^@c^?d^H");
        // The 8-bit CSI, as a character and as a stray byte.
        assert_eq!(shown(&["x\u{9b}31m".as_bytes()]), "x\\u{9b}31m");
        assert_eq!(shown(&["a\u{202e}b\u{2066}c".as_bytes()]), "a\\u{202e}b\\u{2066}c");
        assert_eq!(shown(&[b"x\x9b31m"]), "x\\x9b31m");
    }

    #[test]
    fn text_layout_and_utf8_pass_unchanged_even_split_across_chunks() {
        let text = "line\tone\r\nzwei: grün, 日本語, 🦀\n";
        assert_eq!(shown(&[text.as_bytes()]), text);
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(shown(&[&bytes[..cut], &bytes[cut..]]), text, "cut at {cut}");
        }
        // A character that never completes is shown as its bytes.
        assert_eq!(shown(&[b"a\xe6\x97"]), "a\\xe6\\x97");
    }
}
