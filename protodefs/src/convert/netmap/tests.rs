//! A netmap built by cvlan-core field by field on the wire; property tests that any map
//! survives map → proto → bytes → proto → map, and that a delta read back from the wire turns
//! the old map into the new one; and every malformed message refused with the field named.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec, VrouterSpec};
use cvlan_core::netmap::{Keyed, NetMapDelta, apply, diff, netmap_for};
use cvlan_schema::PublicKey;
use cvlan_schema::model::{HostPort, Proto, Selector, Transport};
use proptest::prelude::*;

use super::*;
use crate::convert::netmap_delta_to_proto;

fn key(byte: u8) -> PublicKey {
    PublicKey([byte; 32])
}

/// laptop's map in a network with both overlays, a relay, a controller, a router, a vrouter,
/// a rule on ports and one on ICMP.
fn laptop_map() -> NetMap {
    let relay = HostPort {
        host: "fra1.relay.example".into(),
        port: 443,
    };
    let network = NetworkBuilder::new("corp")
        .overlay6("fd7a:115c:a1e0::/48".parse().expect("overlay6"))
        .dns_domain("corp.cvlan")
        .relay("fra1", "eu", relay, key(9))
        .node(
            NodeSpec::new("laptop")
                .owner("alice@x.example")
                .tag("eng")
                .key(key(1))
                .endpoint("198.51.100.7:51820".parse().expect("endpoint"))
                .home_relay("fra1"),
        )
        .node(
            NodeSpec::new("router")
                .route("10.20.0.0/16".parse().expect("route"))
                .key(key(2)),
        )
        .vrouter(
            VrouterSpec::new("dc1")
                .key(key(3))
                .ipsec_peer("branch", ["192.168.17.0/24".parse().expect("ts")]),
        )
        .rule(
            RuleSpec::allow("eng-lan")
                .from(Selector::Tag("eng".into()))
                .to(Selector::Route("router".into()))
                .ports(Transport::Tcp, 5432, 5432),
        )
        .rule(
            RuleSpec::allow("ping")
                .from(Selector::Any)
                .to(Selector::Any)
                .proto(Proto::Icmp),
        )
        .build();
    let mut map = netmap_for(&network, &allocate(&network), "laptop").expect("laptop is a node");
    // The builder has no controller; the map carries one as a controller's network would.
    map.network.controller = Some(ControllerInfo {
        name: "ctl".into(),
        address: "ctl.corp.example:7443".into(),
        public_key: Some(key(8)),
    });
    map
}

#[test]
fn a_core_netmap_maps_field_by_field_and_back() {
    let map = laptop_map();
    let wire = netmap_to_proto(&map, 7, 3);
    assert_eq!((wire.version, wire.revision), (7, 3));
    assert_eq!(
        (wire.overlay_v4.as_str(), wire.overlay_v6.as_str()),
        ("100.64.0.0/10", "fd7a:115c:a1e0::/48")
    );
    let controller = wire.controller.as_ref().expect("controller");
    assert_eq!(controller.public_key, vec![8; 32]);
    assert_eq!(wire.relays[0].address, "fra1.relay.example:443");
    let own = wire.self_.as_ref().expect("self");
    assert_eq!(own.kind(), v1::PeerKind::Node);
    assert_eq!(own.listen_port, 51820);
    assert_eq!(own.node_key, vec![1; 32]);
    assert_eq!(own.endpoints, vec!["198.51.100.7:51820"]);
    assert_eq!(own.owner, "alice@x.example");
    // Its own address is in allowed_ips, never in routes.
    assert_eq!(own.allowed_ips, to_strings(&map.node.allowed_ips));
    assert!(own.routes.is_empty());
    let router = wire
        .peers
        .iter()
        .find(|p| p.name == "router")
        .expect("router");
    assert!(router.allowed_ips.contains(&"10.20.0.0/16".to_owned()));
    let dc1 = wire.peers.iter().find(|p| p.name == "dc1").expect("dc1");
    assert_eq!(dc1.kind(), v1::PeerKind::Vrouter);
    let dns = wire.dns.as_ref().expect("dns");
    assert_eq!(dns.domain, "corp.cvlan");
    assert!(dns.records.iter().any(|r| r.name == "laptop.corp.cvlan"));
    let services: Vec<_> = wire.rules.iter().map(|r| r.services.clone()).collect();
    assert!(services.contains(&vec![v1::ServiceRange {
        protocol: v1::IpProtocol::Tcp.into(),
        first: 5432,
        last: 5432,
    }]));
    assert!(services.contains(&vec![v1::ServiceRange {
        protocol: v1::IpProtocol::Icmp.into(),
        first: 0,
        last: 0,
    }]));
    assert_eq!(NetMap::try_from(wire), Ok(map));
}

