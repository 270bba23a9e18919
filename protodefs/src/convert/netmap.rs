//! Netmaps on the wire: cvlan-core's `NetMap` as a `Netmap` and back, its parts (self, peers,
//! relays, DNS records, the controller, resolved rules and their services), and in
//! [`delta`] its `NetMapDelta` as a `NetmapDelta`.
//!
//! Every field of core's map has a place on the wire, so map → proto → map gives the map back:
//! the network facts are the `Netmap`'s own fields, except the listen port
//! (`NetmapSelf.listen_port`), the DNS domain (`DnsConfig.domain`) and the controller
//! (`Netmap.controller`). Absent texts are empty strings and unknown keys empty bytes (core
//! never holds an empty name, owner, relay or domain: the schema refuses them). Lists keep
//! their order. Proto fields core has no place for (a peer's `online` and `keepalive`, a
//! relay's `stun_address`, self's `key_expiry`) are left unset and not read: the controller
//! fills them in. `NetmapSelf.routes` is written, derived from `allowed_ips`, and not read.

mod delta;

pub use delta::netmap_delta_to_proto;

use cvlan_core::netmap::{
    ControllerInfo, DnsRecord, NetMap, NetworkInfo, Peer, PeerId, PeerKind, RelayInfo,
    ResolvedRule, RuleAction,
};
use cvlan_core::policy::service::{IpProto, ServiceRange};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::keys::{optional_key_from_bytes, optional_key_to_bytes};
use super::{ConvertError, known_enum, parse_addr, parse_endpoint, parse_prefix, port, to_strings};
use crate::v1;

/// The wire form of `map` at netmap version `version`, computed from network.kdl revision
/// `revision`.
pub fn netmap_to_proto(map: &NetMap, version: u64, revision: u64) -> v1::Netmap {
    let network = &map.network;
    v1::Netmap {
        network: network.name.clone(),
        tenant: network.tenant.clone(),
        revision,
        overlay_v4: network.overlay.to_string(),
        overlay_v6: network.overlay6.map(|n| n.to_string()).unwrap_or_default(),
        self_: Some(self_to_proto(&map.node, network.listen_port.into())),
        peers: map.peers.iter().map(Into::into).collect(),
        relays: map.relays.iter().map(Into::into).collect(),
        dns: Some(v1::DnsConfig {
            domain: network.dns_domain.clone().unwrap_or_default(),
            records: map.dns_records.iter().map(Into::into).collect(),
        }),
        rules: map.rules.iter().map(Into::into).collect(),
        version,
        controller: network.controller.as_ref().map(Into::into),
    }
}

/// The map as cvlan-core holds it; its version and revision stay on the message
/// (`Netmap.version`, `Netmap.revision`). An absent `dns` is DNS off; an absent `self` is
/// refused.
impl TryFrom<v1::Netmap> for NetMap {
    type Error = ConvertError;

    fn try_from(map: v1::Netmap) -> Result<Self, Self::Error> {
        let own = map.self_.ok_or(ConvertError::Missing {
            field: "Netmap.self",
        })?;
        let dns = map.dns.unwrap_or_default();
        let network = NetworkInfo {
            overlay: parse_v4_net("Netmap.overlay_v4", &map.overlay_v4)?,
            overlay6: non_empty(map.overlay_v6)
                .map(|text| parse_v6_net("Netmap.overlay_v6", &text))
                .transpose()?,
            listen_port: port("NetmapSelf.listen_port", own.listen_port)?,
            dns_domain: non_empty(dns.domain),
            controller: map.controller.map(TryInto::try_into).transpose()?,
            name: map.network,
            tenant: map.tenant,
        };
        Ok(NetMap {
            network,
            node: node_from_proto(own)?,
            peers: convert_all(map.peers, Peer::try_from)?,
            relays: convert_all(map.relays, RelayInfo::try_from)?,
            dns_records: convert_all(dns.records, DnsRecord::try_from)?,
            rules: convert_all(map.rules, ResolvedRule::try_from)?,
        })
    }
}

/// The node itself as `NetmapSelf`, with `listen_port` (a network fact in core).
fn self_to_proto(node: &Peer, listen_port: u32) -> v1::NetmapSelf {
    v1::NetmapSelf {
        name: node.name.clone(),
        addresses: to_strings(&node.addresses),
        node_key: optional_key_to_bytes(node.public_key.as_ref()),
        listen_port,
        routes: to_strings(routes(node)),
        tags: node.tags.clone(),
        owner: node.owner.clone().unwrap_or_default(),
        home_relay: node.home_relay.clone().unwrap_or_default(),
        key_expiry: None,
        kind: v1::PeerKind::from(node.kind).into(),
        allowed_ips: to_strings(&node.allowed_ips),
        endpoints: to_strings(&node.endpoints),
    }
}

