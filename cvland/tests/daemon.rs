//! The real cvland binary: `pubkey`, `man`, config errors and exit codes, and a daemon in a fresh
//! network namespace that serves the local API, reloads and plans, and stops cleanly on SIGTERM
//! within 3 s (TUN and socket removed) without ever logging its private key; and its readiness
//! notices to systemd.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cvlan_lab::scratch::{ScratchNetns, notify_life};
use cvlan_proto::v1;

fn cvland() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cvland"))
}

const PEER_KEY: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn network(own_key: &str, bravo_routes: &str) -> String {
    format!(
        "network \"t\" {{ overlay \"100.64.0.0/10\"; listen-port 51830; }}\n\
         node \"alpha\" {{ public-key \"{own_key}\"; address \"100.64.0.1\"; }}\n\
         node \"bravo\" {{ public-key \"{PEER_KEY}\"; address \"100.64.0.2\"; endpoint \"192.0.2.2:51830\";{bravo_routes} }}\n\
         policy {{ allow \"all\" from=\"*\" to=\"*\"; }}\n"
    )
}

fn config(dir: &Path) -> String {
    format!(
        "node \"alpha\"\nstate-dir \"{d}/state\"\nsocket \"{d}/cvland.sock\"\ntun \"cvl0\"\nsource \"file\" path=\"{d}/network.kdl\"\n",
        d = dir.display()
    )
}

#[test]
fn pubkey_creates_the_key_once_and_prints_only_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cvland.kdl"), config(dir.path())).unwrap();
    let run = || {
        cvland()
            .args(["pubkey", "--config"])
            .arg(dir.path().join("cvland.kdl"))
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let key = String::from_utf8(first.stdout).unwrap();
    assert_eq!(key.len(), 45, "one base64 key and a newline: {key:?}");
    assert!(key.trim().parse::<cvlan_schema::PublicKey>().is_ok());
    assert_eq!(String::from_utf8(run().stdout).unwrap(), key);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/node.key")), 0o600);
}

