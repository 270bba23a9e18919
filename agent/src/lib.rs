//! cvlan-agent: the host runtime every CloudVLAN daemon runs on.
//!
//! cvland (a node) and cvlan-vrouterd (a vrouter) are thin binaries over it; neither depends
//! on the other. The agent holds:
//! - [`host`]: the host file (cvland.kdl, vrouterd.kdl) as cvlan-schema checks it, for a role;
//! - [`keys`]: the node key and the machine key, created on the host, never leaving it;
//! - [`source`]: where the desired state comes from (a watched file, a git branch; the
//!   controller next) and the task that turns each reading into the daemon's desired state;
//! - [`dns`]: the resolver for overlay names (zone from the netmap, answers, sockets, split
//!   DNS on the host);
//! - [`events`]: the event bus (ring buffer for replay, live subscribers, the log);
//! - [`state`]: identity and health every daemon shares with its API; [`apply`]: what an
//!   apply attempt came to; [`cache`]: the last good netmap, for a restart without a source;
//! - [`api`]: the local-API services every daemon serves alike (WatchEvents, Reload, the base
//!   of Status), [`wire`] the one place agent types become API messages;
//! - [`live`]: the live views' tasks, which end with their clients, and their counters;
//! - [`metrics`]: the Prometheus endpoint (`metrics listen=`), read at each scrape;
//! - [`lifecycle`]: stop signals and the local API's socket; [`sd_notify`]: readiness for
//!   systemd (sd_notify); [`files`]: the error and durability helpers of the state files.

pub mod api;
pub mod apply;
pub mod cache;
pub mod dns;
pub mod events;
pub mod files;
pub mod host;
pub mod keys;
pub mod lifecycle;
pub mod live;
pub mod memory;
pub mod metrics;
pub mod sd_notify;
pub mod source;
pub mod state;
pub mod wire;

pub use apply::{ApplyResult, Outcome, Rejection};
pub use events::{EventBus, EventLevel};
pub use host::{Host, HostError, Role};
pub use state::AgentState;
