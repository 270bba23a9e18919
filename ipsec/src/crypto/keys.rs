//! The IKEv2 key schedule (RFC 7296 sections 2.13, 2.14, 2.17, 2.18): SKEYSEED for a new
//! and a rekeyed IKE SA, the seven SK_* keys, and child SA KEYMAT.

use zeroize::Zeroizing;

use super::prf::{integ_key_len, prf, prf_len, prf_plus};
use crate::transforms::{Encryption, EspProposal, IkeProposal, Integrity, Prf};

/// Key material bytes for an encryption transform: the AES key, plus the 4-byte salt for
/// AES-GCM (RFC 4106 section 8.1, RFC 5282 section 7.1).
pub fn encr_key_len(e: Encryption) -> usize {
    match e {
        Encryption::AesGcm16 { key_bits } => key_bits as usize / 8 + 4,
        Encryption::AesCbc { key_bits } => key_bits as usize / 8,
    }
}

fn integ_len(encryption: Encryption, integrity: Option<Integrity>) -> usize {
    match integrity {
        Some(i) if !encryption.is_aead() => integ_key_len(i),
        _ => 0,
    }
}

/// The seven keys of an IKE SA.
pub struct IkeKeys {
    /// SK_d: derives child SA keys and the next SKEYSEED.
    pub d: Zeroizing<Vec<u8>>,
    /// SK_ai: integrity, initiator to responder (empty for AEAD).
    pub ai: Zeroizing<Vec<u8>>,
    /// SK_ar: integrity, responder to initiator.
    pub ar: Zeroizing<Vec<u8>>,
    /// SK_ei: encryption (and salt), initiator to responder.
    pub ei: Zeroizing<Vec<u8>>,
    /// SK_er: encryption, responder to initiator.
    pub er: Zeroizing<Vec<u8>>,
    /// SK_pi: MACs the initiator's identity into AUTH.
    pub pi: Zeroizing<Vec<u8>>,
    /// SK_pr: MACs the responder's identity into AUTH.
    pub pr: Zeroizing<Vec<u8>>,
}

/// SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA.
pub fn skeyseed(alg: Prf, ni: &[u8], nr: &[u8], shared: &[u8]) -> Zeroizing<Vec<u8>> {
    let key = Zeroizing::new([ni, nr].concat());
    prf(alg, &key, &[shared])
}

/// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) for a rekeyed IKE SA.
pub fn skeyseed_rekey(
    alg: Prf,
    old_sk_d: &[u8],
    shared: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Zeroizing<Vec<u8>> {
    prf(alg, old_sk_d, &[shared, ni, nr])
}

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
pub fn ike_keys(
    p: &IkeProposal,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> IkeKeys {
    let plen = prf_len(p.prf);
    let ilen = integ_len(p.encryption, p.integrity);
    let elen = encr_key_len(p.encryption);
    let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
    let km = prf_plus(p.prf, skeyseed, &seed, 3 * plen + 2 * ilen + 2 * elen);
    let mut at = 0;
    let mut take = |n: usize| {
        let out = Zeroizing::new(km[at..at + n].to_vec());
        at += n;
        out
    };
    IkeKeys {
        d: take(plen),
        ai: take(ilen),
        ar: take(ilen),
        ei: take(elen),
        er: take(elen),
        pi: take(plen),
        pr: take(plen),
    }
}

/// Keys of one child SA, per direction.
pub struct ChildKeys {
    /// Encryption key (and salt), initiator to responder.
    pub ei: Zeroizing<Vec<u8>>,
    /// Integrity key, initiator to responder (empty for AEAD).
    pub ai: Zeroizing<Vec<u8>>,
    /// Encryption key (and salt), responder to initiator.
    pub er: Zeroizing<Vec<u8>>,
    /// Integrity key, responder to initiator.
    pub ar: Zeroizing<Vec<u8>>,
}

/// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), split as encryption then integrity key for
/// initiator-to-responder, then the same for responder-to-initiator (RFC 7296 section 2.17).
pub fn child_keys(
    prf_alg: Prf,
    sk_d: &[u8],
    esp: &EspProposal,
    shared: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
) -> ChildKeys {
    let elen = encr_key_len(esp.encryption);
    let ilen = integ_len(esp.encryption, esp.integrity);
    let seed = Zeroizing::new([shared.unwrap_or(&[]), ni, nr].concat());
    let km = prf_plus(prf_alg, sk_d, &seed, 2 * (elen + ilen));
    let part = |from: usize, n: usize| Zeroizing::new(km[from..from + n].to_vec());
    ChildKeys {
        ei: part(0, elen),
        ai: part(elen, ilen),
        er: part(elen + ilen, elen),
        ar: part(2 * elen + ilen, ilen),
    }
}
