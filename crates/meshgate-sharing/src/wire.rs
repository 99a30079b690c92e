//! The JSON bodies of the Delta Sharing REST API (PROTOCOL.md), camelCase on the wire.
//!
//! Traps handled here:
//! - Listings (`/shares`, `…/schemas`, `…/tables`, `…/all-tables`) are
//!   `{"items":[…],"nextPageToken":"…"}` on **one line**: the Python client parses only the
//!   first line of the body. `serde_json::to_string` of a [`ListResponse`] is one line;
//!   `nextPageToken` is left out at the end of a listing (missing = end, docs/design/DELTA_SHARING.md §Listings).
//! - Optional ids (`id`, `shareId`) are left out when unknown rather than sent as `null`.
//! - The `/query` body ([`QueryRequest`]): every field is optional, an empty body or `{}` is
//!   a full snapshot, unknown fields are ignored, and `jsonPredicateHints` is a JSON
//!   **string** holding JSON (not an object). Integers are also accepted as numeric strings
//!   and `null` as absent, as the reference server's proto3 JSON parser does.
//! - Errors are `{"errorCode","message"}` ([`ErrorBody`]) with the codes of [`error_code`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::shown;
pub use crate::error::{ErrorBody, error_code};
use crate::params::parse_timestamp_param;
use crate::{Error, Result};

/// A share, as listed by `/shares` and returned by `/shares/{share}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareInfo {
    /// The share's name (case-insensitive in request paths).
    pub name: String,
    /// A stable, unique id (a UUID is recommended); left out when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A schema of a share, as listed by `/shares/{share}/schemas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaInfo {
    /// The schema's name.
    pub name: String,
    /// The share it belongs to.
    pub share: String,
}

/// A table, as listed by `…/schemas/{schema}/tables` and `…/all-tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableInfo {
    /// The table's name.
    pub name: String,
    /// The schema it belongs to.
    pub schema: String,
    /// The share it belongs to.
    pub share: String,
    /// The share's id; left out when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    /// A stable id, unique within the share; left out when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One page of a listing: `{"items":[…],"nextPageToken":"…"}`.
///
/// Serialise it with `serde_json::to_string` (one line: the Python client reads only the
/// first line of the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// The page's items (possibly none; missing counts as none when reading).
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// The token of the next page; left out on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The body of `GET /shares/{share}`: `{"share":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetShareResponse {
    /// The share.
    pub share: ShareInfo,
}

/// The body of `POST …/tables/{table}/query`. All fields are optional; `{}` (or an empty
/// body) asks for the current snapshot.
///
/// Read it with [`QueryRequest::parse`], then check it with [`QueryRequest::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    /// The legacy SQL-string hints. **Ignored**: they are deprecated by the protocol in
    /// favour of `jsonPredicateHints`, and as hints they may be skipped (PROTOCOL.md: "the
    /// server may skip it"). Kept only so they can be logged.
    pub predicate_hints: Option<Vec<String>>,
    /// The JSON predicate tree, as a JSON **string** (see [`crate::hints::Predicate`]).
    pub json_predicate_hints: Option<String>,
    /// How many rows the client means to read; a hint (`≥ 0`).
    pub limit_hint: Option<i64>,
    /// Read the snapshot at this table version (`≥ 0`).
    pub version: Option<i64>,
    /// Read the snapshot at this time (see [`crate::params::parse_timestamp`]).
    pub timestamp: Option<String>,
    /// Return the data change files since this version, inclusive (streaming).
    pub starting_version: Option<i64>,
    /// With `startingVersion`: a hint to stop after this version, inclusive.
    pub ending_version: Option<i64>,
    /// At most this many files in this response (`> 0`); the rest through `nextPageToken`
    /// in the `endStreamAction`.
    pub max_files: Option<i64>,
    /// The page to continue from (from a previous `endStreamAction`).
    pub page_token: Option<String>,
    /// Refresh the URLs of an earlier snapshot query (from its `endStreamAction`).
    pub refresh_token: Option<String>,
    /// Ask for a `refreshToken` in the `endStreamAction`.
    pub include_refresh_token: Option<bool>,
}

/// What a validated `/query` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryTarget {
    /// The current snapshot.
    Latest,
    /// The snapshot at a table version.
    Version(i64),
    /// The snapshot at the latest version committed at or before a time.
    Timestamp(DateTime<Utc>),
    /// The data change files from `starting_version` (inclusive) to `ending_version`
    /// (inclusive; a hint) or the latest version.
    Changes {
        /// The first version, inclusive.
        starting_version: i64,
        /// The last version, inclusive, if given.
        ending_version: Option<i64>,
    },
}

