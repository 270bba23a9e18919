//! The live peer table: rows kept up to date from WatchPeers (a full snapshot, then changed
//! rows), per-peer rx/tx rates, and the operator's sort, filter, selection and ping.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use cvlan_proto::v1;

use super::rates::Meter;

/// A peer counts as connected with a handshake this recent (as the daemon counts them).
pub const CONNECTED_WITHIN: Duration = Duration::from_secs(180);

/// What the peer table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerSort {
    /// Name, A to Z.
    #[default]
    Name,
    /// Receive rate, busiest first.
    RxRate,
    /// Send rate, busiest first.
    TxRate,
    /// Last handshake, most recent first (never last).
    Handshake,
    /// Latency, fastest first (unknown last).
    Latency,
}

impl PeerSort {
    /// The next key in the cycle `s` walks through.
    pub fn next(self) -> Self {
        match self {
            PeerSort::Name => PeerSort::RxRate,
            PeerSort::RxRate => PeerSort::TxRate,
            PeerSort::TxRate => PeerSort::Handshake,
            PeerSort::Handshake => PeerSort::Latency,
            PeerSort::Latency => PeerSort::Name,
        }
    }

    /// How the key reads in the table's title.
    pub fn label(self) -> &'static str {
        match self {
            PeerSort::Name => "name",
            PeerSort::RxRate => "rx rate",
            PeerSort::TxRate => "tx rate",
            PeerSort::Handshake => "handshake",
            PeerSort::Latency => "latency",
        }
    }
}

/// One peer with its rates.
#[derive(Debug, Clone)]
pub struct PeerRow {
    /// The row as the daemon sent it.
    pub peer: v1::Peer,
    /// Received bytes per second.
    pub rx: Meter,
    /// Sent bytes per second.
    pub tx: Meter,
    /// Lower-cased text the filter searches (name, addresses, endpoint, owner, tags).
    search: String,
}

impl PeerRow {
    fn new(peer: v1::Peer) -> Self {
        let mut row = Self {
            peer,
            rx: Meter::default(),
            tx: Meter::default(),
            search: String::new(),
        };
        row.index_text();
        row
    }

    fn replace(&mut self, peer: v1::Peer) {
        self.peer = peer;
        self.index_text();
    }

    fn index_text(&mut self) {
        let p = &self.peer;
        let mut text = p.name.to_lowercase();
        for part in p
            .addresses
            .iter()
            .chain(std::iter::once(&p.endpoint))
            .chain(std::iter::once(&p.owner))
            .chain(&p.tags)
        {
            text.push('\u{1f}');
            text.push_str(&part.to_lowercase());
        }
        self.search = text;
    }

    /// Whether the row matches a lower-cased filter (empty matches everything).
    pub fn matches(&self, filter: &str) -> bool {
        filter.is_empty() || self.search.contains(filter)
    }

    /// When the last handshake was, if ever.
    pub fn handshake(&self) -> Option<SystemTime> {
        self.peer
            .last_handshake
            .and_then(|t| SystemTime::try_from(t).ok())
    }

    /// The measured latency, if any.
    pub fn latency(&self) -> Option<Duration> {
        self.peer.latency.and_then(|d| Duration::try_from(d).ok())
    }
}

/// A ping run from the dashboard and the replies so far.
#[derive(Debug, Clone, PartialEq)]
pub struct PingRun {
    /// The node pinged.
    pub node: String,
    /// How many probes were asked for.
    pub count: u32,
    /// Replies so far, in order.
    pub replies: Vec<v1::PingResponse>,
    /// Whether the run has ended.
    pub done: bool,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// The peer table's state.
#[derive(Debug, Clone, Default)]
pub struct PeersState {
    rows: Vec<PeerRow>,
    by_name: HashMap<String, usize>,
    /// Indices into the rows: those the filter keeps, in sort order.
    order: Vec<usize>,
    /// The sort key.
    pub sort: PeerSort,
    /// Whether the sort is reversed.
    pub reversed: bool,
    /// The filter as typed.
    pub filter: String,
    /// The selected position in the visible order.
    pub selected: usize,
    /// The first visible position (scrolling).
    pub offset: usize,
    /// Whether the detail pane is open.
    pub detail: bool,
    /// The last ping run.
    pub ping: Option<PingRun>,
    /// When the daemon last read the counters.
    pub time: Option<SystemTime>,
    /// Whether a snapshot has arrived since connecting.
    pub loaded: bool,
    /// Peer counts as of the last [`PeersState::recount`].
    counts: v1::PeerCounts,
}

impl PeersState {
    /// Applies one WatchPeers message: a full snapshot replaces every row, otherwise the
    /// changed rows are replaced and removed ones dropped. Every row then takes a counter
    /// reading at the message's time (a row the message left out did not change, so its rate
    /// is zero).
    pub fn apply(&mut self, update: v1::WatchPeersResponse) {
        let selected = self.selected_name().map(str::to_owned);
        let time = update.time.and_then(|t| SystemTime::try_from(t).ok());
        if update.full {
            let mut old: HashMap<String, PeerRow> = self
                .rows
                .drain(..)
                .map(|row| (row.peer.name.clone(), row))
                .collect();
            for peer in update.peers {
                let row = match old.remove(&peer.name) {
                    Some(mut row) => {
                        row.replace(peer);
                        row
                    }
                    None => PeerRow::new(peer),
                };
                self.rows.push(row);
            }
        } else {
            for name in &update.removed {
                self.remove(name);
            }
            for peer in update.peers {
                match self.by_name.get(&peer.name).copied() {
                    Some(i) => self.rows[i].replace(peer),
                    None => {
                        self.by_name.insert(peer.name.clone(), self.rows.len());
                        self.rows.push(PeerRow::new(peer));
                    }
                }
            }
        }
        if update.full {
            self.reindex();
        }
        if let Some(time) = time {
            for row in &mut self.rows {
                row.rx.observe(row.peer.rx_bytes, time);
                row.tx.observe(row.peer.tx_bytes, time);
            }
            self.time = Some(time);
        }
        self.loaded = true;
        self.refresh_order(selected.as_deref());
    }

