//! Business glossaries and their terms: creating, enabling and disabling them, relating terms
//! (`is_a`, `classifies`), and attaching terms to data products and columns.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{ColumnName, Qualified, parse_column, parse_product};
use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

const GLOSSARY: &[Column] = &[
    Column::path("name", "name"),
    Column::path("enabled", "enabled"),
    Column::path("description", "description"),
];

const TERM: &[Column] = &[
    Column::path("name", "name"),
    Column::path("enabled", "enabled"),
    Column::path("description", "description"),
];

const TERM_DETAIL: &[Column] = &[
    Column::path("term", "term"),
    Column::path("enabled", "enabled"),
    Column::path("is_a", "is_a"),
    Column::path("narrower", "narrower"),
    Column::path("classifies", "classifies"),
    Column::path("classified_by", "classified_by"),
    Column::path("description", "description"),
];

#[derive(clap::Subcommand, Debug)]
pub enum GlossaryCommand {
    /// create a glossary
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// create it disabled
        #[arg(long)]
        disabled: bool,
    },
    /// list glossaries
    List,
    /// show a glossary and its terms
    Get { name: String },
    /// change a glossary's description
    Update {
        name: String,
        #[arg(long)]
        description: String,
    },
    /// let the glossary's terms be attached again
    Enable { name: String },
    /// stop the glossary's terms from being newly attached
    Disable { name: String },
    /// delete an empty glossary
    Delete { name: String },
}

#[derive(clap::Subcommand, Debug)]
pub enum TermCommand {
    /// create a term, `GLOSSARY.TERM`
    Create {
        term: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        disabled: bool,
    },
    /// list a glossary's terms
    List { glossary: String },
    /// show a term with its relations
    Get { term: String },
    /// change a term's description
    Update {
        term: String,
        #[arg(long)]
        description: String,
    },
    /// let the term be attached again
    Enable { term: String },
    /// stop the term from being newly attached
    Disable { term: String },
    /// delete a term nothing uses
    Delete { term: String },
    /// relate two terms: `TERM is_a BROADER` or `TERM classifies OTHER`
    Relate {
        term: String,
        #[arg(value_parser = ["is_a", "classifies"])]
        kind: String,
        target: String,
    },
    /// remove a relation
    Unrelate {
        term: String,
        #[arg(value_parser = ["is_a", "classifies"])]
        kind: String,
        target: String,
    },
    /// attach a term to a product or a column
    Attach(TermTarget),
    /// detach a term from a product or a column
    Detach(TermTarget),
}

#[derive(clap::Args, Debug)]
pub struct TermTarget {
    /// `GLOSSARY.TERM`
    term: String,
    /// a data product, `DOMAIN.PRODUCT`
    #[arg(long, value_parser = parse_product, required_unless_present = "column", conflicts_with = "column")]
    product: Option<Qualified>,
    /// a column, `DOMAIN.PRODUCT.TABLE.COLUMN`
    #[arg(long, value_parser = parse_column)]
    column: Option<ColumnName>,
}

/// Splits `GLOSSARY.TERM`.
pub(super) fn split_term(term: &str) -> Result<(&str, &str)> {
    match term.split_once('.') {
        Some((g, t)) if !g.is_empty() && !t.is_empty() && !t.contains('.') => Ok((g, t)),
        _ => bail!("expected `GLOSSARY.TERM`, for example `business.customer`, got `{term}`"),
    }
}

