//! Rendering of API responses for people (`table`) and for scripts (`json`, `csv`).
//!
//! Every resource is shown through one generic path: a list of JSON objects and a list of
//! [`Column`]s, so the table and the CSV of a resource always carry the same columns and a
//! new resource needs only a column list, not a new printer.

use std::io::Write;

use anyhow::{Context, Result};
use comfy_table::{ContentArrangement, Table, presets};
use meshgate_core::lifecycle::ItemStatus;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// How the client prints what the server returns.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// human-readable tables
    #[default]
    Table,
    /// the server's JSON, pretty-printed
    Json,
    /// a header line and one line per row, same columns as the table
    Csv,
    /// only the `id` of each object, one per line (for scripts: `SHARE=$(meshgate … -o id)`)
    Id,
}

/// How a column takes its cell out of a JSON object.
#[derive(Clone, Copy)]
enum Getter {
    /// A dotted path into the object, e.g. `summary.shared`.
    Path(&'static str),
    /// A value derived from the whole object, for cells that combine fields.
    Computed(fn(&Value) -> String),
}

/// One column of a table or CSV: its header and where its cells come from.
#[derive(Clone, Copy)]
pub struct Column {
    header: &'static str,
    get: Getter,
}

impl Column {
    /// A column whose cells are the value at `path` (dotted for nested fields).
    pub const fn path(header: &'static str, path: &'static str) -> Self {
        Self {
            header,
            get: Getter::Path(path),
        }
    }

    /// A column whose cells are computed from the whole row object.
    pub const fn computed(header: &'static str, f: fn(&Value) -> String) -> Self {
        Self {
            header,
            get: Getter::Computed(f),
        }
    }

    fn cell(&self, row: &Value) -> String {
        match self.get {
            Getter::Path(path) => lookup(row, path).map(cell).unwrap_or_default(),
            Getter::Computed(f) => f(row),
        }
    }
}

/// The value at a dotted `path` inside `value`, if there is one.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// The text of the value at `path` in `value` as a cell shows it (empty when absent).
pub fn text(value: &Value, path: &str) -> String {
    lookup(value, path).map(cell).unwrap_or_default()
}

/// The text shown for one JSON value in a cell: strings bare, `null` empty, lists joined
/// with `, ` (objects in lists by their `name` when they have one).
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item.get("name") {
                Some(name) if item.is_object() => cell(name),
                _ => cell(item),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
    }
}

// Column sets, one per resource, shared by `table` and `csv`.

pub const DOMAIN: &[Column] = &[
    Column::path("name", "name"),
    Column::path("producer", "producer"),
    Column::path("consumer", "consumer"),
    Column::path("description", "description"),
    Column::path("created_at", "created_at"),
];

pub const TEAM: &[Column] = &[
    Column::path("domain", "domain"),
    Column::path("name", "name"),
    Column::path("description", "description"),
    Column::path("created_at", "created_at"),
];

pub const MEMBER: &[Column] = &[
    Column::path("principal", "principal"),
    Column::path("role", "role"),
];

pub const PRINCIPAL: &[Column] = &[
    Column::path("name", "name"),
    Column::path("kind", "kind"),
    Column::path("display_name", "display_name"),
    Column::path("admin", "is_admin"),
    Column::path("login", "login"),
    Column::path("active", "active"),
    Column::path("created_at", "created_at"),
];

