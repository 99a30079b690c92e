//! Verbs for fine-grained access (docs/design/ACCESS.md): data filters, row rules, column tags, tag
//! masks, and the narrowing an approver attaches to a share's table items.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::args::{Qualified, TableName, parse_product, parse_table};
use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

fn columns_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

const DATA_FILTER: &[Column] = &[
    Column::path("name", "name"),
    Column::path("row_filter", "row_filter"),
    Column::path("columns", "columns"),
    Column::path("description", "description"),
    Column::path("updated_at", "updated_at"),
];

const COLUMN_TAGS: &[Column] = &[
    Column::path("column", "column"),
    Column::path("tags", "tags"),
];

const TAG_MASK: &[Column] = &[
    Column::path("id", "id"),
    Column::path("tag", "tag"),
    Column::path("mask", "mask"),
    Column::path("domain", "domain"),
];

const ROTATED_KEY: &[Column] = &[
    Column::path("key id", "key_id"),
    Column::path("rotated at", "rotated_at"),
];

const ROW_RULE: &[Column] = &[
    Column::path("user", "user_name"),
    Column::path("group", "group_name"),
    Column::computed("values", |r| {
        r.get("values")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let list = output::cell(v);
                        if list.is_empty() {
                            format!("{k}=*")
                        } else {
                            format!("{k}={list}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }),
];

// Named row filters + column lists on a table, attachable to grants (owners).
#[derive(clap::Subcommand, Debug)]
pub enum DataFilterCommand {
    /// create a data filter: a row filter and/or a column list
    Create {
        /// the table, `DOMAIN.PRODUCT.TABLE`
        #[arg(value_parser = parse_table)]
        table: TableName,
        name: String,
        /// rows it admits, e.g. "region = 'EU' AND amount < 1000" (default: all rows)
        #[arg(long, value_name = "EXPR")]
        row_filter: Option<String>,
        /// columns it admits, comma-separated (default: all)
        #[arg(long, value_name = "A,B")]
        columns: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// replace a data filter's row filter and columns (takes effect on the next query)
    Update {
        #[arg(value_parser = parse_table)]
        table: TableName,
        name: String,
        #[arg(long, value_name = "EXPR")]
        row_filter: Option<String>,
        #[arg(long, value_name = "A,B")]
        columns: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// list a table's data filters
    List {
        #[arg(value_parser = parse_table)]
        table: TableName,
    },
    /// show one data filter
    Get {
        #[arg(value_parser = parse_table)]
        table: TableName,
        name: String,
    },
    /// delete a data filter no grant uses
    Delete {
        #[arg(value_parser = parse_table)]
        table: TableName,
        name: String,
    },
}

// Row-level security rules of a product in the QuickSight format (owners).
#[derive(clap::Subcommand, Debug)]
pub enum RowRulesCommand {
    /// replace the product's rules with a rules CSV (`UserName,GroupName,<field>…`)
    Import {
        #[arg(value_parser = parse_product)]
        product: Qualified,
        /// the CSV file (`-` for stdin)
        file: PathBuf,
    },
    /// print the product's rules as a rules CSV
    Export {
        #[arg(value_parser = parse_product)]
        product: Qualified,
    },
    /// show the product's rules
    Show {
        #[arg(value_parser = parse_product)]
        product: Qualified,
    },
    /// remove all of the product's rules (its tables are no longer restricted by rules)
    Clear {
        #[arg(value_parser = parse_product)]
        product: Qualified,
    },
}

// Tags (classifications such as `pii`) on columns.
#[derive(clap::Subcommand, Debug)]
pub enum TagsCommand {
    /// set a column's tags (none = clear them)
    Set {
        #[arg(value_parser = parse_table)]
        table: TableName,
        column: String,
        tags: Vec<String>,
    },
    /// list the tagged columns of a table
    List {
        #[arg(value_parser = parse_table)]
        table: TableName,
    },
}

// Default masks for tagged columns, mesh-wide or per domain.
#[derive(clap::Subcommand, Debug)]
pub enum TagMaskCommand {
    /// mask columns tagged TAG with MASK unless a grant says otherwise
    Set {
        tag: String,
        /// redact, show_last_4, show_first_4, hash, null, date_year_only, custom:<expr>, none
        mask: String,
        /// only for this domain's products (default: mesh-wide)
        #[arg(long)]
        domain: Option<String>,
    },
    /// list the tag masks
    List,
    /// delete a tag mask
    Delete { id: String },
}

// The mesh's key of the `hash` mask.
#[derive(clap::Subcommand, Debug)]
pub enum MaskKeyCommand {
    /// replace the key: every `hash`-masked value reads differently from now on (admins)
    Rotate,
}

/// The approver's narrowing of table items, from `approve-subscription` flags.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ScopeArgs {
    /// attach a data filter to a table's item: TABLE=FILTER (repeatable; several filters on
    /// one table each admit their rows)
    #[arg(long = "filter", value_name = "TABLE=FILTER")]
    pub filters: Vec<String>,
    /// keep only these columns of a table: TABLE=A,B (the others are dropped)
    #[arg(long = "columns", value_name = "TABLE=A,B")]
    pub columns: Vec<String>,
    /// mask a column: TABLE.COLUMN=MASK (repeatable), e.g. orders.email=hash
    #[arg(long = "mask", value_name = "TABLE.COLUMN=MASK")]
    pub masks: Vec<String>,
}

/// One table's narrowing while flags are gathered: data filters, kept columns, masks.
type TableScope = (Vec<String>, Option<Vec<String>>, BTreeMap<String, String>);

impl ScopeArgs {
    /// The `items` of an approval body; `None` when no flag was given.
    pub fn items(&self) -> Result<Option<Value>> {
        let mut tables: BTreeMap<String, TableScope> = BTreeMap::new();
        for f in &self.filters {
            let Some((table, filter)) = f.split_once('=') else {
                bail!("--filter expects TABLE=FILTER, got `{f}`");
            };
            tables
                .entry(table.to_string())
                .or_default()
                .0
                .push(filter.to_string());
        }
        for c in &self.columns {
            let Some((table, cols)) = c.split_once('=') else {
                bail!("--columns expects TABLE=A,B, got `{c}`");
            };
            tables.entry(table.to_string()).or_default().1 = Some(columns_list(cols));
        }
        for m in &self.masks {
            let Some((target, mask)) = m.split_once('=') else {
                bail!("--mask expects TABLE.COLUMN=MASK, got `{m}`");
            };
            let Some((table, column)) = target.split_once('.') else {
                bail!("--mask expects TABLE.COLUMN=MASK, got `{m}`");
            };
            tables
                .entry(table.to_string())
                .or_default()
                .2
                .insert(column.to_string(), mask.to_string());
        }
        if tables.is_empty() {
            return Ok(None);
        }
        let items: Vec<Value> = tables
            .into_iter()
            .map(|(table, (filters, columns, masks))| {
                json!({"table": table, "data_filters": filters, "columns": columns, "masks": masks})
            })
            .collect();
        Ok(Some(Value::Array(items)))
    }
}

fn filter_body(
    name: Option<String>,
    row_filter: Option<String>,
    columns: Option<String>,
    description: Option<String>,
) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    }
    body.insert("row_filter".into(), json!(row_filter));
    body.insert(
        "columns".into(),
        json!(columns.as_deref().map(columns_list)),
    );
    if let Some(d) = description {
        body.insert("description".into(), json!(d));
    }
    Value::Object(body)
}

pub async fn data_filter(c: &Client, out: OutputFormat, cmd: DataFilterCommand) -> Result<()> {
    let base = |t: &TableName| {
        vec![
            "products".to_string(),
            t.domain.clone(),
            t.product.clone(),
            "tables".to_string(),
            t.table.clone(),
            "data-filters".to_string(),
        ]
    };
    match cmd {
        DataFilterCommand::Create {
            table,
            name,
            row_filter,
            columns,
            description,
        } => {
            let path = base(&table);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let body = filter_body(Some(name), row_filter, columns, description);
            let v = c.json(Method::POST, &refs, &body).await?;
            show_record(out, &v, DATA_FILTER)
        }
        DataFilterCommand::Update {
            table,
            name,
            row_filter,
            columns,
            description,
        } => {
            let mut path = base(&table);
            path.push(name);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let body = filter_body(None, row_filter, columns, description);
            let v = c.json(Method::PUT, &refs, &body).await?;
            show_record(out, &v, DATA_FILTER)
        }
        DataFilterCommand::List { table } => {
            let path = base(&table);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let v = c.get(&refs, &[]).await?;
            show_list(out, &v, DATA_FILTER)
        }
        DataFilterCommand::Get { table, name } => {
            let mut path = base(&table);
            path.push(name);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let v = c.get(&refs, &[]).await?;
            show_record(out, &v, DATA_FILTER)
        }
        DataFilterCommand::Delete { table, name } => {
            let mut path = base(&table);
            path.push(name.clone());
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            c.bare(Method::DELETE, &refs).await?;
            eprintln!("deleted data filter `{name}`");
            Ok(())
        }
    }
}

pub async fn row_rules(c: &Client, out: OutputFormat, cmd: RowRulesCommand) -> Result<()> {
    match cmd {
        RowRulesCommand::Import { product, file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read `{}`", file.display()))?
            };
            let request = c
                .request(
                    Method::PUT,
                    &["products", &product.outer, &product.inner, "row-rules"],
                )?
                .header(CONTENT_TYPE, "text/csv")
                .body(text);
            let v = c.send_json(request).await?;
            eprintln!(
                "{} rule(s) in force for {product}",
                v.get("rules").and_then(Value::as_u64).unwrap_or(0)
            );
            Ok(())
        }
        RowRulesCommand::Export { product } => {
            let request = c
                .request(
                    Method::GET,
                    &["products", &product.outer, &product.inner, "row-rules"],
                )?
                .query(&[("format", "csv")]);
            let response = c.send(request).await?;
            let body = c.read_body(response).await?;
            output::print(&String::from_utf8_lossy(&body))
        }
        RowRulesCommand::Show { product } => {
            let v = c
                .get(
                    &["products", &product.outer, &product.inner, "row-rules"],
                    &[],
                )
                .await?;
            show_list(out, &v, ROW_RULE)
        }
        RowRulesCommand::Clear { product } => {
            c.json(
                Method::PUT,
                &["products", &product.outer, &product.inner, "row-rules"],
                &json!([]),
            )
            .await?;
            eprintln!("{product} has no row rules now");
            Ok(())
        }
    }
}

pub async fn tags(c: &Client, out: OutputFormat, cmd: TagsCommand) -> Result<()> {
    match cmd {
        TagsCommand::Set {
            table,
            column,
            tags,
        } => {
            let v = c
                .json(
                    Method::PUT,
                    &[
                        "products",
                        &table.domain,
                        &table.product,
                        "tables",
                        &table.table,
                        "columns",
                        &column,
                        "tags",
                    ],
                    &json!({ "tags": tags }),
                )
                .await?;
            show_record(out, &v, COLUMN_TAGS)
        }
        TagsCommand::List { table } => {
            let v = c
                .get(
                    &[
                        "products",
                        &table.domain,
                        &table.product,
                        "tables",
                        &table.table,
                        "tags",
                    ],
                    &[],
                )
                .await?;
            show_list(out, &v, COLUMN_TAGS)
        }
    }
}

pub async fn tag_mask(c: &Client, out: OutputFormat, cmd: TagMaskCommand) -> Result<()> {
    match cmd {
        TagMaskCommand::Set { tag, mask, domain } => {
            let v = c
                .json(
                    Method::PUT,
                    &["tag-masks"],
                    &json!({"tag": tag, "mask": mask, "domain": domain}),
                )
                .await?;
            show_record(out, &v, TAG_MASK)
        }
        TagMaskCommand::List => {
            let v = c.get(&["tag-masks"], &[]).await?;
            show_list(out, &v, TAG_MASK)
        }
        TagMaskCommand::Delete { id } => {
            c.bare(Method::DELETE, &["tag-masks", &id]).await?;
            eprintln!("deleted tag mask {id}");
            Ok(())
        }
    }
}

pub async fn mask_key(c: &Client, out: OutputFormat, cmd: MaskKeyCommand) -> Result<()> {
    match cmd {
        MaskKeyCommand::Rotate => {
            let v = c
                .json(Method::POST, &["mesh", "mask-key", "rotate"], &json!({}))
                .await?;
            show_record(out, &v, ROTATED_KEY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_flags_group_by_table() {
        let args = ScopeArgs {
            filters: vec!["orders=eu".into(), "orders=us_small".into()],
            columns: vec!["orders=id,region, amount".into()],
            masks: vec![
                "orders.email=hash".into(),
                "customers.card=show_last_4".into(),
            ],
        };
        let items = args.items().unwrap().unwrap();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 2);
        let orders = items.iter().find(|i| i["table"] == "orders").unwrap();
        assert_eq!(orders["data_filters"], json!(["eu", "us_small"]));
        assert_eq!(orders["columns"], json!(["id", "region", "amount"]));
        assert_eq!(orders["masks"], json!({"email": "hash"}));
        let customers = items.iter().find(|i| i["table"] == "customers").unwrap();
        assert_eq!(customers["columns"], Value::Null);
        assert!(ScopeArgs::default().items().unwrap().is_none());
        let bad = ScopeArgs {
            masks: vec!["email=hash".into()],
            ..Default::default()
        };
        assert!(bad.items().is_err());
    }
}
