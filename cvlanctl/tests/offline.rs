//! The other offline commands against the real binary: fmt, policy explain, addresses,
//! completions and the man page.

mod common;

use common::{code, cvlanctl, json, stderr, stdout};

#[test]
fn fmt_rewrites_keeps_comments_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("network.kdl");
    let messy = "// the office\nnetwork   \"office\"  {\n  overlay \"100.64.0.0/24\" // CGNAT\n}\nnode \"a\" { public-key \"hfCbmfWevSo5xoRjis1a8RjU0Jwd7fEavC5SUYnJ6pA=\"; tags \"x\" }\n";
    std::fs::write(&file, messy).expect("write");
    let path = file.to_str().expect("utf-8 path");

    let check = cvlanctl(&["fmt", "--check", path]);
    assert_eq!(code(&check), 1, "a messy file would change");
    assert!(
        stdout(&check).contains(path),
        "names the file: {}",
        stdout(&check)
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        messy,
        "--check changes nothing"
    );

    assert_eq!(code(&cvlanctl(&["fmt", path])), 0);
    let formatted = std::fs::read_to_string(&file).expect("read");
    assert_ne!(formatted, messy);
    assert!(
        formatted.contains("// the office") && formatted.contains("// CGNAT"),
        "{formatted}"
    );
    assert_eq!(
        code(&cvlanctl(&["fmt", "--check", path])),
        0,
        "canonical after one pass"
    );
    assert_eq!(code(&cvlanctl(&["fmt", path])), 0);
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        formatted,
        "idempotent"
    );
    assert_eq!(
        code(&cvlanctl(&["check", path])),
        0,
        "formatting keeps the file valid"
    );
}

