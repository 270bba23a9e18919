//! The control transport's framing: each Noise message travels as a frame, a big-endian `u16`
//! length then that many bytes. Sans-IO: [`encode`] appends a frame to a buffer, and a
//! [`FrameDecoder`] takes bytes in whatever chunks the network gives and yields whole frames,
//! holding at most one incomplete frame.

/// The largest frame body: the largest Noise message.
pub const MAX_FRAME_LEN: usize = 65535;

/// The bytes of a frame's length prefix.
pub const HEADER_LEN: usize = 2;

/// Why bytes are not a frame, or a frame cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame announced zero bytes: no Noise message is empty.
    #[error("a frame announced a length of zero")]
    Empty,
    /// A body to send is empty or longer than a Noise message may be.
    #[error("a frame body of {len} bytes is outside 1..={MAX_FRAME_LEN}")]
    BadLength {
        /// The body's length.
        len: usize,
    },
}

/// Appends `body` to `out` as one frame.
pub fn encode(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u16::try_from(body.len())
        .ok()
        .filter(|&len| len > 0)
        .ok_or(FrameError::BadLength { len: body.len() })?;
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// Reassembles frames from a byte stream cut anywhere.
///
/// Holds the one frame being read (at most [`HEADER_LEN`] + [`MAX_FRAME_LEN`] bytes); bytes
/// after a completed frame stay with the caller until the next call. After an error the
/// stream is out of step and the decoder must not be used again.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// The announced body length, once the header is complete.
    want: Option<usize>,
    body: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes bytes from the front of `input` until a frame completes, and returns its body;
    /// `Ok(None)` when `input` ran out first (what was taken is kept for the next call).
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        let want = match self.want {
            Some(want) => want,
            None => {
                let take = (HEADER_LEN - self.header_len).min(input.len());
                let (head, rest) = input.split_at(take);
                self.header[self.header_len..self.header_len + take].copy_from_slice(head);
                self.header_len += take;
                *input = rest;
                if self.header_len < HEADER_LEN {
                    return Ok(None);
                }
                let want = usize::from(u16::from_be_bytes(self.header));
                if want == 0 {
                    return Err(FrameError::Empty);
                }
                self.want = Some(want);
                self.body.reserve_exact(want);
                want
            }
        };
        let take = (want - self.body.len()).min(input.len());
        let (head, rest) = input.split_at(take);
        self.body.extend_from_slice(head);
        *input = rest;
        if self.body.len() < want {
            return Ok(None);
        }
        self.header_len = 0;
        self.want = None;
        Ok(Some(std::mem::take(&mut self.body)))
    }

    /// True when part of a frame has been read: a stream ending now ends mid-frame.
    pub fn is_mid_frame(&self) -> bool {
        self.header_len > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for body in bodies {
            encode(body, &mut out).expect("encodable");
        }
        out
    }

    /// Decodes `wire` fed in chunks of `chunk` bytes.
    fn decode_all(wire: &[u8], chunk: usize) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for mut piece in wire.chunks(chunk.max(1)) {
            while let Some(frame) = decoder.decode(&mut piece)? {
                out.push(frame);
            }
            assert!(piece.is_empty(), "a chunk is used up before more is asked");
        }
        assert!(!decoder.is_mid_frame(), "whole frames leave nothing behind");
        Ok(out)
    }

    #[test]
    fn frames_round_trip_whole_and_byte_by_byte() {
        let big = vec![7u8; MAX_FRAME_LEN];
        let wire = frames(&[b"a", b"hello", &big]);
        assert_eq!(&wire[..3], &[0, 1, b'a']);
        for chunk in [1, 2, 3, 1000, wire.len()] {
            let got = decode_all(&wire, chunk).expect("valid frames");
            assert_eq!(got, vec![b"a".to_vec(), b"hello".to_vec(), big.clone()]);
        }
    }

    #[test]
    fn empty_and_oversized_bodies_are_refused() {
        let mut out = Vec::new();
        assert_eq!(encode(b"", &mut out), Err(FrameError::BadLength { len: 0 }));
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        assert_eq!(
            encode(&big, &mut out),
            Err(FrameError::BadLength {
                len: MAX_FRAME_LEN + 1
            })
        );
        assert!(out.is_empty(), "nothing is written for a refused body");
    }

    #[test]
    fn a_zero_length_frame_is_an_error() {
        let mut decoder = FrameDecoder::new();
        let mut input: &[u8] = &[0, 0, 1, 2];
        assert_eq!(decoder.decode(&mut input), Err(FrameError::Empty));
    }

    #[test]
    fn a_truncated_frame_is_held_and_reported_as_mid_frame() {
        let mut decoder = FrameDecoder::new();
        let mut input: &[u8] = &[0];
        assert_eq!(decoder.decode(&mut input), Ok(None));
        assert!(decoder.is_mid_frame());
        let mut input: &[u8] = &[3, 1, 2];
        assert_eq!(decoder.decode(&mut input), Ok(None));
        assert!(decoder.is_mid_frame());
        let mut input: &[u8] = &[3, 9];
        assert_eq!(decoder.decode(&mut input), Ok(Some(vec![1, 2, 3])));
        assert_eq!(input, &[9], "bytes after the frame stay with the caller");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_overbuffer(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            chunk in 1usize..300,
        ) {
            let mut decoder = FrameDecoder::new();
            'feed: for mut piece in bytes.chunks(chunk) {
                loop {
                    match decoder.decode(&mut piece) {
                        Ok(Some(frame)) => prop_assert!(!frame.is_empty() && frame.len() <= MAX_FRAME_LEN),
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                    prop_assert!(decoder.body.capacity() <= MAX_FRAME_LEN);
                }
            }
        }

        #[test]
        fn any_bodies_round_trip_in_any_chunking(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..600), 0..8),
            chunk in 1usize..700,
        ) {
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(decode_all(&frames(&refs), chunk), Ok(bodies));
        }
    }
}
