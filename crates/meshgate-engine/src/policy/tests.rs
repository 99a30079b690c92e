//! Unit tests of the row-filter and mask language: what it accepts, literal typing, rejections
//! with position and reason, identity substitution, and masks per column type.

use super::*;

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("day", DataType::Date32, true),
        Field::new("Owner", DataType::Utf8, true),
    ])
}

fn ok(text: &str) -> Expr {
    compile_filter(text, &schema(), &Identity::default()).unwrap()
}

fn err(text: &str) -> PolicyError {
    compile_filter(text, &schema(), &Identity::default()).unwrap_err()
}

#[test]
fn accepts_the_language() {
    for text in [
        "region = 'EU'",
        "region IN ('EU', 'US') AND amount > 10",
        "amount BETWEEN 1 AND 2.5",
        "region LIKE 'E%' OR region IS NULL",
        "NOT (id <> 3) AND id >= -4",
        "day >= '2024-01-01'",
        "lower(trim(region)) = 'eu'",
        "starts_with(region, 'E')",
        "coalesce(region, 'none') != 'x'",
        "owner = current_principal() OR principal_in_group('admins')",
        "\"Owner\" = 'a'",
        "id IS NOT NULL",
    ] {
        ok(text);
    }
}

#[test]
fn literals_take_the_column_type() {
    let e = ok("day >= '2024-01-01'");
    let text = format!("{e}");
    assert!(!text.contains("CAST"), "{text}");
}

#[test]
fn rejects_with_position_and_reason() {
    let e = err("region = 'EU' AND nope = 1");
    assert_eq!((e.line, e.column), (1, 19), "{e}");
    assert!(e.reason.contains("unknown column `nope`"), "{e}");

    let e = err("id / 0 = 1");
    assert!(e.reason.contains("operator `/` is not allowed"), "{e}");

    let e = err("id IN (SELECT 1)");
    assert!(e.to_string().contains("not allowed"), "{e}");

    let e = err("regexp_like(region, 'x')");
    assert!(
        e.reason.contains("function `regexp_like` is not allowed"),
        "{e}"
    );

    let e = err("id = 'abc'");
    assert!(
        e.reason.contains("'abc' is not a valid Int64") || e.reason.contains("abc"),
        "{e}"
    );

    let e = err("CAST(region AS INT) = 1");
    assert!(e.reason.contains("casts are not allowed"), "{e}");

    let e = err("t.region = 'x'");
    assert!(e.reason.contains("without a table name"), "{e}");

    let e = err("region = ");
    assert!(e.reason.starts_with("syntax error"), "{e}");
    assert_eq!((e.line, e.column), (1, 10), "{e}");

    let e = err("region");
    assert!(e.reason.contains("true or false"), "{e}");

    let e = err("region = 'a' extra");
    assert!(e.reason.contains("unexpected"), "{e}");

    let long = format!("region = '{}'", "x".repeat(3000));
    assert!(err(&long).reason.contains("at most 2048"));
}

#[test]
fn identity_is_substituted_as_literals() {
    let id = Identity {
        principal: "bob".into(),
        groups: vec!["eu".into()],
    };
    let e = compile_filter(
        "region = current_principal() AND principal_in_group('eu')",
        &schema(),
        &id,
    )
    .unwrap();
    let text = format!("{e}");
    assert!(text.contains("bob") && text.contains("true"), "{text}");
}

#[test]
fn masks_compile_for_their_types() {
    let s = schema();
    let id = Identity::default();
    let key = MaskKey::new(vec![7u8; 32]);
    let key = Some(&key);
    for mask in [
        "redact",
        "show_last_4",
        "show_first_4",
        "hash",
        "null",
        "custom:left({col}, 1)",
    ] {
        let mask: Mask = mask.parse().unwrap();
        let field = s.field_with_name("region").unwrap();
        assert!(compile_mask(&mask, field, &s, &id, key).unwrap().is_some());
    }
    let day = s.field_with_name("day").unwrap();
    assert!(
        compile_mask(&Mask::DateYearOnly, day, &s, &id, key)
            .unwrap()
            .is_some()
    );
    let region = s.field_with_name("region").unwrap();
    assert!(compile_mask(&Mask::DateYearOnly, region, &s, &id, key).is_err());
    assert!(
        compile_mask(&Mask::None, region, &s, &id, key)
            .unwrap()
            .is_none()
    );
    // No key, no hash: never an unkeyed one.
    assert!(compile_mask(&Mask::Hash, region, &s, &id, None).is_err());
    assert!(validate_mask(&Mask::Hash, region, &s).is_ok());
    let bad: Mask = "custom:regexp_replace({col}, 'a', 'b')".parse().unwrap();
    assert!(compile_mask(&bad, region, &s, &id, key).is_err());
}
