//! The real cvlan-vrouterd binary under systemd (`Type=notify`,
//! examples/systemd/cvlan-vrouterd.service): READY=1 once its local API socket is up,
//! RELOADING=1 then READY=1 around a SIGHUP (`systemctl reload`), STOPPING=1 on SIGTERM.
//! `NOTIFY_SOCKET` names a datagram socket of the test's, in the daemon's environment only.
//! Needs root (a network namespace and a TUN device). Also the man page the packages install
//! with the unit (`cvlan-vrouterd man`, no root needed).

use std::process::Command;
use std::time::Duration;

use cvlan_lab::scratch::{NotifyListener, ScratchNetns};

/// One vrouter answering a single dial-in IPsec peer (nothing is sent until it calls).
fn network(public_key: &str) -> String {
    format!(
        "network \"t\" {{ overlay \"100.80.0.0/16\"; }}\n\
         vrouter \"gw\" {{\n\
             public-key \"{public_key}\"\n\
             address \"100.80.0.2\"\n\
             listen \"127.0.0.1:4500\"\n\
             ipsec-peer \"kiosk\" {{\n\
                 remote \"%any\"\n\
                 id local=\"gw.t\" remote=\"kiosk.t\"\n\
                 auth \"psk\" secret-env=\"CVLAN_PSK_KIOSK\"\n\
                 remote-ts \"192.168.103.0/24\"\n\
                 proposals ike=\"aes256-sha256-modp2048\" esp=\"aes256-sha256\"\n\
             }}\n\
         }}\n"
    )
}

#[test]
fn the_vrouter_tells_systemd_when_it_is_ready_reloads_and_stops() {
    let Some(_root) = cvlan_lab::require_root() else {
        return;
    };
    let ns = ScratchNetns::create(&format!("cvr-{}", std::process::id())).expect("a namespace");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let cfg = dir.path().join("vrouterd.kdl");
    std::fs::write(
        &cfg,
        format!(
            "vrouter \"gw\"\nstate-dir \"{d}/state\"\nsocket \"{d}/vrouterd.sock\"\n\
             source \"file\" path=\"{d}/network.kdl\"\n"
        ),
    )
    .unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_cvlan-vrouterd"))
        .args(["pubkey", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    std::fs::write(dir.path().join("network.kdl"), network(&key)).unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = NotifyListener::bind(&notify_path, Duration::from_secs(20)).unwrap();
    let next = || notify.next();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(env!("CARGO_BIN_EXE_cvlan-vrouterd"))
        .arg("--config")
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("CVLAN_PSK_KIOSK", "a pre-shared key for the test")
        .stderr(log)
        .spawn()
        .unwrap();
    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    };
    let ready = next();
    let serving = dir.path().join("vrouterd.sock").exists();
    assert!(kill("-HUP"));
    let reloading = next();
    let reloaded = next();
    assert!(kill("-TERM"));
    let stopping = next();
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(ready, "READY=1", "{log}");
    assert!(serving, "READY=1 came before the API socket was up\n{log}");
    assert_eq!(
        (reloading.as_str(), reloaded.as_str()),
        ("RELOADING=1", "READY=1"),
        "{log}"
    );
    assert!(log.contains("SIGHUP: reading the source again"), "{log}");
    assert_eq!(stopping, "STOPPING=1", "{log}");
    assert!(status.success(), "{status:?}\n{log}");
}

#[test]
fn man_prints_the_section_8_page_without_a_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_cvlan-vrouterd"))
        .arg("man")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH cvlan-vrouterd 8 "), "{page}");
    assert!(page.contains("pubkey"), "the subcommands: {page}");
}
