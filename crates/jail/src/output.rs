//! Capturing a jail's output: a per-stream cap with UTF-8-safe truncation
//! (threat-model row 19) and splitting into lines for event streams.

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

    /// Whether nothing more will be kept.
    pub(crate) fn full(&self) -> bool {
        self.output.truncated
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.output.total_bytes += chunk.len() as u64;
        let room = self.cap.saturating_sub(self.output.bytes.len());
        if chunk.len() > room {
            self.output.truncated = true;
        }
        self.output.bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
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

/// Splits a byte stream into lines (without the newline); lines longer than
/// `max_line` are emitted in pieces, each cut on a character boundary.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
    max_line: usize,
}

impl LineSplitter {
    pub(crate) fn new(max_line: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            max_line,
        }
    }

    /// Feeds a chunk and returns the complete lines it finished.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in chunk {
            if byte == b'\n' {
                lines.push(self.take(self.pending.len()));
            } else {
                self.pending.push(byte);
                if self.pending.len() >= self.max_line {
                    let cut = utf8_safe_len(&self.pending).max(1);
                    lines.push(self.take(cut));
                }
            }
        }
        lines
    }

    /// The unterminated last line, if any.
    pub(crate) fn flush(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| self.take(self.pending.len()))
    }

    fn take(&mut self, len: usize) -> String {
        let rest = self.pending.split_off(len);
        let line = std::mem::replace(&mut self.pending, rest);
        let line = line.strip_suffix(b"\r").map(<[u8]>::to_vec).unwrap_or(line);
        String::from_utf8_lossy(&line).into_owned()
    }
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
    fn untruncated_binary_output_is_kept_as_is() {
        let mut capture = Capture::new(100);
        capture.push(&[0xff, 0xfe, b'a', 0xe2]);
        let out = capture.finish();
        assert_eq!(out.bytes, vec![0xff, 0xfe, b'a', 0xe2]);
        assert!(!out.truncated);
    }

    #[test]
    fn lines_split_across_chunks_and_long_lines_are_cut() {
        let mut splitter = LineSplitter::new(8);
        let mut lines = splitter.push(b"hel");
        lines.extend(splitter.push(b"lo\r\nwor"));
        lines.extend(splitter.push(b"ld\n0123456789"));
        assert_eq!(lines, vec!["hello", "world", "01234567"]);
        assert_eq!(splitter.flush().as_deref(), Some("89"));
        assert_eq!(splitter.flush(), None);
    }

    #[test]
    fn long_multibyte_lines_are_cut_on_boundaries() {
        let mut splitter = LineSplitter::new(5);
        let lines = splitter.push("€€€€".as_bytes());
        assert_eq!(lines, vec!["€", "€", "€"]);
    }
}
