//! The control transport's Noise session, sans-IO: the IK handshake for both roles, then a
//! [`Transport`] that seals plaintext into frames and opens frames. No sockets and no clock:
//! bytes in, bytes out, and the time passed in.
//!
//! The handshake is `Noise_IK_25519_ChaChaPoly_BLAKE2s` with the prologue
//! `cloudvlan control v1` and empty payloads, plus a key confirmation:
//! 1. initiator → responder: message 1 (96 bytes), to the server's static key it knows;
//! 2. responder → initiator: message 2 (48 bytes); the responder has learnt the initiator's
//!    static key, its identity;
//! 3. initiator → responder: the first transport message, empty (16 bytes).
//!
//! IK's message 1 can be replayed, and the responder cannot tell; the confirmation proves the
//! initiator holds the ephemeral key of this very handshake, so a replayed message 1 never
//! becomes a session. It costs no round trip: the initiator sends it as soon as it has read
//! message 2, ahead of its first data.

use std::time::{Duration, Instant};

use cvlan_types::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

use super::NoiseError;
use super::frame::{self, HEADER_LEN, MAX_FRAME_LEN};

/// The Noise protocol name.
pub const PATTERN: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

/// The prologue both sides mix in: a peer speaking another protocol cannot complete.
pub const PROLOGUE: &[u8] = b"cloudvlan control v1";

/// How long a handshake may take from its first message to the key confirmation.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The bytes of the authentication tag each transport message adds.
pub const TAG_LEN: usize = 16;

/// The most plaintext one transport message (one frame) carries.
pub const MAX_PLAINTEXT: usize = MAX_FRAME_LEN - TAG_LEN;

/// The length of message 1 with an empty payload: ephemeral, encrypted static, tag.
const MESSAGE_1_LEN: usize = 32 + 32 + TAG_LEN + TAG_LEN;

/// The length of message 2 with an empty payload: ephemeral, tag.
const MESSAGE_2_LEN: usize = 32 + TAG_LEN;

/// An initiator that has sent message 1 and waits for message 2.
pub struct Initiator {
    state: snow::HandshakeState,
    started: Instant,
}

