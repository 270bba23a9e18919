//! Where an IPsec peer is.

use std::net::IpAddr;

/// Where an IPsec peer is: a fixed address we initiate to, or anywhere (a dial-in peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remote {
    /// `%any`: a dial-in peer, possibly behind NAT; we only respond.
    Any,
    /// A fixed address we initiate to.
    Address(IpAddr),
}

impl Remote {
    /// True for a peer pinned to an address (one we initiate to).
    pub fn is_pinned(&self) -> bool {
        matches!(self, Self::Address(_))
    }

    /// True if a datagram from `addr` may come from this peer.
    pub fn accepts(&self, addr: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Address(a) => *a == addr,
        }
    }
}
