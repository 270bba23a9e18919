//! One apply: take a reading of network.kdl (cvland's file source reads and checks it), derive
//! this vrouter's desired state (reading the secrets), and hand the peer set to the data plane
//! as a diff. A file that is invalid, names
//! no such vrouter, or whose secrets cannot be read changes nothing: the previous state keeps
//! running and the outcome (with diagnostics) is kept for `status` and reported as an event.

use std::net::SocketAddr;
use std::time::SystemTime;

use cvlan_proto::v1::{self, ApplyOutcome, EventLevel};
use ipnet::IpNet;

use super::Shared;
use crate::desired::{Desired, DesiredError, desired};
use crate::plan::PeerPlan;
use cvland::source::Fetched as Loaded;

/// What runs now (from the last applied file).
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub network: String,
    pub tenant: String,
    pub addresses: Vec<IpNet>,
    pub listen: SocketAddr,
    pub revision: String,
    pub at: SystemTime,
}

/// The outcome of reading the source before anything is applied.
enum Prepared {
    /// Ready to apply.
    Ready(Box<(Loaded, Desired)>),
    /// Not applicable; the result says why.
    Refused(v1::ApplyResult),
}

/// Checks a reading and derives the desired state; nothing changes yet.
fn prepare(shared: &Shared, reading: Result<Loaded, String>) -> Prepared {
    let loaded = match reading {
        Ok(l) => l,
        Err(e) => {
            shared.note_source(Some(e.clone()));
            let message = format!("cannot read the source: {e}; the previous state keeps running");
            return Prepared::Refused(v1::ApplyResult::now(
                ApplyOutcome::Failed,
                "",
                message,
                Vec::new(),
                0,
            ));
        }
    };
    shared.note_source(None);
    let Some(network) = loaded.checked.network.as_ref() else {
        let diagnostics: Vec<v1::Diagnostic> = loaded
            .checked
            .diagnostics
            .iter()
            .map(|d| v1::Diagnostic::from_schema(d, &loaded.checked.sources))
            .collect();
        let errors = loaded
            .checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        let first = loaded
            .checked
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| format!(": {}", d.message))
            .unwrap_or_default();
        let message = format!(
            "{} is invalid ({errors} error{}){first}; the previous state keeps running",
            shared.source_path.display(),
            if errors == 1 { "" } else { "s" }
        );
        return Prepared::Refused(v1::ApplyResult::now(
            ApplyOutcome::Rejected,
            &loaded.revision,
            message,
            diagnostics,
            0,
        ));
    };
    match desired(network, &shared.name) {
        Ok(d) => Prepared::Ready(Box::new((loaded, d))),
        Err(e) => {
            let outcome = match e {
                DesiredError::NoVrouter(_) => ApplyOutcome::Rejected,
                _ => ApplyOutcome::Failed,
            };
            Prepared::Refused(v1::ApplyResult::now(
                outcome,
                &loaded.revision,
                format!("{e}; the previous state keeps running"),
                Vec::new(),
                0,
            ))
        }
    }
}

/// Applies a reading of the source and records the outcome.
pub(crate) async fn apply(
    shared: &Shared,
    reading: Result<Loaded, String>,
    trigger: &str,
) -> v1::ApplyResult {
    let outcome = match prepare(shared, reading) {
        Prepared::Refused(r) => r,
        Prepared::Ready(ready) => {
            let (loaded, desired) = *ready;
            run_plan(shared, loaded, desired).await
        }
    };
    record(shared, trigger, &outcome);
    outcome
}

async fn run_plan(shared: &Shared, loaded: Loaded, desired: Desired) -> v1::ApplyResult {
    let running = shared.state().applied.clone();
    if let Some(running) = &running
        && (running.listen != desired.listen || running.addresses != desired.addresses)
    {
        let message = format!(
            "the vrouter's listen address or overlay addresses changed ({} {:?} -> {} {:?}); \
             restart cvlan-vrouterd to apply that; the previous state keeps running",
            running.listen, running.addresses, desired.listen, desired.addresses
        );
        return v1::ApplyResult::now(
            ApplyOutcome::Failed,
            &loaded.revision,
            message,
            Vec::new(),
            0,
        );
    }
    let peers = desired.peers.clone();
    let plan = match shared.dataplane.apply(peers).await {
        Ok(plan) => plan,
        Err(e) => {
            return v1::ApplyResult::now(
                ApplyOutcome::Failed,
                &loaded.revision,
                format!("{e}; the previous state keeps running"),
                Vec::new(),
                0,
            );
        }
    };
    report_peers(shared, &plan);
    let unchanged = plan.is_empty()
        && running
            .as_ref()
            .is_some_and(|r| r.revision == loaded.revision);
    let at = SystemTime::now();
    shared.state().applied = Some(Applied {
        network: desired.network,
        tenant: desired.tenant,
        addresses: desired.addresses,
        listen: desired.listen,
        revision: loaded.revision.clone(),
        at: if unchanged {
            running.map_or(at, |r| r.at)
        } else {
            at
        },
    });
    v1::ApplyResult::now(
        if unchanged {
            ApplyOutcome::Unchanged
        } else {
            ApplyOutcome::Applied
        },
        &loaded.revision,
        format!("ipsec peers: {plan}"),
        Vec::new(),
        plan.actions(),
    )
}

fn report_peers(shared: &Shared, plan: &PeerPlan) {
    let events = &shared.events;
    for name in &plan.added {
        events.publish(
            "peer.added",
            EventLevel::Info,
            format!("ipsec peer {name} added"),
            [("peer", name.clone())],
        );
    }
    for name in &plan.removed {
        events.publish(
            "peer.removed",
            EventLevel::Info,
            format!("ipsec peer {name} removed; its SAs are deleted"),
            [("peer", name.clone())],
        );
    }
    for (names, what) in [
        (
            &plan.replaced,
            "its address, identities, secret or selectors changed: SAs set up again",
        ),
        (
            &plan.updated,
            "its proposals, lifetimes or DPD changed: SAs kept, used from the next rekey",
        ),
    ] {
        for name in names {
            events.publish(
                "peer.changed",
                EventLevel::Info,
                format!("ipsec peer {name} changed; {what}"),
                [("peer", name.clone())],
            );
        }
    }
}

fn record(shared: &Shared, trigger: &str, r: &v1::ApplyResult) {
    shared.state().last_apply = Some(r.clone());
    let (kind, level) = match r.outcome() {
        ApplyOutcome::Applied => ("apply.applied", EventLevel::Info),
        // Nothing happened: no event (the outcome is kept for `status`).
        ApplyOutcome::Unchanged => return,
        ApplyOutcome::Rejected => ("apply.rejected", EventLevel::Error),
        ApplyOutcome::Failed | ApplyOutcome::Unspecified => ("apply.failed", EventLevel::Error),
    };
    let short: String = r.revision.chars().take(12).collect();
    shared.events.publish(
        kind,
        level,
        format!("{} ({trigger}): {}", short_or_none(&short), r.message),
        [
            ("revision", r.revision.clone()),
            ("trigger", trigger.to_owned()),
            ("diagnostics", r.diagnostics.len().to_string()),
        ],
    );
}

fn short_or_none(revision: &str) -> &str {
    if revision.is_empty() {
        "no revision"
    } else {
        revision
    }
}
