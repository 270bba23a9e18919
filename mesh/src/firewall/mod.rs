//! The stateful policy filter: network-kdl.md's policy enforced on every packet in both
//! directions (outbound on the sender, inbound on the receiver).
//!
//! A packet that belongs to a live flow passes without a rule and counts against the rule
//! that allowed the flow; an ICMP error about a live flow passes the same way. Any other
//! packet is decided by the node's [`CompiledPolicy`]: allowed packets open a flow (except TCP
//! resets, echo replies and ICMP errors, which pass statelessly), denied ones count against
//! the deciding deny rule or `default-deny` and are dropped, a denied TCP SYN or UDP packet
//! answered with ICMP "administratively prohibited" when that is on (rate-limited).
//! Packets the filter cannot read (malformed headers, stray or overlapping fragments), whose
//! local address is not the node's, or whose remote address belongs to no peer, are dropped
//! and counted in [`FilterDrops`]. A new policy ([`PolicyFilter::set_policy`]) keeps the flows
//! it still allows and closes the others, so their next packet meets the new rules.
//!
//! Time comes in with every packet; nothing here reads a clock.

mod flows;
mod fragments;
mod headers;
mod hits;
mod icmp;

use std::sync::Arc;
use std::time::Instant;

use cvlan_core::policy::compiled::{CompiledPolicy, Direction, Outcome, packet_service};
use cvlan_types::PublicKey;

use crate::filter::{PacketFilter, Verdict};
use crate::packet::IpPacket;
use flows::{FlowKey, FlowTable, Lookup};
pub use flows::{ICMP as ICMP_TIMEOUT, TCP_CLOSING, TCP_ESTABLISHED, UDP as UDP_TIMEOUT};
use fragments::Fragments;
use headers::{ACK, HeaderError, Headers, Kind, Parsed, RST, SYN};
pub use hits::{Counter, RuleHits};
use icmp::RateLimit;

/// How the filter is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterConfig {
    /// Flows tracked at most; past it, new flows replace unanswered ones or are refused.
    pub max_flows: usize,
    /// Answer denied TCP SYNs and UDP packets with ICMP "administratively prohibited"
    /// (cvland.kdl `icmp-prohibited`).
    pub icmp_prohibited: bool,
    /// Such answers per second at most (bursts of as many).
    pub icmp_per_second: u32,
}

impl Default for FilterConfig {
    /// 65,536 flows; ICMP answers on, at most 100 per second.
    fn default() -> Self {
        Self {
            max_flows: 65_536,
            icmp_prohibited: true,
            icmp_per_second: 100,
        }
    }
}

/// Packets the filter dropped outside the policy's verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterDrops {
    /// Transport or IPv6 extension headers cut short or malformed.
    pub malformed: u64,
    /// Later fragments of packets whose first fragment was not accepted, and fragments that
    /// would overlap a transport header.
    pub fragments: u64,
    /// The local address (source outbound, destination inbound) is not this node's.
    pub not_local: u64,
    /// The remote address belongs to no peer.
    pub no_peer: u64,
    /// An allowed packet could not open a flow: the table is full of established flows.
    pub table_full: u64,
}

/// The filter's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Flows in the table.
    pub flows: usize,
    /// The table's bound.
    pub max_flows: usize,
    /// Flows evicted to make room.
    pub evicted: u64,
    /// Flows that timed out.
    pub expired: u64,
    /// Drops outside the policy.
    pub drops: FilterDrops,
    /// ICMP "administratively prohibited" answers sent.
    pub icmp_sent: u64,
    /// Answers not sent because of the rate limit.
    pub icmp_rate_limited: u64,
}

/// What a policy change did to the live flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicySwap {
    /// Flows the new policy still allows (kept untouched).
    pub kept: usize,
    /// Flows it no longer allows (closed: their next packet is decided afresh).
    pub closed: usize,
}

/// The stateful policy filter of one node; plug it into the mesh engine.
#[derive(Debug)]
pub struct PolicyFilter {
    policy: Arc<CompiledPolicy>,
    flows: FlowTable,
    fragments: Fragments,
    hits: hits::Hits,
    drops: FilterDrops,
    icmp: RateLimit,
    icmp_prohibited: bool,
    icmp_sent: u64,
    icmp_rate_limited: u64,
}

/// What became of a packet before counting.
enum Admission {
    /// Accepted; count against this hit slot.
    Pass(usize),
    /// Denied by this hit slot (a deny rule or the default deny).
    Denied(usize),
    /// Dropped outside the policy (already counted).
    Dropped,
}

