//! Building a [`CompiledPolicy`]: service pieces, local pieces, and one remote line per piece.
//!
//! The work is linear in the netmap's size (every prefix of every rule is read once per
//! direction) plus one first-match pass per distinct set of rules an address can meet, which
//! is what keeps a 100,000-peer netmap with thousands of rules compilable in about a second.

use ipnet::IpNet;

use super::line::{Family, Line};
use super::{
    CODE_DEFAULT_DENY, CODE_NO_PEER, CompiledPolicy, CompiledRule, FUNC_NO_PEER, Funcs, NOT_LOCAL,
    OTHER_PROTOCOLS, Side,
};
use crate::FastMap;
use crate::addrset::Ranges;
use crate::netmap::{ResolvedRule, RuleAction};
use crate::policy::service::{all_services, ranges_services};

/// Which side of a rule is local in a direction: `from` outbound, `to` inbound.
type SideOf = fn(&ResolvedRule) -> &[IpNet];

fn from_side(r: &ResolvedRule) -> &[IpNet] {
    &r.from
}

fn to_side(r: &ResolvedRule) -> &[IpNet] {
    &r.to
}

/// Compiles `rules` for a node with space `local` and peers' allowed IPs `peers`.
pub(super) fn compile(rules: &[ResolvedRule], local: &[IpNet], peers: &[IpNet]) -> CompiledPolicy {
    let mut order: Vec<&ResolvedRule> = rules.iter().collect();
    order.sort_by_key(|r| r.index);
    let services = ServicePieces::new(&order);
    let mut funcs = FuncBuilder::new(&services);
    let peers4 = PeerSpace::<u32>::new(peers);
    let peers6 = PeerSpace::<u128>::new(peers);
    let mut side = |local_side: SideOf, remote_side: SideOf| {
        let ctx = SideInput {
            rules: &order,
            remote_side,
        };
        let (local4, pieces4) = local_pieces::<u32>(&order, local_side, local);
        let (local6, pieces6) = local_pieces::<u128>(&order, local_side, local);
        Side {
            local4,
            local6,
            remote4: pieces4
                .iter()
                .map(|m| remote_line(&ctx, m, &peers4, &mut funcs))
                .collect(),
            remote6: pieces6
                .iter()
                .map(|m| remote_line(&ctx, m, &peers6, &mut funcs))
                .collect(),
        }
    };
    let outbound = side(from_side, to_side);
    let inbound = side(to_side, from_side);
    CompiledPolicy {
        rules: order
            .iter()
            .map(|r| CompiledRule {
                name: r.name.clone(),
                index: r.index,
                action: r.action,
            })
            .collect(),
        sides: [outbound, inbound],
        funcs: funcs.funcs,
    }
}

/// The service line cut where any rule's services start or end, and each rule's pieces as bits.
struct ServicePieces {
    /// First point of each piece, ascending from 0.
    starts: Vec<u32>,
    /// Per rule (in first-match order), the pieces it matches.
    rule_bits: Vec<Vec<u64>>,
    /// Every piece.
    all: Vec<u64>,
}

impl ServicePieces {
    fn new(rules: &[&ResolvedRule]) -> Self {
        let everything = all_services();
        let sets: Vec<Ranges<u32>> = rules
            .iter()
            .map(|r| {
                let set = ranges_services(&r.services);
                if everything.is_subset(&set) {
                    set.union(&Ranges::range(OTHER_PROTOCOLS, OTHER_PROTOCOLS))
                } else {
                    set
                }
            })
            .collect();
        let mut starts = vec![0];
        for set in &sets {
            set.boundaries_within(0, OTHER_PROTOCOLS, &mut starts);
        }
        starts.sort_unstable();
        starts.dedup();
        let words = starts.len().div_ceil(64);
        let bits_of = |member: &dyn Fn(u32) -> bool| {
            let mut bits = vec![0u64; words];
            for (i, &p) in starts.iter().enumerate() {
                if member(p) {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            bits
        };
        let rule_bits = sets.iter().map(|s| bits_of(&|p| s.contains(p))).collect();
        let all = bits_of(&|_| true);
        Self {
            starts,
            rule_bits,
            all,
        }
    }
}

/// Interns decision functions and computes them from sets of candidate rules.
struct FuncBuilder<'s> {
    services: &'s ServicePieces,
    funcs: Funcs,
    ids: FastMap<Vec<(u32, u32)>, u32>,
    codes: Vec<u32>,
    remaining: Vec<u64>,
}

impl<'s> FuncBuilder<'s> {
    fn new(services: &'s ServicePieces) -> Self {
        let mut builder = Self {
            services,
            funcs: Funcs {
                offsets: vec![0],
                runs: Vec::new(),
            },
            ids: FastMap::default(),
            codes: vec![CODE_DEFAULT_DENY; services.starts.len()],
            remaining: services.all.clone(),
        };
        let no_peer = builder.intern(vec![(0, CODE_NO_PEER)]);
        debug_assert_eq!(no_peer, FUNC_NO_PEER);
        builder
    }