#[test]
fn self_routes_are_its_allowed_ips_but_its_addresses() {
    let mut node = laptop_map().node;
    node.allowed_ips
        .push("10.30.0.0/16".parse().expect("route"));
    let own = self_to_proto(&node, 51820);
    assert_eq!(own.routes, vec!["10.30.0.0/16"]);
}

fn wire_map() -> v1::Netmap {
    netmap_to_proto(&laptop_map(), 1, 1)
}

fn peer_error(map: v1::Netmap) -> ConvertError {
    match NetMap::try_from(map) {
        Err(ConvertError::Peer { source, .. }) => *source,
        other => panic!("expected a peer error, got {other:?}"),
    }
}

#[test]
fn malformed_peers_are_refused_with_the_peer_and_field_named() {
    let mut map = wire_map();
    map.peers[0].node_key = vec![9; 31];
    let name = map.peers[0].name.clone();
    let err = NetMap::try_from(map).expect_err("31-byte key");
    assert_eq!(
        err.to_string(),
        format!("peer {name:?}: NetmapPeer.node_key: a key has 32 bytes, got 31")
    );

    let mut map = wire_map();
    map.peers[0].addresses.push("100.64.0.300".into());
    assert!(matches!(
        peer_error(map),
        ConvertError::Address {
            field: "NetmapPeer.addresses",
            ..
        }
    ));

    let mut map = wire_map();
    map.peers[0].allowed_ips.push("10.0.0.0/33".into());
    assert!(matches!(
        peer_error(map),
        ConvertError::Prefix {
            field: "NetmapPeer.allowed_ips",
            ..
        }
    ));

    let mut map = wire_map();
    map.peers[0].endpoints.push("198.51.100.7".into());
    assert!(matches!(
        peer_error(map),
        ConvertError::Endpoint {
            field: "NetmapPeer.endpoints",
            ..
        }
    ));

    let mut map = wire_map();
    map.peers[0].kind = 7;
    assert_eq!(
        peer_error(map),
        ConvertError::UnknownEnum {
            field: "NetmapPeer.kind",
            value: 7
        }
    );

    let mut map = wire_map();
    map.peers[0].kind = v1::PeerKind::Unspecified.into();
    assert_eq!(
        peer_error(map),
        ConvertError::Missing {
            field: "NetmapPeer.kind"
        }
    );
}

/// What converting a map changed by `change` gives.
fn converted(change: impl FnOnce(&mut v1::Netmap)) -> Result<NetMap, ConvertError> {
    let mut map = wire_map();
    change(&mut map);
    NetMap::try_from(map)
}

/// A change to a wire map.
type Change = Box<dyn FnOnce(&mut v1::Netmap)>;

#[test]
fn malformed_maps_are_refused_with_the_field_named() {
    let cases: Vec<(Change, ConvertError)> = vec![
        (
            Box::new(|m| m.self_ = None),
            ConvertError::Missing {
                field: "Netmap.self",
            },
        ),
        (
            Box::new(|m| m.overlay_v4 = "fd00::/8".into()),
            ConvertError::Text {
                field: "Netmap.overlay_v4",
                value: "fd00::/8".into(),
            },
        ),
        (
            Box::new(|m| m.overlay_v6 = "100.64/10".into()),
            ConvertError::Prefix {
                field: "Netmap.overlay_v6",
                value: "100.64/10".into(),
            },
        ),
        (
            Box::new(|m| m.self_.as_mut().expect("self").listen_port = 70_000),
            ConvertError::Port {
                field: "NetmapSelf.listen_port",
                value: 70_000,
            },
        ),
        (
            Box::new(|m| m.self_.as_mut().expect("self").kind = 0),
            ConvertError::Missing {
                field: "NetmapSelf.kind",
            },
        ),
        (
            Box::new(|m| m.self_.as_mut().expect("self").node_key = vec![1; 33]),
            ConvertError::KeyLength {
                field: "NetmapSelf.node_key",
                len: 33,
            },
        ),
        (
            Box::new(|m| m.self_.as_mut().expect("self").allowed_ips = vec!["x".into()]),
            ConvertError::Prefix {
                field: "NetmapSelf.allowed_ips",
                value: "x".into(),
            },
        ),
        (
            Box::new(|m| m.relays[0].public_key = vec![0; 16]),
            ConvertError::KeyLength {
                field: "NetmapRelay.public_key",
                len: 16,
            },
        ),
        (
            Box::new(|m| {
                m.controller = Some(v1::NetmapController {
                    public_key: vec![0; 1],
                    ..Default::default()
                });
            }),
            ConvertError::KeyLength {
                field: "NetmapController.public_key",
                len: 1,
            },
        ),
        (
            Box::new(|m| {
                let dns = m.dns.as_mut().expect("dns");
                dns.records[0].addresses = vec!["laptop".into()];
            }),
            ConvertError::Address {
                field: "DnsRecord.addresses",
                value: "laptop".into(),
            },
        ),
    ];
    for (change, want) in cases {
        assert_eq!(converted(change), Err(want));
    }
}