pub(super) async fn glossary(c: &Client, out: OutputFormat, cmd: GlossaryCommand) -> Result<()> {
    let set = |name: &str, body: Value| {
        let name = name.to_string();
        async move { c.json(Method::PATCH, &["glossaries", &name], &body).await }
    };
    match cmd {
        GlossaryCommand::Create {
            name,
            description,
            disabled,
        } => {
            let v = c
                .json(
                    Method::POST,
                    &["glossaries"],
                    &json!({"name": name, "description": description.unwrap_or_default(), "enabled": !disabled}),
                )
                .await?;
            show_record(out, &v, GLOSSARY)
        }
        GlossaryCommand::List => {
            let v = c.get(&["glossaries"], &[]).await?;
            show_list(out, &v, GLOSSARY)
        }
        GlossaryCommand::Get { name } => {
            let v = c.get(&["glossaries", &name], &[]).await?;
            let mut text = output::render_record(out, &v, GLOSSARY)?;
            if out == OutputFormat::Table {
                let empty = Value::Array(Vec::new());
                text.push_str(&output::render_list(
                    out,
                    v.get("terms").unwrap_or(&empty),
                    TERM,
                )?);
            }
            output::print(&text)
        }
        GlossaryCommand::Update { name, description } => {
            let v = set(&name, json!({ "description": description })).await?;
            show_record(out, &v, GLOSSARY)
        }
        GlossaryCommand::Enable { name } => {
            let v = set(&name, json!({"enabled": true})).await?;
            show_record(out, &v, GLOSSARY)
        }
        GlossaryCommand::Disable { name } => {
            let v = set(&name, json!({"enabled": false})).await?;
            show_record(out, &v, GLOSSARY)
        }
        GlossaryCommand::Delete { name } => {
            c.bare(Method::DELETE, &["glossaries", &name]).await?;
            eprintln!("deleted glossary `{name}`");
            Ok(())
        }
    }
}

pub(super) async fn term(c: &Client, out: OutputFormat, cmd: TermCommand) -> Result<()> {
    let patch = |term: String, body: Value| async move {
        let (g, t) = split_term(&term)?;
        c.json(Method::PATCH, &["glossaries", g, "terms", t], &body)
            .await
    };
    match cmd {
        TermCommand::Create {
            term,
            description,
            disabled,
        } => {
            let (g, t) = split_term(&term)?;
            let v = c
                .json(
                    Method::POST,
                    &["glossaries", g, "terms"],
                    &json!({"name": t, "description": description.unwrap_or_default(), "enabled": !disabled}),
                )
                .await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::List { glossary } => {
            let v = c.get(&["glossaries", &glossary, "terms"], &[]).await?;
            show_list(out, &v, TERM)
        }
        TermCommand::Get { term } => {
            let (g, t) = split_term(&term)?;
            let v = c.get(&["glossaries", g, "terms", t], &[]).await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Update { term, description } => {
            let v = patch(term, json!({ "description": description })).await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Enable { term } => {
            let v = patch(term, json!({"enabled": true})).await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Disable { term } => {
            let v = patch(term, json!({"enabled": false})).await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Delete { term } => {
            let (g, t) = split_term(&term)?;
            c.bare(Method::DELETE, &["glossaries", g, "terms", t])
                .await?;
            eprintln!("deleted glossary term `{term}`");
            Ok(())
        }
        TermCommand::Relate { term, kind, target } => {
            let (g, t) = split_term(&term)?;
            let v = c
                .json(
                    Method::PUT,
                    &["glossaries", g, "terms", t, "relations", &kind, &target],
                    &json!({}),
                )
                .await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Unrelate { term, kind, target } => {
            let (g, t) = split_term(&term)?;
            let v = c
                .bare(
                    Method::DELETE,
                    &["glossaries", g, "terms", t, "relations", &kind, &target],
                )
                .await?;
            show_record(out, &v, TERM_DETAIL)
        }
        TermCommand::Attach(target) => attach(c, target, true).await,
        TermCommand::Detach(target) => attach(c, target, false).await,
    }
}

async fn attach(c: &Client, target: TermTarget, on: bool) -> Result<()> {
    split_term(&target.term)?;
    let path: Vec<String> = match (&target.product, &target.column) {
        (Some(p), _) => vec![
            "products".into(),
            p.outer.clone(),
            p.inner.clone(),
            "terms".into(),
            target.term.clone(),
        ],
        (_, Some(col)) => vec![
            "products".into(),
            col.table.domain.clone(),
            col.table.product.clone(),
            "tables".into(),
            col.table.table.clone(),
            "columns".into(),
            col.column.clone(),
            "terms".into(),
            target.term.clone(),
        ],
        _ => bail!("give --product DOMAIN.PRODUCT or --column DOMAIN.PRODUCT.TABLE.COLUMN"),
    };
    let refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let method = if on { Method::PUT } else { Method::DELETE };
    let v = if on {
        c.json(method, &refs, &json!({})).await?
    } else {
        c.bare(method, &refs).await?
    };
    eprintln!(
        "{} `{}` {} {}",
        if on { "attached" } else { "detached" },
        target.term,
        if on { "to" } else { "from" },
        output::text(&v, "target")
    );
    Ok(())
}