#[test]
fn fmt_refuses_a_file_it_cannot_parse() {
    let out = cvlanctl(&[
        "fmt",
        "--check",
        "examples/invalid/syntax-unclosed-string.kdl",
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("cvlan::syntax"), "{}", stderr(&out));
}

#[test]
fn explain_names_the_deciding_rule_and_why() {
    let out = cvlanctl(&[
        "policy",
        "explain",
        "--file",
        "examples/policy.kdl",
        "--from",
        "laptop-alice",
        "--to",
        "db-staging",
        "--port",
        "5432/tcp",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["verdict"], "accept");
    assert_eq!(doc["rule"], "eng-staging-db");
    assert_eq!(doc["matched"]["from"]["selector"], "group:eng");

    let deny = cvlanctl(&[
        "policy",
        "explain",
        "--file",
        "examples/policy.kdl",
        "--from",
        "laptop-alice",
        "--to",
        "db-1",
        "--port",
        "5432/tcp",
        "--json",
    ]);
    assert_eq!(
        code(&deny),
        0,
        "a reject is still an answer without --exit-code"
    );
    assert_eq!(json(&deny)["verdict"], "reject");
    assert_eq!(json(&deny)["rule"], "no-laptop-prod-db");

    let default = cvlanctl(&[
        "policy",
        "explain",
        "--file",
        "examples/policy.kdl",
        "--from",
        "laptop-erin",
        "--to",
        "build-1",
        "--port",
        "22/tcp",
        "--exit-code",
    ]);
    assert_eq!(code(&default), 1, "--exit-code makes reject exit 1");
    assert!(
        stdout(&default).contains("default-deny"),
        "{}",
        stdout(&default)
    );
}

#[test]
fn explain_rejects_bad_arguments_as_usage_errors() {
    let base = [
        "policy",
        "explain",
        "--file",
        "examples/policy.kdl",
        "--from",
        "laptop-alice",
        "--to",
        "db-1",
    ];
    let bad_port = cvlanctl(&[&base[..], &["--port", "5432/sctp"]].concat());
    assert_eq!(code(&bad_port), 2);
    assert!(
        stderr(&bad_port).contains("--port"),
        "{}",
        stderr(&bad_port)
    );
    let unknown = cvlanctl(&[
        "policy",
        "explain",
        "--file",
        "examples/policy.kdl",
        "--from",
        "nobody",
        "--to",
        "db-1",
        "--port",
        "22/tcp",
    ]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("nobody"), "{}", stderr(&unknown));
    let invalid = cvlanctl(&[
        "policy",
        "explain",
        "--file",
        "examples/invalid/overlap.kdl",
        "--from",
        "a",
        "--to",
        "b",
        "--port",
        "22/tcp",
    ]);
    assert_eq!(code(&invalid), 1, "an invalid file answers no");
}

#[test]
fn addresses_honour_pins_and_are_the_same_every_run() {
    let out = cvlanctl(&["addresses", "--file", "examples/small-office.kdl", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["network"], "office");
    let nodes = doc["nodes"].as_array().expect("nodes");
    let nas = nodes.iter().find(|n| n["name"] == "nas").expect("nas");
    assert_eq!(nas["ipv4"], "100.64.0.10");
    assert_eq!(nas["pinned"], true);
    let laptop = nodes
        .iter()
        .find(|n| n["name"] == "laptop-alice")
        .expect("laptop-alice");
    assert_eq!(laptop["pinned"], false);
    let addr: std::net::Ipv4Addr = laptop["ipv4"]
        .as_str()
        .expect("ipv4")
        .parse()
        .expect("an address");
    assert_eq!(addr.octets()[..3], [100, 64, 0], "inside the /24 overlay");
    assert_eq!(
        json(&cvlanctl(&[
            "addresses",
            "--file",
            "examples/small-office.kdl",
            "--json"
        ])),
        doc
    );

    let table = cvlanctl(&["addresses", "--file", "examples/small-office.kdl"]);
    assert!(
        stdout(&table)
            .lines()
            .any(|l| l.starts_with("nas") && l.contains("100.64.0.10") && l.contains("pinned"))
    );
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = cvlanctl(&["completions", shell]);
        assert_eq!(code(&out), 0);
        assert!(
            stdout(&out).contains("addresses"),
            "{shell} completions know the commands"
        );
    }
    let man = cvlanctl(&["man"]);
    assert_eq!(code(&man), 0);
    assert!(
        stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH cvlanctl"),
        "roff output"
    );
}

#[test]
fn live_commands_without_a_daemon_name_the_socket_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("cvland.sock");
    let socket = socket.to_str().expect("utf-8");
    for command in [
        &["status"][..],
        &["peers", "--json"],
        &["ping", "db-1"],
        &["whois", "100.64.0.1"],
        &["events"],
    ] {
        let out = cvlanctl(&[&["--socket", socket][..], command].concat());
        assert_eq!(code(&out), 2, "{command:?}");
        assert!(stdout(&out).is_empty(), "nothing on stdout");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(socket), "names the socket: {err}");
    }
}

#[test]
fn the_socket_may_come_before_or_after_the_command_and_after_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.sock");
    let second = dir.path().join("second.sock");
    let (first, second) = (
        first.to_str().expect("utf-8"),
        second.to_str().expect("utf-8"),
    );
    for (args, named) in [
        (vec!["--socket", first, "status"], first),
        (vec!["status", "--socket", first, "--json"], first),
        (vec!["--socket", first, "peers", "--socket", second], second),
        (vec!["--json", "policy", "hits", "--socket", second], second),
    ] {
        let out = cvlanctl(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
}

/// Offline commands' help lists only what applies to them; live commands' help lists the
/// socket and --json.
#[test]
fn help_lists_only_the_options_that_apply() {
    let help = |command: &[&str]| stdout(&cvlanctl(&[command, &["--help"][..]].concat()));
    for offline in [&["check"][..], &["fmt"], &["completions"], &["man"]] {
        let text = help(offline);
        assert!(!text.contains("--socket"), "{offline:?}:\n{text}");
        assert!(!text.contains("--json"), "{offline:?}:\n{text}");
    }
    let addresses = help(&["addresses"]);
    assert!(
        addresses.contains("--json") && !addresses.contains("--socket"),
        "{addresses}"
    );
    for live in [
        &["status"][..],
        &["peers"],
        &["ping"],
        &["whois"],
        &["events"],
        &["sas"],
        &["policy", "hits"],
        &["policy", "test"],
        &["policy", "explain"],
        &["plan"],
    ] {
        let text = help(live);
        assert!(
            text.contains("--socket") && text.contains("--json"),
            "{live:?}:\n{text}"
        );
    }
}
