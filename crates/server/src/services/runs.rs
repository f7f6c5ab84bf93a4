//! One-shot code runs: run to the end, stream, fork (freeze the parent,
//! copy its `/output` per child, run the children in parallel), cancel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_api::runs::{ForkChild, ForkMeta, ForkRequest, ForkResponse, RunRequest, MAX_CODE, MAX_FORK_CHILDREN};
use paddock_api::{Error, ErrorCode, ExecResult, JailOptions};
use paddock_jail::JailConfig;
use paddock_store::tree::{copy_tree, CopyStats};

use crate::crypto::new_id;
use crate::db::Scope;
use crate::services::jails::{exec_result, Finished, JailRunner, JailStream, LedgerEntry};
use crate::services::limits;

/// Stats events of a stream, this often.
const STATS_EVERY: Duration = Duration::from_millis(500);
/// Longest wait before a fork copies the parent's `/output`.
const MAX_FORK_AFTER_MS: u64 = 30_000;

/// Runs code for tenants.
#[derive(Debug, Clone)]
pub struct Runs {
    runner: JailRunner,
    /// Where forks keep their `/output` copies while they run.
    scratch: PathBuf,
}

impl Runs {
    /// Runs over `runner`, with fork scratch space under `scratch`.
    pub fn new(runner: JailRunner, scratch: PathBuf) -> Runs {
        Runs { runner, scratch }
    }

    /// Runs `request` to its end.
    pub async fn run(&self, tenant: &str, request: &RunRequest) -> Result<Finished, Error> {
        let (config, entry) = prepare(tenant, "run", request)?;
        self.runner.run(entry, config).await
    }

    /// Starts `request` and streams its events. The jail is killed when
    /// the returned stream's ledger is dropped before it is closed.
    pub async fn stream(&self, tenant: &str, request: &RunRequest) -> Result<JailStream, Error> {
        let (config, entry) = prepare(tenant, "stream", request)?;
        self.runner.stream(entry, config, STATS_EVERY).await
    }

    /// Cancels a running run (any jail of the ledger) in `scope`.
    pub async fn cancel(&self, scope: &Scope, id: i64) -> Result<(), Error> {
        self.runner.cancel(scope, id).await
    }

    /// Runs a fork.
    pub async fn fork(&self, tenant: &str, request: ForkRequest) -> Result<ForkResponse, Error> {
        let children = fork_children(&request)?;
        let fork_after = Duration::from_millis(request.fork_after_ms.unwrap_or(1500).min(MAX_FORK_AFTER_MS));
        let scratch = Scratch::create(&self.scratch)?;
        let parent_output = scratch.0.join("parent");
        std::fs::create_dir_all(&parent_output).map_err(Error::internal)?;
        let parent_config = output_config(
            &request.language,
            &request.parent_code,
            &request.options,
            &parent_output,
        )?;
        let child_configs: Vec<(PathBuf, JailConfig)> = children
            .iter()
            .enumerate()
            .map(|(i, child)| {
                let output = scratch.0.join(format!("child-{i}"));
                let options = JailOptions {
                    memory_mb: child.memory_mb.or(request.options.memory_mb),
                    ..request.options.clone()
                };
                output_config(&request.language, &child.code, &options, &output).map(|c| (output, c))
            })
            .collect::<Result<_, _>>()?;
        // Every jail of the fork is admitted (its slot and its memory)
        // before anything starts; a fork that needs more jails at once than
        // the tenant may ever run is refused for good, not "retry later".
        let budgets = self.runner.budgets();
        let needed = 1 + child_configs.len();
        if needed > budgets.tenant_max_concurrent {
            return Err(Error::new(
                ErrorCode::BadFork,
                format!(
                    "a fork of {} children runs {needed} jails at once; a tenant may run {} (--tenant-max-concurrent)",
                    child_configs.len(),
                    budgets.tenant_max_concurrent
                ),
            ));
        }
        let slots = std::iter::once(&parent_config)
            .chain(child_configs.iter().map(|(_, config)| config))
            .map(|config| self.runner.take_slot(tenant, config))
            .collect::<Result<Vec<_>, _>>()?;
        let applied = limits::resolve(&request.options)?;
        let entry = |label: &str, parent_id: Option<i64>| LedgerEntry {
            tenant: tenant.to_owned(),
            kind: "fork",
            session_id: None,
            label: Some(format!("{} · {label}", request.language)),
            parent_id,
            config: serde_json::json!({
                "language": request.language,
                "children": children.len(),
                "fork_after_ms": fork_after.as_millis() as u64,
                "limits": applied,
            }),
        };

        let (parent_ledger, parent) = self.runner.start(&entry("parent", None), parent_config).await?;
        let parent_id = parent_ledger.id();
        let control = parent.control();
        let waiting = self.runner.wait(parent_ledger, parent);
        tokio::pin!(waiting);
        // The parent runs until the fork point (or its end, if sooner).
        let early = tokio::select! {
            result = &mut waiting => Some(result),
            () = tokio::time::sleep(fork_after) => None,
        };
        let was_frozen = early.is_none() && control.freeze().is_ok();
        let copies = copy_outputs(&parent_output, &child_configs, was_frozen).await;
        if was_frozen {
            let _ = control.thaw();
        }
        let parent = match early {
            Some(result) => result,
            None => waiting.await,
        }?;
        let forks = copies?;

        // agentjail's labels: `child` for one, `child <i>` for several.
        let several = child_configs.len() > 1;
        let runs = child_configs.into_iter().enumerate().map(|(i, (_, config))| {
            let label = if several {
                format!("child {i}")
            } else {
                "child".to_owned()
            };
            let entry = entry(&label, Some(parent_id));
            async move {
                let (ledger, handle) = self.runner.start(&entry, config).await?;
                self.runner.wait(ledger, handle).await
            }
        });
        let results: Vec<Finished> = futures_util::future::try_join_all(runs).await?;
        drop(slots);
        let children: Vec<ExecResult> = results.iter().map(Finished::to_wire).collect();
        // A fork has at least one child (checked above), so both exist.
        let (Some(child), Some(fork)) = (children.first().cloned(), forks.first().cloned()) else {
            return Err(Error::internal("a fork ended without children"));
        };
        Ok(ForkResponse {
            parent: exec_result(parent.id, &parent.result, parent.cancelled),
            child,
            fork,
            children,
            forks,
        })
    }
}

