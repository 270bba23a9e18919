//! Three cvland hosts following one network.kdl (tests/labs/trio.kdl): membership changes,
//! a changed key, an invalid edit, a restart on the cache with the source gone, and the git
//! source. Real daemons, real TUN devices, real traffic.

use std::time::Duration;

use cvlan_lab::require_root;
use cvlan_tests::{
    PingRun, ctl, ctl_human, git_cvland_config, one_at_a_time, overlay, peer_names, serve_git,
    start_cvland, status, stop_lab_cvland, trio_lab, wait_for, without_node,
};

#[test]
fn membership_keys_invalid_edits_and_the_cache() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let lab = trio_lab();
    let (alpha, bravo, carol) = (lab.host("alpha"), lab.host("bravo"), lab.host("carol"));
    let (a_sock, b_sock, c_sock) = (
        alpha.socket_path(),
        bravo.socket_path(),
        carol.socket_path(),
    );
    let carol_address = overlay(&lab, "carol");
    for (host, target) in [(alpha, "bravo"), (bravo, "carol"), (carol, "alpha")] {
        host.ping(overlay(&lab, target), 3).expect("the mesh is up");
    }

    // `cvlanctl plan --daemon` shows what removing carol would do on alpha, and changes nothing.
    let original = std::fs::read_to_string(lab.network_file()).expect("network.kdl");
    let proposal = lab.run_dir().join("proposal.kdl");
    std::fs::write(&proposal, without_node(&original, "carol")).expect("write");
    let (code, plan) = ctl(
        &a_sock,
        &[
            "plan",
            "--daemon",
            "--file",
            &proposal.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["node"], "alpha");
    let lines: Vec<&str> = plan["members"][0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["line"].as_str())
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("- peer carol")),
        "{plan}"
    );
    assert!(!lines.iter().any(|l| l.contains("bravo")), "{plan}");
    assert!(peer_names(&a_sock).contains(&"carol".to_owned()));

    // Removing carol drops her from the others within 2 s; alpha ↔ bravo lose nothing and
    // keep their WireGuard session (no new handshake).
    let handshake = |sock: &std::path::Path, peer: &str| {
        let (_, peers) = ctl(sock, &["peers"]);
        peers["peers"]
            .as_array()
            .and_then(|p| p.iter().find(|r| r["name"] == peer))
            .map(|r| r["last_handshake"].clone())
            .unwrap_or_default()
    };
    let session = handshake(&a_sock, "bravo");
    assert!(session.is_string(), "alpha and bravo have a session");
    let pings = PingRun::start(&alpha, overlay(&lab, "bravo"), 40, 100);
    std::thread::sleep(Duration::from_millis(500));
    lab.rewrite_network(|text| without_node(text, "carol"))
        .expect("rewrite");
    let dropped = wait_for(Duration::from_secs(5), || {
        !peer_names(&a_sock).contains(&"carol".to_owned())
            && !peer_names(&b_sock).contains(&"carol".to_owned())
    })
    .expect("carol's peers are dropped");
    assert!(dropped < Duration::from_secs(2), "took {dropped:?}");
    let count = pings.finish();
    assert_eq!(count.sent, 40);
    assert_eq!(
        count.received, 40,
        "alpha → bravo lost pings during the change"
    );
    assert!(alpha.ping(carol_address, 1).is_err(), "carol is gone");
    assert_eq!(
        handshake(&a_sock, "bravo"),
        session,
        "an unrelated change re-handshook alpha ↔ bravo"
    );

    // Adding her back restores her.
    lab.rewrite_network(|_| original.clone()).expect("rewrite");
    wait_for(Duration::from_secs(5), || {
        peer_names(&a_sock).contains(&"carol".to_owned())
    })
    .expect("carol is back");
    wait_for(Duration::from_secs(10), || {
        alpha.ping(carol_address, 1).is_ok()
    })
    .expect("carol answers again");
    alpha
        .ping(carol_address, 3)
        .expect("alpha reaches carol again");

    // A new key for carol: her peers re-handshake with the new key.
    let old_key = carol.public_key().expect("carol's key").to_owned();
    stop_lab_cvland(&lab, "carol");
    std::fs::remove_file(carol.state_dir().join("node.key")).expect("remove carol's key");
    let carol_config = std::fs::read_to_string(carol.dir().join("cvland.kdl")).expect("config");
    let _carol2 = start_cvland(&carol, "cvland-2.kdl", &carol_config, c_sock.clone());
    let new_key = status(&c_sock)["public_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_ne!(new_key, old_key);
    lab.rewrite_network(|text| text.replace(&old_key, &new_key))
        .expect("rewrite");
    wait_for(Duration::from_secs(10), || {
        alpha.ping(carol_address, 1).is_ok()
    })
    .expect("carol answers under her new key");
    alpha
        .ping(carol_address, 3)
        .expect("alpha reaches carol under her new key");
    let (_, peers) = ctl(&a_sock, &["peers"]);
    let row = peers["peers"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["name"] == "carol"))
        .expect("carol's row")
        .clone();
    assert_eq!(row["public_key"], new_key.as_str());
    assert!(
        row["last_handshake_age_seconds"]
            .as_u64()
            .expect("handshake")
            < 10
    );
    let (_, events) = ctl(&a_sock, &["events", "--kind", "peer.changed"]);
    assert!(
        events["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["fields"]["change"] == "rekeyed")),
        "{events}"
    );

    // An invalid edit keeps the old state and shows the diagnostic in status.
    let valid = std::fs::read_to_string(lab.network_file()).expect("network.kdl");
    let before = status(&a_sock)["revision"].clone();
    lab.rewrite_network(|text| text.replace("to=\"*\"", "to=\"tag:nope\""))
        .expect("rewrite");
    wait_for(Duration::from_secs(5), || {
        status(&a_sock)["last_apply"]["outcome"] == "rejected"
    })
    .expect("the edit is rejected");
    let st = status(&a_sock);
    assert_eq!(st["revision"], before, "the old revision keeps running");
    let diagnostic = &st["last_apply"]["diagnostics"][0];
    assert_eq!(diagnostic["code"], "cvlan::unknown-selector", "{st}");
    assert!(diagnostic["line"].as_u64().expect("line") > 0);
    assert!(ctl_human(&a_sock, &["status"]).contains("error[cvlan::unknown-selector]"));
    alpha
        .ping(overlay(&lab, "bravo"), 2)
        .expect("traffic still flows");

    // Back to the valid file: the running revision again, nothing to apply.
    lab.rewrite_network(|_| valid.clone()).expect("rewrite");
    wait_for(Duration::from_secs(5), || {
        status(&a_sock)["last_apply"]["outcome"] == "unchanged"
    })
    .expect("the valid file is the running one");

    // A restart with the source gone comes up on the cached netmap.
    let running = status(&b_sock)["revision"].clone();
    stop_lab_cvland(&lab, "bravo");
    let config = std::fs::read_to_string(bravo.dir().join("cvland.kdl"))
        .expect("config")
        .replace(
            &lab.network_file().display().to_string(),
            "/nonexistent/cvlan/network.kdl",
        );
    let _bravo2 = start_cvland(&bravo, "cvland-nosource.kdl", &config, b_sock.clone());
    let st = status(&b_sock);
    assert_eq!(st["revision"], running, "{st}");
    assert!(
        st["source"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("/nonexistent/cvlan/network.kdl")),
        "{st}"
    );
    // The restarted bravo speaks first: alpha and carol still hold sessions with the old
    // process, which WireGuard's own timers would only replace after ~15 s of silence.
    bravo
        .ping(overlay(&lab, "carol"), 3)
        .expect("bravo reaches carol on its cache");
    bravo
        .ping(overlay(&lab, "alpha"), 3)
        .expect("bravo reaches alpha on its cache");
    alpha
        .ping(overlay(&lab, "bravo"), 3)
        .expect("alpha reaches bravo");
}

