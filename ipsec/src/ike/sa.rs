//! One IKE SA: its state, keys, message-ID windows, the outstanding request with its
//! retransmission schedule, the response cache, and the queue of exchanges waiting to be
//! started. The exchanges themselves live in `init`, `auth`, `create_child`, `rekey_ike`
//! and `informational`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::child::Child;
use super::config::{EndpointConfig, PeerConfig, PeerId};
use super::event::{DownReason, Event, IkeSaId, Received, SaError, Stats, Transmit};
use super::nat::NON_ESP_MARKER;
use crate::crypto::dh::DhPrivate;
use crate::crypto::sk::{OpenError, SkCrypto};
use crate::transforms::{EspProposal, IkeProposal};
use crate::ts::TrafficSelector;
use crate::wire::{
    ExchangeType, FLAG_INITIATOR, FLAG_RESPONSE, Header, Message, Notify, NotifyType, Payload,
    WireError,
};

/// Where an IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeState {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitReplied,
    /// Established.
    Established,
    /// Replaced by a rekeyed IKE SA; waiting for its deletion.
    Rekeyed,
    /// Delete sent.
    Deleting,
    /// Gone; the endpoint removes it.
    Dead,
}

/// An exchange we started and wait for the answer to.
pub(crate) enum Pending {
    Init,
    Auth(Box<ChildRequest>),
    CreateChild(Box<ChildRequest>),
    RekeyIke(Box<IkeRekeyRequest>),
    DeleteChildren(Vec<u32>),
    DeleteIke,
    Dpd,
}

/// A child SA we proposed (in IKE_AUTH, or in CREATE_CHILD_SA to rekey `old_spi`).
pub(crate) struct ChildRequest {
    pub old_spi: Option<u32>,
    pub spi_in: u32,
    pub nonce: Vec<u8>,
    pub dh: Option<DhPrivate>,
    pub proposals: Vec<EspProposal>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// A CREATE_CHILD_SA request we sent to rekey this IKE SA.
pub(crate) struct IkeRekeyRequest {
    pub spi: u64,
    pub nonce: Vec<u8>,
    pub dh: DhPrivate,
}

/// An exchange waiting for the request window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    RekeyChild(u32),
    RekeyIke,
    DeleteChild(u32),
    DeleteIke,
    Dpd,
}

pub(crate) struct Outstanding {
    pub msg_id: u32,
    pub bytes: Vec<u8>,
    pub pending: Pending,
    pub tries: u32,
    pub next_retransmit: Instant,
}

/// Everything an IKE SA needs from the endpoint while it handles input.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub rng: &'a mut dyn CryptoRngCore,
    pub config: &'a EndpointConfig,
    pub peers: &'a [Option<PeerConfig>],
    pub children: &'a mut HashMap<u32, Child>,
    pub reserved_spis: &'a mut HashSet<u32>,
    pub events: &'a mut VecDeque<Event>,
    pub transmits: &'a mut VecDeque<Transmit>,
    pub stats: &'a mut Stats,
    pub new_sas: &'a mut Vec<IkeSa>,
    pub next_id: &'a mut u64,
    /// IKE SAs of a peer to drop silently (INITIAL_CONTACT), except the given one.
    pub replace_others: &'a mut Vec<(PeerId, IkeSaId)>,
    /// IKE SAs that lost a rekey collision to another: (loser, winner).
    pub superseded: &'a mut Vec<(IkeSaId, IkeSaId)>,
}

