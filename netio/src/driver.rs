//! The driver loop: waits on stop, commands, the sockets, the TUN device and the machine's
//! timer; feeds the machine; and flushes its output in batches (GSO sends, coalesced TUN
//! writes). It owns the machine, so nothing else ever locks it.

use std::future::pending;
use std::io;
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::batch::{DatagramBatch, PacketBatch};
use crate::control::{Control, IoCounters};
use crate::io::{TunIo, UdpIo};
use crate::machine::{Flow, Machine, Output, Socket};
use crate::send_queue::SendQueue;

/// Packets per TUN batch (tun-rs's ideal batch size).
pub(crate) const TUN_BATCH: usize = 128;
/// Room per TUN packet: an IP packet up to the largest MTU we configure, plus slack.
pub(crate) const TUN_ROOM: usize = 9000 + 64;
/// Receive buffers for the primary socket (several recvmmsg calls) and the size of each (a
/// full GRO train; pages are only touched as far as datagrams fill them).
const PRIMARY_SLOTS: usize = 128;
const UDP_BUF: usize = 65_536;
/// Receive buffers for the secondary socket (plain IKE: few and small messages).
const SECONDARY_SLOTS: usize = 8;
/// Pause after an IO error so a broken device cannot spin the loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// At most one IO-error warning per this interval.
const IO_WARNING_INTERVAL: Duration = Duration::from_secs(1);
/// How long to sleep when the machine has no timer.
const IDLE: Duration = Duration::from_secs(3600);

/// The devices a driver serves: a TUN device, the primary UDP socket and optionally a
/// secondary one (see [`Socket`]).
pub struct Devices<T, U> {
    /// The TUN device.
    pub tun: T,
    /// The data path's socket.
    pub primary: U,
    /// The second socket, if any.
    pub secondary: Option<U>,
}

impl<T, U> Devices<T, U> {
    /// A TUN device and one socket.
    pub fn new(tun: T, primary: U) -> Self {
        Self {
            tun,
            primary,
            secondary: None,
        }
    }
}

enum Wake<C> {
    Stop,
    Command(Option<C>),
    Udp(Socket, io::Result<()>),
    Tun(io::Result<()>),
    Timer,
}

pub(crate) struct Driver<M: Machine, T, U> {
    /// Names the driver in log lines.
    name: &'static str,
    machine: M,
    devices: Devices<T, U>,
    commands: mpsc::Receiver<M::Command>,
    stop: oneshot::Receiver<()>,
    tun_in: PacketBatch,
    primary_in: DatagramBatch,
    secondary_in: DatagramBatch,
    out: Output,
    routes: Vec<IpNet>,
    counters: IoCounters,
    last_io_warning: Option<Instant>,
}

impl<M: Machine, T: TunIo, U: UdpIo> Driver<M, T, U> {
    pub(crate) fn new(
        name: &'static str,
        machine: M,
        devices: Devices<T, U>,
        commands: mpsc::Receiver<M::Command>,
        stop: oneshot::Receiver<()>,
    ) -> Self {
        let headroom = devices.tun.headroom();
        Self {
            name,
            machine,
            devices,
            commands,
            stop,
            tun_in: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
            primary_in: DatagramBatch::new(PRIMARY_SLOTS, UDP_BUF),
            secondary_in: DatagramBatch::new(SECONDARY_SLOTS, UDP_BUF),
            out: Output::new(headroom),
            routes: Vec::new(),
            counters: IoCounters::default(),
            last_io_warning: None,
        }
    }

