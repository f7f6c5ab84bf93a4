//! Parsing of human-friendly flag values: sizes, durations, binds.

use std::path::PathBuf;
use std::time::Duration;

/// Parses `64M`, `2G`, `512k`, `1048576` (bytes), binary units.
pub fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!("{text:?} is not a size (try 64M or 2G)"));
    }
    let value: u64 = digits.parse().map_err(|_| format!("{text:?} is too large"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?} (use K, M, G or T)")),
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses `30`, `30s`, `500ms`, `2m`, `1h` (plain numbers are seconds),
/// up to 7 days.
pub fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text, 7.0 * 86400.0)
}

/// [`duration`] with days (`30d`) and up to ten years, for retention.
pub fn long_duration(text: &str) -> Result<Duration, String> {
    parse_duration(text, 3650.0 * 86400.0)
}

fn parse_duration(text: &str, max_seconds: f64) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 30s, 2m or 500ms)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" if max_seconds > 7.0 * 86400.0 => value * 86400.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use ms, s, m or h)"
            ))
        }
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > max_seconds {
        return Err(format!(
            "duration {text:?} must be between 1ms and {} days",
            max_seconds / 86400.0
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
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
    fn sizes() {
        assert_eq!(size("64M").unwrap(), 64 << 20);
        assert_eq!(size("2G").unwrap(), 2 << 30);
        assert_eq!(size("512k").unwrap(), 512 << 10);
        assert_eq!(size("100").unwrap(), 100);
        assert!(size("").is_err());
        assert!(size("12X").is_err());
        assert!(size("M").is_err());
        assert!(size("99999999999T").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(duration("0").is_err());
        assert!(duration("-1").is_err());
        assert!(duration("5 years").is_err());
        assert!(duration("inf").is_err());
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
