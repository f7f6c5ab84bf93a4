//! A reader between an upload's body and `tar::Archive` that follows the
//! tar's 512-byte block structure as the bytes pass through, and refuses an
//! extension entry (GNU long name `L` or long link `K`, PAX header `x` or
//! `g`) declaring more than [`MAX_EXTENSION_SIZE`] bytes before the `tar`
//! crate reads it: `tar` 0.4 reads such an entry whole into memory whatever
//! its size, so one upload could make the server hold gigabytes.
//!
//! It tracks the archive as `tar` 0.4 does (`Archive::next_entry`): a PAX
//! `size` record overrides the size of the entry it describes, and a GNU
//! sparse entry's extension blocks come between its header and its data.
//! Headers whose fields `tar` refuses (checksum, size) fail there, before
//! any of their data is read. File data is passed through as it streams.

use std::fmt;
use std::io::{self, Read};

use tar::{EntryType, Header, PaxExtensions};

/// The largest long name, long link or PAX header accepted, in bytes.
pub(super) const MAX_EXTENSION_SIZE: u64 = 64 << 10;

const BLOCK: usize = 512;

/// Why the guard stopped an archive (the text of a `BAD_ARCHIVE` answer).
#[derive(Debug)]
pub(super) struct Refused(pub(super) String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Where the guard is in the archive.
enum Phase {
    /// At a header block.
    Header,
    /// At the extension blocks of a GNU sparse entry, then `data` bytes.
    SparseExt { data: u64 },
    /// Inside an entry's data (padding included); `keep` collects a PAX
    /// header's `size` bytes.
    Data { left: u64, keep: Option<(Vec<u8>, u64)> },
    /// Past the end of the archive (or a truncated block): bytes pass.
    Done,
}

/// The guarding reader; see the module's documentation.
pub(super) struct TarGuard<R> {
    inner: R,
    phase: Phase,
    /// A whole block read ahead and checked, being handed out.
    block: [u8; BLOCK],
    block_len: usize,
    block_pos: usize,
    /// A PAX header read and not yet applied: its `size` record, if any.
    pending_pax: Option<Option<u64>>,
}

impl<R: Read> TarGuard<R> {
    pub(super) fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            phase: Phase::Header,
            block: [0; BLOCK],
            block_len: 0,
            block_pos: 0,
            pending_pax: None,
        }
    }

    /// Reads the next block whole (short only at the body's end).
    fn fill_block(&mut self) -> io::Result<usize> {
        let mut n = 0;
        while n < BLOCK {
            match self.inner.read(&mut self.block[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.block_len = n;
        self.block_pos = 0;
        Ok(n)
    }

    /// Checks the header block just read and sets what follows it.
    fn header(&mut self) -> io::Result<()> {
        if self.block.iter().all(|b| *b == 0) {
            // The end of the archive: `tar` reads no further.
            self.phase = Phase::Done;
            return Ok(());
        }
        let header = Header::from_byte_slice(&self.block);
        let kind = header.entry_type();
        let declared = header
            .entry_size()
            .map_err(|e| refuse(format!("a tar header has an unreadable size field ({e})")))?;
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension && declared > MAX_EXTENSION_SIZE {
            return Err(refuse(format!(
                "a tar {} entry declares {declared} bytes; GNU long names and links and PAX \
                 headers are refused over {MAX_EXTENSION_SIZE} bytes",
                describe(kind)
            )));
        }
        // As `tar` does: an extension entry with a ustar or GNU header is
        // held for the entry after it; anything else is an entry returned,
        // which a pending PAX header's `size` describes.
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let size = if extension {
            declared
        } else {
            self.pending_pax.flatten().unwrap_or(declared)
        };
        let held = recognized && extension && !kind.is_pax_global_extensions();
        if !held {
            self.pending_pax = None;
        }
        let keep = (recognized && kind.is_pax_local_extensions()).then(|| (Vec::new(), size));
        let sparse_ext = !held && kind.is_gnu_sparse() && header.as_gnu().is_some_and(|gnu| gnu.is_extended());
        let data = padded(size)?;
        self.phase = if sparse_ext {
            Phase::SparseExt { data }
        } else {
            Phase::Data { left: data, keep }
        };
        self.after_data();
        Ok(())
    }

    /// Moves on from a data phase that is over.
    fn after_data(&mut self) {
        if let Phase::Data { left: 0, keep } = &mut self.phase {
            if let Some((bytes, size)) = keep.take() {
                let end = (size as usize).min(bytes.len());
                self.pending_pax = Some(pax_size(&bytes[..end]));
            }
            self.phase = Phase::Header;
        }
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.block_pos == self.block_len {
            match self.phase {
                Phase::Header | Phase::SparseExt { .. } => {
                    let n = self.fill_block()?;
                    if n == 0 {
                        return Ok(0);
                    }
                    if n < BLOCK {
                        // A truncated block: `tar` fails on it.
                        self.phase = Phase::Done;
                    } else if let Phase::SparseExt { data } = self.phase {
                        // `isextended` of a GNU sparse extension block.
                        if self.block[504] != 1 {
                            self.phase = Phase::Data { left: data, keep: None };
                            self.after_data();
                        }
                    } else {
                        self.header()?;
                    }
                }
                Phase::Data { left, .. } => {
                    let want = (buf.len() as u64).min(left) as usize;
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Ok(0);
                    }
                    if let Phase::Data { left, keep } = &mut self.phase {
                        *left -= n as u64;
                        if let Some((bytes, _)) = keep {
                            bytes.extend_from_slice(&buf[..n]);
                        }
                    }
                    self.after_data();
                    return Ok(n);
                }
                Phase::Done => return self.inner.read(buf),
            }
        }
        let n = buf.len().min(self.block_len - self.block_pos);
        buf[..n].copy_from_slice(&self.block[self.block_pos..self.block_pos + n]);
        self.block_pos += n;
        Ok(n)
    }
}

fn refuse(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Refused(why))
}

