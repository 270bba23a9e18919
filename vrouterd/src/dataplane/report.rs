//! What the IKE endpoint's events mean to an operator: each becomes a daemon event
//! (`ike.established`, `ike.failed` with the reason spelled out, `dpd.dead`, `child.installed`,
//! …) and, for the peers we initiate to, tells the driver whether to try again.

use std::time::Instant;

use cvlan_agent::EventLevel;
use cvlan_ipsec::ts::TrafficSelector;
use cvlan_ipsec::{DownReason, Endpoint, Event, IkeSaId, PeerId, SaError, Side};

use cvlan_agent::EventBus;

/// What the driver should do about a peer after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Followup {
    /// Nothing.
    None,
    /// The peer has an IKE SA: forget earlier failures.
    Up(PeerId),
    /// The peer lost (or never got) its IKE SA: set it up again after a pause, longer when
    /// the cause is a configuration mismatch that waiting alone will not fix.
    Retry {
        /// The peer.
        peer: PeerId,
        /// Authentication or proposal mismatch rather than an unreachable peer.
        mismatch: bool,
    },
}

/// Records `event` in `log` and says what the driver should do next. `name` gives a peer's name.
pub(crate) fn report(
    event: &Event,
    ep: &Endpoint,
    now: Instant,
    name: &dyn Fn(PeerId) -> String,
    log: &EventBus,
) -> Followup {
    match event {
        Event::IkeSaUp { peer, ike, remote } => {
            let info = ep.list_sas(now).into_iter().find(|s| s.id == *ike);
            let algorithms = info
                .as_ref()
                .and_then(|i| i.algorithms())
                .unwrap_or_default();
            let role = if info.is_some_and(|i| i.initiator) {
                "initiator"
            } else {
                "responder"
            };
            log.publish(
                "ike.established",
                EventLevel::Info,
                format!(
                    "IKE SA #{} with {} established ({remote}, {algorithms}, we are {role})",
                    ike.0,
                    name(*peer)
                ),
                [
                    ("peer", name(*peer)),
                    ("ike_sa", ike.0.to_string()),
                    ("remote", remote.to_string()),
                    ("proposal", algorithms),
                    ("role", role.to_owned()),
                ],
            );
            Followup::Up(*peer)
        }
        Event::IkeSaRekeyed { peer, old, new } => {
            log.publish(
                "ike.rekeyed",
                EventLevel::Info,
                format!(
                    "IKE SA #{} with {} rekeyed: #{} replaces it",
                    old.0,
                    name(*peer),
                    new.0
                ),
                [
                    ("peer", name(*peer)),
                    ("ike_sa", new.0.to_string()),
                    ("replaces", old.0.to_string()),
                ],
            );
            Followup::Up(*peer)
        }
        Event::IkeSaDown { peer, ike, reason } => ike_down(*peer, *ike, *reason, name, log),
        Event::IkeSaFailed {
            peer,
            remote,
            error,
        } => {
            let who = peer.map_or_else(|| format!("a peer at {remote}"), name);
            let (code, why) = explain(error, peer.and_then(|p| ep.peer(p)));
            let mut fields = vec![("remote", remote.to_string()), ("reason", code.to_owned())];
            if let Some(p) = peer {
                fields.push(("peer", name(*p)));
            }
            let level = if peer.is_some() {
                EventLevel::Error
            } else {
                EventLevel::Warn
            };
            log.publish(
                "ike.failed",
                level,
                format!("IKE SA with {who} failed: {why}"),
                fields,
            );
            let mismatch = !matches!(error, SaError::Timeout);
            peer.map_or(Followup::None, |peer| Followup::Retry { peer, mismatch })
        }
        Event::ChildSaUp {
            peer,
            spi_in,
            spi_out,
            local_ts,
            remote_ts,
        } => {
            log.publish(
                "child.installed",
                EventLevel::Info,
                format!(
                    "child SA {spi_in:08x}_i {spi_out:08x}_o with {} installed: {} === {}",
                    name(*peer),
                    ts_list(local_ts),
                    ts_list(remote_ts)
                ),
                [
                    ("peer", name(*peer)),
                    ("spi_in", format!("{spi_in:08x}")),
                    ("spi_out", format!("{spi_out:08x}")),
                    ("local_ts", ts_list(local_ts)),
                    ("remote_ts", ts_list(remote_ts)),
                ],
            );
            Followup::None
        }
        Event::ChildSaRekeyed {
            peer,
            old_spi_in,
            new_spi_in,
        } => {
            log.publish(
                "child.rekeyed",
                EventLevel::Info,
                format!(
                    "child SA with {} rekeyed: {new_spi_in:08x}_i replaces {old_spi_in:08x}_i",
                    name(*peer)
                ),
                [
                    ("peer", name(*peer)),
                    ("spi_in", format!("{new_spi_in:08x}")),
                    ("replaces", format!("{old_spi_in:08x}")),
                ],
            );
            Followup::None
        }
        Event::ChildSaDown {
            peer,
            spi_in,
            reason,
        } => {
            let level = if *reason == DownReason::Rekeyed {
                EventLevel::Debug
            } else {
                EventLevel::Info
            };
            log.publish(
                "child.deleted",
                level,
                format!(
                    "child SA {spi_in:08x}_i with {} deleted: {}",
                    name(*peer),
                    down_text(*reason)
                ),
                [
                    ("peer", name(*peer)),
                    ("spi_in", format!("{spi_in:08x}")),
                    ("reason", down_code(*reason).to_owned()),
                ],
            );
            Followup::None
        }
        Event::ChildSaFailed { peer, error } => {
            let (code, why) = explain(error, ep.peer(*peer));
            log.publish(
                "child.failed",
                EventLevel::Error,
                format!("child SA with {} failed: {why}", name(*peer)),
                [("peer", name(*peer)), ("reason", code.to_owned())],
            );
            Followup::None
        }
    }
}