impl QueryRequest {
    /// Reads a `/query` body. An empty or all-whitespace body is `{}`. Unknown fields are
    /// ignored; `null` counts as absent; integer fields also accept numeric strings.
    ///
    /// `predicateHints` and `jsonPredicateHints` are hints: a value of the wrong shape is
    /// dropped rather than rejected (a `jsonPredicateHints` sent as an object instead of a
    /// string is kept, re-serialised).
    pub fn parse(body: &[u8]) -> Result<QueryRequest> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(QueryRequest::default());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::InvalidBody {
            reason: e.to_string(),
        })?;
        let Value::Object(obj) = value else {
            return Err(Error::InvalidBody {
                reason: format!("it is {}", kind_of(&value)),
            });
        };
        Ok(QueryRequest {
            predicate_hints: obj.get("predicateHints").and_then(|v| match v {
                Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            }),
            json_predicate_hints: obj.get("jsonPredicateHints").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => Some(v.to_string()),
                _ => None,
            }),
            limit_hint: int_field(&obj, "limitHint")?,
            version: int_field(&obj, "version")?,
            timestamp: string_field(&obj, "timestamp")?,
            starting_version: int_field(&obj, "startingVersion")?,
            ending_version: int_field(&obj, "endingVersion")?,
            max_files: int_field(&obj, "maxFiles")?,
            page_token: string_field(&obj, "pageToken")?,
            refresh_token: string_field(&obj, "refreshToken")?,
            include_refresh_token: bool_field(&obj, "includeRefreshToken")?,
        })
    }

    /// Checks the fields against each other and returns what the query asks for.
    ///
    /// Rejects: a negative `limitHint`, `version`, `startingVersion` or `endingVersion`; a
    /// `maxFiles` that is not positive; `version` with `timestamp`; `startingVersion` with
    /// `version` or `timestamp`; `endingVersion` without `startingVersion` or before it; an
    /// unparseable `timestamp`; and, as the reference server does, `includeRefreshToken` or
    /// `refreshToken` with a version, timestamp or `pageToken` (refresh tokens are for the
    /// first page of a latest-snapshot query).
    pub fn validate(&self) -> Result<QueryTarget> {
        for (name, value) in [
            ("limitHint", self.limit_hint),
            ("version", self.version),
            ("startingVersion", self.starting_version),
            ("endingVersion", self.ending_version),
        ] {
            if let Some(v) = value.filter(|v| *v < 0) {
                return Err(Error::invalid(
                    name,
                    format!("`{v}` is negative; use 0 or more"),
                ));
            }
        }
        if let Some(v) = self.max_files.filter(|v| *v <= 0) {
            return Err(Error::invalid(
                "maxFiles",
                format!("`{v}` is not positive; use 1 or more, or leave it out"),
            ));
        }
        let time_travel = match (self.version, &self.timestamp, self.starting_version) {
            (Some(_), Some(_), _) => {
                return Err(Error::conflict(
                    "`version` and `timestamp` cannot both be set; give one of them",
                ));
            }
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(Error::conflict(
                    "`startingVersion` cannot be used with `version` or `timestamp`; give either a \
                     snapshot (`version`/`timestamp`) or a change range (`startingVersion`)",
                ));
            }
            (Some(v), None, None) => QueryTarget::Version(v),
            (None, Some(ts), None) => {
                QueryTarget::Timestamp(parse_timestamp_param("timestamp", ts)?)
            }
            (None, None, Some(start)) => {
                if let Some(end) = self.ending_version.filter(|end| *end < start) {
                    return Err(Error::conflict(format!(
                        "`endingVersion` `{end}` is before `startingVersion` `{start}`; give an \
                         ending version at or after the starting one"
                    )));
                }
                QueryTarget::Changes {
                    starting_version: start,
                    ending_version: self.ending_version,
                }
            }
            (None, None, None) => QueryTarget::Latest,
        };
        if self.ending_version.is_some() && self.starting_version.is_none() {
            return Err(Error::conflict(
                "`endingVersion` needs `startingVersion`; give both, or neither",
            ));
        }
        let specific = !matches!(time_travel, QueryTarget::Latest);
        if self.include_refresh_token == Some(true) {
            if specific {
                return Err(Error::conflict(
                    "`includeRefreshToken` cannot be used with `version`, `timestamp` or \
                     `startingVersion`; refresh tokens are for the latest snapshot",
                ));
            }
            if self.page_token.is_some() {
                return Err(Error::conflict(
                    "`includeRefreshToken` is for the first page only; leave it out with \
                     `pageToken`",
                ));
            }
        }
        if self.refresh_token.is_some() {
            if specific {
                return Err(Error::conflict(
                    "`refreshToken` cannot be used with `version`, `timestamp` or \
                     `startingVersion`; refresh tokens are for the latest snapshot",
                ));
            }
            if self.page_token.is_some() {
                return Err(Error::conflict(
                    "`refreshToken` is for the first page only; leave it out with `pageToken`",
                ));
            }
        }
        Ok(time_travel)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "`null`",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn int_field(obj: &Map<String, Value>, name: &'static str) -> Result<Option<i64>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            Error::invalid(
                name,
                format!("`{n}` is not a whole number in the 64-bit range"),
            )
        }),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::invalid(name, format!("`{}` is not a whole number", shown(s)))),
        Some(other) => Err(Error::invalid(
            name,
            format!("expected a whole number, got {}", kind_of(other)),
        )),
    }
}

