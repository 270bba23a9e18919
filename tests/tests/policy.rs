//! Policy enforcement end to end (tests/labs/policy.kdl): two cvland hosts, alpha (eng) and
//! bravo (web). An allowed port connects and its replies flow; a denied port and the reverse
//! direction fail fast with ICMP "administratively prohibited"; the hit counters of the
//! allowing rule, the deny rule and default-deny move by exactly what crossed; explain and
//! policy-tests answer from the running node; and a policy edit under two running transfers
//! stops the one it no longer allows while the other carries on.

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use cvlan_lab::{HostHandle, Lab, LabOptions, require_root};
use cvlan_tests::{bin_dir, ctl, ctl_human, one_at_a_time, overlay, root, status, wait_for};

fn policy_lab() -> Lab {
    let options = LabOptions {
        bin_dir: Some(bin_dir()),
        ..LabOptions::default()
    };
    Lab::start_file(&root().join("tests/labs/policy.kdl"), options).expect("the policy lab starts")
}

/// Packets in, packets out per rule name, from `cvlanctl policy hits --json`.
fn hits(socket: &Path) -> HashMap<String, (u64, u64)> {
    let (code, doc) = ctl(socket, &["policy", "hits"]);
    assert_eq!(code, 0, "policy hits: {doc}");
    doc["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            let n = |dir: &str| r[dir]["packets"].as_u64().expect("packets");
            (
                r["rule"].as_str().expect("name").to_owned(),
                (n("inbound"), n("outbound")),
            )
        })
        .collect()
}

/// How much each rule's (in, out) packets grew from `before` to `after`.
fn grew(
    before: &HashMap<String, (u64, u64)>,
    after: &HashMap<String, (u64, u64)>,
    rule: &str,
) -> (u64, u64) {
    let (b, a) = (before.get(rule).copied().unwrap_or_default(), after[rule]);
    (a.0 - b.0, a.1 - b.1)
}

/// Starts `socat` listening on `port` in `host`, echoing what it reads, and waits until it
/// listens.
fn echo_server(host: &HostHandle<'_>, port: u16) -> cvlan_lab::LabChild {
    let listen = format!("TCP-LISTEN:{port},reuseaddr,fork");
    let child = host
        .spawn(&["socat", &listen, "EXEC:cat"])
        .expect("socat starts");
    listening(host, port);
    child
}

fn listening(host: &HostHandle<'_>, port: u16) {
    host.wait_listening(port, Duration::from_secs(5))
        .expect("the server listens");
}

