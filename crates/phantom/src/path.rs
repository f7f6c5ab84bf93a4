//! The path an upstream will receive, and scope globs matched against it.
//!
//! A scope is only as strong as the agreement between the path the proxy
//! checks and the path the upstream serves. So the proxy never forwards
//! the client's spelling: it decodes each segment once, refuses anything an
//! upstream might interpret differently (dot segments, encoded slashes or
//! backslashes, `;` parameters, empty segments, double encoding, control
//! characters, trailing dots or spaces, and non-ASCII lookalikes of `.`,
//! `/`, `\\`, `;`, `%`, `?` and `#` that an upstream might fold to ASCII),
//! and forwards its own canonical encoding of what it checked. When in
//! doubt, it refuses.

/// Longest path accepted, in bytes as received.
pub const MAX_PATH: usize = 8 << 10;

/// A path in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// Decoded segments joined by `/` (what scopes match; segments never
    /// contain `/`).
    pub decoded: String,
    /// The same path percent-encoded canonically (what is forwarded).
    pub encoded: String,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// Longer than [`MAX_PATH`].
    #[error("the path is longer than {MAX_PATH} bytes")]
    TooLong,
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    #[error("the path has a malformed percent-encoding or is not UTF-8")]
    BadEncoding,
    /// `.` or `..`, raw or encoded.
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    /// `//` inside the path.
    #[error("the path has an empty segment ('//')")]
    EmptySegment,
    /// A character an upstream could read as structure.
    #[error("the path has a character that is not allowed in a segment: {0:?}")]
    Forbidden(char),
    /// A segment ending in `.` or whitespace (some servers strip them).
    #[error("a path segment ends with '.' or whitespace")]
    TrailingDot,
    /// A non-ASCII character that looks like, or normalizes (NFKC) to,
    /// `.`, `/`, `\\`, `;`, `%`, `?` or `#` (a fullwidth dot, a division
    /// slash): an upstream that folds it would see another path.
    #[error("the path has {0:?}, which an upstream could read as '.', '/' or another separator")]
    Lookalike(char),
}

/// Canonicalizes a request path (without its query).
pub fn normalize(raw: &str) -> Result<CanonicalPath, PathError> {
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let mut decoded = String::with_capacity(raw.len());
    let mut encoded = String::with_capacity(raw.len());
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        decoded.push('/');
        encoded.push('/');
        if segment.is_empty() {
            // Only a trailing slash may leave a segment empty.
            if i == last {
                continue;
            }
            return Err(PathError::EmptySegment);
        }
        let text = percent_decode(segment)?;
        check_segment(&text)?;
        decoded.push_str(&text);
        percent_encode(&text, &mut encoded);
    }
    Ok(CanonicalPath { decoded, encoded })
}

fn check_segment(text: &str) -> Result<(), PathError> {
    if text == "." || text == ".." {
        return Err(PathError::DotSegment);
    }
    if let Some(c) = text
        .chars()
        .find(|&c| matches!(c, '/' | '\\' | ';' | '%' | '?' | '#') || c.is_control())
    {
        return Err(PathError::Forbidden(c));
    }
    if let Some(c) = text.chars().find(|&c| is_lookalike(c)) {
        return Err(PathError::Lookalike(c));
    }
    if text.ends_with('.') || text.ends_with(char::is_whitespace) || text.starts_with(char::is_whitespace) {
        return Err(PathError::TrailingDot);
    }
    Ok(())
}

