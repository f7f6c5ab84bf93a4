//! The tools of a workspace's MCP endpoint. Each needs a capability of the
//! scoped token besides `mcp` ([`TOOLS`]); a token lists only the tools it
//! may call, and a call to another one is refused. The work is the
//! services' (the running workspace's processes, its kernels, its files),
//! exactly as the HTTP routes do it.

use base64::Engine;
use paddock_api::code::{CodeLanguage, CodeRequest, CodeResultPart, ImageFormat};
use paddock_api::runtime::fs::FsEntryType;
use paddock_api::runtime::processes::ProcessRunRequest;
use paddock_api::tokens::Capability;
use paddock_api::Error;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, ToolCallContext};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::app::SharedState;
use crate::services::files;
use crate::services::identity::Caller;

/// Every tool and the capability it needs.
const TOOLS: [(&str, Capability); 5] = [
    ("exec", Capability::Processes),
    ("run_code", Capability::Code),
    ("read_file", Capability::FilesRead),
    ("list_files", Capability::FilesRead),
    ("write_file", Capability::FilesWrite),
];

/// Most bytes `read_file` answers (larger files: the runtime file API).
const MAX_READ_BYTES: u64 = 4 << 20;

/// The tools, bound to the server's state; the workspace and the caller
/// come with each request.
#[derive(Clone)]
pub struct WorkspaceTools {
    state: SharedState,
    tool_router: ToolRouter<Self>,
}

impl WorkspaceTools {
    /// The tools of this server's workspaces.
    pub fn new(state: SharedState) -> WorkspaceTools {
        WorkspaceTools {
            state,
            tool_router: Self::tool_router(),
        }
    }
}

/// `exec`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ExecArgs {
    /// A shell command line, run by `/bin/sh -c` in the workspace (started if stopped).
    command: String,
    /// The working directory (default `/workspace`).
    #[serde(default)]
    cwd: Option<String>,
    /// Kill it after this many milliseconds (default 30000).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// `run_code`.
#[derive(Debug, Deserialize, JsonSchema)]
struct RunCodeArgs {
    /// The code. Variables persist between calls of the same language.
    code: String,
    /// `python` (default), `node`, `typescript` or `bash`.
    #[serde(default)]
    language: Option<Language>,
    /// Interrupt it after this many milliseconds.
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// A kernel language (the API's [`CodeLanguage`]).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Language {
    Python,
    Node,
    Typescript,
    Bash,
}

impl From<Language> for CodeLanguage {
    fn from(language: Language) -> CodeLanguage {
        match language {
            Language::Python => CodeLanguage::Python,
            Language::Node => CodeLanguage::Node,
            Language::Typescript => CodeLanguage::Typescript,
            Language::Bash => CodeLanguage::Bash,
        }
    }
}

/// `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ReadFileArgs {
    /// A path under `/workspace` (absolute, or relative to it).
    path: String,
}

/// `list_files`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ListFilesArgs {
    /// A directory under `/workspace` (default `/workspace`).
    #[serde(default)]
    path: Option<String>,
}

/// `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
struct WriteFileArgs {
    /// A path under `/workspace`; missing parent directories are made.
    path: String,
    /// The file's new content (the whole file).
    content: String,
    /// `content` is base64 of the bytes rather than text.
    #[serde(default)]
    base64: bool,
}

#[tool_router]
impl WorkspaceTools {
    #[tool(description = "Run a shell command in the workspace and wait for it: its exit code, stdout and stderr.")]
    async fn exec(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ExecArgs>,
    ) -> CallToolResult {
        let (caller, workspace) = match caller_of(&parts) {
            Ok(found) => found,
            Err(err) => return failed(&err),
        };
        let request = ProcessRunRequest {
            command: "/bin/sh".into(),
            args: vec!["-c".into(), args.command],
            cwd: args.cwd,
            env: Default::default(),
            timeout_ms: Some(args.timeout_ms.unwrap_or(30_000)),
            max_output_bytes: None,
        };
        let ran = match self.state.workspaces.running(&caller, &workspace).await {
            Ok(running) => running.run(request).await,
            Err(err) => Err(err),
        };
        match ran {
            Ok(done) => {
                let mut text = done.stdout;
                if !done.stderr.is_empty() {
                    text.push_str(&format!("\n[stderr]\n{}", done.stderr));
                }
                let status = match (done.timed_out, done.exit_code) {
                    (true, _) => "timed out".to_owned(),
                    (false, Some(code)) => format!("exit code {code}"),
                    (false, None) => "killed by a signal".to_owned(),
                };
                text.push_str(&format!("\n[{status}]"));
                let content = vec![ContentBlock::text(text)];
                if done.exit_code == Some(0) {
                    CallToolResult::success(content)
                } else {
                    CallToolResult::error(content)
                }
            }
            Err(err) => failed(&err),
        }
    }

