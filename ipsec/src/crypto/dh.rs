//! The Diffie-Hellman groups: Curve25519 (group 31, RFC 8031), NIST P-256 (group 19, RFC
//! 5903: public value x | y, shared secret x) and 2048-bit MODP (group 14, RFC 3526) with a
//! constant-time modular exponentiation. Private values come from the caller's RNG.

use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U2048};
use rand_core::CryptoRngCore;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use super::CryptoError;
use crate::transforms::DhGroup;

/// The RFC 3526 2048-bit MODP prime (group 14); the generator is 2.
const MODP2048_P: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// Montgomery parameters for `MODP2048_P`, computed at compile time.
const MODP2048_PARAMS: DynResidueParams<{ U2048::LIMBS }> = DynResidueParams::new(&MODP2048_P);

/// Bits of a MODP private exponent: twice the group's ~110-bit strength, rounded up.
const MODP_EXPONENT_BITS: usize = 256;

/// Length of a group's public value on the wire.
pub fn public_len(group: DhGroup) -> usize {
    match group {
        DhGroup::Curve25519 => 32,
        DhGroup::Ecp256 => 64,
        DhGroup::Modp2048 => 256,
    }
}

enum Secret {
    X25519(x25519_dalek::StaticSecret),
    Ecp256(p256::NonZeroScalar),
    Modp(Box<U2048>),
}

/// An ephemeral DH private value; zeroized on drop.
pub struct DhPrivate {
    group: DhGroup,
    secret: Secret,
}

impl Drop for DhPrivate {
    fn drop(&mut self) {
        // x25519-dalek and p256 zeroize their own secrets on drop.
        if let Secret::Modp(x) = &mut self.secret {
            x.zeroize();
        }
    }
}

impl DhPrivate {
    /// A fresh private value for `group` from `rng`.
    pub fn generate(group: DhGroup, rng: &mut dyn CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            rng.fill_bytes(bytes.as_mut());
            if let Some(p) = Self::from_bytes(group, &bytes) {
                return p;
            }
        }
    }

    /// A private value from 32 bytes (a scalar, or a 256-bit exponent for MODP); `None` if
    /// the bytes are not a valid P-256 scalar. Used by `generate` and by known-answer tests.
    pub fn from_bytes(group: DhGroup, bytes: &[u8; 32]) -> Option<Self> {
        let secret = match group {
            DhGroup::Curve25519 => Secret::X25519(x25519_dalek::StaticSecret::from(*bytes)),
            DhGroup::Ecp256 => {
                let s = p256::NonZeroScalar::try_from(&bytes[..]).ok()?;
                Secret::Ecp256(s)
            }
            DhGroup::Modp2048 => {
                let mut wide = Zeroizing::new([0u8; 256]);
                wide[256 - 32..].copy_from_slice(bytes);
                Secret::Modp(Box::new(U2048::from_be_slice(wide.as_ref())))
            }
        };
        Some(Self { group, secret })
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value as sent in a KE payload.
    pub fn public(&self) -> Vec<u8> {
        match &self.secret {
            Secret::X25519(s) => x25519_dalek::PublicKey::from(s).as_bytes().to_vec(),
            Secret::Ecp256(s) => {
                let pk = p256::PublicKey::from_secret_scalar(s);
                let point = p256::EncodedPoint::from(pk);
                point.as_bytes()[1..].to_vec()
            }
            Secret::Modp(x) => modp_pow_g(x).to_be_bytes().to_vec(),
        }
    }

    /// The shared secret g^ir from the peer's public value, checked as RFC 8031, RFC 5903
    /// and RFC 7296 section 2.12 require.
    pub fn shared(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if peer.len() != public_len(self.group) {
            return Err(CryptoError::InvalidPublicValue);
        }
        match &self.secret {
            Secret::X25519(s) => {
                let p: [u8; 32] = peer
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(p));
                let out = Zeroizing::new(shared.as_bytes().to_vec());
                if bool::from(out.ct_eq(&[0u8; 32][..])) {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(out)
            }
            Secret::Ecp256(s) => {
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(peer);
                let pk = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p256::ecdh::diffie_hellman(s, pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            Secret::Modp(x) => {
                let y = U2048::from_be_slice(peer);
                let p_minus_1 = MODP2048_P.wrapping_sub(&U2048::ONE);
                if y <= U2048::ONE || y >= p_minus_1 {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let z = modp_pow(&y, x);
                Ok(Zeroizing::new(z.to_be_bytes().to_vec()))
            }
        }
    }
}

/// Fixed-base table for the generator: row `i` holds 2^(j * 16^i) for j in 0..16, in
/// Montgomery form, covering the 64 four-bit windows of a 256-bit exponent (256 KiB, built
/// once on first use).
fn generator_table() -> &'static [[DynResidue<{ U2048::LIMBS }>; 16]] {
    static TABLE: OnceLock<Vec<[DynResidue<{ U2048::LIMBS }>; 16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let one = DynResidue::one(MODP2048_PARAMS);
        let mut base = DynResidue::new(&U2048::from_u8(2), MODP2048_PARAMS);
        (0..MODP_EXPONENT_BITS / 4)
            .map(|_| {
                let mut row = [one; 16];
                for j in 1..16 {
                    row[j] = row[j - 1].mul(&base);
                }
                base = row[15].mul(&base);
                row
            })
            .collect()
    })
}

/// `2 ^ exponent mod p` for a 256-bit exponent: one multiplication per 4-bit window, each
/// table entry picked by a constant-time scan of its row (about 5x fewer multiplications
/// than the generic ladder).
fn modp_pow_g(exponent: &U2048) -> U2048 {
    let table = generator_table();
    let words = exponent.as_words();
    let per_word = (crypto_bigint::Word::BITS / 4) as usize;
    let mut acc = DynResidue::one(MODP2048_PARAMS);
    for (i, row) in table.iter().enumerate() {
        let nibble = ((words[i / per_word] >> ((i % per_word) * 4)) & 0xf) as u8;
        let mut pick = row[0];
        for (j, entry) in row.iter().enumerate().skip(1) {
            pick.conditional_assign(entry, nibble.ct_eq(&(j as u8)));
        }
        acc = acc.mul(&pick);
    }
    acc.retrieve()
}

/// `base ^ exponent mod p` for the MODP group, constant time in the exponent.
fn modp_pow(base: &U2048, exponent: &U2048) -> U2048 {
    DynResidue::new(base, MODP2048_PARAMS)
        .pow_bounded_exp(exponent, MODP_EXPONENT_BITS)
        .retrieve()
}
