//! cvlan-core on real network.kdl text: the repository's examples, diagnostics pointing at
//! the right lines, explain, and generated files agreeing with their models.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;

use cvlan_core::netmap::netmap_for;
use cvlan_core::policy::{POLICY_TEST_FAILED, PolicyIndex, SHADOWED_RULE};
use cvlan_core::synth::{SynthSpec, generate};
use cvlan_core::{CheckReport, allocate, check};
use cvlan_schema::values::{parse_test_endpoint, parse_test_port};
use cvlan_schema::{Diagnostic, load_network, parse_network};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn line(report: &CheckReport, d: &Diagnostic, label: usize) -> usize {
    report.sources.line_column(d.labels[label].span).0
}

#[test]
fn every_example_passes_check_with_its_tests() {
    let mut checked_files = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "kdl") {
            continue;
        }
        let report = check(load_network(&path).unwrap());
        let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert_eq!(report.tests.failed, 0, "{}", path.display());
        checked_files += 1;
    }
    assert!(checked_files >= 4);
}

const POLICY: &str = r#"network "lab" {
    overlay "10.99.0.0/16"
}
controller "ctl" address="ctl.lab.example:7443" public-key="ilo4ISc3XHEFbG3q54HXUKxqPtn2LcaGDrbFfYxKvtQ="
node "laptop" {
    tags "eng"
}
node "db-1" {
    tags "db"
}
policy {
    allow "eng-db" from="tag:eng" to="tag:db" ports="5432/tcp"
    deny "late" from="laptop" to="db-1" ports="5432/tcp"
}
policy-test "eng reaches the database" {
    accept from="laptop" to="db-1" port="5432/tcp"
    accept from="laptop" to="db-1" port="22/tcp"
}
"#;

#[test]
fn failures_and_shadows_point_at_their_lines() {
    let report = check(parse_network("policy.kdl", POLICY));
    assert!(!report.is_ok());
    assert_eq!((report.tests.passed, report.tests.failed), (1, 1));
    let shadow = report
        .diagnostics
        .iter()
        .find(|d| d.code == SHADOWED_RULE)
        .unwrap();
    assert_eq!(
        (line(&report, shadow, 0), line(&report, shadow, 1)),
        (13, 12)
    );
    let failed = report
        .diagnostics
        .iter()
        .find(|d| d.code == POLICY_TEST_FAILED)
        .unwrap();
    assert_eq!(line(&report, failed, 0), 17, "the failing test line");
    assert!(failed.message.contains("default-deny"));
    assert_eq!(failed.labels.len(), 1);
}

#[test]
fn explain_on_an_example_names_rule_and_selectors() {
    let checked = load_network(&examples().join("policy.kdl")).unwrap();
    let network = checked.network.unwrap();
    let alloc = allocate(&network);
    let index = PolicyIndex::new(&network, &alloc);
    let from = parse_test_endpoint("laptop-erin").unwrap();
    let to = parse_test_endpoint("build-1").unwrap();
    let e = index
        .explain_endpoints(&from, &to, parse_test_port("443/tcp").unwrap())
        .unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["verdict"], "accept");
    assert_eq!(json["rule"], "artefacts");
    assert_eq!(json["to"]["address"], "10.99.0.50");
    assert_eq!(json["matched"]["to"]["selector"], "10.99.0.50/32");
    let denied = index
        .explain_endpoints(
            &from,
            &parse_test_endpoint("db-1").unwrap(),
            parse_test_port("icmp").unwrap(),
        )
        .unwrap();
    assert_eq!(denied.rule, "no-contractors-in-prod");
    assert_eq!(
        denied.matched.unwrap().from.reason,
        "node laptop-erin is owned by erin@partner.example, a member of group contractors"
    );
    assert!(netmap_for(&network, &alloc, "laptop-erin").is_ok());
}

#[test]
fn generated_text_parses_to_its_model_and_passes() {
    let synth = generate(&SynthSpec::new(2000, 20, 6, 120));
    let report = check(parse_network("synth.kdl", &synth.text));
    let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.tests.failed, 0);
    assert_eq!(report.tests.passed, 10);
    let parsed = report.network.as_ref().unwrap();
    assert_eq!(parsed.nodes.len(), synth.network.nodes.len());
    assert_eq!(parsed.rules.len(), synth.network.rules.len());
    for (a, b) in parsed.rules.iter().zip(&synth.network.rules) {
        let from = |r: &cvlan_schema::model::Rule| {
            r.from.iter().map(|s| s.value.clone()).collect::<Vec<_>>()
        };
        assert_eq!(from(a), from(b), "{}", a.name.value);
        assert_eq!(
            a.ports.iter().map(|p| p.value).collect::<Vec<_>>(),
            b.ports.iter().map(|p| p.value).collect::<Vec<_>>()
        );
    }
    // Same names, same pins: the same addresses.
    let (pa, pb) = (
        report.allocation.as_ref().unwrap(),
        allocate(&synth.network),
    );
    assert_eq!(pa.rows(parsed), pb.rows(&synth.network));
}

#[test]
fn a_failing_test_labels_the_deciding_rule_line() {
    let text = POLICY.replace(
        r#"accept from="laptop" to="db-1" port="22/tcp""#,
        r#"reject from="laptop" to="db-1" port="5432/tcp""#,
    );
    let report = check(parse_network("policy.kdl", &text));
    assert_eq!((report.tests.passed, report.tests.failed), (1, 1));
    let failed = report
        .diagnostics
        .iter()
        .find(|d| d.code == POLICY_TEST_FAILED)
        .unwrap();
    assert!(
        failed.message.contains("rule \"eng-db\""),
        "{}",
        failed.message
    );
    assert_eq!(
        (line(&report, failed, 0), line(&report, failed, 1)),
        (17, 12)
    );
    assert!(failed.help.is_some());
}
