//! A workspace's desktop under its runtime base URL: sandbox-agent 0.4.2's
//! `/v1/desktop/*` routes and shapes (the work is
//! [`crate::services::desktop`]). Input and screenshots go over the
//! server's own X11 connection into the jail, one call at a time.

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use paddock_api::runtime::desktop::{
    DesktopActionResponse, DesktopClipboardQuery, DesktopClipboardResponse, DesktopClipboardWriteRequest,
    DesktopDisplayInfoResponse, DesktopKeyRequest, DesktopKeyboardPressRequest, DesktopKeyboardTypeRequest,
    DesktopLaunchRequest, DesktopLaunchResponse, DesktopMouseButton, DesktopMouseButtonRequest,
    DesktopMouseClickRequest, DesktopMouseDragRequest, DesktopMouseMoveRequest, DesktopMousePositionResponse,
    DesktopMouseScrollRequest, DesktopOpenRequest, DesktopOpenResponse, DesktopRecordingInfo,
    DesktopRecordingListResponse, DesktopRecordingStartRequest, DesktopRegionScreenshotQuery, DesktopScreenshotFormat,
    DesktopScreenshotQuery, DesktopStartRequest, DesktopStatusResponse, DesktopStreamStatusResponse, DesktopWindowInfo,
    DesktopWindowListResponse, DesktopWindowMoveRequest, DesktopWindowResizeRequest,
};
use paddock_api::runtime::problem::ProblemDetails;
use paddock_api::{Error, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use x11rb::protocol::xproto::ConfigureWindowAux;

use super::{ProblemResult, RuntimeCaller, RuntimeJson};
use crate::app::SharedState;
use crate::services::desktop::x11::{self, chord, parse_window_id, X11Desktop};
use crate::services::desktop::{screenshot_options, Session, MAX_TYPED};
use crate::services::identity::Caller;

/// The desktop routes.
pub(super) fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(status))
        .routes(routes!(display_info))
        .routes(routes!(screenshot))
        .routes(routes!(screenshot_region))
        .routes(routes!(mouse_position))
        .routes(routes!(mouse_move))
        .routes(routes!(mouse_click))
        .routes(routes!(mouse_down))
        .routes(routes!(mouse_up))
        .routes(routes!(mouse_drag))
        .routes(routes!(mouse_scroll))
        .routes(routes!(keyboard_type))
        .routes(routes!(keyboard_press))
        .routes(routes!(keyboard_down))
        .routes(routes!(keyboard_up))
        .routes(routes!(windows))
        .routes(routes!(focused_window))
        .routes(routes!(focus_window))
        .routes(routes!(move_window))
        .routes(routes!(resize_window))
        .routes(routes!(get_clipboard, set_clipboard))
        .routes(routes!(launch))
        .routes(routes!(open))
        .routes(routes!(vnc))
        .routes(routes!(recording_start))
        .routes(routes!(recording_stop))
        .routes(routes!(recordings))
        .routes(routes!(recording, delete_recording))
        .routes(routes!(download_recording))
        .routes(routes!(stream_status))
        .routes(routes!(stream_start))
        .routes(routes!(stream_stop))
}

/// The active desktop of the workspace.
async fn session(state: &SharedState, caller: &Caller, id: &str) -> Result<std::sync::Arc<Session>, Error> {
    state.desktops.session(caller, id).await
}

/// Runs `work` on the workspace's display, then answers where the pointer is.
async fn pointer_after(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    work: impl FnOnce(&mut X11Desktop) -> Result<(), Error> + Send + 'static,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    let session = session(state, caller, id).await?;
    let (x, y, window) = session
        .with_x(move |x| {
            work(x)?;
            x.pointer()
        })
        .await?;
    Ok(Json(DesktopMousePositionResponse {
        x,
        y,
        screen: Some(0),
        window: window.map(x11::window_id),
    }))
}

/// Runs `work` on the workspace's display; answers `{"ok": true}`.
async fn action(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    work: impl FnOnce(&mut X11Desktop) -> Result<(), Error> + Send + 'static,
) -> ProblemResult<Json<DesktopActionResponse>> {
    session(state, caller, id).await?.with_x(work).await?;
    Ok(Json(DesktopActionResponse { ok: true }))
}

