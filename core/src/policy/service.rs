//! Protocols and ports as one line of points (the "service line"): TCP port `p` is `p`, UDP
//! port `p` is `65536 + p`, ICMP is `131072`. A rule's `proto=`/`ports=` become a
//! [`ServiceSet`] on that line and a packet becomes one point, so matching, covering and
//! splitting services reuse the range arithmetic of [`crate::addrset`]. Also the text forms
//! (`5432/tcp`, `icmp`) used by explain and policy-test.

use cvlan_schema::model::{PortItem, Proto, TestPort, Transport};
use serde::{Deserialize, Serialize};

use crate::addrset::Ranges;

/// A set of (protocol, port) services.
pub type ServiceSet = Ranges<u32>;

const UDP_BASE: u32 = 65_536;
const ICMP_POINT: u32 = 131_072;
const PORT_MAX: u32 = 65_535;

/// Every service a packet can have.
pub fn all_services() -> ServiceSet {
    Ranges::range(0, ICMP_POINT)
}

fn proto_services(proto: Proto) -> ServiceSet {
    match proto {
        Proto::Tcp => Ranges::range(0, PORT_MAX),
        Proto::Udp => Ranges::range(UDP_BASE, UDP_BASE + PORT_MAX),
        Proto::Icmp => Ranges::range(ICMP_POINT, ICMP_POINT),
        Proto::Any => all_services(),
    }
}

/// The services a port item covers (a bare port covers TCP and UDP).
pub fn port_item_services(item: &PortItem) -> ServiceSet {
    let (first, last) = (u32::from(item.range.first), u32::from(item.range.last));
    let tcp = (first, last);
    let udp = (UDP_BASE + first, UDP_BASE + last);
    match item.transport {
        Transport::Tcp => Ranges::from_ranges([tcp]),
        Transport::Udp => Ranges::from_ranges([udp]),
        Transport::Both => Ranges::from_ranges([tcp, udp]),
    }
}

/// The services a rule matches: the port items (if any) limited to `proto=` (if given).
///
/// With neither, every service; with only `proto=`, that protocol on every port; with only
/// `ports=`, what the items imply (so ICMP never matches a rule with ports); with both, the
/// items' services that also belong to the protocol.
pub fn rule_services(proto: Option<Proto>, ports: &[PortItem]) -> ServiceSet {
    let by_proto = proto_services(proto.unwrap_or(Proto::Any));
    if ports.is_empty() {
        return by_proto;
    }
    let by_ports = ports.iter().fold(Ranges::empty(), |acc, item| {
        acc.union(&port_item_services(item))
    });
    by_ports.intersection(&by_proto)
}

/// The point of a packet's protocol and destination port on the service line.
pub fn service_point(port: TestPort) -> u32 {
    match port {
        TestPort::Tcp(p) => u32::from(p),
        TestPort::Udp(p) => UDP_BASE + u32::from(p),
        TestPort::Icmp => ICMP_POINT,
    }
}

/// The packet service at a point of the service line (the inverse of [`service_point`]).
pub fn service_at(point: u32) -> TestPort {
    if point >= ICMP_POINT {
        TestPort::Icmp
    } else if point >= UDP_BASE {
        TestPort::Udp(u16::try_from(point - UDP_BASE).unwrap_or(u16::MAX))
    } else {
        TestPort::Tcp(u16::try_from(point).unwrap_or(u16::MAX))
    }
}

/// The text form of a packet's port spec (`5432/tcp`, `53/udp`, `icmp`).
pub fn format_port_spec(port: TestPort) -> String {
    match port {
        TestPort::Tcp(p) => format!("{p}/tcp"),
        TestPort::Udp(p) => format!("{p}/udp"),
        TestPort::Icmp => "icmp".to_string(),
    }
}

/// The text form of a rule's port item as network.kdl writes it (`22`, `22/tcp`, `1000-2000/udp`, `*`).
pub fn format_port_item(item: &PortItem) -> String {
    let range = if item.range.first == 0 && item.range.last == u16::MAX {
        "*".to_string()
    } else if item.range.first == item.range.last {
        item.range.first.to_string()
    } else {
        format!("{}-{}", item.range.first, item.range.last)
    };
    match item.transport {
        Transport::Both => range,
        Transport::Tcp => format!("{range}/tcp"),
        Transport::Udp => format!("{range}/udp"),
    }
}

/// The text of `proto=`.
pub fn format_proto(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Icmp => "icmp",
        Proto::Any => "any",
    }
}

/// A transport protocol a packet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpProto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP / ICMPv6 (no ports).
    Icmp,
}

