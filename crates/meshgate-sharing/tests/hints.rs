//! A property test of `jsonPredicateHints` pruning against a reference evaluator.
//!
//! Random small tables — files with a partition value `p` and rows of two data columns `a`
//! and `b`, any of them null — and random predicate trees over them. The **reference** is
//! plain SQL three-valued logic evaluated row by row (a comparison with a null is null; `and`,
//! `or`, `not` are Kleene's). The **system under test** sees only what the server sees: the
//! file's partition values and Delta statistics computed the way Delta writes them (min and
//! max over the non-null values, left out when all are null; null counts; the row count),
//! sometimes with parts of the statistics missing.
//!
//! The property: pruning never drops a matching file — `may_match` is true for every file
//! holding at least one row on which the predicate is true.
//!
//! The values are small integers, shown to the predicate as one of several value types
//! through an order-preserving encoding (ints, longs, doubles, fixed-width strings, dates,
//! timestamps), so the integer reference stays right for every type.

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use meshgate_sharing::hints::{FileValues, Predicate};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Long,
    Double,
    Str,
    Date,
    Timestamp,
}

impl Kind {
    fn value_type(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Long => "long",
            Kind::Double => "double",
            Kind::Str => "string",
            Kind::Date => "date",
            Kind::Timestamp => "timestamp",
        }
    }

    /// The text of `v` in a literal or a partition value (order-preserving).
    fn text(self, v: i64, partition: bool) -> String {
        match self {
            Kind::Int | Kind::Long => v.to_string(),
            Kind::Double => (v as f64 / 4.0).to_string(),
            Kind::Str => format!("v{:04}", v + 1000),
            Kind::Date => {
                let d = chrono::NaiveDate::from_ymd_opt(2021, 4, 28).unwrap()
                    + chrono::Duration::days(v);
                d.format("%Y-%m-%d").to_string()
            }
            Kind::Timestamp => {
                let t = chrono::DateTime::from_timestamp(1_619_568_000 + v * 3600, 0).unwrap();
                if partition {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                } else {
                    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                }
            }
        }
    }

    /// `v` as Delta writes it in statistics.
    fn stat(self, v: i64) -> Value {
        match self {
            Kind::Int | Kind::Long => json!(v),
            Kind::Double => json!(v as f64 / 4.0),
            _ => Value::String(self.text(v, false)),
        }
    }
}

const COLUMNS: [&str; 3] = ["p", "a", "b"];

#[derive(Clone, Debug)]
enum Operand {
    Column(usize),
    Literal(i64),
}

#[derive(Clone, Debug)]
enum P {
    Compare(&'static str, Operand, Operand),
    IsNull(usize),
    Not(Box<P>),
    And(Vec<P>),
    Or(Vec<P>),
}

impl P {
    fn to_json(&self, kind: Kind) -> Value {
        let leaf = |o: &Operand| match o {
            Operand::Column(c) => {
                json!({"op": "column", "name": COLUMNS[*c], "valueType": kind.value_type()})
            }
            Operand::Literal(v) => {
                json!({"op": "literal", "value": kind.text(*v, false), "valueType": kind.value_type()})
            }
        };
        match self {
            P::Compare(op, l, r) => json!({"op": op, "children": [leaf(l), leaf(r)]}),
            P::IsNull(c) => json!({"op": "isNull", "children": [leaf(&Operand::Column(*c))]}),
            P::Not(c) => json!({"op": "not", "children": [c.to_json(kind)]}),
            P::And(cs) => {
                json!({"op": "and", "children": cs.iter().map(|c| c.to_json(kind)).collect::<Vec<_>>()})
            }
            P::Or(cs) => {
                json!({"op": "or", "children": cs.iter().map(|c| c.to_json(kind)).collect::<Vec<_>>()})
            }
        }
    }

