//! A workspace's desktop (RUNTIME.md §6): Xvfb and openbox run as the
//! running workspace's own processes (owner `desktop` in the process API),
//! and the server drives the display over one X11 connection into the
//! jail ([`x11`]): input, screenshots, windows. The clipboard is `xclip`,
//! launching is the process API with `DISPLAY` set, recordings are ffmpeg
//! writing MP4 into the workspace (`/workspace/.paddock/recordings`).
//!
//! A desktop lives as long as its workspace's runtime: a stopped, deleted
//! or restarted workspace's desktop is inactive.

pub mod x11;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use paddock_api::runtime::desktop::{
    DesktopDisplayInfoResponse, DesktopErrorInfo, DesktopProcessInfo, DesktopRecordingInfo, DesktopRecordingStatus,
    DesktopResolution, DesktopScreenshotFormat, DesktopStartRequest, DesktopState, DesktopStatusResponse,
};
use paddock_api::runtime::processes::{ProcessCreateRequest, ProcessOwner, ProcessRunRequest, ProcessState};
use paddock_api::{Error, ErrorCode};

use crate::db::now_ms;
use crate::services::identity::Caller;
use crate::services::runtime::RunningJail;
use crate::services::workspaces::Workspaces;
use crate::services::{lock, rfc3339};
use x11::X11Desktop;

/// The flavor a workspace needs for its desktop (fontconfig for its
/// programs; `paddock flavors install desktop` also installs the packages).
pub const FLAVOR: &str = "desktop";
/// How users get what is missing.
pub const INSTALL_COMMAND: &str =
    "paddock flavors install desktop (on the server's host), then create the workspace with --flavor desktop";
/// Programs of the host the desktop runs (jails see the host's `/usr`).
const PROGRAMS: [(&str, &str); 4] = [
    ("Xvfb", "/usr/bin/Xvfb"),
    ("openbox", "/usr/bin/openbox"),
    ("ffmpeg", "/usr/bin/ffmpeg"),
    ("xclip", "/usr/bin/xclip"),
];
/// The live view's VNC server (optional: a host that installed the flavor
/// before it had x11vnc has a desktop without a live view).
const X11VNC: &str = "/usr/bin/x11vnc";
/// The live view's VNC port is this plus the display number.
const VNC_BASE_PORT: u16 = 5900;
/// Most live viewers of one desktop at a time.
pub const MAX_VIEWERS: usize = 8;
/// How long a viewer waits for the VNC server to listen.
const VNC_TIMEOUT: Duration = Duration::from_secs(10);
/// Where recordings are written in the workspace.
pub const RECORDINGS_DIR: &str = "/workspace/.paddock/recordings";
/// Most characters one `type` takes.
pub const MAX_TYPED: usize = 10_000;
/// How long the X server and the window manager have to come up.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The desktops of this server's running workspaces.
#[derive(Clone)]
pub struct Desktops {
    workspaces: Workspaces,
    flavors: std::path::PathBuf,
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    /// Held while a desktop starts.
    starting: Arc<tokio::sync::Mutex<()>>,
}

/// A started desktop.
pub struct Session {
    /// The runtime it runs in (a restarted workspace has another).
    runtime: Weak<RunningJail>,
    /// `:N`.
    pub display: String,
    pub resolution: DesktopResolution,
    started_at: i64,
    recording_fps: u32,
    /// Process API ids of Xvfb, openbox and x11vnc.
    processes: Vec<(String, String)>,
    /// The port of the live view's VNC server (x11vnc) in the jail, when
    /// it runs.
    vnc_port: Option<u16>,
    /// Live viewers connected now.
    viewers: Arc<std::sync::atomic::AtomicUsize>,
    /// The X11 connection, one call at a time (waiters wait on the
    /// async side, holding no blocking thread).
    x: Arc<tokio::sync::Mutex<X11Desktop>>,
    recordings: Mutex<Vec<DesktopRecordingInfo>>,
    /// The `xclip` that owns each selection now (process API ids).
    clipboard_owners: Mutex<HashMap<String, String>>,
}

