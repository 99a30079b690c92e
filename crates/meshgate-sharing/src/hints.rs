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
//! - Hints are **best effort** (DELTA_SHARING.md: «on an invalid hint, skip filtering»): when
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
use serde_json::{Map, Value};

use crate::error::shown;
use crate::params::lenient_timestamp;
use crate::{Error, Result};

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

    /// The set of truth values the predicate may take on the file's rows.
    fn outcomes(&self, file: &FileValues<'_>) -> Outcomes {
        match self {
            Predicate::And(children) => fold(children, file, TRUE, and3),
            Predicate::Or(children) => fold(children, file, FALSE, or3),
            Predicate::Not(child) => {
                let o = child.outcomes(file);
                (o & NULL) | ((o & TRUE) << 1) | ((o & FALSE) >> 1)
            }
            Predicate::IsNull(leaf) => {
                let r = leaf.range(file);
                (if r.nulls { TRUE } else { 0 }) | (if r.values.is_some() { FALSE } else { 0 })
            }
            Predicate::Compare { op, left, right } => {
                compare(*op, &left.range(file), &right.range(file))
            }
        }
    }
}

// Sets of SQL truth values, as bits.
type Outcomes = u8;
const TRUE: Outcomes = 1;
const FALSE: Outcomes = 2;
const NULL: Outcomes = 4;
const ANY: Outcomes = TRUE | FALSE | NULL;

fn and3(a: Outcomes, b: Outcomes) -> Outcomes {
    if a == FALSE || b == FALSE {
        FALSE
    } else if a == NULL || b == NULL {
        NULL
    } else {
        TRUE
    }
}

fn or3(a: Outcomes, b: Outcomes) -> Outcomes {
    if a == TRUE || b == TRUE {
        TRUE
    } else if a == NULL || b == NULL {
        NULL
    } else {
        FALSE
    }
}

/// Combines the children's outcome sets pairwise: every combination of one value from each
/// is possible (an over-approximation, which is what soundness needs).
fn fold(
    children: &[Predicate],
    file: &FileValues<'_>,
    identity: Outcomes,
    op: fn(Outcomes, Outcomes) -> Outcomes,
) -> Outcomes {
    let mut acc = identity;
    for child in children {
        let o = child.outcomes(file);
        let mut next = 0;
        for a in [TRUE, FALSE, NULL].into_iter().filter(|a| acc & a != 0) {
            for b in [TRUE, FALSE, NULL].into_iter().filter(|b| o & b != 0) {
                next |= op(a, b);
            }
        }
        acc = next;
        if acc == 0 {
            break;
        }
    }
    acc
}

/// What a leaf may be on a file's rows: null (`nulls`), and non-null values within
/// `values` (a closed range; `None` bounds are unbounded; `values: None` = never non-null).
#[derive(Debug, Clone)]
struct Range {
    nulls: bool,
    values: Option<(Option<Scalar>, Option<Scalar>)>,
}

impl Range {
    fn unknown() -> Range {
        Range {
            nulls: true,
            values: Some((None, None)),
        }
    }

    fn null() -> Range {
        Range {
            nulls: true,
            values: None,
        }
    }

    fn point(v: Scalar) -> Range {
        let (lo, hi) = widen(v.clone(), v);
        Range {
            nulls: false,
            values: Some((lo, hi)),
        }
    }

    fn nonempty(&self) -> bool {
        self.nulls || self.values.is_some()
    }
}

/// Widens a range of floats (printed from 32-bit values) and timestamps (truncated to
/// milliseconds, or in an unknown time zone) so it contains every value it may stand for.
fn widen(lo: Scalar, hi: Scalar) -> (Option<Scalar>, Option<Scalar>) {
    fn float(v: f64, up: bool) -> Option<Scalar> {
        if !v.is_finite() {
            // ±inf bounds stay (they are exact); NaN is no bound at all.
            return (!v.is_nan()).then_some(Scalar::Float(v));
        }
        let slack = v.abs() * 1e-6 + 1e-30;
        Some(Scalar::Float(if up { v + slack } else { v - slack }))
    }
    fn timestamp(micros: i64, zoned: bool, up: bool) -> Scalar {
        // One millisecond for truncation; 14 hours (the widest UTC offset) when the text
        // named no offset.
        let slack = if zoned { 1_000 } else { 14 * 3_600_000_000 };
        Scalar::Timestamp {
            micros: if up {
                micros.saturating_add(slack)
            } else {
                micros.saturating_sub(slack)
            },
            zoned,
        }
    }
    let bound = |v: Scalar, up: bool| match v {
        Scalar::Float(f) => float(f, up),
        Scalar::Timestamp { micros, zoned } => Some(timestamp(micros, zoned, up)),
        other => Some(other),
    };
    (bound(lo, false), bound(hi, true))
}

