//! The lines of the NDJSON (`application/x-ndjson`) responses of `/metadata`, `/query` and
//! `/changes`, in both response formats. Each builder returns one JSON object on one line,
//! without the newline; the server joins them with `\n`.
//!
//! Order: line 1 [`protocol_line`], line 2 [`metadata_line`], then the actions
//! ([`file_line`] for snapshots, [`change_line`] for change data), then — only if the client
//! asked with `includeendstreamaction=true`, or for a paginated `/query` — one
//! [`end_stream_line`].
//!
//! Traps, from the Python client (`rest_client.py`, `reader.py`) and the spec:
//! - The parquet format's `/query` reader parses **every** line after `metaData` as
//!   `{"file":…}`, and its `/changes` reader every line as `add`/`cdf`/`remove`; the delta
//!   format's readers accept only `file` (and `metaData` for changes). Any other line, such
//!   as an unasked `endStreamAction`, breaks them.
//! - `partitionValues` is always present (`{}` for an unpartitioned table); a null partition
//!   value is JSON `null`. `stats` is a JSON **string**.
//! - Change lines need `version` and `timestamp` (milliseconds): the parquet `cdf` reader and
//!   the delta-format changes reader fail without them, and they become `_commit_version` and
//!   `_commit_timestamp`. The delta-format changes reader also needs `version` on every
//!   `metaData` line, the second line included ([`MetadataExtra::version`]).
//! - In the delta format the file URL replaces the Delta action's `path`, and the actions
//!   must be what delta-kernel reads as a Delta log: `add` with `modificationTime` and
//!   `dataChange`, `remove` with `deletionTimestamp`, `cdc` with `dataChange: false`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::capabilities::ResponseFormat;

/// Fields added to a `metaData` line beside the table's Delta metadata; `None` is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetadataExtra {
    /// The table version this metadata is of. Required on every `metaData` line of a
    /// delta-format `/changes` response; for other responses, set it for time travel and
    /// `startingVersion` queries.
    pub version: Option<i64>,
    /// The table's size in bytes, if known.
    pub size: Option<i64>,
    /// The table's number of files, if known.
    pub num_files: Option<i64>,
}

impl MetadataExtra {
    /// Only the version.
    pub fn at(version: i64) -> Self {
        MetadataExtra {
            version: Some(version),
            ..MetadataExtra::default()
        }
    }
}

/// One data file (or change data file) as served: a signed URL and the Delta action's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAction {
    /// The absolute, signed, expiring URL the client downloads the file from.
    pub url: String,
    /// A stable id of the file, the same across requests.
    pub id: String,
    /// The file's partition values (`None` = null); empty for an unpartitioned table.
    pub partition_values: BTreeMap<String, Option<String>>,
    /// The file's size in bytes.
    pub size: i64,
    /// The Delta statistics as a JSON string, if any.
    pub stats: Option<String>,
    /// The Delta action's `modificationTime` (milliseconds); delta format only.
    pub modification_time: i64,
    /// The table version of the file (required on change lines).
    pub version: Option<i64>,
    /// The commit time of that version, in milliseconds (required on change lines).
    pub timestamp: Option<i64>,
    /// When the URL expires, in milliseconds.
    pub expiration_timestamp: Option<i64>,
    /// The Delta action's `deletionVector`, as given; delta format only.
    pub deletion_vector: Option<Value>,
}

/// The kind of a change data file on a `/changes` (or `startingVersion` `/query`) line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A file added by a commit (its rows are inserts).
    Add,
    /// A file removed by a commit (its rows are deletes).
    Remove,
    /// A change data file (rows with their own `_change_type`).
    Cdf,
}

/// The first line: the protocol. Parquet: `{"protocol":{"minReaderVersion":N}}` with `N`
/// from `delta_protocol`'s `minReaderVersion` (1 if absent). Delta:
/// `{"protocol":{"deltaProtocol":<delta_protocol as given>}}`.
pub fn protocol_line(format: ResponseFormat, delta_protocol: &Value) -> String {
    let inner = match format {
        ResponseFormat::Parquet => {
            let version = delta_protocol
                .get("minReaderVersion")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            object([("minReaderVersion", Value::from(version))])
        }
        ResponseFormat::Delta => object([("deltaProtocol", delta_protocol.clone())]),
    };
    object([("protocol", inner)]).to_string()
}

