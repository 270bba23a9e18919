//! cvlan-lab: CloudVLAN labs on one machine.
//!
//! A lab is declared in a small KDL topology file (switches, NAT routers, hosts and the daemons
//! on them) and built from network namespaces, veth links, bridges and nftables. It is the
//! README's demo (`cvlan-lab up`) and the library the end-to-end tests use ([`Lab`]), with
//! the inputs they feed every reader ([`pathological`]).

pub mod bins;
pub mod checks;
pub mod command;
mod error;
pub mod git;
mod host;
pub mod hostd;
mod lab;
pub mod metrics;
pub mod naming;
pub mod nat;
pub mod netfile;
pub mod netplan;
pub mod packets;
pub mod pathological;
pub mod process;
pub mod psk;
mod realize;
pub mod record;
pub mod require;
pub mod scratch;
mod serial;
pub mod strongswan;
pub mod tmux;
pub mod topology;
pub mod wireguard;

pub use error::LabError;
pub use host::{HostHandle, LabChild, NatHandle};
pub use lab::{Lab, LabOptions, NETWORK_FILE};
pub use require::{Privileged, require_root};
pub use serial::one_at_a_time;
pub use topology::{LoadError, Topology, TopologyError};