impl Leaf {
    fn range(&self, file: &FileValues<'_>) -> Range {
        match self {
            Leaf::Literal { value, .. } => Range::point(value.clone()),
            Leaf::Column { name, value_type } => {
                if let Some(partition) = lookup(file.partition_values, name) {
                    return match partition.as_deref() {
                        None | Some("") => Range::null(),
                        Some(text) => value_type
                            .scalar(text)
                            .map_or_else(Range::unknown, Range::point),
                    };
                }
                file.stats
                    .and_then(|stats| stats_range(stats, name, *value_type))
                    .unwrap_or_else(Range::unknown)
            }
        }
    }
}

/// A key of `map`: exactly `name`, else the one key equal to it ignoring ASCII case.
fn lookup<'a, V>(map: &'a BTreeMap<String, V>, name: &str) -> Option<&'a V> {
    map.get(name).or_else(|| {
        let mut found = map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    })
}

/// Like [`lookup`] on a JSON object, and through nested objects for a dotted name.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let direct = obj.get(name).or_else(|| {
        let mut found = obj.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    });
    direct.or_else(|| {
        let (head, rest) = name.split_once('.')?;
        field(obj.get(head)?.as_object()?, rest)
    })
}

/// The range of a column from Delta statistics; `None` when they say nothing usable.
fn stats_range(stats: &Value, name: &str, value_type: ValueType) -> Option<Range> {
    let section = |key: &str| {
        stats
            .get(key)
            .and_then(Value::as_object)
            .and_then(|m| field(m, name))
            .filter(|v| !v.is_null())
    };
    let (min, max, null_count) = (
        section("minValues"),
        section("maxValues"),
        section("nullCount"),
    );
    if min.is_none() && max.is_none() && null_count.is_none() {
        return None;
    }
    let bound = |v: Option<&Value>| -> Option<Option<Scalar>> {
        match v {
            None => Some(None),
            Some(v) => stats_scalar(v, value_type).map(Some),
        }
    };
    // A bound that is there but unreadable (a struct, a wrong type) makes the column unknown.
    let lo = bound(min)?;
    let mut hi = bound(max)?;
    if let Some(Scalar::String(s)) = &hi
        && s.chars().count() >= 32
    {
        // Possibly a truncated prefix, which is below longer values.
        hi = None;
    }
    let null_count = null_count.and_then(Value::as_i64);
    let num_records = stats.get("numRecords").and_then(Value::as_i64);
    let all_null = lo.is_none()
        && hi.is_none()
        && matches!((null_count, num_records), (Some(n), Some(r)) if n >= r);
    let values = (!all_null).then(|| match (lo, hi) {
        (Some(lo), Some(hi)) => widen(lo, hi),
        (lo, hi) => (
            lo.and_then(|lo| widen(lo.clone(), lo).0),
            hi.and_then(|hi| widen(hi.clone(), hi).1),
        ),
    });
    Some(Range {
        nulls: null_count != Some(0),
        values,
    })
}

fn stats_scalar(v: &Value, value_type: ValueType) -> Option<Scalar> {
    match v {
        Value::String(s) => value_type.scalar(s),
        Value::Number(n) => match value_type {
            ValueType::Int | ValueType::Long => n.as_i64().map(Scalar::Int),
            ValueType::Float | ValueType::Double => n.as_f64().map(Scalar::Float),
            _ => None,
        },
        Value::Bool(b) if value_type == ValueType::Bool => Some(Scalar::Bool(*b)),
        _ => None,
    }
}

/// Whether some `a` in `a_range` and `b` in `b_range` have `a < b` (`strict`) or `a <= b`.
/// Incomparable bounds (NaN, different types) count as possible.
fn some_below(
    a: &(Option<Scalar>, Option<Scalar>),
    b: &(Option<Scalar>, Option<Scalar>),
    strict: bool,
) -> bool {
    match (&a.0, &b.1) {
        (Some(lo), Some(hi)) => match lo.compare(hi) {
            Some(Ordering::Less) => true,
            Some(Ordering::Equal) => !strict,
            Some(Ordering::Greater) => false,
            None => true,
        },
        _ => true,
    }
}

