//! Verbs for tenant isolation (docs/design/ACCESS.md §Tenant isolation): vending short-lived,
//! tenant-scoped **credentials**, and the **rows** API that services use with them (append
//! rows as JSON, look a row up by key, list a tenant's rows).
//!
//! A credential is used exactly like an API token (`MESHGATE_TOKEN=$CRED meshgate rows …`),
//! so these verbs need no notion of "credential mode": the server narrows every call by the
//! credential's session policy.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{TableName, parse_duration, parse_table, qualified};
use crate::client::Client;
use crate::output::{self, Column, OrderedRow, OutputFormat, show_list, show_record};

/// A credential as the server stores it (the token is never listed).
const CREDENTIAL: &[Column] = &[
    Column::path("id", "id"),
    Column::path("tables", "policy.tables"),
    Column::path("actions", "policy.actions"),
    Column::path("key_prefix", "policy.key_prefix"),
    Column::path("created_at", "created_at"),
    Column::path("expires_at", "expires_at"),
    Column::path("revoked_at", "revoked_at"),
];

/// A credential just created, with its token (shown only then).
const NEW_CREDENTIAL: &[Column] = &[
    Column::path("id", "id"),
    Column::path("tables", "policy.tables"),
    Column::path("actions", "policy.actions"),
    Column::path("key_prefix", "policy.key_prefix"),
    Column::path("expires_at", "expires_at"),
    Column::path("token", "token"),
];

/// What a credential may do on its tables.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialAction {
    Read,
    Write,
}

impl CredentialAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

// Short-lived credentials narrowed by a session policy.
#[derive(clap::Subcommand, Debug)]
pub enum CredentialsCommand {
    /// vend a credential: your rights narrowed to these tables, actions and keys, for a
    /// while (use its token as MESHGATE_TOKEN)
    Create {
        /// a table it may touch, `DOMAIN.PRODUCT.TABLE` (repeatable)
        #[arg(long = "table", value_name = "D.P.T", value_parser = parse_table, required = true)]
        tables: Vec<TableName>,
        /// what it may do there (repeatable)
        #[arg(long = "action", value_enum, required = true)]
        actions: Vec<CredentialAction>,
        /// only rows whose tenant key starts with this, e.g. `tenant1-`
        #[arg(long, value_name = "P")]
        key_prefix: Option<String>,
        /// lifetime, e.g. `1h`, `30m`, `3600s` (default 1h, at most 12h)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<u64>,
        /// print only the token, for `CRED=$(meshgate credentials create … --token-only)`
        #[arg(long)]
        token_only: bool,
    },
    /// list credentials (without their tokens), newest first
    List {
        /// of this principal (default: yourself)
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// revoke a credential: its next use gets 401
    Revoke {
        /// the credential id
        id: String,
    },
}

// Rows of a table, by key.
#[derive(clap::Subcommand, Debug)]
pub enum RowsCommand {
    /// append rows atomically (all or none), each a JSON object of column → value
    #[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["file", "rows"])))]
    Append {
        /// the table, `DOMAIN.PRODUCT.TABLE`
        #[arg(value_parser = parse_table)]
        table: TableName,
        /// a file of rows: a JSON array of objects, or one object per line (`-` for stdin)
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// one row as a JSON object (repeatable)
        #[arg(long = "row", value_name = "JSON")]
        rows: Vec<String>,
    },
    /// show the row with this key
    Get {
        #[arg(value_parser = parse_table)]
        table: TableName,
        key: String,
    },
    /// list rows by key (under a credential: only its tenant's)
    ///
    /// `-o id` prints each row's first column (the key, for tables that put it first).
    List {
        #[arg(value_parser = parse_table)]
        table: TableName,
        /// at most this many rows (default 100)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// only rows with keys after this one (the next page)
        #[arg(long, value_name = "KEY")]
        after: Option<String>,
    },
}

fn rows_path(t: &TableName) -> [&str; 6] {
    [
        "products", &t.domain, &t.product, "tables", &t.table, "rows",
    ]
}

/// Rows from a file: a JSON array of objects, one object, or JSON lines.
pub fn parse_rows_text(text: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("no rows: the file is empty");
    }
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return match v {
            Value::Array(rows) => {
                if let Some(i) = rows.iter().position(|r| !r.is_object()) {
                    bail!("row {i}: a row must be a JSON object of column → value");
                }
                Ok(rows)
            }
            obj @ Value::Object(_) => Ok(vec![obj]),
            _ => bail!("expected a JSON array of row objects, or one JSON object per line"),
        };
    }
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row: Value =
            serde_json::from_str(line).with_context(|| format!("line {}: invalid JSON", n + 1))?;
        if !row.is_object() {
            bail!(
                "line {}: a row must be a JSON object of column → value",
                n + 1
            );
        }
        rows.push(row);
    }
    Ok(rows)
}

