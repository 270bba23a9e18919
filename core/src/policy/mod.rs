//! Policy: the reference evaluator and everything built on it (explain, policy-tests,
//! shadowed-rule detection). Semantics are exactly those of network-kdl.md: rules in file
//! order, the first whose from, to, proto and ports match decides, no match is a deny.

pub mod compiled;
pub mod explain;
pub mod index;
pub mod service;
pub mod shadow;
pub mod testrun;

use cvlan_schema::model::Verdict;

pub use compiled::{CompiledPolicy, Direction, Outcome};
pub use explain::{DEFAULT_DENY, EndpointError, Explanation, selector_text};
pub use index::{Decision, Packet, PolicyIndex};
pub use shadow::{SHADOWED_RULE, shadowed_rules};
pub use testrun::{POLICY_TEST_FAILED, TestCounts, TestRun, run_policy_tests};

/// `"accept"` or `"reject"`.
pub fn verdict_str(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Accept => "accept",
        Verdict::Reject => "reject",
    }
}

/// Serializes a verdict as `"accept"` or `"reject"`.
pub(crate) fn serialize_verdict<S: serde::Serializer>(
    verdict: &Verdict,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(verdict_str(*verdict))
}
