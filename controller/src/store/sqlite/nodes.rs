//! `nodes`: the registry. A node is known by its name and owned by the machine key it first
//! registered with; its node key, addresses, capabilities, tags and key expiry are replaced by
//! each registration, its endpoints by each report.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::columns::{get_json, get_opt_time, get_parsed, get_time, opt_millis, to_json};
use crate::store::{Node, NodeRegistration, StoreError};

/// The table as of migration 1.
pub const CREATE: &str = "CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    machine_key TEXT NOT NULL,
    node_key TEXT NOT NULL,
    addresses TEXT NOT NULL,
    endpoints TEXT NOT NULL DEFAULT '[]',
    capabilities TEXT NOT NULL,
    tags TEXT NOT NULL,
    last_seen INTEGER,
    key_expiry INTEGER,
    expired INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
)";

/// The columns [`from_row`] reads, in order.
const COLUMNS: &str = "name, machine_key, node_key, addresses, endpoints, capabilities, tags,
    last_seen, key_expiry, expired, created";

/// Registers or re-registers a node (see [`crate::store::Store::register_node`]).
pub fn register(
    conn: &Connection,
    registration: &NodeRegistration,
    now: i64,
) -> Result<Node, StoreError> {
    let name = &registration.name;
    let known: Option<String> = conn
        .query_row(
            "SELECT machine_key FROM nodes WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()?;
    if known.is_some_and(|key| key != registration.machine_key.to_base64()) {
        return Err(StoreError::MachineKeyMismatch { name: name.clone() });
    }
    conn.execute(
        "INSERT INTO nodes (name, machine_key, node_key, addresses, capabilities, tags,
             last_seen, key_expiry, expired, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?7)
         ON CONFLICT (name) DO UPDATE SET node_key = excluded.node_key,
             addresses = excluded.addresses, capabilities = excluded.capabilities,
             tags = excluded.tags, last_seen = excluded.last_seen,
             key_expiry = excluded.key_expiry, expired = 0",
        params![
            name,
            registration.machine_key.to_base64(),
            registration.node_key.to_base64(),
            to_json(&registration.addresses)?,
            to_json(&registration.capabilities)?,
            to_json(&registration.tags)?,
            now,
            opt_millis(registration.key_expiry),
        ],
    )?;
    existing(conn, name)
}

/// Node `name`, if registered.
pub fn get(conn: &Connection, name: &str) -> Result<Option<Node>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM nodes WHERE name = ?1");
    Ok(conn.query_row(&sql, [name], from_row).optional()?)
}

/// Every node, by name.
pub fn list(conn: &Connection) -> Result<Vec<Node>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM nodes ORDER BY name");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Replaces node `name`'s endpoints.
pub fn set_endpoints(
    conn: &Connection,
    name: &str,
    endpoints: &[std::net::SocketAddr],
) -> Result<Node, StoreError> {
    let changed = conn.execute(
        "UPDATE nodes SET endpoints = ?2 WHERE name = ?1",
        params![name, to_json(endpoints)?],
    )?;
    found(changed, name)?;
    existing(conn, name)
}

/// Sets node `name`'s last-seen time.
pub fn touch(conn: &Connection, name: &str, now: i64) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE nodes SET last_seen = ?2 WHERE name = ?1",
        params![name, now],
    )?;
    found(changed, name)
}

/// Marks node `name` expired.
pub fn expire(conn: &Connection, name: &str) -> Result<Node, StoreError> {
    let changed = conn.execute("UPDATE nodes SET expired = 1 WHERE name = ?1", [name])?;
    found(changed, name)?;
    existing(conn, name)
}

/// Removes node `name`, returning it.
pub fn delete(conn: &Connection, name: &str) -> Result<Node, StoreError> {
    let node = existing(conn, name)?;
    conn.execute("DELETE FROM nodes WHERE name = ?1", [name])?;
    Ok(node)
}

fn existing(conn: &Connection, name: &str) -> Result<Node, StoreError> {
    get(conn, name)?.ok_or_else(|| not_found(name))
}

fn found(changed: usize, name: &str) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(not_found(name));
    }
    Ok(())
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: "node",
        id: name.to_owned(),
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Node> {
    Ok(Node {
        registration: NodeRegistration {
            name: row.get(0)?,
            machine_key: get_parsed(row, 1)?,
            node_key: get_parsed(row, 2)?,
            addresses: get_json(row, 3)?,
            capabilities: get_json(row, 5)?,
            tags: get_json(row, 6)?,
            key_expiry: get_opt_time(row, 8)?,
        },
        endpoints: get_json(row, 4)?,
        last_seen: get_opt_time(row, 7)?,
        expired: row.get(9)?,
        created: get_time(row, 10)?,
    })
}
