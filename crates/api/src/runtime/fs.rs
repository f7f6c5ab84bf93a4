//! Files of a workspace (`…/runtime/v1/fs`): sandbox-agent 0.4.2's shapes.

use serde::{Deserialize, Serialize};

/// A file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FsEntryType {
    /// A regular file (or anything that is not a directory).
    File,
    /// A directory.
    Directory,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FsEntry {
    /// File name.
    pub name: String,
    /// Path inside the jail.
    pub path: String,
    /// File or directory.
    pub entry_type: FsEntryType,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// `GET …/v1/fs/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FsStat {
    /// Path inside the jail.
    pub path: String,
    /// File or directory.
    pub entry_type: FsEntryType,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// `PUT …/v1/fs/file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FsWriteResponse {
    /// Path inside the jail.
    pub path: String,
    /// Bytes stored.
    pub bytes_written: u64,
}

/// `DELETE …/v1/fs/entry`, `POST …/v1/fs/mkdir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsActionResponse {
    /// Path inside the jail.
    pub path: String,
}

/// `POST …/v1/fs/move`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsMoveRequest {
    /// Source path.
    pub from: String,
    /// Destination path.
    pub to: String,
    /// Replace an existing destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// The answer of a move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsMoveResponse {
    /// Source path.
    pub from: String,
    /// Destination path.
    pub to: String,
}

/// `POST …/v1/fs/upload-batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsUploadBatchResponse {
    /// Paths written (inside the jail).
    pub paths: Vec<String>,
    /// The list of paths was cut short (every entry was still written).
    pub truncated: bool,
}

/// Raw bytes on the wire (a file's content, a tar), described in OpenAPI as
/// a binary string; bodies of this type are streamed, never held whole.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FsBytes(pub Vec<u8>);
