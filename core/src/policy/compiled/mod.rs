//! The compiled matcher: the policy rules of one node's netmap turned into lookup tables that
//! decide a packet with a few probes instead of a scan over every rule.
//!
//! A packet concerns the node at one end (its *local* address: the source of an outbound
//! packet, the destination of an inbound one) and a peer at the other (*remote*). For each
//! direction the node's own space (its addresses and routes) is cut into *pieces* on which
//! membership in every rule's local side is constant, so each piece has a fixed list of the
//! rules that can apply. For each piece, the remote address line maps every address to a
//! *decision function*: the first-match verdict of those rules over the service line
//! (protocol and port, [`crate::policy::service`]), stored as a handful of runs. Peers'
//! addresses are exact entries in a hash map; routed prefixes and gaps are intervals.
//! First-match order is kept inside each function, so the result is exactly the reference
//! evaluator's ([`crate::policy::PolicyIndex::evaluate`]) for every packet between the node and
//! a peer; the agreement is a property test over random networks.
//!
//! Addresses outside the node's space, or outside every peer's allowed IPs, get
//! [`Outcome::NotLocal`] and [`Outcome::NoPeer`]: the mesh never carries such packets
//! legitimately, so the filter drops them and counts them apart from the policy's verdicts.

mod build;
mod line;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::netmap::{NetMap, ResolvedRule, RuleAction};
use crate::policy::index::{Decision, Packet};
use crate::policy::service::service_point;
use cvlan_schema::model::Verdict;
use line::Line;

/// The service-line point of IP protocols other than TCP, UDP and ICMP (GRE, ESP, SCTP, …).
/// Only rules that match every service (`proto="any"` without ports) match it.
pub const OTHER_PROTOCOLS: u32 = 131_073;

/// The service-line point of a packet: its transport protocol number (6 TCP, 17 UDP,
/// 1 ICMP, 58 ICMPv6, anything else "other") and destination port (ignored without ports).
pub fn packet_service(protocol: u8, dst_port: u16) -> u32 {
    use cvlan_schema::model::TestPort;
    match protocol {
        6 => service_point(TestPort::Tcp(dst_port)),
        17 => service_point(TestPort::Udp(dst_port)),
        1 | 58 => service_point(TestPort::Icmp),
        _ => OTHER_PROTOCOLS,
    }
}

/// Which way a packet travels, seen from the node enforcing the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by this node (source local, destination a peer).
    Outbound,
    /// Received by this node (source a peer, destination local).
    Inbound,
}

impl Direction {
    /// `0` for outbound, `1` for inbound: an index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::Outbound => 0,
            Direction::Inbound => 1,
        }
    }
}

/// A position in [`CompiledPolicy::rules`].
pub type RuleSlot = u32;

/// What the compiled policy says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An allow rule matched first.
    Allow(RuleSlot),
    /// A deny rule matched first.
    Deny(RuleSlot),
    /// No rule matched: the default deny.
    DefaultDeny,
    /// The local end (source of an outbound packet, destination of an inbound one) is not one
    /// of this node's addresses or routed prefixes.
    NotLocal,
    /// The remote end is in no peer's allowed IPs.
    NoPeer,
}

impl Outcome {
    /// True for [`Outcome::Allow`].
    pub fn is_allow(self) -> bool {
        matches!(self, Outcome::Allow(_))
    }
}

/// One rule of the compiled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    /// The rule's name (its hit counter's key).
    pub name: String,
    /// Its position in the network's policy.
    pub index: usize,
    /// Allow or deny.
    pub action: RuleAction,
}

/// Decision codes inside a function: `slot * 2 + allow`, or one of these.
const CODE_DEFAULT_DENY: u32 = u32::MAX;
const CODE_NO_PEER: u32 = u32::MAX - 1;
/// The value of a local line outside the node's space.
const NOT_LOCAL: u32 = u32::MAX;
/// Function 0 answers "no peer" for every service.
const FUNC_NO_PEER: u32 = 0;

/// Decision functions over the service line, each a few `(first point, code)` runs.
#[derive(Debug, Clone, Default)]
struct Funcs {
    offsets: Vec<u32>,
    runs: Vec<(u32, u32)>,
}

impl Funcs {
    #[inline]
    fn code(&self, func: u32, service: u32) -> u32 {
        let f = func as usize;
        let (a, b) = (self.offsets[f] as usize, self.offsets[f + 1] as usize);
        let runs = &self.runs[a..b];
        let i = runs.partition_point(|r| r.0 <= service);
        runs[i.saturating_sub(1)].1
    }
}

/// One direction: the local line to pieces, and per piece the remote line to functions.
#[derive(Debug, Clone)]
struct Side {
    local4: Line<u32>,
    local6: Line<u128>,
    /// Remote lines of the IPv4 pieces, by the piece ids of `local4`.
    remote4: Vec<Line<u32>>,
    /// Remote lines of the IPv6 pieces, by the piece ids of `local6`.
    remote6: Vec<Line<u128>>,
}

