//! `api_keys`: the admin API's keys with their scope, kept as the SHA-256 of their secret.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::columns::{get_opt_time, get_time};
use crate::secret::{IssuedKey, KeyKind, PresentedKey, SecretHash};
use crate::store::{ApiKey, ApiKeyInfo, Scope, StoreError};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash BLOB NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created INTEGER NOT NULL,
    revoked INTEGER,
    last_used INTEGER
)";

/// The columns [`from_row`] reads, in order.
const COLUMNS: &str = "id, scope, created, revoked, last_used";

/// Stores `issued` (its hash) with `scope`.
pub fn insert(
    conn: &Connection,
    issued: &IssuedKey,
    scope: Scope,
    now: i64,
) -> Result<ApiKeyInfo, StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, hash, scope, created) VALUES (?1, ?2, ?3, ?4)",
        params![issued.id(), issued.hash().0.as_slice(), scope.as_str(), now],
    )?;
    existing(conn, issued.id())
}

/// The key whose text is `key`, unless unknown or revoked; records its use at `now`.
pub fn authenticate(conn: &Connection, key: &str, now: i64) -> Result<Option<ApiKey>, StoreError> {
    let Some(presented) = PresentedKey::parse(KeyKind::Api, key) else {
        return Ok(None);
    };
    let row: Option<(Vec<u8>, bool)> = conn
        .query_row(
            "SELECT hash, revoked IS NOT NULL FROM api_keys WHERE id = ?1",
            [presented.id()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((hash, revoked)) = row else {
        return Ok(None);
    };
    let matches = <[u8; 32]>::try_from(hash)
        .ok()
        .is_some_and(|h| presented.matches(&SecretHash(h)));
    if !matches || revoked {
        return Ok(None);
    }
    conn.execute(
        "UPDATE api_keys SET last_used = ?2 WHERE id = ?1",
        params![presented.id(), now],
    )?;
    Ok(Some(existing(conn, presented.id())?.key))
}

/// Every API key, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes key `id` at `now` (an earlier revocation stands).
pub fn revoke(conn: &Connection, id: &str, now: i64) -> Result<ApiKeyInfo, StoreError> {
    conn.execute(
        "UPDATE api_keys SET revoked = coalesce(revoked, ?2) WHERE id = ?1",
        params![id, now],
    )?;
    existing(conn, id)
}

fn existing(conn: &Connection, id: &str) -> Result<ApiKeyInfo, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1");
    conn.query_row(&sql, [id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound {
            what: "API key",
            id: id.to_owned(),
        })
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let scope: String = row.get(1)?;
    let scope = Scope::from_name(&scope).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            Type::Text,
            format!("`{scope}` is not a scope").into(),
        )
    })?;
    Ok(ApiKeyInfo {
        key: ApiKey {
            id: row.get(0)?,
            scope,
        },
        created: get_time(row, 2)?,
        revoked: get_opt_time(row, 3)?,
        last_used: get_opt_time(row, 4)?,
    })
}
