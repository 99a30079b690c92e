//! Verbs for the governed catalog (issue 7): `search`, publishing and unpublishing products,
//! metadata form types and forms, enforcement rules, the glossary, and classification and
//! tags of tables and columns. Each is one REST call (two when a form's values are typed by
//! its form type) and a printout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::access::{TableName, parse_table};
use crate::client::Client;
use crate::output::{self, Column, OutputFormat};
use crate::verbs::{Qualified, parse_product, show_list, show_record};

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
                        let form = output::lookup(r, "form")
                            .map(output::cell)
                            .unwrap_or_default();
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

const FORM_TYPE: &[Column] = &[
    Column::path("name", "name"),
    Column::path("revision", "revision"),
    Column::computed("fields", |v| {
        v.get("fields")
            .and_then(Value::as_array)
            .map(|fields| fields.iter().map(field_spec).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }),
    Column::path("description", "description"),
];

const FORM: &[Column] = &[
    Column::path("form", "form"),
    Column::path("revision", "revision"),
    Column::path("latest", "latest_revision"),
    Column::computed("values", |v| {
        v.get("values")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", output::cell(v)))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }),
    Column::path("updated_by", "updated_by"),
    Column::path("updated_at", "updated_at"),
];

const RULE: &[Column] = &[
    Column::path("id", "id"),
    Column::path("domain", "domain"),
    Column::path("action", "action"),
    Column::path("forms", "forms"),
    Column::path("include_children", "include_children"),
    Column::path("inherited", "inherited"),
    Column::path("description", "description"),
];

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

/// A field as `--field` writes it: `name:type(values)[:required]`.
fn field_spec(f: &Value) -> String {
    let get = |k: &str| f.get(k).map(output::cell).unwrap_or_default();
    let mut spec = format!("{}:{}", get("name"), get("type"));
    if let Some(values) = f.get("values").and_then(Value::as_array) {
        let vs: Vec<String> = values.iter().map(output::cell).collect();
        spec.push_str(&format!("({})", vs.join("|")));
    } else if let Some(g) = f.get("glossary").and_then(Value::as_str) {
        spec.push_str(&format!("({g})"));
    }
    if f.get("required").and_then(Value::as_bool) == Some(true) {
        spec.push_str(":required");
    }
    spec
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

#[derive(clap::Subcommand, Debug)]
pub enum FormTypeCommand {
    /// create a form type from `--field` specs or a JSON file
    Create {
        name: String,
        /// NAME:TYPE[(VALUES|GLOSSARY)][:required], e.g. `tier:enum(gold|silver):required`;
        /// types: string, number, boolean, date, enum, glossary_term, principal
        #[arg(long = "field", value_name = "SPEC")]
        fields: Vec<String>,
        /// a JSON file with `fields` (and optionally `description`), as the API takes them
        #[arg(long, value_name = "PATH", conflicts_with = "fields")]
        file: Option<PathBuf>,
        #[arg(long)]
        description: Option<String>,
    },
    /// list form types at their latest revision
    List,
    /// show a form type (its latest revision, or `--revision N`)
    Get {
        name: String,
        #[arg(long)]
        revision: Option<i64>,
    },
    /// make a new revision (forms filled under older revisions stay valid)
    Update {
        name: String,
        #[arg(long = "field", value_name = "SPEC")]
        fields: Vec<String>,
        #[arg(long, value_name = "PATH", conflicts_with = "fields")]
        file: Option<PathBuf>,
        #[arg(long)]
        description: Option<String>,
    },
    /// delete a form type no rule requires and no form uses
    Delete { name: String },
}

/// What a form is for: one of `--product`, `--table`, `--share`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct FormTarget {
    /// a data product, `DOMAIN.PRODUCT`
    #[arg(long, value_parser = parse_product)]
    product: Option<Qualified>,
    /// a table, `DOMAIN.PRODUCT.TABLE`
    #[arg(long, value_parser = parse_table)]
    table: Option<TableName>,
    /// a share (access request), by id
    #[arg(long)]
    share: Option<String>,
}

impl FormTarget {
    fn path(&self) -> Vec<String> {
        match (&self.product, &self.table, &self.share) {
            (Some(p), _, _) => vec!["products".into(), p.outer.clone(), p.inner.clone()],
            (_, Some(t), _) => vec![
                "products".into(),
                t.domain.clone(),
                t.product.clone(),
                "tables".into(),
                t.table.clone(),
            ],
            (_, _, Some(s)) => vec!["shares".into(), s.clone()],
            _ => Vec::new(),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum FormCommand {
    /// fill (or refill) a form: FIELD=VALUE pairs, typed by the form type
    Set {
        #[command(flatten)]
        target: FormTarget,
        form: String,
        /// FIELD=VALUE (repeatable)
        #[arg(value_name = "FIELD=VALUE")]
        values: Vec<String>,
        /// the values as a JSON object instead
        #[arg(long, value_name = "JSON", conflicts_with = "values")]
        json: Option<String>,
    },
    /// list the forms filled for a product, table or share
    List {
        #[command(flatten)]
        target: FormTarget,
    },
    /// remove a form
    Remove {
        #[command(flatten)]
        target: FormTarget,
        form: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RuleCommand {
    /// require 1–5 form types to publish products of a domain, or to request them
    Create {
        domain: String,
        #[arg(long, value_parser = ["publish_product", "request_access"])]
        action: String,
        /// a form type name (repeatable, 1 to 5)
        #[arg(long = "form", required = true)]
        forms: Vec<String>,
        /// also for the domain's units (child domains)
        #[arg(long)]
        include_children: bool,
        #[arg(long)]
        description: Option<String>,
    },
    /// list the rules that apply to a domain's products (its own and inherited)
    List { domain: String },
    /// delete a rule
    Delete { domain: String, id: String },
}

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

/// `DOMAIN.PRODUCT.TABLE.COLUMN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnName {
    pub table: TableName,
    pub column: String,
}

pub fn parse_column(s: &str) -> Result<ColumnName, String> {
    match s.rsplit_once('.') {
        Some((table, column)) if !column.is_empty() => {
            let table = parse_table(table).map_err(|_| {
                "expected `DOMAIN.PRODUCT.TABLE.COLUMN`, for example `sales.customers.customers.email`"
                    .to_string()
            })?;
            Ok(ColumnName {
                table,
                column: column.to_string(),
            })
        }
        _ => Err(
            "expected `DOMAIN.PRODUCT.TABLE.COLUMN`, for example `sales.customers.customers.email`"
                .into(),
        ),
    }
}

/// Splits `GLOSSARY.TERM`.
fn split_term(term: &str) -> Result<(&str, &str)> {
    match term.split_once('.') {
        Some((g, t)) if !g.is_empty() && !t.is_empty() && !t.contains('.') => Ok((g, t)),
        _ => bail!("expected `GLOSSARY.TERM`, for example `business.customer`, got `{term}`"),
    }
}

/// Parses a `--field` spec: `NAME:TYPE[(VALUES|GLOSSARY)][:required]`.
pub fn parse_field(spec: &str) -> Result<Value> {
    let mut parts = spec.splitn(2, ':');
    let name = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    if name.is_empty() || rest.is_empty() {
        bail!("--field expects NAME:TYPE[(…)][:required], got `{spec}`");
    }
    let (kind_part, required) = match rest.rsplit_once(':') {
        Some((k, "required")) => (k, true),
        Some((_, other)) if !rest.contains('(') || rest.ends_with(')') => {
            bail!("--field `{spec}`: unknown flag `{other}`; the only flag is `required`")
        }
        _ => (rest, false),
    };
    let mut field = Map::new();
    field.insert("name".into(), json!(name));
    match kind_part.split_once('(') {
        Some((kind, arg)) => {
            let Some(arg) = arg.strip_suffix(')') else {
                bail!("--field `{spec}`: missing `)`");
            };
            field.insert("type".into(), json!(kind));
            if kind == "enum" {
                let values: Vec<&str> = arg.split('|').map(str::trim).collect();
                field.insert("values".into(), json!(values));
            } else {
                field.insert("glossary".into(), json!(arg));
            }
        }
        None => {
            field.insert("type".into(), json!(kind_part));
        }
    }
    if required {
        field.insert("required".into(), json!(true));
    }
    Ok(Value::Object(field))
}

/// The body of a form type create/update from `--field` specs or a file.
fn form_type_body(
    name: Option<&str>,
    fields: &[String],
    file: Option<&PathBuf>,
    description: Option<String>,
) -> Result<Value> {
    let mut body = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not valid JSON", path.display()))?;
            match v {
                Value::Object(m) => m,
                _ => bail!("`{}` must hold a JSON object with `fields`", path.display()),
            }
        }
        None => {
            if fields.is_empty() {
                bail!("give the fields with --field NAME:TYPE (repeatable) or --file PATH");
            }
            let mut m = Map::new();
            let parsed = fields
                .iter()
                .map(|f| parse_field(f))
                .collect::<Result<Vec<_>>>()?;
            m.insert("fields".into(), Value::Array(parsed));
            m
        }
    };
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    } else {
        body.remove("name");
    }
    if let Some(d) = description {
        body.insert("description".into(), json!(d));
    }
    Ok(Value::Object(body))
}

/// `FIELD=VALUE` pairs typed by the form type's fields: numbers and booleans become JSON
/// numbers and booleans; the rest (and unknown fields, which the server names) stay text.
pub fn typed_values(form_type: &Value, pairs: &[String]) -> Result<Value> {
    let kinds: BTreeMap<String, String> = form_type
        .get("fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| {
                    Some((
                        f.get("name")?.as_str()?.to_string(),
                        f.get("type")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut values = Map::new();
    for pair in pairs {
        let Some((field, raw)) = pair.split_once('=') else {
            bail!("expected FIELD=VALUE, got `{pair}`");
        };
        let value = match kinds.get(field).map(String::as_str) {
            Some("number") => match serde_json::from_str::<serde_json::Number>(raw) {
                Ok(n) => Value::Number(n),
                Err(_) => bail!("field `{field}` is a number; `{raw}` is not one"),
            },
            Some("boolean") => match raw {
                "true" | "yes" => Value::Bool(true),
                "false" | "no" => Value::Bool(false),
                _ => bail!("field `{field}` is true or false; `{raw}` is neither"),
            },
            _ => Value::String(raw.to_string()),
        };
        values.insert(field.to_string(), value);
    }
    Ok(Value::Object(values))
}

/// The `forms` of an access request from `--form FORM.FIELD=VALUE` flags, typed by each form
/// type; `None` without flags.
pub async fn request_forms(c: &Client, flags: &[String]) -> Result<Option<Value>> {
    if flags.is_empty() {
        return Ok(None);
    }
    let mut by_form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for flag in flags {
        let Some((form, pair)) = flag.split_once('.') else {
            bail!("--form expects FORM.FIELD=VALUE, got `{flag}`");
        };
        by_form
            .entry(form.to_string())
            .or_default()
            .push(pair.to_string());
    }
    let mut forms = Map::new();
    for (form, pairs) in by_form {
        let form_type = c.get(&["form-types", &form], &[]).await?;
        forms.insert(form, typed_values(&form_type, &pairs)?);
    }
    Ok(Some(Value::Object(forms)))
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
    }
}

async fn form_type(c: &Client, out: OutputFormat, cmd: FormTypeCommand) -> Result<()> {
    match cmd {
        FormTypeCommand::Create {
            name,
            fields,
            file,
            description,
        } => {
            let body = form_type_body(Some(&name), &fields, file.as_ref(), description)?;
            let v = c.json(Method::POST, &["form-types"], &body).await?;
            show_record(out, &v, FORM_TYPE)
        }
        FormTypeCommand::List => {
            let v = c.get(&["form-types"], &[]).await?;
            show_list(out, &v, FORM_TYPE)
        }
        FormTypeCommand::Get { name, revision } => {
            let v = match revision {
                Some(r) => {
                    let r = r.to_string();
                    let mut v = c.get(&["form-types", &name, "revisions", &r], &[]).await?;
                    if let Some(m) = v.as_object_mut() {
                        m.insert("name".into(), json!(name));
                    }
                    v
                }
                None => c.get(&["form-types", &name], &[]).await?,
            };
            show_record(out, &v, FORM_TYPE)
        }
        FormTypeCommand::Update {
            name,
            fields,
            file,
            description,
        } => {
            let body = form_type_body(None, &fields, file.as_ref(), description)?;
            let v = c.json(Method::PUT, &["form-types", &name], &body).await?;
            show_record(out, &v, FORM_TYPE)
        }
        FormTypeCommand::Delete { name } => {
            c.bare(Method::DELETE, &["form-types", &name]).await?;
            eprintln!("deleted form type `{name}`");
            Ok(())
        }
    }
}

async fn form(c: &Client, out: OutputFormat, cmd: FormCommand) -> Result<()> {
    match cmd {
        FormCommand::Set {
            target,
            form,
            values,
            json: raw,
        } => {
            let values = match raw {
                Some(text) => serde_json::from_str::<Value>(&text)
                    .context("--json must be a JSON object of field values")?,
                None => {
                    let form_type = c.get(&["form-types", &form], &[]).await?;
                    typed_values(&form_type, &values)?
                }
            };
            let mut path = target.path();
            path.extend(["forms".to_string(), form]);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let v = c
                .json(Method::PUT, &refs, &json!({ "values": values }))
                .await?;
            show_record(out, &v, FORM)
        }
        FormCommand::List { target } => {
            let mut path = target.path();
            path.push("forms".into());
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let v = c.get(&refs, &[]).await?;
            show_list(out, &v, FORM)
        }
        FormCommand::Remove { target, form } => {
            let mut path = target.path();
            path.extend(["forms".to_string(), form.clone()]);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            c.bare(Method::DELETE, &refs).await?;
            eprintln!("removed form `{form}`");
            Ok(())
        }
    }
}

async fn rule(c: &Client, out: OutputFormat, cmd: RuleCommand) -> Result<()> {
    match cmd {
        RuleCommand::Create {
            domain,
            action,
            forms,
            include_children,
            description,
        } => {
            let v = c
                .json(
                    Method::POST,
                    &["domains", &domain, "rules"],
                    &json!({
                        "action": action, "forms": forms, "include_children": include_children,
                        "description": description.unwrap_or_default(),
                    }),
                )
                .await?;
            show_record(out, &v, RULE)
        }
        RuleCommand::List { domain } => {
            let v = c.get(&["domains", &domain, "rules"], &[]).await?;
            show_list(out, &v, RULE)
        }
        RuleCommand::Delete { domain, id } => {
            c.bare(Method::DELETE, &["domains", &domain, "rules", &id])
                .await?;
            eprintln!("deleted rule {id}");
            Ok(())
        }
    }
}

async fn glossary(c: &Client, out: OutputFormat, cmd: GlossaryCommand) -> Result<()> {
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

async fn term(c: &Client, out: OutputFormat, cmd: TermCommand) -> Result<()> {
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
        output::lookup(&v, "target")
            .map(output::cell)
            .unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
    fn field_specs_become_api_fields() {
        assert_eq!(
            parse_field("tier:enum(gold|silver):required").unwrap(),
            json!({"name": "tier", "type": "enum", "values": ["gold", "silver"], "required": true})
        );
        assert_eq!(
            parse_field("subject:glossary_term(business)").unwrap(),
            json!({"name": "subject", "type": "glossary_term", "glossary": "business"})
        );
        assert_eq!(
            parse_field("owner:principal").unwrap(),
            json!({"name": "owner", "type": "principal"})
        );
        for bad in ["owner", ":string", "a:enum(x", "a:string:mandatory"] {
            assert!(parse_field(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_typed_by_the_form_type() {
        let ft = json!({"fields": [
            {"name": "rows", "type": "number"}, {"name": "ok", "type": "boolean"},
            {"name": "note", "type": "string"}
        ]});
        let v = typed_values(
            &ft,
            &[
                "rows=12.5".into(),
                "ok=yes".into(),
                "note=a=b".into(),
                "other=1".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"rows": 12.5, "ok": true, "note": "a=b", "other": "1"})
        );
        assert!(typed_values(&ft, &["rows=many".into()]).is_err());
        assert!(typed_values(&ft, &["ok=maybe".into()]).is_err());
        assert!(typed_values(&ft, &["novalue".into()]).is_err());
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
        assert_eq!(parse_column("a.b.c.d").unwrap().column, "d".to_string());
        assert!(parse_column("a.b.c").is_err());
        assert!(split_term("business").is_err());
    }
}
