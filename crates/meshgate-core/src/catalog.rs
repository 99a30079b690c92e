//! The vocabulary of the governed catalog: metadata form types and the forms filled from
//! them, enforcement rules, listing states of products, the business glossary, and table and
//! column classification. Pure data and the checks on it (value types, required fields,
//! `is_a` cycles, domain hierarchy cycles, which rules apply where); the server resolves
//! names and the store keeps the records.
//!
//! **Form types are versioned.** Changing a form type's fields makes a new revision; a form
//! remembers the revision it was filled under and is checked against that one, so a new
//! revision (a new required field, a narrower enum) never invalidates values filled before
//! it. Filling a form again uses the latest revision.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::lifecycle::string_enum;
use crate::{Error, Result, names};

/// An enforcement rule requires between one and this many form types.
pub const MAX_RULE_FORMS: usize = 5;
/// The most fields a form type may have.
pub const MAX_FIELDS: usize = 100;
/// The longest text value (and description) accepted.
pub const MAX_TEXT: usize = 4096;

string_enum!(
    /// Where a data product stands in the catalog. `draft` and `unpublished` products are
    /// visible to their owning team (and admins) only, and cannot be requested; a
    /// `published` product is visible to everyone. Unpublishing keeps existing shares.
    ListingState {
        Draft => "draft",
        Published => "published",
        Unpublished => "unpublished",
    }
);

impl Default for ListingState {
    /// Products made before listing states existed, and products created without `draft`
    /// in a domain with no publish rule, are published.
    fn default() -> Self {
        ListingState::Published
    }
}

string_enum!(
    /// What can be done to a product's listing.
    ListingAction {
        Publish => "publish",
        Unpublish => "unpublish",
    }
);

/// The listing state machine: `draft → published ⇄ unpublished`. `None` when the action
/// leaves the state as it is (publishing a published product, unpublishing an unpublished
/// one: idempotent no-ops); an error for a move the table does not list.
pub fn listing_step(
    product: &str,
    from: ListingState,
    action: ListingAction,
) -> Result<Option<ListingState>> {
    use ListingAction::*;
    use ListingState::*;
    match (from, action) {
        (Draft | Unpublished, Publish) => Ok(Some(Published)),
        (Published, Publish) | (Unpublished, Unpublish) => Ok(None),
        (Published, Unpublish) => Ok(Some(Unpublished)),
        (Draft, Unpublish) => Err(Error::conflict(format!(
            "cannot unpublish data product `{product}`: it is a `draft` that was never published"
        ))),
    }
}

string_enum!(
    /// How sensitive a table or column is, in increasing order. A classification is a tag of
    /// this vocabulary (so tag masks apply to it); a table's or column's classification is
    /// the most sensitive such tag it carries, a product's the most sensitive of its tables'
    /// and columns'.
    Classification {
        Public => "public",
        Internal => "internal",
        Confidential => "confidential",
        Restricted => "restricted",
    }
);

impl Classification {
    /// The most sensitive classification among `tags`, if any is one.
    pub fn of_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> Option<Classification> {
        tags.into_iter()
            .filter_map(|t| t.parse::<Classification>().ok())
            .max()
    }

    /// `tags` with any classification replaced by `to` (or removed, for `None`), keeping the
    /// other tags in their order.
    pub fn set_in(tags: &[String], to: Option<Classification>) -> Vec<String> {
        let mut out: Vec<String> = tags
            .iter()
            .filter(|t| t.parse::<Classification>().is_err())
            .cloned()
            .collect();
        if let Some(c) = to {
            out.push(c.as_str().to_string());
        }
        out
    }
}

/// Checks and de-duplicates a list of tags (each a valid name), keeping their order.
pub fn normalize_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        names::validate("tag", &tag)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Tags on a table (e.g. `pii`, `confidential`); a table without tags has none stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableTags {
    pub table_id: Uuid,
    pub tags: Vec<String>,
}

// ----- metadata form types -----

string_enum!(
    /// The type of a form field's values.
    FieldKind {
        String => "string",
        Number => "number",
        Boolean => "boolean",
        Date => "date",
        Enum => "enum",
        GlossaryTerm => "glossary_term",
        Principal => "principal",
    }
);

