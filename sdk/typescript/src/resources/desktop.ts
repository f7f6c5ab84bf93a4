/**
 * A workspace's desktop (`runtime(id).desktop`): sandbox-agent 0.4.2's
 * `/v1/desktop/*` under the runtime base URL. Xvfb and openbox run in the
 * workspace (it needs the `desktop` flavor); the server drives input,
 * screenshots and windows over X11.
 */
import { compact, segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions } from "../options.js";
import type {
  DesktopActionResponse,
  DesktopClipboardResponse,
  DesktopDisplayInfoResponse,
  DesktopLaunchResponse,
  DesktopMousePositionResponse,
  DesktopOpenResponse,
  DesktopRecordingInfo,
  DesktopRecordingListResponse,
  DesktopStatusResponse,
  DesktopStreamStatusResponse,
  DesktopWindowInfo,
  DesktopWindowListResponse,
} from "../wire.js";

/** A mouse button. */
export type DesktopMouseButton = "left" | "middle" | "right";
/** `clipboard` (default), `primary` or `both`. */
export type DesktopSelection = "clipboard" | "primary" | "both";

/** `desktop.start`. */
export interface DesktopStartRequest {
  /** Pixels (default 1440). */
  width?: number;
  /** Pixels (default 900). */
  height?: number;
  dpi?: number;
  /** The X display number (default 99). */
  displayNum?: number;
  /** Frames per second of recordings (default 30). */
  recordingFps?: number;
}

/** Screenshot options. */
export interface DesktopScreenshotOptions {
  /** `png` (default), `jpeg` or `webp` (lossless). */
  format?: "png" | "jpeg" | "webp";
  /** JPEG quality, 1..=100 (default 85). */
  quality?: number;
  /** 0.1..=1 (default 1). */
  scale?: number;
  /** Draw the pointer (default true). */
  showCursor?: boolean;
}

/** Modifiers held around a key press. */
export interface DesktopKeyModifiers {
  ctrl?: boolean;
  shift?: boolean;
  alt?: boolean;
  cmd?: boolean;
}

