//! `jsonPredicateHints`: the JSON predicate tree a client sends with `/query`, and a
//! conservative evaluation of it against one file's partition values and statistics.
//!
//! The tree (PROTOCOL.md, «JSON predicates for Filtering») is
//! `{"op":…, "children":[…], "name":…, "value":…, "valueType":…}` with the ops `and`, `or`
//! (two or more children), `not`, `isNull` (one), `equal`, `lessThan`, `lessThanOrEqual`,
//! `greaterThan`, `greaterThanOrEqual` (two leaves), and the leaves `column` (`name`,
//! `valueType`) and `literal` (`value`, `valueType`), with value types `bool`, `int`, `long`,
//! `string`, `date`, `float`, `double` and `timestamp`.
//!
//! Traps:
//! - Hints are **best effort** (docs/design/DELTA_SHARING.md §Query): when
//!   [`Predicate::parse`] fails, serve every file rather than fail the request. The client
//!   filters the rows itself in any case.
//! - Pruning must never drop a file holding a matching row, or the client silently reads
//!   fewer rows. So [`Predicate::may_match`] only ever answers `false` when it can prove that
//!   no row of the file satisfies the predicate: every node is evaluated to the *set* of SQL
//!   truth values (true, false, null) its rows may take, and anything unknown (a column that
//!   is neither a partition column nor in the statistics, no statistics, a value that does
//!   not parse as the `valueType`, two different value types compared) may take all three.
//!   `not` of an uncertain child therefore stays uncertain.
//! - SQL semantics: a comparison with a null is null (not true), so a file whose partition
//!   value is null cannot match `equal`, nor `not(equal)`.
//! - Delta writes an empty-string partition value for null; statistics for strings are
//!   truncated prefixes (a long `maxValues` string is not an upper bound), timestamps in
//!   statistics are truncated to milliseconds, timestamp partition values without an offset
//!   may be in the writer's session time zone, and the Spark client sends timestamp literals
//!   truncated to milliseconds; float statistics are printed from 32-bit values. The ranges
//!   are widened accordingly, which costs a little pruning and keeps it sound.
//!
//! The legacy `predicateHints` (SQL strings) are not evaluated at all: the protocol
//! deprecates them and lets a server skip them.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

use crate::params::lenient_timestamp;
use crate::{Error, Result};
use eval::TRUE;
use parse::node;

mod eval;
mod parse;
#[cfg(test)]
mod tests;

/// Deepest accepted predicate tree (the root is at depth 1).
pub const MAX_DEPTH: usize = 32;
/// Most nodes accepted in a predicate tree.
pub const MAX_NODES: usize = 1000;

/// The `valueType` of a column or literal: what the value is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `bool`: `true` or `false` (false < true).
    Bool,
    /// `int`: a 32-bit integer (compared as a 64-bit one, like `long`).
    Int,
    /// `long`: a 64-bit integer.
    Long,
    /// `string`: compared byte by byte (UTF-8).
    String,
    /// `date`: `YYYY-MM-DD`.
    Date,
    /// `float`: compared as a 64-bit float, like `double`.
    Float,
    /// `double`: a 64-bit float.
    Double,
    /// `timestamp`: an instant (ISO-8601, or `YYYY-MM-DD HH:MM:SS[.f]`).
    Timestamp,
}

impl ValueType {
    /// Reads a `valueType` (case-insensitive).
    pub fn parse(s: &str) -> Option<ValueType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "bool" | "boolean" => ValueType::Bool,
            "int" | "integer" => ValueType::Int,
            "long" => ValueType::Long,
            "string" => ValueType::String,
            "date" => ValueType::Date,
            "float" => ValueType::Float,
            "double" => ValueType::Double,
            "timestamp" => ValueType::Timestamp,
            _ => return None,
        })
    }

    /// The wire name (`bool`, `int`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::Int => "int",
            ValueType::Long => "long",
            ValueType::String => "string",
            ValueType::Date => "date",
            ValueType::Float => "float",
            ValueType::Double => "double",
            ValueType::Timestamp => "timestamp",
        }
    }

    /// Reads a value of this type from its text, as sent in a literal or a partition value.
    fn scalar(self, s: &str) -> Option<Scalar> {
        let t = s.trim();
        Some(match self {
            ValueType::Bool => {
                if t.eq_ignore_ascii_case("true") {
                    Scalar::Bool(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Scalar::Bool(false)
                } else {
                    return None;
                }
            }
            ValueType::Int => Scalar::Int(i64::from(t.parse::<i32>().ok()?)),
            ValueType::Long => Scalar::Int(t.parse().ok()?),
            ValueType::String => Scalar::String(s.to_owned()),
            ValueType::Date => Scalar::Date(NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?),
            ValueType::Float | ValueType::Double => Scalar::Float(t.parse().ok()?),
            ValueType::Timestamp => {
                let instant = lenient_timestamp(t)?;
                Scalar::Timestamp {
                    micros: instant.timestamp_micros(),
                    zoned: has_offset(t),
                }
            }
        })
    }
}

