//! Verbs for a data product's files (docs/API.md §Files): upload, list, download, delete,
//! and signed download URLs to hand to tools that have no meshgate token (curl, Spark,
//! pandas). Uploads and downloads stream; nothing is held in memory whole.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::args::{Qualified, parse_duration, parse_product};
use crate::body::file_body;
use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

/// A file as listed.
const FILE: &[Column] = &[
    Column::path("path", "path"),
    Column::path("size", "size"),
    Column::path("last_modified", "last_modified"),
    Column::path("etag", "etag"),
];

/// A signed URL.
const SIGNED: &[Column] = &[
    Column::path("url", "url"),
    Column::path("expires_at", "expires_at"),
];

// A data product's files.
#[derive(clap::Subcommand, Debug)]
pub enum FilesCommand {
    /// upload a local file to a product's files, replacing any file at that path
    /// (owners and stewards of the product's team)
    Upload {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// the local file
        local: PathBuf,
        /// its path among the product's files, e.g. `reports/2024.csv` (default: the
        /// local file's name)
        #[arg(long = "as", value_name = "PATH")]
        as_path: Option<String>,
    },
    /// list a product's files (those your grants cover), by path
    List {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// only files whose path starts with this, e.g. `reports/`
        #[arg(long)]
        prefix: Option<String>,
        /// at most this many (default 1000)
        #[arg(long)]
        limit: Option<u32>,
        /// files after this path (the previous page's last)
        #[arg(long, value_name = "PATH")]
        after: Option<String>,
    },
    /// download a file to stdout, or to a local file with --to
    Download {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// the file's path among the product's files
        path: String,
        /// write here instead of stdout (`-o` is the output format of every verb)
        #[arg(long, value_name = "FILE")]
        to: Option<PathBuf>,
    },
    /// make a signed URL that downloads the file without a token, until it expires or your
    /// grant is revoked (supports HEAD and Range)
    Sign {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        path: String,
        /// lifetime, e.g. `1h`, `30m`, `2d` (default 1h, at most 7d)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<u64>,
    },
    /// delete a file (owners and stewards of the product's team)
    Delete {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        path: String,
    },
}

/// `products/{d}/{p}/files/{path…}` as URL segments (each encoded by the client).
fn segments<'a>(product: &'a Qualified, path: &'a str) -> Vec<&'a str> {
    let mut s = vec!["products", &product.outer, &product.inner, "files"];
    s.extend(path.split('/'));
    s
}

pub async fn run(c: &Client, out: OutputFormat, cmd: FilesCommand) -> Result<()> {
    match cmd {
        FilesCommand::Upload {
            product,
            local,
            as_path,
        } => {
            let path = match as_path {
                Some(p) => p,
                None => match local.file_name().and_then(|n| n.to_str()) {
                    Some(n) => n.to_string(),
                    None => bail!(
                        "cannot name the upload after `{}`: pass --as PATH",
                        local.display()
                    ),
                },
            };
            let (body, len) = file_body(&local).await?;
            let request = c
                .request(Method::PUT, &segments(&product, &path))?
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(body);
            let v = c.send_json(request).await?;
            match out {
                OutputFormat::Table => output::print(&format!(
                    "uploaded `{path}` to `{product}` ({} bytes)\n",
                    output::text(&v, "size")
                )),
                _ => show_record(out, &v, FILE),
            }
        }
        FilesCommand::List {
            product,
            prefix,
            limit,
            after,
        } => {
            let v = c
                .get(
                    &["products", &product.outer, &product.inner, "files"],
                    &[
                        ("prefix", prefix),
                        ("limit", limit.map(|l| l.to_string())),
                        ("after", after),
                    ],
                )
                .await?;
            if out == OutputFormat::Json {
                return output::print(&output::json(&v)?);
            }
            let files = v.get("files").cloned().unwrap_or(Value::Array(Vec::new()));
            show_list(out, &files, FILE)?;
            if out == OutputFormat::Table
                && let Some(next) = v.get("next_after").and_then(Value::as_str)
            {
                eprintln!("more files: pass --after '{next}'");
            }
            Ok(())
        }
        FilesCommand::Download { product, path, to } => {
            let request = c.request(Method::GET, &segments(&product, &path))?;
            let response = c.send(request).await?;
            match to {
                None => c.copy_body(response, &mut tokio::io::stdout()).await,
                Some(dest) => {
                    // Written beside the target, then renamed: a failed download leaves no
                    // half file under the name asked for.
                    let mut part = dest.clone().into_os_string();
                    part.push(".part");
                    let part = PathBuf::from(part);
                    let mut file = tokio::fs::File::create(&part)
                        .await
                        .with_context(|| format!("cannot create `{}`", part.display()))?;
                    let copied = c.copy_body(response, &mut file).await;
                    let flushed = match copied {
                        Ok(()) => file.flush().await.context("cannot write the file"),
                        Err(e) => Err(e),
                    };
                    drop(file);
                    if let Err(e) = flushed {
                        let _ = tokio::fs::remove_file(&part).await;
                        return Err(e);
                    }
                    tokio::fs::rename(&part, &dest)
                        .await
                        .with_context(|| format!("cannot write `{}`", dest.display()))?;
                    if out == OutputFormat::Table {
                        eprintln!("saved `{product}/{path}` to `{}`", dest.display());
                    }
                    Ok(())
                }
            }
        }
        FilesCommand::Sign {
            product,
            path,
            expires_in,
        } => {
            let mut body = json!({ "path": path });
            if let Some(s) = expires_in {
                body["expires_in_secs"] = json!(s);
            }
            let v = c
                .json(
                    Method::POST,
                    &["products", &product.outer, &product.inner, "files", "sign"],
                    &body,
                )
                .await?;
            match out {
                // The URL alone, for `URL=$(meshgate files sign …)`; the expiry to stderr.
                OutputFormat::Table | OutputFormat::Id => {
                    let url = v.get("url").and_then(Value::as_str).unwrap_or_default();
                    output::print(&format!("{url}\n"))?;
                    if out == OutputFormat::Table {
                        eprintln!("expires at {}", output::text(&v, "expires_at"));
                    }
                    Ok(())
                }
                _ => show_record(out, &v, SIGNED),
            }
        }
        FilesCommand::Delete { product, path } => {
            let v = c.bare(Method::DELETE, &segments(&product, &path)).await?;
            match out {
                OutputFormat::Table => output::print(&format!("deleted `{path}` of `{product}`\n")),
                _ => show_record(out, &v, FILE),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_become_encoded_segments() {
        let c = Client::new("http://h:1", Some("t")).unwrap();
        let p = parse_product("sales.docs").unwrap();
        let url = c.url(&segments(&p, "reports/q 1#.csv")).unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:1/api/v1/products/sales/docs/files/reports/q%201%23.csv"
        );
    }
}