/// The `metaData` line. `delta_metadata` is the table's Delta `metaData` action (camelCase).
///
/// Parquet: `id`, `name` and `description` (left out when null), `format`
/// (`{"provider":"parquet"}`), `schemaString`, `partitionColumns` (`[]` if absent),
/// `configuration` (`{}` if absent), then `extra`. Delta:
/// `{"metaData":{"deltaMetadata":<as given>, …extra}}`.
pub fn metadata_line(
    format: ResponseFormat,
    delta_metadata: &Value,
    extra: &MetadataExtra,
) -> String {
    let mut inner = Map::new();
    match format {
        ResponseFormat::Parquet => {
            for key in ["id", "name", "description", "schemaString"] {
                if let Some(v) = delta_metadata.get(key).filter(|v| !v.is_null()) {
                    inner.insert(key.to_owned(), v.clone());
                }
            }
            inner.insert(
                "format".to_owned(),
                object([("provider", Value::from("parquet"))]),
            );
            let or_default = |key: &str, default: Value| {
                delta_metadata
                    .get(key)
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(default)
            };
            inner.insert(
                "partitionColumns".to_owned(),
                or_default("partitionColumns", Value::Array(Vec::new())),
            );
            inner.insert(
                "configuration".to_owned(),
                or_default("configuration", Value::Object(Map::new())),
            );
        }
        ResponseFormat::Delta => {
            inner.insert("deltaMetadata".to_owned(), delta_metadata.clone());
        }
    }
    put_opt(&mut inner, "version", extra.version);
    put_opt(&mut inner, "size", extra.size);
    put_opt(&mut inner, "numFiles", extra.num_files);
    object([("metaData", Value::Object(inner))]).to_string()
}

/// A snapshot file line. Parquet: `{"file":{"url","id","partitionValues","size","stats"?,
/// "version"?,"timestamp"?,"expirationTimestamp"?}}`. Delta: `{"file":{"id",
/// "deltaSingleAction":{"add":{"path":<url>,"partitionValues","size","modificationTime",
/// "dataChange":true,"stats"?,"deletionVector"?}},"version"?,"timestamp"?,
/// "expirationTimestamp"?}}`.
pub fn file_line(format: ResponseFormat, file: &FileAction) -> String {
    match format {
        ResponseFormat::Parquet => {
            let mut inner = parquet_file(file);
            put_opt(&mut inner, "stats", file.stats.clone());
            put_opt(&mut inner, "version", file.version);
            put_opt(&mut inner, "timestamp", file.timestamp);
            put_opt(&mut inner, "expirationTimestamp", file.expiration_timestamp);
            object([("file", Value::Object(inner))]).to_string()
        }
        ResponseFormat::Delta => delta_file(file, ("add", delta_add(file))),
    }
}

