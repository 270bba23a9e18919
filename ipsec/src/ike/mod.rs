//! IKEv2 (RFC 7296): the endpoint that serves many peers, the per-SA state machine and its
//! exchanges, configuration, events and the SA listing.

mod auth;
mod child;
mod config;
mod create_child;
mod datapath;
mod endpoint;
mod event;
mod informational;
mod init;
mod listing;
pub mod nat;
mod rekey_ike;
mod sa;

pub use auth::psk_auth;
pub use config::{EndpointConfig, PeerConfig, PeerId, Psk};
pub use datapath::{EspTransmit, SendError};
pub use endpoint::{Endpoint, EndpointError};
pub use event::{DownReason, DropReason, Event, IkeSaId, Received, SaError, Side, Stats, Transmit};
pub use listing::{ChildSaInfo, IkeSaInfo};
pub use sa::IkeState;
