//! Git clones at workspace creation (threat-model row 27). Each repository
//! is cloned inside a short-lived jail whose only network is the egress
//! proxy, pinned to the repository's host and port. No host-side git ever
//! touches the repository. Inside the jail git runs with no system or
//! global configuration, hooks and fsmonitor off, only `https` (and `http`
//! where the operator allows it) as transports (so no `ext::`, `file::` or
//! `ssh`), no submodules, no credential helper and no prompt.

use std::collections::HashSet;
use std::path::Path;

use http::Uri;
use paddock_api::{Error, ErrorCode};
use paddock_jail::{JailConfig, Limits, NetworkMode};

pub use paddock_api::workspaces::{GitSeed, RepoSpec};

use super::Workspaces;
use crate::services::jails::LedgerEntry;

/// Most repositories in one workspace.
const MAX_REPOS: usize = 16;
/// Bytes of git's error output returned to the client.
const ERROR_TAIL: usize = 4 << 10;

/// A checked clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clone {
    pub url: String,
    host: String,
    port: u16,
    pub git_ref: Option<String>,
    /// Directory under `/workspace`; empty for the root.
    pub dir: String,
}

/// Checks a seed: https only (http when `allow_http`), no credentials in
/// URLs, refs that cannot be read as options, safe and distinct
/// directories.
pub fn validate(seed: &GitSeed, allow_http: bool) -> Result<Vec<Clone>, Error> {
    let bad = |msg: String| Error::new(ErrorCode::BadGit, msg);
    let specs: Vec<RepoSpec> = match (&seed.repo, &seed.repos) {
        (Some(repo), None) => vec![RepoSpec {
            repo: repo.clone(),
            git_ref: seed.git_ref.clone(),
            dir: Some(String::new()),
        }],
        (None, Some(repos)) if seed.git_ref.is_none() => repos.clone(),
        _ => return Err(bad("git takes {repo, ref?} or {repos: [{repo, ref?, dir?}]}".into())),
    };
    if specs.is_empty() || specs.len() > MAX_REPOS {
        return Err(bad(format!("git.repos needs 1 to {MAX_REPOS} repositories")));
    }
    let mut clones = Vec::new();
    let mut dirs = HashSet::new();
    for spec in specs {
        let (url, host, port) =
            check_url(&spec.repo, allow_http).map_err(|why| bad(format!("{:?}: {why}", spec.repo)))?;
        if let Some(git_ref) = &spec.git_ref {
            check_ref(git_ref).map_err(|why| bad(format!("ref {git_ref:?}: {why}")))?;
        }
        let dir = match spec.dir {
            Some(dir) => dir,
            None => default_dir(&url),
        };
        check_dir(&dir).map_err(|why| bad(format!("dir {dir:?}: {why}")))?;
        if !dirs.insert(dir.clone()) {
            return Err(bad(format!("two repositories would be cloned into {dir:?}")));
        }
        clones.push(Clone {
            url,
            host,
            port,
            git_ref: spec.git_ref,
            dir,
        });
    }
    if clones.len() > 1 {
        for a in &clones {
            for b in &clones {
                if a.dir != b.dir && (a.dir.is_empty() || b.dir.starts_with(&format!("{}/", a.dir))) {
                    return Err(bad(format!("{:?} would be cloned inside {:?}", b.dir, a.dir)));
                }
            }
        }
    }
    Ok(clones)
}

fn check_url(text: &str, allow_http: bool) -> Result<(String, String, u16), &'static str> {
    if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL is too long or has spaces or control characters");
    }
    let uri: Uri = text.parse().map_err(|_| "not a URL")?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") if allow_http => 80,
        Some("http") => return Err("only https:// repositories are accepted"),
        _ => return Err("only https:// repositories are accepted (no ssh, git, file or ext transports)"),
    };
    let authority = uri.authority().ok_or("no host")?;
    if authority.as_str().contains('@') {
        return Err("credentials do not belong in the URL");
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.starts_with('-') {
        return Err("bad host");
    }
    if uri.query().is_some() {
        return Err("a query is not allowed");
    }
    if uri.path().trim_matches('/').is_empty() {
        return Err("no repository path");
    }
    Ok((
        text.to_owned(),
        host.to_ascii_lowercase(),
        authority.port_u16().unwrap_or(default_port),
    ))
}

