//! Load on the real `cvlan-controller` binary (issue 12): N simulated nodes (default 10,000;
//! `CVLAN_LOAD_NODES`) on loopback, each with its own machine key, Noise session and gRPC
//! connection, register with one reusable auth key and hold a netmap stream. Measured:
//! registrations per second; the controller's RSS per connected node once they idle; an apply
//! (one rule edited) until every node's stream has the new revision, p50/p99/max; and the RSS
//! and threads after every node has left.
//!
//! Run it with `scripts/bench-controller` (raises the descriptor limit: two per node).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;
#[path = "../tests/common/mod.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{network, sizes};
use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::transport::noise;
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_proto::v1::control_service_client::ControlServiceClient;
use cvlan_types::{PrivateKey, PublicKey};
use harness::{memory_of as memory, run as controller};
use tokio::sync::{Semaphore, watch};
use tonic::Request;
use tonic::transport::Channel;

/// Handshakes and registrations in flight at once.
const CONCURRENCY: usize = 64;

fn authed<T>(api_key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let bearer = format!("Bearer {api_key}").parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    request
}

/// The revision of a netmap update (keepalives: none).
fn revision(update: &v1::NetmapUpdate) -> Option<u64> {
    match update.body.as_ref()? {
        v1::netmap_update::Body::Full(map) => Some(map.revision),
        v1::netmap_update::Body::Delta(delta) => Some(delta.revision),
        v1::netmap_update::Body::Keepalive(()) => None,
    }
}

/// One node: registers over its own connection, then follows its stream; reports the time
/// it first sees each revision the `wanted` channel names, measured from the instant sent
/// with it.
async fn node(
    addr: String,
    key: PublicKey,
    auth: String,
    name: String,
    slots: Arc<Semaphore>,
    mut wanted: watch::Receiver<(u64, Instant)>,
    reached: tokio::sync::mpsc::UnboundedSender<Event>,
) {
    let machine = PrivateKey::generate();
    let channel: Channel = {
        let _slot = slots.acquire().await.unwrap();
        let started = Instant::now();
        let channel = noise::connect(&addr, &machine, &key).await.unwrap();
        let mut control = ControlServiceClient::new(channel.clone());
        control
            .register(v1::RegisterRequest {
                auth_key: auth,
                node_name: name.clone(),
                node_key: key_to_bytes(&PrivateKey::generate().public_key()),
                hostinfo: None,
                capabilities: vec!["wireguard".to_owned()],
            })
            .await
            .unwrap();
        let _ = reached.send(Event::Registered(started.elapsed()));
        channel
    };
    let mut control = ControlServiceClient::new(channel);
    let mut stream = control
        .watch_netmap(v1::WatchNetmapRequest::default())
        .await
        .unwrap()
        .into_inner();
    let (mut first, mut reported) = (true, 0);
    loop {
        tokio::select! {
            message = stream.message() => {
                let Ok(Some(message)) = message else { return };
                let Some(got) = message.update.as_ref().and_then(revision) else { continue };
                if first {
                    first = false;
                    let _ = reached.send(Event::Streaming);
                }
                let (target, since) = *wanted.borrow();
                if target != 0 && got >= target && reported < target {
                    reported = target;
                    let _ = reached.send(Event::Updated(since.elapsed()));
                }
            }
            changed = wanted.changed() => if changed.is_err() { return },
        }
    }
}

