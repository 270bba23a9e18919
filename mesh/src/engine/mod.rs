//! The sans-IO WireGuard mesh engine: peers, cryptokey routing, filter, timers.
//!
//! Feed it packets from the TUN ([`Engine::handle_tun_packet`]), datagrams from the UDP socket
//! ([`Engine::handle_datagram`]) and the passing of time ([`Engine::handle_timeout`]); drain what
//! it wants done with [`Engine::poll_transmit`] (or [`Engine::drain_transmits`]),
//! [`Engine::poll_tun_packet`] and [`Engine::poll_event`]; sleep until [`Engine::poll_timeout`]. It owns no socket and reads no
//! clock of its own.
//!
//! # Time and boringtun
//! Every decision the engine makes (when to run WireGuard timers, persistent keepalives,
//! rate-limiter resets, handshake times in stats, drop-event sampling) uses the `now` passed in.
//! boringtun 0.7's `Tunn`, however, reads its own monotonic clock (`CLOCK_BOOTTIME`) inside
//! `update_timers`, the handshake (retransmission after 5 s, TAI64N timestamps, RTT), session
//! expiry (180 s / 540 s) and cookie rotation, and its `RateLimiter` only resets when a real
//! second has passed. The engine calls those at the instants its own clock says; under virtual
//! time, protocol timers inside boringtun therefore follow real time, which is why simulation
//! tests drive everything the engine decides but leave WireGuard's own timer constants alone.

mod inbound;
mod outbound;
mod output;
mod peer;
pub mod peers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{TunnResult, errors::WireGuardError};
use cvlan_netio::SendQueue;
use cvlan_types::PublicKey;

pub use cvlan_netio::Transmit;

use crate::PrivateKey;
use crate::event::{DropReason, Event};
use crate::filter::{PacketFilter, PassAll};
use crate::routing::{CryptokeyRoutes, PeerIdx};
use crate::stats::{EngineStats, PeerStats};
use output::Outputs;
use peer::Peer;

/// How often WireGuard timers run (boringtun's own device uses 250 ms).
const TIMER_TICK: Duration = Duration::from_millis(250);
/// A peer with no traffic either way for this long goes cold: its tunnel is dropped (its
/// counters stay) and the timers stop visiting it. Past WireGuard's reject-after time (180 s)
/// its session could not carry data anyway; the next packet pays one handshake.
pub const COLD_AFTER: Duration = Duration::from_secs(300);
/// How long the engine remembers which peers went cold, so [`Engine::peers_stats_since`]
/// finds the peers that changed among the warm and the recently cooled; an older `since`
/// costs a scan of every peer.
const COOLED_KEPT: Duration = Duration::from_secs(60);
/// How often the shared handshake rate limiter's count is reset.
const RATE_LIMIT_RESET: Duration = Duration::from_secs(1);
/// Handshake messages per second (each is counted twice: once by the engine before peer
/// lookup, once inside the peer's `Tunn`) before cookies are demanded.
const HANDSHAKE_RATE_LIMIT: u64 = 200;
/// How often at most the peers are searched by endpoint for a stale-session sender.
const STALE_SEARCH_INTERVAL: Duration = Duration::from_millis(100);
/// Scratch space: the largest UDP datagram plus WireGuard overhead.
const SCRATCH_LEN: usize = 65_536 + 64;

/// The WireGuard mesh state machine for one node.
pub struct Engine<F: PacketFilter = PassAll> {
    key: PrivateKey,
    public_key: PublicKey,
    rate_limiter: Arc<RateLimiter>,
    peers: HashMap<PeerIdx, Peer>,
    /// The peers the timers visit: those with a tunnel and those sending keepalives. At
    /// 100,000 configured peers the timers cost what the few active ones need.
    warm: HashSet<PeerIdx>,
    /// The peers that left `warm` in the last [`COOLED_KEPT`], oldest first, with when.
    cooled: VecDeque<(Instant, PeerIdx)>,
    by_key: HashMap<PublicKey, PeerIdx>,
    routes: CryptokeyRoutes,
    next_idx: PeerIdx,
    filter: F,
    out: Outputs,
    scratch: Vec<u8>,
    next_timers: Instant,
    next_rate_reset: Instant,
    /// The latest `now` the engine was given: what [`Engine::peers_stats_since`] answers as of.
    clock: Instant,
    /// When the peers were last searched by endpoint for an undecryptable data message.
    last_stale_search: Option<Instant>,
}

