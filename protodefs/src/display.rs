//! How local-API values read in tables and JSON, shared by cvlanctl and cvtui so both say
//! the same thing the same way.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
