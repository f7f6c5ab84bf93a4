//! Integration tests of the snapshot store on real file systems (no mocks):
//! round trips, restore's refusals, isolation of restored files from the
//! pool, incremental snapshots, garbage collection, the reflink path on a
//! loop-mounted xfs image (root), fork copies, and property tests of
//! restore's path validation.

mod common;
mod concurrency;
mod copy;
mod gc;
mod incremental;
mod isolation;
mod props;
mod reflink;
mod restore_safety;
mod roundtrip;
mod sparse;
