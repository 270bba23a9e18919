//! The IKE pseudo-random functions (PRF_HMAC_SHA2_*, RFC 4868), prf+ (RFC 7296 section
//! 2.13), and truncated-HMAC integrity (AUTH_HMAC_SHA2_*, RFC 4868).

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::transforms::{Integrity, Prf};

fn hmac_parts<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m =
        <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// `prf(key, parts[0] | parts[1] | ...)`.
pub fn prf(alg: Prf, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match alg {
        Prf::HmacSha256 => hmac_parts::<Hmac<Sha256>>(key, parts),
        Prf::HmacSha384 => hmac_parts::<Hmac<Sha384>>(key, parts),
        Prf::HmacSha512 => hmac_parts::<Hmac<Sha512>>(key, parts),
    })
}

/// Output (and preferred key) length of a PRF in bytes.
pub fn prf_len(alg: Prf) -> usize {
    match alg {
        Prf::HmacSha256 => 32,
        Prf::HmacSha384 => 48,
        Prf::HmacSha512 => 64,
    }
}

/// `prf+(key, seed)` truncated to `len` bytes: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
/// `len` must not exceed 255 PRF outputs.
pub fn prf_plus(alg: Prf, key: &[u8], seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + prf_len(alg)));
    let mut t: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    let mut n: u8 = 1;
    while out.len() < len {
        t = prf(alg, key, &[&t, seed, &[n]]);
        out.extend_from_slice(&t);
        n = n.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Key length of an integrity transform in bytes.
pub fn integ_key_len(alg: Integrity) -> usize {
    match alg {
        Integrity::HmacSha256_128 => 32,
        Integrity::HmacSha384_192 => 48,
        Integrity::HmacSha512_256 => 64,
    }
}

/// ICV length of an integrity transform in bytes.
pub fn integ_icv_len(alg: Integrity) -> usize {
    integ_key_len(alg) / 2
}

/// The truncated HMAC of `parts` (RFC 4868), written into `icv` (length `integ_icv_len`).
pub fn integ_mac(alg: Integrity, key: &[u8], parts: &[&[u8]], icv: &mut [u8]) {
    let full = match alg {
        Integrity::HmacSha256_128 => hmac_parts::<Hmac<Sha256>>(key, parts),
        Integrity::HmacSha384_192 => hmac_parts::<Hmac<Sha384>>(key, parts),
        Integrity::HmacSha512_256 => hmac_parts::<Hmac<Sha512>>(key, parts),
    };
    icv.copy_from_slice(&full[..icv.len()]);
}

/// Checks a truncated HMAC in constant time.
pub fn integ_verify(alg: Integrity, key: &[u8], parts: &[&[u8]], icv: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let mut want = [0u8; 32];
    let want = &mut want[..integ_icv_len(alg)];
    integ_mac(alg, key, parts, want);
    icv.len() == want.len() && bool::from(want.ct_eq(icv))
}
