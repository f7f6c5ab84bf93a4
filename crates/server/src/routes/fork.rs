//! `POST /v1/runs/fork`: the parent runs; after `fork_after_ms` it is
//! frozen, its `/output` is copied once per child (reflink where the file
//! system can), it is thawed, and the children run on the copies in
//! parallel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_jail::{JailConfig, JailResult};
use serde::{Deserialize, Serialize};

use super::{ListQuery, TenantQuery};
use crate::app::{ApiJson, Caller, SharedState};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::exec::{self, ExecResult, JailOptions, LedgerEntry};
use paddock_store::tree::{copy_tree, CopyStats};

/// Most children of one fork.
const MAX_CHILDREN: usize = 16;
/// Largest code of the parent and of each child.
const MAX_CODE: usize = 1 << 20;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ForkChild {
    code: String,
    memory_mb: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ForkRequest {
    parent_code: String,
    child_code: Option<String>,
    #[serde(default)]
    children: Vec<ForkChild>,
    #[serde(default = "default_language")]
    language: String,
    fork_after_ms: Option<u64>,
    #[serde(flatten)]
    options: JailOptions,
}

fn default_language() -> String {
    "javascript".into()
}

/// How one child's copy was made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForkMeta {
    clone_ms: f64,
    files_cloned: u64,
    files_cow: u64,
    bytes_cloned: u64,
    method: &'static str,
    was_frozen: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ForkResponse {
    parent: ExecResult,
    /// The first child (agentjail's single-child field).
    child: ExecResult,
    children: Vec<ExecResult>,
    /// The first child's copy.
    fork: ForkMeta,
    forks: Vec<ForkMeta>,
}

/// Removes a fork's scratch directory however the request ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn output_config(language: &str, code: &str, options: &JailOptions, output: &Path) -> Result<JailConfig, ApiError> {
    let mut config = exec::code_config(language, code)?;
    options.apply(&mut config)?;
    Ok(config.output(output))
}

