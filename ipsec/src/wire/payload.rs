//! The payloads we use (RFC 7296 section 3.3–3.15) and their bodies' codecs. Unknown
//! payload types parse to `None` so the chain parser can skip or reject them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::reader::Reader;
use super::sa::{Proposal, ProtocolId};
use super::{NotifyType, WireError};
use crate::ts::TrafficSelector;

/// Payload type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadType;

impl PayloadType {
    /// Security Association.
    pub const SA: u8 = 33;
    /// Key Exchange.
    pub const KE: u8 = 34;
    /// Identification - Initiator.
    pub const IDI: u8 = 35;
    /// Identification - Responder.
    pub const IDR: u8 = 36;
    /// Authentication.
    pub const AUTH: u8 = 39;
    /// Nonce.
    pub const NONCE: u8 = 40;
    /// Notify.
    pub const NOTIFY: u8 = 41;
    /// Delete.
    pub const DELETE: u8 = 42;
    /// Vendor ID.
    pub const VENDOR_ID: u8 = 43;
    /// Traffic Selector - Initiator.
    pub const TSI: u8 = 44;
    /// Traffic Selector - Responder.
    pub const TSR: u8 = 45;
    /// Encrypted and Authenticated.
    pub const SK: u8 = 46;
}

/// An identification type (RFC 7296 section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdType {
    /// ID_IPV4_ADDR (1).
    Ipv4,
    /// ID_FQDN (2).
    Fqdn,
    /// ID_RFC822_ADDR (3).
    Rfc822,
    /// ID_IPV6_ADDR (5).
    Ipv6,
    /// ID_KEY_ID (11).
    KeyId,
    /// Any other type.
    Other(u8),
}

impl IdType {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Ipv4 => 1,
            Self::Fqdn => 2,
            Self::Rfc822 => 3,
            Self::Ipv6 => 5,
            Self::KeyId => 11,
            Self::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Ipv4,
            2 => Self::Fqdn,
            3 => Self::Rfc822,
            5 => Self::Ipv6,
            11 => Self::KeyId,
            v => Self::Other(v),
        }
    }
}

/// An IKE identity: a type and its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identification {
    /// Identity type.
    pub kind: IdType,
    /// Identity data (address bytes, or the name's bytes).
    pub data: Vec<u8>,
}

impl Identification {
    /// The identity for a network.kdl id string, read as strongSwan reads it: an IPv4/IPv6
    /// address, `@name` (an FQDN, without the `@`), an e-mail address (contains `@`), or
    /// else an FQDN.
    pub fn from_id_string(s: &str) -> Self {
        if let Some(fqdn) = s.strip_prefix('@') {
            return Self {
                kind: IdType::Fqdn,
                data: fqdn.as_bytes().to_vec(),
            };
        }
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Self {
                kind: IdType::Ipv4,
                data: a.octets().to_vec(),
            },
            Ok(IpAddr::V6(a)) => Self {
                kind: IdType::Ipv6,
                data: a.octets().to_vec(),
            },
            Err(_) if s.contains('@') => Self {
                kind: IdType::Rfc822,
                data: s.as_bytes().to_vec(),
            },
            Err(_) => Self {
                kind: IdType::Fqdn,
                data: s.as_bytes().to_vec(),
            },
        }
    }

    /// The payload body after the generic header (type, 3 reserved bytes, data): the
    /// bytes MACed into the AUTH payload.
    pub fn body(&self) -> Vec<u8> {
        let mut out = vec![self.kind.to_u8(), 0, 0, 0];
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_strings_map_to_types_as_strongswan_does() {
        let id = Identification::from_id_string;
        assert_eq!(
            id("10.1.2.3"),
            Identification {
                kind: IdType::Ipv4,
                data: vec![10, 1, 2, 3]
            }
        );
        assert_eq!(id("::1").kind, IdType::Ipv6);
        assert_eq!(
            id("gw.acme.example"),
            Identification {
                kind: IdType::Fqdn,
                data: b"gw.acme.example".to_vec()
            }
        );
        assert_eq!(
            id("@gw.acme.example"),
            Identification {
                kind: IdType::Fqdn,
                data: b"gw.acme.example".to_vec()
            }
        );
        assert_eq!(
            id("ops@acme.example"),
            Identification {
                kind: IdType::Rfc822,
                data: b"ops@acme.example".to_vec()
            }
        );
        assert_eq!(id("ops@acme.example").to_string(), "ops@acme.example");
        assert_eq!(id("10.1.2.3").to_string(), "10.1.2.3");
    }
}

impl std::fmt::Display for Identification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            IdType::Ipv4 if self.data.len() == 4 => {
                let a: [u8; 4] = [self.data[0], self.data[1], self.data[2], self.data[3]];
                write!(f, "{}", Ipv4Addr::from(a))
            }
            IdType::Ipv6 if self.data.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&self.data);
                write!(f, "{}", Ipv6Addr::from(a))
            }
            IdType::Fqdn | IdType::Rfc822 => f.write_str(&String::from_utf8_lossy(&self.data)),
            _ => write!(f, "id-type-{}:{} bytes", self.kind.to_u8(), self.data.len()),
        }
    }
}

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol of the SPI (IKE, ESP) or `Other(0)` when there is none.
    pub protocol: ProtocolId,
    /// SPI the notify is about (may be empty).
    pub spi: Vec<u8>,
    /// Notify type.
    pub kind: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify with no SPI.
    pub fn new(kind: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::Other(0),
            spi: Vec::new(),
            kind,
            data,
        }
    }
}

/// A Delete payload: SPIs of one protocol (none for the IKE SA itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE or ESP.
    pub protocol: ProtocolId,
    /// The sender's inbound SPIs (4 bytes each for ESP).
    pub spis: Vec<u32>,
}

