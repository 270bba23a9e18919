//! Reconciliation plans: what must change on a node to turn the netmap it runs into the one it
//! should run. [`plan`] is pure; the daemon applies a [`Plan`] to the mesh (touching only what
//! it names) and [`Plan::apply`] is the same change on the map itself, so applying a plan and
//! planning again gives an empty plan. [`network`] plans a whole network file against another
//! (`cvlanctl plan --against`).

pub mod network;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use cvlan_schema::PublicKey;
use ipnet::IpNet;

use crate::netmap::{DnsRecord, ListDelta, NetMap, NetworkInfo, Peer, PeerId, PeerKind, RelayInfo};

/// The actions that turn the running netmap into the desired one; empty when nothing differs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The actions, device first, then network and node facts, peers (by name), policy,
    /// relays and DNS.
    pub actions: Vec<Action>,
}

/// One change to a running node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The node's overlay addresses, the overlay prefixes or the listen port changed: the
    /// device (TUN and UDP socket) is brought up again with every peer.
    RestartDevice {
        /// What forces the restart, for people ("addresses 100.64.0.1 -> 100.64.0.5").
        reasons: Vec<String>,
        /// The node as it should be.
        node: Peer,
        /// The network facts as they should be.
        network: NetworkInfo,
    },
    /// Network facts that need no restart changed (name, tenant, DNS domain, controller).
    UpdateNetwork(NetworkInfo),
    /// Facts about the node itself that need no restart changed (tags, owner, endpoints,
    /// key as listed in the file).
    UpdateNode(Peer),
    /// A peer appears.
    AddPeer(Peer),
    /// A peer disappears.
    RemovePeer {
        /// Which peer.
        id: PeerId,
        /// The key it had, if any.
        public_key: Option<PublicKey>,
    },
    /// A peer's allowed IPs, endpoints or descriptive facts change in place: its WireGuard
    /// session and traffic continue.
    UpdatePeer {
        /// The peer as it should be.
        peer: Peer,
        /// What changed, for people.
        changes: Vec<String>,
    },
    /// A peer's public key changed: a new session with a new handshake.
    RekeyPeer {
        /// The peer as it should be (with its new key).
        peer: Peer,
        /// The key it had.
        old_key: Option<PublicKey>,
    },
    /// The resolved policy rules changed (replaced whole: order matters).
    SetRules(Vec<crate::netmap::ResolvedRule>),
    /// The relay list changed.
    SetRelays(Vec<RelayInfo>),
    /// DNS records changed.
    UpdateDns(ListDelta<DnsRecord>),
}

/// The plan that turns `actual` (what runs) into `desired`.
pub fn plan(desired: &NetMap, actual: &NetMap) -> Plan {
    let mut actions = Vec::new();
    let reasons = restart_reasons(desired, actual);
    if !reasons.is_empty() {
        actions.push(Action::RestartDevice {
            reasons,
            node: desired.node.clone(),
            network: desired.network.clone(),
        });
    } else {
        if desired.network != actual.network {
            actions.push(Action::UpdateNetwork(desired.network.clone()));
        }
        if desired.node != actual.node {
            actions.push(Action::UpdateNode(desired.node.clone()));
        }
    }
    peer_actions(desired, actual, &mut actions);
    if desired.rules != actual.rules {
        actions.push(Action::SetRules(desired.rules.clone()));
    }
    if desired.relays != actual.relays {
        actions.push(Action::SetRelays(desired.relays.clone()));
    }
    let dns = ListDelta::diff(&actual.dns_records, &desired.dns_records);
    if !dns.is_empty() {
        actions.push(Action::UpdateDns(dns));
    }
    Plan { actions }
}

/// What about the node forces the device to restart (empty: nothing).
fn restart_reasons(desired: &NetMap, actual: &NetMap) -> Vec<String> {
    let mut reasons = Vec::new();
    if desired.node.addresses != actual.node.addresses {
        reasons.push(format!(
            "addresses {} -> {}",
            list(&actual.node.addresses),
            list(&desired.node.addresses)
        ));
    }
    let (d, a) = (&desired.network, &actual.network);
    if d.overlay != a.overlay || d.overlay6 != a.overlay6 {
        reasons.push(format!(
            "overlay {} -> {}",
            overlays(a.overlay.into(), a.overlay6.map(Into::into)),
            overlays(d.overlay.into(), d.overlay6.map(Into::into))
        ));
    }
    if d.listen_port != a.listen_port {
        reasons.push(format!(
            "listen-port {} -> {}",
            a.listen_port, d.listen_port
        ));
    }
    reasons
}