    fn intern(&mut self, runs: Vec<(u32, u32)>) -> u32 {
        if let Some(&id) = self.ids.get(&runs) {
            return id;
        }
        let id = u32::try_from(self.funcs.offsets.len() - 1).unwrap_or(u32::MAX);
        self.funcs.runs.extend_from_slice(&runs);
        let end = u32::try_from(self.funcs.runs.len()).unwrap_or(u32::MAX);
        self.funcs.offsets.push(end);
        self.ids.insert(runs, id);
        id
    }

    /// The first-match function of the rules `members[k]` for every bit `k` set in `active`.
    fn first_match(&mut self, active: &[u64], members: &[u32], rules: &[&ResolvedRule]) -> u32 {
        self.codes.fill(CODE_DEFAULT_DENY);
        self.remaining.copy_from_slice(&self.services.all);
        'rules: for (word_index, &word) in active.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let k = word_index * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                let slot = members[k];
                let allow = u32::from(rules[slot as usize].action == RuleAction::Allow);
                let code = (slot << 1) | allow;
                let mut left = 0u64;
                for (w, (rem, bits)) in self
                    .remaining
                    .iter_mut()
                    .zip(&self.services.rule_bits[slot as usize])
                    .enumerate()
                {
                    let mut claim = *rem & bits;
                    *rem &= !claim;
                    left |= *rem;
                    while claim != 0 {
                        self.codes[w * 64 + claim.trailing_zeros() as usize] = code;
                        claim &= claim - 1;
                    }
                }
                if left == 0 {
                    break 'rules;
                }
            }
        }
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for (&start, &code) in self.services.starts.iter().zip(&self.codes) {
            if runs.last().is_none_or(|r| r.1 != code) {
                runs.push((start, code));
            }
        }
        self.intern(runs)
    }
}

/// What every remote line of one direction reads.
struct SideInput<'r, 'a> {
    rules: &'r [&'a ResolvedRule],
    remote_side: SideOf,
}

/// Peers' allowed IPs of one family: single addresses, and wider prefixes.
struct PeerSpace<T: Family> {
    hosts: FastMap<T, ()>,
    wide: Ranges<T>,
}

impl<T: Family> PeerSpace<T> {
    fn new(peers: &[IpNet]) -> Self {
        let mut hosts = FastMap::default();
        let mut wide = Vec::new();
        for (a, b) in peers.iter().filter_map(T::bounds) {
            if a == b {
                hosts.insert(a, ());
            } else {
                wide.push((a, b));
            }
        }
        Self {
            hosts,
            wide: Ranges::from_ranges(wide),
        }
    }
}

/// The node's space of one family cut into pieces of constant local-side membership: the
/// local line (point to piece id, or [`NOT_LOCAL`]) and each piece's rules (slots, ascending).
fn local_pieces<T: Family>(
    rules: &[&ResolvedRule],
    local_side: SideOf,
    local: &[IpNet],
) -> (Line<T>, Vec<Vec<u32>>) {
    let space = Ranges::from_ranges(local.iter().filter_map(T::bounds));
    if space.is_empty() {
        return (Line::constant(NOT_LOCAL), Vec::new());
    }
    // Each rule's local side, clipped to the node's space (usually empty or one address).
    let clipped: Vec<Vec<(T, T)>> = rules
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            for (a, b) in local_side(r).iter().filter_map(T::bounds) {
                for &(c, d) in space.ranges() {
                    let (lo, hi) = (a.max(c), b.min(d));
                    if lo <= hi {
                        out.push((lo, hi));
                    }
                }
            }
            out
        })
        .collect();
    let mut starts = vec![T::MIN];
    let ranges = space.ranges().iter().chain(clipped.iter().flatten());
    for &(a, b) in ranges {
        starts.push(a);
        starts.extend(b.succ());
    }
    starts.sort_unstable();
    starts.dedup();
    let mut ids: FastMap<Vec<u32>, u32> = FastMap::default();
    let mut pieces: Vec<Vec<u32>> = Vec::new();
    let intervals: Vec<(T, u32)> = starts
        .iter()
        .map(|&p| {
            if !space.contains(p) {
                return (p, NOT_LOCAL);
            }
            let members: Vec<u32> = (0..rules.len())
                .filter(|&k| clipped[k].iter().any(|&(a, b)| a <= p && p <= b))
                .map(|k| u32::try_from(k).unwrap_or(u32::MAX))
                .collect();
            let next = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
            let id = *ids.entry(members.clone()).or_insert_with(|| {
                pieces.push(members);
                next
            });
            (p, id)
        })
        .collect();
    (Line::new(intervals, FastMap::default()), pieces)
}

