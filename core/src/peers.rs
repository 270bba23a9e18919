//! The visible-peer relation: node A is told about peer B only if the policy accepts some
//! packet (any protocol and port) between them in either direction.
//!
//! An entity's *space* is every address it sends from or receives for: its overlay addresses,
//! plus its routed prefixes (subnet routers) or its IPsec peers' remote traffic selectors
//! (vrouters). The space is cut into pieces on which membership in every selector of the
//! policy is constant; a piece's *signature* is the set of selectors containing it. Whether
//! the policy accepts anything from one signature to another depends on the signatures
//! only, so it is computed per signature pair, and entities whose spaces have the same
//! signatures form one *class*. Nodes that carry the same tags and owner land in one class,
//! which is what makes 100,000 nodes tractable: the work is per class pair, not node pair.

use crate::FastMap;

use crate::addrset::{Point, Ranges};
use crate::alloc::Entity;
use crate::policy::index::PolicyIndex;
use crate::policy::service::{ServiceSet, all_services};
use cvlan_schema::model::Action;

/// Index of a class in a [`VisiblePeers`].
pub type ClassId = usize;

/// A fixed-width bit set over the policy's service pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn meets(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    fn remove(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= !b;
        }
    }
}

/// What the relation needs of one rule.
#[derive(Debug, Clone)]
struct RuleFacts {
    allow: bool,
    services: Bits,
}

/// Which rules a signature can be the source or the destination of (sorted rule indices).
/// Signatures are per address family: an IPv4 piece never exchanges packets with an IPv6 one.
#[derive(Debug, Clone)]
struct Signature {
    v6: bool,
    from_rules: Vec<u32>,
    to_rules: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Class {
    sigs: Vec<u32>,
    members: Vec<Entity>,
}

/// The visible-peer relation of a network, grouped into classes of equivalent entities.
#[derive(Debug, Clone)]
pub struct VisiblePeers {
    node_count: usize,
    class_of: Vec<u32>,
    classes: Vec<Class>,
    sigs: Vec<Signature>,
    rules: Vec<RuleFacts>,
    all: Bits,
}

impl VisiblePeers {
    /// Computes the classes of every node and vrouter of the index's network.
    pub fn new(index: &PolicyIndex<'_>) -> Self {
        let network = index.network();
        let allocation = index.allocation();
        let node_count = network.nodes.len();
        let entities: Vec<Entity> = (0..node_count)
            .map(Entity::Node)
            .chain((0..network.vrouters.len()).map(Entity::Vrouter))
            .collect();

        let (rules, all) = rule_facts(index);
        let mut from_of_set: Vec<Vec<u32>> = vec![Vec::new(); index.sets().len()];
        let mut to_of_set: Vec<Vec<u32>> = vec![Vec::new(); index.sets().len()];
        for (r, rule) in index.rules().iter().enumerate() {
            let r = u32::try_from(r).unwrap_or(u32::MAX);
            for &s in &rule.from {
                from_of_set[s].push(r);
            }
            for &s in &rule.to {
                to_of_set[s].push(r);
            }
        }

        // Signatures of overlay addresses: member sets by membership, the others by range.
        let mut point_sigs: Vec<Vec<Vec<u32>>> = entities
            .iter()
            .map(|&e| allocation.addresses(e).ips().map(|_| Vec::new()).collect())
            .collect();
        let mut points4: Vec<(u32, usize, usize)> = Vec::new();
        let mut points6: Vec<(u128, usize, usize)> = Vec::new();
        for (k, &e) in entities.iter().enumerate() {
            for (slot, ip) in allocation.addresses(e).ips().enumerate() {
                match ip {
                    std::net::IpAddr::V4(a) => points4.push((u32::from(a), k, slot)),
                    std::net::IpAddr::V6(a) => points6.push((u128::from(a), k, slot)),
                }
            }
        }
        points4.sort_unstable();
        points6.sort_unstable();
        for (s, set) in index.sets().iter().enumerate() {
            let s = u32::try_from(s).unwrap_or(u32::MAX);
            match &set.members {
                Some(members) => {
                    for &m in members {
                        for sig in &mut point_sigs[m.dense_index(node_count)] {
                            sig.push(s);
                        }
                    }
                }
                None => {
                    mark_points(&set.addrs.v4, &points4, s, &mut point_sigs);
                    mark_points(&set.addrs.v6, &points6, s, &mut point_sigs);
                }
            }
        }

        let mut interner = SigInterner::default();
        let mut class_ids: FastMap<Vec<u32>, u32> = FastMap::default();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_of = Vec::with_capacity(entities.len());
        for (k, &e) in entities.iter().enumerate() {
            let mut sigs: Vec<u32> = std::mem::take(&mut point_sigs[k])
                .into_iter()
                .zip(allocation.addresses(e).ips())
                .map(|(mut sig, ip)| {
                    sig.sort_unstable();
                    sig.dedup();
                    interner.intern(ip.is_ipv6(), sig)
                })
                .collect();
            let space = crate::addrset::AddrSet::from_nets(index.routed_prefixes(e));
            for &(a, b) in space.v4.ranges() {
                range_sigs(index, a, b, |s| &s.v4, false, &mut interner, &mut sigs);
            }
            for &(a, b) in space.v6.ranges() {
                range_sigs(index, a, b, |s| &s.v6, true, &mut interner, &mut sigs);
            }
            sigs.sort_unstable();
            sigs.dedup();
            let next = u32::try_from(classes.len()).unwrap_or(u32::MAX);
            let id = *class_ids.entry(sigs.clone()).or_insert_with(|| {
                classes.push(Class {
                    sigs,
                    members: Vec::new(),
                });
                next
            });
            classes[id as usize].members.push(e);
            class_of.push(id);
        }

        let mut seen = RuleMarks::new(rules.len());
        let sigs = interner
            .sigs
            .into_iter()
            .map(|(v6, sig)| Signature {
                v6,
                from_rules: seen.rules_of(&sig, &from_of_set),
                to_rules: seen.rules_of(&sig, &to_of_set),
            })
            .collect();
        Self {
            node_count,
            class_of,
            classes,
            sigs,
            rules,
            all,
        }
    }

