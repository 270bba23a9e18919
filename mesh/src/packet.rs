//! A checked, borrowed view of one IP packet: version, addresses, protocol, lengths.
//!
//! The engine parses every packet once (from the TUN, and after decryption) and hands the view
//! to routing and to the [`crate::PacketFilter`]; nothing past the fixed IP header is trusted
//! here — transport headers are the filter's business.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Length of the fixed IPv4 header (no options).
const IPV4_MIN_HEADER: usize = 20;
/// Length of the fixed IPv6 header.
const IPV6_HEADER: usize = 40;

/// Why bytes are not an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Empty, or the version nibble is neither 4 nor 6.
    #[error("not an IPv4 or IPv6 packet")]
    Version,
    /// Shorter than its header, or its length fields disagree with the buffer.
    #[error("truncated or inconsistent IP packet")]
    Length,
}

/// One IPv4 or IPv6 packet whose header lengths have been checked.
#[derive(Debug, Clone, Copy)]
pub struct IpPacket<'a> {
    bytes: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    transport_offset: usize,
}

impl<'a> IpPacket<'a> {
    /// Parses `bytes` as exactly one IP packet; trailing bytes past the IP length are cut off.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PacketError> {
        match bytes.first().map(|b| b >> 4) {
            Some(4) => Self::parse_v4(bytes),
            Some(6) => Self::parse_v6(bytes),
            _ => Err(PacketError::Version),
        }
    }

    fn parse_v4(bytes: &'a [u8]) -> Result<Self, PacketError> {
        if bytes.len() < IPV4_MIN_HEADER {
            return Err(PacketError::Length);
        }
        let header_len = usize::from(bytes[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if header_len < IPV4_MIN_HEADER || total_len < header_len || total_len > bytes.len() {
            return Err(PacketError::Length);
        }
        let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
        let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
        Ok(Self {
            bytes: &bytes[..total_len],
            src: src.into(),
            dst: dst.into(),
            protocol: bytes[9],
            transport_offset: header_len,
        })
    }

    fn parse_v6(bytes: &'a [u8]) -> Result<Self, PacketError> {
        if bytes.len() < IPV6_HEADER {
            return Err(PacketError::Length);
        }
        let total_len = IPV6_HEADER + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if total_len > bytes.len() {
            return Err(PacketError::Length);
        }
        let octets = |at: usize| -> [u8; 16] {
            let mut out = [0u8; 16];
            out.copy_from_slice(&bytes[at..at + 16]);
            out
        };
        Ok(Self {
            bytes: &bytes[..total_len],
            src: Ipv6Addr::from(octets(8)).into(),
            dst: Ipv6Addr::from(octets(24)).into(),
            protocol: bytes[6],
            transport_offset: IPV6_HEADER,
        })
    }

    /// The whole packet (cut to the length its header states).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// IPv4 protocol or IPv6 next-header number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// Offset of the transport header (IPv6 extension headers are not followed).
    pub fn transport_offset(&self) -> usize {
        self.transport_offset
    }

    /// The bytes after the IP header (transport header and payload).
    pub fn transport(&self) -> &'a [u8] {
        &self.bytes[self.transport_offset..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 10.0.0.1 -> 10.0.0.2, protocol 17, payload "hi".
    const V4: [u8; 22] = [
        0x45, 0, 0, 22, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, b'h', b'i',
    ];

    #[test]
    fn parses_v4_and_v6_and_cuts_trailing_bytes() {
        let mut v4 = V4.to_vec();
        v4.extend_from_slice(b"junk");
        let p = IpPacket::parse(&v4).unwrap();
        assert_eq!(p.src(), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.dst(), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(p.bytes().len(), 22);
        assert_eq!(p.transport(), b"hi");
        let mut v6 = vec![0x60, 0, 0, 0, 0, 1, 17, 64];
        v6.extend_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        v6.push(b'x');
        let p = IpPacket::parse(&v6).unwrap();
        assert_eq!(p.dst(), "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(p.protocol(), 17);
    }

    #[test]
    fn rejects_short_and_inconsistent_packets() {
        assert_eq!(IpPacket::parse(&[]).unwrap_err(), PacketError::Version);
        assert_eq!(
            IpPacket::parse(&[0x45; 10]).unwrap_err(),
            PacketError::Length
        );
        let mut v4 = V4.to_vec();
        v4[2] = 0xff; // claims more bytes than there are
        assert_eq!(IpPacket::parse(&v4).unwrap_err(), PacketError::Length);
        v4[2] = 0;
        v4[0] = 0x44; // header length 16 < 20
        assert_eq!(IpPacket::parse(&v4).unwrap_err(), PacketError::Length);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = IpPacket::parse(&bytes) {
                prop_assert!(p.bytes().len() <= bytes.len());
                prop_assert!(p.transport_offset() <= p.bytes().len());
            }
        }
    }
}
