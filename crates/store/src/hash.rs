//! [`BlobHash`]: the BLAKE3-256 digest that names a blob.
//!
//! It is parsed, never trusted as a string: a manifest read back from a
//! database can only name a blob by 64 hex digits, so a hash can never be
//! turned into a path outside the pool.

use std::ffi::CStr;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;

/// The BLAKE3-256 digest of a blob's contents; serialized as 64 lowercase
/// hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> BlobHash {
        BlobHash(*blake3::hash(data).as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The blob's path relative to the pool root: `ab/cdef…` (a two-level
    /// fan-out on the first byte), built on the stack.
    pub(crate) fn rel_path(&self) -> RelPath {
        let mut hex = [0u8; 64];
        // Cannot fail: the output is exactly twice the input's length.
        let _ = hex::encode_to_slice(self.0, &mut hex);
        let mut path = [0u8; 66];
        path[..2].copy_from_slice(&hex[..2]);
        path[2] = b'/';
        path[3..65].copy_from_slice(&hex[2..]);
        RelPath(path)
    }

    /// The fan-out directory index (the first byte).
    pub(crate) fn fanout(&self) -> u8 {
        self.0[0]
    }
}

/// `ab/cdef…` and a terminating NUL, for the `*at` system calls.
pub(crate) struct RelPath([u8; 66]);

impl RelPath {
    pub(crate) fn as_c_str(&self) -> &CStr {
        // SAFETY: the buffer is 65 bytes of hex digits and `/` (none of them
        // NUL) followed by one NUL, as `rel_path` builds it.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.0) }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0[..65]).unwrap_or_default()
    }
}

impl From<blake3::Hash> for BlobHash {
    fn from(hash: blake3::Hash) -> Self {
        BlobHash(*hash.as_bytes())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl FromStr for BlobHash {
    type Err = StoreError;

    /// Parses exactly 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(StoreError::InvalidHash(s.chars().take(80).collect()));
        }
        Ok(BlobHash(bytes))
    }
}

impl Serialize for BlobHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_fanout_path() {
        let hash = BlobHash::of(b"hello");
        let hex = hash.to_hex();
        assert_eq!(hex, blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(hex.parse::<BlobHash>().unwrap(), hash);
        assert_eq!(hex.to_uppercase().parse::<BlobHash>().unwrap(), hash);
        assert_eq!(hash.rel_path().as_str(), format!("{}/{}", &hex[..2], &hex[2..]));
        assert_eq!(
            hash.rel_path().as_c_str().to_bytes(),
            hash.rel_path().as_str().as_bytes()
        );
    }

    #[test]
    fn rejects_anything_but_64_hex_digits() {
        for bad in [
            "",
            "ab",
            "../../etc/passwd",
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<BlobHash>().is_err(), "{bad:?} accepted");
        }
        let json = serde_json::to_string(&"../x".repeat(16)).unwrap();
        assert!(serde_json::from_str::<BlobHash>(&json).is_err());
    }
}
