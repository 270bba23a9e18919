//! The difference between the ipsec peers that run and those network.kdl wants, as data:
//! which to add, remove, re-establish (identity changed) or update in place (tunables
//! changed). Applying a plan and planning again gives an empty plan.

use std::collections::BTreeMap;
use std::fmt;

use crate::desired::{Change, PeerSpec};

/// What applying a desired peer set does, peer by peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPlan {
    /// New peers.
    pub added: Vec<String>,
    /// Peers no longer wanted: their SAs are deleted.
    pub removed: Vec<String>,
    /// Peers whose address, identities, secret or selectors changed: their SAs are deleted
    /// and set up again.
    pub replaced: Vec<String>,
    /// Peers whose proposals, lifetimes or DPD changed: their SAs stay.
    pub updated: Vec<String>,
    /// Peers left exactly as they are.
    pub unchanged: usize,
}

impl PeerPlan {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.replaced.is_empty()
            && self.updated.is_empty()
    }

    /// The number of peer actions.
    pub fn actions(&self) -> u32 {
        (self.added.len() + self.removed.len() + self.replaced.len() + self.updated.len()) as u32
    }
}

/// The plan that turns the running peers `current` into `desired`.
pub fn plan(current: &BTreeMap<String, PeerSpec>, desired: &[PeerSpec]) -> PeerPlan {
    let mut out = PeerPlan::default();
    for spec in desired {
        match current.get(spec.name()) {
            None => out.added.push(spec.name().to_owned()),
            Some(running) => match running.change_to(spec) {
                Change::None => out.unchanged += 1,
                Change::Tunables => out.updated.push(spec.name().to_owned()),
                Change::Identity => out.replaced.push(spec.name().to_owned()),
            },
        }
    }
    out.removed = current
        .keys()
        .filter(|name| !desired.iter().any(|d| d.name() == name.as_str()))
        .cloned()
        .collect();
    out
}

impl fmt::Display for PeerPlan {
    /// `1 added (b1), 0 removed, 1 re-established (b2), 0 updated, 3 unchanged`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |f: &mut fmt::Formatter<'_>, what: &str, names: &[String]| -> fmt::Result {
            write!(f, "{} {what}", names.len())?;
            if !names.is_empty() {
                write!(f, " ({})", names.join(", "))?;
            }
            Ok(())
        };
        part(f, "added", &self.added)?;
        f.write_str(", ")?;
        part(f, "removed", &self.removed)?;
        f.write_str(", ")?;
        part(f, "re-established", &self.replaced)?;
        f.write_str(", ")?;
        part(f, "updated", &self.updated)?;
        write!(f, ", {} unchanged", self.unchanged)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cvlan_ipsec::{PeerConfig, Psk};
    use cvlan_types::Remote;

    use super::*;

    fn spec(name: &str) -> PeerSpec {
        PeerSpec {
            config: PeerConfig {
                name: name.into(),
                remote: Remote::Any,
                remote_port: 500,
                local_id: "gw".into(),
                remote_id: name.into(),
                psk: Psk::new(&b"k"[..]),
                local_ts: Vec::new(),
                remote_ts: Vec::new(),
                ike_proposals: cvlan_types::proposal::default_ike(),
                esp_proposals: cvlan_types::proposal::default_esp(),
                ike_lifetime: Duration::from_secs(86400),
                child_lifetime: Duration::from_secs(3600),
                dpd: None,
                child_limits: Default::default(),
            },
            secret_digest: [0; 32],
        }
    }

    #[test]
    fn each_kind_of_change_lands_in_its_place_and_applying_it_empties_the_plan() {
        let mut current = BTreeMap::new();
        for n in ["keep", "gone", "rekeyed", "moved"] {
            current.insert(n.to_owned(), spec(n));
        }
        let mut tuned = spec("rekeyed");
        tuned.config.child_lifetime = Duration::from_secs(60);
        let mut moved = spec("moved");
        moved.config.remote = Remote::Address("192.0.2.1".parse().unwrap());
        let desired = vec![spec("keep"), tuned, moved, spec("new")];
        let p = plan(&current, &desired);
        assert_eq!(p.added, ["new"]);
        assert_eq!(p.removed, ["gone"]);
        assert_eq!(p.updated, ["rekeyed"]);
        assert_eq!(p.replaced, ["moved"]);
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.actions(), 4);
        assert_eq!(
            p.to_string(),
            "1 added (new), 1 removed (gone), 1 re-established (moved), 1 updated (rekeyed), 1 unchanged"
        );
        let applied: BTreeMap<String, PeerSpec> = desired
            .iter()
            .map(|s| (s.name().to_owned(), s.clone()))
            .collect();
        let again = plan(&applied, &desired);
        assert!(again.is_empty(), "{again}");
        assert_eq!(again.unchanged, 4);
    }
}
