//! Upstream services: where each one lives, how it expects its key, and
//! the environment a session hands out for it. Four are built in; an
//! operator can point them elsewhere or add more (`NAME=URL[,auth=STYLE]`).

use std::fmt;

use hyper::http::uri::{Scheme, Uri};

/// How an upstream expects its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>` (OpenAI, GitHub, Stripe).
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `Authorization: Basic base64(<key>:)` (HTTP basic, key as user).
    Basic,
    /// The key verbatim in a header of this (lower-case) name.
    Header(String),
}

impl AuthStyle {
    /// Parses `bearer`, `x-api-key`, `basic` or `header:NAME`.
    pub fn parse(text: &str) -> Result<AuthStyle, ServiceError> {
        match text {
            "bearer" => Ok(AuthStyle::Bearer),
            "x-api-key" => Ok(AuthStyle::XApiKey),
            "basic" => Ok(AuthStyle::Basic),
            other => match other.strip_prefix("header:") {
                Some(name) if valid_header_name(name) => Ok(AuthStyle::Header(name.to_ascii_lowercase())),
                _ => Err(ServiceError::BadAuth(other.to_owned())),
            },
        }
    }

    /// The header the key goes into.
    pub fn header_name(&self) -> &str {
        match self {
            AuthStyle::Bearer | AuthStyle::Basic => "authorization",
            AuthStyle::XApiKey => "x-api-key",
            AuthStyle::Header(name) => name,
        }
    }
}

impl fmt::Display for AuthStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthStyle::Bearer => f.write_str("bearer"),
            AuthStyle::XApiKey => f.write_str("x-api-key"),
            AuthStyle::Basic => f.write_str("basic"),
            AuthStyle::Header(name) => write!(f, "header:{name}"),
        }
    }
}

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "te" | "upgrade" | "trailer"
        )
}

/// One upstream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Name in the API and in proxy paths (`/v1/<name>/...`).
    pub name: String,
    /// Scheme and authority of the upstream (`https://api.openai.com`).
    pub origin: String,
    /// Path prefix of the upstream (empty, or like `/api`, no trailing `/`).
    pub base_path: String,
    /// How the upstream expects its key.
    pub auth: AuthStyle,
    /// Headers added when the client did not send them.
    pub default_headers: Vec<(String, String)>,
    /// Variable of the phantom token in a session's environment.
    pub key_env: String,
    /// Variable of the base URL in a session's environment.
    pub url_env: String,
    /// Path under the proxy that the base URL points at, after
    /// `/v1/<name>` (OpenAI clients expect the `/v1` in their base URL).
    pub env_suffix: String,
    /// Scope globs are matched ignoring ASCII case, because the upstream
    /// treats paths that way (GitHub owner and repository names).
    pub case_insensitive_paths: bool,
}

impl Service {
    /// The proxy path a session's base URL points at (`/v1/openai/v1`).
    pub fn proxy_base_path(&self) -> String {
        format!("/v1/{}{}", self.name, self.env_suffix)
    }

    /// `origin` + `base_path`, for display.
    pub fn upstream_url(&self) -> String {
        format!("{}{}", self.origin, self.base_path)
    }

    fn builtin(name: &str, origin: &str, auth: AuthStyle, key_env: &str, url_env: &str, env_suffix: &str) -> Service {
        Service {
            name: name.into(),
            origin: origin.into(),
            base_path: String::new(),
            auth,
            default_headers: Vec::new(),
            key_env: key_env.into(),
            url_env: url_env.into(),
            env_suffix: env_suffix.into(),
            case_insensitive_paths: false,
        }
    }
}

/// Why a service definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Not `NAME=URL[,auth=STYLE][,env=PREFIX]`.
    #[error("a service is NAME=URL[,auth=bearer|x-api-key|basic|header:NAME][,env=PREFIX], got {0:?}")]
    Syntax(String),
    /// The name is not 1..=32 of `[a-z0-9_-]` starting with a letter or digit.
    #[error("bad service name {0:?} (1 to 32 lower-case letters, digits, '-' or '_')")]
    BadName(String),
    /// The URL is not `http(s)://host[:port][/path]` without query or credentials.
    #[error("bad upstream URL {0:?}: {1}")]
    BadUrl(String, &'static str),
    /// Unknown auth style.
    #[error("bad auth style {0:?} (bearer, x-api-key, basic or header:NAME)")]
    BadAuth(String),
    /// Bad environment prefix.
    #[error("bad env prefix {0:?} (upper-case letters, digits and '_')")]
    BadEnv(String),
    /// Two services share a name or an environment variable.
    #[error("service {0:?} is defined twice")]
    Duplicate(String),
}