/// A change data line (`/changes`, and `/query` with `startingVersion`). Parquet:
/// `{"add":{"url","id","partitionValues","size","stats"?,"version","timestamp",
/// "expirationTimestamp"?}}`, `{"remove":{…the same without stats}}` or
/// `{"cdf":{…the same without stats}}`. Delta: a `file` line (with `version` and
/// `timestamp`) whose `deltaSingleAction` is `{"add":{…,"dataChange":true}}`,
/// `{"remove":{"path","partitionValues","size","deletionTimestamp":<timestamp>,
/// "dataChange":true,"extendedFileMetadata":true,"deletionVector"?}}` or
/// `{"cdc":{"path","partitionValues","size","dataChange":false}}`.
///
/// `version` and `timestamp` are left out when `None`, but the clients need them: set them.
pub fn change_line(format: ResponseFormat, kind: ChangeKind, file: &FileAction) -> String {
    match format {
        ResponseFormat::Parquet => {
            let mut inner = parquet_file(file);
            if kind == ChangeKind::Add {
                put_opt(&mut inner, "stats", file.stats.clone());
            }
            put_opt(&mut inner, "version", file.version);
            put_opt(&mut inner, "timestamp", file.timestamp);
            put_opt(&mut inner, "expirationTimestamp", file.expiration_timestamp);
            let key = match kind {
                ChangeKind::Add => "add",
                ChangeKind::Remove => "remove",
                ChangeKind::Cdf => "cdf",
            };
            object([(key, Value::Object(inner))]).to_string()
        }
        ResponseFormat::Delta => {
            let action = match kind {
                ChangeKind::Add => ("add", delta_add(file)),
                ChangeKind::Remove => {
                    let mut remove = delta_common(file);
                    put_opt(&mut remove, "deletionTimestamp", file.timestamp);
                    remove.insert("dataChange".to_owned(), Value::Bool(true));
                    remove.insert("extendedFileMetadata".to_owned(), Value::Bool(true));
                    put_opt(&mut remove, "deletionVector", file.deletion_vector.clone());
                    ("remove", remove)
                }
                ChangeKind::Cdf => {
                    let mut cdc = delta_common(file);
                    cdc.insert("dataChange".to_owned(), Value::Bool(false));
                    ("cdc", cdc)
                }
            };
            delta_file(file, action)
        }
    }
}

/// The last line of a paginated or refreshable response:
/// `{"endStreamAction":{"refreshToken"?,"nextPageToken"?,"minUrlExpirationTimestamp"?}}`.
/// Send it only when the client asked (`includeendstreamaction=true`) or paginates
/// (`maxFiles`/`pageToken`).
pub fn end_stream_line(
    next_page_token: Option<&str>,
    refresh_token: Option<&str>,
    min_url_expiration_timestamp: Option<i64>,
) -> String {
    let mut inner = Map::new();
    put_opt(&mut inner, "refreshToken", refresh_token);
    put_opt(&mut inner, "nextPageToken", next_page_token);
    put_opt(
        &mut inner,
        "minUrlExpirationTimestamp",
        min_url_expiration_timestamp,
    );
    object([("endStreamAction", Value::Object(inner))]).to_string()
}

/// An `endStreamAction` carrying `errorMessage`: how to fail a response whose 200 status
/// was already sent (the client must then fail the query). Keep causes out of `message`.
pub fn end_stream_error_line(message: &str) -> String {
    object([(
        "endStreamAction",
        object([("errorMessage", Value::from(message))]),
    )])
    .to_string()
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn put_opt<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

fn partition_values(file: &FileAction) -> Value {
    Value::Object(
        file.partition_values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect(),
    )
}

/// `url`, `id`, `partitionValues`, `size`: the fields every parquet-format file line has.
fn parquet_file(file: &FileAction) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("url".to_owned(), Value::from(file.url.as_str()));
    m.insert("id".to_owned(), Value::from(file.id.as_str()));
    m.insert("partitionValues".to_owned(), partition_values(file));
    m.insert("size".to_owned(), Value::from(file.size));
    m
}

/// `path` (the URL), `partitionValues`, `size`: the fields every Delta file action has.
fn delta_common(file: &FileAction) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("path".to_owned(), Value::from(file.url.as_str()));
    m.insert("partitionValues".to_owned(), partition_values(file));
    m.insert("size".to_owned(), Value::from(file.size));
    m
}

fn delta_add(file: &FileAction) -> Map<String, Value> {
    let mut add = delta_common(file);
    add.insert(
        "modificationTime".to_owned(),
        Value::from(file.modification_time),
    );
    add.insert("dataChange".to_owned(), Value::Bool(true));
    put_opt(&mut add, "stats", file.stats.clone());
    put_opt(&mut add, "deletionVector", file.deletion_vector.clone());
    add
}

