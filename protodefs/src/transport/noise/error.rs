//! [`NoiseError`]: everything that can go wrong on the control transport, from a malformed
//! frame to a handshake that does not authenticate or a connection that closes.

use std::io;

use super::frame::FrameError;
use super::session::HANDSHAKE_TIMEOUT;

/// Why a Noise handshake, a Noise message or the connection under it failed.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// The bytes on the wire are not frames.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// A handshake message is malformed or does not authenticate: garbage, a truncated or
    /// replayed handshake, or a client that has the wrong server key.
    #[error("the Noise handshake failed: {0}")]
    Handshake(&'static str),
    /// A transport message did not authenticate: corrupted, forged, replayed or reordered.
    #[error("a Noise message did not authenticate (corrupted, forged or replayed)")]
    Decrypt,
    /// The session has sent or received 2^64 - 1 messages and may not use its key again.
    #[error("the Noise session has used up its nonces")]
    Exhausted,
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("the Noise handshake did not complete within {} s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
    /// The peer closed the connection before the handshake finished. A server drops a client
    /// whose handshake does not authenticate, so a client with the wrong server key sees this.
    #[error(
        "the peer closed the connection during the Noise handshake (is the server's public key right?)"
    )]
    ClosedInHandshake,
    /// The peer closed the connection in the middle of a frame.
    #[error("the peer closed the connection in the middle of a frame")]
    ClosedMidFrame,
    /// Reading, writing or dialling the connection failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The gRPC channel over an established session could not be set up.
    #[cfg(feature = "client")]
    #[error("cannot set up the gRPC channel: {0}")]
    Channel(#[source] tonic::transport::Error),
    /// snow refused to set the session up (a bug here, not the peer's doing).
    #[error("cannot set up the Noise session: {0}")]
    Setup(String),
}

impl NoiseError {
    /// The error as an `io::Error`, for the stream traits: the OS error itself when there is
    /// one, else this error with the kind that fits it.
    pub fn into_io(self) -> io::Error {
        let kind = match self {
            Self::Io(error) => return error,
            Self::ClosedInHandshake | Self::ClosedMidFrame => io::ErrorKind::UnexpectedEof,
            Self::Timeout => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}
