//! The network map of one node (or vrouter): everything its daemon needs to configure the
//! mesh, and nothing it may not see. Self, the visible peers with their keys, addresses and
//! allowed IPs, relays, DNS, and the policy rules that can match its traffic, resolved to
//! prefixes. Deterministic (sorted) and serde-serializable, since cvland caches it on disk
//! and the controller streams it; [`delta`] gives the changes between two maps.

pub mod delta;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use cvlan_schema::PublicKey;
use cvlan_schema::model::{Action, Network};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::addrset::AddrSet;
use crate::alloc::{Allocation, Entity};
use crate::peers::{ClassId, VisiblePeers};
use crate::policy::PolicyIndex;
use crate::policy::service::{ServiceRange, service_ranges};

pub use delta::{Keyed, ListDelta, NetMapDelta, apply, diff};

/// Why a netmap cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetMapError {
    /// The network has no node of this name.
    #[error("network has no node named `{0}`")]
    UnknownNode(String),
}

/// Whether a peer is a mesh node or an IPsec vrouter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// A `node`.
    Node,
    /// A `vrouter`.
    Vrouter,
}

/// A node or vrouter as the mesh sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Its name.
    pub name: String,
    /// Node or vrouter.
    pub kind: PeerKind,
    /// Its WireGuard public key (none until a controller learns it).
    #[serde(with = "key_serde")]
    pub public_key: Option<PublicKey>,
    /// Its overlay addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// What it may send from and receive for: its addresses (as /32, /128), its routes, and
    /// for a vrouter its IPsec peers' remote traffic selectors.
    pub allowed_ips: Vec<IpNet>,
    /// Static endpoints, in file order.
    pub endpoints: Vec<SocketAddr>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Owning user.
    pub owner: Option<String>,
    /// Pinned home relay.
    pub home_relay: Option<String>,
}

/// The identity of a peer in a map: name, then kind (a node and a vrouter may share a name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerId {
    /// The name.
    pub name: String,
    /// Node or vrouter.
    pub kind: PeerKind,
}

/// A relay the node may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// Relay name.
    pub name: String,
    /// Region.
    pub region: String,
    /// `host:port` to connect to.
    pub address: String,
    /// The relay's key.
    #[serde(with = "key_serde")]
    pub public_key: Option<PublicKey>,
}

/// The network's controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerInfo {
    /// Controller name.
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Its static key.
    #[serde(with = "key_serde")]
    pub public_key: Option<PublicKey>,
}

/// Network-wide facts every map carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Network name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// IPv4 overlay.
    pub overlay: Ipv4Net,
    /// IPv6 overlay.
    pub overlay6: Option<Ipv6Net>,
    /// Default WireGuard port.
    pub listen_port: u16,
    /// DNS domain names resolve under.
    pub dns_domain: Option<String>,
    /// The controller, if the network has one.
    pub controller: Option<ControllerInfo>,
}

/// One DNS name the node resolves: `<name>.<domain>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Fully qualified name.
    pub name: String,
    /// Its addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
}

/// Allow or deny, in a resolved rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Accept matching packets.
    Allow,
    /// Drop matching packets.
    Deny,
}

/// A policy rule resolved for one node: addresses as prefixes (limited to the node and its
/// peers for selectors that name nodes), services as ranges. Order is first-match order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRule {
    /// Rule name (the hit counter key).
    pub name: String,
    /// The rule's position in the network's policy.
    pub index: usize,
    /// Allow or deny.
    pub action: RuleAction,
    /// Source prefixes.
    pub from: Vec<IpNet>,
    /// Destination prefixes.
    pub to: Vec<IpNet>,
    /// Protocol and port ranges.
    pub services: Vec<ServiceRange>,
}

/// Everything one node needs to know about its network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetMap {
    /// Network-wide facts.
    pub network: NetworkInfo,
    /// This node, as its peers see it.
    pub node: Peer,
    /// Its visible peers, sorted by name then kind.
    pub peers: Vec<Peer>,
    /// Relays, sorted by name.
    pub relays: Vec<RelayInfo>,
    /// DNS names of this node and its peers, sorted by name.
    pub dns_records: Vec<DnsRecord>,
    /// The rules that can match traffic between this node and its peers, in policy order.
    pub rules: Vec<ResolvedRule>,
}

