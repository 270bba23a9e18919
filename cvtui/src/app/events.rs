//! The daemon's events as the dashboard keeps them: a bounded buffer (oldest dropped first),
//! a kind filter, and a scroll position that stays on the same events while new ones arrive.

use std::collections::VecDeque;

use cvlan_proto::v1;

/// The most events kept; older ones are dropped as new ones arrive.
pub const EVENT_BUFFER: usize = 5_000;

/// The event kind a daemon sends when this client was too slow and missed some.
pub const LOST_KIND: &str = "events.lost";

/// An event with the position it arrived at (daemon sequence numbers restart with the
/// daemon; this one does not).
#[derive(Debug, Clone)]
pub struct Stored {
    /// Arrival number, increasing by one per event received.
    pub id: u64,
    /// The event.
    pub event: v1::WatchEventsResponse,
}

/// The event buffer and how it is viewed.
#[derive(Debug, Clone, Default)]
pub struct EventsState {
    buffer: VecDeque<Stored>,
    next_id: u64,
    /// Events dropped from the buffer to stay within [`EVENT_BUFFER`].
    pub dropped: u64,
    /// Events the daemon said this client missed (`events.lost`).
    pub lost: u64,
    /// The kind filter as typed: an event shows when its kind starts with it.
    pub filter: String,
    /// The arrival number of the newest event shown, or `None` to follow new events.
    pub anchor: Option<u64>,
}

impl EventsState {
    /// Adds an event, dropping the oldest when the buffer is full.
    pub fn push(&mut self, event: v1::WatchEventsResponse) {
        if event.kind == LOST_KIND {
            let missed = event
                .fields
                .get("count")
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(1);
            self.lost = self.lost.saturating_add(missed);
        }
        if self.buffer.len() == EVENT_BUFFER {
            self.buffer.pop_front();
            self.dropped += 1;
        }
        self.buffer.push_back(Stored {
            id: self.next_id,
            event,
        });
        self.next_id += 1;
        // An anchor that fell out of the buffer pins the view to the oldest event kept.
        if let (Some(anchor), Some(front)) = (self.anchor, self.buffer.front())
            && anchor < front.id
        {
            self.anchor = Some(front.id);
        }
    }

    /// How many events the buffer holds.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Whether an event passes the kind filter.
    pub fn shows(&self, event: &v1::WatchEventsResponse) -> bool {
        kind_matches(&event.kind, self.filter.trim())
    }

    /// How many buffered events pass the filter.
    pub fn matching(&self) -> usize {
        if self.filter.trim().is_empty() {
            return self.buffer.len();
        }
        self.buffer.iter().filter(|s| self.shows(&s.event)).count()
    }

    /// The events to show in `rows` lines, oldest first, ending at the anchor (or the newest).
    pub fn window(&self, rows: usize) -> Vec<&Stored> {
        let end = self.end_position();
        let mut shown: Vec<&Stored> = self
            .buffer
            .range(..end)
            .rev()
            .filter(|s| self.shows(&s.event))
            .take(rows)
            .collect();
        shown.reverse();
        shown
    }

    /// Whether the view follows new events.
    pub fn following(&self) -> bool {
        self.anchor.is_none()
    }

    /// Scrolls towards older events by `n` matching events (within a view of `rows` lines).
    pub fn scroll_up(&mut self, n: usize, rows: usize) {
        let end = self.end_position();
        let older: Vec<u64> = self
            .buffer
            .range(..end)
            .rev()
            .filter(|s| self.shows(&s.event))
            .map(|s| s.id)
            .take(n + rows)
            .collect();
        // The bottom may move up only while a full page remains above it.
        if older.len() > rows {
            let step = n.min(older.len() - rows);
            self.anchor = Some(older[step]);
        }
    }

    /// Scrolls towards newer events by `n` matching events; reaching the newest follows again.
    pub fn scroll_down(&mut self, n: usize) {
        let Some(anchor) = self.anchor.filter(|_| n > 0) else {
            return;
        };
        let start = self.position(anchor) + 1;
        let newer: Vec<u64> = self
            .buffer
            .range(start..)
            .filter(|s| self.shows(&s.event))
            .map(|s| s.id)
            .take(n + 1)
            .collect();
        self.anchor = if newer.len() <= n {
            None
        } else {
            Some(newer[n - 1])
        };
    }

    /// Shows the oldest events (a view of `rows` lines).
    pub fn scroll_to_oldest(&mut self, rows: usize) {
        let bottom = self
            .buffer
            .iter()
            .filter(|s| self.shows(&s.event))
            .nth(rows.saturating_sub(1))
            .map(|s| s.id);
        // Fewer events than a page: nothing to scroll, keep following.
        self.anchor = bottom.filter(|_| self.matching() > rows);
    }

    /// Follows new events again.
    pub fn follow(&mut self) {
        self.anchor = None;
    }

    /// The buffer position just past the anchor (or the end when following).
    fn end_position(&self) -> usize {
        self.anchor
            .map_or(self.buffer.len(), |anchor| self.position(anchor) + 1)
    }

    /// The buffer position of the event with arrival number `id` (or the nearest older one).
    fn position(&self, id: u64) -> usize {
        match self.buffer.binary_search_by_key(&id, |s| s.id) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

/// Whether `kind` passes `filter`: empty passes everything; otherwise the kind starts with
/// the filter, ignoring case ("peer" passes "peer.added", "apply.rej" passes "apply.rejected").
pub fn kind_matches(kind: &str, filter: &str) -> bool {
    filter.is_empty()
        || kind
            .get(..filter.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(filter))
}
