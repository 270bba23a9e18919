//! The control transport: gRPC over a Noise IK session over TCP, between the controller and
//! the nodes and cvlanctl that dial it (`Noise_IK_25519_ChaChaPoly_BLAKE2s`, prologue
//! `cloudvlan control v1`). The initiator knows the controller's static key; the controller
//! learns the initiator's, which is the client's identity.
//!
//! - [`frame`] and [`session`] are sans-IO: the framing (a `u16` length per Noise message) and
//!   the handshake and transport state machines, with time passed in.
//! - [`NoiseStream`], [`client_handshake`], [`server_handshake`] (features `client` or
//!   `server`): the session over a tokio byte stream.
//! - `server`: [`NoiseIncoming`] turns a `TcpListener` into authenticated connections for
//!   tonic's `serve_with_incoming_shutdown`; handlers read the caller as [`NoisePeer`].
//! - `client`: [`connect`] and [`connect_lazy`] give a tonic `Channel` to the controller.

mod error;
pub mod frame;
pub mod session;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod server;
#[cfg(any(feature = "client", feature = "server"))]
mod stream;

pub use error::NoiseError;
pub use session::{HANDSHAKE_TIMEOUT, PATTERN, PROLOGUE};

#[cfg(feature = "client")]
pub use client::{connect, connect_lazy, dial};
#[cfg(feature = "server")]
pub use server::{
    HandshakeCounters, MAX_HANDSHAKES_IN_FLIGHT, NoiseConn, NoiseIncoming, NoisePeer,
};
#[cfg(any(feature = "client", feature = "server"))]
pub use stream::{NoiseStream, client_handshake, server_handshake};