    #[tool(
        description = "Run code on the workspace's Jupyter kernel (variables persist between calls): its output, results and errors; plots come back as images."
    )]
    async fn run_code(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<RunCodeArgs>,
    ) -> CallToolResult {
        let (caller, workspace) = match caller_of(&parts) {
            Ok(found) => found,
            Err(err) => return failed(&err),
        };
        let request = CodeRequest {
            language: args.language.map_or(CodeLanguage::Python, CodeLanguage::from),
            code: args.code,
            session_id: None,
            timeout_ms: args.timeout_ms,
            env: Default::default(),
            cwd: None,
            idempotency_key: None,
        };
        let result = match self.state.kernels.execute(&caller, &workspace, request).await {
            Ok(result) => result,
            Err(err) => return failed(&err),
        };
        let mut text = result.stdout.clone();
        if !result.stderr.is_empty() {
            text.push_str(&format!("\n[stderr]\n{}", result.stderr));
        }
        let mut images = Vec::new();
        for part in &result.results {
            match part {
                CodeResultPart::Image { format, data } => match format {
                    ImageFormat::Png => images.push(ContentBlock::image(data.clone(), "image/png")),
                    ImageFormat::Jpeg => images.push(ContentBlock::image(data.clone(), "image/jpeg")),
                    ImageFormat::Svg => text.push_str(&format!("\n[svg]\n{data}")),
                },
                CodeResultPart::Text { value } | CodeResultPart::Html { value } => text.push_str(&format!("\n{value}")),
                other => {
                    if let Ok(json) = serde_json::to_string(other) {
                        text.push_str(&format!("\n{json}"));
                    }
                }
            }
        }
        if let Some(error) = &result.error {
            text.push_str(&format!("\n[error] {}: {}", error.name, error.message));
            if let Some(traceback) = &error.traceback {
                text.push_str(&format!("\n{traceback}"));
            }
        }
        let mut content = vec![ContentBlock::text(text.trim_start().to_owned())];
        content.extend(images);
        if result.error.is_some() {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        }
    }

    #[tool(
        description = "Read a file of the workspace: text as text, PNG, JPEG, GIF and WebP images as images, other bytes as base64 (at most 4 MiB)."
    )]
    async fn read_file(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ReadFileArgs>,
    ) -> CallToolResult {
        match self.read(&parts, &args.path).await {
            Ok(content) => CallToolResult::success(vec![content]),
            Err(err) => failed(&err),
        }
    }

    #[tool(
        description = "List a directory of the workspace: one entry a line, directories ending in '/', with sizes in bytes."
    )]
    async fn list_files(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ListFilesArgs>,
    ) -> CallToolResult {
        let listed = async {
            let (caller, workspace) = caller_of(&parts)?;
            let access = self.state.workspaces.tree_access(&caller, &workspace).await?;
            files::list(access, args.path.as_deref()).await
        };
        match listed.await {
            Ok(entries) => {
                let lines: Vec<String> = entries
                    .iter()
                    .map(|entry| match entry.entry_type {
                        FsEntryType::Directory => format!("{}/", entry.path),
                        FsEntryType::File => format!("{}\t{}", entry.path, entry.size),
                    })
                    .collect();
                CallToolResult::success(vec![ContentBlock::text(lines.join("\n"))])
            }
            Err(err) => failed(&err),
        }
    }

    #[tool(description = "Write a whole file of the workspace (missing parent directories are made).")]
    async fn write_file(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<WriteFileArgs>,
    ) -> CallToolResult {
        let written = async {
            let (caller, workspace) = caller_of(&parts)?;
            let bytes = if args.base64 {
                base64::engine::general_purpose::STANDARD
                    .decode(args.content.trim())
                    .map_err(|err| {
                        Error::new(
                            paddock_api::ErrorCode::BadRequest,
                            format!("content is not base64: {err}"),
                        )
                    })?
            } else {
                args.content.into_bytes()
            };
            let access = self.state.workspaces.tree_access(&caller, &workspace).await?;
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes))]);
            files::write(access, &self.state.disk, &args.path, body).await
        };
        match written.await {
            Ok(done) => CallToolResult::success(vec![ContentBlock::text(format!(
                "wrote {} bytes to {}",
                done.bytes_written, done.path
            ))]),
            Err(err) => failed(&err),
        }
    }
}

