//! Publishing a data product (`create-data-product`): tables uploaded from files, streamed
//! as one multipart request, and existing delta tables registered by URL; and the data file
//! formats the server ingests, told from a file's extension.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::args::{parse_table_file, parse_table_location};
use crate::body::{file_body, object, some};
use crate::client::Client;
use crate::output::{OutputFormat, show_product};

#[derive(clap::Args, Debug)]
pub struct CreateDataProductArgs {
    #[arg(long)]
    pub domain: String,
    /// the owning team (its owners and stewards approve requests)
    #[arg(long)]
    pub team: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// upload a file as table NAME (repeatable; `.csv`, `.parquet`, `.jsonl`, `.json`)
    #[arg(long = "table", value_name = "NAME=PATH", value_parser = parse_table_file)]
    pub tables: Vec<(String, PathBuf)>,
    /// register an existing delta table as table NAME (repeatable)
    #[arg(long = "register", value_name = "NAME=DELTA_URL", value_parser = parse_table_location)]
    pub registers: Vec<(String, String)>,
    /// create it as a catalog draft (visible to its team only) instead of publishing it
    #[arg(long)]
    pub draft: bool,
}

/// Formats of data files the server ingests.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    Csv,
    Parquet,
    Jsonl,
}

impl DataFormat {
    /// The format a file's extension names, as the server reads it.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            "jsonl" | "json" => Some(Self::Jsonl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Jsonl => "jsonl",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// The multipart part that carries the product's JSON description; no table may take its
/// name, since file parts are named by their table.
const PRODUCT_PART: &str = "product";

pub(crate) async fn create_data_product(
    c: &Client,
    out: OutputFormat,
    args: CreateDataProductArgs,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let names = args
        .tables
        .iter()
        .map(|(n, _)| n)
        .chain(args.registers.iter().map(|(n, _)| n));
    for name in names {
        if !seen.insert(name.as_str()) {
            bail!("table `{name}` is given twice");
        }
    }
    if seen.contains(PRODUCT_PART) {
        bail!(
            "a table cannot be named `{PRODUCT_PART}`: the upload reserves that name for the product itself; choose another"
        );
    }
    let registered: Vec<Value> = args
        .registers
        .iter()
        .map(|(name, location)| json!({ "name": name, "location": location }))
        .collect();
    let product = object([
        ("domain", Some(json!(args.domain))),
        ("team", Some(json!(args.team))),
        ("name", Some(json!(args.name))),
        ("description", some(args.description)),
        (
            "tables",
            (!registered.is_empty()).then(|| json!(registered)),
        ),
        ("draft", args.draft.then_some(json!(true))),
    ]);
    let mut form = Form::new().part(
        PRODUCT_PART,
        Part::text(product.to_string()).mime_str("application/json")?,
    );
    for (name, path) in &args.tables {
        let Some(format) = DataFormat::from_path(path) else {
            bail!(
                "cannot tell the format of `{}` (table `{name}`): use a `.csv`, `.parquet`, `.jsonl` or `.json` file",
                path.display()
            );
        };
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{name}.{}", format.as_str()));
        let (body, len) = file_body(path).await?;
        let part = Part::stream_with_length(body, len)
            .file_name(file_name)
            .mime_str(format.mime())?;
        form = form.part(name.clone(), part);
    }
    let request = c.request(Method::POST, &["products"])?.multipart(form);
    let v = c.send_json(request).await?;
    show_product(out, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions() {
        let f = |p: &str| DataFormat::from_path(Path::new(p));
        assert_eq!(f("a/b.CSV"), Some(DataFormat::Csv));
        assert_eq!(f("b.parquet"), Some(DataFormat::Parquet));
        assert_eq!(f("b.json"), Some(DataFormat::Jsonl));
        assert_eq!(f("b.jsonl"), Some(DataFormat::Jsonl));
        assert_eq!(f("b.txt"), None);
        assert_eq!(f("b"), None);
    }
}
