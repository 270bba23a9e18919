//! Sets of points as sorted, merged, inclusive ranges: the representation of every resolved
//! selector (IPv4 and IPv6 addresses) and of service sets (protocol + port, see
//! [`crate::policy::service`]). Membership is a binary search; union, intersection,
//! subset and overlap are linear merges (galloping over long stretches).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An unsigned integer type the ranges are made of (`u32` for IPv4 and services, `u128` for IPv6).
pub trait Point: Copy + Ord + std::fmt::Debug {
    /// The smallest value.
    const MIN: Self;
    /// The largest value.
    const MAX: Self;
    /// The width in bits.
    const BITS: u32;
    /// The next value, if any.
    fn succ(self) -> Option<Self>;
    /// The value widened to `u128`.
    fn to_u128(self) -> u128;
    /// The value narrowed from `u128` (only called with values that fit).
    fn from_u128(v: u128) -> Self;
}

impl Point for u32 {
    const MIN: Self = 0;
    const MAX: Self = u32::MAX;
    const BITS: u32 = 32;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn from_u128(v: u128) -> Self {
        u32::try_from(v).unwrap_or(u32::MAX)
    }
}

impl Point for u128 {
    const MIN: Self = 0;
    const MAX: Self = u128::MAX;
    const BITS: u32 = 128;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128(v: u128) -> Self {
        v
    }
}

/// A set of points stored as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ranges<T> {
    ranges: Vec<(T, T)>,
}

impl<T: Point> Ranges<T> {
    /// The empty set.
    pub fn empty() -> Self {
        Self { ranges: Vec::new() }
    }

    /// The set of every point.
    pub fn full() -> Self {
        Self {
            ranges: vec![(T::MIN, T::MAX)],
        }
    }

    /// The inclusive range `first..=last` (empty when `first > last`).
    pub fn range(first: T, last: T) -> Self {
        if first > last {
            return Self::empty();
        }
        Self {
            ranges: vec![(first, last)],
        }
    }

    /// The union of arbitrary (unsorted, overlapping) inclusive ranges.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (T, T)>) -> Self {
        let mut v: Vec<(T, T)> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
        for r in v {
            push_merged(&mut out, r);
        }
        Self { ranges: out }
    }

    /// The ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    /// True when the set has no point.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The number of points, saturating at `u128::MAX`.
    pub fn count(&self) -> u128 {
        self.ranges.iter().fold(0u128, |acc, (a, b)| {
            acc.saturating_add(b.to_u128() - a.to_u128())
                .saturating_add(1)
        })
    }

    /// True when `x` is in the set.
    pub fn contains(&self, x: T) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < x);
        self.ranges.get(i).is_some_and(|r| r.0 <= x)
    }

    /// Every point of `self` or `other` (a linear merge).
    pub fn union(&self, other: &Self) -> Self {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let mut out: Vec<(T, T)> = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        let (mut i, mut j) = (0, 0);
        loop {
            let next = match (self.ranges.get(i), other.ranges.get(j)) {
                (Some(a), Some(b)) if a.0 <= b.0 => {
                    i += 1;
                    *a
                }
                (Some(_), Some(b)) | (None, Some(b)) => {
                    j += 1;
                    *b
                }
                (Some(a), None) => {
                    i += 1;
                    *a
                }
                (None, None) => break,
            };
            push_merged(&mut out, next);
        }
        Self { ranges: out }
    }

    /// The union of many sets (pairwise linear merges).
    pub fn union_all<'s>(sets: impl IntoIterator<Item = &'s Self>) -> Self
    where
        T: 's,
    {
        sets.into_iter().fold(Self::empty(), |acc, s| acc.union(s))
    }

    /// Every point in both sets.
    pub fn intersection(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while let (Some(&(a0, a1)), Some(&(b0, b1))) = (self.ranges.get(i), other.ranges.get(j)) {
            let lo = a0.max(b0);
            let hi = a1.min(b1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Self { ranges: out }
    }

    /// True when every point of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        let mut j = 0;
        for &(a0, a1) in &self.ranges {
            j = seek(&other.ranges, j, a0);
            match other.ranges.get(j) {
                Some(&(b0, b1)) if b0 <= a0 && a1 <= b1 => {}
                _ => return false,
            }
        }
        true
    }

    /// True when the sets share a point.
    pub fn intersects(&self, other: &Self) -> bool {
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a0, a1)), Some(&(b0, b1))) = (self.ranges.get(i), other.ranges.get(j)) {
            if a1 < b0 {
                i = seek(&self.ranges, i + 1, b0);
            } else if b1 < a0 {
                j = seek(&other.ranges, j + 1, a0);
            } else {
                return true;
            }
        }
        false
    }

    /// The points in `first..=last` at which membership may change: `first` and every range
    /// start and every point after a range end that lies inside the window.
    pub fn boundaries_within(&self, first: T, last: T, out: &mut Vec<T>) {
        let start = self.ranges.partition_point(|r| r.1 < first);
        for &(a, b) in &self.ranges[start..] {
            if a > last {
                break;
            }
            if a > first {
                out.push(a);
            }
            if let Some(after) = b.succ().filter(|n| *n <= last) {
                out.push(after);
            }
        }
    }
}

