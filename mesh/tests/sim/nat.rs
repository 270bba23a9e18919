//! A NAT box in front of one host, in the terms of RFC 4787: how it maps an inside address to
//! a public port (endpoint-independent, or a new port per destination: "symmetric"), which
//! outside senders its filter lets in, and mappings that expire on the virtual clock.
//!
//! Mappings are refreshed by outbound traffic only (inbound traffic does not keep them alive,
//! as on many home routers), an expired mapping is never revived (the next outbound datagram
//! gets a new port), and ports are handed out in order from `first_port`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How an inside address is given a public port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// One public port per inside address, whatever the destination ("cone" NATs).
    EndpointIndependent,
    /// A new public port per inside address and destination ("symmetric" NATs): what a
    /// third party observes is not what the peer will see.
    EndpointDependent,
}

/// Which outside senders may reach a mapped port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtering {
    /// Anyone ("full cone").
    EndpointIndependent,
    /// Only addresses the inside host has sent to through this port ("restricted cone").
    AddressDependent,
    /// Only the exact address and port it has sent to ("port-restricted cone").
    AddressAndPortDependent,
}

/// The behaviour of a NAT box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatConfig {
    /// The box's public address.
    pub public: IpAddr,
    /// How ports are mapped.
    pub mapping: Mapping,
    /// Which inbound datagrams a mapping admits.
    pub filtering: Filtering,
    /// How long a mapping (and each permission of its filter) lives without outbound traffic.
    pub timeout: Duration,
    /// The first public port handed out.
    pub first_port: u16,
}

impl NatConfig {
    /// An endpoint-independent mapping with the given filtering and a 30 s timeout.
    pub fn endpoint_independent(public: IpAddr, filtering: Filtering) -> Self {
        Self {
            public,
            mapping: Mapping::EndpointIndependent,
            filtering,
            timeout: Duration::from_secs(30),
            first_port: 40_000,
        }
    }

    /// A symmetric NAT: a port per destination, filtered by address and port, 30 s timeout.
    pub fn symmetric(public: IpAddr) -> Self {
        Self {
            mapping: Mapping::EndpointDependent,
            ..Self::endpoint_independent(public, Filtering::AddressAndPortDependent)
        }
    }
}

/// One public port: who inside it belongs to, and who outside may answer.
struct Entry {
    inside: SocketAddr,
    /// The destination it was made for (endpoint-dependent mapping only).
    destination: Option<SocketAddr>,
    port: u16,
    /// Outside endpoints sent to through this port, and until when each may answer.
    permits: Vec<(SocketAddr, Instant)>,
}

impl Entry {
    fn expires(&self) -> Option<Instant> {
        self.permits.iter().map(|(_, until)| *until).max()
    }
}

/// What a NAT box did, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatStats {
    /// Public ports handed out.
    pub mappings_created: u64,
    /// Inbound datagrams let through.
    pub admitted: u64,
    /// Inbound datagrams to no live mapping.
    pub dropped_unmapped: u64,
    /// Inbound datagrams to a live mapping that its filter refused.
    pub dropped_filtered: u64,
}

/// A NAT box with its live mappings.
pub struct Nat {
    config: NatConfig,
    entries: Vec<Entry>,
    next_port: u16,
    stats: NatStats,
}

impl Nat {
    /// A box with no mappings yet.
    pub fn new(config: NatConfig) -> Self {
        Self {
            next_port: config.first_port,
            config,
            entries: Vec::new(),
            stats: NatStats::default(),
        }
    }

    /// The box's configuration.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// What the box did so far.
    pub fn stats(&self) -> NatStats {
        self.stats
    }

    /// Rewrites the source of a datagram going out from `inside` to `destination`: the public
    /// address it leaves with. Creates or refreshes the mapping and its permission.
    pub fn outbound(
        &mut self,
        now: Instant,
        inside: SocketAddr,
        destination: SocketAddr,
    ) -> SocketAddr {
        self.expire(now);
        let wanted = self.key(destination);
        let at = match self
            .entries
            .iter()
            .position(|e| e.inside == inside && e.destination == wanted)
        {
            Some(at) => at,
            None => {
                let port = self.allocate_port();
                self.entries.push(Entry {
                    inside,
                    destination: wanted,
                    port,
                    permits: Vec::new(),
                });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[at];
        let until = now + self.config.timeout;
        match entry.permits.iter_mut().find(|(p, _)| *p == destination) {
            Some(permit) => permit.1 = until,
            None => entry.permits.push((destination, until)),
        }
        SocketAddr::new(self.config.public, entry.port)
    }

    /// The inside address a datagram from `from` to public address `to` is for, or `None`
    /// when no live mapping has that port or its filter refuses the sender.
    pub fn inbound(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Option<SocketAddr> {
        self.expire(now);
        if to.ip() != self.config.public {
            self.stats.dropped_unmapped += 1;
            return None;
        }
        let Some(entry) = self.entries.iter().find(|e| e.port == to.port()) else {
            self.stats.dropped_unmapped += 1;
            return None;
        };
        let admitted = match self.config.filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => entry.permits.iter().any(|(p, _)| p.ip() == from.ip()),
            Filtering::AddressAndPortDependent => entry.permits.iter().any(|(p, _)| *p == from),
        };
        if admitted {
            self.stats.admitted += 1;
            Some(entry.inside)
        } else {
            self.stats.dropped_filtered += 1;
            None
        }
    }

    /// The public address `inside` would leave with toward `destination` at `now`, if a live
    /// mapping exists (what the peer there sees as this host's address).
    pub fn mapped(
        &self,
        now: Instant,
        inside: SocketAddr,
        destination: SocketAddr,
    ) -> Option<SocketAddr> {
        let wanted = self.key(destination);
        self.entries
            .iter()
            .find(|e| e.inside == inside && e.destination == wanted)
            .filter(|e| e.expires().is_some_and(|t| t > now))
            .map(|e| SocketAddr::new(self.config.public, e.port))
    }

    /// Forgets every mapping, as a NAT that rebooted or rebound does: the next outbound
    /// datagrams get new ports and datagrams to the old ones are dropped.
    pub fn rebind(&mut self) {
        self.entries.clear();
    }

    /// Drops permissions and mappings whose time is up.
    fn expire(&mut self, now: Instant) {
        for entry in &mut self.entries {
            entry.permits.retain(|(_, until)| *until > now);
        }
        self.entries.retain(|e| e.expires().is_some());
    }

    /// The destination part of a mapping's key: none when mappings are endpoint-independent.
    fn key(&self, destination: SocketAddr) -> Option<SocketAddr> {
        match self.config.mapping {
            Mapping::EndpointIndependent => None,
            Mapping::EndpointDependent => Some(destination),
        }
    }

    fn allocate_port(&mut self) -> u16 {
        self.stats.mappings_created += 1;
        let port = self.next_port;
        self.next_port = self
            .next_port
            .checked_add(1)
            .unwrap_or(self.config.first_port);
        port
    }
}
