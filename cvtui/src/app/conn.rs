//! The connection to the daemon as the dashboard shows it, and the reconnect backoff.

use std::time::{Duration, SystemTime};

/// The first retry comes this soon after a failure.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(250);

/// Retries are never further apart than this, so a restarted daemon is found again quickly.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// Dialling.
    Connecting {
        /// Attempts since the last successful connection, from 0.
        attempt: u32,
    },
    /// Connected and streaming.
    Up {
        /// When the connection was made.
        since: SystemTime,
    },
    /// Not reachable; the next attempt comes at `retry_at`.
    Down {
        /// Why, for people.
        error: String,
        /// Attempts since the last successful connection, from 0.
        attempt: u32,
        /// When the next attempt starts.
        retry_at: SystemTime,
    },
}

impl Conn {
    /// Whether the daemon is connected.
    pub fn is_up(&self) -> bool {
        matches!(self, Conn::Up { .. })
    }
}

/// How long to wait before attempt `attempt + 1`: doubling from [`BACKOFF_FIRST`], capped at
/// [`BACKOFF_MAX`].
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_FIRST
        .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .map_or(BACKOFF_MAX, |d| d.min(BACKOFF_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_stays_at_the_cap() {
        let waits: Vec<u128> = (0..8).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