impl Engine<PassAll> {
    /// An engine with no peers and the default pass-all filter.
    pub fn new(key: PrivateKey, now: Instant) -> Self {
        Self::with_filter(key, PassAll, now)
    }
}

impl<F: PacketFilter> Engine<F> {
    /// An engine with no peers and the given packet filter.
    pub fn with_filter(key: PrivateKey, filter: F, now: Instant) -> Self {
        let public_key = key.public_key();
        Self {
            rate_limiter: new_rate_limiter(&public_key),
            key,
            public_key,
            peers: HashMap::new(),
            warm: HashSet::new(),
            cooled: VecDeque::new(),
            by_key: HashMap::new(),
            routes: CryptokeyRoutes::default(),
            next_idx: 1,
            filter,
            out: Outputs::default(),
            scratch: vec![0; SCRATCH_LEN],
            next_timers: now + TIMER_TICK,
            next_rate_reset: now + RATE_LIMIT_RESET,
            last_stale_search: None,
            clock: now,
        }
    }

    /// This node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The packet filter, e.g. to load a new policy into it.
    pub fn filter_mut(&mut self) -> &mut F {
        &mut self.filter
    }

    /// Runs whatever is due at `now`: WireGuard timers (rekey, retransmission, keepalives,
    /// expiry) and persistent keepalives of the warm peers, cooling the ones idle past
    /// [`COLD_AFTER`], and the rate limiter's reset.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        if now >= self.next_rate_reset {
            self.rate_limiter.reset_count();
            self.next_rate_reset = now + RATE_LIMIT_RESET;
        }
        if now < self.next_timers {
            return;
        }
        self.next_timers = now + TIMER_TICK;
        let idle_since = now.checked_sub(COLD_AFTER);
        let visit: Vec<PeerIdx> = self.warm.iter().copied().collect();
        for idx in visit {
            let Some(peer) = self.peers.get_mut(&idx) else {
                self.warm.remove(&idx);
                continue;
            };
            run_peer_timers(
                peer,
                now,
                &self.key,
                &self.rate_limiter,
                &mut self.warm,
                &mut self.scratch,
                &mut self.out,
            );
            if let Some(since) = idle_since {
                peer.cool_if_idle(now, since);
            }
            if !peer.is_warm() && !peer.keeps_alive() {
                self.warm.remove(&idx);
                self.cooled.push_back((now, idx));
            }
        }
        while let Some(&(at, _)) = self.cooled.front()
            && now.saturating_duration_since(at) > COOLED_KEPT
        {
            self.cooled.pop_front();
        }
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Instant {
        self.next_timers.min(self.next_rate_reset)
    }

    /// Appends the next UDP send to `buf`: one datagram, or up to `max_segments` datagrams of
    /// equal size to one destination (for UDP GSO). `None` when nothing is waiting.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>, max_segments: usize) -> Option<Transmit> {
        self.out.poll_transmit(buf, max_segments.max(1))
    }

    /// Moves every waiting UDP send to `queue` (without copying when it is empty), for a
    /// driver that sends from a queue of its own.
    pub fn drain_transmits(&mut self, queue: &mut SendQueue) {
        self.out.drain_transmits(queue);
    }

    /// Appends the next IP packet for the TUN to `buf` and returns its length.
    pub fn poll_tun_packet(&mut self, buf: &mut Vec<u8>) -> Option<usize> {
        self.out.poll_tun_packet(buf)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    /// One peer's counters and state.
    pub fn peer_stats(&self, key: &PublicKey) -> Option<PeerStats> {
        let idx = self.by_key.get(key)?;
        self.peers.get(idx).map(Peer::stats)
    }

    /// Every peer's counters and state, sorted by public key.
    pub fn peers_stats(&self) -> Vec<PeerStats> {
        sorted_stats(self.peers.values())
    }

    /// The warm peers' stats (every peer with a session: a connected peer is always among
    /// them), sorted by public key; costs the active peers only.
    pub fn warm_peers_stats(&self) -> Vec<PeerStats> {
        sorted_stats(self.warm.iter().filter_map(|idx| self.peers.get(idx)))
    }

    /// The latest time the engine was given (its clock).
    pub fn clock(&self) -> Instant {
        self.clock
    }

    /// The peers whose counters or state may have changed at or after `since` (an earlier
    /// [`Engine::clock`]), sorted by public key: what a live view needs, at the cost of the
    /// peers that moved rather than of every configured one. Peers added or reconfigured
    /// since are not included; a view learns of those from the peer set it applied.
    pub fn peers_stats_since(&self, since: Instant) -> Vec<PeerStats> {
        // A peer's stats change only while it is warm, and once more when it cools: within
        // the cooled list's memory those two sets hold every candidate; before it, all do.
        if self.clock.saturating_duration_since(since) >= COOLED_KEPT {
            return sorted_stats(self.peers.values().filter(|p| p.changed_since(since)));
        }
        let cooled = self.cooled.iter().filter(|(at, _)| *at >= since);
        let candidates: HashSet<PeerIdx> = self
            .warm
            .iter()
            .copied()
            .chain(cooled.map(|(_, idx)| *idx))
            .collect();
        sorted_stats(
            candidates
                .iter()
                .filter_map(|idx| self.peers.get(idx))
                .filter(|p| p.changed_since(since)),
        )
    }

    /// Engine-wide counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            public_key: self.public_key,
            peers: self.peers.len(),
            // Every peer with a tunnel is in `warm`: counting there costs the active ones only.
            warm_peers: self
                .warm
                .iter()
                .filter(|idx| self.peers.get(idx).is_some_and(Peer::is_warm))
                .count(),
            routes: self.routes.len(),
            drops: self.out.drops,
            events_lost: self.out.events_lost,
        }
    }
}

