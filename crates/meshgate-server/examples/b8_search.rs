//! B8 (docs/design/BENCHMARKS.md): catalog search p95 at 100,000 products, target ≤ 10 ms.
//!
//! Builds the metadata of 100k products with a seeded generator (domains with units, teams,
//! tables and columns, tags and classifications, glossary terms, form values), indexes it
//! with the server's own [`SearchIndex`] (the code `GET /api/v1/search` runs), then times a
//! mix of searches — free text of common and rare words, filters, facets on everything,
//! admins and team members — and prints percentiles. With `--append` it appends a section to
//! `bench/RESULTS.md`.
//!
//! ```sh
//! cargo run --release -p meshgate-server --example b8_search -- --append
//! ```
//!
//! Only the index is measured: HTTP and authentication add the same constant to every
//! request and are B4's concern.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use meshgate_core::catalog::{Classification, ListingState};
use meshgate_server::catalog::search::{CatalogEntry, SearchIndex, SearchQuery, Viewer};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const PRODUCTS: usize = 100_000;
const TEAMS: usize = 400;
const SEARCHES: usize = 6_000;
const WARM_UP: usize = 300;
const RUNS: usize = 5;
const TARGET_P95_MS: f64 = 10.0;

const SUBJECTS: &[&str] = &[
    "customer",
    "order",
    "invoice",
    "payment",
    "shipment",
    "product",
    "inventory",
    "supplier",
    "campaign",
    "click",
    "session",
    "refund",
    "return",
    "subscription",
    "contract",
    "employee",
    "ledger",
    "forecast",
    "price",
    "discount",
    "review",
    "ticket",
    "lead",
    "account",
    "store",
    "warehouse",
    "route",
    "sensor",
    "device",
    "claim",
    "policy",
    "loan",
    "transaction",
    "fraud",
    "churn",
    "basket",
    "catalogue",
    "promotion",
    "survey",
    "tax",
];
const QUALIFIERS: &[&str] = &[
    "daily",
    "monthly",
    "raw",
    "curated",
    "clean",
    "aggregated",
    "history",
    "snapshot",
    "events",
    "facts",
    "summary",
    "latest",
    "eu",
    "us",
    "apac",
    "global",
    "b2b",
    "retail",
    "online",
    "legacy",
];
const TAGS: &[&str] = &[
    "pii",
    "gdpr",
    "finance",
    "marketing",
    "sox",
    "hipaa",
    "pci",
    "golden",
    "experimental",
    "deprecated",
    "realtime",
    "batch",
    "external",
    "internal_only",
    "kpi",
    "ml_feature",
];

/// A deterministic word list of 3,000 words, drawn from with a Zipf-like skew: generated
/// filler words, with the domain words (subjects, qualifiers) spread over ranks 40–400, so
/// a word like `customer` appears in some of the descriptions, not in all of them, and most
/// words are rare, as in real descriptions.
fn vocabulary(rng: &mut ChaCha8Rng) -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "ne", "ra", "to", "vi", "su", "de", "po", "gu", "fa", "zi", "be",
    ];
    let mut words: Vec<String> = Vec::with_capacity(3_000);
    while words.len() < 3_000 - SUBJECTS.len() - QUALIFIERS.len() {
        let n = rng.gen_range(2..=4);
        let w: String = (0..n)
            .map(|_| syllables[rng.gen_range(0..syllables.len())])
            .collect();
        if !words.contains(&w) {
            words.push(w);
        }
    }
    for (i, w) in SUBJECTS.iter().chain(QUALIFIERS).enumerate() {
        words.insert(40 + i * 6, w.to_string());
    }
    words
}

/// A word drawn with a Zipf-like skew: low indexes are much more frequent.
fn skewed<'a>(rng: &mut ChaCha8Rng, words: &'a [String]) -> &'a str {
    let x: f64 = rng.r#gen();
    let i = ((words.len() as f64).powf(x) - 1.0) as usize;
    &words[i.min(words.len() - 1)]
}

