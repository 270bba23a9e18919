//! The local API cvland serves on its Unix socket (`cvlan_proto::local::serve`): Status,
//! Peers, WatchPeers, Ping, Whois, WatchEvents, Reload, Plan, and the policy calls
//! (PolicyExplain, PolicyHits, WatchPolicyHits, PolicyTest; in [`policy`]), DnsStatus (in
//! [`dns`]). Relays, Netcheck
//! and the SA calls answer UNIMPLEMENTED. Everything is read from the shared state, the mesh's
//! statistics and its filter's counters; nothing here changes what runs except Reload, which
//! asks the source to read again.

mod dns;
mod peer_table;
pub(crate) mod peers;
mod ping;
pub(crate) mod policy;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use cvlan_agent::source::{Reading, ReloadReply, revision_of};
use cvlan_agent::{api as base, wire};
use cvlan_core::netmap::{NetMap, PeerKind as CorePeerKind};
use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::local::{BoxStream, LocalApiService};
use cvlan_proto::v1;
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status};

use crate::reconcile::desired::{desired_state, nothing_like};
use crate::state::Shared;

/// The local API service.
#[derive(Clone)]
pub struct Api {
    shared: Arc<Shared>,
    reloads: mpsc::Sender<ReloadReply>,
    stopping: watch::Receiver<bool>,
    /// The rows every WatchPeers client reads.
    peer_table: Arc<peer_table::PeerTable>,
}

impl Api {
    /// The API over `shared`; Reload requests go to the source task through `reloads`; live
    /// streams end when `stopping` turns true.
    pub fn new(
        shared: Arc<Shared>,
        reloads: mpsc::Sender<ReloadReply>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            shared,
            reloads,
            stopping,
            peer_table: Arc::default(),
        }
    }
}

#[tonic::async_trait]
impl LocalApiService for Api {
    async fn status(
        &self,
        _: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        Ok(Response::new(self.status_now().await))
    }

    async fn peers(
        &self,
        _: Request<v1::PeersRequest>,
    ) -> Result<Response<v1::PeersResponse>, Status> {
        Ok(Response::new(v1::PeersResponse {
            peers: peers::rows(&self.shared).await,
            time: Some(SystemTime::now().into()),
        }))
    }

    async fn watch_peers(
        &self,
        request: Request<v1::WatchPeersRequest>,
    ) -> Result<Response<BoxStream<v1::WatchPeersResponse>>, Status> {
        let interval = base::interval(request.get_ref().interval);
        Ok(Response::new(peers::watch(
            self.shared.clone(),
            self.peer_table.clone(),
            interval,
            self.stopping.clone(),
        )))
    }

    async fn ping(
        &self,
        request: Request<v1::PingRequest>,
    ) -> Result<Response<BoxStream<v1::PingResponse>>, Status> {
        ping::ping(
            self.shared.clone(),
            request.into_inner(),
            self.stopping.clone(),
        )
        .map(Response::new)
    }

