//! The local API subset cvlan-vrouterd serves: `Status`, `Sas`, `WatchSas`, `WatchEvents` and
//! `Reload`. Every other call answers UNIMPLEMENTED (the generated default). Nothing here
//! reads a secret: the data plane's snapshot holds none.

mod sas_view;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cvlan_proto::local::{BoxStream, LocalApi};
use cvlan_proto::v1::{self, DaemonKind, SourceKind};
use tokio::sync::{broadcast, oneshot, watch};
use tonic::{Request, Response, Status};

use cvland::events::{lost, matches};

use crate::daemon::Shared;
pub use sas_view::{sas_response, status_drops};

/// How often `WatchSas` sends a snapshot unless asked otherwise, and the fastest it will.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The local API of one vrouter.
pub(crate) struct VrouterApi {
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
}

impl VrouterApi {
    pub(crate) fn new(shared: Arc<Shared>, stopping: watch::Receiver<bool>) -> Self {
        Self { shared, stopping }
    }
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::unavailable(e.to_string())
}

fn interval(requested: Option<&cvlan_proto::prost_types::Duration>) -> Duration {
    requested
        .and_then(|d| Duration::try_from(*d).ok())
        .unwrap_or(DEFAULT_INTERVAL)
        .max(MIN_INTERVAL)
}

#[tonic::async_trait]
impl LocalApi for VrouterApi {
    async fn status(
        &self,
        _request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        let snapshot = self.shared.dataplane.sas().await.map_err(unavailable)?;
        let s = &self.shared;
        let state = s.state();
        let applied = state.applied.as_ref();
        Ok(Response::new(v1::StatusResponse {
            name: s.name.clone(),
            kind: DaemonKind::Vrouter.into(),
            network: applied.map(|a| a.network.clone()).unwrap_or_default(),
            tenant: applied.map(|a| a.tenant.clone()).unwrap_or_default(),
            addresses: applied
                .map(|a| a.addresses.iter().map(|n| n.addr().to_string()).collect())
                .unwrap_or_default(),
            public_key: s.public_key.clone(),
            source: Some(v1::SourceInfo {
                kind: SourceKind::File.into(),
                location: s.source_path.display().to_string(),
                last_contact: state.source_contact.map(Into::into),
                last_error: state.source_error.clone(),
                ..Default::default()
            }),
            revision: applied.map(|a| a.revision.clone()).unwrap_or_default(),
            applied_at: applied.map(|a| a.at.into()),
            last_apply: state.last_apply.clone(),
            peers: Some(v1::PeerCounts {
                total: snapshot.peers_total,
                connected: snapshot.peers_up,
                direct: snapshot.peers_up,
                relayed: 0,
            }),
            started_at: Some(s.started.into()),
            uptime: cvlan_proto::prost_types::Duration::try_from(s.started_at.elapsed()).ok(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            tun: s.host.tun.clone(),
            listen_port: u32::from(snapshot.natt_port),
            drops: status_drops(&snapshot),
        }))
    }

    async fn sas(
        &self,
        request: Request<v1::SasRequest>,
    ) -> Result<Response<v1::SasResponse>, Status> {
        let peer = request.into_inner().peer;
        let snapshot = self.shared.dataplane.sas().await.map_err(unavailable)?;
        Ok(Response::new(sas_response(
            &snapshot,
            SystemTime::now(),
            &peer,
        )))
    }

    async fn watch_sas(
        &self,
        request: Request<v1::WatchSasRequest>,
    ) -> Result<Response<BoxStream<v1::SasResponse>>, Status> {
        let request = request.into_inner();
        let every = interval(request.interval.as_ref());
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let shared = self.shared.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopping.wait_for(|s| *s) => break,
                }
                let item = match shared.dataplane.sas().await {
                    Ok(s) => Ok(sas_response(&s, SystemTime::now(), &request.peer)),
                    Err(e) => Err(unavailable(e)),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<BoxStream<v1::Event>>, Status> {
        let request = request.into_inner();
        // cvland's event bus hands out the replay and the live feed under one lock: no gap,
        // no repeat.
        let sub = self.shared.events.subscribe(&request);
        let kinds = request.kinds;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            for event in sub.replay {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            let Some(mut live) = sub.live else {
                return;
            };
            loop {
                let received = tokio::select! {
                    r = live.recv() => r,
                    _ = stopping.wait_for(|s| *s) => return,
                };
                let event = match received {
                    Ok(e) if !matches(&kinds, &e.kind) => continue,
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => lost(n),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn reload(
        &self,
        _request: Request<v1::ReloadRequest>,
    ) -> Result<Response<v1::ReloadResponse>, Status> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .reload
            .send(tx)
            .await
            .map_err(|_| Status::unavailable("the daemon is stopping"))?;
        let result = rx
            .await
            .map_err(|_| Status::unavailable("the daemon is stopping"))?;
        Ok(Response::new(v1::ReloadResponse {
            result: Some(result),
        }))
    }
}
