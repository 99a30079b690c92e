//! The vocabulary of fine-grained access (docs/design/ACCESS.md): masks, grant scopes, data filters, row
//! rules and tag-driven masks. Pure data; the query engine compiles and enforces them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// The longest row-filter or mask expression accepted.
pub const MAX_EXPRESSION_LEN: usize = 2048;

/// How a column's values are hidden from a principal. At most one per column.
///
/// Written as a string: `redact`, `show_last_4`, `show_first_4`, `hash`, `null`,
/// `date_year_only`, `custom:<expression with {col}>`, or `none` (explicitly unmasked, which
/// overrides a tag-driven default mask).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mask {
    /// Letters become `x`/`X`, digits `0`; other characters stay.
    Redact,
    /// All but the last four characters become `x`.
    ShowLast4,
    /// All but the first four characters become `x`.
    ShowFirst4,
    /// SHA-256 of the value's text, lower-case hex.
    Hash,
    /// Always NULL.
    Null,
    /// Dates and timestamps truncated to the first day of their year.
    DateYearOnly,
    /// An expression of the vetted function list; `{col}` stands for the column.
    Custom(String),
    /// No mask (overrides a tag-driven default).
    None,
}

impl Mask {
    pub const NAMES: &'static [&'static str] = &[
        "redact",
        "show_last_4",
        "show_first_4",
        "hash",
        "null",
        "date_year_only",
        "custom:<expression>",
        "none",
    ];
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::Redact => f.write_str("redact"),
            Mask::ShowLast4 => f.write_str("show_last_4"),
            Mask::ShowFirst4 => f.write_str("show_first_4"),
            Mask::Hash => f.write_str("hash"),
            Mask::Null => f.write_str("null"),
            Mask::DateYearOnly => f.write_str("date_year_only"),
            Mask::Custom(expr) => write!(f, "custom:{expr}"),
            Mask::None => f.write_str("none"),
        }
    }
}

impl FromStr for Mask {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "redact" => Mask::Redact,
            "show_last_4" => Mask::ShowLast4,
            "show_first_4" => Mask::ShowFirst4,
            "hash" => Mask::Hash,
            "null" => Mask::Null,
            "date_year_only" => Mask::DateYearOnly,
            "none" => Mask::None,
            other => match other.strip_prefix("custom:") {
                Some(expr) if !expr.trim().is_empty() => {
                    if expr.len() > MAX_EXPRESSION_LEN {
                        return Err(Error::invalid(format!(
                            "a custom mask may be at most {MAX_EXPRESSION_LEN} characters"
                        )));
                    }
                    if !expr.contains("{col}") {
                        return Err(Error::invalid(
                            "a custom mask must use `{col}` for the masked column",
                        ));
                    }
                    Mask::Custom(expr.to_string())
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown mask `{other}`; expected one of: {}",
                        Mask::NAMES.join(", ")
                    )));
                }
            },
        })
    }
}

impl Serialize for Mask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A mask's schema is that of the string it is written as (see [`Mask`]).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Mask {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A column mask: `redact`, `show_last_4`, `show_first_4`, `hash`, `null`, \
                 `date_year_only`, `none` (explicitly unmasked), or `custom:<expression>` \
                 with `{col}` standing for the column (docs/design/ACCESS.md).",
            ))
            .pattern(Some(
                r"^(redact|show_last_4|show_first_4|hash|null|date_year_only|none|custom:[\s\S]*\{col\}[\s\S]*)$",
            ))
            .examples([serde_json::json!("redact")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Mask {}

/// What a table share item (and the grant that fulfils it) covers, beyond "the table".
///
/// - `data_filters`: named data filters of the table; each one is a separate grant of its
///   rows and columns (Lake Formation semantics). Empty = all rows, all columns.
/// - `columns`: columns the approver kept (dropped columns are absent); `None` = all.
/// - `masks`: per-column masks the approver set (override tag-driven defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_filters: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masks: BTreeMap<String, Mask>,
}

impl GrantScope {
    /// The whole table, unmasked (beyond tag defaults).
    pub fn is_whole_table(&self) -> bool {
        self.data_filters.is_empty() && self.columns.is_none() && self.masks.is_empty()
    }
}

/// A named row filter and column list on one table, created by its owners and attachable to
/// grants. Changing it changes every grant it is attached to, on the next query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataFilter {
    pub id: Uuid,
    pub product_id: Uuid,
    pub table_id: Uuid,
    pub name: String,
    pub description: String,
    /// The row filter (docs/design/ACCESS.md §Expression language); `None` = all rows.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub row_filter: Option<String>,
    /// The columns it admits; `None` = all.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub columns: Option<Vec<String>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One row-level security rule of a product, in the QuickSight format: a rule for a user
/// and/or a group, with allowed values per field (an empty list = every value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowRule {
    pub user_name: Option<String>,
    pub group_name: Option<String>,
    /// Field (column) → allowed values; an empty list admits every value.
    pub values: BTreeMap<String, Vec<String>>,
}

/// A default mask for columns that carry a tag, mesh-wide (`domain_id: None`) or for the
/// products of one domain. A grant's own mask for the column (including `none`) wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TagMask {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub domain_id: Option<Uuid>,
    pub tag: String,
    pub mask: Mask,
    pub created_at: DateTime<Utc>,
}

/// Tags on one column of a table (e.g. `pii`, `confidential`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnTags {
    pub table_id: Uuid,
    pub column: String,
    pub tags: Vec<String>,
}

/// What one grant admits of a table, with its data filter read: a row filter (expression
/// text; `None` = all rows), columns (`None` = all) and per-column masks. The engine compiles
/// and enforces it; [`crate::snapshot`] resolves it from grants and data filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantRule {
    pub columns: Option<Vec<String>>,
    pub row_filter: Option<String>,
    pub masks: BTreeMap<String, Mask>,
}

impl GrantRule {
    /// The whole table, unmasked.
    pub fn whole() -> Self {
        GrantRule::default()
    }

    /// Whether the rule admits `column`.
    pub fn covers(&self, column: &str) -> bool {
        self.columns
            .as_ref()
            .is_none_or(|cols| cols.iter().any(|c| c == column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip_as_text() {
        for text in [
            "redact",
            "show_last_4",
            "show_first_4",
            "hash",
            "null",
            "date_year_only",
            "none",
            "custom:lower({col})",
        ] {
            let mask: Mask = text.parse().unwrap();
            assert_eq!(mask.to_string(), text);
            let json = serde_json::to_string(&mask).unwrap();
            assert_eq!(serde_json::from_str::<Mask>(&json).unwrap(), mask);
        }
    }

    #[test]
    fn bad_masks_say_what_is_allowed() {
        let err = "blur".parse::<Mask>().unwrap_err().to_string();
        assert!(
            err.contains("unknown mask `blur`") && err.contains("show_last_4"),
            "{err}"
        );
        let err = "custom:lower(x)".parse::<Mask>().unwrap_err().to_string();
        assert!(err.contains("{col}"), "{err}");
        assert!("custom:".parse::<Mask>().is_err());
    }

    #[test]
    fn scopes_serialize_compactly() {
        let scope = GrantScope::default();
        assert!(scope.is_whole_table());
        assert_eq!(serde_json::to_string(&scope).unwrap(), "{}");
        let scope: GrantScope =
            serde_json::from_str(r#"{"columns":["a"],"masks":{"a":"hash"}}"#).unwrap();
        assert_eq!(scope.masks["a"], Mask::Hash);
        assert!(!scope.is_whole_table());
    }
}