fn sentence(rng: &mut ChaCha8Rng, words: &[String], min: usize, max: usize) -> String {
    let n = rng.gen_range(min..=max);
    (0..n)
        .map(|_| skewed(rng, words))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Mesh {
    domains: Vec<(String, Vec<String>)>,
    teams: Vec<(Uuid, String, usize)>,
    terms: Vec<String>,
}

fn mesh(rng: &mut ChaCha8Rng) -> Mesh {
    // 6 top-level domains, each with 3 units.
    let mut domains = Vec::new();
    for top in ["sales", "marketing", "finance", "logistics", "hr", "risk"] {
        domains.push((top.to_string(), vec![top.to_string()]));
        for unit in ["emea", "amer", "apac"] {
            let name = format!("{top}_{unit}");
            domains.push((name.clone(), vec![top.to_string(), name]));
        }
    }
    let teams = (0..TEAMS)
        .map(|i| {
            let d = rng.gen_range(0..domains.len());
            (
                Uuid::from_u128(i as u128 + 1),
                format!("{}.team{i}", domains[d].0),
                d,
            )
        })
        .collect();
    let terms = (0..600)
        .map(|i| format!("glossary{}.term{i}", i % 12))
        .collect();
    Mesh {
        domains,
        teams,
        terms,
    }
}

fn entries(rng: &mut ChaCha8Rng, words: &[String], mesh: &Mesh) -> Vec<CatalogEntry> {
    let now = Utc::now();
    (0..PRODUCTS)
        .map(|i| {
            let (team_id, team, d) = mesh.teams[rng.gen_range(0..mesh.teams.len())].clone();
            let (domain, path) = mesh.domains[d].clone();
            let subject = SUBJECTS[rng.gen_range(0..SUBJECTS.len())];
            let qualifier = QUALIFIERS[rng.gen_range(0..QUALIFIERS.len())];
            let name = format!("{subject}_{qualifier}_{i}");
            let mut tables = Vec::new();
            let mut columns = Vec::new();
            for _ in 0..rng.gen_range(1..=4) {
                tables.push(format!(
                    "{}_{}",
                    SUBJECTS[rng.gen_range(0..SUBJECTS.len())],
                    QUALIFIERS[rng.gen_range(0..QUALIFIERS.len())]
                ));
                tables.push(sentence(rng, words, 3, 10));
                for _ in 0..rng.gen_range(4..=15) {
                    columns.push(format!("{}_{}", skewed(rng, words), skewed(rng, words)));
                    if rng.gen_bool(0.3) {
                        columns.push(sentence(rng, words, 3, 8));
                    }
                }
            }
            let tag_count = rng.gen_range(0..=3);
            let mut tags: Vec<String> = TAGS
                .choose_multiple(rng, tag_count)
                .map(|t| t.to_string())
                .collect();
            let classification = match rng.gen_range(0..10) {
                0..=2 => None,
                3..=4 => Some(Classification::Public),
                5..=7 => Some(Classification::Internal),
                8 => Some(Classification::Confidential),
                _ => Some(Classification::Restricted),
            };
            if let Some(c) = classification {
                tags.push(c.as_str().to_string());
            }
            let terms: Vec<String> = (0..rng.gen_range(0..=3))
                .map(|_| mesh.terms[rng.gen_range(0..mesh.terms.len())].clone())
                .collect();
            let listing = match rng.gen_range(0..100) {
                0..=89 => ListingState::Published,
                90..=96 => ListingState::Draft,
                _ => ListingState::Unpublished,
            };
            CatalogEntry {
                product_id: Uuid::from_u128(1_000_000 + i as u128),
                team_id,
                product: format!("{domain}.{name}"),
                name,
                description: sentence(rng, words, 8, 30),
                domain,
                domain_path: path,
                team,
                listing,
                revision: rng.gen_range(1..10),
                updated_at: now,
                tables,
                columns,
                tags,
                classification,
                term_text: terms.iter().map(|_| sentence(rng, words, 4, 12)).collect(),
                terms,
                forms: vec![
                    "ownership".into(),
                    sentence(rng, words, 2, 6),
                    "quality".into(),
                    format!("tier {}", ["gold", "silver", "bronze"][rng.gen_range(0..3)]),
                ],
            }
        })
        .collect()
}

/// One kind of search in the mix, and how to make one.
struct Kind {
    name: &'static str,
    make: fn(&mut ChaCha8Rng, &[String], &Mesh) -> (Viewer, SearchQuery),
}

fn member(rng: &mut ChaCha8Rng, mesh: &Mesh) -> Viewer {
    let teams = (0..rng.gen_range(1..=3))
        .map(|_| mesh.teams[rng.gen_range(0..mesh.teams.len())].0)
        .collect();
    Viewer::Member { teams }
}

fn text(t: impl Into<String>) -> SearchQuery {
    SearchQuery {
        text: t.into(),
        limit: 20,
        ..Default::default()
    }
}

const KINDS: &[Kind] = &[
    Kind {
        name: "one common word",
        make: |rng, _, mesh| {
            let w = SUBJECTS[rng.gen_range(0..SUBJECTS.len())];
            (member(rng, mesh), text(w))
        },
    },
    Kind {
        name: "two words",
        make: |rng, _, mesh| {
            let q = format!(
                "{} {}",
                SUBJECTS[rng.gen_range(0..SUBJECTS.len())],
                QUALIFIERS[rng.gen_range(0..QUALIFIERS.len())]
            );
            (member(rng, mesh), text(q))
        },
    },
    Kind {
        name: "rare word",
        make: |rng, words, mesh| {
            let w = words[rng.gen_range(1_000..words.len())].clone();
            (member(rng, mesh), text(w))
        },
    },
    Kind {
        name: "product name",
        make: |rng, _, mesh| {
            let q = format!(
                "{}_{}_{}",
                SUBJECTS[rng.gen_range(0..SUBJECTS.len())],
                QUALIFIERS[rng.gen_range(0..QUALIFIERS.len())],
                rng.gen_range(0..PRODUCTS)
            );
            (member(rng, mesh), text(q))
        },
    },
    Kind {
        name: "word + domain + tag",
        make: |rng, _, mesh| {
            let mut q = text(SUBJECTS[rng.gen_range(0..SUBJECTS.len())]);
            q.domain_path = Some(mesh.domains[rng.gen_range(0..mesh.domains.len())].1.clone());
            q.tags = vec![TAGS[rng.gen_range(0..TAGS.len())].to_string()];
            (member(rng, mesh), q)
        },
    },
    Kind {
        name: "term filter",
        make: |rng, _, mesh| {
            let mut q = text("");
            q.terms = vec![mesh.terms[rng.gen_range(0..mesh.terms.len())].clone()];
            (member(rng, mesh), q)
        },
    },
    Kind {
        name: "classification + word",
        make: |rng, _, mesh| {
            let mut q = text(QUALIFIERS[rng.gen_range(0..QUALIFIERS.len())]);
            q.classification = Some(Classification::Confidential);
            (member(rng, mesh), q)
        },
    },
    Kind {
        name: "browse all (admin)",
        make: |_, _, _| (Viewer::Admin, text("")),
    },
    Kind {
        name: "browse all (member)",
        make: |rng, _, mesh| (member(rng, mesh), text("")),
    },
];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn Error>> {
    let append = std::env::args().any(|a| a == "--append");
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let words = vocabulary(&mut rng);
    let mesh = mesh(&mut rng);
    let started = Instant::now();
    let entries = entries(&mut rng, &words, &mesh);
    let generated = started.elapsed();
    let index = SearchIndex::new()?;
    let started = Instant::now();
    index.replace_all(&entries)?;
    let indexed = started.elapsed();
    drop(entries);
    eprintln!(
        "generated {PRODUCTS} products in {:.1} s, indexed in {:.1} s ({} documents)",
        generated.as_secs_f64(),
        indexed.as_secs_f64(),
        index.len()
    );

    // The same seeded sequence of searches every run; kinds interleaved.
    let mut queries = Vec::with_capacity(SEARCHES + WARM_UP);
    for i in 0..SEARCHES + WARM_UP {
        let kind = i % KINDS.len();
        let (viewer, q) = (KINDS[kind].make)(&mut rng, &words, &mesh);
        queries.push((kind, viewer, q));
    }
    // RUNS passes over the same searches (the first WARM_UP of each pass untimed); the
    // reported percentiles are the medians of the passes' (docs/design/BENCHMARKS.md: ≥ 5 runs).
    let mut by_kind: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let mut passes: Vec<[f64; 4]> = Vec::with_capacity(RUNS);
    let mut hits = 0usize;
    for _ in 0..RUNS {
        let mut all = Vec::with_capacity(SEARCHES);
        for (i, (kind, viewer, q)) in queries.iter().enumerate() {
            let t = Instant::now();
            let r = index.search(viewer, q)?;
            let took = t.elapsed();
            hits += r.results.len();
            if i >= WARM_UP {
                by_kind.entry(*kind).or_default().push(took);
                all.push(took);
            }
        }
        all.sort();
        let max = all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        passes.push([
            percentile(&all, 0.50),
            percentile(&all, 0.95),
            percentile(&all, 0.99),
            max,
        ]);
    }
    let median = |k: usize| {
        let mut v: Vec<f64> = passes.iter().map(|p| p[k]).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (p50, p95, p99, max) = (median(0), median(1), median(2), median(3));
    let p95s = passes
        .iter()
        .map(|p| format!("{:.2}", p[1]))
        .collect::<Vec<_>>()
        .join(", ");

    let mut rows = Vec::new();
    for (kind, mut times) in by_kind {
        times.sort();
        rows.push(format!(
            "| {} | {:.2} ms | {:.2} ms |",
            KINDS[kind].name,
            percentile(&times, 0.50),
            percentile(&times, 0.95)
        ));
    }
    let verdict = if p95 <= TARGET_P95_MS {
        "meets"
    } else {
        "misses"
    };
    let profile = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let section = format!(
        "\n## B8 — catalog search p95 at 100k products ({date}, {arch}, {cores} cores, Linux {kernel})\n\n\
Command: `cargo run --release -p meshgate-server --example b8_search -- --append`. \
{PRODUCTS} products generated with a seeded generator (18 domains in a hierarchy, {TEAMS} teams, 1–4 tables \
and 4–15 columns per table, tags, classifications, 0–3 glossary terms, form values; 90 % published), indexed \
in memory by the server's own search index (`catalog::search::SearchIndex`, tantivy 0.27) in {indexed_s:.1} s; \
{RUNS} passes of {SEARCHES} searches after {WARM_UP} warm-up each, a fixed mix of the {nkinds} kinds below interleaved, each \
returning the top 20 with counts and five facets (domain, team, tag, classification, term) over all \
matches, with the caller's visibility filter; one thread; {profile}.\n\n\
| metric | value |\n|---|---|\n\
| p50 (median of passes) | {p50:.2} ms |\n| p95 (median of passes) | {p95:.2} ms |\n\
| p95 of each pass | {p95s} ms |\n| p99 (median of passes) | {p99:.2} ms |\n| max (median of passes) | {max:.2} ms |\n\
| target p95 ≤ {TARGET_P95_MS} ms | {verdict} |\n\n\
| kind of search (all passes) | p50 | p95 |\n|---|---|---|\n{rows}\n",
        date = Utc::now().format("%Y-%m-%d"),
        indexed_s = indexed.as_secs_f64(),
        arch = std::env::consts::ARCH,
        nkinds = KINDS.len(),
        rows = rows.join("\n"),
    );
    println!("{section}");
    eprintln!("({hits} results returned in total)");
    if append {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/RESULTS.md");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
        f.write_all(section.as_bytes())?;
        eprintln!("appended to {}", path.display());
    }
    Ok(())
}
