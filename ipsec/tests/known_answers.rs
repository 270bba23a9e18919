//! Known-answer tests: expected values come from RFC test vectors and from
//! `tests/kat/kat_gen.py` (Python hashlib/hmac and `cryptography`), never from this crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "kat/vectors.rs"]
mod vectors;

use cvlan_ipsec::crypto::dh::DhPrivate;
use cvlan_ipsec::crypto::keys::{child_keys, ike_keys, skeyseed, skeyseed_rekey};
use cvlan_ipsec::crypto::prf::{integ_mac, prf, prf_plus};
use cvlan_ipsec::crypto::sk::SkCrypto;
use cvlan_ipsec::crypto::sym::SymKey;
use cvlan_ipsec::esp::{EspSa, TrafficLimits};
use cvlan_ipsec::ike::psk_auth;
use cvlan_ipsec::transforms::{DhGroup, Encryption, EspProposal, IkeProposal, Integrity, Prf};
use cvlan_ipsec::wire::{
    Delete, ExchangeType, FLAG_INITIATOR, Header, Identification, Payload, ProtocolId,
};
use vectors::*;

fn h(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

const GCM_IKE: IkeProposal = IkeProposal {
    encryption: Encryption::AesGcm16 { key_bits: 256 },
    integrity: None,
    prf: Prf::HmacSha256,
    dh: DhGroup::Curve25519,
};
const CBC_IKE: IkeProposal = IkeProposal {
    encryption: Encryption::AesCbc { key_bits: 256 },
    integrity: Some(Integrity::HmacSha256_128),
    prf: Prf::HmacSha256,
    dh: DhGroup::Ecp256,
};
const SPI_I: u64 = 0x0102030405060708;
const SPI_R: u64 = 0xa1a2a3a4a5a6a7a8;

#[test]
fn hmac_sha2_rfc4231_test_case_2() {
    let key = b"Jefe";
    let data = b"what do ya want for nothing?";
    let cases = [
        (
            Prf::HmacSha256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            Prf::HmacSha384,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            Prf::HmacSha512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (alg, want) in cases {
        assert_eq!(*prf(alg, key, &[data]), h(want), "{alg:?}");
    }
    // RFC 4868 truncation: the ICV is the leading half of the HMAC.
    let mut icv = [0u8; 16];
    integ_mac(Integrity::HmacSha256_128, key, &[data], &mut icv);
    assert_eq!(icv.to_vec(), h(&cases[0].1[..32]));
}

#[test]
fn prf_plus_matches_python() {
    let (k, s) = (h(PRF_PLUS_KEY), h(PRF_PLUS_SEED));
    assert_eq!(
        *prf_plus(Prf::HmacSha256, &k, &s, 100),
        h(PRF_PLUS_SHA256_100)
    );
    assert_eq!(
        *prf_plus(Prf::HmacSha384, &k, &s, 150),
        h(PRF_PLUS_SHA384_150)
    );
    assert_eq!(
        *prf_plus(Prf::HmacSha512, &k, &s, 200),
        h(PRF_PLUS_SHA512_200)
    );
}

#[test]
fn x25519_rfc7748_vectors() {
    let d = DhPrivate::from_bytes(DhGroup::Curve25519, &arr32(X25519_PRIV)).unwrap();
    // RFC 7748 section 6.1: Alice's public key and the shared secret.
    assert_eq!(
        d.public(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(d.public(), h(X25519_PUB));
    let shared = d.shared(&h(X25519_PEER)).unwrap();
    assert_eq!(
        *shared,
        h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    );
    // RFC 8031 section 2.3: an all-zero shared secret (small-order point) is refused.
    assert!(d.shared(&[0u8; 32]).is_err());
    assert!(d.shared(&[1u8; 31]).is_err());
}

#[test]
fn ecp256_public_value_and_shared_secret() {
    let d = DhPrivate::from_bytes(DhGroup::Ecp256, &arr32(ECP256_PRIV)).unwrap();
    assert_eq!(d.public(), h(ECP256_PUB));
    assert_eq!(*d.shared(&h(ECP256_PEER)).unwrap(), h(ECP256_SHARED));
    // A point off the curve is refused.
    let mut bad = h(ECP256_PEER);
    bad[63] ^= 1;
    assert!(d.shared(&bad).is_err());
}

#[test]
fn modp2048_public_value_and_shared_secret() {
    let d = DhPrivate::from_bytes(DhGroup::Modp2048, &arr32(MODP_PRIV)).unwrap();
    assert_eq!(d.public(), h(MODP_PUB));
    assert_eq!(*d.shared(&h(MODP_PEER)).unwrap(), h(MODP_SHARED));
    let mut one = vec![0u8; 256];
    one[255] = 1;
    assert!(d.shared(&one).is_err(), "degenerate value 1 refused");
    assert!(d.shared(&[0xff; 256]).is_err(), "value >= p refused");
}

#[test]
fn ike_key_schedule_aes_gcm() {
    let (ni, nr) = (h(NI), h(NR));
    let seed = skeyseed(Prf::HmacSha256, &ni, &nr, &h(X25519_SHARED));
    assert_eq!(*seed, h(GCM_SKEYSEED));
    let k = ike_keys(&GCM_IKE, &seed, &ni, &nr, SPI_I, SPI_R);
    assert_eq!(*k.d, h(GCM_SK_D));
    assert_eq!((*k.ai).clone(), h(GCM_SK_AI));
    assert_eq!((*k.ar).clone(), h(GCM_SK_AR));
    assert_eq!(*k.ei, h(GCM_SK_EI));
    assert_eq!(*k.er, h(GCM_SK_ER));
    assert_eq!(*k.pi, h(GCM_SK_PI));
    assert_eq!(*k.pr, h(GCM_SK_PR));
}

#[test]
fn ike_key_schedule_aes_cbc_hmac() {
    let (ni, nr) = (h(NI), h(NR));
    let seed = skeyseed(Prf::HmacSha256, &ni, &nr, &h(ECP256_SHARED));
    assert_eq!(*seed, h(CBC_SKEYSEED));
    let k = ike_keys(&CBC_IKE, &seed, &ni, &nr, SPI_I, SPI_R);
    for (got, want) in [
        (&k.d, CBC_SK_D),
        (&k.ai, CBC_SK_AI),
        (&k.ar, CBC_SK_AR),
        (&k.ei, CBC_SK_EI),
        (&k.er, CBC_SK_ER),
        (&k.pi, CBC_SK_PI),
        (&k.pr, CBC_SK_PR),
    ] {
        assert_eq!(**got, h(want));
    }
}

#[test]
fn rekey_skeyseed_and_child_keymat() {
    let (ni, nr) = (h(NI), h(NR));
    let sk_d = h(GCM_SK_D);
    assert_eq!(
        *skeyseed_rekey(Prf::HmacSha256, &sk_d, &h(ECP256_SHARED), &ni, &nr),
        h(REKEY_SKEYSEED)
    );
    let gcm = EspProposal {
        encryption: Encryption::AesGcm16 { key_bits: 256 },
        integrity: None,
        dh: None,
    };
    let c = child_keys(Prf::HmacSha256, &sk_d, &gcm, None, &ni, &nr);
    assert_eq!(*c.ei, h(CHILD_GCM_EI));
    assert_eq!(*c.er, h(CHILD_GCM_ER));
    assert!(c.ai.is_empty());
    let cbc = EspProposal {
        encryption: Encryption::AesCbc { key_bits: 256 },
        integrity: Some(Integrity::HmacSha256_128),
        dh: Some(DhGroup::Modp2048),
    };
    let c = child_keys(
        Prf::HmacSha256,
        &sk_d,
        &cbc,
        Some(&h(MODP_SHARED)),
        &ni,
        &nr,
    );
    assert_eq!((*c.ei).clone(), h(CHILD_CBC_EI));
    assert_eq!((*c.ai).clone(), h(CHILD_CBC_AI));
    assert_eq!((*c.er).clone(), h(CHILD_CBC_ER));
    assert_eq!((*c.ar).clone(), h(CHILD_CBC_AR));
}

#[test]
fn psk_auth_payload() {
    let id = Identification::from_id_string("branch17.acme.example");
    let got = psk_auth(
        Prf::HmacSha256,
        b"labsecret-0123456789",
        &h(AUTH_MSG1),
        &h(NR),
        &h(GCM_SK_PI),
        &id,
    );
    assert_eq!(*got, h(AUTH_I));
}

fn esp_pair(enc: Encryption, integ: Option<Integrity>, ekey: &[u8], akey: &[u8]) -> (EspSa, EspSa) {
    let k = || SymKey::new(enc, integ, ekey, akey).unwrap();
    let sender = EspSa::new(1, 0xc0ffee01, k(), k(), TrafficLimits::default());
    let receiver = EspSa::new(0xc0ffee01, 1, k(), k(), TrafficLimits::default());
    (sender, receiver)
}

#[test]
fn esp_seal_open_aes_gcm() {
    let (mut tx, mut rx) = esp_pair(
        Encryption::AesGcm16 { key_bits: 256 },
        None,
        &h(ESP_GCM_KEY),
        &[],
    );
    let mut out = Vec::new();
    tx.seal(&h(ESP_INNER), &mut out).unwrap();
    assert_eq!(out, h(ESP_GCM_PACKET));
    let mut buf = out.clone();
    let r = rx.open(&mut buf).unwrap();
    assert_eq!(buf[r].to_vec(), h(ESP_INNER));
    // The same packet again is a replay.
    let mut again = out;
    assert!(rx.open(&mut again).is_err());
}

#[test]
fn esp_seal_open_aes_cbc_hmac() {
    let enc = Encryption::AesCbc { key_bits: 256 };
    let (mut tx, mut rx) = esp_pair(
        enc,
        Some(Integrity::HmacSha256_128),
        &h(CHILD_CBC_EI),
        &h(CHILD_CBC_AI),
    );
    let mut out = Vec::new();
    tx.seal(&h(ESP_INNER), &mut out).unwrap();
    assert_eq!(out, h(ESP_CBC_PACKET));
    let mut buf = out.clone();
    let r = rx.open(&mut buf).unwrap();
    assert_eq!(buf[r].to_vec(), h(ESP_INNER));
    let mut tampered = out;
    tampered[20] ^= 0x80;
    assert!(rx.open(&mut tampered).is_err());
}

#[test]
fn sk_payload_aes_gcm() {
    let (ni, nr) = (h(NI), h(NR));
    let seed = skeyseed(Prf::HmacSha256, &ni, &nr, &h(X25519_SHARED));
    let keys = ike_keys(&GCM_IKE, &seed, &ni, &nr, SPI_I, SPI_R);
    let mut initiator = SkCrypto::new(&keys, &GCM_IKE, true).unwrap();
    let header = Header {
        spi_i: SPI_I,
        spi_r: SPI_R,
        next_payload: 0,
        version: 0x20,
        exchange: ExchangeType::Informational,
        flags: FLAG_INITIATOR,
        message_id: 2,
        length: 0,
    };
    let delete = Payload::Delete(Delete {
        protocol: ProtocolId::Ike,
        spis: Vec::new(),
    });
    let bytes = initiator.seal(header, std::slice::from_ref(&delete));
    assert_eq!(bytes, h(SK_GCM_MESSAGE));
    let responder = SkCrypto::new(&keys, &GCM_IKE, false).unwrap();
    let msg = responder.open(&bytes).unwrap();
    assert_eq!(msg.payloads, vec![delete]);
    assert!(
        initiator.open(&bytes).is_err(),
        "the initiator's inbound key is SK_er"
    );
}
