//! Upstream services whose keys tenants store and sessions hand out as
//! phantom tokens: the names, and the environment a session's jail gets.
//! The phantom proxy that serves these paths plugs in here.

/// One upstream service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Name in the API (`openai`).
    pub name: &'static str,
    /// Variable holding the phantom token.
    pub key_env: &'static str,
    /// Variable holding the base URL.
    pub url_env: &'static str,
    /// Path under the phantom proxy that the base URL points at.
    pub base_path: &'static str,
}

/// The services every deployment knows.
pub const BUILTIN: [Service; 4] = [
    Service {
        name: "openai",
        key_env: "OPENAI_API_KEY",
        url_env: "OPENAI_BASE_URL",
        base_path: "/v1/openai/v1",
    },
    Service {
        name: "anthropic",
        key_env: "ANTHROPIC_API_KEY",
        url_env: "ANTHROPIC_BASE_URL",
        base_path: "/v1/anthropic",
    },
    Service {
        name: "github",
        key_env: "GITHUB_TOKEN",
        url_env: "GITHUB_API_URL",
        base_path: "/v1/github",
    },
    Service {
        name: "stripe",
        key_env: "STRIPE_API_KEY",
        url_env: "STRIPE_API_BASE",
        base_path: "/v1/stripe",
    },
];

/// The service called `name`.
pub fn find(name: &str) -> Option<Service> {
    BUILTIN.iter().copied().find(|s| s.name == name)
}

/// Names of all services, for error messages.
pub fn names() -> String {
    BUILTIN.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}
