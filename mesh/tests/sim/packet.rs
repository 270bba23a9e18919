//! Inner IP packets for the TUN side of simulated nodes.

use std::net::IpAddr;

/// An IPv4 or IPv6 packet (protocol 17) from `src` to `dst` carrying `payload`.
pub fn ip_packet(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + payload.len();
            let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
            p[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(payload);
            p
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
            p[4..6].copy_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(payload);
            p
        }
        _ => panic!("mixed address families"),
    }
}

/// The payload of a packet built by [`ip_packet`].
pub fn payload(packet: &[u8]) -> &[u8] {
    if packet[0] >> 4 == 4 {
        &packet[20..]
    } else {
        &packet[40..]
    }
}
