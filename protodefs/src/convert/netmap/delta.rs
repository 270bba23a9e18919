//! Netmap deltas on the wire: cvlan-core's `NetMapDelta` as a `NetmapDelta` and back, such
//! that applying the delta read back to the old map gives the new map.
//!
//! Peers are removed by name and kind (`NetmapDelta.removed`: a node and a vrouter may share a
//! name, so names alone would remove the wrong one), DNS records by name. The wire does not
//! tell added from changed rows (`upserted_*`), so both come back as changed; `apply` treats
//! the two alike. A change of the network facts has no place in a delta: the controller
//! sends a full map instead, and [`netmap_delta_to_proto`] says so with `None`.

use cvlan_core::netmap::{Keyed, ListDelta, NetMapDelta, Peer, PeerId, RelayInfo, ResolvedRule};

use super::{ConvertError, convert_all, node_from_proto, self_to_proto};
use crate::v1;

/// The wire form of `delta`, a change from netmap version `base_version`, with `revision` the
/// network.kdl revision after it (0 when unchanged); `None` when the network facts changed,
/// which only a full map carries.
pub fn netmap_delta_to_proto(
    delta: &NetMapDelta,
    base_version: u64,
    revision: u64,
) -> Option<v1::NetmapDelta> {
    if delta.network.is_some() {
        return None;
    }
    let (peers, dns) = (&delta.peers, &delta.dns_records);
    Some(v1::NetmapDelta {
        base_version,
        revision,
        self_: delta.node.as_ref().map(|node| self_to_proto(node, 0)),
        upserted_peers: upserted(peers),
        removed: peers.removed.iter().map(Into::into).collect(),
        relays: delta.relays.as_ref().map(|relays| v1::NetmapRelays {
            relays: relays.iter().map(Into::into).collect(),
        }),
        rules: delta.rules.as_ref().map(|rules| v1::NetmapRules {
            rules: rules.iter().map(Into::into).collect(),
        }),
        upserted_dns_records: upserted(dns),
        removed_dns_records: dns.removed.clone(),
        ..Default::default()
    })
}

/// The delta as cvlan-core holds it, upserted rows as changed ones; its versions and
/// revision stay on the message. Refused when it sets a field this version does not read
/// (the deprecated `removed_peers` and `dns`, or `endpoints`): applied without it, the map
/// would be wrong.
impl TryFrom<v1::NetmapDelta> for NetMapDelta {
    type Error = ConvertError;

    fn try_from(delta: v1::NetmapDelta) -> Result<Self, Self::Error> {
        refuse_unread(&delta)?;
        let v1::NetmapDelta {
            self_,
            upserted_peers,
            removed,
            relays,
            rules,
            upserted_dns_records,
            removed_dns_records,
            ..
        } = delta;
        Ok(NetMapDelta {
            network: None,
            node: self_.map(node_from_proto).transpose()?,
            peers: ListDelta {
                added: Vec::new(),
                removed: convert_all(removed, PeerId::try_from)?,
                changed: convert_all(upserted_peers, Peer::try_from)?,
            },
            relays: relays
                .map(|r| convert_all(r.relays, RelayInfo::try_from))
                .transpose()?,
            dns_records: ListDelta {
                added: Vec::new(),
                removed: removed_dns_records,
                changed: convert_all(upserted_dns_records, TryInto::try_into)?,
            },
            rules: rules
                .map(|r| convert_all(r.rules, ResolvedRule::try_from))
                .transpose()?,
        })
    }
}

/// Refuses a delta that sets a field this version does not read.
#[allow(deprecated)] // The deprecated fields are read only to refuse them.
fn refuse_unread(delta: &v1::NetmapDelta) -> Result<(), ConvertError> {
    let unread = [
        (
            !delta.removed_peers.is_empty(),
            "NetmapDelta.removed_peers",
            "deprecated, peers are removed by name and kind in `removed`",
        ),
        (
            delta.dns.is_some(),
            "NetmapDelta.dns",
            "deprecated, DNS records change in `upserted_dns_records` and `removed_dns_records`",
        ),
        (
            !delta.endpoints.is_empty(),
            "NetmapDelta.endpoints",
            "endpoint-only changes need the base map; send such peers whole in `upserted_peers`",
        ),
    ];
    match unread.into_iter().find(|(set, ..)| *set) {
        Some((_, field, reason)) => Err(ConvertError::Unsupported { field, reason }),
        None => Ok(()),
    }
}

/// A list's added and changed items, which the wire does not tell apart.
fn upserted<'a, T: Keyed, W: From<&'a T>>(list: &'a ListDelta<T>) -> Vec<W> {
    list.added
        .iter()
        .chain(&list.changed)
        .map(W::from)
        .collect()
}
