//! The SA payload body (RFC 7296 section 3.3): proposals and their transforms.

use super::WireError;
use super::reader::Reader;

/// The protocol a proposal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolId {
    /// IKE (1).
    Ike,
    /// AH (2), parsed so it can be declined.
    Ah,
    /// ESP (3).
    Esp,
    /// Any other value.
    Other(u8),
}

impl ProtocolId {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Ike => 1,
            Self::Ah => 2,
            Self::Esp => 3,
            Self::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Ike,
            2 => Self::Ah,
            3 => Self::Esp,
            v => Self::Other(v),
        }
    }
}

/// Transform type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransformType(pub u8);

impl TransformType {
    /// Encryption algorithm (1).
    pub const ENCR: Self = Self(1);
    /// Pseudo-random function (2).
    pub const PRF: Self = Self(2);
    /// Integrity algorithm (3).
    pub const INTEG: Self = Self(3);
    /// Diffie-Hellman group (4).
    pub const DH: Self = Self(4);
    /// Extended sequence numbers (5).
    pub const ESN: Self = Self(5);
}

/// One transform of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type.
    pub kind: TransformType,
    /// Transform ID within its type.
    pub id: u16,
    /// The Key Length attribute in bits, if present.
    pub key_len: Option<u16>,
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1-based).
    pub num: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// Sender's SPI: empty in an initial IKE proposal, 8 bytes in an IKE rekey, 4 for ESP.
    pub spi: Vec<u8>,
    /// Transforms in order.
    pub transforms: Vec<Transform>,
}

const ATTR_KEY_LENGTH: u16 = 14;
const ATTR_TV: u16 = 0x8000;

impl Proposal {
    /// The transforms of one type.
    pub fn of_type(&self, kind: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.kind == kind)
    }

    /// Parses an SA payload body into proposals.
    pub(crate) fn parse_all(body: &[u8]) -> Result<Vec<Proposal>, WireError> {
        let mut r = Reader::new(body);
        let mut out = Vec::new();
        loop {
            let last = r.u8()?;
            r.u8()?;
            let len = r.u16()? as usize;
            if len < 8 {
                return Err(WireError::BadLength);
            }
            let mut p = Reader::new(r.take(len - 4).map_err(|_| WireError::BadLength)?);
            let num = p.u8()?;
            let protocol = ProtocolId::from_u8(p.u8()?);
            let spi_size = p.u8()? as usize;
            let count = p.u8()?;
            let spi = p.take(spi_size)?.to_vec();
            let mut transforms = Vec::with_capacity(count as usize);
            for i in 0..count {
                let t_last = p.u8()?;
                if (t_last == 0) != (i + 1 == count) || (t_last != 0 && t_last != 3) {
                    return Err(WireError::Malformed("transform chain"));
                }
                p.u8()?;
                let t_len = p.u16()? as usize;
                if t_len < 8 {
                    return Err(WireError::BadLength);
                }
                let mut t = Reader::new(p.take(t_len - 4).map_err(|_| WireError::BadLength)?);
                let kind = TransformType(t.u8()?);
                t.u8()?;
                let id = t.u16()?;
                let mut key_len = None;
                while t.remaining() > 0 {
                    let attr = t.u16()?;
                    if attr & ATTR_TV != 0 {
                        let value = t.u16()?;
                        if attr & !ATTR_TV == ATTR_KEY_LENGTH {
                            key_len = Some(value);
                        }
                    } else {
                        let l = t.u16()? as usize;
                        t.take(l)?;
                    }
                }
                transforms.push(Transform { kind, id, key_len });
            }
            if p.remaining() != 0 {
                return Err(WireError::BadLength);
            }
            out.push(Proposal {
                num,
                protocol,
                spi,
                transforms,
            });
            match last {
                0 if r.remaining() == 0 => return Ok(out),
                2 if r.remaining() > 0 => {}
                _ => return Err(WireError::Malformed("proposal chain")),
            }
        }
    }

    /// Appends an SA payload body holding `proposals`.
    pub(crate) fn encode_all(proposals: &[Proposal], out: &mut Vec<u8>) {
        for (i, p) in proposals.iter().enumerate() {
            let start = out.len();
            let last = if i + 1 == proposals.len() { 0 } else { 2 };
            out.extend_from_slice(&[last, 0, 0, 0, p.num, p.protocol.to_u8()]);
            out.push(p.spi.len() as u8);
            out.push(p.transforms.len() as u8);
            out.extend_from_slice(&p.spi);
            for (j, t) in p.transforms.iter().enumerate() {
                let last = if j + 1 == p.transforms.len() { 0 } else { 3 };
                let len: u16 = if t.key_len.is_some() { 12 } else { 8 };
                out.extend_from_slice(&[last, 0]);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[t.kind.0, 0]);
                out.extend_from_slice(&t.id.to_be_bytes());
                if let Some(k) = t.key_len {
                    out.extend_from_slice(&(ATTR_TV | ATTR_KEY_LENGTH).to_be_bytes());
                    out.extend_from_slice(&k.to_be_bytes());
                }
            }
            let len = (out.len() - start) as u16;
            out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
}
