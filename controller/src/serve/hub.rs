//! The netmap hub: the newest generation of netmaps (running revision × registry), recomputed
//! when either changes, with changes coalesced in a short window; and what each node was sent
//! last, so a node that reconnects resumes with a delta from the version it holds.
//!
//! Streams read the newest generation from a `watch` channel: a node that reads slowly skips
//! the generations it missed and gets one delta from its last map to the newest, so it never
//! delays the others and never falls behind by more than one message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use cvlan_core::netmap::NetMap;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::{Notify, watch};

use crate::netmaps::{Compiled, Generation, NetmapsError, Registered};
use crate::store::AsyncStore;

/// How long a caller that needs the changes just made waits for their generation.
pub const UP_TO_DATE_WAIT: Duration = Duration::from_secs(2);

/// Changes that arrive within this window are computed together.
pub const COALESCE: Duration = Duration::from_millis(50);

/// What a node was sent last.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The version of that map.
    pub version: u64,
    /// The network.kdl revision it came from.
    pub revision: u64,
    /// The map.
    pub map: Arc<NetMap>,
}

/// The hub (see the module documentation).
pub struct Hub {
    store: AsyncStore,
    newest: watch::Sender<Arc<Generation>>,
    wake: Arc<Notify>,
    /// How many changes were announced; a generation says how many it includes.
    changes: AtomicU64,
    sent: Mutex<HashMap<String, Sent>>,
    online: Mutex<HashMap<String, usize>>,
    updates: Histogram,
}

/// The buckets of [`Hub::update_seconds`]: 5 ms to about 20 s, doubling.
fn update_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.005, 2.0, 13)
}

impl Hub {
    /// Computes the first generation and starts the task that recomputes on [`Hub::changed`];
    /// the task ends when the hub is dropped.
    pub async fn start(store: AsyncStore) -> Arc<Self> {
        let (newest, _) = watch::channel(Arc::new(Generation::default()));
        let hub = Arc::new(Self {
            store,
            newest,
            wake: Arc::new(Notify::new()),
            changes: AtomicU64::new(0),
            sent: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            updates: Histogram::new(update_buckets()),
        });
        hub.recompute().await;
        tokio::spawn(recompute_on_change(Arc::downgrade(&hub), hub.wake.clone()));
        hub
    }

    /// Says the revision or the registry changed: a new generation follows shortly.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// How many changes were announced so far: a generation whose
    /// [`Generation::changes`] is at least this includes all of them.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// The newest generation, and every one after it.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Generation>> {
        self.newest.subscribe()
    }

    /// The newest generation now.
    pub fn newest(&self) -> Arc<Generation> {
        self.newest.borrow().clone()
    }

    /// The newest generation once it includes every change announced so far (an apply or a
    /// registration just made), waiting at most [`UP_TO_DATE_WAIT`] for the recompute; after
    /// that, the newest there is.
    pub async fn up_to_date(&self) -> Arc<Generation> {
        let announced = self.changes();
        let mut generations = self.newest.subscribe();
        let _ = tokio::time::timeout(
            UP_TO_DATE_WAIT,
            generations.wait_for(|g| g.changes >= announced),
        )
        .await;
        self.newest()
    }

    /// What `node` was sent last.
    pub fn sent(&self, node: &str) -> Option<Sent> {
        lock(&self.sent).get(node).cloned()
    }

    /// Records what `node` was sent.
    pub fn record_sent(&self, node: &str, sent: Sent) {
        lock(&self.sent).insert(node.to_owned(), sent);
    }

    /// Forgets what `node` was sent (it was deleted: a new registration starts afresh).
    pub fn forget(&self, node: &str) {
        lock(&self.sent).remove(node);
    }

    /// Marks `node` online while the returned guard lives (one per stream).
    pub fn online(self: &Arc<Self>, node: &str) -> OnlineGuard {
        *lock(&self.online).entry(node.to_owned()).or_default() += 1;
        OnlineGuard {
            hub: Arc::downgrade(self),
            node: node.to_owned(),
        }
    }

    /// Nodes holding a netmap stream now, and the streams (a node may hold more than one
    /// for a moment while it reconnects).
    pub fn online_counts(&self) -> (usize, usize) {
        let online = lock(&self.online);
        (online.len(), online.values().sum())
    }

    /// How long changes took to reach published netmaps: from the first change of a
    /// coalescing window to its generation (shared: it keeps counting).
    pub fn update_seconds(&self) -> Histogram {
        self.updates.clone()
    }

    /// True while `node` holds a netmap stream.
    pub fn is_online(&self, node: &str) -> bool {
        lock(&self.online).get(node).is_some_and(|n| *n > 0)
    }

    /// Reads the running revision and the registry and publishes their generation (true);
    /// on failure the previous generation stays (false).
    async fn recompute(&self) -> bool {
        // Read before the store: every change counted here is in what is read next.
        let changes = self.changes();
        let read = self
            .store
            .call(|store| Ok((store.latest_revision()?, store.nodes()?)))
            .await;
        let (revision, nodes) = match read {
            Ok((Some(revision), nodes)) => (revision, nodes),
            Ok((None, _)) => return false,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the state for new netmaps");
                return false;
            }
        };
        let registered: Vec<Registered> = nodes
            .into_iter()
            .map(|n| Registered {
                name: n.registration.name,
                node_key: n.registration.node_key,
                endpoints: n.endpoints,
                expired: n.expired,
            })
            .collect();
        let id = u64::try_from(revision.info.id).unwrap_or_default();
        let previous = self.newest();
        let built = tokio::task::spawn_blocking(move || {
            // The same revision is reused as compiled: only the maps that show a change
            // are rebuilt.
            let compiled = match previous.compiled(id) {
                Some(compiled) => compiled,
                None => Arc::new(Compiled::new(id, &revision.text)?),
            };
            Ok::<_, NetmapsError>(previous.next(compiled, &registered))
        })
        .await;
        match built {
            Ok(Ok(mut generation)) => {
                generation.changes = changes;
                self.newest.send_replace(Arc::new(generation));
                return true;
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot compute netmaps"),
            Err(e) => tracing::error!(error = %e, "the netmap task failed"),
        }
        false
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Wakes the recompute task, which then finds the hub gone and ends.
        self.wake.notify_one();
    }
}

/// Recomputes after each change, once per coalescing window, while the hub lives.
async fn recompute_on_change(hub: Weak<Hub>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let since = Instant::now();
        tokio::time::sleep(COALESCE).await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        if hub.recompute().await {
            hub.updates.observe(since.elapsed().as_secs_f64());
        }
    }
}

/// Keeps a node online in the hub's count until dropped.
#[derive(Debug)]
pub struct OnlineGuard {
    hub: Weak<Hub>,
    node: String,
}

impl Drop for OnlineGuard {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            let mut online = lock(&hub.online);
            if let Some(n) = online.get_mut(&self.node) {
                *n -= 1;
                if *n == 0 {
                    online.remove(&self.node);
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
