//! Whole-column tests: each kind found, decoys not found, and evidence never holding a value.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn run(name: &str, data_type: &str, values: &[String]) -> Vec<Detection> {
    let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    classify(&Column {
        name,
        data_type,
        values: &values,
    })
}

fn top(name: &str, values: &[String]) -> Option<Kind> {
    run(name, "Utf8", values).first().map(|d| d.kind)
}

/// A number of `len` digits starting with `prefix`, with a Luhn check digit.
fn with_luhn(prefix: &str, len: usize, rng: &mut ChaCha8Rng) -> String {
    let mut s: String = prefix.to_string();
    while s.len() < len - 1 {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    (0..10u8)
        .map(|d| format!("{s}{d}"))
        .find(|c| finance::luhn(c.as_bytes()))
        .unwrap()
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(17)
}

#[test]
fn kinds_are_found_by_values_alone() {
    let mut r = rng();
    let cards: Vec<String> = (0..200)
        .map(|i| {
            let p = ["4", "51", "37", "6011"][i % 4];
            let len = if p == "37" { 15 } else { 16 };
            with_luhn(p, len, &mut r)
        })
        .collect();
    let emails: Vec<String> = (0..200).map(|i| format!("user{i}@example.org")).collect();
    let ssns: Vec<String> = (0..200)
        .map(|i| format!("{:03}-{:02}-{:04}", 100 + i, 10 + i % 80, 1000 + i))
        .collect();
    let ibans = vec![
        "DE89370400440532013000".to_string(),
        "GB82WEST12345698765432".into(),
    ]
    .into_iter()
    .cycle()
    .take(50)
    .collect::<Vec<_>>();
    let ips: Vec<String> = (0..100).map(|i| format!("10.0.{i}.7")).collect();
    let ip6: Vec<String> = (0..100).map(|i| format!("2001:db8::{i:x}")).collect();
    let phones: Vec<String> = (0..100)
        .map(|i| format!("+44 20 7946 {:04}", i * 37))
        .collect();
    for (values, kind) in [
        (&cards, Kind::PaymentCard),
        (&emails, Kind::Email),
        (&ssns, Kind::UsSsn),
        (&ibans, Kind::Iban),
        (&ips, Kind::Ipv4),
        (&ip6, Kind::Ipv6),
        (&phones, Kind::Phone),
    ] {
        let found = run("col1", "Utf8", values);
        assert_eq!(found.first().map(|d| d.kind), Some(kind), "{found:?}");
        assert!(found[0].is_confident() || kind == Kind::Phone, "{found:?}");
    }
}

#[test]
fn luhn_passing_order_numbers_are_not_cards() {
    let mut r = rng();
    // Visa-like 16-digit numbers with a check digit: vetoed by the name.
    let visa_like: Vec<String> = (0..500).map(|_| with_luhn("4", 16, &mut r)).collect();
    assert_eq!(top("order_number", &visa_like), None);
    assert_eq!(top("invoice_id", &visa_like), None);
    // Sequential order numbers with a check digit under a neutral name: numbered, not issued.
    let sequential: Vec<String> = (0..500)
        .map(|i| {
            let body = format!("{}", 453_201_000_000_000u64 + i * 7);
            let c = (0..10).find(|d| finance::luhn(format!("{body}{d}").as_bytes()));
            format!("{body}{}", c.unwrap())
        })
        .collect();
    assert!(sequential.iter().all(|s| finance::card(s).is_some()));
    assert_eq!(top("col3", &sequential), None);
    // Under a card-like name, the same values are cards.
    assert_eq!(top("card_number", &visa_like), Some(Kind::PaymentCard));
}

#[test]
fn free_text_with_an_occasional_email_is_not_email() {
    let values: Vec<String> = (0..1000)
        .map(|i| {
            if i % 50 == 0 {
                format!("someone{i}@example.com")
            } else {
                format!("Delivered on time, thanks ({i})")
            }
        })
        .collect();
    assert!(run("comments", "Utf8", &values).is_empty());
    assert!(run("email", "Utf8", &values).is_empty());
}

#[test]
fn dates_of_birth_and_dates_that_are_not() {
    let mut r = rng();
    let births: Vec<String> = (0..800)
        .map(|_| {
            format!(
                "{}-{:02}-{:02}",
                r.gen_range(1940..2006),
                r.gen_range(1..13),
                r.gen_range(1..29)
            )
        })
        .collect();
    let found = run("date_of_birth", "Date32", &births);
    assert_eq!(found[0].kind, Kind::DateOfBirth);
    assert!(found[0].is_confident());
    let found = run("col5", "Date32", &births);
    assert_eq!(found[0].kind, Kind::DateOfBirth);
    assert!(
        !found[0].is_confident(),
        "distribution alone is never applied"
    );
    // Order dates: recent and close together.
    let orders: Vec<String> = (0..800)
        .map(|_| {
            format!(
                "{}-{:02}-{:02}",
                r.gen_range(2019..2025),
                r.gen_range(1..13),
                r.gen_range(1..29)
            )
        })
        .collect();
    assert!(run("order_date", "Date32", &orders).is_empty());
    assert!(run("col6", "Date32", &orders).is_empty());
    // The birth-like spread under an order-date name is vetoed.
    assert!(run("order_date", "Date32", &births).is_empty());
    // Event timestamps.
    let events: Vec<String> = orders
        .iter()
        .map(|d| format!("{d}T10:{:02}:00Z", d.len()))
        .collect();
    assert!(run("col8", "Timestamp(Microsecond, None)", &events).is_empty());
}

#[test]
fn names_products_and_cities() {
    let people = [
        "Anna Müller",
        "James Smith",
        "Wei Zhang",
        "Fatima Al-Sayed",
        "Olga Ivanova",
        "Carlos García",
        "Priya Sharma",
        "Kwame Mensah",
        "Yuki Tanaka",
        "Emma Johnson",
    ];
    let products = [
        "Ultra Widget",
        "Garden Hose",
        "Trail Runner",
        "Coffee Grinder",
        "Desk Lamp",
        "Wireless Mouse",
        "Yoga Mat",
        "Water Bottle",
        "Phone Case",
        "Travel Mug",
    ];
    let cities = [
        "Paris",
        "New York",
        "São Paulo",
        "Berlin",
        "Lagos",
        "Mumbai",
        "Osaka",
        "Toronto",
        "Sydney",
        "Madrid",
    ];
    let rep =
        |xs: &[&str]| -> Vec<String> { (0..300).map(|i| xs[i % xs.len()].to_string()).collect() };
    assert_eq!(top("customer_name", &rep(&people)), Some(Kind::PersonName));
    assert_eq!(top("col2", &rep(&people)), Some(Kind::PersonName));
    assert_eq!(top("product_name", &rep(&products)), None);
    assert_eq!(top("name", &rep(&products)), None);
    assert_eq!(top("col9", &rep(&products)), None);
    assert_eq!(top("city", &rep(&cities)), None);
    assert_eq!(top("name", &rep(&cities)), None);
}

#[test]
fn a_few_values_leave_the_name_to_speak() {
    let found = run("email", "Utf8", &["a@b.co".to_string()]);
    assert_eq!(found[0].kind, Kind::Email);
    assert_eq!(found[0].confidence, SUGGEST);
    assert!(run("col1", "Utf8", &[]).is_empty());
    assert!(run("email", "Boolean", &vec!["true".to_string(); 50]).is_empty());
}

#[test]
fn kinds_and_tags() {
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
        assert_eq!(k.tag(), format!("pii_{}", k.as_str()));
        assert_eq!(k.tags(), ["pii", k.tag(), "confidential"]);
    }
}

