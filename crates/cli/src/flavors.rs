//! Flavors paddock builds itself (`paddock flavors install NAME`), from the
//! package registries, into the state directory's `flavors/`.
//!
//! `python-data`: Python packages for the jails' own interpreter (the
//! host's `/usr/bin/python3`, which every jail sees under `/usr`),
//! installed by that interpreter's pip into `lib/python`, and `bin/python3`
//! (and `python`) that run it with them. A flavor is mounted at
//! `/opt/flavors/NAME` with `bin/` first on `PATH`, so in a workspace made
//! with it `python3` has numpy, pandas and matplotlib, and code kernels
//! find ipykernel and bash_kernel.
//!
//! `desktop`: the Debian packages of a workspace's desktop (Xvfb, openbox,
//! x11vnc for the live view, ffmpeg, xclip, fonts), installed on the host with apt (jails see the
//! host's `/usr`), and the fontconfig file jails lack (`etc/fonts`), which
//! a workspace made with the flavor uses (`FONTCONFIG_FILE`). The server
//! drives the display itself (input, screenshots, windows over X11).
//!
//! `browser`: Debian's Chromium (installed on the host with apt) and the
//! real `agent-browser` from npm (its package ships the Linux binary, so
//! nothing is downloaded at install), with `bin/agent-browser`, a wrapper
//! that launches the host's Chromium the way a jail needs (the jail is its
//! sandbox), and the same fontconfig file as `desktop`. The server's
//! browser route runs it; agents in the workspace can run it too.
//!
//! `typescript`: tslab (the Jupyter kernel of JavaScript and TypeScript)
//! from npm for the jails' own Node (`/usr/bin/node`), in `lib/node`, and
//! `bin/tslab`. Its dependencies are installed beneath it (npm's shallow
//! strategy), where tslab looks for `@types/node`, so `process` and
//! `require` have types in TypeScript code. A preloaded script makes
//! tslab's sends wait for each other (see [`SERIAL_SEND`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::client::{Failure, Outcome};

/// The interpreter jails run (they see the host's `/usr`).
const PYTHON: &str = "/usr/bin/python3";
/// What `python-data` holds.
const PYTHON_DATA_PACKAGES: &[&str] = &["numpy", "pandas", "matplotlib", "ipykernel", "bash_kernel"];

/// The Debian packages `desktop` installs.
const DESKTOP_PACKAGES: &[&str] = &[
    "xvfb",
    "openbox",
    "x11vnc",
    "ffmpeg",
    "xclip",
    "x11-utils",
    "xdg-utils",
    "fonts-dejavu-core",
    "python3-tk",
    "fontconfig",
];

/// The Debian packages `browser` installs.
const BROWSER_PACKAGES: &[&str] = &["chromium", "fonts-dejavu-core", "fontconfig"];
/// The agent-browser release `browser` holds.
const AGENT_BROWSER: &str = "agent-browser@0.41.2";
/// The binary its npm package ships for this host.
const AGENT_BROWSER_BINARY: &str = "bin/agent-browser-linux-x64";

/// `bin/agent-browser` of `browser`: the flavor's agent-browser with the
/// host's Chromium. Every call must launch the same way (a call with other
/// settings would relaunch the browser), so the wrapper sets them.
const AGENT_BROWSER_WRAPPER: &str = r#"#!/bin/sh
# paddock flavor browser: agent-browser driving the host's Chromium in a jail.
flavor=$(cd "$(dirname "$0")/.." && pwd)
export AGENT_BROWSER_EXECUTABLE_PATH="${AGENT_BROWSER_EXECUTABLE_PATH:-/usr/lib/chromium/chromium}"
# The jail is Chromium's sandbox (it refuses the user namespaces Chromium's
# own sandbox needs), and a jail's /dev/shm is small.
export AGENT_BROWSER_ARGS="${AGENT_BROWSER_ARGS:---no-sandbox,--disable-dev-shm-usage}"
export AGENT_BROWSER_NO_VERSION_CHECK=1
# Sockets and screenshots in the jail's /tmp, not the workspace's tree.
export AGENT_BROWSER_SOCKET_DIR="${AGENT_BROWSER_SOCKET_DIR:-/tmp/.agent-browser}"
export AGENT_BROWSER_SCREENSHOT_DIR="${AGENT_BROWSER_SCREENSHOT_DIR:-/tmp/.agent-browser/screenshots}"
export FONTCONFIG_FILE="${FONTCONFIG_FILE:-$flavor/etc/fonts/fonts.conf}"
exec "$flavor/lib/agent-browser/bin/agent-browser-linux-x64" "$@"
"#;

