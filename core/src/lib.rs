//! cvlan-core: the pure logic of CloudVLAN, shared by cvlanctl, cvland and the controller.
//!
//! No IO, no clock, no randomness of its own. From a validated [`cvlan_schema::model::Network`]
//! it allocates overlay addresses ([`alloc`]), evaluates and explains policy
//! ([`policy`]), runs policy-tests and finds shadowed rules, computes which peers each node may
//! see ([`peers`]), each node's network map with deltas ([`netmap`]) and the plan that
//! reconciles a running node towards a new map ([`plan`]). [`check()`] is the whole
//! pipeline behind `cvlanctl check`; [`synth`] generates large synthetic networks for benches.

pub mod addrset;
pub mod alloc;
pub mod builder;
pub mod check;
pub mod netmap;
pub mod peers;
pub mod plan;
pub mod policy;
pub mod synth;

/// A hash map with a fast (non-cryptographic, randomly seeded) hasher, for the large
/// internal indexes; nothing here depends on iteration order.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use addrset::AddrSet;
pub use alloc::{Addresses, Allocation, Entity, allocate};
pub use check::{CheckReport, check, check_parts};
