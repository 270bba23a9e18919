//! `cvlanctl sas` (the real binary) against two real vrouterd daemons running in this test
//! on an in-memory network: the swanctl-like table, the JSON document, `--peer`, `status` of
//! a vrouter, and the exit code when no daemon listens.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{code, json, stdout};
use cvlan_vrouterd::harness::InMemory;

fn cvlanctl_at(socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cvlanctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run cvlanctl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_lists_a_live_vrouter_like_swanctl_and_as_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [(gw, _gw_tun), (br, _br_tun)] = InMemory::pair(dir.path())
        .await
        .expect("the vrouters start");

    let socket = gw.socket.clone();
    let mut doc = serde_json::Value::Null;
    for _ in 0..100 {
        let socket = socket.clone();
        let out = tokio::task::spawn_blocking(move || cvlanctl_at(&socket, &["sas", "--json"]))
            .await
            .expect("runs");
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        doc = json(&out);
        if doc["sas"][0]["state"] == "established"
            && doc["sas"][0]["children"][0]["state"] == "installed"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sa = &doc["sas"][0];
    assert_eq!(sa["peer"], "br", "{doc:#}");
    assert_eq!(sa["state"], "established");
    assert_eq!(sa["initiator"], true);
    assert_eq!(sa["local_id"], "gw.example");
    assert_eq!(sa["remote_id"], "br.example");
    assert_eq!(sa["encryption"], "AES_CBC-256");
    assert_eq!(sa["integrity"], "HMAC_SHA2_256_128");
    assert_eq!(sa["prf"], "PRF_HMAC_SHA2_256");
    assert_eq!(sa["dh_group"], "ECP_256");
    assert_eq!(sa["initiator_spi"].as_str().map(str::len), Some(16));
    let child = &sa["children"][0];
    assert_eq!(child["local_ts"][0], "10.1.0.0/24");
    assert_eq!(child["remote_ts"][0], "10.2.0.0/24");
    assert_eq!(child["spi_in"].as_str().map(str::len), Some(8));
    assert_eq!(doc["counters"]["dropped_total"], 0);
    assert!(doc["counters"]["ike_in"].as_u64().unwrap_or(0) >= 2);

    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || cvlanctl_at(&s, &["sas"]))
        .await
        .expect("runs");
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    let spi_i = sa["initiator_spi"].as_str().expect("spi");
    assert!(
        text.starts_with(&format!(
            "br: #{}, ESTABLISHED, IKEv2, {spi_i}_i* ",
            sa["unique_id"]
        )),
        "{text}"
    );
    assert!(
        text.contains("  local  'gw.example' @ 10.0.0.1[4500]\n"),
        "{text}"
    );
    assert!(
        text.contains("  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256\n"),
        "{text}"
    );
    assert!(
        text.contains(", INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128\n"),
        "{text}"
    );
    assert!(
        text.contains("    local  10.1.0.0/24\n    remote 10.2.0.0/24\n"),
        "{text}"
    );
    assert!(text.contains("\ndropped: 0\n"), "{text}");
    assert!(!text.contains(cvlan_vrouterd::harness::PAIR_PSK));

    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || {
        cvlanctl_at(&s, &["sas", "--peer", "nobody", "--json"])
    })
    .await
    .expect("runs");
    assert_eq!(json(&out)["sas"], serde_json::json!([]));

    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || cvlanctl_at(&s, &["status", "--json"]))
        .await
        .expect("runs");
    let status = json(&out);
    assert_eq!(status["kind"], "vrouter");
    assert_eq!(status["name"], "gw");
    assert_eq!(status["peers"]["connected"], 1);
    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || cvlanctl_at(&s, &["status"]))
        .await
        .expect("runs");
    assert!(
        stdout(&out).starts_with("vrouter      gw (network lab, tenant default)\n"),
        "{}",
        stdout(&out)
    );

    gw.stop().await.expect("gw stops");
    br.stop().await.expect("br stops");
    let out = cvlanctl_at(&socket, &["sas"]);
    assert_eq!(code(&out), 2, "no daemon: could not run");
}