/// A delta-format `file` line wrapping one Delta action.
fn delta_file(file: &FileAction, (kind, action): (&str, Map<String, Value>)) -> String {
    let mut inner = Map::new();
    inner.insert("id".to_owned(), Value::from(file.id.as_str()));
    inner.insert(
        "deltaSingleAction".to_owned(),
        object([(kind, Value::Object(action))]),
    );
    put_opt(&mut inner, "version", file.version);
    put_opt(&mut inner, "timestamp", file.timestamp);
    put_opt(&mut inner, "expirationTimestamp", file.expiration_timestamp);
    object([("file", Value::Object(inner))]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResponseFormat::{Delta, Parquet};
    use serde_json::json;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "{line}");
        serde_json::from_str(line).unwrap()
    }

    fn file() -> FileAction {
        FileAction {
            url: "https://mesh.example/ds/f?X-Databricks-Signature=abc".into(),
            id: "f1".into(),
            partition_values: BTreeMap::from([
                ("date".to_owned(), Some("2021-04-28".to_owned())),
                ("region".to_owned(), None),
            ]),
            size: 573,
            stats: Some(r#"{"numRecords":1}"#.into()),
            modification_time: 1_652_140_000_000,
            version: Some(2),
            timestamp: Some(1_652_140_800_000),
            expiration_timestamp: Some(1_652_144_400_000),
            deletion_vector: None,
        }
    }

    fn bare() -> FileAction {
        FileAction {
            partition_values: BTreeMap::new(),
            stats: None,
            version: None,
            timestamp: None,
            expiration_timestamp: None,
            ..file()
        }
    }

    #[test]
    fn protocol_lines() {
        let p = json!({"minReaderVersion": 3, "minWriterVersion": 7,
                       "readerFeatures": ["deletionVectors"]});
        assert_eq!(
            parse(&protocol_line(
                Parquet,
                &json!({"minReaderVersion":1,"minWriterVersion":2})
            )),
            json!({"protocol":{"minReaderVersion":1}})
        );
        assert_eq!(
            parse(&protocol_line(Parquet, &json!({}))),
            json!({"protocol":{"minReaderVersion":1}})
        );
        assert_eq!(
            parse(&protocol_line(Delta, &p)),
            json!({"protocol":{"deltaProtocol": p}})
        );
    }

    #[test]
    fn metadata_lines() {
        let m = json!({
            "id": "f8d5c169", "name": null, "description": "orders",
            "format": {"provider": "parquet", "options": {}},
            "schemaString": "{\"type\":\"struct\",\"fields\":[]}",
            "partitionColumns": ["date"], "configuration": {"delta.enableChangeDataFeed": "true"},
            "createdTime": 1
        });
        let extra = MetadataExtra {
            version: Some(3),
            size: None,
            num_files: Some(5),
        };
        assert_eq!(
            parse(&metadata_line(Parquet, &m, &extra)),
            json!({"metaData": {
                "id": "f8d5c169", "description": "orders",
                "format": {"provider": "parquet"},
                "schemaString": "{\"type\":\"struct\",\"fields\":[]}",
                "partitionColumns": ["date"],
                "configuration": {"delta.enableChangeDataFeed": "true"},
                "version": 3, "numFiles": 5
            }})
        );
        assert_eq!(
            parse(&metadata_line(Delta, &m, &extra)),
            json!({"metaData": {"deltaMetadata": m, "version": 3, "numFiles": 5}})
        );
        let minimal = json!({"id": "x", "schemaString": "{}"});
        assert_eq!(
            parse(&metadata_line(Parquet, &minimal, &MetadataExtra::default())),
            json!({"metaData": {"id": "x", "format": {"provider": "parquet"},
                   "schemaString": "{}", "partitionColumns": [], "configuration": {}}})
        );
    }

    #[test]
    fn parquet_file_lines() {
        assert_eq!(
            parse(&file_line(Parquet, &file())),
            json!({"file": {
                "url": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                "id": "f1",
                "partitionValues": {"date": "2021-04-28", "region": null},
                "size": 573, "stats": "{\"numRecords\":1}",
                "version": 2, "timestamp": 1_652_140_800_000_i64,
                "expirationTimestamp": 1_652_144_400_000_i64
            }})
        );
        assert_eq!(
            parse(&file_line(Parquet, &bare())),
            json!({"file": {"url": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                   "id": "f1", "partitionValues": {}, "size": 573}})
        );
    }

    #[test]
    fn delta_file_lines() {
        let dv = json!({"storageType": "i", "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f",
                        "offset": 1, "sizeInBytes": 36, "cardinality": 2});
        let f = FileAction {
            deletion_vector: Some(dv.clone()),
            ..file()
        };
        assert_eq!(
            parse(&file_line(Delta, &f)),
            json!({"file": {
                "id": "f1",
                "deltaSingleAction": {"add": {
                    "path": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                    "partitionValues": {"date": "2021-04-28", "region": null},
                    "size": 573, "modificationTime": 1_652_140_000_000_i64,
                    "dataChange": true, "stats": "{\"numRecords\":1}",
                    "deletionVector": dv
                }},
                "version": 2, "timestamp": 1_652_140_800_000_i64,
                "expirationTimestamp": 1_652_144_400_000_i64
            }})
        );
        assert_eq!(
            parse(&file_line(Delta, &bare())),
            json!({"file": {"id": "f1", "deltaSingleAction": {"add": {
                "path": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                "partitionValues": {}, "size": 573,
                "modificationTime": 1_652_140_000_000_i64, "dataChange": true}}}})
        );
    }

    #[test]
    fn parquet_change_lines_match_the_python_readers() {
        let f = file();
        let add = parse(&change_line(Parquet, ChangeKind::Add, &f));
        let remove = parse(&change_line(Parquet, ChangeKind::Remove, &f));
        let cdf = parse(&change_line(Parquet, ChangeKind::Cdf, &f));
        // What protocol.py's AddFile / RemoveFile / AddCdcFile read.
        for (v, key) in [(&add, "add"), (&remove, "remove"), (&cdf, "cdf")] {
            let a = &v[key];
            assert_eq!(v.as_object().unwrap().len(), 1);
            for field in [
                "url",
                "id",
                "partitionValues",
                "size",
                "version",
                "timestamp",
            ] {
                assert!(a.get(field).is_some(), "{key} lacks {field}");
            }
            assert_eq!(a["expirationTimestamp"], json!(1_652_144_400_000_i64));
        }
        assert_eq!(add["add"]["stats"], json!("{\"numRecords\":1}"));
        assert!(remove["remove"].get("stats").is_none());
        assert!(cdf["cdf"].get("stats").is_none());
    }

    #[test]
    fn delta_change_lines_are_delta_log_actions() {
        let f = file();
        let add = parse(&change_line(Delta, ChangeKind::Add, &f));
        assert_eq!(add, parse(&file_line(Delta, &f)));
        assert_eq!(
            parse(&change_line(Delta, ChangeKind::Remove, &f)),
            json!({"file": {
                "id": "f1",
                "deltaSingleAction": {"remove": {
                    "path": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                    "partitionValues": {"date": "2021-04-28", "region": null},
                    "size": 573, "deletionTimestamp": 1_652_140_800_000_i64,
                    "dataChange": true, "extendedFileMetadata": true
                }},
                "version": 2, "timestamp": 1_652_140_800_000_i64,
                "expirationTimestamp": 1_652_144_400_000_i64
            }})
        );
        assert_eq!(
            parse(&change_line(Delta, ChangeKind::Cdf, &f)),
            json!({"file": {
                "id": "f1",
                "deltaSingleAction": {"cdc": {
                    "path": "https://mesh.example/ds/f?X-Databricks-Signature=abc",
                    "partitionValues": {"date": "2021-04-28", "region": null},
                    "size": 573, "dataChange": false
                }},
                "version": 2, "timestamp": 1_652_140_800_000_i64,
                "expirationTimestamp": 1_652_144_400_000_i64
            }})
        );
    }

    #[test]
    fn end_stream_lines() {
        assert_eq!(
            parse(&end_stream_line(Some("next"), Some("refresh"), Some(5))),
            json!({"endStreamAction": {"nextPageToken": "next", "refreshToken": "refresh",
                   "minUrlExpirationTimestamp": 5}})
        );
        assert_eq!(
            end_stream_line(None, None, None),
            r#"{"endStreamAction":{}}"#
        );
        assert_eq!(
            parse(&end_stream_error_line("the table changed; query again")),
            json!({"endStreamAction": {"errorMessage": "the table changed; query again"}})
        );
    }
}
