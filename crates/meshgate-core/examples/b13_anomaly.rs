//! B13 (issue 17): unusual-read alerts on generated traffic. 200 principals read for 60 days
//! (the first 30 are warm-up history, the last 30 are scored); 10 exfiltrations of different
//! kinds and sizes are injected into the scored month. An exfiltration is caught when the
//! detector reports a finding for its principal on its day; a principal-day of the scored month
//! with a finding and no exfiltration is a false alert (the findings are counted too). Targets:
//! at least 9 of 10 caught, at most 1 false alert per 1,000 principal-days (all 6,000 of them,
//! quiet ones included; the rate per principal-day with reads is printed beside it). Exits
//! non-zero when a target is missed.
//!
//! `cargo run --release -p meshgate-core --example b13_anomaly [-- --seed N] [--show]`;
//! `--seeds 1-12` prints one line per seed and the catches per kind; `--set threshold=4,...`
//! runs with other settings than the defaults (`--show` lists the false alerts).
//!
//! The traffic (written before the detector was tuned, and not changed since):
//! - 90 analysts: weekdays (75–95 % of them, 6 % of weekend days), a vacation of 5–10 days for
//!   a third of them, 3–30 queries a day (the day's count varies log-normally), mostly over
//!   2–6 habitual tables: 55 % aggregates (tens of rows), the rest detail queries with
//!   log-normal rows (σ 1.0–1.6); 1 % of queries explore another table with a small result;
//!   a fifth start on a new table (a new project) during the 60 days; 40 % read sensitive
//!   columns of their sensitive tables in 30–90 % of their queries, the others never; a
//!   quarter download files (15 % of their days, 1–3 files of 4 MB to 200 MB median).
//! - 40 batch jobs (ETL, sharing recipients): every day (30 % weekdays only), 1–24 runs at
//!   fixed hours over 1–3 tables, steady volumes (σ 0.10–0.25) growing 0.2 % a day, a missed
//!   day 2 %, a rerun day (twice the reads) 3 %, a backfill day (a week reprocessed, 7×)
//!   0.3 %; 40 % carry sensitive columns in every read of a sensitive table.
//! - 40 occasional users: 5–25 % of weekdays, 1–5 queries, log-normal rows (σ 1.5).
//! - 30 weekly reporters: one weekday (93 % of weeks), 6–20 queries over 2–4 tables with
//!   steady sizes (σ 0.6), ad hoc on 4 % of other weekdays; 40 % read sensitive columns, 30 %
//!   download a file on half their report days.
//!
//! Bytes are rows × the table's row width × 30–100 % (the columns selected). The exfiltrations
//! (`inject`), each on another principal and a random day of the scored month, relative to the
//! principal's median warm-up day: 50x in 3 queries and 5x in 4 (analysts), a batch job
//! reading 20x, an occasional user 30x, 15x in 96 reads spread over the day (analyst), a
//! never-sensitive analyst reading a sensitive table it never read (all of it, at most 100,000
//! rows), a habitual sensitive reader reading 10x its usual sensitive rows, 600–1,000 reads of
//! about 20 rows in 3 hours, 25 file downloads of about 200 MB, a weekly reporter reading 15x
//! on another weekday. The volume scenarios take the largest table the principal reads, and
//! go to a principal whose largest table holds that volume (both added after the first runs,
//! which had a batch job "dump 20x" of a 200-row table: 200 rows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc, Weekday};
use meshgate_core::anomaly::{Detector, Finding, Read, Sensitivity};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const DAYS: i64 = 60;
const SCORED_FROM: i64 = 30;
const SEED: u64 = 20_261_203;

/// A table or file product of the catalog: its size in rows, its row width in bytes (for a
/// file product, its median file size), whether it has sensitive columns.
struct Table {
    name: &'static str,
    rows: f64,
    width: f64,
    sensitive: bool,
    file: bool,
}

const fn t(name: &'static str, rows: f64, width: f64, sensitive: bool) -> Table {
    Table {
        name,
        rows,
        width,
        sensitive,
        file: false,
    }
}

const fn f(name: &'static str, size: f64) -> Table {
    Table {
        name,
        rows: 0.0,
        width: size,
        sensitive: false,
        file: true,
    }
}

