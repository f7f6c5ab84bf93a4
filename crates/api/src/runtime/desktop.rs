//! A workspace's desktop (`…/runtime/v1/desktop/*`): sandbox-agent 0.4.2's
//! desktop shapes. An X display (Xvfb) with a window manager (openbox) runs
//! in the workspace's jail; input, screenshots and windows are driven over
//! X11 by the server, recordings by ffmpeg.

use serde::{Deserialize, Serialize};

/// `POST …/desktop/start`. The streaming fields are accepted and ignored
/// (paddock serves no WebRTC stream).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopStartRequest {
    /// Pixels (default 1440, 64..=7680).
    #[serde(default)]
    pub width: Option<i32>,
    /// Pixels (default 900, 64..=4320).
    #[serde(default)]
    pub height: Option<i32>,
    /// Dots per inch (default 96).
    #[serde(default)]
    pub dpi: Option<i32>,
    /// The X display number (default 99, 1..=1000).
    #[serde(default)]
    pub display_num: Option<i32>,
    /// Frames per second of recordings (default 30).
    #[serde(default)]
    pub recording_fps: Option<i32>,
    #[serde(default)]
    pub state_dir: Option<String>,
    #[serde(default)]
    pub stream_video_codec: Option<String>,
    #[serde(default)]
    pub stream_audio_codec: Option<String>,
    #[serde(default)]
    pub stream_frame_rate: Option<i32>,
    #[serde(default)]
    pub webrtc_port_range: Option<String>,
}

/// The desktop's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DesktopState {
    Inactive,
    InstallRequired,
    Starting,
    Active,
    Stopping,
    Failed,
}

/// A display's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopResolution {
    pub width: i32,
    pub height: i32,
    #[serde(default)]
    pub dpi: Option<i32>,
}

/// Why the desktop failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopErrorInfo {
    pub code: String,
    pub message: String,
}

/// One of the desktop's own processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopProcessInfo {
    pub name: String,
    #[serde(default)]
    pub pid: Option<i32>,
    pub running: bool,
    /// Its log: the process API's logs of `processId`.
    #[serde(default)]
    pub log_path: Option<String>,
}

/// A top-level window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopWindowInfo {
    /// The X window id, `0x…`.
    pub id: String,
    pub title: String,
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub is_active: bool,
}

/// `GET …/desktop/status` (and the answer of start and stop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopStatusResponse {
    pub state: DesktopState,
    /// `:99`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<DesktopResolution>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<DesktopErrorInfo>,
    /// What is missing for `install_required`.
    pub missing_dependencies: Vec<String>,
    /// How to install what is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_command: Option<String>,
    pub processes: Vec<DesktopProcessInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_log_path: Option<String>,
    /// Visible windows, while active.
    pub windows: Vec<DesktopWindowInfo>,
}

/// `GET …/desktop/display/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopDisplayInfoResponse {
    pub display: String,
    pub resolution: DesktopResolution,
}

/// An image format of screenshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesktopScreenshotFormat {
    #[default]
    Png,
    Jpeg,
    Webp,
}

impl DesktopScreenshotFormat {
    /// The media type of an image in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            DesktopScreenshotFormat::Png => "image/png",
            DesktopScreenshotFormat::Jpeg => "image/jpeg",
            DesktopScreenshotFormat::Webp => "image/webp",
        }
    }
}

/// `GET …/desktop/screenshot`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DesktopScreenshotQuery {
    /// `png` (default), `jpeg` or `webp` (lossless).
    #[serde(default)]
    #[param(inline)]
    pub format: Option<DesktopScreenshotFormat>,
    /// JPEG quality, 1..=100 (default 85).
    #[serde(default)]
    pub quality: Option<i32>,
    /// 0.1..=1 (default 1).
    #[serde(default)]
    pub scale: Option<f32>,
    /// Draw the pointer (default true).
    #[serde(default)]
    pub show_cursor: Option<bool>,
}

/// `GET …/desktop/screenshot/region`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DesktopRegionScreenshotQuery {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    #[serde(default)]
    #[param(inline)]
    pub format: Option<DesktopScreenshotFormat>,
    #[serde(default)]
    pub quality: Option<i32>,
    #[serde(default)]
    pub scale: Option<f32>,
    #[serde(default)]
    pub show_cursor: Option<bool>,
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesktopMouseButton {
    #[default]
    Left,
    Middle,
    Right,
}

/// `POST …/desktop/mouse/move`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopMouseMoveRequest {
    pub x: i32,
    pub y: i32,
}

/// `POST …/desktop/mouse/click`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopMouseClickRequest {
    pub x: i32,
    pub y: i32,
    #[serde(default)]
    pub button: Option<DesktopMouseButton>,
    /// 1..=10 (default 1: 2 is a double click).
    #[serde(default)]
    pub click_count: Option<i32>,
}

