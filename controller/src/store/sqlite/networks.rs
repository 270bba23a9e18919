//! `networks`: the networks a tenant runs (network.kdl's `network "NAME"`); revisions belong
//! to one.

use rusqlite::{Connection, params};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE networks (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
)";

/// The id of network `name` of `tenant`, created at `now` if new.
pub fn ensure(conn: &Connection, tenant: i64, name: &str, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO networks (tenant_id, name, created) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id, name) DO NOTHING",
        params![tenant, name, now],
    )?;
    conn.query_row(
        "SELECT id FROM networks WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
        |row| row.get(0),
    )
}
