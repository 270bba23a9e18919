//! A pathological edit takes no daemon down (issue 10's scenario): alpha follows network.kdl
//! as a file and bravo follows it in a git repository; the edit that used to overflow a tokio
//! worker's stack (an unterminated string and then 1,500 `{`) arrives in both, and as a
//! `plan --daemon` proposal. Both stay up and keep their tunnel (no ping lost), report the
//! rejection with its diagnostic in status and events, come up on their cache when restarted with the bad edit still in place, and
//! apply the next good edit.

use std::path::Path;
use std::time::Duration;

use cvlan_lab::require_root;
use cvlan_tests::{
    PingRun, bin_dir, ctl, ctl_human, git_cvland_config, one_at_a_time, overlay, peer_names,
    serve_git, start_cvland, status, stop_lab_cvland, trio_lab, wait_for, without_node,
};

/// The edit: a bad merge left a string open before a run of braces.
fn pathological(valid: &str) -> String {
    format!("{valid}\nnode \"x\" {{ tags \"oops\n{}\n", "{".repeat(1500))
}

/// The first diagnostic code `cvlanctl check` gives for `text`.
fn offline_code(dir: &Path, text: &str) -> String {
    let path = dir.join("offline-check.kdl");
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(bin_dir().join("cvlanctl"))
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .expect("cvlanctl check runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    doc["diagnostics"][0]["code"]
        .as_str()
        .expect("a code")
        .to_owned()
}

/// Waits until the daemon at `socket` has rejected an edit with `code`, still running
/// `running`, and checks that status and events say so.
fn assert_rejected(socket: &Path, code: &str, running: &serde_json::Value) {
    wait_for(Duration::from_secs(10), || {
        status(socket)["last_apply"]["outcome"] == "rejected"
    })
    .expect("the edit is rejected");
    let st = status(socket);
    assert_eq!(
        &st["revision"], running,
        "the previous state keeps running: {st}"
    );
    let diagnostic = &st["last_apply"]["diagnostics"][0];
    assert_eq!(diagnostic["code"], code, "{st}");
    assert!(diagnostic["line"].as_u64().expect("line") > 0, "{st}");
    let (exit, events) = ctl(socket, &["events", "--kind", "apply.rejected"]);
    assert_eq!(exit, 0, "{events}");
    assert!(
        events["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{events}"
    );
}

#[test]
fn a_pathological_edit_is_rejected_by_file_and_git_daemons_which_keep_running() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let lab = trio_lab();
    let (alpha, bravo) = (lab.host("alpha"), lab.host("bravo"));
    let (a_sock, b_sock) = (alpha.socket_path(), bravo.socket_path());
    let valid = std::fs::read_to_string(lab.network_file()).expect("network.kdl");
    // Read while the file is valid: the lab finds addresses in it.
    let (alpha_ip, bravo_ip) = (overlay(&lab, "alpha"), overlay(&lab, "bravo"));
    let bad = pathological(&valid);
    let code = offline_code(lab.run_dir(), &bad);
    assert!(code.starts_with("cvlan::"), "{code}");

    // bravo follows the same file through git.
    let (repo, _daemon) = serve_git(&lab);
    let first = repo.commit(&[("network.kdl", &valid)]).expect("commit");
    stop_lab_cvland(&lab, "bravo");
    let config = git_cvland_config(&bravo, "1s");
    let bravo_git = start_cvland(&bravo, "cvland-git.kdl", &config, b_sock.clone());
    wait_for(Duration::from_secs(10), || {
        status(&b_sock)["revision"] == first.as_str()
    })
    .expect("bravo runs the branch head");
    wait_for(Duration::from_secs(10), || alpha.ping(bravo_ip, 1).is_ok())
        .expect("alpha reaches bravo");
    let a_running = status(&a_sock)["revision"].clone();
    let b_running = serde_json::Value::from(first.as_str());

    // The bad edit lands in both sources while traffic flows: nothing is lost.
    let pings = PingRun::start(&alpha, bravo_ip, 40, 100);
    lab.rewrite_network(|_| bad.clone()).expect("rewrite");
    repo.commit(&[("network.kdl", &bad)]).expect("commit");
    assert_rejected(&a_sock, &code, &a_running);
    assert_rejected(&b_sock, &code, &b_running);
    let count = pings.finish();
    assert_eq!(
        (count.sent, count.received),
        (40, 40),
        "pings lost during the bad edit"
    );
    // The same text sent to the daemon's Plan call is answered, not a crash.
    let proposal = lab.run_dir().join("proposal.kdl");
    std::fs::write(&proposal, &bad).expect("write");
    let (exit, plan) = ctl(
        &a_sock,
        &[
            "plan",
            "--daemon",
            "--file",
            proposal.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(exit, 1, "{plan}");
    assert_eq!(plan["ok"], false, "{plan}");
    assert_eq!(plan["diagnostics"][0]["code"], code.as_str(), "{plan}");
    for sock in [&a_sock, &b_sock] {
        let text = ctl_human(sock, &["status"]);
        assert!(text.contains(&format!("error[{code}]")), "{text}");
    }

    // Restarted with the bad edit still in place, both come up on their cache.
    stop_lab_cvland(&lab, "alpha");
    let alpha_config =
        std::fs::read_to_string(alpha.dir().join("cvland.kdl")).expect("alpha's config");
    let _alpha2 = start_cvland(&alpha, "cvland-2.kdl", &alpha_config, a_sock.clone());
    drop(bravo_git);
    let _bravo2 = start_cvland(&bravo, "cvland-git-2.kdl", &config, b_sock.clone());
    assert_rejected(&a_sock, &code, &a_running);
    assert_rejected(&b_sock, &code, &b_running);
    wait_for(Duration::from_secs(10), || alpha.ping(bravo_ip, 1).is_ok())
        .expect("alpha reaches bravo on both caches");
    bravo
        .ping(alpha_ip, 3)
        .expect("bravo reaches alpha on both caches");

    // The next good edit (carol leaves) applies on both.
    let good = without_node(&valid, "carol");
    lab.rewrite_network(|_| good.clone()).expect("rewrite");
    let second = repo.commit(&[("network.kdl", &good)]).expect("commit");
    for sock in [&a_sock, &b_sock] {
        wait_for(Duration::from_secs(10), || {
            status(sock)["last_apply"]["outcome"] == "applied"
                && !peer_names(sock).contains(&"carol".to_owned())
        })
        .expect("the good edit applies");
    }
    assert_eq!(status(&b_sock)["revision"], second.as_str());
    assert_ne!(status(&a_sock)["revision"], a_running);
    alpha
        .ping(bravo_ip, 3)
        .expect("alpha reaches bravo after the good edit");
}
