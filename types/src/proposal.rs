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

/// Why a proposal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// A known algorithm CloudVLAN does not implement (weak or uncommon).
    #[error("`{0}` is a known algorithm but not supported by CloudVLAN")]
    Unsupported(String),
    /// The text is not a proposal.
    #[error("{0}")]
    Invalid(String),
}

/// Algorithms strongSwan knows that CloudVLAN refuses on purpose.
const UNSUPPORTED: &[&str] = &[
    "3des",
    "des",
    "cast128",
    "blowfish",
    "null",
    "aes192",
    "aes128ctr",
    "aes192ctr",
    "aes256ctr",
    "aes128ccm8",
    "aes128ccm12",
    "aes128ccm16",
    "aes256ccm8",
    "aes256ccm12",
    "aes256ccm16",
    "aes128gcm8",
    "aes128gcm12",
    "aes192gcm8",
    "aes192gcm12",
    "aes192gcm16",
    "aes256gcm8",
    "aes256gcm12",
    "chacha20poly1305",
    "camellia128",
    "camellia192",
    "camellia256",
    "md5",
    "md5_128",
    "sha1",
    "sha1_160",
    "sha256_96",
    "aesxcbc",
    "aescmac",
    "prfmd5",
    "prfsha1",
    "prfaesxcbc",
    "prfaescmac",
    "modp768",
    "modp1024",
    "modp1536",
    "modp3072",
    "modp4096",
    "modp6144",
    "modp8192",
    "modp1024s160",
    "modp2048s224",
    "modp2048s256",
    "ecp192",
    "ecp224",
    "ecp384",
    "ecp521",
    "ecp224bp",
    "ecp256bp",
    "ecp384bp",
    "ecp512bp",
    "x448",
    "curve448",
    "mlkem512",
    "mlkem768",
    "mlkem1024",
];

/// One transform of a proposal, classified.
enum Transform {
    Encryption(Encryption),
    Integrity(Integrity),
    Prf(Prf),
    Dh(DhGroup),
}

fn transform(token: &str) -> Result<Transform, ProposalError> {
    Ok(match token {
        "aes128gcm16" | "aes128gcm" => {
            Transform::Encryption(Encryption::AesGcm16 { key_bits: 128 })
        }
        "aes256gcm16" | "aes256gcm" => {
            Transform::Encryption(Encryption::AesGcm16 { key_bits: 256 })
        }
        "aes128" => Transform::Encryption(Encryption::AesCbc { key_bits: 128 }),
        "aes256" => Transform::Encryption(Encryption::AesCbc { key_bits: 256 }),
        "sha256" | "sha2_256" => Transform::Integrity(Integrity::HmacSha256_128),
        "sha384" | "sha2_384" => Transform::Integrity(Integrity::HmacSha384_192),
        "sha512" | "sha2_512" => Transform::Integrity(Integrity::HmacSha512_256),
        "prfsha256" => Transform::Prf(Prf::HmacSha256),
        "prfsha384" => Transform::Prf(Prf::HmacSha384),
        "prfsha512" => Transform::Prf(Prf::HmacSha512),
        "x25519" | "curve25519" => Transform::Dh(DhGroup::Curve25519),
        "ecp256" => Transform::Dh(DhGroup::Ecp256),
        "modp2048" => Transform::Dh(DhGroup::Modp2048),
        t if UNSUPPORTED.contains(&t) => return Err(ProposalError::Unsupported(t.to_owned())),
        t => {
            return Err(ProposalError::Invalid(format!(
                "`{t}` is not an algorithm name"
            )));
        }
    })
}

/// The transforms of one proposal, at most one of each kind.
#[derive(Default)]
struct Parts {
    encryption: Option<Encryption>,
    integrity: Option<Integrity>,
    prf: Option<Prf>,
    dh: Option<DhGroup>,
}

