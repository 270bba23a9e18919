//! One address family as a lookup line: a point (an IPv4 or IPv6 address as an integer) maps
//! to a small value. Single addresses with their own value sit in a hash map (a peer's /32 is
//! one probe); everything else is a sorted list of interval starts searched by bisection.

use std::hash::Hash;

use ipnet::IpNet;

use crate::FastMap;
use crate::addrset::{Point, v4_bounds, v6_bounds};

/// An address family's integer form: `u32` for IPv4, `u128` for IPv6.
pub trait Family: Point + Hash + Send + Sync + 'static {
    /// The first and last address of `net` when it is of this family.
    fn bounds(net: &IpNet) -> Option<(Self, Self)>;
}

impl Family for u32 {
    fn bounds(net: &IpNet) -> Option<(Self, Self)> {
        match net {
            IpNet::V4(n) => Some(v4_bounds(n)),
            IpNet::V6(_) => None,
        }
    }
}

impl Family for u128 {
    fn bounds(net: &IpNet) -> Option<(Self, Self)> {
        match net {
            IpNet::V6(n) => Some(v6_bounds(n)),
            IpNet::V4(_) => None,
        }
    }
}

/// A total map from the points of one family to `u32` values.
#[derive(Debug, Clone)]
pub struct Line<T: Family> {
    /// Points whose value differs from the interval around them.
    exact: FastMap<T, u32>,
    /// Interval starts, ascending; the first is `T::MIN`.
    starts: Vec<T>,
    /// The value of each interval.
    values: Vec<u32>,
}

impl<T: Family> Line<T> {
    /// The line that maps every point to `value`.
    pub fn constant(value: u32) -> Self {
        Self {
            exact: FastMap::default(),
            starts: vec![T::MIN],
            values: vec![value],
        }
    }

    /// A line from intervals given as ascending `(start, value)` (the first at `T::MIN`;
    /// adjacent equal values are merged) and exact points that override them.
    pub fn new(intervals: impl IntoIterator<Item = (T, u32)>, exact: FastMap<T, u32>) -> Self {
        let mut starts = Vec::new();
        let mut values: Vec<u32> = Vec::new();
        for (start, value) in intervals {
            if values.last() == Some(&value) {
                continue;
            }
            starts.push(start);
            values.push(value);
        }
        if starts.first() != Some(&T::MIN) {
            starts.insert(0, T::MIN);
            values.insert(0, values.first().copied().unwrap_or(0));
        }
        Self {
            exact,
            starts,
            values,
        }
    }

    /// The value at `point`.
    #[inline]
    pub fn get(&self, point: T) -> u32 {
        if !self.exact.is_empty()
            && let Some(&v) = self.exact.get(&point)
        {
            return v;
        }
        self.interval_value(point)
    }

    /// The value of the interval around `point`, ignoring exact points.
    #[inline]
    pub fn interval_value(&self, point: T) -> u32 {
        let i = self.starts.partition_point(|s| *s <= point);
        self.values[i.saturating_sub(1)]
    }

    /// How many exact points and intervals the line holds.
    pub fn size(&self) -> (usize, usize) {
        (self.exact.len(), self.starts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_points_override_intervals_and_equal_neighbours_merge() {
        let mut exact = FastMap::default();
        exact.insert(15u32, 9);
        let line = Line::new([(0, 1), (10, 2), (20, 2), (30, 3)], exact);
        assert_eq!(line.size(), (1, 3));
        assert_eq!(line.get(0), 1);
        assert_eq!(line.get(9), 1);
        assert_eq!(line.get(10), 2);
        assert_eq!(line.get(15), 9);
        assert_eq!(line.get(29), 2);
        assert_eq!(line.get(u32::MAX), 3);
        assert_eq!(Line::<u128>::constant(4).get(u128::MAX), 4);
    }

    #[test]
    fn families_read_their_own_prefixes_only() {
        let v4: IpNet = "10.0.0.0/24".parse().unwrap();
        let v6: IpNet = "fd00::/64".parse().unwrap();
        assert_eq!(u32::bounds(&v4), Some((0x0a00_0000, 0x0a00_00ff)));
        assert_eq!(u32::bounds(&v6), None);
        assert!(u128::bounds(&v6).is_some());
    }
}