/// One IKE payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// SA: proposals.
    Sa(Vec<Proposal>),
    /// KE: DH group and public value.
    Ke {
        /// DH group number.
        group: u16,
        /// Public value.
        data: Vec<u8>,
    },
    /// IDi.
    IdI(Identification),
    /// IDr.
    IdR(Identification),
    /// AUTH: method and data.
    Auth {
        /// Authentication method (2 = shared key MIC).
        method: u8,
        /// Authentication data.
        data: Vec<u8>,
    },
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notify.
    Notify(Notify),
    /// Delete.
    Delete(Delete),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// TSi.
    TsI(Vec<TrafficSelector>),
    /// TSr.
    TsR(Vec<TrafficSelector>),
    /// SK, still encrypted: `first` is the type of the first inner payload; `data` is
    /// IV, ciphertext and ICV.
    Encrypted {
        /// Type of the first payload inside.
        first: u8,
        /// IV, ciphertext and ICV.
        data: Vec<u8>,
    },
}

impl Payload {
    /// The payload type number.
    pub fn kind(&self) -> u8 {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke { .. } => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDI,
            Self::IdR(_) => PayloadType::IDR,
            Self::Auth { .. } => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::TsI(_) => PayloadType::TSI,
            Self::TsR(_) => PayloadType::TSR,
            Self::Encrypted { .. } => PayloadType::SK,
        }
    }

    /// Parses the body of a payload of type `kind`; `None` for a type we do not know.
    pub(crate) fn parse_body(kind: u8, body: &[u8]) -> Result<Option<Self>, WireError> {
        let mut r = Reader::new(body);
        let p = match kind {
            PayloadType::SA => Self::Sa(Proposal::parse_all(body)?),
            PayloadType::KE => {
                let group = r.u16()?;
                r.u16()?;
                Self::Ke {
                    group,
                    data: r.rest().to_vec(),
                }
            }
            PayloadType::IDI | PayloadType::IDR => {
                let id_type = IdType::from_u8(r.u8()?);
                r.take(3)?;
                let id = Identification {
                    kind: id_type,
                    data: r.rest().to_vec(),
                };
                if kind == PayloadType::IDI {
                    Self::IdI(id)
                } else {
                    Self::IdR(id)
                }
            }
            PayloadType::AUTH => {
                let method = r.u8()?;
                r.take(3)?;
                Self::Auth {
                    method,
                    data: r.rest().to_vec(),
                }
            }
            PayloadType::NONCE => {
                if !(16..=256).contains(&body.len()) {
                    return Err(WireError::Malformed("nonce length"));
                }
                Self::Nonce(body.to_vec())
            }
            PayloadType::NOTIFY => {
                let protocol = ProtocolId::from_u8(r.u8()?);
                let spi_size = r.u8()? as usize;
                let kind = NotifyType(r.u16()?);
                let spi = r.take(spi_size)?.to_vec();
                Self::Notify(Notify {
                    protocol,
                    spi,
                    kind,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::DELETE => {
                let protocol = ProtocolId::from_u8(r.u8()?);
                let spi_size = r.u8()?;
                let count = r.u16()?;
                let mut spis = Vec::new();
                match (protocol, spi_size) {
                    (ProtocolId::Ike, 0) if count == 0 => {}
                    (ProtocolId::Esp | ProtocolId::Ah, 4) => {
                        for _ in 0..count {
                            spis.push(r.u32()?);
                        }
                    }
                    _ => return Err(WireError::Malformed("delete payload")),
                }
                if r.remaining() != 0 {
                    return Err(WireError::BadLength);
                }
                Self::Delete(Delete { protocol, spis })
            }
            PayloadType::VENDOR_ID => Self::VendorId(body.to_vec()),
            PayloadType::TSI | PayloadType::TSR => {
                let count = r.u8()?;
                r.take(3)?;
                let mut ts = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    ts.push(TrafficSelector::parse(&mut r)?);
                }
                if r.remaining() != 0 || ts.is_empty() {
                    return Err(WireError::Malformed("traffic selector payload"));
                }
                if kind == PayloadType::TSI {
                    Self::TsI(ts)
                } else {
                    Self::TsR(ts)
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(p))
    }

    /// Appends the payload body (without the generic header) to `out`.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Sa(proposals) => Proposal::encode_all(proposals, out),
            Self::Ke { group, data } => {
                out.extend_from_slice(&group.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(data);
            }
            Self::IdI(id) | Self::IdR(id) => out.extend_from_slice(&id.body()),
            Self::Auth { method, data } => {
                out.extend_from_slice(&[*method, 0, 0, 0]);
                out.extend_from_slice(data);
            }
            Self::Nonce(d) | Self::VendorId(d) => out.extend_from_slice(d),
            Self::Notify(n) => {
                out.push(n.protocol.to_u8());
                out.push(n.spi.len() as u8);
                out.extend_from_slice(&n.kind.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Self::Delete(d) => {
                out.push(d.protocol.to_u8());
                out.push(if d.protocol == ProtocolId::Ike { 0 } else { 4 });
                out.extend_from_slice(&(d.spis.len() as u16).to_be_bytes());
                for spi in &d.spis {
                    out.extend_from_slice(&spi.to_be_bytes());
                }
            }
            Self::TsI(ts) | Self::TsR(ts) => {
                out.extend_from_slice(&[ts.len() as u8, 0, 0, 0]);
                for t in ts {
                    t.encode(out);
                }
            }
            Self::Encrypted { data, .. } => out.extend_from_slice(data),
        }
    }
}