/// The services a deployment knows: the built-in ones, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    list: Vec<Service>,
}

impl Default for Services {
    fn default() -> Self {
        Services::builtin()
    }
}

impl Services {
    /// OpenAI, Anthropic, GitHub and Stripe at their public addresses.
    pub fn builtin() -> Services {
        let mut anthropic = Service::builtin(
            "anthropic",
            "https://api.anthropic.com",
            AuthStyle::XApiKey,
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "",
        );
        anthropic.default_headers = vec![("anthropic-version".into(), "2023-06-01".into())];
        let mut github = Service::builtin(
            "github",
            "https://api.github.com",
            AuthStyle::Bearer,
            "GITHUB_TOKEN",
            "GITHUB_API_URL",
            "",
        );
        github.case_insensitive_paths = true;
        Services {
            list: vec![
                Service::builtin(
                    "openai",
                    "https://api.openai.com",
                    AuthStyle::Bearer,
                    "OPENAI_API_KEY",
                    "OPENAI_BASE_URL",
                    "/v1",
                ),
                anthropic,
                github,
                Service::builtin(
                    "stripe",
                    "https://api.stripe.com",
                    AuthStyle::Bearer,
                    "STRIPE_API_KEY",
                    "STRIPE_API_BASE",
                    "",
                ),
            ],
        }
    }

    /// The built-in services with `specs` applied: a spec naming a
    /// built-in service moves it (and may change its auth style); any
    /// other adds a service.
    pub fn configured<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Services, ServiceError> {
        let mut services = Services::builtin();
        let mut seen = Vec::new();
        for spec in specs {
            let spec = spec.trim();
            if spec.is_empty() {
                continue;
            }
            let parsed = parse_spec(spec)?;
            if seen.contains(&parsed.name) {
                return Err(ServiceError::Duplicate(parsed.name));
            }
            seen.push(parsed.name.clone());
            match services.list.iter_mut().find(|s| s.name == parsed.name) {
                Some(existing) => {
                    existing.origin = parsed.origin;
                    existing.base_path = parsed.base_path;
                    if let Some(auth) = parsed.auth {
                        existing.auth = auth;
                    }
                    if let Some(prefix) = parsed.env {
                        existing.key_env = format!("{prefix}_API_KEY");
                        existing.url_env = format!("{prefix}_BASE_URL");
                    }
                }
                None => {
                    let prefix = parsed
                        .env
                        .unwrap_or_else(|| parsed.name.to_ascii_uppercase().replace('-', "_"));
                    services.list.push(Service {
                        name: parsed.name,
                        origin: parsed.origin,
                        base_path: parsed.base_path,
                        auth: parsed.auth.unwrap_or(AuthStyle::Bearer),
                        default_headers: Vec::new(),
                        key_env: format!("{prefix}_API_KEY"),
                        url_env: format!("{prefix}_BASE_URL"),
                        env_suffix: String::new(),
                        case_insensitive_paths: false,
                    });
                }
            }
        }
        let mut vars: Vec<&str> = services
            .list
            .iter()
            .flat_map(|s| [s.key_env.as_str(), s.url_env.as_str()])
            .collect();
        vars.sort_unstable();
        if let Some(pair) = vars.windows(2).find(|w| w[0] == w[1]) {
            return Err(ServiceError::Duplicate(pair[0].to_owned()));
        }
        Ok(services)
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Option<&Service> {
        self.list.iter().find(|s| s.name == name)
    }

    /// Every service.
    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.list.iter()
    }