/// The first index at or after `from` whose range ends at or after `x`: galloping, then a
/// binary search, so skipping far ahead costs a logarithm and skipping nothing costs one step.
fn seek<T: Point>(ranges: &[(T, T)], from: usize, x: T) -> usize {
    let mut lo = from;
    let mut step = 1;
    loop {
        let probe = lo + step - 1;
        let Some(r) = ranges.get(probe) else {
            return lo
                + ranges
                    .get(lo..)
                    .map_or(0, |rest| rest.partition_point(|r| r.1 < x));
        };
        if r.1 >= x {
            return lo + ranges[lo..=probe].partition_point(|r| r.1 < x);
        }
        lo = probe + 1;
        step *= 2;
    }
}

/// Appends a range that starts at or after the last one, merging when they touch.
fn push_merged<T: Point>(out: &mut Vec<(T, T)>, (a, b): (T, T)) {
    match out.last_mut() {
        Some(last) if last.1.succ().is_none_or(|next| a <= next) => {
            last.1 = last.1.max(b);
        }
        _ => out.push((a, b)),
    }
}

/// The smallest list of CIDR blocks `(start, prefix_len)` that covers `first..=last` exactly.
fn cidr_blocks<T: Point>(first: T, last: T) -> Vec<(T, u8)> {
    let (mut a, b) = (first.to_u128(), last.to_u128());
    let mut out = Vec::new();
    loop {
        let remaining_bits = if a == 0 && b == T::MAX.to_u128() {
            T::BITS
        } else {
            (b - a + 1).ilog2()
        };
        let align_bits = if a == 0 {
            T::BITS
        } else {
            a.trailing_zeros().min(T::BITS)
        };
        let bits = remaining_bits.min(align_bits);
        out.push((T::from_u128(a), u8::try_from(T::BITS - bits).unwrap_or(0)));
        if bits == T::BITS {
            break;
        }
        let end = a + ((1u128 << bits) - 1);
        if end >= b {
            break;
        }
        a = end + 1;
    }
    out
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AddrSet {
    /// The IPv4 part.
    pub v4: Ranges<u32>,
    /// The IPv6 part.
    pub v6: Ranges<u128>,
}

impl AddrSet {
    /// No address.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every IPv4 and IPv6 address.
    pub fn all() -> Self {
        Self {
            v4: Ranges::full(),
            v6: Ranges::full(),
        }
    }

    /// The addresses of these prefixes.
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push(v4_bounds(n)),
                IpNet::V6(n) => v6.push(v6_bounds(n)),
            }
        }
        Self {
            v4: Ranges::from_ranges(v4),
            v6: Ranges::from_ranges(v6),
        }
    }

    /// These single addresses.
    pub fn from_addrs(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for addr in addrs {
            match addr {
                IpAddr::V4(a) => v4.push((u32::from(a), u32::from(a))),
                IpAddr::V6(a) => v6.push((u128::from(a), u128::from(a))),
            }
        }
        Self {
            v4: Ranges::from_ranges(v4),
            v6: Ranges::from_ranges(v6),
        }
    }

    /// True when there is no address in the set.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// True when `addr` is in the set.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    /// Every address in either set.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    /// Every address in both sets.
    pub fn intersection(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }

    /// True when every address of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.v4.is_subset(&other.v4) && self.v6.is_subset(&other.v6)
    }

    /// True when the sets share an address.
    pub fn intersects(&self, other: &Self) -> bool {
        self.v4.intersects(&other.v4) || self.v6.intersects(&other.v6)
    }

    /// The number of addresses, saturating.
    pub fn count(&self) -> u128 {
        self.v4.count().saturating_add(self.v6.count())
    }

    /// The smallest CIDR list that covers exactly this set, IPv4 first, each family ascending.
    pub fn to_nets(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(a, b) in self.v4.ranges() {
            for (start, len) in cidr_blocks(a, b) {
                if let Ok(net) = Ipv4Net::new(Ipv4Addr::from(start), len) {
                    out.push(IpNet::V4(net));
                }
            }
        }
        for &(a, b) in self.v6.ranges() {
            for (start, len) in cidr_blocks(a, b) {
                if let Ok(net) = Ipv6Net::new(Ipv6Addr::from(start), len) {
                    out.push(IpNet::V6(net));
                }
            }
        }
        out
    }
}

