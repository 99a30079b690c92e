//! Unit tests of `jsonPredicateHints`: parsing, limits, and pruning on partition values
//! and statistics.

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