impl WorkspaceTools {
    /// A file as one content block.
    async fn read(&self, parts: &http::request::Parts, path: &str) -> Result<ContentBlock, Error> {
        use futures_util::TryStreamExt;
        let (caller, workspace) = caller_of(parts)?;
        let access = self.state.workspaces.tree_access(&caller, &workspace).await?;
        let file = files::read(access, path).await?;
        if file.len > MAX_READ_BYTES {
            return Err(Error::new(
                paddock_api::ErrorCode::BadRequest,
                format!(
                    "{path} is {} bytes, over read_file's {MAX_READ_BYTES}; read it with the runtime file API",
                    file.len
                ),
            ));
        }
        let chunks: Vec<axum::body::Bytes> = file.stream.try_collect().await.map_err(Error::internal)?;
        let bytes = chunks.concat();
        let image = match path.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Some("image/png"),
            Some("jpg" | "jpeg") => Some("image/jpeg"),
            Some("gif") => Some("image/gif"),
            Some("webp") => Some("image/webp"),
            _ => None,
        };
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(match (image, String::from_utf8(bytes)) {
            (Some(mime), Ok(text)) => ContentBlock::image(encode(text.as_bytes()), mime),
            (Some(mime), Err(err)) => ContentBlock::image(encode(err.as_bytes()), mime),
            (None, Ok(text)) => ContentBlock::text(text),
            (None, Err(err)) => ContentBlock::text(format!(
                "[{} bytes, not UTF-8; base64 follows]\n{}",
                err.as_bytes().len(),
                encode(err.as_bytes())
            )),
        })
    }
}

impl ServerHandler for WorkspaceTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("paddock", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools of one paddock workspace (a Linux sandbox with its files under /workspace): \
                 run commands, run code on its kernels, read and write its files.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (caller, workspace) = context_caller(&context)?;
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| permitted(&caller, &workspace, &tool.name).is_ok())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (caller, workspace) = context_caller(&context)?;
        if let Err(err) = permitted(&caller, &workspace, &request.name) {
            return Ok(failed(&err).into());
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}

/// Refuses a tool the caller's token has no capability for (or one that
/// does not exist, which needs a capability nobody has).
fn permitted(caller: &Caller, workspace: &str, tool: &str) -> Result<(), Error> {
    match TOOLS.iter().find(|(name, _)| *name == tool) {
        Some((_, capability)) => caller.permit(workspace, *capability),
        None => Err(Error::new(
            paddock_api::ErrorCode::NotFound,
            format!("no tool named {tool:?}"),
        )),
    }
}

/// The caller and workspace of an MCP request (`super::authorize` put the
/// caller in the request; rmcp hands its parts to the handler).
fn caller_of(parts: &http::request::Parts) -> Result<(Caller, String), Error> {
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Error::internal("an MCP request reached its tools without a caller"))?;
    let workspace = caller
        .grant
        .as_ref()
        .map(|grant| grant.workspace_id.clone())
        .ok_or_else(|| Error::internal("an MCP request reached its tools without a scoped token"))?;
    Ok((caller, workspace))
}

/// [`caller_of`] from an rmcp request context, as a protocol error.
fn context_caller(context: &RequestContext<RoleServer>) -> Result<(Caller, String), ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .ok_or_else(|| ErrorData::internal_error("no HTTP request behind this MCP request", None))
        .and_then(|parts| caller_of(parts).map_err(|err| ErrorData::internal_error(err.message, None)))
}

/// A tool's failure as the model sees it: the error code and message.
fn failed(err: &Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("{}: {}", err.code, err.message))])
}
