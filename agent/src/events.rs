//! The daemon's event bus: every event gets the next sequence number and a time, goes into a
//! bounded ring buffer (for replay to late subscribers), out to live subscribers, and into
//! the log at its level. [`EventBus::subscribe`] takes the replay and the live receiver under
//! one lock, so a subscriber sees every event once, in order, with no gap between the two.
//! The types are the agent's own; `wire` turns them into API messages.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::broadcast;

/// How much an event matters (and the log level it is written at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventLevel {
    /// Detail for debugging.
    Debug,
    /// Something happened as it should.
    Info,
    /// Worth an operator's attention; the daemon carries on.
    Warn,
    /// Something failed; the previous good state keeps running.
    Error,
}

/// One event: `kind` is dotted (`peer.added`), `fields` never hold secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number on this bus (0 for the synthetic `events.lost`).
    pub seq: u64,
    /// When it happened.
    pub time: SystemTime,
    /// Its kind, e.g. `apply.applied`.
    pub kind: String,
    /// How much it matters.
    pub level: EventLevel,
    /// One line for people.
    pub message: String,
    /// Machine-readable details.
    pub fields: BTreeMap<String, String>,
}

/// Where a subscription's replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No replay: live events only.
    Now,
    /// Buffered events after this sequence number.
    AfterSeq(u64),
    /// The newest `n` buffered events.
    Last(u32),
    /// Buffered events at or after this time.
    Since(SystemTime),
}

/// What a subscriber asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Where the replay starts.
    pub start: Start,
    /// Kinds selected (empty: all; `peer` selects `peer.*`).
    pub kinds: Vec<String>,
    /// Keep sending live events after the replay.
    pub follow: bool,
}

/// Events kept for replay.
pub const RING_CAPACITY: usize = 1024;

/// Events queued per live subscriber before it starts losing them (then told with
/// `events.lost`).
const LIVE_CAPACITY: usize = 1024;

/// The bus; share it in an `Arc`.
#[derive(Debug)]
pub struct EventBus {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Event>,
}

#[derive(Debug)]
struct Ring {
    events: VecDeque<Event>,
    capacity: usize,
    next_seq: u64,
}

/// What a subscriber gets: buffered events to send first, then (when following) live ones.
#[derive(Debug)]
pub struct Subscription {
    /// Buffered events selected by the request's `start` and `kinds`, oldest first.
    pub replay: Vec<Event>,
    /// Live events from right after the replay, when the request follows.
    pub live: Option<broadcast::Receiver<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(RING_CAPACITY)
    }
}

