//! Applying a desired peer set as a diff, and changing the node's private key.
//!
//! Added keys get a new tunnel; removed keys lose theirs; allowed IPs, static endpoint and
//! keepalive change in place, so the WireGuard session (and traffic) of a peer survives any
//! change that does not touch its key or pre-shared key.

use std::collections::HashSet;

use cvlan_types::PublicKey;

use super::peer::Peer;
use super::{Engine, new_rate_limiter};
use crate::PrivateKey;
use crate::config::{PeerConfig, PeerSetChanges};
use crate::filter::PacketFilter;
use crate::routing::{CryptokeyRoutes, PeerIdx};

/// Session indices carry the peer in their top 24 bits.
const MAX_PEER_IDX: PeerIdx = (1 << 24) - 1;

/// Why a desired peer set was refused (the running set is left as it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerSetError {
    /// The set names this node's own key.
    #[error("peer set contains this node's own public key {0}")]
    OwnKey(PublicKey),
    /// The same key appears twice.
    #[error("public key {0} appears more than once in the peer set")]
    DuplicateKey(PublicKey),
    /// More peers than session indices (2^24 - 1).
    #[error("{0} peers is more than the engine can index")]
    TooManyPeers(usize),
}

impl<F: PacketFilter> Engine<F> {
    /// Makes the running peers exactly `desired`, touching only what differs.
    ///
    /// When two peers claim the same prefix, the later one in `desired` owns it.
    pub fn set_peers(&mut self, desired: Vec<PeerConfig>) -> Result<PeerSetChanges, PeerSetError> {
        self.validate(&desired)?;
        let mut changes = PeerSetChanges::default();
        let wanted: HashSet<PublicKey> = desired.iter().map(|p| p.public_key).collect();
        let mut gone: Vec<PublicKey> = self
            .by_key
            .keys()
            .filter(|k| !wanted.contains(*k))
            .copied()
            .collect();
        gone.sort();
        let mut routes_dirty = !gone.is_empty();
        for key in gone {
            if let Some(idx) = self.by_key.remove(&key) {
                self.peers.remove(&idx);
                self.warm.remove(&idx);
            }
            changes.removed.push(key);
        }
        let mut order = Vec::with_capacity(desired.len());
        for config in desired {
            let key = config.public_key;
            let existing = self.by_key.get(&key).copied();
            let idx = match existing.and_then(|idx| self.peers.get_mut(&idx)) {
                Some(peer) if peer.config.preshared_key != config.preshared_key => {
                    let old = peer.idx;
                    self.peers.remove(&old);
                    self.warm.remove(&old);
                    changes.rekeyed.push(key);
                    routes_dirty = true;
                    self.add_peer(config)
                }
                Some(peer) => {
                    if update_in_place(peer, config, &mut routes_dirty) {
                        changes.updated.push(key);
                        if peer.keeps_alive() {
                            self.warm.insert(peer.idx);
                        }
                    }
                    peer.idx
                }
                None => {
                    changes.added.push(key);
                    routes_dirty = true;
                    self.add_peer(config)
                }
            };
            order.push(idx);
        }
        if routes_dirty {
            self.rebuild_routes(&order);
        }
        Ok(changes)
    }

    /// Replaces the node's private key; every peer keeps its configuration but must
    /// handshake again (sessions are bound to the old key).
    pub fn set_private_key(&mut self, key: PrivateKey) {
        let public = key.public_key();
        self.rate_limiter = new_rate_limiter(&public);
        let x_public = x25519_dalek::PublicKey::from(public.0);
        for peer in self.peers.values_mut() {
            if let Some(tunn) = peer.existing_tunnel() {
                tunn.set_static_private(
                    key.secret().clone(),
                    x_public,
                    Some(self.rate_limiter.clone()),
                );
            }
            peer.last_handshake = None;
        }
        self.key = key;
        self.public_key = public;
    }

    fn validate(&self, desired: &[PeerConfig]) -> Result<(), PeerSetError> {
        if desired.len() > MAX_PEER_IDX as usize {
            return Err(PeerSetError::TooManyPeers(desired.len()));
        }
        let mut seen = HashSet::with_capacity(desired.len());
        for peer in desired {
            if peer.public_key == self.public_key {
                return Err(PeerSetError::OwnKey(peer.public_key));
            }
            if !seen.insert(peer.public_key) {
                return Err(PeerSetError::DuplicateKey(peer.public_key));
            }
        }
        Ok(())
    }

    fn add_peer(&mut self, config: PeerConfig) -> PeerIdx {
        let idx = self.allocate_idx();
        let key = config.public_key;
        let peer = Peer::new(config, idx);
        if peer.keeps_alive() {
            self.warm.insert(idx);
        }
        self.peers.insert(idx, peer);
        self.by_key.insert(key, idx);
        idx
    }

    /// The next free index, moving forward so a removed peer's index is not reused soon.
    fn allocate_idx(&mut self) -> PeerIdx {
        loop {
            let idx = self.next_idx;
            self.next_idx = if idx >= MAX_PEER_IDX { 1 } else { idx + 1 };
            if !self.peers.contains_key(&idx) {
                return idx;
            }
        }
    }

    fn rebuild_routes(&mut self, order: &[PeerIdx]) {
        let mut routes = CryptokeyRoutes::default();
        for idx in order {
            if let Some(peer) = self.peers.get(idx) {
                for net in &peer.config.allowed_ips {
                    routes.insert(*net, *idx);
                }
            }
        }
        self.routes = routes;
    }
}

/// Applies a same-key, same-PSK configuration; true if anything changed.
fn update_in_place(peer: &mut Peer, config: PeerConfig, routes_dirty: &mut bool) -> bool {
    let old = &peer.config;
    if *old == config {
        return false;
    }
    if old.allowed_ips != config.allowed_ips {
        *routes_dirty = true;
    }
    if old.endpoint != config.endpoint && config.endpoint.is_some() {
        peer.endpoint = config.endpoint;
    }
    peer.config = config;
    true
}