/// What `node` must forward: its allowed IPs that are not one of its own addresses.
fn routes(node: &Peer) -> impl Iterator<Item = &IpNet> {
    node.allowed_ips
        .iter()
        .filter(|net| !node.addresses.iter().any(|&a| IpNet::from(a) == **net))
}

/// The node itself from `NetmapSelf`; `listen_port`, a network fact, is read by the caller.
fn node_from_proto(own: v1::NetmapSelf) -> Result<Peer, ConvertError> {
    Ok(Peer {
        kind: peer_kind("NetmapSelf.kind", own.kind)?,
        public_key: optional_key_from_bytes("NetmapSelf.node_key", &own.node_key)?,
        addresses: convert_all(own.addresses, |t| parse_addr("NetmapSelf.addresses", &t))?,
        allowed_ips: convert_all(own.allowed_ips, |t| {
            parse_prefix("NetmapSelf.allowed_ips", &t)
        })?,
        endpoints: convert_all(own.endpoints, |t| {
            parse_endpoint("NetmapSelf.endpoints", &t)
        })?,
        tags: shrunk(own.tags),
        owner: non_empty(own.owner),
        home_relay: non_empty(own.home_relay),
        name: own.name,
    })
}

impl From<PeerKind> for v1::PeerKind {
    /// Node or vrouter.
    fn from(kind: PeerKind) -> Self {
        match kind {
            PeerKind::Node => v1::PeerKind::Node,
            PeerKind::Vrouter => v1::PeerKind::Vrouter,
        }
    }
}

/// Reads a `PeerKind` field: unspecified is missing.
fn peer_kind(field: &'static str, value: i32) -> Result<PeerKind, ConvertError> {
    match known_enum(field, value)? {
        v1::PeerKind::Node => Ok(PeerKind::Node),
        v1::PeerKind::Vrouter => Ok(PeerKind::Vrouter),
        v1::PeerKind::Unspecified => Err(ConvertError::Missing { field }),
    }
}

impl From<&Peer> for v1::NetmapPeer {
    /// The peer as a node configures it; `online` and `keepalive` are left for the controller.
    fn from(peer: &Peer) -> Self {
        v1::NetmapPeer {
            name: peer.name.clone(),
            kind: v1::PeerKind::from(peer.kind).into(),
            node_key: optional_key_to_bytes(peer.public_key.as_ref()),
            addresses: to_strings(&peer.addresses),
            allowed_ips: to_strings(&peer.allowed_ips),
            endpoints: to_strings(&peer.endpoints),
            home_relay: peer.home_relay.clone().unwrap_or_default(),
            owner: peer.owner.clone().unwrap_or_default(),
            tags: peer.tags.clone(),
            online: false,
            keepalive: None,
        }
    }
}

/// The peer as cvlan-core holds it; errors name the peer.
impl TryFrom<v1::NetmapPeer> for Peer {
    type Error = ConvertError;

    fn try_from(peer: v1::NetmapPeer) -> Result<Self, Self::Error> {
        let read = || -> Result<_, ConvertError> {
            Ok((
                peer_kind("NetmapPeer.kind", peer.kind)?,
                optional_key_from_bytes("NetmapPeer.node_key", &peer.node_key)?,
                convert_all(&peer.addresses, |t| parse_addr("NetmapPeer.addresses", t))?,
                convert_all(&peer.allowed_ips, |t| {
                    parse_prefix("NetmapPeer.allowed_ips", t)
                })?,
                convert_all(&peer.endpoints, |t| {
                    parse_endpoint("NetmapPeer.endpoints", t)
                })?,
            ))
        };
        let (kind, public_key, addresses, allowed_ips, endpoints) =
            read().map_err(|source| ConvertError::Peer {
                name: peer.name.clone(),
                source: Box::new(source),
            })?;
        Ok(Peer {
            name: peer.name,
            kind,
            public_key,
            addresses,
            allowed_ips,
            endpoints,
            tags: shrunk(peer.tags),
            owner: non_empty(peer.owner),
            home_relay: non_empty(peer.home_relay),
        })
    }
}

impl From<&PeerId> for v1::NetmapPeerRef {
    /// The peer's name and kind.
    fn from(id: &PeerId) -> Self {
        v1::NetmapPeerRef {
            name: id.name.clone(),
            kind: v1::PeerKind::from(id.kind).into(),
        }
    }
}

