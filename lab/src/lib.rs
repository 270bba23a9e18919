//! cvlan-lab: CloudVLAN labs on one machine.
//!
//! A lab is declared in a small KDL topology file (switches, NAT routers, hosts and the daemons
//! on them) and built from network namespaces, veth links, bridges and nftables. It is the
//! README's demo (`cvlan-lab up`) and the library the end-to-end tests use ([`Lab`]).

pub mod topology;

pub use topology::{LoadError, Topology, TopologyError};
pub mod bins;
pub mod command;
pub mod cvland;
pub mod naming;
pub mod nat;
pub mod netfile;
pub mod netplan;
pub mod process;
pub mod record;
pub mod require;
pub mod wireguard;
