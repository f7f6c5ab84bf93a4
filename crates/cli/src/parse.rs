//! Parsing of human-friendly flag values: sizes, durations, binds, the
//! server URL.
//!
//! Every command parses sizes and durations here, so a value means the same
//! thing in `paddock run`, `runs`, `sessions exec`, `ws` and `serve`:
//! - a size is `512m`, `1g`, `256k`, `1024b` or `2t` (binary units, any
//!   case, `MiB`/`MB` spellings too, fractions such as `1.5g`); a bare
//!   number is MiB;
//! - a duration is `500ms`, `30s`, `5m` or `1h` (any case); a bare number
//!   is seconds.
//!
//! The server's fields count memory in MiB (`memory_mb`) and deadlines in
//! seconds (`timeout_secs`): [`memory_mib`] and [`whole_seconds`] convert,
//! and refuse what does not fit instead of rounding it.

use std::path::PathBuf;
use std::time::Duration;

/// The accepted forms of a size, for error messages and help texts.
pub const SIZE_FORMS: &str = "expected a size such as 512m, 1g, 256k or 1024b (binary units; a bare number is MiB)";
/// The accepted forms of a duration.
pub const DURATION_FORMS: &str = "expected a duration such as 30s, 5m, 1h or 500ms (a bare number is seconds)";

const MIB: u64 = 1 << 20;

/// Splits `12.5GiB` into `("12.5", "GiB")`.
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    text.split_at(end)
}

/// A size in bytes: `512m`, `1g`, `256k`, `1024b`, `1.5g`; a bare number
/// is MiB.
pub fn size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text.trim());
    let not_a_size = || format!("{text:?} is not a size; {SIZE_FORMS}");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(not_a_size());
    }
    let shift: u32 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" => 20,
        "b" => 0,
        "k" | "kb" | "ki" | "kib" => 10,
        "m" | "mb" | "mi" | "mib" => 20,
        "g" | "gb" | "gi" | "gib" => 30,
        "t" | "tb" | "ti" | "tib" => 40,
        _ => return Err(format!("{text:?} has an unknown unit {unit:?}; {SIZE_FORMS}")),
    };
    let too_large = || format!("{text:?} is too large");
    if !number.contains('.') {
        let value: u64 = number.parse().map_err(|_| too_large())?;
        return value.checked_mul(1u64 << shift).ok_or_else(too_large);
    }
    let value: f64 = number.parse().map_err(|_| not_a_size())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(too_large());
    }
    if bytes.fract() != 0.0 {
        return Err(format!("{text:?} is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// A disk size in whole MiB (as [`memory_mib`]).
pub fn disk_mib(text: &str) -> Result<u64, String> {
    memory_mib(text).map_err(|e| e.replace("counts memory", "counts disk sizes"))
}

/// A memory size in whole MiB, for the server's `memory_mb` fields: at
/// least 1 MiB and a whole number of MiB (`1536m` or `1.5g`, not `1000k`).
pub fn memory_mib(text: &str) -> Result<u64, String> {
    let bytes = size(text)?;
    if bytes < MIB {
        return Err(format!(
            "{text:?} is below 1 MiB; the server counts memory in whole MiB (e.g. 64m, 512m, 1g)"
        ));
    }
    if bytes % MIB != 0 {
        return Err(format!(
            "{text:?} is not a whole number of MiB; the server counts memory in MiB (e.g. 1536m or 1.5g)"
        ));
    }
    Ok(bytes / MIB)
}

/// A size limit of `paddock run`, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimit(pub Option<u64>);

/// [`size`], or `unlimited` for no limit.
pub fn size_or_unlimited(text: &str) -> Result<SizeLimit, String> {
    if text.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(SizeLimit(None));
    }
    size(text)
        .map(|bytes| SizeLimit(Some(bytes)))
        .map_err(|e| format!("{e}, or unlimited"))
}

/// A duration: `30`, `30s`, `500ms`, `2m`, `1h` (a bare number is
/// seconds), up to 7 days.
pub fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text, 7.0 * 86400.0)
}

/// [`duration`] with days (`30d`) and up to ten years, for retention.
pub fn long_duration(text: &str) -> Result<Duration, String> {
    parse_duration(text, 3650.0 * 86400.0)
}

