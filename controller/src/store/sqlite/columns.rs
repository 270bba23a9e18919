//! How values are kept in columns: times as integer milliseconds since the Unix epoch, lists
//! as JSON text, keys as base64 text. A value that does not read back is a conversion error
//! naming its column.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Row;
use rusqlite::types::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `time` as milliseconds since the epoch (0 for earlier times, which never occur).
pub fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch as a time.
fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The time in column `idx`.
pub fn get_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<SystemTime> {
    row.get::<_, i64>(idx).map(time)
}

/// The time in nullable column `idx`.
pub fn get_opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<SystemTime>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(time))
}

/// `value` as JSON text for a column.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// The JSON value in column `idx`.
pub fn get_json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// The value parsed from the text in column `idx`.
pub fn get_parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// The nullable time `t` as a column value.
pub fn opt_millis(t: Option<SystemTime>) -> Option<i64> {
    t.map(millis)
}
