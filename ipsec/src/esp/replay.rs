//! The ESP anti-replay window (RFC 4303 section 3.4.3): a ring of bits over the last
//! `REPLAY_WINDOW` sequence numbers below the highest one accepted. 32-bit sequence numbers
//! without ESN never wrap: the sender rekeys first.

/// Size of the anti-replay window in packets.
pub const REPLAY_WINDOW: u32 = 2048;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Zero is never a valid sequence number.
    #[error("sequence number zero")]
    Zero,
    /// Below the window.
    #[error("sequence number below the replay window")]
    TooOld,
    /// Already accepted.
    #[error("replayed sequence number")]
    Replayed,
}

/// Which sequence numbers have been seen, for one inbound SA.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    top: u32,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self {
            top: 0,
            bits: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// The highest sequence number accepted so far (0: none).
    pub fn top(&self) -> u32 {
        self.top
    }

    fn bit(seq: u32) -> (usize, u64) {
        let i = seq % REPLAY_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Checks `seq` before the ICV is verified; changes nothing.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= REPLAY_WINDOW {
            return Err(ReplayError::TooOld);
        }
        let (w, m) = Self::bit(seq);
        if self.bits[w] & m != 0 {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `seq` once its packet's ICV verified; checks again so a caller cannot
    /// accept a replay.
    pub fn accept(&mut self, seq: u32) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= REPLAY_WINDOW {
                self.bits = [0; WORDS];
            } else {
                for s in self.top + 1..seq {
                    let (w, m) = Self::bit(s);
                    self.bits[w] &= !m;
                }
            }
            self.top = seq;
        }
        let (w, m) = Self::bit(seq);
        self.bits[w] |= m;
        Ok(())
    }
}
