//! Rates from counters: the daemon sends totals and the time it read them; the dashboard
//! turns two readings into a per-second rate.

use std::time::SystemTime;

/// The per-second rate of a counter between two readings; `None` when the readings cannot
/// give one (time did not advance, or the counter went backwards because it was reset).
pub fn per_second(before: (u64, SystemTime), after: (u64, SystemTime)) -> Option<f64> {
    let elapsed = after.1.duration_since(before.1).ok()?.as_secs_f64();
    if elapsed <= 0.0 || after.0 < before.0 {
        return None;
    }
    Some((after.0 - before.0) as f64 / elapsed)
}

/// One counter followed over time: its last reading and the rate the last two gave.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Meter {
    last: Option<(u64, SystemTime)>,
    rate: Option<f64>,
}

impl Meter {
    /// Takes a reading. A reading no newer than the last one is ignored; a counter that went
    /// backwards starts over (no rate until the next reading).
    pub fn observe(&mut self, value: u64, at: SystemTime) {
        if let Some(last) = self.last {
            if at <= last.1 {
                return;
            }
            self.rate = per_second(last, (value, at));
        }
        self.last = Some((value, at));
    }

    /// The rate between the last two readings, per second.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn rate_is_the_difference_over_the_elapsed_time() {
        assert_eq!(per_second((1000, t(0)), (3000, t(500))), Some(4000.0));
        assert_eq!(per_second((10, t(0)), (10, t(1000))), Some(0.0));
        assert_eq!(
            per_second((10, t(1000)), (20, t(1000))),
            None,
            "no time passed"
        );
        assert_eq!(
            per_second((10, t(2000)), (20, t(1000))),
            None,
            "time went back"
        );
        assert_eq!(per_second((50, t(0)), (20, t(1000))), None, "counter reset");
    }

    #[test]
    fn a_meter_needs_two_readings_and_starts_over_after_a_reset() {
        let mut m = Meter::default();
        m.observe(100, t(0));
        assert_eq!(m.rate(), None);
        m.observe(1100, t(1000));
        assert_eq!(m.rate(), Some(1000.0));
        // A repeated or stale reading changes nothing.
        m.observe(5000, t(1000));
        m.observe(5000, t(500));
        assert_eq!(m.rate(), Some(1000.0));
        // The daemon restarted: the counter is smaller than before.
        m.observe(40, t(2000));
        assert_eq!(m.rate(), None);
        m.observe(240, t(4000));
        assert_eq!(m.rate(), Some(100.0));
    }
}
