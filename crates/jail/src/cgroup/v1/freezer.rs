//! v1 freezer: `freezer.state` moves through FREEZING to FROZEN.

use std::io;
use std::path::Path;

use crate::cgroup::wait_until;

pub(super) fn set(dir: &Path, frozen: bool) -> io::Result<()> {
    let state = dir.join("freezer.state");
    let wanted = if frozen { "FROZEN" } else { "THAWED" };
    std::fs::write(&state, wanted)?;
    wait_until(|| std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == wanted))
}
