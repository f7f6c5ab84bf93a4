#!/usr/bin/env node
// A workspace's desktop through the unmodified sandbox-agent 0.4.2 SDK at
// its runtime base URL: status without the desktop flavor
// (`install_required`), start, display info, screenshots (full, region,
// scaled, JPEG, WebP) decoded and checked for content, a Tk probe app that
// writes every click, key and wheel event to a file which the test reads
// back, windows (list, focused, move, resize), clipboard, recording
// (ffprobe reads its duration), the live view (a VNC viewer over the
// WebSocket reads the screen), the desktop's processes, stop; a scoped
// token with and without `desktop`; and a program that grabs the X server
// (desktop calls fail in bounded time, nothing else waits). Exit code 0
// only when every check held.
//
//   PADDOCK_BIN=target/debug/paddock node desktop.mjs
//
// A 1280x720 screenshot is written to $PADDOCK_DESKTOP_SHOTS (default
// docs/desktop/), which docs/desktop.md shows.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { SandboxAgent } from "sandbox-agent";
import WebSocket from "ws";

import { paddockBinary, startPaddock } from "./servers.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = resolve(process.env.PADDOCK_DESKTOP_SHOTS || join(HERE, "../../docs/desktop"));

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`  FAIL ${name}\n${String(err.stack ?? err).split("\n").slice(0, 8).map((l) => `       ${l}`).join("\n")}`);
  }
}

/** A Tk window that logs what it receives, one line an event, to /workspace/probe.log. */
const PROBE = String.raw`
import tkinter as tk
log = open("/workspace/probe.log", "a", buffering=1)
root = tk.Tk()
root.title("paddock-probe")
root.geometry("420x300+200+150")
root.configure(background="#2b6cb0")
label = tk.Label(root, text="paddock desktop probe", font=("DejaVu Sans", 18), bg="#2b6cb0", fg="white")
label.pack(pady=30)
entry = tk.Entry(root, font=("DejaVu Sans", 14))
entry.pack(padx=20, fill="x")
def click(e): log.write(f"click {e.num} {e.x_root} {e.y_root}\n")
def key(e): log.write(f"key {e.keysym} {e.char!r}\n")
def wheel(e): log.write(f"wheel {e.num}\n")
def release(e): log.write(f"release {e.keysym}\n")
root.bind_all("<ButtonPress-1>", click)
root.bind_all("<ButtonPress-3>", click)
root.bind_all("<Button-4>", wheel)
root.bind_all("<Button-5>", wheel)
root.bind_all("<KeyPress>", key)
root.bind_all("<KeyRelease>", release)
root.after(100, lambda: (entry.focus_force(), log.write("ready\n")))
root.mainloop()
`;

const png = (bytes) => PNG.sync.read(Buffer.from(bytes));
/** Distinct colors in a decoded PNG (sampled every 7th pixel). */
function colors(image) {
  const seen = new Set();
  for (let i = 0; i < image.data.length; i += 4 * 7) seen.add((image.data[i] << 16) | (image.data[i + 1] << 8) | image.data[i + 2]);
  return seen.size;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A VNC (RFB 3.8) viewer over a WebSocket, as noVNC is: `read(n)` waits
 * for n bytes, `send(bytes)`. */
async function vncViewer(url, token) {
  const socket = new WebSocket(url, ["binary", `paddock.bearer.${Buffer.from(token).toString("base64url")}`]);
  let buffered = Buffer.alloc(0);
  const waiting = [];
  const pump = () => {
    while (waiting.length && buffered.length >= waiting[0].n) {
      const { n, done } = waiting.shift();
      done(buffered.subarray(0, n));
      buffered = buffered.subarray(n);
    }
  };
  socket.on("message", (data) => { buffered = Buffer.concat([buffered, data]); pump(); });
  await new Promise((done, fail) => { socket.once("open", done); socket.once("unexpected-response", (_, res) => fail(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }))); socket.once("error", fail); });
  const read = (n) => new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`VNC: ${n} bytes did not come`)), 10_000);
    waiting.push({ n, done: (bytes) => { clearTimeout(timer); done(bytes); } });
    pump();
  });
  return { socket, read, send: (bytes) => socket.send(Buffer.from(bytes)) };
}

