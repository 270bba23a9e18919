//! One apply: the agent's file source reads and checks network.kdl, [`compiler`] derives this
//! vrouter's desired state from it (reading the secrets), and [`apply`] hands the peer set to
//! the data plane as a diff. A file that is invalid, names no such vrouter, or whose secrets
//! cannot be read changes nothing: the previous state keeps running and the outcome (with
//! diagnostics) is kept for `status` and reported as an event.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cvlan_agent::source::{Compile, Compiled, Fetched, SourceError};
use cvlan_agent::{ApplyResult, EventLevel, Outcome, Rejection};
use cvlan_schema::report::to_json;
use ipnet::IpNet;

use super::Shared;
use crate::desired::{Desired, DesiredError, desired};
use crate::plan::PeerPlan;

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

/// The source task's compile step for the vrouter `name` following `path`: check the reading
/// and derive the desired state (reading the secrets, so nothing is remembered: a secret file
/// may change without network.kdl changing).
pub(crate) fn compiler(name: &str, path: &Path) -> Compile<Desired> {
    let (name, path) = (name.to_owned(), path.to_owned());
    Arc::new(move |fetched: Fetched| {
        let Fetched::Files(reading) = fetched else {
            return Err(Rejection::invalid(
                "cvlan-vrouterd follows network files, not a controller's netmap".to_owned(),
                Vec::new(),
            ));
        };
        let checked = &reading.checked;
        let Some(network) = checked.network.as_ref() else {
            let errors: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            let first = errors
                .first()
                .map(|d| format!(": {}", d.message))
                .unwrap_or_default();
            let message = format!(
                "{} is invalid ({} error{}){first}",
                path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            let diagnostics = to_json(&checked.sources, &checked.diagnostics);
            return Err(Rejection::invalid(message, diagnostics));
        };
        desired(network, &name).map_err(|e| Rejection {
            outcome: match e {
                DesiredError::NoVrouter(_) => Outcome::Rejected,
                _ => Outcome::Failed,
            },
            message: e.to_string(),
            diagnostics: Vec::new(),
        })
    })
}

/// Applies an update of the source and records the outcome.
pub(crate) async fn apply(
    shared: &Shared,
    update: Result<Compiled<Desired>, SourceError>,
    trigger: &str,
) -> ApplyResult {
    let outcome = match update {
        Err(e) => ApplyResult::now(
            Outcome::Failed,
            "",
            format!("cannot read the source: {e}; the previous state keeps running"),
            Vec::new(),
            0,
        ),
        Ok(Compiled {
            revision,
            desired: Err(rejection),
        }) => ApplyResult::now(
            rejection.outcome,
            &revision,
            format!("{}; the previous state keeps running", rejection.message),
            rejection.diagnostics,
            0,
        ),
        Ok(Compiled {
            revision,
            desired: Ok(desired),
        }) => run_plan(shared, &revision, desired).await,
    };
    record(shared, trigger, &outcome);
    outcome
}

async fn run_plan(shared: &Shared, revision: &str, desired: Desired) -> ApplyResult {
    let running = shared.applied().clone();
    if let Some(running) = &running
        && (running.listen != desired.listen || running.addresses != desired.addresses)
    {
        let message = format!(
            "the vrouter's listen address or overlay addresses changed ({} {:?} -> {} {:?}); \
             restart cvlan-vrouterd to apply that; the previous state keeps running",
            running.listen, running.addresses, desired.listen, desired.addresses
        );
        return ApplyResult::now(Outcome::Failed, revision, message, Vec::new(), 0);
    }
    let peers = desired.peers.clone();
    let plan = match shared.dataplane.apply(peers).await {
        Ok(plan) => plan,
        Err(e) => {
            return ApplyResult::now(
                Outcome::Failed,
                revision,
                format!("{e}; the previous state keeps running"),
                Vec::new(),
                0,
            );
        }
    };
    report_peers(shared, &plan);
    let unchanged = plan.is_empty() && running.as_ref().is_some_and(|r| r.revision == revision);
    let at = SystemTime::now();
    *shared.applied() = Some(Applied {
        network: desired.network,
        tenant: desired.tenant,
        addresses: desired.addresses,
        listen: desired.listen,
        revision: revision.to_owned(),
        at: if unchanged {
            running.map_or(at, |r| r.at)
        } else {
            at
        },
    });
    ApplyResult::now(
        if unchanged {
            Outcome::Unchanged
        } else {
            Outcome::Applied
        },
        revision,
        format!("ipsec peers: {plan}"),
        Vec::new(),
        plan.actions(),
    )
}

fn report_peers(shared: &Shared, plan: &PeerPlan) {
    let events = &shared.agent.events;
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

fn record(shared: &Shared, trigger: &str, r: &ApplyResult) {
    shared.agent.set_last_apply(r.clone());
    let (kind, level) = match r.outcome {
        Outcome::Applied => ("apply.applied", EventLevel::Info),
        // Nothing happened: no event (the outcome is kept for `status`).
        Outcome::Unchanged => return,
        Outcome::Rejected => ("apply.rejected", EventLevel::Error),
        Outcome::Failed => ("apply.failed", EventLevel::Error),
    };
    let short: String = r.revision.chars().take(12).collect();
    shared.agent.events.publish(
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
