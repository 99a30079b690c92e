//! Verbs for the governed catalog (issue 7): `search`, publishing and unpublishing products,
//! metadata form types and forms, enforcement rules, the glossary, classification and tags of
//! tables and columns, and the tags automatic classification suggests (`suggestions`). Each
//! is one REST call (two when a form's values are typed by its form type) and a printout.
//!
//! This module holds the catalog's command line, search, listings, classification and
//! suggestions; form types, forms and rules are in `forms`, glossaries and terms in
//! `glossary`.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use self::forms::{FormCommand, FormTypeCommand, RuleCommand, form, form_type, rule};
use self::glossary::{GlossaryCommand, TermCommand, glossary, term};
use crate::args::{ColumnName, Qualified, TableName, parse_column, parse_product, parse_table};
use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

mod forms;
mod glossary;

pub use self::forms::request_forms;

// ----- column sets -----

const HIT: &[Column] = &[
    Column::path("product", "product"),
    Column::path("listing", "listing"),
    Column::path("classification", "classification"),
    Column::path("tags", "tags"),
    Column::path("terms", "terms"),
    Column::path("description", "description"),
];

const FACET: &[Column] = &[
    Column::path("facet", "facet"),
    Column::path("value", "value"),
    Column::path("count", "count"),
];

const LISTING: &[Column] = &[
    Column::path("product", "product"),
    Column::path("listing", "listing"),
    Column::path("revision", "revision"),
];

