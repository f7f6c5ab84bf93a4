//! The X11 side of a workspace's desktop, over one connection to its Xvfb
//! (a TCP socket of the jail's network namespace, made by its init): input
//! with XTEST, screenshots with GetImage (the pointer drawn from XFIXES),
//! windows through the window manager's EWMH properties. Every call is
//! blocking; the service runs them off the async runtime, one at a time.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use paddock_api::runtime::desktop::{
    DesktopKeyModifiers, DesktopMouseButton, DesktopScreenshotFormat, DesktopWindowInfo,
};
use paddock_api::{Error, ErrorCode};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ClientMessageEvent, ConfigureWindowAux, ConnectionExt as _, EventMask, ImageFormat, Keycode,
    Keysym, Window, BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, KEY_PRESS_EVENT, KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::{DefaultStream, RustConnection};

/// How long the X server may take to answer (or take a request) before
/// the call fails: a program in the workspace can grab the server, and a
/// desktop call must never wait on it forever.
const X_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest packet the X server may send before the connection is refused,
/// beyond what a screenshot of the whole screen takes: the server reads
/// a packet's length before allocating for it, and what listens in the
/// jail is the jail's to choose.
const EXTRA_PACKET_BYTES: usize = 1 << 20;

/// The X connection's stream: a TCP socket into the jail whose waits end
/// after [`X_TIMEOUT`] and whose every packet is checked against a size
/// limit before x11rb allocates for it.
struct GuardedStream {
    inner: DefaultStream,
    framing: std::sync::Mutex<Framing>,
}

/// Where the byte stream from the X server is in its packets.
struct Framing {
    /// The connection setup's answer has been read.
    setup_read: bool,
    /// Bytes of the current packet's header seen so far.
    header: Vec<u8>,
    /// Bytes of the current packet still to come after its header.
    remaining: usize,
    /// Largest packet allowed.
    limit: usize,
}

impl Framing {
    /// Follows `bytes` through the packets; an error when one announces
    /// more than the limit.
    fn check(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(bytes.len());
                self.remaining -= n;
                bytes = &bytes[n..];
                continue;
            }
            // The setup answer's header is 8 bytes (length in 4-byte units
            // at 6..8); every later packet's is 32 (replies and generic
            // events carry an extra length at 4..8).
            let header_len = if self.setup_read { 32 } else { 8 };
            let n = (header_len - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() < header_len {
                continue;
            }
            let h = &self.header;
            let extra = if !self.setup_read {
                4 * usize::from(u16::from_le_bytes([h[6], h[7]]))
            } else if h[0] == 1 || h[0] & 0x7f == 35 {
                4 * u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize
            } else {
                0
            };
            if header_len + extra > self.limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the X server sent a packet of {} bytes, over the limit",
                        header_len + extra
                    ),
                ));
            }
            self.setup_read = true;
            self.header.clear();
            self.remaining = extra;
        }
        Ok(())
    }
}

impl x11rb::rust_connection::Stream for GuardedStream {
    fn poll(&self, mode: x11rb::rust_connection::PollMode) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut events = 0;
        if mode.readable() {
            events |= libc::POLLIN;
        }
        if mode.writable() {
            events |= libc::POLLOUT;
        }
        let mut fd = libc::pollfd {
            fd: self.inner.as_raw_fd(),
            events,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, for the length given.
            let ready = unsafe { libc::poll(&mut fd, 1, X_TIMEOUT.as_millis() as libc::c_int) };
            match ready {
                0 => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the X server did not answer in 10 s (grabbed, or stopped)",
                    ))
                }
                r if r > 0 => return Ok(()),
                _ => {
                    let err = std::io::Error::last_os_error();
                    if err.kind() != std::io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
    }

    fn read(&self, buf: &mut [u8], fds: &mut Vec<x11rb::utils::RawFdContainer>) -> std::io::Result<usize> {
        let n = self.inner.read(buf, fds)?;
        // Descriptors are never expected from a TCP socket.
        fds.clear();
        let mut framing = self.framing.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        framing.check(&buf[..n])?;
        Ok(n)
    }

    fn write(&self, buf: &[u8], fds: &mut Vec<x11rb::utils::RawFdContainer>) -> std::io::Result<usize> {
        self.inner.write(buf, fds)
    }

    fn write_vectored(
        &self,
        bufs: &[std::io::IoSlice<'_>],
        fds: &mut Vec<x11rb::utils::RawFdContainer>,
    ) -> std::io::Result<usize> {
        self.inner.write_vectored(bufs, fds)
    }
}