impl EventBus {
    /// A bus that keeps the newest `capacity` events for replay.
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity.min(RING_CAPACITY)),
                capacity: capacity.max(1),
                next_seq: 1,
            }),
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    /// Publishes an event of `kind` ("peer.added") at `level` with `fields` (never secrets).
    pub fn publish<'a>(
        &self,
        kind: &str,
        level: EventLevel,
        message: impl Into<String>,
        fields: impl IntoIterator<Item = (&'a str, String)>,
    ) {
        let fields: BTreeMap<String, String> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let message = message.into();
        log(kind, level, &message, &fields);
        let mut ring = self.lock();
        let event = Event {
            seq: ring.next_seq,
            time: SystemTime::now(),
            kind: kind.to_owned(),
            level,
            message,
            fields,
        };
        ring.next_seq += 1;
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // No live subscriber is fine: the ring keeps it.
        let _ = self.live.send(event);
    }

    /// The replay and live feed `request` asks for.
    pub fn subscribe(&self, request: &Query) -> Subscription {
        let ring = self.lock();
        let buffered = ring
            .events
            .iter()
            .filter(|e| matches(&request.kinds, &e.kind));
        let replay: Vec<Event> = match request.start {
            Start::Now => Vec::new(),
            Start::AfterSeq(after) => buffered.filter(|e| e.seq > after).cloned().collect(),
            Start::Last(n) => {
                let all: Vec<&Event> = buffered.collect();
                let skip = all.len().saturating_sub(n as usize);
                all.into_iter().skip(skip).cloned().collect()
            }
            Start::Since(since) => buffered.filter(|e| e.time >= since).cloned().collect(),
        };
        let live = request.follow.then(|| self.live.subscribe());
        Subscription { replay, live }
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent (every update is
        // a push or pop), so a poisoned lock is still usable.
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// True when `kind` is selected by `kinds`: empty selects all; an entry selects itself and
/// every kind below it ("peer" selects "peer.added").
pub fn matches(kinds: &[String], kind: &str) -> bool {
    kinds.is_empty()
        || kinds.iter().any(|k| {
            kind == k || (kind.starts_with(k.as_str()) && kind[k.len()..].starts_with('.'))
        })
}

/// The `events.lost` event a live subscriber gets after missing `count` events.
pub fn lost(count: u64) -> Event {
    Event {
        seq: 0,
        time: SystemTime::now(),
        kind: "events.lost".to_owned(),
        level: EventLevel::Warn,
        message: format!("{count} events were lost: this client read too slowly"),
        fields: [("count".to_owned(), count.to_string())]
            .into_iter()
            .collect(),
    }
}

fn log(kind: &str, level: EventLevel, message: &str, fields: &BTreeMap<String, String>) {
    let fields = fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    match level {
        EventLevel::Error => tracing::error!(kind, %fields, "{message}"),
        EventLevel::Warn => tracing::warn!(kind, %fields, "{message}"),
        EventLevel::Info => tracing::info!(kind, %fields, "{message}"),
        EventLevel::Debug => tracing::debug!(kind, %fields, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus_with(kinds: &[&str], capacity: usize) -> EventBus {
        let bus = EventBus::new(capacity);
        for kind in kinds {
            bus.publish(kind, EventLevel::Info, *kind, [("k", "v".to_owned())]);
        }
        bus
    }

    fn request(start: Start, kinds: &[&str], follow: bool) -> Query {
        Query {
            start,
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            follow,
        }
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn replay_honours_start_and_kinds_and_the_ring_is_bounded() {
        let bus = bus_with(
            &["peer.added", "apply.applied", "peer.removed", "peerless.x"],
            3,
        );
        // The ring kept the newest three: 2, 3, 4.
        let all = bus.subscribe(&request(Start::Last(100), &[], false));
        assert_eq!(seqs(&all.replay), [2, 3, 4]);
        assert!(all.live.is_none());
        let last = bus.subscribe(&request(Start::Last(1), &[], false));
        assert_eq!(seqs(&last.replay), [4]);
        let after = bus.subscribe(&request(Start::AfterSeq(2), &[], false));
        assert_eq!(seqs(&after.replay), [3, 4]);
        let peers = bus.subscribe(&request(Start::Last(100), &["peer"], false));
        assert_eq!(
            seqs(&peers.replay),
            [3],
            "`peer` selects peer.*, not peerless.*"
        );
        let future = SystemTime::now() + std::time::Duration::from_secs(60);
        let since = bus.subscribe(&request(Start::Since(future), &[], false));
        assert!(since.replay.is_empty());
        let none = bus.subscribe(&request(Start::Now, &[], false));
        assert!(none.replay.is_empty());
        assert_eq!(bus.next_seq(), 5);
    }

    #[tokio::test]
    async fn a_follower_gets_the_replay_then_live_events_without_a_gap() {
        let bus = bus_with(&["a.one"], 16);
        let mut sub = bus.subscribe(&request(Start::Last(10), &[], true));
        bus.publish("a.two", EventLevel::Warn, "two", []);
        assert_eq!(seqs(&sub.replay), [1]);
        let live = sub.live.as_mut().unwrap().recv().await.unwrap();
        assert_eq!((live.seq, live.kind.as_str()), (2, "a.two"));
        assert_eq!(live.level, EventLevel::Warn);
    }

    #[test]
    fn kind_selection() {
        assert!(matches(&[], "x.y"));
        let k = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(matches(&k(&["peer"]), "peer.added"));
        assert!(matches(&k(&["peer.added"]), "peer.added"));
        assert!(!matches(&k(&["peer.add"]), "peer.added"));
        assert!(!matches(&k(&["apply"]), "peer.added"));
        assert_eq!(lost(7).fields.get("count").map(String::as_str), Some("7"));
    }
}
