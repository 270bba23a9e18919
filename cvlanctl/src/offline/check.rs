//! `cvlanctl check`: parse, validate and run policy-tests, for people (miette's report on
//! stderr) or scripts (one JSON document on stdout). Host files (cvland.kdl, vrouterd.kdl)
//! are checked in their own language with the same diagnostics.

use cvlan_core::CheckReport;
use cvlan_schema::AnyChecked;
use cvlan_schema::report::{JsonDiagnostic, group_warnings, render_human, to_json};
use serde::Serialize;

use crate::cli::{CheckArgs, Format};
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{print_err, print_json, print_text};

/// The JSON document of `check --format json`.
#[derive(Debug, Serialize)]
struct CheckJson {
    ok: bool,
    diagnostics: Vec<JsonDiagnostic>,
    tests: TestsJson,
}

/// Policy-test counts over every file checked.
#[derive(Debug, Default, Serialize)]
struct TestsJson {
    passed: usize,
    failed: usize,
}

/// Runs `check`.
pub fn run(args: &CheckArgs, json: bool) -> Outcome {
    let json = json || args.format == Format::Json;
    let mut document = CheckJson {
        ok: true,
        diagnostics: Vec::new(),
        tests: TestsJson::default(),
    };
    for path in &args.files {
        let report = load_any(path)?;
        let ok = report.is_ok();
        document.ok &= ok;
        document.tests.passed += report.tests.passed;
        document.tests.failed += report.tests.failed;
        if json {
            document
                .diagnostics
                .extend(to_json(&report.sources, &report.diagnostics));
            continue;
        }
        if !report.diagnostics.is_empty() {
            print_err(&human_report(&report));
        }
        let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = report.diagnostics.len() - errors;
        let verdict = if ok { "ok" } else { "invalid" };
        print_text(&format!(
            "{}: {verdict} ({errors} error{}, {warnings} warning{}, {} policy-test{} passed, {} failed)",
            path.display(),
            plural(errors),
            plural(warnings),
            report.tests.passed,
            plural(report.tests.passed),
            report.tests.failed,
        ))?;
    }
    if json {
        print_json(&document)?;
    }
    Ok(Answer::from_ok(document.ok))
}

/// Warnings of one code shown in full in the human report before the rest are counted: a
/// large network's expected warnings (address collisions) must not bury the others.
const WARNINGS_IN_FULL: usize = 10;

/// The human report of one file: miette's report of every error and of the first few
/// warnings of each code, then one line per code for the warnings left out.
fn human_report(report: &CheckReport) -> String {
    let grouped = group_warnings(&report.diagnostics, WARNINGS_IN_FULL);
    let mut out = render_human(&report.sources, grouped.shown);
    for hidden in &grouped.hidden {
        out.push_str(&format!("{hidden} — `--format json` lists them all\n"));
    }
    out
}

/// Checks one file of either language; a host file has no policy-tests.
fn load_any(path: &std::path::Path) -> Result<CheckReport, Failure> {
    let checked = cvlan_schema::load_any(path).map_err(Failure::from)?;
    Ok(match checked {
        AnyChecked::Network(checked) => cvlan_core::check(*checked),
        AnyChecked::Host(host) => CheckReport {
            sources: host.sources,
            network: None,
            allocation: None,
            diagnostics: host.diagnostics,
            tests: Default::default(),
        },
        AnyChecked::Controller(controller) => CheckReport {
            sources: controller.sources,
            network: None,
            allocation: None,
            diagnostics: controller.diagnostics,
            tests: Default::default(),
        },
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
