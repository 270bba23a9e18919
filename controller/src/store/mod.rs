//! The controller's state behind one trait, [`Store`], so a PostgreSQL store can follow the
//! SQLite one ([`sqlite::SqliteStore`]) without touching the controller's logic.
//!
//! The methods are synchronous and each change is one transaction (with its audit entry,
//! where it has one). The controller calls them off the async runtime through
//! [`AsyncStore`], which runs each call on tokio's blocking pool. Secrets never reach the
//! store: it keeps their hashes ([`crate::secret`]) and hands a new key's text back once.

mod model;
pub mod sqlite;

use std::sync::Arc;
use std::time::SystemTime;

pub use model::{
    Actor, ApiKey, ApiKeyInfo, AuditEntry, AuthKey, AuthKeyRefusal, NewAuditEntry, NewAuthKey,
    NewRevision, Node, NodeRegistration, Revision, RevisionId, RevisionInfo, Scope,
};

use crate::secret::IssuedKey;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file or its directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database failed (IO, locking, constraint, a row it cannot read).
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database was migrated by a newer controller.
    #[error(
        "the database is at schema version {found}; this controller knows versions up to {known}"
    )]
    TooNew {
        /// Its `user_version`.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// No such record.
    #[error("no {what} `{id}`")]
    NotFound {
        /// The kind of record (`node`, `auth key`, …).
        what: &'static str,
        /// The name or id asked for.
        id: String,
    },
    /// A node name registered with another machine key.
    #[error("node `{name}` is registered with another machine key")]
    MachineKeyMismatch {
        /// The node's name.
        name: String,
    },
    /// An auth key was not accepted.
    #[error(transparent)]
    AuthKey(#[from] AuthKeyRefusal),
    /// The blocking task running the call did not finish.
    #[error("the database task failed: {0}")]
    Task(String),
}

/// The controller's state. Every method that changes something is one transaction; times
/// come in as arguments (the store has no clock of its own).
pub trait Store: Send + Sync + 'static {
    /// Commits `revision` as the newest, with its `revision.commit` audit entry (before: the
    /// previous newest hash, after: this one) in the same transaction.
    fn commit_revision(
        &self,
        revision: NewRevision,
        by: &Actor,
        now: SystemTime,
    ) -> Result<Revision, StoreError>;
    /// The newest revision, if any.
    fn latest_revision(&self) -> Result<Option<Revision>, StoreError>;
    /// Every revision, newest first, without texts.
    fn revisions(&self) -> Result<Vec<RevisionInfo>, StoreError>;
    /// Revision `id`, if it exists.
    fn revision(&self, id: RevisionId) -> Result<Option<Revision>, StoreError>;

    /// Registers a node, or updates its registration when the name is known and `machine_key`
    /// matches (a re-registration clears `expired`); another machine key is
    /// [`StoreError::MachineKeyMismatch`]. Audited as `node.register`.
    fn register_node(
        &self,
        registration: NodeRegistration,
        by: &Actor,
        now: SystemTime,
    ) -> Result<Node, StoreError>;
    /// Every node, by name.
    fn nodes(&self) -> Result<Vec<Node>, StoreError>;
    /// Node `name`, if registered.
    fn node(&self, name: &str) -> Result<Option<Node>, StoreError>;
    /// Replaces the endpoints node `name` reported.
    fn set_endpoints(
        &self,
        name: &str,
        endpoints: &[std::net::SocketAddr],
    ) -> Result<Node, StoreError>;
    /// Records that node `name` was heard from at `now`.
    fn touch_node(&self, name: &str, now: SystemTime) -> Result<(), StoreError>;
    /// Marks node `name` expired (audited as `node.expire`).
    fn expire_node(&self, name: &str, by: &Actor, now: SystemTime) -> Result<Node, StoreError>;
    /// Removes node `name` and returns what it was (audited as `node.delete`).
    fn delete_node(&self, name: &str, by: &Actor, now: SystemTime) -> Result<Node, StoreError>;

    /// Creates an auth key (audited as `authkey.create`); its text is in the [`IssuedKey`]
    /// and nowhere else.
    fn create_auth_key(
        &self,
        key: NewAuthKey,
        by: &Actor,
        now: SystemTime,
    ) -> Result<(AuthKey, IssuedKey), StoreError>;
    /// Accepts the auth key text `key` at `now`, atomically: it must exist, not be expired or
    /// revoked, and, when single-use, not be used yet; it is then marked used.
    fn redeem_auth_key(&self, key: &str, now: SystemTime) -> Result<AuthKey, StoreError>;
    /// Every auth key, oldest first.
    fn auth_keys(&self) -> Result<Vec<AuthKey>, StoreError>;
    /// Revokes auth key `id` (audited as `authkey.revoke`); revoking twice keeps the first time.
    fn revoke_auth_key(&self, id: &str, by: &Actor, now: SystemTime)
    -> Result<AuthKey, StoreError>;

    /// Creates an API key of `scope` (audited as `apikey.create`); its text is in the
    /// [`IssuedKey`] and nowhere else.
    fn create_api_key(
        &self,
        scope: Scope,
        by: &Actor,
        now: SystemTime,
    ) -> Result<(ApiKeyInfo, IssuedKey), StoreError>;
    /// The API key whose text is `key`, unless unknown or revoked; records its use at `now`.
    fn authenticate(&self, key: &str, now: SystemTime) -> Result<Option<ApiKey>, StoreError>;
    /// Every API key, oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes API key `id` (audited as `apikey.revoke`); revoking twice keeps the first time.
    fn revoke_api_key(
        &self,
        id: &str,
        by: &Actor,
        now: SystemTime,
    ) -> Result<ApiKeyInfo, StoreError>;

    /// Appends an audit entry for a change the methods above do not audit themselves.
    fn append_audit(&self, entry: NewAuditEntry, now: SystemTime)
    -> Result<AuditEntry, StoreError>;
    /// The audit entries at or after `since`, oldest first.
    fn audit_since(&self, since: SystemTime) -> Result<Vec<AuditEntry>, StoreError>;
}

/// A [`Store`] for async code: each call runs on tokio's blocking pool, so a slow disk or a
/// busy database never stalls the runtime's workers.
#[derive(Clone)]
pub struct AsyncStore {
    store: Arc<dyn Store>,
}

impl AsyncStore {
    /// Wraps `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Runs `call` against the store on the blocking pool.
    pub async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
