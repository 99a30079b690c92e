//! B12 — automatic classification: precision and recall per kind on a generated, labelled
//! set of columns (the 10 detectable kinds and 16 decoy kinds labelled `none`), with column
//! names that are obvious, neutral or misleading. Run by `bench/b12_classification.sh`:
//!
//!   cargo run --release -p meshgate-classify --example b12 [-- SEED]
//!
//! The prediction for a column is its top detection (none when `classify` returns nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod data;
mod people;

use std::collections::BTreeMap;
use std::time::Instant;

use data::*;
use meshgate_classify::{CONFIDENT, Column, Kind, classify};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VALUES: usize = 1000;

struct Spec {
    label: &'static str,
    names: &'static [&'static str],
    data_type: &'static str,
    make: fn(&mut R, usize) -> String,
}

const fn spec(
    label: &'static str,
    names: &'static [&'static str],
    data_type: &'static str,
    make: fn(&mut R, usize) -> String,
) -> Spec {
    Spec {
        label,
        names,
        data_type,
        make,
    }
}

/// Every kind with its column names: the first ones obvious, then neutral, the last ones
/// misleading or merely compatible. `make(rng, column index)` lets a column keep one style.
fn specs() -> Vec<Spec> {
    vec![
        spec(
            "email",
            &[
                "email",
                "customer_email",
                "contactEmail",
                "col3",
                "contact",
                "login",
            ],
            "Utf8",
            |r, _| email(r),
        ),
        spec(
            "phone",
            &["phone", "mobile_number", "tel", "col12", "contact", "notes"],
            "Utf8",
            |r, c| {
                // One column of one country's format, one all-bare-digit column under `phone`.
                let pick = r.gen_range(0..3);
                match c {
                    0 => phone(r, 12),
                    1 => phone(r, 99),
                    2 => phone(r, 5 + pick),
                    3 => phone(r, pick),
                    4 => phone(r, 99),
                    _ => phone(r, 3 + pick % 2),
                }
            },
        ),
        spec(
            "payment_card",
            &[
                "card_number",
                "cc_num",
                "pan",
                "col21",
                "payment",
                "payment_info",
            ],
            "Utf8",
            |r, c| card(r, c % 2 == 1 || c == 4),
        ),
        spec(
            "iban",
            &[
                "iban",
                "payout_iban",
                "IBAN",
                "col4",
                "account",
                "bank_details",
            ],
            "Utf8",
            |r, c| iban(r, c % 2 == 0),
        ),
        spec(
            "us_ssn",
            &[
                "ssn",
                "social_security_number",
                "SSN",
                "col8",
                "tax_ref",
                "identifier",
            ],
            "Utf8",
            |r, c| ssn(r, c != 0),
        ),
        spec(
            "ipv4",
            &[
                "ip_address",
                "client_ip",
                "remote_addr",
                "col15",
                "source",
                "host",
            ],
            "Utf8",
            |r, _| ipv4(r),
        ),
        spec(
            "ipv6",
            &[
                "ipv6_address",
                "client_ip",
                "ip6",
                "col16",
                "peer",
                "origin",
            ],
            "Utf8",
            |r, _| ipv6(r),
        ),
        spec(
            "date_of_birth",
            &["date_of_birth", "dob", "birthDate", "col9", "d2", "date"],
            "Date32",
            |r, c| {
                let d = ymd(r, 0..1);
                let d = (birth_year(r), d.1, d.2);
                let style = [0, 0, 1, 0, 0, 3][c];
                date_text(r, d, style)
            },
        ),
        spec(
            "person_name",
            &[
                "full_name",
                "first_name",
                "last_name",
                "customer_name",
                "col5",
                "holder",
                "name",
                "col29",
            ],
            "Utf8",
            |r, c| {
                // The last: surnames alone under a neutral name.
                let style = [0, 3, 4, 1, 0, 2, 0, 4][c];
                let double = style == 0 && r.gen_bool(0.1);
                person(r, if double { 5 } else { style })
            },
        ),
        spec(
            "postal_address",
            &[
                "address",
                "shipping_address",
                "street",
                "col6",
                "location",
                "destination",
            ],
            "Utf8",
            |r, c| address(r, if c == 2 { 7 } else { 99 }),
        ),
        // Decoys.
        spec(
            "order_number",
            &["order_number", "col11", "number"],
            "Utf8",
            |r, c| match c {
                0 => luhn_complete(&format!("4{}", digits_of(r, 14))),
                1 => luhn_complete(&format!(
                    "5{}",
                    100_000_000_000_000u64 + r.gen_range(0..50_000u64)
                )),
                _ => luhn_complete(&format!(
                    "{}",
                    r.gen_range(1_000_000_000_000_000u64..9_000_000_000_000_000)
                )),
            },
        ),
        spec(
            "order_date",
            &["order_date", "col13", "date"],
            "Date32",
            |r, _| {
                let d = ymd(r, 2019..2026);
                date_text(r, d, 0)
            },
        ),
        spec(
            "event_time",
            &["event_time", "col14", "created"],
            "Timestamp(Microsecond, None)",
            |r, _| {
                let (y, m, d) = ymd(r, 2023..2026);
                format!(
                    "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                    r.gen_range(0..24),
                    r.gen_range(0..60),
                    r.gen_range(0..60)
                )
            },
        ),
        spec(
            "product_name",
            &["product_name", "col17", "name"],
            "Utf8",
            |r, _| {
                let a = [
                    "Ultra", "Classic", "Pro", "Eco", "Smart", "Deluxe", "Trail", "Urban",
                    "Nordic", "Summit",
                ];
                let b = [
                    "Runner",
                    "Kettle",
                    "Backpack",
                    "Desk Lamp",
                    "Headphones",
                    "Blender",
                    "Jacket",
                    "Tent",
                    "Watch",
                    "Mug",
                ];
                let mut s = format!("{} {}", a.choose(r).unwrap(), b.choose(r).unwrap());
                if r.gen_bool(0.3) {
                    s.push_str(&format!(
                        " {}",
                        ["Max", "Mini", "Plus", "XL", "2", "II"].choose(r).unwrap()
                    ));
                }
                s
            },
        ),
        spec("city", &["city", "col18", "name"], "Utf8", |r, _| {
            [
                "London",
                "Paris",
                "New York",
                "São Paulo",
                "Lagos",
                "Mumbai",
                "Tokyo",
                "Berlin",
                "Madrid",
                "Toronto",
                "Sydney",
                "Cairo",
                "Istanbul",
                "Mexico City",
                "Buenos Aires",
                "Nairobi",
                "Seoul",
                "Jakarta",
                "Lima",
                "Kraków",
                "Rotterdam",
                "Lyon",
                "Charlotte",
                "Victoria",
                "Florence",
                "Austin",
                "Jackson",
                "Santiago",
            ]
            .choose(r)
            .unwrap()
            .to_string()
        }),
        spec(
            "free_text",
            &["comment", "col19", "contact_email"],
            "Utf8",
            |r, _| {
                let base = [
                    "Delivered on time, great service",
                    "Package arrived damaged, please call back",
                    "Customer asked for an invoice copy",
                    "Left at the front door",
                    "Refund issued after review",
                    "Wrong size, exchange requested",
                    "Very happy with the quality!",
                    "Call before delivery",
                ];
                if r.gen_bool(0.02) {
                    email(r)
                } else if r.gen_bool(0.03) {
                    format!("{} - reach me at {}", base.choose(r).unwrap(), email(r))
                } else {
                    base.choose(r).unwrap().to_string()
                }
            },
        ),
        spec(
            "numeric_id",
            &["customer_id", "col20", "id"],
            "Int64",
            |r, c| match c {
                0 => format!("{}", r.gen_range(1..200_000)),
                1 => format!("{}", r.gen_range(10_000_000..99_999_999)),
                _ => format!("{}", r.gen_range(1..5_000)),
            },
        ),
        spec("amount", &["amount", "col22", "total"], "Utf8", |r, _| {
            let v: f64 = r.gen_range(0.5..25_000.0);
            if r.gen_bool(0.5) {
                format!("{v:.2}")
            } else {
                format!("{:.2}", v.round())
            }
        }),
        spec("status", &["status", "col23", "code"], "Utf8", |r, _| {
            [
                "shipped",
                "pending",
                "delivered",
                "cancelled",
                "returned",
                "200",
                "404",
                "OK",
                "FAILED",
            ]
            .choose(r)
            .unwrap()
            .to_string()
        }),
        spec("uuid", &["request_id", "col24", "key"], "Utf8", |r, _| {
            let h = |r: &mut R, n: usize| {
                (0..n)
                    .map(|_| char::from_digit(r.gen_range(0..16), 16).unwrap())
                    .collect::<String>()
            };
            format!(
                "{}-{}-4{}-a{}-{}",
                h(r, 8),
                h(r, 4),
                h(r, 3),
                h(r, 3),
                h(r, 12)
            )
        }),
        spec("sku", &["sku", "col25", "item"], "Utf8", |r, _| {
            format!(
                "{}-{:05}-{}",
                ["TSH", "JKT", "MUG", "BAG"].choose(r).unwrap(),
                r.gen_range(0..99999),
                ["S", "M", "L", "XL"].choose(r).unwrap()
            )
        }),
        spec("country", &["country", "col26", "cc"], "Utf8", |r, _| {
            ["DE", "US", "FR", "GB", "BR", "IN", "JP", "NG", "ES", "IT"]
                .choose(r)
                .unwrap()
                .to_string()
        }),
        spec(
            "founding_date",
            &["founded", "col28", "since"],
            "Date32",
            |r, _| {
                // Companies founded 1850–2020: spread over decades like birth dates, but older.
                let d = ymd(r, 1850..2021);
                date_text(r, d, 0)
            },
        ),
        spec(
            "hire_date",
            &["hire_date", "col30", "joined"],
            "Date32",
            |r, _| {
                let d = ymd(r, 1985..2026);
                date_text(r, d, 0)
            },
        ),
        spec(
            "app_version",
            &["app_version", "col31", "build"],
            "Utf8",
            |r, _| {
                let (a, b, c) = (r.gen_range(1..12), r.gen_range(0..30), r.gen_range(0..200));
                if r.gen_bool(0.2) {
                    format!("{a}.{b}.{c}.{}", r.gen_range(0..5000))
                } else {
                    format!("{a}.{b}.{c}")
                }
            },
        ),
        spec("company", &["company", "col27", "name"], "Utf8", |r, _| {
            let a = [
                "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
                "Müller", "Johnson",
            ];
            let b = [
                "GmbH",
                "Corporation",
                "Ltd",
                "Inc.",
                "S.A.",
                "& Sons",
                "Industries",
                "Holdings",
                "AG",
                "LLC",
            ];
            format!("{} {}", a.choose(r).unwrap(), b.choose(r).unwrap())
        }),
    ]
}

