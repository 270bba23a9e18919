//! Netmaps as the controller computes them: the running revision's network with what
//! registration taught it (each registered node's key and reported endpoints), and every
//! registered node's map built from it with one shared policy index. A node that is not
//! registered, or whose key expired, has no key in the model, so no peer configures it.
//!
//! A revision is checked and indexed once ([`Compiled`]). A registry change then rebuilds only
//! the maps that show the nodes it changed ([`Generation::next`]): the peer classes say who
//! sees whom, and the other maps are shared with the previous generation.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cvlan_core::alloc::{Allocation, Entity};
use cvlan_core::netmap::{NetMap, NetMapBuilder, Peer, PeerKind};
use cvlan_schema::PublicKey;
use cvlan_schema::model::Network;

/// What the registry knows of one node that the netmaps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its name in network.kdl.
    pub name: String,
    /// Its WireGuard key, learnt at registration.
    pub node_key: PublicKey,
    /// Endpoints it reported (after the file's static ones).
    pub endpoints: Vec<SocketAddr>,
    /// True once its key expired or an operator expired it.
    pub expired: bool,
}

/// Why a revision cannot be turned into netmaps.
#[derive(Debug, thiserror::Error)]
pub enum NetmapsError {
    /// The revision's text does not check (it did when it was applied: the check changed).
    #[error("revision {revision} does not check: {message}")]
    Invalid {
        /// The revision.
        revision: u64,
        /// The first error.
        message: String,
    },
}

/// A node as network.kdl declares it: what registration checks and the node list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its overlay addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// The key the file gives it, which registration must match.
    pub public_key: Option<PublicKey>,
}

/// The running network as the netmaps read it: the checked file with no node keys (the
/// registry supplies them) and its addresses.
#[derive(Debug)]
struct Model {
    network: Network,
    allocation: Allocation,
}

self_cell::self_cell!(
    /// A [`Model`] with its policy index and peer classes, built once per revision.
    struct Built {
        owner: Model,
        #[covariant]
        dependent: NetMapBuilder,
    }
    impl {Debug}
);

/// A revision compiled once: its nodes, addresses, policy index and peer classes, shared by
/// every generation of that revision, so a registry change (a registration, a reported
/// endpoint, an expiry) rebuilds only the maps that show the nodes it changed.
#[derive(Debug)]
pub struct Compiled {
    revision: u64,
    key_expiry: Option<Duration>,
    declared: Arc<HashMap<String, Declared>>,
    built: Built,
}

impl Compiled {
    /// Checks revision `revision` (network.kdl `text`) and indexes it.
    pub fn new(revision: u64, text: &str) -> Result<Self, NetmapsError> {
        let report = cvlan_core::check(cvlan_schema::parse_network("network.kdl", text));
        let invalid = |message: String| NetmapsError::Invalid { revision, message };
        if let Some(first) = report.diagnostics.iter().find(|d| d.is_error()) {
            return Err(invalid(first.message.clone()));
        }
        let (Some(mut network), Some(allocation)) = (report.network, report.allocation) else {
            return Err(invalid("the file holds no network".to_owned()));
        };
        let declared = network
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let mut tags: Vec<String> = node.tags.iter().map(|t| t.value.clone()).collect();
                tags.sort_unstable();
                tags.dedup();
                let addresses = allocation.addresses(Entity::Node(i)).ips().collect();
                let public_key = node.public_key.map(|k| k.value);
                (
                    node.name.value.clone(),
                    Declared {
                        addresses,
                        tags,
                        public_key,
                    },
                )
            })
            .collect();
        // Keys come from the registry only: a node that never registered is no one's peer.
        for node in &mut network.nodes {
            node.public_key = None;
        }
        let key_expiry = network.key_expiry.map(|d| d.value);
        let built = Built::new(
            Model {
                network,
                allocation,
            },
            |m| NetMapBuilder::new(&m.network, &m.allocation),
        );
        Ok(Self {
            revision,
            key_expiry,
            declared: Arc::new(declared),
            built,
        })
    }

    /// The map of node `name` with the keys and reported endpoints of `registry` (the
    /// registered, unexpired nodes); nodes without a key left out.
    fn map(&self, name: &str, registry: &HashMap<String, Registered>) -> Option<NetMap> {
        let builder = self.built.borrow_dependent();
        let mut map = builder.netmap(builder.index().node(name)?);
        let learn = |peer: &mut Peer| {
            if let Some(r) = registry.get(&peer.name) {
                peer.public_key = Some(r.node_key);
                peer.endpoints.extend_from_slice(&r.endpoints);
            }
        };
        learn(&mut map.node);
        map.peers
            .iter_mut()
            .filter(|p| p.kind == PeerKind::Node)
            .for_each(learn);
        Some(without_keyless(map))
    }

    /// Node `name` and every node whose map may show it: the members of the peer classes it
    /// sees (the relation is symmetric).
    fn audience(&self, name: &str) -> Vec<String> {
        let builder = self.built.borrow_dependent();
        let Some(entity) = builder.index().node(name) else {
            return Vec::new();
        };
        let nodes = &builder.index().network().nodes;
        let visible = builder.visible();
        let mut names = vec![name.to_owned()];
        for class in visible.visible_classes(visible.class_of(entity)) {
            names.extend(visible.class_members(class).iter().filter_map(|e| match e {
                Entity::Node(i) => nodes.get(*i).map(|n| n.name.value.clone()),
                Entity::Vrouter(_) => None,
            }));
        }
        names
    }
}

