//! The Prometheus endpoint a daemon serves when its host file says `metrics listen=`: a small
//! HTTP/1.1 server (hyper) answering `GET /metrics` with the text prometheus-client encodes.
//! Nothing is kept between scrapes: each scrape builds a registry from what the daemon knows
//! at that moment (`cvlan_build_info` here, the daemon's own families through [`Collect`],
//! which for the agent's daemons include [`agent_families`]).
//!
//! Bounded: at most [`MAX_CONNECTIONS`] at once (more are closed unanswered), a request head
//! of at most [`MAX_REQUEST_BYTES`], [`REQUEST_TIMEOUT`] to send it and [`CONNECTION_TIMEOUT`]
//! for the whole exchange; one request per connection. The server stops with the daemon.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
/// The registry a scrape fills (prometheus-client's), for the daemons' [`Collect`].
pub use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::state::AgentState;

/// The path metrics are served at.
pub const PATH: &str = "/metrics";
/// The media type of the answer: the OpenMetrics 1.0 text prometheus-client writes (Prometheus
/// asks for it first; a `text/plain; version=0.0.4` label would misname its counters).
pub const MEDIA_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The largest request head read (hyper's smallest buffer); a larger one is refused.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;

/// The label set of a family: label names and values.
pub type Labels = Vec<(&'static str, String)>;

/// A daemon's own families, read at each scrape.
pub trait Collect: Send + Sync + 'static {
    /// Registers the daemon's families in `registry`, filled with their values now.
    fn collect(&self, registry: &mut Registry) -> impl Future<Output = ()> + Send;
}

/// Why the endpoint could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address could not be bound.
    #[error("cannot serve metrics on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Registers a counter family `name` (its samples end in `_total`) and returns it to fill.
pub fn counters(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

/// Registers a gauge family `name` and returns it to fill.
pub fn gauges(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

/// A gauge's value from a count (saturating).
pub fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// What `cvlan_build_info` says: the daemon's name and version.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// The daemon's binary name (`cvland`, `cvlan-vrouterd`, `cvlan-controller`).
    pub daemon: &'static str,
    /// Its version.
    pub version: &'static str,
}

/// `cvlan_build_info`, which every daemon serves.
fn build_family(registry: &mut Registry, build: Build) {
    gauges(
        registry,
        "build_info",
        "Always 1; the labels name the daemon and its version",
    )
    .get_or_create(&vec![
        ("daemon", build.daemon.to_owned()),
        ("version", build.version.to_owned()),
    ])
    .set(1);
}

/// The families every daemon on the agent runtime serves (cvland, cvlan-vrouterd): source
/// health, apply attempts, live views. Their [`Collect`] calls it.
pub fn agent_families(registry: &mut Registry, agent: &AgentState) {
    let source = agent.source();
    let up = source.last_error.is_empty() && source.last_contact.is_some();
    gauges(
        registry,
        "source_up",
        "1 when the last reading of the desired state's source succeeded, else 0",
    )
    .get_or_create(&Vec::new())
    .set(i64::from(up));
    let applies = counters(
        registry,
        "apply",
        "Apply attempts since the daemon started, by outcome",
    );
    for (outcome, n) in agent.apply_counts() {
        applies
            .get_or_create(&vec![("outcome", outcome.as_str().to_owned())])
            .inc_by(n);
    }
    let live = agent.live.counts();
    gauges(
        registry,
        "live_views_open",
        "Live views (watch streams of the local API) open now",
    )
    .get_or_create(&Vec::new())
    .set(gauge_value(live.open));
    counters(
        registry,
        "live_views_opened",
        "Live views opened since the daemon started",
    )
    .get_or_create(&Vec::new())
    .inc_by(live.opened);
    counters(
        registry,
        "live_views_slow_dropped",
        "Live views ended because their client did not read",
    )
    .get_or_create(&Vec::new())
    .inc_by(live.slow_dropped);
}

/// The endpoint, serving until the daemon's stop signal turns true.
pub struct MetricsServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

struct Scrape<C> {
    build: Build,
    daemon: C,
}

impl MetricsServer {
    /// Binds `listen` and serves `cvlan_build_info` (from `build`) and the families of
    /// `daemon` until `stopping` turns true.
    pub async fn start<C: Collect>(
        listen: SocketAddr,
        build: Build,
        daemon: C,
        stopping: watch::Receiver<bool>,
    ) -> Result<Self, MetricsError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| MetricsError::Bind(listen, e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| MetricsError::Bind(listen, e))?;
        let scrape = Arc::new(Scrape { build, daemon });
        let task = tokio::spawn(accept(listener, scrape, stopping));
        Ok(Self { local_addr, task })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until serving ended (open connections are cut when the daemon stops).
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

async fn accept<C: Collect>(
    listener: TcpListener,
    scrape: Arc<Scrape<C>>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Past the limit a connection is closed at once: scrapes are rare.
                    if let Ok(permit) = slots.clone().try_acquire_owned() {
                        connections.spawn(serve(stream, scrape.clone(), permit));
                    }
                }
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve<C: Collect>(stream: TcpStream, scrape: Arc<Scrape<C>>, _slot: OwnedSemaphorePermit) {
    let service = service_fn(move |request: Request<Incoming>| {
        let scrape = scrape.clone();
        // Only the head is looked at; the body (if any) is never read.
        let (head, _) = request.into_parts();
        async move { Ok::<_, Infallible>(scrape.answer(&head.method, head.uri.path()).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .max_buf_size(MAX_REQUEST_BYTES)
        .keep_alive(false);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
        tracing::debug!("metrics: connection ended: {e}");
    }
}

impl<C: Collect> Scrape<C> {
    async fn answer(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if path != PATH {
            return plain(
                StatusCode::NOT_FOUND,
                "not found; metrics are at /metrics\n",
            );
        }
        if *method != Method::GET {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        match self.text().await {
            Ok(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
                response
            }
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n"),
        }
    }

    /// The registry of this moment, encoded.
    async fn text(&self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::with_prefix("cvlan");
        build_family(&mut registry, self.build);
        self.daemon.collect(&mut registry).await;
        text(&registry)
    }
}

/// `registry` as the endpoint serves it (OpenMetrics text, ending in `# EOF`).
pub fn text(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    encode(&mut text, registry)?;
    Ok(text)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
