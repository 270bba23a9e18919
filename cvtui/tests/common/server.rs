//! A small local-API daemon for the tests, served over a real Unix socket: a fixed status, a
//! peer table and hits the test can change, an event buffer with replay, ping and explain.
//! Optional calls (Relays, Netcheck, WatchSas) are served only when asked for, as a daemon
//! with those features would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cvlan_proto::local::{BoxStream, LocalApiService, LocalSocket, ServeError};
use cvlan_proto::v1;
use cvlan_proto::v1::watch_events_request::Start;
use tokio::sync::{broadcast, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

/// What the daemon holds; shared with the test, which changes it and pushes updates.
pub struct Shared {
    pub status: Mutex<v1::StatusResponse>,
    pub peers: Mutex<v1::WatchPeersResponse>,
    pub hits: Mutex<v1::PolicyHitsResponse>,
    pub events: Mutex<Vec<v1::WatchEventsResponse>>,
    /// How each WatchEvents call asked to start.
    pub event_starts: Mutex<Vec<Option<Start>>>,
    pub peer_updates: broadcast::Sender<v1::WatchPeersResponse>,
    pub hit_updates: broadcast::Sender<v1::PolicyHitsResponse>,
    pub live_events: broadcast::Sender<v1::WatchEventsResponse>,
    /// Serve Relays, Netcheck and WatchSas.
    pub extras: bool,
    /// How many Status calls have read `status` so far.
    pub status_reads: AtomicUsize,
}

impl Shared {
    pub fn new(peers: v1::WatchPeersResponse, extras: bool) -> Arc<Self> {
        Arc::new(Self {
            status: Mutex::new(super::status()),
            peers: Mutex::new(peers),
            hits: Mutex::new(super::hits(3600)),
            events: Mutex::new(super::events(12)),
            event_starts: Mutex::new(Vec::new()),
            peer_updates: broadcast::channel(64).0,
            hit_updates: broadcast::channel(64).0,
            live_events: broadcast::channel(4096).0,
            extras,
            status_reads: AtomicUsize::new(0),
        })
    }

    /// Sends a live event to every watcher and keeps it for replay.
    pub fn emit(&self, event: v1::WatchEventsResponse) {
        self.events.lock().expect("lock").push(event.clone());
        let _ = self.live_events.send(event);
    }
}

/// The daemon's LocalApiService implementation.
#[derive(Clone)]
pub struct TestDaemon(pub Arc<Shared>);

fn live<T: Clone + Send + 'static>(first: Vec<T>, rx: broadcast::Receiver<T>) -> BoxStream<T> {
    let rest = BroadcastStream::new(rx).filter_map(Result::ok);
    Box::pin(tokio_stream::iter(first).chain(rest).map(Ok))
}