#[utoipa::path(post, path = "/v1/runs/fork", tag = "runs", security(("bearer" = [])), params(TenantQuery),
    request_body = ForkRequest,
    responses((status = 201, body = ForkResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn fork(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<ForkRequest>,
) -> ApiResult<(StatusCode, Json<ForkResponse>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let mut children: Vec<ForkChild> = body.children;
    if let Some(code) = body.child_code {
        if !children.is_empty() {
            return Err(ApiError::bad_request(
                "BAD_FORK",
                "give child_code or children, not both",
            ));
        }
        children.push(ForkChild { code, memory_mb: None });
    }
    if children.is_empty() || children.len() > MAX_CHILDREN {
        return Err(ApiError::bad_request(
            "BAD_FORK",
            format!("a fork needs 1 to {MAX_CHILDREN} children (child_code or children)"),
        ));
    }
    if std::iter::once(&body.parent_code)
        .chain(children.iter().map(|c| &c.code))
        .any(|code| code.len() > MAX_CODE)
    {
        return Err(ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CODE_TOO_LARGE",
            format!("each code is at most {MAX_CODE} bytes"),
        ));
    }
    let fork_after = Duration::from_millis(body.fork_after_ms.unwrap_or(1500).min(30_000));

    // Every jail of the fork holds a slot, taken before anything starts.
    let mut slots = Vec::with_capacity(children.len() + 1);
    for _ in 0..=children.len() {
        slots.push(exec::take_slot(&state)?);
    }
    let scratch_root = state.config.state_dir.join("tmp");
    std::fs::create_dir_all(&scratch_root).map_err(ApiError::internal)?;
    let scratch = Scratch(scratch_root.join(crate::crypto::new_id("fork_")));
    let parent_output = scratch.0.join("parent");
    std::fs::create_dir_all(&parent_output).map_err(ApiError::internal)?;
    let parent_config = output_config(&body.language, &body.parent_code, &body.options, &parent_output)?;
    let child_configs: Vec<(PathBuf, JailConfig)> = children
        .iter()
        .enumerate()
        .map(|(i, child)| {
            let output = scratch.0.join(format!("child-{i}"));
            let options = JailOptions {
                memory_mb: child.memory_mb.or(body.options.memory_mb),
                ..body.options.clone()
            };
            output_config(&body.language, &child.code, &options, &output).map(|c| (output, c))
        })
        .collect::<Result<_, _>>()?;

    let ledger_config = serde_json::json!({
        "language": body.language,
        "children": children.len(),
        "fork_after_ms": fork_after.as_millis() as u64,
    });
    let parent_id = exec::open_ledger(
        &state,
        &LedgerEntry {
            tenant: &tenant,
            kind: "fork",
            session_id: None,
            label: Some("parent"),
            parent_id: None,
            config: ledger_config.clone(),
        },
    )
    .await?;
    let parent_started = Instant::now();
    let parent = match state.engine.spawn(parent_config).await {
        Ok(handle) => handle,
        Err(err) => {
            exec::close_ledger(&state, parent_id, Err(err.to_string()), parent_started).await;
            return Err(exec::jail_error(err));
        }
    };
    let control = parent.control();
    let mut waiting = Box::pin(parent.wait());
    // The parent runs until the fork point (or its end, if sooner).
    let early = tokio::select! {
        result = &mut waiting => Some(result),
        () = tokio::time::sleep(fork_after) => None,
    };
    let was_frozen = early.is_none() && control.freeze().is_ok();
    let mut forks = Vec::with_capacity(child_configs.len());
    let mut copy_error = None;
    for (output, _) in &child_configs {
        let started = Instant::now();
        let source = parent_output.clone();
        let target = output.clone();
        match tokio::task::spawn_blocking(move || copy_tree(&source, &target)).await {
            Ok(Ok(stats)) => forks.push(meta(stats, started, was_frozen)),
            Ok(Err(err)) => copy_error = Some(err.to_string()),
            Err(err) => copy_error = Some(err.to_string()),
        }
        if copy_error.is_some() {
            break;
        }
    }
    if was_frozen {
        let _ = control.thaw();
    }
    let parent_result = match early {
        Some(result) => result,
        None => waiting.await,
    };
    exec::close_ledger(
        &state,
        parent_id,
        parent_result.as_ref().map_err(|e| e.to_string()),
        parent_started,
    )
    .await;
    let parent_result = parent_result.map_err(exec::jail_error)?;
    if let Some(err) = copy_error {
        return Err(ApiError::internal(format!("copying the parent's /output: {err}")));
    }

    let runs = child_configs.into_iter().map(|(_, config)| {
        let state = state.clone();
        let tenant = tenant.clone();
        let ledger_config = ledger_config.clone();
        async move {
            let id = exec::open_ledger(
                &state,
                &LedgerEntry {
                    tenant: &tenant,
                    kind: "fork",
                    session_id: None,
                    label: Some("child"),
                    parent_id: Some(parent_id),
                    config: ledger_config,
                },
            )
            .await?;
            let started = Instant::now();
            let outcome = state.engine.run(config).await;
            exec::close_ledger(&state, id, outcome.as_ref().map_err(|e| e.to_string()), started).await;
            outcome.map_err(exec::jail_error)
        }
    });
    let results: Vec<JailResult> = futures_util::future::try_join_all(runs).await?;
    drop(slots);
    let children: Vec<ExecResult> = results.iter().map(ExecResult::from).collect();
    // A fork has at least one child (checked above), so both exist.
    let (Some(child), Some(fork)) = (children.first().cloned(), forks.first().cloned()) else {
        return Err(ApiError::internal("a fork ended without children"));
    };
    Ok((
        StatusCode::CREATED,
        Json(ForkResponse {
            parent: ExecResult::from(&parent_result),
            child,
            fork,
            children,
            forks,
        }),
    ))
}

fn meta(stats: CopyStats, started: Instant, was_frozen: bool) -> ForkMeta {
    ForkMeta {
        clone_ms: started.elapsed().as_secs_f64() * 1000.0,
        files_cloned: stats.files_cloned,
        files_cow: stats.files_cow,
        bytes_cloned: stats.bytes_cloned,
        method: stats.method,
        was_frozen,
    }
}
