//! The runtime API under each workspace's base URL
//! (`/v1/workspaces/{id}/runtime`): sandbox-agent 0.4.2's routes and wire
//! shapes, so that its unmodified SDK drives a paddock workspace. Field
//! names are camelCase on this surface, as sandbox-agent sends them.

pub mod agents;
pub mod browser;
pub mod desktop;
pub mod fs;
pub mod problem;
pub mod processes;

use serde::{Deserialize, Serialize};

/// `GET …/runtime/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuntimeHealth {
    /// Always `ok` when answered.
    pub status: String,
}