/// An X11 failure as an API error (the display went away, or refused).
fn failed(what: &str, err: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::DesktopFailed, format!("{what}: {err}"))
}

/// Atoms the desktop reads.
struct Atoms {
    net_client_list: Atom,
    net_active_window: Atom,
    net_wm_name: Atom,
    utf8_string: Atom,
    net_supporting_wm_check: Atom,
}

/// The keyboard mapping: keysyms by keycode.
struct KeyMap {
    min_keycode: u8,
    per_keycode: usize,
    keysyms: Vec<Keysym>,
}

impl KeyMap {
    /// The keycode and level (0 plain, 1 shifted) that type `keysym`.
    fn find(&self, keysym: Keysym) -> Option<(Keycode, usize)> {
        for (index, chunk) in self.keysyms.chunks(self.per_keycode).enumerate() {
            if let Some(level) = chunk.iter().take(2).position(|k| *k == keysym) {
                return Some((self.min_keycode + index as u8, level));
            }
        }
        None
    }

    /// A keycode with no keysym, to bind one that the map lacks.
    fn spare(&self) -> Option<Keycode> {
        self.keysyms
            .chunks(self.per_keycode)
            .enumerate()
            .rev()
            .find(|(_, chunk)| chunk.iter().all(|k| *k == 0))
            .map(|(index, _)| self.min_keycode + index as u8)
    }

    /// The keysyms `keycode` gets to type `keysym` shifted or not, as this
    /// map's row for it.
    fn row_for(&self, keysym: Keysym) -> Vec<Keysym> {
        let mut row = vec![0; self.per_keycode];
        for level in row.iter_mut().take(2) {
            *level = keysym;
        }
        row
    }

    /// Records that `keycode` now types `row` (as the server was told).
    fn set(&mut self, keycode: Keycode, row: &[Keysym]) {
        let start = usize::from(keycode - self.min_keycode) * self.per_keycode;
        if let Some(slot) = self.keysyms.get_mut(start..start + self.per_keycode) {
            slot.copy_from_slice(row);
        }
    }
}

/// How long clients get to fetch a changed keyboard mapping (they ask for
/// it when its MappingNotify reaches them) before a key event that needs
/// it arrives, and to translate that event before the mapping changes
/// again.
const MAPPING_SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// A connection to a desktop's X server.
pub struct X11Desktop {
    conn: RustConnection<GuardedStream>,
    root: Window,
    /// The screen's size.
    pub width: u16,
    pub height: u16,
    atoms: Atoms,
    keymap: KeyMap,
    /// Keycodes this connection rebinds, in turn, to keysyms the map lacks.
    scratch: Vec<Keycode>,
    /// Keys pressed through `key_raw` and not yet released, with the
    /// keycode they went down on (a scratch keycode is not rebound while
    /// it is down, and a release goes to the key that was pressed).
    held: Vec<(Keysym, Keycode)>,
}

