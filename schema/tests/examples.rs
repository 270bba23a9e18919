//! The example files: the valid ones check without errors, and every file in
//! examples/invalid/ yields exactly the error its `// expect:` line names.

use std::path::{Path, PathBuf};

use cvlan_schema::report::render_human;
use cvlan_schema::{Checked, load_controller_file, load_host, load_network};

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
fn host_examples_are_valid() {
    let files = kdl_files(&examples_dir().join("host"));
    assert!(files.len() >= 2);
    for path in files {
        if path.file_name().is_some_and(|n| n == "controller.kdl") {
            let checked = load_controller_file(&path).expect("readable");
            assert!(
                checked.diagnostics.is_empty(),
                "{}",
                render_human(&checked.sources, &checked.diagnostics)
            );
            assert!(checked.controller.is_some());
            continue;
        }
        let checked = load_host(&path).expect("readable");
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            render_human(&checked.sources, &checked.diagnostics)
        );
        assert!(checked.host.is_some());
    }
}

#[test]
fn inline_secrets_never_reach_messages_reports_or_the_model() {
    for (text, secret) in [
        (
            "auth \"psk\" secret=\"correct horse battery\"",
            "correct horse",
        ),
        ("auth \"psk\" \"hunter2hunter2\"", "hunter2"),
        ("auth \"tr0ub4dor&3\"", "tr0ub4dor"),
        (
            "auth \"psk\" psk=\"s3cr3t-value\" secret-file=\"/etc/psk\"",
            "s3cr3t",
        ),
    ] {
        let file = format!(
            "network \"n\" {{\n}}\ncontroller \"c\" address=\"c.example:1\" public-key=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nvrouter \"v\" {{\n    ipsec-peer \"p\" {{\n        remote \"%any\"\n        id local=\"a\" remote=\"b\"\n        {text}\n        remote-ts \"10.1.0.0/16\"\n    }}\n}}\n"
        );
        let checked = cvlan_schema::parse_network("n.kdl", &file);
        assert!(!checked.is_ok(), "{text}");
        let human = render_human(&checked.sources, &checked.diagnostics);
        let json = serde_json::to_string(&cvlan_schema::report::to_json(
            &checked.sources,
            &checked.diagnostics,
        ))
        .expect("json");
        let debug = format!("{:?}", checked.diagnostics);
        for shown in [&human, &json, &debug] {
            assert!(!shown.contains(secret), "{text}: {shown}");
        }
        assert!(
            human.contains("inline") || human.contains("masked"),
            "{human}"
        );
    }
}

#[test]
fn includes_resolve_relative_to_the_including_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("parts")).expect("mkdir");
    std::fs::write(
        dir.path().join("network.kdl"),
        "network \"n\" {\n}\ncontroller \"c\" address=\"c.example:1\" public-key=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\ninclude \"parts/nodes.kdl\"\npolicy {\n    allow \"a\" from=\"tag:x\" to=\"tag:y\"\n}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("parts/nodes.kdl"),
        "node \"a\" {\n    tags \"x\"\n}\nnode \"b\" {\n    tags \"y\" \"zz\" \"Bad\"\n}\n",
    )
    .expect("write");
    let checked = load_network(&dir.path().join("network.kdl")).expect("readable");
    // The error inside the included file names that file.
    assert_eq!(checked.diagnostics.len(), 1, "{:?}", checked.diagnostics);
    let json = cvlan_schema::report::to_json(&checked.sources, &checked.diagnostics);
    assert!(
        json[0].file.ends_with("parts/nodes.kdl"),
        "{}",
        json[0].file
    );
    assert_eq!(
        (json[0].code.as_str(), json[0].line),
        ("cvlan::invalid-name", 5)
    );
    // In-memory text cannot follow includes.
    let text = std::fs::read_to_string(dir.path().join("network.kdl")).expect("read");
    let codes: Vec<&str> = cvlan_schema::parse_network("n.kdl", &text)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect();
    assert!(codes.contains(&"cvlan::include"));
    assert!(matches!(
        load_network(&dir.path().join("missing.kdl")),
        Err(cvlan_schema::LoadError::Read { .. })
    ));
}
