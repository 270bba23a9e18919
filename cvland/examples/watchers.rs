//! Load for scripts/bench-scale: CLIENTS clients attach to a daemon's local API the way cvtui
//! does (the live peer table, policy hits and events, each every INTERVAL_MS), read for
//! SECONDS, then all leave at once without a word, as closed terminals do. Prints what they
//! received. Usage: `watchers SOCKET CLIENTS SECONDS [INTERVAL_MS]`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example prints

use std::time::Duration;

use cvlan_proto::local::connect;
use cvlan_proto::v1;
use tokio::task::JoinSet;

/// What one client received.
#[derive(Default)]
struct Received {
    messages: u64,
    rows: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(socket), Some(Ok(clients)), Some(Ok(seconds))) = (
        args.first().cloned(),
        args.get(1).map(|a| a.parse::<u64>()),
        args.get(2).map(|a| a.parse::<u64>()),
    ) else {
        eprintln!("usage: watchers SOCKET CLIENTS SECONDS [INTERVAL_MS]");
        return std::process::ExitCode::from(2);
    };
    let interval_ms = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000u64);
    let interval = prost_types::Duration::try_from(Duration::from_millis(interval_ms)).ok();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let socket = socket.clone();
        tasks.spawn(async move {
            let mut got = Received::default();
            let Ok(mut client) = connect(&socket).await else {
                return Err("cannot connect");
            };
            let peers = client.watch_peers(v1::WatchPeersRequest { interval }).await;
            let hits = client
                .watch_policy_hits(v1::WatchPolicyHitsRequest { interval })
                .await;
            let events = client
                .watch_events(v1::WatchEventsRequest {
                    follow: true,
                    start: Some(v1::watch_events_request::Start::Last(100)),
                    ..Default::default()
                })
                .await;
            let (Ok(peers), Ok(hits), Ok(events)) = (peers, hits, events) else {
                return Err("a watch was refused");
            };
            let (mut peers, mut hits, mut events) =
                (peers.into_inner(), hits.into_inner(), events.into_inner());
            let deadline = tokio::time::sleep(Duration::from_secs(seconds));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    m = peers.message() => match m {
                        Ok(Some(m)) => {
                            got.messages += 1;
                            got.rows += m.peers.len() as u64 + m.removed.len() as u64;
                        }
                        _ => return Err("the peer stream ended"),
                    },
                    m = hits.message() => match m {
                        Ok(Some(_)) => got.messages += 1,
                        _ => return Err("the hits stream ended"),
                    },
                    m = events.message() => match m {
                        Ok(Some(_)) => got.messages += 1,
                        _ => return Err("the event stream ended"),
                    },
                }
            }
            // Dropping the streams and the channel here is the client going away.
            Ok(got)
        });
    }
    let mut total = Received::default();
    let mut failed = 0u64;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(got)) => {
                total.messages += got.messages;
                total.rows += got.rows;
            }
            Ok(Err(why)) => {
                failed += 1;
                eprintln!("watchers: {why}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("watchers: {e}");
            }
        }
    }
    println!(
        "{clients} clients, {seconds} s: {} messages, {} peer rows, {failed} failed",
        total.messages, total.rows
    );
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
