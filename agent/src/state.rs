//! What every daemon knows about itself and shares between its source task, its reconciler
//! and its local API: who it is, its event bus, the source's health and the newest apply
//! attempt. Locks are held for copies only, never across an await.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use cvlan_types::PublicKey;

use crate::apply::{ApplyResult, Outcome};
use crate::events::EventBus;
use crate::live::LiveViews;
use crate::source::SourceStatus;

/// The agent's identity and health; a daemon keeps it in an `Arc` beside its own state.
#[derive(Debug)]
pub struct AgentState {
    /// The node or vrouter this daemon runs.
    pub name: String,
    /// Its WireGuard public key.
    pub public_key: PublicKey,
    /// When the daemon started.
    pub started_at: SystemTime,
    /// The event bus.
    pub events: Arc<EventBus>,
    /// The local API's live views, counted.
    pub live: Arc<LiveViews>,
    health: RwLock<Health>,
    /// Apply attempts since the daemon started, by outcome (in [`Outcome::ALL`] order).
    applies: [AtomicU64; 4],
}

#[derive(Debug)]
struct Health {
    source: SourceStatus,
    last_apply: Option<ApplyResult>,
}

impl AgentState {
    /// The state of `name`, following the source `source` describes, with nothing applied.
    pub fn new(name: &str, public_key: PublicKey, source: SourceStatus) -> Self {
        Self {
            name: name.to_owned(),
            public_key,
            started_at: SystemTime::now(),
            events: Arc::new(EventBus::default()),
            live: Arc::new(LiveViews::default()),
            health: RwLock::new(Health {
                source,
                last_apply: None,
            }),
            applies: Default::default(),
        }
    }

    /// The source as status shows it.
    pub fn source(&self) -> SourceStatus {
        self.read(|h| h.source.clone())
    }

    /// Changes the source's health.
    pub fn update_source<R>(&self, change: impl FnOnce(&mut SourceStatus) -> R) -> R {
        self.write(|h| change(&mut h.source))
    }

    /// The newest apply attempt.
    pub fn last_apply(&self) -> Option<ApplyResult> {
        self.read(|h| h.last_apply.clone())
    }

    /// Records an apply attempt as the newest, and counts it.
    pub fn set_last_apply(&self, result: ApplyResult) {
        self.applies[result.outcome.index()].fetch_add(1, Ordering::Relaxed);
        self.write(|h| h.last_apply = Some(result));
    }

    /// Apply attempts since the daemon started, per outcome.
    pub fn apply_counts(&self) -> [(Outcome, u64); 4] {
        Outcome::ALL.map(|o| (o, self.applies[o.index()].load(Ordering::Relaxed)))
    }

    fn read<R>(&self, f: impl FnOnce(&Health) -> R) -> R {
        // Every update replaces whole values: a poisoned lock holds a consistent state.
        f(&self
            .health
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write<R>(&self, f: impl FnOnce(&mut Health) -> R) -> R {
        f(&mut self
            .health
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