const CATALOG: &[Table] = &[
    t("sales.orders.orders", 5e6, 120.0, false),
    t("sales.orders.order_lines", 2e7, 90.0, false),
    t("sales.customers.customers", 8e5, 400.0, true),
    t("sales.returns.returns", 3e5, 150.0, false),
    t("finance.ledger.entries", 3e7, 110.0, false),
    t("finance.billing.invoices", 2e6, 300.0, true),
    t("finance.payroll.payslips", 1.2e5, 250.0, true),
    t("hr.people.employees", 1.5e4, 600.0, true),
    t("hr.people.absences", 2e5, 80.0, true),
    t("marketing.web.events", 2e8, 200.0, false),
    t("marketing.campaigns.campaigns", 5e3, 300.0, false),
    t("marketing.leads.leads", 4e5, 350.0, true),
    t("ops.logistics.shipments", 4e6, 160.0, false),
    t("ops.inventory.stock", 1e6, 60.0, false),
    t("ops.inventory.warehouses", 200.0, 200.0, false),
    t("support.tickets.tickets", 1.5e6, 900.0, true),
    t("support.tickets.chats", 6e6, 1200.0, true),
    t("product.catalog.products", 5e4, 500.0, false),
    t("product.catalog.prices", 3e5, 70.0, false),
    t("risk.payments.transactions", 5e7, 180.0, true),
    t("risk.fraud.alerts", 2e5, 220.0, false),
    t("iot.telemetry.readings", 1e9, 50.0, false),
    f("files.reports.monthly_pdf", 4e6),
    f("files.exports.scans", 3e7),
    f("files.ml.training_sets", 2e8),
    f("files.media.images", 1.5e7),
];

fn tables() -> impl Iterator<Item = usize> {
    (0..CATALOG.len()).filter(|&i| !CATALOG[i].file)
}

fn files() -> Vec<usize> {
    (0..CATALOG.len()).filter(|&i| CATALOG[i].file).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Persona {
    Analyst,
    Batch,
    Occasional,
    Weekly,
}

impl Persona {
    fn name(self) -> &'static str {
        match self {
            Persona::Analyst => "analyst",
            Persona::Batch => "batch job",
            Persona::Occasional => "occasional user",
            Persona::Weekly => "weekly reporter",
        }
    }
}

/// A table a principal reads by habit.
#[derive(Clone)]
struct Habit {
    table: usize,
    weight: f64,
    /// The median rows of a detail query (of a run, for a batch job).
    rows: f64,
    /// The chance a read touches sensitive columns.
    sensitive: f64,
}

struct Principal {
    id: Uuid,
    persona: Persona,
    habits: Vec<Habit>,
    sigma: f64,
    /// Queries on an active day (runs, for a batch job).
    queries: f64,
    weekday_p: f64,
    weekend_p: f64,
    report_day: Weekday,
    files_p: f64,
    sensitive_reader: bool,
    vacation: Option<(i64, i64)>,
    project: Option<(i64, Habit)>,
    weekdays_only: bool,
    first_hour: u32,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(1e-12);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    10f64.powf(rng.gen_range(lo..hi))
}

fn pick_tables(rng: &mut ChaCha8Rng, n: usize) -> Vec<usize> {
    let all: Vec<usize> = tables().collect();
    let mut picked = BTreeSet::new();
    while picked.len() < n {
        picked.insert(all[rng.gen_range(0..all.len())]);
    }
    picked.into_iter().collect()
}

fn habit(
    rng: &mut ChaCha8Rng,
    table: usize,
    lo: f64,
    hi: f64,
    reader: bool,
    p: (f64, f64),
) -> Habit {
    let size = CATALOG[table].rows;
    Habit {
        table,
        weight: lognormal(rng, 1.0, 0.8),
        rows: log_uniform(rng, lo, hi).min(size * 0.05).max(1.0),
        sensitive: if reader && CATALOG[table].sensitive {
            rng.gen_range(p.0..=p.1)
        } else {
            0.0
        },
    }
}

