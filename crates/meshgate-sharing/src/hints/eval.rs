//! The conservative evaluation of a predicate against one file: every node evaluates to the
//! set of SQL truth values its rows may take, every leaf to the range of values (and nulls)
//! it may hold, read from the file's partition values or widened Delta statistics.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{CompareOp, FileValues, Leaf, Predicate, Scalar, ValueType};

impl Predicate {
    /// The set of truth values the predicate may take on the file's rows.
    pub(super) fn outcomes(&self, file: &FileValues<'_>) -> Outcomes {
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
pub(super) type Outcomes = u8;
pub(super) const TRUE: Outcomes = 1;
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
