//! `revisions`: every committed network.kdl, whole, with its hash, author, message, time and
//! the warnings it was accepted with. Never changed or deleted; the newest is the running one.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::columns::{get_json, get_time, to_json};
use crate::store::{NewRevision, Revision, RevisionId, RevisionInfo, StoreError};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    network_id INTEGER NOT NULL REFERENCES networks (id),
    text TEXT NOT NULL,
    hash TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    time INTEGER NOT NULL,
    diagnostics TEXT NOT NULL
)";

/// The columns [`info`] reads, in order.
const INFO: &str = "r.id, r.hash, r.author, r.message, r.time";

/// The columns [`whole`] reads, in order.
const WHOLE: &str =
    "r.id, r.hash, r.author, r.message, r.time, t.name, n.name, r.text, r.diagnostics
     FROM revisions r JOIN networks n ON n.id = r.network_id JOIN tenants t ON t.id = n.tenant_id";

/// Inserts `revision` of `network` with its `hash`; returns its id.
pub fn insert(
    conn: &Connection,
    network: i64,
    revision: &NewRevision,
    hash: &str,
    now: i64,
) -> rusqlite::Result<RevisionId> {
    conn.execute(
        "INSERT INTO revisions (network_id, text, hash, author, message, time, diagnostics)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            network,
            revision.text,
            hash,
            revision.author,
            revision.message,
            now,
            to_json(&revision.diagnostics)?
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The newest revision.
pub fn latest(conn: &Connection) -> Result<Option<Revision>, StoreError> {
    let sql = format!("SELECT {WHOLE} ORDER BY r.id DESC LIMIT 1");
    Ok(conn.query_row(&sql, [], whole).optional()?)
}

/// Revision `id`.
pub fn get(conn: &Connection, id: RevisionId) -> Result<Option<Revision>, StoreError> {
    let sql = format!("SELECT {WHOLE} WHERE r.id = ?1");
    Ok(conn.query_row(&sql, [id], whole).optional()?)
}

/// Every revision, newest first.
pub fn list(conn: &Connection) -> Result<Vec<RevisionInfo>, StoreError> {
    let sql = format!("SELECT {INFO} FROM revisions r ORDER BY r.id DESC");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], info)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn info(row: &Row<'_>) -> rusqlite::Result<RevisionInfo> {
    Ok(RevisionInfo {
        id: row.get(0)?,
        hash: row.get(1)?,
        author: row.get(2)?,
        message: row.get(3)?,
        time: get_time(row, 4)?,
    })
}

fn whole(row: &Row<'_>) -> rusqlite::Result<Revision> {
    Ok(Revision {
        info: info(row)?,
        tenant: row.get(5)?,
        network: row.get(6)?,
        text: row.get(7)?,
        diagnostics: get_json(row, 8)?,
    })
}