impl Initiator {
    /// Starts a handshake from `local` to `server`, appending message 1 (a frame) to `out`.
    pub fn start(
        local: &PrivateKey,
        server: &PublicKey,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<Self, NoiseError> {
        let secret = Zeroizing::new(local.secret().to_bytes());
        let mut state = builder(&secret)?
            .remote_public_key(&server.0)
            .and_then(snow::Builder::build_initiator)
            .map_err(setup_error)?;
        write_handshake(&mut state, MESSAGE_1_LEN, out)?;
        Ok(Self {
            state,
            started: now,
        })
    }

    /// Reads message 2 (a frame body). On success appends the key confirmation (a frame) to
    /// `out` and returns the session.
    pub fn finish(
        mut self,
        message: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<Transport, NoiseError> {
        check_deadline(self.started, now)?;
        read_handshake(&mut self.state, message, MESSAGE_2_LEN)?;
        let mut transport = Transport::from_handshake(self.state)?;
        transport.seal_message(&[], out)?;
        Ok(transport)
    }
}

/// A responder waiting for message 1.
pub struct Responder {
    state: snow::HandshakeState,
    started: Instant,
}

impl Responder {
    /// A responder with the server's static key `local`, whose handshake starts at `now`.
    pub fn new(local: &PrivateKey, now: Instant) -> Result<Self, NoiseError> {
        let secret = Zeroizing::new(local.secret().to_bytes());
        let state = builder(&secret)?.build_responder().map_err(setup_error)?;
        Ok(Self {
            state,
            started: now,
        })
    }

    /// Reads message 1 (a frame body), which names the initiator's static key, and appends
    /// message 2 (a frame) to `out`. The initiator is not proven live until
    /// [`Confirming::confirm`].
    pub fn respond(
        mut self,
        message: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<Confirming, NoiseError> {
        check_deadline(self.started, now)?;
        read_handshake(&mut self.state, message, MESSAGE_1_LEN)?;
        let remote = self
            .state
            .get_remote_static()
            .and_then(|key| <[u8; 32]>::try_from(key).ok())
            .map(PublicKey)
            .ok_or(NoiseError::Handshake("message 1 carries no static key"))?;
        write_handshake(&mut self.state, MESSAGE_2_LEN, out)?;
        Ok(Confirming {
            transport: Transport::from_handshake(self.state)?,
            remote,
            started: self.started,
        })
    }
}

/// A responder that has sent message 2 and waits for the initiator's key confirmation.
pub struct Confirming {
    transport: Transport,
    remote: PublicKey,
    started: Instant,
}

impl Confirming {
    /// The static key message 1 named: who the initiator claims to be.
    pub fn remote(&self) -> PublicKey {
        self.remote
    }

    /// Reads the key confirmation (a frame body); returns the session and the initiator's
    /// static key, now proven.
    pub fn confirm(
        mut self,
        message: &[u8],
        now: Instant,
    ) -> Result<(Transport, PublicKey), NoiseError> {
        check_deadline(self.started, now)?;
        if message.len() != TAG_LEN {
            return Err(NoiseError::Handshake(
                "the key confirmation has the wrong length",
            ));
        }
        let mut plaintext = Vec::new();
        self.transport.open(message, &mut plaintext).map_err(|_| {
            NoiseError::Handshake("the key confirmation does not authenticate (a replay?)")
        })?;
        Ok((self.transport, self.remote))
    }
}

/// An established session: seals plaintext into frames and opens frame bodies, each side
/// with its own key and a counter nonce, so a replayed, reordered or altered frame fails
/// (and leaves the session as it was).
pub struct Transport {
    state: snow::TransportState,
}

impl Transport {
    fn from_handshake(state: snow::HandshakeState) -> Result<Self, NoiseError> {
        let state = state.into_transport_mode().map_err(setup_error)?;
        Ok(Self { state })
    }

    /// Seals `plaintext` into frames appended to `out`, one per [`MAX_PLAINTEXT`] bytes
    /// (nothing for empty plaintext).
    pub fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        for chunk in plaintext.chunks(MAX_PLAINTEXT) {
            self.seal_message(chunk, out)?;
        }
        Ok(())
    }

    /// Seals one message of at most [`MAX_PLAINTEXT`] bytes (empty too) as a frame.
    fn seal_message(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let start = out.len();
        let len = chunk.len() + TAG_LEN;
        let header = u16::try_from(len)
            .map_err(|_| NoiseError::Setup(format!("a message of {len} bytes")))?
            .to_be_bytes();
        out.extend_from_slice(&header);
        out.resize(start + HEADER_LEN + len, 0);
        match self
            .state
            .write_message(chunk, &mut out[start + HEADER_LEN..])
        {
            Ok(written) if written == len => Ok(()),
            Ok(written) => {
                out.truncate(start);
                Err(NoiseError::Setup(format!(
                    "sealed {written} bytes where {len} were due"
                )))
            }
            Err(error) => {
                out.truncate(start);
                Err(transport_error(error))
            }
        }
    }

    /// Opens one frame body, appending its plaintext to `out`.
    pub fn open(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let Some(len) = message.len().checked_sub(TAG_LEN) else {
            return Err(NoiseError::Decrypt);
        };
        let start = out.len();
        out.resize(start + len, 0);
        match self.state.read_message(message, &mut out[start..]) {
            Ok(read) => {
                out.truncate(start + read);
                Ok(())
            }
            Err(error) => {
                out.truncate(start);
                Err(transport_error(error))
            }
        }
    }
}

/// A builder for [`PATTERN`] with [`PROLOGUE`] and the static key `secret`.
fn builder(secret: &[u8; 32]) -> Result<snow::Builder<'_>, NoiseError> {
    let params: snow::params::NoiseParams = PATTERN.parse().map_err(setup_error)?;
    snow::Builder::new(params)
        .prologue(PROLOGUE)
        .and_then(|builder| builder.local_private_key(secret))
        .map_err(setup_error)
}

/// Writes the next handshake message (empty payload, `len` bytes) to `out` as a frame.
fn write_handshake(
    state: &mut snow::HandshakeState,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    let mut message = [0u8; MESSAGE_1_LEN];
    let written = state
        .write_message(&[], &mut message)
        .map_err(setup_error)?;
    match message.get(..written) {
        Some(body) if written == len => Ok(frame::encode(body, out)?),
        _ => Err(NoiseError::Setup(format!(
            "a handshake message of {written} bytes where {len} were due"
        ))),
    }
}

/// Reads a handshake message that must be `len` bytes long (an empty payload).
fn read_handshake(
    state: &mut snow::HandshakeState,
    message: &[u8],
    len: usize,
) -> Result<(), NoiseError> {
    if message.len() != len {
        return Err(NoiseError::Handshake(
            "a handshake message has the wrong length",
        ));
    }
    let mut payload = [0u8; MESSAGE_1_LEN];
    match state.read_message(message, &mut payload) {
        Ok(0) => Ok(()),
        Ok(_) => Err(NoiseError::Handshake(
            "a handshake message carries a payload",
        )),
        Err(snow::Error::Decrypt) => Err(NoiseError::Handshake(
            "a handshake message does not authenticate (garbage, or the wrong server key)",
        )),
        Err(snow::Error::Dh) => Err(NoiseError::Handshake(
            "a handshake message carries an invalid public key",
        )),
        Err(error) => Err(NoiseError::Setup(error.to_string())),
    }
}

fn check_deadline(started: Instant, now: Instant) -> Result<(), NoiseError> {
    if now.saturating_duration_since(started) > HANDSHAKE_TIMEOUT {
        return Err(NoiseError::Timeout);
    }
    Ok(())
}

fn transport_error(error: snow::Error) -> NoiseError {
    match error {
        snow::Error::Decrypt => NoiseError::Decrypt,
        snow::Error::State(snow::error::StateProblem::Exhausted) => NoiseError::Exhausted,
        other => NoiseError::Setup(other.to_string()),
    }
}

fn setup_error(error: snow::Error) -> NoiseError {
    NoiseError::Setup(error.to_string())
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Confirming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirming")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("sent", &self.state.sending_nonce())
            .field("received", &self.state.receiving_nonce())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::noise::frame::FrameDecoder;
    use proptest::prelude::*;

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes([n; 32])
    }