/// The jail and ledger entry of a run request.
pub fn prepare(tenant: &str, kind: &'static str, request: &RunRequest) -> Result<(JailConfig, LedgerEntry), Error> {
    check_code_size(&request.code)?;
    let mut config = limits::code_config(&request.language, &request.code)?;
    let applied = limits::apply(&request.options, &mut config)?;
    let entry = LedgerEntry {
        tenant: tenant.to_owned(),
        kind,
        session_id: None,
        label: Some(request.language.clone()),
        parent_id: None,
        config: serde_json::json!({
            "language": request.language,
            "code_bytes": request.code.len(),
            "code_blake3": blake3::hash(request.code.as_bytes()).to_hex().to_string(),
            "limits": applied,
        }),
    };
    Ok((config, entry))
}

fn check_code_size(code: &str) -> Result<(), Error> {
    if code.len() > MAX_CODE {
        return Err(Error::new(
            ErrorCode::CodeTooLarge,
            format!("code is {} bytes; at most {MAX_CODE} are accepted", code.len()),
        ));
    }
    Ok(())
}

/// The children a fork request names, checked.
pub fn fork_children(request: &ForkRequest) -> Result<Vec<ForkChild>, Error> {
    let mut children = request.children.clone();
    if let Some(code) = &request.child_code {
        if !children.is_empty() {
            return Err(Error::new(ErrorCode::BadFork, "give child_code or children, not both"));
        }
        children.push(ForkChild {
            code: code.clone(),
            memory_mb: None,
        });
    }
    if children.is_empty() || children.len() > MAX_FORK_CHILDREN {
        return Err(Error::new(
            ErrorCode::BadFork,
            format!("a fork needs 1 to {MAX_FORK_CHILDREN} children (child_code or children)"),
        ));
    }
    check_code_size(&request.parent_code)?;
    for child in &children {
        check_code_size(&child.code)?;
    }
    limits::language_command(&request.language)?;
    Ok(children)
}

fn output_config(language: &str, code: &str, options: &JailOptions, output: &Path) -> Result<JailConfig, Error> {
    let mut config = limits::code_config(language, code)?;
    limits::apply(options, &mut config)?;
    Ok(config.output(output))
}

/// Copies the parent's `/output` once per child.
async fn copy_outputs(
    parent_output: &Path,
    children: &[(PathBuf, JailConfig)],
    was_frozen: bool,
) -> Result<Vec<ForkMeta>, Error> {
    let mut forks = Vec::with_capacity(children.len());
    for (output, _) in children {
        let started = Instant::now();
        let (source, target) = (parent_output.to_owned(), output.clone());
        let stats = tokio::task::spawn_blocking(move || copy_tree(&source, &target))
            .await
            .map_err(Error::internal)?
            .map_err(|err| Error::internal(format!("copying the parent's /output: {err}")))?;
        forks.push(meta(stats, started, was_frozen));
    }
    Ok(forks)
}

fn meta(stats: CopyStats, started: Instant, was_frozen: bool) -> ForkMeta {
    ForkMeta {
        clone_ms: started.elapsed().as_millis() as u64,
        files_cloned: stats.files_cloned,
        files_cow: stats.files_cow,
        bytes_cloned: stats.bytes_cloned,
        method: stats.method.to_owned(),
        was_frozen,
    }
}

/// A fork's scratch directory, removed however the fork ends.
struct Scratch(PathBuf);

impl Scratch {
    fn create(root: &Path) -> Result<Scratch, Error> {
        let dir = root.join(new_id("fork_"));
        std::fs::create_dir_all(&dir).map_err(Error::internal)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
