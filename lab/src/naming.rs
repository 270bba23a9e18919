//! Names the lab gives to machine-wide things: the lab id, namespaces and the few interface
//! names that must be unique on the whole machine. Interface names stay within 15 characters.

use std::fmt;
use std::io::Read;

/// Every namespace a lab creates starts with this.
pub const NAMESPACE_PREFIX: &str = "cvlab-";

/// Length of a lab id.
const ID_LEN: usize = 6;

/// A lab's identity: six characters of `[a-z0-9]`, unique among running labs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabId(String);

impl LabId {
    /// A fresh random id (from /dev/urandom).
    pub fn random() -> std::io::Result<LabId> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut bytes = [0u8; ID_LEN];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let id = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        Ok(LabId(id))
    }

    /// Parses an id as printed by [`LabId`]'s `Display`.
    pub fn parse(s: &str) -> Option<LabId> {
        let ok = s.len() == ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| LabId(s.to_owned()))
    }

    /// The id of the lab a namespace belongs to, if it is a lab namespace.
    pub fn of_namespace(namespace: &str) -> Option<LabId> {
        let rest = namespace.strip_prefix(NAMESPACE_PREFIX)?;
        let id = rest.get(..ID_LEN)?;
        let tail = &rest[ID_LEN..];
        if tail.is_empty() || tail.starts_with('-') {
            LabId::parse(id)
        } else {
            None
        }
    }

    /// The namespace holding the lab's switches (bridges).
    pub fn switch_namespace(&self) -> String {
        format!("{NAMESPACE_PREFIX}{}", self.0)
    }

    /// The namespace of host or NAT router `name`.
    pub fn namespace(&self, name: &str) -> String {
        format!("{NAMESPACE_PREFIX}{}-{name}", self.0)
    }

    /// The wireguard-go interface of the `index`-th host: its UAPI socket lives in the
    /// machine-wide /var/run/wireguard, so the name must be unique on the machine.
    pub fn wireguard_interface(&self, index: usize) -> String {
        format!("wg{}{index}", self.0)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bridge of the `index`-th switch, inside the switch namespace.
pub fn bridge(index: usize) -> String {
    format!("br{index}")
}

/// The bridge port of a link, inside the switch namespace.
pub fn bridge_port(switch: usize, port: usize) -> String {
    format!("p{switch}-{port}")
}

/// A host's interface for its `index`-th link.
pub fn host_interface(index: usize) -> String {
    format!("eth{index}")
}

/// A NAT router's outside interface.
pub const NAT_WAN: &str = "wan";
/// A NAT router's inside interface.
pub const NAT_LAN: &str = "lan";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_namespaces() {
        let id = LabId::random().unwrap();
        assert_eq!(id.as_str().len(), ID_LEN);
        assert_eq!(
            LabId::of_namespace(&id.switch_namespace()),
            Some(id.clone())
        );
        assert_eq!(
            LabId::of_namespace(&id.namespace("alpha")),
            Some(id.clone())
        );
        assert_eq!(LabId::of_namespace("cvlab-abcdefg"), None);
        assert_eq!(LabId::of_namespace("other-abcdef"), None);
        assert_eq!(LabId::parse("ABCDEF"), None);
    }

    #[test]
    fn machine_wide_interface_names_fit_in_15_characters() {
        let id = LabId::random().unwrap();
        assert!(id.wireguard_interface(999).len() <= 15);
        assert!(bridge_port(999, 999).len() <= 15);
    }
}
