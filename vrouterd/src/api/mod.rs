//! The local API subset cvlan-vrouterd serves: `Status`, `Sas`, `WatchSas`, `WatchEvents` and
//! `Reload`. Every other call answers UNIMPLEMENTED (the generated default). Nothing here
//! reads a secret: the data plane's snapshot holds none.

mod sas_view;

use std::sync::Arc;
use std::time::SystemTime;

use cvlan_agent::api as base;
use cvlan_proto::local::{BoxStream, LocalApiService};
use cvlan_proto::v1::{self, DaemonKind};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::daemon::Shared;
pub use sas_view::{ike_state, sas_response, status_drops};

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

#[tonic::async_trait]
impl LocalApiService for VrouterApi {
    async fn status(
        &self,
        _request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        let snapshot = self.shared.dataplane.sas().await.map_err(unavailable)?;
        let s = &self.shared;
        let applied = s.applied().clone();
        let applied = applied.as_ref();
        Ok(Response::new(v1::StatusResponse {
            network: applied.map(|a| a.network.clone()).unwrap_or_default(),
            tenant: applied.map(|a| a.tenant.clone()).unwrap_or_default(),
            addresses: applied
                .map(|a| a.addresses.iter().map(|n| n.addr().to_string()).collect())
                .unwrap_or_default(),
            revision: applied.map(|a| a.revision.clone()).unwrap_or_default(),
            applied_at: applied.map(|a| a.at.into()),
            peers: Some(v1::PeerCounts {
                total: snapshot.peers_total,
                connected: snapshot.peers_up,
                direct: snapshot.peers_up,
                relayed: 0,
            }),
            tun: s.host.tun.clone(),
            listen_port: u32::from(snapshot.natt_port),
            drops: status_drops(&snapshot),
            ..base::status(&s.agent, DaemonKind::Vrouter)
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
    ) -> Result<Response<BoxStream<v1::WatchSasResponse>>, Status> {
        let request = request.into_inner();
        let every = base::interval(request.interval);
        let shared = self.shared.clone();
        let live = shared.agent.live.clone();
        Ok(Response::new(live.spawn(
            self.stopping.clone(),
            |tx| async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let item = match shared.dataplane.sas().await {
                        Ok(s) => Ok(v1::WatchSasResponse {
                            snapshot: Some(sas_response(&s, SystemTime::now(), &request.peer)),
                        }),
                        Err(e) => Err(unavailable(e)),
                    };
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        break;
                    }
                }
            },
        )))
    }

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<BoxStream<v1::WatchEventsResponse>>, Status> {
        Ok(Response::new(base::watch_events(
            &self.shared.agent,
            request.get_ref(),
            self.stopping.clone(),
        )))
    }

    async fn reload(
        &self,
        _request: Request<v1::ReloadRequest>,
    ) -> Result<Response<v1::ReloadResponse>, Status> {
        base::reload(&self.shared.reload).await.map(Response::new)
    }
}
