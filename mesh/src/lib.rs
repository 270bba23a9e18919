//! cvlan-mesh: the CloudVLAN data plane.
//!
//! [`Engine`] is a sans-IO WireGuard mesh (one boringtun tunnel per peer, cryptokey routing,
//! roaming, handshake rate limiting, a [`PacketFilter`] hook) that takes time as an argument.
//! [`device`] runs it with a TUN device and UDP sockets on cvlan-netio's driver, behind the
//! narrow [`device::TunIo`] and [`device::UdpIo`] traits so it also runs in memory.
//! boringtun's types never appear in this crate's API.
//!
//! A daemon brings a device up and hands it whole peer sets; only what differs is applied:
//!
//! ```no_run
//! # async fn demo() -> Result<(), cvlan_mesh::device::MeshError> {
//! use cvlan_mesh::device::{MeshConfig, MeshDevice};
//! use cvlan_mesh::{PeerConfig, PrivateKey};
//!
//! let key = PrivateKey::generate();
//! let mut config = MeshConfig::new(key, "cvl0", vec!["100.64.0.1/10".parse().unwrap()]);
//! config.listen_port = 51820;
//! let device = MeshDevice::start(config).await?;
//! let mesh = device.handle();
//! let peer: cvlan_mesh::PublicKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".parse().unwrap();
//! let changes = mesh
//!     .set_peers(vec![PeerConfig::new(peer, ["100.64.0.2/32".parse().unwrap()])
//!         .with_endpoint("198.51.100.7:51820".parse().unwrap())])
//!     .await?;
//! println!("{changes}"); // "1 added, 0 removed, 0 updated, 0 rekeyed"
//! let mut events = mesh.subscribe();
//! let stats = mesh.stats().await?;
//! device.shutdown().await?; // removes the TUN
//! # let _ = (events.try_recv(), stats);
//! # Ok(()) }
//! ```
//!
//! The engine alone is a plain state machine; time is an argument:
//!
//! ```
//! use std::time::Instant;
//! use cvlan_mesh::{Engine, PeerConfig, PrivateKey};
//!
//! let now = Instant::now();
//! let (ka, kb) = (PrivateKey::generate(), PrivateKey::generate());
//! let mut a = Engine::new(ka.clone(), now);
//! let mut b = Engine::new(kb.clone(), now);
//! let (addr_a, addr_b) = ("192.0.2.1:51820".parse().unwrap(), "192.0.2.2:51820".parse().unwrap());
//! a.set_peers(vec![PeerConfig::new(kb.public_key(), ["100.64.0.2/32".parse().unwrap()]).with_endpoint(addr_b)]).unwrap();
//! b.set_peers(vec![PeerConfig::new(ka.public_key(), ["100.64.0.1/32".parse().unwrap()])]).unwrap();
//!
//! // An IPv4 header from 100.64.0.1 to 100.64.0.2, read from a's TUN.
//! let mut packet = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
//! packet.extend_from_slice(&[100, 64, 0, 1, 100, 64, 0, 2]);
//! a.handle_tun_packet(now, &packet);
//! // Shuttle datagrams until quiet: handshake, then the queued packet.
//! fn shuttle(from: &mut Engine, to: &mut Engine, from_addr: std::net::SocketAddr, now: Instant) -> bool {
//!     let mut buf = Vec::new();
//!     let mut moved = false;
//!     while let Some(t) = from.poll_transmit(&mut buf, 1) {
//!         to.handle_datagram(now, from_addr, &buf[buf.len() - t.size..]);
//!         moved = true;
//!     }
//!     moved
//! }
//! while shuttle(&mut a, &mut b, addr_a, now) | shuttle(&mut b, &mut a, addr_b, now) {}
//! let mut received = Vec::new();
//! assert_eq!(b.poll_tun_packet(&mut received), Some(20));
//! assert_eq!(received, packet);
//! ```

pub mod config;
pub mod device;
pub mod engine;
pub mod event;
pub mod filter;
pub mod firewall;
pub mod packet;
pub mod routing;
pub mod stats;

pub use config::{PeerConfig, PeerSetChanges};
pub use cvlan_types::PublicKey;
pub use cvlan_types::{PrivateKey, PrivateKeyError};
pub use engine::peers::PeerSetError;
pub use engine::{Engine, Transmit};
pub use event::{DropCounters, DropReason, Event};
pub use filter::{PacketFilter, PassAll, Verdict};
pub use packet::{IpPacket, PacketError};
pub use stats::{EngineStats, PeerStats};