/// A duration in whole seconds, for the server's `*_secs` fields
/// (`1500ms` is refused rather than rounded).
pub fn whole_seconds(text: &str) -> Result<u64, String> {
    let d = duration(text)?;
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "{text:?} is not a whole number of seconds; the server counts it in seconds (e.g. 1s, 30s, 2m)"
        ));
    }
    Ok(d.as_secs())
}

/// A duration in whole milliseconds, for the server's `*_ms` fields.
pub fn whole_millis(text: &str) -> Result<u64, String> {
    let d = duration(text)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("{text:?} is not a whole number of milliseconds"));
    }
    u64::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long"))
}

fn parse_duration(text: &str, max_seconds: f64) -> Result<Duration, String> {
    let (number, unit) = split_number(text.trim());
    let not_a_duration = || format!("{text:?} is not a duration; {DURATION_FORMS}");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(not_a_duration());
    }
    let value: f64 = number.parse().map_err(|_| not_a_duration())?;
    let days = max_seconds > 7.0 * 86400.0;
    let seconds = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" => value * 3600.0,
        "d" if days => value * 86400.0,
        _ => {
            let forms = if days {
                format!("{DURATION_FORMS}, or days such as 30d")
            } else {
                DURATION_FORMS.to_owned()
            };
            return Err(format!("{text:?} has an unknown unit {unit:?}; {forms}"));
        }
    };
    if !seconds.is_finite() || seconds < 0.001 || seconds > max_seconds {
        return Err(format!(
            "duration {text:?} must be between 1ms and {} days",
            max_seconds / 86400.0
        ));
    }
    // Whole milliseconds: `0.5s` is 500ms exactly, not 499.999…ms.
    Ok(Duration::from_micros((seconds * 1e6).round() as u64))
}

/// The server URL (`--url`, `PADDOCK_URL`): `http://` or `https://`, a
/// host, and optionally a port and a path prefix.
pub fn server_url(text: &str) -> Result<String, String> {
    let forms = "expected http://HOST[:PORT] or https://HOST[:PORT], e.g. http://127.0.0.1:7000";
    let hint = if !text.contains("://") && !text.trim().is_empty() && !text.trim().contains(char::is_whitespace) {
        format!("; did you mean http://{}?", text.trim())
    } else {
        String::new()
    };
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL ({e}); {forms}{hint}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?} is not an http(s) URL (scheme {:?}); {forms}{hint}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host; {forms}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} has a query or fragment; {forms}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} has credentials in it; pass the key with --api-key or PADDOCK_API_KEY"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A `--ro`/`--rw` value: `HOST` or `HOST:JAIL`.
#[derive(Debug, Clone)]
pub struct BindSpec {
    pub host: PathBuf,
    pub jail: Option<PathBuf>,
}

pub fn bind(text: &str) -> Result<BindSpec, String> {
    let (host, jail) = match text.split_once(':') {
        Some((h, j)) => (h, Some(j)),
        None => (text, None),
    };
    if host.is_empty() {
        return Err(format!("{text:?}: the host path is empty"));
    }
    if let Some(j) = jail {
        if !j.starts_with('/') {
            return Err(format!("{text:?}: the jail path must be absolute"));
        }
    }
    Ok(BindSpec {
        host: PathBuf::from(host),
        jail: jail.map(PathBuf::from),
    })
}

