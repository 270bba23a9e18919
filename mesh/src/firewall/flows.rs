//! The flow table: one entry per connection, keyed by the five-tuple in a canonical order so
//! both directions find it with one probe. Entries expire after the timeouts of network-kdl.md
//! (TCP 2 h established, 30 s opening or closing; UDP and other protocols 120 s; ICMP echo
//! 30 s), follow TCP far enough to expire closed connections early, and are bounded: when full,
//! a new flow takes the place of an expired or not-yet-answered one, never of an established
//! two-way flow. Time is an argument; nothing here reads a clock.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use cvlan_core::policy::compiled::{Direction, RuleSlot};
use indexmap::IndexMap;

use super::headers::{ACK, FIN, Kind, RST, SYN, Tuple};

/// An established TCP connection lives this long without packets.
pub const TCP_ESTABLISHED: Duration = Duration::from_secs(2 * 60 * 60);
/// A TCP connection opening (SYN seen, no answer yet) or closing (FIN or RST seen).
pub const TCP_CLOSING: Duration = Duration::from_secs(30);
/// UDP, and protocols without ports.
pub const UDP: Duration = Duration::from_secs(120);
/// ICMP echo.
pub const ICMP: Duration = Duration::from_secs(30);

/// How often the background sweep runs, and how many entries it looks at: 2 % of the table
/// plus this many, so a whole pass takes about five seconds.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
const SWEEP_MIN: usize = 16;
/// Entries looked at to find a victim when the table is full.
const EVICTION_SAMPLE: usize = 16;

/// A five-tuple in canonical order: the (address, port) pair that sorts first is `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowKey {
    lo: u128,
    hi: u128,
    lo_port: u16,
    hi_port: u16,
    proto: u8,
    v6: bool,
}

fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl std::hash::Hash for FlowKey {
    /// Three words instead of six fields: the hash is on every packet's path.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.lo);
        state.write_u128(self.hi);
        state.write_u64(
            u64::from(self.lo_port) << 32
                | u64::from(self.hi_port) << 16
                | u64::from(self.proto) << 1
                | u64::from(self.v6),
        );
    }
}

impl FlowKey {
    /// The key of a tuple, and whether its source is the `lo` end.
    #[inline]
    pub(crate) fn of(t: &Tuple) -> (Self, bool) {
        let (s, d) = (addr_bits(t.src), addr_bits(t.dst));
        let src_lo = (s, t.sport) <= (d, t.dport);
        let (lo, hi, lo_port, hi_port) = if src_lo {
            (s, d, t.sport, t.dport)
        } else {
            (d, s, t.dport, t.sport)
        };
        let key = Self {
            lo,
            hi,
            lo_port,
            hi_port,
            proto: t.proto,
            v6: t.src.is_ipv6(),
        };
        (key, src_lo)
    }

    fn addr(&self, bits: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(bits))
        } else {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(bits).unwrap_or(0)))
        }
    }
}

/// Where a flow is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// TCP: the initiator's SYN seen, no answer yet.
    Opening,
    /// TCP: answered (or picked up mid-stream).
    Established,
    /// TCP: a FIN or RST seen.
    Closing,
    /// UDP or a protocol without ports.
    Datagram,
    /// ICMP echo.
    Echo,
}

impl State {
    fn initial(kind: Kind) -> Self {
        match kind {
            Kind::Tcp(f) if f & SYN != 0 && f & ACK == 0 => State::Opening,
            Kind::Tcp(f) if f & (FIN | RST) != 0 => State::Closing,
            Kind::Tcp(_) => State::Established,
            Kind::EchoRequest | Kind::EchoReply | Kind::IcmpError(_) | Kind::IcmpOther => {
                State::Echo
            }
            Kind::Udp | Kind::Other => State::Datagram,
        }
    }

    fn timeout(self) -> Duration {
        match self {
            State::Established => TCP_ESTABLISHED,
            State::Opening | State::Closing => TCP_CLOSING,
            State::Datagram => UDP,
            State::Echo => ICMP,
        }
    }
}

/// One tracked connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    expires: Instant,
    /// The rule that allowed it (its hit counter).
    pub rule: RuleSlot,
    /// Whether this node sent or received its first packet.
    pub opened: Direction,
    initiator_lo: bool,
    state: State,
    replied: bool,
}

impl Flow {
    /// The tuple of the packet that opened it, to re-decide it under a new policy.
    pub(crate) fn initiator(&self, key: &FlowKey) -> Tuple {
        let (src, dst, sport, dport) = if self.initiator_lo {
            (key.lo, key.hi, key.lo_port, key.hi_port)
        } else {
            (key.hi, key.lo, key.hi_port, key.lo_port)
        };
        Tuple {
            proto: key.proto,
            src: key.addr(src),
            dst: key.addr(dst),
            sport,
            dport,
        }
    }