fn principals(rng: &mut ChaCha8Rng) -> Vec<Principal> {
    let mut out = Vec::new();
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let base = |rng: &mut ChaCha8Rng, persona| Principal {
        id: Uuid::from_u128(rng.r#gen()),
        persona,
        habits: Vec::new(),
        sigma: 1.0,
        queries: 1.0,
        weekday_p: 0.0,
        weekend_p: 0.0,
        report_day: Weekday::Mon,
        files_p: 0.0,
        sensitive_reader: false,
        vacation: None,
        project: None,
        weekdays_only: false,
        first_hour: 0,
    };
    for _ in 0..90 {
        let mut p = base(rng, Persona::Analyst);
        p.sensitive_reader = rng.gen_bool(0.4);
        let n = rng.gen_range(2..=6);
        p.habits = pick_tables(rng, n)
            .into_iter()
            .map(|t| habit(rng, t, 2.3, 4.7, p.sensitive_reader, (0.3, 0.9)))
            .collect();
        p.sigma = rng.gen_range(1.0..1.6);
        p.queries = log_uniform(rng, 0.5, 1.5);
        p.weekday_p = rng.gen_range(0.75..0.95);
        p.weekend_p = 0.06;
        p.files_p = if rng.gen_bool(0.25) { 0.15 } else { 0.0 };
        if rng.gen_bool(0.35) {
            let start = rng.gen_range(0..DAYS - 10);
            p.vacation = Some((start, start + rng.gen_range(5..=10)));
        }
        if rng.gen_bool(0.2) {
            let known: Vec<usize> = p.habits.iter().map(|h| h.table).collect();
            let table = loop {
                let t = pick_tables(rng, 1)[0];
                if !known.contains(&t) {
                    break t;
                }
            };
            let h = habit(rng, table, 2.3, 4.7, p.sensitive_reader, (0.3, 0.9));
            p.project = Some((rng.gen_range(10..DAYS), h));
        }
        out.push(p);
    }
    for _ in 0..40 {
        let mut p = base(rng, Persona::Batch);
        p.sensitive_reader = rng.gen_bool(0.4);
        let n = rng.gen_range(1..=3);
        p.habits = pick_tables(rng, n)
            .into_iter()
            .map(|t| habit(rng, t, 3.0, 6.0, p.sensitive_reader, (1.0, 1.0)))
            .collect();
        p.sigma = rng.gen_range(0.10..0.25);
        p.queries = [1.0, 1.0, 1.0, 2.0, 4.0, 24.0][rng.gen_range(0..6)];
        p.weekdays_only = rng.gen_bool(0.3);
        p.first_hour = rng.gen_range(0..24);
        out.push(p);
    }
    for _ in 0..40 {
        let mut p = base(rng, Persona::Occasional);
        p.sensitive_reader = rng.gen_bool(0.2);
        let n = rng.gen_range(1..=3);
        p.habits = pick_tables(rng, n)
            .into_iter()
            .map(|t| habit(rng, t, 1.5, 4.0, p.sensitive_reader, (0.3, 0.9)))
            .collect();
        p.sigma = 1.5;
        p.queries = 2.5;
        p.weekday_p = rng.gen_range(0.05..0.25);
        p.weekend_p = 0.01;
        out.push(p);
    }
    for _ in 0..30 {
        let mut p = base(rng, Persona::Weekly);
        p.sensitive_reader = rng.gen_bool(0.4);
        let n = rng.gen_range(2..=4);
        p.habits = pick_tables(rng, n)
            .into_iter()
            .map(|t| habit(rng, t, 2.0, 5.0, p.sensitive_reader, (1.0, 1.0)))
            .collect();
        p.sigma = 0.6;
        p.queries = rng.gen_range(6.0..20.0);
        p.report_day = weekdays[rng.gen_range(0..5)];
        p.weekday_p = 0.04;
        p.files_p = if rng.gen_bool(0.3) { 0.5 } else { 0.0 };
        out.push(p);
    }
    out
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap()
}

fn at(day: i64, seconds: f64) -> DateTime<Utc> {
    start()
        + TimeDelta::days(day)
        + TimeDelta::milliseconds((seconds.clamp(0.0, 86_399.0) * 1000.0) as i64)
}

fn is_weekend(day: i64) -> bool {
    matches!(
        (start() + TimeDelta::days(day)).weekday(),
        Weekday::Sat | Weekday::Sun
    )
}

fn read(
    p: &Principal,
    day: i64,
    seconds: f64,
    table: usize,
    rows: f64,
    sensitive: bool,
    rng: &mut ChaCha8Rng,
) -> Read {
    let tab = &CATALOG[table];
    let rows = rows.round().max(0.0);
    let bytes = if tab.file {
        lognormal(rng, tab.width, 0.8)
    } else {
        rows * tab.width * rng.gen_range(0.3..1.0) + 500.0
    };
    Read {
        at: at(day, seconds),
        principal: p.id,
        table: Some(tab.name.to_string()),
        rows: rows as u64,
        bytes: bytes.round() as u64,
        sensitive,
    }
}

fn choose<'a>(rng: &mut ChaCha8Rng, habits: &'a [Habit]) -> &'a Habit {
    let total: f64 = habits.iter().map(|h| h.weight).sum();
    let mut x = rng.gen_range(0.0..total);
    for h in habits {
        if x < h.weight {
            return h;
        }
        x -= h.weight;
    }
    &habits[habits.len() - 1]
}

fn working_seconds(rng: &mut ChaCha8Rng) -> f64 {
    if rng.gen_bool(0.05) {
        rng.gen_range(19.0..23.0) * 3600.0
    } else {
        rng.gen_range(7.0..19.0) * 3600.0
    }
}