/// One typed field of a form type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
    /// The allowed values of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// For a `glossary_term` field: only terms of this glossary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glossary: Option<String>,
}

/// A metadata form type at its latest revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormType {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The latest revision, from 1.
    pub revision: i64,
    pub fields: Vec<FormField>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One revision of a form type, as forms filled under it are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormTypeRevision {
    pub form_type_id: Uuid,
    pub revision: i64,
    pub description: String,
    pub fields: Vec<FormField>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Checks a form type's field list: at least one field, unique valid names, enum values
/// present (and only on enums), glossary restrictions only on glossary-term fields.
pub fn validate_fields(fields: &[FormField]) -> Result<()> {
    if fields.is_empty() {
        return Err(Error::invalid(
            "fields: a form type needs at least one field",
        ));
    }
    if fields.len() > MAX_FIELDS {
        return Err(Error::invalid(format!(
            "fields: a form type may have at most {MAX_FIELDS} fields, not {}",
            fields.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for f in fields {
        names::validate("field name", &f.name)?;
        if !seen.insert(f.name.as_str()) {
            return Err(Error::invalid(format!(
                "fields: field `{}` is given twice",
                f.name
            )));
        }
        if f.description.len() > MAX_TEXT {
            return Err(Error::invalid(format!(
                "fields: the description of field `{}` is longer than {MAX_TEXT} bytes",
                f.name
            )));
        }
        match f.kind {
            FieldKind::Enum => {
                if f.values.is_empty() {
                    return Err(Error::invalid(format!(
                        "fields: enum field `{}` needs `values`, the allowed values",
                        f.name
                    )));
                }
                let distinct: BTreeSet<&String> = f.values.iter().collect();
                if distinct.len() != f.values.len() {
                    return Err(Error::invalid(format!(
                        "fields: enum field `{}` lists a value twice",
                        f.name
                    )));
                }
                if let Some(empty) = f.values.iter().find(|v| v.trim().is_empty()) {
                    return Err(Error::invalid(format!(
                        "fields: enum field `{}` has an empty value `{empty}`",
                        f.name
                    )));
                }
            }
            _ if !f.values.is_empty() => {
                return Err(Error::invalid(format!(
                    "fields: field `{}` is a {}; only enum fields take `values`",
                    f.name, f.kind
                )));
            }
            _ => {}
        }
        if f.glossary.is_some() && f.kind != FieldKind::GlossaryTerm {
            return Err(Error::invalid(format!(
                "fields: field `{}` is a {}; only glossary_term fields take `glossary`",
                f.name, f.kind
            )));
        }
        if let Some(g) = &f.glossary {
            names::validate("glossary name", g)?;
        }
    }
    Ok(())
}

/// A value in a filled form that names something the server must check exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A glossary term, `glossary.term`, optionally restricted to one glossary.
    Term {
        field: String,
        glossary: String,
        term: String,
        only_glossary: Option<String>,
    },
    /// A principal, by name.
    Principal { field: String, name: String },
}

fn type_error(form: &str, field: &str, expected: &str, got: &Value) -> Error {
    let shown: String = got.to_string().chars().take(80).collect();
    Error::invalid(format!(
        "form `{form}` field `{field}`: expected {expected}, got `{shown}`"
    ))
}

/// Checks `values` against the fields of one form type revision: no unknown fields, every
/// required field present (null counts as absent), every value of its field's type. Returns
/// the values to store (without nulls) and the references (glossary terms, principals) the
/// caller must check exist.
pub fn check_values(
    form: &str,
    fields: &[FormField],
    values: &BTreeMap<String, Value>,
) -> Result<(BTreeMap<String, Value>, Vec<Reference>)> {
    if let Some(unknown) = values
        .keys()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(Error::invalid(format!(
            "form `{form}` has no field `{unknown}`; its fields are: {}",
            fields
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut kept = BTreeMap::new();
    let mut refs = Vec::new();
    let mut missing = Vec::new();
    for f in fields {
        let value = match values.get(&f.name) {
            None | Some(Value::Null) => {
                if f.required {
                    missing.push(format!("`{}`", f.name));
                }
                continue;
            }
            Some(v) => v,
        };
        let name = f.name.as_str();
        match f.kind {
            FieldKind::String => match value.as_str() {
                Some(s) if s.len() <= MAX_TEXT => {}
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "form `{form}` field `{name}`: the text is longer than {MAX_TEXT} bytes"
                    )));
                }
                None => return Err(type_error(form, name, "a string", value)),
            },
            FieldKind::Number => {
                if !value.is_number() {
                    return Err(type_error(form, name, "a number", value));
                }
            }
            FieldKind::Boolean => {
                if !value.is_boolean() {
                    return Err(type_error(form, name, "true or false", value));
                }
            }
            FieldKind::Date => {
                let ok = value
                    .as_str()
                    .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok());
                if !ok {
                    return Err(type_error(form, name, "a date `YYYY-MM-DD`", value));
                }
            }
            FieldKind::Enum => match value.as_str() {
                Some(s) if f.values.iter().any(|v| v == s) => {}
                _ => {
                    return Err(type_error(
                        form,
                        name,
                        &format!("one of {}", quoted(&f.values)),
                        value,
                    ));
                }
            },
            FieldKind::GlossaryTerm => {
                let Some((glossary, term)) = value
                    .as_str()
                    .and_then(|s| s.split_once('.'))
                    .filter(|(g, t)| !g.is_empty() && !t.is_empty() && !t.contains('.'))
                else {
                    return Err(type_error(
                        form,
                        name,
                        "a glossary term `<glossary>.<term>`",
                        value,
                    ));
                };
                refs.push(Reference::Term {
                    field: name.to_string(),
                    glossary: glossary.to_string(),
                    term: term.to_string(),
                    only_glossary: f.glossary.clone(),
                });
            }
            FieldKind::Principal => match value.as_str() {
                Some(s) if !s.is_empty() => refs.push(Reference::Principal {
                    field: name.to_string(),
                    name: s.to_string(),
                }),
                _ => return Err(type_error(form, name, "a principal name", value)),
            },
        }
        kept.insert(f.name.clone(), value.clone());
    }
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "form `{form}` is missing required field(s): {}",
            missing.join(", ")
        )));
    }
    Ok((kept, refs))
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a form's values, for search: each value as text, in field order.
pub fn values_text(values: &BTreeMap<String, Value>) -> Vec<String> {
    values
        .values()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

string_enum!(
    /// What a form is attached to.
    FormTargetKind {
        Product => "product",
        Table => "table",
        Share => "share",
    }
);

/// A form filled for a product, a table or a share request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataForm {
    pub target_kind: FormTargetKind,
    /// The product, table or share.
    pub target_id: Uuid,
    /// The product the target belongs to (`None` for shares).
    pub product_id: Option<Uuid>,
    pub form_type_id: Uuid,
    /// The form type revision the values were checked against.
    pub revision: i64,
    pub values: BTreeMap<String, Value>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

// ----- enforcement rules and the domain hierarchy -----

string_enum!(
    /// What an enforcement rule guards.
    RuleAction {
        PublishProduct => "publish_product",
        RequestAccess => "request_access",
    }
);

/// An enforcement rule: doing `action` on a product of `domain_id` (and, with
/// `include_children`, of its descendant domains) requires forms of these types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub action: RuleAction,
    pub form_type_ids: Vec<Uuid>,
    pub include_children: bool,
    pub description: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// `domain` and its ancestors, nearest first. Stops at a cycle or a missing parent (neither
/// can be stored; this stays total anyway).
pub fn ancestors(parents: &HashMap<Uuid, Option<Uuid>>, domain: Uuid) -> Vec<Uuid> {
    let mut out = vec![domain];
    let mut at = domain;
    while let Some(Some(parent)) = parents.get(&at) {
        if out.contains(parent) {
            break;
        }
        out.push(*parent);
        at = *parent;
    }
    out
}

/// If making `parent` the parent of `domain` would close a cycle, the cycle as a path from
/// `domain` back to itself.
pub fn parent_cycle(
    parents: &HashMap<Uuid, Option<Uuid>>,
    domain: Uuid,
    parent: Uuid,
) -> Option<Vec<Uuid>> {
    let chain = ancestors(parents, parent);
    chain.iter().position(|d| *d == domain).map(|i| {
        let mut path = vec![domain];
        path.extend(chain[..=i].iter().copied());
        path
    })
}

/// The rules that apply to `action` on a product of `domain`: the domain's own, and its
/// ancestors' that include their children. Each with the domain it is defined on.
pub fn applicable_rules<'a>(
    rules: &'a [Rule],
    parents: &HashMap<Uuid, Option<Uuid>>,
    domain: Uuid,
    action: RuleAction,
) -> Vec<&'a Rule> {
    let chain = ancestors(parents, domain);
    rules
        .iter()
        .filter(|r| r.action == action)
        .filter(|r| r.domain_id == domain || (r.include_children && chain.contains(&r.domain_id)))
        .collect()
}

