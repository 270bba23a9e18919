//! The secrets the controller hands out (auth keys, API keys): generated, shown once, stored
//! only as a hash, and compared in constant time.
//!
//! A key is written `cvlan-auth-<id>-<secret>` (auth keys) or `cvlan-api-<id>-<secret>` (API
//! keys): `<id>` is 16 lowercase hex digits naming the key in lists, revocations and the
//! audit log; `<secret>` is 64 lowercase hex digits, 256 bits from the operating system's
//! CSPRNG. The database keeps the id and the SHA-256 of the secret, never the secret.
//!
//! A plain SHA-256 is enough here, and a slow password hash (argon2, bcrypt) would buy
//! nothing: those exist to slow down guessing of low-entropy human passwords, while guessing a
//! 256-bit random secret from its hash is out of reach at any speed.

use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Bytes of randomness in a key's id.
const ID_BYTES: usize = 8;
/// Bytes of randomness in a key's secret.
const SECRET_BYTES: usize = 32;

/// Which kind of key, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Node registration (`cvlan-auth-…`).
    Auth,
    /// Admin API (`cvlan-api-…`).
    Api,
}

impl KeyKind {
    /// The text every key of this kind starts with.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Auth => "cvlan-auth-",
            KeyKind::Api => "cvlan-api-",
        }
    }
}

/// A key as handed to its user, once: its id and the whole key text. Its `Debug` shows the
/// id only; the key text comes out only through [`IssuedKey::reveal`].
pub struct IssuedKey {
    id: String,
    key: Zeroizing<String>,
    hash: SecretHash,
}

impl IssuedKey {
    /// A new key of `kind` with a fresh id and secret.
    pub fn generate(kind: KeyKind) -> Self {
        let id = hex(&random::<ID_BYTES>());
        let secret = Zeroizing::new(hex(&*Zeroizing::new(random::<SECRET_BYTES>())));
        let hash = SecretHash::of(&secret);
        let key = Zeroizing::new(format!("{}{id}-{}", kind.prefix(), secret.as_str()));
        Self { id, key, hash }
    }

    /// The key's id (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The whole key text, to show its user this once.
    pub fn reveal(&self) -> &str {
        &self.key
    }

    /// The hash the store keeps.
    pub fn hash(&self) -> &SecretHash {
        &self.hash
    }
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A key someone presented, split into id and secret; its `Debug` shows the id only.
pub struct PresentedKey<'a> {
    id: &'a str,
    secret: &'a str,
}

impl<'a> PresentedKey<'a> {
    /// Splits `text` as a key of `kind`; `None` when it is not shaped like one.
    pub fn parse(kind: KeyKind, text: &'a str) -> Option<Self> {
        let rest = text.trim().strip_prefix(kind.prefix())?;
        let (id, secret) = rest.split_once('-')?;
        let hex_of = |s: &str, bytes: usize| {
            s.len() == bytes * 2 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        };
        (hex_of(id, ID_BYTES) && hex_of(secret, SECRET_BYTES)).then_some(Self { id, secret })
    }

    /// The id part.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// True when the secret part hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &SecretHash) -> bool {
        SecretHash::of(self.secret).0.ct_eq(&stored.0).into()
    }
}

impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The SHA-256 of a key's secret part: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(
    /// The digest.
    pub [u8; 32],
);

impl SecretHash {
    fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// The SHA-256 of `text` in lowercase hex (network.kdl revisions are named by it).
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_back_and_matches_only_its_hash() {
        let key = IssuedKey::generate(KeyKind::Api);
        assert!(key.reveal().starts_with("cvlan-api-"));
        assert_eq!(key.reveal().len(), "cvlan-api-".len() + 16 + 1 + 64);
        let presented = PresentedKey::parse(KeyKind::Api, key.reveal()).unwrap();
        assert_eq!(presented.id(), key.id());
        assert!(presented.matches(key.hash()));
        let other = IssuedKey::generate(KeyKind::Api);
        assert!(!presented.matches(other.hash()));
        assert_ne!(other.id(), key.id());
        assert!(PresentedKey::parse(KeyKind::Auth, key.reveal()).is_none());
        assert!(PresentedKey::parse(KeyKind::Api, "cvlan-api-abc-def").is_none());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let key = IssuedKey::generate(KeyKind::Auth);
        let secret = key.reveal().rsplit('-').next().unwrap().to_owned();
        let presented = PresentedKey::parse(KeyKind::Auth, key.reveal()).unwrap();
        for text in [
            format!("{key:?}"),
            format!("{presented:?}"),
            format!("{:?}", key.hash()),
        ] {
            assert!(!text.contains(&secret), "{text}");
        }
        assert!(format!("{key:?}").contains(key.id()));
    }

    #[test]
    fn revision_hashes_are_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
