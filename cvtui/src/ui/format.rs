//! How values read on screen: compact rates, ages, keys and times of day. Byte counts and
//! ages use cvlan-proto's `display`, as cvlanctl does.

use std::time::{Duration, SystemTime};

pub use cvlan_proto::display::{age, bytes, millis};

/// `-` for a value not known.
pub const UNKNOWN: &str = "-";

/// A count in at most five characters: `999`, `12.3K`, `4.5M`, `1.2G`.
pub fn count(n: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (scale, unit) in UNITS {
        if n >= scale {
            let v = n / scale;
            return if v >= 100.0 {
                format!("{v:.0}{unit}")
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{n:.0}")
}

/// A byte rate in at most seven characters: `512B`, `12.3K`, `4.5M` (per second implied by
/// the column), or `-` when not known.
pub fn byte_rate(rate: Option<f64>) -> String {
    rate.map_or_else(
        || UNKNOWN.to_owned(),
        |r| {
            if r < 1000.0 {
                format!("{r:.0}B")
            } else {
                count(r)
            }
        },
    )
}

/// A packet rate: `0`, `12.3K`, or `-` when not known.
pub fn packet_rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| UNKNOWN.to_owned(), count)
}

/// How long ago `then` was, as of `now` (`never` when it never happened).
pub fn ago(now: SystemTime, then: Option<SystemTime>) -> String {
    then.map_or_else(
        || "never".to_owned(),
        |t| age(now.duration_since(t).unwrap_or_default()),
    )
}

/// A round-trip time, or `-`.
pub fn rtt(d: Option<Duration>) -> String {
    d.map_or_else(
        || UNKNOWN.to_owned(),
        |d| format!("{:.1}ms", d.as_secs_f64() * 1000.0),
    )
}

/// A WireGuard public key in base64, or `-` when malformed.
pub fn key(bytes: &[u8]) -> String {
    cvlan_proto::convert::key_from_bytes("public_key", bytes)
        .map_or_else(|_| UNKNOWN.to_owned(), |key| key.to_base64())
}

/// A public key shortened to its first eight characters, as people compare keys at a glance.
pub fn short_key(bytes: &[u8]) -> String {
    let full = key(bytes);
    match full.get(..8) {
        Some(head) if full.len() > 8 => format!("{head}…"),
        _ => full,
    }
}

/// The UTC time of day, `HH:MM:SS`.
pub fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// A protobuf timestamp as a `SystemTime`.
pub fn time(ts: Option<cvlan_proto::prost_types::Timestamp>) -> Option<SystemTime> {
    ts.and_then(|t| SystemTime::try_from(t).ok())
}

/// A protobuf duration as a `Duration`.
pub fn duration(d: Option<cvlan_proto::prost_types::Duration>) -> Option<Duration> {
    d.and_then(|d| Duration::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_compactly() {
        assert_eq!(count(999.0), "999");
        assert_eq!(count(12_345.0), "12.3K");
        assert_eq!(count(456_000.0), "456K");
        assert_eq!(count(4_500_000.0), "4.5M");
        assert_eq!(byte_rate(Some(512.0)), "512B");
        assert_eq!(byte_rate(Some(1_250_000.0)), "1.2M");
        assert_eq!(byte_rate(None), "-");
        assert_eq!(packet_rate(Some(0.0)), "0");
        assert_eq!(rtt(Some(Duration::from_micros(12_340))), "12.3ms");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3_723);
        assert_eq!(clock(t), "01:02:03");
        assert_eq!(ago(t + Duration::from_secs(75), Some(t)), "1m15s");
        assert_eq!(ago(t, None), "never");
        assert_eq!(short_key(&[0u8; 32]), "AAAAAAAA…");
        assert_eq!(short_key(&[1, 2]), "-");
    }
}