/// An entry's size rounded up to whole blocks.
fn padded(size: u64) -> io::Result<u64> {
    size.checked_add(BLOCK as u64 - 1)
        .map(|s| s & !(BLOCK as u64 - 1))
        .ok_or_else(|| refuse("a tar entry's size overflows".to_owned()))
}

/// The `size` record of a PAX header, read as `tar` 0.4 reads it (the first
/// `size` record; none when a record before it is malformed).
fn pax_size(data: &[u8]) -> Option<u64> {
    for record in PaxExtensions::new(data) {
        let record = record.ok()?;
        if record.key() != Ok("size") {
            continue;
        }
        return record.value().ok()?.parse().ok();
    }
    None
}

fn describe(kind: EntryType) -> &'static str {
    match kind {
        EntryType::GNULongName => "GNU long name ('L')",
        EntryType::GNULongLink => "GNU long link ('K')",
        EntryType::XHeader => "PAX header ('x')",
        _ => "PAX global header ('g')",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `tar` through the guard as paddock does; the paths read, or
    /// the guard's refusal.
    fn read(tar: &[u8], chunk: usize) -> Result<Vec<String>, String> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut archive = tar::Archive::new(TarGuard::new(Chunks(tar, chunk)));
        let mut paths = Vec::new();
        let err = |e: io::Error| match e.get_ref().and_then(|e| e.downcast_ref::<Refused>()) {
            Some(refused) => refused.0.clone(),
            None => format!("tar: {e}"),
        };
        for entry in archive.entries().map_err(err)? {
            let mut entry = entry.map_err(err)?;
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(err)?;
            paths.push(format!(
                "{}={}",
                String::from_utf8_lossy(&entry.path_bytes()),
                data.len()
            ));
        }
        Ok(paths)
    }

    fn header(name: &[u8], kind: EntryType, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        header
    }

    #[test]
    fn long_names_within_the_limit_and_pax_sizes_pass() {
        let long = format!("{}/{}", "d".repeat(99), "f".repeat(100));
        assert_eq!(long.len(), 200);
        // GNU long names (the `tar` crate's default), file data around them.
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_size(1000);
        builder.append_data(&mut h, &long, &[1u8; 1000][..]).unwrap();
        builder.append_data(&mut h, "short", &[2u8; 1000][..]).unwrap();
        let gnu = builder.into_inner().unwrap();
        // PAX: a path record and a `size` record overriding the header's.
        let mut pax = Vec::new();
        let record = |k: &str, v: &str| {
            let body = format!(" {k}={v}\n");
            let mut n = body.len() + 1;
            while format!("{n}{body}").len() != n {
                n += 1;
            }
            format!("{n}{body}")
        };
        let records = format!("{}{}", record("path", &long), record("size", "700"));
        let mut builder = tar::Builder::new(&mut pax);
        let mut x = header(b"././@PaxHeader", EntryType::XHeader, records.len() as u64);
        x.set_size(records.len() as u64);
        x.set_cksum();
        builder.append(&x, records.as_bytes()).unwrap();
        builder
            .append(&header(b"ignored", EntryType::Regular, 5), &[3u8; 700][..])
            .unwrap();
        builder
            .append(&header(b"after", EntryType::Regular, 3), &[4u8; 3][..])
            .unwrap();
        builder.finish().unwrap();
        drop(builder);
        for chunk in [1, 7, 512, 4096, usize::MAX] {
            assert_eq!(
                read(&gnu, chunk).unwrap(),
                [format!("{long}=1000"), "short=1000".to_owned()]
            );
            assert_eq!(
                read(&pax, chunk).unwrap(),
                [format!("{long}=700"), "after=3".to_owned()]
            );
        }
    }

    #[test]
    fn oversized_extension_entries_are_refused_before_their_data() {
        for kind in [
            EntryType::GNULongName,
            EntryType::GNULongLink,
            EntryType::XHeader,
            EntryType::XGlobalHeader,
        ] {
            let mut tar = header(b"././@LongLink", kind, 8 << 30).as_bytes().to_vec();
            tar.extend_from_slice(&[b'a'; 4096]);
            let why = read(&tar, 4096).unwrap_err();
            assert!(why.contains("declares 8589934592 bytes"), "{why}");
            assert!(why.contains("over 65536 bytes"), "{why}");
            // Nothing past the header was read.
            let mut guard = TarGuard::new(&tar[..]);
            let mut buf = [0; 4096];
            let err = guard.read(&mut buf).unwrap_err();
            assert!(err.get_ref().unwrap().is::<Refused>());
            assert_eq!(guard.inner.len(), 4096);
        }
        // GNU base-256 sizes are read too.
        let mut h = header(b"././@LongLink", EntryType::GNULongName, 0);
        h.as_old_mut().size = [0x80, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
        h.set_cksum();
        assert!(read(h.as_bytes(), 512)
            .unwrap_err()
            .contains("declares 268435456 bytes"));
        // At the limit is fine.
        let mut tar = header(b"././@LongLink", EntryType::GNULongName, MAX_EXTENSION_SIZE)
            .as_bytes()
            .to_vec();
        tar.resize(tar.len() + MAX_EXTENSION_SIZE as usize, b'n');
        tar.extend_from_slice(header(b"x", EntryType::Regular, 0).as_bytes());
        tar.extend_from_slice(&[0; 1024]);
        assert_eq!(read(&tar, 4096).unwrap(), [format!("{}=0", "n".repeat(65536))]);
    }

    #[test]
    fn a_pax_size_cannot_hide_an_oversized_entry() {
        // A PAX header makes the next entry's data 1024 bytes, in which a
        // `L` header declaring 8 GiB sits: the guard follows the PAX size
        // (as `tar` does) and so does not take it for a header.
        let records = "12 size=512\n";
        let mut tar = header(b"p", EntryType::XHeader, records.len() as u64)
            .as_bytes()
            .to_vec();
        tar.extend_from_slice(records.as_bytes());
        tar.resize(1024, 0);
        tar.extend_from_slice(header(b"file", EntryType::Regular, 0).as_bytes());
        tar.extend_from_slice(header(b"././@LongLink", EntryType::GNULongName, 8 << 30).as_bytes());
        tar.extend_from_slice(header(b"next", EntryType::Regular, 0).as_bytes());
        tar.extend_from_slice(&[0; 1024]);
        assert_eq!(read(&tar, 512).unwrap(), ["file=512", "next=0"]);
        // Without the PAX header the same bytes are a refused `L` entry.
        let why = read(&tar[1024..], 512);
        assert!(why.is_err(), "{why:?}");
    }
}
