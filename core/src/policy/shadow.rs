//! Shadowed rules: a rule that can never decide a packet because earlier rules match every
//! packet it would match. Reported as `cvlan::shadowed-rule` warnings.
//!
//! A rule matches the box `from × to × services`. Rule `j` is shadowed when its box lies
//! inside the union of the earlier rules' boxes. Two checks, both exact (no false warning):
//! 1. one earlier rule whose from, to and services each cover rule `j`'s;
//! 2. otherwise, the union of the (at most 64) earlier rules that overlap rule `j`: the
//!    services are cut into pieces on which the set of covering rules is constant, then the
//!    from addresses likewise, and on each piece the union of those rules' `to` sets must
//!    cover rule `j`'s. This second check stops after a fixed amount of work per rule and per
//!    policy (counted in range steps, so the outcome is deterministic), so a huge policy can
//!    leave a union-shadowed rule unreported but never reports a rule wrongly.
//!
//! Rules whose from, to or services are empty match nothing at all and are not reported here.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::FastMap;

use cvlan_schema::Diagnostic;

use crate::addrset::{AddrSet, Point, Ranges};
use crate::policy::index::{PolicyIndex, SetId};
use crate::policy::service::ServiceSet;

/// Code of the warning for a rule that earlier rules shadow.
pub const SHADOWED_RULE: &str = "cvlan::shadowed-rule";

/// Candidates beyond this many make check 2 give up for a rule.
const MAX_UNION_CANDIDATES: usize = 64;
/// Segment × candidate steps check 2 may spend on one rule.
const UNION_BUDGET: usize = 1 << 18;
/// Range steps check 2 may spend on the whole policy (finding candidates and covering).
const POLICY_BUDGET: usize = 1 << 23;
/// Earlier rules named in one warning's labels.
const MAX_LABELS: usize = 5;

/// A rule's box with its address sets interned.
struct RuleBox<'s> {
    from: usize,
    to: usize,
    services: &'s ServiceSet,
}

/// Interned rule-level address sets (the union of a rule's selectors) with memoised relations.
struct Sets<'i> {
    /// A rule with one selector borrows the index's set; only unions are built.
    sets: Vec<Cow<'i, AddrSet>>,
    counts: Vec<u128>,
    subset: FastMap<(usize, usize), bool>,
    meets: FastMap<(usize, usize), bool>,
    /// Work (range steps) check 2 may still spend over the whole policy.
    budget: usize,
}

impl Sets<'_> {
    fn is_subset(&mut self, a: usize, b: usize) -> bool {
        if a == b {
            return true;
        }
        if self.counts[a] > self.counts[b] {
            return false;
        }
        let sets = &self.sets;
        *self
            .subset
            .entry((a, b))
            .or_insert_with(|| sets[a].is_subset(&sets[b]))
    }

    /// Whether two sets meet, charged to the budget; `None` once the budget is spent.
    fn intersects(&mut self, a: usize, b: usize) -> Option<bool> {
        let key = (a.min(b), a.max(b));
        if let Some(&known) = self.meets.get(&key) {
            return Some(known);
        }
        let cost = range_count(&self.sets[a]) + range_count(&self.sets[b]);
        self.budget = self.budget.checked_sub(cost)?;
        let meets = self.sets[a].intersects(&self.sets[b]);
        self.meets.insert(key, meets);
        Some(meets)
    }
}

fn range_count(set: &AddrSet) -> usize {
    set.v4.ranges().len() + set.v6.ranges().len()
}

/// Every shadowed rule of the index's policy, in file order.
pub fn shadowed_rules<'i>(index: &'i PolicyIndex<'_>) -> Vec<Diagnostic> {
    let mut interned: FastMap<&[SetId], usize> = FastMap::default();
    let mut unions: Vec<Cow<'i, AddrSet>> = Vec::new();
    let mut intern = |ids: &'i [SetId]| {
        *interned.entry(ids).or_insert_with(|| {
            unions.push(match ids {
                [one] => Cow::Borrowed(&index.sets()[*one].addrs),
                _ => Cow::Owned(index.union_of(ids)),
            });
            unions.len() - 1
        })
    };
    let ids: Vec<(usize, usize)> = index
        .rules()
        .iter()
        .map(|rule| (intern(&rule.from), intern(&rule.to)))
        .collect();
    let counts = unions.iter().map(|u| u.count()).collect();
    let mut sets = Sets {
        sets: unions,
        counts,
        subset: FastMap::default(),
        meets: FastMap::default(),
        budget: POLICY_BUDGET,
    };
    let boxes: Vec<Option<RuleBox<'i>>> = index
        .rules()
        .iter()
        .zip(ids)
        .map(|(rule, (from, to))| {
            let empty =
                sets.sets[from].is_empty() || sets.sets[to].is_empty() || rule.services.is_empty();
            (!empty).then_some(RuleBox {
                from,
                to,
                services: &rule.services,
            })
        })
        .collect();

    let mut out = Vec::new();
    for j in 0..boxes.len() {
        let Some(bj) = &boxes[j] else { continue };
        let single = (0..j).find(|&i| {
            boxes[i].as_ref().is_some_and(|bi| {
                bj.services.is_subset(bi.services)
                    && sets.is_subset(bj.to, bi.to)
                    && sets.is_subset(bj.from, bi.from)
            })
        });
        if let Some(i) = single {
            out.push(warning(index, j, &[i]));
            continue;
        }
        let Some(candidates) = union_candidates(&boxes, j, &mut sets) else {
            continue;
        };
        let cands: Vec<&RuleBox<'_>> = candidates
            .iter()
            .filter_map(|&i| boxes[i].as_ref())
            .collect();
        let mut budget = UNION_BUDGET.min(sets.budget);
        let covered = union_covers(&sets.sets, bj, &cands, &mut budget);
        sets.budget -= UNION_BUDGET.min(sets.budget) - budget;
        if covered == Some(true) {
            out.push(warning(index, j, &candidates));
        }
    }
    out
}