/// The first and last address of an IPv4 prefix as integers.
pub fn v4_bounds(net: &Ipv4Net) -> (u32, u32) {
    (u32::from(net.network()), u32::from(net.broadcast()))
}

/// The first and last address of an IPv6 prefix as integers.
pub fn v6_bounds(net: &Ipv6Net) -> (u128, u128) {
    (u128::from(net.network()), u128::from(net.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ranges: &[(u32, u32)]) -> Ranges<u32> {
        Ranges::from_ranges(ranges.iter().copied())
    }

    fn naive(ranges: &[(u32, u32)]) -> std::collections::BTreeSet<u32> {
        ranges
            .iter()
            .filter(|(a, b)| a <= b)
            .flat_map(|&(a, b)| a..=b)
            .collect()
    }

    fn small_ranges() -> impl Strategy<Value = Vec<(u32, u32)>> {
        prop::collection::vec((0u32..300, 0u32..8).prop_map(|(a, l)| (a, a + l)), 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn set_operations_agree_with_a_naive_model(a in small_ranges(), b in small_ranges()) {
            let (sa, sb) = (set(&a), set(&b));
            let (na, nb) = (naive(&a), naive(&b));
            let to_vec = |s: &Ranges<u32>| naive(s.ranges());
            prop_assert_eq!(to_vec(&sa.union(&sb)), na.union(&nb).copied().collect());
            prop_assert_eq!(to_vec(&sa.intersection(&sb)), na.intersection(&nb).copied().collect());
            prop_assert_eq!(sa.is_subset(&sb), na.is_subset(&nb));
            prop_assert_eq!(sa.intersects(&sb), !na.is_disjoint(&nb));
            prop_assert_eq!(sa.count(), na.len() as u128);
            for x in 0..310 {
                prop_assert_eq!(sa.contains(x), na.contains(&x));
            }
            // Normal form: sorted, disjoint, never adjacent.
            for w in sa.ranges().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
        }

        #[test]
        fn cidr_cover_is_exact(a in any::<u32>(), len in 0u32..5000) {
            let b = a.saturating_add(len);
            let nets = AddrSet { v4: Ranges::range(a, b), v6: Ranges::empty() }.to_nets();
            let back = AddrSet::from_nets(&nets);
            prop_assert_eq!(back.v4.ranges(), &[(a, b)][..]);
        }
    }

    #[test]
    fn full_ranges_convert_to_default_routes() {
        let nets = AddrSet::all().to_nets();
        assert_eq!(
            nets,
            vec![
                "0.0.0.0/0".parse::<IpNet>().unwrap(),
                "::/0".parse().unwrap()
            ]
        );
    }

    #[test]
    fn boundaries_are_the_points_where_membership_changes() {
        let s = set(&[(10, 19), (30, 39)]);
        let mut out = Vec::new();
        s.boundaries_within(15, 35, &mut out);
        assert_eq!(out, vec![20, 30]);
    }
}