    /// The body of the one frame `wire` holds.
    fn body(wire: &[u8]) -> Vec<u8> {
        let mut input = wire;
        let frame = FrameDecoder::new()
            .decode(&mut input)
            .expect("a frame")
            .expect("a whole frame");
        assert!(input.is_empty(), "exactly one frame");
        frame
    }

    /// The three handshake messages (frame bodies) between `client` and `server`, both sides'
    /// sessions, and what the responder learnt.
    struct Handshake {
        message_1: Vec<u8>,
        confirmation: Vec<u8>,
        client: Transport,
        server: Transport,
        learnt: PublicKey,
    }

    fn handshake(client: &PrivateKey, server: &PrivateKey) -> Handshake {
        let now = Instant::now();
        let mut wire = Vec::new();
        let initiator =
            Initiator::start(client, &server.public_key(), now, &mut wire).expect("start");
        let message_1 = body(&wire);
        wire.clear();
        let confirming = Responder::new(server, now)
            .expect("responder")
            .respond(&message_1, now, &mut wire)
            .expect("message 1 accepted");
        assert_eq!(confirming.remote(), client.public_key());
        let message_2 = body(&wire);
        wire.clear();
        let client_session = initiator
            .finish(&message_2, now, &mut wire)
            .expect("message 2 accepted");
        let confirmation = body(&wire);
        let (server_session, learnt) = confirming.confirm(&confirmation, now).expect("confirmed");
        Handshake {
            message_1,
            confirmation,
            client: client_session,
            server: server_session,
            learnt,
        }
    }

    fn open_all(session: &mut Transport, wire: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut decoder = FrameDecoder::new();
        let mut input = wire;
        let mut plaintext = Vec::new();
        while let Some(frame) = decoder.decode(&mut input)? {
            session.open(&frame, &mut plaintext)?;
        }
        assert!(!decoder.is_mid_frame());
        Ok(plaintext)
    }

    #[test]
    fn a_handshake_teaches_the_responder_the_initiator_key_and_both_directions_work() {
        let (client, server) = (key(1), key(2));
        let mut done = handshake(&client, &server);
        assert_eq!(done.learnt, client.public_key());
        assert_eq!(done.message_1.len(), MESSAGE_1_LEN);
        assert_eq!(done.confirmation.len(), TAG_LEN);

        let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        done.client.seal(&large, &mut wire).expect("seal");
        // 200,000 bytes at 65,519 per message: four frames, each with its tag and header.
        assert_eq!(wire.len(), large.len() + 4 * (TAG_LEN + HEADER_LEN));
        assert_eq!(open_all(&mut done.server, &wire).expect("open"), large);

        wire.clear();
        done.server.seal(b"pong", &mut wire).expect("seal");
        assert_eq!(open_all(&mut done.client, &wire).expect("open"), b"pong");
    }

    #[test]
    fn a_client_with_the_wrong_server_key_is_refused_at_message_1() {
        let (client, server, other) = (key(1), key(2), key(3));
        let now = Instant::now();
        let mut wire = Vec::new();
        Initiator::start(&client, &other.public_key(), now, &mut wire).expect("start");
        let result = Responder::new(&server, now).expect("responder").respond(
            &body(&wire),
            now,
            &mut Vec::new(),
        );
        assert!(matches!(result, Err(NoiseError::Handshake(_))));
    }

