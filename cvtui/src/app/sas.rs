//! IPsec SAs for a daemon that serves them (cvlan-vrouterd): each WatchSas snapshot, with
//! per-child byte rates between snapshots.

use std::collections::HashMap;
use std::time::SystemTime;

use cvlan_proto::v1;

use super::rates::Meter;

/// The inbound and outbound byte meters of one child SA.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildMeters {
    /// Bytes per second received.
    pub bytes_in: Meter,
    /// Bytes per second sent.
    pub bytes_out: Meter,
}

/// The IPsec SAs.
#[derive(Debug, Clone, Default)]
pub struct SasState {
    /// IKE SAs with their children, by peer name.
    pub sas: Vec<v1::IkeSa>,
    /// Meters by child SA unique id.
    pub meters: HashMap<u64, ChildMeters>,
    /// When the counters were read.
    pub time: Option<SystemTime>,
}

impl SasState {
    /// Applies one snapshot; meters of child SAs that are gone are dropped.
    pub fn apply(&mut self, snapshot: v1::SasResponse) {
        let time = snapshot.time.and_then(|t| SystemTime::try_from(t).ok());
        let mut meters = HashMap::with_capacity(self.meters.len());
        for child in snapshot.sas.iter().flat_map(|sa| &sa.children) {
            let mut m = self
                .meters
                .get(&child.unique_id)
                .copied()
                .unwrap_or_default();
            if let Some(time) = time {
                m.bytes_in.observe(child.bytes_in, time);
                m.bytes_out.observe(child.bytes_out, time);
            }
            meters.insert(child.unique_id, m);
        }
        self.meters = meters;
        self.sas = snapshot.sas;
        self.time = time;
    }

    /// The meters of the child SA with `unique_id`.
    pub fn child(&self, unique_id: u64) -> ChildMeters {
        self.meters.get(&unique_id).copied().unwrap_or_default()
    }
}
