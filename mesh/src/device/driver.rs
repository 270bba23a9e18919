//! The engine task: waits on commands, UDP, TUN and the engine's timer, feeds the engine, and
//! flushes its output in batches (GSO sends, coalesced TUN writes).

use std::io;
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::io::{DatagramBatch, PacketBatch, TunIo, UdpIo};
use super::{MeshError, MeshStats, routes_for};
use crate::PrivateKey;
use crate::config::{PeerConfig, PeerSetChanges};
use crate::engine::Engine;
use crate::event::Event;
use crate::filter::PacketFilter;

/// Packets per TUN batch (tun-rs's ideal batch size).
const TUN_BATCH: usize = 128;
/// Room per TUN packet: an IP packet up to the largest MTU we configure, plus slack.
const TUN_ROOM: usize = 9000 + 64;
/// Receive buffers for UDP (several recvmmsg calls) and the size of each (a full GRO train;
/// pages are only touched as far as datagrams fill them).
const UDP_SLOTS: usize = 128;
const UDP_BUF: usize = 65_536;
/// Pause after an IO error so a broken device cannot spin the task.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// At most one IO-error warning per this interval.
const IO_WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// A request from a [`super::MeshHandle`].
pub(super) enum Command<F> {
    SetPeers(
        Vec<PeerConfig>,
        oneshot::Sender<Result<PeerSetChanges, MeshError>>,
    ),
    SetPrivateKey(PrivateKey, oneshot::Sender<()>),
    Stats(oneshot::Sender<MeshStats>),
    UpdateFilter(Box<dyn FnOnce(&mut F) + Send>, oneshot::Sender<()>),
}

enum Wake<F> {
    Stop,
    Command(Option<Command<F>>),
    Udp(io::Result<()>),
    Tun(io::Result<()>),
    Timer,
}

pub(super) struct Driver<F: PacketFilter, T, U> {
    engine: Engine<F>,
    tun: T,
    udp: U,
    commands: mpsc::Receiver<Command<F>>,
    events: broadcast::Sender<Event>,
    stop: oneshot::Receiver<()>,
    tun_in: PacketBatch,
    tun_out: PacketBatch,
    udp_in: DatagramBatch,
    send_buf: Vec<u8>,
    routes: Vec<IpNet>,
    last_io_warning: Option<std::time::Instant>,
}

impl<F: PacketFilter, T: TunIo, U: UdpIo> Driver<F, T, U> {
    pub(super) fn new(
        engine: Engine<F>,
        tun: T,
        udp: U,
        commands: mpsc::Receiver<Command<F>>,
        events: broadcast::Sender<Event>,
        stop: oneshot::Receiver<()>,
    ) -> Self {
        let headroom = tun.headroom();
        Self {
            engine,
            tun_in: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
            tun_out: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
            tun,
            udp,
            commands,
            events,
            stop,
            udp_in: DatagramBatch::new(UDP_SLOTS, UDP_BUF),
            send_buf: Vec::with_capacity(UDP_BUF),
            routes: Vec::new(),
            last_io_warning: None,
        }
    }

    pub(super) async fn run(mut self) -> io::Result<()> {
        loop {
            let deadline = Instant::from_std(self.engine.poll_timeout());
            let wake = tokio::select! {
                _ = &mut self.stop => Wake::Stop,
                command = self.commands.recv() => Wake::Command(command),
                r = async {
                    self.udp_in.clear();
                    self.udp.recv(&mut self.udp_in).await
                } => Wake::Udp(r),
                r = self.tun.recv(&mut self.tun_in) => Wake::Tun(r),
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            let now = Instant::now().into_std();
            match wake {
                // Stopped (or the device dropped), or every handle gone.
                Wake::Stop | Wake::Command(None) => break,
                Wake::Command(Some(command)) => self.command(command).await,
                Wake::Udp(Ok(())) => {
                    for (from, datagram) in self.udp_in.datagrams() {
                        self.engine.handle_datagram(now, from, datagram);
                    }
                }
                Wake::Tun(Ok(())) => {
                    for packet in self.tun_in.packets() {
                        self.engine.handle_tun_packet(now, packet);
                    }
                }
                Wake::Udp(Err(e)) | Wake::Tun(Err(e)) => {
                    if self
                        .last_io_warning
                        .is_none_or(|t| now.saturating_duration_since(t) >= IO_WARNING_INTERVAL)
                    {
                        self.last_io_warning = Some(now);
                        tracing::warn!(error = %e, "mesh IO error");
                    }
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
                Wake::Timer => {}
            }
            // Timers run even when IO never lets the sleep branch win.
            if self.engine.poll_timeout() <= now {
                self.engine.handle_timeout(now);
            }
            self.flush().await;
        }
        Ok(())
    }

    async fn command(&mut self, command: Command<F>) {
        match command {
            Command::SetPeers(peers, reply) => {
                let routes = routes_for(&peers, self.tun.addresses());
                let result = match self.engine.set_peers(peers) {
                    Err(e) => Err(MeshError::PeerSet(e)),
                    Ok(changes) if routes == self.routes => Ok(changes),
                    Ok(changes) => match self.tun.set_routes(&routes).await {
                        Ok(()) => {
                            self.routes = routes;
                            Ok(changes)
                        }
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
            Command::Stats(reply) => {
                let _ = reply.send(MeshStats {
                    engine: self.engine.stats(),
                    peers: self.engine.peers_stats(),
                    listen_port: self.udp.local_port(),
                    routes: self.routes.clone(),
                });
            }
            Command::UpdateFilter(update, reply) => {
                update(self.engine.filter_mut());
                let _ = reply.send(());
            }
        }
    }

    /// Sends every queued datagram and TUN packet, and publishes events.
    async fn flush(&mut self) {
        let max_segments = self.udp.max_segments();
        loop {
            self.send_buf.clear();
            let Some(transmit) = self.engine.poll_transmit(&mut self.send_buf, max_segments) else {
                break;
            };
            if let Err(e) = self.udp.send(&transmit, &self.send_buf).await {
                tracing::debug!(error = %e, to = %transmit.destination, "UDP send failed");
            }
        }
        loop {
            self.tun_out.clear();
            let engine = &mut self.engine;
            while self
                .tun_out
                .push_with(|buf| engine.poll_tun_packet(buf).is_some())
            {}
            if self.tun_out.is_empty() {
                break;
            }
            if let Err(e) = self.tun.send(&mut self.tun_out).await {
                tracing::debug!(error = %e, "TUN write failed");
            }
        }
        while let Some(event) = self.engine.poll_event() {
            tracing::debug!(?event, "mesh event");
            let _ = self.events.send(event);
        }
    }
}
