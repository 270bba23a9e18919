//! IP forwarding for subnet routers. A node whose `routes` advertise prefixes carries packets
//! between the mesh and those prefixes, which the kernel does only with forwarding on; cvland
//! turns it on for the families its routes need (and never off: other services on the host
//! may rely on it).

use std::net::IpAddr;

use cvlan_core::netmap::Peer;
use ipnet::IpNet;

/// The sysctl that enables IPv4 forwarding.
const IPV4: &str = "/proc/sys/net/ipv4/ip_forward";
/// The sysctl that enables IPv6 forwarding on every interface.
const IPV6: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// The prefixes `node` routes for others: its allowed IPs other than its own addresses.
pub fn advertised(node: &Peer) -> Vec<IpNet> {
    node.allowed_ips
        .iter()
        .filter(|net| {
            !(net.prefix_len() == net.max_prefix_len() && node.addresses.contains(&net.addr()))
        })
        .copied()
        .collect()
}

/// The sysctl files that must read `1` for `routes` to be forwarded.
pub fn sysctls_for(routes: &[IpNet]) -> Vec<&'static str> {
    let mut files = Vec::new();
    if routes.iter().any(|r| matches!(r.addr(), IpAddr::V4(_))) {
        files.push(IPV4);
    }
    if routes.iter().any(|r| matches!(r.addr(), IpAddr::V6(_))) {
        files.push(IPV6);
    }
    files
}

/// Sets every file of `sysctls` to `1` where it is not already; returns the ones it changed.
pub fn enable(sysctls: &[&'static str]) -> std::io::Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for &file in sysctls {
        if std::fs::read_to_string(file)?.trim() != "1" {
            std::fs::write(file, "1\n")?;
            changed.push(file);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_core::netmap::PeerKind;

    fn router(allowed: &[&str]) -> Peer {
        Peer {
            name: "router".into(),
            kind: PeerKind::Node,
            public_key: None,
            addresses: vec!["100.64.0.1".parse().unwrap(), "fd7a::1".parse().unwrap()],
            allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
            endpoints: Vec::new(),
            tags: Vec::new(),
            owner: None,
            home_relay: None,
        }
    }

    #[test]
    fn only_routes_beyond_the_own_addresses_need_forwarding() {
        let plain = router(&["100.64.0.1/32", "fd7a::1/128"]);
        assert!(advertised(&plain).is_empty());
        assert!(sysctls_for(&advertised(&plain)).is_empty());

        let v4 = router(&["100.64.0.1/32", "fd7a::1/128", "10.9.0.0/24"]);
        assert_eq!(advertised(&v4), ["10.9.0.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(sysctls_for(&advertised(&v4)), [IPV4]);

        let both = router(&["100.64.0.1/32", "10.9.0.0/24", "fd00:9::/64"]);
        assert_eq!(sysctls_for(&advertised(&both)), [IPV4, IPV6]);
    }
}