/// The form types the applicable rules require that `present` lacks, in rule order, each
/// once, with the rules requiring it.
pub fn missing_forms<'a>(rules: &[&'a Rule], present: &[Uuid]) -> Vec<(Uuid, Vec<&'a Rule>)> {
    let mut out: Vec<(Uuid, Vec<&'a Rule>)> = Vec::new();
    for rule in rules {
        for ft in &rule.form_type_ids {
            if present.contains(ft) {
                continue;
            }
            match out.iter_mut().find(|(id, _)| id == ft) {
                Some((_, by)) => by.push(rule),
                None => out.push((*ft, vec![rule])),
            }
        }
    }
    out
}

// ----- business glossary -----

/// A glossary: a named set of business terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Glossary {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Terms of a disabled glossary cannot be newly attached.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A business term of a glossary; its name is unique within the glossary and written
/// `glossary.term` elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GlossaryTerm {
    pub id: Uuid,
    pub glossary_id: Uuid,
    pub name: String,
    pub description: String,
    /// A disabled term cannot be newly attached; where it is attached it stays.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

string_enum!(
    /// How one term relates to another: `is_a` (a narrower term of a broader one, acyclic)
    /// or `classifies` (the term classifies the other, e.g. `pii` classifies `email`).
    RelationKind {
        IsA => "is_a",
        Classifies => "classifies",
    }
);

/// `term` `kind` `target`, e.g. `customer_email is_a contact_detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TermRelation {
    pub term_id: Uuid,
    pub kind: RelationKind,
    pub target_id: Uuid,
}