/// The peer's identity as cvlan-core keys it.
impl TryFrom<v1::NetmapPeerRef> for PeerId {
    type Error = ConvertError;

    fn try_from(id: v1::NetmapPeerRef) -> Result<Self, Self::Error> {
        Ok(PeerId {
            kind: peer_kind("NetmapPeerRef.kind", id.kind)?,
            name: id.name,
        })
    }
}

impl From<&RelayInfo> for v1::NetmapRelay {
    /// The relay; `stun_address` is left for the controller.
    fn from(relay: &RelayInfo) -> Self {
        v1::NetmapRelay {
            name: relay.name.clone(),
            region: relay.region.clone(),
            address: relay.address.clone(),
            public_key: optional_key_to_bytes(relay.public_key.as_ref()),
            stun_address: String::new(),
        }
    }
}

/// The relay as cvlan-core holds it.
impl TryFrom<v1::NetmapRelay> for RelayInfo {
    type Error = ConvertError;

    fn try_from(relay: v1::NetmapRelay) -> Result<Self, Self::Error> {
        Ok(RelayInfo {
            public_key: optional_key_from_bytes("NetmapRelay.public_key", &relay.public_key)?,
            name: relay.name,
            region: relay.region,
            address: relay.address,
        })
    }
}

impl From<&ControllerInfo> for v1::NetmapController {
    /// The controller's name, address and key.
    fn from(controller: &ControllerInfo) -> Self {
        v1::NetmapController {
            name: controller.name.clone(),
            address: controller.address.clone(),
            public_key: optional_key_to_bytes(controller.public_key.as_ref()),
        }
    }
}

/// The controller as cvlan-core holds it.
impl TryFrom<v1::NetmapController> for ControllerInfo {
    type Error = ConvertError;

    fn try_from(controller: v1::NetmapController) -> Result<Self, Self::Error> {
        Ok(ControllerInfo {
            public_key: optional_key_from_bytes(
                "NetmapController.public_key",
                &controller.public_key,
            )?,
            name: controller.name,
            address: controller.address,
        })
    }
}

impl From<&DnsRecord> for v1::DnsRecord {
    /// The name with its addresses.
    fn from(record: &DnsRecord) -> Self {
        v1::DnsRecord {
            name: record.name.clone(),
            addresses: to_strings(&record.addresses),
        }
    }
}

/// The record as cvlan-core holds it.
impl TryFrom<v1::DnsRecord> for DnsRecord {
    type Error = ConvertError;

    fn try_from(record: v1::DnsRecord) -> Result<Self, Self::Error> {
        Ok(DnsRecord {
            addresses: convert_all(record.addresses, |t| parse_addr("DnsRecord.addresses", &t))?,
            name: record.name,
        })
    }
}

impl From<RuleAction> for v1::PolicyAction {
    /// Allow or deny.
    fn from(action: RuleAction) -> Self {
        match action {
            RuleAction::Allow => v1::PolicyAction::Allow,
            RuleAction::Deny => v1::PolicyAction::Deny,
        }
    }
}

/// Reads `ResolvedPolicyRule.action`: unspecified is missing.
fn rule_action(value: i32) -> Result<RuleAction, ConvertError> {
    let field = "ResolvedPolicyRule.action";
    match known_enum(field, value)? {
        v1::PolicyAction::Allow => Ok(RuleAction::Allow),
        v1::PolicyAction::Deny => Ok(RuleAction::Deny),
        v1::PolicyAction::Unspecified => Err(ConvertError::Missing { field }),
    }
}

