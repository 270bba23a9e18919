//! The live peer table every WatchPeers client reads: one copy of the rows per daemon, not one
//! per client, refreshed at most every [`REFRESH`] from the peers the engine saw change, with
//! a log of which rows changed at which version. A client holds only the version it has seen
//! and sends what moved since; a new client gets the table in chunks of [`CHUNK`] rows, so
//! neither a watched node with 100,000 quiet peers nor 100 clients attaching at once costs
//! more than the change and one chunk each. The rows are freed when the last watcher leaves.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cvlan_core::netmap::NetMap;
use cvlan_mesh::PublicKey;
use cvlan_proto::v1;
use tokio::sync::Mutex;

use super::peers::{Clock, joined, peer_row};
use crate::state::Shared;

/// The table is read from the engine at most this often, however many clients watch.
pub const REFRESH: Duration = Duration::from_millis(100);
/// Rows per message of a snapshot.
pub const CHUNK: usize = 1000;
/// The change log keeps at least this many entries (and at least one per row).
const MIN_LOG: usize = 1024;

/// The shared table (see the module documentation).
#[derive(Default)]
pub struct PeerTable {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Clients watching now; at zero the rows are dropped.
    watchers: usize,
    /// Rows by name, as of `version`.
    rows: BTreeMap<String, v1::Peer>,
    /// Bumped for every row that changes or goes away.
    version: u64,
    /// Every version after this one is in `log`: a client that saw less gets a snapshot.
    floor: u64,
    /// (version, name) of each change, oldest first.
    log: VecDeque<(u64, String)>,
    /// What the rows were read from.
    source: Source,
    /// When the engine was last read.
    refreshed: Option<Instant>,
}

/// Where the rows come from, so the next read can ask only for what changed.
#[derive(Default)]
struct Source {
    /// The device generation (a restart reads everything again).
    generation: Option<u64>,
    /// The netmap the rows were built from (a new one is compared in full).
    netmap: Option<Arc<NetMap>>,
    /// Index of each keyed peer in `netmap.peers`.
    by_key: HashMap<PublicKey, usize>,
    /// The engine time of the last read: the next asks for changes since.
    read_at: Option<Instant>,
}

/// What a client sends next.
pub enum Next {
    /// The whole table: send [`PeerTable::chunk`]s from the start; then it has seen `version`.
    Snapshot {
        /// The version the snapshot starts from.
        version: u64,
    },
    /// Rows that changed and names that went away since the client's version.
    Delta {
        /// The version the client has seen after this.
        version: u64,
        /// Changed or new rows, sorted by name.
        peers: Vec<v1::Peer>,
        /// Names gone.
        removed: Vec<String>,
    },
}

/// A watcher's registration: dropping it (the client's task ending, however it ends) frees
/// the rows when it was the last.
pub struct Watching(Arc<PeerTable>);

impl Drop for Watching {
    fn drop(&mut self) {
        let table = self.0.clone();
        // The lock is async; releasing it must not need the dropping task to wait.
        if let Ok(mut inner) = table.inner.try_lock() {
            inner.leave();
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { table.inner.lock().await.leave() });
        }
    }
}

impl PeerTable {
    /// Registers a watcher.
    pub async fn watch(self: &Arc<Self>) -> Watching {
        self.inner.lock().await.watchers += 1;
        Watching(self.clone())
    }

    /// Brings the table up to date (when not read within [`REFRESH`]) and says what a client
    /// that has seen `seen` should send.
    pub async fn next(&self, shared: &Shared, seen: Option<u64>) -> Next {
        let mut inner = self.inner.lock().await;
        if inner.refreshed.is_none_or(|t| t.elapsed() >= REFRESH) {
            inner.refresh(shared).await;
        }
        match seen {
            Some(seen) if seen >= inner.floor => inner.delta(seen),
            _ => Next::Snapshot {
                version: inner.version,
            },
        }
    }