fn digits_of(r: &mut R, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + r.gen_range(0..10u8)))
        .collect()
}

/// Nulls, empty strings and junk a real column carries.
fn noisy(r: &mut R, value: String, junk_rate: f64) -> Option<String> {
    if r.gen_bool(0.05) {
        None
    } else if r.gen_bool(junk_rate) {
        Some(
            ["", "N/A", "unknown", "-", "none", "TBD", "?"]
                .choose(r)
                .unwrap()
                .to_string(),
        )
    } else {
        Some(value)
    }
}

struct Result {
    name: &'static str,
    label: &'static str,
    predicted: Option<Kind>,
    confidence: f64,
}

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261203);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut columns = Vec::new();
    for spec in specs() {
        for (c, name) in spec.names.iter().enumerate() {
            let junk = if rng.gen_bool(0.5) {
                0.0
            } else {
                rng.gen_range(0.005..0.03)
            };
            let values: Vec<Option<String>> = (0..VALUES)
                .map(|_| {
                    let v = (spec.make)(&mut rng, c);
                    noisy(&mut rng, v, junk)
                })
                .collect();
            // Dates printed day first are text, not an Arrow date.
            let data_type = if spec.label == "date_of_birth" && (c == 2 || c == 5) {
                "Utf8"
            } else {
                spec.data_type
            };
            columns.push((*name, spec.label, data_type, values));
        }
    }
    let views: Vec<Vec<Option<&str>>> = columns
        .iter()
        .map(|(_, _, _, v)| v.iter().map(|x| x.as_deref()).collect())
        .collect();

    let start = Instant::now();
    let mut detections = Vec::with_capacity(columns.len());
    for ((name, _, data_type, _), values) in columns.iter().zip(&views) {
        detections.push(classify(&Column {
            name,
            data_type,
            values,
        }));
    }
    let elapsed = start.elapsed();

    let results: Vec<Result> = columns
        .iter()
        .zip(&detections)
        .map(|((name, label, _, _), found)| Result {
            name,
            label,
            predicted: found.first().map(|d| d.kind),
            confidence: found.first().map_or(0.0, |d| d.confidence),
        })
        .collect();
    report(seed, &results, elapsed, columns.len());
}

