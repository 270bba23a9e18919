//! The real cvlan-vrouterd binary under systemd (`Type=notify`,
//! examples/systemd/cvlan-vrouterd.service): READY=1 once its local API socket is up,
//! RELOADING=1 then READY=1 around a SIGHUP (`systemctl reload`), STOPPING=1 on SIGTERM.
//! `NOTIFY_SOCKET` names a datagram socket of the test's, in the daemon's environment only.
//! Needs root (a network namespace and a TUN device). Also the man page the packages install
//! with the unit (`cvlan-vrouterd man`, no root needed).

use std::process::Command;

use cvlan_lab::scratch::{ScratchNetns, notify_life};

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
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_cvlan-vrouterd"));
    daemon
        .arg("--config")
        .arg(&cfg)
        .env("CVLAN_PSK_KIOSK", "a pre-shared key for the test");
    let socket = dir.path().join("vrouterd.sock");
    let life = notify_life(&ns, &daemon, dir.path(), &socket).unwrap();
    life.check().unwrap_or_else(|e| panic!("{e}"));
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
