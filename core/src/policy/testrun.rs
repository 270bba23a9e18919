//! The policy-test runner: evaluates every `accept`/`reject` line of every `policy-test`
//! block with the reference evaluator; each failing line becomes a
//! `cvlan::policy-test-failed` error that names the deciding rule.

use cvlan_schema::Diagnostic;
use cvlan_schema::model::{TestCase, TestEndpoint, Verdict};
use serde::Serialize;

use crate::policy::index::{Packet, PolicyIndex};
use crate::policy::service::format_port_spec;
use crate::policy::{DEFAULT_DENY, verdict_str};

/// Code of the error for a policy-test line whose packet got the other verdict.
pub const POLICY_TEST_FAILED: &str = "cvlan::policy-test-failed";

/// How many policy-test lines passed and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TestCounts {
    /// Lines whose packet got the expected verdict.
    pub passed: usize,
    /// Lines that did not.
    pub failed: usize,
}

/// The result of running a network's policy-tests.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    /// The counts.
    pub counts: TestCounts,
    /// One error per failing line, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

fn endpoint_text(e: &TestEndpoint) -> String {
    match e {
        TestEndpoint::Name(n) => n.clone(),
        TestEndpoint::Address(a) => a.to_string(),
    }
}

/// Runs every policy-test line of the index's network.
pub fn run_policy_tests(index: &PolicyIndex<'_>) -> TestRun {
    let mut run = TestRun::default();
    for test in &index.network().tests {
        for case in &test.cases {
            match check_case(index, &test.name.value, case) {
                None => run.counts.passed += 1,
                Some(d) => {
                    run.counts.failed += 1;
                    run.diagnostics.push(d);
                }
            }
        }
    }
    run
}

/// `None` when the case passes, else the error to report.
fn check_case(index: &PolicyIndex<'_>, test: &str, case: &TestCase) -> Option<Diagnostic> {
    let packet_text = format!(
        "{} → {} {}",
        endpoint_text(&case.from),
        endpoint_text(&case.to),
        format_port_spec(case.port.value)
    );
    let expected = verdict_str(case.expect);
    let (src, dst) = match index.resolve_pair(&case.from, &case.to) {
        Ok(pair) => pair,
        Err(e) => {
            return Some(
                Diagnostic::error(
                    POLICY_TEST_FAILED,
                    format!("policy test \"{test}\" cannot run {packet_text}: {e}"),
                    case.span,
                    format!("expected {expected}, but the packet cannot be built"),
                )
                .with_help("name a node or vrouter of this network, or give one address"),
            );
        }
    };
    let decision = index.evaluate(&Packet {
        src,
        dst,
        port: case.port.value,
    });
    if decision.verdict == case.expect {
        return None;
    }
    let got = verdict_str(decision.verdict);
    let explain = format!(
        "`cvlanctl policy explain --from {} --to {} --port {}` shows why",
        endpoint_text(&case.from),
        endpoint_text(&case.to),
        format_port_spec(case.port.value)
    );
    let network = index.network();
    let diagnostic = match decision.rule {
        Some(i) => {
            let rule = &network.rules[i];
            let name = &rule.name.value;
            let action = match decision.verdict {
                Verdict::Accept => "allow",
                Verdict::Reject => "deny",
            };
            Diagnostic::error(
                POLICY_TEST_FAILED,
                format!("policy test \"{test}\" failed: {packet_text} is {got}ed by rule \"{name}\", expected {expected}"),
                case.span,
                format!("expected {expected}"),
            )
            .with_label(rule.span, format!("rule \"{name}\" ({action}) decides this packet"))
            .with_help(format!(
                "change rule \"{name}\" or add an earlier rule for this packet, or fix the test; {explain}"
            ))
        }
        None => Diagnostic::error(
            POLICY_TEST_FAILED,
            format!("policy test \"{test}\" failed: {packet_text} is rejected by {DEFAULT_DENY} (no rule matches), expected {expected}"),
            case.span,
            format!("expected {expected}"),
        )
        .with_help(format!("add an allow rule that matches this packet, or fix the test; {explain}")),
    };
    Some(diagnostic)
}
