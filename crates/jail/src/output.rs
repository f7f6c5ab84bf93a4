//! Capturing a jail's output: a per-stream cap with UTF-8-safe truncation
//! (threat-model row 19).

use std::os::fd::RawFd;

use serde::{Serialize, Serializer};

/// Captured output of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The bytes kept (at most the cap; never ends inside a UTF-8 character
    /// when the cap cut the stream).
    pub bytes: Vec<u8>,
    /// Whether the stream produced more than was kept.
    pub truncated: bool,
    /// Bytes the stream produced in total.
    pub total_bytes: u64,
}

impl Output {
    /// The output as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

impl Serialize for Output {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

/// Most bytes one `read_from` asks for.
const READ_AT_ONCE: usize = 1 << 20;

/// Accumulates up to `cap` bytes of a stream.
#[derive(Debug)]
pub(crate) struct Capture {
    cap: usize,
    output: Output,
}

impl Capture {
    pub(crate) fn new(cap: usize) -> Self {
        Capture {
            cap,
            output: Output::default(),
        }
    }

    /// Keeps what fits of `chunk`; returns how many of its bytes were kept.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> usize {
        self.output.total_bytes += chunk.len() as u64;
        let room = self.cap.saturating_sub(self.output.bytes.len());
        if chunk.len() > room {
            self.output.truncated = true;
        }
        let kept = chunk.len().min(room);
        self.output.bytes.extend_from_slice(&chunk[..kept]);
        kept
    }

    /// One `read` from `fd` straight into the kept bytes while there is
    /// room (no intermediate copy), into `scratch` once the cap is reached
    /// (counted, not kept). Returns what `read` returned.
    pub(crate) fn read_from(&mut self, fd: RawFd, scratch: &mut Vec<u8>) -> std::io::Result<usize> {
        let room = self.cap.saturating_sub(self.output.bytes.len());
        let (target, len) = if room > 0 {
            let want = room.min(READ_AT_ONCE);
            self.output.bytes.reserve(want);
            let spare = self.output.bytes.spare_capacity_mut();
            (spare.as_mut_ptr().cast::<u8>(), want.min(spare.len()))
        } else {
            scratch.resize(READ_AT_ONCE, 0);
            (scratch.as_mut_ptr(), scratch.len())
        };
        // SAFETY: `target` points to `len` writable bytes (spare capacity of
        // the kept bytes, or the scratch buffer) that nothing else uses
        // during the call.
        let n = unsafe { libc::read(fd, target.cast(), len) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = n as usize;
        self.output.total_bytes += n as u64;
        if room > 0 {
            // SAFETY: the kernel initialised the first `n` spare bytes.
            unsafe { self.output.bytes.set_len(self.output.bytes.len() + n) };
        } else if n > 0 {
            self.output.truncated = true;
        }
        Ok(n)
    }

    pub(crate) fn finish(mut self) -> Output {
        if self.output.truncated {
            let cut = utf8_safe_len(&self.output.bytes);
            self.output.bytes.truncate(cut);
        }
        self.output
    }
}

/// Length of `bytes` without a trailing, incomplete UTF-8 sequence (the one
/// a byte cap may have cut in half). Invalid bytes earlier are left alone:
/// binary output stays as it was.
pub(crate) fn utf8_safe_len(bytes: &[u8]) -> usize {
    // A UTF-8 sequence is at most 4 bytes: only the last 3 can be a cut one.
    let start = bytes.len().saturating_sub(3);
    for i in (start..bytes.len()).rev() {
        let b = bytes[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let needed = match b {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return bytes.len(),
        };
        return if bytes.len() - i < needed { i } else { bytes.len() };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_character() {
        // "é" is 2 bytes, "€" 3, "😀" 4: every cut position must give valid UTF-8.
        let text = "aé€😀".repeat(50);
        for cap in 0..text.len() {
            let mut capture = Capture::new(cap);
            for chunk in text.as_bytes().chunks(7) {
                capture.push(chunk);
            }
            let out = capture.finish();
            assert!(out.truncated || cap >= text.len());
            assert!(std::str::from_utf8(&out.bytes).is_ok(), "cap {cap}");
            assert!(out.bytes.len() <= cap && out.bytes.len() + 3 >= cap);
            assert_eq!(out.total_bytes, text.len() as u64);
        }
    }

    #[test]
    fn reads_fill_up_to_the_cap_then_count_only() {
        let mut fds = [0; 2];
        // SAFETY: pipe() fills two descriptors that this test closes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let data: Vec<u8> = (0..100u8).collect();
        // SAFETY: writing 100 bytes from a live buffer to the pipe.
        assert_eq!(unsafe { libc::write(fds[1], data.as_ptr().cast(), data.len()) }, 100);
        // SAFETY: closing our write end, so the reads end at end of file.
        unsafe { libc::close(fds[1]) };
        let mut capture = Capture::new(60);
        let mut scratch = Vec::new();
        let mut reads = Vec::new();
        loop {
            match capture.read_from(fds[0], &mut scratch).unwrap() {
                0 => break,
                n => reads.push(n),
            }
        }
        // SAFETY: closing our read end.
        unsafe { libc::close(fds[0]) };
        // The first read stops at the cap; the rest is counted, not kept.
        assert_eq!(reads, vec![60, 40]);
        let out = capture.finish();
        assert_eq!(out.bytes, data[..60]);
        assert!(out.truncated);
        assert_eq!(out.total_bytes, 100);
    }

    #[test]
    fn untruncated_binary_output_is_kept_as_is() {
        let mut capture = Capture::new(100);
        capture.push(&[0xff, 0xfe, b'a', 0xe2]);
        let out = capture.finish();
        assert_eq!(out.bytes, vec![0xff, 0xfe, b'a', 0xe2]);
        assert!(!out.truncated);
    }
}
