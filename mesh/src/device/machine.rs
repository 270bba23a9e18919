//! The mesh engine as cvlan-netio's [`Machine`]: packets and datagrams go to the engine, its
//! sends and TUN packets to the driver's batches, its events to the subscribers; commands
//! from [`super::MeshHandle`] reconfigure it and keep the routes through the TUN in step.

use std::net::SocketAddr;
use std::time::Instant;

use cvlan_netio::{Control, Flow, Machine, Output, Socket, TunIo};
use tokio::sync::{broadcast, oneshot};

use cvlan_types::PublicKey;
use ipnet::IpNet;

use super::{MeshError, MeshStats, routes_for};
use crate::PrivateKey;
use crate::config::{PeerConfig, PeerSetChanges};
use crate::engine::Engine;
use crate::engine::peers::PeerSetJob;
use crate::event::Event;
use crate::filter::PacketFilter;

/// A request from a [`super::MeshHandle`].
pub(super) enum Command<F> {
    /// The keys of a new peer set: checks them and removes the peers not among them.
    BeginPeerSet(Vec<PublicKey>, oneshot::Sender<Result<(), MeshError>>),
    /// The next configurations of the set begun.
    UpsertPeers(Vec<PeerConfig>, oneshot::Sender<Result<(), MeshError>>),
    /// The set is complete: routes (engine and kernel) for these allowed IPs.
    FinishPeerSet(
        Vec<IpNet>,
        oneshot::Sender<Result<PeerSetChanges, MeshError>>,
    ),
    SetPrivateKey(PrivateKey, oneshot::Sender<()>),
    Stats(StatsOf, oneshot::Sender<MeshStats>),
    UpdateFilter(Box<dyn FnOnce(&mut F) + Send>, oneshot::Sender<()>),
}

/// Which peers a stats snapshot lists (the engine's own counters are always in it).
pub(super) enum StatsOf {
    /// Every configured peer.
    All,
    /// The peers that changed at or after this instant.
    ChangedSince(Instant),
    /// The warm peers: every peer with a session, so every connected one.
    Warm,
}

/// The engine with what its commands and events need.
pub(super) struct MeshMachine<F: PacketFilter> {
    engine: Engine<F>,
    events: broadcast::Sender<Event>,
    listen_port: u16,
    /// The peer set being applied, between its commands.
    peer_set: Option<PeerSetJob>,
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
            peer_set: None,
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
            Command::BeginPeerSet(keys, reply) => {
                // A set left unfinished (its caller went away) ends here, routes and all.
                if let Some(stale) = self.peer_set.take() {
                    self.engine.finish_peer_set(stale);
                }
                let begun = self.engine.begin_peer_set(&keys);
                let _ = reply.send(match begun {
                    Ok(job) => {
                        self.peer_set = Some(job);
                        Ok(())
                    }
                    Err(e) => Err(MeshError::PeerSet(e)),
                });
            }
            Command::UpsertPeers(part, reply) => {
                let _ = reply.send(match self.peer_set.as_mut() {
                    Some(job) => {
                        self.engine.upsert_peers(job, part);
                        Ok(())
                    }
                    None => Err(MeshError::PeerSetInterrupted),
                });
            }
            Command::FinishPeerSet(allowed, reply) => {
                let Some(job) = self.peer_set.take() else {
                    let _ = reply.send(Err(MeshError::PeerSetInterrupted));
                    return Flow::Continue;
                };
                let changes = self.engine.finish_peer_set(job);
                let routes = routes_for(allowed, control.tun_addresses());
                let result = match control.set_routes(routes).await {
                    Ok(()) => Ok(changes),
                    Err(e) => Err(MeshError::Routes(e)),
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
            Command::Stats(of, reply) => {
                let _ = reply.send(MeshStats {
                    engine: self.engine.stats(),
                    peers: match of {
                        StatsOf::All => self.engine.peers_stats(),
                        StatsOf::ChangedSince(since) => self.engine.peers_stats_since(since),
                        StatsOf::Warm => self.engine.warm_peers_stats(),
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