    async fn whois(
        &self,
        request: Request<v1::WhoisRequest>,
    ) -> Result<Response<v1::WhoisResponse>, Status> {
        let text = request.into_inner().address;
        let address: IpAddr = text
            .trim()
            .parse()
            .map_err(|_| Status::invalid_argument(format!("`{text}` is not an IP address")))?;
        let Some(running) = self.shared.read().running.clone() else {
            return Err(Status::failed_precondition("no network state applied yet"));
        };
        whois(&running.netmap, address)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("nothing this node knows owns {address}")))
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
        _: Request<v1::ReloadRequest>,
    ) -> Result<Response<v1::ReloadResponse>, Status> {
        base::reload(&self.reloads).await.map(Response::new)
    }

    async fn policy_explain(
        &self,
        request: Request<v1::PolicyExplainRequest>,
    ) -> Result<Response<v1::PolicyExplainResponse>, Status> {
        policy::explain(&self.shared, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn policy_hits(
        &self,
        _: Request<v1::PolicyHitsRequest>,
    ) -> Result<Response<v1::PolicyHitsResponse>, Status> {
        policy::hits(&self.shared).await.map(Response::new)
    }

    async fn watch_policy_hits(
        &self,
        request: Request<v1::WatchPolicyHitsRequest>,
    ) -> Result<Response<BoxStream<v1::WatchPolicyHitsResponse>>, Status> {
        let interval = base::interval(request.get_ref().interval);
        Ok(Response::new(policy::watch_hits(
            self.shared.clone(),
            interval,
            self.stopping.clone(),
        )))
    }

    async fn policy_test(
        &self,
        request: Request<v1::PolicyTestRequest>,
    ) -> Result<Response<v1::PolicyTestResponse>, Status> {
        policy::test(&self.shared, request.into_inner().files)
            .await
            .map(Response::new)
    }

    async fn dns_status(
        &self,
        _: Request<v1::DnsStatusRequest>,
    ) -> Result<Response<v1::DnsStatusResponse>, Status> {
        Ok(Response::new(dns::status(self.shared.dns.report())))
    }

    async fn local_plan(
        &self,
        request: Request<v1::LocalPlanRequest>,
    ) -> Result<Response<v1::LocalPlanResponse>, Status> {
        let files = request.into_inner().files;
        let node = self.shared.node().to_owned();
        let running = self.shared.read().running.clone();
        let response = tokio::task::spawn_blocking(move || plan_files(&node, files, running))
            .await
            .map_err(|e| Status::internal(format!("planning failed: {e}")))??;
        Ok(Response::new(response))
    }
}

impl Api {
    async fn status_now(&self) -> v1::StatusResponse {
        let (running, listen_port) = {
            let state = self.shared.read();
            (state.running.clone(), state.listen_port)
        };
        let (counts, drops) = peers::summary(&self.shared).await;
        let map = running.as_ref().map(|r| r.netmap.clone());
        v1::StatusResponse {
            network: map
                .as_ref()
                .map(|m| m.network.name.clone())
                .unwrap_or_default(),
            tenant: map
                .as_ref()
                .map(|m| m.network.tenant.clone())
                .unwrap_or_default(),
            addresses: map
                .as_ref()
                .map(|m| m.node.addresses.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            revision: running
                .as_ref()
                .map(|r| r.revision.clone())
                .unwrap_or_default(),
            applied_at: running.as_ref().map(|r| r.applied_at.into()),
            peers: Some(counts),
            tun: self.shared.tun.clone(),
            listen_port: u32::from(listen_port),
            drops,
            ..base::status(&self.shared.agent, v1::DaemonKind::Node)
        }
    }
}

/// Plans `files` (network.kdl first, then its includes by include path) for `node` against
/// what runs.
fn plan_files(
    node: &str,
    files: Vec<v1::SourceFile>,
    running: Option<crate::state::Running>,
) -> Result<v1::LocalPlanResponse, Status> {
    let checked = check_sent(files)?;
    let fetched = Reading {
        revision: revision_of(&checked.sources),
        checked,
    };
    let revision = running
        .as_ref()
        .map(|r| r.revision.clone())
        .unwrap_or_default();
    let mut response = v1::LocalPlanResponse {
        node: node.to_owned(),
        revision,
        ..Default::default()
    };
    match desired_state(fetched, node) {
        Err(rejection) => {
            response.message = rejection.message;
            response.diagnostics = rejection.diagnostics.iter().map(wire::diagnostic).collect();
        }
        Ok(desired) => {
            let actual = match &running {
                Some(r) => r.netmap.as_ref().clone(),
                None => nothing_like(&desired.netmap),
            };
            let plan = cvlan_core::plan::plan(&desired.netmap, &actual);
            response.ok = true;
            response.diagnostics = desired.diagnostics.iter().map(wire::diagnostic).collect();
            response.actions = plan.actions.iter().map(Into::into).collect();
        }
    }
    Ok(response)
}

/// Checks files a client sent: network.kdl first, then its includes by include path.
fn check_sent(files: Vec<v1::SourceFile>) -> Result<cvlan_schema::Checked, Status> {
    let mut files = files.into_iter();
    let Some(root) = files.next() else {
        return Err(Status::invalid_argument("no file sent"));
    };
    let includes: HashMap<String, String> = files.map(|f| (f.name, f.text)).collect();
    let mut include = |rel: &str| {
        includes
            .get(rel)
            .map(|text| (rel.to_owned(), text.clone()))
            .ok_or_else(|| format!("`{rel}` was not sent with the file"))
    };
    Ok(cvlan_schema::check_network(
        &root.name,
        &root.text,
        &mut include,
    ))
}

/// Who owns `address` among this node and its peers: an overlay address, else the most
/// specific routed prefix (a subnet router's route or a vrouter's remote traffic selector).
pub fn whois(map: &NetMap, address: IpAddr) -> Option<v1::WhoisResponse> {
    let members = std::iter::once(&map.node).chain(&map.peers);
    let entry =
        |p: &cvlan_core::netmap::Peer, kind: v1::WhoisKind, prefix: String| v1::WhoisResponse {
            address: address.to_string(),
            kind: kind.into(),
            name: p.name.clone(),
            owner: p.owner.clone().unwrap_or_default(),
            tags: p.tags.clone(),
            addresses: p.addresses.iter().map(ToString::to_string).collect(),
            public_key: p.public_key.as_ref().map(key_to_bytes).unwrap_or_default(),
            prefix,
            via: String::new(),
        };
    let mut best: Option<(u8, v1::WhoisResponse)> = None;
    for p in members {
        if p.addresses.contains(&address) {
            let kind = match p.kind {
                CorePeerKind::Node => v1::WhoisKind::Node,
                CorePeerKind::Vrouter => v1::WhoisKind::Vrouter,
            };
            return Some(entry(p, kind, ipnet::IpNet::from(address).to_string()));
        }
        for net in &p.allowed_ips {
            let is_host = p.addresses.iter().any(|a| ipnet::IpNet::from(*a) == *net);
            if !is_host
                && net.contains(&address)
                && best.as_ref().is_none_or(|(len, _)| net.prefix_len() > *len)
            {
                best = Some((
                    net.prefix_len(),
                    entry(p, v1::WhoisKind::Route, net.to_string()),
                ));
            }
        }
    }
    best.map(|(_, w)| w)
}
