//! `cvlanctl check` on the examples: valid files pass with their policy-tests, every invalid
//! file fails with exactly the code it declares, and the rendered reports are snapshots.

mod common;

use common::{code, cvlanctl, json, root, stderr, stdout};

#[test]
fn valid_examples_pass_with_their_policy_tests() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .map(|p| {
            format!(
                "examples/{}",
                p.file_name().and_then(|n| n.to_str()).expect("name")
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "at least four teaching examples: {files:?}"
    );
    let mut args = vec!["check", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let out = cvlanctl(&args);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
    assert!(
        doc["tests"]["passed"].as_u64().expect("passed") >= 10,
        "{doc}"
    );
    assert_eq!(doc["tests"]["failed"], 0);
}

/// The code an invalid example declares in its first line (`// expect: cvlan::CODE`).
fn expected_code(text: &str) -> &str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("// expect: "))
        .expect("first line is `// expect: cvlan::CODE`")
        .trim()
}

#[test]
fn each_invalid_example_reports_its_code_and_the_report_is_stable() {
    let dir = root().join("examples/invalid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_owned()
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 25,
        "at least 25 invalid examples, got {}",
        names.len()
    );
    for name in names {
        let file = format!("examples/invalid/{name}.kdl");
        let text = std::fs::read_to_string(root().join(&file)).expect("read");
        let expected = expected_code(&text);

        let out = cvlanctl(&["check", "--format", "json", &file]);
        let doc = json(&out);
        let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
        let found = diagnostics.iter().find(|d| d["code"] == expected);
        let found = found.unwrap_or_else(|| panic!("{file}: no {expected} in {doc}"));
        let is_error = found["severity"] == "error";
        assert_eq!(
            code(&out),
            if is_error { 1 } else { 0 },
            "{file}: exit code"
        );
        assert_eq!(doc["ok"], !is_error, "{file}");
        for d in diagnostics {
            if d["severity"] == "error" {
                assert_eq!(
                    d["code"], expected,
                    "{file}: one mistake, so every error is {expected}"
                );
            }
            let named = d["file"].as_str().expect("file");
            assert!(
                named.starts_with("examples/invalid/"),
                "{file}: diagnostics name their file: {named}"
            );
            assert!(d["line"].as_u64().expect("line") >= 1);
            assert!(d["column"].as_u64().expect("column") >= 1);
            assert!(d["code"].as_str().expect("code").starts_with("cvlan::"));
            assert!(
                !d["labels"].as_array().expect("labels").is_empty(),
                "{file}: a labelled span"
            );
        }

        let human = cvlanctl(&["check", &file]);
        assert_eq!(
            code(&human),
            code(&out),
            "{file}: same exit code in both formats"
        );
        assert!(
            stderr(&human).contains(expected),
            "{file}: human report names {expected}"
        );
        insta::assert_snapshot!(format!("{name}-human"), stderr(&human));
        insta::assert_json_snapshot!(format!("{name}-json"), doc);
    }
}

#[test]
fn a_missing_file_could_not_run() {
    let out = cvlanctl(&["check", "no/such/network.kdl"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no/such/network.kdl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(code(&cvlanctl(&["check"])), 2);
    assert_eq!(
        code(&cvlanctl(&[
            "check",
            "--format",
            "xml",
            "examples/policy.kdl"
        ])),
        2
    );
    assert_eq!(code(&cvlanctl(&["no-such-command"])), 2);
}

#[test]
fn repeated_warnings_are_counted_in_the_human_report_and_all_listed_in_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("network.kdl");
    let mut text = String::from(
        "network \"big\"\ncontroller \"ctl\" address=\"ctl.example:7443\" \
         public-key=\"hfCbmfWevSo5xoRjis1a8RjU0Jwd7fEavC5SUYnJ6pA=\"\n",
    );
    for i in 0..25 {
        text.push_str(&format!(
            "node \"n{i}\" {{\n    owner \"u{i}@acme.example\"\n}}\n"
        ));
    }
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");

    let human = cvlanctl(&["check", path]);
    assert_eq!(code(&human), 0, "warnings only: {}", stderr(&human));
    let report = stderr(&human);
    assert_eq!(report.matches("⚠ owner `u").count(), 10, "{report}");
    assert!(
        report.ends_with(
            "and 15 more cvlan::user-not-in-group warnings — `--format json` lists them all\n"
        ),
        "{report}"
    );
    assert!(
        stdout(&human).contains("(0 errors, 25 warnings"),
        "{}",
        stdout(&human)
    );

    let doc = json(&cvlanctl(&["check", "--format", "json", path]));
    assert_eq!(
        doc["diagnostics"].as_array().expect("diagnostics").len(),
        25
    );
}