    /// SQL three-valued evaluation on one row (`None` = null).
    fn eval(&self, row: &[Option<i64>; 3]) -> Option<bool> {
        let value = |o: &Operand| match o {
            Operand::Column(c) => row[*c],
            Operand::Literal(v) => Some(*v),
        };
        match self {
            P::Compare(op, l, r) => {
                let (l, r) = (value(l)?, value(r)?);
                Some(match *op {
                    "equal" => l == r,
                    "lessThan" => l < r,
                    "lessThanOrEqual" => l <= r,
                    "greaterThan" => l > r,
                    "greaterThanOrEqual" => l >= r,
                    _ => unreachable!(),
                })
            }
            P::IsNull(c) => Some(row[*c].is_none()),
            P::Not(c) => c.eval(row).map(|b| !b),
            P::And(cs) => {
                let values: Vec<Option<bool>> = cs.iter().map(|c| c.eval(row)).collect();
                if values.contains(&Some(false)) {
                    Some(false)
                } else if values.contains(&None) {
                    None
                } else {
                    Some(true)
                }
            }
            P::Or(cs) => {
                let values: Vec<Option<bool>> = cs.iter().map(|c| c.eval(row)).collect();
                if values.contains(&Some(true)) {
                    Some(true)
                } else if values.contains(&None) {
                    None
                } else {
                    Some(false)
                }
            }
        }
    }
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => (0usize..3).prop_map(Operand::Column),
        2 => (-4i64..=4).prop_map(Operand::Literal),
    ]
}

fn predicate() -> impl Strategy<Value = P> {
    let compare = prop_oneof![
        Just("equal"),
        Just("lessThan"),
        Just("lessThanOrEqual"),
        Just("greaterThan"),
        Just("greaterThanOrEqual"),
    ];
    let leaf = prop_oneof![
        4 => (compare, operand(), operand()).prop_map(|(op, l, r)| P::Compare(op, l, r)),
        1 => (0usize..3).prop_map(P::IsNull),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|p| P::Not(Box::new(p))),
            proptest::collection::vec(inner.clone(), 2..=3).prop_map(P::And),
            proptest::collection::vec(inner, 2..=3).prop_map(P::Or),
        ]
    })
}

/// How much of its statistics a file has.
#[derive(Clone, Copy, Debug)]
enum StatsMode {
    Full,
    None,
    WithoutColumnB,
    WithoutNumRecords,
    WithoutNullCounts,
    WithPartitionColumn,
}

#[derive(Clone, Debug)]
struct File {
    p: Option<i64>,
    /// Write a null `p` as `""` (Delta's empty-string null) rather than JSON null.
    empty_string_null: bool,
    rows: Vec<[Option<i64>; 2]>,
    stats: StatsMode,
}

fn value() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![1 => Just(None), 4 => (-4i64..=4).prop_map(Some)]
}

fn file() -> impl Strategy<Value = File> {
    (
        value(),
        any::<bool>(),
        proptest::collection::vec([value(), value()], 0..=6),
        prop_oneof![
            4 => Just(StatsMode::Full),
            1 => Just(StatsMode::None),
            1 => Just(StatsMode::WithoutColumnB),
            1 => Just(StatsMode::WithoutNumRecords),
            1 => Just(StatsMode::WithoutNullCounts),
            1 => Just(StatsMode::WithPartitionColumn),
        ],
    )
        .prop_map(|(p, empty_string_null, rows, stats)| File {
            p,
            empty_string_null,
            rows,
            stats,
        })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Int),
        Just(Kind::Long),
        Just(Kind::Double),
        Just(Kind::Str),
        Just(Kind::Date),
        Just(Kind::Timestamp),
    ]
}

impl File {
    fn partition_values(&self, kind: Kind) -> BTreeMap<String, Option<String>> {
        let text = match self.p {
            Some(v) => Some(kind.text(v, true)),
            None if self.empty_string_null => Some(String::new()),
            None => None,
        };
        BTreeMap::from([("p".to_owned(), text)])
    }

