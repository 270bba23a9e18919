//! Fast failure for denied connections: ICMP "communication administratively prohibited"
//! (type 3 code 13) or ICMPv6 "administratively prohibited" (type 1 code 1) answering a packet,
//! from its destination to its source, quoting as much of it as RFC 1812 / RFC 4443 allow.
//! A token bucket in virtual time bounds how many are sent.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::packet::IpPacket;

/// An ICMPv4 error stays within 576 bytes (RFC 1812 4.3.2.3).
const V4_MAX: usize = 576;
/// An ICMPv6 error stays within the minimum MTU (RFC 4443 2.4).
const V6_MAX: usize = 1280;

/// The prohibited message answering `packet`, or `None` for an address pair it cannot answer.
pub(crate) fn prohibited(packet: &IpPacket<'_>) -> Option<Vec<u8>> {
    let original = packet.bytes();
    match (packet.src(), packet.dst()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let quote = &original[..original.len().min(V4_MAX - 28)];
            let total = 28 + quote.len();
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0]);
            out[2..4].copy_from_slice(&u16::try_from(total).ok()?.to_be_bytes());
            out.extend_from_slice(&dst.octets());
            out.extend_from_slice(&src.octets());
            let header_sum = checksum(&[&out[..20]]);
            out[10..12].copy_from_slice(&header_sum.to_be_bytes());
            out.extend_from_slice(&[3, 13, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(quote);
            let icmp_sum = checksum(&[&out[20..]]);
            out[22..24].copy_from_slice(&icmp_sum.to_be_bytes());
            Some(out)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let quote = &original[..original.len().min(V6_MAX - 48)];
            let payload = 8 + quote.len();
            let payload_len = u16::try_from(payload).ok()?;
            let mut out = Vec::with_capacity(40 + payload);
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&payload_len.to_be_bytes());
            out.extend_from_slice(&[58, 64]);
            out.extend_from_slice(&dst.octets());
            out.extend_from_slice(&src.octets());
            out.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(quote);
            let pseudo_len = u32::from(payload_len).to_be_bytes();
            let sum = checksum(&[&out[8..40], &pseudo_len, &[0, 0, 0, 58], &out[40..]]);
            out[42..44].copy_from_slice(&sum.to_be_bytes());
            Some(out)
        }
        _ => None,
    }
}

/// The Internet checksum (RFC 1071) of the concatenated parts (each of even length but the
/// last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// A token bucket: `rate` tokens per second, holding at most `rate`.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    rate: u32,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    /// A full bucket of `rate` per second.
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            rate,
            tokens: f64::from(rate),
            last: None,
        }
    }

    /// Takes a token at `now` if one is left.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last = Some(now);
        let cap = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * cap).min(cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::headers::tests::{tcp, v4, v6};
    use crate::firewall::headers::{Kind, Parsed, SYN, TCP, parse};

    #[test]
    fn v4_reply_is_a_valid_icmp_error_quoting_the_packet() {
        let syn = v4("100.64.0.1", "100.64.0.2", TCP, &tcp(40000, 22, SYN));
        let ip = IpPacket::parse(&syn).unwrap();
        let reply = prohibited(&ip).unwrap();
        assert_eq!(checksum(&[&reply[..20]]), 0, "IPv4 header checksum");
        assert_eq!(checksum(&[&reply[20..]]), 0, "ICMP checksum");
        assert_eq!((reply[20], reply[21]), (3, 13));
        assert_eq!(&reply[28..], &syn[..]);
        // It reads back as an error about the SYN's flow, sent to the SYN's sender.
        let back = IpPacket::parse(&reply).unwrap();
        assert_eq!(back.dst(), ip.src());
        let Ok(Parsed::Whole(h)) = parse(&back) else {
            panic!("unparsable reply")
        };
        assert!(matches!(h.kind, Kind::IcmpError(t) if t.sport == 40000 && t.dport == 22));
    }

    #[test]
    fn v6_reply_checksum_covers_the_pseudo_header_and_quotes_are_bounded() {
        let big = v6(
            "fd00::1",
            "fd00::2",
            TCP,
            &[tcp(1, 2, SYN), vec![0; 3000]].concat(),
        );
        let ip = IpPacket::parse(&big).unwrap();
        let reply = prohibited(&ip).unwrap();
        assert_eq!(reply.len(), V6_MAX);
        let len = u32::try_from(reply.len() - 40).unwrap().to_be_bytes();
        assert_eq!(
            checksum(&[&reply[8..40], &len, &[0, 0, 0, 58], &reply[40..]]),
            0
        );
        assert_eq!((reply[40], reply[41]), (1, 1));
        let big4 = v4(
            "100.64.0.1",
            "100.64.0.2",
            TCP,
            &[tcp(1, 2, SYN), vec![0; 3000]].concat(),
        );
        assert_eq!(
            prohibited(&IpPacket::parse(&big4).unwrap()).unwrap().len(),
            V4_MAX
        );
    }

    #[test]
    fn the_bucket_refills_with_virtual_time() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10);
        assert_eq!((0..20).filter(|_| limit.take(t0)).count(), 10);
        assert!(!limit.take(t0 + Duration::from_millis(50)));
        assert!(limit.take(t0 + Duration::from_millis(150)));
        assert_eq!(
            (0..20)
                .filter(|_| limit.take(t0 + Duration::from_secs(5)))
                .count(),
            10
        );
    }
}
