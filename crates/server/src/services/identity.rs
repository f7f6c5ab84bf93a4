//! Who is asking: the caller behind an API key, the rows it may see and
//! the tenant it acts for.

use std::sync::Arc;

use paddock_api::tokens::Capability;
use paddock_api::{Error, ErrorCode};

use crate::config::Role;
use crate::db::Scope;
use crate::services::tokens::Grant;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id (never the token).
    pub key_id: String,
    /// The key's tenant.
    pub tenant: String,
    /// The key's role.
    pub role: Role,
    /// A scoped token's workspace and capabilities; `None` for an API key.
    pub grant: Option<Arc<Grant>>,
}

impl Caller {
    /// The server acting on its own for `tenant` (removing what an earlier
    /// run left): an operator of that tenant, `server` in the audit log.
    pub fn server(tenant: &str) -> Caller {
        Caller {
            key_id: "server".into(),
            tenant: tenant.to_owned(),
            role: Role::Operator,
            grant: None,
        }
    }

    /// Refuses a scoped token outside its workspace (404, as if there
    /// were no such workspace). API keys pass.
    pub fn permit_workspace(&self, workspace_id: &str) -> Result<(), Error> {
        match &self.grant {
            Some(grant) if grant.workspace_id != workspace_id => Err(Error::not_found("workspace")),
            _ => Ok(()),
        }
    }

    /// Refuses a scoped token outside its workspace (404, as if there
    /// were no such workspace) or without `capability` (403). API keys
    /// pass.
    pub fn permit(&self, workspace_id: &str, capability: Capability) -> Result<(), Error> {
        self.permit_workspace(workspace_id)?;
        let Some(grant) = &self.grant else {
            return Ok(());
        };
        if !grant.capabilities.contains(&capability) {
            return Err(Error::new(
                ErrorCode::MissingCapability,
                format!("this scoped token does not carry the `{capability}` capability"),
            )
            .with_details(serde_json::json!({ "capability": capability.as_str() })));
        }
        Ok(())
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
