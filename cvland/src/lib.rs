//! cvland: the CloudVLAN host daemon, a thin binary over the agent runtime (cvlan-agent: host
//! file, node key, sources, events, cache, base API, lifecycle).
//!
//! What is cvland's own: the reconciler ([`reconcile`]: each desired state planned against
//! the running map and applied, only the difference) behind a [`platform`] (the Linux host,
//! or memory for in-process tests), the policy the mesh's stateful filter enforces
//! ([`policy`]), the node's local API ([`api`]) with pings through the tunnel ([`ping`]), and
//! IP forwarding for a subnet router ([`forwarding`]), and its Prometheus families
//! ([`metrics`]). [`daemon::run`] ties them together;
//! [`state`] is what they share.

pub mod api;
pub mod daemon;
pub mod forwarding;
pub mod metrics;
pub mod ping;
pub mod platform;
pub mod policy;
pub mod reconcile;
pub mod state;
