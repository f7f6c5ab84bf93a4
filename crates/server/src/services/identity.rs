//! Who is asking: the caller behind an API key, the rows it may see and
//! the tenant it acts for.

use paddock_api::{Error, ErrorCode};

use crate::config::Role;
use crate::db::Scope;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id (never the token).
    pub key_id: String,
    /// The key's tenant.
    pub tenant: String,
    /// The key's role.
    pub role: Role,
}

impl Caller {
    /// The server acting on its own for `tenant` (removing what an earlier
    /// run left): an operator of that tenant, `server` in the audit log.
    pub fn server(tenant: &str) -> Caller {
        Caller {
            key_id: "server".into(),
            tenant: tenant.to_owned(),
            role: Role::Operator,
        }
    }

    /// The rows this caller may see: an operator's own tenant; for an
    /// admin, every tenant or the one named by `?tenant=`.
    pub fn scope(&self, tenant: Option<&str>) -> Scope {
        match (self.role, tenant.filter(|t| !t.is_empty())) {
            (Role::Admin, Some(tenant)) => Scope::Tenant(tenant.to_owned()),
            (Role::Admin, None) => Scope::All,
            (Role::Operator, _) => Scope::Tenant(self.tenant.clone()),
        }
    }

    /// The tenant a new row belongs to: the caller's, or for an admin the
    /// one named by `?tenant=`.
    pub fn owner(&self, tenant: Option<&str>) -> Result<String, Error> {
        match (self.role, tenant.filter(|t| !t.is_empty())) {
            (Role::Admin, Some(tenant)) if crate::config::valid_tenant(tenant) => Ok(tenant.to_owned()),
            (Role::Admin, Some(tenant)) => Err(Error::new(ErrorCode::BadTenant, format!("bad tenant {tenant:?}"))),
            _ => Ok(self.tenant.clone()),
        }
    }

    /// Refuses operators.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Operator => Err(Error::new(ErrorCode::Forbidden, "this needs an admin key")),
        }
    }
}