impl Session {
    /// Runs `work` on the X connection off the async runtime.
    pub async fn with_x<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut X11Desktop) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let mut x = self.x.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || work(&mut x))
            .await
            .map_err(Error::internal)?
    }

    /// Types `text`: in chunks without a delay, else one character at a
    /// time with the delay between them taken here, so that no call holds
    /// the display for long.
    pub async fn type_text(&self, text: &str, delay: Duration) -> Result<(), Error> {
        let chars: Vec<char> = text.chars().collect();
        let chunk = if delay.is_zero() { 200 } else { 1 };
        for (i, part) in chars.chunks(chunk).enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let part: String = part.iter().collect();
            self.with_x(move |x| x.type_text(&part)).await?;
        }
        Ok(())
    }

    /// The runtime, if it still runs.
    pub fn runtime(&self) -> Result<Arc<RunningJail>, Error> {
        self.runtime.upgrade().filter(|r| !r.has_ended()).ok_or_else(not_active)
    }

    /// A screenshot of `(x, y, width, height)` (the whole screen when
    /// `None`), scaled by `scale`, as `format`.
    pub async fn screenshot(
        &self,
        region: Option<(i32, i32, i32, i32)>,
        format: DesktopScreenshotFormat,
        quality: u8,
        scale: f32,
        cursor: bool,
    ) -> Result<Vec<u8>, Error> {
        let (width, height) = (self.resolution.width, self.resolution.height);
        let (x, y, w, h) = region.unwrap_or((0, 0, width, height));
        let beyond = |at: i32, size: i32, limit: i32| i64::from(at) + i64::from(size) > i64::from(limit);
        if w < 1 || h < 1 || x < 0 || y < 0 || beyond(x, w, width) || beyond(y, h, height) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("the region must lie within the {width}x{height} screen"),
            ));
        }
        self.with_x(move |display| {
            let mut image = display.capture(x, y, w as u16, h as u16, cursor)?;
            if scale < 1.0 {
                let (sw, sh) = (
                    ((w as f32) * scale).max(1.0) as u32,
                    ((h as f32) * scale).max(1.0) as u32,
                );
                image = image::imageops::resize(&image, sw, sh, image::imageops::FilterType::Triangle);
            }
            x11::encode(&image, format, quality)
        })
        .await
    }

    /// The environment of a program on this desktop.
    pub fn env(&self) -> std::collections::BTreeMap<String, String> {
        display_env(&self.display)
    }
}

/// A live viewer's place; the place is freed when it is dropped.
#[derive(Debug)]
pub struct Viewer(Arc<std::sync::atomic::AtomicUsize>);

impl Viewer {
    fn join(viewers: &Arc<std::sync::atomic::AtomicUsize>) -> Option<Viewer> {
        use std::sync::atomic::Ordering;
        viewers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_VIEWERS).then_some(n + 1)
            })
            .ok()
            .map(|_| Viewer(viewers.clone()))
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn not_active() -> Error {
    Error::new(
        ErrorCode::DesktopNotReady,
        "the desktop is not running: POST …/v1/desktop/start first",
    )
}

impl std::fmt::Debug for Desktops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktops")
            .field("flavors", &self.flavors)
            .finish_non_exhaustive()
    }
}

