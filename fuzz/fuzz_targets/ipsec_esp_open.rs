//! ESP open: arbitrary packets against a GCM and a CBC+HMAC child SA never panic, and an
//! accepted packet's inner range lies inside the buffer.
#![no_main]

use cvlan_ipsec::crypto::sym::SymKey;
use cvlan_ipsec::esp::{EspSa, TrafficLimits};
use cvlan_ipsec::transforms::{Encryption, Integrity};
use libfuzzer_sys::fuzz_target;

fn sa(gcm: bool) -> EspSa {
    let (enc, integ, elen) = if gcm {
        (Encryption::AesGcm16 { key_bits: 256 }, None, 36)
    } else {
        (
            Encryption::AesCbc { key_bits: 256 },
            Some(Integrity::HmacSha256_128),
            32,
        )
    };
    let k = || SymKey::new(enc, integ, &[3u8; 36][..elen], &[5u8; 32]).expect("valid key lengths");
    EspSa::new(0x1000, 0x2000, k(), k(), TrafficLimits::default())
}

fuzz_target!(|data: &[u8]| {
    for gcm in [true, false] {
        let mut esp = sa(gcm);
        let mut buf = data.to_vec();
        if let Ok(r) = esp.open(&mut buf) {
            assert!(r.end <= buf.len());
        }
    }
});
