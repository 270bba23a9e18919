//! Policy hit counters: packets and bytes per rule and for the default deny, inbound and
//! outbound. Counters are kept by rule name across policy changes, so a rule that survives an
//! edit keeps counting from where it was.

use std::collections::HashMap;

use cvlan_core::netmap::RuleAction;
use cvlan_core::policy::DEFAULT_DENY;
use cvlan_core::policy::compiled::{CompiledRule, Direction};

/// Packets and bytes (IP packet length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The counters of one rule, or of the default deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHits {
    /// The rule's name, or `default-deny`.
    pub name: String,
    /// The rule's position in the network's policy; `None` for the default deny.
    pub index: Option<usize>,
    /// Allow or deny (deny for the default deny).
    pub action: RuleAction,
    /// Packets arriving from peers that this rule decided (or whose flow it allowed).
    pub inbound: Counter,
    /// Packets leaving towards peers that this rule decided (or whose flow it allowed).
    pub outbound: Counter,
}

/// Counters indexed by rule slot, the default deny last.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hits {
    slots: Vec<[Counter; 2]>,
}

impl Hits {
    /// Zeroed counters for `rules` and the default deny.
    pub(crate) fn new(rules: usize) -> Self {
        Self {
            slots: vec![[Counter::default(); 2]; rules + 1],
        }
    }

    /// The slot of the default deny.
    pub(crate) fn default_deny(&self) -> usize {
        self.slots.len() - 1
    }

    /// Counts one packet of `bytes` for `slot` travelling `direction`.
    #[inline]
    pub(crate) fn add(&mut self, slot: usize, direction: Direction, bytes: u64) {
        if let Some(counters) = self.slots.get_mut(slot) {
            let c = &mut counters[direction.index()];
            c.packets += 1;
            c.bytes += bytes;
        }
    }

    /// The counters for `new` rules, carrying over those of rules of the same name in `old`.
    pub(crate) fn carry_over(&self, old: &[CompiledRule], new: &[CompiledRule]) -> Self {
        let by_name: HashMap<&str, [Counter; 2]> = old
            .iter()
            .zip(&self.slots)
            .map(|(r, c)| (r.name.as_str(), *c))
            .collect();
        let mut slots: Vec<[Counter; 2]> = new
            .iter()
            .map(|r| by_name.get(r.name.as_str()).copied().unwrap_or_default())
            .collect();
        slots.push(self.slots.last().copied().unwrap_or_default());
        Self { slots }
    }

    /// Every rule in policy order, then the default deny.
    pub(crate) fn snapshot(&self, rules: &[CompiledRule]) -> Vec<RuleHits> {
        let row = |name: String, index, action, c: &[Counter; 2]| RuleHits {
            name,
            index,
            action,
            outbound: c[Direction::Outbound.index()],
            inbound: c[Direction::Inbound.index()],
        };
        let mut out: Vec<RuleHits> = rules
            .iter()
            .zip(&self.slots)
            .map(|(r, c)| row(r.name.clone(), Some(r.index), r.action, c))
            .collect();
        if let Some(c) = self.slots.last() {
            out.push(row(DEFAULT_DENY.to_owned(), None, RuleAction::Deny, c));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, index: usize) -> CompiledRule {
        CompiledRule {
            name: name.into(),
            index,
            action: RuleAction::Allow,
        }
    }

    #[test]
    fn counters_follow_rule_names_across_policies() {
        let old = vec![rule("a", 0), rule("b", 1)];
        let mut hits = Hits::new(2);
        hits.add(0, Direction::Inbound, 100);
        hits.add(1, Direction::Outbound, 40);
        hits.add(hits.default_deny(), Direction::Inbound, 60);
        let new = vec![rule("c", 0), rule("b", 1)];
        let carried = hits.carry_over(&old, &new);
        let rows = carried.snapshot(&new);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].inbound, Counter::default(), "a is gone, c is new");
        assert_eq!(
            rows[1].outbound,
            Counter {
                packets: 1,
                bytes: 40
            }
        );
        assert_eq!(rows[2].name, DEFAULT_DENY);
        assert_eq!(
            rows[2].inbound,
            Counter {
                packets: 1,
                bytes: 60
            }
        );
    }
}
