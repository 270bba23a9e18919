//! Fuzzes the control transport's readers (cvlan-proto `transport::noise`): the bytes, cut
//! into chunks of the size the first byte says, go through the frame decoder; the first frame
//! goes to a responder as message 1 and every later one to an established session. Nothing
//! panics, the decoder never yields an empty or oversized frame, and no frame authenticates:
//! a message 1 or a transport frame the fuzzer forged would be a broken handshake.
#![no_main]

use std::time::Instant;

use cvlan_proto::transport::noise::frame::{FrameDecoder, MAX_FRAME_LEN};
use cvlan_proto::transport::noise::session::{Initiator, Responder, Transport};
use cvlan_types::PrivateKey;
use libfuzzer_sys::fuzz_target;

/// The server's side of a real handshake between two fixed keys.
fn established(client: &PrivateKey, server: &PrivateKey, now: Instant) -> Transport {
    let mut wire = Vec::new();
    let initiator = Initiator::start(client, &server.public_key(), now, &mut wire).expect("start");
    let mut reply = Vec::new();
    let confirming = Responder::new(server, now)
        .expect("responder")
        .respond(&wire[2..], now, &mut reply)
        .expect("message 1");
    let mut confirmation = Vec::new();
    initiator
        .finish(&reply[2..], now, &mut confirmation)
        .expect("message 2");
    confirming
        .confirm(&confirmation[2..], now)
        .expect("confirmation")
        .0
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let (client, server) = (
        PrivateKey::from_bytes([1; 32]),
        PrivateKey::from_bytes([2; 32]),
    );
    let now = Instant::now();
    let mut session = established(&client, &server, now);
    let mut responder = Some(Responder::new(&server, now).expect("responder"));
    let mut decoder = FrameDecoder::new();
    let mut plaintext = Vec::new();
    for mut chunk in bytes.chunks(usize::from(cut).max(1)) {
        loop {
            let frame = match decoder.decode(&mut chunk) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            assert!(!frame.is_empty() && frame.len() <= MAX_FRAME_LEN);
            match responder.take() {
                Some(responder) => {
                    let mut reply = Vec::new();
                    assert!(responder.respond(&frame, now, &mut reply).is_err());
                    assert!(reply.is_empty(), "no message 2 for a refused message 1");
                }
                None => {
                    assert!(session.open(&frame, &mut plaintext).is_err());
                    assert!(plaintext.is_empty(), "a refused frame opens to nothing");
                }
            }
        }
    }
});
