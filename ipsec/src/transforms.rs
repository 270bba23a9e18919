//! The transforms we implement, their IANA numbers (RFC 7296 section 3.3.2, RFC 5282,
//! RFC 4868, RFC 8031, RFC 5903), and the conversion between network.kdl proposals and SA
//! payload proposals in both directions, including the responder's choice.

use std::fmt;

pub use cvlan_types::proposal::{DhGroup, Encryption, EspProposal, IkeProposal, Integrity, Prf};

use crate::wire::{Proposal, ProtocolId, Transform, TransformType};

const ENCR_AES_CBC: u16 = 12;
const ENCR_AES_GCM_16: u16 = 20;
const PRF_HMAC_SHA2_256: u16 = 5;
const PRF_HMAC_SHA2_384: u16 = 6;
const PRF_HMAC_SHA2_512: u16 = 7;
const AUTH_HMAC_SHA2_256_128: u16 = 12;
const AUTH_HMAC_SHA2_384_192: u16 = 13;
const AUTH_HMAC_SHA2_512_256: u16 = 14;
const ESN_NONE: u16 = 0;

/// The IANA number of a DH group.
pub fn dh_id(g: DhGroup) -> u16 {
    match g {
        DhGroup::Modp2048 => 14,
        DhGroup::Ecp256 => 19,
        DhGroup::Curve25519 => 31,
    }
}

/// The DH group with this IANA number, if we implement it.
pub fn dh_from_id(id: u16) -> Option<DhGroup> {
    match id {
        14 => Some(DhGroup::Modp2048),
        19 => Some(DhGroup::Ecp256),
        31 => Some(DhGroup::Curve25519),
        _ => None,
    }
}

fn encr_transform(e: Encryption) -> Transform {
    let (id, bits) = match e {
        Encryption::AesGcm16 { key_bits } => (ENCR_AES_GCM_16, key_bits),
        Encryption::AesCbc { key_bits } => (ENCR_AES_CBC, key_bits),
    };
    Transform {
        kind: TransformType::ENCR,
        id,
        key_len: Some(bits),
    }
}

fn integ_id(i: Integrity) -> u16 {
    match i {
        Integrity::HmacSha256_128 => AUTH_HMAC_SHA2_256_128,
        Integrity::HmacSha384_192 => AUTH_HMAC_SHA2_384_192,
        Integrity::HmacSha512_256 => AUTH_HMAC_SHA2_512_256,
    }
}

fn prf_id(p: Prf) -> u16 {
    match p {
        Prf::HmacSha256 => PRF_HMAC_SHA2_256,
        Prf::HmacSha384 => PRF_HMAC_SHA2_384,
        Prf::HmacSha512 => PRF_HMAC_SHA2_512,
    }
}

fn transform(kind: TransformType, id: u16) -> Transform {
    Transform {
        kind,
        id,
        key_len: None,
    }
}

/// An IKE proposal as an SA payload proposal numbered `num`, with `spi` (empty initially,
/// 8 bytes when rekeying the IKE SA).
pub fn ike_to_wire(p: &IkeProposal, num: u8, spi: Vec<u8>) -> Proposal {
    let mut transforms = vec![encr_transform(p.encryption)];
    transforms.push(transform(TransformType::PRF, prf_id(p.prf)));
    if let Some(i) = p.integrity.filter(|_| !p.encryption.is_aead()) {
        transforms.push(transform(TransformType::INTEG, integ_id(i)));
    }
    transforms.push(transform(TransformType::DH, dh_id(p.dh)));
    Proposal {
        num,
        protocol: ProtocolId::Ike,
        spi,
        transforms,
    }
}