/// Refs git could not mistake for an option or a revision expression.
fn check_ref(text: &str) -> Result<(), &'static str> {
    if text.is_empty() || text.len() > 200 {
        return Err("must be 1 to 200 characters");
    }
    if text.starts_with('-') {
        return Err("must not start with '-'");
    }
    if text.contains("..")
        || text.contains("@{")
        || text.ends_with('.')
        || text.ends_with('/')
        || text.ends_with(".lock")
    {
        return Err("is not a valid ref name");
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err("has a character refs cannot have");
    }
    Ok(())
}

fn default_dir(url: &str) -> String {
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("repo");
    name.strip_suffix(".git").unwrap_or(name).to_owned()
}

fn check_dir(dir: &str) -> Result<(), &'static str> {
    if dir.is_empty() {
        return Ok(());
    }
    if dir.len() > 255 {
        return Err("is too long");
    }
    for part in dir.split('/') {
        if part.is_empty() || part == "." || part == ".." || part == ".git" {
            return Err("must be a relative path without '.', '..', '.git' or empty parts");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err("may only have letters, digits, '_', '-', '.' and '/'");
        }
    }
    Ok(())
}

/// The jail's git settings (on the command line, so nothing in the
/// repository or the host can change them).
const GIT_SETTINGS: &str = "-c core.hooksPath=/dev/null -c core.fsmonitor=false -c protocol.allow=never \
    -c protocol.https.allow=always -c protocol.http.allow=$HTTP_ALLOWED -c submodule.recurse=false \
    -c credential.helper= -c init.templateDir= -c advice.detachedHead=false -c core.symlinks=true";

/// The script: clone, then check out a commit if one was asked for. Inputs
/// arrive as variables, never spliced into the text.
const SCRIPT: &str = r#"set -e
CFG="__SETTINGS__"
if [ -n "$GIT_BRANCH" ]; then
  git $CFG clone --quiet --no-recurse-submodules --branch "$GIT_BRANCH" -- "$GIT_URL" "$GIT_DEST"
else
  git $CFG clone --quiet --no-recurse-submodules -- "$GIT_URL" "$GIT_DEST"
fi
if [ -n "$GIT_COMMIT" ]; then
  git -C "$GIT_DEST" $CFG checkout --quiet --detach "$GIT_COMMIT" --
fi
"#;

