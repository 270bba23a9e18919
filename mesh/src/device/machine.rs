//! The mesh engine as cvlan-netio's [`Machine`]: packets and datagrams go to the engine, its
//! sends and TUN packets to the driver's batches, its events to the subscribers; commands
//! from [`super::MeshHandle`] reconfigure it and keep the routes through the TUN in step.

use std::net::SocketAddr;
use std::time::Instant;

use cvlan_netio::{Control, Flow, Machine, Output, Socket, TunIo};
use tokio::sync::{broadcast, oneshot};

use super::{MeshError, MeshStats, routes_for};
use crate::PrivateKey;
use crate::config::{PeerConfig, PeerSetChanges};
use crate::engine::Engine;
use crate::event::Event;
use crate::filter::PacketFilter;

/// A request from a [`super::MeshHandle`].
pub(super) enum Command<F> {
    SetPeers(
        Vec<PeerConfig>,
        oneshot::Sender<Result<PeerSetChanges, MeshError>>,
    ),
    SetPrivateKey(PrivateKey, oneshot::Sender<()>),
    Stats(Option<Instant>, oneshot::Sender<MeshStats>),
    UpdateFilter(Box<dyn FnOnce(&mut F) + Send>, oneshot::Sender<()>),
}

/// The engine with what its commands and events need.
pub(super) struct MeshMachine<F: PacketFilter> {
    engine: Engine<F>,
    events: broadcast::Sender<Event>,
    listen_port: u16,
}

impl<F: PacketFilter> MeshMachine<F> {
    pub(super) fn new(
        engine: Engine<F>,
        events: broadcast::Sender<Event>,
        listen_port: u16,
    ) -> Self {
        Self {
            engine,
            events,
            listen_port,
        }
    }
}

impl<F: PacketFilter> Machine for MeshMachine<F> {
    type Command = Command<F>;

    fn handle_tun_packet(&mut self, now: Instant, packet: &[u8], _: &mut Output) {
        self.engine.handle_tun_packet(now, packet);
    }

    fn handle_datagram(
        &mut self,
        now: Instant,
        _: Socket,
        from: SocketAddr,
        datagram: &mut [u8],
        _: &mut Output,
    ) {
        self.engine.handle_datagram(now, from, datagram);
    }

    async fn handle_command<T: TunIo>(
        &mut self,
        _: Instant,
        command: Command<F>,
        control: &mut Control<'_, T>,
    ) -> Flow {
        match command {
            Command::SetPeers(peers, reply) => {
                let routes = routes_for(&peers, control.tun_addresses());
                let result = match self.engine.set_peers(peers) {
                    Err(e) => Err(MeshError::PeerSet(e)),
                    Ok(changes) => match control.set_routes(routes).await {
                        Ok(()) => Ok(changes),
                        Err(e) => Err(MeshError::Routes(e)),
                    },
                };
                if let Ok(changes) = &result
                    && !changes.is_empty()
                {
                    tracing::info!(%changes, "peer set applied");
                }
                let _ = reply.send(result);
            }
            Command::SetPrivateKey(key, reply) => {
                self.engine.set_private_key(key);
                let _ = reply.send(());
            }
            Command::Stats(since, reply) => {
                let _ = reply.send(MeshStats {
                    engine: self.engine.stats(),
                    peers: match since {
                        Some(since) => self.engine.peers_stats_since(since),
                        None => self.engine.peers_stats(),
                    },
                    read_at: self.engine.clock(),
                    listen_port: self.listen_port,
                    routes: control.routes().to_vec(),
                });
            }
            Command::UpdateFilter(update, reply) => {
                update(self.engine.filter_mut());
                let _ = reply.send(());
            }
        }
        Flow::Continue
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.engine.poll_timeout())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    fn poll_output(&mut self, _: Instant, out: &mut Output) -> bool {
        self.engine.drain_transmits(out.udp(Socket::Primary));
        let engine = &mut self.engine;
        let tun = out.tun();
        while tun.push_with(|buf| engine.poll_tun_packet(buf).is_some()) {}
        tun.is_full()
    }

    fn flushed(&mut self, _: Instant) {
        while let Some(event) = self.engine.poll_event() {
            tracing::debug!(?event, "mesh event");
            let _ = self.events.send(event);
        }
    }
}
