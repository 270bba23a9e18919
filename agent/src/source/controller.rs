//! The controller source: this host registers with the network's controller (Noise IK over TCP
//! with its machine key, then gRPC) and streams its netmap, a full map first and deltas after.
//! A session task holds the connection, reconnects with jittered backoff and resumes from the
//! version it holds (the cached map's version after a restart), so the daemon runs on its last
//! netmap while the controller is away and catches up when it returns.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cvlan_core::netmap::{NetMap, NetMapDelta};
use cvlan_proto::transport::noise;
use cvlan_proto::v1;
use cvlan_proto::v1::control_service_client::ControlServiceClient;
use cvlan_types::{PrivateKey, PublicKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Fetched, NetmapReading, Source, SourceError, record};
use crate::state::AgentState;

/// The first wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A stream that brings nothing (not even a keepalive) for this long is taken for dead.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// What the session needs to register and stream.
#[derive(Debug)]
pub struct ControllerConfig {
    /// The controller's `host:port`.
    pub address: String,
    /// The controller's static key.
    pub controller_key: PublicKey,
    /// This host's machine key (its Noise identity).
    pub machine_key: PrivateKey,
    /// This host's node key (WireGuard), registered with the controller.
    pub node_key: PublicKey,
    /// The node name to register under.
    pub node_name: String,
    /// The auth key file for the first registration.
    pub auth_key_file: Option<PathBuf>,
    /// This host's WireGuard port when its host file overrides the network's.
    pub listen_port: Option<u16>,
    /// The TUN device, whose overlay addresses are no endpoints.
    pub tun: String,
}

/// The netmap a session holds: its version and the map.
#[derive(Debug, Clone)]
struct Held {
    version: u64,
    revision: u64,
    netmap: Arc<NetMap>,
}

impl Held {
    fn reading(&self) -> NetmapReading {
        NetmapReading {
            revision: revision_name(self.revision, self.version),
            netmap: self.netmap.clone(),
        }
    }
}

/// How a netmap from a controller is named as a revision: `r<revision>@v<version>`.
pub fn revision_name(revision: u64, version: u64) -> String {
    format!("r{revision}@v{version}")
}

/// The revision and version of a name [`revision_name`] gave, if it is one.
pub fn parse_revision_name(name: &str) -> Option<(u64, u64)> {
    let (revision, version) = name.strip_prefix('r')?.split_once("@v")?;
    Some((revision.parse().ok()?, version.parse().ok()?))
}

/// The source of a host that follows a controller.
#[derive(Debug)]
pub struct ControllerSource {
    maps: watch::Receiver<Option<Held>>,
    session: JoinHandle<()>,
}

impl ControllerSource {
    /// Starts the session; `cached` is the map the daemon came up on with its revision name, from
    /// which the session resumes.
    pub fn start(
        config: ControllerConfig,
        agent: Arc<AgentState>,
        cached: Option<(String, NetMap)>,
    ) -> Self {
        let held = cached.and_then(|(name, netmap)| {
            let (revision, version) = parse_revision_name(&name)?;
            Some(Held {
                version,
                revision,
                netmap: Arc::new(netmap),
            })
        });
        let (tx, mut maps) = watch::channel(held);
        maps.mark_unchanged();
        let session = tokio::spawn(run_session(config, agent, tx));
        Self { maps, session }
    }
}

impl Drop for ControllerSource {
    fn drop(&mut self) {
        self.session.abort();
    }
}

impl Source for ControllerSource {
    const CHANGE: &'static str = "netmap received";

    async fn changed(&mut self) {
        if self.maps.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    async fn fetch(&mut self) -> Result<Fetched, SourceError> {
        match self.maps.borrow_and_update().as_ref() {
            Some(held) => Ok(Fetched::Netmap(held.reading())),
            None => Err(SourceError::Controller(
                "no netmap from the controller yet".to_owned(),
            )),
        }
    }
}

/// Why one session with the controller ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(#[from] noise::NoiseError),
    #[error("registration refused: {0}")]
    Refused(String),
    #[error("the netmap stream failed: {0}")]
    Stream(String),
    #[error("the netmap stream went silent for {0:?}")]
    Silent(Duration),
    #[error("the controller sent a netmap this node cannot use: {0}")]
    Invalid(String),
}

