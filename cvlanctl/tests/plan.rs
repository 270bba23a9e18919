//! `cvlanctl plan --file F --against F2`: what a change to network.kdl does to each node, as
//! text and JSON, with exit codes.

mod common;

use common::{code, cvlanctl, json, stderr, stdout};

const BEFORE: &str = r#"
network "lab" { overlay "100.64.0.0/10"; }
node "alpha" { public-key "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; address "100.64.0.1"; }
node "bravo" { public-key "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; address "100.64.0.2"; }
policy { allow "all" from="*" to="*"; }
"#;

fn files(after: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (b, a) = (dir.path().join("before.kdl"), dir.path().join("after.kdl"));
    std::fs::write(&b, BEFORE).expect("write");
    std::fs::write(&a, after).expect("write");
    let (b, a) = (b.display().to_string(), a.display().to_string());
    (dir, b, a)
}

#[test]
fn a_new_node_and_a_new_route_are_planned_per_node() {
    let after = BEFORE.replace(
        "address \"100.64.0.2\"; }",
        "address \"100.64.0.2\"; routes \"10.9.0.0/16\"; }",
    ) + "node \"carol\" { public-key \"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\"; address \"100.64.0.3\"; }\n";
    let (_dir, before, after) = files(&after);
    let out = cvlanctl(&["plan", "--file", &after, "--against", &before]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("~ node alpha:\n    ~ peer bravo: allowed-ips +10.9.0.0/16\n    + peer carol: 100.64.0.3, key AwMDAwMD…\n"), "{text}");
    assert!(
        text.contains("+ node carol joins: 100.64.0.3, 2 peers\n"),
        "{text}"
    );

    let out = cvlanctl(&["plan", "--file", &after, "--against", &before, "--json"]);
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    let alpha = &doc["members"][0];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(alpha["change"], "update");
    assert_eq!(alpha["actions"][0]["kind"], "peer.update");
    assert_eq!(alpha["actions"][1]["kind"], "peer.add");
    assert_eq!(alpha["actions"][1]["target"], "carol");
    assert_eq!(doc["members"][2]["change"], "join");
}

#[test]
fn the_same_file_plans_nothing_and_an_invalid_one_plans_nothing_with_exit_1() {
    let (_dir, before, same) = files(BEFORE);
    let out = cvlanctl(&["plan", "--file", &same, "--against", &before]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "no changes\n"));
    let (_dir, before, bad) = files(&BEFORE.replace("to=\"*\"", "to=\"tag:nope\""));
    let out = cvlanctl(&["plan", "--file", &bad, "--against", &before, "--json"]);
    assert_eq!(code(&out), 1);
    let doc = json(&out);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["diagnostics"][0]["code"], "cvlan::unknown-selector");
    let out = cvlanctl(&["plan", "--file", "/nonexistent.kdl"]);
    assert_eq!(code(&out), 2);
    let out = cvlanctl(&["plan", "--file", &before, "--against", &before, "--daemon"]);
    assert_eq!(code(&out), 2, "--against and --daemon exclude each other");
}

#[test]
fn without_against_every_member_joins_and_daemon_needs_a_daemon() {
    let (_dir, before, _) = files(BEFORE);
    let out = cvlanctl(&["plan", "--file", &before]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        "+ node alpha joins: 100.64.0.1, 1 peer\n+ node bravo joins: 100.64.0.2, 1 peer\n"
    );
    let out = cvlanctl(&[
        "--socket",
        "/nonexistent/cvland.sock",
        "plan",
        "--file",
        &before,
        "--daemon",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("/nonexistent/cvland.sock"),
        "{}",
        stderr(&out)
    );
}
