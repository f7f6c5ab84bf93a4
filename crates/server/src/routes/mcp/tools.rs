//! The tools of a workspace's MCP endpoint. Each needs a capability of the
//! scoped token besides `mcp` ([`TOOLS`]); a token lists only the tools it
//! may call, and a call to another one is refused. The work is the
//! services' (the running workspace's processes, its kernels, its files),
//! exactly as the HTTP routes do it.

use base64::Engine;
use paddock_api::code::{CodeLanguage, CodeRequest, CodeResultPart, ImageFormat};
use paddock_api::runtime::browser::BrowserCommandRequest;
use paddock_api::runtime::desktop::{DesktopMouseButton, DesktopScreenshotFormat, DesktopStartRequest};
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
use crate::routes::extract::audit_scoped_use;
use crate::services::desktop::x11::{chord, X11Desktop};
use crate::services::desktop::{screenshot_options, Session, MAX_TYPED};
use crate::services::files;
use crate::services::identity::Caller;

/// Every tool and the capability it needs.
const TOOLS: [(&str, Capability); 9] = [
    ("exec", Capability::Processes),
    ("run_code", Capability::Code),
    ("read_file", Capability::FilesRead),
    ("list_files", Capability::FilesRead),
    ("write_file", Capability::FilesWrite),
    ("screenshot", Capability::Desktop),
    ("computer", Capability::Desktop),
    ("computer_call", Capability::Desktop),
    ("browser", Capability::Browser),
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

/// `screenshot`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct ScreenshotArgs {
    /// Downscale by this factor, 0.1..=1 (default 1).
    #[serde(default)]
    scale: Option<f32>,
}

/// `browser`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct BrowserArgs {
    /// The agent-browser command: open, snapshot, click, fill, type, press,
    /// select, get, wait, screenshot, tab, eval, diff, cookies, state, …
    command: String,
    /// Its arguments as on agent-browser's command line: `["-i"]` for
    /// `snapshot`, `["@e2", "text"]` for `fill`, `["text", "#result"]` for
    /// `get`.
    #[serde(default)]
    args: Vec<String>,
    /// The browser session (default `default`).
    #[serde(default)]
    session: Option<String>,
}

/// An action of Anthropic's `computer` tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ComputerAction {
    Screenshot,
    LeftClick,
    RightClick,
    MiddleClick,
    DoubleClick,
    TripleClick,
    MouseMove,
    LeftClickDrag,
    LeftMouseDown,
    LeftMouseUp,
    Type,
    Key,
    HoldKey,
    Scroll,
    Wait,
    CursorPosition,
}

/// A scroll direction of Anthropic's `computer` tool.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ScrollDirection {
    Up,
    Down,
    Left,
    Right,
}

/// `computer`: Anthropic's computer-use action set.
#[derive(Debug, Deserialize, JsonSchema)]
struct ComputerArgs {
    /// What to do.
    action: ComputerAction,
    /// `[x, y]` in screen pixels: where to click, move or scroll, or a drag's end.
    #[serde(default)]
    coordinate: Option<[i32; 2]>,
    /// `[x, y]`: where a `left_click_drag` starts (default: the pointer).
    #[serde(default)]
    start_coordinate: Option<[i32; 2]>,
    /// The text to `type`; the key or chord to `key` or `hold_key` (xdotool names: `Return`, `ctrl+s`); keys held during a click.
    #[serde(default)]
    text: Option<String>,
    /// `up`, `down`, `left` or `right`, for `scroll`.
    #[serde(default)]
    scroll_direction: Option<ScrollDirection>,
    /// Wheel clicks, for `scroll` (default 3).
    #[serde(default)]
    scroll_amount: Option<u32>,
    /// Seconds, for `wait` and `hold_key` (at most 30).
    #[serde(default)]
    duration: Option<f64>,
}

/// A point of an OpenAI `drag` path.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
struct Point {
    x: i32,
    y: i32,
}

/// An action of OpenAI's computer-use tool (`computer_call`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OpenAiAction {
    Click {
        x: i32,
        y: i32,
        /// `left` (default), `right`, `wheel` (the middle button).
        #[serde(default)]
        button: Option<String>,
    },
    DoubleClick {
        x: i32,
        y: i32,
    },
    Drag {
        path: Vec<Point>,
    },
    Keypress {
        keys: Vec<String>,
    },
    Move {
        x: i32,
        y: i32,
    },
    Screenshot,
    Scroll {
        x: i32,
        y: i32,
        /// Pixels (100 a wheel click).
        #[serde(default)]
        scroll_x: i32,
        #[serde(default)]
        scroll_y: i32,
    },
    Type {
        text: String,
    },
    Wait,
}