impl X11Desktop {
    /// Connects over `stream` (Xvfb runs with access control off: only the
    /// jail's own processes and this server reach it).
    /// Packets are limited to a whole screenshot of `width` x `height`
    /// (the size asked of Xvfb) and a margin.
    pub fn connect(stream: TcpStream, width: u32, height: u32) -> Result<X11Desktop, Error> {
        let (inner, _) = DefaultStream::from_tcp_stream(stream).map_err(|e| failed("the X socket", e))?;
        let stream = GuardedStream {
            inner,
            framing: std::sync::Mutex::new(Framing {
                setup_read: false,
                header: Vec::with_capacity(32),
                remaining: 0,
                limit: 4 * width as usize * height as usize + EXTRA_PACKET_BYTES,
            }),
        };
        let conn = RustConnection::connect_to_stream(stream, 0).map_err(|e| failed("connecting to the X server", e))?;
        let screen = conn
            .setup()
            .roots
            .first()
            .ok_or_else(|| failed("the X server", "it has no screen"))?;
        if (u32::from(screen.width_in_pixels), u32::from(screen.height_in_pixels)) != (width, height) {
            return Err(failed(
                "the X server",
                format!(
                    "its screen is {}x{}, not the {width}x{height} asked for",
                    screen.width_in_pixels, screen.height_in_pixels
                ),
            ));
        }
        let (root, width, height) = (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        let intern = |name: &str| -> Result<Atom, Error> {
            Ok(conn
                .intern_atom(false, name.as_bytes())
                .map_err(|e| failed("interning an atom", e))?
                .reply()
                .map_err(|e| failed("interning an atom", e))?
                .atom)
        };
        let atoms = Atoms {
            net_client_list: intern("_NET_CLIENT_LIST")?,
            net_active_window: intern("_NET_ACTIVE_WINDOW")?,
            net_wm_name: intern("_NET_WM_NAME")?,
            utf8_string: intern("UTF8_STRING")?,
            net_supporting_wm_check: intern("_NET_SUPPORTING_WM_CHECK")?,
        };
        for extension in [
            x11rb::protocol::xtest::X11_EXTENSION_NAME,
            x11rb::protocol::xfixes::X11_EXTENSION_NAME,
        ] {
            let present = conn
                .extension_information(extension)
                .map_err(|e| failed("querying extensions", e))?
                .is_some();
            if !present {
                return Err(failed("the X server", format!("lacks the {extension} extension")));
            }
        }
        conn.xfixes_query_version(5, 0)
            .map_err(|e| failed("XFIXES", e))?
            .reply()
            .map_err(|e| failed("XFIXES", e))?;
        let keymap = read_keymap(&conn)?;
        Ok(X11Desktop {
            conn,
            root,
            width,
            height,
            atoms,
            keymap,
            scratch: Vec::new(),
            held: Vec::new(),
        })
    }

    /// Whether a window manager runs (EWMH's supporting window is set).
    pub fn has_window_manager(&self) -> Result<bool, Error> {
        Ok(self
            .window_property(self.root, self.atoms.net_supporting_wm_check)?
            .is_some())
    }

    /// Waits until the server has processed every request sent so far.
    fn sync(&self) -> Result<(), Error> {
        self.conn
            .get_input_focus()
            .map_err(|e| failed("syncing with the X server", e))?
            .reply()
            .map_err(|e| failed("syncing with the X server", e))?;
        Ok(())
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), Error> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)
            .map_err(|e| failed("sending input", e))?;
        Ok(())
    }

    fn clamp(&self, x: i32, y: i32) -> (i16, i16) {
        (
            x.clamp(0, i32::from(self.width) - 1) as i16,
            y.clamp(0, i32::from(self.height) - 1) as i16,
        )
    }

    /// Moves the pointer to `x, y` (clamped to the screen).
    pub fn move_to(&self, x: i32, y: i32) -> Result<(), Error> {
        let (x, y) = self.clamp(x, y);
        self.fake(MOTION_NOTIFY_EVENT, 0, x, y)?;
        self.sync()
    }

    /// Presses or releases `button` where the pointer is.
    pub fn button(&self, button: DesktopMouseButton, down: bool) -> Result<(), Error> {
        let kind = if down { BUTTON_PRESS_EVENT } else { BUTTON_RELEASE_EVENT };
        self.fake(kind, button_number(button), 0, 0)?;
        self.sync()
    }

    /// Clicks `count` times at `x, y`.
    pub fn click(&self, x: i32, y: i32, button: DesktopMouseButton, count: u32) -> Result<(), Error> {
        let (x, y) = self.clamp(x, y);
        self.fake(MOTION_NOTIFY_EVENT, 0, x, y)?;
        for _ in 0..count {
            self.fake(BUTTON_PRESS_EVENT, button_number(button), 0, 0)?;
            self.fake(BUTTON_RELEASE_EVENT, button_number(button), 0, 0)?;
        }
        self.sync()
    }

    /// Drags from one point to another with `button` held, through a few
    /// points between (applications see motion, not a jump).
    pub fn drag(&self, from: (i32, i32), to: (i32, i32), button: DesktopMouseButton) -> Result<(), Error> {
        let (x0, y0) = self.clamp(from.0, from.1);
        self.fake(MOTION_NOTIFY_EVENT, 0, x0, y0)?;
        self.fake(BUTTON_PRESS_EVENT, button_number(button), 0, 0)?;
        const STEPS: i32 = 8;
        for step in 1..=STEPS {
            let x = from.0 + (to.0 - from.0) * step / STEPS;
            let y = from.1 + (to.1 - from.1) * step / STEPS;
            let (x, y) = self.clamp(x, y);
            self.fake(MOTION_NOTIFY_EVENT, 0, x, y)?;
        }
        self.fake(BUTTON_RELEASE_EVENT, button_number(button), 0, 0)?;
        self.sync()
    }

    /// Wheel clicks at `x, y`: positive `dy` down, positive `dx` right.
    pub fn scroll(&self, x: i32, y: i32, dx: i32, dy: i32) -> Result<(), Error> {
        let (x, y) = self.clamp(x, y);
        self.fake(MOTION_NOTIFY_EVENT, 0, x, y)?;
        for (delta, negative, positive) in [(dy, 4u8, 5u8), (dx, 6, 7)] {
            let button = if delta < 0 { negative } else { positive };
            for _ in 0..delta.unsigned_abs().min(100) {
                self.fake(BUTTON_PRESS_EVENT, button, 0, 0)?;
                self.fake(BUTTON_RELEASE_EVENT, button, 0, 0)?;
            }
        }
        self.sync()
    }

    /// Where the pointer is, and the top-level window under it.
    pub fn pointer(&self) -> Result<(i32, i32, Option<Window>), Error> {
        let reply = self
            .conn
            .query_pointer(self.root)
            .map_err(|e| failed("reading the pointer", e))?
            .reply()
            .map_err(|e| failed("reading the pointer", e))?;
        let child = (reply.child != x11rb::NONE).then_some(reply.child);
        Ok((i32::from(reply.root_x), i32::from(reply.root_y), child))
    }

    /// Presses (`down`) or releases the key that types `keysym`, with Shift
    /// around the press when the keysym is the key's shifted one. The
    /// keysym must be bound (`bind`).
    fn key(&self, keysym: Keysym, down: bool) -> Result<(), Error> {
        let (keycode, level) = self.keycode(keysym)?;
        let shift = self.keycode(SHIFT_L)?.0;
        let kind = if down { KEY_PRESS_EVENT } else { KEY_RELEASE_EVENT };
        if level == 1 && down {
            self.fake(KEY_PRESS_EVENT, shift, 0, 0)?;
        }
        self.fake(kind, keycode, 0, 0)?;
        if level == 1 && down {
            self.fake(KEY_RELEASE_EVENT, shift, 0, 0)?;
        }
        Ok(())
    }

    fn keycode(&self, keysym: Keysym) -> Result<(Keycode, usize), Error> {
        self.keymap
            .find(keysym)
            .ok_or_else(|| failed("typing", format!("the keysym {keysym:#x} is bound to no key")))
    }

    /// Binds `keysym` to a scratch keycode unless a key already types it;
    /// true when it did. The keymap is read again first: other clients of
    /// the display may have changed it. Returns once clients had time to
    /// read the new mapping: a key event they see before it would type
    /// the old keysym or nothing.
    fn bind(&mut self, keysym: Keysym) -> Result<bool, Error> {
        if self.keymap.find(keysym).is_some() {
            return Ok(false);
        }
        self.keymap = read_keymap(&self.conn)?;
        if self.keymap.find(keysym).is_some() {
            return Ok(false);
        }
        let free = self
            .scratch
            .iter()
            .copied()
            .find(|keycode| self.held.iter().all(|(_, down)| down != keycode));
        let keycode = match free.or_else(|| self.keymap.spare()) {
            Some(keycode) => keycode,
            None => return Err(failed("typing", "no spare keycode to bind a character to")),
        };
        if !self.scratch.contains(&keycode) {
            self.scratch.push(keycode);
        }
        let row = self.keymap.row_for(keysym);
        self.conn
            .change_keyboard_mapping(1, keycode, self.keymap.per_keycode as u8, &row)
            .map_err(|e| failed("binding a keysym", e))?;
        self.sync()?;
        self.keymap.set(keycode, &row);
        std::thread::sleep(MAPPING_SETTLE);
        Ok(true)
    }

    /// Types `text`.
    pub fn type_text(&mut self, text: &str) -> Result<(), Error> {
        let keysyms: Vec<Keysym> = text
            .chars()
            .map(|ch| match ch {
                '\n' | '\r' => RETURN,
                '\t' => TAB,
                other => xkeysym::Keysym::from_char(other).raw(),
            })
            .collect();
        for (index, &keysym) in keysyms.iter().enumerate() {
            let rebound = self.bind(keysym)?;
            self.key(keysym, true)?;
            self.key(keysym, false)?;
            self.sync()?;
            let next_rebinds = keysyms
                .get(index + 1)
                .is_some_and(|next| self.keymap.find(*next).is_none());
            if rebound && next_rebinds {
                // Clients translate this key with the mapping it was
                // typed with before the next character changes it.
                std::thread::sleep(MAPPING_SETTLE);
            }
        }
        Ok(())
    }

    /// Presses a chord (`ctrl+shift+t`, `Return`, `a`): every key down in
    /// order, then up in reverse.
    pub fn press(&mut self, chord: &[Keysym]) -> Result<(), Error> {
        for keysym in chord {
            self.key_raw(*keysym, true)?;
        }
        for keysym in chord.iter().rev() {
            self.key_raw(*keysym, false)?;
        }
        self.sync()
    }

    /// A key down or up, without adding Shift (modifiers are explicit).
    pub fn key_raw(&mut self, keysym: Keysym, down: bool) -> Result<(), Error> {
        let held = self.held.iter().position(|(held, _)| *held == keysym);
        let keycode = match (down, held) {
            // Released where it went down, whatever the map says now.
            (false, Some(index)) => self.held.remove(index).1,
            (false, None) => match self.keymap.find(keysym) {
                Some((keycode, _)) => keycode,
                // Not down and bound to no key: nothing to release.
                None => return Ok(()),
            },
            (true, _) => {
                self.bind(keysym)?;
                let (keycode, _) = self.keycode(keysym)?;
                if held.is_none() {
                    self.held.push((keysym, keycode));
                }
                keycode
            }
        };
        self.fake(if down { KEY_PRESS_EVENT } else { KEY_RELEASE_EVENT }, keycode, 0, 0)?;
        self.sync()
    }

    /// The pixels of a region as RGB, with the pointer drawn when asked.
    pub fn capture(&self, x: i32, y: i32, width: u16, height: u16, cursor: bool) -> Result<RgbImage, Error> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, x as i16, y as i16, width, height, !0)
            .map_err(|e| failed("reading the screen", e))?
            .reply()
            .map_err(|e| failed("reading the screen", e))?;
        let pixels = width as usize * height as usize;
        if reply.data.len() < pixels * 4 {
            return Err(failed("reading the screen", "a short image (the screen is not 24-bit)"));
        }
        let mut rgb = Vec::with_capacity(pixels * 3);
        for bgrx in reply.data.chunks_exact(4).take(pixels) {
            rgb.extend_from_slice(&[bgrx[2], bgrx[1], bgrx[0]]);
        }
        let mut image = RgbImage::from_raw(u32::from(width), u32::from(height), rgb)
            .ok_or_else(|| failed("reading the screen", "a malformed image"))?;
        if cursor {
            self.draw_cursor(&mut image, x, y)?;
        }
        Ok(image)
    }

    /// Blends the pointer's image (XFIXES, ARGB premultiplied) over `image`
    /// whose top left is at `x0, y0` on the screen.
    fn draw_cursor(&self, image: &mut RgbImage, x0: i32, y0: i32) -> Result<(), Error> {
        let cursor = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(|e| failed("reading the pointer's image", e))?
            .reply()
            .map_err(|e| failed("reading the pointer's image", e))?;
        let left = i32::from(cursor.x) - i32::from(cursor.xhot) - x0;
        let top = i32::from(cursor.y) - i32::from(cursor.yhot) - y0;
        for cy in 0..i32::from(cursor.height) {
            for cx in 0..i32::from(cursor.width) {
                let (px, py) = (left + cx, top + cy);
                if px < 0 || py < 0 || px >= image.width() as i32 || py >= image.height() as i32 {
                    continue;
                }
                let argb = cursor.cursor_image[(cy * i32::from(cursor.width) + cx) as usize];
                let alpha = argb >> 24;
                if alpha == 0 {
                    continue;
                }
                let pixel = image.get_pixel_mut(px as u32, py as u32);
                for (channel, shift) in [(0, 16), (1, 8), (2, 0)] {
                    let source = (argb >> shift) & 0xff;
                    let under = u32::from(pixel[channel]);
                    pixel[channel] = (source + under * (255 - alpha) / 255).min(255) as u8;
                }
            }
        }
        Ok(())
    }

    /// Top-level windows the window manager manages, in its stacking
    /// order, with the active one marked.
    pub fn windows(&self) -> Result<Vec<DesktopWindowInfo>, Error> {
        let active = self.active_window()?;
        let list = self
            .conn
            .get_property(false, self.root, self.atoms.net_client_list, AtomEnum::WINDOW, 0, 4096)
            .map_err(|e| failed("listing windows", e))?
            .reply()
            .map_err(|e| failed("listing windows", e))?;
        let ids: Vec<Window> = list.value32().map(Iterator::collect).unwrap_or_default();
        let mut windows = Vec::with_capacity(ids.len());
        for id in ids {
            // A window may close while it is read: leave it out.
            if let Ok(info) = self.window(id, active) {
                windows.push(info);
            }
        }
        Ok(windows)
    }

    /// One window's title and geometry (its position on the screen).
    pub fn window(&self, id: Window, active: Option<Window>) -> Result<DesktopWindowInfo, Error> {
        let geometry = self
            .conn
            .get_geometry(id)
            .map_err(|e| failed("reading a window", e))?
            .reply()
            .map_err(|_| Error::new(ErrorCode::NotFound, format!("no window {}", window_id(id))))?;
        let at = self
            .conn
            .translate_coordinates(id, self.root, 0, 0)
            .map_err(|e| failed("reading a window", e))?
            .reply()
            .map_err(|e| failed("reading a window", e))?;
        Ok(DesktopWindowInfo {
            id: window_id(id),
            title: self.title(id)?,
            x: i32::from(at.dst_x),
            y: i32::from(at.dst_y),
            width: i32::from(geometry.width),
            height: i32::from(geometry.height),
            is_active: active == Some(id),
        })
    }

    fn title(&self, id: Window) -> Result<String, Error> {
        for (atom, kind) in [
            (self.atoms.net_wm_name, self.atoms.utf8_string),
            (AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()),
        ] {
            let reply = self
                .conn
                .get_property(false, id, atom, kind, 0, 1024)
                .map_err(|e| failed("reading a title", e))?
                .reply()
                .map_err(|e| failed("reading a title", e))?;
            if !reply.value.is_empty() {
                return Ok(String::from_utf8_lossy(&reply.value).into_owned());
            }
        }
        Ok(String::new())
    }

    fn window_property(&self, window: Window, atom: Atom) -> Result<Option<Window>, Error> {
        let reply = self
            .conn
            .get_property(false, window, atom, AtomEnum::WINDOW, 0, 1)
            .map_err(|e| failed("reading a property", e))?
            .reply()
            .map_err(|e| failed("reading a property", e))?;
        Ok(reply.value32().and_then(|mut v| v.next()).filter(|w| *w != x11rb::NONE))
    }

    /// The window with the focus, per the window manager.
    pub fn active_window(&self) -> Result<Option<Window>, Error> {
        self.window_property(self.root, self.atoms.net_active_window)
    }

    /// Asks the window manager to activate (raise and focus) `id`.
    pub fn focus(&self, id: Window) -> Result<(), Error> {
        let event = ClientMessageEvent::new(32, id, self.atoms.net_active_window, [2, x11rb::CURRENT_TIME, 0, 0, 0]);
        self.conn
            .send_event(
                false,
                self.root,
                EventMask::SUBSTRUCTURE_REDIRECT | EventMask::SUBSTRUCTURE_NOTIFY,
                event,
            )
            .map_err(|e| failed("focusing a window", e))?;
        self.sync()
    }

    /// Moves or resizes `id` (the window manager places its frame).
    pub fn configure(&self, id: Window, aux: &ConfigureWindowAux) -> Result<(), Error> {
        self.conn
            .configure_window(id, aux)
            .map_err(|e| failed("configuring a window", e))?;
        self.sync()
    }
}