/// Connects, registers and streams until the source is dropped, waiting a jittered, growing
/// backoff after each failure.
async fn run_session(
    config: ControllerConfig,
    agent: Arc<AgentState>,
    maps: watch::Sender<Option<Held>>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = match session(&config, &agent, &maps).await {
            Ok(()) => SessionError::Stream("the controller ended the stream".to_owned()),
            Err(e) => e,
        };
        if maps.is_closed() {
            return;
        }
        let received = matches!(&error, SessionError::Silent(_) | SessionError::Stream(_));
        if received {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(controller = %config.address, error = %error, "controller session ended; retrying in {backoff:?}");
        record(&agent, Some(&SourceError::Controller(error.to_string())));
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `base` plus up to half of it again, so many hosts that lost one controller do not come back
/// in lockstep.
fn jittered(base: Duration) -> Duration {
    base + base.mul_f64(rand::random::<f64>() / 2.0)
}

/// One session: connect, register, stream until the stream fails.
async fn session(
    config: &ControllerConfig,
    agent: &AgentState,
    maps: &watch::Sender<Option<Held>>,
) -> Result<(), SessionError> {
    let channel =
        noise::connect(&config.address, &config.machine_key, &config.controller_key).await?;
    let mut client = ControlServiceClient::new(channel);
    client
        .register(register_request(config))
        .await
        .map_err(|status| SessionError::Refused(status.message().to_owned()))?;
    let resume = maps.borrow().as_ref().map_or(0, |held| held.version);
    let mut reported: Option<Vec<SocketAddr>> = None;
    let mut stream = client
        .watch_netmap(v1::WatchNetmapRequest {
            resume_from_version: resume,
        })
        .await
        .map_err(|status| SessionError::Stream(status.message().to_owned()))?
        .into_inner();
    loop {
        let message = tokio::time::timeout(STREAM_SILENCE, stream.message())
            .await
            .map_err(|_| SessionError::Silent(STREAM_SILENCE))?
            .map_err(|status| SessionError::Stream(status.message().to_owned()))?;
        let Some(update) = message.and_then(|m| m.update) else {
            return Ok(());
        };
        let version = update.version;
        let Some(next) = advance(maps.borrow().as_ref(), update)? else {
            continue;
        };
        let port = config
            .listen_port
            .unwrap_or(next.netmap.network.listen_port);
        maps.send_replace(Some(next));
        record(agent, None);
        let endpoints = local_endpoints(port, &config.tun);
        if reported.as_ref() != Some(&endpoints) {
            let request = v1::ReportEndpointsRequest {
                endpoints: endpoints
                    .iter()
                    .map(|e| v1::NodeEndpoint {
                        address: e.to_string(),
                        source: v1::EndpointSource::Local.into(),
                        reported_at: None,
                    })
                    .collect(),
                ..Default::default()
            };
            client
                .report_endpoints(request)
                .await
                .map_err(|status| SessionError::Stream(status.message().to_owned()))?;
            reported = Some(endpoints);
        }
        client
            .ack_netmap(v1::AckNetmapRequest { version })
            .await
            .map_err(|status| SessionError::Stream(status.message().to_owned()))?;
    }
}

/// The registration: the auth key (read now, when the file is there), name, node key and host
/// facts.
fn register_request(config: &ControllerConfig) -> v1::RegisterRequest {
    let auth_key = config
        .auth_key_file
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    v1::RegisterRequest {
        auth_key,
        node_name: config.node_name.clone(),
        node_key: config.node_key.0.to_vec(),
        hostinfo: Some(v1::HostInfo {
            hostname: hostname(),
            os: std::env::consts::OS.to_owned(),
            os_version: String::new(),
            arch: std::env::consts::ARCH.to_owned(),
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
        }),
        capabilities: vec!["wireguard".to_owned()],
    }
}

/// The most endpoints a host reports (the controller refuses more).
const MAX_ENDPOINTS: usize = 16;

/// Where peers may reach this host: the addresses of its interfaces that are up, other than
/// loopback, link-local and the TUN's (the overlay), at its WireGuard `port`; sorted.
fn local_endpoints(port: u16, tun: &str) -> Vec<SocketAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut endpoints: Vec<SocketAddr> = addrs
        .filter(|a| a.interface_name != tun)
        .filter(|a| a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
        .filter_map(|a| {
            let address = a.address?;
            let ip: IpAddr = if let Some(v4) = address.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(address.as_sockaddr_in6()?.ip())
            };
            usable(ip).then_some(SocketAddr::new(ip, port))
        })
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    endpoints.truncate(MAX_ENDPOINTS);
    endpoints
}

/// True for an address a peer elsewhere may reach: not loopback, link-local or unspecified.
fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local()),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// The netmap after `update`, or `None` when it changes nothing (a keepalive). A delta that
/// does not start at the held version ends the session, which resumes from the held version.
fn advance(held: Option<&Held>, update: v1::NetmapUpdate) -> Result<Option<Held>, SessionError> {
    let invalid = |e: cvlan_proto::convert::ConvertError| SessionError::Invalid(e.to_string());
    match update.body {
        None | Some(v1::netmap_update::Body::Keepalive(_)) => Ok(None),
        Some(v1::netmap_update::Body::Full(map)) => {
            let revision = map.revision;
            let netmap = NetMap::try_from(map).map_err(invalid)?;
            Ok(Some(Held {
                version: update.version,
                revision,
                netmap: Arc::new(netmap),
            }))
        }
        Some(v1::netmap_update::Body::Delta(delta)) => {
            let Some(held) = held.filter(|h| h.version == delta.base_version) else {
                return Err(SessionError::Stream(format!(
                    "a delta from version {} does not apply to the map held",
                    delta.base_version
                )));
            };
            let revision = if delta.revision == 0 {
                held.revision
            } else {
                delta.revision
            };
            let delta = NetMapDelta::try_from(delta).map_err(invalid)?;
            Ok(Some(Held {
                version: update.version,
                revision,
                netmap: Arc::new(cvlan_core::netmap::apply(&held.netmap, &delta)),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_names_round_trip() {
        assert_eq!(revision_name(3, 17), "r3@v17");
        assert_eq!(parse_revision_name("r3@v17"), Some((3, 17)));
        assert_eq!(parse_revision_name("3f2a9c"), None);
        assert_eq!(parse_revision_name("r3@vx"), None);
    }

    #[test]
    fn endpoints_leave_out_loopback_link_local_and_the_tun() {
        assert!(!usable("127.0.0.1".parse().unwrap()));
        assert!(!usable("169.254.1.2".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(usable("198.51.100.10".parse().unwrap()));
        assert!(usable("2001:db8::1".parse().unwrap()));
        let all = local_endpoints(51820, "no-such-tun");
        assert!(all.iter().all(|e| e.port() == 51820 && usable(e.ip())));
        assert!(all.len() <= MAX_ENDPOINTS);
    }

    #[test]
    fn backoff_is_jittered_within_half_again() {
        for _ in 0..100 {
            let got = jittered(Duration::from_secs(2));
            assert!(
                got >= Duration::from_secs(2) && got <= Duration::from_secs(3),
                "{got:?}"
            );
        }
    }
}