/// The error inside the first rule of a map changed by `change`.
fn rule_error(change: impl FnOnce(&mut v1::ResolvedPolicyRule)) -> ConvertError {
    match converted(|m| change(&mut m.rules[0])) {
        Err(ConvertError::Rule { source, .. }) => *source,
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
#[allow(deprecated)] // Setting the deprecated fields is the point.
fn malformed_rules_are_refused_with_the_rule_and_field_named() {
    let err = converted(|m| m.rules[0].action = 9).expect_err("unknown action");
    assert!(
        err.to_string()
            .ends_with("ResolvedPolicyRule.action: 9 is not a known value")
    );
    assert_eq!(
        rule_error(|r| r.sources = vec!["10.0.0.0/40".into()]),
        ConvertError::Prefix {
            field: "ResolvedPolicyRule.sources",
            value: "10.0.0.0/40".into()
        }
    );
    assert_eq!(
        rule_error(|r| r.services[0].protocol = v1::IpProtocol::Any.into()),
        ConvertError::Text {
            field: "ServiceRange.protocol",
            value: "IP_PROTOCOL_ANY".into()
        }
    );
    assert_eq!(
        rule_error(|r| r.services[0].protocol = 0),
        ConvertError::Missing {
            field: "ServiceRange.protocol"
        }
    );
    assert_eq!(
        rule_error(|r| r.services[0].protocol = 12),
        ConvertError::UnknownEnum {
            field: "ServiceRange.protocol",
            value: 12
        }
    );
    assert_eq!(
        rule_error(|r| r.services[0].last = 65_536),
        ConvertError::Port {
            field: "ServiceRange.last",
            value: 65_536
        }
    );
    assert_eq!(
        rule_error(|r| (r.services[0].first, r.services[0].last) = (2, 1)),
        ConvertError::PortOrder {
            field: "ServiceRange",
            first: 2,
            last: 1
        }
    );
    assert!(matches!(
        rule_error(|r| r.protocol = v1::IpProtocol::Tcp.into()),
        ConvertError::Unsupported {
            field: "ResolvedPolicyRule.protocol",
            ..
        }
    ));
    assert!(matches!(
        rule_error(|r| r.ports = vec![v1::PortRange::default()]),
        ConvertError::Unsupported {
            field: "ResolvedPolicyRule.ports",
            ..
        }
    ));
}

#[test]
#[allow(deprecated)] // Setting the deprecated fields is the point.
fn deltas_with_fields_this_version_does_not_read_are_refused() {
    let base = || v1::NetmapDelta {
        base_version: 4,
        ..Default::default()
    };
    assert_eq!(NetMapDelta::try_from(base()), Ok(NetMapDelta::default()));
    let unread: [(v1::NetmapDelta, &str); 3] = [
        (
            v1::NetmapDelta {
                removed_peers: vec!["db-1".into()],
                ..base()
            },
            "NetmapDelta.removed_peers",
        ),
        (
            v1::NetmapDelta {
                dns: Some(v1::DnsConfig::default()),
                ..base()
            },
            "NetmapDelta.dns",
        ),
        (
            v1::NetmapDelta {
                endpoints: vec![v1::PeerEndpoints::default()],
                ..base()
            },
            "NetmapDelta.endpoints",
        ),
    ];
    for (delta, want) in unread {
        match NetMapDelta::try_from(delta) {
            Err(ConvertError::Unsupported { field, .. }) => assert_eq!(field, want),
            other => panic!("{want}: expected a refusal, got {other:?}"),
        }
    }
    let err = NetMapDelta::try_from(v1::NetmapDelta {
        removed: vec![v1::NetmapPeerRef {
            name: "db-1".into(),
            kind: 0,
        }],
        ..base()
    });
    assert_eq!(
        err,
        Err(ConvertError::Missing {
            field: "NetmapPeerRef.kind"
        })
    );
}

#[test]
fn a_vrouter_removed_beside_a_node_of_its_name_leaves_the_node() {
    let mut old = laptop_map();
    let mut twin = old
        .peers
        .iter()
        .find(|p| p.name == "dc1")
        .expect("dc1")
        .clone();
    twin.kind = PeerKind::Node;
    old.peers.push(twin.clone());
    old.peers.sort_by_key(Keyed::key);
    let mut new = old.clone();
    new.peers
        .retain(|p| !(p.name == "dc1" && p.kind == PeerKind::Vrouter));

    let wire = netmap_delta_to_proto(&diff(&old, &new), 1, 0).expect("same network");
    assert_eq!(
        wire.removed,
        vec![v1::NetmapPeerRef {
            name: "dc1".into(),
            kind: v1::PeerKind::Vrouter.into()
        }]
    );
    let back = NetMapDelta::try_from(wire).expect("reads back");
    assert!(apply(&old, &back).peers.contains(&twin));
    assert_eq!(apply(&old, &back), new);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary maps

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

/// Few peer and record names, so two maps share many of them.
fn short_name() -> impl Strategy<Value = String> {
    "[a-f]"
}

fn public_key() -> impl Strategy<Value = Option<PublicKey>> {
    prop::option::of(any::<[u8; 32]>().prop_map(PublicKey))
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn net() -> impl Strategy<Value = IpNet> {
    (addr(), any::<u8>()).prop_map(|(addr, len)| {
        let max = if addr.is_ipv4() { 33 } else { 129 };
        IpNet::new(addr, len % max).expect("length within the family's")
    })
}

fn v4_net() -> impl Strategy<Value = Ipv4Net> {
    (any::<[u8; 4]>(), 0u8..=32)
        .prop_map(|(octets, len)| Ipv4Net::new(octets.into(), len).expect("len <= 32"))
}

fn v6_net() -> impl Strategy<Value = Ipv6Net> {
    (any::<[u8; 16]>(), 0u8..=128)
        .prop_map(|(octets, len)| Ipv6Net::new(octets.into(), len).expect("len <= 128"))
}

fn list<T: std::fmt::Debug>(item: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(item, 0..4)
}

fn kind() -> impl Strategy<Value = PeerKind> {
    prop_oneof![Just(PeerKind::Node), Just(PeerKind::Vrouter)]
}

/// A peer of any name and kind.
fn peer(names: impl Strategy<Value = String>) -> impl Strategy<Value = Peer> {
    (
        (names, kind(), public_key()),
        (list(addr()), list(net()), list((addr(), any::<u16>()))),
        (
            list(name()),
            prop::option::of(name()),
            prop::option::of(name()),
        ),
    )
        .prop_map(
            |(
                (name, kind, public_key),
                (addresses, allowed_ips, endpoints),
                (tags, owner, relay),
            )| {
                Peer {
                    name,
                    kind,
                    public_key,
                    addresses,
                    allowed_ips,
                    endpoints: endpoints.into_iter().map(SocketAddr::from).collect(),
                    tags,
                    owner,
                    home_relay: relay,
                }
            },
        )
}

/// Peers sorted and unique by name and kind, as a netmap holds them.
fn peers() -> impl Strategy<Value = Vec<Peer>> {
    prop::collection::vec(peer(short_name()), 0..12).prop_map(sorted_by_key)
}

fn dns_records() -> impl Strategy<Value = Vec<DnsRecord>> {
    let record = (short_name(), list(addr())).prop_map(|(name, addresses)| DnsRecord {
        name: format!("{name}.corp.cvlan"),
        addresses,
    });
    prop::collection::vec(record, 0..6).prop_map(sorted_by_key)
}

/// The items sorted by key, the last of each key kept.
fn sorted_by_key<T: Keyed>(items: Vec<T>) -> Vec<T> {
    let by_key: BTreeMap<T::Key, T> = items.into_iter().map(|t| (t.key(), t)).collect();
    by_key.into_values().collect()
}

fn relay() -> impl Strategy<Value = RelayInfo> {
    (name(), name(), any::<u16>(), public_key()).prop_map(|(name, region, port, public_key)| {
        RelayInfo {
            address: format!("{name}.relay.example:{port}"),
            name,
            region,
            public_key,
        }
    })
}

fn service() -> impl Strategy<Value = ServiceRange> {
    let proto = prop_oneof![Just(IpProto::Tcp), Just(IpProto::Udp), Just(IpProto::Icmp)];
    (proto, any::<u16>(), any::<u16>()).prop_map(|(proto, a, b)| ServiceRange {
        proto,
        first: a.min(b),
        last: a.max(b),
    })
}

fn rule() -> impl Strategy<Value = ResolvedRule> {
    let action = prop_oneof![Just(RuleAction::Allow), Just(RuleAction::Deny)];
    (
        name(),
        any::<u32>(),
        action,
        list(net()),
        list(net()),
        list(service()),
    )
        .prop_map(|(name, index, action, from, to, services)| ResolvedRule {
            name,
            index: usize::try_from(index).expect("u32 fits usize"),
            action,
            from,
            to,
            services,
        })
}

fn network() -> impl Strategy<Value = NetworkInfo> {
    let controller =
        (name(), any::<u16>(), public_key()).prop_map(|(name, port, key)| ControllerInfo {
            address: format!("{name}.example:{port}"),
            name,
            public_key: key,
        });
    (
        (name(), name(), v4_net(), prop::option::of(v6_net())),
        (
            any::<u16>(),
            prop::option::of(name()),
            prop::option::of(controller),
        ),
    )
        .prop_map(
            |((name, tenant, overlay, overlay6), (listen_port, dns_domain, controller))| {
                NetworkInfo {
                    name,
                    tenant,
                    overlay,
                    overlay6,
                    listen_port,
                    dns_domain,
                    controller,
                }
            },
        )
}

fn netmap() -> impl Strategy<Value = NetMap> {
    (
        network(),
        peer(name()),
        peers(),
        list(relay()),
        dns_records(),
        list(rule()),
    )
        .prop_map(
            |(network, node, peers, relays, dns_records, rules)| NetMap {
                network,
                node,
                peers,
                relays,
                dns_records,
                rules,
            },
        )
}

/// Each keyed item from `old`, from `fresh`, or from neither, as `picks` say in turn.
fn mix<T: Keyed>(old: &[T], fresh: &[T], picks: &[u8]) -> Vec<T> {
    let mut by_key: BTreeMap<T::Key, (Option<&T>, Option<&T>)> = BTreeMap::new();
    for t in old {
        by_key.entry(t.key()).or_default().0 = Some(t);
    }
    for t in fresh {
        by_key.entry(t.key()).or_default().1 = Some(t);
    }
    by_key
        .into_values()
        .zip(picks.iter().cycle())
        .filter_map(|((o, f), pick)| match pick % 3 {
            0 => o.or(f),
            1 => f.or(o),
            _ => None,
        })
        .cloned()
        .collect()
}

/// Two maps of one node: the second keeps, changes, drops and adds peers and records of the
/// first, and now and then its other parts; its network facts change in one pair of five.
fn map_pair() -> impl Strategy<Value = (NetMap, NetMap)> {
    (
        netmap(),
        netmap(),
        prop::collection::vec(any::<u8>(), 1..16),
        any::<[bool; 3]>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(old, fresh, picks, [node, relays, rules], network)| {
            let new = NetMap {
                network: if network {
                    fresh.network
                } else {
                    old.network.clone()
                },
                node: if node { fresh.node } else { old.node.clone() },
                peers: mix(&old.peers, &fresh.peers, &picks),
                relays: if relays {
                    fresh.relays
                } else {
                    old.relays.clone()
                },
                dns_records: mix(&old.dns_records, &fresh.dns_records, &picks),
                rules: if rules {
                    fresh.rules
                } else {
                    old.rules.clone()
                },
            };
            (old, new)
        })
}

/// `message` encoded to bytes and decoded again.
fn through_bytes<M: prost::Message + Default>(message: &M) -> M {
    M::decode(message.encode_to_vec().as_slice()).expect("decodes what it encoded")
}

proptest! {
    #[test]
    fn any_netmap_survives_the_wire(map in netmap(), version in any::<u64>(), revision in any::<u64>()) {
        let wire = through_bytes(&netmap_to_proto(&map, version, revision));
        prop_assert_eq!((wire.version, wire.revision), (version, revision));
        prop_assert_eq!(NetMap::try_from(wire), Ok(map));
    }

    #[test]
    fn a_delta_read_back_turns_the_old_map_into_the_new((old, new) in map_pair(), base in any::<u64>()) {
        let delta = diff(&old, &new);
        match netmap_delta_to_proto(&delta, base, 0) {
            None => prop_assert_ne!(&old.network, &new.network),
            Some(wire) => {
                let wire = through_bytes(&wire);
                prop_assert_eq!(wire.base_version, base);
                let back = NetMapDelta::try_from(wire)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back.is_empty(), delta.is_empty());
                prop_assert_eq!(apply(&old, &back), new);
            }
        }
    }
}
