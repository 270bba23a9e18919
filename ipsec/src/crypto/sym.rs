//! Symmetric protection shared by the IKE SK payload and ESP: AES-GCM-16 with a 4-byte salt
//! and 8-byte explicit IV (RFC 4106, RFC 5282), or AES-CBC with a truncated HMAC (RFC 3602,
//! RFC 4868). Both work in place on a buffer laid out as `aad | iv | plaintext | icv`.

use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use super::CryptoError;
use super::prf::{integ_icv_len, integ_mac, integ_verify};
use crate::transforms::{Encryption, Integrity};

const GCM_ICV: usize = 16;
const GCM_IV: usize = 8;
const CBC_IV: usize = 16;

enum Kind {
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    Cbc128(Box<Aes128>),
    Cbc256(Box<Aes256>),
}

/// One direction's encryption and integrity state; key schedules are zeroized on drop.
pub struct SymKey {
    kind: Kind,
    salt: [u8; 4],
    integ: Option<(Integrity, Zeroizing<Vec<u8>>)>,
}

impl SymKey {
    /// Keys from the key schedule: `ekey` is the AES key (with the salt appended for GCM),
    /// `akey` the integrity key (empty for GCM). `None` if a length is wrong.
    pub fn new(
        enc: Encryption,
        integ: Option<Integrity>,
        ekey: &[u8],
        akey: &[u8],
    ) -> Option<Self> {
        let mut salt = [0u8; 4];
        let kind = match enc {
            Encryption::AesGcm16 { key_bits } => {
                let (key, s) = ekey.split_at_checked(key_bits as usize / 8)?;
                salt.copy_from_slice(s.get(..4)?);
                match key_bits {
                    128 => Kind::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
                    256 => Kind::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
                    _ => return None,
                }
            }
            Encryption::AesCbc { key_bits: 128 } => {
                Kind::Cbc128(Box::new(Aes128::new_from_slice(ekey).ok()?))
            }
            Encryption::AesCbc { key_bits: 256 } => {
                Kind::Cbc256(Box::new(Aes256::new_from_slice(ekey).ok()?))
            }
            Encryption::AesCbc { .. } => return None,
        };
        let integ = match kind {
            Kind::Gcm128(_) | Kind::Gcm256(_) => None,
            Kind::Cbc128(_) | Kind::Cbc256(_) => Some((integ?, Zeroizing::new(akey.to_vec()))),
        };
        Some(Self { kind, salt, integ })
    }

    /// Length of the explicit IV.
    pub fn iv_len(&self) -> usize {
        if self.is_gcm() { GCM_IV } else { CBC_IV }
    }

    /// Length of the ICV.
    pub fn icv_len(&self) -> usize {
        match &self.integ {
            Some((i, _)) => integ_icv_len(*i),
            None => GCM_ICV,
        }
    }

    /// Block size the plaintext must be padded to (1 for GCM).
    pub fn block_len(&self) -> usize {
        if self.is_gcm() { 1 } else { 16 }
    }

    fn is_gcm(&self) -> bool {
        matches!(self.kind, Kind::Gcm128(_) | Kind::Gcm256(_))
    }

    /// An IV that is unique for each `counter` value and, for CBC, unpredictable: the
    /// counter itself for GCM (RFC 4106 section 3.1), the counter encrypted under the key
    /// for CBC (NIST SP 800-38A appendix C).
    pub fn iv_for_counter(&self, counter: u64, iv: &mut [u8]) {
        let mut block = aes::Block::default();
        block[8..].copy_from_slice(&counter.to_be_bytes());
        match &self.kind {
            Kind::Gcm128(_) | Kind::Gcm256(_) => {
                iv.copy_from_slice(&block[8..]);
                return;
            }
            Kind::Cbc128(a) => a.encrypt_block(&mut block),
            Kind::Cbc256(a) => a.encrypt_block(&mut block),
        }
        iv.copy_from_slice(&block);
    }

