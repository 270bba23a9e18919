//! [`SqliteStore`]: the [`Store`] on an embedded SQLite file (rusqlite, SQLite compiled in).
//!
//! One module per table, each with its `CREATE` statement and functions over a
//! [`Connection`] (a [`rusqlite::Transaction`] derefs to one); [`migrations`] builds the schema
//! on `PRAGMA user_version`. The file runs in WAL mode with foreign keys on and a busy
//! timeout, so `cvlan-controller apikey create` can write while the controller runs. Every
//! change is one `BEGIN IMMEDIATE` transaction: it takes the write lock before reading, so a
//! check-then-write (redeeming a single-use key) cannot race another process.

mod api_keys;
mod audit;
mod auth_keys;
mod columns;
mod migrations;
mod networks;
mod nodes;
mod revisions;
mod tenants;

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, TransactionBehavior};

pub use migrations::SCHEMA_VERSION;

use super::{
    Actor, ApiKey, ApiKeyInfo, AuditEntry, AuthKey, NewAuditEntry, NewAuthKey, NewRevision, Node,
    NodeRegistration, Revision, RevisionId, RevisionInfo, Scope, Store, StoreError,
};
use crate::secret::{IssuedKey, KeyKind, sha256_hex};
use columns::millis;

/// How long a call waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database file's mode: it holds key hashes and the registry, for the controller only.
const DB_FILE_MODE: u32 = 0o600;

/// The [`Store`] on one SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600, and its directory 0700 when
    /// missing) on first use, and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_file(path)?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(
                format!("SQLite refused WAL mode (journal_mode is {mode})").into(),
            ));
        }
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `change` in one write transaction, committed when it returns `Ok`.
    fn write<T>(
        &self,
        change: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A panic mid-transaction rolled it back as the guard dropped: the connection is fine.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = change(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `query` on the connection (one statement reads one snapshot).
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        query(&conn)
    }
}

/// Creates the database file with its private mode (and a missing directory) before SQLite
/// opens it; SQLite gives its `-wal` and `-shm` files the same mode.
fn create_file(path: &Path) -> Result<(), StoreError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Create { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed(dir))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DB_FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(failed(path)(e)),
    }
}

/// Appends the audit entry of a change made by `by`.
fn audited(
    conn: &Connection,
    by: &Actor,
    action: &str,
    target: &str,
    now: SystemTime,
) -> Result<(), StoreError> {
    let entry = NewAuditEntry {
        actor: by.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        before: None,
        after: None,
    };
    audit::append(conn, &entry, millis(now))?;
    Ok(())
}

impl Store for SqliteStore {
    fn commit_revision(
        &self,
        revision: NewRevision,
        by: &Actor,
        now: SystemTime,
    ) -> Result<Revision, StoreError> {
        self.write(|conn| {
            let at = millis(now);
            let before = revisions::latest(conn)?.map(|r| r.info.hash);
            let tenant = tenants::ensure(conn, &revision.tenant, at)?;
            let network = networks::ensure(conn, tenant, &revision.network, at)?;
            let hash = sha256_hex(&revision.text);
            let id = revisions::insert(conn, network, &revision, &hash, at)?;
            let entry = NewAuditEntry {
                actor: by.clone(),
                action: "revision.commit".to_owned(),
                target: id.to_string(),
                before,
                after: Some(hash),
            };
            audit::append(conn, &entry, at)?;
            revisions::get(conn, id)?.ok_or_else(|| StoreError::NotFound {
                what: "revision",
                id: id.to_string(),
            })
        })
    }

    fn latest_revision(&self) -> Result<Option<Revision>, StoreError> {
        self.read(revisions::latest)
    }

    fn revisions(&self) -> Result<Vec<RevisionInfo>, StoreError> {
        self.read(revisions::list)
    }

    fn revision(&self, id: RevisionId) -> Result<Option<Revision>, StoreError> {
        self.read(|conn| revisions::get(conn, id))
    }

