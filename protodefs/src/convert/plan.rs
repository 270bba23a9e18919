//! Reconciliation plans on the wire: one planned action of cvlan-core's `Plan` as a
//! `LocalPlanAction`, with the line `Plan` prints for it.

use crate::v1;

impl From<&cvlan_core::plan::Action> for v1::LocalPlanAction {
    /// The wire form of one planned action: its kind, target and the line `Plan` prints.
    fn from(action: &cvlan_core::plan::Action) -> Self {
        v1::LocalPlanAction {
            kind: action.kind().to_owned(),
            target: action.target().to_owned(),
            line: format!("{} {action}", action.sign()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_core::netmap::{PeerId, PeerKind};
    use cvlan_core::plan::Action as PlanAction;
    use cvlan_schema::PublicKey;

    #[test]
    fn a_planned_action_keeps_its_kind_target_and_line() {
        let action = PlanAction::RemovePeer {
            id: PeerId {
                name: "carol".into(),
                kind: PeerKind::Node,
            },
            public_key: Some(PublicKey([3; 32])),
        };
        let wire = v1::LocalPlanAction::from(&action);
        assert_eq!(wire.kind, "peer.remove");
        assert_eq!(wire.target, "carol");
        assert_eq!(wire.line, "- peer carol (key AwMDAwMD…)");
    }
}
