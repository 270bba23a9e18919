//! The data-plane task: waits on commands, the NAT-T and IKE sockets, the TUN device and the
//! endpoint's timers; feeds the IKE endpoint; and flushes its output in batches (GSO sends of
//! ESP, coalesced TUN writes). It owns the endpoint, so nothing else ever locks it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cvlan_ipsec::{Endpoint, Received, SendError};
use cvlan_mesh::IpPacket;
use cvlan_mesh::Transmit as UdpTransmit;
use cvlan_mesh::device::{DatagramBatch, PacketBatch, TunIo, UdpIo};
use ipnet::IpNet;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::peers::Peers;
use super::report::{Followup, report};
use super::send_queue::SendQueue;
use super::{Command, Counters, DataplaneError, SasSnapshot};
use cvlan_agent::EventBus;

/// Packets per TUN batch.
const TUN_BATCH: usize = 128;
/// Room per TUN packet: an IP packet up to the largest MTU, plus slack.
const TUN_ROOM: usize = 9000 + 64;
/// NAT-T receive buffers (several recvmmsg calls) and their size (a full GRO train).
const NATT_SLOTS: usize = 128;
const UDP_BUF: usize = 65_536;
/// Plain IKE receive buffers (IKE messages are few and small).
const IKE_SLOTS: usize = 8;
/// Pause after an IO error so a broken device cannot spin the task.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// At most one IO-error warning per this interval.
const IO_WARNING_INTERVAL: Duration = Duration::from_secs(1);
/// How long to sleep when no timer is due.
const IDLE: Duration = Duration::from_secs(3600);

enum Wake {
    Command(Option<Command>),
    Natt(io::Result<()>),
    Ike(io::Result<()>),
    Tun(io::Result<()>),
    Timer,
}

/// The sockets and device the driver uses.
pub(crate) struct Sockets<T, U> {
    pub tun: T,
    pub natt: U,
    pub ike: Option<U>,
    /// The address SAs use as ours (the listen address; may be unspecified).
    pub local_ip: IpAddr,
}

pub(crate) struct Driver<T, U> {
    ep: Endpoint,
    io: Sockets<T, U>,
    commands: mpsc::Receiver<Command>,
    events: Arc<EventBus>,
    peers: Peers,
    tun_routes: Vec<IpNet>,
    tun_in: PacketBatch,
    tun_out: PacketBatch,
    natt_in: DatagramBatch,
    ike_in: DatagramBatch,
    sealed: Vec<u8>,
    esp_out: SendQueue,
    counters: Counters,
    last_io_warning: Option<Instant>,
}

