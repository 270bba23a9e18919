//! Fragments after the first carry no transport header, so they cannot be decided alone: the
//! verdict on a packet's first fragment is remembered under its (addresses, protocol,
//! identification) for the fragments that follow, until the last one passes or 30 s go by.
//! A later fragment with no remembered first fragment (denied, or arriving first) is dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::headers::FragmentKey;

/// How long the fragments of one packet may trail its first fragment.
const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Packets being fragmented at once, at most.
const MAX_PACKETS: usize = 4096;

/// Accepted first fragments whose later fragments may pass.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    open: HashMap<FragmentKey, (usize, Instant), foldhash::fast::RandomState>,
}

impl Fragments {
    /// Remembers that the packet `key` was accepted and counts against hit slot `slot`; false
    /// when too many packets are in flight (its later fragments will be dropped).
    pub(crate) fn accept(&mut self, now: Instant, key: FragmentKey, slot: usize) -> bool {
        if self.open.len() >= MAX_PACKETS && !self.open.contains_key(&key) {
            self.open.retain(|_, (_, expires)| *expires > now);
            if self.open.len() >= MAX_PACKETS {
                return false;
            }
        }
        self.open.insert(key, (slot, now + FRAGMENT_TIMEOUT));
        true
    }

    /// The hit slot of a later fragment's packet, if its first fragment was accepted; the
    /// `last` fragment closes the packet.
    pub(crate) fn later(&mut self, now: Instant, key: &FragmentKey, last: bool) -> Option<usize> {
        let &(slot, expires) = self.open.get(key)?;
        if expires <= now || last {
            self.open.remove(key);
        }
        (expires > now).then_some(slot)
    }

    /// Forgets every packet (a new policy decides their fragments afresh).
    pub(crate) fn clear(&mut self) {
        self.open.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: "100.64.0.1".parse().unwrap(),
            dst: "100.64.0.2".parse().unwrap(),
            proto: 17,
            id,
        }
    }

    #[test]
    fn later_fragments_follow_their_first_until_the_last_or_the_timeout() {
        let t0 = Instant::now();
        let mut f = Fragments::default();
        assert_eq!(f.later(t0, &key(1), false), None, "no first fragment seen");
        assert!(f.accept(t0, key(1), 3));
        assert_eq!(f.later(t0, &key(1), false), Some(3));
        assert_eq!(f.later(t0, &key(1), true), Some(3));
        assert_eq!(
            f.later(t0, &key(1), false),
            None,
            "closed by the last fragment"
        );
        assert!(f.accept(t0, key(2), 4));
        assert_eq!(f.later(t0 + FRAGMENT_TIMEOUT, &key(2), false), None);
    }

    #[test]
    fn bounded() {
        let t0 = Instant::now();
        let mut f = Fragments::default();
        for id in 0..MAX_PACKETS {
            assert!(f.accept(t0, key(u32::try_from(id).unwrap()), 0));
        }
        assert!(!f.accept(t0, key(u32::MAX), 0));
        assert!(f.accept(t0 + FRAGMENT_TIMEOUT, key(u32::MAX), 0));
    }
}