/// Connects from `host` to `target:port`, sends a line and returns what happened and how
/// long it took.
fn connect(host: &HostHandle<'_>, target: std::net::Ipv4Addr, port: u16) -> (Output, Duration) {
    let start = Instant::now();
    let out = host
        .exec(&[
            "sh",
            "-c",
            &format!("echo hello | socat -t 1 - TCP:{target}:{port},connect-timeout=5"),
        ])
        .expect("socat runs");
    (out, start.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn allowed_denied_and_reverse_connections_counters_explain_and_tests() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let lab = policy_lab();
    let (alpha, bravo) = (lab.host("alpha"), lab.host("bravo"));
    let (a_sock, b_sock) = (alpha.socket_path(), bravo.socket_path());
    let (a_ip, b_ip) = (overlay(&lab, "alpha"), overlay(&lab, "bravo"));
    alpha
        .ping(b_ip, 3)
        .expect("the mesh is up (ICMP is allowed)");
    let _web = echo_server(&bravo, 8080);
    let _ssh = echo_server(&bravo, 2222);
    let _back = echo_server(&alpha, 8080);
    std::thread::sleep(Duration::from_millis(300));
    let (a0, b0) = (hits(&a_sock), hits(&b_sock));

    // The allowed port: connected, and the echo (the reply direction) came back.
    let (out, _) = connect(&alpha, b_ip, 8080);
    assert!(out.status.success(), "alpha → bravo:8080: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");

    // The deny rule: refused at once by alpha's own filter, nothing reaches bravo.
    let (out, took) = connect(&alpha, b_ip, 2222);
    assert!(!out.status.success(), "alpha → bravo:2222 connected");
    assert!(
        stderr(&out).contains("No route to host"),
        "not ICMP prohibited: {}",
        stderr(&out)
    );
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: no fast failure"
    );

    // The reverse direction: no rule lets bravo open connections to alpha.
    let (out, took) = connect(&bravo, a_ip, 8080);
    assert!(!out.status.success(), "bravo → alpha:8080 connected");
    assert!(
        stderr(&out).contains("No route to host"),
        "{}",
        stderr(&out)
    );
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: no fast failure"
    );

    // The counters: every packet of the allowed connection, on both ends (what alpha sent
    // arrived at bravo and the other way round); one SYN on the deny rule at alpha; one SYN
    // on default-deny at bravo; nothing of the denied attempts at the other end.
    std::thread::sleep(Duration::from_millis(1500));
    let (a1, b1) = (hits(&a_sock), hits(&b_sock));
    let (a_web, b_web) = (grew(&a0, &a1, "web"), grew(&b0, &b1, "web"));
    assert!(
        a_web.1 >= 4 && a_web.0 >= 3,
        "alpha's web (in, out): {a_web:?}"
    );
    assert_eq!(
        a_web,
        (b_web.1, b_web.0),
        "alpha's out is bravo's in and back"
    );
    assert_eq!(grew(&a0, &a1, "no-ssh"), (0, 1));
    assert_eq!(grew(&b0, &b1, "no-ssh"), (0, 0));
    assert_eq!(grew(&b0, &b1, "default-deny"), (0, 1));
    assert_eq!(grew(&a0, &a1, "default-deny"), (0, 0));
    assert_eq!(grew(&a0, &a1, "bulk"), (0, 0));

    // The same counters as a table: every rule in order, then default-deny.
    let table = ctl_human(&a_sock, &["policy", "hits"]);
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        rows,
        ["ping", "web", "bulk", "no-ssh", "default-deny"],
        "{table}"
    );
    assert!(table.starts_with("RULE"), "{table}");

    // Explain against the running node prints exactly what the offline form prints.
    let file = lab.network_file().display().to_string();
    for port in ["8080/tcp", "2222/tcp", "443/tcp"] {
        let args = [
            "policy", "explain", "--from", "alpha", "--to", "bravo", "--port", port,
        ];
        let live = ctl_human(&a_sock, &args);
        let offline = std::process::Command::new(bin_dir().join("cvlanctl"))
            .args(args)
            .args(["--file", &file])
            .output()
            .expect("cvlanctl runs");
        assert_eq!(
            live,
            String::from_utf8_lossy(&offline.stdout),
            "explain {port}"
        );
        let (_, live_json) = ctl(&a_sock, &args);
        let with_file: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--file", file.as_str()])
            .collect();
        let (_, offline_json) = ctl(&a_sock, &with_file);
        assert_eq!(live_json, offline_json, "explain --json {port}");
    }
    let (_, x) = ctl(
        &b_sock,
        &[
            "policy", "explain", "--from", "alpha", "--to", "bravo", "--port", "2222/tcp",
        ],
    );
    assert_eq!(
        (x["verdict"].as_str(), x["rule"].as_str()),
        (Some("reject"), Some("no-ssh"))
    );

    // The file's policy-tests against the running policy.
    let (code, run) = ctl(&a_sock, &["policy", "test"]);
    assert_eq!(code, 0, "{run}");
    assert_eq!(
        (run["passed"].as_u64(), run["failed"].as_u64()),
        (Some(3), Some(0))
    );
    let rules: Vec<&str> = run["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(rules, ["web", "no-ssh", "default-deny"]);
    let text = ctl_human(&a_sock, &["policy", "test"]);
    assert!(text.contains("3 passed, 0 failed"), "{text}");
    assert_eq!(text.matches("PASS ").count(), 3, "{text}");
    let failing = lab.run_dir().join("failing-test.kdl");
    let text = std::fs::read_to_string(lab.network_file()).expect("network.kdl");
    std::fs::write(
        &failing,
        text.replace(
            "reject from=\"alpha\" to=\"bravo\" port=\"2222/tcp\"",
            "accept from=\"alpha\" to=\"bravo\" port=\"2222/tcp\"",
        ),
    )
    .expect("write");
    let (code, run) = ctl(
        &a_sock,
        &["policy", "test", "--file", &failing.display().to_string()],
    );
    assert_eq!(code, 1, "a failing test is a \"no\": {run}");
    assert_eq!(run["failed"].as_u64(), Some(1));
}