fn pii_label(label: &str) -> Option<Kind> {
    Kind::parse(label)
}

fn report(seed: u64, results: &[Result], elapsed: std::time::Duration, n_columns: usize) {
    let kinds: std::collections::BTreeSet<&str> = results.iter().map(|r| r.label).collect();
    let decoys = kinds.iter().filter(|k| pii_label(k).is_none()).count();
    println!(
        "B12: {n_columns} columns of {} kinds ({} detectable, {decoys} decoy kinds labelled `none`), {VALUES} values each, seed {seed}\n",
        kinds.len(),
        kinds.len() - decoys
    );
    println!("| kind | precision | recall | support (columns) | predicted |");
    println!("|---|---|---|---|---|");
    let (mut tp_all, mut pred_all, mut sup_all) = (0, 0, 0);
    let mut misses = Vec::new();
    for kind in Kind::ALL {
        let support = results
            .iter()
            .filter(|r| pii_label(r.label) == Some(kind))
            .count();
        let predicted = results.iter().filter(|r| r.predicted == Some(kind)).count();
        let tp = results
            .iter()
            .filter(|r| r.predicted == Some(kind) && pii_label(r.label) == Some(kind))
            .count();
        tp_all += tp;
        pred_all += predicted;
        sup_all += support;
        println!(
            "| {} | {} | {} | {support} | {predicted} |",
            kind.as_str(),
            ratio(tp, predicted),
            ratio(tp, support)
        );
    }
    let none_support = results
        .iter()
        .filter(|r| pii_label(r.label).is_none())
        .count();
    let none_pred = results.iter().filter(|r| r.predicted.is_none()).count();
    let none_tp = results
        .iter()
        .filter(|r| r.predicted.is_none() && pii_label(r.label).is_none())
        .count();
    println!(
        "| none (decoys) | {} | {} | {none_support} | {none_pred} |",
        ratio(none_tp, none_pred),
        ratio(none_tp, none_support)
    );
    println!(
        "| **overall (micro, the 10 kinds)** | **{}** | **{}** | {sup_all} | {pred_all} |",
        ratio(tp_all, pred_all),
        ratio(tp_all, sup_all)
    );
    let confident: Vec<&Result> = results
        .iter()
        .filter(|r| r.predicted.is_some() && r.confidence >= CONFIDENT)
        .collect();
    let confident_ok = confident
        .iter()
        .filter(|r| r.predicted == pii_label(r.label))
        .count();
    println!(
        "\nConfident (≥ {CONFIDENT}, applied under `classification.mode = apply`): {} columns, {} correct (precision {}).",
        confident.len(),
        confident_ok,
        ratio(confident_ok, confident.len())
    );
    println!(
        "Time to classify all {n_columns} columns ({} values): {:.1} ms ({:.0} µs per column).",
        n_columns * VALUES,
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / n_columns as f64
    );
    for r in results {
        if r.predicted != pii_label(r.label) {
            misses.push(format!(
                "- `{}` ({}) → {} ({:.2})",
                r.name,
                r.label,
                r.predicted.map_or("none", Kind::as_str),
                r.confidence
            ));
        }
    }
    let per_label: BTreeMap<&str, usize> = results.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.label).or_default() += 1;
        m
    });
    println!(
        "\nColumns per label: {}",
        per_label
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if misses.is_empty() {
        println!("\nMisclassified columns: none.");
    } else {
        println!("\nMisclassified columns (name, label → prediction, confidence):");
        for m in misses {
            println!("{m}");
        }
    }
}

fn ratio(num: usize, den: usize) -> String {
    if den == 0 {
        "–".to_string()
    } else {
        format!("{:.3}", num as f64 / den as f64)
    }
}