fn parts(text: &str) -> Result<Parts, ProposalError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ProposalError::Invalid("empty proposal".to_owned()));
    }
    let mut parts = Parts::default();
    let mut unsupported = None;
    for token in text.split('-') {
        let token = token.to_ascii_lowercase();
        let dup = match transform(&token) {
            Ok(Transform::Encryption(e)) => parts.encryption.replace(e).is_some(),
            Ok(Transform::Integrity(i)) => parts.integrity.replace(i).is_some(),
            Ok(Transform::Prf(p)) => parts.prf.replace(p).is_some(),
            Ok(Transform::Dh(d)) => parts.dh.replace(d).is_some(),
            Err(ProposalError::Unsupported(t)) => {
                unsupported.get_or_insert(t);
                false
            }
            Err(e) => return Err(e),
        };
        if dup {
            return Err(ProposalError::Invalid(format!(
                "`{text}` names two algorithms of one kind; list alternatives as separate \
                 proposals separated by commas"
            )));
        }
    }
    match unsupported {
        Some(t) => Err(ProposalError::Unsupported(t)),
        None => Ok(parts),
    }
}

fn check_integrity(text: &str, parts: &Parts) -> Result<Encryption, ProposalError> {
    let Some(encryption) = parts.encryption else {
        return Err(ProposalError::Invalid(format!(
            "`{text}` names no encryption algorithm (e.g. aes256gcm16 or aes256)"
        )));
    };
    match (encryption.is_aead(), parts.integrity) {
        (true, Some(_)) => Err(ProposalError::Invalid(format!(
            "`{text}`: AES-GCM protects integrity itself and takes no integrity algorithm"
        ))),
        (false, None) => Err(ProposalError::Invalid(format!(
            "`{text}`: AES-CBC needs an integrity algorithm (sha256, sha384 or sha512)"
        ))),
        _ => Ok(encryption),
    }
}

/// Parses an IKE proposal such as `aes256gcm16-prfsha256-x25519` or `aes256-sha256-ecp256`.
///
/// With AES-CBC the PRF defaults to the integrity algorithm's hash, as strongSwan does; with
/// AES-GCM a `prf…` is required.
pub fn parse_ike(text: &str) -> Result<IkeProposal, ProposalError> {
    let parts = parts(text)?;
    let encryption = check_integrity(text, &parts)?;
    let prf = match (parts.prf, parts.integrity) {
        (Some(prf), _) => prf,
        (None, Some(integrity)) => integrity.implied_prf(),
        (None, None) => {
            return Err(ProposalError::Invalid(format!(
                "`{text}`: an AES-GCM IKE proposal needs a PRF (e.g. prfsha256)"
            )));
        }
    };
    let Some(dh) = parts.dh else {
        return Err(ProposalError::Invalid(format!(
            "`{text}`: an IKE proposal needs a key exchange group (x25519, ecp256 or modp2048)"
        )));
    };
    Ok(IkeProposal {
        encryption,
        integrity: parts.integrity,
        prf,
        dh,
    })
}

/// Parses an ESP proposal such as `aes256gcm16`, `aes256-sha256` or `aes256gcm16-x25519`
/// (a DH group asks for perfect forward secrecy on rekey).
pub fn parse_esp(text: &str) -> Result<EspProposal, ProposalError> {
    let parts = parts(text)?;
    let encryption = check_integrity(text, &parts)?;
    if parts.prf.is_some() {
        return Err(ProposalError::Invalid(format!(
            "`{text}`: ESP proposals take no PRF"
        )));
    }
    Ok(EspProposal {
        encryption,
        integrity: parts.integrity,
        dh: parts.dh,
    })
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encryption::AesGcm16 { key_bits } => write!(f, "aes{key_bits}gcm16"),
            Encryption::AesCbc { key_bits } => write!(f, "aes{key_bits}"),
        }
    }
}

