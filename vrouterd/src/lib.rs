//! cvlan-vrouterd: the CloudVLAN vrouter. It terminates IKEv2 and ESP-in-UDP from legacy
//! devices in userspace (cvlan-ipsec), so it runs where the kernel has no XFRM, and carries
//! their traffic to and from a TUN device with routes to each peer's subnets.
//!
//! The daemon reads `vrouterd.kdl` (cvland.kdl with `vrouter "NAME"`), follows network.kdl's
//! `vrouter` block (watched; SIGHUP and the `Reload` call re-read it; peers are applied as a
//! diff), binds the `listen` address (NAT-T, 4500) and UDP 500 beside it, initiates to peers
//! with a fixed `remote` (again after failures, with backoff), answers `%any` peers, and
//! serves the local API subset `Status`, `Sas`, `WatchSas`, `WatchEvents` and `Reload` on its
//! socket for `cvlanctl sas` and cvtui.
//!
//! - [`desired`]: network.kdl → the vrouter's desired state (secrets read by [`secrets`]).
//! - [`plan`]: the pure diff between running and desired peers.
//! - [`dataplane`]: the IKE endpoint, sockets and TUN on their own thread.
//! - [`daemon`]: startup, the apply loop, signals, shutdown; [`api`] the local API; `metrics`
//!   the families of the Prometheus endpoint (`metrics listen=`).
//!
//! The host file, the file source (watch, debounce, revision), the key file, the event bus and
//! the base local-API services are the agent runtime's (cvlan-agent), as for cvland.
//! - [`harness`]: the daemon in this process on in-memory IO (tests, demos).

pub mod api;
pub mod daemon;
pub mod dataplane;
pub mod desired;
pub mod harness;
mod metrics;
pub mod plan;
pub mod secrets;

pub use daemon::{Daemon, DaemonError, load_host_config};
