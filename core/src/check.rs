//! The whole of `cvlanctl check` after parsing: allocate addresses, find shadowed rules and,
//! when the file has no errors, run its policy-tests. Every finding is a diagnostic added to
//! the parser's, ordered by file and position.

use cvlan_schema::model::Network;
use cvlan_schema::{Checked, Diagnostic, SourceMap};

use crate::alloc::{Allocation, allocate};
use crate::policy::{PolicyIndex, TestCounts, run_policy_tests, shadowed_rules};

/// Everything `cvlanctl check` reports about a network file.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Every file read.
    pub sources: SourceMap,
    /// The model, when the parser produced one.
    pub network: Option<Network>,
    /// The addresses, when there is a model.
    pub allocation: Option<Allocation>,
    /// Every diagnostic: the parser's, then allocation, shadowing and policy-test findings,
    /// ordered by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Policy-test lines passed and failed (both 0 when tests did not run).
    pub tests: TestCounts,
}

impl CheckReport {
    /// True when no diagnostic is an error (warnings allowed): `cvlanctl check` exits 0.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Runs the checks of cvlan-core on what the parser made of a network file
/// (`cvlan_schema::load_network` or `parse_network`): `cvlanctl check` is this plus rendering.
pub fn check(checked: Checked) -> CheckReport {
    check_parts(checked.sources, checked.network, checked.diagnostics)
}

/// Runs the checks of cvlan-core on a parsed file: `network` is the parser's model (absent
/// when the file could not be read into one) and `diagnostics` the parser's findings.
/// Policy-tests run only when no error was found before them.
pub fn check_parts(
    sources: SourceMap,
    network: Option<Network>,
    mut diagnostics: Vec<Diagnostic>,
) -> CheckReport {
    let mut tests = TestCounts::default();
    let allocation = network.as_ref().map(|network| {
        let allocation = allocate(network);
        diagnostics.extend_from_slice(allocation.diagnostics());
        let index = PolicyIndex::new(network, &allocation);
        diagnostics.extend(shadowed_rules(&index));
        if !diagnostics.iter().any(Diagnostic::is_error) {
            let run = run_policy_tests(&index);
            tests = run.counts;
            diagnostics.extend(run.diagnostics);
        }
        allocation
    });
    diagnostics.sort_by_key(|d| (d.span.source, d.span.offset));
    CheckReport {
        sources,
        network,
        allocation,
        diagnostics,
        tests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::OVERLAY_FULL;
    use crate::builder::{NetworkBuilder, NodeSpec, RuleSpec};
    use crate::policy::{POLICY_TEST_FAILED, SHADOWED_RULE};
    use cvlan_schema::Span;
    use cvlan_schema::model::{Selector, TestEndpoint, TestPort, Verdict};

    fn net(overlay: &str, expect: Verdict) -> Network {
        NetworkBuilder::new("t")
            .overlay(overlay.parse().unwrap())
            .node(NodeSpec::new("a"))
            .node(NodeSpec::new("b"))
            .node(NodeSpec::new("c"))
            .rule(RuleSpec::allow("all").from(Selector::Any).to(Selector::Any))
            .rule(
                RuleSpec::deny("never")
                    .from(Selector::Node("a".into()))
                    .to(Selector::Any),
            )
            .test(
                "a reaches b",
                [(
                    expect,
                    TestEndpoint::Name("a".into()),
                    TestEndpoint::Name("b".into()),
                    TestPort::Tcp(22),
                )],
            )
            .build()
    }

    fn codes(report: &CheckReport) -> Vec<&'static str> {
        report.diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn a_valid_file_gets_warnings_and_test_counts() {
        let report = check_parts(
            SourceMap::default(),
            Some(net("100.64.0.0/10", Verdict::Accept)),
            Vec::new(),
        );
        assert!(report.is_ok());
        assert_eq!(codes(&report), vec![SHADOWED_RULE]);
        assert_eq!((report.tests.passed, report.tests.failed), (1, 0));
        assert!(report.allocation.is_some());
    }

    #[test]
    fn a_failing_test_is_an_error() {
        let report = check_parts(
            SourceMap::default(),
            Some(net("100.64.0.0/10", Verdict::Reject)),
            Vec::new(),
        );
        assert!(!report.is_ok());
        assert_eq!(codes(&report), vec![SHADOWED_RULE, POLICY_TEST_FAILED]);
        assert_eq!((report.tests.passed, report.tests.failed), (0, 1));
    }

    #[test]
    fn tests_do_not_run_after_an_error() {
        // A /31 holds two nodes; the third gets no address, an error.
        let report = check_parts(
            SourceMap::default(),
            Some(net("10.0.0.0/31", Verdict::Accept)),
            Vec::new(),
        );
        assert!(codes(&report).contains(&OVERLAY_FULL));
        assert_eq!((report.tests.passed, report.tests.failed), (0, 0));
        let parse_error = Diagnostic::error("cvlan::syntax", "bad", Span::default(), "here");
        let report = check_parts(SourceMap::default(), None, vec![parse_error]);
        assert!(!report.is_ok());
        assert!(report.allocation.is_none());
        assert_eq!(codes(&report), vec!["cvlan::syntax"]);
    }
}