/// One interval of the remote sweep: where it starts, its set of active wide rules, whether
/// peers' wide prefixes cover it.
type Interval<T> = (T, u32, bool);

/// Sets of rule bits (as positions in a piece's member list), interned.
struct BitSets {
    ids: FastMap<Vec<u64>, u32>,
    sets: Vec<Vec<u64>>,
    funcs: Vec<Option<u32>>,
}

impl BitSets {
    fn intern(&mut self, bits: &[u64]) -> u32 {
        if let Some(&id) = self.ids.get(bits) {
            return id;
        }
        let id = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        self.sets.push(bits.to_vec());
        self.funcs.push(None);
        self.ids.insert(bits.to_vec(), id);
        id
    }

    fn func(
        &mut self,
        set: u32,
        ctx: &SideInput<'_, '_>,
        members: &[u32],
        funcs: &mut FuncBuilder<'_>,
    ) -> u32 {
        let s = set as usize;
        if let Some(f) = self.funcs[s] {
            return f;
        }
        let f = funcs.first_match(&self.sets[s], members, ctx.rules);
        self.funcs[s] = Some(f);
        f
    }
}

/// The remote line of one local piece whose candidate rules are `members`.
fn remote_line<T: Family>(
    ctx: &SideInput<'_, '_>,
    members: &[u32],
    peers: &PeerSpace<T>,
    funcs: &mut FuncBuilder<'_>,
) -> Line<T> {
    let words = members.len().div_ceil(64).max(1);
    let mut sets = BitSets {
        ids: FastMap::default(),
        sets: Vec::new(),
        funcs: Vec::new(),
    };
    // Single addresses collect their rules as bits; wider prefixes become sweep events.
    let mut rows: FastMap<T, usize> = FastMap::default();
    let mut host_bits: Vec<u64> = Vec::new();
    const DOMAIN: u32 = u32::MAX;
    let mut events: Vec<(T, u32, bool)> = Vec::new();
    for (k, &slot) in members.iter().enumerate() {
        for (a, b) in (ctx.remote_side)(ctx.rules[slot as usize])
            .iter()
            .filter_map(T::bounds)
        {
            if a == b {
                let next = rows.len();
                let row = *rows.entry(a).or_insert(next);
                if row == next {
                    host_bits.resize(host_bits.len() + words, 0);
                }
                host_bits[row * words + k / 64] |= 1 << (k % 64);
            } else {
                let k = u32::try_from(k).unwrap_or(u32::MAX);
                events.push((a, k, true));
                events.extend(b.succ().map(|n| (n, k, false)));
            }
        }
    }
    for &(a, b) in peers.wide.ranges() {
        events.push((a, DOMAIN, true));
        events.extend(b.succ().map(|n| (n, DOMAIN, false)));
    }
    events.sort_unstable_by_key(|e| e.0);

    // The sweep: intervals of constant wide-rule membership and domain coverage.
    let mut counts = vec![0u32; members.len()];
    let mut active = vec![0u64; words];
    let mut domain = 0u32;
    let mut intervals: Vec<Interval<T>> = vec![(T::MIN, sets.intern(&active), false)];
    let mut i = 0;
    while i < events.len() {
        let point = events[i].0;
        while let Some(&(p, k, start)) = events.get(i)
            && p == point
        {
            i += 1;
            let count = if k == DOMAIN {
                &mut domain
            } else {
                &mut counts[k as usize]
            };
            *count = if start {
                *count + 1
            } else {
                count.saturating_sub(1)
            };
            if k != DOMAIN {
                let (w, bit) = (k as usize / 64, 1u64 << (k % 64));
                if *count > 0 {
                    active[w] |= bit;
                } else {
                    active[w] &= !bit;
                }
            }
        }
        let entry = (point, sets.intern(&active), domain > 0);
        match intervals.last_mut() {
            Some(last) if last.0 == point => *last = entry,
            _ => intervals.push(entry),
        }
    }
    let values: Vec<u32> = intervals
        .iter()
        .map(|&(_, set, in_domain)| {
            if in_domain {
                sets.func(set, ctx, members, funcs)
            } else {
                FUNC_NO_PEER
            }
        })
        .collect();

    // Exact entries: single addresses named by rules or owned by peers, where their function
    // differs from the interval around them.
    let mut exact: FastMap<T, u32> = FastMap::default();
    let mut bits = vec![0u64; words];
    let interval_of = |p: T| intervals.partition_point(|iv| iv.0 <= p).saturating_sub(1);
    for (&point, &row) in &rows {
        let at = interval_of(point);
        let (_, set, in_domain) = intervals[at];
        if !in_domain && !peers.hosts.contains_key(&point) {
            continue;
        }
        for ((b, wide), host) in bits
            .iter_mut()
            .zip(&sets.sets[set as usize])
            .zip(&host_bits[row * words..(row + 1) * words])
        {
            *b = wide | host;
        }
        let set = sets.intern(&bits);
        let f = sets.func(set, ctx, members, funcs);
        if f != values[at] {
            exact.insert(point, f);
        }
    }
    for &point in peers.hosts.keys() {
        if rows.contains_key(&point) {
            continue;
        }
        let at = interval_of(point);
        let (_, set, in_domain) = intervals[at];
        if !in_domain {
            let f = sets.func(set, ctx, members, funcs);
            exact.insert(point, f);
        }
    }
    Line::new(intervals.iter().zip(values).map(|(iv, v)| (iv.0, v)), exact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netmap::{ResolvedRule, RuleAction};
    use crate::policy::compiled::{Direction, Outcome};
    use crate::policy::service::{IpProto, ServiceRange};
    use std::net::IpAddr;

    fn rule(
        index: usize,
        allow: bool,
        from: &[&str],
        to: &[&str],
        tcp: Option<(u16, u16)>,
    ) -> ResolvedRule {
        let services = match tcp {
            Some((first, last)) => vec![ServiceRange {
                proto: IpProto::Tcp,
                first,
                last,
            }],
            None => vec![
                ServiceRange {
                    proto: IpProto::Tcp,
                    first: 0,
                    last: u16::MAX,
                },
                ServiceRange {
                    proto: IpProto::Udp,
                    first: 0,
                    last: u16::MAX,
                },
                ServiceRange {
                    proto: IpProto::Icmp,
                    first: 0,
                    last: 0,
                },
            ],
        };
        ResolvedRule {
            name: format!("r{index}"),
            index,
            action: if allow {
                RuleAction::Allow
            } else {
                RuleAction::Deny
            },
            from: from.iter().map(|s| s.parse().unwrap()).collect(),
            to: to.iter().map(|s| s.parse().unwrap()).collect(),
            services,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_match_over_hosts_prefixes_and_services() {
        let me = "100.64.0.1/32";
        let rules = vec![
            rule(
                0,
                false,
                &["100.64.0.1/32"],
                &["100.64.0.3/32"],
                Some((22, 22)),
            ),
            rule(
                1,
                true,
                &["100.64.0.0/10"],
                &["100.64.0.0/10"],
                Some((1, 1024)),
            ),
            rule(2, true, &["100.64.0.2/32"], &["100.64.0.1/32"], None),
        ];
        let peers: Vec<IpNet> = ["100.64.0.2/32", "100.64.0.3/32", "10.9.0.0/16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let c = compile(&rules, &[me.parse().unwrap()], &peers);
        let tcp = |p| super::super::packet_service(6, p);
        let out = |dst, port| c.decide(Direction::Outbound, ip("100.64.0.1"), ip(dst), tcp(port));
        assert_eq!(out("100.64.0.3", 22), Outcome::Deny(0));
        assert_eq!(out("100.64.0.2", 22), Outcome::Allow(1));
        assert_eq!(out("100.64.0.3", 2000), Outcome::DefaultDeny);
        assert_eq!(
            out("10.9.1.1", 80),
            Outcome::DefaultDeny,
            "a routed peer prefix outside the rules"
        );
        assert_eq!(out("100.64.0.9", 80), Outcome::NoPeer);
        let inb = |src, svc| c.decide(Direction::Inbound, ip(src), ip("100.64.0.1"), svc);
        assert_eq!(inb("100.64.0.2", tcp(5000)), Outcome::Allow(2));
        assert_eq!(
            inb("100.64.0.2", super::super::packet_service(47, 0)),
            Outcome::Allow(2)
        );
        assert_eq!(
            inb("100.64.0.3", super::super::packet_service(47, 0)),
            Outcome::DefaultDeny
        );
        assert_eq!(
            c.decide(
                Direction::Outbound,
                ip("100.64.0.2"),
                ip("100.64.0.3"),
                tcp(80)
            ),
            Outcome::NotLocal
        );
    }
}
