//! The vrouter as cvlan-netio's [`Machine`]: the IKE endpoint with the peers it runs. TUN
//! packets are sealed for the peer whose traffic selectors hold their destination, datagrams
//! from the NAT-T and IKE sockets go to the endpoint (decrypted ESP to the TUN), and the
//! endpoint's events become daemon events and retries.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use cvlan_ipsec::{Endpoint, Received, SendError};
use cvlan_mesh::IpPacket;
use cvlan_netio::{Control, Flow, Machine, Output, Socket, TunIo, off_link};
use tokio::sync::oneshot;

use super::peers::Peers;
use super::report::{Followup, report};
use super::{Command, Counters, DataplaneError, SasSnapshot};
use crate::desired::PeerSpec;
use crate::plan::PeerPlan;
use cvlan_agent::EventBus;

/// A command's reply that waits until what the command queued has been sent and its events
/// reported.
enum Pending {
    Apply(oneshot::Sender<Result<PeerPlan, DataplaneError>>, PeerPlan),
    Stop(oneshot::Sender<()>),
}

/// The endpoint, its peers and the data path's own counters.
pub(crate) struct Vrouter {
    ep: Endpoint,
    peers: Peers,
    events: Arc<EventBus>,
    /// The address SAs use as ours (the listen address; may be unspecified).
    local_ip: IpAddr,
    /// True when plain IKE has a socket of its own (UDP 500 was free).
    ike_bound: bool,
    sealed: Vec<u8>,
    /// The data path's drops (the IO counters are the driver's).
    no_route: u64,
    no_child_sa: u64,
    seal_errors: u64,
    pending: Option<Pending>,
}

impl Vrouter {
    pub(crate) fn new(
        ep: Endpoint,
        events: Arc<EventBus>,
        local_ip: IpAddr,
        ike_bound: bool,
    ) -> Self {
        Self {
            ep,
            peers: Peers::default(),
            events,
            local_ip,
            ike_bound,
            sealed: Vec::new(),
            no_route: 0,
            no_child_sa: 0,
            seal_errors: 0,
            pending: None,
        }
    }

    /// Sets the routes to the peers' subnets, then applies `desired` as a diff; the reply
    /// waits for the flush.
    async fn apply<T: TunIo>(
        &mut self,
        now: Instant,
        desired: Vec<PeerSpec>,
        reply: oneshot::Sender<Result<PeerPlan, DataplaneError>>,
        control: &mut Control<'_, T>,
    ) {
        let routes = off_link(
            control.tun_addresses(),
            desired.iter().flat_map(PeerSpec::remote_prefixes),
        );
        if let Err(e) = control.set_routes(routes).await {
            let _ = reply.send(Err(DataplaneError::Routes(e.to_string())));
            return;
        }
        let (ike_bound, natt) = (self.ike_bound, self.ep.config().natt_port);
        let plan = self.peers.apply(&mut self.ep, now, desired, |config| {
            if !ike_bound {
                config.remote_port = natt;
            }
        });
        self.peers.initiate_due(&mut self.ep, now);
        self.pending = Some(Pending::Apply(reply, plan));
    }

    fn snapshot<T: TunIo>(&self, now: Instant, control: &Control<'_, T>) -> SasSnapshot {
        let (total, up) = self.peers.counts(&self.ep, now);
        let io = control.counters();
        SasSnapshot {
            sas: self.ep.list_sas(now),
            stats: self.ep.stats().clone(),
            counters: Counters {
                tun_in: io.tun_in,
                tun_out: io.tun_out,
                no_route: self.no_route,
                no_child_sa: self.no_child_sa,
                seal_errors: self.seal_errors,
                send_errors: io.send_errors,
                io_errors: io.io_errors,
            },
            peers_total: total,
            peers_up: up,
            natt_port: self.ep.config().natt_port,
        }
    }
}

impl Machine for Vrouter {
    type Command = Command;

    /// Seals the packet for the peer whose selectors hold its destination.
    fn handle_tun_packet(&mut self, now: Instant, packet: &[u8], out: &mut Output) {
        let Some(peer) = IpPacket::parse(packet)
            .ok()
            .and_then(|p| self.peers.route(p.dst()))
        else {
            self.no_route += 1;
            return;
        };
        match self.ep.encrypt(now, peer, packet, &mut self.sealed) {
            Ok(t) => out.udp(Socket::Primary).push(t.dst, &self.sealed),
            Err(SendError::NoChildSa) => self.no_child_sa += 1,
            Err(e) => {
                self.seal_errors += 1;
                tracing::debug!(error = %e, "cannot seal a packet");
            }
        }
    }

    /// Feeds the datagram to the endpoint; a decrypted packet goes to the TUN.
    fn handle_datagram(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddr,
        datagram: &mut [u8],
        out: &mut Output,
    ) {
        let config = self.ep.config();
        let port = match socket {
            Socket::Primary => config.natt_port,
            Socket::Secondary => config.ike_port,
        };
        let local = SocketAddr::new(self.local_ip, port);
        if let Received::Decrypted { packet, .. } =
            self.ep.handle_datagram(now, local, from, datagram)
        {
            out.tun().push(&datagram[packet]);
        }
    }

    async fn handle_command<T: TunIo>(
        &mut self,
        now: Instant,
        command: Command,
        control: &mut Control<'_, T>,
    ) -> Flow {
        match command {
            Command::Apply(desired, reply) => self.apply(now, desired, reply, control).await,
            Command::Sas(reply) => {
                let _ = reply.send(self.snapshot(now, control));
            }
            Command::Stop(reply) => {
                // One Delete each, not retransmitted; the reply waits until they are sent.
                for id in self.peers.ids() {
                    let _ = self.ep.remove_peer(now, id);
                }
                self.pending = Some(Pending::Stop(reply));
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.ep.poll_timeout(), self.peers.next_retry()]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        self.peers.initiate_due(&mut self.ep, now);
    }

    /// Queues the endpoint's IKE messages on the socket bound to their source port.
    fn poll_output(&mut self, _: Instant, out: &mut Output) -> bool {
        let ike_port = self.ep.config().ike_port;
        while let Some(t) = self.ep.poll_transmit() {
            let socket = if self.ike_bound && t.src.port() == ike_port && ike_port != 0 {
                Socket::Secondary
            } else {
                Socket::Primary
            };
            out.udp(socket).push(t.dst, &t.bytes);
        }
        false
    }

    /// Reports the endpoint's events, then answers a command that waited for them.
    fn flushed(&mut self, now: Instant) {
        while let Some(event) = self.ep.poll_event() {
            let peers = &self.peers;
            let name = |id| peers.name(id);
            match report(&event, &self.ep, now, &name, &self.events) {
                Followup::None => {}
                Followup::Up(peer) => self.peers.up(peer),
                Followup::Retry { peer, mismatch } => self.peers.failed(peer, mismatch, now),
            }
        }
        match self.pending.take() {
            None => {}
            Some(Pending::Apply(reply, plan)) => {
                self.peers.forget_removed();
                let _ = reply.send(Ok(plan));
            }
            Some(Pending::Stop(reply)) => {
                let _ = reply.send(());
            }
        }
    }
}
