//! What the endpoint reports: datagrams to send, events for the daemon, the outcome of a
//! received datagram, and drop counters by reason.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

use super::config::PeerId;
use crate::ts::TrafficSelector;
use crate::wire::NotifyType;

/// Handle of one IKE SA inside an endpoint (stable across its life, not reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

/// A datagram to send: the daemon sends `bytes` from the socket bound to `src` to `dst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Local address (its port selects the 500 or 4500 socket).
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// UDP payload (with the non-ESP marker when sent on the NAT-T port).
    pub bytes: Vec<u8>,
}

/// Which side decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// We did (and told the peer).
    Local,
    /// The peer did (and told us).
    Remote,
}

/// Why an IKE or child SA could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaError {
    /// Authentication failed (wrong PSK or identity).
    AuthenticationFailed(Side),
    /// No proposal in common.
    NoProposalChosen(Side),
    /// Traffic selectors do not overlap.
    TsUnacceptable(Side),
    /// No configured peer matches the remote address or identity.
    NoMatchingPeer,
    /// The peer never answered.
    Timeout,
    /// The peer sent another error notify.
    PeerError(NotifyType),
    /// The peer sent something we could not accept.
    Protocol(&'static str),
}

impl fmt::Display for SaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = |s: &Side| {
            if *s == Side::Local {
                "we refused"
            } else {
                "peer refused"
            }
        };
        match self {
            Self::AuthenticationFailed(s) => write!(f, "authentication failed ({})", by(s)),
            Self::NoProposalChosen(s) => write!(f, "no proposal chosen ({})", by(s)),
            Self::TsUnacceptable(s) => write!(f, "traffic selectors unacceptable ({})", by(s)),
            Self::NoMatchingPeer => f.write_str("no matching peer configuration"),
            Self::Timeout => f.write_str("peer did not answer"),
            Self::PeerError(n) => write!(f, "peer sent {n}"),
            Self::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

/// Why an established IKE SA or child SA went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// We deleted it (operator request or peer removed).
    DeletedLocally,
    /// The peer deleted it.
    DeletedByPeer,
    /// Dead-peer detection or a request got no answer.
    PeerDead,
    /// Its hard lifetime passed.
    Expired,
    /// It was replaced by a rekeyed SA.
    Rekeyed,
    /// The peer started over (INITIAL_CONTACT) and this SA was dropped.
    Replaced,
}

/// Something the daemon should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An IKE SA is established.
    IkeSaUp {
        /// The peer.
        peer: PeerId,
        /// The SA.
        ike: IkeSaId,
        /// Where the peer is.
        remote: SocketAddr,
    },
    /// An IKE SA was rekeyed: `new` replaces `old`, which goes away without `IkeSaDown`.
    IkeSaRekeyed {
        /// The peer.
        peer: PeerId,
        /// Replaced SA.
        old: IkeSaId,
        /// Its successor.
        new: IkeSaId,
    },
    /// An established IKE SA (and with it all its child SAs) is gone.
    IkeSaDown {
        /// The peer.
        peer: PeerId,
        /// The SA.
        ike: IkeSaId,
        /// Why.
        reason: DownReason,
    },
    /// Setting up an IKE SA failed; nothing of it remains.
    IkeSaFailed {
        /// The peer, once known.
        peer: Option<PeerId>,
        /// Where the peer is.
        remote: SocketAddr,
        /// Why.
        error: SaError,
    },
    /// A child SA is installed and carries traffic.
    ChildSaUp {
        /// The peer.
        peer: PeerId,
        /// Our inbound SPI (the child's handle).
        spi_in: u32,
        /// The peer's inbound SPI.
        spi_out: u32,
        /// Our side's selectors.
        local_ts: Vec<TrafficSelector>,
        /// The peer's selectors.
        remote_ts: Vec<TrafficSelector>,
    },
    /// A child SA was rekeyed: traffic moves from `old_spi_in` to `new_spi_in`.
    ChildSaRekeyed {
        /// The peer.
        peer: PeerId,
        /// The replaced child.
        old_spi_in: u32,
        /// Its successor.
        new_spi_in: u32,
    },
    /// A child SA is gone.
    ChildSaDown {
        /// The peer.
        peer: PeerId,
        /// The child's inbound SPI.
        spi_in: u32,
        /// Why.
        reason: DownReason,
    },
    /// Creating or rekeying a child SA failed.
    ChildSaFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: SaError,
    },
}

/// What became of a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An IKE message was processed; poll for transmits and events.
    Ike,
    /// A NAT keepalive.
    Keepalive,
    /// An ESP packet was decrypted in place: the inner IP packet is `datagram[packet]`.
    Decrypted {
        /// The peer it came from.
        peer: PeerId,
        /// The child SA (our inbound SPI).
        spi_in: u32,
        /// Where the inner packet lies in the datagram.
        packet: Range<usize>,
    },
    /// The datagram was dropped and counted.
    Dropped(DropReason),
}

macro_rules! drop_reasons {
    ($($name:ident => $text:expr),* $(,)?) => {
        /// Why a datagram was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $(#[doc = $text] $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];

            /// A short snake_case name for counters.
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$name => $text,)* }
            }
        }
    };
}

drop_reasons! {
    Truncated => "truncated",
    Malformed => "malformed",
    BadVersion => "bad_major_version",
    UnsupportedCritical => "unsupported_critical_payload",
    UnknownIkeSpi => "unknown_ike_spi",
    UnknownEspSpi => "unknown_esp_spi",
    Integrity => "integrity_check_failed",
    Replay => "replayed",
    MessageIdOutOfWindow => "message_id_out_of_window",
    UnexpectedResponse => "unexpected_response",
    UnexpectedExchange => "unexpected_exchange",
    CookieRequired => "cookie_required",
    InvalidCookie => "invalid_cookie",
    InvalidKe => "invalid_ke",
    NoProposal => "no_proposal_chosen",
    NoPeer => "no_matching_peer",
    BadPadding => "bad_padding",
    Dummy => "dummy_packet",
    NotIp => "not_ip",
    PolicyMismatch => "traffic_selector_mismatch",
    Expired => "sa_expired",
}

/// Counters the daemon exposes: datagrams in and out, drops by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// IKE messages accepted for processing.
    pub ike_in: u64,
    /// IKE datagrams queued for sending (retransmissions included).
    pub ike_out: u64,
    /// Retransmitted IKE requests.
    pub retransmits: u64,
    /// ESP packets decrypted.
    pub esp_in: u64,
    /// ESP packets sealed.
    pub esp_out: u64,
    /// NAT keepalives received.
    pub keepalives_in: u64,
    /// NAT keepalives sent.
    pub keepalives_out: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Stats {
    /// Dropped datagrams for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn drop(&mut self, reason: DropReason) -> Received {
        self.drops[reason as usize] += 1;
        Received::Dropped(reason)
    }
}