/// `etc/fonts/fonts.conf` of `desktop` and `browser` (`FLAVOR` is the
/// flavor's name): the host's fonts under `/usr`, with the cache built at
/// install (`CACHE` in the flavor) and the jail's `/tmp` for what changed
/// since.
const FONTS_CONF: &str = r#"<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- paddock flavor FLAVOR: the fonts jails see (the host's /usr). -->
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <dir>/usr/local/share/fonts</dir>
  <cachedir>/opt/flavors/FLAVOR/var/cache/fontconfig</cachedir>
  <cachedir>/tmp/.fontconfig-cache</cachedir>
  <config><rescan><int>0</int></rescan></config>
</fontconfig>
"#;
/// Where in `desktop` and `browser` their font cache is.
const FONT_CACHE: &str = "var/cache/fontconfig";

/// The Node jails run.
const NODE: &str = "/usr/bin/node";
/// The tslab release `typescript` holds (its zeromq addon ships prebuilt
/// for Linux in the npm package, so nothing is compiled).
const TSLAB: &str = "tslab@1.0.22";

/// The wrapper at `bin/tslab`: the jails' Node running the flavor's
/// tslab, with [`SERIAL_SEND`] loaded first.
const TSLAB_WRAPPER: &str = r#"#!/bin/sh
# paddock flavor typescript: tslab for the jails' Node.
flavor=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/node --require "$flavor/lib/node/paddock-serial-send.js" "$flavor/lib/node/node_modules/tslab/bin/tslab" "$@"
"#;

/// `lib/node/paddock-serial-send.js`: tslab sends its replies without
/// waiting for the previous send; zeromq.js refuses a send while another is
/// in progress on the socket (EBUSY), which it starts doing after 512
/// immediate sends, and tslab then loses messages (a call that printed a
/// thousand lines never ended). Each socket's sends wait for the one
/// before. And tslab sends each write to stdout as its own iopub message,
/// which a publisher drops past its high-water mark (1000 queued): a burst
/// lost its end, the `idle` status among it, and the call never ended. The
/// iopub publisher queues without bound instead (a call's output is capped
/// by the server as it reads it).
const SERIAL_SEND: &str = r#"// paddock: loaded before tslab (node --require); see paddock's
// crates/cli/src/flavors.rs. Each zeromq socket's sends wait for the one
// before, as zeromq.js allows one send in progress per socket, and the iopub
// publisher never drops a message.
"use strict";
const path = require("path");
const zmq = require(require.resolve("zeromq", { paths: [path.join(__dirname, "node_modules", "tslab")] }));
const send = zmq.Socket.prototype.send;
const last = new WeakMap();
Object.defineProperty(zmq.Socket.prototype, "send", {
  configurable: true,
  writable: false,
  value: function serialSend(...args) {
    const previous = last.get(this) || Promise.resolve();
    const sent = previous.then(() => send.apply(this, args));
    last.set(this, sent.catch(() => undefined));
    return sent;
  },
});
// A publisher drops what passes its high-water mark; iopub's must not lose
// the end of a burst (the idle status that ends a call is part of it).
const bind = zmq.Publisher.prototype.bind;
Object.defineProperty(zmq.Publisher.prototype, "bind", {
  configurable: true,
  writable: false,
  value: function bindUnbounded(...args) {
    this.sendHighWaterMark = 0;
    return bind.apply(this, args);
  },
});
"#;

/// The wrapper at `bin/python3`: the interpreter with the flavor's
/// packages first on its path, wherever the flavor is mounted.
const PYTHON_WRAPPER: &str = r#"#!/bin/sh
# paddock flavor python-data: the jails' Python with the flavor's packages.
flavor=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$flavor/lib/python${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 "$@"
"#;

/// Builds flavor `name` in `state_dir/flavors/`.
pub fn install(name: &str, state_dir: PathBuf, replace: bool) -> Outcome {
    let root = state_dir.join("flavors");
    let target = root.join(name);
    if target.exists() && !replace {
        println!(
            "flavor {name} is installed in {} (--replace builds it again)",
            target.display()
        );
        return Ok(0);
    }
    std::fs::create_dir_all(&root).map_err(|e| Failure(format!("{}: {e}", root.display())))?;
    let staging = root.join(format!(".{name}.new"));
    let _ = std::fs::remove_dir_all(&staging);
    let built = match name {
        "python-data" => build_python_data(&staging),
        "typescript" => build_typescript(&staging),
        "desktop" => build_desktop(&staging),
        "browser" => build_browser(&staging),
        other => Err(Failure(format!(
            "no flavor named {other}: python-data, typescript, desktop or browser"
        ))),
    };
    if let Err(failure) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(failure);
    }
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| Failure(format!("{}: {e}", target.display())))?;
    }
    std::fs::rename(&staging, &target).map_err(|e| Failure(format!("{}: {e}", target.display())))?;
    let holds = match name {
        "typescript" => format!("{TSLAB} for {NODE}"),
        "desktop" => format!("fontconfig for the host's {}", DESKTOP_PACKAGES.join(", ")),
        "browser" => format!("{AGENT_BROWSER} for the host's {}", BROWSER_PACKAGES.join(", ")),
        _ => format!("{} for {PYTHON}", PYTHON_DATA_PACKAGES.join(", ")),
    };
    println!(
        "flavor {name}: {holds} in {}; make workspaces with it: paddock ws create --flavor {name}",
        target.display()
    );
    Ok(0)
}

