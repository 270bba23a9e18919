//! One connection to the daemon: ask for the status and which optional calls it serves, open
//! the live streams, forward what they carry as messages, and run commands, until a stream
//! fails (the daemon went away) or the dashboard closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cvlan_proto::local::LocalApiServiceClient;
use cvlan_proto::prost_types;
use cvlan_proto::v1;
use cvlan_proto::v1::watch_events_request::Start;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use super::{EVENT_REPLAY, FEED_INTERVAL};
use crate::msg::{Cmd, Connected, Feed, Msg, Served};

type Client = LocalApiServiceClient<Channel>;

/// How a session ended.
pub(super) enum Ended {
    /// The dashboard is gone: stop.
    Closed,
    /// The daemon could not be used any more.
    Lost {
        /// Why, for people.
        reason: String,
        /// Whether the session had connected fully (resets the backoff).
        was_up: bool,
    },
}

/// Where to resume the event stream on the next connection.
#[derive(Debug, Default)]
pub(super) struct Resume {
    /// The daemon last connected to, by start time; `None` before the first connection.
    daemon: Option<Option<prost_types::Timestamp>>,
    /// The newest event sequence number received from it.
    last_seq: Arc<AtomicU64>,
}

impl Resume {
    /// Where the event stream starts for a daemon reporting `status`: the newest buffered
    /// events on the first connection, right after the last event seen when the same daemon
    /// answers again, and all it buffered when it is a new daemon (it restarted).
    fn start(&mut self, status: &v1::StatusResponse) -> Start {
        let start = match &self.daemon {
            None => Start::Last(EVENT_REPLAY),
            Some(Some(started)) if status.started_at.as_ref() == Some(started) => {
                Start::AfterSeq(self.last_seq.load(Ordering::Relaxed))
            }
            Some(_) => Start::AfterSeq(0),
        };
        if !matches!(start, Start::AfterSeq(seq) if seq > 0) {
            self.last_seq.store(0, Ordering::Relaxed);
        }
        self.daemon = Some(status.started_at);
        start
    }
}

/// Runs one connection until it ends.
pub(super) async fn run(
    mut client: Client,
    msgs: &mpsc::Sender<Msg>,
    cmds: &mut mpsc::Receiver<Cmd>,
    resume: &mut Resume,
) -> Ended {
    let lost = |call: &str, status: &Status| Ended::Lost {
        reason: describe(call, status),
        was_up: false,
    };
    let status = match client.status(v1::StatusRequest {}).await {
        Ok(response) => response.into_inner(),
        Err(status) => return lost("Status", &status),
    };
    let relays = match optional(client.relays(v1::RelaysRequest {}).await) {
        Ok(answer) => answer,
        Err(status) => return lost("Relays", &status),
    };
    let netcheck = match relays {
        Some(_) => optional(
            client
                .netcheck(v1::NetcheckRequest { refresh: false })
                .await,
        )
        .ok()
        .flatten()
        .flatten(),
        None => None,
    };
    let dns = optional(client.dns_status(v1::DnsStatusRequest {}).await)
        .ok()
        .flatten()
        .flatten();
    let sas_request = v1::WatchSasRequest {
        interval: Some(interval()),
        peer: String::new(),
    };
    let sas = match optional(client.watch_sas(sas_request).await) {
        Ok(stream) => stream,
        Err(status) => return lost("WatchSas", &status),
    };
    let served = Served {
        relays: relays.is_some(),
        sas: sas.is_some(),
    };
    let start = resume.start(&status);
    let connected = Msg::Connected(Box::new(Connected { status, served }));
    let follow_ups = [
        relays.flatten().map(Msg::Relays),
        netcheck.map(Msg::Netcheck),
        dns.map(Msg::Dns),
    ];
    for msg in std::iter::once(connected).chain(follow_ups.into_iter().flatten()) {
        if msgs.send(msg).await.is_err() {
            return Ended::Closed;
        }
    }

    let mut feeds = JoinSet::new();
    if let Some(Some(stream)) = sas {
        feeds.spawn(forward(
            stream,
            msgs.clone(),
            "WatchSas",
            |r: v1::WatchSasResponse| Msg::Sas(r.snapshot.unwrap_or_default()),
        ));
    }
    let peers = client
        .watch_peers(v1::WatchPeersRequest {
            interval: Some(interval()),
        })
        .await;
    let hits = client
        .watch_policy_hits(v1::WatchPolicyHitsRequest {
            interval: Some(interval()),
        })
        .await;
    let events = client
        .watch_events(v1::WatchEventsRequest {
            start: Some(start),
            kinds: Vec::new(),
            follow: true,
        })
        .await;
    let seq = Arc::clone(&resume.last_seq);
    let opened = [
        open(&mut feeds, msgs, Feed::Peers, peers, Msg::Peers).await,
        open(
            &mut feeds,
            msgs,
            Feed::PolicyHits,
            hits,
            |r: v1::WatchPolicyHitsResponse| Msg::PolicyHits(r.snapshot.unwrap_or_default()),
        )
        .await,
        open(
            &mut feeds,
            msgs,
            Feed::Events,
            events,
            move |event: v1::WatchEventsResponse| {
                seq.fetch_max(event.seq, Ordering::Relaxed);
                Msg::Event(event)
            },
        )
        .await,
    ];
    for result in opened {
        if let Err(ended) = result {
            return ended;
        }
    }

    let mut jobs = JoinSet::new();
    loop {
        tokio::select! {
            ended = feeds.join_next(), if !feeds.is_empty() => {
                return match ended {
                    Some(Ok(ended)) => ended,
                    Some(Err(join)) => Ended::Lost { reason: format!("a stream task failed: {join}"), was_up: true },
                    None => Ended::Lost { reason: "no live stream left".into(), was_up: true },
                };
            }
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { return Ended::Closed };
                command(&mut jobs, &client, msgs, cmd);
            }
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
        }
    }
}