const CATALOG: &[Column] = &[
    Column::path("product", "product"),
    Column::path("team", "team"),
    Column::path("listing", "listing"),
    Column::path("revision", "revision"),
    Column::path("classification", "classification"),
    Column::path("tags", "tags"),
    Column::path("terms", "terms"),
    Column::computed("forms", |v| form_names(v.get("forms"))),
    Column::computed("publish requires", |v| {
        output::lookup(v, "publish_requirements")
            .and_then(Value::as_array)
            .map(|reqs| {
                reqs.iter()
                    .map(|r| {
                        let form = output::text(r, "form");
                        let present = r.get("present").and_then(Value::as_bool).unwrap_or(false);
                        format!("{form} ({})", if present { "filled" } else { "missing" })
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }),
    Column::path("request requires", "request_requirements"),
    Column::path("description", "description"),
];

const CATALOG_COLUMN: &[Column] = &[
    Column::path("table", "table"),
    Column::path("column", "name"),
    Column::path("type", "data_type"),
    Column::path("classification", "classification"),
    Column::path("tags", "tags"),
    Column::path("terms", "terms"),
    Column::path("description", "description"),
];

const SUGGESTION: &[Column] = &[
    Column::path("table", "table"),
    Column::path("column", "column"),
    Column::path("kind", "kind"),
    Column::path("status", "status"),
    Column::path("confidence", "confidence"),
    Column::path("tags", "tags"),
    Column::path("decided by", "decided_by"),
    Column::path("evidence", "evidence"),
];

const TAGS: &[Column] = &[
    Column::path("table", "table"),
    Column::path("column", "column"),
    Column::path("classification", "classification"),
    Column::path("tags", "tags"),
];

fn form_names(forms: Option<&Value>) -> String {
    forms
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f.get("form").map(output::cell))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

// ----- the command line -----

// The catalog's verbs, flattened into the top-level verbs.
#[derive(clap::Subcommand, Debug)]
pub enum CatalogCommand {
    /// search the catalog: names, descriptions, columns, glossary terms, tags and form values
    Search(SearchArgs),
    /// publish a data product's catalog listing (owners and stewards; rules may require forms)
    Publish {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// unpublish a data product: hidden from others and not requestable; shares keep working
    Unpublish {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// change a data product's description (a new catalog revision)
    UpdateDataProduct {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        #[arg(long)]
        description: String,
    },
    /// show a data product's catalog entry: listing, forms, terms, classification, columns
    Describe {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// define typed, versioned metadata form types (mesh admins)
    #[command(subcommand)]
    FormType(FormTypeCommand),
    /// fill the metadata forms of products, tables and share requests
    #[command(subcommand)]
    Form(FormCommand),
    /// enforcement rules: forms required to publish to, or request from, a domain
    #[command(subcommand)]
    Rule(RuleCommand),
    /// business glossaries (mesh admins create them; anyone reads them)
    #[command(subcommand)]
    Glossary(GlossaryCommand),
    /// glossary terms: create, relate (is-a, classifies), attach to products and columns
    #[command(subcommand)]
    Term(TermCommand),
    /// classify a table (`DOMAIN.PRODUCT.TABLE`) or a column (`…TABLE.COLUMN`)
    Classify {
        /// `DOMAIN.PRODUCT.TABLE` or `DOMAIN.PRODUCT.TABLE.COLUMN`
        target: String,
        /// public, internal, confidential, restricted, or none to remove it
        #[arg(value_parser = ["public", "internal", "confidential", "restricted", "none"])]
        level: String,
    },
    /// set a table's tags (none clears them; column tags: `meshgate tags set`)
    TableTags {
        #[arg(value_parser = parse_table)]
        table: TableName,
        tags: Vec<String>,
    },
    /// tags automatic classification suggests on columns: list, confirm, reject
    #[command(subcommand)]
    Suggestions(SuggestionCommand),
}

// Automatic classification's suggested tags (docs/design/CLASSIFICATION.md).
#[derive(clap::Subcommand, Debug)]
pub enum SuggestionCommand {
    /// list a data product's suggestions: kind, confidence, evidence, status
    List {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// only suggestions in this status
        #[arg(long, value_parser = ["pending", "applied", "confirmed", "rejected"])]
        status: Option<String>,
    },
    /// confirm a suggestion: its tags go on the column (owners and stewards)
    Confirm {
        #[arg(value_name = "DOMAIN.PRODUCT.TABLE.COLUMN", value_parser = parse_column)]
        column: ColumnName,
        /// the detected kind, e.g. `email`
        kind: String,
    },
    /// reject a suggestion: the tags it put on the column come off, and it is never
    /// suggested again (owners and stewards)
    Reject {
        #[arg(value_name = "DOMAIN.PRODUCT.TABLE.COLUMN", value_parser = parse_column)]
        column: ColumnName,
        /// the detected kind, e.g. `email`
        kind: String,
    },
}

async fn suggestions(c: &Client, out: OutputFormat, cmd: SuggestionCommand) -> Result<()> {
    let (column, kind, decision) = match cmd {
        SuggestionCommand::List { product, status } => {
            let v = c
                .get(
                    &["products", &product.outer, &product.inner, "suggestions"],
                    &[("status", status)],
                )
                .await?;
            return show_list(out, &v, SUGGESTION);
        }
        SuggestionCommand::Confirm { column, kind } => (column, kind, "confirm"),
        SuggestionCommand::Reject { column, kind } => (column, kind, "reject"),
    };
    let t = &column.table;
    let v = c
        .json(
            Method::POST,
            &[
                "products",
                &t.domain,
                &t.product,
                "tables",
                &t.table,
                "columns",
                &column.column,
                "suggestions",
                &kind,
                decision,
            ],
            &json!({}),
        )
        .await?;
    show_record(out, &v, SUGGESTION)
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// the words to look for (none: everything you can see)
    text: Option<String>,
    /// only products of this domain and its units
    #[arg(long)]
    domain: Option<String>,
    /// only products of this team, `DOMAIN.TEAM`
    #[arg(long)]
    team: Option<String>,
    /// only products with this tag (repeatable: all of them)
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// only products of this classification
    #[arg(long, value_parser = ["public", "internal", "confidential", "restricted"])]
    classification: Option<String>,
    /// only products carrying this glossary term (or a narrower one), `GLOSSARY.TERM`
    #[arg(long)]
    term: Option<String>,
    /// only products in this listing state (your team's drafts, for example)
    #[arg(long, value_parser = ["draft", "published", "unpublished"])]
    listing: Option<String>,
    /// at most this many results (default 20, at most 100)
    #[arg(long)]
    limit: Option<usize>,
    /// skip this many results
    #[arg(long)]
    offset: Option<usize>,
}

fn print_search(out: OutputFormat, v: &Value) -> Result<()> {
    if out != OutputFormat::Table {
        let results = v.get("results").cloned().unwrap_or(Value::Null);
        return match out {
            OutputFormat::Json => output::print(&output::json(v)?),
            _ => show_list(out, &results, HIT),
        };
    }
    let empty = Value::Array(Vec::new());
    let results = v.get("results").unwrap_or(&empty);
    let total = v.get("total").and_then(Value::as_u64).unwrap_or(0);
    let mut text = output::render_list(out, results, HIT)?;
    text.push_str(&format!(
        "({} of {total} product{})\n",
        results.as_array().map_or(0, Vec::len),
        if total == 1 { "" } else { "s" }
    ));
    let mut facets = Vec::new();
    if let Some(map) = v.get("facets").and_then(Value::as_object) {
        for (facet, values) in map {
            for fv in values.as_array().into_iter().flatten() {
                facets.push(
                    json!({"facet": facet, "value": fv.get("value"), "count": fv.get("count")}),
                );
            }
        }
    }
    if !facets.is_empty() {
        text.push_str(&output::render_list(out, &Value::Array(facets), FACET)?);
    }
    output::print(&text)
}

fn print_catalog(out: OutputFormat, v: &Value) -> Result<()> {
    let mut text = output::render_record(out, v, CATALOG)?;
    if out == OutputFormat::Table {
        let mut columns = Vec::new();
        for t in v
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let table = t.get("name").cloned().unwrap_or(Value::Null);
            for c in t
                .get("columns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut c = c.clone();
                if let Some(m) = c.as_object_mut() {
                    m.insert("table".into(), table.clone());
                }
                columns.push(c);
            }
        }
        text.push_str(&output::render_list(
            out,
            &Value::Array(columns),
            CATALOG_COLUMN,
        )?);
    }
    output::print(&text)
}

/// Runs one catalog verb.
pub async fn run(c: &Client, out: OutputFormat, cmd: CatalogCommand) -> Result<()> {
    match cmd {
        CatalogCommand::Search(a) => {
            let tags = (!a.tags.is_empty()).then(|| a.tags.join(","));
            let v = c
                .get(
                    &["search"],
                    &[
                        ("q", a.text),
                        ("domain", a.domain),
                        ("team", a.team),
                        ("tag", tags),
                        ("classification", a.classification),
                        ("term", a.term),
                        ("listing", a.listing),
                        ("limit", a.limit.map(|l| l.to_string())),
                        ("offset", a.offset.map(|o| o.to_string())),
                    ],
                )
                .await?;
            print_search(out, &v)
        }
        CatalogCommand::Publish { product } => {
            let v = c
                .json(
                    Method::POST,
                    &["products", &product.outer, &product.inner, "publish"],
                    &json!({}),
                )
                .await?;
            show_record(out, &v, LISTING)
        }
        CatalogCommand::Unpublish { product } => {
            let v = c
                .json(
                    Method::POST,
                    &["products", &product.outer, &product.inner, "unpublish"],
                    &json!({}),
                )
                .await?;
            show_record(out, &v, LISTING)
        }
        CatalogCommand::UpdateDataProduct {
            product,
            description,
        } => {
            let v = c
                .json(
                    Method::PATCH,
                    &["products", &product.outer, &product.inner],
                    &json!({ "description": description }),
                )
                .await?;
            show_record(out, &v, LISTING)
        }
        CatalogCommand::Describe { product } => {
            let v = c
                .get(
                    &["products", &product.outer, &product.inner, "catalog"],
                    &[],
                )
                .await?;
            print_catalog(out, &v)
        }
        CatalogCommand::FormType(cmd) => form_type(c, out, cmd).await,
        CatalogCommand::Form(cmd) => form(c, out, cmd).await,
        CatalogCommand::Rule(cmd) => rule(c, out, cmd).await,
        CatalogCommand::Glossary(cmd) => glossary(c, out, cmd).await,
        CatalogCommand::Term(cmd) => term(c, out, cmd).await,
        CatalogCommand::Classify { target, level } => {
            let parts: Vec<&str> = target.split('.').collect();
            let classification = (level != "none").then_some(level);
            let body = json!({ "classification": classification });
            let v = match parts.as_slice() {
                [d, p, t] => {
                    c.json(
                        Method::PUT,
                        &["products", d, p, "tables", t, "classification"],
                        &body,
                    )
                    .await?
                }
                [d, p, t, col] => {
                    c.json(
                        Method::PUT,
                        &[
                            "products",
                            d,
                            p,
                            "tables",
                            t,
                            "columns",
                            col,
                            "classification",
                        ],
                        &body,
                    )
                    .await?
                }
                _ => bail!(
                    "expected `DOMAIN.PRODUCT.TABLE` or `DOMAIN.PRODUCT.TABLE.COLUMN`, got `{target}`"
                ),
            };
            show_record(out, &v, TAGS)
        }
        CatalogCommand::TableTags { table, tags } => {
            let v = c
                .json(
                    Method::PUT,
                    &[
                        "products",
                        &table.domain,
                        &table.product,
                        "tables",
                        &table.table,
                        "table-tags",
                    ],
                    &json!({ "tags": tags }),
                )
                .await?;
            show_record(out, &v, TAGS)
        }
        CatalogCommand::Suggestions(cmd) => suggestions(c, out, cmd).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use super::glossary::split_term;

    #[derive(Parser, Debug)]
    struct TestCli {
        #[command(subcommand)]
        cmd: CatalogCommand,
    }

    fn parse(args: &[&str]) -> Result<CatalogCommand, clap::Error> {
        TestCli::try_parse_from(std::iter::once("meshgate").chain(args.iter().copied()))
            .map(|c| c.cmd)
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
    }

    #[test]
    fn parses_catalog_verbs() {
        let CatalogCommand::Search(a) = parse(&[
            "search", "orders", "--tag", "pii", "--tag", "gdpr", "--domain", "sales",
        ])
        .unwrap() else {
            panic!("not a search")
        };
        assert_eq!(a.tags, ["pii", "gdpr"]);
        assert!(parse(&["search", "--classification", "secret"]).is_err());
        assert!(
            parse(&["form", "set", "ownership", "owner=alice"]).is_err(),
            "needs a target"
        );
        assert!(
            parse(&[
                "form",
                "set",
                "--product",
                "sales.orders",
                "--share",
                "x",
                "f"
            ])
            .is_err(),
            "one target"
        );
        let CatalogCommand::Form(FormCommand::Set { target, .. }) = parse(&[
            "form",
            "set",
            "--table",
            "sales.orders.orders",
            "ownership",
            "owner=alice",
        ])
        .unwrap() else {
            panic!("not a form set")
        };
        assert_eq!(
            target.path(),
            ["products", "sales", "orders", "tables", "orders"]
        );
        assert!(parse(&["rule", "create", "sales", "--action", "publish_product"]).is_err());
        assert!(
            parse(&["term", "attach", "business.customer"]).is_err(),
            "needs a target"
        );
        assert!(
            parse(&[
                "term",
                "attach",
                "business.customer",
                "--column",
                "sales.customers.customers.email"
            ])
            .is_ok()
        );
        assert!(parse(&["classify", "sales.orders.orders", "secret"]).is_err());
        let CatalogCommand::Suggestions(SuggestionCommand::Reject { column, kind }) = parse(&[
            "suggestions",
            "reject",
            "sales.customers.customers.email",
            "email",
        ])
        .unwrap() else {
            panic!("not a reject")
        };
        assert_eq!((column.column.as_str(), kind.as_str()), ("email", "email"));
        assert!(parse(&["suggestions", "confirm", "sales.customers", "email"]).is_err());
        assert!(
            parse(&[
                "suggestions",
                "list",
                "sales.customers",
                "--status",
                "maybe"
            ])
            .is_err()
        );
        assert_eq!(parse_column("a.b.c.d").unwrap().column, "d".to_string());
        assert!(parse_column("a.b.c").is_err());
        assert!(split_term("business").is_err());
    }
}