impl From<&ResolvedRule> for v1::ResolvedPolicyRule {
    /// The resolved rule with its services; the deprecated `protocol` and `ports` stay unset.
    /// An index past `u32::MAX` (4 billion rules) is sent as `u32::MAX`.
    fn from(rule: &ResolvedRule) -> Self {
        v1::ResolvedPolicyRule {
            name: rule.name.clone(),
            index: u32::try_from(rule.index).unwrap_or(u32::MAX),
            action: v1::PolicyAction::from(rule.action).into(),
            sources: to_strings(&rule.from),
            destinations: to_strings(&rule.to),
            services: rule.services.iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// The rule as cvlan-core holds it; errors name the rule. A rule setting the deprecated
/// `protocol` or `ports` is refused: read without them, its services would be wrong.
impl TryFrom<v1::ResolvedPolicyRule> for ResolvedRule {
    type Error = ConvertError;

    fn try_from(rule: v1::ResolvedPolicyRule) -> Result<Self, Self::Error> {
        let read = || -> Result<_, ConvertError> {
            refuse_written_services(&rule)?;
            Ok((
                rule_action(rule.action)?,
                convert_all(&rule.sources, |t| {
                    parse_prefix("ResolvedPolicyRule.sources", t)
                })?,
                convert_all(&rule.destinations, |t| {
                    parse_prefix("ResolvedPolicyRule.destinations", t)
                })?,
                convert_all(&rule.services, ServiceRange::try_from)?,
            ))
        };
        let (action, from, to, services) = read().map_err(|source| ConvertError::Rule {
            name: rule.name.clone(),
            source: Box::new(source),
        })?;
        Ok(ResolvedRule {
            name: rule.name,
            index: usize::try_from(rule.index).unwrap_or(usize::MAX),
            action,
            from,
            to,
            services,
        })
    }
}

/// Refuses a resolved rule that sets the deprecated written form of its services.
#[allow(deprecated)] // The deprecated fields are read only to refuse them.
fn refuse_written_services(rule: &v1::ResolvedPolicyRule) -> Result<(), ConvertError> {
    let reason = "deprecated, `services` replaces it";
    if rule.protocol != i32::from(v1::IpProtocol::Unspecified) {
        return Err(ConvertError::Unsupported {
            field: "ResolvedPolicyRule.protocol",
            reason,
        });
    }
    if !rule.ports.is_empty() {
        return Err(ConvertError::Unsupported {
            field: "ResolvedPolicyRule.ports",
            reason,
        });
    }
    Ok(())
}

impl From<&ServiceRange> for v1::ServiceRange {
    /// The protocol with its port range.
    fn from(range: &ServiceRange) -> Self {
        let protocol = match range.proto {
            IpProto::Tcp => v1::IpProtocol::Tcp,
            IpProto::Udp => v1::IpProtocol::Udp,
            IpProto::Icmp => v1::IpProtocol::Icmp,
        };
        v1::ServiceRange {
            protocol: protocol.into(),
            first: range.first.into(),
            last: range.last.into(),
        }
    }
}

/// The range as cvlan-core holds it: one protocol (TCP, UDP or ICMP), ports in order.
impl TryFrom<&v1::ServiceRange> for ServiceRange {
    type Error = ConvertError;

    fn try_from(range: &v1::ServiceRange) -> Result<Self, Self::Error> {
        let field = "ServiceRange.protocol";
        let proto = match known_enum(field, range.protocol)? {
            v1::IpProtocol::Tcp => IpProto::Tcp,
            v1::IpProtocol::Udp => IpProto::Udp,
            v1::IpProtocol::Icmp => IpProto::Icmp,
            v1::IpProtocol::Unspecified => return Err(ConvertError::Missing { field }),
            any @ v1::IpProtocol::Any => {
                return Err(ConvertError::Text {
                    field,
                    value: any.as_str_name().to_owned(),
                });
            }
        };
        let first = port("ServiceRange.first", range.first)?;
        let last = port("ServiceRange.last", range.last)?;
        if first > last {
            return Err(ConvertError::PortOrder {
                field: "ServiceRange",
                first,
                last,
            });
        }
        Ok(ServiceRange { proto, first, last })
    }
}

/// Reads an IPv4 prefix (an IPv6 one is refused).
fn parse_v4_net(field: &'static str, text: &str) -> Result<Ipv4Net, ConvertError> {
    match parse_prefix(field, text)? {
        IpNet::V4(net) => Ok(net),
        IpNet::V6(_) => Err(ConvertError::Text {
            field,
            value: text.to_owned(),
        }),
    }
}

/// Reads an IPv6 prefix (an IPv4 one is refused).
fn parse_v6_net(field: &'static str, text: &str) -> Result<Ipv6Net, ConvertError> {
    match parse_prefix(field, text)? {
        IpNet::V6(net) => Ok(net),
        IpNet::V4(_) => Err(ConvertError::Text {
            field,
            value: text.to_owned(),
        }),
    }
}

/// An optional text from a proto string: empty is none.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Converts every item into a list of exactly their number: a netmap of 100,000 peers lives
/// as long as it runs, so no list keeps spare capacity.
fn convert_all<P, T>(
    items: impl IntoIterator<Item = P, IntoIter: ExactSizeIterator>,
    mut convert: impl FnMut(P) -> Result<T, ConvertError>,
) -> Result<Vec<T>, ConvertError> {
    let items = items.into_iter();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(convert(item)?);
    }
    Ok(out)
}

/// A decoded list without spare capacity (see [`convert_all`]).
fn shrunk<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
}

#[cfg(test)]
mod tests;