    fn remove(&mut self, name: &str) {
        let Some(i) = self.by_name.remove(name) else {
            return;
        };
        self.rows.swap_remove(i);
        if let Some(moved) = self.rows.get(i) {
            self.by_name.insert(moved.peer.name.clone(), i);
        }
    }

    fn reindex(&mut self) {
        self.by_name = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.peer.name.clone(), i))
            .collect();
    }

    /// Forgets every row (the daemon was replaced; its next snapshot refills the table).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.by_name.clear();
        self.order.clear();
        self.counts = v1::PeerCounts::default();
        self.loaded = false;
        self.selected = 0;
        self.offset = 0;
    }

    /// Recomputes the visible order after the rows, the sort or the filter changed, keeping
    /// the selection on the same peer when it is still visible.
    pub fn refresh_order(&mut self, keep: Option<&str>) {
        let filter = self.filter.to_lowercase();
        let rows = &self.rows;
        self.order.clear();
        self.order
            .extend((0..rows.len()).filter(|&i| rows[i].matches(&filter)));
        let (sort, reversed) = (self.sort, self.reversed);
        self.order.sort_unstable_by(|&a, &b| {
            let ord = compare(&rows[a], &rows[b], sort);
            if reversed { ord.reverse() } else { ord }
        });
        let found = keep.and_then(|name| {
            self.order
                .iter()
                .position(|&i| self.rows[i].peer.name == name)
        });
        self.selected = found.unwrap_or(self.selected);
        self.selected = self.selected.min(self.order.len().saturating_sub(1));
    }

    /// Every row, in no particular order.
    pub fn rows(&self) -> &[PeerRow] {
        &self.rows
    }

    /// The number of rows the filter keeps.
    pub fn visible_len(&self) -> usize {
        self.order.len()
    }

    /// The visible rows from position `start`, at most `len` of them.
    pub fn visible(&self, start: usize, len: usize) -> impl Iterator<Item = &PeerRow> {
        self.order
            .iter()
            .skip(start)
            .take(len)
            .map(|&i| &self.rows[i])
    }

    /// The selected row, if any is visible.
    pub fn selected_row(&self) -> Option<&PeerRow> {
        self.order.get(self.selected).map(|&i| &self.rows[i])
    }

    /// The selected peer's name.
    pub fn selected_name(&self) -> Option<&str> {
        self.selected_row().map(|row| row.peer.name.as_str())
    }

    /// Peer counts as of the last recount (drawing reads them every frame; counting walks
    /// every row, so it happens when rows or the clock change).
    pub fn counts(&self) -> v1::PeerCounts {
        self.counts
    }

    /// Counts the peers as of `now`: total, connected (handshake within
    /// [`CONNECTED_WITHIN`]), and of those, direct and relayed.
    pub fn recount(&mut self, now: SystemTime) {
        let mut counts = v1::PeerCounts {
            total: u32::try_from(self.rows.len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        for row in &self.rows {
            let recent = row
                .handshake()
                .is_some_and(|t| now.duration_since(t).unwrap_or_default() <= CONNECTED_WITHIN);
            if !recent {
                continue;
            }
            counts.connected += 1;
            match row.peer.path.as_ref().map(|p| p.kind()) {
                Some(v1::PathKind::Direct) => counts.direct += 1,
                Some(v1::PathKind::Relay) => counts.relayed += 1,
                _ => {}
            }
        }
        self.counts = counts;
    }
}

/// Orders two rows by `sort`, then by name so equal keys keep a stable order.
fn compare(a: &PeerRow, b: &PeerRow, sort: PeerSort) -> Ordering {
    let by_key = match sort {
        PeerSort::Name => Ordering::Equal,
        PeerSort::RxRate => descending(a.rx.rate(), b.rx.rate()),
        PeerSort::TxRate => descending(a.tx.rate(), b.tx.rate()),
        PeerSort::Handshake => b.handshake().cmp(&a.handshake()),
        PeerSort::Latency => match (a.latency(), b.latency()) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    };
    by_key.then_with(|| a.peer.name.cmp(&b.peer.name))
}

/// Larger first; unknown last.
fn descending(a: Option<f64>, b: Option<f64>) -> Ordering {
    let key = |r: Option<f64>| r.unwrap_or(-1.0);
    key(b).total_cmp(&key(a))
}
