//! Policy hits as the dashboard follows them: every rule in order (then default-deny) with its
//! counters, rates and a short history for the sparkline, and the explain form.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use cvlan_proto::v1;

use super::rates::Meter;

/// How many rate samples each rule keeps for its sparkline.
pub const HISTORY: usize = 120;

/// One rule's counters followed over time.
#[derive(Debug, Clone)]
pub struct RuleRow {
    /// The row as the daemon sent it.
    pub hits: v1::RuleHits,
    /// Inbound packets per second.
    pub in_packets: Meter,
    /// Outbound packets per second.
    pub out_packets: Meter,
    /// Inbound bytes per second.
    pub in_bytes: Meter,
    /// Outbound bytes per second.
    pub out_bytes: Meter,
    /// Packets per second (in + out), oldest first, at most [`HISTORY`].
    pub history: VecDeque<u64>,
}

impl RuleRow {
    fn new(hits: v1::RuleHits) -> Self {
        Self {
            hits,
            in_packets: Meter::default(),
            out_packets: Meter::default(),
            in_bytes: Meter::default(),
            out_bytes: Meter::default(),
            history: VecDeque::with_capacity(HISTORY),
        }
    }

    fn observe(&mut self, at: SystemTime) {
        let inbound = self.hits.inbound.unwrap_or_default();
        let outbound = self.hits.outbound.unwrap_or_default();
        self.in_packets.observe(inbound.packets, at);
        self.out_packets.observe(outbound.packets, at);
        self.in_bytes.observe(inbound.bytes, at);
        self.out_bytes.observe(outbound.bytes, at);
        let rates = [self.in_packets.rate(), self.out_packets.rate()];
        if rates.iter().any(Option::is_some) {
            let total: f64 = rates.iter().flatten().sum();
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(total.round() as u64);
        }
    }

    /// Packets per second in and out together, when known.
    pub fn packet_rate(&self) -> Option<f64> {
        sum(self.in_packets.rate(), self.out_packets.rate())
    }

    /// Bytes per second in and out together, when known.
    pub fn byte_rate(&self) -> Option<f64> {
        sum(self.in_bytes.rate(), self.out_bytes.rate())
    }

    /// Packets in and out together.
    pub fn packets(&self) -> u64 {
        let c = |h: Option<v1::HitCounters>| h.unwrap_or_default().packets;
        c(self.hits.inbound).saturating_add(c(self.hits.outbound))
    }

    /// Bytes in and out together.
    pub fn bytes(&self) -> u64 {
        let c = |h: Option<v1::HitCounters>| h.unwrap_or_default().bytes;
        c(self.hits.inbound).saturating_add(c(self.hits.outbound))
    }
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// The three fields of the explain form.
pub const FORM_FIELDS: [&str; 3] = ["from", "to", "port"];

/// The explain form: a packet described as from, to and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExplainForm {
    /// from, to, port as typed.
    pub fields: [String; 3],
    /// The field being typed in.
    pub focus: usize,
    /// Whether the form is shown.
    pub open: bool,
}

/// The answer to the last explain request.
#[derive(Debug, Clone, PartialEq)]
pub enum Explanation {
    /// Asked; no answer yet.
    Pending,
    /// The daemon's verdict.
    Answer(Box<v1::PolicyExplainResponse>),
    /// The daemon refused (bad port spec, unknown node) or could not be asked.
    Failed(String),
}

/// Policy hits and the explain form.
#[derive(Debug, Clone, Default)]
pub struct PolicyState {
    /// Every rule in policy order, then default-deny.
    pub rules: Vec<RuleRow>,
    /// The revision the running policy comes from.
    pub revision: String,
    /// When counting started.
    pub since: Option<SystemTime>,
    /// When the daemon last read the counters.
    pub time: Option<SystemTime>,
    /// The selected rule.
    pub selected: usize,
    /// The first visible rule (scrolling).
    pub offset: usize,
    /// The explain form.
    pub form: ExplainForm,
    /// The last explanation asked for.
    pub explanation: Option<Explanation>,
    /// Whether a snapshot has arrived since connecting.
    pub loaded: bool,
}

impl PolicyState {
    /// Applies one hits snapshot. Rules are matched to the previous snapshot by name, so a
    /// reload that adds or moves rules keeps each rule's history; when counting restarted
    /// (`since` changed), rates start over.
    pub fn apply(&mut self, snapshot: v1::PolicyHitsResponse) {
        let since = snapshot.since.and_then(|t| SystemTime::try_from(t).ok());
        let time = snapshot.time.and_then(|t| SystemTime::try_from(t).ok());
        let restarted = self.loaded && since != self.since;
        let mut old: HashMap<(String, bool), RuleRow> = self
            .rules
            .drain(..)
            .map(|row| ((row.hits.rule.clone(), row.hits.default_deny), row))
            .collect();
        for hits in snapshot.rules {
            let key = (hits.rule.clone(), hits.default_deny);
            let mut row = match old.remove(&key) {
                Some(mut row) if !restarted => {
                    row.hits = hits;
                    row
                }
                Some(mut row) => {
                    let history = std::mem::take(&mut row.history);
                    let mut fresh = RuleRow::new(hits);
                    fresh.history = history;
                    fresh
                }
                None => RuleRow::new(hits),
            };
            if let Some(time) = time {
                row.observe(time);
            }
            self.rules.push(row);
        }
        self.revision = snapshot.revision;
        self.since = since;
        self.time = time;
        self.loaded = true;
        self.selected = self.selected.min(self.rules.len().saturating_sub(1));
    }

    /// The form's fields when all are filled in.
    pub fn request(&self) -> Option<(String, String, String)> {
        let [from, to, port] = self.form.fields.clone().map(|f| f.trim().to_owned());
        (!from.is_empty() && !to.is_empty() && !port.is_empty()).then_some((from, to, port))
    }
}
