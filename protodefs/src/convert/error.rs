//! [`ConvertError`]: why a proto message does not convert into a model value, naming the
//! field it read.

/// Why a proto message does not convert into a model value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A key field does not hold exactly 32 bytes.
    #[error("{field}: a key has 32 bytes, got {len}")]
    KeyLength {
        /// The field read.
        field: &'static str,
        /// The number of bytes found.
        len: usize,
    },
    /// An address field does not hold an IP address.
    #[error("{field}: {value:?} is not an IP address")]
    Address {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// A prefix field does not hold a CIDR prefix or an address.
    #[error("{field}: {value:?} is not a prefix (CIDR) or an address")]
    Prefix {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// An endpoint field does not hold `ip:port`.
    #[error("{field}: {value:?} is not an endpoint (ip:port)")]
    Endpoint {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// A required field is absent or unspecified.
    #[error("{field} is missing")]
    Missing {
        /// The field read.
        field: &'static str,
    },
    /// An enum field holds a number this version does not know.
    #[error("{field}: {value} is not a known value")]
    UnknownEnum {
        /// The field read.
        field: &'static str,
        /// The number found.
        value: i32,
    },
    /// A text field holds a value this version does not know, or one that contradicts
    /// another field.
    #[error("{field}: {value:?} is not a valid value here")]
    Text {
        /// The field read.
        field: &'static str,
        /// What was found.
        value: String,
    },
    /// A port is above 65535.
    #[error("{field}: port {value} is out of range (0..=65535)")]
    Port {
        /// The field read.
        field: &'static str,
        /// The number found.
        value: u32,
    },
    /// A port range ends before it starts.
    #[error("{field}: {first}-{last} ends before it starts")]
    PortOrder {
        /// The message read (`PortRange`, `ServiceRange`).
        field: &'static str,
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
    },
    /// A field this version does not read is set: reading on without it would give a wrong
    /// value, so the message is refused.
    #[error("{field} is not read by this version: {reason}")]
    Unsupported {
        /// The field found set.
        field: &'static str,
        /// Why it is not read, and what replaces it.
        reason: &'static str,
    },
    /// A netmap peer did not convert; `source` says why.
    #[error("peer {name:?}: {source}")]
    Peer {
        /// The peer's name.
        name: String,
        /// What was wrong in it.
        #[source]
        source: Box<ConvertError>,
    },
    /// A rule did not convert; `source` says why.
    #[error("rule {name:?}: {source}")]
    Rule {
        /// The rule's name.
        name: String,
        /// What was wrong in it.
        #[source]
        source: Box<ConvertError>,
    },
}
