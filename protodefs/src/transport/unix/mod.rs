//! The local API's transport: gRPC over a Unix socket, shared by the daemons that serve it
//! (cvland, cvlan-vrouterd) and the clients that use it (cvlanctl, cvtui). Also reachable as
//! [`crate::local`].
//!
//! Each side is behind its cargo feature, so a client does not build the daemon's side:
//! - `client`: [`connect`] gives a client, with an error that names the socket when no daemon
//!   is there; [`buffered_events`] reads the daemon's event buffer.
//! - `server`: [`serve`] (or [`LocalSocket::bind`] then [`LocalSocket::serve`]) replaces a
//!   stale socket, refuses to take over one a live daemon holds, publishes the socket with mode
//!   0660 and group `cvlan` (when that group exists), and removes it again on shutdown, on
//!   error and on drop.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "client")]
pub use client::{ConnectError, LocalApiServiceClient, buffered_events, connect};
#[cfg(feature = "server")]
pub use server::{
    BoxStream, LocalApiService, LocalApiServiceServer, LocalSocket, SHUTDOWN_GRACE, SOCKET_MODE,
    ServeError, serve,
};

/// The group whose members may use the local API.
pub const SOCKET_GROUP: &str = "cvlan";

/// The largest message either side sends or accepts (a peer table of 100,000 rows fits).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