/// Whether a timestamp text names its offset (`Z`, `+02:00`, `-0500`): without one it may be
/// in any time zone.
fn has_offset(t: &str) -> bool {
    let Some(time) = t.get(10..) else {
        return false;
    };
    time.ends_with(['Z', 'z'])
        || time.rfind(['+', '-']).is_some_and(|i| {
            time[i + 1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':')
        })
}

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A `bool`.
    Bool(bool),
    /// An `int` or `long`.
    Int(i64),
    /// A `float` or `double`.
    Float(f64),
    /// A `string`.
    String(String),
    /// A `date`.
    Date(NaiveDate),
    /// A `timestamp`, in microseconds since the Unix epoch; `zoned` when its text named an
    /// offset (without one, it may be in any time zone).
    Timestamp {
        /// Microseconds since 1970-01-01T00:00:00Z (reading an offset-less text as UTC).
        micros: i64,
        /// The text named its offset.
        zoned: bool,
    },
}

impl Scalar {
    fn compare(&self, other: &Scalar) -> Option<Ordering> {
        match (self, other) {
            (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
            (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
            (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b),
            (Scalar::String(a), Scalar::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Scalar::Date(a), Scalar::Date(b)) => Some(a.cmp(b)),
            (Scalar::Timestamp { micros: a, .. }, Scalar::Timestamp { micros: b, .. }) => {
                Some(a.cmp(b))
            }
            _ => None,
        }
    }
}

/// A comparison op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `equal` (`=`).
    Equal,
    /// `lessThan` (`<`).
    LessThan,
    /// `lessThanOrEqual` (`<=`).
    LessThanOrEqual,
    /// `greaterThan` (`>`).
    GreaterThan,
    /// `greaterThanOrEqual` (`>=`).
    GreaterThanOrEqual,
}

/// A leaf of the tree: a column or a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// `{"op":"column","name":…,"valueType":…}`.
    Column {
        /// The column's name (a partition column, or a column with statistics; a dotted
        /// name reaches into nested statistics).
        name: String,
        /// What the column's values are compared as.
        value_type: ValueType,
    },
    /// `{"op":"literal","value":…,"valueType":…}`, its value already parsed.
    Literal {
        /// The value.
        value: Scalar,
        /// Its type.
        value_type: ValueType,
    },
}

/// A parsed `jsonPredicateHints` tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `and`: all children (two or more).
    And(Vec<Predicate>),
    /// `or`: any child (two or more).
    Or(Vec<Predicate>),
    /// `not`: the child's negation.
    Not(Box<Predicate>),
    /// `isNull`: the leaf is null.
    IsNull(Leaf),
    /// A comparison of two leaves.
    Compare {
        /// The comparison.
        op: CompareOp,
        /// The left child.
        left: Leaf,
        /// The right child.
        right: Leaf,
    },
}

/// What is known about one file's rows: its partition values (exact) and its parsed Delta
/// statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`; ranges).
#[derive(Debug, Clone, Copy)]
pub struct FileValues<'a> {
    /// The file's partition values (`None` or `""` = null).
    pub partition_values: &'a BTreeMap<String, Option<String>>,
    /// The file's statistics, parsed from the `stats` JSON string, if any.
    pub stats: Option<&'a Value>,
}

impl Predicate {
    /// Parses a `jsonPredicateHints` string. Rejects invalid JSON, unknown ops and value
    /// types, wrong numbers of children (`and`/`or` two or more, `not`/`isNull` one,
    /// comparisons two leaves), columns without a name, literals without a value or whose
    /// value does not parse as their `valueType`, and trees deeper than [`MAX_DEPTH`] or
    /// larger than [`MAX_NODES`].
    ///
    /// On an error the server should serve the files unfiltered (hints are best effort),
    /// not fail the request.
    pub fn parse(json: &str) -> Result<Predicate> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::predicate(format!("it is not valid JSON: {e}")))?;
        let mut nodes = 0;
        node(&value, 1, &mut nodes)
    }

    /// Whether some row of the file may satisfy the predicate. `false` only when that is
    /// impossible given the file's partition values and statistics.
    pub fn may_match(&self, file: &FileValues<'_>) -> bool {
        self.outcomes(file) & TRUE != 0
    }
}
