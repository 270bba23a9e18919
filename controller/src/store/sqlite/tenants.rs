//! `tenants`: the organisations networks belong to (network.kdl's `tenant=`).

use rusqlite::{Connection, params};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
)";

/// The id of tenant `name`, created at `now` if new.
pub fn ensure(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO tenants (name, created) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, now],
    )?;
    conn.query_row("SELECT id FROM tenants WHERE name = ?1", [name], |row| {
        row.get(0)
    })
}
