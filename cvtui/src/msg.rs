//! The messages that drive the dashboard, and the commands `update` hands to the IO side.

use std::time::{Duration, SystemTime};

use cvlan_proto::v1;
use ratatui::crossterm::event::KeyEvent;

/// Something that happened: a key, the clock, or news from the daemon.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal has a new size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// The wall clock moved on (ages, uptime and retry countdowns read it).
    Tick(SystemTime),
    /// A connection attempt started.
    Connecting {
        /// Attempts since the last successful connection, from 0.
        attempt: u32,
    },
    /// The daemon answered: its status and which optional views it serves.
    Connected(Box<Connected>),
    /// The daemon is not reachable, or the connection was lost.
    Disconnected {
        /// Why, for people.
        error: String,
        /// Attempts since the last successful connection, from 0.
        attempt: u32,
        /// How long until the next attempt.
        retry_in: Duration,
    },
    /// A fresh status (after an apply or source event).
    Status(Box<v1::StatusResponse>),
    /// One message of the live peer table.
    Peers(v1::WatchPeersResponse),
    /// One snapshot of the policy hit counters.
    PolicyHits(v1::PolicyHitsResponse),
    /// One daemon event.
    Event(v1::WatchEventsResponse),
    /// The daemon answered UNIMPLEMENTED for one of the core feeds.
    Unserved(Feed),
    /// One ping probe completed.
    PingReply(v1::PingResponse),
    /// A ping run ended; `error` says why when it failed.
    PingEnded {
        /// The node pinged.
        node: String,
        /// The failure, when the run did not complete.
        error: Option<String>,
    },
    /// The answer to a policy explain request.
    Explained(Result<v1::PolicyExplainResponse, String>),
    /// The relay paths (only from a daemon that serves them).
    Relays(v1::RelaysResponse),
    /// The network position (only from a daemon that serves it).
    Netcheck(v1::NetcheckResponse),
    /// One snapshot of the IPsec SAs (only from a daemon that serves them).
    Sas(v1::SasResponse),
    /// The resolver for overlay names (only from a daemon that serves it: cvland).
    Dns(v1::DnsStatusResponse),
}

/// What the daemon told on connecting.
#[derive(Debug, Clone, PartialEq)]
pub struct Connected {
    /// Its status.
    pub status: v1::StatusResponse,
    /// The optional calls it serves.
    pub served: Served,
}

/// The optional parts of the local API a daemon serves (found by asking: UNIMPLEMENTED = no).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Relays (and Netcheck): a daemon with relays.
    pub relays: bool,
    /// WatchSas: cvlan-vrouterd.
    pub sas: bool,
}

/// A core live feed, named when the daemon does not serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// WatchPeers.
    Peers,
    /// WatchPolicyHits.
    PolicyHits,
    /// WatchEvents.
    Events,
}

impl Feed {
    /// The local-API call behind the feed.
    pub fn call(self) -> &'static str {
        match self {
            Feed::Peers => "WatchPeers",
            Feed::PolicyHits => "WatchPolicyHits",
            Feed::Events => "WatchEvents",
        }
    }
}

/// Something `update` asks the IO side to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// Leave: restore the terminal and exit.
    Quit,
    /// Ping a node through the tunnel.
    Ping {
        /// The node's name.
        node: String,
        /// How many probes.
        count: u32,
    },
    /// Explain the running policy's verdict for one packet.
    Explain {
        /// The sender.
        from: String,
        /// The receiver.
        to: String,
        /// The destination port spec.
        port: String,
    },
    /// Ask for the status again (after an apply or source event).
    RefreshStatus,
    /// Ask for the relay paths and the network position again.
    RefreshRelays,
}