fn peer_actions(desired: &NetMap, actual: &NetMap, actions: &mut Vec<Action>) {
    let delta = ListDelta::diff(&actual.peers, &desired.peers);
    // Indexed once: a search per changed peer is quadratic (10,000 retagged peers of 100,000
    // took seconds).
    let before: HashMap<(&str, PeerKind), &Peer> =
        if delta.removed.is_empty() && delta.changed.is_empty() {
            HashMap::new()
        } else {
            actual
                .peers
                .iter()
                .map(|p| ((p.name.as_str(), p.kind), p))
                .collect()
        };
    let old = |id: &PeerId| before.get(&(id.name.as_str(), id.kind)).copied();
    let mut peer_actions: Vec<(PeerId, Action)> = Vec::new();
    for peer in delta.added {
        peer_actions.push((crate::netmap::Keyed::key(&peer), Action::AddPeer(peer)));
    }
    for id in delta.removed {
        let public_key = old(&id).and_then(|p| p.public_key);
        peer_actions.push((id.clone(), Action::RemovePeer { id, public_key }));
    }
    for peer in delta.changed {
        let id = crate::netmap::Keyed::key(&peer);
        let Some(before) = old(&id) else { continue };
        let action = if before.public_key != peer.public_key {
            Action::RekeyPeer {
                old_key: before.public_key,
                peer,
            }
        } else {
            Action::UpdatePeer {
                changes: peer_changes(before, &peer),
                peer,
            }
        };
        peer_actions.push((id, action));
    }
    peer_actions.sort_by(|a, b| a.0.cmp(&b.0));
    actions.extend(peer_actions.into_iter().map(|(_, a)| a));
}

/// What differs between two versions of one peer with the same key.
fn peer_changes(before: &Peer, after: &Peer) -> Vec<String> {
    let mut changes = Vec::new();
    if before.addresses != after.addresses {
        changes.push(format!(
            "addresses {} -> {}",
            list(&before.addresses),
            list(&after.addresses)
        ));
    }
    let (added, removed) = set_difference(&before.allowed_ips, &after.allowed_ips);
    if !added.is_empty() || !removed.is_empty() {
        let mut parts: Vec<String> = added.iter().map(|n| format!("+{n}")).collect();
        parts.extend(removed.iter().map(|n| format!("-{n}")));
        changes.push(format!("allowed-ips {}", parts.join(" ")));
    }
    if before.endpoints != after.endpoints {
        changes.push(format!(
            "endpoints {} -> {}",
            endpoints(&before.endpoints),
            endpoints(&after.endpoints)
        ));
    }
    if before.tags != after.tags {
        changes.push(format!(
            "tags {} -> {}",
            list(&before.tags),
            list(&after.tags)
        ));
    }
    if before.owner != after.owner {
        changes.push(format!(
            "owner {} -> {}",
            before.owner.as_deref().unwrap_or("-"),
            after.owner.as_deref().unwrap_or("-")
        ));
    }
    if before.home_relay != after.home_relay {
        changes.push(format!(
            "home-relay {} -> {}",
            before.home_relay.as_deref().unwrap_or("-"),
            after.home_relay.as_deref().unwrap_or("-")
        ));
    }
    changes
}

fn set_difference(before: &[IpNet], after: &[IpNet]) -> (Vec<IpNet>, Vec<IpNet>) {
    let added = after
        .iter()
        .filter(|n| !before.contains(n))
        .copied()
        .collect();
    let removed = before
        .iter()
        .filter(|n| !after.contains(n))
        .copied()
        .collect();
    (added, removed)
}

impl Plan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// True when the plan restarts the device.
    pub fn restarts_device(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::RestartDevice { .. }))
    }

    /// True when the peer set (keys, allowed IPs, endpoints) the mesh runs changes.
    pub fn changes_peers(&self) -> bool {
        self.actions.iter().any(|a| {
            matches!(
                a,
                Action::AddPeer(_)
                    | Action::RemovePeer { .. }
                    | Action::UpdatePeer { .. }
                    | Action::RekeyPeer { .. }
            )
        })
    }

    /// `actual` with every action applied: the netmap that runs once the plan is carried out.
    pub fn apply(&self, actual: &NetMap) -> NetMap {
        let mut map = actual.clone();
        for action in &self.actions {
            match action {
                Action::RestartDevice { node, network, .. } => {
                    map.node = node.clone();
                    map.network = network.clone();
                }
                Action::UpdateNetwork(network) => map.network = network.clone(),
                Action::UpdateNode(node) => map.node = node.clone(),
                Action::AddPeer(peer)
                | Action::UpdatePeer { peer, .. }
                | Action::RekeyPeer { peer, .. } => upsert(&mut map.peers, peer),
                Action::RemovePeer { id, .. } => map
                    .peers
                    .retain(|p| !(p.name == id.name && p.kind == id.kind)),
                Action::SetRules(rules) => map.rules = rules.clone(),
                Action::SetRelays(relays) => map.relays = relays.clone(),
                Action::UpdateDns(delta) => map.dns_records = delta.apply(&map.dns_records),
            }
        }
        map
    }
}

/// Replaces or inserts `peer`, keeping the list sorted by name then kind.
fn upsert(peers: &mut Vec<Peer>, peer: &Peer) {
    let key = (&peer.name, peer.kind);
    match peers.binary_search_by(|p| (&p.name, p.kind).cmp(&key)) {
        Ok(i) => peers[i] = peer.clone(),
        Err(i) => peers.insert(i, peer.clone()),
    }
}

