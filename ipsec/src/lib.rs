//! cvlan-ipsec: sans-IO IKEv2 (RFC 7296) and ESP-in-UDP (RFC 4303, RFC 3948).
//!
//! Nothing here opens a socket, reads a clock or owns a random number generator: time and
//! randomness are passed in, datagrams go in through [`Endpoint::handle_datagram`] and come
//! out of [`Endpoint::poll_transmit`], and what happened comes out of
//! [`Endpoint::poll_event`]. Inner packets are sealed with [`Endpoint::encrypt`] and come
//! back decrypted in place from `handle_datagram`.
//!
//! A daemon drives an [`Endpoint`] like this (here two endpoints talk in memory):
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use cvlan_ipsec::transforms::{DhGroup, Encryption, EspProposal, IkeProposal, Prf};
//! use cvlan_ipsec::ts::TrafficSelector;
//! use cvlan_ipsec::{Endpoint, EndpointConfig, Event, PeerConfig, Psk, Received};
//! use cvlan_types::Remote;
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//!
//! let (a_ip, b_ip) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let ts = |s: &str| TrafficSelector::from_net(s.parse().unwrap());
//! let peer = |remote, local_id: &str, remote_id: &str, l: &str, r: &str| PeerConfig {
//!     name: remote_id.into(), remote, remote_port: 500,
//!     local_id: local_id.into(), remote_id: remote_id.into(), psk: Psk::new(&b"secret"[..]),
//!     local_ts: vec![ts(l)], remote_ts: vec![ts(r)],
//!     ike_proposals: vec![IkeProposal { encryption: Encryption::AesGcm16 { key_bits: 256 },
//!         integrity: None, prf: Prf::HmacSha256, dh: DhGroup::Curve25519 }],
//!     esp_proposals: vec![EspProposal { encryption: Encryption::AesGcm16 { key_bits: 256 },
//!         integrity: None, dh: None }],
//!     ike_lifetime: Duration::from_secs(86400), child_lifetime: Duration::from_secs(3600),
//!     dpd: Some(Duration::from_secs(30)), child_limits: Default::default(),
//! };
//! let now = Instant::now();
//! let config = |ip| EndpointConfig { local_ip: IpAddr::V4(ip), ..EndpointConfig::default() };
//! // Randomness comes from the caller: OsRng-seeded in a daemon, seeded in tests.
//! let mut a = Endpoint::new(config(a_ip), Box::new(ChaCha20Rng::seed_from_u64(1)), now);
//! let mut b = Endpoint::new(config(b_ip), Box::new(ChaCha20Rng::seed_from_u64(2)), now);
//! let to_b = a.add_peer(peer(Remote::Address(b_ip.into()), "a.example", "b.example",
//!     "192.168.1.0/24", "192.168.2.0/24"));
//! b.add_peer(peer(Remote::Any, "b.example", "a.example", "192.168.2.0/24", "192.168.1.0/24"));
//! a.initiate(now, to_b).unwrap();
//! // The daemon's loop: send what poll_transmit gives, feed what arrives, run timers at
//! // poll_timeout, and act on poll_event.
//! for _ in 0..4 {
//!     while let Some(mut t) = a.poll_transmit() { b.handle_datagram(now, t.dst, t.src, &mut t.bytes); }
//!     while let Some(mut t) = b.poll_transmit() { a.handle_datagram(now, t.dst, t.src, &mut t.bytes); }
//! }
//! assert!(std::iter::from_fn(|| a.poll_event()).any(|e| matches!(e, Event::ChildSaUp { .. })));
//! // An inner packet from the TUN device: seal it for the peer, send `out` from t.src to t.dst.
//! let packet = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 5, 192, 168, 2, 9];
//! let mut out = Vec::new();
//! let t = a.encrypt(now, to_b, &packet, &mut out).unwrap();
//! match b.handle_datagram(now, t.dst, t.src, &mut out) {
//!     Received::Decrypted { packet: range, .. } => assert_eq!(&out[range], &packet[..]),
//!     other => panic!("{other:?}"),
//! }
//! ```

pub mod crypto;
pub mod esp;
pub mod ike;
pub mod transforms;
pub mod ts;
pub mod wire;

pub use ike::{
    ChildSaInfo, DownReason, DropReason, Endpoint, EndpointConfig, EndpointError, EspTransmit,
    Event, IkeSaId, IkeSaInfo, IkeState, PeerConfig, PeerId, Psk, Received, SaError, SendError,
    Side, Stats, Transmit,
};
