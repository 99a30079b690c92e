//! Metadata forms of the catalog: form types (typed, versioned field lists, from `--field`
//! specs or a file), the forms filled for products, tables and share requests (values typed
//! by their form type), and the enforcement rules that require forms to publish to, or
//! request from, a domain.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::args::{Qualified, TableName, parse_product, parse_table};
use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

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
    pub(super) fn path(&self) -> Vec<String> {
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

pub(super) async fn form_type(c: &Client, out: OutputFormat, cmd: FormTypeCommand) -> Result<()> {
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

pub(super) async fn form(c: &Client, out: OutputFormat, cmd: FormCommand) -> Result<()> {
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

pub(super) async fn rule(c: &Client, out: OutputFormat, cmd: RuleCommand) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
