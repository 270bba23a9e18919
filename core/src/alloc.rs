//! Overlay address allocation for nodes and vrouters, IPv4 and (when `overlay6` is set) IPv6.
//!
//! Pinned addresses are honoured as written. Every other entity gets an address derived from
//! its kind and name alone: candidate `i` is a BLAKE2s hash of a domain tag, the family, the
//! kind, the name and `i`, reduced into the overlay's host range (IPv4 skips the network and
//! broadcast addresses); candidates that are pinned are skipped. After 64 hashed candidates
//! the sequence continues linearly, so every free slot is eventually tried.
//!
//! When several names want one slot, the slot goes to the name that wants it earliest in its
//! own candidate sequence, and among those to the name whose hash is smallest. The result is
//! the unique name-optimal stable assignment (deferred acceptance), so it depends only on the
//! set of names and pins, never on file order. Consequences, relied on by the tests:
//! - a name sitting in its first-choice slot moves only if a newcomer's first choice is that
//!   same slot and the newcomer's hash is smaller (the one honest limit of hashing);
//! - a name that had to probe past its first choice may move when names are added or removed.
//!
//! Every name that had to probe gets a `cvlan::address-collision` warning telling the operator
//! to pin its address, which makes it immovable. An overlay with too few free slots gives the
//! lowest-priority names no address and a `cvlan::overlay-full` error each.

use std::collections::hash_map::Entry;

use crate::FastMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use blake2::{Blake2s256, Digest};
use cvlan_schema::model::Network;
use cvlan_schema::{Diagnostic, Span};
use serde::Serialize;

/// Code of the warning for a name that could not take its first-choice address.
pub const ADDRESS_COLLISION: &str = "cvlan::address-collision";
/// Code of the error for a name that got no address because the overlay is full.
pub const OVERLAY_FULL: &str = "cvlan::overlay-full";

/// Hashed candidates tried before probing linearly.
const HASHED_PROBES: u64 = 64;

/// A node or vrouter, by its index in [`Network::nodes`] or [`Network::vrouters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// `network.nodes[i]`.
    Node(usize),
    /// `network.vrouters[i]`.
    Vrouter(usize),
}

impl Entity {
    /// The entity's name in `network`.
    pub fn name(self, network: &Network) -> &str {
        match self {
            Entity::Node(i) => network.nodes.get(i).map_or("", |n| n.name.value.as_str()),
            Entity::Vrouter(i) => network
                .vrouters
                .get(i)
                .map_or("", |v| v.name.value.as_str()),
        }
    }

    /// A dense index over nodes then vrouters: `Node(i)` is `i`, `Vrouter(i)` is `node_count + i`.
    pub fn dense_index(self, node_count: usize) -> usize {
        match self {
            Entity::Node(i) => i,
            Entity::Vrouter(i) => node_count + i,
        }
    }

    /// `"node"` or `"vrouter"`.
    pub fn kind(self) -> &'static str {
        match self {
            Entity::Node(_) => "node",
            Entity::Vrouter(_) => "vrouter",
        }
    }

    /// The span of the entity's name.
    pub fn name_span(self, network: &Network) -> Span {
        match self {
            Entity::Node(i) => network.nodes.get(i).map(|n| n.name.span),
            Entity::Vrouter(i) => network.vrouters.get(i).map(|v| v.name.span),
        }
        .unwrap_or_default()
    }
}

/// How an address was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "origin")]
pub enum Origin {
    /// Written in the file.
    Pinned,
    /// Derived from the name; `probe` 0 is the first choice.
    Derived {
        /// Which candidate of the name's sequence it got.
        probe: u64,
    },
}

/// One assigned address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Assigned<A> {
    /// The address.
    pub address: A,
    /// How it was chosen.
    #[serde(flatten)]
    pub origin: Origin,
}

/// The overlay addresses of one node or vrouter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Addresses {
    /// IPv4 address (none only when the overlay is full).
    pub v4: Option<Assigned<Ipv4Addr>>,
    /// IPv6 address, when the network has an IPv6 overlay or one is pinned.
    pub v6: Option<Assigned<Ipv6Addr>>,
}

impl Addresses {
    /// The addresses, IPv4 first.
    pub fn ips(self) -> impl Iterator<Item = IpAddr> {
        self.v4
            .map(|a| IpAddr::V4(a.address))
            .into_iter()
            .chain(self.v6.map(|a| IpAddr::V6(a.address)))
    }
}