fn is_commit(text: &str) -> bool {
    (7..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Workspaces {
    /// Clones every repository into `tree` (the new workspace's tree), one
    /// jail each; the first failure answers with git's own message.
    pub(super) async fn clone_all(&self, tenant: &str, tree: &Path, clones: &[Clone]) -> Result<(), Error> {
        let (allow_http, timeout) = (self.settings().git_allow_http, self.settings().git_timeout);
        let script = SCRIPT.replace("__SETTINGS__", GIT_SETTINGS);
        for clone in clones {
            let network = NetworkMode::allowlist([clone.host.as_str()], [clone.port])
                .map_err(|e| Error::new(ErrorCode::BadGit, format!("{}: {e}", clone.url)))?;
            if clone.dir.contains('/') {
                let parent = tree.join(&clone.dir);
                if let Some(parent) = parent.parent() {
                    std::fs::create_dir_all(parent).map_err(Error::internal)?;
                }
            }
            let dest = if clone.dir.is_empty() {
                "/workspace".to_owned()
            } else {
                format!("/workspace/{}", clone.dir)
            };
            let (branch, commit) = match &clone.git_ref {
                Some(r) if is_commit(r) => (String::new(), r.clone()),
                Some(r) => (r.clone(), String::new()),
                None => (String::new(), String::new()),
            };
            let mut config = JailConfig::new("/bin/sh", ["-c", script.as_str()])
                .workspace_rw(tree)
                .env("GIT_URL", &clone.url)
                .env("GIT_DEST", dest)
                .env("GIT_BRANCH", branch)
                .env("GIT_COMMIT", commit)
                .env("HTTP_ALLOWED", if allow_http { "always" } else { "never" })
                .env("GIT_ALLOW_PROTOCOL", if allow_http { "https:http" } else { "https" })
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("GIT_ASKPASS", "/bin/false")
                .env("HOME", "/tmp");
            config.workdir = Some("/tmp".into());
            config.network = network;
            config.limits = Limits {
                memory_bytes: Some(1 << 30),
                pids: Some(256),
                timeout: Some(timeout),
                ..Limits::default()
            };
            let entry = LedgerEntry {
                tenant: tenant.to_owned(),
                kind: "workspace",
                session_id: None,
                label: Some("git clone".to_owned()),
                parent_id: None,
                config: serde_json::json!({ "git_repo": clone.url, "git_ref": clone.git_ref, "dir": clone.dir }),
            };
            let result = self.inner.runner.run(entry, config).await?.result;
            if result.timed_out {
                return Err(Error::new(
                    ErrorCode::GitCloneTimeout,
                    format!("git clone of {} did not finish in {} s", clone.url, timeout.as_secs()),
                ));
            }
            if result.exit_code() != 0 {
                let stderr = result.stderr.text();
                let tail = crate::services::tail(stderr.trim(), ERROR_TAIL);
                return Err(Error::new(
                    ErrorCode::GitCloneFailed,
                    format!("git clone of {} failed: {tail}", clone.url),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(repo: &str) -> GitSeed {
        GitSeed {
            repo: Some(repo.into()),
            ..GitSeed::default()
        }
    }

    #[test]
    fn only_plain_https_urls_pass() {
        let ok = validate(&seed("https://github.com/my-org/app.git"), false).unwrap();
        assert_eq!(
            (ok[0].host.as_str(), ok[0].port, ok[0].dir.as_str()),
            ("github.com", 443, "")
        );
        for bad in [
            "http://github.com/a/b",
            "ssh://git@github.com/a/b",
            "git://github.com/a/b",
            "file:///etc",
            "ext::sh -c touch% /tmp/pwned",
            "https://user:token@github.com/a/b",
            "https://github.com/",
            "https://github.com/a/b?x=1",
            "https://-oProxyCommand=x/a",
            "--upload-pack=touch /tmp/x",
        ] {
            assert!(validate(&seed(bad), false).is_err(), "{bad}");
        }
        let http = validate(&seed("http://git.test:8080/r.git"), true).unwrap();
        assert_eq!(http[0].port, 8080);
    }

    #[test]
    fn refs_and_dirs_cannot_be_options_or_escapes() {
        for bad in ["-b", "--upload-pack=x", "a..b", "x y", "a:b", "HEAD@{1}", "x~1", ""] {
            let mut s = seed("https://h/r");
            s.git_ref = Some(bad.into());
            assert!(validate(&s, false).is_err(), "{bad}");
        }
        let many = |dirs: &[Option<&str>]| GitSeed {
            repos: Some(
                dirs.iter()
                    .map(|d| RepoSpec {
                        repo: "https://h/org/app.git".into(),
                        git_ref: None,
                        dir: d.map(str::to_owned),
                    })
                    .collect(),
            ),
            ..GitSeed::default()
        };
        assert_eq!(validate(&many(&[None]), false).unwrap()[0].dir, "app");
        for dirs in [
            vec![Some("../x")],
            vec![Some("/abs")],
            vec![Some("a/.git")],
            vec![Some("a"), Some("a")],
            vec![Some("a"), Some("a/b")],
            vec![Some("a b")],
        ] {
            assert!(validate(&many(&dirs), false).is_err(), "{dirs:?}");
        }
        assert!(validate(&many(&[Some("front"), Some("back/api")]), false).is_ok());
        let both = GitSeed {
            repo: Some("https://h/r".into()),
            repos: Some(vec![]),
            ..GitSeed::default()
        };
        assert!(validate(&both, false).is_err());
    }
}