/// Builds netmaps for many nodes of one network, sharing the policy index and peer classes,
/// and the resolved rules of each class whose members see each other (they are the same for
/// all of its members: the rules are limited to the same peers).
#[derive(Debug)]
pub struct NetMapBuilder<'a> {
    index: PolicyIndex<'a>,
    visible: VisiblePeers,
    class_rules: Mutex<HashMap<ClassId, Vec<ResolvedRule>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The netmap of the node named `node`.
pub fn netmap_for(
    network: &Network,
    allocation: &Allocation,
    node: &str,
) -> Result<NetMap, NetMapError> {
    let builder = NetMapBuilder::new(network, allocation);
    let entity = builder
        .index
        .node(node)
        .ok_or_else(|| NetMapError::UnknownNode(node.to_string()))?;
    Ok(builder.netmap(entity))
}

impl<'a> NetMapBuilder<'a> {
    /// Indexes the policy and computes the visible-peer classes once.
    pub fn new(network: &'a Network, allocation: &'a Allocation) -> Self {
        let index = PolicyIndex::new(network, allocation);
        let visible = VisiblePeers::new(&index);
        Self {
            index,
            visible,
            class_rules: Mutex::default(),
        }
    }

    /// The policy index.
    pub fn index(&self) -> &PolicyIndex<'a> {
        &self.index
    }

    /// The visible-peer relation.
    pub fn visible(&self) -> &VisiblePeers {
        &self.visible
    }

    /// The netmap of a node or vrouter.
    pub fn netmap(&self, entity: Entity) -> NetMap {
        let network = self.index.network();
        let class = self.visible.class_of(entity);
        let classes = self.visible.visible_classes(class);
        let mut peer_entities: Vec<Entity> = classes
            .iter()
            .flat_map(|&c| self.visible.class_members(c).iter().copied())
            .filter(|&e| e != entity)
            .collect();
        peer_entities.sort_unstable();
        let mut peers: Vec<Peer> = peer_entities.iter().map(|&e| self.peer(e)).collect();
        peers.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));

        // A class that sees itself: its members' peers plus themselves are the same set, and
        // so are their rules.
        let shared = classes.contains(&class);
        let cached = shared
            .then(|| lock(&self.class_rules).get(&class).cloned())
            .flatten();
        let rules = match cached {
            Some(rules) => rules,
            None => {
                let rules = self.rules(entity, class, &classes, &peer_entities);
                if shared {
                    lock(&self.class_rules).insert(class, rules.clone());
                }
                rules
            }
        };

        let mut relays: Vec<RelayInfo> = network
            .relays
            .iter()
            .map(|r| RelayInfo {
                name: r.name.value.clone(),
                region: r.region.value.clone(),
                address: r.address.value.to_string(),
                public_key: Some(r.public_key.value),
            })
            .collect();
        relays.sort_by(|a, b| a.name.cmp(&b.name));

        let node = self.peer(entity);
        let dns_records = dns_records(network, std::iter::once(&node).chain(&peers));
        NetMap {
            network: network_info(network),
            node,
            peers,
            relays,
            dns_records,
            rules,
        }
    }

    /// The rules of `entity` (of `class`, seeing `classes`) resolved to it and its `peers`.
    fn rules(
        &self,
        entity: Entity,
        class: ClassId,
        classes: &[ClassId],
        peers: &[Entity],
    ) -> Vec<ResolvedRule> {
        let network = self.index.network();
        let mut relevant = vec![false; network.nodes.len() + network.vrouters.len()];
        for &e in peers.iter().chain(std::iter::once(&entity)) {
            relevant[e.dense_index(network.nodes.len())] = true;
        }
        self.visible
            .rules_between(class, classes)
            .into_iter()
            .map(|r| self.resolved_rule(r, &relevant))
            .collect()
    }

    fn peer(&self, entity: Entity) -> Peer {
        let network = self.index.network();
        let mut addresses: Vec<IpAddr> = self.index.allocation().addresses(entity).ips().collect();
        addresses.shrink_to_fit();
        let mut allowed_ips: Vec<IpNet> = addresses.iter().map(|&a| IpNet::from(a)).collect();
        allowed_ips.extend(self.index.routed_prefixes(entity).into_iter().copied());
        // A netmap lives as long as it runs (100,000 peers): no spare capacity.
        allowed_ips.shrink_to_fit();
        match entity {
            Entity::Node(i) => {
                let n = &network.nodes[i];
                let mut tags: Vec<String> = n.tags.iter().map(|t| t.value.clone()).collect();
                tags.sort_unstable();
                tags.dedup();
                Peer {
                    name: n.name.value.clone(),
                    kind: PeerKind::Node,
                    public_key: n.public_key.map(|k| k.value),
                    addresses,
                    allowed_ips,
                    endpoints: n.endpoints.iter().map(|e| e.value).collect(),
                    tags,
                    owner: n.owner.as_ref().map(|o| o.value.clone()),
                    home_relay: n.home_relay.as_ref().map(|r| r.value.clone()),
                }
            }
            Entity::Vrouter(i) => {
                let v = &network.vrouters[i];
                Peer {
                    name: v.name.value.clone(),
                    kind: PeerKind::Vrouter,
                    public_key: v.public_key.map(|k| k.value),
                    addresses,
                    allowed_ips,
                    endpoints: Vec::new(),
                    tags: Vec::new(),
                    owner: None,
                    home_relay: None,
                }
            }
        }
    }

    /// Rule `r` with node-naming selectors limited to the `relevant` entities.
    fn resolved_rule(&self, r: usize, relevant: &[bool]) -> ResolvedRule {
        let network = self.index.network();
        let node_count = network.nodes.len();
        let rule = &self.index.rules()[r];
        let resolve = |sets: &[usize]| {
            let mut addrs = AddrSet::empty();
            for &s in sets {
                let set = &self.index.sets()[s];
                let part = match &set.members {
                    Some(members) => AddrSet::from_addrs(
                        members
                            .iter()
                            .filter(|e| relevant[e.dense_index(node_count)])
                            .flat_map(|&e| {
                                self.index
                                    .allocation()
                                    .addresses(e)
                                    .ips()
                                    .collect::<Vec<_>>()
                            }),
                    ),
                    None => set.addrs.clone(),
                };
                addrs = addrs.union(&part);
            }
            addrs.to_nets()
        };
        ResolvedRule {
            name: network.rules[r].name.value.clone(),
            index: r,
            action: match rule.action {
                Action::Allow => RuleAction::Allow,
                Action::Deny => RuleAction::Deny,
            },
            from: resolve(&rule.from),
            to: resolve(&rule.to),
            services: service_ranges(&rule.services),
        }
    }
}

