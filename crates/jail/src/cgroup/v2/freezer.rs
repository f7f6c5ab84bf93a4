//! v2 freezer: `cgroup.freeze`, confirmed by `frozen` in `cgroup.events`.

use std::io;
use std::path::Path;

use crate::cgroup::{read_keyed, wait_until, StatFiles};

pub(super) fn set(dir: &Path, frozen: bool) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let wanted = u64::from(frozen);
    wait_until(|| read_keyed(&StatFiles::default(), dir, "cgroup.events", "frozen") == Some(wanted))
}