/// A JSON body that may be left out (sandbox-agent's SDK sends none, or
/// `{}`, for the routes whose fields are all optional).
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|err| Error::new(ErrorCode::BadBody, format!("the body: {err}")))
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/start", operation_id = "runtimeDesktopStart", summary = "Start the desktop",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopStartRequest,
    responses((status = 200, description = "The desktop's status", body = DesktopStatusResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn start(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ProblemResult<Json<DesktopStatusResponse>> {
    let request: DesktopStartRequest = optional_json(&body)?;
    Ok(Json(state.desktops.start(&caller, &id, request).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/stop", operation_id = "runtimeDesktopStop", summary = "Stop the desktop",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The desktop's status", body = DesktopStatusResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stop(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopStatusResponse>> {
    Ok(Json(state.desktops.stop(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/status", operation_id = "runtimeDesktopStatus", summary = "The desktop's status",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The desktop's status (`install_required` names what is missing)", body = DesktopStatusResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn status(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopStatusResponse>> {
    Ok(Json(state.desktops.status(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/display/info", operation_id = "runtimeDesktopDisplayInfo", summary = "Display and resolution",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The display", body = DesktopDisplayInfoResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn display_info(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopDisplayInfoResponse>> {
    Ok(Json(state.desktops.display_info(&caller, &id).await?))
}

/// A screenshot of `(x, y, width, height)` (the whole screen when `None`).
#[allow(clippy::too_many_arguments)]
async fn capture(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    region: Option<(i32, i32, i32, i32)>,
    format: Option<DesktopScreenshotFormat>,
    quality: Option<i32>,
    scale: Option<f32>,
    cursor: Option<bool>,
) -> ProblemResult<Response> {
    let format = format.unwrap_or_default();
    let (quality, scale) = screenshot_options(quality, scale)?;
    let session = session(state, caller, id).await?;
    let bytes = session
        .screenshot(region, format, quality, scale, cursor.unwrap_or(true))
        .await?;
    let mut response = Body::from(bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/screenshot", operation_id = "runtimeDesktopScreenshot", summary = "Screenshot of the whole screen",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), DesktopScreenshotQuery),
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", body = Vec<u8>, content_type = "image/png"), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn screenshot(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<DesktopScreenshotQuery>,
) -> ProblemResult<Response> {
    capture(
        &state,
        &caller,
        &id,
        None,
        query.format,
        query.quality,
        query.scale,
        query.show_cursor,
    )
    .await
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/screenshot/region", operation_id = "runtimeDesktopScreenshotRegion", summary = "Screenshot of a region",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), DesktopRegionScreenshotQuery),
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", body = Vec<u8>, content_type = "image/png"), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn screenshot_region(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<DesktopRegionScreenshotQuery>,
) -> ProblemResult<Response> {
    let region = Some((query.x, query.y, query.width, query.height));
    capture(
        &state,
        &caller,
        &id,
        region,
        query.format,
        query.quality,
        query.scale,
        query.show_cursor,
    )
    .await
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/position", operation_id = "runtimeDesktopMousePosition", summary = "Where the pointer is",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_position(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    pointer_after(&state, &caller, &id, |_| Ok(())).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/move", operation_id = "runtimeDesktopMouseMove", summary = "Move the pointer",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseMoveRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_move(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopMouseMoveRequest>,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    pointer_after(&state, &caller, &id, move |x| x.move_to(body.x, body.y)).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/click", operation_id = "runtimeDesktopMouseClick", summary = "Click",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseClickRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_click(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopMouseClickRequest>,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    let count = body.click_count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(bad("clickCount must be 1..=10").into());
    }
    let button = body.button.unwrap_or_default();
    pointer_after(&state, &caller, &id, move |x| {
        x.click(body.x, body.y, button, count as u32)
    })
    .await
}

/// Presses or releases a button, first moving to `x, y` when given.
async fn mouse_button(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    body: DesktopMouseButtonRequest,
    down: bool,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    let button: DesktopMouseButton = body.button.unwrap_or_default();
    pointer_after(state, caller, id, move |x| {
        if let (Some(px), Some(py)) = (body.x, body.y) {
            x.move_to(px, py)?;
        }
        x.button(button, down)
    })
    .await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/down", operation_id = "runtimeDesktopMouseDown", summary = "Press a mouse button",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseButtonRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_down(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    mouse_button(&state, &caller, &id, optional_json(&body)?, true).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/up", operation_id = "runtimeDesktopMouseUp", summary = "Release a mouse button",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseButtonRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_up(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    mouse_button(&state, &caller, &id, optional_json(&body)?, false).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/drag", operation_id = "runtimeDesktopMouseDrag", summary = "Drag",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseDragRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_drag(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopMouseDragRequest>,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    let button = body.button.unwrap_or_default();
    pointer_after(&state, &caller, &id, move |x| {
        x.drag((body.start_x, body.start_y), (body.end_x, body.end_y), button)
    })
    .await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/mouse/scroll", operation_id = "runtimeDesktopMouseScroll", summary = "Scroll",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopMouseScrollRequest,
    responses((status = 200, description = "The pointer", body = DesktopMousePositionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mouse_scroll(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopMouseScrollRequest>,
) -> ProblemResult<Json<DesktopMousePositionResponse>> {
    let (dx, dy) = (body.delta_x.unwrap_or(0), body.delta_y.unwrap_or(0));
    pointer_after(&state, &caller, &id, move |x| x.scroll(body.x, body.y, dx, dy)).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/keyboard/type", operation_id = "runtimeDesktopKeyboardType", summary = "Type text",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopKeyboardTypeRequest,
    responses((status = 200, description = "Typed", body = DesktopActionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn keyboard_type(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopKeyboardTypeRequest>,
) -> ProblemResult<Json<DesktopActionResponse>> {
    if body.text.chars().count() > MAX_TYPED {
        return Err(bad(format!("text is longer than {MAX_TYPED} characters")).into());
    }
    let delay = body.delay_ms.unwrap_or(0);
    if !(0..=1000).contains(&delay) {
        return Err(bad("delayMs must be 0..=1000").into());
    }
    let delay = std::time::Duration::from_millis(delay as u64);
    session(&state, &caller, &id)
        .await?
        .type_text(&body.text, delay)
        .await?;
    Ok(Json(DesktopActionResponse { ok: true }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/keyboard/press", operation_id = "runtimeDesktopKeyboardPress", summary = "Press a key or chord",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopKeyboardPressRequest,
    responses((status = 200, description = "Pressed", body = DesktopActionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn keyboard_press(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopKeyboardPressRequest>,
) -> ProblemResult<Json<DesktopActionResponse>> {
    let keys = chord(&body.key, body.modifiers)?;
    action(&state, &caller, &id, move |x| x.press(&keys)).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/keyboard/down", operation_id = "runtimeDesktopKeyboardDown", summary = "Hold a key down",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopKeyRequest,
    responses((status = 200, description = "Done", body = DesktopActionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn keyboard_down(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopKeyRequest>,
) -> ProblemResult<Json<DesktopActionResponse>> {
    let keys = chord(&body.key, None)?;
    action(&state, &caller, &id, move |x| {
        keys.iter().try_for_each(|k| x.key_raw(*k, true))
    })
    .await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/keyboard/up", operation_id = "runtimeDesktopKeyboardUp", summary = "Release a key",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopKeyRequest,
    responses((status = 200, description = "Done", body = DesktopActionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn keyboard_up(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopKeyRequest>,
) -> ProblemResult<Json<DesktopActionResponse>> {
    let keys = chord(&body.key, None)?;
    action(&state, &caller, &id, move |x| {
        keys.iter().rev().try_for_each(|k| x.key_raw(*k, false))
    })
    .await
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/windows", operation_id = "runtimeDesktopWindows", summary = "List windows",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "Top-level windows", body = DesktopWindowListResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn windows(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopWindowListResponse>> {
    let windows = session(&state, &caller, &id).await?.with_x(|x| x.windows()).await?;
    Ok(Json(DesktopWindowListResponse { windows }))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/windows/focused", operation_id = "runtimeDesktopFocusedWindow", summary = "The focused window",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The window", body = DesktopWindowInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn focused_window(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopWindowInfo>> {
    let window = session(&state, &caller, &id)
        .await?
        .with_x(|x| {
            let active = x
                .active_window()?
                .ok_or_else(|| Error::new(ErrorCode::NotFound, "no window has the focus"))?;
            x.window(active, Some(active))
        })
        .await?;
    Ok(Json(window))
}

/// Runs `work` on window `window`, then answers it (after the window
/// manager had a moment to apply the change).
async fn on_window(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    window: &str,
    work: impl FnOnce(&mut X11Desktop, u32) -> Result<(), Error> + Send + 'static,
) -> ProblemResult<Json<DesktopWindowInfo>> {
    let window = parse_window_id(window)?;
    let session = session(state, caller, id).await?;
    session
        .with_x(move |x| {
            x.window(window, None)?;
            work(x, window)
        })
        .await?;
    let mut answer = None;
    // openbox applies moves, resizes and focus asynchronously.
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        answer = Some(
            session
                .with_x(move |x| {
                    let active = x.active_window()?;
                    x.window(window, active)
                })
                .await?,
        );
    }
    Ok(Json(answer.ok_or_else(|| Error::internal("no window answer"))?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/focus", operation_id = "runtimeDesktopFocusWindow", summary = "Focus a window",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("window" = String, Path, description = "Window id (`0x…`)")),
    responses((status = 200, description = "The window", body = DesktopWindowInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn focus_window(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, window)): Path<(String, String)>,
) -> ProblemResult<Json<DesktopWindowInfo>> {
    on_window(&state, &caller, &id, &window, |x, w| x.focus(w)).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/move", operation_id = "runtimeDesktopMoveWindow", summary = "Move a window",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("window" = String, Path, description = "Window id (`0x…`)")), request_body = DesktopWindowMoveRequest,
    responses((status = 200, description = "The window", body = DesktopWindowInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn move_window(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, window)): Path<(String, String)>,
    RuntimeJson(body): RuntimeJson<DesktopWindowMoveRequest>,
) -> ProblemResult<Json<DesktopWindowInfo>> {
    on_window(&state, &caller, &id, &window, move |x, w| {
        x.configure(w, &ConfigureWindowAux::new().x(body.x).y(body.y))
    })
    .await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/resize", operation_id = "runtimeDesktopResizeWindow", summary = "Resize a window",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("window" = String, Path, description = "Window id (`0x…`)")), request_body = DesktopWindowResizeRequest,
    responses((status = 200, description = "The window", body = DesktopWindowInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn resize_window(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, window)): Path<(String, String)>,
    RuntimeJson(body): RuntimeJson<DesktopWindowResizeRequest>,
) -> ProblemResult<Json<DesktopWindowInfo>> {
    if body.width < 1 || body.height < 1 || body.width > 16384 || body.height > 16384 {
        return Err(bad("width and height must be 1..=16384").into());
    }
    on_window(&state, &caller, &id, &window, move |x, w| {
        x.configure(
            w,
            &ConfigureWindowAux::new()
                .width(body.width as u32)
                .height(body.height as u32),
        )
    })
    .await
}

/// `clipboard` (default), `primary` or `both`.
fn selection(name: Option<&str>) -> Result<&'static str, Error> {
    match name.unwrap_or("clipboard") {
        "clipboard" => Ok("clipboard"),
        "primary" => Ok("primary"),
        "both" => Ok("both"),
        other => Err(bad(format!(
            "selection must be clipboard, primary or both, not {other:?}"
        ))),
    }
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/clipboard", operation_id = "runtimeDesktopGetClipboard", summary = "Read the clipboard",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), DesktopClipboardQuery),
    responses((status = 200, description = "The selection's text", body = DesktopClipboardResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get_clipboard(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<DesktopClipboardQuery>,
) -> ProblemResult<Json<DesktopClipboardResponse>> {
    let selection = selection(query.selection.as_deref())?;
    let text = state.desktops.clipboard(&caller, &id, selection).await?;
    Ok(Json(DesktopClipboardResponse {
        selection: selection.to_owned(),
        text,
    }))
}

/// Longest clipboard text written, bytes (it travels to `xclip` in an
/// environment variable, which Linux caps at 128 KiB).
const MAX_CLIPBOARD: usize = 100 << 10;

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/clipboard", operation_id = "runtimeDesktopSetClipboard", summary = "Write the clipboard",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopClipboardWriteRequest,
    responses((status = 200, description = "Written", body = DesktopActionResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn set_clipboard(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopClipboardWriteRequest>,
) -> ProblemResult<Json<DesktopActionResponse>> {
    let selection = selection(body.selection.as_deref())?;
    if body.text.len() > MAX_CLIPBOARD || body.text.contains('\0') {
        return Err(bad("the text must be at most 100 KiB, without NUL").into());
    }
    state.desktops.set_clipboard(&caller, &id, selection, body.text).await?;
    Ok(Json(DesktopActionResponse { ok: true }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/launch", operation_id = "runtimeDesktopLaunch", summary = "Launch a program on the desktop",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopLaunchRequest,
    responses((status = 200, description = "Its process", body = DesktopLaunchResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn launch(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopLaunchRequest>,
) -> ProblemResult<Json<DesktopLaunchResponse>> {
    let (process_id, pid, window_id) = state
        .desktops
        .launch(
            &caller,
            &id,
            body.app,
            body.args.unwrap_or_default(),
            body.wait.unwrap_or(false),
        )
        .await?;
    Ok(Json(DesktopLaunchResponse {
        process_id,
        pid,
        window_id,
    }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/open", operation_id = "runtimeDesktopOpen", summary = "Open a file or URL (xdg-open)",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopOpenRequest,
    responses((status = 200, description = "Its process", body = DesktopOpenResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn open(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<DesktopOpenRequest>,
) -> ProblemResult<Json<DesktopOpenResponse>> {
    let (process_id, pid, _) = state
        .desktops
        .launch(&caller, &id, "xdg-open".into(), vec![body.target], false)
        .await?;
    Ok(Json(DesktopOpenResponse { process_id, pid }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/recording/start", operation_id = "runtimeDesktopRecordingStart", summary = "Start recording",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = DesktopRecordingStartRequest,
    responses((status = 200, description = "The recording", body = DesktopRecordingInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn recording_start(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ProblemResult<Json<DesktopRecordingInfo>> {
    let fps = optional_json::<DesktopRecordingStartRequest>(&body)?.fps;
    Ok(Json(state.desktops.start_recording(&caller, &id, fps).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/recording/stop", operation_id = "runtimeDesktopRecordingStop", summary = "Stop recording",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The finished recording", body = DesktopRecordingInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn recording_stop(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopRecordingInfo>> {
    Ok(Json(state.desktops.stop_recording(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/recordings", operation_id = "runtimeDesktopRecordings", summary = "List recordings",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The recordings", body = DesktopRecordingListResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn recordings(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopRecordingListResponse>> {
    Ok(Json(DesktopRecordingListResponse {
        recordings: state.desktops.recordings(&caller, &id).await?,
    }))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}", operation_id = "runtimeDesktopRecording", summary = "A recording",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("recording" = String, Path, description = "Recording id")),
    responses((status = 200, description = "The recording", body = DesktopRecordingInfo), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn recording(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, recording)): Path<(String, String)>,
) -> ProblemResult<Json<DesktopRecordingInfo>> {
    Ok(Json(state.desktops.recording(&caller, &id, &recording).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}", operation_id = "runtimeDesktopDeleteRecording", summary = "Delete a recording",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("recording" = String, Path, description = "Recording id")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete_recording(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, recording)): Path<(String, String)>,
) -> ProblemResult<StatusCode> {
    state.desktops.delete_recording(&caller, &id, &recording).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}/download", operation_id = "runtimeDesktopDownloadRecording", summary = "Download a recording (MP4)",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("recording" = String, Path, description = "Recording id")),
    responses((status = 200, description = "The MP4", body = Vec<u8>, content_type = "video/mp4"), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn download_recording(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path((id, recording)): Path<(String, String)>,
) -> ProblemResult<Response> {
    let record = state.desktops.recording(&caller, &id, &recording).await?;
    if record.status != paddock_api::runtime::desktop::DesktopRecordingStatus::Completed {
        return Err(Error::new(ErrorCode::ProcessConflict, "the recording is not completed").into());
    }
    let access = state.workspaces.tree_access(&caller, &id).await?;
    let file = crate::services::files::read(access, &record.file_name).await?;
    let mut response = Body::from_stream(file.stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.len));
    Ok(response)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/stream/status", operation_id = "runtimeDesktopStreamStatus", summary = "Live stream status",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "Never active: paddock serves no WebRTC stream", body = DesktopStreamStatusResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stream_status(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopStreamStatusResponse>> {
    state.workspaces.get(&caller, &id).await?;
    Ok(Json(DesktopStreamStatusResponse {
        active: false,
        process_id: None,
        window_id: None,
    }))
}

/// What paddock offers instead of the WebRTC stream.
const NO_STREAM: &str = "paddock serves no WebRTC stream (sandbox-agent's uses neko, which no registry here carries); \
     watch the desktop with screenshots or record it";

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/stream/start", operation_id = "runtimeDesktopStreamStart", summary = "Start the live stream (not served)",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 501, description = "paddock serves no WebRTC stream", body = ProblemDetails, content_type = "application/problem+json"), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stream_start(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopStreamStatusResponse>> {
    state.workspaces.get(&caller, &id).await?;
    Err(Error::new(ErrorCode::Unsupported, NO_STREAM).into())
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/desktop/stream/stop", operation_id = "runtimeDesktopStreamStop", summary = "Stop the live stream",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "Never active", body = DesktopStreamStatusResponse), (status = 400, description = "A bad argument", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace (or window, or recording)", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or cannot run here", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stream_stop(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<DesktopStreamStatusResponse>> {
    state.workspaces.get(&caller, &id).await?;
    Ok(Json(DesktopStreamStatusResponse {
        active: false,
        process_id: None,
        window_id: None,
    }))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/desktop/vnc", operation_id = "runtimeDesktopVnc", summary = "The live view: VNC over a WebSocket",
    description = "(ext) Upgrades to a WebSocket carrying the desktop's view-only VNC (RFB 3.8, no VNC password: the API key or scoped token is the authentication; input goes through the API) as binary frames, websockify's framing, so noVNC and other WebSocket VNC viewers connect to it directly. The VNC server is x11vnc on the display, started with the desktop in the jail; the server relays it. Browsers authenticate with `?access_token=` or by offering the subprotocols `binary` and `paddock.bearer.<base64url of the key>` (the answer selects `binary`).",
    tag = "desktop", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("access_token" = Option<String>, Query, description = "The API key or scoped token, for clients that cannot set headers")),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 400, description = "Not a WebSocket upgrade", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `desktop`", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The desktop is not running, or has no live view (x11vnc is not installed)", body = ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "The desktop has 8 live viewers already", body = ProblemDetails, content_type = "application/problem+json"), (status = 502, description = "The VNC server is not running", body = ProblemDetails, content_type = "application/problem+json")))]
async fn vnc(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ProblemResult<Response> {
    let upgrade = upgrade
        .map_err(|e| Error::new(ErrorCode::BadRequest, e.body_text()))?
        .protocols(["binary"])
        // A view-only viewer sends small messages (update requests).
        .max_message_size(64 << 10);
    let (stream, viewer) = state.desktops.vnc(&caller, &id).await?;
    // Watching is using the workspace, once per connection: a viewer's
    // update requests never stop, and would keep it from idling forever.
    state.workspaces.note_activity(&id).await;
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _viewer = viewer;
        relay_vnc(socket, stream).await
    }))
}

/// Relays a viewer's WebSocket and the VNC server's TCP stream until
/// either side ends. Binary frames only (websockify's binary framing; its
/// base64 text mode is not served).
async fn relay_vnc(socket: WebSocket, stream: tokio::net::TcpStream) {
    let (mut from_server, mut to_server) = stream.into_split();
    let (mut to_viewer, mut from_viewer) = socket.split();
    let upstream = async {
        while let Some(Ok(message)) = from_viewer.next().await {
            let bytes = match message {
                Message::Binary(bytes) => bytes,
                Message::Text(_) | Message::Close(_) => break,
                _ => continue,
            };
            if to_server.write_all(&bytes).await.is_err() {
                break;
            }
        }
    };
    let downstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = Message::Binary(axum::body::Bytes::copy_from_slice(&buffer[..n]));
                    if to_viewer.send(frame).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_viewer.send(Message::Close(None)).await;
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