impl PolicyFilter {
    /// A filter with an empty policy (every packet is dropped as not local) until
    /// [`PolicyFilter::set_policy`].
    pub fn new(config: FilterConfig) -> Self {
        Self {
            policy: Arc::new(CompiledPolicy::default()),
            flows: FlowTable::new(config.max_flows),
            fragments: Fragments::default(),
            hits: hits::Hits::new(0),
            drops: FilterDrops::default(),
            icmp: RateLimit::new(config.icmp_per_second),
            icmp_prohibited: config.icmp_prohibited,
            icmp_sent: 0,
            icmp_rate_limited: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<CompiledPolicy> {
        &self.policy
    }

    /// Puts a new policy in force at once: flows it still allows carry on (counted against
    /// the rule that allows them now), the others are closed; hit counters of rules that keep
    /// their name carry over.
    pub fn set_policy(&mut self, policy: Arc<CompiledPolicy>) -> PolicySwap {
        self.hits = self.hits.carry_over(self.policy.rules(), policy.rules());
        let mut swap = PolicySwap::default();
        self.flows.retain(|key, flow| {
            let t = flow.initiator(key);
            let service = packet_service(t.proto, t.dport);
            if let Outcome::Allow(slot) = policy.decide(flow.opened, t.src, t.dst, service) {
                flow.rule = slot;
                swap.kept += 1;
                true
            } else {
                swap.closed += 1;
                false
            }
        });
        self.fragments.clear();
        self.policy = policy;
        swap
    }

    /// Turns the ICMP answers to denied connections on or off.
    pub fn set_icmp_prohibited(&mut self, on: bool) {
        self.icmp_prohibited = on;
    }

    /// The hit counters: every rule of the policy in order, then `default-deny`.
    pub fn hits(&self) -> Vec<RuleHits> {
        self.hits.snapshot(self.policy.rules())
    }

    /// The filter's own counters.
    pub fn stats(&self) -> FilterStats {
        FilterStats {
            flows: self.flows.len(),
            max_flows: self.flows.capacity(),
            evicted: self.flows.evicted,
            expired: self.flows.expired,
            drops: self.drops,
            icmp_sent: self.icmp_sent,
            icmp_rate_limited: self.icmp_rate_limited,
        }
    }

    /// Removes every flow that has timed out by `now`.
    pub fn expire(&mut self, now: Instant) {
        self.flows.expire(now);
    }

    /// Decides one packet travelling `direction`.
    pub fn check(&mut self, now: Instant, direction: Direction, ip: &IpPacket<'_>) -> Verdict {
        self.flows.sweep(now);
        let bytes = ip.bytes().len() as u64;
        let h = match headers::parse(ip) {
            Ok(Parsed::Whole(h)) => h,
            Ok(Parsed::Later { key, last }) => {
                let Some(slot) = self.fragments.later(now, &key, last) else {
                    self.drops.fragments += 1;
                    return Verdict::Drop;
                };
                self.hits.add(slot, direction, bytes);
                return Verdict::Accept;
            }
            Err(HeaderError::FragmentOverlap) => {
                self.drops.fragments += 1;
                return Verdict::Drop;
            }
            Err(HeaderError::Truncated | HeaderError::Extensions) => {
                self.drops.malformed += 1;
                return Verdict::Drop;
            }
        };
        match self.admit(now, direction, &h) {
            Admission::Pass(slot) => {
                self.hits.add(slot, direction, bytes);
                if let Some(key) = h.fragment_key() {
                    self.fragments.accept(now, key, slot);
                }
                Verdict::Accept
            }
            Admission::Denied(slot) => {
                self.hits.add(slot, direction, bytes);
                self.refuse(now, ip, &h)
            }
            Admission::Dropped => Verdict::Drop,
        }
    }

    /// Flow first, then policy.
    #[inline]
    fn admit(&mut self, now: Instant, direction: Direction, h: &Headers) -> Admission {
        let (key, src_lo) = FlowKey::of(&h.tuple);
        match h.kind {
            Kind::IcmpError(quoted) => {
                if let Some(rule) = self.flows.related(now, &FlowKey::of(&quoted).0) {
                    return Admission::Pass(rule as usize);
                }
            }
            Kind::IcmpOther => {}
            _ => {
                if let Lookup::Hit(rule) = self.flows.track(now, &key, src_lo, h.kind) {
                    return Admission::Pass(rule as usize);
                }
            }
        }
        let t = &h.tuple;
        match self
            .policy
            .decide(direction, t.src, t.dst, packet_service(t.proto, t.dport))
        {
            Outcome::Allow(slot) => {
                let opens = match h.kind {
                    Kind::Tcp(flags) => flags & RST == 0,
                    Kind::Udp | Kind::EchoRequest | Kind::Other => true,
                    Kind::EchoReply | Kind::IcmpError(_) | Kind::IcmpOther => false,
                };
                if opens && !self.flows.insert(now, key, src_lo, h.kind, direction, slot) {
                    self.drops.table_full += 1;
                    return Admission::Dropped;
                }
                Admission::Pass(slot as usize)
            }
            Outcome::Deny(slot) => Admission::Denied(slot as usize),
            Outcome::DefaultDeny => Admission::Denied(self.hits.default_deny()),
            Outcome::NotLocal => {
                self.drops.not_local += 1;
                Admission::Dropped
            }
            Outcome::NoPeer => {
                self.drops.no_peer += 1;
                Admission::Dropped
            }
        }
    }

    /// A denied packet: an ICMP answer for a connection attempt (TCP SYN, UDP) when on and
    /// within the rate, else a silent drop.
    fn refuse(&mut self, now: Instant, ip: &IpPacket<'_>, h: &Headers) -> Verdict {
        let attempt = match h.kind {
            Kind::Tcp(flags) => flags & SYN != 0 && flags & ACK == 0,
            Kind::Udp => true,
            _ => false,
        };
        if !(self.icmp_prohibited && attempt) {
            return Verdict::Drop;
        }
        if !self.icmp.take(now) {
            self.icmp_rate_limited += 1;
            return Verdict::Drop;
        }
        match icmp::prohibited(ip) {
            Some(reply) => {
                self.icmp_sent += 1;
                Verdict::Reject(reply)
            }
            None => Verdict::Drop,
        }
    }
}

impl PacketFilter for PolicyFilter {
    fn outbound(&mut self, now: Instant, _peer: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        self.check(now, Direction::Outbound, packet)
    }

    fn inbound(&mut self, now: Instant, _peer: &PublicKey, packet: &IpPacket<'_>) -> Verdict {
        self.check(now, Direction::Inbound, packet)
    }
}

#[cfg(test)]
mod tests;
