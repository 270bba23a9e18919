//! `kill -9` of the real `cvlan-controller` while applies stream in: after it, the database
//! passes SQLite's integrity check and every revision is whole (its text hashes to its hash,
//! it has its audit entry) or absent, numbered without gaps; and a restarted controller serves
//! the newest one.

#![allow(clippy::unwrap_used)] // test code unwraps

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use cvlan_controller::store::Store as _;
use cvlan_controller::store::sqlite::SqliteStore;
use cvlan_proto::transport::noise;
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_types::{PrivateKey, PublicKey};
use sha2::{Digest as _, Sha256};

fn network(i: usize) -> String {
    format!(
        "network \"corp\" {{ overlay \"100.64.0.0/10\" }}\n\
         controller \"ctl\" address=\"127.0.0.1:7443\" public-key=\"Y2xvdWR2bGFuLWNvbnRyb2xsZXIta2V5LTMyYnl0ZXM=\"\n\
         node \"web-{i}\" {{ tags \"server\" }}\n\
         policy {{ allow \"web\" from=\"*\" to=\"tag:server\" ports=\"443/tcp\" }}\n"
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn controller(args: &[&str], config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"));
    command.args(args).arg("--config").arg(config);
    command
}

fn start(config: &std::path::Path, addr: &str) -> Child {
    let child = controller(&[], config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the controller listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Applies revisions one after another until the connection fails (the controller died).
async fn apply_until_killed(addr: String, key: PublicKey, api_key: String) -> usize {
    let channel = noise::connect(&addr, &PrivateKey::generate(), &key)
        .await
        .unwrap();
    let mut admin = AdminServiceClient::new(channel);
    let mut applied = 0;
    for i in 0.. {
        let mut request = tonic::Request::new(v1::ApplyRequest {
            files: vec![v1::SourceFile {
                name: "network.kdl".to_owned(),
                text: network(i),
            }],
            ..Default::default()
        });
        let bearer = format!("Bearer {api_key}").parse().unwrap();
        request.metadata_mut().insert("authorization", bearer);
        match admin.apply(request).await {
            Ok(response) => {
                let response = response.into_inner();
                assert!(response.applied, "{:?}", response.diagnostics);
                applied += 1;
            }
            Err(_) => break,
        }
    }
    applied
}

#[test]
fn a_kill_during_applies_leaves_every_revision_whole_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let db = dir.path().join("controller.db");
    let config = dir.path().join("controller.kdl");
    std::fs::write(
        &config,
        format!(
            "listen \"{addr}\"\nkey-file \"controller.key\"\ndatabase \"sqlite\" path=\"{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let out = controller(&["pubkey"], &config).output().unwrap();
    let key: PublicKey = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = controller(&["apikey", "create", "--scope", "write", "--json"], &config)
        .output()
        .unwrap();
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let api_key = created["key"].as_str().unwrap().to_owned();

    let mut child = start(&config, &addr);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let applying = runtime.spawn(apply_until_killed(addr.clone(), key, api_key));
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no chance to finish anything
    child.wait().unwrap();
    let applied = runtime.block_on(applying).unwrap();
    assert!(applied > 0, "some applies went through before the kill");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    let store = SqliteStore::open(&db).unwrap();
    let revisions = store.revisions().unwrap();
    // Every answered apply is there; at most the one in flight may be there without an answer.
    assert!(
        revisions.len() == applied || revisions.len() == applied + 1,
        "{} revisions, {applied} applies answered",
        revisions.len()
    );
    let ids: Vec<i64> = revisions.iter().rev().map(|r| r.id).collect();
    assert_eq!(ids, (1..=revisions.len() as i64).collect::<Vec<_>>());
    for info in &revisions {
        let whole = store.revision(info.id).unwrap().unwrap();
        let hash: String = Sha256::digest(whole.text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash, info.hash, "revision {} is whole", info.id);
    }
    let commits = store
        .audit_since(UNIX_EPOCH)
        .unwrap()
        .iter()
        .filter(|e| e.entry.action == "revision.commit")
        .count();
    assert_eq!(
        commits,
        revisions.len(),
        "each revision has its audit entry"
    );
    drop(store);
    eprintln!(
        "{applied} applies answered before the kill; {} revisions",
        revisions.len()
    );

    // A restarted controller comes up on the same database.
    let mut child = start(&config, &addr);
    child.kill().unwrap();
    child.wait().unwrap();
}