impl Ctx<'_> {
    pub fn peer(&self, id: PeerId) -> Option<&PeerConfig> {
        self.peers.get(id.0 as usize)?.as_ref()
    }

    /// A fresh nonzero ESP SPI not in use.
    pub fn alloc_esp_spi(&mut self) -> u32 {
        loop {
            let spi = self.rng.next_u32();
            if spi >= 256 && !self.children.contains_key(&spi) && self.reserved_spis.insert(spi) {
                return spi;
            }
        }
    }

    pub fn nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; 32];
        self.rng.fill_bytes(&mut n);
        n
    }

    pub fn alloc_ike_id(&mut self) -> IkeSaId {
        *self.next_id += 1;
        IkeSaId(*self.next_id)
    }

    /// A lifetime with up to 10 % random jitter subtracted, so peers do not rekey at once.
    pub fn jittered(&mut self, d: Duration) -> Duration {
        let jitter = d / 10;
        let frac = f64::from(self.rng.next_u32()) / f64::from(u32::MAX);
        d - jitter.mul_f64(frac)
    }
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    pub peer: Option<PeerId>,
    /// Candidate peers while the responder does not yet know the identity.
    pub candidates: Vec<PeerId>,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub state: IkeState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub proposal: Option<IkeProposal>,
    pub offered: Vec<IkeProposal>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub dh: Option<DhPrivate>,
    pub sk_d: Zeroizing<Vec<u8>>,
    pub sk_pi: Zeroizing<Vec<u8>>,
    pub sk_pr: Zeroizing<Vec<u8>>,
    pub sk: Option<SkCrypto>,
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub cookie: Option<Vec<u8>>,
    pub init_retries: u8,
    pub next_msg_id: u32,
    pub peer_msg_id: u32,
    pub outstanding: Option<Outstanding>,
    pub last_response: Option<(u32, Vec<u8>)>,
    pub tasks: VecDeque<Task>,
    pub nat_local: bool,
    pub nat_remote: bool,
    pub created: Instant,
    pub established: Option<Instant>,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub last_inbound: Instant,
    pub next_keepalive: Option<Instant>,
    /// While we answered a peer's IKE rekey and ours is outstanding: the peer's new SA and
    /// the lowest nonce of that exchange (RFC 7296 section 2.8.2).
    pub peer_rekey: Option<(IkeSaId, Vec<u8>)>,
    /// The SA that replaced this one.
    pub successor: Option<IkeSaId>,
    /// Send INITIAL_CONTACT in IKE_AUTH: we hold no other SA with this peer, so the peer
    /// should drop any it still has with us (we restarted).
    pub initial_contact: bool,
}