fn interval() -> prost_types::Duration {
    prost_types::Duration::try_from(FEED_INTERVAL).unwrap_or(prost_types::Duration {
        seconds: 1,
        nanos: 0,
    })
}

/// A call's answer, `None` when the daemon does not serve the call.
fn optional<T>(result: Result<tonic::Response<T>, Status>) -> Result<Option<Option<T>>, Status> {
    match result {
        Ok(response) => Ok(Some(Some(response.into_inner()))),
        Err(status) if status.code() == Code::Unimplemented => Ok(None),
        // Served, but with nothing to say yet (no applied state, nothing measured).
        Err(status) if status.code() == Code::FailedPrecondition => Ok(Some(None)),
        Err(status) => Err(status),
    }
}

/// Starts forwarding a core stream, or reports that the daemon does not serve it.
async fn open<T, F>(
    feeds: &mut JoinSet<Ended>,
    msgs: &mpsc::Sender<Msg>,
    feed: Feed,
    opened: Result<tonic::Response<Streaming<T>>, Status>,
    wrap: F,
) -> Result<(), Ended>
where
    T: Send + 'static,
    F: Fn(T) -> Msg + Send + 'static,
{
    match opened {
        Ok(response) => {
            feeds.spawn(forward(
                response.into_inner(),
                msgs.clone(),
                feed.call(),
                wrap,
            ));
            Ok(())
        }
        Err(status) if status.code() == Code::Unimplemented => {
            if msgs.send(Msg::Unserved(feed)).await.is_err() {
                return Err(Ended::Closed);
            }
            Ok(())
        }
        Err(status) => Err(Ended::Lost {
            reason: describe(feed.call(), &status),
            was_up: false,
        }),
    }
}

/// Forwards every message of `stream` until it ends or fails.
async fn forward<T, F>(
    mut stream: Streaming<T>,
    msgs: mpsc::Sender<Msg>,
    call: &'static str,
    wrap: F,
) -> Ended
where
    F: Fn(T) -> Msg,
{
    loop {
        match stream.message().await {
            Ok(Some(item)) => {
                if msgs.send(wrap(item)).await.is_err() {
                    return Ended::Closed;
                }
            }
            Ok(None) => {
                return Ended::Lost {
                    reason: format!("the daemon ended the {call} stream (restarting?)"),
                    was_up: true,
                };
            }
            Err(status) => {
                return Ended::Lost {
                    reason: describe(call, &status),
                    was_up: true,
                };
            }
        }
    }
}

/// Runs one command in the background; its answer arrives as a message.
fn command(jobs: &mut JoinSet<()>, client: &Client, msgs: &mpsc::Sender<Msg>, cmd: Cmd) {
    let mut client = client.clone();
    let msgs = msgs.clone();
    match cmd {
        Cmd::Quit => {}
        Cmd::Ping { node, count } => {
            jobs.spawn(async move {
                let request = v1::PingRequest {
                    node: node.clone(),
                    count,
                    ..Default::default()
                };
                let error = match client.ping(request).await {
                    Ok(response) => {
                        let mut replies = response.into_inner();
                        loop {
                            match replies.message().await {
                                Ok(Some(reply)) => {
                                    if msgs.send(Msg::PingReply(reply)).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => break None,
                                Err(status) => break Some(status.message().to_owned()),
                            }
                        }
                    }
                    Err(status) => Some(status.message().to_owned()),
                };
                let _ = msgs.send(Msg::PingEnded { node, error }).await;
            });
        }
        Cmd::Explain { from, to, port } => {
            jobs.spawn(async move {
                let request = v1::PolicyExplainRequest { from, to, port };
                let answer = client
                    .policy_explain(request)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| describe("PolicyExplain", &status));
                let _ = msgs.send(Msg::Explained(answer)).await;
            });
        }
        Cmd::RefreshStatus => {
            jobs.spawn(async move {
                if let Ok(status) = client.status(v1::StatusRequest {}).await {
                    let _ = msgs.send(Msg::Status(Box::new(status.into_inner()))).await;
                }
                // An apply may have changed the names the resolver answers for.
                if let Ok(dns) = client.dns_status(v1::DnsStatusRequest {}).await {
                    let _ = msgs.send(Msg::Dns(dns.into_inner())).await;
                }
            });
        }
        Cmd::RefreshRelays => {
            jobs.spawn(async move {
                if let Ok(relays) = client.relays(v1::RelaysRequest {}).await {
                    let _ = msgs.send(Msg::Relays(relays.into_inner())).await;
                }
                if let Ok(netcheck) = client
                    .netcheck(v1::NetcheckRequest { refresh: false })
                    .await
                {
                    let _ = msgs.send(Msg::Netcheck(netcheck.into_inner())).await;
                }
            });
        }
    }
}

/// A failed call, for people: what the daemon said, or that it went away.
fn describe(call: &str, status: &Status) -> String {
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled => {
            format!("lost the daemon ({call}: {})", status.message())
        }
        code if status.message().is_empty() => format!("{call}: {code:?}"),
        _ => status.message().to_owned(),
    }
}
