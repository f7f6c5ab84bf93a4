//! A process's output as the runtime API serves it: chunks with sequence
//! numbers in a ring bounded by bytes (the oldest go first), and a watch
//! that wakes followers when a chunk arrives or the process ends.

use std::collections::VecDeque;

use base64::Engine as _;
use paddock_api::runtime::processes::{ProcessLogEntry, ProcessLogsStream};
use tokio::sync::watch;

/// Bytes a chunk costs beyond its data (its header and allocation), counted
/// against the ring's budget.
const CHUNK_OVERHEAD: usize = 64;

/// One chunk as read from a stream.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub sequence: u64,
    pub stream: ProcessLogsStream,
    pub timestamp_ms: i64,
    pub bytes: Vec<u8>,
}

impl Chunk {
    /// The wire entry (base64 data).
    pub fn entry(&self) -> ProcessLogEntry {
        ProcessLogEntry {
            sequence: self.sequence,
            stream: self.stream,
            timestamp_ms: self.timestamp_ms,
            data: base64::engine::general_purpose::STANDARD.encode(&self.bytes),
            encoding: "base64".into(),
        }
    }

    /// Whether a read of `wanted` includes this chunk.
    pub fn matches(&self, wanted: ProcessLogsStream) -> bool {
        wanted == self.stream || (wanted == ProcessLogsStream::Combined && self.stream != ProcessLogsStream::Pty)
    }
}

/// The retained output of one process.
#[derive(Debug)]
pub struct LogRing {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    max_bytes: usize,
    next_sequence: u64,
    /// Last sequence written, and whether the output ended.
    changed: watch::Sender<(u64, bool)>,
}

impl LogRing {
    pub fn new(max_bytes: usize) -> LogRing {
        LogRing {
            chunks: VecDeque::new(),
            bytes: 0,
            max_bytes: max_bytes.max(1),
            next_sequence: 1,
            changed: watch::channel((0, false)).0,
        }
    }

    /// Appends a chunk, dropping the oldest beyond the byte budget (which
    /// counts each chunk's bookkeeping too, so tiny writes cannot multiply
    /// the memory a ring holds).
    pub fn push(&mut self, stream: ProcessLogsStream, bytes: &[u8]) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.bytes += bytes.len() + CHUNK_OVERHEAD;
        self.chunks.push_back(Chunk {
            sequence,
            stream,
            timestamp_ms: crate::db::now_ms(),
            bytes: bytes.to_vec(),
        });
        while self.bytes > self.max_bytes && self.chunks.len() > 1 {
            if let Some(old) = self.chunks.pop_front() {
                self.bytes -= old.bytes.len() + CHUNK_OVERHEAD;
            }
        }
        self.changed.send_modify(|state| state.0 = sequence);
    }

    /// Gives back the spare capacity of an ended output.
    pub fn shrink(&mut self) {
        self.chunks.shrink_to_fit();
    }

    /// Marks the output ended (after the last chunk).
    pub fn close(&mut self) {
        self.changed.send_modify(|state| state.1 = true);
    }

    /// A receiver woken by every change.
    pub fn subscribe(&self) -> watch::Receiver<(u64, bool)> {
        self.changed.subscribe()
    }

    /// Retained chunks of `stream` after `since`, at most the last `tail`.
    pub fn read(&self, stream: ProcessLogsStream, since: Option<u64>, tail: Option<usize>) -> Vec<Chunk> {
        let after = since.unwrap_or(0);
        let matching: Vec<&Chunk> = self
            .chunks
            .iter()
            .filter(|c| c.sequence > after && c.matches(stream))
            .collect();
        let skip = tail.map_or(0, |tail| matching.len().saturating_sub(tail));
        matching.into_iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_bytes_and_filters_by_stream() {
        let mut ring = LogRing::new(10 + 2 * CHUNK_OVERHEAD);
        ring.push(ProcessLogsStream::Stdout, b"aaaa");
        ring.push(ProcessLogsStream::Stderr, b"bbbb");
        ring.push(ProcessLogsStream::Stdout, b"cccc");
        let all = ring.read(ProcessLogsStream::Combined, None, None);
        assert_eq!(all.iter().map(|c| c.sequence).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(ring.read(ProcessLogsStream::Stdout, None, None).len(), 1);
        assert_eq!(ring.read(ProcessLogsStream::Combined, Some(2), None)[0].bytes, b"cccc");
        assert_eq!(ring.read(ProcessLogsStream::Combined, None, Some(1))[0].sequence, 3);
        assert!(ring.read(ProcessLogsStream::Pty, None, None).is_empty());
    }
}
