//! Bringing the mesh device up from a netmap, and turning its events into daemon events with
//! peer names.

use std::sync::Arc;

use cvlan_agent::EventLevel;
use cvlan_core::netmap::NetMap;
use cvlan_mesh::device::{MeshConfig, MeshDevice};
use cvlan_mesh::firewall::PolicyFilter;
use cvlan_mesh::{Event as MeshEvent, PrivateKey, PublicKey};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::ApplyError;
use super::desired::{device_addresses, peer_configs};
use crate::platform::Platform;
use crate::state::Shared;

/// What a device is brought up with besides the netmap.
pub struct DeviceSettings<'a> {
    /// The node key.
    pub key: &'a PrivateKey,
    /// The TUN device name.
    pub tun: &'a str,
    /// This host's port, when cvland.kdl overrides the network's.
    pub listen_port: Option<u16>,
}

/// A running device and the task forwarding its events.
pub struct RunningDevice {
    /// The device, its packets decided by the policy filter.
    pub device: MeshDevice<PolicyFilter>,
    forwarder: JoinHandle<()>,
}

/// Brings up the platform's TUN and UDP socket for `map` with `filter` deciding every packet,
/// and gives the mesh its peers.
pub async fn start(
    platform: &dyn Platform,
    map: &NetMap,
    filter: PolicyFilter,
    settings: &DeviceSettings<'_>,
    shared: &Arc<Shared>,
) -> Result<RunningDevice, ApplyError> {
    let addresses = device_addresses(map);
    if addresses.is_empty() {
        return Err(ApplyError::NoAddress);
    }
    let key = settings.key;
    let mut config = MeshConfig::new(key.clone(), settings.tun, addresses);
    config.listen_port = settings.listen_port.unwrap_or(map.network.listen_port);
    let device: MeshDevice<PolicyFilter> = platform
        .start_device(config, filter)
        .await
        .map_err(ApplyError::Start)?;
    let handle = device.handle();
    if let Err(e) = handle.set_peers(peer_configs(map, &key.public_key())).await {
        let _ = device.shutdown().await;
        return Err(ApplyError::Peers(e));
    }
    let forwarder = tokio::spawn(forward(handle.subscribe(), shared.clone()));
    shared.update(|state| {
        state.listen_port = handle.listen_port();
        state.mesh = Some(handle);
        state.hits_since = Some(std::time::SystemTime::now());
        state.generation += 1;
    });
    Ok(RunningDevice { device, forwarder })
}

impl RunningDevice {
    /// Stops the device (the TUN disappears, the socket closes).
    pub async fn stop(self, shared: &Shared) {
        self.forwarder.abort();
        shared.update(|state| {
            state.mesh = None;
            state.hits_since = None;
            state.listen_port = 0;
        });
        if let Err(e) = self.device.shutdown().await {
            tracing::warn!(error = %e, "the mesh device did not stop cleanly");
        }
    }
}

/// Publishes the mesh's events with peer names from the running netmap.
async fn forward(mut events: tokio::sync::broadcast::Receiver<MeshEvent>, shared: Arc<Shared>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "mesh events were dropped");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let name = |key: &PublicKey| {
            let running = shared.read().running.clone();
            running
                .and_then(|r| {
                    r.netmap
                        .peers
                        .iter()
                        .find(|p| p.public_key.as_ref() == Some(key))
                        .map(|p| p.name.clone())
                })
                .unwrap_or_else(|| key.to_base64())
        };
        match event {
            MeshEvent::HandshakeCompleted { peer, endpoint } => {
                let peer = name(&peer);
                shared.agent.events.publish(
                    "peer.handshake",
                    EventLevel::Info,
                    format!("handshake with {peer} at {endpoint}"),
                    [("peer", peer), ("endpoint", endpoint.to_string())],
                );
            }
            MeshEvent::HandshakeExpired { peer } => {
                let peer = name(&peer);
                shared.agent.events.publish(
                    "peer.handshake",
                    EventLevel::Warn,
                    format!("no session with {peer}: handshakes went unanswered or keys aged out"),
                    [("peer", peer), ("state", "expired".to_owned())],
                );
            }
            MeshEvent::EndpointChanged { peer, old, new } => {
                let peer = name(&peer);
                let old = old.map_or_else(|| "-".to_owned(), |e| e.to_string());
                shared.agent.events.publish(
                    "peer.path",
                    EventLevel::Info,
                    format!("{peer} is now reached directly at {new} (was {old})"),
                    [
                        ("peer", peer),
                        ("path", "direct".to_owned()),
                        ("endpoint", new.to_string()),
                        ("old_endpoint", old),
                    ],
                );
            }
            MeshEvent::PacketDropped { reason, peer } => {
                let peer = peer.map(|k| name(&k)).unwrap_or_else(|| "-".to_owned());
                shared.agent.events.publish(
                    "packet.dropped",
                    EventLevel::Debug,
                    format!(
                        "dropped a packet ({reason}); further drops this second are only counted"
                    ),
                    [("reason", reason.to_string()), ("peer", peer)],
                );
            }
        }
    }
}
