//! IKEv2 wire format (RFC 7296 section 3): the message header, the payload chain and the
//! errors a malformed datagram produces. Every parser is bounds-checked and never panics;
//! every type here round-trips through `encode`/`parse`.

mod notify;
mod payload;
pub(crate) mod reader;
mod sa;

pub use notify::NotifyType;
pub use payload::{Delete, IdType, Identification, Notify, Payload, PayloadType};
pub use sa::{Proposal, ProtocolId, Transform, TransformType};

use reader::Reader;

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;
/// Length of a generic payload header.
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// The largest IKE message we accept or build.
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Why bytes could not be read as an IKE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended inside a field.
    #[error("truncated")]
    Truncated,
    /// A length field disagrees with the bytes present.
    #[error("bad length field")]
    BadLength,
    /// The major version is not 2.
    #[error("unsupported IKE major version {0}")]
    BadMajorVersion(u8),
    /// A payload we do not know has the critical bit set.
    #[error("unsupported critical payload type {0}")]
    UnsupportedCritical(u8),
    /// A field holds a value the RFC forbids.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// An IKE exchange type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    /// IKE_SA_INIT (34).
    IkeSaInit,
    /// IKE_AUTH (35).
    IkeAuth,
    /// CREATE_CHILD_SA (36).
    CreateChildSa,
    /// INFORMATIONAL (37).
    Informational,
    /// Any other value, kept so it can be rejected with a reason.
    Other(u8),
}

impl ExchangeType {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::IkeSaInit => 34,
            Self::IkeAuth => 35,
            Self::CreateChildSa => 36,
            Self::Informational => 37,
            Self::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            34 => Self::IkeSaInit,
            35 => Self::IkeAuth,
            36 => Self::CreateChildSa,
            37 => Self::Informational,
            v => Self::Other(v),
        }
    }
}

/// Header flag: sent by the original initiator of the IKE SA.
pub const FLAG_INITIATOR: u8 = 0x08;
/// Header flag: this message is a response.
pub const FLAG_RESPONSE: u8 = 0x20;

/// The fixed IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: u8,
    /// Major and minor version (0x20 for IKEv2).
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags (`FLAG_INITIATOR`, `FLAG_RESPONSE`).
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
    /// Total message length, header included.
    pub length: u32,
}

impl Header {
    /// True if the response flag is set.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }

    /// True if the sender is the original initiator of the IKE SA.
    pub fn is_initiator(&self) -> bool {
        self.flags & FLAG_INITIATOR != 0
    }

    /// Parses the header and checks the length field against `bytes`; the major version is
    /// checked separately so a caller can answer INVALID_MAJOR_VERSION.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let h = Header {
            spi_i: r.u64()?,
            spi_r: r.u64()?,
            next_payload: r.u8()?,
            version: r.u8()?,
            exchange: ExchangeType::from_u8(r.u8()?),
            flags: r.u8()?,
            message_id: r.u32()?,
            length: r.u32()?,
        };
        if h.length as usize != bytes.len() || (h.length as usize) < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        Ok(h)
    }

    /// Checks that this is IKEv2 (major version 2).
    pub fn check_version(&self) -> Result<(), WireError> {
        match self.version >> 4 {
            2 => Ok(()),
            v => Err(WireError::BadMajorVersion(v)),
        }
    }

    /// Appends the 28-byte header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload);
        out.push(self.version);
        out.push(self.exchange.to_u8());
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// A parsed IKE message: header and payloads (an SK payload stays encrypted here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header; `next_payload` and `length` are recomputed by `encode`.
    pub header: Header,
    /// Payloads in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole datagram (without the non-ESP marker).
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let header = Header::parse(bytes)?;
        header.check_version()?;
        let payloads = parse_payloads(header.next_payload, &bytes[HEADER_LEN..])?;
        Ok(Self { header, payloads })
    }

    /// Serializes the message, filling in `next_payload` and `length`.
    pub fn encode(&self) -> Vec<u8> {
        let (first, body) = encode_payloads(&self.payloads);
        let mut header = self.header;
        header.next_payload = first;
        header.length = (HEADER_LEN + body.len()) as u32;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        header.encode(&mut out);
        out.extend_from_slice(&body);
        out
    }

    /// The first notify of this type, if any.
    pub fn notify(&self, kind: NotifyType) -> Option<&Notify> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind == kind => Some(n),
            _ => None,
        })
    }
}