impl Action {
    /// A stable dotted name for scripts and events: `device.restart`, `network.update`,
    /// `node.update`, `peer.add`, `peer.remove`, `peer.update`, `peer.rekey`,
    /// `policy.update`, `relays.update`, `dns.update`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RestartDevice { .. } => "device.restart",
            Action::UpdateNetwork(_) => "network.update",
            Action::UpdateNode(_) => "node.update",
            Action::AddPeer(_) => "peer.add",
            Action::RemovePeer { .. } => "peer.remove",
            Action::UpdatePeer { .. } => "peer.update",
            Action::RekeyPeer { .. } => "peer.rekey",
            Action::SetRules(_) => "policy.update",
            Action::SetRelays(_) => "relays.update",
            Action::UpdateDns(_) => "dns.update",
        }
    }

    /// The peer (or node) the action is about; empty for network-wide actions.
    pub fn target(&self) -> &str {
        match self {
            Action::RestartDevice { node, .. } | Action::UpdateNode(node) => &node.name,
            Action::AddPeer(peer)
            | Action::UpdatePeer { peer, .. }
            | Action::RekeyPeer { peer, .. } => &peer.name,
            Action::RemovePeer { id, .. } => &id.name,
            Action::UpdateNetwork(_)
            | Action::SetRules(_)
            | Action::SetRelays(_)
            | Action::UpdateDns(_) => "",
        }
    }

    /// The sign a plan line starts with: `+` add, `-` remove, `~` change, `!` new session
    /// or restart.
    pub fn sign(&self) -> char {
        match self {
            Action::AddPeer(_) => '+',
            Action::RemovePeer { .. } => '-',
            Action::RestartDevice { .. } | Action::RekeyPeer { .. } => '!',
            _ => '~',
        }
    }
}

impl fmt::Display for Action {
    /// One line for people, without the sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RestartDevice { reasons, .. } => {
                write!(f, "restart the device: {}", reasons.join("; "))
            }
            Action::UpdateNetwork(n) => write!(
                f,
                "network {} (tenant {}, dns {})",
                n.name,
                n.tenant,
                n.dns_domain.as_deref().unwrap_or("-")
            ),
            Action::UpdateNode(node) => write!(f, "this node {}: {}", node.name, describe(node)),
            Action::AddPeer(peer) => write!(f, "peer {}: {}", peer.name, describe(peer)),
            Action::RemovePeer { id, public_key } => {
                write!(f, "peer {}", id.name)?;
                if let Some(key) = public_key {
                    write!(f, " (key {})", short_key(key))?;
                }
                Ok(())
            }
            Action::UpdatePeer { peer, changes } => {
                write!(f, "peer {}: {}", peer.name, changes.join("; "))
            }
            Action::RekeyPeer { peer, old_key } => write!(
                f,
                "peer {}: key {} -> {} (new session)",
                peer.name,
                old_key.as_ref().map_or("-".to_owned(), short_key),
                peer.public_key.as_ref().map_or("-".to_owned(), short_key)
            ),
            Action::SetRules(rules) => {
                let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
                write!(f, "policy: {} rules ({})", rules.len(), names.join(", "))
            }
            Action::SetRelays(relays) => {
                let names: Vec<&str> = relays.iter().map(|r| r.name.as_str()).collect();
                write!(f, "relays: {}", list(&names))
            }
            Action::UpdateDns(delta) => write!(
                f,
                "dns: {} added, {} removed, {} changed",
                delta.added.len(),
                delta.removed.len(),
                delta.changed.len()
            ),
        }
    }
}

impl fmt::Display for Plan {
    /// One line per action (`+ peer carol: …`), or `no changes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty() {
            return writeln!(f, "no changes");
        }
        for action in &self.actions {
            writeln!(f, "{} {action}", action.sign())?;
        }
        Ok(())
    }
}

/// A peer in one phrase: addresses, key, endpoints, routes.
fn describe(peer: &Peer) -> String {
    let mut text = list(&peer.addresses);
    let routes: Vec<&IpNet> = peer
        .allowed_ips
        .iter()
        .filter(|n| !peer.addresses.iter().any(|a| IpNet::from(*a) == **n))
        .collect();
    if !routes.is_empty() {
        text.push_str(&format!(", routes {}", list(&routes)));
    }
    match &peer.public_key {
        Some(key) => text.push_str(&format!(", key {}", short_key(key))),
        None => text.push_str(", no key yet"),
    }
    if !peer.endpoints.is_empty() {
        text.push_str(&format!(", endpoint {}", endpoints(&peer.endpoints)));
    }
    text
}

/// The first 8 characters of a key's base64 form and an ellipsis.
fn short_key(key: &PublicKey) -> String {
    let mut text = key.to_base64();
    text.truncate(8);
    text.push('…');
    text
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn endpoints(items: &[SocketAddr]) -> String {
    list(items)
}

fn overlays(v4: IpNet, v6: Option<IpNet>) -> String {
    match v6 {
        Some(v6) => format!("{v4} {v6}"),
        None => v4.to_string(),
    }
}