    /// Up to [`CHUNK`] rows after `after` (from the first row with `None`).
    pub async fn chunk(&self, after: Option<&str>) -> Vec<v1::Peer> {
        let inner = self.inner.lock().await;
        let range = match after {
            Some(name) => inner
                .rows
                .range::<str, _>((Bound::Excluded(name), Bound::Unbounded)),
            None => inner.rows.range::<str, _>(..),
        };
        range.take(CHUNK).map(|(_, row)| row.clone()).collect()
    }
}

impl Inner {
    fn leave(&mut self) {
        self.watchers = self.watchers.saturating_sub(1);
        if self.watchers == 0 {
            let version = self.version;
            *self = Self {
                version,
                floor: version,
                ..Self::default()
            };
        }
    }

    fn delta(&self, seen: u64) -> Next {
        let mut names: Vec<&str> = self
            .log
            .iter()
            .rev()
            .take_while(|(v, _)| *v > seen)
            .map(|(_, name)| name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut peers = Vec::new();
        let mut removed = Vec::new();
        for name in names {
            match self.rows.get(name) {
                Some(row) => peers.push(row.clone()),
                None => removed.push(name.to_owned()),
            }
        }
        Next::Delta {
            version: self.version,
            peers,
            removed,
        }
    }

    /// Reads the engine (only the peers that changed, while the device and netmap stay the
    /// same) and records what differs.
    async fn refresh(&mut self, shared: &Shared) {
        let generation = shared.read().generation;
        let (running, mesh) = shared.running();
        let netmap = running.map(|r| r.netmap);
        let source = &mut self.source;
        let restarted = source.generation != Some(generation);
        let same_map = match (&source.netmap, &netmap) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        let incremental = !restarted && same_map && source.read_at.is_some();
        let stats = match (&mesh, source.read_at) {
            (Some(mesh), Some(since)) if incremental => mesh.stats_since(since).await.ok(),
            (Some(mesh), _) => mesh.stats().await.ok(),
            (None, _) => None,
        };
        if incremental && stats.is_none() {
            // The device is going away; the next refresh sees the new generation.
            return;
        }
        self.refreshed = Some(Instant::now());
        source.generation = Some(generation);
        source.read_at = stats.as_ref().map(|s| s.read_at);
        if !same_map {
            source.by_key = netmap.as_deref().map(key_index).unwrap_or_default();
            source.netmap = netmap;
        }
        let clock = Clock::now();
        let peers = source.netmap.as_deref().map_or(&[][..], |m| &m.peers[..]);
        let stats_peers = stats.as_ref().map_or(&[][..], |s| &s.peers[..]);
        let rows: Vec<v1::Peer> = if incremental {
            stats_peers
                .iter()
                .filter_map(|st| {
                    let p = peers.get(*source.by_key.get(&st.public_key)?)?;
                    Some(peer_row(p, Some(st), clock))
                })
                .collect()
        } else {
            joined(peers, stats_peers, clock)
        };
        if restarted {
            self.version += 1;
            self.floor = self.version;
            self.log.clear();
            self.rows = rows.into_iter().map(|p| (p.name.clone(), p)).collect();
            return;
        }
        if !incremental {
            let names: HashSet<&str> = rows.iter().map(|p| p.name.as_str()).collect();
            let gone: Vec<String> = self
                .rows
                .keys()
                .filter(|name| !names.contains(name.as_str()))
                .cloned()
                .collect();
            for name in gone {
                self.rows.remove(&name);
                self.record(name);
            }
        }
        for row in rows {
            if self.rows.get(&row.name) != Some(&row) {
                self.record(row.name.clone());
                self.rows.insert(row.name.clone(), row);
            }
        }
        let cap = self.rows.len().max(MIN_LOG);
        while self.log.len() > cap {
            if let Some((version, _)) = self.log.pop_front() {
                self.floor = version;
            }
        }
    }

    fn record(&mut self, name: String) {
        self.version += 1;
        self.log.push_back((self.version, name));
    }
}

/// Where each keyed peer sits in the netmap's peer list.
fn key_index(netmap: &NetMap) -> HashMap<PublicKey, usize> {
    netmap
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.public_key?, i)))
        .collect()
}
