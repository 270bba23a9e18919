//! `auth_keys`: the keys nodes register with, kept as the SHA-256 of their secret. A
//! single-use key is spent by its first redemption; any key stops at its expiry or revocation.

use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::columns::{get_json, get_opt_time, get_time, millis, opt_millis, to_json};
use crate::secret::{IssuedKey, KeyKind, PresentedKey, SecretHash};
use crate::store::{AuthKey, AuthKeyRefusal, NewAuthKey, StoreError};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE auth_keys (
    id TEXT PRIMARY KEY,
    hash BLOB NOT NULL,
    tags TEXT NOT NULL,
    reusable INTEGER NOT NULL,
    ephemeral INTEGER NOT NULL,
    expires INTEGER,
    used INTEGER,
    revoked INTEGER,
    created INTEGER NOT NULL
)";

/// The columns [`from_row`] reads, in order.
const COLUMNS: &str = "id, tags, reusable, ephemeral, expires, used, revoked, created";

/// Stores `issued` (its hash) with `spec`.
pub fn insert(
    conn: &Connection,
    issued: &IssuedKey,
    spec: &NewAuthKey,
    now: i64,
) -> Result<AuthKey, StoreError> {
    conn.execute(
        "INSERT INTO auth_keys (id, hash, tags, reusable, ephemeral, expires, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            issued.id(),
            issued.hash().0.as_slice(),
            to_json(&spec.tags)?,
            spec.reusable,
            spec.ephemeral,
            opt_millis(spec.expires),
            now
        ],
    )?;
    existing(conn, issued.id())
}

/// Redeems the key text `key` at `now` (see [`crate::store::Store::redeem_auth_key`]); run
/// inside a write transaction, so the check and the mark are one step.
pub fn redeem(conn: &Connection, key: &str, now: SystemTime) -> Result<AuthKey, StoreError> {
    let presented = PresentedKey::parse(KeyKind::Auth, key).ok_or(AuthKeyRefusal::Unknown)?;
    let hash: Option<Vec<u8>> = conn
        .query_row(
            "SELECT hash FROM auth_keys WHERE id = ?1",
            [presented.id()],
            |row| row.get(0),
        )
        .optional()?;
    let hash = hash.and_then(|h| <[u8; 32]>::try_from(h).ok().map(SecretHash));
    if !hash.is_some_and(|h| presented.matches(&h)) {
        return Err(AuthKeyRefusal::Unknown.into());
    }
    let stored = existing(conn, presented.id())?;
    if stored.revoked.is_some() {
        return Err(AuthKeyRefusal::Revoked.into());
    }
    if stored.spec.expires.is_some_and(|at| at <= now) {
        return Err(AuthKeyRefusal::Expired.into());
    }
    if !stored.spec.reusable && stored.used.is_some() {
        return Err(AuthKeyRefusal::Spent.into());
    }
    conn.execute(
        "UPDATE auth_keys SET used = ?2 WHERE id = ?1",
        params![presented.id(), millis(now)],
    )?;
    existing(conn, presented.id())
}

/// Every auth key, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<AuthKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM auth_keys ORDER BY created, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes key `id` at `now` (an earlier revocation stands).
pub fn revoke(conn: &Connection, id: &str, now: i64) -> Result<AuthKey, StoreError> {
    conn.execute(
        "UPDATE auth_keys SET revoked = coalesce(revoked, ?2) WHERE id = ?1",
        params![id, now],
    )?;
    existing(conn, id)
}

fn existing(conn: &Connection, id: &str) -> Result<AuthKey, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM auth_keys WHERE id = ?1");
    conn.query_row(&sql, [id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound {
            what: "auth key",
            id: id.to_owned(),
        })
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<AuthKey> {
    Ok(AuthKey {
        id: row.get(0)?,
        spec: NewAuthKey {
            tags: get_json(row, 1)?,
            reusable: row.get(2)?,
            ephemeral: row.get(3)?,
            expires: get_opt_time(row, 4)?,
        },
        used: get_opt_time(row, 5)?,
        revoked: get_opt_time(row, 6)?,
        created: get_time(row, 7)?,
    })
}