/// Non-ASCII characters an upstream could take for a path separator or
/// a dot: every character whose NFKC form contains `.`, `/`, `\\`, `;`,
/// `%`, `?` or `#` (servers and frameworks that normalize Unicode turn
/// `\u{FF0E}\u{FF0E}` into `..`), and punctuation that only looks like a
/// dot or a slash (division and fraction slashes, ideographic full stops,
/// combining solidus overlays). Letters and digits that resemble them
/// (katakana NO, Arabic-Indic zero) are left alone: they are text.
fn is_lookalike(c: char) -> bool {
    matches!(
        c,
        // NFKC contains one of the characters above (Unicode 15).
        '\u{037E}'
            | '\u{2024}'..='\u{2026}'
            | '\u{2047}'..='\u{2049}'
            | '\u{2100}'..='\u{2101}'
            | '\u{2105}'..='\u{2106}'
            | '\u{2488}'..='\u{249B}'
            | '\u{33C2}'
            | '\u{33C7}'
            | '\u{33D8}'
            | '\u{FE14}'
            | '\u{FE16}'
            | '\u{FE19}'
            | '\u{FE30}'
            | '\u{FE52}'
            | '\u{FE54}'
            | '\u{FE56}'
            | '\u{FE5F}'
            | '\u{FE68}'
            | '\u{FE6A}'
            | '\u{FF03}'
            | '\u{FF05}'
            | '\u{FF0E}'
            | '\u{FF0F}'
            | '\u{FF1B}'
            | '\u{FF1F}'
            | '\u{FF3C}'
            | '\u{1F100}'
            // Dots and slashes by look (Unicode's confusables).
            | '\u{0337}'..='\u{0338}'
            | '\u{0589}'
            | '\u{06D4}'
            | '\u{0701}'..='\u{0702}'
            | '\u{1735}'
            | '\u{20E5}'
            | '\u{2044}'
            | '\u{2215}'..='\u{2216}'
            | '\u{2571}'..='\u{2572}'
            | '\u{27CB}'
            | '\u{27CD}'
            | '\u{29F5}'
            | '\u{29F8}'..='\u{29F9}'
            | '\u{3002}'
            | '\u{A4F8}'
            | '\u{A60E}'
            | '\u{FF61}'
            | '\u{10A50}'
            | '\u{1D16D}'
    )
}

fn percent_decode(segment: &str) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEncoding)?;
            let text = std::str::from_utf8(hex).map_err(|_| PathError::BadEncoding)?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| PathError::BadEncoding)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::BadEncoding)
}

fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            );
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Whether `path` (a [`CanonicalPath::decoded`]) is inside one of the
/// globs. A glob is a path where `*` matches within one segment, except a
/// final `*`, which matches the rest of the path (`/repos/my-org/*`,
/// `/repos/my-org/*/issues*`). A `*` never matches an empty segment:
/// `/repos/my-org/*` admits `/repos/my-org/app/...` but not
/// `/repos/my-org/`. `fold_case` compares ASCII letters without
/// case, for upstreams that treat paths that way.
pub fn scope_allows<S: AsRef<str>>(globs: &[S], path: &str, fold_case: bool) -> bool {
    if fold_case {
        let path = path.to_ascii_lowercase();
        globs
            .iter()
            .any(|g| glob_matches(&g.as_ref().to_ascii_lowercase(), &path))
    } else {
        globs.iter().any(|g| glob_matches(g.as_ref(), path))
    }
}

/// Whether one glob matches a decoded path.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let (head, open_end) = match glob.strip_suffix('*') {
        Some(head) => (head, true),
        None => (glob, false),
    };
    let globs: Vec<&str> = head.split('/').collect();
    let parts: Vec<&str> = path.split('/').collect();
    if open_end {
        // The head's last segment must match the start of the path's
        // segment at that depth; the final `*` takes everything after.
        if parts.len() < globs.len() {
            return false;
        }
        let last = globs.len() - 1;
        globs[..last].iter().zip(&parts).all(|(g, p)| segment_matches(g, p))
            && segment_matches(&format!("{}*", globs[last]), parts[last])
    } else {
        parts.len() == globs.len() && globs.iter().zip(&parts).all(|(g, p)| segment_matches(g, p))
    }
}