fn build_python_data(dir: &Path) -> Result<(), Failure> {
    if !Path::new(PYTHON).exists() {
        return Err(Failure(format!(
            "{PYTHON} is missing: jails run the host's Python (apt-get install python3 python3-pip)"
        )));
    }
    let pip = Command::new(PYTHON)
        .args(["-m", "pip", "--version"])
        .output()
        .map_err(|e| Failure(format!("{PYTHON}: {e}")))?;
    if !pip.status.success() {
        return Err(Failure(format!(
            "{PYTHON} has no pip (apt-get install python3-pip): {}",
            String::from_utf8_lossy(&pip.stderr).trim()
        )));
    }
    let lib = dir.join("lib/python");
    eprintln!(
        "installing {} for {PYTHON} with pip ...",
        PYTHON_DATA_PACKAGES.join(", ")
    );
    let status = Command::new(PYTHON)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(&lib)
        .args(PYTHON_DATA_PACKAGES)
        // The root user's warning is about installing into the system's
        // environment, which --target does not do.
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .map_err(|e| Failure(format!("running pip: {e}")))?;
    if !status.success() {
        return Err(Failure(format!("pip failed ({status}); nothing was installed")));
    }
    for name in ["python3", "python"] {
        write_program(dir, name, PYTHON_WRAPPER)?;
    }
    // Jails run as other users than the one installing: everything is
    // readable, directories and programs searchable.
    open_to_all(dir).map_err(|e| Failure(format!("making {} readable: {e}", dir.display())))?;
    // The flavor works before it is put in place.
    check(
        Command::new(dir.join("bin/python3")).args(["-c", "import numpy, pandas, matplotlib, ipykernel, bash_kernel"]),
        "the built flavor does not import its packages",
    )
}

fn build_typescript(dir: &Path) -> Result<(), Failure> {
    if !Path::new(NODE).exists() {
        return Err(Failure(format!(
            "{NODE} is missing: jails run the host's Node (apt-get install nodejs npm)"
        )));
    }
    let lib = dir.join("lib/node");
    std::fs::create_dir_all(&lib).map_err(|e| Failure(format!("{}: {e}", lib.display())))?;
    eprintln!("installing {TSLAB} for {NODE} with npm ...");
    let status = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--loglevel=error",
            // zeromq's install script would build what its package ships
            // prebuilt.
            "--ignore-scripts",
            "--install-strategy=shallow",
            "--prefix",
        ])
        .arg(&lib)
        .arg(TSLAB)
        .status()
        .map_err(|e| Failure(format!("running npm (apt-get install npm): {e}")))?;
    if !status.success() {
        return Err(Failure(format!("npm failed ({status}); nothing was installed")));
    }
    let preload = lib.join("paddock-serial-send.js");
    std::fs::write(&preload, SERIAL_SEND).map_err(|e| Failure(format!("{}: {e}", preload.display())))?;
    write_program(dir, "tslab", TSLAB_WRAPPER)?;
    open_to_all(dir).map_err(|e| Failure(format!("making {} readable: {e}", dir.display())))?;
    // The kernel's native part loads on this Node before the flavor is put
    // in place.
    let tslab = lib.join("node_modules/tslab");
    check(
        Command::new(NODE)
            .current_dir(&tslab)
            .arg("--require")
            .arg(&preload)
            .args(["-e", "require('zeromq'); require('./dist/main.js')"]),
        &format!("the built flavor's tslab does not load on {NODE}"),
    )
}

fn build_desktop(dir: &Path) -> Result<(), Failure> {
    apt_install(DESKTOP_PACKAGES)?;
    build_fonts(dir, "desktop")?;
    open_to_all(dir).map_err(|e| Failure(format!("making {} readable: {e}", dir.display())))
}