/// Values of every shape, including the fixed words of evidence themselves.
fn random_value(r: &mut ChaCha8Rng, shape: usize) -> String {
    match shape {
        0 => format!("{}{}@{}.com", word(r), r.gen_range(0..999), word(r)),
        1 => format!(
            "+1 {} 555 {:04}",
            r.gen_range(200..999),
            r.gen_range(0..9999)
        ),
        2 => with_luhn(["4", "51", "6011"][r.gen_range(0..3)], 16, r),
        3 => format!(
            "{:03}-{:02}-{:04}",
            r.gen_range(1..899),
            r.gen_range(1..99),
            r.gen_range(1..9999)
        ),
        4 => format!(
            "{}.{}.{}.{}",
            r.gen_range(1..255),
            r.gen_range(0..255),
            r.gen_range(0..255),
            r.gen_range(1..255)
        ),
        5 => format!(
            "{}-{:02}-{:02}",
            r.gen_range(1930..2010),
            r.gen_range(1..13),
            r.gen_range(1..29)
        ),
        6 => format!("{} {}", cap(&word(r)), cap(&word(r))),
        7 => format!("{} {} Street", r.gen_range(1..999), cap(&word(r))),
        // The evidence's own words and phrases, alone and combined.
        8 => VOCABULARY[r.gen_range(0..VOCABULARY.len())].to_string(),
        9 => (0..r.gen_range(2..5))
            .map(|_| VOCABULARY[r.gen_range(0..VOCABULARY.len())])
            .collect::<Vec<_>>()
            .join(" "),
        _ => format!("{}", r.gen_range(0..100_000_000u64)),
    }
}