/// `0x…`, as xdotool and sandbox-agent write window ids.
pub fn window_id(id: Window) -> String {
    format!("0x{id:x}")
}

/// A window id as the API writes it (`0x…` or decimal).
pub fn parse_window_id(text: &str) -> Result<Window, Error> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| Error::new(ErrorCode::NotFound, format!("no window {text:?}")))
}

fn button_number(button: DesktopMouseButton) -> u8 {
    match button {
        DesktopMouseButton::Left => 1,
        DesktopMouseButton::Middle => 2,
        DesktopMouseButton::Right => 3,
    }
}

fn read_keymap(conn: &RustConnection<GuardedStream>) -> Result<KeyMap, Error> {
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let reply = conn
        .get_keyboard_mapping(min, max - min + 1)
        .map_err(|e| failed("reading the keyboard map", e))?
        .reply()
        .map_err(|e| failed("reading the keyboard map", e))?;
    Ok(KeyMap {
        min_keycode: min,
        per_keycode: usize::from(reply.keysyms_per_keycode.max(1)),
        keysyms: reply.keysyms,
    })
}

const SHIFT_L: Keysym = 0xffe1;
const RETURN: Keysym = 0xff0d;
const TAB: Keysym = 0xff09;

/// The keysym of a key name: an X keysym name (`Return`, `Page_Up`,
/// `F5`, `a`), a common alias (`enter`, `esc`, `ctrl`, `cmd`, `pagedown`,
/// any case), or a single character.
pub fn keysym_of(name: &str) -> Option<Keysym> {
    static NAMES: OnceLock<HashMap<String, Keysym>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names = HashMap::new();
        let all = || {
            (0..=0xffffu32).chain(0x1008_ff00..=0x1008_ffff).filter_map(|raw| {
                xkeysym::Keysym::new(raw)
                    .name()
                    .map(|n| (n.trim_start_matches("XK_"), raw))
            })
        };
        // Exact names first, then any case for names not taken (`a` is
        // XK_a, never XK_A).
        for (name, raw) in all() {
            names.entry(name.to_owned()).or_insert(raw);
        }
        for (name, raw) in all() {
            names.entry(name.to_ascii_lowercase()).or_insert(raw);
        }
        for (alias, target) in [
            ("enter", "Return"),
            ("return", "Return"),
            ("esc", "Escape"),
            ("escape", "Escape"),
            ("ctrl", "Control_L"),
            ("control", "Control_L"),
            ("shift", "Shift_L"),
            ("alt", "Alt_L"),
            ("option", "Alt_L"),
            ("cmd", "Super_L"),
            ("super", "Super_L"),
            ("meta", "Super_L"),
            ("win", "Super_L"),
            ("backspace", "BackSpace"),
            ("del", "Delete"),
            // X names these keysyms Prior and Next.
            ("page_up", "Prior"),
            ("page_down", "Next"),
            ("pageup", "Prior"),
            ("pagedown", "Next"),
            ("pgup", "Prior"),
            ("pgdn", "Next"),
            ("arrowup", "Up"),
            ("arrowdown", "Down"),
            ("arrowleft", "Left"),
            ("arrowright", "Right"),
            ("space", "space"),
        ] {
            if let Some(raw) = names.get(target).copied() {
                names.insert(alias.to_owned(), raw);
            }
        }
        names
    });
    if let Some(raw) = names.get(name).or_else(|| names.get(&name.to_ascii_lowercase())) {
        return Some(*raw);
    }
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(ch), None) => Some(xkeysym::Keysym::from_char(ch).raw()),
        _ => None,
    }
}