    #[test]
    fn garbage_and_truncated_message_1_are_refused() {
        let (client, server) = (key(1), key(2));
        let now = Instant::now();
        let mut wire = Vec::new();
        Initiator::start(&client, &server.public_key(), now, &mut wire).expect("start");
        let real = body(&wire);
        let mut flipped = real.clone();
        flipped[40] ^= 1;
        for message in [
            vec![0u8; MESSAGE_1_LEN],
            flipped,
            real[..MESSAGE_1_LEN - 1].to_vec(),
            [real.as_slice(), &[0]].concat(),
        ] {
            let mut out = Vec::new();
            let result = Responder::new(&server, now)
                .expect("responder")
                .respond(&message, now, &mut out);
            assert!(
                matches!(result, Err(NoiseError::Handshake(_))),
                "{result:?}"
            );
            assert!(out.is_empty(), "no message 2 for a refused message 1");
        }
    }

    #[test]
    fn a_replayed_handshake_never_becomes_a_session() {
        let (client, server) = (key(1), key(2));
        let recorded = handshake(&client, &server);
        // IK's message 1 replays: the responder answers it, as it must...
        let now = Instant::now();
        let confirming = Responder::new(&server, now)
            .expect("responder")
            .respond(&recorded.message_1, now, &mut Vec::new())
            .expect("a replayed message 1 is indistinguishable");
        // ...but the recorded confirmation belongs to the old responder's ephemeral key.
        let result = confirming.confirm(&recorded.confirmation, now);
        assert!(matches!(result, Err(NoiseError::Handshake(_))));
    }

    #[test]
    fn a_replayed_or_altered_transport_frame_is_refused() {
        let mut done = handshake(&key(1), &key(2));
        let mut first = Vec::new();
        done.client.seal(b"one", &mut first).expect("seal");
        let mut second = Vec::new();
        done.client.seal(b"two", &mut second).expect("seal");

        let mut plaintext = Vec::new();
        done.server
            .open(&body(&first), &mut plaintext)
            .expect("open");
        assert_eq!(plaintext, b"one");
        let replay = done.server.open(&body(&first), &mut plaintext);
        assert!(matches!(replay, Err(NoiseError::Decrypt)));
        assert_eq!(plaintext, b"one", "a refused frame adds nothing");

        // The refused replay did not move the nonce: the next real frame still opens.
        done.server
            .open(&body(&second), &mut plaintext)
            .expect("open");
        assert_eq!(plaintext, b"onetwo");

        let mut wire = Vec::new();
        done.client.seal(b"three", &mut wire).expect("seal");
        let mut tampered = body(&wire);
        tampered[0] ^= 1;
        assert!(matches!(
            done.server.open(&tampered, &mut Vec::new()),
            Err(NoiseError::Decrypt)
        ));
        assert!(matches!(
            done.server.open(&[1, 2, 3], &mut Vec::new()),
            Err(NoiseError::Decrypt)
        ));
    }

    #[test]
    fn a_handshake_past_its_deadline_fails() {
        let (client, server) = (key(1), key(2));
        let start = Instant::now();
        let late = start + HANDSHAKE_TIMEOUT + Duration::from_millis(1);
        let mut wire = Vec::new();
        Initiator::start(&client, &server.public_key(), start, &mut wire).expect("start");
        let result = Responder::new(&server, start).expect("responder").respond(
            &body(&wire),
            late,
            &mut Vec::new(),
        );
        assert!(matches!(result, Err(NoiseError::Timeout)));
        // A clock that goes backwards is not a timeout.
        let result = Responder::new(&server, late).expect("responder").respond(
            &body(&wire),
            start,
            &mut Vec::new(),
        );
        assert!(result.is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_make_a_session(
            message in proptest::collection::vec(any::<u8>(), 0..200),
            confirmation in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let server = key(2);
            let now = Instant::now();
            let mut out = Vec::new();
            let result = Responder::new(&server, now)
                .expect("responder")
                .respond(&message, now, &mut out);
            prop_assert!(result.is_err());
            prop_assert!(out.is_empty());

            let mut done = handshake(&key(1), &server);
            prop_assert!(done.server.open(&confirmation, &mut out).is_err());
            prop_assert!(done.client.open(&message, &mut out).is_err());
            prop_assert!(out.is_empty());
        }
    }
}
