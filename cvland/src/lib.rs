//! cvland: the CloudVLAN host daemon, as a library so cvlan-vrouterd can reuse its parts.
//!
//! The daemon reads cvland.kdl ([`config`]), holds the node key ([`keys`]), follows its source
//! of desired state ([`source`]: a watched file or a git branch), reconciles the mesh towards
//! it ([`reconcile`]: check, netmap, plan, apply only the difference), keeps the last good
//! netmap ([`cache`]), enforces the policy with the mesh's stateful filter ([`policy`]), and
//! serves the local API ([`api`]) with events ([`events`]) and pings through the tunnel
//! ([`ping`]); a subnet router gets IP forwarding ([`forwarding`]). [`daemon::run`] ties them together; [`state`] is what they
//! share.

pub mod api;
pub mod cache;
pub mod config;
pub mod daemon;
pub mod events;
pub mod forwarding;
pub mod keys;
pub mod ping;
pub mod policy;
pub mod reconcile;
pub mod source;
pub mod state;