fn word(r: &mut ChaCha8Rng) -> String {
    (0..r.gen_range(3..9))
        .map(|_| char::from(b'a' + r.gen_range(0..26u8)))
        .collect()
}

fn cap(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[test]
fn evidence_never_holds_a_sampled_value() {
    let mut r = rng();
    let names = [
        "email",
        "col7",
        "contact",
        "name",
        "phone",
        "card_number",
        "ssn",
        "client_ip",
        "dob",
        "address",
        "customer_name",
        "values",
        "non_empty",
        "column name",
        "x",
    ];
    let mut detections = 0;
    for round in 0..400 {
        let name = names[round % names.len()];
        let main = r.gen_range(0..11);
        let n = r.gen_range(0..300);
        let values: Vec<String> = (0..n)
            .map(|_| {
                let shape = if r.gen_bool(0.9) {
                    main
                } else {
                    r.gen_range(0..11)
                };
                random_value(&mut r, shape)
            })
            .collect();
        let data_type = if main == 5 { "Date32" } else { "Utf8" };
        for d in run(name, data_type, &values) {
            detections += 1;
            let stripped = d.evidence.replace(&format!("`{name}`"), " ");
            // Outside the column's name, evidence is fixed words, small numbers, punctuation.
            let words = stripped.split(|c: char| !c.is_alphanumeric());
            for w in words.filter(|w| !w.chars().all(|c| c.is_ascii_digit())) {
                assert!(
                    VOCABULARY.contains(&w.to_lowercase().as_str()),
                    "{w:?} in {:?}",
                    d.evidence
                );
            }
            for digits in stripped.split(|c: char| !c.is_ascii_digit()) {
                assert!(digits.len() <= 4, "{digits:?} in {:?}", d.evidence);
            }
            // No value appears unless it is made only of those fixed words (shapes 8 and 9).
            for v in &values {
                let v = v.trim();
                let fixed = v
                    .split(|c: char| !c.is_alphanumeric())
                    .all(|w| w.chars().all(|c| c.is_ascii_digit()) || VOCABULARY.contains(&w));
                if v.len() >= 3 && !fixed {
                    assert!(!stripped.contains(v), "{v:?} in {:?}", d.evidence);
                }
            }
        }
    }
    assert!(
        detections > 100,
        "the test must see detections: {detections}"
    );
}

/// Every fixed phrase in the source is made of [`VOCABULARY`] words, so the property test's
/// vocabulary check covers phrases it did not happen to trigger.
#[test]
fn every_evidence_phrase_uses_the_vocabulary() {
    let sources = [
        include_str!("lib.rs"),
        include_str!("dates.rs"),
        include_str!("finance.rs"),
        include_str!("formats.rs"),
        include_str!("people.rs"),
        include_str!("names.rs"),
    ];
    let mut phrases = 0;
    for src in sources {
        for part in src.split(".text(\"").skip(1) {
            let phrase = part.split('"').next().unwrap();
            phrases += 1;
            for w in phrase.split(|c: char| !c.is_alphanumeric()) {
                if !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()) {
                    assert!(
                        VOCABULARY.contains(&w.to_lowercase().as_str()),
                        "{w:?} in {phrase:?}"
                    );
                }
            }
        }
    }
    assert!(phrases > 20, "{phrases}");
    // Kind nouns go through `.text(kind.noun())`.
    for k in Kind::ALL {
        for w in k
            .noun()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            assert!(VOCABULARY.contains(&w.to_lowercase().as_str()), "{w:?}");
        }
    }
}

#[test]
fn catalog_type_names_read_as_arrow_type_names() {
    for (catalog, arrow) in [
        ("string", "Utf8"),
        ("bigint", "Int64"),
        ("int", "Int32"),
        ("double", "Float64"),
        ("decimal(10,2)", "Decimal128(10, 2)"),
        ("date", "Date32"),
        ("timestamp", "Timestamp(Microsecond, None)"),
        ("boolean", "Boolean"),
    ] {
        assert_eq!(TypeClass::of(catalog), TypeClass::of(arrow), "{catalog}");
    }
    let emails: Vec<String> = (0..20).map(|i| format!("user{i}@example.com")).collect();
    assert_eq!(run("contact", "string", &emails)[0].kind, Kind::Email);
}
