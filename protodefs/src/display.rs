//! How local-API values read in tables and JSON, shared by cvlanctl and cvtui so both say
//! the same thing the same way: paths, byte counts, ages and round-trip times.

use std::fmt;
use std::time::Duration;

use crate::v1::{PathKind, PeerPath};

impl fmt::Display for PeerPath {
    /// `direct`, `relay:NAME`, or `-` when there is no path yet.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            PathKind::Direct => f.write_str("direct"),
            PathKind::Relay => write!(f, "relay:{}", self.relay),
            PathKind::Unspecified => f.write_str("-"),
        }
    }
}

/// `1.2 KiB`, `3.4 MiB`: byte counts for tables.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4s`, `3m12s`, `2h5m`, `3d4h`: an age or uptime, to the two largest units.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `12.3ms`: a round-trip time.
pub fn millis(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_naturally() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(192)), "3m12s");
        assert_eq!(age(Duration::from_secs(7500)), "2h5m");
        assert_eq!(age(Duration::from_secs(273_600)), "3d4h");
        assert_eq!(millis(Duration::from_micros(1234)), "1.23ms");
    }

    #[test]
    fn paths_read_as_in_cli_md() {
        let direct = PeerPath {
            kind: PathKind::Direct.into(),
            relay: String::new(),
        };
        let relay = PeerPath {
            kind: PathKind::Relay.into(),
            relay: "fra1".into(),
        };
        assert_eq!(direct.to_string(), "direct");
        assert_eq!(relay.to_string(), "relay:fra1");
        assert_eq!(PeerPath::default().to_string(), "-");
    }
}
