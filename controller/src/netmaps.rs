//! Netmaps as the controller computes them: the running revision's network with what
//! registration taught it (each registered node's key and reported endpoints), and every
//! registered node's map built from it with one shared policy index. A node that is not
//! registered, or whose key expired, has no key in the model, so no peer configures it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cvlan_core::alloc::Entity;
use cvlan_core::netmap::{NetMap, NetMapBuilder, PeerKind};
use cvlan_schema::{PublicKey, Span, Spanned};

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

/// One generation of netmaps: every registered node's map for a revision and registry state.
#[derive(Debug, Default)]
pub struct Generation {
    /// The network.kdl revision.
    pub revision: u64,
    /// The network's `key-expiry`, if its keys expire.
    pub key_expiry: Option<Duration>,
    /// Every node the file declares, by name.
    pub declared: HashMap<String, Declared>,
    /// Each registered, unexpired node's map, by name.
    pub maps: HashMap<String, Arc<NetMap>>,
    /// How many of the hub's announced changes it includes
    /// ([`crate::serve::hub::Hub::changes`]); 0 until the hub publishes it.
    pub changes: u64,
}

impl Generation {
    /// The map of `node`, when it is registered in this generation's network.
    pub fn map(&self, node: &str) -> Option<Arc<NetMap>> {
        self.maps.get(node).cloned()
    }
}

/// Computes the netmaps of revision `revision` (network.kdl `text`) for the `registered` nodes.
pub fn generation(
    revision: u64,
    text: &str,
    registered: &[Registered],
) -> Result<Generation, NetmapsError> {
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
    let key_expiry = network.key_expiry.map(|d| d.value);
    let by_name: HashMap<&str, &Registered> = registered
        .iter()
        .filter(|r| !r.expired)
        .map(|r| (r.name.as_str(), r))
        .collect();
    for node in &mut network.nodes {
        match by_name.get(node.name.value.as_str()) {
            Some(r) => {
                node.public_key = Some(Spanned::new(r.node_key, Span::default()));
                node.endpoints.extend(
                    r.endpoints
                        .iter()
                        .map(|e| Spanned::new(*e, Span::default())),
                );
            }
            None => node.public_key = None,
        }
    }
    let builder = NetMapBuilder::new(&network, &allocation);
    let mut maps = HashMap::with_capacity(by_name.len());
    for name in by_name.keys() {
        if let Some(entity) = builder.index().node(name) {
            maps.insert(
                (*name).to_owned(),
                Arc::new(without_keyless(builder.netmap(entity))),
            );
        }
    }
    Ok(Generation {
        revision,
        key_expiry,
        declared,
        maps,
        changes: 0,
    })
}

/// `map` without the nodes that have no key (never registered, expired or deleted): they are
/// not peers, and their names do not resolve.
fn without_keyless(mut map: NetMap) -> NetMap {
    let domain = map.network.dns_domain.clone().unwrap_or_default();
    let gone: Vec<String> = map
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
        let got = generation(1, NET, &[registered("alpha", 2), registered("bravo", 3)]).unwrap();
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
        let got = generation(1, NET, &[registered("alpha", 2), bravo.clone()]).unwrap();
        let alpha = got.map("alpha").unwrap();
        let peer = alpha.peers.iter().find(|p| p.name == "bravo").unwrap();
        assert_eq!(peer.endpoints, bravo.endpoints);

        bravo.expired = true;
        let got = generation(1, NET, &[registered("alpha", 2), bravo]).unwrap();
        let alpha = got.map("alpha").unwrap();
        assert!(alpha.peers.is_empty(), "{:?}", alpha.peers);
        assert!(got.map("bravo").is_none());
    }
}
