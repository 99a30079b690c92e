//! How domain values are written to and read from columns, the same on both backends:
//! uuids as text, timestamps as BIGINT microseconds since the epoch (so they round-trip
//! exactly, and sort and compare as numbers), enums as their text names, JSON as text.
//! Whole rows become records in `record.rs`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use meshgate_core::access::GrantScope;
use meshgate_core::catalog::TermLink;
use meshgate_core::model::Grantee;
use meshgate_core::notify::NotifyEvent;
use meshgate_core::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// A timestamp as stored: microseconds since the epoch (sub-microsecond precision is dropped).
pub(crate) fn ts(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn opt_ts(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ts)
}

/// `at` as the store keeps it, for comparing what was written with what is read back.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

pub(crate) fn opt_id(id: Option<Uuid>) -> Option<String> {
    id.map(|i| i.to_string())
}

/// A stored value this version cannot read: the database was written by something else, or
/// by a newer meshgate.
pub(crate) fn unreadable(column: &str, cause: impl std::fmt::Display) -> Error {
    tracing::error!(column, error = %cause, "store holds a value it cannot read");
    Error::internal("the store holds a value it cannot read")
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|e| unreadable(column, e))
}

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String> {
    get(row, column)
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    get(row, column)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64> {
    get(row, column)
}

/// A fraction between 0 and 1 kept in thousandths (a confidence), so that it reads back as
/// the same `f64` on both backends.
pub(crate) fn to_thousandths(value: f64) -> i64 {
    (value.clamp(0.0, 1.0) * 1000.0).round() as i64
}

/// What [`to_thousandths`] wrote.
pub(crate) fn thousandths(row: &AnyRow, column: &str) -> Result<f64> {
    Ok(int(row, column)? as f64 / 1000.0)
}

pub(crate) fn uuid(row: &AnyRow, column: &str) -> Result<Uuid> {
    let s = text(row, column)?;
    Uuid::parse_str(&s).map_err(|e| unreadable(column, e))
}

pub(crate) fn opt_uuid(row: &AnyRow, column: &str) -> Result<Option<Uuid>> {
    opt_text(row, column)?
        .map(|s| Uuid::parse_str(&s).map_err(|e| unreadable(column, e)))
        .transpose()
}

pub(crate) fn from_micros(column: &str, micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| unreadable(column, format_args!("timestamp {micros} out of range")))
}

pub(crate) fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>> {
    from_micros(column, int(row, column)?)
}

pub(crate) fn opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    get::<Option<i64>>(row, column)?
        .map(|m| from_micros(column, m))
        .transpose()
}

/// Booleans are BOOLEAN on PostgreSQL and INTEGER on SQLite; accept either.
pub(crate) fn boolean(row: &AnyRow, column: &str) -> Result<bool> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(int(row, column)? != 0),
    }
}

pub(crate) fn enum_of<T: FromStr>(row: &AnyRow, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text(row, column)?
        .parse()
        .map_err(|e: T::Err| unreadable(column, e))
}

pub(crate) fn opt_enum_of<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    opt_text(row, column)?
        .map(|s| s.parse().map_err(|e: T::Err| unreadable(column, e)))
        .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&text(row, column)?).map_err(|e| unreadable(column, e))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>> {
    opt_text(row, column)?
        .map(|s| serde_json::from_str(&s).map_err(|e| unreadable(column, e)))
        .transpose()
}

/// JSON text for a column. Serialising plain data cannot fail, but stay total anyway.
pub(crate) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| {
        tracing::error!(what, error = %e, "cannot serialise value for the store");
        Error::internal(format!("cannot store the {what}"))
    })
}

/// A scope as its column: NULL for the default (whole-table) scope, which is also what rows
/// written before scopes existed hold.
pub(crate) fn scope_col(scope: &GrantScope) -> Result<Option<String>> {
    if scope.is_whole_table() {
        Ok(None)
    } else {
        to_json("grant scope", scope).map(Some)
    }
}

pub(crate) fn scope(row: &AnyRow) -> Result<GrantScope> {
    Ok(opt_json(row, "scope")?.unwrap_or_default())
}

pub(crate) const GRANTEE_TEAM: &str = "team";
pub(crate) const GRANTEE_PRINCIPAL: &str = "principal";

/// A grantee as its two columns.
pub(crate) fn grantee_cols(grantee: Grantee) -> (&'static str, String) {
    match grantee {
        Grantee::Team(id) => (GRANTEE_TEAM, id.to_string()),
        Grantee::Principal(id) => (GRANTEE_PRINCIPAL, id.to_string()),
    }
}

/// A link's table and column are stored as '' for a product-level link.
pub(crate) fn term_link_cols(link: &TermLink) -> (String, String) {
    (
        link.table_id.map(|t| t.to_string()).unwrap_or_default(),
        link.column.clone().unwrap_or_default(),
    )
}

/// A webhook's event list as its column: comma-separated names, empty for all.
pub(crate) fn events_col(events: &[NotifyEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
