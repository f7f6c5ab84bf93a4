//! The X11 side of a workspace's desktop, over one connection to its Xvfb
//! (a TCP socket of the jail's network namespace, made by its init): input
//! with XTEST, screenshots with GetImage (the pointer drawn from XFIXES),
//! windows through the window manager's EWMH properties. Every call is
//! blocking; the service runs them off the async runtime, one at a time.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::OnceLock;

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
}

/// A connection to a desktop's X server.
pub struct X11Desktop {
    conn: RustConnection,
    root: Window,
    /// The screen's size.
    pub width: u16,
    pub height: u16,
    atoms: Atoms,
    keymap: KeyMap,
}

impl X11Desktop {
    /// Connects over `stream` (Xvfb runs with access control off: only the
    /// jail's own processes and this server reach it).
    pub fn connect(stream: TcpStream) -> Result<X11Desktop, Error> {
        stream.set_nonblocking(false).map_err(|e| failed("the X socket", e))?;
        let (stream, _) = DefaultStream::from_tcp_stream(stream).map_err(|e| failed("the X socket", e))?;
        let conn = RustConnection::connect_to_stream(stream, 0).map_err(|e| failed("connecting to the X server", e))?;
        let screen = &conn.setup().roots[0];
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

    /// Presses (`down`) or releases a key by keysym; a keysym the keyboard
    /// map lacks is bound to a spare keycode first. Answers the keycode and
    /// whether it needs Shift.
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
        if let Some(found) = self.keymap.find(keysym) {
            return Ok(found);
        }
        let spare = self
            .keymap
            .spare()
            .ok_or_else(|| failed("typing", "no spare keycode to bind a character to"))?;
        let mut syms = vec![0; self.keymap.per_keycode];
        syms[0] = keysym;
        if syms.len() > 1 {
            syms[1] = keysym;
        }
        self.conn
            .change_keyboard_mapping(1, spare, self.keymap.per_keycode as u8, &syms)
            .map_err(|e| failed("binding a keysym", e))?;
        self.sync()?;
        Ok((spare, 0))
    }

    /// Types `text`, waiting `delay` between characters.
    pub fn type_text(&mut self, text: &str, delay: std::time::Duration) -> Result<(), Error> {
        for ch in text.chars() {
            let keysym = match ch {
                '\n' | '\r' => RETURN,
                '\t' => TAB,
                other => xkeysym::Keysym::from_char(other).raw(),
            };
            let rebinding = self.keymap.find(keysym).is_none();
            self.key(keysym, true)?;
            self.key(keysym, false)?;
            self.sync()?;
            if rebinding {
                // Applications read the new binding when they see the
                // press; the spare keycode is reused by the next one.
                std::thread::sleep(std::time::Duration::from_millis(20));
                self.keymap = read_keymap(&self.conn)?;
            }
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
        }
        Ok(())
    }

    /// Presses a chord (`ctrl+shift+t`, `Return`, `a`): every key down in
    /// order, then up in reverse.
    pub fn press(&self, chord: &[Keysym]) -> Result<(), Error> {
        for keysym in chord {
            self.key_raw(*keysym, true)?;
        }
        for keysym in chord.iter().rev() {
            self.key_raw(*keysym, false)?;
        }
        self.sync()
    }

    /// A key down or up, without adding Shift (modifiers are explicit).
    pub fn key_raw(&self, keysym: Keysym, down: bool) -> Result<(), Error> {
        let (keycode, _) = self.keycode(keysym)?;
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

fn read_keymap(conn: &RustConnection) -> Result<KeyMap, Error> {
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

    #[test]
    fn window_ids_round_trip() {
        assert_eq!(window_id(0x40000a), "0x40000a");
        assert_eq!(parse_window_id("0x40000a").ok(), Some(0x40000a));
        assert_eq!(parse_window_id("4194314").ok(), Some(0x40000a));
        assert!(parse_window_id("window").is_err());
    }
}