/// A `--env` value: `KEY=VALUE`.
pub fn env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_in_any_case_and_bare_numbers_are_mib() {
        for (text, bytes) in [
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("512MiB", 512 << 20),
            ("512 mb", 512 << 20),
            ("1g", 1 << 30),
            ("2G", 2 << 30),
            ("256k", 256 << 10),
            ("256KiB", 256 << 10),
            ("1024b", 1024),
            ("1024B", 1024),
            ("1t", 1 << 40),
            ("512", 512 << 20),
            ("1.5g", 1536 << 20),
            ("0.5k", 512),
            ("0", 0),
        ] {
            assert_eq!(size(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "M",
            "12X",
            "12 Q",
            "-1m",
            ".5g",
            "5.g",
            "1.2.3m",
            "0.3b",
            "99999999999T",
            "1e3m",
        ] {
            let err = size(bad).unwrap_err();
            assert!(
                err.contains(bad.trim()) || err.contains("too large") || err.contains("whole"),
                "{bad}: {err}"
            );
        }
        assert!(size("12X").unwrap_err().contains("512m, 1g, 256k or 1024b"));
    }

    #[test]
    fn memory_for_the_server_is_whole_mib() {
        assert_eq!(memory_mib("512"), Ok(512));
        assert_eq!(memory_mib("512m"), Ok(512));
        assert_eq!(memory_mib("1g"), Ok(1024));
        assert_eq!(memory_mib("1.5G"), Ok(1536));
        assert_eq!(memory_mib("1048576b"), Ok(1));
        assert!(memory_mib("512k").unwrap_err().contains("below 1 MiB"));
        assert!(memory_mib("0").unwrap_err().contains("below 1 MiB"));
        assert!(memory_mib("1000k").unwrap_err().contains("below 1 MiB"));
        assert!(memory_mib("1500k").unwrap_err().contains("whole number of MiB"));
        assert!(memory_mib("lots").unwrap_err().contains("is not a size"));
    }

    #[test]
    fn size_limits_may_be_unlimited() {
        assert_eq!(size_or_unlimited("unlimited"), Ok(SizeLimit(None)));
        assert_eq!(size_or_unlimited("64M"), Ok(SizeLimit(Some(64 << 20))));
        assert_eq!(size_or_unlimited("64"), Ok(SizeLimit(Some(64 << 20))));
        assert!(size_or_unlimited("lots").unwrap_err().ends_with("or unlimited"));
    }

    #[test]
    fn durations_and_bare_numbers_are_seconds() {
        for (text, d) in [
            ("30", Duration::from_secs(30)),
            ("30s", Duration::from_secs(30)),
            ("30S", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("1H", Duration::from_secs(3600)),
            ("500ms", Duration::from_millis(500)),
            ("500MS", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.1s", Duration::from_millis(100)),
        ] {
            assert_eq!(duration(text), Ok(d), "{text}");
        }
        for bad in ["", "0", "-1", "5 years", "inf", "NaN", "1d", "8d", "s", "0.1ms"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(duration("soon").unwrap_err().contains("30s, 5m, 1h or 500ms"));
        assert_eq!(long_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(long_duration("30x").unwrap_err().contains("30d"));
    }

    #[test]
    fn server_durations_are_whole_seconds_or_millis() {
        assert_eq!(whole_seconds("90"), Ok(90));
        assert_eq!(whole_seconds("2m"), Ok(120));
        assert_eq!(whole_seconds("1000ms"), Ok(1));
        assert!(whole_seconds("500ms").unwrap_err().contains("whole number of seconds"));
        assert!(whole_seconds("1.5s").unwrap_err().contains("whole number of seconds"));
        assert_eq!(whole_millis("1500ms"), Ok(1500));
        assert_eq!(whole_millis("2s"), Ok(2000));
        assert_eq!(whole_millis("1.5"), Ok(1500));
    }

    #[test]
    fn server_urls() {
        assert_eq!(server_url("http://127.0.0.1:7000/"), Ok("http://127.0.0.1:7000".into()));
        assert_eq!(
            server_url("https://paddock.example"),
            Ok("https://paddock.example".into())
        );
        assert_eq!(
            server_url("http://proxy.example/paddock/"),
            Ok("http://proxy.example/paddock".into())
        );
        let err = server_url("localhost:7000").unwrap_err();
        assert!(err.contains("did you mean http://localhost:7000?"), "{err}");
        let err = server_url("127.0.0.1:7000").unwrap_err();
        assert!(err.contains("did you mean http://127.0.0.1:7000?"), "{err}");
        assert!(server_url("not a url").unwrap_err().contains("is not a URL"));
        assert!(server_url("ftp://x").unwrap_err().contains("not an http(s) URL"));
        assert!(server_url("http://").is_err());
        assert!(server_url("http://a:b@host").unwrap_err().contains("--api-key"));
        assert!(server_url("http://host/?x=1").is_err());
    }

    #[test]
    fn binds_and_env() {
        let b = bind("/src:/workspace").unwrap();
        assert_eq!(b.jail.unwrap(), PathBuf::from("/workspace"));
        assert!(bind("/src:relative").is_err());
        assert!(bind(":/x").is_err());
        assert_eq!(env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(env("=x").is_err());
        assert!(env("novalue").is_err());
    }
}
