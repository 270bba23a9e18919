//! IP packets as an application would write them to a TUN device, for tests that drive a
//! daemon's data plane in memory.

use std::net::Ipv4Addr;

/// An ICMP echo request (id 1, sequence 1, no payload) from `src` to `dst`, with both
/// checksums set.
pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut packet = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0];
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    let ip = checksum(&packet[..20]).to_be_bytes();
    packet[10..12].copy_from_slice(&ip);
    let icmp = checksum(&packet[20..]).to_be_bytes();
    packet[22..24].copy_from_slice(&icmp);
    packet
}

/// The Internet checksum (RFC 1071) of `bytes` (an even number of them).
fn checksum(bytes: &[u8]) -> u16 {
    let sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    !u16::try_from((folded & 0xffff) + (folded >> 16)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checks_out() {
        let p = echo_request(Ipv4Addr::new(100, 64, 0, 1), Ipv4Addr::new(100, 64, 0, 2));
        assert_eq!(p.len(), 28);
        assert_eq!(
            checksum(&p[..20]),
            0,
            "the IP header sums to zero with its checksum"
        );
        assert_eq!(checksum(&p[20..]), 0, "so does the ICMP message");
        assert_eq!(&p[16..20], &[100, 64, 0, 2]);
    }
}
