//! From a request's [`JailOptions`] to a jail's settings: defaults and
//! clamps (applied here and nowhere else), network modes, seccomp levels,
//! and the interpreter of each run language.

use std::time::Duration;

use paddock_api::{Error, ErrorCode, JailOptions, LimitsApplied, NetworkSpec};
use paddock_jail::{JailConfig, Limits, NetworkMode, SeccompLevel, Stdin};

/// Most allowlist domains per request.
const MAX_DOMAINS: usize = 32;

/// Applies `options` to `config` and returns what was applied.
pub fn apply(options: &JailOptions, config: &mut JailConfig) -> Result<LimitsApplied, Error> {
    let applied = resolve(options)?;
    config.network = network_mode(&applied.network)?;
    config.seccomp = match applied.seccomp.as_str() {
        "strict" => SeccompLevel::Strict,
        _ => SeccompLevel::Standard,
    };
    config.limits = Limits {
        memory_bytes: Some(applied.memory_mb << 20),
        cpu_percent: (applied.cpu_percent > 0).then_some(applied.cpu_percent),
        pids: Some(applied.max_pids),
        timeout: Some(Duration::from_secs(applied.timeout_secs)),
        ..Limits::default()
    };
    Ok(applied)
}

/// The settings `options` ask for after defaults and clamps, checked.
pub fn resolve(options: &JailOptions) -> Result<LimitsApplied, Error> {
    let seccomp = match options.seccomp.as_deref() {
        None | Some("standard") => "standard",
        Some("strict") => "strict",
        Some(other) => {
            return Err(Error::new(
                ErrorCode::BadSeccomp,
                format!("unknown seccomp level {other:?} (standard or strict)"),
            ))
        }
    };
    let network = options.network.clone().unwrap_or_else(NetworkSpec::none);
    network_mode(&network)?;
    Ok(LimitsApplied {
        timeout_secs: options.timeout_secs.unwrap_or(300).clamp(1, 3600),
        memory_mb: options.memory_mb.unwrap_or(512).clamp(16, 8192),
        cpu_percent: options.cpu_percent.map_or(0, |c| c.clamp(1, 800)),
        max_pids: options.max_pids.unwrap_or(256).clamp(1, 1024),
        network,
        seccomp: seccomp.to_owned(),
    })
}

/// The options that reproduce `applied` (a workspace's stored settings),
/// with a request's own deadline and memory taking precedence.
pub fn options_of(applied: &LimitsApplied, timeout_secs: Option<u64>, memory_mb: Option<u64>) -> JailOptions {
    JailOptions {
        timeout_secs: Some(timeout_secs.unwrap_or(applied.timeout_secs)),
        memory_mb: Some(memory_mb.unwrap_or(applied.memory_mb)),
        network: Some(applied.network.clone()),
        seccomp: Some(applied.seccomp.clone()),
        cpu_percent: (applied.cpu_percent > 0).then_some(applied.cpu_percent),
        max_pids: Some(applied.max_pids),
    }
}

fn network_mode(spec: &NetworkSpec) -> Result<NetworkMode, Error> {
    let bad = |msg: String| Error::new(ErrorCode::BadNetwork, msg);
    match spec.mode.as_str() {
        "none" => Ok(NetworkMode::None),
        "loopback" => Ok(NetworkMode::Loopback),
        "allowlist" => {
            if spec.domains.is_empty() || spec.domains.len() > MAX_DOMAINS {
                return Err(bad(format!("an allowlist needs 1 to {MAX_DOMAINS} domains")));
            }
            NetworkMode::allowlist(&spec.domains, []).map_err(|e| bad(e.to_string()))
        }
        other => Err(bad(format!(
            "unknown network mode {other:?} (none, loopback or allowlist)"
        ))),
    }
}

/// The interpreter of a run's `language`; the code arrives on stdin.
pub fn language_command(language: &str) -> Result<(&'static str, &'static [&'static str]), Error> {
    match language {
        "javascript" => Ok(("node", &["-"])),
        "python" => Ok(("python3", &["-"])),
        "bash" => Ok(("bash", &["-s"])),
        other => Err(Error::new(
            ErrorCode::BadLanguage,
            format!("unknown language {other:?} (javascript, python or bash)"),
        )),
    }
}

/// A jail config running `code` in `language` (code on stdin).
pub fn code_config(language: &str, code: &str) -> Result<JailConfig, Error> {
    let (program, args) = language_command(language)?;
    let mut config = JailConfig::new(program, args.iter().copied());
    config.stdin = Stdin::Bytes(code.as_bytes().to_vec());
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_and_zero_memory_is_not_unlimited() {
        let mut config = JailConfig::new("true", Vec::<String>::new());
        let options = JailOptions {
            timeout_secs: Some(99_999),
            memory_mb: Some(0),
            cpu_percent: Some(5000),
            max_pids: Some(0),
            ..JailOptions::default()
        };
        let applied = apply(&options, &mut config).unwrap();
        assert_eq!(
            (
                applied.timeout_secs,
                applied.memory_mb,
                applied.cpu_percent,
                applied.max_pids
            ),
            (3600, 16, 800, 1)
        );
        assert_eq!(config.limits.memory_bytes, Some(16 << 20));
        assert_eq!(config.network, NetworkMode::None);
        // Stored settings give back the same jail.
        let again = resolve(&options_of(&applied, None, None)).unwrap();
        assert_eq!(again, applied);
    }

    #[test]
    fn bad_network_and_seccomp_are_refused() {
        let network = |mode: &str, domains: Vec<String>| JailOptions {
            network: Some(NetworkSpec {
                mode: mode.into(),
                domains,
            }),
            ..JailOptions::default()
        };
        for options in [
            JailOptions {
                seccomp: Some("off".into()),
                ..JailOptions::default()
            },
            network("host", vec![]),
            network("allowlist", vec![]),
            network("allowlist", (0..33).map(|i| format!("h{i}.example")).collect()),
        ] {
            let err = resolve(&options).unwrap_err();
            assert_eq!(err.status(), 400, "{err}");
        }
    }
}