/// One generation of netmaps: every registered node's map for a revision and registry state.
#[derive(Debug, Default)]
pub struct Generation {
    /// The network.kdl revision.
    pub revision: u64,
    /// The network's `key-expiry`, if its keys expire.
    pub key_expiry: Option<Duration>,
    /// Every node the file declares, by name.
    pub declared: Arc<HashMap<String, Declared>>,
    /// Each registered, unexpired node's map, by name.
    pub maps: HashMap<String, Arc<NetMap>>,
    /// How many of the hub's announced changes it includes
    /// ([`crate::serve::hub::Hub::changes`]); 0 until the hub publishes it.
    pub changes: u64,
    /// The revision, compiled (none before the first).
    compiled: Option<Arc<Compiled>>,
    /// The registered, unexpired nodes the maps were built with, by name.
    registry: HashMap<String, Registered>,
}

impl Generation {
    /// The map of `node`, when it is registered in this generation's network.
    pub fn map(&self, node: &str) -> Option<Arc<NetMap>> {
        self.maps.get(node).cloned()
    }

    /// The compiled revision, when this generation is of revision `revision`.
    pub fn compiled(&self, revision: u64) -> Option<Arc<Compiled>> {
        self.compiled.clone().filter(|c| c.revision == revision)
    }

    /// The generation for `compiled` and `registered` that follows this one. Of the same
    /// compiled revision, only the maps that show a node whose registration changed (its key,
    /// its endpoints, registered, expired, deleted) are rebuilt and the others shared;
    /// otherwise every map is built.
    pub fn next(&self, compiled: Arc<Compiled>, registered: &[Registered]) -> Generation {
        let same = self
            .compiled
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &compiled));
        if !same {
            return generation(compiled, registered);
        }
        let registry = active(registered);
        let changed = registry
            .keys()
            .chain(self.registry.keys())
            .filter(|name| registry.get(*name) != self.registry.get(*name));
        let mut affected: HashSet<String> = HashSet::new();
        for name in changed {
            affected.extend(compiled.audience(name));
        }
        let mut maps = self.maps.clone();
        for name in &affected {
            match registry
                .contains_key(name)
                .then(|| compiled.map(name, &registry))
                .flatten()
            {
                Some(map) => maps.insert(name.clone(), Arc::new(map)),
                None => maps.remove(name),
            };
        }
        Generation {
            maps,
            registry,
            ..of(compiled)
        }
    }
}

/// The registered nodes whose keys have not expired, by name.
fn active(registered: &[Registered]) -> HashMap<String, Registered> {
    registered
        .iter()
        .filter(|r| !r.expired)
        .map(|r| (r.name.clone(), r.clone()))
        .collect()
}

/// A generation of `compiled` with no maps yet.
fn of(compiled: Arc<Compiled>) -> Generation {
    Generation {
        revision: compiled.revision,
        key_expiry: compiled.key_expiry,
        declared: compiled.declared.clone(),
        compiled: Some(compiled),
        ..Generation::default()
    }
}

/// Every registered node's map of `compiled`: the whole computation, which a new revision
/// needs (and which [`Generation::next`] avoids for a registry change).
pub fn generation(compiled: Arc<Compiled>, registered: &[Registered]) -> Generation {
    let registry = active(registered);
    let maps = registry
        .keys()
        .filter_map(|name| Some((name.clone(), Arc::new(compiled.map(name, &registry)?))))
        .collect();
    Generation {
        maps,
        registry,
        ..of(compiled)
    }
}

