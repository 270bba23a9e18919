//! DNS for overlay names end to end (tests/labs/dns.kdl): alpha's cvland answers `dig` at its
//! overlay address for the names it may see (bravo, itself; not carol, whom no rule lets it
//! reach), over UDP and TCP, with PTR for overlay addresses; a name outside the domain is
//! REFUSED; an edit that removes bravo and lets alpha reach carol swaps the records within the
//! apply; garbage and oversized datagrams are dropped and counted while it keeps answering.

use std::time::Duration;

use cvlan_lab::{HostHandle, require_root};
use cvlan_tests::{ctl, ctl_human, one_at_a_time, wait_for, without_node};

const RESOLVER: &str = "100.64.0.1";

/// `dig @RESOLVER ARGS` in `host`'s namespace: its stdout, with header and answers only.
fn dig(host: &HostHandle<'_>, args: &[&str]) -> String {
    let server = format!("@{RESOLVER}");
    let mut argv = vec![
        "dig",
        server.as_str(),
        "+noall",
        "+comments",
        "+answer",
        "+time=2",
        "+tries=1",
    ];
    argv.extend_from_slice(args);
    let out = host.exec(&argv).unwrap_or_else(|e| {
        panic!("dig does not run ({e}): install bind9-dnsutils (scripts/lib.sh ensure_packages)")
    });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The response code dig printed ("NOERROR", "NXDOMAIN", "REFUSED").
fn rcode(output: &str) -> &str {
    output
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("no reply")
}

/// The data of the answer records dig printed (the last column).
fn answers(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

#[test]
fn alpha_resolves_what_it_sees_over_udp_and_tcp_and_follows_the_file() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let options = cvlan_lab::LabOptions {
        bin_dir: Some(cvlan_tests::bin_dir()),
        ..cvlan_lab::LabOptions::default()
    };
    let lab = cvlan_lab::Lab::start_file(&cvlan_tests::root().join("tests/labs/dns.kdl"), options)
        .expect("the dns lab starts");
    let alpha = lab.host("alpha");
    let socket = alpha.socket_path();

    // The resolver is up once status says so; it listens on alpha's first overlay address.
    wait_for(Duration::from_secs(10), || {
        ctl(&socket, &["dns", "status"]).1["serving"] == true
    })
    .expect("the resolver serves");
    let (code, status) = ctl(&socket, &["dns", "status"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["domain"], "corp.cvlan", "{status}");
    assert_eq!(status["listen"], format!("{RESOLVER}:53"), "{status}");
    // alpha and bravo, each one IPv4 and one IPv6 address: 2 names and 4 pointers.
    assert_eq!(status["records"], 6, "{status}");
    // No systemd-resolved in the lab: the host is left alone and told what to add.
    assert_eq!(status["host"]["mode"], "manual", "{status}");
    assert!(
        status["host"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("server=/corp.cvlan/100.64.0.1#53")),
        "{status}"
    );
    let human = ctl_human(&socket, &["dns", "status"]);
    assert!(
        human.contains("corp.cvlan") && human.contains("100.64.0.1:53"),
        "{human}"
    );

    // A and AAAA of a visible peer, over UDP and TCP; the node itself resolves too.
    let a = dig(&alpha, &["bravo.corp.cvlan", "A"]);
    assert_eq!(rcode(&a), "NOERROR", "{a}");
    assert!(a.contains(" aa"), "authoritative: {a}");
    assert_eq!(answers(&a), ["100.64.0.2"], "{a}");
    let tcp = dig(&alpha, &["+tcp", "bravo.corp.cvlan", "A"]);
    assert_eq!(answers(&tcp), ["100.64.0.2"], "over TCP: {tcp}");
    let aaaa = dig(&alpha, &["BRAVO.corp.cvlan", "AAAA"]);
    let v6 = answers(&aaaa);
    assert!(
        v6.len() == 1 && v6[0].starts_with("fd7a:115c:a1e0:"),
        "{aaaa}"
    );
    assert_eq!(
        answers(&dig(&alpha, &["alpha.corp.cvlan", "A"])),
        [RESOLVER]
    );

    // PTR for overlay addresses, IPv4 and IPv6.
    let ptr = dig(&alpha, &["-x", "100.64.0.2"]);
    assert_eq!(answers(&ptr), ["bravo.corp.cvlan."], "{ptr}");
    let ptr6 = dig(&alpha, &["-x", &v6[0]]);
    assert_eq!(answers(&ptr6), ["bravo.corp.cvlan."], "{ptr6}");

    // carol is in the file but alpha may not reach her: not alpha's to name.
    let carol = dig(&alpha, &["carol.corp.cvlan", "A"]);
    assert_eq!(rcode(&carol), "NXDOMAIN", "{carol}");
    // Names outside the domain are refused, never looked up elsewhere.
    let outside = dig(&alpha, &["example.com", "A"]);
    assert_eq!(rcode(&outside), "REFUSED", "{outside}");
    assert!(answers(&outside).is_empty(), "{outside}");
    let outside_tcp = dig(&alpha, &["+tcp", "example.com", "A"]);
    assert_eq!(rcode(&outside_tcp), "REFUSED", "{outside_tcp}");

    // Garbage and an oversized datagram are dropped and counted; the resolver keeps answering.
    let send = |shell: &str| {
        let out = alpha.exec(&["sh", "-c", shell]).expect("sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    send(&format!(
        "printf 'not a dns query' | socat -u - UDP-SENDTO:{RESOLVER}:53"
    ));
    send(&format!(
        "head -c 1400 /dev/zero | socat -u -b 2000 - UDP-SENDTO:{RESOLVER}:53"
    ));
    wait_for(Duration::from_secs(5), || {
        let queries = &ctl(&socket, &["dns", "status"]).1["queries"];
        queries["malformed"].as_u64().unwrap_or(0) >= 1
            && queries["oversized"].as_u64().unwrap_or(0) >= 1
    })
    .expect("the bad datagrams are counted");
    assert_eq!(
        answers(&dig(&alpha, &["bravo.corp.cvlan", "A"])),
        ["100.64.0.2"]
    );

    // bravo leaves the file and a rule lets alpha reach carol: one apply swaps the names.
    lab.rewrite_network(|text| {
        without_node(text, "bravo").replace(
            "allow \"alpha-bravo\" from=\"node:alpha\" to=\"node:bravo\"\n    allow \"bravo-carol\" from=\"node:bravo\" to=\"node:carol\"",
            "allow \"alpha-carol\" from=\"node:alpha\" to=\"node:carol\"",
        )
    })
    .expect("rewrite");
    wait_for(Duration::from_secs(10), || {
        rcode(&dig(&alpha, &["bravo.corp.cvlan", "A"])) == "NXDOMAIN"
    })
    .expect("bravo is gone from alpha's resolver");
    assert_eq!(
        answers(&dig(&alpha, &["carol.corp.cvlan", "A"])),
        ["100.64.0.3"],
        "carol resolves in the same apply"
    );
    let gone = dig(&alpha, &["-x", "100.64.0.2"]);
    assert_eq!(rcode(&gone), "NXDOMAIN", "{gone}");
    let (_, status) = ctl(&socket, &["dns", "status"]);
    assert_eq!(status["records"], 6, "alpha and carol now: {status}");
    let (_, events) = ctl(&socket, &["events", "--kind", "dns"]);
    assert!(
        events.to_string().contains("dns.started"),
        "the resolver's start is an event: {events}"
    );
}
