//! The reference evaluator: every distinct selector of the policy resolved once into an
//! address set, every rule into selector ids and a service set, and a linear first-match scan
//! over the rules. It is deliberately the obvious implementation of network-kdl.md; faster
//! matchers are checked against it.

use crate::FastMap;
use std::net::IpAddr;

use cvlan_schema::model::{Action, Network, Selector, TestPort, Verdict};
use ipnet::IpNet;
use serde::Serialize;

use crate::addrset::{AddrSet, Ranges};
use crate::alloc::{Allocation, Entity};
use crate::policy::service::{ServiceSet, rule_services, service_point};

/// Index of a resolved selector in [`PolicyIndex::sets`].
pub type SetId = usize;

/// A packet as the policy sees it: source, destination, protocol and destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol and destination port.
    pub port: TestPort,
}

/// The outcome of evaluating one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Accept or reject.
    #[serde(serialize_with = "crate::policy::serialize_verdict")]
    pub verdict: Verdict,
    /// The index of the deciding rule in [`Network::rules`]; `None` for the default deny.
    pub rule: Option<usize>,
}

/// One selector resolved against the network.
#[derive(Debug, Clone)]
pub struct SelectorSet {
    /// The selector as written.
    pub selector: Selector,
    /// Every address it matches.
    pub addrs: AddrSet,
    /// For selectors that name nodes or vrouters (node, tag, group, user, vrouter): those
    /// entities, sorted. `None` for `*`, prefixes, `route:` and `ipsec:`.
    pub members: Option<Vec<Entity>>,
}

/// One rule with its selectors resolved.
#[derive(Debug, Clone)]
pub struct IndexedRule {
    /// Allow or deny.
    pub action: Action,
    /// The from selectors, as set ids, in the order written.
    pub from: Vec<SetId>,
    /// The to selectors, as set ids, in the order written.
    pub to: Vec<SetId>,
    /// The services the rule's proto and ports match.
    pub services: ServiceSet,
}

/// A network's policy resolved for evaluation; build once per network and allocation.
#[derive(Debug)]
pub struct PolicyIndex<'a> {
    network: &'a Network,
    allocation: &'a Allocation,
    nodes_by_name: FastMap<&'a str, usize>,
    vrouters_by_name: FastMap<&'a str, usize>,
    sets: Vec<SelectorSet>,
    rules: Vec<IndexedRule>,
}

impl<'a> PolicyIndex<'a> {
    /// Resolves every selector and rule of `network` with the addresses of `allocation`.
    pub fn new(network: &'a Network, allocation: &'a Allocation) -> Self {
        let nodes_by_name = network
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.value.as_str(), i))
            .collect();
        let vrouters_by_name = network
            .vrouters
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.value.as_str(), i))
            .collect();
        let mut index = Self {
            network,
            allocation,
            nodes_by_name,
            vrouters_by_name,
            sets: Vec::new(),
            rules: Vec::with_capacity(network.rules.len()),
        };
        let resolver = Resolver::new(&index);
        let mut ids: FastMap<&Selector, SetId> = FastMap::default();
        let mut sets = Vec::new();
        let mut id_of = |selector: &'a Selector| {
            *ids.entry(selector).or_insert_with(|| {
                sets.push(resolver.resolve(selector));
                sets.len() - 1
            })
        };
        let rules: Vec<IndexedRule> = network
            .rules
            .iter()
            .map(|rule| IndexedRule {
                action: rule.action,
                from: rule.from.iter().map(|s| id_of(&s.value)).collect(),
                to: rule.to.iter().map(|s| id_of(&s.value)).collect(),
                services: rule_services(
                    rule.proto.map(|p| p.value),
                    &rule.ports.iter().map(|p| p.value).collect::<Vec<_>>(),
                ),
            })
            .collect();
        index.sets = sets;
        index.rules = rules;
        index
    }

    /// The network this index was built from.
    pub fn network(&self) -> &'a Network {
        self.network
    }

    /// The allocation this index was built with.
    pub fn allocation(&self) -> &'a Allocation {
        self.allocation
    }

    /// Every distinct selector of the policy, resolved.
    pub fn sets(&self) -> &[SelectorSet] {
        &self.sets
    }

    /// The rules, in file order (parallel to [`Network::rules`]).
    pub fn rules(&self) -> &[IndexedRule] {
        &self.rules
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<Entity> {
        self.nodes_by_name.get(name).map(|&i| Entity::Node(i))
    }

    /// The vrouter with this name.
    pub fn vrouter(&self, name: &str) -> Option<Entity> {
        self.vrouters_by_name.get(name).map(|&i| Entity::Vrouter(i))
    }

    /// The prefixes an entity carries traffic for besides its own addresses: a node's routes,
    /// or the remote traffic selectors of a vrouter's IPsec peers.
    pub fn routed_prefixes(&self, entity: Entity) -> Vec<&'a IpNet> {
        match entity {
            Entity::Node(i) => self
                .network
                .nodes
                .get(i)
                .map_or_else(Vec::new, |n| n.routes.iter().map(|r| &r.value).collect()),
            Entity::Vrouter(i) => self.network.vrouters.get(i).map_or_else(Vec::new, |v| {
                v.peers
                    .iter()
                    .flat_map(|p| p.remote_ts.iter().map(|t| &t.value))
                    .collect()
            }),
        }
    }

    /// True when `addr` is in any of these sets.
    pub fn any_contains(&self, sets: &[SetId], addr: IpAddr) -> bool {
        sets.iter().any(|&s| self.sets[s].addrs.contains(addr))
    }

    /// The union of these sets.
    pub fn union_of(&self, sets: &[SetId]) -> AddrSet {
        match sets {
            [one] => self.sets[*one].addrs.clone(),
            _ => AddrSet {
                v4: Ranges::union_all(sets.iter().map(|&s| &self.sets[s].addrs.v4)),
                v6: Ranges::union_all(sets.iter().map(|&s| &self.sets[s].addrs.v6)),
            },
        }
    }

    /// Evaluates a packet: the first rule whose services, from and to all match decides.
    pub fn evaluate(&self, packet: &Packet) -> Decision {
        let point = service_point(packet.port);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.services.contains(point)
                && self.any_contains(&rule.from, packet.src)
                && self.any_contains(&rule.to, packet.dst)
            {
                let verdict = match rule.action {
                    Action::Allow => Verdict::Accept,
                    Action::Deny => Verdict::Reject,
                };
                return Decision {
                    verdict,
                    rule: Some(i),
                };
            }
        }
        Decision {
            verdict: Verdict::Reject,
            rule: None,
        }
    }
}

