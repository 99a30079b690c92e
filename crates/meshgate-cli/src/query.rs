//! `query`: SQL over the tables the caller can see, from an argument, a file or stdin; the
//! result streamed as the server sends it (JSON, CSV, Arrow) or printed as a table.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::output::{self, OrderedRow, OutputFormat};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["sql", "sql_file"])))]
pub struct QueryArgs {
    /// the SQL to run
    sql: Option<String>,
    /// read the SQL from this file (`-` for stdin)
    #[arg(long, value_name = "PATH")]
    sql_file: Option<PathBuf>,
    /// stream the result in this format as the server sends it (default: from `--output`)
    #[arg(long, value_enum)]
    format: Option<QueryFormat>,
}

/// Formats of query results.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryFormat {
    Json,
    Csv,
    Arrow,
}

impl QueryFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Arrow => "arrow",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv",
            Self::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

pub(crate) async fn query(c: &Client, out: OutputFormat, args: QueryArgs) -> Result<()> {
    let sql = match (args.sql, args.sql_file) {
        (Some(sql), _) => sql,
        (None, Some(path)) if path.as_os_str() == "-" => {
            tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
                .await
                .context("cannot read the SQL from stdin")?
                .context("cannot read the SQL from stdin")?
        }
        (None, Some(path)) => tokio::fs::read_to_string(&path)
            .await
            .with_context(|| format!("cannot read `{}`", path.display()))?,
        (None, None) => bail!("pass the SQL, or --sql-file PATH"),
    };
    let stream_format = match (args.format, out) {
        (Some(f), _) => Some(f),
        (None, OutputFormat::Json) => Some(QueryFormat::Json),
        (None, OutputFormat::Csv) => Some(QueryFormat::Csv),
        (None, OutputFormat::Table | OutputFormat::Id) => None,
    };
    match stream_format {
        Some(format) => {
            if format == QueryFormat::Arrow && std::io::stdout().is_terminal() {
                bail!("refusing to write arrow data to a terminal: redirect stdout to a file");
            }
            let request = c
                .request(Method::POST, &["query"])?
                .header(reqwest::header::ACCEPT, format.mime())
                .json(&json!({ "sql": sql, "format": format.as_str() }));
            let response = c.send(request).await?;
            c.copy_body(response, &mut tokio::io::stdout()).await
        }
        None => {
            let request = c
                .request(Method::POST, &["query"])?
                .json(&json!({ "sql": sql, "format": QueryFormat::Json.as_str() }));
            let response = c.send(request).await?;
            let body = c.read_body(response).await?;
            let rows: Vec<OrderedRow> = serde_json::from_slice(&body)
                .context("the server answered the query with invalid json")?;
            let noun = if rows.len() == 1 { "row" } else { "rows" };
            output::print(&format!(
                "{}({} {noun})\n",
                output::query_table(&rows),
                rows.len()
            ))
        }
    }
}