/// The keysyms of a chord: `ctrl+shift+t`, `Return`, with `modifiers`
/// held too (as xdotool and the computer-use tools write keys).
pub fn chord(key: &str, modifiers: Option<DesktopKeyModifiers>) -> Result<Vec<u32>, Error> {
    let mut names: Vec<&str> = Vec::new();
    if let Some(m) = modifiers {
        for (held, name) in [(m.ctrl, "ctrl"), (m.shift, "shift"), (m.alt, "alt"), (m.cmd, "cmd")] {
            if held == Some(true) {
                names.push(name);
            }
        }
    }
    // `+` alone, or at the end (`ctrl++`), is the plus key.
    let parts: Vec<&str> = if key == "+" {
        vec!["+"]
    } else if let Some(head) = key.strip_suffix("++") {
        head.split('+').chain(["+"]).collect()
    } else {
        key.split('+').collect()
    };
    names.extend(parts);
    names
        .iter()
        .map(|name| {
            keysym_of(name.trim()).ok_or_else(|| {
                Error::new(
                    ErrorCode::BadRequest,
                    format!("unknown key {name:?} (X keysym names such as Return, Page_Up, F5, or one character)"),
                )
            })
        })
        .collect()
}

/// Encodes `image` as `format` (JPEG at `quality`).
pub fn encode(image: &RgbImage, format: DesktopScreenshotFormat, quality: u8) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(image.len() / 4);
    let (width, height) = image.dimensions();
    let written = match format {
        DesktopScreenshotFormat::Png => PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
            .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8),
        DesktopScreenshotFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, quality).write_image(
            image.as_raw(),
            width,
            height,
            ExtendedColorType::Rgb8,
        ),
        DesktopScreenshotFormat::Webp => {
            WebPEncoder::new_lossless(&mut out).write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        }
    };
    written.map_err(Error::internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebound_keycode_types_its_new_keysym_and_is_no_longer_spare() {
        // Keycodes 8..=11, two keysyms each: `a`/`A`, then three empty.
        let mut map = KeyMap {
            min_keycode: 8,
            per_keycode: 2,
            keysyms: vec![0x61, 0x41, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(map.find(0x41), Some((8, 1)));
        assert_eq!(map.spare(), Some(11));
        map.set(11, &map.row_for(0xe9));
        assert_eq!(map.find(0xe9), Some((11, 0)));
        assert_eq!(map.spare(), Some(10));
        // Rebinding the same keycode forgets what it typed before.
        map.set(11, &map.row_for(0x20ac));
        assert_eq!((map.find(0xe9), map.find(0x20ac)), (None, Some((11, 0))));
    }

    #[test]
    fn key_names_resolve_as_xdotool_writes_them() {
        assert_eq!(keysym_of("Return"), Some(0xff0d));
        assert_eq!(keysym_of("enter"), Some(0xff0d));
        assert_eq!(keysym_of("ctrl"), Some(0xffe3));
        assert_eq!(keysym_of("Page_Down"), Some(0xff56));
        assert_eq!(keysym_of("F5"), Some(0xffc2));
        assert_eq!(keysym_of("a"), Some(0x61));
        assert_eq!(keysym_of("A"), Some(0x41));
        assert_eq!(keysym_of("é"), Some(0xe9));
        assert_eq!(keysym_of("no-such-key"), None);
    }

    fn framing(limit: usize) -> Framing {
        Framing {
            setup_read: false,
            header: Vec::new(),
            remaining: 0,
            limit,
        }
    }

    #[test]
    fn packets_over_the_limit_are_refused_before_they_are_read() {
        // A setup answer of 8 + 4*2 bytes, then a reply of 32 + 4*1, an
        // event, then a reply claiming 4 GiB: fed one byte at a time, as a
        // hostile server could send them.
        let mut stream = vec![1, 0, 11, 0, 0, 0, 2, 0];
        stream.extend([0xaa; 8]);
        let mut reply = vec![1u8, 0, 1, 0, 1, 0, 0, 0];
        reply.extend([0; 24]);
        reply.extend([7; 4]);
        stream.extend(&reply);
        stream.extend([2u8; 32]);
        let mut f = framing(1 << 20);
        for byte in &stream {
            f.check(std::slice::from_ref(byte)).expect("within the limit");
        }
        assert_eq!((f.remaining, f.header.len()), (0, 0), "at a packet boundary");
        let mut huge = vec![1u8, 0, 2, 0, 0xff, 0xff, 0xff, 0xff];
        huge.extend([0; 24]);
        let err = f.check(&huge).expect_err("a 16 GiB reply");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // A generic event (type 35) carries a length too.
        let mut f = framing(1 << 20);
        f.check(&[1, 0, 11, 0, 0, 0, 0, 0]).expect("setup");
        let mut generic = vec![35u8, 0, 3, 0, 0, 0, 0x10, 0];
        generic.extend([0; 24]);
        assert!(f.check(&generic).is_err(), "4 MiB of generic event");
        // The setup answer's own length is checked.
        assert!(framing(1000).check(&[1, 0, 11, 0, 0, 0, 0xff, 0xff]).is_err());
    }

    #[test]
    fn window_ids_round_trip() {
        assert_eq!(window_id(0x40000a), "0x40000a");
        assert_eq!(parse_window_id("0x40000a").ok(), Some(0x40000a));
        assert_eq!(parse_window_id("4194314").ok(), Some(0x40000a));
        assert!(parse_window_id("window").is_err());
    }
}