    /// Statistics as Delta computes them, minus what the mode leaves out.
    fn stats(&self, kind: Kind) -> Option<Value> {
        let mut columns: Vec<(&str, Vec<Option<i64>>)> = vec![
            ("a", self.rows.iter().map(|r| r[0]).collect()),
            ("b", self.rows.iter().map(|r| r[1]).collect()),
        ];
        match self.stats {
            StatsMode::None => return None,
            StatsMode::WithoutColumnB => columns.truncate(1),
            StatsMode::WithPartitionColumn => {
                columns.push(("p", self.rows.iter().map(|_| self.p).collect()));
            }
            _ => {}
        }
        let (mut min, mut max, mut nulls) = (json!({}), json!({}), json!({}));
        for (name, values) in columns {
            let present: Vec<i64> = values.iter().flatten().copied().collect();
            if let (Some(lo), Some(hi)) = (present.iter().min(), present.iter().max()) {
                min[name] = kind.stat(*lo);
                max[name] = kind.stat(*hi);
            }
            nulls[name] = json!(values.len() - present.len());
        }
        let mut stats = json!({"numRecords": self.rows.len(), "minValues": min, "maxValues": max,
                               "nullCount": nulls});
        let obj = stats.as_object_mut().unwrap();
        match self.stats {
            StatsMode::WithoutNumRecords => {
                obj.remove("numRecords");
            }
            StatsMode::WithoutNullCounts => {
                obj.remove("nullCount");
            }
            _ => {}
        }
        Some(stats)
    }

    fn has_match(&self, p: &P) -> bool {
        self.rows
            .iter()
            .any(|r| p.eval(&[self.p, r[0], r[1]]) == Some(true))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Pruning never drops a file that holds a row the predicate is true on.
    #[test]
    fn pruning_never_drops_a_matching_file(
        kind in kind(),
        p in predicate(),
        files in proptest::collection::vec(file(), 1..=5),
    ) {
        let json = p.to_json(kind).to_string();
        let parsed = Predicate::parse(&json).unwrap();
        for file in &files {
            if !file.has_match(&p) {
                continue;
            }
            let partition_values = file.partition_values(kind);
            let stats = file.stats(kind);
            let values = FileValues { partition_values: &partition_values, stats: stats.as_ref() };
            prop_assert!(
                parsed.may_match(&values),
                "pruned a matching file\npredicate: {json}\nfile: {file:?}\nstats: {stats:?}"
            );
        }
    }

    /// Parsing arbitrary text never panics.
    #[test]
    fn parse_never_panics(s in "\\PC{0,200}") {
        let _ = Predicate::parse(&s);
    }
}

/// The test can fail: with full information on integers, pruning does happen.
#[test]
fn pruning_happens_with_full_statistics() {
    let file = File {
        p: Some(1),
        empty_string_null: false,
        rows: vec![[Some(1), Some(2)], [Some(3), None]],
        stats: StatsMode::Full,
    };
    let cases = [
        (
            P::Compare("equal", Operand::Column(0), Operand::Literal(2)),
            false,
        ),
        (
            P::Compare("equal", Operand::Column(0), Operand::Literal(1)),
            true,
        ),
        (
            P::Compare("greaterThan", Operand::Column(1), Operand::Literal(3)),
            false,
        ),
        (
            P::Compare("lessThan", Operand::Column(2), Operand::Literal(2)),
            false,
        ),
        (P::IsNull(1), false),
        (P::IsNull(2), true),
        (
            P::Not(Box::new(P::Compare(
                "equal",
                Operand::Column(0),
                Operand::Literal(1),
            ))),
            false,
        ),
    ];
    for (p, expected) in cases {
        let parsed = Predicate::parse(&p.to_json(Kind::Long).to_string()).unwrap();
        let pv = file.partition_values(Kind::Long);
        let stats = file.stats(Kind::Long);
        let got = parsed.may_match(&FileValues {
            partition_values: &pv,
            stats: stats.as_ref(),
        });
        assert_eq!(got, expected, "{p:?}");
        assert_eq!(file.has_match(&p), expected, "{p:?}");
    }
}