/// One principal's ordinary reads on one day.
fn day_reads(p: &Principal, day: i64, rng: &mut ChaCha8Rng, out: &mut Vec<Read>) {
    let weekend = is_weekend(day);
    let mut habits = p.habits.clone();
    if let Some((from, h)) = &p.project
        && day >= *from
    {
        habits.push(h.clone());
    }
    match p.persona {
        Persona::Analyst | Persona::Occasional => {
            if p.vacation.is_some_and(|(a, b)| day >= a && day < b) {
                return;
            }
            let active_p = if weekend { p.weekend_p } else { p.weekday_p };
            if !rng.gen_bool(active_p) {
                return;
            }
            let mut n = if p.persona == Persona::Analyst {
                lognormal(rng, p.queries, 0.5)
            } else {
                rng.gen_range(1.0..=5.0)
            };
            if weekend {
                n *= 0.3;
            }
            let n = (n.round() as usize).max(1);
            for _ in 0..n {
                let seconds = working_seconds(rng);
                if rng.gen_bool(0.01) {
                    let all: Vec<usize> = tables().collect();
                    let table = all[rng.gen_range(0..all.len())];
                    let rows = lognormal(rng, 50.0, 1.5);
                    let sensitive = CATALOG[table].sensitive && rng.gen_bool(0.5);
                    out.push(read(p, day, seconds, table, rows, sensitive, rng));
                    continue;
                }
                let h = choose(rng, &habits);
                let rows = if rng.gen_bool(0.55) {
                    lognormal(rng, 30.0, 1.3)
                } else {
                    lognormal(rng, h.rows, p.sigma)
                };
                let rows = rows.min(CATALOG[h.table].rows);
                let sensitive = rng.gen_bool(h.sensitive);
                out.push(read(p, day, seconds, h.table, rows, sensitive, rng));
            }
            if p.files_p > 0.0 && rng.gen_bool(p.files_p) {
                let fs = files();
                for _ in 0..rng.gen_range(1..=3) {
                    let file = fs[rng.gen_range(0..fs.len())];
                    let seconds = working_seconds(rng);
                    out.push(read(p, day, seconds, file, 0.0, false, rng));
                }
            }
        }
        Persona::Batch => {
            if (weekend && p.weekdays_only) || rng.gen_bool(0.02) {
                return;
            }
            let factor = if rng.gen_bool(0.003) {
                7.0
            } else if rng.gen_bool(0.03) {
                2.0
            } else {
                1.0
            };
            let runs = p.queries as u32;
            let growth = 1.0 + 0.002 * day as f64;
            let passes = if factor == 2.0 { 2 } else { 1 };
            for pass in 0..passes {
                for run in 0..runs {
                    let hour = (p.first_hour + run * 24 / runs) % 24;
                    let seconds = f64::from(hour) * 3600.0
                        + rng.gen_range(0.0..600.0)
                        + f64::from(pass) * 1800.0;
                    for h in &habits {
                        let scale = if factor == 7.0 { 7.0 } else { 1.0 };
                        let rows =
                            lognormal(rng, h.rows * growth * scale / f64::from(runs), p.sigma);
                        let sensitive = h.sensitive >= 1.0;
                        out.push(read(p, day, seconds, h.table, rows, sensitive, rng));
                    }
                }
            }
        }
        Persona::Weekly => {
            let weekday = (start() + TimeDelta::days(day)).weekday();
            if weekday == p.report_day {
                if !rng.gen_bool(0.93) {
                    return;
                }
                let n = p.queries.round() as usize;
                for _ in 0..n {
                    let seconds = rng.gen_range(8.0..12.0) * 3600.0;
                    let h = choose(rng, &habits);
                    let rows = lognormal(rng, h.rows, p.sigma).min(CATALOG[h.table].rows);
                    out.push(read(
                        p,
                        day,
                        seconds,
                        h.table,
                        rows,
                        h.sensitive >= 1.0,
                        rng,
                    ));
                }
                if p.files_p > 0.0 && rng.gen_bool(p.files_p) {
                    let fs = files();
                    let file = fs[rng.gen_range(0..fs.len())];
                    out.push(read(
                        p,
                        day,
                        rng.gen_range(8.0..12.0) * 3600.0,
                        file,
                        0.0,
                        false,
                        rng,
                    ));
                }
            } else if !weekend && rng.gen_bool(p.weekday_p) {
                for _ in 0..rng.gen_range(1..=3) {
                    let seconds = working_seconds(rng);
                    let h = choose(rng, &habits);
                    let rows = lognormal(rng, h.rows, 1.2).min(CATALOG[h.table].rows);
                    out.push(read(
                        p,
                        day,
                        seconds,
                        h.table,
                        rows,
                        h.sensitive >= 1.0,
                        rng,
                    ));
                }
            }
        }
    }
}

/// The habitual table with the most rows: what an exfiltration through this principal takes.
fn largest(habits: &[Habit]) -> Habit {
    habits
        .iter()
        .max_by(|a, b| CATALOG[a.table].rows.total_cmp(&CATALOG[b.table].rows))
        .cloned()
        .unwrap()
}

/// Whether `factor` times the principal's usual day fits in the largest table it reads: an
/// exfiltration takes what the credential can read.
fn fits(reads: &[Read], p: &Principal, factor: f64) -> bool {
    let (rows, _, _) = usual(reads, p.id);
    rows > 0.0 && CATALOG[largest(&p.habits).table].rows >= factor * rows
}

