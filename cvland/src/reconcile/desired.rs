//! From a reading of the source to what the mesh should run, without IO: check the files
//! (parse, validate, policy-tests), compute this node's netmap, and derive the device's
//! addresses and the peer set the mesh is given.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use cvlan_agent::Rejection;
use cvlan_agent::source::{Compile, Fetched, NetmapReading, Reading};
use cvlan_core::netmap::{NetMap, netmap_for};
use cvlan_core::plan::Plan;
use cvlan_mesh::{PeerConfig, PublicKey};
use cvlan_schema::report::{JsonDiagnostic, render_line, to_json};
use ipnet::IpNet;

use crate::policy::PolicyModel;

/// Keepalive towards peers with an endpoint, from a node that has none of its own (it is
/// probably behind NAT: the keepalives keep its mappings open so peers can reach it).
pub const NAT_KEEPALIVE_SECONDS: u16 = 25;

/// A valid desired state for this node.
#[derive(Debug, Clone)]
pub struct Desired {
    /// This node's netmap, shared by the compile step's memory of it and the running state.
    pub netmap: Arc<NetMap>,
    /// The revision it comes from.
    pub revision: String,
    /// Warnings found in the files (a valid file may have some).
    pub diagnostics: Vec<JsonDiagnostic>,
    /// The network the map was computed from (explain and policy-tests read it); `None` for
    /// the cached netmap.
    pub model: Option<Arc<PolicyModel>>,
}

/// The source task's compile step for `node`: [`desired_state`], remembered for the newest
/// revision (the same files give the same answer, so a touch or a reload costs no new check).
pub fn compiler(node: &str) -> Compile<Desired> {
    let node = node.to_owned();
    let newest: Mutex<Option<(String, Result<Desired, Rejection>)>> = Mutex::new(None);
    Arc::new(move |fetched: Fetched| {
        let reading = match fetched {
            Fetched::Files(reading) => *reading,
            Fetched::Netmap(reading) => return from_controller(reading, &node),
        };
        let mut newest = newest.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((revision, result)) = newest.as_ref()
            && *revision == reading.revision
        {
            return result.clone();
        }
        let revision = reading.revision.clone();
        let result = desired_state(reading, &node);
        *newest = Some((revision, result.clone()));
        result
    })
}

/// The desired state of a netmap a controller computed for `node` (already checked there):
/// refused only when it is another node's map.
pub fn from_controller(reading: NetmapReading, node: &str) -> Result<Desired, Rejection> {
    if reading.netmap.node.name != node {
        return Err(Rejection::invalid(
            format!(
                "the controller sent the netmap of `{}` (this host is node `{node}` in cvland.kdl)",
                reading.netmap.node.name
            ),
            Vec::new(),
        ));
    }
    Ok(Desired {
        netmap: reading.netmap,
        revision: reading.revision,
        diagnostics: Vec::new(),
        model: None,
    })
}

/// Checks a reading and computes the netmap of `node` from it.
pub fn desired_state(reading: Reading, node: &str) -> Result<Desired, Rejection> {
    let report = cvlan_core::check(reading.checked);
    let diagnostics = to_json(&report.sources, &report.diagnostics);
    let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    if let Some(first) = errors.first() {
        let message = format!(
            "{} error{} (first: {})",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            render_line(&report.sources, first).trim_end()
        );
        return Err(Rejection::invalid(message, diagnostics));
    }
    let (Some(network), Some(allocation)) = (report.network, report.allocation) else {
        return Err(Rejection::invalid(
            "the file holds no network".to_owned(),
            diagnostics,
        ));
    };
    match netmap_for(&network, &allocation, node) {
        Ok(netmap) => Ok(Desired {
            netmap: Arc::new(netmap),
            revision: reading.revision,
            diagnostics,
            model: Some(Arc::new(PolicyModel {
                network,
                allocation,
            })),
        }),
        Err(e) => Err(Rejection::invalid(
            format!("{e} (this host is node `{node}` in cvland.kdl)"),
            diagnostics,
        )),
    }
}

/// The TUN's addresses: the node's overlay addresses with the overlay's prefix lengths (the
/// whole overlay is then on-link through the TUN).
pub fn device_addresses(map: &NetMap) -> Vec<IpNet> {
    map.node
        .addresses
        .iter()
        .filter_map(|addr| {
            let len = match addr {
                std::net::IpAddr::V4(_) => map.network.overlay.prefix_len(),
                std::net::IpAddr::V6(_) => map.network.overlay6?.prefix_len(),
            };
            IpNet::new(*addr, len).ok()
        })
        .collect()
}