/// Lookups needed to resolve selectors: nodes by tag and by owner, group members.
struct Resolver<'i, 'a> {
    index: &'i PolicyIndex<'a>,
    by_tag: FastMap<&'a str, Vec<usize>>,
    by_owner: FastMap<&'a str, Vec<usize>>,
}

impl<'i, 'a> Resolver<'i, 'a> {
    fn new(index: &'i PolicyIndex<'a>) -> Self {
        let mut by_tag: FastMap<&str, Vec<usize>> = FastMap::default();
        let mut by_owner: FastMap<&str, Vec<usize>> = FastMap::default();
        for (i, node) in index.network.nodes.iter().enumerate() {
            for tag in &node.tags {
                by_tag.entry(tag.value.as_str()).or_default().push(i);
            }
            if let Some(owner) = &node.owner {
                by_owner.entry(owner.value.as_str()).or_default().push(i);
            }
        }
        Self {
            index,
            by_tag,
            by_owner,
        }
    }

    fn resolve(&self, selector: &Selector) -> SelectorSet {
        let network = self.index.network;
        let nodes = |list: Option<&Vec<usize>>| -> Vec<Entity> {
            list.map(|l| l.iter().map(|&i| Entity::Node(i)).collect())
                .unwrap_or_default()
        };
        let members: Option<Vec<Entity>> = match selector {
            Selector::Node(name) => Some(self.index.node(name).into_iter().collect()),
            Selector::Vrouter(name) => Some(self.index.vrouter(name).into_iter().collect()),
            Selector::Tag(tag) => Some(nodes(self.by_tag.get(tag.as_str()))),
            Selector::User(email) => Some(nodes(self.by_owner.get(email.as_str()))),
            Selector::Group(group) => {
                let mut all: Vec<Entity> = network
                    .group(group)
                    .map(|g| {
                        g.members
                            .iter()
                            .flat_map(|m| nodes(self.by_owner.get(m.value.as_str())))
                            .collect()
                    })
                    .unwrap_or_default();
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            Selector::Any | Selector::Ipsec(_) | Selector::Route(_) | Selector::Prefix(_) => None,
        };
        let addrs = match (&members, selector) {
            (Some(list), _) => AddrSet::from_addrs(
                list.iter()
                    .flat_map(|&e| self.index.allocation.addresses(e).ips()),
            ),
            (None, Selector::Any) => AddrSet::all(),
            (None, Selector::Prefix(net)) => AddrSet::from_nets([net]),
            (None, Selector::Route(name)) => self
                .index
                .nodes_by_name
                .get(name.as_str())
                .map(|&i| AddrSet::from_nets(network.nodes[i].routes.iter().map(|r| &r.value)))
                .unwrap_or_default(),
            (None, Selector::Ipsec(peer)) => network
                .ipsec_peer(peer)
                .map(|(_, p)| AddrSet::from_nets(p.remote_ts.iter().map(|t| &t.value)))
                .unwrap_or_default(),
            (None, _) => AddrSet::empty(),
        };
        SelectorSet {
            selector: selector.clone(),
            addrs,
            members,
        }
    }
}