fn compare(op: CompareOp, a: &Range, b: &Range) -> Outcomes {
    let mut out = 0;
    if (a.nulls && b.nonempty()) || (b.nulls && a.nonempty()) {
        out |= NULL;
    }
    let (Some(av), Some(bv)) = (&a.values, &b.values) else {
        return out;
    };
    // Values of different types (or NaN) cannot be compared: anything is possible.
    let comparable = [&av.0, &av.1, &bv.0, &bv.1]
        .iter()
        .flat_map(|x| x.iter())
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0].compare(w[1]).is_some());
    if !comparable {
        return ANY;
    }
    let (t, f) = match op {
        CompareOp::Equal => {
            let overlap = some_below(av, bv, false) && some_below(bv, av, false);
            let all_same = matches!((&av.0, &av.1, &bv.0, &bv.1),
                (Some(a0), Some(a1), Some(b0), Some(b1))
                    if [a1, b0, b1].iter().all(|x| a0.compare(x) == Some(Ordering::Equal)));
            (overlap, !all_same)
        }
        CompareOp::LessThan => (some_below(av, bv, true), some_below(bv, av, false)),
        CompareOp::LessThanOrEqual => (some_below(av, bv, false), some_below(bv, av, true)),
        CompareOp::GreaterThan => (some_below(bv, av, true), some_below(av, bv, false)),
        CompareOp::GreaterThanOrEqual => (some_below(bv, av, false), some_below(av, bv, true)),
    };
    out | if t { TRUE } else { 0 } | if f { FALSE } else { 0 }
}

// ---- parsing ----

/// Counts a node at `depth`, failing past [`MAX_DEPTH`] or [`MAX_NODES`].
fn enter(depth: usize, nodes: &mut usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::predicate(format!(
            "the tree is deeper than {MAX_DEPTH} levels"
        )));
    }
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(Error::predicate(format!(
            "the tree has more than {MAX_NODES} nodes"
        )));
    }
    Ok(())
}

fn node(v: &Value, depth: usize, nodes: &mut usize) -> Result<Predicate> {
    enter(depth, nodes)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::predicate("every node must be a JSON object with an `op`"))?;
    let op = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::predicate("a node has no `op`"))?;
    let children = || -> Result<&Vec<Value>> {
        obj.get("children")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::predicate(format!("`{}` needs `children`", shown(op))))
    };
    let arity =
        |n: usize, wanted: &str| Error::predicate(format!("`{op}` needs {wanted}, got {n}"));
    let compare_op = match op {
        "and" | "or" => {
            let kids = children()?;
            if kids.len() < 2 {
                return Err(arity(kids.len(), "at least 2 children"));
            }
            let parsed = kids
                .iter()
                .map(|k| node(k, depth + 1, nodes))
                .collect::<Result<Vec<_>>>()?;
            return Ok(if op == "and" {
                Predicate::And(parsed)
            } else {
                Predicate::Or(parsed)
            });
        }
        "not" => {
            return match children()?.as_slice() {
                [child] => Ok(Predicate::Not(Box::new(node(child, depth + 1, nodes)?))),
                kids => Err(arity(kids.len(), "exactly 1 child")),
            };
        }
        "isNull" => {
            return match children()?.as_slice() {
                [child] => Ok(Predicate::IsNull(leaf(child, depth + 1, nodes)?)),
                kids => Err(arity(kids.len(), "exactly 1 child")),
            };
        }
        "equal" => CompareOp::Equal,
        "lessThan" => CompareOp::LessThan,
        "lessThanOrEqual" => CompareOp::LessThanOrEqual,
        "greaterThan" => CompareOp::GreaterThan,
        "greaterThanOrEqual" => CompareOp::GreaterThanOrEqual,
        "column" | "literal" => {
            return Err(Error::predicate(format!(
                "a `{op}` can only be a child of a comparison or `isNull`"
            )));
        }
        other => {
            return Err(Error::predicate(format!(
                "unknown op `{}`; use and, or, not, isNull, equal, lessThan, lessThanOrEqual, \
                 greaterThan, greaterThanOrEqual, column or literal",
                shown(other)
            )));
        }
    };
    match children()?.as_slice() {
        [l, r] => Ok(Predicate::Compare {
            op: compare_op,
            left: leaf(l, depth + 1, nodes)?,
            right: leaf(r, depth + 1, nodes)?,
        }),
        kids => Err(arity(kids.len(), "exactly 2 children")),
    }
}