/// `computer_call`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ComputerCallArgs {
    /// The `action` of an OpenAI `computer_call` item, as the model wrote it.
    action: OpenAiAction,
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

    #[tool(
        description = "A screenshot of the workspace's desktop (PNG; the desktop starts at 1280x720 if it is not running)."
    )]
    async fn screenshot(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ScreenshotArgs>,
    ) -> CallToolResult {
        let shot = async {
            let (caller, workspace) = caller_of(&parts)?;
            let (_, scale) = screenshot_options(None, args.scale)?;
            let session = self.desktop(&caller, &workspace).await?;
            Self::screen(&session, scale).await
        };
        match shot.await {
            Ok(image) => CallToolResult::success(vec![image]),
            Err(err) => failed(&err),
        }
    }

    #[tool(
        description = "Use the workspace's desktop with Anthropic's computer-use actions (screenshot, left_click, right_click, middle_click, double_click, triple_click, mouse_move, left_click_drag, left_mouse_down, left_mouse_up, type, key, hold_key, scroll, wait, cursor_position); coordinates are screen pixels. Answers a screenshot taken after the action."
    )]
    async fn computer(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ComputerArgs>,
    ) -> CallToolResult {
        match self.computer_action(&parts, args).await {
            Ok(content) => CallToolResult::success(content),
            Err(err) => failed(&err),
        }
    }

    #[tool(
        description = "Use the workspace's desktop with an OpenAI computer-use action (the `action` of a computer_call: click, double_click, drag, keypress, move, screenshot, scroll, type, wait). Answers the screenshot to send back as the computer_call_output."
    )]
    async fn computer_call(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ComputerCallArgs>,
    ) -> CallToolResult {
        match self.openai_action(&parts, args.action).await {
            Ok(content) => CallToolResult::success(content),
            Err(err) => failed(&err),
        }
    }

    #[tool(
        description = "Drive the workspace's browser (Chromium, with agent-browser's commands): open a URL, `snapshot` with args [\"-i\"] for the interactive elements and their refs (@e1, @e2, …), then click, fill, type, press or select by ref, get text, eval, tabs, cookies. Answers the command's JSON result; `screenshot` answers the image."
    )]
    async fn browser(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<BrowserArgs>,
    ) -> CallToolResult {
        let ran = async {
            let (caller, workspace) = caller_of(&parts)?;
            let request = BrowserCommandRequest {
                command: args.command,
                args: args.args,
                session: args.session,
                timeout_ms: None,
            };
            self.state.browsers.run(&caller, &workspace, request).await
        };
        match ran.await {
            Ok(mut answer) => {
                let mut content = Vec::new();
                if let Some(image) = answer.image.take() {
                    content.push(ContentBlock::image(image.data, image.mime_type));
                }
                let text = match answer.data["snapshot"].as_str() {
                    Some(tree) => tree.to_owned(),
                    None => answer.data.to_string(),
                };
                content.push(ContentBlock::text(text));
                CallToolResult::success(content)
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
    /// The workspace's desktop, started (1280x720) when it is not running.
    async fn desktop(&self, caller: &Caller, workspace: &str) -> Result<std::sync::Arc<Session>, Error> {
        match self.state.desktops.session(caller, workspace).await {
            Ok(session) => Ok(session),
            Err(err) if err.code == paddock_api::ErrorCode::DesktopNotReady => {
                let size = DesktopStartRequest {
                    width: Some(1280),
                    height: Some(720),
                    ..DesktopStartRequest::default()
                };
                self.state.desktops.start(caller, workspace, size).await?;
                self.state.desktops.session(caller, workspace).await
            }
            Err(err) => Err(err),
        }
    }

    /// The screen as a PNG image block.
    async fn screen(session: &Session, scale: f32) -> Result<ContentBlock, Error> {
        let png = session
            .screenshot(None, DesktopScreenshotFormat::Png, 85, scale, true)
            .await?;
        Ok(ContentBlock::image(
            base64::engine::general_purpose::STANDARD.encode(png),
            "image/png",
        ))
    }

    /// Runs one of Anthropic's computer actions; a screenshot after it
    /// (the position for `cursor_position`).
    async fn computer_action(
        &self,
        parts: &http::request::Parts,
        args: ComputerArgs,
    ) -> Result<Vec<ContentBlock>, Error> {
        let (caller, workspace) = caller_of(parts)?;
        let session = self.desktop(&caller, &workspace).await?;
        let at = |needed: bool| -> Result<Option<(i32, i32)>, Error> {
            match args.coordinate {
                Some([x, y]) => Ok(Some((x, y))),
                None if needed => Err(bad(format!("{:?} needs coordinate [x, y]", args.action))),
                None => Ok(None),
            }
        };
        let held = match (&args.text, args.action) {
            (
                Some(text),
                ComputerAction::LeftClick
                | ComputerAction::RightClick
                | ComputerAction::MiddleClick
                | ComputerAction::DoubleClick
                | ComputerAction::TripleClick,
            ) => chord(text, None)?,
            _ => Vec::new(),
        };
        let text = || {
            args.text
                .clone()
                .ok_or_else(|| bad(format!("{:?} needs text", args.action)))
        };
        let seconds = args.duration.unwrap_or(1.0);
        if !(0.0..=30.0).contains(&seconds) {
            return Err(bad("duration must be 0..=30 seconds"));
        }
        let click = |button: DesktopMouseButton, count: u32| -> Result<_, Error> {
            let point = at(false)?;
            let held = held.clone();
            Ok(move |x: &mut X11Desktop| {
                let (px, py, _) = x.pointer()?;
                let (cx, cy) = point.unwrap_or((px, py));
                held.iter().try_for_each(|k| x.key_raw(*k, true))?;
                x.click(cx, cy, button, count)?;
                held.iter().rev().try_for_each(|k| x.key_raw(*k, false))
            })
        };
        match args.action {
            ComputerAction::Screenshot => {}
            ComputerAction::CursorPosition => {
                let (x, y, _) = session.with_x(|x| x.pointer()).await?;
                return Ok(vec![ContentBlock::text(format!("X={x},Y={y}"))]);
            }
            ComputerAction::LeftClick => session.with_x(click(DesktopMouseButton::Left, 1)?).await?,
            ComputerAction::RightClick => session.with_x(click(DesktopMouseButton::Right, 1)?).await?,
            ComputerAction::MiddleClick => session.with_x(click(DesktopMouseButton::Middle, 1)?).await?,
            ComputerAction::DoubleClick => session.with_x(click(DesktopMouseButton::Left, 2)?).await?,
            ComputerAction::TripleClick => session.with_x(click(DesktopMouseButton::Left, 3)?).await?,
            ComputerAction::MouseMove => {
                let (x, y) = at(true)?.unwrap_or_default();
                session.with_x(move |d| d.move_to(x, y)).await?;
            }
            ComputerAction::LeftClickDrag => {
                let to = at(true)?.unwrap_or_default();
                let from = args.start_coordinate.map(|[x, y]| (x, y));
                session
                    .with_x(move |d| {
                        let (px, py, _) = d.pointer()?;
                        d.drag(from.unwrap_or((px, py)), to, DesktopMouseButton::Left)
                    })
                    .await?;
            }
            ComputerAction::LeftMouseDown | ComputerAction::LeftMouseUp => {
                let down = args.action == ComputerAction::LeftMouseDown;
                let point = at(false)?;
                session
                    .with_x(move |d| {
                        if let Some((x, y)) = point {
                            d.move_to(x, y)?;
                        }
                        d.button(DesktopMouseButton::Left, down)
                    })
                    .await?;
            }
            ComputerAction::Type => session.type_text(&typed(text()?)?, std::time::Duration::ZERO).await?,
            ComputerAction::Key => {
                let keys = chord(&text()?, None)?;
                session.with_x(move |d| d.press(&keys)).await?;
            }
            ComputerAction::HoldKey => {
                let keys = chord(&text()?, None)?;
                let down = keys.clone();
                session
                    .with_x(move |d| down.iter().try_for_each(|k| d.key_raw(*k, true)))
                    .await?;
                tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
                session
                    .with_x(move |d| keys.iter().rev().try_for_each(|k| d.key_raw(*k, false)))
                    .await?;
            }
            ComputerAction::Scroll => {
                let point = at(false)?;
                let amount = args.scroll_amount.unwrap_or(3).min(100) as i32;
                let (dx, dy) = match args
                    .scroll_direction
                    .ok_or_else(|| bad("scroll needs scroll_direction"))?
                {
                    ScrollDirection::Up => (0, -amount),
                    ScrollDirection::Down => (0, amount),
                    ScrollDirection::Left => (-amount, 0),
                    ScrollDirection::Right => (amount, 0),
                };
                session
                    .with_x(move |d| {
                        let (px, py, _) = d.pointer()?;
                        let (x, y) = point.unwrap_or((px, py));
                        d.scroll(x, y, dx, dy)
                    })
                    .await?;
            }
            ComputerAction::Wait => tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await,
        }
        // What the action changed shows after the application redraws.
        if args.action != ComputerAction::Screenshot {
            tokio::time::sleep(SETTLE).await;
        }
        Ok(vec![Self::screen(&session, 1.0).await?])
    }

    /// Runs one of OpenAI's computer actions; a screenshot after it.
    async fn openai_action(
        &self,
        parts: &http::request::Parts,
        action: OpenAiAction,
    ) -> Result<Vec<ContentBlock>, Error> {
        let (caller, workspace) = caller_of(parts)?;
        let session = self.desktop(&caller, &workspace).await?;
        let settle = !matches!(action, OpenAiAction::Screenshot);
        match action {
            OpenAiAction::Click { x, y, button } => {
                let button = match button.as_deref().unwrap_or("left") {
                    "left" => DesktopMouseButton::Left,
                    "right" => DesktopMouseButton::Right,
                    "wheel" | "middle" => DesktopMouseButton::Middle,
                    other => return Err(bad(format!("button {other:?}: left, right or wheel"))),
                };
                session.with_x(move |d| d.click(x, y, button, 1)).await?;
            }
            OpenAiAction::DoubleClick { x, y } => {
                session
                    .with_x(move |d| d.click(x, y, DesktopMouseButton::Left, 2))
                    .await?
            }
            OpenAiAction::Drag { path } => {
                let (Some(first), Some(last)) = (path.first().copied(), path.last().copied()) else {
                    return Err(bad("drag needs a path of at least one point"));
                };
                session
                    .with_x(move |d| d.drag((first.x, first.y), (last.x, last.y), DesktopMouseButton::Left))
                    .await?;
            }
            OpenAiAction::Keypress { keys } => {
                let keys = chord(&keys.join("+"), None)?;
                session.with_x(move |d| d.press(&keys)).await?;
            }
            OpenAiAction::Move { x, y } => session.with_x(move |d| d.move_to(x, y)).await?,
            OpenAiAction::Screenshot => {}
            OpenAiAction::Scroll {
                x,
                y,
                scroll_x,
                scroll_y,
            } => {
                // A wheel click for every 100 pixels begun (at most 100).
                let clicks = |pixels: i32| pixels.signum() * (pixels.unsigned_abs().div_ceil(100).min(100) as i32);
                let (dx, dy) = (clicks(scroll_x), clicks(scroll_y));
                session.with_x(move |d| d.scroll(x, y, dx, dy)).await?;
            }
            OpenAiAction::Type { text } => session.type_text(&typed(text)?, std::time::Duration::ZERO).await?,
            OpenAiAction::Wait => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
        if settle {
            tokio::time::sleep(SETTLE).await;
        }
        Ok(vec![Self::screen(&session, 1.0).await?])
    }

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
                 run commands, run code on its kernels, read and write its files, and use its desktop.",
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
        let verdict = permitted(&caller, &workspace, &request.name);
        let path = format!("/v1/workspaces/{workspace}/mcp tools/call {}", request.name);
        audit_scoped_use(&self.state, &caller, &http::Method::POST, &path, verdict.is_ok());
        if let Err(err) = verdict {
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

fn bad(message: impl Into<String>) -> Error {
    Error::new(paddock_api::ErrorCode::BadRequest, message)
}

/// Text to type, refused past [`MAX_TYPED`] characters.
fn typed(text: String) -> Result<String, Error> {
    if text.chars().count() > MAX_TYPED {
        return Err(bad(format!("text is longer than {MAX_TYPED} characters")));
    }
    Ok(text)
}

/// How long an application gets to redraw after an action, before the
/// screenshot that answers it.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

/// A tool's failure as the model sees it: the error code and message.
fn failed(err: &Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("{}: {}", err.code, err.message))])
}