#[test]
fn config_errors_are_diagnostics_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cvland.kdl");
    std::fs::write(&file, "node \"alpha\"\nstate-dir \"relative\"\n").unwrap();
    let out = cvland().arg("--config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cvlan::invalid-value"), "{err}");
    let out = cvland()
        .args(["--config", "/nonexistent/cvland.kdl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cvland.kdl"));
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_daemon_serves_reloads_plans_and_stops_cleanly() {
    let Some(_root) = cvlan_lab::require_root() else {
        return;
    };
    let ns = ScratchNetns::create(&format!("cvd-{}", std::process::id())).expect("a namespace");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cvland.kdl");
    std::fs::write(&cfg, config(dir.path())).unwrap();
    let key = cvland()
        .args(["pubkey", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    std::fs::write(dir.path().join("network.kdl"), network(&key, "")).unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(env!("CARGO_BIN_EXE_cvland"))
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "debug")
        .stderr(log)
        .spawn()
        .unwrap();
    let socket = dir.path().join("cvland.sock");
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut api = cvlan_proto::local::connect(&socket).await.unwrap();
        let status = api.status(v1::StatusRequest {}).await.unwrap().into_inner();
        assert_eq!(status.name, "alpha");
        assert_eq!(status.addresses, ["100.64.0.1"]);
        assert_eq!(status.listen_port, 51830);
        assert_eq!(status.peers.unwrap().total, 1);
        assert_eq!(
            status.last_apply.unwrap().outcome(),
            v1::ApplyOutcome::Applied
        );
        let reload = api.reload(v1::ReloadRequest {}).await.unwrap().into_inner();
        assert_eq!(
            reload.result.unwrap().outcome(),
            v1::ApplyOutcome::Applied,
            "the same file: the applied result stands"
        );

        // The live views: the peer table starts with a full snapshot; buffered events replay.
        let mut peers = api
            .watch_peers(v1::WatchPeersRequest {
                interval: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 100_000_000,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let first = peers.message().await.unwrap().unwrap();
        assert!(first.full);
        assert_eq!(first.peers[0].name, "bravo");
        assert_eq!(first.peers[0].allowed_ips, ["100.64.0.2/32"]);
        let mut events = api
            .watch_events(v1::WatchEventsRequest {
                start: Some(v1::watch_events_request::Start::Last(50)),
                kinds: vec!["apply".into(), "peer".into()],
                follow: false,
            })
            .await
            .unwrap()
            .into_inner();
        let mut kinds = Vec::new();
        while let Some(event) = events.message().await.unwrap() {
            kinds.push(event.kind);
        }
        assert_eq!(kinds, ["peer.added", "apply.applied"]);

        // Plan a new route for bravo: one in-place peer update, nothing applied.
        let changed = network(&key, " routes \"10.9.0.0/16\";");
        let plan = api
            .local_plan(v1::LocalPlanRequest {
                files: vec![v1::SourceFile {
                    name: "new.kdl".into(),
                    text: changed.clone(),
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert!(plan.ok, "{plan:?}");
        let lines: Vec<_> = plan.actions.iter().map(|a| a.line.as_str()).collect();
        assert_eq!(lines, ["~ peer bravo: allowed-ips +10.9.0.0/16"]);

        // Apply it through the file and Reload: the route appears on the TUN.
        std::fs::write(dir.path().join("network.kdl"), &changed).unwrap();
        let reload = api.reload(v1::ReloadRequest {}).await.unwrap().into_inner();
        let result = reload.result.unwrap();
        assert_eq!(result.outcome(), v1::ApplyOutcome::Applied);
        assert_eq!(result.actions, 1, "{result:?}");
        let routes = Command::new("ip")
            .args(["-n", ns.name(), "route"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&routes.stdout).contains("10.9.0.0/16 dev cvl0"));

        // A new address for this node restarts the device with it (and keeps the peer).
        let moved = changed.replace("address \"100.64.0.1\"", "address \"100.64.0.9\"");
        std::fs::write(dir.path().join("network.kdl"), &moved).unwrap();
        let reload = api.reload(v1::ReloadRequest {}).await.unwrap().into_inner();
        let result = reload.result.unwrap();
        assert_eq!(result.outcome(), v1::ApplyOutcome::Applied);
        assert!(result.message.contains("device.restart"), "{result:?}");
        let addrs = Command::new("ip")
            .args(["-n", ns.name(), "addr", "show", "cvl0"])
            .output()
            .unwrap();
        let addrs = String::from_utf8_lossy(&addrs.stdout);
        assert!(addrs.contains("100.64.0.9/10"), "{addrs}");
        assert!(!addrs.contains("100.64.0.1/10"), "{addrs}");
        let status = api.status(v1::StatusRequest {}).await.unwrap().into_inner();
        assert_eq!(status.addresses, ["100.64.0.9"]);
        assert_eq!(status.peers.unwrap().total, 1);
    });
    assert!(
        ip(&["-n", ns.name(), "link", "show", "cvl0"]),
        "the TUN exists while running"
    );
    let stop = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let took = stop.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(3), "stopped in {took:?}");
    assert!(!socket.exists(), "the socket is removed");
    assert!(
        !ip(&["-n", ns.name(), "link", "show", "cvl0"]),
        "the TUN is removed"
    );
    let private = std::fs::read_to_string(dir.path().join("state/node.key")).unwrap();
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("apply.applied"), "{log}");
    assert!(
        !log.contains(private.trim()),
        "the private key is never logged"
    );
}

/// Under systemd (`Type=notify`, examples/systemd/cvland.service) cvland says READY=1 once its
/// local API socket is up, RELOADING=1 then READY=1 around a SIGHUP (`systemctl reload`), and
/// STOPPING=1 on SIGTERM: `NOTIFY_SOCKET` names a datagram socket of the test's, in the
/// daemon's environment only.
#[test]
fn the_daemon_tells_systemd_when_it_is_ready_reloads_and_stops() {
    let Some(_root) = cvlan_lab::require_root() else {
        return;
    };
    let ns = ScratchNetns::create(&format!("cvn-{}", std::process::id())).expect("a namespace");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cvland.kdl");
    std::fs::write(&cfg, config(dir.path())).unwrap();
    let key = cvland()
        .args(["pubkey", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    std::fs::write(dir.path().join("network.kdl"), network(&key, "")).unwrap();
    let mut daemon = cvland();
    daemon.arg("--config").arg(&cfg);
    let life = notify_life(&ns, &daemon, dir.path(), &dir.path().join("cvland.sock")).unwrap();
    life.check().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn man_prints_the_section_8_page_without_reading_a_config() {
    let out = cvland()
        .args(["man", "--config", "/nonexistent/cvland.kdl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH cvland 8 "), "{page}");
    assert!(page.contains("pubkey"), "the subcommands: {page}");
    let help = cvland().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        !help
            .lines()
            .any(|line| line.trim_start().starts_with("man ")),
        "hidden from --help: {help}"
    );
}
