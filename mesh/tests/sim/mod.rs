//! A simulated network of engines for tests.
//!
//! - [`net`]: the network, its nodes and virtual time;
//! - [`packet`]: inner IP packets.

#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test binary uses part; tests unwrap

mod net;
mod packet;

pub use net::{Net, Node, Wire, addr, overlay};
pub use packet::{ip_packet, payload};
