//! The daemon's event log: numbered events kept in a bounded buffer for replay and broadcast
//! to live watchers (`WatchEvents`). Events say what happened in one line for people and in
//! fields for scripts; they never carry a secret.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use cvlan_proto::v1::{self, EventLevel, watch_events_request::Start};
use tokio::sync::broadcast;

/// Events kept for replay.
const BUFFER: usize = 1024;
/// Events queued per live watcher before it starts losing them.
const LIVE_QUEUE: usize = 1024;

/// Shared, cloneable event log.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<v1::Event>,
}

struct Inner {
    next_seq: u64,
    buffer: VecDeque<v1::Event>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                next_seq: 1,
                buffer: VecDeque::with_capacity(BUFFER),
            })),
            live: broadcast::channel(LIVE_QUEUE).0,
        }
    }
}

/// A live subscription: the replayed events first, then `live` (skip what was replayed).
pub struct Subscription {
    /// Buffered events selected by the request's start.
    pub replay: Vec<v1::Event>,
    /// Live events from the moment of subscribing.
    pub live: broadcast::Receiver<v1::Event>,
    /// The highest sequence number in `replay`'s window (live events at or below it repeat).
    pub replayed_up_to: u64,
}

impl EventLog {
    /// Records an event and sends it to live watchers.
    pub fn push(
        &self,
        kind: &str,
        level: EventLevel,
        message: impl Into<String>,
        fields: impl IntoIterator<Item = (&'static str, String)>,
    ) {
        let message = message.into();
        match level {
            EventLevel::Error | EventLevel::Warn => tracing::warn!(kind, "{message}"),
            EventLevel::Debug => tracing::debug!(kind, "{message}"),
            _ => tracing::info!(kind, "{message}"),
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let event = v1::Event {
            seq: inner.next_seq,
            time: Some(SystemTime::now().into()),
            kind: kind.to_owned(),
            level: level.into(),
            message,
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        };
        inner.next_seq += 1;
        if inner.buffer.len() == BUFFER {
            inner.buffer.pop_front();
        }
        inner.buffer.push_back(event.clone());
        // Nobody listening is fine.
        let _ = self.live.send(event);
    }

    /// The buffered events `start` selects, and a receiver of every later one.
    pub fn subscribe(&self, start: Option<&Start>) -> Subscription {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.live.subscribe();
        let buffered = inner.buffer.iter();
        let replay: Vec<v1::Event> = match start {
            None => Vec::new(),
            Some(Start::AfterSeq(seq)) => buffered.filter(|e| e.seq > *seq).cloned().collect(),
            Some(Start::Last(n)) => {
                let skip = inner.buffer.len().saturating_sub(*n as usize);
                buffered.skip(skip).cloned().collect()
            }
            Some(Start::Since(since)) => {
                let since = SystemTime::try_from(*since).unwrap_or(SystemTime::UNIX_EPOCH);
                buffered
                    .filter(|e| {
                        e.time
                            .and_then(|t| SystemTime::try_from(t).ok())
                            .is_some_and(|t| t >= since)
                    })
                    .cloned()
                    .collect()
            }
        };
        Subscription {
            replay,
            live,
            replayed_up_to: inner.next_seq - 1,
        }
    }
}

/// True when `kind` is selected by `kinds` (equal, or a dotted prefix); empty selects all.
pub fn kind_matches(kinds: &[String], kind: &str) -> bool {
    kinds.is_empty()
        || kinds.iter().any(|k| {
            kind == k
                || (kind.starts_with(k.as_str()) && kind.as_bytes().get(k.len()) == Some(&b'.'))
        })
}

/// The `events.lost` event a slow watcher gets in place of `count` events it missed.
pub fn lost(count: u64) -> v1::Event {
    v1::Event {
        seq: 0,
        time: Some(SystemTime::now().into()),
        kind: "events.lost".into(),
        level: EventLevel::Warn.into(),
        message: format!("{count} events were lost: this client read too slowly"),
        fields: [("count".to_owned(), count.to_string())]
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_selects_by_sequence_count_and_kind() {
        let log = EventLog::default();
        for i in 0..5 {
            log.push(
                "ike.established",
                EventLevel::Info,
                format!("e{i}"),
                [("peer", "p".into())],
            );
        }
        let s = log.subscribe(Some(&Start::AfterSeq(3)));
        assert_eq!(
            s.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(s.replayed_up_to, 5);
        let s = log.subscribe(Some(&Start::Last(2)));
        assert_eq!(
            s.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        let s = log.subscribe(None);
        assert!(s.replay.is_empty());
        assert!(kind_matches(&["ike".into()], "ike.failed"));
        assert!(!kind_matches(&["ike".into()], "ikev2.x"));
        assert!(kind_matches(&[], "anything"));
        assert!(kind_matches(&["dpd.dead".into()], "dpd.dead"));
    }

    #[tokio::test]
    async fn live_watchers_get_new_events_and_the_buffer_is_bounded() {
        let log = EventLog::default();
        let mut s = log.subscribe(None);
        log.push("child.installed", EventLevel::Info, "x", []);
        assert_eq!(s.live.recv().await.unwrap().kind, "child.installed");
        for _ in 0..BUFFER + 10 {
            log.push("k", EventLevel::Debug, "m", []);
        }
        let all = log.subscribe(Some(&Start::AfterSeq(0))).replay;
        assert_eq!(all.len(), BUFFER);
        assert_eq!(all.last().unwrap().seq, (BUFFER + 11) as u64);
        assert_eq!(lost(3).fields["count"], "3");
    }
}