/// The earlier rules that overlap rule `j`, when there are 2 to 64 of them and the budget
/// allows finding them.
fn union_candidates(
    boxes: &[Option<RuleBox<'_>>],
    j: usize,
    sets: &mut Sets,
) -> Option<Vec<usize>> {
    let bj = boxes[j].as_ref()?;
    let mut out = Vec::new();
    for (i, bi) in boxes[..j].iter().enumerate() {
        let Some(bi) = bi else { continue };
        if bj.services.intersects(bi.services)
            && sets.intersects(bj.to, bi.to)?
            && sets.intersects(bj.from, bi.from)?
        {
            out.push(i);
            if out.len() > MAX_UNION_CANDIDATES {
                return None;
            }
        }
    }
    (out.len() >= 2).then_some(out)
}

/// Check 2: does the union of `cands` cover `target`? `None` when the work budget ran out.
fn union_covers(
    sets: &[Cow<'_, AddrSet>],
    target: &RuleBox<'_>,
    cands: &[&RuleBox<'_>],
    budget: &mut usize,
) -> Option<bool> {
    let all: u64 = if cands.len() == 64 {
        u64::MAX
    } else {
        (1u64 << cands.len()) - 1
    };
    let services: Vec<&ServiceSet> = cands.iter().map(|c| c.services).collect();
    let mut covered_to: FastMap<u64, bool> = FastMap::default();
    for service_mask in piece_masks(target.services, &services, all, budget)? {
        if service_mask == 0 {
            return Some(false);
        }
        let from = &sets[target.from];
        let v4: Vec<&Ranges<u32>> = cands.iter().map(|c| &sets[c.from].v4).collect();
        let v6: Vec<&Ranges<u128>> = cands.iter().map(|c| &sets[c.from].v6).collect();
        let mut from_masks = piece_masks(&from.v4, &v4, service_mask, budget)?;
        from_masks.extend(piece_masks(&from.v6, &v6, service_mask, budget)?);
        for from_mask in from_masks {
            if from_mask == 0 {
                return Some(false);
            }
            let ok = *covered_to.entry(from_mask).or_insert_with(|| {
                let tos = || {
                    cands
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| from_mask & (1 << k) != 0)
                        .map(|(_, c)| &sets[c.to])
                };
                let union = AddrSet {
                    v4: Ranges::union_all(tos().map(|s| &s.v4)),
                    v6: Ranges::union_all(tos().map(|s| &s.v6)),
                };
                sets[target.to].is_subset(&union)
            });
            if !ok {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// Cuts `target` into pieces on which membership in each of `parts` (restricted to `mask`)
/// is constant and returns the distinct membership masks. `None` when over budget.
fn piece_masks<T: Point>(
    target: &Ranges<T>,
    parts: &[&Ranges<T>],
    mask: u64,
    budget: &mut usize,
) -> Option<BTreeSet<u64>> {
    let active: Vec<usize> = (0..parts.len()).filter(|k| mask & (1 << k) != 0).collect();
    // Ordered, so the work spent before an early exit (and so the budget left for later
    // rules) does not depend on hashing: the warnings are the same on every run.
    let mut masks = BTreeSet::new();
    let mut starts = Vec::new();
    for &(a, b) in target.ranges() {
        starts.clear();
        starts.push(a);
        for &k in &active {
            parts[k].boundaries_within(a, b, &mut starts);
        }
        starts.sort_unstable();
        starts.dedup();
        *budget = budget.checked_sub(starts.len() * active.len().max(1))?;
        for &p in &starts {
            let m = active
                .iter()
                .filter(|&&k| parts[k].contains(p))
                .fold(0u64, |m, &k| m | (1 << k));
            masks.insert(m);
        }
    }
    Some(masks)
}

fn warning(index: &PolicyIndex<'_>, j: usize, by: &[usize]) -> Diagnostic {
    let rules = &index.network().rules;
    let rule = &rules[j];
    let name = &rule.name.value;
    let names: Vec<String> = by
        .iter()
        .map(|&i| format!("\"{}\"", rules[i].name.value))
        .collect();
    let message = if by.len() == 1 {
        format!(
            "rule \"{name}\" can never match: earlier rule {} matches every packet it would",
            names[0]
        )
    } else {
        format!(
            "rule \"{name}\" can never match: earlier rules {} together match every packet it would",
            names.join(", ")
        )
    };
    let mut d = Diagnostic::warning(
        SHADOWED_RULE,
        message,
        rule.name.span,
        "this rule never decides a packet",
    )
    .with_help(format!(
        "remove rule \"{name}\", or move it above {} if it should take precedence",
        names.join(" and ")
    ));
    for &i in by.iter().take(MAX_LABELS) {
        d = d.with_label(rules[i].name.span, "matches first");
    }
    d
}
