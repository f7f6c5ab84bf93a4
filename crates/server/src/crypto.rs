//! Secrets at rest and bearer tokens: the AEAD master key, random tokens
//! and their hashes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Bytes of a master key (XChaCha20-Poly1305).
const KEY_BYTES: usize = 32;

/// Why the master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `PADDOCK_MASTER_KEY` is not 64 hex digits.
    #[error("PADDOCK_MASTER_KEY must be 64 hex digits (32 bytes)")]
    BadEnv,
    /// The key file is unreadable, malformed or too open.
    #[error("master key file {path}: {reason}")]
    BadFile { path: String, reason: String },
}

/// Encrypts upstream secrets (credentials) at rest.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// From `env` (hex) when given, else from `file`, which is created
    /// (mode 0600, random key) when missing.
    pub fn load(env: Option<&str>, file: &Path) -> Result<MasterKey, KeyError> {
        if let Some(text) = env {
            return Self::from_hex(text.trim()).ok_or(KeyError::BadEnv);
        }
        let bad = |reason: String| KeyError::BadFile {
            path: file.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(file)
                    .map_err(|e| bad(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(bad(format!("mode {:o} lets others read it; chmod 600", mode & 0o777)));
                }
                Self::from_hex(text.trim()).ok_or_else(|| bad("not 64 hex digits".into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_BYTES];
                rand::rng().fill_bytes(&mut key);
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(file)
                    .map_err(|e| bad(e.to_string()))?;
                writeln!(out, "{}", hex::encode(key)).map_err(|e| bad(e.to_string()))?;
                out.sync_all().map_err(|e| bad(e.to_string()))?;
                Ok(Self::from_bytes(&key))
            }
            Err(e) => Err(bad(e.to_string())),
        }
    }

    fn from_hex(text: &str) -> Option<MasterKey> {
        let bytes = hex::decode(text).ok()?;
        (bytes.len() == KEY_BYTES).then(|| Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> MasterKey {
        MasterKey {
            cipher: XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(bytes)),
        }
    }

    /// Encrypts `plain`; `context` (e.g. tenant and service) is bound to
    /// the ciphertext, so a row copied elsewhere does not decrypt.
    pub fn seal(&self, plain: &[u8], context: &str) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let payload = chacha20poly1305::aead::Payload {
            msg: plain,
            aad: context.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        (nonce.to_vec(), sealed)
    }

    /// Decrypts what [`seal`](Self::seal) made with the same context.
    pub fn open(&self, nonce: &[u8], sealed: &[u8], context: &str) -> Option<Vec<u8>> {
        if nonce.len() != 24 {
            return None;
        }
        let payload = chacha20poly1305::aead::Payload {
            msg: sealed,
            aad: context.as_bytes(),
        };
        self.cipher.decrypt(XNonce::from_slice(nonce), payload).ok()
    }
}

/// A new 256-bit random token, hex, with a prefix (`pdk_`, `phm_`).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A new id: `prefix` and 24 hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// How a token is stored and looked up: BLAKE3, hex. Tokens are 256-bit
/// random, so a fast hash is enough (no dictionary to attack).
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// AEAD context of a credential: a sealed secret only opens as this
/// tenant's key for this service.
pub fn credential_context(tenant: &str, service: &str) -> String {
    format!("credential:{tenant}:{service}")
}

/// A short, non-reversible fingerprint of a secret for display.
pub fn fingerprint(secret: &str) -> String {
    let hash = blake3::keyed_hash(b"paddock credential fingerprint!!", secret.as_bytes());
    format!("blake3:{}", &hash.to_hex()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load(None, &dir.path().join("key")).unwrap();
        let (nonce, sealed) = key.seal(b"sk-secret", "t1/openai");
        assert!(!sealed.windows(9).any(|w| w == b"sk-secret"));
        assert_eq!(key.open(&nonce, &sealed, "t1/openai").unwrap(), b"sk-secret");
        assert!(key.open(&nonce, &sealed, "t2/openai").is_none());
        let other = MasterKey::load(Some(&"11".repeat(32)), Path::new("/nonexistent")).unwrap();
        assert!(other.open(&nonce, &sealed, "t1/openai").is_none());
        // The generated key file is private and reloads to the same key.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = MasterKey::load(None, &dir.path().join("key")).unwrap();
        assert_eq!(again.open(&nonce, &sealed, "t1/openai").unwrap(), b"sk-secret");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(MasterKey::load(Some("abc"), Path::new("/x")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "11".repeat(32)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(MasterKey::load(None, &path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token("phm_");
        assert_eq!(a.len(), 4 + 64);
        assert_ne!(a, new_token("phm_"));
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
        assert_eq!(new_id("sess_").len(), 5 + 24);
    }
}
