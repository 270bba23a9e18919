//! The control service nodes call: `Register`, `WatchNetmap`, `AckNetmap`, `ReportEndpoints`.
//! A node is identified by the machine key it completed the Noise handshake with; every call
//! after registration finds its node by that key.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use cvlan_core::netmap::NetMap;
use cvlan_proto::convert::{netmap_delta_to_proto, netmap_to_proto, parse_endpoint};
use cvlan_proto::local::BoxStream;
use cvlan_proto::transport::noise::NoisePeer;
use cvlan_proto::v1;
use cvlan_proto::v1::control_service_server::ControlService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::hub::{Hub, Sent};
use super::status;
use crate::store::{Actor, AsyncStore, Node, NodeRegistration};

/// How often a stream with nothing to say sends a keepalive.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Messages a stream holds for a node that does not read; the stream's task waits beyond it.
pub const STREAM_QUEUE: usize = 4;

/// The control service.
#[derive(Clone)]
pub struct Control {
    store: AsyncStore,
    hub: Arc<Hub>,
    refused: Arc<AtomicU64>,
}

impl Control {
    /// The service over `store` and `hub`.
    pub fn new(store: AsyncStore, hub: Arc<Hub>) -> Self {
        Self {
            store,
            hub,
            refused: Arc::default(),
        }
    }

    /// How many `Register` calls were refused so far (shared: it keeps counting).
    pub fn refused(&self) -> Arc<AtomicU64> {
        self.refused.clone()
    }

    /// `Register`, whose refusals [`ControlService::register`] counts.
    async fn register_node(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        let peer = noise_peer(&request)?;
        let request = request.into_inner();
        let node_key = cvlan_proto::convert::key_from_bytes("node_key", &request.node_key)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !cvlan_schema::values::is_name(&request.node_name) {
            return Err(bad_name(&request.node_name));
        }
        let generation = self.hub.up_to_date().await;
        let Some(declared) = generation.declared.get(&request.node_name).cloned() else {
            return Err(refuse(format!(
                "node `{}` is not in network.kdl (revision {}): add it, apply, and register again",
                request.node_name, generation.revision
            )));
        };
        if let Some(file_key) = declared.public_key
            && file_key != node_key
        {
            return Err(refuse(format!(
                "node `{}` has another public-key in network.kdl than this host's node key",
                request.node_name
            )));
        }
        let name = request.node_name.clone();
        let existing = self
            .store
            .call(move |store| store.node(&name))
            .await
            .map_err(status)?;
        let renewal = existing
            .as_ref()
            .is_some_and(|n| n.registration.machine_key == peer.key && !n.expired);
        if let Some(n) = &existing
            && n.registration.machine_key != peer.key
        {
            return Err(refuse(format!(
                "node `{}` is registered by another machine; `cvlanctl node delete {}` first",
                request.node_name, request.node_name
            )));
        }
        let now = SystemTime::now();
        if !renewal {
            let auth_key = request.auth_key.clone();
            if auth_key.is_empty() {
                return Err(refuse(
                    "no auth key: put one (`cvlanctl authkey create`) in the file auth-key-file= names".to_owned(),
                ));
            }
            let key = self
                .store
                .call(move |store| store.redeem_auth_key(&auth_key, now))
                .await
                .map_err(status)?;
            if let Some(missing) = key.spec.tags.iter().find(|t| !declared.tags.contains(t)) {
                return Err(refuse(format!(
                    "the auth key is for nodes tagged `{missing}`, and node `{}` is not",
                    request.node_name
                )));
            }
        }
        let registration = NodeRegistration {
            name: request.node_name.clone(),
            machine_key: peer.key,
            node_key,
            addresses: declared.addresses.clone(),
            capabilities: request.capabilities,
            tags: declared.tags.clone(),
            key_expiry: generation.key_expiry.map(|d| now + d),
        };
        let actor = Actor {
            name: format!("node:{}", request.node_name),
            from: Some(peer.addr.to_string()),
        };
        let node = self
            .store
            .call(move |store| store.register_node(registration, &actor, now))
            .await
            .map_err(status)?;
        self.hub.changed();
        tracing::info!(node = %request.node_name, renewal, "node registered");
        Ok(Response::new(v1::RegisterResponse {
            node: Some(super::admin::node_proto(
                &node,
                self.hub.is_online(&node.registration.name),
            )),
            created: !renewal,
        }))
    }

    /// The registered node whose machine key made this call's handshake.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Node, Status> {
        let peer = noise_peer(request)?;
        let key = peer.key;
        let nodes = self
            .store
            .call(|store| store.nodes())
            .await
            .map_err(status)?;
        nodes
            .into_iter()
            .find(|n| n.registration.machine_key == key)
            .ok_or_else(|| {
                Status::unauthenticated("this machine key is not registered: Register first")
            })
    }
}

fn noise_peer<T>(request: &Request<T>) -> Result<NoisePeer, Status> {
    request
        .extensions()
        .get::<NoisePeer>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no Noise identity on this connection"))
}

/// The refusal of a `node_name` no network.kdl can declare; it repeats the name only when
/// it is short, so a huge one does not come back in the status.
fn bad_name(name: &str) -> Status {
    let what = match name.len() {
        0 => "is empty".to_owned(),
        1..=63 => format!("`{}` is not a node name", name.escape_default()),
        len => format!("is {len} bytes long"),
    };
    Status::invalid_argument(format!(
        "node_name {what}: names are 1-63 lowercase letters, digits and `-`, starting with a letter or digit"
    ))
}

