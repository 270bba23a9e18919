//! The schema's history on `PRAGMA user_version`: step N brings a database from version N to
//! N + 1, each in one transaction together with the version bump, so a crash leaves a
//! database at one version or the next. Steps are never edited once released; a change of
//! schema is a new step.

use rusqlite::{Connection, TransactionBehavior};

use super::{api_keys, audit, auth_keys, networks, nodes, revisions, tenants};
use crate::store::StoreError;

/// The migration steps, oldest first; each is a list of SQL statements.
const STEPS: &[&[&str]] = &[&[
    tenants::CREATE,
    networks::CREATE,
    revisions::CREATE,
    nodes::CREATE,
    auth_keys::CREATE,
    api_keys::CREATE,
    audit::CREATE,
]];

/// The `user_version` of a database this build has migrated.
pub const SCHEMA_VERSION: i64 = STEPS.len() as i64;

/// Applies the steps `conn` has not had yet. The version is read under the write lock, so two
/// processes starting at once apply each step once.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        let Some(step) = usize::try_from(version).ok().and_then(|v| STEPS.get(v)) else {
            return Ok(());
        };
        for statement in *step {
            tx.execute_batch(statement)?;
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "migrated the database");
    }
}
