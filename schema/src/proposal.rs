//! IKE and ESP proposals in the strongSwan-style syntax network.kdl uses
//! (`aes256gcm16-prfsha256-x25519`, `aes256-sha256-ecp256`, `aes256gcm16`), parsed into
//! the transforms CloudVLAN supports.

/// An encryption transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-GCM with a 16-byte ICV (`aes128gcm16`, `aes256gcm16`).
    AesGcm16 {
        /// 128 or 256.
        key_bits: u16,
    },
    /// AES-CBC (`aes128`, `aes256`), used with an integrity transform.
    AesCbc {
        /// 128 or 256.
        key_bits: u16,
    },
}

impl Encryption {
    /// True for AEAD transforms, which take no separate integrity transform.
    pub fn is_aead(self) -> bool {
        matches!(self, Encryption::AesGcm16 { .. })
    }
}

/// An integrity transform (truncated HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-SHA2-256-128 (`sha256`).
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (`sha384`).
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (`sha512`).
    HmacSha512_256,
}

/// A pseudo-random function for IKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (`prfsha256`).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (`prfsha384`).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (`prfsha512`).
    HmacSha512,
}

/// A Diffie-Hellman group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Curve25519, IANA group 31 (`x25519`, `curve25519`).
    Curve25519,
    /// NIST P-256, IANA group 19 (`ecp256`).
    Ecp256,
    /// 2048-bit MODP, IANA group 14 (`modp2048`).
    Modp2048,
}

/// An IKE SA proposal: one transform of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// Encryption.
    pub encryption: Encryption,
    /// Integrity (none for AEAD encryption).
    pub integrity: Option<Integrity>,
    /// PRF.
    pub prf: Prf,
    /// Key exchange group.
    pub dh: DhGroup,
}

/// An ESP (child SA) proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// Encryption.
    pub encryption: Encryption,
    /// Integrity (none for AEAD encryption).
    pub integrity: Option<Integrity>,
    /// DH group for perfect forward secrecy on rekey, if any.
    pub dh: Option<DhGroup>,
}