#[test]
fn the_git_source_converges_within_its_interval() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let lab = trio_lab();
    let (alpha, bravo) = (lab.host("alpha"), lab.host("bravo"));
    let b_sock = bravo.socket_path();
    let (repo, daemon) = serve_git(&lab);
    let commit = |text: &str| repo.commit(&[("network.kdl", text)]).expect("git commits");
    let text = std::fs::read_to_string(lab.network_file()).expect("network.kdl");
    let first = commit(&text);

    stop_lab_cvland(&lab, "bravo");
    let interval = Duration::from_secs(2);
    let config = git_cvland_config(&bravo, "2s");
    let _bravo_git = start_cvland(&bravo, "cvland-git.kdl", &config, b_sock.clone());
    wait_for(Duration::from_secs(10), || {
        status(&b_sock)["revision"] == first.as_str()
    })
    .expect("bravo runs the branch head");
    let st = status(&b_sock);
    assert_eq!(st["source"]["kind"], "git");
    assert_eq!(st["source"]["branch"], "main");
    alpha
        .ping(overlay(&lab, "bravo"), 3)
        .expect("alpha reaches bravo");

    // A commit converges within interval + 2 s.
    let second = commit(&without_carol(&text));
    assert_ne!(first, second);
    let took = wait_for(interval + Duration::from_secs(6), || {
        status(&b_sock)["revision"] == second.as_str()
    })
    .expect("bravo follows the new commit");
    assert!(
        took <= interval + Duration::from_secs(2),
        "converged in {took:?}, more than interval + 2 s"
    );
    assert!(!peer_names(&b_sock).contains(&"carol".to_owned()));

    // The repository goes away: the error is reported and the running state stays.
    drop(daemon);
    let failed = wait_for(interval * 3, || {
        status(&b_sock)["source"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    });
    assert!(failed.is_some(), "the fetch error shows in status");
    assert_eq!(status(&b_sock)["revision"], second.as_str());
    alpha
        .ping(overlay(&lab, "bravo"), 2)
        .expect("traffic still flows");
}

fn without_carol(text: &str) -> String {
    without_node(text, "carol")
}
