//! v1 freezer: `freezer.state` moves through FREEZING to FROZEN.

use std::io;
use std::path::Path;

use crate::cgroup::wait_until;

pub(super) fn set(dir: &Path, frozen: bool) -> io::Result<()> {
    let state = dir.join("freezer.state");
    let wanted = if frozen { "FROZEN" } else { "THAWED" };
    std::fs::write(&state, wanted)?;
    wait_until(|| match std::fs::read_to_string(&state) {
        Ok(now) if now.trim() == wanted => true,
        Ok(now) => {
            // A task that could not be frozen at the first attempt (caught
            // mid-exec or in a vfork wait, as a freshly started jail often
            // is) keeps the group FREEZING until FROZEN is written again:
            // the kernel retries only on a write.
            if frozen && now.trim() == "FREEZING" {
                let _ = std::fs::write(&state, wanted);
            }
            false
        }
        Err(_) => false,
    })
}
