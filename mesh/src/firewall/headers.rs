//! What the firewall reads past the IP header: IPv6 extension headers, fragments, and the
//! transport header (TCP ports and flags, UDP ports, ICMP and ICMPv6 type, echo identifier, and
//! the packet quoted inside an ICMP error). Every length is checked; anything short, looping
//! or inconsistent is a [`HeaderError`] and the packet is dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packet::IpPacket;

/// IP protocol numbers the firewall tells apart.
pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const ICMP: u8 = 1;
pub(crate) const ICMPV6: u8 = 58;

/// TCP flag bits.
pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;

/// At most this many IPv6 extension headers are followed.
const MAX_EXTENSIONS: usize = 8;

/// Why a packet's headers cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The transport header (or an extension header) is cut short.
    Truncated,
    /// Too many or malformed IPv6 extension headers.
    Extensions,
    /// A later fragment that would overwrite the transport header (RFC 1858).
    FragmentOverlap,
}

/// The five-tuple of a packet; ICMP echo uses its identifier as both ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    /// Upper-layer protocol.
    pub proto: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (echo identifier for ICMP echo, 0 without ports).
    pub sport: u16,
    /// Destination port (echo identifier for ICMP echo, 0 without ports).
    pub dport: u16,
}

/// What kind of transport packet it is, as far as state tracking cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// TCP with these flags.
    Tcp(u8),
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 echo request.
    EchoRequest,
    /// ICMP or ICMPv6 echo reply.
    EchoReply,
    /// An ICMP error quoting the start of this packet.
    IcmpError(Tuple),
    /// Any other ICMP message (or an error whose quote cannot be read).
    IcmpOther,
    /// Another IP protocol.
    Other,
}

/// Identifies the fragments of one original packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragmentKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 protocol (0 for IPv6, whose identification is unique per address pair).
    pub proto: u8,
    /// Identification.
    pub id: u32,
}

/// A packet's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Headers {
    /// Its five-tuple.
    pub tuple: Tuple,
    /// Its kind.
    pub kind: Kind,
    /// For the first fragment of a fragmented packet: its identification.
    pub first_fragment: Option<u32>,
}

impl Headers {
    /// For the first fragment of a fragmented packet: the key of the fragments that follow.
    pub(crate) fn fragment_key(&self) -> Option<FragmentKey> {
        let t = &self.tuple;
        self.first_fragment.map(|id| FragmentKey {
            src: t.src,
            dst: t.dst,
            proto: if t.src.is_ipv4() { t.proto } else { 0 },
            id,
        })
    }
}

/// A parsed packet: whole (or a first fragment, which carries the transport header), or a
/// later fragment, which does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Transport headers are present.
    Whole(Headers),
    /// A fragment at a non-zero offset; `last` when no more fragments follow it.
    Later {
        /// Its original packet.
        key: FragmentKey,
        /// No more fragments follow.
        last: bool,
    },
}

/// Reads a packet's headers.
#[inline]
pub(crate) fn parse(ip: &IpPacket<'_>) -> Result<Parsed, HeaderError> {
    let bytes = ip.bytes();
    let (proto, offset, fragment) = match (ip.src(), ip.dst()) {
        (IpAddr::V4(_), _) => {
            let frag = u16::from_be_bytes([bytes[6], bytes[7]]);
            let more = frag & 0x2000 != 0;
            let at = usize::from(frag & 0x1fff) * 8;
            let fragment = (more || at > 0).then(|| {
                let key = FragmentKey {
                    src: ip.src(),
                    dst: ip.dst(),
                    proto: ip.protocol(),
                    id: u32::from(u16::from_be_bytes([bytes[4], bytes[5]])),
                };
                (key, at, more)
            });
            (ip.protocol(), ip.transport_offset(), fragment)
        }
        (IpAddr::V6(_), _) => v6_chain(ip)?,
    };
    if let Some((key, at, more)) = fragment
        && at > 0
    {
        if at < min_header(proto) {
            return Err(HeaderError::FragmentOverlap);
        }
        return Ok(Parsed::Later { key, last: !more });
    }
    let transport = &bytes[offset..];
    let (kind, sport, dport) = transport_kind(proto, transport, ip.src(), ip.dst())?;
    Ok(Parsed::Whole(Headers {
        tuple: Tuple {
            proto,
            src: ip.src(),
            dst: ip.dst(),
            sport,
            dport,
        },
        kind,
        first_fragment: fragment.map(|(key, _, _)| key.id),
    }))
}