    /// The number of classes.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The class of an entity.
    pub fn class_of(&self, entity: Entity) -> ClassId {
        self.class_of
            .get(entity.dense_index(self.node_count))
            .map_or(0, |&c| c as usize)
    }

    /// The entities of a class, nodes first, each kind in file order.
    pub fn class_members(&self, class: ClassId) -> &[Entity] {
        self.classes.get(class).map_or(&[], |c| &c.members)
    }

    /// Every class whose members the members of `class` may see (including `class` itself
    /// when its members may see each other), ascending.
    pub fn visible_classes(&self, class: ClassId) -> Vec<ClassId> {
        let Some(own) = self.classes.get(class) else {
            return Vec::new();
        };
        let mut visible_sig = vec![false; self.sigs.len()];
        let mut scratch = self.all.clone();
        for &s in &own.sigs {
            for (t, seen) in visible_sig.iter_mut().enumerate() {
                if !*seen {
                    let t = u32::try_from(t).unwrap_or(u32::MAX);
                    *seen = self.reach(s, t, &mut scratch) || self.reach(t, s, &mut scratch);
                }
            }
        }
        (0..self.classes.len())
            .filter(|&c| {
                self.classes[c]
                    .sigs
                    .iter()
                    .any(|&t| visible_sig[t as usize])
            })
            .collect()
    }

    /// The peers `entity` is told about, sorted (nodes first, each kind in file order).
    pub fn peers_of(&self, entity: Entity) -> Vec<Entity> {
        let mut out: Vec<Entity> = self
            .visible_classes(self.class_of(entity))
            .into_iter()
            .flat_map(|c| self.classes[c].members.iter().copied())
            .filter(|&e| e != entity)
            .collect();
        out.sort_unstable();
        out
    }

    /// True when `a` and `b` may exchange some packet (in either direction).
    pub fn is_visible(&self, a: Entity, b: Entity) -> bool {
        let (ca, cb) = (self.class_of(a), self.class_of(b));
        let mut scratch = self.all.clone();
        self.classes[ca].sigs.iter().any(|&s| {
            self.classes[cb]
                .sigs
                .iter()
                .any(|&t| self.reach(s, t, &mut scratch) || self.reach(t, s, &mut scratch))
        })
    }

    /// The rules that can match a packet between a member of `class` and a member of one of
    /// `peers` (either direction), ascending.
    pub fn rules_between(&self, class: ClassId, peers: &[ClassId]) -> Vec<usize> {
        let collect = |classes: &mut dyn Iterator<Item = ClassId>,
                       pick: fn(&Signature) -> &Vec<u32>| {
            let mut mark = vec![false; self.rules.len()];
            for c in classes {
                for &s in &self.classes[c].sigs {
                    for &r in pick(&self.sigs[s as usize]) {
                        mark[r as usize] = true;
                    }
                }
            }
            mark
        };
        let own_from = collect(&mut std::iter::once(class), |s| &s.from_rules);
        let own_to = collect(&mut std::iter::once(class), |s| &s.to_rules);
        let peer_from = collect(&mut peers.iter().copied(), |s| &s.from_rules);
        let peer_to = collect(&mut peers.iter().copied(), |s| &s.to_rules);
        (0..self.rules.len())
            .filter(|&r| (own_from[r] && peer_to[r]) || (own_to[r] && peer_from[r]))
            .collect()
    }