fn ike_down(
    peer: PeerId,
    ike: IkeSaId,
    reason: DownReason,
    name: &dyn Fn(PeerId) -> String,
    log: &EventBus,
) -> Followup {
    if reason == DownReason::PeerDead {
        log.publish(
            "dpd.dead",
            EventLevel::Warn,
            format!(
                "{} is dead: no answer to liveness checks; IKE SA #{} and its child SAs are removed",
                name(peer),
                ike.0
            ),
            [("peer", name(peer)), ("ike_sa", ike.0.to_string())],
        );
    }
    log.publish(
        "ike.deleted",
        if reason == DownReason::PeerDead {
            EventLevel::Warn
        } else {
            EventLevel::Info
        },
        format!(
            "IKE SA #{} with {} deleted: {}",
            ike.0,
            name(peer),
            down_text(reason)
        ),
        [
            ("peer", name(peer)),
            ("ike_sa", ike.0.to_string()),
            ("reason", down_code(reason).to_owned()),
        ],
    );
    match reason {
        // Gone on purpose (peer removed or changed), or a newer SA took over.
        DownReason::DeletedLocally | DownReason::Rekeyed | DownReason::Replaced => Followup::None,
        DownReason::DeletedByPeer | DownReason::PeerDead | DownReason::Expired => Followup::Retry {
            peer,
            mismatch: false,
        },
    }
}

/// A short code and a sentence for an operator.
fn explain(error: &SaError, peer: Option<&cvlan_ipsec::PeerConfig>) -> (&'static str, String) {
    let ours = || {
        peer.map(|p| {
            let ike: Vec<String> = p.ike_proposals.iter().map(ToString::to_string).collect();
            let esp: Vec<String> = p.esp_proposals.iter().map(ToString::to_string).collect();
            format!(" (ours: ike {}, esp {})", ike.join(","), esp.join(","))
        })
        .unwrap_or_default()
    };
    match error {
        SaError::AuthenticationFailed(Side::Local) => (
            "authentication-failed",
            "authentication failed: the peer's AUTH payload does not verify with our pre-shared key \
             (wrong PSK or identity); AUTHENTICATION_FAILED sent"
                .to_owned(),
        ),
        SaError::AuthenticationFailed(Side::Remote) => (
            "authentication-failed",
            "authentication failed: the peer refused our authentication with AUTHENTICATION_FAILED \
             (wrong PSK or identity)"
                .to_owned(),
        ),
        SaError::NoProposalChosen(Side::Local) => (
            "no-proposal-chosen",
            format!(
                "proposal mismatch: none of the peer's proposals is acceptable; NO_PROPOSAL_CHOSEN sent{}",
                ours()
            ),
        ),
        SaError::NoProposalChosen(Side::Remote) => (
            "no-proposal-chosen",
            format!(
                "proposal mismatch: the peer accepts none of our proposals (NO_PROPOSAL_CHOSEN){}",
                ours()
            ),
        ),
        SaError::TsUnacceptable(side) => (
            "ts-unacceptable",
            format!(
                "traffic selectors do not match ({}: TS_UNACCEPTABLE)",
                if *side == Side::Local { "we refused" } else { "the peer refused" }
            ),
        ),
        SaError::NoMatchingPeer => (
            "no-matching-peer",
            "no ipsec-peer of this vrouter matches the peer's address and identity".to_owned(),
        ),
        SaError::Timeout => ("timeout", "the peer did not answer".to_owned()),
        SaError::PeerError(notify) => ("peer-error", format!("the peer sent {notify}")),
        SaError::Protocol(what) => ("protocol-error", format!("protocol error: {what}")),
    }
}

fn down_code(reason: DownReason) -> &'static str {
    match reason {
        DownReason::DeletedLocally => "deleted-locally",
        DownReason::DeletedByPeer => "deleted-by-peer",
        DownReason::PeerDead => "peer-dead",
        DownReason::Expired => "expired",
        DownReason::Rekeyed => "rekeyed",
        DownReason::Replaced => "replaced",
    }
}

fn down_text(reason: DownReason) -> &'static str {
    match reason {
        DownReason::DeletedLocally => "deleted by this vrouter",
        DownReason::DeletedByPeer => "the peer deleted it",
        DownReason::PeerDead => "the peer is dead (DPD)",
        DownReason::Expired => "its lifetime expired",
        DownReason::Rekeyed => "replaced by its rekeyed successor",
        DownReason::Replaced => "the peer started over (INITIAL_CONTACT)",
    }
}

/// Traffic selectors as CIDRs (or ranges), comma-separated.
fn ts_list(ts: &[TrafficSelector]) -> String {
    ts.iter().map(ts_text).collect::<Vec<_>>().join(",")
}

/// One traffic selector as a CIDR when it is one, else `start-end`.
pub(crate) fn ts_text(ts: &TrafficSelector) -> String {
    crate::desired::ts_prefix(ts.start, ts.end)
        .map_or_else(|| format!("{}-{}", ts.start, ts.end), |n| n.to_string())
}
