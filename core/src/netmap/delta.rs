//! Changes between two netmaps of one node: peers and DNS records as keyed add/remove/change
//! lists, every other part replaced whole when it changed. `apply(old, &diff(old, new)) == new`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::netmap::{DnsRecord, NetMap, NetworkInfo, Peer, PeerId, RelayInfo, ResolvedRule};

/// An item of a keyed, sorted list.
pub trait Keyed: Clone + PartialEq {
    /// What identifies the item; the list is sorted by it.
    type Key: Ord + Clone + Serialize + DeserializeOwned;
    /// The item's key.
    fn key(&self) -> Self::Key;
}

impl Keyed for Peer {
    type Key = PeerId;
    fn key(&self) -> PeerId {
        PeerId {
            name: self.name.clone(),
            kind: self.kind,
        }
    }
}

impl Keyed for DnsRecord {
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// The changes to a keyed list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct ListDelta<T: Keyed> {
    /// Items that are new.
    pub added: Vec<T>,
    /// Keys of items that are gone.
    pub removed: Vec<T::Key>,
    /// Items whose key stayed but whose content changed (the new content).
    pub changed: Vec<T>,
}

impl<T: Keyed> Default for ListDelta<T> {
    fn default() -> Self {
        Self {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        }
    }
}

impl<T: Keyed> ListDelta<T> {
    /// The changes from `old` to `new`.
    pub fn diff(old: &[T], new: &[T]) -> Self {
        let old_by_key: BTreeMap<T::Key, &T> = old.iter().map(|t| (t.key(), t)).collect();
        let new_by_key: BTreeMap<T::Key, &T> = new.iter().map(|t| (t.key(), t)).collect();
        let mut delta = Self::default();
        for (key, item) in &new_by_key {
            match old_by_key.get(key) {
                None => delta.added.push((*item).clone()),
                Some(before) if before != item => delta.changed.push((*item).clone()),
                Some(_) => {}
            }
        }
        delta.removed = old_by_key
            .keys()
            .filter(|k| !new_by_key.contains_key(*k))
            .cloned()
            .collect();
        delta
    }

    /// `list` with the changes applied, sorted by key.
    pub fn apply(&self, list: &[T]) -> Vec<T> {
        let mut by_key: BTreeMap<T::Key, T> = list.iter().map(|t| (t.key(), t.clone())).collect();
        for key in &self.removed {
            by_key.remove(key);
        }
        for item in self.added.iter().chain(&self.changed) {
            by_key.insert(item.key(), item.clone());
        }
        by_key.into_values().collect()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The changes from one netmap of a node to the next.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetMapDelta {
    /// The new network facts, when they changed.
    pub network: Option<NetworkInfo>,
    /// The node itself, when it changed.
    pub node: Option<Peer>,
    /// Peers added, removed and changed.
    pub peers: ListDelta<Peer>,
    /// The new relay list, when it changed.
    pub relays: Option<Vec<RelayInfo>>,
    /// DNS records added, removed and changed.
    pub dns_records: ListDelta<DnsRecord>,
    /// The new rule list, when it changed (order matters, so it is replaced whole).
    pub rules: Option<Vec<ResolvedRule>>,
}

impl NetMapDelta {
    /// True when the two maps were equal.
    pub fn is_empty(&self) -> bool {
        self.network.is_none()
            && self.node.is_none()
            && self.peers.is_empty()
            && self.relays.is_none()
            && self.dns_records.is_empty()
            && self.rules.is_none()
    }
}

fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<T> {
    (old != new).then(|| new.clone())
}

/// The changes that turn `old` into `new`.
pub fn diff(old: &NetMap, new: &NetMap) -> NetMapDelta {
    NetMapDelta {
        network: changed(&old.network, &new.network),
        node: changed(&old.node, &new.node),
        peers: ListDelta::diff(&old.peers, &new.peers),
        relays: changed(&old.relays, &new.relays),
        dns_records: ListDelta::diff(&old.dns_records, &new.dns_records),
        rules: changed(&old.rules, &new.rules),
    }
}

/// `old` with `delta` applied.
pub fn apply(old: &NetMap, delta: &NetMapDelta) -> NetMap {
    NetMap {
        network: delta.network.clone().unwrap_or_else(|| old.network.clone()),
        node: delta.node.clone().unwrap_or_else(|| old.node.clone()),
        peers: delta.peers.apply(&old.peers),
        relays: delta.relays.clone().unwrap_or_else(|| old.relays.clone()),
        dns_records: delta.dns_records.apply(&old.dns_records),
        rules: delta.rules.clone().unwrap_or_else(|| old.rules.clone()),
    }
}
