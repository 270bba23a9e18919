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

/// A peer set being applied in parts ([`Engine::begin_peer_set`]).
#[derive(Debug, Default)]
pub struct PeerSetJob {
    changes: PeerSetChanges,
    order: Vec<PeerIdx>,
    routes_dirty: bool,
}

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
        let keys: Vec<PublicKey> = desired.iter().map(|p| p.public_key).collect();
        let mut job = self.begin_peer_set(&keys)?;
        self.upsert_peers(&mut job, desired);
        Ok(self.finish_peer_set(job))
    }

    /// [`Engine::set_peers`] in parts, for sets too big to apply between two packets: checks
    /// the desired `keys` (in their order) and removes the peers not among them. Then
    /// [`Engine::upsert_peers`] takes the configurations part by part, in that order, and
    /// [`Engine::finish_peer_set`] rebuilds the routes. Until then, new peers get no traffic.
    pub fn begin_peer_set(&mut self, keys: &[PublicKey]) -> Result<PeerSetJob, PeerSetError> {
        let wanted = self.validate(keys)?;
        let mut job = PeerSetJob::default();
        let mut gone: Vec<PublicKey> = self
            .by_key
            .keys()
            .filter(|k| !wanted.contains(*k))
            .copied()
            .collect();
        gone.sort();
        job.routes_dirty = !gone.is_empty();
        for key in gone {
            if let Some(idx) = self.by_key.remove(&key) {
                self.peers.remove(&idx);
                self.warm.remove(&idx);
            }
            job.changes.removed.push(key);
        }
        // Grown once, not by doubling: a rehash moves every peer (100,000 of them at once).
        let new = keys
            .iter()
            .filter(|k| !self.by_key.contains_key(*k))
            .count();
        self.peers.reserve(new);
        self.by_key.reserve(new);
        job.order.reserve(keys.len());
        Ok(job)
    }

    /// Adds or updates the peers of `part` (the next configurations of the set `job` began).
    pub fn upsert_peers(&mut self, job: &mut PeerSetJob, part: Vec<PeerConfig>) {
        for config in part {
            let key = config.public_key;
            let existing = self.by_key.get(&key).copied();
            let idx = match existing.and_then(|idx| self.peers.get_mut(&idx)) {
                Some(peer) if peer.config.preshared_key != config.preshared_key => {
                    let old = peer.idx;
                    self.peers.remove(&old);
                    self.warm.remove(&old);
                    job.changes.rekeyed.push(key);
                    job.routes_dirty = true;
                    self.add_peer(config)
                }
                Some(peer) => {
                    if update_in_place(peer, config, &mut job.routes_dirty) {
                        job.changes.updated.push(key);
                        if peer.keeps_alive() {
                            self.warm.insert(peer.idx);
                        }
                    }
                    peer.idx
                }
                None => {
                    job.changes.added.push(key);
                    job.routes_dirty = true;
                    self.add_peer(config)
                }
            };
            job.order.push(idx);
        }
    }

    /// Ends the set `job` began: routes follow the peers now configured.
    pub fn finish_peer_set(&mut self, job: PeerSetJob) -> PeerSetChanges {
        if job.routes_dirty {
            self.rebuild_routes(&job.order);
        }
        job.changes
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

    /// Checks the set's keys (not this node's, none twice, not too many); the keys as a set.
    fn validate(&self, keys: &[PublicKey]) -> Result<HashSet<PublicKey>, PeerSetError> {
        if keys.len() > MAX_PEER_IDX as usize {
            return Err(PeerSetError::TooManyPeers(keys.len()));
        }
        let mut seen = HashSet::with_capacity(keys.len());
        for key in keys {
            if *key == self.public_key {
                return Err(PeerSetError::OwnKey(*key));
            }
            if !seen.insert(*key) {
                return Err(PeerSetError::DuplicateKey(*key));
            }
        }
        Ok(seen)
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
