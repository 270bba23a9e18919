//! The dashboard's whole state: what the daemon said, what the operator is looking at, and
//! what they are typing. `update` changes it; `render` only reads it.

pub mod conn;
pub mod events;
pub mod peers;
pub mod policy;
pub mod rates;
pub mod relays;
pub mod sas;

use std::time::SystemTime;

use cvlan_proto::v1;

use crate::msg::{Feed, Served};
pub use conn::Conn;

/// One screen of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// This node: identity, source, last apply, peer counts, uptime.
    Overview,
    /// The peer table.
    Peers,
    /// Policy rules and their hits.
    Policy,
    /// The daemon's event stream.
    Events,
    /// Relay paths and the network position (only when the daemon serves them).
    Relays,
    /// IPsec SAs (only when the daemon serves them).
    Sas,
}

impl View {
    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Peers => "Peers",
            View::Policy => "Policy",
            View::Events => "Events",
            View::Relays => "Relays",
            View::Sas => "IPsec SAs",
        }
    }
}

/// Which text the operator is editing, when any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editing {
    /// The peer filter.
    PeerFilter,
    /// The event kind filter.
    EventFilter,
    /// The policy explain form.
    Explain,
}

/// The dashboard's state.
#[derive(Debug, Clone)]
pub struct App {
    /// The wall clock as of the last tick.
    pub now: SystemTime,
    /// Terminal columns and rows.
    pub size: (u16, u16),
    /// The socket asked, for messages.
    pub socket: String,
    /// The connection to the daemon.
    pub conn: Conn,
    /// The daemon's status; `None` before the first connection.
    pub status: Option<v1::StatusResponse>,
    /// The optional views the daemon serves.
    pub served: Served,
    /// Core feeds the daemon answered UNIMPLEMENTED for.
    pub unserved: Vec<Feed>,
    /// The view shown.
    pub view: View,
    /// Whether the key help is open.
    pub help: bool,
    /// The text being edited.
    pub editing: Option<Editing>,
    /// The peer table.
    pub peers: peers::PeersState,
    /// Policy hits and the explain form.
    pub policy: policy::PolicyState,
    /// The event buffer.
    pub events: events::EventsState,
    /// Relay paths and network position.
    pub relays: relays::RelaysState,
    /// IPsec SAs.
    pub sas: sas::SasState,
    /// The resolver for overlay names; `None` when the daemon does not serve it.
    pub dns: Option<v1::DnsStatusResponse>,
    /// A one-line message for the footer (a command that failed).
    pub notice: Option<String>,
}

impl App {
    /// A dashboard for the daemon at `socket`, not connected yet.
    pub fn new(socket: impl Into<String>, now: SystemTime, size: (u16, u16)) -> Self {
        Self {
            now,
            size,
            socket: socket.into(),
            conn: Conn::Connecting { attempt: 0 },
            status: None,
            served: Served::default(),
            unserved: Vec::new(),
            view: View::Overview,
            help: false,
            editing: None,
            peers: peers::PeersState::default(),
            policy: policy::PolicyState::default(),
            events: events::EventsState::default(),
            relays: relays::RelaysState::default(),
            sas: sas::SasState::default(),
            dns: None,
            notice: None,
        }
    }

    /// The views that exist now, in tab order: the core four, then the optional ones the
    /// daemon serves.
    pub fn views(&self) -> Vec<View> {
        let mut views = vec![View::Overview, View::Peers, View::Policy, View::Events];
        if self.served.relays {
            views.push(View::Relays);
        }
        if self.served.sas {
            views.push(View::Sas);
        }
        views
    }

    /// Whether the daemon said it does not serve `feed`.
    pub fn is_unserved(&self, feed: Feed) -> bool {
        self.unserved.contains(&feed)
    }
}
