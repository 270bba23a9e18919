//! Cryptokey routing: which peer owns an address, by longest-prefix match over allowed IPs.
//!
//! Outbound, the destination picks the peer; inbound, the decrypted packet's source must map
//! back to the peer it came from. As in WireGuard, a prefix belongs to one peer: when two peers
//! claim the same prefix the later one wins. Backed by `prefix-trie` (one trie per family).

use std::cell::Cell;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

/// The engine's handle for one peer (its WireGuard session-index prefix, 24 bits).
pub(crate) type PeerIdx = u32;

/// Longest-prefix-match tables from allowed IPs to peers.
#[derive(Default)]
pub(crate) struct CryptokeyRoutes {
    v4: PrefixMap<Ipv4Net, PeerIdx>,
    v6: PrefixMap<Ipv6Net, PeerIdx>,
    /// The last answer: a flow's packets (and its replies' sources) repeat one address, so
    /// this skips most trie walks. Inserting clears it.
    last: Cell<Option<(IpAddr, Option<PeerIdx>)>>,
}

impl CryptokeyRoutes {
    /// Makes `peer` the owner of `net` (host bits are ignored).
    pub(crate) fn insert(&mut self, net: IpNet, peer: PeerIdx) {
        self.last.set(None);
        match net.trunc() {
            IpNet::V4(n) => {
                self.v4.insert(n, peer);
            }
            IpNet::V6(n) => {
                self.v6.insert(n, peer);
            }
        }
    }

    /// The peer whose most specific allowed prefix contains `addr`.
    pub(crate) fn lookup(&self, addr: IpAddr) -> Option<PeerIdx> {
        if let Some((cached, peer)) = self.last.get()
            && cached == addr
        {
            return peer;
        }
        let peer = match addr {
            IpAddr::V4(a) => self.v4.get_lpm(&Ipv4Net::from(a)).map(|(_, p)| *p),
            IpAddr::V6(a) => self.v6.get_lpm(&Ipv6Net::from(a)).map(|(_, p)| *p),
        };
        self.last.set(Some((addr, peer)));
        peer
    }

    /// Number of prefixes held.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_in_both_families() {
        let mut r = CryptokeyRoutes::default();
        r.insert(net("10.0.0.0/8"), 1);
        r.insert(net("10.1.0.0/16"), 2);
        r.insert(net("fd00::/48"), 4);
        r.insert(net("fd00::5/128"), 5);
        assert_eq!(r.lookup("10.1.2.3".parse().unwrap()), Some(2));
        r.insert(net("10.1.2.3/32"), 3);
        assert_eq!(
            r.lookup("10.1.2.3".parse().unwrap()),
            Some(3),
            "insert clears the cache"
        );
        assert_eq!(r.lookup("10.9.9.9".parse().unwrap()), Some(1));
        assert_eq!(r.lookup("10.1.9.9".parse().unwrap()), Some(2));
        assert_eq!(r.lookup("10.1.2.3".parse().unwrap()), Some(3));
        assert_eq!(r.lookup("11.0.0.1".parse().unwrap()), None);
        assert_eq!(r.lookup("fd00::7".parse().unwrap()), Some(4));
        assert_eq!(r.lookup("fd00::5".parse().unwrap()), Some(5));
        assert_eq!(r.lookup("fd01::5".parse().unwrap()), None);
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn host_bits_are_ignored_and_later_claims_win() {
        let mut r = CryptokeyRoutes::default();
        r.insert(net("192.168.1.77/24"), 1);
        r.insert(net("192.168.1.0/24"), 2);
        assert_eq!(r.lookup("192.168.1.1".parse().unwrap()), Some(2));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn scales_to_a_hundred_thousand_peers() {
        let mut r = CryptokeyRoutes::default();
        for i in 0..100_000u32 {
            let addr = std::net::Ipv4Addr::from(0x6440_0000 + i);
            r.insert(IpNet::V4(Ipv4Net::new(addr, 32).unwrap()), i);
        }
        assert_eq!(r.len(), 100_000);
        assert_eq!(
            r.lookup(std::net::Ipv4Addr::from(0x6440_0000 + 54_321).into()),
            Some(54_321)
        );
        assert_eq!(
            r.lookup(std::net::Ipv4Addr::from(0x6440_0000 + 100_000).into()),
            None
        );
    }
}
