//! Cryptographic building blocks: the IKE PRF and prf+, truncated HMAC integrity, the
//! Diffie-Hellman groups, the key schedule, and the SK payload protection. All key material
//! lives in zeroizing containers.

pub mod dh;
pub mod keys;
pub mod prf;
pub mod sk;
pub mod sym;

/// A cryptographic operation failed on input from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A DH public value is malformed, off the curve, or gives a degenerate secret.
    #[error("invalid key exchange value")]
    InvalidPublicValue,
    /// The integrity check failed.
    #[error("integrity check failed")]
    IntegrityCheck,
    /// The ciphertext is too short or not block-aligned, or the padding is bad.
    #[error("malformed ciphertext")]
    Malformed,
}
