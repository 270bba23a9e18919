//! Public keys as they appear in network.kdl: 32 bytes, standard base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A 32-byte x25519 public key (WireGuard, Noise).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

/// Why a string is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not valid base64.
    #[error("not valid base64")]
    Base64,
    /// Decoded to the wrong number of bytes.
    #[error("decodes to {0} bytes, a key has 32")]
    Length(usize),
}

impl PublicKey {
    /// The standard base64 form (44 characters), as in WireGuard configs.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The first 8 characters of the base64 form, for tables.
    pub fn short(&self) -> String {
        self.to_base64().chars().take(8).collect()
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| KeyError::Base64)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length(bytes.len()))?;
        Ok(Self(array))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_lengths() {
        let key: PublicKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
            .parse()
            .expect("valid key");
        assert_eq!(key.0[31], 31);
        assert_eq!(
            key.to_base64(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        );
        assert_eq!("AAEC".parse::<PublicKey>(), Err(KeyError::Length(3)));
        assert_eq!("not base64!".parse::<PublicKey>(), Err(KeyError::Base64));
    }
}