impl Integrity {
    /// The PRF strongSwan derives from this integrity algorithm when none is named.
    pub fn implied_prf(self) -> Prf {
        match self {
            Integrity::HmacSha256_128 => Prf::HmacSha256,
            Integrity::HmacSha384_192 => Prf::HmacSha384,
            Integrity::HmacSha512_256 => Prf::HmacSha512,
        }
    }
}

impl std::fmt::Display for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Integrity::HmacSha256_128 => "sha256",
            Integrity::HmacSha384_192 => "sha384",
            Integrity::HmacSha512_256 => "sha512",
        })
    }
}

impl std::fmt::Display for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        })
    }
}

impl std::fmt::Display for DhGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DhGroup::Curve25519 => "x25519",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Modp2048 => "modp2048",
        })
    }
}

impl std::fmt::Display for IkeProposal {
    /// The strongSwan form, e.g. `aes256gcm16-prfsha256-x25519`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.encryption)?;
        match self.integrity {
            Some(integrity) if integrity.implied_prf() == self.prf => write!(f, "-{integrity}")?,
            Some(integrity) => write!(f, "-{integrity}-{}", self.prf)?,
            None => write!(f, "-{}", self.prf)?,
        }
        write!(f, "-{}", self.dh)
    }
}

impl std::fmt::Display for EspProposal {
    /// The strongSwan form, e.g. `aes256-sha256` or `aes256gcm16-x25519`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.encryption)?;
        if let Some(integrity) = self.integrity {
            write!(f, "-{integrity}")?;
        }
        if let Some(dh) = self.dh {
            write!(f, "-{dh}")?;
        }
        Ok(())
    }
}

/// The IKE proposals used when an ipsec-peer names none.
pub fn default_ike() -> Vec<IkeProposal> {
    ["aes256gcm16-prfsha256-x25519", "aes256-sha256-modp2048"]
        .into_iter()
        .filter_map(|p| parse_ike(p).ok())
        .collect()
}

/// The ESP proposals used when an ipsec-peer names none.
pub fn default_esp() -> Vec<EspProposal> {
    ["aes256gcm16", "aes256-sha256"]
        .into_iter()
        .filter_map(|p| parse_esp(p).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proposals_seen_working_with_strongswan() {
        for p in [
            "aes256gcm16-prfsha256-x25519",
            "aes256-sha256-ecp256",
            "aes256-sha256-modp2048",
            "aes128gcm16-prfsha512-ecp256",
            "aes128-sha384-prfsha512-x25519",
        ] {
            assert_eq!(parse_ike(p).expect(p).to_string(), p);
        }
        for p in [
            "aes256gcm16",
            "aes256-sha256",
            "aes128gcm16-x25519",
            "aes256-sha512-modp2048",
        ] {
            assert_eq!(parse_esp(p).expect(p).to_string(), p);
        }
        assert_eq!(
            parse_ike("aes256-sha256-curve25519").map(|p| p.prf),
            Ok(Prf::HmacSha256)
        );
    }

    #[test]
    fn tells_unsupported_from_invalid() {
        assert!(
            matches!(parse_ike("3des-sha1-modp1024"), Err(ProposalError::Unsupported(t)) if t == "3des")
        );
        assert!(matches!(
            parse_esp("aes256-sha1"),
            Err(ProposalError::Unsupported(_))
        ));
        assert!(matches!(
            parse_ike("aes256-sha256-modp1024"),
            Err(ProposalError::Unsupported(_))
        ));
        for bad in [
            "",
            "aes256gcm16-x25519",
            "aes256-x25519",
            "aes256gcm16-sha256-prfsha256-x25519",
            "rot13",
            "aes256-aes128-sha256-x25519",
            "aes256gcm16-prfsha256",
        ] {
            assert!(
                matches!(parse_ike(bad), Err(ProposalError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_esp("aes256gcm16-prfsha256"),
            Err(ProposalError::Invalid(_))
        ));
        assert_eq!(default_ike().len(), 2);
        assert_eq!(default_esp().len(), 2);
    }
}
