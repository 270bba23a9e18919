//! cvlan-ipsec: sans-IO IKEv2 (RFC 7296) and ESP-in-UDP (RFC 4303, RFC 3948).
//!
//! Nothing here opens a socket, reads a clock or owns a random number generator: time and
//! randomness are passed in, datagrams go in through [`Endpoint::handle_datagram`] and come
//! out of [`Endpoint::poll_transmit`], and what happened comes out of
//! [`Endpoint::poll_event`]. Inner packets are sealed with [`Endpoint::encrypt`] and come
//! back decrypted in place from `handle_datagram`.

pub mod crypto;
pub mod esp;
pub mod ike;
pub mod transforms;
pub mod ts;
pub mod wire;

pub use ike::{
    ChildSaInfo, DownReason, DropReason, Endpoint, EndpointConfig, EndpointError, EspTransmit,
    Event, IkeSaId, IkeSaInfo, IkeState, PeerConfig, PeerId, Psk, Received, SaError, SendError,
    Side, Stats, Transmit,
};
