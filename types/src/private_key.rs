//! A host's private keys (the node key, the machine key): generation, encoding, and the public
//! key each implies. A private key never prints itself (its `Debug` is redacted) and is wiped
//! from memory when dropped; it is created on the host and never leaves it.

use crate::PublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand_core::OsRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

/// An x25519 private key (the node key for WireGuard, the machine key for the controller).
#[derive(Clone)]
pub struct PrivateKey(StaticSecret);

/// Why bytes or text are not a private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    /// Not valid base64.
    #[error("private key is not valid base64")]
    Base64,
    /// Decoded to the wrong number of bytes.
    #[error("private key decodes to {0} bytes, a key has 32")]
    Length(usize),
}

impl PrivateKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(StaticSecret::random_from_rng(OsRng))
    }

    /// The key from its 32 raw bytes (clamping happens inside x25519, as in WireGuard).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// The key from the standard base64 form used by `wg genkey` and key files.
    pub fn from_base64(text: &str) -> Result<Self, PrivateKeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| PrivateKeyError::Base64)?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| PrivateKeyError::Length(bytes.len()))?;
        Ok(Self::from_bytes(array))
    }

    /// The standard base64 form, for writing the key file (0600) and nothing else.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.to_bytes()))
    }

    /// The public key peers configure for this node.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// The x25519 secret itself, for the data plane's handshakes (never for display or storage).
    pub fn secret(&self) -> &StaticSecret {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey(<redacted>, public {})", self.public_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_keeps_the_public_key() {
        let key = PrivateKey::generate();
        let again = PrivateKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert_eq!(
            PrivateKey::from_base64("AAEC").unwrap_err(),
            PrivateKeyError::Length(3)
        );
        assert_eq!(
            PrivateKey::from_base64("!!").unwrap_err(),
            PrivateKeyError::Base64
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = PrivateKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.to_base64().as_str()));
        assert!(shown.contains("redacted"));
    }
}