/// An ESP proposal as an SA payload proposal; `with_dh` adds its PFS group (used in
/// CREATE_CHILD_SA, left out of IKE_AUTH where no KE is exchanged).
pub fn esp_to_wire(p: &EspProposal, num: u8, spi: u32, with_dh: bool) -> Proposal {
    let mut transforms = vec![encr_transform(p.encryption)];
    if let Some(i) = p.integrity.filter(|_| !p.encryption.is_aead()) {
        transforms.push(transform(TransformType::INTEG, integ_id(i)));
    }
    if let Some(g) = p.dh.filter(|_| with_dh) {
        transforms.push(transform(TransformType::DH, dh_id(g)));
    }
    transforms.push(transform(TransformType::ESN, ESN_NONE));
    Proposal {
        num,
        protocol: ProtocolId::Esp,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

/// True if a responder's answer holds exactly the transforms of `wanted`.
fn same_set(answer: &[Transform], wanted: &Proposal) -> bool {
    answer.len() == wanted.transforms.len() && wanted.transforms.iter().all(|w| answer.contains(w))
}

/// True if `offered` allows every transform of `wanted` and, where `wanted` has no DH
/// group, does not insist on one.
fn allows(offered: &Proposal, wanted: &Proposal) -> bool {
    let dh_optional = wanted.of_type(TransformType::DH).next().is_some()
        || offered.of_type(TransformType::DH).all(|t| t.id == 0)
        || offered.of_type(TransformType::DH).any(|t| t.id == 0);
    offered.protocol == wanted.protocol
        && dh_optional
        && wanted
            .transforms
            .iter()
            .all(|t| offered.transforms.contains(t))
}

/// The responder's choice: the first of our IKE proposals that some offered proposal
/// allows; returns ours and the offered proposal's number.
pub fn choose_ike(offered: &[Proposal], ours: &[IkeProposal]) -> Option<(IkeProposal, u8)> {
    ours.iter().find_map(|mine| {
        let w = ike_to_wire(mine, 0, Vec::new());
        offered
            .iter()
            .find(|o| allows(o, &w))
            .map(|o| (*mine, o.num))
    })
}

/// Our ESP proposal as negotiated: with its DH group only in CREATE_CHILD_SA.
fn esp_for(p: &EspProposal, create_child: bool) -> EspProposal {
    EspProposal {
        dh: p.dh.filter(|_| create_child),
        ..*p
    }
}

/// The responder's ESP choice: the first of ours that an offered ESP proposal allows
/// (`create_child`: in CREATE_CHILD_SA, where a PFS group is negotiated). Returns ours as
/// negotiated, the peer's SPI and the number of the offered proposal.
pub fn choose_esp(
    offered: &[Proposal],
    ours: &[EspProposal],
    create_child: bool,
) -> Option<(EspProposal, u32, u8)> {
    ours.iter().find_map(|mine| {
        let mine = esp_for(mine, create_child);
        let w = esp_to_wire(&mine, 0, 0, true);
        offered.iter().find_map(|o| {
            let spi = <[u8; 4]>::try_from(o.spi.as_slice())
                .ok()
                .map(u32::from_be_bytes)?;
            (spi != 0 && allows(o, &w)).then_some((mine, spi, o.num))
        })
    })
}

/// Reads the single proposal a responder answered with, checking it is one we offered.
pub fn accepted_ike(answer: &Proposal, offered: &[IkeProposal]) -> Option<IkeProposal> {
    offered
        .iter()
        .copied()
        .find(|o| same_set(&answer.transforms, &ike_to_wire(o, 0, Vec::new())))
}

/// Reads the single ESP proposal a responder answered with, checking we offered it; returns
/// it as negotiated with the responder's SPI.
pub fn accepted_esp(
    answer: &Proposal,
    offered: &[EspProposal],
    create_child: bool,
) -> Option<(EspProposal, u32)> {
    let spi = u32::from_be_bytes(answer.spi.as_slice().try_into().ok()?);
    if answer.protocol != ProtocolId::Esp || spi == 0 {
        return None;
    }
    offered.iter().find_map(|o| {
        let mine = esp_for(o, create_child);
        same_set(&answer.transforms, &esp_to_wire(&mine, 0, 0, true)).then_some((mine, spi))
    })
}

/// A short strongSwan-style name of an encryption transform (`aes256gcm16`).
pub struct Name<T>(pub T);

impl fmt::Display for Name<Encryption> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Encryption::AesGcm16 { key_bits } => write!(f, "aes{key_bits}gcm16"),
            Encryption::AesCbc { key_bits } => write!(f, "aes{key_bits}"),
        }
    }
}

impl fmt::Display for Name<Integrity> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Integrity::HmacSha256_128 => "sha256",
            Integrity::HmacSha384_192 => "sha384",
            Integrity::HmacSha512_256 => "sha512",
        })
    }
}

impl fmt::Display for Name<Prf> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        })
    }
}

impl fmt::Display for Name<DhGroup> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            DhGroup::Curve25519 => "x25519",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Modp2048 => "modp2048",
        })
    }
}

impl fmt::Display for Name<IkeProposal> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        write!(f, "{}", Name(p.encryption))?;
        if let Some(i) = p.integrity.filter(|_| !p.encryption.is_aead()) {
            write!(f, "-{}", Name(i))?;
        }
        write!(f, "-{}-{}", Name(p.prf), Name(p.dh))
    }
}

impl fmt::Display for Name<EspProposal> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        write!(f, "{}", Name(p.encryption))?;
        if let Some(i) = p.integrity.filter(|_| !p.encryption.is_aead()) {
            write!(f, "-{}", Name(i))?;
        }
        if let Some(g) = p.dh {
            write!(f, "-{}", Name(g))?;
        }
        Ok(())
    }
}
