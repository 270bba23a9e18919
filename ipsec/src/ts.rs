//! Traffic selectors (RFC 7296 section 3.13.1): their wire codec, conversion from the
//! CIDRs of network.kdl, narrowing (section 2.9) and matching inner packets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::wire::WireError;
use crate::wire::reader::Reader;

const TS_IPV4: u8 = 7;
const TS_IPV6: u8 = 8;

/// One traffic selector: an address range, an IP protocol (0 = any) and a port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrafficSelector {
    /// IP protocol number, 0 for any.
    pub ip_proto: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: IpAddr,
    /// Last address (same family as `start`).
    pub end: IpAddr,
}

impl TrafficSelector {
    /// All traffic between the addresses of `net`.
    pub fn from_net(net: IpNet) -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: net.network(),
            end: net.broadcast(),
        }
    }

    /// True for an IPv4 selector.
    pub fn is_v4(&self) -> bool {
        self.start.is_ipv4()
    }

    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ts_type = r.u8()?;
        let ip_proto = r.u8()?;
        let len = r.u16()?;
        let start_port = r.u16()?;
        let end_port = r.u16()?;
        let (start, end) = match (ts_type, len) {
            (TS_IPV4, 16) => {
                let s: [u8; 4] = r.take(4)?.try_into().map_err(|_| WireError::Truncated)?;
                let e: [u8; 4] = r.take(4)?.try_into().map_err(|_| WireError::Truncated)?;
                (
                    IpAddr::from(Ipv4Addr::from(s)),
                    IpAddr::from(Ipv4Addr::from(e)),
                )
            }
            (TS_IPV6, 40) => {
                let s: [u8; 16] = r.take(16)?.try_into().map_err(|_| WireError::Truncated)?;
                let e: [u8; 16] = r.take(16)?.try_into().map_err(|_| WireError::Truncated)?;
                (
                    IpAddr::from(Ipv6Addr::from(s)),
                    IpAddr::from(Ipv6Addr::from(e)),
                )
            }
            _ => return Err(WireError::Malformed("traffic selector type")),
        };
        Ok(Self {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let (kind, len): (u8, u16) = if self.is_v4() {
            (TS_IPV4, 16)
        } else {
            (TS_IPV6, 40)
        };
        out.extend_from_slice(&[kind, self.ip_proto]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.start_port.to_be_bytes());
        out.extend_from_slice(&self.end_port.to_be_bytes());
        for a in [self.start, self.end] {
            match a {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
    }

    /// The selector both `self` and `other` allow, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        if self.is_v4() != other.is_v4() {
            return None;
        }
        let ip_proto = match (self.ip_proto, other.ip_proto) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let out = Self {
            ip_proto,
            start_port: self.start_port.max(other.start_port),
            end_port: self.end_port.min(other.end_port),
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        };
        (out.start_port <= out.end_port && out.start <= out.end).then_some(out)
    }

    /// True if every packet `other` allows, `self` allows too.
    pub fn covers(&self, other: &Self) -> bool {
        self.intersect(other).as_ref() == Some(other)
    }

    /// True if an address is in the range.
    pub fn contains_addr(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.is_v4() && self.start <= a && a <= self.end
    }

    /// True if a packet with this protocol and port (if the protocol has ports) matches.
    fn matches_l4(&self, proto: u8, port: Option<u16>) -> bool {
        if self.ip_proto != 0 && self.ip_proto != proto {
            return false;
        }
        if self.start_port == 0 && self.end_port == u16::MAX {
            return true;
        }
        port.is_some_and(|p| self.start_port <= p && p <= self.end_port)
    }
}

/// Narrows `proposed` to what `allowed` permits (RFC 7296 section 2.9): every non-empty
/// pairwise intersection, without duplicates. Empty means TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for a in allowed {
            if let Some(i) = p.intersect(a)
                && !out.iter().any(|o| o.covers(&i))
            {
                out.retain(|o| !i.covers(o));
                out.push(i);
            }
        }
    }
    out
}

/// True if every selector in `chosen` lies inside some selector of `proposed`.
pub fn is_subset(chosen: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !chosen.is_empty() && chosen.iter().all(|c| proposed.iter().any(|p| p.covers(c)))
}

/// The addresses, protocol and ports of an inner IP packet, for selector matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketFlow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (next header after any IPv6 extension headers are not walked).
    pub proto: u8,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: Option<u16>,
    /// Destination port (TCP, UDP, SCTP).
    pub dst_port: Option<u16>,
}

impl PacketFlow {
    /// Reads the flow of an IPv4 or IPv6 packet; `None` if it is not one.
    pub fn of(packet: &[u8]) -> Option<Self> {
        let version = packet.first()? >> 4;
        let (src, dst, proto, l4) = match version {
            4 => {
                let ihl = ((packet[0] & 0x0f) as usize) * 4;
                if ihl < 20 || packet.len() < ihl {
                    return None;
                }
                let s: [u8; 4] = packet[12..16].try_into().ok()?;
                let d: [u8; 4] = packet[16..20].try_into().ok()?;
                let fragment_offset = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
                let l4 = if fragment_offset == 0 {
                    &packet[ihl..]
                } else {
                    &[][..]
                };
                (IpAddr::from(s), IpAddr::from(d), packet[9], l4)
            }
            6 => {
                if packet.len() < 40 {
                    return None;
                }
                let s: [u8; 16] = packet[8..24].try_into().ok()?;
                let d: [u8; 16] = packet[24..40].try_into().ok()?;
                (IpAddr::from(s), IpAddr::from(d), packet[6], &packet[40..])
            }
            _ => return None,
        };
        let has_ports = matches!(proto, 6 | 17 | 132) && l4.len() >= 4;
        let port = |i: usize| has_ports.then(|| u16::from_be_bytes([l4[i], l4[i + 1]]));
        Some(Self {
            src,
            dst,
            proto,
            src_port: port(0),
            dst_port: port(2),
        })
    }

    /// True if this flow, sent from `local` side selectors to `remote` ones, is allowed.
    pub fn matches(&self, src_ts: &[TrafficSelector], dst_ts: &[TrafficSelector]) -> bool {
        src_ts
            .iter()
            .any(|t| t.contains_addr(self.src) && t.matches_l4(self.proto, self.src_port))
            && dst_ts
                .iter()
                .any(|t| t.contains_addr(self.dst) && t.matches_l4(self.proto, self.dst_port))
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cidr = (0..=if self.is_v4() { 32 } else { 128 })
            .rev()
            .find_map(|len| {
                let n = IpNet::new(self.start, len).ok()?;
                (n.network() == self.start && n.broadcast() == self.end).then_some(n)
            });
        match cidr {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "{}..{}", self.start, self.end)?,
        }
        let any_port = self.start_port == 0 && self.end_port == u16::MAX;
        match (self.ip_proto, any_port) {
            (0, true) => Ok(()),
            (p, true) => write!(f, "[{p}]"),
            (p, false) if self.start_port == self.end_port => {
                write!(f, "[{p}/{}]", self.start_port)
            }
            (p, false) => write!(f, "[{p}/{}-{}]", self.start_port, self.end_port),
        }
    }
}