    fn register_node(
        &self,
        registration: NodeRegistration,
        by: &Actor,
        now: SystemTime,
    ) -> Result<Node, StoreError> {
        self.write(|conn| {
            let node = nodes::register(conn, &registration, millis(now))?;
            audited(conn, by, "node.register", &registration.name, now)?;
            Ok(node)
        })
    }

    fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        self.read(nodes::list)
    }

    fn node(&self, name: &str) -> Result<Option<Node>, StoreError> {
        self.read(|conn| nodes::get(conn, name))
    }

    fn set_endpoints(
        &self,
        name: &str,
        endpoints: &[std::net::SocketAddr],
    ) -> Result<Node, StoreError> {
        self.write(|conn| nodes::set_endpoints(conn, name, endpoints))
    }

    fn touch_node(&self, name: &str, now: SystemTime) -> Result<(), StoreError> {
        self.write(|conn| nodes::touch(conn, name, millis(now)))
    }

    fn expire_node(&self, name: &str, by: &Actor, now: SystemTime) -> Result<Node, StoreError> {
        self.write(|conn| {
            let node = nodes::expire(conn, name)?;
            audited(conn, by, "node.expire", name, now)?;
            Ok(node)
        })
    }

    fn delete_node(&self, name: &str, by: &Actor, now: SystemTime) -> Result<Node, StoreError> {
        self.write(|conn| {
            let node = nodes::delete(conn, name)?;
            audited(conn, by, "node.delete", name, now)?;
            Ok(node)
        })
    }

    fn create_auth_key(
        &self,
        key: NewAuthKey,
        by: &Actor,
        now: SystemTime,
    ) -> Result<(AuthKey, IssuedKey), StoreError> {
        let issued = IssuedKey::generate(KeyKind::Auth);
        let stored = self.write(|conn| {
            let stored = auth_keys::insert(conn, &issued, &key, millis(now))?;
            audited(conn, by, "authkey.create", issued.id(), now)?;
            Ok(stored)
        })?;
        Ok((stored, issued))
    }

    fn redeem_auth_key(&self, key: &str, now: SystemTime) -> Result<AuthKey, StoreError> {
        self.write(|conn| auth_keys::redeem(conn, key, now))
    }

    fn auth_keys(&self) -> Result<Vec<AuthKey>, StoreError> {
        self.read(auth_keys::list)
    }

    fn revoke_auth_key(
        &self,
        id: &str,
        by: &Actor,
        now: SystemTime,
    ) -> Result<AuthKey, StoreError> {
        self.write(|conn| {
            let key = auth_keys::revoke(conn, id, millis(now))?;
            audited(conn, by, "authkey.revoke", id, now)?;
            Ok(key)
        })
    }

    fn create_api_key(
        &self,
        scope: Scope,
        by: &Actor,
        now: SystemTime,
    ) -> Result<(ApiKeyInfo, IssuedKey), StoreError> {
        let issued = IssuedKey::generate(KeyKind::Api);
        let stored = self.write(|conn| {
            let stored = api_keys::insert(conn, &issued, scope, millis(now))?;
            audited(conn, by, "apikey.create", issued.id(), now)?;
            Ok(stored)
        })?;
        Ok((stored, issued))
    }

    fn authenticate(&self, key: &str, now: SystemTime) -> Result<Option<ApiKey>, StoreError> {
        self.write(|conn| api_keys::authenticate(conn, key, millis(now)))
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.read(api_keys::list)
    }

    fn revoke_api_key(
        &self,
        id: &str,
        by: &Actor,
        now: SystemTime,
    ) -> Result<ApiKeyInfo, StoreError> {
        self.write(|conn| {
            let key = api_keys::revoke(conn, id, millis(now))?;
            audited(conn, by, "apikey.revoke", id, now)?;
            Ok(key)
        })
    }

    fn append_audit(
        &self,
        entry: NewAuditEntry,
        now: SystemTime,
    ) -> Result<AuditEntry, StoreError> {
        self.write(|conn| Ok(audit::append(conn, &entry, millis(now))?))
    }

    fn audit_since(&self, since: SystemTime) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|conn| audit::since(conn, millis(since)))
    }
}

#[cfg(test)]
mod tests;
