//! `update`: the one place the dashboard's state changes. It takes a message, changes the
//! [`App`], and returns what the IO side should do.

mod input;

use cvlan_proto::v1;

use crate::app::{App, Conn, View, peers::PingRun, policy::Explanation};
use crate::msg::{Cmd, Msg};

/// Event kinds after which the status (source, revision, last apply) is asked for again.
const STATUS_EVENTS: &[&str] = &["apply", "source", "policy.loaded"];

/// Event kinds after which the relay paths are asked for again.
const RELAY_EVENTS: &[&str] = &["relay", "peer.path"];

/// Applies `msg` to `app` and returns the commands it calls for.
pub fn update(app: &mut App, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key(key) => return input::key(app, &key),
        Msg::Resize { width, height } => {
            app.size = (width, height);
            input::keep_selection_visible(app);
        }
        Msg::Tick(now) => {
            app.now = now;
            app.peers.recount(now);
        }
        Msg::Connecting { attempt } => app.conn = Conn::Connecting { attempt },
        Msg::Connected(connected) => connected_to(app, connected.status, connected.served),
        Msg::Disconnected {
            error,
            attempt,
            retry_in,
        } => {
            app.conn = Conn::Down {
                error,
                attempt,
                retry_at: app.now + retry_in,
            };
        }
        Msg::Status(status) => app.status = Some(*status),
        Msg::Peers(update) => {
            app.peers.apply(update);
            app.peers.recount(app.now);
            input::keep_selection_visible(app);
        }
        Msg::PolicyHits(snapshot) => app.policy.apply(snapshot),
        Msg::Event(event) => return event_arrived(app, event),
        Msg::Unserved(feed) => {
            if !app.unserved.contains(&feed) {
                app.unserved.push(feed);
            }
        }
        Msg::PingReply(reply) => {
            if let Some(run) = app.peers.ping.as_mut().filter(|r| !r.done) {
                run.replies.push(reply);
            }
        }
        Msg::PingEnded { node, error } => {
            if let Some(run) = app.peers.ping.as_mut().filter(|r| r.node == node) {
                run.done = true;
                run.error = error;
            }
        }
        Msg::Explained(answer) => {
            app.policy.explanation = Some(match answer {
                Ok(response) => Explanation::Answer(Box::new(response)),
                Err(error) => Explanation::Failed(error),
            });
        }
        Msg::Relays(relays) => app.relays.apply(relays),
        Msg::Netcheck(netcheck) => app.relays.netcheck = Some(netcheck),
        Msg::Sas(sas) => app.sas.apply(sas),
        Msg::Dns(dns) => app.dns = Some(dns),
    }
    Vec::new()
}

/// A (re)connection: a different daemon (it restarted, or another one took the socket)
/// starts its tables afresh; the live feeds refill them.
fn connected_to(app: &mut App, status: v1::StatusResponse, served: crate::msg::Served) {
    let same_daemon = app.status.as_ref().is_some_and(|old| {
        old.started_at.is_some() && old.started_at == status.started_at && old.name == status.name
    });
    if !same_daemon {
        app.peers.clear();
        app.policy.rules.clear();
        app.policy.loaded = false;
    }
    app.conn = Conn::Up { since: app.now };
    app.status = Some(status);
    app.served = served;
    app.unserved.clear();
    if !app.views().contains(&app.view) {
        app.view = View::Overview;
    }
    app.notice = None;
}

fn event_arrived(app: &mut App, event: v1::WatchEventsResponse) -> Vec<Cmd> {
    let matches_any = |kinds: &[&str]| {
        kinds
            .iter()
            .any(|k| crate::app::events::kind_matches(&event.kind, k))
    };
    let mut cmds = Vec::new();
    if matches_any(STATUS_EVENTS) {
        cmds.push(Cmd::RefreshStatus);
    }
    if app.served.relays && matches_any(RELAY_EVENTS) {
        cmds.push(Cmd::RefreshRelays);
    }
    app.events.push(event);
    cmds
}

/// Starts a ping of `node` with `count` probes.
fn start_ping(app: &mut App, node: String, count: u32) -> Cmd {
    app.peers.ping = Some(PingRun {
        node: node.clone(),
        count,
        replies: Vec::new(),
        done: false,
        error: None,
    });
    Cmd::Ping { node, count }
}
