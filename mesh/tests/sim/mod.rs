//! A simulated network of engines for tests: a virtual clock, in-memory datagrams delivered in
//! time order, a seeded fault model per link (loss, duplication, reordering, latency and
//! jitter), NAT boxes in front of nodes, node addresses tests can move (roaming) and a tap to
//! inject datagrams. No real sockets; every run is reproducible from its seed.
//!
//! - [`net`]: the network, its nodes and the clock that moves datagrams and timers;
//! - [`link`]: the fault model of one direction of a path;
//! - [`nat`]: NAT boxes (endpoint-independent or symmetric mapping, filtering, timeouts);
//! - [`queue`]: datagrams in flight, by arrival time;
//! - [`pacing`]: tying the virtual clock to real time, for boringtun's own timers;
//! - [`seeds`]: the seed list and running a test once per seed;
//! - [`packet`]: inner IP packets.

#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test binary uses part; tests unwrap

mod link;
mod nat;
mod net;
mod pacing;
mod packet;
mod queue;
mod seeds;

pub use link::{Faults, Link};
pub use nat::{Filtering, Mapping, Nat, NatConfig, NatStats};
pub use net::{Net, Node, addr, inside, nat_ip, overlay};
pub use packet::{ip_packet, payload};
pub use queue::{Datagram, DeliveryQueue};
pub use seeds::for_each_seed;
