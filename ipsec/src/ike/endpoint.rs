//! The endpoint: many IKE SAs and child SAs for many peers behind one pair of sockets. It
//! demultiplexes datagrams by port, marker and SPI, drives each SA, applies what an SA
//! asks of its siblings (rekey successors, INITIAL_CONTACT), and holds the timers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use cvlan_types::Remote;
use rand_core::CryptoRngCore;

use super::child::Child;
use super::config::{EndpointConfig, PeerConfig, PeerId};
use super::event::{DownReason, DropReason, Event, IkeSaId, Received, Stats, Transmit};
use super::init::{CookieSecrets, respond_init};
use super::nat::{KEEPALIVE, NON_ESP_MARKER};
use super::sa::{Ctx, IkeSa, IkeState, Task, with_marker};
use crate::wire::{ExchangeType, Header};

/// Why an endpoint operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No such peer.
    #[error("unknown peer")]
    UnknownPeer,
    /// The peer is `%any`: we only answer it.
    #[error("peer has no fixed remote address")]
    NoRemoteAddress,
    /// No such IKE SA (or it is not established).
    #[error("unknown or unestablished IKE SA")]
    UnknownIkeSa,
    /// No such child SA.
    #[error("unknown child SA")]
    UnknownChildSa,
}

/// Everything but the IKE SAs, so an SA can be driven while the rest is borrowed.
pub(super) struct Core {
    pub config: EndpointConfig,
    pub rng: Box<dyn CryptoRngCore + Send>,
    pub peers: Vec<Option<PeerConfig>>,
    pub children: HashMap<u32, Child>,
    pub reserved_spis: HashSet<u32>,
    pub events: VecDeque<Event>,
    pub transmits: VecDeque<Transmit>,
    pub stats: Stats,
    pub next_id: u64,
}

/// What an SA asked of the endpoint while it ran.
#[derive(Default)]
pub(super) struct Effects {
    new_sas: Vec<IkeSa>,
    replace_others: Vec<(PeerId, IkeSaId)>,
    superseded: Vec<(IkeSaId, IkeSaId)>,
}

impl Core {
    fn ctx<'a>(&'a mut self, now: Instant, fx: &'a mut Effects) -> Ctx<'a> {
        Ctx {
            now,
            rng: &mut *self.rng,
            config: &self.config,
            peers: &self.peers,
            children: &mut self.children,
            reserved_spis: &mut self.reserved_spis,
            events: &mut self.events,
            transmits: &mut self.transmits,
            stats: &mut self.stats,
            new_sas: &mut fx.new_sas,
            next_id: &mut self.next_id,
            replace_others: &mut fx.replace_others,
            superseded: &mut fx.superseded,
        }
    }
}

/// A sans-IO IKEv2/ESP endpoint serving many peers.
pub struct Endpoint {
    pub(super) core: Core,
    pub(super) sas: HashMap<IkeSaId, IkeSa>,
    by_spi: HashMap<u64, IkeSaId>,
    /// Responder SAs by (initiator address, initiator SPI), so a repeated IKE_SA_INIT
    /// request reaches its SA instead of creating another.
    by_init: HashMap<(SocketAddr, u64), IkeSaId>,
    cookies: CookieSecrets,
    cookie_rotate_at: Instant,
    /// Per peer, the children that may carry outbound traffic with the addresses to use.
    pub(super) outbound: HashMap<PeerId, Vec<(u32, SocketAddr, SocketAddr)>>,
    /// Last responses of SAs that are gone (typically the answer to a Delete), so a
    /// retransmitted request still gets its answer: local SPI → tombstone.
    tombstones: HashMap<u64, Tombstone>,
    next_timeout: Option<Instant>,
}

struct Tombstone {
    until: Instant,
    msg_id: u32,
    transmit: Transmit,
}

/// How often the cookie secret changes.
const COOKIE_ROTATION: std::time::Duration = std::time::Duration::from_secs(120);