fn parse_row_args(rows: &[String]) -> Result<Vec<Value>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let v: Value = serde_json::from_str(r)
                .with_context(|| format!("--row {}: invalid JSON", i + 1))?;
            if !v.is_object() {
                bail!(
                    "--row {}: a row must be a JSON object of column → value",
                    i + 1
                );
            }
            Ok(v)
        })
        .collect()
}

async fn read_rows_file(path: &PathBuf) -> Result<Vec<Value>> {
    let text = if path.as_os_str() == "-" {
        tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
            .await
            .context("cannot read rows from stdin")?
            .context("cannot read rows from stdin")?
    } else {
        tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("cannot read `{}`", path.display()))?
    };
    parse_rows_text(&text).with_context(|| format!("`{}`", path.display()))
}

pub async fn credentials(c: &Client, out: OutputFormat, cmd: CredentialsCommand) -> Result<()> {
    match cmd {
        CredentialsCommand::Create {
            tables,
            actions,
            key_prefix,
            expires_in,
            token_only,
        } => {
            let mut actions: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
            actions.sort_unstable();
            actions.dedup();
            let mut body = serde_json::Map::new();
            body.insert(
                "tables".into(),
                json!(tables.iter().map(qualified).collect::<Vec<_>>()),
            );
            body.insert("actions".into(), json!(actions));
            if let Some(p) = key_prefix {
                body.insert("key_prefix".into(), json!(p));
            }
            if let Some(s) = expires_in {
                body.insert("expires_in".into(), json!(s));
            }
            let v = c
                .json(Method::POST, &["credentials"], &Value::Object(body))
                .await?;
            if token_only {
                let Some(token) = v.get("token").and_then(Value::as_str) else {
                    bail!("the server answered without a token");
                };
                return output::print(&format!("{token}\n"));
            }
            show_record(out, &v, NEW_CREDENTIAL)?;
            if out == OutputFormat::Table {
                output::print(
                    "this token is shown only once; use it like an api token: `MESHGATE_TOKEN=<token> meshgate rows …`\n",
                )?;
            }
            Ok(())
        }
        CredentialsCommand::List { principal } => {
            let v = c.get(&["credentials"], &[("principal", principal)]).await?;
            show_list(out, &v, CREDENTIAL)
        }
        CredentialsCommand::Revoke { id } => {
            let v = c.bare(Method::DELETE, &["credentials", &id]).await?;
            show_record(out, &v, CREDENTIAL)
        }
    }
}

/// One page of `rows list`, with the columns of each row in the server's order.
#[derive(Deserialize)]
struct RowPage {
    rows: Vec<OrderedRow>,
    #[serde(default)]
    next_after: Value,
}

/// The columns of `rows` in order of first appearance, and their cells.
fn grid(rows: &[OrderedRow]) -> (Vec<String>, Vec<Vec<String>>) {
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
                        .map(|(_, v)| output::cell(v))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    (headers, cells)
}