/// One protocol with an inclusive destination port range (`0..=0` for ICMP), the compact
/// machine form of a rule's services carried in netmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceRange {
    /// The protocol.
    pub proto: IpProto,
    /// First destination port.
    pub first: u16,
    /// Last destination port (inclusive).
    pub last: u16,
}

/// A service set as protocol/port ranges, TCP first, then UDP, then ICMP.
pub fn service_ranges(set: &ServiceSet) -> Vec<ServiceRange> {
    let mut out = Vec::new();
    let windows = [
        (IpProto::Tcp, 0, PORT_MAX),
        (IpProto::Udp, UDP_BASE, UDP_BASE + PORT_MAX),
        (IpProto::Icmp, ICMP_POINT, ICMP_POINT),
    ];
    for (proto, lo, hi) in windows {
        for &(a, b) in set.intersection(&Ranges::range(lo, hi)).ranges() {
            let port = |x: u32| u16::try_from(x - lo).unwrap_or(u16::MAX);
            out.push(ServiceRange {
                proto,
                first: port(a),
                last: port(b),
            });
        }
    }
    out
}

/// The service set a list of protocol/port ranges covers (the inverse of [`service_ranges`]).
pub fn ranges_services(ranges: &[ServiceRange]) -> ServiceSet {
    Ranges::from_ranges(ranges.iter().map(|r| {
        let base = match r.proto {
            IpProto::Tcp => 0,
            IpProto::Udp => UDP_BASE,
            IpProto::Icmp => return (ICMP_POINT, ICMP_POINT),
        };
        (base + u32::from(r.first), base + u32::from(r.last))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_schema::model::PortRange;

    fn item(transport: Transport, first: u16, last: u16) -> PortItem {
        PortItem {
            transport,
            range: PortRange { first, last },
        }
    }

    #[test]
    fn bare_port_means_tcp_and_udp_and_never_icmp() {
        let s = rule_services(None, &[item(Transport::Both, 53, 53)]);
        assert!(s.contains(service_point(TestPort::Tcp(53))));
        assert!(s.contains(service_point(TestPort::Udp(53))));
        assert!(!s.contains(service_point(TestPort::Tcp(54))));
        assert!(!s.contains(service_point(TestPort::Icmp)));
    }

    #[test]
    fn proto_limits_ports_and_defaults_to_any() {
        let tcp_only = rule_services(Some(Proto::Tcp), &[item(Transport::Both, 1000, 2000)]);
        assert!(tcp_only.contains(service_point(TestPort::Tcp(1500))));
        assert!(!tcp_only.contains(service_point(TestPort::Udp(1500))));
        let any = rule_services(None, &[]);
        assert_eq!(any, all_services());
        let icmp = rule_services(Some(Proto::Icmp), &[]);
        assert_eq!(service_ranges(&icmp).len(), 1);
        assert!(icmp.contains(service_point(TestPort::Icmp)));
        assert!(!icmp.contains(service_point(TestPort::Tcp(0))));
        let star = rule_services(None, &[item(Transport::Both, 0, u16::MAX)]);
        assert!(star.contains(service_point(TestPort::Udp(65535))));
        assert!(!star.contains(service_point(TestPort::Icmp)));
    }

    #[test]
    fn port_specs_round_trip_with_the_parser() {
        for text in ["5432/tcp", "53/udp", "icmp", "1/tcp", "65535/udp"] {
            let spec = cvlan_schema::values::parse_test_port(text).unwrap();
            assert_eq!(format_port_spec(spec), text);
            assert_eq!(service_at(service_point(spec)), spec);
        }
    }

    #[test]
    fn port_items_format_as_written() {
        assert_eq!(format_port_item(&item(Transport::Both, 22, 22)), "22");
        assert_eq!(
            format_port_item(&item(Transport::Udp, 1000, 2000)),
            "1000-2000/udp"
        );
        assert_eq!(format_port_item(&item(Transport::Both, 0, u16::MAX)), "*");
        assert_eq!(
            format_port_item(&item(Transport::Tcp, 0, u16::MAX)),
            "*/tcp"
        );
    }

    #[test]
    fn service_ranges_split_by_protocol() {
        let s = rule_services(None, &[item(Transport::Both, 80, 81)])
            .union(&rule_services(Some(Proto::Icmp), &[]));
        assert_eq!(ranges_services(&service_ranges(&s)), s);
        assert_eq!(
            service_ranges(&s),
            vec![
                ServiceRange {
                    proto: IpProto::Tcp,
                    first: 80,
                    last: 81
                },
                ServiceRange {
                    proto: IpProto::Udp,
                    first: 80,
                    last: 81
                },
                ServiceRange {
                    proto: IpProto::Icmp,
                    first: 0,
                    last: 0
                },
            ]
        );
    }
}
