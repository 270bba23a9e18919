//! The sans-IO side of the driver: what a protocol state machine (the mesh engine, the IKE
//! endpoint) takes in — TUN packets, datagrams per socket, commands, time — and where it puts
//! what the driver should send.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use crate::batch::PacketBatch;
use crate::control::Control;
use crate::driver::{TUN_BATCH, TUN_ROOM};
use crate::io::TunIo;
use crate::send_queue::SendQueue;

/// One of the driver's UDP sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// The data path's socket (WireGuard, or IKE with NAT-T and ESP-in-UDP), with GSO.
    Primary,
    /// The optional second socket (plain IKE on UDP 500). What a machine queues for it while
    /// none is bound leaves by the primary socket.
    Secondary,
}

/// What the driver does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep running.
    Continue,
    /// Send what is queued, then stop.
    Stop,
}

/// Where a machine puts what the driver should send: a GSO queue per socket and a batch of
/// packets for the TUN device. The driver empties it at every flush.
pub struct Output {
    pub(crate) primary: SendQueue,
    pub(crate) secondary: SendQueue,
    pub(crate) tun: PacketBatch,
}

impl Output {
    /// Empty queues and a TUN batch with `headroom` bytes before each packet.
    pub(crate) fn new(headroom: usize) -> Self {
        Self {
            primary: SendQueue::default(),
            secondary: SendQueue::default(),
            tun: PacketBatch::new(TUN_BATCH, headroom, TUN_ROOM),
        }
    }

    /// The datagrams to send from `socket`.
    pub fn udp(&mut self, socket: Socket) -> &mut SendQueue {
        match socket {
            Socket::Primary => &mut self.primary,
            Socket::Secondary => &mut self.secondary,
        }
    }

    /// The packets to write to the TUN device. While a machine handles one packet or datagram
    /// it has room for at least one; more than that it keeps and hands over in
    /// [`Machine::poll_output`].
    pub fn tun(&mut self) -> &mut PacketBatch {
        &mut self.tun
    }
}

/// A sans-IO data-plane state machine the [driver](crate::spawn) runs: it owns no socket and
/// reads no clock; the driver feeds it, sleeps until [`Machine::poll_timeout`] and sends what
/// it queued, in batches.
pub trait Machine {
    /// Requests from the machine's handles (reconfiguration, snapshots).
    type Command: Send + 'static;

    /// Handles one IP packet read from the TUN device.
    fn handle_tun_packet(&mut self, now: Instant, packet: &[u8], out: &mut Output);

    /// Handles one datagram received on `socket` from `from` (writable, to decrypt it in place).
    fn handle_datagram(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut Output,
    );

    /// Handles a command; `control` reaches the TUN device's routes and the IO counters.
    fn handle_command<T: TunIo>(
        &mut self,
        now: Instant,
        command: Self::Command,
        control: &mut Control<'_, T>,
    ) -> impl Future<Output = Flow>;

    /// When [`Machine::handle_timeout`] should next run; `None`: no timer.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Runs whatever timers are due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// Moves what the machine queued on its own into `out`, stopping when the TUN batch is
    /// full; true when more is left for another round (the driver sends `out` in between).
    fn poll_output(&mut self, now: Instant, out: &mut Output) -> bool;

    /// Everything queued has been sent: a place to report events.
    fn flushed(&mut self, now: Instant);
}
