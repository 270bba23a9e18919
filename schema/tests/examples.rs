//! The example files: the valid ones check without errors, and every file in
//! examples/invalid/ yields exactly the error its `// expect:` line names.

use std::path::{Path, PathBuf};

use cvlan_schema::report::render_human;
use cvlan_schema::{Checked, load_host, load_network};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The `.kdl` files directly inside `dir`, sorted.
fn kdl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("examples directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    files.sort();
    files
}

fn check(path: &Path) -> Checked {
    load_network(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn valid_examples_have_no_errors_or_warnings() {
    let files = kdl_files(&examples_dir());
    assert!(files.len() >= 4, "at least four examples");
    for path in files {
        let checked = check(&path);
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render_human(&checked.sources, &checked.diagnostics)
        );
        let network = checked.network.expect("a valid file yields a model");
        assert!(!network.nodes.is_empty() || !network.vrouters.is_empty());
    }
}

#[test]
fn invalid_examples_yield_exactly_their_expected_error() {
    let files = kdl_files(&examples_dir().join("invalid"));
    assert!(
        files.len() >= 25,
        "at least 25 invalid examples, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap_or_else(|| panic!("{} lacks a `// expect: CODE` first line", path.display()))
            .trim()
            .to_owned();
        let checked = check(&path);
        // Codes only cvlan-core can produce are checked there.
        if matches!(
            expected.as_str(),
            "cvlan::policy-test-failed" | "cvlan::shadowed-rule"
        ) {
            continue;
        }
        let report = render_human(&checked.sources, &checked.diagnostics);
        let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
        let is_warning = expected == "cvlan::user-not-in-group";
        if codes != [expected.as_str()]
            || !report.contains(&expected)
            || checked.network.is_some() != is_warning
        {
            failures.push(format!(
                "{}: expected {expected}, got {codes:?}\n{report}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn host_examples_are_valid() {
    let files = kdl_files(&examples_dir().join("host"));
    assert_eq!(files.len(), 2);
    for path in files {
        let checked = load_host(&path).expect("readable");
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            render_human(&checked.sources, &checked.diagnostics)
        );
        assert!(checked.host.is_some());
    }
}