impl<T: TunIo, U: UdpIo> Driver<T, U> {
    pub(crate) fn new(
        ep: Endpoint,
        io: Sockets<T, U>,
        commands: mpsc::Receiver<Command>,
        events: Arc<EventBus>,
    ) -> Self {
        let headroom = io.tun.headroom();
        Self {
            ep,
            tun_in: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
            tun_out: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
            io,
            commands,
            events,
            peers: Peers::default(),
            tun_routes: Vec::new(),
            natt_in: DatagramBatch::new(NATT_SLOTS, UDP_BUF),
            ike_in: DatagramBatch::new(IKE_SLOTS, UDP_BUF),
            sealed: Vec::with_capacity(UDP_BUF),
            esp_out: SendQueue::default(),
            counters: Counters::default(),
            last_io_warning: None,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            let now = Instant::now();
            let deadline = [self.ep.poll_timeout(), self.peers.next_retry()]
                .into_iter()
                .flatten()
                .min()
                .map_or(now + IDLE, Instant::from_std);
            let wake = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                r = async {
                    self.natt_in.clear();
                    self.io.natt.recv(&mut self.natt_in).await
                } => Wake::Natt(r),
                r = async {
                    self.ike_in.clear();
                    match self.io.ike.as_mut() {
                        Some(ike) => ike.recv(&mut self.ike_in).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Ike(r),
                r = self.io.tun.recv(&mut self.tun_in) => Wake::Tun(r),
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            let now = Instant::now().into_std();
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(Command::Stop(reply))) => {
                    self.stop(now).await;
                    let _ = reply.send(());
                    break;
                }
                Wake::Command(Some(command)) => self.command(now, command).await,
                Wake::Natt(Ok(())) => self.inbound(now, true).await,
                Wake::Ike(Ok(())) => self.inbound(now, false).await,
                Wake::Tun(Ok(())) => self.outbound(now),
                Wake::Natt(Err(e)) | Wake::Ike(Err(e)) | Wake::Tun(Err(e)) => {
                    self.counters.io_errors += 1;
                    let t = Instant::now();
                    if self
                        .last_io_warning
                        .is_none_or(|w| t.duration_since(w) >= IO_WARNING_INTERVAL)
                    {
                        self.last_io_warning = Some(t);
                        tracing::warn!(error = %e, "vrouter IO error");
                    }
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
                Wake::Timer => {}
            }
            // Timers run even when IO never lets the sleep branch win.
            if self.ep.poll_timeout().is_some_and(|t| t <= now) {
                self.ep.handle_timeout(now);
            }
            self.peers.initiate_due(&mut self.ep, now);
            self.flush(now).await;
        }
    }

    async fn command(&mut self, now: std::time::Instant, command: Command) {
        match command {
            Command::Apply(desired, reply) => {
                let routes: Vec<IpNet> = Peers::prefixes(&desired)
                    .into_iter()
                    .filter(|n| {
                        !self
                            .io
                            .tun
                            .addresses()
                            .iter()
                            .any(|a| a.trunc().contains(n))
                    })
                    .collect();
                if routes != self.tun_routes {
                    if let Err(e) = self.io.tun.set_routes(&routes).await {
                        let _ = reply.send(Err(DataplaneError::Routes(e.to_string())));
                        return;
                    }
                    self.tun_routes = routes;
                }
                let (ike_bound, natt) = (self.io.ike.is_some(), self.ep.config().natt_port);
                let plan = self.peers.apply(&mut self.ep, now, desired, |config| {
                    if !ike_bound {
                        config.remote_port = natt;
                    }
                });
                self.peers.initiate_due(&mut self.ep, now);
                self.flush(now).await;
                self.peers.forget_removed();
                let _ = reply.send(Ok(plan));
            }
            Command::Sas(reply) => {
                let (total, up) = self.peers.counts(&self.ep, now);
                let _ = reply.send(SasSnapshot {
                    sas: self.ep.list_sas(now),
                    stats: self.ep.stats().clone(),
                    counters: self.counters.clone(),
                    peers_total: total,
                    peers_up: up,
                    natt_port: self.io.natt.local_port(),
                });
            }
            Command::Stop(_) => {}
        }
    }

    /// Feeds every received datagram to the endpoint; decrypted packets go to the TUN.
    async fn inbound(&mut self, now: std::time::Instant, natt: bool) {
        let (batch, port) = if natt {
            (&mut self.natt_in, self.ep.config().natt_port)
        } else {
            (&mut self.ike_in, self.ep.config().ike_port)
        };
        let local = SocketAddr::new(self.io.local_ip, port);
        for (from, datagram) in batch.datagrams_mut() {
            let Received::Decrypted { packet, .. } =
                self.ep.handle_datagram(now, local, from, datagram)
            else {
                continue;
            };
            let inner = &datagram[packet];
            if !self.tun_out.push(inner) {
                write_tun(&mut self.io.tun, &mut self.tun_out, &mut self.counters).await;
                self.tun_out.push(inner);
            }
        }
    }

    /// Seals every packet read from the TUN for the peer whose selectors hold its destination.
    fn outbound(&mut self, now: std::time::Instant) {
        let max_segments = self.io.natt.max_segments();
        for packet in self.tun_in.packets() {
            self.counters.tun_in += 1;
            let Some(peer) = IpPacket::parse(packet)
                .ok()
                .and_then(|p| self.peers.route(p.dst()))
            else {
                self.counters.no_route += 1;
                continue;
            };
            match self.ep.encrypt(now, peer, packet, &mut self.sealed) {
                Ok(t) => self.esp_out.push(t.dst, &self.sealed, max_segments),
                Err(SendError::NoChildSa) => self.counters.no_child_sa += 1,
                Err(e) => {
                    self.counters.seal_errors += 1;
                    tracing::debug!(error = %e, "cannot seal a packet");
                }
            }
        }
    }

    /// Sends what the endpoint and the data path queued, writes decrypted packets to the TUN
    /// and reports the endpoint's events.
    async fn flush(&mut self, now: std::time::Instant) {
        while let Some(t) = self.ep.poll_transmit() {
            let socket = match &mut self.io.ike {
                Some(ike) if t.src.port() == ike.local_port() && t.src.port() != 0 => ike,
                _ => &mut self.io.natt,
            };
            let transmit = UdpTransmit {
                destination: t.dst,
                size: t.bytes.len(),
                segment_size: None,
            };
            if let Err(e) = socket.send(&transmit, &t.bytes).await {
                tracing::debug!(error = %e, to = %t.dst, "IKE send failed");
            }
        }
        if !self.esp_out.is_empty() {
            for (transmit, bytes) in self.esp_out.sends() {
                if let Err(e) = self.io.natt.send(&transmit, bytes).await {
                    self.counters.send_errors += 1;
                    tracing::debug!(error = %e, to = %transmit.destination, "ESP send failed");
                }
            }
            self.esp_out.clear();
        }
        if !self.tun_out.is_empty() {
            write_tun(&mut self.io.tun, &mut self.tun_out, &mut self.counters).await;
        }
        while let Some(event) = self.ep.poll_event() {
            let peers = &self.peers;
            let name = |id| peers.name(id);
            match report(&event, &self.ep, now, &name, &self.events) {
                Followup::None => {}
                Followup::Up(peer) => self.peers.up(peer),
                Followup::Retry { peer, mismatch } => self.peers.failed(peer, mismatch, now),
            }
        }
    }

    /// Deletes every SA (one Delete each, not retransmitted) and sends those messages.
    async fn stop(&mut self, now: std::time::Instant) {
        for id in self.peers.ids() {
            let _ = self.ep.remove_peer(now, id);
        }
        self.flush(now).await;
    }
}

async fn write_tun<T: TunIo>(tun: &mut T, batch: &mut PacketBatch, counters: &mut Counters) {
    counters.tun_out += batch.len() as u64;
    if let Err(e) = tun.send(batch).await {
        counters.io_errors += 1;
        tracing::debug!(error = %e, "TUN write failed");
    }
    batch.clear();
}