/// Wildcard match of one segment (`*` = any run of characters). An empty
/// segment (a trailing `/`) matches only an empty pattern: `*` standing
/// for a segment must stand for one, or `/files/*` would admit `/files/`,
/// which many upstreams route as `/files` (the whole collection).
fn segment_matches(pattern: &str, text: &str) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn allowed(path: &str) -> bool {
        match normalize(path) {
            Ok(canonical) => scope_allows(&["/repos/my-org/*"], &canonical.decoded, true),
            Err(_) => false,
        }
    }

    #[test]
    fn plain_paths_are_kept_and_encoded_canonically() {
        let p = normalize("/repos/my-org/app/issues").unwrap();
        assert_eq!(
            (p.decoded.as_str(), p.encoded.as_str()),
            ("/repos/my-org/app/issues", "/repos/my-org/app/issues")
        );
        let p = normalize("/a%2Db/c%20d/").unwrap();
        assert_eq!((p.decoded.as_str(), p.encoded.as_str()), ("/a-b/c d/", "/a-b/c%20d/"));
        assert_eq!(normalize("/").unwrap().encoded, "/");
        assert_eq!(normalize("/files/%E2%9C%93").unwrap().decoded, "/files/✓");
    }

    #[test]
    fn scope_escapes_are_refused() {
        for path in [
            "/repos/my-org/../other-org/secrets",
            "/repos/my-org/%2e%2e/other-org",
            "/repos/my-org/%2E%2E/other-org",
            "/repos/my-org/.%2e/other-org",
            "/repos/my-org%2f..%2fother-org/x",
            "/repos/my-org%2F..%2Fother-org/x",
            "/repos/my-org/..%5cother-org",
            "/repos/my-org\\..\\other-org",
            "/repos//my-org/x",
            "/repos/my-org//x",
            "//repos/my-org/x",
            "/repos/my-org;evil=1/x",
            "/repos/my-org/x;jsessionid=1",
            "/repos/my-org./x",
            "/repos/my-org%2e/x",
            "/repos/my-org%20/x",
            "/repos/my-org/%252e%252e/other-org",
            "/repos/my-org/%00/x",
            "/repos/my-org/%zz",
            "/repos/my-org/%c0%ae%c0%ae/other-org",
            "/repos/./my-org/x",
            "repos/my-org/x",
            "/repos/my-org",
            "/repos/my-org-evil/x",
            "/repos/other-org/x",
            // A final `*` needs a segment to stand for.
            "/repos/my-org/",
            // Unicode lookalikes of '.', '/' and '\\' (fullwidth, small,
            // one-dot leader, division and fraction slashes).
            "/repos/my-org/%EF%BC%8E%EF%BC%8E/other-org",
            "/repos/my-org/%ef%bc%8e%ef%bc%8e%ef%bc%8fother-org",
            "/repos/my-org/\u{FF0E}\u{FF0E}/other-org",
            "/repos/my-org/%E2%80%A4%E2%80%A4/other-org",
            "/repos/my-org/%E2%80%A5/other-org",
            "/repos/my-org/%EF%B9%92%EF%B9%92/other-org",
            "/repos/my-org/app%E2%88%95..%E2%88%95other-org",
            "/repos/my-org/app%E2%81%84x",
            "/repos/my-org/app%EF%BC%BCx",
            "/repos/my-org/app%E3%80%82",
        ] {
            assert!(!allowed(path), "{path} was allowed");
        }
        assert_eq!(
            normalize("/a/%EF%BC%8E%EF%BC%8E/b"),
            Err(PathError::Lookalike('\u{FF0E}'))
        );
    }

    #[test]
    fn non_ascii_text_that_is_not_a_lookalike_is_kept() {
        for (path, decoded) in [
            ("/files/%E2%9C%93", "/files/\u{2713}"),
            ("/files/caf%C3%A9", "/files/caf\u{e9}"),
            ("/files/%E3%83%8E%E3%83%BC%E3%83%88", "/files/\u{30ce}\u{30fc}\u{30c8}"),
        ] {
            assert_eq!(normalize(path).map(|c| c.decoded), Ok(decoded.to_owned()), "{path}");
        }
    }

    #[test]
    fn scoped_paths_match_with_case_folding_where_the_upstream_folds() {
        for path in [
            "/repos/my-org/app",
            "/repos/my-org/app/",
            "/repos/MY-ORG/app/issues/1",
            "/repos/my-org/%61pp",
        ] {
            assert!(allowed(path), "{path} was refused");
        }
        let canonical = normalize("/V1/Chat/x").unwrap();
        assert!(!scope_allows(&["/v1/chat/*"], &canonical.decoded, false));
    }

    #[test]
    fn globs_match_within_segments_and_open_at_the_end() {
        let globs = ["/repos/my-org/*/issues*"];
        assert!(scope_allows(&globs, "/repos/my-org/app/issues", false));
        assert!(scope_allows(&globs, "/repos/my-org/app/issues/42/comments", false));
        assert!(!scope_allows(&globs, "/repos/my-org/app/pulls", false));
        assert!(!scope_allows(&globs, "/repos/my-org/a/b/issues", false));
        assert!(scope_allows(&["/v1/models"], "/v1/models", false));
        assert!(!scope_allows(&["/v1/models"], "/v1/models/", false));
        assert!(!scope_allows(&["/v1/models"], "/v1/models/x", false));
        assert!(scope_allows(&["/v1/chat/*"], "/v1/chat/completions", false));
        assert!(!scope_allows(&["/v1/chat/*"], "/v1/chat", false));
        assert!(!scope_allows(&["/v1/chat/*"], "/v1/chat/", false));
        assert!(scope_allows(&["/v1/chat/*"], "/v1/chat/x/", false));
        assert!(!scope_allows(&["/v1/*/x"], "/v1//x", false));
        assert!(scope_allows(&["/v1/models/"], "/v1/models/", false));
        assert!(!scope_allows(&["/*"], "/", false));
        assert!(scope_allows(&["/*"], "/anything/at/all", false));
        assert!(scope_allows(&["/v1/*/x"], "/v1/abc/x", false));
        assert!(!scope_allows(&["/v1/*/x"], "/v1/x", false));
        assert!(scope_allows(&["/a*b*c"], "/aXbYc", false));
        assert!(!scope_allows(&["/a*b*c"], "/aXbY/c", false));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the spelling, a path the scope admits really is under
        /// `/repos/my-org/` once decoded, without dot segments or separators.
        #[test]
        fn an_admitted_path_is_really_inside_the_scope(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("..".to_string()), Just(".".to_string()), Just("%2e%2e".to_string()),
                    Just("%2f".to_string()), Just("%5c".to_string()), Just("".to_string()),
                    Just("my-org".to_string()), Just("MY-ORG".to_string()), Just("repos".to_string()),
                    Just(";x".to_string()), Just("%252e".to_string()), Just("a.".to_string()),
                    Just("%EF%BC%8E%EF%BC%8E".to_string()), Just("%ef%bc%8f".to_string()),
                    Just("\u{FF0E}".to_string()), Just("%E2%80%A4".to_string()), Just("%E2%88%95".to_string()),
                    Just("%EF%B9%92".to_string()), Just("%E3%80%82".to_string()),
                    "[a-zA-Z0-9%._~-]{0,6}",
                ],
                0..8,
            ),
        ) {
            let path = format!("/{}", parts.join("/"));
            if let Ok(canonical) = normalize(&path) {
                let lower = canonical.decoded.to_ascii_lowercase();
                prop_assert!(!lower.split('/').any(|s| s == ".." || s == "."));
                prop_assert!(!lower.contains('\\') && !lower.contains(';') && !lower.contains('%'));
                // Nothing an upstream could fold into a separator or a dot.
                prop_assert!(!lower.chars().any(is_lookalike), "{} kept a lookalike", path);
                if scope_allows(&["/repos/my-org/*"], &canonical.decoded, true) {
                    prop_assert!(lower.starts_with("/repos/my-org/"), "{} admitted as {}", path, lower);
                    // The `*` stood for a real segment, not the empty one
                    // after a trailing slash.
                    prop_assert!(lower.len() > "/repos/my-org/".len(), "{} admitted as {}", path, lower);
                }
                // The forwarded form decodes to what was checked.
                prop_assert_eq!(normalize(&canonical.encoded).map(|c| c.decoded), Ok(canonical.decoded.clone()));
            }
        }

        #[test]
        fn normalize_and_match_never_panic(raw in "\\PC{0,64}", glob in "/[a-z*/]{0,16}") {
            if let Ok(canonical) = normalize(&raw) {
                let _ = scope_allows(&[glob], &canonical.decoded, false);
            }
        }
    }
}