/// One line of `cvlanctl addresses`: an entity and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressRow {
    /// `node` or `vrouter`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// IPv4 address and how it was chosen.
    pub v4: Option<Assigned<Ipv4Addr>>,
    /// IPv6 address and how it was chosen.
    pub v6: Option<Assigned<Ipv6Addr>>,
}

/// The addresses of every node and vrouter of a network.
#[derive(Debug, Clone, Default)]
pub struct Allocation {
    nodes: Vec<Addresses>,
    vrouters: Vec<Addresses>,
    owners: FastMap<IpAddr, Entity>,
    diagnostics: Vec<Diagnostic>,
}

impl Allocation {
    /// The addresses of an entity (empty for an index out of range).
    pub fn addresses(&self, entity: Entity) -> Addresses {
        match entity {
            Entity::Node(i) => self.nodes.get(i),
            Entity::Vrouter(i) => self.vrouters.get(i),
        }
        .copied()
        .unwrap_or_default()
    }

    /// Which entity has this overlay address.
    pub fn owner(&self, addr: IpAddr) -> Option<Entity> {
        self.owners.get(&addr).copied()
    }

    fn slot_mut(&mut self, entity: Entity) -> &mut Addresses {
        match entity {
            Entity::Node(i) => &mut self.nodes[i],
            Entity::Vrouter(i) => &mut self.vrouters[i],
        }
    }

    /// Collision warnings and overlay-full errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// One row per entity for display: nodes sorted by name, then vrouters sorted by name.
    pub fn rows(&self, network: &Network) -> Vec<AddressRow> {
        let mut rows: Vec<AddressRow> = self
            .entries()
            .map(|(e, a)| AddressRow {
                kind: e.kind(),
                name: e.name(network).to_string(),
                v4: a.v4,
                v6: a.v6,
            })
            .collect();
        rows.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        rows
    }

    /// Every entity with its addresses: nodes in file order, then vrouters.
    pub fn entries(&self) -> impl Iterator<Item = (Entity, &Addresses)> {
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, a)| (Entity::Node(i), a));
        let vrouters = self
            .vrouters
            .iter()
            .enumerate()
            .map(|(i, a)| (Entity::Vrouter(i), a));
        nodes.chain(vrouters)
    }
}

/// Allocates the overlay addresses of every node and vrouter of `network`.
pub fn allocate(network: &Network) -> Allocation {
    let entities: Vec<Entity> = (0..network.nodes.len())
        .map(Entity::Node)
        .chain((0..network.vrouters.len()).map(Entity::Vrouter))
        .collect();
    let pinned: Vec<Vec<IpAddr>> = entities
        .iter()
        .map(|&e| match e {
            Entity::Node(i) => network.nodes[i].addresses.iter().map(|a| a.value).collect(),
            Entity::Vrouter(i) => network.vrouters[i]
                .address
                .iter()
                .map(|a| a.value)
                .collect(),
        })
        .collect();

    let mut out = Allocation {
        nodes: vec![Addresses::default(); network.nodes.len()],
        vrouters: vec![Addresses::default(); network.vrouters.len()],
        ..Allocation::default()
    };
    for (k, &e) in entities.iter().enumerate() {
        for &addr in &pinned[k] {
            let a = out.slot_mut(e);
            match addr {
                IpAddr::V4(v4) if a.v4.is_none() => {
                    a.v4 = Some(Assigned {
                        address: v4,
                        origin: Origin::Pinned,
                    });
                }
                IpAddr::V6(v6) if a.v6.is_none() => {
                    a.v6 = Some(Assigned {
                        address: v6,
                        origin: Origin::Pinned,
                    });
                }
                _ => continue,
            }
            out.owners.entry(addr).or_insert(e);
        }
    }

    let net4 = network.overlay.value;
    let fam4 = Family::new(
        4,
        u128::from(u32::from(net4.network())),
        32 - u32::from(net4.prefix_len()),
        true,
    );
    let wants4: Vec<Entity> = entities
        .iter()
        .copied()
        .filter(|&e| out.addresses(e).v4.is_none())
        .collect();
    for (e, placed) in fam4.assign(network, &wants4, &out.owners, &mut out.diagnostics) {
        let address = Ipv4Addr::from(u32::try_from(placed.address).unwrap_or(0));
        out.slot_mut(e).v4 = Some(Assigned {
            address,
            origin: placed.origin,
        });
        out.owners.insert(IpAddr::V4(address), e);
    }

    if let Some(net6) = &network.overlay6 {
        let net6 = net6.value;
        let fam6 = Family::new(
            6,
            u128::from(net6.network()),
            128 - u32::from(net6.prefix_len()),
            false,
        );
        let wants6: Vec<Entity> = entities
            .iter()
            .copied()
            .filter(|&e| out.addresses(e).v6.is_none())
            .collect();
        for (e, placed) in fam6.assign(network, &wants6, &out.owners, &mut out.diagnostics) {
            let address = Ipv6Addr::from(placed.address);
            out.slot_mut(e).v6 = Some(Assigned {
                address,
                origin: placed.origin,
            });
            out.owners.insert(IpAddr::V6(address), e);
        }
    }
    out
}