    /// Names of all services, for error messages.
    pub fn names(&self) -> String {
        self.list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

struct Spec {
    name: String,
    origin: String,
    base_path: String,
    auth: Option<AuthStyle>,
    env: Option<String>,
}

fn parse_spec(spec: &str) -> Result<Spec, ServiceError> {
    let (name, rest) = spec.split_once('=').ok_or_else(|| ServiceError::Syntax(spec.into()))?;
    let name = name.trim();
    if !valid_name(name) {
        return Err(ServiceError::BadName(name.into()));
    }
    let mut parts = rest.split(',');
    let url = parts.next().unwrap_or_default().trim();
    let (origin, base_path) = parse_url(url)?;
    let (mut auth, mut env) = (None, None);
    for part in parts {
        match part.trim().split_once('=') {
            Some(("auth", style)) => auth = Some(AuthStyle::parse(style.trim())?),
            Some(("env", prefix)) => {
                let prefix = prefix.trim();
                if prefix.is_empty()
                    || prefix.len() > 32
                    || !prefix
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(ServiceError::BadEnv(prefix.into()));
                }
                env = Some(prefix.to_owned());
            }
            _ => return Err(ServiceError::Syntax(spec.into())),
        }
    }
    Ok(Spec {
        name: name.to_owned(),
        origin,
        base_path,
        auth,
        env,
    })
}

/// Service names: 1..=32 of `[a-z0-9_-]`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `(origin, base path)` of an upstream URL.
fn parse_url(url: &str) -> Result<(String, String), ServiceError> {
    let bad = |why: &'static str| ServiceError::BadUrl(url.to_owned(), why);
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let scheme = uri.scheme().ok_or_else(|| bad("no scheme"))?;
    if scheme != &Scheme::HTTP && scheme != &Scheme::HTTPS {
        return Err(bad("the scheme must be http or https"));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials do not belong in the URL; store them with POST /v1/credentials",
        ));
    }
    if uri.query().is_some() {
        return Err(bad("a query is not allowed"));
    }
    let path = uri.path().trim_end_matches('/');
    if crate::path::normalize(if path.is_empty() { "/" } else { path }).is_err() {
        return Err(bad("the path must be plain segments"));
    }
    Ok((format!("{scheme}://{authority}"), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_the_documented_env_and_auth() {
        let services = Services::builtin();
        let openai = services.get("openai").unwrap();
        assert_eq!(openai.proxy_base_path(), "/v1/openai/v1");
        assert_eq!(
            (openai.key_env.as_str(), openai.url_env.as_str()),
            ("OPENAI_API_KEY", "OPENAI_BASE_URL")
        );
        let anthropic = services.get("anthropic").unwrap();
        assert_eq!(anthropic.auth, AuthStyle::XApiKey);
        assert_eq!(anthropic.proxy_base_path(), "/v1/anthropic");
        assert_eq!(services.get("github").unwrap().url_env, "GITHUB_API_URL");
        assert_eq!(services.get("stripe").unwrap().url_env, "STRIPE_API_BASE");
    }

    #[test]
    fn specs_move_builtins_and_add_services() {
        let services = Services::configured([
            "openai=http://127.0.0.1:9000",
            "internal=https://llm.corp.example:8443/api/,auth=header:x-token,env=CORP_LLM",
        ])
        .unwrap();
        let openai = services.get("openai").unwrap();
        assert_eq!(
            (openai.origin.as_str(), openai.base_path.as_str()),
            ("http://127.0.0.1:9000", "")
        );
        assert_eq!(openai.auth, AuthStyle::Bearer);
        let internal = services.get("internal").unwrap();
        assert_eq!(internal.upstream_url(), "https://llm.corp.example:8443/api");
        assert_eq!(internal.auth, AuthStyle::Header("x-token".into()));
        assert_eq!(internal.key_env, "CORP_LLM_API_KEY");
        assert_eq!(internal.proxy_base_path(), "/v1/internal");
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for (spec, needle) in [
            ("openai", "NAME=URL"),
            ("Open=http://x", "bad service name"),
            ("x=ftp://h", "scheme"),
            ("x=http://user:pw@h", "credentials"),
            ("x=http://h/?q=1", "query"),
            ("x=http://h/a/../b", "plain segments"),
            ("x=http://h,auth=cookie", "auth style"),
            ("x=http://h,auth=header:host", "auth style"),
            ("x=http://h,env=lower", "env prefix"),
            ("x=http://h,color=red", "NAME=URL"),
        ] {
            let err = Services::configured([spec]).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
        let err = Services::configured(["a=http://h", "a=http://i"]).unwrap_err();
        assert_eq!(err, ServiceError::Duplicate("a".into()));
        let err = Services::configured(["x=http://h,env=OPENAI"]).unwrap_err();
        assert_eq!(err, ServiceError::Duplicate("OPENAI_API_KEY".into()));
    }
}
