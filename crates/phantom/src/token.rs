//! Finding the phantom token in a request, in whichever header the
//! client's SDK puts its key: `Authorization` (`Bearer`, GitHub's `token`,
//! or HTTP basic with the token as user or password) or `x-api-key`.

use base64::Engine as _;
use hyper::header::{HeaderMap, AUTHORIZATION};

/// Prefix of every phantom token.
pub const PREFIX: &str = "phm_";

/// What the request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No credential at all.
    Missing,
    /// Something that is not a phantom token (a real key sent by mistake,
    /// or garbage): refused without a lookup.
    Malformed,
    /// A well-formed phantom token.
    Token(String),
}

/// Whether `text` has the shape of a phantom token: `phm_` and 64
/// lower-case hex digits (256 bits).
pub fn well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The phantom token of a request.
pub fn presented(headers: &HeaderMap) -> Presented {
    let candidate = headers
        .get(AUTHORIZATION)
        .map(|value| value.to_str().map(from_authorization).unwrap_or(None))
        .or_else(|| {
            headers
                .get("x-api-key")
                .map(|value| value.to_str().ok().map(|v| v.trim().to_owned()))
        });
    match candidate {
        None => Presented::Missing,
        Some(Some(token)) if well_formed(&token) => Presented::Token(token),
        Some(Some(token)) if token.is_empty() => Presented::Missing,
        Some(_) => Presented::Malformed,
    }
}

fn from_authorization(value: &str) -> Option<String> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once(' ') {
        Some(pair) => pair,
        // A scheme with nothing after it, or a bare token.
        None if ["bearer", "token", "basic"]
            .iter()
            .any(|s| value.eq_ignore_ascii_case(s)) =>
        {
            (value, "")
        }
        None => ("bearer", value),
    };
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        return Some(if user.is_empty() { password } else { user }.to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn tokens_are_found_in_every_sdk_style() {
        let token = format!("phm_{}", "ab".repeat(32));
        let basic_user = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
        let basic_password = base64::engine::general_purpose::STANDARD.encode(format!(":{token}"));
        for pairs in [
            vec![("authorization", format!("Bearer {token}"))],
            vec![("authorization", format!("bearer  {token} "))],
            vec![("authorization", format!("token {token}"))],
            vec![("authorization", format!("Basic {basic_user}"))],
            vec![("authorization", format!("Basic {basic_password}"))],
            vec![("x-api-key", token.clone())],
        ] {
            let map = headers(&pairs.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
            assert_eq!(presented(&map), Presented::Token(token.clone()), "{pairs:?}");
        }
    }

    #[test]
    fn missing_and_malformed_credentials_are_told_apart() {
        assert_eq!(presented(&HeaderMap::new()), Presented::Missing);
        assert_eq!(presented(&headers(&[("authorization", "Bearer ")])), Presented::Missing);
        for bad in [
            "Bearer sk-real-key",
            "Bearer phm_short",
            &format!("Bearer phm_{}", "AB".repeat(32)),
            &format!("Bearer phm_{}0", "ab".repeat(32)),
            "Digest x",
        ] {
            assert_eq!(
                presented(&headers(&[("authorization", bad)])),
                Presented::Malformed,
                "{bad}"
            );
        }
    }
}