const work = mkdtempSync(join(tmpdir(), "paddock-desktop-"));
// The desktop flavor: the Debian packages (apt-get, as root) and fontconfig.
execFileSync(paddockBinary(), ["flavors", "install", "desktop", "--state-dir", join(work, "state")], { stdio: "inherit" });
const server = await startPaddock({ stateDir: work });
const call = async (method, path, body, token = server.token) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json().catch(() => null) };
};
try {
  const plain = await SandboxAgent.connect({ baseUrl: server.baseUrl, token: server.token, waitForHealth: { timeoutMs: 20000 } });
  await step("a workspace without the desktop flavor: install_required, saying what is missing and how to install it", async () => {
    const status = await plain.getDesktopStatus();
    assert.equal(status.state, "install_required");
    assert.ok(status.missingDependencies.some((d) => d.includes("desktop flavor")), JSON.stringify(status));
    assert.match(status.installCommand, /paddock flavors install desktop/);
    await assert.rejects(plain.startDesktop({}), (err) => err.status === 409 && /desktop flavor/.test(err.problem?.detail ?? err.message));
  });

  const created = await call("POST", "/v1/workspaces", { flavors: ["desktop"] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const ws = created.body.id;
  const sdk = await SandboxAgent.connect({ baseUrl: `${server.url}/v1/workspaces/${ws}/runtime`, token: server.token });

  await step("start a 1280x720 desktop; its processes are the process API's, owner desktop", async () => {
    assert.equal((await sdk.getDesktopStatus()).state, "inactive");
    const status = await sdk.startDesktop({ width: 1280, height: 720 });
    assert.equal(status.state, "active", JSON.stringify(status));
    assert.deepEqual(status.resolution, { width: 1280, height: 720, dpi: 96 });
    assert.deepEqual(status.processes.map((p) => [p.name, p.running]), [["Xvfb", true], ["openbox", true], ["x11vnc", true]]);
    assert.deepEqual(await sdk.getDesktopDisplayInfo(), { display: ":99", resolution: { width: 1280, height: 720, dpi: 96 } });
    const owned = await sdk.listProcesses({ owner: "desktop" });
    assert.deepEqual(owned.processes.map((p) => p.command).sort(), ["Xvfb", "openbox", "x11vnc"]);
    assert.equal((await sdk.startDesktop({})).state, "active", "a second start answers the running desktop");
  });

  let probeWindow;
  await step("launch a Tk probe app and wait for its window; list, focus, move and resize it", async () => {
    await sdk.writeFsFile({ path: "/workspace/probe.py" }, PROBE);
    const launched = await sdk.launchDesktopApp({ app: "python3", args: ["/workspace/probe.py"], wait: true });
    assert.match(launched.processId, /^proc_/);
    assert.match(launched.windowId ?? "", /^0x[0-9a-f]+$/, JSON.stringify(launched));
    for (let i = 0; i < 100 && !new TextDecoder().decode(await sdk.readFsFile({ path: "/workspace/probe.log" }).catch(() => new Uint8Array())).includes("ready"); i++) await sleep(50);
    const { windows } = await sdk.listDesktopWindows();
    probeWindow = windows.find((w) => w.title === "paddock-probe");
    assert.ok(probeWindow, JSON.stringify(windows));
    assert.equal(probeWindow.id, launched.windowId);
    assert.equal((await sdk.focusDesktopWindow(probeWindow.id)).isActive, true);
    assert.equal((await sdk.getDesktopFocusedWindow()).id, probeWindow.id);
    const moved = await sdk.moveDesktopWindow(probeWindow.id, { x: 100, y: 80 });
    assert.ok(moved.x >= 100 && moved.x <= 110 && moved.y >= 80 && moved.y <= 110, `moved to ${moved.x},${moved.y} (the frame at 100,80)`);
    const resized = await sdk.resizeDesktopWindow(probeWindow.id, { width: 500, height: 340 });
    assert.deepEqual([resized.width, resized.height], [500, 340]);
    probeWindow = resized;
    await assert.rejects(sdk.focusDesktopWindow("0xdead"), (err) => err.status === 404);
  });

  await step("clicks, typing, key chords and the wheel reach the app (its log read back)", async () => {
    const inside = { x: probeWindow.x + 60, y: probeWindow.y + 40 };
    const pointer = await sdk.clickDesktop({ ...inside, button: "left" });
    assert.deepEqual([pointer.x, pointer.y], [inside.x, inside.y]);
    await sdk.clickDesktop({ x: inside.x + 5, y: inside.y + 5, button: "right" });
    // The entry has the focus: text goes there, non-ASCII too.
    await sdk.typeDesktopText({ text: "Hello, paddock! ~é€" });
    await sdk.pressDesktopKey({ key: "Return" });
    await sdk.pressDesktopKey({ key: "a", modifiers: { ctrl: true } });
    await sdk.scrollDesktop({ ...inside, deltaY: 2 });
    await sdk.scrollDesktop({ ...inside, deltaY: -1 });
    let log = "";
    for (let i = 0; i < 60 && !log.includes("wheel 4"); i++) {
      await sleep(50);
      log = new TextDecoder().decode(await sdk.readFsFile({ path: "/workspace/probe.log" }));
    }
    assert.match(log, new RegExp(`click 1 ${inside.x} ${inside.y}\\n`));
    assert.match(log, new RegExp(`click 3 ${inside.x + 5} ${inside.y + 5}\\n`));
    const typed = [...log.matchAll(/^key \S+ '(.*)'$/gm)].map((m) => m[1]).join("");
    assert.ok(typed.startsWith("Hello, paddock! ~é€"), `typed ${JSON.stringify(typed)}\n${log}`);
    assert.match(log, /key Return '\\r'/);
    assert.match(log, /key Control_L ''\nkey a '\\x01'/);
    assert.deepEqual([...log.matchAll(/^wheel (\d)$/gm)].map((m) => m[1]), ["5", "5", "4"]);
    const position = await sdk.getDesktopMousePosition();
    assert.deepEqual([position.x, position.y], [inside.x, inside.y]);
    // The top-level window under the pointer is the probe's frame (openbox's).
    assert.match(position.window ?? "", /^0x[0-9a-f]+$/);
    // A held key the keymap lacks stays bound while other such characters
    // are typed, and its release reaches the app.
    await sdk.keyDownDesktop({ key: "ü" });
    await sdk.typeDesktopText({ text: "ñ" });
    await sdk.keyUpDesktop({ key: "ü" });
    for (let i = 0; i < 60 && !log.includes("release udiaeresis"); i++) {
      await sleep(50);
      log = new TextDecoder().decode(await sdk.readFsFile({ path: "/workspace/probe.log" }));
    }
    assert.match(log, /key udiaeresis 'ü'\n(.*\n)*key ntilde 'ñ'\n(.*\n)*release udiaeresis\n/, log);
  });

  await step("screenshots: a 1280x720 PNG with the probe on it, a region, a scaled one, JPEG and WebP", async () => {
    const full = await sdk.takeDesktopScreenshot();
    const image = png(full);
    assert.deepEqual([image.width, image.height], [1280, 720]);
    assert.ok(colors(image) > 20, `a screen with content, not one color (${colors(image)} colors)`);
    // The probe's blue background is where the window is.
    const at = ((probeWindow.y + probeWindow.height - 10) * 1280 + probeWindow.x + 10) * 4;
    assert.deepEqual([...image.data.subarray(at, at + 3)], [0x2b, 0x6c, 0xb0]);
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(join(SHOTS, "screenshot.png"), full);
    const region = png(await sdk.takeDesktopRegionScreenshot({ x: probeWindow.x, y: probeWindow.y, width: 200, height: 100 }));
    assert.deepEqual([region.width, region.height], [200, 100]);
    const scaled = png(await sdk.takeDesktopScreenshot({ scale: 0.5 }));
    assert.deepEqual([scaled.width, scaled.height], [640, 360]);
    const jpeg = Buffer.from(await sdk.takeDesktopScreenshot({ format: "jpeg", quality: 60 }));
    assert.equal(jpeg.subarray(0, 3).toString("hex"), "ffd8ff");
    const webp = Buffer.from(await sdk.takeDesktopScreenshot({ format: "webp" }));
    assert.equal(webp.subarray(8, 12).toString(), "WEBP");
    await assert.rejects(sdk.takeDesktopRegionScreenshot({ x: 1200, y: 0, width: 200, height: 10 }), (err) => err.status === 400);
  });

  await step("the live view: a VNC viewer over the WebSocket sees the screen (the probe's pixels)", async () => {
    const url = `${server.url.replace(/^http/, "ws")}/v1/workspaces/${ws}/runtime/v1/desktop/vnc`;
    const viewer = await vncViewer(url, server.token);
    try {
      assert.equal(viewer.socket.protocol, "binary");
      assert.equal((await viewer.read(12)).toString(), "RFB 003.008\n");
      viewer.send(Buffer.from("RFB 003.008\n"));
      const types = [...(await viewer.read((await viewer.read(1))[0]))];
      assert.ok(types.includes(1), `security "none" offered: ${types}`);
      viewer.send([1]);
      assert.equal((await viewer.read(4)).readUInt32BE(0), 0, "security accepted");
      viewer.send([1]); // ClientInit, shared
      const init = await viewer.read(24);
      assert.deepEqual([init.readUInt16BE(0), init.readUInt16BE(2)], [1280, 720]);
      await viewer.read(init.readUInt32BE(20)); // the desktop's name
      const [bpp, , bigEndian] = init.subarray(4, 7);
      const [redMax, greenMax, blueMax] = [init.readUInt16BE(8), init.readUInt16BE(10), init.readUInt16BE(12)];
      const [redShift, greenShift, blueShift] = init.subarray(14, 17);
      assert.equal(bpp, 32);
      // Raw encoding only; then the whole screen.
      viewer.send([2, 0, 0, 1, 0, 0, 0, 0]);
      const request = Buffer.alloc(10);
      request.writeUInt8(3, 0);
      request.writeUInt16BE(1280, 6);
      request.writeUInt16BE(720, 8);
      viewer.send(request);
      const screen = Buffer.alloc(1280 * 720 * 4);
      let covered = 0;
      while (covered < 1280 * 720) {
        const header = await viewer.read(4);
        assert.equal(header[0], 0, "a framebuffer update");
        for (let r = header.readUInt16BE(2); r > 0; r--) {
          const rect = await viewer.read(12);
          const [x, y, w, h] = [0, 2, 4, 6].map((o) => rect.readUInt16BE(o));
          assert.equal(rect.readInt32BE(8), 0, "raw encoding");
          const pixels = await viewer.read(w * h * 4);
          for (let row = 0; row < h; row++) pixels.copy(screen, ((y + row) * 1280 + x) * 4, row * w * 4, (row + 1) * w * 4);
          covered += w * h;
        }
      }
      const at = ((probeWindow.y + probeWindow.height - 10) * 1280 + probeWindow.x + 10) * 4;
      const pixel = bigEndian ? screen.readUInt32BE(at) : screen.readUInt32LE(at);
      const rgb = [(pixel >> redShift) & redMax, (pixel >> greenShift) & greenMax, (pixel >> blueShift) & blueMax];
      assert.deepEqual(rgb, [0x2b, 0x6c, 0xb0], "the probe's blue, as the viewer sees it");
    } finally {
      viewer.socket.close();
    }
  });

  await step("the clipboard round-trips text (and the primary selection)", async () => {
    await sdk.setDesktopClipboard({ text: "clip ✓ paddock\nline 2" });
    assert.deepEqual(await sdk.getDesktopClipboard(), { selection: "clipboard", text: "clip ✓ paddock\nline 2" });
    await sdk.setDesktopClipboard({ text: "primary text", selection: "primary" });
    assert.equal((await sdk.getDesktopClipboard({ selection: "primary" })).text, "primary text");
    assert.equal((await sdk.getDesktopClipboard()).text, "clip ✓ paddock\nline 2");
  });

  await step("a recording: started, stopped, listed, downloaded (ffprobe reads a positive duration), deleted", async () => {
    const started = await sdk.startDesktopRecording({ fps: 15 });
    assert.equal(started.status, "recording");
    await assert.rejects(sdk.startDesktopRecording({}), (err) => err.status === 409);
    for (let i = 0; i < 12; i++) {
      await sdk.moveDesktopMouse({ x: 100 + i * 40, y: 300 });
      await sleep(100);
    }
    const stopped = await sdk.stopDesktopRecording();
    assert.equal(stopped.status, "completed", JSON.stringify(stopped));
    assert.ok(stopped.bytes > 1000, JSON.stringify(stopped));
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings.map((r) => r.id), [started.id]);
    assert.equal((await sdk.getDesktopRecording(started.id)).bytes, stopped.bytes);
    const mp4 = Buffer.from(await sdk.downloadDesktopRecording(started.id));
    assert.equal(mp4.length, stopped.bytes);
    const file = join(work, "recording.mp4");
    writeFileSync(file, mp4);
    const probe = spawnSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file], { encoding: "utf8" });
    assert.equal(probe.status, 0, probe.stderr);
    assert.ok(Number(probe.stdout) > 0.5, `duration ${probe.stdout}`);
    await sdk.deleteDesktopRecording(started.id);
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings, []);
  });

  await step("scoped tokens: desktop opens the desktop, processes does not", async () => {
    const mint = async (capabilities) => (await call("POST", `/v1/workspaces/${ws}/tokens`, { capabilities })).body.token;
    const withDesktop = await SandboxAgent.connect({ baseUrl: `${server.url}/v1/workspaces/${ws}/runtime`, token: await mint(["desktop"]) });
    assert.equal(png(await withDesktop.takeDesktopScreenshot()).width, 1280);
    const without = await SandboxAgent.connect({ baseUrl: `${server.url}/v1/workspaces/${ws}/runtime`, token: await mint(["processes"]) });
    await assert.rejects(without.takeDesktopScreenshot(), (err) => err.status === 403);
    await assert.rejects(without.clickDesktop({ x: 1, y: 1 }), (err) => err.status === 403);
    // The live view too: no capability, no WebSocket.
    const vnc = `${server.url.replace(/^http/, "ws")}/v1/workspaces/${ws}/runtime/v1/desktop/vnc`;
    await assert.rejects(vncViewer(vnc, await mint(["processes"])), (err) => err.status === 403);
    const viewer = await vncViewer(vnc, await mint(["desktop"]));
    assert.equal((await viewer.read(12)).toString(), "RFB 003.008\n");
    viewer.socket.close();
  });

  await step("attack: a program of the workspace grabs the X server; desktop calls fail in bounded time and the rest of the API keeps answering", async () => {
    // XGrabServer through libX11 (ctypes): every other client's requests
    // wait until it ends. paddock's calls time out instead of hanging.
    const grabber = String.raw`
import ctypes, time
x = ctypes.CDLL("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
d = ctypes.c_void_p(x.XOpenDisplay(None))
x.XGrabServer(d)
x.XSync(d, 0)
open("/workspace/grabbed", "w").close()
time.sleep(60)
`;
    await sdk.writeFsFile({ path: "/workspace/grab.py" }, grabber);
    const grab = await sdk.launchDesktopApp({ app: "python3", args: ["/workspace/grab.py"] });
    for (let i = 0; i < 100 && !(await sdk.statFs({ path: "/workspace/grabbed" }).then(() => true, () => false)); i++) await sleep(50);
    await sdk.statFs({ path: "/workspace/grabbed" });
    const t0 = Date.now();
    await assert.rejects(sdk.takeDesktopScreenshot(), (err) => err.status === 502 && /did not answer/.test(err.problem?.detail ?? err.message));
    const waited = Date.now() - t0;
    assert.ok(waited >= 9000 && waited < 20000, `refused after ${waited} ms`);
    // Meanwhile and after, the workspace's other routes answer at once.
    const t1 = Date.now();
    assert.ok((await sdk.listFsEntries({ path: "/workspace" })).length > 0);
    assert.ok(Date.now() - t1 < 2000);
    await sdk.killProcess(grab.processId);
    // The broken connection is the desktop's: stop and start give a new one.
    await sdk.stopDesktop();
    assert.equal((await sdk.startDesktop({ width: 1280, height: 720 })).state, "active");
    assert.equal(png(await sdk.takeDesktopScreenshot()).width, 1280);
  });

  await step("stop: the desktop's processes end and its routes say it is not running", async () => {
    const status = await sdk.stopDesktop();
    assert.equal(status.state, "inactive");
    await assert.rejects(sdk.takeDesktopScreenshot(), (err) => err.status === 409);
    // Xvfb's and openbox's records go with them; nothing of the desktop runs.
    const owned = await sdk.listProcesses({ owner: "desktop" });
    assert.deepEqual(owned.processes.filter((p) => p.status === "running"), [], JSON.stringify(owned));
    assert.ok(!owned.processes.some((p) => p.command === "Xvfb" || p.command === "openbox"), JSON.stringify(owned));
    assert.equal((await sdk.startDesktop({ width: 800, height: 600 })).resolution.width, 800, "it starts again");
    await sdk.stopDesktop();
  });
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok);
console.log(`desktop: ${results.length - failed.length}/${results.length} checks held`);
process.exit(failed.length ? 1 : 0);