fn string_field(obj: &Map<String, Value>, name: &'static str) -> Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(
            name,
            format!("expected a string, got {}", kind_of(other)),
        )),
    }
}

fn bool_field(obj: &Map<String, Value>, name: &'static str) -> Result<Option<bool>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => crate::params::parse_bool_param(name, s).map(Some),
        Some(other) => Err(Error::invalid(
            name,
            format!("expected `true` or `false`, got {}", kind_of(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_one_line_and_omits_missing_token() {
        let page = ListResponse {
            items: vec![
                ShareInfo {
                    name: "sales".into(),
                    id: None,
                },
                ShareInfo {
                    name: "vaccines".into(),
                    id: Some("edacc4a7".into()),
                },
            ],
            next_page_token: None,
        };
        let s = serde_json::to_string(&page).unwrap();
        assert_eq!(
            s,
            r#"{"items":[{"name":"sales"},{"name":"vaccines","id":"edacc4a7"}]}"#
        );
        assert!(!s.contains('\n'));
        let page = ListResponse::<SchemaInfo> {
            items: vec![],
            next_page_token: Some("abc".into()),
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"items":[],"nextPageToken":"abc"}"#
        );
        let read: ListResponse<SchemaInfo> = serde_json::from_str("{}").unwrap();
        assert!(read.items.is_empty() && read.next_page_token.is_none());
    }

    #[test]
    fn table_info_is_camel_case() {
        let t = TableInfo {
            name: "t".into(),
            schema: "s".into(),
            share: "sh".into(),
            share_id: Some("1".into()),
            id: None,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"name":"t","schema":"s","share":"sh","shareId":"1"}"#
        );
        let get = GetShareResponse {
            share: ShareInfo {
                name: "sh".into(),
                id: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&get).unwrap(),
            r#"{"share":{"name":"sh"}}"#
        );
    }

    #[test]
    fn error_body_shape() {
        let b = ErrorBody::new(error_code::RESOURCE_DOES_NOT_EXIST, "share `x` not found");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"errorCode":"RESOURCE_DOES_NOT_EXIST","message":"share `x` not found"}"#
        );
    }

    #[test]
    fn empty_body_is_a_full_snapshot() {
        for body in [&b""[..], b"  \n", b"{}"] {
            let q = QueryRequest::parse(body).unwrap();
            assert_eq!(q, QueryRequest::default());
            assert_eq!(q.validate().unwrap(), QueryTarget::Latest);
        }
    }

    #[test]
    fn parses_every_field_and_ignores_unknown_ones() {
        let body = br#"{
            "predicateHints": ["date >= '2021-01-01'"],
            "jsonPredicateHints": "{\"op\":\"isNull\"}",
            "limitHint": 1000, "version": "12", "maxFiles": 10,
            "pageToken": "p", "includeRefreshToken": false,
            "somethingNew": {"a": 1}, "timestamp": null
        }"#;
        let q = QueryRequest::parse(body).unwrap();
        assert_eq!(q.predicate_hints, Some(vec!["date >= '2021-01-01'".into()]));
        assert_eq!(
            q.json_predicate_hints.as_deref(),
            Some(r#"{"op":"isNull"}"#)
        );
        assert_eq!(q.limit_hint, Some(1000));
        assert_eq!(q.version, Some(12));
        assert_eq!(q.max_files, Some(10));
        assert_eq!(q.page_token.as_deref(), Some("p"));
        assert_eq!(q.include_refresh_token, Some(false));
        assert_eq!(q.timestamp, None);
        assert_eq!(q.validate().unwrap(), QueryTarget::Version(12));
    }

    #[test]
    fn json_predicate_hints_sent_as_an_object_are_kept() {
        let q = QueryRequest::parse(br#"{"jsonPredicateHints":{"op":"column"}}"#).unwrap();
        assert_eq!(
            q.json_predicate_hints.as_deref(),
            Some(r#"{"op":"column"}"#)
        );
        let q = QueryRequest::parse(br#"{"jsonPredicateHints":3,"predicateHints":"x"}"#).unwrap();
        assert_eq!(q.json_predicate_hints, None);
        assert_eq!(q.predicate_hints, None);
    }

    #[test]
    fn bad_bodies_are_rejected_with_the_field_named() {
        assert!(matches!(
            QueryRequest::parse(b"{"),
            Err(Error::InvalidBody { .. })
        ));
        assert!(matches!(
            QueryRequest::parse(b"[]"),
            Err(Error::InvalidBody { .. })
        ));
        let e = QueryRequest::parse(br#"{"version":1.5}"#).unwrap_err();
        assert!(e.to_string().contains("`version`"), "{e}");
        let e = QueryRequest::parse(br#"{"limitHint":"ten"}"#).unwrap_err();
        assert!(e.to_string().contains("`limitHint`"), "{e}");
        let e = QueryRequest::parse(br#"{"timestamp":5}"#).unwrap_err();
        assert!(e.to_string().contains("`timestamp`"), "{e}");
        let e = QueryRequest::parse(br#"{"includeRefreshToken":"yes"}"#).unwrap_err();
        assert!(e.to_string().contains("`includeRefreshToken`"), "{e}");
    }

    fn check(body: &str) -> Result<QueryTarget> {
        QueryRequest::parse(body.as_bytes()).unwrap().validate()
    }

    fn rejects(body: &str, needle: &str) {
        let e = check(body).unwrap_err();
        assert!(e.to_string().contains(needle), "{body}: {e}");
    }

    #[test]
    fn validation_rules() {
        rejects(r#"{"limitHint":-1}"#, "`limitHint`");
        rejects(r#"{"version":-1}"#, "`version`");
        rejects(r#"{"startingVersion":-3}"#, "`startingVersion`");
        rejects(r#"{"maxFiles":-1}"#, "`maxFiles`");
        rejects(r#"{"maxFiles":0}"#, "`maxFiles`");
        rejects(
            r#"{"version":1,"timestamp":"2022-01-01T00:00:00Z"}"#,
            "`version` and `timestamp`",
        );
        rejects(r#"{"version":1,"startingVersion":1}"#, "`startingVersion`");
        rejects(
            r#"{"timestamp":"2022-01-01T00:00:00Z","startingVersion":1}"#,
            "`startingVersion`",
        );
        rejects(r#"{"endingVersion":3}"#, "needs `startingVersion`");
        rejects(
            r#"{"startingVersion":4,"endingVersion":3}"#,
            "before `startingVersion`",
        );
        rejects(r#"{"timestamp":"yesterday"}"#, "`timestamp`");
        rejects(
            r#"{"version":2,"includeRefreshToken":true}"#,
            "`includeRefreshToken`",
        );
        rejects(
            r#"{"pageToken":"p","includeRefreshToken":true}"#,
            "first page",
        );
        rejects(
            r#"{"startingVersion":2,"refreshToken":"r"}"#,
            "`refreshToken`",
        );
        rejects(r#"{"pageToken":"p","refreshToken":"r"}"#, "first page");
    }

    #[test]
    fn validation_targets() {
        assert_eq!(
            check(r#"{"timestamp":"2022-01-01 00:00:00"}"#).unwrap(),
            QueryTarget::Timestamp("2022-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            check(r#"{"startingVersion":2,"endingVersion":2}"#).unwrap(),
            QueryTarget::Changes {
                starting_version: 2,
                ending_version: Some(2)
            }
        );
        assert_eq!(
            check(r#"{"startingVersion":0}"#).unwrap(),
            QueryTarget::Changes {
                starting_version: 0,
                ending_version: None
            }
        );
        assert_eq!(
            check(r#"{"includeRefreshToken":true,"maxFiles":5}"#).unwrap(),
            QueryTarget::Latest
        );
        assert_eq!(
            check(r#"{"refreshToken":"r"}"#).unwrap(),
            QueryTarget::Latest
        );
    }
}