/// The median of a principal's warm-up days with reads: rows, sensitive rows.
fn usual(reads: &[Read], id: Uuid) -> (f64, f64, usize) {
    let mut days: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for r in reads.iter().filter(|r| r.principal == id) {
        let day = (r.at - start()).num_days();
        if day < SCORED_FROM {
            let e = days.entry(day).or_default();
            e.0 += r.rows;
            if r.sensitive {
                e.1 += r.rows;
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() { 0.0 } else { v[v.len() / 2] }
    };
    let rows = median(days.values().map(|d| d.0 as f64).collect());
    let sensitive_days: Vec<f64> = days
        .values()
        .filter(|d| d.1 > 0)
        .map(|d| d.1 as f64)
        .collect();
    let n = sensitive_days.len();
    (rows, median(sensitive_days), n)
}

struct Exfiltration {
    kind: &'static str,
    principal: usize,
    day: i64,
    what: String,
}

/// Injects the 10 exfiltrations into `reads`.
fn inject(rng: &mut ChaCha8Rng, ps: &[Principal], reads: &mut Vec<Read>) -> Vec<Exfiltration> {
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    let mut pick = |rng: &mut ChaCha8Rng, ok: &dyn Fn(&Principal) -> bool| -> usize {
        loop {
            let i = rng.gen_range(0..ps.len());
            if !used.contains(&i) && ok(&ps[i]) {
                used.insert(i);
                return i;
            }
        }
    };
    let day = |rng: &mut ChaCha8Rng| rng.gen_range(SCORED_FROM..DAYS);
    let mut extra = Vec::new();

    // Volume spikes on the principal's own tables, in a few big queries.
    let spikes: [(&str, Persona, f64, usize); 4] = [
        ("spike 50x, 3 queries", Persona::Analyst, 50.0, 3),
        ("spike 5x, 4 queries", Persona::Analyst, 5.0, 4),
        ("batch job dumps 20x", Persona::Batch, 20.0, 1),
        ("occasional user 30x", Persona::Occasional, 30.0, 3),
    ];
    for (kind, persona, factor, queries) in spikes {
        let i = pick(rng, &|p| p.persona == persona && fits(reads, p, factor));
        let d = day(rng);
        let (rows, _, _) = usual(reads, ps[i].id);
        let p = &ps[i];
        let h = largest(&p.habits);
        let total = (rows * factor).clamp(1.0, CATALOG[h.table].rows);
        for _ in 0..queries {
            let seconds = rng.gen_range(1.0..23.0) * 3600.0;
            let sensitive = rng.gen_bool(h.sensitive);
            extra.push(read(
                p,
                d,
                seconds,
                h.table,
                total / queries as f64,
                sensitive,
                rng,
            ));
        }
        out.push(Exfiltration {
            kind,
            principal: i,
            day: d,
            what: format!(
                "{} rows of {} (usual day {:.0})",
                total.round(),
                CATALOG[h.table].name,
                rows
            ),
        });
    }

    // A slow one: a read every 15 minutes all day, 15x the usual day in all.
    {
        let i = pick(rng, &|p| {
            p.persona == Persona::Analyst && fits(reads, p, 15.0)
        });
        let d = day(rng);
        let (rows, _, _) = usual(reads, ps[i].id);
        let p = &ps[i];
        let h = largest(&p.habits);
        let total = (rows * 15.0).min(CATALOG[h.table].rows);
        for k in 0..96 {
            let sensitive = rng.gen_bool(h.sensitive);
            extra.push(read(
                p,
                d,
                f64::from(k) * 900.0 + 30.0,
                h.table,
                total / 96.0,
                sensitive,
                rng,
            ));
        }
        out.push(Exfiltration {
            kind: "slow, 96 reads over the day, 15x",
            principal: i,
            day: d,
            what: format!(
                "{} rows of {} (usual day {:.0})",
                total.round(),
                CATALOG[h.table].name,
                rows
            ),
        });
    }

    // A principal that never reads sensitive columns reads a sensitive table it never read:
    // the whole table, or 100,000 rows of it, in 5 queries.
    {
        let i = pick(rng, &|p| {
            p.persona == Persona::Analyst && !p.sensitive_reader
        });
        let d = day(rng);
        let p = &ps[i];
        let known: Vec<usize> = p.habits.iter().map(|h| h.table).collect();
        let candidates: Vec<usize> = tables()
            .filter(|t| CATALOG[*t].sensitive && !known.contains(t))
            .collect();
        let table = candidates[rng.gen_range(0..candidates.len())];
        let total = CATALOG[table].rows.min(100_000.0);
        let (rows, _, _) = usual(reads, p.id);
        for _ in 0..5 {
            let seconds = rng.gen_range(9.0..18.0) * 3600.0;
            extra.push(read(p, d, seconds, table, total / 5.0, true, rng));
        }
        out.push(Exfiltration {
            kind: "sensitive table never read",
            principal: i,
            day: d,
            what: format!(
                "{} sensitive rows of {} (usual day {:.0} rows)",
                total, CATALOG[table].name, rows
            ),
        });
    }

    // A routine reader of sensitive columns reads 10x its usual sensitive rows.
    {
        let i = pick(rng, &|p| {
            p.persona == Persona::Analyst
                && p.habits.iter().any(|h| h.sensitive > 0.0)
                && usual(reads, p.id).2 >= 5
                && {
                    let sensitive: Vec<Habit> = p
                        .habits
                        .iter()
                        .filter(|h| h.sensitive > 0.0)
                        .cloned()
                        .collect();
                    CATALOG[largest(&sensitive).table].rows >= 10.0 * usual(reads, p.id).1
                }
        });
        let d = day(rng);
        let p = &ps[i];
        let (_, sensitive, _) = usual(reads, p.id);
        let sensitive_habits: Vec<Habit> = p
            .habits
            .iter()
            .filter(|h| h.sensitive > 0.0)
            .cloned()
            .collect();
        let h = largest(&sensitive_habits);
        let total = (sensitive * 10.0).min(CATALOG[h.table].rows);
        for _ in 0..3 {
            let seconds = rng.gen_range(9.0..18.0) * 3600.0;
            extra.push(read(p, d, seconds, h.table, total / 3.0, true, rng));
        }
        out.push(Exfiltration {
            kind: "sensitive rows 10x",
            principal: i,
            day: d,
            what: format!(
                "{} sensitive rows of {} (usual {:.0})",
                total.round(),
                CATALOG[h.table].name,
                sensitive
            ),
        });
    }

    // Many small reads: key lookups through the rows API, one customer at a time.
    {
        let i = pick(rng, &|p| p.persona == Persona::Analyst);
        let d = day(rng);
        let p = &ps[i];
        let h = choose(rng, &p.habits).clone();
        let n = rng.gen_range(600..1000);
        let mut total = 0.0;
        for k in 0..n {
            let seconds = 13.0 * 3600.0 + f64::from(k) * 3.0 * 3600.0 / f64::from(n);
            let rows = lognormal(rng, 20.0, 0.7);
            total += rows.round();
            let sensitive = rng.gen_bool(h.sensitive);
            extra.push(read(p, d, seconds, h.table, rows, sensitive, rng));
        }
        out.push(Exfiltration {
            kind: "many small reads",
            principal: i,
            day: d,
            what: format!(
                "{n} reads, {total} rows of {} in 3 hours",
                CATALOG[h.table].name
            ),
        });
    }

    // File downloads: 25 large files.
    {
        let i = pick(rng, &|p| {
            matches!(p.persona, Persona::Analyst | Persona::Weekly)
        });
        let d = day(rng);
        let p = &ps[i];
        let mut bytes = 0u64;
        for _ in 0..25 {
            let seconds = rng.gen_range(18.0..23.0) * 3600.0;
            let file = CATALOG
                .iter()
                .position(|t| t.name == "files.ml.training_sets")
                .unwrap();
            let mut r = read(p, d, seconds, file, 0.0, false, rng);
            r.bytes = lognormal(rng, 2e8, 0.5).round() as u64;
            bytes += r.bytes;
            extra.push(r);
        }
        out.push(Exfiltration {
            kind: "file downloads",
            principal: i,
            day: d,
            what: format!("25 files, {:.1} GB", bytes as f64 / 1e9),
        });
    }

    // A weekly reporter reads 15x its usual report on another weekday.
    {
        let i = pick(rng, &|p| {
            p.persona == Persona::Weekly && fits(reads, p, 15.0)
        });
        let p = &ps[i];
        let d = loop {
            let d = day(rng);
            let weekday = (start() + TimeDelta::days(d)).weekday();
            if !is_weekend(d) && weekday != p.report_day {
                break d;
            }
        };
        let (rows, _, _) = usual(reads, p.id);
        let h = largest(&p.habits);
        let total = (rows * 15.0).min(CATALOG[h.table].rows);
        for _ in 0..5 {
            let seconds = rng.gen_range(9.0..18.0) * 3600.0;
            let sensitive = rng.gen_bool(h.sensitive);
            extra.push(read(p, d, seconds, h.table, total / 5.0, sensitive, rng));
        }
        out.push(Exfiltration {
            kind: "weekly reporter, 15x on another day",
            principal: i,
            day: d,
            what: format!(
                "{} rows of {} (usual day {:.0})",
                total.round(),
                CATALOG[h.table].name,
                rows
            ),
        });
    }

    reads.extend(extra);
    out
}

struct Run {
    findings: Vec<(i64, Finding)>,
    seconds: f64,
    buckets: usize,
}

fn detect(reads: &[Read], s: &Sensitivity) -> Run {
    let mut detector = Detector::new(s.clone());
    let mut findings = Vec::new();
    let mut today = 0;
    let begin = Instant::now();
    for r in reads {
        let day = (r.at - start()).num_days();
        if day != today {
            detector.prune(r.at);
            today = day;
        }
        for finding in detector.observe(r) {
            findings.push((day, finding));
        }
    }
    let seconds = begin.elapsed().as_secs_f64();
    Run {
        findings,
        seconds,
        buckets: detector.buckets(),
    }
}

/// One seed's traffic: the principals, their reads in time order and the exfiltrations.
struct Traffic {
    principals: Vec<Principal>,
    reads: Vec<Read>,
    exfiltrations: Vec<Exfiltration>,
}

fn traffic(seed: u64) -> Traffic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let principals = principals(&mut rng);
    let mut reads = Vec::new();
    for day in 0..DAYS {
        for p in &principals {
            day_reads(p, day, &mut rng, &mut reads);
        }
    }
    let exfiltrations = inject(&mut rng, &principals, &mut reads);
    reads.sort_by_key(|r| r.at);
    Traffic {
        principals,
        reads,
        exfiltrations,
    }
}

/// What one run scores.
struct Score {
    /// Per exfiltration, its first finding on its day.
    caught: Vec<Option<Finding>>,
    false_findings: Vec<(i64, Finding)>,
    false_days: usize,
    active_days: usize,
    principal_days: usize,
}

impl Score {
    fn caught(&self) -> usize {
        self.caught.iter().filter(|c| c.is_some()).count()
    }

    fn per_1000(&self) -> f64 {
        self.false_days as f64 * 1000.0 / self.principal_days as f64
    }

    fn met(&self) -> bool {
        self.caught() >= 9 && self.per_1000() <= 1.0
    }
}

fn score(t: &Traffic, run: &Run) -> Score {
    let index: HashMap<Uuid, usize> = t
        .principals
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    let injected: BTreeSet<(usize, i64)> = t
        .exfiltrations
        .iter()
        .map(|e| (e.principal, e.day))
        .collect();
    let scored = run.findings.iter().filter(|(d, _)| *d >= SCORED_FROM);
    let caught = t
        .exfiltrations
        .iter()
        .map(|e| {
            scored
                .clone()
                .find(|(d, f)| *d == e.day && index[&f.principal] == e.principal)
                .map(|(_, f)| f.clone())
        })
        .collect();
    let false_findings: Vec<(i64, Finding)> = scored
        .filter(|(d, f)| !injected.contains(&(index[&f.principal], *d)))
        .cloned()
        .collect();
    let false_days = false_findings
        .iter()
        .map(|(d, f)| (index[&f.principal], *d))
        .collect::<BTreeSet<_>>()
        .len();
    let active_days = t
        .reads
        .iter()
        .filter_map(|r| {
            let day = (r.at - start()).num_days();
            (day >= SCORED_FROM).then_some((r.principal, day))
        })
        .collect::<BTreeSet<_>>()
        .len();
    Score {
        caught,
        false_findings,
        false_days,
        active_days,
        principal_days: t.principals.len() * (DAYS - SCORED_FROM) as usize,
    }
}

/// `--set threshold=3.5,min_scale=0.5`: settings other than the defaults, to explore them.
fn sensitivity(args: &[String]) -> Sensitivity {
    let mut s = Sensitivity::default();
    let Some(list) = args
        .iter()
        .position(|a| a == "--set")
        .and_then(|i| args.get(i + 1))
    else {
        return s;
    };
    for pair in list.split(',') {
        let (key, value) = pair.split_once('=').expect("--set takes key=value pairs");
        let number: f64 = value.parse().expect("a number");
        match key {
            "threshold" => s.threshold = number,
            "min_scale" => s.min_scale = number,
            "min_history" => s.min_history = number as u32,
            "history" => s.history = number as u32,
            "max_age" => s.max_age = number as u32,
            "max_factor" => s.max_factor = number,
            "floor_rows" => s.floor_rows = number as u64,
            "floor_bytes" => s.floor_bytes = number as u64,
            "floor_reads" => s.floor_reads = number as u64,
            "sensitive_factor" => s.sensitive_factor = number,
            "floor_sensitive_rows" => s.floor_sensitive_rows = number as u64,
            _ => panic!("unknown setting {key}"),
        }
    }
    s
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let seed = value("--seed").map_or(SEED, |s| s.parse().expect("--seed takes a number"));
    let show = args.iter().any(|a| a == "--show");
    let s = sensitivity(&args);

    // `--seeds 1-8`: one line per seed, for tuning on seeds other than the reported one.
    if let Some(range) = value("--seeds") {
        let (a, b) = range.split_once('-').expect("--seeds takes a range, 1-8");
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        let (mut caught, mut false_days, mut days) = (0, 0, 0);
        let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for seed in a..=b {
            let t = traffic(seed);
            let sc = score(&t, &detect(&t.reads, &s));
            let missed: Vec<&str> = t
                .exfiltrations
                .iter()
                .zip(&sc.caught)
                .filter(|(_, c)| c.is_none())
                .map(|(e, _)| e.kind)
                .collect();
            println!(
                "seed {seed}: caught {}/10, false alerts {} ({} findings), {:.2} per 1,000; missed {missed:?}",
                sc.caught(),
                sc.false_days,
                sc.false_findings.len(),
                sc.per_1000()
            );
            if show {
                for (d, f) in &sc.false_findings {
                    let i = t
                        .principals
                        .iter()
                        .position(|p| p.id == f.principal)
                        .unwrap();
                    println!(
                        "  false: day {d} {} {i}: {}",
                        t.principals[i].persona.name(),
                        f.summary()
                    );
                }
            }
            for (e, c) in t.exfiltrations.iter().zip(&sc.caught) {
                let k = kinds.entry(e.kind).or_default();
                k.0 += usize::from(c.is_some());
                k.1 += 1;
            }
            caught += sc.caught();
            false_days += sc.false_days;
            days += sc.principal_days;
        }
        let n = b - a + 1;
        for (kind, (c, all)) in &kinds {
            println!("  {kind}: {c}/{all}");
        }
        println!(
            "all: caught {caught}/{}, {:.2} false alerts per 1,000 principal-days",
            n * 10,
            false_days as f64 * 1000.0 / days as f64
        );
        return ExitCode::SUCCESS;
    }

    let t = traffic(seed);
    let mut runs: Vec<Run> = (0..5).map(|_| detect(&t.reads, &s)).collect();
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let run = runs.swap_remove(2);
    let sc = score(&t, &run);
    let ps = &t.principals;

    println!("## B13 — unusual-read alerts (seed {seed})\n");
    println!("| exfiltration | principal | day | what | caught | first finding |");
    println!("|---|---|---|---|---|---|");
    for (e, hit) in t.exfiltrations.iter().zip(&sc.caught) {
        println!(
            "| {} | {} {} | {} | {} | {} | {} |",
            e.kind,
            ps[e.principal].persona.name(),
            e.principal,
            e.day,
            e.what,
            if hit.is_some() { "yes" } else { "no" },
            hit.as_ref().map_or(String::new(), Finding::summary),
        );
    }
    println!();
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| exfiltrations caught | {}/10 | ≥ 9/10 |", sc.caught());
    println!(
        "| false alerts: principal-days with a finding and no exfiltration ({} findings) | {} | |",
        sc.false_findings.len(),
        sc.false_days
    );
    println!(
        "| principal-days scored (with reads) | {} ({}) | |",
        sc.principal_days, sc.active_days
    );
    println!(
        "| false alerts per 1,000 principal-days (per 1,000 with reads) | {:.2} ({:.2}) | ≤ 1 |",
        sc.per_1000(),
        sc.false_days as f64 * 1000.0 / sc.active_days as f64
    );
    println!(
        "| reads through observe() (60 days) | {} | |",
        t.reads.len()
    );
    println!(
        "| detector time, median of 5 runs | {:.1} ms | |",
        run.seconds * 1000.0
    );
    println!(
        "| detector throughput | {:.2} M reads/s | |",
        t.reads.len() as f64 / run.seconds / 1e6
    );
    println!("| buckets held at the end | {} | |", run.buckets);

    let index: HashMap<Uuid, usize> = ps.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut by_kind: BTreeMap<(Persona, String), usize> = BTreeMap::new();
    for (_, f) in &sc.false_findings {
        let scope = if f.table.is_some() {
            "table"
        } else {
            "principal"
        };
        *by_kind
            .entry((
                ps[index[&f.principal]].persona,
                format!("{} ({scope})", f.measure),
            ))
            .or_default() += 1;
    }
    if !by_kind.is_empty() {
        println!();
        println!("| false findings by persona | measure (series) | count |");
        println!("|---|---|---|");
        for ((persona, measure), n) in &by_kind {
            println!("| {} | {measure} | {n} |", persona.name());
        }
    }
    if show {
        println!();
        for e in &t.exfiltrations {
            let id = ps[e.principal].id;
            let mut days: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
            for r in t.reads.iter().filter(|r| r.principal == id) {
                let d = days.entry((r.at - start()).num_days()).or_default();
                d.0 += r.rows;
                d.1 += 1;
            }
            println!("{} (day {}), day: (rows, reads): {days:?}", e.kind, e.day);
        }
        for (d, f) in &sc.false_findings {
            let i = index[&f.principal];
            println!(
                "false: day {d} {} {i}: {}",
                ps[i].persona.name(),
                f.summary()
            );
        }
    }

    if sc.met() {
        ExitCode::SUCCESS
    } else {
        println!("\ntarget missed");
        ExitCode::FAILURE
    }
}