/// The smallest transport header the firewall needs whole in a first fragment.
fn min_header(proto: u8) -> usize {
    match proto {
        TCP => 20,
        UDP | ICMP | ICMPV6 => 8,
        _ => 0,
    }
}

/// Follows IPv6 extension headers to the upper-layer protocol: its number, offset, and the
/// fragment header's facts (key, byte offset, more fragments) if there is one.
type V6Chain = (u8, usize, Option<(FragmentKey, usize, bool)>);

fn v6_chain(ip: &IpPacket<'_>) -> Result<V6Chain, HeaderError> {
    let bytes = ip.bytes();
    let mut next = ip.protocol();
    let mut at = ip.transport_offset();
    let mut fragment = None;
    for _ in 0..MAX_EXTENSIONS {
        match next {
            // Hop-by-hop, routing, destination options, and the rarer ones of the same shape.
            0 | 43 | 60 | 135 | 139 | 140 | 253 | 254 => {
                let h = bytes.get(at..at + 8).ok_or(HeaderError::Truncated)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            // Authentication header: length in 4-octet units, minus 2.
            51 => {
                let h = bytes.get(at..at + 8).ok_or(HeaderError::Truncated)?;
                next = h[0];
                at += (usize::from(h[1]) + 2) * 4;
            }
            44 => {
                if fragment.is_some() {
                    return Err(HeaderError::Extensions);
                }
                let h = bytes.get(at..at + 8).ok_or(HeaderError::Truncated)?;
                next = h[0];
                let off = u16::from_be_bytes([h[2], h[3]]);
                let key = FragmentKey {
                    src: ip.src(),
                    dst: ip.dst(),
                    proto: 0,
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                };
                let more = off & 1 != 0;
                let byte_offset = usize::from(off >> 3) * 8;
                // An atomic fragment (offset 0, no more) is a whole packet (RFC 6946).
                if more || byte_offset > 0 {
                    fragment = Some((key, byte_offset, more));
                }
                at += 8;
                if byte_offset > 0 {
                    // Later fragments carry no upper-layer header to follow.
                    return Ok((next, at, fragment));
                }
            }
            _ => {
                if at > bytes.len() {
                    return Err(HeaderError::Truncated);
                }
                return Ok((next, at, fragment));
            }
        }
    }
    Err(HeaderError::Extensions)
}

/// The kind and ports of a transport header.
#[inline]
fn transport_kind(
    proto: u8,
    t: &[u8],
    src: IpAddr,
    dst: IpAddr,
) -> Result<(Kind, u16, u16), HeaderError> {
    let need = min_header(proto);
    if t.len() < need {
        return Err(HeaderError::Truncated);
    }
    let ports = || {
        (
            u16::from_be_bytes([t[0], t[1]]),
            u16::from_be_bytes([t[2], t[3]]),
        )
    };
    Ok(match proto {
        TCP => {
            let (s, d) = ports();
            (Kind::Tcp(t[13]), s, d)
        }
        UDP => {
            let (s, d) = ports();
            (Kind::Udp, s, d)
        }
        ICMP | ICMPV6 => {
            let id = u16::from_be_bytes([t[4], t[5]]);
            let (request, reply, errors): (u8, u8, &[u8]) = if proto == ICMP {
                (8, 0, &[3, 4, 5, 11, 12])
            } else {
                (128, 129, &[1, 2, 3, 4])
            };
            let icmp_type = t[0];
            if icmp_type == request {
                (Kind::EchoRequest, id, id)
            } else if icmp_type == reply {
                (Kind::EchoReply, id, id)
            } else if errors.contains(&icmp_type) {
                let kind = quoted(&t[8..], src.is_ipv4())
                    .filter(|inner| inner.src == dst)
                    .map_or(Kind::IcmpOther, Kind::IcmpError);
                (kind, 0, 0)
            } else {
                (Kind::IcmpOther, 0, 0)
            }
        }
        _ => (Kind::Other, 0, 0),
    })
}

/// The five-tuple of the packet an ICMP error quotes, when enough of it is there (its IP
/// header and 8 bytes of transport header) and it is not itself a later fragment.
fn quoted(q: &[u8], v4: bool) -> Option<Tuple> {
    let (proto, src, dst, rest) = if v4 {
        if q.first()? >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(q[0] & 0x0f) * 4;
        if ihl < 20 || q.len() < ihl + 8 || u16::from_be_bytes([q[6], q[7]]) & 0x1fff != 0 {
            return None;
        }
        let a = |i: usize| IpAddr::V4(Ipv4Addr::new(q[i], q[i + 1], q[i + 2], q[i + 3]));
        (q[9], a(12), a(16), &q[ihl..])
    } else {
        if q.len() < 48 || q[0] >> 4 != 6 {
            return None;
        }
        let a = |i: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&q[i..i + 16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        (q[6], a(8), a(24), &q[40..])
    };
    let (sport, dport) = match proto {
        TCP | UDP => (
            u16::from_be_bytes([rest[0], rest[1]]),
            u16::from_be_bytes([rest[2], rest[3]]),
        ),
        ICMP | ICMPV6 if rest[0] == 8 || rest[0] == 128 => {
            let id = u16::from_be_bytes([rest[4], rest[5]]);
            (id, id)
        }
        _ => return None,
    };
    Some(Tuple {
        proto,
        src,
        dst,
        sport,
        dport,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    //! Packet builders shared by the firewall's tests and this parser's own.
    use super::*;
    use proptest::prelude::*;

    /// An IPv4 packet with this protocol and transport bytes.
    pub fn v4(src: &str, dst: &str, proto: u8, transport: &[u8]) -> Vec<u8> {
        let total = 20 + transport.len();
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
        p[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
        p.extend_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
        p.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        p.extend_from_slice(transport);
        p
    }

    /// An IPv6 packet with this next header and payload.
    pub fn v6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(payload);
        p
    }

    /// A 20-byte TCP header with these ports and flags.
    pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        t
    }

    /// An 8-byte UDP header with these ports and a payload.
    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut t = sport.to_be_bytes().to_vec();
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(payload);
        t
    }

    /// An ICMP message: type, code, then the 4-byte rest of header, then data.
    pub fn icmp(icmp_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut t = vec![icmp_type, code, 0, 0];
        t.extend_from_slice(&rest);
        t.extend_from_slice(data);
        t
    }

    fn parse_bytes(bytes: &[u8]) -> Result<Parsed, HeaderError> {
        parse(&IpPacket::parse(bytes).unwrap())
    }

    fn whole(bytes: &[u8]) -> Headers {
        match parse_bytes(bytes) {
            Ok(Parsed::Whole(h)) => h,
            other => panic!("not whole: {other:?}"),
        }
    }

    #[test]
    fn reads_tcp_udp_and_echo() {
        let h = whole(&v4("100.64.0.1", "100.64.0.2", TCP, &tcp(4000, 22, SYN)));
        assert_eq!(
            (h.tuple.sport, h.tuple.dport, h.kind),
            (4000, 22, Kind::Tcp(SYN))
        );
        let h = whole(&v6("fd00::1", "fd00::2", UDP, &udp(53, 5353, b"x")));
        assert_eq!(
            (h.tuple.sport, h.tuple.dport, h.kind),
            (53, 5353, Kind::Udp)
        );
        let h = whole(&v4(
            "100.64.0.1",
            "100.64.0.2",
            ICMP,
            &icmp(8, 0, [0, 7, 0, 1], b""),
        ));
        assert_eq!((h.tuple.sport, h.kind), (7, Kind::EchoRequest));
        let h = whole(&v6(
            "fd00::1",
            "fd00::2",
            ICMPV6,
            &icmp(129, 0, [0, 9, 0, 1], b""),
        ));
        assert_eq!((h.tuple.dport, h.kind), (9, Kind::EchoReply));
        let h = whole(&v4("100.64.0.1", "100.64.0.2", 47, &[0; 4]));
        assert_eq!(h.kind, Kind::Other);
    }

    #[test]
    fn icmp_errors_quote_the_original_packet_sent_by_their_destination() {
        let original = v4("100.64.0.2", "100.64.0.9", UDP, &udp(5000, 53, b""));
        let error = v4(
            "100.64.0.9",
            "100.64.0.2",
            ICMP,
            &icmp(3, 3, [0; 4], &original),
        );
        let h = whole(&error);
        let Kind::IcmpError(inner) = h.kind else {
            panic!("not an error: {:?}", h.kind)
        };
        assert_eq!((inner.proto, inner.sport, inner.dport), (UDP, 5000, 53));
        // Quoting a packet its destination did not send: not related to anything.
        let spoofed = v4(
            "100.64.0.9",
            "100.64.0.7",
            ICMP,
            &icmp(3, 3, [0; 4], &original),
        );
        assert_eq!(whole(&spoofed).kind, Kind::IcmpOther);
        let original6 = v6("fd00::2", "fd00::9", TCP, &tcp(1, 2, SYN));
        let error6 = v6(
            "fd00::9",
            "fd00::2",
            ICMPV6,
            &icmp(1, 4, [0; 4], &original6),
        );
        assert!(matches!(whole(&error6).kind, Kind::IcmpError(t) if t.dport == 2));
    }

    #[test]
    fn fragments_and_extension_headers() {
        let mut first = v4("100.64.0.1", "100.64.0.2", UDP, &udp(1, 2, &[0; 16]));
        first[6] = 0x20; // more fragments, offset 0
        let h = whole(&first);
        assert!(h.first_fragment.is_some());
        let mut later = v4("100.64.0.1", "100.64.0.2", UDP, &[0; 16]);
        later[7] = 3; // offset 24 bytes, last
        assert!(matches!(
            parse_bytes(&later),
            Ok(Parsed::Later { last: true, .. })
        ));
        let mut overlap = v4("100.64.0.1", "100.64.0.2", TCP, &[0; 16]);
        overlap[7] = 1; // offset 8 bytes: inside the TCP header
        assert_eq!(parse_bytes(&overlap), Err(HeaderError::FragmentOverlap));
        // IPv6: hop-by-hop, then a first fragment header, then TCP.
        let mut payload = vec![44, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop -> fragment
        payload.extend_from_slice(&[TCP, 0, 0, 1, 0, 0, 0, 42]); // offset 0, more, id 42
        payload.extend_from_slice(&tcp(9, 80, SYN));
        let h = whole(&v6("fd00::1", "fd00::2", 0, &payload));
        assert_eq!((h.tuple.proto, h.tuple.dport), (TCP, 80));
        assert_eq!(h.fragment_key().map(|k| (k.id, k.proto)), Some((42, 0)));
        // Truncated TCP and a chain of extension headers that never ends.
        assert_eq!(
            parse_bytes(&v4("100.64.0.1", "100.64.0.2", TCP, &[0; 10])),
            Err(HeaderError::Truncated)
        );
        let looping = [60u8, 0, 0, 0, 0, 0, 0, 0].repeat(10);
        assert_eq!(
            parse_bytes(&v6("fd00::1", "fd00::2", 60, &looping)),
            Err(HeaderError::Extensions)
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_any_payload(
            proto in prop::sample::select(vec![TCP, UDP, ICMP, ICMPV6, 0, 43, 44, 51, 60, 47]),
            payload in prop::collection::vec(any::<u8>(), 0..120),
            frag in any::<u16>(),
            v6_packet in any::<bool>(),
        ) {
            let mut bytes = if v6_packet {
                v6("fd00::1", "fd00::2", proto, &payload)
            } else {
                v4("100.64.0.1", "100.64.0.2", proto, &payload)
            };
            if !v6_packet {
                bytes[6..8].copy_from_slice(&frag.to_be_bytes());
            }
            let _ = parse_bytes(&bytes);
        }
    }
}