export class RuntimeDesktop {
  private readonly base: string;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    prefix: string,
  ) {
    this.base = `${prefix}/v1/desktop`;
  }

  private post<T>(path: string, body?: unknown, call?: CallOptions): Promise<T> {
    return this.http.json({ method: "POST", path: `${this.base}/${path}`, body, call });
  }

  private get<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}, call?: CallOptions): Promise<T> {
    return this.http.json({ method: "GET", path: `${this.base}/${path}`, query, call });
  }

  /** `POST …/v1/desktop/start`: starts Xvfb and openbox (and the workspace); an active desktop answers as it is. */
  async start(request: DesktopStartRequest = {}, call?: CallOptions): Promise<DesktopStatusResponse> {
    return this.post("start", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/stop`. */
  async stop(call?: CallOptions): Promise<DesktopStatusResponse> {
    return this.post("stop", undefined, call);
  }

  /** `GET …/v1/desktop/status`: `install_required` names what is missing; does not start anything. */
  async status(call?: CallOptions): Promise<DesktopStatusResponse> {
    return this.get("status", {}, call);
  }

  /**
   * The live view's WebSocket URL, `…/v1/desktop/vnc` (view-only VNC in
   * websockify's framing, the API key as `?access_token=`): hand it to
   * noVNC (`new RFB(element, url)`) or another WebSocket VNC viewer.
   */
  vncUrl(): string {
    return this.http.webSocketUrl(`${this.base}/vnc`);
  }

  /** `GET …/v1/desktop/display/info`. */
  async displayInfo(call?: CallOptions): Promise<DesktopDisplayInfoResponse> {
    return this.get("display/info", {}, call);
  }

  /** `GET …/v1/desktop/screenshot`: the whole screen's image bytes. */
  async screenshot(options: DesktopScreenshotOptions = {}, call?: CallOptions): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: `${this.base}/screenshot`, query: { ...options }, call }, "image/*");
  }

  /** `GET …/v1/desktop/screenshot/region`: a region's image bytes. */
  async screenshotRegion(
    region: { x: number; y: number; width: number; height: number },
    options: DesktopScreenshotOptions = {},
    call?: CallOptions,
  ): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: `${this.base}/screenshot/region`, query: { ...region, ...options }, call }, "image/*");
  }

  /** `GET …/v1/desktop/mouse/position`. */
  async mousePosition(call?: CallOptions): Promise<DesktopMousePositionResponse> {
    return this.get("mouse/position", {}, call);
  }

  /** `POST …/v1/desktop/mouse/move`. */
  async moveMouse(x: number, y: number, call?: CallOptions): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/move", { x, y }, call);
  }

  /** `POST …/v1/desktop/mouse/click`: `clickCount` 2 is a double click. */
  async click(
    request: { x: number; y: number; button?: DesktopMouseButton; clickCount?: number },
    call?: CallOptions,
  ): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/click", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/mouse/down`: at the pointer, or at `x, y`. */
  async mouseDown(request: { x?: number; y?: number; button?: DesktopMouseButton } = {}, call?: CallOptions): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/down", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/mouse/up`. */
  async mouseUp(request: { x?: number; y?: number; button?: DesktopMouseButton } = {}, call?: CallOptions): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/up", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/mouse/drag`. */
  async drag(
    request: { startX: number; startY: number; endX: number; endY: number; button?: DesktopMouseButton },
    call?: CallOptions,
  ): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/drag", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/mouse/scroll`: wheel clicks (positive `deltaY` down). */
  async scroll(request: { x: number; y: number; deltaX?: number; deltaY?: number }, call?: CallOptions): Promise<DesktopMousePositionResponse> {
    return this.post("mouse/scroll", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/keyboard/type`: any Unicode text. */
  async type(text: string, options: { delayMs?: number } = {}, call?: CallOptions): Promise<DesktopActionResponse> {
    return this.post("keyboard/type", compact({ text, delayMs: options.delayMs }), call);
  }

  /** `POST …/v1/desktop/keyboard/press`: a key or chord (`Return`, `ctrl+shift+t`). */
  async press(key: string, modifiers?: DesktopKeyModifiers, call?: CallOptions): Promise<DesktopActionResponse> {
    return this.post("keyboard/press", compact({ key, modifiers }), call);
  }

  /** `POST …/v1/desktop/keyboard/down`. */
  async keyDown(key: string, call?: CallOptions): Promise<DesktopActionResponse> {
    return this.post("keyboard/down", { key }, call);
  }

  /** `POST …/v1/desktop/keyboard/up`. */
  async keyUp(key: string, call?: CallOptions): Promise<DesktopActionResponse> {
    return this.post("keyboard/up", { key }, call);
  }

  /** `GET …/v1/desktop/windows`. */
  async windows(call?: CallOptions): Promise<DesktopWindowInfo[]> {
    return (await this.get<DesktopWindowListResponse>("windows", {}, call)).windows;
  }

  /** `GET …/v1/desktop/windows/focused`. */
  async focusedWindow(call?: CallOptions): Promise<DesktopWindowInfo> {
    return this.get("windows/focused", {}, call);
  }

  /** `POST …/v1/desktop/windows/{id}/focus`. */
  async focusWindow(windowId: string, call?: CallOptions): Promise<DesktopWindowInfo> {
    return this.post(`windows/${segment(windowId)}/focus`, undefined, call);
  }

  /** `POST …/v1/desktop/windows/{id}/move`. */
  async moveWindow(windowId: string, x: number, y: number, call?: CallOptions): Promise<DesktopWindowInfo> {
    return this.post(`windows/${segment(windowId)}/move`, { x, y }, call);
  }

  /** `POST …/v1/desktop/windows/{id}/resize`. */
  async resizeWindow(windowId: string, width: number, height: number, call?: CallOptions): Promise<DesktopWindowInfo> {
    return this.post(`windows/${segment(windowId)}/resize`, { width, height }, call);
  }

  /** `GET …/v1/desktop/clipboard`. */
  async clipboard(selection?: DesktopSelection, call?: CallOptions): Promise<DesktopClipboardResponse> {
    return this.get("clipboard", { selection }, call);
  }

  /** `POST …/v1/desktop/clipboard`. */
  async setClipboard(text: string, selection?: DesktopSelection, call?: CallOptions): Promise<DesktopActionResponse> {
    return this.post("clipboard", compact({ text, selection }), call);
  }

  /** `POST …/v1/desktop/launch`: a program with `DISPLAY` set; `wait` answers its first window. */
  async launch(request: { app: string; args?: string[]; wait?: boolean }, call?: CallOptions): Promise<DesktopLaunchResponse> {
    return this.post("launch", compact({ ...request }), call);
  }

  /** `POST …/v1/desktop/open`: a file or URL with `xdg-open`. */
  async open(target: string, call?: CallOptions): Promise<DesktopOpenResponse> {
    return this.post("open", { target }, call);
  }

  /** `POST …/v1/desktop/recording/start`. */
  async startRecording(options: { fps?: number } = {}, call?: CallOptions): Promise<DesktopRecordingInfo> {
    return this.post("recording/start", compact({ ...options }), call);
  }

  /** `POST …/v1/desktop/recording/stop`. */
  async stopRecording(call?: CallOptions): Promise<DesktopRecordingInfo> {
    return this.post("recording/stop", undefined, call);
  }

  /** `GET …/v1/desktop/recordings`. */
  async recordings(call?: CallOptions): Promise<DesktopRecordingInfo[]> {
    return (await this.get<DesktopRecordingListResponse>("recordings", {}, call)).recordings;
  }

  /** `GET …/v1/desktop/recordings/{id}`. */
  async recording(id: string, call?: CallOptions): Promise<DesktopRecordingInfo> {
    return this.get(`recordings/${segment(id)}`, {}, call);
  }

  /** `GET …/v1/desktop/recordings/{id}/download`: the MP4's bytes. */
  async downloadRecording(id: string, call?: CallOptions): Promise<Uint8Array> {
    return this.http.bytes({ method: "GET", path: `${this.base}/recordings/${segment(id)}/download`, call }, "video/mp4");
  }

  /** `DELETE …/v1/desktop/recordings/{id}`. */
  async deleteRecording(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `${this.base}/recordings/${segment(id)}`, call });
  }

  /** `GET …/v1/desktop/stream/status`: never active (paddock serves no WebRTC stream). */
  async streamStatus(call?: CallOptions): Promise<DesktopStreamStatusResponse> {
    return this.get("stream/status", {}, call);
  }

  /** `POST …/v1/desktop/stream/start`: answers 501 (no WebRTC stream). */
  async startStream(call?: CallOptions): Promise<DesktopStreamStatusResponse> {
    return this.post("stream/start", undefined, call);
  }

  /** `POST …/v1/desktop/stream/stop`. */
  async stopStream(call?: CallOptions): Promise<DesktopStreamStatusResponse> {
    return this.post("stream/stop", undefined, call);
  }
}
