//! The records the store keeps and hands back: backend-neutral, so a PostgreSQL store returns
//! the same types as the SQLite one.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use cvlan_schema::report::JsonDiagnostic;
use cvlan_types::PublicKey;

/// A revision's number: 1 for the first, increasing by commit.
pub type RevisionId = i64;

/// Who makes a change and from where, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The API key id, node name or local tool that acted (e.g. `apikey:0123…`).
    pub name: String,
    /// The peer address the change came from; `None` for the controller host itself.
    pub from: Option<String>,
}

impl Actor {
    /// A tool run on the controller host (`cvlan-controller apikey create`, the seed).
    pub fn local(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            from: None,
        }
    }
}

/// A network.kdl revision to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRevision {
    /// The tenant of the file's `network` (`tenant=`).
    pub tenant: String,
    /// The file's `network` name.
    pub network: String,
    /// The whole file text.
    pub text: String,
    /// Who wrote it (an API key's owner, `network-file` for the seed).
    pub author: String,
    /// The commit message.
    pub message: String,
    /// The warnings the file was accepted with (as `cvlanctl check --format json`).
    pub diagnostics: Vec<JsonDiagnostic>,
}

/// A revision as listed: everything but the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    /// Its number.
    pub id: RevisionId,
    /// SHA-256 of the text, lowercase hex.
    pub hash: String,
    /// Who committed it.
    pub author: String,
    /// The commit message.
    pub message: String,
    /// When it was committed.
    pub time: SystemTime,
}

/// A whole revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// Number, hash, author, message, time.
    pub info: RevisionInfo,
    /// The tenant of its network.
    pub tenant: String,
    /// Its network's name.
    pub network: String,
    /// The file text.
    pub text: String,
    /// The warnings it was accepted with.
    pub diagnostics: Vec<JsonDiagnostic>,
}

/// What a node says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// The node's name (a `node` of network.kdl).
    pub name: String,
    /// Its identity towards the controller (the control Noise key).
    pub machine_key: PublicKey,
    /// Its WireGuard key, which peers configure.
    pub node_key: PublicKey,
    /// Its overlay addresses.
    pub addresses: Vec<IpAddr>,
    /// What it can do (e.g. `ipv6`, `relay-client`).
    pub capabilities: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// When its node key stops being accepted; `None`: never.
    pub key_expiry: Option<SystemTime>,
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Name, keys, addresses, capabilities, tags and key expiry as last registered.
    pub registration: NodeRegistration,
    /// The endpoints it last reported.
    pub endpoints: Vec<SocketAddr>,
    /// When it was last heard from.
    pub last_seen: Option<SystemTime>,
    /// True once expired (`node expire` or key expiry) until it registers again.
    pub expired: bool,
    /// When it first registered.
    pub created: SystemTime,
}

/// An auth key to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewAuthKey {
    /// The tags a node registering with it gets.
    pub tags: Vec<String>,
    /// True when it may register any number of nodes; otherwise it is spent by the first.
    pub reusable: bool,
    /// True when the nodes it registers are removed once they go offline.
    pub ephemeral: bool,
    /// When it stops being accepted; `None`: never.
    pub expires: Option<SystemTime>,
}

/// An auth key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Its id (the `<id>` of `cvlan-auth-<id>-<secret>`).
    pub id: String,
    /// Tags, reusable, ephemeral, expiry as created.
    pub spec: NewAuthKey,
    /// When it was last redeemed.
    pub used: Option<SystemTime>,
    /// When it was revoked.
    pub revoked: Option<SystemTime>,
    /// When it was created.
    pub created: SystemTime,
}

/// Why an auth key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthKeyRefusal {
    /// No key with this id and secret (a malformed key is reported the same way).
    #[error("the auth key is not known")]
    Unknown,
    /// Past its expiry.
    #[error("the auth key has expired")]
    Expired,
    /// Revoked.
    #[error("the auth key was revoked")]
    Revoked,
    /// Single-use and already used.
    #[error("the auth key was already used (it is single-use)")]
    Spent,
}

/// What an API key may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read state: revisions, nodes, keys (never a secret), audit.
    Read,
    /// Also change the network: apply, rollback, nodes, auth keys.
    Write,
    /// Also manage API keys.
    Admin,
}

impl Scope {
    /// Every scope, weakest first.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The scope's name (`read`, `write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True when a key of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

/// An authenticated API key: who is calling and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its id (the `<id>` of `cvlan-api-<id>-<secret>`).
    pub id: String,
    /// What it may do.
    pub scope: Scope,
}

/// An API key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Id and scope.
    pub key: ApiKey,
    /// When it was created.
    pub created: SystemTime,
    /// When it was revoked.
    pub revoked: Option<SystemTime>,
    /// When it last authenticated.
    pub last_used: Option<SystemTime>,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who acted and from where.
    pub actor: Actor,
    /// What was done, e.g. `revision.commit`, `authkey.revoke`.
    pub action: String,
    /// What it was done to (a revision number, node name or key id).
    pub target: String,
    /// The network.kdl hash before a change of revision.
    pub before: Option<String>,
    /// The network.kdl hash after it.
    pub after: Option<String>,
}

/// An audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its sequence number.
    pub id: i64,
    /// When.
    pub time: SystemTime,
    /// Who, what, to what, hashes.
    pub entry: NewAuditEntry,
}
