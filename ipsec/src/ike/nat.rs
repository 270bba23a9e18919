//! NAT traversal helpers (RFC 7296 section 2.23, RFC 3948): NAT detection hashes, the
//! non-ESP marker that precedes IKE on the NAT-T port, the NAT keepalive, and stateless
//! cookies (RFC 7296 section 2.6).

use std::net::{IpAddr, SocketAddr};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The four zero bytes that mark IKE on the NAT-T port.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// A NAT keepalive datagram (RFC 3948 section 2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// SHA-1(SPIi | SPIr | IP | port), the NAT_DETECTION_*_IP notify data.
pub fn natd_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(addr.port().to_be_bytes());
    h.finalize().to_vec()
}

/// Length of a cookie: a one-byte secret version and a SHA-256 hash.
pub const COOKIE_LEN: usize = 33;

/// Cookie = <version> | SHA-256(Ni | IPi | SPIi | secret) (RFC 7296 section 2.6).
pub fn cookie(version: u8, secret: &[u8; 32], ni: &[u8], remote: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(ni);
    match remote {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(spi_i.to_be_bytes());
    h.update(secret);
    let mut out = Vec::with_capacity(COOKIE_LEN);
    out.push(version);
    out.extend_from_slice(&h.finalize());
    out
}
