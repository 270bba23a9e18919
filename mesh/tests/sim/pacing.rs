//! Tying the virtual clock to real time, for what only boringtun's own clock decides.
//!
//! The engine does everything on the `now` it is given, but boringtun 0.7 reads the real
//! monotonic clock for the handshake: its retransmission after 5 s (REKEY_TIMEOUT), the
//! measured handshake RTT, session expiry. A paced network sleeps whenever its virtual clock
//! moves ahead of real time, so those see the virtual delays; an unpaced one runs at full
//! speed and boringtun sees (almost) no time pass.

use std::time::Instant;

/// A real-time anchor for the virtual clock.
pub struct Pacing {
    real_start: Instant,
    virtual_start: Instant,
}

impl Pacing {
    /// Pacing from now on, the virtual clock reading `virtual_now`.
    pub fn starting_at(virtual_now: Instant) -> Self {
        Self {
            real_start: Instant::now(),
            virtual_start: virtual_now,
        }
    }

    /// Sleeps until as much real time has passed since the anchor as virtual time has up to
    /// `virtual_now` (at once if real time is already further on).
    pub fn wait_until(&self, virtual_now: Instant) {
        let due = self.real_start + virtual_now.saturating_duration_since(self.virtual_start);
        let left = due.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}
