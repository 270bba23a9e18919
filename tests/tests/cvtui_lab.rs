//! cvtui against a real cvland: the trio lab, the dashboard in a tmux pane on alpha's local
//! API socket. The peers appear, a filter narrows them, and `q` exits cleanly.

use std::time::Duration;

use cvlan_lab::tmux::Tmux;
use cvlan_lab::{Lab, LabOptions, require_root};
use cvlan_tests::{bin_dir, one_at_a_time, overlay, root};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn cvtui_shows_a_lab_nodes_peers_filters_and_quits() {
    let Some(_root) = require_root() else { return };
    assert!(
        Tmux::available() || std::env::var("CI").as_deref() != Ok("true"),
        "tmux is missing (scripts/lib.sh installs it); CI must run this test"
    );
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed; cvtui's lab test did not run");
        return;
    }
    let _serial = one_at_a_time();
    let bins = bin_dir();
    let options = LabOptions {
        bin_dir: Some(bins.clone()),
        ..LabOptions::default()
    };
    let lab =
        Lab::start_file(&root().join("tests/labs/trio.kdl"), options).expect("the trio lab starts");
    let alpha = lab.host("alpha");
    // Traffic first, so the peers have handshakes and counters to show.
    alpha
        .ping(overlay(&lab, "bravo"), 2)
        .expect("alpha reaches bravo");
    alpha
        .ping(overlay(&lab, "carol"), 2)
        .expect("alpha reaches carol");

    let exit_file = lab.run_dir().join("cvtui.exit");
    let command = format!(
        "{} --socket {}; echo $? > {}",
        bins.join("cvtui").display(),
        alpha.socket_path().display(),
        exit_file.display()
    );
    let tmux = Tmux::start("cvtui-lab", &command, 120, 32);
    tmux.until("alpha's overview", WAIT, |s| s.contains("alpha"));

    tmux.keys(&["2"]);
    let peers = tmux.until("both peers", WAIT, |s| {
        s.contains("bravo") && s.contains("carol")
    });
    assert!(
        peers.contains("direct"),
        "the path column shows direct paths:\n{peers}"
    );

    tmux.keys(&["/", "car", "Enter"]);
    let filtered = tmux.until("the filtered table", WAIT, |s| !s.contains("bravo"));
    assert!(filtered.contains("carol"), "{filtered}");

    tmux.keys(&["q"]);
    let deadline = std::time::Instant::now() + WAIT;
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&exit_file)
            && text.ends_with('\n')
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cvtui did not exit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, "0\n", "q exits cleanly");
}