/// The stats of `peers`, sorted by public key (unique, so the in-place sort, which moves far
/// less than a stable one over 100,000 entries).
fn sorted_stats<'a>(peers: impl Iterator<Item = &'a Peer>) -> Vec<PeerStats> {
    let mut stats: Vec<PeerStats> = peers.map(Peer::stats).collect();
    stats.sort_unstable_by_key(|p| p.public_key);
    stats
}

/// One peer's timers: boringtun's, then our persistent keepalive.
fn run_peer_timers(
    peer: &mut Peer,
    now: Instant,
    key: &PrivateKey,
    rate_limiter: &Arc<RateLimiter>,
    warm: &mut HashSet<PeerIdx>,
    scratch: &mut [u8],
    out: &mut Outputs,
) {
    let result = match peer.existing_tunnel() {
        Some(tunn) => tunn.update_timers(scratch),
        None => TunnResult::Done,
    };
    match result {
        TunnResult::WriteToNetwork(datagram) => {
            if let Some(endpoint) = peer.endpoint {
                peer.note_sent(now, datagram);
                out.transmit_copy(endpoint, datagram);
            }
        }
        TunnResult::Err(WireGuardError::ConnectionExpired) if !peer.expired => {
            peer.expired = true;
            out.event(Event::HandshakeExpired { peer: peer.key() });
        }
        _ => {}
    }
    let Some(interval) = peer.config.persistent_keepalive.filter(|k| *k > 0) else {
        return;
    };
    let Some(endpoint) = peer.endpoint else {
        return;
    };
    let due = peer
        .last_sent
        .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(interval.into()));
    if !due {
        return;
    }
    // With no session this queues the keepalive and starts a handshake, as WireGuard does.
    let tunn = peer.tunnel(key, rate_limiter, warm);
    if let TunnResult::WriteToNetwork(datagram) = tunn.encapsulate(&[], scratch) {
        peer.note_sent(now, datagram);
        out.transmit_copy(endpoint, datagram);
    } else {
        peer.last_sent = Some(now);
    }
}

fn new_rate_limiter(public_key: &PublicKey) -> Arc<RateLimiter> {
    Arc::new(RateLimiter::new(
        &x25519_dalek::PublicKey::from(public_key.0),
        HANDSHAKE_RATE_LIMIT,
    ))
}

/// The drop reason for a boringtun error.
fn drop_reason(err: &WireGuardError) -> DropReason {
    match err {
        WireGuardError::DuplicateCounter
        | WireGuardError::InvalidCounter
        | WireGuardError::WrongTai64nTimestamp => DropReason::Replay,
        WireGuardError::NoCurrentSession | WireGuardError::ConnectionExpired => {
            DropReason::NoSession
        }
        WireGuardError::UnderLoad => DropReason::RateLimited,
        WireGuardError::WrongIndex => DropReason::UnknownPeer,
        _ => DropReason::BadPacket,
    }
}

/// Buffer size boringtun needs to encapsulate `len` bytes (len + 32, at least a handshake).
fn encapsulated_len(len: usize) -> usize {
    (len + 32).max(148)
}