#[tonic::async_trait]
impl LocalApiService for TestDaemon {
    async fn status(
        &self,
        _: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        let status = self.0.status.lock().expect("lock").clone();
        self.0.status_reads.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(status))
    }

    async fn watch_peers(
        &self,
        _: Request<v1::WatchPeersRequest>,
    ) -> Result<Response<BoxStream<v1::WatchPeersResponse>>, Status> {
        let rx = self.0.peer_updates.subscribe();
        let first = self.0.peers.lock().expect("lock").clone();
        Ok(Response::new(live(vec![first], rx)))
    }

    async fn watch_policy_hits(
        &self,
        _: Request<v1::WatchPolicyHitsRequest>,
    ) -> Result<Response<BoxStream<v1::WatchPolicyHitsResponse>>, Status> {
        let rx = self.0.hit_updates.subscribe();
        let first = self.0.hits.lock().expect("lock").clone();
        let snapshots = live(vec![first], rx).map(|hits| {
            hits.map(|snapshot| v1::WatchPolicyHitsResponse {
                snapshot: Some(snapshot),
            })
        });
        Ok(Response::new(Box::pin(snapshots)))
    }

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<BoxStream<v1::WatchEventsResponse>>, Status> {
        let request = request.into_inner();
        self.0
            .event_starts
            .lock()
            .expect("lock")
            .push(request.start);
        let rx = self.0.live_events.subscribe();
        let buffered = self.0.events.lock().expect("lock").clone();
        let replay: Vec<v1::WatchEventsResponse> = match request.start {
            None => Vec::new(),
            Some(Start::AfterSeq(seq)) => buffered.into_iter().filter(|e| e.seq > seq).collect(),
            Some(Start::Last(n)) => {
                let skip = buffered.len().saturating_sub(n as usize);
                buffered.into_iter().skip(skip).collect()
            }
            Some(Start::Since(_)) => buffered,
        };
        Ok(Response::new(live(replay, rx)))
    }

    async fn ping(
        &self,
        request: Request<v1::PingRequest>,
    ) -> Result<Response<BoxStream<v1::PingResponse>>, Status> {
        let request = request.into_inner();
        if !request.node.starts_with("node-") && !request.node.contains('-') {
            return Err(Status::not_found(format!("no node `{}`", request.node)));
        }
        let replies = (1..=request.count.max(1)).map(move |seq| {
            Ok(v1::PingResponse {
                seq,
                node: request.node.clone(),
                address: "100.64.0.2".into(),
                rtt: (seq != 2).then(|| super::dur(u64::from(seq) + 3)),
                path: Some(v1::PeerPath {
                    kind: v1::PathKind::Direct.into(),
                    relay: String::new(),
                }),
                endpoint: "198.51.100.2:41641".into(),
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(replies))))
    }

    async fn policy_explain(
        &self,
        request: Request<v1::PolicyExplainRequest>,
    ) -> Result<Response<v1::PolicyExplainResponse>, Status> {
        let request = request.into_inner();
        if !request.port.ends_with("/tcp") && request.port != "icmp" {
            return Err(Status::invalid_argument(format!(
                "invalid port `{}`: expected N/tcp, N/udp or icmp",
                request.port
            )));
        }
        Ok(Response::new(super::explain_answer(
            &request.from,
            &request.to,
            &request.port,
        )))
    }

    async fn relays(
        &self,
        _: Request<v1::RelaysRequest>,
    ) -> Result<Response<v1::RelaysResponse>, Status> {
        if !self.0.extras {
            return Err(Status::unimplemented("no relays here"));
        }
        Ok(Response::new(super::relays(3600)))
    }

    async fn netcheck(
        &self,
        _: Request<v1::NetcheckRequest>,
    ) -> Result<Response<v1::NetcheckResponse>, Status> {
        if !self.0.extras {
            return Err(Status::unimplemented("no relays here"));
        }
        Ok(Response::new(super::netcheck()))
    }

    async fn watch_sas(
        &self,
        _: Request<v1::WatchSasRequest>,
    ) -> Result<Response<BoxStream<v1::WatchSasResponse>>, Status> {
        if !self.0.extras {
            return Err(Status::unimplemented("no IPsec here"));
        }
        let snapshot = v1::WatchSasResponse {
            snapshot: Some(super::sas(3600)),
        };
        Ok(Response::new(Box::pin(
            tokio_stream::iter([Ok(snapshot)]).chain(tokio_stream::pending()),
        )))
    }
}

/// A daemon serving on a runtime of its own, on its own thread, so stopping it drops every
/// connection as a daemon process that exits does.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub socket: PathBuf,
}

impl Running {
    pub async fn start(socket: &Path, shared: Arc<Shared>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = oneshot::channel::<()>();
        let path = socket.to_path_buf();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("daemon runtime");
            runtime.block_on(async move {
                let bound = LocalSocket::bind(&path).await.expect("binds the socket");
                let _ = bound_tx.send(());
                let served: Result<(), ServeError> = bound
                    .serve(TestDaemon(shared), async {
                        let _ = stopped.await;
                    })
                    .await;
                served.expect("serves");
            });
            // Dropping the runtime ends every connection task: clients see the daemon gone.
            runtime.shutdown_timeout(Duration::ZERO);
        });
        bound_rx.await.expect("daemon thread bound its socket");
        Self {
            stop: Some(stop),
            thread: Some(thread),
            socket: socket.to_path_buf(),
        }
    }

    /// Stops the daemon: the socket is removed and every connection is cut.
    pub async fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("daemon thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}
