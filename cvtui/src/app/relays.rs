//! Relay paths and the node's network position, for a daemon that serves them: the rows the
//! Relays call returns, with rx/tx rates between readings.

use std::collections::HashMap;
use std::time::SystemTime;

use cvlan_proto::v1;

use super::rates::Meter;

/// One relay with its rates.
#[derive(Debug, Clone)]
pub struct RelayRow {
    /// The row as the daemon sent it.
    pub relay: v1::RelayPath,
    /// Bytes per second received through it.
    pub rx: Meter,
    /// Bytes per second sent through it.
    pub tx: Meter,
}

/// Relay paths and network position.
#[derive(Debug, Clone, Default)]
pub struct RelaysState {
    /// Relays, home relay first, then by name (as the daemon orders them).
    pub relays: Vec<RelayRow>,
    /// The last network position reading.
    pub netcheck: Option<v1::NetcheckResponse>,
    /// When the relays were read.
    pub time: Option<SystemTime>,
}

impl RelaysState {
    /// Applies a Relays answer, carrying each relay's meters over by name.
    pub fn apply(&mut self, response: v1::RelaysResponse) {
        let time = response.time.and_then(|t| SystemTime::try_from(t).ok());
        let mut old: HashMap<String, RelayRow> = self
            .relays
            .drain(..)
            .map(|row| (row.relay.name.clone(), row))
            .collect();
        for relay in response.relays {
            let mut row = old.remove(&relay.name).unwrap_or_else(|| RelayRow {
                relay: v1::RelayPath::default(),
                rx: Meter::default(),
                tx: Meter::default(),
            });
            row.relay = relay;
            if let Some(time) = time {
                row.rx.observe(row.relay.rx_bytes, time);
                row.tx.observe(row.relay.tx_bytes, time);
            }
            self.relays.push(row);
        }
        self.time = time;
    }
}
