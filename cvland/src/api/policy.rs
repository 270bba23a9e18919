//! The policy calls of the local API: PolicyExplain and PolicyTest against the running policy
//! ([`crate::policy::RunningPolicy`]), and PolicyHits / WatchPolicyHits from the counters the
//! mesh's filter keeps (read inside the data-plane thread, so no lock is shared with it).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cvlan_proto::local::BoxStream;
use cvlan_proto::v1;
use tokio::sync::{oneshot, watch};
use tonic::Status;

use super::check_sent;
use crate::policy::{PolicyError, RunningPolicy};
use crate::state::Shared;

/// The running policy and its revision.
fn running(shared: &Shared) -> Result<(Arc<RunningPolicy>, String), Status> {
    let running = shared.read().running.clone();
    running
        .map(|r| (r.policy, r.revision))
        .ok_or_else(|| Status::failed_precondition("no network state applied yet"))
}

fn status(e: PolicyError) -> Status {
    match e {
        PolicyError::NoNetwork => Status::failed_precondition(e.to_string()),
        PolicyError::Argument(m) => Status::invalid_argument(m),
        PolicyError::Unknown(m) => Status::not_found(m),
    }
}

fn internal(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("the policy task failed: {e}"))
}

/// PolicyExplain: core's explanation of the packet under the running policy.
pub async fn explain(
    shared: &Shared,
    request: v1::PolicyExplainRequest,
) -> Result<v1::PolicyExplainResponse, Status> {
    let (policy, _) = running(shared)?;
    let explanation = tokio::task::spawn_blocking(move || policy.explain(&request))
        .await
        .map_err(internal)?
        .map_err(status)?;
    Ok((&explanation).into())
}

/// PolicyTest: the policy-tests of the running network, or of the files sent, evaluated by the
/// running policy.
pub async fn test(
    shared: &Shared,
    files: Vec<v1::SourceFile>,
) -> Result<v1::PolicyTestResponse, Status> {
    let (policy, revision) = running(shared)?;
    let sent = if files.is_empty() {
        None
    } else {
        let checked = check_sent(files)?;
        let errors = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| v1::Diagnostic::from_schema(d, &checked.sources))
            .collect();
        Some((checked.network, errors))
    };
    let mut response = tokio::task::spawn_blocking(move || policy.tests(sent))
        .await
        .map_err(internal)?
        .map_err(status)?;
    response.revision = revision;
    Ok(response)
}

/// PolicyHits: a snapshot of the filter's counters.
pub async fn hits(shared: &Shared) -> Result<v1::PolicyHitsResponse, Status> {
    let (policy, revision) = running(shared)?;
    let (mesh, since) = {
        let state = shared.read();
        (state.mesh.clone(), state.hits_since)
    };
    let Some(mesh) = mesh else {
        return Err(Status::failed_precondition(
            "the mesh device is not running",
        ));
    };
    let (tx, rx) = oneshot::channel();
    mesh.update_filter(move |filter| {
        let _ = tx.send(filter.hits());
    })
    .await
    .map_err(|e| Status::unavailable(e.to_string()))?;
    let counters = rx
        .await
        .map_err(|_| Status::unavailable("the mesh device stopped"))?;
    Ok(v1::PolicyHitsResponse {
        rules: policy.hit_rows(&counters),
        time: Some(SystemTime::now().into()),
        since: since.map(Into::into),
        revision,
    })
}

/// WatchPolicyHits: a snapshot every `interval` until the client goes away or the daemon
/// stops; a snapshot that cannot be taken (nothing runs yet, the device restarting) is skipped.
pub fn watch_hits(
    shared: Arc<Shared>,
    interval: Duration,
    stopping: watch::Receiver<bool>,
) -> BoxStream<v1::WatchPolicyHitsResponse> {
    shared.agent.live.clone().spawn(stopping, |tx| async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Ok(snapshot) = hits(&shared).await
                && tx
                    .send(Ok(v1::WatchPolicyHitsResponse {
                        snapshot: Some(snapshot),
                    }))
                    .await
                    .is_err()
            {
                return;
            }
        }
    })
}