/// The peer set for the mesh: every peer with a key (other than this node's own), its allowed
/// IPs, its first static endpoint, and a keepalive when this node publishes no endpoint.
pub fn peer_configs(map: &NetMap, own: &PublicKey) -> Vec<PeerConfig> {
    let behind_nat = map.node.endpoints.is_empty();
    map.peers
        .iter()
        .filter_map(|peer| {
            let key = peer.public_key.filter(|k| k != own)?;
            let mut config = PeerConfig::new(key, peer.allowed_ips.iter().copied());
            if let Some(endpoint) = peer.endpoints.first() {
                config = config.with_endpoint(*endpoint);
                if behind_nat {
                    config = config.with_keepalive(NAT_KEEPALIVE_SECONDS);
                }
            }
            Some(config)
        })
        .collect()
}

/// The map as seen before anything ran: no addresses, peers, rules, relays or names, so
/// planning against it lists everything a first start sets up.
pub fn nothing_like(map: &NetMap) -> NetMap {
    let mut empty = map.clone();
    empty.node.addresses.clear();
    empty.peers.clear();
    empty.rules.clear();
    empty.relays.clear();
    empty.dns_records.clear();
    empty
}

/// One line summing up a plan: counts per action kind (`1 device.restart, 2 peer.add`).
pub fn summary(plan: &Plan) -> String {
    if plan.is_empty() {
        return "no changes".to_owned();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for action in &plan.actions {
        *counts.entry(action.kind()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_schema::parse_network;

    const NET: &str = r#"
network "lab" { overlay "100.64.0.0/10"; overlay6 "fd7a:115c:a1e0::/48"; }
node "alpha" { public-key "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; endpoint "198.51.100.10:51820"; }
node "bravo" { public-key "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; endpoint "198.51.100.11:51820"; routes "10.9.0.0/16"; }
node "carol" { public-key "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="; }
policy { allow "all" from="*" to="*"; }
"#;

    fn fetched(text: &str) -> Reading {
        Reading {
            revision: "r1".into(),
            checked: parse_network("network.kdl", text),
        }
    }

    #[test]
    fn a_valid_file_gives_the_nodes_netmap_and_peer_set() {
        let d = desired_state(fetched(NET), "carol").unwrap();
        assert_eq!(d.revision, "r1");
        let own = PublicKey([3; 32]);
        let peers = peer_configs(&d.netmap, &own);
        assert_eq!(peers.len(), 2);
        let bravo = peers
            .iter()
            .find(|p| p.public_key == PublicKey([2; 32]))
            .unwrap();
        assert_eq!(bravo.endpoint, Some("198.51.100.11:51820".parse().unwrap()));
        assert_eq!(bravo.persistent_keepalive, Some(NAT_KEEPALIVE_SECONDS));
        assert!(bravo.allowed_ips.contains(&"10.9.0.0/16".parse().unwrap()));
        let addrs = device_addresses(&d.netmap);
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[0].prefix_len(), 10);
        assert_eq!(addrs[1].prefix_len(), 48);
        // alpha publishes an endpoint of its own: no keepalives from it.
        let a = desired_state(fetched(NET), "alpha").unwrap();
        let peers = peer_configs(&a.netmap, &PublicKey([1; 32]));
        assert!(peers.iter().all(|p| p.persistent_keepalive.is_none()));
        assert!(
            peers.iter().any(|p| p.endpoint.is_none()),
            "carol has no endpoint"
        );
    }

    #[test]
    fn invalid_files_and_unknown_nodes_are_rejected_with_diagnostics() {
        let bad = NET.replace("to=\"*\"", "to=\"tag:nope\"");
        let r = desired_state(fetched(&bad), "alpha").unwrap_err();
        assert!(
            r.message
                .starts_with("1 error (first: network.kdl:6:31: error[cvlan::unknown-selector]"),
            "{}",
            r.message
        );
        assert_eq!(r.diagnostics[0].code, "cvlan::unknown-selector");
        assert!(r.diagnostics[0].line > 0);
        let r = desired_state(fetched(NET), "zulu").unwrap_err();
        assert!(r.message.contains("zulu"), "{}", r.message);
    }

    #[test]
    fn a_first_start_plans_the_device_and_every_peer() {
        let d = desired_state(fetched(NET), "alpha").unwrap();
        let plan = cvlan_core::plan::plan(&d.netmap, &nothing_like(&d.netmap));
        assert!(plan.restarts_device());
        assert_eq!(
            summary(&plan),
            "1 device.restart, 2 peer.add, 1 policy.update"
        );
        assert_eq!(plan.apply(&nothing_like(&d.netmap)), *d.netmap);
    }
}