/// `map` without the nodes that have no key (never registered, expired or deleted): they are
/// not peers, and their names do not resolve.
fn without_keyless(mut map: NetMap) -> NetMap {
    let domain = map.network.dns_domain.clone().unwrap_or_default();
    let gone: HashSet<String> = map
        .peers
        .iter()
        .filter(|p| p.kind == PeerKind::Node && p.public_key.is_none())
        .map(|p| format!("{}.{domain}", p.name))
        .collect();
    map.peers
        .retain(|p| p.kind != PeerKind::Node || p.public_key.is_some());
    map.dns_records.retain(|r| !gone.contains(&r.name));
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = r#"
network "lab" { overlay "100.64.0.0/10"; }
controller "ctl" address="127.0.0.1:7443" public-key="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
node "alpha" { endpoint "10.0.0.1:51820"; }
node "bravo"
node "carol"
policy { allow "all" from="*" to="*"; }
"#;

    fn compiled(text: &str) -> Arc<Compiled> {
        Arc::new(Compiled::new(1, text).unwrap())
    }

    fn registered(name: &str, byte: u8) -> Registered {
        Registered {
            name: name.to_owned(),
            node_key: PublicKey([byte; 32]),
            endpoints: vec![],
            expired: false,
        }
    }

    #[test]
    fn only_registered_nodes_get_maps_and_appear_with_their_keys() {
        let got = generation(
            compiled(NET),
            &[registered("alpha", 2), registered("bravo", 3)],
        );
        assert_eq!(got.maps.len(), 2);
        let alpha = got.map("alpha").unwrap();
        assert_eq!(alpha.node.public_key, Some(PublicKey([2; 32])));
        let peers: Vec<_> = alpha
            .peers
            .iter()
            .map(|p| (p.name.as_str(), p.public_key))
            .collect();
        assert_eq!(peers, [("bravo", Some(PublicKey([3; 32])))]);
        assert!(got.map("carol").is_none());
        assert_eq!(got.declared.len(), 3);
        assert_eq!(got.declared["carol"].addresses.len(), 1);
    }

    #[test]
    fn an_expired_node_leaves_its_peers_maps_and_reported_endpoints_reach_them() {
        let mut bravo = registered("bravo", 3);
        bravo.endpoints = vec!["192.0.2.7:51820".parse().unwrap()];
        let got = generation(compiled(NET), &[registered("alpha", 2), bravo.clone()]);
        let alpha = got.map("alpha").unwrap();
        let peer = alpha.peers.iter().find(|p| p.name == "bravo").unwrap();
        assert_eq!(peer.endpoints, bravo.endpoints);

        bravo.expired = true;
        let got = generation(compiled(NET), &[registered("alpha", 2), bravo]);
        let alpha = got.map("alpha").unwrap();
        assert!(alpha.peers.is_empty(), "{:?}", alpha.peers);
        assert!(got.map("bravo").is_none());
    }

    /// Two teams that see only their own members, and a monitor that sees everyone.
    const TEAMS: &str = r#"
network "lab" { overlay "100.64.0.0/10"; }
controller "ctl" address="127.0.0.1:7443" public-key="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
node "a1" { tags "a"; }
node "a2" { tags "a"; }
node "b1" { tags "b"; }
node "b2" { tags "b"; }
node "mon" { tags "mon"; }
policy {
    allow "a" from="tag:a" to="tag:a"
    allow "b" from="tag:b" to="tag:b"
    allow "mon" from="tag:mon" to="*" ports="9100/tcp"
}
"#;

    #[test]
    fn a_registry_change_rebuilds_the_maps_that_show_it_and_shares_the_others() {
        let compiled = compiled(TEAMS);
        let names = ["a1", "a2", "b1", "b2", "mon"];
        let mut nodes: Vec<Registered> = names
            .iter()
            .zip(1u8..)
            .map(|(n, b)| registered(n, b))
            .collect();
        let first = generation(compiled.clone(), &nodes);
        assert_eq!(first.maps.len(), 5);

        // a1 reports an endpoint: a1, a2 and mon see it; b1 and b2 keep their maps.
        nodes[0].endpoints = vec!["192.0.2.1:51820".parse().unwrap()];
        let next = first.next(compiled.clone(), &nodes);
        for name in names {
            let full = generation(compiled.clone(), &nodes);
            assert_eq!(
                next.maps[name], full.maps[name],
                "{name}: as a full recompute"
            );
        }
        for name in ["b1", "b2"] {
            assert!(
                Arc::ptr_eq(&next.maps[name], &first.maps[name]),
                "{name} shared"
            );
        }
        for name in ["a1", "a2", "mon"] {
            assert!(
                !Arc::ptr_eq(&next.maps[name], &first.maps[name]),
                "{name} rebuilt"
            );
        }
        let a2 = &next.maps["a2"];
        let seen = a2.peers.iter().find(|p| p.name == "a1").unwrap();
        assert_eq!(seen.endpoints, nodes[0].endpoints);

        // b2 expires: it leaves b1's and mon's maps and has none; a's are untouched.
        nodes[3].expired = true;
        let after = next.next(compiled.clone(), &nodes);
        assert!(after.map("b2").is_none());
        let b1: Vec<&str> = after.maps["b1"]
            .peers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(b1, ["mon"]);
        assert!(!after.maps["mon"].peers.iter().any(|p| p.name == "b2"));
        assert!(Arc::ptr_eq(&after.maps["a1"], &next.maps["a1"]));

        // A new revision is a full computation.
        let other = Arc::new(Compiled::new(2, TEAMS).unwrap());
        let full = after.next(other, &nodes);
        assert_eq!(full.revision, 2);
        assert!(!Arc::ptr_eq(&full.maps["a1"], &after.maps["a1"]));
        assert_eq!(full.maps["a1"], after.maps["a1"], "same file, same maps");
    }
}