enum Event {
    Registered(Duration),
    Streaming,
    Updated(Duration),
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(nodes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("controller.kdl");
    std::fs::write(
        &config,
        format!(
            "listen \"{addr}\"\nkey-file \"controller.key\"\ndatabase \"sqlite\" path=\"controller.db\"\nnetwork-file \"network.kdl\"\n"
        ),
    )
    .unwrap();
    let key_text = controller(&config, &["pubkey"]).trim().to_owned();
    let key: PublicKey = key_text.parse().unwrap();
    std::fs::write(
        dir.path().join("network.kdl"),
        network(nodes, &addr, &key_text, false),
    )
    .unwrap();
    let created: serde_json::Value = serde_json::from_str(&controller(
        &config,
        &["apikey", "create", "--scope", "admin", "--json"],
    ))
    .unwrap();
    let api_key = created["key"].as_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cvlan-controller"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let admin_channel = loop {
        if let Ok(c) = noise::connect(&addr, &PrivateKey::generate(), &key).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut admin = AdminServiceClient::new(admin_channel);
    let auth = admin
        .create_auth_key(authed(
            &api_key,
            v1::CreateAuthKeyRequest {
                reusable: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .secret;
    let (rss_empty, threads_empty) = memory(pid);

    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let (wanted_tx, wanted) = watch::channel((0u64, Instant::now()));
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..nodes {
        tasks.spawn(node(
            addr.clone(),
            key,
            auth.clone(),
            format!("n{i}"),
            slots.clone(),
            wanted.clone(),
            events_tx.clone(),
        ));
    }
    drop(events_tx);
    let (mut registered, mut streaming) = (Vec::with_capacity(nodes), 0);
    let mut registered_at = None;
    while streaming < nodes {
        match events.recv().await.unwrap() {
            Event::Registered(took) => {
                registered.push(took);
                if registered.len() == nodes {
                    registered_at = Some(started.elapsed());
                }
            }
            Event::Streaming => streaming += 1,
            Event::Updated(_) => {}
        }
    }
    let all_streaming = started.elapsed();
    let registering = registered_at.unwrap_or(all_streaming);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_idle, threads_idle) = memory(pid);

    // One rule edited: every node's map names the new revision (the seed was revision 1).
    let edited = network(nodes, &addr, &key_text, true);
    let applied_at = Instant::now();
    wanted_tx.send_replace((2, applied_at));
    let target = {
        let response = admin
            .apply(authed(
                &api_key,
                v1::ApplyRequest {
                    files: vec![v1::SourceFile {
                        name: "network.kdl".to_owned(),
                        text: edited,
                    }],
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(response.applied, "{:?}", response.diagnostics);
        response.revision.unwrap().revision
    };
    let apply_call = applied_at.elapsed();
    assert_eq!(target, 2, "the apply made revision 2");
    let mut updated = Vec::with_capacity(nodes);
    while updated.len() < nodes {
        match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
            Ok(Some(Event::Updated(took))) => updated.push(took),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let (rss_after_apply, _) = memory(pid);

    // Every node leaves.
    tasks.shutdown().await;
    drop(wanted_tx);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_left, threads_left) = memory(pid);
    child.kill().unwrap();
    child.wait().unwrap();

    registered.sort_unstable();
    updated.sort_unstable();
    assert_eq!(updated.len(), nodes, "every node got the new revision");
    let per_node = (rss_idle.saturating_sub(rss_empty)) as f64 / nodes as f64;
    println!("\n## {nodes} nodes on one controller (SQLite), loopback\n");
    println!("| measure | value |\n|---|---|");
    println!(
        "| registrations (Noise handshake + Register, {CONCURRENCY} in flight) | {:.0} /s; each p50 {} p99 {} |",
        nodes as f64 / registering.as_secs_f64(),
        ms(percentile(&registered, 0.5)),
        ms(percentile(&registered, 0.99))
    );
    println!(
        "| all {nodes} streaming their first map | {} |",
        ms(all_streaming)
    );
    println!(
        "| controller RSS: empty → {nodes} idle streams | {:.1} MB → {:.1} MB ({per_node:.1} KiB per node); threads {threads_empty} → {threads_idle} |",
        rss_empty as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    println!(
        "| apply (one rule edited) → every node has the revision | p50 {} p99 {} max {} (the apply call: {}) |",
        ms(percentile(&updated, 0.5)),
        ms(percentile(&updated, 0.99)),
        ms(percentile(&updated, 1.0)),
        ms(apply_call)
    );
    println!(
        "| RSS after the apply; 5 s after every node left | {:.1} MB; {:.1} MB, threads {threads_left} |",
        rss_after_apply as f64 / 1024.0,
        rss_left as f64 / 1024.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for nodes in sizes("CVLAN_LOAD_NODES", "10000") {
        runtime.block_on(run(nodes));
    }
}