fn leaf(v: &Value, depth: usize, nodes: &mut usize) -> Result<Leaf> {
    enter(depth, nodes)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::predicate("every node must be a JSON object with an `op`"))?;
    let op = obj.get("op").and_then(Value::as_str).unwrap_or("");
    let value_type = || -> Result<ValueType> {
        let text = obj
            .get("valueType")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::predicate(format!("a `{op}` has no `valueType`")))?;
        ValueType::parse(text).ok_or_else(|| {
            Error::predicate(format!(
                "unknown valueType `{}`; use bool, int, long, string, date, float, double or \
                 timestamp",
                shown(text)
            ))
        })
    };
    match op {
        "column" => {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| Error::predicate("a `column` has no `name`"))?;
            Ok(Leaf::Column {
                name: name.to_owned(),
                value_type: value_type()?,
            })
        }
        "literal" => {
            let text = match obj.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => return Err(Error::predicate("a `literal` has no `value`")),
            };
            let value_type = value_type()?;
            let value = value_type.scalar(&text).ok_or_else(|| {
                Error::predicate(format!(
                    "the literal `{}` is not a valid `{}`",
                    shown(&text),
                    value_type.as_str()
                ))
            })?;
            Ok(Leaf::Literal { value, value_type })
        }
        other => Err(Error::predicate(format!(
            "a comparison or `isNull` takes `column` or `literal` children, not `{}`",
            shown(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, t: &str) -> Value {
        json!({"op": "column", "name": name, "valueType": t})
    }

    fn lit(v: &str, t: &str) -> Value {
        json!({"op": "literal", "value": v, "valueType": t})
    }

    fn op(op: &str, children: Vec<Value>) -> Value {
        json!({"op": op, "children": children})
    }

    fn pred(v: &Value) -> Predicate {
        Predicate::parse(&v.to_string()).unwrap()
    }

    fn parts(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    fn on_partition(p: &Value, pairs: &[(&str, Option<&str>)]) -> bool {
        let pv = parts(pairs);
        pred(p).may_match(&FileValues {
            partition_values: &pv,
            stats: None,
        })
    }

    fn on_stats(p: &Value, stats: &Value) -> bool {
        let pv = BTreeMap::new();
        pred(p).may_match(&FileValues {
            partition_values: &pv,
            stats: Some(stats),
        })
    }

    #[test]
    fn parses_the_spec_examples() {
        let p = pred(&op(
            "and",
            vec![
                op(
                    "equal",
                    vec![col("hireDate", "date"), lit("2021-04-29", "date")],
                ),
                op("lessThan", vec![col("id", "int"), lit("25", "int")]),
            ],
        ));
        assert_eq!(
            p,
            Predicate::And(vec![
                Predicate::Compare {
                    op: CompareOp::Equal,
                    left: Leaf::Column {
                        name: "hireDate".into(),
                        value_type: ValueType::Date
                    },
                    right: Leaf::Literal {
                        value: Scalar::Date(NaiveDate::from_ymd_opt(2021, 4, 29).unwrap()),
                        value_type: ValueType::Date
                    },
                },
                Predicate::Compare {
                    op: CompareOp::LessThan,
                    left: Leaf::Column {
                        name: "id".into(),
                        value_type: ValueType::Int
                    },
                    right: Leaf::Literal {
                        value: Scalar::Int(25),
                        value_type: ValueType::Int
                    },
                },
            ])
        );
        let p = pred(&op("not", vec![op("isNull", vec![col("id", "int")])]));
        assert!(matches!(p, Predicate::Not(_)));
    }

    #[test]
    fn rejects_invalid_trees() {
        let cases = [
            (json!("x"), "JSON object"),
            (json!({"children": []}), "no `op`"),
            (op("xor", vec![]), "unknown op `xor`"),
            (
                op("and", vec![op("isNull", vec![col("a", "int")])]),
                "at least 2",
            ),
            (op("or", vec![]), "at least 2"),
            (op("not", vec![]), "exactly 1"),
            (
                op("isNull", vec![col("a", "int"), col("b", "int")]),
                "exactly 1",
            ),
            (op("equal", vec![col("a", "int")]), "exactly 2"),
            (
                op(
                    "lessThan",
                    vec![col("a", "int"), lit("1", "int"), lit("2", "int")],
                ),
                "exactly 2",
            ),
            (json!({"op": "equal"}), "needs `children`"),
            (
                op(
                    "equal",
                    vec![json!({"op":"column","valueType":"int"}), lit("1", "int")],
                ),
                "no `name`",
            ),
            (
                op(
                    "equal",
                    vec![json!({"op":"column","name":"a"}), lit("1", "int")],
                ),
                "no `valueType`",
            ),
            (
                op(
                    "equal",
                    vec![col("a", "int"), json!({"op":"literal","valueType":"int"})],
                ),
                "no `value`",
            ),
            (
                op("equal", vec![col("a", "decimal"), lit("1", "int")]),
                "unknown valueType",
            ),
            (
                op("equal", vec![col("a", "int"), lit("x", "int")]),
                "not a valid `int`",
            ),
            (
                op("equal", vec![col("a", "int"), lit("3000000000", "int")]),
                "not a valid `int`",
            ),
            (
                op("equal", vec![col("a", "date"), lit("2021-02-30", "date")]),
                "not a valid `date`",
            ),
            (
                op("equal", vec![col("a", "bool"), lit("yes", "bool")]),
                "not a valid `bool`",
            ),
            (
                op(
                    "equal",
                    vec![col("a", "timestamp"), lit("noon", "timestamp")],
                ),
                "not a valid",
            ),
            (
                op(
                    "equal",
                    vec![op("isNull", vec![col("a", "int")]), lit("1", "int")],
                ),
                "takes `column` or `literal`",
            ),
            (col("a", "int"), "only be a child"),
        ];
        for (tree, needle) in cases {
            let e = Predicate::parse(&tree.to_string()).unwrap_err();
            assert!(
                e.to_string().contains(needle),
                "{tree}: expected `{needle}` in `{e}`"
            );
            assert!(e.to_string().starts_with("invalid jsonPredicateHints: "));
        }
        assert!(Predicate::parse("{").is_err());
    }

    #[test]
    fn rejects_deep_and_large_trees() {
        let mut deep = op("isNull", vec![col("a", "int")]);
        for _ in 0..MAX_DEPTH {
            deep = op("not", vec![deep]);
        }
        let e = Predicate::parse(&deep.to_string()).unwrap_err();
        assert!(e.to_string().contains("deeper"), "{e}");

        let leaf = op("isNull", vec![col("a", "int")]);
        let wide = op("or", vec![leaf; MAX_NODES / 2 + 1]);
        let e = Predicate::parse(&wide.to_string()).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");

        let mut ok = op("isNull", vec![col("a", "int")]);
        for _ in 0..MAX_DEPTH - 2 {
            ok = op("not", vec![ok]);
        }
        assert!(Predicate::parse(&ok.to_string()).is_ok());
    }

    #[test]
    fn literal_values_may_be_json_numbers_and_booleans() {
        let q = op(
            "equal",
            vec![
                col("a", "long"),
                json!({"op":"literal","value":7,"valueType":"long"}),
            ],
        );
        assert!(on_partition(&q, &[("a", Some("7"))]));
        assert!(!on_partition(&q, &[("a", Some("8"))]));
        let q = op(
            "equal",
            vec![
                col("a", "bool"),
                json!({"op":"literal","value":true,"valueType":"bool"}),
            ],
        );
        assert!(on_partition(&q, &[("a", Some("true"))]));
        assert!(!on_partition(&q, &[("a", Some("false"))]));
    }

    #[test]
    fn each_comparison_on_partition_values() {
        let on = |o: &str, part: &str, l: &str| {
            on_partition(
                &op(o, vec![col("p", "int"), lit(l, "int")]),
                &[("p", Some(part))],
            )
        };
        assert!(on("equal", "5", "5"));
        assert!(!on("equal", "5", "6"));
        assert!(on("lessThan", "4", "5"));
        assert!(!on("lessThan", "5", "5"));
        assert!(on("lessThanOrEqual", "5", "5"));
        assert!(!on("lessThanOrEqual", "6", "5"));
        assert!(on("greaterThan", "6", "5"));
        assert!(!on("greaterThan", "5", "5"));
        assert!(on("greaterThanOrEqual", "5", "5"));
        assert!(!on("greaterThanOrEqual", "4", "5"));
        // Literal on the left.
        assert!(!on_partition(
            &op("lessThan", vec![lit("5", "int"), col("p", "int")]),
            &[("p", Some("5"))]
        ));
        assert!(on_partition(
            &op("lessThan", vec![lit("4", "int"), col("p", "int")]),
            &[("p", Some("5"))]
        ));
    }

    #[test]
    fn value_types_on_partition_values() {
        let eq = |t: &str, part: &str, l: &str| {
            on_partition(
                &op("equal", vec![col("p", t), lit(l, t)]),
                &[("p", Some(part))],
            )
        };
        assert!(eq("string", "US", "US"));
        assert!(!eq("string", "US", "FR"));
        assert!(eq("date", "2021-04-29", "2021-04-29"));
        assert!(!eq("date", "2021-04-28", "2021-04-29"));
        assert!(eq("bool", "true", "True"));
        assert!(!eq("bool", "false", "true"));
        assert!(eq("long", "9000000000", "9000000000"));
        assert!(!eq("long", "9000000000", "9000000001"));
        assert!(eq("double", "1.5", "1.5"));
        assert!(!eq("double", "1.5", "2.5"));
        assert!(eq("float", "0.1", "0.1"));
        assert!(eq(
            "timestamp",
            "2021-04-29 00:00:00",
            "2021-04-29T00:00:00Z"
        ));
        assert!(eq(
            "timestamp",
            "2021-04-29T00:00:00.000Z",
            "2021-04-29T00:00:00Z"
        ));
        assert!(!eq(
            "timestamp",
            "2021-04-29T00:00:00Z",
            "2021-04-30T00:00:00Z"
        ));
        // An offset-less partition timestamp may be in any zone: within 14 hours it may match.
        assert!(eq(
            "timestamp",
            "2021-04-29 10:00:00",
            "2021-04-29T00:00:00Z"
        ));
        assert!(!eq(
            "timestamp",
            "2021-04-30 10:00:00",
            "2021-04-29T00:00:00Z"
        ));
        let lt = |t: &str, part: &str, l: &str| {
            on_partition(
                &op("lessThan", vec![col("p", t), lit(l, t)]),
                &[("p", Some(part))],
            )
        };
        assert!(lt("string", "Apple", "apple"));
        assert!(!lt("string", "b", "a"));
        assert!(lt("date", "2021-04-28", "2021-04-29"));
        assert!(!lt("date", "2021-04-29", "2021-04-29"));
        assert!(lt("bool", "false", "true"));
        assert!(!lt("bool", "true", "true"));
    }

    #[test]
    fn null_partitions_follow_sql() {
        let eq = op("equal", vec![col("p", "string"), lit("x", "string")]);
        let not_eq = op("not", vec![eq.clone()]);
        let is_null = op("isNull", vec![col("p", "string")]);
        let not_null = op("not", vec![is_null.clone()]);
        for null in [None, Some("")] {
            assert!(!on_partition(&eq, &[("p", null)]));
            assert!(!on_partition(&not_eq, &[("p", null)]));
            assert!(on_partition(&is_null, &[("p", null)]));
            assert!(!on_partition(&not_null, &[("p", null)]));
        }
        assert!(!on_partition(&is_null, &[("p", Some("x"))]));
        assert!(on_partition(&not_null, &[("p", Some("x"))]));
        assert!(!on_partition(&not_eq, &[("p", Some("x"))]));
        assert!(on_partition(&not_eq, &[("p", Some("y"))]));
        // `or` with a null side: true if the other side is.
        let or = op("or", vec![eq.clone(), is_null.clone()]);
        assert!(on_partition(&or, &[("p", None)]));
    }

    #[test]
    fn logic_ops_on_partition_values() {
        let a = op("equal", vec![col("a", "int"), lit("1", "int")]);
        let b = op("equal", vec![col("b", "int"), lit("2", "int")]);
        let file = [("a", Some("1")), ("b", Some("3"))];
        assert!(!on_partition(&op("and", vec![a.clone(), b.clone()]), &file));
        assert!(on_partition(&op("or", vec![a.clone(), b.clone()]), &file));
        assert!(on_partition(&op("not", vec![b.clone()]), &file));
        assert!(!on_partition(&op("not", vec![a.clone()]), &file));
        assert!(on_partition(
            &op(
                "and",
                vec![a.clone(), op("not", vec![b.clone()]), a.clone()]
            ),
            &file
        ));
    }

    #[test]
    fn unknown_things_may_match() {
        let pv: &[(&str, Option<&str>)] = &[("p", Some("abc"))];
        // A column that is not a partition column and no stats.
        let q = op("equal", vec![col("other", "int"), lit("1", "int")]);
        assert!(on_partition(&q, pv));
        assert!(on_partition(&op("not", vec![q.clone()]), pv));
        // A partition value that does not parse as the valueType.
        let q = op("equal", vec![col("p", "int"), lit("1", "int")]);
        assert!(on_partition(&q, pv));
        assert!(on_partition(&op("not", vec![q]), pv));
        // Two different value types.
        let q = op("equal", vec![col("p", "string"), lit("1", "int")]);
        assert!(on_partition(&q, pv));
        assert!(on_partition(&op("not", vec![q]), pv));
        // NaN.
        let q = op("lessThan", vec![col("f", "double"), lit("NaN", "double")]);
        assert!(on_partition(&q, &[("f", Some("1.0"))]));
        assert!(on_partition(&op("not", vec![q]), &[("f", Some("1.0"))]));
    }

    #[test]
    fn partition_names_match_exactly_then_ignoring_case() {
        let q = op("equal", vec![col("Region", "string"), lit("EU", "string")]);
        assert!(!on_partition(&q, &[("region", Some("US"))]));
        assert!(on_partition(&q, &[("region", Some("EU"))]));
        // Ambiguous ignoring case: unknown.
        assert!(on_partition(
            &q,
            &[("region", Some("US")), ("REGION", Some("US"))]
        ));
    }

    fn stats() -> Value {
        json!({
            "numRecords": 10,
            "minValues": {"id": 10, "name": "bob", "d": "2021-01-01", "x": 1.5,
                          "ts": "2021-04-28T23:33:48.719Z", "s": {"inner": 5},
                          "long": "abcdefghijklmnopqrstuvwxyz0123456789"},
            "maxValues": {"id": 20, "name": "mia", "d": "2021-01-31", "x": 2.5,
                          "ts": "2021-04-28T23:33:57.955Z", "s": {"inner": 9},
                          "long": "abcdefghijklmnopqrstuvwxyz0123456789"},
            "nullCount": {"id": 0, "name": 2, "d": 0, "x": 0, "ts": 0, "s": {"inner": 0},
                          "gone": 10, "long": 0}
        })
    }

    #[test]
    fn each_comparison_on_stats() {
        let s = stats();
        let on = |o: &str, l: &str| on_stats(&op(o, vec![col("id", "int"), lit(l, "int")]), &s);
        assert!(on("equal", "10") && on("equal", "15") && on("equal", "20"));
        assert!(!on("equal", "9") && !on("equal", "21"));
        assert!(on("lessThan", "11") && !on("lessThan", "10"));
        assert!(on("lessThanOrEqual", "10") && !on("lessThanOrEqual", "9"));
        assert!(on("greaterThan", "19") && !on("greaterThan", "20"));
        assert!(on("greaterThanOrEqual", "20") && !on("greaterThanOrEqual", "21"));
        // not(equal) on a range is only excluded when every value equals the literal.
        assert!(on_stats(
            &op(
                "not",
                vec![op("equal", vec![col("id", "int"), lit("15", "int")])]
            ),
            &s
        ));
        let point = json!({"numRecords": 3, "minValues": {"id": 7}, "maxValues": {"id": 7},
                           "nullCount": {"id": 0}});
        assert!(!on_stats(
            &op(
                "not",
                vec![op("equal", vec![col("id", "int"), lit("7", "int")])]
            ),
            &point
        ));
        assert!(on_stats(
            &op("equal", vec![col("id", "int"), lit("7", "int")]),
            &point
        ));
    }

    #[test]
    fn stats_by_value_type() {
        let s = stats();
        let eq = |c: &str, t: &str, l: &str| on_stats(&op("equal", vec![col(c, t), lit(l, t)]), &s);
        assert!(eq("name", "string", "jim") && !eq("name", "string", "zed"));
        assert!(eq("d", "date", "2021-01-15") && !eq("d", "date", "2021-02-01"));
        assert!(eq("x", "double", "2.0") && !eq("x", "double", "3.0"));
        assert!(eq("ts", "timestamp", "2021-04-28T23:33:50Z"));
        assert!(!eq("ts", "timestamp", "2021-04-28T23:34:00Z"));
        // Stats timestamps are truncated to milliseconds: a microsecond past max may match.
        assert!(eq("ts", "timestamp", "2021-04-28T23:33:57.955500Z"));
        // Nested statistics through a dotted name.
        assert!(eq("s.inner", "long", "6") && !eq("s.inner", "long", "10"));
        // A struct compared as a value: unknown.
        assert!(eq("s", "long", "100"));
        // A string max of 32+ characters may be a truncated prefix: no upper bound.
        assert!(eq(
            "long",
            "string",
            "abcdefghijklmnopqrstuvwxyz0123456789zzz"
        ));
        assert!(!eq("long", "string", "a"));
        // A stats value of the wrong type: unknown.
        assert!(eq("name", "int", "5"));
        // A column without stats.
        assert!(eq("missing", "int", "5"));
    }

    #[test]
    fn null_counts_in_stats() {
        let s = stats();
        let is_null = |c: &str| on_stats(&op("isNull", vec![col(c, "int")]), &s);
        let not_null = |c: &str| on_stats(&op("not", vec![op("isNull", vec![col(c, "int")])]), &s);
        assert!(!is_null("id")); // nullCount 0
        assert!(is_null("name") && not_null("name"));
        assert!(is_null("gone") && !not_null("gone")); // all 10 rows null
        assert!(!on_stats(
            &op("equal", vec![col("gone", "int"), lit("1", "int")]),
            &s
        ));
        assert!(is_null("missing") && not_null("missing"));
        // No numRecords: cannot tell that all rows are null.
        let s2 = json!({"nullCount": {"gone": 10}});
        assert!(on_stats(
            &op("equal", vec![col("gone", "int"), lit("1", "int")]),
            &s2
        ));
        // An empty file matches nothing.
        let empty = json!({"numRecords": 0, "nullCount": {"id": 0}});
        assert!(!on_stats(&op("isNull", vec![col("id", "int")]), &empty));
        assert!(!on_stats(
            &op("not", vec![op("isNull", vec![col("id", "int")])]),
            &empty
        ));
    }

    #[test]
    fn partition_values_win_over_stats() {
        let pv = parts(&[("p", Some("1"))]);
        let s = json!({"numRecords": 1, "minValues": {"p": 5}, "maxValues": {"p": 5}});
        let q = pred(&op("equal", vec![col("p", "int"), lit("1", "int")]));
        assert!(q.may_match(&FileValues {
            partition_values: &pv,
            stats: Some(&s)
        }));
    }

    #[test]
    fn float_stats_printed_from_f32_still_match() {
        // 0.1f32 is 0.100000001490116…; its statistic prints as 0.1.
        let s = json!({"numRecords": 1, "minValues": {"f": 0.1}, "maxValues": {"f": 0.1},
                       "nullCount": {"f": 0}});
        let actual = f64::from(0.1f32).to_string();
        assert!(on_stats(
            &op("equal", vec![col("f", "float"), lit(&actual, "double")]),
            &s
        ));
        assert!(on_stats(
            &op(
                "greaterThanOrEqual",
                vec![col("f", "float"), lit(&actual, "float")]
            ),
            &s
        ));
        assert!(!on_stats(
            &op("greaterThan", vec![col("f", "float"), lit("0.2", "float")]),
            &s
        ));
    }

    #[test]
    fn column_to_column_comparisons() {
        let pv = parts(&[("a", Some("1")), ("b", Some("2"))]);
        let f = FileValues {
            partition_values: &pv,
            stats: None,
        };
        assert!(pred(&op("lessThan", vec![col("a", "int"), col("b", "int")])).may_match(&f));
        assert!(!pred(&op("greaterThan", vec![col("a", "int"), col("b", "int")])).may_match(&f));
        assert!(!pred(&op("equal", vec![lit("1", "int"), lit("2", "int")])).may_match(&f));
        assert!(pred(&op("equal", vec![lit("2", "int"), lit("2", "int")])).may_match(&f));
    }
}