impl IkeSa {
    /// A fresh IKE SA shell; the exchange modules fill in the rest.
    pub fn new(
        id: IkeSaId,
        initiator: bool,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            id,
            peer: None,
            candidates: Vec::new(),
            initiator,
            spi_i: 0,
            spi_r: 0,
            state: IkeState::InitSent,
            local,
            remote,
            proposal: None,
            offered: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            dh: None,
            sk_d: Zeroizing::new(Vec::new()),
            sk_pi: Zeroizing::new(Vec::new()),
            sk_pr: Zeroizing::new(Vec::new()),
            sk: None,
            init_request: Vec::new(),
            init_response: Vec::new(),
            cookie: None,
            init_retries: 0,
            next_msg_id: 0,
            peer_msg_id: 0,
            outstanding: None,
            last_response: None,
            tasks: VecDeque::new(),
            nat_local: false,
            nat_remote: false,
            created: now,
            established: None,
            rekey_at: None,
            expire_at: None,
            last_inbound: now,
            next_keepalive: None,
            peer_rekey: None,
            successor: None,
            initial_contact: false,
        }
    }

    /// Our SPI, by which the endpoint finds this SA.
    pub fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub fn is_established(&self) -> bool {
        self.state == IkeState::Established
    }

    /// Wraps bytes for the wire: with the non-ESP marker on the NAT-T port.
    pub fn transmit(&self, ctx: &mut Ctx<'_>, bytes: &[u8]) {
        let out = with_marker(ctx.config, self.local, bytes);
        ctx.stats.ike_out += 1;
        ctx.transmits.push_back(Transmit {
            src: self.local,
            dst: self.remote,
            bytes: out,
        });
    }

    fn header(&self, exchange: ExchangeType, msg_id: u32, response: bool) -> Header {
        let mut flags = if self.initiator { FLAG_INITIATOR } else { 0 };
        if response {
            flags |= FLAG_RESPONSE;
        }
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: 0,
            version: 0x20,
            exchange,
            flags,
            message_id: msg_id,
            length: 0,
        }
    }

    /// Sends an unprotected message (IKE_SA_INIT) and returns its bytes.
    pub fn plain_message(
        &self,
        exchange: ExchangeType,
        msg_id: u32,
        response: bool,
        payloads: Vec<Payload>,
    ) -> Vec<u8> {
        Message {
            header: self.header(exchange, msg_id, response),
            payloads,
        }
        .encode()
    }

    /// Sends a protected request and makes it the outstanding one.
    pub fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
        pending: Pending,
    ) {
        let msg_id = self.next_msg_id;
        let header = self.header(exchange, msg_id, false);
        let Some(sk) = self.sk.as_mut() else { return };
        let bytes = sk.seal(header, payloads);
        self.next_msg_id += 1;
        self.send_outstanding(ctx, msg_id, bytes, pending);
    }

    /// Sends request bytes and arms their retransmission.
    pub fn send_outstanding(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        bytes: Vec<u8>,
        pending: Pending,
    ) {
        self.transmit(ctx, &bytes);
        self.outstanding = Some(Outstanding {
            msg_id,
            bytes,
            pending,
            tries: 0,
            next_retransmit: ctx.now + ctx.config.retransmit_base,
        });
    }

    /// Sends a protected response to request `msg_id` and caches it for retransmissions.
    pub fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        msg_id: u32,
        payloads: &[Payload],
    ) {
        let header = self.header(exchange, msg_id, true);
        let Some(sk) = self.sk.as_mut() else { return };
        let bytes = sk.seal(header, payloads);
        self.transmit(ctx, &bytes);
        self.last_response = Some((msg_id, bytes));
    }

    /// Sends a one-shot protected INFORMATIONAL request that is not retransmitted (used
    /// right before the SA disappears).
    pub fn send_final(&mut self, ctx: &mut Ctx<'_>, payloads: &[Payload]) {
        let header = self.header(ExchangeType::Informational, self.next_msg_id, false);
        if let Some(sk) = self.sk.as_mut() {
            let bytes = sk.seal(header, payloads);
            self.transmit(ctx, &bytes);
        }
    }

    /// Handles a message for this SA (already matched by SPI).
    pub fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) -> Received {
        use super::event::DropReason as D;
        if header.exchange == ExchangeType::IkeSaInit {
            return match (header.is_response(), self.state) {
                (true, IkeState::InitSent) => self.handle_init_response(ctx, bytes),
                (false, IkeState::InitReplied) if self.init_request == bytes => {
                    let resp = self.init_response.clone();
                    self.transmit(ctx, &resp);
                    Received::Ike
                }
                _ => ctx.stats.drop(D::UnexpectedExchange),
            };
        }
        if self.sk.is_none() || self.state == IkeState::Dead {
            return ctx.stats.drop(D::UnexpectedExchange);
        }
        if header.is_response() {
            let Some(out) = self.outstanding.as_ref() else {
                return ctx.stats.drop(D::UnexpectedResponse);
            };
            if out.msg_id != header.message_id || header.exchange != exchange_of(&out.pending) {
                return ctx.stats.drop(D::UnexpectedResponse);
            }
            let msg = match self.open(bytes) {
                Ok(m) => m,
                Err(OpenError::Integrity) => return ctx.stats.drop(D::Integrity),
                Err(_) => return ctx.stats.drop(D::Malformed),
            };
            ctx.stats.ike_in += 1;
            self.last_inbound = ctx.now;
            let Some(out) = self.outstanding.take() else {
                return Received::Ike;
            };
            self.handle_response(ctx, out.pending, msg);
        } else {
            if let Some((id, resp)) = &self.last_response
                && *id == header.message_id
            {
                let resp = resp.clone();
                self.transmit(ctx, &resp);
                return Received::Ike;
            }
            if header.message_id != self.peer_msg_id {
                return ctx.stats.drop(D::MessageIdOutOfWindow);
            }
            let msg = match self.open(bytes) {
                Ok(m) => m,
                Err(OpenError::Integrity) => return ctx.stats.drop(D::Integrity),
                Err(OpenError::Outer(_)) => return ctx.stats.drop(D::Malformed),
                Err(OpenError::Inner(e)) => {
                    self.peer_msg_id += 1;
                    let kind = match e {
                        WireError::UnsupportedCritical(_) => {
                            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
                        }
                        _ => NotifyType::INVALID_SYNTAX,
                    };
                    self.send_response(
                        ctx,
                        header.exchange,
                        header.message_id,
                        &[notify(kind, Vec::new())],
                    );
                    if header.exchange == ExchangeType::IkeAuth {
                        self.fail(ctx, SaError::Protocol("malformed IKE_AUTH"));
                    }
                    return ctx.stats.drop(if kind == NotifyType::INVALID_SYNTAX {
                        D::Malformed
                    } else {
                        D::UnsupportedCritical
                    });
                }
            };
            ctx.stats.ike_in += 1;
            self.peer_msg_id += 1;
            self.last_inbound = ctx.now;
            // An authenticated request: follow the peer's address (the NAT mapping may have
            // changed, or the initiator moved to the NAT-T port).
            self.remote = remote;
            self.local = local;
            match header.exchange {
                ExchangeType::IkeAuth if self.state == IkeState::InitReplied => {
                    self.handle_auth_request(ctx, header.message_id, msg)
                }
                ExchangeType::CreateChildSa => {
                    self.handle_create_child_request(ctx, header.message_id, msg)
                }
                ExchangeType::Informational => {
                    self.handle_informational_request(ctx, header.message_id, msg)
                }
                _ => {
                    self.send_response(
                        ctx,
                        header.exchange,
                        header.message_id,
                        &[notify(NotifyType::INVALID_SYNTAX, Vec::new())],
                    );
                    return ctx.stats.drop(D::UnexpectedExchange);
                }
            }
        }
        self.start_next_task(ctx);
        Received::Ike
    }

    fn open(&self, bytes: &[u8]) -> Result<Message, OpenError> {
        match &self.sk {
            Some(sk) => sk.open(bytes),
            None => Err(OpenError::Integrity),
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, pending: Pending, msg: Message) {
        match pending {
            Pending::Init => {}
            Pending::Auth(req) => self.handle_auth_response(ctx, *req, msg),
            Pending::CreateChild(req) => self.handle_create_child_response(ctx, *req, msg),
            Pending::RekeyIke(req) => self.handle_rekey_ike_response(ctx, *req, msg),
            Pending::DeleteChildren(spis) => self.handle_delete_children_response(ctx, &spis),
            Pending::DeleteIke => self.die(ctx, DownReason::DeletedLocally),
            Pending::Dpd => {}
        }
    }

    /// Starts the next queued exchange if the request window is free.
    pub fn start_next_task(&mut self, ctx: &mut Ctx<'_>) {
        while self.outstanding.is_none() && self.is_established() {
            let Some(task) = self.tasks.pop_front() else {
                return;
            };
            match task {
                Task::RekeyChild(spi) => self.start_child_rekey(ctx, spi),
                Task::RekeyIke => self.start_ike_rekey(ctx),
                Task::DeleteChild(spi) => self.start_delete_child(ctx, spi),
                Task::DeleteIke => self.start_delete_ike(ctx),
                Task::Dpd => self.send_request(ctx, ExchangeType::Informational, &[], Pending::Dpd),
            }
        }
    }

    /// Queues an exchange unless the same one is already queued.
    pub fn queue(&mut self, ctx: &mut Ctx<'_>, task: Task) {
        if !self.tasks.contains(&task) {
            self.tasks.push_back(task);
        }
        self.start_next_task(ctx);
    }

    /// Setup failed: report it and vanish with whatever children were reserved.
    pub fn fail(&mut self, ctx: &mut Ctx<'_>, error: SaError) {
        if self.state == IkeState::Dead {
            return;
        }
        let peer = self
            .peer
            .or_else(|| (self.candidates.len() == 1).then(|| self.candidates[0]));
        ctx.events.push_back(Event::IkeSaFailed {
            peer,
            remote: self.remote,
            error,
        });
        self.release(ctx);
    }

    /// An established SA ends: report it and its children and vanish.
    pub fn die(&mut self, ctx: &mut Ctx<'_>, reason: DownReason) {
        if self.state == IkeState::Dead {
            return;
        }
        let was_up = self.established.is_some() && self.successor.is_none();
        let peer = self.peer;
        let child_spis: Vec<u32> = ctx
            .children
            .values()
            .filter(|c| c.ike == self.id)
            .map(|c| c.esp.spi_in())
            .collect();
        for spi in child_spis {
            self.remove_child(ctx, spi, reason);
        }
        if let (true, Some(peer)) = (was_up, peer) {
            ctx.events.push_back(Event::IkeSaDown {
                peer,
                ike: self.id,
                reason,
            });
        }
        self.release(ctx);
    }

    fn release(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(Pending::Auth(req) | Pending::CreateChild(req)) =
            self.outstanding.take().map(|o| o.pending)
        {
            ctx.reserved_spis.remove(&req.spi_in);
        }
        self.state = IkeState::Dead;
        self.tasks.clear();
    }

    /// Removes one child and reports it.
    pub fn remove_child(&mut self, ctx: &mut Ctx<'_>, spi_in: u32, reason: DownReason) {
        if let Some(c) = ctx.children.remove(&spi_in) {
            ctx.reserved_spis.remove(&spi_in);
            ctx.events.push_back(Event::ChildSaDown {
                peer: c.peer,
                spi_in,
                reason,
            });
        }
    }

    /// The earliest time this SA needs `handle_timeout`.
    pub fn next_timeout(&self, config: &EndpointConfig, dpd: Option<Duration>) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.outstanding.as_ref().map(|o| o.next_retransmit));
        consider(self.expire_at);
        if self.is_established() {
            consider(self.rekey_at);
            consider(self.next_keepalive);
            consider(dpd.map(|d| self.last_inbound + d));
        }
        if self.state == IkeState::InitReplied {
            consider(Some(self.created + config.half_open_timeout));
        }
        t
    }

    /// Timers: retransmission and give-up, lifetimes, DPD, keepalives.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>, esp_last_inbound: Option<Instant>) {
        let now = ctx.now;
        if let Some(out) = self.outstanding.as_mut()
            && now >= out.next_retransmit
        {
            if out.tries >= ctx.config.retransmit_tries {
                if self.established.is_some() {
                    self.die(ctx, DownReason::PeerDead);
                } else {
                    self.fail(ctx, SaError::Timeout);
                }
                return;
            }
            out.tries += 1;
            out.next_retransmit =
                now + ctx.config.retransmit_base * 2u32.saturating_pow(out.tries.min(16));
            let bytes = out.bytes.clone();
            ctx.stats.retransmits += 1;
            self.transmit(ctx, &bytes);
        }
        if self.state == IkeState::InitReplied && now >= self.created + ctx.config.half_open_timeout
        {
            self.fail(ctx, SaError::Timeout);
            return;
        }
        if self.expire_at.is_some_and(|t| now >= t) {
            if self.is_established() {
                self.send_final(
                    ctx,
                    &[Payload::Delete(crate::wire::Delete {
                        protocol: crate::wire::ProtocolId::Ike,
                        spis: Vec::new(),
                    })],
                );
            }
            self.die(ctx, DownReason::Expired);
            return;
        }
        if !self.is_established() {
            return;
        }
        if self.rekey_at.is_some_and(|t| now >= t) {
            self.rekey_at = None;
            self.queue(ctx, Task::RekeyIke);
        }
        if self.next_keepalive.is_some_and(|t| now >= t) {
            ctx.stats.keepalives_out += 1;
            ctx.transmits.push_back(Transmit {
                src: self.local,
                dst: self.remote,
                bytes: super::nat::KEEPALIVE.to_vec(),
            });
            self.next_keepalive = Some(now + ctx.config.keepalive_interval);
        }
        let dpd = self.peer.and_then(|p| ctx.peer(p)).and_then(|p| p.dpd);
        if let Some(dpd) = dpd {
            if let Some(esp) = esp_last_inbound.filter(|t| *t > self.last_inbound) {
                self.last_inbound = esp;
            }
            if now >= self.last_inbound + dpd {
                // Count the check itself as activity so it is not re-queued each tick.
                self.last_inbound = now;
                if self.outstanding.is_none() {
                    self.queue(ctx, Task::Dpd);
                }
            }
        }
        self.start_next_task(ctx);
    }
}

/// IKE bytes as sent from `local`: with the non-ESP marker on the NAT-T port.
pub(crate) fn with_marker(config: &EndpointConfig, local: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    if local.port() == config.natt_port {
        out.extend_from_slice(&NON_ESP_MARKER);
    }
    out.extend_from_slice(bytes);
    out
}

fn exchange_of(p: &Pending) -> ExchangeType {
    match p {
        Pending::Init => ExchangeType::IkeSaInit,
        Pending::Auth(_) => ExchangeType::IkeAuth,
        Pending::CreateChild(_) | Pending::RekeyIke(_) => ExchangeType::CreateChildSa,
        Pending::DeleteChildren(_) | Pending::DeleteIke | Pending::Dpd => {
            ExchangeType::Informational
        }
    }
}

/// A notify payload without SPI.
pub(crate) fn notify(kind: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(kind, data))
}

/// The first error notify of a message, if any.
pub(crate) fn error_notify(msg: &Message) -> Option<NotifyType> {
    msg.payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.kind.is_error() => Some(n.kind),
        _ => None,
    })
}