pub const WHOAMI: &[Column] = &[
    Column::computed("principal", principal_name),
    Column::computed("teams", |v| {
        lookup(v, "teams")
            .and_then(Value::as_array)
            .map(|teams| {
                teams
                    .iter()
                    .map(|t| {
                        let role = lookup(t, "role").map(cell).unwrap_or_default();
                        format!("{} ({role})", qualified(t, "domain", "team"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }),
    Column::path("groups", "groups"),
];

pub const NEW_TOKEN: &[Column] = &[
    Column::path("id", "id"),
    Column::path("principal", "principal"),
    Column::path("scope", "scope"),
    Column::path("expires_at", "expires_at"),
    Column::path("token", "token"),
];

// The API leaves the fields of a listed token open; these are the likely ones, and a
// missing field only leaves its cells empty.
pub const TOKEN: &[Column] = &[
    Column::path("id", "id"),
    Column::path("name", "name"),
    Column::path("principal", "principal"),
    Column::path("scope", "scope"),
    Column::path("created_at", "created_at"),
    Column::path("expires_at", "expires_at"),
    Column::path("revoked_at", "revoked_at"),
];

pub const PRODUCT: &[Column] = &[
    Column::path("domain", "domain"),
    Column::path("name", "name"),
    Column::path("team", "team"),
    Column::path("listing", "listing"),
    Column::path("tables", "tables"),
    Column::path("description", "description"),
];

pub const PRODUCT_DETAIL: &[Column] = &[
    Column::path("id", "id"),
    Column::path("domain", "domain"),
    Column::path("name", "name"),
    Column::path("team", "team"),
    Column::path("listing", "listing"),
    Column::path("revision", "revision"),
    Column::path("description", "description"),
    Column::path("created_at", "created_at"),
    Column::path("updated_at", "updated_at"),
];

pub const PRODUCT_TABLE: &[Column] = &[
    Column::path("table", "name"),
    Column::path("managed", "managed"),
    Column::path("columns", "columns"),
    Column::path("location", "location"),
    Column::path("description", "description"),
];

pub const APPEND: &[Column] = &[
    Column::path("rows", "rows"),
    Column::path("version", "version"),
];

pub const OPTIMIZE: &[Column] = &[
    Column::path("version", "version"),
    Column::path("cluster_by", "cluster_by"),
    Column::path("bloom_filter_columns", "bloom_filter_columns"),
    Column::path("files_removed", "files_removed"),
    Column::path("files_added", "files_added"),
];

pub const VACUUM: &[Column] = &[
    Column::path("version", "version"),
    Column::path("retention_hours", "retention_hours"),
    Column::path("dry_run", "dry_run"),
    Column::path("files_deleted", "files_deleted"),
];

pub const SHARE: &[Column] = &[
    Column::path("id", "id"),
    Column::path("product", "product"),
    Column::path("requester_team", "requester_team"),
    Column::path("status", "status"),
    Column::path("shared", "summary.shared"),
    Column::path("pending", "summary.pending"),
    Column::path("failed", "summary.failed"),
    Column::path("revoked", "summary.revoked"),
    Column::path("reason", "reason"),
];

pub const SHARE_DETAIL: &[Column] = &[
    Column::path("id", "id"),
    Column::path("product", "product"),
    Column::path("requester_team", "requester_team"),
    Column::path("requester_principal", "requester_principal"),
    Column::path("created_by", "created_by"),
    Column::path("status", "status"),
    Column::path("reason", "reason"),
    Column::path("requested_expiry", "requested_expiry"),
    Column::path("decision_notes", "decision_notes"),
    Column::path("decided_by", "decided_by"),
    Column::path("expires_at", "expires_at"),
    Column::path("extension_expiry", "extension_expiry"),
    Column::path("local_name", "local_name"),
    Column::path("deleted_reason", "deleted_reason"),
    Column::path("shared", "summary.shared"),
    Column::path("pending", "summary.pending"),
    Column::path("failed", "summary.failed"),
    Column::path("revoked", "summary.revoked"),
    Column::path("rejected", "summary.rejected"),
    Column::path("version", "version"),
    Column::path("created_at", "created_at"),
    Column::path("updated_at", "updated_at"),
];

pub const SHARE_ITEM: &[Column] = &[
    Column::path("item", "id"),
    Column::path("kind", "kind"),
    Column::path("table", "table"),
    Column::path("folder", "folder"),
    Column::path("permission", "permission"),
    Column::path("status", "status"),
    Column::path("health", "health"),
    Column::path("health_message", "health_message"),
];

/// What a consumer can query: the tables of a share that are in force, by their SQL names.
pub const PRODUCT_ACCESS: &[Column] = &[
    Column::path("id", "id"),
    Column::path("product", "product"),
    Column::path("requester_team", "requester_team"),
    Column::computed("tables", shared_tables),
    Column::path("status", "status"),
    Column::path("shared", "summary.shared"),
    Column::path("failed", "summary.failed"),
];

pub const AUDIT: &[Column] = &[
    Column::path("seq", "seq"),
    Column::path("at", "at"),
    Column::path("actor", "actor"),
    Column::path("action", "action"),
    Column::computed("object", |v| {
        qualified_by(v, "object_type", "object_id", ":")
    }),
    Column::path("outcome", "outcome"),
];

/// The caller's principal name from a `whoami` answer, whether it is a name or an object.
pub fn principal_name(whoami: &Value) -> String {
    match lookup(whoami, "principal") {
        Some(p @ Value::Object(_)) => lookup(p, "name").map(cell).unwrap_or_default(),
        Some(p) => cell(p),
        None => String::new(),
    }
}

/// Whether a share item in `status` gives access now, as counted in `summary.shared`.
fn gives_access(status: &str) -> bool {
    matches!(
        status.parse::<ItemStatus>(),
        Ok(ItemStatus::ShareSucceeded | ItemStatus::PendingExtension)
    )
}

/// `domain.product.table` for each item of a share that is in force, as named in SQL.
fn shared_tables(share: &Value) -> String {
    let product = lookup(share, "product").map(cell).unwrap_or_default();
    lookup(share, "items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    lookup(i, "status")
                        .and_then(Value::as_str)
                        .is_some_and(gives_access)
                })
                .filter_map(|i| lookup(i, "table").map(cell))
                .map(|table| format!("{product}.{table}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn qualified(v: &Value, outer: &str, inner: &str) -> String {
    qualified_by(v, outer, inner, ".")
}

fn qualified_by(v: &Value, outer: &str, inner: &str, sep: &str) -> String {
    let outer = lookup(v, outer).map(cell).unwrap_or_default();
    let inner = lookup(v, inner).map(cell).unwrap_or_default();
    match (outer.is_empty(), inner.is_empty()) {
        (true, _) => inner,
        (false, true) => outer,
        (false, false) => format!("{outer}{sep}{inner}"),
    }
}

/// Renders a list of objects (or one object, as a list of one) with `columns`.
pub fn render_list(format: OutputFormat, value: &Value, columns: &[Column]) -> Result<String> {
    let rows: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    let cells = || {
        rows.iter()
            .map(|row| columns.iter().map(|c| c.cell(row)).collect())
            .collect()
    };
    match format {
        OutputFormat::Table => Ok(table(&headers, cells())),
        OutputFormat::Csv => csv(&headers, cells()),
        OutputFormat::Json => json(value),
        OutputFormat::Id => Ok(rows
            .iter()
            .filter_map(|row| row.get("id"))
            .map(|id| match id {
                Value::String(s) => format!("{s}\n"),
                other => format!("{other}\n"),
            })
            .collect()),
    }
}

/// Renders one object; in a table as `field | value` lines, which reads better than one
/// very wide row.
pub fn render_record(format: OutputFormat, value: &Value, columns: &[Column]) -> Result<String> {
    match format {
        OutputFormat::Table => Ok(table(
            &["field".to_string(), "value".to_string()],
            columns
                .iter()
                .map(|c| vec![c.header.to_string(), c.cell(value)])
                .collect(),
        )),
        OutputFormat::Csv | OutputFormat::Json | OutputFormat::Id => {
            render_list(format, value, columns)
        }
    }
}

/// Pretty JSON, with a final newline.
pub fn json(value: &Value) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).context("cannot format the response")?;
    s.push('\n');
    Ok(s)
}

/// A table of `headers` and `rows`, with a final newline.
pub fn table(headers: &[String], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers);
    for row in rows {
        t.add_row(row);
    }
    format!("{t}\n")
}

/// CSV (RFC 4180 quoting) of `headers` and `rows`.
pub fn csv(headers: &[String], rows: Vec<Vec<String>>) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(headers).context("cannot write csv")?;
    for row in rows {
        w.write_record(&row).context("cannot write csv")?;
    }
    let bytes = w.into_inner().context("cannot write csv")?;
    String::from_utf8(bytes).context("cannot write csv")
}

/// One result row of a query with its columns in the server's order (a plain
/// `serde_json::Map` would sort them).
#[derive(Debug, Default, PartialEq)]
pub struct OrderedRow(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = OrderedRow;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedRow, A::Error> {
                let mut row = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    row.push((k, v));
                }
                Ok(OrderedRow(row))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

/// A table of query result rows; columns in order of first appearance.
pub fn query_table(rows: &[OrderedRow]) -> String {
    let mut headers: Vec<String> = Vec::new();
    for row in rows {
        for (k, _) in &row.0 {
            if !headers.contains(k) {
                headers.push(k.clone());
            }
        }
    }
    let cells = rows
        .iter()
        .map(|row| {
            headers
                .iter()
                .map(|h| {
                    row.0
                        .iter()
                        .find(|(k, _)| k == h)
                        .map(|(_, v)| cell(v))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    table(&headers, cells)
}

/// Writes `text` to stdout; a closed pipe (`meshgate … | head`) is not an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

pub(crate) fn show_list(out: OutputFormat, v: &Value, columns: &[Column]) -> Result<()> {
    print(&render_list(out, v, columns)?)
}

pub(crate) fn show_record(out: OutputFormat, v: &Value, columns: &[Column]) -> Result<()> {
    print(&render_record(out, v, columns)?)
}

/// A record, then (in a table) one of its nested lists.
fn show_nested(
    out: OutputFormat,
    v: &Value,
    columns: &[Column],
    list: &str,
    list_columns: &[Column],
) -> Result<()> {
    let mut text = render_record(out, v, columns)?;
    if out == OutputFormat::Table {
        let empty = Value::Array(Vec::new());
        let items = lookup(v, list).unwrap_or(&empty);
        text.push_str(&render_list(out, items, list_columns)?);
    }
    print(&text)
}

pub(crate) fn show_product(out: OutputFormat, v: &Value) -> Result<()> {
    show_nested(out, v, PRODUCT_DETAIL, "tables", PRODUCT_TABLE)
}

pub(crate) fn show_share(out: OutputFormat, v: &Value) -> Result<()> {
    show_nested(out, v, SHARE_DETAIL, "items", SHARE_ITEM)
}

/// A sentence for people; the response for scripts (a CSV row only when it has columns).
pub(crate) fn confirm(out: OutputFormat, v: &Value, columns: &[Column], msg: &str) -> Result<()> {
    match out {
        OutputFormat::Table => print(&format!("{msg}\n")),
        OutputFormat::Csv if columns.is_empty() => Ok(()),
        OutputFormat::Csv | OutputFormat::Json | OutputFormat::Id => show_list(out, v, columns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shares() -> Value {
        json!([
            {"id": "s1", "product": "sales.orders", "requester_team": "ops.analytics",
             "status": "processed", "reason": "monthly report, \"q3\"",
             "summary": {"shared": 2, "pending": 0, "failed": 1, "revoked": 0, "rejected": 0},
             "items": [
                {"id": "i1", "table": "lines", "status": "share_succeeded"},
                {"id": "i2", "table": "heads", "status": "share_failed"},
                {"id": "i3", "table": "refunds", "status": "share_succeeded"}
             ]},
            {"id": "s2", "product": "sales.orders", "requester_team": null,
             "status": "draft", "reason": "x", "summary": {"shared": 0}}
        ])
    }

    #[test]
    fn csv_has_header_and_quoted_rows() {
        let out = render_list(OutputFormat::Csv, &shares(), SHARE).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "id,product,requester_team,status,shared,pending,failed,revoked,reason",
                "s1,sales.orders,ops.analytics,processed,2,0,1,0,\"monthly report, \"\"q3\"\"\"",
                "s2,sales.orders,,draft,0,,,,x",
            ]
        );
    }

    #[test]
    fn table_has_headers_and_cells() {
        let out = render_list(OutputFormat::Table, &shares(), SHARE).unwrap();
        for needle in [
            "requester_team",
            "ops.analytics",
            "processed",
            "draft",
            "s2",
        ] {
            assert!(out.contains(needle), "{needle} missing from\n{out}");
        }
        // header, two rows, borders: no row was dropped.
        assert!(out.lines().count() >= 4, "{out}");
    }

    #[test]
    fn json_is_the_response_unchanged() {
        assert_eq!(
            render_list(OutputFormat::Id, &shares(), SHARE).unwrap(),
            "s1\ns2\n"
        );
        let out = render_list(OutputFormat::Json, &shares(), SHARE).unwrap();
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, shares());
    }

    #[test]
    fn record_table_is_field_value() {
        let share = &shares()[0];
        let out = render_record(OutputFormat::Table, share, SHARE_DETAIL).unwrap();
        assert!(
            out.contains("field") && out.contains("requester_principal"),
            "{out}"
        );
        let csv = render_record(OutputFormat::Csv, share, APPEND).unwrap();
        assert_eq!(csv, "rows,version\n,\n");
    }

    #[test]
    fn cells_render_nested_and_lists() {
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!(["a", "b"])), "a, b");
        assert_eq!(
            cell(&json!([{"name": "t1", "x": 1}, {"name": "t2"}])),
            "t1, t2"
        );
        assert_eq!(cell(&json!({"a": 1})), "{\"a\":1}");
        assert_eq!(lookup(&json!({"a": {"b": 3}}), "a.b"), Some(&json!(3)));
        assert_eq!(lookup(&json!({"a": 1}), "a.b"), None);
    }

    #[test]
    fn product_access_names_queryable_tables() {
        let out = render_list(OutputFormat::Csv, &shares(), PRODUCT_ACCESS).unwrap();
        assert!(
            out.contains("\"sales.orders.lines, sales.orders.refunds\""),
            "{out}"
        );
    }

    #[test]
    fn computed_columns() {
        let who = json!({"principal": "ann", "teams": [{"domain": "sales", "team": "core", "role": "owner"}], "groups": ["g1"]});
        let out = render_list(OutputFormat::Csv, &who, WHOAMI).unwrap();
        assert_eq!(out, "principal,teams,groups\nann,sales.core (owner),g1\n");
        let obj = json!({"principal": {"name": "bob"}});
        assert_eq!(principal_name(&obj), "bob");
        let ev = json!([{"seq": 7, "object_type": "share", "object_id": "s1"}]);
        let out = render_list(OutputFormat::Csv, &ev, AUDIT).unwrap();
        assert_eq!(out, "seq,at,actor,action,object,outcome\n7,,,,share:s1,\n");
    }

    #[test]
    fn query_rows_keep_server_column_order() {
        let rows: Vec<OrderedRow> =
            serde_json::from_str(r#"[{"z": 1, "a": "x"}, {"a": "y", "m": null}]"#).unwrap();
        assert_eq!(rows[0].0[0].0, "z");
        let out = query_table(&rows);
        let header = out.lines().nth(1).unwrap();
        let (z, a, m) = (
            header.find(" z ").unwrap(),
            header.find(" a ").unwrap(),
            header.find(" m ").unwrap(),
        );
        assert!(z < a && a < m, "{out}");
    }
}