/// `POST …/desktop/mouse/down` and `…/up`: at the pointer, or at `x, y`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopMouseButtonRequest {
    #[serde(default)]
    pub x: Option<i32>,
    #[serde(default)]
    pub y: Option<i32>,
    #[serde(default)]
    pub button: Option<DesktopMouseButton>,
}

/// `POST …/desktop/mouse/drag`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopMouseDragRequest {
    pub start_x: i32,
    pub start_y: i32,
    pub end_x: i32,
    pub end_y: i32,
    #[serde(default)]
    pub button: Option<DesktopMouseButton>,
}

/// `POST …/desktop/mouse/scroll`: wheel clicks at `x, y` (positive
/// `deltaY` scrolls down, positive `deltaX` right).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopMouseScrollRequest {
    pub x: i32,
    pub y: i32,
    #[serde(default)]
    pub delta_x: Option<i32>,
    #[serde(default)]
    pub delta_y: Option<i32>,
}

/// Where the pointer is (every mouse route answers it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopMousePositionResponse {
    pub x: i32,
    pub y: i32,
    #[serde(default)]
    pub screen: Option<i32>,
    /// The window under the pointer, `0x…`.
    #[serde(default)]
    pub window: Option<String>,
}

/// `POST …/desktop/keyboard/type`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopKeyboardTypeRequest {
    /// Any Unicode text (at most 10000 characters).
    pub text: String,
    /// Between keys, ms (0..=1000; default 0).
    #[serde(default)]
    pub delay_ms: Option<i32>,
}

/// Modifiers held around a key press.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopKeyModifiers {
    #[serde(default)]
    pub ctrl: Option<bool>,
    #[serde(default)]
    pub shift: Option<bool>,
    #[serde(default)]
    pub alt: Option<bool>,
    #[serde(default)]
    pub cmd: Option<bool>,
}

/// `POST …/desktop/keyboard/press`: a key by its X keysym name (`Return`,
/// `a`, `F5`, `ctrl+shift+t` as xdotool writes them).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopKeyboardPressRequest {
    pub key: String,
    #[serde(default)]
    pub modifiers: Option<DesktopKeyModifiers>,
}

/// `POST …/desktop/keyboard/down` and `…/up`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopKeyRequest {
    pub key: String,
}

/// What an action route answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopActionResponse {
    pub ok: bool,
}

/// `GET …/desktop/windows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopWindowListResponse {
    pub windows: Vec<DesktopWindowInfo>,
}

/// `POST …/desktop/windows/{id}/move`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopWindowMoveRequest {
    pub x: i32,
    pub y: i32,
}

/// `POST …/desktop/windows/{id}/resize`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopWindowResizeRequest {
    pub width: i32,
    pub height: i32,
}

/// `GET …/desktop/clipboard`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DesktopClipboardQuery {
    /// `clipboard` (default), `primary` or `both` (the clipboard's text).
    #[serde(default)]
    pub selection: Option<String>,
}

/// The text of a selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopClipboardResponse {
    pub selection: String,
    pub text: String,
}

/// `POST …/desktop/clipboard`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopClipboardWriteRequest {
    pub text: String,
    /// `clipboard` (default), `primary` or `both`.
    #[serde(default)]
    pub selection: Option<String>,
}

/// `POST …/desktop/launch`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopLaunchRequest {
    pub app: String,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Wait (up to 10 s) for its first window, answered in `windowId`.
    #[serde(default)]
    pub wait: Option<bool>,
}

/// What `launch` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopLaunchResponse {
    /// The process API's id.
    pub process_id: String,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub window_id: Option<String>,
}

/// `POST …/desktop/open`: a file or URL with `xdg-open`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopOpenRequest {
    pub target: String,
}

/// What `open` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopOpenResponse {
    pub process_id: String,
    #[serde(default)]
    pub pid: Option<i32>,
}

/// `POST …/desktop/recording/start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopRecordingStartRequest {
    /// 1..=60 (default: the desktop's `recordingFps`, 30).
    #[serde(default)]
    pub fps: Option<i32>,
}

/// A recording's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesktopRecordingStatus {
    Recording,
    Completed,
    Failed,
}

/// A recording (MP4, H.264).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopRecordingInfo {
    pub id: String,
    /// Its path in the workspace.
    pub file_name: String,
    pub bytes: u64,
    pub status: DesktopRecordingStatus,
    /// RFC 3339.
    pub started_at: String,
    #[serde(default)]
    pub ended_at: Option<String>,
    /// ffmpeg's process id in the process API.
    #[serde(default)]
    pub process_id: Option<String>,
}

/// `GET …/desktop/recordings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesktopRecordingListResponse {
    pub recordings: Vec<DesktopRecordingInfo>,
}

/// `GET …/desktop/stream/status`: paddock serves no WebRTC stream, so it
/// is never active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopStreamStatusResponse {
    pub active: bool,
    #[serde(default)]
    pub process_id: Option<String>,
    #[serde(default)]
    pub window_id: Option<String>,
}