impl Desktops {
    /// The desktops of `workspaces`, whose flavors are in `flavors`.
    pub fn new(workspaces: Workspaces, flavors: std::path::PathBuf) -> Desktops {
        Desktops {
            workspaces,
            flavors,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            starting: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// What keeps the workspace's desktop from running here (empty when
    /// nothing does).
    async fn missing(&self, caller: &Caller, id: &str) -> Result<Vec<String>, Error> {
        let mut missing: Vec<String> = PROGRAMS
            .iter()
            .filter(|(_, path)| !std::path::Path::new(path).exists())
            .map(|(name, _)| (*name).to_owned())
            .collect();
        let workspace = self.workspaces.get(caller, id).await?;
        if !self.flavors.join(FLAVOR).is_dir() {
            missing.push("the desktop flavor on this host".into());
        } else if !workspace.config.flavors.iter().any(|f| f == FLAVOR) {
            missing.push("the desktop flavor in this workspace".into());
        }
        Ok(missing)
    }

    /// The workspace's desktop session, if it is active.
    pub async fn session(&self, caller: &Caller, id: &str) -> Result<Arc<Session>, Error> {
        let running = self.workspaces.running_now(caller, id).await?.ok_or_else(not_active)?;
        // Using the desktop is using the workspace (its idle timeout).
        self.workspaces.note_activity(id).await;
        let session = lock(&self.sessions).get(id).cloned().ok_or_else(not_active)?;
        match session.runtime.upgrade() {
            Some(runtime) if Arc::ptr_eq(&runtime, &running) => Ok(session),
            _ => {
                lock(&self.sessions).remove(id);
                Err(not_active())
            }
        }
    }

    /// The desktop's state, without starting anything.
    pub async fn status(&self, caller: &Caller, id: &str) -> Result<DesktopStatusResponse, Error> {
        let missing = self.missing(caller, id).await?;
        if !missing.is_empty() {
            return Ok(DesktopStatusResponse {
                state: DesktopState::InstallRequired,
                missing_dependencies: missing,
                install_command: Some(INSTALL_COMMAND.into()),
                ..inactive()
            });
        }
        let Ok(session) = self.session(caller, id).await else {
            return Ok(inactive());
        };
        let runtime = session.runtime()?;
        let processes = session
            .processes
            .iter()
            .map(|(name, process)| {
                let info = runtime.get(process).map(|p| p.info()).ok();
                DesktopProcessInfo {
                    name: name.clone(),
                    pid: info.as_ref().and_then(|i| i.pid),
                    running: info.as_ref().is_some_and(|i| i.status == ProcessState::Running),
                    log_path: Some(format!("/v1/processes/{process}/logs")),
                }
            })
            .collect::<Vec<_>>();
        if processes.iter().any(|p| !p.running) {
            let down: Vec<&str> = processes
                .iter()
                .filter(|p| !p.running)
                .map(|p| p.name.as_str())
                .collect();
            return Ok(DesktopStatusResponse {
                state: DesktopState::Failed,
                last_error: Some(DesktopErrorInfo {
                    code: "process_exited".into(),
                    message: format!("{} exited; its log is in the process API", down.join(" and ")),
                }),
                processes,
                ..inactive()
            });
        }
        let windows = session.with_x(|x| x.windows()).await.unwrap_or_default();
        Ok(DesktopStatusResponse {
            state: DesktopState::Active,
            display: Some(session.display.clone()),
            resolution: Some(session.resolution),
            started_at: Some(rfc3339(session.started_at)),
            processes,
            windows,
            ..inactive()
        })
    }

    /// Starts the workspace's desktop (and the workspace); an active one
    /// answers as it is.
    pub async fn start(
        &self,
        caller: &Caller,
        id: &str,
        request: DesktopStartRequest,
    ) -> Result<DesktopStatusResponse, Error> {
        let missing = self.missing(caller, id).await?;
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorCode::DesktopNotReady,
                format!(
                    "the desktop cannot run: missing {}; {INSTALL_COMMAND}",
                    missing.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "missingDependencies": missing })));
        }
        // One start at a time: two at once would both start an X server
        // on the same display.
        let _starting = self.starting.lock().await;
        if self.session(caller, id).await.is_ok() {
            return self.status(caller, id).await;
        }
        let runtime = self.workspaces.running(caller, id).await?;
        let mut created = Vec::new();
        match self.start_processes(&runtime, request, &mut created).await {
            Ok(session) => {
                lock(&self.sessions).insert(id.to_owned(), session);
                self.status(caller, id).await
            }
            Err(err) => {
                // A failed start leaves its processes' records (and logs)
                // to read, but none of them running.
                for process in created {
                    let _ = runtime
                        .signal(&process, libc::SIGKILL, Some(Duration::from_secs(2)))
                        .await;
                }
                Err(err)
            }
        }
    }

    /// Starts Xvfb and openbox in `runtime` and connects to the display;
    /// the processes it made are in `created` whatever the outcome.
    async fn start_processes(
        &self,
        runtime: &Arc<RunningJail>,
        request: DesktopStartRequest,
        created: &mut Vec<String>,
    ) -> Result<Arc<Session>, Error> {
        let width = checked("width", request.width, 1440, 64..=7680)?;
        let height = checked("height", request.height, 900, 64..=4320)?;
        let dpi = checked("dpi", request.dpi, 96, 24..=600)?;
        let display_num = checked("displayNum", request.display_num, 99, 1..=1000)?;
        let recording_fps = checked("recordingFps", request.recording_fps, 30, 1..=60)?;
        let display = format!(":{display_num}");
        let screen = format!("{width}x{height}x24");
        let dpi_text = dpi.to_string();
        let xvfb_args = [
            display.as_str(),
            "-screen",
            "0",
            &screen,
            "-dpi",
            &dpi_text,
            "-listen",
            "tcp",
            "-ac",
            // No abstract socket: the jail's processes are sibling Landlock
            // domains, scoped from each other's abstract sockets, and X
            // clients would try it first and give up; the socket file works.
            "-nolisten",
            "local",
        ];
        let xvfb = runtime
            .create_as(process("Xvfb", &xvfb_args, Default::default()), ProcessOwner::Desktop)
            .await?;
        created.push(xvfb.id.clone());
        let x = self.connect(runtime, &xvfb.id, display_num, width, height).await?;
        let openbox = runtime
            .create_as(
                process("openbox", &["--sm-disable"], display_env(&display)),
                ProcessOwner::Desktop,
            )
            .await?;
        created.push(openbox.id.clone());
        // The live view: a view-only VNC server on the display, on the
        // jail's own loopback (the server relays it to WebSocket viewers).
        let mut processes = vec![
            ("Xvfb".to_owned(), xvfb.id.clone()),
            ("openbox".to_owned(), openbox.id.clone()),
        ];
        let vnc_port = VNC_BASE_PORT + display_num as u16;
        let vnc_port = if std::path::Path::new(X11VNC).exists() {
            let port = vnc_port.to_string();
            let vnc = runtime
                .create_as(
                    process(
                        "x11vnc",
                        &[
                            "-display",
                            &display,
                            "-rfbport",
                            &port,
                            "-localhost",
                            "-shared",
                            "-forever",
                            "-nopw",
                            "-norc",
                            // People watch; agents and people act through
                            // the API (audited, one input path), and no X
                            // client may turn that off (`x11vnc -R`).
                            "-viewonly",
                            "-noremote",
                            // Xvfb has no damage extension worth using, and
                            // the X connection is not shared memory.
                            "-noxdamage",
                            "-noshm",
                            "-quiet",
                        ],
                        display_env(&display),
                    ),
                    ProcessOwner::Desktop,
                )
                .await?;
            created.push(vnc.id.clone());
            processes.push(("x11vnc".to_owned(), vnc.id.clone()));
            Some(vnc_port)
        } else {
            None
        };
        let session = Arc::new(Session {
            runtime: Arc::downgrade(runtime),
            display,
            resolution: DesktopResolution {
                width: width as i32,
                height: height as i32,
                dpi: Some(dpi as i32),
            },
            started_at: now_ms(),
            recording_fps,
            processes,
            vnc_port,
            viewers: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            x: Arc::new(tokio::sync::Mutex::new(x)),
            recordings: Mutex::new(Vec::new()),
            clipboard_owners: Mutex::new(HashMap::new()),
        });
        // EWMH (window lists, focus) needs the window manager up.
        let deadline = Instant::now() + START_TIMEOUT;
        while !session.with_x(|x| x.has_window_manager()).await? {
            if Instant::now() > deadline
                || runtime.get(&openbox.id).map(|p| p.info().status) != Ok(ProcessState::Running)
            {
                return Err(Error::new(
                    ErrorCode::DesktopFailed,
                    format!(
                        "openbox did not start (its log: GET …/v1/processes/{}/logs)",
                        openbox.id
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(session)
    }

    /// Connects to the display once Xvfb listens (or fails with its log).
    async fn connect(
        &self,
        runtime: &Arc<RunningJail>,
        xvfb: &str,
        display_num: u32,
        width: u32,
        height: u32,
    ) -> Result<X11Desktop, Error> {
        let port = 6000 + display_num as u16;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(stream) = runtime.executor().connect(port).await {
                let stream = stream.into_std().map_err(Error::internal)?;
                match tokio::task::spawn_blocking(move || X11Desktop::connect(stream, width, height)).await {
                    // What answered is our Xvfb only if it still runs (a
                    // program of the workspace may hold the port).
                    Ok(Ok(x)) if runtime.get(xvfb).map(|p| p.info().status) == Ok(ProcessState::Running) => {
                        return Ok(x)
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) if Instant::now() > deadline => return Err(err),
                    Ok(Err(_)) => {}
                    Err(err) => return Err(Error::internal(err)),
                }
            }
            let status = runtime.get(xvfb).map(|p| p.info());
            let ended = status.as_ref().map_or(true, |i| i.status != ProcessState::Running);
            if ended || Instant::now() > deadline {
                let log = runtime
                    .get(xvfb)
                    .map(|p| {
                        let chunks = p.read_log(
                            paddock_api::runtime::processes::ProcessLogsStream::Combined,
                            None,
                            Some(20),
                        );
                        chunks
                            .iter()
                            .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorCode::DesktopFailed,
                    format!("Xvfb did not start: {}", log.trim()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the desktop's processes (recordings end first, completed).
    pub async fn stop(&self, caller: &Caller, id: &str) -> Result<DesktopStatusResponse, Error> {
        if let Ok(session) = self.session(caller, id).await {
            let _ = self.stop_recording(caller, id).await;
            lock(&self.sessions).remove(id);
            if let Ok(runtime) = session.runtime() {
                for (_, process) in session.processes.iter().rev() {
                    let _ = runtime
                        .signal(process, libc::SIGTERM, Some(Duration::from_secs(2)))
                        .await;
                    let _ = runtime
                        .signal(process, libc::SIGKILL, Some(Duration::from_secs(1)))
                        .await;
                    let _ = runtime.delete(process);
                }
            }
        }
        self.status(caller, id).await
    }

    /// Display and resolution.
    pub async fn display_info(&self, caller: &Caller, id: &str) -> Result<DesktopDisplayInfoResponse, Error> {
        let session = self.session(caller, id).await?;
        Ok(DesktopDisplayInfoResponse {
            display: session.display.clone(),
            resolution: session.resolution,
        })
    }

    /// Starts a program on the desktop (a user process with `DISPLAY`).
    pub async fn launch(
        &self,
        caller: &Caller,
        id: &str,
        app: String,
        args: Vec<String>,
        wait: bool,
    ) -> Result<(String, Option<i32>, Option<String>), Error> {
        let session = self.session(caller, id).await?;
        let runtime = session.runtime()?;
        let before: Vec<String> = session
            .with_x(|x| x.windows())
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
        let info = runtime
            .create(ProcessCreateRequest {
                command: app,
                args,
                cwd: None,
                env: session.env(),
                interactive: false,
                tty: false,
            })
            .await?;
        let mut window = None;
        if wait {
            let deadline = Instant::now() + Duration::from_secs(10);
            while window.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let now = session.with_x(|x| x.windows()).await?;
                window = now.into_iter().map(|w| w.id).find(|w| !before.contains(w));
            }
        }
        Ok((info.id, info.pid, window))
    }

    /// A connection to the desktop's VNC server (x11vnc, in the jail),
    /// for the live view, and the viewer's place among
    /// [`MAX_VIEWERS`]; made by the jail's init, so the VNC server is
    /// never on the host's network. Waits for x11vnc to listen.
    pub async fn vnc(&self, caller: &Caller, id: &str) -> Result<(tokio::net::TcpStream, Viewer), Error> {
        let session = self.session(caller, id).await?;
        let runtime = session.runtime()?;
        let (Some(port), Some(x11vnc)) = (
            session.vnc_port,
            session
                .processes
                .iter()
                .find(|(name, _)| name == "x11vnc")
                .map(|(_, p)| p.clone()),
        ) else {
            return Err(Error::new(
                ErrorCode::DesktopNotReady,
                "this desktop has no live view: x11vnc is not installed (paddock flavors install desktop --replace on the server's host), then restart the desktop",
            ));
        };
        let viewer = Viewer::join(&session.viewers).ok_or_else(|| {
            Error::new(
                ErrorCode::TooManyRequests,
                format!("the desktop has {MAX_VIEWERS} live viewers already"),
            )
        })?;
        let deadline = Instant::now() + VNC_TIMEOUT;
        loop {
            let running = runtime.get(&x11vnc).map(|p| p.info().status) == Ok(ProcessState::Running);
            if !running {
                return Err(Error::new(
                    ErrorCode::DesktopFailed,
                    format!("x11vnc is not running (its log: GET …/v1/processes/{x11vnc}/logs)"),
                ));
            }
            if let Ok(stream) = runtime.executor().connect(port).await {
                return Ok((stream, viewer));
            }
            if Instant::now() > deadline {
                return Err(Error::new(
                    ErrorCode::DesktopFailed,
                    format!("x11vnc did not listen within {} s", VNC_TIMEOUT.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads a selection's text with `xclip`.
    pub async fn clipboard(&self, caller: &Caller, id: &str, selection: &str) -> Result<String, Error> {
        let session = self.session(caller, id).await?;
        let runtime = session.runtime()?;
        let selection = if selection == "both" { "clipboard" } else { selection };
        let ran = runtime
            .run(ProcessRunRequest {
                command: "xclip".into(),
                args: vec!["-selection".into(), selection.into(), "-o".into()],
                cwd: None,
                env: session.env(),
                timeout_ms: Some(5_000),
                max_output_bytes: Some(1 << 20),
            })
            .await?;
        // xclip fails when nothing owns the selection: an empty one.
        Ok(if ran.exit_code == Some(0) {
            ran.stdout
        } else {
            String::new()
        })
    }

    /// Owns a selection with `text` (an `xclip` that serves it until
    /// another program takes the selection).
    pub async fn set_clipboard(&self, caller: &Caller, id: &str, selection: &str, text: String) -> Result<(), Error> {
        let session = self.session(caller, id).await?;
        let runtime = session.runtime()?;
        let selections: &[&str] = match selection {
            "both" => &["clipboard", "primary"],
            "primary" => &["primary"],
            _ => &["clipboard"],
        };
        for selection in selections {
            let mut env = session.env();
            env.insert("PADDOCK_CLIPBOARD".into(), text.clone());
            let owner = runtime
                .create_as(
                    process(
                        "sh",
                        &[
                            "-c",
                            &format!("printf %s \"$PADDOCK_CLIPBOARD\" | exec xclip -quiet -selection {selection} -i"),
                        ],
                        env,
                    ),
                    ProcessOwner::Desktop,
                )
                .await?;
            // The owner before it lost the selection to this one and ends:
            // its record goes.
            let previous = lock(&session.clipboard_owners).insert((*selection).to_owned(), owner.id.clone());
            if let Some(previous) = previous {
                let _ = runtime
                    .signal(&previous, libc::SIGKILL, Some(Duration::from_secs(1)))
                    .await;
                let _ = runtime.delete(&previous);
            }
            // Wait until it owns the selection: the next read sees it.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if self.clipboard(caller, id, selection).await? == text {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(Error::new(
                        ErrorCode::DesktopFailed,
                        format!("xclip did not take the {selection} selection (process {})", owner.id),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Starts recording the display with ffmpeg (one at a time).
    pub async fn start_recording(
        &self,
        caller: &Caller,
        id: &str,
        fps: Option<i32>,
    ) -> Result<DesktopRecordingInfo, Error> {
        let session = self.session(caller, id).await?;
        let fps = match fps {
            Some(fps) => checked("fps", Some(fps), 30, 1..=60)?,
            None => session.recording_fps,
        };
        if lock(&session.recordings)
            .iter()
            .any(|r| r.status == DesktopRecordingStatus::Recording)
        {
            return Err(Error::new(
                ErrorCode::ProcessConflict,
                "a recording is already running: stop it first",
            ));
        }
        let runtime = session.runtime()?;
        let recording = crate::crypto::new_id("rec_");
        let file = format!("{RECORDINGS_DIR}/{recording}.mp4");
        let size = format!("{}x{}", session.resolution.width, session.resolution.height);
        let script = format!(
            "mkdir -p {RECORDINGS_DIR} && exec ffmpeg -hide_banner -loglevel error -y -f x11grab -draw_mouse 1 \
             -framerate {fps} -video_size {size} -i {display} -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
             -movflags +faststart {file}",
            display = session.display
        );
        let info = runtime
            .create_as(process("sh", &["-c", &script], session.env()), ProcessOwner::Desktop)
            .await?;
        let record = DesktopRecordingInfo {
            id: recording,
            file_name: file,
            bytes: 0,
            status: DesktopRecordingStatus::Recording,
            started_at: rfc3339(now_ms()),
            ended_at: None,
            process_id: Some(info.id),
        };
        lock(&session.recordings).push(record.clone());
        Ok(record)
    }

    /// Stops the running recording: ffmpeg finishes the file on SIGINT.
    pub async fn stop_recording(&self, caller: &Caller, id: &str) -> Result<DesktopRecordingInfo, Error> {
        let session = self.session(caller, id).await?;
        let runtime = session.runtime()?;
        let current = lock(&session.recordings)
            .iter()
            .find(|r| r.status == DesktopRecordingStatus::Recording)
            .cloned()
            .ok_or_else(|| Error::new(ErrorCode::ProcessConflict, "no recording is running"))?;
        let process = current.process_id.clone().unwrap_or_default();
        // ffmpeg's record may be gone (deleted through the process API):
        // the recording ends either way.
        if let Ok(ended) = runtime
            .signal(&process, libc::SIGINT, Some(Duration::from_secs(10)))
            .await
        {
            if ended.status == ProcessState::Running {
                let _ = runtime
                    .signal(&process, libc::SIGKILL, Some(Duration::from_secs(2)))
                    .await;
            }
        }
        let bytes = self.recording_size(caller, id, &current.file_name).await;
        let status = match bytes {
            Some(bytes) if bytes > 0 => DesktopRecordingStatus::Completed,
            _ => DesktopRecordingStatus::Failed,
        };
        let mut recordings = lock(&session.recordings);
        let record = recordings
            .iter_mut()
            .find(|r| r.id == current.id)
            .ok_or_else(|| Error::internal("a recording vanished while it stopped"))?;
        record.status = status;
        record.bytes = bytes.unwrap_or(0);
        record.ended_at = Some(rfc3339(now_ms()));
        Ok(record.clone())
    }

    async fn recording_size(&self, caller: &Caller, id: &str, file: &str) -> Option<u64> {
        let access = self.workspaces.tree_access(caller, id).await.ok()?;
        crate::services::files::stat(access, file)
            .await
            .ok()
            .map(|stat| stat.size)
    }

    /// The recordings of the running desktop, with their sizes now.
    pub async fn recordings(&self, caller: &Caller, id: &str) -> Result<Vec<DesktopRecordingInfo>, Error> {
        let session = self.session(caller, id).await?;
        let mut recordings = lock(&session.recordings).clone();
        for record in &mut recordings {
            record.bytes = self.recording_size(caller, id, &record.file_name).await.unwrap_or(0);
        }
        Ok(recordings)
    }

    /// One recording.
    pub async fn recording(&self, caller: &Caller, id: &str, recording: &str) -> Result<DesktopRecordingInfo, Error> {
        self.recordings(caller, id)
            .await?
            .into_iter()
            .find(|r| r.id == recording)
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no recording {recording:?}")))
    }

    /// Deletes a finished recording and its file.
    pub async fn delete_recording(&self, caller: &Caller, id: &str, recording: &str) -> Result<(), Error> {
        let record = self.recording(caller, id, recording).await?;
        if record.status == DesktopRecordingStatus::Recording {
            return Err(Error::new(
                ErrorCode::ProcessConflict,
                "the recording is running: stop it first",
            ));
        }
        let access = self.workspaces.tree_access(caller, id).await?;
        // Already gone from the tree is fine: the record goes either way.
        let _ = crate::services::files::remove(access, &record.file_name, false).await;
        let session = self.session(caller, id).await?;
        lock(&session.recordings).retain(|r| r.id != recording);
        Ok(())
    }
}

/// A status with nothing running.
fn inactive() -> DesktopStatusResponse {
    DesktopStatusResponse {
        state: DesktopState::Inactive,
        display: None,
        resolution: None,
        started_at: None,
        last_error: None,
        missing_dependencies: Vec::new(),
        install_command: None,
        processes: Vec::new(),
        runtime_log_path: None,
        windows: Vec::new(),
    }
}

/// `DISPLAY` for a program on display `display` (`:N`).
fn display_env(display: &str) -> std::collections::BTreeMap<String, String> {
    [("DISPLAY".to_owned(), display.to_owned())].into_iter().collect()
}

fn process(command: &str, args: &[&str], env: std::collections::BTreeMap<String, String>) -> ProcessCreateRequest {
    ProcessCreateRequest {
        command: command.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: None,
        env,
        interactive: false,
        tty: false,
    }
}

/// `value` (or `default`) when it is in `range`.
fn checked(name: &str, value: Option<i32>, default: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, Error> {
    let value = value.map_or(Ok(default), |v| u32::try_from(v).map_err(|_| ()));
    match value {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(Error::new(
            ErrorCode::BadRequest,
            format!("{name} must be {}..={}", range.start(), range.end()),
        )),
    }
}

/// JPEG quality and the checked scale of a screenshot query.
pub fn screenshot_options(quality: Option<i32>, scale: Option<f32>) -> Result<(u8, f32), Error> {
    let quality = checked("quality", quality, 85, 1..=100)? as u8;
    let scale = scale.unwrap_or(1.0);
    if !(0.1..=1.0).contains(&scale) || scale.is_nan() {
        return Err(Error::new(ErrorCode::BadRequest, "scale must be 0.1..=1"));
    }
    Ok((quality, scale))
}