fn build_browser(dir: &Path) -> Result<(), Failure> {
    apt_install(BROWSER_PACKAGES)?;
    build_fonts(dir, "browser")?;
    let lib = dir.join("lib/agent-browser");
    std::fs::create_dir_all(&lib).map_err(|e| Failure(format!("{}: {e}", lib.display())))?;
    eprintln!("fetching {AGENT_BROWSER} with npm ...");
    let packed = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(dir)
        .arg(AGENT_BROWSER)
        .output()
        .map_err(|e| Failure(format!("running npm (apt-get install npm): {e}")))?;
    if !packed.status.success() {
        return Err(Failure(format!(
            "npm pack {AGENT_BROWSER} failed: {}",
            String::from_utf8_lossy(&packed.stderr).trim()
        )));
    }
    let tarball = dir.join(String::from_utf8_lossy(&packed.stdout).trim());
    // Its files without the package's top directory; the binaries of other
    // systems stay out.
    check(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&lib)
            .args(["--strip-components=1", "--exclude=package/bin/agent-browser-darwin-*"])
            .args([
                "--exclude=package/bin/agent-browser-win32-*",
                "--exclude=package/bin/agent-browser-linux-*arm64",
            ])
            .arg("--exclude=package/bin/agent-browser-linux-musl-*"),
        "unpacking agent-browser",
    )?;
    let _ = std::fs::remove_file(&tarball);
    let binary = lib.join(AGENT_BROWSER_BINARY);
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Failure(format!("{}: {e}", binary.display())))?;
    write_program(dir, "agent-browser", AGENT_BROWSER_WRAPPER)?;
    open_to_all(dir).map_err(|e| Failure(format!("making {} readable: {e}", dir.display())))?;
    check(
        Command::new(&binary).arg("--version"),
        &format!("the flavor's {AGENT_BROWSER_BINARY} does not run here"),
    )
}

/// Installs the Debian packages of `packages` that are missing.
fn apt_install(packages: &[&str]) -> Result<(), Failure> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !deb_installed(p)).collect();
    if !missing.is_empty() {
        println!("installing {} with apt-get ...", missing.join(", "));
        check(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install (as root; apt-get update first if the lists are old)",
        )?;
    }
    match packages.iter().find(|p| !deb_installed(p)) {
        Some(package) => Err(Failure(format!("{package} is still not installed"))),
        None => Ok(()),
    }
}

/// Writes flavor `name`'s `etc/fonts/fonts.conf` and builds its font cache
/// once here: a workspace's first program that draws text would otherwise
/// scan every font (seconds) in its own /tmp. The cache is keyed by the
/// font directories, the same paths in the jails.
fn build_fonts(dir: &Path, name: &str) -> Result<(), Failure> {
    let conf = FONTS_CONF.replace("FLAVOR", name);
    let fonts = dir.join("etc/fonts");
    std::fs::create_dir_all(&fonts).map_err(|e| Failure(format!("{}: {e}", fonts.display())))?;
    std::fs::write(fonts.join("fonts.conf"), &conf).map_err(|e| Failure(format!("{}: {e}", fonts.display())))?;
    let cache = dir.join(FONT_CACHE);
    std::fs::create_dir_all(&cache).map_err(|e| Failure(format!("{}: {e}", cache.display())))?;
    let build_conf = dir.join("fonts-build.conf");
    let conf = conf
        .replace(&format!("/opt/flavors/{name}/{FONT_CACHE}"), &cache.to_string_lossy())
        .replace("  <cachedir>/tmp/.fontconfig-cache</cachedir>\n", "");
    std::fs::write(&build_conf, conf).map_err(|e| Failure(format!("{}: {e}", build_conf.display())))?;
    check(
        Command::new("fc-cache").arg("-f").env("FONTCONFIG_FILE", &build_conf),
        "building the font cache (fc-cache, from fontconfig)",
    )?;
    let _ = std::fs::remove_file(&build_conf);
    Ok(())
}

/// Whether Debian package `name` is installed.
fn deb_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|out| out.stdout.ends_with(b"install ok installed"))
}

/// Runs a built flavor's check; `failed` and its stderr when it fails.
fn check(command: &mut Command, failed: &str) -> Result<(), Failure> {
    let out = command
        .output()
        .map_err(|e| Failure(format!("checking the flavor: {e}")))?;
    if !out.status.success() {
        return Err(Failure(format!(
            "{failed}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Writes an executable `bin/NAME`.
fn write_program(dir: &Path, name: &str, text: &str) -> Result<(), Failure> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| Failure(format!("{}: {e}", bin.display())))?;
    let path = bin.join(name);
    std::fs::write(&path, text).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn open_to_all(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let wanted = if meta.is_dir() || mode & 0o100 != 0 {
        mode | 0o755
    } else {
        mode | 0o644
    };
    if wanted != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            open_to_all(&entry?.path())?;
        }
    }
    Ok(())
}