/// The size of a file, 0 while it does not exist.
fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A receiver on `port` at `host` writing to `file`, and a sender from `from` writing a line
/// every 20 ms into it.
fn transfer(
    from: &HostHandle<'_>,
    to: &HostHandle<'_>,
    target: std::net::Ipv4Addr,
    port: u16,
    file: &Path,
) -> (cvlan_lab::LabChild, cvlan_lab::LabChild) {
    let receiver = to
        .spawn(&[
            "socat",
            "-u",
            &format!("TCP-LISTEN:{port},reuseaddr"),
            &format!("CREATE:{}", file.display()),
        ])
        .expect("receiver");
    listening(to, port);
    let sender = from
        .spawn(&[
            "sh",
            "-c",
            &format!(
                "while :; do echo 0123456789abcdef; sleep 0.02; done | socat -u - TCP:{target}:{port}"
            ),
        ])
        .expect("sender");
    (receiver, sender)
}

#[test]
fn a_policy_edit_stops_the_transfer_it_no_longer_allows_and_keeps_the_other() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let lab = policy_lab();
    let (alpha, bravo) = (lab.host("alpha"), lab.host("bravo"));
    let (a_sock, b_sock) = (alpha.socket_path(), bravo.socket_path());
    let b_ip = overlay(&lab, "bravo");
    alpha.ping(b_ip, 3).expect("the mesh is up");
    let (web_file, bulk_file) = (
        lab.run_dir().join("web.out"),
        lab.run_dir().join("bulk.out"),
    );
    let _web = transfer(&alpha, &bravo, b_ip, 8080, &web_file);
    let _bulk = transfer(&alpha, &bravo, b_ip, 8081, &bulk_file);
    wait_for(Duration::from_secs(5), || {
        size(&web_file) > 500 && size(&bulk_file) > 500
    })
    .expect("both transfers run");

    // Remove "web" (and make its policy-test expect the new answer); keep "bulk".
    let revision = |sock: &Path| {
        status(sock)["revision"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (a_rev, b_rev) = (revision(&a_sock), revision(&b_sock));
    let edited = Instant::now();
    lab.rewrite_network(|text| {
        text.replace(
            "    allow \"web\" from=\"tag:eng\" to=\"tag:web\" ports=\"8080/tcp\"\n",
            "",
        )
        .replace(
            "accept from=\"alpha\" to=\"bravo\" port=\"8080/tcp\"",
            "reject from=\"alpha\" to=\"bravo\" port=\"8080/tcp\"",
        )
    })
    .expect("rewrite");
    let applied = wait_for(Duration::from_secs(5), || {
        revision(&a_sock) != a_rev && revision(&b_sock) != b_rev
    })
    .expect("both nodes apply the edit");
    // The spec says one second; the bound leaves room for a loaded CI machine, and the
    // measured time is printed for the record.
    eprintln!("the policy edit applied on both nodes in {applied:?}");
    assert!(
        edited.elapsed() < Duration::from_secs(2),
        "the policy took {applied:?} to apply"
    );
    let before = hits(&a_sock);
    assert!(
        !before.contains_key("web"),
        "the rule is gone from the hits"
    );

    // From now on the web transfer makes no progress; bulk does, on the same connection.
    std::thread::sleep(Duration::from_millis(500));
    let (web1, bulk1) = (size(&web_file), size(&bulk_file));
    std::thread::sleep(Duration::from_secs(2));
    let (web2, bulk2) = (size(&web_file), size(&bulk_file));
    assert_eq!(
        web1, web2,
        "the transfer the policy no longer allows moved on"
    );
    assert!(
        bulk2 > bulk1 + 500,
        "the allowed transfer stalled: {bulk1} → {bulk2}"
    );
    let after = hits(&a_sock);
    let (_, dropped_out) = grew(&before, &after, "default-deny");
    assert!(
        dropped_out >= 1,
        "the web sender's next packets meet default-deny at alpha"
    );
    let (bulk_in, bulk_out) = grew(&before, &after, "bulk");
    assert!(
        bulk_out > 10 && bulk_in > 10,
        "bulk kept counting: {bulk_in}/{bulk_out}"
    );
}