    /// Flows that may make room for new ones: not answered yet, or a TCP connection opening or
    /// closing.
    fn evictable(&self) -> bool {
        !self.replied || matches!(self.state, State::Opening | State::Closing)
    }
}

/// What a packet found in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// It belongs to a live flow allowed by this rule.
    Hit(RuleSlot),
    /// No live flow (or a new TCP connection reusing a closing one's ports).
    Miss,
}

/// The bounded flow table.
#[derive(Debug)]
pub(crate) struct FlowTable {
    map: IndexMap<FlowKey, Flow, foldhash::fast::RandomState>,
    capacity: usize,
    sweep_at: usize,
    evict_at: usize,
    next_sweep: Option<Instant>,
    /// Flows removed to make room for new ones.
    pub evicted: u64,
    /// Flows removed because they timed out.
    pub expired: u64,
}

impl FlowTable {
    /// An empty table holding at most `capacity` flows (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: IndexMap::with_hasher(foldhash::fast::RandomState::default()),
            capacity: capacity.max(1),
            sweep_at: 0,
            evict_at: 0,
            next_sweep: None,
            evicted: 0,
            expired: 0,
        }
    }

    /// Live and not yet swept flows.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The bound.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Finds the flow of a packet and moves it along: refreshes its timeout, follows TCP
    /// flags, and notes an answer. `src_lo` comes from [`FlowKey::of`].
    #[inline]
    pub(crate) fn track(
        &mut self,
        now: Instant,
        key: &FlowKey,
        src_lo: bool,
        kind: Kind,
    ) -> Lookup {
        let Some((i, _, flow)) = self.map.get_full_mut(key) else {
            return Lookup::Miss;
        };
        if flow.expires <= now {
            self.map.swap_remove_index(i);
            self.expired += 1;
            return Lookup::Miss;
        }
        let forward = src_lo == flow.initiator_lo;
        if let Kind::Tcp(flags) = kind {
            if forward && flags & SYN != 0 && flags & ACK == 0 && flow.state == State::Closing {
                // A new connection on the ports of one that is closing: decided afresh.
                self.map.swap_remove_index(i);
                return Lookup::Miss;
            }
            if flags & (FIN | RST) != 0 {
                flow.state = State::Closing;
            } else if flow.state == State::Opening && !forward {
                flow.state = State::Established;
            }
        }
        flow.replied |= !forward;
        flow.expires = now + flow.state.timeout();
        Lookup::Hit(flow.rule)
    }

    /// The rule of the live flow an ICMP error is about, without refreshing it.
    pub(crate) fn related(&self, now: Instant, key: &FlowKey) -> Option<RuleSlot> {
        self.map
            .get(key)
            .filter(|f| f.expires > now)
            .map(|f| f.rule)
    }

    /// Starts a flow with the packet `kind` travelling `opened`, allowed by `rule`. False when
    /// the table is full of flows that may not be evicted.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        key: FlowKey,
        src_lo: bool,
        kind: Kind,
        opened: Direction,
        rule: RuleSlot,
    ) -> bool {
        if self.map.len() >= self.capacity && !self.make_room(now) {
            return false;
        }
        let state = State::initial(kind);
        self.map.insert(
            key,
            Flow {
                expires: now + state.timeout(),
                rule,
                opened,
                initiator_lo: src_lo,
                state,
                replied: false,
            },
        );
        true
    }

    /// Frees one entry: the first expired one among a sample, else the evictable one that
    /// would expire soonest. False when every sampled flow is established both ways.
    fn make_room(&mut self, now: Instant) -> bool {
        let n = self.map.len();
        let mut best: Option<(usize, Instant)> = None;
        for step in 0..EVICTION_SAMPLE.min(n) {
            let i = (self.evict_at + step) % n;
            let Some((_, f)) = self.map.get_index(i) else {
                continue;
            };
            if f.expires <= now {
                self.map.swap_remove_index(i);
                self.expired += 1;
                self.evict_at = i;
                return true;
            }
            if f.evictable() && best.is_none_or(|(_, e)| f.expires < e) {
                best = Some((i, f.expires));
            }
        }
        self.evict_at = (self.evict_at + EVICTION_SAMPLE) % n.max(1);
        match best {
            Some((i, _)) => {
                self.map.swap_remove_index(i);
                self.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Removes some expired flows, at most every 100 ms, so the table drains without traffic
    /// touching the dead entries.
    #[inline]
    pub(crate) fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_INTERVAL);
        let budget = self.map.len() / 50 + SWEEP_MIN;
        for _ in 0..budget {
            if self.map.is_empty() {
                return;
            }
            if self.sweep_at >= self.map.len() {
                self.sweep_at = 0;
            }
            match self.map.get_index(self.sweep_at) {
                Some((_, f)) if f.expires <= now => {
                    self.map.swap_remove_index(self.sweep_at);
                    self.expired += 1;
                }
                _ => self.sweep_at += 1,
            }
        }
    }

    /// Removes every expired flow now.
    pub(crate) fn expire(&mut self, now: Instant) {
        let before = self.map.len();
        self.map.retain(|_, f| f.expires > now);
        self.expired += (before - self.map.len()) as u64;
    }

    /// Keeps the flows for which `keep` returns true (it may change their rule).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&FlowKey, &mut Flow) -> bool) {
        self.map.retain(|k, f| keep(k, f));
        self.sweep_at = 0;
        self.evict_at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::headers::{TCP, UDP as UDP_PROTO};

    fn tuple(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        Tuple {
            proto,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport,
            dport,
        }
    }

    const A: &str = "100.64.0.1";
    const B: &str = "100.64.0.2";

    /// Sends a packet of `kind` from `t.src` to `t.dst` at `now`.
    fn send(table: &mut FlowTable, now: Instant, t: &Tuple, kind: Kind) -> Lookup {
        let (key, src_lo) = FlowKey::of(t);
        table.track(now, &key, src_lo, kind)
    }

    fn open(table: &mut FlowTable, now: Instant, t: &Tuple, kind: Kind) -> bool {
        let (key, src_lo) = FlowKey::of(t);
        table.insert(now, key, src_lo, kind, Direction::Outbound, 7)
    }

    fn reverse(t: &Tuple) -> Tuple {
        tuple(
            t.proto,
            &t.dst.to_string(),
            t.dport,
            &t.src.to_string(),
            t.sport,
        )
    }

    #[test]
    fn both_directions_find_one_flow_and_the_initiator_is_remembered() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(10);
        let out = tuple(TCP, B, 40000, A, 22);
        assert!(open(&mut table, t0, &out, Kind::Tcp(SYN)));
        assert_eq!(
            send(&mut table, t0, &reverse(&out), Kind::Tcp(SYN | ACK)),
            Lookup::Hit(7)
        );
        let (key, _) = FlowKey::of(&reverse(&out));
        let flow = table.map[&key];
        assert_eq!(flow.initiator(&key), out);
        assert_eq!(flow.state, State::Established);
        // Another source port is another flow.
        assert_eq!(
            send(&mut table, t0, &tuple(TCP, B, 40001, A, 22), Kind::Tcp(ACK)),
            Lookup::Miss
        );
    }

    #[test]
    fn timeouts_follow_the_spec_in_virtual_time() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(10);
        let tcp = tuple(TCP, A, 1000, B, 80);
        let udp = tuple(UDP_PROTO, A, 1000, B, 53);
        let echo = tuple(1, A, 9, B, 9);
        assert!(open(&mut table, t0, &tcp, Kind::Tcp(SYN)));
        assert!(open(&mut table, t0, &udp, Kind::Udp));
        assert!(open(&mut table, t0, &echo, Kind::EchoRequest));
        // An unanswered SYN is gone after 30 s; UDP and ICMP live on.
        let t = t0 + Duration::from_secs(29);
        assert_eq!(
            send(&mut table, t, &reverse(&echo), Kind::EchoReply),
            Lookup::Hit(7)
        );
        assert_eq!(
            send(
                &mut table,
                t0 + TCP_CLOSING,
                &reverse(&tcp),
                Kind::Tcp(SYN | ACK)
            ),
            Lookup::Miss
        );
        // UDP refreshes on every packet: 119 s idle is fine, 120 s is not.
        let t = t0 + Duration::from_secs(119);
        assert_eq!(
            send(&mut table, t, &reverse(&udp), Kind::Udp),
            Lookup::Hit(7)
        );
        assert_eq!(
            send(&mut table, t + Duration::from_secs(119), &udp, Kind::Udp),
            Lookup::Hit(7)
        );
        assert_eq!(
            send(&mut table, t + Duration::from_secs(239), &udp, Kind::Udp),
            Lookup::Miss
        );
        // The echo flow expired 30 s after its last packet (at 29 s).
        assert_eq!(
            send(
                &mut table,
                t0 + Duration::from_secs(59),
                &echo,
                Kind::EchoRequest
            ),
            Lookup::Miss
        );
        assert_eq!(table.expired, 3);
    }

    #[test]
    fn established_tcp_lasts_two_hours_and_closing_thirty_seconds() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(10);
        let c = tuple(TCP, A, 1000, B, 80);
        assert!(open(&mut table, t0, &c, Kind::Tcp(SYN)));
        assert_eq!(
            send(&mut table, t0, &reverse(&c), Kind::Tcp(SYN | ACK)),
            Lookup::Hit(7)
        );
        let idle = t0 + TCP_ESTABLISHED - Duration::from_secs(1);
        assert_eq!(send(&mut table, idle, &c, Kind::Tcp(ACK)), Lookup::Hit(7));
        assert_eq!(
            send(&mut table, idle + TCP_ESTABLISHED, &c, Kind::Tcp(ACK)),
            Lookup::Miss
        );

        let c = tuple(TCP, A, 1001, B, 80);
        assert!(open(&mut table, t0, &c, Kind::Tcp(SYN)));
        assert_eq!(
            send(&mut table, t0, &reverse(&c), Kind::Tcp(SYN | ACK)),
            Lookup::Hit(7)
        );
        assert_eq!(
            send(&mut table, t0, &c, Kind::Tcp(FIN | ACK)),
            Lookup::Hit(7)
        );
        let t = t0 + Duration::from_secs(29);
        assert_eq!(
            send(&mut table, t, &reverse(&c), Kind::Tcp(FIN | ACK)),
            Lookup::Hit(7)
        );
        assert_eq!(
            send(&mut table, t + TCP_CLOSING, &c, Kind::Tcp(ACK)),
            Lookup::Miss
        );

        // A new SYN on the ports of a closing connection is a new connection.
        let c = tuple(TCP, A, 1002, B, 80);
        assert!(open(&mut table, t0, &c, Kind::Tcp(SYN)));
        assert_eq!(
            send(&mut table, t0, &reverse(&c), Kind::Tcp(RST | ACK)),
            Lookup::Hit(7)
        );
        assert_eq!(send(&mut table, t0, &c, Kind::Tcp(SYN)), Lookup::Miss);
    }

    #[test]
    fn a_full_table_evicts_unanswered_flows_never_established_ones() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(4);
        let established: Vec<Tuple> = (0..2).map(|p| tuple(TCP, A, 2000 + p, B, 80)).collect();
        for c in &established {
            assert!(open(&mut table, t0, c, Kind::Tcp(SYN)));
            send(&mut table, t0, &reverse(c), Kind::Tcp(SYN | ACK));
        }
        // A flood of new flows churns through the two free places.
        for p in 0..100 {
            let t = t0 + Duration::from_millis(p.into());
            assert!(open(
                &mut table,
                t,
                &tuple(UDP_PROTO, A, p, B, 53),
                Kind::Udp
            ));
            assert_eq!(table.len(), 4.min(3 + usize::from(p)));
        }
        assert_eq!(table.evicted, 98);
        let t = t0 + Duration::from_secs(1);
        for c in &established {
            assert_eq!(send(&mut table, t, c, Kind::Tcp(ACK)), Lookup::Hit(7));
        }
        // Full of established flows: nothing may be evicted, the new flow is refused.
        let mut table = FlowTable::new(2);
        for c in &established {
            assert!(open(&mut table, t0, c, Kind::Tcp(SYN)));
            send(&mut table, t0, &reverse(c), Kind::Tcp(ACK));
        }
        assert!(!open(
            &mut table,
            t0,
            &tuple(UDP_PROTO, A, 1, B, 53),
            Kind::Udp
        ));
        // Once they time out, room is made.
        assert!(open(
            &mut table,
            t0 + TCP_ESTABLISHED,
            &tuple(UDP_PROTO, A, 1, B, 53),
            Kind::Udp
        ));
        assert_eq!(table.expired, 1);
    }

    #[test]
    fn the_sweep_drains_expired_flows_without_traffic() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(10_000);
        for p in 0..5000 {
            assert!(open(
                &mut table,
                t0,
                &tuple(UDP_PROTO, A, p, B, 53),
                Kind::Udp
            ));
        }
        table.sweep(t0);
        assert_eq!(table.len(), 5000);
        let mut t = t0 + UDP;
        let mut rounds = 0;
        while table.len() > 0 {
            table.sweep(t);
            t += SWEEP_INTERVAL;
            rounds += 1;
        }
        assert!(rounds <= 100, "{rounds} sweeps");
        assert_eq!(table.expired, 5000);
    }
}
