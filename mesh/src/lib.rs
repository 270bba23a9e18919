//! cvlan-mesh: the CloudVLAN data plane.
//!
//! [`Engine`] is a sans-IO WireGuard mesh (one boringtun tunnel per peer, cryptokey routing,
//! roaming, handshake rate limiting, a [`PacketFilter`] hook) that takes time as an argument.
//! [`device`] is the thin tokio shell that drives it with a TUN device and UDP sockets, behind
//! the narrow [`device::TunIo`] and [`device::UdpIo`] traits so it also runs in memory.
//! boringtun's types never appear in this crate's API.

pub mod config;
pub mod device;
pub mod engine;
pub mod event;
pub mod filter;
pub mod key;
pub mod packet;
mod routing;
pub mod stats;

pub use config::{PeerConfig, PeerSetChanges};
pub use cvlan_schema::PublicKey;
pub use engine::peers::PeerSetError;
pub use engine::{Engine, Transmit};
pub use event::{DropCounters, DropReason, Event};
pub use filter::{PacketFilter, PassAll, Verdict};
pub use key::{PrivateKey, PrivateKeyError};
pub use packet::{IpPacket, PacketError};
pub use stats::{EngineStats, PeerStats};