/// A node's policy compiled for per-packet decisions; immutable, cheap to share.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    rules: Vec<CompiledRule>,
    sides: [Side; 2],
    funcs: Funcs,
}

/// Sizes of a compiled policy, for logs and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompiledStats {
    /// Rules compiled.
    pub rules: usize,
    /// Local pieces, both directions.
    pub pieces: usize,
    /// Exact (single-address) entries over every remote line.
    pub exact: usize,
    /// Intervals over every remote line.
    pub intervals: usize,
    /// Distinct decision functions.
    pub functions: usize,
}

impl CompiledPolicy {
    /// Compiles the rules of a netmap for its node: local space is the node's allowed IPs
    /// (addresses and routes), remote space the peers' allowed IPs.
    pub fn from_netmap(map: &NetMap) -> Self {
        let peers: Vec<IpNet> = map
            .peers
            .iter()
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();
        Self::new(&map.rules, &map.node.allowed_ips, &peers)
    }

    /// Compiles `rules` (first-match order is their `index` order) for a node whose own
    /// space is `local` and whose peers' allowed IPs are `peers`.
    pub fn new(rules: &[ResolvedRule], local: &[IpNet], peers: &[IpNet]) -> Self {
        build::compile(rules, local, peers)
    }

    /// The compiled rules, in first-match order; [`RuleSlot`]s index this.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Decides a packet travelling in `direction` from `src` to `dst` with the service-line
    /// point `service` (see [`packet_service`]).
    #[inline]
    pub fn decide(&self, direction: Direction, src: IpAddr, dst: IpAddr, service: u32) -> Outcome {
        let side = &self.sides[direction.index()];
        let (local, remote) = match direction {
            Direction::Outbound => (src, dst),
            Direction::Inbound => (dst, src),
        };
        let func = match (local, remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                let piece = side.local4.get(u32::from(l));
                if piece == NOT_LOCAL {
                    return Outcome::NotLocal;
                }
                side.remote4[piece as usize].get(u32::from(r))
            }
            (IpAddr::V6(l), IpAddr::V6(r)) => {
                let piece = side.local6.get(u128::from(l));
                if piece == NOT_LOCAL {
                    return Outcome::NotLocal;
                }
                side.remote6[piece as usize].get(u128::from(r))
            }
            // Mixed families: no such packet; nothing to decide between.
            _ => return Outcome::NoPeer,
        };
        match self.funcs.code(func, service) {
            CODE_DEFAULT_DENY => Outcome::DefaultDeny,
            CODE_NO_PEER => Outcome::NoPeer,
            code if code & 1 == 1 => Outcome::Allow(code >> 1),
            code => Outcome::Deny(code >> 1),
        }
    }

    /// Decides a policy-test packet: outbound when its source is local, else inbound.
    pub fn evaluate(&self, packet: &Packet) -> Outcome {
        let service = service_point(packet.port);
        match self.decide(Direction::Outbound, packet.src, packet.dst, service) {
            Outcome::NotLocal => self.decide(Direction::Inbound, packet.src, packet.dst, service),
            outcome => outcome,
        }
    }

    /// The reference evaluator's form of an outcome (rule index in the network's policy);
    /// `None` for [`Outcome::NotLocal`] and [`Outcome::NoPeer`].
    pub fn decision(&self, outcome: Outcome) -> Option<Decision> {
        let rule = |slot: RuleSlot| self.rules.get(slot as usize).map(|r| r.index);
        match outcome {
            Outcome::Allow(slot) => Some(Decision {
                verdict: Verdict::Accept,
                rule: rule(slot),
            }),
            Outcome::Deny(slot) => Some(Decision {
                verdict: Verdict::Reject,
                rule: rule(slot),
            }),
            Outcome::DefaultDeny => Some(Decision {
                verdict: Verdict::Reject,
                rule: None,
            }),
            Outcome::NotLocal | Outcome::NoPeer => None,
        }
    }

    /// Sizes of the tables.
    pub fn stats(&self) -> CompiledStats {
        let mut stats = CompiledStats {
            rules: self.rules.len(),
            functions: self.funcs.offsets.len().saturating_sub(1),
            ..CompiledStats::default()
        };
        for side in &self.sides {
            stats.pieces += side.remote4.len() + side.remote6.len();
            let lines4 = side.remote4.iter().map(Line::size);
            let lines6 = side.remote6.iter().map(Line::size);
            for (exact, intervals) in lines4.chain(lines6) {
                stats.exact += exact;
                stats.intervals += intervals;
            }
        }
        stats
    }
}

impl Default for CompiledPolicy {
    /// No rules, no local space, no peers: every packet is [`Outcome::NotLocal`].
    fn default() -> Self {
        Self::new(&[], &[], &[])
    }
}