/// Why a registration is refused, in the words the node logs.
fn refuse(message: String) -> Status {
    Status::permission_denied(message)
}

#[tonic::async_trait]
impl ControlService for Control {
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        let registered = self.register_node(request).await;
        if registered.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        registered
    }

    async fn watch_netmap(
        &self,
        request: Request<v1::WatchNetmapRequest>,
    ) -> Result<Response<BoxStream<v1::WatchNetmapResponse>>, Status> {
        let node = self.caller(&request).await?;
        if node.expired {
            return Err(Status::permission_denied(
                "this node was expired: register again with an auth key",
            ));
        }
        let resume = request.into_inner().resume_from_version;
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        tokio::spawn(stream_netmaps(
            self.hub.clone(),
            node.registration.name,
            resume,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_netmap(
        &self,
        request: Request<v1::AckNetmapRequest>,
    ) -> Result<Response<v1::AckNetmapResponse>, Status> {
        let node = self.caller(&request).await?;
        let name = node.registration.name;
        self.store
            .call(move |store| store.touch_node(&name, SystemTime::now()))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::AckNetmapResponse {}))
    }

    async fn report_endpoints(
        &self,
        request: Request<v1::ReportEndpointsRequest>,
    ) -> Result<Response<v1::ReportEndpointsResponse>, Status> {
        let node = self.caller(&request).await?;
        let endpoints = request
            .into_inner()
            .endpoints
            .iter()
            .map(|e| parse_endpoint("endpoints.address", &e.address))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if endpoints.len() > MAX_ENDPOINTS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_ENDPOINTS} endpoints per report"
            )));
        }
        if endpoints != node.endpoints {
            let name = node.registration.name;
            self.store
                .call(move |store| store.set_endpoints(&name, &endpoints))
                .await
                .map_err(status)?;
            self.hub.changed();
        }
        Ok(Response::new(v1::ReportEndpointsResponse {}))
    }
}

/// The most endpoints one report may carry.
pub const MAX_ENDPOINTS: usize = 16;

/// Streams `node`'s netmaps into `tx` until the node goes away, its map does (expired,
/// deleted, removed from the file), or the hub stops: a full map first (or a delta when the
/// node holds the version the hub sent it last), then one delta per generation that changes
/// it, and a keepalive every [`KEEPALIVE`] otherwise.
async fn stream_netmaps(
    hub: Arc<Hub>,
    node: String,
    resume: u64,
    tx: mpsc::Sender<Result<v1::WatchNetmapResponse, Status>>,
) {
    let _online = hub.online(&node);
    let mut generations = hub.subscribe();
    let mut last = hub
        .sent(&node)
        .filter(|sent| sent.version == resume && resume != 0);
    let mut version = resume.max(hub.sent(&node).map_or(0, |s| s.version));
    // The changes announced before this stream: its node's registration among them.
    let announced = hub.changes();
    loop {
        let generation = generations.borrow_and_update().clone();
        let Some(map) = generation.map(&node) else {
            if generation.changes < announced {
                // A generation from before the node registered: wait for the one with it.
                tokio::select! {
                    changed = generations.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
                continue;
            }
            let _ = tx
                .send(Err(Status::permission_denied(format!(
                    "node `{node}` has no netmap any more (expired, deleted or removed from network.kdl)"
                ))))
                .await;
            return;
        };
        if let Some(update) = next_update(last.as_ref(), &map, version, generation.revision) {
            version = update.version;
            let message = v1::WatchNetmapResponse {
                update: Some(update),
            };
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
            let sent = Sent {
                version,
                revision: generation.revision,
                map: map.clone(),
            };
            hub.record_sent(&node, sent.clone());
            last = Some(sent);
        }
        tokio::select! {
            changed = generations.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(KEEPALIVE) => {
                let keepalive = v1::WatchNetmapResponse {
                    update: Some(v1::NetmapUpdate {
                        version,
                        time: Some(SystemTime::now().into()),
                        body: Some(v1::netmap_update::Body::Keepalive(())),
                    }),
                };
                if tx.send(Ok(keepalive)).await.is_err() {
                    return;
                }
            }
            () = tx.closed() => return,
        }
    }
}

/// The update that brings a node from `last` (what it holds) to `map` of `revision`: `None`
/// when both are what it holds, a delta when one can say it (an empty one when only the
/// revision moved, so every node names the running revision), else the full map.
fn next_update(
    last: Option<&Sent>,
    map: &Arc<NetMap>,
    version: u64,
    revision: u64,
) -> Option<v1::NetmapUpdate> {
    let next = version + 1;
    let body = match last {
        // Maps a change did not touch are shared between generations: one pointer compare.
        Some(sent)
            if (Arc::ptr_eq(&sent.map, map) || sent.map == *map) && sent.revision == revision =>
        {
            return None;
        }
        Some(sent) => {
            let delta = cvlan_core::netmap::diff(&sent.map, map);
            match netmap_delta_to_proto(&delta, sent.version, revision) {
                Some(delta) => v1::netmap_update::Body::Delta(delta),
                None => v1::netmap_update::Body::Full(netmap_to_proto(map, next, revision)),
            }
        }
        None => v1::netmap_update::Body::Full(netmap_to_proto(map, next, revision)),
    };
    Some(v1::NetmapUpdate {
        version: next,
        time: Some(SystemTime::now().into()),
        body: Some(body),
    })
}