/// One address family's host range.
struct Family {
    version: u8,
    base: u128,
    /// First usable host offset.
    lo: u128,
    /// Number of usable host offsets.
    usable: u128,
}

/// A derived address as an integer with its origin.
struct Placed {
    address: u128,
    origin: Origin,
}

/// A name's claim on a slot: lower wins (earlier in its sequence, then smaller hash, then
/// kind and name; the entity index only separates duplicate names in an invalid file).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Claim<'n> {
    probe: u64,
    priority: u64,
    is_vrouter: bool,
    name: &'n str,
    entity: Entity,
    /// Candidate 0 (kept so the common case hashes once; never decides the order).
    first: u128,
}

impl Family {
    fn new(version: u8, base: u128, host_bits: u32, skip_broadcast: bool) -> Self {
        let size = if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        };
        // IPv4 skips the network and broadcast addresses (except in /31 and /32); IPv6 skips
        // the subnet-router anycast address (offset 0) when the range has room.
        let (lo, usable) = match (skip_broadcast, host_bits) {
            (true, 0..=1) | (false, 0) => (0, size),
            (true, _) => (1, size - 2),
            (false, _) => (1, size - 1),
        };
        Self {
            version,
            base,
            lo,
            usable,
        }
    }

    fn address(&self, offset: u128) -> u128 {
        self.base.wrapping_add(offset)
    }

    fn to_ip(&self, address: u128) -> IpAddr {
        if self.version == 4 {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(address).unwrap_or(0)))
        } else {
            IpAddr::V6(Ipv6Addr::from(address))
        }
    }

    fn digest(&self, entity: Entity, name: &str, probe: u64) -> [u8; 32] {
        let mut h = Blake2s256::new();
        h.update(b"cloudvlan address v1\0");
        h.update([
            self.version,
            if matches!(entity, Entity::Node(_)) {
                b'n'
            } else {
                b'v'
            },
        ]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(probe.to_le_bytes());
        h.finalize().into()
    }

    fn hashed_offset(&self, entity: Entity, name: &str, probe: u64) -> u128 {
        let d = self.digest(entity, name, probe);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&d[..16]);
        self.lo + u128::from_le_bytes(bytes) % self.usable
    }

    /// Candidate 0 and the name's priority (smaller wins a shared slot), from one hash.
    fn first_and_priority(&self, entity: Entity, name: &str) -> (u128, u64) {
        let d = self.digest(entity, name, 0);
        let mut offset = [0u8; 16];
        offset.copy_from_slice(&d[..16]);
        let mut priority = [0u8; 8];
        priority.copy_from_slice(&d[16..24]);
        (
            self.lo + u128::from_le_bytes(offset) % self.usable,
            u64::from_le_bytes(priority),
        )
    }

    /// The number of candidates a name has: the hashed ones, then every slot once more.
    fn sequence_len(&self) -> u64 {
        HASHED_PROBES.saturating_add(u64::try_from(self.usable).unwrap_or(u64::MAX))
    }

    /// Candidate `probe` of a name, as a host offset.
    fn candidate(&self, entity: Entity, name: &str, probe: u64) -> u128 {
        if probe < HASHED_PROBES {
            return self.hashed_offset(entity, name, probe);
        }
        let last_hashed = self.hashed_offset(entity, name, HASHED_PROBES - 1) - self.lo;
        let step = u128::from(probe - HASHED_PROBES + 1);
        self.lo + (last_hashed + step) % self.usable
    }

    /// Deferred acceptance over the names in `wants`, avoiding every address in `taken`.
    fn assign<'n>(
        &self,
        network: &'n Network,
        wants: &[Entity],
        taken: &FastMap<IpAddr, Entity>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<(Entity, Placed)> {
        let pinned_here: u128 = taken
            .keys()
            .filter(|ip| self.offset_of(**ip).is_some())
            .count() as u128;
        let free = self.usable.saturating_sub(pinned_here);
        let mut claims: Vec<Claim<'n>> = wants
            .iter()
            .map(|&e| {
                let name = e.name(network);
                let is_vrouter = matches!(e, Entity::Vrouter(_));
                let (first, priority) = self.first_and_priority(e, name);
                Claim {
                    probe: 0,
                    priority,
                    is_vrouter,
                    name,
                    entity: e,
                    first,
                }
            })
            .collect();
        claims.sort_unstable();
        let capacity = usize::try_from(free).unwrap_or(usize::MAX);
        if claims.len() > capacity {
            for c in claims.drain(capacity..) {
                diagnostics.push(self.full_error(network, c.entity));
            }
        }

        let mut holders: FastMap<u128, Claim<'n>> =
            FastMap::with_capacity_and_hasher(claims.len(), Default::default());
        let mut queue: Vec<Claim<'n>> = claims.into_iter().rev().collect();
        let limit = self.sequence_len();
        while let Some(mut claim) = queue.pop() {
            while claim.probe < limit {
                let offset = if claim.probe == 0 {
                    claim.first
                } else {
                    self.candidate(claim.entity, claim.name, claim.probe)
                };
                if taken.contains_key(&self.to_ip(self.address(offset))) {
                    claim.probe += 1;
                    continue;
                }
                match holders.entry(offset) {
                    Entry::Vacant(v) => {
                        v.insert(claim);
                        break;
                    }
                    Entry::Occupied(mut o) if claim < *o.get() => {
                        let mut loser = o.insert(claim);
                        loser.probe += 1;
                        queue.push(loser);
                        break;
                    }
                    Entry::Occupied(_) => claim.probe += 1,
                }
            }
            if claim.probe >= limit {
                diagnostics.push(self.full_error(network, claim.entity));
            }
        }

        let mut placed: Vec<(Entity, Placed)> = holders
            .into_iter()
            .map(|(offset, c)| {
                let origin = Origin::Derived { probe: c.probe };
                (
                    c.entity,
                    Placed {
                        address: self.address(offset),
                        origin,
                    },
                )
            })
            .collect();
        placed.sort_unstable_by_key(|(e, _)| *e);
        let by_offset: FastMap<u128, Entity> = placed
            .iter()
            .map(|(e, p)| (p.address.wrapping_sub(self.base), *e))
            .collect();
        for (e, p) in &placed {
            if matches!(p.origin, Origin::Derived { probe } if probe > 0) {
                let first = self.first_and_priority(*e, e.name(network)).0;
                let first_ip = self.to_ip(self.address(first));
                let holder = taken
                    .get(&first_ip)
                    .or_else(|| by_offset.get(&first))
                    .copied();
                diagnostics.push(self.collision_warning(
                    network,
                    *e,
                    first_ip,
                    self.to_ip(p.address),
                    holder,
                ));
            }
        }
        placed
    }

    fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        let v = match (self.version, ip) {
            (4, IpAddr::V4(a)) => u128::from(u32::from(a)),
            (6, IpAddr::V6(a)) => u128::from(a),
            _ => return None,
        };
        let offset = v.checked_sub(self.base)?;
        (offset >= self.lo && offset - self.lo < self.usable).then_some(offset)
    }

    fn collision_warning(
        &self,
        network: &Network,
        e: Entity,
        wanted: IpAddr,
        got: IpAddr,
        holder: Option<Entity>,
    ) -> Diagnostic {
        let name = e.name(network);
        let kind = e.kind();
        let mut d = Diagnostic::warning(
            ADDRESS_COLLISION,
            format!("{kind} \"{name}\" could not have its first-choice address {wanted}; it got {got}"),
            e.name_span(network),
            format!("got {got} instead of {wanted}"),
        )
        .with_help(format!(
            "addresses derived from names are stable, but one that had to avoid a collision can \
             move when {kind}s are added or removed: pin it with `address \"{got}\"` in {kind} \"{name}\""
        ));
        if let Some(h) = holder {
            d = d.with_label(
                h.name_span(network),
                format!("{wanted} is held by {} \"{}\"", h.kind(), h.name(network)),
            );
        }
        d
    }

    fn full_error(&self, network: &Network, e: Entity) -> Diagnostic {
        let overlay = if self.version == 4 {
            "overlay"
        } else {
            "overlay6"
        };
        Diagnostic::error(
            OVERLAY_FULL,
            format!(
                "no free IPv{} address left in the {overlay} for {} \"{}\"",
                self.version,
                e.kind(),
                e.name(network)
            ),
            e.name_span(network),
            "gets no address",
        )
        .with_help(format!(
            "widen `{overlay}` in the network block, or remove nodes"
        ))
    }
}
