//! The whole endpoint: a sequence of datagrams (each `port selector byte, u16 length,
//! bytes`) sent to a responder with a dial-in peer never panics, and never yields an
//! established SA or a decrypted packet.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cvlan_ipsec::{Endpoint, EndpointConfig, PeerConfig, Psk, Received};
use cvlan_types::Remote;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let local_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let cfg = EndpointConfig {
        local_ip,
        cookie_threshold: 4,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(cfg, Box::new(ChaCha20Rng::seed_from_u64(0)), now);
    let ts = cvlan_ipsec::ts::TrafficSelector::from_net("192.168.2.0/24".parse().expect("cidr"));
    ep.add_peer(PeerConfig {
        name: "fuzz".into(),
        remote: Remote::Any,
        remote_port: 500,
        local_id: "b.example".into(),
        remote_id: "a.example".into(),
        psk: Psk::new(&b"k"[..]),
        local_ts: vec![ts],
        remote_ts: vec![ts],
        ike_proposals: vec![cvlan_schema::proposal::IkeProposal {
            encryption: cvlan_schema::proposal::Encryption::AesGcm16 { key_bits: 256 },
            integrity: None,
            prf: cvlan_schema::proposal::Prf::HmacSha256,
            dh: cvlan_schema::proposal::DhGroup::Curve25519,
        }],
        esp_proposals: vec![cvlan_schema::proposal::EspProposal {
            encryption: cvlan_schema::proposal::Encryption::AesGcm16 { key_bits: 256 },
            integrity: None,
            dh: None,
        }],
        ike_lifetime: Duration::from_secs(3600),
        child_lifetime: Duration::from_secs(600),
        dpd: Some(Duration::from_secs(30)),
        child_limits: Default::default(),
    });
    let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 500);
    let mut rest = data;
    let mut t = now;
    while rest.len() >= 3 {
        let port = if rest[0] & 1 == 0 { 500 } else { 4500 };
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let mut dgram = rest[3..3 + len].to_vec();
        rest = &rest[3 + len..];
        let r = ep.handle_datagram(t, SocketAddr::new(local_ip, port), remote, &mut dgram);
        assert!(!matches!(r, Received::Decrypted { .. }));
        while ep.poll_transmit().is_some() {}
        t += Duration::from_secs(1);
        ep.handle_timeout(t);
    }
    assert!(ep.list_sas(t).iter().all(|s| s.established_for.is_none()));
});