impl Endpoint {
    /// An endpoint with no peers; `rng` supplies every nonce, SPI and private value.
    pub fn new(
        config: EndpointConfig,
        mut rng: Box<dyn CryptoRngCore + Send>,
        now: Instant,
    ) -> Self {
        let mut current = [0u8; 32];
        rng.fill_bytes(&mut current);
        Self {
            core: Core {
                config,
                rng,
                peers: Vec::new(),
                children: HashMap::new(),
                reserved_spis: HashSet::new(),
                events: VecDeque::new(),
                transmits: VecDeque::new(),
                stats: Stats::default(),
                next_id: 0,
            },
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            by_init: HashMap::new(),
            cookies: CookieSecrets {
                version: 0,
                current,
                previous: current,
            },
            cookie_rotate_at: now + COOKIE_ROTATION,
            outbound: HashMap::new(),
            tombstones: HashMap::new(),
            next_timeout: Some(now + COOKIE_ROTATION),
        }
    }

    /// The endpoint-wide settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.core.config
    }

    /// Adds a peer; its handle stays valid until `remove_peer`.
    pub fn add_peer(&mut self, peer: PeerConfig) -> PeerId {
        self.core.peers.push(Some(peer));
        PeerId(self.core.peers.len() as u32 - 1)
    }

    /// Replaces a peer's settings; established SAs keep their negotiated parameters and
    /// pick up lifetimes and proposals at their next rekey.
    pub fn update_peer(&mut self, id: PeerId, peer: PeerConfig) -> Result<(), EndpointError> {
        let slot = self
            .core
            .peers
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(EndpointError::UnknownPeer)?;
        *slot = peer;
        Ok(())
    }

    /// The settings of a peer.
    pub fn peer(&self, id: PeerId) -> Option<&PeerConfig> {
        self.core.peers.get(id.0 as usize)?.as_ref()
    }

    /// Removes a peer: its SAs are deleted (one Delete sent, not retransmitted) at once.
    pub fn remove_peer(&mut self, now: Instant, id: PeerId) -> Result<(), EndpointError> {
        self.peer(id).ok_or(EndpointError::UnknownPeer)?;
        let ids: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| s.peer == Some(id))
            .map(|s| s.id)
            .collect();
        for sa in ids {
            self.with_sa(now, sa, |sa, ctx| {
                if sa.is_established() {
                    let del = crate::wire::Delete {
                        protocol: crate::wire::ProtocolId::Ike,
                        spis: Vec::new(),
                    };
                    sa.send_final(ctx, &[crate::wire::Payload::Delete(del)]);
                }
                sa.die(ctx, DownReason::DeletedLocally);
            });
        }
        self.core.peers[id.0 as usize] = None;
        Ok(())
    }

    /// Starts an IKE SA to a peer with a fixed address.
    pub fn initiate(&mut self, now: Instant, peer: PeerId) -> Result<IkeSaId, EndpointError> {
        let cfg = self.peer(peer).ok_or(EndpointError::UnknownPeer)?;
        let Remote::Address(addr) = cfg.remote else {
            return Err(EndpointError::NoRemoteAddress);
        };
        let remote = SocketAddr::new(addr, cfg.remote_port);
        let local = SocketAddr::new(self.core.config.local_ip, self.core.config.ike_port);
        let first = !self
            .sas
            .values()
            .any(|s| s.peer == Some(peer) && s.established.is_some());
        let mut fx = Effects::default();
        let mut sa = IkeSa::initiate(&mut self.core.ctx(now, &mut fx), peer, local, remote)
            .ok_or(EndpointError::UnknownPeer)?;
        sa.initial_contact = first;
        let id = sa.id;
        fx.new_sas.push(sa);
        self.settle(now, fx);
        Ok(id)
    }

    /// Rekeys a child SA (by our inbound SPI) now.
    pub fn rekey_child(&mut self, now: Instant, spi_in: u32) -> Result<(), EndpointError> {
        let ike = self
            .core
            .children
            .get(&spi_in)
            .ok_or(EndpointError::UnknownChildSa)?
            .ike;
        self.queue(now, ike, Task::RekeyChild(spi_in))
    }

    /// Rekeys an IKE SA now.
    pub fn rekey_ike(&mut self, now: Instant, ike: IkeSaId) -> Result<(), EndpointError> {
        self.queue(now, ike, Task::RekeyIke)
    }

    /// Deletes an IKE SA and its children (politely: the peer is told and answers).
    pub fn delete_ike(&mut self, now: Instant, ike: IkeSaId) -> Result<(), EndpointError> {
        self.queue(now, ike, Task::DeleteIke)
    }

    /// Deletes one child SA.
    pub fn delete_child(&mut self, now: Instant, spi_in: u32) -> Result<(), EndpointError> {
        let ike = self
            .core
            .children
            .get(&spi_in)
            .ok_or(EndpointError::UnknownChildSa)?
            .ike;
        self.queue(now, ike, Task::DeleteChild(spi_in))
    }

    pub(super) fn queue(
        &mut self,
        now: Instant,
        ike: IkeSaId,
        task: Task,
    ) -> Result<(), EndpointError> {
        if !self.sas.get(&ike).is_some_and(IkeSa::is_established) {
            return Err(EndpointError::UnknownIkeSa);
        }
        self.with_sa(now, ike, |sa, ctx| sa.queue(ctx, task));
        Ok(())
    }

    /// Handles one received UDP payload. `local` is the address it arrived on (its port
    /// tells plain IKE from NAT-T), `remote` where it came from. ESP is decrypted in place.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &mut [u8],
    ) -> Received {
        if local.port() != self.core.config.natt_port {
            return self.handle_ike(now, local, remote, datagram);
        }
        if datagram == KEEPALIVE {
            self.core.stats.keepalives_in += 1;
            return Received::Keepalive;
        }
        if datagram.len() < 4 {
            return self.core.stats.drop(DropReason::Truncated);
        }
        if datagram[..4] == NON_ESP_MARKER {
            return self.handle_ike(now, local, remote, &datagram[4..]);
        }
        self.handle_esp(now, remote, datagram)
    }

    fn handle_ike(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Received {
        let header = match Header::parse(bytes) {
            Ok(h) => h,
            Err(crate::wire::WireError::Truncated) => {
                return self.core.stats.drop(DropReason::Truncated);
            }
            Err(_) => return self.core.stats.drop(DropReason::Malformed),
        };
        if header.exchange == ExchangeType::IkeSaInit && !header.is_response() && header.spi_r == 0
        {
            if let Some(id) = self.by_init.get(&(remote, header.spi_i)).copied() {
                let r = self.with_sa(now, id, |sa, ctx| {
                    sa.handle(ctx, local, remote, header, bytes)
                });
                return r.unwrap_or(Received::Dropped(DropReason::UnknownIkeSpi));
            }
            let half_open = self
                .sas
                .values()
                .filter(|s| s.state == IkeState::InitReplied)
                .count();
            let need_cookie = half_open >= self.core.config.cookie_threshold;
            let mut fx = Effects::default();
            let cookies = need_cookie.then_some(&self.cookies);
            let result = respond_init(
                &mut self.core.ctx(now, &mut fx),
                local,
                remote,
                bytes,
                cookies,
            );
            return match result {
                Ok(sa) => {
                    self.by_init.insert((remote, header.spi_i), sa.id);
                    fx.new_sas.push(sa);
                    self.settle(now, fx);
                    Received::Ike
                }
                Err(r) => {
                    self.settle(now, fx);
                    r
                }
            };
        }
        if header.check_version().is_err() {
            return self.core.stats.drop(DropReason::BadVersion);
        }
        let ours = if header.is_initiator() {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(id) = self.by_spi.get(&ours).copied() else {
            if let Some(t) = self
                .tombstones
                .get(&ours)
                .filter(|t| !header.is_response() && t.msg_id == header.message_id)
            {
                self.core.stats.ike_out += 1;
                self.core.transmits.push_back(t.transmit.clone());
                return Received::Ike;
            }
            return self.core.stats.drop(DropReason::UnknownIkeSpi);
        };
        let r = self.with_sa(now, id, |sa, ctx| {
            sa.handle(ctx, local, remote, header, bytes)
        });
        r.unwrap_or(Received::Dropped(DropReason::UnknownIkeSpi))
    }

    /// Runs `f` on one SA with a context over the rest, then applies its effects.
    pub(super) fn with_sa<R>(
        &mut self,
        now: Instant,
        id: IkeSaId,
        f: impl FnOnce(&mut IkeSa, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let mut fx = Effects::default();
        let mut sa = self.sas.remove(&id)?;
        let r = f(&mut sa, &mut self.core.ctx(now, &mut fx));
        self.sas.insert(id, sa);
        self.settle(now, fx);
        Some(r)
    }

    /// Applies effects, drops dead SAs, refreshes indexes and the next timeout.
    fn settle(&mut self, now: Instant, mut fx: Effects) {
        loop {
            let new_sas = std::mem::take(&mut fx.new_sas);
            let replace = std::mem::take(&mut fx.replace_others);
            let superseded = std::mem::take(&mut fx.superseded);
            if new_sas.is_empty() && replace.is_empty() && superseded.is_empty() {
                break;
            }
            for mut sa in new_sas {
                self.by_spi.insert(sa.local_spi(), sa.id);
                sa.start_next_task(&mut self.core.ctx(now, &mut fx));
                self.sas.insert(sa.id, sa);
            }
            for (loser, winner) in superseded {
                if let Some(sa) = self.sas.get_mut(&loser) {
                    sa.successor = Some(winner);
                }
            }
            for (peer, keep) in replace {
                let old: Vec<IkeSaId> = self
                    .sas
                    .values()
                    .filter(|s| s.peer == Some(peer) && s.id != keep && s.established.is_some())
                    .map(|s| s.id)
                    .collect();
                for id in old {
                    if let Some(sa) = self.sas.get_mut(&id) {
                        sa.die(&mut self.core.ctx(now, &mut fx), DownReason::Replaced);
                    }
                }
            }
        }
        let dead: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| s.state == IkeState::Dead)
            .map(|s| s.id)
            .collect();
        let config = &self.core.config;
        let keep = config.retransmit_base * 2u32.saturating_pow(config.retransmit_tries + 1);
        for id in dead {
            let Some(sa) = self.sas.remove(&id) else {
                continue;
            };
            if self.by_spi.get(&sa.local_spi()) == Some(&id) {
                self.by_spi.remove(&sa.local_spi());
            }
            if let Some((msg_id, bytes)) = &sa.last_response {
                let transmit = Transmit {
                    src: sa.local,
                    dst: sa.remote,
                    bytes: with_marker(config, sa.local, bytes),
                };
                self.tombstones.insert(
                    sa.local_spi(),
                    Tombstone {
                        until: now + keep,
                        msg_id: *msg_id,
                        transmit,
                    },
                );
            }
        }
        let sas = &self.sas;
        self.by_init.retain(|_, id| sas.contains_key(id));
        self.rebuild_outbound();
        self.refresh_timeout();
    }

    pub(super) fn rebuild_outbound(&mut self) {
        self.outbound.clear();
        let mut spis: Vec<(&u32, &Child)> = self
            .core
            .children
            .iter()
            .filter(|(_, c)| c.outbound_active)
            .collect();
        // Newest first, so a rekeyed child takes over from the one it replaces.
        spis.sort_by(|a, b| b.1.installed.cmp(&a.1.installed).then(a.0.cmp(b.0)));
        let (ike_port, natt_port) = (self.core.config.ike_port, self.core.config.natt_port);
        for (spi, c) in spis {
            if let Some(sa) = self.sas.get(&c.ike) {
                // ESP always rides in UDP on the NAT-T ports (RFC 3948), even if IKE
                // stayed on 500.
                let src = SocketAddr::new(sa.local.ip(), natt_port);
                let dst = if sa.remote.port() == ike_port {
                    SocketAddr::new(sa.remote.ip(), natt_port)
                } else {
                    sa.remote
                };
                self.outbound
                    .entry(c.peer)
                    .or_default()
                    .push((*spi, src, dst));
            }
        }
    }

    fn refresh_timeout(&mut self) {
        let config = &self.core.config;
        let peers = &self.core.peers;
        let sa_t = self.sas.values().filter_map(|s| {
            let dpd = s.peer.and_then(|p| peers.get(p.0 as usize)?.as_ref()?.dpd);
            s.next_timeout(config, dpd)
        });
        let child_t = self
            .core
            .children
            .values()
            .map(|c| c.next_timeout(config.rekeyed_child_grace));
        self.next_timeout = sa_t.chain(child_t).chain([self.cookie_rotate_at]).min();
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.core.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// Number of IKE SAs in any state (half-open included).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Number of child SAs.
    pub fn child_sa_count(&self) -> usize {
        self.core.children.len()
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.cookie_rotate_at {
            self.cookies.previous = self.cookies.current;
            self.core.rng.fill_bytes(&mut self.cookies.current);
            self.cookies.version = self.cookies.version.wrapping_add(1);
            self.cookie_rotate_at = now + COOKIE_ROTATION;
        }
        self.tombstones.retain(|_, t| t.until > now);
        self.child_timers(now);
        let mut esp_seen: HashMap<IkeSaId, Instant> = HashMap::new();
        for c in self.core.children.values() {
            if let Some(t) = c.last_inbound {
                let e = esp_seen.entry(c.ike).or_insert(t);
                *e = (*e).max(t);
            }
        }
        let config = &self.core.config;
        let peers = &self.core.peers;
        let due: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| {
                let dpd = s.peer.and_then(|p| peers.get(p.0 as usize)?.as_ref()?.dpd);
                s.next_timeout(config, dpd).is_some_and(|t| t <= now)
            })
            .map(|s| s.id)
            .collect();
        for id in due {
            let seen = esp_seen.get(&id).copied();
            self.with_sa(now, id, |sa, ctx| sa.handle_timeout(ctx, seen));
        }
        self.refresh_timeout();
    }

    fn child_timers(&mut self, now: Instant) {
        let grace = self.core.config.rekeyed_child_grace;
        let mut work: Vec<(IkeSaId, u32, ChildAction)> = Vec::new();
        for (spi, c) in self.core.children.iter_mut() {
            if c.next_timeout(grace) > now {
                continue;
            }
            let action = if c.deleting {
                ChildAction::Remove
            } else if now >= c.expire_at || c.replaced.is_some_and(|(_, t)| now >= t + grace) {
                c.deleting = true;
                c.outbound_active = false;
                c.expire_at = now + grace;
                ChildAction::Delete
            } else {
                c.rekey_at = c.expire_at;
                ChildAction::Rekey
            };
            work.push((c.ike, *spi, action));
        }
        for (ike, spi, action) in work {
            let established = self.sas.get(&ike).is_some_and(IkeSa::is_established);
            let _ = match (action, established) {
                (ChildAction::Rekey, true) => {
                    self.with_sa(now, ike, |sa, ctx| sa.queue(ctx, Task::RekeyChild(spi)))
                }
                (ChildAction::Delete, true) => {
                    self.with_sa(now, ike, |sa, ctx| sa.queue(ctx, Task::DeleteChild(spi)))
                }
                (ChildAction::Rekey, false) => None,
                _ => {
                    if let Some(c) = self.core.children.remove(&spi) {
                        self.core.reserved_spis.remove(&spi);
                        self.core.events.push_back(Event::ChildSaDown {
                            peer: c.peer,
                            spi_in: spi,
                            reason: DownReason::Expired,
                        });
                    }
                    None
                }
            };
        }
    }
}

#[derive(Clone, Copy)]
enum ChildAction {
    Rekey,
    Delete,
    Remove,
}