/// Parses a payload chain starting with type `first`. An SK payload must be last; its
/// `next payload` field names the first payload inside it.
pub fn parse_payloads(first: u8, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut r = Reader::new(bytes);
    let mut next = first;
    let mut out = Vec::new();
    while next != 0 {
        let kind = next;
        next = r.u8()?;
        let critical = r.u8()? & 0x80 != 0;
        let len = r.u16()? as usize;
        if len < PAYLOAD_HEADER_LEN {
            return Err(WireError::BadLength);
        }
        let body = r
            .take(len - PAYLOAD_HEADER_LEN)
            .map_err(|_| WireError::BadLength)?;
        if kind == PayloadType::SK {
            if r.remaining() != 0 {
                return Err(WireError::Malformed("SK payload is not last"));
            }
            out.push(Payload::Encrypted {
                first: next,
                data: body.to_vec(),
            });
            return Ok(out);
        }
        match Payload::parse_body(kind, body)? {
            Some(p) => out.push(p),
            None if critical => return Err(WireError::UnsupportedCritical(kind)),
            None => {}
        }
    }
    if r.remaining() != 0 {
        return Err(WireError::BadLength);
    }
    Ok(out)
}

/// Serializes a payload chain; returns the type of the first payload and the bytes.
/// An `Encrypted` payload, if present, must be last.
pub fn encode_payloads(payloads: &[Payload]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = match (p, payloads.get(i + 1)) {
            (Payload::Encrypted { first, .. }, _) => *first,
            (_, Some(n)) => n.kind(),
            (_, None) => 0,
        };
        let start = out.len();
        out.extend_from_slice(&[next, 0, 0, 0]);
        p.encode_body(&mut out);
        let len = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    (payloads.first().map_or(0, Payload::kind), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            spi_i: 1,
            spi_r: 0,
            next_payload: 0,
            version: 0x20,
            exchange: ExchangeType::IkeSaInit,
            flags: FLAG_INITIATOR,
            message_id: 0,
            length: 0,
        }
    }

    /// A message whose first payload is an unknown type 200 with the given critical bit,
    /// followed by a Nonce.
    fn with_unknown(critical: bool) -> Vec<u8> {
        let mut m = Message {
            header: header(),
            payloads: vec![Payload::Nonce(vec![7; 16])],
        }
        .encode();
        let unknown = [
            PayloadType::NONCE,
            if critical { 0x80 } else { 0 },
            0,
            8,
            1,
            2,
            3,
            4,
        ];
        m[16] = 200;
        m.splice(HEADER_LEN..HEADER_LEN, unknown);
        let len = m.len() as u32;
        m[24..28].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn unknown_payloads_are_skipped_unless_critical() {
        let m = Message::parse(&with_unknown(false)).unwrap();
        assert_eq!(m.payloads, vec![Payload::Nonce(vec![7; 16])]);
        assert_eq!(
            Message::parse(&with_unknown(true)),
            Err(WireError::UnsupportedCritical(200))
        );
    }

    #[test]
    fn header_checks_length_and_version() {
        let mut m = Message {
            header: header(),
            payloads: vec![],
        }
        .encode();
        assert!(Message::parse(&m).is_ok());
        m[17] = 0x30;
        assert_eq!(Message::parse(&m), Err(WireError::BadMajorVersion(3)));
        m[17] = 0x20;
        m.push(0);
        assert_eq!(Header::parse(&m), Err(WireError::BadLength));
        assert_eq!(Header::parse(&m[..27]), Err(WireError::Truncated));
    }

    #[test]
    fn sk_must_be_the_last_payload() {
        let payloads = vec![Payload::Encrypted {
            first: PayloadType::NONCE,
            data: vec![0; 20],
        }];
        let mut m = Message {
            header: header(),
            payloads,
        }
        .encode();
        m.extend_from_slice(&[0, 0, 0, 4]);
        let len = m.len() as u32;
        m[24..28].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Message::parse(&m),
            Err(WireError::Malformed("SK payload is not last"))
        );
    }
}