fn network_info(network: &Network) -> NetworkInfo {
    NetworkInfo {
        name: network.name.value.clone(),
        tenant: network.tenant.value.clone(),
        overlay: network.overlay.value,
        overlay6: network.overlay6.map(|o| o.value),
        listen_port: network.listen_port.value,
        dns_domain: network.dns_domain.as_ref().map(|d| d.value.clone()),
        controller: network.controller.as_ref().map(|c| ControllerInfo {
            name: c.name.value.clone(),
            address: c.address.value.to_string(),
            public_key: Some(c.public_key.value),
        }),
    }
}

/// `<name>.<domain>` for each peer (a node and a vrouter of one name share the record).
fn dns_records<'p>(network: &Network, peers: impl Iterator<Item = &'p Peer>) -> Vec<DnsRecord> {
    let Some(domain) = &network.dns_domain else {
        return Vec::new();
    };
    let mut by_name: std::collections::BTreeMap<String, Vec<IpAddr>> =
        std::collections::BTreeMap::new();
    for p in peers {
        by_name
            .entry(format!("{}.{}", p.name, domain.value))
            .or_default()
            .extend(p.addresses.iter().copied());
    }
    by_name
        .into_iter()
        .map(|(name, mut addresses)| {
            addresses.sort_unstable_by_key(|a| (a.is_ipv6(), *a));
            addresses.dedup();
            DnsRecord { name, addresses }
        })
        .collect()
}

/// Serde for optional public keys as base64 strings.
mod key_serde {
    use cvlan_schema::PublicKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &Option<PublicKey>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(k) => s.serialize_some(&k.to_base64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PublicKey>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
