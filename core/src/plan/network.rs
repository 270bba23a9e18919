//! Planning a whole network against another (`cvlanctl plan --file F --against F2`): for every
//! node and vrouter, whether it joins, leaves, or which actions its daemon would carry out.

use std::collections::BTreeMap;
use std::fmt;

use cvlan_schema::model::Network;

use super::{Plan, plan};
use crate::alloc::{Allocation, Entity};
use crate::netmap::{NetMap, NetMapBuilder, PeerKind};

/// A network together with its addresses: one side of a network plan.
#[derive(Debug, Clone, Copy)]
pub struct NetworkState<'a> {
    /// The validated model.
    pub network: &'a Network,
    /// Its address allocation.
    pub allocation: &'a Allocation,
}

/// What happens to each node and vrouter; only those with changes are listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkPlan {
    /// Per node or vrouter, sorted by name then kind.
    pub members: Vec<MemberPlan>,
}

/// What happens to one node or vrouter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPlan {
    /// Its name.
    pub name: String,
    /// Node or vrouter.
    pub kind: PeerKind,
    /// Joins, leaves, or changes.
    pub change: MemberChange,
}

/// How one node or vrouter is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// It is new: its daemon starts from this map.
    Join(Box<NetMap>),
    /// It is gone from the network.
    Leave,
    /// It stays; its daemon carries out this plan (never empty here).
    Update(Plan),
}

/// Plans `desired` against `actual` (`None`: nothing runs yet, every member joins).
pub fn network_plan(desired: NetworkState<'_>, actual: Option<NetworkState<'_>>) -> NetworkPlan {
    let desired_maps = maps(desired);
    let mut actual_maps = actual.map(maps).unwrap_or_default();
    let mut members = Vec::new();
    for ((name, kind), map) in desired_maps {
        let change = match actual_maps.remove(&(name.clone(), kind)) {
            None => MemberChange::Join(Box::new(map)),
            Some(before) => {
                let p = plan(&map, &before);
                if p.is_empty() {
                    continue;
                }
                MemberChange::Update(p)
            }
        };
        members.push(MemberPlan { name, kind, change });
    }
    for (name, kind) in actual_maps.into_keys() {
        members.push(MemberPlan {
            name,
            kind,
            change: MemberChange::Leave,
        });
    }
    members.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    NetworkPlan { members }
}

/// Every member's netmap, by name and kind.
fn maps(state: NetworkState<'_>) -> BTreeMap<(String, PeerKind), NetMap> {
    let builder = NetMapBuilder::new(state.network, state.allocation);
    let entities = (0..state.network.nodes.len())
        .map(Entity::Node)
        .chain((0..state.network.vrouters.len()).map(Entity::Vrouter));
    entities
        .map(|e| {
            let kind = match e {
                Entity::Node(_) => PeerKind::Node,
                Entity::Vrouter(_) => PeerKind::Vrouter,
            };
            ((e.name(state.network).to_owned(), kind), builder.netmap(e))
        })
        .collect()
}

impl NetworkPlan {
    /// True when no member changes.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl MemberChange {
    /// `join`, `leave` or `update`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberChange::Join(_) => "join",
            MemberChange::Leave => "leave",
            MemberChange::Update(_) => "update",
        }
    }
}

impl fmt::Display for NetworkPlan {
    /// Per member a heading line, then its actions indented; `no changes` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.members.is_empty() {
            return writeln!(f, "no changes");
        }
        for m in &self.members {
            let kind = match m.kind {
                PeerKind::Node => "node",
                PeerKind::Vrouter => "vrouter",
            };
            match &m.change {
                MemberChange::Join(map) => {
                    let addresses: Vec<String> =
                        map.node.addresses.iter().map(ToString::to_string).collect();
                    writeln!(
                        f,
                        "+ {kind} {} joins: {}, {} peer{}",
                        m.name,
                        addresses.join(" "),
                        map.peers.len(),
                        if map.peers.len() == 1 { "" } else { "s" }
                    )?;
                }
                MemberChange::Leave => writeln!(f, "- {kind} {} leaves", m.name)?,
                MemberChange::Update(plan) => {
                    writeln!(f, "~ {kind} {}:", m.name)?;
                    for action in &plan.actions {
                        writeln!(f, "    {} {action}", action.sign())?;
                    }
                }
            }
        }
        Ok(())
    }
}