    /// Runs until stopped (the stop signal, every command sender gone, or [`Flow::Stop`]);
    /// the devices close when it returns.
    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self
                .machine
                .poll_timeout()
                .map_or_else(|| Instant::now() + IDLE, Instant::from_std);
            let wake = tokio::select! {
                _ = &mut self.stop => Wake::Stop,
                command = self.commands.recv() => Wake::Command(command),
                r = async {
                    self.primary_in.clear();
                    self.devices.primary.recv(&mut self.primary_in).await
                } => Wake::Udp(Socket::Primary, r),
                r = async {
                    self.secondary_in.clear();
                    match self.devices.secondary.as_mut() {
                        Some(socket) => socket.recv(&mut self.secondary_in).await,
                        None => pending().await,
                    }
                } => Wake::Udp(Socket::Secondary, r),
                r = self.devices.tun.recv(&mut self.tun_in) => Wake::Tun(r),
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            let now = Instant::now().into_std();
            match wake {
                // Stopped (or the owner dropped), or every handle gone.
                Wake::Stop | Wake::Command(None) => break,
                Wake::Command(Some(command)) => {
                    let mut control = Control {
                        tun: &mut self.devices.tun,
                        routes: &mut self.routes,
                        counters: &self.counters,
                    };
                    if self
                        .machine
                        .handle_command(now, command, &mut control)
                        .await
                        == Flow::Stop
                    {
                        self.flush(now).await;
                        break;
                    }
                }
                Wake::Udp(socket, Ok(())) => self.inbound(now, socket).await,
                Wake::Tun(Ok(())) => self.outbound(now).await,
                Wake::Udp(_, Err(e)) | Wake::Tun(Err(e)) => self.io_error(&e).await,
                Wake::Timer => {}
            }
            // Timers run even when IO never lets the sleep branch win.
            if self.machine.poll_timeout().is_some_and(|t| t <= now) {
                self.machine.handle_timeout(now);
            }
            self.flush(now).await;
        }
    }

    /// Feeds every datagram received on `socket` to the machine.
    async fn inbound(&mut self, now: std::time::Instant, socket: Socket) {
        let batch = match socket {
            Socket::Primary => &mut self.primary_in,
            Socket::Secondary => &mut self.secondary_in,
        };
        for (from, datagram) in batch.datagrams_mut() {
            if self.out.tun.is_full() {
                write_tun(&mut self.devices.tun, &mut self.out.tun, &mut self.counters).await;
            }
            self.machine
                .handle_datagram(now, socket, from, datagram, &mut self.out);
        }
    }

    /// Feeds every packet read from the TUN device to the machine.
    async fn outbound(&mut self, now: std::time::Instant) {
        self.counters.tun_in += self.tun_in.len() as u64;
        for packet in self.tun_in.packets() {
            if self.out.tun.is_full() {
                write_tun(&mut self.devices.tun, &mut self.out.tun, &mut self.counters).await;
            }
            self.machine.handle_tun_packet(now, packet, &mut self.out);
        }
    }

    /// Sends every queued datagram, writes every queued TUN packet, then lets the machine
    /// report.
    async fn flush(&mut self, now: std::time::Instant) {
        loop {
            let more = self.machine.poll_output(now, &mut self.out);
            let devices = &mut self.devices;
            send(
                &mut devices.primary,
                &mut self.out.primary,
                &mut self.counters,
            )
            .await;
            let secondary = devices.secondary.as_mut().unwrap_or(&mut devices.primary);
            send(secondary, &mut self.out.secondary, &mut self.counters).await;
            if !self.out.tun.is_empty() {
                write_tun(&mut devices.tun, &mut self.out.tun, &mut self.counters).await;
            }
            if !more {
                break;
            }
        }
        self.machine.flushed(now);
    }

    /// Counts and (at most once a second) logs an IO error, then pauses briefly.
    async fn io_error(&mut self, error: &io::Error) {
        self.counters.io_errors += 1;
        let now = Instant::now();
        if self
            .last_io_warning
            .is_none_or(|t| now.duration_since(t) >= IO_WARNING_INTERVAL)
        {
            self.last_io_warning = Some(now);
            tracing::warn!(driver = self.name, %error, "IO error");
        }
        tokio::time::sleep(ERROR_BACKOFF).await;
    }
}

/// Sends everything in `queue` from `socket`, as few GSO sends as it allows.
async fn send<U: UdpIo>(socket: &mut U, queue: &mut SendQueue, counters: &mut IoCounters) {
    let max_segments = socket.max_segments();
    while let Some((transmit, bytes)) = queue.pop(max_segments) {
        if let Err(e) = socket.send(&transmit, bytes).await {
            counters.send_errors += 1;
            tracing::debug!(error = %e, to = %transmit.destination, "UDP send failed");
        }
    }
}

/// Writes the packets in `batch` to the TUN device and empties it.
async fn write_tun<T: TunIo>(tun: &mut T, batch: &mut PacketBatch, counters: &mut IoCounters) {
    counters.tun_out += batch.len() as u64;
    if let Err(e) = tun.send(batch).await {
        counters.io_errors += 1;
        tracing::debug!(error = %e, "TUN write failed");
    }
    batch.clear();
}