/// If adding `term is_a target` to `relations` would make an `is_a` cycle, the cycle as a
/// path of term ids from `term` back to `term`.
pub fn is_a_cycle(relations: &[TermRelation], term: Uuid, target: Uuid) -> Option<Vec<Uuid>> {
    if term == target {
        return Some(vec![term, term]);
    }
    let mut broader: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in relations.iter().filter(|r| r.kind == RelationKind::IsA) {
        broader.entry(r.term_id).or_default().push(r.target_id);
    }
    // Depth-first from `target` along `is_a`; reaching `term` closes the cycle.
    let mut stack: Vec<(Uuid, Vec<Uuid>)> = vec![(target, vec![term, target])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        if !seen.insert(at) {
            continue;
        }
        for next in broader.get(&at).into_iter().flatten() {
            let mut p = path.clone();
            p.push(*next);
            if *next == term {
                return Some(p);
            }
            stack.push((*next, p));
        }
    }
    None
}

/// Every term narrower than `term` (`x is_a … is_a term`), transitively.
pub fn narrower_closure(relations: &[TermRelation], term: Uuid) -> Vec<Uuid> {
    let mut narrower: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in relations.iter().filter(|r| r.kind == RelationKind::IsA) {
        narrower.entry(r.target_id).or_default().push(r.term_id);
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::from([term]);
    let mut stack = vec![term];
    while let Some(at) = stack.pop() {
        for n in narrower.get(&at).into_iter().flatten() {
            if seen.insert(*n) {
                out.push(*n);
                stack.push(*n);
            }
        }
    }
    out
}

/// A term attached to a product (`table_id` and `column` absent) or to a column of one of
/// its tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TermLink {
    pub term_id: Uuid,
    pub product_id: Uuid,
    pub table_id: Option<Uuid>,
    pub column: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn narrower_terms_are_found_transitively() {
        let (a, b, c, d) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let rel = |t, k, x| TermRelation {
            term_id: t,
            kind: k,
            target_id: x,
        };
        let relations = [
            rel(b, RelationKind::IsA, a),
            rel(c, RelationKind::IsA, b),
            rel(d, RelationKind::Classifies, a),
        ];
        let mut got = narrower_closure(&relations, a);
        got.sort();
        assert_eq!(got, vec![b, c]);
        assert!(narrower_closure(&relations, c).is_empty());
    }

    fn field(name: &str, kind: FieldKind, required: bool) -> FormField {
        FormField {
            name: name.into(),
            kind,
            required,
            description: String::new(),
            values: if kind == FieldKind::Enum {
                vec!["gold".into(), "silver".into()]
            } else {
                Vec::new()
            },
            glossary: None,
        }
    }

    fn all_kinds() -> Vec<FormField> {
        vec![
            field("title", FieldKind::String, true),
            field("rows", FieldKind::Number, false),
            field("certified", FieldKind::Boolean, false),
            field("reviewed", FieldKind::Date, false),
            field("tier", FieldKind::Enum, false),
            field("term", FieldKind::GlossaryTerm, false),
            field("steward", FieldKind::Principal, false),
        ]
    }

    fn values(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn listing_moves_draft_to_published_and_back_and_forth() {
        use ListingAction::*;
        use ListingState::*;
        assert_eq!(listing_step("p", Draft, Publish).unwrap(), Some(Published));
        assert_eq!(
            listing_step("p", Published, Unpublish).unwrap(),
            Some(Unpublished)
        );
        assert_eq!(
            listing_step("p", Unpublished, Publish).unwrap(),
            Some(Published)
        );
        assert_eq!(listing_step("p", Published, Publish).unwrap(), None);
        assert_eq!(listing_step("p", Unpublished, Unpublish).unwrap(), None);
        let err = listing_step("s.p", Draft, Unpublish).unwrap_err();
        assert!(err.to_string().contains("`s.p`"), "{err}");
    }

    #[test]
    fn classification_is_the_most_sensitive_tag() {
        let tags: Vec<String> = ["pii", "internal", "confidential"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            Classification::of_tags(&tags),
            Some(Classification::Confidential)
        );
        assert_eq!(Classification::of_tags(&["pii".to_string()]), None);
        assert_eq!(
            Classification::set_in(&tags, Some(Classification::Public)),
            vec!["pii".to_string(), "public".to_string()]
        );
        assert_eq!(Classification::set_in(&tags, None), vec!["pii".to_string()]);
    }

    #[test]
    fn field_lists_are_checked() {
        assert!(validate_fields(&all_kinds()).is_ok());
        assert!(validate_fields(&[]).is_err());
        let twice = vec![
            field("a", FieldKind::String, false),
            field("a", FieldKind::Number, false),
        ];
        assert!(
            validate_fields(&twice)
                .unwrap_err()
                .to_string()
                .contains("`a`")
        );
        let mut no_values = field("tier", FieldKind::Enum, false);
        no_values.values.clear();
        let err = validate_fields(&[no_values]).unwrap_err().to_string();
        assert!(err.contains("values"), "{err}");
        let mut stray = field("n", FieldKind::Number, false);
        stray.values = vec!["x".into()];
        assert!(validate_fields(&[stray]).is_err());
        let mut glossary = field("n", FieldKind::String, false);
        glossary.glossary = Some("g".into());
        assert!(validate_fields(&[glossary]).is_err());
        assert!(validate_fields(&[field("Bad Name", FieldKind::String, false)]).is_err());
    }

    #[test]
    fn values_of_every_kind_are_accepted() {
        let (kept, refs) = check_values(
            "f",
            &all_kinds(),
            &values(json!({
                "title": "Orders", "rows": 12.5, "certified": true, "reviewed": "2024-02-29",
                "tier": "gold", "term": "finance.revenue", "steward": "alice", "reviewed_by": null
            }))
            .into_iter()
            .filter(|(k, _)| k != "reviewed_by")
            .collect(),
        )
        .unwrap();
        assert_eq!(kept.len(), 7);
        assert_eq!(refs.len(), 2);
        assert!(
            matches!(&refs[0], Reference::Term { glossary, term, .. } if glossary == "finance" && term == "revenue")
        );
    }

    #[test]
    fn wrong_values_name_the_field_and_the_problem() {
        let fields = all_kinds();
        for (bad, needle) in [
            (json!({"title": 3}), "field `title`: expected a string"),
            (
                json!({"title": "t", "rows": "many"}),
                "field `rows`: expected a number",
            ),
            (
                json!({"title": "t", "certified": "yes"}),
                "field `certified`",
            ),
            (
                json!({"title": "t", "reviewed": "2024-02-30"}),
                "field `reviewed`",
            ),
            (
                json!({"title": "t", "tier": "bronze"}),
                "one of `gold`, `silver`",
            ),
            (json!({"title": "t", "term": "revenue"}), "field `term`"),
            (json!({"title": "t", "steward": 7}), "field `steward`"),
            (json!({"rows": 1}), "missing required field(s): `title`"),
            (json!({"title": null}), "missing required field(s): `title`"),
            (json!({"title": "t", "colour": "red"}), "no field `colour`"),
        ] {
            let err = check_values("f", &fields, &values(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn is_a_cycles_are_found_with_their_path() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let rel = |t, k, x| TermRelation {
            term_id: t,
            kind: k,
            target_id: x,
        };
        let rels = vec![
            rel(a, RelationKind::IsA, b),
            rel(b, RelationKind::IsA, c),
            rel(c, RelationKind::Classifies, a),
        ];
        assert_eq!(is_a_cycle(&rels, c, a), Some(vec![c, a, b, c]));
        assert_eq!(is_a_cycle(&rels, a, c), None);
        assert_eq!(is_a_cycle(&rels, a, a), Some(vec![a, a]));
        // `classifies` does not count towards `is_a` cycles.
        assert_eq!(is_a_cycle(&rels[..1], b, c), None);
    }

    #[test]
    fn domain_hierarchy_rules_and_cycles() {
        let (root, mid, leaf, other) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let parents: HashMap<Uuid, Option<Uuid>> = [
            (root, None),
            (mid, Some(root)),
            (leaf, Some(mid)),
            (other, None),
        ]
        .into_iter()
        .collect();
        assert_eq!(ancestors(&parents, leaf), vec![leaf, mid, root]);
        assert_eq!(
            parent_cycle(&parents, root, leaf),
            Some(vec![root, leaf, mid, root])
        );
        assert_eq!(parent_cycle(&parents, root, root), Some(vec![root, root]));
        assert_eq!(parent_cycle(&parents, other, leaf), None);
        let rule = |domain, children, forms: &[u128]| Rule {
            id: Uuid::now_v7(),
            domain_id: domain,
            action: RuleAction::PublishProduct,
            form_type_ids: forms.iter().map(|f| Uuid::from_u128(*f)).collect(),
            include_children: children,
            description: String::new(),
            created_by: Uuid::nil(),
            created_at: Utc::now(),
        };
        let rules = vec![
            rule(root, true, &[10, 11]),
            rule(mid, false, &[12]),
            rule(leaf, false, &[10]),
            rule(other, true, &[13]),
        ];
        let at_leaf = applicable_rules(&rules, &parents, leaf, RuleAction::PublishProduct);
        assert_eq!(at_leaf.len(), 2, "root (with children) and leaf, not mid");
        assert!(applicable_rules(&rules, &parents, leaf, RuleAction::RequestAccess).is_empty());
        let missing = missing_forms(&at_leaf, &[Uuid::from_u128(11)]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, Uuid::from_u128(10));
        assert_eq!(missing[0].1.len(), 2, "required by two rules");
    }
}