    /// Encrypts and authenticates in place. `buf` is `aad | iv | plaintext | icv`: the IV
    /// and plaintext (padded to `block_len`) are already written; the ICV space is filled.
    pub fn seal(&self, buf: &mut [u8], aad_len: usize) -> Result<(), CryptoError> {
        let icv_len = self.icv_len();
        let iv_len = self.iv_len();
        let min = aad_len + iv_len + icv_len;
        if buf.len() < min || !(buf.len() - min).is_multiple_of(self.block_len()) {
            return Err(CryptoError::Malformed);
        }
        let body_end = buf.len() - icv_len;
        let (head, rest) = buf.split_at_mut(aad_len + iv_len);
        let (body, icv) = rest.split_at_mut(body_end - aad_len - iv_len);
        let (aad, iv) = head.split_at(aad_len);
        match &self.kind {
            Kind::Gcm128(k) => {
                icv.copy_from_slice(&gcm_seal(k.as_ref(), self.nonce(iv), aad, body)?)
            }
            Kind::Gcm256(k) => {
                icv.copy_from_slice(&gcm_seal(k.as_ref(), self.nonce(iv), aad, body)?)
            }
            Kind::Cbc128(a) => cbc_encrypt(
                cbc::Encryptor::inner_iv_slice_init(a.as_ref().clone(), iv),
                body,
            )?,
            Kind::Cbc256(a) => cbc_encrypt(
                cbc::Encryptor::inner_iv_slice_init(a.as_ref().clone(), iv),
                body,
            )?,
        }
        if let Some((alg, key)) = &self.integ {
            let (covered, icv) = buf.split_at_mut(body_end);
            integ_mac(*alg, key, &[covered], icv);
        }
        Ok(())
    }

    /// Verifies and decrypts in place; returns the plaintext's range in `buf` (padding
    /// still included).
    pub fn open(
        &self,
        buf: &mut [u8],
        aad_len: usize,
    ) -> Result<std::ops::Range<usize>, CryptoError> {
        let icv_len = self.icv_len();
        let iv_len = self.iv_len();
        let min = aad_len + iv_len + icv_len;
        if buf.len() < min || !(buf.len() - min).is_multiple_of(self.block_len()) {
            return Err(CryptoError::Malformed);
        }
        let body_end = buf.len() - icv_len;
        if let Some((alg, key)) = &self.integ {
            let (covered, icv) = buf.split_at(body_end);
            if !integ_verify(*alg, key, &[covered], icv) {
                return Err(CryptoError::IntegrityCheck);
            }
        }
        let (head, rest) = buf.split_at_mut(aad_len + iv_len);
        let (body, icv) = rest.split_at_mut(body_end - aad_len - iv_len);
        let (aad, iv) = head.split_at(aad_len);
        match &self.kind {
            Kind::Gcm128(k) => gcm_open(k.as_ref(), self.nonce(iv), aad, body, icv)?,
            Kind::Gcm256(k) => gcm_open(k.as_ref(), self.nonce(iv), aad, body, icv)?,
            Kind::Cbc128(a) => cbc_decrypt(
                cbc::Decryptor::inner_iv_slice_init(a.as_ref().clone(), iv),
                body,
            )?,
            Kind::Cbc256(a) => cbc_decrypt(
                cbc::Decryptor::inner_iv_slice_init(a.as_ref().clone(), iv),
                body,
            )?,
        }
        Ok(aad_len + iv_len..body_end)
    }

    fn nonce(&self, iv: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(iv);
        n
    }
}

fn gcm_seal<A: AeadInPlace<NonceSize = U12, TagSize = U16>>(
    a: &A,
    nonce: [u8; 12],
    aad: &[u8],
    body: &mut [u8],
) -> Result<Tag, CryptoError> {
    a.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, body)
        .map_err(|_| CryptoError::Malformed)
}

fn gcm_open<A: AeadInPlace<NonceSize = U12, TagSize = U16>>(
    a: &A,
    nonce: [u8; 12],
    aad: &[u8],
    body: &mut [u8],
    icv: &[u8],
) -> Result<(), CryptoError> {
    a.decrypt_in_place_detached(Nonce::from_slice(&nonce), aad, body, Tag::from_slice(icv))
        .map_err(|_| CryptoError::IntegrityCheck)
}

fn cbc_encrypt<E: BlockEncryptMut<BlockSize = U16>>(
    e: Result<E, aes::cipher::InvalidLength>,
    body: &mut [u8],
) -> Result<(), CryptoError> {
    let mut e = e.map_err(|_| CryptoError::Malformed)?;
    for chunk in body.chunks_exact_mut(16) {
        e.encrypt_block_mut(aes::Block::from_mut_slice(chunk));
    }
    Ok(())
}

fn cbc_decrypt<D: BlockDecryptMut<BlockSize = U16>>(
    d: Result<D, aes::cipher::InvalidLength>,
    body: &mut [u8],
) -> Result<(), CryptoError> {
    let mut d = d.map_err(|_| CryptoError::Malformed)?;
    for chunk in body.chunks_exact_mut(16) {
        d.decrypt_block_mut(aes::Block::from_mut_slice(chunk));
    }
    Ok(())
}
