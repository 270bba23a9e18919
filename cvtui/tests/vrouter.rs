//! cvtui against a real cvlan-vrouterd (two daemons in this process on an in-memory network,
//! `cvlan_vrouterd::harness`): the IPsec SAs view appears because the daemon serves it, shows
//! the established IKE SA and its installed child SA with their algorithms and traffic
//! selectors, and the Relays view does not exist (that daemon does not serve it).

use std::time::Duration;

use cvlan_lab::tmux::Tmux;
use cvlan_vrouterd::harness::InMemory;

/// How long a screen may take to show what is awaited.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cvtui_shows_a_vrouters_sas() {
    if !Tmux::available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tmux is missing (scripts/lib.sh installs it); CI must run this test"
        );
        eprintln!("SKIPPED: tmux is not installed; cvtui's vrouter test did not run");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let [(gw, _gw_tun), (br, _br_tun)] = InMemory::pair(dir.path())
        .await
        .expect("the vrouters start");
    let command = format!(
        "{} --socket {}",
        env!("CARGO_BIN_EXE_cvtui"),
        gw.socket.display()
    );
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start("cvtui-vrouter", &command, 140, 36);
        let tabs = tmux.until("the SAs tab", WAIT, |s| s.contains("IPsec SAs"));
        assert!(!tabs.contains("Relays"), "no relays view:\n{tabs}");
        tmux.keys(&["5"]);
        let screen = tmux.until("the established SA and its child", WAIT, |s| {
            s.contains("established") && s.contains("installed")
        });
        tmux.keys(&["q"]);
        screen
    })
    .await
    .expect("tmux runs");
    assert!(screen.contains("br"), "{screen}");
    assert!(screen.contains("10.0.0.2"), "the peer's address:\n{screen}");
    assert!(screen.contains("AES_CBC-256"), "{screen}");
    assert!(
        screen.contains("10.1.0.0/24 ⇄ 10.2.0.0/24"),
        "the child's selectors:\n{screen}"
    );
    gw.stop().await.expect("gw stops");
    br.stop().await.expect("br stops");
}
