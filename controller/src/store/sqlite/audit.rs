//! `audit`: who did what, when, from where, to what, with the network.kdl hashes before and
//! after a change of revision. Only appended to.

use rusqlite::{Connection, Row, params};

use super::columns::get_time;
use crate::store::{Actor, AuditEntry, NewAuditEntry, StoreError};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    from_address TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_hash TEXT,
    after_hash TEXT
);
CREATE INDEX audit_time ON audit (time)";

/// Appends `entry` at `now`.
pub fn append(conn: &Connection, entry: &NewAuditEntry, now: i64) -> rusqlite::Result<AuditEntry> {
    conn.execute(
        "INSERT INTO audit (time, actor, from_address, action, target, before_hash, after_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            now,
            entry.actor.name,
            entry.actor.from,
            entry.action,
            entry.target,
            entry.before,
            entry.after
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.query_row(
        "SELECT id, time, actor, from_address, action, target, before_hash, after_hash
         FROM audit WHERE id = ?1",
        [id],
        from_row,
    )
}

/// The entries at or after `since`, oldest first.
pub fn since(conn: &Connection, since: i64) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, time, actor, from_address, action, target, before_hash, after_hash
         FROM audit WHERE time >= ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        time: get_time(row, 1)?,
        entry: NewAuditEntry {
            actor: Actor {
                name: row.get(2)?,
                from: row.get(3)?,
            },
            action: row.get(4)?,
            target: row.get(5)?,
            before: row.get(6)?,
            after: row.get(7)?,
        },
    })
}