    /// Does the policy accept some service from signature `s` to signature `t` (of one family)?
    fn reach(&self, s: u32, t: u32, remaining: &mut Bits) -> bool {
        if self.sigs[s as usize].v6 != self.sigs[t as usize].v6 {
            return false;
        }
        let (from, to) = (
            &self.sigs[s as usize].from_rules,
            &self.sigs[t as usize].to_rules,
        );
        remaining.0.copy_from_slice(&self.all.0);
        let (mut i, mut j) = (0, 0);
        while let (Some(&a), Some(&b)) = (from.get(i), to.get(j)) {
            if a < b {
                i += 1;
                continue;
            }
            if b < a {
                j += 1;
                continue;
            }
            let rule = &self.rules[a as usize];
            if rule.services.meets(remaining) {
                if rule.allow {
                    return true;
                }
                remaining.remove(&rule.services);
                if remaining.is_zero() {
                    return false;
                }
            }
            i += 1;
            j += 1;
        }
        false
    }
}

/// Interns (family, sorted selector-id list) pairs as signature ids.
#[derive(Default)]
struct SigInterner {
    ids: FastMap<(bool, Vec<u32>), u32>,
    sigs: Vec<(bool, Vec<u32>)>,
}

impl SigInterner {
    fn intern(&mut self, v6: bool, sig: Vec<u32>) -> u32 {
        let key = (v6, sig);
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.sigs.len()).unwrap_or(u32::MAX);
        self.sigs.push(key.clone());
        self.ids.insert(key, id);
        id
    }
}

/// Adds set `s` to the signature of every point inside `ranges`.
fn mark_points<T: Point>(
    ranges: &Ranges<T>,
    points: &[(T, usize, usize)],
    s: u32,
    sigs: &mut [Vec<Vec<u32>>],
) {
    for &(a, b) in ranges.ranges() {
        let start = points.partition_point(|p| p.0 < a);
        for &(_, k, slot) in points[start..].iter().take_while(|p| p.0 <= b) {
            sigs[k][slot].push(s);
        }
    }
}

/// Cuts `a..=b` into pieces of constant selector membership and adds their signatures.
fn range_sigs<T: Point>(
    index: &PolicyIndex<'_>,
    a: T,
    b: T,
    family: impl Fn(&crate::addrset::AddrSet) -> &Ranges<T>,
    v6: bool,
    interner: &mut SigInterner,
    out: &mut Vec<u32>,
) {
    let mut starts = vec![a];
    for set in index.sets() {
        family(&set.addrs).boundaries_within(a, b, &mut starts);
    }
    starts.sort_unstable();
    starts.dedup();
    for p in starts {
        let sig: Vec<u32> = index
            .sets()
            .iter()
            .enumerate()
            .filter(|(_, set)| family(&set.addrs).contains(p))
            .map(|(s, _)| u32::try_from(s).unwrap_or(u32::MAX))
            .collect();
        out.push(interner.intern(v6, sig));
    }
}

/// Generation-stamped marks over rules, to collect distinct rules without sorting duplicates.
struct RuleMarks {
    stamp: Vec<u32>,
    generation: u32,
}

impl RuleMarks {
    fn new(rules: usize) -> Self {
        Self {
            stamp: vec![0; rules],
            generation: 0,
        }
    }

    /// The sorted, distinct rules any of the signature's sets appear in.
    fn rules_of(&mut self, sig: &[u32], rules_of_set: &[Vec<u32>]) -> Vec<u32> {
        self.generation += 1;
        let mut out = Vec::new();
        for &s in sig {
            for &r in &rules_of_set[s as usize] {
                if self.stamp[r as usize] != self.generation {
                    self.stamp[r as usize] = self.generation;
                    out.push(r);
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Each rule's action and services as bits over the pieces of the service line on which
/// every rule's services are constant; also the bits of every service.
fn rule_facts(index: &PolicyIndex<'_>) -> (Vec<RuleFacts>, Bits) {
    let line = all_services();
    let (lo, hi) = line.ranges().first().copied().unwrap_or((0, 0));
    let mut starts = vec![lo];
    for rule in index.rules() {
        rule.services.boundaries_within(lo, hi, &mut starts);
    }
    starts.sort_unstable();
    starts.dedup();
    let words = starts.len().div_ceil(64).max(1);
    let bits_of = |set: &ServiceSet| {
        let mut bits = Bits(vec![0; words]);
        for (k, &p) in starts.iter().enumerate() {
            if set.contains(p) {
                bits.0[k / 64] |= 1 << (k % 64);
            }
        }
        bits
    };
    let facts = index
        .rules()
        .iter()
        .map(|rule| RuleFacts {
            allow: rule.action == Action::Allow,
            services: bits_of(&rule.services),
        })
        .collect();
    (facts, bits_of(&line))
}
