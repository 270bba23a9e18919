//! The local-API services every daemon serves the same way: `WatchEvents` (replay, then live),
//! `Reload` (read the source again and say how the apply went), the fields of `Status` that
//! say who the daemon is and how its source and last apply are, and the interval rule of the
//! live views. Each daemon's `LocalApiService` implementation calls these and adds its own calls.

use std::time::{Duration, SystemTime};

use cvlan_proto::local::BoxStream;
use cvlan_proto::v1;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

use crate::events;
use crate::source::ReloadReply;
use crate::state::AgentState;
use crate::wire;

/// The shortest interval a live view may ask for.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// A live view's interval when it asks for none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// How long Reload waits for the source to be read and the result applied.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// A live view's interval: [`DEFAULT_INTERVAL`] when absent, at least [`MIN_INTERVAL`].
pub fn interval(requested: Option<prost_types::Duration>) -> Duration {
    requested
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(DEFAULT_INTERVAL)
        .max(MIN_INTERVAL)
}

/// WatchEvents: the replay `request` selects, then (when following) live events of the
/// selected kinds until the client leaves or `stopping` turns true; a client too slow to keep
/// up gets `events.lost` with the count, one that stops reading is dropped.
pub fn watch_events(
    agent: &AgentState,
    request: &v1::WatchEventsRequest,
    stopping: watch::Receiver<bool>,
) -> BoxStream<v1::WatchEventsResponse> {
    let query = wire::query(request);
    let subscription = agent.events.subscribe(&query);
    agent.live.spawn(stopping, |tx| async move {
        for event in subscription.replay {
            if tx.send(Ok(wire::event(event))).await.is_err() {
                return;
            }
        }
        let Some(mut live) = subscription.live else {
            return;
        };
        loop {
            let event = match live.recv().await {
                Ok(event) if events::matches(&query.kinds, &event.kind) => event,
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => events::lost(n),
                Err(RecvError::Closed) => return,
            };
            if tx.send(Ok(wire::event(event))).await.is_err() {
                return;
            }
        }
    })
}

/// Reload: asks the source task (through `reloads`) to read again and waits for the outcome.
pub async fn reload(reloads: &mpsc::Sender<ReloadReply>) -> Result<v1::ReloadResponse, Status> {
    let (tx, rx) = oneshot::channel();
    reloads
        .send(tx)
        .await
        .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
    let result = tokio::time::timeout(RELOAD_TIMEOUT, rx)
        .await
        .map_err(|_| Status::deadline_exceeded("the source did not answer in time"))?
        .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
    Ok(v1::ReloadResponse {
        result: Some(wire::apply_result(&result)),
    })
}

/// The part of `Status` every daemon answers alike: name, kind, key, source, last apply,
/// start time, uptime, version and the live views' counters. The daemon fills in the rest.
pub fn status(agent: &AgentState, kind: v1::DaemonKind) -> v1::StatusResponse {
    let uptime = SystemTime::now()
        .duration_since(agent.started_at)
        .unwrap_or_default();
    v1::StatusResponse {
        name: agent.name.clone(),
        kind: kind.into(),
        public_key: cvlan_proto::convert::key_to_bytes(&agent.public_key),
        source: Some(wire::source(&agent.source())),
        last_apply: agent.last_apply().as_ref().map(wire::apply_result),
        started_at: Some(agent.started_at.into()),
        uptime: prost_types::Duration::try_from(uptime).ok(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        live_views: Some(wire::live_views(agent.live.counts())),
        ..Default::default()
    }
}