/// Rows as a table (with `footer`), CSV, JSON (`raw`, the server's answer) or first columns.
fn show_rows(out: OutputFormat, rows: &[OrderedRow], raw: &Value, footer: &str) -> Result<()> {
    match out {
        OutputFormat::Table => output::print(&format!("{}{footer}", output::query_table(rows))),
        OutputFormat::Json => output::print(&output::json(raw)?),
        OutputFormat::Csv => {
            let (headers, cells) = grid(rows);
            output::print(&output::csv(&headers, cells)?)
        }
        OutputFormat::Id => output::print(
            &rows
                .iter()
                .filter_map(|r| r.0.first())
                .map(|(_, v)| format!("{}\n", output::cell(v)))
                .collect::<String>(),
        ),
    }
}

pub async fn rows(c: &Client, out: OutputFormat, cmd: RowsCommand) -> Result<()> {
    match cmd {
        RowsCommand::Append { table, file, rows } => {
            let mut all = match &file {
                Some(path) => read_rows_file(path).await?,
                None => Vec::new(),
            };
            all.extend(parse_row_args(&rows)?);
            if all.is_empty() {
                bail!("no rows to append");
            }
            let v = c
                .json(Method::POST, &rows_path(&table), &Value::Array(all))
                .await?;
            match out {
                OutputFormat::Table => output::print(&format!(
                    "appended {} to `{}` (version {})\n",
                    match output::lookup(&v, "rows").and_then(Value::as_u64) {
                        Some(1) => "1 row".to_string(),
                        Some(n) => format!("{n} rows"),
                        None => "rows".to_string(),
                    },
                    qualified(&table),
                    output::text(&v, "version"),
                )),
                _ => show_list(out, &v, output::APPEND),
            }
        }
        RowsCommand::Get { table, key } => {
            let request = c
                .request(Method::GET, &rows_path(&table))?
                .query(&[("key", key.as_str())]);
            let body = c.read_body(c.send(request).await?).await?;
            let row: OrderedRow =
                serde_json::from_slice(&body).context("the server answered with invalid json")?;
            let raw: Value =
                serde_json::from_slice(&body).context("the server answered with invalid json")?;
            show_rows(out, &[row], &raw, "")
        }
        RowsCommand::List {
            table,
            limit,
            after,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let request = c.request(Method::GET, &rows_path(&table))?.query(&query);
            let body = c.read_body(c.send(request).await?).await?;
            let page: RowPage =
                serde_json::from_slice(&body).context("the server answered with invalid json")?;
            let raw: Value =
                serde_json::from_slice(&body).context("the server answered with invalid json")?;
            let n = page.rows.len();
            let noun = if n == 1 { "row" } else { "rows" };
            // A full page may have a next one; the server pages by key.
            let full = u32::try_from(n).is_ok_and(|n| n > 0 && n == limit.unwrap_or(100));
            let footer = match &page.next_after {
                Value::Null => format!("({n} {noun})\n"),
                next if full => format!("({n} {noun}; more with --after {})\n", output::cell(next)),
                _ => format!("({n} {noun})\n"),
            };
            show_rows(out, &page.rows, &raw, &footer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_arrays_objects_and_lines() {
        let arr = parse_rows_text(r#"[{"a": 1}, {"a": 2}]"#).unwrap();
        assert_eq!(arr, vec![json!({"a": 1}), json!({"a": 2})]);
        let one = parse_rows_text("{\"a\": 1}\n").unwrap();
        assert_eq!(one, vec![json!({"a": 1})]);
        let lines = parse_rows_text("{\"a\": 1}\n\n{\"a\": 2}\n").unwrap();
        assert_eq!(lines.len(), 2);
        let err = parse_rows_text("{\"a\": 1}\n{\"a\": \n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        assert!(parse_rows_text("[1, 2]").is_err());
        assert!(parse_rows_text("  ").is_err());
        assert!(parse_row_args(&["[1]".into()]).is_err());
    }

    #[test]
    fn rows_render_in_server_order() {
        let rows: Vec<OrderedRow> = serde_json::from_str(
            r#"[{"item_id": "t1-1", "qty": 3}, {"item_id": "t1-2", "name": "x"}]"#,
        )
        .unwrap();
        let (headers, cells) = grid(&rows);
        assert_eq!(headers, ["item_id", "qty", "name"]);
        assert_eq!(cells[1], ["t1-2", "", "x"]);
    }
}
